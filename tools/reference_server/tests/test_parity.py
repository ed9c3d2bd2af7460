"""The reference server behaves as the official metadata_store_server.

Each test proves one row of the parity table in ../README.md; the upstream
function it mirrors is named in the test's docstring. The tests talk to the
server the way clients do: the official ml-metadata client, raw gRPC stubs,
the process's exit status and its stderr.
"""

import os
import re
import signal
import socket
import sqlite3
import sys
import threading
from pathlib import Path

import grpc
import pytest

from conftest import SERVER, free_port

sys.path.insert(0, str(SERVER.parent))
import flags  # noqa: E402  (ours, beside server.py)
import official_config  # noqa: E402
import store_status  # noqa: E402

from ml_metadata import errors  # noqa: E402
from ml_metadata.metadata_store import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2 as pb  # noqa: E402
from ml_metadata.proto import metadata_store_service_pb2 as svc  # noqa: E402
from ml_metadata.proto import metadata_store_service_pb2_grpc as svc_grpc  # noqa: E402

CALL_TIMEOUT = 30
ABORT = 134  # 128 + SIGABRT: what a failed CHECK leaves


def sqlite_config(path: str, extra: str = "") -> str:
    return (f"connection_config {{ sqlite {{ filename_uri: '{path}' "
            f"connection_mode: READWRITE_OPENCREATE }} }}\n{extra}")


def write_config(server, text: str, name: str = "server_config.pbtxt") -> str:
    server.host_path(name).write_text(text)
    return server.path(name)


def client(server, **fields):
    return metadata_store.MetadataStore(pb.MetadataStoreClientConfig(
        host="127.0.0.1", port=server.port, client_timeout_sec=CALL_TIMEOUT, **fields))


def stub(server, credentials=None):
    channel = (grpc.secure_channel(server.address, credentials) if credentials
               else grpc.insecure_channel(server.address))
    return channel, svc_grpc.MetadataStoreServiceStub(channel)


def raw_call(server, method: str, request, credentials=None):
    """(status code, details) of one call, without the client's retries."""
    channel, service = stub(server, credentials)
    try:
        getattr(service, method)(request, timeout=CALL_TIMEOUT)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as err:
        return err.code(), err.details()
    finally:
        channel.close()


def artifact_type_names(store):
    return sorted(t.name for t in store.get_artifact_types())


# ---------------------------------------------------------------------------
# Flags (metadata_store_server_main.cc: DEFINE_*, gflags)

DEFINE = re.compile(r'DEFINE_(int32|int64|bool|string)\(\s*(\w+),\s*("(?:[^"\\]|\\.)*"|[^,]+?)\s*,', re.S)


def test_official_flags_match_upstream_source(upstream_source):
    """Every DEFINE_* flag of metadata_store_server_main.cc, with its type and
    default, and no other official flag."""
    source = (upstream_source / "ml_metadata/metadata_store/metadata_store_server_main.cc").read_text()
    want = {}
    for kind, name, default in DEFINE.findall(source):
        if kind == "string":
            value = default.strip('"')
        elif kind == "bool":
            value = default == "true"
        else:
            value = int(default)
        want[name] = (kind, value)
    assert len(want) >= 25, f"parsed only {len(want)} flags from upstream's source"
    ours = {f.name: (f.kind, f.default) for f in official_config.OFFICIAL_FLAGS}
    assert ours == want


def test_gflags_syntax(server):
    """gflags: unknown flags and values that do not parse end with status 1;
    --name value, -name=value and --noname are accepted."""
    status, _, err = server("--bogus=1").run()
    assert (status, err.strip()) == (1, "ERROR: unknown command line flag 'bogus'")
    status, _, err = server("--grpc_port=eighty").run()
    assert status == 1 and "illegal value 'eighty' specified for int32 flag 'grpc_port'" in err
    status, _, err = server("-grpc_port", "0").run()
    assert status == 255 and "grpc_port is invalid: 0" in err
    status, out, _ = server("--nopostgres_config_skip_db_creation", "--logtostderr", "--v=2",
                            "--print-server-config").run()
    assert status == 0 and "fake_database" in out


