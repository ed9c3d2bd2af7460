/**
 * upstream.ts and git.ts: the state of an upstream checkout, saving work before
 * a forced overwrite, tags on a remote, and URL rewrites.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SupplyChainError, UsageError } from '../src/errors.ts';
import { hermeticGit, hermeticGitEnv, parseUrlRewrites, userUrlRewrites } from '../src/git.ts';
import { applySeries } from '../src/apply-series.ts';
import { parsePatchFile } from '../src/patchfile.ts';
import { checkTagName, peeledTagCommit, redactUrl, resolveRemoteTag, upstreamUrl, verifyTag } from '../src/pin.ts';
import { checkoutTree, describeState, inspectUpstream, isDisposable, saveWork, type UpstreamState } from '../src/upstream.ts';
import { cleanupFixtures, git, makeRepo, makeUpstream, patchFromCommit, rejection, runner, tempDir, writeTree, Repo, withEnv, type UpstreamFixture } from './helpers/fixtures.ts';

after(cleanupFixtures);

const FILES = {
  'README.md': 'readme\n',
  'ml_metadata/__init__.py': '',
  'ml_metadata/proto/metadata_store.proto': 'syntax = "proto2";\n',
  'src/code.py': 'print(1)\n',
};

/** A checkout with HEAD detached at its only commit (the pin). */
async function checkout(): Promise<{ repo: Repo; pin: string; pinTree: string }> {
  const repo = await makeRepo(FILES, { prefix: 'checkout' });
  const pin = await repo.head();
  await repo.run(['checkout', '--quiet', '--detach', pin]);
  return { repo, pin, pinTree: await repo.out(['rev-parse', `${pin}^{tree}`]) };
}

