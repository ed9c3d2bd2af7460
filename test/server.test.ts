/**
 * Which MLMD release the reference server runs, and how (planReferenceServer),
 * on fixture tools/ directories; what startReferenceServer does when the root
 * filesystem cannot be used (with a fake runner standing in for serve.sh's
 * --prepare-only); and serve.sh's refusals of bad arguments (the real
 * script, which checks them before it needs root).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Project } from '../src/config.ts';
import { ExitCode, MlmdError, UsageError } from '../src/errors.ts';
import type { Runner } from '../src/exec.ts';
import { recordingLogger } from '../src/log.ts';
import { planReferenceServer, startReferenceServer } from '../src/reference-server.ts';
import { tearDown } from '../src/server-handle.ts';
import { wheelUpstreamVersion } from '../src/wheel.ts';
import { cleanupFixtures, rejection, tempDir, writeTree } from './helpers/fixtures.ts';
import { projectRoot } from './helpers/real-upstream.ts';

after(cleanupFixtures);

/** A project whose tools/reference_server pins 1.16.0 natively and 1.14.0 for a root filesystem. */
function fixtureProject(): Project {
  const root = tempDir('server');
  writeTree(root, {
    'tools/reference_server/requirements.txt': '# native\nml-metadata==1.16.0\ngrpcio==1.85.3\n',
    'tools/reference_server/requirements-1.14.0.txt': 'ml-metadata==1.14.0\ngrpcio==1.80.1\n',
  });
  return { root, toolsDir: path.join(root, 'tools'), cacheDir: path.join(root, '.cache') } as Project;
}

describe('the reference server plan', () => {
  const project = fixtureProject();
  const dir = path.join(project.toolsDir, 'reference_server');

  it('serves the host venv when its release is the one asked for, or none is asked for', () => {
    for (const wanted of ['1.16.0', undefined]) {
      assert.deepEqual(planReferenceServer(project, wanted, 'auto'), { how: 'native', mlmdVersion: '1.16.0', requirements: path.join(dir, 'requirements.txt') });
    }
  });

  it('serves an older release from a root filesystem when a requirements file pins it', () => {
    assert.deepEqual(planReferenceServer(project, '1.14.0', 'auto'), { how: 'rootfs', mlmdVersion: '1.14.0', requirements: path.join(dir, 'requirements-1.14.0.txt') });
    assert.equal(planReferenceServer(project, '1.14.0', 'same-version').how, 'rootfs');
  });

  it('serves the host venv when told to, whatever the wheel', () => {
    const plan = planReferenceServer(project, '1.14.0', 'native');
    assert.equal(plan.how, 'native');
    assert.equal(plan.mlmdVersion, '1.16.0');
    assert.equal(plan.note, undefined);
  });

  it('falls back with a note for an unpinned release, and refuses it for same-version', () => {
    const plan = planReferenceServer(project, '1.15.0', 'auto');
    assert.equal(plan.how, 'native');
    assert.match(plan.note!, /no server venv pins ml-metadata 1\.15\.0 .*requirements-1\.15\.0\.txt.*serving ml-metadata 1\.16\.0 instead/);
    assert.throws(() => planReferenceServer(project, '1.15.0', 'same-version'), (err: unknown) => err instanceof UsageError && /requirements-1\.15\.0\.txt/.test(err.message) && /--reference native/.test(err.hint ?? ''));
  });

  it('reads the upstream release from a wheel file name', () => {
    assert.equal(wheelUpstreamVersion('dist/ml_metadata_remote-1.14.0-py3-none-any.whl'), '1.14.0');
    assert.equal(wheelUpstreamVersion('ml_metadata_remote-1.14.0.post2-py3-none-any.whl'), '1.14.0');
    assert.equal(wheelUpstreamVersion('ml_metadata-1.14.0+remote.1-py3-none-any.whl'), '1.14.0');
    assert.equal(wheelUpstreamVersion('ml_metadata-1.14.0.post2+remote.1-py3-none-any.whl'), '1.14.0');
    assert.equal(wheelUpstreamVersion('ml_metadata_remote-1.14.0-1build-py3-none-any.whl'), '1.14.0');
    assert.equal(wheelUpstreamVersion('no-version.whl'), undefined);
  });
});

