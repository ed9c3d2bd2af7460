/**
 * Fixtures for the maintainer's commands (edit, export, check, rebase): a
 * fixture upstream with release tags made for each rebase situation, and
 * patch series made the way `mlmd-remote export` makes them (real
 * `git format-patch` with the export's options, of commits whose messages
 * carry the Why / Upstream-Status / Drop-When trailers).
 *
 * Tags (each an annotated tag on a commit on top of v1.0.0):
 *   v1.0.0  the pin
 *   v1.1.0  README.md only: every patch applies clean
 *   v1.2.0  4 lines inserted into metadata_store.py between the hunks of
 *           metadata-store-grpc-only.patch: its hunk 2 applies at offset +4
 *   v1.3.0  ml_metadata/BUILD changed exactly as build-python-only.patch does
 *   v1.4.0  a context line of hunk 2 of metadata-store-grpc-only.patch changed
 *           (two lines above the changed line): plain apply fails, a three-way
 *           merge succeeds
 *   v1.5.0  the line hunk 2 of metadata-store-grpc-only.patch changes, changed
 *           differently: a conflict
 *   v1.6.0  WORKSPACE trimmed exactly as WORKSPACE.patch does
 *   v1.7.0  v1.5.0's conflicting change, plus a new file and a changed README:
 *           a rebase stops, and its checkout writes a file the pin does not have
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadProject } from '../../src/config.ts';
import { git, makeRepo, patchMessage, projectConfig, Repo, tempDir, writeTree, type FileTree, type ProjectFixture, type Trailers } from './fixtures.ts';

/** The options of the export's format-patch, spelled out here (not imported) so the fixture does not follow a change in src/. */
export const FORMAT_PATCH: readonly string[] = ['format-patch', '--stdout', '--zero-commit', '--no-signature', '--no-numbered', '--keep-subject', '--no-stat', '--full-index'];

export const STORE_PATH = 'ml_metadata/metadata_store/metadata_store.py';
export const NEW_IN_1_7 = 'ml_metadata/tools/resolver/resolver.py';
export const NEW_IN_1_7_CONTENT = '"""A module upstream added in 1.7.0."""\n';

/** metadata_store.py of v1.0.0, as lines (index 0 is line 1). Every line is unique, so offsets are unambiguous. */
export function storeLines(): string[] {
  const lines = [
    '"""metadata_store.py (fixture): the store\'s Python API."""',
    'import grpc',
    'from ml_metadata import errors',
    'from ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store',
  ];
  for (let i = 5; i <= 29; i++) lines.push(`SETTING_${String(i).padStart(2, '0')} = ${i}`);
  lines.push('def connect(config):', '    return metadata_store.MetadataStore(config)');
  for (let i = 32; i <= 40; i++) lines.push(`SETTING_${i} = ${i}`);
  return lines;
}

export const joinLines = (lines: readonly string[]): string => `${lines.join('\n')}\n`;

/** What metadata-store-grpc-only.patch makes of a metadata_store.py: line 4 and line 31 (hunks 1 and 2). */
export const PATCHED_LINE_4 = 'from ml_metadata.proto import metadata_store_service_pb2_grpc';
export const PATCHED_LINE_31 = '    raise RuntimeError("embedded stores need the native extension; use gRPC")';
export const UPSTREAM_1_5_LINE_31 = '    return metadata_store.MetadataStore(config, timeout=10)';

export function patchedStore(lines = storeLines()): string[] {
  const out = [...lines];
  out[out.indexOf('from ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store')] = PATCHED_LINE_4;
  const i = out.findIndex((l) => l.startsWith('    return metadata_store.MetadataStore('));
  out[i] = PATCHED_LINE_31;
  return out;
}

const BUILD_V1 = 'package(default_visibility = ["//visibility:public"])\n\n_public_protos = [\n    "//ml_metadata/proto:metadata_store_pb2.py",\n]\n\n_py_extension = ["metadata_store_extension.so"]\n';
export const BUILD_PATCHED = 'package(default_visibility = ["//visibility:public"])\n\n_public_protos = [\n    "//ml_metadata/proto:metadata_store_pb2.py",\n]\n';
export const CRLF_BAT_V1 = Buffer.from('@echo off\r\nset TARGET=//ml_metadata:all\r\nbazel build %TARGET%\r\n');
export const CRLF_BAT_PATCHED = Buffer.from('@echo off\r\nset TARGET=//ml_metadata:move_generated_files\r\nbazel build %TARGET%\r\n');
export const CRLF_NEW_BAT = Buffer.from('@echo off\r\nrem remote-only build\r\npip wheel .\r\n');
export const LEGACY_UTIL = '"""Helpers kept for compatibility."""\n\n\ndef legacy():\n    return 1\n';

