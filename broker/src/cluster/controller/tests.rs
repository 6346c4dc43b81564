use super::*;
use crate::cluster::records::Endpoint;

fn registration(id: i32, rack: Option<&str>) -> BrokerRegistration {
    BrokerRegistration {
        node_id: id,
        incarnation_id: Uuid::from_u128(id as u128),
        epoch: 1,
        listeners: vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9000 + id as u16,
        }],
        rack: rack.map(str::to_string),
        fenced: false,
        shutting_down: false,
    }
}

/// An image with usable brokers `ids`.
fn cluster(ids: &[i32]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for id in ids {
        image.apply(&MetadataRecord::BrokerRegistered(registration(*id, None)));
    }
    image
}

fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
    for r in records {
        image.apply(r);
    }
}

/// Decides on the image as it is, then applies what was decided.
fn step(image: &mut MetadataImage, decide: impl FnOnce(&MetadataImage) -> Vec<MetadataRecord>) {
    let records = decide(image);
    apply(image, &records);
}

fn spec(name: &str, partitions: i32, rf: i16) -> TopicSpec {
    TopicSpec {
        name: name.into(),
        id: Uuid::from_u128(42),
        partitions,
        replication_factor: rf,
        assignments: None,
        configs: BTreeMap::new(),
        internal: false,
    }
}

fn with_topic(ids: &[i32], replicas: &[i32]) -> MetadataImage {
    let mut image = cluster(ids);
    let mut s = spec("t", 1, replicas.len() as i16);
    s.assignments = Some(vec![replicas.to_vec()]);
    let records = create_topic(&image, &s).unwrap();
    apply(&mut image, &records);
    image
}

fn part(image: &MetadataImage) -> &PartitionRecord {
    image.partition("t", 0).unwrap()
}

#[test]
fn create_topic_places_replicas_and_full_isrs() {
    let mut image = cluster(&[1, 2, 3]);
    let records = create_topic(&image, &spec("orders", 6, 3)).unwrap();
    apply(&mut image, &records);
    let t = &image.topics["orders"];
    assert_eq!(t.partitions.len(), 6);
    for p in &t.partitions {
        assert_eq!(p.replicas.len(), 3);
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, p.replicas[0]);
        assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
    }
    let leaders: std::collections::BTreeSet<i32> = t.partitions.iter().map(|p| p.leader).collect();
    assert_eq!(leaders.len(), 3, "leadership is spread over every broker");
    assert_eq!(
        create_topic(&image, &spec("orders", 1, 1))
            .unwrap_err()
            .code,
        ResponseError::TopicAlreadyExists
    );
    let e = create_topic(&image, &spec("big", 1, 4)).unwrap_err();
    assert_eq!(e.code, ResponseError::InvalidReplicationFactor);
    assert!(e.message.contains("3 available brokers"), "{}", e.message);
}

#[test]
fn fenced_brokers_get_no_new_replicas_and_manual_assignments_are_checked() {
    let mut image = cluster(&[1, 2, 3]);
    step(&mut image, |image| fence(&image, 3));
    let records = create_topic(&image, &spec("t", 4, 2)).unwrap();
    apply(&mut image, &records);
    assert!(
        image.topics["t"]
            .partitions
            .iter()
            .all(|p| !p.replicas.contains(&3))
    );
    assert_eq!(
        create_topic(&image, &spec("u", 1, 3)).unwrap_err().code,
        ResponseError::InvalidReplicationFactor
    );
    for bad in [
        vec![vec![1, 1]],
        vec![vec![1, 9]],
        vec![vec![]],
        vec![vec![1], vec![1, 2]],
    ] {
        let mut s = spec("m", bad.len() as i32, 1);
        s.assignments = Some(bad.clone());
        assert_eq!(
            create_topic(&image, &s).unwrap_err().code,
            ResponseError::InvalidReplicaAssignment,
            "{bad:?}"
        );
    }
    // A manual assignment may name a fenced broker: it is a replica, not in the ISR.
    let mut s = spec("m", 1, 1);
    s.assignments = Some(vec![vec![3, 1]]);
    step(&mut image, |image| create_topic(&image, &s).unwrap());
    let p = image.partition("m", 0).unwrap();
    assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
}

