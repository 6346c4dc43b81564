//! Transaction coordinator: transactional ids, producer epochs and fencing, and the two-phase
//! end of a transaction (a Prepare state made durable, then COMMIT or ABORT markers written to
//! every partition of the transaction, then the Complete state).
//!
//! # Layout
//!
//! - [`state`]: one id's metadata and every transition, as pure functions.
//! - [`codec`]: the `__transaction_state` record format (Kafka's).
//! - this module: the shell. A transactional id is coordinated by the leader of its
//!   `__transaction_state` partition (`abs(hashCode(id)) % partitions`, as Kafka); that broker
//!   replays the partition when it becomes leader ([`TxnCoordinator::load_partition`]) and
//!   resumes the markers of every transaction left in a Prepare state.
//!
//! # Durability
//!
//! Each transition is appended to the id's partition under the partition's lock (so log and
//! memory agree on the order) and answered once the high watermark passed it. An EndTxn is
//! answered when its Prepare state is durable; the markers follow in the background, and every
//! other request of that id gets CONCURRENT_TRANSACTIONS until the Complete state is written
//! (the client retries). Markers go to each partition's leader: appended here when this broker
//! leads it, else sent with WriteTxnMarkers; each is acknowledged only once replicated.
//! `__consumer_offsets` markers also publish (or drop) the offsets a TxnOffsetCommit wrote.

pub mod codec;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use self::state::{EndDecision, InitDecision, TxnMetadata, TxnStatus};
use crate::broker::{Broker, OFFSETS_TOPIC, Partition};
use crate::error::Result;
use crate::log::batch::ControlMarker;

/// The internal topic holding transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// How much one replay read asks for.
const REPLAY_READ_BYTES: usize = 1 << 20;
/// How long a write waits for the in-sync replicas.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause between marker retries.
const MARKER_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long EndTxn (and a fencing InitProducerId) waits for the markers before answering. The
/// decision is durable either way; waiting spares the client a CONCURRENT_TRANSACTIONS on its
/// next request, which librdkafka retries only after `retry.backoff.ms` (100 ms).
const MARKER_WAIT: Duration = Duration::from_secs(5);

/// One `__transaction_state` partition this broker leads, and the ids it coordinates.
#[derive(Debug)]
pub struct TxnPartition {
    partition: Arc<Partition>,
    /// The leader epoch this broker loaded the partition at: markers carry it.
    coordinator_epoch: i32,
    txns: Mutex<BTreeMap<String, TxnMetadata>>,
}

impl TxnPartition {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, TxnMetadata>> {
        self.txns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one record (a tombstone when `value` is `None`); returns the offset after it.
    fn append(
        &self,
        id: &str,
        value: Option<&TxnMetadata>,
        now_ms: i64,
    ) -> Result<i64, ResponseError> {
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: now_ms,
            key: Some(codec::encode_key(id)),
            value: value.map(codec::encode_value),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            [&record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| {
            tracing::error!(error = %e, "failed to encode a __transaction_state record");
            ResponseError::UnknownServerError
        })?;
        self.partition
            .append_as_leader(&buf, usize::MAX, -1, 1, now_ms)
            .map(|o| o.end_offset)
            .map_err(|e| {
                tracing::warn!(partition = self.partition.index, error = %e.message, "failed to append to __transaction_state");
                match e.code {
                    ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
                    _ => ResponseError::CoordinatorNotAvailable,
                }
            })
    }

