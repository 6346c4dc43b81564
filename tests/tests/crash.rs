//! Crash tests against the real binary: `kill -9` mid-load, restart on the same data dir,
//! and every acknowledged record (or committed offset) is still there.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use fjord_tests::{
    ChildBroker, client_config, consume_exactly, consumer_config, create_topic, producer_config,
    unique_name,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;
/// Kill once this many records are acknowledged (or after `LOAD_TIME`, whichever is first).
const KILL_AFTER_ACKS: usize = 3000;
const LOAD_TIME: Duration = Duration::from_secs(20);
/// Records still sent after the kill, so some are in flight across it.
const SENT_AFTER_KILL: usize = 500;
const IN_FLIGHT: usize = 200;

struct Load {
    pending: VecDeque<(String, DeliveryFuture)>,
    acked: Vec<(i32, i64, String)>,
    failed: usize,
}

impl Load {
    async fn settle_one(&mut self) -> anyhow::Result<()> {
        let Some((value, delivery)) = self.pending.pop_front() else {
            return Ok(());
        };
        match delivery.await? {
            Ok(d) => self.acked.push((d.partition, d.offset, value)),
            Err(_) => self.failed += 1,
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_records_survive_kill_9() -> anyhow::Result<()> {
    produce_through_kill_9(false).await
}

/// The idempotent producer additionally must not duplicate a record: the broker rebuilds each
/// producer's last sequences from the log, so retries of in-flight batches are recognised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_acked_records_survive_kill_9_without_duplicates() -> anyhow::Result<()> {
    produce_through_kill_9(true).await
}

async fn produce_through_kill_9(idempotent: bool) -> anyhow::Result<()> {
    let mut broker = ChildBroker::start(&["--set", "log.flush.interval.messages=1"])?;
    let bs = broker.bootstrap();
    let topic = unique_name("crash");
    create_topic(&bs, &topic, PARTITIONS).await?;

    let producer: FutureProducer = producer_config(&bs)
        .set(
            "enable.idempotence",
            if idempotent { "true" } else { "false" },
        )
        .set("message.timeout.ms", "15000")
        .set("linger.ms", "2")
        .create()?;
    let mut load = Load {
        pending: VecDeque::new(),
        acked: Vec::new(),
        failed: 0,
    };
    let started = Instant::now();
    let mut killed_at: Option<usize> = None;
    let mut sent_after_kill = 0;
    let mut i = 0u64;
    while sent_after_kill < SENT_AFTER_KILL {
        if killed_at.is_none()
            && (load.acked.len() >= KILL_AFTER_ACKS || started.elapsed() > LOAD_TIME)
        {
            broker.kill9()?;
            killed_at = Some(load.acked.len());
        }
        let value = format!("crash-{i:08}");
        i += 1;
        let record = FutureRecord::to(&topic).key(&value).payload(&value);
        match producer.send_result(record) {
            Ok(delivery) => load.pending.push_back((value, delivery)),
            Err((e, _)) => anyhow::bail!("enqueue failed: {e}"),
        }
        if killed_at.is_some() {
            sent_after_kill += 1;
        }
        if load.pending.len() >= IN_FLIGHT && killed_at.is_none() {
            load.settle_one().await?;
        }
    }
    let acked_before_kill = killed_at.unwrap_or(0);
    assert!(
        acked_before_kill > 0,
        "no record was acknowledged in {LOAD_TIME:?} before the kill; stderr:\n{}",
        broker.stderr()
    );

    // Back up on the same dir while the producer still retries what was in flight.
    broker.restart()?;
    let drain_deadline = Instant::now() + Duration::from_secs(40);
    while !load.pending.is_empty() {
        anyhow::ensure!(
            Instant::now() < drain_deadline,
            "deliveries did not settle within 40 s"
        );
        load.settle_one().await?;
    }
    drop(producer);

    // Read every partition to its high watermark.
    let reader: BaseConsumer = client_config(&bs)
        .set("group.id", unique_name("crash-reader"))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    let mut high = BTreeMap::new();
    for p in 0..PARTITIONS {
        let (_, hw) = reader.fetch_watermarks(&topic, p, Duration::from_secs(10))?;
        high.insert(p, hw);
        assignment.add_partition_offset(&topic, p, Offset::Beginning)?;
    }
    reader.assign(&assignment)?;
    let mut stored: BTreeMap<(i32, i64), String> = BTreeMap::new();
    let total: i64 = high.values().sum();
    let deadline = Instant::now() + Duration::from_secs(40);
    while (stored.len() as i64) < total {
        anyhow::ensure!(
            Instant::now() < deadline,
            "read {} of {total} stored records within 40 s",
            stored.len()
        );
        match reader.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => anyhow::bail!("reader error: {e}"),
            Some(Ok(m)) => {
                let value = m
                    .payload()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                stored.insert((m.partition(), m.offset()), value);
            }
        }
    }

    eprintln!(
        "crash test (idempotent={idempotent}): {} acked ({acked_before_kill} before the kill), {} failed, high watermarks {high:?}",
        load.acked.len(),
        load.failed
    );
    let mut lost = Vec::new();
    for (p, o, v) in &load.acked {
        match stored.get(&(*p, *o)) {
            Some(s) if s == v => {}
            other => lost.push(format!("{p}@{o}: acked {v}, stored {other:?}")),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records lost or changed ({} acked before the kill, {} failed, high watermarks {high:?}); first: {:?}\nbroker stderr:\n{}",
        lost.len(),
        load.acked.len(),
        acked_before_kill,
        load.failed,
        &lost[..lost.len().min(10)],
        broker.stderr()
    );
    if idempotent {
        let mut seen = BTreeMap::new();
        let duplicates: Vec<String> = stored
            .iter()
            .filter_map(|(at, v)| {
                seen.insert(v.clone(), *at)
                    .map(|first| format!("{v} at {first:?} and {at:?}"))
            })
            .collect();
        assert!(
            duplicates.is_empty(),
            "idempotent producer: {} duplicated records after kill -9; first: {:?}\nbroker stderr:\n{}",
            duplicates.len(),
            &duplicates[..duplicates.len().min(10)],
            broker.stderr()
        );
    }
    broker.terminate()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_kill_9() -> anyhow::Result<()> {
    let mut broker = ChildBroker::start(&["--set", "log.flush.interval.messages=1"])?;
    let bs = broker.bootstrap();
    let topic = unique_name("crash-commit");
    let group = unique_name("crash-commit-group");
    create_topic(&bs, &topic, 1).await?;
    let producer: FutureProducer = producer_config(&bs).create()?;
    for i in 0..10 {
        let v = format!("c-{i}");
        producer
            .send(
                FutureRecord::<(), String>::to(&topic).payload(&v),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
    }
    {
        let consumer: BaseConsumer = consumer_config(&bs, &group).create()?;
        consumer.subscribe(&[&topic])?;
        consume_exactly(
            &consumer,
            10,
            Duration::from_secs(30),
            Duration::from_millis(200),
        )?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(7))?;
        consumer.commit(&tpl, CommitMode::Sync)?;
    }
    broker.kill9()?; // no graceful shutdown, no final flush
    broker.restart()?;
    let consumer: BaseConsumer = consumer_config(&bs, &group).create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, 0);
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(20))?;
    assert_eq!(
        committed.find_partition(&topic, 0).map(|e| e.offset()),
        Some(Offset::Offset(7)),
        "committed offset lost; broker stderr:\n{}",
        broker.stderr()
    );
    consumer.subscribe(&[&topic])?;
    let got = consume_exactly(
        &consumer,
        3,
        Duration::from_secs(30),
        Duration::from_millis(500),
    )?;
    let got: Vec<(i64, String)> = got.into_iter().map(|r| (r.offset, r.value)).collect();
    assert_eq!(
        got,
        vec![
            (7, "c-7".to_string()),
            (8, "c-8".to_string()),
            (9, "c-9".to_string())
        ]
    );
    broker.terminate()?;
    Ok(())
}
