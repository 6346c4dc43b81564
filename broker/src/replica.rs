//! One partition replica on this broker: its log, idempotent-producer state, and its role in
//! Kafka's ISR replication (leader or follower), behind one lock.
//!
//! As leader it validates and appends produced batches (stamped with its leader epoch),
//! tracks how far each follower has fetched, advances the high watermark to the smallest
//! log end offset of the ISR, and proposes ISR changes: a follower caught up with the high
//! watermark joins, one that has not caught up for `replica.lag.time.max.ms` leaves (the
//! decisions are the pure functions at the bottom). As follower it appends what its leader
//! sends, offsets unchanged, and takes the leader's high watermark — but only an answer to a
//! fetch it still stands behind (same leader, same leader epoch, log still ending at the
//! fetch offset), and truncates only on its current leader's word (KIP-101/279, the pure
//! [`truncation`]): a late answer from a deposed leader would otherwise cut or extend the
//! log under the new leader's feet.
//!
//! Consumers read up to the high watermark; followers up to the log end. Waiters (acks=all
//! produces, long polls) watch [`Progress`].

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use uuid::Uuid;

use crate::broker::ApiError;
use crate::cluster::controller::IsrChange;
use crate::cluster::records::{NO_LEADER, PartitionRecord};
use crate::error::Result;
use crate::log::batch::{self, BatchHeader};
use crate::log::epochs::LeaderEpochCache;
use crate::log::{AppendInfo, PartitionLog};
use crate::producer::{AbortedTxn, ProducerStateTable, SequenceCheck};

/// A leader's view of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The offset the follower last fetched from: it has everything before it. -1 until it
    /// fetches from this leader.
    pub log_end_offset: i64,
    /// When the follower was last caught up with the leader's log end.
    pub last_caught_up_ms: i64,
    /// When it last fetched.
    pub last_fetch_ms: i64,
    /// The leader's log end offset at that fetch.
    pub leader_end_at_last_fetch: i64,
}

/// Replication state of this replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    /// This broker.
    pub node_id: i32,
    /// The partition's leader, or [`NO_LEADER`].
    pub leader: i32,
    /// Current leader epoch.
    pub leader_epoch: i32,
    /// Partition epoch of the record this state follows.
    pub partition_epoch: i32,
    /// Replica brokers.
    pub replicas: Vec<i32>,
    /// In-sync replicas as the controller last confirmed them.
    pub isr: Vec<i32>,
    /// ISR change proposed to the controller and not confirmed yet (leader only).
    pub pending_isr: Option<Vec<i32>>,
    /// Everything below it is on every ISR member.
    pub high_watermark: i64,
    /// Follower fetch progress (leader only).
    pub followers: BTreeMap<i32, FollowerProgress>,
}

impl ReplicaState {
    fn new(node_id: i32) -> Self {
        ReplicaState {
            node_id,
            leader: NO_LEADER,
            leader_epoch: -1,
            partition_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            pending_isr: None,
            high_watermark: 0,
            followers: BTreeMap::new(),
        }
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.leader == self.node_id && self.leader != NO_LEADER
    }

    /// Whether this replica follows `following` (not leading, same leader and epoch).
    pub fn follows(&self, following: Following) -> bool {
        !self.is_leader()
            && self.leader == following.leader
            && self.leader_epoch == following.leader_epoch
    }

    /// The ISR the high watermark must respect: confirmed members plus any being added
    /// (KIP-497's "maximal ISR", so a pending expansion cannot let the HW pass them).
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut out = self.isr.clone();
        if let Some(pending) = &self.pending_isr {
            for r in pending {
                if !out.contains(r) {
                    out.push(*r);
                }
            }
        }
        out
    }
}

/// What waiters watch: the high watermark and who leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// High watermark.
    pub high_watermark: i64,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Whether this broker leads.
    pub leader: bool,
}

/// Mutable state of one partition, behind its lock.
#[derive(Debug)]
pub struct PartitionState {
    /// The partition's log.
    pub log: PartitionLog,
    /// Idempotent producer sequences.
    pub producers: ProducerStateTable,
    /// When the log was last fsynced by the `flush.ms` policy.
    pub last_flush_ms: i64,
    /// Replication role and progress.
    pub replica: ReplicaState,
}

