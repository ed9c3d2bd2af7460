/**
 * Why a test cannot run here. Each reason is printed loudly; with
 * MLMD_REMOTE_FORBID_SKIPS=1 (what CI sets) a reason is an error instead, so
 * a green run means every test ran.
 */
import { spawnSync } from 'node:child_process';

export const FORBID_SKIPS = process.env['MLMD_REMOTE_FORBID_SKIPS'] === '1';

/** Returns `reason` for node:test's `skip` after printing it, or throws when skips are forbidden. */
export function skipBecause(what: string, reason: string): string {
  if (FORBID_SKIPS) throw new Error(`${what} cannot run here, and MLMD_REMOTE_FORBID_SKIPS=1 forbids skipping it: ${reason}`);
  process.stderr.write(`\n${'!'.repeat(78)}\nSKIPPING ${what}:\n  ${reason}\n${'!'.repeat(78)}\n\n`);
  return reason;
}

/** Why the container tests cannot run here, or false. */
export function containerSkip(): string | false {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
  return info.status === 0 ? false : skipBecause('the container tests', 'no Docker engine answers (start one with bash tools/container/start-docker.sh)');
}

/** Why a server cannot run in a root filesystem here (tools/platform/serve.sh), or false. */
export function rootfsSkip(what: string): string | false {
  if (process.getuid?.() !== 0) return skipBecause(what, 'serving ml-metadata 1.14.0 in a root filesystem needs root (chroot, mount)');
  if (spawnSync('sh', ['-c', 'command -v debootstrap']).status !== 0) return skipBecause(what, 'debootstrap is not installed (apt-get install debootstrap), so no CPython 3.9 root filesystem for ml-metadata 1.14.0');
  return false;
}
