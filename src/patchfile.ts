/**
 * One patch file: a `git format-patch` mail. Its body carries the header
 * fields the series needs, as git trailers (continuation lines indented):
 *
 *   Subject: <one line>            (the mail subject)
 *   Why: <why the change exists>
 *   Upstream-Status: <Inappropriate [...] | Pending | Submitted [...] | ...>
 *   Drop-When: <when the patch can go>
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PatchError } from './errors.js';
import { parseDiff, type FileChange } from './git-diff.js';

export const REQUIRED_FIELDS = ['Why', 'Upstream-Status', 'Drop-When'] as const;

export interface PatchHeader {
  subject: string;
  from?: string;
  date?: string;
  why: string;
  upstreamStatus: string;
  dropWhen: string;
}

export interface Patch {
  /** The file name, which names the patch in the series and in reports. */
  name: string;
  /** Where it is in the project, relative to the root with '/' (patches/NAME, or NAME at the root); the name when not read from a project. */
  path: string;
  file: string;
  sha256: string;
  header: PatchHeader;
  /** Everything before the first `diff --git` line. */
  headerText: string;
  /** From the first `diff --git` line on. */
  diffText: string;
  files: FileChange[];
}

export function parsePatchFile(file: string, relPath?: string): Patch {
  const bytes = fs.readFileSync(file);
  return parsePatch(path.basename(file), file, bytes, relPath);
}

export function parsePatch(name: string, file: string, bytes: Buffer, relPath: string = name): Patch {
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
  return { name, path: relPath, file, sha256, header, headerText, diffText, files };
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
