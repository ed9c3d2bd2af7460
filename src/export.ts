/**
 * Commits -> patch files, with stable formatting. A patch whose header and
 * effect did not change keeps its file byte for byte, so an export never
 * churns line numbers or index hashes (the approach of git-go-patch).
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { PatchError, UsageError } from './errors.js';
import type { Git } from './git.js';
import { withTempIndex } from './gitindex.js';
import { parsePatch, type Patch } from './patchfile.js';
import { seriesLine, type SeriesEntry, type SeriesLocation, type UnreadablePatch } from './series.js';

/** Every option that could change the bytes of a patch file is fixed here. */
export const FORMAT_PATCH_ARGS: readonly string[] = [
  'format-patch',
  '--stdout',
  '--zero-commit', // no commit ids: they change on every rebase
  '--no-signature', // no git version at the end
  '--no-numbered',
  '--keep-subject',
  '--no-stat',
  '--full-index', // full blob ids: stable, and what git am --3way needs
  '--no-to', // no To/Cc/extra headers, whatever a repository's config says
  '--no-cc',
  '--no-add-header',
];

export type ExportAction = 'kept' | 'updated' | 'added';

export interface ExportEntry {
  name: string;
  /** Where the file goes, relative to the project root (SeriesEntry.path). */
  path: string;
  subject: string;
  action: ExportAction;
  commit: string;
  /** The file content to write (the old bytes when kept). */
  content: Buffer;
}

export interface ExportPlan {
  base: string;
  head: string;
  entries: ExportEntry[];
  /** Old patch files that no commit produces any more. */
  removed: SeriesEntry[];
  seriesChanged: boolean;
}

export function slugify(subject: string): string {
  const slug = subject
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return `${slug || 'patch'}.patch`;
}

/** True when applying `oldPatch` on the parent of `commit` gives exactly `commit`'s tree. */
export async function sameEffect(git: Git, repoDir: string, oldPatch: Patch, commit: string): Promise<boolean> {
  return withTempIndex(git, repoDir, `${commit}^`, async (indexGit) => {
    const res = await indexGit(['apply', '--cached', '--whitespace=nowarn', oldPatch.file], { allowFailure: true });
    if (!res.ok) return false;
    const tree = (await indexGit(['write-tree'])).stdout.trim();
    const want = (await git(repoDir, ['rev-parse', `${commit}^{tree}`])).stdout.trim();
    return tree === want;
  });
}

/**
 * Plans the export of base..head. Each commit keeps the file (name and place)
 * of the old patch with the same subject, or gets a file in patches/ named
 * from its subject. `verbatim` re-formats every patch.
 */
