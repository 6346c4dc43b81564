//! Replication and the metadata quorum, proven with real `fjord-broker` processes and
//! librdkafka: a seeded fault test (kill -9, SIGSTOP, SIGTERM and a stalling "slow disk" of
//! partition leaders, kill -9 of the active controller, under an idempotent acks=all load), a network-partition test (an
//! isolated leader is fenced, leadership moves, and the old leader acknowledges nothing), and
//! a reassignment under load, and a cluster whose brokers talk SASL_SSL to each other.
//!
//! The fault test's seed and rounds come from `FJORD_FAULT_SEED` (default: the clock) and
//! `FJORD_FAULT_ROUNDS` (default 20); it prints the seed first, so a failure can be replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use fjord_broker::client::{ConnectOptions, connect};
use fjord_broker::metering::UsageRecord;
use fjord_tests::cluster::ChildCluster;
use fjord_tests::wire::WireClient;
use fjord_tests::{
    STEP_TIMEOUT, admin, admin_options, client_config, consumer_config, producer_config,
    unique_name,
};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ListPartitionReassignmentsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;
/// Records in flight at once from the load producer.
const IN_FLIGHT: usize = 64;

/// Broker settings of every test cluster: quick failure detection, as a managed service
/// would tune it, and the durability settings.
const CLUSTER_ARGS: &[&str] = &[
    "--set",
    "min.insync.replicas=2",
    "--set",
    "default.replication.factor=3",
    "--set",
    "offsets.topic.replication.factor=3",
    "--set",
    "replica.lag.time.max.ms=5000",
];

/// What the load producer saw: every acknowledged record with its partition and offset, and
/// every record whose delivery failed.
#[derive(Debug, Default)]
struct Ledger {
    acked: Vec<(i32, i64, u64)>,
    failed: Vec<(u64, String)>,
    /// When each partition last had a record acknowledged.
    last_ack: BTreeMap<i32, Instant>,
}

