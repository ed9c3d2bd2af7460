/**
 * Bazel, through bazelisk with a pinned version. Where bazelisk cannot
 * download that version (offline), a local bazel is used instead, and the
 * tool says so. Debian's bazel-bootstrap has no embedded copies of the rule
 * repositories, so for a local bazel they come from Debian's packages.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Project } from './config.js';
import { BuildError, MissingToolError } from './errors.js';
import type { Runner } from './exec.js';
import type { Logger, StepHandle } from './log.js';
import { readJsonFileIfValid } from './json-file.js';
import { z } from 'zod';

export interface Bazel {
  mode: 'bazelisk' | 'local';
  /** USE_BAZEL_VERSION for bazelisk: a version, or an absolute path for a local binary. */
  useBazelVersion: string;
  bazelisk: string;
  version: string;
  note?: string;
}

/** Where Debian's packages put the rule repositories that a local bazel needs. */
const DEBIAN_RULE_REPOS: Record<string, string> = {
  rules_java: '/usr/share/bazel/rules/java',
  platforms: '/usr/share/bazel/tools/platforms',
  bazel_skylib: '/usr/share/bazel/tools/skylib',
};

export function bazeliskBinary(): string {
  const require = createRequire(import.meta.url);
  const mod = require('@bazel/bazelisk') as { getNativeBinary(): string };
  return mod.getNativeBinary();
}

function bazeliskEnv(project: Project, useBazelVersion: string): NodeJS.ProcessEnv {
  return { USE_BAZEL_VERSION: useBazelVersion, BAZELISK_HOME: path.join(project.cacheDir, 'bazelisk') };
}

async function findLocalBazel(runner: Runner): Promise<string | null> {
  const res = await runner('sh', ['-c', 'command -v bazel'], { allowFailure: true, env: { PATH: (process.env['PATH'] ?? '').split(':').filter((p) => !p.includes('node_modules')).join(':') } });
  return res.ok ? realBazelBinary(res.stdout.trim()) : null;
}

/**
 * A bazel on PATH is often bazel's launcher script, which itself reads
 * USE_BAZEL_VERSION and looks for bazel-<version> or bazel-real beside it;
 * bazelisk must be given the binary behind it.
 */
export function realBazelBinary(found: string): string {
  const file = fs.realpathSync(found);
  const head = fs.readFileSync(file).subarray(0, 2).toString();
  if (head !== '#!') return file;
  const dir = path.dirname(file);
  const candidates = fs
    .readdirSync(dir)
    .filter((n) => /^bazel-(real|\d[\d.]*)$/.test(n))
    .sort((a, b) => (a === 'bazel-real' ? -1 : b === 'bazel-real' ? 1 : b.localeCompare(a, 'en', { numeric: true })));
  return candidates.length ? path.join(dir, candidates[0]!) : file;
}

/** bazelisk/local-versions.json: a local bazel's version by binary (path, size, mtime); a damaged one counts as empty. */
const LocalVersionsSchema = z.record(z.string(), z.string());

/** The version of a local bazel, remembered per binary (path, size, mtime): asking costs two processes. */
export async function describeLocal(runner: Runner, binary: string, cacheDir?: string): Promise<string> {
  if (!cacheDir) return probeLocalVersion(runner, binary);
  const st = fs.statSync(binary);
  const file = path.join(cacheDir, 'bazelisk', 'local-versions.json');
  const key = `${binary}\0${st.size}\0${st.mtimeMs}`;
  const known = readJsonFileIfValid(file, LocalVersionsSchema) ?? {};
  if (known[key]) return known[key]!;
  known[key] = await probeLocalVersion(runner, binary);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(known));
  return known[key]!;
}

async function probeLocalVersion(runner: Runner, binary: string): Promise<string> {
  const res = await runner(binary, ['--version'], { allowFailure: true });
  const reported = res.stdout.trim().replace(/^bazel\s+/, '');
  if (reported && reported !== 'no_version') return reported;
  const pkg = await runner('sh', ['-c', 'dpkg-query -W -f="\\${binary:Package} \\${Version}" "$(dpkg-query -S "$(readlink -f "$1")" | cut -d: -f1)"', 'sh', binary], { allowFailure: true });
  return pkg.ok && pkg.stdout.trim() ? pkg.stdout.trim() : 'unknown';
}

/**
 * Picks the bazel to run: an explicit local binary, else bazelisk with the
 * pinned version, else (download failed) the local bazel on PATH.
 */
