/**
 * Upstream's own Python tests, run against the live server: the test files
 * are read from the wheel's upstream commit at run time (never kept in this
 * repository), run in the wheel's venv by tools/upstream_tests/run.py, and
 * judged against the reviewed plan, tools/upstream_tests/plan.json: how each
 * file talks to a server, and which tests need the embedded store by
 * construction (they must fail with the wheel's remote-only error, nothing
 * else).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Project } from './config.js';
import { MlmdError } from './errors.js';
import type { Runner } from './exec.js';
import type { Git } from './git.js';
import type { StepHandle } from './log.js';

export const UPSTREAM_TEST_MODES = ['grpc-flags', 'fresh-database', 'no-store'] as const;
export type UpstreamTestMode = (typeof UPSTREAM_TEST_MODES)[number];

const PlanSchema = z.object({
  schemaVersion: z.literal(1),
  files: z.record(z.string(), z.enum(UPSTREAM_TEST_MODES)),
  embeddedOnly: z.array(z.object({ file: z.string(), test: z.string(), why: z.string().min(10) })),
  /** Tests whose outcome depends on the database behind the server (e.g. the order rows come back in): a failure on a listed backend is reported, not counted. */
  backendDependent: z.array(z.object({ file: z.string(), test: z.string(), backends: z.array(z.enum(['mysql', 'postgresql'])).min(1), why: z.string().min(10) })).default([]),
});
export type UpstreamTestPlan = z.infer<typeof PlanSchema>;

export function planFile(project: Project): string {
  return path.join(project.toolsDir, 'upstream_tests', 'plan.json');
}

export function readUpstreamTestPlan(project: Project): UpstreamTestPlan {
  const file = planFile(project);
  const parsed = PlanSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new MlmdError(`${file} is not a valid plan: ${z.prettifyError(parsed.error)}`, { hint: 'see tools/upstream_tests/README.md for its fields' });
  return parsed.data;
}

/** What run.py reports (tools/upstream_tests/run.py). */
const RawReportSchema = z.object({
  schemaVersion: z.literal(1),
  files: z.array(
    z.object({
      path: z.string(),
      mode: z.enum(UPSTREAM_TEST_MODES),
      loadError: z.string().optional(),
      tests: z.array(
        z.object({
          id: z.string(),
          outcome: z.enum(['passed', 'failed', 'error', 'skipped']),
          exception: z.string().optional(),
          message: z.string().optional(),
          remoteOnly: z.boolean().optional(),
          /** Upstream's test returns at once under --use_grpc_backend. */
          returnsAtOnce: z.boolean().optional(),
          /** Marked unittest.expectedFailure, and it failed. */
          expectedFailure: z.boolean().optional(),
        }),
      ),
    }),
  ),
});
export type RawUpstreamReport = z.infer<typeof RawReportSchema>;

export interface UpstreamTestProblem {
  test: string;
  message: string;
}

export interface UpstreamFileResult {
  path: string;
  mode: UpstreamTestMode | 'unknown';
  passed: number;
  /** Listed in the plan as needing the embedded store, and failed with the remote-only error. */
  embeddedOnly: number;
  failed: number;
  skipped: number;
  /** Passed because upstream's test returns at once under gRPC (counted in passed). */
  returnsAtOnce: number;
  /** Failed on a backend the plan lists for them (backendDependent); not counted as failed. */
  backendDependent?: UpstreamTestProblem[];
  failures: UpstreamTestProblem[];
  skips: UpstreamTestProblem[];
}

export interface UpstreamTestsResult {
  commit: string;
  files: UpstreamFileResult[];
  /** Embedded-only entries naming a test the file at this commit does not have. */
  staleEntries: string[];
  ok: boolean;
}

const emptyFile = (filePath: string, mode: UpstreamFileResult['mode']): UpstreamFileResult => ({ path: filePath, mode, passed: 0, embeddedOnly: 0, failed: 0, skipped: 0, returnsAtOnce: 0, failures: [], skips: [] });

