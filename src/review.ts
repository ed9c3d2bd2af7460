/**
 * What changed in the series between two revisions of this repository, patch
 * by patch. An engine over parsed patches rather than `git range-diff`:
 * range-diff compares commits, so it needs both series applied to their pins
 * first, and it reports a shifted line number or a changed index line as a
 * change; here those are "same effect", and only changed +/- lines count.
 */
import { createTwoFilesPatch } from 'diff';
import { parsePatch, type Patch } from './patchfile.js';

export type ReviewStatus = 'added' | 'removed' | 'unchanged' | 'reordered' | 'header-only' | 'same-effect' | 'hunks-changed';

export interface PatchReview {
  name: string;
  subject: string;
  status: ReviewStatus;
  /** Positions in the base and head series, from 0. */
  basePosition: number | null;
  headPosition: number | null;
  /** Header fields that changed (Subject, Why, Upstream-Status, Drop-When). */
  headerChanges: Array<{ field: string; base: string; head: string }>;
  /** Unified diff of the changed lines, per file, when hunks changed. */
  interdiff: string;
}

export interface SeriesAtRevision {
  rev: string;
  pin: { tag: string; commit: string };
  patches: Array<{ name: string; bytes: Buffer }>;
}

export interface ReviewResult {
  schemaVersion: 1;
  base: { rev: string; pin: SeriesAtRevision['pin'] };
  head: { rev: string; pin: SeriesAtRevision['pin'] };
  pinChanged: boolean;
  patches: PatchReview[];
}

/** The change a patch makes, without line numbers, context or index lines: file -> +/- lines. */
export function patchEffect(p: Patch): Map<string, string[]> {
  const effect = new Map<string, string[]>();
  let file = '';
  for (const line of p.diffText.split('\n')) {
    const m = /^diff --git \S+ b\/(.*)$/.exec(line);
    if (m) {
      file = m[1]!;
      effect.set(file, []);
      continue;
    }
    if (/^(---|\+\+\+) /.test(line)) continue;
    if (/^(new|deleted) file mode|^old mode|^new mode|^rename (from|to)/.test(line)) effect.get(file)?.push(line);
    else if (/^[+-]/.test(line)) effect.get(file)?.push(line);
  }
  return effect;
}

function effectText(effect: Map<string, string[]>, file: string): string {
  return (effect.get(file) ?? []).join('\n') + '\n';
}

const HEADER_FIELDS: Array<[keyof Patch['header'], string]> = [
  ['subject', 'Subject'],
  ['why', 'Why'],
  ['upstreamStatus', 'Upstream-Status'],
  ['dropWhen', 'Drop-When'],
];

export function comparePatch(name: string, base: Patch, head: Patch): Omit<PatchReview, 'basePosition' | 'headPosition'> {
  const headerChanges = HEADER_FIELDS.filter(([k]) => base.header[k] !== head.header[k]).map(([k, field]) => ({ field, base: String(base.header[k] ?? ''), head: String(head.header[k] ?? '') }));
  const subject = head.header.subject;
  if (base.diffText === head.diffText) {
    return { name, subject, status: headerChanges.length || base.headerText !== head.headerText ? 'header-only' : 'unchanged', headerChanges, interdiff: '' };
  }
  const be = patchEffect(base);
  const he = patchEffect(head);
  const files = [...new Set([...be.keys(), ...he.keys()])].sort();
  const changed = files.filter((f) => effectText(be, f) !== effectText(he, f));
  if (changed.length === 0) return { name, subject, status: 'same-effect', headerChanges, interdiff: '' };
  const interdiff = changed.map((f) => createTwoFilesPatch(`a/${f} (base)`, `b/${f} (head)`, effectText(be, f), effectText(he, f), '', '', { context: 2 }).split('\n').slice(1).join('\n')).join('\n');
  return { name, subject, status: 'hunks-changed', headerChanges, interdiff };
}

export function reviewSeries(base: SeriesAtRevision, head: SeriesAtRevision): ReviewResult {
  const parse = (s: SeriesAtRevision) => s.patches.map((p) => parsePatch(p.name, p.name, p.bytes));
  const bp = parse(base);
  const hp = parse(head);
  const baseNames = bp.map((p) => p.name);
  const headNames = hp.map((p) => p.name);
  const common = headNames.filter((n) => baseNames.includes(n));
  const baseOrder = baseNames.filter((n) => common.includes(n));
  const reviews: PatchReview[] = [];
  for (const [i, h] of hp.entries()) {
    const j = baseNames.indexOf(h.name);
    if (j < 0) {
      reviews.push({ name: h.name, subject: h.header.subject, status: 'added', basePosition: null, headPosition: i, headerChanges: [], interdiff: h.diffText });
      continue;
    }
    const r = comparePatch(h.name, bp[j]!, h);
    const moved = baseOrder.indexOf(h.name) !== common.indexOf(h.name);
    reviews.push({ ...r, status: r.status === 'unchanged' && moved ? 'reordered' : r.status, basePosition: j, headPosition: i });
  }
  for (const [j, b] of bp.entries()) {
    if (!headNames.includes(b.name)) reviews.push({ name: b.name, subject: b.header.subject, status: 'removed', basePosition: j, headPosition: null, headerChanges: [], interdiff: '' });
  }
  return {
    schemaVersion: 1,
    base: { rev: base.rev, pin: base.pin },
    head: { rev: head.rev, pin: head.pin },
    pinChanged: base.pin.commit !== head.pin.commit,
    patches: reviews,
  };
}
