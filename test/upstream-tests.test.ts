/**
 * How upstream's own tests are judged (classifyUpstreamTests, on reports
 * written here as run.py writes them), that the reviewed plan is valid, and,
 * on real upstream, that the plan covers every test file of the pinned
 * commit and names only tests that exist there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyUpstreamTests, listUpstreamTestFiles, readUpstreamTestPlan, type RawUpstreamReport, type UpstreamTestPlan } from '../src/upstream-tests.ts';
import { pinnedUpstreamRepo, projectRoot, realUpstream } from './helpers/real-upstream.ts';
import { loadProject } from '../src/config.ts';

const STORE_TEST = 'ml_metadata/metadata_store/metadata_store_test.py';
const plan: UpstreamTestPlan = {
  schemaVersion: 1,
  files: { [STORE_TEST]: 'grpc-flags', 'ml_metadata/metadata_store/types_test.py': 'fresh-database' },
  embeddedOnly: [
    { file: STORE_TEST, test: 'MetadataStoreTest.test_embedded', why: 'builds a ConnectionConfig by construction' },
    { file: STORE_TEST, test: 'MetadataStoreTest.test_gone', why: 'a test this commit does not have' },
  ],
  backendDependent: [{ file: STORE_TEST, test: 'MetadataStoreTest.test_order', backends: ['postgresql'], why: 'assumes the order rows come back in' }],
};
const remoteOnly = { exception: 'RuntimeError', message: 'This ml_metadata build is remote-only: ...', remoteOnly: true };

function report(tests: RawUpstreamReport['files'][number]['tests'], extra: Partial<RawUpstreamReport['files'][number]> = {}): RawUpstreamReport {
  return { schemaVersion: 1, files: [{ path: STORE_TEST, mode: 'grpc-flags', tests, ...extra }] };
}

describe('judging upstream\'s tests', () => {
  it('a test the plan says depends on the backend: its failure on that backend is reported apart, elsewhere it counts', () => {
    const failing = report([{ id: 'MetadataStoreTest.test_order', outcome: 'failed', exception: 'AssertionError', message: '2 != 1' }]);
    const onPostgres = classifyUpstreamTests(failing, plan, [], 'c', 'postgresql').files[0]!;
    assert.equal(onPostgres.failed, 0);
    assert.match(onPostgres.backendDependent![0]!.message, /^2 != 1 \(on postgresql: assumes the order rows come back in\)$/);
    assert.equal(classifyUpstreamTests(failing, plan, [], 'c', 'mysql').files[0]!.failed, 1);
    assert.equal(classifyUpstreamTests(failing, plan, [], 'c').files[0]!.failed, 1);
  });

  it('passes when every test passes except the listed ones, which fail with the remote-only error', () => {
    const r = classifyUpstreamTests(report([
      { id: 'MetadataStoreTest.test_a', outcome: 'passed' },
      { id: 'MetadataStoreTest.test_b', outcome: 'passed', returnsAtOnce: true },
      { id: 'MetadataStoreTest.test_c', outcome: 'passed', expectedFailure: true },
      { id: 'MetadataStoreTest.test_embedded', outcome: 'error', ...remoteOnly },
    ]), plan, [], 'c0ffee');
    assert.equal(r.ok, true);
    assert.deepEqual(r.files.map((f) => [f.passed, f.embeddedOnly, f.failed, f.skipped, f.returnsAtOnce]), [[3, 1, 0, 0, 1]]);
    assert.deepEqual(r.staleEntries, [`${STORE_TEST}: MetadataStoreTest.test_gone`]);
  });

  it('fails a listed test that passes, or fails with anything but the remote-only error', () => {
    for (const outcome of [{ outcome: 'passed' as const }, { outcome: 'failed' as const, exception: 'AssertionError', message: '1 != 2', remoteOnly: false }]) {
      const r = classifyUpstreamTests(report([{ id: 'MetadataStoreTest.test_embedded', ...outcome }]), plan, [], 'c0ffee');
      assert.equal(r.ok, false);
      assert.equal(r.files[0]!.failed, 1);
      assert.match(r.files[0]!.failures[0]!.message, outcome.outcome === 'passed' ? /listed as embedded-only but passed: remove it/ : /failed with AssertionError: 1 != 2 rather than the remote-only error/);
    }
  });

  it('fails an unlisted test that needs the embedded store, saying how to list it', () => {
    const r = classifyUpstreamTests(report([{ id: 'MetadataStoreTest.test_new', outcome: 'error', ...remoteOnly }]), plan, [], 'c0ffee');
    assert.equal(r.ok, false);
    assert.match(r.files[0]!.failures[0]!.message, /needs the embedded store .* list it in tools\/upstream_tests\/plan\.json/);
  });

  it('counts a skipped test against the verdict', () => {
    const r = classifyUpstreamTests(report([{ id: 'MetadataStoreTest.test_a', outcome: 'skipped', message: 'not on this platform' }]), plan, [], 'c0ffee');
    assert.equal(r.ok, false);
    assert.deepEqual(r.files[0]!.skips, [{ test: 'MetadataStoreTest.test_a', message: 'not on this platform' }]);
  });

  it('fails a file that does not load, that has no tests, or that the plan does not know', () => {
    assert.equal(classifyUpstreamTests(report([], { loadError: 'Traceback ...\nImportError: no module named x' }), plan, [], 'c').files[0]!.failures[0]!.message, 'the file does not load: ImportError: no module named x');
    assert.equal(classifyUpstreamTests(report([]), plan, [], 'c').files[0]!.failures[0]!.message, 'no tests were found in the file');
    const r = classifyUpstreamTests({ schemaVersion: 1, files: [] }, plan, ['ml_metadata/new_test.py'], 'c');
    assert.equal(r.ok, false);
    assert.equal(r.files[0]!.mode, 'unknown');
    assert.match(r.files[0]!.failures[0]!.message, /plan\.json does not say how to run it/);
  });

  it('is never green with nothing run', () => {
    assert.equal(classifyUpstreamTests({ schemaVersion: 1, files: [] }, plan, [], 'c').ok, false);
  });
});

describe('the reviewed plan, tools/upstream_tests/plan.json', async () => {
  const project = loadProject(projectRoot, { exact: true });
  const upstream = await realUpstream();

  it('is valid, and gives each embedded-only test a reason', () => {
    const p = readUpstreamTestPlan(project);
    assert.ok(p.embeddedOnly.length > 0);
    for (const e of p.embeddedOnly) assert.ok(e.file in p.files, `${e.file} is not a file of the plan`);
  });

  it('knows every test file of the pinned commit, and lists only tests that exist there', { skip: upstream.skipReason ?? false }, async () => {
    const p = readUpstreamTestPlan(project);
    const { commit } = project.config.upstream;
    const repo = await pinnedUpstreamRepo();
    const files = await listUpstreamTestFiles(upstream.git, repo, commit);
    assert.deepEqual(files.filter((f) => !(f in p.files)), []);
    for (const e of p.embeddedOnly.filter((x) => files.includes(x.file))) {
      const source = (await upstream.git(repo, ['show', `${commit}:${e.file}`])).stdout;
      assert.match(source, new RegExp(`def ${e.test.split('.').pop()}\\(`), `${e.test} is not in ${e.file} at ${commit}`);
    }
  });
});
