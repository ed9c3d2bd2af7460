/** The platforms tools/platform builds root filesystems for, and where they are cached. */
import os from 'node:os';
import path from 'node:path';
import { UsageError } from './errors.js';

export const PLATFORMS = ['linux/arm64', 'cpython-3.13', 'cpython-3.9'] as const;
export type PlatformName = (typeof PLATFORMS)[number];

export function parsePlatform(name: string): PlatformName {
  if ((PLATFORMS as readonly string[]).includes(name)) return name as PlatformName;
  throw new UsageError(`unknown platform "${name}"`, `choose from: ${PLATFORMS.join(', ')}`);
}

/** Root filesystems are cached per machine (keyed by recipe), so every clone and CI run shares them. */
export function platformCacheDir(): string {
  return process.env['MLMD_REMOTE_PLATFORM_CACHE'] || path.join(process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'mlmd-remote', 'platform');
}
