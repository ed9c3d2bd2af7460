/**
 * The shell scripts (every tracked *.sh and .ci/run) pass shellcheck,
 * following the files they source; build-image.sh checks the release first.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from './helpers/real-upstream.ts';
import { skipBecause } from './helpers/skips.ts';

const listed = spawnSync('git', ['ls-files', '-z', '--', '*.sh', '.ci/run'], { cwd: projectRoot, encoding: 'utf8' });
const scripts = listed.stdout.split('\0').filter(Boolean);
const shellcheck = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
const skip = shellcheck.status === 0 ? false : skipBecause('the shellcheck test', 'shellcheck is not installed (bash tools/setup-debian.sh installs it)');

describe('shell scripts', () => {
  it('are found: the CI entry, setup, container and platform scripts', () => {
    assert.equal(listed.status, 0, listed.stderr);
    for (const s of ['.ci/run', 'tools/setup-debian.sh', 'tools/platform/rootfs.sh', 'tools/platform/serve.sh', 'tools/platform/run-suite.sh', 'tools/container/build-image.sh']) assert.ok(scripts.includes(s), `${s} in ${scripts.join(' ')}`);
  });

  it('build-image.sh refuses a release no requirements file pins, before it needs Docker', () => {
    const res = spawnSync('bash', [path.join(projectRoot, 'tools', 'container', 'build-image.sh'), '--mlmd-version', '9.9.9'], { encoding: 'utf8' });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /no pins for ml-metadata 9\.9\.9: tools\/reference_server\/requirements\.txt pins 1\.16\.0 and there is no requirements-9\.9\.9\.txt/);
  });

  it('pass shellcheck', { skip }, () => {
    const res = spawnSync('shellcheck', ['-x', ...scripts], { cwd: projectRoot, encoding: 'utf8' });
    assert.equal(res.status, 0, `shellcheck:\n${res.stdout}${res.stderr}`);
  });
});
