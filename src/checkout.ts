/** What upstream/ holds, as the commands that change it need to know first. */
import type { Project } from './config.js';
import { UsageError } from './errors.js';
import { InterruptedError } from './exec.js';
import { planChangesNothing, planExport } from './export.js';
import type { Git } from './git.js';
import type { Logger } from './log.js';
import { applySeries } from './apply-series.js';
import { checkPinnedTagIfGiven, readPin, type Pin } from './pin.js';
import { readSeries, readSeriesList, requireRootPatchesListed, type Series, type SeriesEntry } from './series.js';
import { hasCheckout, hasCommit, inspectUpstream, type UpstreamState } from './upstream.js';

export async function requireCheckout(project: Project, deps: { git: Git }, commit: string): Promise<void> {
  if (!hasCheckout(project.upstreamDir) || !(await hasCommit(deps.git, project.upstreamDir, commit))) {
    throw new UsageError('upstream/ is not checked out at the pin', 'run: mlmd-remote sync');
  }
}

/**
 * The pin, checked out in upstream/ (its tag checked at upstream when a URL is
 * given), and the series to apply to it: what apply and check start from.
 */
export async function pinnedCheckout(project: Project, deps: { git: Git; log: Logger }, url?: string): Promise<{ pin: Pin; series: Series }> {
  const pin = await readPin(project, deps.git);
  await requireCheckout(project, deps, pin.commit);
  await checkPinnedTagIfGiven(project, deps, pin, url);
  const series = readSeries(project);
  return { pin, series };
}

/**
 * The state of upstream/, knowing what the series applied to the pin looks
 * like, so that a checkout holding exactly the applied series counts as the
 * tool's own state and not as the maintainer's work.
 */
export async function upstreamState(project: Project, deps: { git: Git }, pinCommit: string): Promise<UpstreamState> {
  let seriesTree: string | undefined;
  // A patch left out of the series would make upstream/ look like work of the maintainer's: say what is wrong instead.
  let entries: SeriesEntry[] | null = null;
  try {
    entries = readSeriesList(project.seriesFile);
  } catch {
    // A series file that cannot be read is reported by whatever reads the series.
  }
  if (entries) requireRootPatchesListed(project, entries);
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
export async function exportChangesNothing(project: Project, deps: { git: Git }, pinCommit: string, head: string): Promise<boolean> {
  try {
    const plan = await planExport({ git: deps.git, repoDir: project.upstreamDir, base: pinCommit, head, oldPatches: readSeries(project).patches });
    return planChangesNothing(plan);
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    return false; // not exportable as it is (a merge, a missing trailer): it is work to keep
  }
}
