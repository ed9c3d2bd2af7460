import type { Project } from '../config.js';
import { PatchError, RefusedError } from '../errors.js';
import { readSeries } from '../series.js';
import { backupBranchName, claimCheckout, readPin } from '../upstream.js';
import { amPatches, BASE_REF, WORK_BRANCH } from '../workbranch.js';
import { exportChangesNothing, requireCheckout, upstreamState } from './apply.js';
import type { Deps } from './deps.js';

export interface EditResult {
  schemaVersion: 1;
  branch: string;
  base: { tag: string; commit: string };
  commits: Array<{ commit: string; patch: string; subject: string }>;
  savedTo: string | null;
}

/** The series as commits on a work branch in upstream/, one per patch, for editing with plain git. */
export async function edit(opts: { project: Project; force?: boolean }, deps: Deps): Promise<EditResult> {
  const { project } = opts;
  const { git, log } = deps;
  const dir = project.upstreamDir;
  const pin = await readPin(project, git);
  await requireCheckout(project, deps, pin.commit);
  const series = readSeries(project);
  const state = await upstreamState(project, deps, pin.commit);
  let savedTo = await claimCheckout(git, dir, state, 'edit', opts.force, log.warn);
  // An existing work branch may hold commits that were never exported.
  const branchTip = (await git(dir, ['rev-parse', '--verify', '-q', `refs/heads/${WORK_BRANCH}`], { allowFailure: true })).stdout.trim();
  if (branchTip && (state.kind === 'missing' || branchTip !== state.head || state.kind !== 'exported')) {
    if (!(await exportChangesNothing(project, deps, pin.commit, branchTip))) {
      if (!opts.force) {
        throw new RefusedError(`the branch ${WORK_BRANCH} in upstream/ holds commits that the patch files do not (${branchTip.slice(0, 12)})`, `export them first (git -C upstream checkout ${WORK_BRANCH} && mlmd-remote export), or keep them under another name (git -C upstream branch -m ${WORK_BRANCH} my-work); --force renames it to a backup branch`);
      }
      const backup = backupBranchName();
      await git(dir, ['branch', '-m', WORK_BRANCH, backup]);
      savedTo = savedTo ? `${savedTo} and branch ${backup}` : `branch ${backup}`;
      log.warn(`${WORK_BRANCH} held unexported commits; renamed it to ${backup}`);
    }
  }
  const step = log.step(`Turn ${series.patches.length} patches into commits on ${WORK_BRANCH}`);
  await git(dir, ['checkout', '--quiet', '--force', '-B', WORK_BRANCH, pin.commit]);
  await git(dir, ['clean', '--quiet', '--force', '-d', '--', '.']);
  try {
    await amPatches(git, dir, series.patches);
  } catch (err) {
    await git(dir, ['checkout', '--quiet', '--force', '--detach', pin.commit]);
    step.fail();
    throw new PatchError(`the series does not apply to ${pin.tag}: ${(err as Error).message.split('\n')[0]}`, 'see mlmd-remote apply --check for which patch and hunk');
  }
  await git(dir, ['update-ref', BASE_REF, pin.commit]);
  const commits = (await git(dir, ['rev-list', '--reverse', `${pin.commit}..HEAD`])).stdout.split('\n').filter(Boolean);
  step.done(`${commits.length} commits`);
  return {
    schemaVersion: 1,
    branch: WORK_BRANCH,
    base: pin,
    commits: commits.map((commit, i) => ({ commit, patch: series.patches[i]!.name, subject: series.patches[i]!.header.subject })),
    savedTo,
  };
}
