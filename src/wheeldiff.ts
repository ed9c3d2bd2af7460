/**
 * What a wheel ships compared with another (by default the official
 * ml-metadata wheel of the same upstream version): file lists, metadata, and
 * unified diffs of the Python sources.
 */
import { createTwoFilesPatch } from 'diff';
import type { WheelInspection } from './wheel.js';

export interface WheelDiff {
  schemaVersion: 1;
  base: { path: string; name: string };
  head: { path: string; name: string };
  metadata: Array<{ field: string; base: string[]; head: string[] }>;
  added: string[];
  removed: Array<{ name: string; native: string | null }>;
  changed: string[];
  unchanged: number;
  /** Unified diffs of changed .py files. */
  sourceDiffs: Array<{ name: string; diff: string }>;
}

const FIELDS: Array<['wheel' | 'metadata', string]> = [
  ['metadata', 'Name'],
  ['metadata', 'Version'],
  ['metadata', 'Requires-Python'],
  ['metadata', 'Requires-Dist'],
  ['wheel', 'Tag'],
  ['wheel', 'Root-Is-Purelib'],
];

/** dist-info directories differ by name; compare their contents as one. */
function key(name: string, distInfo: string): string {
  return name.startsWith(`${distInfo}/`) ? `<dist-info>/${name.slice(distInfo.length + 1)}` : name;
}

export function diffWheels(base: WheelInspection, head: WheelInspection, readText: (side: 'base' | 'head', name: string) => string): WheelDiff {
  const b = new Map(base.entries.map((e) => [key(e.name, base.distInfo), e]));
  const h = new Map(head.entries.map((e) => [key(e.name, head.distInfo), e]));
  const added = [...h.keys()].filter((k) => !b.has(k) && !k.endsWith('/RECORD')).sort();
  const removed = [...b.keys()].filter((k) => !h.has(k) && !k.endsWith('/RECORD')).sort().map((k) => ({ name: k, native: b.get(k)!.native }));
  const both = [...h.keys()].filter((k) => b.has(k) && !k.endsWith('/RECORD'));
  const changed = both.filter((k) => b.get(k)!.sha256 !== h.get(k)!.sha256).sort();
  const sourceDiffs = changed
    .filter((k) => k.endsWith('.py'))
    .map((k) => ({ name: k, diff: createTwoFilesPatch(`a/${k}`, `b/${k}`, readText('base', b.get(k)!.name), readText('head', h.get(k)!.name), '', '', { context: 3 }).split('\n').slice(1).join('\n') }));
  const metadata = FIELDS.map(([where, field]) => ({ field, base: base[where][field] ?? [], head: head[where][field] ?? [] })).filter((m) => m.base.join('\n') !== m.head.join('\n'));
  return {
    schemaVersion: 1,
    base: { path: base.path, name: base.path.split('/').pop()! },
    head: { path: head.path, name: head.path.split('/').pop()! },
    metadata,
    added,
    removed,
    changed,
    unchanged: both.length - changed.length,
    sourceDiffs,
  };
}
