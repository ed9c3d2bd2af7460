/** Text and markdown for verify (one run, the matrix, the platform table) and the server status. */
import { formatMs } from '../log.js';
import type { MatrixResult, ServerStatus, VerifyResult } from '../results.js';
import type { UpstreamFileResult } from '../upstream-tests.js';

const CHECK_MARK = { pass: '✓', fail: '✗', skip: '·' } as const;

export function renderVerify(r: VerifyResult): string {
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
        for (const p of f.backendDependent ?? []) lines.push(`      ~ ${p.test}: ${p.message}`);
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
export function upstreamCounts(f: UpstreamFileResult): string {
  const parts = [`${f.passed} passed`, `${f.embeddedOnly} expected embedded-only`, `${f.failed} failed`];
  if (f.skipped) parts.push(`${f.skipped} skipped`);
  if (f.backendDependent?.length) parts.push(`${f.backendDependent.length} failed as the plan says they may on this backend`);
  return `${parts.join(', ')}${f.returnsAtOnce ? ` (${f.returnsAtOnce} of the passed return at once under gRPC, by upstream's design)` : ''}`;
}

export function renderVerifyMarkdown(r: VerifyResult): string {
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

export function renderServerStatus(s: ServerStatus): string {
  if (!s.state) return 'No reference server is recorded for this checkout (mlmd-remote server start).';
  const st = s.state;
  if (!s.running) return `The reference server (pid ${st.pid}) is not running.`;
  return [`Reference server (official ml-metadata ${st.mlmdVersion}) pid ${st.pid} at 127.0.0.1:${st.port}: ${s.answering ? 'answering' : 'NOT answering'}`, ...(st.note ? [`  note ${st.note}`] : []), st.database ? `  store ${st.database.version} at 127.0.0.1:${st.database.port} (pid ${st.database.pid}; removed by server stop)` : `  data ${st.dataDir}`, `  log  ${st.logFile}`, `  connect: MetadataStoreClientConfig(host="127.0.0.1", port=${st.port})`].join('\n');
}

export function renderMatrixMarkdown(r: MatrixResult): string {
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

export function renderMatrix(r: MatrixResult): string {
  const lines = [`Dependency matrix for ${r.wheel.name} (${r.server}, CPython ${r.python}):`];
  for (const row of r.rows) {
    lines.push(`  ${row.ok ? '✓' : '✗'} ${row.name.padEnd(16)} ${Object.entries(row.installed).map(([k, v]) => `${k} ${v}`).join(', ')}: ${row.passed}/${row.total} passed`);
    for (const f of row.failures) lines.push(`      ✗ ${f.test}: ${f.message.split('\n')[0]}`);
  }
  if (r.drift.length) lines.push('', 'Declared ranges and tested versions disagree:', ...r.drift.map((d) => `  - ${d}`));
  return lines.join('\n');
}
/** The platform table for the docs and release notes. */
export function renderPlatformTable(r: VerifyResult): string {
  const lines = [`Behaviour suite of \`${r.wheel.name}\` (sha256 \`${r.wheel.sha256.slice(0, 16)}…\`) inside each platform's root filesystem. Server, on the host: ${r.platformServer?.description ?? 'reference server'}.`, ...(r.platformServer?.note ? ['', `Note: ${r.platformServer.note}`] : []), '', '| platform | machine | CPython | grpcio | protobuf | result | time |', '|---|---|---|---|---|---|---:|'];
  for (const p of r.platforms ?? []) {
    const result = p.status === 'passed' ? `✅ ${p.suite!.passed} passed${p.suite!.skipped ? `, ${p.suite!.skipped} skipped` : ''}` : p.status === 'skipped' ? `⏭️ skipped: ${p.reason}` : `❌ ${p.suite ? `${p.suite.failed} failed` : 'failed'}: ${p.reason ?? ''}`;
    lines.push(`| ${p.platform} | ${p.machine ?? '—'} | ${p.python ?? '—'} | ${p.grpcio ?? '—'} | ${p.protobuf ?? '—'} | ${result.replace(/\|/g, '\\|')} | ${p.seconds.toFixed(0)} s |`);
  }
  return `${lines.join('\n')}\n`;
}
