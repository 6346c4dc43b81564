//! Produce with rdkafka's FutureProducer (idempotent or not, every compression codec) and
//! read everything back with a StreamConsumer in a group: each value exactly once, at the
//! partition and offset its acknowledgement named, in offset order per partition.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fjord_tests::{
    TestBroker, consumer_config, create_topic, producer_config, stream_consume_exactly, unique_name,
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const RECORDS: usize = 300;

async fn round_trip(compression: &str, idempotent: bool) -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let topic = unique_name(&format!("rt-{compression}"));
    create_topic(&bs, &topic, 3).await?;

    let producer: FutureProducer = producer_config(&bs)
        .set("compression.type", compression)
        .set(
            "enable.idempotence",
            if idempotent { "true" } else { "false" },
        )
        .set("batch.num.messages", "50")
        .create()?;
    let mut pending = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let key = format!("key-{}", i % 7);
        // Compressible payloads, so the codec actually has something to do.
        let value = format!("value-{i:05}-{}", "x".repeat(i % 50));
        let record = FutureRecord::to(&topic).key(&key).payload(&value);
        let delivery = producer
            .send_result(record)
            .map_err(|(e, _)| anyhow::anyhow!("enqueue failed: {e}"))?;
        pending.push((key, value, delivery));
    }
    // (partition, offset) -> (key, value), as acknowledged.
    let mut acked = BTreeMap::new();
    for (key, value, delivery) in pending {
        let d = delivery
            .await?
            .map_err(|(e, _)| anyhow::anyhow!("produce of {value} failed: {e}"))?;
        assert!(
            acked
                .insert((d.partition, d.offset), (key, value))
                .is_none(),
            "offset {}@{} acknowledged twice",
            d.partition,
            d.offset
        );
    }
    // One key always lands on one partition; offsets are dense from 0.
    let mut key_partition = BTreeMap::new();
    for ((p, _), (k, _)) in &acked {
        assert_eq!(
            *key_partition.entry(k.clone()).or_insert(*p),
            *p,
            "key {k} spread over partitions"
        );
    }
    for p in 0..3 {
        let offsets: Vec<i64> = acked
            .keys()
            .filter(|(ap, _)| *ap == p)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {p} offsets not dense"
        );
    }

    let consumer: StreamConsumer = consumer_config(&bs, &unique_name("rt-group")).create()?;
    consumer.subscribe(&[&topic])?;
    let records = stream_consume_exactly(
        &consumer,
        RECORDS,
        Duration::from_secs(45),
        Duration::from_secs(1),
    )
    .await?;

    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for r in &records {
        if let Some(prev) = last_offset.insert(r.partition, r.offset) {
            assert!(
                r.offset > prev,
                "partition {} went from offset {prev} to {}",
                r.partition,
                r.offset
            );
        }
        let (key, value) = acked
            .get(&(r.partition, r.offset))
            .unwrap_or_else(|| panic!("unacknowledged record {r:?}"));
        assert_eq!(
            (r.key.as_deref(), r.value.as_str()),
            (Some(key.as_str()), value.as_str()),
            "record at {}@{}",
            r.partition,
            r.offset
        );
        assert!(seen.insert(value.clone()), "{value} consumed twice");
    }
    assert_eq!(seen.len(), RECORDS);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_uncompressed() -> anyhow::Result<()> {
    round_trip("none", false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_uncompressed_idempotent() -> anyhow::Result<()> {
    round_trip("none", true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_gzip() -> anyhow::Result<()> {
    round_trip("gzip", false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_snappy() -> anyhow::Result<()> {
    round_trip("snappy", false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_lz4_idempotent() -> anyhow::Result<()> {
    round_trip("lz4", true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_zstd_idempotent() -> anyhow::Result<()> {
    round_trip("zstd", true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_to_an_unknown_topic_auto_creates_it() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let topic = unique_name("auto-created");
    let producer: FutureProducer = producer_config(&bs).create()?;
    let d = producer
        .send(
            FutureRecord::<(), str>::to(&topic).payload("first"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("produce failed: {e}"))?;
    assert_eq!((d.partition, d.offset), (0, 0));
    let consumer: StreamConsumer = consumer_config(&bs, &unique_name("auto-group")).create()?;
    consumer.subscribe(&[&topic])?;
    let records = stream_consume_exactly(
        &consumer,
        1,
        Duration::from_secs(30),
        Duration::from_millis(500),
    )
    .await?;
    assert_eq!(records[0].value, "first");
    Ok(())
}
