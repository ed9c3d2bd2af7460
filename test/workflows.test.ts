/**
 * The GitHub Actions workflows are valid (actionlint, from PyPI) and call the
 * CLI with commands and options it really has.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
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

/** The jobs of a workflow, as name -> its text (jobs are the two-space keys under `jobs:`). */
function jobsOf(workflow: string): Map<string, string> {
  const jobs = new Map<string, string>();
  const body = workflow.slice(workflow.indexOf('\njobs:\n') + 7);
  for (const part of body.split(/\n(?=  [a-z][a-z0-9-]*:\n)/)) {
    const m = /^\s*([a-z][a-z0-9-]*):\n/.exec(part);
    if (m) jobs.set(m[1]!, part);
  }
  return jobs;
}

/** A job's `permissions:` block as "scope: level" lines. */
function permissionsOf(job: string): string[] {
  const m = /\n    permissions:\n((?:      [a-z-]+: [a-z]+\n)+)/.exec(`${job}\n`);
  return m ? m[1]!.trim().split('\n').map((l) => l.trim()) : [];
}

describe('the nightly workflow acts on its reports', () => {
  const text = fs.readFileSync(path.join(workflowsDir, 'nightly.yml'), 'utf8');
  const jobs = jobsOf(text);

  it('has the jobs discover, try-tag and report, each on ubuntu-24.04, with the least permissions each needs', () => {
    assert.deepEqual([...jobs.keys()], ['discover', 'try-tag', 'report']);
    assert.match(text, /\npermissions:\n  contents: read\n/);
    for (const [name, job] of jobs) assert.match(job, /\n    runs-on: ubuntu-24\.04\n/, name);
    assert.deepEqual(permissionsOf(jobs.get('discover')!), ['contents: read']);
    // The job that runs upstream's build may push a branch, and nothing else.
    assert.deepEqual(permissionsOf(jobs.get('try-tag')!), ['contents: write']);
    assert.deepEqual(permissionsOf(jobs.get('report')!), ['contents: read', 'issues: write', 'pull-requests: write']);
    for (const job of jobs.values()) assert.doesNotMatch(job, /persist-credentials: true/);
  });

  it('pushes with nightly --push and leaves pull requests and issues to tools/ci/open-or-update.mjs (no gh pr or gh issue inline)', () => {
    assert.match(jobs.get('try-tag')!, /npx mlmd-remote nightly --tag "\$TAG" --out "nightly\/\$TAG" --push origin/);
    assert.match(jobs.get('try-tag')!, /name: report-\$\{\{ matrix\.tag \}\}\n\s+path: nightly\/\$\{\{ matrix\.tag \}\}\/\$\{\{ matrix\.tag \}\}\/\*\.md/);
    assert.match(jobs.get('report')!, /node tools\/ci\/open-or-update\.mjs --reports reports --tags "\$TAGS" --base "\$BASE"/);
    assert.match(jobs.get('report')!, /if: always\(\) && needs\.discover\.result == 'success'/);
    for (const w of workflows) assert.doesNotMatch(fs.readFileSync(w, 'utf8'), /\bgh (pr|issue) (create|edit|close)/, path.basename(w));
    assert.ok(fs.existsSync(path.join(projectRoot, 'tools', 'ci', 'open-or-update.mjs')));
  });
});

describe('tools/setup-debian.sh on a runner that has its own Docker engine', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-setup-'));
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  /** Runs the script with fake dpkg-query (nothing installed) and apt-get (records its arguments), with or without a docker on PATH. */
  function installs(withDocker: boolean): string[] {
    const bin = fs.mkdtempSync(path.join(scratch, 'bin-'));
    const log = path.join(bin, 'apt-get.log');
    const script = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    script('dpkg-query', 'exit 1');
    script('apt-get', `echo "$*" >> '${log}'`);
    if (withDocker) script('docker', 'exit 0');
    // Only what the script needs besides the fakes, so a docker of this machine is not found.
    fs.symlinkSync(spawnSync('sh', ['-c', 'command -v grep'], { encoding: 'utf8' }).stdout.trim(), path.join(bin, 'grep'));
    const res = spawnSync('/bin/bash', [path.join(projectRoot, 'tools', 'setup-debian.sh')], { encoding: 'utf8', env: { PATH: bin, MLMD_REMOTE_POLICY_RC_D: path.join(bin, 'policy-rc.d') } });
    assert.equal(res.status, 0, res.stderr);
    const install = fs.readFileSync(log, 'utf8').split('\n').find((l) => l.startsWith('install '));
    assert.ok(install, fs.readFileSync(log, 'utf8'));
    return install.split(' ');
  }

  it('installs no Docker engine where docker is on PATH (docker.io would replace the runner\'s docker-ce)', () => {
    assert.equal(installs(true).includes('docker.io'), false);
  });

  it('installs docker.io where there is no docker', () => {
    assert.equal(installs(false).includes('docker.io'), true);
  });
});