/// One partition replica hosted by this broker.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub index: i32,
    /// Topic id (a recreated topic of the same name is another partition).
    pub topic_id: Uuid,
    state: Mutex<PartitionState>,
    progress: watch::Sender<Progress>,
}

/// The result of appending one Produce request's records to a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceOutcome {
    /// Offset of the first record appended (or of the original batch for a duplicate).
    pub base_offset: i64,
    /// Offset after the last record appended: acks=all waits for the high watermark to
    /// reach it.
    pub end_offset: i64,
    /// LogAppendTime stamp or -1.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Records appended: 0 for a duplicate of an idempotent retry (metering counts it once).
    pub appended_records: i64,
}

/// A leader a follower replicates from, in one leader epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Following {
    /// The leader's node id.
    pub leader: i32,
    /// The leader epoch the fetcher follows it in.
    pub leader_epoch: i32,
}

/// What a follower's fetch asked: its answer applies only while both still hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    /// Whom it was sent to, in which epoch.
    pub following: Following,
    /// The log end offset it fetched from.
    pub fetch_offset: i64,
}

/// What [`Partition::append_as_follower`] did with a leader's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerAppend {
    /// Its records (if any) were appended.
    Appended,
    /// Nothing: the replica no longer follows that leader in that epoch, or its log end moved
    /// since the fetch was sent (to `log_end`).
    Stale {
        /// The log end offset now.
        log_end: i64,
    },
    /// The leader's first batch holds the fetch offset but starts before it: the logs diverge
    /// inside it, and the log was truncated to `to` (fetching resumes there).
    Diverged {
        /// The new log end offset.
        to: i64,
    },
}

/// What a consumer or follower read returns.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole stored batches.
    pub records: Bytes,
    /// High watermark at the read.
    pub high_watermark: i64,
    /// Log start offset at the read.
    pub log_start_offset: i64,
    /// Log end offset at the read.
    pub log_end_offset: i64,
    /// Whether this read (a follower's) moved the high watermark.
    pub advanced: bool,
    /// Last stable offset: below it every transaction is decided.
    pub last_stable_offset: i64,
    /// Aborted transactions overlapping a `read_committed` read (empty otherwise).
    pub aborted: Vec<AbortedTxn>,
}

/// Which records a consumer may see (Fetch and ListOffsets `isolation_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything below the high watermark.
    ReadUncommitted,
    /// Only below the last stable offset, with the aborted transactions to drop.
    ReadCommitted,
}

impl Isolation {
    /// From the protocol's `isolation_level` (1 = read_committed).
    pub fn from_level(level: i8) -> Self {
        if level == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

/// The markers of the control batches among `batches` (split from `records`).
fn with_markers(
    records: &[u8],
    batches: &[(BatchHeader, std::ops::Range<usize>)],
) -> Vec<Option<batch::ControlMarker>> {
    batches
        .iter()
        .map(|(h, range)| {
            h.is_control()
                .then(|| batch::control_marker(&records[range.clone()]))
                .flatten()
        })
        .collect()
}

impl PartitionState {
    /// Last stable offset: the high watermark, or the first offset of the oldest open
    /// transaction when that is lower.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.replica.high_watermark;
        self.producers
            .first_unstable_offset()
            .map_or(hw, |first| first.min(hw))
    }
}

fn not_leader(topic: &str, index: i32) -> ApiError {
    ApiError::new(
        ResponseError::NotLeaderOrFollower,
        format!("this broker does not lead {topic}-{index}; refresh metadata"),
    )
}

impl Partition {
    /// A replica over an opened log; it leads nothing until [`Partition::apply_record`].
    pub fn new(
        topic: &str,
        index: i32,
        topic_id: Uuid,
        node_id: i32,
        log: PartitionLog,
    ) -> Result<Self> {
        let batches = log.producer_batches(log.log_start_offset())?;
        let producers = ProducerStateTable::rebuild(batches.iter());
        let (progress, _) = watch::channel(Progress {
            high_watermark: 0,
            leader_epoch: -1,
            leader: false,
        });
        Ok(Partition {
            topic: topic.to_string(),
            index,
            topic_id,
            state: Mutex::new(PartitionState {
                log,
                producers,
                last_flush_ms: crate::now_ms(),
                replica: ReplicaState::new(node_id),
            }),
            progress,
        })
    }

