/**
 * The sync and apply commands on a fixture project: a temp superproject with
 * mlmd-remote.json, WORKSPACE.patch and patches/, and upstream/ as a real git
 * submodule of a fixture bare upstream repository tagged v1.0.0.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apply } from '../src/commands/apply.ts';
import type { Deps } from '../src/commands/deps.ts';
import { sync } from '../src/commands/sync.ts';
import { loadProject } from '../src/config.ts';
import { MlmdError, RefusedError, SupplyChainError, UsageError } from '../src/errors.ts';
import { build } from '../src/commands/build.ts';
import { check } from '../src/commands/check.ts';
import { hermeticGit } from '../src/git.ts';
import { recordingLogger } from '../src/log.ts';
import { inspectUpstream } from '../src/upstream.ts';
import { cleanupFixtures, DEFAULT_PATCHES, git, makeProject, makeUpstream, rejection, runner, tempDir, writeTree, withEnv, type ProjectFixture, type UpstreamFixture, Repo } from './helpers/fixtures.ts';

after(cleanupFixtures);

function deps(rewrites: string[] = []): Deps & { log: ReturnType<typeof recordingLogger> } {
  return { runner, git: hermeticGit(runner, rewrites), log: recordingLogger() };
}

/** HEAD, status and the content of a file, to prove that nothing changed. */
async function snapshot(repo: Repo, file = 'README.md') {
  return {
    head: await repo.head(),
    status: await repo.status(),
    content: fs.readFileSync(path.join(repo.dir, file), 'utf8'),
  };
}

const FAKE_URL = 'https://mirror.invalid/google/ml-metadata.git';

