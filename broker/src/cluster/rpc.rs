//! Node-to-node messages of the metadata quorum: Raft's own RPCs and requests to the active
//! controller (broker registration and heartbeats, AlterPartition, forwarded admin requests,
//! KIP-590 style). They travel as JSON bodies in frames of a private API key on the
//! inter-broker Kafka listener, so they share its TLS, SASL and authorization (CLUSTER_ACTION
//! on the cluster) instead of needing a port and security setup of their own. The key is not
//! a Kafka API and is never advertised in ApiVersions.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::controller::{IsrChange, TopicSpec};
use super::raft::{NodeId, TypeConfig};
use super::records::{BrokerRegistration, PartitionRecord, ScramChange};
use crate::broker::ApiError;
use crate::quota::QuotaChange;
use crate::security::acl::{AclBinding, AclFilter};

/// The request API key of node-to-node frames (above every Kafka API key).
pub const CLUSTER_API_KEY: i16 = 32_000;
/// Its one version.
pub const CLUSTER_API_VERSION: i16 = 0;

/// A node-to-node request.
#[derive(Debug, Serialize, Deserialize)]
pub enum ClusterRequest {
    /// Raft: replicate entries (and heartbeat).
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Raft: ask for a vote.
    Vote(VoteRequest<NodeId>),
    /// Raft: a chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// For the active controller.
    Controller(ControllerRequest),
    /// For the leader of `__fjord_usage-0`: append one usage window (see
    /// [`crate::metering`]).
    AppendUsage(Vec<crate::metering::UsageRecord>),
}

/// The answer to a [`ClusterRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum ClusterResponse {
    /// Raft's answer.
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// Raft's answer.
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// Raft's answer.
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The controller's answer.
    Controller(Result<ControllerReply, ControllerFailure>),
    /// The usage window was appended, or why not.
    Usage(Result<(), String>),
    /// The request was not served (not authorized, malformed): why.
    Refused(String),
}

/// What a broker asks of the active controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControllerRequest {
    /// Register (or re-register after a restart); the broker starts fenced.
    RegisterBroker(BrokerRegistration),
    /// Liveness, and the broker's state: caught up with the metadata log (unfence me), or
    /// wanting to shut down (move my leaderships away).
    Heartbeat {
        /// `node.id`.
        node_id: i32,
        /// The incarnation it registered with.
        incarnation_id: Uuid,
        /// Its image contains its own registration.
        caught_up: bool,
        /// Controlled shutdown requested.
        want_shutdown: bool,
    },
    /// CreateTopics.
    CreateTopic {
        /// The topic.
        spec: TopicSpec,
        /// Check only.
        validate_only: bool,
    },
    /// DeleteTopics.
    DeleteTopic {
        /// Name.
        name: String,
    },
    /// CreatePartitions.
    CreatePartitions {
        /// Topic name.
        name: String,
        /// New partition count.
        total: i32,
        /// Manual replica assignment of the new partitions.
        assignments: Option<Vec<Vec<i32>>>,
        /// Check only.
        validate_only: bool,
    },
    /// AlterConfigs / IncrementalAlterConfigs of a topic (validated by the broker).
    SetTopicConfigs {
        /// Topic name.
        name: String,
        /// All overrides.
        configs: BTreeMap<String, String>,
    },
    /// AlterUserScramCredentials (validated by the broker).
    AlterScram(Vec<ScramChange>),
    /// CreateAcls (validated by the broker).
    CreateAcls(Vec<AclBinding>),
    /// DeleteAcls.
    DeleteAcls(Vec<AclFilter>),
    /// AlterClientQuotas (validated by the broker).
    AlterQuotas(Vec<QuotaChange>),
    /// A block of producer ids (KIP-730 AllocateProducerIds).
    AllocateProducerIds {
        /// The asking broker.
        node_id: i32,
    },
    /// AlterPartition: a leader changes an ISR.
    AlterPartition(IsrChange),
    /// AlterPartitionReassignments for one partition (`None` cancels).
    Reassign {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// Target replicas.
        target: Option<Vec<i32>>,
    },
    /// ElectLeaders (preferred) for one partition.
    ElectPreferred {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// Remove a drained broker from the cluster.
    UnregisterBroker {
        /// `node.id`.
        node_id: i32,
    },
}

