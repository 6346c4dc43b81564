//! Tests of the log cleaner: what stays, offsets, swaps and their crash recovery.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as RecTs,
};
use proptest::prelude::*;

use super::*;
use crate::config::{CleanupPolicy, LogConfig};

const NOW: i64 = 10_000_000;

fn unthrottled() -> Throttle {
    Throttle::new(u64::MAX, Arc::default())
}

/// A record: key, value (None = tombstone).
type Rec<'a> = (Option<&'a str>, Option<&'a str>);

fn encode(
    records: &[Rec<'_>],
    ts: i64,
    producer: Option<(i64, i32)>,
    codec: Compression,
) -> Vec<u8> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: producer.map_or(-1, |p| p.0),
            producer_epoch: if producer.is_some() { 0 } else { -1 },
            timestamp_type: RecTs::Creation,
            offset: i as i64,
            sequence: producer.map_or(-1 + i as i32, |p| p.1 + i as i32),
            timestamp: ts,
            key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: codec,
        },
    )
    .expect("encode");
    buf.to_vec()
}

fn compacted(segment_bytes: u64) -> LogConfig {
    let mut c = LogConfig {
        segment_bytes,
        index_interval_bytes: 100,
        cleanup_policy: CleanupPolicy::Compact,
        ..LogConfig::default()
    };
    c.compaction.min_cleanable_dirty_ratio = 0.0;
    c
}

/// Every record from the log start: (offset, key, value).
fn records(log: &PartitionLog) -> Vec<(i64, Option<String>, Option<String>)> {
    let bytes = log
        .read(log.log_start_offset(), usize::MAX / 2, true)
        .expect("read");
    let mut buf = bytes;
    let mut out = Vec::new();
    let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).expect("utf-8"));
    while buf.has_remaining() {
        for r in RecordBatchDecoder::decode(&mut buf)
            .expect("decode")
            .records
        {
            out.push((r.offset, text(r.key), text(r.value)));
        }
    }
    out
}

/// Cleans until nothing is due; returns the stats of every cleaning.
fn clean_all(log: &mut PartitionLog, now: i64) -> Vec<CleanStats> {
    let mut done = Vec::new();
    while let Some(plan) = log.clean_plan(now).expect("plan") {
        let cleaned = clean(&plan, now, 1 << 30, &mut unthrottled()).expect("clean");
        done.push(
            log.install_cleaned(cleaned)
                .expect("install")
                .expect("installed"),
        );
        if done.len() > 10 {
            panic!("the cleaner keeps finding work");
        }
    }
    done
}

fn latest(
    recs: &[(i64, Option<String>, Option<String>)],
) -> BTreeMap<String, (i64, Option<String>)> {
    let mut m = BTreeMap::new();
    for (o, k, v) in recs {
        if let Some(k) = k {
            m.insert(k.clone(), (*o, v.clone()));
        }
    }
    m
}

/// 200 updates of 5 keys in single-record batches, segments of ~10 batches.
fn updated_log(dir: &Path) -> PartitionLog {
    let mut log = PartitionLog::open(dir, compacted(800)).expect("open");
    for i in 0..200 {
        let k = format!("k{}", i % 5);
        let v = format!("v{i}");
        log.append(
            &encode(&[(Some(&k), Some(&v))], NOW - 1000, None, Compression::None),
            0,
            NOW,
        )
        .expect("append");
    }
    log
}

