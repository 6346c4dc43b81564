//! Consumer-group coordinator: classic membership and rebalances (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup), the KIP-848 consumer protocol (ConsumerGroupHeartbeat, see
//! [`consumer`]) and committed offsets (OffsetCommit, OffsetFetch, OffsetDelete).
//!
//! # Layout
//!
//! - [`consumer`]: one group of the consumer protocol as a pure state machine, and its
//!   server-side assignors. A group id is either a classic or a consumer group: an empty
//!   group of one kind becomes the other on the first request of the other protocol; a
//!   non-empty one refuses it (INCONSISTENT_GROUP_PROTOCOL / GROUP_ID_NOT_FOUND, as Kafka).
//! - [`state`]: one group's membership protocol as a pure state machine (requests and the
//!   clock in, answers out), where every decision lives and is unit tested; its inputs and
//!   outputs are in [`requests`].
//! - [`offsets`]: committed offsets in memory.
//! - [`codec`]: the `__consumer_offsets` record format (Kafka's own).
//! - `journal`: appends to and replays from the `__consumer_offsets` partitions.
//! - this module: the thin shell. It keeps the groups behind one `std::sync::Mutex` (never
//!   held across `.await`), parks held JoinGroup/SyncGroup requests on oneshot channels and
//!   answers them from the state machine's wakeups.
//!
//! The server calls [`GroupCoordinator::tick`] every 100 ms: it expires sessions and
//! completes rebalances whose deadline passed.
//!
//! # Durability
//!
//! An OffsetCommit is answered only after its batch was appended to the group's partition
//! (`abs(java hashCode(group)) % partitions`, as Kafka). Deleting offsets or a group appends
//! tombstones. [`GroupCoordinator::open`] replays all partitions, so committed offsets
//! survive restarts; membership does not (members rejoin after UNKNOWN_MEMBER_ID).
//!
//! Lock order: a group's journal lock, then the group registry, then the consumer group
//! registry, then the offset store.
//!
//! # Coordination
//!
//! A group is coordinated by the leader of its `__consumer_offsets` partition. When this
//! broker becomes that leader it replays the partition ([`GroupCoordinator::load_partition`]);
//! when it stops leading, the groups are dropped here. Writes are appended to the leader's
//! log and the caller waits for the high watermark ([`Replication`]) before answering, so a
//! committed offset survives the loss of the coordinator.

pub mod codec;
pub mod consumer;
mod journal;
pub mod offsets;
pub mod requests;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use uuid::Uuid;

use self::codec::{OffsetKey, OffsetValue, OffsetsRecord};
use self::consumer::{
    ConsumerGroup, ConsumerGroupConfig, ConsumerGroupDescription, ConsumerGroupState,
    HeartbeatError, HeartbeatOutcome, HeartbeatRequest, Topics,
};
use self::journal::OffsetsJournal;
use self::offsets::OffsetStore;
use self::state::{
    Group, GroupLimits, GroupState, JoinDecision, JoinError, JoinOutcome, JoinRequest,
    MemberDescription, SyncDecision, SyncOutcome, SyncRequest, Wakeup,
};
use crate::broker::Partition;
use crate::config::BrokerConfig;
use crate::error::Result;

/// How much one replay read asks for.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// A durable write the caller must wait for: the high watermark of `partition` must reach
/// `end_offset` before the write counts (acks=all for offset commits).
#[derive(Debug, Clone)]
pub struct Replication {
    /// The `__consumer_offsets` partition written.
    pub partition: Arc<Partition>,
    /// The offset after the write.
    pub end_offset: i64,
}

/// Largest offset metadata accepted (Kafka's `offset.metadata.max.bytes` default).
pub const MAX_OFFSET_METADATA_BYTES: usize = 4096;

/// A group's state as ListGroups and DescribeGroups name it: classic and consumer groups
/// have different state machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedState {
    /// A classic group's state.
    Classic(GroupState),
    /// A consumer group's state.
    Consumer(ConsumerGroupState),
}

