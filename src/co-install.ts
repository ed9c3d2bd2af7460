/** The official ml-metadata wheel of the same release installed next to ours. */
import path from 'node:path';
import type { Project } from './config.js';
import type { Runner } from './exec.js';
import { HERMETIC_PIP_ENV, type PythonInfo } from './python.js';
import { fail, pass, type Check } from './static-checks.js';
import { checkJson } from './json-file.js';
import { z } from 'zod';

/** What co_install.py found in one venv (other fields it reports, such as distributions, are kept). */
const CoInstallProbeSchema = z.looseObject({
  import: z.enum(['works', 'fails', 'leftovers only']),
  leftovers: z.array(z.string()).optional(),
  warnings: z.array(z.string()).optional(),
  native: z.array(z.string()).optional(),
  connection_config: z.string().optional(),
  error: z.string().optional(),
});
export type CoInstallProbe = z.infer<typeof CoInstallProbeSchema>;

/** The one JSON object co_install.py prints last: the findings, or why it could not check. */
const CoInstallReportSchema = z.looseObject({
  applicable: z.boolean(),
  reason: z.string().optional(),
  official: z.string().optional(),
  orders: z.array(z.looseObject({ installed: z.array(z.string()), both: CoInstallProbeSchema, afterUninstallingOfficial: CoInstallProbeSchema })).optional(),
  error: z.string().optional(),
  verdict: z.object({ ok: z.boolean(), detail: z.string() }).optional(),
});

export interface CoInstallResult {
  /** False when the two could not be installed together anywhere verify could try. */
  applicable: boolean;
  reason?: string;
  /** Where it ran: "this host" or a platform's root filesystem. */
  where?: string;
  official?: string;
  orders?: Array<{ installed: string[]; both: CoInstallProbe; afterUninstallingOfficial: CoInstallProbe }>;
  check: Check;
}

/** tools/consumer_suite/co_install: co_install.py and its pytest wrapper for root filesystems. */
export function coInstallSuite(project: Project): { dir: string; requirements: string } {
  return { dir: path.join(project.toolsDir, 'consumer_suite', 'co_install'), requirements: path.join(project.toolsDir, 'verify', 'client-requirements.txt') };
}

/**
 * Installs the official ml-metadata of the wheel's release next to it, in
 * both orders, in fresh venvs (co_install.py), here when pip has an official
 * wheel for this CPython, else (with `onPlatform`) in a root filesystem whose
 * CPython it has. The verdict is co_install.py's: where our files are
 * imported, import warns naming both; a drop-in build is replaced, never
 * installed beside.
 */
export async function coInstallCheck(opts: {
  project: Project;
  runner: Runner;
  python: PythonInfo;
  wheelPath: string;
  upstreamVersion: string;
  /** Runs the co_install suite on a platform: a passed run, or why it could not. */
  onPlatform?: (env: Record<string, string>) => Promise<{ status: 'passed' | 'failed' | 'skipped'; where: string; reason?: string }>;
}): Promise<CoInstallResult> {
  const title = `installed with the official ml-metadata ${opts.upstreamVersion}, it says so (or is replaced, for a drop-in build)`;
  const official = `ml-metadata==${opts.upstreamVersion}`;
  const script = path.join(coInstallSuite(opts.project).dir, 'co_install.py');
  const res = await opts.runner(opts.python.executable, [script, '--wheel', opts.wheelPath, '--official', official], { allowFailure: true, env: HERMETIC_PIP_ENV, timeoutMs: 15 * 60_000 });
  const checked = checkJson(res.stdout.trim().split('\n').pop() ?? '', CoInstallReportSchema, 'its last line');
  if (!checked.ok) return { applicable: true, check: fail('co-install', title, `co_install.py exited ${res.exitCode} (${checked.problem}): ${res.stderr.trim().split('\n').slice(-3).join(' ')}`) };
  const report = checked.data;
  if (res.exitCode === 0 || res.exitCode === 2) {
    const { verdict, ...rest } = report;
    return { ...rest, where: 'this host', check: (res.exitCode === 0 ? pass : fail)('co-install', title, verdict?.detail ?? '') };
  }
  if (res.exitCode !== 3) return { ...report, check: fail('co-install', title, report.error ?? `co_install.py exited ${res.exitCode}`) };
  // Not on this host's CPython: where a root filesystem's CPython has the official wheel.
  const hostReason = report.reason ?? 'no official wheel for this CPython';
  const run = opts.onPlatform ? await opts.onPlatform({ MLMD_OFFICIAL: official }) : null;
  if (run?.status === 'passed') return { applicable: true, where: run.where, check: pass('co-install', title, `in the ${run.where}: import warns naming both where our files are imported (${hostReason} on this host)`) };
  if (run?.status === 'failed') return { applicable: true, where: run.where, check: fail('co-install', title, `in the ${run.where}: ${run.reason}`) };
  const reason = `${hostReason}${run ? `; the ${run.where} cannot run here: ${run.reason}` : ''}`;
  return { applicable: false, reason, check: { id: 'co-install', title, status: 'skip', detail: `not checked: ${reason}` } };
}
