/**
 * What each command returns: the objects printed with --json and read by the
 * renderers. Types only, so that commands and renderers both depend on this
 * module and never on each other.
 */
import type { ToolchainKind } from './config.js';
import type { Backend } from './databases.js';
import type { PlatformRun } from './platform.js';
import type { ConflictFile, RebasePatch, RebaseState } from './rebase.js';
import type { ApplyResult, PatchApplyReport } from './apply-series.js';
import type { ServerHandle } from './server-handle.js';
import type { UpstreamTestsResult } from './upstream-tests.js';
import type { Skip, SkipKind } from './verdict.js';
import type { SuiteResult } from './behaviour-suite.js';
import type { CoInstallResult } from './co-install.js';
import type { Check } from './static-checks.js';
import type { WheelFile } from './wheel.js';

// apply
export interface ApplyCommandResult extends ApplyResult {
  schemaVersion: 1;
  mode: 'check' | 'apply';
  tag: string;
  /** What upstream/ held before (apply only). */
  before?: string;
  savedTo?: string | null;
  changed: boolean;
}


// build
export interface StepTiming {
  step: string;
  ms: number;
}

export interface BuildResult {
  schemaVersion: 1;
  wheel: WheelFile;
  /** SHA256SUMS and the provenance statement written beside the wheel. */
  attestations: { sha256sums: string; provenance: string };
  /** With --reproducible-check: the sha256 of each of the two builds. */
  reproducible?: { first: string; second: string };
  profile: string;
  distName: string;
  version: string;
  upstream: { tag: string; commit: string; sourceDateEpoch: number };
  patches: Array<Pick<PatchApplyReport, 'name' | 'path' | 'subject' | 'sha256' | 'status'>>;
  toolchain: {
    kind: ToolchainKind;
    protoc: string;
    grpcPythonPlugin: string;
    bazel: string;
    bazelMode: 'bazelisk' | 'local';
    python: string;
    buildBackend: Record<string, string>;
  };
  notes: string[];
  timings: StepTiming[];
}


// check
export interface CheckResult {
  schemaVersion: 1;
  ok: boolean;
  tag: string;
  commit: string;
  apply: PatchApplyReport[];
  /** What export would do to the committed patch files (null when the series does not apply). */
  export: ExportResult | null;
  problems: string[];
}


// edit
export interface EditResult {
  schemaVersion: 1;
  status: 'done' | 'stopped';
  branch: string;
  base: { tag: string; commit: string };
  commits: Array<{ commit: string; patch: string; subject: string }>;
  savedTo: string | null;
  /** When a patch does not apply to the pin: the git am session is left open at it. */
  stopped?: { patch: string; files: ConflictFile[]; message: string };
  /** What to do next, when stopped. */
  next?: string;
}


// export
export interface ExportResult {
  schemaVersion: 1;
  written: boolean;
  changesNothing: boolean;
  base: string;
  head: string;
  patches: Array<{ name: string; path: string; subject: string; action: string; commit: string }>;
  removed: string[];
  seriesChanged: boolean;
}


// nightly
export type StepStatus = 'ok' | 'failed' | 'stopped' | 'skipped';

export interface NightlyStep {
  step: 'rebase' | 'build' | 'verify' | 'push';
  status: StepStatus;
  ms: number;
  detail: string;
}

export interface NightlyTag {
  tag: string;
  commit: string;
  outcome: 'fine' | 'needs-attention' | 'not-tried';
  steps: NightlyStep[];
  rebase: RebaseResult | null;
  wheel: { name: string; sha256: string } | null;
  /** With --push: the branch, and what the push did (null when nothing was pushed). */
  push?: NightlyPush | null;
  /** With --push: pr.md for a pushed branch, issue.md for a tag that needs a human. */
  report?: { kind: 'pull-request' | 'issue'; path: string } | null;
}

export interface NightlyPush {
  remote: string;
  branch: string;
  commit: string;
  /** The commit of this repository the branch starts from, and its branch name. */
  base: { ref: string; commit: string };
  action: 'created' | 'updated' | 'unchanged';
}

/** What a reviewer must look at in a nightly branch. */
export interface NightlyAttention {
  dropped: Array<{ name: string; proof: string }>;
  threeWay: string[];
  /** Requirement lines of upstream's setup.py that changed between the two tags (+/- lines). */
  dependencyChanges: string[];
}

