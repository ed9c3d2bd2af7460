/**
 * What the tool reads back from its caches and its own helpers goes through
 * schemas: a damaged cache counts as empty, a helper's output that does not
 * parse is the fallback the caller had (or a clear error naming it). No
 * process is started: the runners here print what a helper might.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { describeLocal } from '../src/bazel.ts';
import { withSuiteVenv } from '../src/behaviour-suite.ts';
import { coInstallCheck } from '../src/co-install.ts';
import type { Project } from '../src/config.ts';
import { MlmdError } from '../src/errors.ts';
import type { Runner, RunResult } from '../src/exec.ts';
import { readPlatformResult } from '../src/platform.ts';
import { venvFact } from '../src/python.ts';
import { readReadyFile } from '../src/reference-server.ts';
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts';

after(cleanupFixtures);

/** A runner that answers each call with `answer`'s result, recording the calls. */
function fakeRunner(answer: (cmd: string, args: readonly string[]) => Partial<RunResult>, calls: string[][] = []): Runner {
  return async (cmd, args) => {
    calls.push([cmd, ...args]);
    const res = { exitCode: 0, stdout: '', stderr: '', ...answer(cmd, args) };
    return { command: [cmd, ...args].join(' '), durationMs: 1, ok: res.exitCode === 0, ...res };
  };
}

describe('caches: a damaged one counts as empty and is rewritten', () => {
  it("a local bazel's version (bazelisk/local-versions.json)", async () => {
    const cacheDir = tempDir('cache');
    const binary = path.join(tempDir('bin'), 'bazel');
    fs.writeFileSync(binary, 'ELF');
    const file = path.join(cacheDir, 'bazelisk', 'local-versions.json');
    fs.mkdirSync(path.dirname(file));
    const calls: string[][] = [];
    const runner = fakeRunner(() => ({ stdout: 'bazel 7.4.1\n' }), calls);
    const st = fs.statSync(binary);
    for (const damaged of ['{"', '[]', JSON.stringify({ [`${binary}\0${st.size}\0${st.mtimeMs}`]: 7 })]) {
      fs.writeFileSync(file, damaged);
      calls.length = 0;
      assert.equal(await describeLocal(runner, binary, cacheDir), '7.4.1', damaged);
      assert.equal(calls.length, 1, 'asked the binary');
      assert.deepEqual(Object.values(JSON.parse(fs.readFileSync(file, 'utf8'))), ['7.4.1']);
    }
    calls.length = 0;
    assert.equal(await describeLocal(runner, binary, cacheDir), '7.4.1');
    assert.equal(calls.length, 0, 'a good cache answers without asking');
  });

  it("a venv's facts (.mlmd-remote-facts.json)", async () => {
    const venv = tempDir('venv');
    const file = path.join(venv, '.mlmd-remote-facts.json');
    for (const damaged of ['{"protoc":', '"protoc"', '{"protoc":null}']) {
      fs.writeFileSync(file, damaged);
      let computed = 0;
      assert.equal(await venvFact(venv, 'protoc', async () => (computed++, 'libprotoc 3.21.6')), 'libprotoc 3.21.6', damaged);
      assert.equal(computed, 1, damaged);
      assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { protoc: 'libprotoc 3.21.6' });
    }
    assert.equal(await venvFact(venv, 'protoc', async () => assert.fail('computed again')), 'libprotoc 3.21.6');
  });
});

describe("run-suite.sh's PLATFORM-RESULT line", () => {
  it('is read for machine, CPython, grpcio and protobuf; null for what the script did not find out', () => {
    const line = 'PLATFORM-RESULT {"platform":"arm64","machine":"aarch64","python":"3.11.2","grpcio":null,"protobuf":"4.25.3","exit":0}';
    assert.deepEqual(readPlatformResult(`progress\n${line}\n`), { platform: 'arm64', machine: 'aarch64', python: '3.11.2', grpcio: null, protobuf: '4.25.3', exit: 0 });
  });

  it('is null, as when there is none, when it is cut short or misshapen', () => {
    assert.equal(readPlatformResult('progress only\n'), null);
    assert.equal(readPlatformResult('PLATFORM-RESULT {"platform":"arm64","mach\n'), null);
    assert.equal(readPlatformResult('PLATFORM-RESULT {"machine":64}\n'), null);
    assert.equal(readPlatformResult('PLATFORM-RESULT ["aarch64"]\n'), null);
  });
});

