//! Usage metering end to end: librdkafka produces and consumes known amounts, the broker is
//! restarted in the middle, and the records in `__fjord_usage` add up to exactly what
//! happened — nothing lost or counted twice across the restart, sequences without gaps, and
//! windows that follow each other.

#![allow(clippy::unwrap_used)] // test helpers fail the test on any error

use std::time::Duration;

use fjord_broker::metering::UsageRecord;
use fjord_tests::{
    STEP_TIMEOUT, TestBroker, consume_exactly, consumer_config, create_topic, producer_config,
    unique_name,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "metered";

fn produce(bootstrap: &str, from: usize, n: usize) {
    let p: BaseProducer = producer_config(bootstrap).create().unwrap();
    for i in from..from + n {
        p.send(BaseRecord::<(), _>::to(TOPIC).payload(&format!("{i:0>200}")))
            .unwrap();
    }
    p.flush(STEP_TIMEOUT).unwrap();
}

fn consume_all(bootstrap: &str, n: usize) {
    let c: BaseConsumer = consumer_config(bootstrap, &unique_name("readers"))
        .create()
        .unwrap();
    c.subscribe(&[TOPIC]).unwrap();
    consume_exactly(&c, n, STEP_TIMEOUT, Duration::from_millis(300)).unwrap();
}

/// Every record of `__fjord_usage`, read with a plain assignment (as a collector would).
fn usage(bootstrap: &str) -> Vec<UsageRecord> {
    let c: BaseConsumer = consumer_config(bootstrap, &unique_name("collector"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("__fjord_usage", 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let (_, high) = c
        .fetch_watermarks("__fjord_usage", 0, STEP_TIMEOUT)
        .unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + STEP_TIMEOUT;
    while (out.len() as i64) < high && std::time::Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            out.push(serde_json::from_slice(m.payload().unwrap()).unwrap());
        }
    }
    assert_eq!(out.len() as i64, high, "read the whole usage topic");
    out
}

/// Bytes of the topic's partition logs.
fn stored(b: &TestBroker) -> u64 {
    b.broker()
        .unwrap()
        .topic(TOPIC)
        .unwrap()
        .partitions()
        .iter()
        .map(|p| p.lock().log.size_bytes())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_records_add_up_exactly_across_a_restart() {
    let mut b = TestBroker::start_with(&[("fjord.usage.interval.ms", "300")])
        .await
        .unwrap();
    create_topic(&b.bootstrap(), TOPIC, 2).await.unwrap();
    let bootstrap = b.bootstrap();
    tokio::task::spawn_blocking(move || {
        produce(&bootstrap, 0, 100);
        consume_all(&bootstrap, 100);
    })
    .await
    .unwrap();
    let stored_before = stored(&b);

    b.restart().await.unwrap();
    let bootstrap = b.bootstrap();
    tokio::task::spawn_blocking(move || {
        produce(&bootstrap, 100, 50);
        consume_all(&bootstrap, 150);
    })
    .await
    .unwrap();
    let stored_after = stored(&b);
    // A graceful restart writes the open window: everything so far is in the topic.
    b.restart().await.unwrap();

    let bootstrap = b.bootstrap();
    let mut records = tokio::task::spawn_blocking(move || usage(&bootstrap))
        .await
        .unwrap();
    records.sort_by_key(|r| r.sequence);
    let sequences: Vec<u64> = records.iter().map(|r| r.sequence).collect();
    assert_eq!(
        sequences,
        (0..records.len() as u64).collect::<Vec<_>>(),
        "sequences start at 0 and have no gap or repeat"
    );
    let mut windows: Vec<(i64, i64)> = records
        .iter()
        .map(|r| (r.window_start_ms, r.window_end_ms))
        .collect();
    windows.dedup();
    for pair in windows.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "each window starts where the last ended: {pair:?}"
        );
    }
    let traffic: Vec<&UsageRecord> = records
        .iter()
        .filter(|r| r.kind == "traffic" && r.topic == TOPIC)
        .collect();
    let sum = |f: fn(&UsageRecord) -> u64| traffic.iter().map(|r| f(r)).sum::<u64>();
    assert_eq!(sum(|r| r.records_in), 150, "every produced record, once");
    assert_eq!(
        sum(|r| r.bytes_in),
        stored_after,
        "bytes in = the batches stored"
    );
    assert_eq!(
        sum(|r| r.records_out),
        100 + 150,
        "both consumers' records, once each"
    );
    assert_eq!(
        sum(|r| r.bytes_out),
        stored_before + stored_after,
        "bytes out = what the two consumers were sent"
    );
    assert!(
        traffic
            .iter()
            .all(|r| r.principal.as_deref() == Some("User:ANONYMOUS")),
        "attributed to the principal"
    );
    let storage = records
        .iter()
        .rev()
        .find(|r| r.kind == "storage" && r.topic == TOPIC)
        .unwrap();
    assert_eq!(storage.bytes_stored, Some(stored_after));
    assert_eq!(storage.partitions, Some(2));
    assert!(
        records.iter().all(|r| !r.topic.starts_with("__")),
        "internal topics are not metered"
    );
}
