//! Tests of the partition log: round trips across rolls, recovery, retention, indexes.

use bytes::{Buf, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as RecTs,
};

use super::*;
use crate::config::CleanupPolicy;

pub(super) fn batch(values: &[&str], timestamp: i64) -> Vec<u8> {
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

pub(super) fn values(bytes: &Bytes) -> Vec<(i64, String)> {
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

fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "index" || e == "timeindex")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn deleted_index_files_are_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..30 {
        append(&mut log, &[&format!("x{i}")], 100 + i);
    }
    let all = log.read(0, usize::MAX, true).unwrap();
    let by_time = log.offset_for_timestamp(117).unwrap();
    log.close().unwrap();
    let files = index_files(dir.path());
    assert!(files.len() >= 6, "{files:?}");
    let contents: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    for f in &files {
        std::fs::remove_file(f).unwrap();
    }
    let log = PartitionLog::open(dir.path(), small()).unwrap();
    assert_eq!(index_files(dir.path()), files, "every index file is back");
    let rebuilt: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(rebuilt, contents, "rebuilt byte for byte");
    assert_eq!(log.read(0, usize::MAX, true).unwrap(), all);
    assert_eq!(
        log.read(21, 1, true).unwrap(),
        log.read(21, 1, true).unwrap()
    );
    assert_eq!(log.offset_for_timestamp(117).unwrap(), by_time);
    assert_eq!(log.log_end_offset(), 30);
}

#[test]
fn garbage_index_files_are_ignored_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..30 {
        append(&mut log, &[&format!("g{i}")], 7);
    }
    let all = log.read(0, usize::MAX, true).unwrap();
    log.close().unwrap();
    let files = index_files(dir.path());
    let contents: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    for f in &files {
        std::fs::write(f, [0xabu8; 24]).unwrap();
    }
    let log = PartitionLog::open(dir.path(), small()).unwrap();
    assert_eq!(log.read(0, usize::MAX, true).unwrap(), all);
    for i in 0..30 {
        let got = values(&log.read(i, 1, true).unwrap());
        assert_eq!(got[0], (i, format!("g{i}")));
    }
    let rewritten: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(rewritten, contents);
}

#[test]
fn a_torn_tail_after_the_last_index_entry_keeps_every_indexed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
    for i in 0..10 {
        append(&mut log, &[&format!("t{i}")], 1);
    }
    log.flush().unwrap();
    append(&mut log, &["lost"], 1);
    // The process dies before the index is written again, mid-way through the last write.
    drop(log);
    let seg = dir.path().join("00000000000000000000.log");
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(
        values(&log.read(9, usize::MAX, true).unwrap()),
        vec![(9, "t9".to_string())]
    );
    assert_eq!(append(&mut log, &["again"], 1).base_offset, 10);
    assert_eq!(values(&log.read(0, usize::MAX, true).unwrap()).len(), 11);
}

#[test]
fn garbage_after_the_last_batch_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..12 {
        append(&mut log, &[&format!("z{i}")], 1);
    }
    let before = log.read(0, usize::MAX, true).unwrap();
    let segments = log.segment_count();
    log.close().unwrap();
    let active = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap();
    let len = std::fs::metadata(&active).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .unwrap();
    std::io::Write::write_all(&mut f, &[0x5a; 200]).unwrap();
    drop(f);
    let log = PartitionLog::open(dir.path(), small()).unwrap();
    assert_eq!(std::fs::metadata(&active).unwrap().len(), len);
    assert_eq!(log.segment_count(), segments);
    assert_eq!(log.read(0, usize::MAX, true).unwrap(), before);
}

#[test]
fn one_append_of_several_batches_gets_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    append(&mut log, &["first"], 1);
    let mut both = batch(&["a", "b", "c"], 2);
    both.extend_from_slice(&batch(&["d"], 3));
    let info = log.append(&both, 4, 3).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (1, 4));
    let headers = log.batch_headers(2).unwrap();
    let offsets: Vec<_> = headers
        .iter()
        .map(|h| (h.base_offset, h.last_offset()))
        .collect();
    assert_eq!(
        offsets,
        vec![(1, 3), (4, 4)],
        "batches wholly below 2 are skipped"
    );
    assert!(headers.iter().all(|h| h.partition_leader_epoch == 4));
    let stored = log.read(1, usize::MAX, true).unwrap();
    assert!(batch::validate_batches(&stored, usize::MAX).is_ok());
    assert!(matches!(
        log.append(&both[..both.len() - 1], 4, 3),
        Err(Error::CorruptBatch(_))
    ));
    assert!(matches!(log.append(&[], 4, 3), Err(Error::CorruptBatch(_))));
    assert_eq!(log.log_end_offset(), 5, "a refused append writes nothing");
}

#[test]
fn segments_roll_by_age_measured_from_their_first_append() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
    log.append(&batch(&["a"], 1), 0, 50_000).unwrap();
    log.append(&batch(&["b"], 1), 0, 50_999).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&batch(&["c"], 1), 0, 51_000).unwrap();
    assert_eq!(log.segment_count(), 2, "rolled at segment.ms");
    log.enforce_retention(51_500).unwrap();
    assert_eq!(log.segment_count(), 2, "the new segment is young");
    log.enforce_retention(52_000).unwrap();
    assert_eq!(
        log.segment_count(),
        3,
        "retention rolls an old active segment"
    );
    log.enforce_retention(90_000).unwrap();
    assert_eq!(
        log.segment_count(),
        3,
        "an empty active segment does not roll"
    );
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn time_retention_stops_at_the_first_segment_still_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 100,
        ..small()
    };
    let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
    // 90-byte batches, three to a 300-byte segment: old, fresh, old, fresh.
    assert_eq!(batch(&[&format!("{:0>22}", 0)], 1).len(), 90);
    for (i, ts) in [10, 10, 10, 500, 500, 500, 10, 10, 10, 500]
        .into_iter()
        .enumerate()
    {
        append(&mut log, &[&format!("{i:0>22}")], ts);
    }
    assert_eq!(log.segment_count(), 4);
    assert_eq!(log.enforce_retention(550).unwrap(), 1);
    let start = log.log_start_offset();
    assert_eq!(start, 3, "the old third segment waits behind a fresh one");
    assert_eq!(
        log.read(start, usize::MAX, true)
            .map(|b| values(&b).len())
            .unwrap() as i64,
        10 - start
    );
}

