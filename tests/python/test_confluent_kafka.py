"""confluent-kafka (librdkafka) against fjord-broker: admin, produce/consume with every codec,
idempotence, committed offsets across a restart, rebalances, configs, groups, DeleteRecords
and ListOffsets."""

import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupState,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

TIMEOUT_S = 30


def admin_client(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def wait_for(what, cond, timeout=TIMEOUT_S, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def topic_partitions(admin, topic):
    md = admin.list_topics(topic=topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    if any(p.leader < 0 or p.error is not None for p in t.partitions.values()):
        return None
    return len(t.partitions)


def create_topic(bootstrap, name, partitions, config=None):
    admin = admin_client(bootstrap)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=TIMEOUT_S,
        request_timeout=TIMEOUT_S,
    )
    assert futures[name].result(timeout=TIMEOUT_S) is None
    wait_for(f"{name} to have {partitions} led partitions", lambda: topic_partitions(admin, name) == partitions)
    return admin


def produce(bootstrap, topic, records, **conf):
    """records: list of (key, value[, partition[, timestamp]]). Returns {value: (partition, offset)}."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 20000, **conf})
    acked, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(f"{msg.value()!r}: {err}")
        else:
            acked[msg.value().decode()] = (msg.partition(), msg.offset())

    for rec in records:
        key, value = rec[0], rec[1]
        kwargs = {}
        if len(rec) > 2 and rec[2] is not None:
            kwargs["partition"] = rec[2]
        if len(rec) > 3:
            kwargs["timestamp"] = rec[3]
        producer.produce(topic, value=value.encode(), key=key.encode() if key else None,
                         on_delivery=on_delivery, **kwargs)
        producer.poll(0)
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} records still undelivered after flush"
    assert errors == [], f"delivery errors: {errors[:10]}"
    assert len(acked) == len(records)
    return acked


def consumer_for(bootstrap, group, **conf):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
        **conf,
    })


def consume_exactly(consumer, n, timeout=TIMEOUT_S, linger=1.0):
    """Polls until n records arrived, then `linger` seconds more in which none may arrive.
    Returns [(partition, offset, key, value)]."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        if time.monotonic() > deadline:
            pytest.fail(f"consumed {len(out)} of {n} records within {timeout} s: {out[:20]}")
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            pytest.fail(f"consumer error after {len(out)} records: {msg.error()}")
        out.append((msg.partition(), msg.offset(), msg.key().decode() if msg.key() else None, msg.value().decode()))
    end = time.monotonic() + linger
    while time.monotonic() < end:
        msg = consumer.poll(0.1)
        if msg is not None and not msg.error():
            out.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
    assert len(out) == n, f"expected exactly {n} records, got {len(out)}; extra: {out[n:][:10]}"
    return out


# ---------------------------------------------------------------------------------------------
# Admin: topics


def test_create_describe_delete_topics(bootstrap, unique):
    admin = admin_client(bootstrap)
    name = unique("ck-admin")
    futures = admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)],
                                  operation_timeout=TIMEOUT_S)
    assert futures[name].result(timeout=TIMEOUT_S) is None
    wait_for("3 led partitions", lambda: topic_partitions(admin, name) == 3)

    md = admin.list_topics(timeout=10)
    assert len(md.brokers) == 1
    broker_id = next(iter(md.brokers))
    assert name in md.topics
    parts = md.topics[name].partitions
    assert sorted(parts) == [0, 1, 2]
    for p in parts.values():
        assert (p.leader, p.replicas, p.isrs) == (broker_id, [broker_id], [broker_id])

    desc = admin.describe_topics(TopicCollection([name]))[name].result(timeout=TIMEOUT_S)
    assert desc.name == name
    assert desc.is_internal is False
    assert sorted(p.id for p in desc.partitions) == [0, 1, 2]
    assert all(p.leader.id == broker_id for p in desc.partitions)
    assert str(desc.topic_id) not in ("", "AAAAAAAAAAAAAAAAAAAAAA"), "topic id must be set (non-zero UUID)"

    # Creating it again fails with TOPIC_ALREADY_EXISTS.
    again = admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name]
    with pytest.raises(KafkaException) as e:
        again.result(timeout=TIMEOUT_S)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    assert admin.delete_topics([name], operation_timeout=TIMEOUT_S)[name].result(timeout=TIMEOUT_S) is None
    wait_for("the topic to disappear", lambda: name not in admin.list_topics(timeout=10).topics)
    missing = admin.delete_topics([name])[name]
    with pytest.raises(KafkaException) as e:
        missing.result(timeout=TIMEOUT_S)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