    /// Locks the partition state. A poisoned lock (a panic while held) is taken over: the log
    /// itself never holds half-applied state between calls.
    pub fn lock(&self) -> MutexGuard<'_, PartitionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows the high watermark and leadership.
    pub fn watch(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    fn publish(&self, replica: &ReplicaState) {
        let next = Progress {
            high_watermark: replica.high_watermark,
            leader_epoch: replica.leader_epoch,
            leader: replica.is_leader(),
        };
        self.progress.send_if_modified(|p| {
            let changed = *p != next;
            *p = next;
            changed
        });
    }

    /// Applies the partition's record from the metadata image: becomes leader or follower
    /// when the leader epoch is new, takes a new ISR otherwise. Returns whether this broker
    /// became a follower of a (new) leader, so the caller (re)starts fetching.
    pub fn apply_record(&self, record: &PartitionRecord, now_ms: i64) -> Result<RoleChange> {
        let mut state = self.lock();
        let PartitionState { log, replica, .. } = &mut *state;
        if record.leader_epoch < replica.leader_epoch
            || (record.leader_epoch == replica.leader_epoch
                && record.partition_epoch <= replica.partition_epoch)
        {
            return Ok(RoleChange::None);
        }
        let new_epoch = record.leader_epoch != replica.leader_epoch;
        replica.replicas = record.replicas.clone();
        replica.isr = record.isr.clone();
        replica.partition_epoch = record.partition_epoch;
        replica.pending_isr = None;
        let change = if new_epoch {
            replica.leader_epoch = record.leader_epoch;
            replica.leader = record.leader;
            replica.followers.clear();
            if replica.is_leader() {
                log.start_epoch(record.leader_epoch)?;
                let leader_end = log.log_end_offset();
                for r in &record.replicas {
                    if *r != replica.node_id {
                        replica.followers.insert(
                            *r,
                            FollowerProgress {
                                log_end_offset: -1,
                                last_caught_up_ms: now_ms,
                                last_fetch_ms: now_ms,
                                leader_end_at_last_fetch: leader_end,
                            },
                        );
                    }
                }
                tracing::info!(topic = %self.topic, partition = self.index, leader_epoch = record.leader_epoch, isr = ?record.isr, "became leader");
                RoleChange::Leader
            } else if record.leader == NO_LEADER {
                tracing::info!(topic = %self.topic, partition = self.index, leader_epoch = record.leader_epoch, "partition has no leader");
                RoleChange::Offline
            } else {
                tracing::info!(topic = %self.topic, partition = self.index, leader = record.leader, leader_epoch = record.leader_epoch, "became follower");
                RoleChange::Follower {
                    leader: record.leader,
                    leader_epoch: record.leader_epoch,
                }
            }
        } else {
            RoleChange::None
        };
        if replica.is_leader() {
            for r in &record.replicas {
                if *r != replica.node_id && !replica.followers.contains_key(r) {
                    replica.followers.insert(
                        *r,
                        FollowerProgress {
                            log_end_offset: -1,
                            last_caught_up_ms: now_ms,
                            last_fetch_ms: now_ms,
                            leader_end_at_last_fetch: log.log_end_offset(),
                        },
                    );
                }
            }
            replica.followers.retain(|r, _| record.replicas.contains(r));
            replica.high_watermark = high_watermark(replica, log.log_end_offset());
        } else {
            replica.high_watermark = replica.high_watermark.min(log.log_end_offset());
        }
        self.publish(replica);
        Ok(change)
    }

    /// Appends the records of a Produce request as leader: validates every batch
    /// (CRC-32C, magic, sizes), checks idempotent sequences, appends stamped with the leader
    /// epoch, records producer state, and advances the high watermark when this broker is
    /// the only ISR member. With `acks == -1` the ISR must have `min_insync` members.
    pub fn append_as_leader(
        &self,
        records: &[u8],
        max_batch_bytes: usize,
        acks: i16,
        min_insync: i32,
        now_ms: i64,
    ) -> Result<ProduceOutcome, ApiError> {
        let batches = batch::validate_batches(records, max_batch_bytes)?;
        let mut state = self.lock();
        if !state.replica.is_leader() {
            return Err(not_leader(&self.topic, self.index));
        }
        if acks == -1 && (state.replica.isr.len() as i32) < min_insync {
            return Err(ApiError::new(
                ResponseError::NotEnoughReplicas,
                format!(
                    "{}-{} has {} in-sync replicas, min.insync.replicas is {min_insync}",
                    self.topic,
                    self.index,
                    state.replica.isr.len()
                ),
            ));
        }
        // Idempotent producers send exactly one batch per partition; duplicates of it are
        // answered with the original offset.
        if let [(header, _)] = batches.as_slice() {
            match state.producers.check(header) {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate { base_offset } => {
                    return Ok(ProduceOutcome {
                        base_offset,
                        end_offset: base_offset + i64::from(header.last_offset_delta) + 1,
                        log_append_time: -1,
                        log_start_offset: state.log.log_start_offset(),
                        appended_records: 0,
                    });
                }
                SequenceCheck::OutOfOrder { expected, found } => {
                    return Err(ApiError::new(
                        ResponseError::OutOfOrderSequenceNumber,
                        format!(
                            "producer {} expected sequence {expected}, got {found}",
                            header.producer_id
                        ),
                    ));
                }
                SequenceCheck::Fenced { current } => {
                    return Err(ApiError::new(
                        ResponseError::InvalidProducerEpoch,
                        format!(
                            "producer {} epoch {} is older than the current epoch {current}",
                            header.producer_id, header.producer_epoch
                        ),
                    ));
                }
            }
        } else if batches.iter().any(|(h, _)| h.has_producer_id()) {
            return Err(ApiError::new(
                ResponseError::InvalidRecord,
                "an idempotent producer must send exactly one batch per partition",
            ));
        }
        let epoch = state.replica.leader_epoch;
        let markers = with_markers(records, &batches);
        let info: AppendInfo = state.log.append(records, epoch, now_ms)?;
        let mut offset = info.base_offset;
        for ((header, _), marker) in batches.iter().zip(markers) {
            let stamped = BatchHeader {
                base_offset: offset,
                partition_leader_epoch: epoch,
                ..*header
            };
            state.producers.record(&stamped, marker);
            offset = stamped.last_offset() + 1;
        }
        let PartitionState { log, replica, .. } = &mut *state;
        replica.high_watermark = high_watermark(replica, log.log_end_offset());
        self.publish(replica);
        Ok(ProduceOutcome {
            base_offset: info.base_offset,
            end_offset: info.last_offset + 1,
            log_append_time: info.log_append_time,
            log_start_offset: info.log_start_offset,
            appended_records: info.last_offset - info.base_offset + 1,
        })
    }

    /// [`Partition::append_as_leader`] with acks=1 (the broker's own writers and tests).
    pub fn append_records(
        &self,
        records: &[u8],
        max_batch_bytes: usize,
        now_ms: i64,
    ) -> Result<ProduceOutcome, ApiError> {
        self.append_as_leader(records, max_batch_bytes, 1, 1, now_ms)
    }

    /// Waits until the high watermark reaches `end_offset` (acks=all), for at most
    /// `timeout`. Losing leadership meanwhile is NOT_LEADER_OR_FOLLOWER (the records may or
    /// may not survive: the producer retries, idempotence drops the duplicate).
    pub async fn wait_replicated(
        &self,
        end_offset: i64,
        timeout: Duration,
    ) -> Result<(), ApiError> {
        let mut rx = self.watch();
        let epoch = rx.borrow().leader_epoch;
        let wait =
            rx.wait_for(|p| p.high_watermark >= end_offset || !p.leader || p.leader_epoch != epoch);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(p)) if p.high_watermark >= end_offset && p.leader_epoch == epoch => Ok(()),
            Ok(_) => Err(not_leader(&self.topic, self.index)),
            Err(_) => Err(ApiError::new(
                ResponseError::RequestTimedOut,
                format!(
                    "{}-{}: the in-sync replicas did not confirm the records within {} ms",
                    self.topic,
                    self.index,
                    timeout.as_millis()
                ),
            )),
        }
    }