impl ListedState {
    /// The name Kafka uses on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ListedState::Classic(s) => s.name(),
            ListedState::Consumer(s) => s.name(),
        }
    }
}

impl From<GroupState> for ListedState {
    fn from(state: GroupState) -> Self {
        ListedState::Classic(state)
    }
}

/// Which protocol a group speaks (ListGroups v5 `GroupType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupType {
    /// JoinGroup/SyncGroup.
    Classic,
    /// ConsumerGroupHeartbeat (KIP-848).
    Consumer,
}

impl GroupType {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
        }
    }
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// State.
    pub state: ListedState,
    /// Protocol type ("" when none).
    pub protocol_type: String,
    /// Selected protocol while Stable ("" otherwise).
    pub protocol_name: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// Protocol type ("" for groups that only commit offsets).
    pub protocol_type: String,
    /// State.
    pub state: ListedState,
    /// Protocol.
    pub group_type: GroupType,
}

/// One group with the requests held on it.
#[derive(Debug)]
struct GroupSlot {
    group: Group,
    join_waiters: HashMap<String, oneshot::Sender<JoinOutcome>>,
    sync_waiters: HashMap<String, oneshot::Sender<SyncOutcome>>,
}

impl GroupSlot {
    fn new(group_id: &str) -> Self {
        GroupSlot {
            group: Group::new(group_id),
            join_waiters: HashMap::new(),
            sync_waiters: HashMap::new(),
        }
    }

    /// Answers the held requests the state machine resolved.
    fn deliver(&mut self) {
        for wakeup in self.group.take_wakeups() {
            match wakeup {
                Wakeup::Join { member_id, outcome } => {
                    if let Some(tx) = self.join_waiters.remove(&member_id) {
                        let _ = tx.send(outcome);
                    }
                }
                Wakeup::Sync { member_id, outcome } => {
                    if let Some(tx) = self.sync_waiters.remove(&member_id) {
                        let _ = tx.send(outcome);
                    }
                }
            }
        }
    }
}

/// Group coordinator: group membership, rebalances, committed offsets.
#[derive(Debug)]
pub struct GroupCoordinator {
    limits: GroupLimits,
    groups: Mutex<BTreeMap<String, GroupSlot>>,
    /// Consumer-protocol groups (never also in `groups` while they have members).
    consumer_groups: Mutex<BTreeMap<String, ConsumerGroup>>,
    consumer_config: ConsumerGroupConfig,
    offsets: Mutex<OffsetStore>,
    journal: OffsetsJournal,
    /// Offsets written by TxnOffsetCommit whose transaction is undecided, by
    /// (`__consumer_offsets` partition, producer id).
    pending_txn: Mutex<HashMap<(i32, i64), Vec<OffsetsRecord>>>,
}

impl GroupCoordinator {
    /// A coordinator of no group yet: it coordinates the groups of each `__consumer_offsets`
    /// partition this broker comes to lead ([`GroupCoordinator::load_partition`]).
    pub fn open(config: &BrokerConfig) -> Result<Self> {
        Ok(GroupCoordinator {
            limits: GroupLimits {
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                initial_rebalance_delay_ms: i64::try_from(config.group_initial_rebalance_delay_ms)
                    .unwrap_or(i64::MAX),
            },
            groups: Mutex::new(BTreeMap::new()),
            consumer_groups: Mutex::new(BTreeMap::new()),
            consumer_config: ConsumerGroupConfig {
                session_timeout_ms: config.group_consumer_session_timeout_ms,
                heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
            },
            offsets: Mutex::new(OffsetStore::new()),
            journal: OffsetsJournal::default(),
            pending_txn: Mutex::new(HashMap::new()),
        })
    }

