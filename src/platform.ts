/**
 * The behaviour suite on other platforms: tools/platform/run-suite.sh runs it
 * inside a foreign Debian root filesystem (arm64 under qemu, or another
 * CPython), with the wheel pip-installed there, against a server on this host.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Project } from './config.js';
import type { Runner } from './exec.js';
import type { StepHandle } from './log.js';
import { scratchDir } from './scratch.js';
import { platformCacheDir, type PlatformName } from './platforms.js';
import type { ServerHandle } from './server-handle.js';
import { SUITE_ENV_CLEARED } from './behaviour-suite.js';
import { parseJunit, type JunitSummary } from './junit.js';
import { checkJson } from './json-file.js';
import { z } from 'zod';

export interface PlatformRun {
  platform: PlatformName;
  status: 'passed' | 'failed' | 'skipped';
  /** Why it was skipped or failed, in one sentence. */
  reason?: string;
  machine?: string;
  python?: string;
  grpcio?: string;
  protobuf?: string;
  seconds: number;
  suite?: JunitSummary;
}

/** What verify reads of the PLATFORM-RESULT line (run-suite.sh prints null for what it did not find out). */
const PlatformResultSchema = z.looseObject({
  machine: z.string().nullish(),
  python: z.string().nullish(),
  grpcio: z.string().nullish(),
  protobuf: z.string().nullish(),
});
export type PlatformResult = z.infer<typeof PlatformResultSchema>;

/** The PLATFORM-RESULT line the script prints last; null when there is none or it does not parse. */
export function readPlatformResult(stdout: string): PlatformResult | null {
  const line = stdout.split('\n').reverse().find((l) => l.startsWith('PLATFORM-RESULT '));
  if (!line) return null;
  const checked = checkJson(line.slice('PLATFORM-RESULT '.length), PlatformResultSchema, 'the PLATFORM-RESULT line');
  return checked.ok ? checked.data : null;
}

export async function runOnPlatform(opts: {
  project: Project;
  runner: Runner;
  platform: PlatformName;
  wheelPath: string;
  server: ServerHandle;
  /** The extra servers for the timeout and TLS tests (startHelperServers' env); run-suite.sh copies their files in. */
  helperEnv?: Record<string, string>;
  /** Another pytest suite than the behaviour suite, and what pip installs next to the wheel for it. */
  suite?: { dir: string; requirements: string };
  step?: StepHandle;
}): Promise<PlatformRun> {
  const scratch = scratchDir('platform');
  const junit = path.join(scratch.dir, 'junit.xml');
  const started = Date.now();
  const suiteArgs = opts.suite ? ['--suite', opts.suite.dir, '--requirements', opts.suite.requirements] : [];
  const res = await opts.runner('bash', [path.join(opts.project.toolsDir, 'platform', 'run-suite.sh'), '--platform', opts.platform, '--wheel', opts.wheelPath, ...suiteArgs, '--cache-dir', platformCacheDir(), '--junit', junit], {
    allowFailure: true,
    env: {
      ...SUITE_ENV_CLEARED,
      MLMD_HOST: opts.server.host,
      MLMD_PORT: String(opts.server.port),
      ...opts.helperEnv,
    },
    onLine: (l) => opts.step?.progress(l),
  });
  const seconds = (Date.now() - started) / 1000;
  const result: PlatformResult = readPlatformResult(res.stdout) ?? {};
  const lastError = (res.stderr.trim().split('\n').filter((l) => /error|cannot|not /i.test(l)).pop() ?? res.stderr.trim().split('\n').pop() ?? '').trim();
  const base = {
    platform: opts.platform,
    seconds,
    machine: result.machine ?? undefined,
    python: result.python ?? undefined,
    grpcio: result.grpcio ?? undefined,
    protobuf: result.protobuf ?? undefined,
  };
  const suite = fs.existsSync(junit) ? parseJunit(fs.readFileSync(junit, 'utf8')) : undefined;
  scratch.dispose();
  if (res.exitCode === 3) return { ...base, status: 'skipped', reason: lastError || 'this host cannot run the platform' };
  if (res.exitCode === 0 && suite && suite.failed === 0 && suite.total > 0) return { ...base, status: 'passed', suite };
  return { ...base, status: 'failed', reason: suite?.failures[0] ? `${suite.failures[0].test}: ${suite.failures[0].message.split('\n')[0]}` : lastError || `exit ${res.exitCode}`, suite };
}
