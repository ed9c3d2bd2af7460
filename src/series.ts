/**
 * The patch series: the series file (patches/series) and the patch files it
 * names. `WORKSPACE.patch` at the project root is always applied first; the
 * order of the rest is the order of patches/series.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PatchError, UsageError } from './errors.js';
import { checkSeriesPaths } from './patch-paths.js';
import { decodeMimeWords, parsePatchFile, type Patch } from './patchfile.js';

export interface Series {
  patches: Patch[];
}

export function readSeriesList(seriesFile: string): string[] {
  if (!fs.existsSync(seriesFile)) {
    throw new UsageError(`the series file ${seriesFile} does not exist`, 'create patches/series with one patch file name per line');
  }
  return parseSeriesList(fs.readFileSync(seriesFile, 'utf8'), seriesFile);
}

/** The patch names of a series file's text (`where` names it in errors): plain names, each once. */
export function parseSeriesList(text: string, where: string): string[] {
  const names: string[] = [];
  const seen = new Map<string, number>();
  const problems: string[] = [];
  text
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) return;
      if (line.includes('/') || line.includes('\\') || line.startsWith('.')) {
        problems.push(`line ${i + 1}: "${line}" must be a plain file name inside patches/`);
        return;
      }
      if (seen.has(line)) {
        problems.push(`line ${i + 1}: ${line} is listed twice (first on line ${seen.get(line)})`);
        return;
      }
      seen.set(line, i + 1);
      names.push(line);
    });
  if (problems.length) throw new UsageError(`${where} is invalid:\n  ${problems.join('\n  ')}`, 'fix the series file; each patch may appear once');
  return names;
}

export function readSeries(opts: { seriesFile: string; patchesDir: string; workspacePatch: string }): Series {
  const names = readSeriesList(opts.seriesFile);
  if (names.length === 0) {
    throw new UsageError(`the series ${opts.seriesFile} lists no patch`, 'an empty series would build upstream unchanged; list the patches, or restore the file with git checkout');
  }
  // WORKSPACE.patch comes first when it exists (a rebase drops it if upstream ever makes the same change).
  const files = [...(fs.existsSync(opts.workspacePatch) ? [opts.workspacePatch] : []), ...names.map((n) => path.join(opts.patchesDir, n))];
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new UsageError(`the series names patch files that do not exist:\n  ${missing.join('\n  ')}`, 'restore them (git checkout -- patches/) or remove them from patches/series');
  }
  const patches = files.map((f) => {
    try {
      return parsePatchFile(f);
    } catch (err) {
      if (!(err instanceof PatchError)) throw err;
      throw new PatchError(err.message, unreadablePatchHint(path.relative(path.dirname(opts.workspacePatch), f)));
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
  file: string;
  /** Its Subject line, when that much of it can be read. */
  subject: string | null;
  problem: string;
}

/**
 * The series as export needs it: a patch file that cannot be read (truncated,
 * not UTF-8) is not an error here but a file to write again from its commit.
 */
export function readSeriesForExport(opts: { seriesFile: string; patchesDir: string; workspacePatch: string }): { patches: Patch[]; unreadable: UnreadablePatch[]; order: string[] } {
  const names = readSeriesList(opts.seriesFile);
  const files = [...(fs.existsSync(opts.workspacePatch) ? [opts.workspacePatch] : []), ...names.map((n) => path.join(opts.patchesDir, n))];
  const patches: Patch[] = [];
  const unreadable: UnreadablePatch[] = [];
  for (const f of files.filter((x) => fs.existsSync(x))) {
    try {
      patches.push(parsePatchFile(f));
    } catch (err) {
      if (!(err instanceof PatchError)) throw err;
      const m = /^Subject: (.*)$/m.exec(fs.readFileSync(f, 'latin1'));
      unreadable.push({ name: path.basename(f), file: f, subject: m ? decodeMimeWords(m[1]!).replace(/^\[PATCH[^\]]*\]\s*/, '').trim() : null, problem: err.message });
    }
  }
  return { patches, unreadable, order: files.map((f) => path.basename(f)) };
}
