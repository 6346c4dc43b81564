//! The KIP-848 consumer group protocol with librdkafka (`group.protocol=consumer`): server-side
//! assignment, incremental hand-over on join and leave with no record consumed twice after a
//! commit, committed offsets across a broker restart, a regex subscription that picks up a new
//! topic, and a classic group beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use fjord_tests::{
    Consumed, TestBroker, client_config, consume_exactly, consumer_config, create_topic,
    producer_config, stream_consume_exactly, unique_name,
};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Short intervals so rebalances take seconds, not the 45 s / 5 s defaults.
const BROKER_CONFIG: &[(&str, &str)] = &[
    ("group.consumer.heartbeat.interval.ms", "500"),
    ("group.consumer.session.timeout.ms", "10000"),
];

/// A consumer of the new protocol. No `session.timeout.ms`, `heartbeat.interval.ms` or
/// `partition.assignment.strategy`: librdkafka refuses them with `group.protocol=consumer`.
fn new_protocol_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "2000");
    config
}

async fn produce_values(
    bs: &str,
    topic: &str,
    values: &[String],
    partition: Option<i32>,
) -> anyhow::Result<()> {
    let producer: FutureProducer = producer_config(bs).create()?;
    for v in values {
        let mut record = FutureRecord::<str, String>::to(topic)
            .key(v.as_str())
            .payload(v);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("produce of {v} failed: {e}"))?;
    }
    Ok(())
}

/// `n` values per partition of `partitions`, each produced to its partition.
async fn produce_per_partition(
    bs: &str,
    topic: &str,
    prefix: &str,
    partitions: i32,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut all = Vec::new();
    for p in 0..partitions {
        let values: Vec<String> = (0..n).map(|i| format!("{prefix}-p{p}-{i}")).collect();
        produce_values(bs, topic, &values, Some(p)).await?;
        all.extend(values);
    }
    all.sort();
    Ok(all)
}

fn sorted_values(records: &[Consumed]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|r| r.value.clone()).collect();
    v.sort();
    v
}

fn assigned(consumer: &BaseConsumer) -> anyhow::Result<BTreeSet<i32>> {
    Ok(consumer
        .assignment()?
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect())
}

/// Polls every consumer (which drives the protocol) until `done` holds for their assignments,
/// keeping whatever records arrive meanwhile.
fn poll_until(
    consumers: &[&BaseConsumer],
    what: &str,
    timeout: Duration,
    got: &mut Vec<Vec<Consumed>>,
    done: impl Fn(&[BTreeSet<i32>]) -> bool,
) -> anyhow::Result<Vec<BTreeSet<i32>>> {
    let deadline = Instant::now() + timeout;
    got.resize_with(consumers.len(), Vec::new);
    loop {
        for (i, c) in consumers.iter().enumerate() {
            match c.poll(Duration::from_millis(50)) {
                None | Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => anyhow::bail!("consumer error while waiting for {what}: {e}"),
                Some(Ok(m)) => got[i].push(fjord_tests::to_consumed(&m)),
            }
        }
        let sets = consumers
            .iter()
            .map(|c| assigned(c))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if done(&sets) {
            return Ok(sets);
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}; assignments: {sets:?}");
        }
    }
}

