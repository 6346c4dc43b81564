"""TLS and SASL with Python clients and kcat: SCRAM users managed through confluent-kafka's
admin API (AlterUserScramCredentials / DescribeUserScramCredentials), kafka-python over
SASL_SSL, kcat with SCRAM, and refusals for wrong or revoked credentials."""

import shutil
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)

from conftest import ADMIN

TIMEOUT_S = 30


def sasl_ssl(broker, mechanism, user, password, **extra):
    return {
        "bootstrap.servers": f"127.0.0.1:{broker.listener_ports['SASL_SSL']}",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(broker.tls.ca),
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        "socket.timeout.ms": 10000,
        **extra,
    }


def admin_client(broker):
    return AdminClient(sasl_ssl(broker, "SCRAM-SHA-512", *ADMIN))


def round_trip(config, topic, n=10):
    p = Producer({**config, "acks": "all"})
    for i in range(n):
        p.produce(topic, value=f"v{i}".encode())
    assert p.flush(TIMEOUT_S) == 0, "every record delivered"
    c = Consumer({**config, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    c.close()
    assert got == [f"v{i}" for i in range(n)]


def can_connect(config):
    """True when a client with `config` gets metadata; False when authentication fails."""
    p = Producer({**config, "socket.timeout.ms": 3000})
    try:
        p.list_topics(timeout=3)
        return True
    except KafkaException:
        return False


def test_scram_users_are_managed_with_the_admin_api(secure_broker, unique):
    admin = admin_client(secure_broker)
    upsert = UserScramCredentialUpsertion(
        "bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"bob-password")
    for fut in admin.alter_user_scram_credentials([upsert]).values():
        fut.result(TIMEOUT_S)

    described = admin.describe_user_scram_credentials(["bob"])
    [desc] = [f.result(TIMEOUT_S) for f in described.values()]
    infos = [(i.mechanism, i.iterations) for i in desc.scram_credential_infos]
    assert infos == [(ScramMechanism.SCRAM_SHA_256, 8192)]

    bob = sasl_ssl(secure_broker, "SCRAM-SHA-256", "bob", "bob-password")
    round_trip(bob, unique("bob"))
    # PLAIN checks the same credential.
    assert can_connect(sasl_ssl(secure_broker, "PLAIN", "bob", "bob-password"))
    # SCRAM-SHA-512 was never set for bob.
    assert not can_connect(sasl_ssl(secure_broker, "SCRAM-SHA-512", "bob", "bob-password"))

    # bob is not a super user: he may not create users.
    bob_admin = AdminClient(bob)
    mallory = UserScramCredentialUpsertion(
        "mallory", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"x")
    with pytest.raises(KafkaException) as refused:
        for fut in bob_admin.alter_user_scram_credentials([mallory]).values():
            fut.result(TIMEOUT_S)
    assert "CLUSTER_AUTHORIZATION_FAILED" in str(refused.value) or "authoriz" in str(refused.value).lower()

    delete = UserScramCredentialDeletion("bob", ScramMechanism.SCRAM_SHA_256)
    for fut in admin.alter_user_scram_credentials([delete]).values():
        fut.result(TIMEOUT_S)
    assert not can_connect(bob), "a revoked credential no longer authenticates"


def test_invalid_scram_changes_are_refused_per_user(secure_broker):
    admin = admin_client(secure_broker)
    too_few = UserScramCredentialUpsertion(
        "carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 100), b"pw")
    with pytest.raises(KafkaException) as e:
        for fut in admin.alter_user_scram_credentials([too_few]).values():
            fut.result(TIMEOUT_S)
    assert "iterations" in str(e.value) or "UNACCEPTABLE_CREDENTIAL" in str(e.value)
    missing = UserScramCredentialDeletion("nobody", ScramMechanism.SCRAM_SHA_256)
    with pytest.raises(KafkaException) as e:
        for fut in admin.alter_user_scram_credentials([missing]).values():
            fut.result(TIMEOUT_S)
    assert "RESOURCE_NOT_FOUND" in str(e.value) or "no SCRAM-SHA-256 credential" in str(e.value)


def test_wrong_password_and_plaintext_on_a_sasl_listener_are_refused(secure_broker):
    assert not can_connect(sasl_ssl(secure_broker, "SCRAM-SHA-512", ADMIN[0], "wrong"))
    assert not can_connect(sasl_ssl(secure_broker, "PLAIN", ADMIN[0], "wrong"))
    # A client that skips SASL on a SASL listener gets nothing.
    no_sasl = {"bootstrap.servers": f"127.0.0.1:{secure_broker.listener_ports['SASL_PLAINTEXT']}",
               "socket.timeout.ms": 3000}
    assert not can_connect(no_sasl)
    assert can_connect(sasl_ssl(secure_broker, "SCRAM-SHA-512", *ADMIN))


def test_kafka_python_over_sasl_ssl(secure_broker, unique):
    from kafka import KafkaConsumer, KafkaProducer

    common = dict(
        bootstrap_servers=f"127.0.0.1:{secure_broker.listener_ports['SASL_SSL']}",
        security_protocol="SASL_SSL",
        ssl_cafile=str(secure_broker.tls.ca),
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=ADMIN[0],
        sasl_plain_password=ADMIN[1],
    )
    topic = unique("kp-sasl")
    producer = KafkaProducer(acks="all", **common)
    for i in range(10):
        producer.send(topic, f"kp-{i}".encode()).get(timeout=TIMEOUT_S)
    producer.close()
    consumer = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000,
                             group_id=unique("kp-group"), **common)
    got = [m.value.decode() for m in consumer]
    consumer.close()
    assert got == [f"kp-{i}" for i in range(10)]


KCAT = shutil.which("kcat") or shutil.which("kafkacat")


@pytest.mark.skipif(KCAT is None, reason="kcat/kafkacat not installed (tests/run.sh installs it as root)")
def test_kcat_with_scram_over_tls(secure_broker, unique):
    topic = unique("kcat-sasl")
    args = ["-b", f"127.0.0.1:{secure_broker.listener_ports['SASL_SSL']}",
            "-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={secure_broker.tls.ca}",
            "-X", "sasl.mechanisms=SCRAM-SHA-256",
            "-X", f"sasl.username={ADMIN[0]}", "-X", f"sasl.password={ADMIN[1]}"]
    lines = [f"tls-{i}" for i in range(20)]

    def kcat(*more, stdin=None):
        proc = subprocess.run([KCAT, *args, *more], input=stdin, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"kcat {' '.join(more)} exited {proc.returncode}:\n{proc.stderr}"
        return proc.stdout

    kcat("-P", "-t", topic, stdin="\n".join(lines) + "\n")
    out = kcat("-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.splitlines() == lines
