/**
 * The upstream checkout: the state of upstream/, so that the tool never
 * overwrites work it did not make.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RefusedError } from './errors.js';
import type { Git } from './git.js';
import { withTempIndex } from './gitindex.js';
import type { Project } from './config.js';
import { gitDir, openSession } from './workbranch.js';

/** Files that builds write into a checkout; they never count as the maintainer's work. */
export const BUILD_OUTPUT_GLOBS: readonly string[] = [
  'bazel-*',
  'build/**',
  'dist/**',
  '*.egg-info/**',
  'ml_metadata/proto/*_pb2.py',
  'ml_metadata/proto/*_pb2_grpc.py',
  'ml_metadata/simple_types/proto/*_pb2.py',
  'ml_metadata/simple_types/simple_types.pbtxt',
];

export const BUILD_OUTPUT_PATHSPECS: readonly string[] = BUILD_OUTPUT_GLOBS.map((g) => `:(exclude,glob)${g}`);

/** `tree` without the build-output paths, so trees compare the way the work tree is read. */
export async function withoutBuildOutputs(git: Git, dir: string, tree: string): Promise<string> {
  return withTempIndex(git, dir, tree, async (indexGit) => {
    await indexGit(['rm', '--cached', '-r', '-q', '--ignore-unmatch', '--', ...BUILD_OUTPUT_GLOBS.map((g) => `:(glob)${g}`)]);
    return (await indexGit(['write-tree'])).stdout.trim();
  });
}

export type UpstreamState =
  | { kind: 'missing' }
  /** HEAD at the pin, work tree equal to it. */
  | { kind: 'pristine'; head: string; tree: string }
  /** HEAD at the pin, work tree equal to pin + series: what apply makes. */
  | { kind: 'applied'; head: string; tree: string }
  /**
   * Changes that are neither: the maintainer's work. At the pin, or (onSeries)
   * on top of commits that are exactly the exported series.
   */
  | { kind: 'modified'; head: string; tree: string; changed: string[]; untracked?: string[]; onSeries?: { commitsAhead: number } }
  /** Commits on top of the pin whose result is exactly the series (e.g. after edit + export, or a rebase). */
  | { kind: 'exported'; head: string; tree: string; commitsAhead: number }
  /**
   * HEAD is upstream's (in one of its tags) but not the pin, and nothing there is only in the work tree: it is
   * HEAD's tree, or a local branch holds it (as after a rebase, upstream/ at the new tag with the series applied).
   */
  | { kind: 'elsewhere'; head: string; tree: string; tag: string; keptBy: string | null }
  /** HEAD is not the pin: commits the tool did not make, or a different checkout; `changed`: uncommitted changes on top. */
  | { kind: 'diverged'; head: string; tree: string; commitsAhead: number; changed?: string[]; untracked?: string[] };

export function hasCheckout(upstreamDir: string): boolean {
  return fs.existsSync(path.join(upstreamDir, '.git'));
}

/** The tree of the work tree as it is (tracked and untracked files, build outputs left out). */
export async function workTreeTree(git: Git, dir: string): Promise<string> {
  return withTempIndex(git, dir, 'HEAD', async (indexGit) => {
    await indexGit(['add', '--all', '--', '.', ...BUILD_OUTPUT_PATHSPECS]);
    return (await indexGit(['write-tree'])).stdout.trim();
  });
}

