/**
 * exec.ts: what an interrupted run does to the processes it started.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('killRunningProcesses', () => {
  it('stops a child and its children at once, so that none runs on after the run exits right after it (as cli.ts does on Ctrl-C)', { timeout: 60_000 }, () => {
    const marker = `mlmd-remote-test-${process.pid}-${Date.now()}`;
    const exec = pathToFileURL(path.join(import.meta.dirname, '..', 'src', 'exec.ts')).href;
    // A run whose child starts a grandchild (as a shell wrapper or pip does), then is interrupted: kill, and exit at once.
    const script = `
      const { killRunningProcesses, processRunner } = await import(${JSON.stringify(exec)});
      void processRunner()('sh', ['-c', "sh -c 'while :; do sleep 1; done' ${marker} & wait"], { allowFailure: true });
      const { execSync } = await import('node:child_process');
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
        try { execSync('pgrep -f ${marker}'); break; } catch {}
      }
      killRunningProcesses('SIGTERM');
      process.exit(130);
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 130, run.stderr);
    let left = '';
    for (let i = 0; i < 40; i++) {
      left = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' }).stdout.trim();
      if (!left) break;
      spawnSync('sleep', ['0.05']);
    }
    if (left) for (const pid of left.split('\n')) if (alive(+pid)) process.kill(+pid, 'SIGKILL');
    assert.equal(left, '', 'no process of the interrupted run is left');
  });
});
