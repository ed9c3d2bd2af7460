/**
 * Runs that are interrupted (Ctrl-C, a kill, a crash) in the middle of
 * changing upstream/. Before sync, apply or edit change the work tree, they
 * write down what upstream/ was (HEAD, branch, index, work tree, the refs they
 * may move) and which trees they are about to write; they remove the record
 * when they are done. The next run that finds a record puts upstream/ back
 * exactly as it was before the interrupted run, but only when everything
 * there is either what was there before or what that run was writing;
 * anything else is the maintainer's and is never thrown away.
 *
 * A git process killed in the middle of a checkout leaves files of the new
 * tree that its index does not know about (untracked). `removeLeftovers` takes
 * away exactly those: untracked files whose content is the content of the
 * same path in a tree the tool was writing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import type { Project } from './config.js';
import { RefusedError } from './errors.js';
import { readJsonFile, versioned } from './json-file.js';
import { z } from 'zod';
import type { Git } from './git.js';
import type { Logger } from './log.js';
import { backupBranchName, BUILD_OUTPUT_PATHSPECS, checkoutTree, hasCheckout, hasCommit, workTreeTree } from './upstream.js';
import { gitDir } from './workbranch.js';

export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export interface Intent {
  schemaVersion: 1;
  command: string;
  pid: number;
  since: string;
  /** upstream/ before the run: null when it had no checkout (a clone). */
  before: { head: string; branch: string | null; index: string | null; tree: string } | null;
  /** Refs the run may move or create (full names), with their value before (null: absent). */
  refs: Record<string, string | null>;
  /** Trees whose files the run writes into the work tree. */
  targets: string[];
}

const IntentSchema = versioned({
  command: z.string(),
  pid: z.number(),
  since: z.string(),
  before: z.object({ head: z.string(), branch: z.string().nullable(), index: z.string().nullable(), tree: z.string() }).nullable(),
  refs: z.record(z.string(), z.string().nullable()),
  targets: z.array(z.string()),
}) as unknown as z.ZodType<Intent>;

async function intentFile(git: Git, project: Project): Promise<string> {
  return path.join(await gitDir(git, project.root), 'mlmd-remote', 'upstream-intent.json');
}

async function refValue(git: Git, dir: string, ref: string): Promise<string | null> {
  return (await git(dir, ['rev-parse', '--verify', '-q', `${ref}^{commit}`], { allowFailure: true })).stdout.trim() || null;
}

/**
 * Records that `command` is about to change upstream/ (into `targets`, moving
 * `refs`); returns the function that removes the record once it is done.
 */
export async function beginIntent(project: Project, git: Git, opts: { command: string; targets: string[]; refs?: string[] }): Promise<() => void> {
  const dir = project.upstreamDir;
  let before: Intent['before'] = null;
  const refs: Record<string, string | null> = {};
  const head = hasCheckout(dir) ? (await git(dir, ['rev-parse', '--verify', '-q', 'HEAD'], { allowFailure: true })).stdout.trim() : '';
  if (head) {
    const branch = (await git(dir, ['symbolic-ref', '-q', '--short', 'HEAD'], { allowFailure: true })).stdout.trim() || null;
    const index = (await git(dir, ['write-tree'], { allowFailure: true })).stdout.trim() || null;
    before = { head, branch, index, tree: await workTreeTree(git, dir) };
    for (const ref of opts.refs ?? []) refs[ref] = await refValue(git, dir, ref);
  }
  const file = await intentFile(git, project);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const intent: Intent = { schemaVersion: 1, command: opts.command, pid: process.pid, since: new Date().toISOString(), before, refs, targets: opts.targets };
  writeFileAtomic(file, JSON.stringify(intent, null, 2));
  return () => fs.rmSync(file, { force: true });
}

/** path -> "mode id" of every file of a tree. */
async function entries(git: Git, dir: string, tree: string): Promise<Map<string, string>> {
  const out = (await git(dir, ['ls-tree', '-r', '-z', '--full-tree', tree])).stdout;
  const map = new Map<string, string>();
  for (const e of out.split('\0').filter(Boolean)) {
    const tab = e.indexOf('\t');
    const [mode, , id] = e.slice(0, tab).split(' ');
    map.set(e.slice(tab + 1), `${mode} ${id}`);
  }
  return map;
}

/** Paths of `current` that hold neither what `before` held nor what any of `targets` holds there. */
export async function strayChanges(git: Git, dir: string, before: string, current: string, targets: readonly string[]): Promise<string[]> {
  if (before === current) return [];
  const changed = (await git(dir, ['diff', '--name-only', '--no-renames', '-z', before, current])).stdout.split('\0').filter(Boolean);
  if (!changed.length) return [];
  const now = await entries(git, dir, current);
  const known = await Promise.all(targets.map((t) => entries(git, dir, t)));
  return changed.filter((p) => !known.some((t) => t.get(p) === now.get(p)));
}

function removeEmptyParents(root: string, file: string): void {
  for (let d = path.dirname(file); d.startsWith(root + path.sep); d = path.dirname(d)) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
  }
}

/**
 * Removes the untracked files of upstream/ that an interrupted checkout left:
 * those whose content is what one of `trees` holds at the same path. Returns
 * the untracked files that stay (the maintainer's).
 */
