/**
 * The reference server, tools/reference_server/server.py: MLMD's own C++
 * store from the official ml-metadata wheel, served over gRPC. By default the
 * very release the wheel was built from: when that release has no wheel for
 * this host's CPython, tools/platform/serve.sh runs it in a Debian root
 * filesystem whose CPython it supports; otherwise (or with --reference
 * native) a venv on this host.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Project } from './config.js';
import { ExitCode, MlmdError, UsageError } from './errors.js';
import { startLongRunning, stopProcess, type LongRunningProcess, type Runner } from './exec.js';
import type { Logger } from './log.js';
import { platformCacheDir } from './platforms.js';
import { poll, PollTimeoutError } from './poll.js';
import { ensureVenv, readRequirements, venvPython, type PythonInfo } from './python.js';
import { SERVER_PLATFORM, SERVER_PYTHON } from './releases.js';
import type { ServerHandle } from './server-handle.js';
import type { DatabaseServer } from './databases.js';
import { readJsonFile } from './json-file.js';
import { z } from 'zod';

export function referenceServerScript(project: Project): string {
  return path.join(project.toolsDir, 'reference_server', 'server.py');
}

/** The official ml-metadata release the reference server runs (from its pinned requirements). */
export function referenceMlmdVersion(project: Project): string {
  const req = readRequirements(path.join(project.toolsDir, 'reference_server', 'requirements.txt')).find((r) => r.startsWith('ml-metadata=='));
  return req ? req.split('==')[1]! : 'unknown';
}

export async function referenceServerVenv(opts: { project: Project; runner: Runner; log: Logger; python: PythonInfo }): Promise<string> {
  const requirements = readRequirements(path.join(opts.project.toolsDir, 'reference_server', 'requirements.txt'));
  try {
    return await ensureVenv({ runner: opts.runner, log: opts.log, python: opts.python, cacheDir: opts.project.cacheDir, name: 'reference-server', requirements });
  } catch (err) {
    throw new MlmdError(`cannot install the reference server (official ml-metadata ${referenceMlmdVersion(opts.project)}) for CPython ${opts.python.version}: ${(err as Error).message.split('\n').slice(-3).join(' ')}`, {
      hint: 'the official wheels exist only for some CPython versions (1.16.0: 3.9 to 3.11); point --python at one of those, or use --server container',
      cause: err,
    });
  }
}

/** What server.py writes (atomically) to --ready-file once it serves. */
const ReadyFileSchema = z.looseObject({ port: z.number().int().positive(), pid: z.number().int(), mlmd_version: z.string().optional() });
type ReadyFile = z.infer<typeof ReadyFileSchema>;

/** The server's ready file once it is there (undefined before); one that does not parse is an error naming it. */
export function readReadyFile(file: string, what: string): ReadyFile | undefined {
  if (!fs.existsSync(file)) return undefined;
  return readJsonFile(file, ReadyFileSchema, `the ready file ${file} of ${what}`, (m) => new MlmdError(m, { hint: "check that tools/reference_server/server.py is this checkout's own (git status tools/reference_server), then try again" }));
}

