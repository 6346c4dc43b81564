"""The control plane end to end: the real `fjord dev` binary (``$FJORD_BIN``) with its embedded
database and brokers. A tenant signs up, creates a cluster, a topic and a SCRAM credential,
produces and consumes over TLS + SCRAM with librdkafka (confluent-kafka) and kcat, survives an
API restart, and deletes the cluster. schemathesis then fuzzes every route of the live spec."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from conftest import REPO_ROOT, free_port

TIMEOUT_S = 60
KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def fjord_binary() -> Path:
    env = os.environ.get("FJORD_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "debug" / "fjord"


class FjordDev:
    """`fjord dev` as a child process; its data dir and port survive restarts."""

    def __init__(self, tmp: Path):
        self.binary = fjord_binary()
        if not self.binary.is_file():
            pytest.fail(f"fjord binary not found at {self.binary}; build it with `cargo build -p fjord-api --bin fjord`")
        self.data_dir = tmp / "fjord-data"
        self.log = tmp / "fjord.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.admin_key = None

    def start(self):
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "dev", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "RUST_LOG": "info"})
        log.close()
        deadline = time.monotonic() + TIMEOUT_S
        printed = []
        # The first start prints the administrator's API key; every start prints a token.
        for line in self.proc.stdout:
            printed.append(line)
            if m := re.search(r"Administrator API key \(shown only now, store it\): (\S+)", line):
                self.admin_key = m.group(1)
            if line.startswith("Admin token"):
                break
            if time.monotonic() > deadline:
                break
        assert self.admin_key, f"no administrator key printed:\n{''.join(printed)}\n{self.stderr()}"
        while time.monotonic() < deadline:
            try:
                if request(self, "GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"fjord dev not ready in {TIMEOUT_S} s:\n{self.stderr()}")

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"fjord dev did not stop within 30 s of SIGTERM:\n{self.stderr()}")
        assert code == 0, f"fjord dev exited {code} after SIGTERM:\n{self.stderr()}"

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-20000:] if self.log.exists() else ""


def request(dev, method, path, body=None, token=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(dev.url + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, json.loads(text) if text else None


def ok(result, *codes):
    status, body = result
    assert status in codes, f"expected {codes}, got {status}: {body}"
    return body


def token_for(dev, api_key):
    return ok(request(dev, "POST", "/v1/auth/token", {"api_key": api_key}), 200)["access_token"]


def wait_for_state(dev, token, path, state):
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        cluster = ok(request(dev, "GET", path, token=token), 200)
        if cluster["state"] == state:
            return cluster
        assert cluster["state"] != "failed", cluster
        assert time.monotonic() < deadline, f"cluster stuck in {cluster['state']}: {cluster}"
        time.sleep(0.2)


@pytest.fixture
def fjord_dev(tmp_path):
    dev = FjordDev(tmp_path)
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


def sign_up(dev, unique):
    """Admin creates a tenant and its tenant-admin user; the user gets a key and a token."""
    admin = token_for(dev, dev.admin_key)
    tenant = ok(request(dev, "POST", "/v1/tenants", {"name": unique("acme")}, admin), 201)
    base = f"/v1/tenants/{tenant['id']}"
    user = ok(request(dev, "POST", f"{base}/users", {"name": "ada", "role": "tenant-admin"}, admin), 201)
    key = ok(request(dev, "POST", f"{base}/api-keys", {"principal_id": user["id"], "name": "laptop"}, admin), 201)
    return base, token_for(dev, key["key"])


def kafka_config(cluster, credential, ca_path, mechanism="SCRAM-SHA-512"):
    return {
        "bootstrap.servers": cluster["bootstrap"],
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(ca_path),
        "sasl.mechanism": mechanism,
        "sasl.username": credential["username"],
        "sasl.password": credential["password"],
        "socket.timeout.ms": 10000,
    }


def produce(config, topic, values):
    """Produces `values`; returns the delivery errors (asserting there are none unless asked)."""
    errors = []
    p = Producer({**config, "acks": "all", "message.timeout.ms": 10000})
    for v in values:
        p.produce(topic, value=v.encode(), on_delivery=lambda err, _m: err and errors.append(err))
    assert p.flush(TIMEOUT_S) == 0, "every record reported"
    return errors


def consume(config, topic, n, group):
    c = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + TIMEOUT_S
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    c.close()
    return got



def grant(dev, token, path, credential, topic):
    """ACLs through the API: write and read `topic`, read any group."""
    for resource_type, name, operation in [("topic", topic, "write"), ("topic", topic, "read"),
                                           ("group", "*", "read")]:
        ok(request(dev, "POST", f"{path}/acls",
                   {"principal": f"User:{credential['username']}", "resource_type": resource_type,
                    "pattern_type": "literal", "resource_name": name, "operation": operation,
                    "permission": "allow"}, token), 201)

def test_sign_up_to_records_over_tls_and_scram_then_delete(fjord_dev, tmp_path, unique):
    dev = fjord_dev
    base, token = sign_up(dev, unique)
    cluster = ok(request(dev, "POST", f"{base}/clusters", {"name": "orders"}, token,
                         headers={"Idempotency-Key": unique("idem")}), 202)
    path = f"{base}/clusters/{cluster['id']}"
    cluster = wait_for_state(dev, token, path, "ready")
    assert re.fullmatch(r"127\.0\.0\.1:\d+", cluster["bootstrap"]), cluster
    assert cluster["ca_cert_pem"].startswith("-----BEGIN CERTIFICATE-----")
    ca = tmp_path / "ca.pem"
    ca.write_text(cluster["ca_cert_pem"])

    ok(request(dev, "POST", f"{path}/topics", {"name": "payments", "partitions": 3,
                                               "configs": {"retention.ms": "3600000"}}, token,
               headers={"Idempotency-Key": unique("idem")}), 201)
    topic = ok(request(dev, "GET", f"{path}/topics/payments", token=token), 200)
    assert topic["partitions"] == 3 and topic["configs"]["retention.ms"] == "3600000", topic
    credential = ok(request(dev, "POST", f"{path}/credentials", {"name": "app"}, token), 201)
    config = kafka_config(cluster, credential, ca)
    # The brokers enforce ACLs: nothing is allowed until the tenant grants it.
    refused = produce(config, "payments", ["denied"])
    assert [e.code() for e in refused] == [KafkaError.TOPIC_AUTHORIZATION_FAILED], refused
    grant(dev, token, path, credential, "payments")

    config = kafka_config(cluster, credential, ca)
    values = [f"payment-{i}" for i in range(30)]
    assert produce(config, "payments", values) == []
    assert sorted(consume(config, "payments", 30, "g1")) == sorted(values)

    if KCAT:
        args = ["-b", cluster["bootstrap"], "-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={ca}",
                "-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", f"sasl.username={credential['username']}",
                "-X", f"sasl.password={credential['password']}"]
        run = subprocess.run([KCAT, *args, "-P", "-t", "payments", "-p", "0"], input="from-kcat\n",
                             capture_output=True, text=True, timeout=TIMEOUT_S)
        assert run.returncode == 0, run.stderr
        out = subprocess.run([KCAT, *args, "-C", "-t", "payments", "-p", "0", "-o", "beginning", "-e", "-q"],
                             capture_output=True, text=True, timeout=TIMEOUT_S)
        assert out.returncode == 0 and "from-kcat" in out.stdout.splitlines(), out.stderr

    # A wrong password is refused by the cluster.
    bad = {**config, "sasl.password": "wrong", "socket.timeout.ms": 3000}
    with pytest.raises(KafkaException):
        Producer(bad).list_topics(timeout=3)

    # Deleting needs the cluster's name as confirmation.
    status, problem = request(dev, "DELETE", path, token=token)
    assert status in (400, 409, 422) and problem["detail"], problem
    ok(request(dev, "DELETE", f"{path}?confirm=orders", token=token), 202)
    wait_for_state(dev, token, path, "deleted")
    with pytest.raises(KafkaException):
        Producer({**config, "socket.timeout.ms": 3000}).list_topics(timeout=3)
    events = ok(request(dev, "GET", f"{path}/events", token=token), 200)["items"]
    states = [e.get("to_state") or e.get("state") for e in events]
    assert "ready" in states and "deleted" in states, events


def test_api_restart_keeps_clusters_and_their_data(fjord_dev, tmp_path, unique):
    dev = fjord_dev
    base, token = sign_up(dev, unique)
    cluster = ok(request(dev, "POST", f"{base}/clusters", {"name": "durable"}, token,
                         headers={"Idempotency-Key": unique("idem")}), 202)
    path = f"{base}/clusters/{cluster['id']}"
    cluster = wait_for_state(dev, token, path, "ready")
    ca = tmp_path / "ca.pem"
    ca.write_text(cluster["ca_cert_pem"])
    ok(request(dev, "POST", f"{path}/topics", {"name": "ledger", "partitions": 1}, token,
               headers={"Idempotency-Key": unique("idem")}), 201)
    credential = ok(request(dev, "POST", f"{path}/credentials", {"name": "svc"}, token), 201)
    grant(dev, token, path, credential, "ledger")
    config = kafka_config(cluster, credential, ca, "SCRAM-SHA-256")
    assert produce(config, "ledger", ["before-restart"]) == []

    dev.stop()
    dev.start()

    # Tokens stay valid (signing keys live in the database); the cluster is back on the same
    # address with its data, CA and credentials.
    again = wait_for_state(dev, token, path, "ready")
    assert again["bootstrap"] == cluster["bootstrap"]
    assert again["ca_cert_pem"] == cluster["ca_cert_pem"]
    assert produce(config, "ledger", ["after-restart"]) == []
    assert consume(config, "ledger", 2, "g-restart") == ["before-restart", "after-restart"]


def test_schemathesis_finds_no_server_errors_and_no_spec_violations(fjord_dev, unique):
    dev = fjord_dev
    # Installed into the interpreter's venv by tests/run.sh (tests/python/requirements.txt).
    schemathesis = Path(sys.executable).parent / "schemathesis"
    if not schemathesis.exists():
        schemathesis = shutil.which("schemathesis")
    assert schemathesis, "schemathesis is installed by tests/run.sh (tests/python/requirements.txt)"
    admin = token_for(dev, dev.admin_key)
    run = subprocess.run(
        [str(schemathesis), "run", f"{dev.url}/openapi.json",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "--header", f"Authorization: Bearer {admin}",
         "--phases", "examples,coverage,fuzzing",
         "--max-examples", "25", "--workers", "1", "--no-color"],
        capture_output=True, text=True, timeout=900, cwd=dev.data_dir.parent)
    assert run.returncode == 0, f"schemathesis failed:\n{run.stdout[-15000:]}\n{run.stderr[-3000:]}"
