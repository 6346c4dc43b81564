//! Durable side of committed offsets: appends [`OffsetsRecord`]s to the group's partition of
//! `__consumer_offsets` and replays every partition at start-up.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::codec::{self, OffsetsRecord};
use super::offsets::OffsetStore;
use crate::broker::{ApiError, Partition};
use crate::error::Result;

/// The `__consumer_offsets` partitions this broker leads (and so coordinates the groups
/// of), each with a write lock that orders appends and the in-memory updates that follow
/// them.
#[derive(Debug, Default)]
pub(crate) struct OffsetsJournal {
    partitions: RwLock<BTreeMap<i32, Arc<(Arc<Partition>, Mutex<()>)>>>,
    /// Partition count of the topic (groups map to `hash % count`).
    count: AtomicUsize,
}

/// One group's offsets partition. Writers [`JournalGuard::hold`] its lock from validation
/// through append to the in-memory update, so memory and log agree on the order of commits.
pub(crate) struct JournalGuard {
    entry: Arc<(Arc<Partition>, Mutex<()>)>,
}

impl OffsetsJournal {
    /// The partition index of `group`, once the topic's size is known.
    pub(crate) fn partition_of(&self, group: &str) -> Option<i32> {
        let count = self.count.load(Ordering::Acquire);
        (count > 0).then(|| codec::partition_for_group(group, count) as i32)
    }

    /// Whether this broker coordinates `group` (leads its partition).
    pub(crate) fn owns(&self, group: &str) -> bool {
        self.partition_of(group).is_some_and(|p| {
            self.partitions
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&p)
        })
    }

    /// Starts coordinating the groups of `partition`.
    pub(crate) fn add(&self, partition: Arc<Partition>, count: usize) {
        self.count.store(count, Ordering::Release);
        self.partitions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(partition.index, Arc::new((partition, Mutex::new(()))));
    }

    /// The topic's partition count, once known.
    pub(crate) fn count(&self) -> Option<usize> {
        let count = self.count.load(Ordering::Acquire);
        (count > 0).then_some(count)
    }

    /// Stops coordinating the groups of partition `index`; returns whether it was loaded.
    pub(crate) fn remove(&self, index: i32) -> bool {
        self.partitions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&index)
            .is_some()
    }

    /// Locks the partition holding `group`'s offsets; `None` when this broker does not
    /// lead it (the client must find the coordinator again).
    pub(crate) fn lock_group(&self, group: &str) -> Option<JournalGuard> {
        let index = self.partition_of(group)?;
        let entry = self
            .partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&index)
            .cloned()?;
        Some(JournalGuard { entry })
    }
}

/// What replay needs from a partition log (a seam so the replay loop is tested without
/// the storage engine).
pub(crate) trait ReplaySource {
    /// Partition index, for logs.
    fn index(&self) -> i32;
    /// High watermark and log start offset.
    fn bounds(&self) -> (i64, i64);
    /// Whole batches from the one holding `offset`, at least one, up to `max_bytes`.
    fn read_batches(&self, offset: i64, max_bytes: usize) -> Result<Bytes>;
}

impl ReplaySource for Partition {
    fn index(&self) -> i32 {
        self.index
    }

    /// Everything in the local log: a new leader's log is what the partition now holds.
    fn bounds(&self) -> (i64, i64) {
        let state = self.lock();
        (state.log.log_end_offset(), state.log.log_start_offset())
    }

    fn read_batches(&self, offset: i64, max_bytes: usize) -> Result<Bytes> {
        self.lock().log.read(offset, max_bytes, true)
    }
}

/// Applies every record of one log to `store`; returns how many were applied.
#[cfg(test)]
pub(crate) fn replay_log(
    source: &impl ReplaySource,
    read_bytes: usize,
    store: &mut OffsetStore,
) -> Result<usize> {
    replay_log_txn(source, read_bytes, store, &mut HashMap::new())
}