/// An idempotent acks=all producer sending `seq` numbers round-robin over the partitions, with
/// at most `IN_FLIGHT` outstanding, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
    sent: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Load {
    fn start(bootstrap: &str, topic: &str) -> anyhow::Result<Self> {
        let producer: FutureProducer = producer_config(bootstrap)
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "120000")
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create()
            .context("failed to create the load producer")?;
        let stop = Arc::new(AtomicBool::new(false));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let sent = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (stop, ledger, sent, topic) = (
                stop.clone(),
                ledger.clone(),
                sent.clone(),
                topic.to_string(),
            );
            async move {
                let mut pending = FuturesUnordered::new();
                let mut seq = 0u64;
                loop {
                    let stopping = stop.load(Ordering::Acquire);
                    if !stopping && pending.len() < IN_FLIGHT {
                        let partition = (seq % PARTITIONS as u64) as i32;
                        let payload = seq.to_string();
                        let record = FutureRecord::<(), _>::to(&topic)
                            .partition(partition)
                            .payload(&payload);
                        let delivery = producer
                            .send_result(record)
                            .map_err(|(e, _)| anyhow!("enqueue failed: {e}"))?;
                        let this = seq;
                        pending.push(async move { (this, delivery.await) });
                        sent.fetch_add(1, Ordering::Relaxed);
                        seq += 1;
                        if pending.len() < IN_FLIGHT {
                            continue;
                        }
                    }
                    if pending.is_empty() {
                        break;
                    }
                    let Some((this, result)) = pending.next().await else {
                        break;
                    };
                    let mut ledger = ledger.lock().expect("ledger lock");
                    match result {
                        Ok(Ok(d)) => {
                            ledger.acked.push((d.partition, d.offset, this));
                            ledger.last_ack.insert(d.partition, Instant::now());
                        }
                        Ok(Err((e, _))) => ledger.failed.push((this, e.to_string())),
                        Err(_) => ledger.failed.push((this, "delivery canceled".into())),
                    }
                }
                producer
                    .flush(Duration::from_secs(30))
                    .context("flushing the load producer")?;
                Ok(())
            }
        });
        Ok(Load {
            stop,
            ledger,
            sent,
            task,
        })
    }

    fn acked(&self) -> usize {
        self.ledger.lock().expect("ledger lock").acked.len()
    }

    /// Waits until `more` further records are acknowledged.
    async fn wait_acks(&self, more: usize, within: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let target = self.acked() + more;
        while self.acked() < target {
            if start.elapsed() > within {
                let ledger = self.ledger.lock().expect("ledger lock");
                bail!(
                    "the load made no progress for {within:?}: {} acked, {} sent, {} failed (last: {:?})",
                    ledger.acked.len(),
                    self.sent.load(Ordering::Relaxed),
                    ledger.failed.len(),
                    ledger.failed.last()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(start.elapsed())
    }

    /// Waits until partition `p` has a record acknowledged after `since` (the failover time
    /// of a fault at `since`); returns how long after `since` that was.
    async fn wait_partition_ack(
        &self,
        p: i32,
        since: Instant,
        within: Duration,
    ) -> anyhow::Result<Duration> {
        loop {
            let last = self
                .ledger
                .lock()
                .expect("ledger lock")
                .last_ack
                .get(&p)
                .copied();
            if let Some(t) = last.filter(|t| *t > since) {
                return Ok(t - since);
            }
            ensure!(
                since.elapsed() < within,
                "partition {p} had no acknowledgement for {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn finish(self) -> anyhow::Result<Ledger> {
        self.stop.store(true, Ordering::Release);
        tokio::time::timeout(Duration::from_secs(150), self.task)
            .await
            .context("the load did not drain within 150 s")???;
        let ledger = std::mem::take(&mut *self.ledger.lock().expect("ledger lock"));
        Ok(ledger)
    }
}

/// Creates `topic` with RF 3 (or `replicas` when given) and waits until every partition has
/// a leader and a full ISR.
async fn create_replicated(
    cluster: &ChildCluster,
    topic: &str,
    assignment: Option<&[i32]>,
) -> anyhow::Result<()> {
    let bootstrap = cluster.bootstrap();
    let admin = admin(&bootstrap)?;
    let manual: Vec<&[i32]> = assignment
        .map(|r| vec![r; PARTITIONS as usize])
        .unwrap_or_default();
    let new = match assignment {
        None => NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(3)),
        Some(_) => NewTopic::new(topic, PARTITIONS, TopicReplication::Variable(&manual)),
    };
    for r in admin.create_topics([&new], &admin_options()).await? {
        r.map_err(|(t, code)| anyhow!("CreateTopics {t}: {code:?}"))?;
    }
    wait_for(&bootstrap, STEP_TIMEOUT, |md| {
        let t = md.get(topic)?;
        (t.len() == PARTITIONS as usize && t.values().all(|p| p.leader >= 0 && p.isr.len() == 3))
            .then_some(())
    })
    .await
    .with_context(|| format!("{topic} never had a full ISR"))
}

#[derive(Debug, Clone)]
struct PartitionView {
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

type TopicsView = BTreeMap<String, BTreeMap<i32, PartitionView>>;

/// Metadata as one broker (or the cluster, via `bootstrap`) sees it.
fn metadata(bootstrap: &str) -> anyhow::Result<TopicsView> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(5))?;
    let mut out = TopicsView::new();
    for t in md.topics() {
        let parts = out.entry(t.name().to_string()).or_default();
        for p in t.partitions() {
            parts.insert(
                p.id(),
                PartitionView {
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                },
            );
        }
    }
    Ok(out)
}

/// Polls Metadata from `bootstrap` until `check` returns something.
async fn wait_for<T>(
    bootstrap: &str,
    within: Duration,
    mut check: impl FnMut(&TopicsView) -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + within;
    loop {
        let bs = bootstrap.to_string();
        match tokio::task::spawn_blocking(move || metadata(&bs)).await? {
            Ok(md) => {
                if let Some(v) = check(&md) {
                    return Ok(v);
                }
                if Instant::now() > deadline {
                    bail!("condition not met within {within:?}; last metadata: {md:?}");
                }
            }
            Err(e) if Instant::now() > deadline => {
                bail!("condition not met within {within:?}; last metadata request: {e}")
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads every record of `topic` from the beginning and checks the ledger against it: every
/// acknowledged record exactly once, at its acknowledged offset, in send order per
/// partition, and no record twice.
async fn verify(bootstrap: &str, topic: &str, ledger: &Ledger) -> anyhow::Result<usize> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let acked = ledger.acked.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client_config(&bootstrap)
            .set("group.id", unique_name("verify"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_uncommitted")
            .create()?;
        let mut expected: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, o, _) in &acked {
            let e = expected.entry(*p).or_insert(0);
            *e = (*e).max(o + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        let mut seen: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done = expected.iter().all(|(p, end)| {
                seen.get(p)
                    .and_then(|v| v.last())
                    .is_some_and(|(o, _)| o + 1 >= *end)
            });
            if done {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "reading back {topic} stalled at {:?} of {expected:?}",
                seen.iter()
                    .map(|(p, v)| (*p, v.last().map(|x| x.0)))
                    .collect::<Vec<_>>()
            );
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let seq: u64 = std::str::from_utf8(m.payload().unwrap_or_default())?.parse()?;
                    seen.entry(m.partition()).or_default().push((m.offset(), seq));
                }
                Some(Err(e)) => bail!("consumer error reading {topic} back: {e}"),
                None => {}
            }
        }
        let mut all = BTreeSet::new();
        for (p, records) in &seen {
            let mut last_seq = None;
            for (offset, seq) in records {
                ensure!(
                    all.insert(*seq),
                    "record {seq} appears twice (partition {p} offset {offset})\n{}",
                    gaps(&seen)
                );
                ensure!(
                    last_seq.is_none_or(|l| l < *seq),
                    "partition {p} is out of send order at offset {offset}: {seq} after {last_seq:?}\n{}",
                    gaps(&seen)
                );
                last_seq = Some(*seq);
            }
        }
        let index: BTreeMap<(i32, i64), u64> = seen
            .iter()
            .flat_map(|(p, v)| v.iter().map(move |(o, s)| ((*p, *o), *s)))
            .collect();
        let mut wrong = Vec::new();
        for (i, (p, o, seq)) in acked.iter().enumerate() {
            if *o < 0 {
                // librdkafka acknowledges without an offset a batch whose own answer was lost
                // when a later batch of the same idempotent producer was acknowledged (it
                // must have been written first): it must be in its partition all the same.
                ensure!(
                    seen.get(p).is_some_and(|v| v.iter().any(|(_, s)| s == seq)),
                    "acknowledged record {seq} (offset unknown) is missing from partition {p}\n{}",
                    gaps(&seen)
                );
                continue;
            }
            match index.get(&(*p, *o)) {
                Some(s) if s == seq => {}
                Some(s) => wrong.push((i, format!("acknowledged record {seq} at {p}/{o} was replaced by {s}"))),
                None => wrong.push((i, format!("acknowledged record {seq} at {p}/{o} is missing"))),
            }
        }
        if let Some((first, what)) = wrong.first() {
            bail!(
                "{what} ({} acknowledged records wrong in all)\n{}\n{}",
                wrong.len(),
                explain(&acked, &seen, *first),
                gaps(&seen)
            );
        }
        Ok(all.len())
    })
    .await?
}

/// Why the acknowledged record `acked[i]` is not where its acknowledgement said: where its
/// sequence number was read instead (if anywhere), the records read around its offset, and the
/// acknowledgements of that partition around it (in acknowledgement order and by offset).
fn explain(acked: &[(i32, i64, u64)], seen: &BTreeMap<i32, Vec<(i64, u64)>>, i: usize) -> String {
    const AROUND: i64 = 5;
    let (p, o, seq) = acked[i];
    let mut out = String::new();
    let elsewhere: Vec<(i32, i64)> = seen
        .iter()
        .flat_map(|(q, v)| v.iter().map(move |(off, s)| (*q, *off, *s)))
        .filter(|(_, _, s)| *s == seq)
        .map(|(q, off, _)| (q, off))
        .collect();
    out.push_str(&format!(
        "record {seq} was read at {elsewhere:?} (partition/offset; empty: nowhere)\n"
    ));
    let records = seen.get(&p).map(Vec::as_slice).unwrap_or_default();
    let near: Vec<String> = records
        .iter()
        .filter(|(off, _)| (off - o).abs() <= AROUND)
        .map(|(off, s)| format!("{off}:{s}"))
        .collect();
    out.push_str(&format!(
        "read from partition {p} around offset {o} (offset:record): {}\n",
        near.join(" ")
    ));
    let by_offset: Vec<String> = acked
        .iter()
        .filter(|(q, off, _)| *q == p && (off - o).abs() <= AROUND)
        .map(|(_, off, s)| format!("{off}:{s}"))
        .collect();
    out.push_str(&format!(
        "acknowledged in partition {p} around offset {o} (offset:record): {}\n",
        by_offset.join(" ")
    ));
    let in_order: Vec<String> = acked
        .iter()
        .enumerate()
        .filter(|(j, (q, _, _))| *q == p && j.abs_diff(i) <= 3 * AROUND as usize)
        .map(|(j, (_, off, s))| format!("#{j} {off}:{s}"))
        .collect();
    out.push_str(&format!(
        "acknowledgements of partition {p} around #{i}, in the order they came: {}",
        in_order.join(" ")
    ));
    out
}

/// The holes in the offsets read back from each partition (offset ranges never returned
/// between two returned records), at most 20 per partition.
fn gaps(seen: &BTreeMap<i32, Vec<(i64, u64)>>) -> String {
    let mut out = String::from("holes in what was read back:");
    for (p, records) in seen {
        let holes: Vec<String> = records
            .windows(2)
            .filter(|w| w[1].0 > w[0].0 + 1)
            .map(|w| format!("{}..{}", w[0].0 + 1, w[1].0))
            .collect();
        out.push_str(&format!(
            " partition {p} ({} records, offsets {:?}..={:?}): {} hole(s) {}{};",
            records.len(),
            records.first().map(|r| r.0),
            records.last().map(|r| r.0),
            holes.len(),
            holes.iter().take(20).cloned().collect::<Vec<_>>().join(" "),
            if holes.len() > 20 { " …" } else { "" }
        ));
    }
    out
}

/// With `FJORD_KEEP_LOGS=DIR`, writes every acknowledgement (`partition offset record`, in
/// the order they came) to `DIR/ledger-<pid>.txt`, next to the brokers' logs and data.
fn keep_ledger(ledger: &Ledger) {
    let Some(dir) = std::env::var_os("FJORD_KEEP_LOGS") else {
        return;
    };
    let mut text = String::new();
    for (p, o, seq) in &ledger.acked {
        text.push_str(&format!("{p} {o} {seq}\n"));
    }
    let path = std::path::PathBuf::from(dir).join(format!("ledger-{}.txt", std::process::id()));
    if std::fs::create_dir_all(path.parent().unwrap_or(&path)).is_ok()
        && std::fs::write(&path, text).is_ok()
    {
        eprintln!("acknowledgements kept in {}", path.display());
    }
}

/// The wall-clock time of day in UTC (`HH:MM:SS.mmm`), to line test output up with the
/// brokers' logs.
fn utc_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let day_ms = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// A consumer group member reading the topic and committing synchronously after every poll
/// batch; returns the offsets whose commit succeeded last.
struct Committer {
    stop: Arc<AtomicBool>,
    task: std::thread::JoinHandle<anyhow::Result<BTreeMap<i32, i64>>>,
}

impl Committer {
    fn start(bootstrap: &str, topic: &str, group: &str) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = consumer_config(bootstrap, group)
            .set("session.timeout.ms", "6000")
            .create()?;
        consumer.subscribe(&[topic])?;
        let stop = Arc::new(AtomicBool::new(false));
        let task = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut committed = BTreeMap::new();
                let mut position: BTreeMap<i32, i64> = BTreeMap::new();
                while !stop.load(Ordering::Acquire) {
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(m)) => {
                            position.insert(m.partition(), m.offset() + 1);
                        }
                        Some(Err(_)) | None => {}
                    }
                    if position != committed {
                        let mut tpl = TopicPartitionList::new();
                        for (p, o) in &position {
                            tpl.add_partition_offset(&topic_of(&consumer), *p, Offset::Offset(*o))?;
                        }
                        if consumer.commit(&tpl, CommitMode::Sync).is_ok() {
                            committed = position.clone();
                        }
                    }
                }
                Ok(committed)
            }
        });
        Ok(Committer { stop, task })
    }

    fn finish(self) -> anyhow::Result<BTreeMap<i32, i64>> {
        self.stop.store(true, Ordering::Release);
        self.task
            .join()
            .map_err(|_| anyhow!("committer panicked"))?
    }
}

