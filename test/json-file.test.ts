/** JSON files the tool reads go through schemas that name the file, the field and the format version. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { loadProject } from '../src/config.ts';
import { MlmdError, UsageError } from '../src/errors.ts';
import { checkJson, parseJson, readJsonFile, readJsonFileIfValid, versioned } from '../src/json-file.ts';
import { RebaseStateSchema } from '../src/rebase.ts';

const fail = (m: string) => new MlmdError(m);

describe('JSON files through schemas', () => {
  const Thing = versioned({ name: z.string() });

  it('accepts a file of this format version and keeps fields it does not know', () => {
    assert.deepEqual(parseJson('{"schemaVersion":1,"name":"a","extra":true}', Thing, 'the thing', fail), { schemaVersion: 1, name: 'a', extra: true });
  });

  it('refuses another format version, saying which one it is and which this tool reads', () => {
    assert.throws(() => parseJson('{"schemaVersion":2,"name":"a"}', Thing, 'the thing', fail), /the thing is not valid: schemaVersion: it is format version 2, this mlmd-remote reads version 1$/);
    assert.throws(() => parseJson('{"name":"a"}', Thing, 'the thing', fail), /schemaVersion: it is missing, this mlmd-remote reads version 1$/);
  });

  it('names the field that is missing or wrong, and text that is not JSON', () => {
    assert.throws(() => parseJson('{"schemaVersion":1}', Thing, 'the thing', fail), /the thing is not valid: name: /);
    assert.throws(() => parseJson('{"schemaVersion":1,', Thing, 'the thing', fail), /the thing is not JSON: /);
    assert.throws(() => readJsonFile(path.join(os.tmpdir(), 'mlmd-remote-no-such-file.json'), Thing, 'the thing', fail), /cannot read the thing: ENOENT/);
  });

  it('checkJson gives the data, or the problem in the words parseJson throws', () => {
    assert.deepEqual(checkJson('{"schemaVersion":1,"name":"a"}', Thing, 'the thing'), { ok: true, data: { schemaVersion: 1, name: 'a' } });
    assert.deepEqual(checkJson('{"schemaVersion":1}', Thing, 'the thing'), { ok: false, problem: 'the thing is not valid: name: Invalid input: expected string, received undefined' });
    assert.match((checkJson('nope', Thing, 'the thing') as { problem: string }).problem, /^the thing is not JSON: /);
  });

  it('readJsonFileIfValid: a missing, truncated or misshapen file (a cache) is undefined, never an error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-json-'));
    try {
      const file = path.join(dir, 'cache.json');
      assert.equal(readJsonFileIfValid(file, Thing), undefined);
      fs.writeFileSync(file, '{"schemaVersion":1,"na');
      assert.equal(readJsonFileIfValid(file, Thing), undefined);
      fs.writeFileSync(file, '{"schemaVersion":1,"name":5}');
      assert.equal(readJsonFileIfValid(file, Thing), undefined);
      fs.writeFileSync(file, '{"schemaVersion":1,"name":"a"}');
      assert.deepEqual(readJsonFileIfValid(file, Thing), { schemaVersion: 1, name: 'a' });
      assert.equal(readJsonFileIfValid(dir, Thing), undefined, 'a directory in its place');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mlmd-remote.json: a bad field is a usage error naming the field and how to restore the file', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-config-'));
    try {
      const config = { upstream: { url: 'u', tag: 'v1', commit: 'abc' }, bazel: { version: '4.2.3' }, toolchain: { default: 'grpcio-tools' }, profiles: { default: { distName: 'd', localVersion: null } } };
      fs.writeFileSync(path.join(root, 'mlmd-remote.json'), JSON.stringify(config));
      assert.throws(() => loadProject(root, { exact: true }), (e: unknown) => e instanceof UsageError && /mlmd-remote\.json is not valid: upstream\.commit: must be 40 hex digits$/.test(e.message) && /git checkout -- mlmd-remote\.json/.test(e.hint ?? ''));
      config.upstream.commit = 'a'.repeat(40);
      (config.toolchain as { default: string }).default = 'make';
      fs.writeFileSync(path.join(root, 'mlmd-remote.json'), JSON.stringify(config));
      assert.throws(() => loadProject(root, { exact: true }), /toolchain\.default: /);
      (config.toolchain as { default: string }).default = 'system';
      fs.writeFileSync(path.join(root, 'mlmd-remote.json'), JSON.stringify(config));
      assert.equal(loadProject(root, { exact: true }).config.toolchain.default, 'system');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a rebase state must hold what --continue and --abort read', () => {
    const state = { schemaVersion: 1, from: { tag: 'a', commit: 'b' }, to: { tag: 'c', commit: 'd' }, branch: 'x', orig: { head: 'h', branch: null, tree: 't' }, backupDir: '/b', patches: [{ name: 'p', subject: 's', file: 'f', status: 'clean', offsets: [] }], startedAt: 'now', durationMs: 1 };
    assert.equal(RebaseStateSchema.safeParse(state).success, true);
    assert.equal(RebaseStateSchema.safeParse({ ...state, patches: [{ ...state.patches[0], status: 'merged' }] }).success, false);
    assert.equal(RebaseStateSchema.safeParse({ ...state, schemaVersion: 2 }).success, false);
  });
});
