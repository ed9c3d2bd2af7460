/**
 * Ctrl-C on real upstream, in scratch copies of a clone of this repository.
 *
 * First the two interruptions issue 13 found by hand: SIGINT to
 * `rebase v1.15.0` in the git am of WORKSPACE.patch (the first --continue
 * reported a conflict in files that no longer existed, the second dropped the
 * patch, and the finish deleted WORKSPACE.patch), and SIGINT in the middle of
 * the checkout of v1.15.0 followed by --abort (files of v1.15.0 stayed, and
 * the next rebase took them for the maintainer's work).
 *
 * Then the interrupt loop (test/helpers/interrupt.ts) over the commands that
 * need real upstream: rebase v1.15.0 (which stops on WORKSPACE.patch), its
 * --continue (which stops on the BUILD patch) and --abort, build, verify
 * with static checks only, and release --dry-run to a local package index.
 * Each command is capped at 8 interrupt points, build at 12 (of its 15 to 20
 * lines; the rest are the same steps' progress); the rebases are also swept
 * inside 6 of their git commands each, as test/interrupt.test.ts does. A live verify takes about a minute
 * per run, so it is interrupted once, in its behaviour suite, rather than
 * after each of its 22 lines. With warm caches the file takes about eight
 * minutes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from './helpers/hints.ts';
import { addUserWork, describeLoop, interruptLoop, runInterrupted, snapshotOf, type LoopReport, type Scenario } from './helpers/interrupt.ts';
import { projectRoot, realUpstream, takePatchSide } from './helpers/real-upstream.ts';
import { INDEX_CREDENTIALS, startPackageIndex } from './helpers/package-index.ts';
import type { RebaseResult } from '../src/results.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-interrupt-'));
const template = path.join(scratch, 'template');
const cache = path.join(projectRoot, '.cache');
const env = { MLMD_REMOTE_CACHE_DIR: cache };
const V15 = 'abcb0705e71ccb71d064ad3d7ba6bdea5645cf91';

function git(args: string[], cwd: string): string {
  const res = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@invalid', ...args], { cwd, encoding: 'utf8' });
  assert.equal(res.status, 0, `git ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

let copies = 0;
/** A copy of the synced clone (cp -a keeps upstream/'s git dir with it). */
async function copy(prepare?: (root: string) => Promise<void> | void): Promise<string> {
  const root = path.join(scratch, `copy-${++copies}`);
  assert.equal(spawnSync('cp', ['-a', template, root]).status, 0);
  await prepare?.(root);
  await addUserWork(root);
  return root;
}

async function json<T>(root: string, args: string[], code: number): Promise<T> {
  const res = await runCli([...args, '--json'], { cwd: root, env });
  assert.equal(res.code, code, `mlmd-remote ${args.join(' ')}:\n${res.stderr.slice(-3000)}`);
  return JSON.parse(res.stdout) as T;
}

