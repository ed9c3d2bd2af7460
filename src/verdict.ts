/**
 * A skip is not a pass: every part of a verdict that did not run is named,
 * and fails the verdict unless the caller allowed that kind of skip by name.
 */

/** The parts of verify that can skip. */
export const SKIP_KINDS = ['behaviour-tests', 'upstream-tests', 'platforms', 'co-install'] as const;
export type SkipKind = (typeof SKIP_KINDS)[number];

export interface Skip {
  what: SkipKind;
  reason: string;
  allowed: boolean;
}

/** Collects skips as they happen; `ok` is false while any of them is not allowed. */
export function skipRecorder(allow: readonly SkipKind[] = [], warn: (line: string) => void = () => undefined) {
  const skipped: Skip[] = [];
  return {
    skipped,
    skip(what: SkipKind, reason: string): void {
      const allowed = allow.includes(what);
      skipped.push({ what, reason, allowed });
      warn(`SKIPPED ${what}${allowed ? ' (allowed)' : ''}: ${reason}`);
    },
    get ok(): boolean {
      return skipped.every((s) => s.allowed);
    },
  };
}
