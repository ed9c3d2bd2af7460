/**
 * Reading patch files (header fields, diff section), the series list, path
 * safety, and applying a series on a scratch index of a fixture repo.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PatchError, UsageError } from '../src/errors.ts';
import { applySeries } from '../src/apply-series.ts';
import { parseDiff } from '../src/git-diff.ts';
import { checkSeriesPaths } from '../src/patch-paths.ts';
import { parseHeader, parsePatch, parsePatchFile, type Patch } from '../src/patchfile.ts';
import { readSeries, readSeriesList } from '../src/series.ts';
import { cleanupFixtures, git, makeRepo, patchFromCommit, patchMessage, tempDir, writeTree, type Repo } from './helpers/fixtures.ts';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

after(cleanupFixtures);

function lines(n: number, change: Record<number, string> = {}, prefix = 'line'): string {
  return Array.from({ length: n }, (_, i) => `${change[i + 1] ?? `${prefix} ${i + 1}`}\n`).join('');
}

function throwsPatchError(fn: () => unknown, message: RegExp): PatchError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PatchError, `expected a PatchError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 4);
  assert.match(caught.message, message);
  return caught;
}

function throwsUsageError(fn: () => unknown, message: RegExp): UsageError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 2);
  assert.match(caught.message, message);
  return caught;
}

// ---------------------------------------------------------------------------

describe('parsing a patch file made by git format-patch', () => {
  let repo: Repo;
  let base: string;
  let dir: string;

  before(async () => {
    repo = await makeRepo({
      'a.txt': lines(20),
      'old-name.txt': lines(8, {}, 'text'),
      'gone.txt': 'bye\n',
      'tool.sh': '#!/bin/sh\necho hi\n',
      'café.txt': 'x\n',
      'sp ace.txt': 'a\n',
    });
    base = await repo.head();
    dir = tempDir('patches');
  });

  it('reads Subject, From, Date and the Why / Upstream-Status / Drop-When trailers, joining indented continuation lines', async () => {
    const message =
      'BUILD: a subject that is long enough for git to fold it over two lines of the mail header\n\n' +
      'Some prose about the change.\n\n' +
      'Why: the first line of the reason\n' +
      '  and its indented continuation\n' +
      '\tand a tab-indented one\n' +
      'Upstream-Status: Submitted [https://example.invalid/pr/1]\n' +
      'Drop-When: upstream merges\n' +
      '  the pull request\n';
    const { file } = await patchFromCommit(repo, { base, files: { 'a.txt': lines(20, { 3: 'three' }) }, subject: '', message, file: path.join(dir, 'header.patch') });
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /^Subject: \[PATCH\] BUILD: a subject that is long enough [^\n]*\n [^\n]*header$/m, 'git folded the subject (the continuation case is real)');
    const patch = parsePatchFile(file);
    assert.equal(patch.name, 'header.patch');
    assert.equal(patch.file, file);
    assert.deepEqual(patch.header, {
      subject: 'BUILD: a subject that is long enough for git to fold it over two lines of the mail header',
      from: 'mlmd-remote <mlmd-remote@invalid>',
      date: patch.header.date,
      why: 'the first line of the reason and its indented continuation and a tab-indented one',
      upstreamStatus: 'Submitted [https://example.invalid/pr/1]',
      dropWhen: 'upstream merges the pull request',
    });
    assert.match(patch.header.date!, /^\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/);
    assert.equal(patch.headerText + patch.diffText, text);
    assert.ok(patch.diffText.startsWith('diff --git a/a.txt b/a.txt\n'));
    assert.match(patch.sha256, /^[0-9a-f]{64}$/);
  });

  it('strips a numbered [PATCH n/m] prefix from the subject', () => {
    const header = parseHeader('n.patch', 'From 0 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/4] setup.py: a pure wheel\n\nWhy: w\nUpstream-Status: Pending\nDrop-When: d\n---\n');
    assert.equal(header.subject, 'setup.py: a pure wheel');
  });

  it('names every missing header field in the PatchError', async () => {
    const { file } = await patchFromCommit(repo, {
      base,
      files: { 'a.txt': lines(20, { 5: 'five' }) },
      subject: '',
      message: 'A subject\n\nWhy: only this one is there\n',
      file: path.join(dir, 'missing.patch'),
    });
    throwsPatchError(() => parsePatchFile(file), /^missing\.patch lacks the header fields Upstream-Status, Drop-When$/);
  });

  it('names a single missing field, and a missing subject', () => {
    throwsPatchError(() => parseHeader('one.patch', 'Subject: [PATCH] s\n\nWhy: w\nUpstream-Status: Pending\n---\n'), /^one\.patch lacks the header field Drop-When$/);
    throwsPatchError(() => parseHeader('nosubj.patch', 'From: x <x@y>\n\nWhy: w\nUpstream-Status: Pending\nDrop-When: d\n'), /^nosubj\.patch lacks the header field Subject$/);
  });

  it('does not take trailers from the diffstat below the --- line', () => {
    const header = 'Subject: [PATCH] s\n\nWhy: w\nUpstream-Status: Pending\n---\nDrop-When: hidden below the cut\n';
    throwsPatchError(() => parseHeader('cut.patch', header), /lacks the header field Drop-When/);
  });

  it('rejects a patch that is not valid UTF-8 with a PatchError', async () => {
    const { file } = await patchFromCommit(repo, { base, files: { 'a.txt': lines(20, { 7: 'seven' }) }, subject: 'latin-1 inside', file: path.join(dir, 'latin1.patch') });
    const text = fs.readFileSync(file);
    const at = text.indexOf('Why: ') + 'Why: '.length;
    const bad = Buffer.concat([text.subarray(0, at), Buffer.from([0xe9]), text.subarray(at)]); // a Latin-1 "é"
    const err = throwsPatchError(() => parsePatch('latin1.patch', file, bad), /^latin1\.patch is not valid UTF-8 \(first bad byte at offset \d+\)$/);
    assert.match(err.message, new RegExp(`offset ${at}\\)`));
  });

  it('reports the offset of the first bad byte when it follows a multi-byte character', () => {
    const bytes = Buffer.from([0x63, 0x61, 0x66, 0xc3, 0xa9, 0xff]); // "café" then an invalid byte
    throwsPatchError(() => parsePatch('x.patch', 'x.patch', bytes), /first bad byte at offset 5\)/);
  });

  it('rejects a mail with no diff --git section', async () => {
    const { file } = await patchFromCommit(repo, { base, files: { 'a.txt': lines(20, { 9: 'nine' }) }, subject: 'no diff', file: path.join(dir, 'nodiff.patch') });
    const text = fs.readFileSync(file, 'utf8');
    const headerOnly = Buffer.from(text.slice(0, text.indexOf('diff --git ')));
    throwsPatchError(() => parsePatch('nodiff.patch', file, headerOnly), /^nodiff\.patch contains no "diff --git" section$/);
  });

  it('rejects a truncated hunk (cut at the end of the file)', async () => {
    const { file } = await patchFromCommit(repo, { base, files: { 'a.txt': lines(20, { 10: 'ten', 11: 'eleven' }) }, subject: 'truncated', file: path.join(dir, 'trunc.patch') });
    const text = fs.readFileSync(file, 'utf8');
    const cut = text.slice(0, text.indexOf('+eleven\n')); // drops "+eleven" and the trailing context
    throwsPatchError(() => parsePatch('trunc.patch', file, Buffer.from(cut)), /^trunc\.patch: hunk 1 of a\.txt is truncated$/);
  });

  it('rejects a hunk that ends early (the next file starts before its lines are all there)', async () => {
    const { file } = await patchFromCommit(repo, {
      base,
      files: { 'a.txt': lines(20, { 12: 'twelve' }), 'gone.txt': 'still here\n' },
      subject: 'two files',
      file: path.join(dir, 'early.patch'),
    });
    const text = fs.readFileSync(file, 'utf8');
    const broken = text.replace(' line 15\n', ''); // the a.txt hunk loses a context line
    assert.notEqual(broken, text);
    throwsPatchError(() => parsePatch('early.patch', file, Buffer.from(broken)), /^early\.patch: hunk 1 of a\.txt ends early at "diff --git a\/gone\.txt b\/gone\.txt"$/);
  });

  it('reads add, delete, rename and mode-change entries', async () => {
    const { file } = await patchFromCommit(repo, {
      base,
      files: {
        'new.txt': 'brand new\n',
        'gone.txt': null,
        'old-name.txt': null,
        'new-name.txt': lines(9, {}, 'text'),
        'tool.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      },
      subject: 'all kinds',
      file: path.join(dir, 'kinds.patch'),
    });
    const files = parsePatchFile(file).files;
    const byPath = new Map(files.map((f) => [f.newPath ?? f.oldPath, f]));
    assert.equal(files.length, 4);
    assert.deepEqual(byPath.get('new.txt'), { kind: 'add', oldPath: null, newPath: 'new.txt', newMode: '100644', binary: false, hunks: [{ oldStart: 0, oldLines: 0, newStart: 1, newLines: 1 }] });
    assert.deepEqual(byPath.get('gone.txt'), { kind: 'delete', oldPath: 'gone.txt', newPath: null, oldMode: '100644', binary: false, hunks: [{ oldStart: 1, oldLines: 1, newStart: 0, newLines: 0 }] });
    assert.deepEqual(byPath.get('new-name.txt'), { kind: 'rename', oldPath: 'old-name.txt', newPath: 'new-name.txt', binary: false, hunks: [{ oldStart: 6, oldLines: 3, newStart: 6, newLines: 4 }] });
    assert.deepEqual(byPath.get('tool.sh'), { kind: 'modify', oldPath: 'tool.sh', newPath: 'tool.sh', oldMode: '100644', newMode: '100755', binary: false, hunks: [] });
  });

  it('unquotes C-quoted non-ASCII paths', async () => {
    const { file } = await patchFromCommit(repo, { base, files: { 'café.txt': 'y\n' }, subject: 'quoted', file: path.join(dir, 'quoted.patch'), quotePath: true });
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.includes('diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"'), 'git quoted the path');
    const files = parsePatchFile(file).files;
    assert.deepEqual(files.map((f) => [f.kind, f.oldPath, f.newPath]), [['modify', 'café.txt', 'café.txt']]);
  });

  it('unquotes a path git always quotes (a double quote and a tab in the name)', async () => {
    const name = 'we"ird\tname.txt';
    const { file } = await patchFromCommit(repo, { base, files: { [name]: 'x\n' }, subject: 'odd name', file: path.join(dir, 'odd.patch') });
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.includes('diff --git "a/we\\"ird\\tname.txt" "b/we\\"ird\\tname.txt"\n'), text);
    const files = parsePatchFile(file).files;
    assert.deepEqual(files.map((f) => [f.kind, f.oldPath, f.newPath]), [['add', null, name]]);
    const diffOnly = parseDiff('odd.patch', text.slice(text.indexOf('diff --git')));
    assert.deepEqual(diffOnly, files);
  });

  it('reads a path that contains a space (git does not quote it on the diff --git line)', async () => {
    const { file } = await patchFromCommit(repo, { base, files: { 'sp ace.txt': 'b\n' }, subject: 'space', file: path.join(dir, 'space.patch') });
    assert.ok(fs.readFileSync(file, 'utf8').includes('diff --git a/sp ace.txt b/sp ace.txt\n'));
    const files = parsePatchFile(file).files;
    assert.deepEqual(files.map((f) => [f.kind, f.oldPath, f.newPath]), [['modify', 'sp ace.txt', 'sp ace.txt']]);
  });

  it('decodes an RFC 2047 encoded (non-ASCII) subject', async () => {
    const { file } = await patchFromCommit(repo, { base, files: { 'a.txt': lines(20, { 14: 'fourteen' }) }, subject: 'docs: café', file: path.join(dir, 'rfc2047.patch') });
    assert.match(fs.readFileSync(file, 'utf8'), /^Subject: \[PATCH\] =\?UTF-8\?q\?/m);
    assert.equal(parsePatchFile(file).header.subject, 'docs: café');
  });

  describe('unsafe paths', () => {
    let safe: string;
    before(async () => {
      ({ file: safe } = await patchFromCommit(repo, { base, files: { 'evil.txt': 'x\n' }, subject: 'adds a file', file: path.join(dir, 'safe.patch') }));
    });

    for (const [unsafe, reason] of [
      ['../x', 'climbs out of the tree with ".."'],
      ['/etc/passwd', 'is absolute'],
      ['a/.git/config', 'writes into a .git directory'],
      ['a/./b', 'has an empty or "." component'],
    ] as const) {
      it(`refuses "${unsafe}" (${reason})`, () => {
        const text = fs.readFileSync(safe, 'utf8').replaceAll('a/evil.txt', `a/${unsafe}`).replaceAll('b/evil.txt', `b/${unsafe}`);
        const patch = parsePatch('unsafe.patch', safe, Buffer.from(text));
        assert.equal(patch.files[0]!.newPath, unsafe);
        const err = throwsPatchError(() => checkSeriesPaths([patch]), /^refusing a patch that would write outside upstream\/:/);
        assert.ok(err.message.includes(`unsafe.patch: the path "${unsafe}" ${reason}`), err.message);
      });
    }

    it('accepts the same patch with an ordinary path', () => {
      assert.doesNotThrow(() => checkSeriesPaths([parsePatchFile(safe)]));
    });

    it('lists every unsafe path of every patch', () => {
      const mk = (p: string, name: string) => parsePatch(name, safe, Buffer.from(fs.readFileSync(safe, 'utf8').replaceAll('b/evil.txt', `b/${p}`)));
      const err = throwsPatchError(() => checkSeriesPaths([mk('../one', 'one.patch'), parsePatchFile(safe), mk('.git/hooks/x', 'two.patch')]), /refusing/);
      assert.deepEqual(err.message.split('\n').slice(1).map((l) => l.trim()), [
        'one.patch: the path "../one" climbs out of the tree with ".."',
        'two.patch: the path ".git/hooks/x" writes into a .git directory',
      ]);
    });
  });
});

// ---------------------------------------------------------------------------

describe('the series list', () => {
  it('skips comments and blank lines and keeps the order', () => {
    const dir = tempDir('series');
    const file = path.join(dir, 'series');
    fs.writeFileSync(file, '# header comment\n\nfirst.patch\n  second.patch   # trailing comment\n\r\n# third.patch\nthird.patch\r\n');
    assert.deepEqual(readSeriesList(file).map((e) => e.name), ['first.patch', 'second.patch', 'third.patch']);
  });

  it('places a plain name in patches/ and ../NAME at the project root', () => {
    const file = path.join(tempDir('series'), 'series');
    fs.writeFileSync(file, '../WORKSPACE.patch\none.patch\n');
    assert.deepEqual(readSeriesList(file), [
      { name: 'WORKSPACE.patch', path: 'WORKSPACE.patch' },
      { name: 'one.patch', path: 'patches/one.patch' },
    ]);
  });

  it('rejects a duplicate, naming both lines', () => {
    const file = path.join(tempDir('series'), 'series');
    fs.writeFileSync(file, 'a.patch\nb.patch\n\na.patch\n../b.patch\n');
    const err = throwsUsageError(() => readSeriesList(file), /is invalid/);
    assert.ok(err.message.includes('line 4: a.patch is listed twice (first on line 1); a file name names one patch, in patches/ or at the root'), err.message);
    assert.ok(err.message.includes('line 5: b.patch is listed twice (first on line 2); a file name names one patch, in patches/ or at the root'), err.message);
  });

  it('rejects path-like names', () => {
    const file = path.join(tempDir('series'), 'series');
    fs.writeFileSync(file, 'ok.patch\n../../escape.patch\nsub/dir.patch\nback\\slash.patch\n.hidden.patch\n../sub/x.patch\n../.git\n../mlmd-remote.json\n../upstream\nseries\n');
    const err = throwsUsageError(() => readSeriesList(file), /is invalid/);
    const rule = 'must be a file name inside patches/, or ../NAME.patch for a patch at the project root';
    assert.deepEqual(err.message.split('\n').slice(1).map((l) => l.trim()), [
      `line 2: "../../escape.patch" ${rule}`,
      `line 3: "sub/dir.patch" ${rule}`,
      `line 4: "back\\slash.patch" ${rule}`,
      `line 5: ".hidden.patch" ${rule}`,
      `line 6: "../sub/x.patch" ${rule}`,
      `line 7: "../.git" ${rule}`,
      `line 8: "../mlmd-remote.json" ${rule}`,
      `line 9: "../upstream" ${rule}`,
      `line 10: "series" ${rule}`,
    ]);
  });

  it('rejects a series file that does not exist', () => {
    const file = path.join(tempDir('series'), 'series');
    throwsUsageError(() => readSeriesList(file), /does not exist/);
  });

  describe('readSeries', () => {
    let root: string;
    let wsPatch: string;
    let p1: string;

    before(async () => {
      const repo = await makeRepo({ WORKSPACE: 'workspace()\nload("x")\n', 'a.txt': 'a\n' });
      const base = await repo.head();
      root = tempDir('project');
      ({ file: wsPatch } = await patchFromCommit(repo, { base, files: { WORKSPACE: 'workspace()\n' }, subject: 'WORKSPACE: trim', file: path.join(root, 'WORKSPACE.patch') }));
      ({ file: p1 } = await patchFromCommit(repo, { base, files: { 'a.txt': 'b\n' }, subject: 'a: b', file: path.join(root, 'patches', 'one.patch') }));
    });
    const opts = () => ({ root, seriesFile: path.join(root, 'patches', 'series') });

    it('reads the series in order, a patch at the root like any other', () => {
      fs.writeFileSync(path.join(root, 'patches', 'series'), '# comment\n../WORKSPACE.patch\none.patch\n');
      const series = readSeries(opts());
      assert.deepEqual(series.patches.map((p) => [p.name, p.path, p.file, p.header.subject]), [
        ['WORKSPACE.patch', 'WORKSPACE.patch', wsPatch, 'WORKSPACE: trim'],
        ['one.patch', 'patches/one.patch', p1, 'a: b'],
      ]);
      fs.writeFileSync(path.join(root, 'patches', 'series'), 'one.patch\n../WORKSPACE.patch\n');
      assert.deepEqual(readSeries(opts()).patches.map((p) => p.name), ['one.patch', 'WORKSPACE.patch']);
    });

    it('refuses a patch at the root that the series does not list, naming the line to add', () => {
      fs.writeFileSync(path.join(root, 'patches', 'series'), '# the layout before ../NAME lines\none.patch\n');
      const err = throwsUsageError(() => readSeries(opts()), /^WORKSPACE\.patch is a patch at the project root that patches\/series does not list$/);
      assert.match(err.hint!, /add \.\.\/WORKSPACE\.patch to patches\/series where it applies in the order/);
      assert.match(err.hint!, /otherwise move it out of the project root$/);
    });

    it('rejects an empty series with a UsageError', () => {
      fs.writeFileSync(path.join(root, 'patches', 'series'), '# nothing here\n\n');
      throwsUsageError(() => readSeries(opts()), /lists no patch/);
    });

    it('rejects a series naming missing files, listing each', () => {
      fs.writeFileSync(path.join(root, 'patches', 'series'), '../WORKSPACE.patch\none.patch\nnot-there.patch\nalso-missing.patch\n');
      const err = throwsUsageError(() => readSeries(opts()), /^the series names patch files that do not exist:/);
      assert.deepEqual(err.message.split('\n').slice(1).map((l) => l.trim()), ['patches/not-there.patch', 'patches/also-missing.patch']);
      assert.equal(err.hint, 'restore them (git checkout HEAD -- patches/not-there.patch patches/also-missing.patch) or remove their lines from patches/series');
    });
  });
});

// ---------------------------------------------------------------------------

describe('the real patches of this repository', () => {
  const expected: Record<string, string> = {
    'WORKSPACE.patch': 'WORKSPACE: keep only what Python proto generation needs',
    'build-generate-only-the-python-modules.patch': 'BUILD: generate only the Python modules, not the native extension',
    'metadata-store-grpc-only.patch': 'metadata_store: gRPC only, no native extension',
    'setup-pure-wheel-named-by-build-profile.patch': 'setup.py: a pure wheel, named by build profile',
    'mlmd-types-without-the-native-extension.patch': 'mlmd_types: load the simple types without the native extension',
    'ml-metadata-warn-when-another-distribution-installs-the-same.patch': 'ml_metadata: warn when another distribution installs the same package',
    'setup-py-describe-the-remote-only-package.patch': 'setup.py: describe the remote-only package',
  };

  it('every patch file in patches/ and WORKSPACE.patch parses, with its subject and all header fields', () => {
    const files = [path.join(projectRoot, 'WORKSPACE.patch'), ...fs.readdirSync(path.join(projectRoot, 'patches')).filter((n) => n.endsWith('.patch')).map((n) => path.join(projectRoot, 'patches', n))];
    assert.deepEqual(files.map((f) => path.basename(f)).sort(), Object.keys(expected).sort());
    for (const f of files) {
      const patch = parsePatchFile(f);
      assert.equal(patch.header.subject, expected[patch.name], patch.name);
      assert.equal(patch.header.upstreamStatus, 'Inappropriate [remote-only build]', patch.name);
      assert.ok(patch.header.why.length > 20 && !patch.header.why.includes('\n'), `${patch.name}: Why is one joined line`);
      assert.ok(patch.header.dropWhen.length > 4, patch.name);
      assert.ok(patch.files.length > 0, patch.name);
      for (const change of patch.files) assert.ok(change.hunks.length > 0 || change.newMode, `${patch.name}: ${change.newPath} has hunks`);
    }
    assert.equal(parsePatchFile(path.join(projectRoot, 'WORKSPACE.patch')).header.dropWhen, 'never; re-trim on each upstream tag');
  });

  it('readSeries gives the order of patches/series, WORKSPACE.patch first, and every path is safe', () => {
    const series = readSeries({ root: projectRoot, seriesFile: path.join(projectRoot, 'patches', 'series') });
    assert.deepEqual(series.patches.map((p) => p.name), [
      'WORKSPACE.patch',
      'build-generate-only-the-python-modules.patch',
      'metadata-store-grpc-only.patch',
      'setup-pure-wheel-named-by-build-profile.patch',
      'mlmd-types-without-the-native-extension.patch',
      'ml-metadata-warn-when-another-distribution-installs-the-same.patch',
      'setup-py-describe-the-remote-only-package.patch',
    ]);
    assert.doesNotThrow(() => checkSeriesPaths(series.patches));
  });
});

// ---------------------------------------------------------------------------

describe('applySeries on a fixture repository', () => {
  let repo: Repo;
  let base: string;
  let dir: string;
  const A = lines(30);

  before(async () => {
    repo = await makeRepo({
      'a.txt': A,
      'b.txt': lines(5, {}, 'bee'),
      'gone.txt': 'bye\n',
      'old-name.txt': lines(8, {}, 'text'),
      'tool.sh': '#!/bin/sh\necho hi\n',
      'crlf.txt': 'one\r\ntwo\r\nthree\r\nfour\r\n',
    });
    base = await repo.head();
    dir = tempDir('apply-patches');
  });

  async function mk(name: string, files: Parameters<typeof writeTree>[1], onto = base): Promise<Patch> {
    const { file } = await patchFromCommit(repo, { base: onto, files, subject: `subject of ${name}`, file: path.join(dir, name) });
    return parsePatchFile(file);
  }

  it('applies a clean patch: status clean, no offsets, a tree with the change', async () => {
    const p = await mk('clean.patch', { 'a.txt': lines(30, { 5: 'five' }) });
    const seen: string[] = [];
    const res = await applySeries({ git, repoDir: repo.dir, baseCommit: base, patches: [p], onPatch: (r) => seen.push(`${r.name}:${r.status}`) });
    assert.equal(res.ok, true);
    assert.equal(res.baseCommit, base);
    assert.deepEqual(res.patches, [{ name: 'clean.patch', path: 'clean.patch', subject: 'subject of clean.patch', sha256: p.sha256, status: 'clean', offsets: [] }]);
    assert.deepEqual(seen, ['clean.patch:clean']);
    assert.equal(await repo.blob(`${res.tree}:a.txt`), lines(30, { 5: 'five' }));
  });

  it('reports an offset with the hunk number and the number of lines', async () => {
    // Two hunks; upstream then inserts three lines between them, so only hunk 2 moves.
    const p = await mk('offset.patch', { 'a.txt': lines(30, { 2: 'two', 25: 'twenty-five' }) });
    assert.equal(p.files[0]!.hunks.length, 2);
    const moved = await patchFromCommit(repo, { base, files: { 'a.txt': A.replace('line 12\n', 'line 12\nnew a\nnew b\nnew c\n') }, subject: 'upstream inserts', file: path.join(dir, 'upstream.patch') });
    const res = await applySeries({ git, repoDir: repo.dir, baseCommit: moved.commit, patches: [p] });
    assert.equal(res.ok, true);
    assert.deepEqual(res.patches.map((r) => [r.status, r.offsets]), [['offset', [{ file: 'a.txt', hunk: 2, offset: 3 }]]]);
    assert.equal(await repo.blob(`${res.tree}:a.txt`), lines(30, { 2: 'two', 25: 'twenty-five' }).replace('line 12\n', 'line 12\nnew a\nnew b\nnew c\n'));
  });

  it('reports a negative offset when upstream removed lines above the hunk', async () => {
    const p = await mk('neg.patch', { 'a.txt': lines(30, { 20: 'twenty' }) });
    const shrunk = await patchFromCommit(repo, { base, files: { 'a.txt': A.replace('line 3\nline 4\n', '') }, subject: 'upstream removes', file: path.join(dir, 'upstream-neg.patch') });
    const res = await applySeries({ git, repoDir: repo.dir, baseCommit: shrunk.commit, patches: [p] });
    assert.deepEqual(res.patches[0]!.offsets, [{ file: 'a.txt', hunk: 1, offset: -2 }]);
    assert.equal(res.patches[0]!.status, 'offset');
  });

  it('stops at a conflicting patch: failed with file and hunk, later patches skipped, the repository untouched', async () => {
    const first = await mk('first.patch', { 'b.txt': lines(5, { 1: 'BEE' }, 'bee') });
    const conflicting = await mk('conflict.patch', { 'a.txt': lines(30, { 3: 'three', 26: 'twenty-six' }) });
    const later = await mk('later.patch', { 'gone.txt': 'hello again\n' });
    const upstreamChange = await patchFromCommit(repo, { base, files: { 'a.txt': lines(30, { 26: 'upstream rewrote 26' }) }, subject: 'upstream edits', file: path.join(dir, 'upstream-edit.patch') });
    // The repository has its own state: HEAD on main, a staged change, an unstaged one, an untracked file.
    await repo.run(['checkout', '--quiet', 'main']);
    writeTree(repo.dir, { 'b.txt': 'staged\n' });
    await repo.run(['add', 'b.txt']);
    writeTree(repo.dir, { 'a.txt': 'unstaged\n', 'untracked.txt': 'u\n' });
    const before = { head: await repo.head(), status: await repo.status(), index: await repo.out(['ls-files', '-s']), a: fs.readFileSync(path.join(repo.dir, 'a.txt'), 'utf8') };
    assert.equal(before.status, ' M a.txt\nM  b.txt\n?? untracked.txt\n');

    const res = await applySeries({ git, repoDir: repo.dir, baseCommit: upstreamChange.commit, patches: [first, conflicting, later] });
    assert.equal(res.ok, false);
    assert.equal(res.tree, undefined);
    assert.deepEqual(res.patches.map((r) => [r.name, r.status]), [
      ['first.patch', 'clean'],
      ['conflict.patch', 'failed'],
      ['later.patch', 'skipped'],
    ]);
    const failure = res.patches[1]!.failure!;
    assert.equal(failure.file, 'a.txt');
    assert.equal(failure.hunk, 2);
    assert.equal(failure.line, conflicting.files[0]!.hunks[1]!.oldStart);
    assert.equal(failure.message, `hunk #2 at line ${failure.line} of a.txt does not match upstream`);

    assert.equal(await repo.head(), before.head);
    assert.equal(await repo.status(), before.status);
    assert.equal(await repo.out(['ls-files', '-s']), before.index);
    assert.equal(fs.readFileSync(path.join(repo.dir, 'a.txt'), 'utf8'), before.a);
    await repo.run(['reset', '--quiet', '--hard']);
    await repo.run(['clean', '-fdxq']);
  });

  it('refuses a patch that writes through a committed symbolic link', async () => {
    const linkRepo = await makeRepo({ 'README': 'r\n' });
    const noLink = await linkRepo.head();
    const withLink = await linkRepo.commit({ link: { symlink: '/tmp' } }, 'a link to /tmp');
    // The patch is made where link/ is a plain directory, then applied where it is a symlink.
    const { file } = await patchFromCommit(linkRepo, { base: noLink, files: { 'link/evil': 'pwned\n' }, subject: 'adds link/evil', file: path.join(dir, 'evil.patch') });
    const after1 = await patchFromCommit(linkRepo, { base: withLink, files: { 'README': 'r2\n' }, subject: 'harmless', file: path.join(dir, 'harmless.patch') });
    assert.equal((await linkRepo.lsTree(withLink)).get('link')!.mode, '120000');
    const res = await applySeries({ git, repoDir: linkRepo.dir, baseCommit: withLink, patches: [parsePatchFile(file), parsePatchFile(after1.file)] });
    assert.equal(res.ok, false);
    assert.equal(res.patches[0]!.status, 'failed');
    assert.equal(res.patches[0]!.failure!.file, 'link/evil');
    assert.match(res.patches[0]!.failure!.message, /through the symbolic link link\b/);
    assert.equal(res.patches[1]!.status, 'skipped');
    assert.equal(fs.existsSync('/tmp/evil'), false);
  });

  it('applies add, delete, rename and chmod, giving the expected tree entries and modes', async () => {
    const p = await mk('kinds.patch', {
      'new/added.txt': 'added\n',
      'gone.txt': null,
      'old-name.txt': null,
      'new-name.txt': lines(8, {}, 'text') + 'one more\n',
      'tool.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      'run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
    });
    assert.deepEqual(p.files.map((f) => f.kind).sort(), ['add', 'add', 'delete', 'modify', 'rename']);
    const res = await applySeries({ git, repoDir: repo.dir, baseCommit: base, patches: [p] });
    assert.equal(res.ok, true, JSON.stringify(res.patches));
    const tree = await repo.lsTree(res.tree!);
    const modes = Object.fromEntries([...tree].map(([p, e]) => [p, e.mode]));
    assert.deepEqual(modes, {
      'a.txt': '100644',
      'b.txt': '100644',
      'crlf.txt': '100644',
      'new-name.txt': '100644',
      'new/added.txt': '100644',
      'run.sh': '100755',
      'tool.sh': '100755',
    });
    assert.equal(await repo.blob(`${res.tree}:new-name.txt`), lines(8, {}, 'text') + 'one more\n');
    assert.equal(await repo.blob(`${res.tree}:new/added.txt`), 'added\n');
    assert.equal(tree.get('tool.sh')!.id, (await repo.lsTree(base)).get('tool.sh')!.id, 'chmod keeps the content');
  });

  it('keeps CRLF line endings in a CRLF file it modifies', async () => {
    const p = await mk('crlf.patch', { 'crlf.txt': 'one\r\nTWO\r\nthree\r\nfour\r\n' });
    assert.ok(fs.readFileSync(p.file, 'utf8').includes('-two\r\n+TWO\r\n'), 'the patch carries the CRs');
    const res = await applySeries({ git, repoDir: repo.dir, baseCommit: base, patches: [p] });
    assert.equal(res.patches[0]!.status, 'clean');
    assert.equal(await repo.blob(`${res.tree}:crlf.txt`), 'one\r\nTWO\r\nthree\r\nfour\r\n');
  });

  it('applies a stack in order, each patch on the result of the previous one', async () => {
    const one = await patchFromCommit(repo, { base, files: { 'b.txt': lines(5, { 2: 'second' }, 'bee') }, subject: 'one', file: path.join(dir, 'stack-1.patch') });
    const two = await patchFromCommit(repo, { base: one.commit, files: { 'b.txt': lines(5, { 2: 'second', 4: 'fourth' }, 'bee') }, subject: 'two', file: path.join(dir, 'stack-2.patch') });
    const res = await applySeries({ git, repoDir: repo.dir, baseCommit: base, patches: [parsePatchFile(one.file), parsePatchFile(two.file)] });
    assert.deepEqual(res.patches.map((r) => r.status), ['clean', 'clean']);
    assert.equal(res.tree, await repo.out(['rev-parse', `${two.commit}^{tree}`]));
    // Reversed, the second no longer applies.
    const rev = await applySeries({ git, repoDir: repo.dir, baseCommit: base, patches: [parsePatchFile(two.file), parsePatchFile(one.file)] });
    assert.deepEqual(rev.patches.map((r) => r.status), ['failed', 'skipped']);
    assert.equal(rev.patches[0]!.failure!.file, 'b.txt');
  });

  it('fails a patch for a file upstream deleted, naming the file', async () => {
    const p = await mk('needs-gone.patch', { 'gone.txt': 'changed\n' });
    const removed = await patchFromCommit(repo, { base, files: { 'gone.txt': null }, subject: 'upstream deletes', file: path.join(dir, 'upstream-del.patch') });
    const res = await applySeries({ git, repoDir: repo.dir, baseCommit: removed.commit, patches: [p] });
    assert.equal(res.ok, false);
    assert.equal(res.patches[0]!.status, 'failed');
    assert.deepEqual(res.patches[0]!.failure, { file: 'gone.txt', message: 'gone.txt: does not exist in index' });
  });

  it('uses patchMessage trailers that parse back (fixture self-check)', () => {
    const msg = patchMessage('s', { why: 'w', upstreamStatus: 'Pending', dropWhen: 'd' });
    assert.equal(msg, 's\n\nw\n\nWhy: w\nUpstream-Status: Pending\nDrop-When: d\n');
  });
});
