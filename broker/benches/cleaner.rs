//! Throughput of the log cleaner: `cargo bench -p fjord-broker --bench cleaner`.
//!
//! Writes `--updates` records (default 1,000,000) of `--value-bytes` (default 100) over
//! `--keys` keys (default 1,000) into a compacted partition log in batches of 100 records
//! (lz4 unless `--codec none`), rolls it, then times one cleaning (plan, copy, swap) without
//! a throttle and prints bytes read, MB/s and records/s. No network and no clients: this is
//! the cleaner alone, on this machine's page cache.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use fjord_broker::config::{CleanupPolicy, LogConfig};
use fjord_broker::log::{PartitionLog, Throttle, clean};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let updates = arg("--updates", 1_000_000);
    let keys = arg("--keys", 1_000).max(1);
    let value_bytes = arg("--value-bytes", 100) as usize;
    let codec = if std::env::args().any(|a| a == "none") {
        Compression::None
    } else {
        Compression::Lz4
    };
    let dir = tempfile::tempdir()?;
    let mut log = PartitionLog::open(dir.path(), compacted(64 << 20))?;
    let now = fjord_broker::now_ms();
    let value = Bytes::from(vec![b'v'; value_bytes]);
    let start = Instant::now();
    let mut i = 0u64;
    while i < updates {
        let n = 100.min(updates - i);
        let records: Vec<Record> = (0..n)
            .map(|j| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: j as i64,
                sequence: -1 + j as i32,
                timestamp: now,
                key: Some(Bytes::from(format!("key-{}", (i + j) % keys))),
                value: Some(value.clone()),
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
        )?;
        log.append(&buf, 0, now)?;
        i += n;
    }
    // One more batch so every update is in a closed (cleanable) segment.
    let filler = {
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &[Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: 0,
                sequence: -1,
                timestamp: now,
                key: Some(Bytes::from_static(b"filler")),
                value: Some(Bytes::new()),
                headers: Default::default(),
            }],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )?;
        buf
    };
    log.flush()?;
    let size = log.size_bytes();
    println!(
        "wrote {updates} updates of {value_bytes} B over {keys} keys ({codec:?}): {:.1} MB in {} segments, {:.2?}",
        size as f64 / 1e6,
        log.segment_count(),
        start.elapsed()
    );
    let mut total_read = 0u64;
    let mut total_records = 0u64;
    // Roll: the filler goes to a new active segment, so every update is cleanable.
    log.set_config(compacted(1024));
    log.append(&filler, 0, now)?;
    log.set_config(compacted(64 << 20));
    let begin = Instant::now();
    while let Some(plan) = log.clean_plan(now)? {
        let cleaned = clean(
            &plan,
            now,
            128 << 20,
            &mut Throttle::new(u64::MAX, Arc::default()),
        )?;
        let stats = cleaned.stats;
        total_read += stats.bytes_read;
        total_records += stats.records_read;
        log.install_cleaned(cleaned)?;
    }
    let took = begin.elapsed().as_secs_f64();
    println!(
        "cleaned {:.1} MB ({total_records} records) in {took:.3} s: {:.1} MB/s read, {:.0} records/s; {:.1} MB left in {} segments",
        total_read as f64 / 1e6,
        total_read as f64 / 1e6 / took,
        total_records as f64 / took,
        log.size_bytes() as f64 / 1e6,
        log.segment_count()
    );
    Ok(())
}

fn compacted(segment_bytes: u64) -> LogConfig {
    let mut config = LogConfig {
        segment_bytes,
        cleanup_policy: CleanupPolicy::Compact,
        ..LogConfig::default()
    };
    config.compaction.min_cleanable_dirty_ratio = 0.0;
    config
}
