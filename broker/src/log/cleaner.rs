//! Log compaction: keep the latest record of every key (`cleanup.policy=compact`).
//!
//! A cleaning runs in three steps so that produce and fetch never wait on its I/O:
//!
//! 1. [`PartitionLog::clean_plan`], under the partition lock: decides whether the partition
//!    is due (the dirty share of the cleanable log reaches `min.cleanable.dirty.ratio`, or
//!    the oldest dirty record passed `max.compaction.lag.ms`) and takes an open read handle
//!    of every cleanable segment. The active segment and segments holding records younger
//!    than `min.compaction.lag.ms` are never cleaned.
//! 2. [`clean`], without the lock: builds a map key → last offset over the dirty section
//!    (what was appended since the last cleaning, recorded in `cleaner-checkpoint`), then
//!    rewrites the cleanable segments in groups of at most `segment.bytes` into
//!    `<base>.<end>.cleaned` files, keeping a record when no later record of its key is in
//!    the map. Offsets never change: a cleaned log has gaps, which consumers and committed
//!    offsets tolerate. Reads and writes are throttled to `log.cleaner.io.max.bytes.per.second`.
//! 3. [`PartitionLog::install_cleaned`], under the lock again: if the segments are still the
//!    ones planned (retention or a follower truncation may have changed them), each group's
//!    file is renamed to `<base>.<end>.swap` (the commit point), the old segments are deleted
//!    and the swap file becomes `<base>.log`. [`recover_swaps`] finishes an interrupted swap
//!    at open and throws away `.cleaned` leftovers.
//!
//! Record rules, as Kafka's cleaner: a batch whose records all stay is copied byte for byte;
//! one that loses some is re-encoded with the same compression, producer id, epoch and
//! sequences of the records it keeps, and still ends at its original last offset (so its
//! producer's last sequence stays); one that loses all is dropped, except the last batch of
//! each producer, which stays as an empty batch (header only) so the producer's sequence
//! survives a restart. Keyless records are
//! dropped (a compacted topic refuses them at produce). Tombstones (null values) stay until
//! their timestamp is `delete.retention.ms` old, then go with every older record of the key.
//! Control batches (transaction markers) are kept.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::records::{
    Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use super::PartitionLog;
use super::batch::{BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use super::segment::{self, Segment};
use crate::config::CompactionConfig;
use crate::error::{Error, Result};

/// File holding the first offset not yet cleaned (the start of the dirty section).
pub(super) const CHECKPOINT_FILE: &str = "cleaner-checkpoint";

/// A segment as the planner saw it; the handle keeps it readable if it is deleted meanwhile.
#[derive(Debug)]
struct SegmentView {
    id: u64,
    base: i64,
    next_offset: i64,
    size: u64,
    file: File,
}

/// What one cleaning will read: taken under the partition lock by [`PartitionLog::clean_plan`].
#[derive(Debug)]
pub struct CleanPlan {
    dir: PathBuf,
    /// The log's truncation count when planned.
    truncations: u64,
    segments: Vec<SegmentView>,
    /// Start of the dirty section.
    first_dirty: i64,
    config: CompactionConfig,
    segment_bytes: u64,
    /// Dirty bytes over cleanable bytes when planned.
    pub dirty_ratio: f64,
    /// Aborted transactions: their records are dropped and never shadow a committed key.
    aborted: Vec<crate::producer::AbortedTxn>,
}

impl CleanPlan {
    /// Whether `h` is a data batch of an aborted transaction.
    fn aborted(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.aborted.iter().any(|a| {
                a.producer_id == h.producer_id
                    && a.first_offset <= h.base_offset
                    && h.base_offset < a.last_offset
            })
    }
}

impl CleanPlan {
    /// Bytes of the segments this cleaning will read.
    pub fn cleanable_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }
}

/// What a cleaning did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    /// Bytes read (the key-map pass and the copy pass).
    pub bytes_read: u64,
    /// Bytes written to cleaned segments.
    pub bytes_written: u64,
    /// Records examined in the copy pass.
    pub records_read: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Tombstones dropped because `delete.retention.ms` passed.
    pub tombstones_dropped: u64,
    /// Segments before and after.
    pub segments_before: usize,
    /// Segments the cleaned ones became.
    pub segments_after: usize,
    /// Bytes of the segments before and after cleaning.
    pub size_before: u64,
    /// Bytes after.
    pub size_after: u64,
}

