/**
 * The static rules of verify on fake wheels (inspected by the real
 * tools/python/wheel_tool.py), the JUnit reader, the check-wheel-contents
 * reader, and the drift between declared and tested dependency ranges.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadProject } from '../src/config.ts';
import { processRunner } from '../src/exec.ts';
import { declaredRequirements, rangeDrift, readMatrix, type MatrixSpec } from '../src/matrix.ts';
import { parseJunit } from '../src/junit.ts';
import { readWheelContentsOutput, staticChecks, type Check } from '../src/static-checks.ts';
import { inspectWheel } from '../src/wheel.ts';
import { wheelUpstreamCommit } from '../src/commands/verify.ts';
import { makeFakeWheel, type FakeWheelSpec } from './helpers/fake-wheel.ts';
import { projectRoot } from './helpers/real-upstream.ts';

const project = loadProject(projectRoot, { exact: true });
const runner = processRunner();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-verify-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let counter = 0;
async function checksFor(spec: FakeWheelSpec): Promise<Record<string, Check>> {
  const sub = path.join(dir, String(counter++));
  fs.mkdirSync(sub);
  const wheel = makeFakeWheel(sub, spec);
  const inspection = await inspectWheel(runner, 'python3', project, wheel);
  return Object.fromEntries(staticChecks(path.basename(wheel), inspection).map((c) => [c.id, c]));
}

const failing = (checks: Record<string, Check>) => Object.values(checks).filter((c) => c.status === 'fail').map((c) => c.id);

describe('static checks', () => {
  it('pass on a good pure wheel', async () => {
    assert.deepEqual(failing(await checksFor({})), []);
  });

  it('find a native file by its magic bytes, whatever its name', async () => {
    const checks = await checksFor({ files: { 'fake_pkg/__init__.py': '', 'fake_pkg/_ext.so': Buffer.from('\x7fELF\x02\x01\x01rest', 'latin1'), 'fake_pkg/data.bin': Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 0, 0]) } });
    assert.deepEqual(failing(checks), ['no-native']);
    assert.equal(checks['no-native']!.detail, 'fake_pkg/_ext.so (ELF), fake_pkg/data.bin (Mach-O)');
  });

  it('catch a tampered RECORD: a changed file and a file RECORD does not list', async () => {
    const checks = await checksFor({ files: { 'fake_pkg/__init__.py': 'A = 1\n', 'fake_pkg/extra.py': 'B = 2\n' }, tamper: { 'fake_pkg/__init__.py': 'A = 666\n' }, unrecorded: ['fake_pkg/extra.py'] });
    assert.deepEqual(failing(checks), ['record']);
    assert.equal(checks['record']!.detail, 'fake_pkg/__init__.py does not match its RECORD hash; fake_pkg/extra.py is not listed in RECORD');
  });

  it('reject platform tags, Root-Is-Purelib: false and files under .data/', async () => {
    const checks = await checksFor({ fileName: 'fake_pkg-1.0.0-cp311-cp311-manylinux_2_17_x86_64.whl', tag: 'cp311-cp311-manylinux_2_17_x86_64', purelib: false, files: { 'fake_pkg-1.0.0.data/platlib/fake_pkg/__init__.py': '' } });
    assert.deepEqual(failing(checks).sort(), ['file-name', 'purelib', 'root-layout', 'wheel-tag']);
    assert.equal(checks['file-name']!.detail, 'its tags are cp311-cp311-manylinux_2_17_x86_64');
  });

  it('reject a module that imports the removed extension', async () => {
    const checks = await checksFor({ files: { 'fake_pkg/__init__.py': '', 'fake_pkg/store.py': 'import os\nfrom ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store\n' } });
    assert.deepEqual(failing(checks), ['no-extension-import']);
    assert.equal(checks['no-extension-import']!.detail, 'fake_pkg/store.py:2 imports ml_metadata.metadata_store.pywrap.metadata_store_extension');
  });

  it('require the METADATA fields and their agreement with the file name', async () => {
    const checks = await checksFor({ metadata: { 'Metadata-Version': '2.1', Name: 'other-pkg', Version: '1.0.0' } });
    assert.deepEqual(failing(checks).sort(), ['metadata-fields', 'metadata-matches-name']);
    assert.equal(checks['metadata-fields']!.detail, 'missing: Requires-Python, Requires-Dist');
  });
});

describe("the upstream commit of the wheel under test", () => {
  it('a damaged provenance statement falls back to the pin for a wheel of the pinned release, else to none', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'prov-'));
    const pinned = path.join(sub, `ml_metadata_remote-${project.config.upstream.tag.replace(/^v/, '')}-py3-none-any.whl`);
    const other = path.join(sub, 'ml_metadata_remote-0.0.1-py3-none-any.whl');
    for (const wheel of [pinned, other]) fs.writeFileSync(`${wheel}.provenance.json`, '{"subject": [');
    assert.equal(wheelUpstreamCommit(project, pinned, 'a'.repeat(64)), project.config.upstream.commit);
    assert.equal(wheelUpstreamCommit(project, other, 'a'.repeat(64)), null);
  });
});

describe('check-wheel-contents output', () => {
  it('ignores W002 (upstream ships identical __init__.py files) and fails on anything else', () => {
    assert.equal(readWheelContentsOutput('x.whl: W002: Wheel contains duplicate files:\n  a/__init__.py\n', 1).status, 'pass');
    const bad = readWheelContentsOutput('x.whl: W001: Wheel contains .pyc/.pyo files\nx.whl: W002: dup\n', 1);
    assert.equal(bad.status, 'fail');
    assert.equal(bad.detail, 'W001: Wheel contains .pyc/.pyo files');
    assert.equal(readWheelContentsOutput('Traceback: boom\n', 2).status, 'fail');
  });
});

describe('JUnit results', () => {
  it('count passes, failures and skips with their messages', () => {
    const xml = `<?xml version="1.0"?><testsuites><testsuite>
      <testcase classname="test_behaviour" name="test_ok" time="0.1"/>
      <testcase classname="test_behaviour" name="test_bad" time="0.1"><failure message="AssertionError: 1 != 2">trace</failure></testcase>
      <testcase classname="test_behaviour" name="test_skip" time="0"><skipped type="pytest.skip" message="needs MLMD_SERVER_PYTHON &amp; a server">x</skipped></testcase>
      <testcase classname="test_behaviour" name="test_err" time="0"><error message="fixture &quot;x&quot; failed"/></testcase>
    </testsuite></testsuites>`;
    assert.deepEqual(parseJunit(xml), {
      total: 4,
      passed: 1,
      failed: 2,
      skipped: 1,
      failures: [
        { test: 'test_behaviour::test_bad', message: 'AssertionError: 1 != 2' },
        { test: 'test_behaviour::test_err', message: 'fixture "x" failed' },
      ],
      skips: [{ test: 'test_behaviour::test_skip', message: 'needs MLMD_SERVER_PYTHON & a server' }],
    });
  });

  it('decode every XML entity and numeric reference in names and messages, once', () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
      <testcase classname="test_&amp;_suite" name="test_x[&lt;a&gt;]"><failure message="assert &quot;a&quot; &amp; &apos;b&apos; &lt; &gt;&#10;line two &#x41;&#66; &#x1F600; &amp;lt;kept&amp;gt;">trace</failure></testcase>
    </testsuite></testsuites>`;
    assert.deepEqual(parseJunit(xml).failures, [{ test: 'test_&_suite::test_x[<a>]', message: `assert "a" & 'b' < >\nline two AB \u{1F600} &lt;kept&gt;` }]);
  });

  it('read a report whose root is a single testsuite, and a failure without a message', () => {
    const xml = `<testsuite><testcase classname="c" name="a"><error/></testcase><testcase classname="c" name="b"><skipped/></testcase><testcase classname="c" name="d"></testcase></testsuite>`;
    assert.deepEqual(parseJunit(xml), { total: 3, passed: 1, failed: 1, skipped: 1, failures: [{ test: 'c::a', message: 'error' }], skips: [{ test: 'c::b', message: '' }] });
  });
});

describe('declared and tested dependency ranges', () => {
  const setupPatch = fs.readFileSync(path.join(project.patchesDir, 'setup-pure-wheel-named-by-build-profile.patch'), 'utf8');
  const declared = declaredRequirements(setupPatch);
  const matrix = readMatrix(project);

  it('read install_requires from the new side of the setup.py patch', () => {
    assert.deepEqual(declared.map((r) => r.name).sort(), ['absl-py', 'attrs', 'grpcio', 'protobuf', 'six']);
    assert.ok(declared.every((r) => r.lower), 'every dependency has a lower bound');
  });

  it('agree: the lowest matrix row pins exactly the declared lower bounds', () => {
    assert.deepEqual(rangeDrift(declared, matrix), []);
  });

  it('are reported when they drift apart', () => {
    const moved: MatrixSpec = { ...matrix, rows: [{ name: 'lowest declared', pins: { ...matrix.rows[0]!.pins, protobuf: '3.19.0' } }, ...matrix.rows.slice(1)] };
    assert.deepEqual(rangeDrift(declared, moved), [
      'protobuf: declared lower bound 3.20.3 but the "lowest declared" row tests 3.19.0',
      `protobuf: row "lowest declared" pins 3.19.0, which the declared '>=3.20.3,<7' excludes`,
    ]);
    assert.deepEqual(rangeDrift(declared, matrix, { newest: { protobuf: '7.0.1' } }), [`protobuf: row "newest" tested 7.0.1, which the declared '>=3.20.3,<7' excludes`]);
  });

  it('read every PEP 440 operator, not only >= and <', () => {
    const patch = (lines: string[]) => ['     install_requires=[', ...lines.map((l) => `+        '${l}',`), '     ],'].join('\n');
    const reqs = declaredRequirements(patch(['grpcio~=1.49.1', 'protobuf>=3.20.3,!=4.21.0,<7', 'six==1.16.*', 'attrs===23.1.0', 'absl-py']));
    assert.deepEqual(reqs.map((r) => [r.name, r.specifier, r.lower]), [
      ['grpcio', '~=1.49.1', '1.49.1'],
      ['protobuf', '>=3.20.3,!=4.21.0,<7', '3.20.3'],
      ['six', '==1.16.*', '1.16'],
      ['attrs', '===23.1.0', '23.1.0'],
      ['absl-py', '', undefined],
    ]);
    const spec: MatrixSpec = { packages: ['grpcio', 'protobuf'], rows: [{ name: 'lowest declared', pins: { grpcio: '1.49.1', protobuf: '3.20.3' } }] };
    const two = reqs.slice(0, 2);
    assert.deepEqual(rangeDrift(two, spec, { newest: { grpcio: '1.49.9', protobuf: '4.21.0' } }), [`protobuf: row "newest" tested 4.21.0, which the declared '>=3.20.3,!=4.21.0,<7' excludes`]);
    // ~=1.49.1 means >=1.49.1, ==1.49.*: 1.50 is outside it.
    assert.deepEqual(rangeDrift(reqs.slice(0, 1), { packages: ['grpcio'], rows: spec.rows.map((r) => ({ ...r, pins: { grpcio: '1.49.1' } })) }, { newest: { grpcio: '1.50.0' } }), [`grpcio: row "newest" tested 1.50.0, which the declared '~=1.49.1' excludes`]);
    assert.throws(() => declaredRequirements(patch(['grpcio>>1'])), /'grpcio>>1' is not a PEP 440 specifier/);
  });
});
