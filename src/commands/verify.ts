import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { Project } from '../config.js';
import { UsageError } from '../errors.js';
import { resolveWheel } from '../dist-wheel.js';
import { findPython } from '../python.js';
import { provenanceUpstreamCommit } from '../provenance.js';
import { defaultImage, startContainerServer } from '../container.js';
import { startHelperServers, type HelperServers } from '../helper-servers.js';
import { SERVER_PLATFORM, startReferenceServer, type ReferenceChoice } from '../reference-server.js';
import { externalServer, tearDown, type ServerHandle } from '../server-handle.js';
import { verifyMatrix } from '../verify-matrix.js';
import { runSuiteIn, withSuiteVenv, type SuiteResult, type SuiteVenv } from '../behaviour-suite.js';
import { coInstallCheck, coInstallSuite, type CoInstallResult } from '../co-install.js';
import { staticChecks, wheelContentsCheck, type Check } from '../static-checks.js';
import { hasCheckout, hasCommit } from '../upstream.js';
import { runUpstreamTests, type UpstreamTestsResult } from '../upstream-tests.js';
import { skipRecorder, type Skip, type SkipKind } from '../verdict.js';
import { scratchDir } from '../scratch.js';
import { inspectWheel, sha256File, upstreamVersionOf, wheelUpstreamVersion } from '../wheel.js';
import { runOnPlatform, type PlatformRun } from '../platform.js';
import type { Deps } from './deps.js';
import { BACKENDS, startDatabase, type Backend, type DatabaseServer } from '../databases.js';
import type { MatrixResult, ServerMode, StepTiming, VerifyResult } from '../results.js';
import { defineCommand, MARKDOWN_OPTION, REFERENCE_OPTION } from '../command.js';
import { ExitCode } from '../errors.js';
import { parsePlatform, PLATFORMS, type PlatformName } from '../platforms.js';
import { SKIP_KINDS } from '../verdict.js';
import { renderMatrix, renderMatrixMarkdown, renderPlatformTable, renderVerify, renderVerifyMarkdown } from '../render/verify.js';

export interface VerifyOptions {
  project: Project;
  wheel?: string;
  server: ServerMode;
  /** Use a running server at host:port instead of starting one. */
  serverAddress?: string;
  image?: string;
  /** Which MLMD release the reference server runs (default auto: the wheel's own where it can). */
  reference?: ReferenceChoice;
  python?: string;
  /** pytest -m expression for the behaviour suite. */
  markers?: string;
  constraints?: string[];
  /** Run the behaviour suite inside these foreign platforms instead of natively. */
  platforms?: PlatformName[];
  /** What may skip without failing the verdict (the report still names it). */
  allowSkips?: SkipKind[];
  /** Where the reference server stores: its SQLite file (default), or a throw-away MySQL/PostgreSQL server. */
  backend?: Backend;
}

/**
 * The upstream commit a wheel was built from: from the provenance statement
 * build writes beside it, else the pin when the wheel is of the pinned
 * release; null when neither says.
 */
export function wheelUpstreamCommit(project: Project, wheelPath: string, sha256: string): string | null {
  const commit = provenanceUpstreamCommit(wheelPath, sha256);
  if (commit) return commit;
  return wheelUpstreamVersion(wheelPath) === project.config.upstream.tag.replace(/^v/, '') ? project.config.upstream.commit : null;
}

/** Why upstream's tests cannot be read for this wheel, or null when they can. */
async function upstreamTestsUnavailable(project: Project, git: Deps['git'], commit: string | null, wheelName: string): Promise<string | null> {
  if (!commit) return `cannot tell which upstream commit ${wheelName} was built from (no readable, matching ${wheelName}.provenance.json beside it, and its version is not the pin's)`;
  if (!hasCheckout(project.upstreamDir)) return "upstream/ is not checked out, so upstream's test files cannot be read: run mlmd-remote sync";
  if (!(await hasCommit(git, project.upstreamDir, commit))) return `upstream/ does not have the wheel's commit ${commit}: git -C upstream fetch origin ${commit}`;
  return null;
}

