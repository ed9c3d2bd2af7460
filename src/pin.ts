/**
 * The pin: the submodule gitlink and mlmd-remote.json, and the upstream tag
 * it was taken from (checked against upstream before it is trusted).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Project } from './config.js';
import { MlmdError, SupplyChainError, UsageError } from './errors.js';
import type { Git } from './git.js';
import type { Logger } from './log.js';
import { hasCheckout } from './upstream.js';
import { gitDir } from './workbranch.js';

export interface Pin {
  tag: string;
  commit: string;
}

export function upstreamUrl(project: Project, override?: string): string {
  return override || process.env['MLMD_REMOTE_UPSTREAM_URL'] || project.config.upstream.url;
}

/** Hides credentials in a URL before it is printed. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]+@/, '//***@');
}

export async function checkTagName(git: Git, cwd: string, tag: string): Promise<void> {
  const ok = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(tag) && (await git(cwd, ['check-ref-format', `refs/tags/${tag}`], { allowFailure: true })).ok;
  if (!ok) throw new UsageError(`"${tag}" is not a valid tag name`, 'upstream tags look like v1.15.0');
}

/** The pin, read from mlmd-remote.json and checked against the submodule gitlink. */
export async function readPin(project: Project, git: Git): Promise<Pin> {
  const { tag, commit } = project.config.upstream;
  const res = await git(project.root, ['ls-files', '--stage', '--', 'upstream'], { allowFailure: true });
  const m = /^160000 ([0-9a-f]{40}) /.exec(res.stdout);
  if (!m) throw new UsageError('upstream/ is not a git submodule in this repository', 'restore it with: git checkout -- upstream .gitmodules');
  if (m[1] !== commit) {
    const rebasing = hasCheckout(project.upstreamDir) && fs.existsSync(path.join(await gitDir(git, project.upstreamDir), 'mlmd-remote', 'rebase', 'state.json'));
    throw new SupplyChainError(
      `the pin disagrees with itself: mlmd-remote.json says ${tag} = ${commit}, the upstream submodule points at ${m[1]}`,
      rebasing
        ? 'a rebase has not finished: finish it with mlmd-remote rebase --continue, or undo it with mlmd-remote rebase --abort'
        : `to go back to the pin of the last commit: git checkout HEAD -- mlmd-remote.json upstream (the staged submodule pointer too), then mlmd-remote sync; to keep the pin mlmd-remote.json names: git update-index --cacheinfo 160000,${commit},upstream`,
    );
  }
  return { tag, commit };
}

/** Where the upstream URL of a run comes from, in the words of its fix. */
export function upstreamUrlSource(override?: string): 'flag' | 'env' | 'config' {
  return override ? 'flag' : process.env['MLMD_REMOTE_UPSTREAM_URL'] ? 'env' : 'config';
}

/** A URL git reads as a path on this machine (a plain path or file://), as a path; null for a remote URL. */
export function localPathOf(url: string): string | null {
  if (url.startsWith('file://')) return decodeURIComponent(url.slice('file://'.length));
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url) || /^[^/]+@[^/:]+:/.test(url) || /^[^/.][^/]*:/.test(url)) return null;
  return path.resolve(url);
}

/**
 * Why git cannot read upstream at `url`, said plainly: a path that does not
 * exist or is not a repository, or git's own words; with the fix for where
 * the URL came from.
 */
