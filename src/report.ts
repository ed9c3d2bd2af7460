/**
 * Rendering results for people: plain text for the terminal and markdown for
 * CI and pull requests. JSON output is the result object itself.
 */
import type { ApplyCommandResult } from './commands/apply.js';
import type { BuildResult } from './commands/build.js';
import type { SyncResult } from './commands/sync.js';
import { formatMs } from './log.js';
import type { PatchApplyReport } from './series.js';

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

export function renderBuild(r: BuildResult): string {
  const lines = [
    `Built ${r.wheel.path}`,
    `  sha256   ${r.wheel.sha256}`,
    `  size     ${r.wheel.size} bytes`,
    `  profile  ${r.profile} (${r.distName} ${r.version})`,
    `  upstream ${r.upstream.tag} ${r.upstream.commit}`,
    `  patches  ${r.patches.map((p) => p.name).join(', ')}`,
    `  protoc   ${r.toolchain.protoc}`,
    `  grpc     ${r.toolchain.grpcPythonPlugin}`,
    `  bazel    ${r.toolchain.bazel} (${r.toolchain.bazelMode})`,
    `  python   ${r.toolchain.python}; ${Object.entries(r.toolchain.buildBackend).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  timings  ${r.timings.map((t) => `${t.step} ${formatMs(t.ms)}`).join(', ')}; total ${formatMs(r.timings.reduce((a, t) => a + t.ms, 0))}`,
  ];
  for (const n of r.notes) lines.push(`  note     ${n}`);
  return lines.join('\n');
}
