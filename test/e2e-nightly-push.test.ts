/**
 * nightly --push on real upstream, in a scratch clone of this repository,
 * pushing to a local bare repository: from the v1.14.0 pin, v1.15.0 stops on
 * its conflicts, so issue.md is written and nothing is pushed; in the clone
 * rebased onto v1.15.0 (each conflict resolved by taking the patch's side, as
 * e2e-rebase does), v1.16.0 is pushed as mlmd-remote/upstream-v1.16.0, whose
 * build and verify pass in a fresh clone of that branch, and a second run
 * leaves the branch as it is.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { projectRoot, realUpstream, scratchProject } from './helpers/real-upstream.ts';
import type { BuildResult, NightlyResult, RebaseResult, VerifyResult } from '../src/results.ts';

const { scratch, clone, setUp, run, json, git, finishRebase } = scratchProject('mlmd-remote-nightly-push-');
const bare = path.join(scratch, 'remote.git');
const BRANCH = 'mlmd-remote/upstream-v1.16.0';
/** Keep pr.md and issue.md of the run here (MLMD_REMOTE_KEEP_REPORTS=<dir>), to read them afterwards. */
const keep = process.env['MLMD_REMOTE_KEEP_REPORTS'];

function keepReport(file: string, as: string): void {
  if (keep) fs.copyFileSync(file, path.join(keep, as));
}