#[test]
fn compacted_topics_keep_expired_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 1,
        retention_bytes: 1,
        cleanup_policy: CleanupPolicy::Compact,
        ..small()
    };
    let mut log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
    for i in 0..10 {
        append(&mut log, &[&format!("k{i}")], 1);
    }
    assert_eq!(log.enforce_retention(1_000_000).unwrap(), 0);
    assert_eq!(log.log_start_offset(), 0);
    log.set_config(LogConfig {
        cleanup_policy: CleanupPolicy::CompactDelete,
        ..cfg
    });
    assert!(log.enforce_retention(1_000_000).unwrap() > 0);
    assert_eq!(log.log_start_offset(), 10);
}

#[test]
fn unlimited_retention_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: -1,
        retention_bytes: -1,
        ..small()
    };
    let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
    for i in 0..20 {
        append(&mut log, &[&format!("u{i}")], 1);
    }
    let segments = log.segment_count();
    assert_eq!(log.enforce_retention(i64::MAX / 2).unwrap(), 0);
    assert_eq!(log.log_start_offset(), 0);
    assert!(log.segment_count() >= segments);
}

#[test]
fn reads_outside_the_log_are_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    assert_eq!(
        log.read(0, 100, true).unwrap().len(),
        0,
        "empty log, offset 0 is the end"
    );
    assert!(matches!(
        log.read(-1, 100, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
    for i in 0..10 {
        append(&mut log, &[&format!("o{i}")], 1);
    }
    log.delete_records_before(4).unwrap();
    let err = log.read(3, 100, true).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OffsetOutOfRange {
                offset: 3,
                log_start_offset: 4,
                log_end_offset: 10
            }
        ),
        "{err}"
    );
    assert!(matches!(
        log.read(11, 100, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        values(&log.read(4, 1, true).unwrap()),
        vec![(4, "o4".to_string())]
    );
    assert!(matches!(
        log.delete_records_before(-2),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(2).unwrap(), 4, "never moves back");
}

#[test]
fn deleting_every_record_empties_the_partition_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    for i in 0..10 {
        append(&mut log, &[&format!("e{i}")], 1);
    }
    assert_eq!(log.delete_records_before(-1).unwrap(), 10);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.size_bytes(), 0);
    log.close().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (10, 10));
    assert_eq!(append(&mut log, &["next"], 1).base_offset, 10);
    assert_eq!(log.max_timestamp().unwrap(), Some((10, 1)));
}

#[test]
fn max_timestamp_ignores_deleted_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    for ts in [500, 900, 300, 700, 700] {
        append(&mut log, &["m"], ts);
    }
    assert_eq!(log.max_timestamp().unwrap(), Some((1, 900)));
    log.delete_records_before(2).unwrap();
    assert_eq!(
        log.max_timestamp().unwrap(),
        Some((3, 700)),
        "first batch with the max"
    );
    assert_eq!(log.offset_for_timestamp(800).unwrap(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((2, 300)));
}

#[test]
fn read_across_segments_stops_at_the_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), small()).unwrap();
    let mut sizes = Vec::new();
    for i in 0..12 {
        let b = batch(&[&format!("{i:0>40}")], 1);
        sizes.push(b.len());
        log.append(&b, 0, 1).unwrap();
    }
    assert!(log.segment_count() > 3);
    for budget in [sizes[0] * 3 + 1, sizes[0] * 7, 10_000] {
        let got = log.read(1, budget, false).unwrap();
        let expected: usize = sizes[1..]
            .iter()
            .scan(0, |total, s| {
                *total += s;
                (*total <= budget).then_some(*s)
            })
            .sum();
        assert_eq!(got.len(), expected, "budget {budget}");
        assert_eq!(values(&got)[0].0, 1);
    }
}

#[test]
fn the_flush_policy_counts_records() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        flush_messages: 3,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), cfg).unwrap();
    append(&mut log, &["a", "b"], 1);
    assert_eq!(log.records_since_flush, 2);
    append(&mut log, &["c"], 1);
    assert_eq!(log.records_since_flush, 0, "flushed at three records");
    assert!(dir.path().join("00000000000000000000.index").exists());
}

#[test]
fn a_torn_tail_below_the_persisted_log_start_moves_the_start_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    append(&mut log, &["a", "b"], 1);
    append(&mut log, &["c", "d", "e"], 1);
    log.delete_records_before(3).unwrap();
    log.close().unwrap();
    // A crash had torn the batch holding the persisted start (offsets 2..=4).
    let seg = dir.path().join("00000000000000000000.log");
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 1).unwrap();
    drop(f);
    let mut log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 2));
    assert_eq!(append(&mut log, &["f", "g"], 1).base_offset, 2);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(
        log.log_start_offset(),
        2,
        "offset 2 was given again, so stays readable"
    );
    assert_eq!(
        values(&log.read(2, usize::MAX, true).unwrap())[0],
        (2, "f".to_string())
    );
}