describe('inspectUpstream', () => {
  it('is missing for a directory without .git, and for a repository without a commit', async () => {
    const empty = tempDir('empty');
    assert.deepEqual(await inspectUpstream(git, empty, '0'.repeat(40)), { kind: 'missing' });
    assert.deepEqual(await inspectUpstream(git, path.join(empty, 'does-not-exist'), '0'.repeat(40)), { kind: 'missing' });
    const unborn = await makeRepo(undefined, { prefix: 'unborn' });
    assert.deepEqual(await inspectUpstream(git, unborn.dir, '0'.repeat(40)), { kind: 'missing' });
  });

  it('is pristine at the pin with an unchanged work tree', async () => {
    const { repo, pin, pinTree } = await checkout();
    assert.deepEqual(await inspectUpstream(git, repo.dir, pin), { kind: 'pristine', head: pin, tree: pinTree });
  });

  it('is applied after checkoutTree with the series tree, and modified when the series tree is not given', async () => {
    const { repo, pin } = await checkout();
    const { file } = await patchFromCommit(repo, { base: pin, files: { 'src/code.py': 'print(2)\n', 'src/new.py': 'x = 1\n' }, subject: 'code: 2', file: path.join(tempDir('p'), 'p.patch') });
    const series = await applySeries({ git, repoDir: repo.dir, baseCommit: pin, patches: [parsePatchFile(file)] });
    assert.ok(series.ok && series.tree);
    await checkoutTree(git, repo.dir, pin, series.tree);
    assert.equal(fs.readFileSync(path.join(repo.dir, 'src/code.py'), 'utf8'), 'print(2)\n');
    assert.equal(await repo.out(['rev-parse', 'HEAD']), pin);
    assert.deepEqual(await inspectUpstream(git, repo.dir, pin, series.tree), { kind: 'applied', head: pin, tree: series.tree });
    const without = await inspectUpstream(git, repo.dir, pin);
    assert.deepEqual(without, { kind: 'modified', head: pin, tree: series.tree, changed: ['src/code.py', 'src/new.py'] });
  });

  it('is modified with an edited tracked file and an untracked file, listing both', async () => {
    const { repo, pin, pinTree } = await checkout();
    writeTree(repo.dir, { 'README.md': 'edited\n', 'notes/untracked.txt': 'mine\n' });
    const state = await inspectUpstream(git, repo.dir, pin);
    assert.equal(state.kind, 'modified');
    assert.ok(state.kind === 'modified');
    assert.deepEqual(state.changed, ['README.md', 'notes/untracked.txt']);
    assert.equal(state.head, pin);
    assert.notEqual(state.tree, pinTree);
    assert.equal(isDisposable(state), false);
    assert.equal(describeState(state), 'at the pin with 2 changed file(s) that are not the series (README.md, notes/untracked.txt)');
  });

  it('counts a deleted tracked file as modified', async () => {
    const { repo, pin } = await checkout();
    fs.rmSync(path.join(repo.dir, 'src/code.py'));
    const state = await inspectUpstream(git, repo.dir, pin);
    assert.deepEqual(state.kind === 'modified' && state.changed, ['src/code.py']);
  });

  it('is diverged with a commit on top of the pin, counting it', async () => {
    const { repo, pin } = await checkout();
    const mine = await repo.commit({ 'README.md': 'my commit\n' }, 'work on top');
    const state = await inspectUpstream(git, repo.dir, pin);
    assert.equal(state.kind, 'diverged');
    assert.ok(state.kind === 'diverged');
    assert.equal(state.head, mine);
    assert.equal(state.commitsAhead, 1);
    assert.equal(describeState(state), `at ${mine.slice(0, 12)}, not the pin (1 commit(s) on top of it)`);
  });

  it('is exported when commits on the pin hold exactly the series, and diverged otherwise', async () => {
    const { repo, pin } = await checkout();
    const { file, commit } = await patchFromCommit(repo, { base: pin, files: { 'src/code.py': 'print(3)\n' }, subject: 'code: 3', file: path.join(tempDir('p'), 'p.patch') });
    const series = await applySeries({ git, repoDir: repo.dir, baseCommit: pin, patches: [parsePatchFile(file)] });
    assert.equal(series.tree, await repo.out(['rev-parse', `${commit}^{tree}`]));
    await repo.run(['checkout', '--quiet', '--detach', commit]);
    const state = await inspectUpstream(git, repo.dir, pin, series.tree);
    assert.deepEqual(state, { kind: 'exported', head: commit, tree: series.tree, commitsAhead: 1 });
    assert.equal(isDisposable(state), true);
    assert.equal((await inspectUpstream(git, repo.dir, pin)).kind, 'diverged', 'without the series tree');
    writeTree(repo.dir, { 'README.md': 'more work\n', 'notes.txt': 'mine\n' });
    const dirty = await inspectUpstream(git, repo.dir, pin, series.tree);
    assert.equal(dirty.kind, 'modified', 'uncommitted work on top of the series');
    assert.equal(isDisposable(dirty), false);
    // What is really there: the series' commits, and the maintainer's uncommitted changes (an untracked file among them).
    assert.equal(describeState(dirty), `at ${commit.slice(0, 12)}: 1 commit(s) on the pin that the patch files already hold, and 2 uncommitted change(s) on top (README.md, notes.txt (untracked))`);
    // Without the series, the same commits are not known to be it.
    const unknown = await inspectUpstream(git, repo.dir, pin);
    assert.equal(unknown.kind, 'diverged');
    assert.equal(describeState(unknown), `at ${commit.slice(0, 12)}, not the pin (1 commit(s) on top of it), and 2 uncommitted change(s) (README.md, notes.txt (untracked))`);
  });

  it('is elsewhere, and disposable, at another upstream tag with its work tree held by a branch (as after a rebase)', async () => {
    const { repo, pin } = await checkout();
    const next = await repo.commit({ 'README.md': 'release 2\n' }, 'upstream 2');
    await repo.run(['tag', 'v2.0.0', next]);
    await repo.run(['checkout', '--quiet', '--detach', next]);
    const clean = await inspectUpstream(git, repo.dir, pin);
    assert.deepEqual(clean, { kind: 'elsewhere', head: next, tree: clean.kind === 'elsewhere' ? clean.tree : '', tag: 'v2.0.0', keptBy: null });
    assert.equal(isDisposable(clean), true);
    const series = await repo.commit({ 'src/code.py': 'print(2)\n' }, 'the series on 2');
    await repo.run(['branch', 'mlmd-remote/rebase-v2.0.0', series]);
    await repo.run(['checkout', '--quiet', '--detach', next]);
    await repo.run(['read-tree', '--reset', '-u', `${series}^{tree}`]);
    const applied = await inspectUpstream(git, repo.dir, pin);
    assert.equal(applied.kind, 'elsewhere');
    assert.equal(describeState(applied), `at ${next.slice(0, 12)}, upstream's own (in v2.0.0), not the pin; its work tree is what branch mlmd-remote/rebase-v2.0.0 holds`);
    writeTree(repo.dir, { 'src/code.py': 'print(4)\n' });
    assert.equal((await inspectUpstream(git, repo.dir, pin)).kind, 'diverged', 'a change no branch holds is work');
  });

  it('does not count build outputs (bazel-out symlink, generated _pb2 modules, build/, dist/, egg-info) as work', async () => {
    const { repo, pin, pinTree } = await checkout();
    writeTree(repo.dir, {
      'bazel-out': { symlink: '/tmp' },
      'bazel-bin': { symlink: tempDir('bazel-bin') },
      'ml_metadata/proto/x_pb2.py': '# generated\n',
      'ml_metadata/proto/metadata_store_service_pb2_grpc.py': '# generated\n',
      'ml_metadata/simple_types/proto/simple_types_pb2.py': '# generated\n',
      'ml_metadata/simple_types/simple_types.pbtxt': 'types {}\n',
      'build/lib/ml_metadata/__init__.py': '',
      'dist/ml_metadata-1.0.0-py3-none-any.whl': 'zip',
      'ml_metadata.egg-info/PKG-INFO': 'Name: ml-metadata\n',
    });
    assert.deepEqual(await inspectUpstream(git, repo.dir, pin), { kind: 'pristine', head: pin, tree: pinTree });
    // ... but a real edit next to them still counts, alone.
    writeTree(repo.dir, { 'ml_metadata/proto/metadata_store.proto': 'syntax = "proto3";\n' });
    const state = await inspectUpstream(git, repo.dir, pin);
    assert.deepEqual(state.kind === 'modified' && state.changed, ['ml_metadata/proto/metadata_store.proto']);
  });
});