describe('sync', () => {
  let up: UpstreamFixture;
  before(async () => {
    up = await makeUpstream();
  });

  it('clones a fresh superproject from the --upstream-url override and checks out the pin', async () => {
    const fx = await makeProject(up, { configUrl: FAKE_URL, fresh: true });
    assert.equal(fs.existsSync(path.join(fx.root, 'upstream', '.git')), false, 'upstream/ is not initialised');
    assert.equal((await inspectUpstream(git, fx.project.upstreamDir, up.pin)).kind, 'missing');
    const d = deps();
    const res = await sync({ project: fx.project, url: up.bare }, d);
    assert.deepEqual(res, { schemaVersion: 1, tag: 'v1.0.0', commit: up.pin, url: up.bare, action: 'cloned', before: 'not checked out', savedTo: null });
    assert.equal(await fx.upstreamRepo.head(), up.pin);
    assert.equal(await fx.upstreamRepo.status(), '');
    assert.equal(fs.readFileSync(path.join(fx.root, 'upstream', 'README.md'), 'utf8'), '# ML Metadata (fixture)\n\nA small stand-in for upstream.\n');
    assert.equal((await inspectUpstream(git, fx.project.upstreamDir, up.pin)).kind, 'pristine');
    assert.ok(d.log.lines.some((l) => l.startsWith(`done Bring upstream/ to v1.0.0 (${up.pin.slice(0, 12)}): cloned`)), d.log.lines.join('\n'));
  });

  it('clones from MLMD_REMOTE_UPSTREAM_URL', async () => {
    const fx = await makeProject(up, { configUrl: FAKE_URL, fresh: true });
    const res = await withEnv({ MLMD_REMOTE_UPSTREAM_URL: up.bare }, () => sync({ project: fx.project }, deps()));
    assert.equal(res.action, 'cloned');
    assert.equal(res.url, up.bare);
    assert.equal(await fx.upstreamRepo.head(), up.pin);
  });

  it('fails to clone from the config URL when it is unreachable and nothing overrides it (the override tests are not vacuous)', async () => {
    const fx = await makeProject(up, { configUrl: path.join(tempDir('nothing'), 'absent.git'), fresh: true });
    const err = await rejection(() => sync({ project: fx.project }, deps()));
    assert.match(err.message, /^upstream \/.*\/absent\.git does not exist: there is no such path$/);
    assert.equal(fs.existsSync(path.join(fx.root, 'upstream', '.git')), false);
  });

  it('--upstream-url naming a path that does not exist, or a directory that is not a repository, says so and how to fix it; the fix works', async () => {
    const fx = await makeProject(up, { configUrl: FAKE_URL, fresh: true });
    const missing = path.join(tempDir('nothing'), 'ml-metadata.git');
    const err = await rejection(() => sync({ project: fx.project, url: missing }, deps()));
    assert.equal(err.message, `upstream ${missing} does not exist: there is no such path`);
    assert.equal((err as MlmdError).exitCode, 1);
    assert.equal(
      (err as MlmdError).hint,
      "pass --upstream-url the URL or path of a clone or mirror of upstream (make one with: git clone --mirror https://github.com/google/ml-metadata.git <dir>), or leave the option out to use mlmd-remote.json's URL",
    );
    const plain = tempDir('not-a-repo');
    const err2 = await rejection(() => sync({ project: fx.project, url: plain }, deps()));
    assert.equal(err2.message, `upstream ${plain} is not a git repository`);
    // The same words for MLMD_REMOTE_UPSTREAM_URL, with its own fix.
    const err3 = await withEnv({ MLMD_REMOTE_UPSTREAM_URL: missing }, () => rejection(() => sync({ project: fx.project }, deps())));
    assert.equal(err3.message, `upstream ${missing} does not exist: there is no such path`);
    assert.match((err3 as MlmdError).hint!, /^set MLMD_REMOTE_UPSTREAM_URL to the URL or path of a clone or mirror of upstream/);
    assert.equal(fs.existsSync(path.join(fx.root, 'upstream', '.git')), false, 'nothing was cloned');
    // The fix, as the hint says it (with the fixture's upstream for GitHub's).
    await git(path.dirname(missing), ['clone', '--quiet', '--mirror', up.bare, missing]);
    const res = await sync({ project: fx.project, url: missing }, deps());
    assert.equal(res.action, 'cloned');
    assert.equal(await fx.upstreamRepo.head(), up.pin);
  });

  it('clones through a url.<fixture>.insteadOf=<https URL> rewrite when mlmd-remote.json names the https URL', async () => {
    const fx = await makeProject(up, { configUrl: FAKE_URL, fresh: true });
    assert.equal(fx.project.config.upstream.url, FAKE_URL);
    const res = await sync({ project: fx.project }, deps([`url.${up.bare}.insteadOf=${FAKE_URL}`]));
    assert.equal(res.action, 'cloned');
    assert.equal(res.url, FAKE_URL);
    assert.equal(await fx.upstreamRepo.head(), up.pin);
    assert.equal((await inspectUpstream(git, fx.project.upstreamDir, up.pin)).kind, 'pristine');
  });

  it('is unchanged on a pristine checkout, and refuses when upstream/ is on another commit', async () => {
    const fx = await makeProject(up);
    assert.equal((await sync({ project: fx.project }, deps())).action, 'unchanged');
    // A clean checkout of another commit (no commits of its own on top of the pin) still counts as diverged work.
    await fx.upstreamRepo.run(['fetch', '--quiet', up.bare, 'next']);
    await fx.upstreamRepo.run(['checkout', '--quiet', '--detach', up.other]);
    const err = await rejection(() => sync({ project: fx.project }, deps()));
    assert.ok(err instanceof RefusedError);
  });

  it('raises SupplyChainError (exit 7) when the tag moved, and leaves upstream/ alone', async () => {
    const own = await makeUpstream();
    const fx = await makeProject(own);
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'work in progress\n' });
    const before = await snapshot(fx.upstreamRepo);
    await git(own.bare, ['tag', '--force', '--annotate', '-m', 're-tagged', 'v1.0.0', own.other]);
    const err = await rejection(() => sync({ project: fx.project, force: true }, deps()));
    assert.ok(err instanceof SupplyChainError, String(err));
    assert.equal(err.exitCode, 7);
    assert.equal(err.message, `upstream tag v1.0.0 moved: it was pinned at ${own.pin} and now names ${own.other}`);
    assert.deepEqual(await snapshot(fx.upstreamRepo), before);
    assert.equal(await fx.upstreamRepo.out(['stash', 'list']), '', 'not even --force saved and reset anything');
  });

  it('raises SupplyChainError for a tag the upstream does not have', async () => {
    const fx = await makeProject(up, { tag: 'v9.9.9' });
    const before = await snapshot(fx.upstreamRepo);
    const err = await rejection(() => sync({ project: fx.project }, deps()));
    assert.ok(err instanceof SupplyChainError, String(err));
    assert.match(err.message, /has no tag v9\.9\.9, which the pin names/);
    assert.deepEqual(await snapshot(fx.upstreamRepo), before);
  });

  it('raises UsageError for a tag name with shell metacharacters', async () => {
    const fx = await makeProject(up, { tag: 'v1;rm -rf x' });
    const err = await rejection(() => sync({ project: fx.project }, deps()));
    assert.ok(err instanceof UsageError, String(err));
    assert.equal(err.exitCode, 2);
    assert.equal(err.message, '"v1;rm -rf x" is not a valid tag name');
  });

  it('raises SupplyChainError when the gitlink and mlmd-remote.json disagree', async () => {
    const fx = await makeProject(up);
    const cfg = JSON.parse(fs.readFileSync(fx.project.configPath, 'utf8'));
    cfg.upstream.commit = up.other;
    fs.writeFileSync(fx.project.configPath, JSON.stringify(cfg));
    const project = loadProject(fx.root, { exact: true });
    const err = await rejection(() => sync({ project }, deps()));
    assert.ok(err instanceof SupplyChainError, String(err));
    assert.equal(err.message.split(':')[0], 'the pin disagrees with itself');
    assert.ok(err.message.includes(`mlmd-remote.json says v1.0.0 = ${up.other}, the upstream submodule points at ${up.pin}`));
    // The same when the gitlink moves instead.
    await fx.superRepo.run(['update-index', '--cacheinfo', `160000,${up.other},upstream`]);
    const err2 = await rejection(() => apply({ project: fx.project }, deps()));
    assert.ok(err2 instanceof SupplyChainError, String(err2));
  });

  it('raises UsageError when upstream is not a submodule', async () => {
    const fx = await makeProject(up);
    await fx.superRepo.run(['rm', '--quiet', '--cached', 'upstream']);
    const err = await rejection(() => sync({ project: fx.project }, deps()));
    assert.ok(err instanceof UsageError, String(err));
    assert.match(err.message, /not a git submodule/);
  });
});