#[test]
fn fencing_the_leader_elects_the_next_isr_member_and_bumps_epochs() {
    let mut image = with_topic(&[1, 2, 3], &[1, 2, 3]);
    step(&mut image, |image| fence(&image, 1));
    let p = part(&image);
    assert_eq!(p.leader, 2);
    assert_eq!(p.isr, vec![2, 3]);
    assert_eq!((p.leader_epoch, p.partition_epoch), (1, 1));
    assert!(image.brokers[&1].fenced);
    // Fencing a follower shrinks the ISR but keeps the leader and its epoch.
    step(&mut image, |image| fence(&image, 3));
    let p = part(&image);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    assert_eq!((p.leader_epoch, p.partition_epoch), (1, 2));
    // The last ISR member stays, leaderless: no unclean election.
    step(&mut image, |image| fence(&image, 2));
    let p = part(&image);
    assert_eq!((p.leader, p.isr.clone()), (NO_LEADER, vec![2]));
    // Others coming back do not lead: they may lack acknowledged records.
    step(&mut image, |image| unfence(&image, 1));
    assert_eq!(part(&image).leader, NO_LEADER);
    // The last ISR member coming back leads again.
    step(&mut image, |image| unfence(&image, 2));
    let p = part(&image);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    assert_eq!(p.leader_epoch, 3);
    // Fencing twice writes nothing the second time.
    step(&mut image, |image| fence(&image, 3));
    assert!(fence(&image, 3).is_empty());
    assert!(fence(&image, 99).is_empty());
}

#[test]
fn a_new_incarnation_is_withdrawn_and_fenced_a_retry_changes_nothing() {
    let image = with_topic(&[1, 2], &[1, 2]);
    assert!(register_broker(&image, registration(1, None)).is_empty());
    let mut again = registration(1, None);
    again.incarnation_id = Uuid::from_u128(99);
    let mut after = image.clone();
    apply(&mut after, &register_broker(&image, again));
    assert!(after.brokers[&1].fenced);
    assert_eq!(after.brokers[&1].incarnation_id, Uuid::from_u128(99));
    let p = part(&after);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
}

#[test]
fn controlled_shutdown_moves_leadership_but_keeps_partitions_with_no_one_else() {
    let mut image = with_topic(&[1, 2], &[1, 2]);
    let mut s = spec("solo", 1, 1);
    s.assignments = Some(vec![vec![1]]);
    step(&mut image, |image| create_topic(&image, &s).unwrap());
    step(&mut image, |image| begin_shutdown(&image, 1));
    assert!(image.brokers[&1].shutting_down);
    let p = part(&image);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    let solo = image.partition("solo", 0).unwrap();
    assert_eq!((solo.leader, solo.isr.clone()), (1, vec![1]));
    assert!(!image.is_usable(1));
    // Once stopped it is fenced: the lone partition goes leaderless.
    step(&mut image, |image| fence(&image, 1));
    assert_eq!(image.partition("solo", 0).unwrap().leader, NO_LEADER);
    step(&mut image, |image| unfence(&image, 1));
    assert!(!image.brokers[&1].shutting_down);
    assert_eq!(image.partition("solo", 0).unwrap().leader, 1);
}

fn isr_change(p: &PartitionRecord, new_isr: &[i32]) -> IsrChange {
    IsrChange {
        topic: "t".into(),
        partition: 0,
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: new_isr.to_vec(),
    }
}

#[test]
fn alter_partition_checks_leader_epochs_and_eligibility() {
    let mut image = with_topic(&[1, 2, 3], &[1, 2, 3]);
    let p = part(&image).clone();
    let (records, result) = alter_partition(&image, &isr_change(&p, &[1, 2])).unwrap();
    apply(&mut image, &records);
    assert_eq!(result.isr, vec![1, 2]);
    assert_eq!(result.partition_epoch, 1);
    assert_eq!(part(&image), &result);
    // A stale partition epoch (the request raced another change) is refused.
    assert_eq!(
        alter_partition(&image, &isr_change(&p, &[1]))
            .unwrap_err()
            .code,
        ResponseError::InvalidUpdateVersion
    );
    let p = part(&image).clone();
    let mut stale = isr_change(&p, &[1]);
    stale.leader_epoch -= 1;
    assert_eq!(
        alter_partition(&image, &stale).unwrap_err().code,
        ResponseError::FencedLeaderEpoch
    );
    let mut wrong = isr_change(&p, &[2]);
    wrong.leader = 2;
    assert_eq!(
        alter_partition(&image, &wrong).unwrap_err().code,
        ResponseError::NotLeaderOrFollower
    );
    assert_eq!(
        alter_partition(&image, &isr_change(&p, &[2, 3]))
            .unwrap_err()
            .code,
        ResponseError::InvalidRequest,
        "the leader must stay"
    );
    assert_eq!(
        alter_partition(&image, &isr_change(&p, &[1, 4]))
            .unwrap_err()
            .code,
        ResponseError::InvalidRequest,
        "only replicas"
    );
    step(&mut image, |image| fence(&image, 3));
    let p = part(&image).clone();
    assert_eq!(
        alter_partition(&image, &isr_change(&p, &[1, 2, 3]))
            .unwrap_err()
            .code,
        ResponseError::IneligibleReplica,
        "a fenced broker cannot join"
    );
}