/// Cleaned segment files, written but not yet swapped in.
#[derive(Debug)]
pub struct Cleaned {
    groups: Vec<CleanedGroup>,
    truncations: u64,
    /// The dirty section is clean up to here after the swap.
    cleaned_to: i64,
    /// What the cleaning did.
    pub stats: CleanStats,
}

#[derive(Debug)]
struct CleanedGroup {
    base: i64,
    end: i64,
    /// (id, base, next offset, size) of the segments it replaces.
    replaces: Vec<(u64, i64, i64, u64)>,
    path: PathBuf,
}

/// Limits the cleaner's I/O to a byte rate by sleeping, and stops it when cancelled.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_second: u64,
    started: Instant,
    bytes: u64,
    cancel: Arc<AtomicBool>,
}

impl Throttle {
    /// A throttle at `bytes_per_second` (read plus write); setting `cancel` makes the
    /// cleaning using it fail at its next read or write.
    pub fn new(bytes_per_second: u64, cancel: Arc<AtomicBool>) -> Self {
        Throttle {
            bytes_per_second: bytes_per_second.max(1),
            started: Instant::now(),
            bytes: 0,
            cancel,
        }
    }

    /// Accounts for `n` bytes, sleeping while ahead of the rate.
    fn consume(&mut self, n: u64) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::io(
                "log cleaning",
                std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled"),
            ));
        }
        self.bytes += n;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.bytes_per_second as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
        Ok(())
    }
}

fn swap_name(base: i64, end: i64, ext: &str) -> String {
    format!("{base:020}.{end:020}.{ext}")
}

fn parse_group_name(name: &str, ext: &str) -> Option<(i64, i64)> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    let (base, end) = stem.split_once('.')?;
    Some((base.parse().ok()?, end.parse().ok()?))
}

/// At open, before segments are listed: deletes `.cleaned` files (a cleaning that had not
/// committed) and completes swaps that had (`.swap`: the segments it replaces are deleted and
/// it becomes `<base>.log`).
pub(super) fn recover_swaps(dir: &Path) -> Result<bool> {
    let mut swaps = Vec::new();
    let mut log_bases = Vec::new();
    let mut changed = false;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("failed to list {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("failed to list {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if parse_group_name(&name, "cleaned").is_some() || name.ends_with(".cleaning") {
            let path = dir.join(&name);
            std::fs::remove_file(&path)
                .map_err(|e| Error::io(format!("failed to delete {}", path.display()), e))?;
            changed = true;
        } else if let Some(range) = parse_group_name(&name, "swap") {
            swaps.push(range);
        } else if let Some(stem) = name.strip_suffix(".log")
            && let Ok(base) = stem.parse::<i64>()
        {
            log_bases.push(base);
        }
    }
    for (base, end) in swaps {
        for &old in log_bases.iter().filter(|&&b| b >= base && b < end) {
            segment::remove_files(&dir.join(segment::file_name(old, "log")))?;
        }
        let from = dir.join(swap_name(base, end, "swap"));
        let to = dir.join(segment::file_name(base, "log"));
        std::fs::rename(&from, &to)
            .map_err(|e| Error::io(format!("failed to rename {}", from.display()), e))?;
        tracing::info!(dir = %dir.display(), base, end, "completed an interrupted log cleaning");
        changed = true;
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(changed)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("failed to sync {}", dir.display()), e))
}