fn topic_of(consumer: &BaseConsumer) -> String {
    consumer
        .subscription()
        .ok()
        .and_then(|s| s.elements().first().map(|e| e.topic().to_string()))
        .unwrap_or_default()
}

/// The group's committed offsets, as a fresh member of it reads them.
fn committed_offsets(
    bootstrap: &str,
    topic: &str,
    group: &str,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let consumer: BaseConsumer = consumer_config(bootstrap, group).create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = consumer.committed_offsets(tpl, STEP_TIMEOUT)?;
    Ok(got
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// The node whose `fjord_active_controller` is 1.
async fn active_controller(cluster: &ChildCluster) -> Option<i32> {
    for n in cluster.nodes() {
        if cluster.is_running(n.id)
            && cluster.metric(n.id, "fjord_active_controller").await == Some(1.0)
        {
            return Some(n.id);
        }
    }
    None
}

/// The active controller, waiting up to 15 s for an election in progress to end.
async fn settled_controller(cluster: &ChildCluster) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(id) = active_controller(cluster).await {
            return Some(id);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A small deterministic generator (xorshift64*), so a seed replays the same faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `kill -9` the leader of a partition, restart it.
    KillLeader,
    /// `kill -9` the active controller, restart it.
    KillController,
    /// SIGSTOP a leader for longer than its session timeout, then SIGCONT.
    PauseLeader,
    /// SIGTERM a leader (controlled shutdown), restart it.
    TerminateLeader,
    /// A slow disk, as the broker sees one: the leader stalls for 150 ms out of every
    /// 200 ms for 3 s (every write, fsync and answer waits), then runs normally again.
    StallLeader,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_faults_keep_every_acknowledged_record() -> anyhow::Result<()> {
    let seed: u64 = std::env::var("FJORD_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    let rounds: usize = std::env::var("FJORD_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    println!(
        "fault test: FJORD_FAULT_SEED={seed} FJORD_FAULT_ROUNDS={rounds} (times are UTC, as in the broker logs)"
    );
    let mut rng = Rng(seed);

    let mut cluster = ChildCluster::start(3, CLUSTER_ARGS).await?;
    let bootstrap = cluster.bootstrap();
    let topic = unique_name("faults");
    create_replicated(&cluster, &topic, None).await?;
    let group = unique_name("faults-group");
    let load = Load::start(&bootstrap, &topic)?;
    let committer = Committer::start(&bootstrap, &topic, &group)?;
    load.wait_acks(500, STEP_TIMEOUT).await?;

    let mut failovers = Vec::new();
    for round in 0..rounds {
        let fault = match rng.below(5) {
            0 => Fault::KillLeader,
            1 => Fault::KillController,
            2 => Fault::PauseLeader,
            3 => Fault::StallLeader,
            _ => Fault::TerminateLeader,
        };
        let partition = rng.below(PARTITIONS as u64) as i32;
        let victim = match fault {
            // A broker resumed from SIGSTOP may have just started an election (there is no
            // PreVote): wait for the quorum to settle on a leader before picking it.
            Fault::KillController => match settled_controller(&cluster).await {
                Some(id) => id,
                None => bail!(
                    "round {round}: no active controller within 15 s\n{}",
                    cluster.logs_tail(30)
                ),
            },
            _ => {
                wait_for(&bootstrap, STEP_TIMEOUT, |md| {
                    md.get(&topic)?
                        .get(&partition)
                        .map(|p| p.leader)
                        .filter(|l| *l > 0)
                })
                .await?
            }
        };
        let started = Instant::now();
        println!(
            "{} round {round}: {fault:?} of broker {victim} (partition {partition}) starts; acked so far {}",
            utc_now(),
            load.acked()
        );
        match fault {
            Fault::KillLeader | Fault::KillController => cluster.kill9(victim)?,
            Fault::PauseLeader => cluster.pause(victim)?,
            Fault::TerminateLeader => cluster.terminate(victim)?,
            Fault::StallLeader => {
                for _ in 0..15 {
                    cluster.pause(victim)?;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    cluster.resume(victim)?;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        let context = || {
            format!(
                "round {round} ({fault:?} of {victim})\n{}",
                cluster.logs_tail(40)
            )
        };
        match fault {
            Fault::KillController => {
                // Another voter takes over; writes through the quorum work again.
                let took_over = loop {
                    if let Some(id) = active_controller(&cluster).await.filter(|id| *id != victim) {
                        break id;
                    }
                    ensure!(
                        started.elapsed() < Duration::from_secs(30),
                        "no new controller: {}",
                        context()
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                println!(
                    "{} round {round}: kill -9 controller {victim} → broker {took_over} active after {:?}",
                    utc_now(),
                    started.elapsed()
                );
            }
            _ => {
                // Failover: the victim's partition gets acknowledgements again.
                let failover = load
                    .wait_partition_ack(partition, started, Duration::from_secs(60))
                    .await
                    .with_context(context)?;
                println!(
                    "{} round {round}: {fault:?} of leader {victim} (partition {partition}) → acks again after {failover:?}",
                    utc_now()
                );
                if matches!(fault, Fault::KillLeader) {
                    failovers.push(failover);
                }
            }
        }
        load.wait_acks(100, Duration::from_secs(60))
            .await
            .with_context(context)?;
        match fault {
            Fault::PauseLeader => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                cluster.resume(victim)?;
            }
            Fault::StallLeader => {}
            _ => cluster.restart(victim).await?,
        }
        println!(
            "{} round {round}: broker {victim} back; waiting for full ISRs",
            utc_now()
        );
        // The next fault waits for a full ISR, so acks=all with min.insync.replicas=2 always
        // has a replica to fail over to.
        wait_for(&bootstrap, Duration::from_secs(60), |md| {
            md.get(&topic)?
                .values()
                .all(|p| p.leader > 0 && p.isr.len() == 3)
                .then_some(())
        })
        .await
        .with_context(|| {
            format!(
                "round {round}: the ISR never recovered\n{}",
                cluster.logs_tail(40)
            )
        })?;
    }

    load.wait_acks(200, STEP_TIMEOUT).await?;
    println!(
        "{} fault test: rounds done, draining and verifying",
        utc_now()
    );
    let committed_seen = tokio::task::spawn_blocking(move || committer.finish()).await??;
    let ledger = load.finish().await?;
    ensure!(
        ledger.failed.is_empty(),
        "{} deliveries failed, e.g. {:?}",
        ledger.failed.len(),
        ledger.failed.first()
    );
    let records = match verify(&bootstrap, &topic, &ledger).await {
        Ok(records) => records,
        Err(e) => {
            let bs = bootstrap.clone();
            let now = tokio::task::spawn_blocking(move || metadata(&bs))
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|md| md.get(&topic).cloned());
            keep_ledger(&ledger);
            return Err(e.context(format!(
                "{} verifying {topic} failed; its partitions now: {now:?}",
                utc_now()
            )));
        }
    };
    let committed = {
        let (bs, t, g) = (bootstrap.clone(), topic.clone(), group.clone());
        tokio::task::spawn_blocking(move || committed_offsets(&bs, &t, &g)).await??
    };
    for (p, o) in &committed_seen {
        let now = committed.get(p).copied().unwrap_or(-1);
        ensure!(
            now >= *o,
            "committed offset of partition {p} went back from {o} to {now}"
        );
    }
    failovers.sort();
    println!(
        "fault test: {} acknowledged records verified over {rounds} rounds; kill -9 failover p50 {:?}, max {:?}; committed {committed:?}",
        records,
        failovers.get(failovers.len() / 2),
        failovers.last()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn isolated_leader_is_fenced_and_acknowledges_nothing() -> anyhow::Result<()> {
    let cluster = ChildCluster::start(3, CLUSTER_ARGS).await?;
    let bootstrap = cluster.bootstrap();
    let topic = unique_name("split");
    create_replicated(&cluster, &topic, None).await?;
    let old = wait_for(&bootstrap, STEP_TIMEOUT, |md| {
        md.get(&topic)?.get(&0).map(|p| p.leader).filter(|l| *l > 0)
    })
    .await?;
    let others: Vec<i32> = cluster
        .nodes()
        .iter()
        .map(|n| n.id)
        .filter(|id| *id != old)
        .collect();
    let others_bootstrap = others
        .iter()
        .map(|id| cluster.client_addr(*id))
        .collect::<Vec<_>>()
        .join(",");

    let isolated_at = Instant::now();
    cluster.isolate(old);

    // A write sent straight to the isolated broker, which still thinks it leads: acks=all
    // must not succeed there (its followers are gone, and it cannot shrink the ISR without
    // the quorum). librdkafka would move on to the new leader, so this is a raw request.
    let stale_write = tokio::spawn(stale_produce(cluster.client_addr(old), topic.clone()));

    // The majority fences the isolated broker and elects another leader.
    let new = wait_for(&others_bootstrap, Duration::from_secs(30), |md| {
        let leader = md.get(&topic)?.get(&0)?.leader;
        (leader > 0 && leader != old).then_some(leader)
    })
    .await
    .with_context(|| cluster.logs_tail(40))?;
    println!(
        "isolated broker {old}: partition 0 led by {new} after {:?}",
        isolated_at.elapsed()
    );

    // Writes through the majority succeed.
    let producer: FutureProducer = producer_config(&others_bootstrap)
        .set("enable.idempotence", "true")
        .create()?;
    let mut acked = Vec::new();
    for i in 0..50u64 {
        let payload = (1_000_000 + i).to_string();
        let d = producer
            .send(
                FutureRecord::<(), _>::to(&topic)
                    .partition(0)
                    .payload(&payload),
                Duration::from_secs(0),
            )
            .await
            .map_err(|(e, _)| anyhow!("produce to the majority failed: {e}"))?;
        acked.push((d.partition, d.offset, 1_000_000 + i));
    }
    let stale_code = stale_write.await??;
    ensure!(
        stale_code != 0,
        "the isolated old leader acknowledged an acks=all write"
    );
    println!("isolated old leader answered the acks=all write with error {stale_code}");

    // Heal: the old leader rejoins as a follower, truncates what it never committed, and the
    // log everyone serves is the majority's.
    cluster.heal(old);
    wait_for(&bootstrap, Duration::from_secs(60), |md| {
        md.get(&topic)?
            .values()
            .all(|p| p.isr.len() == 3)
            .then_some(())
    })
    .await
    .with_context(|| cluster.logs_tail(40))?;
    let ledger = Ledger {
        acked,
        ..Ledger::default()
    };
    let read = match verify(&bootstrap, &topic, &ledger).await {
        Ok(n) => n,
        Err(e) => {
            let views = views_of_partition0(&cluster, &topic).await;
            return Err(e.context(format!(
                "reading through every broker\n{views}\n{}",
                cluster.logs_tail(40)
            )));
        }
    };
    ensure!(
        read == 50,
        "expected exactly the 50 majority writes, read {read}"
    );
    // Reading from the healed old leader alone gives the same log.
    let read_old = match verify(&cluster.client_addr(old), &topic, &ledger).await {
        Ok(n) => n,
        Err(e) => {
            let views = views_of_partition0(&cluster, &topic).await;
            let log = cluster
                .stderr(old)
                .lines()
                .filter(|l| !l.contains("openraft"))
                .collect::<Vec<_>>()
                .join("\n");
            return Err(e.context(format!(
                "reading through the old leader {old}\n{views}\n{log}"
            )));
        }
    };
    ensure!(
        read_old == 50,
        "the old leader serves {read_old} records, not 50"
    );
    Ok(())
}

/// What each broker says about partition 0 of `topic` (Metadata and ListOffsets sent to
/// it alone), for failure messages.
async fn views_of_partition0(cluster: &ChildCluster, topic: &str) -> String {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{ListOffsetsRequest, MetadataRequest};
    let mut out = String::new();
    for node in cluster.nodes() {
        let addr = cluster.client_addr(node.id);
        let view = async {
            let mut c = WireClient::connect(&addr).await?;
            let md = c
                .send(
                    &MetadataRequest::default().with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(topic.to_string())))),
                    ])),
                    12,
                )
                .await?;
            let p = md
                .topics
                .first()
                .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0))
                .map(|p| format!("leader {} epoch {} isr {:?} error {}", p.leader_id.0, p.leader_epoch, p.isr_nodes, p.error_code))
                .unwrap_or_default();
            let lo = c
                .send(
                    &ListOffsetsRequest::default().with_replica_id(kafka_protocol::messages::BrokerId(-1)).with_topics(vec![
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)]),
                    ]),
                    7,
                )
                .await?;
            let end = lo
                .topics
                .first()
                .and_then(|t| t.partitions.first())
                .map(|p| format!("latest {} error {}", p.offset, p.error_code))
                .unwrap_or_default();
            let topic_id = md.topics.first().map(|t| t.topic_id).unwrap_or_default();
            let fetch = c
                .send(
                    &kafka_protocol::messages::FetchRequest::default()
                        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
                        .with_max_wait_ms(0)
                        .with_max_bytes(1 << 20)
                        .with_topics(vec![
                            kafka_protocol::messages::fetch_request::FetchTopic::default()
                                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                                .with_topic_id(topic_id)
                                .with_partitions(vec![
                                    kafka_protocol::messages::fetch_request::FetchPartition::default()
                                        .with_partition(0)
                                        .with_fetch_offset(0)
                                        .with_current_leader_epoch(-1)
                                        .with_partition_max_bytes(1 << 20),
                                ]),
                        ]),
                    12,
                )
                .await?;
            let fetched = fetch
                .responses
                .first()
                .and_then(|t| t.partitions.first())
                .map(|p| format!("fetch error {} hw {} preferred {} bytes {}", p.error_code, p.high_watermark, p.preferred_read_replica.0, p.records.as_ref().map_or(0, |r| r.len())))
                .unwrap_or_else(|| format!("fetch top error {}", fetch.error_code));
            let brokers: Vec<String> = md.brokers.iter().map(|b| format!("{}@{}:{}", b.node_id.0, b.host, b.port)).collect();
            anyhow::Ok(format!("{p}; {end}; {fetched}; brokers {brokers:?}"))
        }
        .await;
        out.push_str(&format!(
            "broker {}: {}\n",
            node.id,
            view.unwrap_or_else(|e| format!("{e:#}"))
        ));
    }
    out
}

