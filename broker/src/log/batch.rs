//! Kafka v2 record batch headers: parsing, validation and offset stamping.
//!
//! Layout (big endian), from Kafka's `DefaultRecordBatch`:
//!
//! ```text
//! 0  baseOffset: int64            36 baseTimestamp: int64
//! 8  batchLength: int32           44 maxTimestamp: int64
//! 12 partitionLeaderEpoch: int32  52 producerId: int64
//! 16 magic: int8 (= 2)            60 producerEpoch: int16
//! 17 crc: uint32 (CRC-32C of 21..)62 baseSequence: int32
//! 21 attributes: int16            66 recordsCount: int32
//! 23 lastOffsetDelta: int32       70 records…
//! ```
//!
//! The CRC covers attributes through the end, so the broker may rewrite `baseOffset` and
//! `partitionLeaderEpoch` without touching it. Records themselves stay opaque bytes.

use crate::error::{Error, Result};

/// Size of the fixed batch header.
pub const HEADER_SIZE: usize = 61;
/// Bytes before `batchLength` ends: the offset and length prefix of every batch.
pub const LOG_OVERHEAD: usize = 12;
const CRC_START: usize = 21;

/// The fixed header of one v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (as stored; clients send 0).
    pub base_offset: i64,
    /// Bytes after the length field; the whole batch is `batch_length + 12` bytes.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: i32,
    /// Must be 2.
    pub magic: i8,
    /// CRC-32C of attributes..end.
    pub crc: u32,
    /// Compression (bits 0-2), timestamp type (bit 3), transactional (4), control (5).
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `buf` (no CRC check).
    pub fn parse(buf: &[u8]) -> Result<Self> {
        if buf.len() < HEADER_SIZE {
            return Err(Error::CorruptBatch(format!(
                "batch header needs {HEADER_SIZE} bytes, got {}",
                buf.len()
            )));
        }
        let i64_at = |o: usize| i64::from_be_bytes(buf[o..o + 8].try_into().unwrap_or([0; 8]));
        let i32_at = |o: usize| i32::from_be_bytes(buf[o..o + 4].try_into().unwrap_or([0; 4]));
        let i16_at = |o: usize| i16::from_be_bytes(buf[o..o + 2].try_into().unwrap_or([0; 2]));
        Ok(BatchHeader {
            base_offset: i64_at(0),
            batch_length: i32_at(8),
            partition_leader_epoch: i32_at(12),
            magic: buf[16] as i8,
            crc: u32::from_be_bytes(buf[17..21].try_into().unwrap_or([0; 4])),
            attributes: i16_at(21),
            last_offset_delta: i32_at(23),
            base_timestamp: i64_at(27),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
            producer_epoch: i16_at(51),
            base_sequence: i32_at(53),
            records_count: i32_at(57),
        })
    }

    /// Total bytes of this batch including the offset and length prefix.
    pub fn total_size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Whether this is a control batch (transaction marker).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Whether the batch carries idempotent-producer fields.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence of the last record, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }
}

/// Splits `records` (one or more concatenated batches, as a Produce request carries them)
/// into validated batch headers with their byte ranges. Rejects anything that is not a whole
/// number of well-formed v2 batches whose CRC-32C matches, each at most `max_batch_bytes`.
pub fn validate_batches(
    records: &[u8],
    max_batch_bytes: usize,
) -> Result<Vec<(BatchHeader, std::ops::Range<usize>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    if records.is_empty() {
        return Err(Error::CorruptBatch("no record batch in the request".into()));
    }
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() < LOG_OVERHEAD + 5 {
            return Err(Error::CorruptBatch(format!(
                "{} trailing bytes are not a batch",
                rest.len()
            )));
        }
        let magic = rest[16] as i8;
        if magic != 2 {
            return Err(Error::CorruptBatch(format!(
                "record batch magic {magic} is not supported; only v2 batches (Kafka 0.11+ clients) are"
            )));
        }
        let header = BatchHeader::parse(rest)?;
        if header.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(Error::CorruptBatch(format!(
                "batch length {} is too small",
                header.batch_length
            )));
        }
        let size = header.total_size();
        if size > max_batch_bytes {
            return Err(Error::BatchTooLarge {
                size,
                limit: max_batch_bytes,
            });
        }
        if size > rest.len() {
            return Err(Error::CorruptBatch(format!(
                "batch claims {size} bytes but only {} remain",
                rest.len()
            )));
        }
        let crc = crc32c::crc32c(&rest[CRC_START..size]);
        if crc != header.crc {
            return Err(Error::CorruptBatch(format!(
                "CRC-32C mismatch: batch says {:#010x}, computed {crc:#010x}",
                header.crc
            )));
        }
        if header.records_count < 0 || header.last_offset_delta < 0 {
            return Err(Error::CorruptBatch(
                "negative record count or offset delta".into(),
            ));
        }
        // Fewer records than offsets is a compacted batch (a follower stores the leader's).
        if header.compression() == 0
            && i64::from(header.records_count) > i64::from(header.last_offset_delta) + 1
        {
            return Err(Error::CorruptBatch(format!(
                "{} records but last offset delta {}",
                header.records_count, header.last_offset_delta
            )));
        }
        if header.compression() > 4 {
            return Err(Error::CorruptBatch(format!(
                "unknown compression codec {}",
                header.compression()
            )));
        }
        out.push((header, pos..pos + size));
        pos += size;
    }
    Ok(out)
}

