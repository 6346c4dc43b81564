//! Partition logs: one directory per partition, segment files of v2 record batches exactly
//! as clients sent them (base offset and leader epoch stamped), with a sparse offset index
//! and a time index per segment.
//!
//! # Layout
//!
//! - [`batch`]: the 61-byte batch header: parse, validate (CRC-32C, magic, sizes), stamp.
//! - `index`: the `.index` and `.timeindex` entries and their files.
//! - `segment`: one `.log` file and its in-memory indexes; open-time recovery.
//! - [`PartitionLog`]: the segments of a partition in offset order (`<base offset>.log`,
//!   20 digits): append with roll by size and age, reads of whole batches, retention by time
//!   and size, DeleteRecords (the log start offset is persisted in `log-start-offset`), and
//!   recovery at open: the active segment is scanned with CRC checks from its last trusted
//!   index entry and a torn tail truncated; indexes missing or inconsistent are rebuilt.
//! - `cleaner`: compaction of `cleanup.policy=compact` partitions (latest record per key,
//!   offsets unchanged), planned and swapped in under the partition lock, copied without it.
//!
//! All I/O is blocking std I/O on page-cache files; callers serialise access (a mutex per
//! partition), so reads take `&self` and use positional reads.

pub mod batch;
mod cleaner;
pub mod epochs;
mod index;
mod segment;