/** Resolves the stopped patch's conflicts by the patch's side and continues, until the rebase is done. */
async function finishRebase(root: string, r: RebaseResult): Promise<RebaseResult> {
  for (let round = 0; r.status === 'stopped' && round < 10; round++) {
    const conflicted = r.patches.find((p) => p.status === 'conflicted')!;
    for (const f of conflicted.conflict!.files) takePatchSide(path.join(root, 'upstream', f.path));
    git(['add', '--', ...conflicted.conflict!.files.map((f) => f.path)], path.join(root, 'upstream'));
    const res = await runCli(['rebase', '--continue', '--json'], { cwd: root, env });
    assert.ok(res.code === 0 || res.code === 4, res.stderr);
    r = JSON.parse(res.stdout) as RebaseResult;
  }
  return r;
}

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('interrupted on real upstream', async () => {
  const upstream = await realUpstream();
  const skip = upstream.skipReason ?? false;
  const reports: LoopReport[] = [];

  before(() => {
    if (skip) return;
    git(['clone', '--quiet', projectRoot, template], scratch);
    fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(template, 'node_modules'));
    const res = spawnSync(process.execPath, [path.join(template, 'bin', 'mlmd-remote.js'), 'sync', '--upstream-url', upstream.url], { cwd: template, encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(res.status, 0, res.stderr);
  });
  after(() => {
    if (reports.length) process.stdout.write(`${describeLoop(reports)}\n`);
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('SIGINT inside the git am of WORKSPACE.patch: --continue stops at its conflict in WORKSPACE, never drops it, and the rebase finishes with WORKSPACE.patch kept', { skip, timeout: 10 * 60_000 }, async () => {
    // Right after the step line, and a little later, to land inside git am --3way (about 0.9 s into the run).
    for (const delayMs of [0, 40, 80]) {
      const root = await copy();
      const workspaceBefore = fs.readFileSync(path.join(root, 'WORKSPACE.patch'));
      const run = await runInterrupted(['rebase', 'v1.15.0'], { cwd: root, env, after: 5, delayMs });
      assert.ok(run.code === 130 || run.code === 4, run.stderr);
      // The signal may land after the run recorded the conflict (it printed it): then the rebase is
      // stopped already, and the checks below (--continue refuses while unresolved) apply as they are.
      if (!/✗ WORKSPACE\.patch: conflict in WORKSPACE/.test(run.stderr)) {
        const again = await json<RebaseResult>(root, ['rebase', '--continue'], 4);
        assert.equal(again.patches[0]!.name, 'WORKSPACE.patch');
        assert.equal(again.patches[0]!.status, 'conflicted');
        assert.deepEqual(again.patches[0]!.conflict!.files.map((f) => f.path), ['WORKSPACE']);
        assert.ok(again.patches[0]!.conflict!.files[0]!.hunks.length > 0, 'real conflict markers, in a file that exists');
      }
      // A second --continue with nothing resolved refuses; it does not drop the patch.
      const second = await runCli(['rebase', '--continue'], { cwd: root, env });
      assert.equal(second.code, 4, second.stderr);
      assert.match(second.stderr, /^error: WORKSPACE\.patch still has conflicts in WORKSPACE/m);
      // Taking upstream's side entirely does not drop it either: v1.15.0 does not have its change.
      git(['checkout', 'HEAD', '--', 'WORKSPACE'], path.join(root, 'upstream'));
      const third = await json<RebaseResult>(root, ['rebase', '--continue'], 4);
      assert.equal(third.patches[0]!.status, 'conflicted');
      assert.match(third.next!, /^WORKSPACE\.patch was not kept: the resolution holds none of its change, and v1\.15\.0 does not have it/);
      const done = await finishRebase(root, third);
      assert.equal(done.status, 'done');
      assert.equal(done.patches[0]!.status, 'resolved');
      assert.deepEqual(done.export!.removed, []);
      assert.ok(fs.existsSync(path.join(root, 'WORKSPACE.patch')), 'WORKSPACE.patch is still there');
      assert.ok(!fs.readFileSync(path.join(root, 'WORKSPACE.patch')).equals(workspaceBefore), 'and holds the resolution');
      const check = await runCli(['check'], { cwd: root, env });
      assert.equal(check.code, 0, check.stdout + check.stderr);
    }
  });

  it('SIGINT in the checkout of v1.15.0, then --abort: upstream/ is exactly as it was (no file of v1.15.0 left), and the next rebase starts', { skip, timeout: 10 * 60_000 }, async () => {
    const root = await copy();
    const before = await snapshotOf(root);
    // A checkout killed after writing some of v1.15.0's files and before its index: they are unknown to the index.
    const state = await runInterrupted(['rebase', 'v1.15.0'], { cwd: root, env, after: 3 });
    assert.ok(state.code === 130 || state.code === 4, state.stderr);
    const up = path.join(root, 'upstream');
    for (const f of git(['diff', '--name-only', '--diff-filter=A', upstream.project.config.upstream.commit, V15], up).split('\n').filter(Boolean)) {
      fs.mkdirSync(path.dirname(path.join(up, f)), { recursive: true });
      fs.writeFileSync(path.join(up, f), git(['show', `${V15}:${f}`], up));
    }
    const aborted = await runCli(['rebase', '--abort'], { cwd: root, env });
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.deepEqual(await snapshotOf(root), before);
    const again = await runCli(['rebase', 'v1.15.0'], { cwd: root, env });
    assert.equal(again.code, 4, again.stderr);
  });

  const loops: Scenario[] = [
    { name: 'rebase v1.15.0 (stops at WORKSPACE.patch)', args: ['rebase', 'v1.15.0'], cap: 8, verbose: true, env, setup: () => copy() },
    {
      name: 'rebase --continue (v1.15.0, after WORKSPACE.patch is resolved; stops at the BUILD patch)',
      args: ['rebase', '--continue'],
      cap: 8,
      verbose: true,
      env,
      setup: () =>
        copy(async (root) => {
          await json<RebaseResult>(root, ['rebase', 'v1.15.0'], 4);
          takePatchSide(path.join(root, 'upstream', 'WORKSPACE'));
          git(['add', 'WORKSPACE'], path.join(root, 'upstream'));
        }),
    },
    { name: 'rebase --abort (v1.15.0)', args: ['rebase', '--abort'], cap: 8, verbose: true, env, setup: () => copy(async (root) => void (await json<RebaseResult>(root, ['rebase', 'v1.15.0'], 4))) },
    {
      name: 'build',
      args: ['build'],
      cap: 12,
      env,
      timeoutMs: 20 * 60_000,
      setup: () => copy(),
      // The wheel, its checksum line and its provenance's subject; no partial file in dist/.
      extra: async (root) => {
        const dist = path.join(root, 'dist');
        if (!fs.existsSync(dist)) return null;
        const names = fs.readdirSync(dist).sort();
        const wheel = names.find((n) => n.endsWith('.whl'));
        return {
          names,
          wheel: wheel && sha(path.join(dist, wheel)),
          sums: names.includes('SHA256SUMS') ? fs.readFileSync(path.join(dist, 'SHA256SUMS'), 'utf8') : null,
          provenance: wheel && names.includes(`${wheel}.provenance.json`) ? (JSON.parse(fs.readFileSync(path.join(dist, `${wheel}.provenance.json`), 'utf8')) as { subject: unknown }).subject : null,
        };
      },
    },
  ];
  for (const s of loops) {
    it(`interrupt loop: ${s.name}`, { skip, timeout: 20 * 60_000 }, async (t) => {
      const report = await interruptLoop(s);
      reports.push(report);
      t.diagnostic(describeLoop([report]));
    });
  }

  // A copy with a built wheel in dist/, and then its live verify report.
  let built = '';
  const withDist = (root: string) => void fs.cpSync(path.join(built, 'dist'), path.join(root, 'dist'), { recursive: true });
  const distListing = async (root: string) => fs.readdirSync(path.join(root, 'dist')).sort().map((n) => `${n} ${n.endsWith('.verify.json') ? 'report' : sha(path.join(root, 'dist', n))}`);

  it('interrupt loop: verify --server none (static checks)', { skip, timeout: 20 * 60_000 }, async (t) => {
    built = await copy();
    const res = await runCli(['build'], { cwd: built, env, timeoutMs: 20 * 60_000 });
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    const report = await interruptLoop({ name: 'verify --server none', args: ['verify', '--server', 'none'], cap: 8, env, setup: () => copy(withDist), extra: distListing });
    reports.push(report);
    t.diagnostic(describeLoop([report]));
  });

  it('a live verify interrupted in its behaviour suite leaves no server running and no mount, and the next verify passes and writes its report whole', { skip, timeout: 20 * 60_000 }, async () => {
    assert.ok(built, 'the static loop built a wheel');
    const processes = () => spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(built) && !l.startsWith('ps '));
    const mounts = () => fs.readFileSync('/proc/mounts', 'utf8');
    const mountsBefore = mounts();
    let seen = '';
    // Keyed to the step's line, not a line count, so that steps added before it do not move the signal.
    const run = await runInterrupted(['verify'], { cwd: built, env, when: /▸ Behaviour suite in a fresh venv/, delayMs: 3000, timeoutMs: 20 * 60_000 });
    seen = run.stderr;
    assert.match(seen, /▸ Behaviour suite in a fresh venv/);
    assert.ok(run.code === 130 || run.code === 0, seen);
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(processes(), [], 'no process of the interrupted verify is left');
    assert.equal(mounts(), mountsBefore, 'no mount is left');
    const report = path.join(built, 'dist', 'ml_metadata_remote-1.14.0-py3-none-any.whl.verify.json');
    if (fs.existsSync(report)) JSON.parse(fs.readFileSync(report, 'utf8'));
    const again = await runCli(['verify'], { cwd: built, env, timeoutMs: 20 * 60_000 });
    assert.equal(again.code, 0, again.stderr.slice(-3000));
    assert.equal((JSON.parse(fs.readFileSync(report, 'utf8')) as { ok: boolean }).ok, true);
  });

  it('interrupt loop: release --dry-run to a local package index', { skip, timeout: 20 * 60_000 }, async (t) => {
    const index = await startPackageIndex(path.join(scratch, 'index'));
    try {
      const report = await interruptLoop({
        name: 'release --dry-run',
        args: ['release', '--repository-url', index.url, '--dry-run'],
        cap: 8,
        env: { ...env, ...INDEX_CREDENTIALS },
        setup: () => copy(withDist),
        extra: async (root) => ({ dist: await distListing(root), changelog: sha(path.join(root, 'CHANGELOG.md')) }),
      });
      reports.push(report);
      t.diagnostic(describeLoop([report]));
      assert.deepEqual(fs.readdirSync(index.packages), [], 'a dry run uploads nothing');
    } finally {
      await index.stop();
    }
  });
});