#[test]
fn keeps_the_latest_record_of_each_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = updated_log(dir.path());
    let before = records(&log);
    let end = log.log_end_offset();
    let segments = log.segment_count();
    let stats = clean_all(&mut log, NOW);
    assert_eq!(stats.len(), 1, "one cleaning covers the dirty section");
    let after = records(&log);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(
        latest(&after),
        latest(&before),
        "every key keeps its last value"
    );
    // The cleaned part holds one record per key; the active segment is never cleaned.
    let active_base = log.active().base_offset;
    let cleaned: Vec<_> = after.iter().filter(|r| r.0 < active_base).collect();
    let mut keys: Vec<_> = cleaned.iter().map(|r| r.1.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        cleaned.len(),
        "a key twice in the cleaned part: {cleaned:?}"
    );
    // Offsets did not move: every kept record is the one the log had at that offset.
    for r in &after {
        assert!(before.contains(r), "{r:?} was not in the log before");
    }
    assert!(log.segment_count() <= segments);
    assert!(stats[0].records_kept < stats[0].records_read);
    assert!(stats[0].size_after < stats[0].size_before);
    // A read from an offset that was cleaned away starts at the next kept record.
    let first_gap = (0..end)
        .find(|o| !after.iter().any(|r| r.0 == *o))
        .expect("a gap");
    let from_gap = log.read(first_gap, 1 << 20, true).expect("read in a gap");
    let mut buf = from_gap;
    let first = RecordBatchDecoder::decode(&mut buf)
        .expect("decode")
        .records[0]
        .offset;
    assert!(first > first_gap);
    // Nothing is due until more is appended.
    assert!(log.clean_plan(NOW).expect("plan").is_none());
    // Once more dirty data arrives, the shrunken segments merge.
    let segments = log.segment_count();
    for i in 0..40 {
        log.append(
            &encode(
                &[(Some("k0"), Some(&format!("w{i}")))],
                NOW,
                None,
                Compression::None,
            ),
            0,
            NOW,
        )
        .expect("append");
    }
    let before = log.segment_count();
    clean_all(&mut log, NOW);
    assert!(
        log.segment_count() < before,
        "{} segments of {before} after a second cleaning (first left {segments})",
        log.segment_count()
    );
}

#[test]
fn cleaning_survives_reopen_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = updated_log(dir.path());
    clean_all(&mut log, NOW);
    let after = records(&log);
    let end = log.log_end_offset();
    log.close().expect("close");
    let mut log = PartitionLog::open(dir.path(), compacted(800)).expect("reopen");
    assert_eq!(records(&log), after);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(
        log.cleaner_checkpoint,
        read_checkpoint(dir.path()).expect("checkpoint")
    );
    let info = log
        .append(
            &encode(&[(Some("k0"), Some("new"))], NOW, None, Compression::None),
            0,
            NOW,
        )
        .expect("append");
    assert_eq!(info.base_offset, end);
}

#[test]
fn tombstones_stay_for_delete_retention_then_go_with_older_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = compacted(300);
    config.compaction.delete_retention_ms = 5_000;
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let t0 = NOW;
    for (k, v) in [
        ("a", Some("1")),
        ("b", Some("2")),
        ("a", None),
        ("c", Some("3")),
    ] {
        log.append(&encode(&[(Some(k), v)], t0, None, Compression::None), 0, t0)
            .expect("append");
    }
    // Roll so everything above is cleanable.
    log.append(
        &encode(&[(Some("z"), Some("9")); 8], t0, None, Compression::None),
        0,
        t0,
    )
    .expect("append");
    clean_all(&mut log, t0 + 1_000);
    let recs = records(&log);
    assert!(
        recs.contains(&(2, Some("a".into()), None)),
        "the tombstone stays: {recs:?}"
    );
    assert!(
        !recs.iter().any(|r| r.0 == 0),
        "a's old value is gone: {recs:?}"
    );
    // More dirty data so the cleaner runs again, after the tombstone's retention.
    log.append(
        &encode(&[(Some("b"), Some("4"))], t0, None, Compression::None),
        0,
        t0,
    )
    .expect("append");
    log.append(
        &encode(&[(Some("z"), Some("9")); 8], t0, None, Compression::None),
        0,
        t0,
    )
    .expect("append");
    clean_all(&mut log, t0 + 10_000);
    let recs = records(&log);
    assert!(
        !recs.iter().any(|r| r.1.as_deref() == Some("a")),
        "a is gone: {recs:?}"
    );
    assert!(recs.contains(&(3, Some("c".into()), Some("3".into()))));
    assert!(
        !recs.iter().any(|r| r.0 == 1),
        "b's first value is gone: {recs:?}"
    );
}