export async function inspectUpstream(git: Git, dir: string, pinCommit: string, seriesTree?: string): Promise<UpstreamState> {
  if (!hasCheckout(dir)) return { kind: 'missing' };
  const head = (await git(dir, ['rev-parse', '--verify', '-q', 'HEAD'], { allowFailure: true })).stdout.trim();
  if (!head) return { kind: 'missing' };
  const tree = await workTreeTree(git, dir);
  if (seriesTree) seriesTree = await withoutBuildOutputs(git, dir, seriesTree);
  if (head !== pinCommit) {
    const ahead = await git(dir, ['rev-list', '--count', `${pinCommit}..HEAD`], { allowFailure: true });
    const commitsAhead = ahead.ok ? +ahead.stdout.trim() : -1;
    const onPin = (await git(dir, ['merge-base', '--is-ancestor', pinCommit, 'HEAD'], { allowFailure: true })).ok;
    const headTree = await withoutBuildOutputs(git, dir, (await git(dir, ['rev-parse', 'HEAD^{tree}'])).stdout.trim());
    const { changed, untracked } = await changesBetween(git, dir, headTree, tree);
    if (onPin && seriesTree && headTree === seriesTree) {
      return changed.length ? { kind: 'modified', head, tree, changed, untracked, onSeries: { commitsAhead } } : { kind: 'exported', head, tree, commitsAhead };
    }
    const tag = (await git(dir, ['for-each-ref', '--count=1', '--contains', head, '--format=%(refname:short)', 'refs/tags'], { allowFailure: true })).stdout.trim();
    if (tag) {
      if (!changed.length) return { kind: 'elsewhere', head, tree, tag, keptBy: null };
      const branches = (await git(dir, ['for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads'])).stdout.split('\n').filter(Boolean);
      for (const line of branches) {
        const [name, commit] = line.split(' ') as [string, string];
        if ((await withoutBuildOutputs(git, dir, `${commit}^{tree}`)) === tree) return { kind: 'elsewhere', head, tree, tag, keptBy: name };
      }
    }
    return changed.length ? { kind: 'diverged', head, tree, commitsAhead, changed, untracked } : { kind: 'diverged', head, tree, commitsAhead };
  }
  const pinTree = await withoutBuildOutputs(git, dir, (await git(dir, ['rev-parse', `${pinCommit}^{tree}`])).stdout.trim());
  if (tree === pinTree) return { kind: 'pristine', head, tree };
  if (seriesTree && tree === seriesTree) return { kind: 'applied', head, tree };
  const { changed } = await changesBetween(git, dir, pinTree, tree);
  return { kind: 'modified', head, tree, changed };
}

/** The paths that differ between two trees, and which of them are untracked files of the work tree. */
async function changesBetween(git: Git, dir: string, from: string, to: string): Promise<{ changed: string[]; untracked: string[] }> {
  if (from === to) return { changed: [], untracked: [] };
  const changed = (await git(dir, ['diff', '--name-only', '--no-renames', from, to])).stdout.split('\n').filter(Boolean);
  const others = new Set((await git(dir, ['ls-files', '--others', '--exclude-standard', '--', '.', ...BUILD_OUTPUT_PATHSPECS])).stdout.split('\n').filter(Boolean));
  return { changed, untracked: changed.filter((p) => others.has(p)) };
}

function listPaths(paths: readonly string[], untracked: readonly string[] = []): string {
  const shown = paths.slice(0, 5).map((p) => (untracked.includes(p) ? `${p} (untracked)` : p));
  return `${shown.join(', ')}${paths.length > 5 ? ', …' : ''}`;
}

export function describeState(state: UpstreamState): string {
  switch (state.kind) {
    case 'missing':
      return 'not checked out';
    case 'pristine':
      return `at the pin ${state.head.slice(0, 12)}, unchanged`;
    case 'applied':
      return `at the pin ${state.head.slice(0, 12)} with the series applied`;
    case 'modified':
      return state.onSeries
        ? `at ${state.head.slice(0, 12)}: ${state.onSeries.commitsAhead} commit(s) on the pin that the patch files already hold, and ${state.changed.length} uncommitted change(s) on top (${listPaths(state.changed, state.untracked)})`
        : `at the pin with ${state.changed.length} changed file(s) that are not the series (${listPaths(state.changed, state.untracked)})`;
    case 'exported':
      return `at ${state.head.slice(0, 12)}: ${state.commitsAhead} commit(s) on the pin that the patch files already hold`;
    case 'elsewhere':
      return `at ${state.head.slice(0, 12)}, upstream's own (in ${state.tag}), not the pin${state.keptBy ? `; its work tree is what branch ${state.keptBy} holds` : ', unchanged'}`;
    case 'diverged':
      return `at ${state.head.slice(0, 12)}, not the pin${state.commitsAhead > 0 ? ` (${state.commitsAhead} commit(s) on top of it)` : ''}${state.changed?.length ? `, and ${state.changed.length} uncommitted change(s) (${listPaths(state.changed, state.untracked)})` : ''}`;
  }
}

