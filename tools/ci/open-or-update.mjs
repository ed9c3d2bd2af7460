#!/usr/bin/env node
/**
 * What the nightly workflow does with the reports of `mlmd-remote nightly
 * --push`, with the gh CLI (GH_TOKEN and GH_REPO from the workflow):
 *
 *   node tools/ci/open-or-update.mjs --reports DIR --tags '["v1.16.0"]' [--base main]
 *
 * For each tag, DIR/report-<tag>/ holds pr.md or issue.md:
 *   pr.md     opens the pull request of branch mlmd-remote/upstream-<tag>, or
 *             updates the open one; closes the tag's open issue (it moves now)
 *   issue.md  opens the tag's issue "Upstream <tag> needs attention", or
 *             updates the open one: one issue per tag, never a second
 * Open nightly issues of tags that are no longer newer than the pin (the
 * series moved past them on the base branch) are closed too.
 * Prints one line per action; exits 1 when a tag has no report (its job
 * failed before writing one), after doing the rest.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { reports: { type: 'string' }, tags: { type: 'string' }, base: { type: 'string', default: 'main' } } });
if (!args.reports || args.tags === undefined) {
  process.stderr.write('usage: open-or-update.mjs --reports DIR --tags JSON-ARRAY [--base BRANCH]\n');
  process.exit(2);
}
const tags = JSON.parse(args.tags);

const branchOf = (tag) => `mlmd-remote/upstream-${tag}`;
const prTitle = (tag) => `Move to upstream ${tag}`;
const issueTitle = (tag) => `Upstream ${tag} needs attention`;
const ISSUE_TITLE = /^Upstream (\S+) needs attention$/;

function gh(...argv) {
  return execFileSync('gh', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** The open nightly issues: by title, or by the marker the report starts with (a renamed issue is still ours). */
function openIssues() {
  const all = JSON.parse(gh('issue', 'list', '--state', 'open', '--limit', '500', '--json', 'number,title,body'));
  return all
    .map((i) => ({ ...i, tag: ISSUE_TITLE.exec(i.title)?.[1] ?? /<!-- mlmd-remote nightly (\S+) -->/.exec(i.body ?? '')?.[1] ?? null }))
    .filter((i) => i.tag !== null);
}

function openPullRequest(tag) {
  const prs = JSON.parse(gh('pr', 'list', '--head', branchOf(tag), '--state', 'open', '--json', 'number,url'));
  return prs[0] ?? null;
}

const say = (line) => process.stdout.write(`${line}\n`);
let issues = openIssues();
let missing = 0;

for (const tag of tags) {
  const dir = path.join(args.reports, `report-${tag}`);
  const pr = path.join(dir, 'pr.md');
  const issue = path.join(dir, 'issue.md');
  if (fs.existsSync(pr)) {
    const existing = openPullRequest(tag);
    let ref;
    if (existing) {
      gh('pr', 'edit', String(existing.number), '--title', prTitle(tag), '--body-file', pr);
      ref = existing.url;
      say(`${tag}: updated pull request #${existing.number}`);
    } else {
      ref = gh('pr', 'create', '--head', branchOf(tag), '--base', args.base, '--title', prTitle(tag), '--body-file', pr);
      say(`${tag}: opened pull request ${ref}`);
    }
    for (const i of issues.filter((x) => x.tag === tag)) {
      gh('issue', 'close', String(i.number), '--comment', `The nightly moved the series to ${tag} cleanly: ${ref}`);
      say(`${tag}: closed issue #${i.number}`);
    }
    issues = issues.filter((x) => x.tag !== tag);
  } else if (fs.existsSync(issue)) {
    const [existing, ...duplicates] = issues.filter((x) => x.tag === tag);
    if (existing) {
      gh('issue', 'edit', String(existing.number), '--title', issueTitle(tag), '--body-file', issue);
      say(`${tag}: updated issue #${existing.number}`);
    } else {
      say(`${tag}: opened issue ${gh('issue', 'create', '--title', issueTitle(tag), '--body-file', issue)}`);
    }
    if (duplicates.length) say(`${tag}: also open for this tag: ${duplicates.map((d) => `#${d.number}`).join(', ')} (left as they are)`);
  } else {
    process.stderr.write(`::warning::${tag}: no pr.md or issue.md in ${dir} (its nightly job failed before writing one; see its log)\n`);
    missing++;
  }
}

// Tags the nightly no longer tries: the pin on the base branch is at or past them.
for (const i of issues.filter((x) => !tags.includes(x.tag))) {
  gh('issue', 'close', String(i.number), '--comment', `${i.tag} is no longer newer than the pin on ${args.base}: the series has moved past it.`);
  say(`${i.tag}: closed issue #${i.number} (no longer newer than the pin)`);
}

process.exit(missing ? 1 : 0);
