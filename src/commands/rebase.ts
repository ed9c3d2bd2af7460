import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { CONFIG_FILE, PinFieldsSchema, type Project } from '../config.js';
import { readJsonFile } from '../json-file.js';
import { MlmdError, PatchError, RefusedError, UsageError } from '../errors.js';
import { planChangesNothing, planExport, writeExport } from '../export.js';
import { recoverInterrupted, removeLeftovers } from '../interrupted.js';
import { appliesInReverse, replayPatch, head, conflictedFiles, remainingMarkers, type RebasePatch, type RebaseState } from '../rebase.js';
import { parsePatchFile } from '../patchfile.js';
import { parseSeriesList, readSeries, seriesLine, SERIES_PATHSPEC } from '../series.js';
import { readPin, redactUrl, resolveRemoteTag, upstreamUrl } from '../pin.js';
import { checkoutTree, describeState, isDisposable, refuseToTouch, workTreeTree, BUILD_OUTPUT_PATHSPECS } from '../upstream.js';
import { amInProgress, gitDir, openSession } from '../workbranch.js';
import { backUpSeriesFiles, readState, restoreSeriesFiles, rollBackInFlight, statePaths } from '../rebase-session.js';
import { requireCheckout, upstreamState } from '../checkout.js';
import type { Deps } from './deps.js';
import { summarizePlan } from './export.js';
import type { ExportResult, RebaseResult } from '../results.js';
import { defineCommand, MARKDOWN_OPTION, UPSTREAM_URL_OPTION } from '../command.js';
import { ExitCode } from '../errors.js';
import { renderRebase, renderRebaseMarkdown } from '../render/series.js';

function result(state: RebaseState, status: RebaseResult['status'], exported: ExportResult | null, next?: string): RebaseResult {
  return { schemaVersion: 1, status, from: state.from, to: state.to, branch: state.branch, patches: state.patches, durationMs: state.durationMs, export: exported, next };
}

/** Starts moving the series to `tag`. */
export async function rebaseStart(opts: { project: Project; tag: string; url?: string }, deps: Deps): Promise<RebaseResult> {
  const { project } = opts;
  const { git, log } = deps;
  const dir = project.upstreamDir;
  const paths = await statePaths(deps, project);
  if (readState(paths.file)) {
    throw new RefusedError('a rebase is already in progress in upstream/ (perhaps interrupted)', 'resume it with mlmd-remote rebase --continue, or undo it with mlmd-remote rebase --abort');
  }
  const pin = await readPin(project, git);
  await requireCheckout(project, deps, pin.commit);
  await recoverInterrupted(project, deps, { pin: pin.commit });
  const session = await openSession(git, dir, 'rebase');
  if (session) throw session;
  const dirtySuper = (await git(project.root, ['status', '--porcelain', '--', ...SERIES_PATHSPEC])).stdout.trim();
  if (dirtySuper) throw new RefusedError(`uncommitted changes to the series would be mixed into the rebase:\n${dirtySuper}`, 'commit or stash them in this repository first');
  const series = readSeries(project);
  const state0 = await upstreamState(project, deps, pin.commit);
  if (!isDisposable(state0)) throw refuseToTouch(state0, 'rebase');

  const url = upstreamUrl(project, opts.url);
  let step = log.step(`Resolve ${opts.tag} at ${redactUrl(url)}`);
  const target = await resolveRemoteTag(git, project.root, url, opts.tag, opts.url);
  if (!target) throw new UsageError(`upstream has no tag ${opts.tag}`, 'list the tags with: git ls-remote --tags ' + redactUrl(url));
  await git.remote(dir, ['fetch', '--quiet', '--no-tags', url, `+refs/tags/${opts.tag}:refs/tags/${opts.tag}`]);
  step.done(target.slice(0, 12));

  const started = Date.now();
  const branch = `mlmd-remote/rebase-${opts.tag}`;
  if ((await git(dir, ['rev-parse', '--verify', '-q', `refs/heads/${branch}`], { allowFailure: true })).ok) {
    throw new RefusedError(`the branch ${branch} already exists in upstream/`, `delete it if it holds nothing you need (git -C upstream branch -D ${branch}), then rebase again`);
  }
  // Everything --abort needs, saved before anything changes.
  fs.rmSync(paths.dir, { recursive: true, force: true });
  const backupDir = path.join(paths.dir, 'backup');
  backUpSeriesFiles(project.root, backupDir);
  const origBranch = (await git(dir, ['symbolic-ref', '-q', '--short', 'HEAD'], { allowFailure: true })).stdout.trim() || null;
  const state: RebaseState = {
    schemaVersion: 1,
    from: pin,
    to: { tag: opts.tag, commit: target },
    branch,
    orig: { head: await head(git, dir), branch: origBranch, tree: await workTreeTree(git, dir) },
    backupDir,
    patches: series.patches.map((p) => ({
      name: p.name,
      subject: p.header.subject,
      file: path.join(backupDir, p.path),
      status: 'pending',
      offsets: [],
    })),
    startedAt: new Date().toISOString(),
    durationMs: 0,
  };
  writeFileAtomic(paths.file, JSON.stringify(state, null, 2));
  step = log.step(`Check out ${opts.tag} on ${branch}`);
  await git(dir, ['checkout', '--quiet', '--force', '-b', branch, target]);
  await git(dir, ['clean', '--quiet', '--force', '-d', '--', '.']);
  step.done();
  return replay(project, deps, state, started);
}

