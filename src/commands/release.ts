import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { Project } from '../config.js';
import { MlmdError, UsageError, VerifyError } from '../errors.js';
import { ensureVenv, findPython, HERMETIC_PIP_ENV, readRequirements, venvPython } from '../python.js';
import { nextPostRelease, rejectsLocalVersions, releaseNotes, simpleIndexFor, updateChangelog, versionsOnIndex } from '../release.js';
import { readSeries } from '../series.js';
import { declaredRequirements } from '../matrix.js';
import { inspectWheel, sha256File, upstreamVersionOf } from '../wheel.js';
import { build } from './build.js';
import { parseJson, versioned } from '../json-file.js';
import { z } from 'zod';
import type { Deps } from './deps.js';
import { resolveWheel } from '../dist-wheel.js';
import { verify } from './verify.js';
import type { ReleaseResult, VerifyResult } from '../results.js';
import { defineCommand } from '../command.js';
import { renderRelease } from '../render/wheel.js';

export interface ReleaseOptions {
  project: Project;
  wheel?: string;
  repositoryUrl?: string;
  /** A section of ~/.pypirc (twine --repository). */
  repository?: string;
  /** The simple index to read existing versions from (default: derived from the upload URL). */
  indexUrl?: string;
  dryRun?: boolean;
  python?: string;
  /** Publish although verify skipped something or served another MLMD release (the result names it). */
  acceptIncomplete?: boolean;
}

async function fetchText(url: string): Promise<{ status: number; text: string } | null> {
  try {
    const res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(20_000) });
    return { status: res.status, text: await res.text() };
  } catch {
    return null;
  }
}

/**
 * What a passing verify report did not prove: every skip (allowed or not),
 * and a server of another MLMD release than the wheel's (the fallback).
 */
export function incompleteVerification(report: VerifyResult): string[] {
  const out = (report.skipped ?? []).map((s) => `skipped ${s.what}${s.allowed ? ' (allowed)' : ''}: ${s.reason}`);
  if (report.live?.server.note) out.push(`served by another release: ${report.live.server.note}`);
  if (report.live?.helperNote) out.push(`the slow and TLS servers: ${report.live.helperNote}`);
  return out;
}

/** What release relies on in a verify report written beside the wheel. */
const VerifyReportSchema = versioned({
  ok: z.boolean(),
  wheel: z.looseObject({ sha256: z.string() }),
  live: z.looseObject({ suite: z.looseObject({ passed: z.number(), failed: z.number() }) }).nullable(),
  skipped: z.array(z.looseObject({ what: z.string(), reason: z.string() })),
}) as unknown as z.ZodType<VerifyResult>;

/** The verify report for exactly this wheel (by sha256), or a fresh verification. */
async function ensureVerified(project: Project, deps: Deps, wheelPath: string, python?: string): Promise<VerifyResult> {
  const sha256 = sha256File(wheelPath);
  const reportFile = `${wheelPath}.verify.json`;
  if (fs.existsSync(reportFile)) {
    // A report of another format (e.g. from before skips were recorded) says nothing reliable: verify again.
    let report: VerifyResult | null = null;
    try {
      report = parseJson(fs.readFileSync(reportFile, 'utf8'), VerifyReportSchema, reportFile, (m) => new VerifyError(m));
    } catch (err) {
      deps.log.warn(`${(err as Error).message}; verifying again`);
    }
    if (report && report.wheel.sha256 === sha256 && report.ok && report.live && report.live.suite.failed === 0) {
      deps.log.info(`verified before: ${path.basename(reportFile)} (sha256 ${sha256.slice(0, 16)}…, ${report.live.suite.passed} behaviour tests)`);
      return report;
    }
  }
  const report = await verify({ project, wheel: wheelPath, server: 'reference', python }, deps);
  if (!report.ok) throw new VerifyError(`${path.basename(wheelPath)} failed verification; it will not be published`, 'see mlmd-remote verify for the failing checks');
  return report;
}

/**
 * Publishes the verified wheel with twine. A re-spin of a version the index
 * already has is rebuilt as the next post-release first (and verified again).
 */
