/**
 * A real consumer of the wheel: TFX's light SDK (ml-pipelines-sdk 1.14.0,
 * the wheel's release), pip-installed next to the drop-in build as TFX
 * users install it, in the CPython 3.9 root filesystem (it needs CPython
 * < 3.11), against the reference server of the same release on this host
 * (tools/consumer_suite/tfx).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { processRunner } from '../src/exec.ts';
import { recordingLogger } from '../src/log.ts';
import { runOnPlatform } from '../src/platform.ts';
import { findPython } from '../src/python.ts';
import { startReferenceServer } from '../src/reference-server.ts';
import { projectRoot, realUpstream } from './helpers/real-upstream.ts';
import { rootfsSkip } from './helpers/skips.ts';
import type { BuildResult } from '../src/results.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-consumers-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('TFX on the drop-in wheel', async () => {
  const upstream = await realUpstream();
  const skip = upstream.skipReason || rootfsSkip('the TFX consumer test (CPython 3.9 root filesystem)');

  it('registers a pipeline run, publishes an execution with its artifacts, reads the lineage back; a ConnectionConfig fails at once', { skip, timeout: 30 * 60_000 }, async () => {
    const built = spawnSync(process.execPath, [path.join(projectRoot, 'bin', 'mlmd-remote.js'), 'build', '--json', '--profile', 'drop-in', '--dist', path.join(scratch, 'dist')], { cwd: projectRoot, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 30 * 60_000 });
    assert.equal(built.status, 0, built.stderr.slice(-2000));
    const wheel = (JSON.parse(built.stdout) as BuildResult).wheel;
    assert.equal(wheel.name, 'ml_metadata-1.14.0+remote.1-py3-none-any.whl');
    const runner = processRunner();
    const project = upstream.project;
    const server = await startReferenceServer({ project, runner, log: recordingLogger(), python: await findPython(runner), dataDir: path.join(scratch, 'server'), mlmdVersion: '1.14.0', reference: 'same-version' });
    try {
      const dir = path.join(projectRoot, 'tools', 'consumer_suite', 'tfx');
      const run = await runOnPlatform({ project, runner, platform: 'cpython-3.9', wheelPath: wheel.path, server, suite: { dir, requirements: path.join(dir, 'requirements.txt') } });
      assert.equal(run.status, 'passed', `${run.reason}\n${JSON.stringify(run.suite, null, 1)}`);
      assert.equal(run.suite!.passed, 2);
      assert.deepEqual(run.suite!.skips, []);
    } finally {
      await server.stop();
    }
  });
});
