/**
 * What lets anyone check a wheel: SHA256SUMS beside it, and a provenance
 * statement (in-toto Statement v1, SLSA provenance v1 predicate) naming the
 * upstream commit, every patch's hash, the toolchain and the builder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from './config.js';

export interface ProvenanceInput {
  wheel: { name: string; sha256: string };
  upstream: { url: string; tag: string; commit: string };
  patches: Array<{ name: string; sha256: string }>;
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
          ...p.patches.map((x) => ({ uri: x.name === 'WORKSPACE.patch' ? 'WORKSPACE.patch' : `patches/${x.name}`, digest: { sha256: x.sha256 } })),
        ],
      },
      runDetails: {
        builder: { id: `mlmd-remote ${p.builderVersion}`, version: { node: process.version, platform: `${os.platform()}-${os.arch()}` } },
        metadata: { startedOn: p.startedOn, finishedOn: p.finishedOn },
      },
    },
  };
}

/** Adds or replaces the wheel's line in dist/SHA256SUMS (sha256sum format), keeping the others. */
export function updateSha256Sums(distDir: string, wheelName: string, sha256: string): string {
  const file = path.join(distDir, 'SHA256SUMS');
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && !l.endsWith(`  ${wheelName}`)) : [];
  lines.push(`${sha256}  ${wheelName}`);
  lines.sort((a, b) => a.slice(66).localeCompare(b.slice(66)));
  writeFileAtomic(file, `${lines.join('\n')}\n`);
  return file;
}

export function writeProvenance(distDir: string, input: ProvenanceInput): string {
  const file = path.join(distDir, `${input.wheel.name}.provenance.json`);
  writeFileAtomic(file, `${JSON.stringify(provenanceStatement(input), null, 2)}\n`);
  return file;
}
