import type { Project } from '../config.js';
import { MlmdError } from '../errors.js';
import { checkPinnedTag, readPin, redactUrl, upstreamUrl } from '../pin.js';
import { checkoutTree, describeState, hasCheckout, hasCommit, claimCheckout } from '../upstream.js';
import type { Deps } from './deps.js';
import { upstreamState } from '../checkout.js';
import { beginIntent, recoverInterrupted } from '../interrupted.js';
import type { SyncResult } from '../results.js';
import { defineCommand, FORCE_OPTION, UPSTREAM_URL_OPTION } from '../command.js';
import { renderSync } from '../render/series.js';

export interface SyncOptions {
  project: Project;
  url?: string;
  force?: boolean;
}

/** Brings upstream/ to the pinned commit, after checking that the tag still names it. */
export async function sync(opts: SyncOptions, deps: Deps): Promise<SyncResult> {
  const { project } = opts;
  const { git, log } = deps;
  const pin = await readPin(project, git);
  const url = upstreamUrl(project, opts.url);
  const dir = project.upstreamDir;

  await checkPinnedTag(project, deps, pin, opts.url);

  await recoverInterrupted(project, deps, { pin: pin.commit, force: opts.force });
  const state = await upstreamState(project, deps, pin.commit);
  const savedTo = await claimCheckout(git, dir, state, 'sync', opts.force, log.warn);

  const step = log.step(`Bring upstream/ to ${pin.tag} (${pin.commit.slice(0, 12)})`);
  let action: SyncResult['action'];
  if (!hasCheckout(dir)) {
    const done = await beginIntent(project, git, { command: 'sync', targets: [] });
    await git.remote(project.root, ['-c', `submodule.upstream.url=${url}`, 'submodule', 'update', '--init', '--checkout', '--', 'upstream'], {
      onLine: (l) => step.progress(l),
      timeoutMs: 30 * 60_000,
    });
    done();
    action = 'cloned';
  } else {
    if (!(await hasCommit(git, dir, pin.commit))) {
      await git.remote(dir, ['fetch', '--no-tags', url, `+refs/tags/${pin.tag}:refs/tags/${pin.tag}`], { onLine: (l) => step.progress(l) });
    }
    action = state.kind === 'pristine' ? 'unchanged' : state.kind === 'applied' ? 'reset' : 'checked-out';
  }
  if (!(await hasCommit(git, dir, pin.commit))) {
    throw new MlmdError(`${redactUrl(url)} does not have the pinned commit ${pin.commit}`, { hint: 'the mirror may be incomplete; fetch the tag into it, or use another --upstream-url' });
  }
  if (action !== 'unchanged') {
    const pinTree = (await git(dir, ['rev-parse', `${pin.commit}^{tree}`])).stdout.trim();
    const done = await beginIntent(project, git, { command: 'sync', targets: [pinTree] });
    await checkoutTree(git, dir, pin.commit, pinTree);
    done();
  }
  step.done(action);
  return { schemaVersion: 1, tag: pin.tag, commit: pin.commit, url: redactUrl(url), action, before: describeState(state), savedTo };
}

export const definition = defineCommand({
  command: 'sync',
  describe: 'Bring upstream/ to the pinned commit (checking that the tag still names it)',
  readsUpstream: true,
  options: (y) =>
    y
      .option('upstream-url', UPSTREAM_URL_OPTION)
      .option('force', FORCE_OPTION)
      .example('$0 sync', 'check out the pin')
      .example('$0 sync --upstream-url https://mirror.example/ml-metadata.git', 'use a mirror'),
  run: (a, project, deps) => sync({ project, url: a.upstreamUrl, force: a.force }, deps),
  render: renderSync,
});