/// The first record without a key in `records` (a Produce request's batches), as the batch's
/// index and the record's offset delta: a compacted topic refuses it, as Kafka does. `None`
/// when every record has a key, and when the batches do not decode (validation reports that).
pub fn first_keyless_record(records: &bytes::Bytes) -> Option<(usize, i64)> {
    let mut buf = records.clone();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).ok()?;
    sets.iter().enumerate().find_map(|(i, set)| {
        let base = set.records.first()?.offset;
        set.records
            .iter()
            .find(|r| r.key.is_none() && !r.control)
            .map(|r| (i, r.offset - base))
    })
}

/// What a transaction marker (a control batch's one record) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMarker {
    /// ABORT (control type 0): the producer's open transaction is rolled back.
    Abort,
    /// COMMIT (control type 1).
    Commit,
}

/// Control record key: version 0, then the type (Kafka's `ControlRecordType`).
const CONTROL_KEY_ABORT: [u8; 4] = [0, 0, 0, 0];
const CONTROL_KEY_COMMIT: [u8; 4] = [0, 0, 0, 1];

fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// The marker a stored control batch carries (its first record's key), or `None` when
/// `batch` is not a well-formed uncompressed control batch of a known type.
pub fn control_marker(batch: &[u8]) -> Option<ControlMarker> {
    let header = BatchHeader::parse(batch).ok()?;
    if !header.is_control() || header.compression() != 0 || header.records_count < 1 {
        return None;
    }
    let mut pos = HEADER_SIZE;
    let _length = read_varint(batch, &mut pos)?;
    pos += 1; // attributes
    let _timestamp_delta = read_varint(batch, &mut pos)?;
    let _offset_delta = read_varint(batch, &mut pos)?;
    let key_len = usize::try_from(read_varint(batch, &mut pos)?).ok()?;
    let key = batch.get(pos..pos.checked_add(key_len)?)?;
    match key.get(..4)? {
        k if k == CONTROL_KEY_ABORT => Some(ControlMarker::Abort),
        k if k == CONTROL_KEY_COMMIT => Some(ControlMarker::Commit),
        _ => None,
    }
}

/// A control batch ending `producer_id`'s transaction: one record whose key is the marker
/// type and whose value holds the coordinator epoch, transactional and control bits set, no
/// sequence (Kafka's `EndTransactionMarker`).
pub fn control_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: ControlMarker,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Result<Vec<u8>> {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let key = match marker {
        ControlMarker::Abort => CONTROL_KEY_ABORT,
        ControlMarker::Commit => CONTROL_KEY_COMMIT,
    };
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(bytes::Bytes::copy_from_slice(&key)),
        value: Some(bytes::Bytes::from(value)),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| Error::CorruptBatch(format!("failed to encode a transaction marker: {e}")))?;
    Ok(buf.to_vec())
}