def test_flag_parser_forms():
    table = [flags.Flag("n", "int32", 1, ""), flags.Flag("b", "bool", False, ""),
             flags.Flag("s", "string", "", "")]
    parsed = flags.parse(table, ["--n", "0x10", "-b=yes", "--s=a=b", "rest"])
    assert parsed.values == {"n": 16, "b": True, "s": "a=b"}
    assert parsed.positional == ["rest"] and parsed.given == {"n", "b", "s"}
    assert flags.parse(table, ["--nob"]).values["b"] is False
    assert flags.parse(table, ["--n= 5"]).values["n"] == 5  # strtol skips leading space
    for bad in (["--n=1_000"], ["--n=99999999999"], ["--b=maybe"], ["--n"], ["--n=\u0663"], ["--n=-0x10"], ["---n=1"]):
        with pytest.raises(flags.FlagError):
            flags.parse(table, bad)


@pytest.mark.parametrize("port", ["0", "-5"])
def test_bad_port_ends_before_listening(server, port):
    """main(): grpc_port <= 0 is LOG(ERROR) and return -1 (status 255)."""
    status, out, err = server(f"--grpc_port={port}").run()
    assert status == 255 and f"grpc_port is invalid: {port}" in err and out == ""


def test_unknown_source_type(server):
    """ConvertToSourceConfig: anything but default, config_file, mysql, postgresql."""
    status, out, err = server("--metadata_source_config_type=sqlite").run()
    assert status == 255 and out == ""
    assert "provide value in one of the followings: default, config_file, mysql, postgresql" in err


def test_config_file_source_needs_a_readable_config(server):
    """BuildFileBasedConnectionConfig: a missing or unparsable file is an error."""
    status, _, err = server("--metadata_source_config_type=config_file",
                            "--metadata_store_server_config_file=/nonexistent/config.pbtxt").run()
    assert status == 255 and "Unable to construct server config using config file." in err
    assert "/nonexistent/config.pbtxt" in err
    bad = server("--metadata_source_config_type=config_file")
    bad.args.append(f"--metadata_store_server_config_file={write_config(bad, 'connection_config { nonsense: 1 }')}")
    status, _, err = bad.run()
    assert status == 255 and "is not a text-format MetadataStoreServerConfig" in err


def test_default_source_order(server):
    """BuildDefaultConnectionConfig: the config file, else complete mysql
    flags, else an in-memory database with a warning, also when the named
    file cannot be read."""
    first = server()
    first.args += [f"--metadata_store_server_config_file={write_config(first, sqlite_config('/x.db'))}",
                   "--mysql_config_host=db", "--mysql_config_port=3306", "--mysql_config_database=m",
                   "--print-server-config"]
    status, out, _ = first.run()
    assert status == 0 and "sqlite" in out and "mysql" not in out
    status, out, _ = server("--mysql_config_host=db", "--mysql_config_port=3306",
                            "--mysql_config_database=m", "--print-server-config").run()
    assert status == 0 and 'host: "db"' in out and "port: 3306" in out
    status, out, err = server("--metadata_store_server_config_file=/nonexistent/config.pbtxt",
                              "--print-server-config").run()
    assert status == 0 and "fake_database" in out
    assert "Using in memory fake database" in err and "/nonexistent/config.pbtxt" in err