pub(super) fn read_checkpoint(dir: &Path) -> Option<i64> {
    std::fs::read_to_string(dir.join(CHECKPOINT_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn write_checkpoint(dir: &Path, offset: i64) -> Result<()> {
    let path = dir.join(CHECKPOINT_FILE);
    let tmp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, offset.to_string())?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| Error::io(format!("failed to write {}", path.display()), e))
}

impl PartitionLog {
    /// Where the dirty section starts: the cleaner checkpoint, kept inside the log.
    fn first_dirty(&self) -> i64 {
        // Not `clamp`: DeleteRecords can move the log start past the active segment's base.
        self.cleaner_checkpoint
            .max(self.log_start_offset)
            .min(self.active().base_offset)
    }

    /// The next cleaning of this partition, if its policy compacts and it is due; see the
    /// module docs. Cheap: segment metadata and one header read.
    pub fn clean_plan(&self, now_ms: i64) -> Result<Option<CleanPlan>> {
        self.clean_plan_with(now_ms, i64::MAX, &[])
    }

    /// [`PartitionLog::clean_plan`] of a log with transactions: nothing at or past
    /// `last_stable_offset` is cleaned (an open transaction's records could still abort),
    /// and the records of `aborted` transactions are dropped.
    pub fn clean_plan_with(
        &self,
        now_ms: i64,
        last_stable_offset: i64,
        aborted: &[crate::producer::AbortedTxn],
    ) -> Result<Option<CleanPlan>> {
        if !self.config.cleanup_policy.compacts() {
            return Ok(None);
        }
        let config = self.config.compaction;
        let first_dirty = self.first_dirty();
        let active_base = self.active().base_offset;
        let lag_cutoff = now_ms.saturating_sub(config.min_compaction_lag_ms);
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        let mut cleanable: Vec<&Segment> = Vec::new();
        let mut first_dirty_segment: Option<&Segment> = None;
        for seg in self.segments.values() {
            if seg.base_offset >= active_base || seg.next_offset > last_stable_offset {
                break;
            }
            if config.min_compaction_lag_ms > 0 && seg.retention_timestamp() > lag_cutoff {
                break;
            }
            if seg.next_offset <= first_dirty && seg.base_offset < first_dirty {
                clean_bytes += seg.size;
            } else {
                dirty_bytes += seg.size;
                first_dirty_segment.get_or_insert(seg);
            }
            cleanable.push(seg);
        }
        let Some(first) = first_dirty_segment else {
            return Ok(None);
        };
        if dirty_bytes == 0 {
            return Ok(None);
        }
        let ratio = dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64;
        let overdue = config.max_compaction_lag_ms < i64::MAX && {
            let mut header = [0u8; HEADER_SIZE];
            first.read_at(&mut header, 0).is_ok()
                && BatchHeader::parse(&header).is_ok_and(|h| {
                    h.base_timestamp >= 0
                        && h.base_timestamp < now_ms.saturating_sub(config.max_compaction_lag_ms)
                })
        };
        if ratio < config.min_cleanable_dirty_ratio && !overdue {
            return Ok(None);
        }
        // Only a due partition pays for the read handles.
        let views = cleanable
            .into_iter()
            .map(|seg| {
                let file = File::open(&seg.path)
                    .map_err(|e| Error::io(format!("failed to open {}", seg.path.display()), e))?;
                Ok(SegmentView {
                    id: seg.id,
                    base: seg.base_offset,
                    next_offset: seg.next_offset,
                    size: seg.size,
                    file,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(CleanPlan {
            dir: self.dir.clone(),
            truncations: self.truncations,
            segments: views,
            first_dirty,
            config,
            segment_bytes: self.config.segment_bytes,
            dirty_ratio: ratio,
            aborted: aborted.to_vec(),
        }))
    }

    /// Swaps cleaned segments in (see the module docs). Returns `None`, deleting the
    /// cleaned files, when the log changed under the cleaning so that it no longer applies.
    pub fn install_cleaned(&mut self, cleaned: Cleaned) -> Result<Option<CleanStats>> {
        let still_there = cleaned.truncations == self.truncations
            && cleaned.groups.iter().all(|g| {
                g.replaces.iter().all(|&(id, base, next, size)| {
                    base < self.active().base_offset
                        && self
                            .segments
                            .get(&base)
                            .is_some_and(|s| s.id == id && s.next_offset == next && s.size == size)
                })
            });
        if !still_there {
            for g in &cleaned.groups {
                let _ = std::fs::remove_file(&g.path);
            }
            tracing::info!(dir = %self.dir.display(), "the log changed during cleaning; cleaning again later");
            return Ok(None);
        }
        for g in cleaned.groups {
            let swap = self.dir.join(swap_name(g.base, g.end, "swap"));
            std::fs::rename(&g.path, &swap)
                .map_err(|e| Error::io(format!("failed to rename {}", g.path.display()), e))?;
            sync_dir(&self.dir)?;
            for &(_, base, _, _) in &g.replaces {
                if let Some(old) = self.segments.remove(&base) {
                    old.delete()?;
                }
            }
            let path = self.dir.join(segment::file_name(g.base, "log"));
            std::fs::rename(&swap, &path)
                .map_err(|e| Error::io(format!("failed to rename {}", swap.display()), e))?;
            let seg = Segment::open(&path, g.base, self.config.index_interval_bytes, false)?;
            self.segments.insert(g.base, seg);
        }
        sync_dir(&self.dir)?;
        self.dir_dirty = false;
        self.cleaner_checkpoint = cleaned.cleaned_to;
        write_checkpoint(&self.dir, cleaned.cleaned_to)?;
        Ok(Some(cleaned.stats))
    }
}

/// The throttle and the counters of one cleaning.
struct Io<'a> {
    throttle: &'a mut Throttle,
    stats: CleanStats,
}

/// Makes `buf` (holding the segment's bytes from `buf_start`) hold the `n` bytes at `pos`,
/// reading a megabyte or more.
fn fill(
    view: &SegmentView,
    io: &mut Io<'_>,
    buf: &mut Vec<u8>,
    buf_start: &mut u64,
    pos: u64,
    n: u64,
) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    if pos >= *buf_start && pos + n <= *buf_start + buf.len() as u64 {
        return Ok(());
    }
    let len = n.max(CHUNK).min(view.size - pos);
    if len < n {
        return Err(Error::CorruptBatch(format!(
            "segment {} ends inside a batch at position {pos}",
            view.base
        )));
    }
    buf.resize(len as usize, 0);
    view.file
        .read_exact_at(buf, pos)
        .map_err(|e| Error::io(format!("failed to read segment {}", view.base), e))?;
    *buf_start = pos;
    io.throttle.consume(len)?;
    io.stats.bytes_read += len;
    Ok(())
}

/// Reads every batch of a segment in order: `f(io, header, whole batch bytes)`.
fn for_each_batch(
    view: &SegmentView,
    io: &mut Io<'_>,
    mut f: impl FnMut(&mut Io<'_>, &BatchHeader, Bytes) -> Result<()>,
) -> Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = 0u64;
    let mut pos = 0u64;
    while pos < view.size {
        fill(view, io, &mut buf, &mut buf_start, pos, HEADER_SIZE as u64)?;
        let h = BatchHeader::parse(&buf[(pos - buf_start) as usize..])?;
        if h.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(Error::CorruptBatch(format!(
                "batch length {} at position {pos} of segment {}",
                h.batch_length, view.base
            )));
        }
        let size = h.total_size() as u64;
        fill(view, io, &mut buf, &mut buf_start, pos, size)?;
        let rel = (pos - buf_start) as usize;
        f(
            io,
            &h,
            Bytes::copy_from_slice(&buf[rel..rel + size as usize]),
        )?;
        pos += size;
    }
    Ok(())
}

/// The cleaning itself, without the partition lock: see the module docs. `key_budget` bounds
/// the memory of the key map; when it is reached the dirty section is cleaned only up to the
/// end of the segment being mapped.
pub fn clean(
    plan: &CleanPlan,
    now_ms: i64,
    key_budget: u64,
    throttle: &mut Throttle,
) -> Result<Cleaned> {
    let mut io = Io {
        throttle,
        stats: CleanStats::default(),
    };
    // 1. The key map over the dirty section, and the last batch of every producer.
    let mut map: HashMap<Bytes, i64> = HashMap::new();
    let mut map_bytes = 0u64;
    let mut last_of_producer: HashMap<i64, i64> = HashMap::new();
    let mut mapped_segments = plan.segments.len();
    for (i, view) in plan.segments.iter().enumerate() {
        let dirty = !(view.next_offset <= plan.first_dirty && view.base < plan.first_dirty);
        if dirty && map_bytes >= key_budget {
            mapped_segments = i;
            break;
        }
        for_each_batch(view, &mut io, |_, h, bytes| {
            if h.has_producer_id() {
                last_of_producer.insert(h.producer_id, h.base_offset);
            }
            if !dirty || h.is_control() || plan.aborted(h) {
                return Ok(());
            }
            let mut buf = bytes;
            let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| {
                Error::CorruptBatch(format!(
                    "cleaner could not decode the batch at {}: {e}",
                    h.base_offset
                ))
            })?;
            for r in set.records {
                let Some(key) = r.key else { continue };
                if let Some(offset) = map.get_mut(&key) {
                    *offset = r.offset;
                } else {
                    // A copy: the decoded key shares the whole (decompressed) batch's buffer.
                    map_bytes += key.len() as u64 + 48;
                    map.insert(Bytes::copy_from_slice(&key), r.offset);
                }
            }
            Ok(())
        })?;
    }
    let cleaned_segments = &plan.segments[..mapped_segments];
    let cleaned_to = plan
        .segments
        .get(mapped_segments)
        .map_or_else(
            || {
                cleaned_segments
                    .last()
                    .map_or(plan.first_dirty, |v| v.next_offset.max(v.base))
            },
            |next| next.base,
        )
        .max(plan.first_dirty);
    // 2. Rewrite them, consecutive segments into one file while what was written plus the
    // next segment's size fits `segment.bytes` (so segments that shrank merge).
    let tombstone_cutoff = now_ms.saturating_sub(plan.config.delete_retention_ms);
    let mut out: Vec<CleanedGroup> = Vec::new();
    let mut pending: Option<(CleanedGroup, BufWriter<File>, u64)> = None;
    let result = (|| -> Result<()> {
        for view in cleaned_segments {
            if let Some((g, _, written)) = &pending {
                let span = view.next_offset - g.base;
                if written + view.size > plan.segment_bytes || span > i64::from(i32::MAX) {
                    let (g, w, _) = pending.take().expect("pending group");
                    out.push(finish_group(g, w)?);
                    io.stats.segments_after += 1;
                }
            }
            if pending.is_none() {
                let path = plan.dir.join(format!("{:020}.cleaning", view.base));
                let file = File::create(&path)
                    .map_err(|e| Error::io(format!("failed to create {}", path.display()), e))?;
                let group = CleanedGroup {
                    base: view.base,
                    end: view.base + 1,
                    replaces: Vec::new(),
                    path,
                };
                pending = Some((group, BufWriter::with_capacity(1 << 20, file), 0));
            }
            let (group, w, written) = pending.as_mut().expect("pending group");
            group
                .replaces
                .push((view.id, view.base, view.next_offset, view.size));
            group.end = group.end.max(view.next_offset).max(view.base + 1);
            io.stats.segments_before += 1;
            io.stats.size_before += view.size;
            let path = group.path.clone();
            for_each_batch(view, &mut io, |io, h, bytes| {
                if plan.aborted(h) {
                    // Read-committed consumers never saw them; nothing may keep them.
                    let n = u64::from(h.records_count.max(0) as u32);
                    io.stats.records_read += n;
                    return Ok(());
                }
                let kept = filter_batch(
                    h,
                    bytes,
                    &map,
                    &last_of_producer,
                    tombstone_cutoff,
                    &mut io.stats,
                )?;
                if let Some(kept) = kept {
                    w.write_all(&kept)
                        .map_err(|e| Error::io(format!("failed to write {}", path.display()), e))?;
                    io.throttle.consume(kept.len() as u64)?;
                    io.stats.bytes_written += kept.len() as u64;
                    io.stats.size_after += kept.len() as u64;
                    *written += kept.len() as u64;
                }
                Ok(())
            })?;
        }
        if let Some((g, w, _)) = pending.take() {
            out.push(finish_group(g, w)?);
            io.stats.segments_after += 1;
        }
        Ok(())
    })();
    if let Some((g, _, _)) = &pending {
        let _ = std::fs::remove_file(&g.path);
    }
    if let Err(e) = result {
        for g in &out {
            let _ = std::fs::remove_file(&g.path);
        }
        return Err(e);
    }
    Ok(Cleaned {
        groups: out,
        truncations: plan.truncations,
        cleaned_to,
        stats: io.stats,
    })
}

