/**
 * The branch a good nightly pushes: the new pin and the re-exported series as
 * one commit on top of the checkout's HEAD, on mlmd-remote/upstream-<tag>.
 * The commit takes its parent's date, so the same content on the same parent
 * is the same commit; the remote is updated only when its branch holds another
 * tree, by one `git push` of the finished commit, leased on what the remote had
 * (so a push never overwrites a branch someone changed in the meantime).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MlmdError, UsageError } from './errors.js';
import type { Git } from './git.js';
import { localPathOf, redactUrl } from './pin.js';
import { ROOT_PATCHES_PATHSPEC, seriesPaths } from './series.js';
import { CONFIG_FILE } from './config.js';

export const nightlyBranch = (tag: string): string => `mlmd-remote/upstream-${tag}`;


export interface PushTarget {
  /** As given to --push. */
  name: string;
  url: string;
}

const PUSH_HINT = 'pass --push the name of a remote of this checkout (git remote -v lists them), or the URL or path of a repository you may push to, e.g. mlmd-remote nightly --tag v1.16.0 --push origin (a local one: git init --bare <dir>)';

/** git's own reason: its first fatal or error line (the rest is advice), else its last line. */
const lastLine = (s: string) => s.split('\n').find((l) => /^(fatal|error): /.test(l))?.replace(/^(fatal|error): /, '') ?? s.trim().split('\n').pop() ?? '';

/** What --push names: a remote of the checkout, else a URL or a path; refused unless git can read it now, before any build. */
export async function resolvePushTarget(git: Git, root: string, remote: string): Promise<PushTarget> {
  if (!remote.trim()) throw new UsageError('--push needs a remote', PUSH_HINT);
  const named = await git(root, ['remote', 'get-url', '--push', remote], { allowFailure: true });
  let url = remote;
  if (named.ok) {
    url = named.stdout.trim();
    const local = localPathOf(url);
    if (local !== null) url = path.resolve(root, url);
  } else {
    const local = localPathOf(remote);
    if (local !== null) {
      if (!fs.existsSync(local)) throw new UsageError(`--push ${remote}: this checkout has no remote of that name, and there is no such path`, PUSH_HINT);
      url = local;
    }
  }
  const probe = await git.remote(root, ['ls-remote', '--heads', url], { allowFailure: true, timeoutMs: 120_000 });
  if (!probe.ok) throw new UsageError(`--push ${remote}: ${redactUrl(url)} cannot be read: ${lastLine(probe.stderr) || 'git gave no reason'}`, PUSH_HINT);
  return { name: remote, url };
}

export interface SeriesCommit {
  commit: string;
  tree: string;
  parent: string;
}

/** Commits what the rebase changed in `root` (a scratch clone) on top of its HEAD, without moving HEAD. */
export async function commitSeries(git: Git, root: string, message: string): Promise<SeriesCommit> {
  // The files of this repository a rebase changes (it stages the gitlink itself).
  const present = [CONFIG_FILE, ...seriesPaths(root)];
  await git(root, ['add', '--all', '--', ...present]);
  // A patch at the root that left the series (upstream made its change).
  const tracked = (await git(root, ['ls-files', '-z', '--', ROOT_PATCHES_PATHSPEC])).stdout.split('\0').filter(Boolean);
  const gone = tracked.filter((p) => !present.includes(p));
  if (gone.length) await git(root, ['rm', '--cached', '--quiet', '--ignore-unmatch', '--', ...gone]);
  const tree = (await git(root, ['write-tree'])).stdout.trim();
  const parent = (await git(root, ['rev-parse', 'HEAD'])).stdout.trim();
  const date = (await git(root, ['show', '-s', '--format=%cI', parent])).stdout.trim();
  const commit = (await git(root, ['commit-tree', tree, '-p', parent, '-F', '-'], { input: message, env: { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } })).stdout.trim();
  return { commit, tree, parent };
}

export type PushAction = 'created' | 'updated' | 'unchanged';

/** Pushes `c` to `branch` at the target unless the branch there already holds its tree. */
export async function pushSeries(git: Git, root: string, target: PushTarget, branch: string, c: SeriesCommit): Promise<{ action: PushAction; remoteCommit: string }> {
  const ref = `refs/heads/${branch}`;
  const shown = redactUrl(target.url);
  const ls = await git.remote(root, ['ls-remote', target.url, ref], { allowFailure: true, timeoutMs: 120_000 });
  if (!ls.ok) throw new MlmdError(`reading ${branch} at ${shown} failed: ${lastLine(ls.stderr)}`, { hint: PUSH_HINT });
  const old = /^([0-9a-f]{40})\t/m.exec(ls.stdout)?.[1] ?? null;
  if (old === c.commit) return { action: 'unchanged', remoteCommit: old };
  if (old) {
    await git.remote(root, ['fetch', '--quiet', '--no-tags', target.url, ref], { timeoutMs: 300_000 });
    const oldTree = (await git(root, ['rev-parse', `${old}^{tree}`])).stdout.trim();
    if (oldTree === c.tree) return { action: 'unchanged', remoteCommit: old };
  }
  const res = await git.remote(root, ['push', '--quiet', `--force-with-lease=${ref}:${old ?? ''}`, target.url, `${c.commit}:${ref}`], { allowFailure: true, timeoutMs: 300_000 });
  if (!res.ok) {
    throw new MlmdError(`pushing ${branch} to ${shown} failed: ${lastLine(res.stderr)}`, {
      hint: `check that you may push to ${shown} (in GitHub Actions: permissions contents: write); if someone changed ${branch} meanwhile, run the nightly again, which compares with what is there`,
    });
  }
  return { action: old ? 'updated' : 'created', remoteCommit: c.commit };
}
