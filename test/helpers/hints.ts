/**
 * A hint is only as good as the command it names: these run a command exactly
 * as a hint spells it (after checking that the hint does spell it), in a
 * fixture project, the way a maintainer would type it: `git ...` through the
 * project's hermetic git, `mlmd-remote ...` as the CLI in a child process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { git } from './fixtures.ts';

export const cliPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'mlmd-remote.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI in a child process, in `cwd`; the caller's MLMD_REMOTE_UPSTREAM_URL does not leak in. */
export function runCli(args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { cwd: opts.cwd, env: { ...process.env, MLMD_REMOTE_UPSTREAM_URL: '', ...opts.env }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs `command`, which `hint` must contain word for word, in the project at
 * `root` (`extra` appends what the hint leaves to the maintainer, such as a
 * commit message). `&&` chains stop at the first failure. Returns the last run.
 */
export async function runHinted(root: string, hint: string | undefined, command: string, extra: readonly string[] = []): Promise<CliRun> {
  assert.ok(hint?.includes(command), `the hint names "${command}":\n${hint}`);
  const parts = command.split(' && ');
  let last: CliRun = { code: 0, stdout: '', stderr: '' };
  for (const [i, part] of parts.entries()) {
    const words = [...part.trim().split(/\s+/), ...(i === parts.length - 1 ? extra : [])];
    if (words[0] === 'git') {
      const res = await git(root, words.slice(1), { allowFailure: true });
      last = { code: res.exitCode, stdout: res.stdout, stderr: res.stderr };
    } else if (words[0] === 'mlmd-remote') {
      last = await runCli([...words.slice(1), '--root', root], { cwd: root });
    } else {
      throw new Error(`not a command a hint may name: ${part}`);
    }
    if (last.code !== 0) return last;
  }
  return last;
}
