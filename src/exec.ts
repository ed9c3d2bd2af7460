/**
 * The one place that starts processes. A finished process is a value; callers
 * that treat a non-zero exit as an answer pass `allowFailure`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ProcessOutput } from 'zx';
import { ExitCode, MlmdError, MissingToolError } from './errors.js';
import type { Logger } from './log.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Replace the environment instead of extending process.env. */
  replaceEnv?: boolean;
  input?: string;
  allowFailure?: boolean;
  /** Called with each line of stderr/stdout as it arrives (progress). */
  onLine?: (line: string) => void;
  timeoutMs?: number;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  ok: boolean;
}

export type Runner = ((cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>) & {
  /** Where the runner logs: git (src/git.ts), which runs outside it, logs there too. */
  readonly log?: Logger;
};

export class CommandFailedError extends MlmdError {
  readonly result: RunResult;
  constructor(result: RunResult, cwd?: string) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n').replace(/(\/\/)[^/@\s]+@/g, '$1***@');
    super(`${result.command} exited with ${result.exitCode}${cwd ? ` (in ${cwd})` : ''}${tail ? `:\n${tail}` : ''}`);
    this.result = result;
  }
}

/** A child process was stopped by SIGINT: the run is being interrupted (cli.ts exits 130). */
export class InterruptedError extends MlmdError {
  constructor(command: string) {
    super(`interrupted while running ${command}`, { exitCode: ExitCode.interrupted, hint: 'run the command again: it finds what the interrupted run left and recovers it' });
  }
}

/** A command line as it may be shown: quoted, with credentials in URLs hidden. */
export function quoteForDisplay(cmd: string, args: readonly string[]): string {
  return [cmd, ...args]
    .map((a) => a.replace(/(\/\/)[^/@\s]+@/g, '$1***@'))
    .map((a) => (/^[\w@%+=:,./*-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/** A process startLongRunning started (callers need not import node:child_process). */
export type LongRunningProcess = ChildProcess;

export interface LongRunningOptions {
  env?: NodeJS.ProcessEnv;
  /** Append stdout and stderr to this file; otherwise they are pipes. */
  logFile?: string;
  /** Outlive this run (mlmd-remote server start): a session of its own, not stopped when the run is interrupted; the caller unrefs it once it is ready. */
  detached?: boolean;
}

/**
 * Starts a process that runs until it is stopped (a server). Unless detached
 * it stays in this process's group, so Ctrl-C reaches it even where no
 * handler runs (a test run), and an interrupted run stops it too.
 */
export function startLongRunning(cmd: string, args: readonly string[], opts: LongRunningOptions = {}): LongRunningProcess {
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : 'pipe';
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { stdio: ['ignore', out, out], detached: opts.detached ?? false, env: opts.env ?? process.env });
  } finally {
    if (typeof out === 'number') fs.closeSync(out);
  }
  if (!opts.detached) trackProcess(child);
  return child;
}

/** SIGTERM (or `signal`), and SIGKILL when it has not exited after `graceMs`. */
export async function stopProcess(child: LongRunningProcess, graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Processes started and not yet finished, so an interrupted run can stop them.
 * The runner's children each lead a process group of their own (`group`): an
 * interrupted run kills the whole group at once, synchronously, before it
 * exits (zx's own kill first lists the tree, asynchronously, and would never
 * get to it), so no child, nor a child's child, runs on after the run ended.
 */
const running = new Set<{ kill(signal?: NodeJS.Signals): unknown; group?: () => number | undefined; gitTree?: true }>();

/** Lets an interrupted run stop a long-running process started outside the Runner (a server). */
export function trackProcess(proc: { kill(signal?: NodeJS.Signals): unknown; once(event: 'exit', fn: () => void): unknown }): void {
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
}

/**
 * Lets an interrupted run stop git started through simple-git, which the
 * runner never sees: aborting the controller makes simple-git kill its child
 * at once (git alone: its own children are stopped by killGitTrees). Returns
 * the function that stops tracking it.
 */
export function trackAbort(controller: AbortController): () => void {
  const entry = { kill: () => controller.abort(), gitTree: true as const };
  running.add(entry);
  return () => void running.delete(entry);
}

/** Sends `signal` to every process the runner started that is still running. */
export function killRunningProcesses(signal: NodeJS.Signals = 'SIGTERM'): number[] {
  const signalled = [...running].some((p) => p.gitTree) ? killGitTrees(signal) : [];
  for (const proc of running) {
    try {
      const group = proc.group?.();
      if (group) process.kill(-group, signal);
      else proc.kill(signal);
      if (group) signalled.push(group);
    } catch {
      // already gone
    }
  }
  return signalled;
}

/**
 * Blocks (no other code of this run goes on) until `pids` have exited, at
 * most `ms`: a git stopped a moment ago may still be writing files or holding
 * its lock, and the next command must not find it at work. A dead child this
 * process has not reaped yet is a zombie, which counts as gone.
 */
export function waitForExit(pids: readonly number[], ms: number): void {
  const deadline = Date.now() + ms;
  const gone = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
    } catch {
      try {
        process.kill(pid, 0);
        return !fs.existsSync('/proc/self'); // no /proc: cannot tell a zombie, so do not wait on it
      } catch {
        return true;
      }
    }
  };
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (pids.some((pid) => !gone(pid)) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10);
}

/**
 * simple-git starts git in this process's group and says not which pid it
 * has, and killing git leaves its children (ssh, a remote helper, a
 * submodule's clone) running: list the processes once, synchronously, and
 * stop every git this process started with everything under it.
 */
function killGitTrees(signal: NodeJS.Signals): number[] {
  let listing: string;
  try {
    listing = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,comm='], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return []; // no ps: aborting still stops git itself
  }
  const children = new Map<number, number[]>();
  const tree: number[] = [];
  for (const line of listing.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.+)$/.exec(line);
    if (!m) continue;
    const [pid, ppid] = [Number(m[1]), Number(m[2])];
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    if (ppid === process.pid && path.basename(m[3]!.trim()) === 'git') tree.push(pid);
  }
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  for (const pid of tree) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
  return tree;
}

