//! Cluster metadata of a single node: cluster id, node id, topics (ids, partition counts,
//! config overrides), the producer-id high-water mark, SCRAM credentials and client quotas.
//!
//! Persisted as `metadata.json` in the data directory, rewritten atomically (temp file,
//! fsync, rename) on every change. The Raft metadata quorum of the replication issue replaces
//! this file with a log; the shape of what is stored stays the same.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::quota::ClientQuotaRecord;
use crate::security::acl::AclBinding;
use crate::security::scram::{ScramCredential, ScramMechanism};

const FILE_NAME: &str = "metadata.json";
const FORMAT_VERSION: u32 = 1;
/// Producer ids are reserved in blocks so that the file is not rewritten per InitProducerId.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// One topic as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Stable topic id (clients at Fetch v13+ address topics by it).
    pub id: Uuid,
    /// Partition count.
    pub partitions: i32,
    /// Topic-level config overrides.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// Internal topics (`__consumer_offsets`) are hidden from plain Metadata listing rules.
    #[serde(default)]
    pub internal: bool,
}

/// The persisted metadata image. (`PartialEq` only: quota values are floating point.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// File format version.
    pub version: u32,
    /// Cluster id, generated on first start.
    pub cluster_id: String,
    /// The node id this directory belongs to.
    pub node_id: i32,
    /// Producer ids below this may have been handed out.
    pub producer_id_reserved: i64,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicRecord>,
    /// SCRAM credentials by user and mechanism (salted keys only, never passwords).
    #[serde(default)]
    pub scram_credentials: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
    /// ACLs, in creation order (CreateAcls / DeleteAcls).
    #[serde(default)]
    pub acls: Vec<AclBinding>,
    /// Client quotas (AlterClientQuotas), one record per entity, sorted by entity.
    #[serde(default)]
    pub client_quotas: Vec<ClientQuotaRecord>,
}

/// The metadata image and the file behind it.
#[derive(Debug)]
pub struct MetadataStore {
    path: PathBuf,
    image: MetadataImage,
}

/// A Kafka-style cluster id: 22 characters of URL-safe base64 of a random UUID.
pub fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::new_v4().into_bytes();
    let mut bits: u128 = u128::from_be_bytes(bytes);
    let mut out = String::with_capacity(22);
    for _ in 0..22 {
        out.push(ALPHABET[(bits & 63) as usize] as char);
        bits >>= 6;
    }
    out
}

impl MetadataStore {
    /// Loads `metadata.json` from `data_dir`, or creates it with a new (or the given) cluster
    /// id. Refuses a directory that belongs to another node id or cluster id.
    pub fn open(data_dir: &Path, node_id: i32, cluster_id: Option<&str>) -> Result<Self> {
        let path = data_dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let image: MetadataImage =
                    serde_json::from_slice(&bytes).map_err(|source| Error::CorruptMetadata {
                        path: path.clone(),
                        source,
                    })?;
                if image.node_id != node_id {
                    return Err(Error::InvalidConfig(format!(
                        "data dir {} belongs to node.id {}, not {node_id}",
                        data_dir.display(),
                        image.node_id
                    )));
                }
                if let Some(c) = cluster_id
                    && c != image.cluster_id
                {
                    return Err(Error::InvalidConfig(format!(
                        "data dir {} belongs to cluster {}, not {c}",
                        data_dir.display(),
                        image.cluster_id
                    )));
                }
                Ok(MetadataStore { path, image })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let image = MetadataImage {
                    version: FORMAT_VERSION,
                    cluster_id: cluster_id
                        .map(str::to_string)
                        .unwrap_or_else(new_cluster_id),
                    node_id,
                    producer_id_reserved: 0,
                    topics: BTreeMap::new(),
                    scram_credentials: BTreeMap::new(),
                    acls: Vec::new(),
                    client_quotas: Vec::new(),
                };
                let store = MetadataStore { path, image };
                store.save()?;
                Ok(store)
            }
            Err(e) => Err(Error::io(format!("failed to read {}", path.display()), e)),
        }
    }

    /// The current image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Applies `change` and persists the result; on a write failure the change is undone.
    pub fn update<T>(&mut self, change: impl FnOnce(&mut MetadataImage) -> T) -> Result<T> {
        let before = self.image.clone();
        let out = change(&mut self.image);
        if let Err(e) = self.save() {
            self.image = before;
            return Err(e);
        }
        Ok(out)
    }

    fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes =
            serde_json::to_vec_pretty(&self.image).map_err(|source| Error::CorruptMetadata {
                path: self.path.clone(),
                source,
            })?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| Error::io(format!("failed to write {}", self.path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_survives_reopen_and_refuses_another_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = MetadataStore::open(dir.path(), 1, None).unwrap();
        let id = Uuid::new_v4();
        s.update(|i| {
            i.topics.insert(
                "t".into(),
                TopicRecord {
                    id,
                    partitions: 3,
                    configs: BTreeMap::new(),
                    internal: false,
                },
            )
        })
        .unwrap();
        let cluster = s.image().cluster_id.clone();
        assert_eq!(cluster.len(), 22);
        drop(s);
        let s = MetadataStore::open(dir.path(), 1, None).unwrap();
        assert_eq!(s.image().cluster_id, cluster);
        assert_eq!(s.image().topics["t"].id, id);
        assert!(MetadataStore::open(dir.path(), 2, None).is_err());
        assert!(MetadataStore::open(dir.path(), 1, Some("other")).is_err());
    }
}
