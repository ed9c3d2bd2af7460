/**
 * Python interpreters and virtual environments made from pinned requirement
 * files. A venv lives in the cache under a name derived from its recipe
 * (requirements + interpreter version), so a changed recipe gets a new venv.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MissingToolError } from './errors.js';
import type { Runner } from './exec.js';
import type { Logger } from './log.js';
import { readJsonFileIfValid } from './json-file.js';
import { z } from 'zod';

export interface PythonInfo {
  executable: string;
  version: string;
}

/**
 * pip without prompts or version nagging. The user's pip configuration stays:
 * it says how to reach the index (certificates, proxies, mirrors), and every
 * requirement is pinned with ==, so it cannot change what gets installed.
 */
export const HERMETIC_PIP_ENV: NodeJS.ProcessEnv = {
  PIP_NO_INPUT: '1',
  PIP_DISABLE_PIP_VERSION_CHECK: '1',
  PYTHONDONTWRITEBYTECODE: '1',
  PYTHONHASHSEED: '0',
};

export async function findPython(runner: Runner, preferred?: string): Promise<PythonInfo> {
  const candidate = preferred || process.env['MLMD_REMOTE_PYTHON'] || 'python3';
  const res = await runner(candidate, ['-c', 'import sys; print(sys.executable); print("%d.%d.%d" % sys.version_info[:3])'], { allowFailure: true });
  if (!res.ok) {
    throw new MissingToolError(`Python (${candidate})`, 'install CPython 3.8 or newer with venv support (Debian: apt-get install python3 python3-venv), or point MLMD_REMOTE_PYTHON / --python at one');
  }
  const [executable, version] = res.stdout.trim().split('\n');
  return { executable: executable!, version: version! };
}

export function venvPython(venvDir: string): string {
  return process.platform === 'win32' ? path.join(venvDir, 'Scripts', 'python.exe') : path.join(venvDir, 'bin', 'python');
}

export function recipeKey(parts: readonly string[]): string {
  return crypto.createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

/**
 * A venv with exactly `requirements` installed. Built beside its final place
 * and renamed into it, so an interrupted install never leaves a venv that
 * looks ready. Console scripts keep the temporary path in their #! line, so
 * the tool always runs modules (python -m ...).
 */
export async function ensureVenv(opts: {
  runner: Runner;
  log: Logger;
  python: PythonInfo;
  cacheDir: string;
  name: string;
  requirements: string[];
  /** Extra pip arguments (e.g. an index URL) that are part of the recipe. */
  pipArgs?: string[];
}): Promise<string> {
  const key = recipeKey([opts.python.version, opts.python.executable, ...opts.requirements, ...(opts.pipArgs ?? [])]);
  const dir = path.join(opts.cacheDir, 'venvs', `${opts.name}-${key}`);
  if (fs.existsSync(path.join(dir, '.mlmd-remote-ready'))) return dir;
  const step = opts.log.step(`Python venv ${opts.name} (${opts.requirements.length} pinned packages, CPython ${opts.python.version})`);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    await opts.runner(opts.python.executable, ['-m', 'venv', tmp]);
    await opts.runner(venvPython(tmp), ['-m', 'pip', 'install', '--quiet', ...(opts.pipArgs ?? []), ...opts.requirements], {
      env: HERMETIC_PIP_ENV,
      onLine: (l) => step.progress(l),
    });
    fs.writeFileSync(path.join(tmp, '.mlmd-remote-ready'), `${opts.requirements.join('\n')}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    step.fail();
    throw err;
  }
  step.done();
  return dir;
}

/** Requirement lines of a pinned requirements file (comments and blanks dropped). */
export function readRequirements(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

export async function packageVersion(runner: Runner, python: string, dist: string): Promise<string> {
  const res = await runner(python, ['-c', `import importlib.metadata as m; print(m.version(${JSON.stringify(dist)}))`], { allowFailure: true });
  return res.ok ? res.stdout.trim() : 'unknown';
}

/** .mlmd-remote-facts.json in a venv: the facts computed so far; a damaged one counts as empty. */
const VenvFactsSchema = z.record(z.string(), z.string());

/**
 * A fact about a ready venv (a version, a path), computed once and kept in
 * the venv: a ready venv never changes, and each probe is a Python start-up.
 */
export async function venvFact(venvDir: string, key: string, compute: () => Promise<string>): Promise<string> {
  const file = path.join(venvDir, '.mlmd-remote-facts.json');
  const facts = readJsonFileIfValid(file, VenvFactsSchema) ?? {};
  if (facts[key] !== undefined) return facts[key]!;
  const value = await compute();
  facts[key] = value;
  fs.writeFileSync(file, JSON.stringify(facts));
  return value;
}