/** True when the tool may replace what upstream/ holds without losing anything. */
export function isDisposable(state: UpstreamState): boolean {
  return state.kind === 'missing' || state.kind === 'pristine' || state.kind === 'applied' || state.kind === 'exported' || state.kind === 'elsewhere';
}

export function refuseToTouch(state: UpstreamState, action: string): RefusedError {
  const trailers = 'with Why/Upstream-Status/Drop-When in the message';
  const save =
    state.kind === 'diverged'
      ? state.changed?.length
        ? `commit the changes (git -C upstream add -A && git -C upstream commit, ${trailers}) and turn the commits into patch files with mlmd-remote export`
        : `turn the commits into patch files with mlmd-remote export (each needs Why/Upstream-Status/Drop-When in its message), or keep them on a branch of your own (git -C upstream branch my-work) and re-run with --force`
      : state.kind === 'modified' && state.onSeries
        ? `set the changes aside with: git -C upstream stash push --include-untracked; or make them a patch: git -C upstream add -A && git -C upstream commit (${trailers}), then mlmd-remote export`
        : `set the changes aside with: git -C upstream stash push --include-untracked; to make them a patch instead, stash them, run mlmd-remote edit, git -C upstream stash pop, commit them (${trailers}), then mlmd-remote export`;
  return new RefusedError(`upstream/ holds work that ${action} would overwrite: ${describeState(state)}`, `${save}; or re-run with --force, which saves it first (a stash or a backup branch) and then proceeds`, { state });
}

/**
 * Puts what upstream/ holds somewhere safe before a forced overwrite, and says where.
 * Nothing is ever thrown away, even with --force.
 */
export async function saveWork(git: Git, dir: string, state: UpstreamState, reason: string): Promise<string | null> {
  if (isDisposable(state)) return null;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  if (state.kind === 'diverged') {
    const branch = backupBranchName();
    await git(dir, ['branch', branch, state.head]);
    const dirty = (await git(dir, ['status', '--porcelain', '--', '.', ...BUILD_OUTPUT_PATHSPECS])).stdout.trim();
    if (!dirty) return `branch ${branch}`;
    await git(dir, ['stash', 'push', '--include-untracked', '-m', `mlmd-remote: ${reason} (${stamp})`, '--', '.', ...BUILD_OUTPUT_PATHSPECS]);
    return `branch ${branch} and stash@{0}`;
  }
  await git(dir, ['stash', 'push', '--include-untracked', '-m', `mlmd-remote: ${reason} (${stamp})`, '--', '.', ...BUILD_OUTPUT_PATHSPECS]);
  return 'stash@{0} (git -C upstream stash list)';
}

/**
 * Before `action` overwrites upstream/: nothing to do when it holds only the
 * tool's own state; refused when it holds other work, unless forced, and then
 * the work is saved first. Returns where it was saved.
 */
export async function claimCheckout(git: Git, dir: string, state: UpstreamState, action: string, force: boolean | undefined, warn: (m: string) => void): Promise<string | null> {
  const session = state.kind === 'missing' ? null : await openSession(git, dir, action);
  if (session) throw session;
  if (isDisposable(state)) return null;
  if (!force) throw refuseToTouch(state, action);
  const savedTo = await saveWork(git, dir, state, `saved before ${action} --force`);
  warn(`upstream/ was ${describeState(state)}; saved it as ${savedTo}`);
  return savedTo;
}

/** A new, unique name for a branch that keeps work safe. */
export function backupBranchName(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return `mlmd-remote/backup-${stamp}-${Math.random().toString(16).slice(2, 6)}`;
}

/** Makes the work tree and index of upstream/ exactly `tree`, with HEAD detached at `commit`. */
export async function checkoutTree(git: Git, dir: string, commit: string, tree: string): Promise<void> {
  await git(dir, ['checkout', '--quiet', '--force', '--detach', commit]);
  await git(dir, ['read-tree', '--reset', '-u', tree]);
}

export async function hasCommit(git: Git, dir: string, commit: string): Promise<boolean> {
  return (await git(dir, ['cat-file', '-e', `${commit}^{commit}`], { allowFailure: true })).ok;
}
