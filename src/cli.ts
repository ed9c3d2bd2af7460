/**
 * The command line: parses flags, calls a command, prints its result (text,
 * or JSON alone on stdout with --json) and maps errors to exit codes. The only
 * module that prints results or exits.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadProject, type Project } from './config.js';
import { ExitCode, MlmdError, UsageError } from './errors.js';
import { killRunningProcesses, processRunner } from './exec.js';
import { hermeticGit, userUrlRewrites } from './git.js';
import { withLock } from './lock.js';
import { stderrLogger } from './log.js';
import { renderPlatformTable, renderRelease, renderNightly, renderWheelDiff, renderReview, renderReviewMarkdown, renderApply, renderApplyMarkdown, renderBuild, renderCheck, renderEdit, renderExport, renderRebase, renderRebaseMarkdown, renderMatrix, renderMatrixMarkdown, renderServerStatus, renderSync, renderVerify, renderVerifyMarkdown } from './report.js';
import { parseToolchainKind } from './toolchain.js';
import { parsePlatform, PLATFORMS } from './platforms.js';
import { REFERENCE_CHOICES } from './reference-server.js';
import { SKIP_KINDS } from './verdict.js';
import type { Deps } from './commands/deps.js';

interface GlobalArgs {
  json: boolean;
  root?: string;
  verbose: boolean;
  quiet: boolean;
}

async function makeDeps(args: GlobalArgs): Promise<Deps> {
  const log = stderrLogger({ verbose: args.verbose, quiet: args.quiet });
  const runner = processRunner(log);
  const git = hermeticGit(runner, await userUrlRewrites(runner));
  return { runner, git, log };
}

function project(args: GlobalArgs): Project {
  return args.root ? loadProject(args.root, { exact: true }) : loadProject(process.cwd());
}

function emit(args: GlobalArgs, result: unknown, text: string): void {
  process.stdout.write(args.json ? `${JSON.stringify(result, null, 2)}\n` : `${text}\n`);
}

let exitCode: number = ExitCode.ok;

/** Options several commands share, defined once. */
const FORCE_OPTION = { type: 'boolean', default: false, describe: 'Proceed even if upstream/ holds other work (it is saved first)' } as const;
const UPSTREAM_URL_OPTION = { type: 'string', describe: 'Fetch upstream from this URL, e.g. a mirror (also MLMD_REMOTE_UPSTREAM_URL)' } as const;
const UPSTREAM_URL_CHECK_OPTION = { type: 'string', describe: 'Check at this URL (e.g. a mirror) that the pinned tag still names the pinned commit, first (also MLMD_REMOTE_UPSTREAM_URL)' } as const;

const COMMANDS = ['sync', 'apply', 'edit', 'export', 'check', 'rebase', 'review', 'diff-wheel', 'nightly', 'release', 'build', 'verify', 'server'];

/** The commands that read upstream at a URL; --upstream-url means nothing to the others. */
export const UPSTREAM_URL_COMMANDS = ['sync', 'apply', 'check', 'build', 'rebase', 'nightly'] as const;

/**
 * yargs' "Unknown arguments: foo-bar, fooBar" as one sentence naming each
 * option once, and for --upstream-url on a command that reads no upstream,
 * which commands do.
 */
export function unknownOptionError(msg: string, argv: readonly string[]): UsageError | null {
  const m = /^Unknown arguments?: (.*)$/.exec(msg);
  if (!m) return null;
  const names = m[1]!.split(', ');
  const camel = (n: string) => n.replace(/-([a-z])/g, (_x, c: string) => c.toUpperCase());
  const unique = names.filter((n) => !(n !== camel(n) ? false : names.some((o) => o !== n && camel(o) === n)));
  const command = argv.find((a) => COMMANDS.includes(a));
  const where = command ? ` for ${command}` : '';
  if (command && unique.includes('upstream-url')) {
    return new UsageError(`--upstream-url does not apply to ${command}: ${command} fetches nothing from upstream (it uses upstream/ as it is checked out, if at all)`, `leave it out; the commands that read upstream at a URL are ${UPSTREAM_URL_COMMANDS.join(', ')} (e.g. mlmd-remote sync --upstream-url <mirror>)`);
  }
  return new UsageError(`unknown option${unique.length > 1 ? 's' : ''}${where}: ${unique.map((n) => (n.length === 1 ? `-${n}` : `--${n}`)).join(', ')}`, `see mlmd-remote ${command ? `${command} ` : ''}--help`);
}