describe('--upstream-url where upstream/ is checked out: the tag check runs whenever a URL is given', () => {
  it('apply, apply --check, check and build stop (exit 7) on a mirror whose tag moved, before anything else; without a URL they do not look', async () => {
    const own = await makeUpstream();
    const fx = await makeProject(own);
    const mirror = path.join(tempDir('mirror'), 'ml-metadata.git');
    await git(path.dirname(mirror), ['clone', '--quiet', '--mirror', own.bare, mirror]);
    await git(mirror, ['tag', '--force', '--annotate', '-m', 're-tagged', 'v1.0.0', own.other]);
    const moved = `upstream tag v1.0.0 moved: it was pinned at ${own.pin} and now names ${own.other}`;
    const before = await snapshot(fx.upstreamRepo);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['apply', () => apply({ project: fx.project, url: mirror }, deps())],
      ['apply --check', () => apply({ project: fx.project, check: true, url: mirror }, deps())],
      ['check', () => check({ project: fx.project, url: mirror }, deps())],
      ['build', () => build({ project: fx.project, upstreamUrl: mirror, distDir: path.join(tempDir('dist'), 'dist'), workDir: tempDir('work') }, deps())],
    ];
    for (const [name, call] of calls) {
      const err = await rejection(call);
      assert.ok(err instanceof SupplyChainError, `${name}: ${String(err)}`);
      assert.equal(err.message, moved, name);
    }
    // MLMD_REMOTE_UPSTREAM_URL is a URL given, too.
    const envErr = await withEnv({ MLMD_REMOTE_UPSTREAM_URL: mirror }, () => rejection(() => check({ project: fx.project }, deps())));
    assert.ok(envErr instanceof SupplyChainError, String(envErr));
    assert.deepEqual(await snapshot(fx.upstreamRepo), before);
    // Without a URL, apply and check work from upstream/ alone.
    assert.deepEqual((await check({ project: fx.project }, deps())).apply.map((p) => p.status), ['clean', 'clean', 'clean']);
    assert.equal((await apply({ project: fx.project, check: true }, deps())).ok, true);
  });
});

