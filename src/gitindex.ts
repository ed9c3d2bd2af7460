/**
 * Work on a throw-away index: read a tree into it, change it, write a tree,
 * and never touch the repository's own index or work tree.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunOptions, RunResult } from './exec.js';
import type { Git } from './git.js';

export type IndexGit = (args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

/** Scratch directories still in use: an interrupted run (process.exit in cli.ts) removes them on its way out. */
const scratchDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new scratch directory under the system temp dir, removed by `dispose` or when the process exits. */
export function scratchDir(prefix: string): { dir: string; dispose(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mlmd-remote-${prefix}-`));
  scratchDirs.add(dir);
  return {
    dir,
    dispose: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      scratchDirs.delete(dir);
    },
  };
}

export async function withTempIndex<T>(git: Git, repoDir: string, treeish: string, fn: (indexGit: IndexGit) => Promise<T>): Promise<T> {
  const scratch = scratchDir('index');
  const env = { GIT_INDEX_FILE: path.join(scratch.dir, 'index') };
  const indexGit: IndexGit = (args, opts = {}) => git(repoDir, args, { ...opts, env: { ...opts.env, ...env } });
  try {
    await indexGit(['read-tree', treeish]);
    return await fn(indexGit);
  } finally {
    scratch.dispose();
  }
}
