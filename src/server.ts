/**
 * MLMD gRPC servers to verify against:
 *   reference  tools/reference_server/server.py: MLMD's own C++ store from the
 *              official ml-metadata wheel, served over gRPC. By default the
 *              very release the wheel was built from: when that release has
 *              no wheel for this host's CPython, tools/platform/serve.sh runs
 *              it in a Debian root filesystem whose CPython it supports;
 *              otherwise (or with --reference native) a venv on this host.
 *   container  a server image (the official one by default) run with testcontainers
 * Both give a handle with an address and stop(); both are ready when the
 * server prints "Server listening on".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Project } from './config.js';
import { ExitCode, MlmdError, MissingToolError, UsageError } from './errors.js';
import { platformCacheDir } from './platform.js';
import { trackProcess, type Runner } from './exec.js';
import type { Logger } from './log.js';
import { ensureVenv, readRequirements, venvPython, type PythonInfo } from './python.js';
import { parseWheelFileName, upstreamVersionOf } from './wheel.js';
import { SERVER_PLATFORM, SERVER_PYTHON } from './releases.js';

export interface ServerHandle {
  kind: 'reference' | 'container' | 'external';
  host: string;
  port: number;
  /** What serves: e.g. "ml-metadata 1.16.0 (official wheel)" or the image name. */
  description: string;
  /** The official MLMD release behind it, when known. */
  mlmdVersion?: string;
  /** Python of the reference server venv (lets the behaviour suite start extra servers). */
  serverPython?: string;
  /** Why the server runs another MLMD release than the one asked for. */
  note?: string;
  /** The host path of its SQLite file, when verify started it: deleting it gives the next call a new database. */
  databaseFile?: string;
  stop(): Promise<void>;
}

export const READY_LINE = /Server listening on/;

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

