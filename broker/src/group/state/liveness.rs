//! Liveness of members: heartbeats, leaving, offset commits from members, and the clock
//! (session expiry, KIP-394 pending members, SyncGroups that never came).

use kafka_protocol::ResponseError;

use super::{Group, GroupState};

impl Group {
    /// Handles a Heartbeat: keeps the session alive and tells members to rejoin while a
    /// rebalance is pending.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        self.check_member(member_id, group_instance_id)?;
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
        }
        match self.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
        }
    }

    /// Removes one member (LeaveGroup), by member id or — v3+ — by group instance id.
    pub fn leave(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let target = match group_instance_id {
            Some(instance) => match self.static_members.get(instance) {
                None => return Err(ResponseError::UnknownMemberId),
                Some(id) if !member_id.is_empty() && id != member_id => {
                    return Err(ResponseError::FencedInstanceId);
                }
                Some(id) => id.clone(),
            },
            None => member_id.to_string(),
        };
        if self.pending_members.remove(&target).is_some() {
            self.maybe_complete_join(now_ms);
            return Ok(());
        }
        if !self.members.contains_key(&target) {
            return Err(ResponseError::UnknownMemberId);
        }
        self.remove_member_and_rebalance(&target, now_ms);
        Ok(())
    }

    /// Checks an OffsetCommit against membership, as Kafka's `validateOffsetCommit`: a
    /// commit naming a member must come from a current member of the current generation
    /// (not while the assignment is being distributed); an anonymous one (`generation -1`,
    /// empty member id) only to an empty group.
    pub fn validate_offset_commit(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.check_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(ResponseError::IllegalGeneration);
            }
            if self.state == GroupState::CompletingRebalance {
                return Err(ResponseError::RebalanceInProgress);
            }
            if let Some(m) = self.members.get_mut(member_id) {
                m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
            }
            Ok(())
        } else if self.state != GroupState::Empty {
            Err(ResponseError::UnknownMemberId)
        } else {
            Ok(())
        }
    }

    // ---------------------------------------------------------------- time

    /// Expires members whose session passed, KIP-394 pending member ids never used, and
    /// members that never sent SyncGroup; completes a rebalance whose deadline passed.
    pub fn tick(&mut self, now_ms: i64) {
        self.pending_members
            .retain(|_, deadline| *deadline > now_ms);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && !m.awaiting_sync && m.session_deadline_ms <= now_ms)
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            self.remove_member_and_rebalance(&id, now_ms);
        }
        let syncing = matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if syncing && !self.pending_sync.is_empty() && now_ms >= self.pending_sync_deadline_ms {
            let never_synced: Vec<String> =
                std::mem::take(&mut self.pending_sync).into_iter().collect();
            for id in never_synced {
                if self.members.contains_key(&id) {
                    self.remove_member_and_rebalance(&id, now_ms);
                }
            }
        }
        self.maybe_complete_join(now_ms);
    }

    fn remove_member_and_rebalance(&mut self, member_id: &str, now_ms: i64) {
        self.remove_member(member_id, ResponseError::UnknownMemberId);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now_ms),
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
        }
        self.maybe_complete_join(now_ms);
    }
}