    /// Waits until a write is on every in-sync replica.
    async fn replicated(&self, end_offset: i64) -> Result<(), ResponseError> {
        self.partition
            .wait_replicated(end_offset, WRITE_TIMEOUT)
            .await
            .map_err(|e| match e.code {
                ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
                _ => ResponseError::CoordinatorNotAvailable,
            })
    }
}

/// The transaction coordinator of this broker.
#[derive(Debug, Default)]
pub struct TxnCoordinator {
    partitions: RwLock<BTreeMap<i32, Arc<TxnPartition>>>,
    count: AtomicUsize,
}

impl TxnCoordinator {
    /// This broker now leads `partition` of `__transaction_state` (of `count`): replays it.
    /// Returns the transactions left in a Prepare state, whose markers must be resumed.
    pub fn load_partition(
        &self,
        partition: Arc<Partition>,
        count: usize,
    ) -> Vec<(Arc<TxnPartition>, TxnMetadata)> {
        let index = partition.index;
        let coordinator_epoch = partition.replica().leader_epoch;
        let txns = match replay(&partition) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(partition = index, error = %e, "failed to load __transaction_state; its transactional ids stay unavailable");
                return Vec::new();
            }
        };
        let preparing: Vec<TxnMetadata> = txns
            .values()
            .filter(|m| m.status.is_preparing())
            .cloned()
            .collect();
        tracing::info!(
            partition = index,
            transactional_ids = txns.len(),
            resuming = preparing.len(),
            "coordinating the transactions of __transaction_state partition"
        );
        let tp = Arc::new(TxnPartition {
            partition,
            coordinator_epoch,
            txns: Mutex::new(txns),
        });
        self.count.store(count, Ordering::Release);
        self.partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(index, tp.clone());
        preparing.into_iter().map(|m| (tp.clone(), m)).collect()
    }

    /// This broker no longer leads partition `index`: its ids are forgotten here.
    pub fn unload_partition(&self, index: i32) {
        if self
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&index)
            .is_some()
        {
            tracing::info!(
                partition = index,
                "stopped coordinating the transactions of __transaction_state partition"
            );
        }
    }

    /// The partition coordinating `id`, or NOT_COORDINATOR.
    fn lookup(&self, id: &str) -> Result<Arc<TxnPartition>, ResponseError> {
        let count = self.count.load(Ordering::Acquire);
        if count == 0 {
            return Err(ResponseError::NotCoordinator);
        }
        let index = codec::partition_for(id, count) as i32;
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&index)
            .cloned()
            .ok_or(ResponseError::NotCoordinator)
    }

    /// Whether `tp` is still what this broker coordinates with (not unloaded or reloaded).
    fn still_owns(&self, tp: &Arc<TxnPartition>) -> bool {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tp.partition.index)
            .is_some_and(|current| Arc::ptr_eq(current, tp))
    }

    /// The metadata of `id` (DescribeTransactions).
    pub fn describe(&self, id: &str) -> Result<Option<TxnMetadata>, ResponseError> {
        let tp = self.lookup(id)?;
        let found = tp
            .lock()
            .get(id)
            .filter(|m| m.status != TxnStatus::Dead)
            .cloned();
        Ok(found)
    }

    /// The partitions loaded here.
    fn loaded(&self) -> Vec<Arc<TxnPartition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Every id this broker coordinates (ListTransactions).
    pub fn list(&self) -> Vec<TxnMetadata> {
        self.loaded()
            .iter()
            .flat_map(|tp| tp.lock().values().cloned().collect::<Vec<_>>())
            .filter(|m| m.status != TxnStatus::Dead)
            .collect()
    }

    /// Whether `id`'s open transaction, here coordinated, holds `partition` for this producer
    /// (`None`: another broker coordinates it).
    pub fn holds(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
    ) -> Option<bool> {
        let tp = self.lookup(id).ok()?;
        let holds = tp
            .lock()
            .get(id)
            .is_some_and(|m| state::holds(m, producer_id, epoch, partition));
        Some(holds)
    }
}

