/**
 * The one polling loop: waits for a file, a port, a process, until a
 * deadline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MlmdError } from './errors.js';

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** What is waited for, for the timeout error: e.g. "127.0.0.1:8080 to accept connections". */
  description: string;
  signal?: AbortSignal;
}

export class PollTimeoutError extends MlmdError {
  constructor(description: string, timeoutMs: number) {
    super(`gave up waiting for ${description} after ${timeoutMs / 1000} s`);
  }
}

/**
 * Calls `check` until it returns something other than undefined or false and
 * returns that; throws PollTimeoutError once the deadline passes. An error
 * thrown by `check` ends the wait (e.g. the process being waited for died);
 * an aborted `signal` ends it with the signal's reason.
 */
export async function poll<T>(check: () => T | undefined | false | Promise<T | undefined | false>, opts: PollOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 100;
  for (;;) {
    opts.signal?.throwIfAborted();
    const value = await check();
    if (value !== undefined && value !== false) return value;
    const left = deadline - Date.now();
    if (left <= 0) throw new PollTimeoutError(opts.description, opts.timeoutMs);
    try {
      await sleep(Math.min(interval, left), undefined, { signal: opts.signal });
    } catch (err) {
      // timers/promises rejects with a generic AbortError; the caller's reason says why.
      opts.signal?.throwIfAborted();
      throw err;
    }
  }
}
