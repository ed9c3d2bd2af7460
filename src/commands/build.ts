import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { Project, ToolchainKind } from '../config.js';
import { BuildError, MlmdError, PatchError, UsageError } from '../errors.js';
import { readJsonFile, readJsonFileIfValid, SCHEMA_VERSION, versioned } from '../json-file.js';
import { z } from 'zod';
import { repositoryOverrides, resolveBazel, runBazel } from '../bazel.js';
import { ensureVenv, findPython, packageVersion, readRequirements, venvFact, venvPython } from '../python.js';
import { applySeries, type PatchApplyReport } from '../apply-series.js';
import { readSeries } from '../series.js';
import { stageTree } from '../stage.js';
import { prepareToolchain } from '../toolchain.js';
import { checkPinnedTagIfGiven, readPin } from '../pin.js';
import { hasCheckout, hasCommit } from '../upstream.js';
import { buildWheel, profileVersion, publishAtomically, readUpstreamVersion, removePartialWheels, sha256File, type WheelFile } from '../wheel.js';
import { checkDistDir, updateSha256Sums, writeProvenance } from '../provenance.js';
import type { Deps } from './deps.js';
import { sync } from './sync.js';
import type { BuildResult, StepTiming } from '../results.js';
import { defineCommand, UPSTREAM_URL_CHECK_OPTION } from '../command.js';
import { parseToolchainKind } from '../toolchain.js';
import { renderBuild } from '../render/wheel.js';

export interface BuildOptions {
  project: Project;
  profile?: string;
  toolchain?: ToolchainKind;
  python?: string;
  /** Absolute path of a local bazel, skipping bazelisk. */
  bazel?: string;
  /** A user .bazelrc to read (e.g. a shared --remote_cache). */
  bazelrc?: string;
  /** Extra bazel build options, passed through. */
  bazelOptions?: string[];
  upstreamUrl?: string;
  distDir?: string;
  /** Where the source is staged and built; a fixed path keeps bazel's cache warm. */
  workDir?: string;
  postRelease?: number;
  /** Build twice in separate scratch trees and fail unless the wheels are identical. */
  reproducibleCheck?: boolean;
}

export const GENERATE_TARGET = '//ml_metadata:move_generated_files';

/** pin + series -> wheel in dist/, with SHA256SUMS and provenance beside it. */
export async function build(opts: BuildOptions, deps: Deps): Promise<BuildResult> {
  const startedOn = new Date().toISOString();
  const distDir = opts.distDir ?? opts.project.distDir;
  checkDistDir(distDir);
  let result: Omit<BuildResult, 'attestations'>;
  let reproducible: BuildResult['reproducible'];
  if (opts.reproducibleCheck) {
    const scratch = fs.mkdtempSync(path.join(opts.project.cacheDir, 'repro-'));
    try {
      const a = await buildOnce({ ...opts, workDir: path.join(scratch, 'a'), distDir: path.join(scratch, 'dist-a') }, deps);
      const b = await buildOnce({ ...opts, workDir: path.join(scratch, 'b'), distDir: path.join(scratch, 'dist-b') }, deps);
      reproducible = { first: a.wheel.sha256, second: b.wheel.sha256 };
      if (a.wheel.sha256 !== b.wheel.sha256) {
        throw new BuildError(`the build is not reproducible: two builds in separate scratch trees gave ${a.wheel.sha256} and ${b.wheel.sha256}`, { hint: `compare them with mlmd-remote diff-wheel ${a.wheel.path} ${b.wheel.path} (kept in ${scratch})` });
      }
      const wheel = { ...a.wheel, path: publishAtomically(a.wheel.path, distDir, a.wheel.name) };
      result = { ...a, wheel, timings: [...a.timings.map((t) => ({ ...t, step: `${t.step} (1)` })), ...b.timings.map((t) => ({ ...t, step: `${t.step} (2)` }))] };
      fs.rmSync(scratch, { recursive: true, force: true });
    } catch (err) {
      if (!(err instanceof BuildError && /not reproducible/.test(err.message))) fs.rmSync(scratch, { recursive: true, force: true });
      throw err;
    }
  } else {
    result = await buildOnce(opts, deps);
  }
  const sha256sums = updateSha256Sums(distDir, result.wheel.name, result.wheel.sha256);
  const provenance = writeProvenance(distDir, {
    wheel: result.wheel,
    upstream: { url: opts.project.config.upstream.url, tag: result.upstream.tag, commit: result.upstream.commit },
    patches: result.patches,
    profile: result.profile,
    toolchain: result.toolchain,
    builderVersion: builderVersion(opts.project),
    startedOn,
    finishedOn: new Date().toISOString(),
  });
  return { ...result, attestations: { sha256sums, provenance }, ...(reproducible ? { reproducible } : {}) };
}

