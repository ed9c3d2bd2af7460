/**
 * What a command is, for the command line: its flags, what it does, how its
 * result reads and which exit code it means. Each module in commands/ exports
 * one (or, for verify and server, a few sharing a name); cli.ts only loops
 * over them.
 */
import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { Project } from './config.js';
import type { Deps } from './commands/deps.js';
import { REFERENCE_CHOICES, type ReferenceChoice } from './reference-server.js';

export interface CommandDefinition<A = object, R = unknown> {
  /** The yargs command string, positionals included (e.g. "rebase [tag]"). */
  command: string;
  describe: string;
  /** Its flags, positionals, checks and examples. */
  options: (y: Argv) => Argv<A>;
  /** Changes nothing a concurrent run relies on, so it does not wait for the checkout's lock. */
  readOnly?: (a: ArgumentsCamelCase<A>) => boolean;
  /** Reads upstream at a URL, so --upstream-url means something to it. */
  readsUpstream?: boolean;
  /** The name recorded in the lock and in progress (default: the command's first word). */
  label?: (a: ArgumentsCamelCase<A>) => string;
  run: (a: ArgumentsCamelCase<A>, project: Project, deps: Deps) => Promise<R>;
  render: (r: R, a: ArgumentsCamelCase<A>) => string;
  /** Default: 0. */
  exitCode?: (r: R, a: ArgumentsCamelCase<A>) => number;
}

/** Keeps the types of one definition together (the result type of run is the one render gets). */
export function defineCommand<A, R>(d: CommandDefinition<A, R>): CommandDefinition<A, R> {
  return d;
}

/** The first word of a command string: its name. */
export const commandName = (d: Pick<CommandDefinition, 'command'>): string => d.command.split(' ')[0]!;

/** Options several commands share, defined once. */
export const FORCE_OPTION = { type: 'boolean', default: false, describe: 'Proceed even if upstream/ holds other work (it is saved first)' } as const;
export const UPSTREAM_URL_OPTION = { type: 'string', describe: 'Fetch upstream from this URL, e.g. a mirror (also MLMD_REMOTE_UPSTREAM_URL)' } as const;
export const UPSTREAM_URL_CHECK_OPTION = { type: 'string', describe: 'Check at this URL (e.g. a mirror) that the pinned tag still names the pinned commit, first (also MLMD_REMOTE_UPSTREAM_URL)' } as const;
export const MARKDOWN_OPTION = { type: 'boolean', default: false, describe: 'Print the report as markdown' } as const;
export const REFERENCE_OPTION = {
  choices: REFERENCE_CHOICES as unknown as ReferenceChoice[],
  default: 'auto' as const,
  describe:
    'Which MLMD release the reference server runs. auto: the one the wheel was built from, in a CPython 3.9 root filesystem when this host has no official wheel for it (needs root with the right to mount; else falls back to native, with a warning); same-version: that or fail; native: the release pinned in tools/reference_server/requirements.txt, on this host',
};