#[test]
fn keyless_records_are_dropped_and_partial_batches_keep_their_codec() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compacted(200)).expect("open");
    let mixed = encode(
        &[
            (Some("a"), Some("1")),
            (None, Some("x")),
            (Some("b"), Some("2")),
            (Some("a"), Some("3")),
        ],
        NOW,
        None,
        Compression::Gzip,
    );
    log.append(&mixed, 3, NOW).expect("append");
    log.append(
        &encode(&[(Some("z"), Some("9"))], NOW, None, Compression::None),
        0,
        NOW,
    )
    .expect("append");
    log.append(
        &encode(&[(Some("z"), Some("9")); 20], NOW, None, Compression::None),
        0,
        NOW,
    )
    .expect("append");
    clean_all(&mut log, NOW);
    let bytes = log.read(0, 1 << 20, true).expect("read");
    let h = BatchHeader::parse(&bytes).expect("header");
    assert_eq!(h.compression(), 1, "still gzip");
    assert_eq!(h.partition_leader_epoch, 3, "leader epoch kept");
    assert_eq!(
        h.base_offset, 2,
        "the batch starts at its first kept record"
    );
    assert_eq!(h.base_sequence, -1, "no producer, no sequence");
    let recs = records(&log);
    assert_eq!(
        &recs[..2],
        &[
            (2, Some("b".into()), Some("2".into())),
            (3, Some("a".into()), Some("3".into()))
        ]
    );
}

#[test]
fn a_producers_last_batch_stays_even_when_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compacted(300)).expect("open");
    // Producer 7 writes a (seq 0-1), then a again (seq 2-3); producer 8 overwrites a.
    log.append(
        &encode(
            &[(Some("a"), Some("1")), (Some("a"), Some("2"))],
            NOW,
            Some((7, 0)),
            Compression::None,
        ),
        0,
        NOW,
    )
    .expect("append");
    log.append(
        &encode(
            &[(Some("a"), Some("3")), (Some("a"), Some("4"))],
            NOW,
            Some((7, 2)),
            Compression::None,
        ),
        0,
        NOW,
    )
    .expect("append");
    log.append(
        &encode(
            &[(Some("a"), Some("5"))],
            NOW,
            Some((8, 0)),
            Compression::None,
        ),
        0,
        NOW,
    )
    .expect("append");
    log.append(
        &encode(&[(Some("z"), Some("9")); 12], NOW, None, Compression::None),
        0,
        NOW,
    )
    .expect("append");
    clean_all(&mut log, NOW);
    let headers = log.batch_headers(0).expect("headers");
    let of_7: Vec<_> = headers.iter().filter(|h| h.producer_id == 7).collect();
    assert_eq!(
        of_7.len(),
        1,
        "only producer 7's last batch stays: {headers:?}"
    );
    assert_eq!(of_7[0].records_count, 0, "as an empty batch");
    assert_eq!(of_7[0].base_offset, 2);
    assert_eq!(of_7[0].last_sequence(), 3, "with its sequences");
    assert!(records(&log).iter().all(|r| r.2.as_deref() != Some("4")));
    assert!(records(&log).contains(&(4, Some("a".into()), Some("5".into()))));
}

#[test]
fn min_ratio_and_min_lag_decide_when_a_partition_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = compacted(800);
    config.compaction.min_cleanable_dirty_ratio = 0.5;
    config.compaction.min_compaction_lag_ms = 60_000;
    let mut log = PartitionLog::open(dir.path(), config.clone()).expect("open");
    for i in 0..100 {
        log.append(
            &encode(
                &[(Some("k"), Some(&format!("{i}")))],
                NOW,
                None,
                Compression::None,
            ),
            0,
            NOW,
        )
        .expect("append");
    }
    assert!(
        log.clean_plan(NOW).expect("plan").is_none(),
        "records younger than the lag"
    );
    assert!(log.clean_plan(NOW + 60_001).expect("plan").is_some());
    clean_all(&mut log, NOW + 60_001);
    // A little more dirty data stays below the ratio.
    for i in 0..12 {
        log.append(
            &encode(
                &[(Some("k"), Some(&format!("{i}")))],
                NOW,
                None,
                Compression::None,
            ),
            0,
            NOW,
        )
        .expect("append");
    }
    let due = log.clean_plan(NOW + 60_001).expect("plan");
    assert!(
        due.as_ref().is_none_or(|p| p.dirty_ratio >= 0.5),
        "{:?}",
        due.map(|p| p.dirty_ratio)
    );
    // Delete-only topics are never planned.
    let mut delete = config;
    delete.cleanup_policy = CleanupPolicy::Delete;
    log.set_config(delete);
    assert!(log.clean_plan(NOW + 60_001).expect("plan").is_none());
}

