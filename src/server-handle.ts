/**
 * What verify talks to: a handle on an MLMD gRPC server (one it started, or
 * one someone else runs), ready when the server prints "Server listening on".
 */
import { MlmdError } from './errors.js';
import { canConnect, parseAddress } from './network.js';

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
  /** When it stores into MySQL or PostgreSQL: which, and a command that drops its database (the next call re-creates it). */
  database?: { backend: 'mysql' | 'postgresql'; version: string; reset: { cmd: string; args: string[]; env: Record<string, string> } };
  stop(): Promise<void>;
}

export const READY_LINE = /Server listening on/;

/** A server someone else runs; verify only checks that it answers. */
export async function externalServer(address: string): Promise<ServerHandle> {
  const { host, port } = parseAddress(address);
  if (!(await canConnect(host, port))) {
    throw new MlmdError(`no MLMD server answers at ${host}:${port}`, { hint: 'start one (mlmd-remote server start) or let verify start its own (--server reference)' });
  }
  return { kind: 'external', host, port, description: `server at ${host}:${port}`, stop: async () => undefined };
}

/** Stops what a run started and removes its scratch directories, in the order given (the last started first). */
export async function tearDown(parts: ReadonlyArray<{ stop(): Promise<unknown> } | { dispose(): void } | null | undefined>): Promise<void> {
  for (const part of parts) {
    if (part && 'stop' in part) await part.stop();
    else part?.dispose();
  }
}
