//! Partition logs: one directory per partition, segment files of v2 record batches exactly
//! as clients sent them (base offset stamped), a sparse offset index and a time index.
//!
//! INTERFACE STUB — the storage engine is being written against exactly these signatures.

pub mod batch;

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::config::LogConfig;
use crate::error::Result;

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The broker timestamp when the topic uses LogAppendTime, else -1.
    pub log_append_time: i64,
    /// First offset still in the log after the append.
    pub log_start_offset: i64,
}

/// One partition's log.
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
}

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir`, recovering the active segment: a torn
    /// tail is truncated and missing or short indexes rebuilt.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Self> {
        let _ = config;
        Ok(PartitionLog { dir: dir.to_path_buf() })
    }

    /// Appends already-validated batches (see [`batch::validate_batches`]), stamping
    /// consecutive base offsets and `leader_epoch`, and LogAppendTime when configured.
    /// Rolls segments by size and age first; fsyncs per the flush policy.
    pub fn append(&mut self, batches: &mut [u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo> {
        let _ = (batches, leader_epoch, now_ms);
        todo!()
    }

    /// Stored bytes starting at the batch that contains `offset`, whole batches only, up to
    /// `max_bytes` — but at least one whole batch when `min_one` and one exists.
    /// `offset == log_end_offset` gives empty bytes; outside `[start, end]` is
    /// [`crate::Error::OffsetOutOfRange`].
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes> {
        let _ = (offset, max_bytes, min_one);
        todo!()
    }

    /// First offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        todo!()
    }

    /// Offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        todo!()
    }

    /// Bytes on disk in segment files.
    pub fn size_bytes(&self) -> u64 {
        todo!()
    }

    /// The earliest offset whose batch max timestamp is `>= timestamp`, with that timestamp.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let _ = timestamp;
        todo!()
    }

    /// Offset and timestamp of the record with the largest timestamp (ListOffsets -3).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        todo!()
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords), deleting segments
    /// wholly below it; persisted so a restart keeps it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let _ = offset;
        todo!()
    }

    /// Deletes segments past retention (time and size; never the active segment) and rolls
    /// the active segment when it is older than `segment.ms`. Returns segments deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize> {
        let _ = now_ms;
        todo!()
    }

    /// fsyncs data and indexes.
    pub fn flush(&mut self) -> Result<()> {
        todo!()
    }

    /// Applies a changed topic config (retention, segment size, flush policy…).
    pub fn set_config(&mut self, config: LogConfig) {
        let _ = config;
    }

    /// Headers of every stored batch at or after `from_offset`, in order (used to rebuild
    /// idempotent-producer state and to replay internal topics at start-up).
    pub fn batch_headers(&self, from_offset: i64) -> Result<Vec<batch::BatchHeader>> {
        let _ = from_offset;
        todo!()
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Flushes and closes every segment (graceful shutdown).
    pub fn close(mut self) -> Result<()> {
        self.flush()
    }
}
