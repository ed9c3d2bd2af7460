/** Text and markdown for the maintainer commands: apply, sync, rebase, export, check, edit, review. */
import { formatMs } from '../log.js';
import type { ApplyCommandResult, CheckResult, EditResult, ExportResult, RebaseResult, SyncResult } from '../results.js';
import type { RebasePatch, RebasePatchStatus } from '../rebase.js';
import type { ReviewResult, ReviewStatus } from '../review.js';
import type { PatchApplyReport } from '../apply-series.js';

const STATUS_MARK: Record<PatchApplyReport['status'], string> = { clean: '✓', offset: '~', failed: '✗', skipped: '·' };

export function patchLine(p: PatchApplyReport): string {
  let detail = '';
  if (p.status === 'offset') detail = ` (${p.offsets.map((o) => `${o.file} hunk #${o.hunk} ${o.offset > 0 ? '+' : ''}${o.offset}`).join(', ')})`;
  if (p.status === 'failed' && p.failure) detail = `: ${p.failure.message}`;
  if (p.status === 'skipped') detail = ' (not tried: an earlier patch failed)';
  return `${STATUS_MARK[p.status]} ${p.status.padEnd(7)} ${p.name}${detail}`;
}

export function renderApply(r: ApplyCommandResult): string {
  const lines = [
    `${r.mode === 'check' ? 'Check' : 'Apply'} of ${r.patches.length} patches on ${r.tag} (${r.baseCommit.slice(0, 12)}):`,
    ...r.patches.map((p) => `  ${patchLine(p)}`),
  ];
  if (!r.ok) lines.push('', 'A patch does not apply; upstream/ was left as it was.');
  else if (r.mode === 'check') lines.push('', 'Every patch applies (nothing was changed).');
  else if (!r.changed) lines.push('', 'upstream/ already holds the applied series.');
  else lines.push('', `upstream/ now holds ${r.tag} with the series applied (staged; see git -C upstream diff --cached).`);
  if (r.savedTo) lines.push(`What upstream/ held before was saved as ${r.savedTo}.`);
  return lines.join('\n');
}

