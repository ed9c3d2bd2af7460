/** The extra reference servers the behaviour suite's timeout and TLS tests talk to. */
import fs from 'node:fs';
import path from 'node:path';
import { startReferenceServer, type ReferenceServerOptions } from './reference-server.js';
import type { ServerHandle } from './server-handle.js';
import { makeTlsMaterial, type TlsMaterial } from './tls.js';

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
