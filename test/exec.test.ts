/**
 * exec.ts: what an interrupted run does to the processes it started.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { waitForExit } from '../src/exec.ts';
import { leftRunning, srcModule } from './helpers/interrupt.ts';

describe('killRunningProcesses', () => {
  it('stops a child and its children at once, so that none runs on after the run exits right after it (as cli.ts does on Ctrl-C)', { timeout: 60_000 }, () => {
    const marker = `mlmd-remote-test-${process.pid}-${Date.now()}`;
    // A run whose child starts a grandchild (as a shell wrapper or pip does), then is interrupted: kill, and exit at once.
    const left = leftRunning({
      marker,
      start: `
      const { processRunner } = await import(${srcModule('exec.ts')});
      void processRunner()('sh', ['-c', "sh -c 'while :; do sleep 1; done' ${marker} & wait"], { allowFailure: true });`,
    });
    assert.equal(left, '', 'no process of the interrupted run is left');
  });
});

describe('waitForExit', () => {
  it('returns once a stopped process has exited, its zombie not yet reaped counting as gone', () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    child.kill('SIGTERM');
    waitForExit([child.pid!], 10_000);
    const stat = fs.existsSync(`/proc/${child.pid}/stat`) ? fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8') : '';
    assert.ok(stat === '' || /\) Z/.test(stat), `sleep is still running: ${stat}`);
  });
});
