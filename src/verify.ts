/**
 * What makes a wheel a good remote-only wheel: static rules on its contents
 * (pure functions over an inspection) and the behaviour suite run against a
 * live server from a fresh venv.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Project } from './config.js';
import type { Runner } from './exec.js';
import type { Logger, StepHandle } from './log.js';
import { ensureVenv, HERMETIC_PIP_ENV, readRequirements, venvPython, type PythonInfo } from './python.js';
import type { ServerHandle } from './server-handle.js';
import { normalizeDistName, parseWheelFileName, type WheelInspection } from './wheel.js';
import { scratchDir } from './scratch.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  detail?: string;
}

/** check-wheel-contents rules we do not apply, and why. */
export const IGNORED_WHEEL_CONTENTS_CHECKS: Record<string, string> = {
  W002: 'upstream ships several identical (empty or licence-only) __init__.py files',
};


const pass = (id: string, title: string, detail?: string): Check => ({ id, title, status: 'pass', detail });
const fail = (id: string, title: string, detail: string): Check => ({ id, title, status: 'fail', detail });

/** The rules we check ourselves, from an inspection of the wheel (no I/O). */
export function staticChecks(fileName: string, w: WheelInspection): Check[] {
  const checks: Check[] = [];
  const m = parseWheelFileName(fileName);
  if (!m) checks.push(fail('file-name', 'file name follows the wheel naming convention', `${fileName} is not <name>-<version>-<python>-<abi>-<platform>.whl with a PEP 440 version`));
  else {
    const tags = `${m.python}-${m.abi}-${m.platform}`;
    checks.push(tags === 'py3-none-any' ? pass('file-name', 'file name carries the tags py3-none-any') : fail('file-name', 'file name carries the tags py3-none-any', `its tags are ${tags}`));
  }
  const tag = w.wheel['Tag'] ?? [];
  checks.push(tag.length === 1 && tag[0] === 'py3-none-any' ? pass('wheel-tag', 'WHEEL says Tag: py3-none-any') : fail('wheel-tag', 'WHEEL says Tag: py3-none-any', `WHEEL has Tag: ${tag.join(', ') || '(none)'}`));
  const purelib = w.wheel['Root-Is-Purelib']?.[0];
  checks.push(purelib === 'true' ? pass('purelib', 'WHEEL says Root-Is-Purelib: true') : fail('purelib', 'WHEEL says Root-Is-Purelib: true', `it says ${purelib ?? 'nothing'}`));
  const dataDirs = w.entries.filter((e) => /^[^/]+\.data\//.test(e.name)).map((e) => e.name);
  checks.push(dataDirs.length === 0 ? pass('root-layout', 'every file sits at the wheel root (no .data/)') : fail('root-layout', 'every file sits at the wheel root (no .data/)', dataDirs.slice(0, 5).join(', ')));
  const natives = w.entries.filter((e) => e.native).map((e) => `${e.name} (${e.native})`);
  checks.push(natives.length === 0 ? pass('no-native', 'no native code, by magic bytes') : fail('no-native', 'no native code, by magic bytes', natives.join(', ')));
  checks.push(w.recordProblems.length === 0 ? pass('record', 'RECORD lists every file with a correct hash') : fail('record', 'RECORD lists every file with a correct hash', w.recordProblems.slice(0, 10).join('; ')));
  const missing = ['Name', 'Version', 'Requires-Python', 'Requires-Dist'].filter((f) => !(w.metadata[f]?.length));
  checks.push(missing.length === 0 ? pass('metadata-fields', 'METADATA has Name, Version, Requires-Python, Requires-Dist') : fail('metadata-fields', 'METADATA has Name, Version, Requires-Python, Requires-Dist', `missing: ${missing.join(', ')}`));
  if (m) {
    const name = w.metadata['Name']?.[0] ?? '';
    const version = w.metadata['Version']?.[0] ?? '';
    const fileVersion = m.version.replace(/_/g, '+'); // a local version's '+' may be escaped in file names
    const ok = normalizeDistName(name) === normalizeDistName(m.distribution) && (version === m.version || version === fileVersion);
    checks.push(ok ? pass('metadata-matches-name', `METADATA names ${name} ${version}, as the file name does`) : fail('metadata-matches-name', 'METADATA name and version match the file name', `METADATA: ${name} ${version}; file: ${m.distribution} ${m.version}`));
  }
  const imports = w.extensionImports ?? [];
  checks.push(imports.length === 0 ? pass('no-extension-import', 'no module imports the removed native extension') : fail('no-extension-import', 'no module imports the removed native extension', imports.map((i) => `${i.file}:${i.line} imports ${i.module}`).join('; ')));
  return checks;
}

/** check-wheel-contents output -> one check per reported rule (ignoring the ones we explain). */
export function readWheelContentsOutput(output: string, exitCode: number): Check {
  const codes = [...output.matchAll(/: ([WE]\d{3}): (.*)/g)].map((x) => ({ code: x[1]!, text: x[2]! }));
  const relevant = codes.filter((c) => !(c.code in IGNORED_WHEEL_CONTENTS_CHECKS));
  const title = `check-wheel-contents (ignoring ${Object.keys(IGNORED_WHEEL_CONTENTS_CHECKS).join(', ')})`;
  if (relevant.length) return fail('check-wheel-contents', title, relevant.map((c) => `${c.code}: ${c.text}`).join('; '));
  if (exitCode !== 0 && codes.length === 0) return fail('check-wheel-contents', title, output.trim().split('\n').slice(-3).join(' '));
  return pass('check-wheel-contents', title);
}

export async function wheelContentsCheck(opts: { project: Project; runner: Runner; log: Logger; python: PythonInfo; wheelPath: string }): Promise<Check> {
  const venv = await ensureVenv({ runner: opts.runner, log: opts.log, python: opts.python, cacheDir: opts.project.cacheDir, name: 'wheel-checks', requirements: readRequirements(path.join(opts.project.toolsDir, 'verify', 'requirements.txt')) });
  const res = await opts.runner(venvPython(venv), ['-m', 'check_wheel_contents', opts.wheelPath], { allowFailure: true });
  return readWheelContentsOutput(`${res.stdout}\n${res.stderr}`, res.exitCode);
}

// ---------------------------------------------------------------------------
// The behaviour suite

export interface SuiteFailure {
  test: string;
  message: string;
}

export interface SuiteResult {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  failures: SuiteFailure[];
  skips: SuiteFailure[];
  durationMs: number;
  /** Versions installed next to the wheel (grpcio, protobuf, ...). */
  installed: Record<string, string>;
}

function xmlUnescape(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#10;/g, '\n').replace(/&amp;/g, '&');
}

/** pytest's JUnit XML -> counts and the failing/skipped tests with their messages. */
export function parseJunit(xml: string): Omit<SuiteResult, 'durationMs' | 'installed'> {
  const failures: SuiteFailure[] = [];
  const skips: SuiteFailure[] = [];
  let total = 0;
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    total++;
    const attrs = m[1]!;
    const name = `${/classname="([^"]*)"/.exec(attrs)?.[1] ?? ''}::${/ name="([^"]*)"/.exec(attrs)?.[1] ?? ''}`;
    const body = m[3] ?? '';
    const bad = /<(failure|error)\b[^>]*?message="([^"]*)"/.exec(body) ?? /<(failure|error)\b/.exec(body);
    const skip = /<skipped\b[^>]*?message="([^"]*)"/.exec(body) ?? /<skipped\b/.exec(body);
    if (bad) failures.push({ test: xmlUnescape(name), message: xmlUnescape(bad[2] ?? bad[1] ?? '') });
    else if (skip) skips.push({ test: xmlUnescape(name), message: xmlUnescape(skip[1] ?? '') });
  }
  return { total, passed: total - failures.length - skips.length, failed: failures.length, skipped: skips.length, failures, skips };
}