describe('dirty upstream/', () => {
  let up: UpstreamFixture;
  before(async () => {
    up = await makeUpstream();
  });

  async function dirty(): Promise<ProjectFixture> {
    const fx = await makeProject(up);
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'my local edit\n' });
    return fx;
  }

  it('sync refuses (RefusedError, exit 3) and keeps the edit', async () => {
    const fx = await dirty();
    const before = await snapshot(fx.upstreamRepo);
    const err = await rejection(() => sync({ project: fx.project }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.exitCode, 3);
    assert.equal(err.message, 'upstream/ holds work that sync would overwrite: at the pin with 1 changed file(s) that are not the series (README.md)');
    assert.deepEqual(await snapshot(fx.upstreamRepo), before);
    assert.equal(before.content, 'my local edit\n');
  });

  it('apply refuses (RefusedError, exit 3) and keeps the edit', async () => {
    const fx = await dirty();
    const before = await snapshot(fx.upstreamRepo);
    const d = deps();
    const err = await rejection(() => apply({ project: fx.project }, d));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.exitCode, 3);
    assert.match(err.message, /^upstream\/ holds work that apply would overwrite/);
    assert.deepEqual(await snapshot(fx.upstreamRepo), before);
    assert.ok(d.log.lines.includes('fail Apply 3 patches on v1.0.0: refused'), d.log.lines.join('\n'));
  });

  it('sync --force proceeds and the edit is recoverable from the stash', async () => {
    const fx = await dirty();
    const d = deps();
    const res = await sync({ project: fx.project, force: true }, d);
    assert.equal(res.action, 'checked-out');
    assert.equal(res.savedTo, 'stash@{0} (git -C upstream stash list)');
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'README.md'), 'utf8'), '# ML Metadata (fixture)\n\nA small stand-in for upstream.\n');
    assert.equal(await fx.upstreamRepo.status(), '');
    assert.match(await fx.upstreamRepo.out(['stash', 'list']), /^stash@\{0\}: .*mlmd-remote: saved before sync --force/);
    assert.match(await fx.upstreamRepo.out(['stash', 'show', '-p', 'stash@{0}']), /^\+my local edit$/m);
    assert.ok(d.log.lines.some((l) => l.startsWith('warn upstream/ was at the pin with 1 changed file(s)')), d.log.lines.join('\n'));
  });

  it('apply --force proceeds and the edit is recoverable from the stash', async () => {
    const fx = await dirty();
    const res = await apply({ project: fx.project, force: true }, deps());
    assert.equal(res.ok, true);
    assert.equal(res.changed, true);
    assert.equal(res.savedTo, 'stash@{0} (git -C upstream stash list)');
    assert.match(await fx.upstreamRepo.out(['stash', 'show', '-p', 'stash@{0}']), /^\+my local edit$/m);
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'WORKSPACE'), 'utf8'), 'workspace(name = "ml_metadata")\n');
    assert.equal((await inspectUpstream(git, fx.project.upstreamDir, up.pin, res.tree)).kind, 'applied');
  });

  it('sync --force keeps commits made on top of the pin on a backup branch', async () => {
    const fx = await makeProject(up);
    const mine = await fx.upstreamRepo.commit({ 'README.md': 'committed work\n' }, 'my work');
    const res = await sync({ project: fx.project, force: true }, deps());
    assert.equal(res.action, 'checked-out');
    const m = /^branch (mlmd-remote\/backup-\S+)$/.exec(res.savedTo ?? '');
    assert.ok(m, String(res.savedTo));
    assert.equal(await fx.upstreamRepo.out(['rev-parse', m[1]!]), mine);
    assert.equal(await fx.upstreamRepo.head(), up.pin);
  });
});