function firstLine(message: string | undefined): string {
  return (message ?? '').trim().split('\n')[0]!.slice(0, 300);
}

/** Judges run.py's report against the plan (pure). */
export function classifyUpstreamTests(raw: RawUpstreamReport, plan: UpstreamTestPlan, unknownFiles: string[], commit: string, backend = 'sqlite'): UpstreamTestsResult {
  const files: UpstreamFileResult[] = [];
  const staleEntries: string[] = [];
  for (const file of raw.files) {
    const out = emptyFile(file.path, file.mode);
    files.push(out);
    const listed = new Map(plan.embeddedOnly.filter((e) => e.file === file.path).map((e) => [e.test, e]));
    if (file.loadError) {
      out.failed++;
      out.failures.push({ test: '(import)', message: `the file does not load: ${file.loadError.trim().split('\n').slice(-1)[0]}` });
      continue;
    }
    if (file.tests.length === 0) {
      out.failed++;
      out.failures.push({ test: '(none)', message: 'no tests were found in the file' });
    }
    for (const t of file.tests) {
      const entry = listed.get(t.id);
      const failedRun = t.outcome === 'failed' || t.outcome === 'error';
      if (entry) {
        listed.delete(t.id);
        if (failedRun && t.remoteOnly) out.embeddedOnly++;
        else {
          out.failed++;
          out.failures.push({
            test: t.id,
            message: t.outcome === 'passed'
              ? 'listed as embedded-only but passed: remove it from tools/upstream_tests/plan.json'
              : `listed as embedded-only, but it ${t.outcome === 'skipped' ? 'skipped' : `failed with ${t.exception}: ${firstLine(t.message)}`} rather than the remote-only error`,
          });
        }
        continue;
      }
      const dependent = plan.backendDependent.find((e) => e.file === file.path && e.test === t.id && (e.backends as string[]).includes(backend));
      if (dependent && failedRun) {
        (out.backendDependent ??= []).push({ test: t.id, message: `${firstLine(t.message)} (on ${backend}: ${dependent.why})` });
        continue;
      }
      if (t.outcome === 'passed') {
        out.passed++;
        if (t.returnsAtOnce) out.returnsAtOnce++;
      } else if (t.outcome === 'skipped') {
        out.skipped++;
        out.skips.push({ test: t.id, message: firstLine(t.message) });
      } else {
        out.failed++;
        out.failures.push({
          test: t.id,
          message: t.remoteOnly
            ? `needs the embedded store (the remote-only error); if it builds a ConnectionConfig by construction, list it in tools/upstream_tests/plan.json with the reason`
            : `${t.exception}: ${firstLine(t.message)}`,
        });
      }
    }
    for (const test of listed.keys()) staleEntries.push(`${file.path}: ${test}`);
  }
  for (const p of unknownFiles) {
    const out = emptyFile(p, 'unknown');
    out.failed = 1;
    out.failures.push({ test: '(file)', message: `upstream ships this test file, but tools/upstream_tests/plan.json does not say how to run it (${UPSTREAM_TEST_MODES.join(', ')})` });
    files.push(out);
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  return { commit, files, staleEntries, ok: files.length > 0 && files.every((f) => f.failed === 0 && f.skipped === 0) };
}

/** Upstream's Python test files at `commit`. */
export async function listUpstreamTestFiles(git: Git, repoDir: string, commit: string): Promise<string[]> {
  const res = await git(repoDir, ['ls-tree', '-r', '--name-only', commit, '--', 'ml_metadata']);
  return res.stdout.split('\n').filter((p) => /(^|\/)[^/]+_test\.py$/.test(p)).sort();
}

/** Writes upstream's files at `commit` under `dir`, at their paths. */
export async function writeUpstreamFiles(git: Git, repoDir: string, commit: string, paths: readonly string[], dir: string): Promise<void> {
  for (const p of paths) {
    const res = await git(repoDir, ['show', `${commit}:${p}`]);
    const target = path.join(dir, p);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, res.stdout);
  }
}

