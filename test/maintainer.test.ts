/**
 * The maintainer's commands on fixture projects: edit (series -> commits),
 * export (commits -> patch files, keeping unchanged ones byte for byte),
 * check (the CI guard), rebase (start / continue / abort, every
 * classification) and the missing-tool errors. The fixture upstream has a
 * release tag per rebase situation (see test/helpers/maintainer-fixtures.ts);
 * every test gets its own superproject, so no two tests share upstream/ or the
 * project's .cache.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveBazel } from '../src/bazel.ts';
import { apply } from '../src/commands/apply.ts';
import { check } from '../src/commands/check.ts';
import type { Deps } from '../src/commands/deps.ts';
import { edit } from '../src/commands/edit.ts';
import { exportSeries } from '../src/commands/export.ts';
import { rebaseAbort, rebaseContinue, rebaseStart } from '../src/commands/rebase.ts';
import { loadProject, type Project } from '../src/config.ts';
import { MissingToolError, MlmdError, PatchError, RefusedError, SupplyChainError, UsageError } from '../src/errors.ts';
import { sync } from '../src/commands/sync.ts';
import { readPin } from '../src/pin.ts';
import { processRunner } from '../src/exec.ts';
import { hermeticGit } from '../src/git.ts';
import { recordingLogger } from '../src/log.ts';
import { findPython } from '../src/python.ts';
import { prepareToolchain } from '../src/toolchain.ts';
import { cleanupFixtures, git, patchMessage, projectConfig, rejection, Repo, tempDir, withEnv, writeTree, type FileTree, type ProjectFixture } from './helpers/fixtures.ts';
import { runHinted } from './helpers/hints.ts';
import {
  CRLF_BAT_PATCHED,
  CRLF_NEW_BAT,
  FILE_OPS_SERIES,
  FORMAT_PATCH,
  joinLines,
  LEGACY_UTIL,
  MAIN_SERIES,
  makeMaintainerProject,
  makeMaintainerUpstream,
  NEW_IN_1_7,
  NEW_IN_1_7_CONTENT,
  patchedStore,
  PATCHED_LINE_31,
  seriesText,
  seriesFiles,
  STORE_PATH,
  storeLines,
  UPSTREAM_1_5_LINE_31,
  assertSameBytes,
  gitlink,
  hasRef,
  statePath,
  upstreamSnapshot,
  type MaintainerUpstream,
} from './helpers/maintainer-fixtures.ts';
import type { RebaseResult } from '../src/results.ts';

after(cleanupFixtures);

const runner = processRunner();

function deps(): Deps & { log: ReturnType<typeof recordingLogger> } {
  return { runner, git: hermeticGit(runner, []), log: recordingLogger() };
}

const WORK_BRANCH = 'mlmd-remote/work';
const MAIN_NAMES = ['WORKSPACE.patch', 'build-python-only.patch', 'metadata-store-grpc-only.patch', 'setup-pure-wheel.patch'];
const MAIN_SUBJECTS = ['WORKSPACE: keep only what Python proto generation needs', 'BUILD: generate only the Python modules', 'metadata_store: gRPC only', 'setup: a pure wheel named ml-metadata-remote'];

let up: MaintainerUpstream;
before(async () => {
  up = await makeMaintainerUpstream();
});

// ---------------------------------------------------------------------------
// Helpers

/** `git format-patch` of one commit with the export's options, as bytes. */
async function formatPatch(repo: Repo, commit: string): Promise<Buffer> {
  return Buffer.from((await repo.run([...FORMAT_PATCH, '-1', commit])).stdout);
}

function statuses(res: RebaseResult): Array<[string, string]> {
  return res.patches.map((p) => [p.name, p.status]);
}

function actions(res: { patches: Array<{ name: string; action: string }> }): Array<[string, string]> {
  return res.patches.map((p) => [p.name, p.action]);
}


async function edited(): Promise<ProjectFixture> {
  const fx = await makeMaintainerProject(up);
  await edit({ project: fx.project }, deps());
  return fx;
}

/** A project whose rebase to v1.5.0 stopped on the conflict in metadata_store.py. */
async function stopped(fx?: ProjectFixture, tag = 'v1.5.0'): Promise<{ fx: ProjectFixture; res: RebaseResult }> {
  fx ??= await makeMaintainerProject(up);
  const res = await rebaseStart({ project: fx.project, tag }, deps());
  assert.equal(res.status, 'stopped', JSON.stringify(res.patches));
  return { fx, res };
}

type StateFile = { inFlight?: { index: number; head: string }; orig: { head: string }; branch: string; patches: Array<{ name: string; subject: string; file: string; status: string; conflict?: { head: string } }> };

function readStateFile(fx: ProjectFixture): StateFile {
  return JSON.parse(fs.readFileSync(statePath(fx), 'utf8')) as StateFile;
}

/**
 * Puts a stopped rebase back to "the state saved, then its git checkout of the
 * tag killed after writing `written` and before writing its index".
 */
async function rewindToCheckout(fx: ProjectFixture, written: FileTree): Promise<void> {
  const state = readStateFile(fx);
  await fx.upstreamRepo.run(['am', '--abort']);
  await fx.upstreamRepo.run(['checkout', '--quiet', '--force', '--detach', state.orig.head]);
  await fx.upstreamRepo.run(['branch', '-D', state.branch]);
  state.patches = state.patches.map((p) => ({ name: p.name, subject: p.subject, file: p.file, status: 'pending' }));
  fs.writeFileSync(statePath(fx), JSON.stringify(state));
  writeTree(fx.upstreamRepo.dir, written);
}

function v15Store(): string[] {
  const lines = storeLines();
  lines[30] = UPSTREAM_1_5_LINE_31;
  return lines;
}

// ---------------------------------------------------------------------------

describe('edit', () => {
  it('turns the series into one commit per patch on mlmd-remote/work, keeping subjects and trailers', async () => {
    const fx = await makeMaintainerProject(up);
    const res = await edit({ project: fx.project }, deps());
    assert.equal(res.branch, WORK_BRANCH);
    assert.deepEqual(res.base, { tag: 'v1.0.0', commit: up.pin });
    assert.equal(res.savedTo, null);
    assert.deepEqual(
      res.commits.map((c) => [c.patch, c.subject]),
      MAIN_NAMES.map((n, i) => [n, MAIN_SUBJECTS[i]]),
    );
    const repo = fx.upstreamRepo;
    assert.equal(await repo.out(['symbolic-ref', '--short', 'HEAD']), WORK_BRANCH);
    const commits = (await repo.out(['rev-list', '--reverse', `${up.pin}..HEAD`])).split('\n');
    assert.deepEqual(commits, res.commits.map((c) => c.commit));
    assert.equal(await repo.out(['rev-parse', 'refs/mlmd-remote/base']), up.pin);
    assert.equal(await repo.out(['rev-list', '--count', '--min-parents=2', `${up.pin}..HEAD`]), '0', 'a linear series');
    const originals = up.seriesCommits.get(MAIN_SERIES)!;
    for (const [i, c] of commits.entries()) {
      // The whole message (subject, body, trailers), the author date and the tree of the commit the patch was made from.
      assert.equal(await repo.out(['log', '-1', '--format=%B', c]), await up.work.out(['log', '-1', '--format=%B', originals[i]!]), `message of ${MAIN_NAMES[i]}`);
      assert.equal(await repo.out(['log', '-1', '--format=%an <%ae> %aD', c]), await up.work.out(['log', '-1', '--format=%an <%ae> %aD', originals[i]!]));
      assert.equal(await repo.out(['rev-parse', `${c}^{tree}`]), await up.work.out(['rev-parse', `${originals[i]!}^{tree}`]), `tree of ${MAIN_NAMES[i]}`);
    }
    const msg = await repo.out(['log', '-1', '--format=%B', commits[1]!]);
    assert.equal(msg.split('\n')[0], 'BUILD: generate only the Python modules');
    assert.match(msg, /^Why: the extension is the whole C\+\+ store;\n {2}a remote-only wheel does not ship it$/m);
    assert.match(msg, /^Upstream-Status: Inappropriate \[remote-only build\]$/m);
    assert.match(msg, /^Drop-When: never$/m);
    assert.equal(await repo.status(), '');
  });

  it('refuses (RefusedError, exit 3) when upstream/ has an uncommitted edit, and the edit stays', async () => {
    const fx = await makeMaintainerProject(up);
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'my local edit\n' });
    const before = await upstreamSnapshot(fx.upstreamRepo);
    const err = await rejection(() => edit({ project: fx.project }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.exitCode, 3);
    assert.equal(err.message, 'upstream/ holds work that edit would overwrite: at the pin with 1 changed file(s) that are not the series (README.md)');
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), before);
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'README.md'), 'utf8'), 'my local edit\n');
    assert.equal(await hasRef(fx.upstreamRepo, `refs/heads/${WORK_BRANCH}`), false);
  });

  it('with force saves the edit in a stash first', async () => {
    const fx = await makeMaintainerProject(up);
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'my local edit\n' });
    const d = deps();
    const res = await edit({ project: fx.project, force: true }, d);
    assert.equal(res.savedTo, 'stash@{0} (git -C upstream stash list)');
    assert.match(await fx.upstreamRepo.out(['stash', 'list']), /^stash@\{0\}: .*mlmd-remote: saved before edit --force/);
    assert.equal((await fx.upstreamRepo.out(['stash', 'list'])).split('\n').length, 1);
    assert.match(await fx.upstreamRepo.out(['stash', 'show', '-p', 'stash@{0}']), /^\+my local edit$/m);
    assert.equal(await fx.upstreamRepo.out(['symbolic-ref', '--short', 'HEAD']), WORK_BRANCH);
    assert.equal(res.commits.length, 4);
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'README.md'), 'utf8'), '# ML Metadata (fixture)\n\nA small stand-in for upstream.\n');
    assert.equal(await fx.upstreamRepo.status(), '');
    assert.ok(d.log.lines.some((l) => l.startsWith('warn upstream/ was at the pin with 1 changed file(s)') && l.endsWith('saved it as stash@{0} (git -C upstream stash list)')), d.log.lines.join('\n'));
  });

  it(
    'refuses when mlmd-remote/work holds commits the patch files do not hold, even with HEAD elsewhere',
    async () => {
      const fx = await edited();
      const mine = await fx.upstreamRepo.commit({ 'README.md': 'my unexported work\n' }, patchMessage('readme: my work', { why: 'mine', upstreamStatus: 'Pending', dropWhen: 'never' }));
      await fx.upstreamRepo.run(['checkout', '--quiet', '--detach', up.pin]);
      const err = await rejection(() => edit({ project: fx.project }, deps()));
      assert.ok(err instanceof RefusedError, String(err));
      assert.equal(await fx.upstreamRepo.out(['rev-parse', `refs/heads/${WORK_BRANCH}`]), mine);
    },
  );

  it('edit --force when a patch does not apply stops there as a git am session; the next edit names it and git am --abort, and a branch at the pin holds nothing to keep', async () => {
    const fx = await makeMaintainerProject(up);
    const file = path.join(fx.root, 'patches', 'build-python-only.patch');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('-_py_extension = ["metadata_store_extension.so"]', '-_py_extension = ["something else"]'));
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'my local edit\n' });
    const res = await edit({ project: fx.project, force: true }, deps());
    assert.equal(res.status, 'stopped');
    assert.equal(res.stopped!.patch, 'build-python-only.patch');
    assert.deepEqual(res.commits.map((c) => c.patch), ['WORKSPACE.patch']);
    assert.equal(res.savedTo, 'stash@{0} (git -C upstream stash list)');
    assert.match(res.next!, /git -C upstream am --continue/);
    const err = await rejection(() => edit({ project: fx.project }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.match(err.message, /^a git am session is open in upstream\/ \(an edit that stopped at a patch which does not apply, or your own\); edit would overwrite it$/);
    const aborted = await runHinted(fx.root, err.hint, 'git -C upstream am --abort');
    assert.equal(aborted.code, 0, aborted.stderr);
    // What the bug left: mlmd-remote/work at the pin, HEAD elsewhere. That is nothing to keep.
    assert.equal(await fx.upstreamRepo.out(['rev-parse', `refs/heads/${WORK_BRANCH}`]), up.pin);
    await fx.upstreamRepo.run(['checkout', '--quiet', '--detach', up.pin]);
    const second = await edit({ project: fx.project }, deps());
    assert.equal(second.status, 'stopped', 'the patch still does not apply, and nothing refused');
    assert.match(await fx.upstreamRepo.out(['stash', 'show', '-p', 'stash@{0}']), /^\+my local edit$/m, 'the forced edit saved the local edit');
  });

  it('check\'s fix for a patch that does not apply works: edit stops at it, the maintainer makes its change, git am --continue, export; check passes', async () => {
    const fx = await makeMaintainerProject(up);
    const file = path.join(fx.root, 'patches', 'build-python-only.patch');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('-_py_extension = ["metadata_store_extension.so"]', '-_py_extension = ["something else"]'));
    const checked = await runHinted(fx.root, 'mlmd-remote check', 'mlmd-remote check');
    assert.equal(checked.code, 4);
    assert.match(checked.stdout, /^Fix: mlmd-remote edit stops at build-python-only\.patch/m);
    const fix = checked.stdout.split('\n').find((l) => l.startsWith('Fix: '))!;
    const edited = await runHinted(fx.root, fix, 'mlmd-remote edit');
    assert.equal(edited.code, 4, edited.stderr);
    assert.match(edited.stdout, /stopped at build-python-only\.patch, which does not apply/);
    // The change the patch means, made by hand.
    writeTree(fx.upstreamRepo.dir, { 'ml_metadata/BUILD': MAIN_SERIES.patches[0]!.files['ml_metadata/BUILD'] as string });
    assert.equal((await runHinted(fx.root, fix, 'git -C upstream add', ['ml_metadata/BUILD'])).code, 0);
    const cont = await runHinted(fx.root, fix, 'git -C upstream am --continue');
    assert.equal(cont.code, 0, cont.stderr);
    const exported = await runHinted(fx.root, fix, 'mlmd-remote export');
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /~ updated build-python-only\.patch/);
    const after = await runHinted(fx.root, 'mlmd-remote check', 'mlmd-remote check');
    assert.equal(after.code, 0, after.stdout + after.stderr);
  });

});

