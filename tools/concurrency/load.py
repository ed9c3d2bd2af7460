#!/usr/bin/env python3
"""Many clients at once against one MLMD server: processes x threads, each
thread its own MetadataStore client, writing and reading back.

Each thread puts --writes artifacts one call at a time (every fourth one as
an execution with an output event, through put_execution), reads each back
by id, and lists its context. When every worker is done, the parent reads
everything back and checks that every acknowledged write is there.

Errors are counted by gRPC code and message. The only error the official
server gives under concurrent load on SQLite is ABORTED "Concurrent writes
aborted after max number of retries." (sqlite_metadata_source.cc,
SqliteMetadataSource::RunStatement: "database is locked" once its busy
handler gave up); the client already retries ABORTED (MetadataStore._call),
and a write that still fails is tried again here, as an application would.
Anything else is reported as unexpected.

Prints one JSON object: counts, unexpected errors, latencies and wall time.
"""

import argparse
import json
import multiprocessing
import statistics
import sys
import threading
import time
import uuid

ALLOWED = ("ABORTED", "Concurrent writes aborted after max number of retries.")
CALL_TIMEOUT_SEC = 60
ATTEMPTS = 5


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--writes", type=int, default=25, help="writes per thread")
    return parser.parse_args(argv)


def client(host, port):
    from ml_metadata.metadata_store import metadata_store  # pylint: disable=import-outside-toplevel
    from ml_metadata.proto import metadata_store_pb2  # pylint: disable=import-outside-toplevel
    return metadata_store.MetadataStore(metadata_store_pb2.MetadataStoreClientConfig(
        host=host, port=port, client_timeout_sec=CALL_TIMEOUT_SEC))


def classify(err) -> tuple:
    from ml_metadata import errors  # pylint: disable=import-outside-toplevel
    if isinstance(err, errors.StatusError):
        names = {v: k for k, v in vars(errors).items() if k.isupper() and isinstance(v, int)}
        return names.get(err.error_code, str(err.error_code)), str(err)
    return type(err).__name__, str(err)


def thread_work(args, ids, tag, worker, results):
    from ml_metadata.proto import metadata_store_pb2 as pb  # pylint: disable=import-outside-toplevel
    store = client(args.host, args.port)
    written, latencies, errors = [], [], []

    def call(fn):
        for attempt in range(ATTEMPTS):
            started = time.monotonic()
            try:
                value = fn()
                latencies.append(time.monotonic() - started)
                return value
            except Exception as err:  # pylint: disable=broad-except
                latencies.append(time.monotonic() - started)
                errors.append(classify(err))
                if errors[-1] != ALLOWED or attempt == ATTEMPTS - 1:
                    return None

    context = pb.Context(type_id=ids["context"], name=f"{tag}-{worker}")
    context_ids = call(lambda: store.put_contexts([context]))
    if context_ids:
        context.id = context_ids[0]
    for i in range(args.writes):
        name = f"{tag}-{worker}-{i}"
        if i % 4 == 3 and context.id:
            artifact = pb.Artifact(type_id=ids["artifact"], name=name, uri=f"mem://{name}")
            done = call(lambda: store.put_execution(
                pb.Execution(type_id=ids["execution"], name=name),
                [(artifact, pb.Event(type=pb.Event.OUTPUT))], [context]))
            new_id = done[1][0] if done else None
        else:
            done = call(lambda: store.put_artifacts([pb.Artifact(type_id=ids["artifact"], name=name, uri=f"mem://{name}")]))
            new_id = done[0] if done else None
        if new_id is None:
            continue
        written.append(name)
        back = call(lambda: store.get_artifacts_by_id([new_id]))
        if not back or back[0].name != name:
            errors.append(("READBACK", f"{name} (id {new_id}) did not read back"))
    results.append({"written": written, "latencies": latencies, "errors": errors})


def process_work(args, ids, tag, index, queue):
    results = []
    threads = [threading.Thread(target=thread_work, args=(args, ids, tag, f"p{index}t{t}", results))
               for t in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from ml_metadata.proto import metadata_store_pb2 as pb  # pylint: disable=import-outside-toplevel
    tag = uuid.uuid4().hex[:8]
    store = client(args.host, args.port)
    ids = {
        "artifact": store.put_artifact_type(pb.ArtifactType(name=f"load-{tag}")),
        "execution": store.put_execution_type(pb.ExecutionType(name=f"load-run-{tag}")),
        "context": store.put_context_type(pb.ContextType(name=f"load-ctx-{tag}")),
    }
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    started = time.monotonic()
    workers = [context.Process(target=process_work, args=(args, ids, tag, p, queue)) for p in range(args.processes)]
    for worker in workers:
        worker.start()
    results = [r for _ in workers for r in queue.get(timeout=30 * 60)]
    for worker in workers:
        worker.join(timeout=60)
    wall = time.monotonic() - started
    written = sorted(n for r in results for n in r["written"])
    stored = sorted(a.name for a in store.get_artifacts_by_type(f"load-{tag}"))
    latencies = sorted(x for r in results for x in r["latencies"])
    error_counts = {}
    for code, message in (e for r in results for e in r["errors"]):
        key = f"{code}: {message}"
        error_counts[key] = error_counts.get(key, 0) + 1
    expected = args.processes * args.threads * args.writes
    report = {
        "processes": args.processes,
        "threads": args.threads,
        "writesAttempted": expected,
        "writesAcknowledged": len(written),
        "writesStored": len(stored),
        "missing": sorted(set(written) - set(stored))[:20],
        "unexpectedStored": sorted(set(stored) - set(written))[:20],
        "calls": len(latencies),
        "errors": error_counts,
        "unexpectedErrors": {k: v for k, v in error_counts.items() if k != ": ".join(ALLOWED)},
        "wallSeconds": round(wall, 3),
        "callsPerSecond": round(len(latencies) / wall, 1) if wall else None,
        "latencyMs": {
            "p50": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p95": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1) if latencies else None,
            "max": round(latencies[-1] * 1000, 1) if latencies else None,
        },
    }
    print(json.dumps(report, indent=1))
    ok = (not report["missing"] and not report["unexpectedStored"] and not report["unexpectedErrors"]
          and len(written) == expected and all(not w.is_alive() for w in workers))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