const RESOLVE = 'resolve the conflicts in upstream/ with git (edit, then git -C upstream add <file>), then run mlmd-remote rebase --continue; or mlmd-remote rebase --abort to undo everything';

/** Replays the pending patches; stops at a conflict, finishes when none is left. */
async function replay(project: Project, deps: Deps, state: RebaseState, started: number, note?: string): Promise<RebaseResult> {
  const { git, log } = deps;
  const paths = await statePaths(deps, project);
  const save = () => {
    state.durationMs += Date.now() - started;
    started = Date.now();
    writeFileAtomic(paths.file, JSON.stringify(state, null, 2));
  };
  for (const [i, p] of state.patches.entries()) {
    if (p.status !== 'pending') continue;
    if (await amInProgress(git, project.upstreamDir)) {
      throw new RefusedError('a git am session that the rebase did not start is open in upstream/', 'finish it or drop it (git -C upstream am --continue, or git -C upstream am --abort), then mlmd-remote rebase --continue');
    }
    const step = log.step(`${p.name}`);
    // Recorded first: an interrupted replay is rolled back to this HEAD and starts again.
    state.inFlight = { index: i, head: await head(git, project.upstreamDir) };
    save();
    const replayed = await replayPatch(git, project.upstreamDir, p, parsePatchFile(p.file));
    state.patches[i] = replayed;
    delete state.inFlight;
    save();
    if (replayed.status === 'conflicted') {
      const files = replayed.conflict!.files;
      step.fail(files.some((f) => f.hunks.length) ? `conflict in ${files.map((f) => f.path).join(', ')}` : `git could not merge it into ${files.map((f) => f.path).join(', ')}`);
      const next = files.some((f) => f.hunks.length)
        ? RESOLVE
        : `make the patch's change by hand in upstream/ (${files.map((f) => f.path).join(', ')}; git -C upstream am --show-current-patch=diff shows it), git -C upstream add the files, then run mlmd-remote rebase --continue; or mlmd-remote rebase --abort to undo everything`;
      return result(state, 'stopped', null, note ? `${note}. ${next}` : next);
    }
    step.done(replayed.status);
  }
  return finish(project, deps, state, paths);
}

