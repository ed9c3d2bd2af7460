import type { Project } from '../config.js';
import { UsageError } from '../errors.js';
import type { Git } from '../git.js';
import { reviewSeries, type ReviewResult, type SeriesAtRevision } from '../review.js';
import { parseSeriesList } from '../series.js';
import type { Deps } from './deps.js';
import { defineCommand } from '../command.js';
import { renderReview, renderReviewMarkdown } from '../render/series.js';

/** The series (WORKSPACE.patch first) and pin as committed at `rev`. */
export async function seriesAt(git: Git, root: string, rev: string): Promise<SeriesAtRevision> {
  const show = async (file: string) => {
    const res = await git(root, ['show', `${rev}:${file}`], { allowFailure: true });
    if (!res.ok) throw new UsageError(`${rev} has no ${file}`, 'give revisions of this repository, e.g. --base origin/main --head HEAD');
    return res.stdout;
  };
  const config = JSON.parse(await show('mlmd-remote.json')) as { upstream: { tag: string; commit: string } };
  const names = parseSeriesList(await show('patches/series'), `patches/series at ${rev}`);
  // WORKSPACE.patch is dropped from a series once upstream makes its change.
  const workspace = await git(root, ['show', `${rev}:WORKSPACE.patch`], { allowFailure: true });
  const patches = workspace.ok ? [{ name: 'WORKSPACE.patch', bytes: Buffer.from(workspace.stdout) }] : [];
  for (const n of names) patches.push({ name: n, bytes: Buffer.from(await show(`patches/${n}`)) });
  return { rev, pin: { tag: config.upstream.tag, commit: config.upstream.commit }, patches };
}

export async function review(opts: { project: Project; base?: string; head?: string }, deps: Deps): Promise<ReviewResult> {
  const { git } = deps;
  const head = opts.head ?? 'HEAD';
  const base = opts.base ?? (await defaultBase(git, opts.project.root, head));
  const resolve = async (rev: string) => (await git(opts.project.root, ['rev-parse', '--verify', '-q', `${rev}^{commit}`], { allowFailure: true })).stdout.trim() || rev;
  const [b, h] = await Promise.all([seriesAt(git, opts.project.root, base), seriesAt(git, opts.project.root, head)]);
  const result = reviewSeries(b, h);
  result.base.rev = `${base} (${(await resolve(base)).slice(0, 12)})`;
  result.head.rev = `${head} (${(await resolve(head)).slice(0, 12)})`;
  return result;
}

/** The merge base with origin/main, else main, else the parent of head. */
async function defaultBase(git: Git, root: string, head: string): Promise<string> {
  for (const candidate of ['origin/main', 'main']) {
    const mb = await git(root, ['merge-base', candidate, head], { allowFailure: true });
    const h = await git(root, ['rev-parse', head], { allowFailure: true });
    if (mb.ok && mb.stdout.trim() !== h.stdout.trim()) return mb.stdout.trim();
  }
  return `${head}~1`;
}

export const definition = defineCommand({
  command: 'review',
  describe: 'Compare the series between two revisions of this repository, patch by patch (for pull requests)',
  readOnly: () => true,
  options: (y) =>
    y
      .option('base', { type: 'string', describe: 'Base revision (default: merge base with origin/main or main)' })
      .option('head', { type: 'string', default: 'HEAD', describe: 'Head revision' })
      .option('markdown', { type: 'boolean', default: false, describe: 'Markdown for a PR comment, one collapsible section per patch' }),
  run: (a, project, deps) => review({ project, base: a.base, head: a.head }, deps),
  render: (r, a) => (a.markdown ? renderReviewMarkdown(r) : renderReview(r)),
});
