/**
 * Moving the series to a new upstream tag, one patch at a time, in upstream/
 * on a branch of its own. Each patch is classified:
 *   clean | offset      applies as it is (offset: hunks moved)
 *   already-upstream    upstream made the same change, and that is proven
 *                       (`proof` says how): the one way a patch leaves the series
 *   three-way           needed a three-way merge, which succeeded
 *   conflicted          the merge left conflicts: the rebase stops, upstream/
 *                       holds an ordinary `git am` conflict to resolve with git
 *   resolved            the maintainer's resolution of a conflicted patch
 * Everything needed to undo the rebase is saved before it starts, and the
 * patch being replayed is recorded before its replay starts, so a run that is
 * interrupted in the middle of one is rolled back to just before it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Git } from './git.js';
import { withTempIndex } from './gitindex.js';
import { readApplyOutput, type HunkOffset } from './apply-series.js';
import type { Patch } from './patchfile.js';
import { AM_ARGS } from './workbranch.js';
import { versioned } from './json-file.js';
import { z } from 'zod';

export const REBASE_PATCH_STATUSES = ['pending', 'clean', 'offset', 'already-upstream', 'three-way', 'conflicted', 'resolved'] as const;
export type RebasePatchStatus = (typeof REBASE_PATCH_STATUSES)[number];

export interface ConflictHunk {
  /** 1-based line range of the conflict markers in the work tree file. */
  startLine: number;
  endLine: number;
}

export interface ConflictFile {
  path: string;
  hunks: ConflictHunk[];
}

export interface RebasePatch {
  name: string;
  subject: string;
  /** The patch file as it was before the rebase (a copy in the state directory). */
  file: string;
  status: RebasePatchStatus;
  offsets: HunkOffset[];
  /** HEAD when the patch stopped on a conflict (to tell a resolution from a skip). */
  conflict?: { files: ConflictFile[]; message: string; head?: string };
  commit?: string;
  /** For already-upstream: how it is known that the new base has the patch's change. */
  proof?: string;
}

export interface RebaseState {
  schemaVersion: 1;
  from: { tag: string; commit: string };
  to: { tag: string; commit: string };
  branch: string;
  /** What upstream/ was before: HEAD (and its branch, if any) and the work tree as a tree. */
  orig: { head: string; branch: string | null; tree: string };
  /** The superproject's files as they were: restored by --abort. */
  backupDir: string;
  patches: RebasePatch[];
  /** The patch whose replay has started and not been recorded yet, and HEAD before it. */
  inFlight?: { index: number; head: string };
  startedAt: string;
  durationMs: number;
}

const TagCommit = z.object({ tag: z.string(), commit: z.string() });

/** What a rebase state file must hold for --continue and --abort to work from it. */
export const RebaseStateSchema = versioned({
  from: TagCommit,
  to: TagCommit,
  branch: z.string(),
  orig: z.object({ head: z.string(), branch: z.string().nullable(), tree: z.string() }),
  backupDir: z.string(),
  patches: z.array(z.looseObject({ name: z.string(), file: z.string(), status: z.enum(REBASE_PATCH_STATUSES) })),
  startedAt: z.string(),
  durationMs: z.number(),
}) as unknown as z.ZodType<RebaseState>;

/** Conflict marker ranges in a file's text. */
export function conflictHunks(text: string): ConflictHunk[] {
  const hunks: ConflictHunk[] = [];
  let start = 0;
  text.split('\n').forEach((line, i) => {
    if (line.startsWith('<<<<<<< ')) start = i + 1;
    else if (line.startsWith('>>>>>>> ') && start) {
      hunks.push({ startLine: start, endLine: i + 1 });
      start = 0;
    }
  });
  return hunks;
}

export async function conflictedFiles(git: Git, dir: string): Promise<ConflictFile[]> {
  const names = (await git(dir, ['diff', '--name-only', '--diff-filter=U'])).stdout.split('\n').filter(Boolean);
  return names.map((p) => {
    const file = path.join(dir, p);
    return { path: p, hunks: fs.existsSync(file) ? conflictHunks(fs.readFileSync(file, 'utf8')) : [] };
  });
}

/**
 * Applies one patch on HEAD as a commit and says how it went. On a conflict
 * the `git am` session is left open for the maintainer.
 */
export async function replayPatch(git: Git, dir: string, patch: RebasePatch, original: Patch): Promise<RebasePatch> {
  const probe = await git(dir, ['apply', '--check', '--verbose', patch.file], { allowFailure: true });
  if (probe.ok) {
    const { offsets } = readApplyOutput(original, `${probe.stdout}\n${probe.stderr}`);
    await git(dir, [...AM_ARGS, patch.file]);
    return { ...patch, status: offsets.length ? 'offset' : 'clean', offsets, commit: await head(git, dir) };
  }
  const before = await head(git, dir);
  if (await appliesInReverse(git, dir, before, patch.file)) {
    return { ...patch, status: 'already-upstream', offsets: [], proof: 'it applies in reverse: the new base has exactly its change' };
  }
  const merged = await git(dir, [...AM_ARGS, '--3way', patch.file], { allowFailure: true });
  if (merged.ok) {
    const after = await head(git, dir);
    // A three-way merge that changed nothing means upstream already has the change.
    if (after === before) return { ...patch, status: 'already-upstream', offsets: [], proof: 'a three-way merge of it into the new base changes nothing' };
    if ((await git(dir, ['diff', '--quiet', `${after}^`, after], { allowFailure: true })).ok) {
      await git(dir, ['reset', '--quiet', '--hard', before]);
      return { ...patch, status: 'already-upstream', offsets: [], proof: 'a three-way merge of it into the new base changes nothing' };
    }
    return { ...patch, status: 'three-way', offsets: [], commit: after };
  }
  const conflicted = await conflictedFiles(git, dir);
  // Nothing conflicted and yet no merge (git could not even try one): the files the patch changes are the ones to fix.
  const files = conflicted.length ? conflicted : original.files.map((f) => f.newPath ?? f.oldPath!).filter((p, i, all) => all.indexOf(p) === i).map((p) => ({ path: p, hunks: [] }));
  const message = `${merged.stderr}\n${merged.stdout}`
    .split('\n')
    .filter((l) => /^(error|CONFLICT|Patch failed|Applied patch .* with conflicts|U |Did you hand edit|Repository lacks)/.test(l.trim()))
    .slice(0, 12)
    .join('\n');
  return { ...patch, status: 'conflicted', offsets: [], conflict: { files, message, head: before } };
}

/** True when `patchFile` applies in reverse to `commit`: the commit already holds the patch's change. */
export async function appliesInReverse(git: Git, dir: string, commit: string, patchFile: string): Promise<boolean> {
  return withTempIndex(git, dir, commit, async (indexGit) => (await indexGit(['apply', '--cached', '--check', '--reverse', patchFile], { allowFailure: true })).ok);
}

/** Conflict markers still in the work tree files of a conflict (staged or not). */
export function remainingMarkers(dir: string, files: readonly ConflictFile[]): ConflictFile[] {
  return files
    .map((f) => {
      const file = path.join(dir, f.path);
      return { path: f.path, hunks: fs.existsSync(file) ? conflictHunks(fs.readFileSync(file, 'utf8')) : [] };
    })
    .filter((f) => f.hunks.length > 0);
}

export async function head(git: Git, dir: string): Promise<string> {
  return (await git(dir, ['rev-parse', 'HEAD'])).stdout.trim();
}
