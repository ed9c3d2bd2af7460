#!/usr/bin/env python3
"""Runs upstream's own Python tests in the wheel's venv against a live server.

The test files are upstream's, read from the wheel's upstream commit at run
time and written to --tests-dir by mlmd-remote verify (none is kept in this
repository). --plan says how to run each file (see plan.json beside this
script):

  grpc-flags     the file has its own switch to a gRPC backend
                 (--use_grpc_backend --grpc_host H --grpc_port P), set here;
                 it expects a new database when it starts (it reuses
                 fixed names and external ids), so the server's SQLite
                 file is deleted first;
  fresh-database the file builds a store on a fresh in-memory database
                 (ConnectionConfig: sqlite without a file, or fake_database)
                 for each test: such a store becomes a gRPC client of the
                 server, after the server's SQLite file is deleted, so that
                 the next call starts a new database (the server connects
                 anew for every call, as the official one does);
  no-store       the file needs no store.

Every other ConnectionConfig still goes to the wheel, which refuses it with
its remote-only error. This script reports what happened to each test, as
JSON (--out); which outcomes are acceptable is decided by the caller.
"""

import argparse
import ast
import faulthandler
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
import unittest

MODES = ("grpc-flags", "fresh-database", "no-store")
# Longer than any one test should take: a hung call ends the run with every
# thread's stack on stderr instead of hanging it.
TEST_LIMIT_SEC = 300
CLIENT_TIMEOUT_SEC = 60


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests-dir", required=True, help="root of the upstream files")
    parser.add_argument("--file", action="append", default=[], metavar="PATH=MODE",
                        help="an upstream test file (relative to --tests-dir) and how to run it")
    parser.add_argument("--grpc-host", required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--fresh-db", help="the server's SQLite file (deleted for each fresh database)")
    parser.add_argument("--fresh-db-command", metavar="JSON", default=os.environ.get("MLMD_FRESH_DB_COMMAND"),
                        help='for MySQL/PostgreSQL: {"argv": [...], "env": {...}}, a command that drops '
                             "the server's database (the store re-creates it on the next call); default "
                             "$MLMD_FRESH_DB_COMMAND, which keeps its password out of the process list")
    parser.add_argument("--out", required=True, help="where to write the JSON report")
    args = parser.parse_args(argv)
    files = []
    for item in args.file:
        path, _, mode = item.rpartition("=")
        if mode not in MODES or not path:
            parser.error(f"--file {item}: expected PATH=MODE with MODE one of {', '.join(MODES)}")
        if mode != "no-store" and not (args.fresh_db or args.fresh_db_command):
            parser.error(f"--file {item} needs --fresh-db (upstream's tests expect a new database)")
        files.append((path, mode))
    if not files:
        parser.error("no --file given")
    return args, files


def remove_database(args) -> None:
    """A fresh database for the next store: the SQLite file deleted, or the
    server's MySQL/PostgreSQL database dropped."""
    if args.fresh_db_command:
        spec = json.loads(args.fresh_db_command)
        subprocess.run(spec["argv"], env={**os.environ, **spec.get("env", {})}, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        # One call re-creates the database and its schema before the test runs: the
        # server connects a new store per call, and two first calls at once on
        # PostgreSQL race to CREATE DATABASE / CREATE TABLE and one of them fails.
        from ml_metadata.metadata_store import metadata_store  # pylint: disable=import-outside-toplevel
        from ml_metadata.proto import metadata_store_pb2  # pylint: disable=import-outside-toplevel
        metadata_store.MetadataStore(metadata_store_pb2.MetadataStoreClientConfig(
            host=args.grpc_host, port=args.grpc_port)).get_artifact_types()
        return
    path = args.fresh_db
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def fresh_database_store(args):
    """A MetadataStore class that turns a fresh in-memory database into a
    fresh database on the server, reached over gRPC."""
    from ml_metadata.metadata_store import metadata_store  # pylint: disable=import-outside-toplevel
    from ml_metadata.proto import metadata_store_pb2  # pylint: disable=import-outside-toplevel
    original = metadata_store.MetadataStore

    def in_memory(config) -> bool:
        if not isinstance(config, metadata_store_pb2.ConnectionConfig):
            return False
        kind = config.WhichOneof("config")
        return kind == "fake_database" or (kind == "sqlite" and config.sqlite.filename_uri in ("", ":memory:"))

    class FreshDatabaseStore(original):
        def __init__(self, config, *rest, **named):
            if in_memory(config):
                remove_database(args)
                config = metadata_store_pb2.MetadataStoreClientConfig(
                    host=args.grpc_host, port=args.grpc_port, client_timeout_sec=CLIENT_TIMEOUT_SEC)
            super().__init__(config, *rest, **named)

    FreshDatabaseStore.__name__ = original.__name__
    FreshDatabaseStore.__qualname__ = original.__qualname__
    return original, FreshDatabaseStore


def set_store_class(cls) -> None:
    """Where test files find MetadataStore: the module, the package, ml_metadata."""
    import ml_metadata  # pylint: disable=import-outside-toplevel
    from ml_metadata import metadata_store as package  # pylint: disable=import-outside-toplevel
    from ml_metadata.metadata_store import metadata_store  # pylint: disable=import-outside-toplevel
    for holder in (ml_metadata, package, metadata_store):
        if hasattr(holder, "MetadataStore"):
            holder.MetadataStore = cls


def load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def describe(err) -> dict:
    """The exception of a failed test: its type, message, and whether it (or
    one it was raised from) is the wheel's remote-only refusal."""
    kind, value, tb = err
    chain, seen = [], value
    while seen is not None and len(chain) < 5:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return {
        "exception": kind.__name__,
        "message": str(value)[:2000],
        # errors.RemoteOnlyError, or the RuntimeError of builds before it.
        "remoteOnly": any(type(e).__name__ == "RemoteOnlyError" or "is remote-only" in str(e) for e in chain),
        "traceback": "".join(traceback.format_exception(kind, value, tb))[-4000:],
    }


def returns_at_once_under_grpc(source: str):
    """Test methods whose first statement is `if FLAGS.use_grpc_backend: return`:
    they pass under gRPC without checking anything, by upstream's design."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
            continue
        body = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        first = body[0] if body else None
        if (isinstance(first, ast.If) and isinstance(first.test, ast.Attribute)
                and first.test.attr == "use_grpc_backend"
                and len(first.body) == 1 and isinstance(first.body[0], ast.Return)):
            found.add(node.name)
    return found


class Recorder(unittest.TestResult):
    def __init__(self, returns_at_once=()):
        super().__init__()
        self.returns_at_once = set(returns_at_once)
        self.tests = []
        self._started = 0.0

    def startTest(self, test):
        super().startTest(test)
        self._started = time.monotonic()
        faulthandler.dump_traceback_later(TEST_LIMIT_SEC, exit=True)
        sys.stderr.write(f"upstream test {test.id()} ...\n")
        sys.stderr.flush()

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)

    def _record(self, test, outcome, **extra):
        # Ids without the module: Class.test_name (parameterized: Class.test_name0, ...).
        test_id = test.id().split(".", 1)[1] if "." in test.id() else test.id()
        entry = {"id": test_id, "outcome": outcome, "ms": round((time.monotonic() - self._started) * 1000)}
        if outcome == "passed" and test_id.split(".")[-1] in self.returns_at_once:
            entry["returnsAtOnce"] = True
        entry.update(extra)
        self.tests.append(entry)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failed", **describe(err))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", **describe(err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", message=reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "passed", expectedFailure=True)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "failed", exception="UnexpectedSuccess", message="an expected failure (unittest.expectedFailure) passed")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._record(subtest, "failed" if issubclass(err[0], test.failureException) else "error", **describe(err))


def main(argv=None) -> int:
    args, files = parse_args(sys.argv[1:] if argv is None else argv)
    from absl import flags as absl_flags  # pylint: disable=import-outside-toplevel

    original, fresh = fresh_database_store(args)
    report = {"schemaVersion": 1, "files": []}
    loaded = []
    for path, mode in files:
        entry = {"path": path, "mode": mode, "tests": []}
        report["files"].append(entry)
        name = "upstream_" + os.path.splitext(os.path.basename(path))[0]
        set_store_class(fresh if mode == "fresh-database" else original)
        try:
            loaded.append((entry, mode, load(os.path.join(args.tests_dir, path), name)))
        except Exception:  # pylint: disable=broad-except
            entry["loadError"] = traceback.format_exc()[-4000:]
        finally:
            set_store_class(original)
    # Flags of every loaded file are defined now; give the gRPC switch to
    # the files that have it, and absltest its defaults.
    argv = [sys.argv[0]]
    if "use_grpc_backend" in absl_flags.FLAGS:
        argv += ["--use_grpc_backend", f"--grpc_host={args.grpc_host}", f"--grpc_port={args.grpc_port}"]
    absl_flags.FLAGS(argv, known_only=True)
    for entry, mode, module in loaded:
        sys.stderr.write(f"upstream file {entry['path']} ({mode})\n")
        if mode == "grpc-flags":
            remove_database(args)
        set_store_class(fresh if mode == "fresh-database" else original)
        try:
            with open(os.path.join(args.tests_dir, entry["path"]), encoding="utf-8") as handle:
                early = returns_at_once_under_grpc(handle.read()) if mode == "grpc-flags" else ()
            recorder = Recorder(early)
            unittest.defaultTestLoader.loadTestsFromModule(module).run(recorder)
            entry["tests"] = recorder.tests
        finally:
            set_store_class(original)
    with open(args.out + ".partial", "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)
    os.replace(args.out + ".partial", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
