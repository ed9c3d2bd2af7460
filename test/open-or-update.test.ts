/**
 * The nightly workflow's pull requests and issues (tools/ci/open-or-update.mjs),
 * through the fake gh of test/helpers/fake-gh on PATH, which records every
 * call: a pr.md opens a pull request and an issue.md an issue, the next night
 * updates them instead of opening others, a good night closes the tag's issue,
 * and a tag the pin has moved past has its issue closed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { projectRoot } from './helpers/real-upstream.ts';

const script = path.join(projectRoot, 'tools', 'ci', 'open-or-update.mjs');
const fakeGhDir = path.join(projectRoot, 'test', 'helpers', 'fake-gh');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlmd-remote-gh-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

interface Item {
  number: number;
  title: string;
  body: string;
  state: string;
  headRefName?: string;
  baseRefName?: string;
  closingComment?: string;
}

class FakeGitHub {
  readonly dir = fs.mkdtempSync(path.join(scratch, 'night-'));
  readonly log = path.join(this.dir, 'gh.log');
  readonly state = path.join(this.dir, 'gh-state.json');

  /** Writes this night's reports (tag -> which file and its text) and runs the script. */
  night(reports: Record<string, ['pr.md' | 'issue.md', string] | null>, tags = Object.keys(reports)) {
    const dir = fs.mkdtempSync(path.join(this.dir, 'reports-'));
    for (const [tag, report] of Object.entries(reports)) {
      if (!report) continue;
      fs.mkdirSync(path.join(dir, `report-${tag}`));
      fs.writeFileSync(path.join(dir, `report-${tag}`, report[0]), `<!-- mlmd-remote nightly ${tag} -->\n${report[1]}\n`);
    }
    fs.writeFileSync(this.log, '');
    const res = spawnSync(process.execPath, [script, '--reports', dir, '--tags', JSON.stringify(tags), '--base', 'main'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${fakeGhDir}${path.delimiter}${process.env['PATH']}`, FAKE_GH_LOG: this.log, FAKE_GH_STATE: this.state, GH_TOKEN: 'fake' },
    });
    const calls = fs.readFileSync(this.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
    return { status: res.status, stdout: res.stdout, stderr: res.stderr, calls, writes: calls.filter((c) => c[1] !== 'list').map((c) => c.slice(0, 3).join(' ')) };
  }

  items(): { prs: Item[]; issues: Item[] } {
    return JSON.parse(fs.readFileSync(this.state, 'utf8')) as { prs: Item[]; issues: Item[] };
  }
}

describe('the nightly workflow opens or updates one pull request or issue per tag (fake gh)', () => {
  it('the gh it runs is the fake', () => {
    const res = spawnSync('sh', ['-c', 'command -v gh'], { encoding: 'utf8', env: { ...process.env, PATH: `${fakeGhDir}${path.delimiter}${process.env['PATH']}` } });
    assert.equal(res.stdout.trim(), path.join(fakeGhDir, 'gh'));
  });

  it('opens, then updates without duplicates, then closes the issue when the tag moves cleanly', () => {
    const gh = new FakeGitHub();
    // Night 1: v1.15.0 needs attention, v1.16.0 is fine.
    const n1 = gh.night({ 'v1.15.0': ['issue.md', 'conflict in setup.py'], 'v1.16.0': ['pr.md', 'all good'] });
    assert.equal(n1.status, 0, n1.stderr);
    assert.deepEqual(n1.writes, ['issue create --title', 'pr create --head']);
    assert.deepEqual(n1.calls.find((c) => c[1] === 'create' && c[0] === 'pr'), ['pr', 'create', '--head', 'mlmd-remote/upstream-v1.16.0', '--base', 'main', '--title', 'Move to upstream v1.16.0', '--body-file', n1.calls.find((c) => c[0] === 'pr' && c[1] === 'create')![9]!]);
    let s = gh.items();
    assert.deepEqual(s.issues.map((i) => [i.number, i.title, i.state]), [[1, 'Upstream v1.15.0 needs attention', 'OPEN']]);
    assert.deepEqual(s.prs.map((p) => [p.number, p.title, p.headRefName, p.baseRefName, p.state]), [[2, 'Move to upstream v1.16.0', 'mlmd-remote/upstream-v1.16.0', 'main', 'OPEN']]);
    assert.match(s.issues[0]!.body, /conflict in setup\.py/);
    assert.match(n1.stdout, /^v1\.15\.0: opened issue https:\/\/github\.com\/owner\/repo\/issues\/1\nv1\.16\.0: opened pull request https:\/\/github\.com\/owner\/repo\/pull\/2\n$/);

    // Night 2: the same outcomes, new texts: the same issue and pull request are updated.
    const n2 = gh.night({ 'v1.15.0': ['issue.md', 'still a conflict in setup.py'], 'v1.16.0': ['pr.md', 'all good, again'] });
    assert.equal(n2.status, 0, n2.stderr);
    assert.deepEqual(n2.writes, ['issue edit 1', 'pr edit 2']);
    s = gh.items();
    assert.equal(s.issues.length, 1);
    assert.equal(s.prs.length, 1);
    assert.match(s.issues[0]!.body, /still a conflict/);
    assert.match(s.prs[0]!.body, /all good, again/);

    // Night 3: v1.15.0 moves cleanly now: its pull request opens and its issue closes, pointing at it.
    const n3 = gh.night({ 'v1.15.0': ['pr.md', 'fixed'], 'v1.16.0': ['pr.md', 'all good'] });
    assert.equal(n3.status, 0, n3.stderr);
    assert.deepEqual(n3.writes, ['pr create --head', 'issue close 1', 'pr edit 2']);
    s = gh.items();
    assert.equal(s.issues[0]!.state, 'CLOSED');
    assert.equal(s.issues[0]!.closingComment, 'The nightly moved the series to v1.15.0 cleanly: https://github.com/owner/repo/pull/3');
    assert.deepEqual(s.prs.map((p) => [p.number, p.headRefName, p.state]), [[2, 'mlmd-remote/upstream-v1.16.0', 'OPEN'], [3, 'mlmd-remote/upstream-v1.15.0', 'OPEN']]);

    // Night 4: the same again changes no state and opens nothing.
    const n4 = gh.night({ 'v1.15.0': ['pr.md', 'fixed'], 'v1.16.0': ['pr.md', 'all good'] });
    assert.deepEqual(n4.writes, ['pr edit 3', 'pr edit 2']);
  });

  it('finds its issue by the marker when someone renamed it', () => {
    const gh = new FakeGitHub();
    gh.night({ 'v1.15.0': ['issue.md', 'conflict'] });
    const s = gh.items();
    s.issues[0]!.title = 'v1.15.0 breaks the BUILD patch';
    fs.writeFileSync(gh.state, JSON.stringify(s));
    const n = gh.night({ 'v1.15.0': ['issue.md', 'conflict'] });
    assert.deepEqual(n.writes, ['issue edit 1']);
    assert.equal(gh.items().issues[0]!.title, 'Upstream v1.15.0 needs attention');
  });

  it('closes the issue of a tag the pin has moved past, and leaves other issues alone', () => {
    const gh = new FakeGitHub();
    gh.night({ 'v1.15.0': ['issue.md', 'conflict'] });
    const s = gh.items();
    s.issues.push({ number: 9, title: 'Something else', body: 'not ours', state: 'OPEN' });
    fs.writeFileSync(gh.state, JSON.stringify(s));
    // The maintainer moved the pin to v1.15.0 by hand: the nightly finds no newer tag.
    const n = gh.night({});
    assert.equal(n.status, 0, n.stderr);
    assert.deepEqual(n.writes, ['issue close 1']);
    assert.deepEqual(gh.items().issues.map((i) => [i.number, i.state]), [[1, 'CLOSED'], [9, 'OPEN']]);
    assert.match(gh.items().issues[0]!.closingComment!, /v1\.15\.0 is no longer newer than the pin on main/);
  });

  it('a tag without a report (its job failed) is named and fails the step, after the other tags are done', () => {
    const gh = new FakeGitHub();
    const n = gh.night({ 'v1.15.0': null, 'v1.16.0': ['pr.md', 'good'] });
    assert.equal(n.status, 1);
    assert.match(n.stderr, /::warning::v1\.15\.0: no pr\.md or issue\.md in .*report-v1\.15\.0/);
    assert.deepEqual(n.writes, ['pr create --head']);
  });
});
