/** A server image (the official one by default) run with testcontainers. */
import fs from 'node:fs';
import path from 'node:path';
import { MissingToolError, MlmdError } from './errors.js';
import type { DatabaseServer } from './databases.js';
import type { Logger } from './log.js';
import { freePort } from './network.js';
import { READY_LINE, type ServerHandle } from './server-handle.js';

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
export async function startContainerServer(opts: {
  image: string;
  log: Logger;
  dataDir: string;
  port?: number;
  readyTimeoutMs?: number;
  /** The release the wheel was built from. */
  mlmdVersion?: string;
  /** Store into this MySQL/PostgreSQL server (reachable: the container shares the host's network) instead of SQLite. */
  database?: DatabaseServer;
}): Promise<ServerHandle> {
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
  const sqlite = "connection_config {\n  sqlite {\n    filename_uri: '/tmp/shared/metadata.sqlite.db'\n    connection_mode: READWRITE_OPENCREATE\n  }\n}\n";
  fs.writeFileSync(path.join(opts.dataDir, 'server_config.textproto'), opts.database?.serverConfig ?? sqlite, { mode: 0o644 });
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
    description: `container ${opts.image}${opts.database ? ` on ${opts.database.version}` : ''}`,
    ...(served ? { mlmdVersion: served } : {}),
    ...(note ? { note } : {}),
    ...(opts.database
      ? { database: { backend: opts.database.backend, version: opts.database.version, reset: opts.database.resetCommand } }
      : { databaseFile: path.join(opts.dataDir, 'metadata.sqlite.db') }),
    stop: async () => {
      await container.stop({ timeout: 10_000 });
    },
  };
}
