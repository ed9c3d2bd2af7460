/**
 * Publishing to a real index: pypiserver on 127.0.0.1 with htpasswd auth.
 * release uploads the verified wheel with twine; a second release of the same
 * version becomes 1.14.0.post1 (computed from the index); pip installs it back
 * from the index into a fresh venv and the behaviour suite passes. Bad
 * credentials and an index that is down fail clearly, uploading nothing.
 * Runs in a scratch clone (release writes CHANGELOG.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadProject } from '../src/config.ts';
import { processRunner } from '../src/exec.ts';
import { stderrLogger } from '../src/log.ts';
import { findPython, venvPython } from '../src/python.ts';
import { freePort } from '../src/network.ts';
import { startReferenceServer } from '../src/reference-server.ts';
import type { ServerHandle } from '../src/server-handle.ts';
import { projectRoot, realUpstream } from './helpers/real-upstream.ts';
import { INDEX_CREDENTIALS, startPackageIndex, type PackageIndex } from './helpers/package-index.ts';
import type { BuildResult, ReleaseResult, VerifyResult } from '../src/results.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-release-'));
const clone = path.join(scratch, 'project');
const cache = path.join(projectRoot, '.cache');
const creds = INDEX_CREDENTIALS;

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [path.join(clone, 'bin', 'mlmd-remote.js'), ...args], { cwd: clone, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 30 * 60_000, env: { ...process.env, MLMD_REMOTE_CACHE_DIR: cache, ...env } });
}

describe('release to a local package index', async () => {
  const upstream = await realUpstream();
  const skip = upstream.skipReason ?? false;
  const runner = processRunner();
  let index: PackageIndex | undefined;
  let url = '';
  let wheel = '';

  before(async () => {
    if (skip) return;
    spawnSync('git', ['clone', '--quiet', projectRoot, clone]);
    fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(clone, 'node_modules'));
    assert.equal(cli(['sync', '--upstream-url', upstream.url]).status, 0);
    const built = cli(['build', '--json', '--work-dir', path.join(scratch, 'work')]);
    assert.equal(built.status, 0, built.stderr.slice(-2000));
    wheel = (JSON.parse(built.stdout) as BuildResult).wheel.path;
    index = await startPackageIndex(scratch);
    url = index.url;
  });
  after(async () => {
    if (index) await index.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('--dry-run shows what would be uploaded and uploads nothing', { skip }, () => {
    const res = cli(['release', wheel, '--repository-url', url, '--dry-run', '--json'], creds);
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    const r = JSON.parse(res.stdout) as ReleaseResult;
    assert.equal(r.uploaded, false);
    assert.equal(r.version, '1.14.0');
    assert.match(r.notes, /^## ml-metadata-remote 1\.14\.0$/m);
    assert.deepEqual(fs.readdirSync(path.join(scratch, 'packages')), []);
  });

  it('refuses a wheel whose verify skipped something (even if allowed) or served another release, unless --accept-incomplete', { skip }, () => {
    // The report --dry-run left beside the wheel, as a verify with --allow-skip and the fallback server would have written it.
    const reportFile = `${wheel}.verify.json`;
    const original = fs.readFileSync(reportFile, 'utf8');
    const report = JSON.parse(original) as VerifyResult;
    report.skipped = [{ what: 'upstream-tests', reason: 'upstream/ is not checked out', allowed: true }];
    report.live!.server.note = 'ml-metadata 1.14.0 cannot run in the cpython-3.9 root filesystem here; served ml-metadata 1.16.0 instead';
    fs.writeFileSync(reportFile, JSON.stringify(report));
    try {
      let res = cli(['release', wheel, '--repository-url', url, '--dry-run'], creds);
      assert.equal(res.status, 6, res.stderr.slice(-2000));
      assert.match(res.stderr, /passed verify, but not all of it ran; it will not be published/);
      assert.match(res.stderr, /skipped upstream-tests \(allowed\): upstream\/ is not checked out/);
      assert.match(res.stderr, /served by another release: .*served ml-metadata 1\.16\.0 instead/);
      assert.match(res.stderr, /--accept-incomplete/);
      res = cli(['release', wheel, '--repository-url', url, '--dry-run', '--accept-incomplete', '--json'], creds);
      assert.equal(res.status, 0, res.stderr.slice(-2000));
      assert.equal((JSON.parse(res.stdout) as ReleaseResult).verified.incomplete.length, 2);
    } finally {
      fs.writeFileSync(reportFile, original);
    }
    assert.deepEqual(fs.readdirSync(path.join(scratch, 'packages')), []);
  });

  it('refuses bad credentials, clearly, and uploads nothing', { skip }, () => {
    const res = cli(['release', wheel, '--repository-url', url], { TWINE_USERNAME: 'alice', TWINE_PASSWORD: 'wrong' });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /the index refused the credentials/);
    assert.deepEqual(fs.readdirSync(path.join(scratch, 'packages')), []);
  });

  it('says clearly when the index is down', { skip }, async () => {
    const res = cli(['release', wheel, '--repository-url', `http://127.0.0.1:${await freePort()}/`], creds);
    assert.equal(res.status, 1);
    assert.match(res.stderr, /does not answer/);
  });

  it('publishes the verified wheel, then a re-spin as .post1', { skip }, () => {
    let res = cli(['release', wheel, '--repository-url', url, '--json'], creds);
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    let r = JSON.parse(res.stdout) as ReleaseResult;
    assert.deepEqual([r.uploaded, r.version, r.postRelease], [true, '1.14.0', null]);
    res = cli(['release', wheel, '--repository-url', url, '--json'], creds);
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    r = JSON.parse(res.stdout) as ReleaseResult;
    assert.deepEqual([r.uploaded, r.version, r.postRelease, r.existingVersions], [true, '1.14.0.post1', 1, ['1.14.0']]);
    assert.deepEqual(fs.readdirSync(path.join(scratch, 'packages')).sort(), ['ml_metadata_remote-1.14.0-py3-none-any.whl', 'ml_metadata_remote-1.14.0.post1-py3-none-any.whl']);
    const changelog = fs.readFileSync(path.join(clone, 'CHANGELOG.md'), 'utf8');
    assert.ok(changelog.indexOf('## ml-metadata-remote 1.14.0.post1') < changelog.indexOf('## ml-metadata-remote 1.14.0\n'), 'newest release first');
  });

  it('installs back from the index with pip and passes the behaviour suite', { skip }, async () => {
    const python = await findPython(runner);
    const venv = path.join(scratch, 'venv');
    await runner(python.executable, ['-m', 'venv', venv]);
    await runner(venvPython(venv), ['-m', 'pip', 'install', '--quiet', '--extra-index-url', `${url}simple/`, 'ml-metadata-remote==1.14.0.post1', 'pytest==8.4.2']);
    const version = await runner(venvPython(venv), ['-c', 'import importlib.metadata as m; print(m.version("ml-metadata-remote"))']);
    assert.equal(version.stdout.trim(), '1.14.0.post1');
    const project = loadProject(projectRoot, { exact: true });
    const server: ServerHandle = await startReferenceServer({ project, runner, log: stderrLogger({ quiet: true }), python, dataDir: path.join(scratch, 'server') });
    try {
      const res = await runner(venvPython(venv), ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', path.join(projectRoot, 'tools', 'behaviour_suite')], { allowFailure: true, cwd: scratch, env: { MLMD_HOST: server.host, MLMD_PORT: String(server.port), MLMD_SERVER_PYTHON: server.serverPython! } });
      assert.equal(res.exitCode, 0, res.stdout.slice(-3000));
      assert.match(res.stdout, /\d+ passed/);
      assert.doesNotMatch(res.stdout, /failed/);
    } finally {
      await server.stop();
    }
  });
});