# ---------------------------------------------------------------------------------------------
# Produce and consume


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_round_trip(bootstrap, unique, compression, idempotent):
    topic = unique(f"ck-rt-{compression}")
    create_topic(bootstrap, topic, 3)
    n = 300
    records = [(f"key-{i % 7}", f"value-{i:05d}-" + "x" * (i % 40)) for i in range(n)]
    acked = produce(bootstrap, topic, records, **{"compression.type": compression,
                                                 "enable.idempotence": idempotent})
    # One key, one partition; offsets dense from 0 in every partition.
    by_key = {}
    for (key, value) in records:
        by_key.setdefault(key, set()).add(acked[value][0])
    assert all(len(ps) == 1 for ps in by_key.values()), by_key
    for p in range(3):
        offsets = sorted(o for (ap, o) in acked.values() if ap == p)
        assert offsets == list(range(len(offsets))), f"partition {p} offsets not dense: {offsets[:20]}"

    consumer = consumer_for(bootstrap, unique("ck-rt-group"))
    try:
        consumer.subscribe([topic])
        got = consume_exactly(consumer, n)
    finally:
        consumer.close()
    last = {}
    values = set()
    key_of = dict((v, k) for (k, v) in records)
    for (p, o, k, v) in got:
        assert o > last.get(p, -1), f"partition {p}: offset {o} after {last.get(p)}"
        last[p] = o
        assert acked[v] == (p, o), f"{v} acked at {acked[v]} but consumed at {(p, o)}"
        assert k == key_of[v]
        values.add(v)
    assert values == set(acked), "every value exactly once"


def test_commit_restart_resume(broker, unique):
    bootstrap = broker.bootstrap
    topic, group = unique("ck-resume"), unique("ck-resume-group")
    create_topic(bootstrap, topic, 3)
    before = [(f"k{i}", f"before-{i}") for i in range(20)]
    produce(bootstrap, topic, before)

    consumer = consumer_for(bootstrap, group)
    try:
        consumer.subscribe([topic])
        got = consume_exactly(consumer, 20)
        assert sorted(v for (_, _, _, v) in got) == sorted(v for (_, v) in before)
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert all(tp.error is None for tp in committed), committed
        assert sum(tp.offset for tp in committed) == 20, committed
    finally:
        consumer.close()

    broker.restart()
    after = [(f"k{i}", f"after-{i}") for i in range(7)]
    produce(bootstrap, topic, after)

    consumer = consumer_for(bootstrap, group)
    try:
        consumer.subscribe([topic])
        got = consume_exactly(consumer, 7, linger=2.0)
    finally:
        consumer.close()
    assert sorted(v for (_, _, _, v) in got) == sorted(v for (_, v) in after), \
        "the resumed group must get only records produced after its commit"


# ---------------------------------------------------------------------------------------------
# Rebalance


def partitions_of(consumer):
    return {tp.partition for tp in consumer.assignment()}


def poll_until(consumers, what, cond, timeout=40):
    deadline = time.monotonic() + timeout
    while True:
        for c in consumers:
            msg = c.poll(0.05)
            if msg is not None and msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
                pytest.fail(f"consumer error while waiting for {what}: {msg.error()}")
        sets = [partitions_of(c) for c in consumers]
        if cond(sets):
            return sets
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; assignments: {sets}")


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_rebalance_on_join_and_leave(bootstrap, unique, strategy):
    topic, group = unique(f"ck-rebalance-{strategy}"), unique("ck-rebalance-group")
    create_topic(bootstrap, topic, 4)
    everything = {0, 1, 2, 3}
    a = consumer_for(bootstrap, group, **{"partition.assignment.strategy": strategy})
    b = consumer_for(bootstrap, group, **{"partition.assignment.strategy": strategy})
    try:
        a.subscribe([topic])
        poll_until([a], "the first member to own all 4 partitions", lambda s: s[0] == everything)

        b.subscribe([topic])
        shares = poll_until([a, b], "both members to share the partitions",
                            lambda s: s[0] and s[1] and not (s[0] & s[1]) and (s[0] | s[1]) == everything)
        assert len(shares[0]) + len(shares[1]) == 4

        b.close()
        poll_until([a], "the survivor to own all 4 partitions again", lambda s: s[0] == everything)

        records = [(None, f"p{p}-{i}", p) for p in range(4) for i in range(5)]
        produce(bootstrap, topic, records)
        got = consume_exactly(a, 20)
        assert {p for (p, _, _, _) in got} == everything
        assert sorted(v for (_, _, _, v) in got) == sorted(v for (_, v, _) in records)
    finally:
        a.close()


# ---------------------------------------------------------------------------------------------
# Configs


def describe_topic_configs(admin, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([res])[res].result(timeout=TIMEOUT_S)


def test_describe_and_incrementally_alter_topic_configs(bootstrap, unique):
    topic = unique("ck-configs")
    admin = create_topic(bootstrap, topic, 1, config={"retention.ms": "3600000"})

    configs = describe_topic_configs(admin, topic)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].is_default is False
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].is_default is True

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", "2000000", incremental_operation=AlterConfigOpType.SET),
    ])
    assert admin.incremental_alter_configs([res])[res].result(timeout=TIMEOUT_S) is None
    configs = describe_topic_configs(admin, topic)
    assert configs["retention.ms"].value == "7200000"
    assert configs["max.message.bytes"].value == "2000000"

    # DELETE reverts to the broker default (log.retention.hours=168).
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    assert admin.incremental_alter_configs([res])[res].result(timeout=TIMEOUT_S) is None
    configs = describe_topic_configs(admin, topic)
    assert configs["retention.ms"].value == "604800000"
    assert configs["retention.ms"].is_default is True
    assert configs["max.message.bytes"].value == "2000000", "other overrides stay"

    # An unknown key is refused.
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET),
    ])
    with pytest.raises(KafkaException):
        admin.incremental_alter_configs([res])[res].result(timeout=TIMEOUT_S)


