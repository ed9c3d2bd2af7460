/**
 * Fake wheels for unit tests of the static checks: small zip files with the
 * layout, RECORD and metadata a test asks for, written by Python's zipfile.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FakeWheelSpec {
  fileName?: string;
  files?: Record<string, string | Buffer>;
  tag?: string;
  purelib?: boolean;
  metadata?: Record<string, string>;
  /** Change these files after RECORD was written (a tampered wheel). */
  tamper?: Record<string, string>;
  /** Leave these files out of RECORD. */
  unrecorded?: string[];
}

const SCRIPT = `
import base64, hashlib, json, sys, zipfile
spec = json.load(open(sys.argv[1]))
out = sys.argv[2]
dist = spec['distInfo']
files = {k: base64.b64decode(v) for k, v in spec['files'].items()}
files[dist + '/WHEEL'] = ('Wheel-Version: 1.0\\nGenerator: fake\\nRoot-Is-Purelib: %s\\nTag: %s\\n' % (spec['purelib'], spec['tag'])).encode()
files[dist + '/METADATA'] = ''.join('%s: %s\\n' % tuple(kv) for kv in spec['metadata']).encode()
def h(b): return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()
record = ''.join('%s,%s,%d\\n' % (n, h(d), len(d)) for n, d in sorted(files.items()) if n not in spec['unrecorded'])
record += dist + '/RECORD,,\\n'
for n, v in spec['tamper'].items(): files[n] = v.encode()
with zipfile.ZipFile(out, 'w') as z:
    for n, d in sorted(files.items()): z.writestr(n, d)
    z.writestr(dist + '/RECORD', record)
`;

export function makeFakeWheel(dir: string, spec: FakeWheelSpec = {}): string {
  const fileName = spec.fileName ?? 'fake_pkg-1.0.0-py3-none-any.whl';
  const [name, version] = fileName.split('-');
  const distInfo = `${name}-${version}.dist-info`;
  const files = spec.files ?? { 'fake_pkg/__init__.py': 'VALUE = 1\n' };
  const metadata = Object.entries(spec.metadata ?? { 'Metadata-Version': '2.1', Name: name!.replace(/_/g, '-'), Version: version!, 'Requires-Python': '>=3.8', 'Requires-Dist': 'protobuf>=3.20.3' });
  const specFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fake-wheel-spec-')), 'spec.json');
  fs.writeFileSync(
    specFile,
    JSON.stringify({
      distInfo,
      files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      tag: spec.tag ?? 'py3-none-any',
      purelib: spec.purelib === false ? 'false' : 'true',
      metadata,
      tamper: spec.tamper ?? {},
      unrecorded: spec.unrecorded ?? [],
    }),
  );
  const out = path.join(dir, fileName);
  execFileSync('python3', ['-c', SCRIPT, specFile, out]);
  fs.rmSync(path.dirname(specFile), { recursive: true, force: true });
  return out;
}
