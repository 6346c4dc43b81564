//! Replica fetchers: one task per leader this broker follows partitions of (Kafka's replica
//! fetcher threads), each on its own connection to the leader's inter-broker listener.
//!
//! A partition added to a fetcher first finds where its log and the leader's agree: it asks
//! the leader where its own latest leader epoch ends (OffsetsForLeaderEpoch) and truncates
//! past that (KIP-101/279: no acknowledged record is lost, no diverged record survives; when
//! the leader answers with an epoch the follower never had, the follower cuts back to its
//! own older epoch and asks again). Then the fetcher loops on Fetch requests as replica
//! `node.id` (the leader long-polls up to `replica.fetch.wait.max.ms` and wakes on appends),
//! appends what arrives offsets unchanged, and takes the leader's high watermark and log
//! start offset. The leader learns each follower's position from these fetches (see
//! [`crate::replica`]).
//!
//! Every answer (OffsetsForLeaderEpoch or Fetch) is applied only while the partition still
//! follows that leader in that epoch, and a Fetch answer only while the log still ends where
//! the fetch started: a fetcher may be waiting on a deposed leader's long poll (or on a
//! SIGSTOPped one) while the partition already follows — or leads — elsewhere.
//!
//! A partition whose leader answers NOT_LEADER_OR_FOLLOWER or a fenced/unknown epoch waits
//! for the metadata image to say who leads now ([`crate::publish`] re-adds or removes it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::broker::{Broker, inter_broker_listener};
use crate::client::{Connection, KafkaError};
use crate::cluster::image::MetadataImage;
use crate::replica::{FetchPosition, FollowerAppend, Following, Partition};

/// A partition a fetcher replicates.
#[derive(Debug)]
struct Followed {
    partition: Arc<Partition>,
    leader_epoch: i32,
    /// Whether the divergence check against this leader epoch is done.
    truncated: bool,
    /// Not fetched before this (after an error).
    paused_until: Option<Instant>,
}

enum Command {
    Follow(Arc<Partition>, i32),
    Unfollow(String, i32),
}

#[derive(Debug)]
struct Fetcher {
    addr: String,
    tx: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Follow(p, e) => write!(f, "Follow({}-{}, epoch {e})", p.topic, p.index),
            Command::Unfollow(t, p) => write!(f, "Unfollow({t}-{p})"),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    by_leader: HashMap<i32, Fetcher>,
    /// Which leader each followed partition is fetched from.
    assigned: HashMap<(String, i32), i32>,
}

/// The replica fetchers of this broker.
#[derive(Debug, Default)]
pub struct Fetchers {
    inner: Mutex<Inner>,
}

pub(crate) fn leader_addr(broker: &Broker, image: &MetadataImage, leader: i32) -> Option<String> {
    let listener = inter_broker_listener(&broker.config)?.name.clone();
    let b = image.brokers.get(&leader)?;
    let e = b.endpoint(&listener)?;
    Some(format!("{}:{}", e.host, e.port))
}

