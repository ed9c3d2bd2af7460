import type { Project } from '../config.js';
import { planChangesNothing, planExport } from '../export.js';
import { applySeries, type PatchApplyReport } from '../apply-series.js';
import { amPatches, scratchClone } from '../workbranch.js';
import { pinnedCheckout } from '../checkout.js';
import type { Deps } from './deps.js';
import { summarizePlan } from './export.js';
import type { CheckResult, ExportResult } from '../results.js';
import { defineCommand, UPSTREAM_URL_CHECK_OPTION } from '../command.js';
import { ExitCode } from '../errors.js';
import { renderCheck } from '../render/series.js';

/**
 * The CI guard: the series applies to the pin, and export (from commits made
 * by applying it) would change no file. Works in a scratch clone.
 */
export async function check(opts: { project: Project; url?: string }, deps: Deps): Promise<CheckResult> {
  const { project } = opts;
  const { git, log } = deps;
  const { pin, series } = await pinnedCheckout(project, deps, opts.url);
  const problems: string[] = [];
  let step = log.step(`Apply ${series.patches.length} patches to ${pin.tag}`);
  const applied = await applySeries({ git, repoDir: project.upstreamDir, baseCommit: pin.commit, patches: series.patches });
  for (const p of applied.patches) {
    if (p.status === 'failed') problems.push(`${p.name} does not apply: ${p.failure?.message ?? ''}`);
  }
  if (!applied.ok) {
    step.fail();
    return { schemaVersion: 1, ok: false, tag: pin.tag, commit: pin.commit, apply: applied.patches, export: null, problems };
  }
  step.done();
  step = log.step('Export from a scratch clone (dry run)');
  const scratch = await scratchClone(git, project.upstreamDir, pin.commit);
  try {
    await amPatches(git, scratch.dir, series.patches);
    const head = (await git(scratch.dir, ['rev-parse', 'HEAD'])).stdout.trim();
    const plan = await planExport({ git, repoDir: scratch.dir, base: pin.commit, head, oldPatches: series.patches });
    if (!planChangesNothing(plan)) {
      for (const e of plan.entries) if (e.action !== 'kept') problems.push(`export would ${e.action === 'added' ? 'add' : 'rewrite'} ${e.name}`);
      for (const r of plan.removed) problems.push(`export would remove ${r.name}`);
      if (plan.seriesChanged) problems.push('export would rewrite patches/series');
    }
    step.done(problems.length ? `${problems.length} problem(s)` : 'nothing would change');
    return { schemaVersion: 1, ok: problems.length === 0, tag: pin.tag, commit: pin.commit, apply: applied.patches, export: summarizePlan(plan, false), problems };
  } finally {
    scratch.dispose();
  }
}

export const definition = defineCommand({
  command: 'check',
  describe: 'CI guard: the series applies to the pin and export would change nothing',
  readsUpstream: true,
  options: (y) => y.option('upstream-url', UPSTREAM_URL_CHECK_OPTION),
  run: (a, project, deps) => check({ project, url: a.upstreamUrl }, deps),
  render: renderCheck,
  exitCode: (r) => (r.ok ? ExitCode.ok : ExitCode.patchConflict),
});
