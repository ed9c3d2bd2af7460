/** poll: the one wait-until loop (ready files, ports, processes). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { poll, PollTimeoutError } from '../src/poll.ts';

describe('poll', () => {
  it('returns the first value that is not undefined or false', async () => {
    let calls = 0;
    const value = await poll(() => (++calls < 3 ? undefined : { port: 8080 }), { timeoutMs: 2000, intervalMs: 5, description: 'a value' });
    assert.deepEqual(value, { port: 8080 });
    assert.equal(calls, 3);
  });

  it('checks once more at the deadline, then names what it waited for', async () => {
    let calls = 0;
    await assert.rejects(
      poll(() => (calls++, false), { timeoutMs: 50, intervalMs: 20, description: '127.0.0.1:1 to accept connections' }),
      (err: unknown) => err instanceof PollTimeoutError && /waiting for 127\.0\.0\.1:1 to accept connections after 0\.05 s/.test(err.message),
    );
    assert.ok(calls >= 2, `called ${calls} times`);
  });

  it('ends at once when the check throws', async () => {
    await assert.rejects(poll(() => { throw new Error('the server exited'); }, { timeoutMs: 5000, description: 'x' }), /the server exited/);
  });

  it('stops when its signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('interrupted')), 30);
    const started = Date.now();
    await assert.rejects(poll(() => false, { timeoutMs: 5000, intervalMs: 1000, description: 'x', signal: controller.signal }), /interrupted/);
    assert.ok(Date.now() - started < 1000);
  });
});
