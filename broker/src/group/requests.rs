//! Requests and answers of the group state machine ([`super::state::Group`]): the decoded
//! form of JoinGroup and SyncGroup, their answers, and the wakeups that answer held
//! requests.

use bytes::Bytes;
use kafka_protocol::ResponseError;

/// One assignment strategy a member supports, with its subscription metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// Strategy name (`range`, `cooperative-sticky`, …).
    pub name: String,
    /// Opaque metadata (for `consumer`: ConsumerProtocolSubscription).
    pub metadata: Bytes,
}

/// A JoinGroup request, decoded.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Empty on a member's first join.
    pub member_id: String,
    /// Static membership id (KIP-345).
    pub group_instance_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// Client host as DescribeGroups shows it.
    pub client_host: String,
    /// The member is removed when no heartbeat arrives for this long.
    pub session_timeout_ms: i32,
    /// How long a rebalance waits for this member to rejoin.
    pub rebalance_timeout_ms: i32,
    /// `consumer`, `connect`, …; all members must agree.
    pub protocol_type: String,
    /// Supported strategies in preference order.
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+: a member without id first gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Metadata for the selected protocol.
    pub metadata: Bytes,
}

/// A successful JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    /// The member's id.
    pub member_id: String,
    /// The new generation.
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected strategy.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader_id: String,
    /// Every member with its metadata, for the leader only (empty for followers).
    pub members: Vec<JoinedMember>,
}

/// A failed JoinGroup answer; `member_id` is the generated id for MEMBER_ID_REQUIRED and
/// the request's otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinError {
    /// The protocol error.
    pub code: ResponseError,
    /// Member id to return.
    pub member_id: String,
}

/// The answer to a JoinGroup.
pub type JoinOutcome = Result<JoinResult, JoinError>;

/// What to do with a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinDecision {
    /// Answer now.
    Reply(JoinOutcome),
    /// Hold the request; its answer will come as a [`Wakeup::Join`] for this member id.
    Wait {
        /// The member whose wakeup to wait for.
        member_id: String,
    },
}

/// A SyncGroup request, decoded.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Generation the member joined.
    pub generation_id: i32,
    /// v5: the protocol type the member believes in.
    pub protocol_type: Option<String>,
    /// v5: the protocol the member believes was selected.
    pub protocol_name: Option<String>,
    /// The leader's assignment per member id (empty from followers).
    pub assignments: Vec<(String, Bytes)>,
}

/// A successful SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected strategy.
    pub protocol_name: Option<String>,
    /// This member's assignment.
    pub assignment: Bytes,
}

/// The answer to a SyncGroup.
pub type SyncOutcome = Result<SyncResult, ResponseError>;

/// What to do with a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncDecision {
    /// Answer now.
    Reply(SyncOutcome),
    /// Hold the request; its answer will come as a [`Wakeup::Sync`] for the member.
    Wait,
}

/// The answer to a held request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    /// Answer the held JoinGroup of `member_id`.
    Join {
        /// Whose request.
        member_id: String,
        /// The answer.
        outcome: JoinOutcome,
    },
    /// Answer the held SyncGroup of `member_id`.
    Sync {
        /// Whose request.
        member_id: String,
        /// The answer.
        outcome: SyncOutcome,
    },
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata of the selected protocol (empty unless Stable).
    pub metadata: Bytes,
    /// Current assignment (empty unless Stable).
    pub assignment: Bytes,
}

/// Topic names of a ConsumerProtocolSubscription (any version: all start with `int16
/// version, array of string topics`), or `None` if the bytes are not one.
pub fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut rest = metadata.get(2..)?;
    let count = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    rest = &rest[4..];
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        let len = usize::try_from(i16::from_be_bytes(rest.get(..2)?.try_into().ok()?)).ok()?;
        let name = std::str::from_utf8(rest.get(2..2 + len)?).ok()?;
        topics.push(name.to_string());
        rest = &rest[2 + len..];
    }
    Some(topics)
}
