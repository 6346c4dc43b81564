//! The consumer group state machine: joins, incremental reconciliation, epochs, fencing,
//! leaving, static membership and session expiry with an injected clock.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::*;

const CONFIG: ConsumerGroupConfig = ConsumerGroupConfig {
    session_timeout_ms: 45_000,
    heartbeat_interval_ms: 5_000,
};

fn topic_id(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn topics(list: &[(&str, u8, i32)]) -> Topics {
    list.iter()
        .map(|(name, id, partitions)| {
            (
                name.to_string(),
                TopicMeta {
                    id: topic_id(*id),
                    partitions: *partitions,
                },
            )
        })
        .collect()
}

fn join(member: &str, subscribed: &[&str]) -> HeartbeatRequest {
    HeartbeatRequest {
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(subscribed.iter().map(|s| s.to_string()).collect()),
        owned: Some(Assignment::new()),
        ..Default::default()
    }
}

fn beat(member: &str, epoch: i32, owned: Option<&Assignment>) -> HeartbeatRequest {
    HeartbeatRequest {
        member_id: member.into(),
        member_epoch: epoch,
        owned: owned.cloned(),
        ..Default::default()
    }
}

fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

/// A client: sends heartbeats and owns what it was last told (it revokes at once).
struct Client {
    id: String,
    epoch: i32,
    owned: Assignment,
}

impl Client {
    fn join(g: &mut ConsumerGroup, id: &str, subscribed: &[&str], t: &Topics, now: i64) -> Self {
        let r = g
            .heartbeat(join(id, subscribed), t, &CONFIG, now)
            .expect("join");
        Client {
            id: id.into(),
            epoch: r.member_epoch,
            owned: r.assignment.unwrap_or_default(),
        }
    }

    fn beat(&mut self, g: &mut ConsumerGroup, t: &Topics, now: i64) -> HeartbeatResponse {
        let r = g
            .heartbeat(
                beat(&self.id, self.epoch, Some(&self.owned)),
                t,
                &CONFIG,
                now,
            )
            .expect("heartbeat");
        self.epoch = r.member_epoch;
        if let Some(a) = &r.assignment {
            self.owned = a.clone();
        }
        r
    }
}

fn no_partition_owned_twice(clients: &[&Client]) {
    let mut seen = BTreeSet::new();
    for c in clients {
        for (t, ps) in &c.owned {
            for p in ps {
                assert!(seen.insert((*t, *p)), "{t}-{p} owned by two members");
            }
        }
    }
}

#[test]
fn first_member_gets_every_partition_in_one_heartbeat() {
    let t = topics(&[("a", 1, 4)]);
    let mut g = ConsumerGroup::new("g");
    let c = Client::join(&mut g, "m1", &["a"], &t, 0);
    assert_eq!(c.epoch, 2, "join and metadata each bump the group epoch");
    assert_eq!(count(&c.owned), 4);
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn a_partition_moves_only_after_its_owner_revoked_it() {
    let t = topics(&[("a", 1, 4)]);
    let mut g = ConsumerGroup::new("g");
    let mut a = Client::join(&mut g, "m1", &["a"], &t, 0);
    let mut b = Client::join(&mut g, "m2", &["a"], &t, 1);
    // b gets its epoch but none of a's partitions yet.
    assert_eq!(count(&b.owned), 0);
    assert_eq!(g.state(), ConsumerGroupState::Reconciling);
    no_partition_owned_twice(&[&a, &b]);
    b.beat(&mut g, &t, 2);
    assert_eq!(count(&b.owned), 0, "a has not revoked yet");
    // a is told to revoke two partitions and keeps its epoch while it does.
    let old_epoch = a.epoch;
    let r = a.beat(&mut g, &t, 3);
    assert_eq!(r.member_epoch, old_epoch);
    assert_eq!(count(&a.owned), 2);
    no_partition_owned_twice(&[&a, &b]);
    // The revocation is acknowledged by the next heartbeat; then a advances.
    a.beat(&mut g, &t, 4);
    assert!(a.epoch > old_epoch);
    b.beat(&mut g, &t, 5);
    assert_eq!(count(&b.owned), 2);
    no_partition_owned_twice(&[&a, &b]);
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn leaving_member_hands_its_partitions_to_the_rest() {
    let t = topics(&[("a", 1, 4)]);
    let mut g = ConsumerGroup::new("g");
    let mut a = Client::join(&mut g, "m1", &["a"], &t, 0);
    let mut b = Client::join(&mut g, "m2", &["a"], &t, 0);
    for now in 1..4 {
        a.beat(&mut g, &t, now);
        b.beat(&mut g, &t, now);
    }
    assert_eq!(count(&a.owned) + count(&b.owned), 4);
    let r = g
        .heartbeat(beat("m2", LEAVE_EPOCH, None), &t, &CONFIG, 5)
        .expect("leave");
    assert_eq!(r.member_epoch, LEAVE_EPOCH);
    a.beat(&mut g, &t, 6);
    assert_eq!(count(&a.owned), 4);
    assert_eq!(
        g.heartbeat(beat("m2", b.epoch, Some(&b.owned)), &t, &CONFIG, 7)
            .unwrap_err()
            .code,
        ResponseError::UnknownMemberId
    );
}

#[test]
fn epochs_ahead_are_fenced_and_a_lost_response_is_forgiven() {
    let t = topics(&[("a", 1, 2)]);
    let mut g = ConsumerGroup::new("g");
    let mut a = Client::join(&mut g, "m1", &["a"], &t, 0);
    let err = g
        .heartbeat(beat("m1", a.epoch + 1, Some(&a.owned)), &t, &CONFIG, 1)
        .unwrap_err();
    assert_eq!(err.code, ResponseError::FencedMemberEpoch);
    // A new topic bumps the epoch; the member's response is lost.
    let t2 = topics(&[("a", 1, 2), ("b", 2, 2)]);
    g.heartbeat(
        HeartbeatRequest {
            subscribed_topic_names: Some(vec!["a".into(), "b".into()]),
            ..beat("m1", a.epoch, Some(&a.owned))
        },
        &t2,
        &CONFIG,
        2,
    )
    .expect("heartbeat");
    // Retrying with the previous epoch and a subset of its partitions is accepted...
    let r = a.beat(&mut g, &t2, 3);
    assert_eq!(count(&a.owned), 4);
    assert!(r.assignment.is_some());
    // ...but an older epoch is fenced.
    let err = g
        .heartbeat(beat("m1", 1, Some(&Assignment::new())), &t2, &CONFIG, 4)
        .unwrap_err();
    assert_eq!(err.code, ResponseError::FencedMemberEpoch);
    assert_eq!(
        g.heartbeat(beat("nobody", 3, None), &t2, &CONFIG, 5)
            .unwrap_err()
            .code,
        ResponseError::UnknownMemberId
    );
}

#[test]
fn session_expiry_removes_a_silent_member() {
    let t = topics(&[("a", 1, 4)]);
    let mut g = ConsumerGroup::new("g");
    let mut a = Client::join(&mut g, "m1", &["a"], &t, 0);
    let _b = Client::join(&mut g, "m2", &["a"], &t, 0);
    let session = i64::from(CONFIG.session_timeout_ms);
    a.beat(&mut g, &t, session - 1);
    assert_eq!(g.tick(session - 1), 0);
    assert_eq!(g.tick(session + 1), 1, "m2 never heartbeated again");
    a.beat(&mut g, &t, session + 2);
    a.beat(&mut g, &t, session + 3);
    assert_eq!(count(&a.owned), 4);
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn a_member_that_does_not_revoke_is_removed_after_its_rebalance_timeout() {
    let t = topics(&[("a", 1, 4)]);
    let mut g = ConsumerGroup::new("g");
    let a = Client::join(&mut g, "m1", &["a"], &t, 0);
    let mut b = Client::join(&mut g, "m2", &["a"], &t, 0);
    // a is told to revoke but never acknowledges (its heartbeats carry no partitions).
    let r = g
        .heartbeat(beat("m1", a.epoch, None), &t, &CONFIG, 1)
        .expect("heartbeat");
    assert_eq!(count(r.assignment.as_ref().unwrap()), 2);
    g.heartbeat(beat("m1", a.epoch, None), &t, &CONFIG, 20_000)
        .expect("heartbeat");
    b.beat(&mut g, &t, 20_000);
    assert_eq!(g.tick(30_000), 0);
    assert_eq!(g.tick(30_002), 1);
    b.beat(&mut g, &t, 30_003);
    assert_eq!(count(&b.owned), 4);
    assert_eq!(
        g.heartbeat(beat("m1", a.epoch, Some(&a.owned)), &t, &CONFIG, 30_004)
            .unwrap_err()
            .code,
        ResponseError::UnknownMemberId
    );
}

#[test]
fn static_member_keeps_its_partitions_across_a_restart() {
    let t = topics(&[("a", 1, 4)]);
    let mut g = ConsumerGroup::new("g");
    let mut a = {
        let mut req = join("m1", &["a"]);
        req.instance_id = Some("i1".into());
        let r = g.heartbeat(req, &t, &CONFIG, 0).unwrap();
        Client {
            id: "m1".into(),
            epoch: r.member_epoch,
            owned: r.assignment.unwrap(),
        }
    };
    a.beat(&mut g, &t, 1);
    let epoch = g.group_epoch();
    let r = g
        .heartbeat(
            HeartbeatRequest {
                instance_id: Some("i1".into()),
                ..beat("m1", STATIC_LEAVE_EPOCH, None)
            },
            &t,
            &CONFIG,
            2,
        )
        .unwrap();
    assert_eq!(r.member_epoch, STATIC_LEAVE_EPOCH);
    // Another member may not take the instance while it is in use...
    let mut other = join("m9", &["a"]);
    other.instance_id = Some("i1".into());
    let r = g.heartbeat(other, &t, &CONFIG, 3).unwrap();
    // ...but here it left, so the new incarnation takes over with no rebalance.
    assert_eq!(r.member_id, "m9");
    assert_eq!(count(r.assignment.as_ref().unwrap()), 4);
    assert_eq!(g.group_epoch(), epoch);
    let mut third = join("m10", &["a"]);
    third.instance_id = Some("i1".into());
    assert_eq!(
        g.heartbeat(third, &t, &CONFIG, 4).unwrap_err().code,
        ResponseError::UnreleasedInstanceId
    );
}

#[test]
fn new_partitions_and_new_topics_trigger_reassignment() {
    let mut g = ConsumerGroup::new("g");
    let t = topics(&[("a", 1, 2)]);
    let mut a = Client::join(&mut g, "m1", &["a", "b"], &t, 0);
    assert_eq!(count(&a.owned), 2);
    let t = topics(&[("a", 1, 3), ("b", 2, 2)]);
    a.beat(&mut g, &t, 1);
    assert_eq!(count(&a.owned), 5);
}

#[test]
fn regex_subscription_matches_whole_topic_names() {
    let mut g = ConsumerGroup::new("g");
    let t = topics(&[("orders", 1, 2), ("orders-dlq", 2, 1), ("x", 3, 1)]);
    let mut req = join("m1", &[]);
    req.subscribed_topic_regex = Some("orders.*".into());
    let r = g.heartbeat(req, &t, &CONFIG, 0).unwrap();
    assert_eq!(count(r.assignment.as_ref().unwrap()), 3);
    let mut bad = join("m2", &[]);
    bad.subscribed_topic_regex = Some("(".into());
    assert_eq!(
        g.heartbeat(bad, &t, &CONFIG, 1).unwrap_err().code,
        ResponseError::InvalidRegularExpression
    );
}

#[test]
fn unknown_assignors_are_refused_and_range_is_used_when_asked() {
    let mut g = ConsumerGroup::new("g");
    let t = topics(&[("a", 1, 3)]);
    let mut req = join("m1", &["a"]);
    req.server_assignor = Some("sticky".into());
    assert_eq!(
        g.heartbeat(req, &t, &CONFIG, 0).unwrap_err().code,
        ResponseError::UnsupportedAssignor
    );
    assert!(g.is_empty(), "a refused join leaves no member behind");
    let mut req = join("m1", &["a"]);
    req.server_assignor = Some("range".into());
    g.heartbeat(req, &t, &CONFIG, 0).unwrap();
    assert_eq!(g.describe().assignor, AssignorKind::Range);
}

#[test]
fn offset_commits_check_the_member_epoch() {
    let t = topics(&[("a", 1, 1)]);
    let mut g = ConsumerGroup::new("g");
    assert_eq!(g.validate_offset_commit("", -1), Ok(()));
    let a = Client::join(&mut g, "m1", &["a"], &t, 0);
    assert_eq!(g.validate_offset_commit("m1", a.epoch), Ok(()));
    assert_eq!(
        g.validate_offset_commit("m1", a.epoch - 1),
        Err(ResponseError::StaleMemberEpoch)
    );
    assert_eq!(
        g.validate_offset_commit("m1", a.epoch + 1),
        Err(ResponseError::FencedMemberEpoch)
    );
    assert_eq!(
        g.validate_offset_commit("", -1),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn many_members_converge_without_double_ownership() {
    let t = topics(&[("a", 1, 7), ("b", 2, 5)]);
    let mut g = ConsumerGroup::new("g");
    let mut clients: Vec<Client> = Vec::new();
    let mut now = 0;
    for i in 0..5 {
        clients.push(Client::join(&mut g, &format!("m{i}"), &["a", "b"], &t, now));
        for _ in 0..3 {
            for c in clients.iter_mut() {
                now += 1;
                c.beat(&mut g, &t, now);
            }
            let refs: Vec<&Client> = clients.iter().collect();
            no_partition_owned_twice(&refs);
        }
    }
    for _ in 0..6 {
        for c in clients.iter_mut() {
            now += 1;
            c.beat(&mut g, &t, now);
        }
    }
    let counts: Vec<usize> = clients.iter().map(|c| count(&c.owned)).collect();
    assert_eq!(counts.iter().sum::<usize>(), 12);
    assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}