describe('starting a same-version server where no root filesystem can run', () => {
  /** Fake runner: serve.sh --prepare-only answering with `exitCode` and a last error line. */
  function fakeServeRunner(calls: string[][], exitCode = 3, error = 'chroot, mount and debootstrap need root; run this as root (e.g. with sudo)'): Runner {
    return async (cmd, args) => {
      calls.push([cmd, ...args]);
      return { command: [cmd, ...args].join(' '), exitCode, ok: false, durationMs: 1, stdout: '', stderr: `serve[cpython-3.9]: error: ${error}\n` };
    };
  }

  it('fails with same-version (exit 8), naming the reason, and starts nothing', async () => {
    const calls: string[][] = [];
    const project = fixtureProject();
    const err = await rejection(() => startReferenceServer({ project, runner: fakeServeRunner(calls), log: recordingLogger(), python: { executable: 'python3', version: '3.11.7' }, dataDir: tempDir('data'), mlmdVersion: '1.14.0', reference: 'same-version' }));
    assert.ok(err instanceof MlmdError);
    assert.equal(err.exitCode, ExitCode.missingTool);
    assert.match(err.message, /ml-metadata 1\.14\.0 cannot run in the cpython-3\.9 root filesystem here: chroot, mount and debootstrap need root/);
    assert.equal(calls.length, 1);
    assert.ok(calls[0]!.includes('--prepare-only'), calls[0]!.join(' '));
    assert.ok(calls[0]!.includes(path.join(project.toolsDir, 'reference_server', 'requirements-1.14.0.txt')));
  });

  it('with auto, warns and goes on to the host venv (which this fixture cannot install)', async () => {
    const calls: string[][] = [];
    const log = recordingLogger();
    const project = fixtureProject();
    // The fallback asks the same runner for a venv; the fake answers exit 3 again, so the start
    // fails there, after the warning: what matters is that it went on instead of stopping.
    await rejection(() => startReferenceServer({ project, runner: fakeServeRunner(calls), log, python: { executable: 'python3', version: '3.11.7' }, dataDir: tempDir('data'), mlmdVersion: '1.14.0' }));
    assert.ok(log.lines.some((l) => /^warn ml-metadata 1\.14\.0 cannot run in the cpython-3\.9 root filesystem here: chroot, mount and debootstrap need root.*; serving ml-metadata 1\.16\.0 on this host instead$/.test(l)), log.lines.join('\n'));
    assert.ok(calls.length >= 2, 'the host venv was tried after the root filesystem');
  });
});

describe('starting a same-version server when serve.sh fails otherwise', () => {
  it('fails with same-version, naming serve.sh\'s exit and error', async () => {
    const calls: string[][] = [];
    const runner: Runner = async (cmd, args) => {
      calls.push([cmd, ...args]);
      return { command: cmd, exitCode: 32, ok: false, durationMs: 1, stdout: '', stderr: 'mount: permission denied\n' };
    };
    const err = await rejection(() => startReferenceServer({ project: fixtureProject(), runner, log: recordingLogger(), python: { executable: 'python3', version: '3.11.7' }, dataDir: tempDir('data'), mlmdVersion: '1.14.0', reference: 'same-version' }));
    assert.ok(err instanceof MlmdError);
    assert.match(err.message, /cannot prepare the ml-metadata 1\.14\.0 server \(serve\.sh exit 32\)/);
  });

  it('with auto, falls back to the host venv with a warning that keeps the reason', async () => {
    const log = recordingLogger();
    const runner: Runner = async (cmd, args) => ({ command: [cmd, ...args].join(' '), exitCode: 32, ok: false, durationMs: 1, stdout: '', stderr: 'mount: permission denied\n' });
    await rejection(() => startReferenceServer({ project: fixtureProject(), runner, log, python: { executable: 'python3', version: '3.11.7' }, dataDir: tempDir('data'), mlmdVersion: '1.14.0' }));
    assert.ok(log.lines.some((l) => /^warn ml-metadata 1\.14\.0 cannot run in the cpython-3\.9 root filesystem here: cannot prepare .*serve\.sh exit 32.*; serving ml-metadata 1\.16\.0 on this host instead$/.test(l)), log.lines.join('\n'));
  });
});

describe('serve.sh refuses bad arguments before doing anything', () => {
  const script = path.join(projectRoot, 'tools', 'platform', 'serve.sh');
  const serve = (args: string[]) => spawnSync('bash', [script, ...args], { encoding: 'utf8' });
  const reqs = path.join(projectRoot, 'tools', 'reference_server', 'requirements-1.14.0.txt');

  const cases: Array<[string, string[], RegExp]> = [
    ['no platform', ['--requirements', reqs, '--prepare-only'], /--platform is required/],
    ['an unknown platform', ['--platform', 'cpython-2.7', '--requirements', reqs, '--prepare-only'], /unknown platform 'cpython-2\.7'/],
    ['no requirements', ['--platform', 'cpython-3.9', '--prepare-only'], /--requirements is required/],
    ['a missing requirements file', ['--platform', 'cpython-3.9', '--requirements', '/nonexistent/reqs.txt', '--prepare-only'], /does not exist/],
    ['requirements without ml-metadata', ['--platform', 'cpython-3.9', '--requirements', path.join(projectRoot, 'tools', 'verify', 'client-requirements.txt'), '--prepare-only'], /pins no ml-metadata==/],
    ['no data directory', ['--platform', 'cpython-3.9', '--requirements', reqs, '--', '--port', '0'], /--data-dir is required/],
    ['a server argument before --', ['--platform', 'cpython-3.9', '--port', '0'], /unknown argument '--port' \(server arguments go after --\)/],
  ];
  for (const [what, args, message] of cases) {
    it(`exit 2 for ${what}`, () => {
      const res = serve(args);
      assert.equal(res.status, 2, res.stderr);
      assert.match(res.stderr, message);
    });
  }

  it('prints its usage for --help', () => {
    const res = serve(['--help']);
    assert.equal(res.status, 0);
    assert.match(res.stdout, /--requirements FILE/);
    assert.ok(fs.existsSync(reqs));
  });
});

describe('tearDown', () => {
  it('stops servers and removes directories in the order given, passing over what never started', async () => {
    const done: string[] = [];
    const server = (name: string) => ({ stop: async () => { done.push(`stop ${name}`); } });
    const dir = (name: string) => ({ dir: name, dispose: () => { done.push(`remove ${name}`); } });
    await tearDown([server('helpers'), undefined, server('database'), null, dir('data'), dir('scratch')]);
    assert.deepEqual(done, ['stop helpers', 'stop database', 'remove data', 'remove scratch']);
  });
});