export const UPSTREAM_V1: FileTree = {
  WORKSPACE: 'workspace(name = "ml_metadata")\n\nload("//ml_metadata:repo.bzl", "clean_dep")\nhttp_archive(name = "postgresql")\n',
  'README.md': '# ML Metadata (fixture)\n\nA small stand-in for upstream.\n',
  'setup.py': 'from setuptools import setup\n\nsetup(\n    name="ml-metadata",\n    version="1.0.0",\n)\n',
  'ml_metadata/__init__.py': '"""ML Metadata."""\n',
  'ml_metadata/BUILD': BUILD_V1,
  [STORE_PATH]: joinLines(storeLines()),
  'ml_metadata/legacy_util.py': LEGACY_UTIL,
  'tools/old_script.sh': 'echo old\n',
  'tools/build.sh': '#!/bin/sh\necho build\n',
  'windows/build.bat': CRLF_BAT_V1,
};

export interface PatchSpec {
  name: string;
  subject: string;
  files: FileTree;
  trailers: Trailers;
}

export interface SeriesSpec {
  workspace: FileTree;
  patches: PatchSpec[];
}

export const WORKSPACE_SUBJECT = 'WORKSPACE: keep only what Python proto generation needs';
const WORKSPACE_TRAILERS: Trailers = {
  why: "upstream's WORKSPACE loads repositories that need the network at evaluation time",
  upstreamStatus: 'Inappropriate [remote-only build]',
  dropWhen: 'upstream moves to bzlmod',
};

export const MAIN_SERIES: SeriesSpec = {
  workspace: { WORKSPACE: 'workspace(name = "ml_metadata")\n' },
  patches: [
    {
      name: 'build-python-only.patch',
      subject: 'BUILD: generate only the Python modules',
      files: { 'ml_metadata/BUILD': BUILD_PATCHED },
      // A trailer value with a continuation line, as real patches have.
      trailers: { why: 'the extension is the whole C++ store;\n  a remote-only wheel does not ship it', upstreamStatus: 'Inappropriate [remote-only build]', dropWhen: 'never' },
    },
    {
      name: 'metadata-store-grpc-only.patch',
      subject: 'metadata_store: gRPC only',
      files: { [STORE_PATH]: joinLines(patchedStore()) },
      trailers: { why: 'the gRPC paths must not import the extension', upstreamStatus: 'Pending', dropWhen: 'upstream ships a pure-Python client' },
    },
    {
      name: 'setup-pure-wheel.patch',
      subject: 'setup: a pure wheel named ml-metadata-remote',
      files: { 'setup.py': 'from setuptools import setup\n\nsetup(\n    name="ml-metadata-remote",\n    version="1.0.0",\n    has_ext_modules=lambda: False,\n)\n' },
      trailers: { why: 'earlier forks shipped mis-tagged wheels', upstreamStatus: 'Inappropriate [distribution name]', dropWhen: 'never' },
    },
  ],
};

export const FILE_OPS_SERIES: SeriesSpec = {
  workspace: MAIN_SERIES.workspace,
  patches: [
    {
      name: 'tree-add-delete-rename-chmod.patch',
      subject: 'tree: add, delete, rename and chmod files',
      files: {
        'ml_metadata/remote.py': '"""Remote-only helpers."""\n',
        'tools/old_script.sh': null,
        'ml_metadata/legacy_util.py': null,
        'ml_metadata/util.py': LEGACY_UTIL,
        'tools/build.sh': { content: '#!/bin/sh\necho build\n', mode: 0o755 },
      },
      trailers: { why: 'the fixture exercises every kind of file change', upstreamStatus: 'Inappropriate [test fixture]', dropWhen: 'never' },
    },
    {
      name: 'windows-crlf-batch-files.patch',
      subject: 'windows: CRLF batch files',
      files: { 'windows/build.bat': CRLF_BAT_PATCHED, 'windows/remote.bat': CRLF_NEW_BAT },
      trailers: { why: 'batch files keep their CRLF line ends', upstreamStatus: 'Inappropriate [test fixture]', dropWhen: 'never' },
    },
  ],
};

