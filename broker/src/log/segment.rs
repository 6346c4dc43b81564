//! One segment: a `.log` file of v2 batches plus its sparse offset and time indexes.
//!
//! The indexes live in memory (see [`super::index`] for their files). Index files are only
//! ever written right after the log file was fsynced, so every entry on disk points at
//! durable data; at open they are checked against the log and rebuilt from the batch headers
//! when missing or inconsistent. Recovery of the active segment (CRC check of every batch,
//! torn tail truncated) starts at the last trusted index entry, or at the start.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::batch::{self, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use super::index::{self, IndexEntry, TimeEntry};
use crate::error::{Error, Result};

/// Smallest valid `batchLength`: a header with no records.
const MIN_BATCH_LENGTH: i32 = (HEADER_SIZE - LOG_OVERHEAD) as i32;

/// Source of [`Segment::id`].
static NEXT_SEGMENT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[derive(Debug)]
pub(super) struct Segment {
    /// Unique in this process: tells a segment from a later one of the same base offset.
    pub(super) id: u64,
    pub(super) base_offset: i64,
    pub(super) path: PathBuf,
    file: File,
    /// Bytes of whole batches in the `.log` file.
    pub(super) size: u64,
    /// Offset the next batch appended here would get.
    pub(super) next_offset: i64,
    index: Vec<IndexEntry>,
    pub(super) time_index: Vec<TimeEntry>,
    /// Largest batch max timestamp (-1 when no batch has one), and the last offset of the
    /// first batch that reached it.
    pub(super) max_timestamp: i64,
    pub(super) offset_of_max_timestamp: i64,
    /// Wall-clock time of the first append (segment.ms is measured from it); at open, the
    /// file's creation time.
    pub(super) created_ms: i64,
    bytes_since_index: u64,
    index_interval: u64,
    /// Offset-index entries in the `.index` file as last written; `None` when the files are
    /// missing or stale.
    persisted_entries: Option<usize>,
}

pub(super) fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

