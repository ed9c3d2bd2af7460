#!/usr/bin/env python3
"""Reference MLMD gRPC server for testing remote-only ml_metadata clients.

This program runs inside a venv where the *official* ``ml-metadata`` wheel
is installed. That wheel ships MLMD's C++ store as a pybind extension whose
functions are named after the ``ml_metadata.MetadataStoreService`` gRPC
methods: each one takes the store handle and a serialized request and
returns ``(response_bytes, error_message_bytes, status_code)``.

We expose every method of the service (as listed by the service descriptor
shipped in the wheel) through a generic gRPC handler that passes raw request
bytes to the extension function of the same name and hands its response
bytes, status code and message straight back to the caller. absl status
codes and gRPC status codes have the same numeric values, so the mapping is
one-to-one. Methods the extension does not implement answer UNIMPLEMENTED.

The store is backed by a SQLite file (opened READWRITE_OPENCREATE). A single
store handle is shared by all RPCs; the handle owns one database connection
with transaction state and is not safe for concurrent use, so every call
into it is serialized with a lock.

Run ``server.py --help`` for the flags. When the server is ready it prints
exactly one line to stdout::

    Server listening on <host>:<port>

and, if ``--ready-file`` is given, atomically writes a JSON file
``{"port": N, "pid": N, "mlmd_version": "X.Y.Z"}``.
"""

import argparse
import faulthandler
import json
import os
import signal
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

import ml_metadata
from ml_metadata.metadata_store.pywrap.metadata_store_extension import (
    metadata_store as metadata_store_serialized,
)
from ml_metadata.proto import metadata_store_pb2
from ml_metadata.proto import metadata_store_service_pb2

SERVICE_NAME = "MetadataStoreService"

# gRPC status codes keyed by their numeric value (same numbers as absl).
_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def mlmd_version() -> str:
    return getattr(ml_metadata, "__version__", "unknown")


def service_descriptor():
    return metadata_store_service_pb2.DESCRIPTOR.services_by_name[SERVICE_NAME]


def service_method_names():
    return [m.name for m in service_descriptor().methods]


def missing_methods():
    """Service methods for which the installed extension has no function."""
    return [
        name
        for name in service_method_names()
        if not callable(getattr(metadata_store_serialized, name, None))
    ]


def status_for(number: int) -> grpc.StatusCode:
    return _STATUS_BY_NUMBER.get(int(number), grpc.StatusCode.UNKNOWN)


def sqlite_config(db_path: str):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = db_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def server_config_file(path: str):
    """(ConnectionConfig, MigrationOptions) from a text-format
    MetadataStoreServerConfig, as the official server reads it. An empty path
    means what it means there: an in-memory database that keeps nothing."""
    from google.protobuf import text_format  # pylint: disable=import-outside-toplevel
    server_config = metadata_store_pb2.MetadataStoreServerConfig()
    if path:
        with open(path, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), server_config)
    if not server_config.HasField("connection_config"):
        print("warning: no connection_config: using an in-memory database "
              "(fake_database), which keeps nothing between calls",
              file=sys.stderr)
        server_config.connection_config.fake_database.SetInParent()
    return server_config.connection_config, server_config.migration_options


def open_store(config, migration):
    return metadata_store_serialized.CreateMetadataStore(
        config.SerializeToString(), migration.SerializeToString()
    )


class StoreDispatcher:
    """Builds one raw-bytes gRPC handler per service method."""

    def __init__(self, store, delay_sec: float = 0.0):
        self._store = store
        self._lock = threading.Lock()
        self._delay_sec = delay_sec

    def _wait_delay(self, context) -> bool:
        """Test aid: sleeps for the configured delay before serving a call.

        Returns False if the RPC ended (deadline passed or cancelled) while
        waiting; the store is then not called at all, so a call the client
        gave up on has no side effect.
        """
        if self._delay_sec <= 0:
            return True
        end = time.monotonic() + self._delay_sec
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return context.is_active()
            if not context.is_active():
                return False
            time.sleep(min(left, 0.02))

    def _make_store_call(self, name, function):
        def handle(request: bytes, context):
            if not self._wait_delay(context):
                context.abort(
                    grpc.StatusCode.CANCELLED,
                    f"{name}: the call ended during the server's artificial delay",
                )
            with self._lock:
                response, message, code = function(self._store, request)
            if code != 0:
                if isinstance(message, bytes):
                    message = message.decode("utf-8", "replace")
                context.abort(status_for(code), message)
            return response

        return handle

    @staticmethod
    def _make_unimplemented(name, why):
        def handle(request: bytes, context):
            del request
            context.abort(grpc.StatusCode.UNIMPLEMENTED, why)

        return handle

    def handlers(self):
        table = {}
        for method in service_descriptor().methods:
            name = method.name
            function = getattr(metadata_store_serialized, name, None)
            if method.client_streaming or method.server_streaming:
                behaviour = self._make_unimplemented(
                    name, f"{name} is a streaming method; this reference server "
                    "serves unary methods only")
            elif not callable(function):
                behaviour = self._make_unimplemented(
                    name,
                    f"{name} is not implemented by the MLMD store of "
                    f"ml-metadata {mlmd_version()} (its extension has no such "
                    "function)",
                )
            else:
                behaviour = self._make_store_call(name, function)
            # No (de)serializers: the request and response stay raw bytes.
            table[name] = grpc.unary_unary_rpc_method_handler(
                behaviour, request_deserializer=None, response_serializer=None
            )
        return table


