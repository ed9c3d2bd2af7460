/**
 * Throw-away MariaDB and PostgreSQL servers for the reference server to store
 * into, as deployments run MLMD: Debian's packages, started as this user's own
 * instance (own data directory and socket, a free port on 127.0.0.1, a
 * generated password, no system service), stopped and removed afterwards.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MissingToolError, MlmdError } from './errors.js';
import { startLongRunning, stopProcess, type LongRunningProcess, type Runner } from './exec.js';
import type { Logger } from './log.js';
import { freePort } from './network.js';
import { poll, PollTimeoutError } from './poll.js';

export const BACKENDS = ['sqlite', 'mysql', 'postgresql'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface DatabaseServer {
  backend: Exclude<Backend, 'sqlite'>;
  host: string;
  port: number;
  user: string;
  password: string;
  /** The database MLMD stores into (it creates it when missing, as the official server does). */
  database: string;
  /** e.g. "MariaDB 10.11.6". */
  version: string;
  startupMs: number;
  pid: number;
  /**
   * The official server's config file that connects to it (a MetadataStoreServerConfig
   * text proto, as the official image is configured); a file keeps the password out of
   * the process list, where the mysql_config_* / postgres_config_* flags would show it.
   */
  serverConfig: string;
  /** A command that drops the database, so the next call gets a fresh one (as deleting the SQLite file does). */
  resetCommand: { cmd: string; args: string[]; env: Record<string, string> };
  stop(): Promise<void>;
}

interface StartOptions {
  runner: Runner;
  log: Logger;
  /** A scratch directory the instance may fill (data, socket, log). */
  dir: string;
  readyTimeoutMs?: number;
  /** Outlive this process (server start): not stopped on Ctrl-C; stop it by its pid. */
  detached?: boolean;
}

const DATABASE = 'mlmd';
const USER = 'mlmd';

/** As root, PostgreSQL refuses to run: it runs as this unprivileged user instead. */
const UNPRIVILEGED = 'nobody';

function findProgram(candidates: string[], what: string): string {
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new MissingToolError(what, 'install the database packages: sudo bash tools/setup-debian.sh (mariadb-server, postgresql)');
  return found;
}

function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return findProgram(versions.map((v) => path.join(root, v, 'bin', name)), `PostgreSQL (${name})`);
}

/** Waits for a started database to answer `probe`, or fails with the tail of its log when it exits or the limit passes. */
async function waitUntilReady(child: LongRunningProcess, probe: () => Promise<boolean>, logFile: string, what: string, limitMs: number): Promise<void> {
  const tail = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-8).join('\n') : '');
  try {
    await poll(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new MlmdError(`${what} exited (${child.exitCode ?? child.signalCode}) while starting:\n${tail()}`);
        return probe();
      },
      { timeoutMs: limitMs, intervalMs: 100, description: `${what} to accept connections` },
    );
  } catch (err) {
    await stopProcess(child);
    if (err instanceof PollTimeoutError) throw new MlmdError(`${err.message}:\n${tail()}`);
    throw err;
  }
}