def test_mysql_flags(server):
    """ParseMySQLFlagsBasedServerConfigOrDie: all of host, port and database,
    or a CHECK failure; user, password and the migration flags."""
    status, out, err = server("--mysql_config_host=db").run()
    assert status == ABORT and out == ""
    assert "Check failed" in err and "all of --mysql_config_host, --mysql_config_port" in err
    status, out, _ = server("--metadata_source_config_type=mysql", "--mysql_config_host=db",
                            "--mysql_config_port=3306", "--mysql_config_database=mlmd",
                            "--mysql_config_user=u", "--mysql_config_password=p",
                            "--enable_database_upgrade", "--print-server-config").run()
    assert status == 0
    assert re.search(r'mysql \{\s*host: "db"\s*port: 3306\s*database: "mlmd"\s*user: "u"\s*password: "p"', out)
    assert "enable_upgrade_migration: true" in out
    status, _, err = server("--metadata_source_config_type=mysql", "--mysql_config_host=db",
                            "--mysql_config_port=3306", "--mysql_config_database=mlmd",
                            "--enable_database_upgrade", "--downgrade_db_schema_version=3").run()
    assert status == ABORT and "cannot be set together" in err
    status, _, err = server("--metadata_source_config_type=mysql").run()
    assert status == 255 and "Unable to construct server config" in err


def test_postgresql_flags(server):
    """CheckPostgreSQLConfig and ParsePostgreSQLFlagsBasedServerConfigOrDie."""
    pg = "--metadata_source_config_type=postgresql"
    cases = [
        ((), "exactly one of postgres_config_host or postgres_config_hostaddr must be specified"),
        (("--postgres_config_host=h", "--postgres_config_hostaddr=127.0.0.1"), "exactly one of"),
        (("--postgres_config_host=h",), "postgres_config_port must not be empty"),
        (("--postgres_config_host=h", "--postgres_config_port=5432"), "postgres_config_dbname must not be empty"),
        (("--postgres_config_host=h", "--postgres_config_port=5432", "--postgres_config_dbname=d"),
         "postgres_config_user parameter must not be empty"),
    ]
    for args, message in cases:
        status, out, err = server(pg, *args).run()
        assert status == 255 and out == "" and message in err, (args, err)
        assert "Unable to construct server config using postgresql flags." in err
    status, out, _ = server(pg, "--postgres_config_hostaddr=127.0.0.1", "--postgres_config_port=5432",
                            "--postgres_config_dbname=d", "--postgres_config_user=u",
                            "--postgres_config_password=p", "--postgres_config_skip_db_creation",
                            "--postgres_config_sslmode=verify-ca", "--postgres_config_sslrootcert=/ca.pem",
                            "--downgrade_db_schema_version=5", "--print-server-config").run()
    assert status == 0
    for field in ('hostaddr: "127.0.0.1"', 'port: "5432"', 'user: "u"', 'password: "p"', 'dbname: "d"',
                  "skip_db_creation: true", 'sslmode: "verify-ca"', 'sslrootcert: "/ca.pem"',
                  "downgrade_to_schema_version: 5"):
        assert field in out, (field, out)
    assert "host:" not in out.replace("hostaddr:", "")


def test_migration_flags_do_not_apply_to_a_config_file(server):
    """The migration flags are read only with the mysql and postgresql flags;
    a config file brings its own migration_options."""
    s = server("--enable_database_upgrade", "--print-server-config")
    s.args.append(f"--metadata_store_server_config_file={write_config(s, sqlite_config('/x.db'))}")
    status, out, _ = s.run()
    assert status == 0 and "migration_options" not in out


# ---------------------------------------------------------------------------
# Start-up (main: CreateMetadataStore with migration options, retry, CHECK)

def test_startup_store_failure_aborts_before_listening(server):
    """main(): CHECK_EQ(OkStatus(), status) when the store cannot be created."""
    s = server()
    s.args.append(f"--metadata_store_server_config_file={write_config(s, sqlite_config(s.path('missing-dir/m.db')))}")
    status, out, err = s.run()
    assert status == ABORT and "Server listening" not in out
    assert "MetadataStore cannot be created with the given connection config." in err
    assert "INTERNAL: Cannot connect sqlite3 database" in err