#[test]
fn max_lag_forces_a_cleaning_below_the_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = compacted(400);
    config.compaction.min_cleanable_dirty_ratio = 1.0;
    config.compaction.max_compaction_lag_ms = 1_000;
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    for i in 0..40 {
        log.append(
            &encode(
                &[(Some("k"), Some(&format!("{i}")))],
                NOW,
                None,
                Compression::None,
            ),
            0,
            NOW,
        )
        .expect("append");
    }
    clean_all(&mut log, NOW);
    log.append(
        &encode(&[(Some("k"), Some("x")); 20], NOW, None, Compression::None),
        0,
        NOW,
    )
    .expect("append");
    log.append(
        &encode(&[(Some("k"), Some("y")); 20], NOW, None, Compression::None),
        0,
        NOW,
    )
    .expect("append");
    assert!(
        log.clean_plan(NOW).expect("plan").is_none(),
        "below the ratio and not late"
    );
    assert!(log.clean_plan(NOW + 1_001).expect("plan").is_some(), "late");
}

#[test]
fn a_log_changed_during_cleaning_keeps_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = updated_log(dir.path());
    let plan = log.clean_plan(NOW).expect("plan").expect("due");
    let cleaned = clean(&plan, NOW, 1 << 30, &mut unthrottled()).expect("clean");
    // DeleteRecords removed the first segment meanwhile.
    let second = *log.segments.keys().nth(1).expect("two segments");
    log.delete_records_before(second).expect("delete records");
    let before = records(&log);
    assert!(log.install_cleaned(cleaned).expect("install").is_none());
    assert_eq!(records(&log), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cleaned"))
        .collect();
    assert!(leftovers.is_empty(), "cleaned files are removed");
}

#[test]
fn an_interrupted_swap_is_completed_and_an_uncommitted_one_discarded() {
    // Committed (renamed to .swap) but the old segments were not yet deleted.
    let dir = tempfile::tempdir().unwrap();
    let log = updated_log(dir.path());
    let before = records(&log);
    let plan = log.clean_plan(NOW).expect("plan").expect("due");
    let cleaned = clean(&plan, NOW, 1 << 30, &mut unthrottled()).expect("clean");
    for g in &cleaned.groups {
        std::fs::rename(&g.path, dir.path().join(swap_name(g.base, g.end, "swap"))).unwrap();
    }
    drop(log);
    let log = PartitionLog::open(dir.path(), compacted(800)).expect("reopen");
    let after = records(&log);
    assert_eq!(latest(&after), latest(&before));
    assert!(
        after.len() < before.len(),
        "the cleaned segments are in place"
    );
    for r in &after {
        assert!(before.contains(r));
    }

    // Written but not committed: the log stays as it was.
    let dir = tempfile::tempdir().unwrap();
    let log = updated_log(dir.path());
    let before = records(&log);
    let plan = log.clean_plan(NOW).expect("plan").expect("due");
    let cleaned = clean(&plan, NOW, 1 << 30, &mut unthrottled()).expect("clean");
    assert!(cleaned.groups.iter().all(|g| g.path.exists()));
    drop(log);
    let log = PartitionLog::open(dir.path(), compacted(800)).expect("reopen");
    assert_eq!(records(&log), before);
    assert!(
        cleaned.groups.iter().all(|g| !g.path.exists()),
        "leftovers deleted"
    );
}

