/**
 * The dependency matrix (tools/verify/matrix.json: the versions the behaviour
 * suite is run with) and the ranges the setup.py patch declares, compared
 * with PEP 440 semantics: every specifier operator counts (>=, <, ~=, !=,
 * ==, ===, wildcards), not only the bounds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { compare, eq, valid } from '@renovatebot/pep440';
import { parse as parseSpecifier, satisfies, validRange } from '@renovatebot/pep440/lib/specifier.js';
import { z } from 'zod';
import type { Project } from './config.js';
import { MlmdError } from './errors.js';
import { normalizeDistName } from './wheel.js';

const MatrixSchema = z.object({
  packages: z.array(z.string()).min(1),
  rows: z.array(z.object({ name: z.string(), pins: z.record(z.string(), z.string()) })).min(1),
});
export type MatrixSpec = z.infer<typeof MatrixSchema>;
export type MatrixRow = MatrixSpec['rows'][number];

export function readMatrix(project: Project): MatrixSpec {
  const file = path.join(project.toolsDir, 'verify', 'matrix.json');
  const parsed = MatrixSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new MlmdError(`${file} is not a valid matrix: ${z.prettifyError(parsed.error)}`, { hint: 'see docs/dependency-matrix.md' });
  return parsed.data;
}

export interface Requirement {
  name: string;
  /** The PEP 440 specifier as declared, e.g. ">=3.20.3,<7" (empty: any version). */
  specifier: string;
  /** The lowest version it admits by its own clauses (>=, ~=, ==, ===), if any. */
  lower?: string;
}

/** The lowest version a specifier names as admitted: the highest of its >=, ~=, == and === versions. */
export function lowerBound(specifier: string): string | undefined {
  if (!specifier.trim()) return undefined;
  const floors = parseSpecifier(specifier)
    .filter((c) => ['>=', '~=', '==', '==='].includes(c.operator) && !c.version.includes('*'))
    .map((c) => c.version);
  return floors.sort(compare).at(-1);
}

/** install_requires on the new side of the setup.py patch: its `'name<specifier>',` lines. */
export function declaredRequirements(setupPatchText: string): Requirement[] {
  const out: Requirement[] = [];
  const lines = setupPatchText.split('\n');
  const start = lines.findIndex((l) => /^[ +]\s+install_requires=\[$/.test(l));
  if (start < 0) return out;
  for (const line of lines.slice(start + 1)) {
    if (/^[ +]\s+\],?$/.test(line)) break;
    const m = /^[ +]\s+'([A-Za-z0-9_.-]+)\s*([^';]*)',?$/.exec(line);
    if (!m) continue; // removed ('-') lines are the old side
    const specifier = m[2]!.trim();
    if (specifier && !validRange(specifier)) throw new MlmdError(`install_requires in the setup.py patch: '${m[1]}${specifier}' is not a PEP 440 specifier`);
    out.push({ name: m[1]!, specifier, lower: lowerBound(specifier) });
  }
  return out;
}

/**
 * Where the declared ranges and the tested ones disagree: a lower bound that
 * the lowest row does not pin exactly, a pin or an installed version the
 * specifier excludes, or a package one side has and the other lacks.
 */
export function rangeDrift(declared: Requirement[], matrix: MatrixSpec, installedByRow: Record<string, Record<string, string | null>> = {}): string[] {
  const problems: string[] = [];
  const lowest = matrix.rows[0]!;
  for (const pkg of matrix.packages) {
    const req = declared.find((r) => normalizeDistName(r.name) === normalizeDistName(pkg));
    if (!req) {
      problems.push(`${pkg} is in the matrix but not declared in install_requires`);
      continue;
    }
    const pinned = lowest.pins[pkg];
    if (!req.lower || !pinned || !valid(pinned) || !eq(req.lower, pinned)) {
      problems.push(`${pkg}: declared lower bound ${req.lower ?? '(none)'} but the "${lowest.name}" row tests ${pinned ?? '(nothing)'}`);
    }
    const tested: Array<[string, string]> = [
      ...matrix.rows.filter((row) => row.pins[pkg]).map((row): [string, string] => [`pins ${row.pins[pkg]}`, row.name]),
      ...Object.entries(installedByRow).filter(([, installed]) => installed[pkg]).map(([row, installed]): [string, string] => [`tested ${installed[pkg]}`, row]),
    ];
    for (const [what, row] of tested) {
      const version = what.split(' ')[1]!;
      if (req.specifier && !satisfies(version, req.specifier)) problems.push(`${pkg}: row "${row}" ${what}, which the declared '${req.specifier}' excludes`);
    }
  }
  for (const req of declared) {
    if (!matrix.packages.some((p) => normalizeDistName(p) === normalizeDistName(req.name))) problems.push(`${req.name} is declared but the matrix does not test it`);
  }
  return [...new Set(problems)];
}