@pytest.mark.parametrize("retries", [0, 3])
def test_startup_retries_only_aborted(server, retries):
    """main(): the store is created again while it says ABORTED, up to
    --metadata_store_connection_retries times. An MLMDEnv table without a
    schema version is ABORTED (QueryConfigExecutor::GetSchemaVersion)."""
    s = server(f"--metadata_store_connection_retries={retries}")
    db = s.host_path("half.db")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE MLMDEnv (schema_version INTEGER PRIMARY KEY)")
    s.args.append(f"--metadata_store_server_config_file={write_config(s, sqlite_config(s.path('half.db')))}")
    status, _, err = s.run()
    assert status == ABORT
    assert "(OK vs. ABORTED: In the given db, MLMDEnv table exists but no schema_version" in err
    assert re.findall(r"^Retry attempt (\d+)$", err, re.M) == [str(i) for i in range(retries)]


def test_migration_happens_at_startup_only(server):
    """main() creates the store with the config's migration_options;
    ConnectMetadataStore (every call) uses none, so an old schema fails calls."""
    first = server()
    first.args.append(f"--metadata_store_server_config_file={write_config(first, sqlite_config(first.path('m.db')))}")
    first.start()
    client(first).put_artifact_type(pb.ArtifactType(name="before"))
    # A second server downgrades the same file: upstream returns CANCELLED
    # after a downgrade, so its start-up CHECK fails, as upstream's does.
    second = server(name="downgrade")
    os.link(first.host_path("m.db"), second.host_path("m.db"))
    second.args.append("--metadata_store_server_config_file=" + write_config(
        second, sqlite_config(second.path("m.db"), "migration_options { downgrade_to_schema_version: 6 }")))
    status, _, err = second.run()
    assert status == ABORT and "(OK vs. CANCELLED: Downgrade migration was performed." in err
    # The first server's calls now connect to a schema older than the library's.
    code, details = raw_call(first, "GetArtifactTypes", svc.GetArtifactTypesRequest())
    assert code == grpc.StatusCode.FAILED_PRECONDITION, (code, details)
    assert re.match(r"MLMD database version 6 is older than library version \d+\. Schema migration is disabled", details)
    assert "Failed to connect to the database" in first.errors()
    first.stop()
    # Without an upgrade the server does not start; with one it serves the old data.
    third = server(name="no-upgrade")
    os.link(first.host_path("m.db"), third.host_path("m.db"))
    third.args.append(f"--metadata_store_server_config_file={write_config(third, sqlite_config(third.path('m.db')))}")
    status, _, err = third.run()
    assert status == ABORT and "(OK vs. FAILED_PRECONDITION: MLMD database version 6 is older" in err
    fourth = server(name="upgrade")
    os.link(first.host_path("m.db"), fourth.host_path("m.db"))
    fourth.args.append("--metadata_store_server_config_file=" + write_config(
        fourth, sqlite_config(fourth.path("m.db"), "migration_options { enable_upgrade_migration: true }")))
    fourth.start()
    assert artifact_type_names(client(fourth)) == ["before"]


# ---------------------------------------------------------------------------
# Serving (metadata_store_service_impl.cc: ConnectMetadataStore per call)

def test_every_call_connects_anew(server):
    """A deleted SQLite file is a new, empty database at the next call."""
    s = server()
    s.args = ["--db", s.path("m.db")]
    s.start()
    store = client(s)
    first = store.put_artifact_type(pb.ArtifactType(name="a"))
    assert artifact_type_names(store) == ["a"]
    s.host_path("m.db").unlink()
    assert artifact_type_names(store) == []
    assert store.put_artifact_type(pb.ArtifactType(name="b")) == first
    assert artifact_type_names(store) == ["b"]


