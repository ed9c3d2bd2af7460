import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { MlmdError, UsageError } from '../src/errors.ts';
import { checkDistDir, provenanceStatement, provenanceUpstreamCommit, updateSha256Sums, writeProvenance, type ProvenanceInput } from '../src/provenance.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-prov-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const input: ProvenanceInput = {
  wheel: { name: 'pkg-1.0-py3-none-any.whl', sha256: 'a'.repeat(64) },
  upstream: { url: 'https://github.com/google/ml-metadata.git', tag: 'v1.14.0', commit: '4893bf12d763278a05867b61a47a478ed1286289' },
  patches: [
    { path: 'WORKSPACE.patch', sha256: 'b'.repeat(64) },
    { path: 'patches/one.patch', sha256: 'c'.repeat(64) },
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

describe('the provenance statement read back (the upstream commit of a wheel)', () => {
  const beside = (content: string | object): string => {
    const dist = fs.mkdtempSync(path.join(dir, 'read-'));
    fs.writeFileSync(path.join(dist, `${input.wheel.name}.provenance.json`), typeof content === 'string' ? content : JSON.stringify(content));
    return path.join(dist, input.wheel.name);
  };

  it('is the commit the statement about exactly this wheel names', () => {
    const wheel = path.join(path.dirname(writeProvenance(fs.mkdtempSync(path.join(dir, 'read-')), input)), input.wheel.name);
    assert.equal(provenanceUpstreamCommit(wheel, input.wheel.sha256), input.upstream.commit);
    assert.equal(provenanceUpstreamCommit(wheel, 'f'.repeat(64)), null, 'a statement about another wheel');
  });

  it('is null, not an error, when the statement is missing, damaged or misshapen', () => {
    const statement = provenanceStatement(input) as any;
    const deps = statement.predicate.buildDefinition.resolvedDependencies;
    assert.equal(provenanceUpstreamCommit(path.join(dir, 'no-such.whl'), input.wheel.sha256), null);
    for (const [why, content] of [
      ['truncated', JSON.stringify(statement).slice(0, 100)],
      ['subject is not a list', { ...statement, subject: { digest: { sha256: input.wheel.sha256 } } }],
      ['no predicate', { ...statement, predicate: undefined }],
      ['a commit that is not 40 hex digits', { ...statement, predicate: { ...statement.predicate, buildDefinition: { ...statement.predicate.buildDefinition, resolvedDependencies: [{ ...deps[0], digest: { gitCommit: 'HEAD' } }] } } }],
    ] as const) {
      assert.equal(provenanceUpstreamCommit(beside(content), input.wheel.sha256), null, why);
    }
  });
});

describe('when dist/ cannot take SHA256SUMS or the provenance', () => {
  it('updateSha256Sums and writeProvenance fail with a plain error (exit 1) and a hint, leaving no partial file', () => {
    const dist = fs.mkdtempSync(path.join(dir, 'dist-'));
    fs.mkdirSync(path.join(dist, 'SHA256SUMS'));
    assert.throws(
      () => updateSha256Sums(dist, 'pkg-1.0-py3-none-any.whl', 'a'.repeat(64)),
      (err: unknown) => {
        assert.ok(err instanceof MlmdError, String(err));
        assert.equal(err.exitCode, 1);
        assert.equal(err.message, `cannot write ${dist}/SHA256SUMS: ${dist}/SHA256SUMS is a directory; pkg-1.0-py3-none-any.whl is in ${dist}, but SHA256SUMS was not updated (nothing half-written was left)`);
        assert.match(err.hint!, /^make SHA256SUMS a writable file again/);
        return true;
      },
    );
    fs.mkdirSync(path.join(dist, `${input.wheel.name}.provenance.json`));
    assert.throws(() => writeProvenance(dist, input), (err: unknown) => err instanceof MlmdError && /provenance\.json is a directory/.test(err.message));
    assert.deepEqual(fs.readdirSync(dist).sort(), ['SHA256SUMS', `${input.wheel.name}.provenance.json`]);
    assert.deepEqual(fs.readdirSync(path.join(dist, 'SHA256SUMS')), []);
  });

  it('checkDistDir refuses before a build starts (UsageError, exit 2): SHA256SUMS a directory, dist/ a file or under one', () => {
    const dist = fs.mkdtempSync(path.join(dir, 'dist-'));
    checkDistDir(dist);
    checkDistDir(path.join(dist, 'not', 'yet'));
    assert.equal(fs.existsSync(path.join(dist, 'not')), false, 'nothing is created by the check');
    fs.mkdirSync(path.join(dist, 'SHA256SUMS'));
    assert.throws(() => checkDistDir(dist), (err: unknown) => err instanceof UsageError && err.message === `${dist}/SHA256SUMS is not a file, so build cannot record the wheel's checksum there` && err.hint === `move it away (mv ${dist}/SHA256SUMS ${dist}/SHA256SUMS.old), or build into another directory with --dist DIR`);
    const file = path.join(dist, 'plain');
    fs.writeFileSync(file, 'x');
    assert.throws(() => checkDistDir(path.join(file, 'dist')), (err: unknown) => err instanceof UsageError && err.exitCode === 2 && err.message === `cannot use ${file}/dist as the output directory: ${file} is a file`);
  });
});
