/** Applying the series to an upstream commit, in a temporary index. */
import type { Git } from './git.js';
import { unquoteGitPath } from './git-diff.js';
import { withTempIndex } from './gitindex.js';
import { symlinkPrefix } from './patch-paths.js';
import type { Patch } from './patchfile.js';

export type PatchStatus = 'clean' | 'offset' | 'failed' | 'skipped';

export interface HunkOffset {
  file: string;
  hunk: number;
  offset: number;
}

export interface PatchApplyReport {
  name: string;
  /** Where it is in the project (SeriesEntry.path). */
  path: string;
  subject: string;
  sha256: string;
  status: PatchStatus;
  offsets: HunkOffset[];
  failure?: { file?: string; hunk?: number; line?: number; message: string };
}

export interface ApplyResult {
  ok: boolean;
  baseCommit: string;
  /** The tree with every patch applied (only when ok). */
  tree?: string;
  /** With `steps`: the tree after each patch that applied, in order. */
  steps?: string[];
  patches: PatchApplyReport[];
}

/** Reads git apply --verbose output into offsets and the failure, if any. */
export function readApplyOutput(patch: Patch, output: string): { offsets: HunkOffset[]; failure?: PatchApplyReport['failure'] } {
  const offsets: HunkOffset[] = [];
  let currentFile: string | undefined;
  let failure: PatchApplyReport['failure'];
  for (const line of output.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^Checking patch (.*)\.\.\.$/.exec(line))) {
      const names = m[1]!.split(' => ');
      currentFile = unquoteGitPath(names[names.length - 1]!);
    } else if ((m = /^Hunk #(\d+) succeeded at (\d+) \(offset (-?\d+) lines?\)\.$/.exec(line))) {
      offsets.push({ file: currentFile ?? '?', hunk: +m[1]!, offset: +m[3]! });
    } else if ((m = /^error: patch failed: (.*):(\d+)$/.exec(line))) {
      const file = unquoteGitPath(m[1]!);
      const lineNo = +m[2]!;
      const change = patch.files.find((f) => (f.oldPath ?? f.newPath) === file);
      const idx = change ? change.hunks.findIndex((h) => h.oldStart === lineNo) : -1;
      failure = { file, line: lineNo, hunk: idx >= 0 ? idx + 1 : undefined, message: `hunk${idx >= 0 ? ` #${idx + 1}` : ''} at line ${lineNo} of ${file} does not match upstream` };
    } else if ((m = /^error: (.*)$/.exec(line)) && !failure) {
      const text = m[1]!;
      const fm = /^(.*?): (does not exist in index|already exists in index|patch does not apply|No such file or directory|does not match index|wrong type|has type \d+, expected \d+)/.exec(text);
      failure = { file: fm ? unquoteGitPath(fm[1]!) : currentFile, message: text };
    }
  }
  return { offsets, failure };
}

/**
 * Applies the series to `baseCommit` in a temporary index: nothing in the work
 * tree or the real index changes. Stops at the first patch that fails.
 */
export async function applySeries(opts: {
  git: Git;
  repoDir: string;
  baseCommit: string;
  patches: readonly Patch[];
  onPatch?: (report: PatchApplyReport) => void;
  /** Also return the tree after each patch. */
  steps?: boolean;
}): Promise<ApplyResult> {
  const { git, repoDir, baseCommit, patches } = opts;
  return withTempIndex(git, repoDir, baseCommit, async (indexGit) => {
    const symlinks = new Set(
      (await indexGit(['ls-files', '-s'])).stdout
        .split('\n')
        .filter((l) => l.startsWith('120000 '))
        .map((l) => l.slice(l.indexOf('\t') + 1)),
    );
    const reports: PatchApplyReport[] = [];
    const steps: string[] | undefined = opts.steps ? [] : undefined;
    let failed = false;
    for (const patch of patches) {
      const base = { name: patch.name, path: patch.path, subject: patch.header.subject, sha256: patch.sha256, offsets: [] as HunkOffset[] };
      if (failed) {
        reports.push({ ...base, status: 'skipped' });
        continue;
      }
      const viaLink = patch.files
        .flatMap((f) => [f.oldPath, f.newPath])
        .filter((p): p is string => p !== null)
        .map((p) => [p, symlinkPrefix(p, symlinks)] as const)
        .find(([, link]) => link !== null);
      if (viaLink) {
        failed = true;
        const report: PatchApplyReport = { ...base, status: 'failed', failure: { file: viaLink[0], message: `refusing to write ${viaLink[0]} through the symbolic link ${viaLink[1]}, which may point outside the tree` } };
        reports.push(report);
        opts.onPatch?.(report);
        continue;
      }
      const res = await indexGit(['apply', '--cached', '--verbose', '--whitespace=nowarn', patch.file], { allowFailure: true });
      const { offsets, failure } = readApplyOutput(patch, `${res.stdout}\n${res.stderr}`);
      const report: PatchApplyReport = res.ok
        ? { ...base, status: offsets.length ? 'offset' : 'clean', offsets }
        : { ...base, status: 'failed', offsets, failure: failure ?? { message: res.stderr.trim() || `git apply exited with ${res.exitCode}` } };
      if (!res.ok) failed = true;
      else if (steps) steps.push((await indexGit(['write-tree'])).stdout.trim());
      for (const f of patch.files) {
        if (f.newPath && f.newMode === '120000') symlinks.add(f.newPath);
        if (f.oldPath && f.kind !== 'modify' && f.kind !== 'copy') symlinks.delete(f.oldPath);
      }
      reports.push(report);
      opts.onPatch?.(report);
    }
    const tree = failed ? undefined : (await indexGit(['write-tree'])).stdout.trim();
    return { ok: !failed, baseCommit, tree, ...(steps ? { steps } : {}), patches: reports };
  });
}