/** What the provenance needs of package.json. */
const PackageJsonSchema = z.looseObject({ version: z.string() });

/** This mlmd-remote's version (package.json), which the provenance names as the builder. */
export function builderVersion(project: Project): string {
  const file = path.join(project.root, 'package.json');
  return readJsonFile(file, PackageJsonSchema, file, (m) => new MlmdError(m, { hint: 'restore it (git checkout -- package.json), then build again, which reuses the wheel' })).version;
}

async function buildOnce(opts: BuildOptions, deps: Deps): Promise<Omit<BuildResult, 'attestations'>> {
  const { project } = opts;
  const { git, log, runner } = deps;
  const timings: StepTiming[] = [];
  const notes: string[] = [];
  const profileName = opts.profile ?? 'default';
  const profile = project.config.profiles[profileName];
  if (!profile) throw new UsageError(`unknown build profile "${profileName}"`, `choose one of: ${Object.keys(project.config.profiles).join(', ')}`);
  const distDir = opts.distDir ?? project.distDir;
  const workDir = opts.workDir ?? path.join(project.cacheDir, 'work');
  const stale = removePartialWheels(distDir);
  if (stale.length) notes.push(`removed ${stale.length} partial wheel(s) left by an interrupted build`);

  // 1. The pin, and the upstream objects it names.
  let step = log.step('Check the upstream pin');
  const pin = await readPin(project, git);
  if (!hasCheckout(project.upstreamDir) || !(await hasCommit(git, project.upstreamDir, pin.commit))) {
    step.progress('upstream/ is not checked out; syncing it first');
    await sync({ project, url: opts.upstreamUrl }, deps);
  } else {
    await checkPinnedTagIfGiven(project, deps, pin, opts.upstreamUrl);
  }
  // The commit id is a hash of its content: having the object is having the pinned source.
  const sourceDateEpoch = +(await git(project.upstreamDir, ['show', '-s', '--format=%ct', pin.commit])).stdout.trim();
  timings.push({ step: 'pin', ms: step.done(`${pin.tag} = ${pin.commit.slice(0, 12)}`) });

  // 2. The series, applied in a scratch index.
  const series = readSeries(project);
  step = log.step(`Apply ${series.patches.length} patches`);
  const applied = await applySeries({ git, repoDir: project.upstreamDir, baseCommit: pin.commit, patches: series.patches });
  if (!applied.ok) {
    step.fail();
    const bad = applied.patches.find((p) => p.status === 'failed')!;
    throw new PatchError(`${bad.name} does not apply to ${pin.tag}: ${bad.failure?.message ?? 'unknown reason'}`, 'see mlmd-remote apply --check for the per-patch report', applied);
  }
  timings.push({ step: 'apply', ms: step.done(`tree ${applied.tree!.slice(0, 12)}`) });

  // 3. Stage the patched source outside upstream/.
  step = log.step('Stage the patched source');
  const sourceDir = path.join(workDir, 'src');
  await stageTree(deps, project.upstreamDir, applied.tree!, sourceDir, workDir);
  const upstreamVersion = readUpstreamVersion(sourceDir);
  const version = profileVersion(upstreamVersion, profile, opts.postRelease);
  timings.push({ step: 'stage', ms: step.done(sourceDir) });

  // 4. Toolchains.
  step = log.step('Prepare the toolchain');
  const python = await findPython(runner, opts.python);
  const toolchain = await prepareToolchain({ project, kind: opts.toolchain ?? project.config.toolchain.default, python, runner, log });
  const bazel = await resolveBazel({ project, runner, log, localBazel: opts.bazel });
  if (bazel.note) notes.push(bazel.note);
  const backendRequirements = readRequirements(path.join(project.toolsDir, 'toolchain', 'build-backend.txt'));
  const buildVenv = await ensureVenv({ runner, log, python, cacheDir: project.cacheDir, name: 'build-backend', requirements: backendRequirements });
  timings.push({ step: 'toolchain', ms: step.done(`${toolchain.kind}, bazel ${bazel.version} (${bazel.mode})`) });

  // 5. Bazel generates the Python modules and copies them into the source.
  step = log.step(`bazel run ${GENERATE_TARGET}`);
  await runBazel({
    project,
    runner,
    bazel,
    workspace: sourceDir,
    command: 'run',
    targets: [GENERATE_TARGET],
    overrides: repositoryOverrides(project, bazel, toolchain.repoDir),
    startupOptions: opts.bazelrc ? [`--bazelrc=${path.resolve(opts.bazelrc)}`] : [],
    buildOptions: opts.bazelOptions,
    step,
    logFile: path.join(workDir, 'logs', 'bazel.log'),
  });
  timings.push({ step: 'bazel', ms: step.done() });

  // 6. The wheel, unless the same inputs already made the wheel that is in dist/.
  step = log.step(`Build the wheel (${profile.distName} ${version})`);
  const buildPython = venvPython(buildVenv);
  const inputsKey = wheelInputsKey(sourceDir, { profile, version, sourceDateEpoch, backendRequirements, python: python.version });
  const stampFile = path.join(workDir, 'last-wheel.json');
  let wheel = reuseWheel(stampFile, inputsKey, distDir);
  if (wheel) {
    timings.push({ step: 'wheel', ms: step.done(`${wheel.name} is up to date (same inputs)`) });
  } else {
    wheel = await buildWheel({ project, runner, buildPython, sourceDir, profile, version, sourceDateEpoch, scratchDir: path.join(workDir, 'wheel'), distDir, step });
    const stamp: WheelStamp = { schemaVersion: SCHEMA_VERSION, key: inputsKey, name: wheel.name, sha256: wheel.sha256 };
    writeFileAtomic(stampFile, JSON.stringify(stamp));
    timings.push({ step: 'wheel', ms: step.done(`${wheel.name}, sha256 ${wheel.sha256.slice(0, 16)}…`) });
  }

  const buildBackend: Record<string, string> = {};
  for (const req of backendRequirements) {
    const name = req.split(/[=<>!~ ]/)[0]!;
    buildBackend[name] = await venvFact(buildVenv, name, () => packageVersion(runner, buildPython, name));
  }
  return {
    schemaVersion: 1,
    wheel,
    profile: profileName,
    distName: profile.distName,
    version,
    upstream: { tag: pin.tag, commit: pin.commit, sourceDateEpoch },
    patches: applied.patches.map(({ name, path, subject, sha256, status }) => ({ name, path, subject, sha256, status })),
    toolchain: {
      kind: toolchain.kind,
      protoc: toolchain.protoc,
      grpcPythonPlugin: toolchain.grpcPythonPlugin,
      bazel: bazel.version,
      bazelMode: bazel.mode,
      python: python.version,
      buildBackend,
    },
    notes,
    timings,
  };
}

