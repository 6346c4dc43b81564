//! The Raft log on disk: `raft.log` holds entries as frames (`u32` length, `u32` CRC-32C of
//! the payload, JSON payload), appended and fsynced before openraft is told they are
//! durable; `raft-state.json` holds the vote (fsynced: a node must never vote twice in a
//! term), the last purged log id and the committed log id (a hint, not fsynced).
//!
//! Entries are also kept in memory (the metadata log is small and purged behind every
//! snapshot). Truncation and purging rewrite the file (temp file, fsync, rename): both are
//! rare. At open a torn or corrupt tail (a crash mid-append) is cut off; those entries were
//! never acknowledged as durable, so Raft will fetch them again from the leader.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogId, RaftLogReader, StorageIOError, Vote};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{Entry, LogId, NodeId, StorageError, TypeConfig};

const LOG_FILE: &str = "raft.log";
const STATE_FILE: &str = "raft-state.json";
/// A frame larger than this is corruption, not an entry.
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// What `raft-state.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PersistedState {
    vote: Option<Vote<NodeId>>,
    last_purged: Option<LogId>,
    committed: Option<LogId>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    file: Arc<std::sync::Mutex<File>>,
    entries: BTreeMap<u64, Entry>,
    state: PersistedState,
}

/// The durable Raft log. Cloning shares it (openraft reads through a clone).
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn io_error(context: &str, path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{context} {}: {e}", path.display()))
}

/// Encodes one entry as a frame.
fn frame(entry: &Entry) -> std::io::Result<Vec<u8>> {
    let payload = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Reads every whole, intact frame; returns the entries and the length of the valid prefix.
fn parse_frames(bytes: &[u8]) -> (Vec<Entry>, usize) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_be_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        if len > MAX_FRAME || pos + 8 + len > bytes.len() {
            break;
        }
        let payload = &bytes[pos + 8..pos + 8 + len];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        match serde_json::from_slice::<Entry>(payload) {
            Ok(entry) => out.push(entry),
            Err(_) => break,
        }
        pos += 8 + len;
    }
    (out, pos)
}

fn write_atomically(path: &Path, bytes: &[u8], fsync: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| io_error("failed to create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| io_error("failed to write", &tmp, e))?;
    if fsync {
        f.sync_all()
            .map_err(|e| io_error("failed to fsync", &tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io_error("failed to rename", &tmp, e))?;
    if fsync && let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("failed to fsync", dir, e))?;
    }
    Ok(())
}

impl Inner {
    fn save_state(&self, fsync: bool) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(std::io::Error::other)?;
        write_atomically(&self.dir.join(STATE_FILE), &bytes, fsync)
    }

    /// Rewrites `raft.log` with exactly the entries in memory.
    fn rewrite(&mut self) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        for entry in self.entries.values() {
            bytes.extend(frame(entry)?);
        }
        let path = self.dir.join(LOG_FILE);
        write_atomically(&path, &bytes, true)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_error("failed to open", &path, e))?;
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = file;
        Ok(())
    }
}

impl LogStore {
    /// Opens (creating) the log in `dir`, cutting off a torn tail.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("failed to create", dir, e))?;
        let state: PersistedState = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is corrupt: {e}", dir.join(STATE_FILE).display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PersistedState::default(),
            Err(e) => return Err(io_error("failed to read", &dir.join(STATE_FILE), e)),
        };
        let path = dir.join(LOG_FILE);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)
                    .map_err(|e| io_error("failed to read", &path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("failed to open", &path, e)),
        }
        let (parsed, valid) = parse_frames(&bytes);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_error("failed to open", &path, e))?;
        if valid < bytes.len() {
            tracing::warn!(file = %path.display(), kept = valid, dropped = bytes.len() - valid, "metadata log has a torn tail; truncating it");
            file.set_len(valid as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| io_error("failed to truncate", &path, e))?;
        }
        let purged = state.last_purged.map(|l| l.index);
        let entries = parsed
            .into_iter()
            .filter(|e| purged.is_none_or(|p| e.log_id.index > p))
            .map(|e| (e.log_id.index, e))
            .collect();
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                file: Arc::new(std::sync::Mutex::new(file)),
                entries,
                state,
            })),
        })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.inner.lock().await;
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock().await;
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(inner.state.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.state.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let mut inner = self.inner.lock().await;
        inner.state.vote = Some(*vote);
        inner
            .save_state(true)
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        Ok(self.inner.lock().await.state.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut inner = self.inner.lock().await;
        inner.state.committed = committed;
        // A hint that lets a restarted node apply what it knows is committed before a leader
        // tells it; losing it costs nothing but that, so it is not fsynced.
        inner
            .save_state(false)
            .map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.inner.lock().await.state.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock().await;
        let mut bytes = Vec::new();
        for entry in entries {
            bytes.extend(frame(&entry).map_err(|e| StorageIOError::write_logs(&e))?);
            inner.entries.insert(entry.log_id.index, entry);
        }
        let file = inner.file.clone();
        let path = inner.dir.join(LOG_FILE);
        // Written and fsynced off the async workers; openraft learns of durability through
        // the callback, as storage-v2 intends.
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(&bytes)
                .and_then(|()| f.sync_data())
                .map_err(|e| io_error("failed to append to", &path, e))
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r);
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let storage = StorageIOError::write_logs(&e);
                callback.log_io_completed(Err(e));
                Err(storage.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock().await;
        inner.entries.retain(|index, _| *index < log_id.index);
        inner
            .rewrite()
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock().await;
        if inner
            .state
            .last_purged
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        inner.state.last_purged = Some(log_id);
        inner
            .save_state(true)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        inner.entries.retain(|index, _| *index > log_id.index);
        inner
            .rewrite()
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::cluster::raft::MetadataBatch;
    use crate::cluster::records::MetadataRecord;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(MetadataBatch {
                records: vec![MetadataRecord::ClusterCreated {
                    cluster_id: format!("c{index}"),
                }],
            }),
        }
    }

    #[test]
    fn a_torn_tail_is_cut_and_intact_entries_survive() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for i in 1..=3 {
            bytes.extend(frame(&entry(i)).unwrap());
        }
        let whole = bytes.len();
        let mut torn = frame(&entry(4)).unwrap();
        torn.truncate(torn.len() - 3);
        bytes.extend(torn);
        std::fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        let inner = store.inner.try_lock().unwrap();
        assert_eq!(
            inner.entries.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        drop(inner);
        assert_eq!(
            std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len() as usize,
            whole
        );
        // A flipped byte inside an entry ends the log there.
        let mut bad = bytes[..whole].to_vec();
        let last = whole - 5;
        bad[last] ^= 0xff;
        std::fs::write(dir.path().join(LOG_FILE), &bad).unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.inner.try_lock().unwrap().entries.len(), 2);
    }
}
