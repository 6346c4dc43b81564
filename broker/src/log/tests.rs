//! Tests of the partition log: round trips across rolls, recovery, retention, indexes.

use bytes::{Buf, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as RecTs,
};
use proptest::prelude::*;

use super::*;

fn batch(values: &[&str], timestamp: i64) -> Vec<u8> {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: RecTs::Creation,
            offset: i as i64,
            // Contiguous sequences keep the encoder from splitting the batch.
            sequence: i as i32,
            timestamp,
            key: None,
            value: Some(bytes::Bytes::copy_from_slice(v.as_bytes())),
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

fn values(bytes: &Bytes) -> Vec<(i64, String)> {
    let mut buf = bytes.clone();
    let mut out = Vec::new();
    while buf.has_remaining() {
        for r in RecordBatchDecoder::decode(&mut buf)
            .expect("decode")
            .records
        {
            out.push((
                r.offset,
                String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap_or_default(),
            ));
        }
    }
    out
}

fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

fn append(log: &mut PartitionLog, values: &[&str], ts: i64) -> AppendInfo {
    let b = batch(values, ts);
    log.append(&b, 0, ts).expect("append")
}

#[test]
fn appends_roll_segments_and_read_back_from_any_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..20 {
        let info = append(&mut log, &[&format!("v{i}a"), &format!("v{i}b")], 1000 + i);
        assert_eq!(info.base_offset, i * 2);
        assert_eq!(info.last_offset, i * 2 + 1);
    }
    assert!(
        log.segment_count() > 3,
        "small segments rolled: {}",
        log.segment_count()
    );
    assert_eq!(log.log_end_offset(), 40);
    let all = values(&log.read(0, usize::MAX, true).unwrap());
    assert_eq!(all.len(), 40);
    assert_eq!(all[17], (17, "v8b".to_string()));
    // Reading from the second record of a batch returns the whole batch.
    let from_odd = values(&log.read(17, usize::MAX, true).unwrap());
    assert_eq!(from_odd[0].0, 16, "{:?}", &from_odd[..3]);
    assert_eq!(log.read(40, 100, true).unwrap().len(), 0);
    assert!(matches!(
        log.read(41, 100, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
}

#[test]
fn max_bytes_returns_whole_batches_and_min_one_returns_one_oversized_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    for i in 0..5 {
        append(&mut log, &[&format!("{i:0>50}")], 1);
    }
    let one = batch(&[&format!("{:0>50}", 0)], 1).len();
    let got = log.read(0, one * 2 + one / 2, false).unwrap();
    assert_eq!(got.len(), one * 2);
    assert_eq!(log.read(0, 10, false).unwrap().len(), 0);
    assert_eq!(log.read(0, 10, true).unwrap().len(), one);
}

#[test]
fn reopen_keeps_offsets_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..10 {
        append(&mut log, &[&format!("r{i}")], 10 + i);
    }
    let before = log.read(0, usize::MAX, true).unwrap();
    log.close().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(log.read(0, usize::MAX, true).unwrap(), before);
    assert_eq!(append(&mut log, &["next"], 99).base_offset, 10);
}

#[test]
fn a_torn_tail_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    append(&mut log, &["a"], 1);
    append(&mut log, &["b"], 2);
    log.close().unwrap();
    let seg = dir.path().join("00000000000000000000.log");
    let good_len = std::fs::metadata(&seg).unwrap().len();
    // Half of a third batch, as a crash mid-write would leave it.
    let third = batch(&["c"], 3);
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &third[..third.len() / 2]).unwrap();
    drop(f);
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), good_len);
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(append(&mut log, &["c"], 3).base_offset, 2);
    assert_eq!(values(&log.read(0, usize::MAX, true).unwrap()).len(), 3);
}

#[test]
fn a_corrupt_tail_batch_fails_its_crc_and_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    append(&mut log, &["a"], 1);
    append(&mut log, &["b"], 2);
    log.close().unwrap();
    let seg = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

#[test]
fn retention_by_time_deletes_old_segments_and_can_empty_the_partition() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 1000,
        ..small()
    };
    let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
    for i in 0..10 {
        append(&mut log, &[&format!("old{i}")], 1_000 + i);
    }
    for i in 0..10 {
        append(&mut log, &[&format!("new{i}")], 5_000 + i);
    }
    let deleted = log.enforce_retention(5_500).unwrap();
    assert!(deleted > 0);
    assert!(
        log.log_start_offset() > 0 && log.log_start_offset() <= 10,
        "{}",
        log.log_start_offset()
    );
    let left = values(&log.read(log.log_start_offset(), usize::MAX, true).unwrap());
    assert!(left.iter().all(|(o, v)| *o >= 10 || v.starts_with("old")));
    assert!(left.iter().any(|(_, v)| v == "new9"));
    log.enforce_retention(100_000).unwrap();
    assert_eq!(log.log_start_offset(), 20, "every segment expired");
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(append(&mut log, &["after"], 100_001).base_offset, 20);
}

