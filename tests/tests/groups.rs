//! Consumer groups with rdkafka: committed offsets survive a broker restart, partitions are
//! shared on join and handed back on leave (range, roundrobin, cooperative-sticky), and groups
//! can be listed and deleted.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fjord_tests::{
    TestBroker, admin, admin_options, consume_exactly, consumer_config, create_topic,
    producer_config, stream_consume_exactly, unique_name, wait_until,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

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

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn sorted_values(records: &[fjord_tests::Consumed]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|r| r.value.clone()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_restart_and_consumer_resumes() -> anyhow::Result<()> {
    let mut broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let topic = unique_name("resume");
    let group = unique_name("resume-group");
    create_topic(&bs, &topic, 3).await?;
    let before = values("before", 30);
    produce_values(&bs, &topic, &before, None).await?;

    {
        let consumer: StreamConsumer = consumer_config(&bs, &group).create()?;
        consumer.subscribe(&[&topic])?;
        let got = stream_consume_exactly(
            &consumer,
            30,
            Duration::from_secs(30),
            Duration::from_millis(500),
        )
        .await?;
        let mut want = before.clone();
        want.sort();
        assert_eq!(sorted_values(&got), want);
        consumer.commit_consumer_state(CommitMode::Sync)?;
        let committed = consumer.committed(Duration::from_secs(10))?;
        let total: i64 = committed
            .elements_for_topic(&topic)
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                other => panic!(
                    "partition {} has no committed offset: {other:?}",
                    e.partition()
                ),
            })
            .sum();
        assert_eq!(total, 30, "committed offsets {committed:?}");
    }

    broker.restart().await?;
    let after = values("after", 12);
    produce_values(&bs, &topic, &after, None).await?;

    let consumer: StreamConsumer = consumer_config(&bs, &group).create()?;
    consumer.subscribe(&[&topic])?;
    let got = stream_consume_exactly(
        &consumer,
        12,
        Duration::from_secs(30),
        Duration::from_secs(2),
    )
    .await?;
    let mut want = after.clone();
    want.sort();
    assert_eq!(
        sorted_values(&got),
        want,
        "resumed consumer must see only records produced after the commit"
    );
    Ok(())
}

fn assigned(consumer: &BaseConsumer) -> anyhow::Result<BTreeSet<i32>> {
    Ok(consumer
        .assignment()?
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect())
}

/// Polls every consumer (which drives rebalances) until `done` holds for their assignments.
fn poll_until(
    consumers: &[&BaseConsumer],
    what: &str,
    timeout: Duration,
    done: impl Fn(&[BTreeSet<i32>]) -> bool,
) -> anyhow::Result<Vec<BTreeSet<i32>>> {
    let deadline = Instant::now() + timeout;
    loop {
        for c in consumers {
            if let Some(Err(e)) = c.poll(Duration::from_millis(50)) {
                anyhow::bail!("consumer error while waiting for {what}: {e}");
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

async fn rebalance_on_join_and_leave(strategy: &str) -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let topic = unique_name(&format!("rebalance-{strategy}"));
    let group = unique_name("rebalance-group");
    create_topic(&bs, &topic, 4).await?;
    let all: BTreeSet<i32> = (0..4).collect();
    let make = || -> anyhow::Result<BaseConsumer> {
        let c: BaseConsumer = consumer_config(&bs, &group)
            .set("partition.assignment.strategy", strategy)
            .create()?;
        c.subscribe(&[&topic])?;
        Ok(c)
    };

    let a = make()?;
    poll_until(
        &[&a],
        "the first consumer to own all 4 partitions",
        Duration::from_secs(30),
        |s| s[0] == all,
    )?;

    let b = make()?;
    let shares = poll_until(
        &[&a, &b],
        "both consumers to share the 4 partitions",
        Duration::from_secs(40),
        |s| {
            !s[0].is_empty()
                && !s[1].is_empty()
                && s[0].is_disjoint(&s[1])
                && s[0].union(&s[1]).copied().collect::<BTreeSet<_>>() == all
        },
    )?;
    assert_eq!(shares[0].len() + shares[1].len(), 4);

    drop(b); // close: LeaveGroup, the survivor gets everything back
    poll_until(
        &[&a],
        "the survivor to own all 4 partitions again",
        Duration::from_secs(40),
        |s| s[0] == all,
    )?;

    // And it really consumes from all of them.
    for p in 0..4 {
        produce_values(&bs, &topic, &values(&format!("p{p}"), 5), Some(p)).await?;
    }
    let got = consume_exactly(&a, 20, Duration::from_secs(30), Duration::from_millis(500))?;
    let partitions: BTreeSet<i32> = got.iter().map(|r| r.partition).collect();
    assert_eq!(partitions, all);
    let mut want: Vec<String> = (0..4).flat_map(|p| values(&format!("p{p}"), 5)).collect();
    want.sort();
    assert_eq!(sorted_values(&got), want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_on_join_and_leave_range() -> anyhow::Result<()> {
    rebalance_on_join_and_leave("range").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_on_join_and_leave_roundrobin() -> anyhow::Result<()> {
    rebalance_on_join_and_leave("roundrobin").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_on_join_and_leave_cooperative_sticky() -> anyhow::Result<()> {
    rebalance_on_join_and_leave("cooperative-sticky").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_listed_and_deleted() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let bs = broker.bootstrap();
    let topic = unique_name("groups");
    let group = unique_name("listed-group");
    create_topic(&bs, &topic, 1).await?;
    produce_values(&bs, &topic, &values("g", 3), None).await?;

    let consumer: BaseConsumer = consumer_config(&bs, &group).create()?;
    consumer.subscribe(&[&topic])?;
    consume_exactly(
        &consumer,
        3,
        Duration::from_secs(30),
        Duration::from_millis(200),
    )?;
    consumer.commit_consumer_state(CommitMode::Sync)?;

    let list = consumer.fetch_group_list(Some(&group), Duration::from_secs(10))?;
    let g = list
        .groups()
        .iter()
        .find(|g| g.name() == group)
        .expect("group described");
    assert_eq!(g.state(), "Stable");
    assert_eq!(g.protocol_type(), "consumer");
    assert_eq!(g.members().len(), 1);

    // A group with members cannot be deleted.
    let admin = admin(&bs)?;
    let busy = admin.delete_groups(&[&group], &admin_options()).await?;
    assert!(
        busy[0].is_err(),
        "deleting a live group succeeded: {busy:?}"
    );

    drop(consumer);
    let probe: BaseConsumer = fjord_tests::client_config(&bs).create()?;
    wait_until("the group to become Empty", Duration::from_secs(30), || {
        let list = probe.fetch_group_list(Some(&group), Duration::from_secs(10))?;
        Ok(list
            .groups()
            .iter()
            .any(|g| g.name() == group && g.state() == "Empty"))
    })?;
    let deleted = admin.delete_groups(&[&group], &admin_options()).await?;
    assert_eq!(deleted, vec![Ok(group.clone())]);

    // Its offsets are gone: a new member starts from auto.offset.reset=earliest again.
    let consumer: BaseConsumer = consumer_config(&bs, &group).create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, 0);
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    assert_eq!(
        committed.find_partition(&topic, 0).map(|e| e.offset()),
        Some(Offset::Invalid)
    );
    Ok(())
}
