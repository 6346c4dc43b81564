//! Transactions end to end with librdkafka: committed records are visible to read_committed
//! consumers and aborted ones never are, an open transaction holds them back, a second
//! producer with the same transactional id fences the first, offsets committed inside a
//! transaction become visible only with it (and survive a restart), a transaction past its
//! timeout is aborted, and the coordinator's state survives a broker restart.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use fjord_tests::{
    Consumed, TestBroker, client_config, consume_exactly, consumer_config, create_topic,
    unique_name,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TXN_TIMEOUT: Duration = Duration::from_secs(30);

fn txn_producer(bootstrap: &str, id: &str) -> anyhow::Result<BaseProducer> {
    let p: BaseProducer = client_config(bootstrap)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "20000")
        .set("linger.ms", "5")
        .create()
        .context("failed to create a transactional producer")?;
    p.init_transactions(TXN_TIMEOUT)
        .context("init_transactions")?;
    Ok(p)
}

fn send(p: &BaseProducer, topic: &str, partition: i32, values: &[String]) -> anyhow::Result<()> {
    for v in values {
        p.send(
            BaseRecord::<(), String>::to(topic)
                .partition(partition)
                .payload(v),
        )
        .map_err(|(e, _)| e)
        .context("send")?;
    }
    p.flush(TXN_TIMEOUT).context("flush")?;
    Ok(())
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A consumer assigned to every partition of `topic` from the start.
fn reader(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
) -> anyhow::Result<BaseConsumer> {
    let c: BaseConsumer = consumer_config(bootstrap, &unique_name("reader"))
        .set("isolation.level", isolation)
        .create()
        .context("failed to create consumer")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    Ok(c)
}

fn sorted_values(records: &[Consumed]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|r| r.value.clone()).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_consumers_see_committed_records_and_never_aborted_ones()
-> anyhow::Result<()> {
    let tb = TestBroker::start().await?;
    let bootstrap = tb.bootstrap();
    let topic = unique_name("txn");
    create_topic(&bootstrap, &topic, 2).await?;
    let b = bootstrap.clone();
    let t = topic.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let p = txn_producer(&b, &unique_name("tx"))?;
        p.begin_transaction()?;
        send(&p, &t, 0, &values("first", 10))?;
        send(&p, &t, 1, &values("first-p1", 5))?;
        p.commit_transaction(TXN_TIMEOUT)?;
        p.begin_transaction()?;
        send(&p, &t, 0, &values("aborted", 10))?;
        send(&p, &t, 1, &values("aborted-p1", 10))?;
        p.abort_transaction(TXN_TIMEOUT)?;
        p.begin_transaction()?;
        send(&p, &t, 0, &values("second", 10))?;
        p.commit_transaction(TXN_TIMEOUT)?;

        let committed = [
            values("first", 10),
            values("first-p1", 5),
            values("second", 10),
        ]
        .concat();
        let c = reader(&b, &t, 2, "read_committed")?;
        let got = consume_exactly(&c, 25, Duration::from_secs(30), Duration::from_secs(1))?;
        anyhow::ensure!(
            sorted_values(&got) == sorted(committed.clone()),
            "read_committed saw {:?}",
            sorted_values(&got)
        );
        // Within a partition, read_committed keeps log order.
        let p0: Vec<String> = got
            .iter()
            .filter(|r| r.partition == 0)
            .map(|r| r.value.clone())
            .collect();
        anyhow::ensure!(
            p0 == [values("first", 10), values("second", 10)].concat(),
            "partition 0 order: {p0:?}"
        );

        // read_uncommitted sees the aborted records too, but no control record.
        let c = reader(&b, &t, 2, "read_uncommitted")?;
        let got = consume_exactly(&c, 45, Duration::from_secs(30), Duration::from_secs(1))?;
        let all = [committed, values("aborted", 10), values("aborted-p1", 10)].concat();
        anyhow::ensure!(
            sorted_values(&got) == sorted(all),
            "read_uncommitted saw {:?}",
            sorted_values(&got)
        );
        Ok(())
    })
    .await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_read_committed_consumers_back() -> anyhow::Result<()> {
    let tb = TestBroker::start().await?;
    let bootstrap = tb.bootstrap();
    let topic = unique_name("txn-open");
    create_topic(&bootstrap, &topic, 1).await?;
    let b = bootstrap.clone();
    let t = topic.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let txn = txn_producer(&b, &unique_name("tx"))?;
        txn.begin_transaction()?;
        send(&txn, &t, 0, &values("open", 5))?;
        // A plain producer writes after the open transaction: its records are committed but
        // sit past the last stable offset until the transaction ends.
        let plain: BaseProducer = client_config(&b).create()?;
        send(&plain, &t, 0, &values("plain", 3))?;

        let committed = reader(&b, &t, 1, "read_committed")?;
        consume_exactly(
            &committed,
            0,
            Duration::from_secs(1),
            Duration::from_secs(2),
        )
        .context("read_committed must see nothing while the transaction is open")?;
        let uncommitted = reader(&b, &t, 1, "read_uncommitted")?;
        consume_exactly(
            &uncommitted,
            8,
            Duration::from_secs(30),
            Duration::from_millis(500),
        )?;

        txn.commit_transaction(TXN_TIMEOUT)?;
        let got = consume_exactly(
            &committed,
            8,
            Duration::from_secs(30),
            Duration::from_millis(500),
        )?;
        let order: Vec<String> = got.iter().map(|r| r.value.clone()).collect();
        anyhow::ensure!(
            order == [values("open", 5), values("plain", 3)].concat(),
            "order: {order:?}"
        );
        Ok(())
    })
    .await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_producer_with_the_same_id_fences_the_old_one_and_aborts_its_transaction()
