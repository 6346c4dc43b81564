//! The classic group membership protocol of one group as a pure state machine: requests and
//! the clock go in, answers come out; no I/O, no locks, no waiting.
//!
//! Requests Kafka holds (JoinGroup until the rebalance completes, SyncGroup until the
//! leader's assignment arrives) are answered [`JoinDecision::Wait`] / [`SyncDecision::Wait`];
//! their answers appear later in [`Group::take_wakeups`], possibly already after the same
//! call (the last member to rejoin completes the rebalance for everyone, itself included).
//!
//! States follow Kafka's `GroupMetadata`:
//!
//! ```text
//! Empty ──join──▶ PreparingRebalance ──all rejoined / timeout──▶ CompletingRebalance
//!   ▲                 ▲        ▲                                      │ leader's SyncGroup
//!   └─last member─────┘        └──join, leave, expiry, metadata change─ Stable ◀┘
//! ```
//!
//! Time is an explicit `now_ms` argument; [`Group::tick`] expires sessions, KIP-394 pending
//! members and SyncGroups that never came, and completes rebalances whose deadline passed.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kafka_protocol::ResponseError;

pub use super::requests::*;

mod liveness;

/// Kafka's group states, named as DescribeGroups and ListGroups report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may still be committed).
    Empty,
    /// Waiting for every member to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assignment distributed.
    Stable,
    /// Removed (only reported for unknown groups).
    Dead,
}

impl GroupState {
    /// The name Kafka uses on the wire.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Broker-wide limits that apply to every group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members.
    pub initial_rebalance_delay_ms: i64,
}

#[derive(Debug, Clone)]
struct Member {
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<Protocol>,
    assignment: Bytes,
    /// Order of first join: the earliest member becomes leader when one must be chosen.
    join_seq: u64,
    /// Removed when no heartbeat arrives before this (unless a request of it is held).
    session_deadline_ms: i64,
    awaiting_join: bool,
    awaiting_sync: bool,
}

impl Member {
    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }

    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }
}

/// The pending rebalance of a group in PreparingRebalance.
#[derive(Debug, Clone, Copy)]
struct Rebalance {
    deadline_ms: i64,
    /// Set when the rebalance started from Empty: it waits the initial delay, extended
    /// while new members keep arriving, and never completes early.
    initial: Option<InitialDelay>,
}

#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    delay_ms: i64,
    remaining_ms: i64,
    new_member_added: bool,
}

/// One classic group.
#[derive(Debug, Clone)]
pub struct Group {
    group_id: String,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader_id: Option<String>,
    members: BTreeMap<String, Member>,
    /// KIP-394 member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending_members: BTreeMap<String, i64>,
    /// group.instance.id → member id.
    static_members: BTreeMap<String, String>,
    rebalance: Option<Rebalance>,
    /// Members of the current generation that have not sent SyncGroup yet, and until when
    /// they may.
    pending_sync: BTreeSet<String>,
    pending_sync_deadline_ms: i64,
    next_join_seq: u64,
    wakeups: Vec<Wakeup>,
}

impl Group {
    /// A new empty group.
    pub fn new(group_id: impl Into<String>) -> Self {
        Group {
            group_id: group_id.into(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            rebalance: None,
            pending_sync: BTreeSet::new(),
            pending_sync_deadline_ms: 0,
            next_join_seq: 0,
            wakeups: Vec::new(),
        }
    }

    /// Group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Current state.
    pub fn state(&self) -> GroupState {
        self.state
    }

    /// Current generation (0 before the first rebalance).
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    /// Protocol type of the members (`consumer`), once anyone joined.
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    /// The strategy selected for the current generation.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    /// The leader's member id.
    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    /// Whether `member_id` is a member.
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// Number of members.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Answers of held requests produced since the last call.
    pub fn take_wakeups(&mut self) -> Vec<Wakeup> {
        std::mem::take(&mut self.wakeups)
    }

    /// Members for DescribeGroups: metadata and assignment only when Stable, as Kafka does.
    pub fn describe_members(&self) -> Vec<MemberDescription> {
        let stable_protocol = self
            .protocol_name
            .as_deref()
            .filter(|_| self.state == GroupState::Stable);
        self.members_by_join_order()
            .into_iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: stable_protocol
                    .map(|p| m.metadata_for(p))
                    .unwrap_or_default(),
                assignment: if stable_protocol.is_some() {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect()
    }

    /// Topics the members subscribe to (consumer groups), or `None` when that is not known
    /// (other protocol types, no protocol selected yet, unparsable metadata).
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(subscription_topics(&m.metadata_for(protocol))?);
        }
        Some(topics)
    }

