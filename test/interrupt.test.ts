/**
 * Ctrl-C at any moment, on fixture projects: for each long command, one run
 * per line it prints on stderr, interrupted right after that line (SIGINT to
 * its process group, as a terminal sends it), and then the next command must
 * recover exactly or print a working instruction (see
 * test/helpers/interrupt.ts). A second sweep runs the command with --verbose
 * and interrupts it half-way through each git command that changes
 * something, so that the signal lands inside git (a checkout, an am).
 * The line sweep is capped at 10 points per command (only rebase prints more
 * lines than that), the git sweep at 6 git commands, spread over the run;
 * the loop takes about four minutes and prints its size.
 * The commands that need real upstream (rebase v1.15.0, build, verify,
 * release --dry-run) are in test/e2e-interrupt.test.ts.
 */
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Deps } from '../src/commands/deps.ts';
import { apply } from '../src/commands/apply.ts';
import { edit } from '../src/commands/edit.ts';
import { rebaseStart } from '../src/commands/rebase.ts';
import { loadProject } from '../src/config.ts';
import { hermeticGit } from '../src/git.ts';
import { recordingLogger } from '../src/log.ts';
import { cleanupFixtures, git, runner, tempDir, writeTree } from './helpers/fixtures.ts';
import { addUserWork, describeLoop, interruptLoop, type LoopReport, type Scenario } from './helpers/interrupt.ts';
import { joinLines, makeMaintainerProject, makeMaintainerUpstream, patchedStore, STORE_PATH, storeLines, UPSTREAM_1_5_LINE_31, type MaintainerUpstream } from './helpers/maintainer-fixtures.ts';

after(cleanupFixtures);

const deps = (): Deps => ({ runner, git: hermeticGit(runner, []), log: recordingLogger() });

let up: MaintainerUpstream;
before(async () => {
  up = await makeMaintainerUpstream();
});

async function project(prepare?: (root: string) => Promise<void>): Promise<string> {
  const fx = await makeMaintainerProject(up);
  await prepare?.(fx.root);
  await addUserWork(fx.root);
  return fx.root;
}

const reports: LoopReport[] = [];

describe('interrupt loop (fixture projects)', { timeout: 15 * 60_000 }, () => {
  after(() => {
    process.stdout.write(`${describeLoop(reports)}\n`);
  });

  const scenarios: Scenario[] = [
    {
      name: 'sync (a fresh clone)',
      args: ['sync'],
      cap: 10,
      verbose: true,
      setup: async () => {
        const fx = await makeMaintainerProject(up);
        const fresh = path.join(tempDir('fresh'), 'checkout');
        await git(path.dirname(fresh), ['clone', '--quiet', fx.root, fresh]);
        await addUserWork(fresh);
        return fresh;
      },
    },
    { name: 'sync (upstream/ applied)', args: ['sync'], cap: 10, verbose: true, setup: () => project(async (root) => void (await apply({ project: loadFx(root) }, deps()))) },
    { name: 'apply', args: ['apply'], cap: 10, verbose: true, setup: () => project() },
    { name: 'edit', args: ['edit'], cap: 10, verbose: true, setup: () => project() },
    {
      name: 'export',
      args: ['export'],
      cap: 10,
      verbose: true,
      setup: () =>
        project(async (root) => {
          await edit({ project: loadFx(root) }, deps());
          writeTree(path.join(root, 'upstream'), { 'setup.py': 'from setuptools import setup\n\nsetup(name="ml-metadata-remote", zip_safe=True)\n' });
          await git(path.join(root, 'upstream'), ['commit', '--quiet', '--all', '--amend', '--no-edit']);
        }),
    },
    { name: 'rebase v1.7.0 (stops at a conflict)', args: ['rebase', 'v1.7.0'], cap: 10, verbose: true, setup: () => project() },
    { name: 'rebase v1.1.0 (clean, finishes)', args: ['rebase', 'v1.1.0'], cap: 10, verbose: true, setup: () => project() },
    {
      name: 'rebase --continue',
      args: ['rebase', '--continue'],
      cap: 10,
      verbose: true,
      setup: () =>
        project(async (root) => {
          await rebaseStart({ project: loadFx(root), tag: 'v1.5.0' }, deps());
          const v15 = storeLines();
          v15[30] = UPSTREAM_1_5_LINE_31;
          writeTree(path.join(root, 'upstream'), { [STORE_PATH]: joinLines(patchedStore(v15)) });
          await git(path.join(root, 'upstream'), ['add', STORE_PATH]);
        }),
    },
    { name: 'rebase --abort', args: ['rebase', '--abort'], cap: 10, verbose: true, setup: () => project(async (root) => void (await rebaseStart({ project: loadFx(root), tag: 'v1.7.0' }, deps()))) },
  ];

  for (const s of scenarios) {
    it(`${s.name}: recovered at every interrupt point`, { timeout: 5 * 60_000 }, async (t) => {
      const report = await interruptLoop(s);
      reports.push(report);
      t.diagnostic(describeLoop([report]));
    });
  }
});

function loadFx(root: string) {
  return loadProject(root, { exact: true });
}
