/**
 * Start-up of the CLI, before and after compiling ahead of time: the same
 * `mlmd-remote --version`, once through tsx transpiling src/ on the fly (how
 * the CLI ran before lib/), once from the compiled lib/. Median of 9 runs each.
 *
 *   npm run bench:startup      (also the first table of npm run bench)
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = 9;

function median(cmd: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint();
    const res = spawnSync(process.execPath, cmd, { cwd: root, encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`${cmd.join(' ')} failed (${res.status}): ${res.stderr}`);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
}

export function startupRows(): string[] {
  // Compile first (not timed), so the compiled run measures start-up only.
  spawnSync(process.execPath, [path.join(root, 'tools', 'compile.mjs')], { cwd: root, stdio: 'inherit' });
  const viaTsx = median(['--import', 'tsx', '--input-type=module', '-e', "const { main } = await import('./src/cli.ts'); process.exitCode = await main(['--version']);"]);
  const compiled = median([path.join(root, 'bin', 'mlmd-remote.js'), '--version']);
  const bare = median(['-e', '0']);
  return [
    '| start-up of `mlmd-remote --version` | median of 9 (ms) | × compiled |',
    '|---|---:|---:|',
    `| the same sources through tsx, as bin/ ran them before | ${viaTsx.toFixed(0)} | ${(viaTsx / compiled).toFixed(2)} |`,
    `| compiled lib/ (now) | ${compiled.toFixed(0)} | 1.00 |`,
    `| node -e 0 (the floor) | ${bare.toFixed(0)} | ${(bare / compiled).toFixed(2)} |`,
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) process.stdout.write(`${startupRows().join('\n')}\n`);