async function finish(project: Project, deps: Deps, state: RebaseState, paths: { dir: string; file: string; report: string }): Promise<RebaseResult> {
  const { git, log } = deps;
  const dir = project.upstreamDir;
  const step = log.step(`Export the series on ${state.to.tag} and move the pin`);
  // Each saved file lies in the backup at its path in the project, which must be one a series line can name.
  const oldPatches = state.patches.map((p) => {
    const rel = path.relative(state.backupDir, p.file).split(path.sep).join('/');
    parseSeriesList(seriesLine(rel), `the rebase state ${paths.file} (${p.name} at ${rel})`);
    return { ...parsePatchFile(p.file, rel), name: p.name };
  });
  const config = readJsonFile(project.configPath, PinFieldsSchema, project.configPath, (m) => new UsageError(m, `restore it with git checkout HEAD -- ${CONFIG_FILE}, then mlmd-remote rebase --continue`));
  // The branch, not HEAD: a finish interrupted after its checkout below has HEAD at the tag.
  const tip = (await git(dir, ['rev-parse', `refs/heads/${state.branch}`])).stdout.trim();
  const plan = await planExport({ git, repoDir: dir, base: state.to.commit, head: tip, oldPatches });
  // A patch leaves the series only when upstream has its change (a renamed patch comes back as an added one).
  const proven = new Set(state.patches.filter((p) => p.status === 'already-upstream').map((p) => p.name));
  const gone = plan.removed.map((r) => r.name).filter((n) => !proven.has(n));
  if (gone.length > plan.entries.filter((e) => e.action === 'added').length) {
    step.fail();
    throw new MlmdError(`finishing the rebase would take ${gone.join(', ')} out of the series, but ${state.to.tag} does not have ${gone.length > 1 ? 'their' : 'its'} change`, {
      hint: `${state.branch} in upstream/ must hold one commit per patch (with its Subject) for every patch that is not already upstream; fix the branch with git (git -C upstream log ${state.to.commit.slice(0, 12)}..${state.branch}), then mlmd-remote rebase --continue; or undo it all with mlmd-remote rebase --abort`,
    });
  }
  writeExport(plan, project);
  config.upstream.tag = state.to.tag;
  config.upstream.commit = state.to.commit;
  writeFileAtomic(project.configPath, `${JSON.stringify(config, null, 2)}\n`);
  await git(project.root, ['update-index', '--cacheinfo', `160000,${state.to.commit},upstream`]);
  // upstream/ ends at the new pin with the series applied; the branch keeps the commits.
  await checkoutTree(git, dir, state.to.commit, `${tip}^{tree}`);
  const exported = summarizePlan(plan, !planChangesNothing(plan));
  const done = result(state, 'done', exported);
  writeFileAtomic(paths.report, JSON.stringify(done, null, 2));
  fs.rmSync(paths.dir, { recursive: true, force: true });
  step.done(`${state.from.tag} -> ${state.to.tag}`);
  return done;
}