/** A hash of everything setuptools reads: the staged source (generated files included) and the wheel's settings. */
function wheelInputsKey(sourceDir: string, settings: object): string {
  const hash = crypto.createHash('sha256').update(JSON.stringify(settings));
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const relPath = rel ? `${rel}/${name}` : name;
      if (!rel && (name.startsWith('bazel-') || name === 'build' || name.endsWith('.egg-info'))) continue;
      const full = path.join(dir, name);
      const st = fs.lstatSync(full);
      if (st.isDirectory()) walk(full, relPath);
      else if (st.isFile()) hash.update(`${relPath}\0${st.mode & 0o777}\0`).update(fs.readFileSync(full));
    }
  };
  walk(sourceDir, '');
  return hash.digest('hex');
}

/** last-wheel.json in the work tree: the wheel the last build made and the hash of its inputs. */
const WheelStampSchema = versioned({ key: z.string(), name: z.string().regex(/^[^/]+\.whl$/, 'a wheel file name'), sha256: z.string() });
type WheelStamp = z.infer<typeof WheelStampSchema>;

/**
 * The wheel in dist/ when the last build in this work tree made it from the
 * same inputs and it is unchanged. A missing or damaged stamp, or one of
 * another format version, means build it again.
 */
export function reuseWheel(stampFile: string, key: string, distDir: string): WheelFile | null {
  const stamp = readJsonFileIfValid(stampFile, WheelStampSchema);
  if (!stamp || stamp.key !== key) return null;
  const file = path.join(distDir, stamp.name);
  try {
    if (!fs.existsSync(file) || sha256File(file) !== stamp.sha256) return null;
    return { path: file, name: stamp.name, sha256: stamp.sha256, size: fs.statSync(file).size };
  } catch {
    return null;
  }
}