    /// A consumer's read: whole batches below the high watermark. Only the leader serves
    /// consumers.
    pub fn read_for_consumer(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        as_follower: bool,
        isolation: Isolation,
    ) -> Result<ReadResult, ApiError> {
        let state = self.lock();
        // A follower serves consumers too when asked (KIP-392 fetch from the nearest replica),
        // up to the high watermark its leader last told it.
        let serves = state.replica.is_leader() || (as_follower && state.replica.leader >= 0);
        if !serves {
            return Err(not_leader(&self.topic, self.index));
        }
        let hw = state.replica.high_watermark;
        let lso = state.last_stable_offset();
        let bound = match isolation {
            Isolation::ReadUncommitted => hw,
            Isolation::ReadCommitted => lso,
        };
        let records = state.log.read_bounded(offset, max_bytes, min_one, bound)?;
        // The aborted transactions whose records this read returns, for the consumer to drop.
        let aborted = if isolation == Isolation::ReadCommitted && !records.is_empty() {
            let end = last_offset_in(&records).map_or(offset, |last| last + 1);
            state.producers.aborted_between(offset, end)
        } else {
            Vec::new()
        };
        Ok(ReadResult {
            records,
            high_watermark: hw,
            log_start_offset: state.log.log_start_offset(),
            log_end_offset: state.log.log_end_offset(),
            advanced: false,
            last_stable_offset: lso,
            aborted,
        })
    }

