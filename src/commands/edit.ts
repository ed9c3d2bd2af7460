import type { Project } from '../config.js';
import { RefusedError } from '../errors.js';
import { beginIntent, recoverInterrupted } from '../interrupted.js';
import { conflictedFiles, type ConflictFile } from '../rebase.js';
import { applySeries } from '../apply-series.js';
import { readSeries } from '../series.js';
import { readPin } from '../pin.js';
import { backupBranchName, claimCheckout } from '../upstream.js';
import { AM_ARGS, BASE_REF, WORK_BRANCH } from '../workbranch.js';
import { exportChangesNothing, requireCheckout, upstreamState } from '../checkout.js';
import type { Deps } from './deps.js';
import type { EditResult } from '../results.js';
import { defineCommand, FORCE_OPTION } from '../command.js';
import { ExitCode } from '../errors.js';
import { renderEdit } from '../render/series.js';

/**
 * The series as commits on a work branch in upstream/, one per patch, for
 * editing with plain git. A patch that does not apply stops the edit there, as
 * an ordinary git am session (three-way merged where git can), for the
 * maintainer to finish with git.
 */
export async function edit(opts: { project: Project; force?: boolean }, deps: Deps): Promise<EditResult> {
  const { project } = opts;
  const { git, log } = deps;
  const dir = project.upstreamDir;
  const pin = await readPin(project, git);
  await requireCheckout(project, deps, pin.commit);
  const series = readSeries(project);
  await recoverInterrupted(project, deps, { pin: pin.commit, force: opts.force });
  const state = await upstreamState(project, deps, pin.commit);
  let savedTo = await claimCheckout(git, dir, state, 'edit', opts.force, log.warn);
  // An existing work branch may hold commits that were never exported (a branch at the pin holds none).
  const branchTip = (await git(dir, ['rev-parse', '--verify', '-q', `refs/heads/${WORK_BRANCH}`], { allowFailure: true })).stdout.trim();
  const holdsCommits = branchTip !== '' && (await git(dir, ['rev-list', '--count', `${pin.commit}..${branchTip}`])).stdout.trim() !== '0';
  let backup: string | null = null;
  if (holdsCommits && (state.kind === 'missing' || branchTip !== state.head || state.kind !== 'exported') && !(await exportChangesNothing(project, deps, pin.commit, branchTip))) {
    if (!opts.force) {
      throw new RefusedError(`the branch ${WORK_BRANCH} in upstream/ holds commits that the patch files do not (${branchTip.slice(0, 12)})`, `export them first (git -C upstream checkout ${WORK_BRANCH} && mlmd-remote export), or keep them under another name (git -C upstream branch -m ${WORK_BRANCH} my-work); --force renames it to a backup branch`);
    }
    backup = backupBranchName();
  }
  const applied = await applySeries({ git, repoDir: dir, baseCommit: pin.commit, patches: series.patches, steps: true });
  const pinTree = (await git(dir, ['rev-parse', `${pin.commit}^{tree}`])).stdout.trim();
  const done = await beginIntent(project, git, { command: 'edit', targets: [pinTree, ...applied.steps!], refs: [`refs/heads/${WORK_BRANCH}`, BASE_REF, ...(backup ? [`refs/heads/${backup}`] : [])] });
  if (backup) {
    await git(dir, ['branch', '-m', WORK_BRANCH, backup]);
    savedTo = savedTo ? `${savedTo} and branch ${backup}` : `branch ${backup}`;
    log.warn(`${WORK_BRANCH} held unexported commits; renamed it to ${backup}`);
  }
  const step = log.step(`Turn ${series.patches.length} patches into commits on ${WORK_BRANCH}`);
  await git(dir, ['checkout', '--quiet', '--force', '-B', WORK_BRANCH, pin.commit]);
  await git(dir, ['clean', '--quiet', '--force', '-d', '--', '.']);
  await git(dir, ['update-ref', BASE_REF, pin.commit]);
  const am = await git(dir, [...AM_ARGS, '--3way', ...series.patches.map((p) => p.file)], { allowFailure: true });
  const commits = (await git(dir, ['rev-list', '--reverse', `${pin.commit}..HEAD`])).stdout.split('\n').filter(Boolean);
  // From here on an open git am session is the maintainer's to finish, not an interrupted run's.
  done();
  const result: EditResult = {
    schemaVersion: 1,
    status: 'done',
    branch: WORK_BRANCH,
    base: pin,
    commits: commits.map((commit, i) => ({ commit, patch: series.patches[i]!.name, subject: series.patches[i]!.header.subject })),
    savedTo,
  };
  if (am.ok) {
    step.done(`${commits.length} commits`);
    return result;
  }
  const patch = series.patches[commits.length]!;
  const files = await conflictedFiles(git, dir);
  const message = `${am.stderr}\n${am.stdout}`.split('\n').filter((l) => /^(error|CONFLICT|Patch failed|Did you hand edit)/.test(l.trim())).slice(0, 8).join('\n');
  const touched = patch.files.map((f) => f.newPath ?? f.oldPath!).filter((p, i, all) => all.indexOf(p) === i);
  step.fail(`${patch.name} does not apply to ${pin.tag}`);
  const rest = series.patches.length - commits.length - 1;
  return {
    ...result,
    status: 'stopped',
    stopped: { patch: patch.name, files, message },
    next: files.length
      ? `resolve the conflicts in upstream/ (${files.map((f) => f.path).join(', ')}), git -C upstream add them, then git -C upstream am --continue (it applies the ${rest} patch(es) after it too); then mlmd-remote export. Or give up the edit with git -C upstream am --abort`
      : `git could not merge it: make its change by hand in upstream/ (${touched.join(', ')}; git -C upstream am --show-current-patch=diff shows it), git -C upstream add the files, then git -C upstream am --continue (it applies the ${rest} patch(es) after it too); then mlmd-remote export. Or give up the edit with git -C upstream am --abort`,
  };
}

export const definition = defineCommand({
  command: 'edit',
  describe: 'Turn the series into commits on the branch mlmd-remote/work in upstream/, for editing with git',
  options: (y) => y.option('force', FORCE_OPTION),
  run: (a, project, deps) => edit({ project, force: a.force }, deps),
  render: renderEdit,
  exitCode: (r) => (r.status === 'stopped' ? ExitCode.patchConflict : ExitCode.ok),
});