export async function rebaseContinue(opts: { project: Project }, deps: Deps): Promise<RebaseResult> {
  const { project } = opts;
  const { git } = deps;
  const dir = project.upstreamDir;
  const paths = await statePaths(deps, project);
  const state = readState(paths.file);
  if (!state) throw new UsageError('no rebase is in progress', 'start one with mlmd-remote rebase <tag>');
  await rollBackInFlight(project, deps, state, paths);
  // Interrupted before the first patch (e.g. between saving the state and checking out the tag, or in the checkout).
  if (state.patches.every((p) => p.status === 'pending')) {
    await git(dir, ['checkout', '--quiet', '--force', '-B', state.branch, state.to.commit]);
    const stay = await removeLeftovers(git, dir, [(await git(dir, ['rev-parse', `${state.to.commit}^{tree}`])).stdout.trim(), state.orig.tree]);
    if (stay.length) {
      throw new RefusedError(`upstream/ has files the rebase did not write (${stay.slice(0, 5).join(', ')}${stay.length > 5 ? ', …' : ''})`, 'move them out of upstream/ (or git -C upstream stash push --include-untracked), then mlmd-remote rebase --continue; or undo the rebase with mlmd-remote rebase --abort');
    }
  } else if (!(await git(dir, ['merge-base', '--is-ancestor', state.to.commit, 'HEAD'], { allowFailure: true })).ok) {
    throw new RefusedError(`upstream/ is no longer on the rebase branch (HEAD does not contain ${state.to.tag})`, `check out ${state.branch} in upstream/, or undo with mlmd-remote rebase --abort`);
  }
  let note: string | undefined;
  const i = state.patches.findIndex((p) => p.status === 'conflicted');
  if (i >= 0) {
    const p = state.patches[i]!;
    const conflict = p.conflict;
    const unresolved = await conflictedFiles(git, dir);
    const markers = remainingMarkers(dir, conflict?.files ?? []);
    const open = [...unresolved, ...markers.filter((m) => !unresolved.some((u) => u.path === m.path))];
    if (open.length) {
      throw new PatchError(`${p.name} still has conflicts in ${open.map((f) => `${f.path}${f.hunks.length ? ` (lines ${f.hunks.map((h) => `${h.startLine}-${h.endLine}`).join(', ')})` : ''}`).join(', ')}`, 'edit them, git -C upstream add <file>, then mlmd-remote rebase --continue');
    }
    const base = conflict?.head ?? (await head(git, dir));
    let kept: boolean;
    if (await amInProgress(git, dir)) {
      const staged = !(await git(dir, ['diff', '--cached', '--quiet'], { allowFailure: true })).ok;
      if (staged) {
        await git(dir, ['am', '--continue']);
        kept = true;
      } else {
        const unstaged = [
          ...(await git(dir, ['diff', '--name-only'])).stdout.split('\n'),
          ...(await git(dir, ['ls-files', '--others', '--exclude-standard', '--', '.', ...BUILD_OUTPUT_PATHSPECS])).stdout.split('\n'),
        ].filter(Boolean);
        if (unstaged.length) throw new PatchError(`the resolution of ${p.name} is not staged (${unstaged.slice(0, 5).join(', ')})`, 'git -C upstream add the files, then mlmd-remote rebase --continue');
        kept = false;
      }
    } else {
      // The maintainer ended the git am by hand: a new commit on the one before is the resolution.
      const now = await head(git, dir);
      if (now !== base && !(await git(dir, ['merge-base', '--is-ancestor', base, now], { allowFailure: true })).ok) {
        throw new RefusedError(`upstream/ is no longer on the rebase branch where ${p.name} stopped (${base.slice(0, 12)})`, `check out ${state.branch} in upstream/, or undo with mlmd-remote rebase --abort`);
      }
      kept = now !== base;
    }
    if (kept) {
      state.patches[i] = { ...p, status: 'resolved', commit: await head(git, dir) };
    } else if (await appliesInReverse(git, dir, base, p.file)) {
      if (await amInProgress(git, dir)) await git(dir, ['am', '--skip']);
      state.patches[i] = { ...p, status: 'already-upstream', proof: 'the resolution kept none of it, and it applies in reverse: the new base has exactly its change' };
    } else {
      // Keeping none of a patch whose change upstream does not have would lose it: the conflict comes back instead.
      if (await amInProgress(git, dir)) await git(dir, ['am', '--abort']);
      await git(dir, ['checkout', '--quiet', '--force', '-B', state.branch, base]);
      state.patches[i] = { name: p.name, subject: p.subject, file: p.file, status: 'pending', offsets: [] };
      note = `${p.name} was not kept: the resolution holds none of its change, and ${state.to.tag} does not have it, so it stays in the series (a patch leaves it only when upstream has its change); its conflict is back`;
    }
    writeFileAtomic(paths.file, JSON.stringify(state, null, 2));
  }
  return replay(project, deps, state, Date.now(), note);
}

