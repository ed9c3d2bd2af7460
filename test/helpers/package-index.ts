/**
 * A package index on 127.0.0.1 for the release tests: pypiserver with
 * htpasswd auth, one user (alice) allowed to upload, packages in `dir`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadProject } from '../../src/config.ts';
import { processRunner } from '../../src/exec.ts';
import { stderrLogger } from '../../src/log.ts';
import { ensureVenv, findPython, readRequirements, venvPython } from '../../src/python.ts';
import { stopProcess } from '../../src/exec.ts';
import { freePort, waitForPort } from '../../src/network.ts';
import { PollTimeoutError } from '../../src/poll.ts';
import { projectRoot } from './real-upstream.ts';

export const INDEX_CREDENTIALS = { TWINE_USERNAME: 'alice', TWINE_PASSWORD: 's3cret' };

export interface PackageIndex {
  url: string;
  packages: string;
  stop(): Promise<void>;
}

export async function startPackageIndex(dir: string): Promise<PackageIndex> {
  const runner = processRunner();
  const project = loadProject(projectRoot, { exact: true });
  const python = await findPython(runner);
  const venv = await ensureVenv({ runner, log: stderrLogger({ quiet: true }), python, cacheDir: project.cacheDir, name: 'pypiserver', requirements: readRequirements(path.join(projectRoot, 'tools', 'release', 'index-requirements.txt')) });
  fs.mkdirSync(dir, { recursive: true });
  const htpasswd = path.join(dir, 'htpasswd');
  await runner(venvPython(venv), ['-c', 'import sys\nfrom passlib.apache import HtpasswdFile\nh = HtpasswdFile(sys.argv[1], new=True)\nh.set_password("alice", "s3cret")\nh.save()', htpasswd]);
  const packages = path.join(dir, 'packages');
  fs.mkdirSync(packages, { recursive: true });
  const port = await freePort();
  const index = spawn(venvPython(venv), ['-m', 'pypiserver', 'run', '-i', '127.0.0.1', '-p', String(port), '-P', htpasswd, '-a', 'update', packages], { stdio: 'ignore' });
  // As before: after ten seconds the tests go on, and fail saying what did not answer.
  await waitForPort('127.0.0.1', port, 10_000).catch((err: unknown) => {
    if (!(err instanceof PollTimeoutError)) throw err;
  });
  return { url: `http://127.0.0.1:${port}/`, packages, stop: () => stopProcess(index) };
}