// ---------------------------------------------------------------------------

describe('export', () => {
  it('after edit with no change: changes nothing, every patch file byte for byte; --verbatim writes the same bytes', async () => {
    const fx = await edited();
    const before = seriesFiles(fx.root);
    const head = await fx.upstreamRepo.head();
    const res = await exportSeries({ project: fx.project }, deps());
    assert.equal(res.changesNothing, true);
    assert.equal(res.written, false);
    assert.equal(res.seriesChanged, false);
    assert.deepEqual(res.removed, []);
    assert.equal(res.base, up.pin);
    assert.equal(res.head, head);
    assert.deepEqual(actions(res), MAIN_NAMES.map((n) => [n, 'kept']));
    assertSameBytes(seriesFiles(fx.root), before);
    assert.equal(fs.readFileSync(fx.project.seriesFile, 'utf8'), seriesText(MAIN_NAMES));

    // The fixture's files are exactly what the export makes: re-formatting every patch gives the same bytes.
    const verbatim = await exportSeries({ project: fx.project, verbatim: true }, deps());
    assert.deepEqual(actions(verbatim), MAIN_NAMES.map((n) => [n, 'updated']));
    assert.equal(verbatim.written, true);
    assertSameBytes(seriesFiles(fx.root), before);
  });

  it('after git commit --amend of one patch, rewrites only that file', async () => {
    const fx = await edited();
    const before = seriesFiles(fx.root);
    writeTree(fx.upstreamRepo.dir, { 'setup.py': 'from setuptools import setup\n\nsetup(\n    name="ml-metadata-remote",\n    version="1.0.0",\n    has_ext_modules=lambda: False,\n    zip_safe=True,\n)\n' });
    await fx.upstreamRepo.run(['commit', '--quiet', '--all', '--amend', '--no-edit']);
    const head = await fx.upstreamRepo.head();
    const res = await exportSeries({ project: fx.project }, deps());
    assert.equal(res.changesNothing, false);
    assert.equal(res.written, true);
    assert.equal(res.seriesChanged, false);
    assert.deepEqual(res.removed, []);
    assert.deepEqual(actions(res), [
      ['WORKSPACE.patch', 'kept'],
      ['build-python-only.patch', 'kept'],
      ['metadata-store-grpc-only.patch', 'kept'],
      ['setup-pure-wheel.patch', 'updated'],
    ]);
    const after = seriesFiles(fx.root);
    assertSameBytes(after, before, ['patches/setup-pure-wheel.patch']);
    const written = after['patches/setup-pure-wheel.patch']!;
    assert.ok(!written.equals(before['patches/setup-pure-wheel.patch']!));
    assert.ok(written.equals(await formatPatch(fx.upstreamRepo, head)));
    assert.match(written.toString(), /^\+ {4}zip_safe=True,$/m);
    assert.match(written.toString(), /^Subject: setup: a pure wheel named ml-metadata-remote$/m);
  });

  it('a new commit becomes a patch file named from its subject, listed last in patches/series', async () => {
    const fx = await edited();
    const before = seriesFiles(fx.root);
    const commit = await fx.upstreamRepo.commit(
      { 'ml_metadata/remote_version.py': "REMOTE = True\n" },
      patchMessage('version: say it is the remote build', { why: 'users can tell the wheels apart', upstreamStatus: 'Inappropriate [remote-only build]', dropWhen: 'never' }),
    );
    const res = await exportSeries({ project: fx.project }, deps());
    const name = 'version-say-it-is-the-remote-build.patch';
    assert.deepEqual(actions(res), [...MAIN_NAMES.map((n) => [n, 'kept']), [name, 'added']]);
    assert.equal(res.patches[4]!.commit, commit);
    assert.equal(res.patches[4]!.subject, 'version: say it is the remote build');
    assert.equal(res.seriesChanged, true);
    assert.equal(fs.readFileSync(fx.project.seriesFile, 'utf8'), seriesText([...MAIN_NAMES, name]));
    const after = seriesFiles(fx.root);
    assert.ok(after[`patches/${name}`]!.equals(await formatPatch(fx.upstreamRepo, commit)));
    assertSameBytes(after, before, [`patches/${name}`, 'patches/series']);
  });

  it('a new patch whose name a patch at the root has gets a name of its own in patches/; the root one stays', async () => {
    const fx = await makeMaintainerProject(up);
    fs.renameSync(path.join(fx.root, 'patches', 'setup-pure-wheel.patch'), path.join(fx.root, 'setup-pure-wheel.patch'));
    fs.writeFileSync(fx.project.seriesFile, seriesText(['WORKSPACE.patch', 'build-python-only.patch', 'metadata-store-grpc-only.patch']).replace(/\n$/, '\n../setup-pure-wheel.patch\n'));
    await fx.superRepo.commit({}, 'setup-pure-wheel.patch at the root');
    await edit({ project: fx.project }, deps());
    const before = seriesFiles(fx.root);
    await fx.upstreamRepo.commit({ 'ml_metadata/remote_version.py': 'REMOTE = True\n' }, patchMessage('setup: pure wheel', { why: 'a name that slugifies like the root patch', upstreamStatus: 'Pending', dropWhen: 'never' }));
    const res = await exportSeries({ project: fx.project }, deps());
    assert.deepEqual(res.patches.map((p) => [p.name, p.path, p.action]), [
      ['WORKSPACE.patch', 'WORKSPACE.patch', 'kept'],
      ['build-python-only.patch', 'patches/build-python-only.patch', 'kept'],
      ['metadata-store-grpc-only.patch', 'patches/metadata-store-grpc-only.patch', 'kept'],
      ['setup-pure-wheel.patch', 'setup-pure-wheel.patch', 'kept'],
      ['setup-pure-wheel-4.patch', 'patches/setup-pure-wheel-4.patch', 'added'],
    ]);
    assert.deepEqual(res.removed, []);
    assertSameBytes(seriesFiles(fx.root), before, ['patches/series', 'patches/setup-pure-wheel-4.patch']);
    assert.match(fs.readFileSync(fx.project.seriesFile, 'utf8'), /^\.\.\/setup-pure-wheel\.patch\nsetup-pure-wheel-4\.patch\n$/m);
  });

  it('refuses, before writing anything, a patch at the root that the series does not list (the layout before ../NAME lines); sync says so too', async () => {
    const fx = await edited();
    const before = seriesFiles(fx.root);
    fs.writeFileSync(fx.project.seriesFile, fs.readFileSync(fx.project.seriesFile, 'utf8').replace('../WORKSPACE.patch\n', ''));
    for (const run of [() => exportSeries({ project: fx.project }, deps()), () => sync({ project: fx.project }, deps())]) {
      const err = await rejection(run);
      assert.ok(err instanceof UsageError, String(err));
      assert.equal(err.message, 'WORKSPACE.patch is a patch at the project root that patches/series does not list');
    }
    assertSameBytes(seriesFiles(fx.root), before, ['patches/series']);
  });

  it('a commit without the Why trailer is a PatchError naming the field, and nothing is written', async () => {
    const fx = await edited();
    const before = seriesFiles(fx.root);
    const commit = await fx.upstreamRepo.commit({ 'README.md': 'tweaked\n' }, 'tweak: no reasons given\n\nUpstream-Status: Pending\nDrop-When: never\n');
    const err = await rejection(() => exportSeries({ project: fx.project }, deps()));
    assert.ok(err instanceof PatchError, String(err));
    assert.equal(err.exitCode, 4);
    assert.equal(err.message, `commit ${commit.slice(0, 12)} lacks the header field Why`);
    assertSameBytes(seriesFiles(fx.root), before);
  });

  it('an empty commit on the work branch is named, and the hint\'s way to drop it works', async () => {
    const fx = await edited();
    const before = seriesFiles(fx.root);
    const empty = await fx.upstreamRepo.commit({}, patchMessage('nothing: at all', { why: 'none', upstreamStatus: 'Pending', dropWhen: 'never' }));
    const err = await rejection(() => exportSeries({ project: fx.project }, deps()));
    assert.ok(err instanceof PatchError, String(err));
    assert.equal(err.message, `commit ${empty.slice(0, 12)} changes no file, so it makes no patch`);
    assert.equal((await runHinted(fx.root, err.hint, 'git -C upstream reset --hard HEAD^')).code, 0);
    assert.equal((await exportSeries({ project: fx.project }, deps())).changesNothing, true);
    assertSameBytes(seriesFiles(fx.root), before);
  });

  it('refuses (RefusedError) with uncommitted changes in upstream/', async () => {
    const fx = await edited();
    const before = seriesFiles(fx.root);
    writeTree(fx.upstreamRepo.dir, { 'setup.py': 'not committed\n' });
    const err = await rejection(() => exportSeries({ project: fx.project }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.exitCode, 3);
    assert.equal(err.message, 'upstream/ has changes that are not committed, which export would leave out:\nM setup.py');
    assertSameBytes(seriesFiles(fx.root), before);
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'setup.py'), 'utf8'), 'not committed\n');
  });

  it('refuses (RefusedError) during a rebase', async () => {
    const { fx } = await stopped();
    const before = seriesFiles(fx.root);
    const err = await rejection(() => exportSeries({ project: fx.project }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.exitCode, 3);
    assert.equal(err.message, 'a rebase is in progress in upstream/');
    assertSameBytes(seriesFiles(fx.root), before);
  });

  it('--dry-run reports the change and writes nothing', async () => {
    const fx = await edited();
    const before = seriesFiles(fx.root);
    writeTree(fx.upstreamRepo.dir, { 'setup.py': 'from setuptools import setup\n\nsetup(name="ml-metadata-remote")\n' });
    await fx.upstreamRepo.run(['commit', '--quiet', '--all', '--amend', '--no-edit']);
    await fx.upstreamRepo.commit({ 'ml_metadata/remote_version.py': 'REMOTE = True\n' }, patchMessage('version: remote', { why: 'x', upstreamStatus: 'Pending', dropWhen: 'never' }));
    const res = await exportSeries({ project: fx.project, dryRun: true }, deps());
    assert.equal(res.written, false);
    assert.equal(res.changesNothing, false);
    assert.equal(res.seriesChanged, true);
    assert.deepEqual(actions(res), [
      ['WORKSPACE.patch', 'kept'],
      ['build-python-only.patch', 'kept'],
      ['metadata-store-grpc-only.patch', 'kept'],
      ['setup-pure-wheel.patch', 'updated'],
      ['version-remote.patch', 'added'],
    ]);
    assertSameBytes(seriesFiles(fx.root), before);
  });

  it('keeps a later patch byte for byte when an earlier patch only moves its hunks (line numbers and index lines)', async () => {
    const fx = await edited();
    const repo = fx.upstreamRepo;
    const before = seriesFiles(fx.root);
    const [, buildCommit] = (await repo.out(['rev-list', '--reverse', `${up.pin}..HEAD`])).split('\n');
    // A fixup of the BUILD patch that also inserts 3 lines into metadata_store.py above hunk 2 of the later metadata-store patch.
    const withInsert = patchedStore();
    withInsert.splice(15, 0, '# inserted by the BUILD patch: a', '# inserted by the BUILD patch: b', '# inserted by the BUILD patch: c');
    writeTree(repo.dir, { [STORE_PATH]: joinLines(withInsert) });
    await repo.run(['commit', '--quiet', '--all', `--fixup=${buildCommit!}`]);
    await repo.run(['rebase', '--quiet', '--interactive', '--autosquash', up.pin], { env: { GIT_SEQUENCE_EDITOR: 'true', GIT_EDITOR: 'true' } });
    const commits = (await repo.out(['rev-list', '--reverse', `${up.pin}..HEAD`])).split('\n');
    assert.equal(commits.length, 4, 'the fixup was squashed');
    assert.equal(await repo.out(['symbolic-ref', '--short', 'HEAD']), WORK_BRANCH);

    const res = await exportSeries({ project: fx.project }, deps());
    assert.deepEqual(actions(res), [
      ['WORKSPACE.patch', 'kept'],
      ['build-python-only.patch', 'updated'],
      ['metadata-store-grpc-only.patch', 'kept'],
      ['setup-pure-wheel.patch', 'kept'],
    ]);
    const after = seriesFiles(fx.root);
    assertSameBytes(after, before, ['patches/build-python-only.patch']);
    assert.ok(after['patches/build-python-only.patch']!.equals(await formatPatch(repo, commits[1]!)));
    assert.match(after['patches/build-python-only.patch']!.toString(), /^\+# inserted by the BUILD patch: a$/m);

    // Not vacuous: re-formatting the later commit would differ, and only in its @@ and index lines.
    const kept = before['patches/metadata-store-grpc-only.patch']!.toString().split('\n');
    const fresh = (await formatPatch(repo, commits[2]!)).toString().split('\n');
    assert.equal(fresh.length, kept.length);
    const differing = fresh.map((l, i) => [kept[i]!, l] as const).filter(([a, b]) => a !== b);
    assert.ok(differing.length > 0, 'the later patch would have churned');
    for (const [a, b] of differing) assert.ok((a.startsWith('@@ ') && b.startsWith('@@ ')) || (a.startsWith('index ') && b.startsWith('index ')), `${a} / ${b}`);
    assert.ok(fresh.includes('@@ -31,7 +31,7 @@ SETTING_27 = 27'), fresh.join('\n'));

    // And the kept file still describes the series: check passes, with hunk 2 of the kept patch at offset +3.
    const checked = await check({ project: fx.project }, deps());
    assert.deepEqual(checked.problems, []);
    assert.equal(checked.ok, true);
    assert.deepEqual(checked.apply[2]!.offsets, [{ file: STORE_PATH, hunk: 2, offset: 3 }]);
  });
});