export interface MaintainerUpstream {
  bare: string;
  work: Repo;
  pin: string;
  /** Tag name -> the commit it names (peeled). */
  tags: Record<string, string>;
  /** Per series: the commits the patch files were made from, WORKSPACE.patch first. */
  seriesCommits: Map<SeriesSpec, string[]>;
  seriesDirs: Map<SeriesSpec, string>;
}

/** The file trees of the tags after v1.0.0, as changes to v1.0.0. */
export function tagChanges(): Record<string, FileTree> {
  const v12 = storeLines();
  v12.splice(15, 0, '# upstream 1.2.0: a', '# upstream 1.2.0: b', '# upstream 1.2.0: c', '# upstream 1.2.0: d');
  const v14 = storeLines();
  v14[28] = 'SETTING_29 = 290';
  const v15 = storeLines();
  v15[30] = UPSTREAM_1_5_LINE_31;
  return {
    'v1.1.0': { 'README.md': '# ML Metadata (fixture)\n\nRelease 1.1.0.\n' },
    'v1.2.0': { [STORE_PATH]: joinLines(v12) },
    'v1.3.0': { 'ml_metadata/BUILD': BUILD_PATCHED },
    'v1.4.0': { [STORE_PATH]: joinLines(v14) },
    'v1.5.0': { [STORE_PATH]: joinLines(v15) },
    'v1.6.0': { WORKSPACE: 'workspace(name = "ml_metadata")\n' },
    'v1.7.0': { [STORE_PATH]: joinLines(v15), 'README.md': '# ML Metadata (fixture)\n\nRelease 1.7.0.\n', [NEW_IN_1_7]: NEW_IN_1_7_CONTENT },
  };
}

async function makeSeries(work: Repo, pin: string, spec: SeriesSpec): Promise<{ dir: string; commits: string[] }> {
  const dir = tempDir('maint-series');
  fs.mkdirSync(path.join(dir, 'patches'));
  await work.run(['checkout', '--quiet', '--force', '--detach', pin]);
  await work.run(['clean', '-fdxq']);
  const commits: string[] = [];
  const all = [{ name: 'WORKSPACE.patch', subject: WORKSPACE_SUBJECT, files: spec.workspace, trailers: WORKSPACE_TRAILERS }, ...spec.patches];
  for (const [i, p] of all.entries()) {
    const commit = await work.commit(p.files, patchMessage(p.subject, p.trailers));
    commits.push(commit);
    const text = (await work.run([...FORMAT_PATCH, '-1', commit])).stdout;
    fs.writeFileSync(i === 0 ? path.join(dir, 'WORKSPACE.patch') : path.join(dir, 'patches', p.name), text);
  }
  await work.run(['checkout', '--quiet', '--force', 'main']);
  return { dir, commits };
}

export async function makeMaintainerUpstream(): Promise<MaintainerUpstream> {
  const work = await makeRepo(UPSTREAM_V1, { prefix: 'maint-upstream', message: 'upstream 1.0.0' });
  const pin = await work.head();
  await work.run(['tag', '--annotate', '-m', 'release 1.0.0', 'v1.0.0', pin]);
  const tags: Record<string, string> = { 'v1.0.0': pin };
  for (const [tag, files] of Object.entries(tagChanges())) {
    await work.run(['checkout', '--quiet', '--detach', pin]);
    tags[tag] = await work.commit(files, `upstream ${tag.slice(1)}`);
    await work.run(['tag', '--annotate', '-m', `release ${tag.slice(1)}`, tag, tags[tag]!]);
  }
  await work.run(['checkout', '--quiet', 'main']);
  const seriesCommits = new Map<SeriesSpec, string[]>();
  const seriesDirs = new Map<SeriesSpec, string>();
  for (const spec of [MAIN_SERIES, FILE_OPS_SERIES]) {
    const { dir, commits } = await makeSeries(work, pin, spec);
    seriesCommits.set(spec, commits);
    seriesDirs.set(spec, dir);
  }
  const bare = path.join(tempDir('maint-bare'), 'ml-metadata.git');
  await git(path.dirname(bare), ['clone', '--quiet', '--bare', work.dir, bare]);
  return { bare, work, pin, tags, seriesCommits, seriesDirs };
}

