"""ACLs with confluent-kafka's admin API (CreateAcls / DescribeAcls / DeleteAcls): an ordinary
user is refused until ACLs allow it, the ACLs survive a broker restart, and deleting them
takes the access away again."""

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, NewTopic, ResourcePatternType, ResourceType)

from conftest import ADMIN, ALICE

TIMEOUT_S = 30


def sasl(broker, user, password, **extra):
    return {
        "bootstrap.servers": f"127.0.0.1:{broker.listener_ports['SASL_SSL']}",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(broker.tls.ca),
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": user,
        "sasl.password": password,
        "socket.timeout.ms": 10000,
        **extra,
    }


def produce_errors(config, topic):
    """Produces one record; returns the delivery error (None when delivered)."""
    errors = []
    p = Producer({**config, "message.timeout.ms": 5000})
    p.produce(topic, b"v", on_delivery=lambda err, _msg: errors.append(err))
    p.flush(TIMEOUT_S)
    assert len(errors) == 1, "one delivery report"
    return errors[0]


def every_acl():
    return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                            AclOperation.ANY, AclPermissionType.ANY)


def test_acls_are_managed_enforced_and_persisted(acl_broker, unique):
    admin = AdminClient(sasl(acl_broker, *ADMIN))
    topic = unique("acl")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(TIMEOUT_S)
    alice = sasl(acl_broker, *ALICE)

    err = produce_errors(alice, topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    grants = [
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{ALICE[0]}",
                   "*", AclOperation.WRITE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{ALICE[0]}",
                   "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "readers-", ResourcePatternType.PREFIXED,
                   f"User:{ALICE[0]}", "*", AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for binding, future in admin.create_acls(grants).items():
        assert future.result(TIMEOUT_S) is None, binding

    acl_broker.restart()
    admin = AdminClient(sasl(acl_broker, *ADMIN))
    described = admin.describe_acls(every_acl()).result(TIMEOUT_S)
    assert set(grants) <= set(described), described

    assert produce_errors(alice, topic) is None
    c = Consumer({**alice, "group.id": unique("readers-"), "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        msg = None
        for _ in range(100):
            msg = c.poll(0.3)
            if msg is not None and msg.error() is None:
                break
        assert msg is not None and msg.error() is None and msg.value() == b"v", msg
        c.commit(msg, asynchronous=False)
    finally:
        c.close()

    # Alice may not manage ACLs herself. (librdkafka hands back an empty list for a
    # DescribeAcls answered with CLUSTER_AUTHORIZATION_FAILED rather than raising: either
    # way she learns nothing.)
    alice_admin = AdminClient(alice)
    try:
        assert alice_admin.describe_acls(every_acl()).result(TIMEOUT_S) == []
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED, e
    self_grant = AclBinding(ResourceType.TOPIC, "*", ResourcePatternType.LITERAL,
                            f"User:{ALICE[0]}", "*", AclOperation.ALL, AclPermissionType.ALLOW)
    with pytest.raises(KafkaException) as refused:
        alice_admin.create_acls([self_grant])[self_grant].result(TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED, refused.value

    write_filter = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL,
                                    f"User:{ALICE[0]}", "*", AclOperation.WRITE,
                                    AclPermissionType.ALLOW)
    deleted = admin.delete_acls([write_filter])[write_filter].result(TIMEOUT_S)
    assert deleted == [grants[0]], deleted
    err = produce_errors(alice, topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