export async function resolveBazel(opts: { project: Project; runner: Runner; log: Logger; localBazel?: string }): Promise<Bazel> {
  const { project, runner, log } = opts;
  const bazelisk = bazeliskBinary();
  const pinned = project.config.bazel.version;
  const explicit = opts.localBazel || process.env['MLMD_REMOTE_BAZEL'];
  if (explicit) {
    if (!path.isAbsolute(explicit) || !fs.existsSync(explicit)) throw new MissingToolError(`bazel at ${explicit}`, 'give an absolute path to an existing bazel binary');
    return { mode: 'local', useBazelVersion: realBazelBinary(explicit), bazelisk, version: await describeLocal(runner, explicit, project.cacheDir), note: `local bazel ${explicit} (chosen explicitly)` };
  }
  // A failed download is remembered for an hour, so offline builds do not wait for it each time.
  const offlineMark = path.join(project.cacheDir, 'bazelisk', `download-failed-${pinned}`);
  const recentlyFailed = fs.existsSync(offlineMark) && Date.now() - fs.statSync(offlineMark).mtimeMs < 3600_000;
  let failure = 'a download failed within the last hour';
  if (!recentlyFailed) {
    const probe = await runner(bazelisk, ['--version'], { allowFailure: true, env: bazeliskEnv(project, pinned), timeoutMs: 180_000 });
    if (probe.ok) return { mode: 'bazelisk', useBazelVersion: pinned, bazelisk, version: probe.stdout.trim().replace(/^bazel\s+/, '') };
    failure = (probe.stderr.trim().split('\n').pop() ?? '').slice(0, 200);
    fs.mkdirSync(path.dirname(offlineMark), { recursive: true });
    fs.writeFileSync(offlineMark, `${failure}\n`);
  }
  const local = await findLocalBazel(runner);
  if (!local) {
    throw new MissingToolError(`Bazel ${pinned}`, `bazelisk could not download it (${failure}) and no local bazel is on PATH; install Debian's bazel-bootstrap, bazel-rules-java, bazel-platforms and bazel-skylib, or pass --bazel /absolute/path/to/bazel`);
  }
  const version = await describeLocal(runner, local, project.cacheDir);
  const note = `bazelisk could not download Bazel ${pinned} (${failure}); using the local bazel ${local} (${version})`;
  log.warn(note);
  return { mode: 'local', useBazelVersion: local, bazelisk, version, note };
}

/** --override_repository flags for the repositories the trimmed WORKSPACE leaves to the tool. */
export function repositoryOverrides(project: Project, bazel: Bazel, protoToolchainDir: string): string[] {
  const repos: Record<string, string> = {
    com_google_protobuf: protoToolchainDir,
    io_bazel_rules_go: path.join(project.toolsDir, 'bazel', 'rules_go_stub'),
  };
  if (bazel.mode === 'local') {
    repos['rules_cc'] = path.join(project.toolsDir, 'bazel', 'rules_cc_native');
    for (const [name, dir] of Object.entries(DEBIAN_RULE_REPOS)) if (fs.existsSync(dir)) repos[name] = dir;
  }
  return Object.entries(repos).map(([name, dir]) => `--override_repository=${name}=${dir}`);
}

export interface BazelRunOptions {
  project: Project;
  runner: Runner;
  bazel: Bazel;
  workspace: string;
  command: 'build' | 'run';
  targets: string[];
  overrides: string[];
  /** Extra startup options, e.g. --bazelrc=<user file>. */
  startupOptions?: string[];
  /** Extra build options passed through, e.g. --remote_cache=... */
  buildOptions?: string[];
  step?: StepHandle;
  logFile: string;
}

export async function runBazel(opts: BazelRunOptions): Promise<void> {
  const { project, bazel } = opts;
  const startup = [
    '--nohome_rc',
    `--output_user_root=${path.join(project.cacheDir, 'bazel')}`,
    '--max_idle_secs=600',
    ...(opts.startupOptions ?? []),
  ];
  const flags = [
    '--color=no',
    '--curses=no',
    '--show_progress_rate_limit=2',
    '--verbose_failures',
    // Actions see a fixed PATH, not the caller's: the same inputs give the same outputs.
    '--incompatible_strict_action_env',
    // Debian's system bazelrc turns sandbox debugging on, which floods the log.
    ...(bazel.mode === 'local' ? ['--nosandbox_debug'] : []),
    ...opts.overrides,
    ...(opts.buildOptions ?? []),
  ];
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const log = fs.createWriteStream(opts.logFile);
  try {
    const res = await opts.runner(opts.bazel.bazelisk, [...startup, opts.command, ...flags, ...opts.targets], {
      cwd: opts.workspace,
      env: bazeliskEnv(project, bazel.useBazelVersion),
      allowFailure: true,
      onLine: (line) => {
        log.write(`${line}\n`);
        if (/^(INFO: |Loading|Analyzing|\[\d)/.test(line)) opts.step?.progress(line);
      },
    });
    if (!res.ok) {
      const tail = `${res.stdout}\n${res.stderr}`.trim().split('\n').filter((l) => /ERROR|error|FAILED/.test(l)).slice(-8).join('\n');
      throw new BuildError(`bazel ${opts.command} ${opts.targets.join(' ')} failed (exit ${res.exitCode})${tail ? `:\n${tail}` : ''}`, { logPath: opts.logFile, hint: `the full log is ${opts.logFile}` });
    }
  } finally {
    await new Promise((resolve) => log.end(resolve));
  }
}
