/**
 * What the wheel says about itself stays true: the CPython classifiers and
 * the "Verified against" section of its description (both added by the
 * patch series) name exactly the platforms docs/platforms.md and
 * docs/dependency-matrix.md record as tested.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from './helpers/real-upstream.ts';

const patch = fs.readFileSync(path.join(projectRoot, 'patches', 'setup-py-describe-the-remote-only-package.patch'), 'utf8');
/** The new side of the patch's hunks in `file`: the lines it adds and the context around them. */
function newSide(file: string): string[] {
  const section = patch.split(/^diff --git /m).find((s) => s.startsWith(`a/${file} `)) ?? '';
  return section.split('\n').filter((l) => /^[ +]/.test(l) && !l.startsWith('+++')).map((l) => l.slice(1));
}

/** CPython minor versions and machines in the platform table, plus the host of the matrix run. */
function tested(): { versions: string[]; x86: string[]; aarch64: string[] } {
  const platforms = fs.readFileSync(path.join(projectRoot, 'docs', 'platforms.md'), 'utf8');
  const rows = [...platforms.matchAll(/^\| [^|]+ \| (x86_64|aarch64) \| (\d+\.\d+)\.\d+ \|.*✅/gm)].map((m) => ({ machine: m[1]!, version: m[2]! }));
  const host = /CPython (\d+\.\d+)\.\d+\.\s*$/m.exec(fs.readFileSync(path.join(projectRoot, 'docs', 'dependency-matrix.md'), 'utf8'))?.[1];
  assert.ok(rows.length >= 3 && host, 'docs/platforms.md and docs/dependency-matrix.md name the tested platforms');
  const sorted = (v: string[]) => [...new Set(v)].sort((a, b) => +a.split('.')[1]! - +b.split('.')[1]!);
  const on = (machine: string) => rows.filter((r) => r.machine === machine).map((r) => r.version);
  return { versions: sorted([...rows.map((r) => r.version), host!]), x86: sorted([...on('x86_64'), host!]), aarch64: sorted(on('aarch64')) };
}

describe('the package description', () => {
  it('classifies exactly the CPython versions that were tested, and no operating system but "OS Independent"', () => {
    const classifiers = newSide('setup.py').map((l) => /'Programming Language :: Python :: (3\.\d+)'/.exec(l)?.[1]).filter(Boolean);
    assert.deepEqual(classifiers, tested().versions);
    assert.ok(newSide('setup.py').some((l) => l.includes("'Operating System :: OS Independent'")));
  });

  it('names those platforms in its "Verified against" section', () => {
    const text = newSide('README-remote.md').join('\n');
    const { x86, aarch64 } = tested();
    const list = (v: string[]) => (v.length > 1 ? `${v.slice(0, -1).join(', ')} and ${v.at(-1)}` : v[0]!);
    assert.ok(text.replace(/\s+/g, ' ').includes(`Linux x86-64 with CPython ${list(x86)}, and Linux aarch64 with CPython ${list(aarch64)}.`), text);
  });
});
