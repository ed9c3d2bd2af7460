/**
 * Git, run with a configuration the tool controls: no system or user config
 * leaks into formatting, merging or hooks. The one thing kept from the user's
 * config is URL rewriting (url.<base>.insteadOf), and only for commands that
 * reach upstream, because that is how company mirrors work.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SimpleGitOptions, SimpleGitProgressEvent } from 'simple-git';
import { MissingToolError } from './errors.js';
import { CommandFailedError, InterruptedError, quoteForDisplay, trackAbort, type RunOptions, type RunResult, type Runner } from './exec.js';
import { formatMs, type Logger } from './log.js';
import { poll } from './poll.js';

/** Every setting the tool's git behaviour depends on, spelled out. */
export const HERMETIC_GIT_CONFIG: readonly string[] = [
  'core.autocrlf=false',
  'core.eol=lf',
  'core.safecrlf=false',
  'core.filemode=true',
  'core.symlinks=true',
  'core.abbrev=12',
  'core.quotePath=false',
  'core.hooksPath=/dev/null',
  'core.pager=cat',
  'core.fsmonitor=false',
  'core.whitespace=',
  'diff.algorithm=myers',
  'diff.context=3',
  'diff.renames=true',
  'diff.noprefix=false',
  'diff.mnemonicPrefix=false',
  'diff.relative=false',
  'diff.indentHeuristic=true',
  'diff.suppressBlankEmpty=false',
  'format.signature=',
  'apply.whitespace=nowarn',
  'merge.conflictStyle=diff3',
  'rerere.enabled=false',
  'commit.gpgSign=false',
  'tag.gpgSign=false',
  'user.name=mlmd-remote',
  'user.email=mlmd-remote@invalid',
  'init.defaultBranch=main',
  'advice.detachedHead=false',
  'gc.auto=0',
  'color.ui=false',
  'protocol.file.allow=always',
  'am.threeWay=false',
  'am.keepCR=false',
  'i18n.commitEncoding=UTF-8',
  'log.showSignature=false',
  // Settings a repository's own config could carry that change patch bytes or git am.
  'format.signOff=false',
  'format.thread=false',
  'format.coverLetter=false',
  'format.suffix=.patch',
  'diff.orderFile=/dev/null',
  'diff.interHunkContext=0',
  'am.messageId=false',
  'mailinfo.scissors=false',
  'core.attributesFile=/dev/null',
];

/** Environment that says how to reach a remote (certificates, ssh, proxies): kept, as mirrors need it. */
const NETWORK_ENV = /^GIT_(SSL_|SSH|PROXY|HTTP_|CURL_|ASKPASS$)/;

/** Environment of a hermetic git: no system or global config file, no prompts, C locale. */
export function hermeticGitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    // A caller's GIT_DIR / GIT_INDEX_FILE / GIT_CONFIG_* would redirect every command.
    if (key.startsWith('GIT_') && !NETWORK_ENV.test(key)) delete env[key];
    // No git call here starts an editor, a pager or a prompt (and simple-git refuses these variables).
    if (/^(EDITOR|VISUAL|PAGER|SSH_ASKPASS|PREFIX)$/i.test(key)) delete env[key];
  }
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: os.devNull,
    GIT_ATTR_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'true',
    LC_ALL: 'C',
    LANGUAGE: 'C',
    ...extra,
  };
}

export interface Git {
  (cwd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** The same git, with the user's URL rewrites added: for commands that fetch upstream. */
  remote: (cwd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;
}

/**
 * Git through simple-git, which adds the -c settings (`config`) and stops git
 * on a time limit or an interrupted run (`abort`, `timeout`). It logs each
 * command and reports clone and fetch progress on the runner's logger.
 */
export function hermeticGit(runner: Runner, urlRewrites: readonly string[] = []): Git {
  const git = ((cwd, args, opts) => runGit(runner.log, [], cwd, args, opts)) as Git;
  git.remote = (cwd, args, opts) => runGit(runner.log, urlRewrites, cwd, args, opts);
  return git;
}

/** The commands whose progress is shown (simple-git adds --progress to them). */
const PROGRESS_COMMANDS = ['clone', 'fetch'];

/** A line of git's progress meter, which the progress events report instead. */
const PROGRESS_LINE = /^(remote: )?[\w ]+:\s+\d+% \(\d+\/\d+\)/;

/** git's refusal to start while another git holds a lock (before it changes anything), and how long to wait for it. */
const LOCKED = /^fatal: Unable to create '([^']+\.lock)': File exists\./;
export const LOCK_WAIT_MS = 5_000;

/**
 * Runs git; when another git holds the repository's lock, waits for it to be
 * released and runs it again (a lock left after the wait is reported as git
 * reports it). Interrupted runs stop their git with a signal and exit at
 * once, so the next command can start while that git is still letting go.
 */