// ---------------------------------------------------------------------------

describe('check', () => {
  it('is ok on a fresh series, and changes nothing in upstream/', async () => {
    const fx = await makeMaintainerProject(up);
    const before = await upstreamSnapshot(fx.upstreamRepo);
    const res = await check({ project: fx.project }, deps());
    assert.equal(res.ok, true);
    assert.deepEqual(res.problems, []);
    assert.equal(res.tag, 'v1.0.0');
    assert.equal(res.commit, up.pin);
    assert.deepEqual(res.apply.map((p) => [p.name, p.status]), MAIN_NAMES.map((n) => [n, 'clean']));
    assert.equal(res.export!.changesNothing, true);
    assert.deepEqual(actions(res.export!), MAIN_NAMES.map((n) => [n, 'kept']));
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), before);
  });

  it('is not ok when a patch file was regenerated with plain git format-patch (numbered subject, real commit id, diffstat)', async () => {
    const fx = await makeMaintainerProject(up);
    const file = path.join(fx.root, 'patches', 'setup-pure-wheel.patch');
    const plain = (await up.work.run(['format-patch', '-1', '--stdout', up.seriesCommits.get(MAIN_SERIES)![3]!])).stdout;
    assert.match(plain, /^Subject: \[PATCH\] setup: a pure wheel named ml-metadata-remote$/m);
    assert.match(plain, /^ 1 file changed, /m);
    fs.writeFileSync(file, plain);
    const res = await check({ project: fx.project }, deps());
    assert.equal(res.ok, false);
    assert.deepEqual(res.apply.map((p) => p.status), ['clean', 'clean', 'clean', 'clean'], 'it still applies');
    assert.deepEqual(res.problems, ['export would rewrite setup-pure-wheel.patch']);
    assert.deepEqual(actions(res.export!), [...MAIN_NAMES.slice(0, 3).map((n) => [n, 'kept']), ['setup-pure-wheel.patch', 'updated']]);
  });

  it('is not ok when the mail headers of a patch were reordered by hand', async () => {
    const fx = await makeMaintainerProject(up);
    const file = path.join(fx.root, 'patches', 'build-python-only.patch');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.match(lines[1]!, /^From: /);
    assert.match(lines[2]!, /^Date: /);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    fs.writeFileSync(file, lines.join('\n'));
    const res = await check({ project: fx.project }, deps());
    assert.equal(res.ok, false);
    assert.deepEqual(res.problems, ['export would rewrite build-python-only.patch']);
  });

  it('stays ok for a patch made with more context lines: its header and effect are the same, so export keeps it', async () => {
    const fx = await makeMaintainerProject(up);
    const file = path.join(fx.root, 'patches', 'metadata-store-grpc-only.patch');
    const wide = (await up.work.run([...FORMAT_PATCH, '-U5', '-1', up.seriesCommits.get(MAIN_SERIES)![2]!])).stdout;
    assert.notEqual(wide, fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, wide);
    const res = await check({ project: fx.project }, deps());
    assert.deepEqual(res.problems, []);
    assert.equal(res.ok, true);
    assert.equal(res.export!.patches[2]!.action, 'kept');
  });

  it('is not ok when a patch does not apply, naming the file', async () => {
    const fx = await makeMaintainerProject(up);
    const file = path.join(fx.root, 'patches', 'build-python-only.patch');
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.includes('-_py_extension = ["metadata_store_extension.so"]'));
    fs.writeFileSync(file, text.replace('-_py_extension = ["metadata_store_extension.so"]', '-_py_extension = ["something else"]'));
    const res = await check({ project: fx.project }, deps());
    assert.equal(res.ok, false);
    assert.equal(res.export, null);
    assert.deepEqual(res.apply.map((p) => p.status), ['clean', 'failed', 'skipped', 'skipped']);
    assert.equal(res.apply[1]!.failure!.file, 'ml_metadata/BUILD');
    assert.equal(res.problems.length, 1);
    assert.ok(res.problems[0]!.startsWith('build-python-only.patch does not apply: '), res.problems[0]);
    assert.ok(res.problems[0]!.includes('ml_metadata/BUILD'), res.problems[0]);
  });
});

// ---------------------------------------------------------------------------
// Every hint names a command that works in the state it is given in: these
// tests run the command the hint names, as it names it.