/** Commands that change nothing a concurrent run relies on, so they do not wait for the lock. */
const READ_ONLY = new Set(['review', 'diff-wheel', 'server status']);

/** Runs a command (under the checkout's lock unless it is read-only), prints its result, and sets the exit code. */
async function run<T>(args: GlobalArgs, name: string, fn: (p: Project, deps: Deps) => Promise<T>, render: (r: T) => string, code: (r: T) => number = () => ExitCode.ok): Promise<void> {
  const p = project(args);
  const deps = await makeDeps(args);
  const result = READ_ONLY.has(name)
    ? await fn(p, deps)
    : await withLock(p.cacheDir, name, async (stale) => {
        if (stale) deps.log.warn(`an earlier run (${stale.command}, pid ${stale.pid}) was interrupted; its lock was released`);
        return fn(p, deps);
      });
  emit(args, result, render(result));
  exitCode = code(result);
}

export function buildCli(argv: string[]): Argv<GlobalArgs> {
  return yargs(argv)
    .scriptName('mlmd-remote')
    .usage('$0 <command> [options]\n\nBuilds a remote-only, pure-Python wheel of ML Metadata from upstream/ and the patch series.')
    .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON on stdout (progress stays on stderr)' })
    .option('root', { type: 'string', describe: 'The mlmd-remote checkout (default: found from the current directory)' })
    .option('verbose', { type: 'boolean', default: false, describe: 'Show every command the tool runs' })
    .option('quiet', { type: 'boolean', default: false, describe: 'No progress on stderr' })
    .command(
      'sync',
      'Bring upstream/ to the pinned commit (checking that the tag still names it)',
      (y) =>
        y
          .option('upstream-url', UPSTREAM_URL_OPTION)
          .option('force', FORCE_OPTION)
          .example('$0 sync', 'check out the pin')
          .example('$0 sync --upstream-url https://mirror.example/ml-metadata.git', 'use a mirror'),
      (a) => run(a, 'sync', (p, d) => import('./commands/sync.js').then((m) => m.sync({ project: p, url: a.upstreamUrl, force: a.force }, d)), renderSync),
    )
    .command(
      'apply',
      'Reset upstream/ to the pin and apply WORKSPACE.patch and the series',
      (y) =>
        y
          .option('check', { type: 'boolean', default: false, describe: 'Only try the series on a scratch index; change nothing' })
          .option('force', FORCE_OPTION)
          .option('upstream-url', UPSTREAM_URL_CHECK_OPTION)
          .option('markdown', { type: 'boolean', default: false, describe: 'Print the per-patch report as markdown' }),
      (a) =>
        run(
          a,
          'apply',
          (p, d) => import('./commands/apply.js').then((m) => m.apply({ project: p, check: a.check, force: a.force, url: a.upstreamUrl }, d)),
          (r) => (a.markdown ? renderApplyMarkdown(r) : renderApply(r)),
          (r) => (r.ok ? ExitCode.ok : ExitCode.patchConflict),
        ),
    )
    .command(
      'edit',
      'Turn the series into commits on the branch mlmd-remote/work in upstream/, for editing with git',
      (y) => y.option('force', FORCE_OPTION),
      (a) => run(a, 'edit', (p, d) => import('./commands/edit.js').then((m) => m.edit({ project: p, force: a.force }, d)), renderEdit, (r) => (r.status === 'stopped' ? ExitCode.patchConflict : ExitCode.ok)),
    )
    .command(
      'export',
      'Turn the commits on top of the pin back into patch files; unchanged patches keep their bytes',
      (y) =>
        y
          .option('verbatim', { type: 'boolean', default: false, describe: 'Re-format every patch, even those whose effect did not change' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'Say what would change; write nothing' }),
      (a) => run(a, 'export', (p, d) => import('./commands/export.js').then((m) => m.exportSeries({ project: p, verbatim: a.verbatim, dryRun: a.dryRun }, d)), renderExport),
    )
    .command(
      'check',
      'CI guard: the series applies to the pin and export would change nothing',
      (y) => y.option('upstream-url', UPSTREAM_URL_CHECK_OPTION),
      (a) => run(a, 'check', (p, d) => import('./commands/check.js').then((m) => m.check({ project: p, url: a.upstreamUrl }, d)), renderCheck, (r) => (r.ok ? ExitCode.ok : ExitCode.patchConflict)),
    )
    .command(
      'rebase [tag]',
      'Move the pin to an upstream tag and re-apply the series, patch by patch (stops on conflicts)',
      (y) =>
        y
          .positional('tag', { type: 'string', describe: 'The upstream tag to move to, e.g. v1.15.0' })
          .option('continue', { type: 'boolean', default: false, describe: 'Resume after resolving a conflict' })
          .option('abort', { type: 'boolean', default: false, describe: 'Undo the rebase: pin, patch files and upstream/ as before' })
          .option('upstream-url', UPSTREAM_URL_OPTION)
          .option('markdown', { type: 'boolean', default: false, describe: 'Print the per-patch report as markdown' })
          .check((a) => {
            if ([Boolean(a.tag), a.continue, a.abort].filter(Boolean).length !== 1) throw new UsageError('give a tag, or --continue, or --abort', 'e.g. mlmd-remote rebase v1.15.0');
            return true;
          }),
      (a) =>
        run(
          a,
          'rebase',
          (p, d) =>
            import('./commands/rebase.js').then((m) =>
              a.continue ? m.rebaseContinue({ project: p }, d) : a.abort ? m.rebaseAbort({ project: p }, d) : m.rebaseStart({ project: p, tag: a.tag!, url: a.upstreamUrl }, d),
            ),
          (r) => (a.markdown ? renderRebaseMarkdown(r) : renderRebase(r)),
          (r) => (r.status === 'stopped' ? ExitCode.patchConflict : ExitCode.ok),
        ),
    )
    .command(
      'review',
      'Compare the series between two revisions of this repository, patch by patch (for pull requests)',
      (y) =>
        y
          .option('base', { type: 'string', describe: 'Base revision (default: merge base with origin/main or main)' })
          .option('head', { type: 'string', default: 'HEAD', describe: 'Head revision' })
          .option('markdown', { type: 'boolean', default: false, describe: 'Markdown for a PR comment, one collapsible section per patch' }),
      (a) =>
        run(a, 'review', (p, d) => import('./commands/review.js').then((m) => m.review({ project: p, base: a.base, head: a.head }, d)), (r) => (a.markdown ? renderReviewMarkdown(r) : renderReview(r))),
    )
    .command(
      'diff-wheel [wheels..]',
      'Diff two wheels (BASE HEAD), or a wheel against the official ml-metadata wheel of its version',
      (y) =>
        y
          .positional('wheels', { type: 'string', array: true, describe: '[BASE] HEAD; HEAD defaults to the only wheel in dist/' })
          .option('python', { type: 'string', describe: 'CPython that runs pip and the wheel helper' })
          .option('markdown', { type: 'boolean', default: false, describe: 'Markdown for a PR comment' })
          .check((a) => {
            if ((a.wheels?.length ?? 0) > 2) throw new UsageError('give at most two wheels: [BASE] HEAD');
            return true;
          }),
      (a) => {
        const w = a.wheels ?? [];
        return run(
          a,
          'diff-wheel',
          (p, d) => import('./commands/diff-wheel.js').then((m) => m.diffWheel({ project: p, base: w.length === 2 ? w[0] : undefined, head: w.length === 2 ? w[1] : w[0], python: a.python }, d)),
          (r) => renderWheelDiff(r, a.markdown),
        );
      },
    )
    .command(
      'nightly',
      'For each upstream release newer than the pin: rebase in a scratch clone, build, verify, and report',
      (y) =>
        y
          .option('pre', { type: 'boolean', default: false, describe: 'Include pre-releases (rc, beta, ...)' })
          .option('tag', { type: 'string', array: true, describe: 'Only these tags (e.g. one per CI matrix job)' })
          .option('out', { type: 'string', describe: 'Directory for summary.md, summary.json and the wheels (default: .cache/nightly/<date>)' })
          .option('skip-verify', { type: 'boolean', default: false, describe: 'Build but do not verify' })
          .option('list', { type: 'boolean', default: false, describe: 'Only list the newer tags (exit 0 either way); with --json, for a CI matrix' })
          .option('upstream-url', UPSTREAM_URL_OPTION),
      (a) =>
        run(
          a,
          'nightly',
          (p, d) => import('./commands/nightly.js').then((m) => m.nightly({ project: p, url: a.upstreamUrl, prereleases: a.pre, tags: a.tag, outDir: a.out, skipVerify: a.skipVerify, listOnly: a.list }, d)),
          renderNightly,
          (r) => (r.status === 'up-to-date' || r.status === 'new-tags' ? ExitCode.ok : r.status === 'new-tag-fine' ? ExitCode.newTagFine : ExitCode.newTagNeedsAttention),
        ),
    )
    .command(
      'release [wheel]',
      'Publish the verified wheel with twine; a re-spin of a published version becomes the next .postN',
      (y) =>
        y
          .positional('wheel', { type: 'string', describe: 'The wheel (default: the only wheel in dist/)' })
          .option('repository-url', { type: 'string', describe: 'Upload URL, e.g. https://upload.pypi.org/legacy/ or http://127.0.0.1:8080/' })
          .option('repository', { type: 'string', describe: 'A repository section of ~/.pypirc' })
          .option('index-url', { type: 'string', describe: 'Simple index to read existing versions from (default: derived from the upload URL)' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'Verify and check, then show exactly what would be uploaded; upload nothing' })
          .option('python', { type: 'string', describe: 'CPython for the venvs' })
          .option('accept-incomplete', { type: 'boolean', default: false, describe: 'Publish although verify skipped something (even if allowed) or served another MLMD release than the wheel\'s; the result names what was not proven' })
          .example('$0 release --repository-url http://127.0.0.1:8080/ --dry-run', ''),
      (a) =>
        run(
          a,
          'release',
          (p, d) => import('./commands/release.js').then((m) => m.release({ project: p, wheel: a.wheel, repositoryUrl: a.repositoryUrl, repository: a.repository, indexUrl: a.indexUrl, dryRun: a.dryRun, python: a.python, acceptIncomplete: a.acceptIncomplete }, d)),
          renderRelease,
        ),
    )
    .command(
      'build',
      'Build the wheel into dist/ (pin + series -> bazel -> setuptools), without touching upstream/',
      (y) =>
        y
          .option('profile', { type: 'string', default: 'default', describe: 'Build profile from mlmd-remote.json: default (ml-metadata-remote) or drop-in (ml-metadata, +remote.N)' })
          .option('toolchain', { type: 'string', describe: 'Proto toolchain: grpcio-tools (pinned, from PyPI) or system (protoc + grpc_python_plugin on PATH)' })
          .option('python', { type: 'string', describe: 'Python for the build venvs (default: python3; also MLMD_REMOTE_PYTHON)' })
          .option('bazel', { type: 'string', describe: 'Absolute path of a local bazel; skips bazelisk (also MLMD_REMOTE_BAZEL)' })
          .option('bazelrc', { type: 'string', describe: 'An extra .bazelrc to read (e.g. a shared --remote_cache)' })
          .option('bazel-opt', { type: 'string', array: true, default: [] as string[], describe: 'A bazel build option to pass through (repeatable), e.g. --bazel-opt=--remote_cache=grpc://cache:9092' })
          .option('upstream-url', UPSTREAM_URL_CHECK_OPTION)
          .option('dist', { type: 'string', describe: 'Output directory (default: dist/)' })
          .option('work-dir', { type: 'string', describe: 'Scratch tree to stage and build in (default: .cache/work; a fixed path keeps bazel warm)' })
          .option('reproducible-check', { type: 'boolean', default: false, describe: 'Build twice in separate scratch trees; fail unless the two wheels are byte-identical' }),
      (a) =>
        run(
          a,
          'build',
          (p, d) =>
            import('./commands/build.js').then((m) =>
              m.build(
                {
                  project: p,
                  profile: a.profile,
                  toolchain: a.toolchain ? parseToolchainKind(a.toolchain) : undefined,
                  python: a.python,
                  bazel: a.bazel,
                  bazelrc: a.bazelrc,
                  bazelOptions: a.bazelOpt,
                  upstreamUrl: a.upstreamUrl,
                  distDir: a.dist,
                  workDir: a.workDir,
                  reproducibleCheck: a.reproducibleCheck,
                },
                d,
              ),
            ),
          renderBuild,
        ),
    )
    .command(
      'verify [wheel]',
      'Verify a wheel: static checks, then the behaviour suite against a live MLMD server',
      (y) =>
        y
          .positional('wheel', { type: 'string', describe: 'The wheel (default: the only wheel in dist/)' })
          .option('server', { choices: ['reference', 'container', 'none'] as const, default: 'reference' as const, describe: 'reference: MLMD C++ store from the official wheel, run by us; container: a server image via testcontainers; none: static checks only' })
          .option('server-address', { type: 'string', describe: 'Verify against a running server at host:port instead' })
          .option('image', { type: 'string', describe: 'Image for --server container (default: gcr.io/tfx-oss-public/ml_metadata_store_server:<version>)' })
          .option('reference', { choices: REFERENCE_CHOICES, default: 'auto' as const, describe: 'Which MLMD release the reference server runs. auto: the one the wheel was built from, in a CPython 3.9 root filesystem when this host has no official wheel for it (needs root with the right to mount; else falls back to native, with a warning); same-version: that or fail; native: the release pinned in tools/reference_server/requirements.txt, on this host' })
          .option('python', { type: 'string', describe: 'CPython for the venvs (default: python3; also MLMD_REMOTE_PYTHON)' })
          .option('markdown', { type: 'boolean', default: false, describe: 'Print the report as markdown (for CI)' })
          .option('matrix', { type: 'boolean', default: false, describe: 'Run the behaviour suite once per row of tools/verify/matrix.json (dependency versions) and check the declared ranges against it' })
          .option('row', { type: 'string', array: true, describe: 'With --matrix: only these rows' })
          .option('platform', { type: 'string', array: true, describe: `Run the behaviour suite inside a foreign root filesystem (repeatable): ${PLATFORMS.join(', ')}` })
          .option('allow-skip', { choices: SKIP_KINDS, array: true, describe: 'Let this part skip without failing the verdict (repeatable); the report still names every skip' })
          .example('$0 verify --matrix --markdown > docs/dependency-matrix.md', 'regenerate the published matrix')
          .example('$0 verify dist/ml_metadata_remote-1.14.0-py3-none-any.whl --server reference', '')
          .example('$0 verify --server container --image mlmd-remote/reference-server:1.14.0', ''),
      (a) =>
        a.matrix
          ? run(
              a,
              'verify --matrix',
              (p, d) => import('./commands/verify.js').then((m) => m.verifyMatrix({ project: p, wheel: a.wheel, python: a.python, rows: a.row, reference: a.reference }, d)),
              (r) => (a.markdown ? renderMatrixMarkdown(r) : renderMatrix(r)),
              (r) => (r.ok ? ExitCode.ok : ExitCode.verify),
            )
          : run(
          a,
          'verify',
          (p, d) =>
            import('./commands/verify.js').then((m) =>
              m.verify({ project: p, wheel: a.wheel, server: a.server, serverAddress: a.serverAddress, image: a.image, reference: a.reference, python: a.python, platforms: a.platform?.map(parsePlatform), allowSkips: a.allowSkip }, d),
            ),
          (r) => (a.markdown ? (r.platforms ? renderPlatformTable(r) : renderVerifyMarkdown(r)) : renderVerify(r)),
          (r) => (r.ok ? ExitCode.ok : ExitCode.verify),
        ),
    )
    .command('server <action>', 'Run the reference MLMD server for your own use: start | stop | status', (y) =>
      y
        .positional('action', { choices: ['start', 'stop', 'status'] as const, demandOption: true })
        .option('port', { type: 'number', describe: 'Port on 127.0.0.1 (default: a free one)' })
        .option('python', { type: 'string', describe: 'CPython for the server venv (the official wheel must exist for it)' })
        .option('reference', { choices: REFERENCE_CHOICES, default: 'auto' as const, describe: 'Which MLMD release the reference server runs. auto: the one the wheel was built from, in a CPython 3.9 root filesystem when this host has no official wheel for it (needs root with the right to mount; else falls back to native, with a warning); same-version: that or fail; native: the release pinned in tools/reference_server/requirements.txt, on this host' }),
      (a) =>
        a.action === 'status'
          ? run(a, 'server status', (p) => import('./commands/server.js').then((m) => m.serverStatus({ project: p })), renderServerStatus, (r) => (r.running ? ExitCode.ok : ExitCode.failure))
          : a.action === 'start'
            ? run(a, 'server start', (p, d) => import('./commands/server.js').then((m) => m.serverStart({ project: p, port: a.port, python: a.python, reference: a.reference }, d)), renderServerStatus)
            : run(a, 'server stop', (p, d) => import('./commands/server.js').then((m) => m.serverStop({ project: p }, d)), () => 'The reference server is stopped.'),
    )
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .epilogue(
      'Exit codes: 0 ok, 1 failure, 2 usage, 3 refused (upstream/ holds other work, or another run holds the lock), 4 a patch does not apply, 5 build failed, 6 verification failed, 7 supply-chain alarm (moved tag, inconsistent pin), 8 a required tool is missing, 10 nightly: new upstream release(s), all fine, 11 nightly: a new release needs attention, 70 internal error (a bug), 130 interrupted (Ctrl-C).',
    )
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((msg, err) => {
      throw err ?? unknownOptionError(msg, argv) ?? new UsageError(msg, 'see mlmd-remote --help');
    }) as unknown as Argv<GlobalArgs>;
}

/**
 * Ctrl-C or a TERM: stop the processes this run started and exit 130; the
 * exit handlers then remove partial wheels and release the lock, and the next
 * run finds any other interrupted state (a rebase) on disk.
 */
function exitOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\ninterrupted (${signal}): stopping, nothing half-written is kept\n`);
      killRunningProcesses('SIGTERM');
      process.exit(ExitCode.interrupted);
    });
  }
}

export async function main(argv = hideBin(process.argv)): Promise<number> {
  exitOnSignals();
  const json = argv.includes('--json');
  try {
    await buildCli(argv).parseAsync();
    return exitCode;
  } catch (err) {
    const e = err instanceof MlmdError ? err : null;
    const code = e ? e.exitCode : ExitCode.internal;
    if (json) {
      process.stdout.write(`${JSON.stringify({ schemaVersion: 1, error: { kind: e ? e.name : 'InternalError', message: (err as Error).message, hint: e?.hint, exitCode: code, details: e?.details } }, null, 2)}\n`);
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    if (e?.hint) process.stderr.write(`hint: ${e.hint}\n`);
    if (!e) process.stderr.write(`${(err as Error).stack ?? ''}\nThis is a bug in mlmd-remote.\n`);
    return code;
  }
}
