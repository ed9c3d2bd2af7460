/**
 * The command line: parses flags, calls a command, prints its result (text,
 * or JSON alone on stdout with --json) and maps errors to exit codes. The only
 * module that prints results or exits. What each command is (flags, handler,
 * renderer, exit code) lives in its module under commands/.
 */
import yargs, { type ArgumentsCamelCase, type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadProject, type Project } from './config.js';
import { ExitCode, MlmdError, UsageError } from './errors.js';
import { killRunningProcesses, processRunner, waitForExit } from './exec.js';
import { hermeticGit, userUrlRewrites } from './git.js';
import { withLock } from './lock.js';
import { stderrLogger } from './log.js';
import { commandName, type CommandDefinition } from './command.js';
import { definition as apply } from './commands/apply.js';
import { definition as build } from './commands/build.js';
import { definition as check } from './commands/check.js';
import { definition as diffWheel } from './commands/diff-wheel.js';
import { definition as edit } from './commands/edit.js';
import { definition as exportCommand } from './commands/export.js';
import { definition as nightly } from './commands/nightly.js';
import { definition as rebase } from './commands/rebase.js';
import { definition as release } from './commands/release.js';
import { definition as review } from './commands/review.js';
import { definition as server } from './commands/server.js';
import { definition as sync } from './commands/sync.js';
import { definition as verify } from './commands/verify.js';
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

/** Every command, in the order --help lists them. */
export const COMMANDS: readonly CommandDefinition<any, any>[] = [sync, apply, edit, exportCommand, check, rebase, review, diffWheel, nightly, release, build, verify, server];

/** The commands that read upstream at a URL; --upstream-url means nothing to the others. */
export const UPSTREAM_URL_COMMANDS = COMMANDS.filter((d) => d.readsUpstream).map(commandName);

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
  const command = argv.find((a) => COMMANDS.some((d) => commandName(d) === a));
  const where = command ? ` for ${command}` : '';
  if (command && unique.includes('upstream-url')) {
    return new UsageError(`--upstream-url does not apply to ${command}: ${command} fetches nothing from upstream (it uses upstream/ as it is checked out, if at all)`, `leave it out; the commands that read upstream at a URL are ${UPSTREAM_URL_COMMANDS.join(', ')} (e.g. mlmd-remote sync --upstream-url <mirror>)`);
  }
  return new UsageError(`unknown option${unique.length > 1 ? 's' : ''}${where}: ${unique.map((n) => (n.length === 1 ? `-${n}` : `--${n}`)).join(', ')}`, `see mlmd-remote ${command ? `${command} ` : ''}--help`);
}

/** Runs a command (under the checkout's lock unless it is read-only), prints its result, and sets the exit code. */
async function run<A, R>(def: CommandDefinition<A, R>, a: ArgumentsCamelCase<A> & GlobalArgs): Promise<void> {
  const p = project(a);
  const deps = await makeDeps(a);
  const name = def.label?.(a) ?? commandName(def);
  const result = def.readOnly?.(a)
    ? await def.run(a, p, deps)
    : await withLock(p.cacheDir, name, async (stale) => {
        if (stale) deps.log.warn(`an earlier run (${stale.command}, pid ${stale.pid}) was interrupted; its lock was released`);
        return def.run(a, p, deps);
      }, p.root);
  emit(a, result, def.render(result, a));
  exitCode = def.exitCode?.(result, a) ?? ExitCode.ok;
}

export function buildCli(argv: string[]): Argv<GlobalArgs> {
  let cli = yargs(argv)
    .scriptName('mlmd-remote')
    .usage('$0 <command> [options]\n\nBuilds a remote-only, pure-Python wheel of ML Metadata from upstream/ and the patch series.')
    .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON on stdout (progress stays on stderr)' })
    .option('root', { type: 'string', describe: 'The mlmd-remote checkout (default: found from the current directory)' })
    .option('verbose', { type: 'boolean', default: false, describe: 'Show every command the tool runs' })
    .option('quiet', { type: 'boolean', default: false, describe: 'No progress on stderr' });
  for (const def of COMMANDS) {
    cli = cli.command(def.command, def.describe, def.options as (y: Argv) => Argv, (a) => run(def, a as ArgumentsCamelCase<object> & GlobalArgs));
  }
  return cli
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
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // Kept installed: a second signal while stopping (another Ctrl-C, or a signal to the whole
    // process group) would otherwise kill the process before its exit handlers clean up.
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\ninterrupted (${signal}): stopping, nothing half-written is kept\n`);
      waitForExit(killRunningProcesses('SIGTERM'), 2_000);
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
