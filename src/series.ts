/**
 * The patch series: the series file (patches/series) and the patch files it
 * names, applied in the order it lists them. A line is a file name in
 * patches/, or `../NAME` for a patch kept at the project root (such as
 * WORKSPACE.patch); every patch is named by its file name, once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE } from './config.js';
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
      // At the root only *.patch files: the root also holds mlmd-remote.json, package.json and upstream/.
      if (name.includes('/') || name.includes('\\') || name.startsWith('.') || (atRoot && !name.endsWith('.patch')) || (!atRoot && name === 'series')) {
        problems.push(`line ${i + 1}: "${line}" must be a file name inside patches/, or ../NAME.patch for a patch at the project root`);
        return;
      }
      if (seen.has(name)) {
        problems.push(`line ${i + 1}: ${name} is listed twice (first on line ${seen.get(name)}); a file name names one patch, in patches/ or at the root`);
        return;
      }
      seen.set(name, i + 1);
      entries.push({ name, path: atRoot ? name : `patches/${name}` });
    });
  if (problems.length) throw new UsageError(`${where} is invalid:\n  ${problems.join('\n  ')}`, 'fix the series file; each patch may appear once');
  return entries;
}

const isFile = (f: string): boolean => fs.existsSync(f) && fs.statSync(f).isFile();

/** The patch files at the project root (the series may list them as ../NAME). */
export function rootPatchFiles(root: string): string[] {
  return fs.readdirSync(root).filter((n) => n.endsWith('.patch') && fs.statSync(path.join(root, n)).isFile()).sort();
}

/** git's pathspec for the patches at the project root (glob magic: `*` does not cross '/'). */
export const ROOT_PATCHES_PATHSPEC = ':(glob)*.patch';

/** Everything a rebase rewrites in the project, as a git pathspec: the pin, patches/ and the patches at the root. */
export const SERIES_PATHSPEC: readonly string[] = [CONFIG_FILE, 'patches', ROOT_PATCHES_PATHSPEC];

/** Where the series is kept in a project, relative to its root: patches/ and the patches at the root. */
export function seriesPaths(root: string): string[] {
  return ['patches', ...rootPatchFiles(root)];
}

/** Patch files at the project root that the series does not list: left from the layout before ../NAME lines, or stray. */
function unlistedRootPatches(loc: SeriesLocation, entries: readonly SeriesEntry[]): string[] {
  const listed = new Set(entries.map((e) => e.path));
  return rootPatchFiles(loc.root).filter((n) => !listed.has(n));
}

/**
 * Refuses patches at the project root when the series lists none from there:
 * the layout before ../NAME lines, which applied WORKSPACE.patch unlisted, and
 * would now build without it. A series that names its root patches leaves
 * any other file there alone (a maintainer's scratch patch, as in patches/).
 */
export function requireRootPatchesListed(loc: SeriesLocation, entries: readonly SeriesEntry[]): void {
  if (entries.some((e) => !e.path.startsWith('patches/'))) return;
  const stray = unlistedRootPatches(loc, entries);
  if (!stray.length) return;
  const many = stray.length > 1;
  throw new UsageError(
    `${stray.join(', ')} ${many ? 'are patches' : 'is a patch'} at the project root that patches/series does not list`,
    `if ${many ? 'they are' : 'it is'} part of the series, add ${stray.map((n) => `../${n}`).join(', ')} to patches/series where ${many ? 'they apply' : 'it applies'} in the order (a series written before such lines applied WORKSPACE.patch first); otherwise move ${many ? 'them' : 'it'} out of the project root`,
  );
}

export function readSeries(loc: SeriesLocation): Series {
  const entries = readSeriesList(loc.seriesFile);
  if (entries.length === 0) {
    throw new UsageError(`the series ${loc.seriesFile} lists no patch`, 'an empty series would build upstream unchanged; list the patches, or restore the file with git checkout');
  }
  requireRootPatchesListed(loc, entries);
  const files = entries.map((e) => path.join(loc.root, e.path));
  const missing = entries.filter((_, i) => !isFile(files[i]!)).map((e) => e.path);
  if (missing.length) {
    throw new UsageError(`the series names patch files that do not exist:\n  ${missing.join('\n  ')}`, `restore them (git checkout HEAD -- ${missing.join(' ')}) or remove their lines from patches/series`);
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
  requireRootPatchesListed(loc, entries);
  const patches: Patch[] = [];
  const unreadable: UnreadablePatch[] = [];
  for (const e of entries) {
    const file = path.join(loc.root, e.path);
    if (!isFile(file)) continue;
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
