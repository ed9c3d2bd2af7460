import { CONFIG_FILE, PinFieldsSchema, type Project } from '../config.js';
import { UsageError } from '../errors.js';
import type { Git } from '../git.js';
import { reviewSeries, type ReviewResult, type SeriesAtRevision } from '../review.js';
import { parseJson } from '../json-file.js';
import { parseSeriesList } from '../series.js';
import type { Deps } from './deps.js';
import { defineCommand } from '../command.js';
import { renderReview, renderReviewMarkdown } from '../render/series.js';

/** The first patch of a series written before patches at the root had a line of their own. */
const LEGACY_FIRST_PATCH = 'WORKSPACE.patch';

/** The series and pin as committed at `rev`. */
export async function seriesAt(git: Git, root: string, rev: string): Promise<SeriesAtRevision> {
  const show = async (file: string) => {
    const res = await git(root, ['show', `${rev}:${file}`], { allowFailure: true });
    if (!res.ok) throw new UsageError(`${rev} has no ${file}`, 'give revisions of this repository, e.g. --base origin/main --head HEAD');
    return res.stdout;
  };
  const config = parseJson(await show(CONFIG_FILE), PinFieldsSchema, `${CONFIG_FILE} at ${rev}`, (m) => new UsageError(m, 'give revisions of this repository that hold a valid series, e.g. --base origin/main --head HEAD'));
  const entries = parseSeriesList(await show('patches/series'), `patches/series at ${rev}`);
  // Before patches at the root were listed as ../NAME, WORKSPACE.patch applied first without a line.
  if (entries.every((e) => e.path.startsWith('patches/')) && (await git(root, ['cat-file', '-e', `${rev}:${LEGACY_FIRST_PATCH}`], { allowFailure: true })).ok) {
    entries.unshift({ name: LEGACY_FIRST_PATCH, path: LEGACY_FIRST_PATCH });
  }
  const patches = [];
  for (const e of entries) patches.push({ name: e.name, bytes: Buffer.from(await show(e.path)) });
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