    /// A follower's fetch from `fetch_offset` (it has everything before it): records its
    /// progress, advances the high watermark, and returns what it lacks up to the log end,
    /// with an ISR expansion to propose when it just caught up.
    pub fn read_for_follower(
        &self,
        follower: i32,
        fetch_offset: i64,
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<(ReadResult, Option<IsrChange>), ApiError> {
        let mut state = self.lock();
        if !state.replica.is_leader() {
            return Err(not_leader(&self.topic, self.index));
        }
        let PartitionState { log, replica, .. } = &mut *state;
        if !replica.replicas.contains(&follower) {
            return Err(ApiError::new(
                ResponseError::NotLeaderOrFollower,
                format!(
                    "broker {follower} is not a replica of {}-{}",
                    self.topic, self.index
                ),
            ));
        }
        let leo = log.log_end_offset();
        // Read first: a fetch offset outside the log (a follower ahead of this leader) is
        // OFFSET_OUT_OF_RANGE and says nothing about what the follower holds.
        let records = log.read(fetch_offset, max_bytes, true)?;
        // A follower whose log ends inside one of this leader's batches holds other records
        // before its fetch offset (it truncates when it sees the batch): no credit for them.
        let diverged = BatchHeader::parse(&records).is_ok_and(|h| h.base_offset < fetch_offset);
        if let Some(f) = replica.followers.get_mut(&follower).filter(|_| !diverged) {
            f.log_end_offset = fetch_offset;
            if fetch_offset >= leo {
                f.last_caught_up_ms = now_ms;
            } else if fetch_offset >= f.leader_end_at_last_fetch {
                f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
            }
            f.last_fetch_ms = now_ms;
            f.leader_end_at_last_fetch = leo;
        }
        let before = replica.high_watermark;
        replica.high_watermark = high_watermark(replica, leo);
        let expansion = isr_expansion(
            replica,
            log.epochs().entries().last().map_or(0, |(_, s)| *s),
            follower,
        );
        let change = expansion.map(|new_isr| {
            replica.pending_isr = Some(new_isr.clone());
            IsrChange {
                topic: self.topic.clone(),
                partition: self.index,
                leader: replica.node_id,
                leader_epoch: replica.leader_epoch,
                partition_epoch: replica.partition_epoch,
                new_isr,
            }
        });
        let result = ReadResult {
            records,
            high_watermark: replica.high_watermark,
            log_start_offset: log.log_start_offset(),
            log_end_offset: leo,
            advanced: replica.high_watermark != before,
            last_stable_offset: replica.high_watermark,
            aborted: Vec::new(),
        };
        if replica.high_watermark != before || change.is_some() {
            self.publish(replica);
        }
        Ok((result, change))
    }

    /// Appends what the leader sent in answer to the fetch `fetch` (offsets kept), records
    /// producer state, and takes the leader's high watermark and log start offset.
    ///
    /// The answer is applied only to the log it was asked for: this replica must still follow
    /// `fetch.leader` in `fetch.leader_epoch`, and its log must still end at the fetch offset.
    /// Otherwise it is [`FollowerAppend::Stale`] and nothing changes: an answer that arrives
    /// after leadership moved (a deposed leader answering a long poll late, or after a SIGSTOP)
    /// would otherwise put the old leader's records on top of what the new leader sent —
    /// leaving a hole below them that this replica's next fetch offset claims it holds.
    /// A first batch that starts before the fetch offset means the two logs diverge inside it:
    /// the log is truncated to where it starts ([`FollowerAppend::Diverged`]).
    pub fn append_as_follower(
        &self,
        records: &[u8],
        fetch: FetchPosition,
        leader_high_watermark: i64,
        leader_log_start: i64,
        now_ms: i64,
    ) -> Result<FollowerAppend> {
        let mut state = self.lock();
        let end = state.log.log_end_offset();
        if !state.replica.follows(fetch.following) || end != fetch.fetch_offset {
            return Ok(FollowerAppend::Stale { log_end: end });
        }
        // Batches wholly below the fetch offset are already here (a leader does not send
        // them, but they would be harmless); one holding it is a divergence.
        let mut from = 0;
        while from + batch::HEADER_SIZE <= records.len() {
            let h = BatchHeader::parse(&records[from..])?;
            if h.batch_length < (batch::HEADER_SIZE - batch::LOG_OVERHEAD) as i32 {
                return Err(crate::error::Error::CorruptBatch(format!(
                    "replicated batch at byte {from} has length {}",
                    h.batch_length
                )));
            }
            if h.last_offset() >= end {
                if h.base_offset < end && state.log.log_start_offset() == end {
                    // An empty log starting inside the batch (restarted at the leader's log
                    // start, which DeleteRecords may put anywhere): start it at the batch.
                    state.log.reset_to(h.base_offset)?;
                    state.producers = ProducerStateTable::default();
                } else if h.base_offset < end {
                    let to = truncate_log(&mut state, h.base_offset)?;
                    self.publish(&state.replica);
                    return Ok(FollowerAppend::Diverged { to });
                }
                break;
            }
            from += h.total_size();
        }
        let records = &records[from.min(records.len())..];
        if !records.is_empty() {
            state.log.append_replicated(records, now_ms)?;
            // The batches were split and checked by the append: their headers parse.
            let mut pos = 0;
            while pos + batch::HEADER_SIZE <= records.len() {
                let h = BatchHeader::parse(&records[pos..])?;
                let end = (pos + h.total_size()).min(records.len());
                let marker = h
                    .is_control()
                    .then(|| batch::control_marker(&records[pos..end]))
                    .flatten();
                state.producers.record(&h, marker);
                pos += h.total_size();
            }
        }
        if leader_log_start > state.log.log_start_offset()
            && leader_log_start <= state.log.log_end_offset()
        {
            state.log.delete_records_before(leader_log_start)?;
        }
        let PartitionState { log, replica, .. } = &mut *state;
        replica.high_watermark = leader_high_watermark.min(log.log_end_offset());
        self.publish(replica);
        Ok(FollowerAppend::Appended)
    }

    /// Truncates the log to `offset` (divergence from the leader `following` names); producer
    /// state is rebuilt. Leader epochs starting at or after the new log end go even when no
    /// record does (an epoch this replica led without writing), so the next divergence check
    /// asks about an older one. `None`, and nothing changes, when this replica no longer
    /// follows that leader in that epoch (the answer came too late).
    pub fn truncate_as_follower(&self, following: Following, offset: i64) -> Result<Option<i64>> {
        let mut state = self.lock();
        if !state.replica.follows(following) {
            return Ok(None);
        }
        let end = truncate_log(&mut state, offset)?;
        self.publish(&state.replica);
        Ok(Some(end))
    }

    /// Applies the leader's OffsetsForLeaderEpoch answer (see [`truncation`]) as a follower of
    /// `following`: returns the log end before, and the decision (the log now ends at or
    /// before `to`). `None`, and nothing changes, when this replica no longer follows that
    /// leader in that epoch.
    pub fn truncate_to_leader_epoch_end(
        &self,
        following: Following,
        answer: Option<(i32, i64)>,
    ) -> Result<Option<(i64, Truncation)>> {
        let mut state = self.lock();
        if !state.replica.follows(following) {
            return Ok(None);
        }
        let before = state.log.log_end_offset();
        let decision = truncation(
            answer,
            state.log.epochs(),
            before,
            state.replica.high_watermark,
        );
        if decision.to < before || !decision.done {
            truncate_log(&mut state, decision.to)?;
            self.publish(&state.replica);
        }
        Ok(Some((before, decision)))
    }

    /// Restarts an empty log at `offset` (a follower behind its leader's log start); `false`,
    /// and nothing changes, when this replica no longer follows `following`.
    pub fn reset_as_follower(&self, following: Following, offset: i64) -> Result<bool> {
        let mut state = self.lock();
        if !state.replica.follows(following) {
            return Ok(false);
        }
        state.log.reset_to(offset)?;
        state.producers = ProducerStateTable::default();
        let PartitionState { replica, .. } = &mut *state;
        replica.high_watermark = offset;
        self.publish(replica);
        Ok(true)
    }

    /// Appends a transaction marker for `producer_id` as leader (the coordinator's COMMIT or
    /// ABORT); returns the offset after it, which acks=all waits for.
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        marker: batch::ControlMarker,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<i64, ApiError> {
        let bytes = batch::control_batch(
            producer_id,
            producer_epoch,
            marker,
            coordinator_epoch,
            now_ms,
        )?;
        let outcome = self.append_as_leader(&bytes, usize::MAX, 1, 1, now_ms)?;
        Ok(outcome.end_offset)
    }

    /// Last stable offset (ListOffsets for `read_committed`).
    pub fn last_stable_offset(&self) -> i64 {
        self.lock().last_stable_offset()
    }

    /// High watermark and log start offset.
    pub fn offsets(&self) -> (i64, i64) {
        let state = self.lock();
        (state.replica.high_watermark, state.log.log_start_offset())
    }

    /// Log end offset and latest leader epoch of the local log (a follower's fetch position).
    pub fn log_end(&self) -> (i64, Option<i32>) {
        let state = self.lock();
        (
            state.log.log_end_offset(),
            state.log.epochs().latest_epoch(),
        )
    }

    /// OffsetsForLeaderEpoch on the leader.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let state = self.lock();
        state
            .log
            .epochs()
            .end_offset_for(epoch, state.log.log_end_offset())
    }