/** Waits until `file` exists (the server's ready file), the process dies, or the limit passes. */
async function waitForReadyFile(file: string, child: LongRunningProcess, stderrTail: () => string, limitMs: number, what: string): Promise<ReadyFile> {
  try {
    return await poll(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new MlmdError(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderrTail()}`);
        }
        return readReadyFile(file, what);
      },
      { timeoutMs: limitMs, description: `${what} to write its ready file` },
    );
  } catch (err) {
    if (!(err instanceof PollTimeoutError)) {
      await stopProcess(child); // it may still run (its ready file did not parse): stop it
      throw err;
    }
  }
  // TERM first: serve.sh must get to unmount its root filesystem.
  await stopProcess(child);
  throw new MlmdError(`${what} did not print "Server listening on" within ${limitMs / 1000} s:\n${stderrTail()}`, { hint: 'see the server log above' });
}

/** Which MLMD release the reference server runs. */
export const REFERENCE_CHOICES = ['auto', 'same-version', 'native'] as const;
export type ReferenceChoice = (typeof REFERENCE_CHOICES)[number];

export interface ReferencePlan {
  /** native: a venv on this host's CPython; rootfs: serve.sh in the SERVER_PLATFORM root filesystem. */
  how: 'native' | 'rootfs';
  mlmdVersion: string;
  requirements: string;
  /** Why the release differs from the one asked for. */
  note?: string;
}

/** Root filesystem for releases without wheels for this host's CPython (tools/platform/releases.tsv). */
export { SERVER_PLATFORM };

/**
 * How to serve `wanted`: the host venv when its pinned release is that one, a
 * root filesystem when tools/reference_server/requirements-<wanted>.txt pins
 * it, else (auto) the host venv's release with a note saying so.
 */
export function planReferenceServer(project: Project, wanted: string | undefined, choice: ReferenceChoice): ReferencePlan {
  const dir = path.join(project.toolsDir, 'reference_server');
  const native: ReferencePlan = { how: 'native', mlmdVersion: referenceMlmdVersion(project), requirements: path.join(dir, 'requirements.txt') };
  if (choice === 'native' || !wanted || wanted === native.mlmdVersion) return native;
  const requirements = path.join(dir, `requirements-${wanted}.txt`);
  if (fs.existsSync(requirements)) return { how: 'rootfs', mlmdVersion: wanted, requirements };
  const why = `no server venv pins ml-metadata ${wanted} (tools/reference_server/requirements-${wanted}.txt)`;
  if (choice === 'same-version') throw new UsageError(why, `add that file, pinning ml-metadata==${wanted} and its dependencies for CPython ${SERVER_PYTHON}, or use --reference native`);
  return { ...native, note: `${why}; serving ml-metadata ${native.mlmdVersion} instead` };
}

export interface ReferenceServerOptions {
  project: Project;
  runner: Runner;
  log: Logger;
  python: PythonInfo;
  dataDir: string;
  /** The MLMD release to serve (the wheel's upstream version); default: the host venv's. */
  mlmdVersion?: string;
  reference?: ReferenceChoice;
  port?: number;
  extraArgs?: string[];
  /** Serve TLS with these files (names inside dataDir, which a root filesystem sees as /data); with clientCa, require client certificates signed by it. */
  tls?: { cert: string; key: string; clientCa?: string };
  detached?: boolean;
  logFile?: string;
  readyTimeoutMs?: number;
  /** Store into this MySQL/PostgreSQL server (the official flags) instead of a SQLite file in dataDir. */
  database?: DatabaseServer;
  /** Progress lines (a root filesystem built the first time takes a minute). */
  progress?: (line: string) => void;
}

/**
 * Starts the reference server on 127.0.0.1 with a free port and a SQLite file
 * in `dataDir`, serving the release the plan picks. When the root filesystem
 * cannot be used here (exit 3: not root, cannot mount, no debootstrap; exit 4:
 * mirror or PyPI unreachable; or the server in it does not start) and the
 * choice is auto, it falls back to the host venv and says so in a warning and
 * in the handle's note; same-version fails instead.
 */
export async function startReferenceServer(opts: ReferenceServerOptions): Promise<ServerHandle & { pid: number }> {
  const choice = opts.reference ?? 'auto';
  const plan = planReferenceServer(opts.project, opts.mlmdVersion, choice);
  if (plan.how === 'rootfs') {
    let unavailable: string | null;
    try {
      unavailable = await prepareRootfsServer(opts, plan);
      if (!unavailable) return await startServerProcess(opts, plan);
    } catch (err) {
      if (choice === 'same-version' || !(err instanceof MlmdError)) throw err;
      unavailable = err.message.split('\n')[0]!;
    }
    const why = `ml-metadata ${plan.mlmdVersion} cannot run in the ${SERVER_PLATFORM} root filesystem here: ${unavailable}`;
    if (choice === 'same-version') throw new MlmdError(why, { hint: 'run as root, with the right to mount and debootstrap installed (see tools/platform/README.md), or use --reference native', exitCode: ExitCode.missingTool });
    const fallback = planReferenceServer(opts.project, undefined, 'native');
    opts.log.warn(`${why}; serving ml-metadata ${fallback.mlmdVersion} on this host instead`);
    return startServerProcess(opts, { ...fallback, note: `${why}; served ml-metadata ${fallback.mlmdVersion} instead` });
  }
  if (plan.note) opts.log.warn(plan.note);
  return startServerProcess(opts, plan);
}

function serveScript(project: Project): string {
  return path.join(project.toolsDir, 'platform', 'serve.sh');
}

function serveArgs(plan: ReferencePlan): string[] {
  return ['--platform', SERVER_PLATFORM, '--requirements', plan.requirements, '--cache-dir', platformCacheDir()];
}

/** Server trees this process has prepared already (verify starts four servers from one). */
const preparedTrees = new Set<string>();

/** Builds (or finds) the cached server tree; the reason when this host cannot, null when ready. */
async function prepareRootfsServer(opts: ReferenceServerOptions, plan: ReferencePlan): Promise<string | null> {
  if (preparedTrees.has(plan.requirements)) return null;
  const res = await opts.runner('bash', [serveScript(opts.project), ...serveArgs(plan), '--prepare-only'], {
    allowFailure: true,
    onLine: (line) => opts.progress?.(line),
  });
  if (res.exitCode === 0) {
    preparedTrees.add(plan.requirements);
    return null;
  }
  const reason = res.stderr.trim().split('\n').reverse().find((l) => / error: /.test(l))?.replace(/^.*? error: /, '') ?? `serve.sh exited ${res.exitCode}`;
  if (res.exitCode === 3 || res.exitCode === 4) return reason;
  throw new MlmdError(`cannot prepare the ml-metadata ${plan.mlmdVersion} server (serve.sh exit ${res.exitCode}): ${reason}`, { hint: `see ${platformCacheDir()}/server-${SERVER_PLATFORM}-*.log` });
}

/** The server's config file when it stores into MySQL/PostgreSQL (in dataDir, which a root filesystem sees as /data). */
const SERVER_CONFIG = 'server-config.pbtxt';

async function startServerProcess(opts: ReferenceServerOptions, plan: ReferencePlan): Promise<ServerHandle & { pid: number }> {
  fs.mkdirSync(opts.dataDir, { recursive: true });
  if (opts.database) fs.writeFileSync(path.join(opts.dataDir, SERVER_CONFIG), opts.database.serverConfig, { mode: 0o600 });
  const readyName = `ready-${process.pid}-${Date.now()}.json`;
  const serverArgs = (dataDir: string) => [
    ...['--host', '127.0.0.1', '--port', String(opts.port ?? 0), '--ready-file', path.join(dataDir, readyName)],
    ...(opts.database ? [`--metadata_store_server_config_file=${path.join(dataDir, SERVER_CONFIG)}`] : ['--db', path.join(dataDir, 'metadata.sqlite')]),
    ...(opts.tls ? ['--tls-cert', path.join(dataDir, opts.tls.cert), '--tls-key', path.join(dataDir, opts.tls.key)] : []),
    ...(opts.tls?.clientCa ? ['--tls-client-ca', path.join(dataDir, opts.tls.clientCa)] : []),
    ...(opts.extraArgs ?? []),
  ];
  let cmd: string;
  let args: string[];
  let serverPython: string | undefined;
  if (plan.how === 'rootfs') {
    // serve.sh shows the host's data directory to the server as /data.
    cmd = 'bash';
    args = [serveScript(opts.project), ...serveArgs(plan), '--data-dir', opts.dataDir, '--', ...serverArgs('/data')];
  } else {
    serverPython = venvPython(await referenceServerVenv(opts));
    cmd = serverPython;
    args = [referenceServerScript(opts.project), ...serverArgs(opts.dataDir)];
  }
  const child = startLongRunning(cmd, args, { logFile: opts.logFile, detached: opts.detached, env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
  child.stdout?.on('data', () => undefined);
  const what = `the reference server (ml-metadata ${plan.mlmdVersion}${plan.how === 'rootfs' ? ` in the ${SERVER_PLATFORM} root filesystem` : ''})`;
  const readyFile = path.join(opts.dataDir, readyName);
  const ready = await waitForReadyFile(readyFile, child, () => tail || (opts.logFile ? fs.readFileSync(opts.logFile, 'utf8').slice(-4000) : ''), opts.readyTimeoutMs ?? 90_000, what);
  fs.rmSync(readyFile, { force: true });
  if (opts.detached) child.unref();
  const mlmdVersion = ready.mlmd_version ?? plan.mlmdVersion;
  return {
    kind: 'reference',
    host: '127.0.0.1',
    port: ready.port,
    pid: child.pid!,
    description: `reference server: official ml-metadata ${mlmdVersion} C++ store over gRPC${opts.database ? ` on ${opts.database.version}` : ''}${plan.how === 'rootfs' ? ` (CPython ${SERVER_PYTHON}, ${SERVER_PLATFORM} root filesystem)` : ''}`,
    mlmdVersion,
    serverPython,
    ...(plan.note ? { note: plan.note } : {}),
    ...(opts.database
      ? { database: { backend: opts.database.backend, version: opts.database.version, reset: opts.database.resetCommand } }
      : { databaseFile: path.join(opts.dataDir, 'metadata.sqlite') }),
    stop: () => stopProcess(child),
  };
}