export async function planExport(opts: { git: Git; repoDir: string; base: string; head: string; oldPatches: readonly Patch[]; unreadable?: readonly UnreadablePatch[]; oldOrder?: readonly string[]; verbatim?: boolean }): Promise<ExportPlan> {
  const { git, repoDir } = opts;
  const merges = (await git(repoDir, ['rev-list', '--min-parents=2', `${opts.base}..${opts.head}`])).stdout.trim();
  if (merges) throw new UsageError(`the commits to export include merges (${merges.split('\n')[0]!.slice(0, 12)})`, 'a patch series is linear; rebase the work branch instead of merging');
  const commits = (await git(repoDir, ['rev-list', '--reverse', `${opts.base}..${opts.head}`])).stdout.split('\n').filter(Boolean);
  if (commits.length === 0) throw new UsageError(`there is nothing to export: ${opts.head.slice(0, 12)} has no commit on top of ${opts.base.slice(0, 12)}`, 'an empty series is refused; mlmd-remote edit turns the series into commits');
  const oldBySubject = new Map<string, SeriesEntry>(opts.oldPatches.map((p) => [p.header.subject, p]));
  // A patch file that cannot be read keeps its name when its Subject line can be, and is written again.
  for (const u of opts.unreadable ?? []) if (u.subject && !oldBySubject.has(u.subject)) oldBySubject.set(u.subject, u);
  const oldByName = new Map(opts.oldPatches.map((p) => [p.name, p]));
  const unreadable = opts.unreadable ?? [];
  const formatted: Array<{ commit: string; text: string; parsed: Patch }> = [];
  for (const [i, commit] of commits.entries()) {
    const text = (await git(repoDir, [...FORMAT_PATCH_ARGS, '-1', commit])).stdout;
    try {
      formatted.push({ commit, text, parsed: parsePatch(`commit ${commit.slice(0, 12)}`, '', Buffer.from(text)) });
    } catch (err) {
      if (text.search(/^diff --git /m) < 0) {
        const last = i === commits.length - 1 && commit === (await git(repoDir, ['rev-parse', opts.head])).stdout.trim();
        throw new PatchError(`commit ${commit.slice(0, 12)} changes no file, so it makes no patch`, `drop it (${last ? 'it is the last: git -C upstream reset --hard HEAD^' : `git -C upstream rebase -i ${commit.slice(0, 12)}^ and delete its line`}), then export again`);
      }
      throw new PatchError(`${(err as Error).message}`, 'add the missing fields to the commit message (git -C upstream commit --amend, or git -C upstream rebase -i for an earlier commit), then export again');
    }
  }
  // The old files some commit takes over by its subject; a new patch's name must not be one of them,
  // nor the name of an old file elsewhere (a patch at the root), since a name names one patch.
  const claimed = new Set(formatted.map((f) => oldBySubject.get(f.parsed.header.subject)?.name).filter((n): n is string => n !== undefined));
  const elsewhere = new Set([...opts.oldPatches, ...unreadable].filter((p) => p.path !== `patches/${p.name}`).map((p) => p.name));
  const used = new Set<string>();
  const entries: ExportEntry[] = [];
  for (const [i, { commit, text, parsed }] of formatted.entries()) {
    const matched = oldBySubject.get(parsed.header.subject);
    let entry: SeriesEntry;
    if (matched && !used.has(matched.name)) entry = { name: matched.name, path: matched.path };
    else {
      let name = slugify(parsed.header.subject);
      for (let n = i; used.has(name) || claimed.has(name) || elsewhere.has(name); n++) name = `${slugify(parsed.header.subject).replace(/\.patch$/, '')}-${n}.patch`;
      entry = { name, path: `patches/${name}` };
    }
    used.add(entry.name);
    const old = oldByName.get(entry.name);
    const keep = !opts.verbatim && old !== undefined && old.path === entry.path && old.headerText === parsed.headerText && (await sameEffect(git, repoDir, old, commit));
    entries.push({
      ...entry,
      subject: parsed.header.subject,
      commit,
      action: keep ? 'kept' : old || unreadable.some((u) => u.name === entry.name) ? 'updated' : 'added',
      content: keep ? fs.readFileSync(old!.file) : Buffer.from(text),
    });
  }
  const removed = [...opts.oldPatches, ...unreadable].filter((p) => !used.has(p.name)).map((p) => ({ name: p.name, path: p.path }));
  const oldOrder = (opts.oldOrder ?? opts.oldPatches.map((p) => p.path)).join('\n');
  return { base: opts.base, head: opts.head, entries, removed, seriesChanged: oldOrder !== entries.map((e) => e.path).join('\n') };
}

export function planChangesNothing(plan: ExportPlan): boolean {
  return plan.entries.every((e) => e.action === 'kept') && plan.removed.length === 0 && !plan.seriesChanged;
}

/** Writes the plan: changed files first (each atomically), then the series, then removals. */
export function writeExport(plan: ExportPlan, loc: SeriesLocation): void {
  for (const e of plan.entries) {
    if (e.action !== 'kept') writeFileAtomic(path.join(loc.root, e.path), e.content);
  }
  const comments = fs.existsSync(loc.seriesFile) ? fs.readFileSync(loc.seriesFile, 'utf8').split('\n').filter((l) => l.startsWith('#')) : [];
  writeFileAtomic(loc.seriesFile, `${[...comments, ...plan.entries.map((e) => seriesLine(e.path))].join('\n')}\n`);
  for (const r of plan.removed) fs.rmSync(path.join(loc.root, r.path), { force: true });
}