describe('hints that work', () => {
  it('check\'s fix for a patch file that export would rewrite works: edit, then export', async () => {
    const fx = await makeMaintainerProject(up);
    const file = path.join(fx.root, 'patches', 'setup-pure-wheel.patch');
    fs.writeFileSync(file, (await up.work.run(['format-patch', '-1', '--stdout', up.seriesCommits.get(MAIN_SERIES)![3]!])).stdout);
    const checked = await runHinted(fx.root, 'mlmd-remote check', 'mlmd-remote check');
    assert.equal(checked.code, 4);
    const fix = checked.stdout.split('\n').find((l) => l.startsWith('Fix: '))!;
    assert.equal((await runHinted(fx.root, fix, 'mlmd-remote edit')).code, 0);
    assert.equal((await runHinted(fx.root, fix, 'mlmd-remote export')).code, 0);
    assert.equal((await runHinted(fx.root, 'mlmd-remote check', 'mlmd-remote check')).code, 0);
  });

  it('a truncated patch file: both ways the hint names bring it back (git checkout HEAD, or export from its commit)', async () => {
    const fx = await makeMaintainerProject(up);
    const file = path.join(fx.root, 'patches', 'metadata-store-grpc-only.patch');
    const whole = fs.readFileSync(file);
    const truncate = () => fs.writeFileSync(file, whole.subarray(0, whole.length - 40));
    truncate();
    const err = await rejection(() => check({ project: fx.project }, deps()));
    assert.ok(err instanceof PatchError, String(err));
    assert.match(err.message, /truncated|ends early/);
    assert.equal(err.hint, 'restore it from the last commit (git checkout HEAD -- patches/metadata-store-grpc-only.patch); or, when upstream/ holds the series as commits (on mlmd-remote/work after mlmd-remote edit), write it again from its commit with mlmd-remote export');
    assert.equal((await runHinted(fx.root, err.hint, 'git checkout HEAD -- patches/metadata-store-grpc-only.patch')).code, 0);
    assert.equal((await check({ project: fx.project }, deps())).ok, true);
    // With the series as commits in upstream/, export writes it again, byte for byte.
    await edit({ project: fx.project }, deps());
    truncate();
    const exported = await runHinted(fx.root, err.hint, 'mlmd-remote export');
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok(fs.readFileSync(file).equals(whole));
    assert.equal((await check({ project: fx.project }, deps())).ok, true);
  });

  it('a dirty upstream/: the hint\'s stash lets the refused command run, and its way to a patch (stash, edit, stash pop, commit, export) works', async () => {
    const fx = await makeMaintainerProject(up);
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'my local edit\n' });
    const err = await rejection(() => rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.hint, 'set the changes aside with: git -C upstream stash push --include-untracked; to make them a patch instead, stash them, run mlmd-remote edit, git -C upstream stash pop, commit them (with Why/Upstream-Status/Drop-When in the message), then mlmd-remote export; or re-run with --force, which saves it first (a stash or a backup branch) and then proceeds');
    assert.equal((await runHinted(fx.root, err.hint, 'git -C upstream stash push --include-untracked')).code, 0);
    assert.equal((await runHinted(fx.root, err.hint, 'mlmd-remote edit')).code, 0);
    assert.equal((await runHinted(fx.root, err.hint, 'git -C upstream stash pop')).code, 0);
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'README.md'), 'utf8'), 'my local edit\n');
    await fx.upstreamRepo.run(['commit', '--quiet', '-am', patchMessage('readme: mine', { why: 'mine', upstreamStatus: 'Pending', dropWhen: 'never' })]);
    const exported = await runHinted(fx.root, err.hint, 'mlmd-remote export');
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /\+ added {3}readme-mine\.patch/);
    assert.equal((await check({ project: loadProject(fx.root, { exact: true }) }, deps())).ok, true);
  });

  it('rebase after edit plus an untracked file says what is there: the exported series and the untracked file; the hint\'s stash lets it run', async () => {
    const fx = await edited();
    writeTree(fx.upstreamRepo.dir, { 'notes.txt': 'my notes\n' });
    const head = await fx.upstreamRepo.head();
    const err = await rejection(() => rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.message, `upstream/ holds work that rebase would overwrite: at ${head.slice(0, 12)}: 4 commit(s) on the pin that the patch files already hold, and 1 uncommitted change(s) on top (notes.txt (untracked))`);
    assert.equal(err.hint, 'set the changes aside with: git -C upstream stash push --include-untracked; or make them a patch: git -C upstream add -A && git -C upstream commit (with Why/Upstream-Status/Drop-When in the message), then mlmd-remote export; or re-run with --force, which saves it first (a stash or a backup branch) and then proceeds');
    assert.equal((await runHinted(fx.root, err.hint, 'git -C upstream stash push --include-untracked')).code, 0);
    assert.equal((await rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps())).status, 'done');
    assert.match(await fx.upstreamRepo.out(['stash', 'show', '--include-untracked', '--name-only', 'stash@{0}']), /^notes\.txt$/m);
  });

  it('the same after edit, made a patch as the hint\'s other way says: add, commit, export', async () => {
    const fx = await edited();
    writeTree(fx.upstreamRepo.dir, { 'notes.txt': 'my notes\n' });
    const err = await rejection(() => rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps()));
    const made = await runHinted(fx.root, (err as RefusedError).hint, 'git -C upstream add -A && git -C upstream commit', ['--quiet', '-m', patchMessage('notes: mine', { why: 'mine', upstreamStatus: 'Pending', dropWhen: 'never' })]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await runHinted(fx.root, (err as RefusedError).hint, 'mlmd-remote export')).code, 0);
    assert.deepEqual(fs.readFileSync(fx.project.seriesFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')), ['../WORKSPACE.patch', ...MAIN_NAMES.slice(1), 'notes-mine.patch']);
  });

  it('the pin disagreeing with itself after a rebase (mlmd-remote.json put back by hand): both ways the hint names work, a staged submodule pointer included', async () => {
    for (const way of ['back', 'keep'] as const) {
      const fx = await makeMaintainerProject(up);
      assert.equal((await rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps())).status, 'done');
      await fx.superRepo.run(['checkout', '--', 'mlmd-remote.json']);
      const project = loadProject(fx.root, { exact: true });
      const err = await rejection(() => readPin(project, deps().git));
      assert.ok(err instanceof SupplyChainError, String(err));
      assert.equal(err.hint, `to go back to the pin of the last commit: git checkout HEAD -- mlmd-remote.json upstream (the staged submodule pointer too), then mlmd-remote sync; to keep the pin mlmd-remote.json names: git update-index --cacheinfo 160000,${up.pin},upstream`);
      if (way === 'back') {
        // The old hint's git checkout -- leaves the staged pointer as it is.
        await git(fx.root, ['checkout', '--', 'mlmd-remote.json', 'upstream']);
        assert.ok((await rejection(() => readPin(project, deps().git))) instanceof SupplyChainError);
        assert.equal((await runHinted(fx.root, err.hint, 'git checkout HEAD -- mlmd-remote.json upstream')).code, 0);
        const synced = await runHinted(fx.root, err.hint, 'mlmd-remote sync');
        assert.equal(synced.code, 0, synced.stderr);
        assert.equal(await fx.upstreamRepo.head(), up.pin);
        assert.equal(await fx.upstreamRepo.status(), '');
        assert.equal(await fx.superRepo.status(), '');
      } else {
        assert.equal((await runHinted(fx.root, err.hint, `git update-index --cacheinfo 160000,${up.pin},upstream`)).code, 0);
        assert.deepEqual(await readPin(project, deps().git), { tag: 'v1.0.0', commit: up.pin });
      }
    }
  });

  it('the pin disagreeing with itself in the middle of a rebase: the hint says continue or abort, and abort works', async () => {
    const { fx } = await stopped();
    await fx.superRepo.run(['update-index', '--cacheinfo', `160000,${up.tags['v1.5.0']},upstream`]);
    const err = await rejection(() => readPin(fx.project, deps().git));
    assert.equal((err as SupplyChainError).hint, 'a rebase has not finished: finish it with mlmd-remote rebase --continue, or undo it with mlmd-remote rebase --abort');
    assert.equal((await runHinted(fx.root, (err as SupplyChainError).hint, 'mlmd-remote rebase --abort')).code, 0);
    assert.deepEqual(await readPin(fx.project, deps().git), { tag: 'v1.0.0', commit: up.pin });
  });
});

// ---------------------------------------------------------------------------

