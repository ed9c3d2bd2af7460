/**
 * nightly --push on the fixture upstream, with the build, verify and
 * diff-wheel stages replaced (they are the end-to-end tests' business): a good
 * tag's branch in a local bare repository holds the new pin and the series on
 * the checkout's HEAD; pushing again changes nothing unless the content does;
 * a conflict, a failed build or a failed verify pushes nothing and writes
 * issue.md; bad --push values are refused before anything runs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Deps } from '../src/commands/deps.ts';
import { nightly, type NightlyStages } from '../src/commands/nightly.ts';
import { ExitCode, MlmdError, UsageError } from '../src/errors.ts';
import { processRunner } from '../src/exec.ts';
import { hermeticGit } from '../src/git.ts';
import { recordingLogger } from '../src/log.ts';
import type { BuildResult, VerifyResult } from '../src/results.ts';
import { dependencyChanges } from '../src/nightly-attention.ts';
import { cleanupFixtures, git, makeRepo, rejection, Repo, tempDir } from './helpers/fixtures.ts';
import { makeMaintainerProject, makeMaintainerUpstream, type MaintainerUpstream } from './helpers/maintainer-fixtures.ts';

after(cleanupFixtures);

const runner = processRunner();
const deps = (): Deps => ({ runner, git: hermeticGit(runner, []), log: recordingLogger() });
const BRANCH = (tag: string) => `mlmd-remote/upstream-${tag}`;

let up: MaintainerUpstream;
before(async () => {
  up = await makeMaintainerUpstream();
});

async function bareRemote(): Promise<Repo> {
  const dir = path.join(tempDir('push-remote'), 'remote.git');
  await git(path.dirname(dir), ['init', '--quiet', '--bare', dir]);
  return new Repo(dir);
}

async function remoteHeads(remote: Repo): Promise<string> {
  return remote.out(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads']);
}

/** The pin each stand-in build saw. */
const built: string[] = [];

/** Stages that make a stand-in wheel and pass (or fail) as told. */
function stages(opts: { buildFails?: boolean; verifyFails?: boolean } = {}): NightlyStages {
  return {
    build: async (project, _work, distDir) => {
      built.push(project.config.upstream.tag);
      if (opts.buildFails) throw new Error('bazel run //ml_metadata:move_generated_files failed (exit 1)');
      fs.mkdirSync(distDir, { recursive: true });
      const file = path.join(distDir, 'ml_metadata_remote-1.1.0-py3-none-any.whl');
      fs.writeFileSync(file, 'not a real wheel');
      return { wheel: { path: file, name: path.basename(file), sha256: 'ab'.repeat(32), size: 16 } } as BuildResult;
    },
    verify: async (_project, wheel) =>
      ({
        schemaVersion: 1,
        ok: !opts.verifyFails,
        wheel: { path: wheel, name: path.basename(wheel), sha256: 'ab'.repeat(32) },
        static: [{ id: 'purelib', title: 'Root-Is-Purelib', status: opts.verifyFails ? 'fail' : 'pass', detail: opts.verifyFails ? 'Root-Is-Purelib: false' : 'true' }],
        live: null,
        skipped: [],
        allowedSkips: [],
        timings: [],
      }) as unknown as VerifyResult,
    diffWheel: async () => {
      throw new Error('no official ml-metadata 1.1.0 wheel could be downloaded (fixture)');
    },
  };
}

