/**
 * Git, run with a configuration the tool controls: no system or user config
 * leaks into formatting, merging or hooks. The one thing kept from the user's
 * config is URL rewriting (url.<base>.insteadOf), and only for commands that
 * reach upstream, because that is how company mirrors work.
 */
import os from 'node:os';
import type { RunOptions, RunResult, Runner } from './exec.js';

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

export function hermeticGit(runner: Runner, urlRewrites: readonly string[] = []): Git {
  const base = HERMETIC_GIT_CONFIG.flatMap((c) => ['-c', c]);
  const rewrites = urlRewrites.flatMap((c) => ['-c', c]);
  const call = (extra: string[]) => (cwd: string, args: readonly string[], opts: RunOptions = {}) =>
    runner('git', [...base, ...extra, ...args], { ...opts, cwd, env: hermeticGitEnv(opts.env), replaceEnv: true });
  const git = call([]) as Git;
  git.remote = call(rewrites);
  return git;
}

/**
 * How the user's own git config (system and global) reaches remotes: URL
 * rewrites (url.<base>.insteadOf), http.* (certificates, proxies) and
 * credential helpers, as `key=value` pairs for `git -c` on fetches only.
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
