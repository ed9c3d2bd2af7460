/**
 * Work on a throw-away index: read a tree into it, change it, write a tree,
 * and never touch the repository's own index or work tree.
 */
import path from 'node:path';
import type { RunOptions, RunResult } from './exec.js';
import type { Git } from './git.js';
import { scratchDir } from './scratch.js';

export type IndexGit = (args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

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
