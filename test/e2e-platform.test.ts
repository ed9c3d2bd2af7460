/**
 * The point of the wheel, as a test: the behaviour suite passes inside a
 * Debian arm64 root filesystem under qemu, and on CPythons the official 1.14.0
 * wheels do not support (3.13) or that the wheel declares as its oldest
 * Debian-provided one (3.9), against the reference server on this host, which
 * runs ml-metadata 1.14.0 itself in the CPython 3.9 root filesystem.
 * A platform this machine cannot run is skipped, loudly, with the reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { projectRoot, realUpstream } from './helpers/real-upstream.ts';
import { skipBecause } from './helpers/skips.ts';
import type { BuildResult, VerifyResult } from '../src/results.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-platforms-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function cli(args: string[]) {
  return spawnSync(process.execPath, [path.join(projectRoot, 'bin', 'mlmd-remote.js'), ...args], { cwd: projectRoot, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 30 * 60_000 });
}

describe('the wheel on other platforms', async () => {
  const upstream = await realUpstream();
  const skip = upstream.skipReason ?? false;

  it('passes the behaviour suite on linux/arm64 (qemu), CPython 3.13 and CPython 3.9', { skip, timeout: 40 * 60_000 }, (t) => {
    const built = cli(['build', '--json', '--dist', path.join(scratch, 'dist')]);
    assert.equal(built.status, 0, built.stderr.slice(-2000));
    const wheel = (JSON.parse(built.stdout) as BuildResult).wheel.path;
    // A platform this machine cannot run is a skip: allowed here, and named in the report.
    const res = cli(['verify', wheel, '--platform', 'linux/arm64', '--platform', 'cpython-3.13', '--platform', 'cpython-3.9', '--allow-skip', 'platforms', '--json']);
    const report = JSON.parse(res.stdout) as VerifyResult;
    for (const p of report.platforms!) if (p.status === 'skipped') skipBecause(`platform ${p.platform}`, p.reason ?? '');
    assert.deepEqual(report.skipped.map((s) => s.reason.split(':')[0]), report.platforms!.filter((p) => p.status === 'skipped').map((p) => p.platform));
    const ran = report.platforms!.filter((p) => p.status !== 'skipped');
    // With no platform run, verify fails (nothing was proven), even with the skips allowed.
    if (ran.length === 0) {
      assert.equal(res.status, 6);
      return t.skip(skipBecause('the platform tests', `no platform can run here: ${report.platforms!.map((p) => `${p.platform}: ${p.reason}`).join('; ')}`));
    }
    assert.equal(res.status, 0, `${res.stderr.slice(-3000)}\n${JSON.stringify(report.platforms, null, 1)}`);
    for (const p of ran) {
      assert.equal(p.status, 'passed', `${p.platform}: ${p.reason}`);
      assert.ok(p.suite!.passed >= 25, `${p.platform}: ${p.suite!.passed} passed`);
      assert.equal(p.suite!.failed, 0);
      // verify starts a slow, a TLS and a mutual-TLS server for them: nothing skips.
      assert.deepEqual(p.suite!.skips, [], `${p.platform} skipped tests`);
    }
    // A host that runs root filesystems serves the wheel's own release from one.
    assert.equal(report.platformServer!.mlmdVersion, '1.14.0', report.platformServer!.note);
    const arm = report.platforms!.find((p) => p.platform === 'linux/arm64')!;
    if (arm.status === 'passed') assert.equal(arm.machine, 'aarch64');
    const py313 = report.platforms!.find((p) => p.platform === 'cpython-3.13')!;
    if (py313.status === 'passed') assert.match(py313.python!, /^3\.13\./);
  });
});