export const SUITE_PACKAGES = ['grpcio', 'protobuf', 'attrs', 'absl-py', 'six'];

/**
 * The variables the behaviour suite reads, set empty (which it treats as
 * unset) so that none comes from the caller's environment.
 */
export const SUITE_ENV_CLEARED: Readonly<Record<string, string>> = Object.fromEntries(
  ['MLMD_HOST', 'MLMD_PORT', 'MLMD_SERVER_PYTHON', 'MLMD_SERVER_SCRIPT', 'MLMD_SLOW_HOST', 'MLMD_SLOW_PORT', 'MLMD_SLOW_DELAY_MS', 'MLMD_TLS_HOST', 'MLMD_TLS_PORT', 'MLMD_TLS_CA_FILE', 'MLMD_MTLS_HOST', 'MLMD_MTLS_PORT', 'MLMD_MTLS_CA_FILE', 'MLMD_MTLS_CLIENT_CERT', 'MLMD_MTLS_CLIENT_KEY'].map((v) => [v, '']),
);

/** A fresh venv where pip installed the wheel, its declared dependencies and the test runner. */
export interface SuiteVenv {
  python: string;
  /** A scratch directory beside the venv, removed with it. */
  dir: string;
  /** Versions installed next to the wheel (grpcio, protobuf, ...). */
  installed: Record<string, string>;
}