pub use cleaner::{CleanPlan, CleanStats, Cleaned, Throttle, clean};

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::config::{LogConfig, TimestampType};
use crate::error::{Error, Result};
use batch::{BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use epochs::LeaderEpochCache;
use segment::Segment;

const LOG_START_FILE: &str = "log-start-offset";

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
    config: LogConfig,
    /// Segments by base offset; never empty, the last one is the active segment.
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    /// Offsets appended since the last fsync (the `flush.messages` policy).
    records_since_flush: u64,
    /// Segment files were created or deleted since the directory was last fsynced.
    dir_dirty: bool,
    /// Where each leader epoch starts (OffsetsForLeaderEpoch, follower truncation).
    epochs: LeaderEpochCache,
    /// First offset the cleaner has not compacted (compacted topics; see `cleaner`).
    cleaner_checkpoint: i64,
    /// Counts truncations (follower divergence, resets): a cleaning planned before one
    /// does not apply after it.
    truncations: u64,
}

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir`, recovering the active segment: a torn
    /// tail is truncated and the indexes rebuilt.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("failed to create {}", dir.display()), e))?;
        cleaner::recover_swaps(dir)?;
        let mut bases = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("failed to list {}", dir.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("failed to list {}", dir.display()), e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".log")
                && let Ok(base) = stem.parse::<i64>()
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let persisted_start = match std::fs::read_to_string(dir.join(LOG_START_FILE)) {
            Ok(s) => s.trim().parse::<i64>().ok(),
            Err(_) => None,
        };
        let mut segments = BTreeMap::new();
        let last = bases.last().copied();
        for base in bases {
            let path = dir.join(segment::file_name(base, "log"));
            let seg = Segment::open(&path, base, config.index_interval_bytes, Some(base) == last)?;
            segments.insert(base, seg);
        }
        let dir_dirty = segments.is_empty();
        if segments.is_empty() {
            let base = persisted_start.unwrap_or(0).max(0);
            segments.insert(
                base,
                Segment::create(dir, base, config.index_interval_bytes, crate::now_ms())?,
            );
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let end = segments
            .values()
            .next_back()
            .map(|s| s.next_offset)
            .unwrap_or(0);
        let log_start_offset = persisted_start
            .unwrap_or(first_base)
            .max(first_base)
            .min(end);
        let mut epochs = LeaderEpochCache::open(dir);
        epochs.truncate_from_end(end)?;
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            records_since_flush: 0,
            dir_dirty,
            epochs,
            cleaner_checkpoint: cleaner::read_checkpoint(dir).unwrap_or(log_start_offset),
            truncations: 0,
        };
        if persisted_start.is_some_and(|p| p > log_start_offset) {
            // Recovery cut records the persisted start pointed into; offsets given to new
            // records from here must be readable.
            log.persist_log_start()?;
        }
        // Segments a DeleteRecords had condemned when the broker stopped.
        log.delete_oldest_while(|s| s.next_offset <= log_start_offset)?;
        Ok(log)
    }

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// Makes the active segment durable and starts a new one at the log end offset.
    fn roll(&mut self, now_ms: i64) -> Result<()> {
        let next = self.log_end_offset();
        self.active_mut().flush()?;
        let seg = Segment::create(&self.dir, next, self.config.index_interval_bytes, now_ms)?;
        self.segments.insert(next, seg);
        self.dir_dirty = true;
        Ok(())
    }

    /// Whether an append of `len` bytes spanning `offsets` offsets must go to a new segment:
    /// the active one would pass `segment.bytes`, is older than `segment.ms`, or would
    /// overflow the u32 positions or relative offsets of its indexes.
    fn should_roll(&self, len: u64, offsets: i64, now_ms: i64) -> bool {
        let active = self.active();
        let last_relative = active.next_offset + offsets - 1 - active.base_offset;
        !active.is_empty()
            && (active.size + len > self.config.segment_bytes
                || now_ms - active.created_ms >= self.config.segment_ms
                || active.size + len > u64::from(u32::MAX)
                || last_relative > i64::from(i32::MAX))
    }

    /// Appends already-validated batches (see [`batch::validate_batches`]), stamping
    /// consecutive base offsets and `leader_epoch`, and LogAppendTime when configured.
    /// Rolls segments by size and age first; fsyncs per the flush policy.
    pub fn append(&mut self, batches: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo> {
        let found = split_batches(batches)?;
        let offsets: i64 = found
            .iter()
            .map(|(h, _)| i64::from(h.last_offset_delta) + 1)
            .sum();
        if self.should_roll(batches.len() as u64, offsets, now_ms) {
            self.roll(now_ms)?;
        }
        let base_offset = self.log_end_offset();
        if leader_epoch >= 0 {
            self.epochs.assign(leader_epoch, base_offset)?;
        }
        let log_append = self.config.timestamp_type == TimestampType::LogAppendTime;
        let mut next = base_offset;
        let mut headers = Vec::with_capacity(found.len());
        // Per batch: its rewritten bytes (the 16-byte offset/length/epoch prefix, or the
        // whole batch when LogAppendTime changes CRC-covered fields) and the untouched rest.
        let mut rewritten: Vec<(Vec<u8>, Range<usize>)> = Vec::with_capacity(found.len());
        for (h, range) in found {
            let split = if log_append {
                range.end
            } else {
                range.start + 16
            };
            let mut head = batches[range.start..split].to_vec();
            batch::stamp(&mut head, next, leader_epoch);
            let stamped = if log_append {
                batch::stamp_log_append_time(&mut head, now_ms);
                BatchHeader::parse(&head)?
            } else {
                BatchHeader {
                    base_offset: next,
                    partition_leader_epoch: leader_epoch,
                    ..h
                }
            };
            headers.push((stamped, range.start as u64));
            rewritten.push((head, split..range.end));
            next = stamped.last_offset() + 1;
        }
        let mut pieces: Vec<std::io::IoSlice<'_>> = Vec::with_capacity(rewritten.len() * 2);
        for (head, rest) in &rewritten {
            pieces.push(std::io::IoSlice::new(head));
            if !rest.is_empty() {
                pieces.push(std::io::IoSlice::new(&batches[rest.clone()]));
            }
        }
        self.active_mut().append(&mut pieces, &headers, now_ms)?;
        self.records_since_flush += offsets as u64;
        if self.records_since_flush >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            log_append_time: if log_append { now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
        })
    }

    /// Appends batches a leader sent to this follower, exactly as they are (offsets, leader
    /// epochs and timestamps already stamped): they must start at the log end offset and be
    /// consecutive. Leader epochs new to this log are recorded where they start.
    pub fn append_replicated(&mut self, batches: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let found = split_batches(batches)?;
        let mut next = self.log_end_offset();
        let base_offset = next;
        for (h, _) in &found {
            // A compacted leader's log has gaps: offsets only have to increase.
            if h.base_offset < next {
                return Err(Error::CorruptBatch(format!(
                    "replicated batch starts at offset {}, below the log end {next}",
                    h.base_offset
                )));
            }
            next = h.last_offset() + 1;
        }
        let offsets = next - base_offset;
        if self.should_roll(batches.len() as u64, offsets, now_ms) {
            self.roll(now_ms)?;
        }
        for (h, _) in &found {
            if h.partition_leader_epoch >= 0 {
                self.epochs
                    .assign(h.partition_leader_epoch, h.base_offset)?;
            }
        }
        let headers: Vec<(BatchHeader, u64)> = found
            .iter()
            .map(|(h, range)| (*h, range.start as u64))
            .collect();
        let mut pieces = [std::io::IoSlice::new(batches)];
        self.active_mut().append(&mut pieces, &headers, now_ms)?;
        self.records_since_flush += offsets as u64;
        if self.records_since_flush >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
        })
    }

    /// Removes every batch at or after `offset` (a batch holding `offset` goes whole, so the
    /// log may end a little before it); returns the new log end offset. Truncating at or
    /// below the log start offset empties the log and restarts it at `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64> {
        if offset >= self.log_end_offset() {
            return Ok(self.log_end_offset());
        }
        if offset <= self.log_start_offset {
            return self.reset_to(offset.max(self.log_start_offset));
        }
        while self.segments.len() > 1 && self.active().base_offset >= offset {
            if let Some(last) = self.segments.last_entry() {
                last.remove().delete()?;
                self.dir_dirty = true;
            }
        }
        self.active_mut().truncate_to(offset)?;
        let end = self.log_end_offset();
        self.epochs.truncate_from_end(end)?;
        self.cleaner_checkpoint = self.cleaner_checkpoint.min(end);
        self.truncations += 1;
        tracing::info!(dir = %self.dir.display(), log_end_offset = end, "log truncated");
        Ok(end)
    }

    /// Deletes every segment and starts the log empty at `offset` (a follower far behind a
    /// leader whose log now starts after its end).
    pub fn reset_to(&mut self, offset: i64) -> Result<i64> {
        let now = crate::now_ms();
        for (_, seg) in std::mem::take(&mut self.segments) {
            seg.delete()?;
        }
        let fresh = Segment::create(&self.dir, offset, self.config.index_interval_bytes, now)?;
        self.segments.insert(offset, fresh);
        self.dir_dirty = true;
        self.log_start_offset = offset;
        self.persist_log_start()?;
        self.epochs.truncate_from_end(offset)?;
        self.epochs.truncate_from_start(offset)?;
        self.cleaner_checkpoint = offset;
        self.truncations += 1;
        Ok(offset)
    }

    /// Forgets the leader epochs that start at the log end or later: they hold no records (an
    /// epoch this replica led without writing). A follower's divergence check then asks its
    /// leader about the newest epoch it has records of.
    pub fn drop_empty_epochs(&mut self) -> Result<()> {
        let end = self.log_end_offset();
        self.epochs.truncate_from_end(end)
    }

    /// The leader epoch cache.
    pub fn epochs(&self) -> &LeaderEpochCache {
        &self.epochs
    }

    /// Records that `epoch` starts at the log end offset (a leader taking over).
    pub fn start_epoch(&mut self, epoch: i32) -> Result<()> {
        let end = self.log_end_offset();
        self.epochs.assign(epoch, end)
    }

    /// [`PartitionLog::read`] of the batches that start before `max_offset` only (consumers
    /// read up to the high watermark).
    pub fn read_bounded(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Bytes> {
        if offset >= max_offset
            && offset <= self.log_end_offset()
            && offset >= self.log_start_offset
        {
            return Ok(Bytes::new());
        }
        let bytes = self.read(offset, max_bytes, min_one)?;
        if max_offset >= self.log_end_offset() {
            return Ok(bytes);
        }
        let mut keep = 0usize;
        while keep + HEADER_SIZE <= bytes.len() {
            let h = BatchHeader::parse(&bytes[keep..])?;
            if h.base_offset >= max_offset {
                break;
            }
            keep += h.total_size();
        }
        Ok(bytes.slice(..keep.min(bytes.len())))
    }

    /// Stored bytes starting at the batch that contains `offset`, whole batches only, up to
    /// `max_bytes` — but at least one whole batch when `min_one` and one exists.
    /// `offset == log_end_offset` gives empty bytes; outside `[start, end]` is
    /// [`crate::Error::OffsetOutOfRange`].
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        if offset == end {
            return Ok(Bytes::new());
        }
        let mut out: Vec<u8> = Vec::new();
        let mut wanted = offset;
        for (_, seg) in self
            .segments
            .range(..=offset)
            .next_back()
            .into_iter()
            .chain(self.segments.range(offset + 1..))
        {
            if seg.next_offset <= wanted {
                continue;
            }
            let Some(start) = seg.position_of(wanted)? else {
                continue;
            };
            let remaining = max_bytes.saturating_sub(out.len());
            let chunk_len = (seg.size - start).min(remaining.max(HEADER_SIZE) as u64) as usize;
            // Read straight into the output, then cut back to whole batches.
            let chunk_start = out.len();
            out.resize(chunk_start + chunk_len, 0);
            seg.read_at(&mut out[chunk_start..], start)?;
            let mut keep = 0usize;
            while keep + HEADER_SIZE <= chunk_len {
                let h = BatchHeader::parse(&out[chunk_start + keep..])?;
                if h.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
                    return Err(Error::CorruptBatch(format!(
                        "stored batch at position {} of {} has length {}",
                        start + keep as u64,
                        seg.path.display(),
                        h.batch_length
                    )));
                }
                let size = h.total_size();
                if keep + size > chunk_len || chunk_start + keep + size > max_bytes {
                    if chunk_start == 0 && keep == 0 && min_one {
                        // The first batch is bigger than the budget: return it whole.
                        let mut whole = vec![0u8; size];
                        seg.read_at(&mut whole, start)?;
                        return Ok(Bytes::from(whole));
                    }
                    break;
                }
                keep += size;
                wanted = h.last_offset() + 1;
            }
            out.truncate(chunk_start + keep);
            if out.len() >= max_bytes || keep < chunk_len {
                break;
            }
        }
        Ok(Bytes::from(out))
    }

    /// First offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Bytes on disk in segment files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    /// Number of segments (the active one included).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The earliest offset whose batch max timestamp is `>= timestamp`, with that timestamp.
    /// The time index of each segment skips to the last batch known to be older; within the
    /// batch found, the first record at or after `timestamp` is answered when it can be told.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        for seg in self.segments.values() {
            if seg.is_empty()
                || seg.max_timestamp < timestamp
                || seg.next_offset <= self.log_start_offset
            {
                continue;
            }
            // Every batch up to the one holding an entry's timestamp is older than it.
            let idx = seg.time_index.partition_point(|e| e.timestamp < timestamp);
            let from = idx
                .checked_sub(1)
                .map_or(seg.base_offset, |i| seg.time_index[i].offset)
                .max(self.log_start_offset);
            let Some(pos) = seg.position_of(from)? else {
                continue;
            };
            for found in seg.batches(pos) {
                let (h, batch_pos) = found?;
                if h.max_timestamp >= timestamp && h.last_offset() >= self.log_start_offset {
                    let mut bytes = vec![0u8; h.total_size()];
                    seg.read_at(&mut bytes, batch_pos)?;
                    let exact =
                        first_record_at_or_after(&bytes, &h, timestamp, self.log_start_offset);
                    return Ok(Some(exact.unwrap_or((
                        h.base_offset.max(self.log_start_offset),
                        h.max_timestamp,
                    ))));
                }
            }
        }
        Ok(None)
    }

    /// Offset and timestamp of the record with the largest timestamp (ListOffsets -3): the
    /// last offset of the first batch still in the log that carries it.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let mut best: Option<(i64, i64)> = None;
        for seg in self.segments.values() {
            if seg.max_timestamp < 0 || seg.next_offset <= self.log_start_offset {
                continue;
            }
            let candidate = if seg.offset_of_max_timestamp >= self.log_start_offset {
                Some((seg.offset_of_max_timestamp, seg.max_timestamp))
            } else {
                // DeleteRecords removed the batch holding this segment's max: look at the
                // batches still readable.
                let mut found: Option<(i64, i64)> = None;
                if let Some(pos) = seg.position_of(self.log_start_offset)? {
                    for batch in seg.batches(pos) {
                        let (h, _) = batch?;
                        if h.max_timestamp >= 0 && found.is_none_or(|(_, ts)| h.max_timestamp > ts)
                        {
                            found = Some((h.last_offset(), h.max_timestamp));
                        }
                    }
                }
                found
            };
            if let Some((offset, ts)) = candidate
                && best.is_none_or(|(_, best_ts)| ts > best_ts)
            {
                best = Some((offset, ts));
            }
        }
        Ok(best)
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords; -1 = the high
    /// watermark), deleting segments wholly below it; persisted so a restart keeps it.
    /// Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let end = self.log_end_offset();
        let offset = if offset == -1 { end } else { offset };
        if offset < 0 || offset > end {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.log_start_offset = offset;
        self.persist_log_start()?;
        self.epochs.truncate_from_start(offset)?;
        if self.active().next_offset <= offset && !self.active().is_empty() {
            self.roll(crate::now_ms())?;
        }
        self.delete_oldest_while(|s| s.next_offset <= offset)?;
        Ok(self.log_start_offset)
    }

    fn persist_log_start(&self) -> Result<()> {
        let path = self.dir.join(LOG_START_FILE);
        let tmp = self.dir.join(format!("{LOG_START_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            std::fs::write(&tmp, self.log_start_offset.to_string())?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| Error::io(format!("failed to write {}", path.display()), e))
    }

    /// Deletes the oldest non-active segments while `doomed` says so; returns how many.
    fn delete_oldest_while(&mut self, mut doomed: impl FnMut(&Segment) -> bool) -> Result<usize> {
        let mut deleted = 0;
        while self.segments.len() > 1 {
            let Some(oldest) = self.segments.first_entry() else {
                break;
            };
            if !doomed(oldest.get()) {
                break;
            }
            oldest.remove().delete()?;
            self.dir_dirty = true;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Deletes segments past retention (time and size; the active segment is rolled first
    /// when every segment is expired, so retention can empty a partition) and rolls the
    /// active segment when it is older than `segment.ms`. Topics with `cleanup.policy=compact`
    /// are not deleted from (the cleaner compacts them); `compact,delete` gets both. Returns the number of segments deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize> {
        let mut deleted = 0;
        let deletes = self.config.cleanup_policy.deletes();
        if deletes && self.config.retention_ms >= 0 {
            let cutoff = now_ms - self.config.retention_ms;
            if !self.active().is_empty()
                && self
                    .segments
                    .values()
                    .all(|s| s.retention_timestamp() < cutoff)
            {
                self.roll(now_ms)?;
            }
            deleted += self.delete_oldest_while(|s| s.retention_timestamp() < cutoff)?;
        }
        if deletes && self.config.retention_bytes >= 0 {
            let limit = self.config.retention_bytes as u64;
            let mut total = self.size_bytes();
            deleted += self.delete_oldest_while(|s| {
                let doomed = total - s.size >= limit;
                if doomed {
                    total -= s.size;
                }
                doomed
            })?;
        }
        let active = self.active();
        if !active.is_empty()
            && (now_ms - active.created_ms >= self.config.segment_ms
                || self.past_max_compaction_lag(now_ms))
        {
            self.roll(now_ms)?;
        }
        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        if first_base > self.log_start_offset {
            self.log_start_offset = first_base;
            self.persist_log_start()?;
            self.epochs.truncate_from_start(first_base)?;
        }
        Ok(deleted)
    }

    /// Whether the active segment of a compacted topic holds a record older than
    /// `max.compaction.lag.ms` (KIP-354): it is rolled so the cleaner can reach that record.
    fn past_max_compaction_lag(&self, now_ms: i64) -> bool {
        let lag = self.config.compaction.max_compaction_lag_ms;
        if !self.config.cleanup_policy.compacts() || lag == i64::MAX {
            return false;
        }
        let mut header = [0u8; HEADER_SIZE];
        self.active().read_at(&mut header, 0).is_ok()
            && BatchHeader::parse(&header).is_ok_and(|h| {
                h.base_timestamp >= 0 && h.base_timestamp < now_ms.saturating_sub(lag)
            })
    }

    /// fsyncs the active segment, then writes its index files (older segments were made
    /// durable when they rolled) and fsyncs the directory if segments came or went.
    pub fn flush(&mut self) -> Result<()> {
        self.active_mut().flush()?;
        if self.dir_dirty {
            std::fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(format!("failed to sync {}", self.dir.display()), e))?;
            self.dir_dirty = false;
        }
        self.records_since_flush = 0;
        Ok(())
    }

    /// Applies a changed topic config (retention, segment size, flush policy…) to future
    /// appends and retention runs.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Headers of every stored batch at or after `from_offset`, in order (used to rebuild
    /// idempotent-producer state and to replay internal topics at start-up).
    pub fn batch_headers(&self, from_offset: i64) -> Result<Vec<BatchHeader>> {
        Ok(self
            .producer_batches(from_offset)?
            .into_iter()
            .map(|(h, _)| h)
            .collect())
    }

    /// [`PartitionLog::batch_headers`] with the marker of each control batch, which is in
    /// its record (control batches are small and uncompressed): producer and transaction
    /// state are rebuilt from them.
    pub fn producer_batches(
        &self,
        from_offset: i64,
    ) -> Result<Vec<(BatchHeader, Option<batch::ControlMarker>)>> {
        let mut out = Vec::new();
        for seg in self.segments.values() {
            if seg.next_offset <= from_offset {
                continue;
            }
            let Some(pos) = seg.position_of(from_offset)? else {
                continue;
            };
            for found in seg.batches(pos) {
                let (h, at) = found?;
                if h.last_offset() < from_offset {
                    continue;
                }
                let marker = if h.is_control() && h.total_size() <= 4096 {
                    let mut buf = vec![0; h.total_size()];
                    seg.read_at(&mut buf, at)?;
                    batch::control_marker(&buf)
                } else {
                    None
                };
                out.push((h, marker));
            }
        }
        Ok(out)
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

/// Splits an append's bytes into batch headers and their ranges, refusing anything that is
/// not whole, well-formed v2 batches (the CRC was checked by the caller).
fn split_batches(batches: &[u8]) -> Result<Vec<(BatchHeader, Range<usize>)>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < batches.len() {
        if batches.len() - pos < HEADER_SIZE {
            return Err(Error::CorruptBatch(
                "trailing bytes after the last batch".into(),
            ));
        }
        let h = BatchHeader::parse(&batches[pos..])?;
        if h.magic != 2
            || h.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32
            || h.last_offset_delta < 0
        {
            return Err(Error::CorruptBatch(format!(
                "malformed batch header at byte {pos} (magic {}, length {}, last offset delta {})",
                h.magic, h.batch_length, h.last_offset_delta
            )));
        }
        let size = h.total_size();
        if size > batches.len() - pos {
            return Err(Error::CorruptBatch(
                "batch runs past the end of the records".into(),
            ));
        }
        out.push((h, pos..pos + size));
        pos += size;
    }
    if out.is_empty() {
        return Err(Error::CorruptBatch("no record batch to append".into()));
    }
    Ok(out)
}

/// The first record of a stored batch with a timestamp `>= timestamp` (Kafka answers
/// ListOffsets by record, not by batch). Compressed batches are decompressed for this;
/// LogAppendTime batches carry one timestamp for every record.
fn first_record_at_or_after(
    batch: &[u8],
    header: &BatchHeader,
    timestamp: i64,
    log_start: i64,
) -> Option<(i64, i64)> {
    if header.attributes & 0x08 != 0 {
        return Some((header.base_offset.max(log_start), header.max_timestamp));
    }
    let mut buf = Bytes::copy_from_slice(batch);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).ok()?;
    set.records
        .iter()
        .find(|r| r.timestamp >= timestamp && r.offset >= log_start)
        .map(|r| (r.offset, r.timestamp))
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
