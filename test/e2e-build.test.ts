/**
 * End to end on real upstream: the CLI builds the wheel from the pin and the
 * series with real bazel and setuptools; the wheel is inspected, built again
 * in a separate scratch tree (same bytes), and installed by pip into a fresh
 * venv where the client imports with no native module.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { processRunner } from '../src/exec.ts';
import { inspectWheel, type WheelInspection } from '../src/wheel.ts';
import type { BuildResult } from '../src/commands/build.ts';
import { projectRoot, realUpstream } from './helpers/real-upstream.ts';

const cli = path.join(projectRoot, 'bin', 'mlmd-remote.js');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-e2e-'));

function buildWith(args: string[]): BuildResult {
  const res = spawnSync(process.execPath, [cli, 'build', '--json', ...args], { cwd: projectRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(res.status, 0, `mlmd-remote build ${args.join(' ')} failed:\n${res.stderr.slice(-3000)}`);
  return JSON.parse(res.stdout) as BuildResult;
}

describe('the wheel built from real upstream', async () => {
  const upstream = await realUpstream();
  const skip = upstream.skipReason ?? false;
  const runner = processRunner();
  let first: BuildResult;
  let inspection: WheelInspection;

  before(async () => {
    if (skip) return;
    first = buildWith(['--dist', path.join(scratch, 'dist-a'), '--upstream-url', upstream.url]);
    inspection = await inspectWheel(runner, 'python3', upstream.project, first.wheel.path);
  });
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('is a pure py3-none-any wheel with every file at the root', { skip }, () => {
    assert.equal(first.wheel.name, 'ml_metadata_remote-1.14.0-py3-none-any.whl');
    assert.deepEqual(inspection.wheel['Tag'], ['py3-none-any']);
    assert.deepEqual(inspection.wheel['Root-Is-Purelib'], ['true']);
    assert.equal(inspection.entries.filter((e) => e.name.includes('.data/')).length, 0, 'no file under .data/');
    const names = inspection.entries.map((e) => e.name);
    for (const expected of [
      'ml_metadata/proto/metadata_store_pb2.py',
      'ml_metadata/proto/metadata_store_service_pb2.py',
      'ml_metadata/proto/metadata_store_service_pb2_grpc.py',
      'ml_metadata/simple_types/proto/simple_types_pb2.py',
      'ml_metadata/simple_types/simple_types.pbtxt',
      'ml_metadata/metadata_store/metadata_store.py',
    ]) {
      assert.ok(names.includes(expected), `${expected} is in the wheel`);
    }
  });

  it('holds no native code, judged by magic bytes', { skip }, () => {
    assert.deepEqual(inspection.entries.filter((e) => e.native !== null).map((e) => e.name), []);
    assert.ok(!inspection.entries.some((e) => /\.(so|pyd|dylib)$/.test(e.name)));
  });

  it('has a RECORD that lists every file with its hash', { skip }, () => {
    assert.deepEqual(inspection.recordProblems, []);
    assert.equal(inspection.entries.at(-1)!.name, `${inspection.distInfo}/RECORD`);
  });

  it('declares the name, version and dependencies of the default profile', { skip }, () => {
    assert.deepEqual(inspection.metadata['Name'], ['ml-metadata-remote']);
    assert.deepEqual(inspection.metadata['Version'], ['1.14.0']);
    const requires = inspection.metadata['Requires-Dist'] ?? [];
    assert.ok(requires.some((r) => /^protobuf.*>=3\.20/.test(r)), `protobuf >= 3.20 in ${requires.join('; ')}`);
    assert.ok(!requires.some((r) => /^attrs.*<22/.test(r)), 'attrs is not capped below 22');
    assert.equal(first.upstream.commit, '4893bf12d763278a05867b61a47a478ed1286289');
    assert.deepEqual(first.patches.map((p) => p.status), first.patches.map(() => 'clean'));
  });

  it('is byte-identical when built again in a separate scratch tree', { skip }, () => {
    const second = buildWith(['--dist', path.join(scratch, 'dist-b'), '--work-dir', path.join(scratch, 'work-b')]);
    assert.equal(second.wheel.sha256, first.wheel.sha256);
    assert.ok(fs.readFileSync(second.wheel.path).equals(fs.readFileSync(first.wheel.path)));
  });

  it('is byte-identical with the system toolchain (Debian protoc + grpc_python_plugin)', { skip: skip || (spawnSync('sh', ['-c', 'command -v protoc && command -v grpc_python_plugin']).status !== 0 ? 'no system protoc/grpc_python_plugin' : false) }, () => {
    const system = buildWith(['--toolchain', 'system', '--dist', path.join(scratch, 'dist-system')]);
    assert.equal(system.toolchain.kind, 'system');
    assert.equal(system.wheel.sha256, first.wheel.sha256);
  });

  it('keeps the upstream name and marks a local version in the drop-in profile', { skip }, async () => {
    const dropIn = buildWith(['--profile', 'drop-in', '--dist', path.join(scratch, 'dist-drop-in')]);
    assert.equal(dropIn.wheel.name, 'ml_metadata-1.14.0+remote.1-py3-none-any.whl');
    const meta = await inspectWheel(runner, 'python3', upstream.project, dropIn.wheel.path);
    assert.deepEqual(meta.metadata['Name'], ['ml-metadata']);
    assert.deepEqual(meta.metadata['Version'], ['1.14.0+remote.1']);
  });

  it('installs with pip into a fresh venv and imports with no native module', { skip }, async () => {
    const venv = path.join(scratch, 'venv');
    await runner('python3', ['-m', 'venv', venv]);
    const py = path.join(venv, 'bin', 'python');
    await runner(py, ['-m', 'pip', 'install', '--quiet', first.wheel.path], { env: { PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
    const probe = await runner(py, [
      '-c',
      [
        'import json, os, sys',
        'import ml_metadata',
        'from ml_metadata.metadata_store import metadata_store, mlmd_types',
        'from ml_metadata.proto import metadata_store_pb2',
        'pkg = os.path.dirname(ml_metadata.__file__)',
        'natives = [os.path.join(d, f) for d, _, fs in os.walk(pkg) for f in fs if f.endswith((".so", ".pyd", ".dylib"))]',
        'try:',
        '  metadata_store.MetadataStore(metadata_store_pb2.ConnectionConfig())',
        '  err = None',
        'except RuntimeError as e:',
        '  err = str(e)',
        'print(json.dumps({"version": ml_metadata.__version__, "natives": natives, "dataset": mlmd_types.Dataset().name, "deploy": mlmd_types.Deploy().name, "extension_loaded": any("metadata_store_extension" in m for m in sys.modules), "err": err}))',
      ].join('\n'),
    ]);
    const got = JSON.parse(probe.stdout) as Record<string, unknown>;
    assert.deepEqual(got, {
      version: '1.14.0',
      natives: [],
      dataset: 'mlmd.Dataset',
      deploy: 'mlmd.Deploy',
      extension_loaded: false,
      err: got['err'],
    });
    assert.match(String(got['err']), /remote-only/);
    assert.match(String(got['err']), /MetadataStoreClientConfig/);
  });
});
