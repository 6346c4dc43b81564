//! One segment: a `.log` file of v2 batches plus its sparse offset and time indexes.
//!
//! The indexes live in memory and are written to `.index` (relative offset u32, position
//! u32) and `.timeindex` (timestamp i64, relative offset u32) when the segment rolls, is
//! flushed or closed. At start-up they are rebuilt from the batch headers, which is also how
//! a torn tail is found (see [`Segment::open`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::batch::{self, BatchHeader, HEADER_SIZE};
use crate::error::{Error, Result};

/// One index entry: the first offset of a batch and its file position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IndexEntry {
    pub(super) offset: i64,
    pub(super) position: u64,
}

/// One time-index entry: the segment's max timestamp grew to `timestamp` at the batch
/// starting at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TimeEntry {
    pub(super) timestamp: i64,
    pub(super) offset: i64,
}

#[derive(Debug)]
pub(super) struct Segment {
    pub(super) base_offset: i64,
    pub(super) path: PathBuf,
    file: File,
    pub(super) size: u64,
    /// Offset the next batch appended here would get.
    pub(super) next_offset: i64,
    pub(super) index: Vec<IndexEntry>,
    pub(super) time_index: Vec<TimeEntry>,
    /// Largest batch max timestamp, and the last offset of that batch.
    pub(super) max_timestamp: i64,
    pub(super) offset_of_max_timestamp: i64,
    /// Wall-clock time of the first append (segment.ms is measured from it).
    pub(super) created_ms: i64,
    bytes_since_index: u64,
    index_interval: u64,
}

pub(super) fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

impl Segment {
    /// Creates an empty segment.
    pub(super) fn create(
        dir: &Path,
        base_offset: i64,
        index_interval: u32,
        now_ms: i64,
    ) -> Result<Self> {
        let path = dir.join(file_name(base_offset, "log"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("failed to create segment {}", path.display()), e))?;
        // A leftover file of that name (a segment deleted before a crash) starts empty.
        file.set_len(0)
            .map_err(|e| Error::io(format!("failed to reset segment {}", path.display()), e))?;
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
        }
    }

    /// Opens an existing segment and rebuilds its indexes from the batch headers. With
    /// `recover`, every batch's CRC is checked and the file is truncated at the first torn
    /// or corrupt batch (the active segment after a crash).
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
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("failed to stat {}", path.display()), e))?
            .len();
        let created_ms = file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
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
        let mut pos = 0u64;
        let mut header_buf = [0u8; HEADER_SIZE];
        while pos < len {
            if len - pos < HEADER_SIZE as u64 {
                break;
            }
            if seg.file.read_exact_at(&mut header_buf, pos).is_err() {
                break;
            }
            let Ok(h) = BatchHeader::parse(&header_buf) else {
                break;
            };
            if h.magic != 2 || h.batch_length < (HEADER_SIZE - batch::LOG_OVERHEAD) as i32 {
                break;
            }
            let total = h.total_size() as u64;
            if pos + total > len {
                break;
            }
            if recover {
                let mut whole = vec![0u8; total as usize];
                if seg.file.read_exact_at(&mut whole, pos).is_err()
                    || batch::validate_batches(&whole, usize::MAX).is_err()
                {
                    break;
                }
            }
            seg.track(&h, pos);
            pos += total;
        }
        if pos < len {
            if !recover {
                return Err(Error::CorruptBatch(format!(
                    "segment {} has {} unreadable bytes at position {pos}",
                    path.display(),
                    len - pos
                )));
            }
            tracing::warn!(segment = %path.display(), truncated_bytes = len - pos, valid_bytes = pos, "truncating torn tail of the active segment");
            seg.file
                .set_len(pos)
                .map_err(|e| Error::io(format!("failed to truncate {}", path.display()), e))?;
            seg.file
                .sync_all()
                .map_err(|e| Error::io(format!("failed to sync {}", path.display()), e))?;
        }
        seg.size = pos;
        Ok(seg)
    }

    /// Updates in-memory state for a batch written at `pos`.
    fn track(&mut self, h: &BatchHeader, pos: u64) {
        if self.index.is_empty() || self.bytes_since_index >= self.index_interval {
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
            self.time_index.push(TimeEntry {
                timestamp: h.max_timestamp,
                offset: h.base_offset,
            });
        }
        self.next_offset = h.last_offset() + 1;
    }

    /// Appends stamped batches (one write), indexing each.
    pub(super) fn append(
        &mut self,
        pieces: &mut [std::io::IoSlice<'_>],
        headers: &[(BatchHeader, u64)],
    ) -> Result<()> {
        let len: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        // One writev per append: the stamped batch prefixes and the request's own bytes,
        // with no copy of the records in user space.
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
        let start = self.size;
        for (h, rel) in headers {
            self.track(h, start + rel);
        }
        self.size += len;
        Ok(())
    }

    /// Position of the batch containing `offset` (which must be in this segment).
    pub(super) fn position_of(&self, offset: i64) -> Result<Option<u64>> {
        let idx = self.index.partition_point(|e| e.offset <= offset);
        let mut pos = if idx == 0 {
            0
        } else {
            self.index[idx - 1].position
        };
        let mut header_buf = [0u8; HEADER_SIZE];
        while pos < self.size {
            self.read_at(&mut header_buf, pos)?;
            let h = BatchHeader::parse(&header_buf)?;
            if h.last_offset() >= offset {
                return Ok(Some(pos));
            }
            pos += h.total_size() as u64;
        }
        Ok(None)
    }

    /// Reads exactly `buf.len()` bytes at `pos`.
    pub(super) fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, pos)
            .map_err(|e| Error::io(format!("failed to read {}", self.path.display()), e))
    }

    /// Headers of every batch from `pos`, with their positions.
    pub(super) fn headers_from(&self, mut pos: u64) -> Result<Vec<(BatchHeader, u64)>> {
        let mut out = Vec::new();
        let mut header_buf = [0u8; HEADER_SIZE];
        while pos < self.size {
            self.read_at(&mut header_buf, pos)?;
            let h = BatchHeader::parse(&header_buf)?;
            out.push((h, pos));
            pos += h.total_size() as u64;
        }
        Ok(out)
    }

    /// Writes the index files and fsyncs everything.
    pub(super) fn flush(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("failed to sync {}", self.path.display()), e))?;
        let mut idx = Vec::with_capacity(self.index.len() * 8);
        for e in &self.index {
            idx.extend_from_slice(&((e.offset - self.base_offset) as u32).to_be_bytes());
            idx.extend_from_slice(&(e.position as u32).to_be_bytes());
        }
        let mut tidx = Vec::with_capacity(self.time_index.len() * 12);
        for e in &self.time_index {
            tidx.extend_from_slice(&e.timestamp.to_be_bytes());
            tidx.extend_from_slice(&((e.offset - self.base_offset) as u32).to_be_bytes());
        }
        for (ext, bytes) in [("index", idx), ("timeindex", tidx)] {
            let path = self.path.with_extension(ext);
            std::fs::write(&path, bytes)
                .map_err(|e| Error::io(format!("failed to write {}", path.display()), e))?;
        }
        Ok(())
    }

    /// Deletes the segment's files.
    pub(super) fn delete(self) -> Result<()> {
        for ext in ["log", "index", "timeindex"] {
            let path = self.path.with_extension(ext);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("failed to delete {}", path.display()), e)),
            }
        }
        Ok(())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.size == 0
    }
}
