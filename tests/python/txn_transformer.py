"""A consume-transform-produce worker with confluent-kafka transactions, run as its own process
by test_transactions.py (which kills it with SIGKILL, mid-transaction, many times).

    python txn_transformer.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID

It joins GROUP with a static member id, so each new worker replaces the killed one at once.

Reads INPUT with read_committed in consumer group GROUP and, for each batch, in ONE transaction:
produces every record to OUTPUT (value prefixed with "out-"), adds the consumer's positions to
the transaction (send_offsets_to_transaction) and commits. It prints "committed N" after each
commit and runs until killed.
"""

import sys

from confluent_kafka import Consumer, Producer, TopicPartition


def main() -> None:
    bootstrap, source, sink, group, transactional_id = sys.argv[1:6]
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        # Static membership: a restarted worker takes its predecessor's place at once instead
        # of waiting out the killed member's session.
        "group.instance.id": f"{group}-worker",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": transactional_id,
        "transaction.timeout.ms": 10000,
        "linger.ms": 5,
    })
    producer.init_transactions(30)
    consumer.subscribe([source])
    committed = 0
    while True:
        batch = consumer.consume(num_messages=20, timeout=0.5)
        batch = [m for m in batch if m.error() is None]
        if not batch:
            continue
        producer.begin_transaction()
        for m in batch:
            producer.produce(sink, key=m.key(), value=b"out-" + m.value())
            producer.poll(0)
        positions = consumer.position(consumer.assignment())
        producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        committed += len(batch)
        print(f"committed {committed}", flush=True)


if __name__ == "__main__":
    main()