/** A Runner on child processes (through zx, which quotes every argument). */
export function processRunner(log?: Logger): Runner {
  const run: Runner = async (cmd, args, opts = {}) => {
    const command = quoteForDisplay(cmd, args);
    log?.debug(`$ ${command}${opts.cwd ? `  (in ${opts.cwd})` : ''}`);
    const env = opts.replaceEnv ? { ...opts.env } : { ...process.env, ...opts.env };
    const started = Date.now();
    // Loaded on first use, as it costs ~0.1 s of start-up that --help and usage errors need not pay.
    const { $ } = await import('zx');
    const proc = $({
      cwd: opts.cwd,
      env,
      nothrow: true,
      quiet: true,
      input: opts.input,
      timeout: opts.timeoutMs,
      verbose: false,
      // A process group of its own, which killRunningProcesses stops as a whole.
      detached: true,
    })`${cmd} ${args}`;
    if (opts.onLine) {
      const onLine = opts.onLine;
      let pending = '';
      const feed = (chunk: Buffer | string) => {
        pending += chunk.toString();
        const lines = pending.split(/\r?\n|\r/);
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) onLine(line);
      };
      proc.stdout.on('data', feed);
      proc.stderr.on('data', feed);
    }
    let out: ProcessOutput;
    const entry = { kill: (signal?: NodeJS.Signals) => proc.kill(signal), group: () => proc.pid };
    running.add(entry);
    try {
      out = await proc;
    } catch (err) {
      out = err as ProcessOutput;
    } finally {
      running.delete(entry);
    }
    // A child that Ctrl-C stopped (the terminal signals the whole process group) did not fail: this run is being
    // interrupted, and reading its end as an answer (a conflict, a missing file) would record a wrong state.
    if (out.signal === 'SIGINT') throw new InterruptedError(command);
    const exitCode = out.exitCode ?? 1;
    // zx runs commands through bash, which answers 127 for a program it cannot find.
    if (exitCode === 127) {
      if (!opts.allowFailure) throw new MissingToolError(cmd, `install ${cmd} or put it on PATH`);
    }
    const result: RunResult = {
      command,
      exitCode,
      stdout: out.stdout,
      stderr: out.stderr,
      durationMs: Date.now() - started,
      ok: exitCode === 0,
    };
    if (!result.ok && !opts.allowFailure) throw new CommandFailedError(result, opts.cwd);
    return result;
  };
  return Object.assign(run, { log });
}
