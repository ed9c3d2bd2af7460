/**
 * The command line, as a user runs it: bin/mlmd-remote.js in a child process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupFixtures, makeProject, makeUpstream, tempDir, writeTree, type ProjectFixture } from './helpers/fixtures.ts';
import { cliPath, runCli } from './helpers/hints.ts';

after(cleanupFixtures);

const cli = cliPath;

/** The exit codes the code can produce: every ExitCode value (cli.ts exits only through them). */
function codesInSource(): number[] {
  const src = path.resolve(path.dirname(cli), '..', 'src');
  const errors = fs.readFileSync(path.join(src, 'errors.ts'), 'utf8');
  const block = /export const ExitCode = \{([\s\S]*?)\} as const;/.exec(errors)![1]!;
  const codes = [...block.matchAll(/^\s*\w+: (\d+),/gm)].map((m) => +m[1]!);
  // No exit code may bypass ExitCode: no literal process.exit(N) or exitCode = N anywhere in src/.
  for (const file of fs.readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
    const text = fs.readFileSync(path.join(src, file), 'utf8');
    assert.doesNotMatch(text, /process\.exit\(\s*\d|exitCode\s*=\s*\d/, `${file} sets an exit code that is not an ExitCode`);
  }
  return [...new Set(codes)].sort((a, b) => a - b);
}

describe('mlmd-remote (the CLI)', () => {
  it('the README\'s exit-code table and --help list exactly the codes the code uses (70 internal error and 130 interrupted included)', async () => {
    const codes = codesInSource();
    assert.ok(codes.includes(70) && codes.includes(130), String(codes));
    const readme = fs.readFileSync(path.resolve(path.dirname(cli), '..', 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('| exit | meaning |'));
    const rows = table.slice(0, table.search(/\n\n/)).split('\n').slice(2);
    const documented = rows.flatMap((r) => /^\| ([\d /]+) \|/.exec(r)![1]!.split('/').map((n) => +n.trim())).sort((a, b) => a - b);
    assert.deepEqual(documented, codes);
    const help = await runCli(['--help'], { cwd: tempDir('cwd') });
    const epilogue = help.stdout.slice(help.stdout.indexOf('Exit codes:')).replace(/\s+/g, ' ');
    assert.deepEqual([...epilogue.matchAll(/(?:: |, )(\d+) /g)].map((m) => +m[1]!), codes);
  });

  it('--help prints the usage, the commands and the exit codes, and exits 0', async () => {
    const res = await runCli(['--help'], { cwd: tempDir('cwd') });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^mlmd-remote <command> \[options\]/);
    for (const cmd of ['sync', 'apply', 'build']) assert.match(res.stdout, new RegExp(`^  mlmd-remote ${cmd}`, 'm'));
    assert.match(res.stdout, /Exit codes: 0 ok, 1 failure, 2 usage, 3 refused/);
  });

  it('apply --help lists its options and exits 0', async () => {
    const res = await runCli(['apply', '--help'], { cwd: tempDir('cwd') });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^mlmd-remote apply\n/);
    for (const opt of ['--check', '--force', '--markdown', '--json', '--root']) assert.ok(res.stdout.includes(opt), `${opt} in\n${res.stdout}`);
    assert.doesNotMatch(res.stdout, /--profile/, 'only the apply options');
  });

  it('exits 2 with one JSON UsageError on stdout for a directory without mlmd-remote.json', async () => {
    const dir = tempDir('no-project');
    const res = await runCli(['apply', '--json', '--root', dir], { cwd: dir });
    assert.equal(res.code, 2, res.stderr);
    const out = JSON.parse(res.stdout) as { schemaVersion: number; error: { kind: string; message: string; hint: string; exitCode: number } };
    assert.equal(res.stdout.trim().startsWith('{') && res.stdout.trim().endsWith('}'), true);
    assert.equal(out.schemaVersion, 1);
    assert.equal(out.error.kind, 'UsageError');
    assert.equal(out.error.exitCode, 2);
    assert.match(out.error.message, new RegExp(`^cannot read ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/mlmd-remote\\.json: ENOENT`));
    assert.equal(out.error.hint, 'restore it with: git checkout -- mlmd-remote.json');
    assert.match(res.stderr, /^error: cannot read /m);
    assert.equal(fs.readdirSync(dir).length, 0, 'nothing was created in the directory');
  });

  it('exits 2 with a JSON UsageError for an unknown command', async () => {
    const dir = tempDir('cwd');
    const res = await runCli(['frobnicate', '--json', '--root', dir], { cwd: dir });
    assert.equal(res.code, 2, res.stderr);
    assert.equal((JSON.parse(res.stdout) as { error: { kind: string } }).error.kind, 'UsageError');
  });

  it('an unknown option is named once; --upstream-url where it does not apply says which commands take it', async () => {
    const dir = tempDir('cwd');
    const res = await runCli(['apply', '--no-such-thing', '--other-x=3', '--root', dir], { cwd: dir });
    assert.equal(res.code, 2);
    assert.equal(res.stderr, 'error: unknown options for apply: --such-thing, --other-x\nhint: see mlmd-remote apply --help\n');
    for (const cmd of ['edit', 'export', 'review', 'verify', 'release']) {
      const r = await runCli([cmd, '--upstream-url', '/some/mirror', '--root', dir], { cwd: dir });
      assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
      assert.equal(r.stderr.split('\n')[0], `error: --upstream-url does not apply to ${cmd}: ${cmd} fetches nothing from upstream (it uses upstream/ as it is checked out, if at all)`);
      assert.match(r.stderr, /^hint: leave it out; the commands that read upstream at a URL are sync, apply, check, rebase, nightly, build/m);
    }
  });


  describe('on a fixture project', () => {
    let fx: ProjectFixture;
    before(async () => {
      fx = await makeProject(await makeUpstream());
    });

    it('apply --check --json prints the per-patch result and exits 0', async () => {
      const res = await runCli(['apply', '--check', '--json', '--root', fx.root], { cwd: tempDir('cwd') });
      assert.equal(res.code, 0, res.stderr);
      const out = JSON.parse(res.stdout) as { mode: string; ok: boolean; changed: boolean; patches: Array<{ name: string; status: string }> };
      assert.equal(out.mode, 'check');
      assert.equal(out.ok, true);
      assert.equal(out.changed, false);
      assert.deepEqual(out.patches.map((p) => [p.name, p.status]), [
        ['WORKSPACE.patch', 'clean'],
        ['build-python-only.patch', 'clean'],
        ['metadata-store-grpc-only.patch', 'clean'],
      ]);
      assert.equal(fs.existsSync(path.join(fx.root, '.cache', 'lock')), false, 'the lock is released');
    });

    it('build into a dist/ whose SHA256SUMS is a directory exits 2 before building, with the error and the fix and no stack trace', async () => {
      const dist = tempDir('dist');
      fs.mkdirSync(path.join(dist, 'SHA256SUMS'));
      const res = await runCli(['build', '--dist', dist, '--root', fx.root], { cwd: fx.root });
      assert.equal(res.code, 2, res.stderr);
      assert.equal(res.stderr, `error: ${dist}/SHA256SUMS is not a file, so build cannot record the wheel's checksum there\nhint: move it away (mv ${dist}/SHA256SUMS ${dist}/SHA256SUMS.old), or build into another directory with --dist DIR\n`);
      assert.deepEqual(fs.readdirSync(dist), ['SHA256SUMS']);
      assert.equal(fs.existsSync(path.join(fx.root, '.cache', 'work')), false, 'nothing was staged');
    });

    it('exits 3 with a JSON RefusedError while a live run holds the lock', async () => {
      let child: ChildProcess | undefined;
      const cache = tempDir('cache');
      try {
        child = spawn('sleep', ['30'], { stdio: 'ignore' });
        await new Promise((resolve, reject) => { child!.once('spawn', resolve); child!.once('error', reject); });
        writeTree(cache, { 'lock/owner.json': JSON.stringify({ pid: child.pid, command: 'build', since: '2026-01-01T00:00:00.000Z' }) });
        const res = await runCli(['apply', '--json', '--root', fx.root], { cwd: fx.root, env: { MLMD_REMOTE_CACHE_DIR: cache } });
        assert.equal(res.code, 3, res.stderr);
        const out = JSON.parse(res.stdout) as { error: { kind: string; message: string } };
        assert.equal(out.error.kind, 'RefusedError');
        assert.match(out.error.message, new RegExp(`pid ${child.pid}`));
      } finally {
        child?.kill();
      }
    });
  });
});