describe('rebase', () => {
  it('all clean: done, the pin and the gitlink move, the patch files are kept', async () => {
    const fx = await makeMaintainerProject(up);
    const before = seriesFiles(fx.root);
    const target = up.tags['v1.1.0']!;
    const d = deps();
    const res = await rebaseStart({ project: fx.project, tag: 'v1.1.0' }, d);
    assert.equal(res.status, 'done');
    assert.deepEqual(res.from, { tag: 'v1.0.0', commit: up.pin });
    assert.deepEqual(res.to, { tag: 'v1.1.0', commit: target });
    assert.equal(res.branch, 'mlmd-remote/rebase-v1.1.0');
    assert.deepEqual(statuses(res), MAIN_NAMES.map((n) => [n, 'clean']));
    for (const p of res.patches) assert.deepEqual(p.offsets, []);
    assert.equal(res.export!.changesNothing, true);
    assert.deepEqual(actions(res.export!), MAIN_NAMES.map((n) => [n, 'kept']));

    assert.equal(fs.readFileSync(fx.project.configPath, 'utf8'), `${JSON.stringify(projectConfig(up.bare, 'v1.1.0', target), null, 2)}\n`);
    assert.equal(await gitlink(fx), `160000 ${target} 0\tupstream`);
    assertSameBytes(seriesFiles(fx.root), before, ['mlmd-remote.json']);

    // The branch holds the series as commits on the tag; upstream/ is at the new pin with the series applied.
    const repo = fx.upstreamRepo;
    const commits = (await repo.out(['rev-list', '--reverse', `${target}..refs/heads/${res.branch}`])).split('\n');
    assert.deepEqual(commits, res.patches.map((p) => p.commit));
    assert.deepEqual(await Promise.all(commits.map((c) => repo.out(['log', '-1', '--format=%s', c]))), MAIN_SUBJECTS);
    assert.equal(await repo.head(), target);
    assert.equal(await repo.out(['write-tree']), await repo.out(['rev-parse', `${res.branch}^{tree}`]));
    assert.equal(fs.readFileSync(path.join(repo.dir, 'README.md'), 'utf8'), '# ML Metadata (fixture)\n\nRelease 1.1.0.\n');
    assert.equal(fs.readFileSync(path.join(repo.dir, 'ml_metadata/BUILD'), 'utf8'), MAIN_SERIES.patches[0]!.files['ml_metadata/BUILD']);
    assert.equal(fs.existsSync(statePath(fx)), false);
    const report = JSON.parse(fs.readFileSync(path.join(path.dirname(path.dirname(statePath(fx))), 'last-rebase.json'), 'utf8')) as RebaseResult;
    assert.equal(report.status, 'done');
    assert.ok(d.log.lines.includes('done Export the series on v1.1.0 and move the pin: v1.0.0 -> v1.1.0'), d.log.lines.join('\n'));

    // The moved pin agrees with itself and the series checks clean on it.
    const checked = await check({ project: loadProject(fx.root, { exact: true }) }, deps());
    assert.equal(checked.ok, true, checked.problems.join('\n'));
    assert.equal(checked.commit, target);
  });

  it('a patch at the root is an ordinary entry: in any place of the order, kept where it is by check, --abort, rebase and export', async () => {
    const fx = await makeMaintainerProject(up);
    fs.renameSync(path.join(fx.root, 'patches', 'setup-pure-wheel.patch'), path.join(fx.root, 'setup-pure-wheel.patch'));
    const order = ['build-python-only.patch', '../WORKSPACE.patch', 'metadata-store-grpc-only.patch', '../setup-pure-wheel.patch'];
    fs.writeFileSync(fx.project.seriesFile, `${order.join('\n')}\n`);
    await fx.superRepo.commit({}, 'Keep setup-pure-wheel.patch at the root, after WORKSPACE.patch moved down');
    const before = seriesFiles(fx.root);
    assert.deepEqual(Object.keys(before).filter((k) => !k.startsWith('patches/')), ['mlmd-remote.json', 'WORKSPACE.patch', 'setup-pure-wheel.patch']);
    const names = ['build-python-only.patch', 'WORKSPACE.patch', 'metadata-store-grpc-only.patch', 'setup-pure-wheel.patch'];

    const checked = await check({ project: fx.project }, deps());
    assert.equal(checked.ok, true, checked.problems.join('\n'));
    assert.deepEqual(checked.apply.map((p) => [p.name, p.path]), [
      ['build-python-only.patch', 'patches/build-python-only.patch'],
      ['WORKSPACE.patch', 'WORKSPACE.patch'],
      ['metadata-store-grpc-only.patch', 'patches/metadata-store-grpc-only.patch'],
      ['setup-pure-wheel.patch', 'setup-pure-wheel.patch'],
    ]);

    // Stopped on a conflict, a rewritten root patch and a deleted one: --abort puts both back.
    await stopped(fx);
    fs.appendFileSync(path.join(fx.root, 'setup-pure-wheel.patch'), 'changed\n');
    fs.rmSync(path.join(fx.root, 'WORKSPACE.patch'));
    // A file of the maintainer's at the root, made during the conflict, is not the rebase's to remove.
    fs.writeFileSync(path.join(fx.root, 'resolution.patch'), 'mine\n');
    assert.equal((await rebaseAbort({ project: fx.project }, deps())).status, 'aborted');
    assert.equal(fs.readFileSync(path.join(fx.root, 'resolution.patch'), 'utf8'), 'mine\n');
    fs.rmSync(path.join(fx.root, 'resolution.patch'));
    assertSameBytes(seriesFiles(fx.root), before);

    const res = await rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps());
    assert.equal(res.status, 'done');
    assert.deepEqual(statuses(res), names.map((n) => [n, 'clean']));
    assert.deepEqual(res.export!.patches.map((p) => [p.name, p.path, p.action]), checked.apply.map((p) => [p.name, p.path, 'kept']));
    assertSameBytes(seriesFiles(fx.root), before, ['mlmd-remote.json']);
  });

  it('offset: upstream inserted lines above a hunk', async () => {
    const fx = await makeMaintainerProject(up);
    const before = seriesFiles(fx.root);
    const res = await rebaseStart({ project: fx.project, tag: 'v1.2.0' }, deps());
    assert.equal(res.status, 'done');
    assert.deepEqual(statuses(res), [
      ['WORKSPACE.patch', 'clean'],
      ['build-python-only.patch', 'clean'],
      ['metadata-store-grpc-only.patch', 'offset'],
      ['setup-pure-wheel.patch', 'clean'],
    ]);
    assert.deepEqual(res.patches[2]!.offsets, [{ file: STORE_PATH, hunk: 2, offset: 4 }]);
    // No churn: the offset patch keeps its file.
    assert.deepEqual(actions(res.export!), MAIN_NAMES.map((n) => [n, 'kept']));
    assertSameBytes(seriesFiles(fx.root), before, ['mlmd-remote.json']);
  });

  it('already upstream: the tag holds exactly a patch\'s change; the patch is dropped from the series', async () => {
    const fx = await makeMaintainerProject(up);
    const before = seriesFiles(fx.root);
    const res = await rebaseStart({ project: fx.project, tag: 'v1.3.0' }, deps());
    assert.equal(res.status, 'done');
    assert.deepEqual(statuses(res), [
      ['WORKSPACE.patch', 'clean'],
      ['build-python-only.patch', 'already-upstream'],
      ['metadata-store-grpc-only.patch', 'clean'],
      ['setup-pure-wheel.patch', 'clean'],
    ]);
    assert.equal(res.patches[1]!.commit, undefined, 'no commit for a change upstream already has');
    assert.deepEqual(res.export!.removed, ['build-python-only.patch']);
    assert.equal(res.export!.seriesChanged, true);
    assert.deepEqual(actions(res.export!), [
      ['WORKSPACE.patch', 'kept'],
      ['metadata-store-grpc-only.patch', 'kept'],
      ['setup-pure-wheel.patch', 'kept'],
    ]);
    assert.equal(fs.readFileSync(fx.project.seriesFile, 'utf8'), seriesText(['WORKSPACE.patch', 'metadata-store-grpc-only.patch', 'setup-pure-wheel.patch']));
    assert.equal(fs.existsSync(path.join(fx.root, 'patches', 'build-python-only.patch')), false);
    assertSameBytes(seriesFiles(fx.root), before, ['mlmd-remote.json', 'patches/series', 'patches/build-python-only.patch']);
    assert.equal(await fx.upstreamRepo.out(['rev-list', '--count', `${up.tags['v1.3.0']}..refs/heads/${res.branch}`]), '3');
  });

  it('three-way: a change next to the hunk breaks plain apply but merges', async () => {
    const fx = await makeMaintainerProject(up);
    const res = await rebaseStart({ project: fx.project, tag: 'v1.4.0' }, deps());
    assert.equal(res.status, 'done');
    assert.deepEqual(statuses(res), [
      ['WORKSPACE.patch', 'clean'],
      ['build-python-only.patch', 'clean'],
      ['metadata-store-grpc-only.patch', 'three-way'],
      ['setup-pure-wheel.patch', 'clean'],
    ]);
    const merged = res.patches[2]!.commit!;
    assert.match(merged, /^[0-9a-f]{40}$/);
    const v14 = storeLines();
    v14[28] = 'SETTING_29 = 290';
    assert.equal(await fx.upstreamRepo.blob(`${merged}:${STORE_PATH}`), joinLines(patchedStore(v14)));
    // Its hunk no longer matches v1.0.0's context, so the patch file is rewritten from the merged commit.
    assert.deepEqual(actions(res.export!), [
      ['WORKSPACE.patch', 'kept'],
      ['build-python-only.patch', 'kept'],
      ['metadata-store-grpc-only.patch', 'updated'],
      ['setup-pure-wheel.patch', 'kept'],
    ]);
    assert.ok(fs.readFileSync(path.join(fx.root, 'patches', 'metadata-store-grpc-only.patch')).equals(await formatPatch(fx.upstreamRepo, merged)));
  });

  it('conflict: stops naming the file and line ranges; --continue refuses while unresolved; resolved goes on', async () => {
    const fx = await makeMaintainerProject(up);
    const before = seriesFiles(fx.root);
    const linkBefore = await gitlink(fx);
    const res = await rebaseStart({ project: fx.project, tag: 'v1.5.0' }, deps());
    assert.equal(res.status, 'stopped');
    assert.equal(res.export, null);
    assert.match(res.next!, /rebase --continue/);
    assert.deepEqual(statuses(res), [
      ['WORKSPACE.patch', 'clean'],
      ['build-python-only.patch', 'clean'],
      ['metadata-store-grpc-only.patch', 'conflicted'],
      ['setup-pure-wheel.patch', 'pending'],
    ]);
    const conflict = res.patches[2]!.conflict!;
    assert.deepEqual(conflict.files, [{ path: STORE_PATH, hunks: [{ startLine: 31, endLine: 37 }] }]);
    const lines = fs.readFileSync(path.join(fx.upstreamRepo.dir, STORE_PATH), 'utf8').split('\n');
    assert.match(lines[30]!, /^<<<<<<< /);
    assert.match(lines[36]!, /^>>>>>>> /);
    assert.deepEqual(lines.slice(31, 36).filter((l) => !/^(\|{7}|={7})/.test(l)), [UPSTREAM_1_5_LINE_31, '    return metadata_store.MetadataStore(config)', PATCHED_LINE_31]);
    assert.equal(lines.filter((l) => /^(<{7}|>{7}) /.test(l)).length, 2, 'one conflict block');
    // Nothing in the superproject moves before the rebase finishes.
    assertSameBytes(seriesFiles(fx.root), before);
    assert.equal(await gitlink(fx), linkBefore);
    assert.ok(fs.existsSync(statePath(fx)));

    const err = await rejection(() => rebaseContinue({ project: fx.project }, deps()));
    assert.ok(err instanceof PatchError, String(err));
    assert.equal(err.exitCode, 4);
    assert.equal(err.message, `metadata-store-grpc-only.patch still has conflicts in ${STORE_PATH} (lines 31-37)`);
    assert.match(fs.readFileSync(path.join(fx.upstreamRepo.dir, STORE_PATH), 'utf8'), /^<<<<<<< /m, 'the conflict is left as it was');

    const resolved = patchedStore(v15Store());
    writeTree(fx.upstreamRepo.dir, { [STORE_PATH]: joinLines(resolved) });
    await fx.upstreamRepo.run(['add', STORE_PATH]);
    const done = await rebaseContinue({ project: fx.project }, deps());
    assert.equal(done.status, 'done');
    assert.deepEqual(statuses(done), [
      ['WORKSPACE.patch', 'clean'],
      ['build-python-only.patch', 'clean'],
      ['metadata-store-grpc-only.patch', 'resolved'],
      ['setup-pure-wheel.patch', 'clean'],
    ]);
    const resolvedCommit = done.patches[2]!.commit!;
    assert.equal(await fx.upstreamRepo.blob(`${resolvedCommit}:${STORE_PATH}`), joinLines(resolved));
    assert.equal(await fx.upstreamRepo.out(['log', '-1', '--format=%s', resolvedCommit]), 'metadata_store: gRPC only');
    assert.equal(await fx.upstreamRepo.out(['rev-parse', `${resolvedCommit}^`]), done.patches[1]!.commit);
    assert.deepEqual(actions(done.export!), [
      ['WORKSPACE.patch', 'kept'],
      ['build-python-only.patch', 'kept'],
      ['metadata-store-grpc-only.patch', 'updated'],
      ['setup-pure-wheel.patch', 'kept'],
    ]);
    assert.ok(fs.readFileSync(path.join(fx.root, 'patches', 'metadata-store-grpc-only.patch')).equals(await formatPatch(fx.upstreamRepo, resolvedCommit)));
    assert.equal(JSON.parse(fs.readFileSync(fx.project.configPath, 'utf8')).upstream.tag, 'v1.5.0');
    assert.equal(await gitlink(fx), `160000 ${up.tags['v1.5.0']} 0\tupstream`);
    assert.equal(fs.existsSync(path.join(fx.root, '.git', 'modules', 'upstream', 'rebase-apply')), false);
    assert.equal(fs.existsSync(statePath(fx)), false);
  });

  it(
    '--continue also refuses when the file was git-added with the conflict markers still in it',
    async () => {
      const { fx } = await stopped();
      await fx.upstreamRepo.run(['add', STORE_PATH]);
      const err = await rejection(() => rebaseContinue({ project: fx.project }, deps()));
      assert.ok(err instanceof PatchError, String(err));
      assert.doesNotMatch(fs.readFileSync(path.join(fx.root, 'patches', 'metadata-store-grpc-only.patch'), 'utf8'), /^\+<<<<<<< /m);
    },
  );

  it('a conflict resolved by taking upstream\'s side entirely does not drop the patch: v1.5.0 does not have its change, so the conflict comes back', async () => {
    const { fx } = await stopped();
    const before = seriesFiles(fx.root);
    await fx.upstreamRepo.run(['checkout', 'HEAD', '--', STORE_PATH]);
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, STORE_PATH), 'utf8'), joinLines(v15Store()));
    const again = await rebaseContinue({ project: fx.project }, deps());
    assert.equal(again.status, 'stopped');
    assert.deepEqual(statuses(again), [
      ['WORKSPACE.patch', 'clean'],
      ['build-python-only.patch', 'clean'],
      ['metadata-store-grpc-only.patch', 'conflicted'],
      ['setup-pure-wheel.patch', 'pending'],
    ]);
    assert.match(again.next!, /^metadata-store-grpc-only\.patch was not kept: the resolution holds none of its change, and v1\.5\.0 does not have it, so it stays in the series/);
    assert.match(fs.readFileSync(path.join(fx.upstreamRepo.dir, STORE_PATH), 'utf8'), /^<<<<<<< /m, 'the conflict is back');
    assertSameBytes(seriesFiles(fx.root), before);
    // Resolving it for real finishes, with the patch still in the series.
    writeTree(fx.upstreamRepo.dir, { [STORE_PATH]: joinLines(patchedStore(v15Store())) });
    await fx.upstreamRepo.run(['add', STORE_PATH]);
    const done = await rebaseContinue({ project: fx.project }, deps());
    assert.equal(done.status, 'done');
    assert.equal(done.patches[2]!.status, 'resolved');
    assert.deepEqual(done.export!.removed, []);
    assert.equal(fs.readFileSync(fx.project.seriesFile, 'utf8'), seriesText(MAIN_NAMES));
  });

  it(
    'a conflicted patch skipped by hand (git am --skip) is not dropped either: --continue replays it and stops at its conflict again',
    async () => {
      const { fx } = await stopped();
      const before = seriesFiles(fx.root);
      await fx.upstreamRepo.run(['am', '--skip']);
      const again = await rebaseContinue({ project: fx.project }, deps());
      assert.equal(again.status, 'stopped');
      assert.equal(again.patches[2]!.status, 'conflicted');
      assert.deepEqual(again.patches[2]!.conflict!.files, [{ path: STORE_PATH, hunks: [{ startLine: 31, endLine: 37 }] }]);
      assert.match(again.next!, /was not kept/);
      assertSameBytes(seriesFiles(fx.root), before);
      assert.ok(fs.existsSync(path.join(fx.root, '.git', 'modules', 'upstream', 'rebase-apply')), 'the git am session is open again');
    },
  );

  it('finishing never takes a patch out of the series that is not proven upstream (a commit missing from the branch)', async () => {
    const { fx } = await stopped();
    const before = seriesFiles(fx.root);
    writeTree(fx.upstreamRepo.dir, { [STORE_PATH]: joinLines(patchedStore(v15Store())) });
    await fx.upstreamRepo.run(['add', STORE_PATH]);
    await fx.upstreamRepo.run(['am', '--continue']);
    // The resolution's commit goes missing from the branch (a hand reset), and the state says it was resolved.
    const state = readStateFile(fx);
    state.patches[2] = { ...state.patches[2]!, status: 'resolved' };
    state.patches[3] = { ...state.patches[3]!, status: 'clean' };
    fs.writeFileSync(statePath(fx), JSON.stringify(state));
    await fx.upstreamRepo.run(['reset', '--quiet', '--hard', 'HEAD^']);
    const err = await rejection(() => rebaseContinue({ project: fx.project }, deps()));
    assert.ok(err instanceof MlmdError, String(err));
    assert.equal(err.message, 'finishing the rebase would take metadata-store-grpc-only.patch, setup-pure-wheel.patch out of the series, but v1.5.0 does not have their change');
    assertSameBytes(seriesFiles(fx.root), before);
    assert.ok(fs.existsSync(statePath(fx)), 'the rebase is still in progress');
    assert.equal((await rebaseAbort({ project: fx.project }, deps())).status, 'aborted');
    assertSameBytes(seriesFiles(fx.root), before);
  });


  it('a resolution left unstaged is named, not taken for an empty one', async () => {
    const { fx } = await stopped();
    await fx.upstreamRepo.run(['checkout', 'HEAD', '--', STORE_PATH]);
    writeTree(fx.upstreamRepo.dir, { [STORE_PATH]: joinLines(patchedStore(v15Store())) });
    const err = await rejection(() => rebaseContinue({ project: fx.project }, deps()));
    assert.ok(err instanceof PatchError, String(err));
    assert.equal(err.message, `the resolution of metadata-store-grpc-only.patch is not staged (${STORE_PATH})`);
    assert.equal(err.hint, 'git -C upstream add the files, then mlmd-remote rebase --continue');
    await fx.upstreamRepo.run(['add', STORE_PATH]);
    assert.equal((await rebaseContinue({ project: fx.project }, deps())).status, 'done');
  });

  it(
    'WORKSPACE.patch already upstream: the next patch keeps its own name and file',
    async () => {
      const fx = await makeMaintainerProject(up);
      const before = seriesFiles(fx.root);
      const res = await rebaseStart({ project: fx.project, tag: 'v1.6.0' }, deps());
      assert.equal(res.patches[0]!.status, 'already-upstream');
      assert.deepEqual(res.patches.slice(1).map((p) => p.status), ['clean', 'clean', 'clean']);
      assert.ok(fs.existsSync(path.join(fx.root, 'patches', 'build-python-only.patch')), 'build-python-only.patch still exists');
      assert.ok(fs.readFileSync(path.join(fx.root, 'patches', 'build-python-only.patch')).equals(before['patches/build-python-only.patch']!));
      assert.match(fs.readFileSync(fx.project.seriesFile, 'utf8'), /^build-python-only\.patch$/m);
      // Upstream made the trim itself: WORKSPACE.patch is dropped, and the series still reads.
      assert.equal(fs.existsSync(path.join(fx.root, 'WORKSPACE.patch')), false);
      assert.doesNotMatch(fs.readFileSync(fx.project.seriesFile, 'utf8'), /WORKSPACE/);
      assert.deepEqual(res.export!.removed, ['WORKSPACE.patch']);
    },
  );

  it('--abort restores the pin, the patch files, the gitlink and upstream/ (on the work branch) exactly', async () => {
    const fx = await edited();
    const superBefore = seriesFiles(fx.root);
    const linkBefore = await gitlink(fx);
    const upBefore = await upstreamSnapshot(fx.upstreamRepo);
    const superStatus = await fx.superRepo.status();
    assert.equal(upBefore.branch, WORK_BRANCH);
    await stopped(fx);
    assert.notEqual(await fx.upstreamRepo.head(), upBefore.head);
    // What a finish interrupted halfway (or a hand edit) leaves: every file the rebase may write, changed.
    fs.writeFileSync(path.join(fx.root, 'patches', 'added-by-the-rebase.patch'), 'not part of the series\n');
    fs.appendFileSync(path.join(fx.root, 'patches', 'setup-pure-wheel.patch'), 'changed\n');
    fs.appendFileSync(fx.project.seriesFile, 'added-by-the-rebase.patch\n');
    fs.appendFileSync(path.join(fx.root, 'WORKSPACE.patch'), 'changed\n');
    fs.writeFileSync(fx.project.configPath, `${JSON.stringify(projectConfig(up.bare, 'v1.5.0', up.tags['v1.5.0']!), null, 2)}\n`);
    await fx.superRepo.run(['update-index', '--cacheinfo', `160000,${up.tags['v1.5.0']},upstream`]);

    const res = await rebaseAbort({ project: fx.project }, deps());
    assert.equal(res.status, 'aborted');
    assertSameBytes(seriesFiles(fx.root), superBefore);
    assert.equal(fs.existsSync(path.join(fx.root, 'patches', 'added-by-the-rebase.patch')), false);
    assert.equal(await gitlink(fx), linkBefore);
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), upBefore);
    assert.equal(await hasRef(fx.upstreamRepo, 'refs/heads/mlmd-remote/rebase-v1.5.0'), false);
    assert.equal(fs.existsSync(path.join(fx.root, '.git', 'modules', 'upstream', 'rebase-apply')), false);
    assert.equal(fs.existsSync(statePath(fx)), false);
    assert.equal(await fx.superRepo.status(), superStatus);
    // Nothing is left over: a new rebase starts and finishes.
    const again = await rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps());
    assert.equal(again.status, 'done');
  });

  it('--abort restores upstream/ detached at the pin with the applied series in its work tree and index', async () => {
    const fx = await makeMaintainerProject(up);
    await apply({ project: fx.project }, deps());
    const upBefore = await upstreamSnapshot(fx.upstreamRepo);
    assert.notEqual(upBefore.status, '', 'the applied series shows as changes');
    assert.equal(upBefore.branch, '');
    const superBefore = seriesFiles(fx.root);
    await stopped(fx);
    const res = await rebaseAbort({ project: fx.project }, deps());
    assert.equal(res.status, 'aborted');
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), upBefore);
    assert.equal(await fx.upstreamRepo.head(), up.pin);
    assertSameBytes(seriesFiles(fx.root), superBefore);
  });

  it('refuses a second rebase while one is in progress (RefusedError), changing nothing', async () => {
    const { fx } = await stopped();
    const upBefore = await upstreamSnapshot(fx.upstreamRepo);
    const stateBefore = fs.readFileSync(statePath(fx));
    for (const tag of ['v1.1.0', 'v1.5.0']) {
      const err = await rejection(() => rebaseStart({ project: fx.project, tag }, deps()));
      assert.ok(err instanceof RefusedError, String(err));
      assert.equal(err.exitCode, 3);
      assert.equal(err.message, 'a rebase is already in progress in upstream/ (perhaps interrupted)');
    }
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), upBefore);
    assert.ok(fs.readFileSync(statePath(fx)).equals(stateBefore));
    assert.equal(await hasRef(fx.upstreamRepo, 'refs/heads/mlmd-remote/rebase-v1.1.0'), false);
  });

  it('an unknown tag is a UsageError, before anything changes', async () => {
    const fx = await makeMaintainerProject(up);
    const upBefore = await upstreamSnapshot(fx.upstreamRepo);
    const err = await rejection(() => rebaseStart({ project: fx.project, tag: 'v9.9.9' }, deps()));
    assert.ok(err instanceof UsageError, String(err));
    assert.equal(err.exitCode, 2);
    assert.equal(err.message, 'upstream has no tag v9.9.9');
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), upBefore);
    assert.equal(fs.existsSync(statePath(fx)), false);
  });

  it('refuses (RefusedError) when upstream/ is dirty, keeping the edit', async () => {
    const fx = await makeMaintainerProject(up);
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'my local edit\n' });
    const upBefore = await upstreamSnapshot(fx.upstreamRepo);
    const err = await rejection(() => rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.exitCode, 3);
    assert.equal(err.message, 'upstream/ holds work that rebase would overwrite: at the pin with 1 changed file(s) that are not the series (README.md)');
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), upBefore);
    assert.equal(fs.readFileSync(path.join(fx.upstreamRepo.dir, 'README.md'), 'utf8'), 'my local edit\n');
    assert.equal(fs.existsSync(statePath(fx)), false);
  });

  it('refuses (RefusedError) with uncommitted changes to patches/ in the superproject', async () => {
    const fx = await makeMaintainerProject(up);
    fs.appendFileSync(fx.project.seriesFile, '# a note\n');
    const err = await rejection(() => rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.equal(err.exitCode, 3);
    assert.equal(err.message, 'uncommitted changes to the series would be mixed into the rebase:\nM patches/series');
    await fx.superRepo.run(['checkout', '--', 'patches/series']);
    fs.writeFileSync(path.join(fx.root, 'patches', 'new.patch'), 'an untracked patch\n');
    const err2 = await rejection(() => rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps()));
    assert.ok(err2 instanceof RefusedError, String(err2));
    assert.equal(err2.message, 'uncommitted changes to the series would be mixed into the rebase:\n?? patches/new.patch');
    assert.equal(fs.existsSync(statePath(fx)), false);
    assert.equal(await fx.upstreamRepo.head(), up.pin);
  });

  it('interrupted after a stop: --continue in a new run works from the state on disk', async () => {
    const { fx } = await stopped();
    const state = JSON.parse(fs.readFileSync(statePath(fx), 'utf8')) as { to: { tag: string }; patches: Array<{ status: string }> };
    assert.equal(state.to.tag, 'v1.5.0');
    assert.deepEqual(state.patches.map((p) => p.status), ['clean', 'clean', 'conflicted', 'pending']);
    // A new process: a freshly loaded project, new deps, nothing in memory.
    const project: Project = loadProject(fx.root, { exact: true });
    writeTree(fx.upstreamRepo.dir, { [STORE_PATH]: joinLines(patchedStore(v15Store())) });
    await fx.upstreamRepo.run(['add', STORE_PATH]);
    const d = deps();
    const res = await rebaseContinue({ project }, d);
    assert.equal(res.status, 'done');
    assert.deepEqual(res.patches.map((p) => p.status), ['clean', 'clean', 'resolved', 'clean']);
    assert.equal(await gitlink(fx), `160000 ${up.tags['v1.5.0']} 0\tupstream`);
    assert.ok(d.log.lines.includes('done Export the series on v1.5.0 and move the pin: v1.0.0 -> v1.5.0'), d.log.lines.join('\n'));
  });

  it('interrupted after a stop: --abort in a new run works from the state on disk', async () => {
    const fx = await makeMaintainerProject(up);
    const superBefore = seriesFiles(fx.root);
    const linkBefore = await gitlink(fx);
    const upBefore = await upstreamSnapshot(fx.upstreamRepo);
    await stopped(fx);
    const project: Project = loadProject(fx.root, { exact: true });
    const res = await rebaseAbort({ project }, deps());
    assert.equal(res.status, 'aborted');
    assert.deepEqual(res.to, { tag: 'v1.5.0', commit: up.tags['v1.5.0'] });
    assertSameBytes(seriesFiles(fx.root), superBefore);
    assert.equal(await gitlink(fx), linkBefore);
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), upBefore);
    assert.equal(fs.existsSync(statePath(fx)), false);
    const again = await rejection(() => rebaseAbort({ project }, deps()));
    assert.ok(again instanceof UsageError, String(again));
    assert.equal(again.message, 'no rebase is in progress');
  });

  it(
    'interrupted between saving the state and checking out the tag: --continue does not replay on the old pin',
    async () => {
      const { fx } = await stopped();
      // Put everything back as it was right after the state file was first written: nothing replayed, nothing checked out.
      const state = JSON.parse(fs.readFileSync(statePath(fx), 'utf8')) as { orig: { head: string }; branch: string; patches: Array<{ name: string; subject: string; file: string }> };
      await fx.upstreamRepo.run(['am', '--abort']);
      await fx.upstreamRepo.run(['checkout', '--quiet', '--force', '--detach', state.orig.head]);
      await fx.upstreamRepo.run(['branch', '-D', state.branch]);
      const patches = state.patches.map((p) => ({ name: p.name, subject: p.subject, file: p.file, status: 'pending', offsets: [] }));
      fs.writeFileSync(statePath(fx), JSON.stringify({ ...state, patches }, null, 2));
      const res = await rebaseContinue({ project: fx.project }, deps());
      assert.equal(res.status, 'stopped', `replayed on ${await fx.upstreamRepo.head()}: ${JSON.stringify(statuses(res))}`);
      assert.equal(res.patches[2]!.status, 'conflicted');
      assert.equal(await gitlink(fx), `160000 ${up.pin} 0\tupstream`);
    },
  );

  it('patches that add, delete, rename and chmod files, and CRLF files, survive a rebase clean', async () => {
    const fx = await makeMaintainerProject(up, FILE_OPS_SERIES);
    const before = seriesFiles(fx.root);
    const res = await rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps());
    assert.equal(res.status, 'done');
    assert.deepEqual(statuses(res), [
      ['WORKSPACE.patch', 'clean'],
      ['tree-add-delete-rename-chmod.patch', 'clean'],
      ['windows-crlf-batch-files.patch', 'clean'],
    ]);
    assert.deepEqual(actions(res.export!), [
      ['WORKSPACE.patch', 'kept'],
      ['tree-add-delete-rename-chmod.patch', 'kept'],
      ['windows-crlf-batch-files.patch', 'kept'],
    ]);
    assertSameBytes(seriesFiles(fx.root), before, ['mlmd-remote.json']);

    const repo = fx.upstreamRepo;
    const tree = await repo.lsTree(`refs/heads/${res.branch}`);
    assert.equal(tree.get('tools/build.sh')?.mode, '100755');
    assert.equal(tree.has('tools/old_script.sh'), false);
    assert.equal(tree.has('ml_metadata/legacy_util.py'), false);
    assert.equal(tree.get('ml_metadata/util.py')?.mode, '100644');
    assert.equal(await repo.blob(`${res.branch}:ml_metadata/util.py`), LEGACY_UTIL);
    assert.equal(await repo.blob(`${res.branch}:ml_metadata/remote.py`), '"""Remote-only helpers."""\n');
    assert.equal(await repo.blob(`${res.branch}:README.md`), '# ML Metadata (fixture)\n\nRelease 1.1.0.\n');
    assert.ok(Buffer.from(await repo.blob(`${res.branch}:windows/build.bat`)).equals(CRLF_BAT_PATCHED));
    assert.ok(Buffer.from(await repo.blob(`${res.branch}:windows/remote.bat`)).equals(CRLF_NEW_BAT));
    // The work tree of upstream/ (the new pin with the series applied) too.
    assert.ok(fs.readFileSync(path.join(repo.dir, 'windows/build.bat')).equals(CRLF_BAT_PATCHED));
    assert.ok(fs.readFileSync(path.join(repo.dir, 'windows/remote.bat')).equals(CRLF_NEW_BAT));
    assert.equal(fs.statSync(path.join(repo.dir, 'tools/build.sh')).mode & 0o777, 0o755);
    assert.equal(fs.existsSync(path.join(repo.dir, 'tools/old_script.sh')), false);
    assert.equal(fs.existsSync(path.join(repo.dir, 'ml_metadata/legacy_util.py')), false);
    assert.equal(fs.readFileSync(path.join(repo.dir, 'ml_metadata/util.py'), 'utf8'), LEGACY_UTIL);
  });

  it('the same series checks clean and round-trips through edit and export byte for byte', async () => {
    const fx = await makeMaintainerProject(up, FILE_OPS_SERIES);
    const before = seriesFiles(fx.root);
    const checked = await check({ project: fx.project }, deps());
    assert.equal(checked.ok, true, checked.problems.join('\n'));
    assert.deepEqual(checked.apply.map((p) => p.status), ['clean', 'clean', 'clean']);
    const res = await edit({ project: fx.project }, deps());
    const originals = up.seriesCommits.get(FILE_OPS_SERIES)!;
    for (const [i, c] of res.commits.entries()) {
      assert.equal(await fx.upstreamRepo.out(['rev-parse', `${c.commit}^{tree}`]), await up.work.out(['rev-parse', `${originals[i]!}^{tree}`]), c.patch);
    }
    const exported = await exportSeries({ project: fx.project, verbatim: true }, deps());
    assert.deepEqual(actions(exported), [
      ['WORKSPACE.patch', 'updated'],
      ['tree-add-delete-rename-chmod.patch', 'updated'],
      ['windows-crlf-batch-files.patch', 'updated'],
    ]);
    assertSameBytes(seriesFiles(fx.root), before);
    assert.ok(fs.readFileSync(path.join(fx.root, 'patches', 'windows-crlf-batch-files.patch')).includes(Buffer.from('+set TARGET=//ml_metadata:move_generated_files\r\n')));
  });
});

