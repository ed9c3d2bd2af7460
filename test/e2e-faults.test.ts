/**
 * Faults on the real build and the nightly run: Ctrl-C during a build (no
 * half wheel; the next run recovers), bazel options passed through, no
 * container runtime, and nightly against the pin.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { projectRoot, realUpstream } from './helpers/real-upstream.ts';
import { skipBecause } from './helpers/skips.ts';
import type { NightlyResult } from '../src/results.ts';

const cli = path.join(projectRoot, 'bin', 'mlmd-remote.js');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-faults-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: projectRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
}

describe('faults', async () => {
  const upstream = await realUpstream();
  const skip = upstream.skipReason ?? false;
  let builtWheel: string | undefined;

  it('Ctrl-C during a build leaves no wheel and no lock, and the next build succeeds', { skip, timeout: 20 * 60_000 }, async () => {
    const dist = path.join(scratch, 'dist-interrupted');
    const work = path.join(scratch, 'work-interrupted');
    const child = spawn(process.execPath, [cli, 'build', '--dist', dist, '--work-dir', work], { cwd: projectRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    // Interrupt once bazel is running; a build that ends or stalls before that fails the test.
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "bazel run" step within 10 minutes:\n${seen.slice(-2000)}`)), 10 * 60_000);
      child.stderr.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('bazel run')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (c) => {
        clearTimeout(timer);
        reject(new Error(`the build exited (${c}) before "bazel run":\n${seen.slice(-2000)}`));
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 130 : null))));
    assert.notEqual(code, 0);
    assert.deepEqual(fs.existsSync(dist) ? fs.readdirSync(dist).filter((n) => n.endsWith('.whl') || n.includes('.partial-')) : [], []);
    const again = run(['build', '--json', '--dist', dist, '--work-dir', work]);
    assert.equal(again.status, 0, again.stderr.slice(-2000));
    assert.deepEqual(fs.readdirSync(dist).filter((n) => n.endsWith('.whl')), ['ml_metadata_remote-1.14.0-py3-none-any.whl']);
    builtWheel = path.join(dist, 'ml_metadata_remote-1.14.0-py3-none-any.whl');
  });

  it('passes bazel options through (a bad one fails the build, exit 5, naming it)', { skip }, () => {
    const res = run(['build', '--dist', path.join(scratch, 'dist-bad-opt'), '--work-dir', path.join(scratch, 'work-bad-opt'), '--bazel-opt=--no_such_bazel_option_here']);
    assert.equal(res.status, 5, res.stderr.slice(-2000));
    assert.match(res.stderr, /no_such_bazel_option_here/);
    assert.match(res.stderr, /the full log is .*bazel\.log/);
  });

  it('says in one sentence that no container runtime works, naming the alternatives (exit 8)', { skip }, (t) => {
    // A private mount namespace where /var/run has no Docker socket.
    if (spawnSync('unshare', ['-m', 'true']).status !== 0) return t.skip(skipBecause('the no-container-runtime test', 'unshare -m is not permitted here'));
    if (!builtWheel) return t.skip(skipBecause('the no-container-runtime test', 'the build test made no wheel'));
    const r = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs tmpfs /var/run && exec "$0" "$1" verify "$2" --server container --image local/none:1 --quiet', process.execPath, cli, builtWheel], { cwd: projectRoot, encoding: 'utf8' });
    assert.equal(r.status, 8, r.stderr);
    assert.match(r.stderr, /No container runtime answers/);
    assert.match(r.stderr, /--server reference/);
  });

  it('nightly --tag fails (exit 2) for a tag upstream does not have, naming the ones it has', { skip }, () => {
    for (const [asked, message] of [['1.15.0', /upstream has no tag 1\.15\.0 \(did you mean v1\.15\.0\?\)/], ['v1.15', /upstream has no tag v1\.15 \(did you mean v1\.15\.0\?\)/], ['v1.99.0', /upstream has no tag v1\.99\.0; its newest tags: .*v1\.16\.0/], ['v1.13.0', /v1\.13\.0 is not newer than the pin v1\.14\.0; newer tags: v1\.15\.0, v1\.16\.0/]] as const) {
      const res = run(['nightly', '--tag', asked, '--out', path.join(scratch, 'nightly-typo')]);
      assert.equal(res.status, 2, `${asked}: ${res.stderr}`);
      assert.match(res.stderr, message);
      assert.doesNotMatch(res.stdout, /Up to date/i);
    }
  });

  it('nightly against the pin reports v1.15.0 and v1.16.0, each needing attention, with summaries', { skip }, () => {
    const list = run(['nightly', '--list', '--json']);
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as NightlyResult).tags.map((t) => t.tag), ['v1.15.0', 'v1.16.0']);
    const out = path.join(scratch, 'nightly');
    const res = run(['nightly', '--out', out, '--json']);
    assert.equal(res.status, 11, res.stderr.slice(-2000));
    const r = JSON.parse(res.stdout) as NightlyResult;
    assert.equal(r.status, 'new-tag-needs-attention');
    assert.deepEqual(r.tags.map((t) => [t.tag, t.outcome, t.steps.map((s) => `${s.step}:${s.status}`).join(' ')]), [
      ['v1.15.0', 'needs-attention', 'rebase:stopped build:skipped verify:skipped'],
      ['v1.16.0', 'needs-attention', 'rebase:stopped build:skipped verify:skipped'],
    ]);
    assert.equal(r.tags[0]!.rebase!.patches[0]!.status, 'conflicted');
    assert.match(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /\| v1\.15\.0 \| ⚠️ needs attention \|/);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).status, 'new-tag-needs-attention');
  });
});
