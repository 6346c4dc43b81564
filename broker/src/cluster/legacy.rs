//! `metadata.json`, the single-node metadata file of Fjord before the Raft quorum: read once
//! from a data directory whose metadata log is still empty, turned into metadata records
//! (every topic gets this node as its only replica), then renamed to
//! `metadata.json.imported` so it is never imported twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::{MetadataRecord, PartitionRecord, ScramChange};
use crate::error::{Error, Result};
use crate::quota::{ClientQuotaRecord, QuotaChange};
use crate::security::acl::AclBinding;
use crate::security::scram::{ScramCredential, ScramMechanism};

const FILE_NAME: &str = "metadata.json";

/// One topic as it was persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Stable topic id.
    pub id: Uuid,
    /// Partition count.
    pub partitions: i32,
    /// Topic-level config overrides.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// Internal topic.
    #[serde(default)]
    pub internal: bool,
}

/// The old file's contents. (`PartialEq` only: quota values are floating point.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// File format version.
    pub version: u32,
    /// Cluster id.
    pub cluster_id: String,
    /// The node id the directory belonged to.
    pub node_id: i32,
    /// Producer ids below this may have been handed out.
    pub producer_id_reserved: i64,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicRecord>,
    /// SCRAM credentials by user and mechanism.
    #[serde(default)]
    pub scram_credentials: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
    /// ACLs.
    #[serde(default)]
    pub acls: Vec<AclBinding>,
    /// Client quotas.
    #[serde(default)]
    pub client_quotas: Vec<ClientQuotaRecord>,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads `metadata.json` when there is one; refuses one of another node id.
pub fn load(data_dir: &Path, node_id: i32) -> Result<Option<MetadataImage>> {
    let path = path(data_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("failed to read {}", path.display()), e)),
    };
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
    Ok(Some(image))
}

/// Renames the imported file out of the way.
pub fn retire(data_dir: &Path) -> Result<()> {
    let from = path(data_dir);
    let to = data_dir.join("metadata.json.imported");
    std::fs::rename(&from, &to)
        .map_err(|e| Error::io(format!("failed to rename {}", from.display()), e))
}

/// The records that recreate `image` on node `node_id` (the cluster id record excepted).
pub fn import(image: &MetadataImage, node_id: i32) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for (name, t) in &image.topics {
        out.push(MetadataRecord::TopicCreated {
            name: name.clone(),
            id: t.id,
            internal: t.internal,
            configs: t.configs.clone(),
        });
        for p in 0..t.partitions {
            out.push(MetadataRecord::PartitionChanged {
                topic: name.clone(),
                record: PartitionRecord {
                    partition: p,
                    replicas: vec![node_id],
                    isr: vec![node_id],
                    leader: node_id,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                },
            });
        }
    }
    let changes: Vec<ScramChange> = image
        .scram_credentials
        .iter()
        .flat_map(|(user, by_mechanism)| {
            by_mechanism.iter().map(|(m, c)| ScramChange {
                user: user.clone(),
                mechanism: *m,
                credential: Some(c.clone()),
            })
        })
        .collect();
    if !changes.is_empty() {
        out.push(MetadataRecord::ScramCredentialsChanged { changes });
    }
    if !image.acls.is_empty() {
        out.push(MetadataRecord::AclsCreated {
            bindings: image.acls.clone(),
        });
    }
    if !image.client_quotas.is_empty() {
        out.push(MetadataRecord::ClientQuotasChanged {
            changes: image
                .client_quotas
                .iter()
                .map(|q| QuotaChange {
                    entity: q.entity.clone(),
                    ops: q.values.iter().map(|(k, v)| (*k, Some(*v))).collect(),
                })
                .collect(),
        });
    }
    if image.producer_id_reserved > 0 {
        out.push(MetadataRecord::ProducerIdsAllocated {
            node_id,
            first: 0,
            size: image.producer_id_reserved,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::image::MetadataImage as Image;

    #[test]
    fn an_old_metadata_file_becomes_records_on_this_node() {
        let dir = tempfile::tempdir().unwrap();
        let json = r#"{"version":1,"cluster_id":"abc","node_id":1,"producer_id_reserved":2000,
            "topics":{"t":{"id":"00000000-0000-0000-0000-000000000007","partitions":2,
            "configs":{"retention.ms":"1000"},"internal":false}}}"#;
        std::fs::write(dir.path().join(FILE_NAME), json).unwrap();
        assert!(load(dir.path(), 2).is_err(), "another node's directory");
        let old = load(dir.path(), 1).unwrap().unwrap();
        let mut image = Image::default();
        for r in import(&old, 1) {
            image.apply(&r);
        }
        let t = &image.topics["t"];
        assert_eq!(t.id, Uuid::from_u128(7));
        assert_eq!(t.partitions.len(), 2);
        assert_eq!(t.partitions[1].leader, 1);
        assert_eq!(t.configs["retention.ms"], "1000");
        assert_eq!(image.next_producer_id, 2000);
        retire(dir.path()).unwrap();
        assert!(load(dir.path(), 1).unwrap().is_none());
    }
}
