use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::config::LogConfig;

/// The values as record batches; kafka-protocol's encoder may split them into several, as
/// their sequence numbers (all 0) are not consecutive (see `one_batch`).
fn batch(values: &[&str]) -> Vec<u8> {
    encode(values, |_| 0)
}

fn encode(values: &[&str], sequence: impl Fn(usize) -> i32) -> Vec<u8> {
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
            sequence: sequence(i),
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

/// One batch holding every value: consecutive sequence numbers keep the encoder from
/// splitting it.
fn one_batch(values: &[&str]) -> Vec<u8> {
    let bytes = encode(values, |i| i as i32);
    let h = BatchHeader::parse(&bytes).unwrap();
    assert_eq!(
        (h.total_size(), h.records_count as usize),
        (bytes.len(), values.len()),
        "one batch"
    );
    bytes
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
    assert_eq!(isr_expansion(&s, 0, 3), Some(vec![1, 2, 3]));
    assert_eq!(
        isr_expansion(&s, 6, 3),
        None,
        "must have the current epoch's records"
    );
    assert_eq!(
        isr_expansion(&state(&[1, 2], 5, &[(2, 5), (3, 4)]), 0, 3),
        None
    );
    let mut pending = s.clone();
    pending.pending_isr = Some(vec![1, 2, 3]);
    assert_eq!(isr_expansion(&pending, 0, 3), None, "one change at a time");
    // Broker 3 shut down caught up; broker 2 catches up and fetches: only 2 is proposed (a
    // change naming the shut-down 3 is refused whole and kept 2 out with it).
    let alone = state(&[1], 5, &[(2, 5), (3, 5)]);
    assert_eq!(isr_expansion(&alone, 0, 2), Some(vec![1, 2]));

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
    let from_1 = |leader_epoch, fetch_offset| FetchPosition {
        following: Following {
            leader: 1,
            leader_epoch,
        },
        fetch_offset,
    };
    assert_eq!(
        follower
            .append_as_follower(
                &read.records,
                from_1(3, 0),
                read.high_watermark,
                read.log_start_offset,
                0
            )
            .unwrap(),
        FollowerAppend::Appended
    );
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
        .append_as_follower(
            &next.records,
            from_1(3, 3),
            next.high_watermark,
            next.log_start_offset,
            0,
        )
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
    follower.apply_record(&record(1, 5, 2, &[1, 2]), 2).unwrap();
    assert_eq!(
        follower
            .truncate_to_leader_epoch_end(
                Following {
                    leader: 2,
                    leader_epoch: 5
                },
                leader.end_offset_for_epoch(4)
            )
            .unwrap(),
        None,
        "an answer from a leader this replica does not follow changes nothing"
    );
    assert_eq!(
        follower
            .truncate_to_leader_epoch_end(
                Following {
                    leader: 1,
                    leader_epoch: 5
                },
                leader.end_offset_for_epoch(4)
            )
            .unwrap(),
        Some((4, Truncation { to: 3, done: true }))
    );
    assert_eq!(follower.log_end(), (3, Some(3)));
    // Batches below the fetch offset are already here: nothing is written again.
    assert_eq!(
        follower
            .append_as_follower(&read.records, from_1(5, 3), 3, 0, 0)
            .unwrap(),
        FollowerAppend::Appended
    );
    assert_eq!(follower.log_end().0, 3);
    // An answer to a fetch from another log end, or another epoch, is not applied at all.
    assert_eq!(
        follower
            .append_as_follower(&read.records, from_1(5, 0), 3, 0, 0)
            .unwrap(),
        FollowerAppend::Stale { log_end: 3 }
    );
    assert_eq!(
        follower
            .append_as_follower(&next.records, from_1(3, 3), 3, 0, 0)
            .unwrap(),
        FollowerAppend::Stale { log_end: 3 }
    );
    assert_eq!(follower.log_end().0, 3);
}

fn following(leader: i32, leader_epoch: i32) -> Following {
    Following {
        leader,
        leader_epoch,
    }
}

fn fetch(leader: i32, leader_epoch: i32, fetch_offset: i64) -> FetchPosition {
    FetchPosition {
        following: following(leader, leader_epoch),
        fetch_offset,
    }
}

/// Every record value of a replica's log, in offset order, with its offset.
fn values(p: &Partition) -> Vec<(i64, String)> {
    let state = p.lock();
    let bytes = state.log.read(0, usize::MAX, true).unwrap();
    let mut buf = bytes.clone();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
        for r in set.records {
            let v = r.value.map(|v| String::from_utf8_lossy(&v).to_string());
            out.push((r.offset, v.unwrap_or_default()));
        }
    }
    out
}