def format_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def write_ready_file(path: str, payload: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ready-", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_file_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Serve MLMD's C++ store (from the official ml-metadata "
        "wheel) over gRPC, backed by a SQLite file."
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0,
                        help="port to bind; 0 picks a free port (default: 0)")
    parser.add_argument("--db", help="SQLite database file (created if missing)")
    # The official metadata_store_server's own flags, so this program can stand
    # in for it in a container started the way the official image is.
    parser.add_argument("--grpc_port", type=int,
                        help="as the official server: listen on 0.0.0.0:PORT")
    parser.add_argument("--metadata_store_server_config_file",
                        help="as the official server: a text-format "
                        "MetadataStoreServerConfig (empty: in-memory database)")
    parser.add_argument("--ready-file",
                        help="write {port, pid, mlmd_version} JSON here, "
                        "atomically, once serving")
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve TLS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--tls-client-ca",
                        help="PEM CA bundle: require and verify client "
                        "certificates (mutual TLS); needs --tls-cert")
    parser.add_argument("--delay-ms", type=int, default=0,
                        help="test aid: wait this long before serving each "
                        "call, so client timeouts can be exercised")
    parser.add_argument("--max-workers", type=int, default=16,
                        help="gRPC worker threads (default: 16)")
    parser.add_argument("--enable-upgrade-migration", action="store_true",
                        help="upgrade an older database schema on open")
    parser.add_argument("--require-mlmd-version",
                        help="exit with an error unless the installed "
                        "ml-metadata has exactly this version")
    parser.add_argument("--list-missing-methods", action="store_true",
                        help="print the service methods the installed "
                        "extension lacks (one per line) and exit")
    args = parser.parse_args(argv)
    official = (args.grpc_port is not None
                or args.metadata_store_server_config_file is not None)
    if official:
        if args.db:
            parser.error("--db and --metadata_store_server_config_file "
                         "exclude each other")
        if args.grpc_port is not None:
            if args.grpc_port <= 0:
                parser.error("--grpc_port must be > 0")
            args.port = args.grpc_port
            args.host = "0.0.0.0"
    elif not args.list_missing_methods and not args.db:
        parser.error("--db is required")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        parser.error("--tls-client-ca needs --tls-cert/--tls-key")
    if args.delay_ms < 0:
        parser.error("--delay-ms must be >= 0")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be in 0..65535")
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    if args.require_mlmd_version and args.require_mlmd_version != mlmd_version():
        print(f"error: ml-metadata {mlmd_version()} is installed, "
              f"{args.require_mlmd_version} was required", file=sys.stderr)
        return 2

    if args.list_missing_methods:
        for name in missing_methods():
            print(name)
        return 0

    # The handler only records the signal: taking a lock here (e.g. with
    # threading.Event.set) can deadlock when a second signal arrives while the
    # main thread holds that lock.
    received = []

    def request_stop(signum, frame):
        del frame
        received.append(signum)

    # Debug aid: `kill -USR1 <pid>` dumps every thread's stack to stderr.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    credentials = None
    if args.tls_cert:
        try:
            client_ca = (read_file_bytes(args.tls_client_ca)
                         if args.tls_client_ca else None)
            credentials = grpc.ssl_server_credentials(
                [(read_file_bytes(args.tls_key), read_file_bytes(args.tls_cert))],
                root_certificates=client_ca,
                require_client_auth=client_ca is not None,
            )
        except OSError as err:
            print(f"error: cannot read TLS files: {err}", file=sys.stderr)
            return 2

    try:
        if args.db:
            migration = metadata_store_pb2.MigrationOptions()
            connection = sqlite_config(args.db)
        else:
            connection, migration = server_config_file(
                args.metadata_store_server_config_file or "")
        migration.enable_upgrade_migration |= args.enable_upgrade_migration
        store = open_store(connection, migration)
    except (RuntimeError, OSError) as err:
        where = args.db or args.metadata_store_server_config_file or "memory"
        print(f"error: cannot open the MLMD store ({where}): {err}",
              file=sys.stderr)
        return 2

    dispatcher = StoreDispatcher(store, delay_sec=args.delay_ms / 1000.0)
    # grpc enables SO_REUSEPORT by default, which would let a second server
    # silently share a fixed --port; turn it off so a taken port is an error.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.max_workers),
        options=[("grpc.so_reuseport", 0)],
    )
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(
            service_descriptor().full_name, dispatcher.handlers()),
    ))

    bind = format_address(args.host, args.port)
    try:
        if credentials is not None:
            port = server.add_secure_port(bind, credentials)
        else:
            port = server.add_insecure_port(bind)
    except (OSError, RuntimeError) as err:
        print(f"error: cannot bind {bind}: {err}", file=sys.stderr)
        return 2
    if not port:
        print(f"error: cannot bind {bind}", file=sys.stderr)
        return 2

    server.start()
    if args.ready_file:
        write_ready_file(args.ready_file, {
            "port": port,
            "pid": os.getpid(),
            "mlmd_version": mlmd_version(),
        })
    sys.stdout.write(f"Server listening on {format_address(args.host, port)}\n")
    sys.stdout.flush()

    while not received:
        time.sleep(0.1)
    server.stop(grace=2.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