    /// This broker now leads `partition` of `__consumer_offsets` (of `count` partitions):
    /// replays it and coordinates its groups.
    pub fn load_partition(&self, partition: Arc<Partition>, count: usize) {
        let index = partition.index;
        let mut loaded = OffsetStore::new();
        let mut pending = HashMap::new();
        let applied = match journal::replay_log_txn(
            partition.as_ref(),
            REPLAY_READ_BYTES,
            &mut loaded,
            &mut pending,
        ) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(partition = index, error = %e, "failed to load __consumer_offsets; its groups stay unavailable");
                return;
            }
        };
        let group_ids: Vec<String> = loaded.group_ids().map(str::to_string).collect();
        {
            let mut groups = self.lock_groups();
            let mut store = self.lock_offsets();
            store.retain_groups(|g| codec::partition_for_group(g, count) as i32 != index);
            store.absorb(loaded);
            for g in &group_ids {
                groups.entry(g.clone()).or_insert_with(|| GroupSlot::new(g));
            }
            let mut txn = self.lock_pending();
            txn.retain(|(p, _), _| *p != index);
            txn.extend(
                pending
                    .into_iter()
                    .map(|(producer, r)| ((index, producer), r)),
            );
        }
        self.journal.add(partition, count);
        tracing::info!(
            partition = index,
            records = applied,
            groups = group_ids.len(),
            "coordinating the groups of __consumer_offsets partition"
        );
    }

    /// This broker no longer leads partition `index` of `__consumer_offsets`: its groups
    /// and offsets are forgotten here (their new coordinator loads them).
    pub fn unload_partition(&self, index: i32) {
        if !self.journal.remove(index) {
            return;
        }
        let Some(count) = self.journal.count() else {
            return;
        };
        let mine = |g: &str| codec::partition_for_group(g, count) as i32 == index;
        let mut groups = self.lock_groups();
        groups.retain(|g, _| !mine(g));
        self.lock_consumer_groups().retain(|g, _| !mine(g));
        self.lock_offsets().retain_groups(|g| !mine(g));
        self.lock_pending().retain(|(p, _), _| *p != index);
        tracing::info!(
            partition = index,
            "stopped coordinating the groups of __consumer_offsets partition"
        );
    }

    /// Whether this broker coordinates `group_id`.
    pub fn owns(&self, group_id: &str) -> bool {
        self.journal.owns(group_id)
    }

    /// The `__consumer_offsets` partition of a group, once the topic exists.
    pub fn partition_of(&self, group_id: &str) -> Option<i32> {
        self.journal.partition_of(group_id)
    }

    /// Expires members whose session timed out and completes due rebalances (called by the
    /// server every 100 ms).
    pub fn tick(&self, now_ms: i64) {
        for slot in self.lock_groups().values_mut() {
            slot.group.tick(now_ms);
            slot.deliver();
        }
        let mut consumer_groups = self.lock_consumer_groups();
        for group in consumer_groups.values_mut() {
            group.tick(now_ms);
        }
        // An empty consumer group lives on only while it has committed offsets.
        let offsets = self.lock_offsets();
        consumer_groups.retain(|id, g| !g.is_empty() || offsets.has_group(id));
    }

    /// ConsumerGroupHeartbeat (KIP-848). `topics` is the cluster's metadata now.
    pub fn consumer_heartbeat(
        &self,
        group_id: &str,
        req: HeartbeatRequest,
        topics: &Topics,
        now_ms: i64,
    ) -> HeartbeatOutcome {
        let refuse = |code, message: &str| {
            Err(HeartbeatError {
                code,
                message: Some(message.to_string()),
            })
        };
        if group_id.is_empty() {
            return refuse(ResponseError::InvalidGroupId, "GroupId can't be empty");
        }
        if !self.owns(group_id) {
            return refuse(
                ResponseError::NotCoordinator,
                "not the coordinator of this group",
            );
        }
        let mut groups = self.lock_groups();
        let mut consumer_groups = self.lock_consumer_groups();
        if !consumer_groups.contains_key(group_id)
            && groups
                .get(group_id)
                .is_some_and(|slot| slot.group.state() != GroupState::Empty)
        {
            return refuse(
                ResponseError::GroupIdNotFound,
                "the group is a classic group with members, not a consumer group",
            );
        }
        let created = !consumer_groups.contains_key(group_id);
        let group = consumer_groups
            .entry(group_id.to_string())
            .or_insert_with(|| ConsumerGroup::new(group_id));
        let outcome = group.heartbeat(req, topics, &self.consumer_config, now_ms);
        if created && group.is_empty() {
            // Refused: nothing changes, an empty classic group (offsets only) stays one.
            consumer_groups.remove(group_id);
        } else if created {
            // An empty classic group (offsets only) became a consumer group.
            groups.remove(group_id);
        }
        outcome
    }

    /// Members of consumer-protocol groups (a metric).
    pub fn consumer_protocol_members(&self) -> usize {
        self.lock_consumer_groups()
            .values()
            .map(ConsumerGroup::member_count)
            .sum()
    }

    /// ConsumerGroupDescribe; `None` for a group that is not a consumer group.
    pub fn consumer_describe(&self, group_id: &str) -> Option<ConsumerGroupDescription> {
        self.lock_consumer_groups()
            .get(group_id)
            .map(ConsumerGroup::describe)
    }

    /// Whether `group_id` is a classic group (with members), for ConsumerGroupDescribe's
    /// GROUP_ID_NOT_FOUND message.
    pub fn is_classic_group(&self, group_id: &str) -> bool {
        self.lock_groups().contains_key(group_id)
    }

    /// JoinGroup: resolves when the rebalance completes (or at once for errors and repeats).
    pub async fn join(&self, group_id: &str, req: JoinRequest, now_ms: i64) -> JoinOutcome {
        if group_id.is_empty() {
            return Err(JoinError {
                code: ResponseError::InvalidGroupId,
                member_id: req.member_id,
            });
        }
        if !self.owns(group_id) {
            return Err(JoinError {
                code: ResponseError::NotCoordinator,
                member_id: req.member_id,
            });
        }
        let member_id_prefix = req
            .group_instance_id
            .clone()
            .unwrap_or_else(|| req.client_id.clone());
        let generated = format!("{member_id_prefix}-{}", Uuid::new_v4());
        let fallback = JoinError {
            code: ResponseError::UnknownMemberId,
            member_id: req.member_id.clone(),
        };
        let rx = {
            let mut groups = self.lock_groups();
            {
                let mut consumer_groups = self.lock_consumer_groups();
                match consumer_groups.get(group_id) {
                    Some(g) if !g.is_empty() => {
                        // Kafka answers the same (it has no online migration here).
                        return Err(JoinError {
                            code: ResponseError::InconsistentGroupProtocol,
                            member_id: req.member_id,
                        });
                    }
                    Some(_) => {
                        consumer_groups.remove(group_id);
                    }
                    None => {}
                }
            }
            let slot = groups
                .entry(group_id.to_string())
                .or_insert_with(|| GroupSlot::new(group_id));
            match slot.group.join(req, generated, &self.limits, now_ms) {
                JoinDecision::Reply(outcome) => {
                    slot.deliver();
                    return outcome;
                }
                JoinDecision::Wait { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(previous) = slot.join_waiters.insert(member_id.clone(), tx) {
                        // The member asked again while its first request was held.
                        let _ = previous.send(Err(JoinError {
                            code: ResponseError::RebalanceInProgress,
                            member_id,
                        }));
                    }
                    slot.deliver();
                    rx
                }
            }
        };
        rx.await.unwrap_or(Err(fallback))
    }

    /// SyncGroup: followers resolve when the leader's assignment arrives.
    pub async fn sync(&self, group_id: &str, req: SyncRequest, now_ms: i64) -> SyncOutcome {
        if !self.owns(group_id) {
            return Err(ResponseError::NotCoordinator);
        }
        let member_id = req.member_id.clone();
        let rx = {
            let mut groups = self.lock_groups();
            let Some(slot) = groups.get_mut(group_id) else {
                return Err(ResponseError::UnknownMemberId);
            };
            // Register first: the leader's own answer is among the wakeups of its call.
            let (tx, rx) = oneshot::channel();
            if let Some(previous) = slot.sync_waiters.insert(member_id.clone(), tx) {
                let _ = previous.send(Err(ResponseError::RebalanceInProgress));
            }
            match slot.group.sync(req, now_ms) {
                SyncDecision::Reply(outcome) => {
                    slot.sync_waiters.remove(&member_id);
                    slot.deliver();
                    return outcome;
                }
                SyncDecision::Wait => {
                    slot.deliver();
                    rx
                }
            }
        };
        rx.await.unwrap_or(Err(ResponseError::RebalanceInProgress))
    }

    /// Heartbeat.
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if !self.owns(group_id) {
            return Err(ResponseError::NotCoordinator);
        }
        let mut groups = self.lock_groups();
        let slot = groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        let result = slot
            .group
            .heartbeat(member_id, group_instance_id, generation_id, now_ms);
        slot.deliver();
        result
    }

    /// LeaveGroup for each `(member id, group instance id)`.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now_ms: i64,
    ) -> Vec<Result<(), ResponseError>> {
        if !self.owns(group_id) {
            return members
                .iter()
                .map(|_| Err(ResponseError::NotCoordinator))
                .collect();
        }
        let mut groups = self.lock_groups();
        let Some(slot) = groups.get_mut(group_id) else {
            return members
                .iter()
                .map(|_| Err(ResponseError::UnknownMemberId))
                .collect();
        };
        let results = members
            .iter()
            .map(|(member_id, instance)| slot.group.leave(member_id, instance.as_deref(), now_ms))
            .collect();
        slot.deliver();
        results
    }

    /// DescribeGroups; `None` for a group that does not exist.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        if let Some(g) = self.consumer_describe(group_id) {
            return Some(GroupDescription {
                state: ListedState::Consumer(g.state),
                protocol_type: "consumer".to_string(),
                protocol_name: g.assignor.name().to_string(),
                members: g
                    .members
                    .into_iter()
                    .map(|m| MemberDescription {
                        metadata: consumer_protocol_subscription(&m.subscribed_topic_names),
                        assignment: consumer_protocol_assignment(&m.assignment, &g.topic_names),
                        member_id: m.member_id,
                        group_instance_id: m.instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                    })
                    .collect(),
            });
        }
        let groups = self.lock_groups();
        let group = &groups.get(group_id)?.group;
        let stable = group.state() == GroupState::Stable;
        Some(GroupDescription {
            state: group.state().into(),
            protocol_type: group.protocol_type().unwrap_or_default().to_string(),
            protocol_name: if stable {
                group.protocol_name().unwrap_or_default().to_string()
            } else {
                String::new()
            },
            members: group.describe_members(),
        })
    }

    /// ListGroups.
    pub fn list(&self) -> Vec<GroupListing> {
        let mut listed: Vec<GroupListing> = self
            .lock_groups()
            .values()
            .map(|s| GroupListing {
                group_id: s.group.group_id().to_string(),
                protocol_type: s.group.protocol_type().unwrap_or_default().to_string(),
                state: s.group.state().into(),
                group_type: GroupType::Classic,
            })
            .collect();
        listed.extend(self.lock_consumer_groups().values().map(|g| GroupListing {
            group_id: g.group_id().to_string(),
            protocol_type: "consumer".to_string(),
            state: ListedState::Consumer(g.state()),
            group_type: GroupType::Consumer,
        }));
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listed
    }

    /// DeleteGroups for one group: only empty groups; their committed offsets are
    /// tombstoned durably before the group disappears.
    pub fn delete_group(
        &self,
        group_id: &str,
        now_ms: i64,
    ) -> Result<Option<Replication>, ResponseError> {
        let journal = self
            .journal
            .lock_group(group_id)
            .ok_or(ResponseError::NotCoordinator)?;
        let _order = journal.hold();
        let mut groups = self.lock_groups();
        let consumer_group = match self.lock_consumer_groups().get(group_id) {
            Some(g) if !g.is_empty() => return Err(ResponseError::NonEmptyGroup),
            Some(_) => true,
            None => false,
        };
        match groups.get(group_id) {
            Some(slot) if slot.group.state() != GroupState::Empty => {
                return Err(ResponseError::NonEmptyGroup);
            }
            Some(_) => {}
            None if consumer_group || self.lock_offsets().has_group(group_id) => {}
            None => return Err(ResponseError::GroupIdNotFound),
        }
        let tombstones = self.lock_offsets().group_tombstones(group_id);
        let end = journal.append(&tombstones, now_ms)?;
        let mut store = self.lock_offsets();
        for t in tombstones {
            store.apply(t);
        }
        groups.remove(group_id);
        self.lock_consumer_groups().remove(group_id);
        tracing::info!(group = group_id, "group deleted");
        Ok(end.map(|end_offset| Replication {
            partition: journal.partition().clone(),
            end_offset,
        }))
    }

    /// OffsetCommit of already validated partitions: checks membership, appends durably,
    /// then makes the offsets visible.
    pub fn commit_offsets(
        &self,
        group_id: &str,
        member: &OffsetCommitter,
        offsets: Vec<(String, i32, OffsetValue)>,
        now_ms: i64,
    ) -> Result<Option<Replication>, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        if offsets.is_empty() {
            // Every partition was refused by the handler; nothing to validate or write.
            return Ok(None);
        }
        let journal = self
            .journal
            .lock_group(group_id)
            .ok_or(ResponseError::NotCoordinator)?;
        let _order = journal.hold();
        let consumer_group = {
            let groups = self.lock_groups();
            let consumer_groups = self.lock_consumer_groups();
            match consumer_groups.get(group_id) {
                // Consumer protocol: the generation id carries the member epoch. Kafka
                // wants OffsetCommit v9+ from such members; librdkafka and Java send
                // lower versions to brokers that serve at most v8, so those are checked
                // the same way.
                Some(g) if !groups.contains_key(group_id) => {
                    g.validate_offset_commit(&member.member_id, member.generation_id)?;
                    true
                }
                _ => false,
            }
        };
        if !consumer_group {
            let mut groups = self.lock_groups();
            let created = !groups.contains_key(group_id);
            if created && member.generation_id >= 0 {
                // Not a simple commit, and no such group: a commit from an older life.
                return Err(ResponseError::IllegalGeneration);
            }
            let slot = groups
                .entry(group_id.to_string())
                .or_insert_with(|| GroupSlot::new(group_id));
            let checked = slot.group.validate_offset_commit(
                &member.member_id,
                member.group_instance_id.as_deref(),
                member.generation_id,
                now_ms,
            );
            if let Err(code) = checked {
                if created {
                    groups.remove(group_id);
                }
                return Err(code);
            }
        }
        let records = commit_records(group_id, offsets);
        let end = journal.append(&records, now_ms)?;
        let mut store = self.lock_offsets();
        for r in records {
            store.apply(r);
        }
        Ok(end.map(|end_offset| Replication {
            partition: journal.partition().clone(),
            end_offset,
        }))
    }

    /// The committed offset of one partition.
    pub fn committed_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<OffsetValue> {
        self.lock_offsets().get(group_id, topic, partition).cloned()
    }

    /// Every committed offset of a group, ordered by topic and partition.
    pub fn group_offsets(&self, group_id: &str) -> Vec<(String, i32, OffsetValue)> {
        self.lock_offsets()
            .group_offsets(group_id)
            .into_iter()
            .map(|((t, p), v)| (t, p, v))
            .collect()
    }

    /// OffsetDelete: a group-level error, or one result per requested partition. Offsets
    /// of topics the members consume stay (GROUP_SUBSCRIBED_TO_TOPIC).
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
        now_ms: i64,
    ) -> Result<(Vec<Result<(), ResponseError>>, Option<Replication>), ResponseError> {
        let journal = self
            .journal
            .lock_group(group_id)
            .ok_or(ResponseError::NotCoordinator)?;
        let _order = journal.hold();
        let subscribed = {
            let groups = self.lock_groups();
            let consumer_subscribed = self
                .lock_consumer_groups()
                .get(group_id)
                .filter(|g| !g.is_empty())
                .map(|g| g.subscribed_topic_names());
            match groups.get(group_id) {
                _ if consumer_subscribed.is_some() => {
                    consumer_subscribed.map(|topics| Some(topics.into_iter().collect()))
                }
                None if !self.lock_offsets().has_group(group_id) => {
                    return Err(ResponseError::GroupIdNotFound);
                }
                Some(slot) if slot.group.state() != GroupState::Empty => {
                    if slot.group.protocol_type() != Some("consumer") {
                        return Err(ResponseError::NonEmptyGroup);
                    }
                    // Unknown subscriptions count as subscribed to everything.
                    Some(slot.group.subscribed_topics())
                }
                _ => None,
            }
        };
        let results: Vec<Result<(), ResponseError>> = partitions
            .iter()
            .map(|(topic, _)| match &subscribed {
                Some(None) => Err(ResponseError::GroupSubscribedToTopic),
                Some(Some(topics)) if topics.contains(topic) => {
                    Err(ResponseError::GroupSubscribedToTopic)
                }
                _ => Ok(()),
            })
            .collect();
        let tombstones: Vec<OffsetsRecord> = {
            let store = self.lock_offsets();
            partitions
                .iter()
                .zip(&results)
                .filter(|((topic, partition), result)| {
                    result.is_ok() && store.get(group_id, topic, *partition).is_some()
                })
                .map(|((topic, partition), _)| {
                    OffsetsRecord::Tombstone(OffsetKey {
                        group: group_id.to_string(),
                        topic: topic.clone(),
                        partition: *partition,
                    })
                })
                .collect()
        };
        let end = journal.append(&tombstones, now_ms)?;
        let mut store = self.lock_offsets();
        for t in tombstones {
            store.apply(t);
        }
        Ok((
            results,
            end.map(|end_offset| Replication {
                partition: journal.partition().clone(),
                end_offset,
            }),
        ))
    }

    fn lock_groups(&self) -> MutexGuard<'_, BTreeMap<String, GroupSlot>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pending(&self) -> MutexGuard<'_, HashMap<(i32, i64), Vec<OffsetsRecord>>> {
        self.pending_txn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// TxnOffsetCommit of already validated partitions: checks the member as OffsetCommit
    /// does (when it names one), appends the offsets as a transactional batch of `producer`
    /// (id, epoch) and keeps them pending until the transaction's marker.
    pub fn commit_txn_offsets(
        &self,
        group_id: &str,
        member: &OffsetCommitter,
        producer: (i64, i16),
        offsets: Vec<(String, i32, OffsetValue)>,
        now_ms: i64,
    ) -> Result<Option<Replication>, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        if offsets.is_empty() {
            return Ok(None);
        }
        let index = self
            .journal
            .partition_of(group_id)
            .ok_or(ResponseError::NotCoordinator)?;
        let journal = self
            .journal
            .lock_group(group_id)
            .ok_or(ResponseError::NotCoordinator)?;
        let _order = journal.hold();
        if !member.member_id.is_empty() || member.generation_id >= 0 {
            // A member of either protocol; its generation or member epoch must be current.
            let mut groups = self.lock_groups();
            let consumer_groups = self.lock_consumer_groups();
            match (groups.get_mut(group_id), consumer_groups.get(group_id)) {
                (Some(slot), _) => slot.group.validate_offset_commit(
                    &member.member_id,
                    member.group_instance_id.as_deref(),
                    member.generation_id,
                    now_ms,
                )?,
                (None, Some(g)) => {
                    g.validate_offset_commit(&member.member_id, member.generation_id)?
                }
                (None, None) => return Err(ResponseError::IllegalGeneration),
            }
        }
        let records = commit_records(group_id, offsets);
        let end = journal.append_txn(&records, producer, now_ms)?;
        self.lock_pending()
            .entry((index, producer.0))
            .or_default()
            .extend(records);
        Ok(end.map(|end_offset| Replication {
            partition: journal.partition().clone(),
            end_offset,
        }))
    }

    /// A transaction marker was written to `__consumer_offsets` partition `index`: the
    /// producer's pending offsets become committed offsets (COMMIT) or are dropped (ABORT).
    pub fn complete_txn(&self, index: i32, producer_id: i64, commit: bool) {
        let records = self.lock_pending().remove(&(index, producer_id));
        if let Some(records) = records.filter(|_| commit) {
            let mut store = self.lock_offsets();
            for r in records {
                store.apply(r);
            }
        }
    }

    /// Whether a transaction not yet decided wrote an offset for this group and partition
    /// (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT).
    pub fn has_pending_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.lock_pending().values().flatten().any(|r| {
            matches!(r, OffsetsRecord::Commit(k, _)
                if k.group == group_id && k.topic == topic && k.partition == partition)
        })
    }

    fn lock_consumer_groups(&self) -> MutexGuard<'_, BTreeMap<String, ConsumerGroup>> {
        self.consumer_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn lock_offsets(&self) -> MutexGuard<'_, OffsetStore> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Version of the ConsumerProtocol bytes DescribeGroups gives for consumer-protocol members
