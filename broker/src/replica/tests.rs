use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::config::LogConfig;

fn batch(values: &[&str]) -> Vec<u8> {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: 0,
            timestamp: 1,
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.to_vec()
}

fn record(leader: i32, leader_epoch: i32, partition_epoch: i32, isr: &[i32]) -> PartitionRecord {
    PartitionRecord {
        partition: 0,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch,
        adding_replicas: vec![],
        removing_replicas: vec![],
    }
}

fn replica(node: i32, dir: &std::path::Path) -> Partition {
    let log = PartitionLog::open(dir, LogConfig::default()).unwrap();
    Partition::new("t", 0, Uuid::nil(), node, log).unwrap()
}

fn state(isr: &[i32], hw: i64, follower_ends: &[(i32, i64)]) -> ReplicaState {
    let mut r = ReplicaState::new(1);
    r.leader = 1;
    r.leader_epoch = 0;
    r.replicas = vec![1, 2, 3];
    r.isr = isr.to_vec();
    r.high_watermark = hw;
    for (id, end) in follower_ends {
        r.followers.insert(
            *id,
            FollowerProgress {
                log_end_offset: *end,
                last_caught_up_ms: 0,
                last_fetch_ms: 0,
                leader_end_at_last_fetch: 0,
            },
        );
    }
    r
}

#[test]
fn the_high_watermark_is_the_smallest_isr_end_and_never_falls() {
    assert_eq!(
        high_watermark(&state(&[1], 0, &[]), 10),
        10,
        "alone in the ISR"
    );
    assert_eq!(
        high_watermark(&state(&[1, 2, 3], 4, &[(2, 7), (3, 9)]), 10),
        7
    );
    assert_eq!(
        high_watermark(&state(&[1, 2], 4, &[(2, 7), (3, 0)]), 10),
        7,
        "replicas outside the ISR do not hold it back"
    );
    assert_eq!(
        high_watermark(&state(&[1, 2], 4, &[(2, -1)]), 10),
        4,
        "a follower that has not fetched from this leader holds it where it was"
    );
    assert_eq!(
        high_watermark(&state(&[1, 2], 6, &[(2, 3)]), 10),
        6,
        "never falls"
    );
    let mut pending = state(&[1], 4, &[(2, 5)]);
    pending.pending_isr = Some(vec![1, 2]);
    assert_eq!(
        high_watermark(&pending, 10),
        5,
        "a joining replica counts already"
    );
}

#[test]
fn caught_up_followers_join_and_lagging_ones_leave() {
    let s = state(&[1, 2], 5, &[(2, 5), (3, 5)]);
    assert_eq!(isr_expansion(&s, 0), Some(vec![1, 2, 3]));
    assert_eq!(
        isr_expansion(&s, 6),
        None,
        "must have the current epoch's records"
    );
    assert_eq!(
        isr_expansion(&state(&[1, 2], 5, &[(2, 5), (3, 4)]), 0),
        None
    );
    let mut pending = s.clone();
    pending.pending_isr = Some(vec![1, 2, 3]);
    assert_eq!(isr_expansion(&pending, 0), None, "one change at a time");

    let mut lag = state(&[1, 2, 3], 5, &[(2, 5), (3, 1)]);
    lag.followers.get_mut(&2).unwrap().last_caught_up_ms = 9_000;
    lag.followers.get_mut(&3).unwrap().last_caught_up_ms = 1_000;
    assert_eq!(isr_shrink(&lag, 10_000, 5_000), Some(vec![1, 2]));
    assert_eq!(isr_shrink(&lag, 5_000, 5_000), None);
}

