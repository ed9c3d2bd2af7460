/**
 * The patch series: the series file (patches/series) and the patch files it
 * names, applied in the order it lists them. A line is a file name in
 * patches/, or `../NAME` for a patch kept at the project root (such as
 * WORKSPACE.patch); every patch is named by its file name, once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PatchError, UsageError } from './errors.js';
import { checkSeriesPaths } from './patch-paths.js';
import { decodeMimeWords, parsePatchFile, type Patch } from './patchfile.js';

export interface Series {
  patches: Patch[];
}

/** One line of the series file. */
export interface SeriesEntry {
  /** The file name: what reports call the patch. */
  name: string;
  /** Where the file is, relative to the project root with '/': patches/NAME, or NAME at the root. */
  path: string;
}

/** Where a series lives: the project root (patch paths are relative to it) and the series file. */
export interface SeriesLocation {
  root: string;
  seriesFile: string;
}

/** The series file's line for a patch at `relPath` (project-relative). */
export function seriesLine(relPath: string): string {
  return relPath.startsWith('patches/') ? relPath.slice('patches/'.length) : `../${relPath}`;
}

export function readSeriesList(seriesFile: string): SeriesEntry[] {
  if (!fs.existsSync(seriesFile)) {
    throw new UsageError(`the series file ${seriesFile} does not exist`, 'create patches/series with one patch file name per line');
  }
  return parseSeriesList(fs.readFileSync(seriesFile, 'utf8'), seriesFile);
}

/** The entries of a series file's text (`where` names it in errors): file names in patches/ or ../NAME at the root, each once. */
export function parseSeriesList(text: string, where: string): SeriesEntry[] {
  const entries: SeriesEntry[] = [];
  const seen = new Map<string, number>();
  const problems: string[] = [];
  text
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) return;
      const atRoot = line.startsWith('../');
      const name = atRoot ? line.slice(3) : line;
      if (name.includes('/') || name.includes('\\') || name.startsWith('.')) {
        problems.push(`line ${i + 1}: "${line}" must be a file name inside patches/, or ../NAME for a patch at the project root`);
        return;
      }
      if (seen.has(name)) {
        problems.push(`line ${i + 1}: ${name} is listed twice (first on line ${seen.get(name)})`);
        return;
      }
      seen.set(name, i + 1);
      entries.push({ name, path: atRoot ? name : `patches/${name}` });
    });
  if (problems.length) throw new UsageError(`${where} is invalid:\n  ${problems.join('\n  ')}`, 'fix the series file; each patch may appear once');
  return entries;
}

/** The patch files at the project root (the series may list them as ../NAME). */
export function rootPatchFiles(root: string): string[] {
  return fs.readdirSync(root).filter((n) => n.endsWith('.patch') && fs.statSync(path.join(root, n)).isFile()).sort();
}

/** Where the series is kept in a project, relative to its root: patches/ and the patches at the root. */
export function seriesPaths(root: string): string[] {
  return ['patches', ...rootPatchFiles(root)];
}

/** Patch files at the project root that the series does not list: left from the layout before ../NAME lines, or stray. */
function unlistedRootPatches(loc: SeriesLocation, entries: readonly SeriesEntry[]): string[] {
  const listed = new Set(entries.map((e) => e.path));
  return rootPatchFiles(loc.root).filter((n) => !listed.has(n));
}

export function readSeries(loc: SeriesLocation): Series {
  const entries = readSeriesList(loc.seriesFile);
  if (entries.length === 0) {
    throw new UsageError(`the series ${loc.seriesFile} lists no patch`, 'an empty series would build upstream unchanged; list the patches, or restore the file with git checkout');
  }
  const stray = unlistedRootPatches(loc, entries);
  if (stray.length) {
    throw new UsageError(
      `${stray.join(', ')} ${stray.length > 1 ? 'are patches' : 'is a patch'} at the project root that patches/series does not list`,
      `list ${stray.length > 1 ? 'each' : 'it'} in patches/series as ${stray.map((n) => `../${n}`).join(', ')}, at the place in the order where ${stray.length > 1 ? 'they apply' : 'it applies'} (WORKSPACE.patch comes first), or delete ${stray.length > 1 ? 'them' : 'it'}`,
    );
  }
  const files = entries.map((e) => path.join(loc.root, e.path));
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new UsageError(`the series names patch files that do not exist:\n  ${missing.join('\n  ')}`, 'restore them (git checkout -- patches/) or remove them from patches/series');
  }
  const patches = entries.map((e, i) => {
    try {
      return parsePatchFile(files[i]!, e.path);
    } catch (err) {
      if (!(err instanceof PatchError)) throw err;
      throw new PatchError(err.message, unreadablePatchHint(e.path));
    }
  });
  checkSeriesPaths(patches);
  return { patches };
}

/** What brings a patch file that cannot be read back: git has it, or its commit does. */
export function unreadablePatchHint(rel: string): string {
  return `restore it from the last commit (git checkout HEAD -- ${rel}); or, when upstream/ holds the series as commits (on mlmd-remote/work after mlmd-remote edit), write it again from its commit with mlmd-remote export`;
}

export interface UnreadablePatch {
  name: string;
  /** Project-relative, as SeriesEntry.path. */
  path: string;
  file: string;
  /** Its Subject line, when that much of it can be read. */
  subject: string | null;
  problem: string;
}

/**
 * The series as export needs it: a patch file that cannot be read (truncated,
 * not UTF-8) is not an error here but a file to write again from its commit.
 */
export function readSeriesForExport(loc: SeriesLocation): { patches: Patch[]; unreadable: UnreadablePatch[]; order: string[] } {
  const entries = readSeriesList(loc.seriesFile);
  const patches: Patch[] = [];
  const unreadable: UnreadablePatch[] = [];
  for (const e of entries) {
    const file = path.join(loc.root, e.path);
    if (!fs.existsSync(file)) continue;
    try {
      patches.push(parsePatchFile(file, e.path));
    } catch (err) {
      if (!(err instanceof PatchError)) throw err;
      const m = /^Subject: (.*)$/m.exec(fs.readFileSync(file, 'latin1'));
      unreadable.push({ name: e.name, path: e.path, file, subject: m ? decodeMimeWords(m[1]!).replace(/^\[PATCH[^\]]*\]\s*/, '').trim() : null, problem: err.message });
    }
  }
  return { patches, unreadable, order: entries.map((e) => e.path) };
}
