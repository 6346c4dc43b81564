//! The consumer group protocol of KIP-848 (`ConsumerGroupHeartbeat`): one group as a pure
//! state machine — heartbeats, metadata and the clock in, answers out.
//!
//! # Model (as Kafka's `GroupMetadataManager` and `CurrentAssignmentBuilder`)
//!
//! - The **group epoch** grows whenever what the assignment depends on changes: a member
//!   joins, leaves, expires or changes its subscription, or a subscribed topic appears,
//!   disappears or grows partitions.
//! - The **target assignment** is computed by the server-side assignor ([`assignor`]) for a
//!   group epoch; its epoch is the **assignment epoch**. Here it is computed in the same
//!   step the group epoch moves, so the group is never seen "assigning".
//! - Each member converges to its target one heartbeat at a time, with its own **member
//!   epoch**: it first gives up (revokes) what the target takes away, keeping its epoch; once
//!   a heartbeat shows it no longer owns those partitions it gets the assignment epoch and the
//!   partitions of its target that nobody else still owns. A partition is never given to a
//!   new member before its previous owner acknowledged the revocation.
//! - A heartbeat with an epoch above the member's is fenced (`FENCED_MEMBER_EPOCH`); one
//!   below is accepted only if it is the previous epoch and the member owns nothing it should
//!   not (a lost response), else fenced. Fenced and unknown members rejoin with epoch 0.
//! - Members leave with epoch -1, static members (an instance id) with -2: their partitions
//!   stay theirs until the same instance rejoins or the session expires.
//! - A member that sends no heartbeat for the session timeout is removed; one that does not
//!   revoke within its rebalance timeout is removed too.
//!
//! Membership is in memory only (as for classic groups): after a coordinator restart or
//! move, members get `UNKNOWN_MEMBER_ID` and rejoin; committed offsets are durable.

pub mod assignor;
mod requests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use regex::Regex;
use uuid::Uuid;

use self::assignor::{AssignorKind, DEFAULT_ASSIGNOR};
pub use self::requests::*;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// Member epoch of a heartbeat that joins the group.
pub const JOIN_EPOCH: i32 = 0;
/// Member epoch of a heartbeat that leaves the group.
pub const LEAVE_EPOCH: i32 = -1;
/// Member epoch of a static member's heartbeat that leaves temporarily.
pub const STATIC_LEAVE_EPOCH: i32 = -2;
/// Rebalance timeout of a member that does not give one (Kafka's `max.poll.interval.ms`).
const DEFAULT_REBALANCE_TIMEOUT_MS: i32 = 300_000;

#[derive(Debug, Clone)]
struct Member {
    member_id: String,
    instance_id: Option<String>,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
    epoch: i32,
    previous_epoch: i32,
    state: MemberState,
    assigned: Assignment,
    pending_revocation: Assignment,
    topic_names: BTreeSet<String>,
    regex: Option<(String, Regex)>,
    server_assignor: Option<AssignorKind>,
    rebalance_timeout_ms: i32,
    session_deadline_ms: i64,
    /// Set while revoking: removed if still revoking then.
    revocation_deadline_ms: Option<i64>,
    /// A static member that left with epoch -2: keeps its partitions until its instance
    /// rejoins or the session expires.
    left_static: bool,
}

impl Member {
    fn owns(&self, topic: &Uuid, partition: i32) -> bool {
        let has = |a: &Assignment| a.get(topic).is_some_and(|ps| ps.contains(&partition));
        has(&self.assigned) || has(&self.pending_revocation)
    }

    fn subscribes(&self, name: &str) -> bool {
        self.topic_names.contains(name)
            || self.regex.as_ref().is_some_and(|(_, r)| r.is_match(name))
    }
}

/// One consumer-protocol group.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    group_id: String,
    group_epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, Member>,
    target: BTreeMap<String, Assignment>,
    /// The subscribed topics as resolved at the last heartbeat: a change bumps the epoch.
    subscribed: Topics,
    assignor: AssignorKind,
}

