//! Admin operations through rdkafka's AdminClient against an in-process broker: topics,
//! partitions, configs, DeleteRecords and ListOffsets by timestamp.

use std::time::Duration;

use fjord_tests::{
    TestBroker, admin, admin_options, client_config, consume_exactly, create_topic,
    create_topic_with, producer_config, unique_name, wait_for_partitions, wait_until,
};
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AlterConfig, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

/// Produces `values` to `partition` in one go (so they share batches, as real producers do)
/// and returns their offsets.
async fn produce_to(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    values: &[String],
    timestamps: Option<&[i64]>,
) -> anyhow::Result<Vec<i64>> {
    let producer: FutureProducer = producer_config(bootstrap).set("linger.ms", "50").create()?;
    let mut pending = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let mut record = FutureRecord::<(), String>::to(topic)
            .partition(partition)
            .payload(v);
        if let Some(ts) = timestamps {
            record = record.timestamp(ts[i]);
        }
        pending.push((
            v,
            producer
                .send_result(record)
                .map_err(|(e, _)| anyhow::anyhow!("enqueue of {v} failed: {e}"))?,
        ));
    }
    let mut offsets = Vec::new();
    for (v, delivery) in pending {
        let d = delivery
            .await?
            .map_err(|(e, _)| anyhow::anyhow!("produce of {v} failed: {e}"))?;
        assert_eq!(d.partition, partition);
        offsets.push(d.offset);
    }
    Ok(offsets)
}

