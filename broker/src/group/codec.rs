//! The record format of the internal topic `__consumer_offsets`: Kafka's own schema, so
//! Kafka's tools can read what Fjord writes and the other way round.
//!
//! Every record is one committed offset. All integers are big endian; a `string` is an
//! `int16` length followed by that many UTF-8 bytes.
//!
//! ```text
//! key   (OffsetCommitKey, version 1):   int16 version = 1 | string group | string topic | int32 partition
//! value (OffsetCommitValue, version 3): int16 version = 3 | int64 offset | int32 leader_epoch
//!                                       | string metadata | int64 commit_timestamp
//! ```
//!
//! A record with a null value is a tombstone: the offset was deleted (OffsetDelete, or
//! DeleteGroups writes one per committed partition of the group).
//!
//! Reading also accepts key version 0 and value versions 0–2 (older Kafka); key version 2
//! (Kafka's group metadata records) is recognised and skipped, since Fjord does not persist
//! membership. Records are written as ordinary v2 record batches without compression or
//! producer id, one batch per OffsetCommit, so a commit is all-or-nothing.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::error::{Error, Result};
use crate::log::batch;

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_METADATA_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;

/// A stored record's key and (null for tombstones) value.
pub type KeyValue = (Bytes, Option<Bytes>);

/// Which committed offset a record is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OffsetKey {
    /// Group id.
    pub group: String,
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// Next offset the group will consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Client-supplied metadata ("" when none).
    pub metadata: String,
    /// When the broker accepted the commit.
    pub commit_timestamp_ms: i64,
}

/// One decoded `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    /// An offset was committed.
    Commit(OffsetKey, OffsetValue),
    /// An offset was deleted.
    Tombstone(OffsetKey),
}

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes end before the schema does.
    #[error("record is truncated")]
    Truncated,
    /// A string is not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A key schema version this broker does not know.
    #[error("unknown key version {0}")]
    UnknownKeyVersion(i16),
    /// A value schema version this broker does not know.
    #[error("unknown value version {0}")]
    UnknownValueVersion(i16),
}

/// Encodes a key.
pub fn encode_key(key: &OffsetKey) -> Bytes {
    let mut buf = BytesMut::with_capacity(10 + key.group.len() + key.topic.len());
    buf.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut buf, &key.group);
    put_string(&mut buf, &key.topic);
    buf.put_i32(key.partition);
    buf.freeze()
}

/// Encodes a value.
pub fn encode_value(value: &OffsetValue) -> Bytes {
    let mut buf = BytesMut::with_capacity(24 + value.metadata.len());
    buf.put_i16(OFFSET_VALUE_VERSION);
    buf.put_i64(value.offset);
    buf.put_i32(value.leader_epoch);
    put_string(&mut buf, &value.metadata);
    buf.put_i64(value.commit_timestamp_ms);
    buf.freeze()
}

