//! Partition logs: one directory per partition, segment files of v2 record batches exactly
//! as clients sent them (base offset and leader epoch stamped), with a sparse offset index
//! and a time index per segment.
//!
//! # Layout
//!
//! - [`batch`]: the 61-byte batch header: parse, validate (CRC-32C, magic, sizes), stamp.
//! - `segment`: one `.log` file and its indexes.
//! - [`PartitionLog`]: the segments of a partition in offset order: append with roll by size
//!   and age, reads of whole batches, retention by time and size, DeleteRecords (the log
//!   start offset is persisted in `log-start-offset`), and recovery at open: the active
//!   segment is scanned with CRC checks and a torn tail truncated.

pub mod batch;
mod segment;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::config::{LogConfig, TimestampType};
use crate::error::{Error, Result};
use batch::{BatchHeader, HEADER_SIZE};
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
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    records_since_flush: u64,
}

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir`, recovering the active segment: a torn
    /// tail is truncated and the indexes rebuilt.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("failed to create {}", dir.display()), e))?;
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
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            records_since_flush: 0,
        })
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

    fn roll(&mut self, now_ms: i64) -> Result<()> {
        let next = self.log_end_offset();
        self.active().flush()?;
        let seg = Segment::create(&self.dir, next, self.config.index_interval_bytes, now_ms)?;
        self.segments.insert(next, seg);
        Ok(())
    }

    /// Appends already-validated batches (see [`batch::validate_batches`]), stamping
    /// consecutive base offsets and `leader_epoch`, and LogAppendTime when configured.
    /// Rolls segments by size and age first; fsyncs per the flush policy.
    pub fn append(&mut self, batches: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo> {
        let active = self.active();
        if !active.is_empty()
            && (active.size + batches.len() as u64 > self.config.segment_bytes
                || now_ms - active.created_ms >= self.config.segment_ms)
        {
            self.roll(now_ms)?;
        }
        let base_offset = self.log_end_offset();
        let log_append = self.config.timestamp_type == TimestampType::LogAppendTime;
        let mut next = base_offset;
        let mut pos = 0usize;
        let mut headers = Vec::new();
        let mut records = 0u64;
        // Per batch: its rewritten bytes (the 16-byte offset/length/epoch prefix, or the
        // whole batch when LogAppendTime changes CRC-covered fields) and the untouched rest.
        let mut rewritten: Vec<(Vec<u8>, std::ops::Range<usize>)> = Vec::new();
        while pos < batches.len() {
            if batches.len() - pos < HEADER_SIZE {
                return Err(Error::CorruptBatch(
                    "trailing bytes after the last batch".into(),
                ));
            }
            let h = BatchHeader::parse(&batches[pos..])?;
            let size = h.total_size();
            if pos + size > batches.len() {
                return Err(Error::CorruptBatch(
                    "batch runs past the end of the records".into(),
                ));
            }
            let (mut head, rest) = if log_append {
                (batches[pos..pos + size].to_vec(), pos + size..pos + size)
            } else {
                (batches[pos..pos + 16].to_vec(), pos + 16..pos + size)
            };
            batch::stamp(&mut head, next, leader_epoch);
            if log_append {
                batch::stamp_log_append_time(&mut head, now_ms);
            }
            let stamped = BatchHeader {
                base_offset: next,
                partition_leader_epoch: leader_epoch,
                ..if log_append {
                    BatchHeader::parse(&head)?
                } else {
                    h
                }
            };
            headers.push((stamped, pos as u64));
            rewritten.push((head, rest));
            records += stamped.records_count.max(0) as u64;
            next = stamped.last_offset() + 1;
            pos += size;
        }
        if headers.is_empty() {
            return Err(Error::CorruptBatch("no record batch to append".into()));
        }
        let mut pieces: Vec<std::io::IoSlice<'_>> = Vec::with_capacity(rewritten.len() * 2);
        for (head, rest) in &rewritten {
            pieces.push(std::io::IoSlice::new(head));
            if !rest.is_empty() {
                pieces.push(std::io::IoSlice::new(&batches[rest.clone()]));
            }
        }
        self.active_mut().append(&mut pieces, &headers)?;
        self.records_since_flush += records;
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
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        for seg in self.segments.values() {
            if seg.max_timestamp < timestamp || seg.is_empty() {
                continue;
            }
            // Start from the last time-index entry below the target.
            let idx = seg.time_index.partition_point(|e| e.timestamp < timestamp);
            let from = if idx == 0 {
                seg.base_offset
            } else {
                seg.time_index[idx - 1].offset
            };
            let Some(pos) = seg.position_of(from.max(self.log_start_offset))? else {
                continue;
            };
            for (h, batch_pos) in seg.headers_from(pos)? {
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

    /// Offset and timestamp of the record with the largest timestamp (ListOffsets -3).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        Ok(self
            .segments
            .values()
            .filter(|s| s.max_timestamp >= 0)
            .max_by_key(|s| s.max_timestamp)
            .map(|s| (s.offset_of_max_timestamp, s.max_timestamp)))
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
        if self.active().next_offset <= offset && !self.active().is_empty() {
            self.roll(crate::now_ms())?;
        }
        self.delete_segments_below(offset)?;
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

    fn delete_segments_below(&mut self, offset: i64) -> Result<usize> {
        let active_base = self.active().base_offset;
        let doomed: Vec<i64> = self
            .segments
            .values()
            .filter(|s| s.base_offset != active_base && s.next_offset <= offset)
            .map(|s| s.base_offset)
            .collect();
        for base in &doomed {
            if let Some(seg) = self.segments.remove(base) {
                seg.delete()?;
            }
        }
        Ok(doomed.len())
    }

    /// Deletes segments past retention (time and size; the active segment is rolled first
    /// when it is wholly expired) and rolls the active segment when it is older than
    /// `segment.ms`. Returns the number of segments deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize> {
        let mut deleted = 0;
        if self.config.retention_ms >= 0 {
            let cutoff = now_ms - self.config.retention_ms;
            let active = self.active();
            if !active.is_empty() && active.max_timestamp < cutoff {
                self.roll(now_ms)?;
            }
            let active_base = self.active().base_offset;
            let expired: Vec<i64> = self
                .segments
                .values()
                .take_while(|s| s.base_offset != active_base && s.max_timestamp < cutoff)
                .map(|s| s.base_offset)
                .collect();
            for base in expired {
                if let Some(seg) = self.segments.remove(&base) {
                    seg.delete()?;
                    deleted += 1;
                }
            }
        }
        if self.config.retention_bytes >= 0 {
            loop {
                let total = self.size_bytes();
                let active_base = self.active().base_offset;
                let Some(first) = self.segments.values().next() else {
                    break;
                };
                if first.base_offset == active_base
                    || total - first.size < self.config.retention_bytes as u64
                {
                    break;
                }
                let base = first.base_offset;
                if let Some(seg) = self.segments.remove(&base) {
                    seg.delete()?;
                    deleted += 1;
                }
            }
        }
        let active = self.active();
        if !active.is_empty() && now_ms - active.created_ms >= self.config.segment_ms {
            self.roll(now_ms)?;
        }
        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        if first_base > self.log_start_offset {
            self.log_start_offset = first_base;
            self.persist_log_start()?;
        }
        Ok(deleted)
    }

    /// fsyncs data and writes the index files.
    pub fn flush(&mut self) -> Result<()> {
        self.active().flush()?;
        self.records_since_flush = 0;
        Ok(())
    }

    /// Applies a changed topic config (retention, segment size, flush policy…).
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Headers of every stored batch at or after `from_offset`, in order (used to rebuild
    /// idempotent-producer state and to replay internal topics at start-up).
    pub fn batch_headers(&self, from_offset: i64) -> Result<Vec<BatchHeader>> {
        let mut out = Vec::new();
        for seg in self.segments.values() {
            if seg.next_offset <= from_offset {
                continue;
            }
            for (h, _) in seg.headers_from(0)? {
                if h.last_offset() >= from_offset {
                    out.push(h);
                }
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
mod tests;
