/**
 * One mutating run at a time per cache directory: the checkout's .cache, or
 * MLMD_REMOTE_CACHE_DIR, which checkouts that set it share (with its scratch
 * trees). The lock is a directory holding the owner's pid and checkout; a
 * lock whose owner is gone is taken over (the run before was killed) and
 * reported.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RefusedError } from './errors.js';
import { readJsonFileIfValid } from './json-file.js';
import { z } from 'zod';

/**
 * lock/owner.json. Not versioned: a run of an older mlmd-remote must still
 * be seen as the owner. A positive pid only: probing pid 0 or -1 would ask
 * about our own process group or every process, and find one alive.
 */
const LockInfoSchema = z.object({ pid: z.number().int().positive(), command: z.string(), since: z.string(), root: z.string().optional() });
export type LockInfo = z.infer<typeof LockInfoSchema>;

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withLock<T>(cacheDir: string, command: string, fn: (staleOwner: LockInfo | null) => Promise<T>, root?: string): Promise<T> {
  const dir = path.join(cacheDir, 'lock');
  const owner = path.join(dir, 'owner.json');
  fs.mkdirSync(cacheDir, { recursive: true });
  let stale: LockInfo | null = null;
  for (let attempt = 0; ; attempt++) {
    try {
      fs.mkdirSync(dir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) {
        throw new RefusedError(`cannot take the lock ${dir}: ${(err as Error).message}`, 'another mlmd-remote run may be starting; try again');
      }
      const info: LockInfo | null = readJsonFileIfValid(owner, LockInfoSchema) ?? null;
      if (!info) {
        // The owner had not written its file yet (or not all of it), or it died before;
        // treat as stale only when the directory is old enough that no live run can be starting.
        let age = Infinity;
        try {
          age = Date.now() - fs.statSync(dir).mtimeMs;
        } catch {
          continue; // released meanwhile: try again
        }
        if (age < 10_000) throw new RefusedError('another mlmd-remote run is starting in this checkout', 'wait for it to finish, then try again');
      }
      if (info && alive(info.pid)) {
        const where = !info.root || info.root === root ? 'in this checkout' : `in ${info.root}, which shares the cache ${cacheDir} (MLMD_REMOTE_CACHE_DIR) with this checkout`;
        throw new RefusedError(`another mlmd-remote run (${info.command}, pid ${info.pid}, since ${info.since}) is working ${where}`, `wait for it to finish; if it hangs, stop it (kill ${info.pid})`);
      }
      // Move the stale lock aside atomically: of two runs doing this, one wins the rename.
      const aside = `${dir}.stale-${process.pid}-${attempt}`;
      try {
        fs.renameSync(dir, aside);
        fs.rmSync(aside, { recursive: true, force: true });
        stale = info;
      } catch {
        // Someone else took it over first; the next mkdir decides.
      }
    }
  }
  fs.writeFileSync(owner, JSON.stringify({ pid: process.pid, command, since: new Date().toISOString(), ...(root ? { root } : {}) }));
  // Also released when the process exits early (Ctrl-C handled in cli.ts).
  const release = () => fs.rmSync(dir, { recursive: true, force: true });
  process.once('exit', release);
  try {
    return await fn(stale);
  } finally {
    process.removeListener('exit', release);
    release();
  }
}
