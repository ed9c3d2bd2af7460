/**
 * The patch series: reading the series file and the patch files, checking
 * them, and applying them to an upstream commit.
 *
 * A patch file is a `git format-patch` mail. Its body carries the header
 * fields the series needs, as git trailers (continuation lines indented):
 *
 *   Subject: <one line>            (the mail subject)
 *   Why: <why the change exists>
 *   Upstream-Status: <Inappropriate [...] | Pending | Submitted [...] | ...>
 *   Drop-When: <when the patch can go>
 *
 * `WORKSPACE.patch` at the project root is always applied first; the order of
 * the rest is the order of patches/series.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PatchError, UsageError } from './errors.js';
import type { Git } from './git.js';
import { withTempIndex } from './gitindex.js';

export const REQUIRED_FIELDS = ['Why', 'Upstream-Status', 'Drop-When'] as const;

export interface PatchHeader {
  subject: string;
  from?: string;
  date?: string;
  why: string;
  upstreamStatus: string;
  dropWhen: string;
}

export type FileChangeKind = 'modify' | 'add' | 'delete' | 'rename' | 'copy';

export interface HunkRange {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
}

export interface FileChange {
  kind: FileChangeKind;
  oldPath: string | null;
  newPath: string | null;
  oldMode?: string;
  newMode?: string;
  binary: boolean;
  hunks: HunkRange[];
}

export interface Patch {
  name: string;
  file: string;
  sha256: string;
  header: PatchHeader;
  /** Everything before the first `diff --git` line. */
  headerText: string;
  /** From the first `diff --git` line on. */
  diffText: string;
  files: FileChange[];
}

export interface Series {
  patches: Patch[];
}

// ---------------------------------------------------------------------------
// Reading

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

export function parsePatchFile(file: string): Patch {
  const bytes = fs.readFileSync(file);
  return parsePatch(path.basename(file), file, bytes);
}

export function parsePatch(name: string, file: string, bytes: Buffer): Patch {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    throw new PatchError(`${name} is not valid UTF-8 (first bad byte at offset ${offset})`, 'patch files are UTF-8 text; re-export the patch with mlmd-remote export');
  }
  const diffStart = text.search(/^diff --git /m);
  if (diffStart < 0) throw new PatchError(`${name} contains no "diff --git" section`, 'a patch file is a git format-patch mail; re-export it with mlmd-remote export');
  const headerText = text.slice(0, diffStart);
  const diffText = text.slice(diffStart);
  const header = parseHeader(name, headerText);
  const files = parseDiff(name, diffText);
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  return { name, file, sha256, header, headerText, diffText, files };
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence (linear). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const cont = (i: number, lo = 0x80, hi = 0xbf) => i < bytes.length && bytes[i]! >= lo && bytes[i]! <= hi;
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    let n = 0;
    if (b < 0x80) n = 1;
    else if (b >= 0xc2 && b <= 0xdf) n = cont(i + 1) ? 2 : 0;
    else if (b >= 0xe0 && b <= 0xef) n = cont(i + 1, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf) && cont(i + 2) ? 3 : 0;
    else if (b >= 0xf0 && b <= 0xf4) n = cont(i + 1, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    if (n === 0) return i;
    i += n;
  }
  return -1;
}

/** Decodes RFC 2047 encoded words (=?UTF-8?q?...?= / =?UTF-8?b?...?=), as git writes non-ASCII subjects. */
export function decodeMimeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([qQbB])\?([^?]*)\?=/g, (_m, charset: string, enc: string, text: string) => {
      const bytes = enc.toLowerCase() === 'b' ? Buffer.from(text, 'base64') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
      return new TextDecoder(charset.toLowerCase() === 'utf-8' || charset.toLowerCase() === 'utf8' ? 'utf-8' : charset).decode(bytes);
    });
}

/** Mail headers (From, Date, Subject) and body trailers (Why, Upstream-Status, Drop-When). */
export function parseHeader(name: string, headerText: string): PatchHeader {
  const lines = headerText.split('\n');
  const mail = new Map<string, string>();
  let i = 0;
  if (lines[0]?.startsWith('From ')) i = 1; // mbox separator
  let lastKey: string | null = null;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') break;
    if (/^\s/.test(line) && lastKey) {
      mail.set(lastKey, `${mail.get(lastKey)} ${line.trim()}`);
      continue;
    }
    const m = /^([A-Za-z-]+):\s?(.*)$/.exec(line);
    if (!m) break;
    lastKey = m[1]!.toLowerCase();
    mail.set(lastKey, m[2]!);
  }
  const body = lines.slice(i + 1).join('\n').replace(/\n---\n[\s\S]*$/, '\n');
  const trailers = parseTrailers(body);
  const subject = decodeMimeWords(mail.get('subject') ?? '').replace(/^\[PATCH[^\]]*\]\s*/, '').trim();
  const problems: string[] = [];
  if (!subject) problems.push('Subject');
  for (const f of REQUIRED_FIELDS) if (!trailers.get(f.toLowerCase())) problems.push(f);
  if (problems.length) {
    throw new PatchError(`${name} lacks the header field${problems.length > 1 ? 's' : ''} ${problems.join(', ')}`, 'every patch states Subject, Why, Upstream-Status and Drop-When; add them to the commit message and re-export');
  }
  return {
    subject,
    from: mail.get('from'),
    date: mail.get('date'),
    why: trailers.get('why')!,
    upstreamStatus: trailers.get('upstream-status')!,
    dropWhen: trailers.get('drop-when')!,
  };
}

