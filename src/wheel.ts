/**
 * From a staged source tree to a wheel in dist/: setuptools builds it (no
 * build isolation, pinned backend), tools/python/wheel_tool.py makes it
 * reproducible, and it reaches dist/ by a rename, so dist/ never holds half
 * a wheel.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { explain, valid } from '@renovatebot/pep440';
import type { BuildProfile, Project } from './config.js';
import { BuildError, MlmdError } from './errors.js';
import type { Runner } from './exec.js';
import type { StepHandle } from './log.js';
import { HERMETIC_PIP_ENV } from './python.js';
import { parseJson } from './json-file.js';
import { z } from 'zod';

export interface WheelFile {
  path: string;
  name: string;
  sha256: string;
  size: number;
}

/** One file of a wheel, as tools/python/wheel_tool.py inspect reports it. */
const WheelEntrySchema = z.object({ name: z.string(), size: z.number(), sha256: z.string(), mode: z.string(), native: z.string().nullable() });
export type WheelEntry = z.infer<typeof WheelEntrySchema>;

/** What tools/python/wheel_tool.py inspect prints about a wheel. */
const WheelInspectionSchema = z.object({
  path: z.string(),
  distInfo: z.string(),
  entries: z.array(WheelEntrySchema),
  wheel: z.record(z.string(), z.array(z.string())),
  metadata: z.record(z.string(), z.array(z.string())),
  recordProblems: z.array(z.string()),
  extensionImports: z.array(z.object({ file: z.string(), line: z.number(), module: z.string() })),
});
export type WheelInspection = z.infer<typeof WheelInspectionSchema>;

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export function wheelToolPath(project: Project): string {
  return path.join(project.toolsDir, 'python', 'wheel_tool.py');
}

/** Upstream's version, as ml_metadata/version.py states it. */
export function readUpstreamVersion(sourceDir: string): string {
  const text = fs.readFileSync(path.join(sourceDir, 'ml_metadata', 'version.py'), 'utf8');
  const m = /__version__\s*=\s*['"]([^'"]+)['"]/.exec(text);
  if (!m) throw new MlmdError(`cannot read __version__ from ${sourceDir}/ml_metadata/version.py`);
  return m[1]!;
}

export function profileVersion(upstreamVersion: string, profile: BuildProfile, postRelease?: number): string {
  const post = postRelease ? `.post${postRelease}` : '';
  return `${upstreamVersion}${post}${profile.localVersion ? `+${profile.localVersion}` : ''}`;
}

/** The upstream release a version was made from: profileVersion's inverse (post-release and local label dropped). */
export function upstreamVersionOf(version: string): string {
  const v = explain(version);
  if (!v) return version;
  return `${v.epoch ? `${v.epoch}!` : ''}${v.release.join('.')}${v.pre ? v.pre.join('') : ''}${v.dev ? `.dev${v.dev[1]}` : ''}`;
}

/** A distribution name as PEP 503 compares them. */
export function normalizeDistName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export interface WheelFileName {
  distribution: string;
  /** As written in the file name ("1.14.0+remote.1"; a local label's "+" may be written "_"). */
  version: string;
  build?: string;
  python: string;
  abi: string;
  platform: string;
}

/**
 * A wheel's file name as the wheel spec splits it,
 * name-version[-build]-python-abi-platform.whl, with a PEP 440 version; null
 * for anything else. The one parser of wheel file names in this tool.
 */
export function parseWheelFileName(fileName: string): WheelFileName | null {
  const base = path.basename(fileName);
  if (!base.endsWith('.whl')) return null;
  const parts = base.slice(0, -'.whl'.length).split('-');
  if (parts.length !== 5 && parts.length !== 6) return null;
  const [distribution, version] = parts as [string, string];
  const build = parts.length === 6 ? parts[2] : undefined;
  const [python, abi, platform] = parts.slice(-3) as [string, string, string];
  if (!/^[A-Za-z0-9_.]+$/.test(distribution) || (build !== undefined && !/^\d/.test(build))) return null;
  if (!valid(version.replace(/_/g, '+'))) return null;
  return { distribution, version, ...(build !== undefined ? { build } : {}), python, abi, platform };
}

/** The upstream release a wheel was built from, from its file name (post-release and local label dropped). */
export function wheelUpstreamVersion(wheelPath: string): string | undefined {
  const name = parseWheelFileName(wheelPath);
  return name ? upstreamVersionOf(name.version.replace(/_/g, '+')) : undefined;
}

