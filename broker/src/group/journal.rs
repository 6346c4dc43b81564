//! Durable side of committed offsets: appends [`OffsetsRecord`]s to the group's partition of
//! `__consumer_offsets` and replays every partition at start-up.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::codec::{self, OffsetsRecord};
use super::offsets::OffsetStore;
use crate::broker::{ApiError, Partition};
use crate::error::Result;

/// How much one replay read asks for.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// The partitions of `__consumer_offsets`, each with a write lock that orders appends and
/// the in-memory updates that follow them.
#[derive(Debug)]
pub(crate) struct OffsetsJournal {
    partitions: Vec<(Arc<Partition>, Mutex<()>)>,
}

/// Exclusive right to write one group's offsets partition; held from validation through
/// append to the in-memory update, so memory and log agree on the order of commits.
pub(crate) struct JournalGuard<'a> {
    partition: &'a Partition,
    _lock: MutexGuard<'a, ()>,
}

impl OffsetsJournal {
    pub(crate) fn new(partitions: Vec<Arc<Partition>>) -> Self {
        OffsetsJournal {
            partitions: partitions
                .into_iter()
                .map(|p| (p, Mutex::new(())))
                .collect(),
        }
    }

    /// Locks the partition holding `group`'s offsets; `None` when the topic has no
    /// partitions (the coordinator is then unavailable).
    pub(crate) fn lock_group(&self, group: &str) -> Option<JournalGuard<'_>> {
        if self.partitions.is_empty() {
            return None;
        }
        let (partition, lock) =
            &self.partitions[codec::partition_for_group(group, self.partitions.len())];
        Some(JournalGuard {
            partition,
            _lock: lock.lock().unwrap_or_else(|p| p.into_inner()),
        })
    }

    /// Replays every partition from its log start into `store`. Records that cannot be
    /// decoded are logged and skipped; an unreadable or corrupt log is an error.
    pub(crate) fn replay(&self, store: &mut OffsetStore) -> Result<usize> {
        let mut applied = 0;
        for (partition, _) in &self.partitions {
            applied += replay_log(partition.as_ref(), REPLAY_READ_BYTES, store)?;
        }
        Ok(applied)
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

    fn bounds(&self) -> (i64, i64) {
        self.offsets()
    }

    fn read_batches(&self, offset: i64, max_bytes: usize) -> Result<Bytes> {
        self.read(offset, max_bytes, true)
            .map(|(bytes, _, _)| bytes)
    }
}

/// Applies every record of one log to `store`; returns how many were applied.
pub(crate) fn replay_log(
    source: &impl ReplaySource,
    read_bytes: usize,
    store: &mut OffsetStore,
) -> Result<usize> {
    let mut applied = 0;
    let (high_watermark, log_start) = source.bounds();
    let mut offset = log_start;
    while offset < high_watermark {
        let bytes = source.read_batches(offset, read_bytes)?;
        let (records, next) = codec::decode_batches(&bytes)?;
        for (key, value) in records {
            match codec::decode_record(&key, value.as_deref()) {
                Ok(Some(record)) => {
                    store.apply(record);
                    applied += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(partition = source.index(), offset, error = %e, "skipping unreadable __consumer_offsets record")
                }
            }
        }
        match next {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
    }
    Ok(applied)
}

impl JournalGuard<'_> {
    /// Appends `records` as one batch; returns once the log accepted it. Failures map to
    /// the codes Kafka gives OffsetCommit for them.
    pub(crate) fn append(
        &self,
        records: &[OffsetsRecord],
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes = codec::encode_batch(records, now_ms).map_err(|e| {
            tracing::error!(error = %e, "failed to encode offsets");
            ResponseError::UnknownServerError
        })?;
        self.partition.append_records(&bytes, usize::MAX, now_ms).map(|_| ()).map_err(|e: ApiError| {
            tracing::warn!(partition = self.partition.index, error = %e.message, "failed to append to __consumer_offsets");
            match e.code {
                ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge => ResponseError::InvalidCommitOffsetSize,
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
}
