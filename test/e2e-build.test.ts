/**
 * End to end on real upstream: the CLI builds the wheel from the pin and the
 * series with real bazel and setuptools; the wheel is inspected, built again
 * in a separate scratch tree (same bytes), and installed by pip into a fresh
 * venv where the client imports with no native module.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { processRunner } from '../src/exec.ts';
import { inspectWheel, type WheelInspection } from '../src/wheel.ts';
import { canConnect, freePort } from '../src/network.ts';
import { poll, PollTimeoutError } from '../src/poll.ts';
import { startReferenceServer } from '../src/reference-server.ts';
import { ensureVenv, findPython, readRequirements, venvPython } from '../src/python.ts';
import { recordingLogger } from '../src/log.ts';
import { platformCacheDir } from '../src/platforms.ts';
import type { WheelDiff } from '../src/wheeldiff.ts';
import { projectRoot, realUpstream } from './helpers/real-upstream.ts';
import { containerSkip, rootfsSkip, skipBecause } from './helpers/skips.ts';
import { startDatabase } from '../src/databases.ts';
import type { BuildResult, MatrixResult, ServerStatus, VerifyResult } from '../src/results.ts';

const cli = path.join(projectRoot, 'bin', 'mlmd-remote.js');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-e2e-'));

function mlmdRemote(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: projectRoot, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 30 * 60_000 });
}

function buildWith(args: string[]): BuildResult {
  const res = mlmdRemote(['build', '--json', ...args]);
  assert.equal(res.status, 0, `mlmd-remote build ${args.join(' ')} failed:\n${res.stderr.slice(-3000)}`);
  return JSON.parse(res.stdout) as BuildResult;
}

/** A copy of `wheel` with `entry` replaced (RECORD left as it was) or added. */
function alteredCopy(wheel: string, out: string, entry: string, content: Buffer): string {
  const script = 'import sys, zipfile\nsrc, dst, name, data = sys.argv[1], sys.argv[2], sys.argv[3], open(sys.argv[4], "rb").read()\nwith zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:\n  for i in a.infolist():\n    if i.filename != name: b.writestr(i, a.read(i.filename))\n  b.writestr(name, data)\n';
  const dataFile = `${out}.data`;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(dataFile, content);
  const res = spawnSync('python3', ['-c', script, wheel, out, entry, dataFile], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  fs.rmSync(dataFile);
  return out;
}

/** Mount points under the root filesystem cache (a server that stopped must leave none). */
function platformMounts(): string[] {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(platformCacheDir()));
}