export async function unreachableUpstream(git: Git, cwd: string, url: string, gitError: string, override?: string): Promise<MlmdError> {
  // The user's url.<base>.insteadOf rewrites apply: name what git really tried.
  const effective = (await git.remote(cwd, ['ls-remote', '--get-url', url], { allowFailure: true })).stdout.trim() || url;
  const shown = effective === url ? redactUrl(url) : `${redactUrl(url)} (${redactUrl(effective)} after your git url rewrites)`;
  const local = localPathOf(effective);
  const source = upstreamUrlSource(override);
  const mirror = `a clone or mirror of upstream (make one with: git clone --mirror https://github.com/google/ml-metadata.git <dir>)`;
  const fix =
    source === 'flag'
      ? `pass --upstream-url the URL or path of ${mirror}, or leave the option out to use mlmd-remote.json's URL`
      : source === 'env'
        ? `set MLMD_REMOTE_UPSTREAM_URL to the URL or path of ${mirror}, or unset it to use mlmd-remote.json's URL`
        : `pass --upstream-url (or set MLMD_REMOTE_UPSTREAM_URL) to the URL or path of ${mirror}, or point git at one with git config --global url.<mirror>.insteadOf ${url}`;
  if (local !== null && !fs.existsSync(local)) return new MlmdError(`upstream ${shown} does not exist: there is no such path`, { hint: fix });
  if (local !== null && !(await git(fs.statSync(local).isDirectory() ? local : path.dirname(local), ['rev-parse', '--git-dir'], { allowFailure: true })).ok) {
    return new MlmdError(`upstream ${shown} is not a git repository`, { hint: fix });
  }
  const lines = gitError.trim().split('\n').map((l) => l.replace(/^fatal: /, '').trim()).filter(Boolean);
  return new MlmdError(`cannot reach upstream at ${shown}: ${lines[0] ?? 'git gave no reason'}`, { hint: fix });
}

/** The commit a tag names on the upstream remote (peeled), or null when the tag does not exist. */
export async function resolveRemoteTag(git: Git, cwd: string, url: string, tag: string, override?: string): Promise<string | null> {
  await checkTagName(git, cwd, tag);
  const res = await git.remote(cwd, ['ls-remote', '--tags', url, `refs/tags/${tag}`, `refs/tags/${tag}^{}`], { allowFailure: true, timeoutMs: 120_000 });
  if (!res.ok) throw await unreachableUpstream(git, cwd, url, res.stderr, override);
  return peeledTagCommit(res.stdout, tag);
}

export function peeledTagCommit(lsRemoteOutput: string, tag: string): string | null {
  let direct: string | null = null;
  for (const line of lsRemoteOutput.split('\n')) {
    const [sha, ref] = line.trim().split(/\s+/);
    if (ref === `refs/tags/${tag}^{}`) return sha!;
    if (ref === `refs/tags/${tag}`) direct = sha!;
  }
  return direct;
}

/** Stops when the tag no longer names the pinned commit: a moved tag is a supply-chain alarm. */
export async function verifyTag(git: Git, cwd: string, url: string, pin: Pin, override?: string): Promise<void> {
  const remote = await resolveRemoteTag(git, cwd, url, pin.tag, override);
  if (remote === null) {
    throw new SupplyChainError(`upstream ${redactUrl(url)} has no tag ${pin.tag}, which the pin names`, 'check the URL (a mirror may lag behind); the pin is only trusted when its tag still names its commit');
  }
  if (remote !== pin.commit) {
    throw new SupplyChainError(
      `upstream tag ${pin.tag} moved: it was pinned at ${pin.commit} and now names ${remote}`,
      'do not build from it; find out why upstream re-tagged, then re-pin deliberately with mlmd-remote rebase',
    );
  }
}

/** Checks that the pinned tag still names the pinned commit at upstream (the URL given, or else mlmd-remote.json's). */
export async function checkPinnedTag(project: Project, deps: { git: Git; log: Logger }, pin: Pin, override?: string): Promise<void> {
  const url = upstreamUrl(project, override);
  const step = deps.log.step(`Check that ${pin.tag} still names ${pin.commit.slice(0, 12)} at ${redactUrl(url)}`);
  try {
    await verifyTag(deps.git, project.root, url, pin, override);
  } catch (err) {
    step.fail();
    throw err;
  }
  step.done();
}

/**
 * Commands that read upstream only through upstream/ check the tag only when
 * a URL is given (--upstream-url or MLMD_REMOTE_UPSTREAM_URL): then it runs.
 */
export async function checkPinnedTagIfGiven(project: Project, deps: { git: Git; log: Logger }, pin: Pin, override?: string): Promise<boolean> {
  if (upstreamUrlSource(override) === 'config') return false;
  await checkPinnedTag(project, deps, pin, override);
  return true;
}
