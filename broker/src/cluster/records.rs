//! The records of the metadata log: every change to the cluster's metadata is one of these,
//! appended to the Raft log by the active controller and applied, in log order, to every
//! node's [`MetadataImage`](super::image::MetadataImage).
//!
//! Records are effects, not requests (as in KRaft): the controller decides (see
//! [`super::controller`]) and logs what changed, so replaying the log never re-runs a
//! decision. They are serialised as tagged JSON in the log and in snapshots.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::quota::QuotaChange;
use crate::security::acl::AclBinding;
use crate::security::scram::{ScramCredential, ScramMechanism};

/// No leader (every in-sync replica is fenced, or the partition is being created).
pub const NO_LEADER: i32 = -1;

/// One address a broker serves clients (or other brokers) on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Listener name (`PLAINTEXT`, `SASL_SSL`, `CONTROL`, …).
    pub name: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
}

/// A broker as the controller knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// `node.id`.
    pub node_id: i32,
    /// Random per process start: a registration from a new incarnation replaces the old one
    /// (the broker restarted and may have lost unflushed data).
    pub incarnation_id: Uuid,
    /// The broker epoch: the metadata log index of the registration. Heartbeats and
    /// partition changes from an older epoch are refused.
    pub epoch: i64,
    /// Advertised listeners, by name.
    pub listeners: Vec<Endpoint>,
    /// `broker.rack`, for rack-aware placement and fetch-from-follower.
    pub rack: Option<String>,
    /// A fenced broker leads nothing and is in no ISR until it is unfenced again (it
    /// registered but has not caught up, or stopped heartbeating).
    pub fenced: bool,
    /// Controlled shutdown in progress: leadership has been moved away.
    #[serde(default)]
    pub shutting_down: bool,
}

impl BrokerRegistration {
    /// The endpoint of `listener`, else the first one.
    pub fn endpoint(&self, listener: &str) -> Option<&Endpoint> {
        self.listeners
            .iter()
            .find(|l| l.name == listener)
            .or_else(|| self.listeners.first())
    }

    /// Whether it may lead partitions and be in ISRs.
    pub fn usable(&self) -> bool {
        !self.fenced && !self.shutting_down
    }
}

/// The replication state of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    /// Partition index.
    pub partition: i32,
    /// Replica brokers; the first is the preferred leader. During a reassignment: the target
    /// replicas followed by the ones being removed.
    pub replicas: Vec<i32>,
    /// In-sync replicas: the leader and every follower caught up with it.
    pub isr: Vec<i32>,
    /// Leader broker, or [`NO_LEADER`].
    pub leader: i32,
    /// Bumped on every leader change; stamped into batches and checked on every request.
    pub leader_epoch: i32,
    /// Bumped on every change of this record (ISR, replicas, leader): an AlterPartition
    /// from a leader that saw an older version is refused.
    pub partition_epoch: i32,
    /// Replicas being added by a reassignment (not yet in the target set's ISR).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment will remove once the added ones are in sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing_replicas: Vec<i32>,
}

impl PartitionRecord {
    /// The replicas a finished reassignment (or no reassignment) leaves.
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.removing_replicas.contains(r))
            .collect()
    }

    /// Whether a reassignment is in progress.
    pub fn reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }
}

/// One change of a SCRAM credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramChange {
    /// User name.
    pub user: String,
    /// Mechanism.
    pub mechanism: ScramMechanism,
    /// The new credential, or `None` to delete it.
    pub credential: Option<ScramCredential>,
}

/// One change of the cluster metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    /// The first record of a cluster: its id.
    ClusterCreated {
        /// Kafka-style cluster id.
        cluster_id: String,
    },
    /// A broker registered (or re-registered with a new incarnation); it starts fenced.
    BrokerRegistered(BrokerRegistration),
    /// A broker was fenced (stopped heartbeating, or re-registered) or unfenced (caught up).
    BrokerFenced {
        /// `node.id`.
        node_id: i32,
        /// The new state.
        fenced: bool,
    },
    /// A broker began a controlled shutdown.
    BrokerShuttingDown {
        /// `node.id`.
        node_id: i32,
    },
    /// A broker was removed from the cluster (scale-in after it was drained).
    BrokerUnregistered {
        /// `node.id`.
        node_id: i32,
    },
    /// A topic was created (its partitions follow as [`MetadataRecord::PartitionChanged`]).
    TopicCreated {
        /// Name.
        name: String,
        /// Stable id.
        id: Uuid,
        /// Internal (`__consumer_offsets`, `__fjord_usage`).
        internal: bool,
        /// Topic-level config overrides.
        configs: BTreeMap<String, String>,
    },
    /// A partition was created or its replication state changed.
    PartitionChanged {
        /// Topic name.
        topic: String,
        /// The partition's whole new state.
        record: PartitionRecord,
    },
    /// A topic and all its partitions were deleted.
    TopicDeleted {
        /// Name.
        name: String,
    },
    /// A topic's config overrides were replaced.
    TopicConfigsSet {
        /// Topic name.
        name: String,
        /// The new overrides (all of them).
        configs: BTreeMap<String, String>,
    },
    /// SCRAM credentials were created, replaced or deleted.
    ScramCredentialsChanged {
        /// The changes, applied in order.
        changes: Vec<ScramChange>,
    },
    /// ACL bindings were added (ones already present are kept once).
    AclsCreated {
        /// The bindings.
        bindings: Vec<AclBinding>,
    },
    /// ACL bindings were removed.
    AclsDeleted {
        /// The bindings.
        bindings: Vec<AclBinding>,
    },
    /// Client quotas were changed.
    ClientQuotasChanged {
        /// The changes, applied in order.
        changes: Vec<QuotaChange>,
    },
    /// A block of producer ids was handed to a broker.
    ProducerIdsAllocated {
        /// The broker that got the block.
        node_id: i32,
        /// First id of the block.
        first: i64,
        /// Ids in the block.
        size: i64,
    },
}
