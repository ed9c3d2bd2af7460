/** The behaviour suite (tools/behaviour_suite), run with pytest from a fresh venv against a live server. */
import fs from 'node:fs';
import path from 'node:path';
import type { Project } from './config.js';
import type { Runner } from './exec.js';
import { parseJunit, type JunitSummary } from './junit.js';
import type { StepHandle } from './log.js';
import { HERMETIC_PIP_ENV, readRequirements, venvPython, type PythonInfo } from './python.js';
import { scratchDir } from './scratch.js';
import type { ServerHandle } from './server-handle.js';
import { MlmdError } from './errors.js';
import { parseJson } from './json-file.js';
import { z } from 'zod';

/** Versions installed next to the wheel (grpcio, protobuf, ...), as the venv's Python prints them: null for one not installed. */
const InstalledVersionsSchema = z.record(z.string(), z.string().nullable());
export type InstalledVersions = z.infer<typeof InstalledVersionsSchema>;

export interface SuiteResult extends JunitSummary {
  durationMs: number;
  /** Versions installed next to the wheel (grpcio, protobuf, ...). */
  installed: InstalledVersions;
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
  installed: InstalledVersions;
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
    const installed = parseJson(versions.stdout, InstalledVersionsSchema, `what the suite venv's Python printed as the installed versions`, (m) => new MlmdError(m, { hint: `check that ${opts.python.executable} -c 'print(1)' prints only 1 (a sitecustomize or .pth file that prints gets in the way)` }));
    return await use({ python: py, dir, installed });
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
