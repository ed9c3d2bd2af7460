import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BACKENDS, startDatabase, stopSignal, type Backend, type DatabaseServer } from '../databases.js';
import { writeFileAtomic } from '../atomic-file.js';
import type { Project } from '../config.js';
import { MlmdError } from '../errors.js';
import { versioned } from '../json-file.js';
import { z } from 'zod';
import { alive } from '../lock.js';
import { findPython } from '../python.js';
import { canConnect } from '../network.js';
import { poll, PollTimeoutError } from '../poll.js';
import { referenceMlmdVersion, startReferenceServer, type ReferenceChoice } from '../reference-server.js';
import type { Deps } from './deps.js';
import type { ServerState, ServerStatus } from '../results.js';
import { defineCommand, REFERENCE_OPTION } from '../command.js';
import { ExitCode } from '../errors.js';
import { renderServerStatus } from '../render/verify.js';

function stateFile(project: Project): string {
  return path.join(project.cacheDir, 'server', 'state.json');
}

/** The state file of a server started by server start; anything else counts as no server. */
const ServerStateSchema = versioned({
  pid: z.number().int(),
  host: z.string(),
  port: z.number().int(),
  dataDir: z.string(),
  logFile: z.string(),
  mlmdVersion: z.string(),
  note: z.string().optional(),
  startedAt: z.string(),
  database: z.object({ backend: z.enum(['mysql', 'postgresql']), version: z.string(), pid: z.number().int(), port: z.number().int(), dir: z.string() }).optional(),
});