#[test]
fn retention_by_size_keeps_the_newest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_bytes: 600,
        ..small()
    };
    let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
    for i in 0..30 {
        append(&mut log, &[&format!("s{i}")], 1);
    }
    log.enforce_retention(2).unwrap();
    assert!(log.size_bytes() <= 600 + 300, "size {}", log.size_bytes());
    assert!(log.log_start_offset() > 0);
    assert_eq!(log.log_end_offset(), 30);
}

#[test]
fn delete_records_moves_the_start_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..20 {
        append(&mut log, &[&format!("d{i}")], 1);
    }
    assert_eq!(log.delete_records_before(7).unwrap(), 7);
    assert!(matches!(
        log.read(6, 100, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.delete_records_before(21),
        Err(Error::OffsetOutOfRange { .. })
    ));
    log.close().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    assert_eq!(log.log_start_offset(), 7);
    assert_eq!(values(&log.read(7, usize::MAX, true).unwrap())[0].0, 7);
    assert_eq!(
        log.delete_records_before(-1).unwrap(),
        20,
        "-1 means the high watermark"
    );
}

#[test]
fn offsets_for_timestamps_and_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..20 {
        append(&mut log, &[&format!("t{i}")], 100 * (i + 1));
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 100)));
    assert_eq!(log.offset_for_timestamp(550).unwrap(), Some((5, 600)));
    assert_eq!(log.offset_for_timestamp(2000).unwrap(), Some((19, 2000)));
    assert_eq!(log.offset_for_timestamp(2001).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((19, 2000)));
}

#[test]
fn offset_for_timestamp_finds_the_record_inside_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let records: Vec<Record> = (0..5)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: RecTs::Creation,
            offset: i,
            sequence: i as i32,
            timestamp: 1000 + i * 100,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: Default::default(),
        })
        .collect();
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Lz4,
        Compression::Snappy,
        Compression::Zstd,
    ] {
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        let base = log.append(&buf, 0, 1).unwrap().base_offset;
        assert_eq!(
            log.offset_for_timestamp(1250).unwrap(),
            Some((base + 3, 1300)),
            "{compression:?}"
        );
        log.delete_records_before(base + 5).unwrap();
    }
}

#[test]
fn log_append_time_restamps_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
    let info = append(&mut log, &["x"], 5);
    assert_eq!(info.log_append_time, 5);
    let b = batch(&["y"], 1);
    let info = log.append(&b, 0, 777).unwrap();
    assert_eq!(info.log_append_time, 777);
    let stored = log.read(1, usize::MAX, true).unwrap();
    assert!(
        batch::validate_batches(&stored, usize::MAX).is_ok(),
        "CRC recomputed"
    );
    assert_eq!(log.max_timestamp().unwrap().map(|m| m.1), Some(777));
}

#[test]
fn index_files_are_written_on_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..10 {
        append(&mut log, &[&format!("i{i}")], 1);
    }
    log.flush().unwrap();
    let idx = std::fs::read(dir.path().join("00000000000000000000.index")).unwrap();
    assert!(!idx.is_empty() && idx.len().is_multiple_of(8));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Random appends, reads and reopens agree with a model: offsets are contiguous and a
    /// read at offset o starts with the batch holding o.
    #[test]
    fn log_matches_a_model(ops in proptest::collection::vec((1usize..5, 0u8..10), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), small()).unwrap();
        let mut model: Vec<(i64, String)> = Vec::new();
        for (n, action) in ops {
            if action == 0 {
                log.close().unwrap();
                log = PartitionLog::open(dir.path(), small()).unwrap();
                continue;
            }
            let vals: Vec<String> = (0..n).map(|i| format!("m{}-{i}", model.len())).collect();
            let refs: Vec<&str> = vals.iter().map(String::as_str).collect();
            let info = append(&mut log, &refs, 1);
            prop_assert_eq!(info.base_offset, model.len() as i64);
            for v in vals {
                model.push((model.len() as i64, v));
            }
            let probe = (model.len() as i64 * action as i64 / 10).min(model.len() as i64 - 1);
            let got = values(&log.read(probe, usize::MAX, true).unwrap());
            prop_assert!(got[0].0 <= probe);
            prop_assert_eq!(got.last().cloned(), model.last().cloned());
            prop_assert_eq!(&got[..], &model[got[0].0 as usize..]);
        }
    }
}