impl Segment {
    /// Creates an empty segment, replacing leftovers of a segment of the same base offset
    /// whose deletion a crash interrupted.
    pub(super) fn create(
        dir: &Path,
        base_offset: i64,
        index_interval: u32,
        now_ms: i64,
    ) -> Result<Self> {
        let path = dir.join(file_name(base_offset, "log"));
        remove_files(&path)?;
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("failed to create segment {}", path.display()), e))?;
        Ok(Segment::empty(
            base_offset,
            path,
            file,
            now_ms,
            index_interval,
        ))
    }

    fn empty(
        base_offset: i64,
        path: PathBuf,
        file: File,
        created_ms: i64,
        index_interval: u32,
    ) -> Self {
        Segment {
            id: NEXT_SEGMENT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            base_offset,
            path,
            file,
            size: 0,
            next_offset: base_offset,
            index: Vec::new(),
            time_index: Vec::new(),
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            created_ms,
            bytes_since_index: 0,
            index_interval: index_interval.max(1) as u64,
            persisted_entries: None,
        }
    }

    /// Opens an existing segment. Its index files are used when consistent with the log and
    /// rebuilt (and rewritten) otherwise. With `recover` (the active segment after a possible
    /// crash), every batch after the last trusted index entry has its CRC checked and the file
    /// is truncated at the first torn or corrupt batch; without it, unreadable bytes are an
    /// error.
    pub(super) fn open(
        path: &Path,
        base_offset: i64,
        index_interval: u32,
        recover: bool,
    ) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("failed to open segment {}", path.display()), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("failed to stat {}", path.display()), e))?;
        let len = meta.len();
        let created_ms = meta
            .created()
            .or_else(|_| meta.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or_else(crate::now_ms);
        let mut seg = Segment::empty(
            base_offset,
            path.to_path_buf(),
            file,
            created_ms,
            index_interval,
        );
        let mut start = 0;
        let loaded = seg.load_indexes(len, recover)?;
        let trusted_indexes = loaded.is_some();
        if let Some((mut offsets, times)) = loaded {
            seg.persisted_entries = Some(offsets.len());
            // Re-track the batch at the last entry (pushing that entry again) and the rest.
            if let Some(last) = offsets.pop() {
                start = last.position;
                seg.next_offset = last.offset;
                seg.bytes_since_index = seg.index_interval;
            }
            if let Some(t) = times.last() {
                seg.max_timestamp = t.timestamp;
                seg.offset_of_max_timestamp = t.offset;
            }
            seg.index = offsets;
            seg.time_index = times;
        }
        let mut end = seg.scan(start, len, recover)?;
        let time_index_ahead = seg
            .time_index
            .last()
            .is_some_and(|t| t.offset >= seg.next_offset);
        if trusted_indexes && time_index_ahead {
            // The time index names batches the log no longer has: scan it all.
            seg.reset();
            end = seg.scan(0, len, recover)?;
        }
        if end < len {
            if !recover {
                return Err(Error::CorruptBatch(format!(
                    "segment {} has {} unreadable bytes at position {end}",
                    path.display(),
                    len - end
                )));
            }
            tracing::warn!(
                segment = %path.display(),
                truncated_bytes = len - end,
                valid_bytes = end,
                "truncating torn tail of the active segment"
            );
            seg.file
                .set_len(end)
                .map_err(|e| Error::io(format!("failed to truncate {}", path.display()), e))?;
            seg.file
                .sync_all()
                .map_err(|e| Error::io(format!("failed to sync {}", path.display()), e))?;
        }
        seg.size = end;
        if seg.persisted_entries.is_none() {
            // Rebuilt: make the data durable, then write the index files.
            seg.flush()?;
        }
        Ok(seg)
    }

    /// The segment's index files when both decode and the batch at the last offset entry is
    /// there (CRC-checked when `verify_crc`).
    fn load_indexes(
        &self,
        log_len: u64,
        verify_crc: bool,
    ) -> Result<Option<(Vec<IndexEntry>, Vec<TimeEntry>)>> {
        let (Some(offsets), Some(times)) = (
            index::read_if_exists(&self.path.with_extension("index"))?,
            index::read_if_exists(&self.path.with_extension("timeindex"))?,
        ) else {
            return Ok(None);
        };
        let (Some(offsets), Some(times)) = (
            index::decode_offset_index(self.base_offset, &offsets, log_len),
            index::decode_time_index(self.base_offset, &times),
        ) else {
            return Ok(None);
        };
        let Some(last) = offsets.last() else {
            // An empty index only describes an empty log.
            return Ok((log_len == 0 && times.is_empty()).then_some((offsets, times)));
        };
        let matches = self
            .batch_at(last.position, log_len, last.offset, verify_crc)?
            .is_some_and(|h| h.base_offset == last.offset);
        Ok(matches.then_some((offsets, times)))
    }

    /// Forgets everything learnt from index files or a partial scan.
    fn reset(&mut self) {
        self.next_offset = self.base_offset;
        self.index.clear();
        self.time_index.clear();
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.bytes_since_index = 0;
        self.persisted_entries = None;
    }

    /// Tracks every readable batch from `pos`; returns where the readable batches end.
    fn scan(&mut self, mut pos: u64, len: u64, verify_crc: bool) -> Result<u64> {
        while pos < len {
            let Some(h) = self.batch_at(pos, len, self.next_offset, verify_crc)? else {
                break;
            };
            self.track(&h, pos);
            pos += h.total_size() as u64;
        }
        Ok(pos)
    }

    /// The header of a whole, well-formed batch at `pos` of a `len`-byte log whose base
    /// offset is at least `min_offset`, or `None` when the bytes there are not one (torn or,
    /// with `verify_crc`, corrupt). Read errors are errors, not torn batches.
    fn batch_at(
        &self,
        pos: u64,
        len: u64,
        min_offset: i64,
        verify_crc: bool,
    ) -> Result<Option<BatchHeader>> {
        if len.saturating_sub(pos) < HEADER_SIZE as u64 {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_SIZE];
        self.read_at(&mut header, pos)?;
        let h = BatchHeader::parse(&header)?;
        if h.magic != 2
            || h.batch_length < MIN_BATCH_LENGTH
            || h.last_offset_delta < 0
            || h.base_offset < min_offset
            || pos + h.total_size() as u64 > len
        {
            return Ok(None);
        }
        if verify_crc {
            let mut whole = vec![0u8; h.total_size()];
            self.read_at(&mut whole, pos)?;
            if batch::validate_batches(&whole, usize::MAX).is_err() {
                return Ok(None);
            }
        }
        Ok(Some(h))
    }

    /// Updates in-memory state for a batch written at `pos`.
    fn track(&mut self, h: &BatchHeader, pos: u64) {
        let indexed = self.index.is_empty() || self.bytes_since_index >= self.index_interval;
        if indexed {
            self.index.push(IndexEntry {
                offset: h.base_offset,
                position: pos,
            });
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.total_size() as u64;
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        let grew = match self.time_index.last() {
            Some(t) => self.max_timestamp > t.timestamp,
            None => self.max_timestamp >= 0,
        };
        if indexed && grew {
            self.time_index.push(TimeEntry {
                timestamp: self.max_timestamp,
                offset: self.offset_of_max_timestamp,
            });
        }
        self.next_offset = h.last_offset() + 1;
    }

    /// Appends stamped batches with one vectored write (looping only on a short write),
    /// indexing each; `headers` holds each batch's header and position within the write.
    pub(super) fn append(
        &mut self,
        pieces: &mut [std::io::IoSlice<'_>],
        headers: &[(BatchHeader, u64)],
        now_ms: i64,
    ) -> Result<()> {
        let len: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        let mut rest: &mut [std::io::IoSlice<'_>] = pieces;
        while !rest.is_empty() {
            let n = self.file.write_vectored(rest).map_err(|e| {
                Error::io(format!("failed to append to {}", self.path.display()), e)
            })?;
            if n == 0 {
                return Err(Error::io(
                    format!("failed to append to {}", self.path.display()),
                    std::io::Error::from(std::io::ErrorKind::WriteZero),
                ));
            }
            std::io::IoSlice::advance_slices(&mut rest, n);
        }
        if self.is_empty() {
            self.created_ms = now_ms;
        }
        let start = self.size;
        for (h, rel) in headers {
            self.track(h, start + rel);
        }
        self.size += len;
        Ok(())
    }

    /// Cuts the segment before the batch holding `offset` (or the first batch after it):
    /// the file is truncated there and the in-memory indexes rebuilt; the index files are
    /// rewritten at the next flush. A follower does this when its log diverged from its new
    /// leader's.
    pub(super) fn truncate_to(&mut self, offset: i64) -> Result<()> {
        let Some(pos) = self.position_of(offset)? else {
            return Ok(());
        };
        // The batch holding `offset` may start before it: cut at its start.
        self.file
            .set_len(pos)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| Error::io(format!("failed to truncate {}", self.path.display()), e))?;
        self.reset();
        let end = self.scan(0, pos, false)?;
        self.size = end;
        Ok(())
    }

    /// Position of the batch containing `offset` (or the first batch after it), `None` when
    /// every batch here is below `offset`.
    pub(super) fn position_of(&self, offset: i64) -> Result<Option<u64>> {
        let idx = self.index.partition_point(|e| e.offset <= offset);
        let from = idx.checked_sub(1).map_or(0, |i| self.index[i].position);
        for batch in self.batches(from) {
            let (h, pos) = batch?;
            if h.last_offset() >= offset {
                return Ok(Some(pos));
            }
        }
        Ok(None)
    }

    /// Reads exactly `buf.len()` bytes at `pos`.
    pub(super) fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, pos)
            .map_err(|e| Error::io(format!("failed to read {}", self.path.display()), e))
    }

    /// Headers of the batches from position `pos` on, with their positions.
    pub(super) fn batches(&self, pos: u64) -> Batches<'_> {
        Batches { segment: self, pos }
    }

    /// fsyncs the log file, then rewrites the index files if they gained entries.
    pub(super) fn flush(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("failed to sync {}", self.path.display()), e))?;
        if self.persisted_entries == Some(self.index.len()) {
            return Ok(());
        }
        // The time index first: if only it is written before a crash, it is merely ahead
        // of the offset index, which open() accepts.
        index::write_replacing(
            &self.path.with_extension("timeindex"),
            &index::encode_time_index(self.base_offset, &self.time_index),
        )?;
        index::write_replacing(
            &self.path.with_extension("index"),
            &index::encode_offset_index(self.base_offset, &self.index),
        )?;
        self.persisted_entries = Some(self.index.len());
        Ok(())
    }

    /// The timestamp retention compares: the newest batch timestamp, or the file's
    /// modification time when no batch carries one (as Kafka does).
    pub(super) fn retention_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            return self.max_timestamp;
        }
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(self.created_ms, |d| d.as_millis() as i64)
    }

    /// Deletes the segment's files (indexes first, so a crash never leaves a log whose
    /// stale index looks valid).
    pub(super) fn delete(self) -> Result<()> {
        remove_files(&self.path)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.size == 0
    }
}

