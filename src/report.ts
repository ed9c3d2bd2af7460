/**
 * Rendering results for people: plain text for the terminal and markdown for
 * CI and pull requests. JSON output is the result object itself.
 */
import type { ApplyCommandResult } from './commands/apply.js';
import type { BuildResult } from './commands/build.js';
import type { SyncResult } from './commands/sync.js';
import { formatMs } from './log.js';
import type { PatchApplyReport } from './apply-series.js';

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
  lines.push(`  sums     ${r.attestations.sha256sums}`, `  provenance ${r.attestations.provenance}`);
  if (r.reproducible) lines.push(`  reproducible: two builds in separate scratch trees gave the same sha256`);
  for (const n of r.notes) lines.push(`  note     ${n}`);
  return lines.join('\n');
}

const CHECK_MARK = { pass: '✓', fail: '✗', skip: '·' } as const;

export function renderVerify(r: import('./commands/verify.js').VerifyResult): string {
  const lines = [`${r.ok ? 'PASS' : 'FAIL'} ${r.wheel.name} (sha256 ${r.wheel.sha256})`, '', 'Static checks:'];
  for (const c of r.static) lines.push(`  ${CHECK_MARK[c.status]} ${c.title}${c.status === 'fail' && c.detail ? `: ${c.detail}` : ''}`);
  if (r.coInstall) lines.push('', 'Co-installation:', `  ${CHECK_MARK[r.coInstall.check.status]} ${r.coInstall.check.title}: ${r.coInstall.check.detail ?? ''}`);
  if (r.live) {
    const s = r.live.suite;
    lines.push('', `Behaviour suite against ${r.live.server.description} at ${r.live.server.address} (CPython ${r.live.python}; ${Object.entries(s.installed).map(([k, v]) => `${k} ${v}`).join(', ')}):`);
    lines.push(`  ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped of ${s.total} in ${formatMs(s.durationMs)}`);
    if (r.live.server.note) lines.push(`  note: ${r.live.server.note}`);
    if (r.live.helperNote) lines.push(`  note (slow and TLS servers): ${r.live.helperNote}`);
    for (const f of s.failures) lines.push(`  ✗ ${f.test}: ${f.message.split('\n')[0]}`);
    for (const f of s.skips) lines.push(`  · skipped ${f.test}: ${f.message}`);
    const u = r.live.upstreamTests;
    if (u) {
      lines.push('', `Upstream's own tests at ${u.commit.slice(0, 12)} (from the same venv, against the same server):`);
      for (const f of u.files) {
        lines.push(`  ${f.failed ? '✗' : f.skipped ? '·' : '✓'} ${f.path}: ${upstreamCounts(f)}`);
        for (const p of f.failures) lines.push(`      ✗ ${p.test}: ${p.message}`);
        for (const p of f.skips) lines.push(`      · skipped ${p.test}: ${p.message}`);
      }
      for (const e of u.staleEntries) lines.push(`  note: the embedded-only list names a test this commit does not have: ${e}`);
    }
  } else if (r.platforms) {
    lines.push('', `Behaviour suite on other platforms (against the ${r.platformServer?.description ?? 'server'} on this host):`);
    if (r.platformServer?.note) lines.push(`  note: ${r.platformServer.note}`);
    for (const p of r.platforms) lines.push(`  ${p.status === 'passed' ? '✓' : p.status === 'skipped' ? '· SKIPPED' : '✗'} ${p.platform}${p.machine ? ` (${p.machine}, CPython ${p.python}, grpcio ${p.grpcio}, protobuf ${p.protobuf})` : ''}: ${p.suite ? `${p.suite.passed} passed, ${p.suite.failed} failed, ${p.suite.skipped} skipped` : ''}${p.reason ? ` ${p.reason}` : ''} (${p.seconds.toFixed(0)} s)`);
  } else {
    lines.push('', 'No live checks (--server none).');
  }
  if (r.skipped.length) {
    lines.push('', `Skipped (allowed: ${r.allowedSkips.join(', ') || 'nothing'}):`);
    for (const s of r.skipped) lines.push(`  ${s.allowed ? '·' : '✗'} ${s.what}: ${s.reason}${s.allowed ? '' : ' (not allowed: fails the verdict; --allow-skip ' + s.what + ' to allow it)'}`);
  }
  lines.push('', `Timings: ${r.timings.map((t) => `${t.step} ${formatMs(t.ms)}`).join(', ')}`);
  return lines.join('\n');
}

