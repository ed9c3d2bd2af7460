/** The build's source tree: a git tree written into a directory that bazel builds in place. */
import fs from 'node:fs';
import path from 'node:path';
import type { Runner } from './exec.js';
import type { Git } from './git.js';

/**
 * Makes `dest` hold exactly `tree`. Files whose content is unchanged keep
 * their mtime, so bazel does not even re-hash them on a warm build.
 */
export async function stageTree(deps: { git: Git; runner: Runner }, repoDir: string, tree: string, dest: string, workDir: string): Promise<void> {
  const fresh = path.join(workDir, 'src.next');
  const tarball = path.join(workDir, 'src.tar');
  fs.mkdirSync(workDir, { recursive: true });
  fs.rmSync(fresh, { recursive: true, force: true });
  fs.mkdirSync(fresh);
  await deps.git(repoDir, ['archive', '--format=tar', '-o', tarball, tree]);
  await deps.runner('tar', ['-xf', tarball, '-C', fresh]);
  fs.rmSync(tarball);
  syncDir(fresh, dest);
  fs.rmSync(fresh, { recursive: true, force: true });
}

/** Generated files and bazel's convenience links survive in dest; everything else mirrors src. */
const KEEP_IN_STAGE = /^(bazel-[^/]+|ml_metadata\/proto\/[^/]+_pb2(_grpc)?\.py|ml_metadata\/simple_types\/proto\/[^/]+_pb2\.py|ml_metadata\/simple_types\/simple_types\.pbtxt)$/;

function syncDir(src: string, dest: string, rel = ''): void {
  fs.mkdirSync(dest, { recursive: true });
  const wanted = new Set(fs.readdirSync(src));
  for (const name of fs.readdirSync(dest)) {
    const relPath = rel ? `${rel}/${name}` : name;
    if (!wanted.has(name) && !KEEP_IN_STAGE.test(relPath)) fs.rmSync(path.join(dest, name), { recursive: true, force: true });
  }
  for (const name of wanted) {
    const s = path.join(src, name);
    const d = path.join(dest, name);
    const relPath = rel ? `${rel}/${name}` : name;
    const st = fs.lstatSync(s);
    if (st.isDirectory()) {
      if (fs.existsSync(d) && !fs.lstatSync(d).isDirectory()) fs.rmSync(d, { recursive: true, force: true });
      syncDir(s, d, relPath);
    } else if (st.isSymbolicLink()) {
      fs.rmSync(d, { recursive: true, force: true });
      fs.symlinkSync(fs.readlinkSync(s), d);
    } else {
      const same = fs.existsSync(d) && fs.lstatSync(d).isFile() && (fs.lstatSync(d).mode & 0o777) === (st.mode & 0o777) && fs.readFileSync(d).equals(fs.readFileSync(s));
      if (!same) {
        fs.rmSync(d, { recursive: true, force: true });
        fs.copyFileSync(s, d);
        fs.chmodSync(d, st.mode & 0o777);
      }
    }
  }
}
