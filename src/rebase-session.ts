/**
 * The rebase in progress on disk: where its state lives, and rolling back a
 * replay that was interrupted so that --continue starts that patch again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { CONFIG_FILE, type Project } from './config.js';
import { RefusedError } from './errors.js';
import type { Git } from './git.js';
import { withTempIndex } from './gitindex.js';
import { removeLeftovers, strayChanges } from './interrupted.js';
import { readJsonFile } from './json-file.js';
import type { Logger } from './log.js';
import { parsePatchFile } from './patchfile.js';
import { RebaseStateSchema, type RebaseState } from './rebase.js';
import { rootPatchFiles } from './series.js';
import { workTreeTree } from './upstream.js';
import { amInProgress, gitDir, stateDir } from './workbranch.js';

/** Saves the superproject's files a rebase rewrites into `backupDir`, each under its path in the project. */
export function backUpSeriesFiles(root: string, backupDir: string): void {
  fs.mkdirSync(path.join(backupDir, 'patches'), { recursive: true });
  for (const rel of [CONFIG_FILE, ...rootPatchFiles(root)]) fs.copyFileSync(path.join(root, rel), path.join(backupDir, rel));
  for (const name of fs.readdirSync(path.join(root, 'patches'))) {
    const file = path.join(root, 'patches', name);
    if (fs.statSync(file).isFile()) fs.copyFileSync(file, path.join(backupDir, 'patches', name));
  }
}

/**
 * Puts back what backUpSeriesFiles saved, and removes the files in patches/
 * that were not there then. At the root nothing is removed: a rebase writes
 * no new file there (export puts new patches in patches/), so any other
 * file there is the maintainer's.
 */
export function restoreSeriesFiles(root: string, backupDir: string): void {
  const filesIn = (dir: string) => fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile());
  const saved = new Set(filesIn(path.join(backupDir, 'patches')));
  for (const name of filesIn(path.join(root, 'patches'))) if (!saved.has(name)) fs.rmSync(path.join(root, 'patches', name));
  for (const name of saved) writeFileAtomic(path.join(root, 'patches', name), fs.readFileSync(path.join(backupDir, 'patches', name)));
  for (const name of filesIn(backupDir)) writeFileAtomic(path.join(root, name), fs.readFileSync(path.join(backupDir, name)));
}

/** The files restoreSeriesFiles puts back, for a hint that restores them from git instead. */
function savedFiles(backupDir: string): string[] {
  const atRoot = fs.existsSync(backupDir) ? fs.readdirSync(backupDir).filter((n) => n.endsWith('.patch')) : [];
  return [CONFIG_FILE, 'patches', ...atRoot.sort()];
}

/** Where a rebase in progress keeps its state, and the report of the last one. */
export async function statePaths(deps: { git: Git }, project: Project): Promise<{ dir: string; file: string; report: string }> {
  const dir = path.join(await stateDir(deps.git, project.upstreamDir), 'rebase');
  return { dir, file: path.join(dir, 'state.json'), report: path.join(path.dirname(dir), 'last-rebase.json') };
}

/** The state of the rebase in progress, or null when none is. */
export function readState(file: string): RebaseState | null {
  if (!fs.existsSync(file)) return null;
  return readJsonFile(file, RebaseStateSchema, `the rebase state ${file}`, (m) => new RefusedError(m, `it is damaged or from another version of mlmd-remote: remove ${path.dirname(file)}, then run git checkout HEAD -- ${savedFiles(path.join(path.dirname(file), 'backup')).join(' ')} && mlmd-remote sync --force`));
}

/**
 * A replay that was interrupted (its start is recorded, its end is not): the
 * git am session it opened is closed and HEAD goes back to just before the
 * patch, and the patch is pending again. What git wrote meanwhile is all that
 * goes; anything else in upstream/ stops this with an instruction.
 */
export async function rollBackInFlight(project: Project, deps: { git: Git; log: Logger }, state: RebaseState, paths: { file: string }): Promise<void> {
  const { git, log } = deps;
  const dir = project.upstreamDir;
  if (!state.inFlight) return;
  const { index, head: before } = state.inFlight;
  const p = state.patches[index]!;
  if (await amInProgress(git, dir)) {
    await git(dir, ['am', '--abort'], { allowFailure: true });
    fs.rmSync(path.join(await gitDir(git, dir), 'rebase-apply'), { recursive: true, force: true });
  }
  const beforeTree = (await git(dir, ['rev-parse', `${before}^{tree}`])).stdout.trim();
  const trees = [beforeTree, ...(await patchedTree(deps, dir, before, p.file))];
  // A three-way merge killed halfway leaves its result, conflict markers and all, in the files the patch changes.
  const touched = new Set(parsePatchFile(p.file).files.flatMap((f) => [f.oldPath, f.newPath]).filter((x): x is string => x !== null));
  const stray = (await strayChanges(git, dir, beforeTree, await workTreeTree(git, dir), trees)).filter((f) => !touched.has(f));
  if (stray.length) {
    throw new RefusedError(
      `the replay of ${p.name} was interrupted, and upstream/ has changed since in ways the replay did not make (${stray.slice(0, 5).join(', ')})`,
      'set them aside (git -C upstream stash push --include-untracked), then mlmd-remote rebase --continue; or undo the rebase with mlmd-remote rebase --abort',
    );
  }
  await git(dir, ['checkout', '--quiet', '--force', '-B', state.branch, before]);
  await removeLeftovers(git, dir, trees);
  // Files the patch adds, written by the killed git am but never committed or staged.
  if (touched.size) await git(dir, ['clean', '--quiet', '--force', '--', ...touched]);
  state.patches[index] = { name: p.name, subject: p.subject, file: p.file, status: 'pending', offsets: [] };
  delete state.inFlight;
  writeFileAtomic(paths.file, JSON.stringify(state, null, 2));
  log.warn(`the replay of ${p.name} was interrupted; it starts again from ${before.slice(0, 12)}`);
}

/** The tree of `commit` with `patchFile` applied, when it applies (what a replay may have written). */
async function patchedTree(deps: { git: Git }, dir: string, commit: string, patchFile: string): Promise<string[]> {
  return withTempIndex(deps.git, dir, commit, async (indexGit) => ((await indexGit(['apply', '--cached', patchFile], { allowFailure: true })).ok ? [(await indexGit(['write-tree'])).stdout.trim()] : []));
}
