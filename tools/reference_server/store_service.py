"""The gRPC side of the reference server.

Every method of ``ml_metadata.MetadataStoreService`` (as the wheel's service
descriptor lists them) gets a raw-bytes handler: the request bytes go to a
worker process (``store_worker.call``), which connects a store, runs the
extension function of the same name and returns the response bytes, the
store's message and its status code. absl and gRPC status codes have the
same numbers, so the code is passed on unchanged, as upstream's
``ToGRPCStatus`` does. A method the store has no function for answers
UNIMPLEMENTED with no message, as the generated base class of upstream's
``MetadataStoreServiceImpl`` does for the methods it does not override.
"""

import concurrent.futures
import json
import multiprocessing
import os
import signal
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, List, Optional, Tuple

import grpc

import ml_metadata
from ml_metadata.metadata_store.pywrap.metadata_store_extension import (
    metadata_store as extension,
)
from ml_metadata.proto import metadata_store_service_pb2

import official_config
import store_status
import store_worker

SERVICE_NAME = "MetadataStoreService"

# gRPC status codes keyed by their numeric value (the same numbers as absl).
_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def mlmd_version() -> str:
    return getattr(ml_metadata, "__version__", "unknown")


def service_descriptor():
    return metadata_store_service_pb2.DESCRIPTOR.services_by_name[SERVICE_NAME]


def missing_methods() -> List[str]:
    """Service methods for which the installed extension has no function."""
    return [m.name for m in service_descriptor().methods
            if not callable(getattr(extension, m.name, None))]


def status_for(number: int) -> grpc.StatusCode:
    return _STATUS_BY_NUMBER.get(int(number), grpc.StatusCode.UNKNOWN)


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


def tls_hint(credentials) -> str:
    """grpcio reports bad TLS material as a failure to bind: say which it may be."""
    return " (with TLS: is ssl_config's server_key/server_cert valid PEM of one key pair?)" if credentials is not None else ""


class StoreService:
    """Worker processes, the start-up store, and the gRPC server over them."""

    def __init__(self, connection_config, processes: int, delay_sec: float,
                 log: Callable[[str], None]):
        self._connection = connection_config.SerializeToString()
        self._processes = processes
        self._delay_sec = delay_sec
        self._log = log
        self._executor: Optional[concurrent.futures.ProcessPoolExecutor] = None
        self._broken: Optional[str] = None
        # Signals only append here: taking a lock in a handler (Event.set)
        # can deadlock when a second signal arrives while it is held.
        self._signals: List[int] = []
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        # Debug aid: `kill -USR1 <pid>` dumps every thread's stack to stderr.
        import faulthandler  # pylint: disable=import-outside-toplevel
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    def _request_stop(self, signum, frame):
        del frame
        self._signals.append(signum)

    def stopped_before_serving(self) -> int:
        """128 + the signal when SIGTERM or SIGINT came during start-up, else 0."""
        return 128 + self._signals[0] if self._signals else 0

    def start(self) -> None:
        """Starts every worker now, before gRPC runs any thread: a process
        started later would fork a process that runs gRPC's threads."""
        self._executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=store_worker.init, initargs=(self._connection,))
        # The pool starts a worker per submission while none is idle, so as
        # many quick submissions start them all.
        warm = [self._executor.submit(store_worker.warm_up) for _ in range(self._processes)]
        for future in warm:
            future.result()

    def create_schema(self, migration, retries: int) -> None:
        """main(): one store with the migration options, retried while it
        says ABORTED, then dropped; any other failure is a CHECK failure."""
        migration_bytes = migration.SerializeToString()
        attempt = lambda: self._executor.submit(  # noqa: E731
            store_worker.create_at_startup, self._connection, migration_bytes).result()
        error = attempt()
        for i in range(retries):
            if error is None or error[1] != store_status.ABORTED:
                break
            self._log(f"warning: Connection Aborted with error: ABORTED: {error[0]}")
            self._log(f"Retry attempt {i}")
            error = attempt()
        if error is not None:
            raise official_config.check_failed(
                "absl::OkStatus() == status",
                f"(OK vs. {store_status.name_of(error[1])}: {error[0]}) MetadataStore "
                "cannot be created with the given connection config.")

    def _wait_delay(self, context) -> bool:
        """Test aid: sleeps for the configured delay before serving a call.
        False if the call ended meanwhile; the store is then not called."""
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

    def _store_call(self, name: str):
        def handle(request: bytes, context):
            if not self._wait_delay(context):
                context.abort(grpc.StatusCode.CANCELLED,
                              f"{name}: the call ended during the server's artificial delay")
            try:
                response, message, code, connecting = self._executor.submit(
                    store_worker.call, name, request).result()
            except BrokenProcessPool as err:
                # The official server would have crashed with its store.
                self._broken = f"a store process died while serving {name}: {err}"
                context.abort(grpc.StatusCode.UNAVAILABLE, self._broken)
            if code != 0:
                if connecting:
                    self._log(f"warning: Failed to connect to the database: {message}")
                else:
                    self._log(f"warning: {name} failed: {message}")
                context.abort(status_for(code), message)
            return response
        return handle

    def _handlers(self):
        table = {}
        missing = set(missing_methods())
        for method in service_descriptor().methods:
            if method.client_streaming or method.server_streaming:
                raise official_config.Exit(
                    official_config.EXIT_ERROR,
                    f"{method.name} is a streaming method, which this server cannot serve")
            if method.name in missing:
                behaviour = lambda request, context: context.abort(  # noqa: E731
                    grpc.StatusCode.UNIMPLEMENTED, "")
            else:
                behaviour = self._store_call(method.name)
            # No (de)serializers: requests and responses stay raw bytes.
            table[method.name] = grpc.unary_unary_rpc_method_handler(
                behaviour, request_deserializer=None, response_serializer=None)
        return table

    def serve(self, host: str, port: int, credentials, channel_arguments: List[Tuple[str, object]],
              max_workers: int, ready_file: str) -> int:
        # grpc turns SO_REUSEPORT on, which would let a second server share
        # a taken port silently; off, a taken port is an error. A channel
        # argument naming it decides instead (gRPC keeps the first of two).
        defaults = [("grpc.so_reuseport", 0)]
        named = {key for key, _ in channel_arguments}
        server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=max_workers),
            options=channel_arguments + [d for d in defaults if d[0] not in named])
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            service_descriptor().full_name, self._handlers()),))
        bind = format_address(host, port)
        try:
            bound = (server.add_secure_port(bind, credentials) if credentials is not None
                     else server.add_insecure_port(bind))
        except (OSError, RuntimeError) as err:
            raise official_config.Exit(official_config.EXIT_ERROR, f"cannot listen on {bind}{tls_hint(credentials)}: {err}") from err
        if not bound:
            raise official_config.Exit(official_config.EXIT_ERROR, f"cannot listen on {bind}{tls_hint(credentials)}")
        if self._signals:
            server.stop(grace=0)
            return self.stopped_before_serving()
        server.start()
        if ready_file:
            write_ready_file(ready_file, {"port": bound, "pid": os.getpid(), "mlmd_version": mlmd_version()})
        print(f"Server listening on {format_address(host, bound)}", flush=True)
        while not self._signals and self._broken is None:
            time.sleep(0.1)
        server.stop(grace=2.0).wait()
        if self._broken is not None:
            self._log(f"error: {self._broken}")
            return 1
        return 0

    def close(self) -> None:
        if self._executor is not None:
            try:
                self._executor.shutdown(wait=True, cancel_futures=True)
            except TypeError:  # CPython 3.8 has no cancel_futures
                self._executor.shutdown(wait=True)
            self._executor = None