/// Rewrites the base offset and leader epoch of the batch at the start of `batch` (neither is
/// covered by the CRC).
pub fn stamp(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Sets the batch's last offset delta (a compacted batch keeps its original last offset)
/// and recomputes the CRC, which covers it.
pub fn set_last_offset_delta(batch: &mut [u8], delta: i32) {
    batch[23..27].copy_from_slice(&delta.to_be_bytes());
    let end =
        i32::from_be_bytes([batch[8], batch[9], batch[10], batch[11]]) as usize + LOG_OVERHEAD;
    let crc = crc32c::crc32c(&batch[CRC_START..end]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Switches the batch to LogAppendTime with `now_ms` as its max timestamp and recomputes the
/// CRC (both fields are covered by it), as Kafka does for `message.timestamp.type=LogAppendTime`.
pub fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = i16::from_be_bytes([batch[21], batch[22]]) | 0x08;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let end =
        i32::from_be_bytes([batch[8], batch[9], batch[10], batch[11]]) as usize + LOG_OVERHEAD;
    let crc = crc32c::crc32c(&batch[CRC_START..end]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use proptest::prelude::*;

    fn batch(n: usize, value: &[u8]) -> Vec<u8> {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 7,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: 10 + i as i32,
                timestamp: 1_000 + i as i64,
                key: None,
                value: Some(bytes::Bytes::copy_from_slice(value)),
                headers: Default::default(),
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
        .expect("encode");
        buf.to_vec()
    }

    #[test]
    fn parses_what_kafka_protocol_encodes() {
        let b = batch(3, b"hello");
        let v = validate_batches(&b, 1 << 20).expect("valid");
        assert_eq!(v.len(), 1);
        let h = v[0].0;
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.producer_id, 7);
        assert_eq!(h.base_sequence, 10);
        assert_eq!(h.last_sequence(), 12);
        assert_eq!(h.max_timestamp, 1_002);
        assert_eq!(v[0].1, 0..b.len());
    }

    #[test]
    fn two_concatenated_batches_split() {
        let mut b = batch(2, b"a");
        let second = batch(1, b"bb");
        b.extend_from_slice(&second);
        let v = validate_batches(&b, 1 << 20).expect("valid");
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].1.end, b.len());
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut b = batch(2, b"payload");
        let last = b.len() - 1;
        b[last] ^= 1;
        let err = validate_batches(&b, 1 << 20).unwrap_err();
        assert!(
            matches!(err, Error::CorruptBatch(ref m) if m.contains("CRC")),
            "{err}"
        );
    }

    #[test]
    fn stamping_the_offset_keeps_the_crc_valid() {
        let mut b = batch(2, b"x");
        stamp(&mut b, 4242, 3);
        let v = validate_batches(&b, 1 << 20).expect("still valid");
        assert_eq!(v[0].0.base_offset, 4242);
        assert_eq!(v[0].0.partition_leader_epoch, 3);
        stamp_log_append_time(&mut b, 99);
        let v = validate_batches(&b, 1 << 20).expect("crc recomputed");
        assert_eq!(v[0].0.max_timestamp, 99);
        assert_eq!(v[0].0.attributes & 0x08, 0x08);
    }

    #[test]
    fn oversized_and_truncated_batches_are_refused() {
        let b = batch(5, &[0u8; 100]);
        assert!(matches!(
            validate_batches(&b, 64),
            Err(Error::BatchTooLarge { .. })
        ));
        assert!(validate_batches(&b[..b.len() - 1], 1 << 20).is_err());
        assert!(validate_batches(&[], 1 << 20).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = validate_batches(&data, 1 << 20);
        }

        #[test]
        fn any_truncation_of_a_valid_batch_is_refused(cut in 1usize..60) {
            let b = batch(2, b"hello world");
            let end = b.len().saturating_sub(cut);
            prop_assert!(validate_batches(&b[..end], 1 << 20).is_err());
        }
    }
    #[test]
    fn transaction_markers_are_valid_control_batches_that_say_what_they_decide() {
        for marker in [ControlMarker::Commit, ControlMarker::Abort] {
            let bytes = control_batch(42, 3, marker, 7, 1_000).expect("encodes");
            let batches = validate_batches(&bytes, usize::MAX).expect("valid batch");
            let (h, _) = &batches[0];
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, -1)
            );
            assert_eq!(control_marker(&bytes), Some(marker));
            // A client decoding it sees a control record with Kafka's key and value layout.
            let mut buf = bytes::Bytes::from(bytes);
            let set =
                kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).expect("decodes");
            let record = &set.records[0];
            assert!(record.control);
            assert_eq!(record.value.as_deref(), Some(&[0, 0, 0, 0, 0, 7][..]));
        }
        // A data batch is no marker, whatever its bytes.
        assert_eq!(control_marker(&batch(2, b"xy")), None);
    }

    proptest! {
        #[test]
        fn control_marker_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = control_marker(&bytes);
        }
    }
}
