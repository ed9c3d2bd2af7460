/**
 * The maintainer's workflow on real upstream, in a scratch clone of this
 * repository: rebase v1.14.0 -> v1.15.0 stops on real conflicts, --abort
 * restores everything, and resolving each conflict (taking the patch's side,
 * as a maintainer would here) and --continue finishes; then v1.15.0 ->
 * v1.16.0, and the resulting series builds a wheel that passes verify.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { realUpstream, scratchProject } from './helpers/real-upstream.ts';
import type { BuildResult, CheckResult, RebaseResult, VerifyResult } from '../src/results.ts';

const { scratch, clone, setUp, run, json, git, finishRebase } = scratchProject('mlmd-remote-rebase-');

function snapshot(): Record<string, string> {
  const files = ['mlmd-remote.json', 'WORKSPACE.patch', ...fs.readdirSync(path.join(clone, 'patches')).map((n) => `patches/${n}`)];
  return {
    ...Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(clone, f), 'utf8')])),
    gitlink: git(['ls-files', '--stage', 'upstream']),
    upstreamHead: git(['rev-parse', 'HEAD'], path.join(clone, 'upstream')),
    upstreamStatus: git(['status', '--porcelain'], path.join(clone, 'upstream')),
    branches: git(['branch', '--list'], path.join(clone, 'upstream')),
  };
}

describe('rebasing the real series', async () => {
  const upstream = await realUpstream();
  const skip = upstream.skipReason ?? false;

  before(() => {
    if (skip) return;
    setUp(upstream.url);
  });
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('checks clean at the pin', { skip }, () => {
    const check = json<CheckResult>(['check']);
    assert.equal(check.ok, true);
    assert.deepEqual(check.problems, []);
  });

  it('stops at v1.15.0 on the conflicts upstream made, and --abort restores everything', { skip }, () => {
    const before = snapshot();
    const stopped = json<RebaseResult>(['rebase', 'v1.15.0'], 4);
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.to.commit, 'abcb0705e71ccb71d064ad3d7ba6bdea5645cf91');
    assert.equal(stopped.patches[0]!.name, 'WORKSPACE.patch');
    assert.equal(stopped.patches[0]!.status, 'conflicted');
    assert.deepEqual(stopped.patches[0]!.conflict!.files.map((f) => f.path), ['WORKSPACE']);
    assert.ok(stopped.patches[0]!.conflict!.files[0]!.hunks.length > 0);
    assert.deepEqual(stopped.patches.slice(1).map((p) => p.status), ['pending', 'pending', 'pending', 'pending', 'pending', 'pending']);
    // export refuses in the middle of a rebase
    assert.equal(run(['export']).status, 3);
    const aborted = json<RebaseResult>(['rebase', '--abort']);
    assert.equal(aborted.status, 'aborted');
    assert.deepEqual(snapshot(), before);
  });

  it('goes to v1.15.0 by resolving each conflict and continuing, then to v1.16.0', { skip }, () => {
    const { result: r, conflicts: seen } = finishRebase(json<RebaseResult>(['rebase', 'v1.15.0'], 4));
    assert.equal(r.status, 'done');
    assert.deepEqual(seen, {
      'WORKSPACE.patch': ['WORKSPACE'],
      'build-generate-only-the-python-modules.patch': ['ml_metadata/BUILD', 'ml_metadata/move_generated_files.sh'],
      'setup-pure-wheel-named-by-build-profile.patch': ['setup.py'],
      // v1.15.0 changed the classifiers.
      'setup-py-describe-the-remote-only-package.patch': ['setup.py'],
    });
    assert.equal(r.patches.find((p) => p.name === 'metadata-store-grpc-only.patch')!.status, 'offset');
    assert.equal(JSON.parse(fs.readFileSync(path.join(clone, 'mlmd-remote.json'), 'utf8')).upstream.tag, 'v1.15.0');
    assert.match(git(['ls-files', '--stage', 'upstream']), /^160000 abcb0705e71ccb71d064ad3d7ba6bdea5645cf91 /);
    assert.equal(json<CheckResult>(['check']).ok, true);
    git(['commit', '--quiet', '-am', 'Move to v1.15.0']);

    const to16 = json<RebaseResult>(['rebase', 'v1.16.0']);
    assert.equal(to16.status, 'done');
    assert.deepEqual(to16.patches.map((p) => p.status), ['clean', 'clean', 'offset', 'clean', 'clean', 'clean', 'clean']);
    assert.ok(to16.export!.patches.every((p) => p.action === 'kept'), 'a clean rebase rewrites no patch file');
    git(['commit', '--quiet', '-am', 'Move to v1.16.0']);
  });

  it('builds a v1.16.0 wheel from the rebased series that passes verify', { skip }, () => {
    const built = json<BuildResult>(['build', '--work-dir', path.join(scratch, 'work')]);
    assert.equal(built.wheel.name, 'ml_metadata_remote-1.16.0-py3-none-any.whl');
    assert.equal(built.upstream.commit, 'd694290634c55742d772f01e12f63ab5b7d2c392');
    const verified = json<VerifyResult>(['verify', built.wheel.path, '--server', 'reference']);
    assert.equal(verified.ok, true);
    assert.equal(verified.live!.suite.failed, 0);
    // The new release's own tests, read from its commit: 1.16.0 ships no types_test.py.
    const own = verified.live!.upstreamTests!;
    assert.equal(own.commit, 'd694290634c55742d772f01e12f63ab5b7d2c392');
    assert.deepEqual(own.files.map((f) => [f.path, f.failed, f.skipped]), [
      ['ml_metadata/metadata_store/metadata_store_test.py', 0, 0],
      ['ml_metadata/metadata_store/mlmd_types_test.py', 0, 0],
    ]);
    assert.ok(own.files[0]!.passed >= 100 && own.files[0]!.embeddedOnly === 4, JSON.stringify(own.files[0]));
    // ml-metadata 1.16.0 has official wheels for this CPython: installed next to ours, in both orders.
    const co = verified.coInstall!;
    assert.equal(co.check.status, 'pass', co.check.detail);
    assert.equal(co.where, 'this host');
    const oursLast = co.orders!.find((o) => o.installed[1] === built.wheel.name)!;
    assert.match(oursLast.both.warnings![0]!, /installed by two distributions .*ml-metadata-remote 1\.16\.0 .*ml-metadata 1\.16\.0/);
    assert.equal(oursLast.afterUninstallingOfficial.import, 'leftovers only');
  });
});