# ---------------------------------------------------------------------------------------------
# Groups


def test_list_describe_delete_consumer_groups(bootstrap, unique):
    topic, group = unique("ck-groups"), unique("ck-groups-group")
    admin = create_topic(bootstrap, topic, 3)
    produce(bootstrap, topic, [(None, f"g-{i}") for i in range(6)])
    consumer = consumer_for(bootstrap, group, **{"client.id": "fjord-groups-test"})
    try:
        consumer.subscribe([topic])
        consume_exactly(consumer, 6, linger=0.2)
        consumer.commit(asynchronous=False)

        listed = admin.list_consumer_groups(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
        assert not listed.errors, listed.errors
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1, [g.group_id for g in listed.valid]
        assert mine[0].state == ConsumerGroupState.STABLE
        assert mine[0].is_simple_consumer_group is False

        desc = admin.describe_consumer_groups([group])[group].result(timeout=TIMEOUT_S)
        assert desc.group_id == group
        assert desc.state == ConsumerGroupState.STABLE
        assert desc.partition_assignor == "range"
        assert len(desc.members) == 1
        member = desc.members[0]
        assert member.client_id == "fjord-groups-test"
        assert sorted((tp.topic, tp.partition) for tp in member.assignment.topic_partitions) == \
            [(topic, 0), (topic, 1), (topic, 2)]
        broker_id = next(iter(admin.list_topics(timeout=10).brokers))
        assert desc.coordinator.id == broker_id

        # A group with a live member cannot be deleted.
        with pytest.raises(KafkaException) as e:
            admin.delete_consumer_groups([group])[group].result(timeout=TIMEOUT_S)
        assert e.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    finally:
        consumer.close()

    wait_for("the group to become EMPTY", lambda: admin.describe_consumer_groups([group])[group]
             .result(timeout=TIMEOUT_S).state == ConsumerGroupState.EMPTY)
    assert admin.delete_consumer_groups([group])[group].result(timeout=TIMEOUT_S) is None
    listed = admin.list_consumer_groups().result(timeout=TIMEOUT_S)
    assert group not in [g.group_id for g in listed.valid]


# ---------------------------------------------------------------------------------------------
# DeleteRecords and ListOffsets


def test_delete_records(bootstrap, unique):
    topic = unique("ck-delete-records")
    admin = create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, [(None, f"dr-{i}", 0) for i in range(10)])

    futures = admin.delete_records([TopicPartition(topic, 0, 4)], operation_timeout=TIMEOUT_S)
    result = futures[TopicPartition(topic, 0)].result(timeout=TIMEOUT_S)
    assert result.low_watermark == 4

    consumer = consumer_for(bootstrap, unique("ck-dr-reader"))
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (4, 10)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = consume_exactly(consumer, 6, linger=0.5)
    finally:
        consumer.close()
    assert [(o, v) for (_, o, _, v) in got] == [(i, f"dr-{i}") for i in range(4, 10)]

    earliest = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()})
    assert earliest[TopicPartition(topic, 0)].result(timeout=TIMEOUT_S).offset == 4


def test_list_offsets_earliest_latest_and_by_timestamp(bootstrap, unique):
    topic = unique("ck-list-offsets")
    admin = create_topic(bootstrap, topic, 1)
    base = int(time.time() * 1000) - 60_000
    produce(bootstrap, topic, [(None, f"ts-{i}", 0, base + i * 1000) for i in range(10)])
    tp = TopicPartition(topic, 0)

    def lookup(spec):
        return admin.list_offsets({tp: spec}, request_timeout=TIMEOUT_S)[tp].result(timeout=TIMEOUT_S)

    assert lookup(OffsetSpec.earliest()).offset == 0
    assert lookup(OffsetSpec.latest()).offset == 10
    found = lookup(OffsetSpec.for_timestamp(base + 3500))
    assert (found.offset, found.timestamp) == (4, base + 4000)
    assert lookup(OffsetSpec.for_timestamp(base - 100_000)).offset == 0
    assert lookup(OffsetSpec.for_timestamp(base + 20_000)).offset == -1
    assert lookup(OffsetSpec.max_timestamp()).offset == 9

    # The consumer-side lookup agrees.
    consumer = consumer_for(bootstrap, unique("ck-lo"))
    try:
        [res] = consumer.offsets_for_times([TopicPartition(topic, 0, base + 3500)], timeout=10)
        assert res.offset == 4
    finally:
        consumer.close()
