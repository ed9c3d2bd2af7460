/** Certificates for the TLS and mutual-TLS test servers. */
import fs from 'node:fs';
import path from 'node:path';
import type { Runner } from './exec.js';

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
