/**
 * The shape of src/: no import cycles, docs/architecture.md generated from
 * the code as it is, modules small enough to read at once (or saying why
 * not), and processes started only behind the narrow doors.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { importGraph, renderArchitecture } = (await import(path.join(root, 'tools', 'architecture.mjs'))) as {
  importGraph: () => Promise<{ graph: Record<string, string[]>; cycles: string[][] }>;
  renderArchitecture: () => Promise<string>;
};

const sources = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));

describe('architecture', () => {
  it('has no import cycle in src/ (madge, type imports included)', { timeout: 60_000 }, async () => {
    const { graph, cycles } = await importGraph();
    assert.ok(Object.keys(graph).length > 30, 'madge found the modules');
    assert.ok(graph['src/cli.ts']!.includes('src/commands/verify.ts'), 'madge resolved the .js specifiers to the .ts sources');
    assert.deepEqual(cycles, []);
  });

  it('docs/architecture.md is what tools/architecture.mjs generates from the code', { timeout: 60_000 }, async () => {
    const want = await renderArchitecture();
    assert.equal(fs.readFileSync(path.join(root, 'docs', 'architecture.md'), 'utf8'), want, 'run: node tools/architecture.mjs');
  });

  it('keeps every src/ module under ~300 lines, or says at its top why it is longer', () => {
    const long = sources(path.join(root, 'src'))
      .map((f) => ({ f: path.relative(root, f), text: fs.readFileSync(f, 'utf8') }))
      .filter(({ text }) => text.split('\n').length > 320 && !/^\/\*\*[\s\S]*?Longer than most[\s\S]*?\*\//.test(text));
    assert.deepEqual(long.map((l) => l.f), []);
  });

  it('starts processes only in exec.ts (git through git.ts)', () => {
    const doors = new Set(['src/exec.ts', 'src/git.ts']);
    const spawners = sources(path.join(root, 'src'))
      .filter((f) => /from 'node:child_process'|from 'zx'|from 'simple-git'/.test(fs.readFileSync(f, 'utf8')))
      .map((f) => path.relative(root, f));
    assert.deepEqual(spawners.filter((f) => !doors.has(f)), []);
  });
});