def test_connection_failure_is_the_calls_status(server):
    """ConnectMetadataStore's status is the call's (ToGRPCStatus); the
    server goes on and serves once the database can be opened again."""
    s = server()
    s.host_path("dir").mkdir()
    s.args = ["--db", s.path("dir/m.db")]
    s.start()
    store = client(s)
    store.put_artifact_type(pb.ArtifactType(name="a"))
    for name in os.listdir(s.host_path("dir")):
        (s.host_path("dir") / name).unlink()
    s.host_path("dir").rmdir()
    code, details = raw_call(s, "GetArtifactTypes", svc.GetArtifactTypesRequest())
    assert code == grpc.StatusCode.INTERNAL
    assert details.startswith("Cannot connect sqlite3 database: unable to open database file")
    s.host_path("dir").mkdir()
    assert artifact_type_names(store) == []


def test_fake_database_keeps_nothing(server):
    """No config: BuildDefaultConnectionConfig's fake_database, a new
    in-memory database for every call."""
    s = server().start()
    store = client(s)
    store.put_artifact_type(pb.ArtifactType(name="gone"))
    assert artifact_type_names(store) == []
    with pytest.raises(errors.NotFoundError):
        store.get_artifact_type("gone")
    assert "Using in memory fake database" in s.errors()


def test_store_errors_pass_through(server):
    """ToGRPCStatus: the store's code and message, unchanged."""
    s = server()
    s.args = ["--db", s.path("m.db")]
    s.start()
    code, details = raw_call(s, "GetArtifactType", svc.GetArtifactTypeRequest(type_name="nope"))
    assert code == grpc.StatusCode.NOT_FOUND and "nope" in details
    code, details = raw_call(s, "PutArtifactType", svc.PutArtifactTypeRequest())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details


def test_locked_database_gives_the_stores_aborted(server):
    """Calls run on connections of their own, so another connection's write
    lock holds up their writes; after the busy handler's retries the store
    says ABORTED (SqliteMetadataSource::RunStatement)."""
    s = server()
    s.args = ["--db", s.path("m.db")]
    s.start()
    client(s).put_artifact_type(pb.ArtifactType(name="a"))
    lock = sqlite3.connect(s.host_path("m.db"), isolation_level=None, timeout=0)
    try:
        lock.execute("BEGIN IMMEDIATE")
        code, details = raw_call(s, "PutArtifactType", svc.PutArtifactTypeRequest(
            artifact_type=pb.ArtifactType(name="b")))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert code == grpc.StatusCode.ABORTED
    assert details.endswith("Concurrent writes aborted after max number of retries.")


@pytest.mark.parametrize("processes", [1, 4])
def test_concurrent_writes_all_land(server, processes):
    """Threads of several clients writing at once: every write is there,
    also when more calls arrive than --store-processes serve at once."""
    s = server(f"--store-processes={processes}")
    s.args += ["--db", s.path("m.db")]
    s.start()
    type_id = client(s).put_artifact_type(pb.ArtifactType(name="t"))
    failures = []

    def write(n):
        store = client(s)
        try:
            for i in range(10):
                store.put_artifacts([pb.Artifact(type_id=type_id, uri=f"mem://{n}/{i}")])
        except Exception as err:  # pylint: disable=broad-except
            failures.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and failures == []
    uris = sorted(a.uri for a in client(s).get_artifacts())
    assert uris == sorted(f"mem://{n}/{i}" for n in range(8) for i in range(10))


def unimplemented_in_source(upstream_source: Path):
    impl = (upstream_source / "ml_metadata/metadata_store/metadata_store_service_impl.cc").read_text()
    proto = (upstream_source / "ml_metadata/proto/metadata_store_service.proto").read_text()
    defined = set(re.findall(r"^::grpc::Status MetadataStoreServiceImpl::(\w+)\(", impl, re.M))
    declared = set(re.findall(r"^\s*rpc (\w+)\(", proto, re.M))
    assert len(declared) >= 40 and defined <= declared
    return sorted(declared - defined)