-> anyhow::Result<()> {
    let tb = TestBroker::start().await?;
    let bootstrap = tb.bootstrap();
    let topic = unique_name("txn-fence");
    create_topic(&bootstrap, &topic, 1).await?;
    let b = bootstrap.clone();
    let t = topic.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let id = unique_name("tx");
        let zombie = txn_producer(&b, &id)?;
        zombie.begin_transaction()?;
        send(&zombie, &t, 0, &values("zombie", 4))?;
        // The new instance's init aborts the zombie's transaction and bumps the epoch.
        let fresh = txn_producer(&b, &id)?;
        let err = zombie
            .commit_transaction(TXN_TIMEOUT)
            .expect_err("a fenced producer must not commit");
        anyhow::ensure!(
            matches!(&err, KafkaError::Transaction(e) if e.is_fatal() || e.txn_requires_abort()),
            "unexpected error kind: {err:?}"
        );
        fresh.begin_transaction()?;
        send(&fresh, &t, 0, &values("fresh", 3))?;
        fresh.commit_transaction(TXN_TIMEOUT)?;
        let c = reader(&b, &t, 1, "read_committed")?;
        let got = consume_exactly(&c, 3, Duration::from_secs(30), Duration::from_secs(1))?;
        anyhow::ensure!(
            sorted_values(&got) == values("fresh", 3),
            "saw {:?}",
            sorted_values(&got)
        );
        Ok(())
    })
    .await??;
    Ok(())
}