impl ConsumerGroup {
    /// A new, empty group.
    pub fn new(group_id: &str) -> Self {
        ConsumerGroup {
            group_id: group_id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            subscribed: Topics::new(),
            assignor: DEFAULT_ASSIGNOR,
        }
    }

    /// Group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Whether the group has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// How many members it has.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Group epoch.
    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }

    /// Kafka's state of the group.
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// Names of the topics some member subscribes to (OffsetDelete refuses their offsets).
    pub fn subscribed_topic_names(&self) -> BTreeSet<String> {
        self.subscribed.keys().cloned().collect()
    }

    /// Handles one ConsumerGroupHeartbeat. `topics` is the cluster's metadata now.
    pub fn heartbeat(
        &mut self,
        req: HeartbeatRequest,
        topics: &Topics,
        config: &ConsumerGroupConfig,
        now_ms: i64,
    ) -> HeartbeatOutcome {
        if req.member_id.is_empty() {
            return Err(HeartbeatError::new(
                ResponseError::InvalidRequest,
                "MemberId can't be empty",
            ));
        }
        match req.member_epoch {
            LEAVE_EPOCH | STATIC_LEAVE_EPOCH => return self.leave(&req, config, now_ms),
            e if e < 0 => {
                return Err(HeartbeatError::new(
                    ResponseError::InvalidRequest,
                    format!("invalid member epoch {e}"),
                ));
            }
            _ => {}
        }
        // Validate what may refuse the request before anything changes.
        let regex = match req.subscribed_topic_regex.as_deref() {
            Some("") | None => None,
            Some(pattern) => match Regex::new(&format!("^(?:{pattern})$")) {
                Ok(r) => Some((pattern.to_string(), r)),
                Err(_) => {
                    return Err(HeartbeatError::new(
                        ResponseError::InvalidRegularExpression,
                        format!(
                            "SubscribedTopicRegex `{pattern}` is not a valid regular expression"
                        ),
                    ));
                }
            },
        };
        let server_assignor = match req.server_assignor.as_deref() {
            None => None,
            Some(name) => match AssignorKind::from_name(name) {
                Some(kind) => Some(kind),
                None => {
                    return Err(HeartbeatError::new(
                        ResponseError::UnsupportedAssignor,
                        format!("ServerAssignor {name} is not supported; use uniform or range"),
                    ));
                }
            },
        };
        let created = if req.member_epoch == JOIN_EPOCH {
            self.join(&req, now_ms)?
        } else {
            self.check_epoch(&req)?;
            false
        };
        let (before_epoch, before_assigned) = {
            let m = &self.members[&req.member_id];
            (m.epoch, m.assigned.clone())
        };
        let joined = req.member_epoch == JOIN_EPOCH;

        // Update the member.
        let mut subscription_changed = false;
        {
            let m = self.members.get_mut(&req.member_id).ok_or_else(|| {
                HeartbeatError::new(ResponseError::UnknownMemberId, "unknown member")
            })?;
            m.session_deadline_ms = now_ms + i64::from(config.session_timeout_ms);
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
            if req.rack_id.is_some() {
                m.rack_id = req.rack_id.clone();
            }
            if req.rebalance_timeout_ms > 0 {
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            }
            if let Some(names) = &req.subscribed_topic_names {
                let names: BTreeSet<String> = names.iter().cloned().collect();
                if names != m.topic_names {
                    m.topic_names = names;
                    subscription_changed = true;
                }
            }
            if req.subscribed_topic_regex.is_some()
                && regex.as_ref().map(|(p, _)| p) != m.regex.as_ref().map(|(p, _)| p)
            {
                m.regex = regex;
                subscription_changed = true;
            }
            if req.server_assignor.is_some() && server_assignor != m.server_assignor {
                m.server_assignor = server_assignor;
                subscription_changed = true;
            }
        }
        if subscription_changed || created {
            self.group_epoch += 1;
        }
        self.refresh_metadata(topics);
        self.maybe_assign();
        self.reconcile(&req.member_id, req.owned.as_ref(), now_ms);

        let m = &self.members[&req.member_id];
        let changed = m.epoch != before_epoch || m.assigned != before_assigned;
        let stale_view = req.member_epoch != m.epoch
            || req
                .owned
                .as_ref()
                .is_some_and(|o| !same_partitions(o, &m.assigned));
        Ok(HeartbeatResponse {
            member_id: m.member_id.clone(),
            member_epoch: m.epoch,
            heartbeat_interval_ms: config.heartbeat_interval_ms,
            assignment: (joined || changed || stale_view).then(|| m.assigned.clone()),
        })
    }

    /// Epoch 0: creates the member (true), or lets it replace the static member of the same
    /// instance (false). The caller bumps the group epoch for a new member.
    fn join(&mut self, req: &HeartbeatRequest, now_ms: i64) -> Result<bool, HeartbeatError> {
        if let Some(instance) = &req.instance_id {
            let holder = self
                .members
                .values()
                .find(|m| m.instance_id.as_ref() == Some(instance))
                .map(|m| (m.member_id.clone(), m.left_static));
            match holder {
                Some((id, _)) if id == req.member_id => {}
                Some((_, false)) => {
                    return Err(HeartbeatError::new(
                        ResponseError::UnreleasedInstanceId,
                        format!("instance id {instance} is in use by another member"),
                    ));
                }
                Some((old_id, true)) => {
                    // The instance comes back: the new member takes over its partitions and
                    // epoch, with no rebalance.
                    if let Some(mut m) = self.members.remove(&old_id) {
                        m.member_id = req.member_id.clone();
                        m.left_static = false;
                        m.session_deadline_ms = now_ms;
                        self.members.insert(req.member_id.clone(), m);
                    }
                    if let Some(t) = self.target.remove(&old_id) {
                        self.target.insert(req.member_id.clone(), t);
                    }
                    return Ok(false);
                }
                None => {}
            }
        }
        if self.members.remove(&req.member_id).is_some() {
            // Rejoining with epoch 0: it owns nothing any more.
            self.target.remove(&req.member_id);
        }
        self.members.insert(
            req.member_id.clone(),
            Member {
                member_id: req.member_id.clone(),
                instance_id: req.instance_id.clone(),
                rack_id: None,
                client_id: String::new(),
                client_host: String::new(),
                epoch: 0,
                previous_epoch: -1,
                state: MemberState::Stable,
                assigned: Assignment::new(),
                pending_revocation: Assignment::new(),
                topic_names: BTreeSet::new(),
                regex: None,
                server_assignor: None,
                rebalance_timeout_ms: DEFAULT_REBALANCE_TIMEOUT_MS,
                session_deadline_ms: now_ms,
                revocation_deadline_ms: None,
                left_static: false,
            },
        );
        tracing::info!(
            group = %self.group_id,
            member = %req.member_id,
            "consumer group member joined"
        );
        Ok(true)
    }

    /// Kafka's member epoch check for a heartbeat of an existing member.
    fn check_epoch(&self, req: &HeartbeatRequest) -> Result<(), HeartbeatError> {
        let Some(m) = self.members.get(&req.member_id).filter(|m| !m.left_static) else {
            return Err(HeartbeatError::new(
                ResponseError::UnknownMemberId,
                format!("member {} is not in group {}", req.member_id, self.group_id),
            ));
        };
        let fenced = || {
            Err(HeartbeatError::new(
                ResponseError::FencedMemberEpoch,
                format!(
                    "member epoch {} is fenced; the member's epoch is {}",
                    req.member_epoch, m.epoch
                ),
            ))
        };
        if req.member_epoch > m.epoch {
            return fenced();
        }
        if req.member_epoch < m.epoch {
            // A lost response: accepted if the member is one epoch behind and owns no
            // partition it should not.
            let owns_subset = req
                .owned
                .as_ref()
                .is_some_and(|o| is_subset(o, &m.assigned));
            if req.member_epoch != m.previous_epoch || !owns_subset {
                return fenced();
            }
        }
        Ok(())
    }

    /// Epoch -1 (or -2 for a static member): the member leaves.
    fn leave(
        &mut self,
        req: &HeartbeatRequest,
        config: &ConsumerGroupConfig,
        now_ms: i64,
    ) -> HeartbeatOutcome {
        let Some(m) = self.members.get_mut(&req.member_id) else {
            return Err(HeartbeatError::new(
                ResponseError::UnknownMemberId,
                format!("member {} is not in group {}", req.member_id, self.group_id),
            ));
        };
        let response = HeartbeatResponse {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        };
        if req.member_epoch == STATIC_LEAVE_EPOCH && m.instance_id.is_some() {
            m.left_static = true;
            m.session_deadline_ms = now_ms + i64::from(config.session_timeout_ms);
            tracing::info!(group = %self.group_id, member = %req.member_id, "static consumer group member left temporarily");
            return Ok(response);
        }
        self.remove_member(&req.member_id, "left");
        Ok(response)
    }

    fn remove_member(&mut self, member_id: &str, why: &str) {
        if self.members.remove(member_id).is_none() {
            return;
        }
        self.target.remove(member_id);
        self.group_epoch += 1;
        tracing::info!(
            group = %self.group_id,
            member = member_id,
            group_epoch = self.group_epoch,
            reason = why,
            "consumer group member removed"
        );
        if self.members.is_empty() {
            self.subscribed.clear();
            self.target.clear();
            self.assignment_epoch = self.group_epoch;
        } else {
            self.maybe_assign();
        }
    }

    /// Removes members whose session or revocation deadline passed. Returns how many.
    pub fn tick(&mut self, now_ms: i64) -> usize {
        let expired: Vec<(String, &'static str)> = self
            .members
            .values()
            .filter_map(|m| {
                if m.session_deadline_ms < now_ms {
                    Some((m.member_id.clone(), "session timed out"))
                } else if m.revocation_deadline_ms.is_some_and(|d| d < now_ms) {
                    Some((
                        m.member_id.clone(),
                        "did not revoke within the rebalance timeout",
                    ))
                } else {
                    None
                }
            })
            .collect();
        for (id, why) in &expired {
            self.remove_member(id, why);
        }
        expired.len()
    }

    /// Re-resolves the subscribed topics; a change (topic created or deleted, partitions
    /// added, a regex matching a new topic) bumps the group epoch.
    fn refresh_metadata(&mut self, topics: &Topics) {
        let resolved: Topics = topics
            .iter()
            .filter(|(name, _)| self.members.values().any(|m| m.subscribes(name)))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        if resolved != self.subscribed {
            self.subscribed = resolved;
            self.group_epoch += 1;
        }
    }

    /// Computes a new target assignment if the group epoch moved past it.
    fn maybe_assign(&mut self) {
        if self.group_epoch <= self.assignment_epoch {
            return;
        }
        self.assignor = self.preferred_assignor();
        let members: Vec<(String, BTreeSet<Uuid>)> = self
            .members
            .values()
            .map(|m| {
                let ids = self
                    .subscribed
                    .iter()
                    .filter(|(name, _)| m.subscribes(name))
                    .map(|(_, t)| t.id)
                    .collect();
                (m.member_id.clone(), ids)
            })
            .collect();
        let partitions: BTreeMap<Uuid, i32> = self
            .subscribed
            .values()
            .map(|t| (t.id, t.partitions))
            .collect();
        self.target = self.assignor.assign(&members, &partitions, &self.target);
        self.assignment_epoch = self.group_epoch;
        tracing::info!(
            group = %self.group_id,
            assignment_epoch = self.assignment_epoch,
            assignor = self.assignor.name(),
            members = self.members.len(),
            partitions = partitions.values().map(|c| i64::from(*c)).sum::<i64>(),
            "consumer group target assignment computed"
        );
    }

    /// The assignor most members ask for (ties: uniform first), else the default.
    fn preferred_assignor(&self) -> AssignorKind {
        let mut votes: BTreeMap<AssignorKind, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.server_assignor {
                *votes.entry(a).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by_key(|(kind, n)| (*n, std::cmp::Reverse(*kind)))
            .map_or(DEFAULT_ASSIGNOR, |(kind, _)| kind)
    }

    /// Moves one member toward its target (Kafka's `CurrentAssignmentBuilder`).
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now_ms: i64) {
        let Some(m) = self.members.get(member_id) else {
            return;
        };
        let advance = match m.state {
            MemberState::Stable => m.epoch < self.assignment_epoch,
            // Only once a heartbeat shows the revoked partitions are gone.
            MemberState::UnrevokedPartitions => {
                owned.is_some_and(|o| !intersects(o, &m.pending_revocation))
            }
            MemberState::UnreleasedPartitions => true,
        };
        if !advance {
            return;
        }
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let owned_elsewhere = |topic: &Uuid, p: i32| {
            self.members
                .values()
                .any(|o| o.member_id != member_id && o.owns(topic, p))
        };
        let mut kept = Assignment::new();
        let mut revoke = Assignment::new();
        for (topic, ps) in &m.assigned {
            for &p in ps {
                let into = if target.get(topic).is_some_and(|t| t.contains(&p)) {
                    &mut kept
                } else {
                    &mut revoke
                };
                into.entry(*topic).or_default().insert(p);
            }
        }
        let mut assignable = Assignment::new();
        let mut unreleased = false;
        for (topic, ps) in &target {
            for &p in ps {
                if kept.get(topic).is_some_and(|k| k.contains(&p)) {
                    continue;
                }
                if owned_elsewhere(topic, p) {
                    unreleased = true;
                } else {
                    assignable.entry(*topic).or_default().insert(p);
                }
            }
        }
        let assignment_epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        if !revoke.is_empty() {
            m.state = MemberState::UnrevokedPartitions;
            m.assigned = kept;
            m.pending_revocation = revoke;
            if m.revocation_deadline_ms.is_none() {
                m.revocation_deadline_ms = Some(now_ms + i64::from(m.rebalance_timeout_ms));
            }
            return;
        }
        for (topic, ps) in assignable {
            kept.entry(topic).or_default().extend(ps);
        }
        m.assigned = kept;
        m.pending_revocation.clear();
        m.revocation_deadline_ms = None;
        m.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
        if m.epoch != assignment_epoch {
            m.previous_epoch = m.epoch;
            m.epoch = assignment_epoch;
        }
    }

    /// OffsetCommit by a member: the generation id carries its member epoch. `Ok` for simple
    /// commits (no member id, negative epoch) while the group has no members.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), ResponseError> {
        if member_epoch < 0 && member_id.is_empty() && self.members.is_empty() {
            return Ok(());
        }
        let m = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if member_epoch > m.epoch {
            Err(ResponseError::FencedMemberEpoch)
        } else if member_epoch < m.epoch {
            Err(ResponseError::StaleMemberEpoch)
        } else {
            Ok(())
        }
    }

    /// ConsumerGroupDescribe.
    pub fn describe(&self) -> ConsumerGroupDescription {
        ConsumerGroupDescription {
            state: self.state(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor,
            members: self
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.topic_names.iter().cloned().collect(),
                    subscribed_topic_regex: m.regex.as_ref().map(|(p, _)| p.clone()),
                    assignment: m.assigned.clone(),
                    target_assignment: self.target.get(&m.member_id).cloned().unwrap_or_default(),
                })
                .collect(),
            topic_names: self
                .subscribed
                .iter()
                .map(|(name, t)| (t.id, name.clone()))
                .collect(),
        }
    }
}

fn is_subset(owned: &Assignment, of: &Assignment) -> bool {
    owned
        .iter()
        .all(|(t, ps)| ps.is_empty() || of.get(t).is_some_and(|o| ps.is_subset(o)))
}

fn intersects(owned: &Assignment, with: &Assignment) -> bool {
    owned
        .iter()
        .any(|(t, ps)| with.get(t).is_some_and(|w| !ps.is_disjoint(w)))
}

fn same_partitions(a: &Assignment, b: &Assignment) -> bool {
    is_subset(a, b) && is_subset(b, a)
}
