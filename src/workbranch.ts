/**
 * The series as commits in upstream/: `edit` makes them (git am, one commit
 * per patch, header kept in the message), `export` and `check` read them
 * back. Scratch clones share upstream's objects, so they cost little and
 * never touch upstream/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RefusedError } from './errors.js';
import { scratchDir } from './scratch.js';
import type { Git } from './git.js';
import type { Patch } from './patchfile.js';

export const WORK_BRANCH = 'mlmd-remote/work';
export const BASE_REF = 'refs/mlmd-remote/base';

/** git am as the tool uses it: CRs kept (CRLF files), dates from the patch. */
export const AM_ARGS: readonly string[] = ['am', '--keep-cr', '--committer-date-is-author-date', '--quiet'];

export async function gitDir(git: Git, repoDir: string): Promise<string> {
  return (await git(repoDir, ['rev-parse', '--absolute-git-dir'])).stdout.trim();
}

/** Where the tool keeps its state for a checkout (rebase in progress, reports). */
export async function stateDir(git: Git, repoDir: string): Promise<string> {
  const dir = path.join(await gitDir(git, repoDir), 'mlmd-remote');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export async function amInProgress(git: Git, repoDir: string): Promise<boolean> {
  return fs.existsSync(path.join(await gitDir(git, repoDir), 'rebase-apply'));
}

/**
 * Why `action` cannot start now: a rebase of the tool's is in progress, or a
 * git am session is open (an edit that stopped at a patch, or the
 * maintainer's own); null when neither. The hint names what finishes it.
 */
export async function openSession(git: Git, repoDir: string, action: string, consequence = 'would overwrite it'): Promise<RefusedError | null> {
  const dir = await gitDir(git, repoDir);
  if (fs.existsSync(path.join(dir, 'mlmd-remote', 'rebase', 'state.json'))) {
    return new RefusedError(`a rebase is in progress in upstream/; ${action} ${consequence}`, 'finish it with mlmd-remote rebase --continue, or undo it with mlmd-remote rebase --abort (--force does not override this)');
  }
  if (fs.existsSync(path.join(dir, 'rebase-apply'))) {
    return new RefusedError(
      `a git am session is open in upstream/ (an edit that stopped at a patch which does not apply, or your own); ${action} ${consequence}`,
      'finish it: make the patch\'s change (git -C upstream am --show-current-patch=diff shows it), git -C upstream add the files, git -C upstream am --continue, then mlmd-remote export; or give it up: git -C upstream am --abort (--force does not override this)',
    );
  }
  return null;
}

/** Applies `patches` as commits on the current HEAD; on failure aborts the am and rethrows. */
export async function amPatches(git: Git, repoDir: string, patches: readonly Patch[]): Promise<void> {
  if (patches.length === 0) return;
  const res = await git(repoDir, [...AM_ARGS, ...patches.map((p) => p.file)], { allowFailure: true });
  if (!res.ok) {
    await git(repoDir, ['am', '--abort'], { allowFailure: true });
    throw new Error(res.stderr.trim() || res.stdout.trim());
  }
}

export interface ScratchClone {
  dir: string;
  dispose(): void;
}

export async function scratchClone(git: Git, repoDir: string, commit: string): Promise<ScratchClone> {
  const parent = scratchDir('scratch');
  const dir = path.join(parent.dir, 'upstream');
  await git(parent.dir, ['clone', '--quiet', '--shared', '--no-checkout', repoDir, dir]);
  await git(dir, ['checkout', '--quiet', '--detach', commit]);
  return { dir, dispose: parent.dispose };
}
