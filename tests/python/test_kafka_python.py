"""kafka-python (pure Python, its own protocol code) against fjord-broker. No api_version is
given anywhere: the client must infer the broker version from ApiVersions by itself."""

import time

import kafka
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

TIMEOUT_S = 30


def wait_for(what, cond, timeout=TIMEOUT_S, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def admin_client(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_S * 1000)


def create_topic(bootstrap, name, partitions):
    admin = admin_client(bootstrap)
    try:
        result = admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1}},
                                     wait_for_metadata=True)
        [topic] = result["topics"]
        assert (topic["name"], topic["error_code"]) == (name, 0), topic
    finally:
        admin.close()


def produce(bootstrap, topic, values, **conf):
    """Sends every value (key = value), waits for each ack; returns {value: (partition, offset)}."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **conf)
    try:
        futures = [(v, producer.send(topic, key=v.encode(), value=v.encode())) for v in values]
        producer.flush(timeout=TIMEOUT_S)
        acked = {}
        for v, f in futures:
            md = f.get(timeout=TIMEOUT_S)
            acked[v] = (md.partition, md.offset)
        return acked
    finally:
        producer.close(timeout=10)


def consume_exactly(consumer, n, timeout=TIMEOUT_S, linger=1.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        if time.monotonic() > deadline:
            pytest.fail(f"consumed {len(out)} of {n} records within {timeout} s: {out[:20]}")
        for records in consumer.poll(timeout_ms=200).values():
            out.extend((r.partition, r.offset, r.value.decode()) for r in records)
    end = time.monotonic() + linger
    while time.monotonic() < end:
        for records in consumer.poll(timeout_ms=100).values():
            out.extend((r.partition, r.offset, r.value.decode()) for r in records)
    assert len(out) == n, f"expected exactly {n} records, got {len(out)}; extra: {out[n:][:10]}"
    return out


def group_consumer(bootstrap, topic, group):
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=500)


def test_client_infers_broker_version(bootstrap):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        inferred = producer.config["api_version"]
    finally:
        producer.close(timeout=10)
    print(f"kafka-python {kafka.__version__} inferred broker version {inferred}")
    assert isinstance(inferred, tuple)
    # 2.1+ is what record headers, zstd and the modern fetch path need; anything lower means
    # the client misreads our ApiVersions answer and falls back to ancient protocols.
    assert inferred >= (2, 1), f"kafka-python inferred broker version {inferred}"


def test_admin_create_list_describe_delete_topics(bootstrap, unique):
    name = unique("kp-admin")
    create_topic(bootstrap, name, 3)
    admin = admin_client(bootstrap)
    try:
        assert name in admin.list_topics()
        [desc] = admin.describe_topics([name])
        assert desc["name"] == name
        assert desc["error_code"] == 0
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2]
        result = admin.delete_topics([name])
        assert [(t["name"], t["error_code"]) for t in result["topics"]] == [(name, 0)]
        wait_for("the topic to disappear", lambda: name not in admin.list_topics())
    finally:
        admin.close()


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_produce_consume_commit_restart_resume(broker, unique, compression):
    bootstrap = broker.bootstrap
    topic, group = unique("kp-resume"), unique("kp-resume-group")
    create_topic(bootstrap, topic, 3)
    before = [f"before-{i}" for i in range(20)]
    acked = produce(bootstrap, topic, before, compression_type=compression)
    for p in range(3):
        offsets = sorted(o for (ap, o) in acked.values() if ap == p)
        assert offsets == list(range(len(offsets))), f"partition {p}: {offsets}"

    consumer = group_consumer(bootstrap, topic, group)
    try:
        got = consume_exactly(consumer, 20)
        for (p, o, v) in got:
            assert acked[v] == (p, o), f"{v} acked at {acked[v]}, consumed at {(p, o)}"
        assert sorted(v for (_, _, v) in got) == sorted(before)
        consumer.commit()
        committed = {p: consumer.committed(TopicPartition(topic, p)) for p in range(3)}
        assert sum(o or 0 for o in committed.values()) == 20, committed
    finally:
        consumer.close(autocommit=False)

    broker.restart()
    after = [f"after-{i}" for i in range(7)]
    produce(bootstrap, topic, after, compression_type=compression)
    consumer = group_consumer(bootstrap, topic, group)
    try:
        got = consume_exactly(consumer, 7, linger=2.0)
    finally:
        consumer.close(autocommit=False)
    assert sorted(v for (_, _, v) in got) == sorted(after), \
        "the resumed group must get only records produced after its commit"