/** Upstream's own tests from the suite's venv against `server`; null (and a skip) when they cannot be read. */
async function upstreamTestsStep(opts: { project: Project; deps: Deps; commit: string | null; wheelName: string; venv: SuiteVenv; server: ServerHandle; skip: (what: SkipKind, reason: string) => void; timings: StepTiming[] }): Promise<UpstreamTestsResult | null> {
  const { project, deps, commit, skip, timings } = opts;
  const step = deps.log.step(`Upstream's own tests at ${commit?.slice(0, 12) ?? "the wheel's commit"}, from the same venv`);
  const why = await upstreamTestsUnavailable(project, deps.git, commit, opts.wheelName);
  if (why) {
    skip('upstream-tests', why);
    timings.push({ step: 'upstream tests', ms: step.fail('skipped') });
    return null;
  }
  const result = await runUpstreamTests({ project, runner: deps.runner, git: deps.git, repoDir: project.upstreamDir, commit: commit!, python: opts.venv.python, host: opts.server.host, port: opts.server.port, databaseFile: opts.server.databaseFile, resetDatabase: opts.server.database?.reset, backend: opts.server.database?.backend, workDir: opts.venv.dir, step });
  for (const f of result.files) for (const t of f.skips) skip('upstream-tests', `${f.path} ${t.test}: ${t.message}`);
  const counts = result.files.map((f) => `${path.basename(f.path)} ${f.passed}/${f.embeddedOnly}/${f.failed}`).join(', ');
  const failed = result.files.some((f) => f.failed);
  timings.push({ step: 'upstream tests', ms: failed ? step.fail(`passed/embedded-only/failed: ${counts}`) : step.done(`passed/embedded-only/failed: ${counts}`) });
  return result;
}

