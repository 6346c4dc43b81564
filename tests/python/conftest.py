"""Fixtures for the Python client compatibility tests.

Every test gets its own ``fjord-broker`` process (the binary named by ``$FJORD_BROKER_BIN``,
else ``${CARGO_TARGET_DIR:-target}/debug/fjord-broker``) on a free port with a fresh data
directory, started with ``group.initial.rebalance.delay.ms=0`` and ready once it accepts a TCP
connection and answers ApiVersions (30 s, else the test fails with the broker's stderr). ``broker`` yields a :class:`BrokerProcess` (``.bootstrap``, ``.restart()``);
``bootstrap`` yields just the ``"127.0.0.1:PORT"`` string.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30


def broker_binary() -> Path:
    env = os.environ.get("FJORD_BROKER_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "debug" / "fjord-broker"


def answers_api_versions(port: int) -> bool:
    """True once the broker answers an ApiVersions v0 request (a bound port alone is not
    enough: the listener may be bound before the data directory is open)."""
    request = struct.pack(">hhih", 18, 0, 1, -1)  # api_key, api_version, correlation_id, client_id=null
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(struct.pack(">i", len(request)) + request)
            header = s.recv(8)
            return len(header) >= 8 and struct.unpack(">ii", header[:8])[1] == 1
    except OSError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerProcess:
    """A fjord-broker child process with a data dir and port kept across restarts."""

    def __init__(self, binary: Path, data_dir: Path, log_dir: Path, extra_args=(), extra_listeners=()):
        self.binary = binary
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.extra_args = list(extra_args)
        self.port = free_port()
        # Listener name -> port, beside the PLAINTEXT listener the readiness probe uses.
        self.listener_ports = {name: free_port() for name in extra_listeners}
        self.proc = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stderr(self) -> str:
        parts = []
        for i in range(1, self.starts + 1):
            path = self.log_dir / f"stderr-{i}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"----- start {i} -----\n{text}")
        return "\n".join(parts)

    def start(self) -> None:
        """Starts the broker. free_port() only probes: another process may take a port
        between the probe and the broker's bind, so a first start that finds its port taken
        tries again on fresh ports (restarts keep theirs: clients know them)."""
        first = self.starts == 0
        for attempt in range(3):
            if self._start_once(last=attempt == 2 or not first):
                return
            # Nothing was served yet: start over in an empty data dir on other ports.
            shutil.rmtree(self.data_dir)
            self.data_dir.mkdir()
            self.port = free_port()
            self.listener_ports = {name: free_port() for name in self.listener_ports}

    def _start_once(self, last: bool) -> bool:
        """One start; False when the broker exited because a port was taken and `last` is
        not set (the caller retries), else it returns True or fails the test."""
        self.starts += 1
        log = open(self.log_dir / f"stderr-{self.starts}.log", "wb")
        cmd = [
            str(self.binary),
            "--data-dir", str(self.data_dir),
            "--listeners", ",".join([f"PLAINTEXT://127.0.0.1:{self.port}"]
                                    + [f"{n}://127.0.0.1:{p}" for n, p in self.listener_ports.items()]),
            "--set", "group.initial.rebalance.delay.ms=0",
            *self.extra_args,
        ]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if answers_api_versions(self.port):
                return True
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                log_text = (self.log_dir / f"stderr-{self.starts}.log").read_text(errors="replace")
                if not last and "Address already in use" in log_text:
                    return False
                pytest.fail(f"fjord-broker exited with {code} before accepting connections; stderr:\n{self.stderr()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"fjord-broker did not accept connections and answer ApiVersions on {self.bootstrap} within "
                            f"{START_TIMEOUT_S} s; stderr:\n{self.stderr()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit (fails the test if it does not exit cleanly)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"fjord-broker did not exit within {STOP_TIMEOUT_S} s of SIGTERM; stderr:\n{self.stderr()}")
        if code != 0:
            pytest.fail(f"fjord-broker exited with {code} after SIGTERM; stderr:\n{self.stderr()}")

    def kill(self) -> None:
        """SIGKILL: nothing runs on the way down."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Graceful stop, then start again on the same data dir and port."""
        self.stop()
        self.start()


@pytest.fixture
def broker(tmp_path):
    binary = broker_binary()
    if not binary.is_file():
        pytest.fail(f"fjord-broker binary not found at {binary}; build it with "
                    f"`cargo build -p fjord-broker --bin fjord-broker` or set FJORD_BROKER_BIN")
    data_dir = tmp_path / "data"
    log_dir = tmp_path / "logs"
    data_dir.mkdir()
    log_dir.mkdir()
    b = BrokerProcess(binary, data_dir, log_dir)
    b.start()
    try:
        yield b
    finally:
        # Teardown is graceful: SIGTERM, wait. A broker that fails to stop fails the test.
        b.stop()


class TlsFiles:
    """A test CA (trustme) and the broker's PEM keystore (key + chain) for 127.0.0.1."""

    def __init__(self, directory: Path):
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca = directory / "ca.pem"
        self.keystore = directory / "broker.pem"
        ca.cert_pem.write_to_path(str(self.ca))
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.keystore))


ADMIN = ("admin", "admin-secret")


def _secure_broker(tmp_path, extra_args=(), users=()):
    binary = broker_binary()
    if not binary.is_file():
        pytest.fail(f"fjord-broker binary not found at {binary}")
    for d in ("data", "logs", "tls"):
        (tmp_path / d).mkdir()
    tls = TlsFiles(tmp_path / "tls")
    bootstrap_users = ",".join(f"{u}:{p}" for u, p in [ADMIN, *users])
    b = BrokerProcess(binary, tmp_path / "data", tmp_path / "logs",
                      extra_args=["--set", f"ssl.keystore.location={tls.keystore}",
                                  "--set", f"super.users=User:{ADMIN[0]}",
                                  "--set", f"fjord.bootstrap.users={bootstrap_users}",
                                  "--set", "connection.failed.authentication.delay.ms=10",
                                  *extra_args],
                      extra_listeners=["SASL_SSL", "SASL_PLAINTEXT"])
    b.tls = tls
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def secure_broker(tmp_path):
    """A broker with SASL_SSL and SASL_PLAINTEXT listeners (beside PLAINTEXT), a trustme CA
    (``.tls.ca``) and the super user ``ADMIN``; ``.listener_ports[name]`` gives the ports."""
    yield from _secure_broker(tmp_path)


ALICE = ("alice", "alice-secret")


@pytest.fixture
def acl_broker(tmp_path):
    """``secure_broker`` with the ACL authorizer on and the ordinary user ``ALICE``."""
    yield from _secure_broker(tmp_path, ["--set", "authorizer.class.name=fjord"], [ALICE])


@pytest.fixture
def bootstrap(broker) -> str:
    return broker.bootstrap


@pytest.fixture
def unique():
    """unique("prefix") -> a topic/group name no other test uses."""
    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"
    return make


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the broker's stderr to the report."""
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    name = next((n for n in ("broker", "secure_broker") if n in funcargs), None)
    if report.when == "call" and report.failed and name:
        b = funcargs[name]
        text = b.stderr()
        if len(text) > 20000:
            text = "...\n" + text[-20000:]
        report.sections.append(("fjord-broker stderr", text))


def pytest_configure(config):
    # kafka-python 3.0 loads its protocol schemas with importlib.resources APIs deprecated in
    # Python 3.11: third-party noise, not ours.
    config.addinivalue_line("filterwarnings", "ignore:read_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:open_text is deprecated:DeprecationWarning")
