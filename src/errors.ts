/**
 * The few error kinds the tool raises. Each carries what failed and where
 * (`message`) and the next thing to try (`hint`). Only cli.ts turns them into
 * exit codes, so commands stay callable from tests.
 */

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** upstream/ holds work the tool will not touch, or another run holds the lock. */
  refused: 3,
  /** a patch does not apply. */
  patchConflict: 4,
  /** bazel, pip or the toolchain failed. */
  build: 5,
  /** the wheel failed verification. */
  verify: 6,
  /** a supply-chain alarm: a moved tag, a pin that disagrees with itself. */
  supplyChain: 7,
  /** a required program (bazel, python, protoc, git, docker) is missing. */
  missingTool: 8,
  /** nightly: upstream has newer releases and the series moves to each cleanly. */
  newTagFine: 10,
  /** nightly: a newer release needs the maintainer (conflict, build or verify failure). */
  newTagNeedsAttention: 11,
  /** a bug in mlmd-remote: an error it did not expect (the message ends with a stack trace). */
  internal: 70,
  /** stopped by Ctrl-C (SIGINT) or SIGTERM; the next run finds and recovers what it left. */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class MlmdError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;
  readonly details?: unknown;

  constructor(message: string, opts: { exitCode?: ExitCodeValue; hint?: string; cause?: unknown; details?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? ExitCode.failure;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

export class UsageError extends MlmdError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.usage, hint });
  }
}

export class RefusedError extends MlmdError {
  constructor(message: string, hint?: string, details?: unknown) {
    super(message, { exitCode: ExitCode.refused, hint, details });
  }
}

export class PatchError extends MlmdError {
  constructor(message: string, hint?: string, details?: unknown) {
    super(message, { exitCode: ExitCode.patchConflict, hint, details });
  }
}

export class BuildError extends MlmdError {
  readonly logPath?: string;
  constructor(message: string, opts: { hint?: string; logPath?: string; cause?: unknown } = {}) {
    super(message, { exitCode: ExitCode.build, hint: opts.hint, cause: opts.cause });
    this.logPath = opts.logPath;
  }
}

export class VerifyError extends MlmdError {
  constructor(message: string, hint?: string, details?: unknown) {
    super(message, { exitCode: ExitCode.verify, hint, details });
  }
}

export class SupplyChainError extends MlmdError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.supplyChain, hint });
  }
}

export class MissingToolError extends MlmdError {
  constructor(tool: string, hint: string) {
    super(`${tool} was not found`, { exitCode: ExitCode.missingTool, hint });
  }
}