fn metadata_partitions(bootstrap: &str, topic: &str) -> anyhow::Result<Option<usize>> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = md.topics().iter().find(|t| t.name() == topic);
    Ok(t.filter(|t| t.error().is_none())
        .map(|t| t.partitions().len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_describe_and_delete_topics() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let admin = admin(&bs)?;
    let (a, b) = (unique_name("admin-a"), unique_name("admin-b"));

    let topics = [
        NewTopic::new(&a, 3, TopicReplication::Fixed(1)),
        NewTopic::new(&b, 1, TopicReplication::Fixed(1)),
    ];
    let results = admin.create_topics(&topics, &admin_options()).await?;
    assert_eq!(results, vec![Ok(a.clone()), Ok(b.clone())]);
    wait_for_partitions(&bs, &a, 3)?;
    wait_for_partitions(&bs, &b, 1)?;

    // Metadata lists both, with leaders on this (only) broker.
    let consumer: BaseConsumer = client_config(&bs).create()?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    let broker_ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
    assert_eq!(broker_ids.len(), 1, "one broker expected: {broker_ids:?}");
    let topic_a = md
        .topics()
        .iter()
        .find(|t| t.name() == a)
        .expect("topic a listed");
    let mut ids: Vec<i32> = topic_a.partitions().iter().map(|p| p.id()).collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2]);
    for p in topic_a.partitions() {
        assert_eq!(p.leader(), broker_ids[0]);
        assert_eq!(p.replicas(), &[broker_ids[0]]);
        assert_eq!(p.isr(), &[broker_ids[0]]);
    }

    // Creating it again is refused with TOPIC_ALREADY_EXISTS.
    let again = admin
        .create_topics(
            [&NewTopic::new(&a, 3, TopicReplication::Fixed(1))],
            &admin_options(),
        )
        .await?;
    assert_eq!(
        again,
        vec![Err((a.clone(), RDKafkaErrorCode::TopicAlreadyExists))]
    );

    // Grow a from 3 to 5 partitions.
    let grown = admin
        .create_partitions([&NewPartitions::new(&a, 5)], &admin_options())
        .await?;
    assert_eq!(grown, vec![Ok(a.clone())]);
    wait_for_partitions(&bs, &a, 5)?;

    // Delete both; Metadata stops listing them.
    let deleted = admin.delete_topics(&[&a, &b], &admin_options()).await?;
    assert_eq!(deleted, vec![Ok(a.clone()), Ok(b.clone())]);
    wait_until(
        "deleted topics to vanish from Metadata",
        Duration::from_secs(30),
        || Ok(metadata_partitions(&bs, &a)?.is_none() && metadata_partitions(&bs, &b)?.is_none()),
    )?;
    let missing = admin.delete_topics(&[&a], &admin_options()).await?;
    assert_eq!(
        missing,
        vec![Err((a.clone(), RDKafkaErrorCode::UnknownTopicOrPartition))]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_are_described_and_altered() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let topic = unique_name("configs");
    create_topic_with(&bs, &topic, 1, &[("retention.ms", "3600000")]).await?;
    let admin = admin(&bs)?;

    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &admin_options())
        .await?;
    let resource = described
        .into_iter()
        .next()
        .expect("one resource")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let retention = resource
        .get("retention.ms")
        .expect("retention.ms described");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert!(
        !retention.is_default,
        "an override is not a default: {retention:?}"
    );
    let cleanup = resource
        .get("cleanup.policy")
        .expect("cleanup.policy described");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert!(
        cleanup.is_default,
        "cleanup.policy was not set: {cleanup:?}"
    );

    // AlterConfigs (rdkafka only speaks the non-incremental API) replaces the topic's set.
    let alter = AlterConfig::new(ResourceSpecifier::Topic(&topic))
        .set("retention.ms", "7200000")
        .set("cleanup.policy", "compact");
    let altered = admin.alter_configs([&alter], &admin_options()).await?;
    assert_eq!(altered.len(), 1);
    altered
        .into_iter()
        .next()
        .expect("one result")
        .map_err(|e| anyhow::anyhow!("alter failed: {e:?}"))?;
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &admin_options())
        .await?;
    let resource = described
        .into_iter()
        .next()
        .expect("one resource")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(
        resource
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("7200000")
    );
    assert_eq!(
        resource
            .get("cleanup.policy")
            .and_then(|e| e.value.as_deref()),
        Some("compact")
    );

    // An unknown key is refused and changes nothing. (rust-rdkafka 0.39's alter_configs does
    // not surface per-resource errors, so the refusal itself is asserted by the Python test
    // and the broker's handler tests; here we check that nothing changed.)
    let bad = AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("no.such.config", "1");
    let _ = admin.alter_configs([&bad], &admin_options()).await?;
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &admin_options())
        .await?;
    let resource = described
        .into_iter()
        .next()
        .expect("one resource")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(
        resource
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("7200000")
    );

    // Configs survive a restart.
    let mut broker = broker;
    broker.restart().await?;
    let admin = fjord_tests::admin(&bs)?;
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &admin_options())
        .await?;
    let resource = described
        .into_iter()
        .next()
        .expect("one resource")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(
        resource
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("7200000")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_moves_the_log_start_offset() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let topic = unique_name("delete-records");
    create_topic(&bs, &topic, 1).await?;
    let values: Vec<String> = (0..10).map(|i| format!("dr-{i}")).collect();
    let offsets = produce_to(&bs, &topic, 0, &values, None).await?;
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>());

    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(4))?;
    let result = admin(&bs)?.delete_records(&tpl, &admin_options()).await?;
    let element = result
        .find_partition(&topic, 0)
        .expect("partition in result");
    element.error()?;
    assert_eq!(
        element.offset(),
        Offset::Offset(4),
        "low watermark after DeleteRecords"
    );

    let consumer: BaseConsumer = client_config(&bs)
        .set("group.id", unique_name("dr-reader"))
        .set("enable.auto.commit", "false")
        .create()?;
    assert_eq!(
        consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10))?,
        (4, 10)
    );
    let mut assign = TopicPartitionList::new();
    assign.add_partition_offset(&topic, 0, Offset::Beginning)?;
    consumer.assign(&assign)?;
    let records = consume_exactly(
        &consumer,
        6,
        Duration::from_secs(30),
        Duration::from_millis(500),
    )?;
    let got: Vec<(i64, String)> = records.into_iter().map(|r| (r.offset, r.value)).collect();
    let want: Vec<(i64, String)> = (4..10).map(|i| (i, format!("dr-{i}"))).collect();
    assert_eq!(got, want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_earliest_latest_and_by_timestamp() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let topic = unique_name("list-offsets");
    create_topic(&bs, &topic, 1).await?;
    let base = fjord_broker::now_ms() - 60_000;
    let timestamps: Vec<i64> = (0..10).map(|i| base + i * 1000).collect();
    let values: Vec<String> = (0..10).map(|i| format!("ts-{i}")).collect();
    produce_to(&bs, &topic, 0, &values, Some(&timestamps)).await?;

    let consumer: BaseConsumer = client_config(&bs)
        .set("group.id", unique_name("lo"))
        .create()?;
    assert_eq!(
        consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10))?,
        (0, 10)
    );
    let lookup = |ts: i64| -> anyhow::Result<Offset> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(ts))?;
        let found = consumer.offsets_for_times(tpl, Duration::from_secs(10))?;
        let element = found
            .find_partition(&topic, 0)
            .expect("partition in result");
        element.error()?;
        Ok(element.offset())
    };
    // The first *record* (not batch) whose timestamp is >= the asked one, as Kafka answers.
    assert_eq!(lookup(base)?, Offset::Offset(0));
    assert_eq!(lookup(base + 3500)?, Offset::Offset(4));
    assert_eq!(lookup(base + 9000)?, Offset::Offset(9));
    assert_eq!(lookup(base - 100_000)?, Offset::Offset(0));
    // Past the last timestamp: no such offset (librdkafka reports End / -1).
    let past = lookup(base + 20_000)?;
    assert!(
        matches!(past, Offset::End | Offset::Offset(-1)),
        "lookup past the end gave {past:?}"
    );
    Ok(())
}
