//! The `__transaction_state` record format, Kafka's own (`TransactionLogKey` v0 and
//! `TransactionLogValue` v0): the key is the transactional id, the value the whole metadata,
//! a tombstone forgets an expired id. The topic is compacted, so the latest record per id is
//! the state.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::state::{TxnMetadata, TxnStatus};

/// Why a record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// Too short or inconsistent.
    #[error("truncated or malformed __transaction_state record")]
    Malformed,
    /// A key version this broker does not know.
    #[error("unknown __transaction_state key version {0}")]
    UnknownKeyVersion(i16),
    /// A value version this broker does not know.
    #[error("unknown __transaction_state value version {0}")]
    UnknownValueVersion(i16),
}

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(i16::try_from(s.len()).unwrap_or(i16::MAX));
    buf.put_slice(&s.as_bytes()[..s.len().min(i16::MAX as usize)]);
}

fn get_string(buf: &mut Bytes) -> Result<String, CodecError> {
    if buf.remaining() < 2 {
        return Err(CodecError::Malformed);
    }
    let len = usize::try_from(buf.get_i16()).map_err(|_| CodecError::Malformed)?;
    if buf.remaining() < len {
        return Err(CodecError::Malformed);
    }
    String::from_utf8(buf.split_to(len).to_vec()).map_err(|_| CodecError::Malformed)
}

/// The record key of `transactional_id`.
pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + transactional_id.len());
    buf.put_i16(0);
    put_string(&mut buf, transactional_id);
    buf.freeze()
}

/// The record value of `m`.
pub fn encode_value(m: &TxnMetadata) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(0);
    buf.put_i64(m.producer_id);
    buf.put_i16(m.producer_epoch);
    buf.put_i32(m.timeout_ms);
    buf.put_i8(m.status.code());
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for (topic, partition) in &m.partitions {
        match topics.last_mut() {
            Some((t, ps)) if *t == topic.as_str() => ps.push(*partition),
            _ => topics.push((topic, vec![*partition])),
        }
    }
    buf.put_i32(topics.len() as i32);
    for (topic, partitions) in topics {
        put_string(&mut buf, topic);
        buf.put_i32(partitions.len() as i32);
        for p in partitions {
            buf.put_i32(p);
        }
    }
    buf.put_i64(m.last_update_ms);
    buf.put_i64(m.start_ms);
    buf.freeze()
}

/// A decoded record: the id and its metadata, or `None` for a tombstone.
pub fn decode(
    key: &Bytes,
    value: Option<&Bytes>,
) -> Result<(String, Option<TxnMetadata>), CodecError> {
    let mut k = key.clone();
    if k.remaining() < 2 {
        return Err(CodecError::Malformed);
    }
    let version = k.get_i16();
    if version != 0 {
        return Err(CodecError::UnknownKeyVersion(version));
    }
    let id = get_string(&mut k)?;
    let Some(value) = value else {
        return Ok((id, None));
    };
    let mut v = value.clone();
    let need = |v: &Bytes, n: usize| {
        if v.remaining() < n {
            Err(CodecError::Malformed)
        } else {
            Ok(())
        }
    };
    need(&v, 2)?;
    let version = v.get_i16();
    if version != 0 {
        return Err(CodecError::UnknownValueVersion(version));
    }
    need(&v, 8 + 2 + 4 + 1 + 4)?;
    let producer_id = v.get_i64();
    let producer_epoch = v.get_i16();
    let timeout_ms = v.get_i32();
    let status = TxnStatus::from_code(v.get_i8()).ok_or(CodecError::Malformed)?;
    let topics = v.get_i32();
    let mut partitions = BTreeSet::new();
    for _ in 0..topics.max(0) {
        let topic = get_string(&mut v)?;
        need(&v, 4)?;
        let n = v.get_i32();
        for _ in 0..n.max(0) {
            need(&v, 4)?;
            partitions.insert((topic.clone(), v.get_i32()));
        }
    }
    need(&v, 16)?;
    let last_update_ms = v.get_i64();
    let start_ms = v.get_i64();
    Ok((
        id.clone(),
        Some(TxnMetadata {
            transactional_id: id,
            producer_id,
            producer_epoch,
            timeout_ms,
            status,
            partitions,
            start_ms,
            last_update_ms,
        }),
    ))
}

/// Kafka's partition of a transactional id: `abs(hashCode) % partitions`, as for groups.
pub fn partition_for(transactional_id: &str, partitions: usize) -> usize {
    crate::group::codec::partition_for_group(transactional_id, partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TxnMetadata {
        TxnMetadata {
            transactional_id: "orders-tx".into(),
            producer_id: 4001,
            producer_epoch: 3,
            timeout_ms: 60_000,
            status: TxnStatus::Ongoing,
            partitions: [
                ("a".to_string(), 0),
                ("a".to_string(), 2),
                ("b".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            start_ms: 1_700_000_000_000,
            last_update_ms: 1_700_000_000_500,
        }
    }

    #[test]
    fn records_round_trip() {
        let m = sample();
        let (id, decoded) =
            decode(&encode_key(&m.transactional_id), Some(&encode_value(&m))).expect("decodes");
        assert_eq!(id, "orders-tx");
        assert_eq!(decoded, Some(m));
        assert_eq!(
            decode(&encode_key("gone"), None).expect("tombstone"),
            ("gone".to_string(), None)
        );
    }

    #[test]
    fn the_value_layout_is_kafkas() {
        let v = encode_value(&sample());
        // version, producer id, epoch, timeout, status
        assert_eq!(&v[..2], &[0, 0]);
        assert_eq!(&v[2..10], &4001i64.to_be_bytes());
        assert_eq!(&v[10..12], &3i16.to_be_bytes());
        assert_eq!(&v[12..16], &60_000i32.to_be_bytes());
        assert_eq!(v[16], 1);
        // two topics
        assert_eq!(&v[17..21], &2i32.to_be_bytes());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let key = encode_key("orders-tx");
        let value = encode_value(&sample());
        for cut in 0..value.len() {
            assert!(
                decode(&key, Some(&value.slice(..cut))).is_err(),
                "cut {cut}"
            );
        }
        for cut in 0..key.len() {
            assert!(decode(&key.slice(..cut), None).is_err(), "cut {cut}");
        }
    }
}