/// The fault test's lost record (`acknowledged record … is missing`): broker 2 follows 1 and
/// has a long-polling fetch at offset 3 out when leadership moves to broker 3, which lacks
/// offsets 1..3. Broker 2 truncates to 1 against its new leader, then the deposed leader
/// answers the old fetch with its own tail 3..5. Applied (as the fetcher did), that tail sat
/// above a hole 1..3 the new leader's records never filled — broker 2's next fetch offset
/// said it had them, so broker 3 acknowledged them, and they were gone wherever broker 2 led
/// next.
#[test]
fn a_deposed_leaders_late_answer_leaves_no_hole_in_a_follower() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let old = replica(1, dirs[0].path());
    let follower = replica(2, dirs[1].path());
    let new = replica(3, dirs[2].path());
    let epoch1 = record(1, 1, 0, &[1, 2, 3]);
    for p in [&old, &follower, &new] {
        p.apply_record(&epoch1, 0).unwrap();
    }
    for v in ["a", "b", "c"] {
        old.append_as_leader(&batch(&[v]), 1 << 20, -1, 2, 0)
            .unwrap();
    }
    let replicate = |to: &Partition, from_offset: i64| {
        let (read, _) = old
            .read_for_follower(to.lock().replica.node_id, from_offset, 1 << 20, 0)
            .unwrap();
        to.append_as_follower(
            &read.records,
            fetch(1, 1, from_offset),
            read.high_watermark,
            read.log_start_offset,
            0,
        )
        .unwrap()
    };
    assert_eq!(replicate(&follower, 0), FollowerAppend::Appended);
    assert_eq!(follower.log_end().0, 3);
    // Broker 3 lags: it has offset 0 only.
    let (read, _) = old.read_for_follower(3, 0, 1 << 20, 0).unwrap();
    let first = BatchHeader::parse(&read.records).unwrap().total_size();
    new.append_as_follower(&read.records[..first], fetch(1, 1, 0), 0, 0, 0)
        .unwrap();
    assert_eq!(new.log_end().0, 1);
    // Broker 2 fetches from 3; the old leader takes two more records and answers with them,
    // but the answer is late.
    for v in ["d", "e"] {
        old.append_as_leader(&batch(&[v]), 1 << 20, -1, 2, 0)
            .unwrap();
    }
    let (late, _) = old.read_for_follower(2, 3, 1 << 20, 0).unwrap();
    assert!(!late.records.is_empty());

    // Leadership moves to broker 3 (epoch 2); broker 2 follows it and truncates.
    let epoch2 = record(3, 2, 1, &[2, 3]);
    for p in [&old, &follower, &new] {
        p.apply_record(&epoch2, 1).unwrap();
    }
    let answer = new.end_offset_for_epoch(follower.log_end().1.unwrap());
    assert_eq!(answer, Some((1, 1)), "epoch 1 ends at 1 on the new leader");
    follower
        .truncate_to_leader_epoch_end(following(3, 2), answer)
        .unwrap();
    assert_eq!(follower.log_end().0, 1);
    for v in ["x", "y"] {
        new.append_as_leader(&batch(&[v]), 1 << 20, -1, 2, 0)
            .unwrap();
    }

    // The old leader's late answer changes nothing.
    assert_eq!(
        follower
            .append_as_follower(&late.records, fetch(1, 1, 3), 5, 0, 0)
            .unwrap(),
        FollowerAppend::Stale { log_end: 1 }
    );
    assert_eq!(follower.log_end().0, 1);

    // Broker 2 fetches from its new leader and ends up with exactly its log.
    let (read, _) = new.read_for_follower(2, 1, 1 << 20, 0).unwrap();
    assert_eq!(
        follower
            .append_as_follower(&read.records, fetch(3, 2, 1), read.high_watermark, 0, 0)
            .unwrap(),
        FollowerAppend::Appended
    );
    let (_, _) = new.read_for_follower(2, 3, 1 << 20, 0).unwrap();
    assert_eq!(new.offsets().0, 3, "x and y are on both in-sync replicas");
    assert_eq!(values(&follower), values(&new));
    assert_eq!(
        values(&follower),
        [(0, "a"), (1, "x"), (2, "y")].map(|(o, v)| (o, v.to_string()))
    );
}