/// Removes a segment's index files and then its log, ignoring files that are not there.
pub(super) fn remove_files(log_path: &Path) -> Result<()> {
    for ext in ["index", "timeindex", "index.tmp", "timeindex.tmp", "log"] {
        let path = log_path.with_extension(ext);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("failed to delete {}", path.display()), e)),
        }
    }
    Ok(())
}

/// Iterator over the batch headers of a segment from a position (see [`Segment::batches`]).
pub(super) struct Batches<'a> {
    segment: &'a Segment,
    pos: u64,
}

impl Iterator for Batches<'_> {
    type Item = Result<(BatchHeader, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.segment.size {
            return None;
        }
        let pos = self.pos;
        let mut header = [0u8; HEADER_SIZE];
        let parsed = self
            .segment
            .read_at(&mut header, pos)
            .and_then(|()| BatchHeader::parse(&header));
        match parsed {
            Ok(h) if h.batch_length >= MIN_BATCH_LENGTH => {
                self.pos += h.total_size() as u64;
                Some(Ok((h, pos)))
            }
            Ok(h) => {
                self.pos = u64::MAX;
                Some(Err(Error::CorruptBatch(format!(
                    "batch length {} at position {pos} of {}",
                    h.batch_length,
                    self.segment.path.display()
                ))))
            }
            Err(e) => {
                self.pos = u64::MAX;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::tests::batch;

    fn stamped(values: &[&str], base_offset: i64, timestamp: i64) -> Vec<u8> {
        let mut b = batch(values, timestamp);
        batch::stamp(&mut b, base_offset, 0);
        b
    }

    fn append(seg: &mut Segment, bytes: &[u8]) {
        let h = BatchHeader::parse(bytes).unwrap();
        seg.append(&mut [std::io::IoSlice::new(bytes)], &[(h, 0)], 1)
            .unwrap();
    }

    #[test]
    fn time_index_is_sparse_and_names_the_batch_that_reached_the_max() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 10, 1, 0).unwrap();
        append(&mut seg, &stamped(&["a", "b"], 10, 500));
        append(&mut seg, &stamped(&["c"], 12, 400));
        append(&mut seg, &stamped(&["d"], 13, 900));
        assert_eq!(seg.max_timestamp, 900);
        assert_eq!(seg.offset_of_max_timestamp, 13);
        let ts: Vec<_> = seg
            .time_index
            .iter()
            .map(|t| (t.timestamp, t.offset))
            .collect();
        assert_eq!(
            ts,
            vec![(500, 11), (900, 13)],
            "no entry for the older batch"
        );
        let mut sparse = Segment::create(dir.path(), 100, 1 << 20, 0).unwrap();
        for i in 0..5 {
            append(&mut sparse, &stamped(&["x"], 100 + i, 1000 + i));
        }
        assert_eq!(sparse.index.len(), 1, "one entry per interval");
        assert_eq!(sparse.time_index.len(), 1);
        assert_eq!(sparse.max_timestamp, 1004);
    }

    #[test]
    fn reopened_segment_loads_its_indexes_and_matches_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, 150, 0).unwrap();
        for i in 0..12 {
            append(&mut seg, &stamped(&["v"], i, 100 + (i % 4) * 10));
        }
        seg.flush().unwrap();
        let path = seg.path.clone();
        let loaded = Segment::open(&path, 0, 150, true).unwrap();
        assert_eq!(loaded.persisted_entries, Some(seg.index.len()));
        for ext in ["index", "timeindex"] {
            std::fs::remove_file(path.with_extension(ext)).unwrap();
        }
        let rebuilt = Segment::open(&path, 0, 150, false).unwrap();
        assert!(
            path.with_extension("index").exists(),
            "rebuilt files written"
        );
        for other in [&loaded, &rebuilt] {
            assert_eq!(other.index, seg.index);
            assert_eq!(other.time_index, seg.time_index);
            assert_eq!(other.next_offset, seg.next_offset);
            assert_eq!(other.size, seg.size);
            assert_eq!(other.max_timestamp, seg.max_timestamp);
            assert_eq!(other.offset_of_max_timestamp, seg.offset_of_max_timestamp);
        }
    }

    #[test]
    fn an_index_pointing_at_the_wrong_batch_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, 1, 0).unwrap();
        for i in 0..4 {
            append(&mut seg, &stamped(&["v"], i, 1));
        }
        seg.flush().unwrap();
        let path = seg.path.clone();
        // Entries (0, 0), (1, p1), (3, p2): well ordered, but offset 3 is not at p2.
        let mut entries = seg.index.clone();
        entries.remove(3);
        entries[2].offset = 3;
        std::fs::write(
            path.with_extension("index"),
            index::encode_offset_index(0, &entries),
        )
        .unwrap();
        let reopened = Segment::open(&path, 0, 1, false).unwrap();
        assert_eq!(reopened.index, seg.index);
        assert_eq!(reopened.next_offset, 4);
        assert_eq!(
            std::fs::read(path.with_extension("index")).unwrap(),
            index::encode_offset_index(0, &seg.index),
            "rewritten"
        );
    }

    #[test]
    fn unreadable_bytes_in_a_closed_segment_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, 1, 0).unwrap();
        append(&mut seg, &stamped(&["v"], 0, 1));
        seg.flush().unwrap();
        let path = seg.path.clone();
        drop(seg);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[7u8; 100]).unwrap();
        assert!(matches!(
            Segment::open(&path, 0, 1, false),
            Err(Error::CorruptBatch(_))
        ));
        let recovered = Segment::open(&path, 0, 1, true).unwrap();
        assert_eq!(recovered.next_offset, 1);
    }
}