async function runGit(log: Logger | undefined, rewrites: readonly string[], cwd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const res = await runGitOnce(log, rewrites, cwd, args, { ...opts, allowFailure: true });
    const held = res.ok ? undefined : LOCKED.exec(res.stderr)?.[1];
    const lock = held === undefined ? null : path.resolve(cwd, held);
    if (!lock || Date.now() >= deadline) {
      if (!res.ok && !opts.allowFailure) throw new CommandFailedError(res, cwd);
      return res;
    }
    log?.debug(`${lock} is held by another git; waiting for it`);
    await poll(() => !fs.existsSync(lock) || Date.now() >= deadline, { timeoutMs: LOCK_WAIT_MS + 1_000, intervalMs: 20, description: `${lock} to be released` });
  }
}

async function runGitOnce(log: Logger | undefined, rewrites: readonly string[], cwd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const env = hermeticGitEnv(opts.env);
  const method = args[0] ?? '';
  // --quiet asks for no progress, and simple-git's --progress would override it.
  const progress = log !== undefined && PROGRESS_COMMANDS.includes(method) && !args.some((a) => a === '--quiet' || a === '-q' || a === '--no-progress');
  const shownArgs = [...HERMETIC_GIT_CONFIG, ...rewrites].flatMap((c) => ['-c', c]).concat(args, progress && !args.includes('--progress') ? ['--progress'] : []);
  const command = quoteForDisplay('git', shownArgs);
  log?.debug(`$ ${command}  (in ${cwd})`);
  const started = Date.now();
  const result = (exitCode: number, stdout: string, stderr: string): RunResult => ({ command, exitCode, stdout, stderr, durationMs: Date.now() - started, ok: exitCode === 0 });

  const interrupt = new AbortController();
  const untrack = trackAbort(interrupt);
  const limit = opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
  let exit: { exitCode: number | null; stdOut: Buffer[]; stdErr: Buffer[] } | undefined;
  const text = (chunks: Buffer[] | undefined) => Buffer.concat(chunks ?? []).toString('utf8');
  let res: RunResult;
  // Loaded on first use: commands that run no git (--help, server status) skip its start-up cost.
  const { GitConstructError, GitError, GitPluginError, simpleGit } = await import('simple-git');
  try {
    const sg = simpleGit({
      baseDir: cwd,
      config: [...HERMETIC_GIT_CONFIG, ...rewrites],
      unsafe: unsafeAllowed(rewrites, env),
      // Every GIT_* variable here was put there on purpose (see hermeticGitEnv); simple-git refuses any it is not told of.
      allowEnvironment: Object.keys(env).filter((k) => k.startsWith('GIT_')),
      abort: limit ? AbortSignal.any([interrupt.signal, limit]) : interrupt.signal,
      // timeoutMs limits the whole command, as the runner's did (the abort above); `block` is simple-git's own limit on silence.
      ...(opts.timeoutMs ? { timeout: { block: opts.timeoutMs } } : {}),
      ...(progress ? { progress: progressReporter(log, method) } : {}),
      // An empty stdin when there is no input: nothing waits on a stdin left open.
      input: () => Buffer.from(opts.input ?? ''),
      // simple-git only fails on a non-zero exit that printed to stderr (and not on a signal): keep the whole outcome.
      errors: (error, outcome) => {
        exit = outcome;
        return error;
      },
    }).env(env);
    const feed = opts.onLine ? lineFeeder(opts.onLine, progress) : undefined;
    sg.outputHandler((name, stdout, stderr) => {
      // After a git that printed nothing simple-git waits 50 ms for late output, on every such call; once stdout has ended
      // there can be none, and an empty chunk tells it so.
      stdout.once('end', () => stdout.emit('data', Buffer.alloc(0)));
      feed?.(name, stdout, stderr);
    });
    await sg.raw([...args]);
    res = result(exit?.exitCode ?? 1, text(exit?.stdOut), text(exit?.stdErr));
    if (exit?.exitCode === null) throw new InterruptedError(command); // stopped by a signal: Ctrl-C reaches git directly
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    if (err instanceof GitConstructError) {
      res = result(-2, '', err.message); // no such directory, as a spawn in it would fail
    } else if (err instanceof GitPluginError && (err.plugin === 'abort' || err.plugin === 'timeout')) {
      if (interrupt.signal.aborted) throw new InterruptedError(command);
      res = result(1, text(exit?.stdOut), `${text(exit?.stdErr)}git timed out after ${formatMs(opts.timeoutMs ?? 0)}\n`);
    } else if (err instanceof GitError && !(err instanceof GitPluginError) && exit) {
      if (exit.exitCode === null) throw new InterruptedError(command);
      // A spawn that failed: git is not installed (what the runner reports as 127).
      if (exit.exitCode === -2 && /spawn \S*git ENOENT/.test(text(exit.stdErr)) && !opts.allowFailure) throw new MissingToolError('git', 'install git or put it on PATH');
      res = result(exit.exitCode, text(exit.stdOut), text(exit.stdErr));
    } else {
      throw err; // a refused option or variable: this module's configuration is wrong
    }
  } finally {
    untrack();
  }
  if (!res.ok && !opts.allowFailure) throw new CommandFailedError(res, cwd);
  return res;
}