/// Decodes a record; `Ok(None)` for record kinds Fjord skips (group metadata).
pub fn decode_record(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<Option<OffsetsRecord>, CodecError> {
    let mut k = key;
    let version = get_i16(&mut k)?;
    match version {
        0 | 1 => {}
        GROUP_METADATA_KEY_VERSION => return Ok(None),
        v => return Err(CodecError::UnknownKeyVersion(v)),
    }
    let key = OffsetKey {
        group: get_string(&mut k)?,
        topic: get_string(&mut k)?,
        partition: get_i32(&mut k)?,
    };
    let Some(mut v) = value else {
        return Ok(Some(OffsetsRecord::Tombstone(key)));
    };
    let version = get_i16(&mut v)?;
    let value = match version {
        0..=2 => {
            let offset = get_i64(&mut v)?;
            let metadata = get_string(&mut v)?;
            let commit_timestamp_ms = get_i64(&mut v)?;
            OffsetValue {
                offset,
                leader_epoch: -1,
                metadata,
                commit_timestamp_ms,
            }
        }
        3 => {
            let offset = get_i64(&mut v)?;
            let leader_epoch = get_i32(&mut v)?;
            let metadata = get_string(&mut v)?;
            let commit_timestamp_ms = get_i64(&mut v)?;
            OffsetValue {
                offset,
                leader_epoch,
                metadata,
                commit_timestamp_ms,
            }
        }
        v => return Err(CodecError::UnknownValueVersion(v)),
    };
    Ok(Some(OffsetsRecord::Commit(key, value)))
}

/// Encodes records as one v2 record batch (no compression, no producer id), ready for
/// [`crate::broker::Partition::append_records`].
pub fn encode_batch(records: &[OffsetsRecord], now_ms: i64) -> Result<Vec<u8>> {
    encode_batch_for(records, None, now_ms)
}

/// [`encode_batch`] as a transactional batch of `producer` (id, epoch), without sequence
/// numbers, as Kafka writes TxnOffsetCommit: replay and readers apply it only once a COMMIT
/// marker of that producer follows.
pub fn encode_txn_batch(
    records: &[OffsetsRecord],
    producer: (i64, i16),
    now_ms: i64,
) -> Result<Vec<u8>> {
    encode_batch_for(records, Some(producer), now_ms)
}

fn encode_batch_for(
    records: &[OffsetsRecord],
    producer: Option<(i64, i16)>,
    now_ms: i64,
) -> Result<Vec<u8>> {
    let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (key, value) = match r {
                OffsetsRecord::Commit(k, v) => (encode_key(k), Some(encode_value(v))),
                OffsetsRecord::Tombstone(k) => (encode_key(k), None),
            };
            Record {
                transactional: producer.is_some(),
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder starts a new batch whenever `offset - sequence` changes; this
                // keeps one batch whose base sequence is -1 (no idempotent producer).
                sequence: i as i32 - 1,
                timestamp: now_ms,
                key: Some(key),
                value,
                headers: Default::default(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| {
        Error::CorruptBatch(format!("failed to encode a __consumer_offsets batch: {e}"))
    })?;
    Ok(buf.to_vec())
}

/// The (key, value) pairs of every non-control record in `bytes` (whole stored batches),
/// and the offset after the last batch (`None` when `bytes` is empty).
pub fn decode_batches(bytes: &Bytes) -> Result<(Vec<KeyValue>, Option<i64>)> {
    let (entries, next_offset) = decode_entries(bytes)?;
    let records = entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Record { key, value, .. } => Some((key, value)),
            Entry::Marker { .. } => None,
        })
        .collect();
    Ok((records, next_offset))
}

/// One entry of a `__consumer_offsets` log as replay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A record; `producer` is set when it belongs to a transaction.
    Record {
        /// Record key.
        key: Bytes,
        /// Record value (`None`: tombstone).
        value: Option<Bytes>,
        /// The transactional producer that wrote it.
        producer: Option<i64>,
    },
    /// A transaction marker.
    Marker {
        /// The producer whose transaction ended.
        producer_id: i64,
        /// COMMIT (else ABORT).
        commit: bool,
    },
}

/// Every record and transaction marker in `bytes` (whole stored batches), and the offset
/// after the last batch (`None` when `bytes` is empty).
pub fn decode_entries(bytes: &Bytes) -> Result<(Vec<Entry>, Option<i64>)> {
    if bytes.is_empty() {
        return Ok((Vec::new(), None));
    }
    let batches = batch::validate_batches(bytes, usize::MAX)?;
    let mut entries = Vec::new();
    let mut next_offset = None;
    for (header, range) in batches {
        next_offset = Some(header.last_offset() + 1);
        if header.is_control() {
            if let Some(marker) = batch::control_marker(&bytes[range]) {
                entries.push(Entry::Marker {
                    producer_id: header.producer_id,
                    commit: marker == batch::ControlMarker::Commit,
                });
            }
            continue;
        }
        let producer = header.is_transactional().then_some(header.producer_id);
        let mut slice = bytes.slice(range);
        let set = RecordBatchDecoder::decode(&mut slice).map_err(|e| {
            Error::CorruptBatch(format!(
                "undecodable batch at offset {}: {e}",
                header.base_offset
            ))
        })?;
        entries.extend(set.records.into_iter().filter_map(|r| {
            Some(Entry::Record {
                key: r.key?,
                value: r.value,
                producer,
            })
        }));
    }
    Ok((entries, next_offset))
}

/// Kafka's `String.hashCode` of the group id: the offsets partition of a group is
/// `abs(hash) % partitions` (with `abs(i32::MIN) = 0`, as Kafka's `Utils.abs`).
pub fn partition_for_group(group: &str, partitions: usize) -> usize {
    let hash = group
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs as usize % partitions.max(1)
}

fn put_string(buf: &mut BytesMut, s: &str) {
    // Group ids, topic names and metadata are bounded far below i16::MAX by the handlers.
    let len = s.len().min(i16::MAX as usize);
    buf.put_i16(len as i16);
    buf.put_slice(&s.as_bytes()[..len]);
}

fn get_i16(buf: &mut &[u8]) -> Result<i16, CodecError> {
    if buf.remaining() < 2 {
        Err(CodecError::Truncated)
    } else {
        Ok(buf.get_i16())
    }
}