/** Leftovers of an interrupted run: partial wheels in dist/. */
export function removePartialWheels(distDir: string): string[] {
  if (!fs.existsSync(distDir)) return [];
  const stale = fs.readdirSync(distDir).filter((n) => /^\..*\.partial-\d+$/.test(n));
  for (const n of stale) fs.rmSync(path.join(distDir, n), { force: true });
  return stale;
}

/**
 * Copies `src` into `distDir` under `name` atomically: a temporary name in the
 * same directory, fsync, then rename. A failure (full disk, read-only dir,
 * Ctrl-C) leaves only the temporary file, which the next run removes.
 */
export function publishAtomically(src: string, distDir: string, name: string): string {
  try {
    fs.mkdirSync(distDir, { recursive: true });
  } catch (err) {
    throw new BuildError(`cannot create ${distDir}: ${(err as Error).message}`, { hint: 'make dist/ writable, or remove it' });
  }
  const final = path.join(distDir, name);
  const partial = path.join(distDir, `.${name}.partial-${process.pid}`);
  const cleanup = () => fs.rmSync(partial, { force: true });
  process.once('exit', cleanup);
  try {
    fs.copyFileSync(src, partial);
    const fd = fs.openSync(partial, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(partial, final);
  } catch (err) {
    cleanup();
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'the disk is full' : code === 'EACCES' || code === 'EROFS' || code === 'EPERM' ? `${distDir} is not writable` : (err as Error).message;
    throw new BuildError(`cannot write the wheel to ${distDir}: ${why}; nothing was left behind`, { hint: 'free space or fix permissions, then build again', cause: err });
  } finally {
    process.removeListener('exit', cleanup);
  }
  return final;
}

export async function buildWheel(opts: {
  project: Project;
  runner: Runner;
  buildPython: string;
  sourceDir: string;
  profile: BuildProfile;
  version: string;
  sourceDateEpoch: number;
  scratchDir: string;
  distDir: string;
  step?: StepHandle;
}): Promise<WheelFile> {
  const { runner, scratchDir } = opts;
  const rawDir = path.join(scratchDir, 'raw');
  fs.rmSync(scratchDir, { recursive: true, force: true });
  fs.mkdirSync(rawDir, { recursive: true });
  // Old setuptools output in the source tree would leak stale files into the wheel.
  for (const stale of ['build', 'ml_metadata.egg-info', `${opts.profile.distName.replace(/-/g, '_')}.egg-info`]) {
    fs.rmSync(path.join(opts.sourceDir, stale), { recursive: true, force: true });
  }
  const res = await runner(opts.buildPython, ['-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '--wheel-dir', rawDir, opts.sourceDir], {
    cwd: opts.sourceDir,
    allowFailure: true,
    env: {
      ...HERMETIC_PIP_ENV,
      SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch),
      MLMD_REMOTE_SKIP_BAZEL_BUILD: '1',
      MLMD_REMOTE_DIST_NAME: opts.profile.distName,
      MLMD_REMOTE_VERSION: opts.version,
    },
    onLine: (l) => opts.step?.progress(l),
  });
  if (!res.ok) throw new BuildError(`pip wheel failed (exit ${res.exitCode}):\n${(res.stderr || res.stdout).trim().split('\n').slice(-12).join('\n')}`);
  const built = fs.readdirSync(rawDir).filter((n) => n.endsWith('.whl'));
  if (built.length !== 1) throw new BuildError(`pip wheel produced ${built.length} wheels in ${rawDir}, expected one`);
  const name = built[0]!;
  const normalized = path.join(scratchDir, name);
  await runner(opts.buildPython, [wheelToolPath(opts.project), 'normalize', path.join(rawDir, name), normalized, '--epoch', String(opts.sourceDateEpoch)]);
  const final = publishAtomically(normalized, opts.distDir, name);
  return { path: final, name, sha256: sha256File(final), size: fs.statSync(final).size };
}

export async function inspectWheel(runner: Runner, python: string, project: Project, wheelPath: string): Promise<WheelInspection> {
  const res = await runner(python, [wheelToolPath(project), 'inspect', wheelPath], { allowFailure: true });
  if (!res.ok) throw new MlmdError(`cannot read ${wheelPath} as a wheel: ${res.stderr.trim().split('\n').pop()}`, { hint: 'is it a complete .whl file?' });
  return parseJson(res.stdout, WheelInspectionSchema, `the inspection of ${wheelPath} (tools/python/wheel_tool.py inspect)`, (m) => new MlmdError(m, { hint: "check that tools/python/wheel_tool.py is this checkout's own (git status tools/python), then try again" }));
}
