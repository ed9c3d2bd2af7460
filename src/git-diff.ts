/** The diff part of a patch: which files change, how, and the hunks' line ranges. */
import { PatchError } from './errors.js';

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
