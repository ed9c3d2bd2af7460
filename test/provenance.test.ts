import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { provenanceStatement, updateSha256Sums, writeProvenance, type ProvenanceInput } from '../src/provenance.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-prov-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const input: ProvenanceInput = {
  wheel: { name: 'pkg-1.0-py3-none-any.whl', sha256: 'a'.repeat(64) },
  upstream: { url: 'https://github.com/google/ml-metadata.git', tag: 'v1.14.0', commit: '4893bf12d763278a05867b61a47a478ed1286289' },
  patches: [
    { name: 'WORKSPACE.patch', sha256: 'b'.repeat(64) },
    { name: 'one.patch', sha256: 'c'.repeat(64) },
  ],
  profile: 'default',
  toolchain: { protoc: 'libprotoc 3.21.6' },
  builderVersion: '0.1.0',
  startedOn: '2026-01-01T00:00:00.000Z',
  finishedOn: '2026-01-01T00:00:05.000Z',
};

describe('supply-chain files', () => {
  it('the provenance statement names the wheel, the upstream commit, each patch hash and the toolchain', () => {
    const s = provenanceStatement(input) as any;
    assert.equal(s._type, 'https://in-toto.io/Statement/v1');
    assert.equal(s.predicateType, 'https://slsa.dev/provenance/v1');
    assert.deepEqual(s.subject, [{ name: input.wheel.name, digest: { sha256: input.wheel.sha256 } }]);
    assert.deepEqual(s.predicate.buildDefinition.resolvedDependencies, [
      { uri: 'git+https://github.com/google/ml-metadata.git@refs/tags/v1.14.0', digest: { gitCommit: input.upstream.commit } },
      { uri: 'WORKSPACE.patch', digest: { sha256: 'b'.repeat(64) } },
      { uri: 'patches/one.patch', digest: { sha256: 'c'.repeat(64) } },
    ]);
    assert.deepEqual(s.predicate.buildDefinition.internalParameters.toolchain, input.toolchain);
    assert.equal(s.predicate.runDetails.builder.id, 'mlmd-remote 0.1.0');
    const file = writeProvenance(dir, input);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), s);
  });

  it('SHA256SUMS keeps one line per wheel, in sha256sum format, replacing a rebuilt one', () => {
    updateSha256Sums(dir, 'b.whl', '1'.repeat(64));
    updateSha256Sums(dir, 'a.whl', '2'.repeat(64));
    const file = updateSha256Sums(dir, 'b.whl', '3'.repeat(64));
    assert.equal(fs.readFileSync(file, 'utf8'), `${'2'.repeat(64)}  a.whl\n${'3'.repeat(64)}  b.whl\n`);
  });
});
