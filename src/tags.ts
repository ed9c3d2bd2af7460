/**
 * Upstream release tags: which exist, in version order, and which are newer
 * than the pin.
 */
export interface TagVersion {
  tag: string;
  commit: string;
  parts: number[];
  /** e.g. "rc0" in v1.16.0-rc0; null for a release. */
  prerelease: string | null;
}

export function parseTagVersion(tag: string, commit = ''): TagVersion | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-.]?((?:rc|alpha|beta|a|b|dev)\.?\d*))?$/i.exec(tag);
  if (!m) return null;
  return { tag, commit, parts: [+m[1]!, +m[2]!, +m[3]!], prerelease: m[4] ?? null };
}

/** Version order; a pre-release sorts before its release. */
export function compareTagVersions(a: TagVersion, b: TagVersion): number {
  for (let i = 0; i < 3; i++) if (a.parts[i] !== b.parts[i]) return a.parts[i]! - b.parts[i]!;
  if (a.prerelease === b.prerelease) return 0;
  if (a.prerelease === null) return 1;
  if (b.prerelease === null) return -1;
  return a.prerelease.localeCompare(b.prerelease, 'en', { numeric: true });
}

/** `git ls-remote --tags` output -> version tags with the commits they name (peeled). */
export function readRemoteTags(lsRemote: string): TagVersion[] {
  const commits = new Map<string, string>();
  for (const line of lsRemote.split('\n')) {
    const [sha, ref] = line.trim().split(/\s+/);
    const m = /^refs\/tags\/(.+?)(\^\{\})?$/.exec(ref ?? '');
    if (!m || !sha) continue;
    if (m[2] || !commits.has(m[1]!)) commits.set(m[1]!, sha);
  }
  return [...commits].map(([tag, sha]) => parseTagVersion(tag, sha)).filter((t): t is TagVersion => t !== null).sort(compareTagVersions);
}

export function newerTags(all: TagVersion[], pinTag: string, includePrereleases: boolean): TagVersion[] {
  const pin = parseTagVersion(pinTag);
  if (!pin) return [];
  return all.filter((t) => compareTagVersions(t, pin) > 0 && (includePrereleases || t.prerelease === null));
}

/**
 * The tags asked for by name, each of which must exist and be newer than the
 * pin; otherwise the problems, each naming what does exist (a typo in a CI
 * matrix must not pass as "up to date").
 */
export function pickTags(all: TagVersion[], asked: readonly string[], pinTag: string, includePrereleases: boolean): { tags: TagVersion[]; problems: string[] } {
  const newer = newerTags(all, pinTag, true);
  const tags: TagVersion[] = [];
  const problems: string[] = [];
  const newest = (list: TagVersion[]) => list.slice(-5).map((t) => t.tag).join(', ') || 'none';
  for (const name of asked) {
    const exact = all.find((t) => t.tag === name);
    if (!exact) {
      const near = all.filter((t) => t.tag.replace(/^v/, '').startsWith(name.replace(/^v/, ''))).map((t) => t.tag);
      problems.push(`upstream has no tag ${name}${near.length ? ` (did you mean ${near.slice(0, 3).join(', ')}?)` : ''}; its newest tags: ${newest(all)}`);
    } else if (!newer.includes(exact)) {
      problems.push(`${name} is not newer than the pin ${pinTag}; newer tags: ${newest(newer)}`);
    } else if (exact.prerelease !== null && !includePrereleases) {
      problems.push(`${name} is a pre-release; pass --pre to try it`);
    } else if (!tags.includes(exact)) {
      tags.push(exact);
    }
  }
  return { tags, problems };
}