export async function release(opts: ReleaseOptions, deps: Deps): Promise<ReleaseResult> {
  const { project } = opts;
  const { runner, log } = deps;
  if (!opts.repositoryUrl && !opts.repository) throw new UsageError('say where to publish', 'pass --repository-url URL, or --repository NAME (a section of ~/.pypirc)');
  const target = opts.repositoryUrl ?? `pypirc:${opts.repository}`;
  const python = await findPython(runner, opts.python);
  let wheelPath = resolveWheel(project, opts.wheel);
  let inspection = await inspectWheel(runner, python.executable, project, wheelPath);
  const distName = inspection.metadata['Name']?.[0] ?? '';
  const version = inspection.metadata['Version']?.[0] ?? '';
  const isLocal = version.includes('+');
  if (isLocal && opts.repositoryUrl && rejectsLocalVersions(opts.repositoryUrl)) {
    throw new UsageError(`${distName} ${version} has a local version (+${version.split('+')[1]}), which ${opts.repositoryUrl} rejects`, 'publish drop-in builds as GitHub release assets, or to a company index that accepts local versions; the default profile (ml-metadata-remote) is the one for PyPI');
  }

  // What the index has decides the version: never by hand.
  let existing: string[] = [];
  const indexUrl = opts.indexUrl ?? (opts.repositoryUrl ? simpleIndexFor(opts.repositoryUrl) : undefined);
  if (indexUrl) {
    const page = await fetchText(`${indexUrl.replace(/\/+$/, '')}/${distName.toLowerCase().replace(/[-_.]+/g, '-')}/`);
    if (page === null) throw new MlmdError(`the package index at ${indexUrl} does not answer`, { hint: 'check the URL and that the index is up; nothing was uploaded' });
    if (page.status === 200) existing = versionsOnIndex(page.text, distName);
    else if (page.status !== 404) throw new MlmdError(`the package index at ${indexUrl} answered HTTP ${page.status}`, { hint: 'check the URL and your access; nothing was uploaded' });
  }
  const base = upstreamVersionOf(version);
  const post = isLocal ? undefined : existing.includes(version) || existing.some((v) => v.startsWith(`${base}.post`)) ? nextPostRelease(existing, base) : undefined;
  let postRelease: number | null = null;
  if (post !== undefined) {
    postRelease = post;
    const step = log.step(`${distName} ${version} is on the index already: re-spin as ${base}.post${post}`);
    const rebuilt = await build({ project, postRelease: post, distDir: path.dirname(wheelPath), profile: profileOf(project, distName), python: opts.python }, deps);
    wheelPath = rebuilt.wheel.path;
    inspection = await inspectWheel(runner, python.executable, project, wheelPath);
    step.done(rebuilt.wheel.name);
  }
  const finalVersion = inspection.metadata['Version']?.[0] ?? version;
  const verified = await ensureVerified(project, deps, wheelPath, opts.python);
  const incomplete = incompleteVerification(verified);
  if (incomplete.length && !opts.acceptIncomplete) {
    throw new VerifyError(
      `${path.basename(wheelPath)} passed verify, but not all of it ran; it will not be published:\n${incomplete.map((l) => `  - ${l}`).join('\n')}`,
      'verify again where everything runs (mlmd-remote verify, as root with debootstrap for the same-version server), or publish anyway with --accept-incomplete',
    );
  }
  for (const line of incomplete) log.warn(`publishing although verify ${line}`);

  const twineVenv = await ensureVenv({ runner, log, python, cacheDir: project.cacheDir, name: 'twine', requirements: readRequirements(path.join(project.toolsDir, 'release', 'requirements.txt')) });
  const twine = venvPython(twineVenv);
  const checked = await runner(twine, ['-m', 'twine', 'check', '--strict', wheelPath], { allowFailure: true });
  if (!checked.ok) throw new VerifyError(`twine check refuses ${path.basename(wheelPath)}:\n${(checked.stdout + checked.stderr).trim()}`, 'fix the metadata (setup.py patch), rebuild and verify');

  const series = readSeries(project);
  const notes = releaseNotes({
    distName,
    version: finalVersion,
    upstream: { ...project.config.upstream },
    patches: series.patches,
    requirements: declaredRequirements(fs.readFileSync(path.join(project.patchesDir, 'setup-pure-wheel-named-by-build-profile.patch'), 'utf8')),
    matrixTable: readDoc(project, 'dependency-matrix.md'),
    platformTable: readDoc(project, 'platforms.md'),
    wheel: { name: path.basename(wheelPath), sha256: verified.wheel.sha256 },
  });
  const result: ReleaseResult = {
    schemaVersion: 1,
    uploaded: false,
    dryRun: Boolean(opts.dryRun),
    target,
    distName,
    version: finalVersion,
    postRelease,
    existingVersions: existing,
    wheel: { path: wheelPath, name: path.basename(wheelPath), sha256: verified.wheel.sha256 },
    verified: { sha256: verified.wheel.sha256, passed: verified.live?.suite.passed ?? 0, server: verified.live?.server.description ?? '', incomplete },
    notes,
    changelog: null,
  };
  if (opts.dryRun) return result;

  const step = log.step(`twine upload ${path.basename(wheelPath)} to ${target}`);
  const args = ['-m', 'twine', 'upload', '--non-interactive', '--disable-progress-bar', ...(opts.repositoryUrl ? ['--repository-url', opts.repositoryUrl] : ['--repository', opts.repository!]), wheelPath];
  const up = await runner(twine, args, { allowFailure: true, env: HERMETIC_PIP_ENV });
  if (!up.ok) {
    step.fail();
    const out = `${up.stdout}\n${up.stderr}`;
    const why = /403|401|Invalid or non-existent authentication|credentials/i.test(out)
      ? 'the index refused the credentials'
      : /409|already exists|File already exists/i.test(out)
        ? 'the index already has this file'
        : /local version/i.test(out)
          ? 'the index rejects local versions'
          : /Connection|refused|Max retries|timed out/i.test(out)
            ? 'the index does not answer'
            : 'twine failed';
    throw new MlmdError(`upload to ${target} failed: ${why}:\n${out.trim().split('\n').slice(-6).join('\n')}`, { hint: 'credentials come from TWINE_USERNAME/TWINE_PASSWORD, ~/.pypirc or keyring, as for twine; nothing was published' });
  }
  step.done();
  const changelog = path.join(project.root, 'CHANGELOG.md');
  writeFileAtomic(changelog, updateChangelog(fs.existsSync(changelog) ? fs.readFileSync(changelog, 'utf8') : '', notes, `## ${distName} ${finalVersion}`));
  return { ...result, uploaded: true, changelog };
}

