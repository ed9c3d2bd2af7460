import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Project } from '../config.js';
import { MlmdError } from '../errors.js';
import { findPython, HERMETIC_PIP_ENV } from '../python.js';
import { inspectWheel, upstreamVersionOf, wheelToolPath } from '../wheel.js';
import { diffWheels, type WheelDiff } from '../wheeldiff.js';
import type { Deps } from './deps.js';
import { resolveWheel } from '../dist-wheel.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { renderWheelDiff } from '../render/wheel.js';

/** CPython versions to try, newest first, when fetching the official wheel of a version. */
const OFFICIAL_PYTHONS = ['3.11', '3.10', '3.9', '3.8'];

/** The official ml-metadata wheel of `version` from the package index (cached). */
export async function officialWheel(project: Project, deps: Deps, python: string, version: string): Promise<string> {
  const dir = path.join(project.cacheDir, 'official-wheels', version);
  const existing = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.whl')) : [];
  if (existing.length) return path.join(dir, existing[0]!);
  fs.mkdirSync(dir, { recursive: true });
  const errors: string[] = [];
  for (const py of OFFICIAL_PYTHONS) {
    const res = await deps.runner(python, ['-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--platform', 'manylinux2014_x86_64', '--python-version', py, '--dest', dir, `ml-metadata==${version}`], { allowFailure: true, env: HERMETIC_PIP_ENV });
    if (res.ok) return path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith('.whl'))!);
    errors.push(`cp${py.replace('.', '')}: ${res.stderr.trim().split('\n').pop()}`);
  }
  throw new MlmdError(`no official ml-metadata ${version} wheel could be downloaded (${errors.join('; ')})`, { hint: 'name a base wheel explicitly: mlmd-remote diff-wheel BASE.whl HEAD.whl' });
}

export async function diffWheel(opts: { project: Project; base?: string; head?: string; python?: string }, deps: Deps): Promise<WheelDiff> {
  const { project } = opts;
  const python = (await findPython(deps.runner, opts.python)).executable;
  const headPath = resolveWheel(project, opts.head);
  const head = await inspectWheel(deps.runner, python, project, headPath);
  let basePath = opts.base;
  if (!basePath) {
    const version = upstreamVersionOf(head.metadata['Version']?.[0] ?? '');
    const step = deps.log.step(`Fetch the official ml-metadata ${version} wheel`);
    basePath = await officialWheel(project, deps, python, version);
    step.done(path.basename(basePath));
  }
  const base = await inspectWheel(deps.runner, python, project, path.resolve(basePath));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-diff-'));
  try {
    for (const [side, wheel] of [['base', base.path], ['head', headPath]] as const) {
      await deps.runner(python, [wheelToolPath(project), 'extract', wheel, path.join(tmp, side)]);
    }
    return diffWheels(base, head, (side, name) => fs.readFileSync(path.join(tmp, side, ...name.split('/')), 'utf8'));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export const definition = defineCommand({
  command: 'diff-wheel [wheels..]',
  describe: 'Diff two wheels (BASE HEAD), or a wheel against the official ml-metadata wheel of its version',
  readOnly: () => true,
  options: (y) =>
    y
      .positional('wheels', { type: 'string', array: true, describe: '[BASE] HEAD; HEAD defaults to the only wheel in dist/' })
      .option('python', { type: 'string', describe: 'CPython that runs pip and the wheel helper' })
      .option('markdown', { type: 'boolean', default: false, describe: 'Markdown for a PR comment' })
      .check((a) => {
        if ((a.wheels?.length ?? 0) > 2) throw new UsageError('give at most two wheels: [BASE] HEAD');
        return true;
      }),
  run: (a, project, deps) => {
    const w = a.wheels ?? [];
    return diffWheel({ project, base: w.length === 2 ? w[0] : undefined, head: w.length === 2 ? w[1] : w[0], python: a.python }, deps);
  },
  render: (r, a) => renderWheelDiff(r, a.markdown),
});
