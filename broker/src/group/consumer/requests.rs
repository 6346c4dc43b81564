//! What goes into and comes out of a consumer group: heartbeats, their answers and errors,
//! the metadata the group sees, and descriptions.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::Assignment;
use super::assignor::AssignorKind;

/// A topic as the group sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    /// Stable topic id (assignments name topics by id).
    pub id: Uuid,
    /// Partition count.
    pub partitions: i32,
}

/// The cluster's non-internal topics by name, as of the request.
pub type Topics = BTreeMap<String, TopicMeta>;

/// Broker settings for consumer groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: i32,
}

/// A ConsumerGroupHeartbeat, decoded. `None` fields were not sent (unchanged).
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    /// Member id (client-generated from v1; the coordinator fills in one for v0 joins).
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static member to leave, else the current epoch.
    pub member_epoch: i32,
    /// Static membership id.
    pub instance_id: Option<String>,
    /// Rack of the client.
    pub rack_id: Option<String>,
    /// How long the member may take to revoke (`max.poll.interval.ms`); -1 unchanged.
    pub rebalance_timeout_ms: i32,
    /// Subscribed topic names.
    pub subscribed_topic_names: Option<Vec<String>>,
    /// Subscribed topic regular expression ("" clears it).
    pub subscribed_topic_regex: Option<String>,
    /// Requested server-side assignor.
    pub server_assignor: Option<String>,
    /// The partitions the member owns.
    pub owned: Option<Assignment>,
    /// Client id (for describe).
    pub client_id: String,
    /// Client host (for describe).
    pub client_host: String,
}

/// A successful heartbeat's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// The member's id.
    pub member_id: String,
    /// Its epoch now (-1 or -2 after leaving).
    pub member_epoch: i32,
    /// When to heartbeat next.
    pub heartbeat_interval_ms: i32,
    /// The partitions the member should own, when they changed or the member's view is
    /// stale; `None` otherwise.
    pub assignment: Option<Assignment>,
}

/// A refused heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatError {
    /// Protocol error.
    pub code: ResponseError,
    /// Why, for the client's log.
    pub message: Option<String>,
}

impl HeartbeatError {
    pub(super) fn new(code: ResponseError, message: impl Into<String>) -> Self {
        HeartbeatError {
            code,
            message: Some(message.into()),
        }
    }
}

/// What a heartbeat resolves to.
pub type HeartbeatOutcome = Result<HeartbeatResponse, HeartbeatError>;

/// Where a member is in reaching its target assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Owns its target at the assignment epoch.
    Stable,
    /// Must revoke partitions first (keeps its epoch until it has).
    UnrevokedPartitions,
    /// Has its epoch, waits for partitions other members still own.
    UnreleasedPartitions,
}

/// A consumer group's state as Kafka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    /// No members.
    Empty,
    /// A new target assignment is being computed (never observed here: it is computed
    /// synchronously).
    Assigning,
    /// Members are converging to the target assignment.
    Reconciling,
    /// Every member owns its target.
    Stable,
}

impl ConsumerGroupState {
    /// The wire name (ListGroups, DescribeGroups, ConsumerGroupDescribe).
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// One member as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub instance_id: Option<String>,
    /// Rack.
    pub rack_id: Option<String>,
    /// Member epoch.
    pub member_epoch: i32,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Subscribed topic names.
    pub subscribed_topic_names: Vec<String>,
    /// Subscribed regular expression.
    pub subscribed_topic_regex: Option<String>,
    /// What it owns now.
    pub assignment: Assignment,
    /// What it converges to.
    pub target_assignment: Assignment,
}

/// A consumer group as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    /// State.
    pub state: ConsumerGroupState,
    /// Group epoch.
    pub group_epoch: i32,
    /// Target assignment epoch.
    pub assignment_epoch: i32,
    /// Assignor of the current target.
    pub assignor: AssignorKind,
    /// Members by id.
    pub members: Vec<ConsumerMemberDescription>,
    /// Names of the subscribed topics by id.
    pub topic_names: BTreeMap<Uuid, String>,
}