/**
 * Installs the wheel with pip into a fresh venv (its declared dependencies,
 * optionally pinned by `constraints`), runs `use` in it and removes it.
 */
export async function withSuiteVenv<T>(
  opts: { project: Project; runner: Runner; python: PythonInfo; wheelPath: string; constraints?: string[]; step?: StepHandle },
  use: (venv: SuiteVenv) => Promise<T>,
): Promise<T> {
  const { runner } = opts;
  const scratch = scratchDir('suite');
  const dir = scratch.dir;
  try {
    await runner(opts.python.executable, ['-m', 'venv', path.join(dir, 'venv')]);
    const py = venvPython(path.join(dir, 'venv'));
    opts.step?.progress('pip install the wheel and its declared dependencies into a fresh venv');
    const clientReqs = readRequirements(path.join(opts.project.toolsDir, 'verify', 'client-requirements.txt'));
    await runner(py, ['-m', 'pip', 'install', '--quiet', opts.wheelPath, ...clientReqs, ...(opts.constraints ?? [])], { env: HERMETIC_PIP_ENV });
    const versions = await runner(py, ['-c', `import importlib.metadata as m, json\nout = {}\nfor d in ${JSON.stringify(SUITE_PACKAGES)}:\n  try: out[d] = m.version(d)\n  except Exception: out[d] = None\nprint(json.dumps(out))`]);
    return await use({ python: py, dir, installed: JSON.parse(versions.stdout) as Record<string, string> });
  } finally {
    scratch.dispose();
  }
}

/** Runs the behaviour suite (tools/behaviour_suite) from `venv` against `server`. */
export async function runSuiteIn(
  venv: SuiteVenv,
  opts: { project: Project; runner: Runner; server: ServerHandle; markers?: string; helperEnv?: Record<string, string>; step?: StepHandle },
): Promise<SuiteResult> {
  const junit = path.join(venv.dir, 'junit.xml');
  opts.step?.progress(`pytest tools/behaviour_suite against ${opts.server.host}:${opts.server.port}`);
  const started = Date.now();
  const res = await opts.runner(
    venv.python,
    ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', `--junitxml=${junit}`, '-o', 'junit_family=xunit1', ...(opts.markers ? ['-m', opts.markers] : []), path.join(opts.project.toolsDir, 'behaviour_suite')],
    {
      allowFailure: true,
      cwd: venv.dir,
      env: {
        // Only what we start: none of the user's own suite variables.
        ...SUITE_ENV_CLEARED,
        MLMD_HOST: opts.server.host,
        MLMD_PORT: String(opts.server.port),
        ...(opts.server.serverPython ? { MLMD_SERVER_PYTHON: opts.server.serverPython } : {}),
        ...opts.helperEnv,
      },
      onLine: (l) => opts.step?.progress(l),
    },
  );
  const installed = venv.installed;
  if (!fs.existsSync(junit)) {
    return { total: 0, passed: 0, failed: 1, skipped: 0, failures: [{ test: 'pytest', message: (res.stdout + res.stderr).trim().split('\n').slice(-10).join('\n') }], skips: [], durationMs: Date.now() - started, installed };
  }
  return { ...parseJunit(fs.readFileSync(junit, 'utf8')), durationMs: Date.now() - started, installed };
}