/**
 * Runs every upstream test file of `commit` that the plan knows in the venv
 * of `python` against the server at host:port. `databaseFile` is the host
 * path of the server's SQLite file, deleted to give a file (or each of its
 * stores) a new database; without it only the files that need no store
 * run, and the others are reported as skips.
 */
export async function runUpstreamTests(opts: {
  project: Project;
  runner: Runner;
  git: Git;
  repoDir: string;
  commit: string;
  python: string;
  host: string;
  port: number;
  databaseFile?: string;
  /** For MySQL/PostgreSQL: drops the server's database (instead of deleting the SQLite file). */
  resetDatabase?: { cmd: string; args: string[]; env: Record<string, string> };
  /** Which database the server stores into (for the plan's backendDependent entries). */
  backend?: string;
  workDir: string;
  step?: StepHandle;
}): Promise<UpstreamTestsResult> {
  const plan = readUpstreamTestPlan(opts.project);
  const all = await listUpstreamTestFiles(opts.git, opts.repoDir, opts.commit);
  // Upstream's tests expect a new database (once per file, or per store): only a server whose database verify started can give one.
  const needsDatabase = (p: string) => plan.files[p] !== 'no-store';
  const fresh = Boolean(opts.databaseFile || opts.resetDatabase);
  const known = all.filter((p) => p in plan.files && (!needsDatabase(p) || fresh));
  const notRunnable = all.filter((p) => p in plan.files && needsDatabase(p) && !fresh);
  const unknown = all.filter((p) => !(p in plan.files));
  const testsDir = path.join(opts.workDir, 'upstream-tests');
  await writeUpstreamFiles(opts.git, opts.repoDir, opts.commit, known, testsDir);
  const out = path.join(opts.workDir, 'upstream-tests.json');
  opts.step?.progress(`upstream's tests at ${opts.commit.slice(0, 12)}: ${known.map((p) => path.basename(p)).join(', ')}`);
  const res = await opts.runner(
    opts.python,
    [
      path.join(opts.project.toolsDir, 'upstream_tests', 'run.py'),
      '--tests-dir', testsDir,
      ...known.flatMap((p) => ['--file', `${p}=${plan.files[p]}`]),
      '--grpc-host', opts.host,
      '--grpc-port', String(opts.port),
      ...(opts.databaseFile ? ['--fresh-db', opts.databaseFile] : []),
      '--out', out,
    ],
    {
      allowFailure: true,
      cwd: opts.workDir,
      timeoutMs: 20 * 60_000,
      onLine: (l) => opts.step?.progress(l),
      // Through the environment, so the database's password is not in the process list.
      ...(opts.resetDatabase ? { env: { MLMD_FRESH_DB_COMMAND: JSON.stringify({ argv: [opts.resetDatabase.cmd, ...opts.resetDatabase.args], env: opts.resetDatabase.env }) } } : {}),
    },
  );
  if (res.exitCode !== 0 || !fs.existsSync(out)) {
    throw new MlmdError(`upstream's tests did not run to the end (run.py exit ${res.exitCode}):\n${res.stderr.trim().split('\n').slice(-12).join('\n')}`, { hint: 'a test that hangs for 5 minutes ends the run with every thread\'s stack (above)' });
  }
  const raw = RawReportSchema.parse(JSON.parse(fs.readFileSync(out, 'utf8')));
  const result = classifyUpstreamTests(raw, plan, unknown, opts.commit, opts.backend);
  for (const p of notRunnable) {
    result.files.push({ ...emptyFile(p, plan.files[p]!), skipped: 1, skips: [{ test: '(file)', message: 'it expects a new database, and the server\'s database is not one verify started (--server-address)' }] });
  }
  result.files.sort((a, b) => a.path.localeCompare(b.path));
  result.ok = result.ok && notRunnable.length === 0;
  return result;
}