impl Fetchers {
    /// Replicates `partition` from `leader` (moving it from another fetcher if needed).
    pub(crate) fn follow(
        &self,
        broker: &Arc<Broker>,
        partition: Arc<Partition>,
        leader: i32,
        leader_epoch: i32,
        image: &MetadataImage,
    ) {
        let key = (partition.topic.clone(), partition.index);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(previous) = inner.assigned.get(&key).copied()
            && previous != leader
            && let Some(f) = inner.by_leader.get(&previous)
        {
            let _ = f.tx.send(Command::Unfollow(key.0.clone(), key.1));
        }
        let Some(addr) = leader_addr(broker, image, leader) else {
            tracing::warn!(topic = %key.0, partition = key.1, leader, "the leader has no inter-broker address yet");
            inner.assigned.remove(&key);
            return;
        };
        let fetcher = inner.by_leader.entry(leader).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(run(broker.clone(), leader, addr.clone(), rx));
            Fetcher { addr, tx, task }
        });
        let _ = fetcher.tx.send(Command::Follow(partition, leader_epoch));
        inner.assigned.insert(key, leader);
    }

    /// Stops replicating a partition (it leads now, has no leader, or moved away).
    pub(crate) fn remove(&self, topic: &str, partition: i32) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(leader) = inner.assigned.remove(&(topic.to_string(), partition))
            && let Some(f) = inner.by_leader.get(&leader)
        {
            let _ = f.tx.send(Command::Unfollow(topic.to_string(), partition));
        }
    }

    /// Restarts fetchers whose leader now advertises another address (it restarted on
    /// another port), keeping their partitions.
    pub(crate) fn refresh_addresses(&self, broker: &Arc<Broker>, image: &MetadataImage) {
        let moved: Vec<i32> = {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner
                .by_leader
                .iter()
                .filter(|(leader, f)| {
                    leader_addr(broker, image, **leader).is_some_and(|a| a != f.addr)
                })
                .map(|(leader, _)| *leader)
                .collect()
        };
        for leader in moved {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = inner.by_leader.remove(&leader) {
                f.task.abort();
            }
            let partitions: Vec<(String, i32)> = inner
                .assigned
                .iter()
                .filter(|(_, l)| **l == leader)
                .map(|(k, _)| k.clone())
                .collect();
            drop(inner);
            for (topic, index) in partitions {
                if let Some(p) = broker.partition(&topic, index) {
                    let epoch = p.replica().leader_epoch;
                    self.follow(broker, p, leader, epoch, image);
                }
            }
        }
    }

    /// Stops every fetcher.
    pub(crate) fn stop_all(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (_, f) in inner.by_leader.drain() {
            f.task.abort();
        }
        inner.assigned.clear();
    }

    /// Partitions being replicated, by leader (metrics and tests).
    pub fn followed(&self) -> BTreeMap<i32, usize> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = BTreeMap::new();
        for leader in inner.assigned.values() {
            *out.entry(*leader).or_insert(0) += 1;
        }
        out
    }
}

