/**
 * The proto toolchain: protoc and the gRPC Python plugin that bazel runs to
 * generate the Python modules. Two kinds, recorded with their versions:
 *   grpcio-tools  pinned grpcio-tools from PyPI, in a venv of the tool's own
 *   system        protoc and grpc_python_plugin from the system (Debian's
 *                 protobuf-compiler and protobuf-compiler-grpc)
 * Both are exposed to bazel as the repository @com_google_protobuf (see
 * tools/bazel/proto_toolchain), with a `protoc` wrapper for the chosen kind.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Project, ToolchainKind } from './config.js';
import { MissingToolError, UsageError } from './errors.js';
import type { Runner } from './exec.js';
import type { Logger } from './log.js';
import { ensureVenv, packageVersion, readRequirements, venvFact, venvPython, type PythonInfo } from './python.js';

export interface ProtoToolchain {
  kind: ToolchainKind;
  /** Directory to pass as --override_repository=com_google_protobuf=<dir>. */
  repoDir: string;
  protoc: string;
  grpcPythonPlugin: string;
}

export const TOOLCHAIN_KINDS: readonly ToolchainKind[] = ['grpcio-tools', 'system'];

export function parseToolchainKind(value: string): ToolchainKind {
  if ((TOOLCHAIN_KINDS as readonly string[]).includes(value)) return value as ToolchainKind;
  throw new UsageError(`unknown toolchain "${value}"`, `choose one of: ${TOOLCHAIN_KINDS.join(', ')}`);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Writes a file only when its content changes, so bazel's cache stays warm. */
function writeIfChanged(file: string, content: string, mode = 0o644): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) return;
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
}

function materializeRepo(project: Project, kind: ToolchainKind, protocWrapper: string): string {
  const dir = path.join(project.cacheDir, 'bazel-repos', `proto_toolchain-${kind}`);
  fs.mkdirSync(dir, { recursive: true });
  const src = path.join(project.toolsDir, 'bazel', 'proto_toolchain');
  for (const name of fs.readdirSync(src)) writeIfChanged(path.join(dir, name), fs.readFileSync(path.join(src, name), 'utf8'));
  writeIfChanged(path.join(dir, 'protoc'), protocWrapper, 0o755);
  return dir;
}

async function which(runner: Runner, name: string): Promise<string | null> {
  const res = await runner('sh', ['-c', 'command -v "$1"', 'sh', name], { allowFailure: true });
  return res.ok ? res.stdout.trim() : null;
}

export async function prepareToolchain(opts: { project: Project; kind: ToolchainKind; python: PythonInfo; runner: Runner; log: Logger }): Promise<ProtoToolchain> {
  const { project, kind, runner } = opts;
  if (kind === 'grpcio-tools') {
    const requirements = readRequirements(path.join(project.toolsDir, 'toolchain', 'grpcio-tools.txt'));
    const venv = await ensureVenv({ runner, log: opts.log, python: opts.python, cacheDir: project.cacheDir, name: 'grpcio-tools', requirements });
    const py = venvPython(venv);
    const include = await venvFact(venv, 'include', async () => (await runner(py, ['-c', 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))'])).stdout.trim());
    const wrapper = `#!/bin/sh\n# protoc of grpcio-tools; it generates --grpc_python_out itself.\nexec ${shellQuote(py)} -m grpc_tools.protoc ${shellQuote(`--proto_path=${include}`)} "$@"\n`;
    const protoc = await venvFact(venv, 'protoc', async () => (await runner(py, ['-m', 'grpc_tools.protoc', '--version'])).stdout.trim());
    const tools = await venvFact(venv, 'grpcio-tools', () => packageVersion(runner, py, 'grpcio-tools'));
    return { kind, repoDir: materializeRepo(project, kind, wrapper), protoc: `${protoc} (grpcio-tools ${tools})`, grpcPythonPlugin: `grpcio-tools ${tools}` };
  }
  const fromEnv = (name: string) => {
    const value = process.env[name];
    if (value && !fs.existsSync(value)) throw new MissingToolError(`${name}=${value}`, `point ${name} at an existing file, or unset it to use the one on PATH`);
    return value;
  };
  const protocPath = fromEnv('PROTOC') || (await which(runner, 'protoc'));
  const pluginPath = fromEnv('GRPC_PYTHON_PLUGIN') || (await which(runner, 'grpc_python_plugin'));
  if (!protocPath) throw new MissingToolError('protoc', "install Debian's protobuf-compiler (or set PROTOC), or build with --toolchain grpcio-tools");
  if (!pluginPath) throw new MissingToolError('grpc_python_plugin', "install Debian's protobuf-compiler-grpc (or set GRPC_PYTHON_PLUGIN), or build with --toolchain grpcio-tools");
  const include = [path.join(path.dirname(protocPath), '..', 'include'), '/usr/include'].map((d) => path.resolve(d)).find((d) => fs.existsSync(path.join(d, 'google', 'protobuf', 'any.proto')));
  if (!include) throw new MissingToolError('the well-known .proto files (google/protobuf/any.proto)', "install Debian's libprotobuf-dev, or build with --toolchain grpcio-tools");
  const wrapper = `#!/bin/sh\n# System protoc with the system gRPC Python plugin.\nexec ${shellQuote(protocPath)} ${shellQuote(`--plugin=protoc-gen-grpc_python=${pluginPath}`)} ${shellQuote(`--proto_path=${include}`)} "$@"\n`;
  const protoc = (await runner(protocPath, ['--version'])).stdout.trim();
  const pkg = await runner('dpkg-query', ['-W', '-f=${Version}', 'protobuf-compiler-grpc'], { allowFailure: true });
  return { kind, repoDir: materializeRepo(project, kind, wrapper), protoc: `${protoc} (${protocPath})`, grpcPythonPlugin: `${pluginPath}${pkg.ok ? ` (Debian protobuf-compiler-grpc ${pkg.stdout.trim()})` : ''}` };
}