/// Produces one record with acks=all to partition 0 of `topic` on the broker at `addr`;
/// returns the partition's error code.
async fn stale_produce(addr: String, topic: String) -> anyhow::Result<i16> {
    let batch = fjord_tests::wire::one_record_batch(b"split-brain")?;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    let mut client = WireClient::connect(&addr).await?;
    let response = client.send(&request, 9).await?;
    let code = response
        .responses
        .first()
        .and_then(|t| t.partition_responses.first())
        .map(|p| p.error_code)
        .context("empty Produce response")?;
    Ok(code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reassignment_under_load_moves_every_partition() -> anyhow::Result<()> {
    let cluster = ChildCluster::start(4, CLUSTER_ARGS).await?;
    let bootstrap = cluster.bootstrap();
    let topic = unique_name("moves");
    create_replicated(&cluster, &topic, Some(&[1, 2, 3])).await?;
    let load = Load::start(&bootstrap, &topic)?;
    load.wait_acks(500, STEP_TIMEOUT).await?;

    let target = [2, 3, 4];
    let mut conn = connect(
        &ConnectOptions {
            bootstrap: bootstrap.clone(),
            tls_ca_pem: None,
            sasl: None,
        },
        STEP_TIMEOUT,
    )
    .await?;
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            ReassignableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(
                    (0..PARTITIONS)
                        .map(|p| {
                            ReassignablePartition::default()
                                .with_partition_index(p)
                                .with_replicas(Some(target.iter().map(|r| (*r).into()).collect()))
                        })
                        .collect(),
                ),
        ]);
    let version = conn.version_for::<AlterPartitionReassignmentsRequest>(0..=0)?;
    let response = conn.send(&request, version).await?;
    ensure!(
        response.error_code == 0,
        "AlterPartitionReassignments: {}",
        response.error_code
    );
    for t in &response.responses {
        for p in &t.partitions {
            ensure!(
                p.error_code == 0,
                "partition {}: error {}",
                p.partition_index,
                p.error_code
            );
        }
    }
    let started = Instant::now();
    // Progress is reported by ListPartitionReassignments until every move completed.
    loop {
        let list = ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000);
        let version = conn.version_for::<ListPartitionReassignmentsRequest>(0..=0)?;
        let listed = conn.send(&list, version).await?;
        let moving: usize = listed.topics.iter().map(|t| t.partitions.len()).sum();
        if moving == 0 {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(90),
            "reassignment still running after 90 s ({moving} partitions)\n{}",
            cluster.logs_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for(&bootstrap, STEP_TIMEOUT, |md| {
        md.get(&topic)?
            .values()
            .all(|p| {
                let mut r = p.replicas.clone();
                r.sort();
                r == target && p.isr.len() == 3 && target.contains(&p.leader)
            })
            .then_some(())
    })
    .await?;
    println!(
        "reassignment of {PARTITIONS} partitions to {target:?} took {:?}",
        started.elapsed()
    );
    load.wait_acks(500, STEP_TIMEOUT).await?;
    let ledger = load.finish().await?;
    ensure!(
        ledger.failed.is_empty(),
        "{} produce requests failed during the move, e.g. {:?}",
        ledger.failed.len(),
        ledger.failed.first()
    );
    let read = verify(&bootstrap, &topic, &ledger).await?;
    println!("reassignment: {read} records verified, none failed");
    Ok(())
}

/// KIP-392: a consumer with `client.rack` is sent to the in-sync replica in its rack and
/// reads everything from that follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_fetch_from_the_replica_in_their_rack() -> anyhow::Result<()> {
    let mut args = CLUSTER_ARGS.to_vec();
    args.extend(["--set", "fjord.usage.interval.ms=1000"]);
    let cluster = ChildCluster::start_racked(&["rack-a", "rack-b", "rack-c"], &args).await?;
    let bootstrap = cluster.bootstrap();
    let topic = unique_name("nearest");
    create_replicated(&cluster, &topic, None).await?;
    let producer: FutureProducer = producer_config(&bootstrap).create()?;
    let mut acked = Vec::new();
    for i in 0..200u64 {
        let payload = i.to_string();
        let d = producer
            .send(
                FutureRecord::<(), _>::to(&topic)
                    .partition(0)
                    .payload(&payload),
                Duration::from_secs(0),
            )
            .await
            .map_err(|(e, _)| anyhow!("produce failed: {e}"))?;
        acked.push((d.partition, d.offset, i));
    }
    let md = wait_for(&bootstrap, STEP_TIMEOUT, |md| {
        md.get(&topic)?.get(&0).cloned()
    })
    .await?;
    let follower = *md
        .replicas
        .iter()
        .find(|r| **r != md.leader)
        .context("no follower")?;
    let rack = ["rack-a", "rack-b", "rack-c"][(follower - 1) as usize];
    let (bs, t) = (bootstrap.clone(), topic.clone());
    let read = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let consumer: BaseConsumer = client_config(&bs)
            .set("group.id", unique_name("nearest"))
            .set("client.rack", rack)
            .set("enable.auto.commit", "false")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&t, 0, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        let mut read = 0;
        let deadline = Instant::now() + STEP_TIMEOUT;
        while read < 200 {
            ensure!(Instant::now() < deadline, "read {read} of 200 records");
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    ensure!(
                        m.payload() == Some(read.to_string().as_bytes()),
                        "record {read} differs"
                    );
                    read += 1;
                }
                Some(Err(e)) => bail!("consumer error: {e}"),
                None => {}
            }
        }
        Ok(read)
    })
    .await??;
    ensure!(read == 200);
    let label = format!("topic=\"{topic}\"");
    let from_follower = cluster
        .metric_sum(follower, "fjord_records_out_total", &label)
        .await;
    let from_leader = cluster
        .metric_sum(md.leader, "fjord_records_out_total", &label)
        .await;
    println!(
        "client.rack={rack}: {from_follower} records from follower {follower}, {from_leader} from leader {}",
        md.leader
    );
    ensure!(
        from_follower >= 200.0,
        "the follower in the consumer's rack served {from_follower} records (leader: {from_leader})"
    );

    // Metering across brokers: whichever broker leads __fjord_usage-0, every broker's
    // windows land there — the leader metered the records in, the follower the records out
    // — and storage is metered once per partition, by its leader.
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let records = read_usage(&bootstrap).await?;
        let name: &str = &topic;
        let traffic = |broker: i32| {
            records
                .iter()
                .filter(move |r| r.topic == name && r.kind == "traffic" && r.broker == broker)
        };
        let records_in: u64 = traffic(md.leader).map(|r| r.records_in).sum();
        let records_out: u64 = traffic(follower).map(|r| r.records_out).sum();
        let mut latest_storage: BTreeMap<i32, &UsageRecord> = BTreeMap::new();
        for r in records
            .iter()
            .filter(|r| r.topic == topic && r.kind == "storage")
        {
            latest_storage.insert(r.broker, r);
        }
        let partitions: i32 = latest_storage.values().filter_map(|r| r.partitions).sum();
        let brokers: BTreeSet<i32> = records.iter().map(|r| r.broker).collect();
        if records_in == 200 && records_out >= 200 && partitions == PARTITIONS {
            println!("usage: {} records from brokers {brokers:?}", records.len());
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "usage of {topic}: {records_in} records in from leader {}, {records_out} out from follower {follower}, {partitions} partitions stored (latest storage records: {latest_storage:?}); brokers that wrote usage: {brokers:?}",
            md.leader
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Every record of `__fjord_usage` up to its current end.
async fn read_usage(bootstrap: &str) -> anyhow::Result<Vec<UsageRecord>> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client_config(&bootstrap)
            .set("group.id", unique_name("collector"))
            .set("enable.auto.commit", "false")
            .create()?;
        let (low, high) = consumer.fetch_watermarks("__fjord_usage", 0, STEP_TIMEOUT)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("__fjord_usage", 0, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        let mut out = Vec::new();
        let mut next = low;
        let deadline = Instant::now() + STEP_TIMEOUT;
        while next < high {
            ensure!(
                Instant::now() < deadline,
                "read __fjord_usage up to {next} of {high}"
            );
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    next = m.offset() + 1;
                    out.push(serde_json::from_slice(m.payload().unwrap_or_default())?);
                }
                Some(Err(e)) => bail!("reading __fjord_usage: {e}"),
                None => {}
            }
        }
        Ok(out)
    })
    .await?
}

