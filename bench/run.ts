/**
 * One run, all the numbers: cold, warm and no-op builds, applying the series,
 * static and live verify, against the floor (the four protos compiled by
 * protoc and zipped directly, no bazel or setuptools); and how apply scales
 * with the length of a series. Prints a table of times, ratios to the floor,
 * and peak memory (the largest process of each step, from GNU time).
 *
 *   npm run bench            (needs upstream, like the end-to-end tests)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../src/config.ts';
import { processRunner } from '../src/exec.ts';
import { hermeticGit } from '../src/git.ts';
import { applySeries } from '../src/apply-series.ts';
import { parsePatchFile } from '../src/patchfile.ts';
import { readSeries } from '../src/series.ts';
import { venvPython } from '../src/python.ts';
import { startupRows } from './startup.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const project = loadProject(root, { exact: true });
const cli = path.join(root, 'bin', 'mlmd-remote.js');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-bench-'));
const hasGnuTime = fs.existsSync('/usr/bin/time');

interface Row {
  name: string;
  seconds: number;
  peakMiB: number | null;
  note?: string;
}
const rows: Row[] = [];

/** Runs a command, timing it; peak RSS of its largest process through GNU time. */
function measure(name: string, cmd: string, args: string[], note?: string, cwd = root): Row {
  const rss = path.join(scratch, 'rss');
  const full = hasGnuTime ? ['/usr/bin/time', ['-o', rss, '-f', '%M', cmd, ...args]] as const : [cmd, args] as const;
  const started = process.hrtime.bigint();
  const res = spawnSync(full[0], full[1], { cwd, encoding: 'utf8', maxBuffer: 256 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.status !== 0) throw new Error(`${name} failed (${res.status}):\n${(res.stderr ?? '').slice(-2000)}`);
  const row = { name, seconds, peakMiB: hasGnuTime ? Math.round(+fs.readFileSync(rss, 'utf8').trim() / 1024) : null, note };
  rows.push(row);
  process.stderr.write(`  ${name}: ${seconds.toFixed(2)} s\n`);
  return row;
}

const mlmd = (args: string[]) => [cli, '--quiet', ...args];

process.stderr.write('mlmd-remote bench\n');
const startup = startupRows();
const workCold = path.join(scratch, 'work');
const dist = path.join(scratch, 'dist');
// Warm the shared caches (venvs) first, so "cold" means a fresh bazel output base only.
measure('set-up (venvs, upstream)', process.execPath, mlmd(['build', '--dist', dist]), 'not in the ratios');
rows.pop();

measure('cold build (fresh bazel output base)', process.execPath, mlmd(['build', '--dist', dist, '--work-dir', workCold]));
measure('warm rebuild (bazel actions re-run)', process.execPath, mlmd(['build', '--dist', dist, '--work-dir', workCold, '--bazel-opt=--action_env=MLMD_BENCH_NONCE=1']));
measure('no-op build', process.execPath, mlmd(['build', '--dist', dist, '--work-dir', workCold, '--bazel-opt=--action_env=MLMD_BENCH_NONCE=1']));
// bazel's own start-up and no-op, for the "no-op build under 1 s beyond bazel" target.
const bazelLog = fs.readFileSync(path.join(workCold, 'logs', 'bazel.log'), 'utf8');
const bazelElapsed = /INFO: Elapsed time: ([\d.]+)s/.exec(bazelLog)?.[1];
measure('apply --check (real series)', process.execPath, mlmd(['apply', '--check']));
const wheel = path.join(dist, fs.readdirSync(dist).find((n) => n.endsWith('.whl'))!);
measure('static verify', process.execPath, mlmd(['verify', wheel, '--server', 'none']));
measure('live verify (reference server)', process.execPath, mlmd(['verify', wheel, '--server', 'reference']));

// The floor: the same four modules from protoc, zipped, nothing else.
const staged = path.join(workCold, 'src');
const toolchainPython = venvPython(path.join(project.cacheDir, 'venvs', fs.readdirSync(path.join(project.cacheDir, 'venvs')).find((n) => n.startsWith('grpcio-tools-'))!));
const floorScript = `
import os, sys, zipfile, subprocess
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out + '/gen', exist_ok=True)
import grpc_tools
inc = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto')
subprocess.check_call([sys.executable, '-m', 'grpc_tools.protoc', '-I' + src, '-I' + inc, '--python_out=' + out + '/gen', '--grpc_python_out=' + out + '/gen',
  'ml_metadata/proto/metadata_store.proto', 'ml_metadata/proto/metadata_store_service.proto', 'ml_metadata/simple_types/proto/simple_types.proto'], cwd=src)
with zipfile.ZipFile(out + '/floor.zip', 'w', zipfile.ZIP_DEFLATED) as z:
  for d, _, fs in os.walk(out + '/gen'):
    for f in sorted(fs): z.write(os.path.join(d, f), os.path.relpath(os.path.join(d, f), out + '/gen'))
`;
const floor = measure('floor: protoc + zip, no bazel/setuptools', toolchainPython, ['-c', floorScript, staged, path.join(scratch, 'floor')]);

// How apply scales: synthetic series of 10, 100 and 500 one-line patches on a repo of 500 files.
async function applyScaling(): Promise<Array<{ n: number; seconds: number }>> {
  const runner = processRunner();
  const git = hermeticGit(runner);
  const repo = path.join(scratch, 'synthetic');
  fs.mkdirSync(repo);
  await git(repo, ['init', '-q']);
  for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(repo, `f${i}.txt`), `line one of ${i}\nline two\nline three\n`);
  await git(repo, ['add', '-A']);
  await git(repo, ['commit', '-q', '-m', 'base']);
  const base = (await git(repo, ['rev-parse', 'HEAD'])).stdout.trim();
  for (let i = 0; i < 500; i++) {
    fs.writeFileSync(path.join(repo, `f${i}.txt`), `line one of ${i}\nline two, patched\nline three\n`);
    await git(repo, ['commit', '-q', '-am', `patch ${i}\n\nWhy: bench\nUpstream-Status: Inappropriate [bench]\nDrop-When: never`]);
  }
  const patchDir = path.join(scratch, 'synthetic-patches');
  await git(repo, ['format-patch', '-q', '--zero-commit', '--no-signature', '--full-index', '-o', patchDir, base]);
  const files = fs.readdirSync(patchDir).sort().map((n) => parsePatchFile(path.join(patchDir, n)));
  const out: Array<{ n: number; seconds: number }> = [];
  for (const n of [10, 100, 500]) {
    const started = process.hrtime.bigint();
    const res = await applySeries({ git, repoDir: repo, baseCommit: base, patches: files.slice(0, n) });
    if (!res.ok) throw new Error(`synthetic series of ${n} did not apply`);
    out.push({ n, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
  }
  return out;
}

// The real series, in-process (what apply costs without node's start-up).
const runner = processRunner();
const git = hermeticGit(runner);
const t0 = process.hrtime.bigint();
await applySeries({ git, repoDir: project.upstreamDir, baseCommit: project.config.upstream.commit, patches: readSeries(project).patches });
const applyInProcess = Number(process.hrtime.bigint() - t0) / 1e9;
const scaling = await applyScaling();

const pad = (s: string, n: number) => s.padEnd(n);
const lines = [
  '',
  ...startup,
  '',
  `| step | time (s) | × floor | peak RSS (MiB) |`,
  `|---|---:|---:|---:|`,
  ...rows.map((r) => `| ${pad(r.name, 42)} | ${r.seconds.toFixed(2)} | ${(r.seconds / floor.seconds).toFixed(1)} | ${r.peakMiB ?? 'n/a'} |`),
  '',
  `bazel's own elapsed time in the no-op build: ${bazelElapsed ?? '?'} s (from its log)`,
  `apply of the real series in-process (no node start-up): ${applyInProcess.toFixed(3)} s`,
  '',
  `| synthetic series | apply (s) | per patch (ms) |`,
  `|---:|---:|---:|`,
  ...scaling.map((s) => `| ${s.n} | ${s.seconds.toFixed(3)} | ${((s.seconds / s.n) * 1000).toFixed(1)} |`),
  '',
  `linearity: time(500)/time(10) = ${(scaling[2]!.seconds / scaling[0]!.seconds).toFixed(1)} for 50× the patches`,
  `peak RSS of this node process: ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`,
];
process.stdout.write(`${lines.join('\n')}\n`);
fs.rmSync(scratch, { recursive: true, force: true });