/// Makes a written group durable under its final `.cleaned` name (which names its range).
fn finish_group(mut group: CleanedGroup, w: BufWriter<File>) -> Result<CleanedGroup> {
    let file = w.into_inner().map_err(|e| {
        Error::io(
            format!("failed to write {}", group.path.display()),
            e.into_error(),
        )
    })?;
    file.sync_all()
        .map_err(|e| Error::io(format!("failed to sync {}", group.path.display()), e))?;
    let Some(dir) = group.path.parent() else {
        return Err(Error::CorruptBatch(
            "a cleaned file has no directory".into(),
        ));
    };
    let named = dir.join(swap_name(group.base, group.end, "cleaned"));
    std::fs::rename(&group.path, &named)
        .map_err(|e| Error::io(format!("failed to rename {}", group.path.display()), e))?;
    group.path = named;
    Ok(group)
}

/// What stays of one batch: itself, a re-encoded batch of the records that stay, an empty
/// batch (a producer's last), or nothing.
fn filter_batch(
    h: &BatchHeader,
    bytes: Bytes,
    map: &HashMap<Bytes, i64>,
    last_of_producer: &HashMap<i64, i64>,
    tombstone_cutoff: i64,
    stats: &mut CleanStats,
) -> Result<Option<Bytes>> {
    if h.is_control() {
        stats.records_read += u64::from(h.records_count.max(0) as u32);
        stats.records_kept += u64::from(h.records_count.max(0) as u32);
        return Ok(Some(bytes));
    }
    let mut buf = bytes.clone();
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| {
        Error::CorruptBatch(format!(
            "cleaner could not decode the batch at {}: {e}",
            h.base_offset
        ))
    })?;
    let total = set.records.len();
    stats.records_read += total as u64;
    let log_append_time = h.attributes & 0x08 != 0;
    let mut kept = Vec::with_capacity(total);
    for r in set.records {
        let Some(key) = &r.key else {
            continue;
        };
        let latest = map.get(key).is_none_or(|&o| r.offset >= o);
        if !latest {
            continue;
        }
        let timestamp = if log_append_time {
            h.max_timestamp
        } else {
            r.timestamp
        };
        if r.value.is_none() && timestamp < tombstone_cutoff {
            stats.tombstones_dropped += 1;
            continue;
        }
        kept.push(r);
    }
    stats.records_kept += kept.len() as u64;
    if kept.len() == total {
        return Ok(Some(bytes));
    }
    if kept.is_empty() {
        let producers_last =
            h.has_producer_id() && last_of_producer.get(&h.producer_id) == Some(&h.base_offset);
        return Ok(producers_last.then(|| empty_batch(&bytes)));
    }
    // Without a producer the batch's base sequence must stay -1: number the kept records
    // from it (the encoder keeps records whose offset and sequence advance together in one
    // batch). With one, the decoded sequences are the records' own.
    if h.base_sequence < 0 {
        let first_offset = kept[0].offset;
        for r in &mut kept {
            r.sequence = (-1_i32).wrapping_add((r.offset - first_offset) as i32);
        }
    }
    let compression = match h.compression() {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    };
    let mut out = bytes::BytesMut::with_capacity(bytes.len());
    RecordBatchEncoder::encode(
        &mut out,
        kept.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| Error::CorruptBatch(format!("cleaner could not encode a batch: {e}")))?;
    // The encoder starts a new batch if records differ in producer or flags; they do not
    // here, but keep the stored batch whole rather than write something unexpected.
    let encoded = out.freeze();
    let Ok(eh) = BatchHeader::parse(&encoded) else {
        return Ok(Some(bytes));
    };
    if eh.total_size() != encoded.len() {
        return Ok(Some(bytes));
    }
    let mut encoded = encoded.to_vec();
    super::batch::stamp(&mut encoded, eh.base_offset, h.partition_leader_epoch);
    // The batch still ends at the original last offset, as Kafka's cleaner keeps it: the
    // last sequence of its producer and the segment's next offset stay what they were.
    super::batch::set_last_offset_delta(&mut encoded, (h.last_offset() - eh.base_offset) as i32);
    Ok(Some(Bytes::from(encoded)))
}

/// A batch of no records that keeps `bytes`' offsets, producer id, epoch and sequences.
fn empty_batch(bytes: &[u8]) -> Bytes {
    let mut b = bytes[..HEADER_SIZE].to_vec();
    b[8..12].copy_from_slice(&((HEADER_SIZE - LOG_OVERHEAD) as i32).to_be_bytes());
    let attributes = i16::from_be_bytes([b[21], b[22]]) & !0x07;
    b[21..23].copy_from_slice(&attributes.to_be_bytes());
    b[57..61].copy_from_slice(&0i32.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

#[cfg(test)]
mod tests;
