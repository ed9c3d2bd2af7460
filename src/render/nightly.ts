/**
 * What a nightly run with --push leaves for people: pr.md, the body of the
 * pull request for a branch it pushed, and issue.md, the body of the issue
 * for a tag that needs a human (which patch, where, and the commands that take
 * it over locally).
 */
import type { NightlyAttention, NightlyPush, NightlyTag, RebaseResult, VerifyResult } from '../results.js';
import type { ReviewResult } from '../review.js';
import { SERIES_PATHSPEC } from '../series.js';
import type { WheelDiff } from '../wheeldiff.js';
import { renderRebaseMarkdown, renderReviewMarkdown } from './series.js';
import { renderVerifyMarkdown } from './verify.js';
import { renderWheelDiff } from './wheel.js';
import { formatMs } from '../log.js';

export interface PullRequestReport {
  tag: NightlyTag;
  from: { tag: string; commit: string };
  push: NightlyPush;
  rebase: RebaseResult;
  review: ReviewResult;
  verify: VerifyResult;
  /** Against the official wheel of the release, or why there is none to compare with. */
  wheelDiff: WheelDiff | { unavailable: string };
  attention: NightlyAttention;
}

export interface IssueReport {
  tag: NightlyTag;
  from: { tag: string; commit: string };
  /** The branch of this repository the nightly started from. */
  baseRef: string;
  verify: VerifyResult | null;
}

const short = (c: string) => `\`${c.slice(0, 12)}\``;

/** A marker that names the tag, so the workflow finds its own pull request or issue again. */
export const reportMarker = (tag: string) => `<!-- mlmd-remote nightly ${tag} -->`;

function attentionLines(a: NightlyAttention): string[] {
  const lines = ['### What a reviewer must look at', ''];
  lines.push(a.dropped.length ? `- **Dropped patches** (upstream has their change): ${a.dropped.map((d) => `\`${d.name}\` (${d.proof})`).join('; ')}` : '- Dropped patches: none');
  lines.push(a.threeWay.length ? `- **Three-way merges** (check the merged result, not only that it applied): ${a.threeWay.map((n) => `\`${n}\``).join(', ')}` : '- Three-way merges: none');
  if (a.dependencyChanges.length) lines.push('- **Dependency ranges** upstream changed in `setup.py` (compare with the ranges the setup.py patch declares):', '', '```diff', ...a.dependencyChanges, '```');
  else lines.push('- Dependency ranges: upstream changed none in `setup.py`');
  return [...lines, ''];
}

export function renderPullRequest(r: PullRequestReport): string {
  const p = r.push;
  const wheel = r.tag.wheel!;
  const lines = [
    reportMarker(r.tag.tag),
    `## Move to upstream ${r.tag.tag}`,
    '',
    `\`mlmd-remote nightly\` moved the series from ${r.from.tag} (${short(r.from.commit)}) to ${r.tag.tag} (${short(r.tag.commit)}), built \`${wheel.name}\` (sha256 \`${wheel.sha256}\`) and verified it.`,
    `Branch \`${p.branch}\` (${short(p.commit)}) on \`${p.base.ref}\` (${short(p.base.commit)}): ${p.action}.`,
    '',
    '| step | result | time |',
    '|---|---|---|',
    ...r.tag.steps.map((s) => `| ${s.step} | ${s.status} | ${formatMs(s.ms)} |`),
    '',
    ...attentionLines(r.attention),
    renderRebaseMarkdown(r.rebase),
    renderReviewMarkdown(r.review),
    renderVerifyMarkdown(r.verify),
    `### The wheel against the official ml-metadata of ${r.tag.tag}`,
    '',
    'unavailable' in r.wheelDiff ? `No official wheel to compare with: ${r.wheelDiff.unavailable}` : renderWheelDiff(r.wheelDiff, true),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** The first step that did not pass, and why. */
function failedStep(t: NightlyTag) {
  return t.steps.find((s) => s.status === 'failed' || s.status === 'stopped') ?? null;
}

function takeOver(r: IssueReport): string[] {
  const tag = r.tag.tag;
  const conflicted = r.tag.rebase?.patches.find((p) => p.status === 'conflicted');
  const lines = ['```sh', `git switch ${r.baseRef} && git pull --ff-only`, 'npx mlmd-remote sync', `npx mlmd-remote rebase ${tag}`];
  if (conflicted?.conflict) {
    const files = conflicted.conflict.files.map((f) => f.path);
    lines.push(`# it stops at ${conflicted.name}: resolve ${files.map((f) => `upstream/${f}`).join(', ')} with git, then`, `git -C upstream add -- ${files.join(' ')}`, 'npx mlmd-remote rebase --continue   # again for each patch that stops; rebase --abort undoes it all');
  }
  lines.push('npx mlmd-remote build --verbose', 'npx mlmd-remote verify --markdown', `git add -A -- ${SERIES_PATHSPEC.map((p) => (p.includes('*') ? `'${p}'` : p)).join(' ')} && git commit -m "Move to upstream ${tag}"`, '```');
  return lines;
}

export function renderIssue(r: IssueReport): string {
  const t = r.tag;
  const failed = failedStep(t);
  const what = !failed ? 'it did not finish' : failed.step === 'rebase' && failed.status === 'stopped' ? 'the rebase stopped on a conflict' : `${failed.step} failed`;
  const lines = [
    reportMarker(t.tag),
    `## Upstream ${t.tag} needs attention`,
    '',
    `\`mlmd-remote nightly\` tried to move the series from ${r.from.tag} (${short(r.from.commit)}) to ${t.tag} (${short(t.commit)}) on \`${r.baseRef}\`: ${what}. Nothing was pushed.`,
    '',
    '| step | result | time |',
    '|---|---|---|',
    ...t.steps.map((s) => `| ${s.step} | ${s.status} | ${formatMs(s.ms)} |`),
    '',
  ];
  const conflicted = t.rebase?.patches.find((p) => p.status === 'conflicted');
  if (conflicted?.conflict) {
    lines.push('### Where', '', `\`${conflicted.name}\` (_${conflicted.subject}_) does not apply to ${t.tag}:`, '');
    for (const f of conflicted.conflict.files) lines.push(`- \`${f.path}\`${f.hunks.length ? `, lines ${f.hunks.map((h) => `${h.startLine}-${h.endLine}`).join(', ')} (conflict markers after \`git am --3way\`)` : ': git could not merge it'}`);
    lines.push('');
  } else if (failed) {
    lines.push(`### What failed: ${failed.step}`, '', '```', failed.detail.trimEnd(), '```', '');
  }
  if (t.rebase) lines.push(renderRebaseMarkdown(t.rebase));
  if (r.verify) lines.push(renderVerifyMarkdown(r.verify));
  lines.push('### Take it over locally', '', ...takeOver(r), '');
  return `${lines.join('\n')}\n`;
}
