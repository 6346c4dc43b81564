"""Exactly-once consume-transform-produce with confluent-kafka transactions against
fjord-broker: a worker process (txn_transformer.py) is killed with SIGKILL many times, at
random moments (mostly mid-transaction); the output topic read with read_committed holds every
input record exactly once."""

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

INPUTS = 10000
KILLS = 20
TIMEOUT_S = 120
WORKER = Path(__file__).with_name("txn_transformer.py")


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(30)


def read_all(bootstrap, topic, partitions, isolation):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"reader-{time.monotonic_ns()}",
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values, eof = [], set()
    deadline = time.monotonic() + 30
    while len(eof) < partitions and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        values.append(m.value().decode())
    consumer.close()
    return values


def start_worker(bootstrap, source, sink, group, log):
    return subprocess.Popen(
        [sys.executable, str(WORKER), bootstrap, source, sink, group, f"{group}-tx"],
        stdout=log, stderr=subprocess.STDOUT)


def test_killed_transformers_produce_every_input_exactly_once(broker, unique, tmp_path):
    bootstrap = broker.bootstrap
    base = unique("ctp")
    source, sink, group = f"{base}-in", f"{base}-out", f"{base}-group"
    create_topic(bootstrap, source, 3)
    create_topic(bootstrap, sink, 3)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(INPUTS):
        producer.produce(source, key=str(i % 97), value=f"{i}")
    assert producer.flush(30) == 0

    rng = random.Random(20261203)
    logs = []
    for n in range(KILLS):
        log_path = tmp_path / f"worker-{n}.log"
        logs.append(log_path)
        with open(log_path, "wb") as log:
            worker = start_worker(bootstrap, source, sink, group, log)
        # Kill it soon after its first commit: most likely in the middle of a later transaction.
        deadline = time.monotonic() + 60
        while b"committed" not in log_path.read_bytes():
            assert worker.poll() is None, f"worker {n} died:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"worker {n} committed nothing in 60 s"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.08))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    # A last worker finishes the job.
    log_path = tmp_path / "worker-last.log"
    with open(log_path, "wb") as log:
        worker = start_worker(bootstrap, source, sink, group, log)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            if len(read_all(bootstrap, sink, 3, "read_committed")) >= INPUTS:
                break
            assert worker.poll() is None, f"worker died:\n{log_path.read_text()[-3000:]}"
            time.sleep(2)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    # Every killed worker had committed some transactions of its own.
    assert all(b"committed" in p.read_bytes() for p in logs)

    committed = read_all(bootstrap, sink, 3, "read_committed")
    counts = Counter(committed)
    duplicates = {v: n for v, n in counts.items() if n > 1}
    missing = [i for i in range(INPUTS) if f"out-{i}" not in counts]
    assert not duplicates, f"{len(duplicates)} records twice, e.g. {list(duplicates.items())[:5]}"
    assert not missing, f"{len(missing)} inputs missing, e.g. {missing[:10]}"
    assert len(committed) == INPUTS
    # The kills did land mid-transaction: aborted records are in the log, hidden from
    # read_committed readers but seen by read_uncommitted ones.
    uncommitted = read_all(bootstrap, sink, 3, "read_uncommitted")
    assert len(uncommitted) > INPUTS, "no kill interrupted a transaction; the test proved nothing"


def test_an_open_transaction_is_invisible_until_committed_and_aborted_ones_never(broker, unique):
    bootstrap = broker.bootstrap
    topic = unique("txn")
    create_topic(bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{topic}-tx"})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=f"aborted-{i}")
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=f"open-{i}")
    p.flush(30)
    assert read_all(bootstrap, topic, 1, "read_committed") == []
    assert sorted(read_all(bootstrap, topic, 1, "read_uncommitted")) == sorted(
        [f"aborted-{i}" for i in range(5)] + [f"open-{i}" for i in range(5)])
    p.commit_transaction(30)
    assert read_all(bootstrap, topic, 1, "read_committed") == [f"open-{i}" for i in range(5)]
