/**
 * Concurrency through one reference server, in one run: tools/concurrency/load.py
 * (client processes x threads, the built wheel as the client) against the
 * wheel's own release (ml-metadata 1.14.0) served with one store process
 * (calls one at a time, as a single store handle would) and with the default
 * four (calls at once on separate connections, as the official server).
 * Prints calls per second, latencies, the errors clients saw, and the ratio.
 *
 *   npm run bench:concurrency [-- WHEEL]   (default: the only wheel in dist/)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveWheel } from '../src/dist-wheel.ts';
import { loadProject } from '../src/config.ts';
import { processRunner } from '../src/exec.ts';
import { stderrLogger } from '../src/log.ts';
import { findPython } from '../src/python.ts';
import { startReferenceServer } from '../src/reference-server.ts';
import { wheelUpstreamVersion } from '../src/wheel.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const project = loadProject(root, { exact: true });
const wheel = resolveWheel(project, process.argv[2]);
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-bench-load-'));
const runner = processRunner();
const python = await findPython(runner);
const LOAD = { processes: 4, threads: 4, writes: 25 };

const venv = path.join(scratch, 'venv');
for (const args of [[python.executable, '-m', 'venv', venv], [path.join(venv, 'bin', 'python'), '-m', 'pip', 'install', '--quiet', wheel]]) {
  const res = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`${args.join(' ')} failed:\n${res.stderr}`);
}

interface Load {
  calls: number;
  callsPerSecond: number;
  wallSeconds: number;
  writesStored: number;
  writesAttempted: number;
  errors: Record<string, number>;
  latencyMs: { p50: number; p95: number; max: number };
}

const results: Array<{ storeProcesses: number; server: string; load: Load }> = [];
for (const storeProcesses of [1, 4]) {
  const server = await startReferenceServer({ project, runner, log: stderrLogger({ quiet: true }), python, dataDir: path.join(scratch, `server-${storeProcesses}`), mlmdVersion: wheelUpstreamVersion(wheel), extraArgs: ['--store-processes', String(storeProcesses)] });
  try {
    process.stderr.write(`load: ${LOAD.processes} processes x ${LOAD.threads} threads x ${LOAD.writes} writes, ${storeProcesses} store process(es), ${server.description}\n`);
    const res = spawnSync(path.join(venv, 'bin', 'python'), [path.join(root, 'tools', 'concurrency', 'load.py'), '--port', String(server.port), '--processes', String(LOAD.processes), '--threads', String(LOAD.threads), '--writes', String(LOAD.writes)], { encoding: 'utf8', timeout: 30 * 60_000 });
    if (res.status !== 0) throw new Error(`load.py failed (${res.status}):\n${res.stdout}\n${res.stderr.slice(-2000)}`);
    results.push({ storeProcesses, server: server.description, load: JSON.parse(res.stdout) as Load });
  } finally {
    await server.stop();
  }
}

const lines = [
  '',
  `Server: ${results[0]!.server}. Load: ${LOAD.processes} client processes x ${LOAD.threads} threads x ${LOAD.writes} writes (each read back), ${os.cpus().length} cores.`,
  '',
  '| store processes | calls | calls/s | p50 (ms) | p95 (ms) | max (ms) | writes stored | errors clients saw |',
  '|---:|---:|---:|---:|---:|---:|---:|---|',
  ...results.map((r) => `| ${r.storeProcesses} | ${r.load.calls} | ${r.load.callsPerSecond} | ${r.load.latencyMs.p50} | ${r.load.latencyMs.p95} | ${r.load.latencyMs.max} | ${r.load.writesStored}/${r.load.writesAttempted} | ${Object.entries(r.load.errors).map(([k, v]) => `${v}× ${k}`).join('; ') || 'none'} |`),
  '',
  `throughput, 4 store processes / 1: ${(results[1]!.load.callsPerSecond / results[0]!.load.callsPerSecond).toFixed(2)}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
fs.rmSync(scratch, { recursive: true, force: true });