/** "104 passed, 3 expected embedded-only, 0 failed" (+ skips, + early returns). */
export function upstreamCounts(f: import('./upstream-tests.js').UpstreamFileResult): string {
  const parts = [`${f.passed} passed`, `${f.embeddedOnly} expected embedded-only`, `${f.failed} failed`];
  if (f.skipped) parts.push(`${f.skipped} skipped`);
  return `${parts.join(', ')}${f.returnsAtOnce ? ` (${f.returnsAtOnce} of the passed return at once under gRPC, by upstream's design)` : ''}`;
}

export function renderVerifyMarkdown(r: import('./commands/verify.js').VerifyResult): string {
  const lines = [`### ${r.ok ? '✅' : '❌'} verify \`${r.wheel.name}\``, '', `sha256 \`${r.wheel.sha256}\``, '', '| check | result | detail |', '|---|---|---|'];
  for (const c of [...r.static, ...(r.coInstall ? [r.coInstall.check] : [])]) lines.push(`| ${c.title} | ${CHECK_MARK[c.status]} ${c.status} | ${(c.detail ?? '').replace(/\|/g, '\\|')} |`);
  if (r.live) {
    const s = r.live.suite;
    lines.push('', `**Behaviour suite** against ${r.live.server.description}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped (${formatMs(s.durationMs)}).`, '');
    if (r.live.server.note) lines.push(`> **Note:** ${r.live.server.note}`, '');
    lines.push(`Installed: ${Object.entries(s.installed).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (s.failures.length) lines.push('', '<details><summary>Failures</summary>', '', ...s.failures.map((f) => `- \`${f.test}\`: ${f.message.split('\n')[0]}`), '', '</details>');
    const u = r.live.upstreamTests;
    if (u) {
      lines.push('', `**Upstream's own tests** at \`${u.commit.slice(0, 12)}\`:`, '', '| file | passed | expected embedded-only | failed | skipped |', '|---|---|---|---|---|');
      for (const f of u.files) lines.push(`| \`${f.path}\` | ${f.passed} | ${f.embeddedOnly} | ${f.failed} | ${f.skipped} |`);
      const problems = u.files.flatMap((f) => f.failures.map((p) => `- \`${f.path}\` \`${p.test}\`: ${p.message.replace(/\|/g, '\\|')}`));
      if (problems.length) lines.push('', '<details><summary>Upstream test failures</summary>', '', ...problems, '', '</details>');
    }
  }
  if (r.skipped.length) {
    lines.push('', `**Skipped** (allowed: ${r.allowedSkips.join(', ') || 'nothing'}):`, '', ...r.skipped.map((s) => `- ${s.allowed ? '' : '❌ '}${s.what}: ${s.reason}`));
  }
  return `${lines.join('\n')}\n`;
}

export function renderServerStatus(s: import('./commands/server.js').ServerStatus): string {
  if (!s.state) return 'No reference server is recorded for this checkout (mlmd-remote server start).';
  const st = s.state;
  if (!s.running) return `The reference server (pid ${st.pid}) is not running.`;
  return [`Reference server (official ml-metadata ${st.mlmdVersion}) pid ${st.pid} at 127.0.0.1:${st.port}: ${s.answering ? 'answering' : 'NOT answering'}`, ...(st.note ? [`  note ${st.note}`] : []), `  data ${st.dataDir}`, `  log  ${st.logFile}`, `  connect: MetadataStoreClientConfig(host="127.0.0.1", port=${st.port})`].join('\n');
}

export function renderMatrixMarkdown(r: import('./commands/verify.js').MatrixResult): string {
  const pkgs = Object.keys(r.rows[0]?.installed ?? {});
  const lines = [
    `Behaviour suite of \`${r.wheel.name}\` against the ${r.server}, CPython ${r.python}.`,
    '',
    `| row | ${pkgs.join(' | ')} | result |`,
    `|---|${pkgs.map(() => '---').join('|')}|---|`,
    ...r.rows.map((row) => `| ${row.name} | ${pkgs.map((p) => row.installed[p] ?? '?').join(' | ')} | ${row.ok ? '✅' : '❌'} ${row.passed}/${row.total} passed${row.skipped ? `, ${row.skipped} skipped` : ''} |`),
    '',
  ];
  if (r.drift.length) lines.push('**Declared ranges and tested versions disagree:**', '', ...r.drift.map((d) => `- ${d}`), '');
  return lines.join('\n');
}

