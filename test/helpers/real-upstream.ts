/**
 * Tests that need the real upstream repository skip, loudly, when it cannot be
 * reached (no network and no mirror). Everything else runs regardless.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProject, type Project } from '../../src/config.ts';
import { processRunner } from '../../src/exec.ts';
import { hermeticGit, userUrlRewrites, type Git } from '../../src/git.ts';
import { upstreamUrl } from '../../src/pin.ts';
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
