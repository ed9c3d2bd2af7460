import type { Project } from '../config.js';
import { UsageError } from '../errors.js';
import { applySeries, readSeries, type ApplyResult } from '../series.js';
import { planChangesNothing, planExport } from '../export.js';
import { checkoutTree, claimCheckout, describeState, hasCheckout, hasCommit, inspectUpstream, readPin, type UpstreamState } from '../upstream.js';
import type { Deps } from './deps.js';
import { InterruptedError } from '../exec.js';
import { beginIntent, recoverInterrupted } from '../interrupted.js';
import { checkPinnedTagIfGiven } from './sync.js';
import type { ApplyCommandResult } from '../results.js';
import { defineCommand, FORCE_OPTION, MARKDOWN_OPTION, UPSTREAM_URL_CHECK_OPTION } from '../command.js';
import { ExitCode } from '../errors.js';
import { renderApply, renderApplyMarkdown } from '../render/series.js';

export interface ApplyOptions {
  project: Project;
  /** Work on a scratch index only; change nothing. */
  check?: boolean;
  force?: boolean;
  /** Check the pinned tag at this URL first (also MLMD_REMOTE_UPSTREAM_URL). */
  url?: string;
}

export async function requireCheckout(project: Project, deps: Deps, commit: string): Promise<void> {
  if (!hasCheckout(project.upstreamDir) || !(await hasCommit(deps.git, project.upstreamDir, commit))) {
    throw new UsageError('upstream/ is not checked out at the pin', 'run: mlmd-remote sync');
  }
}

/**
 * The state of upstream/, knowing what the series applied to the pin looks
 * like, so that a checkout holding exactly the applied series counts as the
 * tool's own state and not as the maintainer's work.
 */
export async function upstreamState(project: Project, deps: Deps, pinCommit: string): Promise<UpstreamState> {
  let seriesTree: string | undefined;
  if (hasCheckout(project.upstreamDir) && (await hasCommit(deps.git, project.upstreamDir, pinCommit))) {
    try {
      const applied = await applySeries({ git: deps.git, repoDir: project.upstreamDir, baseCommit: pinCommit, patches: readSeries(project).patches });
      seriesTree = applied.tree;
    } catch (err) {
      if (err instanceof InterruptedError) throw err;
      // A series that cannot be read cannot describe the checkout either.
    }
  }
  const state = await inspectUpstream(deps.git, project.upstreamDir, pinCommit, seriesTree);
  // Same tree is not enough for commits: their messages or their split may hold unexported work.
  if (state.kind === 'exported' && !(await exportChangesNothing(project, deps, pinCommit, state.head))) {
    return { kind: 'diverged', head: state.head, tree: state.tree, commitsAhead: state.commitsAhead };
  }
  if (state.kind === 'modified' && state.onSeries && !(await exportChangesNothing(project, deps, pinCommit, state.head))) {
    return { kind: 'diverged', head: state.head, tree: state.tree, commitsAhead: state.onSeries.commitsAhead, changed: state.changed, untracked: state.untracked };
  }
  return state;
}

/** True when exporting pin..head would leave every patch file as it is. */
export async function exportChangesNothing(project: Project, deps: Deps, pinCommit: string, head: string): Promise<boolean> {
  try {
    const plan = await planExport({ git: deps.git, repoDir: project.upstreamDir, base: pinCommit, head, oldPatches: readSeries(project).patches });
    return planChangesNothing(plan);
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    return false; // not exportable as it is (a merge, a missing trailer): it is work to keep
  }
}

/** Resets upstream/ to the pin and applies WORKSPACE.patch and the series, or (check) only tries to. */
export async function apply(opts: ApplyOptions, deps: Deps): Promise<ApplyCommandResult> {
  const { project } = opts;
  const { git, log } = deps;
  const pin = await readPin(project, git);
  await requireCheckout(project, deps, pin.commit);
  await checkPinnedTagIfGiven(project, deps, pin, opts.url);
  const series = readSeries(project);
  const step = log.step(`${opts.check ? 'Check' : 'Apply'} ${series.patches.length} patches on ${pin.tag}`);
  const result = await applySeries({
    git,
    repoDir: project.upstreamDir,
    baseCommit: pin.commit,
    patches: series.patches,
    onPatch: (r) => step.progress(`${r.name}: ${r.status}`),
  });
  const base = { schemaVersion: 1 as const, tag: pin.tag, ...result };
  if (!result.ok) {
    step.fail('a patch does not apply; upstream/ was not touched');
    return { ...base, mode: opts.check ? 'check' : 'apply', changed: false };
  }
  if (opts.check) {
    step.done('all patches apply');
    return { ...base, mode: 'check', changed: false };
  }
  await recoverInterrupted(project, deps, { pin: pin.commit, force: opts.force });
  const state = await inspectUpstream(git, project.upstreamDir, pin.commit, result.tree);
  if (state.kind === 'applied') {
    step.done('already applied');
    return { ...base, mode: 'apply', before: describeState(state), savedTo: null, changed: false };
  }
  let savedTo: string | null;
  try {
    savedTo = await claimCheckout(git, project.upstreamDir, state, 'apply', opts.force, log.warn);
  } catch (err) {
    step.fail('refused');
    throw err;
  }
  const pinTree = (await git(project.upstreamDir, ['rev-parse', `${pin.commit}^{tree}`])).stdout.trim();
  const done = await beginIntent(project, git, { command: 'apply', targets: [pinTree, result.tree!] });
  await checkoutTree(git, project.upstreamDir, pin.commit, result.tree!);
  done();
  step.done();
  return { ...base, mode: 'apply', before: describeState(state), savedTo, changed: true };
}

export const definition = defineCommand({
  command: 'apply',
  describe: 'Reset upstream/ to the pin and apply WORKSPACE.patch and the series',
  readsUpstream: true,
  options: (y) =>
    y
      .option('check', { type: 'boolean', default: false, describe: 'Only try the series on a scratch index; change nothing' })
      .option('force', FORCE_OPTION)
      .option('upstream-url', UPSTREAM_URL_CHECK_OPTION)
      .option('markdown', { ...MARKDOWN_OPTION, describe: 'Print the per-patch report as markdown' }),
  run: (a, project, deps) => apply({ project, check: a.check, force: a.force, url: a.upstreamUrl }, deps),
  render: (r, a) => (a.markdown ? renderApplyMarkdown(r) : renderApply(r)),
  exitCode: (r) => (r.ok ? ExitCode.ok : ExitCode.patchConflict),
});
