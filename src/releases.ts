/**
 * The Debian root filesystems of tools/platform/releases.tsv: the platform
 * recipes of tools/platform/rootfs.sh and, per ml-metadata release, the
 * Debian and CPython its root filesystem uses. The shell side reads the same
 * file (tools/platform/lib-rootfs.sh); test/releases.test.ts checks that
 * both read the same rows.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MlmdError } from './errors.js';
import type { PlatformName } from './platforms.js';

export const RELEASES_FILE = fileURLToPath(new URL('../tools/platform/releases.tsv', import.meta.url));

/** The header line; both readers refuse a file that names other columns. */
export const ROOTFS_COLUMNS = ['kind', 'name', 'debian', 'arch', 'python', 'machine'] as const;

const RowSchema = z
  .object({
    kind: z.enum(['platform', 'release']),
    name: z.string().min(1),
    debian: z.string().regex(/^[a-z]+$/, 'a Debian release name'),
    arch: z.enum(['amd64', 'arm64']),
    python: z.string().regex(/^3\.\d+$/, 'a CPython major.minor'),
    machine: z.enum(['x86_64', 'aarch64']),
  })
  .refine((r) => r.kind !== 'release' || /^\d+\.\d+\.\d+$/.test(r.name), { message: 'a release row is named by its version', path: ['name'] });
export type RootfsRow = z.infer<typeof RowSchema>;

const TableSchema = z.array(RowSchema).superRefine((rows, ctx) => {
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.kind} ${r.name}`;
    if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `${key} has two rows` });
    seen.add(key);
  }
});

/** The rows of the table's text, in file order; throws naming what is wrong. */
export function parseRootfsTable(text: string, file = RELEASES_FILE): RootfsRow[] {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const header = lines.shift()?.split(/\s+/).join(' ');
  if (header !== ROOTFS_COLUMNS.join(' ')) throw new MlmdError(`${file} names the columns '${header ?? ''}', expected '${ROOTFS_COLUMNS.join(' ')}'`);
  const raw = lines.map((l) => {
    const f = l.split(/\s+/);
    if (f.length !== ROOTFS_COLUMNS.length) throw new MlmdError(`${file}: '${f.join(' ')}' has ${f.length} columns, expected ${ROOTFS_COLUMNS.length}`);
    return Object.fromEntries(ROOTFS_COLUMNS.map((c, i) => [c, f[i]]));
  });
  const parsed = TableSchema.safeParse(raw);
  if (!parsed.success) throw new MlmdError(`${file} is not a valid table: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export const ROOTFS_TABLE: readonly RootfsRow[] = parseRootfsTable(fs.readFileSync(RELEASES_FILE, 'utf8'));

function row(kind: RootfsRow['kind'], name: string): RootfsRow | undefined {
  return ROOTFS_TABLE.find((r) => r.kind === kind && r.name === name);
}

/** The Debian and CPython of an ml-metadata release's root filesystem. */
export function releaseRootfs(release: string): RootfsRow | undefined {
  return row('release', release);
}

/** The platform (rootfs.sh recipe) whose root filesystem is the release's, if one is. */
export function releasePlatform(release: string): PlatformName | undefined {
  const r = releaseRootfs(release);
  const p = r && ROOTFS_TABLE.find((q) => q.kind === 'platform' && q.debian === r.debian && q.arch === r.arch && q.python === r.python && q.machine === r.machine);
  return p?.name as PlatformName | undefined;
}

function serverPlatform(): RootfsRow {
  // serve.sh runs every release the host cannot in one platform's root filesystem.
  const names = [...new Set(ROOTFS_TABLE.filter((r) => r.kind === 'release').map((r) => releasePlatform(r.name)).filter((p) => p !== undefined))];
  if (names.length !== 1) throw new MlmdError(`${RELEASES_FILE}: the releases' root filesystems are those of ${names.length} platforms (${names.join(', ')}); the reference server serves them in one`);
  return row('platform', names[0]!)!;
}
const server = serverPlatform();

/** The root filesystem for releases without wheels for this host's CPython, and its CPython. */
export const SERVER_PLATFORM = server.name as PlatformName;
export const SERVER_PYTHON = server.python;
