/**
 * tools/platform/releases.tsv is read by bash (lib-rootfs.sh, for rootfs.sh
 * and build-image.sh) and by src/releases.ts: both must see the same rows,
 * refuse the same broken files, and agree with what uses them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PLATFORMS } from '../src/platforms.ts';
import { parseRootfsTable, releasePlatform, releaseRootfs, RELEASES_FILE, ROOTFS_TABLE, SERVER_PLATFORM, SERVER_PYTHON } from '../src/releases.ts';
import { projectRoot } from './helpers/real-upstream.ts';

/** Runs `script` in bash after sourcing `lib` (relative to the project), with `table` as the table when given. */
function shell(lib: string, script: string, table?: string) {
  const pre = table ? 'rootfs_table=$1; ' : '';
  return spawnSync('bash', ['-c', `set -euo pipefail; . ${lib}; ${pre}${script}`, 'bash', ...(table ? [table] : [])], { cwd: projectRoot, encoding: 'utf8' });
}

describe('the table of root filesystems', () => {
  it('reads the same rows from bash and from TypeScript', () => {
    const res = shell('tools/platform/lib-rootfs.sh', 'rootfs_rows');
    assert.equal(res.status, 0, res.stderr);
    assert.deepEqual(res.stdout.trim().split('\n'), ROOTFS_TABLE.map((r) => [r.kind, r.name, r.debian, r.arch, r.python, r.machine].join(' ')));
  });

  it('has rootfs.sh\'s platforms, the ones mlmd-remote offers, with the same recipes', () => {
    const res = shell('tools/platform/rootfs.sh', 'echo "$platforms"; for p in $platforms; do recipe_for "$p"; echo "$p $suite $arch $want_py $machine"; done');
    assert.equal(res.status, 0, res.stderr);
    const [names, ...recipes] = res.stdout.trim().split('\n');
    assert.equal(names, PLATFORMS.join(' '));
    assert.deepEqual(recipes, ROOTFS_TABLE.filter((r) => r.kind === 'platform').map((r) => [r.name, r.debian, r.arch, r.python, r.machine].join(' ')));
  });

  it('has a row for every release a server venv pins, which build-image.sh reads as TypeScript does', () => {
    const dir = path.join(projectRoot, 'tools', 'reference_server');
    const pinned = fs.readdirSync(dir).filter((f) => /^requirements(-.+)?\.txt$/.test(f))
      .map((f) => /^ml-metadata==(\S+)/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'))?.[1]).filter((v) => v !== undefined);
    assert.ok(pinned.includes('1.14.0') && pinned.includes('1.16.0'), pinned.join(' '));
    for (const v of pinned) {
      const res = shell('tools/platform/lib-rootfs.sh', `rootfs_row release ${v} && echo "$row_debian $row_python"`);
      assert.equal(res.status, 0, `${v}: ${res.stderr}`);
      const row = releaseRootfs(v);
      assert.ok(row, `a release row for ${v}`);
      assert.equal(res.stdout.trim(), `${row.debian} ${row.python}`);
    }
    // What build-image.sh and serve.sh chose before the table.
    assert.deepEqual([releaseRootfs('1.16.0')?.debian, releaseRootfs('1.16.0')?.python], ['bookworm', '3.11']);
    assert.deepEqual([releaseRootfs('1.14.0')?.debian, releaseRootfs('1.14.0')?.python], ['bullseye', '3.9']);
    assert.equal(releasePlatform('1.14.0'), 'cpython-3.9');
    assert.equal(releaseRootfs('9.9.9'), undefined);
  });

  it('gives the reference server the platform whose CPython rootfs.sh checks for', () => {
    assert.equal(SERVER_PLATFORM, 'cpython-3.9');
    const res = shell('tools/platform/rootfs.sh', `recipe_for ${SERVER_PLATFORM}; echo "$want_py"`);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout.trim(), SERVER_PYTHON);
  });

  it('is refused by both readers when its columns are not the expected ones', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-releases-'));
    try {
      const good = fs.readFileSync(RELEASES_FILE, 'utf8');
      const cases: [string, string, RegExp][] = [
        ['another header', good.replace(/^kind .*$/m, 'kind name debian arch python'), /names the columns 'kind name debian arch python', expected 'kind name debian arch python machine'/],
        ['a short row', `${good}release 1.17.0 trixie amd64 3.13\n`, /'release 1\.17\.0 trixie amd64 3\.13' has 5 columns, expected 6/],
      ];
      for (const [what, text, message] of cases) {
        const file = path.join(dir, 'releases.tsv');
        fs.writeFileSync(file, text);
        const res = shell('tools/platform/lib-rootfs.sh', 'rootfs_rows', file);
        assert.notEqual(res.status, 0, what);
        assert.match(res.stderr, message, what);
        assert.throws(() => parseRootfsTable(text, file), message, what);
      }
      // Values bash does not check are TypeScript's to refuse.
      assert.throws(() => parseRootfsTable(good.replace(/^release\s+1\.14\.0/m, 'release v1.14'), 'releases.tsv'), /a release row is named by its version/);
      assert.throws(() => parseRootfsTable(`${good}release 1.14.0 bullseye amd64 3.9 x86_64\n`, 'releases.tsv'), /release 1\.14\.0 has two rows/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