    /// An ISR shrink to propose: in-sync followers that have not caught up for `lag`.
    pub fn isr_shrink(&self, now_ms: i64, lag_ms: i64) -> Option<IsrChange> {
        let mut state = self.lock();
        let replica = &mut state.replica;
        if !replica.is_leader() || replica.pending_isr.is_some() {
            return None;
        }
        let new_isr = isr_shrink(replica, now_ms, lag_ms)?;
        replica.pending_isr = Some(new_isr.clone());
        Some(IsrChange {
            topic: self.topic.clone(),
            partition: self.index,
            leader: replica.node_id,
            leader_epoch: replica.leader_epoch,
            partition_epoch: replica.partition_epoch,
            new_isr,
        })
    }

    /// The controller refused a proposed ISR change: forget it (the next check may propose
    /// again, from the state the metadata then shows).
    pub fn clear_pending_isr(&self) {
        let mut state = self.lock();
        state.replica.pending_isr = None;
        let PartitionState { log, replica, .. } = &mut *state;
        if replica.is_leader() {
            replica.high_watermark = high_watermark(replica, log.log_end_offset());
        }
        self.publish(replica);
    }

    /// A copy of the replication state.
    pub fn replica(&self) -> ReplicaState {
        self.lock().replica.clone()
    }
}

