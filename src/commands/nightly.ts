import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { loadProject, type Project } from '../config.js';
import { UsageError } from '../errors.js';
import { redactUrl, unreachableUpstream, upstreamUrl, readPin } from '../pin.js';
import { newerTags, pickTags, readRemoteTags } from '../tags.js';
import { build } from './build.js';
import type { Deps } from './deps.js';
import { rebaseStart } from './rebase.js';
import { sync } from './sync.js';
import { RebaseStateSchema } from '../rebase.js';
import { verify } from './verify.js';
import type { NightlyResult, NightlyStep, NightlyTag, RebaseResult, StepStatus, VerifyResult } from '../results.js';
import { defineCommand, UPSTREAM_URL_OPTION } from '../command.js';
import { ExitCode } from '../errors.js';
import { renderNightly } from '../render/wheel.js';

/**
 * Looks for upstream tags newer than the pin and, for each, rebases the series
 * in a scratch clone of this repository (never touching upstream/), builds and
 * verifies. Writes summary.json and summary.md to outDir.
 */
export async function nightly(opts: { project: Project; url?: string; prereleases?: boolean; tags?: string[]; outDir?: string; skipVerify?: boolean; listOnly?: boolean }, deps: Deps): Promise<NightlyResult> {
  const { project } = opts;
  const { git, log } = deps;
  const pin = await readPin(project, git);
  const url = upstreamUrl(project, opts.url);
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
  const tags: NightlyTag[] = [];
  for (const t of candidates) {
    tags.push(opts.listOnly ? { tag: t.tag, commit: t.commit, outcome: 'not-tried', steps: [], rebase: null, wheel: null } : await tryTag(project, deps, url, t.tag, t.commit, outDir, opts.skipVerify ?? false));
  }
  const status: NightlyResult['status'] = tags.length === 0 ? 'up-to-date' : opts.listOnly ? 'new-tags' : tags.every((t) => t.outcome === 'fine') ? 'new-tag-fine' : 'new-tag-needs-attention';
  const result: NightlyResult = { schemaVersion: 1, status, pin, url: redactUrl(url), checkedAt: new Date().toISOString(), tags, outDir };
  writeFileAtomic(path.join(outDir, 'summary.json'), `${JSON.stringify(result, null, 2)}\n`);
  const { renderNightlyMarkdown } = await import('../render/wheel.js');
  writeFileAtomic(path.join(outDir, 'summary.md'), renderNightlyMarkdown(result));
  return result;
}

async function tryTag(project: Project, deps: Deps, url: string, tag: string, commit: string, outDir: string, skipVerify: boolean): Promise<NightlyTag> {
  const { git, log } = deps;
  const result: NightlyTag = { tag, commit, outcome: 'needs-attention', steps: [], rebase: null, wheel: null };
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `mlmd-remote-nightly-${tag}-`));
  const timed = async <T>(name: NightlyStep['step'], fn: () => Promise<T>, describe: (r: T) => [StepStatus, string]): Promise<T | null> => {
    const started = Date.now();
    try {
      const r = await fn();
      const [status, detail] = describe(r);
      result.steps.push({ step: name, status, ms: Date.now() - started, detail });
      return status === 'ok' ? r : null;
    } catch (err) {
      result.steps.push({ step: name, status: 'failed', ms: Date.now() - started, detail: (err as Error).message.split('\n').slice(0, 6).join('\n') });
      return null;
    }
  };
  try {
    log.info(`— ${tag} (${commit.slice(0, 12)}) in ${scratch}`);
    // A clone of this repository's committed state; caches are shared, upstream/ is not.
    await git(scratch, ['clone', '--quiet', project.root, 'project']);
    const scratchProject: Project = { ...loadProject(path.join(scratch, 'project'), { exact: true }), cacheDir: project.cacheDir };
    await sync({ project: scratchProject, url }, deps);
    const rebased = await timed('rebase', () => rebaseStart({ project: scratchProject, tag, url }, deps), (r) => [r.status === 'done' ? 'ok' : 'stopped', summarizeRebase(r)]);
    result.rebase = (rebased ?? null) as RebaseResult | null;
    if (!rebased) {
      result.rebase ??= readLastRebase(scratchProject);
      result.steps.push({ step: 'build', status: 'skipped', ms: 0, detail: 'the rebase did not finish' }, { step: 'verify', status: 'skipped', ms: 0, detail: 'the rebase did not finish' });
      return result;
    }
    const built = await timed('build', () => build({ project: scratchProject, workDir: path.join(project.cacheDir, 'nightly-work', tag), distDir: path.join(outDir, tag) }, deps), (b) => ['ok', `${b.wheel.name} ${b.wheel.sha256.slice(0, 16)}…`]);
    if (!built) {
      result.steps.push({ step: 'verify', status: 'skipped', ms: 0, detail: 'nothing was built' });
      return result;
    }
    result.wheel = { name: built.wheel.name, sha256: built.wheel.sha256 };
    if (skipVerify) {
      result.steps.push({ step: 'verify', status: 'skipped', ms: 0, detail: '--skip-verify' });
    } else {
      const verified = await timed('verify', () => verify({ project: scratchProject, wheel: built.wheel.path, server: 'reference' }, deps), (v) => [v.ok ? 'ok' : 'failed', describeVerify(v)]);
      if (!verified) return result;
    }
    result.outcome = 'fine';
    return result;
  } catch (err) {
    result.steps.push({ step: 'rebase', status: 'failed', ms: 0, detail: (err as Error).message });
    return result;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
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
      .option('upstream-url', UPSTREAM_URL_OPTION),
  run: (a, project, deps) => nightly({ project, url: a.upstreamUrl, prereleases: a.pre, tags: a.tag, outDir: a.out, skipVerify: a.skipVerify, listOnly: a.list }, deps),
  render: renderNightly,
  exitCode: (r) => (r.status === 'up-to-date' || r.status === 'new-tags' ? ExitCode.ok : r.status === 'new-tag-fine' ? ExitCode.newTagFine : ExitCode.newTagNeedsAttention),
});