    // ---------------------------------------------------------------- JoinGroup

    /// Handles a JoinGroup. `generated_member_id` is used when the broker must hand out a
    /// new member id (the caller builds it as `{client_id or instance id}-{uuid}`).
    pub fn join(
        &mut self,
        req: JoinRequest,
        generated_member_id: String,
        limits: &GroupLimits,
        now_ms: i64,
    ) -> JoinDecision {
        let fail = |code, member_id: &str| {
            JoinDecision::Reply(Err(JoinError {
                code,
                member_id: member_id.to_string(),
            }))
        };
        if req.session_timeout_ms < limits.min_session_timeout_ms
            || req.session_timeout_ms > limits.max_session_timeout_ms
        {
            return fail(ResponseError::InvalidSessionTimeout, &req.member_id);
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol, &req.member_id);
        }
        if self.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable, &req.member_id);
        }
        let decision = if req.member_id.is_empty() {
            self.join_new_member(req, generated_member_id, limits, now_ms)
        } else {
            self.join_known_member(req, limits, now_ms)
        };
        self.maybe_complete_join(now_ms);
        decision
    }

    fn join_new_member(
        &mut self,
        req: JoinRequest,
        member_id: String,
        limits: &GroupLimits,
        now_ms: i64,
    ) -> JoinDecision {
        if !self.supports_protocols(&req, None) {
            return JoinDecision::Reply(Err(JoinError {
                code: ResponseError::InconsistentGroupProtocol,
                member_id: String::new(),
            }));
        }
        if let Some(instance) = &req.group_instance_id {
            // A static member restarting: the new incarnation replaces the old one, whose
            // held requests are fenced.
            if let Some(old) = self.static_members.get(instance).cloned() {
                self.remove_member(&old, ResponseError::FencedInstanceId);
            }
        } else if req.require_known_member_id {
            self.pending_members.insert(
                member_id.clone(),
                now_ms + i64::from(req.session_timeout_ms),
            );
            return JoinDecision::Reply(Err(JoinError {
                code: ResponseError::MemberIdRequired,
                member_id,
            }));
        }
        self.add_member_and_rebalance(req, member_id, limits, now_ms)
    }

    fn join_known_member(
        &mut self,
        req: JoinRequest,
        limits: &GroupLimits,
        now_ms: i64,
    ) -> JoinDecision {
        let member_id = req.member_id.clone();
        let fail = |code| {
            JoinDecision::Reply(Err(JoinError {
                code,
                member_id: member_id.clone(),
            }))
        };
        if self.pending_members.contains_key(&member_id) {
            if !self.supports_protocols(&req, None) {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
            self.pending_members.remove(&member_id);
            return self.add_member_and_rebalance(req, member_id.clone(), limits, now_ms);
        }
        if let Err(code) = self.check_instance(&member_id, req.group_instance_id.as_deref()) {
            return fail(code);
        }
        let Some(member) = self.members.get(&member_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        if !self.supports_protocols(&req, Some(&member_id)) {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        let unchanged = member.protocols == req.protocols;
        let is_leader = self.leader_id.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member(req, now_ms);
                JoinDecision::Wait { member_id }
            }
            // A member whose join answer got lost asks again: repeat it.
            GroupState::CompletingRebalance if unchanged => {
                JoinDecision::Reply(Ok(self.join_result(&member_id)))
            }
            // A follower with unchanged metadata just learns the current generation; the
            // leader rejoining or changed metadata (new subscription) means a rebalance.
            GroupState::Stable if unchanged && !is_leader => {
                JoinDecision::Reply(Ok(self.join_result(&member_id)))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member(req, now_ms);
                self.prepare_rebalance(now_ms);
                JoinDecision::Wait { member_id }
            }
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        member_id: String,
        limits: &GroupLimits,
        now_ms: i64,
    ) -> JoinDecision {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            join_seq: self.next_join_seq,
            session_deadline_ms: now_ms + i64::from(req.session_timeout_ms),
            awaiting_join: true,
            awaiting_sync: false,
        };
        self.next_join_seq += 1;
        self.members.insert(member_id.clone(), member);
        match self.state {
            GroupState::Empty => {
                self.prepare_rebalance_with(now_ms, Some(limits.initial_rebalance_delay_ms))
            }
            GroupState::CompletingRebalance | GroupState::Stable => self.prepare_rebalance(now_ms),
            GroupState::PreparingRebalance => {
                if let Some(Rebalance {
                    initial: Some(initial),
                    ..
                }) = &mut self.rebalance
                {
                    initial.new_member_added = true;
                }
            }
            GroupState::Dead => {}
        }
        JoinDecision::Wait { member_id }
    }

    fn update_member(&mut self, req: JoinRequest, now_ms: i64) {
        if let Some(m) = self.members.get_mut(&req.member_id) {
            m.client_id = req.client_id;
            m.client_host = req.client_host;
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.protocols = req.protocols;
            m.session_deadline_ms = now_ms + i64::from(req.session_timeout_ms);
            m.awaiting_join = true;
        }
    }

    /// Kafka's check: the first member may bring any (non-empty) protocol; later ones must
    /// share the protocol type and at least one strategy every other member supports.
    fn supports_protocols(&self, req: &JoinRequest, except: Option<&str>) -> bool {
        let mut others = self
            .members
            .values()
            .filter(|m| Some(m.member_id.as_str()) != except)
            .peekable();
        if others.peek().is_none() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(req.protocol_type.as_str()) {
            return false;
        }
        let others: Vec<&Member> = others.collect();
        req.protocols
            .iter()
            .any(|p| others.iter().all(|m| m.supports(&p.name)))
    }

    /// The JoinGroup answer of the current generation for `member_id`.
    fn join_result(&self, member_id: &str) -> JoinResult {
        let leader_id = self.leader_id.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader_id == member_id {
            self.members_by_join_order()
                .into_iter()
                .map(|m| JoinedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata_for(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            member_id: member_id.to_string(),
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id,
            members,
        }
    }

    // ---------------------------------------------------------------- rebalance

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn prepare_rebalance(&mut self, now_ms: i64) {
        self.prepare_rebalance_with(now_ms, None);
    }

    /// Enters PreparingRebalance. `initial_delay_ms` is given when the group was Empty.
    fn prepare_rebalance_with(&mut self, now_ms: i64, initial_delay_ms: Option<i64>) {
        if self.state == GroupState::CompletingRebalance {
            // The assignment being distributed is void: followers waiting for it rejoin.
            self.fail_awaiting_sync(ResponseError::RebalanceInProgress);
        }
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
        }
        self.pending_sync.clear();
        let timeout = self.rebalance_timeout_ms();
        self.rebalance = Some(match initial_delay_ms {
            Some(delay) => Rebalance {
                deadline_ms: now_ms + delay.min(timeout),
                initial: Some(InitialDelay {
                    delay_ms: delay,
                    remaining_ms: (timeout - delay).max(0),
                    new_member_added: false,
                }),
            },
            None => Rebalance {
                deadline_ms: now_ms + timeout,
                initial: None,
            },
        });
        self.state = GroupState::PreparingRebalance;
    }

    fn maybe_complete_join(&mut self, now_ms: i64) {
        let (GroupState::PreparingRebalance, Some(rebalance)) =
            (self.state, self.rebalance.as_mut())
        else {
            return;
        };
        match &mut rebalance.initial {
            Some(initial) => {
                if now_ms < rebalance.deadline_ms {
                    return;
                }
                if initial.new_member_added && initial.remaining_ms > 0 {
                    let extension = initial.delay_ms.min(initial.remaining_ms);
                    initial.remaining_ms -= extension;
                    initial.new_member_added = false;
                    rebalance.deadline_ms = now_ms + extension;
                    return;
                }
            }
            None => {
                let all_joined = self.members.values().all(|m| m.awaiting_join)
                    && self.pending_members.is_empty();
                if !all_joined && now_ms < rebalance.deadline_ms {
                    return;
                }
            }
        }
        self.complete_join(now_ms);
    }

    /// Ends PreparingRebalance: members that did not rejoin are dropped, the generation
    /// advances, and every rejoined member gets its JoinGroup answer.
    fn complete_join(&mut self, now_ms: i64) {
        let missing: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join)
            .map(|m| m.member_id.clone())
            .collect();
        for id in missing {
            self.remove_member(&id, ResponseError::UnknownMemberId);
        }
        self.rebalance = None;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader_id = None;
            return;
        }
        let leader_id = match self
            .leader_id
            .clone()
            .filter(|l| self.members.contains_key(l))
        {
            Some(l) => l,
            None => self.members_by_join_order()[0].member_id.clone(),
        };
        self.protocol_name = self.select_protocol(&leader_id);
        self.leader_id = Some(leader_id);
        self.state = GroupState::CompletingRebalance;
        self.pending_sync = self.members.keys().cloned().collect();
        self.pending_sync_deadline_ms = now_ms + self.rebalance_timeout_ms();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = false;
                m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
            }
            self.wakeups.push(Wakeup::Join {
                member_id: id,
                outcome: Ok(result),
            });
        }
    }

    /// The first strategy in the leader's preference order that every member supports.
    fn select_protocol(&self, leader_id: &str) -> Option<String> {
        let leader = self.members.get(leader_id)?;
        leader
            .protocols
            .iter()
            .find(|p| self.members.values().all(|m| m.supports(&p.name)))
            .or_else(|| leader.protocols.first())
            .map(|p| p.name.clone())
    }

    // ---------------------------------------------------------------- SyncGroup

    /// Handles a SyncGroup: followers wait for the leader; the leader's assignment makes the
    /// group Stable and answers everyone.
    pub fn sync(&mut self, req: SyncRequest, now_ms: i64) -> SyncDecision {
        let fail = |code| SyncDecision::Reply(Err(code));
        if self.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        if let Err(code) = self.check_member(&req.member_id, req.group_instance_id.as_deref()) {
            return fail(code);
        }
        if req.generation_id != self.generation_id {
            return fail(ResponseError::IllegalGeneration);
        }
        let type_mismatch = req
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_ref());
        let name_mismatch = req
            .protocol_name
            .as_ref()
            .is_some_and(|n| Some(n) != self.protocol_name.as_ref());
        if type_mismatch || name_mismatch {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                self.pending_sync.remove(&req.member_id);
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    m.awaiting_sync = true;
                    m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
                }
                if self.leader_id.as_deref() == Some(req.member_id.as_str()) {
                    let mut assignments: BTreeMap<String, Bytes> =
                        req.assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = assignments.remove(&m.member_id).unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                    let waiting: Vec<String> = self
                        .members
                        .values()
                        .filter(|m| m.awaiting_sync)
                        .map(|m| m.member_id.clone())
                        .collect();
                    for id in waiting {
                        let outcome = Ok(self.sync_result(&id));
                        if let Some(m) = self.members.get_mut(&id) {
                            m.awaiting_sync = false;
                        }
                        self.wakeups.push(Wakeup::Sync {
                            member_id: id,
                            outcome,
                        });
                    }
                }
                SyncDecision::Wait
            }
            GroupState::Stable => {
                self.pending_sync.remove(&req.member_id);
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
                }
                SyncDecision::Reply(Ok(self.sync_result(&req.member_id)))
            }
        }
    }

    fn sync_result(&self, member_id: &str) -> SyncResult {
        SyncResult {
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    fn fail_awaiting_sync(&mut self, code: ResponseError) {
        for m in self.members.values_mut().filter(|m| m.awaiting_sync) {
            m.awaiting_sync = false;
            self.wakeups.push(Wakeup::Sync {
                member_id: m.member_id.clone(),
                outcome: Err(code),
            });
        }
    }

    // ---------------------------------------------------------------- helpers

    fn check_instance(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        match group_instance_id.and_then(|i| self.static_members.get(i)) {
            Some(id) if id != member_id => Err(ResponseError::FencedInstanceId),
            _ => Ok(()),
        }
    }

    fn check_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        self.check_instance(member_id, group_instance_id)?;
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        }
    }

    /// Drops a member; its held requests are answered with `code`.
    fn remove_member(&mut self, member_id: &str, code: ResponseError) {
        let Some(m) = self.members.remove(member_id) else {
            return;
        };
        if let Some(instance) = &m.group_instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        if m.awaiting_join {
            self.wakeups.push(Wakeup::Join {
                member_id: m.member_id.clone(),
                outcome: Err(JoinError {
                    code,
                    member_id: m.member_id.clone(),
                }),
            });
        }
        if m.awaiting_sync {
            self.wakeups.push(Wakeup::Sync {
                member_id: m.member_id.clone(),
                outcome: Err(code),
            });
        }
        self.pending_sync.remove(member_id);
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = None;
        }
    }

    fn members_by_join_order(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.join_seq);
        members
    }
}

#[cfg(test)]
mod tests;