export function renderMatrix(r: import('./commands/verify.js').MatrixResult): string {
  const lines = [`Dependency matrix for ${r.wheel.name} (${r.server}, CPython ${r.python}):`];
  for (const row of r.rows) {
    lines.push(`  ${row.ok ? '✓' : '✗'} ${row.name.padEnd(16)} ${Object.entries(row.installed).map(([k, v]) => `${k} ${v}`).join(', ')}: ${row.passed}/${row.total} passed`);
    for (const f of row.failures) lines.push(`      ✗ ${f.test}: ${f.message.split('\n')[0]}`);
  }
  if (r.drift.length) lines.push('', 'Declared ranges and tested versions disagree:', ...r.drift.map((d) => `  - ${d}`));
  return lines.join('\n');
}

const REBASE_MARK: Record<import('./rebase.js').RebasePatchStatus, string> = {
  pending: '·',
  clean: '✓',
  offset: '~',
  'already-upstream': '=',
  'three-way': '3',
  conflicted: '✗',
  resolved: '✎',
};

function rebaseDetail(p: import('./rebase.js').RebasePatch): string {
  if (p.status === 'offset') return p.offsets.map((o) => `${o.file} #${o.hunk} ${o.offset > 0 ? '+' : ''}${o.offset}`).join(', ');
  if (p.status === 'already-upstream') return `upstream has this change (${p.proof ?? 'proven'}): it leaves the series`;
  if (p.status === 'conflicted' && p.conflict) {
    const files = p.conflict.files.map((f) => `${f.path}${f.hunks.length ? ` (lines ${f.hunks.map((h) => `${h.startLine}-${h.endLine}`).join(', ')})` : ''}`);
    return files.length ? files.join(', ') : p.conflict.message.split('\n')[0] ?? '';
  }
  return '';
}