/// A follower asking from an offset past the leader's log end (it holds records the leader
/// never had) gets OFFSET_OUT_OF_RANGE and no credit: the high watermark must not pass
/// records that follower does not have.
#[test]
fn a_fetch_from_past_the_leaders_end_does_not_move_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica(1, dir.path());
    leader.apply_record(&record(1, 1, 0, &[1, 2]), 0).unwrap();
    for v in ["a", "b", "c"] {
        leader
            .append_as_leader(&batch(&[v]), 1 << 20, -1, 2, 0)
            .unwrap();
    }
    assert!(leader.read_for_follower(2, 5, 1 << 20, 0).is_err());
    assert_eq!(leader.offsets().0, 0);
    assert_eq!(leader.replica().followers[&2].log_end_offset, -1);
    leader.read_for_follower(2, 3, 1 << 20, 0).unwrap();
    assert_eq!(leader.offsets().0, 3);
}

/// A follower whose log ends inside one of the leader's batches holds other records before
/// that point: the leader gives it no credit for them, and the follower truncates to the
/// batch and takes it whole (the fetcher used to skip the batch, leaving a hole).
#[test]
fn a_follower_whose_log_ends_inside_a_leader_batch_truncates_to_it() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let leader = replica(1, dirs[0].path());
    let follower = replica(2, dirs[1].path());
    // The follower holds "z" at offset 0 from an epoch of its own.
    follower.apply_record(&record(2, 1, 0, &[2]), 0).unwrap();
    follower
        .append_as_leader(&batch(&["z"]), 1 << 20, 1, 1, 0)
        .unwrap();
    let epoch2 = record(1, 2, 1, &[1, 2]);
    leader.apply_record(&epoch2, 1).unwrap();
    follower.apply_record(&epoch2, 1).unwrap();
    leader
        .append_as_leader(&one_batch(&["a", "b", "c"]), 1 << 20, -1, 2, 0)
        .unwrap();
    let (read, _) = leader.read_for_follower(2, 1, 1 << 20, 0).unwrap();
    assert_eq!(leader.offsets().0, 0, "no credit for offset 0");
    assert_eq!(
        follower
            .append_as_follower(&read.records, fetch(1, 2, 1), read.high_watermark, 0, 0)
            .unwrap(),
        FollowerAppend::Diverged { to: 0 }
    );
    assert_eq!(follower.log_end().0, 0);
    let (read, _) = leader.read_for_follower(2, 0, 1 << 20, 0).unwrap();
    follower
        .append_as_follower(&read.records, fetch(1, 2, 0), read.high_watermark, 0, 0)
        .unwrap();
    assert_eq!(values(&follower), values(&leader));
}