export interface NightlyResult {
  schemaVersion: 1;
  status: 'up-to-date' | 'new-tags' | 'new-tag-fine' | 'new-tag-needs-attention';
  pin: { tag: string; commit: string };
  url: string;
  checkedAt: string;
  tags: NightlyTag[];
  outDir: string;
}


// rebase
export interface RebaseResult {
  schemaVersion: 1;
  status: 'done' | 'stopped' | 'aborted';
  from: RebaseState['from'];
  to: RebaseState['to'];
  branch: string;
  patches: RebasePatch[];
  durationMs: number;
  export: ExportResult | null;
  /** What to do next, when stopped. */
  next?: string;
}


// release
export interface ReleaseResult {
  schemaVersion: 1;
  uploaded: boolean;
  dryRun: boolean;
  target: string;
  distName: string;
  version: string;
  /** The post-release number a re-spin got (from what the index already had). */
  postRelease: number | null;
  existingVersions: string[];
  wheel: { path: string; name: string; sha256: string };
  verified: { sha256: string; passed: number; server: string; /** What verify did not prove, accepted with --accept-incomplete. */ incomplete: string[] };
  notes: string;
  changelog: string | null;
}


// server
export interface ServerState {
  schemaVersion: 1;
  pid: number;
  host: string;
  port: number;
  dataDir: string;
  logFile: string;
  mlmdVersion: string;
  /** Why it serves another release than the pinned upstream one. */
  note?: string;
  startedAt: string;
  /** The throw-away MySQL/PostgreSQL server it stores into (server start --backend). */
  database?: { backend: 'mysql' | 'postgresql'; version: string; pid: number; port: number; dir: string };
}

export interface ServerStatus {
  schemaVersion: 1;
  running: boolean;
  answering: boolean;
  state: ServerState | null;
}


// sync
export interface SyncResult {
  schemaVersion: 1;
  tag: string;
  commit: string;
  url: string;
  action: 'cloned' | 'checked-out' | 'reset' | 'unchanged';
  before: string;
  /** Where work was saved before a forced sync, if any. */
  savedTo: string | null;
}


// verify
export type ServerMode = 'reference' | 'container' | 'none';

export interface VerifyResult {
  schemaVersion: 1;
  ok: boolean;
  wheel: { path: string; name: string; sha256: string };
  static: Check[];
  live: null | {
    server: {
      kind: ServerHandle['kind'];
      description: string;
      mlmdVersion?: string;
      note?: string;
      address: string;
      /** Where it stored (reference servers verify started; absent in reports from before backends). */
      backend?: Backend;
      /** The throw-away MySQL/PostgreSQL server, when not SQLite. */
      database?: { version: string; startupMs: number };
    };
    /** Why the slow and TLS servers run another release than the one asked for. */
    helperNote?: string;
    python: string;
    suite: SuiteResult;
    /** Upstream's own tests at the wheel's commit; null when they could not run (see skipped). */
    upstreamTests: UpstreamTestsResult | null;
  };
  /** The official wheel of the same release installed next to this one (with a live verify). */
  coInstall?: CoInstallResult;
  /** With --platform: one run per platform (a skipped platform says why). */
  platforms?: PlatformRun[];
  /** With --platform: the server on this host the platforms talked to. */
  platformServer?: { description: string; mlmdVersion?: string; note?: string };
  /** Everything that did not run, and whether the caller allowed it. */
  skipped: Skip[];
  allowedSkips: SkipKind[];
  timings: StepTiming[];
}

export interface MatrixRowResult {
  name: string;
  pins: Record<string, string>;
  installed: SuiteResult['installed'];
  passed: number;
  failed: number;
  skipped: number;
  total: number;
  ok: boolean;
  durationMs: number;
  failures: SuiteResult['failures'];
}

export interface MatrixResult {
  schemaVersion: 1;
  ok: boolean;
  wheel: { name: string; sha256: string };
  server: string;
  /** Where the server stores (sqlite unless verify --matrix --backend), and the database's version. */
  backend: 'sqlite' | 'mysql' | 'postgresql';
  database?: string;
  python: string;
  rows: MatrixRowResult[];
  /** Where the declared ranges and the tested ones disagree (must be empty). */
  drift: string[];
}
