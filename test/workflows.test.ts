/**
 * The GitHub Actions workflows are valid (actionlint, from PyPI) and call the
 * CLI with commands and options it really has.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { loadProject } from '../src/config.ts';
import { projectRoot } from './helpers/real-upstream.ts';
import { skipBecause } from './helpers/skips.ts';

const workflowsDir = path.join(projectRoot, '.github', 'workflows');
const workflows = fs.readdirSync(workflowsDir).filter((n) => n.endsWith('.yml')).map((n) => path.join(workflowsDir, n));

describe('GitHub Actions workflows', () => {
  let actionlint: string | null = null;
  let skipReason: string | false = false;

  before(() => {
    // actionlint, pinned, built from the Go module proxy into the project's cache.
    const version = fs.readFileSync(path.join(projectRoot, 'tools', 'ci', 'actionlint.version'), 'utf8').trim();
    const bin = path.join(loadProject(projectRoot, { exact: true }).cacheDir, 'bin', `actionlint-${version}`);
    if (!fs.existsSync(path.join(bin, 'actionlint'))) {
      const res = spawnSync('go', ['install', `github.com/rhysd/actionlint/cmd/actionlint@${version}`], { encoding: 'utf8', env: { ...process.env, GOBIN: bin } });
      if (res.status !== 0) {
        skipReason = skipBecause('the actionlint check', `actionlint ${version} could not be built with go install: ${(res.error?.message ?? res.stderr).trim().split('\n').pop()}`);
        return;
      }
    }
    actionlint = path.join(bin, 'actionlint');
  });

  it('exist: pull-request, nightly and release workflows', () => {
    assert.deepEqual(workflows.map((w) => path.basename(w)).sort(), ['nightly.yml', 'pull-request.yml', 'release.yml']);
  });

  it('pass actionlint', { skip: skipReason }, (t) => {
    if (!actionlint) return t.skip(skipReason || 'no actionlint');
    const res = spawnSync(actionlint, ['-shellcheck=', '-pyflakes=', ...workflows], { encoding: 'utf8' });
    assert.equal(res.status, 0, `actionlint:\n${res.stdout}${res.stderr}`);
  });

  it('call only mlmd-remote commands and options that exist', () => {
    const calls = workflows.flatMap((w) => [...fs.readFileSync(w, 'utf8').matchAll(/npx mlmd-remote ([a-z-]+)((?: --?[a-z-]+)*)/g)].map((m) => ({ command: m[1]!, options: (m[2] ?? '').trim().split(/\s+/).filter((o) => o.startsWith('--')) })));
    assert.ok(calls.length >= 8, `${calls.length} CLI calls found`);
    for (const { command, options } of calls) {
      const help = spawnSync(process.execPath, [path.join(projectRoot, 'bin', 'mlmd-remote.js'), command, '--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0, `mlmd-remote ${command} --help failed: ${help.stderr}`);
      for (const option of options) assert.ok(help.stdout.includes(option), `mlmd-remote ${command} has no option ${option}`);
    }
  });
});