/// Processes `input` into `output` in transactions of `batch` records, committing the
/// consumer's offsets inside each; stops after `commits` transactions, then (with
/// `abort_last`) opens one more and aborts it. Returns the input values it committed.
fn transform(
    bootstrap: &str,
    input: &str,
    output: &str,
    group: &str,
    id: &str,
    batch: usize,
    commits: usize,
    abort_last: bool,
) -> anyhow::Result<Vec<String>> {
    let consumer: BaseConsumer = consumer_config(bootstrap, group)
        .set("isolation.level", "read_committed")
        .create()?;
    consumer.subscribe(&[input])?;
    let producer = txn_producer(bootstrap, id)?;
    let mut done = Vec::new();
    let rounds = if abort_last { commits + 1 } else { commits };
    for round in 0..rounds {
        let records = consume_exactly(&consumer, batch, Duration::from_secs(30), Duration::ZERO)?;
        producer.begin_transaction()?;
        let out: Vec<String> = records
            .iter()
            .map(|r| r.value.clone())
            .map(|v| format!("out-{v}"))
            .collect();
        send(&producer, output, 0, &out)?;
        let positions = consumer.position()?;
        producer.send_offsets_to_transaction(
            &positions,
            &consumer.group_metadata().context("group metadata")?,
            TXN_TIMEOUT,
        )?;
        if round == commits {
            producer.abort_transaction(TXN_TIMEOUT)?;
        } else {
            producer.commit_transaction(TXN_TIMEOUT)?;
            done.extend(records.iter().map(|r| r.value.clone()));
        }
    }
    Ok(done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_sent_to_a_transaction_commit_with_it_and_survive_a_restart() -> anyhow::Result<()>
{
    let mut tb = TestBroker::start_with(&[("group.initial.rebalance.delay.ms", "0")]).await?;
    let bootstrap = tb.bootstrap();
    let input = unique_name("ctp-in");
    let output = unique_name("ctp-out");
    let group = unique_name("ctp");
    let id = unique_name("ctp-tx");
    create_topic(&bootstrap, &input, 1).await?;
    create_topic(&bootstrap, &output, 1).await?;
    let inputs = values("in", 100);
    {
        let b = bootstrap.clone();
        let (i, vs) = (input.clone(), inputs.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let p: BaseProducer = client_config(&b).create()?;
            send(&p, &i, 0, &vs)
        })
        .await??;
    }
    let (b, i, o, g, t) = (
        bootstrap.clone(),
        input.clone(),
        output.clone(),
        group.clone(),
        id.clone(),
    );
    let first =
        tokio::task::spawn_blocking(move || transform(&b, &i, &o, &g, &t, 10, 5, true)).await??;
    anyhow::ensure!(first == inputs[..50], "first worker committed {first:?}");

    tb.restart().await?;

    // A new worker resumes from the offsets the committed transactions wrote (50), not from
    // the aborted one's (60).
    let (b, i, o, g, t) = (
        bootstrap.clone(),
        input.clone(),
        output.clone(),
        group.clone(),
        id.clone(),
    );
    let second =
        tokio::task::spawn_blocking(move || transform(&b, &i, &o, &g, &t, 10, 5, false)).await??;
    anyhow::ensure!(second == inputs[50..], "second worker committed {second:?}");

    let b = bootstrap.clone();
    let o = output.clone();
    let expected: Vec<String> = inputs.iter().map(|v| format!("out-{v}")).collect();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let c = reader(&b, &o, 1, "read_committed")?;
        let got = consume_exactly(&c, 100, Duration::from_secs(30), Duration::from_secs(1))?;
        let seen: Vec<String> = got.iter().map(|r| r.value.clone()).collect();
        anyhow::ensure!(seen == expected, "output: {seen:?}");
        Ok(())
    })
    .await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_past_its_timeout_is_aborted() -> anyhow::Result<()> {
    let tb = TestBroker::start().await?;
    let bootstrap = tb.bootstrap();
    let topic = unique_name("txn-timeout");
    create_topic(&bootstrap, &topic, 1).await?;
    let b = bootstrap.clone();
    let t = topic.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let p: BaseProducer = client_config(&b)
            .set("transactional.id", unique_name("tx"))
            .set("transaction.timeout.ms", "1500")
            .set("socket.timeout.ms", "1500")
            .create()?;
        p.init_transactions(TXN_TIMEOUT)?;
        p.begin_transaction()?;
        send(&p, &t, 0, &values("late", 3))?;
        std::thread::sleep(Duration::from_secs(4));
        anyhow::ensure!(
            p.commit_transaction(TXN_TIMEOUT).is_err(),
            "a transaction past its timeout must not commit"
        );
        // The abort released the last stable offset: later records are readable.
        let plain: BaseProducer = client_config(&b).create()?;
        send(&plain, &t, 0, &values("after", 2))?;
        let c = reader(&b, &t, 1, "read_committed")?;
        let got = consume_exactly(&c, 2, Duration::from_secs(30), Duration::from_secs(1))?;
        anyhow::ensure!(
            sorted_values(&got) == values("after", 2),
            "saw {:?}",
            sorted_values(&got)
        );
        Ok(())
    })
    .await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_state_survives_a_restart_and_describe_lists_it() -> anyhow::Result<()> {
    let mut tb = TestBroker::start().await?;
    let bootstrap = tb.bootstrap();
    let topic = unique_name("txn-restart");
    create_topic(&bootstrap, &topic, 1).await?;
    let id = unique_name("tx");
    let (b, t, i) = (bootstrap.clone(), topic.clone(), id.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let p = txn_producer(&b, &i)?;
        p.begin_transaction()?;
        send(&p, &t, 0, &values("kept", 3))?;
        p.commit_transaction(TXN_TIMEOUT)?;
        // An open transaction the restart interrupts.
        p.begin_transaction()?;
        send(&p, &t, 0, &values("interrupted", 3))?;
        Ok(())
    })
    .await??;
    let listed: BTreeSet<String> = tb
        .broker()?
        .txns
        .list()
        .into_iter()
        .map(|m| m.transactional_id)
        .collect();
    anyhow::ensure!(
        listed.contains(&id),
        "ListTransactions before the restart: {listed:?}"
    );
    let describe = |tb: &TestBroker| -> anyhow::Result<fjord_broker::txn::state::TxnMetadata> {
        tb.broker()?
            .txns
            .describe(&id)
            .map_err(|e| anyhow::anyhow!("DescribeTransactions: {e:?}"))?
            .context("the transactional id is unknown")
    };
    let before = describe(&tb)?;
    tb.restart().await?;
    let after = describe(&tb).context("after the restart")?;
    anyhow::ensure!(
        (after.producer_id, after.producer_epoch) == (before.producer_id, before.producer_epoch),
        "state before the restart {before:?}, after {after:?}"
    );
    let (b, t, i) = (bootstrap.clone(), topic.clone(), id.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        // A new instance aborts the interrupted transaction and carries on.
        let p = txn_producer(&b, &i)?;
        p.begin_transaction()?;
        send(&p, &t, 0, &values("new", 2))?;
        p.commit_transaction(TXN_TIMEOUT)?;
        let c = reader(&b, &t, 1, "read_committed")?;
        let got = consume_exactly(&c, 5, Duration::from_secs(30), Duration::from_secs(1))?;
        let seen: Vec<String> = got.iter().map(|r| r.value.clone()).collect();
        anyhow::ensure!(
            seen == [values("kept", 3), values("new", 2)].concat(),
            "saw {seen:?}"
        );
        Ok(())
    })
    .await??;
    Ok(())
}
