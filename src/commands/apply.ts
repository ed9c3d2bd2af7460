import type { Project } from '../config.js';
import { applySeries } from '../apply-series.js';
import { pinnedCheckout } from '../checkout.js';
import { checkoutTree, claimCheckout, describeState, inspectUpstream } from '../upstream.js';
import type { Deps } from './deps.js';
import { beginIntent, recoverInterrupted } from '../interrupted.js';
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

/** Resets upstream/ to the pin and applies the series, or (check) only tries to. */
export async function apply(opts: ApplyOptions, deps: Deps): Promise<ApplyCommandResult> {
  const { project } = opts;
  const { git, log } = deps;
  const { pin, series } = await pinnedCheckout(project, deps, opts.url);
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
  describe: 'Reset upstream/ to the pin and apply the series',
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