#[test]
fn truncation_follows_kip_279_when_the_leader_never_had_the_followers_epoch() {
    let mut ours = crate::log::epochs::LeaderEpochCache::in_memory();
    ours.assign(5, 0).unwrap();
    ours.assign(7, 100).unwrap();
    // The leader has 5@0, 6@120, 8@150: asked about 7 it answers "6 ends at 150". Our
    // records 100..150 are of epoch 7, which it never had: cutting at 150 would keep them.
    assert_eq!(
        truncation(Some((6, 150)), &ours, 150, 90),
        Truncation {
            to: 100,
            done: false
        }
    );
    let mut after = crate::log::epochs::LeaderEpochCache::in_memory();
    after.assign(5, 0).unwrap();
    // Asked again about 5 it answers "5 ends at 120": we have 5 up to 100 only.
    assert_eq!(
        truncation(Some((5, 120)), &after, 100, 90),
        Truncation {
            to: 100,
            done: true
        }
    );
    // The leader has our epoch: the smaller end of it wins.
    assert_eq!(
        truncation(Some((7, 130)), &ours, 150, 90),
        Truncation {
            to: 130,
            done: true
        }
    );
    assert_eq!(
        truncation(Some((7, 180)), &ours, 150, 90),
        Truncation {
            to: 150,
            done: true
        }
    );
    // Every epoch of ours is newer than the leader's answer: all of it goes.
    assert_eq!(
        truncation(Some((3, 40)), &ours, 150, 90),
        Truncation { to: 0, done: true }
    );
    // A leader with no epochs at all: keep what was committed.
    assert_eq!(
        truncation(None, &ours, 150, 90),
        Truncation { to: 90, done: true }
    );
}

/// The full KIP-279 exchange on replicas: the follower led an epoch (7) the leader never
/// saw, from offset 2, while the leader went on in epoch 5 to offset 3 and then led epochs
/// 6 and 8. The follower must end up with the leader's records at 2, not its own.
#[test]
fn a_follower_drops_records_of_an_epoch_its_leader_never_had() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let leader = replica(1, dirs[0].path());
    let follower = replica(2, dirs[1].path());
    let epoch5 = record(1, 5, 0, &[1, 2]);
    leader.apply_record(&epoch5, 0).unwrap();
    follower.apply_record(&epoch5, 0).unwrap();
    for v in ["a", "b", "c"] {
        leader
            .append_as_leader(&batch(&[v]), 1 << 20, 1, 1, 0)
            .unwrap();
    }
    let (read, _) = leader.read_for_follower(2, 0, 1 << 20, 0).unwrap();
    let two = {
        let mut pos = 0;
        for _ in 0..2 {
            pos += BatchHeader::parse(&read.records[pos..])
                .unwrap()
                .total_size();
        }
        pos
    };
    follower
        .append_as_follower(&read.records[..two], fetch(1, 5, 0), 0, 0, 0)
        .unwrap();
    // The follower leads epoch 7 alone for a moment and writes "z" at 2.
    follower.apply_record(&record(2, 7, 1, &[2]), 1).unwrap();
    follower
        .append_as_leader(&batch(&["z"]), 1 << 20, 1, 1, 0)
        .unwrap();
    // The leader leads epochs 6 and 8 and writes "d" and "e".
    leader.apply_record(&record(1, 6, 2, &[1]), 2).unwrap();
    leader
        .append_as_leader(&batch(&["d"]), 1 << 20, 1, 1, 0)
        .unwrap();
    let epoch8 = record(1, 8, 3, &[1, 2]);
    leader.apply_record(&epoch8, 3).unwrap();
    leader
        .append_as_leader(&batch(&["e"]), 1 << 20, 1, 1, 0)
        .unwrap();
    follower.apply_record(&epoch8, 3).unwrap();
    // The divergence check, as the fetcher runs it: ask about the newest epoch until done.
    loop {
        let (_, latest) = follower.log_end();
        let answer = leader.end_offset_for_epoch(latest.unwrap());
        let (_, decision) = follower
            .truncate_to_leader_epoch_end(following(1, 8), answer)
            .unwrap()
            .unwrap();
        if decision.done {
            break;
        }
    }
    assert_eq!(follower.log_end().0, 2, "z is gone; a and b stay");
    let (read, _) = leader.read_for_follower(2, 2, 1 << 20, 0).unwrap();
    follower
        .append_as_follower(&read.records, fetch(1, 8, 2), read.high_watermark, 0, 0)
        .unwrap();
    assert_eq!(values(&follower), values(&leader));
}

