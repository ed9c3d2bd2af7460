/**
 * exec.ts: what an interrupted run does to the processes it started.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
