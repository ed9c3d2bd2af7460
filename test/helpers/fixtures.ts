/**
 * Fixtures for the unit tests: temporary git repositories built with real git
 * (through the project's own hermetic git, so the user's git config never
 * leaks in) from inline file trees, patch files made by real
 * `git format-patch --full-index`, and a whole fixture "project" (a
 * superproject with mlmd-remote.json, WORKSPACE.patch, patches/ and upstream/
 * as a real submodule of a fixture bare upstream repository).
 *
 * Every directory made here is removed by `cleanupFixtures()`; each test file
 * calls it from `after()`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadProject, type Project } from '../../src/config.ts';
import { processRunner, type RunOptions, type RunResult, type Runner } from '../../src/exec.ts';
import { hermeticGit, type Git } from '../../src/git.ts';

export const runner: Runner = processRunner();
export const git: Git = hermeticGit(runner);

// ---------------------------------------------------------------------------
// Temporary directories

const tempDirs = new Set<string>();

/** A new empty directory under the system temp dir, removed by cleanupFixtures(). */
export function tempDir(prefix = 'fixture'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mlmd-remote-test-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function cleanupFixtures(): void {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

// ---------------------------------------------------------------------------
// File trees

/** What one path of an inline file tree holds; null deletes it. */
export type FileSpec = string | Buffer | { content: string | Buffer; mode?: number } | { symlink: string } | null;
export type FileTree = Record<string, FileSpec>;

export function writeTree(dir: string, files: FileTree): void {
  for (const [rel, spec] of Object.entries(files)) {
    const file = path.join(dir, rel);
    if (spec === null) {
      fs.rmSync(file, { recursive: true, force: true });
      continue;
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.rmSync(file, { force: true });
    if (typeof spec === 'string' || Buffer.isBuffer(spec)) {
      fs.writeFileSync(file, spec);
      fs.chmodSync(file, 0o644);
    } else if ('symlink' in spec) {
      fs.symlinkSync(spec.symlink, file);
    } else {
      fs.writeFileSync(file, spec.content);
      fs.chmodSync(file, spec.mode ?? 0o644);
    }
  }
}

// ---------------------------------------------------------------------------
// Repositories

export interface Trailers {
  why: string;
  upstreamStatus: string;
  dropWhen: string;
}

/** A commit message whose body carries the series' trailers. */
export function patchMessage(subject: string, t: Trailers): string {
  return `${subject}\n\n${t.why}\n\nWhy: ${t.why}\nUpstream-Status: ${t.upstreamStatus}\nDrop-When: ${t.dropWhen}\n`;
}

export const DEFAULT_TRAILERS: Trailers = {
  why: 'the fixture needs it',
  upstreamStatus: 'Inappropriate [test fixture]',
  dropWhen: 'never',
};

export class Repo {
  constructor(readonly dir: string) {}

  /** Runs hermetic git in the repository; throws on failure. */
  run(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return git(this.dir, args, opts);
  }

  async out(args: readonly string[], opts?: RunOptions): Promise<string> {
    return (await git(this.dir, args, opts)).stdout.trim();
  }

  /** Writes `files` (null deletes), stages everything and commits; returns the new commit. */
  async commit(files: FileTree, message: string): Promise<string> {
    writeTree(this.dir, files);
    await this.run(['add', '--all']);
    await this.run(['commit', '--quiet', '--allow-empty', '-m', message]);
    return this.head();
  }

  head(): Promise<string> {
    return this.out(['rev-parse', 'HEAD']);
  }

  /** `git status --porcelain` (untracked files included), for before/after comparisons. */
  async status(): Promise<string> {
    return (await this.run(['status', '--porcelain', '--untracked-files=all'])).stdout;
  }

  /** `git ls-tree -r` of a tree-ish as { path: "mode type" } plus the blob ids. */
  async lsTree(treeish: string): Promise<Map<string, { mode: string; type: string; id: string }>> {
    const out = (await this.run(['ls-tree', '-r', '-z', treeish])).stdout;
    const map = new Map<string, { mode: string; type: string; id: string }>();
    for (const entry of out.split('\0').filter(Boolean)) {
      const tab = entry.indexOf('\t');
      const [mode, type, id] = entry.slice(0, tab).split(' ') as [string, string, string];
      map.set(entry.slice(tab + 1), { mode, type, id });
    }
    return map;
  }

  /** The content of a blob (by tree-ish:path or id), exactly as stored (CRs kept). */
  async blob(spec: string): Promise<string> {
    return (await this.run(['cat-file', 'blob', spec])).stdout;
  }

  /**
   * `git format-patch -1 --full-index` of `commit`, written to `file` (whose
   * directory is created). `quotePath` makes git C-quote non-ASCII names.
   */
  async formatPatch(commit: string, file: string, opts: { quotePath?: boolean } = {}): Promise<string> {
    const args = opts.quotePath ? ['-c', 'core.quotePath=true'] : [];
    const res = await this.run([...args, 'format-patch', '-1', '--full-index', '--stdout', commit]);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, res.stdout);
    return file;
  }
}

/** A new repository on branch main; with `files`, a first commit holding them. */
export async function makeRepo(files?: FileTree, opts: { prefix?: string; message?: string } = {}): Promise<Repo> {
  const dir = tempDir(opts.prefix ?? 'repo');
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  const repo = new Repo(dir);
  if (files) await repo.commit(files, opts.message ?? 'initial');
  return repo;
}

/**
 * Commits `files` on top of `base` on a throw-away branch, exports the commit
 * with real `git format-patch --full-index` into `file`, and puts the repo back
 * where it was. Returns the patch file and the commit.
 */
export async function patchFromCommit(
  repo: Repo,
  opts: { base: string; files: FileTree; subject: string; trailers?: Trailers; file: string; quotePath?: boolean; message?: string },
): Promise<{ file: string; commit: string }> {
  const before = await repo.out(['symbolic-ref', '--quiet', '--short', 'HEAD'], { allowFailure: true });
  await repo.run(['checkout', '--quiet', '--force', '--detach', opts.base]);
  await repo.run(['clean', '-fdxq']);
  const commit = await repo.commit(opts.files, opts.message ?? patchMessage(opts.subject, opts.trailers ?? DEFAULT_TRAILERS));
  await repo.formatPatch(commit, opts.file, { quotePath: opts.quotePath });
  await repo.run(['checkout', '--quiet', '--force', before || opts.base]);
  await repo.run(['clean', '-fdxq']);
  return { file: opts.file, commit };
}

// ---------------------------------------------------------------------------
// A fixture project: superproject + fixture bare upstream

export const UPSTREAM_FILES: FileTree = {
  'WORKSPACE': 'workspace(name = "ml_metadata")\n\nload("//ml_metadata:repo.bzl", "clean_dep")\nhttp_archive(name = "postgresql")\n',
  'README.md': '# ML Metadata (fixture)\n\nA small stand-in for upstream.\n',
  'setup.py': 'from setuptools import setup\n\nsetup(\n    name="ml-metadata",\n    version="1.0.0",\n)\n',
  'ml_metadata/__init__.py': '"""ML Metadata."""\n',
  'ml_metadata/version.py': "__version__ = '1.0.0'\n",
  'ml_metadata/BUILD': 'package(default_visibility = ["//visibility:public"])\n\n_public_protos = [\n    "//ml_metadata/proto:metadata_store_pb2.py",\n]\n\n_py_extension = ["metadata_store_extension.so"]\n',
  'ml_metadata/metadata_store/metadata_store.py': 'import grpc\n\nfrom ml_metadata import errors\nfrom ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store\n\nMAX_NUM_RESULT = 100\n',
  'ml_metadata/proto/metadata_store.proto': 'syntax = "proto2";\npackage ml_metadata;\n',
};

export interface UpstreamFixture {
  /** The bare repository the project syncs from. */
  bare: string;
  /** A non-bare clone to make commits and patches in. */
  work: Repo;
  /** The commit tagged v1.0.0 (annotated). */
  pin: string;
  /** Another commit (on branch next), for moving the tag. */
  other: string;
  tag: string;
}

export async function makeUpstream(): Promise<UpstreamFixture> {
  const work = await makeRepo(UPSTREAM_FILES, { prefix: 'upstream-work', message: 'upstream 1.0.0' });
  const pin = await work.head();
  await work.run(['tag', '--annotate', '-m', 'release 1.0.0', 'v1.0.0', pin]);
  await work.run(['checkout', '--quiet', '-b', 'next']);
  const other = await work.commit({ 'README.md': '# ML Metadata (fixture)\n\nNext release.\n' }, 'upstream next');
  await work.run(['checkout', '--quiet', 'main']);
  const bare = path.join(tempDir('upstream-bare'), 'ml-metadata.git');
  await git(path.dirname(bare), ['clone', '--quiet', '--bare', work.dir, bare]);
  return { bare, work, pin, other, tag: 'v1.0.0' };
}

export interface ProjectFixture {
  root: string;
  project: Project;
  superRepo: Repo;
  upstreamRepo: Repo;
  upstream: UpstreamFixture;
}

export interface ProjectOptions {
  /** upstream.url in mlmd-remote.json (default: the fixture bare repo's path). */
  configUrl?: string;
  /** upstream.tag in mlmd-remote.json (default v1.0.0). */
  tag?: string;
  /** Leave upstream/ uninitialised, as in a fresh clone of the superproject. */
  fresh?: boolean;
  /** WORKSPACE.patch and the series' patches: built from commits on the pin. */
  patches?: { workspace: FileTree; series: Array<{ name: string; subject: string; files: FileTree }> };
}

export const DEFAULT_PATCHES: NonNullable<ProjectOptions['patches']> = {
  workspace: { WORKSPACE: 'workspace(name = "ml_metadata")\n' },
  series: [
    {
      name: 'build-python-only.patch',
      subject: 'BUILD: generate only the Python modules',
      files: { 'ml_metadata/BUILD': 'package(default_visibility = ["//visibility:public"])\n\n_public_protos = [\n    "//ml_metadata/proto:metadata_store_pb2.py",\n]\n' },
    },
    {
      name: 'metadata-store-grpc-only.patch',
      subject: 'metadata_store: gRPC only',
      files: { 'ml_metadata/metadata_store/metadata_store.py': 'import grpc\n\nfrom ml_metadata import errors\n\nMAX_NUM_RESULT = 100\n' },
    },
  ],
};

/** A copy of the real mlmd-remote.json's shape, pointing at the fixture upstream. */
export function projectConfig(url: string, tag: string, commit: string): object {
  return {
    upstream: { url, tag, commit },
    bazel: { version: '4.2.3' },
    toolchain: { default: 'grpcio-tools' },
    profiles: {
      default: { distName: 'ml-metadata-remote', localVersion: null },
      'drop-in': { distName: 'ml-metadata', localVersion: 'remote.1' },
    },
  };
}

const seriesCache = new WeakMap<UpstreamFixture, Map<object, string>>();

/**
 * WORKSPACE.patch and patches/*.patch for `patches`, made once per upstream
 * fixture (git format-patch of commits on the pin, the series as a stack) and
 * copied into each project.
 */
async function seriesFiles(upstream: UpstreamFixture, patches: NonNullable<ProjectOptions['patches']>): Promise<string> {
  let byPatches = seriesCache.get(upstream);
  if (!byPatches) seriesCache.set(upstream, (byPatches = new Map()));
  const cached = byPatches.get(patches);
  if (cached) return cached;
  const dir = tempDir('series');
  await patchFromCommit(upstream.work, { base: upstream.pin, files: patches.workspace, subject: 'WORKSPACE: keep only what Python proto generation needs', file: path.join(dir, 'WORKSPACE.patch') });
  let base = upstream.pin;
  for (const p of patches.series) {
    const { commit } = await patchFromCommit(upstream.work, { base, files: p.files, subject: p.subject, file: path.join(dir, 'patches', p.name) });
    base = commit;
  }
  byPatches.set(patches, dir);
  return dir;
}

/**
 * A superproject in a temp dir: mlmd-remote.json, WORKSPACE.patch,
 * patches/series + patches, and upstream/ as a real git submodule of the
 * fixture bare upstream, committed at the pin.
 */
export async function makeProject(upstream: UpstreamFixture, opts: ProjectOptions = {}): Promise<ProjectFixture> {
  const patches = opts.patches ?? DEFAULT_PATCHES;
  const configUrl = opts.configUrl ?? upstream.bare;
  const superRepo = await makeRepo(undefined, { prefix: 'super' });
  const root = superRepo.dir;
  const made = await seriesFiles(upstream, patches);
  fs.cpSync(made, root, { recursive: true });
  writeTree(root, {
    'mlmd-remote.json': `${JSON.stringify(projectConfig(configUrl, opts.tag ?? upstream.tag, upstream.pin), null, 2)}\n`,
    'patches/series': `# The patch series, applied in this order.\n../WORKSPACE.patch\n${patches.series.map((p) => p.name).join('\n')}\n`,
    '.gitignore': '.cache/\ndist/\n',
  });
  await superRepo.run(['submodule', 'add', '--quiet', upstream.bare, 'upstream']);
  const upstreamRepo = new Repo(path.join(root, 'upstream'));
  await upstreamRepo.run(['checkout', '--quiet', '--detach', upstream.pin]);
  // .gitmodules names what mlmd-remote.json names, as in the real project.
  await superRepo.run(['config', '-f', '.gitmodules', 'submodule.upstream.url', configUrl]);
  await superRepo.commit({}, 'mlmd-remote: pin upstream v1.0.0 and the series');
  let finalRoot = root;
  if (opts.fresh) {
    const fresh = path.join(tempDir('super-fresh'), 'checkout');
    await git(path.dirname(fresh), ['clone', '--quiet', root, fresh]);
    finalRoot = fresh;
  }
  return {
    root: finalRoot,
    project: loadProject(finalRoot, { exact: true }),
    superRepo: new Repo(finalRoot),
    upstreamRepo: new Repo(path.join(finalRoot, 'upstream')),
    upstream,
  };
}

/** Runs `fn` with environment variables set, restoring them afterwards. */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Resolves with the error `fn` rejects with; fails when it resolves. */
export async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, but the call resolved');
}
