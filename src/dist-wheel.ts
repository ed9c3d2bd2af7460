/** Which wheel a command works on: the one named, or the only one in dist/. */
import fs from 'node:fs';
import path from 'node:path';
import type { Project } from './config.js';
import { UsageError } from './errors.js';

/** The wheel a command works on (verify, release, diff-wheel): the argument, or the only wheel in dist/. */
export function resolveWheel(project: Project, wheel?: string): string {
  if (wheel) {
    if (!fs.existsSync(wheel)) throw new UsageError(`${wheel} does not exist`, 'build one with: npm run wheel');
    return path.resolve(wheel);
  }
  const found = fs.existsSync(project.distDir) ? fs.readdirSync(project.distDir).filter((n) => n.endsWith('.whl')) : [];
  if (found.length !== 1) {
    throw new UsageError(found.length ? `dist/ holds ${found.length} wheels (${found.join(', ')})` : 'dist/ holds no wheel', found.length ? 'name the one to verify: mlmd-remote verify dist/<wheel>' : 'build one with: npm run wheel');
  }
  return path.join(project.distDir, found[0]!);
}