export async function verify(opts: VerifyOptions, deps: Deps): Promise<VerifyResult> {
  const { project } = opts;
  const { runner, log } = deps;
  const wheelPath = resolveWheel(project, opts.wheel);
  const name = path.basename(wheelPath);
  const sha256 = sha256File(wheelPath);
  const timings: StepTiming[] = [];
  const python = await findPython(runner, opts.python);
  const mlmdVersion = wheelUpstreamVersion(wheelPath);

  let step = log.step(`Static checks of ${name}`);
  const inspection = await inspectWheel(runner, python.executable, project, wheelPath);
  const checks = [...staticChecks(name, inspection), await wheelContentsCheck({ project, runner, log, python, wheelPath })];
  const failedChecks = checks.filter((c) => c.status === 'fail');
  timings.push({ step: 'static', ms: failedChecks.length ? step.fail(`${failedChecks.length} of ${checks.length} failed`) : step.done(`${checks.length} passed`) });

  const backend = opts.backend ?? 'sqlite';
  if (backend !== 'sqlite' && (opts.server === 'none' || opts.serverAddress || opts.platforms?.length)) {
    throw new UsageError(`--backend ${backend} is for a server that verify starts (--server reference or container)`, `drop --server-address, --platform or --server none, or leave --backend out`);
  }
  const skips = skipRecorder(opts.allowSkips, (line) => log.warn(line));
  const skip = skips.skip;
  const upstreamCommit = wheelUpstreamCommit(project, wheelPath, sha256);

  let live: VerifyResult['live'] = null;
  let coInstall: CoInstallResult | undefined;
  let platforms: PlatformRun[] | undefined;
  let platformServer: VerifyResult['platformServer'];
  const reference = { project, runner, log, python, mlmdVersion, reference: opts.reference, progress: (l: string) => step.progress(l) };
  if (opts.platforms?.length) {
    step = log.step('Start the reference server, and a slow, a TLS and a mutual-TLS one, on this host');
    const scratch = scratchDir('verify-server', project.cacheDir);
    const dataDir = scratch.dir;
    let server: ServerHandle | undefined;
    let helpers: HelperServers | undefined;
    platforms = [];
    try {
      server = await startReferenceServer({ ...reference, dataDir: path.join(dataDir, 'main') });
      platformServer = { description: server.description, mlmdVersion: server.mlmdVersion, ...(server.note ? { note: server.note } : {}) };
      // Where the root filesystem failed, the others would only fail (and warn) again.
      helpers = await startHelperServers({ ...reference, reference: server.note ? 'native' : opts.reference }, dataDir);
      timings.push({ step: 'server', ms: step.done(`ml-metadata ${server.mlmdVersion} at 127.0.0.1:${server.port}`) });
      for (const platform of opts.platforms) {
        step = log.step(`Behaviour suite on ${platform} (a cold root filesystem takes minutes)`);
        const run = await runOnPlatform({ project, runner, platform, wheelPath, server, helperEnv: helpers.env, step });
        platforms.push(run);
        const ms = run.status === 'passed' ? step.done(`${run.suite!.passed} passed on ${run.machine} CPython ${run.python}`) : step.fail(`${run.status}: ${run.reason}`);
        timings.push({ step: platform, ms });
        if (run.status === 'skipped') skip('platforms', `${platform}: ${run.reason}`);
      }
    } finally {
      await tearDown([helpers, server, scratch]);
    }
  } else if (opts.server !== 'none' || opts.serverAddress) {
    const scratch = scratchDir('verify-server', project.cacheDir);
    const dataDir = scratch.dir;
    step = log.step(opts.serverAddress ? `Use the server at ${opts.serverAddress}` : `Start a ${opts.server} server`);
    let server: ServerHandle | undefined;
    let helpers: HelperServers | undefined;
    let database: DatabaseServer | undefined;
    // Its own temp directory: PostgreSQL, run unprivileged under root, must be able to reach it.
    const databaseDir = backend === 'sqlite' ? null : scratchDir(`${backend}-`);
    try {
      if (databaseDir && backend !== 'sqlite') database = await startDatabase(backend, { runner, log, dir: databaseDir.dir });
      if (opts.serverAddress) server = await externalServer(opts.serverAddress);
      else if (opts.server === 'container') {
        server = await startContainerServer({ image: opts.image ?? defaultImage(upstreamVersionOf(inspection.metadata['Version']?.[0] ?? '')), log, dataDir: path.join(dataDir, 'container'), mlmdVersion, database });
      } else {
        server = await startReferenceServer({ ...reference, dataDir: path.join(dataDir, 'main'), database });
      }
      timings.push({ step: 'server', ms: step.done(`${server.description} on ${server.host}:${server.port}`) });
      // The timeout and TLS tests need servers of their own, of the same release where it can run
      // (where the root filesystem failed for the main reference server, it would fail again).
      step = log.step('Start a slow, a TLS and a mutual-TLS reference server for the timeout and TLS tests');
      helpers = await startHelperServers({ ...reference, reference: server.kind === 'reference' && server.note ? 'native' : opts.reference }, dataDir);
      timings.push({ step: 'helper servers', ms: step.done() });
      step = log.step(`Install the official ml-metadata ${mlmdVersion ?? ''} next to ${name}, both orders, in fresh venvs`);
      const started = server;
      coInstall = await coInstallCheck({
        project, runner, python, wheelPath, upstreamVersion: mlmdVersion ?? '',
        onPlatform: async (env) => {
          const run = await runOnPlatform({ project, runner, platform: SERVER_PLATFORM, wheelPath, server: started, helperEnv: env, suite: coInstallSuite(project), step });
          return { status: run.status, where: `${SERVER_PLATFORM} root filesystem (CPython ${run.python ?? '3.9'})`, reason: run.reason };
        },
      });
      if (coInstall.check.status === 'skip') skip('co-install', coInstall.reason ?? 'not checked');
      timings.push({ step: 'co-install', ms: coInstall.check.status === 'fail' ? step.fail(coInstall.check.detail) : step.done(`${coInstall.check.status}${coInstall.where ? ` (${coInstall.where})` : ''}`) });
      step = log.step('Behaviour suite in a fresh venv');
      const target = server;
      const { suite, upstreamTests } = await withSuiteVenv({ project, runner, python, wheelPath, constraints: opts.constraints, step }, async (venv) => {
        // The suite marks what the official store does differently on MySQL or PostgreSQL (MLMD_BACKEND).
        const suite = await runSuiteIn(venv, { project, runner, server: target, helperEnv: { ...helpers!.env, MLMD_BACKEND: backend }, markers: opts.markers, step });
        timings.push({ step: 'suite', ms: suite.failed ? step.fail(`${suite.failed} failed`) : step.done(`${suite.passed} passed, ${suite.skipped} skipped`) });
        const upstreamTests = await upstreamTestsStep({ project, deps, commit: upstreamCommit, wheelName: name, venv, server: target, skip, timings });
        return { suite, upstreamTests };
      });
      live = { server: { kind: server.kind, description: server.description, mlmdVersion: server.mlmdVersion, ...(server.note ? { note: server.note } : {}), address: `${server.host}:${server.port}`, backend, ...(database ? { database: { version: database.version, startupMs: database.startupMs } } : {}) }, ...(helpers.note && !server.note ? { helperNote: helpers.note } : {}), python: python.version, suite, upstreamTests };
    } finally {
      await tearDown([helpers, server, database, databaseDir, scratch]);
    }
  }
  for (const s of live?.suite.skips ?? []) skip('behaviour-tests', `${s.test}: ${s.message}`);
  for (const p of platforms ?? []) for (const s of p.suite?.skips ?? []) skip('behaviour-tests', `${p.platform} ${s.test}: ${s.message}`);
  const ok =
    failedChecks.length === 0 &&
    coInstall?.check.status !== 'fail' &&
    (live === null || (live.suite.failed === 0 && live.suite.total > 0 && (live.upstreamTests === null || (live.upstreamTests.files.length > 0 && live.upstreamTests.files.every((f) => f.failed === 0))))) &&
    !(platforms ?? []).some((p) => p.status === 'failed') &&
    (platforms === undefined || platforms.some((p) => p.status === 'passed')) &&
    skips.ok;
  const result: VerifyResult = { schemaVersion: 1, ok, wheel: { path: wheelPath, name, sha256 }, static: checks, ...(coInstall ? { coInstall } : {}), live, ...(platforms ? { platforms, platformServer } : {}), skipped: skips.skipped, allowedSkips: opts.allowSkips ?? [], timings };
  // Kept next to the wheel, keyed by its sha256, for anything that must only ship verified wheels
  // (only a verification against a live server counts for that).
  if (live) try {
    writeFileAtomic(`${wheelPath}.verify.json`, `${JSON.stringify(result, null, 2)}\n`);
  } catch {
    log.warn(`could not write ${wheelPath}.verify.json (read-only directory?)`);
  }
  return result;
}