describe('saveWork', () => {
  it('saves nothing for a disposable state', async () => {
    const { repo, pin } = await checkout();
    const state = await inspectUpstream(git, repo.dir, pin);
    assert.equal(await saveWork(git, repo.dir, state, 'test'), null);
    assert.equal(await repo.out(['stash', 'list']), '');
  });

  it('stashes a modified tree (tracked edit and untracked file), and the stash really holds them', async () => {
    const { repo, pin } = await checkout();
    writeTree(repo.dir, { 'README.md': 'edited by the maintainer\n', 'untracked.txt': 'mine\n', 'ml_metadata/proto/x_pb2.py': '# generated\n' });
    const state = await inspectUpstream(git, repo.dir, pin);
    const saved = await saveWork(git, repo.dir, state, 'saved before a test');
    assert.equal(saved, 'stash@{0} (git -C upstream stash list)');
    const list = await repo.out(['stash', 'list']);
    assert.equal(list.split('\n').length, 1);
    assert.match(list, /^stash@\{0\}: On \(no branch\): mlmd-remote: saved before a test \(\d{8}T\d{6}\)$/);
    const diff = await repo.out(['stash', 'show', '-p', 'stash@{0}']);
    assert.match(diff, /^-readme$/m);
    assert.match(diff, /^\+edited by the maintainer$/m);
    assert.equal(await repo.out(['show', '--format=', '--name-only', 'stash@{0}^3']), 'untracked.txt');
    assert.equal(await repo.blob('stash@{0}^3:untracked.txt'), 'mine\n');
    // The work tree is back at the pin; the build output was left alone.
    assert.equal(fs.readFileSync(path.join(repo.dir, 'README.md'), 'utf8'), 'readme\n');
    assert.equal(fs.existsSync(path.join(repo.dir, 'untracked.txt')), false);
    assert.equal(fs.readFileSync(path.join(repo.dir, 'ml_metadata/proto/x_pb2.py'), 'utf8'), '# generated\n');
    assert.equal((await inspectUpstream(git, repo.dir, pin)).kind, 'pristine');
  });

  it('keeps diverged commits on a backup branch', async () => {
    const { repo, pin } = await checkout();
    const mine = await repo.commit({ 'README.md': 'my commit\n' }, 'work on top');
    const state = await inspectUpstream(git, repo.dir, pin);
    const saved = await saveWork(git, repo.dir, state, 'test');
    const m = /^branch (mlmd-remote\/backup-\d{8}T\d{6}-[0-9a-f]{4})$/.exec(saved ?? '');
    assert.ok(m, saved ?? 'null');
    assert.equal(await repo.out(['rev-parse', m[1]!]), mine);
    assert.equal(await repo.out(['stash', 'list']), '');
  });

  it('keeps diverged commits on a branch and uncommitted changes in a stash', async () => {
    const { repo, pin } = await checkout();
    const mine = await repo.commit({ 'README.md': 'my commit\n' }, 'work on top');
    writeTree(repo.dir, { 'src/code.py': 'print("uncommitted")\n' });
    const state = await inspectUpstream(git, repo.dir, pin);
    const saved = await saveWork(git, repo.dir, state, 'test');
    const m = /^branch (mlmd-remote\/backup-\d{8}T\d{6}-[0-9a-f]{4}) and stash@\{0\}$/.exec(saved ?? '');
    assert.ok(m, saved ?? 'null');
    assert.equal(await repo.out(['rev-parse', m[1]!]), mine);
    assert.match(await repo.out(['stash', 'show', '-p', 'stash@{0}']), /^\+print\("uncommitted"\)$/m);
  });
});