/// Applies every record of one log to `store`: plain records at once, a transaction's
/// records (TxnOffsetCommit) when its COMMIT marker follows (an ABORT drops them). Those
/// still undecided at the end are left in `pending`, by producer id. Returns how many
/// records were applied.
pub(crate) fn replay_log_txn(
    source: &impl ReplaySource,
    read_bytes: usize,
    store: &mut OffsetStore,
    pending: &mut HashMap<i64, Vec<OffsetsRecord>>,
) -> Result<usize> {
    let mut applied = 0;
    let (high_watermark, log_start) = source.bounds();
    let mut offset = log_start;
    while offset < high_watermark {
        let bytes = source.read_batches(offset, read_bytes)?;
        let (entries, next) = codec::decode_entries(&bytes)?;
        for entry in entries {
            match entry {
                codec::Entry::Marker {
                    producer_id,
                    commit,
                } => {
                    let records = pending.remove(&producer_id).unwrap_or_default();
                    if commit {
                        applied += records.len();
                        for record in records {
                            store.apply(record);
                        }
                    }
                }
                codec::Entry::Record {
                    key,
                    value,
                    producer,
                } => match codec::decode_record(&key, value.as_deref()) {
                    Ok(Some(record)) => match producer {
                        Some(producer_id) => pending.entry(producer_id).or_default().push(record),
                        None => {
                            store.apply(record);
                            applied += 1;
                        }
                    },
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(partition = source.index(), offset, error = %e, "skipping unreadable __consumer_offsets record")
                    }
                },
            }
        }
        match next {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
    }
    Ok(applied)
}

impl JournalGuard {
    /// The partition written to.
    pub(crate) fn partition(&self) -> &Arc<Partition> {
        &self.entry.0
    }