def test_unimplemented_methods_are_upstreams(server, upstream_source):
    """The methods MetadataStoreServiceImpl does not override answer
    UNIMPLEMENTED with no message (the generated base class)."""
    missing = unimplemented_in_source(upstream_source)
    status, out, _ = server("--list-missing-methods").run()
    assert status == 0 and sorted(out.split()) == missing
    s = server().start()
    for name in missing:
        code, details = raw_call(s, name, getattr(svc, f"{name}Request")())
        assert (code, details) == (grpc.StatusCode.UNIMPLEMENTED, ""), name


# ---------------------------------------------------------------------------
# Listening, TLS and channel arguments

def test_listens_on_all_addresses_at_grpc_port(server):
    """main(): 0.0.0.0:<grpc_port>; the line clients wait for."""
    port = free_port()
    s = server(f"--grpc_port={port}").start()
    assert s.port == port and s.ready_line() == f"Server listening on 0.0.0.0:{port}"
    assert artifact_type_names(client(s)) == []


def tls_dir() -> Path:
    path = os.environ.get("MLMD_PARITY_TLS_DIR")
    if not path:
        pytest.fail("MLMD_PARITY_TLS_DIR is not set (a CA, server and client certificates)")
    return Path(path)


def tls_config(server, client_verify: bool) -> str:
    d = tls_dir()
    pem = lambda name: (d / name).read_text().replace("\n", "\\n")  # noqa: E731
    ssl = f"ssl_config {{ server_key: \"{pem('server.key')}\" server_cert: \"{pem('server.pem')}\""
    if client_verify:
        ssl += f" custom_ca: \"{pem('ca.pem')}\" client_verify: true"
    return write_config(server, sqlite_config(server.path("m.db"), ssl + " }\n"))


def tls_credentials(with_client_cert: bool):
    d = tls_dir()
    return grpc.ssl_channel_credentials(
        root_certificates=(d / "ca.pem").read_bytes(),
        private_key=(d / "client.key").read_bytes() if with_client_cert else None,
        certificate_chain=(d / "client.pem").read_bytes() if with_client_cert else None)


def tls_server(server, client_verify: bool):
    s = server()
    s.args = [f"--metadata_store_server_config_file={tls_config(s, client_verify)}"]
    return s.start()


def test_ssl_config_serves_tls(server):
    """BuildSslServerCredentials: server_key and server_cert, no client certificates asked."""
    s = tls_server(server, client_verify=False)
    request = svc.GetArtifactTypesRequest()
    assert raw_call(s, "GetArtifactTypes", request, tls_credentials(False))[0] == grpc.StatusCode.OK
    assert raw_call(s, "GetArtifactTypes", request)[0] == grpc.StatusCode.UNAVAILABLE


def test_ssl_config_client_verify(server):
    """custom_ca and client_verify: client certificates required and verified."""
    s = tls_server(server, client_verify=True)
    request = svc.GetArtifactTypesRequest()
    assert raw_call(s, "GetArtifactTypes", request, tls_credentials(True))[0] == grpc.StatusCode.OK
    assert raw_call(s, "GetArtifactTypes", request, tls_credentials(False))[0] == grpc.StatusCode.UNAVAILABLE


def test_channel_arguments_reach_grpc(server):
    """AddGrpcChannelArgs: k=v items, empty ones skipped, ints as ints."""
    s = server("--grpc_channel_arguments=grpc.max_receive_message_length=200,,grpc.primary_user_agent=x")
    s.args += ["--db", s.path("m.db")]
    s.start()
    store = client(s)
    store.put_artifact_type(pb.ArtifactType(name="small"))
    with pytest.raises(errors.ResourceExhaustedError):
        store.put_artifact_type(pb.ArtifactType(name="x" * 500))