describe("co_install.py's report", () => {
  const project = { toolsDir: '/nowhere/tools' } as Project;
  const check = (stdout: string, exitCode = 0) =>
    coInstallCheck({ project, runner: fakeRunner(() => ({ stdout, exitCode, stderr: 'last words' })), python: { executable: 'python3', version: '3.11.2' }, wheelPath: '/d/ml_metadata_remote-1.14.0-py3-none-any.whl', upstreamVersion: '1.14.0' });

  it('a good report gives its verdict', async () => {
    const probe = { import: 'works', warnings: ['installed by two distributions'], distributions: ['ml-metadata 1.14.0', 'ml-metadata-remote 1.14.0'] };
    const report = { applicable: true, official: 'ml_metadata-1.14.0.whl', orders: [{ installed: ['a', 'b'], both: probe, afterUninstallingOfficial: { import: 'leftovers only', leftovers: ['x.py'] } }], verdict: { ok: true, detail: 'warns' } };
    const result = await check(`pip noise\n${JSON.stringify(report)}\n`);
    assert.equal(result.check.status, 'pass');
    assert.equal(result.check.detail, 'warns');
    assert.deepEqual(result.orders?.[0]?.both, probe, 'fields the schema does not name are kept');
  });

  it('a last line that is not JSON, or not a report, fails the check saying so, as before', async () => {
    for (const [stdout, problem] of [
      ['Traceback (most recent call last):', 'its last line is not JSON: '],
      [JSON.stringify({ verdict: { ok: true, detail: 'd' } }), 'its last line is not valid: applicable: '],
      [JSON.stringify({ applicable: true, orders: [{ installed: [], both: { import: 'maybe' }, afterUninstallingOfficial: { import: 'works' } }] }), 'its last line is not valid: orders.0.both.import: '],
    ] as const) {
      const result = await check(stdout, 1);
      assert.equal(result.applicable, true);
      assert.equal(result.check.status, 'fail');
      assert.ok(result.check.detail?.startsWith(`co_install.py exited 1 (${problem}`), result.check.detail);
      assert.ok(result.check.detail?.endsWith('): last words'), result.check.detail);
    }
  });
});

describe("the suite venv's installed versions", () => {
  const toolsDir = tempDir('tools');
  fs.mkdirSync(path.join(toolsDir, 'verify'));
  fs.writeFileSync(path.join(toolsDir, 'verify', 'client-requirements.txt'), 'pytest==8.0.0\n');
  const run = (versions: string) =>
    withSuiteVenv({ project: { toolsDir } as Project, runner: fakeRunner((_cmd, args) => ({ stdout: args[0] === '-c' ? versions : '' })), python: { executable: '/usr/bin/python3', version: '3.11.2' }, wheelPath: '/d/x.whl' }, async (venv) => venv.installed);

  it('are read, null for a package that is not installed', async () => {
    assert.deepEqual(await run('{"grpcio": "1.60.0", "six": null}\n'), { grpcio: '1.60.0', six: null });
  });

  it('output that is not the JSON expected is an error saying what printed it, with how to check', async () => {
    for (const [stdout, problem] of [
      ['hello from sitecustomize\n{"grpcio": "1.60.0"}', /^what the suite venv's Python printed as the installed versions is not JSON: /],
      ['{"grpcio": 1.6}', /^what the suite venv's Python printed as the installed versions is not valid: grpcio: /],
    ] as const) {
      await assert.rejects(run(stdout), (err: unknown) => err instanceof MlmdError && problem.test(err.message) && /\/usr\/bin\/python3 -c 'print\(1\)'/.test(err.hint ?? ''));
    }
  });
});

describe("the reference server's ready file", () => {
  const what = 'the reference server (ml-metadata 1.14.0)';

  it('is undefined until it is there, then its port and pid', () => {
    const file = path.join(tempDir('ready'), 'ready.json');
    assert.equal(readReadyFile(file, what), undefined);
    fs.writeFileSync(file, '{"port": 40123, "pid": 77, "mlmd_version": "1.14.0"}');
    assert.deepEqual(readReadyFile(file, what), { port: 40123, pid: 77, mlmd_version: '1.14.0' });
  });

  it('one that does not parse, or lacks the port, is an error naming the file and the server', () => {
    const file = path.join(tempDir('ready'), 'ready.json');
    for (const [content, problem] of [
      ['{"port": 4', 'is not JSON: '],
      ['{"pid": 77}', 'is not valid: port: '],
      ['{"port": 0, "pid": 77}', 'is not valid: port: '],
    ] as const) {
      fs.writeFileSync(file, content);
      assert.throws(() => readReadyFile(file, what), (err: unknown) => err instanceof MlmdError && err.message.startsWith(`the ready file ${file} of ${what} ${problem}`) && /git status tools\/reference_server/.test(err.hint ?? ''));
    }
  });
});
