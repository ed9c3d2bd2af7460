#!/usr/bin/env python3
"""Wheel helpers for mlmd-remote: make a wheel reproducible, and describe one.

  wheel_tool.py normalize IN OUT --epoch SECONDS
      Rewrites IN as OUT with sorted entries, one timestamp (SOURCE_DATE_EPOCH),
      fixed permissions (0644) and fixed compression, and RECORD last, so the
      same inputs give the same bytes whatever the file system said.
  wheel_tool.py extract WHEEL DIR
      Unpacks the wheel's files under DIR.
  wheel_tool.py inspect WHEEL
      Prints JSON: entries (name, size, sha256, native format by magic bytes),
      the WHEEL and METADATA fields, and RECORD problems.

Standard library only: it runs under any CPython 3.8+.
"""
import argparse
import ast
import base64
import csv
import hashlib
import io
import json
import sys
import time
import zipfile

# Magic bytes of native code: ELF, Mach-O (both byte orders, 32/64, fat), PE.
_NATIVE_MAGIC = (
    (b'\x7fELF', 'ELF'),
    (b'\xfe\xed\xfa\xce', 'Mach-O'),
    (b'\xfe\xed\xfa\xcf', 'Mach-O'),
    (b'\xce\xfa\xed\xfe', 'Mach-O'),
    (b'\xcf\xfa\xed\xfe', 'Mach-O'),
    (b'\xca\xfe\xba\xbe', 'Mach-O universal'),
    (b'MZ', 'PE'),
)


def native_format(data):
  for magic, name in _NATIVE_MAGIC:
    if data.startswith(magic):
      return name
  return None


def record_hash(data):
  digest = hashlib.sha256(data).digest()
  return 'sha256=' + base64.urlsafe_b64encode(digest).rstrip(b'=').decode()


def _dist_info(names):
  dirs = sorted({n.split('/')[0] for n in names if n.split('/')[0].endswith('.dist-info')})
  if len(dirs) != 1:
    raise SystemExit('expected exactly one .dist-info directory, found %r' % dirs)
  return dirs[0]


def normalize(src, dst, epoch):
  date_time = time.gmtime(max(epoch, 315532800))[:6]  # zip cannot go before 1980
  with zipfile.ZipFile(src) as zin:
    names = zin.namelist()
    record = _dist_info(names) + '/RECORD'
    contents = {n: zin.read(n) for n in names if not n.endswith('/')}
  # RECORD goes last, as the wheel spec recommends; everything else sorted.
  order = sorted(n for n in contents if n != record) + [record]
  with zipfile.ZipFile(dst, 'w') as zout:
    for name in order:
      info = zipfile.ZipInfo(name, date_time=date_time)
      info.compress_type = zipfile.ZIP_DEFLATED
      info.create_system = 3  # unix, so the permission bits below are read
      info.external_attr = (0o100644 << 16)
      zout.writestr(info, contents[name], compresslevel=9)


def native_imports(name, data):
  """Imports of the native extension (any module path with 'pywrap' or '_extension')."""
  try:
    tree = ast.parse(data.decode('utf-8'), filename=name)
  except (SyntaxError, UnicodeDecodeError) as e:
    return [{'file': name, 'line': getattr(e, 'lineno', 0) or 0, 'module': 'unparseable: %s' % e}]
  found = []
  for node in ast.walk(tree):
    modules = []
    if isinstance(node, ast.Import):
      modules = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      modules = [node.module] + ['%s.%s' % (node.module, a.name) for a in node.names]
    for module in modules:
      if module.split('.')[-1].endswith('_extension') or '.pywrap.' in module + '.':
        found.append({'file': name, 'line': node.lineno, 'module': module})
        break
  return found


def _parse_headers(text):
  fields = {}
  for line in text.splitlines():
    if not line.strip():
      break  # the body (long description) starts here
    if ':' in line and not line.startswith((' ', '\t')):
      key, value = line.split(':', 1)
      fields.setdefault(key.strip(), []).append(value.strip())
  return fields


def inspect(path):
  with zipfile.ZipFile(path) as z:
    infos = [i for i in z.infolist() if not i.filename.endswith('/')]
    contents = {i.filename: z.read(i.filename) for i in infos}
  dist_info = _dist_info(contents)
  record_name = dist_info + '/RECORD'
  entries = []
  for info in infos:
    data = contents[info.filename]
    entries.append({
        'name': info.filename,
        'size': len(data),
        'sha256': hashlib.sha256(data).hexdigest(),
        'mode': oct((info.external_attr >> 16) & 0o7777),
        'native': native_format(data),
    })
  problems = []
  recorded = {}
  if record_name not in contents:
    problems.append('RECORD is missing')
  else:
    for row in csv.reader(io.StringIO(contents[record_name].decode('utf-8'))):
      if not row:
        continue
      recorded[row[0]] = row[1] if len(row) > 1 else ''
    for name, data in contents.items():
      if name == record_name:
        continue
      if name not in recorded:
        problems.append('%s is not listed in RECORD' % name)
      elif recorded[name] != record_hash(data):
        problems.append('%s does not match its RECORD hash' % name)
    for name in recorded:
      if name not in contents:
        problems.append('RECORD lists %s, which is not in the wheel' % name)
  extension_imports = []
  for name, data in sorted(contents.items()):
    if name.endswith('.py'):
      extension_imports.extend(native_imports(name, data))
  wheel = _parse_headers(contents.get(dist_info + '/WHEEL', b'').decode('utf-8'))
  metadata = _parse_headers(contents.get(dist_info + '/METADATA', b'').decode('utf-8'))
  return {
      'path': path,
      'distInfo': dist_info,
      'entries': entries,
      'wheel': wheel,
      'metadata': metadata,
      'recordProblems': problems,
      'extensionImports': extension_imports,
  }


def extract(path, dest):
  """Unpacks a wheel's files (no directories, no links) under dest."""
  import os  # pylint: disable=import-outside-toplevel
  with zipfile.ZipFile(path) as z:
    for info in z.infolist():
      name = info.filename
      if name.endswith('/') or name.startswith('/') or '..' in name.split('/'):
        continue
      target = os.path.join(dest, *name.split('/'))
      os.makedirs(os.path.dirname(target), exist_ok=True)
      with open(target, 'wb') as out:
        out.write(z.read(info))


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest='command', required=True)
  norm = sub.add_parser('normalize')
  norm.add_argument('src')
  norm.add_argument('dst')
  norm.add_argument('--epoch', type=int, required=True)
  insp = sub.add_parser('inspect')
  insp.add_argument('wheel')
  ext = sub.add_parser('extract')
  ext.add_argument('wheel')
  ext.add_argument('dest')
  args = parser.parse_args(argv)
  if args.command == 'normalize':
    normalize(args.src, args.dst, args.epoch)
  elif args.command == 'extract':
    extract(args.wheel, args.dest)
  else:
    json.dump(inspect(args.wheel), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')


if __name__ == '__main__':
  main(sys.argv[1:])