export const definition = defineCommand({
  command: 'build',
  describe: 'Build the wheel into dist/ (pin + series -> bazel -> setuptools), without touching upstream/',
  readsUpstream: true,
  options: (y) =>
    y
      .option('profile', { type: 'string', default: 'default', describe: 'Build profile from mlmd-remote.json: default (ml-metadata-remote) or drop-in (ml-metadata, +remote.N)' })
      .option('toolchain', { type: 'string', describe: 'Proto toolchain: grpcio-tools (pinned, from PyPI) or system (protoc + grpc_python_plugin on PATH)' })
      .option('python', { type: 'string', describe: 'Python for the build venvs (default: python3; also MLMD_REMOTE_PYTHON)' })
      .option('bazel', { type: 'string', describe: 'Absolute path of a local bazel; skips bazelisk (also MLMD_REMOTE_BAZEL)' })
      .option('bazelrc', { type: 'string', describe: 'An extra .bazelrc to read (e.g. a shared --remote_cache)' })
      .option('bazel-opt', { type: 'string', array: true, default: [] as string[], describe: 'A bazel build option to pass through (repeatable), e.g. --bazel-opt=--remote_cache=grpc://cache:9092' })
      .option('upstream-url', UPSTREAM_URL_CHECK_OPTION)
      .option('dist', { type: 'string', describe: 'Output directory (default: dist/)' })
      .option('work-dir', { type: 'string', describe: 'Scratch tree to stage and build in (default: .cache/work; a fixed path keeps bazel warm)' })
      .option('reproducible-check', { type: 'boolean', default: false, describe: 'Build twice in separate scratch trees; fail unless the two wheels are byte-identical' }),
  run: (a, project, deps) =>
    build(
      {
        project,
        profile: a.profile,
        toolchain: a.toolchain ? parseToolchainKind(a.toolchain) : undefined,
        python: a.python,
        bazel: a.bazel,
        bazelrc: a.bazelrc,
        bazelOptions: a.bazelOpt,
        upstreamUrl: a.upstreamUrl,
        distDir: a.dist,
        workDir: a.workDir,
        reproducibleCheck: a.reproducibleCheck,
      },
      deps,
    ),
  render: renderBuild,
});
