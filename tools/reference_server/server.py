#!/usr/bin/env python3
"""Reference MLMD gRPC server: the official metadata_store_server, rebuilt on
the official ml-metadata wheel's C++ store.

It runs inside a venv where the *official* ``ml-metadata`` wheel is
installed. That wheel ships MLMD's C++ store as a pybind extension whose
functions are named after the ``ml_metadata.MetadataStoreService`` gRPC
methods (each takes a store handle and a serialized request and returns
``(response_bytes, error_message, status_code)``). This program stands in
for upstream's ``metadata_store_server`` binary and follows its source
(``metadata_store_server_main.cc``, ``metadata_store_service_impl.cc``):

- the same flags, defaults and checks (``official_config.py``);
- at start-up, one store is created with the configured migration options
  (retried while it reports ABORTED) and dropped again;
- every call then connects a store of its own, runs, and drops it
  (``store_worker.py``), in worker processes so that calls run concurrently;
- ``ssl_config`` of the config file gives TLS, ``--grpc_channel_arguments``
  gRPC channel arguments; it listens on ``0.0.0.0:<grpc_port>``.

Our test aids (``--host``/``--port``, ``--ready-file``, ``--delay-ms``, ...)
are spelled with dashes so they cannot be taken for official flags. See
README.md beside this file for the parity table and ``--help`` for flags.

When ready it prints exactly one line to stdout::

    Server listening on <host>:<port>

Worker processes re-import this file, so nothing heavy is imported at the
top level.
"""

import os
import sys

import flags

DESCRIPTION = (
    "Serve MLMD's C++ store (from the official ml-metadata wheel) over gRPC, "
    "as the official metadata_store_server does."
)

OUR_FLAGS = [
    flags.Flag("help", "bool", False, "print this help and exit", ours=True),
    flags.Flag("host", "string", "", "test aid: listen on this address instead of 0.0.0.0", ours=True),
    flags.Flag("port", "int32", -1, "test aid: listen on this port instead of --grpc_port; 0 picks a free one", ours=True),
    flags.Flag("db", "string", "", "shorthand: a SQLite file (READWRITE_OPENCREATE) as connection_config", ours=True),
    flags.Flag("tls-cert", "string", "", "shorthand: ssl_config.server_cert from this PEM file", ours=True),
    flags.Flag("tls-key", "string", "", "shorthand: ssl_config.server_key from this PEM file", ours=True),
    flags.Flag("tls-client-ca", "string", "", "shorthand: ssl_config.custom_ca from this PEM file and client_verify: true", ours=True),
    flags.Flag("ready-file", "string", "", "test aid: once serving, write {port, pid, mlmd_version} JSON here, atomically", ours=True),
    flags.Flag("delay-ms", "int32", 0, "test aid: wait this long before serving each call, so client timeouts can be tested", ours=True),
    flags.Flag("max-workers", "int32", 16, "gRPC threads, so calls in progress at once", ours=True),
    flags.Flag("store-processes", "int32", 4, "processes that run store calls at the same time", ours=True),
    flags.Flag("require-mlmd-version", "string", "", "exit 2 unless the installed ml-metadata has exactly this version", ours=True),
    flags.Flag("list-missing-methods", "bool", False, "print the service methods the installed store lacks, one per line, and exit", ours=True),
    flags.Flag("print-server-config", "bool", False, "test aid: print the MetadataStoreServerConfig the flags give (text format) and exit", ours=True),
]

# Flags that glog and gflags add to every binary that links them, so the
# official binary accepts them too. Ours logs plain lines to stderr, always,
# so these are accepted and have no effect.
LOGGING_FLAGS = [
    flags.Flag(name, kind, default, "accepted for compatibility (glog/gflags); no effect here", ours=True)
    for name, kind, default in (
        ("logtostderr", "bool", False), ("alsologtostderr", "bool", False),
        ("colorlogtostderr", "bool", False), ("stderrthreshold", "int32", 2),
        ("minloglevel", "int32", 0), ("v", "int32", 0), ("vmodule", "string", ""),
        ("log_dir", "string", ""), ("logbuflevel", "int32", 0), ("logbufsecs", "int32", 30),
        ("max_log_size", "int32", 1800), ("stop_logging_if_full_disk", "bool", False),
    )
]

# Exit status for our own usage errors (the official binary's own checks
# keep its statuses: 1 for flag syntax, 255 for bad values, abort for CHECKs).
USAGE = 2


def stderr(line: str) -> None:
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


def end(status, message: str) -> int:
    """Ends the process the way the official binary would (see official_config)."""
    import official_config  # pylint: disable=import-outside-toplevel
    stderr(message if message.startswith(("error:", "Check failed")) else f"error: {message}")
    if status == official_config.ABORT:
        import signal  # pylint: disable=import-outside-toplevel
        signal.signal(signal.SIGABRT, signal.SIG_DFL)
        os.abort()
    return status