def test_channel_arguments_are_narrowed_to_int_as_upstream(server):
    """ServerBuilder::AddChannelArgument takes a C int: 2**32 + 200 is 200."""
    s = server(f"--grpc_channel_arguments=grpc.max_receive_message_length={2 ** 32 + 200}")
    s.args += ["--db", s.path("m.db")]
    s.start()
    with pytest.raises(errors.ResourceExhaustedError):
        client(s).put_artifact_type(pb.ArtifactType(name="x" * 500))


def test_so_reuseport_is_off_unless_a_channel_argument_turns_it_on(server):
    """Ours: a second server on a taken port fails; with grpc.so_reuseport=1
    on both (gRPC's own default), they share it, as the official ones do."""
    port = free_port()
    first = server("--host", "127.0.0.1", f"--grpc_port={port}", name="first").start()
    status, _, err = server("--host", "127.0.0.1", f"--grpc_port={port}", name="second").run()
    assert status == 255 and "cannot listen on" in err
    first.stop()
    shared = "--grpc_channel_arguments=grpc.so_reuseport=1"
    server(shared, "--host", "127.0.0.1", f"--grpc_port={port}", name="third").start()
    server(shared, "--host", "127.0.0.1", f"--grpc_port={port}", name="fourth").start()


def test_channel_arguments_without_value(server):
    """An item without '=' (undefined behaviour upstream) is a clear error."""
    status, out, err = server("--grpc_channel_arguments=grpc.keepalive_time_ms").run()
    assert status == 255 and out == "" and "'grpc.keepalive_time_ms' is not key=value" in err


# ---------------------------------------------------------------------------
# Where it differs (README: "Where it differs, and why")

def test_port_taken_is_an_error(server):
    """Upstream's BuildAndStart fails and it crashes; here: status 255."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, out, err = server("--host", "127.0.0.1", f"--grpc_port={port}").run()
    assert status == 255 and "Server listening" not in out and f"cannot listen on 127.0.0.1:{port}" in err


def test_ssl_config_that_cannot_serve(server):
    """No key or certificate, or client_verify without custom_ca: status 255."""
    d = tls_dir()
    cert = (d / "server.pem").read_text().replace("\n", "\\n")
    key = (d / "server.key").read_text().replace("\n", "\\n")
    for ssl, message in ((f'ssl_config {{ server_cert: "{cert}" }}', "ssl_config needs server_key and server_cert"),
                         (f'ssl_config {{ server_cert: "{cert}" server_key: "{key}" client_verify: true }}',
                          "ssl_config.client_verify needs custom_ca")):
        s = server()
        s.args = [f"--metadata_store_server_config_file={write_config(s, sqlite_config(s.path('m.db'), ssl))}"]
        status, out, err = s.run()
        assert status == 255 and out == "" and message in err


def test_checks_come_before_the_startup_store(server):
    """Bad channel arguments end the process before any store is created."""
    s = server("--grpc_channel_arguments=oops")
    s.args.append(f"--metadata_store_server_config_file={write_config(s, sqlite_config(s.path('missing/m.db')))}")
    status, _, err = s.run()
    assert status == 255 and "'oops' is not key=value" in err and "Check failed" not in err


def test_unparsable_request_bytes(server):
    """The extension parses the request: INVALID_ARGUMENT "Could not parse proto"."""
    s = server().start()
    channel = grpc.insecure_channel(s.address)
    try:
        call = channel.unary_unary("/ml_metadata.MetadataStoreService/GetArtifactTypes")
        with pytest.raises(grpc.RpcError) as raised:
            call(b"\xff\xff\xff", timeout=CALL_TIMEOUT)
    finally:
        channel.close()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "Could not parse proto"


def test_failed_calls_are_logged(server):
    """As upstream's LOG(WARNING) "<method> failed: ..." (as a plain line)."""
    s = server()
    s.args = ["--db", s.path("m.db")]
    s.start()
    raw_call(s, "GetArtifactType", svc.GetArtifactTypeRequest(type_name="nope"))
    assert re.search(r"^warning: GetArtifactType failed: .*nope", s.errors(), re.M)