/// Produces `n` keyed records `"{tag}-{i}"` with acks=all and waits for every ack.
async fn produce_tagged(bootstrap: &str, topic: &str, tag: &str, n: usize) -> anyhow::Result<()> {
    let producer: FutureProducer = producer_config(bootstrap)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()?;
    let mut acks = FuturesUnordered::new();
    for i in 0..n {
        let key = format!("{tag}-{i}");
        let producer = producer.clone();
        let topic = topic.to_string();
        acks.push(async move {
            producer
                .send(
                    FutureRecord::to(&topic).key(&key).payload(&key),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| anyhow!("record {key} failed: {e}"))
        });
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    Ok(())
}

/// Every record of `topic` from the beginning, by value, once `n` arrived.
async fn read_values(bootstrap: &str, topic: &str, n: usize) -> anyhow::Result<BTreeSet<String>> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = consumer_config(&bootstrap, &unique_name("read")).create()?;
        consumer.subscribe(&[&topic])?;
        let records = fjord_tests::consume_exactly(
            &consumer,
            n,
            Duration::from_secs(60),
            Duration::from_millis(500),
        )?;
        Ok(records.into_iter().map(|r| r.value).collect())
    })
    .await?
}

/// A cluster whose brokers reach each other only over SASL_SSL (SCRAM-SHA-512 inside TLS
/// with a test CA, as the operator configures them): the quorum forms, followers replicate
/// with a full ISR, a killed leader's partitions move, and the restarted broker catches up —
/// every inter-broker byte on an authenticated, encrypted link.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn brokers_replicate_over_sasl_ssl() -> anyhow::Result<()> {
    let tls = fjord_tests::secure::TlsFiles::generate()?;
    let keystore = format!("ssl.keystore.location={}", tls.keystore.display());
    let ca = format!("fjord.inter.broker.ssl.ca.location={}", tls.ca.display());
    let mut args: Vec<&str> = CLUSTER_ARGS.to_vec();
    args.extend([
        "--set",
        "listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:SASL_SSL",
        "--set",
        &keystore,
        "--set",
        &ca,
        "--set",
        "fjord.bootstrap.users=broker:inter-broker-secret",
        "--set",
        "super.users=User:broker",
        "--set",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
    ]);
    let mut cluster = ChildCluster::start_tls(3, &args).await?;
    let bootstrap = cluster.bootstrap();
    let topic = unique_name("secure");
    create_replicated(&cluster, &topic, None).await?;
    produce_tagged(&bootstrap, &topic, "a", 300).await?;

    let leader = wait_for(&bootstrap, STEP_TIMEOUT, |md| {
        md.get(&topic)?.get(&0).map(|p| p.leader)
    })
    .await?;
    cluster.kill9(leader)?;
    let moved = wait_for(&cluster.client_addr(leader % 3 + 1), STEP_TIMEOUT, |md| {
        let p = md.get(&topic)?.get(&0)?;
        (p.leader >= 0 && p.leader != leader).then_some(p.leader)
    })
    .await
    .context("partition 0 did not move off the killed leader")?;
    let survivors: String = cluster
        .nodes()
        .iter()
        .filter(|n| n.id != leader)
        .map(|n| format!("127.0.0.1:{}", n.client_port))
        .collect::<Vec<_>>()
        .join(",");
    produce_tagged(&survivors, &topic, "b", 300).await?;

    cluster.restart(leader).await?;
    wait_for(&bootstrap, Duration::from_secs(60), |md| {
        let t = md.get(&topic)?;
        t.values().all(|p| p.isr.len() == 3).then_some(())
    })
    .await
    .with_context(|| format!("broker {leader} did not rejoin every ISR over SASL_SSL"))?;
    let values = read_values(&bootstrap, &topic, 600).await?;
    let want: BTreeSet<String> = (0..300)
        .flat_map(|i| [format!("a-{i}"), format!("b-{i}")])
        .collect();
    assert_eq!(values, want);
    eprintln!("partition 0 moved from broker {leader} to {moved}; 600 records read back");
    Ok(())
}