describe('tags on the upstream remote', () => {
  let up: UpstreamFixture;
  before(async () => {
    up = await makeUpstream();
  });

  it('peeledTagCommit prefers the peeled ^{} line of an annotated tag', () => {
    const tagObj = 'a'.repeat(40);
    const commit = 'b'.repeat(40);
    assert.equal(peeledTagCommit(`${tagObj}\trefs/tags/v1.0.0\n${commit}\trefs/tags/v1.0.0^{}\n`, 'v1.0.0'), commit);
    assert.equal(peeledTagCommit(`${commit}\trefs/tags/v1.0.0^{}\n${tagObj}\trefs/tags/v1.0.0\n`, 'v1.0.0'), commit);
  });

  it('peeledTagCommit takes the direct line of a lightweight tag, and null when absent', () => {
    const commit = 'c'.repeat(40);
    assert.equal(peeledTagCommit(`${commit}\trefs/tags/v1.0.0\n`, 'v1.0.0'), commit);
    assert.equal(peeledTagCommit(`${'d'.repeat(40)}\trefs/tags/v1.0.0-rc1\n${'e'.repeat(40)}\trefs/tags/v1.0.0-rc1^{}\n`, 'v1.0.0'), null);
    assert.equal(peeledTagCommit('', 'v1.0.0'), null);
  });

  it('resolveRemoteTag peels the annotated fixture tag to the pinned commit', async () => {
    const tagObject = await git(up.bare, ['rev-parse', 'refs/tags/v1.0.0']);
    assert.notEqual(tagObject.stdout.trim(), up.pin, 'the fixture tag is annotated');
    assert.equal(await resolveRemoteTag(git, up.work.dir, up.bare, 'v1.0.0'), up.pin);
    assert.equal(await resolveRemoteTag(git, up.work.dir, up.bare, 'v9.9.9'), null);
  });

  it('verifyTag passes for the pin and raises SupplyChainError for a moved or missing tag', async () => {
    await verifyTag(git, up.work.dir, up.bare, { tag: 'v1.0.0', commit: up.pin });
    const moved = await rejection(() => verifyTag(git, up.work.dir, up.bare, { tag: 'v1.0.0', commit: up.other }));
    assert.ok(moved instanceof SupplyChainError);
    assert.equal(moved.exitCode, 7);
    assert.equal(moved.message, `upstream tag v1.0.0 moved: it was pinned at ${up.other} and now names ${up.pin}`);
    const missing = await rejection(() => verifyTag(git, up.work.dir, up.bare, { tag: 'v2.0.0', commit: up.pin }));
    assert.ok(missing instanceof SupplyChainError);
    assert.match(missing.message, /has no tag v2\.0\.0/);
  });

  it('checkTagName rejects shell metacharacters and bad ref names with a UsageError', async () => {
    await checkTagName(git, up.work.dir, 'v1.14.0');
    for (const bad of ['v1;rm -rf x', '$(id)', '-v1', 'v1..2', 'v1.lock', '']) {
      const err = await rejection(() => checkTagName(git, up.work.dir, bad));
      assert.ok(err instanceof UsageError, bad);
      assert.equal(err.message, `"${bad}" is not a valid tag name`);
    }
  });

  it('hermeticGit(runner, rewrites).remote applies the URL rewrites it was given; the plain call does not', async () => {
    const fake = path.join(tempDir('no-mirror'), 'no-such-mirror.git');
    const g = hermeticGit(runner, [`url.${up.bare}.insteadOf=${fake}`]);
    const viaRemote = await g.remote(up.work.dir, ['ls-remote', '--tags', fake, 'refs/tags/v1.0.0^{}'], { allowFailure: true });
    assert.equal(viaRemote.ok, true, viaRemote.stderr);
    assert.equal(viaRemote.stdout, `${up.pin}\trefs/tags/v1.0.0^{}\n`);
    const plain = await g(up.work.dir, ['ls-remote', '--tags', fake], { allowFailure: true });
    assert.equal(plain.ok, false);
    assert.match(plain.stderr, /no-such-mirror\.git/);
  });

  it("hermetic git ignores the caller's global config and GIT_* variables", async () => {
    const cfg = path.join(tempDir('global'), 'gitconfig');
    fs.writeFileSync(cfg, '[user]\n\tname = intruder\n[core]\n\tautocrlf = true\n');
    await withEnv({ GIT_CONFIG_GLOBAL: cfg, GIT_DIR: '/nowhere', GIT_INDEX_FILE: '/nowhere/index' }, async () => {
      assert.equal((await git(up.work.dir, ['config', 'user.name'])).stdout.trim(), 'mlmd-remote');
      assert.equal((await git(up.work.dir, ['config', 'core.autocrlf'])).stdout.trim(), 'false');
      assert.equal((await git(up.work.dir, ['rev-parse', 'v1.0.0^{commit}'])).stdout.trim(), up.pin);
    });
    const env = hermeticGitEnv({ GIT_INDEX_FILE: '/x/index' });
    assert.equal(env['GIT_CONFIG_NOSYSTEM'], '1');
    assert.equal(env['GIT_INDEX_FILE'], '/x/index', 'explicit extras are kept');
  });
});