/** The behaviour suite from a fresh venv where pip installed the wheel. */
export async function runBehaviourSuite(opts: {
  project: Project;
  runner: Runner;
  python: PythonInfo;
  wheelPath: string;
  server: ServerHandle;
  /** e.g. ['protobuf==3.20.3'] for the dependency matrix. */
  constraints?: string[];
  /** pytest -m expression. */
  markers?: string;
  /** Where the suite finds the extra servers (startHelperServers' env). */
  helperEnv?: Record<string, string>;
  step?: StepHandle;
}): Promise<SuiteResult> {
  return withSuiteVenv(opts, (venv) => runSuiteIn(venv, opts));
}

// ---------------------------------------------------------------------------
// Next to the official wheel

export interface CoInstallProbe {
  import: 'works' | 'fails' | 'leftovers only';
  leftovers?: string[];
  warnings?: string[];
  native?: string[];
  connection_config?: string;
  error?: string;
}

export interface CoInstallResult {
  /** False when the two could not be installed together anywhere verify could try. */
  applicable: boolean;
  reason?: string;
  /** Where it ran: "this host" or a platform's root filesystem. */
  where?: string;
  official?: string;
  orders?: Array<{ installed: string[]; both: CoInstallProbe; afterUninstallingOfficial: CoInstallProbe }>;
  check: Check;
}

/** tools/consumer_suite/co_install: co_install.py and its pytest wrapper for root filesystems. */
export function coInstallSuite(project: Project): { dir: string; requirements: string } {
  return { dir: path.join(project.toolsDir, 'consumer_suite', 'co_install'), requirements: path.join(project.toolsDir, 'verify', 'client-requirements.txt') };
}

/**
 * Installs the official ml-metadata of the wheel's release next to it, in
 * both orders, in fresh venvs (co_install.py), here when pip has an official
 * wheel for this CPython, else (with `onPlatform`) in a root filesystem whose
 * CPython it has. The verdict is co_install.py's: where our files are
 * imported, import warns naming both; a drop-in build is replaced, never
 * installed beside.
 */
export async function coInstallCheck(opts: {
  project: Project;
  runner: Runner;
  python: PythonInfo;
  wheelPath: string;
  upstreamVersion: string;
  /** Runs the co_install suite on a platform: a passed run, or why it could not. */
  onPlatform?: (env: Record<string, string>) => Promise<{ status: 'passed' | 'failed' | 'skipped'; where: string; reason?: string }>;
}): Promise<CoInstallResult> {
  const title = `installed with the official ml-metadata ${opts.upstreamVersion}, it says so (or is replaced, for a drop-in build)`;
  const official = `ml-metadata==${opts.upstreamVersion}`;
  const script = path.join(coInstallSuite(opts.project).dir, 'co_install.py');
  const res = await opts.runner(opts.python.executable, [script, '--wheel', opts.wheelPath, '--official', official], { allowFailure: true, env: HERMETIC_PIP_ENV, timeoutMs: 15 * 60_000 });
  let report: Omit<CoInstallResult, 'check'> & { error?: string; verdict?: { ok: boolean; detail: string } };
  try {
    report = JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as typeof report;
  } catch {
    return { applicable: true, check: fail('co-install', title, `co_install.py exited ${res.exitCode}: ${res.stderr.trim().split('\n').slice(-3).join(' ')}`) };
  }
  if (res.exitCode === 0 || res.exitCode === 2) {
    const { verdict, ...rest } = report;
    return { ...rest, where: 'this host', check: (res.exitCode === 0 ? pass : fail)('co-install', title, verdict?.detail ?? '') };
  }
  if (res.exitCode !== 3) return { ...report, check: fail('co-install', title, report.error ?? `co_install.py exited ${res.exitCode}`) };
  // Not on this host's CPython: where a root filesystem's CPython has the official wheel.
  const hostReason = report.reason ?? 'no official wheel for this CPython';
  const run = opts.onPlatform ? await opts.onPlatform({ MLMD_OFFICIAL: official }) : null;
  if (run?.status === 'passed') return { applicable: true, where: run.where, check: pass('co-install', title, `in the ${run.where}: import warns naming both where our files are imported (${hostReason} on this host)`) };
  if (run?.status === 'failed') return { applicable: true, where: run.where, check: fail('co-install', title, `in the ${run.where}: ${run.reason}`) };
  const reason = `${hostReason}${run ? `; the ${run.where} cannot run here: ${run.reason}` : ''}`;
  return { applicable: false, reason, check: { id: 'co-install', title, status: 'skip', detail: `not checked: ${reason}` } };
}