/// The control plane's admin client reads (Fetch, ListOffsets) each partition from its
/// leader, whichever broker it bootstrapped from: the message browser and the usage
/// collector work on clusters of several brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_client_reads_every_partition_from_its_leader() -> anyhow::Result<()> {
    let cluster = ChildCluster::start(3, &[]).await?;
    let bootstrap = cluster.bootstrap();
    let topic = unique_name("spread");
    let admin = admin(&bootstrap)?;
    let one_each: Vec<&[i32]> = vec![&[1], &[2], &[3]];
    let new = NewTopic::new(&topic, 3, TopicReplication::Variable(&one_each));
    for r in admin.create_topics([&new], &admin_options()).await? {
        r.map_err(|(t, code)| anyhow!("CreateTopics {t}: {code:?}"))?;
    }
    wait_for(&bootstrap, STEP_TIMEOUT, |md| {
        let t = md.get(&topic)?;
        (t.len() == 3 && t.values().all(|p| p.leader >= 0)).then_some(())
    })
    .await?;
    let producer: FutureProducer = producer_config(&bootstrap).create()?;
    for p in 0..3 {
        producer
            .send(
                FutureRecord::to(&topic)
                    .partition(p)
                    .key("k")
                    .payload(&format!("on partition {p}")),
                Duration::from_secs(20),
            )
            .await
            .map_err(|(e, _)| anyhow!("produce to {p}: {e}"))?;
    }
    let mut client = fjord_api::kafka::AdminClient::connect(&ConnectOptions {
        bootstrap: cluster.client_addr(1),
        tls_ca_pem: None,
        sasl: None,
    })
    .await?;
    for p in 0..3 {
        let bounds = client.partition_offsets(&topic, p).await?;
        assert_eq!((bounds.earliest, bounds.latest), (0, 1), "partition {p}");
        let fetched = client.fetch_batch(&topic, p, 0, 1 << 20).await?;
        let values: Vec<_> = fetched
            .records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
            .collect();
        assert_eq!(values, vec![format!("on partition {p}")]);
    }
    Ok(())
}

