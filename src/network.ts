/** Host and port utilities: a free port, whether something answers, host:port strings. */
import net from 'node:net';
import { MlmdError } from './errors.js';
import { poll } from './poll.js';

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

/** Waits until something accepts TCP connections at host:port; throws PollTimeoutError after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  await poll(() => canConnect(host, port), { timeoutMs, description: `${host}:${port} to accept connections`, signal });
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
  if (!m) throw new MlmdError(`"${address}" is not host:port`, { hint: 'e.g. --server-address 127.0.0.1:8080' });
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: +m[2]! };
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
