/** Text and markdown for the commands that make or ship a wheel: build, diff-wheel, nightly, release. */
import { formatMs } from '../log.js';
import type { BuildResult, NightlyResult, ReleaseResult } from '../results.js';
import type { WheelDiff } from '../wheeldiff.js';
import { rebaseDetail, renderRebaseMarkdown } from './series.js';

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
  lines.push(`  sums     ${r.attestations.sha256sums}`, `  provenance ${r.attestations.provenance}`);
  if (r.reproducible) lines.push(`  reproducible: two builds in separate scratch trees gave the same sha256`);
  for (const n of r.notes) lines.push(`  note     ${n}`);
  return lines.join('\n');
}

export function renderWheelDiff(d: WheelDiff, markdown = false): string {
  const lines: string[] = [];
  const h = (t: string) => lines.push(markdown ? `#### ${t}` : `${t}:`);
  lines.push(markdown ? `### \`${d.base.name}\` → \`${d.head.name}\`` : `${d.base.name} -> ${d.head.name}`, '');
  h('Metadata');
  for (const m of d.metadata) lines.push(`- ${m.field}: ${m.base.join('; ') || '(none)'} → ${m.head.join('; ') || '(none)'}`);
  if (!d.metadata.length) lines.push('- no differences');
  lines.push('');
  h(`Files (${d.unchanged} unchanged)`);
  for (const r of d.removed) lines.push(`- removed ${r.name}${r.native ? ` (native: ${r.native})` : ''}`);
  for (const a of d.added) lines.push(`- added ${a}`);
  for (const c of d.changed) lines.push(`- changed ${c}`);
  lines.push('');
  if (d.sourceDiffs.length) {
    h('Python sources');
    for (const s of d.sourceDiffs) {
      if (markdown) lines.push(`<details><summary><code>${s.name}</code></summary>`, '', '```diff', s.diff.trimEnd(), '```', '', '</details>');
      else lines.push(s.diff.trimEnd());
    }
  }
  return lines.join('\n');
}

export function renderNightly(r: NightlyResult): string {
  if (r.tags.length === 0) return `Up to date: no upstream release newer than ${r.pin.tag} at ${r.url}.`;
  if (r.status === 'new-tags') return `Upstream releases newer than ${r.pin.tag}: ${r.tags.map((t) => `${t.tag} (${t.commit.slice(0, 12)})`).join(', ')}`;
  const lines = [`Upstream has ${r.tags.length} release(s) newer than ${r.pin.tag}: ${r.status === 'new-tag-fine' ? 'all fine' : 'attention needed'}`];
  for (const t of r.tags) {
    lines.push(`  ${t.outcome === 'fine' ? '✓' : '✗'} ${t.tag} (${t.commit.slice(0, 12)}): ${t.steps.map((s) => `${s.step} ${s.status} (${formatMs(s.ms)})`).join(', ')}`);
    for (const s of t.steps) if (s.status !== 'ok' && s.status !== 'skipped') lines.push(`      ${s.step}: ${s.detail.split('\n')[0]}`);
    if (t.rebase) for (const p of t.rebase.patches) if (p.status !== 'clean') lines.push(`      ${p.name}: ${p.status}${rebaseDetail(p) ? ` (${rebaseDetail(p)})` : ''}`);
    if (t.push) lines.push(`      branch ${t.push.branch} ${t.push.commit.slice(0, 12)} at ${t.push.remote}: ${t.push.action === 'unchanged' ? 'unchanged, not pushed again' : t.push.action}`);
    else if (t.push === null) lines.push('      nothing pushed');
    if (t.report) lines.push(`      ${t.report.kind === 'pull-request' ? 'pull request body' : 'issue body'}: ${t.report.path}`);
  }
  lines.push('', `Summary: ${r.outDir}/summary.md and summary.json`);
  return lines.join('\n');
}

export function renderNightlyMarkdown(r: NightlyResult): string {
  const lines = [`## Nightly: upstream releases newer than ${r.pin.tag}`, '', `Checked ${r.checkedAt} against ${r.url}.`, ''];
  if (r.tags.length === 0) return `${lines.join('\n')}Up to date.\n`;
  lines.push('| tag | outcome | rebase | build | verify |', '|---|---|---|---|---|');
  for (const t of r.tags) {
    const cell = (name: string) => {
      const s = t.steps.find((x) => x.step === name);
      return s ? `${s.status} (${formatMs(s.ms)})${s.detail && s.status !== 'skipped' ? `: ${s.detail.split('\n')[0]!.replace(/\|/g, '\\|')}` : ''}` : '—';
    };
    lines.push(`| ${t.tag} | ${t.outcome === 'fine' ? '✅ fine' : '⚠️ needs attention'} | ${cell('rebase')} | ${cell('build')} | ${cell('verify')} |`);
  }
  for (const t of r.tags) if (t.push) lines.push('', `${t.tag}: branch \`${t.push.branch}\` (\`${t.push.commit.slice(0, 12)}\`) ${t.push.action} at ${t.push.remote}.`);
  for (const t of r.tags) if (t.rebase) lines.push('', renderRebaseMarkdown(t.rebase));
  return `${lines.join('\n')}\n`;
}

export function renderRelease(r: ReleaseResult): string {
  const lines = [
    `${r.dryRun ? 'Would upload' : r.uploaded ? 'Uploaded' : 'Did not upload'} ${r.wheel.name} to ${r.target}`,
    `  ${r.distName} ${r.version}${r.postRelease ? ` (re-spin: the index already had ${r.existingVersions.join(', ')})` : ''}`,
    `  sha256 ${r.wheel.sha256}, verified: ${r.verified.passed} behaviour tests against the ${r.verified.server}`,
  ];
  if (r.changelog) lines.push(`  release notes added to ${r.changelog}`);
  lines.push('', r.notes.trimEnd());
  return lines.join('\n');
}
