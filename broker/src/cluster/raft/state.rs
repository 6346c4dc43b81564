//! The Raft state machine: the [`MetadataImage`], the last applied log id and membership.
//! Applying an entry applies its records and publishes the new image on a watch channel
//! (the broker reconciles its partitions, ACL cache and quotas from it).
//!
//! Snapshots are the whole state as JSON in `snapshot.json` (temp file, fsync, rename); at
//! open the state starts from it and openraft re-applies the log entries after it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, RaftSnapshotBuilder, SnapshotMeta, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{RwLock, watch};

use super::{Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::cluster::image::MetadataImage;

const SNAPSHOT_FILE: &str = "snapshot.json";

/// An image as of a log index.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Index of the last applied log entry (0 before any).
    pub index: u64,
    /// The image.
    pub image: Arc<MetadataImage>,
}

/// The state the machine keeps (and snapshots).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Data {
    last_applied: Option<LogId>,
    last_membership: StoredMembership<NodeId, BasicNode>,
    image: Arc<MetadataImage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Data,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    data: RwLock<Data>,
    snapshot: RwLock<Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>>,
    publish: watch::Sender<Published>,
}

/// The state machine; cloning shares it (openraft builds snapshots through a clone).
#[derive(Debug, Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
}

impl StateMachine {
    /// Opens the state machine in `dir`, starting from `snapshot.json` when there is one.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(SNAPSHOT_FILE);
        let (data, snapshot) = match std::fs::read(&path) {
            Ok(bytes) => {
                let stored: StoredSnapshot = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is corrupt: {e}", path.display()),
                    )
                })?;
                let payload = serde_json::to_vec(&stored.data).map_err(std::io::Error::other)?;
                (stored.data, Some((stored.meta, payload)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Data::default(), None),
            Err(e) => return Err(e),
        };
        let (publish, _) = watch::channel(Published {
            index: data.last_applied.map_or(0, |l| l.index),
            image: data.image.clone(),
        });
        Ok(StateMachine {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                data: RwLock::new(data),
                snapshot: RwLock::new(snapshot),
                publish,
            }),
        })
    }

    /// Follows the applied image.
    pub fn subscribe(&self) -> watch::Receiver<Published> {
        self.shared.publish.subscribe()
    }

    /// The image as of now.
    pub fn current(&self) -> Published {
        self.shared.publish.borrow().clone()
    }

    fn save_snapshot(&self, stored: &StoredSnapshot) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(stored).map_err(std::io::Error::other)?;
        let path = self.shared.dir.join(SNAPSHOT_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.shared.dir)?.sync_all()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = self.shared.data.read().await.clone();
        let meta = SnapshotMeta {
            last_log_id: data.last_applied,
            last_membership: data.last_membership.clone(),
            snapshot_id: data.last_applied.map_or_else(
                || "empty".to_string(),
                |l| format!("{}-{}", l.leader_id, l.index),
            ),
        };
        let stored = StoredSnapshot { meta, data };
        let this = self.clone();
        let stored =
            tokio::task::spawn_blocking(move || this.save_snapshot(&stored).map(|()| stored))
                .await
                .map_err(|e| {
                    StorageIOError::write_snapshot(None, &std::io::Error::other(e.to_string()))
                })?
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let payload = serde_json::to_vec(&stored.data)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        *self.shared.snapshot.write().await = Some((stored.meta.clone(), payload.clone()));
        tracing::info!(snapshot = %stored.meta.snapshot_id, bytes = payload.len(), "metadata snapshot written");
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(payload)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, BasicNode>), StorageError> {
        let data = self.shared.data.read().await;
        Ok((data.last_applied, data.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut data = self.shared.data.write().await;
        let mut out = Vec::new();
        for entry in entries {
            data.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) => {
                    let image = Arc::make_mut(&mut data.image);
                    for record in &batch.records {
                        image.apply(record);
                    }
                }
                EntryPayload::Membership(m) => {
                    data.last_membership = StoredMembership::new(Some(entry.log_id), m);
                }
            }
            out.push(());
        }
        let published = Published {
            index: data.last_applied.map_or(0, |l| l.index),
            image: data.image.clone(),
        };
        drop(data);
        self.shared.publish.send_replace(published);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let payload = snapshot.into_inner();
        let mut data: Data = serde_json::from_slice(&payload)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        data.last_applied = meta.last_log_id;
        data.last_membership = meta.last_membership.clone();
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.save_snapshot(&stored))
            .await
            .map_err(|e| {
                StorageIOError::write_snapshot(
                    Some(meta.signature()),
                    &std::io::Error::other(e.to_string()),
                )
            })?
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        let published = Published {
            index: data.last_applied.map_or(0, |l| l.index),
            image: data.image.clone(),
        };
        *self.shared.data.write().await = data;
        *self.shared.snapshot.write().await = Some((meta.clone(), payload));
        self.shared.publish.send_replace(published);
        tracing::info!(snapshot = %meta.snapshot_id, "metadata snapshot installed from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self
            .shared
            .snapshot
            .read()
            .await
            .as_ref()
            .map(|(meta, payload)| Snapshot {
                meta: meta.clone(),
                snapshot: Box::new(Cursor::new(payload.clone())),
            }))
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::{StoreBuilder, Suite};

    use super::*;
    use crate::cluster::raft::store::LogStore;

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
            let log =
                LogStore::open(&dir.path().join("log")).map_err(|e| StorageIOError::write(&e))?;
            let sm = StateMachine::open(&dir.path().join("sm"))
                .map_err(|e| StorageIOError::write(&e))?;
            Ok((dir, log, sm))
        }
    }

    /// openraft's conformance suite for log stores and state machines (it runs its own
    /// runtime per case).
    #[test]
    fn the_log_store_and_state_machine_pass_openraft_conformance() {
        Suite::test_all(Builder).unwrap();
    }
}