/// (v0: readable by every client).
const CONSUMER_PROTOCOL_VERSION: i16 = 0;

/// A consumer-protocol member's subscription as classic DescribeGroups carries it (Kafka
/// does the same for such members): `int16 version` + ConsumerProtocolSubscription.
fn consumer_protocol_subscription(topics: &[String]) -> bytes::Bytes {
    let mut s = kafka_protocol::messages::ConsumerProtocolSubscription::default();
    s.topics = topics
        .iter()
        .map(|t| kafka_protocol::protocol::StrBytes::from_string(t.clone()))
        .collect();
    encode_consumer_protocol(&s)
}

/// A consumer-protocol member's assignment as classic DescribeGroups carries it.
fn consumer_protocol_assignment(
    assignment: &consumer::Assignment,
    names: &BTreeMap<Uuid, String>,
) -> bytes::Bytes {
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    let mut a = kafka_protocol::messages::ConsumerProtocolAssignment::default();
    a.assigned_partitions = assignment
        .iter()
        .filter_map(|(id, ps)| {
            let mut tp = TopicPartition::default();
            tp.topic = kafka_protocol::messages::TopicName(
                kafka_protocol::protocol::StrBytes::from_string(names.get(id)?.clone()),
            );
            tp.partitions = ps.iter().copied().collect();
            Some(tp)
        })
        .collect();
    encode_consumer_protocol(&a)
}

fn encode_consumer_protocol<M: kafka_protocol::protocol::Encodable>(message: &M) -> bytes::Bytes {
    let mut buf = bytes::BytesMut::new();
    bytes::BufMut::put_i16(&mut buf, CONSUMER_PROTOCOL_VERSION);
    match message.encode(&mut buf, CONSUMER_PROTOCOL_VERSION) {
        Ok(()) => buf.freeze(),
        // Unreachable for v0 messages of names and partitions; describe with no bytes.
        Err(_) => bytes::Bytes::new(),
    }
}

/// Who commits offsets: a member of the current generation, or anyone (generation -1, no
/// member id) for a group without members.
#[derive(Debug, Clone, Default)]
pub struct OffsetCommitter {
    /// Member id ("" for simple commits).
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Generation, -1 for simple commits.
    pub generation_id: i32,
}

/// The `__consumer_offsets` records of a commit of `offsets` by `group_id`.
fn commit_records(group_id: &str, offsets: Vec<(String, i32, OffsetValue)>) -> Vec<OffsetsRecord> {
    offsets
        .into_iter()
        .map(|(topic, partition, value)| {
            OffsetsRecord::Commit(
                OffsetKey {
                    group: group_id.to_string(),
                    topic,
                    partition,
                },
                value,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
