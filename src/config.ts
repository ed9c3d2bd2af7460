/**
 * The project file (mlmd-remote.json) and the paths derived from it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors.js';
import { readJsonFile } from './json-file.js';
import { z } from 'zod';

/** mlmd-remote.json: written by people (and by rebase), so every field is checked on read. */
const ProjectConfigSchema = z.object({
  upstream: z.object({ url: z.string().min(1), tag: z.string().min(1), commit: z.string().regex(/^[0-9a-f]{40}$/, 'must be 40 hex digits') }),
  bazel: z.object({ version: z.string().min(1) }),
  toolchain: z.object({ default: z.enum(['grpcio-tools', 'system']) }),
  profiles: z
    .record(
      z.string(),
      z.object({
        /** Distribution name in the wheel's METADATA. */
        distName: z.string().min(1),
        /** Local version label appended as +<label>, or null for upstream's version. */
        localVersion: z.string().min(1).nullable(),
      }),
    )
    .refine((p) => 'default' in p, { message: 'needs a "default" profile' }),
});

/** The pin's fields of mlmd-remote.json, every other field kept as it is (in the order of the file, url first), for a rewrite of the pin or a revision of any layout. */
export const PinFieldsSchema = z.looseObject({ upstream: z.looseObject({ url: z.string().optional(), tag: z.string(), commit: z.string() }) });

export type ProjectConfig = z.infer<typeof ProjectConfigSchema>;
export type BuildProfile = ProjectConfig['profiles'][string];
export type ToolchainKind = ProjectConfig['toolchain']['default'];

export interface Project {
  root: string;
  config: ProjectConfig;
  configPath: string;
  upstreamDir: string;
  patchesDir: string;
  seriesFile: string;
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
  const config = readJsonFile(configPath, ProjectConfigSchema, configPath, (m) => new UsageError(m, `restore it with: git checkout -- ${CONFIG_FILE}`));
  return {
    root,
    config,
    configPath,
    upstreamDir: path.join(root, 'upstream'),
    patchesDir: path.join(root, 'patches'),
    seriesFile: path.join(root, 'patches', 'series'),
    toolsDir: path.join(root, 'tools'),
    cacheDir: process.env['MLMD_REMOTE_CACHE_DIR'] ? path.resolve(process.env['MLMD_REMOTE_CACHE_DIR']) : path.join(root, '.cache'),
    distDir: path.join(root, 'dist'),
  };
}