impl ControllerRequest {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            ControllerRequest::RegisterBroker(_) => "RegisterBroker",
            ControllerRequest::Heartbeat { .. } => "BrokerHeartbeat",
            ControllerRequest::CreateTopic { .. } => "CreateTopics",
            ControllerRequest::DeleteTopic { .. } => "DeleteTopics",
            ControllerRequest::CreatePartitions { .. } => "CreatePartitions",
            ControllerRequest::SetTopicConfigs { .. } => "AlterConfigs",
            ControllerRequest::AlterScram(_) => "AlterUserScramCredentials",
            ControllerRequest::CreateAcls(_) => "CreateAcls",
            ControllerRequest::DeleteAcls(_) => "DeleteAcls",
            ControllerRequest::AlterQuotas(_) => "AlterClientQuotas",
            ControllerRequest::AllocateProducerIds { .. } => "AllocateProducerIds",
            ControllerRequest::AlterPartition(_) => "AlterPartition",
            ControllerRequest::Reassign { .. } => "AlterPartitionReassignments",
            ControllerRequest::ElectPreferred { .. } => "ElectLeaders",
            ControllerRequest::UnregisterBroker { .. } => "UnregisterBroker",
        }
    }
}

/// A controller's answer: the log index its change was appended at (the caller waits until
/// its own image has applied it), and what the request asked to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControllerReply {
    /// Log index of the change (or of the image the answer was read from, when nothing was
    /// appended).
    pub index: u64,
    /// The request's result.
    pub result: ControllerResult,
}

/// Request-specific results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControllerResult {
    /// Nothing to report.
    Done,
    /// Heartbeat: the broker's state after it.
    Heartbeat {
        /// Still fenced.
        fenced: bool,
        /// Controlled shutdown may proceed (the broker leads nothing that could move).
        shutdown_ready: bool,
    },
    /// AlterPartition: the partition's new state.
    Partition(PartitionRecord),
    /// AlterUserScramCredentials: per change, an error (Kafka code, message).
    Scram(Vec<Option<(i16, String)>>),
    /// DeleteAcls: per filter, the bindings removed.
    DeletedAcls(Vec<Vec<AclBinding>>),
    /// AllocateProducerIds.
    ProducerIds {
        /// First id of the block.
        first: i64,
        /// Ids in the block.
        size: i64,
    },
}

/// Why a controller request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ControllerFailure {
    /// This node is not the active controller (the leader it knows, if any).
    #[error("not the active controller (the leader is {leader:?})")]
    NotController {
        /// The leader's `node.id`, when known.
        leader: Option<i32>,
    },
    /// The request was refused with a Kafka error.
    #[error("{message}")]
    Refused {
        /// Kafka error code.
        code: i16,
        /// Why.
        message: String,
    },
}

impl From<ApiError> for ControllerFailure {
    fn from(e: ApiError) -> Self {
        ControllerFailure::Refused {
            code: e.code.code(),
            message: e.message,
        }
    }
}

impl ControllerFailure {
    /// As a Kafka error for a client (no controller reachable is NOT_CONTROLLER, which
    /// clients retry).
    pub fn into_api_error(self) -> ApiError {
        match self {
            ControllerFailure::NotController { leader } => ApiError::new(
                ResponseError::NotController,
                match leader {
                    Some(l) => format!("the controller moved to node {l}; retry"),
                    None => "no active controller yet (the metadata quorum is electing one); retry"
                        .to_string(),
                },
            ),
            ControllerFailure::Refused { code, message } => ApiError::new(
                ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError),
                message,
            ),
        }
    }
}
