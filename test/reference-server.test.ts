/**
 * The reference server's parity suite (tools/reference_server/tests): each
 * row of the parity table in tools/reference_server/README.md is a test there.
 * It runs twice: against the wheel's own release, ml-metadata 1.14.0, in the
 * CPython 3.9 root filesystem (tools/platform/serve.sh), and against the host
 * venv's 1.16.0. The client side is the official 1.16.0 client in that venv.
 * The tests that compare with upstream's source read it from the pinned
 * commit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadProject } from '../src/config.ts';
import { processRunner } from '../src/exec.ts';
import { recordingLogger } from '../src/log.ts';
import { platformCacheDir } from '../src/platforms.ts';
import { ensureVenv, findPython, readRequirements, venvPython } from '../src/python.ts';
import { makeTlsMaterial } from '../src/tls.ts';
import { parseJunit } from '../src/junit.ts';
import { writeUpstreamFiles } from '../src/upstream-tests.ts';
import { pinnedUpstreamRepo, projectRoot, realUpstream } from './helpers/real-upstream.ts';
import { rootfsSkip } from './helpers/skips.ts';

const project = loadProject(projectRoot, { exact: true });
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-parity-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const SOURCES = ['ml_metadata/metadata_store/metadata_store_server_main.cc', 'ml_metadata/metadata_store/metadata_store_service_impl.cc', 'ml_metadata/proto/metadata_store_service.proto'];

describe('the reference server behaves as the official metadata_store_server', async () => {
  const upstream = await realUpstream();
  const runner = processRunner();
  let python: string;
  const env: Record<string, string> = {};

  before(async () => {
    const venv = await ensureVenv({
      runner,
      log: recordingLogger(),
      python: await findPython(runner),
      cacheDir: project.cacheDir,
      name: 'parity-tests',
      requirements: [...readRequirements(path.join(project.toolsDir, 'reference_server', 'requirements.txt')), ...readRequirements(path.join(project.toolsDir, 'verify', 'client-requirements.txt'))],
    });
    python = venvPython(venv);
    await makeTlsMaterial(runner, path.join(scratch, 'tls'));
    env['MLMD_PARITY_TLS_DIR'] = path.join(scratch, 'tls');
    if (upstream.skipReason) {
      env['MLMD_PARITY_ALLOW_NO_SOURCE'] = '1';
    } else {
      await writeUpstreamFiles(upstream.git, await pinnedUpstreamRepo(), project.config.upstream.commit, SOURCES, path.join(scratch, 'upstream'));
      env['MLMD_UPSTREAM_SOURCE'] = path.join(scratch, 'upstream');
    }
  });

  function parity(name: string, launch: object) {
    const junit = path.join(scratch, `${name}.xml`);
    const res = spawnSync(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', `--junitxml=${junit}`, '-o', 'junit_family=xunit1', path.join(project.toolsDir, 'reference_server', 'tests')], {
      cwd: scratch,
      encoding: 'utf8',
      env: { ...process.env, ...env, MLMD_PARITY_LAUNCH: JSON.stringify(launch) },
      timeout: 20 * 60_000,
      maxBuffer: 64 << 20,
    });
    assert.equal(res.status, 0, `parity suite (${name}) failed:\n${(res.stdout + res.stderr).slice(-6000)}`);
    const result = parseJunit(fs.readFileSync(junit, 'utf8'));
    assert.ok(result.passed >= 30, `only ${result.passed} parity tests passed`);
    if (!upstream.skipReason) assert.deepEqual(result.skips, []);
    return result;
  }

  it('with ml-metadata 1.14.0, the wheel\'s release, in the CPython 3.9 root filesystem', { skip: rootfsSkip('the parity suite on ml-metadata 1.14.0'), timeout: 25 * 60_000 }, () => {
    parity('1.14.0', {
      kind: 'rootfs',
      serve: path.join(project.toolsDir, 'platform', 'serve.sh'),
      platform: 'cpython-3.9',
      requirements: path.join(project.toolsDir, 'reference_server', 'requirements-1.14.0.txt'),
      cacheDir: platformCacheDir(),
    });
  });

  it('with ml-metadata 1.16.0 in the host venv', { timeout: 25 * 60_000 }, () => {
    parity('1.16.0', { kind: 'native', python });
  });
});