/** One command, two results: a verify report, or with --matrix one row per dependency set. */
export const definition = defineCommand({
  command: 'verify [wheel]',
  describe: 'Verify a wheel: static checks, then the behaviour suite against a live MLMD server',
  options: (y) =>
    y
      .positional('wheel', { type: 'string', describe: 'The wheel (default: the only wheel in dist/)' })
      .option('server', { choices: ['reference', 'container', 'none'] as const, default: 'reference' as const, describe: 'reference: MLMD C++ store from the official wheel, run by us; container: a server image via testcontainers; none: static checks only' })
      .option('server-address', { type: 'string', describe: 'Verify against a running server at host:port instead' })
      .option('image', { type: 'string', describe: 'Image for --server container (default: gcr.io/tfx-oss-public/ml_metadata_store_server:<version>)' })
      .option('reference', REFERENCE_OPTION)
      .option('python', { type: 'string', describe: 'CPython for the venvs (default: python3; also MLMD_REMOTE_PYTHON)' })
      .option('markdown', { ...MARKDOWN_OPTION, describe: 'Print the report as markdown (for CI)' })
      .option('matrix', { type: 'boolean', default: false, describe: 'Run the behaviour suite once per row of tools/verify/matrix.json (dependency versions) and check the declared ranges against it' })
      .option('row', { type: 'string', array: true, describe: 'With --matrix: only these rows' })
      .option('platform', { type: 'string', array: true, describe: `Run the behaviour suite inside a foreign root filesystem (repeatable): ${PLATFORMS.join(', ')}` })
      .option('backend', { choices: BACKENDS, default: 'sqlite' as const, describe: 'Where the reference server stores: sqlite (its own file), or mysql / postgresql (a throw-away MariaDB or PostgreSQL server from Debian\'s packages, connected with the official server\'s flags)' })
      .option('allow-skip', { choices: SKIP_KINDS, array: true, describe: 'Let this part skip without failing the verdict (repeatable); the report still names every skip' })
      .example('$0 verify --matrix --markdown > docs/dependency-matrix.md', 'regenerate the published matrix')
      .example('$0 verify dist/ml_metadata_remote-1.14.0-py3-none-any.whl --server reference', '')
      .example('$0 verify --server container --image mlmd-remote/reference-server:1.14.0', ''),
  label: (a) => (a.matrix ? 'verify --matrix' : 'verify'),
  run: async (a, project, deps): Promise<VerifyResult | MatrixResult> =>
    a.matrix
      ? verifyMatrix({ project, wheel: a.wheel, python: a.python, rows: a.row, reference: a.reference, backend: a.backend }, deps)
      : verify({ project, wheel: a.wheel, server: a.server, serverAddress: a.serverAddress, image: a.image, reference: a.reference, python: a.python, platforms: a.platform?.map(parsePlatform), allowSkips: a.allowSkip, backend: a.backend }, deps),
  render: (r, a) => {
    if ('rows' in r) return a.markdown ? renderMatrixMarkdown(r) : renderMatrix(r);
    return a.markdown ? (r.platforms ? renderPlatformTable(r) : renderVerifyMarkdown(r)) : renderVerify(r);
  },
  exitCode: (r) => (r.ok ? ExitCode.ok : ExitCode.verify),
});
