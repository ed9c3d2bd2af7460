/**
 * The project file (mlmd-remote.json) and the paths derived from it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors.js';

export interface BuildProfile {
  /** Distribution name in the wheel's METADATA. */
  distName: string;
  /** Local version label appended as +<label>, or null for upstream's version. */
  localVersion: string | null;
}

export interface ProjectConfig {
  upstream: { url: string; tag: string; commit: string };
  bazel: { version: string };
  toolchain: { default: ToolchainKind };
  profiles: Record<string, BuildProfile>;
}

export type ToolchainKind = 'grpcio-tools' | 'system';

export interface Project {
  root: string;
  config: ProjectConfig;
  configPath: string;
  upstreamDir: string;
  patchesDir: string;
  seriesFile: string;
  workspacePatch: string;
  toolsDir: string;
  /** Caches and scratch trees; never committed. */
  cacheDir: string;
  distDir: string;
}

export const CONFIG_FILE = 'mlmd-remote.json';

export function findProjectRoot(start: string): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, CONFIG_FILE))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new UsageError(`no ${CONFIG_FILE} found in ${start} or any parent directory`, 'run mlmd-remote inside a clone of the mlmd-remote repository, or pass --root');
    }
    dir = parent;
  }
}

export function loadProject(rootOrCwd: string, opts: { exact?: boolean } = {}): Project {
  const root = opts.exact ? path.resolve(rootOrCwd) : findProjectRoot(rootOrCwd);
  const configPath = path.join(root, CONFIG_FILE);
  let config: ProjectConfig;
  try {
    config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as ProjectConfig;
  } catch (err) {
    throw new UsageError(`cannot read ${configPath}: ${(err as Error).message}`, `restore it with: git checkout -- ${CONFIG_FILE}`);
  }
  const problems: string[] = [];
  if (!config.upstream?.url) problems.push('upstream.url');
  if (!config.upstream?.tag) problems.push('upstream.tag');
  if (!/^[0-9a-f]{40}$/.test(config.upstream?.commit ?? '')) problems.push('upstream.commit (40 hex digits)');
  if (!config.bazel?.version) problems.push('bazel.version');
  if (!config.profiles?.['default']) problems.push('profiles.default');
  if (!['grpcio-tools', 'system'].includes(config.toolchain?.default)) problems.push('toolchain.default (grpcio-tools or system)');
  for (const [name, profile] of Object.entries(config.profiles ?? {})) {
    if (!profile?.distName || !('localVersion' in profile)) problems.push(`profiles.${name} (distName and localVersion)`);
  }
  if (problems.length) throw new UsageError(`${configPath} is missing or has a bad ${problems.join(', ')}`);
  return {
    root,
    config,
    configPath,
    upstreamDir: path.join(root, 'upstream'),
    patchesDir: path.join(root, 'patches'),
    seriesFile: path.join(root, 'patches', 'series'),
    workspacePatch: path.join(root, 'WORKSPACE.patch'),
    toolsDir: path.join(root, 'tools'),
    cacheDir: process.env['MLMD_REMOTE_CACHE_DIR'] ? path.resolve(process.env['MLMD_REMOTE_CACHE_DIR']) : path.join(root, '.cache'),
    distDir: path.join(root, 'dist'),
  };
}