/// Offset of the last record of the last whole batch in `records`.
fn last_offset_in(records: &[u8]) -> Option<i64> {
    let mut pos = 0;
    let mut last = None;
    while pos + batch::HEADER_SIZE <= records.len() {
        let h = BatchHeader::parse(&records[pos..]).ok()?;
        last = Some(h.last_offset());
        pos += h.total_size();
    }
    last
}

/// Truncates `state`'s log to `offset` (a batch holding it goes whole), drops leader epochs
/// that no longer hold records, rebuilds producer state and lowers the high watermark to the
/// new end; returns the new end.
fn truncate_log(state: &mut PartitionState, offset: i64) -> Result<i64> {
    let end = state.log.truncate_to(offset)?;
    state.log.drop_empty_epochs()?;
    let batches = state.log.producer_batches(state.log.log_start_offset())?;
    state.producers = ProducerStateTable::rebuild(batches.iter());
    state.replica.high_watermark = state.replica.high_watermark.min(end);
    Ok(end)
}

/// What [`Partition::apply_record`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// Role and leader unchanged.
    None,
    /// Now leads.
    Leader,
    /// Now follows `leader` in `leader_epoch`.
    Follower {
        /// The leader to fetch from.
        leader: i32,
        /// Its epoch.
        leader_epoch: i32,
    },
    /// No leader: nothing to fetch from.
    Offline,
}

