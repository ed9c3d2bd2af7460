/** Safety: a patch never writes outside the tree. */
import { PatchError } from './errors.js';
import type { Patch } from './patchfile.js';

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
