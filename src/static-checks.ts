/**
 * What makes a wheel a good remote-only wheel, by its contents alone: rules
 * over an inspection (pure functions) and check-wheel-contents.
 */
import path from 'node:path';
import type { Project } from './config.js';
import type { Runner } from './exec.js';
import type { Logger } from './log.js';
import { ensureVenv, readRequirements, venvPython, type PythonInfo } from './python.js';
import { normalizeDistName, parseWheelFileName, type WheelInspection } from './wheel.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  detail?: string;
}

/** check-wheel-contents rules we do not apply, and why. */
export const IGNORED_WHEEL_CONTENTS_CHECKS: Record<string, string> = {
  W002: 'upstream ships several identical (empty or licence-only) __init__.py files',
};

export const pass = (id: string, title: string, detail?: string): Check => ({ id, title, status: 'pass', detail });
export const fail = (id: string, title: string, detail: string): Check => ({ id, title, status: 'fail', detail });

/** The rules we check ourselves, from an inspection of the wheel (no I/O). */
export function staticChecks(fileName: string, w: WheelInspection): Check[] {
  const checks: Check[] = [];
  const m = parseWheelFileName(fileName);
  if (!m) checks.push(fail('file-name', 'file name follows the wheel naming convention', `${fileName} is not <name>-<version>-<python>-<abi>-<platform>.whl with a PEP 440 version`));
  else {
    const tags = `${m.python}-${m.abi}-${m.platform}`;
    checks.push(tags === 'py3-none-any' ? pass('file-name', 'file name carries the tags py3-none-any') : fail('file-name', 'file name carries the tags py3-none-any', `its tags are ${tags}`));
  }
  const tag = w.wheel['Tag'] ?? [];
  checks.push(tag.length === 1 && tag[0] === 'py3-none-any' ? pass('wheel-tag', 'WHEEL says Tag: py3-none-any') : fail('wheel-tag', 'WHEEL says Tag: py3-none-any', `WHEEL has Tag: ${tag.join(', ') || '(none)'}`));
  const purelib = w.wheel['Root-Is-Purelib']?.[0];
  checks.push(purelib === 'true' ? pass('purelib', 'WHEEL says Root-Is-Purelib: true') : fail('purelib', 'WHEEL says Root-Is-Purelib: true', `it says ${purelib ?? 'nothing'}`));
  const dataDirs = w.entries.filter((e) => /^[^/]+\.data\//.test(e.name)).map((e) => e.name);
  checks.push(dataDirs.length === 0 ? pass('root-layout', 'every file sits at the wheel root (no .data/)') : fail('root-layout', 'every file sits at the wheel root (no .data/)', dataDirs.slice(0, 5).join(', ')));
  const natives = w.entries.filter((e) => e.native).map((e) => `${e.name} (${e.native})`);
  checks.push(natives.length === 0 ? pass('no-native', 'no native code, by magic bytes') : fail('no-native', 'no native code, by magic bytes', natives.join(', ')));
  checks.push(w.recordProblems.length === 0 ? pass('record', 'RECORD lists every file with a correct hash') : fail('record', 'RECORD lists every file with a correct hash', w.recordProblems.slice(0, 10).join('; ')));
  const missing = ['Name', 'Version', 'Requires-Python', 'Requires-Dist'].filter((f) => !(w.metadata[f]?.length));
  checks.push(missing.length === 0 ? pass('metadata-fields', 'METADATA has Name, Version, Requires-Python, Requires-Dist') : fail('metadata-fields', 'METADATA has Name, Version, Requires-Python, Requires-Dist', `missing: ${missing.join(', ')}`));
  if (m) {
    const name = w.metadata['Name']?.[0] ?? '';
    const version = w.metadata['Version']?.[0] ?? '';
    const fileVersion = m.version.replace(/_/g, '+'); // a local version's '+' may be escaped in file names
    const ok = normalizeDistName(name) === normalizeDistName(m.distribution) && (version === m.version || version === fileVersion);
    checks.push(ok ? pass('metadata-matches-name', `METADATA names ${name} ${version}, as the file name does`) : fail('metadata-matches-name', 'METADATA name and version match the file name', `METADATA: ${name} ${version}; file: ${m.distribution} ${m.version}`));
  }
  const imports = w.extensionImports ?? [];
  checks.push(imports.length === 0 ? pass('no-extension-import', 'no module imports the removed native extension') : fail('no-extension-import', 'no module imports the removed native extension', imports.map((i) => `${i.file}:${i.line} imports ${i.module}`).join('; ')));
  return checks;
}

/** check-wheel-contents output -> one check per reported rule (ignoring the ones we explain). */
export function readWheelContentsOutput(output: string, exitCode: number): Check {
  const codes = [...output.matchAll(/: ([WE]\d{3}): (.*)/g)].map((x) => ({ code: x[1]!, text: x[2]! }));
  const relevant = codes.filter((c) => !(c.code in IGNORED_WHEEL_CONTENTS_CHECKS));
  const title = `check-wheel-contents (ignoring ${Object.keys(IGNORED_WHEEL_CONTENTS_CHECKS).join(', ')})`;
  if (relevant.length) return fail('check-wheel-contents', title, relevant.map((c) => `${c.code}: ${c.text}`).join('; '));
  if (exitCode !== 0 && codes.length === 0) return fail('check-wheel-contents', title, output.trim().split('\n').slice(-3).join(' '));
  return pass('check-wheel-contents', title);
}

export async function wheelContentsCheck(opts: { project: Project; runner: Runner; log: Logger; python: PythonInfo; wheelPath: string }): Promise<Check> {
  const venv = await ensureVenv({ runner: opts.runner, log: opts.log, python: opts.python, cacheDir: opts.project.cacheDir, name: 'wheel-checks', requirements: readRequirements(path.join(opts.project.toolsDir, 'verify', 'requirements.txt')) });
  const res = await opts.runner(venvPython(venv), ['-m', 'check_wheel_contents', opts.wheelPath], { allowFailure: true });
  return readWheelContentsOutput(`${res.stdout}\n${res.stderr}`, res.exitCode);
}