/** Waits until `file` exists (the server's ready file), the process dies, or the limit passes. */
async function waitForReadyFile(file: string, child: ChildProcess, stderrTail: () => string, limitMs: number, what: string): Promise<{ port: number; pid: number; mlmd_version?: string }> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new MlmdError(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderrTail()}`);
    }
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as { port: number; pid: number; mlmd_version?: string };
    await new Promise((r) => setTimeout(r, 100));
  }
  // TERM first: serve.sh must get to unmount its root filesystem.
  await stopProcess(child);
  throw new MlmdError(`${what} did not print "Server listening on" within ${limitMs / 1000} s:\n${stderrTail()}`, { hint: 'see the server log above' });
}

export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
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

/** The upstream release a wheel was built from, from its file name (post-release and local label dropped). */
export function wheelUpstreamVersion(wheelPath: string): string | undefined {
  const name = parseWheelFileName(wheelPath);
  return name ? upstreamVersionOf(name.version.replace(/_/g, '+')) : undefined;
}

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

interface ReferenceServerOptions {
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

async function startServerProcess(opts: ReferenceServerOptions, plan: ReferencePlan): Promise<ServerHandle & { pid: number }> {
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const readyName = `ready-${process.pid}-${Date.now()}.json`;
  const serverArgs = (dataDir: string) => [
    ...['--host', '127.0.0.1', '--port', String(opts.port ?? 0), '--db', path.join(dataDir, 'metadata.sqlite'), '--ready-file', path.join(dataDir, readyName)],
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
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : 'pipe';
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], detached: opts.detached ?? false, env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  if (!opts.detached) trackProcess(child);
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
    description: `reference server: official ml-metadata ${mlmdVersion} C++ store over gRPC${plan.how === 'rootfs' ? ` (CPython ${SERVER_PYTHON}, ${SERVER_PLATFORM} root filesystem)` : ''}`,
    mlmdVersion,
    serverPython,
    ...(plan.note ? { note: plan.note } : {}),
    databaseFile: path.join(opts.dataDir, 'metadata.sqlite'),
    stop: () => stopProcess(child),
  };
}

export interface TlsMaterial {
  /** Host paths: the CA, and a client certificate and key it signed. */
  caFile: string;
  clientCert: string;
  clientKey: string;
  /** File names in the same directory: the server's certificate and key (for 127.0.0.1 and localhost), the CA. */
  cert: string;
  key: string;
  ca: string;
}

/**
 * A throw-away CA (EC P-256, valid two days) and a server and a client
 * certificate signed by it, made with openssl in `dir`: ca.pem, server.pem,
 * server.key, client.pem, client.key.
 */
export async function makeTlsMaterial(runner: Runner, dir: string): Promise<TlsMaterial> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\n');
  fs.writeFileSync(path.join(dir, 'server.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
  fs.writeFileSync(path.join(dir, 'client.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  const openssl = (...args: string[]) => runner('openssl', args, { cwd: dir });
  for (const stem of ['ca', 'server', 'client']) await openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${stem}.key`);
  await openssl('req', '-new', '-key', 'ca.key', '-subj', '/CN=mlmd-remote-verify-ca', '-out', 'ca.csr');
  await openssl('x509', '-req', '-in', 'ca.csr', '-signkey', 'ca.key', '-days', '2', '-sha256', '-extfile', 'ca.ext', '-out', 'ca.pem');
  let serial = Date.now();
  for (const [stem, cn] of [['server', 'localhost'], ['client', 'mlmd-remote-verify-client']] as const) {
    await openssl('req', '-new', '-key', `${stem}.key`, '-subj', `/CN=${cn}`, '-out', `${stem}.csr`);
    await openssl('x509', '-req', '-in', `${stem}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', '2', '-sha256', '-extfile', `${stem}.ext`, '-out', `${stem}.pem`);
  }
  return { caFile: path.join(dir, 'ca.pem'), clientCert: path.join(dir, 'client.pem'), clientKey: path.join(dir, 'client.key'), cert: 'server.pem', key: 'server.key', ca: 'ca.pem' };
}

export interface HelperServers {
  /** What the behaviour suite reads to find them (MLMD_SLOW_*, MLMD_TLS_*, MLMD_MTLS_*). */
  env: Record<string, string>;
  /** Why they serve another release than the one asked for. */
  note?: string;
  stop(): Promise<void>;
}

export const SLOW_DELAY_MS = 400;

/**
 * The servers the suite's timeout and TLS tests need besides the main one: a
 * slow one, a TLS one and a mutual-TLS one, started like the main reference
 * server (so of the same release) with their data and certificates under
 * `dataDir`. Without openssl the TLS ones are left out, with a warning (their
 * tests then skip, saying why).
 */
export async function startHelperServers(opts: Omit<ReferenceServerOptions, 'dataDir' | 'tls' | 'extraArgs' | 'port' | 'detached' | 'logFile'>, dataDir: string): Promise<HelperServers> {
  const started: ServerHandle[] = [];
  const env: Record<string, string> = {};
  let note: string | undefined;
  const stop = async () => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    const slow = await startReferenceServer({ ...opts, dataDir: path.join(dataDir, 'slow'), extraArgs: ['--delay-ms', String(SLOW_DELAY_MS)] });
    started.push(slow);
    // Where the root filesystem failed for the first, the others would only fail (and warn) again.
    note = slow.note;
    if (note) opts = { ...opts, reference: 'native' };
    Object.assign(env, { MLMD_SLOW_HOST: slow.host, MLMD_SLOW_PORT: String(slow.port), MLMD_SLOW_DELAY_MS: String(SLOW_DELAY_MS) });
    let tls: TlsMaterial | undefined;
    try {
      tls = await makeTlsMaterial(opts.runner, path.join(dataDir, 'tls'));
    } catch (err) {
      opts.log.warn(`no TLS servers, so the TLS tests will skip: openssl failed: ${(err as Error).message.split('\n')[0]}`);
    }
    if (tls) {
      const tlsServer = await startReferenceServer({ ...opts, dataDir: path.join(dataDir, 'tls'), tls });
      started.push(tlsServer);
      Object.assign(env, { MLMD_TLS_HOST: tlsServer.host, MLMD_TLS_PORT: String(tlsServer.port), MLMD_TLS_CA_FILE: tls.caFile });
      // Its own data directory (a root filesystem sees only that one), with copies of the server's files.
      const mtlsDir = path.join(dataDir, 'mtls');
      fs.mkdirSync(mtlsDir, { recursive: true });
      for (const f of [tls.cert, tls.key, tls.ca]) fs.copyFileSync(path.join(dataDir, 'tls', f), path.join(mtlsDir, f));
      const mtls = await startReferenceServer({ ...opts, dataDir: mtlsDir, tls: { cert: tls.cert, key: tls.key, clientCa: tls.ca } });
      started.push(mtls);
      Object.assign(env, { MLMD_MTLS_HOST: mtls.host, MLMD_MTLS_PORT: String(mtls.port), MLMD_MTLS_CA_FILE: tls.caFile, MLMD_MTLS_CLIENT_CERT: tls.clientCert, MLMD_MTLS_CLIENT_KEY: tls.clientKey });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { env, ...(note ? { note } : {}), stop };
}

/** True when something accepts TCP connections at host:port within the limit. */
export function canConnect(host: string, port: number, limitMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(limitMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
  if (!m) throw new MlmdError(`"${address}" is not host:port`, { hint: 'e.g. --server-address 127.0.0.1:8080' });
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: +m[2]! };
}

/** A server someone else runs; verify only checks that it answers. */
export async function externalServer(address: string): Promise<ServerHandle> {
  const { host, port } = parseAddress(address);
  if (!(await canConnect(host, port))) {
    throw new MlmdError(`no MLMD server answers at ${host}:${port}`, { hint: 'start one (mlmd-remote server start) or let verify start its own (--server reference)' });
  }
  return { kind: 'external', host, port, description: `server at ${host}:${port}`, stop: async () => undefined };
}

// ---------------------------------------------------------------------------
// Containers

export const OFFICIAL_IMAGE = 'gcr.io/tfx-oss-public/ml_metadata_store_server';

export function defaultImage(upstreamVersion: string): string {
  return `${OFFICIAL_IMAGE}:${upstreamVersion}`;
}

/** One sentence for when no container runtime works, naming the alternatives. */
export const NO_CONTAINER_RUNTIME =
  'No container runtime answers (testcontainers found no working Docker or Podman socket); start one (e.g. bash tools/container/start-docker.sh), or verify with --server reference, which runs the same MLMD store without containers.';

/**
 * The image started as its users start the official one: GRPC_PORT and a
 * config file naming a SQLite file in /tmp/shared, which is `dataDir` on
 * this host (so the host can give it a new database by deleting the file).
 */
export async function startContainerServer(opts: { image: string; log: Logger; dataDir: string; port?: number; readyTimeoutMs?: number; /** The release the wheel was built from. */ mlmdVersion?: string }): Promise<ServerHandle> {
  // No registry is needed for a local image, and the reaper image would have to be pulled.
  process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';
  // Inside a container (a /.dockerenv file) testcontainers would look for a bridge
  // gateway and pull an image to probe it; with host networking the host is 127.0.0.1.
  process.env['TESTCONTAINERS_HOST_OVERRIDE'] ??= '127.0.0.1';
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch (err) {
    throw new MissingToolError('a container runtime', NO_CONTAINER_RUNTIME);
  }
  const port = opts.port ?? (await freePort());
  fs.mkdirSync(opts.dataDir, { recursive: true });
  fs.writeFileSync(path.join(opts.dataDir, 'server_config.textproto'), "connection_config {\n  sqlite {\n    filename_uri: '/tmp/shared/metadata.sqlite.db'\n    connection_mode: READWRITE_OPENCREATE\n  }\n}\n");
  let container;
  try {
    container = await new GenericContainer(opts.image)
      .withNetworkMode('host')
      .withEnvironment({ GRPC_PORT: String(port), METADATA_STORE_SERVER_CONFIG_FILE: '/tmp/shared/server_config.textproto' })
      .withBindMounts([{ source: path.resolve(opts.dataDir), target: '/tmp/shared', mode: 'rw' }])
      .withWaitStrategy(Wait.forLogMessage(READY_LINE).withStartupTimeout(opts.readyTimeoutMs ?? 120_000))
      .withPullPolicy({ shouldPull: () => false })
      .start();
  } catch (err) {
    const msg = (err as Error).message;
    const hint = /no such image|not found|pull access denied|manifest unknown|dial tcp|no such host|gcr\.io\/v2/i.test(msg)
      ? `the image ${opts.image} is not available locally and no registry is reachable; build the local one with bash tools/container/build-image.sh and pass --image mlmd-remote/reference-server:<version>`
      : 'see the container log; --server reference runs the same store without containers';
    throw new MlmdError(`cannot start ${opts.image}: ${msg.split('\n')[0]}`, { hint, cause: err });
  }
  opts.log.debug(`container ${container.getId().slice(0, 12)} (${opts.image}) listening on 127.0.0.1:${port}`);
  // Which release it serves: our images say so in a label; the official ones in their tag.
  const served = container.getLabels()['mlmd-remote.ml-metadata'] || /:(\d+\.\d+\.\d+[^/]*)$/.exec(opts.image)?.[1];
  const note = !served
    ? `cannot tell which ml-metadata release the image ${opts.image} serves (no mlmd-remote.ml-metadata label, no version tag)`
    : opts.mlmdVersion && served !== opts.mlmdVersion
      ? `the image ${opts.image} serves ml-metadata ${served}, not ${opts.mlmdVersion}, the wheel's release`
      : undefined;
  if (note) opts.log.warn(note);
  return {
    kind: 'container',
    host: '127.0.0.1',
    port,
    description: `container ${opts.image}`,
    ...(served ? { mlmdVersion: served } : {}),
    ...(note ? { note } : {}),
    databaseFile: path.join(opts.dataDir, 'metadata.sqlite.db'),
    stop: async () => {
      await container.stop({ timeout: 10_000 });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
