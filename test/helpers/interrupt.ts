/**
 * The interrupt loop: a command is run once to count the lines it prints on
 * stderr, then once per line N, with SIGINT sent to its process group (what
 * Ctrl-C in a terminal does: git children get it too) right after line N.
 * After each interrupted run the command is run again, as a maintainer would;
 * it must either recover exactly, or refuse with a hint that names an
 * mlmd-remote command, which is run in turn and must then recover exactly.
 * "Exactly" is the state an uninterrupted run leaves: every patch file and
 * the pin byte for byte, the gitlink, upstream/'s HEAD, branch, index, work
 * tree, refs and stashes, the rebase in progress (if any), and the
 * maintainer's own files (an untracked file in the superproject, an ignored
 * one and a branch of their own in upstream/), which nothing may touch.
 *
 * Below it, `leftRunning`: what an interrupted run leaves running of the
 * processes it started, for the exec.ts and git.ts tests.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { git } from './fixtures.ts';
import { cliPath, runCli, type CliRun } from './hints.ts';

export interface InterruptedRun extends CliRun {
  /** Lines the run printed on stderr. */
  lines: number;
  /** When each line came, in ms from the start. */
  times: number[];
  /** Whether SIGINT was sent (false when the run ended before line N). */
  sent: boolean;
}

/** The CLI in its own process group; with `after`, SIGINT goes to the group right after stderr line `after`. */
export function runInterrupted(args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; after?: number; when?: RegExp; delayMs?: number; timeoutMs?: number }): Promise<InterruptedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: opts.cwd, env: { ...process.env, MLMD_REMOTE_UPSTREAM_URL: '', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let lines = 0;
    let sent = false;
    const started = Date.now();
    const times: number[] = [];
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`mlmd-remote ${args.join(' ')} did not end within ${opts.timeoutMs ?? 600_000} ms:\n${stderr.slice(-2000)}`));
    }, opts.timeoutMs ?? 600_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      const count = text.split('\n').length - 1;
      lines += count;
      for (let i = 0; i < count; i++) times.push(Date.now() - started);
      const due = (opts.after !== undefined && lines >= opts.after) || (opts.when !== undefined && opts.when.test(stderr));
      if (!sent && due) {
        sent = true;
        const interrupt = () => {
          try {
            process.kill(-child.pid!, 'SIGINT');
          } catch {
            // already gone
          }
        };
        if (opts.delayMs) setTimeout(interrupt, opts.delayMs);
        else interrupt();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Ended by a signal: the shell's 128 + its number (a SIGINT that lands after the run finished, while
      // node tears down its handlers, ends it so; whether that left anything behind is the loop's next check).
      resolve({ code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : null), stdout, stderr, lines, times, sent });
    });
  });
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex').slice(0, 16);

async function out(cwd: string, args: readonly string[]): Promise<string> {
  return (await git(cwd, args, { allowFailure: true })).stdout.trim();
}

export const USER_FILE = 'notes-of-mine.txt';
export const USER_IGNORED = 'my-scratch/ignored-notes.txt';
export const USER_BRANCH = 'my-work';

/** Puts the maintainer's own things in place: they must come through every run untouched. */
export async function addUserWork(root: string): Promise<void> {
  fs.writeFileSync(path.join(root, USER_FILE), 'the maintainer\'s untracked notes\n');
  const up = path.join(root, 'upstream');
  if (!fs.existsSync(path.join(up, '.git'))) return;
  const gitDir = await out(up, ['rev-parse', '--absolute-git-dir']);
  fs.mkdirSync(path.join(gitDir, 'info'), { recursive: true });
  fs.appendFileSync(path.join(gitDir, 'info', 'exclude'), 'my-scratch/\n');
  fs.mkdirSync(path.join(up, 'my-scratch'), { recursive: true });
  fs.writeFileSync(path.join(up, USER_IGNORED), 'ignored, and mine\n');
  await git(up, ['branch', '--force', USER_BRANCH, 'HEAD']);
}