describe('URLs', () => {
  it('parseUrlRewrites turns git config --get-regexp output into -c settings', () => {
    const out = [
      'url.https://mirror.example/github/.insteadof https://github.com/',
      'url.git@internal:mirrors/.pushinsteadof https://github.com/google/',
      'url.file:///srv/git/.InsteadOf git://example.org/',
      '',
      'user.name someone',
    ].join('\n');
    assert.deepEqual(parseUrlRewrites(out), [
      'url.https://mirror.example/github/.insteadOf=https://github.com/',
      'url.git@internal:mirrors/.pushInsteadOf=https://github.com/google/',
      'url.file:///srv/git/.insteadOf=git://example.org/',
    ]);
    assert.deepEqual(parseUrlRewrites(''), []);
  });

  it("userUrlRewrites reads the rewrites from the user's global config", async () => {
    const home = tempDir('home');
    const cfg = path.join(home, 'gitconfig');
    fs.writeFileSync(cfg, '[url "https://mirror.example/gh/"]\n\tinsteadOf = https://github.com/\n[user]\n\tname = x\n');
    const got = await withEnv({ GIT_CONFIG_GLOBAL: cfg, GIT_CONFIG_NOSYSTEM: '1' }, () => userUrlRewrites(runner));
    assert.deepEqual(got, ['url.https://mirror.example/gh/.insteadOf=https://github.com/']);
    const none = path.join(home, 'empty');
    fs.writeFileSync(none, '');
    assert.deepEqual(await withEnv({ GIT_CONFIG_GLOBAL: none, GIT_CONFIG_NOSYSTEM: '1' }, () => userUrlRewrites(runner)), []);
  });

  it('redactUrl hides credentials', () => {
    assert.equal(redactUrl('https://user:s3cret@example.com/ml-metadata.git'), 'https://***@example.com/ml-metadata.git');
    assert.equal(redactUrl('https://example.com/ml-metadata.git'), 'https://example.com/ml-metadata.git');
  });
});