def test_help_lists_every_official_flag(server):
    status, out, _ = server("--help").run()
    assert status == 0
    for flag in official_config.OFFICIAL_FLAGS:
        assert f"--{flag.name}" in out


# ---------------------------------------------------------------------------
# Ours: test aids and how the process ends

def test_sigterm_stops_gracefully(server):
    """Ours: SIGTERM or SIGINT stop the server with status 0 (upstream's
    binary dies of the signal)."""
    s = server().start()
    os.kill(s.pid, signal.SIGTERM)
    assert s.process.wait(timeout=30) == 0


def test_stop_during_startup_ends_before_listening(server):
    """Ours: SIGTERM before the server listens ends it (128 + 15), with no
    ready line; the official binary dies of the signal."""
    s = server()
    s._popen(["--db", s.path("m.db"), "--host", "127.0.0.1", "--port", "0"])
    s.process.send_signal(signal.SIGTERM)
    assert s.process.wait(timeout=60) in (143, -signal.SIGTERM)
    assert "Server listening" not in s.stdout.read_text()


def test_unknown_methods_are_unimplemented(server):
    """Both say UNIMPLEMENTED; grpcio's message is "Method not found!" where
    the C++ server's is empty."""
    s = server().start()
    channel = grpc.insecure_channel(s.address)
    try:
        with pytest.raises(grpc.RpcError) as raised:
            channel.unary_unary("/ml_metadata.MetadataStoreService/NoSuchMethod")(b"", timeout=CALL_TIMEOUT)
    finally:
        channel.close()
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def store_processes(pid: int):
    """The server's worker processes (multiprocessing's spawned children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and "spawn_main" in cmdline:
            found.append(int(entry))
    return found


def test_a_dying_store_process_ends_the_server(server):
    """Ours: a store process killed outright makes the next call UNAVAILABLE
    and the server exit with status 1 (the official server dies with its store)."""
    s = server()
    s.args = ["--db", s.path("m.db"), "--store-processes=1"]
    s.start()
    workers = store_processes(s.pid)
    assert len(workers) == 1, workers
    os.kill(workers[0], signal.SIGKILL)
    code, details = raw_call(s, "GetArtifactTypes", svc.GetArtifactTypesRequest())
    assert code == grpc.StatusCode.UNAVAILABLE and "store process died" in details
    assert s.process.wait(timeout=30) == 1
    assert "error: a store process died" in s.errors()


def test_require_mlmd_version(server):
    status, _, err = server("--require-mlmd-version", "0.0.0").run()
    assert status == 2 and "0.0.0 was required" in err


def test_status_codes_from_creation_messages():
    """The codes upstream gives the messages store creation fails with."""
    cases = {
        "Unset": store_status.INVALID_ARGUMENT,
        "Cannot connect sqlite3 database: unable to open database file": store_status.INTERNAL,
        "mysql_real_connect failed: errno: , error: ": store_status.INTERNAL,
        "Upgrade query failed: ALTER x Concurrent writes aborted after max number of retries.": store_status.ABORTED,
        "Creating database m in ConnectImplmysql_query aborted: errno: Deadlock": store_status.ABORTED,
        "There are a subset of tables in MLMD instance. ... INTERNAL: x": store_status.ABORTED,
        "In the given db, MLMDEnv table exists but no schema_version can be found. x": store_status.ABORTED,
        "In the given db, MLMDEnv table exists but schema_version cannot be resolved x": store_status.DATA_LOSS,
        "Downgrade migration was performed. Connection ...": store_status.CANCELLED,
        "MLMD database version 6 is older than library version 8. Schema ...": store_status.FAILED_PRECONDITION,
        "MLMD cannot be downgraded to schema_version: 99. The target": store_status.INVALID_ARGUMENT,
        "Unknown database type.": store_status.UNIMPLEMENTED,
    }
    assert {m: store_status.code_of_creation_error(m) for m in cases} == cases