export function renderApplyMarkdown(r: ApplyCommandResult): string {
  const rows = r.patches.map((p) => `| ${STATUS_MARK[p.status]} ${p.status} | \`${p.name}\` | ${p.subject.replace(/\|/g, '\\|')} | ${p.failure ? p.failure.message.replace(/\|/g, '\\|') : p.offsets.map((o) => `${o.file} #${o.hunk} ${o.offset}`).join('<br>')} |`);
  return [`### Patch series on ${r.tag} (\`${r.baseCommit.slice(0, 12)}\`)`, '', '| status | patch | subject | detail |', '|---|---|---|---|', ...rows, ''].join('\n');
}

export function renderSync(r: SyncResult): string {
  const what = { cloned: 'checked out', 'checked-out': 'checked out', reset: 'reset (the applied series was removed)', unchanged: 'already there' }[r.action];
  return [`upstream/ is at ${r.tag} (${r.commit}): ${what}.`, `Tag verified at ${r.url}.`, ...(r.savedTo ? [`Earlier work was saved as ${r.savedTo}.`] : [])].join('\n');
}

const REBASE_MARK: Record<RebasePatchStatus, string> = {
  pending: '·',
  clean: '✓',
  offset: '~',
  'already-upstream': '=',
  'three-way': '3',
  conflicted: '✗',
  resolved: '✎',
};

export function rebaseDetail(p: RebasePatch): string {
  if (p.status === 'offset') return p.offsets.map((o) => `${o.file} #${o.hunk} ${o.offset > 0 ? '+' : ''}${o.offset}`).join(', ');
  if (p.status === 'already-upstream') return `upstream has this change (${p.proof ?? 'proven'}): it leaves the series`;
  if (p.status === 'conflicted' && p.conflict) {
    const files = p.conflict.files.map((f) => `${f.path}${f.hunks.length ? ` (lines ${f.hunks.map((h) => `${h.startLine}-${h.endLine}`).join(', ')})` : ''}`);
    return files.length ? files.join(', ') : p.conflict.message.split('\n')[0] ?? '';
  }
  return '';
}

export function renderRebase(r: RebaseResult): string {
  const lines = [`Rebase ${r.from.tag} (${r.from.commit.slice(0, 12)}) -> ${r.to.tag} (${r.to.commit.slice(0, 12)}): ${r.status}, ${formatMs(r.durationMs)}`];
  for (const p of r.patches) {
    const d = rebaseDetail(p);
    lines.push(`  ${REBASE_MARK[p.status]} ${p.status.padEnd(16)} ${p.name}${d ? `: ${d}` : ''}`);
  }
  if (r.export) lines.push('', `Exported: ${r.export.patches.map((p) => `${p.name} ${p.action}`).join(', ')}${r.export.removed.length ? `; removed ${r.export.removed.join(', ')}` : ''}`, `The pin is now ${r.to.tag}; the commits stay on ${r.branch} in upstream/.`);
  if (r.status === 'aborted') lines.push('', `Aborted: the pin, the patch files and upstream/ are as they were before.`);
  if (r.next) lines.push('', `Next: ${r.next}`);
  return lines.join('\n');
}

export function renderRebaseMarkdown(r: RebaseResult): string {
  const lines = [`### Rebase ${r.from.tag} → ${r.to.tag}: ${r.status}`, '', `\`${r.from.commit.slice(0, 12)}\` → \`${r.to.commit.slice(0, 12)}\`, ${formatMs(r.durationMs)}`, '', '| patch | result | detail |', '|---|---|---|'];
  for (const p of r.patches) lines.push(`| \`${p.name}\` | ${REBASE_MARK[p.status]} ${p.status} | ${rebaseDetail(p).replace(/\|/g, '\\|')} |`);
  if (r.next) lines.push('', `**Next:** ${r.next}`);
  return `${lines.join('\n')}\n`;
}

export function renderExport(r: ExportResult): string {
  const lines = r.patches.map((p) => `  ${p.action === 'kept' ? '=' : p.action === 'added' ? '+' : '~'} ${p.action.padEnd(7)} ${p.name}`);
  for (const n of r.removed) lines.push(`  - removed ${n}`);
  const head = r.changesNothing ? 'Export changes nothing: every patch file already says what its commit does.' : r.written ? 'Exported the series:' : 'Export would write:';
  return [head, ...lines].join('\n');
}

export function renderCheck(r: CheckResult): string {
  const lines = [`${r.ok ? 'OK' : 'FAILED'}: the series on ${r.tag} (${r.commit.slice(0, 12)})`, ...r.apply.map((p) => `  ${patchLine(p)}`)];
  const failed = r.apply.find((p) => p.status === 'failed');
  const fix = failed
    ? `Fix: mlmd-remote edit stops at ${failed.name} as a git am session in upstream/ (merged three-way where git can): make its change there (git -C upstream am --show-current-patch=diff shows it), git -C upstream add the files, git -C upstream am --continue, then mlmd-remote export.`
    : 'Fix: mlmd-remote edit, then mlmd-remote export (export writes each patch file the way it formats patches).';
  if (r.problems.length) lines.push('', 'Problems:', ...r.problems.map((p) => `  - ${p}`), '', fix);
  else lines.push('', 'The series applies and export would change no file.');
  return lines.join('\n');
}

export function renderEdit(r: EditResult): string {
  const stop = r.stopped;
  return [
    stop
      ? `upstream/ is on ${r.branch}: ${r.base.tag} plus ${r.commits.length} commit(s); stopped at ${stop.patch}, which does not apply${stop.files.length ? ` (conflicts in ${stop.files.map((f) => `${f.path}${f.hunks.length ? ` lines ${f.hunks.map((h) => `${h.startLine}-${h.endLine}`).join(', ')}` : ''}`).join(', ')})` : ''}.`
      : `upstream/ is on ${r.branch}: ${r.base.tag} plus one commit per patch.`,
    ...r.commits.map((c) => `  ${c.commit.slice(0, 12)} ${c.subject}  (${c.patch})`),
    ...(stop?.message ? ['', ...stop.message.split('\n').map((l) => `  ${l}`)] : []),
    '',
    r.next ? `Next: ${r.next}` : 'Edit with plain git (commit --amend, rebase -i, new commits with Why/Upstream-Status/Drop-When in the message), then: mlmd-remote export',
    ...(r.savedTo ? [`Earlier work in upstream/ was saved as ${r.savedTo}.`] : []),
  ].join('\n');
}

const REVIEW_WORDS: Record<ReviewStatus, string> = {
  added: 'added',
  removed: 'removed',
  unchanged: 'unchanged',
  reordered: 'reordered',
  'header-only': 'header only',
  'same-effect': 'same effect (context or line numbers only)',
  'hunks-changed': 'hunks changed',
};

export function renderReview(r: ReviewResult): string {
  const lines = [`Series ${r.base.rev} -> ${r.head.rev}`];
  lines.push(r.pinChanged ? `  upstream pin: ${r.base.pin.tag} (${r.base.pin.commit.slice(0, 12)}) -> ${r.head.pin.tag} (${r.head.pin.commit.slice(0, 12)})` : `  upstream pin: unchanged, ${r.head.pin.tag} (${r.head.pin.commit.slice(0, 12)})`);
  for (const p of r.patches) {
    lines.push(`  ${REVIEW_WORDS[p.status].padEnd(14)} ${p.name}`);
    for (const h of p.headerChanges) lines.push(`      ${h.field}: "${h.base}" -> "${h.head}"`);
    if (p.status === 'hunks-changed') lines.push(...p.interdiff.trimEnd().split('\n').map((l) => `      ${l}`));
  }
  return lines.join('\n');
}

export function renderReviewMarkdown(r: ReviewResult): string {
  const changed = r.patches.filter((p) => p.status !== 'unchanged');
  const lines = [`### Patch series: ${changed.length} of ${r.patches.length} patches changed`, ''];
  lines.push(r.pinChanged ? `**Upstream pin:** ${r.base.pin.tag} \`${r.base.pin.commit.slice(0, 12)}\` → ${r.head.pin.tag} \`${r.head.pin.commit.slice(0, 12)}\`` : `Upstream pin unchanged: ${r.head.pin.tag} \`${r.head.pin.commit.slice(0, 12)}\``, '');
  for (const p of r.patches) {
    lines.push(`<details${p.status === 'hunks-changed' || p.status === 'added' ? ' open' : ''}><summary><code>${p.name}</code>: ${REVIEW_WORDS[p.status]}</summary>`, '');
    lines.push(`_${p.subject}_`, '');
    for (const h of p.headerChanges) lines.push(`- **${h.field}**: ~~${h.base}~~ → ${h.head}`);
    if (p.interdiff) lines.push('', '```diff', p.interdiff.trimEnd(), '```');
    lines.push('', '</details>', '');
  }
  return lines.join('\n');
}