/// Polls every consumer for `total` records between them, then `linger` more for extras.
fn consume_between(
    consumers: &[&BaseConsumer],
    total: usize,
    timeout: Duration,
    linger: Duration,
    got: &mut Vec<Vec<Consumed>>,
) -> anyhow::Result<()> {
    got.resize_with(consumers.len(), Vec::new);
    let deadline = Instant::now() + timeout;
    let mut linger_end: Option<Instant> = None;
    loop {
        for (i, c) in consumers.iter().enumerate() {
            match c.poll(Duration::from_millis(50)) {
                None | Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => anyhow::bail!("consumer error: {e}"),
                Some(Ok(m)) => got[i].push(fjord_tests::to_consumed(&m)),
            }
        }
        let n: usize = got.iter().map(Vec::len).sum();
        if n >= total && linger_end.is_none() {
            linger_end = Some(Instant::now() + linger);
        }
        if linger_end.is_some_and(|end| Instant::now() > end) {
            return Ok(());
        }
        if linger_end.is_none() && Instant::now() > deadline {
            anyhow::bail!("consumed {n} of {total} records within {timeout:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_consumes_every_record_of_a_multi_partition_topic() -> anyhow::Result<()>
{
    let broker = TestBroker::start_with(BROKER_CONFIG).await?;
    let bs = broker.bootstrap();
    let topic = unique_name("kip848-all");
    let group = unique_name("kip848-all-group");
    create_topic(&bs, &topic, 4).await?;
    let want = produce_per_partition(&bs, &topic, "v", 4, 10).await?;

    let consumer: StreamConsumer = new_protocol_config(&bs, &group).create()?;
    consumer.subscribe(&[&topic])?;
    let got = stream_consume_exactly(
        &consumer,
        40,
        Duration::from_secs(30),
        Duration::from_millis(500),
    )
    .await?;
    assert_eq!(sorted_values(&got), want);
    let partitions: BTreeSet<i32> = got.iter().map(|r| r.partition).collect();
    assert_eq!(partitions, (0..4).collect());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_split_on_join_and_handed_back_on_leave_without_duplicates()
-> anyhow::Result<()> {
    let broker = TestBroker::start_with(BROKER_CONFIG).await?;
    let bs = broker.bootstrap();
    let topic = unique_name("kip848-split");
    let group = unique_name("kip848-split-group");
    create_topic(&bs, &topic, 4).await?;
    let all: BTreeSet<i32> = (0..4).collect();
    let make = || -> anyhow::Result<BaseConsumer> {
        let c: BaseConsumer = new_protocol_config(&bs, &group).create()?;
        c.subscribe(&[&topic])?;
        Ok(c)
    };

    // One member: it owns and consumes everything, then commits.
    let first = produce_per_partition(&bs, &topic, "first", 4, 5).await?;
    let a = make()?;
    let got = consume_exactly(&a, 20, Duration::from_secs(30), Duration::from_millis(300))?;
    assert_eq!(sorted_values(&got), first);
    assert_eq!(assigned(&a)?, all);
    a.commit_consumer_state(CommitMode::Sync)?;

    // A second member: the partitions are split, disjoint, and nothing committed is re-read.
    let b = make()?;
    let mut seen = Vec::new();
    let shares = poll_until(
        &[&a, &b],
        "both members to share the 4 partitions",
        Duration::from_secs(40),
        &mut seen,
        |s| {
            !s[0].is_empty()
                && !s[1].is_empty()
                && s[0].is_disjoint(&s[1])
                && s[0].union(&s[1]).copied().collect::<BTreeSet<_>>() == all
        },
    )?;
    assert_eq!(
        shares[0].len(),
        2,
        "uniform assignor splits 4 partitions 2/2: {shares:?}"
    );
    let second = produce_per_partition(&bs, &topic, "second", 4, 5).await?;
    consume_between(
        &[&a, &b],
        20,
        Duration::from_secs(30),
        Duration::from_secs(1),
        &mut seen,
    )?;
    let both: Vec<Consumed> = seen.iter().flatten().cloned().collect();
    assert_eq!(
        sorted_values(&both),
        second,
        "each record exactly once between the two members"
    );
    assert!(!seen[1].is_empty(), "the new member consumed nothing");
    for r in &seen[1] {
        assert!(
            shares[1].contains(&r.partition),
            "b read partition {} it does not own",
            r.partition
        );
    }
    a.commit_consumer_state(CommitMode::Sync)?;
    b.commit_consumer_state(CommitMode::Sync)?;

    // The second member leaves (close: heartbeat with epoch -1); the first takes over all.
    drop(b);
    let mut ignored = Vec::new();
    poll_until(
        &[&a],
        "the remaining member to own all 4 partitions",
        Duration::from_secs(40),
        &mut ignored,
        |s| s[0] == all,
    )?;
    assert!(
        ignored.iter().flatten().next().is_none(),
        "records re-read after commit: {ignored:?}"
    );
    let third = produce_per_partition(&bs, &topic, "third", 4, 5).await?;
    let got = consume_exactly(&a, 20, Duration::from_secs(30), Duration::from_millis(500))?;
    assert_eq!(sorted_values(&got), third);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_broker_restart() -> anyhow::Result<()> {
    let mut broker = TestBroker::start_with(BROKER_CONFIG).await?;
    let bs = broker.bootstrap();
    let topic = unique_name("kip848-restart");
    let group = unique_name("kip848-restart-group");
    create_topic(&bs, &topic, 3).await?;
    let before = produce_per_partition(&bs, &topic, "before", 3, 10).await?;
    {
        let consumer: StreamConsumer = new_protocol_config(&bs, &group).create()?;
        consumer.subscribe(&[&topic])?;
        let got = stream_consume_exactly(
            &consumer,
            30,
            Duration::from_secs(30),
            Duration::from_millis(500),
        )
        .await?;
        assert_eq!(sorted_values(&got), before);
        consumer.commit_consumer_state(CommitMode::Sync)?;
        let committed = consumer.committed(Duration::from_secs(10))?;
        let offsets: BTreeMap<i32, rdkafka::Offset> = committed
            .elements_for_topic(&topic)
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect();
        assert_eq!(
            offsets
                .values()
                .filter(|o| **o == rdkafka::Offset::Offset(10))
                .count(),
            3,
            "committed {offsets:?}"
        );
    }

    broker.restart().await?;
    let after = produce_per_partition(&bs, &topic, "after", 3, 4).await?;
    let consumer: StreamConsumer = new_protocol_config(&bs, &group).create()?;
    consumer.subscribe(&[&topic])?;
    let got = stream_consume_exactly(
        &consumer,
        12,
        Duration::from_secs(30),
        Duration::from_secs(2),
    )
    .await?;
    assert_eq!(
        sorted_values(&got),
        after,
        "the resumed member must read only what came after the commit"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_and_consumer_protocol_groups_work_side_by_side() -> anyhow::Result<()> {
    let broker = TestBroker::start_with(BROKER_CONFIG).await?;
    let bs = broker.bootstrap();
    let topic = unique_name("kip848-mixed");
    let classic_group = unique_name("kip848-classic");
    let new_group = unique_name("kip848-new");
    create_topic(&bs, &topic, 2).await?;
    let want = produce_per_partition(&bs, &topic, "m", 2, 8).await?;

    let classic: BaseConsumer = consumer_config(&bs, &classic_group).create()?;
    classic.subscribe(&[&topic])?;
    let modern: BaseConsumer = new_protocol_config(&bs, &new_group).create()?;
    modern.subscribe(&[&topic])?;
    let mut got = Vec::new();
    consume_between(
        &[&classic, &modern],
        32,
        Duration::from_secs(40),
        Duration::from_millis(500),
        &mut got,
    )?;
    assert_eq!(sorted_values(&got[0]), want, "classic group");
    assert_eq!(sorted_values(&got[1]), want, "consumer-protocol group");
    classic.commit_consumer_state(CommitMode::Sync)?;
    modern.commit_consumer_state(CommitMode::Sync)?;

    // ListGroups shows both, each with its own state machine's state.
    let list = modern.fetch_group_list(None, Duration::from_secs(10))?;
    let states: BTreeMap<String, (String, String)> = list
        .groups()
        .iter()
        .map(|g| {
            (
                g.name().to_string(),
                (g.protocol_type().to_string(), g.state().to_string()),
            )
        })
        .collect();
    assert_eq!(
        states.get(&classic_group).map(|s| s.1.as_str()),
        Some("Stable"),
        "{states:?}"
    );
    assert_eq!(
        states.get(&new_group).map(|s| s.0.as_str()),
        Some("consumer"),
        "{states:?}"
    );
    assert_eq!(
        states.get(&new_group).map(|s| s.1.as_str()),
        Some("Stable"),
        "{states:?}"
    );

    // A classic member may not join the consumer group while it has members (the
    // coordinator answers INCONSISTENT_GROUP_PROTOCOL): it gets nothing, the member keeps all.
    let intruder: BaseConsumer = consumer_config(&bs, &new_group).create()?;
    intruder.subscribe(&[&topic])?;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let _ = intruder.poll(Duration::from_millis(50));
        let _ = modern.poll(Duration::from_millis(50));
        assert!(
            assigned(&intruder)?.is_empty(),
            "a classic member joined a live consumer group"
        );
    }
    assert_eq!(assigned(&modern)?, (0..2).collect::<BTreeSet<i32>>());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_subscription_picks_up_a_topic_created_later() -> anyhow::Result<()> {
    let broker = TestBroker::start_with(BROKER_CONFIG).await?;
    let bs = broker.bootstrap();
    let prefix = unique_name("kip848re");
    let group = unique_name("kip848-regex-group");
    let first = format!("{prefix}-a");
    create_topic(&bs, &first, 2).await?;
    create_topic(&bs, &unique_name("other"), 1).await?;
    let want_a = produce_per_partition(&bs, &first, "a", 2, 3).await?;

    // librdkafka sends the pattern as SubscribedTopicRegex; the broker resolves it.
    let consumer: BaseConsumer = new_protocol_config(&bs, &group).create()?;
    consumer.subscribe(&[&format!("^{prefix}-.*")])?;
    let got = consume_exactly(
        &consumer,
        6,
        Duration::from_secs(30),
        Duration::from_millis(300),
    )?;
    assert_eq!(sorted_values(&got), want_a);

    // A new matching topic bumps the group epoch at the next heartbeat and is assigned.
    let second = format!("{prefix}-b");
    create_topic(&bs, &second, 2).await?;
    let want_b = produce_per_partition(&bs, &second, "b", 2, 3).await?;
    let got = consume_exactly(
        &consumer,
        6,
        Duration::from_secs(40),
        Duration::from_millis(500),
    )?;
    assert_eq!(sorted_values(&got), want_b);
    let topics: BTreeSet<String> = consumer
        .assignment()?
        .elements()
        .iter()
        .map(|e| e.topic().to_string())
        .collect();
    assert_eq!(topics, BTreeSet::from([first, second]));
    Ok(())
}
