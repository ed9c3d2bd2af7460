/**
 * lock.ts: one mutating run per checkout; a lock whose owner died is taken over.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { RefusedError } from '../src/errors.ts';
import { withLock, type LockInfo } from '../src/lock.ts';
import { cleanupFixtures, rejection, tempDir } from './helpers/fixtures.ts';

after(cleanupFixtures);

function writeOwner(cacheDir: string, info: LockInfo): string {
  const dir = path.join(cacheDir, 'lock');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'owner.json'), JSON.stringify(info));
  return dir;
}

/** A process that has exited (and been reaped), so its pid names no live process. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid!;
  await new Promise((resolve) => child.once('exit', resolve));
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  return pid;
}

describe('withLock', () => {
  it('runs the callback with no stale owner, writes owner.json meanwhile, and releases the lock', async () => {
    const cache = path.join(tempDir('cache'), 'nested', '.cache');
    const got = await withLock(cache, 'sync', async (stale) => {
      assert.equal(stale, null);
      const owner = JSON.parse(fs.readFileSync(path.join(cache, 'lock', 'owner.json'), 'utf8')) as LockInfo;
      assert.equal(owner.pid, process.pid);
      assert.equal(owner.command, 'sync');
      assert.ok(!Number.isNaN(Date.parse(owner.since)));
      return 42;
    });
    assert.equal(got, 42);
    assert.equal(fs.existsSync(path.join(cache, 'lock')), false);
  });

  it('releases the lock when the callback throws', async () => {
    const cache = tempDir('cache');
    const err = await rejection(() => withLock(cache, 'apply', async () => { throw new Error('boom'); }));
    assert.equal(err.message, 'boom');
    assert.equal(fs.existsSync(path.join(cache, 'lock')), false);
  });

  it('refuses (RefusedError, exit 3) while a live process owns the lock', async () => {
    const cache = tempDir('cache');
    let child: ChildProcess | undefined;
    try {
      child = spawn('sleep', ['30'], { stdio: 'ignore' });
      await new Promise((resolve, reject) => { child!.once('spawn', resolve); child!.once('error', reject); });
      const info: LockInfo = { pid: child.pid!, command: 'build', since: '2026-01-01T00:00:00.000Z' };
      const dir = writeOwner(cache, info);
      let ran = false;
      const err = await rejection(() => withLock(cache, 'sync', async () => { ran = true; }));
      assert.ok(err instanceof RefusedError, String(err));
      assert.equal(err.exitCode, 3);
      assert.equal(err.message, `another mlmd-remote run (build, pid ${child.pid}, since 2026-01-01T00:00:00.000Z) is working in this checkout`);
      assert.equal(err.hint, `wait for it to finish; if it hangs, stop it (kill ${child.pid})`);
      assert.equal(ran, false);
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'owner.json'), 'utf8')), info, 'the live owner keeps its lock');
      // A run of another checkout that shares the cache (MLMD_REMOTE_CACHE_DIR) is named as such.
      writeOwner(cache, { ...info, root: '/elsewhere/checkout' });
      const shared = await rejection(() => withLock(cache, 'sync', async () => { ran = true; }, '/this/checkout'));
      assert.equal(shared.message, `another mlmd-remote run (build, pid ${child.pid}, since 2026-01-01T00:00:00.000Z) is working in /elsewhere/checkout, which shares the cache ${cache} (MLMD_REMOTE_CACHE_DIR) with this checkout`);
      assert.equal(ran, false);
    } finally {
      child?.kill();
    }
  });

  it('refuses while another run of this very process holds it', async () => {
    const cache = tempDir('cache');
    await withLock(cache, 'build', async () => {
      const err = await rejection(() => withLock(cache, 'sync', async () => undefined));
      assert.ok(err instanceof RefusedError);
      assert.match(err.message, new RegExp(`\\(build, pid ${process.pid}, since `));
    });
  });

  it('takes over a lock whose owner is dead and passes the stale owner to the callback', async () => {
    const cache = tempDir('cache');
    const pid = await deadPid();
    const info: LockInfo = { pid, command: 'build', since: '2026-01-01T00:00:00.000Z' };
    writeOwner(cache, info);
    let seen: LockInfo | null = null;
    await withLock(cache, 'apply', async (stale) => {
      seen = stale;
      const owner = JSON.parse(fs.readFileSync(path.join(cache, 'lock', 'owner.json'), 'utf8')) as LockInfo;
      assert.equal(owner.pid, process.pid);
      assert.equal(owner.command, 'apply');
    });
    assert.deepEqual(seen, info);
    assert.equal(fs.existsSync(path.join(cache, 'lock')), false);
  });

  it('refuses a lock directory without owner.json that was just created (a run is starting)', async () => {
    const cache = tempDir('cache');
    fs.mkdirSync(path.join(cache, 'lock'));
    const err = await rejection(() => withLock(cache, 'sync', async () => undefined));
    assert.ok(err instanceof RefusedError);
    assert.equal(err.message, 'another mlmd-remote run is starting in this checkout');
  });

  it('takes over an old lock directory without owner.json, with no stale owner to report', async () => {
    const cache = tempDir('cache');
    const dir = path.join(cache, 'lock');
    fs.mkdirSync(dir);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(dir, old, old);
    let called = false;
    await withLock(cache, 'sync', async (stale) => {
      called = true;
      assert.equal(stale, null);
    });
    assert.equal(called, true);
  });

  it('treats an owner.json that does not fit (a string pid, pid -1, a missing field) as no owner: refused while new, taken over when old', async () => {
    for (const owner of ['{"pid":"123","command":"sync","since":"x"}', '{"pid":-1,"command":"sync","since":"x"}', '{"pid":1}', '{"pid":']) {
      const cache = tempDir('cache');
      const dir = path.join(cache, 'lock');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'owner.json'), owner);
      const err = await rejection(() => withLock(cache, 'sync', async () => undefined));
      assert.ok(err instanceof RefusedError, owner);
      assert.equal(err.message, 'another mlmd-remote run is starting in this checkout', owner);
      const old = new Date(Date.now() - 60_000);
      fs.utimesSync(dir, old, old);
      let seen: LockInfo | null | undefined;
      await withLock(cache, 'sync', async (stale) => {
        seen = stale;
      });
      assert.equal(seen, null, owner);
    }
  });
});