function profileOf(project: Project, distName: string): string {
  return Object.entries(project.config.profiles).find(([, p]) => p.distName === distName)?.[0] ?? 'default';
}

function readDoc(project: Project, name: string): string | undefined {
  const file = path.join(project.root, 'docs', name);
  if (!fs.existsSync(file)) return undefined;
  const table = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('|'));
  return table.length ? table.join('\n') : undefined;
}

export const definition = defineCommand({
  command: 'release [wheel]',
  describe: 'Publish the verified wheel with twine; a re-spin of a published version becomes the next .postN',
  options: (y) =>
    y
      .positional('wheel', { type: 'string', describe: 'The wheel (default: the only wheel in dist/)' })
      .option('repository-url', { type: 'string', describe: 'Upload URL, e.g. https://upload.pypi.org/legacy/ or http://127.0.0.1:8080/' })
      .option('repository', { type: 'string', describe: 'A repository section of ~/.pypirc' })
      .option('index-url', { type: 'string', describe: 'Simple index to read existing versions from (default: derived from the upload URL)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Verify and check, then show exactly what would be uploaded; upload nothing' })
      .option('python', { type: 'string', describe: 'CPython for the venvs' })
      .option('accept-incomplete', { type: 'boolean', default: false, describe: "Publish although verify skipped something (even if allowed) or served another MLMD release than the wheel's; the result names what was not proven" })
      .example('$0 release --repository-url http://127.0.0.1:8080/ --dry-run', ''),
  run: (a, project, deps) =>
    release({ project, wheel: a.wheel, repositoryUrl: a.repositoryUrl, repository: a.repository, indexUrl: a.indexUrl, dryRun: a.dryRun, python: a.python, acceptIncomplete: a.acceptIncomplete }, deps),
  render: renderRelease,
});
