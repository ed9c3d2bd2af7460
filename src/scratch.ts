/**
 * Throw-away directories that are removed when done, and also when the run
 * is interrupted (cli.ts exits on Ctrl-C without unwinding, so no `finally`
 * runs; the exit handler here does).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const scratchDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new scratch directory (under `parent`, default the system temp dir), removed by `dispose` or when the process exits. */
export function scratchDir(prefix: string, parent = os.tmpdir()): { dir: string; dispose(): void } {
  const dir = fs.mkdtempSync(path.join(parent, `mlmd-remote-${prefix}-`));
  scratchDirs.add(dir);
  return {
    dir,
    dispose: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      scratchDirs.delete(dir);
    },
  };
}