fn get_i32(buf: &mut &[u8]) -> Result<i32, CodecError> {
    if buf.remaining() < 4 {
        Err(CodecError::Truncated)
    } else {
        Ok(buf.get_i32())
    }
}

fn get_i64(buf: &mut &[u8]) -> Result<i64, CodecError> {
    if buf.remaining() < 8 {
        Err(CodecError::Truncated)
    } else {
        Ok(buf.get_i64())
    }
}

fn get_string(buf: &mut &[u8]) -> Result<String, CodecError> {
    let len = get_i16(buf)?;
    let len = usize::try_from(len).map_err(|_| CodecError::Truncated)?;
    if buf.remaining() < len {
        return Err(CodecError::Truncated);
    }
    let s = std::str::from_utf8(&buf[..len])
        .map_err(|_| CodecError::InvalidUtf8)?
        .to_string();
    buf.advance(len);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> OffsetKey {
        OffsetKey {
            group: "g1".into(),
            topic: "orders".into(),
            partition: 3,
        }
    }

    fn value() -> OffsetValue {
        OffsetValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn key_and_value_round_trip() {
        let r = decode_record(&encode_key(&key()), Some(&encode_value(&value()))).expect("decode");
        assert_eq!(r, Some(OffsetsRecord::Commit(key(), value())));
    }

    #[test]
    fn null_value_is_a_tombstone() {
        assert_eq!(
            decode_record(&encode_key(&key()), None),
            Ok(Some(OffsetsRecord::Tombstone(key())))
        );
    }

    #[test]
    fn key_matches_kafkas_layout() {
        let k = encode_key(&key());
        assert_eq!(
            &k[..],
            &[
                0, 1, 0, 2, b'g', b'1', 0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0, 0, 0, 3
            ]
        );
    }

    #[test]
    fn reads_value_version_1_written_by_old_kafka() {
        let mut v = BytesMut::new();
        v.put_i16(1);
        v.put_i64(9);
        put_string(&mut v, "");
        v.put_i64(100);
        v.put_i64(200); // expire timestamp, ignored
        let r = decode_record(&encode_key(&key()), Some(&v));
        let expected = OffsetValue {
            offset: 9,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 100,
        };
        assert_eq!(r, Ok(Some(OffsetsRecord::Commit(key(), expected))));
    }

    #[test]
    fn skips_group_metadata_and_rejects_garbage() {
        let mut k = BytesMut::new();
        k.put_i16(2);
        put_string(&mut k, "g1");
        assert_eq!(decode_record(&k, Some(b"whatever")), Ok(None));
        assert_eq!(
            decode_record(&[0, 9], None),
            Err(CodecError::UnknownKeyVersion(9))
        );
        assert_eq!(
            decode_record(&[0, 1, 0, 5, b'a'], None),
            Err(CodecError::Truncated)
        );
        let mut v = encode_value(&value()).to_vec();
        v.truncate(10);
        assert_eq!(
            decode_record(&encode_key(&key()), Some(&v)),
            Err(CodecError::Truncated)
        );
        assert_eq!(
            decode_record(&encode_key(&key()), Some(&[0, 4])),
            Err(CodecError::UnknownValueVersion(4))
        );
    }

    #[test]
    fn batch_round_trip_passes_broker_validation() {
        let records = vec![
            OffsetsRecord::Commit(key(), value()),
            OffsetsRecord::Tombstone(OffsetKey {
                partition: 4,
                ..key()
            }),
        ];
        let bytes = Bytes::from(encode_batch(&records, 1_000).expect("encode"));
        let headers = batch::validate_batches(&bytes, usize::MAX).expect("valid");
        assert_eq!(headers.len(), 1);
        assert!(!headers[0].0.has_producer_id());
        assert_eq!(headers[0].0.base_sequence, -1);
        assert_eq!(headers[0].0.records_count, 2);
        let (decoded, next) = decode_batches(&bytes).expect("decode");
        assert_eq!(next, Some(2));
        let back: Vec<OffsetsRecord> = decoded
            .iter()
            .filter_map(|(k, v)| decode_record(k, v.as_deref()).expect("record"))
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn partition_follows_java_string_hash_code() {
        // Java: "g1".hashCode() = 3242, "my-group".hashCode() = -1906497762, and
        // "polygenelubricants".hashCode() = Integer.MIN_VALUE (Utils.abs gives 0).
        assert_eq!(partition_for_group("g1", 50), 3242 % 50);
        assert_eq!(partition_for_group("my-group", 50), 1_906_497_762 % 50);
        assert_eq!(partition_for_group("polygenelubricants", 50), 0);
        assert_eq!(partition_for_group("", 50), 0);
        assert_eq!(partition_for_group("anything", 1), 0);
    }
}