export function renderRebase(r: import('./commands/rebase.js').RebaseResult): string {
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

export function renderRebaseMarkdown(r: import('./commands/rebase.js').RebaseResult): string {
  const lines = [`### Rebase ${r.from.tag} → ${r.to.tag}: ${r.status}`, '', `\`${r.from.commit.slice(0, 12)}\` → \`${r.to.commit.slice(0, 12)}\`, ${formatMs(r.durationMs)}`, '', '| patch | result | detail |', '|---|---|---|'];
  for (const p of r.patches) lines.push(`| \`${p.name}\` | ${REBASE_MARK[p.status]} ${p.status} | ${rebaseDetail(p).replace(/\|/g, '\\|')} |`);
  if (r.next) lines.push('', `**Next:** ${r.next}`);
  return `${lines.join('\n')}\n`;
}

export function renderExport(r: import('./commands/export.js').ExportResult): string {
  const lines = r.patches.map((p) => `  ${p.action === 'kept' ? '=' : p.action === 'added' ? '+' : '~'} ${p.action.padEnd(7)} ${p.name}`);
  for (const n of r.removed) lines.push(`  - removed ${n}`);
  const head = r.changesNothing ? 'Export changes nothing: every patch file already says what its commit does.' : r.written ? 'Exported the series:' : 'Export would write:';
  return [head, ...lines].join('\n');
}

export function renderCheck(r: import('./commands/check.js').CheckResult): string {
  const lines = [`${r.ok ? 'OK' : 'FAILED'}: the series on ${r.tag} (${r.commit.slice(0, 12)})`, ...r.apply.map((p) => `  ${patchLine(p)}`)];
  const failed = r.apply.find((p) => p.status === 'failed');
  const fix = failed
    ? `Fix: mlmd-remote edit stops at ${failed.name} as a git am session in upstream/ (merged three-way where git can): make its change there (git -C upstream am --show-current-patch=diff shows it), git -C upstream add the files, git -C upstream am --continue, then mlmd-remote export.`
    : 'Fix: mlmd-remote edit, then mlmd-remote export (export writes each patch file the way it formats patches).';
  if (r.problems.length) lines.push('', 'Problems:', ...r.problems.map((p) => `  - ${p}`), '', fix);
  else lines.push('', 'The series applies and export would change no file.');
  return lines.join('\n');
}

export function renderEdit(r: import('./commands/edit.js').EditResult): string {
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

const REVIEW_WORDS: Record<import('./review.js').ReviewStatus, string> = {
  added: 'added',
  removed: 'removed',
  unchanged: 'unchanged',
  reordered: 'reordered',
  'header-only': 'header only',
  'same-effect': 'same effect (context or line numbers only)',
  'hunks-changed': 'hunks changed',
};

export function renderReview(r: import('./review.js').ReviewResult): string {
  const lines = [`Series ${r.base.rev} -> ${r.head.rev}`];
  lines.push(r.pinChanged ? `  upstream pin: ${r.base.pin.tag} (${r.base.pin.commit.slice(0, 12)}) -> ${r.head.pin.tag} (${r.head.pin.commit.slice(0, 12)})` : `  upstream pin: unchanged, ${r.head.pin.tag} (${r.head.pin.commit.slice(0, 12)})`);
  for (const p of r.patches) {
    lines.push(`  ${REVIEW_WORDS[p.status].padEnd(14)} ${p.name}`);
    for (const h of p.headerChanges) lines.push(`      ${h.field}: "${h.base}" -> "${h.head}"`);
    if (p.status === 'hunks-changed') lines.push(...p.interdiff.trimEnd().split('\n').map((l) => `      ${l}`));
  }
  return lines.join('\n');
}

export function renderReviewMarkdown(r: import('./review.js').ReviewResult): string {
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

export function renderWheelDiff(d: import('./wheeldiff.js').WheelDiff, markdown = false): string {
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

export function renderNightly(r: import('./commands/nightly.js').NightlyResult): string {
  if (r.tags.length === 0) return `Up to date: no upstream release newer than ${r.pin.tag} at ${r.url}.`;
  if (r.status === 'new-tags') return `Upstream releases newer than ${r.pin.tag}: ${r.tags.map((t) => `${t.tag} (${t.commit.slice(0, 12)})`).join(', ')}`;
  const lines = [`Upstream has ${r.tags.length} release(s) newer than ${r.pin.tag}: ${r.status === 'new-tag-fine' ? 'all fine' : 'attention needed'}`];
  for (const t of r.tags) {
    lines.push(`  ${t.outcome === 'fine' ? '✓' : '✗'} ${t.tag} (${t.commit.slice(0, 12)}): ${t.steps.map((s) => `${s.step} ${s.status} (${formatMs(s.ms)})`).join(', ')}`);
    for (const s of t.steps) if (s.status !== 'ok' && s.status !== 'skipped') lines.push(`      ${s.step}: ${s.detail.split('\n')[0]}`);
    if (t.rebase) for (const p of t.rebase.patches) if (p.status !== 'clean') lines.push(`      ${p.name}: ${p.status}${rebaseDetail(p) ? ` (${rebaseDetail(p)})` : ''}`);
  }
  lines.push('', `Summary: ${r.outDir}/summary.md and summary.json`);
  return lines.join('\n');
}

export function renderNightlyMarkdown(r: import('./commands/nightly.js').NightlyResult): string {
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
  for (const t of r.tags) if (t.rebase) lines.push('', renderRebaseMarkdown(t.rebase));
  return `${lines.join('\n')}\n`;
}

export function renderRelease(r: import('./commands/release.js').ReleaseResult): string {
  const lines = [
    `${r.dryRun ? 'Would upload' : r.uploaded ? 'Uploaded' : 'Did not upload'} ${r.wheel.name} to ${r.target}`,
    `  ${r.distName} ${r.version}${r.postRelease ? ` (re-spin: the index already had ${r.existingVersions.join(', ')})` : ''}`,
    `  sha256 ${r.wheel.sha256}, verified: ${r.verified.passed} behaviour tests against the ${r.verified.server}`,
  ];
  if (r.changelog) lines.push(`  release notes added to ${r.changelog}`);
  lines.push('', r.notes.trimEnd());
  return lines.join('\n');
}

/** The platform table for the docs and release notes. */
export function renderPlatformTable(r: import('./commands/verify.js').VerifyResult): string {
  const lines = [`Behaviour suite of \`${r.wheel.name}\` (sha256 \`${r.wheel.sha256.slice(0, 16)}…\`) inside each platform's root filesystem. Server, on the host: ${r.platformServer?.description ?? 'reference server'}.`, ...(r.platformServer?.note ? ['', `Note: ${r.platformServer.note}`] : []), '', '| platform | machine | CPython | grpcio | protobuf | result | time |', '|---|---|---|---|---|---|---:|'];
  for (const p of r.platforms ?? []) {
    const result = p.status === 'passed' ? `✅ ${p.suite!.passed} passed${p.suite!.skipped ? `, ${p.suite!.skipped} skipped` : ''}` : p.status === 'skipped' ? `⏭️ skipped: ${p.reason}` : `❌ ${p.suite ? `${p.suite.failed} failed` : 'failed'}: ${p.reason ?? ''}`;
    lines.push(`| ${p.platform} | ${p.machine ?? '—'} | ${p.python ?? '—'} | ${p.grpcio ?? '—'} | ${p.protobuf ?? '—'} | ${result.replace(/\|/g, '\\|')} | ${p.seconds.toFixed(0)} s |`);
  }
  return `${lines.join('\n')}\n`;
}
