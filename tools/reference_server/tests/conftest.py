"""How the parity tests start the reference server.

The server under test runs either natively (a venv with the official
ml-metadata wheel) or inside a Debian root filesystem through
tools/platform/serve.sh, which shows one host directory to the server as
/data. Every test gets a fresh data directory and names files in it with
``server.path(name)``, the path as the server sees it.

Environment
-----------
MLMD_PARITY_LAUNCH   JSON. {"kind": "native", "python": PY} or
                     {"kind": "rootfs", "serve": SERVE_SH, "platform": P,
                      "requirements": FILE, "cacheDir": DIR}. Default:
                     native with the python running the tests.
MLMD_UPSTREAM_SOURCE A directory holding upstream's files at the wheel's
                     commit (ml_metadata/...), for the tests that compare
                     with upstream's source. Those tests fail without it
                     unless MLMD_PARITY_ALLOW_NO_SOURCE=1, then they skip.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SERVER = HERE.parent / "server.py"
START_LIMIT_SEC = 90.0
# tools/platform/serve.sh's own lines ("serve[cpython-3.9]: ...").
SERVE_LINE = re.compile(r"^serve\[[^\]]*\]: ")
EXIT_LIMIT_SEC = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exit_status(code: int) -> int:
    """As a shell reports it: 128 + N for death by signal N."""
    return 128 - code if code < 0 else code


class Launch:
    def __init__(self, spec: dict):
        self.spec = spec
        self.rootfs = spec.get("kind") == "rootfs"

    def argv(self, data_dir: Path, args):
        if self.rootfs:
            return ["bash", self.spec["serve"], "--platform", self.spec["platform"],
                    "--requirements", self.spec["requirements"], "--cache-dir", self.spec["cacheDir"],
                    "--data-dir", str(data_dir), "--", *args]
        return [self.spec.get("python") or sys.executable, str(SERVER), *args]

    def path(self, data_dir: Path, name: str) -> str:
        return f"/data/{name}" if self.rootfs else str(data_dir / name)


@pytest.fixture(scope="session")
def launch():
    return Launch(json.loads(os.environ.get("MLMD_PARITY_LAUNCH") or '{"kind": "native"}'))


class Server:
    """A server.py process started for one test."""

    def __init__(self, launch: Launch, data_dir: Path, args):
        self.launch = launch
        self.data_dir = data_dir
        self.args = list(args)
        self.stdout = data_dir / "stdout.txt"
        self.stderr = data_dir / "stderr.txt"
        self.process = None
        self.port = None
        # The server's own pid (serve.sh's child in a root filesystem).
        self.pid = None

    def path(self, name: str) -> str:
        return self.launch.path(self.data_dir, name)

    def host_path(self, name: str) -> Path:
        return self.data_dir / name

    def _popen(self, args):
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.process = subprocess.Popen(self.launch.argv(self.data_dir, args), stdout=out,
                                            stderr=err, stdin=subprocess.DEVNULL)

    def run(self, limit=EXIT_LIMIT_SEC):
        """For a server that must end by itself: (status, stdout, stderr)."""
        self._popen(self.args)
        try:
            code = self.process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the server did not exit within {limit} s: {self.args}\n{self.errors()}")
        return exit_status(code), self.stdout.read_text(errors="replace"), self.errors()

    def start(self, host="127.0.0.1", port=0, limit=START_LIMIT_SEC):
        """Starts it with our --host/--port test aids (unless the args name
        --grpc_port) and waits for the ready file and line."""
        ready = self.host_path("ready.json")
        extra = ["--ready-file", self.path("ready.json")]
        if not any(a.startswith("--grpc_port") for a in self.args):
            extra += ["--host", host, "--port", str(port)]
        self._popen(self.args + extra)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited ({exit_status(self.process.returncode)}) "
                            f"before it was ready: {self.args}\n{self.errors()}")
            if ready.exists() and self.stdout.read_text(errors="replace").endswith("\n"):
                info = json.loads(ready.read_text())
                self.port, self.pid = info["port"], info["pid"]
                return self
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"the server was not ready within {limit} s: {self.args}\n{self.errors()}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ready_line(self) -> str:
        return self.stdout.read_text(errors="replace").strip().splitlines()[-1]

    def errors(self) -> str:
        """The server's stderr, without serve.sh's own progress lines."""
        if not self.stderr.exists():
            return ""
        lines = self.stderr.read_text(errors="replace").splitlines(keepends=True)
        return "".join(line for line in lines if not SERVE_LINE.match(line))

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)


@pytest.fixture
def server(launch, tmp_path):
    """Factory: server(*args) -> Server (not started); all are stopped after the test."""
    made = []

    def make(*args, name="server"):
        data_dir = tmp_path / f"{name}-{len(made)}"
        data_dir.mkdir()
        handle = Server(launch, data_dir, args)
        made.append(handle)
        return handle

    yield make
    for handle in made:
        handle.stop()


@pytest.fixture(scope="session")
def upstream_source():
    """Upstream's files at the wheel's commit (see MLMD_UPSTREAM_SOURCE)."""
    root = os.environ.get("MLMD_UPSTREAM_SOURCE")
    if not root:
        message = "MLMD_UPSTREAM_SOURCE is not set: cannot compare with upstream's source"
        if os.environ.get("MLMD_PARITY_ALLOW_NO_SOURCE") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return Path(root)
