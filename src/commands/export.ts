import fs from 'node:fs';
import path from 'node:path';
import type { Project } from '../config.js';
import { RefusedError } from '../errors.js';
import { planChangesNothing, planExport, writeExport, type ExportPlan } from '../export.js';
import { readSeriesForExport } from '../series.js';
import { readPin } from '../pin.js';
import { BUILD_OUTPUT_PATHSPECS } from '../upstream.js';
import { openSession, stateDir } from '../workbranch.js';
import { recoverInterrupted } from '../interrupted.js';
import { requireCheckout } from '../checkout.js';
import type { Deps } from './deps.js';
import type { ExportResult } from '../results.js';
import { defineCommand } from '../command.js';
import { renderExport } from '../render/series.js';

export function summarizePlan(plan: ExportPlan, written: boolean): ExportResult {
  return {
    schemaVersion: 1,
    written,
    changesNothing: planChangesNothing(plan),
    base: plan.base,
    head: plan.head,
    patches: plan.entries.map(({ name, path, subject, action, commit }) => ({ name, path, subject, action, commit })),
    removed: plan.removed.map((r) => r.name),
    seriesChanged: plan.seriesChanged,
  };
}

/** The commits on top of the base, back to patch files. Refuses mid-rebase and with uncommitted changes. */
export async function exportSeries(opts: { project: Project; verbatim?: boolean; dryRun?: boolean }, deps: Deps): Promise<ExportResult> {
  const { project } = opts;
  const { git, log } = deps;
  const dir = project.upstreamDir;
  const pin = await readPin(project, git);
  await requireCheckout(project, deps, pin.commit);
  await recoverInterrupted(project, deps, { pin: pin.commit });
  if (fs.existsSync(path.join(await stateDir(git, dir), 'rebase', 'state.json'))) {
    throw new RefusedError('a rebase is in progress in upstream/', 'finish it with mlmd-remote rebase --continue, or undo it with mlmd-remote rebase --abort; it exports by itself when it finishes');
  }
  const session = await openSession(git, dir, 'export', 'would leave its patch out');
  if (session) throw session;
  const dirty = (await git(dir, ['status', '--porcelain', '--untracked-files=all', '--', '.', ...BUILD_OUTPUT_PATHSPECS])).stdout.trim();
  if (dirty) throw new RefusedError(`upstream/ has changes that are not committed, which export would leave out:\n${dirty}`, 'commit them (git -C upstream add ... && git -C upstream commit, with Why/Upstream-Status/Drop-When in the message) or stash them, then export again');
  // The series is always exported relative to the pin (edit records it as refs/mlmd-remote/base too).
  const base = pin.commit;
  const head = (await git(dir, ['rev-parse', 'HEAD'])).stdout.trim();
  const step = log.step(`Export ${base.slice(0, 12)}..${head.slice(0, 12)}`);
  const old = readSeriesForExport(project);
  const plan = await planExport({ git, repoDir: dir, base, head, oldPatches: old.patches, unreadable: old.unreadable, oldOrder: old.order, verbatim: opts.verbatim });
  const result = summarizePlan(plan, !opts.dryRun && !planChangesNothing(plan));
  if (result.written) writeExport(plan, project);
  step.done(result.changesNothing ? 'nothing changed' : `${plan.entries.filter((e) => e.action !== 'kept').length} written, ${plan.removed.length} removed`);
  return result;
}

export const definition = defineCommand({
  command: 'export',
  describe: 'Turn the commits on top of the pin back into patch files; unchanged patches keep their bytes',
  options: (y) =>
    y
      .option('verbatim', { type: 'boolean', default: false, describe: 'Re-format every patch, even those whose effect did not change' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Say what would change; write nothing' }),
  run: (a, project, deps) => exportSeries({ project, verbatim: a.verbatim, dryRun: a.dryRun }, deps),
  render: renderExport,
});
