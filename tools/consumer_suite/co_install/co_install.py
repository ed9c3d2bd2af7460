#!/usr/bin/env python3
"""What happens when the official ml-metadata is installed next to our wheel.

Both distributions write the ml_metadata package. For each install order,
in a fresh venv of the running Python: pip installs one, then the other,
and we record whether `import ml_metadata` warns (naming both), whether the
native extension is there, and which error MetadataStore(ConnectionConfig)
raises; then `pip uninstall` of the official one, and whether ml_metadata
still imports.

The verdict: where our files are the ones imported (ours installed last),
import must warn, naming both distributions. A drop-in build is named
ml-metadata itself, so pip replaces one with the other: there must never be
two distributions installed.

Prints one JSON object with the findings and a "verdict". Exit 0 when the
verdict is good, 2 when not, 3 when pip finds no official wheel of the
release for this Python (the two cannot meet here), 1 when it could not run.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

PROBE = r"""
import json, os, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import ml_metadata
out = {"warnings": [str(w.message) for w in caught if "installed by two distributions" in str(w.message)]}
if ml_metadata.__file__ is None:
    # No __init__.py left: a namespace package of leftover files.
    left = sorted(os.path.relpath(os.path.join(d, f), list(ml_metadata.__path__)[0])
                  for d, _, fs in os.walk(list(ml_metadata.__path__)[0]) for f in fs if "__pycache__" not in d)
    print(json.dumps({"import": "leftovers only", "leftovers": left}))
    sys.exit(0)
pkg = os.path.dirname(ml_metadata.__file__)
out["native"] = sorted(f for d, _, fs in os.walk(pkg) for f in fs if f.endswith((".so", ".pyd")))
try:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    metadata_store.MetadataStore(config)
    out["connection_config"] = "opened an embedded store"
except Exception as err:
    out["connection_config"] = type(err).__name__
print(json.dumps(out))
"""


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def pip(python, *args):
    done = run([python, "-m", "pip", "--disable-pip-version-check", "-q", *args])
    if done.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def probe(python):
    done = run([python, "-c", PROBE])
    if done.returncode != 0:
        return {"import": "fails", "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""}
    result = json.loads(done.stdout)
    result.setdefault("import", "works")
    return result


DISTRIBUTIONS = r"""
import importlib.metadata as md, json
print(json.dumps(sorted(f"{d.metadata['Name']} {d.version}" for d in md.distributions()
                        if d.metadata["Name"] in ("ml-metadata", "ml-metadata-remote"))))
"""


def one_order(work, first, second, official_name):
    venv = os.path.join(work, "venv")
    done = run([sys.executable, "-m", "venv", venv])
    if done.returncode != 0:
        raise RuntimeError(f"python -m venv failed: {done.stderr}")
    python = os.path.join(venv, "bin", "python")
    pip(python, "install", first)
    pip(python, "install", second)
    both = probe(python)
    both["distributions"] = json.loads(run([python, "-c", DISTRIBUTIONS]).stdout)
    pip(python, "uninstall", "-y", official_name)
    after = probe(python)
    return {"installed": [first, second], "both": both, "afterUninstallingOfficial": after}


def describe(order):
    both, after = order["both"], order["afterUninstallingOfficial"]
    return (f"{' then '.join(order['installed'])}: {', '.join(both['distributions']) or 'nothing'} installed, "
            f"{'warns' if both.get('warnings') else 'no warning'}, "
            f"{'native extension present' if both.get('native') else 'no native code'}, "
            f"ConnectionConfig: {both.get('connection_config')}; after pip uninstall ml-metadata, "
            f"import {after['import']}" + (f" ({', '.join(after['leftovers'])})" if after.get("leftovers") else ""))


def verdict(report, wheel_name, drop_in):
    """(ok, detail) for the two orders of report["orders"]."""
    ours_last = next(o for o in report["orders"] if o["installed"][1] == wheel_name)
    official_last = next(o for o in report["orders"] if o["installed"][1] != wheel_name)
    detail = f"{describe(ours_last)}. {describe(official_last)}"
    if drop_in:
        # Same name: pip replaces one with the other.
        ok = all(len(o["both"]["distributions"]) == 1 for o in report["orders"])
        return ok, detail + (". The drop-in build shares the official name, so pip replaces one with the other."
                             if ok else ". Two distributions were installed at once.")
    warned = any("ml-metadata-remote" in w and "ml-metadata " in w for w in ours_last["both"].get("warnings", []))
    return warned, detail + (" (the official files replace ours, so none of our code runs to warn)."
                             if warned else ". No warning although our files were imported.")


def main(argv=None):
    # A SIGTERM (an interrupted verify) unwinds, so the venvs go with the temp dir.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", required=True, help="our wheel")
    parser.add_argument("--official", required=True, help="e.g. ml-metadata==1.14.0")
    args = parser.parse_args(argv)
    official_name = args.official.split("==")[0]
    wheel_name = os.path.basename(args.wheel)
    drop_in = wheel_name.split("-")[0].lower().replace("_", "-") == official_name
    with tempfile.TemporaryDirectory(prefix="co-install-") as work:
        found = run([sys.executable, "-m", "pip", "--disable-pip-version-check", "download", "-q", "--no-deps",
                     "--only-binary=:all:", "-d", os.path.join(work, "official"), args.official])
        if found.returncode != 0:
            # Only pip's own "nothing matches" means the two cannot meet; any
            # other failure (no index, no network) is a failure to check.
            unreachable = re.search(r"Retrying|NewConnectionError|Could not fetch URL|ProxyError|SSLError", found.stderr)
            if "No matching distribution found" not in found.stderr or unreachable:
                print(json.dumps({"applicable": True, "error": f"pip download {args.official} failed:\n{found.stderr[-1500:]}"}))
                return 1
            print(json.dumps({"applicable": False, "reason": f"pip finds no wheel of {args.official} for CPython "
                              f"{sys.version_info[0]}.{sys.version_info[1]} here, so it cannot be installed next to ours"}))
            return 3
        official = os.path.join(work, "official", os.listdir(os.path.join(work, "official"))[0])
        report = {"applicable": True, "official": os.path.basename(official), "orders": []}
        try:
            for n, (first, second) in enumerate(((official, args.wheel), (args.wheel, official))):
                order_dir = os.path.join(work, f"order-{n}")
                os.mkdir(order_dir)
                report["orders"].append(one_order(order_dir, first, second, official_name))
        except RuntimeError as err:
            print(json.dumps({"applicable": True, "error": str(err)}))
            return 1
        for order in report["orders"]:
            order["installed"] = [os.path.basename(p) for p in order["installed"]]
        ok, detail = verdict(report, wheel_name, drop_in)
        report["verdict"] = {"ok": ok, "detail": detail}
        print(json.dumps(report))
        return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
