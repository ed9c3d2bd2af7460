"""The store side of every call, run in worker processes.

Mirrors ``ml_metadata/metadata_store/metadata_store_service_impl.cc``: each
call connects a new store (``ConnectMetadataStore``: ``CreateMetadataStore``
with default migration options, which creates the schema when the database
has none), runs the one method and drops the store, closing its connection.

Why processes: the official extension holds the GIL for the whole of every
call, so threads of one Python process would run the calls one at a time.
The official server runs concurrent calls on separate connections at the
same time; separate processes do too.
"""

import signal
from typing import Optional, Tuple

from ml_metadata.metadata_store.pywrap.metadata_store_extension import (
    metadata_store as extension,
)

import store_status

_PR_SET_PDEATHSIG = 1

# The serialized ConnectionConfig every call connects with (set by init).
_connection = b""


def init(connection: bytes) -> None:
    """Worker initializer. Ctrl-C is for the server process, which stops us;
    if the server dies outright, the kernel ends us too (Linux)."""
    global _connection
    _connection = connection
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes  # pylint: disable=import-outside-toplevel
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _connect(connection: bytes, migration: bytes):
    """CreateMetadataStore -> (store, None), or (None, (message, code))."""
    try:
        return extension.CreateMetadataStore(connection, migration), None
    except RuntimeError as err:
        message = str(err)
        return None, (message, store_status.code_of_creation_error(message))


def create_at_startup(connection: bytes, migration: bytes) -> Optional[Tuple[str, int]]:
    """The start-up store of the official main(): schema creation and
    migration with the configured options; None when it worked."""
    store, error = _connect(connection, migration)
    del store
    return error


def warm_up() -> str:
    """Loads the extension in this worker (so the first call does not)."""
    return extension.__name__


def call(method: str, request: bytes) -> Tuple[bytes, str, int, bool]:
    """One RPC: (response, message, status code, whether connecting failed)."""
    store, error = _connect(_connection, b"")
    if error is not None:
        return b"", error[0], error[1], True
    try:
        response, message, code = getattr(extension, method)(store, request)
    finally:
        del store
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return response, message, int(code), False
