//! Tests of the coordinator shell: held requests resolved across tasks, and committed offsets
//! surviving a reopen of the broker.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::state::Protocol;
use super::*;
use uuid::Uuid;

fn config(extra: &[(&str, &str)]) -> BrokerConfig {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    map.insert("group.initial.rebalance.delay.ms".into(), "0".into());
    for (k, v) in extra {
        map.insert(k.to_string(), v.to_string());
    }
    BrokerConfig::from_map(map).expect("config")
}

fn join_req(member_id: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "app".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"sub"),
        }],
        require_known_member_id: true,
    }
}

fn sync_req(member_id: &str, generation_id: i32, assignments: Vec<(String, Bytes)>) -> SyncRequest {
    SyncRequest {
        member_id: member_id.into(),
        generation_id,
        assignments,
        ..Default::default()
    }
}

/// Joins with KIP-394's two steps and returns the result.
async fn join_new(c: &GroupCoordinator, now: i64) -> state::JoinResult {
    let err = c
        .join("g", join_req(""), now)
        .await
        .expect_err("member id required");
    assert_eq!(err.code, ResponseError::MemberIdRequired);
    assert!(err.member_id.starts_with("app-"));
    c.join("g", join_req(&err.member_id), now)
        .await
        .expect("join")
}

/// A coordinator leading the one partition of a one-partition `__consumer_offsets` (a log on
/// a temp dir), so it coordinates every group.
fn leading_coordinator(dir: &std::path::Path) -> GroupCoordinator {
    let c = GroupCoordinator::open(&config(&[])).expect("open");
    let log =
        crate::log::PartitionLog::open(dir, crate::config::LogConfig::default()).expect("log");
    let p =
        Arc::new(Partition::new("__consumer_offsets", 0, Uuid::nil(), 1, log).expect("partition"));
    let record = crate::cluster::records::PartitionRecord {
        partition: 0,
        replicas: vec![1],
        isr: vec![1],
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    };
    p.apply_record(&record, 0).expect("lead");
    c.load_partition(p, 1);
    c
}

