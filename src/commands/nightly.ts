import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { loadProject, type Project } from '../config.js';
import { ExitCode, MlmdError, UsageError } from '../errors.js';
import { InterruptedError } from '../exec.js';
import { scratchDir } from '../scratch.js';
import { redactUrl, unreachableUpstream, upstreamUrl, readPin, type Pin } from '../pin.js';
import { newerTags, pickTags, readRemoteTags } from '../tags.js';
import { commitSeries, nightlyBranch, pushSeries, resolvePushTarget, type PushTarget } from '../nightly-push.js';
import { attentionOf, dependencyChanges } from '../nightly-attention.js';
import { reviewSeries } from '../review.js';
import type { WheelDiff } from '../wheeldiff.js';
import { build } from './build.js';
import type { Deps } from './deps.js';
import { diffWheel } from './diff-wheel.js';
import { rebaseStart } from './rebase.js';
import { seriesAt } from './review.js';
import { sync } from './sync.js';
import { RebaseStateSchema } from '../rebase.js';
import { verify } from './verify.js';
import type { BuildResult, NightlyPush, NightlyResult, NightlyStep, NightlyTag, RebaseResult, StepStatus, VerifyResult } from '../results.js';
import { defineCommand, UPSTREAM_URL_OPTION } from '../command.js';
import { renderNightly, renderNightlyMarkdown } from '../render/wheel.js';
import { renderIssue, renderPullRequest, type PullRequestReport } from '../render/nightly.js';

export interface NightlyOptions {
  project: Project;
  url?: string;
  prereleases?: boolean;
  tags?: string[];
  outDir?: string;
  skipVerify?: boolean;
  listOnly?: boolean;
  /** A remote of this checkout, a URL or a path: where a good tag's branch goes. */
  push?: string;
  stages?: Partial<NightlyStages>;
}

/**
 * Looks for upstream tags newer than the pin and, for each, rebases the series
 * in a scratch clone of this repository (never touching upstream/), builds and
 * verifies. Writes summary.json and summary.md to outDir; with push, also
 * pushes each good tag's branch and writes <tag>/pr.md, or <tag>/issue.md.
 */
