/**
 * What lets anyone check a wheel: SHA256SUMS beside it, and a provenance
 * statement (in-toto Statement v1, SLSA provenance v1 predicate) naming the
 * upstream commit, every patch's hash, the toolchain and the builder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { MlmdError, UsageError } from './errors.js';
import { readJsonFileIfValid } from './json-file.js';
import { z } from 'zod';

export interface ProvenanceInput {
  wheel: { name: string; sha256: string };
  upstream: { url: string; tag: string; commit: string };
  /** Each patch by its path in the project. */
  patches: Array<{ path: string; sha256: string }>;
  profile: string;
  toolchain: Record<string, unknown>;
  builderVersion: string;
  startedOn: string;
  finishedOn: string;
}

export function provenanceStatement(p: ProvenanceInput): object {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: p.wheel.name, digest: { sha256: p.wheel.sha256 } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: {
        buildType: 'https://github.com/mlmd-remote/mlmd-remote/blob/main/README.md#how-it-works',
        externalParameters: { profile: p.profile, upstream: { tag: p.upstream.tag } },
        internalParameters: { toolchain: p.toolchain },
        resolvedDependencies: [
          { uri: `git+${p.upstream.url}@refs/tags/${p.upstream.tag}`, digest: { gitCommit: p.upstream.commit } },
          ...p.patches.map((x) => ({ uri: x.path, digest: { sha256: x.sha256 } })),
        ],
      },
      runDetails: {
        builder: { id: `mlmd-remote ${p.builderVersion}`, version: { node: process.version, platform: `${os.platform()}-${os.arch()}` } },
        metadata: { startedOn: p.startedOn, finishedOn: p.finishedOn },
      },
    },
  };
}

/** What verify reads back of a statement provenanceStatement wrote: the wheel it is about and the upstream commit. */
const ProvenanceStatementSchema = z.looseObject({
  subject: z.array(z.looseObject({ digest: z.looseObject({ sha256: z.string().optional() }) })),
  predicate: z.looseObject({
    buildDefinition: z.looseObject({
      resolvedDependencies: z.array(z.looseObject({ uri: z.string(), digest: z.looseObject({ gitCommit: z.string().regex(/^[0-9a-f]{40}$/).optional() }) })),
    }),
  }),
});

/**
 * The upstream commit named by the provenance statement beside a wheel, when
 * that statement is about exactly this wheel (`sha256`); null when there is
 * none, or it is damaged, or about another wheel.
 */
export function provenanceUpstreamCommit(wheelPath: string, sha256: string): string | null {
  const statement = readJsonFileIfValid(`${wheelPath}.provenance.json`, ProvenanceStatementSchema);
  if (!statement?.subject.some((s) => s.digest.sha256 === sha256)) return null;
  return statement.predicate.buildDefinition.resolvedDependencies.find((d) => d.uri.startsWith('git+'))?.digest.gitCommit ?? null;
}

/** Adds or replaces the wheel's line in dist/SHA256SUMS (sha256sum format), keeping the others. */
export function updateSha256Sums(distDir: string, wheelName: string, sha256: string): string {
  const file = path.join(distDir, 'SHA256SUMS');
  return writeAttestation(file, wheelName, () => {
    const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && !l.endsWith(`  ${wheelName}`)) : [];
    lines.push(`${sha256}  ${wheelName}`);
    lines.sort((a, b) => a.slice(66).localeCompare(b.slice(66)));
    return `${lines.join('\n')}\n`;
  });
}

export function writeProvenance(distDir: string, input: ProvenanceInput): string {
  const file = path.join(distDir, `${input.wheel.name}.provenance.json`);
  return writeAttestation(file, input.wheel.name, () => `${JSON.stringify(provenanceStatement(input), null, 2)}\n`);
}

/** Why a file cannot be written where it is, in plain words. */
export function unwritableReason(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EISDIR' || (fs.existsSync(file) && fs.statSync(file).isDirectory())) return `${file} is a directory`;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `${path.dirname(file)} is not writable (${code})`;
  if (code === 'ENOSPC') return 'the disk is full';
  return (err as Error).message;
}

/** Writes an attestation beside a wheel atomically; a failure says so plainly and leaves no partial file. */
function writeAttestation(file: string, wheelName: string, content: () => string): string {
  try {
    writeFileAtomic(file, content());
  } catch (err) {
    throw new MlmdError(`cannot write ${file}: ${unwritableReason(file, err)}; ${wheelName} is in ${path.dirname(file)}, but ${path.basename(file)} was not updated (nothing half-written was left)`, {
      hint: `make ${path.basename(file)} a writable file again (move away what is in its place), then build again, which reuses the wheel; or build into another directory with --dist DIR`,
      cause: err,
    });
  }
  return file;
}

/**
 * Before a build spends minutes: the output directory can take the wheel,
 * SHA256SUMS and the provenance. A directory in SHA256SUMS's place, or a
 * directory that cannot be created or written, is refused here.
 */
export function checkDistDir(distDir: string): void {
  const fix = 'or build into another directory with --dist DIR';
  // The directory, or the nearest one that exists and would hold it (build creates the rest).
  let dir = path.resolve(distDir);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`cannot use ${distDir} as the output directory: ${dir} is a file`, `move the file away, ${fix}`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw new UsageError(`cannot write to ${dir === path.resolve(distDir) ? 'the output directory ' : ''}${dir}: ${unwritableReason(path.join(dir, 'x'), err)}`, `make it writable (chmod u+w ${dir}), ${fix}`);
  }
  const sums = path.join(distDir, 'SHA256SUMS');
  if (fs.existsSync(sums) && !fs.lstatSync(sums).isFile()) {
    throw new UsageError(`${sums} is not a file, so build cannot record the wheel's checksum there`, `move it away (mv ${sums} ${sums}.old), ${fix}`);
  }
}
