/**
 * wheel.ts: a wheel reaches dist/ whole or not at all, and leftovers of an
 * interrupted run are removed.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Project } from '../src/config.ts';
import { BuildError, MlmdError } from '../src/errors.ts';
import type { Runner } from '../src/exec.ts';
import { inspectWheel, parseWheelFileName, profileVersion, publishAtomically, readUpstreamVersion, removePartialWheels, sha256File, upstreamVersionOf } from '../src/wheel.ts';
import { versionsOnIndex } from '../src/release.ts';
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts';

after(cleanupFixtures);

const NAME = 'ml_metadata_remote-1.0.0-py3-none-any.whl';

function source(): { file: string; bytes: Buffer } {
  const bytes = crypto.randomBytes(64 * 1024);
  const file = path.join(tempDir('scratch'), NAME);
  fs.writeFileSync(file, bytes);
  return { file, bytes };
}

function throwsBuildError(fn: () => unknown, message: RegExp): BuildError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof BuildError, `expected a BuildError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 5);
  assert.match(caught.message, message);
  return caught;
}

describe('publishAtomically', () => {
  it('puts the exact bytes under the final name, creating dist/, with no partial file left', () => {
    const { file, bytes } = source();
    const dist = path.join(tempDir('out'), 'a', 'dist');
    const exitListeners = process.listenerCount('exit');
    const final = publishAtomically(file, dist, NAME);
    assert.equal(final, path.join(dist, NAME));
    assert.ok(fs.readFileSync(final).equals(bytes));
    assert.deepEqual(fs.readdirSync(dist), [NAME]);
    assert.equal(process.listenerCount('exit'), exitListeners, 'the exit cleanup hook is removed again');
  });

  it('replaces an older wheel of the same name', () => {
    const { file, bytes } = source();
    const dist = tempDir('dist');
    fs.writeFileSync(path.join(dist, NAME), 'old');
    publishAtomically(file, dist, NAME);
    assert.ok(fs.readFileSync(path.join(dist, NAME)).equals(bytes));
    assert.deepEqual(fs.readdirSync(dist), [NAME]);
  });

  it('raises BuildError when dist/ cannot be created (its parent is a regular file), creating nothing', () => {
    const { file } = source();
    const parent = path.join(tempDir('out'), 'not-a-dir');
    fs.writeFileSync(parent, 'a file');
    const dist = path.join(parent, 'dist');
    const err = throwsBuildError(() => publishAtomically(file, dist, NAME), /^cannot create .*not-a-dir\/dist: ENOTDIR/);
    assert.equal(err.hint, 'make dist/ writable, or remove it');
    assert.equal(fs.readFileSync(parent, 'utf8'), 'a file');
    assert.equal(fs.existsSync(path.join(parent, 'dist')), false);
  });

  it('raises BuildError when the copy into an existing dist/ fails (/proc/self), leaving nothing', () => {
    // Not a new directory under /proc: node's recursive mkdir loops forever there (ENOENT from /proc is read as "parent missing").
    const { file } = source();
    const before = fs.readdirSync('/proc/self');
    throwsBuildError(() => publishAtomically(file, '/proc/self', NAME), /^cannot write the wheel to \/proc\/self: ENOENT.*; nothing was left behind$/s);
    assert.deepEqual(fs.readdirSync('/proc/self').filter((n) => n.includes(NAME)), []);
    assert.deepEqual(fs.readdirSync('/proc/self'), before);
  });

  it('raises BuildError when the copy fails, leaving dist/ empty', () => {
    const dist = tempDir('dist');
    throwsBuildError(() => publishAtomically(path.join(tempDir('scratch'), 'missing.whl'), dist, NAME), /^cannot write the wheel to .*: ENOENT.*; nothing was left behind$/s);
    assert.deepEqual(fs.readdirSync(dist), []);
  });

  it('raises BuildError when the final rename fails, removing the partial copy', () => {
    const { file } = source();
    const dist = tempDir('dist');
    fs.mkdirSync(path.join(dist, NAME)); // a non-empty directory where the wheel should go
    fs.writeFileSync(path.join(dist, NAME, 'keep'), 'x');
    throwsBuildError(() => publishAtomically(file, dist, NAME), /^cannot write the wheel to /);
    assert.deepEqual(fs.readdirSync(dist), [NAME], 'only the directory that was there; no .partial- file');
    assert.deepEqual(fs.readdirSync(path.join(dist, NAME)), ['keep']);
  });
});

describe('removePartialWheels', () => {
  it('removes .<name>.partial-<pid> files and keeps real wheels and other files', () => {
    const dist = tempDir('dist');
    for (const n of ['.x.whl.partial-123', `.${NAME}.partial-99999`, 'x.whl', NAME, '.x.whl.partial-abc', 'x.whl.partial-1', 'notes.txt']) {
      fs.writeFileSync(path.join(dist, n), n);
    }
    const removed = removePartialWheels(dist);
    assert.deepEqual(removed.sort(), [`.${NAME}.partial-99999`, '.x.whl.partial-123'].sort());
    assert.deepEqual(fs.readdirSync(dist).sort(), ['.x.whl.partial-abc', NAME, 'notes.txt', 'x.whl', 'x.whl.partial-1'].sort());
    assert.equal(fs.readFileSync(path.join(dist, 'x.whl'), 'utf8'), 'x.whl');
  });

  it('returns nothing for a missing dist/', () => {
    assert.deepEqual(removePartialWheels(path.join(tempDir('none'), 'dist')), []);
  });
});

describe('versions and hashes', () => {
  it('upstreamVersionOf undoes profileVersion', () => {
    for (const [local, post] of [[null, undefined], ['remote.1', undefined], ['remote.1', 2], [null, 3]] as const) {
      assert.equal(upstreamVersionOf(profileVersion('1.14.0', { distName: 'x', localVersion: local }, post)), '1.14.0');
    }
  });

  it('profileVersion adds .postN and +local', () => {
    assert.equal(profileVersion('1.14.0', { distName: 'ml-metadata-remote', localVersion: null }), '1.14.0');
    assert.equal(profileVersion('1.14.0', { distName: 'ml-metadata', localVersion: 'remote.1' }), '1.14.0+remote.1');
    assert.equal(profileVersion('1.14.0', { distName: 'ml-metadata', localVersion: 'remote.1' }, 2), '1.14.0.post2+remote.1');
  });

  it('readUpstreamVersion reads ml_metadata/version.py', () => {
    const dir = tempDir('src');
    fs.mkdirSync(path.join(dir, 'ml_metadata'));
    fs.writeFileSync(path.join(dir, 'ml_metadata', 'version.py'), "# comment\n__version__ = '1.14.0'\n");
    assert.equal(readUpstreamVersion(dir), '1.14.0');
    fs.writeFileSync(path.join(dir, 'ml_metadata', 'version.py'), 'VERSION = 1\n');
    assert.throws(() => readUpstreamVersion(dir), /cannot read __version__/);
  });

  it('sha256File hashes the bytes', () => {
    const { file, bytes } = source();
    assert.equal(sha256File(file), crypto.createHash('sha256').update(bytes).digest('hex'));
  });
});

describe('wheel file names (the one parser)', () => {
  it('splits name-version[-build]-python-abi-platform.whl with a PEP 440 version', () => {
    assert.deepEqual(parseWheelFileName('dist/ml_metadata_remote-1.14.0.post2-py3-none-any.whl'), { distribution: 'ml_metadata_remote', version: '1.14.0.post2', python: 'py3', abi: 'none', platform: 'any' });
    assert.deepEqual(parseWheelFileName('ml_metadata-1.14.0+remote.1-1build-py3-none-any.whl'), { distribution: 'ml_metadata', version: '1.14.0+remote.1', build: '1build', python: 'py3', abi: 'none', platform: 'any' });
    for (const bad of ['ml_metadata-1.14.0.tar.gz', 'ml_metadata-py3-none-any.whl', 'ml_metadata-not.a.version-py3-none-any.whl', 'a-1.0-x-py3-none-any.whl']) assert.equal(parseWheelFileName(bad), null, bad);
  });

  it('gives the upstream release of a version (post-release and local label dropped, pre-release kept)', () => {
    assert.deepEqual(['1.14.0', '1.14.0.post3', '1.14.0+remote.1', '1.14.0.post1+remote.2', '1.16.0rc0'].map(upstreamVersionOf), ['1.14.0', '1.14.0', '1.14.0', '1.14.0', '1.16.0rc0']);
  });

  it('lists the versions of one distribution on a simple index page, wheels and sdists', () => {
    const html = ['ml_metadata_remote-1.14.0-py3-none-any.whl', 'ml_metadata_remote-1.14.0.post1-py3-none-any.whl', 'ml-metadata-remote-1.14.0.post2.tar.gz', 'ml_metadata-1.14.0-cp310-cp310-manylinux_2_17_x86_64.whl', 'ml_metadata_remote_extra-9.0-py3-none-any.whl'].map((f) => `<a href="x">${f}</a>`).join('\n');
    assert.deepEqual(versionsOnIndex(html, 'ml-metadata-remote'), ['1.14.0', '1.14.0.post1', '1.14.0.post2']);
  });
});

describe('inspectWheel: what wheel_tool.py inspect prints', () => {
  const printing = (stdout: string): Runner => async (cmd, args) => ({ command: [cmd, ...args].join(' '), exitCode: 0, ok: true, durationMs: 1, stdout, stderr: '' });
  const project = { toolsDir: '/nowhere/tools' } as Project;
  const good = { path: '/d/x.whl', distInfo: 'x-1.0.dist-info', entries: [{ name: 'x/__init__.py', size: 0, sha256: 'e'.repeat(64), mode: '0o644', native: null }], wheel: { 'Root-Is-Purelib': ['true'] }, metadata: { Name: ['x'] }, recordProblems: [], extensionImports: [] };

  it('is read through its schema', async () => {
    assert.deepEqual(await inspectWheel(printing(JSON.stringify(good)), 'python3', project, '/d/x.whl'), good);
  });

  it('output that is not JSON, or lacks a field, is an error naming the wheel and the field', async () => {
    for (const [stdout, problem] of [
      ['Traceback (most recent call last):', /^the inspection of \/d\/x\.whl \(tools\/python\/wheel_tool\.py inspect\) is not JSON: /],
      [JSON.stringify({ ...good, entries: undefined }), /^the inspection of \/d\/x\.whl \(tools\/python\/wheel_tool\.py inspect\) is not valid: entries: /],
      [JSON.stringify({ ...good, entries: [{ ...good.entries[0], size: '0' }] }), /is not valid: entries\.0\.size: /],
    ] as const) {
      await assert.rejects(inspectWheel(printing(stdout), 'python3', project, '/d/x.whl'), (err: unknown) => err instanceof MlmdError && problem.test(err.message) && /git status tools\/python/.test(err.hint ?? ''));
    }
  });
});