/// The hole the fault test found (seed 1796309828879537171, FJORD_FAULT_ROUNDS=40, without
/// the fix: "acknowledged record 114801 at 0/38267 is missing", 1549 records). Broker 1
/// follows broker 3 in epoch 13, but broker 3 is SIGSTOPped: the fetcher's connection to it
/// hangs. Broker 2 takes over in epoch 14; broker 1 follows it and fetches its records
/// (epoch 14 ones included). Broker 3 is resumed; the old fetcher, still holding the
/// partition for epoch 13, connects and asks it where broker 1's newest epoch (14) ends;
/// broker 3, not yet aware it was deposed, answers "13 ends at my log end" — below what
/// broker 2 had sent. Applied, that cut broker 1's log (39816 → 38267), and broker 2's
/// answer to the fetch in flight at 39816 went on top of the cut: a hole broker 2 counted
/// as replicated. Broker 1 led next.
#[test]
fn a_paused_leaders_late_epoch_answer_cuts_nothing() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let follower = replica(1, dirs[0].path());
    let new = replica(2, dirs[1].path());
    let old = replica(3, dirs[2].path());
    // Epoch 12: broker 2 leads and everyone has "a".
    let epoch12 = record(2, 12, 0, &[1, 2, 3]);
    for p in [&follower, &new, &old] {
        p.apply_record(&epoch12, 0).unwrap();
    }
    new.append_as_leader(&batch(&["a"]), 1 << 20, -1, 2, 0)
        .unwrap();
    for (p, id) in [(&follower, 1), (&old, 3)] {
        let (read, _) = new.read_for_follower(id, 0, 1 << 20, 0).unwrap();
        p.append_as_follower(&read.records, fetch(2, 12, 0), 0, 0, 0)
            .unwrap();
    }
    // Epoch 13: broker 3 leads and writes "b", which only it has; then it is paused.
    let epoch13 = record(3, 13, 1, &[1, 3]);
    for p in [&follower, &new, &old] {
        p.apply_record(&epoch13, 1).unwrap();
    }
    old.append_as_leader(&batch(&["b"]), 1 << 20, 1, 1, 0)
        .unwrap();
    // Epoch 14: broker 2 leads and writes "x", "y", "z"; broker 1 follows it.
    let epoch14 = record(2, 14, 2, &[1, 2]);
    follower.apply_record(&epoch14, 2).unwrap();
    new.apply_record(&epoch14, 2).unwrap();
    for v in ["x", "y", "z"] {
        new.append_as_leader(&batch(&[v]), 1 << 20, -1, 2, 0)
            .unwrap();
    }
    let answer = new.end_offset_for_epoch(follower.log_end().1.unwrap());
    follower
        .truncate_to_leader_epoch_end(following(2, 14), answer)
        .unwrap();
    let (read, _) = new.read_for_follower(1, 1, 1 << 20, 0).unwrap();
    follower
        .append_as_follower(&read.records, fetch(2, 14, 1), read.high_watermark, 0, 0)
        .unwrap();
    assert_eq!(follower.log_end(), (4, Some(14)));
    // Broker 3 resumes and answers the old fetcher's question about epoch 14: "13 ends at 2".
    let late = old.end_offset_for_epoch(14);
    assert_eq!(late, Some((13, 2)));
    assert_eq!(
        follower
            .truncate_to_leader_epoch_end(following(3, 13), late)
            .unwrap(),
        None,
        "broker 1 follows broker 2 in epoch 14 now: nothing is cut"
    );
    assert_eq!(values(&follower), values(&new));
    // Broker 2 counts what broker 1 really has.
    new.read_for_follower(1, 4, 1 << 20, 0).unwrap();
    assert_eq!(new.offsets().0, 4);
}
