/**
 * Publishing: which version a re-spin gets (from what the index already has),
 * which indexes refuse local versions, and the release notes made from the
 * series.
 */
import { clean, valid } from '@renovatebot/pep440';
import type { Requirement } from './matrix.js';
import type { Patch } from './patchfile.js';
import { normalizeDistName, parseWheelFileName } from './wheel.js';

/** Versions of `distName` listed on a PEP 503 simple page (from the file names of its links: wheels and sdists). */
export function versionsOnIndex(simpleHtml: string, distName: string): string[] {
  const wanted = normalizeDistName(distName);
  const versions = new Set<string>();
  for (const m of simpleHtml.matchAll(/>\s*([^<]+?\.(?:whl|tar\.gz|zip))\s*</g)) {
    const file = m[1]!.trim();
    const wheel = parseWheelFileName(file);
    // An sdist is name-version.tar.gz (or .zip), its name possibly with dashes.
    const sdist = wheel ? null : /^(.+)-([^-]+)\.(?:tar\.gz|zip)$/.exec(file);
    const [name, version] = wheel ? [wheel.distribution, wheel.version] : sdist ? [sdist[1]!, sdist[2]!] : [null, null];
    if (name === null || normalizeDistName(name) !== wanted) continue;
    const written = version!.replace(/_/g, '+');
    // PEP 440's normal form, so that 1.14.0.POST1 and 1.14.0.post1 are one version.
    if (valid(written)) versions.add(clean(written) ?? written);
  }
  return [...versions].sort();
}

/**
 * The post-release a new upload of upstream version `base` needs: none when
 * the index has no release of it, else one more than the highest .postN.
 */
export function nextPostRelease(existing: string[], base: string): number | undefined {
  const same = existing.filter((v) => v === base || v.startsWith(`${base}.post`));
  if (same.length === 0) return undefined;
  return Math.max(0, ...same.map((v) => (v === base ? 0 : +(/\.post(\d+)$/.exec(v)?.[1] ?? 0)))) + 1;
}

/** Indexes that reject local versions (+label); PyPI and TestPyPI do. */
export function rejectsLocalVersions(repositoryUrl: string): boolean {
  return /(^|\/\/)(upload\.)?(test\.)?pypi\.org(\/|$)/.test(repositoryUrl);
}

/** Where the simple index of an upload URL lives. */
export function simpleIndexFor(repositoryUrl: string): string {
  if (/\/\/upload\.pypi\.org\//.test(repositoryUrl)) return 'https://pypi.org/simple/';
  if (/\/\/test\.pypi\.org\//.test(repositoryUrl)) return 'https://test.pypi.org/simple/';
  return `${repositoryUrl.replace(/\/+$/, '')}/simple/`;
}

export function releaseNotes(opts: {
  distName: string;
  version: string;
  upstream: { tag: string; commit: string; url: string };
  patches: readonly Patch[];
  requirements: readonly Requirement[];
  platformTable?: string;
  matrixTable?: string;
  wheel?: { name: string; sha256: string };
}): string {
  const lines = [
    `## ${opts.distName} ${opts.version}`,
    '',
    `Remote-only, pure-Python (\`py3-none-any\`) build of ML Metadata ${opts.upstream.tag} (upstream commit \`${opts.upstream.commit}\`, ${opts.upstream.url}).`,
    '',
  ];
  if (opts.wheel) lines.push(`Wheel: \`${opts.wheel.name}\`, sha256 \`${opts.wheel.sha256}\``, '');
  lines.push('### Patches', '');
  for (const p of opts.patches) lines.push(`- **${p.header.subject}** (\`${p.name}\`): ${p.header.why}`);
  lines.push('', '### Dependencies', '', ...opts.requirements.map((r) => `- ${r.name}${r.specifier ? ` ${r.specifier.replace(/,/g, ', ')}` : ''}`), '');
  if (opts.matrixTable) lines.push('### Tested dependency versions', '', opts.matrixTable.trim(), '');
  if (opts.platformTable) lines.push('### Tested platforms', '', opts.platformTable.trim(), '');
  return `${lines.join('\n')}\n`;
}

/** CHANGELOG.md with the notes of `version` first (replacing an older section of the same version). */
export function updateChangelog(current: string, notes: string, heading: string): string {
  const title = '# Changelog\n\n';
  const body = current.startsWith(title) ? current.slice(title.length) : current;
  const sections = body.split(/(?=^## )/m).filter((s) => s.trim() && !s.startsWith(`${heading}\n`));
  return `${title}${[notes.trimEnd() + '\n', ...sections.map((s) => s.trimEnd() + '\n')].join('\n')}`;
}