/// The leader's high watermark: the smallest log end offset over the maximal ISR (the
/// leader's own included; a follower that has not fetched yet holds it where it was), never
/// below the current one and never past the leader's log end.
pub fn high_watermark(replica: &ReplicaState, leader_end: i64) -> i64 {
    let mut hw = leader_end;
    for r in replica.maximal_isr() {
        if r == replica.node_id {
            continue;
        }
        let end = replica.followers.get(&r).map_or(-1, |f| f.log_end_offset);
        hw = hw.min(if end < 0 { replica.high_watermark } else { end });
    }
    hw.max(replica.high_watermark).min(leader_end)
}

/// `fetching`, the follower whose fetch just arrived, when it is outside the ISR and has
/// every record up to the high watermark and of the current leader epoch: the ISR with it
/// added, in replica order. Only the fetching follower joins (as Kafka's maybeExpandIsr): a
/// follower that stopped fetching — shut down or fenced — may still look caught up, and the
/// controller refuses a change naming it as a whole, so proposing it with a live one kept
/// the live one out for good (and the ISR below min.insync.replicas: acks=all stalled).
pub fn isr_expansion(replica: &ReplicaState, epoch_start: i64, fetching: i32) -> Option<Vec<i32>> {
    if replica.pending_isr.is_some() {
        return None;
    }
    let joining: Vec<i32> = replica
        .followers
        .iter()
        .filter(|(r, f)| {
            **r == fetching
                && !replica.isr.contains(r)
                && f.log_end_offset >= 0
                && f.log_end_offset >= replica.high_watermark
                && f.log_end_offset >= epoch_start
        })
        .map(|(r, _)| *r)
        .collect();
    if joining.is_empty() {
        return None;
    }
    Some(
        replica
            .replicas
            .iter()
            .copied()
            .filter(|r| replica.isr.contains(r) || joining.contains(r))
            .collect(),
    )
}

/// ISR followers that have not caught up with the leader's log end for more than `lag_ms`:
/// the ISR without them.
pub fn isr_shrink(replica: &ReplicaState, now_ms: i64, lag_ms: i64) -> Option<Vec<i32>> {
    let lagging: Vec<i32> = replica
        .isr
        .iter()
        .copied()
        .filter(|r| *r != replica.node_id)
        .filter(|r| {
            replica
                .followers
                .get(r)
                .is_some_and(|f| now_ms - f.last_caught_up_ms > lag_ms)
        })
        .collect();
    if lagging.is_empty() {
        return None;
    }
    Some(
        replica
            .isr
            .iter()
            .copied()
            .filter(|r| !lagging.contains(r))
            .collect(),
    )
}

/// Where a follower cuts its log once its leader answered OffsetsForLeaderEpoch about the
/// follower's newest epoch, and whether that ends the divergence check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// The offset to truncate to (the log end itself: nothing to cut).
    pub to: i64,
    /// Whether fetching may start; if not, the check repeats, asking about the newest epoch
    /// the log keeps after this cut.
    pub done: bool,
}

/// KIP-101/279 truncation: `answer` is the leader's `(epoch, end offset)` for this
/// follower's newest epoch (the largest epoch it knows at or below it), `None` when it knows
/// no epoch at all. When the follower has the epoch the leader answered with, the logs agree
/// up to the smaller of the two end offsets of that epoch. When it does not (the leader's
/// epoch is older than the follower's newest, and the follower never saw it), everything of
/// the follower's from its first epoch after the largest one below the leader's goes, and the
/// check repeats: cutting at the leader's end offset alone would keep the follower's records
/// of an epoch the leader never had wherever they sit below that offset.
pub fn truncation(
    answer: Option<(i32, i64)>,
    ours: &LeaderEpochCache,
    log_end: i64,
    high_watermark: i64,
) -> Truncation {
    let Some((leader_epoch, leader_end)) = answer else {
        // A leader that knows no epoch: keep what was committed, as Kafka does.
        return Truncation {
            to: high_watermark.min(log_end),
            done: true,
        };
    };
    match ours.end_offset_for(leader_epoch, log_end) {
        Some((epoch, our_end)) if epoch == leader_epoch => Truncation {
            to: leader_end.min(our_end).min(log_end),
            done: true,
        },
        Some((_, our_end)) => Truncation {
            to: our_end.min(log_end),
            done: false,
        },
        None => Truncation {
            to: leader_end.min(log_end),
            done: true,
        },
    }
}

#[cfg(test)]
mod tests;