/** Everything a run may change or must keep, as comparable values. */
export async function snapshotOf(root: string): Promise<Record<string, unknown>> {
  const files: Record<string, string> = {};
  for (const f of ['mlmd-remote.json', 'WORKSPACE.patch']) if (fs.existsSync(path.join(root, f))) files[f] = sha(fs.readFileSync(path.join(root, f)));
  for (const n of fs.readdirSync(path.join(root, 'patches')).sort()) files[`patches/${n}`] = sha(fs.readFileSync(path.join(root, 'patches', n)));
  const snap: Record<string, unknown> = {
    files,
    gitlink: await out(root, ['ls-files', '--stage', '--', 'upstream']),
    superStatus: (await out(root, ['status', '--porcelain', '--untracked-files=all', '--ignore-submodules=none'])).split('\n').filter((l) => !l.includes('.cache/')),
    userFile: fs.existsSync(path.join(root, USER_FILE)) ? fs.readFileSync(path.join(root, USER_FILE), 'utf8') : null,
    lock: fs.existsSync(path.join(root, '.cache', 'lock')),
  };
  const up = path.join(root, 'upstream');
  if (!fs.existsSync(path.join(up, '.git')) || !(await git(up, ['rev-parse', '--verify', '-q', 'HEAD'], { allowFailure: true })).ok) return { ...snap, upstream: null };
  const gitDir = await out(up, ['rev-parse', '--absolute-git-dir']);
  const stateFile = path.join(gitDir, 'mlmd-remote', 'rebase', 'state.json');
  const state = fs.existsSync(stateFile) ? (JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { patches: Array<{ name: string; status: string; commit?: string; conflict?: { files: unknown } }>; inFlight?: unknown }) : null;
  // A commit by what it holds (its tree, and its history's trees, authors, dates and subjects), not by its id:
  // a commit git makes again, at another time (git am --continue), is the same commit here.
  const commit = async (rev: string | undefined) => (rev ? sha(Buffer.from(await out(up, ['log', '-n', '100', '--format=%T %an %ad %s', rev]))) : undefined);
  const refs = (await out(up, ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads', 'refs/mlmd-remote', 'refs/stash'])).split('\n').filter(Boolean);
  return {
    ...snap,
    upstream: {
      head: await commit('HEAD'),
      branch: await out(up, ['symbolic-ref', '-q', '--short', 'HEAD']),
      status: await out(up, ['status', '--porcelain', '--untracked-files=all']),
      index: sha(Buffer.from(await out(up, ['ls-files', '--stage']))),
      refs: await Promise.all(refs.map(async (r) => `${r.split(' ')[0]} ${await commit(r.split(' ')[1])}`)),
      amSession: fs.existsSync(path.join(gitDir, 'rebase-apply')),
      rebase: state && { patches: await Promise.all(state.patches.map(async (p) => ({ name: p.name, status: p.status, commit: await commit(p.commit), conflict: p.conflict?.files }))), inFlight: state.inFlight ?? null },
      intent: fs.existsSync(path.join(await out(root, ['rev-parse', '--absolute-git-dir']), 'mlmd-remote', 'upstream-intent.json')),
      ignored: fs.existsSync(path.join(up, USER_IGNORED)) ? fs.readFileSync(path.join(up, USER_IGNORED), 'utf8') : null,
    },
  };
}

/** The first mlmd-remote command a run's hint names (e.g. "rebase --continue"), as arguments. */
export function hintedCommand(stderr: string): string[] | null {
  const hint = stderr.split('\n').find((l) => l.startsWith('hint: '));
  const m = hint ? /mlmd-remote ((?:[a-z][a-z-]*)(?: --?[a-z][a-z-]*)*)/.exec(hint) : null;
  return m ? m[1]!.split(' ') : null;
}

export interface Scenario {
  /** How the loop names it, e.g. "rebase --continue". */
  name: string;
  args: string[];
  /** A fresh project in the state the command starts from; returns its root. */
  setup: () => Promise<string>;
  /** At most this many interrupt points (the first lines), to keep the loop's time in bounds. */
  cap: number;
  /** At most this many interrupt points in the --verbose sweep (default 6). */
  gitCap?: number;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** More of the state to compare (e.g. what dist/ holds), beside the project snapshot. */
  extra?: (root: string) => Promise<unknown>;
  /**
   * Also sweep with --verbose, which prints each command the tool runs before
   * it starts it: one interrupt after each line that starts a git command
   * that changes something, half-way through that command (as long as it
   * took in a reference run), so that the signal lands inside git (at most
   * `gitCap` of them, spread over the run).
   */
  verbose?: boolean;
}

/** A --verbose line that starts a git command that changes a repository or a work tree. */
export const MUTATING_GIT = /^\$ git .*\b(checkout|am|read-tree|clean|reset|update-ref|update-index|branch|stash|submodule|fetch|symbolic-ref|commit|merge)\b/;

export interface LoopReport {
  name: string;
  lines: number;
  /** Interrupt points after the lines of its ordinary output. */
  points: number;
  /** Interrupt points inside its git commands (the --verbose sweep). */
  gitPoints: number;
  outcomes: string[];
}

/**
 * Runs `s` once uninterrupted (the reference), then interrupted after each of
 * its first `cap` lines, checking recovery after each. Returns what happened
 * at each point.
 */
export async function interruptLoop(s: Scenario): Promise<LoopReport> {
  const projectSnapshot = async (root: string): Promise<Record<string, unknown>> => ({ ...(await snapshotOf(root)), ...(s.extra ? { extra: await s.extra(root) } : {}) });
  const refRoot = await s.setup();
  const ref = await runInterrupted(s.args, { cwd: refRoot, env: s.env, timeoutMs: s.timeoutMs });
  const expected = await projectSnapshot(refRoot);
  assert.ok(ref.code !== null && ref.code < 70, `the uninterrupted ${s.name} failed (${ref.code}):\n${ref.stderr}`);
  const outcomes: string[] = [];
  const sweeps: Array<{ args: string[]; points: Array<{ after: number; delayMs: number }> }> = [{ args: s.args, points: Array.from({ length: Math.min(ref.lines, s.cap) }, (_x, i) => ({ after: i + 1, delayMs: 0 })) }];
  if (s.verbose) {
    // Half-way through each git command, as long as it took in a reference run (the next line says when it ended).
    const verboseRef = await runInterrupted([...s.args, '--verbose'], { cwd: await s.setup(), env: s.env, timeoutMs: s.timeoutMs });
    const lines = verboseRef.stderr.split('\n');
    const at = (i: number) => ({ after: i + 1, delayMs: Math.min(200, Math.max(0, Math.floor(((verboseRef.times[i + 1] ?? verboseRef.times[i]!) - verboseRef.times[i]!) / 2))) });
    sweeps.push({ args: [...s.args, '--verbose'], points: spread(lines.flatMap((l, i) => (MUTATING_GIT.test(l) ? [at(i)] : [])), s.gitCap ?? 6) });
  }
  for (const sweep of sweeps) for (const { after: n, delayMs } of sweep.points) {
    const root = await s.setup();
    const run = await runInterrupted(sweep.args, { cwd: root, env: s.env, after: n, delayMs, timeoutMs: s.timeoutMs });
    const line = (run.stderr.split('\n')[n - 1] ?? '').replace(/(?:-c \S+ )+/g, '');
    const where = `${sweep.args.join(' ')}, interrupted ${delayMs ? `${delayMs} ms ` : ''}after line ${n} ("${line}")`;
    assert.ok(run.code === 130 || run.code === ref.code, `${where} exited ${run.code}, neither 130 nor ${ref.code}:\n${run.stderr}`);
    assert.doesNotMatch(run.stderr, /This is a bug in mlmd-remote/, where);
    const left = await projectSnapshot(root);
    assert.equal(left['lock'], false, `${where} left its lock`);
    if (isDeepEqual(left, expected)) {
      // It had done its work; running it again must change nothing.
      await runCli([...s.args], { cwd: root, env: s.env, timeoutMs: s.timeoutMs });
      assert.deepEqual(await projectSnapshot(root), expected, `${where}: a second run changed the finished state`);
      outcomes.push(run.code === 130 ? 'finished its work before stopping' : 'finished before the signal');
      continue;
    }
    const retry = await runCli([...s.args], { cwd: root, env: s.env, timeoutMs: s.timeoutMs });
    if (retry.code === ref.code) {
      assert.deepEqual(await projectSnapshot(root), expected, `${where}: running it again exited ${retry.code}, but the state is not what an uninterrupted run leaves:\n${retry.stderr}`);
      outcomes.push(/was interrupted|an interrupted|left by an interrupted/.test(retry.stderr) ? 'recovered by running it again (which put back what the interrupted run left)' : 'recovered by running it again');
      continue;
    }
    const hinted = hintedCommand(retry.stderr);
    assert.ok(hinted, `${where}: running it again exited ${retry.code} without recovering, and its hint names no mlmd-remote command:\n${retry.stderr}`);
    const followed = await runCli([...hinted, '--root', root], { cwd: root, env: s.env, timeoutMs: s.timeoutMs });
    assert.equal(followed.code, ref.code, `${where}: the hinted mlmd-remote ${hinted.join(' ')} exited ${followed.code}:\n${followed.stderr}`);
    assert.deepEqual(await projectSnapshot(root), expected, `${where}: after the hinted mlmd-remote ${hinted.join(' ')}, the state is not what an uninterrupted run leaves`);
    outcomes.push(`recovered by the hint's mlmd-remote ${hinted.join(' ')}`);
  }
  return { name: s.name, lines: ref.lines, points: sweeps[0]!.points.length, gitPoints: sweeps[1]?.points.length ?? 0, outcomes };
}

/** At most `n` of `items`, spread evenly from the first to the last. */
export function spread<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_x, k) => items[Math.round((k * (items.length - 1)) / (n - 1))]!);
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** One line per scenario: its size and how each interrupt point ended. */
export function describeLoop(reports: readonly LoopReport[]): string {
  const lines = reports.map((r) => {
    const counts = new Map<string, number>();
    for (const o of r.outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
    return `  ${r.name}: ${r.points} interrupt point(s) after its ${r.lines} line(s)${r.gitPoints ? ` and ${r.gitPoints} inside its git commands` : ''}: ${[...counts].map(([o, c]) => `${c} ${o}`).join(', ')}`;
  });
  const total = reports.reduce((n, r) => n + r.points + r.gitPoints, 0);
  return `interrupt loop: ${reports.length} command(s), ${total} interrupt point(s)\n${lines.join('\n')}`;
}

/** A module of src/ as an import() specifier for code run in a child node (a JSON string). */
export function srcModule(file: string): string {
  return JSON.stringify(pathToFileURL(path.join(import.meta.dirname, '..', '..', 'src', file)).href);
}

/**
 * Runs `start` (module code for a child node: it starts a process whose
 * command line holds `marker`) in a run that is then interrupted as cli.ts
 * does on Ctrl-C: once pgrep sees `marker`, killRunningProcesses and an
 * immediate exit 130. Returns the pids of `marker` still running afterwards,
 * '' when none (waiting up to 2 s for them to go; any left are killed).
 */
export function leftRunning(opts: { start: string; marker: string; cwd?: string }): string {
  const script = `
      const { killRunningProcesses } = await import(${srcModule('exec.ts')});
      ${opts.start}
      const { spawnSync } = await import('node:child_process');
      // This process's own command line holds the marker too: only another process counts.
      const started = () => spawnSync('pgrep', ['-f', ${JSON.stringify(opts.marker)}], { encoding: 'utf8' }).stdout.split('\\n').some((p) => p && Number(p) !== process.pid);
      let seen = false;
      for (let i = 0; i < 100 && !seen; i++) {
        await new Promise((r) => setTimeout(r, 50));
        seen = started();
      }
      if (!seen) { process.stderr.write('the process to interrupt never started\\n'); process.exit(3); }
      killRunningProcesses('SIGTERM');
      process.exit(130);
    `;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: opts.cwd, encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 130, run.stderr);
  let left = '';
  for (let i = 0; i < 40; i++) {
    left = spawnSync('pgrep', ['-f', opts.marker], { encoding: 'utf8' }).stdout.trim();
    if (!left) break;
    spawnSync('sleep', ['0.05']);
  }
  if (left) for (const pid of left.split('\n')) spawnSync('kill', ['-9', pid]);
  return left;
}