#[test]
fn a_reassignment_adds_first_and_completes_when_targets_are_in_sync() {
    let mut image = with_topic(&[0, 1, 2, 3], &[0, 1, 2]);
    step(&mut image, |image| {
        reassign(&image, "t", 0, Some(&[1, 2, 3])).unwrap()
    });
    let p = part(&image).clone();
    assert_eq!(p.replicas, vec![1, 2, 3, 0]);
    assert_eq!(p.adding_replicas, vec![3]);
    assert_eq!(p.removing_replicas, vec![0]);
    assert_eq!((p.leader, p.isr.clone()), (0, vec![0, 1, 2]));
    // The new replica catches up; the leader adds it; the reassignment completes and the
    // leader, no longer a replica, hands over.
    let (records, result) = alter_partition(&image, &isr_change(&p, &[0, 1, 2, 3])).unwrap();
    apply(&mut image, &records);
    assert_eq!(result.replicas, vec![1, 2, 3]);
    assert_eq!(result.isr, vec![1, 2, 3]);
    assert!(!result.reassigning());
    assert_eq!(result.leader, 1);
    assert_eq!(result.leader_epoch, p.leader_epoch + 1);
    assert_eq!(
        reassign(&image, "t", 0, None).unwrap_err().code,
        ResponseError::NoReassignmentInProgress
    );
}

#[test]
fn a_reassignment_can_be_cancelled_or_redirected() {
    let mut image = with_topic(&[0, 1, 2, 3, 4], &[0, 1, 2]);
    step(&mut image, |image| {
        reassign(&image, "t", 0, Some(&[2, 3, 4])).unwrap()
    });
    // Redirected: computed from the original replicas, not the in-flight set.
    step(&mut image, |image| {
        reassign(&image, "t", 0, Some(&[0, 1, 3])).unwrap()
    });
    let p = part(&image).clone();
    assert_eq!(p.adding_replicas, vec![3]);
    assert_eq!(p.removing_replicas, vec![2]);
    step(&mut image, |image| reassign(&image, "t", 0, None).unwrap());
    let p = part(&image).clone();
    assert_eq!(p.replicas, vec![0, 1, 2]);
    assert!(!p.reassigning());
    assert_eq!(p.leader, 0);
    // Shrinking only (targets already in sync) completes at once.
    step(&mut image, |image| {
        reassign(&image, "t", 0, Some(&[1, 2])).unwrap()
    });
    let p = part(&image);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone(), p.leader),
        (vec![1, 2], vec![1, 2], 1)
    );
    assert_eq!(
        reassign(&image, "t", 0, Some(&[1, 9])).unwrap_err().code,
        ResponseError::InvalidReplicaAssignment
    );
}

#[test]
fn preferred_leaders_come_back_when_in_sync() {
    let mut image = with_topic(&[1, 2], &[1, 2]);
    assert_eq!(
        elect_preferred(&image, "t", 0).unwrap_err().code,
        ResponseError::ElectionNotNeeded
    );
    step(&mut image, |image| fence(&image, 1));
    assert_eq!(part(&image).leader, 2);
    assert_eq!(
        elect_preferred(&image, "t", 0).unwrap_err().code,
        ResponseError::PreferredLeaderNotAvailable
    );
    step(&mut image, |image| unfence(&image, 1));
    assert!(
        rebalance_leaders(&image).is_empty(),
        "1 is not back in the ISR yet"
    );
    let p = part(&image).clone();
    step(&mut image, |image| {
        alter_partition(&image, &isr_change(&p, &[2, 1])).unwrap().0
    });
    let records = rebalance_leaders(&image);
    assert_eq!(records.len(), 1);
    apply(&mut image, &records);
    assert_eq!(part(&image).leader, 1);
}

#[test]
fn partitions_grow_with_the_topics_replication_factor_and_producer_ids_never_repeat() {
    let mut image = cluster(&[1, 2, 3]);
    step(&mut image, |image| {
        create_topic(&image, &spec("t", 2, 2)).unwrap()
    });
    step(&mut image, |image| {
        create_partitions(&image, "t", 5, None).unwrap()
    });
    let t = &image.topics["t"];
    assert_eq!(t.partitions.len(), 5);
    assert!(t.partitions.iter().all(|p| p.replicas.len() == 2));
    assert_eq!(
        create_partitions(&image, "t", 5, None).unwrap_err().code,
        ResponseError::InvalidPartitions
    );
    assert_eq!(
        delete_topic(&image, "nope").unwrap_err().code,
        ResponseError::UnknownTopicOrPartition
    );
    let a = allocate_producer_ids(&image, 1, 1000);
    image.apply(&a);
    let b = allocate_producer_ids(&image, 2, 1000);
    assert!(matches!(
        b,
        MetadataRecord::ProducerIdsAllocated { first: 1000, .. }
    ));
}