export const SERIES_COMMENT = '# The patch series, applied in this order.';

/** The text of patches/series for these patches, in order; WORKSPACE.patch lives at the project root. */
export function seriesText(names: readonly string[]): string {
  return `${SERIES_COMMENT}\n${names.map((n) => (n === 'WORKSPACE.patch' ? `../${n}` : n)).join('\n')}\n`;
}

/** A superproject (mlmd-remote.json, WORKSPACE.patch, patches/) with upstream/ a submodule of the fixture, at v1.0.0, all committed. */
export async function makeMaintainerProject(up: MaintainerUpstream, spec: SeriesSpec = MAIN_SERIES): Promise<ProjectFixture> {
  const superRepo = await makeRepo(undefined, { prefix: 'maint-super' });
  const root = superRepo.dir;
  fs.cpSync(up.seriesDirs.get(spec)!, root, { recursive: true });
  writeTree(root, {
    'mlmd-remote.json': `${JSON.stringify(projectConfig(up.bare, 'v1.0.0', up.pin), null, 2)}\n`,
    'patches/series': seriesText(['WORKSPACE.patch', ...spec.patches.map((p) => p.name)]),
    '.gitignore': '.cache/\ndist/\n',
  });
  await superRepo.run(['submodule', 'add', '--quiet', up.bare, 'upstream']);
  const upstreamRepo = new Repo(path.join(root, 'upstream'));
  await upstreamRepo.run(['checkout', '--quiet', '--detach', up.pin]);
  await superRepo.commit({}, 'mlmd-remote: pin upstream v1.0.0 and the series');
  return {
    root,
    project: loadProject(root, { exact: true }),
    superRepo,
    upstreamRepo,
    upstream: { bare: up.bare, work: up.work, pin: up.pin, other: up.tags['v1.1.0']!, tag: 'v1.0.0' },
  };
}

/** The files of the superproject the series consists of, as bytes: mlmd-remote.json, the patches at the root and every file of patches/. */
export function seriesFiles(root: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const f of ['mlmd-remote.json', ...fs.readdirSync(root).filter((n) => n.endsWith('.patch')).sort()]) out[f] = fs.readFileSync(path.join(root, f));
  for (const n of fs.readdirSync(path.join(root, 'patches')).sort()) out[`patches/${n}`] = fs.readFileSync(path.join(root, 'patches', n));
  return out;
}

/** Everything about upstream/ that a command could change: HEAD, its branch, work tree, index, branches, stashes. */
export async function upstreamSnapshot(repo: Repo) {
  return {
    head: await repo.head(),
    branch: await repo.out(['symbolic-ref', '-q', '--short', 'HEAD'], { allowFailure: true }),
    status: await repo.status(),
    index: await repo.out(['ls-files', '--stage']),
    branches: await repo.out(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads']),
    stash: await repo.out(['stash', 'list']),
  };
}

export async function gitlink(fx: ProjectFixture): Promise<string> {
  return fx.superRepo.out(['ls-files', '--stage', 'upstream']);
}

export function statePath(fx: ProjectFixture): string {
  return path.join(fx.root, '.git', 'modules', 'upstream', 'mlmd-remote', 'rebase', 'state.json');
}

export async function hasRef(repo: Repo, ref: string): Promise<boolean> {
  return (await repo.run(['rev-parse', '--verify', '-q', ref], { allowFailure: true })).ok;
}

export function assertSameBytes(actual: Record<string, Buffer>, expected: Record<string, Buffer>, skip: string[] = []): void {
  const keys = (o: Record<string, Buffer>) => Object.keys(o).filter((k) => !skip.includes(k)).sort();
  assert.deepEqual(keys(actual), keys(expected));
  for (const k of keys(expected)) assert.ok(actual[k]!.equals(expected[k]!), `${k} changed:\n${actual[k]!.toString()}`);
}