export async function nightly(opts: NightlyOptions, deps: Deps): Promise<NightlyResult> {
  const { project } = opts;
  const { git, log } = deps;
  if (opts.push !== undefined && !opts.tags?.length) throw new UsageError('--push needs --tag: one branch per upstream tag', 'name the tag, e.g. mlmd-remote nightly --tag v1.16.0 --push origin (mlmd-remote nightly --list shows the tags)');
  if (opts.push !== undefined && (opts.listOnly || opts.skipVerify)) throw new UsageError(`--push cannot go with ${opts.listOnly ? '--list' : '--skip-verify'}: only a built and verified branch is pushed`, 'leave it out, e.g. mlmd-remote nightly --tag v1.16.0 --push origin');
  const pin = await readPin(project, git);
  const url = upstreamUrl(project, opts.url);
  // Before any build: a remote that cannot be read would fail the push hours later.
  const push = opts.push !== undefined ? await resolvePushTarget(git, project.root, opts.push) : undefined;
  const step = log.step(`List upstream tags newer than ${pin.tag}`);
  const ls = await git.remote(project.root, ['ls-remote', '--tags', url], { allowFailure: true, timeoutMs: 120_000 });
  if (!ls.ok) throw await unreachableUpstream(git, project.root, url, ls.stderr, opts.url);
  const remoteTags = readRemoteTags(ls.stdout);
  let candidates = newerTags(remoteTags, pin.tag, opts.prereleases ?? false);
  if (opts.tags?.length) {
    const picked = pickTags(remoteTags, opts.tags, pin.tag, opts.prereleases ?? false);
    if (picked.problems.length) {
      step.fail();
      throw new UsageError(picked.problems.join('\n'), 'name a tag that upstream has and that is newer than the pin; nightly --list shows them');
    }
    candidates = picked.tags;
  }
  step.done(candidates.length ? candidates.map((t) => t.tag).join(', ') : 'none');
  const outDir = path.resolve(opts.outDir ?? path.join(project.cacheDir, 'nightly', new Date().toISOString().slice(0, 10)));
  fs.mkdirSync(outDir, { recursive: true });
  const run: TagRun = { project, pin, deps, url, outDir, skipVerify: opts.skipVerify ?? false, stages: { ...realStages(deps), ...opts.stages }, push };
  const tags: NightlyTag[] = [];
  for (const t of candidates) {
    tags.push(opts.listOnly ? { tag: t.tag, commit: t.commit, outcome: 'not-tried', steps: [], rebase: null, wheel: null } : await tryTag(run, t.tag, t.commit));
  }
  const status: NightlyResult['status'] = tags.length === 0 ? 'up-to-date' : opts.listOnly ? 'new-tags' : tags.every((t) => t.outcome === 'fine') ? 'new-tag-fine' : 'new-tag-needs-attention';
  const result: NightlyResult = { schemaVersion: 1, status, pin, url: redactUrl(url), checkedAt: new Date().toISOString(), tags, outDir };
  writeFileAtomic(path.join(outDir, 'summary.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileAtomic(path.join(outDir, 'summary.md'), renderNightlyMarkdown(result));
  const failedPush = tags.map((t) => [t, pushFailure(t)] as const).find(([, s]) => s);
  if (failedPush) {
    throw new MlmdError(`${failedPush[0].tag} was built and verified, but its branch was not pushed: ${failedPush[1]!.detail.split('\n')[0]}`, { hint: `fix what the message says and run mlmd-remote nightly --tag ${failedPush[0].tag} --push ${push!.name} again (the summary is in ${outDir})` });
  }
  return result;
}

/** The long steps of a tag, replaceable in tests. */
export interface NightlyStages {
  build: (project: Project, workDir: string, distDir: string) => Promise<BuildResult>;
  verify: (project: Project, wheel: string) => Promise<VerifyResult>;
  diffWheel: (project: Project, wheel: string) => Promise<WheelDiff>;
}

function realStages(deps: Deps): NightlyStages {
  return {
    build: (project, workDir, distDir) => build({ project, workDir, distDir }, deps),
    verify: (project, wheel) => verify({ project, wheel, server: 'reference' }, deps),
    diffWheel: (project, wheel) => diffWheel({ project, head: wheel }, deps),
  };
}

interface TagRun {
  project: Project;
  pin: Pin;
  deps: Deps;
  url: string;
  outDir: string;
  skipVerify: boolean;
  stages: NightlyStages;
  push?: PushTarget;
}

async function tryTag(run: TagRun, tag: string, commit: string): Promise<NightlyTag> {
  const { project, deps, url, outDir, stages } = run;
  const { git, log } = deps;
  const result: NightlyTag = { tag, commit, outcome: 'needs-attention', steps: [], rebase: null, wheel: null, ...(run.push ? { push: null, report: null } : {}) };
  // Removed at exit too: Ctrl-C leaves no scratch clone behind.
  const scratchHandle = scratchDir(`nightly-${tag}`);
  const scratch = scratchHandle.dir;
  const tagDir = path.join(outDir, tag);
  // A report left by an earlier run into the same directory would describe another outcome.
  for (const f of ['pr.md', 'issue.md']) fs.rmSync(path.join(tagDir, f), { force: true });
  const timed = async <T>(name: NightlyStep['step'], fn: () => Promise<T>, describe: (r: T) => [StepStatus, string]): Promise<{ ok: boolean; value: T | null }> => {
    const started = Date.now();
    try {
      const r = await fn();
      const [status, detail] = describe(r);
      result.steps.push({ step: name, status, ms: Date.now() - started, detail });
      return { ok: status === 'ok', value: r };
    } catch (err) {
      if (err instanceof InterruptedError) throw err;
      result.steps.push({ step: name, status: 'failed', ms: Date.now() - started, detail: (err as Error).message.split('\n').slice(0, 6).join('\n') });
      return { ok: false, value: null };
    }
  };
  const skip = (steps: NightlyStep['step'][], why: string) => result.steps.push(...steps.map((step) => ({ step, status: 'skipped' as const, ms: 0, detail: why })));
  let scratchProject: Project | null = null;
  let verified: VerifyResult | null = null;
  let baseRef = 'HEAD';
  const attempt = async (): Promise<void> => {
    log.info(`— ${tag} (${commit.slice(0, 12)}) in ${scratch}`);
    // A clone of this repository's committed state; caches are shared, upstream/ is not.
    await git(scratch, ['clone', '--quiet', project.root, 'project']);
    scratchProject = { ...loadProject(path.join(scratch, 'project'), { exact: true }), cacheDir: project.cacheDir };
    baseRef = (await git(scratchProject.root, ['symbolic-ref', '-q', '--short', 'HEAD'], { allowFailure: true })).stdout.trim() || 'HEAD';
    await sync({ project: scratchProject, url }, deps);
    const rebased = await timed('rebase', () => rebaseStart({ project: scratchProject!, tag, url }, deps), (r) => [r.status === 'done' ? 'ok' : 'stopped', summarizeRebase(r)]);
    result.rebase = rebased.value ?? readLastRebase(scratchProject);
    const later: NightlyStep['step'][] = run.push ? ['build', 'verify', 'push'] : ['build', 'verify'];
    if (!rebased.ok) {
      skip(later, 'the rebase did not finish');
      return;
    }
    // The rebase moved the pin in mlmd-remote.json: read the project again, or build sees the old pin.
    scratchProject = { ...loadProject(scratchProject.root, { exact: true }), cacheDir: project.cacheDir };
    const built = await timed('build', () => stages.build(scratchProject!, path.join(project.cacheDir, 'nightly-work', tag), tagDir), (b) => ['ok', `${b.wheel.name} ${b.wheel.sha256.slice(0, 16)}…`]);
    if (!built.ok) {
      skip(later.slice(1), 'nothing was built');
      return;
    }
    const wheel = built.value!.wheel;
    result.wheel = { name: wheel.name, sha256: wheel.sha256 };
    if (run.skipVerify) {
      skip(['verify'], '--skip-verify');
    } else {
      const v = await timed('verify', () => stages.verify(scratchProject!, wheel.path), (x) => [x.ok ? 'ok' : 'failed', describeVerify(x)]);
      verified = v.value;
      if (!v.ok) {
        if (run.push) skip(['push'], 'the wheel failed verification');
        return;
      }
    }
    if (run.push) {
      const pushed = await timed('push', () => pushBranch(run, scratchProject!, result, baseRef), (p) => ['ok', `${p.branch} ${p.action} at ${p.remote}`]);
      if (!pushed.ok) return;
      result.push = pushed.value;
      // The branch is out: from here on a failure is this tool's (rethrown below), not the tag's.
      result.outcome = 'fine';
      const report = path.join(tagDir, 'pr.md');
      fs.mkdirSync(tagDir, { recursive: true });
      writeFileAtomic(report, await pullRequestReport(run, scratchProject, result, pushed.value!, verified!, wheel.path));
      result.report = { kind: 'pull-request', path: report };
    }
    result.outcome = 'fine';
  };
  try {
    await attempt();
  } catch (err) {
    if (err instanceof InterruptedError || result.outcome === 'fine') throw err;
    result.steps.push({ step: 'rebase', status: 'failed', ms: 0, detail: (err as Error).message });
  } finally {
    scratchHandle.dispose();
  }
  // A push that failed is the tool's or the remote's problem, not upstream's: nightly fails instead (see nightly()).
  if (run.push && result.outcome !== 'fine' && !pushFailure(result)) {
    const report = path.join(tagDir, 'issue.md');
    fs.mkdirSync(tagDir, { recursive: true });
    writeFileAtomic(report, renderIssue({ tag: result, from: run.pin, baseRef, verify: verified }));
    result.report = { kind: 'issue', path: report };
  }
  return result;
}

const pushFailure = (t: NightlyTag) => t.steps.find((s) => s.step === 'push' && s.status === 'failed') ?? null;

/** Commits the new pin and series in the scratch clone and pushes the branch (when its content changed). */
async function pushBranch(run: TagRun, scratchProject: Project, t: NightlyTag, baseRef: string): Promise<NightlyPush> {
  const { git } = run.deps;
  const branch = nightlyBranch(t.tag);
  const patches = (t.rebase?.patches ?? []).map((p) => `  ${p.status.padEnd(16)} ${p.name}`);
  const message = `Move to upstream ${t.tag}\n\nUpstream ${t.tag} (${t.commit}); the series rebased, built and verified by mlmd-remote nightly:\n\n${patches.join('\n')}\n`;
  const c = await commitSeries(git, scratchProject.root, message);
  const pushed = await pushSeries(git, scratchProject.root, run.push!, branch, c);
  return { remote: redactUrl(run.push!.url), branch, commit: pushed.remoteCommit, base: { ref: baseRef, commit: c.parent }, action: pushed.action };
}

async function pullRequestReport(run: TagRun, scratchProject: Project, t: NightlyTag, push: NightlyPush, verified: VerifyResult, wheel: string): Promise<string> {
  const { git } = run.deps;
  const root = scratchProject.root;
  const [base, head] = await Promise.all([seriesAt(git, root, push.base.commit), seriesAt(git, root, push.commit)]);
  const reviewed = reviewSeries(base, head);
  reviewed.base.rev = `${push.base.ref} (${push.base.commit.slice(0, 12)})`;
  reviewed.head.rev = `${push.branch} (${push.commit.slice(0, 12)})`;
  let wheelDiff: PullRequestReport['wheelDiff'];
  try {
    wheelDiff = await run.stages.diffWheel(scratchProject, wheel);
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    wheelDiff = { unavailable: (err as Error).message.split('\n')[0]! };
  }
  const from = base.pin;
  const deps = await dependencyChanges(git, scratchProject.upstreamDir, from.commit, t.commit);
  return renderPullRequest({ tag: t, from, push, rebase: t.rebase!, review: reviewed, verify: verified, wheelDiff, attention: attentionOf(t.rebase!, deps) });
}

/** One line for the summary: the behaviour suite, the new release's own tests, and any skip. */
function describeVerify(v: VerifyResult): string {
  if (!v.live) return 'static only';
  const parts = [`behaviour suite ${v.live.suite.passed} passed, ${v.live.suite.failed} failed`];
  const u = v.live.upstreamTests;
  if (u) {
    const sum = (k: 'passed' | 'embeddedOnly' | 'failed') => u.files.reduce((n, f) => n + f[k], 0);
    parts.push(`upstream's tests ${sum('passed')} passed, ${sum('embeddedOnly')} expected embedded-only, ${sum('failed')} failed`);
  }
  for (const s of v.skipped) parts.push(`skipped ${s.what}: ${s.reason}`);
  return parts.join('; ');
}

function summarizeRebase(r: RebaseResult): string {
  const counts = new Map<string, number>();
  for (const p of r.patches) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}

/** The state of a stopped rebase in a scratch clone, for the report. */
function readLastRebase(project: Project): RebaseResult | null {
  const file = path.join(project.upstreamDir, '.git');
  try {
    const gitdirLine = fs.readFileSync(file, 'utf8');
    const gitdir = path.resolve(project.upstreamDir, gitdirLine.replace(/^gitdir:\s*/, '').trim());
    const state = RebaseStateSchema.parse(JSON.parse(fs.readFileSync(path.join(gitdir, 'mlmd-remote', 'rebase', 'state.json'), 'utf8')));
    return { schemaVersion: 1, status: 'stopped', from: state.from, to: state.to, branch: state.branch, patches: state.patches, durationMs: state.durationMs, export: null };
  } catch {
    return null;
  }
}

export const definition = defineCommand({
  command: 'nightly',
  describe: 'For each upstream release newer than the pin: rebase in a scratch clone, build, verify, and report',
  readsUpstream: true,
  options: (y) =>
    y
      .option('pre', { type: 'boolean', default: false, describe: 'Include pre-releases (rc, beta, ...)' })
      .option('tag', { type: 'string', array: true, describe: 'Only these tags (e.g. one per CI matrix job)' })
      .option('out', { type: 'string', describe: 'Directory for summary.md, summary.json and the wheels (default: .cache/nightly/<date>)' })
      .option('skip-verify', { type: 'boolean', default: false, describe: 'Build but do not verify' })
      .option('list', { type: 'boolean', default: false, describe: 'Only list the newer tags (exit 0 either way); with --json, for a CI matrix' })
      .option('push', { type: 'string', describe: 'With --tag: push each good tag as branch mlmd-remote/upstream-<tag> to this remote (a remote of this checkout, a URL or a path) and write <out>/<tag>/pr.md; a tag that needs attention gets <out>/<tag>/issue.md and no push' })
      .option('upstream-url', UPSTREAM_URL_OPTION),
  run: (a, project, deps) => nightly({ project, url: a.upstreamUrl, prereleases: a.pre, tags: a.tag, outDir: a.out, skipVerify: a.skipVerify, listOnly: a.list, push: a.push }, deps),
  render: renderNightly,
  exitCode: (r) => (r.status === 'up-to-date' || r.status === 'new-tags' ? ExitCode.ok : r.status === 'new-tag-fine' ? ExitCode.newTagFine : ExitCode.newTagNeedsAttention),
});
