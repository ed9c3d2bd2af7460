/**
 * What a reviewer of a nightly branch must look at: the patches that left the
 * series (and the proof that upstream has their change), the ones git merged
 * three-way (a merge can be wrong and still apply), and the dependency ranges
 * upstream changed (the setup.py patch widens them, so a change there needs a
 * look even when the patch applied cleanly).
 */
import type { Git } from './git.js';
import type { NightlyAttention, RebaseResult } from './results.js';

/** A requirement string in setup.py: 'name>=1.0,<2' (or == ~= != < >). */
const REQUIREMENT_LINE = /^[+-]\s*['"][A-Za-z0-9_.[\]-]+\s*(==|>=|<=|~=|!=|<|>)/;

/** The requirement lines of setup.py that changed between two upstream commits, as +/- lines. */
export async function dependencyChanges(git: Git, upstreamDir: string, from: string, to: string): Promise<string[]> {
  const res = await git(upstreamDir, ['diff', '--unified=0', from, to, '--', 'setup.py'], { allowFailure: true });
  if (!res.ok) return [`(could not compare setup.py between ${from.slice(0, 12)} and ${to.slice(0, 12)}: ${res.stderr.trim().split('\n').pop()})`];
  return res.stdout.split('\n').filter((l) => REQUIREMENT_LINE.test(l)).map((l) => `${l[0]} ${l.slice(1).trim()}`);
}

export function attentionOf(rebase: RebaseResult, deps: string[]): NightlyAttention {
  return {
    dropped: rebase.patches.filter((p) => p.status === 'already-upstream').map((p) => ({ name: p.name, proof: p.proof ?? 'proven' })),
    threeWay: rebase.patches.filter((p) => p.status === 'three-way').map((p) => p.name),
    dependencyChanges: deps,
  };
}
