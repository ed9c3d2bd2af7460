/** Whole-file writes that a reader never sees half done. */
import fs from 'node:fs';
import path from 'node:path';

/** Writes a file through a temporary file and a rename, so a reader never sees half a file. */
export function writeFileAtomic(file: string, data: string | Buffer): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
