"""Fixtures for the MLMD client behaviour suite.

The suite talks to an MLMD gRPC server only through the public client API,
``MetadataStore(MetadataStoreClientConfig(host=..., port=...))``. It is meant
to pass unchanged against the official ``ml-metadata`` wheel and against our
remote-only wheel (deselect ``-m 'not remote_only'`` for the official one).

Environment variables
---------------------
MLMD_HOST            Host of the main server (default 127.0.0.1 when
                     MLMD_PORT is set).
MLMD_PORT            Port of the main server. If unset, the suite starts its
                     own reference server (needs MLMD_SERVER_PYTHON).
MLMD_SERVER_PYTHON   Python interpreter of a venv that has the official
                     ml-metadata wheel installed (see
                     tools/reference_server/requirements.txt). Used to run
                     tools/reference_server/server.py for the main server
                     (when MLMD_PORT is unset) and for the extra servers the
                     slow-server and TLS tests need.
MLMD_SERVER_SCRIPT   Optional path to server.py (default: the one in
                     tools/reference_server next to this suite).
MLMD_SLOW_HOST       Optional: host of an already running server that was
MLMD_SLOW_PORT       started with --delay-ms MLMD_SLOW_DELAY_MS (all three
MLMD_SLOW_DELAY_MS   must be set; MLMD_SLOW_HOST defaults to 127.0.0.1).
                     Otherwise the suite starts one with --delay-ms 400.
MLMD_TLS_HOST        Optional: host/port of an already running TLS server
MLMD_TLS_PORT        whose certificate is valid for MLMD_TLS_HOST and chains
MLMD_TLS_CA_FILE     to the PEM file MLMD_TLS_CA_FILE. Otherwise the suite
                     makes a throw-away CA and server/client certificates
                     (with the ``cryptography`` package if importable, else
                     the ``openssl`` CLI) and starts its own TLS servers.
MLMD_MTLS_HOST       Optional: an already running TLS server that requires
MLMD_MTLS_PORT       client certificates signed by MLMD_MTLS_CA_FILE (which
MLMD_MTLS_CA_FILE    its own certificate chains to as well), and a client
MLMD_MTLS_CLIENT_CERT certificate and key signed by that CA. Otherwise the
MLMD_MTLS_CLIENT_KEY suite starts its own mutual-TLS server.

Tests that need a server that can be neither found nor started are skipped
with a reason naming the missing variable.

Markers
-------
remote_only   Behaviour specific to the remote-only wheel (e.g. the
              ConnectionConfig error). Deselect with ``-m 'not remote_only'``
              when running against the official wheel.
"""

import json
import re
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

SUITE_DIR = Path(__file__).resolve().parent

# A log line of gRPC's C core ("E1126 16:22:25.638460 25081 file.cc:373] ...").
GRPC_LOG_LINE = re.compile(r"^[EWI]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] .*$", re.M)


def run_child(args, **kwargs):
    """subprocess.run, tried up to three times while the child dies of gRPC.

    Some grpcio releases (seen: 1.80.1 on CPython 3.9) break a forked child
    now and then: their fork handler logs "epoll_wait error: Bad file
    descriptor" and the child dies (often SIGABRT) before it runs its own
    program. That is the test process's fork, not what a test checks, so
    such a start is tried again; any other failure is returned as it is.
    """
    for attempt in range(3):
        done = subprocess.run(args, capture_output=True, **kwargs)
        err = done.stderr.decode(errors="replace") if isinstance(done.stderr, bytes) else done.stderr
        if done.returncode == 0 or attempt == 2 or not GRPC_LOG_LINE.search(err or ""):
            return done


DEFAULT_SERVER_SCRIPT = SUITE_DIR.parent / "reference_server" / "server.py"

# Bounded wait for a reference server to become ready.
SERVER_START_TIMEOUT_SEC = 60.0
POLL_INTERVAL_SEC = 0.02

# Delay used when the suite starts its own slow server.
SELF_STARTED_DELAY_MS = 400