/// Reads the latest metadata per id from a partition's local log.
fn replay(partition: &Partition) -> Result<BTreeMap<String, TxnMetadata>> {
    let mut txns = BTreeMap::new();
    let (end, start) = {
        let state = partition.lock();
        (state.log.log_end_offset(), state.log.log_start_offset())
    };
    let mut offset = start;
    while offset < end {
        let bytes = partition.lock().log.read(offset, REPLAY_READ_BYTES, true)?;
        let (records, next) = crate::group::codec::decode_batches(&bytes)?;
        for (key, value) in records {
            match codec::decode(&key, value.as_ref()) {
                Ok((id, Some(m))) => {
                    txns.insert(id, m);
                }
                Ok((id, None)) => {
                    txns.remove(&id);
                }
                Err(e) => {
                    tracing::warn!(partition = partition.index, offset, error = %e, "skipping unreadable __transaction_state record")
                }
            }
        }
        match next {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
    }
    Ok(txns)
}

fn marker_of(m: &TxnMetadata) -> ControlMarker {
    if m.status == TxnStatus::PrepareCommit {
        ControlMarker::Commit
    } else {
        ControlMarker::Abort
    }
}

impl Broker {
    /// InitProducerId with a transactional id: the producer id and epoch to use.
    pub(crate) async fn txn_init_producer_id(
        self: &Arc<Self>,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ResponseError> {
        if timeout_ms <= 0 || i64::from(timeout_ms) > self.config.transaction_max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let tp = self.txns.lookup(id)?;
        // A fresh producer id is allocated outside the lock, only when one may be needed.
        let needs_id = tp
            .lock()
            .get(id)
            .is_none_or(|m| m.status == TxnStatus::Dead || m.producer_epoch >= i16::MAX - 1);
        let fresh = if needs_id {
            Some(self.next_producer_id().await.map_err(|e| e.code)?)
        } else {
            None
        };
        let now = crate::now_ms();
        let (decision, end) = {
            let mut txns = tp.lock();
            let decision =
                state::init_producer_id(txns.get(id), id, timeout_ms, expected, now, || {
                    fresh.ok_or(ResponseError::ConcurrentTransactions)
                })?;
            let m = match &decision {
                InitDecision::Ready(m) | InitDecision::AbortFirst(m) => m,
            };
            let end = tp.append(id, Some(m), now)?;
            txns.insert(id.to_string(), m.clone());
            (decision, end)
        };
        tp.replicated(end).await?;
        match decision {
            InitDecision::Ready(m) => {
                tracing::debug!(
                    transactional_id = id,
                    producer_id = m.producer_id,
                    epoch = m.producer_epoch,
                    "transactional producer initialised"
                );
                Ok((m.producer_id, m.producer_epoch))
            }
            InitDecision::AbortFirst(m) => {
                tracing::info!(
                    transactional_id = id,
                    producer_id = m.producer_id,
                    epoch = m.producer_epoch,
                    "fencing the previous producer: aborting its open transaction"
                );
                self.metrics.transaction_ended(false);
                let markers = self.spawn_markers(tp, m);
                // Once the abort is complete the producer can have its epoch at once; if the
                // markers take longer, it retries on CONCURRENT_TRANSACTIONS.
                match tokio::time::timeout(MARKER_WAIT, markers).await {
                    Ok(Ok(true)) => {
                        Box::pin(self.txn_init_producer_id(id, timeout_ms, expected)).await
                    }
                    _ => Err(ResponseError::ConcurrentTransactions),
                }
            }
        }
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn.
    pub(crate) async fn txn_add_partitions(
        self: &Arc<Self>,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ResponseError> {
        let tp = self.txns.lookup(id)?;
        let now = crate::now_ms();
        let end = {
            let mut txns = tp.lock();
            let current = txns
                .get(id)
                .ok_or(ResponseError::InvalidProducerIdMapping)?;
            let Some(next) = state::add_partitions(current, producer_id, epoch, partitions, now)?
            else {
                return Ok(());
            };
            let end = tp.append(id, Some(&next), now)?;
            txns.insert(id.to_string(), next);
            end
        };
        tp.replicated(end).await
    }

    /// EndTxn: answered once the Prepare state is durable; the markers follow.
    pub(crate) async fn txn_end(
        self: &Arc<Self>,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), ResponseError> {
        let tp = self.txns.lookup(id)?;
        let now = crate::now_ms();
        let (prepared, end) = {
            let mut txns = tp.lock();
            let current = txns
                .get(id)
                .ok_or(ResponseError::InvalidProducerIdMapping)?;
            match state::end_txn(current, producer_id, epoch, commit, now)? {
                EndDecision::AlreadyDone => return Ok(()),
                EndDecision::Prepare(m) => {
                    let end = tp.append(id, Some(&m), now)?;
                    txns.insert(id.to_string(), m.clone());
                    (m, end)
                }
            }
        };
        tp.replicated(end).await?;
        self.metrics.transaction_ended(commit);
        let markers = self.spawn_markers(tp, prepared);
        let _ = tokio::time::timeout(MARKER_WAIT, markers).await;
        Ok(())
    }

    /// Resumes the markers of transactions a newly loaded partition left in Prepare states.
    pub(crate) fn resume_transactions(
        self: &Arc<Self>,
        preparing: Vec<(Arc<TxnPartition>, TxnMetadata)>,
    ) {
        for (tp, m) in preparing {
            drop(self.spawn_markers(tp, m));
        }
    }

    /// Writes the markers in the background; the task ends `true` once the Complete state is
    /// durable.
    fn spawn_markers(
        self: &Arc<Self>,
        tp: Arc<TxnPartition>,
        m: TxnMetadata,
    ) -> tokio::task::JoinHandle<bool> {
        let broker = self.clone();
        tokio::spawn(async move { broker.complete_transaction(tp, m).await })
    }

    /// Writes the markers of a Prepare state to every partition of the transaction, retrying
    /// until each is written (or its topic is gone, or this broker stops coordinating), then
    /// the Complete state.
    async fn complete_transaction(self: Arc<Self>, tp: Arc<TxnPartition>, m: TxnMetadata) -> bool {
        let marker = marker_of(&m);
        let id = m.transactional_id.clone();
        let mut remaining: BTreeSet<(String, i32)> = m.partitions.clone();
        let mut backoff = Duration::from_millis(20);
        while !remaining.is_empty() {
            if !self.txns.still_owns(&tp) {
                return false;
            }
            let image = self.image();
            let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            for (topic, partition) in &remaining {
                let leader = image
                    .topics
                    .get(topic)
                    .map(|t| t.partitions.get(*partition as usize).map(|p| p.leader));
                match leader {
                    // The topic or partition is gone: nothing to mark.
                    None | Some(None) => by_leader
                        .entry(i32::MIN)
                        .or_default()
                        .push((topic.clone(), *partition)),
                    Some(Some(leader)) => by_leader
                        .entry(leader)
                        .or_default()
                        .push((topic.clone(), *partition)),
                }
            }
            for (leader, partitions) in by_leader {
                let results: Vec<((String, i32), Result<(), ResponseError>)> = if leader == i32::MIN
                {
                    partitions.into_iter().map(|p| (p, Ok(()))).collect()
                } else if leader == self.node_id {
                    let mut out = Vec::new();
                    for (topic, partition) in partitions {
                        let r = self
                            .write_marker(
                                &topic,
                                partition,
                                m.producer_id,
                                m.producer_epoch,
                                marker,
                                tp.coordinator_epoch,
                            )
                            .await;
                        out.push(((topic, partition), r));
                    }
                    out
                } else if leader < 0 {
                    partitions
                        .into_iter()
                        .map(|p| (p, Err(ResponseError::LeaderNotAvailable)))
                        .collect()
                } else {
                    self.send_markers(leader, &m, marker, tp.coordinator_epoch, partitions)
                        .await
                };
                for (p, r) in results {
                    match r {
                        Ok(()) | Err(ResponseError::UnknownTopicOrPartition) => {
                            remaining.remove(&p);
                        }
                        Err(code) => {
                            tracing::debug!(transactional_id = %id, topic = %p.0, partition = p.1, error = ?code, "transaction marker not written yet; retrying");
                        }
                    }
                }
            }
            if !remaining.is_empty() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MARKER_BACKOFF_MAX);
            }
        }
        let now = crate::now_ms();
        let end = {
            let mut txns = tp.lock();
            let Some(done) = txns
                .get(&id)
                .filter(|current| **current == m)
                .and_then(|current| state::complete(current, now))
            else {
                return false;
            };
            match tp.append(&id, Some(&done), now) {
                Ok(end) => {
                    txns.insert(id.clone(), done);
                    end
                }
                Err(code) => {
                    tracing::warn!(transactional_id = %id, error = ?code, "could not write the completed state; the next coordinator resumes it");
                    return false;
                }
            }
        };
        if let Err(code) = tp.replicated(end).await {
            tracing::warn!(transactional_id = %id, error = ?code, "completed state not replicated");
            return false;
        }
        tracing::debug!(transactional_id = %id, marker = ?marker, partitions = m.partitions.len(), "transaction completed");
        true
    }

    /// Sends WriteTxnMarkers for `partitions` to broker `leader`.
    async fn send_markers(
        &self,
        leader: i32,
        m: &TxnMetadata,
        marker: ControlMarker,
        coordinator_epoch: i32,
        partitions: Vec<(String, i32)>,
    ) -> Vec<((String, i32), Result<(), ResponseError>)> {
        let failed = |partitions: Vec<(String, i32)>, code: ResponseError| {
            partitions
                .into_iter()
                .map(|p| (p, Err(code)))
                .collect::<Vec<_>>()
        };
        let Some(addr) = crate::replication::leader_addr(self, &self.image(), leader) else {
            return failed(partitions, ResponseError::LeaderNotAvailable);
        };
        let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in &partitions {
            topics.entry(t.clone()).or_default().push(*p);
        }
        let mut w = WritableTxnMarker::default();
        w.producer_id = ProducerId(m.producer_id);
        w.producer_epoch = m.producer_epoch;
        w.transaction_result = marker == ControlMarker::Commit;
        w.coordinator_epoch = coordinator_epoch;
        w.topics = topics
            .into_iter()
            .map(|(name, ps)| {
                let mut t = WritableTxnMarkerTopic::default();
                t.name = TopicName(StrBytes::from_string(name));
                t.partition_indexes = ps;
                t
            })
            .collect();
        let mut req = WriteTxnMarkersRequest::default();
        req.markers = vec![w];
        let mut conn = match self.peers.checkout(&addr).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(leader, error = %e, "cannot reach a partition leader for transaction markers");
                return failed(partitions, ResponseError::NetworkException);
            }
        };
        let version = conn
            .version_for::<WriteTxnMarkersRequest>(1..=1)
            .unwrap_or(1);
        let resp = match conn.send(&req, version).await {
            Ok(r) => r,
            Err(e) => {
                self.peers.forget(&addr);
                tracing::debug!(leader, error = %e, "WriteTxnMarkers failed");
                return failed(partitions, ResponseError::NetworkException);
            }
        };
        self.peers.checkin(conn);
        let mut out = Vec::new();
        let answered: BTreeMap<(String, i32), i16> = resp
            .markers
            .iter()
            .flat_map(|m| m.topics.iter())
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| ((t.name.to_string(), p.partition_index), p.error_code))
            })
            .collect();
        for p in partitions {
            let r = match answered.get(&p) {
                Some(0) => Ok(()),
                Some(code) => Err(ResponseError::try_from_code(*code)
                    .unwrap_or(ResponseError::UnknownServerError)),
                None => Err(ResponseError::UnknownServerError),
            };
            out.push((p, r));
        }
        out
    }

    /// Appends a marker to a partition this broker leads and waits until it is replicated;
    /// a `__consumer_offsets` marker also publishes or drops the transaction's offsets.
    pub(crate) async fn write_marker(
        self: &Arc<Self>,
        topic: &str,
        partition: i32,
        producer_id: i64,
        epoch: i16,
        marker: ControlMarker,
        coordinator_epoch: i32,
    ) -> Result<(), ResponseError> {
        let Some(p) = self.partition(topic, partition) else {
            let exists = self
                .topic(topic)
                .is_some_and(|t| partition >= 0 && partition < t.partition_count());
            return Err(if exists {
                ResponseError::NotLeaderOrFollower
            } else {
                ResponseError::UnknownTopicOrPartition
            });
        };
        let end = p
            .append_marker(
                producer_id,
                epoch,
                marker,
                coordinator_epoch,
                crate::now_ms(),
            )
            .map_err(|e| e.code)?;
        self.data_arrived.notify_waiters();
        p.wait_replicated(end, WRITE_TIMEOUT)
            .await
            .map_err(|e| e.code)?;
        if topic == OFFSETS_TOPIC {
            self.groups
                .complete_txn(partition, producer_id, marker == ControlMarker::Commit);
        }
        Ok(())
    }

    /// Aborts transactions past their timeout and forgets ids unused for
    /// `transactional.id.expiration.ms` (the server calls it every second).
    pub(crate) fn txn_tick(self: &Arc<Self>, now_ms: i64) {
        for tp in self.txns.loaded() {
            let mut aborts = Vec::new();
            {
                let mut txns = tp.lock();
                let ids: Vec<String> = txns.keys().cloned().collect();
                for id in ids {
                    let Some(m) = txns.get(&id) else { continue };
                    if let Some(aborting) = state::timed_out(m, now_ms) {
                        if tp.append(&id, Some(&aborting), now_ms).is_ok() {
                            tracing::info!(transactional_id = %id, producer_id = aborting.producer_id, timeout_ms = aborting.timeout_ms, "transaction timed out: aborting it and fencing its producer");
                            txns.insert(id.clone(), aborting.clone());
                            aborts.push(aborting);
                        }
                    } else if state::expired(m, now_ms, self.config.transactional_id_expiration_ms)
                        && tp.append(&id, None, now_ms).is_ok()
                    {
                        tracing::info!(transactional_id = %id, "transactional id expired");
                        txns.remove(&id);
                    }
                }
            }
            for m in aborts {
                self.metrics.transaction_ended(false);
                // The Prepare state is replicated before markers are sent, as for EndTxn.
                let broker = self.clone();
                let tp = tp.clone();
                tokio::spawn(async move {
                    let end = tp.partition.offsets().0.max(tp.partition.log_end().0);
                    if tp.replicated(end).await.is_ok() {
                        broker.complete_transaction(tp, m).await;
                    }
                });
            }
        }
    }
}