def main(argv=None) -> int:
    import official_config  # pylint: disable=import-outside-toplevel
    all_flags = official_config.OFFICIAL_FLAGS + OUR_FLAGS + LOGGING_FLAGS
    try:
        parsed = flags.parse(all_flags, sys.argv[1:] if argv is None else argv)
    except flags.FlagError as err:
        # As gflags: "ERROR: ..." and status 1.
        stderr(f"ERROR: {err}")
        return 1
    values = parsed.values
    if values["help"]:
        sys.stdout.write(flags.usage("server.py", DESCRIPTION, all_flags))
        return 0
    try:
        return serve(values, parsed.given)
    except official_config.Exit as stop:
        return end(stop.status, stop.message)


def our_checks(values) -> None:
    """Our test aids' own checks (usage errors, status 2)."""
    import official_config  # pylint: disable=import-outside-toplevel
    problems = []
    if bool(values["tls-cert"]) != bool(values["tls-key"]):
        problems.append("--tls-cert and --tls-key go together")
    if values["tls-client-ca"] and not values["tls-cert"]:
        problems.append("--tls-client-ca needs --tls-cert/--tls-key")
    if values["delay-ms"] < 0:
        problems.append("--delay-ms must be >= 0")
    if not -1 <= values["port"] <= 65535:
        problems.append("--port must be in 0..65535")
    if values["max-workers"] < 1 or values["store-processes"] < 1:
        problems.append("--max-workers and --store-processes must be >= 1")
    if problems:
        raise official_config.Exit(USAGE, "; ".join(problems))


def server_config_from(values, given):
    """The MetadataStoreServerConfig: from the official flags, or from our
    --db and --tls-* shorthands, which fill in the same message."""
    import official_config  # pylint: disable=import-outside-toplevel
    from ml_metadata.proto import metadata_store_pb2  # pylint: disable=import-outside-toplevel
    if values["db"]:
        conflicting = sorted(name for name in given if name.startswith(("mysql_config", "postgres_config"))
                             or name in ("metadata_store_server_config_file", "metadata_source_config_type"))
        if conflicting:
            raise official_config.Exit(USAGE, f"--db names the database itself; drop --{', --'.join(conflicting)}")
        if values["grpc_port"] <= 0:
            raise official_config.Exit(official_config.EXIT_ERROR, f"grpc_port is invalid: {values['grpc_port']}")
        config = metadata_store_pb2.MetadataStoreServerConfig()
        config.connection_config.sqlite.filename_uri = values["db"]
        config.connection_config.sqlite.connection_mode = (
            metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    else:
        config = official_config.build_server_config(values, stderr)
    if values["tls-cert"]:
        if config.HasField("ssl_config"):
            raise official_config.Exit(USAGE, "the config file has an ssl_config already; drop --tls-*")
        try:
            config.ssl_config.server_cert = read_text(values["tls-cert"])
            config.ssl_config.server_key = read_text(values["tls-key"])
            if values["tls-client-ca"]:
                config.ssl_config.custom_ca = read_text(values["tls-client-ca"])
                config.ssl_config.client_verify = True
        except OSError as err:
            raise official_config.Exit(USAGE, f"cannot read TLS files: {err}") from err
    return config


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def serve(values, given) -> int:
    """main() of the official binary, from the store creation on."""
    import official_config  # pylint: disable=import-outside-toplevel
    import store_service  # pylint: disable=import-outside-toplevel

    our_checks(values)
    version = store_service.mlmd_version()
    if values["require-mlmd-version"] and values["require-mlmd-version"] != version:
        raise official_config.Exit(USAGE, f"ml-metadata {version} is installed, "
                                   f"{values['require-mlmd-version']} was required")
    if values["list-missing-methods"]:
        for name in store_service.missing_methods():
            print(name)
        return 0

    config = server_config_from(values, given)
    if values["print-server-config"]:
        from google.protobuf import text_format  # pylint: disable=import-outside-toplevel
        sys.stdout.write(text_format.MessageToString(config))
        return 0
    channel_arguments = official_config.parse_channel_arguments(values["grpc_channel_arguments"])
    credentials = None
    if config.HasField("ssl_config"):
        import grpc  # pylint: disable=import-outside-toplevel
        credentials = official_config.ssl_server_credentials(config.ssl_config, grpc)

    host = values["host"] or "0.0.0.0"
    port = values["port"] if values["port"] >= 0 else values["grpc_port"]
    service = store_service.StoreService(
        config.connection_config, processes=values["store-processes"],
        delay_sec=values["delay-ms"] / 1000.0, log=stderr)
    try:
        service.start()
        service.create_schema(config.migration_options, values["metadata_store_connection_retries"])
        if service.stopped_before_serving():
            # SIGTERM or SIGINT during start-up: end before listening.
            return service.stopped_before_serving()
        return service.serve(host, port, credentials, channel_arguments,
                             max_workers=values["max-workers"], ready_file=values["ready-file"])
    finally:
        service.close()


if __name__ == "__main__":
    # Worker processes import this file as __mp_main__ and skip this.
    sys.exit(main())
