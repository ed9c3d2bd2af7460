/**
 * commands/build.ts, the parts that need no bazel: whether the wheel in dist/
 * is up to date (the stamp of the last build), and the builder version the
 * provenance names.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Project } from '../src/config.ts';
import { MlmdError } from '../src/errors.ts';
import { builderVersion, reuseWheel } from '../src/commands/build.ts';
import { sha256File } from '../src/wheel.ts';
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts';

after(cleanupFixtures);

const NAME = 'ml_metadata_remote-1.14.0-py3-none-any.whl';
const KEY = 'k'.repeat(64);

/** A work tree with a stamp file and a dist/ holding the wheel it names. */
function workTree(stamp: string | object): { stampFile: string; distDir: string; wheel: string } {
  const dir = tempDir('build');
  const distDir = path.join(dir, 'dist');
  fs.mkdirSync(distDir);
  const wheel = path.join(distDir, NAME);
  fs.writeFileSync(wheel, 'wheel bytes');
  const stampFile = path.join(dir, 'last-wheel.json');
  fs.writeFileSync(stampFile, typeof stamp === 'string' ? stamp : JSON.stringify(stamp));
  return { stampFile, distDir, wheel };
}

describe('the stamp of the last wheel build (last-wheel.json)', () => {
  const stampFor = (wheelBytes = 'wheel bytes') => {
    const f = path.join(tempDir('bytes'), 'w');
    fs.writeFileSync(f, wheelBytes);
    return { schemaVersion: 1, key: KEY, name: NAME, sha256: sha256File(f) };
  };

  it('reuses the wheel in dist/ when the inputs and the wheel are the same', () => {
    const { stampFile, distDir, wheel } = workTree(stampFor());
    assert.deepEqual(reuseWheel(stampFile, KEY, distDir), { path: wheel, name: NAME, sha256: sha256File(wheel), size: 11 });
  });

  it('rebuilds when the inputs or the wheel changed', () => {
    const { stampFile, distDir } = workTree(stampFor());
    assert.equal(reuseWheel(stampFile, 'other', distDir), null);
    const changed = workTree(stampFor('other bytes'));
    assert.equal(reuseWheel(changed.stampFile, KEY, changed.distDir), null);
  });

  it('rebuilds, without an error, when the stamp is missing, damaged, misshapen or of an older format', () => {
    const stamp = stampFor();
    const { schemaVersion: _, ...unversioned } = stamp;
    for (const [why, content] of [
      ['truncated', JSON.stringify(stamp).slice(0, 20)],
      ['not an object', '[]'],
      ['sha256 missing', { ...stamp, sha256: undefined }],
      ['key not a string', { ...stamp, key: 5 }],
      ['a name that is not a file in dist/', { ...stamp, name: `../${NAME}` }],
      ['written before the stamp had a schemaVersion', unversioned],
      ['another format version', { ...stamp, schemaVersion: 2 }],
    ] as const) {
      const { stampFile, distDir, wheel } = workTree(content);
      fs.copyFileSync(wheel, path.join(distDir, '..', NAME)); // where ../NAME would lead
      assert.equal(reuseWheel(stampFile, KEY, distDir), null, why);
    }
    const { stampFile, distDir } = workTree(stamp);
    fs.rmSync(stampFile);
    assert.equal(reuseWheel(stampFile, KEY, distDir), null, 'no stamp');
  });
});

describe('the builder version (package.json)', () => {
  const projectWith = (pkg: string): Project => {
    const root = tempDir('pkg');
    fs.writeFileSync(path.join(root, 'package.json'), pkg);
    return { root } as Project;
  };

  it('is package.json\'s version', () => {
    assert.equal(builderVersion(projectWith('{"name":"mlmd-remote","version":"0.1.0"}')), '0.1.0');
  });

  it('a package.json without a version, or not JSON, is an error naming it, with how to restore it', () => {
    for (const [pkg, problem] of [
      ['{"name":"mlmd-remote"}', /package\.json is not valid: version: /],
      ['{"name":', /package\.json is not JSON: /],
    ] as const) {
      assert.throws(
        () => builderVersion(projectWith(pkg)),
        (err: unknown) => err instanceof MlmdError && problem.test(err.message) && /git checkout -- package\.json/.test(err.hint ?? ''),
      );
    }
  });
});