// ---------------------------------------------------------------------------
// Nothing lost, ever: a patch leaves the series only as already upstream, with
// proof; an interrupted run is recovered by the next; every hint names a
// command that works in the state it is given in (and these tests run it).

describe('nothing lost', () => {
  it('a replay interrupted inside git am (its start recorded, the am session open) is rolled back and replayed: the same conflict, and no patch is ever dropped', async () => {
    const { fx, res } = await stopped();
    const before = seriesFiles(fx.root);
    // What a run interrupted in the middle of the patch's git am --3way leaves: the session open, the patch not recorded.
    const state = readStateFile(fx);
    state.inFlight = { index: 2, head: state.patches[2]!.conflict!.head };
    state.patches[2] = { name: state.patches[2]!.name, subject: state.patches[2]!.subject, file: state.patches[2]!.file, status: 'pending' };
    fs.writeFileSync(statePath(fx), JSON.stringify(state));
    const d = deps();
    const again = await rebaseContinue({ project: fx.project }, d);
    assert.equal(again.status, 'stopped');
    assert.deepEqual(statuses(again), statuses(res), 'exactly where the uninterrupted run stopped');
    assert.deepEqual(again.patches[2]!.conflict!.files, res.patches[2]!.conflict!.files);
    assert.ok(d.log.lines.includes(`warn the replay of metadata-store-grpc-only.patch was interrupted; it starts again from ${state.inFlight.head.slice(0, 12)}`), d.log.lines.join('\n'));
    // And a second --continue with nothing resolved does not drop it.
    const err = await rejection(() => rebaseContinue({ project: fx.project }, deps()));
    assert.ok(err instanceof PatchError, String(err));
    assertSameBytes(seriesFiles(fx.root), before);

    // Killed harder: the merge's result (conflict markers) in the patch's file, and no git am session to abort.
    const killed = readStateFile(fx);
    killed.inFlight = { index: 2, head: killed.patches[2]!.conflict!.head };
    killed.patches[2] = { name: killed.patches[2]!.name, subject: killed.patches[2]!.subject, file: killed.patches[2]!.file, status: 'pending' };
    fs.writeFileSync(statePath(fx), JSON.stringify(killed));
    fs.rmSync(path.join(fx.root, '.git', 'modules', 'upstream', 'rebase-apply'), { recursive: true, force: true });
    assert.match(fs.readFileSync(path.join(fx.upstreamRepo.dir, STORE_PATH), 'utf8'), /^<<<<<<< /m);
    const third = await rebaseContinue({ project: fx.project }, deps());
    assert.deepEqual(statuses(third), statuses(res));
    assert.deepEqual(third.patches[2]!.conflict!.files, res.patches[2]!.conflict!.files);
  });

  it('a replay interrupted after its commit, before it was recorded, is replayed to the same commit', async () => {
    const { fx, res } = await stopped();
    const state = readStateFile(fx);
    await fx.upstreamRepo.run(['am', '--abort']);
    // build-python-only.patch committed by git am, and the run killed before it recorded that.
    state.inFlight = { index: 1, head: res.patches[0]!.commit! };
    await fx.upstreamRepo.run(['checkout', '--quiet', '--force', '-B', state.branch, res.patches[1]!.commit!]);
    for (const i of [1, 2, 3]) state.patches[i] = { name: state.patches[i]!.name, subject: state.patches[i]!.subject, file: state.patches[i]!.file, status: 'pending' };
    fs.writeFileSync(statePath(fx), JSON.stringify(state));
    const again = await rebaseContinue({ project: fx.project }, deps());
    assert.equal(again.status, 'stopped');
    assert.deepEqual(statuses(again), statuses(res));
    assert.equal(again.patches[1]!.commit, res.patches[1]!.commit, 'git am makes the same commit again');
  });

  it('a finish interrupted after it checked out the new pin finishes on --continue, exporting from the branch, not from HEAD', async () => {
    const { fx } = await stopped();
    writeTree(fx.upstreamRepo.dir, { [STORE_PATH]: joinLines(patchedStore(v15Store())) });
    await fx.upstreamRepo.run(['add', STORE_PATH]);
    const saved = path.join(tempDir('rebase-state'), 'rebase');
    fs.cpSync(path.dirname(statePath(fx)), saved, { recursive: true });
    const done = await rebaseContinue({ project: fx.project }, deps());
    assert.equal(done.status, 'done');
    const after = seriesFiles(fx.root);
    // The state of a finish that got as far as the checkout (HEAD at the tag) and no further.
    fs.cpSync(saved, path.dirname(statePath(fx)), { recursive: true });
    const state = readStateFile(fx);
    state.patches = done.patches as StateFile['patches'];
    fs.writeFileSync(statePath(fx), JSON.stringify(state));
    assert.equal(await fx.upstreamRepo.head(), up.tags['v1.5.0']);
    const again = await rebaseContinue({ project: fx.project }, deps());
    assert.equal(again.status, 'done');
    assertSameBytes(seriesFiles(fx.root), after);
    assert.equal(fs.existsSync(statePath(fx)), false);
  });

  it('--abort after a checkout interrupted halfway removes the files of the tag that the index did not know, keeps the maintainer\'s, and the next rebase starts', async () => {
    const fx = await makeMaintainerProject(up);
    const upBefore = await upstreamSnapshot(fx.upstreamRepo);
    const superBefore = seriesFiles(fx.root);
    await stopped(fx, 'v1.7.0');
    await rewindToCheckout(fx, { [NEW_IN_1_7]: NEW_IN_1_7_CONTENT, 'README.md': '# ML Metadata (fixture)\n\nRelease 1.7.0.\n' });
    assert.match(await fx.upstreamRepo.status(), /^\?\? ml_metadata\/tools\/resolver\/resolver\.py$/m);
    const res = await rebaseAbort({ project: fx.project }, deps());
    assert.equal(res.status, 'aborted');
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), upBefore);
    assert.equal(fs.existsSync(path.join(fx.upstreamRepo.dir, 'ml_metadata/tools')), false, 'no empty directories left either');
    assertSameBytes(seriesFiles(fx.root), superBefore);
    const again = await rebaseStart({ project: fx.project, tag: 'v1.1.0' }, deps());
    assert.equal(again.status, 'done');

    // A file of the maintainer's made after the interruption stays, and the abort says so.
    const fx2 = await makeMaintainerProject(up);
    await stopped(fx2, 'v1.7.0');
    await fx2.upstreamRepo.run(['am', '--abort']);
    writeTree(fx2.upstreamRepo.dir, { [NEW_IN_1_7]: NEW_IN_1_7_CONTENT, 'ml_metadata/tools/notes.txt': 'mine\n' });
    const d = deps();
    await rebaseAbort({ project: fx2.project }, d);
    assert.equal(fs.existsSync(path.join(fx2.upstreamRepo.dir, NEW_IN_1_7)), false);
    assert.equal(fs.readFileSync(path.join(fx2.upstreamRepo.dir, 'ml_metadata/tools/notes.txt'), 'utf8'), 'mine\n');
    assert.ok(d.log.lines.some((l) => l.startsWith('done Abort the rebase to v1.7.0: back at v1.0.0; upstream/ is at the pin with 1 changed file(s)') && l.endsWith('kept files the rebase did not write: ml_metadata/tools/notes.txt')), d.log.lines.join('\n'));
  });

  it('--continue after a checkout interrupted halfway goes on from the tag, as if uninterrupted', async () => {
    const fx = await makeMaintainerProject(up);
    const { res } = await stopped(fx, 'v1.7.0');
    await rewindToCheckout(fx, { [NEW_IN_1_7]: NEW_IN_1_7_CONTENT });
    const again = await rebaseContinue({ project: fx.project }, deps());
    assert.deepEqual(statuses(again), statuses(res));
    assert.deepEqual(again.patches.map((p) => p.commit), res.patches.map((p) => p.commit));
  });

  it('an interrupted apply (its record left, upstream/ half-written) is put back by the next command, exactly', async () => {
    const fx = await makeMaintainerProject(up);
    const before = await upstreamSnapshot(fx.upstreamRepo);
    const applied = await apply({ project: fx.project }, deps());
    const after = await upstreamSnapshot(fx.upstreamRepo);
    // Back to the pin, then half of the series' files written by a checkout that was killed.
    await sync({ project: fx.project }, deps());
    const { beginIntent } = await import('../src/interrupted.ts');
    await beginIntent(fx.project, deps().git, { command: 'apply', targets: [await fx.upstreamRepo.out(['rev-parse', `${up.pin}^{tree}`]), applied.tree!] });
    writeTree(fx.upstreamRepo.dir, { WORKSPACE: 'workspace(name = "ml_metadata")\n' });
    const d = deps();
    const again = await apply({ project: fx.project }, d);
    assert.equal(again.changed, true);
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), after);
    assert.ok(d.log.lines.some((l) => /^warn an interrupted mlmd-remote apply \(pid \d+, .*\) left upstream\/ half-changed; it is back as it was before that run$/.test(l)), d.log.lines.join('\n'));
    // A change the interrupted run did not make is never thrown away: refused, with the way out.
    await sync({ project: fx.project }, deps());
    assert.deepEqual(await upstreamSnapshot(fx.upstreamRepo), before);
    await beginIntent(fx.project, deps().git, { command: 'apply', targets: [applied.tree!] });
    writeTree(fx.upstreamRepo.dir, { 'README.md': 'mine\n' });
    const err = await rejection(() => apply({ project: fx.project }, deps()));
    assert.ok(err instanceof RefusedError, String(err));
    assert.match(err.message, /^an interrupted mlmd-remote apply \(pid \d+, .*\) was changing upstream\/, and upstream\/ has changed since in ways that run did not make \(README\.md\)$/);
    assert.equal((await runHinted(fx.root, err.hint, 'git -C upstream stash push --include-untracked')).code, 0);
    assert.equal((await apply({ project: fx.project }, deps())).changed, true);
    assert.match(await fx.upstreamRepo.out(['stash', 'show', '-p', 'stash@{0}']), /^\+mine$/m);
  });
});