export async function removeLeftovers(git: Git, dir: string, trees: readonly string[]): Promise<string[]> {
  const others = (await git(dir, ['ls-files', '-z', '--others', '--exclude-standard', '--', '.', ...BUILD_OUTPUT_PATHSPECS])).stdout.split('\0').filter(Boolean);
  if (!others.length) return [];
  const known = await Promise.all(trees.map((t) => entries(git, dir, t)));
  const stay: string[] = [];
  for (const rel of others) {
    const file = path.join(dir, rel);
    const st = fs.lstatSync(file);
    const mode = st.isSymbolicLink() ? '120000' : st.mode & 0o111 ? '100755' : '100644';
    const id = (await git(dir, ['hash-object', '--no-filters', '--', rel])).stdout.trim();
    if (known.some((t) => t.get(rel) === `${mode} ${id}`)) {
      fs.rmSync(file, { force: true });
      removeEmptyParents(dir, file);
    } else {
      stay.push(rel);
    }
  }
  return stay;
}

/**
 * When an earlier run was interrupted while changing upstream/, puts upstream/
 * back as it was before that run and says so (null when there was nothing to
 * do). Refuses when upstream/ has changed since in ways that run did not make,
 * unless forced, and then saves that first.
 */
export async function recoverInterrupted(project: Project, deps: { git: Git; log: Logger }, opts: { pin: string; force?: boolean }): Promise<string | null> {
  const { git, log } = deps;
  const file = await intentFile(git, project);
  if (!fs.existsSync(file)) return null;
  const intent = readJsonFile(file, IntentSchema, `the record of an interrupted run ${file}`, (m) => new RefusedError(m, `it is damaged or from another version of mlmd-remote: remove it, then run mlmd-remote sync --force (what upstream/ holds is saved first)`));
  const dir = project.upstreamDir;
  const what = `an interrupted mlmd-remote ${intent.command} (pid ${intent.pid}, ${intent.since})`;
  const head = hasCheckout(dir) ? (await git(dir, ['rev-parse', '--verify', '-q', 'HEAD'], { allowFailure: true })).stdout.trim() : '';
  if (!head) {
    // Nothing usable was checked out: what the next sync does from scratch.
    fs.rmSync(file, { force: true });
    return null;
  }
  const gdir = await gitDir(git, dir);
  // claimCheckout lets no run start with a git am session open: this one is the interrupted run's own.
  if (fs.existsSync(path.join(gdir, 'rebase-apply'))) {
    await git(dir, ['am', '--abort'], { allowFailure: true });
    fs.rmSync(path.join(gdir, 'rebase-apply'), { recursive: true, force: true });
  }
  const headNow = (await git(dir, ['rev-parse', 'HEAD'])).stdout.trim();
  const headTree = (await git(dir, ['rev-parse', 'HEAD^{tree}'])).stdout.trim();
  // A clone checks out upstream's default branch, and then the pin.
  const pinTree = (await hasCommit(git, dir, opts.pin)) ? (await git(dir, ['rev-parse', `${opts.pin}^{tree}`])).stdout.trim() : null;
  const targets = intent.before ? intent.targets : [...intent.targets, headTree, ...(pinTree ? [pinTree] : [])];
  const beforeTree = intent.before?.tree ?? EMPTY_TREE;
  const current = await workTreeTree(git, dir);
  const stray = await strayChanges(git, dir, beforeTree, current, [beforeTree, ...targets]);
  const knownCommits = new Set([intent.before?.head, ...Object.values(intent.refs)].filter((c): c is string => Boolean(c)));
  const commitOk = async (c: string | null) => c === null || knownCommits.has(c) || targets.includes((await git(dir, ['rev-parse', `${c}^{tree}`])).stdout.trim());
  const movedElsewhere: string[] = [];
  if (!(await commitOk(headNow))) movedElsewhere.push(`HEAD (${headNow.slice(0, 12)})`);
  for (const ref of Object.keys(intent.refs)) if (!(await commitOk(await refValue(git, dir, ref)))) movedElsewhere.push(ref);
  if (stray.length || movedElsewhere.length) {
    const changes = [...stray.slice(0, 5), ...(stray.length > 5 ? ['…'] : []), ...movedElsewhere].join(', ');
    if (!opts.force) {
      throw new RefusedError(
        `${what} was changing upstream/, and upstream/ has changed since in ways that run did not make (${changes})`,
        'set those changes aside (git -C upstream stash push --include-untracked) and run the command again, which then puts back what the interrupted run changed; or re-run with --force, which saves upstream/ as it is (a backup branch and a stash) first',
      );
    }
    const branch = backupBranchName();
    await git(dir, ['branch', branch, headNow]);
    await git(dir, ['stash', 'push', '--include-untracked', '-m', `mlmd-remote: saved before undoing ${what}`, '--', '.', ...BUILD_OUTPUT_PATHSPECS], { allowFailure: true });
    log.warn(`upstream/ had changed since ${what}; saved it as branch ${branch} (and a stash, if there were uncommitted changes)`);
  }
  if (intent.before) {
    const b = intent.before;
    await checkoutTree(git, dir, b.head, b.tree);
    await removeLeftovers(git, dir, targets);
    if (b.index && b.index !== b.tree) await git(dir, ['read-tree', b.index]);
    for (const [ref, value] of Object.entries(intent.refs)) {
      if (value) await git(dir, ['update-ref', ref, value]);
      else await git(dir, ['update-ref', '-d', ref], { allowFailure: true });
    }
    if (b.branch) await git(dir, ['symbolic-ref', 'HEAD', `refs/heads/${b.branch}`]);
  } else if (pinTree) {
    // Before the run nothing was checked out: finish the clone's checkout of the pin.
    await checkoutTree(git, dir, opts.pin, pinTree);
    await removeLeftovers(git, dir, targets);
  }
  fs.rmSync(file, { force: true });
  const msg = `${what} left upstream/ half-changed; it is back as it was before that run`;
  log.warn(msg);
  return msg;
}