#[tokio::test]
async fn held_join_and_sync_resolve_across_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Arc::new(leading_coordinator(dir.path()));
    let a = join_new(&c, 0).await;
    assert_eq!(a.generation_id, 1);
    let sa = c
        .sync(
            "g",
            sync_req(
                &a.member_id,
                1,
                vec![(a.member_id.clone(), Bytes::from_static(b"all"))],
            ),
            0,
        )
        .await;
    assert_eq!(sa.map(|r| r.assignment), Ok(Bytes::from_static(b"all")));

    // b's join is held until a rejoins, which a learns from its heartbeat.
    let b_task = tokio::spawn({
        let c = c.clone();
        async move { join_new(&c, 10).await }
    });
    let mut rebalancing = false;
    for _ in 0..100 {
        if c.heartbeat("g", &a.member_id, None, 1, 20) == Err(ResponseError::RebalanceInProgress) {
            rebalancing = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(rebalancing, "b's join starts a rebalance");
    let a2 = c
        .join("g", join_req(&a.member_id), 30)
        .await
        .expect("rejoin");
    let b = b_task.await.expect("task");
    assert_eq!((a2.generation_id, b.generation_id), (2, 2));
    assert_eq!(a2.leader_id, a.member_id);
    assert_eq!(a2.members.len(), 2);
    assert!(b.members.is_empty());

    // b's sync waits for the leader's assignment.
    let b_sync = tokio::spawn({
        let c = c.clone();
        let id = b.member_id.clone();
        async move { c.sync("g", sync_req(&id, 2, Vec::new()), 40).await }
    });
    tokio::task::yield_now().await;
    let assignments = vec![
        (a.member_id.clone(), Bytes::from_static(b"p0")),
        (b.member_id.clone(), Bytes::from_static(b"p1")),
    ];
    let sa = c
        .sync("g", sync_req(&a.member_id, 2, assignments), 50)
        .await;
    assert_eq!(sa.map(|r| r.assignment), Ok(Bytes::from_static(b"p0")));
    assert_eq!(
        b_sync.await.expect("task").map(|r| r.assignment),
        Ok(Bytes::from_static(b"p1"))
    );

    let d = c.describe("g").expect("described");
    assert_eq!(d.state, GroupState::Stable.into());
    assert_eq!(d.members.len(), 2);
    assert_eq!(c.list()[0].state, GroupState::Stable.into());

    // Session expiry of b (a keeps heartbeating) starts a rebalance.
    assert_eq!(c.heartbeat("g", &a.member_id, None, 2, 10_000), Ok(()));
    c.tick(10_040);
    assert_eq!(c.describe("g").map(|d| d.members.len()), Some(1));
    assert_eq!(
        c.delete_group("g", 10_050).map(|_| ()),
        Err(ResponseError::NonEmptyGroup)
    );
    // Handing the partition over drops its groups here.
    c.unload_partition(0);
    assert!(!c.owns("g"));
    assert_eq!(c.describe("g"), None);
    assert_eq!(
        c.heartbeat("g", &a.member_id, None, 2, 10_060),
        Err(ResponseError::NotCoordinator)
    );
}

#[tokio::test]
async fn unknown_groups_and_missing_offsets_topic() {
    let c = GroupCoordinator::open(&config(&[])).expect("open");
    // Leading no offsets partition, it coordinates nothing.
    assert_eq!(
        c.sync("nope", sync_req("m", 1, Vec::new()), 0).await,
        Err(ResponseError::NotCoordinator)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let c = leading_coordinator(dir.path());
    assert_eq!(
        c.sync("nope", sync_req("m", 1, Vec::new()), 0).await,
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        c.heartbeat("nope", "m", None, 1, 0),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        c.leave("nope", &[("m".into(), None)], 0),
        vec![Err(ResponseError::UnknownMemberId)]
    );
    assert_eq!(c.describe("nope"), None);
    let err = c
        .join("", join_req(""), 0)
        .await
        .expect_err("empty group id");
    assert_eq!(err.code, ResponseError::InvalidGroupId);
    let simple = OffsetCommitter {
        generation_id: -1,
        ..Default::default()
    };
    let offsets = vec![(
        "t".to_string(),
        0,
        OffsetValue {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
        },
    )];
    let written = c.commit_offsets("g", &simple, offsets, 0).expect("commit");
    assert_eq!(
        written.map(|w| w.end_offset),
        Some(1),
        "one record appended"
    );
    assert_eq!(c.committed_offset("g", "t", 0).map(|v| v.offset), Some(1));
}

fn value(offset: i64) -> OffsetValue {
    OffsetValue {
        offset,
        leader_epoch: 3,
        metadata: format!("m{offset}"),
        commit_timestamp_ms: 1_000,
    }
}

/// Needs the partition log engine (`crate::log`) and a broker's metadata quorum.
#[tokio::test]
async fn committed_offsets_and_deletions_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || {
        let path = dir.path().display().to_string();
        config(&[
            ("log.dirs", path.as_str()),
            ("offsets.topic.num.partitions", "3"),
        ])
    };
    let simple = OffsetCommitter {
        generation_id: -1,
        ..Default::default()
    };
    {
        let broker = crate::Broker::open_ready(cfg()).await.expect("open broker");
        broker
            .create_topic("orders", 2, 1, None, BTreeMap::new(), false)
            .await
            .expect("topic");
        wait_for_coordinator(&broker, &["keep", "drop", "trim"]).await;
        let c = &broker.groups;
        let commits = vec![
            ("orders".to_string(), 0, value(10)),
            ("orders".to_string(), 1, value(20)),
        ];
        let ok = |r: Result<Option<super::Replication>, ResponseError>| r.map(|_| ());
        ok(c.commit_offsets("keep", &simple, commits.clone(), 1_000)).expect("commit keep");
        ok(c.commit_offsets(
            "keep",
            &simple,
            vec![("orders".to_string(), 0, value(11))],
            1_001,
        ))
        .expect("recommit");
        ok(c.commit_offsets("drop", &simple, commits.clone(), 1_002)).expect("commit drop");
        ok(c.commit_offsets("trim", &simple, commits, 1_003)).expect("commit trim");
        assert_eq!(ok(c.delete_group("drop", 1_004)), Ok(()));
        assert_eq!(
            ok(c.delete_group("drop", 1_005)),
            Err(ResponseError::GroupIdNotFound)
        );
        let (deleted, _) = c
            .delete_offsets("trim", &[("orders".to_string(), 1)], 1_006)
            .expect("delete offsets");
        assert_eq!(deleted, vec![Ok(())]);
        assert_eq!(
            c.committed_offset("keep", "orders", 0).map(|v| v.offset),
            Some(11)
        );
        broker.stop().await;
    }
    let broker = crate::Broker::open_ready(cfg())
        .await
        .expect("reopen broker");
    wait_for_coordinator(&broker, &["keep", "drop", "trim"]).await;
    let c = &broker.groups;
    assert_eq!(c.committed_offset("keep", "orders", 0), Some(value(11)));
    assert_eq!(
        c.committed_offset("keep", "orders", 1).map(|v| v.offset),
        Some(20)
    );
    assert_eq!(c.group_offsets("drop"), Vec::new());
    assert_eq!(c.group_offsets("trim").len(), 1);
    assert_eq!(
        c.describe("keep").map(|d| d.state),
        Some(GroupState::Empty.into())
    );
    assert_eq!(c.describe("drop"), None);
    let mut listed: Vec<String> = c.list().into_iter().map(|g| g.group_id).collect();
    listed.sort();
    assert_eq!(listed, vec!["keep".to_string(), "trim".to_string()]);
}

/// Waits until this broker coordinates `groups` (the controller creates `__consumer_offsets`
/// once the broker is registered).
async fn wait_for_coordinator(broker: &crate::Broker, groups: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !groups.iter().all(|g| broker.groups.owns(g)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no coordinator for {groups:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[test]
fn consumer_protocol_members_are_described_with_consumer_protocol_bytes() {
    let bytes = super::consumer_protocol_subscription(&["a".to_string(), "b".to_string()]);
    assert_eq!(
        super::requests::subscription_topics(&bytes),
        Some(vec!["a".to_string(), "b".to_string()])
    );
    let id = uuid::Uuid::from_bytes([1; 16]);
    let names = std::collections::BTreeMap::from([(id, "a".to_string())]);
    let assignment = super::consumer::Assignment::from([(id, [0, 2].into())]);
    let bytes = super::consumer_protocol_assignment(&assignment, &names);
    // int16 version, then one topic "a" with partitions [0, 2], then null user data.
    assert_eq!(&bytes[..2], &[0, 0]);
    assert_eq!(bytes.len(), 2 + 4 + (2 + 1) + 4 + 8 + 4);
}

fn consumer_join(member_id: &str) -> consumer::HeartbeatRequest {
    consumer::HeartbeatRequest {
        member_id: member_id.into(),
        member_epoch: consumer::JOIN_EPOCH,
        subscribed_topic_names: Some(vec!["t".into()]),
        ..Default::default()
    }
}

fn consumer_topics() -> consumer::Topics {
    consumer::Topics::from([(
        "t".to_string(),
        consumer::TopicMeta {
            id: Uuid::from_bytes([3; 16]),
            partitions: 2,
        },
    )])
}

#[tokio::test]
async fn classic_and_consumer_protocols_refuse_each_others_live_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = leading_coordinator(dir.path());
    let joined = c
        .consumer_heartbeat("g", consumer_join("m1"), &consumer_topics(), 0)
        .expect("consumer join");
    assert_eq!(c.list()[0].group_type, GroupType::Consumer);
    assert_eq!(
        c.describe("g").map(|d| d.protocol_type),
        Some("consumer".into())
    );
    let err = c.join("g", join_req(""), 0).await.expect_err("refused");
    assert_eq!(err.code, ResponseError::InconsistentGroupProtocol);

    // OffsetCommit: the generation id is the member epoch.
    let commit = |member: &str, epoch: i32| {
        c.commit_offsets(
            "g",
            &OffsetCommitter {
                member_id: member.into(),
                group_instance_id: None,
                generation_id: epoch,
            },
            vec![("t".into(), 0, value(5))],
            0,
        )
        .map(|_| ())
    };
    assert_eq!(commit("m1", joined.member_epoch), Ok(()));
    assert_eq!(
        commit("m1", joined.member_epoch - 1),
        Err(ResponseError::StaleMemberEpoch)
    );
    assert_eq!(commit("", -1), Err(ResponseError::UnknownMemberId));
    assert_eq!(
        c.delete_group("g", 0).map(|_| ()),
        Err(ResponseError::NonEmptyGroup)
    );

    // Once it is empty, the group (with its offsets) may turn classic.
    c.consumer_heartbeat(
        "g",
        consumer::HeartbeatRequest {
            member_epoch: consumer::LEAVE_EPOCH,
            ..consumer_join("m1")
        },
        &consumer_topics(),
        1,
    )
    .expect("leave");
    let a = join_new(&c, 2).await;
    assert_eq!(a.generation_id, 1);
    assert_eq!(c.committed_offset("g", "t", 0).map(|v| v.offset), Some(5));
    let err = c
        .consumer_heartbeat("g", consumer_join("m2"), &consumer_topics(), 3)
        .expect_err("refused");
    assert_eq!(err.code, ResponseError::GroupIdNotFound);
}

#[tokio::test]
async fn an_offsets_only_group_turns_consumer_on_a_successful_heartbeat_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = leading_coordinator(dir.path());
    c.commit_offsets(
        "h",
        &OffsetCommitter {
            generation_id: -1,
            ..Default::default()
        },
        vec![("t".into(), 0, value(7))],
        0,
    )
    .expect("simple commit");
    let kind = |c: &GroupCoordinator| {
        c.list()
            .iter()
            .find(|g| g.group_id == "h")
            .map(|g| g.group_type)
    };
    assert_eq!(kind(&c), Some(GroupType::Classic));
    let refused = c.consumer_heartbeat(
        "h",
        consumer::HeartbeatRequest {
            server_assignor: Some("sticky".into()),
            ..consumer_join("m1")
        },
        &consumer_topics(),
        1,
    );
    assert_eq!(
        refused.unwrap_err().code,
        ResponseError::UnsupportedAssignor
    );
    assert_eq!(kind(&c), Some(GroupType::Classic));
    c.consumer_heartbeat("h", consumer_join("m1"), &consumer_topics(), 2)
        .expect("join");
    assert_eq!(kind(&c), Some(GroupType::Consumer));
    assert_eq!(c.committed_offset("h", "t", 0).map(|v| v.offset), Some(7));
}