// ---------------------------------------------------------------------------

describe('missing tools', () => {
  function bareProject(): Project {
    const dir = tempDir('maint-tools');
    fs.writeFileSync(path.join(dir, 'mlmd-remote.json'), JSON.stringify(projectConfig('https://invalid/ml-metadata.git', 'v1.0.0', '0'.repeat(40))));
    fs.cpSync(path.join(import.meta.dirname, '..', 'tools', 'bazel', 'proto_toolchain'), path.join(dir, 'tools', 'bazel', 'proto_toolchain'), { recursive: true });
    return loadProject(dir, { exact: true });
  }

  it('findPython with a python that does not exist: MissingToolError (exit 8) whose hint names MLMD_REMOTE_PYTHON', async () => {
    const err = await rejection(() => findPython(runner, '/nonexistent/python'));
    assert.ok(err instanceof MissingToolError, String(err));
    assert.equal(err.exitCode, 8);
    assert.equal(err.message, 'Python (/nonexistent/python) was not found');
    assert.match(err.hint ?? '', /MLMD_REMOTE_PYTHON/);
  });

  it('resolveBazel with a local bazel that does not exist: MissingToolError (exit 8)', async () => {
    const project = await withEnv({ MLMD_REMOTE_CACHE_DIR: undefined }, async () => bareProject());
    const err = await rejection(() => resolveBazel({ project, runner, log: recordingLogger(), localBazel: '/nonexistent/bazel' }));
    assert.ok(err instanceof MissingToolError, String(err));
    assert.equal(err.exitCode, 8);
    assert.equal(err.message, 'bazel at /nonexistent/bazel was not found');
  });

  it('prepareToolchain system with PROTOC naming a file that does not exist: MissingToolError (exit 8), nothing materialised', async () => {
    const project = await withEnv({ MLMD_REMOTE_CACHE_DIR: undefined }, async () => bareProject());
    const err = await withEnv({ PROTOC: '/nonexistent/protoc', GRPC_PYTHON_PLUGIN: undefined }, () =>
      rejection(() => prepareToolchain({ project, kind: 'system', python: { executable: '/nonexistent/python', version: '3.11.0' }, runner, log: recordingLogger() })),
    );
    assert.ok(err instanceof MissingToolError, String(err));
    assert.equal(err.exitCode, 8);
    assert.equal(err.message, 'PROTOC=/nonexistent/protoc was not found');
    assert.match(err.hint ?? '', /PROTOC/);
    assert.equal(fs.existsSync(path.join(project.cacheDir, 'bazel-repos')), false);
  });
});
