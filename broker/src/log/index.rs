//! The sparse indexes of a segment and their files.
//!
//! - `.index`: entries of (offset relative to the segment's base offset: u32, file position:
//!   u32), big endian. One entry every `index.interval.bytes` of log data, the first at
//!   position 0; each names the base offset of the batch that starts at that position.
//! - `.timeindex`: entries of (largest timestamp so far: i64, relative offset: u32), added at
//!   the same points as offset entries but only when the largest timestamp grew. The offset is
//!   the last offset of the batch that first reached that timestamp, so every batch before
//!   that one has a smaller max timestamp.
//!
//! Both live in memory and are rewritten whole (temporary file and rename, the time index
//! first) when their segment rolls, is flushed with new entries or closed. At open they are
//! trusted only when both decode here and the batch at the last offset entry matches (see
//! `Segment::open`); otherwise the segment's batch headers are scanned to rebuild them.

use std::path::Path;

use crate::error::{Error, Result};

/// Bytes of one `.index` entry.
pub(super) const INDEX_ENTRY_SIZE: usize = 8;
/// Bytes of one `.timeindex` entry.
pub(super) const TIME_ENTRY_SIZE: usize = 12;

/// One offset-index entry: the base offset of a batch and its file position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IndexEntry {
    pub(super) offset: i64,
    pub(super) position: u64,
}

/// One time-index entry: the segment's largest timestamp grew to `timestamp` in the batch
/// whose last offset is `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TimeEntry {
    pub(super) timestamp: i64,
    pub(super) offset: i64,
}

/// The `.index` bytes of `entries` in a segment based at `base_offset`. Callers keep relative
/// offsets and positions within u32 (segments roll before either would overflow).
pub(super) fn encode_offset_index(base_offset: i64, entries: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * INDEX_ENTRY_SIZE);
    for e in entries {
        out.extend_from_slice(&((e.offset - base_offset) as u32).to_be_bytes());
        out.extend_from_slice(&(e.position as u32).to_be_bytes());
    }
    out
}

/// Decodes `.index` bytes, or `None` when they cannot describe a log of `log_len` bytes: a
/// partial entry, a first entry other than (base, 0), offsets or positions not strictly
/// increasing, or a position at or past the end of the log.
pub(super) fn decode_offset_index(
    base_offset: i64,
    bytes: &[u8],
    log_len: u64,
) -> Option<Vec<IndexEntry>> {
    if !bytes.len().is_multiple_of(INDEX_ENTRY_SIZE) {
        return None;
    }
    let mut out: Vec<IndexEntry> = Vec::with_capacity(bytes.len() / INDEX_ENTRY_SIZE);
    for chunk in bytes.chunks_exact(INDEX_ENTRY_SIZE) {
        let relative = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let position = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        let entry = IndexEntry {
            offset: base_offset + relative as i64,
            position: position as u64,
        };
        let in_order = match out.last() {
            None => relative == 0 && position == 0,
            Some(prev) => entry.offset > prev.offset && entry.position > prev.position,
        };
        if !in_order || entry.position >= log_len {
            return None;
        }
        out.push(entry);
    }
    Some(out)
}

/// The `.timeindex` bytes of `entries` in a segment based at `base_offset`.
pub(super) fn encode_time_index(base_offset: i64, entries: &[TimeEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * TIME_ENTRY_SIZE);
    for e in entries {
        out.extend_from_slice(&e.timestamp.to_be_bytes());
        out.extend_from_slice(&((e.offset - base_offset) as u32).to_be_bytes());
    }
    out
}

/// Decodes `.timeindex` bytes, or `None` on a partial entry or entries whose timestamps or
/// offsets do not strictly increase.
pub(super) fn decode_time_index(base_offset: i64, bytes: &[u8]) -> Option<Vec<TimeEntry>> {
    if !bytes.len().is_multiple_of(TIME_ENTRY_SIZE) {
        return None;
    }
    let mut out: Vec<TimeEntry> = Vec::with_capacity(bytes.len() / TIME_ENTRY_SIZE);
    for chunk in bytes.chunks_exact(TIME_ENTRY_SIZE) {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&chunk[..8]);
        let relative = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
        let entry = TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            offset: base_offset + relative as i64,
        };
        if let Some(prev) = out.last()
            && (entry.timestamp <= prev.timestamp || entry.offset <= prev.offset)
        {
            return None;
        }
        out.push(entry);
    }
    Some(out)
}

/// Reads an index file; `None` when it does not exist.
pub(super) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("failed to read {}", path.display()), e)),
    }
}

/// Replaces `path` with `bytes` through a temporary file and a rename, so a crash leaves the
/// old or the new contents, never a mix (no fsync: an index is rebuilt when it is lost).
pub(super) fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::io(format!("failed to write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<IndexEntry> {
        vec![
            IndexEntry {
                offset: 100,
                position: 0,
            },
            IndexEntry {
                offset: 107,
                position: 4_200,
            },
            IndexEntry {
                offset: 130,
                position: 9_000,
            },
        ]
    }

    #[test]
    fn offset_index_round_trips_with_relative_offsets() {
        let bytes = encode_offset_index(100, &entries());
        assert_eq!(bytes.len(), 3 * INDEX_ENTRY_SIZE);
        assert_eq!(&bytes[8..12], &7u32.to_be_bytes());
        assert_eq!(decode_offset_index(100, &bytes, 9_001), Some(entries()));
        assert_eq!(decode_offset_index(100, &[], 0), Some(vec![]));
    }

    #[test]
    fn offset_index_that_cannot_match_the_log_is_refused() {
        let bytes = encode_offset_index(100, &entries());
        assert_eq!(
            decode_offset_index(100, &bytes[..bytes.len() - 3], 9_001),
            None,
            "partial entry"
        );
        assert_eq!(
            decode_offset_index(100, &bytes, 9_000),
            None,
            "position past the end of the log"
        );
        let mut swapped = entries();
        swapped.swap(1, 2);
        assert_eq!(
            decode_offset_index(100, &encode_offset_index(100, &swapped), 10_000),
            None
        );
        let zeroed = [bytes.clone(), vec![0u8; 8]].concat();
        assert_eq!(decode_offset_index(100, &zeroed, 10_000), None);
        assert_eq!(decode_offset_index(100, &bytes[8..], 10_000), None);
    }

    #[test]
    fn time_index_round_trips_and_refuses_disorder() {
        let entries = vec![
            TimeEntry {
                timestamp: 5,
                offset: 10,
            },
            TimeEntry {
                timestamp: 9,
                offset: 12,
            },
        ];
        let bytes = encode_time_index(10, &entries);
        assert_eq!(bytes.len(), 2 * TIME_ENTRY_SIZE);
        assert_eq!(decode_time_index(10, &bytes), Some(entries.clone()));
        assert_eq!(decode_time_index(10, &bytes[..13]), None);
        let backwards = encode_time_index(10, &[entries[1], entries[0]]);
        assert_eq!(decode_time_index(10, &backwards), None);
    }

    #[test]
    fn replacing_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.index");
        write_replacing(&path, b"one").unwrap();
        write_replacing(&path, b"two").unwrap();
        assert_eq!(read_if_exists(&path).unwrap(), Some(b"two".to_vec()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(read_if_exists(&dir.path().join("missing")).unwrap(), None);
    }
}