/// One fetcher's loop.
async fn run(
    broker: Arc<Broker>,
    leader: i32,
    addr: String,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let mut followed: BTreeMap<(String, i32), Followed> = BTreeMap::new();
    let mut conn: Option<Connection> = None;
    let backoff = Duration::from_millis(broker.config.cluster.replica_fetch_backoff_ms.max(10));
    tracing::debug!(leader, %addr, "replica fetcher started");
    loop {
        // Take every pending command; with nothing to fetch, wait for one.
        loop {
            let command = if followed.is_empty() {
                match rx.recv().await {
                    Some(c) => c,
                    None => return,
                }
            } else {
                match rx.try_recv() {
                    Ok(c) => c,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            };
            match command {
                Command::Follow(p, epoch) => {
                    let key = (p.topic.clone(), p.index);
                    let same = followed
                        .get(&key)
                        .is_some_and(|f| f.leader_epoch == epoch && Arc::ptr_eq(&f.partition, &p));
                    if !same {
                        followed.insert(
                            key,
                            Followed {
                                partition: p,
                                leader_epoch: epoch,
                                truncated: false,
                                paused_until: None,
                            },
                        );
                    }
                }
                Command::Unfollow(topic, index) => {
                    followed.remove(&(topic, index));
                }
            }
        }
        if broker.lifecycle() == crate::broker::Lifecycle::Stopped {
            return;
        }
        let c = match conn.as_mut() {
            Some(c) if !c.is_broken() => c,
            _ => match broker.peers.checkout(&addr).await {
                Ok(c) => {
                    // Connecting may have taken long (a paused leader): take the commands
                    // that came meanwhile before asking anything for a partition.
                    conn = Some(c);
                    continue;
                }
                Err(e) => {
                    tracing::debug!(leader, %addr, error = %e, "leader unreachable");
                    conn = None;
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
        };
        let result = match truncate_diverged(&broker, leader, c, &mut followed).await {
            Ok(()) => fetch_once(&broker, leader, c, &mut followed).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::debug!(leader, %addr, error = %e, "replica fetch failed");
            conn = None;
            tokio::time::sleep(backoff).await;
        }
        let now = Instant::now();
        if !followed.is_empty()
            && followed
                .values()
                .all(|f| f.paused_until.is_some_and(|t| t > now))
        {
            tokio::time::sleep(backoff).await;
        }
    }
}

/// The divergence check of partitions new to this leader epoch: truncate past where the
/// leader says our latest epoch ends.
async fn truncate_diverged(
    broker: &Broker,
    leader: i32,
    conn: &mut Connection,
    followed: &mut BTreeMap<(String, i32), Followed>,
) -> Result<(), KafkaError> {
    let pending: Vec<(String, i32, i32, i32)> = followed
        .iter()
        .filter(|(_, f)| !f.truncated)
        .filter_map(|((t, p), f)| {
            let (_, latest) = f.partition.log_end();
            latest.map(|epoch| (t.clone(), *p, f.leader_epoch, epoch))
        })
        .collect();
    // Logs without any epoch (empty) need no check.
    for f in followed.values_mut() {
        if f.partition.log_end().1.is_none() {
            f.truncated = true;
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let mut request = OffsetForLeaderEpochRequest::default();
    request.replica_id = BrokerId(broker.node_id);
    let mut by_topic: BTreeMap<String, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    for (topic, partition, current, latest) in &pending {
        let mut p = OffsetForLeaderPartition::default();
        p.partition = *partition;
        p.current_leader_epoch = *current;
        p.leader_epoch = *latest;
        by_topic.entry(topic.clone()).or_default().push(p);
    }
    for (topic, partitions) in by_topic {
        let mut t = OffsetForLeaderTopic::default();
        t.topic = TopicName(StrBytes::from_string(topic));
        t.partitions = partitions;
        request.topics.push(t);
    }
    let version = conn.version_for::<OffsetForLeaderEpochRequest>(3..=4)?;
    let response = conn.send(&request, version).await?;
    for t in response.topics {
        for r in t.partitions {
            let key = (t.topic.to_string(), r.partition);
            let Some(f) = followed.get_mut(&key) else {
                continue;
            };
            if r.error_code != 0 {
                tracing::debug!(topic = %key.0, partition = key.1, error = r.error_code, "leader refused OffsetsForLeaderEpoch");
                f.paused_until = Some(Instant::now() + Duration::from_millis(200));
                continue;
            }
            let (_, latest) = f.partition.log_end();
            // The leader knows our epoch (or an older one) ending at `end_offset`: anything
            // of ours after that point diverged (see `replica::truncation`). A leader that
            // knows no epoch at all answers -1: keep only what was committed.
            let answer = (r.end_offset >= 0).then_some((r.leader_epoch, r.end_offset));
            let following = Following {
                leader,
                leader_epoch: f.leader_epoch,
            };
            match f.partition.truncate_to_leader_epoch_end(following, answer) {
                Ok(Some((end, decision))) => {
                    if decision.to < end {
                        tracing::info!(topic = %key.0, partition = key.1, from = end, to = decision.to, our_epoch = ?latest, leader_epoch = r.leader_epoch, leader_end_offset = r.end_offset, done = decision.done, "truncated a diverged log tail");
                    }
                    f.truncated = decision.done;
                }
                Ok(None) => {
                    // Leadership moved on while we asked: the metadata image re-adds or
                    // removes the partition.
                    tracing::debug!(topic = %key.0, partition = key.1, leader, leader_epoch = f.leader_epoch, "no longer following this leader; answer ignored");
                    f.paused_until = Some(Instant::now() + Duration::from_millis(200));
                }
                Err(e) => {
                    tracing::error!(topic = %key.0, partition = key.1, error = %e, "truncation failed");
                    f.paused_until = Some(Instant::now() + Duration::from_secs(1));
                }
            }
        }
    }
    Ok(())
}

/// One Fetch round for every partition ready to fetch.
async fn fetch_once(
    broker: &Broker,
    leader: i32,
    conn: &mut Connection,
    followed: &mut BTreeMap<(String, i32), Followed>,
) -> Result<(), KafkaError> {
    let now = Instant::now();
    let cluster = &broker.config.cluster;
    let mut request = FetchRequest::default();
    request.replica_id = BrokerId(broker.node_id);
    request.max_wait_ms = cluster.replica_fetch_wait_max_ms;
    request.min_bytes = 1;
    request.max_bytes = cluster.replica_fetch_response_max_bytes;
    request.session_id = 0;
    request.session_epoch = -1;
    let mut by_topic: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
    // What each partition's fetch asked: its answer applies only to that log end, under that
    // leader epoch (see `Partition::append_as_follower`).
    let mut asked: BTreeMap<(String, i32), FetchPosition> = BTreeMap::new();
    for ((topic, index), f) in followed.iter_mut() {
        if !f.truncated || f.paused_until.is_some_and(|t| t > now) {
            continue;
        }
        f.paused_until = None;
        let (end, latest) = f.partition.log_end();
        asked.insert(
            (topic.clone(), *index),
            FetchPosition {
                following: Following {
                    leader,
                    leader_epoch: f.leader_epoch,
                },
                fetch_offset: end,
            },
        );
        let mut p = FetchPartition::default();
        p.partition = *index;
        p.current_leader_epoch = f.leader_epoch;
        p.fetch_offset = end;
        p.last_fetched_epoch = latest.unwrap_or(-1);
        p.log_start_offset = -1;
        p.partition_max_bytes = cluster.replica_fetch_max_bytes;
        by_topic.entry(topic.clone()).or_default().push(p);
    }
    if by_topic.is_empty() {
        return Ok(());
    }
    // Replicas a reassignment is adding are throttled (follower.replication.throttled.rate),
    // so catching up a new broker does not starve the in-sync replicas and the clients.
    let image = broker.image();
    let throttled = |topic: &str, index: i32| {
        image.partition(topic, index).is_some_and(|p| {
            p.adding_replicas.contains(&broker.node_id) && !p.isr.contains(&broker.node_id)
        })
    };
    let mut throttled_bytes = 0u64;
    let mut throttled_keys = Vec::new();
    for (topic, partitions) in by_topic {
        let mut t = FetchTopic::default();
        t.topic = TopicName(StrBytes::from_string(topic));
        t.partitions = partitions;
        request.topics.push(t);
    }
    let version = conn.version_for::<FetchRequest>(12..=12)?;
    let response = conn.send(&request, version).await?;
    if response.error_code != 0 {
        return Err(KafkaError::Protocol(format!(
            "leader refused the replica fetch: error {}",
            response.error_code
        )));
    }
    let now_ms = crate::now_ms();
    for t in response.responses {
        for pd in t.partitions {
            let key = (t.topic.to_string(), pd.partition_index);
            let (Some(f), Some(position)) = (followed.get_mut(&key), asked.get(&key).copied())
            else {
                continue;
            };
            let error = ResponseError::try_from_code(pd.error_code);
            match error {
                None => {
                    let records = pd.records.unwrap_or_default();
                    if throttled(&key.0, key.1) {
                        throttled_bytes += records.len() as u64;
                        throttled_keys.push(key.clone());
                    }
                    match f.partition.append_as_follower(
                        &records,
                        position,
                        pd.high_watermark,
                        pd.log_start_offset,
                        now_ms,
                    ) {
                        Ok(FollowerAppend::Appended) => {
                            if !records.is_empty() {
                                broker.data_arrived.notify_waiters();
                            }
                        }
                        Ok(FollowerAppend::Stale { log_end }) => {
                            let (first, last) = offset_range(&records);
                            tracing::info!(topic = %key.0, partition = key.1, leader, leader_epoch = f.leader_epoch, fetch_offset = position.fetch_offset, log_end, ?first, ?last, "a fetch answer came after leadership or the log moved on; dropped");
                        }
                        Ok(FollowerAppend::Diverged { to }) => {
                            tracing::warn!(topic = %key.0, partition = key.1, leader, leader_epoch = f.leader_epoch, fetch_offset = position.fetch_offset, to, "the leader's batch holding our log end starts before it: truncated to the batch");
                        }
                        Err(e) => {
                            tracing::warn!(topic = %key.0, partition = key.1, error = %e, "follower append failed; checking divergence again");
                            f.truncated = false;
                            f.paused_until = Some(Instant::now() + Duration::from_millis(200));
                        }
                    }
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    let (end, latest) = f.partition.log_end();
                    let following = position.following;
                    if end != position.fetch_offset {
                        // The log moved since the fetch: the answer is about another log.
                    } else if pd.log_start_offset >= 0 && end < pd.log_start_offset {
                        tracing::info!(topic = %key.0, partition = key.1, from = end, to = pd.log_start_offset, "behind the leader's log start: restarting the replica there");
                        if let Err(e) = f
                            .partition
                            .reset_as_follower(following, pd.log_start_offset)
                        {
                            tracing::error!(topic = %key.0, partition = key.1, error = %e, "reset failed");
                        }
                    } else if pd.high_watermark >= 0 && end > pd.high_watermark {
                        // Ahead of the leader: the divergence check decides what to cut; with
                        // no epoch information, the leader's high watermark is the bound.
                        f.truncated = false;
                        if latest.is_none() {
                            let _ = f
                                .partition
                                .truncate_as_follower(following, pd.high_watermark);
                        }
                    }
                    f.paused_until = Some(Instant::now() + Duration::from_millis(50));
                }
                Some(code) => {
                    tracing::debug!(topic = %key.0, partition = key.1, error = ?code, "leader refused the fetch of a partition; waiting for metadata");
                    f.paused_until = Some(Instant::now() + Duration::from_millis(200));
                }
            }
        }
    }
    // Only the throttled partitions pause; the in-sync ones keep fetching.
    if let Some(rate) = cluster.follower_throttled_rate
        && throttled_bytes > 0
    {
        let until = Instant::now() + throttle_delay(throttled_bytes, rate);
        for key in throttled_keys {
            if let Some(f) = followed.get_mut(&key) {
                f.paused_until = Some(until);
            }
        }
    }
    Ok(())
}

/// How long to pause after fetching `bytes` for throttled replicas to stay at `rate` bytes/s.
fn throttle_delay(bytes: u64, rate: u64) -> Duration {
    Duration::from_secs_f64(bytes as f64 / rate.max(1) as f64)
}

/// The first and last offsets of the whole batches in `records` (for logs).
fn offset_range(records: &[u8]) -> (Option<i64>, Option<i64>) {
    use crate::log::batch::{BatchHeader, HEADER_SIZE};
    let (mut first, mut last, mut pos) = (None, None, 0);
    while pos + HEADER_SIZE <= records.len() {
        let Ok(h) = BatchHeader::parse(&records[pos..]) else {
            break;
        };
        if h.batch_length <= 0 {
            break;
        }
        first.get_or_insert(h.base_offset);
        last = Some(h.last_offset());
        pos = pos.saturating_add(h.total_size());
    }
    (first, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_keeps_the_rate() {
        assert_eq!(throttle_delay(1_048_576, 1_048_576), Duration::from_secs(1));
        assert_eq!(
            throttle_delay(512 * 1024, 1_048_576),
            Duration::from_millis(500)
        );
        // A zero rate is treated as 1 byte/s rather than dividing by zero.
        assert_eq!(throttle_delay(3, 0), Duration::from_secs(3));
    }
}