#[tokio::test]
async fn acks_all_waits_for_the_followers_and_a_lost_leadership_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = replica(1, dir.path());
    assert_eq!(
        p.apply_record(&record(1, 0, 0, &[1, 2]), 0).unwrap(),
        RoleChange::Leader
    );
    assert_eq!(
        p.append_as_leader(&batch(&["a"]), 1 << 20, -1, 3, 0)
            .unwrap_err()
            .code,
        ResponseError::NotEnoughReplicas,
        "2 in sync, min.insync.replicas 3"
    );
    let out = p
        .append_as_leader(&batch(&["a", "b"]), 1 << 20, -1, 2, 0)
        .unwrap();
    assert_eq!((out.base_offset, out.end_offset), (0, 2));
    assert_eq!(p.offsets().0, 0, "not on the follower yet");
    // Consumers see nothing past the high watermark.
    assert!(
        p.read_for_consumer(0, 1 << 20, true, false, Isolation::ReadUncommitted)
            .unwrap()
            .records
            .is_empty()
    );
    let waiter = {
        let rx = p.watch();
        tokio::spawn(async move {
            let mut rx = rx;
            rx.wait_for(|pr| pr.high_watermark >= 2).await.map(|_| ())
        })
    };
    let (read, change) = p.read_for_follower(2, 0, 1 << 20, 1).unwrap();
    assert!(!read.records.is_empty());
    assert!(change.is_none(), "2 is in the ISR already");
    assert_eq!(p.offsets().0, 0);
    // The follower's next fetch says it has both records.
    let (read, _) = p.read_for_follower(2, 2, 1 << 20, 2).unwrap();
    assert!(read.advanced);
    assert_eq!(p.offsets().0, 2);
    waiter.await.unwrap().unwrap();
    p.wait_replicated(2, Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(
        p.read_for_consumer(0, 1 << 20, true, false, Isolation::ReadUncommitted)
            .unwrap()
            .high_watermark,
        2
    );

    let out = p
        .append_as_leader(&batch(&["c"]), 1 << 20, -1, 2, 0)
        .unwrap();
    let pending = p.wait_replicated(out.end_offset, Duration::from_secs(5));
    let demote = async {
        tokio::task::yield_now().await;
        p.apply_record(&record(2, 1, 1, &[2]), 3).unwrap()
    };
    let (result, change) = tokio::join!(pending, demote);
    assert_eq!(
        change,
        RoleChange::Follower {
            leader: 2,
            leader_epoch: 1
        }
    );
    assert_eq!(result.unwrap_err().code, ResponseError::NotLeaderOrFollower);
    assert_eq!(
        p.read_for_consumer(0, 1, true, false, Isolation::ReadUncommitted)
            .unwrap_err()
            .code,
        ResponseError::NotLeaderOrFollower
    );
}

#[tokio::test]
async fn a_follower_keeps_the_leaders_offsets_and_truncates_a_diverged_tail() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let leader = replica(1, leader_dir.path());
    let follower = replica(2, follower_dir.path());
    leader.apply_record(&record(1, 3, 0, &[1, 2]), 0).unwrap();
    follower.apply_record(&record(1, 3, 0, &[1, 2]), 0).unwrap();
    for v in ["a", "b", "c"] {
        leader
            .append_as_leader(&batch(&[v]), 1 << 20, 1, 1, 0)
            .unwrap();
    }
    let (read, _) = leader.read_for_follower(2, 0, 1 << 20, 0).unwrap();
    follower
        .append_as_follower(&read.records, read.high_watermark, read.log_start_offset, 0)
        .unwrap();
    assert_eq!(
        follower.log_end(),
        (3, Some(3)),
        "offsets and leader epoch kept"
    );
    assert_eq!(
        follower
            .read_for_consumer(0, 1 << 20, true, false, Isolation::ReadUncommitted)
            .unwrap_err()
            .code,
        ResponseError::NotLeaderOrFollower,
        "before Fetch v11 (KIP-392) only the leader serves consumers"
    );
    // The follower learns the high watermark from its next fetch and serves consumers up to it.
    let (next, _) = leader.read_for_follower(2, 3, 1 << 20, 0).unwrap();
    follower
        .append_as_follower(&next.records, next.high_watermark, next.log_start_offset, 0)
        .unwrap();
    let served = follower
        .read_for_consumer(0, 1 << 20, true, true, Isolation::ReadUncommitted)
        .unwrap();
    assert_eq!(served.high_watermark, 3);
    assert_eq!(
        served.records,
        leader
            .read_for_consumer(0, 1 << 20, true, false, Isolation::ReadUncommitted)
            .unwrap()
            .records
    );
    // The leader's epoch 3 ends at 3; a follower that wrote past it (as a deposed leader
    // might have) cuts back there.
    assert_eq!(leader.end_offset_for_epoch(3), Some((3, 3)));
    assert_eq!(
        leader.end_offset_for_epoch(2),
        Some((2, 0)),
        "an epoch this leader never wrote ends where its oldest starts: a follower keeps none of it"
    );
    follower.apply_record(&record(2, 4, 1, &[2]), 1).unwrap();
    follower
        .append_as_leader(&batch(&["x"]), 1 << 20, 1, 1, 0)
        .unwrap();
    assert_eq!(follower.log_end(), (4, Some(4)));
    assert_eq!(follower.truncate_to(3).unwrap(), 3);
    assert_eq!(follower.log_end(), (3, Some(3)));
    // A batch that does not start at the log end is refused, not written.
    assert!(
        follower.append_as_follower(&read.records, 3, 0, 0).is_err(),
        "offsets 0..3 again"
    );
    assert_eq!(follower.log_end().0, 3);
}