describe('nightly --push', () => {
  it('pushes the branch of a good tag: the new pin and the series on HEAD, and writes pr.md', async () => {
    const fx = await makeMaintainerProject(up);
    const remote = await bareRemote();
    const out = tempDir('nightly-out');
    built.length = 0;
    const r = await nightly({ project: fx.project, tags: ['v1.1.0'], outDir: out, push: remote.dir, stages: stages() }, deps());
    assert.equal(r.status, 'new-tag-fine');
    // The build sees the pin the rebase moved to, not the one the scratch clone started from.
    assert.deepEqual(built, ['v1.1.0']);
    const t = r.tags[0]!;
    assert.deepEqual(t.steps.map((s) => `${s.step}:${s.status}`), ['rebase:ok', 'build:ok', 'verify:ok', 'push:ok']);
    assert.equal(t.push!.action, 'created');
    assert.equal(t.push!.branch, BRANCH('v1.1.0'));
    const head = await fx.superRepo.head();
    assert.equal(t.push!.base.commit, head);
    assert.equal(await remoteHeads(remote), `refs/heads/${BRANCH('v1.1.0')} ${t.push!.commit}`);
    // The branch: one commit on HEAD with the new pin (config and gitlink) and the re-exported series.
    assert.equal(await remote.out(['rev-parse', `${t.push!.commit}^`]), head);
    const config = JSON.parse(await remote.blob(`${t.push!.commit}:mlmd-remote.json`)) as { upstream: { tag: string; commit: string } };
    assert.deepEqual(config.upstream, { ...config.upstream, tag: 'v1.1.0', commit: up.tags['v1.1.0'] });
    assert.match(await remote.out(['ls-tree', t.push!.commit, 'upstream']), new RegExp(`^160000 commit ${up.tags['v1.1.0']}\tupstream$`));
    assert.deepEqual((await remote.out(['diff', '--name-only', head, t.push!.commit])).split('\n'), ['mlmd-remote.json', 'upstream']);
    assert.match(await remote.out(['log', '-1', '--format=%B', t.push!.commit]), /^Move to upstream v1\.1\.0\n/);
    // The checkout itself is untouched.
    assert.equal(await fx.superRepo.status(), '');
    assert.equal(await fx.superRepo.head(), head);
    // pr.md, and no issue.md.
    assert.deepEqual(t.report, { kind: 'pull-request', path: path.join(out, 'v1.1.0', 'pr.md') });
    const pr = fs.readFileSync(t.report!.path, 'utf8');
    assert.match(pr, /^<!-- mlmd-remote nightly v1\.1\.0 -->\n## Move to upstream v1\.1\.0\n/);
    assert.match(pr, new RegExp(`Branch \`${BRANCH('v1.1.0')}\` \\(\`${t.push!.commit.slice(0, 12)}\`\\) on \`main\``));
    assert.match(pr, /### What a reviewer must look at\n\n- Dropped patches: none\n- Three-way merges: none\n- Dependency ranges: upstream changed none/);
    assert.match(pr, /\*\*Upstream pin:\*\* v1\.0\.0 `[0-9a-f]{12}` → v1\.1\.0/);
    assert.match(pr, /### ✅ verify `ml_metadata_remote-1\.1\.0-py3-none-any\.whl`/);
    assert.match(pr, /No official wheel to compare with: no official ml-metadata 1\.1\.0 wheel could be downloaded/);
    assert.equal(fs.existsSync(path.join(out, 'v1.1.0', 'issue.md')), false);

    // Again: the same content, so the branch is left as it is.
    const again = await nightly({ project: fx.project, tags: ['v1.1.0'], outDir: out, push: remote.dir, stages: stages() }, deps());
    assert.equal(again.tags[0]!.push!.action, 'unchanged');
    assert.equal(again.tags[0]!.push!.commit, t.push!.commit);
    assert.equal(await remoteHeads(remote), `refs/heads/${BRANCH('v1.1.0')} ${t.push!.commit}`);

    // The same tree on another commit (someone pushed an equivalent branch): still left alone.
    const other = await remote.out(['commit-tree', `${t.push!.commit}^{tree}`, '-p', head, '-m', 'equivalent']);
    await remote.run(['update-ref', `refs/heads/${BRANCH('v1.1.0')}`, other]);
    const same = await nightly({ project: fx.project, tags: ['v1.1.0'], outDir: out, push: remote.dir, stages: stages() }, deps());
    assert.equal(same.tags[0]!.push!.action, 'unchanged');
    assert.equal(await remoteHeads(remote), `refs/heads/${BRANCH('v1.1.0')} ${other}`);

    // A new commit on main changes the content: the branch moves onto it.
    const moved = await fx.superRepo.commit({ 'NOTES.md': 'a change on main\n' }, 'notes');
    const updated = await nightly({ project: fx.project, tags: ['v1.1.0'], outDir: out, push: remote.dir, stages: stages() }, deps());
    assert.equal(updated.tags[0]!.push!.action, 'updated');
    assert.equal(await remote.out(['rev-parse', `${updated.tags[0]!.push!.commit}^`]), moved);
    assert.equal(await remoteHeads(remote), `refs/heads/${BRANCH('v1.1.0')} ${updated.tags[0]!.push!.commit}`);
  });

  it('drops a patch upstream has (WORKSPACE.patch at v1.6.0) from the branch, and pr.md says so with the proof', async () => {
    const fx = await makeMaintainerProject(up);
    const remote = await bareRemote();
    const r = await nightly({ project: fx.project, tags: ['v1.6.0'], outDir: tempDir('nightly-out'), push: remote.dir, stages: stages() }, deps());
    const t = r.tags[0]!;
    assert.equal(t.push!.action, 'created');
    assert.deepEqual((await remote.out(['diff', '--name-status', t.push!.base.commit, t.push!.commit])).split('\n'), ['D\tWORKSPACE.patch', 'M\tmlmd-remote.json', 'M\tpatches/series', 'M\tupstream']);
    assert.match(fs.readFileSync(t.report!.path, 'utf8'), /- \*\*Dropped patches\*\* \(upstream has their change\): `WORKSPACE\.patch` \(it applies in reverse: the new base has exactly its change\)/);
  });

  it('names the requirement lines upstream changed in setup.py', async () => {
    const repo = await makeRepo({ 'setup.py': "setup(\n    install_requires=[\n        'absl-py>=0.9,<2.0.0',\n        'protobuf>=3.13,<4',\n    ],\n)\n" });
    const from = await repo.head();
    const to = await repo.commit({ 'setup.py': "setup(\n    install_requires=[\n        'absl-py>=0.9,<2.0.0',\n        'protobuf>=4.25.2,<5',\n    ],\n)\n" }, 'protobuf 4');
    assert.deepEqual(await dependencyChanges(git, repo.dir, from, to), ["- 'protobuf>=3.13,<4',", "+ 'protobuf>=4.25.2,<5',"]);
    assert.deepEqual(await dependencyChanges(git, repo.dir, to, to), []);
  });

  it('pushes to a remote of the checkout named by --push', async () => {
    const fx = await makeMaintainerProject(up);
    const remote = await bareRemote();
    await fx.superRepo.run(['remote', 'add', 'publish', remote.dir]);
    const r = await nightly({ project: fx.project, tags: ['v1.1.0'], outDir: tempDir('nightly-out'), push: 'publish', stages: stages() }, deps());
    assert.equal(r.tags[0]!.push!.action, 'created');
    assert.equal(r.tags[0]!.push!.remote, remote.dir);
    assert.match(await remoteHeads(remote), new RegExp(`^refs/heads/${BRANCH('v1.1.0')} `));
  });

  it('pushes nothing when the rebase stops on a conflict, and writes issue.md: the patch, files and lines, the commands', async () => {
    const fx = await makeMaintainerProject(up);
    const remote = await bareRemote();
    const out = tempDir('nightly-out');
    const r = await nightly({ project: fx.project, tags: ['v1.5.0'], outDir: out, push: remote.dir, stages: stages() }, deps());
    assert.equal(r.status, 'new-tag-needs-attention');
    const t = r.tags[0]!;
    assert.deepEqual(t.steps.map((s) => `${s.step}:${s.status}`), ['rebase:stopped', 'build:skipped', 'verify:skipped', 'push:skipped']);
    assert.equal(t.push, null);
    assert.equal(await remoteHeads(remote), '');
    assert.deepEqual(t.report, { kind: 'issue', path: path.join(out, 'v1.5.0', 'issue.md') });
    assert.equal(fs.existsSync(path.join(out, 'v1.5.0', 'pr.md')), false);
    const issue = fs.readFileSync(t.report!.path, 'utf8');
    const conflicted = t.rebase!.patches.find((p) => p.status === 'conflicted')!;
    const file = conflicted.conflict!.files[0]!;
    assert.match(issue, /^<!-- mlmd-remote nightly v1\.5\.0 -->\n## Upstream v1\.5\.0 needs attention\n/);
    assert.match(issue, /the rebase stopped on a conflict\. Nothing was pushed\./);
    assert.ok(issue.includes(`\`${conflicted.name}\``), issue);
    assert.ok(issue.includes(`- \`${file.path}\`, lines ${file.hunks.map((h) => `${h.startLine}-${h.endLine}`).join(', ')}`), issue);
    for (const command of ['git switch main && git pull --ff-only', 'npx mlmd-remote sync', 'npx mlmd-remote rebase v1.5.0', `git -C upstream add -- ${file.path}`, 'npx mlmd-remote rebase --continue', 'npx mlmd-remote build', 'npx mlmd-remote verify', "git add -A -- mlmd-remote.json patches ':(glob)*.patch' && git commit"]) {
      assert.ok(issue.includes(command), `issue.md lacks ${command}:\n${issue}`);
    }
    // Nothing of the checkout changed.
    assert.equal(await fx.superRepo.status(), '');
  });

  for (const [what, opts, steps] of [
    ['the build fails', { buildFails: true }, ['rebase:ok', 'build:failed', 'verify:skipped', 'push:skipped']],
    ['verify fails', { verifyFails: true }, ['rebase:ok', 'build:ok', 'verify:failed', 'push:skipped']],
  ] as const) {
    it(`pushes nothing when ${what}, and writes issue.md saying so`, async () => {
      const fx = await makeMaintainerProject(up);
      const remote = await bareRemote();
      const out = tempDir('nightly-out');
      // A pr.md of an earlier, good run into the same directory does not survive.
      fs.mkdirSync(path.join(out, 'v1.1.0'), { recursive: true });
      fs.writeFileSync(path.join(out, 'v1.1.0', 'pr.md'), 'stale');
      const r = await nightly({ project: fx.project, tags: ['v1.1.0'], outDir: out, push: remote.dir, stages: stages(opts) }, deps());
      const t = r.tags[0]!;
      assert.deepEqual(t.steps.map((s) => `${s.step}:${s.status}`), steps);
      assert.equal(t.outcome, 'needs-attention');
      assert.equal(await remoteHeads(remote), '');
      assert.equal(fs.existsSync(path.join(out, 'v1.1.0', 'pr.md')), false);
      const issue = fs.readFileSync(path.join(out, 'v1.1.0', 'issue.md'), 'utf8');
      assert.match(issue, new RegExp(`: ${what.includes('build') ? 'build' : 'verify'} failed\\. Nothing was pushed\\.`));
      if ('buildFails' in opts) assert.match(issue, /### What failed: build\n\n```\nbazel run \/\/ml_metadata:move_generated_files failed/);
      else assert.match(issue, /### ❌ verify `ml_metadata_remote-1\.1\.0-py3-none-any\.whl`[\s\S]*Root-Is-Purelib: false/);
    });
  }

  it('refuses --push without --tag, with --skip-verify or --list, and a remote it cannot read, before anything runs', async () => {
    const fx = await makeMaintainerProject(up);
    const out = tempDir('nightly-out');
    const cases: Array<[Parameters<typeof nightly>[0], RegExp, RegExp]> = [
      [{ project: fx.project, push: 'origin' }, /^--push needs --tag/, /mlmd-remote nightly --tag v1\.16\.0 --push origin/],
      [{ project: fx.project, push: 'origin', tags: ['v1.1.0'], skipVerify: true }, /^--push cannot go with --skip-verify/, /--push origin/],
      [{ project: fx.project, push: 'origin', tags: ['v1.1.0'], listOnly: true }, /^--push cannot go with --list/, /--push origin/],
      [{ project: fx.project, push: path.join(out, 'no-such.git'), tags: ['v1.1.0'] }, /no remote of that name, and there is no such path$/, /git remote -v/],
      [{ project: fx.project, push: out, tags: ['v1.1.0'] }, /cannot be read: .*not a git repository|cannot be read: .*does not appear to be a git repository/, /git init --bare/],
      [{ project: fx.project, push: 'nosuchremote', tags: ['v1.1.0'] }, /^--push nosuchremote: this checkout has no remote of that name/, /git remote -v/],
    ];
    for (const [opts, message, hint] of cases) {
      const err = await rejection(() => nightly({ ...opts, outDir: out, stages: stages() }, deps()));
      assert.ok(err instanceof UsageError, `${opts.push}: ${err.message}`);
      assert.equal((err as MlmdError).exitCode, ExitCode.usage);
      assert.match(err.message, message);
      assert.match((err as MlmdError).hint ?? '', hint);
    }
    assert.deepEqual(fs.readdirSync(out), [], 'nothing ran');
  });
});
