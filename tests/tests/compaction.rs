//! Compacted topics end to end with librdkafka: a million updates of a thousand keys are
//! cleaned down to one record per key at its original offset, committed offsets stay usable,
//! a new consumer rebuilds the same state, and keyless records are refused.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Buf as _;
use fjord_tests::{TestBroker, consumer_config, create_topic_with, producer_config, unique_name};
use kafka_protocol::records::RecordBatchDecoder;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const UPDATES: i64 = 1_000_000;
const KEYS: i64 = 1_000;
/// Keys whose last update is a tombstone.
const DELETED: i64 = 50;

/// (offset, key, value) of every record the partition's log holds, read straight from it.
type Stored = Vec<(i64, Option<String>, Option<String>)>;

fn stored(tb: &TestBroker, topic: &str) -> anyhow::Result<Stored> {
    let broker = tb.broker()?;
    let t = broker
        .topics()
        .into_iter()
        .find(|t| t.name == topic)
        .context("no such topic")?;
    let p = t.partition(0).context("no partition 0")?;
    let mut bytes = {
        let state = p.lock();
        state
            .log
            .read(state.log.log_start_offset(), usize::MAX / 2, true)?
    };
    let text = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut out = Vec::new();
    while bytes.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut bytes)?;
        for r in set.records {
            out.push((r.offset, text(r.key), text(r.value)));
        }
    }
    Ok(out)
}

/// What the log must hold once everything is cleaned: each key's last update, at the offset
/// it was written (the idempotent producer keeps send order, so update `i` is offset `i`).
fn expected() -> Stored {
    (UPDATES - KEYS..UPDATES)
        .map(|i| {
            let key = i % KEYS;
            let value = (key >= DELETED).then(|| format!("v{i}"));
            (i, Some(format!("key-{key}")), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_updates_compact_to_one_record_per_key() -> anyhow::Result<()> {
    let mut tb = TestBroker::start_with(&[
        ("log.cleaner.backoff.ms", "200"),
        ("log.retention.check.interval.ms", "500"),
    ])
    .await?;
    let bootstrap = tb.bootstrap();
    let topic = unique_name("compacted");
    create_topic_with(
        &bootstrap,
        &topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1048576"),
            // The active segment is never cleaned: roll it soon after the last update.
            ("segment.ms", "3000"),
            ("min.cleanable.dirty.ratio", "0.1"),
        ],
    )
    .await?;

    let started = Instant::now();
    let producer: BaseProducer = producer_config(&bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.size", "500000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "200000")
        .create()?;
    for i in 0..UPDATES {
        let key = format!("key-{}", i % KEYS);
        let value = format!("v{i}");
        let deleted = i >= UPDATES - KEYS && i % KEYS < DELETED;
        loop {
            let mut record = BaseRecord::<String, String>::to(&topic).key(&key);
            if !deleted {
                record = record.payload(&value);
            }
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => anyhow::bail!("produce {i} failed: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60))?;
    eprintln!("produced {UPDATES} updates in {:?}", started.elapsed());

    // A group commits an offset in the middle: the record there is about to be cleaned away.
    let group = unique_name("resume");
    {
        let consumer: BaseConsumer = consumer_config(&bootstrap, &group).create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(UPDATES / 2))?;
        consumer.commit(&tpl, CommitMode::Sync)?;
    }

    let want = expected();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last_len = 0;
    loop {
        let now = stored(&tb, &topic)?;
        if now == want {
            break;
        }
        last_len = now.len();
        anyhow::ensure!(
            Instant::now() < deadline,
            "the log still holds {last_len} records, not one per key, after 180 s; metrics:\n{}",
            cleaner_metrics(&tb)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "compacted to {KEYS} records {:?} after the start (last poll saw {last_len}); {}",
        started.elapsed(),
        cleaner_metrics(&tb)
    );

    // The committed offset still works: the group resumes after it without a reset.
    let resumed: Vec<i64> = {
        let consumer: BaseConsumer = consumer_config(&bootstrap, &group)
            .set("auto.offset.reset", "error")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Stored)?;
        consumer.assign(&tpl)?;
        poll_n(&consumer, KEYS as usize)?
            .into_iter()
            .map(|(o, _, _)| o)
            .collect()
    };
    assert_eq!(resumed, want.iter().map(|r| r.0).collect::<Vec<_>>());

    // Survives a restart, and a new consumer rebuilds the same final state.
    tb.restart().await?;
    assert_eq!(stored(&tb, &topic)?, want);
    let consumer: BaseConsumer = consumer_config(&bootstrap, &unique_name("rebuild")).create()?;
    consumer.subscribe(&[&topic])?;
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    for (_, key, value) in poll_n(&consumer, KEYS as usize)? {
        let key = key.context("a record without a key")?;
        match value {
            Some(v) => state.insert(key, v),
            None => state.remove(&key),
        };
    }
    let want_state: BTreeMap<String, String> = want
        .iter()
        .filter_map(|(_, k, v)| Some((k.clone()?, v.clone()?)))
        .collect();
    assert_eq!(state.len(), (KEYS - DELETED) as usize);
    assert_eq!(state, want_state);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_topic_refuses_records_without_a_key() -> anyhow::Result<()> {
    let tb = TestBroker::start().await?;
    let bootstrap = tb.bootstrap();
    let topic = unique_name("keyed");
    create_topic_with(
        &bootstrap,
        &topic,
        1,
        &[("cleanup.policy", "compact,delete")],
    )
    .await?;
    let producer: FutureProducer = producer_config(&bootstrap).create()?;
    let refused = producer
        .send(
            FutureRecord::<(), _>::to(&topic).payload("no key"),
            Duration::from_secs(20),
        )
        .await;
    match refused {
        Err((KafkaError::MessageProduction(code), _)) => {
            assert_eq!(code, RDKafkaErrorCode::InvalidRecord)
        }
        other => panic!("a keyless record was not refused: {other:?}"),
    }
    let accepted = producer
        .send(
            FutureRecord::to(&topic).key("k").payload("keyed"),
            Duration::from_secs(20),
        )
        .await
        .map_err(|(e, _)| e)?;
    assert_eq!(
        accepted.offset, 0,
        "nothing of the refused record was written"
    );
    Ok(())
}

fn poll_n(consumer: &BaseConsumer, n: usize) -> anyhow::Result<Stored> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < n {
        anyhow::ensure!(Instant::now() < deadline, "consumed {} of {n}", out.len());
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => anyhow::bail!("consumer error after {} records: {e}", out.len()),
            Some(Ok(m)) => out.push((
                m.offset(),
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                m.payload().map(|v| String::from_utf8_lossy(v).into_owned()),
            )),
        }
    }
    Ok(out)
}

fn cleaner_metrics(tb: &TestBroker) -> String {
    tb.broker()
        .ok()
        .and_then(|b| b.metrics_text().ok())
        .map(|text| {
            text.lines()
                .filter(|l| l.starts_with("fjord_log_cleaner"))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}
