"""confluent-kafka with the KIP-848 consumer group protocol (`group.protocol=consumer`) against
fjord-broker: server-side assignment, partitions split on join and handed back on leave,
committed offsets across a restart, and describing the group with ConsumerGroupDescribe."""

import time

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, libversion
from confluent_kafka.admin import AdminClient

from conftest import BrokerProcess, broker_binary
from test_confluent_kafka import TIMEOUT_S, consume_exactly, create_topic, produce

# librdkafka made the consumer protocol generally available in 2.12 (2.4-2.11: early access).
MIN_LIBRDKAFKA = (2, 12, 0)
LIBRDKAFKA = tuple(int(x) for x in libversion()[0].split(".")[:3])
pytestmark = pytest.mark.skipif(
    LIBRDKAFKA < MIN_LIBRDKAFKA,
    reason=f"librdkafka {libversion()[0]} predates the GA consumer group protocol (needs 2.12+)",
)


@pytest.fixture
def kip848_broker(tmp_path):
    """A broker that tells members to heartbeat every 500 ms (default 5 s) so rebalances are
    quick; sessions expire after 10 s."""
    data_dir, log_dir = tmp_path / "data", tmp_path / "logs"
    data_dir.mkdir()
    log_dir.mkdir()
    b = BrokerProcess(broker_binary(), data_dir, log_dir, extra_args=[
        "--set", "group.consumer.heartbeat.interval.ms=500",
        "--set", "group.consumer.session.timeout.ms=10000",
    ])
    b.start()
    try:
        yield b
    finally:
        b.stop()


def consumer_for(bootstrap, group, **conf):
    # No session.timeout.ms / heartbeat.interval.ms / partition.assignment.strategy: the
    # broker owns those with this protocol (librdkafka refuses them).
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        **conf,
    })


def partitions_of(consumer):
    return {tp.partition for tp in consumer.assignment()}


def poll_until(consumers, what, cond, timeout=40):
    deadline = time.monotonic() + timeout
    while True:
        for c in consumers:
            msg = c.poll(0.05)
            if msg is not None and msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
                pytest.fail(f"consumer error while waiting for {what}: {msg.error()}")
            assert msg is None or msg.error(), f"unexpected record while waiting for {what}"
        sets = [partitions_of(c) for c in consumers]
        if cond(sets):
            return sets
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; assignments: {sets}")


def test_consumer_protocol_split_and_hand_back(kip848_broker, unique):
    bootstrap = kip848_broker.bootstrap
    topic, group = unique("ck848-split"), unique("ck848-split-group")
    create_topic(bootstrap, topic, 4)
    everything = {0, 1, 2, 3}
    first = [(None, f"first-p{p}-{i}", p) for p in range(4) for i in range(5)]
    produce(bootstrap, topic, first)

    a = consumer_for(bootstrap, group, **{"client.id": "ck848-a"})
    b = consumer_for(bootstrap, group)
    try:
        a.subscribe([topic])
        got = consume_exactly(a, 20)
        assert sorted(v for (_, _, _, v) in got) == sorted(v for (_, v, _) in first)
        assert partitions_of(a) == everything
        a.commit(asynchronous=False)

        b.subscribe([topic])
        shares = poll_until([a, b], "both members to share the partitions",
                            lambda s: s[0] and s[1] and not (s[0] & s[1]) and (s[0] | s[1]) == everything)
        assert sorted(len(s) for s in shares) == [2, 2]

        # ConsumerGroupDescribe: both members, epochs, assignments.
        admin = AdminClient({"bootstrap.servers": bootstrap})
        desc = admin.describe_consumer_groups([group])[group].result(timeout=TIMEOUT_S)
        assert desc.group_id == group
        assert desc.state == ConsumerGroupState.STABLE, desc.state
        assert len(desc.members) == 2
        assigned = sorted(tp.partition for m in desc.members for tp in m.assignment.topic_partitions)
        assert assigned == [0, 1, 2, 3]
        assert "ck848-a" in {m.client_id for m in desc.members}

        b.close()
        poll_until([a], "the survivor to own all 4 partitions again", lambda s: s[0] == everything)

        second = [(None, f"second-p{p}-{i}", p) for p in range(4) for i in range(5)]
        produce(bootstrap, topic, second)
        got = consume_exactly(a, 20)
        assert sorted(v for (_, _, _, v) in got) == sorted(v for (_, v, _) in second), \
            "only records after the commit, each once"
    finally:
        a.close()


def test_consumer_protocol_commit_restart_resume(kip848_broker, unique):
    bootstrap = kip848_broker.bootstrap
    topic, group = unique("ck848-resume"), unique("ck848-resume-group")
    create_topic(bootstrap, topic, 3)
    before = [(f"k{i}", f"before-{i}") for i in range(20)]
    produce(bootstrap, topic, before)
    consumer = consumer_for(bootstrap, group)
    try:
        consumer.subscribe([topic])
        got = consume_exactly(consumer, 20)
        assert sorted(v for (_, _, _, v) in got) == sorted(v for (_, v) in before)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()

    kip848_broker.restart()
    after = [(f"k{i}", f"after-{i}") for i in range(7)]
    produce(bootstrap, topic, after)
    consumer = consumer_for(bootstrap, group)
    try:
        consumer.subscribe([topic])
        got = consume_exactly(consumer, 7, linger=2.0)
    finally:
        consumer.close()
    assert sorted(v for (_, _, _, v) in got) == sorted(v for (_, v) in after)


def test_unknown_remote_assignor_is_a_fatal_error(kip848_broker, unique):
    bootstrap = kip848_broker.bootstrap
    topic, group = unique("ck848-assignor"), unique("ck848-assignor-group")
    create_topic(bootstrap, topic, 1)
    consumer = consumer_for(bootstrap, group, **{"group.remote.assignor": "no-such-assignor"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
                # librdkafka raises it as a fatal error (_FATAL) naming the broker's error.
                assert msg.error().code() in (KafkaError._FATAL, KafkaError.UNSUPPORTED_ASSIGNOR), msg.error()
                assert "assignor" in str(msg.error()), msg.error()
                break
            assert time.monotonic() < deadline, "no error for an unsupported assignor"
    finally:
        consumer.close()