async function startMariadb(opts: StartOptions): Promise<DatabaseServer> {
  const started = Date.now();
  const mariadbd = findProgram(['/usr/sbin/mariadbd', '/usr/sbin/mysqld'], 'MariaDB (mariadbd)');
  const installDb = findProgram(['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db'], 'MariaDB (mariadb-install-db)');
  const client = findProgram(['/usr/bin/mariadb', '/usr/bin/mysql'], 'MariaDB client (mariadb)');
  const data = path.join(opts.dir, 'data');
  const socket = path.join(opts.dir, 'mysqld.sock');
  const logFile = path.join(opts.dir, 'mariadb.log');
  const me = os.userInfo().username;
  const step = opts.log.step('Start a throw-away MariaDB on 127.0.0.1');
  // --auth-root-authentication-method=normal: root starts without a password, reachable only by this
  // user's socket until the password below is set (socket auth would need the OS user to be root).
  await opts.runner(installDb, ['--no-defaults', `--datadir=${data}`, `--user=${me}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { timeoutMs: 120_000 });
  const port = await freePort();
  const child = startLongRunning(mariadbd, ['--no-defaults', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1', `--user=${me}`, `--log-error=${logFile}`, `--pid-file=${path.join(opts.dir, 'mysqld.pid')}`], { logFile, detached: opts.detached });
  const viaSocket = (sql: string) => opts.runner(client, ['--no-defaults', `--socket=${socket}`, '-u', 'root', '-e', sql], { allowFailure: true, timeoutMs: 30_000 });
  await waitUntilReady(child, async () => (await viaSocket('SELECT 1')).ok, logFile, 'MariaDB', opts.readyTimeoutMs ?? 60_000);
  if (opts.detached) child.unref();
  const password = crypto.randomBytes(18).toString('base64url');
  const rootPassword = crypto.randomBytes(18).toString('base64url');
  // MLMD creates its database itself, so its user may create databases; root gets a password too.
  const setup = await viaSocket(
    [`CREATE USER '${USER}'@'127.0.0.1' IDENTIFIED BY '${password}'`, `GRANT ALL PRIVILEGES ON *.* TO '${USER}'@'127.0.0.1'`, `ALTER USER 'root'@'localhost' IDENTIFIED BY '${rootPassword}'`, 'FLUSH PRIVILEGES'].join('; '),
  );
  if (!setup.ok) {
    await stopProcess(child);
    throw new MlmdError(`could not set up the MariaDB user: ${setup.stderr.trim()}`);
  }
  const version = (await opts.runner(mariadbd, ['--version'], { allowFailure: true })).stdout.match(/Ver\s+(\S+)/)?.[1]?.replace(/-MariaDB.*$/, '') ?? 'unknown';
  const startupMs = Date.now() - started;
  step.done(`MariaDB ${version} on 127.0.0.1:${port}`);
  return {
    backend: 'mysql',
    host: '127.0.0.1',
    port,
    user: USER,
    password,
    database: DATABASE,
    version: `MariaDB ${version}`,
    startupMs,
    pid: child.pid!,
    serverConfig: `connection_config {\n  mysql {\n    host: "127.0.0.1"\n    port: ${port}\n    database: "${DATABASE}"\n    user: "${USER}"\n    password: "${password}"\n  }\n}\n`,
    resetCommand: { cmd: client, args: ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', USER, '-e', `DROP DATABASE IF EXISTS ${DATABASE}`], env: { MYSQL_PWD: password } },
    stop: () => stopProcess(child),
  };
}

async function startPostgres(opts: StartOptions): Promise<DatabaseServer> {
  const started = Date.now();
  const initdb = postgresBin('initdb');
  const postgres = postgresBin('postgres');
  const psql = findProgram(['/usr/bin/psql', path.join(path.dirname(postgres), 'psql')], 'PostgreSQL client (psql)');
  const asRoot = process.getuid?.() === 0;
  // initdb and postgres refuse to run as root: then they run as an unprivileged user, owning the directory.
  const runAs = (cmd: string, args: string[]): [string, string[]] => (asRoot ? ['setpriv', ['--reuid', UNPRIVILEGED, '--regid', 'nogroup', '--clear-groups', '--', cmd, ...args]] : [cmd, args]);
  const data = path.join(opts.dir, 'data');
  const logFile = path.join(opts.dir, 'postgres.log');
  const pwfile = path.join(opts.dir, 'pwfile');
  const password = crypto.randomBytes(18).toString('base64url');
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) {
    fs.chmodSync(opts.dir, 0o755);
    for (const p of [opts.dir, pwfile]) fs.chownSync(p, uidOf(UNPRIVILEGED), gidOf('nogroup'));
  }
  const step = opts.log.step('Start a throw-away PostgreSQL on 127.0.0.1');
  const [initCmd, initArgs] = runAs(initdb, ['-D', data, '-U', USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync']);
  await opts.runner(initCmd, initArgs, { timeoutMs: 120_000, env: { LC_ALL: 'C' } });
  fs.rmSync(pwfile, { force: true });
  const port = await freePort();
  // fsync off: a throw-away database, so durability costs time and buys nothing.
  const [cmd, args] = runAs(postgres, ['-D', data, '-p', String(port), '-k', opts.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']);
  const child = startLongRunning(cmd, args, { logFile, detached: opts.detached });
  const env = { PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' };
  const query = (sql: string, db = 'postgres') => opts.runner(psql, ['-h', '127.0.0.1', '-p', String(port), '-U', USER, '-d', db, '-tAc', sql], { env, allowFailure: true, timeoutMs: 30_000 });
  await waitUntilReady(child, async () => (await query('SELECT 1')).ok, logFile, 'PostgreSQL', opts.readyTimeoutMs ?? 60_000);
  if (opts.detached) child.unref();
  const version = (await query('SHOW server_version')).stdout.trim().split(' ')[0] ?? 'unknown';
  const startupMs = Date.now() - started;
  step.done(`PostgreSQL ${version} on 127.0.0.1:${port}`);
  return {
    backend: 'postgresql',
    host: '127.0.0.1',
    port,
    user: USER,
    password,
    database: DATABASE,
    version: `PostgreSQL ${version}`,
    startupMs,
    pid: child.pid!,
    serverConfig: `connection_config {\n  postgresql {\n    host: "127.0.0.1"\n    port: "${port}"\n    dbname: "${DATABASE}"\n    user: "${USER}"\n    password: "${password}"\n  }\n}\n`,
    resetCommand: { cmd: psql, args: ['-h', '127.0.0.1', '-p', String(port), '-U', USER, '-d', 'postgres', '-qtAc', `DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`], env },
    // SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients to leave).
    stop: () => stopProcess(child, 10_000, stopSignal('postgresql')),
  };
}

function idOf(file: string, name: string): number {
  const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new MlmdError(`no ${name} in ${file}: PostgreSQL cannot run as root and there is no unprivileged ${name} to run it as`);
  return Number(line.split(':')[2]);
}
const uidOf = (name: string) => idOf('/etc/passwd', name);
const gidOf = (name: string) => idOf('/etc/group', name);

/** Starts a throw-away database server for `backend` in `dir`. */
export async function startDatabase(backend: Exclude<Backend, 'sqlite'>, opts: StartOptions): Promise<DatabaseServer> {
  return backend === 'mysql' ? startMariadb(opts) : startPostgres(opts);
}

/** The signal that shuts `backend` down quickly (PostgreSQL's SIGTERM waits for its clients). */
export const stopSignal = (backend: DatabaseServer['backend']): NodeJS.Signals => (backend === 'postgresql' ? 'SIGINT' : 'SIGTERM');

export function parseBackend(name: string): Backend {
  if ((BACKENDS as readonly string[]).includes(name)) return name as Backend;
  throw new MlmdError(`unknown backend '${name}'`, { hint: `use one of ${BACKENDS.join(', ')}` });
}