# Generous per-call timeout for the normal clients, so that a hung server
# fails the test instead of hanging the suite.
DEFAULT_CLIENT_TIMEOUT_SEC = 30.0


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "remote_only: behaviour of the remote-only wheel only; deselect with "
        "-m 'not remote_only' when testing the official wheel",
    )


# --------------------------------------------------------------------------
# Starting reference servers


class ServerHandle:
    """A reference server started by the suite (or found through env vars)."""

    def __init__(self, host, port, process=None, workdir=None, info=None):
        self.host = host
        self.port = port
        self.process = process
        self.workdir = workdir
        self.info = info or {}
        self._stop_requested = False

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def request_stop(self):
        """Sends SIGTERM once (the server then stops gracefully)."""
        proc = self.process
        if proc is None or self._stop_requested or proc.poll() is not None:
            return
        self._stop_requested = True
        proc.terminate()

    def stop(self):
        proc = self.process
        if proc is None:
            return
        self.request_stop()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _server_python():
    return os.environ.get("MLMD_SERVER_PYTHON") or None


def _server_script():
    return Path(os.environ.get("MLMD_SERVER_SCRIPT") or DEFAULT_SERVER_SCRIPT)


def start_reference_server(workdir, extra_args=(), host="127.0.0.1"):
    """Starts tools/reference_server/server.py on a free port.

    Waits (bounded) for both the ready file and the readiness line on stdout,
    and checks that the line is exactly the documented one.
    """
    python = _server_python()
    if not python:
        pytest.skip("MLMD_SERVER_PYTHON is not set: cannot start a reference "
                    "server (set it to the python of a venv with the official "
                    "ml-metadata wheel)")
    script = _server_script()
    if not script.is_file():
        pytest.fail(f"reference server script not found: {script}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ready_file = workdir / "ready.json"
    stdout_path = workdir / "stdout.txt"
    stderr_path = workdir / "stderr.txt"
    cmd = [
        python, str(script),
        "--host", host,
        "--port", "0",
        "--db", str(workdir / "mlmd.sqlite"),
        "--ready-file", str(ready_file),
        *extra_args,
    ]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
    handle = ServerHandle(host, None, proc, workdir)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SEC
    info = None
    line = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"reference server exited with {proc.returncode} before it "
                f"was ready: {' '.join(cmd)}\nstderr:\n"
                f"{stderr_path.read_text(errors='replace')}")
        if info is None and ready_file.exists():
            info = json.loads(ready_file.read_text())
        if info is not None:
            line = stdout_path.read_text(errors="replace")
            if line.endswith("\n"):
                break
        time.sleep(POLL_INTERVAL_SEC)
    else:
        handle.stop()
        raise RuntimeError(
            f"reference server not ready after {SERVER_START_TIMEOUT_SEC}s: "
            f"{' '.join(cmd)}\nstderr:\n{stderr_path.read_text(errors='replace')}")
    expected = f"Server listening on {host}:{info['port']}\n"
    if line != expected or info.get("pid") != proc.pid:
        handle.stop()
        raise RuntimeError(
            f"unexpected readiness output {line!r} / {info!r}; expected "
            f"{expected!r} and pid {proc.pid}")
    handle.port = int(info["port"])
    handle.info = info
    return handle


@pytest.fixture(scope="session")
def run_server_fixture(tmp_path_factory):
    """Factory: ``run_server_fixture(*extra_args)`` starts a reference server.

    Every server started this way is stopped at the end of the session.
    Skips the calling test when MLMD_SERVER_PYTHON is unset.
    """
    started = []

    def start(*extra_args, name="server"):
        workdir = tmp_path_factory.mktemp(name)
        handle = start_reference_server(workdir, extra_args)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.request_stop()
    for handle in started:
        handle.stop()


def _env_port(name):
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        pytest.fail(f"{name} must be an integer, got {value!r}")


@pytest.fixture(scope="session")
def mlmd_server(run_server_fixture):
    """The main server: MLMD_HOST/MLMD_PORT, or one started by the suite."""
    port = _env_port("MLMD_PORT")
    if port is not None:
        return ServerHandle(os.environ.get("MLMD_HOST") or "127.0.0.1", port)
    if not _server_python():
        pytest.skip("neither MLMD_PORT nor MLMD_SERVER_PYTHON is set: no MLMD "
                    "server to test against")
    return run_server_fixture(name="main")