/**
 * simple-git refuses settings that can run programs or redirect git. These
 * are the ones a hermetic git sets on purpose, each to a harmless value.
 */
function unsafeAllowed(rewrites: readonly string[], env: NodeJS.ProcessEnv): SimpleGitOptions['unsafe'] {
  return {
    allowUnsafeHooksPath: true, // core.hooksPath=/dev/null: no hooks run
    allowUnsafePager: true, // core.pager=cat
    allowUnsafeFsMonitor: true, // core.fsmonitor=false
    allowUnsafeProtocolOverride: true, // protocol.file.allow=always: local upstream mirrors and submodules
    allowUnsafeConfigPaths: true, // GIT_CONFIG_GLOBAL=/dev/null: no user config
    allowUnsafeAskPass: true, // GIT_ASKPASS=true: never prompts
    // The user's own URL rewrites and credential helpers, for commands that reach upstream (userUrlRewrites).
    allowUnsafeUrlRewrite: rewrites.some((r) => /^url\./i.test(r)),
    allowUnsafeCredentialHelper: rewrites.some((r) => /^credential\.(.+\.)?helper=/i.test(r)),
    // The user's ssh and proxy commands, kept as mirrors need them (NETWORK_ENV).
    allowUnsafeSshCommand: env['GIT_SSH'] !== undefined || env['GIT_SSH_COMMAND'] !== undefined,
    allowUnsafeGitProxy: env['GIT_PROXY_COMMAND'] !== undefined,
    // hermeticGitEnv drops editors: one here is a caller's own (opts.env), e.g. GIT_SEQUENCE_EDITOR=true for a scripted rebase.
    allowUnsafeEditor: ['GIT_EDITOR', 'GIT_SEQUENCE_EDITOR', 'EDITOR', 'VISUAL'].some((k) => env[k] !== undefined),
  };
}

const STAGES: Record<string, string> = {
  enumerating: 'enumerating objects',
  counting: 'counting objects',
  compressing: 'compressing objects',
  receiving: 'receiving objects',
  resolving: 'resolving deltas',
  writing: 'writing objects',
  'remote:': 'remote preparing objects',
};

/** Progress lines such as "fetch: receiving objects 45%", at most one a second. */
function progressReporter(log: Logger, method: string): (event: SimpleGitProgressEvent) => void {
  let lastAt = 0;
  let last = '';
  return (event) => {
    const line = `${method}: ${STAGES[event.stage] ?? event.stage} ${event.progress}%`;
    const now = Date.now();
    if (line === last || now - lastAt < 1000) return;
    lastAt = now;
    last = line;
    log.progress(line);
  };
}

/** Feeds each line git prints to `onLine`, as the runner does (less the progress meter when it is reported as progress). */
function lineFeeder(onLine: (line: string) => void, progress: boolean) {
  return (_command: string, stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) => {
    for (const stream of [stdout, stderr]) {
      let pending = '';
      stream.on('data', (chunk: Buffer | string) => {
        pending += chunk.toString();
        const lines = pending.split(/\r?\n|\r/);
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim() && !(progress && PROGRESS_LINE.test(line))) onLine(line);
      });
    }
  };
}

/**
 * How the user's own git config (system and global) reaches remotes: URL
 * rewrites (url.<base>.insteadOf), http.* (certificates, proxies) and
 * credential helpers, as `key=value` pairs for `git -c` on fetches only.
 * On the plain runner, not simple-git: it reads the config the user's own git
 * sees, and simple-git would drop GIT_CONFIG_GLOBAL and the like.
 */
export async function userUrlRewrites(runner: Runner): Promise<string[]> {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  for (const key of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[key];
  const res = await runner('git', ['config', '--get-regexp', '^(url\\..*\\.(insteadof|pushinsteadof)|http\\..*|credential\\..*)$'], {
    cwd: os.tmpdir(),
    env,
    replaceEnv: true,
    allowFailure: true,
  });
  if (!res.ok) return []; // exit 1: no such settings
  return parseUrlRewrites(res.stdout);
}

export function parseUrlRewrites(configOutput: string): string[] {
  const out: string[] = [];
  for (const line of configOutput.split('\n')) {
    const m = /^url\.(.+)\.(insteadof|pushinsteadof) (.*)$/i.exec(line.trim());
    if (m) out.push(`url.${m[1]}.${m[2]!.toLowerCase() === 'insteadof' ? 'insteadOf' : 'pushInsteadOf'}=${m[3]}`);
    const n = /^((?:http|credential)\.\S+) (.*)$/i.exec(line.trim());
    if (n) out.push(`${n[1]}=${n[2]}`);
  }
  return out;
}