    /// Exclusive right to write the partition.
    pub(crate) fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.entry.1.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`JournalGuard::append`] as a transactional batch of `producer` (TxnOffsetCommit).
    /// An older epoch of the producer than the partition has seen is PRODUCER_FENCED.
    pub(crate) fn append_txn(
        &self,
        records: &[OffsetsRecord],
        producer: (i64, i16),
        now_ms: i64,
    ) -> Result<Option<i64>, ResponseError> {
        if records.is_empty() {
            return Ok(None);
        }
        let partition = &self.entry.0;
        let bytes = codec::encode_txn_batch(records, producer, now_ms).map_err(|e| {
            tracing::error!(error = %e, "failed to encode offsets");
            ResponseError::UnknownServerError
        })?;
        partition
            .append_as_leader(&bytes, usize::MAX, 1, 1, now_ms)
            .map(|o| Some(o.end_offset))
            .map_err(|e: ApiError| match e.code {
                ResponseError::InvalidProducerEpoch => ResponseError::ProducerFenced,
                ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge => {
                    ResponseError::InvalidCommitOffsetSize
                }
                ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
                _ => ResponseError::CoordinatorNotAvailable,
            })
    }

    /// Appends `records` as one batch to the leader's log; returns the offset after it (the
    /// caller waits for the high watermark to pass it before answering, so a committed offset
    /// survives the loss of this broker). Failures map to the codes Kafka gives OffsetCommit.
    pub(crate) fn append(
        &self,
        records: &[OffsetsRecord],
        now_ms: i64,
    ) -> Result<Option<i64>, ResponseError> {
        if records.is_empty() {
            return Ok(None);
        }
        let partition = &self.entry.0;
        let bytes = codec::encode_batch(records, now_ms).map_err(|e| {
            tracing::error!(error = %e, "failed to encode offsets");
            ResponseError::UnknownServerError
        })?;
        partition
            .append_as_leader(&bytes, usize::MAX, 1, 1, now_ms)
            .map(|o| Some(o.end_offset))
            .map_err(|e: ApiError| {
                tracing::warn!(partition = partition.index, error = %e.message, "failed to append to __consumer_offsets");
                match e.code {
                    ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge => ResponseError::InvalidCommitOffsetSize,
                    ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
                    _ => ResponseError::CoordinatorNotAvailable,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::codec::{OffsetKey, OffsetValue};

    /// An in-memory log: batches stamped with consecutive offsets, as the storage engine
    /// stores them.
    struct MemoryLog {
        batches: Vec<(i64, i64, Vec<u8>)>,
        log_start: i64,
    }

    impl MemoryLog {
        fn new() -> Self {
            MemoryLog {
                batches: Vec::new(),
                log_start: 0,
            }
        }

        fn append(&mut self, records: &[OffsetsRecord]) {
            let mut bytes = codec::encode_batch(records, 1).expect("encode");
            let base = self.batches.last().map_or(0, |b| b.1 + 1);
            bytes[..8].copy_from_slice(&base.to_be_bytes());
            self.batches
                .push((base, base + records.len() as i64 - 1, bytes));
        }
    }

    impl ReplaySource for MemoryLog {
        fn index(&self) -> i32 {
            0
        }

        fn bounds(&self) -> (i64, i64) {
            (self.batches.last().map_or(0, |b| b.1 + 1), self.log_start)
        }

        fn read_batches(&self, offset: i64, max_bytes: usize) -> Result<Bytes> {
            let mut out = Vec::new();
            for (_, _, bytes) in self.batches.iter().filter(|b| b.1 >= offset) {
                if !out.is_empty() && out.len() + bytes.len() > max_bytes {
                    break;
                }
                out.extend_from_slice(bytes);
            }
            Ok(Bytes::from(out))
        }
    }

    fn commit(group: &str, partition: i32, offset: i64) -> OffsetsRecord {
        OffsetsRecord::Commit(
            OffsetKey {
                group: group.into(),
                topic: "t".into(),
                partition,
            },
            OffsetValue {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp_ms: 1,
            },
        )
    }

    fn tombstone(group: &str, partition: i32) -> OffsetsRecord {
        OffsetsRecord::Tombstone(OffsetKey {
            group: group.into(),
            topic: "t".into(),
            partition,
        })
    }

    #[test]
    fn replay_applies_every_batch_in_order_in_small_reads() {
        let mut log = MemoryLog::new();
        log.append(&[commit("a", 0, 1), commit("a", 1, 2)]);
        log.append(&[commit("b", 0, 5)]);
        log.append(&[commit("a", 0, 3), tombstone("a", 1)]);
        log.append(&[tombstone("b", 0)]);
        for read_bytes in [1, 200, 1 << 20] {
            let mut store = OffsetStore::new();
            assert_eq!(replay_log(&log, read_bytes, &mut store).expect("replay"), 6);
            assert_eq!(store.get("a", "t", 0).map(|v| v.offset), Some(3));
            assert_eq!(store.get("a", "t", 1), None);
            assert!(!store.has_group("b"));
        }
    }

    #[test]
    fn replay_starts_at_log_start_and_handles_empty_logs() {
        let mut store = OffsetStore::new();
        assert_eq!(
            replay_log(&MemoryLog::new(), 1 << 20, &mut store).expect("replay"),
            0
        );
        let mut log = MemoryLog::new();
        log.append(&[commit("a", 0, 1)]);
        log.append(&[commit("a", 0, 2)]);
        log.log_start = 1;
        log.batches.remove(0);
        assert_eq!(replay_log(&log, 1 << 20, &mut store).expect("replay"), 1);
        assert_eq!(store.get("a", "t", 0).map(|v| v.offset), Some(2));
    }

    #[test]
    fn replay_skips_records_it_cannot_read() {
        let mut log = MemoryLog::new();
        log.append(&[commit("a", 0, 1)]);
        // A record with an unknown key version, as a future Kafka might write.
        let mut bytes = codec::encode_batch(&[commit("a", 0, 9)], 1).expect("encode");
        let records =
            kafka_protocol::records::RecordBatchDecoder::decode(&mut Bytes::from(bytes.clone()))
                .expect("decode");
        let mut odd = records.records[0].clone();
        odd.key = Some(Bytes::from_static(&[0, 42]));
        let mut buf = bytes::BytesMut::new();
        kafka_protocol::records::RecordBatchEncoder::encode(
            &mut buf,
            &[odd],
            &kafka_protocol::records::RecordEncodeOptions {
                version: 2,
                compression: kafka_protocol::records::Compression::None,
            },
        )
        .expect("encode");
        bytes = buf.to_vec();
        bytes[..8].copy_from_slice(&1i64.to_be_bytes());
        log.batches.push((1, 1, bytes));
        log.append(&[commit("a", 1, 4)]);
        let mut store = OffsetStore::new();
        assert_eq!(replay_log(&log, 1 << 20, &mut store).expect("replay"), 2);
        assert_eq!(store.get("a", "t", 0).map(|v| v.offset), Some(1));
        assert_eq!(store.get("a", "t", 1).map(|v| v.offset), Some(4));
    }

    /// A real partition log, compacted by the cleaner as `__consumer_offsets` is.
    struct CompactedLog(crate::log::PartitionLog);

    impl ReplaySource for CompactedLog {
        fn index(&self) -> i32 {
            0
        }

        fn bounds(&self) -> (i64, i64) {
            (self.0.log_end_offset(), self.0.log_start_offset())
        }

        fn read_batches(&self, offset: i64, max_bytes: usize) -> Result<Bytes> {
            self.0.read(offset, max_bytes, true)
        }
    }

    #[test]
    fn replay_of_a_compacted_offsets_log_gives_the_same_offsets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = crate::config::LogConfig {
            segment_bytes: 2048,
            cleanup_policy: crate::config::CleanupPolicy::Compact,
            ..crate::config::LogConfig::default()
        };
        config.compaction.min_cleanable_dirty_ratio = 0.0;
        config.compaction.delete_retention_ms = 0;
        let mut log = crate::log::PartitionLog::open(dir.path(), config).expect("open");
        let now = crate::now_ms();
        let mut append = |records: &[OffsetsRecord]| {
            let bytes = codec::encode_batch(records, now).expect("encode");
            log.append(&bytes, 0, now).expect("append");
        };
        for i in 0..300 {
            append(&[commit("a", i % 3, i as i64), commit("b", 0, i as i64)]);
        }
        append(&[tombstone("a", 2)]);
        append(&[commit("c", 0, 7), tombstone("b", 0)]);
        for _ in 0..40 {
            append(&[commit("d", 0, 1)]);
        }
        let mut before = OffsetStore::new();
        let log_ref = CompactedLog(log);
        replay_log(&log_ref, 1 << 20, &mut before).expect("replay");
        let mut log = log_ref.0;
        let size = log.size_bytes();
        let plan = log.clean_plan(now + 1).expect("plan").expect("due");
        let cleaned = crate::log::clean(
            &plan,
            now + 1,
            1 << 20,
            &mut crate::log::Throttle::new(u64::MAX, Arc::default()),
        )
        .expect("clean");
        log.install_cleaned(cleaned)
            .expect("install")
            .expect("installed");
        assert!(
            log.size_bytes() < size / 4,
            "{} of {size} bytes left",
            log.size_bytes()
        );
        let mut after = OffsetStore::new();
        replay_log(&CompactedLog(log), 100, &mut after).expect("replay");
        for (group, partition) in [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("c", 0), ("d", 0)] {
            assert_eq!(
                after.get(group, "t", partition).map(|v| v.offset),
                before.get(group, "t", partition).map(|v| v.offset),
                "{group}-{partition}"
            );
        }
        assert_eq!(after.get("a", "t", 0).map(|v| v.offset), Some(297));
        assert_eq!(after.get("a", "t", 2), None, "deleted by its tombstone");
        assert_eq!(after.get("b", "t", 0), None);
    }
}
