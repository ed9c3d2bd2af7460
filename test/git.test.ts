/**
 * git.ts: the hermetic git on simple-git. Progress of clone and fetch on
 * stderr, settings a user's config cannot change, exit codes as results, and
 * time limits and interrupts that stop git and what it started.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CommandFailedError, processRunner } from '../src/exec.ts';
import { hermeticGit } from '../src/git.ts';
import { stderrLogger } from '../src/log.ts';
import { cleanupFixtures, git, makeRepo, rejection, tempDir, withEnv } from './helpers/fixtures.ts';
import { leftRunning, srcModule } from './helpers/interrupt.ts';

after(cleanupFixtures);

/** What `fn` writes on this process's stderr (and only that: it is not shown). */
async function stderrOf(fn: () => Promise<unknown>): Promise<string> {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

/** A git that logs where the CLI does: stderr. */
const loggingGit = () => hermeticGit(processRunner(stderrLogger({ verbose: true })));

describe('hermetic git', () => {
  it('shows clone and fetch progress on stderr as progress lines', async () => {
    const source = await makeRepo({ 'a.txt': 'one\n' });
    for (let i = 0; i < 4; i++) await source.commit({ [`f${i}.txt`]: `${'line\n'.repeat(50)}${i}\n` }, `commit ${i}`);
    const clone = path.join(tempDir('clone'), 'clone');
    const cloned = await stderrOf(() => loggingGit()(path.dirname(clone), ['clone', '--progress', pathToFileURL(source.dir).href, clone]));
    assert.match(cloned, /^ {2}… clone: [a-z ]+ \d+%$/m, cloned);
    assert.match(cloned, /^\$ git -c core\.autocrlf=false .* clone --progress file:/m, 'the command is logged with --verbose');

    await source.commit({ 'b.txt': 'two\n' }, 'one more');
    // No --progress here: simple-git adds it to a fetch that is not --quiet.
    const fetched = await stderrOf(() => loggingGit()(clone, ['fetch', 'origin']));
    assert.match(fetched, /^ {2}… fetch: [a-z ]+ \d+%$/m, fetched);
    assert.equal(await git(clone, ['rev-parse', 'origin/main']).then((r) => r.stdout.trim()), await source.head());

    const quiet = await stderrOf(() => loggingGit()(clone, ['fetch', '--quiet', 'origin']));
    assert.doesNotMatch(quiet, /…/, '--quiet shows no progress');
  });

  it("keeps its settings whatever the user's global config says (diff.noprefix=true)", async () => {
    const repo = await makeRepo({ 'f.txt': 'a\n' });
    await repo.commit({ 'f.txt': 'b\n' }, 'change');
    const home = tempDir('home');
    const config = path.join(home, '.gitconfig');
    fs.writeFileSync(config, '[diff]\n\tnoprefix = true\n');
    const env = { HOME: home, GIT_CONFIG_GLOBAL: config };
    // The setting is in effect for a plain git...
    const plain = spawnSync('git', ['diff', 'HEAD~1', 'HEAD'], { cwd: repo.dir, env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.match(plain.stdout, /^--- f\.txt$/m, plain.stderr);
    // ...and not for the hermetic one.
    const diff = await withEnv(env, () => git(repo.dir, ['diff', 'HEAD~1', 'HEAD']));
    assert.match(diff.stdout, /^--- a\/f\.txt\n\+\+\+ b\/f\.txt$/m, diff.stdout);
  });

  it('gives a non-zero exit as a result, or with allowFailure unset as CommandFailedError', async () => {
    const repo = await makeRepo({ 'f.txt': 'a\n' });
    await repo.commit({ 'f.txt': 'b\n' }, 'change');
    const quiet = await git(repo.dir, ['diff', '--quiet', 'HEAD~1', 'HEAD'], { allowFailure: true });
    assert.deepEqual([quiet.ok, quiet.exitCode, quiet.stderr], [false, 1, '']);
    assert.equal((await git(repo.dir, ['diff', '--quiet', 'HEAD', 'HEAD'])).ok, true);
    const missing = await git(repo.dir, ['cat-file', '-e', 'HEAD:nope.txt'], { allowFailure: true });
    assert.equal(missing.exitCode, 128);
    const err = await rejection(() => git(repo.dir, ['merge-base', '--is-ancestor', 'HEAD', 'HEAD~1']));
    assert.ok(err instanceof CommandFailedError);
    assert.match(err.message, /^git -c core\.autocrlf=false .* merge-base --is-ancestor HEAD 'HEAD~1' exited with 1 \(in /);
    const stdin = await git(repo.dir, ['hash-object', '--stdin'], { input: 'hello\n' });
    assert.equal(stdin.stdout, 'ce013625030ba8dba906f756967f9e9ca394464a\n');
  });

  it('waits for a lock another git is releasing, and reports one that stays as git does', async () => {
    const repo = await makeRepo({ 'f.txt': 'a\n' });
    const lock = path.join(repo.dir, '.git', 'index.lock');
    // What a git stopped by a Ctrl-C a moment ago leaves until it has let go.
    fs.writeFileSync(lock, '');
    const released = setTimeout(() => fs.rmSync(lock), 300);
    fs.writeFileSync(path.join(repo.dir, 'f.txt'), 'b\n');
    await git(repo.dir, ['add', 'f.txt']);
    clearTimeout(released);
    assert.equal(await repo.out(['diff', '--cached', '--name-only']), 'f.txt');
    assert.equal(fs.existsSync(lock), false);
    fs.writeFileSync(lock, '');
    const err = await rejection(() => git(repo.dir, ['reset', '--quiet']));
    assert.ok(err instanceof CommandFailedError, String(err));
    assert.match(err.message, /index\.lock': File exists/);
    assert.equal(await repo.out(['diff', '--cached', '--name-only']), 'f.txt', 'a git refused by the lock changed nothing');
  });

  it('stops a git that runs past its time limit', async () => {
    const repo = await makeRepo();
    const started = Date.now();
    // An ssh that never answers.
    const res = await git(repo.dir, ['ls-remote', 'ssh://example.invalid/x'], { allowFailure: true, timeoutMs: 500, env: { GIT_SSH_COMMAND: 'sleep 5 #' } });
    assert.equal(res.ok, false);
    assert.match(res.stderr, /git timed out after/);
    assert.ok(Date.now() - started < 10_000);
  });

  it('is stopped, with what it started, by an interrupted run (as cli.ts does on Ctrl-C)', { timeout: 60_000 }, () => {
    const marker = `sleep 97.${process.pid}`;
    const left = leftRunning({
      marker,
      cwd: tempDir('interrupted'),
      start: `
      const { processRunner } = await import(${srcModule('exec.ts')});
      const { hermeticGit } = await import(${srcModule('git.ts')});
      void hermeticGit(processRunner())(process.cwd(), ['ls-remote', 'ssh://example.invalid/x'], { allowFailure: true, env: { GIT_SSH_COMMAND: '${marker} #' } });`,
    });
    assert.equal(left, '', 'no process of the interrupted run is left');
  });
});