@pytest.fixture(scope="session")
def slow_server(run_server_fixture):
    """A server that delays each call; yields (handle, delay_ms)."""
    port = _env_port("MLMD_SLOW_PORT")
    delay = _env_port("MLMD_SLOW_DELAY_MS")
    if port is not None and delay is not None:
        return ServerHandle(os.environ.get("MLMD_SLOW_HOST") or "127.0.0.1",
                            port), delay
    if not _server_python():
        pytest.skip("slow-server test needs MLMD_SLOW_PORT and "
                    "MLMD_SLOW_DELAY_MS, or MLMD_SERVER_PYTHON to start a "
                    "server with --delay-ms")
    return (run_server_fixture("--delay-ms", str(SELF_STARTED_DELAY_MS),
                               name="slow"),
            SELF_STARTED_DELAY_MS)


# --------------------------------------------------------------------------
# TLS material


class TlsFiles:
    def __init__(self, directory):
        d = Path(directory)
        self.dir = d
        self.ca_cert = d / "ca.pem"
        self.server_cert = d / "server.pem"
        self.server_key = d / "server.key"
        self.client_cert = d / "client.pem"
        self.client_key = d / "client.key"


def _make_tls_with_cryptography(files):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(minutes=5)
    not_after = now + datetime.timedelta(days=2)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key, path):
        path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("mlmd-behaviour-suite-ca"))
        .issuer_name(name("mlmd-behaviour-suite-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(
            ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(cn, key_path, cert_path, usage, san):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           True)
            .add_extension(x509.ExtendedKeyUsage([usage]), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san),
                                            False)
        cert = builder.sign(ca_key, hashes.SHA256())
        write_key(key, key_path)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    leaf("localhost", files.server_key, files.server_cert,
         ExtendedKeyUsageOID.SERVER_AUTH,
         [x509.DNSName("localhost"),
          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    leaf("mlmd-behaviour-suite-client", files.client_key, files.client_cert,
         ExtendedKeyUsageOID.CLIENT_AUTH, None)


def _make_tls_with_openssl(files, openssl):
    d = files.dir

    def run(*args):
        done = run_child([openssl, *args], cwd=d)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)

    (d / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE\n"
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"
        "subjectKeyIdentifier=hash\n")
    (d / "server.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    (d / "client.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "extendedKeyUsage=clientAuth\n")
    for stem in ("ca", "server", "client"):
        run("genpkey", "-algorithm", "EC",
            "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-out", f"{stem}.key")
    run("req", "-new", "-key", "ca.key", "-subj", "/CN=mlmd-behaviour-suite-ca",
        "-out", "ca.csr")
    run("x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-days", "2",
        "-sha256", "-extfile", "ca.ext", "-out", "ca.pem")
    for stem, cn in (("server", "localhost"),
                     ("client", "mlmd-behaviour-suite-client")):
        run("req", "-new", "-key", f"{stem}.key", "-subj", f"/CN={cn}",
            "-out", f"{stem}.csr")
        run("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-set_serial",
            str(uuid.uuid4().int >> 65), "-days", "2", "-sha256",
            "-extfile", f"{stem}.ext", "-out", f"{stem}.pem")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A throw-away CA with a server cert (localhost/127.0.0.1) and a client cert."""
    files = TlsFiles(tmp_path_factory.mktemp("tls"))
    try:
        import cryptography  # noqa: F401
        have_cryptography = True
    except ImportError:
        have_cryptography = False
    if have_cryptography:
        _make_tls_with_cryptography(files)
    else:
        openssl = shutil.which("openssl")
        if not openssl:
            pytest.skip("TLS tests need the 'cryptography' package or the "
                        "'openssl' CLI to make test certificates")
        try:
            _make_tls_with_openssl(files, openssl)
        except subprocess.CalledProcessError as err:
            pytest.fail(f"openssl failed: {err.stderr.decode(errors='replace')}")
    return files


@pytest.fixture(scope="session")
def tls_ca_pem(request):
    """PEM of a CA to trust: MLMD_TLS_CA_FILE, else our throw-away CA."""
    ca_file = os.environ.get("MLMD_TLS_CA_FILE")
    if ca_file:
        return Path(ca_file).read_text()
    return request.getfixturevalue("tls_files").ca_cert.read_text()


class TlsServer:
    def __init__(self, handle, ca_pem, files=None):
        self.handle = handle
        self.ca_pem = ca_pem
        self.files = files


@pytest.fixture(scope="session")
def tls_server(request, run_server_fixture):
    """A TLS server (server auth only) and the CA PEM to trust."""
    port = _env_port("MLMD_TLS_PORT")
    ca_file = os.environ.get("MLMD_TLS_CA_FILE")
    if port is not None and ca_file:
        return TlsServer(
            ServerHandle(os.environ.get("MLMD_TLS_HOST") or "127.0.0.1", port),
            Path(ca_file).read_text())
    if not _server_python():
        pytest.skip("TLS tests need MLMD_TLS_PORT and MLMD_TLS_CA_FILE, or "
                    "MLMD_SERVER_PYTHON to start a TLS server")
    files = request.getfixturevalue("tls_files")
    handle = run_server_fixture("--tls-cert", str(files.server_cert),
                                "--tls-key", str(files.server_key), name="tls")
    return TlsServer(handle, files.ca_cert.read_text(), files)


@pytest.fixture(scope="session")
def mtls_server(request, run_server_fixture):
    """A TLS server that requires client certificates from our test CA."""
    names = ("MLMD_MTLS_PORT", "MLMD_MTLS_CA_FILE", "MLMD_MTLS_CLIENT_CERT",
             "MLMD_MTLS_CLIENT_KEY")
    missing = [n for n in names if not os.environ.get(n)]
    if 0 < len(missing) < len(names) or (missing and os.environ.get("MLMD_MTLS_HOST")):
        pytest.fail("an external mutual-TLS server needs all of "
                    + ", ".join(names) + "; missing: " + ", ".join(missing))
    port = _env_port("MLMD_MTLS_PORT")
    given = [os.environ.get(n) for n in names[1:]]
    if port is not None and all(given):
        ca_file, client_cert, client_key = (Path(f) for f in given)
        return TlsServer(
            ServerHandle(os.environ.get("MLMD_MTLS_HOST") or "127.0.0.1", port),
            ca_file.read_text(),
            SimpleNamespace(client_cert=client_cert, client_key=client_key))
    if not _server_python():
        pytest.skip("mutual-TLS tests need MLMD_MTLS_PORT, MLMD_MTLS_CA_FILE, "
                    "MLMD_MTLS_CLIENT_CERT and MLMD_MTLS_CLIENT_KEY, or "
                    "MLMD_SERVER_PYTHON to start a server with --tls-client-ca")
    files = request.getfixturevalue("tls_files")
    handle = run_server_fixture("--tls-cert", str(files.server_cert),
                                "--tls-key", str(files.server_key),
                                "--tls-client-ca", str(files.ca_cert),
                                name="mtls")
    return TlsServer(handle, files.ca_cert.read_text(), files)


# --------------------------------------------------------------------------
# Clients and helpers


def make_client(host, port, **config_fields):
    """MetadataStore over gRPC; extra fields go into MetadataStoreClientConfig."""
    config = metadata_store_pb2.MetadataStoreClientConfig(
        host=host, port=port, **config_fields)
    return metadata_store.MetadataStore(config)


@pytest.fixture
def store(mlmd_server):
    return make_client(mlmd_server.host, mlmd_server.port,
                       client_timeout_sec=DEFAULT_CLIENT_TIMEOUT_SEC)


@pytest.fixture
def uniq(request):
    """Returns a function making names unique to this test run and test."""
    token = uuid.uuid4().hex[:10]
    base = request.node.name.split("[")[0].replace("test_", "", 1)

    def make(prefix=""):
        return f"{prefix or base}-{token}"

    return make


def free_port():
    """A TCP port on 127.0.0.1 with nothing listening on it (best effort)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