#[test]
fn a_small_key_budget_cleans_the_dirty_section_in_parts() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compacted(600)).expect("open");
    for i in 0..300 {
        let k = format!("key-{i:04}");
        log.append(
            &encode(&[(Some(&k), Some("v"))], NOW, None, Compression::None),
            0,
            NOW,
        )
        .expect("append");
    }
    let plan = log.clean_plan(NOW).expect("plan").expect("due");
    let cleaned = clean(&plan, NOW, 1, &mut unthrottled()).expect("clean");
    let to = cleaned.cleaned_to;
    assert!(
        to > 0 && to < log.active().base_offset,
        "cleaned up to {to}"
    );
    log.install_cleaned(cleaned)
        .expect("install")
        .expect("installed");
    assert_eq!(log.first_dirty(), to);
    assert_eq!(records(&log).len(), 300, "distinct keys all stay");
}

#[test]
fn the_throttle_holds_the_rate() {
    let cancel = Arc::new(AtomicBool::new(false));
    let mut t = Throttle::new(1_000_000, cancel.clone());
    let start = std::time::Instant::now();
    t.consume(200_000).expect("not cancelled");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(190), "{took:?}");
    cancel.store(true, Ordering::Relaxed);
    assert!(t.consume(1).is_err(), "a cancelled cleaning stops");
}

#[test]
fn a_follower_appends_a_compacted_leaders_batches_with_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = updated_log(dir.path());
    clean_all(&mut leader, NOW);
    let bytes = leader.read(0, 1 << 24, true).expect("read");
    let fdir = tempfile::tempdir().unwrap();
    let mut follower = PartitionLog::open(fdir.path(), compacted(800)).expect("open");
    follower
        .append_replicated(&bytes, NOW)
        .expect("gaps are accepted");
    assert_eq!(records(&follower), records(&leader));
    assert_eq!(follower.log_end_offset(), leader.log_end_offset());
    // Going backwards is still refused.
    let again = leader.read(0, 1 << 24, true).expect("read");
    assert!(follower.append_replicated(&again, NOW).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    /// Append a batch of (key index, tombstone?) records.
    Append(Vec<(u8, bool)>),
    Clean,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec((0u8..12, proptest::bool::weighted(0.1)), 1..6).prop_map(Op::Append),
        2 => Just(Op::Clean),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the appends, cleanings and restarts: every record the log returns is the one
    /// appended at that offset, the latest value of every key is there (tombstones are kept:
    /// delete.retention.ms is not reached), and the log end offset never moves.
    #[test]
    fn cleaning_only_drops_superseded_records(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let config = compacted(1024);
        let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
        let mut appended: BTreeMap<i64, (String, Option<String>)> = BTreeMap::new();
        let mut n = 0;
        for op in ops {
            match op {
                Op::Append(recs) => {
                    let owned: Vec<(String, Option<String>)> = recs
                        .iter()
                        .map(|(k, dead)| {
                            n += 1;
                            (format!("k{k}"), (!dead).then(|| format!("v{n}")))
                        })
                        .collect();
                    let refs: Vec<Rec<'_>> =
                        owned.iter().map(|(k, v)| (Some(k.as_str()), v.as_deref())).collect();
                    let info = log.append(&encode(&refs, NOW, None, Compression::None), 0, NOW).unwrap();
                    for (i, r) in owned.into_iter().enumerate() {
                        appended.insert(info.base_offset + i as i64, r);
                    }
                }
                Op::Clean => {
                    clean_all(&mut log, NOW);
                }
                Op::Reopen => {
                    log.close().unwrap();
                    log = PartitionLog::open(dir.path(), config.clone()).unwrap();
                }
            }
            let recs = records(&log);
            for (o, k, v) in &recs {
                let (ek, ev) = &appended[o];
                prop_assert_eq!(Some(ek), k.as_ref());
                prop_assert_eq!(ev, v);
            }
            let mut want: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
            for (o, (k, v)) in &appended {
                want.insert(k.clone(), (*o, v.clone()));
            }
            prop_assert_eq!(latest(&recs), want);
            prop_assert_eq!(log.log_end_offset(), appended.len() as i64);
        }
    }
}