describe('upstreamUrl', () => {
  const project = { config: { upstream: { url: 'https://config.example/x.git' } } } as unknown as Parameters<typeof upstreamUrl>[0];
  beforeEach(() => {
    assert.equal(process.env['MLMD_REMOTE_UPSTREAM_URL'], undefined, 'the test environment does not set MLMD_REMOTE_UPSTREAM_URL');
  });
  it('prefers the override, then MLMD_REMOTE_UPSTREAM_URL, then the config', async () => {
    assert.equal(upstreamUrl(project), 'https://config.example/x.git');
    await withEnv({ MLMD_REMOTE_UPSTREAM_URL: 'https://env.example/x.git' }, async () => {
      assert.equal(upstreamUrl(project), 'https://env.example/x.git');
      assert.equal(upstreamUrl(project, 'https://flag.example/x.git'), 'https://flag.example/x.git');
    });
  });
});

describe('describeState / isDisposable', () => {
  it('covers every kind', () => {
    const h = 'f'.repeat(40);
    const states: UpstreamState[] = [
      { kind: 'missing' },
      { kind: 'pristine', head: h, tree: h },
      { kind: 'applied', head: h, tree: h },
      { kind: 'modified', head: h, tree: h, changed: ['a', 'b', 'c', 'd', 'e', 'f'] },
      { kind: 'exported', head: h, tree: h, commitsAhead: 2 },
      { kind: 'diverged', head: h, tree: h, commitsAhead: 0 },
      { kind: 'diverged', head: h, tree: h, commitsAhead: 3 },
      { kind: 'modified', head: h, tree: h, changed: ['a', 'n'], untracked: ['n'], onSeries: { commitsAhead: 5 } },
      { kind: 'diverged', head: h, tree: h, commitsAhead: 1, changed: ['n'], untracked: ['n'] },
      { kind: 'elsewhere', head: h, tree: h, tag: 'v2', keptBy: null },
    ];
    assert.deepEqual(states.map(isDisposable), [true, true, true, false, true, false, false, false, false, true]);
    assert.deepEqual(states.map(describeState), [
      'not checked out',
      'at the pin ffffffffffff, unchanged',
      'at the pin ffffffffffff with the series applied',
      'at the pin with 6 changed file(s) that are not the series (a, b, c, d, e, …)',
      'at ffffffffffff: 2 commit(s) on the pin that the patch files already hold',
      'at ffffffffffff, not the pin',
      'at ffffffffffff, not the pin (3 commit(s) on top of it)',
      'at ffffffffffff: 5 commit(s) on the pin that the patch files already hold, and 2 uncommitted change(s) on top (a, n (untracked))',
      'at ffffffffffff, not the pin (1 commit(s) on top of it), and 1 uncommitted change(s) (n (untracked))',
      "at ffffffffffff, upstream's own (in v2), not the pin, unchanged",
    ]);
  });
});