describe('apply', () => {
  let up: UpstreamFixture;
  before(async () => {
    up = await makeUpstream();
  });

  it('applies WORKSPACE.patch and the series, then a second apply changes nothing', async () => {
    const fx = await makeProject(up);
    const first = await apply({ project: fx.project }, deps());
    assert.equal(first.ok, true);
    assert.equal(first.mode, 'apply');
    assert.equal(first.changed, true);
    assert.equal(first.tag, 'v1.0.0');
    assert.equal(first.baseCommit, up.pin);
    assert.equal(first.before, `at the pin ${up.pin.slice(0, 12)}, unchanged`);
    assert.deepEqual(first.patches.map((p) => [p.name, p.status]), [
      ['WORKSPACE.patch', 'clean'],
      ['build-python-only.patch', 'clean'],
      ['metadata-store-grpc-only.patch', 'clean'],
    ]);
    assert.equal(await fx.upstreamRepo.head(), up.pin, 'HEAD stays at the pin');
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'ml_metadata/metadata_store/metadata_store.py'), 'utf8'), 'import grpc\n\nfrom ml_metadata import errors\n\nMAX_NUM_RESULT = 100\n');
    assert.equal(await fx.upstreamRepo.out(['write-tree']), first.tree, 'the index holds the series tree');

    const d = deps();
    const second = await apply({ project: fx.project }, d);
    assert.equal(second.changed, false);
    assert.equal(second.tree, first.tree);
    assert.equal(second.before, `at the pin ${up.pin.slice(0, 12)} with the series applied`);
    assert.ok(d.log.lines.includes('done Apply 3 patches on v1.0.0: already applied'), d.log.lines.join('\n'));
  });

  it('recognises its own result when a patch adds a file under a build-output path', async () => {
    const fx = await makeProject(up, {
      patches: { workspace: DEFAULT_PATCHES.workspace, series: [{ name: 'pbtxt.patch', subject: 'ship simple_types.pbtxt', files: { 'ml_metadata/simple_types/simple_types.pbtxt': 'types {}\n' } }] },
    });
    const first = await apply({ project: fx.project }, deps());
    assert.equal(first.changed, true);
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'ml_metadata/simple_types/simple_types.pbtxt'), 'utf8'), 'types {}\n');
    const second = await apply({ project: fx.project }, deps());
    assert.equal(second.changed, false);
  });

  it('--check changes nothing, even when upstream/ is dirty', async () => {
    const fx = await makeProject(up);
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'dirty\n', 'scratch.txt': 'untracked\n' });
    const before = await snapshot(fx.upstreamRepo);
    const index = await fx.upstreamRepo.out(['ls-files', '-s']);
    const res = await apply({ project: fx.project, check: true }, deps());
    assert.equal(res.ok, true);
    assert.equal(res.mode, 'check');
    assert.equal(res.changed, false);
    assert.match(res.tree!, /^[0-9a-f]{40}$/);
    assert.deepEqual(await snapshot(fx.upstreamRepo), before);
    assert.equal(await fx.upstreamRepo.out(['ls-files', '-s']), index);
    assert.equal(await fx.upstreamRepo.out(['stash', 'list']), '');
  });

  it('reports a patch that does not apply without touching upstream/', async () => {
    const fx = await makeProject(up);
    // patches/ now holds a patch made against other content.
    const bad = fs.readFileSync(path.join(fx.root, 'patches', 'build-python-only.patch'), 'utf8').replace('-_py_extension = ["metadata_store_extension.so"]', '-_py_extension = ["something else"]');
    fs.writeFileSync(path.join(fx.root, 'patches', 'build-python-only.patch'), bad);
    const before = await snapshot(fx.upstreamRepo);
    const d = deps();
    const res = await apply({ project: fx.project }, d);
    assert.equal(res.ok, false);
    assert.equal(res.changed, false);
    assert.deepEqual(res.patches.map((p) => p.status), ['clean', 'failed', 'skipped']);
    assert.equal(res.patches[1]!.failure!.file, 'ml_metadata/BUILD');
    assert.deepEqual(await snapshot(fx.upstreamRepo), before);
    assert.ok(d.log.lines.includes('fail Apply 3 patches on v1.0.0: a patch does not apply; upstream/ was not touched'));
  });

  it('refuses to run when upstream/ is not checked out', async () => {
    const fx = await makeProject(up, { fresh: true });
    const err = await rejection(() => apply({ project: fx.project }, deps()));
    assert.ok(err instanceof UsageError, String(err));
    assert.equal(err.message, 'upstream/ is not checked out at the pin');
  });

  it('sync after apply resets upstream/ to the pin (action reset), saving nothing', async () => {
    const fx = await makeProject(up);
    const applied = await apply({ project: fx.project }, deps());
    assert.equal(applied.changed, true);
    assert.notEqual(await fx.upstreamRepo.status(), '', 'the applied series shows as changes against the pin');
    const res = await sync({ project: fx.project }, deps());
    assert.equal(res.action, 'reset');
    assert.equal(res.before, `at the pin ${up.pin.slice(0, 12)} with the series applied`);
    assert.equal(res.savedTo, null);
    assert.equal(await fx.upstreamRepo.status(), '');
    assert.equal(await fx.upstreamRepo.head(), up.pin);
    assert.equal(await fx.upstreamRepo.out(['write-tree']), await fx.upstreamRepo.out(['rev-parse', `${up.pin}^{tree}`]));
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'WORKSPACE'), 'utf8'), await fx.upstreamRepo.blob(`${up.pin}:WORKSPACE`));
    assert.equal(await fx.upstreamRepo.out(['stash', 'list']), '');
    assert.equal((await inspectUpstream(git, fx.project.upstreamDir, up.pin)).kind, 'pristine');
  });

  it('sync after apply plus a local edit refuses, and --force saves the edit on top of the series', async () => {
    const fx = await makeProject(up);
    await apply({ project: fx.project }, deps());
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'edit on top of the series\n' });
    const err = await rejection(() => sync({ project: fx.project }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    const res = await sync({ project: fx.project, force: true }, deps());
    assert.equal(res.action, 'checked-out');
    assert.equal(res.savedTo, 'stash@{0} (git -C upstream stash list)');
    assert.match(await fx.upstreamRepo.out(['stash', 'show', '-p', 'stash@{0}']), /^\+edit on top of the series$/m);
    assert.equal(await fx.upstreamRepo.status(), '');
    assert.equal((await inspectUpstream(git, fx.project.upstreamDir, up.pin)).kind, 'pristine');
  });
});