/** Undoes the rebase: upstream/ as it was, and the pin and patch files as they were. */
export async function rebaseAbort(opts: { project: Project }, deps: Deps): Promise<RebaseResult> {
  const { project } = opts;
  const { git, log } = deps;
  const dir = project.upstreamDir;
  const paths = await statePaths(deps, project);
  const state = readState(paths.file);
  if (!state) throw new UsageError('no rebase is in progress', 'there is nothing to abort');
  const step = log.step(`Abort the rebase to ${state.to.tag}`);
  if (await amInProgress(git, dir)) {
    await git(dir, ['am', '--abort'], { allowFailure: true });
    fs.rmSync(path.join(await gitDir(git, dir), 'rebase-apply'), { recursive: true, force: true });
  }
  // Every tree the rebase wrote into the work tree: the tag's, and each commit's on its branch.
  const wrote = new Set([(await git(dir, ['rev-parse', `${state.to.commit}^{tree}`])).stdout.trim(), (await git(dir, ['rev-parse', 'HEAD^{tree}'])).stdout.trim()]);
  if ((await git(dir, ['rev-parse', '--verify', '-q', `refs/heads/${state.branch}`], { allowFailure: true })).ok) {
    for (const line of (await git(dir, ['log', '--format=%T', `${state.to.commit}..refs/heads/${state.branch}`])).stdout.split('\n').filter(Boolean)) wrote.add(line);
  }
  // The superproject's files.
  restoreSeriesFiles(project.root, state.backupDir);
  await git(project.root, ['update-index', '--cacheinfo', `160000,${state.from.commit},upstream`]);
  // upstream/: HEAD, branch and work tree as they were; the rebase branch goes.
  await checkoutTree(git, dir, state.orig.head, state.orig.tree);
  // Files of the tag that an interrupted checkout left, unknown to the index.
  const stay = await removeLeftovers(git, dir, [...wrote]);
  if (state.orig.branch) await git(dir, ['checkout', '--quiet', state.orig.branch]);
  await git(dir, ['branch', '-D', state.branch], { allowFailure: true });
  fs.rmSync(paths.dir, { recursive: true, force: true });
  const now = await upstreamState(project, deps, state.from.commit);
  step.done(`back at ${state.from.tag}; upstream/ is ${describeState(now)}${stay.length ? `; kept files the rebase did not write: ${stay.slice(0, 5).join(', ')}` : ''}`);
  return result(state, 'aborted', null);
}

export const definition = defineCommand({
  command: 'rebase [tag]',
  describe: 'Move the pin to an upstream tag and re-apply the series, patch by patch (stops on conflicts)',
  readsUpstream: true,
  options: (y) =>
    y
      .positional('tag', { type: 'string', describe: 'The upstream tag to move to, e.g. v1.15.0' })
      .option('continue', { type: 'boolean', default: false, describe: 'Resume after resolving a conflict' })
      .option('abort', { type: 'boolean', default: false, describe: 'Undo the rebase: pin, patch files and upstream/ as before' })
      .option('upstream-url', UPSTREAM_URL_OPTION)
      .option('markdown', { ...MARKDOWN_OPTION, describe: 'Print the per-patch report as markdown' })
      .check((a) => {
        if ([Boolean(a.tag), a.continue, a.abort].filter(Boolean).length !== 1) throw new UsageError('give a tag, or --continue, or --abort', 'e.g. mlmd-remote rebase v1.15.0');
        return true;
      }),
  run: (a, project, deps) => (a.continue ? rebaseContinue({ project }, deps) : a.abort ? rebaseAbort({ project }, deps) : rebaseStart({ project, tag: a.tag!, url: a.upstreamUrl }, deps)),
  render: (r, a) => (a.markdown ? renderRebaseMarkdown(r) : renderRebase(r)),
  exitCode: (r) => (r.status === 'stopped' ? ExitCode.patchConflict : ExitCode.ok),
});
