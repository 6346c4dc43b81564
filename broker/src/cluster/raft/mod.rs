//! The metadata quorum's Raft, on openraft: the type configuration, a durable log store and
//! state machine over files in `<data dir>/__cluster_metadata/`, and the network that carries
//! Raft messages to other nodes over their Kafka listener ([`super::rpc`]).
//!
//! Node ids are Kafka's `node.id`s; a node's Raft address is the `host:port` of its
//! inter-broker listener. Voters come from `controller.quorum.voters`; every other broker
//! joins as a learner so it receives the metadata log too.

pub mod network;
pub mod state;
pub mod store;

use std::io::Cursor;

use openraft::BasicNode;
use serde::{Deserialize, Serialize};

use super::records::MetadataRecord;

/// One entry of the metadata log: records the controller appended together, applied
/// atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataBatch {
    /// The records, in order.
    pub records: Vec<MetadataRecord>,
}

impl std::fmt::Display for MetadataBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} metadata records", self.records.len())
    }
}

openraft::declare_raft_types!(
    /// Fjord's Raft types: node ids are `node.id`s, entries carry [`MetadataBatch`]es.
    pub TypeConfig:
        D = MetadataBatch,
        R = (),
        NodeId = u64,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A running Raft node.
pub type Raft = openraft::Raft<TypeConfig>;
/// Raft node id (a Kafka `node.id`).
pub type NodeId = u64;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// Raft log position.
pub type LogId = openraft::LogId<NodeId>;
/// Storage failures as openraft wants them.
pub type StorageError = openraft::StorageError<NodeId>;

/// `node.id` as a Raft node id (node ids are never negative; validated at start-up).
pub fn raft_id(node_id: i32) -> NodeId {
    u64::try_from(node_id).unwrap_or(0)
}

/// A Raft node id as a `node.id`.
pub fn kafka_id(node: NodeId) -> i32 {
    i32::try_from(node).unwrap_or(i32::MAX)
}

/// Raft timing for a metadata quorum on one LAN: heartbeats every 100 ms and elections
/// after 600–1200 ms of silence, so a lost controller is replaced in about a second; a
/// snapshot every 1024 entries, keeping 512 entries behind it for slow followers.
pub fn raft_config() -> openraft::Config {
    openraft::Config {
        cluster_name: "fjord".to_string(),
        heartbeat_interval: 100,
        election_timeout_min: 600,
        election_timeout_max: 1200,
        install_snapshot_timeout: 5000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1024),
        max_in_snapshot_log_to_keep: 512,
        ..Default::default()
    }
}
