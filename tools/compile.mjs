// Compiles src/ to lib/ ahead of time, so the CLI starts as plain JavaScript.
// lib/ is rebuilt whenever the sources' content hash differs from the one it
// was built from; it is built beside and swapped in whole, so a run never
// sees half of it.
//
//   node tools/compile.mjs          (compile if stale; also run by the CLI and npm scripts)
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const lib = path.join(root, 'lib');
const stampName = '.built-from';

/** sha256 over the names and bytes of everything the compiled output depends on. */
function sourceHash() {
  const hash = crypto.createHash('sha256');
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) hash.update(`${path.relative(root, p)}\0`).update(fs.readFileSync(p)).update('\0');
    }
  };
  walk(path.join(root, 'src'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) hash.update(fs.readFileSync(path.join(root, f)));
  return hash.digest('hex');
}

export function ensureCompiled({ quiet = false } = {}) {
  const want = sourceHash();
  const stamp = path.join(lib, stampName);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return false;
  if (!quiet) process.stderr.write('▸ Compile src/ to lib/ (tsc; the sources changed since the last compile)\n');
  const next = `${lib}.${process.pid}.tmp`;
  const old = `${lib}.${process.pid}.old`;
  fs.rmSync(next, { recursive: true, force: true });
  try {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', next], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    fs.writeFileSync(path.join(next, stampName), want);
    if (fs.existsSync(lib)) fs.renameSync(lib, old);
    fs.renameSync(next, lib);
  } finally {
    fs.rmSync(next, { recursive: true, force: true });
    fs.rmSync(old, { recursive: true, force: true });
  }
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) ensureCompiled();