#[test]
fn a_batch_that_loses_its_last_records_still_ends_at_its_last_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compacted(300)).expect("open");
    // Producer 5, sequences 10-12: b, a, c; then a and c again from producer 6.
    let first = encode(
        &[
            (Some("b"), Some("1")),
            (Some("a"), Some("2")),
            (Some("c"), Some("3")),
        ],
        NOW,
        Some((5, 10)),
        Compression::Lz4,
    );
    log.append(&first, 0, NOW).expect("append");
    log.append(
        &encode(
            &[(Some("a"), Some("4")), (Some("c"), Some("5"))],
            NOW,
            Some((6, 0)),
            Compression::None,
        ),
        0,
        NOW,
    )
    .expect("append");
    log.append(
        &encode(&[(Some("z"), Some("9")); 12], NOW, None, Compression::None),
        0,
        NOW,
    )
    .expect("append");
    clean_all(&mut log, NOW);
    let headers = log.batch_headers(0).expect("headers");
    let h = headers
        .iter()
        .find(|h| h.producer_id == 5)
        .expect("producer 5's batch");
    assert_eq!((h.base_offset, h.last_offset()), (0, 2), "{h:?}");
    assert_eq!((h.base_sequence, h.last_sequence()), (10, 12));
    assert_eq!(h.records_count, 1);
    assert_eq!(h.compression(), 3, "still lz4");
    assert_eq!(records(&log)[0], (0, Some("b".into()), Some("1".into())));
    // The stored bytes pass the checks a follower's recovery applies.
    let bytes = log.read(0, 1 << 20, true).expect("read");
    crate::log::batch::validate_batches(&bytes, usize::MAX).expect("valid batches");
    log.close().expect("close");
    let log = PartitionLog::open(dir.path(), compacted(300)).expect("reopen");
    assert_eq!(log.batch_headers(0).expect("headers"), headers);
}

#[test]
fn a_truncation_during_cleaning_voids_it_even_if_sizes_match_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = updated_log(dir.path());
    let plan = log.clean_plan(NOW).expect("plan").expect("due");
    let cleaned = clean(&plan, NOW, 1 << 30, &mut unthrottled()).expect("clean");
    // A follower truncates to its leader's log and gets the same bytes back.
    let end = log.log_end_offset();
    let tail = log.read(end - 3, 1 << 20, true).expect("read tail");
    log.truncate_to(end - 3).expect("truncate");
    log.append_replicated(&tail, NOW).expect("re-append");
    let before = records(&log);
    assert!(log.install_cleaned(cleaned).expect("install").is_none());
    assert_eq!(records(&log), before);
}

#[test]
fn a_log_start_past_the_active_base_plans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = updated_log(dir.path());
    let end = log.log_end_offset();
    log.delete_records_before(end - 1).expect("delete records");
    assert!(log.log_start_offset() > log.active().base_offset);
    assert!(log.clean_plan(NOW).expect("plan").is_none());
}

#[test]
fn max_lag_rolls_the_active_segment_so_its_records_get_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = compacted(1 << 20);
    config.compaction.max_compaction_lag_ms = 60_000;
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    for i in 0..10 {
        log.append(
            &encode(
                &[(Some("k"), Some(&format!("{i}")))],
                NOW,
                None,
                Compression::None,
            ),
            0,
            NOW,
        )
        .expect("append");
    }
    log.enforce_retention(NOW + 1_000).expect("housekeeping");
    assert_eq!(log.segment_count(), 1, "not late yet");
    assert!(log.clean_plan(NOW + 1_000).expect("plan").is_none());
    log.enforce_retention(NOW + 60_001).expect("housekeeping");
    assert_eq!(log.segment_count(), 2, "rolled");
    clean_all(&mut log, NOW + 60_001);
    assert_eq!(records(&log), vec![(9, Some("k".into()), Some("9".into()))]);
}