export function parseTrailers(body: string): Map<string, string> {
  const out = new Map<string, string>();
  let key: string | null = null;
  for (const line of body.split('\n')) {
    const m = /^([A-Za-z][A-Za-z-]*):\s+(.*)$/.exec(line);
    if (m) {
      key = m[1]!.toLowerCase();
      out.set(key, m[2]!.trim());
    } else if (key && /^\s+\S/.test(line)) {
      out.set(key, `${out.get(key)} ${line.trim()}`);
    } else {
      key = null;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The diff part

/** Undoes git's C-style quoting of unusual path names. */
export function unquoteGitPath(p: string): string {
  if (!p.startsWith('"')) return p;
  const inner = p.slice(1, -1);
  const bytes: number[] = [];
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = inner[++i]!;
    if (/[0-7]/.test(n)) {
      bytes.push(parseInt(inner.slice(i, i + 3), 8));
      i += 2;
    } else {
      bytes.push(({ n: 10, t: 9, r: 13, '"': 34, '\\': 92, a: 7, b: 8, f: 12, v: 11 } as Record<string, number>)[n] ?? n.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function stripPrefix(p: string, prefix: 'a/' | 'b/'): string {
  const unq = unquoteGitPath(p.trim());
  return unq.startsWith(prefix) ? unq.slice(2) : unq;
}

/**
 * The two names of a `diff --git` line. Git quotes unusual names but not
 * spaces, so "a/x y b/x y" is read as the same name twice; a rename's real
 * names come later from its "rename from/to" lines.
 */
export function diffGitNames(line: string): [string, string] | null {
  const rest = line.slice('diff --git '.length);
  const m = /^("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)$/.exec(rest);
  if (m) return [stripPrefix(m[1]!, 'a/'), stripPrefix(m[2]!, 'b/')];
  if (rest.startsWith('a/') && (rest.length - 5) % 2 === 0) {
    const p = rest.slice(2, 2 + (rest.length - 5) / 2);
    if (rest === `a/${p} b/${p}`) return [p, p];
  }
  const split = /^a\/(.*) b\/(.*)$/.exec(rest);
  return split ? [split[1]!, split[2]!] : null;
}

export function parseDiff(name: string, diffText: string): FileChange[] {
  const files: FileChange[] = [];
  let cur: FileChange | null = null;
  const lines = diffText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('diff --git ')) {
      const names = diffGitNames(line);
      if (!names) throw new PatchError(`${name}: cannot read the file names in "${line}"`, 'the patch is malformed; re-export it with mlmd-remote export');
      cur = { kind: 'modify', oldPath: names[0], newPath: names[1], binary: false, hunks: [] };
      files.push(cur);
      continue;
    }
    if (!cur) continue;
    let m: RegExpExecArray | null;
    if ((m = /^new file mode (\d+)$/.exec(line))) {
      cur.kind = 'add';
      cur.newMode = m[1];
      cur.oldPath = null;
    } else if ((m = /^deleted file mode (\d+)$/.exec(line))) {
      cur.kind = 'delete';
      cur.oldMode = m[1];
      cur.newPath = null;
    } else if ((m = /^old mode (\d+)$/.exec(line))) cur.oldMode = m[1];
    else if ((m = /^new mode (\d+)$/.exec(line))) cur.newMode = m[1];
    else if ((m = /^rename from (.*)$/.exec(line))) {
      cur.kind = 'rename';
      cur.oldPath = unquoteGitPath(m[1]!);
    } else if ((m = /^rename to (.*)$/.exec(line))) cur.newPath = unquoteGitPath(m[1]!);
    else if ((m = /^copy from (.*)$/.exec(line))) {
      cur.kind = 'copy';
      cur.oldPath = unquoteGitPath(m[1]!);
    } else if ((m = /^copy to (.*)$/.exec(line))) cur.newPath = unquoteGitPath(m[1]!);
    else if (/^(GIT binary patch|Binary files )/.test(line)) cur.binary = true;
    else if ((m = /^--- (.*)$/.exec(line)) && cur.hunks.length === 0) {
      if (m[1] !== '/dev/null') cur.oldPath = stripPrefix(m[1]!, 'a/');
    } else if ((m = /^\+\+\+ (.*)$/.exec(line)) && cur.hunks.length === 0) {
      if (m[1] !== '/dev/null') cur.newPath = stripPrefix(m[1]!, 'b/');
    } else if ((m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line))) {
      const hunk: HunkRange = { oldStart: +m[1]!, oldLines: m[2] === undefined ? 1 : +m[2], newStart: +m[3]!, newLines: m[4] === undefined ? 1 : +m[4] };
      cur.hunks.push(hunk);
      // Walk the hunk body so that a line starting with "--- " inside it is not read as a header.
      let oldLeft = hunk.oldLines;
      let newLeft = hunk.newLines;
      while ((oldLeft > 0 || newLeft > 0) && i + 1 < lines.length) {
        const body = lines[++i]!;
        if (body.startsWith('\\')) continue;
        const tag = body[0];
        if (tag === ' ' || body === '') {
          oldLeft--;
          newLeft--;
        } else if (tag === '-') oldLeft--;
        else if (tag === '+') newLeft--;
        else throw new PatchError(`${name}: hunk ${cur.hunks.length} of ${cur.newPath ?? cur.oldPath} ends early at "${body.slice(0, 60)}"`, 'the patch is malformed (was it edited by hand?); re-export it with mlmd-remote export');
      }
      if (oldLeft > 0 || newLeft > 0) throw new PatchError(`${name}: hunk ${cur.hunks.length} of ${cur.newPath ?? cur.oldPath} is truncated`, 'the patch is malformed; re-export it with mlmd-remote export');
    }
  }
  if (files.length === 0) throw new PatchError(`${name} changes no file`, 'drop it from the series, or re-export it');
  for (const f of files) {
    if (f.kind === 'modify' && f.hunks.length === 0 && !f.binary && !f.newMode) {
      throw new PatchError(`${name}: the change to ${f.newPath} has no hunk`, 'the patch is malformed; re-export it with mlmd-remote export');
    }
  }
  return files;
}

// ---------------------------------------------------------------------------
// Safety: a patch never writes outside the tree

export function unsafePathReason(p: string): string | null {
  if (p === '') return 'is empty';
  if (p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p)) return 'is absolute';
  if (p.includes('\\')) return 'contains a backslash';
  if (p.includes('\0')) return 'contains a NUL byte';
  const parts = p.split('/');
  if (parts.some((s) => s === '..')) return 'climbs out of the tree with ".."';
  if (parts.some((s) => s === '' || s === '.')) return 'has an empty or "." component';
  if (parts.some((s) => s.toLowerCase() === '.git')) return 'writes into a .git directory';
  return null;
}

/** Paths checked before anything is applied; symlinks are checked against the tree in applySeries. */
export function checkSeriesPaths(patches: readonly Patch[]): void {
  const problems: string[] = [];
  for (const patch of patches) {
    for (const f of patch.files) {
      for (const p of [f.oldPath, f.newPath]) {
        if (p === null) continue;
        const reason = unsafePathReason(p);
        if (reason) problems.push(`${patch.name}: the path "${p}" ${reason}`);
      }
    }
  }
  if (problems.length) throw new PatchError(`refusing a patch that would write outside upstream/:\n  ${problems.join('\n  ')}`, 'patches may only touch files inside the upstream tree');
}

/** A path that goes through a symbolic link could write anywhere the link points. */
export function symlinkPrefix(p: string, symlinks: ReadonlySet<string>): string | null {
  const parts = p.split('/');
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (symlinks.has(prefix)) return prefix;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Applying

export type PatchStatus = 'clean' | 'offset' | 'failed' | 'skipped';

export interface HunkOffset {
  file: string;
  hunk: number;
  offset: number;
}

export interface PatchApplyReport {
  name: string;
  subject: string;
  sha256: string;
  status: PatchStatus;
  offsets: HunkOffset[];
  failure?: { file?: string; hunk?: number; line?: number; message: string };
}

export interface ApplyResult {
  ok: boolean;
  baseCommit: string;
  /** The tree with every patch applied (only when ok). */
  tree?: string;
  /** With `steps`: the tree after each patch that applied, in order. */
  steps?: string[];
  patches: PatchApplyReport[];
}

/** Reads git apply --verbose output into offsets and the failure, if any. */
export function readApplyOutput(patch: Patch, output: string): { offsets: HunkOffset[]; failure?: PatchApplyReport['failure'] } {
  const offsets: HunkOffset[] = [];
  let currentFile: string | undefined;
  let failure: PatchApplyReport['failure'];
  for (const line of output.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^Checking patch (.*)\.\.\.$/.exec(line))) {
      const names = m[1]!.split(' => ');
      currentFile = unquoteGitPath(names[names.length - 1]!);
    } else if ((m = /^Hunk #(\d+) succeeded at (\d+) \(offset (-?\d+) lines?\)\.$/.exec(line))) {
      offsets.push({ file: currentFile ?? '?', hunk: +m[1]!, offset: +m[3]! });
    } else if ((m = /^error: patch failed: (.*):(\d+)$/.exec(line))) {
      const file = unquoteGitPath(m[1]!);
      const lineNo = +m[2]!;
      const change = patch.files.find((f) => (f.oldPath ?? f.newPath) === file);
      const idx = change ? change.hunks.findIndex((h) => h.oldStart === lineNo) : -1;
      failure = { file, line: lineNo, hunk: idx >= 0 ? idx + 1 : undefined, message: `hunk${idx >= 0 ? ` #${idx + 1}` : ''} at line ${lineNo} of ${file} does not match upstream` };
    } else if ((m = /^error: (.*)$/.exec(line)) && !failure) {
      const text = m[1]!;
      const fm = /^(.*?): (does not exist in index|already exists in index|patch does not apply|No such file or directory|does not match index|wrong type|has type \d+, expected \d+)/.exec(text);
      failure = { file: fm ? unquoteGitPath(fm[1]!) : currentFile, message: text };
    }
  }
  return { offsets, failure };
}

/**
 * Applies the series to `baseCommit` in a temporary index: nothing in the work
 * tree or the real index changes. Stops at the first patch that fails.
 */
export async function applySeries(opts: {
  git: Git;
  repoDir: string;
  baseCommit: string;
  patches: readonly Patch[];
  onPatch?: (report: PatchApplyReport) => void;
  /** Also return the tree after each patch. */
  steps?: boolean;
}): Promise<ApplyResult> {
  const { git, repoDir, baseCommit, patches } = opts;
  return withTempIndex(git, repoDir, baseCommit, async (indexGit) => {
    const symlinks = new Set(
      (await indexGit(['ls-files', '-s'])).stdout
        .split('\n')
        .filter((l) => l.startsWith('120000 '))
        .map((l) => l.slice(l.indexOf('\t') + 1)),
    );
    const reports: PatchApplyReport[] = [];
    const steps: string[] | undefined = opts.steps ? [] : undefined;
    let failed = false;
    for (const patch of patches) {
      const base = { name: patch.name, subject: patch.header.subject, sha256: patch.sha256, offsets: [] as HunkOffset[] };
      if (failed) {
        reports.push({ ...base, status: 'skipped' });
        continue;
      }
      const viaLink = patch.files
        .flatMap((f) => [f.oldPath, f.newPath])
        .filter((p): p is string => p !== null)
        .map((p) => [p, symlinkPrefix(p, symlinks)] as const)
        .find(([, link]) => link !== null);
      if (viaLink) {
        failed = true;
        const report: PatchApplyReport = { ...base, status: 'failed', failure: { file: viaLink[0], message: `refusing to write ${viaLink[0]} through the symbolic link ${viaLink[1]}, which may point outside the tree` } };
        reports.push(report);
        opts.onPatch?.(report);
        continue;
      }
      const res = await indexGit(['apply', '--cached', '--verbose', '--whitespace=nowarn', patch.file], { allowFailure: true });
      const { offsets, failure } = readApplyOutput(patch, `${res.stdout}\n${res.stderr}`);
      const report: PatchApplyReport = res.ok
        ? { ...base, status: offsets.length ? 'offset' : 'clean', offsets }
        : { ...base, status: 'failed', offsets, failure: failure ?? { message: res.stderr.trim() || `git apply exited with ${res.exitCode}` } };
      if (!res.ok) failed = true;
      else if (steps) steps.push((await indexGit(['write-tree'])).stdout.trim());
      for (const f of patch.files) {
        if (f.newPath && f.newMode === '120000') symlinks.add(f.newPath);
        if (f.oldPath && f.kind !== 'modify' && f.kind !== 'copy') symlinks.delete(f.oldPath);
      }
      reports.push(report);
      opts.onPatch?.(report);
    }
    const tree = failed ? undefined : (await indexGit(['write-tree'])).stdout.trim();
    return { ok: !failed, baseCommit, tree, ...(steps ? { steps } : {}), patches: reports };
  });
}