/// A transactional producer over `bootstrap` with id `id`, initialised.
fn txn_producer(bootstrap: &str, id: &str) -> anyhow::Result<rdkafka::producer::BaseProducer> {
    let p: rdkafka::producer::BaseProducer = client_config(bootstrap)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "30000")
        .create()?;
    p.init_transactions(Duration::from_secs(60))
        .context("init_transactions")?;
    Ok(p)
}

/// Sends `tag-<partition>-<i>` to every partition of `topic` in the producer's open
/// transaction and waits for delivery.
fn send_tagged(
    p: &rdkafka::producer::BaseProducer,
    topic: &str,
    tag: &str,
    per_partition: usize,
) -> anyhow::Result<()> {
    for partition in 0..PARTITIONS {
        for i in 0..per_partition {
            let value = format!("{tag}-{partition}-{i}");
            p.send(
                rdkafka::producer::BaseRecord::<(), String>::to(topic)
                    .partition(partition)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)?;
        }
    }
    p.flush(Duration::from_secs(30))?;
    Ok(())
}

/// Every value in `topic` as a `read_committed` consumer sees it.
fn read_committed(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> anyhow::Result<BTreeSet<String>> {
    let consumer: BaseConsumer = consumer_config(bootstrap, &unique_name("rc"))
        .set("isolation.level", "read_committed")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let got =
        fjord_tests::consume_exactly(&consumer, expected, STEP_TIMEOUT, Duration::from_secs(2))?;
    Ok(got.into_iter().map(|r| r.value).collect())
}

fn tagged(tag: &str, per_partition: usize) -> BTreeSet<String> {
    (0..PARTITIONS)
        .flat_map(|p| (0..per_partition).map(move |i| format!("{tag}-{p}-{i}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_span_brokers_and_survive_the_death_of_their_coordinator() -> anyhow::Result<()>
{
    let mut args = CLUSTER_ARGS.to_vec();
    args.extend([
        "--set",
        "transaction.state.log.replication.factor=3",
        "--set",
        "transaction.state.log.num.partitions=3",
    ]);
    let mut cluster = ChildCluster::start(3, &args).await?;
    let bootstrap = cluster.bootstrap();
    let topic = unique_name("txn-spread");
    create_replicated(&cluster, &topic, None).await?;
    let leaders: BTreeSet<i32> = metadata(&bootstrap)?
        .get(&topic)
        .map(|t| t.values().map(|p| p.leader).collect())
        .unwrap_or_default();
    ensure!(
        leaders.len() > 1,
        "every partition on one leader ({leaders:?}): markers would not cross brokers"
    );
    let id = unique_name("tx");
    // The coordinator: the leader of the id's __transaction_state partition.
    let state_partition = fjord_broker::txn::codec::partition_for(&id, 3) as i32;
    let coordinator = wait_for(&bootstrap, STEP_TIMEOUT, |md| {
        let p = md
            .get(fjord_broker::txn::TXN_TOPIC)?
            .get(&state_partition)?;
        (p.leader >= 0 && p.isr.len() == 3).then_some(p.leader)
    })
    .await?;

    let (b, t, i) = (bootstrap.clone(), topic.clone(), id.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let p = txn_producer(&b, &i)?;
        p.begin_transaction()?;
        send_tagged(&p, &t, "committed", 5)?;
        p.commit_transaction(Duration::from_secs(30))?;
        p.begin_transaction()?;
        send_tagged(&p, &t, "aborted", 5)?;
        p.abort_transaction(Duration::from_secs(30))?;
        // Left open: its coordinator dies next.
        p.begin_transaction()?;
        send_tagged(&p, &t, "orphaned", 5)?;
        Ok(())
    })
    .await??;
    ensure!(read_committed(&bootstrap, &topic, 15)? == tagged("committed", 5));

    cluster.kill9(coordinator)?;
    let (b, t, i) = (
        cluster.client_addr(coordinator % 3 + 1),
        topic.clone(),
        id.clone(),
    );
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        // The new coordinator loads the id's state, aborts the orphaned transaction on every
        // partition (their leaders may have moved too) and hands out a new epoch.
        let p = txn_producer(&b, &i)?;
        p.begin_transaction()?;
        send_tagged(&p, &t, "after", 5)?;
        p.commit_transaction(Duration::from_secs(30))?;
        Ok(())
    })
    .await??;
    let expected: BTreeSet<String> = tagged("committed", 5)
        .union(&tagged("after", 5))
        .cloned()
        .collect();
    let seen = read_committed(&cluster.client_addr(coordinator % 3 + 1), &topic, 30)?;
    ensure!(
        seen == expected,
        "read_committed after the coordinator died: {seen:?}"
    );
    cluster.restart(coordinator).await?;
    Ok(())
}
