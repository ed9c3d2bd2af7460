/**
 * review on a branch that changes the series, in a scratch clone of this
 * repository (review reads committed files only; no upstream needed).
 *
 * Why an engine over parsed patches and not `git range-diff`: the branch
 * below shifts the line numbers of one patch (as a rebase does) without
 * changing what it does. range-diff compares the diffs as text, @@ lines
 * included, so it reports that patch as changed; here it is "same effect",
 * and only the patch whose +/- lines changed shows an interdiff.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ReviewResult } from '../src/review.ts';
import { projectRoot } from './helpers/real-upstream.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-review-'));
const clone = path.join(scratch, 'project');

function git(args: string[]): string {
  const res = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@invalid', ...args], { cwd: clone, encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  return res.stdout;
}

function edit(file: string, from: string | RegExp, to: string): void {
  const p = path.join(clone, file);
  const text = fs.readFileSync(p, 'utf8');
  const next = text.replace(from, to);
  assert.notEqual(next, text, `${file}: nothing matched ${from}`);
  fs.writeFileSync(p, next);
}

describe('review', () => {
  let review: ReviewResult;
  let markdown: string;

  before(() => {
    spawnSync('git', ['clone', '--quiet', projectRoot, clone], { encoding: 'utf8' });
    fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(clone, 'node_modules'));
    git(['checkout', '--quiet', '-b', 'change-one-patch']);
    // 1. A real change: one added line of the metadata_store patch says something else.
    edit('patches/metadata-store-grpc-only.patch', "+      'access.')", "+      'access. See the mlmd-remote README.')");
    // 2. Only the Why of the setup.py patch.
    edit('patches/setup-pure-wheel-named-by-build-profile.patch', /^Why: with no extension/m, 'Why: without the extension');
    // 3. Same effect: every hunk of the BUILD patch moves down 2 lines.
    const buildPatch = path.join(clone, 'patches/build-generate-only-the-python-modules.patch');
    fs.writeFileSync(buildPatch, fs.readFileSync(buildPatch, 'utf8').replace(/^@@ -(\d+),(\d+) \+(\d+),(\d+) @@/gm, (_m, a, b, c, d) => `@@ -${+a + 2},${b} +${+c + 2},${d} @@`));
    git(['commit', '--quiet', '-am', 'Change the series']);
    const run = (extra: string[]) => spawnSync(process.execPath, [path.join(clone, 'bin', 'mlmd-remote.js'), 'review', '--base', 'main', '--head', 'change-one-patch', ...extra], { cwd: clone, encoding: 'utf8' });
    const res = run(['--json']);
    assert.equal(res.status, 0, res.stderr);
    review = JSON.parse(res.stdout) as ReviewResult;
    markdown = run(['--markdown']).stdout;
  });
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('gives one verdict per patch', () => {
    assert.deepEqual(
      Object.fromEntries(review.patches.map((p) => [p.name, p.status])),
      {
        'WORKSPACE.patch': 'unchanged',
        'build-generate-only-the-python-modules.patch': 'same-effect',
        'metadata-store-grpc-only.patch': 'hunks-changed',
        'setup-pure-wheel-named-by-build-profile.patch': 'header-only',
        'mlmd-types-without-the-native-extension.patch': 'unchanged',
        'ml-metadata-warn-when-another-distribution-installs-the-same.patch': 'unchanged',
        'setup-py-describe-the-remote-only-package.patch': 'unchanged',
      },
    );
    assert.equal(review.pinChanged, false);
  });

  it('shows the interdiff of the changed lines only', () => {
    const changed = review.patches.find((p) => p.name === 'metadata-store-grpc-only.patch')!;
    assert.match(changed.interdiff, /^-\+      'access\.'\)$/m);
    assert.match(changed.interdiff, /^\+\+      'access\. See the mlmd-remote README\.'\)$/m);
    assert.equal(changed.interdiff.split('\n').filter((l) => /^[+-][+-]/.test(l) && !/^(\+\+\+|---) /.test(l)).length, 2);
  });

  it('names the header field that changed', () => {
    const header = review.patches.find((p) => p.name === 'setup-pure-wheel-named-by-build-profile.patch')!;
    assert.deepEqual(header.headerChanges.map((h) => h.field), ['Why']);
    assert.match(header.headerChanges[0]!.head, /^without the extension/);
  });

  it('renders markdown with one collapsible section per patch', () => {
    assert.equal((markdown.match(/<details/g) ?? []).length, 7);
    assert.match(markdown, /### Patch series: 3 of 7 patches changed/);
    assert.match(markdown, /```diff/);
  });

  it('reads a series of the layout before ../NAME lines, where WORKSPACE.patch applied first unlisted', () => {
    git(['checkout', '--quiet', '-b', 'legacy-layout', 'main']);
    edit('patches/series', /^\.\.\/WORKSPACE\.patch\n/m, '');
    git(['commit', '--quiet', '-am', 'The series as written before ../NAME lines']);
    const res = spawnSync(process.execPath, [path.join(clone, 'bin', 'mlmd-remote.js'), 'review', '--base', 'legacy-layout', '--head', 'main', '--json'], { cwd: clone, encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const legacy = JSON.parse(res.stdout) as ReviewResult;
    assert.equal(legacy.patches.length, 7);
    assert.deepEqual(new Set(legacy.patches.map((p) => p.status)), new Set(['unchanged']));
    assert.equal(legacy.patches[0]!.name, 'WORKSPACE.patch');
  });
});
