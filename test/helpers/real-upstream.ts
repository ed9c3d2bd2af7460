/**
 * Tests that need the real upstream repository skip, loudly, when it cannot be
 * reached (no network and no mirror). Everything else runs regardless.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProject, type Project } from '../../src/config.ts';
import { processRunner } from '../../src/exec.ts';
import { hermeticGit, userUrlRewrites, type Git } from '../../src/git.ts';
import { upstreamUrl } from '../../src/pin.ts';
import type { RebaseResult } from '../../src/results.ts';
import { skipBecause } from './skips.ts';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RealUpstream {
  project: Project;
  git: Git;
  url: string;
  /** Why the tests that need upstream are skipped, or null when it is reachable. */
  skipReason: string | null;
}

let cached: Promise<RealUpstream> | undefined;

export function realUpstream(): Promise<RealUpstream> {
  cached ??= (async () => {
    const project = loadProject(projectRoot, { exact: true });
    const runner = processRunner();
    const git = hermeticGit(runner, await userUrlRewrites(runner));
    const url = upstreamUrl(project);
    const res = await git.remote(project.root, ['ls-remote', '--tags', url, `refs/tags/${project.config.upstream.tag}`], { allowFailure: true, timeoutMs: 60_000 });
    const skipReason = res.ok && res.stdout.trim()
      ? null
      : `upstream ${url} is not reachable (${(res.stderr.trim().split('\n').pop() ?? 'no answer').slice(0, 120)}); set MLMD_REMOTE_UPSTREAM_URL or git config url.<mirror>.insteadOf ${url} to run these tests`;
    return { project, git, url, skipReason: skipReason && skipBecause('the tests that need real upstream', skipReason) };
  })();
  return cached;
}

let pinnedRepo: Promise<string> | undefined;

/**
 * A git repository holding the pinned commit: upstream/ when it has it,
 * else a bare clone made once per test process (removed at exit).
 */
export function pinnedUpstreamRepo(): Promise<string> {
  pinnedRepo ??= (async () => {
    const { project, git, url } = await realUpstream();
    const { commit } = project.config.upstream;
    // (Without upstream/.git, git would find this repository instead.)
    if (fs.existsSync(path.join(project.upstreamDir, '.git')) && (await git(project.upstreamDir, ['cat-file', '-e', `${commit}^{commit}`], { allowFailure: true })).ok) return project.upstreamDir;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-upstream-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    await git.remote(os.tmpdir(), ['clone', '--quiet', '--bare', url, dir], { timeoutMs: 600_000 });
    return dir;
  })();
  return pinnedRepo;
}

/** A scratch clone of this repository, in which the end-to-end tests run the CLI on real upstream. */
export interface ScratchProject {
  /** The temp directory holding the clone (and whatever else a test makes). */
  scratch: string;
  /** The clone: `<scratch>/project`. */
  clone: string;
  /** Clones this repository into `clone`, links its node_modules, and syncs upstream/ from `url`. */
  setUp(url: string): void;
  /** bin/mlmd-remote.js of `cwd`, run in `cwd`. */
  run(args: string[], cwd?: string): SpawnSyncReturns<string>;
  /** run with --json: the parsed result, after checking the exit status. */
  json<T>(args: string[], expectStatus?: number, cwd?: string): T;
  /** git in `cwd`, which must succeed; its stdout. */
  git(args: string[], cwd?: string): string;
  /**
   * Continues a stopped rebase until it is done (at most 10 rounds), resolving
   * each conflict by taking the patch's side, as a maintainer would here; the
   * last result, and the files each patch conflicted in.
   */
  finishRebase(r: RebaseResult): { result: RebaseResult; conflicts: Record<string, string[]> };
}

export function scratchProject(prefix: string): ScratchProject {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const clone = path.join(scratch, 'project');
  const cache = path.join(projectRoot, '.cache');

  function run(args: string[], cwd = clone) {
    return spawnSync(process.execPath, [path.join(cwd, 'bin', 'mlmd-remote.js'), ...args], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      // Share venvs and bazel's cache with this checkout (tests run one at a time).
      env: { ...process.env, MLMD_REMOTE_CACHE_DIR: cache },
    });
  }

  function json<T>(args: string[], expectStatus = 0, cwd = clone): T {
    const res = run([...args, '--json'], cwd);
    assert.equal(res.status, expectStatus, `mlmd-remote ${args.join(' ')} exited ${res.status}:\n${res.stderr.slice(-4000)}`);
    return JSON.parse(res.stdout) as T;
  }

  function git(args: string[], cwd = clone): string {
    const res = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@invalid', ...args], { cwd, encoding: 'utf8' });
    assert.equal(res.status, 0, `git ${args.join(' ')}: ${res.stderr}`);
    return res.stdout;
  }

  function setUp(url: string): void {
    git(['clone', '--quiet', projectRoot, clone], scratch);
    fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(clone, 'node_modules'));
    const res = run(['sync', '--upstream-url', url]);
    assert.equal(res.status, 0, res.stderr);
  }

  function finishRebase(r: RebaseResult): { result: RebaseResult; conflicts: Record<string, string[]> } {
    const conflicts: Record<string, string[]> = {};
    for (let round = 0; r.status === 'stopped' && round < 10; round++) {
      const conflicted = r.patches.find((p) => p.status === 'conflicted')!;
      conflicts[conflicted.name] = conflicted.conflict!.files.map((f) => f.path);
      for (const f of conflicted.conflict!.files) takePatchSide(path.join(clone, 'upstream', f.path));
      git(['add', '--', ...conflicted.conflict!.files.map((f) => f.path)], path.join(clone, 'upstream'));
      const res = run(['rebase', '--continue', '--json']);
      assert.ok(res.status === 0 || res.status === 4, res.stderr);
      r = JSON.parse(res.stdout) as RebaseResult;
    }
    return { result: r, conflicts };
  }

  return { scratch, clone, setUp, run, json, git, finishRebase };
}

/** Resolves every conflict block in `file` by keeping the patch's side. */
export function takePatchSide(file: string): void {
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.replace(/<<<<<<< [^\n]*\n[\s\S]*?\n?=======\n([\s\S]*?)>>>>>>> [^\n]*\n/g, '$1'));
}
