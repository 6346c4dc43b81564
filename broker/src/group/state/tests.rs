//! Unit tests of the pure group state machine, driven with explicit clocks.

use super::*;

const LIMITS: GroupLimits = GroupLimits {
    min_session_timeout_ms: 6_000,
    max_session_timeout_ms: 300_000,
    initial_rebalance_delay_ms: 0,
};
const SESSION: i32 = 10_000;
const REBALANCE: i32 = 60_000;

fn protocols(names: &[&str]) -> Vec<Protocol> {
    names
        .iter()
        .map(|n| Protocol {
            name: n.to_string(),
            metadata: Bytes::from(format!("meta-{n}")),
        })
        .collect()
}

fn join_req(member_id: &str, names: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols(names),
        require_known_member_id: false,
    }
}

fn join(g: &mut Group, member_id: &str, new_id: &str, now: i64) -> JoinDecision {
    g.join(
        join_req(member_id, &["range"]),
        new_id.to_string(),
        &LIMITS,
        now,
    )
}

fn joined(wakeups: &[Wakeup], member: &str) -> JoinResult {
    wakeups
        .iter()
        .find_map(|w| match w {
            Wakeup::Join {
                member_id,
                outcome: Ok(r),
            } if member_id == member => Some(r.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join result for {member} in {wakeups:?}"))
}

fn synced(wakeups: &[Wakeup], member: &str) -> SyncOutcome {
    wakeups
        .iter()
        .find_map(|w| match w {
            Wakeup::Sync { member_id, outcome } if member_id == member => Some(outcome.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync result for {member} in {wakeups:?}"))
}

fn sync_req(member: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        member_id: member.into(),
        generation_id: generation,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
        ..Default::default()
    }
}

/// A Stable group with members `a` (leader) and `b` at generation 2.
fn stable_pair() -> Group {
    let mut g = Group::new("g");
    join(&mut g, "", "a", 0);
    g.take_wakeups();
    g.sync(sync_req("a", 1, &[("a", "A")]), 0);
    g.take_wakeups();
    assert_eq!(
        join(&mut g, "", "b", 10),
        JoinDecision::Wait {
            member_id: "b".into()
        }
    );
    assert_eq!(
        g.heartbeat("a", None, 1, 20),
        Err(ResponseError::RebalanceInProgress)
    );
    assert_eq!(
        join(&mut g, "a", "x", 30),
        JoinDecision::Wait {
            member_id: "a".into()
        }
    );
    let w = g.take_wakeups();
    assert_eq!(joined(&w, "a").generation_id, 2);
    assert_eq!(g.sync(sync_req("b", 2, &[]), 40), SyncDecision::Wait);
    assert_eq!(
        g.sync(sync_req("a", 2, &[("a", "A2"), ("b", "B2")]), 40),
        SyncDecision::Wait
    );
    let w = g.take_wakeups();
    assert_eq!(synced(&w, "b").map(|r| r.assignment), Ok(Bytes::from("B2")));
    assert_eq!(g.state(), GroupState::Stable);
    g
}

#[test]
fn first_member_becomes_leader_with_generation_one() {
    let mut g = Group::new("g");
    assert_eq!(
        join(&mut g, "", "m1", 0),
        JoinDecision::Wait {
            member_id: "m1".into()
        }
    );
    let w = g.take_wakeups();
    let r = joined(&w, "m1");
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader_id, "m1");
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(r.members.len(), 1);
    assert_eq!(r.members[0].metadata, Bytes::from("meta-range"));
    assert_eq!(g.state(), GroupState::CompletingRebalance);
}

#[test]
fn leader_sync_makes_group_stable_and_answers_everyone() {
    let g = stable_pair();
    assert_eq!(g.generation_id(), 2);
    assert_eq!(g.leader_id(), Some("a"));
    let members = g.describe_members();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].assignment, Bytes::from("A2"));
    assert_eq!(members[1].metadata, Bytes::from("meta-range"));
}

#[test]
fn follower_syncing_after_leader_gets_assignment_immediately() {
    let mut g = Group::new("g");
    join(&mut g, "", "a", 0);
    g.take_wakeups();
    g.sync(sync_req("a", 1, &[("a", "A")]), 0);
    join(&mut g, "", "b", 1);
    join(&mut g, "a", "", 2);
    g.take_wakeups();
    g.sync(sync_req("a", 2, &[("a", "A"), ("b", "B")]), 3);
    assert_eq!(
        synced(&g.take_wakeups(), "a").map(|r| r.assignment),
        Ok(Bytes::from("A"))
    );
    match g.sync(sync_req("b", 2, &[]), 4) {
        SyncDecision::Reply(Ok(r)) => assert_eq!(r.assignment, Bytes::from("B")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn member_id_required_then_rejoin_with_it() {
    let mut g = Group::new("g");
    let mut req = join_req("", &["range"]);
    req.require_known_member_id = true;
    let d = g.join(req.clone(), "c-1".into(), &LIMITS, 0);
    assert_eq!(
        d,
        JoinDecision::Reply(Err(JoinError {
            code: ResponseError::MemberIdRequired,
            member_id: "c-1".into()
        }))
    );
    assert_eq!(g.member_count(), 0);
    req.member_id = "c-1".into();
    assert_eq!(
        g.join(req, "unused".into(), &LIMITS, 1),
        JoinDecision::Wait {
            member_id: "c-1".into()
        }
    );
    assert_eq!(joined(&g.take_wakeups(), "c-1").generation_id, 1);
}

#[test]
fn pending_member_blocks_early_completion_until_it_expires() {
    let mut g = stable_pair();
    let mut req = join_req("", &["range"]);
    req.require_known_member_id = true;
    g.join(req, "c".into(), &LIMITS, 100);
    // A rebalance triggered by the leader waits for the pending member too.
    join(&mut g, "a", "", 100);
    join(&mut g, "b", "", 100);
    assert!(g.take_wakeups().is_empty());
    g.tick(100 + i64::from(SESSION));
    let w = g.take_wakeups();
    assert_eq!(joined(&w, "a").generation_id, 3);
}

#[test]
fn unknown_member_id_is_rejected() {
    let mut g = stable_pair();
    let d = join(&mut g, "ghost", "", 100);
    assert_eq!(
        d,
        JoinDecision::Reply(Err(JoinError {
            code: ResponseError::UnknownMemberId,
            member_id: "ghost".into()
        }))
    );
    assert_eq!(
        g.heartbeat("ghost", None, 2, 100),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        g.sync(sync_req("ghost", 2, &[]), 100),
        SyncDecision::Reply(Err(ResponseError::UnknownMemberId))
    );
    assert_eq!(
        g.leave("ghost", None, 100),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn session_timeout_outside_limits_is_rejected() {
    let mut g = Group::new("g");
    for bad in [
        LIMITS.min_session_timeout_ms - 1,
        LIMITS.max_session_timeout_ms + 1,
    ] {
        let mut req = join_req("", &["range"]);
        req.session_timeout_ms = bad;
        match g.join(req, "m".into(), &LIMITS, 0) {
            JoinDecision::Reply(Err(e)) => assert_eq!(e.code, ResponseError::InvalidSessionTimeout),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(g.member_count(), 0);
}

#[test]
fn protocol_type_and_strategies_must_be_compatible() {
    let mut g = Group::new("g");
    join(&mut g, "", "a", 0);
    let mut other_type = join_req("", &["range"]);
    other_type.protocol_type = "connect".into();
    let incompatible = join_req("", &["roundrobin"]);
    let empty = join_req("", &[]);
    for req in [other_type, incompatible, empty] {
        match g.join(req, "b".into(), &LIMITS, 1) {
            JoinDecision::Reply(Err(e)) => {
                assert_eq!(e.code, ResponseError::InconsistentGroupProtocol)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(g.member_count(), 1);
}

#[test]
fn selects_first_protocol_of_leader_that_all_support() {
    let mut g = Group::new("g");
    let limits = GroupLimits {
        initial_rebalance_delay_ms: 100,
        ..LIMITS
    };
    g.join(
        join_req("", &["cooperative-sticky", "range", "roundrobin"]),
        "a".into(),
        &limits,
        0,
    );
    g.join(
        join_req("", &["roundrobin", "range"]),
        "b".into(),
        &limits,
        10,
    );
    g.tick(100);
    assert!(
        g.take_wakeups().is_empty(),
        "a new member extends the initial delay"
    );
    g.tick(200);
    let w = g.take_wakeups();
    let a = joined(&w, "a");
    assert_eq!(a.leader_id, "a");
    assert_eq!(a.protocol_name.as_deref(), Some("range"));
    assert_eq!(a.members.len(), 2);
    assert_eq!(a.members[1].metadata, Bytes::from("meta-range"));
    assert!(joined(&w, "b").members.is_empty());
}

#[test]
fn initial_delay_is_capped_by_rebalance_timeout() {
    let mut g = Group::new("g");
    let limits = GroupLimits {
        initial_rebalance_delay_ms: 3_000,
        ..LIMITS
    };
    let mut req = join_req("", &["range"]);
    req.rebalance_timeout_ms = 1_000;
    g.join(req, "a".into(), &limits, 0);
    g.tick(999);
    assert!(g.take_wakeups().is_empty());
    g.tick(1_000);
    assert_eq!(joined(&g.take_wakeups(), "a").generation_id, 1);
}

#[test]
fn initial_delay_extension_stops_at_rebalance_timeout() {
    let mut g = Group::new("g");
    let limits = GroupLimits {
        initial_rebalance_delay_ms: 3_000,
        ..LIMITS
    };
    let mut req = join_req("", &["range"]);
    req.rebalance_timeout_ms = 5_000;
    g.join(req.clone(), "a".into(), &limits, 0);
    g.join(req.clone(), "b".into(), &limits, 2_000);
    g.tick(3_000); // extended by min(3000, 2000)
    g.join(req, "c".into(), &limits, 4_000);
    g.tick(4_999);
    assert!(g.take_wakeups().is_empty());
    g.tick(5_000); // nothing remains to extend by
    let w = g.take_wakeups();
    assert_eq!(joined(&w, "c").generation_id, 1);
    assert_eq!(g.member_count(), 3);
}

#[test]
fn rebalance_waits_for_every_member_then_drops_the_missing_at_timeout() {
    let mut g = stable_pair();
    join(&mut g, "", "c", 1_000);
    join(&mut g, "a", "", 1_001);
    assert!(g.take_wakeups().is_empty());
    // b keeps heartbeating but never rejoins.
    for t in (5_000..61_000).step_by(5_000) {
        assert_eq!(
            g.heartbeat("b", None, 2, t),
            Err(ResponseError::RebalanceInProgress)
        );
        g.tick(t);
    }
    g.tick(1_000 + i64::from(REBALANCE) - 1);
    assert!(g.take_wakeups().is_empty());
    g.tick(1_000 + i64::from(REBALANCE));
    let w = g.take_wakeups();
    let a = joined(&w, "a");
    assert_eq!(a.generation_id, 3);
    assert_eq!(a.members.len(), 2);
    assert!(!g.has_member("b"));
    assert_eq!(
        g.heartbeat("b", None, 2, 70_000),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn heartbeat_checks_generation_and_state() {
    let mut g = stable_pair();
    assert_eq!(g.heartbeat("a", None, 2, 100), Ok(()));
    assert_eq!(
        g.heartbeat("a", None, 1, 100),
        Err(ResponseError::IllegalGeneration)
    );
    join(&mut g, "", "c", 200);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat("b", None, 2, 200),
        Err(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn sync_checks_generation_state_and_protocol() {
    let mut g = stable_pair();
    assert_eq!(
        g.sync(sync_req("b", 1, &[]), 100),
        SyncDecision::Reply(Err(ResponseError::IllegalGeneration))
    );
    let mut wrong = sync_req("b", 2, &[]);
    wrong.protocol_name = Some("roundrobin".into());
    assert_eq!(
        g.sync(wrong, 100),
        SyncDecision::Reply(Err(ResponseError::InconsistentGroupProtocol))
    );
    join(&mut g, "", "c", 200);
    assert_eq!(
        g.sync(sync_req("b", 2, &[]), 200),
        SyncDecision::Reply(Err(ResponseError::RebalanceInProgress))
    );
}

#[test]
fn rebalance_during_completing_fails_waiting_followers() {
    let mut g = Group::new("g");
    join(&mut g, "", "a", 0);
    g.take_wakeups();
    g.sync(sync_req("a", 1, &[]), 0);
    join(&mut g, "", "b", 1);
    join(&mut g, "a", "", 2);
    g.take_wakeups();
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    assert_eq!(g.sync(sync_req("b", 2, &[]), 3), SyncDecision::Wait);
    join(&mut g, "", "c", 4);
    assert_eq!(
        synced(&g.take_wakeups(), "b"),
        Err(ResponseError::RebalanceInProgress)
    );
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn leave_triggers_rebalance_and_last_leave_empties_group() {
    let mut g = stable_pair();
    assert_eq!(g.leave("b", None, 100), Ok(()));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    join(&mut g, "a", "", 101);
    let w = g.take_wakeups();
    assert_eq!(joined(&w, "a").generation_id, 3);
    g.sync(sync_req("a", 3, &[]), 102);
    g.take_wakeups();
    assert_eq!(g.leave("a", None, 103), Ok(()));
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.generation_id(), 4);
    assert_eq!(g.leader_id(), None);
    assert_eq!(g.member_count(), 0);
}

#[test]
fn leaving_member_with_held_join_gets_unknown_member() {
    let mut g = stable_pair();
    join(&mut g, "a", "", 100);
    g.leave("a", None, 101).expect("leave");
    let w = g.take_wakeups();
    assert!(w.iter().any(|x| matches!(x, Wakeup::Join { member_id, outcome: Err(e) } if member_id == "a" && e.code == ResponseError::UnknownMemberId)));
}

#[test]
fn leader_leaving_hands_leadership_to_next_member() {
    let mut g = stable_pair();
    g.leave("a", None, 100).expect("leave");
    join(&mut g, "b", "", 101);
    let r = joined(&g.take_wakeups(), "b");
    assert_eq!(r.leader_id, "b");
    assert_eq!(r.members.len(), 1);
}

#[test]
fn session_expiry_removes_member_and_rebalances() {
    let mut g = stable_pair();
    g.heartbeat("a", None, 2, 5_000).expect("heartbeat");
    g.tick(40 + i64::from(SESSION) - 1);
    assert!(g.has_member("b"));
    g.tick(40 + i64::from(SESSION));
    assert!(!g.has_member("b"));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    join(&mut g, "a", "", 10_100);
    assert_eq!(joined(&g.take_wakeups(), "a").generation_id, 3);
}

#[test]
fn held_requests_keep_a_member_alive() {
    let mut g = stable_pair();
    join(&mut g, "a", "", 100);
    // a's join is held; b does not rejoin. Long after a's session would have passed, a is
    // still there and the rebalance completes without b.
    g.tick(100 + i64::from(REBALANCE));
    let w = g.take_wakeups();
    assert_eq!(joined(&w, "a").members.len(), 1);
}

#[test]
fn members_that_never_sync_are_removed() {
    let mut g = Group::new("g");
    join(&mut g, "", "a", 0);
    g.take_wakeups();
    g.sync(sync_req("a", 1, &[]), 0);
    join(&mut g, "", "b", 1);
    join(&mut g, "a", "", 2);
    g.take_wakeups();
    g.sync(sync_req("a", 2, &[]), 3);
    g.take_wakeups();
    // b heartbeats but never sends SyncGroup.
    for t in (5_000..=60_000).step_by(5_000) {
        g.heartbeat("b", None, 2, t).expect("heartbeat");
        g.heartbeat("a", None, 2, t).expect("heartbeat");
        g.tick(t);
    }
    assert!(g.has_member("b"));
    g.tick(2 + i64::from(REBALANCE));
    assert!(!g.has_member("b"));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn lost_join_response_is_repeated_in_completing_rebalance() {
    let mut g = Group::new("g");
    join(&mut g, "", "a", 0);
    let first = joined(&g.take_wakeups(), "a");
    match join(&mut g, "a", "", 1) {
        JoinDecision::Reply(Ok(r)) => assert_eq!(r, first),
        other => panic!("{other:?}"),
    }
}

#[test]
fn follower_rejoin_with_same_metadata_in_stable_does_not_rebalance() {
    let mut g = stable_pair();
    match join(&mut g, "b", "", 100) {
        JoinDecision::Reply(Ok(r)) => {
            assert_eq!(r.generation_id, 2);
            assert!(r.members.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.state(), GroupState::Stable);
}

#[test]
fn changed_subscription_triggers_rebalance() {
    let mut g = stable_pair();
    let mut req = join_req("b", &["range"]);
    req.protocols[0].metadata = Bytes::from("new-subscription");
    assert_eq!(
        g.join(req, String::new(), &LIMITS, 100),
        JoinDecision::Wait {
            member_id: "b".into()
        }
    );
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn repeated_rebalances_bump_generation_each_time() {
    let mut g = stable_pair();
    for generation in 3..8 {
        join(&mut g, "a", "", 1_000 * i64::from(generation));
        join(&mut g, "b", "", 1_000 * i64::from(generation));
        let w = g.take_wakeups();
        assert_eq!(joined(&w, "a").generation_id, generation);
        assert_eq!(joined(&w, "b").generation_id, generation);
        g.sync(
            sync_req("b", generation, &[]),
            1_000 * i64::from(generation),
        );
        g.sync(
            sync_req("a", generation, &[("a", "x"), ("b", "y")]),
            1_000 * i64::from(generation),
        );
        let w = g.take_wakeups();
        assert_eq!(synced(&w, "b").map(|r| r.assignment), Ok(Bytes::from("y")));
        assert_eq!(g.state(), GroupState::Stable);
    }
}

#[test]
fn static_member_rejoining_replaces_the_old_incarnation() {
    let mut g = Group::new("g");
    let mut req = join_req("", &["range"]);
    req.group_instance_id = Some("i1".into());
    req.require_known_member_id = true; // static members skip KIP-394
    assert_eq!(
        g.join(req.clone(), "i1-old".into(), &LIMITS, 0),
        JoinDecision::Wait {
            member_id: "i1-old".into()
        }
    );
    g.take_wakeups();
    g.sync(sync_req("i1-old", 1, &[]), 0);
    assert_eq!(
        g.join(req, "i1-new".into(), &LIMITS, 10),
        JoinDecision::Wait {
            member_id: "i1-new".into()
        }
    );
    let w = g.take_wakeups();
    assert_eq!(
        joined(&w, "i1-new").members[0].group_instance_id.as_deref(),
        Some("i1")
    );
    assert!(!g.has_member("i1-old"));
    assert_eq!(
        g.heartbeat("i1-old", Some("i1"), 2, 20),
        Err(ResponseError::FencedInstanceId)
    );
    assert_eq!(
        g.leave("i1-old", Some("i1"), 20),
        Err(ResponseError::FencedInstanceId)
    );
    assert_eq!(g.leave("", Some("i1"), 20), Ok(()));
    assert_eq!(g.member_count(), 0);
}

#[test]
fn offset_commit_validation() {
    let mut g = Group::new("g");
    assert_eq!(
        g.validate_offset_commit("", None, -1, 0),
        Ok(()),
        "simple commit to an empty group"
    );
    assert_eq!(
        g.validate_offset_commit("x", None, 1, 0),
        Err(ResponseError::UnknownMemberId)
    );
    join(&mut g, "", "a", 0);
    g.take_wakeups();
    assert_eq!(
        g.validate_offset_commit("a", None, 1, 1),
        Err(ResponseError::RebalanceInProgress)
    );
    g.sync(sync_req("a", 1, &[]), 1);
    assert_eq!(g.validate_offset_commit("a", None, 1, 2), Ok(()));
    assert_eq!(
        g.validate_offset_commit("a", None, 0, 2),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        g.validate_offset_commit("", None, -1, 2),
        Err(ResponseError::UnknownMemberId)
    );
    // During PreparingRebalance the current generation may still commit (eager revocation).
    join(&mut g, "", "b", 3);
    assert_eq!(g.validate_offset_commit("a", None, 1, 3), Ok(()));
}

#[test]
fn describe_hides_metadata_unless_stable() {
    let mut g = Group::new("g");
    join(&mut g, "", "a", 0);
    let m = g.describe_members();
    assert_eq!(m[0].metadata, Bytes::new());
    assert_eq!(m[0].client_host, "/127.0.0.1");
}

fn subscription(topics: &[&str]) -> Bytes {
    let mut b = vec![0u8, 1];
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
    Bytes::from(b)
}

#[test]
fn parses_consumer_subscription_topics() {
    assert_eq!(
        subscription_topics(&subscription(&["a", "bb"])),
        Some(vec!["a".to_string(), "bb".to_string()])
    );
    assert_eq!(subscription_topics(&subscription(&[])), Some(vec![]));
    assert_eq!(subscription_topics(&[0, 1, 0, 0, 0, 2, 0, 5, b'x']), None);
    assert_eq!(subscription_topics(&[]), None);
}

#[test]
fn subscribed_topics_of_a_consumer_group() {
    let mut g = Group::new("g");
    let mut req = join_req("", &["range"]);
    req.protocols[0].metadata = subscription(&["t1"]);
    g.join(req, "a".into(), &LIMITS, 0);
    assert_eq!(
        g.subscribed_topics(),
        Some(BTreeSet::from(["t1".to_string()]))
    );
}