/** The locally built reference-server image (built on demand; no registry is needed). */
function ensureLocalImage(): string {
  const res = spawnSync('bash', [path.join(projectRoot, 'tools', 'container', 'build-image.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(res.status, 0, `build-image.sh failed:\n${res.stderr.slice(-2000)}`);
  const tag = /done: (\S+)/.exec(res.stderr + res.stdout)?.[1] ?? /(\S+) is up to date/.exec(res.stderr + res.stdout)?.[1];
  assert.ok(tag, `build-image.sh did not name its image:\n${res.stderr.slice(-1000)}`);
  return tag;
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

  it('passes verify against the reference server of the same release (static checks and the behaviour suite)', { skip }, () => {
    // Default (auto): ml-metadata 1.14.0 itself in a CPython 3.9 root filesystem where this host
    // can run one, else the host venv's 1.16.0 with a note that says why.
    const sameVersion = rootfsSkip('the same-version server tests') === false;
    const res = mlmdRemote(['verify', first.wheel.path, '--server', 'reference', '--json']);
    assert.equal(res.status, 0, res.stderr.slice(-3000));
    const report = JSON.parse(res.stdout) as VerifyResult;
    assert.equal(report.ok, true);
    assert.deepEqual(report.static.filter((c) => c.status !== 'pass'), []);
    // Official 1.14.0 wheels exist for CPython 3.8 to 3.10 only: on a newer host the two cannot meet.
    assert.equal(report.coInstall!.check.status, 'pass', report.coInstall!.check.detail);
    if (!report.coInstall!.applicable) assert.match(report.coInstall!.check.detail!, /cannot happen here: pip finds no wheel of ml-metadata==1\.14\.0 for CPython/);
    assert.equal(report.live!.server.kind, 'reference');
    if (sameVersion) {
      assert.equal(report.live!.server.mlmdVersion, '1.14.0');
      assert.match(report.live!.server.description, /official ml-metadata 1\.14\.0 .*cpython-3\.9 root filesystem/);
      assert.equal(report.live!.server.note, undefined);
    } else {
      assert.equal(report.live!.server.mlmdVersion, '1.16.0');
      assert.match(report.live!.server.note!, /ml-metadata 1\.14\.0 cannot run in the cpython-3\.9 root filesystem here/);
      assert.match(res.stderr, /warning: ml-metadata 1\.14\.0 cannot run/);
    }
    assert.equal(report.live!.suite.failed, 0);
    assert.ok(report.live!.suite.passed >= 30, `${report.live!.suite.passed} behaviour tests passed`);
    // verify starts the slow, TLS and mutual-TLS servers those tests need: none skips.
    assert.deepEqual(report.live!.suite.skips, []);
    assert.deepEqual(report.skipped, []);
    // Upstream's own tests at the pin: every one passes but the reviewed embedded-only list.
    const upstreamTests = report.live!.upstreamTests!;
    assert.equal(upstreamTests.commit, upstream.project.config.upstream.commit);
    const byFile = Object.fromEntries(upstreamTests.files.map((f) => [path.basename(f.path), f]));
    assert.deepEqual(Object.keys(byFile).sort(), ['metadata_store_test.py', 'mlmd_types_test.py', 'types_test.py']);
    for (const f of upstreamTests.files) assert.deepEqual([f.failed, f.skipped, f.failures], [0, 0, []], f.path);
    assert.equal(byFile['metadata_store_test.py']!.embeddedOnly, 4);
    assert.ok(byFile['metadata_store_test.py']!.passed >= 100, `${byFile['metadata_store_test.py']!.passed} passed`);
    assert.ok(byFile['types_test.py']!.passed >= 40);
    assert.equal(byFile['mlmd_types_test.py']!.passed, 2);
    const kept = JSON.parse(fs.readFileSync(`${first.wheel.path}.verify.json`, 'utf8')) as VerifyResult;
    assert.equal(kept.wheel.sha256, first.wheel.sha256);
  });

  it('passes verify against the host venv\'s ml-metadata 1.16.0 with --reference native', { skip }, () => {
    const res = mlmdRemote(['verify', first.wheel.path, '--reference', 'native', '--json']);
    assert.equal(res.status, 0, res.stderr.slice(-3000));
    const report = JSON.parse(res.stdout) as VerifyResult;
    assert.equal(report.live!.server.mlmdVersion, '1.16.0');
    assert.doesNotMatch(report.live!.server.description, /root filesystem/);
    assert.ok(report.live!.suite.passed >= 30 && report.live!.suite.failed === 0);
  });

  it('server start runs ml-metadata 1.14.0 in the background; server stop unmounts everything and keeps the data', { skip: skip || rootfsSkip('the same-version server tests') }, async () => {
    const started = mlmdRemote(['server', 'start', '--reference', 'same-version', '--json']);
    assert.equal(started.status, 0, started.stderr.slice(-3000));
    let status = JSON.parse(started.stdout) as ServerStatus;
    try {
      assert.equal(status.running, true);
      assert.equal(status.answering, true);
      assert.equal(status.state!.mlmdVersion, '1.14.0');
      assert.ok(platformMounts().length > 0, 'the server runs in a mounted root filesystem');
      // A client on this host (the wheel, in the suite's venv) reaches it and writes to its store.
      // Not our database to reset, so upstream's tests that expect a new one cannot run: a skip that must be allowed.
      let res = mlmdRemote(['verify', first.wheel.path, '--server-address', `127.0.0.1:${status.state!.port}`, '--json']);
      assert.equal(res.status, 6, res.stderr.slice(-3000));
      for (const file of ['metadata_store_test', 'types_test']) assert.match(res.stderr, new RegExp(`SKIPPED upstream-tests: .*${file}\\.py .*expects a new database`));
      res = mlmdRemote(['verify', first.wheel.path, '--server-address', `127.0.0.1:${status.state!.port}`, '--allow-skip', 'upstream-tests', '--json']);
      assert.equal(res.status, 0, res.stderr.slice(-3000));
      const report = JSON.parse(res.stdout) as VerifyResult;
      assert.deepEqual(report.allowedSkips, ['upstream-tests']);
      assert.ok(report.skipped.length === 2 && report.skipped.every((x) => x.allowed && x.what === 'upstream-tests'));
      assert.deepEqual(report.live!.upstreamTests!.files.map((f) => [path.basename(f.path), f.passed, f.failed, f.skipped]), [['metadata_store_test.py', 0, 0, 1], ['mlmd_types_test.py', 2, 0, 0], ['types_test.py', 0, 0, 1]]);
    } finally {
      const stopped = mlmdRemote(['server', 'stop', '--json']);
      assert.equal(stopped.status, 0, stopped.stderr);
    }
    const dataDir = status.state!.dataDir;
    status = JSON.parse(mlmdRemote(['server', 'status', '--json']).stdout) as ServerStatus;
    assert.equal(status.running, false);
    assert.deepEqual(platformMounts(), []);
    assert.ok(fs.statSync(path.join(dataDir, 'metadata.sqlite')).size > 0, 'the store is kept on the host');
  });

  it('serve.sh killed outright takes its server with it; the next run unmounts and keeps the data (paths through symlinks)', { skip: skip || rootfsSkip('the same-version server tests') }, async () => {
    // Both directories named through symlinks: the mount checks must see through them.
    const links = path.join(scratch, 'links');
    fs.mkdirSync(path.join(links, 'real-data'), { recursive: true });
    fs.symlinkSync(platformCacheDir(), path.join(links, 'cache'));
    fs.symlinkSync(path.join(links, 'real-data'), path.join(links, 'data'));
    const serve = path.join(projectRoot, 'tools', 'platform', 'serve.sh');
    const common = ['--platform', 'cpython-3.9', '--requirements', path.join(projectRoot, 'tools', 'reference_server', 'requirements-1.14.0.txt'), '--cache-dir', path.join(links, 'cache')];
    const child = spawn('bash', [serve, ...common, '--data-dir', path.join(links, 'data'), '--', '--port', '0', '--db', '/data/metadata.sqlite', '--ready-file', '/data/ready.json'], { stdio: 'ignore' });
    const ready = path.join(links, 'real-data', 'ready.json');
    await poll(() => fs.existsSync(ready), { timeoutMs: 60_000, description: 'serve.sh to write its ready file' });
    const { port } = JSON.parse(fs.readFileSync(ready, 'utf8')) as { port: number };
    assert.equal(await canConnect('127.0.0.1', port), true);
    assert.ok(platformMounts().some((m) => m.endsWith('/root/data')), 'the data directory is bound into the root');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The server had a parent-death signal.
    const up = await poll(async () => !(await canConnect('127.0.0.1', port, 200)), { timeoutMs: 5000, description: 'the server to stop answering' }).then(
      () => false,
      (err: unknown) => {
        if (err instanceof PollTimeoutError) return true;
        throw err;
      },
    );
    assert.equal(up, false, 'the server died with serve.sh');
    await new Promise((r) => setTimeout(r, 500)); // until the killed script is reaped
    const next = spawnSync('bash', [serve, ...common, '--prepare-only'], { encoding: 'utf8' });
    assert.equal(next.status, 0, next.stderr);
    assert.match(next.stderr, /removing the stale directory serve\./);
    assert.deepEqual(platformMounts(), []);
    assert.ok(fs.statSync(path.join(links, 'real-data', 'metadata.sqlite')).size > 0, 'the store is still on the host');
  });

  it('passes verify against a container of the same release (1.14.0), started with testcontainers and configured as the official image', { skip: skip || containerSkip() }, () => {
    const image = ensureLocalImage();
    // build-image.sh serves the pinned upstream release by default, as the official image of that tag would.
    assert.equal(image, 'mlmd-remote/reference-server:1.14.0');
    const label = spawnSync('docker', ['image', 'inspect', '--format', '{{ index .Config.Labels "mlmd-remote.ml-metadata" }}', image], { encoding: 'utf8' });
    assert.equal(label.stdout.trim(), '1.14.0');
    const res = mlmdRemote(['verify', first.wheel.path, '--server', 'container', '--image', image, '--json']);
    assert.equal(res.status, 0, res.stderr.slice(-3000));
    const report = JSON.parse(res.stdout) as VerifyResult;
    assert.equal(report.ok, true);
    assert.equal(report.live!.server.kind, 'container');
    assert.equal(report.live!.server.description, `container ${image}`);
    assert.equal(report.live!.suite.failed, 0);
    assert.ok(report.live!.suite.passed >= 30);
    // The container's /tmp/shared is a host directory, so upstream's fresh-database tests run against it too.
    assert.deepEqual(report.skipped, []);
    assert.ok(report.live!.upstreamTests!.files.every((f) => f.failed === 0));
  });

  it('passes, unchanged, a client suite written for the official image (testcontainers-python, port mapping, the SQLite file deleted before each test)', { skip: skip || containerSkip(), timeout: 15 * 60_000 }, () => {
    const ours = ensureLocalImage();
    const official = 'gcr.io/tfx-oss-public/ml_metadata_store_server:1.14.0';
    // Never replace a real official image someone pulled: retag ours only where the name is free or ours.
    const label = spawnSync('docker', ['image', 'inspect', '--format', '{{ index .Config.Labels "mlmd-remote.recipe" }}', official], { encoding: 'utf8' });
    const retag = label.status !== 0 || /^[0-9a-f]{16,}$/.test(label.stdout.trim());
    if (retag) assert.equal(spawnSync('docker', ['tag', ours, official]).status, 0);
    try {
      const venv = path.join(scratch, 'official-image-suite');
      assert.equal(spawnSync('python3', ['-m', 'venv', venv]).status, 0);
      const suite = path.join(projectRoot, 'tools', 'official_image_suite');
      const pip = spawnSync(path.join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', first.wheel.path, '-r', path.join(suite, 'requirements.txt')], { encoding: 'utf8' });
      assert.equal(pip.status, 0, pip.stderr);
      const res = spawnSync(path.join(venv, 'bin', 'python'), ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-W', 'error::DeprecationWarning:testcontainers', suite], {
        encoding: 'utf8',
        cwd: scratch,
        // No reaper image can be pulled here; clients connect to 127.0.0.1.
        env: { ...process.env, MLMD_IMAGE: official, TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' },
        timeout: 10 * 60_000,
      });
      assert.equal(res.status, 0, res.stdout.slice(-4000) + res.stderr.slice(-2000));
      assert.match(res.stdout, /\b8 passed\b/);
    } finally {
      if (retag) spawnSync('docker', ['rmi', official]);
    }
  });

  it('serves many client processes and threads at once: every write lands, no call hangs, the only error is the store\'s own ABORTED', { skip, timeout: 15 * 60_000 }, async () => {
    const venv = path.join(scratch, 'load');
    assert.equal(spawnSync('python3', ['-m', 'venv', venv]).status, 0);
    assert.equal(spawnSync(path.join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', first.wheel.path]).status, 0);
    const python = await findPython(runner);
    const server = await startReferenceServer({ project: upstream.project, runner, log: recordingLogger(), python, dataDir: path.join(scratch, 'load-server'), mlmdVersion: '1.14.0' });
    try {
      const res = spawnSync(path.join(venv, 'bin', 'python'), [path.join(projectRoot, 'tools', 'concurrency', 'load.py'), '--port', String(server.port), '--processes', '4', '--threads', '4', '--writes', '20'], { encoding: 'utf8', timeout: 10 * 60_000 });
      const report = JSON.parse(res.stdout) as { writesAttempted: number; writesStored: number; missing: string[]; unexpectedErrors: Record<string, number>; errors: Record<string, number> };
      assert.equal(res.status, 0, `${res.stdout}\n${res.stderr.slice(-2000)}`);
      assert.equal(report.writesAttempted, 320);
      assert.equal(report.writesStored, 320);
      assert.deepEqual([report.missing, report.unexpectedErrors], [[], {}]);
      for (const key of Object.keys(report.errors)) assert.equal(key, 'ABORTED: Concurrent writes aborted after max number of retries.');
    } finally {
      await server.stop();
    }
  });

  it('fails verify (exit 6) for a wheel with a tampered file or a native file inside', { skip }, () => {
    const tampered = alteredCopy(first.wheel.path, path.join(scratch, 'tampered', first.wheel.name), 'ml_metadata/errors.py', Buffer.from('raise SystemExit("tampered")\n'));
    let res = mlmdRemote(['verify', tampered, '--server', 'none', '--json']);
    assert.equal(res.status, 6, res.stderr);
    let report = JSON.parse(res.stdout) as VerifyResult;
    assert.deepEqual(report.static.filter((c) => c.status === 'fail').map((c) => [c.id, c.detail]), [['record', 'ml_metadata/errors.py does not match its RECORD hash']]);

    const native = alteredCopy(first.wheel.path, path.join(scratch, 'native', first.wheel.name), 'ml_metadata/proto/helper.dat', Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(60)]));
    res = mlmdRemote(['verify', native, '--server', 'none', '--json']);
    assert.equal(res.status, 6, res.stderr);
    report = JSON.parse(res.stdout) as VerifyResult;
    assert.deepEqual(report.static.filter((c) => c.status === 'fail').map((c) => c.id).sort(), ['no-native', 'record']);
  });

  it('diffs against the official 1.14.0 wheel: native file gone, four patched modules, same generated code', { skip }, () => {
    const res = mlmdRemote(['diff-wheel', first.wheel.path, '--json']);
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    const d = JSON.parse(res.stdout) as WheelDiff;
    assert.match(d.base.name, /^ml_metadata-1\.14\.0-cp3\d+-cp3\d+-manylinux/);
    assert.deepEqual(d.removed, [{ name: 'ml_metadata/metadata_store/pywrap/metadata_store_extension.so', native: 'ELF' }]);
    // In its place, a module that says remote-only; the co-installation check; the simple types as text.
    assert.deepEqual(d.added, ['ml_metadata/metadata_store/pywrap/metadata_store_extension.py', 'ml_metadata/py.typed', 'ml_metadata/remote_only.py', 'ml_metadata/simple_types/simple_types.pbtxt']);
    assert.deepEqual(d.sourceDiffs.map((s) => s.name), ['ml_metadata/__init__.py', 'ml_metadata/errors.py', 'ml_metadata/metadata_store/metadata_store.py', 'ml_metadata/metadata_store/mlmd_types.py']);
    assert.ok(!d.changed.some((n) => n.endsWith('_pb2.py') || n.endsWith('_pb2_grpc.py')), 'the generated modules equal the official ones');
    assert.deepEqual(d.metadata.find((m) => m.field === 'Name'), { field: 'Name', base: ['ml-metadata'], head: ['ml-metadata-remote'] });
  });

  // MySQL and PostgreSQL: throw-away MariaDB and PostgreSQL servers from Debian's packages.
  const databaseSkip = (backend: 'mysql' | 'postgresql'): string | false => {
    const has = backend === 'mysql' ? fs.existsSync('/usr/sbin/mariadbd') : fs.existsSync('/usr/lib/postgresql') && fs.readdirSync('/usr/lib/postgresql').some((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));
    return has ? false : skipBecause(`the ${backend} backend tests`, `${backend === 'mysql' ? 'mariadb-server' : 'postgresql'} is not installed (sudo bash tools/setup-debian.sh installs it)`);
  };
  /** Processes and temp directories of throw-away databases (none may outlive a command). */
  const databaseLeftovers = () => [
    ...spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /mlmd-remote-(server-)?(mysql|postgresql)-/.test(l) && !l.startsWith('ps ')),
    ...fs.readdirSync(os.tmpdir()).filter((n) => /^mlmd-remote-(server-)?(mysql|postgresql)-/.test(n)),
  ];

  for (const backend of ['mysql', 'postgresql'] as const) {
    it(`passes verify --backend ${backend}: the behaviour suite and upstream's tests on a throw-away ${backend === 'mysql' ? 'MariaDB' : 'PostgreSQL'}, nothing left running`, { skip: skip || databaseSkip(backend), timeout: 20 * 60_000 }, () => {
      const res = mlmdRemote(['verify', first.wheel.path, '--backend', backend, '--json']);
      assert.ok(res.stdout.trim(), res.stderr.slice(-3000));
      const report = JSON.parse(res.stdout) as VerifyResult;
      // The failures themselves first: they say more than the exit code.
      assert.deepEqual(report.live?.suite.failures ?? [], []);
      for (const f of report.live?.upstreamTests?.files ?? []) assert.deepEqual(f.failures, [], f.path);
      assert.equal(res.status, 0, res.stderr.slice(-3000));
      assert.equal(report.ok, true);
      assert.equal(report.live!.server.backend, backend);
      assert.match(report.live!.server.database!.version, backend === 'mysql' ? /^MariaDB \d+\.\d+/ : /^PostgreSQL \d+/);
      assert.match(report.live!.server.description, backend === 'mysql' ? / on MariaDB / : / on PostgreSQL /);
      assert.equal(report.live!.suite.failed, 0);
      assert.ok(report.live!.suite.passed >= 30, `${report.live!.suite.passed} behaviour tests passed`);
      assert.deepEqual(report.skipped, []);
      const files = report.live!.upstreamTests!.files;
      for (const f of files) assert.equal(f.failed, 0, `${f.path}: ${JSON.stringify(f.failures)}`);
      assert.ok(files.find((f) => f.path.endsWith('metadata_store_test.py'))!.passed >= 100);
      assert.deepEqual(databaseLeftovers(), []);
    });
  }

  it('passes a row of the dependency matrix on PostgreSQL (verify --matrix --backend), and says so', { skip: skip || databaseSkip('postgresql'), timeout: 15 * 60_000 }, () => {
    const res = mlmdRemote(['verify', first.wheel.path, '--matrix', '--row', 'lowest declared', '--backend', 'postgresql', '--json']);
    assert.ok(res.stdout.trim(), res.stderr.slice(-3000));
    const matrix = JSON.parse(res.stdout) as MatrixResult;
    assert.deepEqual(matrix.rows.map((r) => [r.name, r.ok, r.failures]), [['lowest declared', true, []]]);
    assert.equal(res.status, 0, res.stderr.slice(-3000));
    assert.equal(matrix.backend, 'postgresql');
    assert.match(matrix.database!, /^PostgreSQL \d+/);
    assert.match(matrix.server, / on PostgreSQL /);
    assert.ok(matrix.rows[0]!.passed >= 30, `${matrix.rows[0]!.passed} behaviour tests passed`);
    assert.deepEqual(databaseLeftovers(), []);
  });

  it('passes verify --server container --backend mysql: the image\'s config file points at a throw-away MariaDB', { skip: skip || containerSkip() || databaseSkip('mysql'), timeout: 20 * 60_000 }, () => {
    const res = mlmdRemote(['verify', first.wheel.path, '--server', 'container', '--image', ensureLocalImage(), '--backend', 'mysql', '--json']);
    assert.equal(res.status, 0, res.stderr.slice(-3000));
    const report = JSON.parse(res.stdout) as VerifyResult;
    assert.equal(report.live!.server.kind, 'container');
    assert.match(report.live!.server.description, /^container .* on MariaDB /);
    assert.equal(report.live!.suite.failed, 0);
    assert.ok(report.live!.upstreamTests!.files.every((f) => f.failed === 0));
    assert.deepEqual(databaseLeftovers(), []);
  });

  it('server start --backend mysql stores into MariaDB; when the database goes away mid-run verify fails clearly, and server stop removes everything', { skip: skip || databaseSkip('mysql'), timeout: 15 * 60_000 }, () => {
    const started = mlmdRemote(['server', 'start', '--backend', 'mysql', '--json']);
    assert.equal(started.status, 0, started.stderr.slice(-3000));
    const status = JSON.parse(started.stdout) as ServerStatus;
    try {
      assert.equal(status.answering, true);
      const db = status.state!.database!;
      assert.match(db.version, /^MariaDB /);
      assert.match(mlmdRemote(['server', 'status']).stdout, /store MariaDB .* \(pid \d+; removed by server stop\)/);
      // The database dies under the running server: calls fail with the store's own error, verify exits 6.
      process.kill(db.pid, 'SIGKILL');
      const res = mlmdRemote(['verify', first.wheel.path, '--server-address', `127.0.0.1:${status.state!.port}`, '--allow-skip', 'upstream-tests', '--json']);
      assert.equal(res.status, 6, res.stderr.slice(-3000));
      const report = JSON.parse(res.stdout) as VerifyResult;
      assert.ok(report.live!.suite.failed > 0);
      assert.match(JSON.stringify(report.live!.suite.failures), /MySQL|mysql/);
    } finally {
      const stopped = mlmdRemote(['server', 'stop', '--json']);
      assert.equal(stopped.status, 0, stopped.stderr);
    }
    assert.deepEqual(databaseLeftovers(), []);
  });

  it('a reference server whose database is down, refuses the password, or does not exist ends before listening, with the store\'s reason and no process left', { skip: skip || databaseSkip('postgresql'), timeout: 10 * 60_000 }, async () => {
    const log = recordingLogger();
    const python = await findPython(runner);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-postgresql-'));
    const db = await startDatabase('postgresql', { runner, log, dir });
    const serverWith = (label: string, config: string) =>
      startReferenceServer({ project: upstream.project, runner, log, python, dataDir: path.join(scratch, `bad-db-${label}`), mlmdVersion: '1.14.0', reference: 'native', database: { ...db, serverConfig: config }, readyTimeoutMs: 120_000 });
    try {
      await assert.rejects(serverWith('password', db.serverConfig.replace(/password: ".*"/, 'password: "wrong"')), /exited .* before it was ready:[\s\S]*password authentication failed for user "mlmd"/);
      await assert.rejects(serverWith('missing', db.serverConfig.replace(/dbname: ".*"/, 'dbname: "nope"\n    skip_db_creation: true')), /exited .* before it was ready:[\s\S]*database "nope" does not exist/);
      await db.stop();
      await assert.rejects(serverWith('down', db.serverConfig), /exited .* before it was ready:[\s\S]*(could not connect|Connection refused|ECONNREFUSED)/);
    } finally {
      await db.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(path.join(scratch, 'bad-db-'))), []);
  });

  it('says clearly when the server to verify against is down', { skip }, async () => {
    const port = await freePort();
    const res = mlmdRemote(['verify', first.wheel.path, '--server-address', `127.0.0.1:${port}`]);
    assert.equal(res.status, 1);
    assert.match(res.stderr, new RegExp(`no MLMD server answers at 127\\.0\\.0\\.1:${port}`));
  });

  it('passes the dependency matrix at the lowest declared and the newest versions, with no drift', { skip }, () => {
    const res = mlmdRemote(['verify', first.wheel.path, '--matrix', '--row', 'lowest declared', '--row', 'newest', '--json']);
    assert.equal(res.status, 0, res.stderr.slice(-3000));
    const matrix = JSON.parse(res.stdout) as MatrixResult;
    assert.deepEqual(matrix.drift, []);
    assert.deepEqual(matrix.rows.map((r) => [r.name, r.ok]), [['lowest declared', true], ['newest', true]]);
    assert.equal(matrix.rows[0]!.installed['protobuf'], '3.20.3');
    assert.equal(matrix.backend, 'sqlite');
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
        'from ml_metadata import errors',
        'def raised(f):',
        '  try:',
        '    f()',
        '  except BaseException as e:',
        '    return [type(e).__name__, [c.__name__ for c in type(e).__mro__], str(e)]',
        'def pywrap():',
        '  import ml_metadata.metadata_store.pywrap.metadata_store_extension',
        'print(json.dumps({"version": ml_metadata.__version__, "natives": natives, "dataset": mlmd_types.Dataset().name, "deploy": mlmd_types.Deploy().name,',
        '  "connection": raised(lambda: metadata_store.MetadataStore(metadata_store_pb2.ConnectionConfig())),',
        '  "downgrade_bad": raised(lambda: metadata_store.downgrade_schema(metadata_store_pb2.ConnectionConfig(), -1)),',
        '  "downgrade": raised(lambda: metadata_store.downgrade_schema(metadata_store_pb2.ConnectionConfig(), 0)),',
        '  "pywrap": raised(pywrap),',
        '  "extension_loaded": any("metadata_store_extension" in m and sys.modules[m] is not None for m in sys.modules)}))',
      ].join('\n'),
    ]);
    const got = JSON.parse(probe.stdout) as Record<string, [string, string[], string] | unknown>;
    assert.deepEqual([got['version'], got['natives'], got['dataset'], got['deploy'], got['extension_loaded']], ['1.14.0', [], 'mlmd.Dataset', 'mlmd.Deploy', false]);
    // One error type for what needs the embedded store: an MLMD UnimplementedError, not a RuntimeError (TFX retries those).
    for (const key of ['connection', 'downgrade']) {
      const [name, mro, message] = got[key] as [string, string[], string];
      assert.equal(name, 'RemoteOnlyError', key);
      assert.ok(mro.includes('UnimplementedError') && mro.includes('StatusError') && !mro.includes('RuntimeError'), mro.join(' '));
      assert.match(message, /remote-only.*MetadataStoreClientConfig/s);
    }
    // Arguments are checked first, as upstream does.
    assert.deepEqual((got['downgrade_bad'] as string[]).slice(0, 1), ['InvalidArgumentError']);
    const [pyName, pyMro, pyMessage] = got['pywrap'] as [string, string[], string];
    assert.equal(pyName, 'ModuleNotFoundError');
    assert.ok(pyMro.includes('ImportError'));
    assert.match(pyMessage, /not part of this remote-only build .*MetadataStoreClientConfig/s);
  });

  it('describes itself in METADATA: its own description, true classifiers, project URLs; twine check --strict passes', { skip }, async () => {
    const meta = inspection.metadata;
    assert.match(meta['Summary']![0]!, /remote-only/);
    // The long description is METADATA's body, after the headers.
    const body = (await runner('python3', ['-c', 'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nname = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))\nprint(z.read(name).decode().split("\\n\\n", 1)[1])', first.wheel.path])).stdout;
    assert.match(body, /^# ml-metadata-remote: the ML Metadata client, remote-only$/m);
    assert.match(body, /RemoteOnlyError/);
    assert.doesNotMatch(body, /pip install ml-metadata\b(?!-remote)/);
    const classifiers = meta['Classifier'] ?? [];
    assert.ok(classifiers.includes('Operating System :: OS Independent') && classifiers.includes('Programming Language :: Python :: 3 :: Only'), classifiers.join('\n'));
    assert.deepEqual(classifiers.filter((c) => /^Operating System :: (?!OS Independent)/.test(c)), []);
    assert.deepEqual(meta['Project-URL']?.map((u) => u.split(',')[0]), ['Source', 'Issues', 'Upstream']);
    const twine = await ensureVenv({ runner, log: recordingLogger(), python: await findPython(runner), cacheDir: upstream.project.cacheDir, name: 'twine', requirements: readRequirements(path.join(projectRoot, 'tools', 'release', 'requirements.txt')) });
    const checked = await runner(venvPython(twine), ['-m', 'twine', 'check', '--strict', first.wheel.path], { allowFailure: true });
    assert.equal(checked.exitCode, 0, checked.stdout + checked.stderr);
  });
});