describe('nightly --push on real upstream', { timeout: 50 * 60_000 }, async () => {
  const upstream = await realUpstream();
  const skip = upstream.skipReason ?? false;

  before(() => {
    if (skip) return;
    git(['init', '--quiet', '--bare', bare], scratch);
    setUp(upstream.url);
  });
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('from the v1.14.0 pin, --tag v1.15.0 stops on the conflicts, writes issue.md and pushes nothing (exit 11)', { skip, timeout: 10 * 60_000 }, () => {
    const out = path.join(scratch, 'out-v1.15.0');
    const r = json<NightlyResult>(['nightly', '--tag', 'v1.15.0', '--push', bare, '--out', out], 11);
    const t = r.tags[0]!;
    assert.deepEqual(t.steps.map((s) => `${s.step}:${s.status}`), ['rebase:stopped', 'build:skipped', 'verify:skipped', 'push:skipped']);
    assert.equal(t.push, null);
    assert.equal(git(['for-each-ref'], bare), '');
    assert.deepEqual(t.report, { kind: 'issue', path: path.join(out, 'v1.15.0', 'issue.md') });
    assert.equal(fs.existsSync(path.join(out, 'v1.15.0', 'pr.md')), false);
    const issue = fs.readFileSync(t.report!.path, 'utf8');
    keepReport(t.report!.path, 'issue-v1.15.0.md');
    assert.match(issue, /^<!-- mlmd-remote nightly v1\.15\.0 -->\n## Upstream v1\.15\.0 needs attention\n/);
    assert.match(issue, /the rebase stopped on a conflict\. Nothing was pushed\./);
    assert.match(issue, /`WORKSPACE\.patch` \(_[^_]+_\) does not apply to v1\.15\.0:\n\n- `WORKSPACE`, lines \d+-\d+/);
    assert.match(issue, /npx mlmd-remote rebase v1\.15\.0\n# it stops at WORKSPACE\.patch: resolve upstream\/WORKSPACE with git, then\ngit -C upstream add -- WORKSPACE\n/);
    // The clone is as it was (but for the node_modules link the test made).
    assert.equal(git(['status', '--porcelain', '--', '.', ':(exclude)node_modules']), '');
  });

  it('in the clone rebased onto v1.15.0, --tag v1.16.0 pushes the branch, writes pr.md (exit 10), and its build and verify pass in a fresh clone', { skip, timeout: 40 * 60_000 }, () => {
    const { result: r } = finishRebase(json<RebaseResult>(['rebase', 'v1.15.0'], 4));
    assert.equal(r.status, 'done');
    git(['add', 'mlmd-remote.json', 'WORKSPACE.patch', 'patches']);
    git(['commit', '--quiet', '-m', 'Move to upstream v1.15.0']);
    const base = git(['rev-parse', 'HEAD']).trim();

    const out = path.join(scratch, 'out-v1.16.0');
    const n = json<NightlyResult>(['nightly', '--tag', 'v1.16.0', '--push', bare, '--out', out], 10);
    const t = n.tags[0]!;
    assert.deepEqual(t.steps.map((s) => `${s.step}:${s.status}`), ['rebase:ok', 'build:ok', 'verify:ok', 'push:ok']);
    assert.equal(t.push!.action, 'created');
    assert.equal(t.push!.base.commit, base);
    assert.equal(git(['for-each-ref', '--format=%(refname) %(objectname)'], bare).trim(), `refs/heads/${BRANCH} ${t.push!.commit}`);
    assert.equal(git(['rev-parse', `${t.push!.commit}^`], bare).trim(), base);
    assert.match(git(['ls-tree', t.push!.commit, 'upstream'], bare), /^160000 commit d694290634c55742d772f01e12f63ab5b7d2c392\tupstream\n$/);
    const pr = fs.readFileSync(t.report!.path, 'utf8');
    keepReport(t.report!.path, 'pr-v1.16.0.md');
    assert.match(pr, /^<!-- mlmd-remote nightly v1\.16\.0 -->\n## Move to upstream v1\.16\.0\n/);
    assert.match(pr, /### What a reviewer must look at\n\n- Dropped patches: none\n- Three-way merges: none\n/);
    assert.match(pr, /### Rebase v1\.15\.0 → v1\.16\.0: done/);
    assert.match(pr, /\*\*Upstream pin:\*\* v1\.15\.0 `abcb0705e71c` → v1\.16\.0 `d694290634c5`/);
    assert.match(pr, /### ✅ verify `ml_metadata_remote-1\.16\.0-py3-none-any\.whl`/);
    assert.match(pr, /### The wheel against the official ml-metadata of v1\.16\.0\n\n(### `ml_metadata-1\.16\.0-.*\.whl` → `ml_metadata_remote-1\.16\.0-py3-none-any\.whl`|No official wheel to compare with: )/);
    // The clone is as it was (its upstream/ holds the applied series, as a rebase leaves it).
    assert.equal(git(['status', '--porcelain', '--ignore-submodules=dirty', '--', '.', ':(exclude)node_modules']), '');

    // A fresh clone of the pushed branch builds and verifies.
    const fresh = path.join(scratch, 'fresh');
    git(['clone', '--quiet', '--branch', BRANCH, bare, fresh], scratch);
    fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(fresh, 'node_modules'));
    const synced = run(['sync', '--upstream-url', upstream.url], fresh);
    assert.equal(synced.status, 0, synced.stderr.slice(-3000));
    const built = json<BuildResult>(['build', '--work-dir', path.join(scratch, 'work-fresh')], 0, fresh);
    assert.equal(built.wheel.name, 'ml_metadata_remote-1.16.0-py3-none-any.whl');
    assert.equal(built.upstream.commit, 'd694290634c55742d772f01e12f63ab5b7d2c392');
    assert.equal(built.wheel.sha256, t.wheel!.sha256, 'the same wheel as the nightly built (reproducible)');
    const verified = json<VerifyResult>(['verify', built.wheel.path, '--server', 'reference'], 0, fresh);
    assert.equal(verified.ok, true);
    assert.equal(verified.live!.suite.failed, 0);
  });

  it('a second run for v1.16.0 leaves the branch as it is', { skip, timeout: 30 * 60_000 }, () => {
    const before = git(['for-each-ref', '--format=%(refname) %(objectname)'], bare);
    const n = json<NightlyResult>(['nightly', '--tag', 'v1.16.0', '--push', bare, '--out', path.join(scratch, 'out-again')], 10);
    assert.equal(n.tags[0]!.push!.action, 'unchanged');
    assert.equal(git(['for-each-ref', '--format=%(refname) %(objectname)'], bare), before);
  });
});