function readState(project: Project): ServerState | null {
  try {
    const parsed = ServerStateSchema.safeParse(JSON.parse(fs.readFileSync(stateFile(project), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The recorded pid is alive and is still our server (a pid may be reused after a reboot). */
function isOurServer(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    // server.py itself, or serve.sh running it in a root filesystem.
    return /server\.py|serve\.sh/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc: trust the pid
  }
}

export async function serverStatus(opts: { project: Project }): Promise<ServerStatus> {
  const state = readState(opts.project);
  const running = state !== null && isOurServer(state.pid);
  return { schemaVersion: 1, running, answering: running && (await canConnect(state!.host, state!.port)), state };
}

/** Stops a detached database and removes its directory, synchronously (it runs in the exit handler). */
function dropDatabase(db: DatabaseServer, dir: string): () => void {
  return () => {
    try {
      // Thrown away, so no clean shutdown: one that is still writing would refill the directory.
      process.kill(db.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } catch {
      // left in the temp directory; the run is ending anyway
    }
  };
}

/** Starts the reference server in the background for users; it outlives this command. */
export async function serverStart(opts: { project: Project; port?: number; python?: string; dataDir?: string; reference?: ReferenceChoice; backend?: Backend }, deps: Deps): Promise<ServerStatus> {
  const current = await serverStatus(opts);
  if (current.running) {
    throw new MlmdError(`a reference server already runs (pid ${current.state!.pid}, 127.0.0.1:${current.state!.port})`, { hint: 'stop it with: mlmd-remote server stop', exitCode: 3 });
  }
  const dir = path.join(opts.project.cacheDir, 'server');
  fs.mkdirSync(dir, { recursive: true });
  const dataDir = path.resolve(opts.dataDir ?? path.join(dir, 'data'));
  const logFile = path.join(dir, 'server.log');
  const python = await findPython(deps.runner, opts.python);
  // The release the wheel is built from: the pinned upstream tag.
  const mlmdVersion = opts.project.config.upstream.tag.replace(/^v/, '');
  const step = deps.log.step(`Start the reference server (official ml-metadata ${opts.reference === 'native' ? referenceMlmdVersion(opts.project) : mlmdVersion})`);
  const backend = opts.backend ?? 'sqlite';
  // Outside the checkout: PostgreSQL, run unprivileged under root, must reach its directory.
  const databaseDir = backend === 'sqlite' ? null : fs.mkdtempSync(path.join(os.tmpdir(), `mlmd-remote-server-${backend}-`));
  let database: DatabaseServer | undefined;
  let forgetDatabase: (() => void) | undefined;
  let handle: Awaited<ReturnType<typeof startReferenceServer>>;
  try {
    if (databaseDir && backend !== 'sqlite') database = await startDatabase(backend, { runner: deps.runner, log: deps.log, dir: databaseDir, detached: true });
    // Detached, so Ctrl-C would not stop it: until the state file records it, the exit does.
    if (database) process.once('exit', (forgetDatabase = dropDatabase(database, databaseDir!)));
    handle = await startReferenceServer({ project: opts.project, runner: deps.runner, log: deps.log, python, dataDir, port: opts.port, detached: true, logFile, mlmdVersion, reference: opts.reference, database, progress: (l) => step.progress(l) });
  } catch (err) {
    await database?.stop();
    if (databaseDir) fs.rmSync(databaseDir, { recursive: true, force: true });
    throw err;
  } finally {
    if (forgetDatabase) process.off('exit', forgetDatabase);
  }
  const state: ServerState = {
    schemaVersion: 1,
    pid: handle.pid,
    host: handle.host,
    port: handle.port,
    dataDir,
    logFile,
    mlmdVersion: handle.mlmdVersion ?? 'unknown',
    ...(handle.note ? { note: handle.note } : {}),
    startedAt: new Date().toISOString(),
    ...(database && databaseDir ? { database: { backend: database.backend, version: database.version, pid: database.pid, port: database.port, dir: databaseDir } } : {}),
  };
  writeFileAtomic(stateFile(opts.project), JSON.stringify(state, null, 2));
  step.done(`ml-metadata ${handle.mlmdVersion} at 127.0.0.1:${handle.port}`);
  return { schemaVersion: 1, running: true, answering: await canConnect(handle.host, handle.port), state };
}

export async function serverStop(opts: { project: Project }, deps: Deps): Promise<ServerStatus> {
  const status = await serverStatus(opts);
  if (status.running) {
    process.kill(status.state!.pid, 'SIGTERM');
    const pid = status.state!.pid;
    await poll(() => !isOurServer(pid), { timeoutMs: 10_000, description: `the reference server (pid ${pid}) to exit` }).catch((err: unknown) => {
      if (!(err instanceof PollTimeoutError)) throw err;
      if (isOurServer(pid)) process.kill(pid, 'SIGKILL');
    });
    deps.log.info(`stopped the reference server (pid ${status.state!.pid})`);
  }
  const db = status.state?.database;
  if (db) {
    if (alive(db.pid)) {
      process.kill(db.pid, stopSignal(db.backend));
      await poll(() => !alive(db.pid), { timeoutMs: 20_000, description: `${db.version} (pid ${db.pid}) to exit` }).catch((err: unknown) => {
        if (!(err instanceof PollTimeoutError)) throw err;
        if (alive(db.pid)) process.kill(db.pid, 'SIGKILL');
      });
      deps.log.info(`stopped ${db.version} (pid ${db.pid})`);
    }
    fs.rmSync(db.dir, { recursive: true, force: true });
  }
  fs.rmSync(stateFile(opts.project), { force: true });
  return { schemaVersion: 1, running: false, answering: false, state: status.state };
}

export const definition = defineCommand({
  command: 'server <action>',
  describe: 'Run the reference MLMD server for your own use: start | stop | status',
  options: (y) =>
    y
      .positional('action', { choices: ['start', 'stop', 'status'] as const, demandOption: true })
      .option('port', { type: 'number', describe: 'Port on 127.0.0.1 (default: a free one)' })
      .option('python', { type: 'string', describe: 'CPython for the server venv (the official wheel must exist for it)' })
      .option('reference', REFERENCE_OPTION)
      .option('backend', { choices: BACKENDS, default: 'sqlite' as const, describe: 'With start: where the server stores: sqlite (a file in .cache/server), or mysql / postgresql (a throw-away MariaDB or PostgreSQL server, stopped and removed by server stop)' }),
  readOnly: (a) => a.action === 'status',
  label: (a) => `server ${a.action}`,
  run: (a, project, deps) =>
    a.action === 'status' ? serverStatus({ project }) : a.action === 'start' ? serverStart({ project, port: a.port, python: a.python, reference: a.reference, backend: a.backend }, deps) : serverStop({ project }, deps),
  render: (r, a) => (a.action === 'stop' ? 'The reference server is stopped.' : renderServerStatus(r)),
  // status answers "is it running?" with its exit code.
  exitCode: (r, a) => (a.action === 'status' && !r.running ? ExitCode.failure : ExitCode.ok),
});
