/**
 * verify --matrix: the behaviour suite once per dependency row of
 * tools/verify/matrix.json, against one reference server (on SQLite, or on a
 * throw-away MySQL or PostgreSQL), and whether the ranges the setup.py patch
 * declares agree with what was installed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Project } from './config.js';
import type { Runner } from './exec.js';
import type { Logger } from './log.js';
import { resolveWheel } from './dist-wheel.js';
import { findPython } from './python.js';
import { startHelperServers, type HelperServers } from './helper-servers.js';
import { startReferenceServer, type ReferenceChoice } from './reference-server.js';
import { tearDown, type ServerHandle } from './server-handle.js';
import { declaredRequirements, rangeDrift, readMatrix } from './matrix.js';
import { runBehaviourSuite } from './behaviour-suite.js';
import { scratchDir } from './scratch.js';
import { sha256File, wheelUpstreamVersion } from './wheel.js';
import { startDatabase, type Backend, type DatabaseServer } from './databases.js';
import type { MatrixResult, MatrixRowResult } from './results.js';

export async function verifyMatrix(opts: { project: Project; wheel?: string; python?: string; rows?: string[]; reference?: ReferenceChoice; backend?: Backend }, deps: { runner: Runner; log: Logger }): Promise<MatrixResult> {
  const { project } = opts;
  const { runner, log } = deps;
  const backend = opts.backend ?? 'sqlite';
  const wheelPath = resolveWheel(project, opts.wheel);
  const python = await findPython(runner, opts.python);
  const spec = readMatrix(project);
  const rows = opts.rows?.length ? spec.rows.filter((r) => opts.rows!.includes(r.name)) : spec.rows;
  const scratch = scratchDir('matrix-server', project.cacheDir);
  const dataDir = scratch.dir;
  // Its own temp directory: PostgreSQL, run unprivileged under root, must be able to reach it.
  const databaseDir = backend === 'sqlite' ? null : scratchDir(`${backend}-`);
  const step = log.step('Start the reference server, and a slow, a TLS and a mutual-TLS one');
  const reference = { project, runner, log, python, mlmdVersion: wheelUpstreamVersion(wheelPath), reference: opts.reference, progress: (l: string) => step.progress(l) };
  let server: ServerHandle | undefined;
  let helpers: HelperServers | undefined;
  let database: DatabaseServer | undefined;
  const results: MatrixRowResult[] = [];
  try {
    if (databaseDir && backend !== 'sqlite') database = await startDatabase(backend, { runner, log, dir: databaseDir.dir });
    server = await startReferenceServer({ ...reference, dataDir: path.join(dataDir, 'main'), database });
    helpers = await startHelperServers({ ...reference, reference: server.note ? 'native' : opts.reference }, dataDir);
    step.done(server.description);
    for (const row of rows) {
      const rowStep = log.step(`Matrix row "${row.name}" (${Object.entries(row.pins).map(([k, v]) => `${k}==${v}`).join(' ') || 'newest allowed'})`);
      // The suite marks what the official store does differently on MySQL or PostgreSQL (MLMD_BACKEND).
      const suite = await runBehaviourSuite({ project, runner, python, wheelPath, server, helperEnv: { ...helpers.env, MLMD_BACKEND: backend }, constraints: Object.entries(row.pins).map(([k, v]) => `${k}==${v}`), step: rowStep });
      const ok = suite.failed === 0 && suite.total > 0;
      if (ok) rowStep.done(`${suite.passed} passed`);
      else rowStep.fail(`${suite.failed} failed`);
      results.push({ name: row.name, pins: row.pins, installed: suite.installed, passed: suite.passed, failed: suite.failed, skipped: suite.skipped, total: suite.total, ok, durationMs: suite.durationMs, failures: suite.failures });
    }
  } finally {
    await tearDown([helpers, server, database, databaseDir, scratch]);
  }
  const setupPatch = fs.readFileSync(path.join(project.patchesDir, 'setup-pure-wheel-named-by-build-profile.patch'), 'utf8');
  const drift = rangeDrift(declaredRequirements(setupPatch), spec, Object.fromEntries(results.map((r) => [r.name, r.installed])));
  return {
    schemaVersion: 1,
    ok: results.every((r) => r.ok) && drift.length === 0,
    wheel: { name: path.basename(wheelPath), sha256: sha256File(wheelPath) },
    server: server!.note ? `${server!.description} (${server!.note})` : server!.description,
    backend,
    ...(database ? { database: database.version } : {}),
    python: python.version,
    rows: results,
    drift,
  };
}
