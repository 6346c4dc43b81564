//! The controller's decisions, as pure functions (openraft's `engine/` idea): the current
//! [`MetadataImage`] and a request in, the [`MetadataRecord`]s to append (or a Kafka error)
//! out. No I/O and no clock; the quorum shell ([`super::quorum`]) serialises calls, appends
//! what they return and applies it.
//!
//! The rules are Kafka's (KRaft's `ReplicationControlManager`):
//! - a leader is the first replica, in replica order, that is in the ISR and usable
//!   (registered, unfenced, not shutting down); unclean election is off, so a partition whose
//!   ISR holds only unusable brokers has no leader until one of them is back;
//! - the ISR never becomes empty: removing its last member leaves it there, leaderless;
//! - every change bumps the partition epoch, every leader change the leader epoch;
//! - a reassignment first adds the target replicas, and completes (old ones removed, the
//!   leader moved if it is not a target) once every target replica is in the ISR.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::image::MetadataImage;
use super::placement::{Candidate, assign};
use super::records::{BrokerRegistration, MetadataRecord, NO_LEADER, PartitionRecord};
use crate::broker::ApiError;

/// A topic to create, already validated for name and configs by the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Id to give it.
    pub id: Uuid,
    /// Partition count (resolved: never -1).
    pub partitions: i32,
    /// Replication factor (resolved: never -1); ignored with manual assignments.
    pub replication_factor: i16,
    /// Manual replica assignment per partition index, when the client gave one.
    pub assignments: Option<Vec<Vec<i32>>>,
    /// Topic-level config overrides.
    pub configs: BTreeMap<String, String>,
    /// Internal topic.
    pub internal: bool,
}

/// A leader's request to change an ISR (Kafka's AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsrChange {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The leader asking.
    pub leader: i32,
    /// The leader epoch it leads in.
    pub leader_epoch: i32,
    /// The partition epoch its view is based on.
    pub partition_epoch: i32,
    /// The ISR it wants.
    pub new_isr: Vec<i32>,
}

fn err(code: ResponseError, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn unknown_topic(name: &str) -> ApiError {
    err(
        ResponseError::UnknownTopicOrPartition,
        format!("topic {name:?} does not exist"),
    )
}

fn candidates(image: &MetadataImage) -> Vec<Candidate> {
    image
        .usable_brokers()
        .map(|b| Candidate {
            node_id: b.node_id,
            rack: b.rack.clone(),
        })
        .collect()
}

/// A stable per-topic starting broker, so topics do not all lead on the lowest broker id.
fn start_index(name: &str) -> usize {
    name.bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
}

/// The leader rule: the first replica (in replica order) that is in `isr` and usable.
pub fn choose_leader(image: &MetadataImage, replicas: &[i32], isr: &[i32]) -> i32 {
    replicas
        .iter()
        .copied()
        .find(|r| isr.contains(r) && image.is_usable(*r))
        .unwrap_or(NO_LEADER)
}

/// `next` as a record change of `before`: the partition epoch bumped, and the leader epoch
/// too when the leader changed. `None` when nothing changed.
fn changed(
    topic: &str,
    before: &PartitionRecord,
    mut next: PartitionRecord,
) -> Option<MetadataRecord> {
    if next == *before {
        return None;
    }
    next.partition_epoch = before.partition_epoch + 1;
    if next.leader != before.leader {
        next.leader_epoch = before.leader_epoch + 1;
    }
    Some(MetadataRecord::PartitionChanged {
        topic: topic.to_string(),
        record: next,
    })
}

fn new_partition(image: &MetadataImage, index: i32, replicas: Vec<i32>) -> PartitionRecord {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|r| image.is_usable(*r))
        .collect();
    // Replicas not usable right now still join the ISR when there is no usable one, so the
    // partition gets a leader as soon as one of them is back (nothing to lose: it is empty).
    let isr = if isr.is_empty() {
        replicas.clone()
    } else {
        isr
    };
    let leader = choose_leader(image, &replicas, &isr);
    PartitionRecord {
        partition: index,
        replicas,
        isr,
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

fn check_assignment(image: &MetadataImage, replicas: &[i32]) -> Result<(), ApiError> {
    if replicas.is_empty() {
        return Err(err(
            ResponseError::InvalidReplicaAssignment,
            "a partition needs at least one replica",
        ));
    }
    for (i, r) in replicas.iter().enumerate() {
        if replicas[..i].contains(r) {
            return Err(err(
                ResponseError::InvalidReplicaAssignment,
                format!("broker {r} is listed twice in {replicas:?}"),
            ));
        }
        if !image.brokers.contains_key(r) {
            return Err(err(
                ResponseError::InvalidReplicaAssignment,
                format!("broker {r} is not registered"),
            ));
        }
    }
    Ok(())
}

/// Replica lists for new partitions `first..first+count` of a topic.
fn place(
    image: &MetadataImage,
    name: &str,
    first: i32,
    count: i32,
    replication_factor: i16,
    manual: Option<&Vec<Vec<i32>>>,
) -> Result<Vec<Vec<i32>>, ApiError> {
    if let Some(manual) = manual {
        if manual.len() != count as usize {
            return Err(err(
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "{} replica assignments given for {count} new partitions",
                    manual.len()
                ),
            ));
        }
        let rf = manual.first().map(Vec::len).unwrap_or(0);
        for replicas in manual {
            check_assignment(image, replicas)?;
            if replicas.len() != rf {
                return Err(err(
                    ResponseError::InvalidReplicaAssignment,
                    "every partition must have the same number of replicas",
                ));
            }
        }
        return Ok(manual.clone());
    }
    let usable = candidates(image);
    if replication_factor < 1 {
        return Err(err(
            ResponseError::InvalidReplicationFactor,
            format!("replication factor must be at least 1, not {replication_factor}"),
        ));
    }
    assign(
        &usable,
        count as usize,
        replication_factor as usize,
        start_index(name) + first as usize,
    )
    .ok_or_else(|| {
        err(
            ResponseError::InvalidReplicationFactor,
            format!(
                "replication factor {replication_factor} is larger than the {} available broker{}",
                usable.len(),
                if usable.len() == 1 { "" } else { "s" }
            ),
        )
    })
}

/// CreateTopics.
pub fn create_topic(
    image: &MetadataImage,
    spec: &TopicSpec,
) -> Result<Vec<MetadataRecord>, ApiError> {
    if image.topics.contains_key(&spec.name) {
        return Err(err(
            ResponseError::TopicAlreadyExists,
            format!("topic {:?} already exists", spec.name),
        ));
    }
    let placed = place(
        image,
        &spec.name,
        0,
        spec.partitions,
        spec.replication_factor,
        spec.assignments.as_ref(),
    )?;
    let mut out = vec![MetadataRecord::TopicCreated {
        name: spec.name.clone(),
        id: spec.id,
        internal: spec.internal,
        configs: spec.configs.clone(),
    }];
    for (i, replicas) in placed.into_iter().enumerate() {
        out.push(MetadataRecord::PartitionChanged {
            topic: spec.name.clone(),
            record: new_partition(image, i as i32, replicas),
        });
    }
    Ok(out)
}

/// DeleteTopics.
pub fn delete_topic(image: &MetadataImage, name: &str) -> Result<Vec<MetadataRecord>, ApiError> {
    let topic = image.topics.get(name).ok_or_else(|| unknown_topic(name))?;
    if topic.internal {
        return Err(err(
            ResponseError::InvalidTopicException,
            format!("internal topic {name:?} cannot be deleted"),
        ));
    }
    Ok(vec![MetadataRecord::TopicDeleted {
        name: name.to_string(),
    }])
}

/// CreatePartitions: grows `name` to `total` partitions with the replication factor of its
/// first partition.
pub fn create_partitions(
    image: &MetadataImage,
    name: &str,
    total: i32,
    assignments: Option<&Vec<Vec<i32>>>,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let topic = image.topics.get(name).ok_or_else(|| unknown_topic(name))?;
    let current = topic.partitions.len() as i32;
    if total <= current {
        return Err(err(
            ResponseError::InvalidPartitions,
            format!(
                "topic {name:?} has {current} partitions; the new count must be larger, not {total}"
            ),
        ));
    }
    let rf = topic
        .partitions
        .first()
        .map(|p| p.target_replicas().len() as i16)
        .unwrap_or(1);
    let placed = place(image, name, current, total - current, rf, assignments)?;
    Ok(placed
        .into_iter()
        .enumerate()
        .map(|(i, replicas)| MetadataRecord::PartitionChanged {
            topic: name.to_string(),
            record: new_partition(image, current + i as i32, replicas),
        })
        .collect())
}

/// Registers a broker (fenced). The same incarnation registering again (a retry) changes
/// nothing; a new incarnation replaces the old registration and, as the process restarted,
/// takes it out of every ISR and leadership first.
pub fn register_broker(
    image: &MetadataImage,
    registration: BrokerRegistration,
) -> Vec<MetadataRecord> {
    if let Some(existing) = image.brokers.get(&registration.node_id)
        && existing.incarnation_id == registration.incarnation_id
    {
        return Vec::new();
    }
    let mut out = fence(image, registration.node_id);
    out.retain(|r| !matches!(r, MetadataRecord::BrokerFenced { .. }));
    out.push(MetadataRecord::BrokerRegistered(BrokerRegistration {
        fenced: true,
        shutting_down: false,
        ..registration
    }));
    out
}

/// Removes `node` from the ISR and leadership of every partition (a broker fenced, shutting
/// down, or re-registered), electing new leaders from the rest of each ISR. A partition whose
/// ISR holds only `node` keeps it there, leaderless (unclean election is off).
fn withdraw(image: &MetadataImage, node: i32, keep_lone_leader: bool) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    // The image as it will be once `node` is unusable: leaders are chosen without it.
    let mut after = image.clone();
    if let Some(b) = after.brokers.get_mut(&node) {
        b.fenced = true;
    }
    for (topic, t) in &image.topics {
        for p in &t.partitions {
            if !p.isr.contains(&node) && p.leader != node {
                continue;
            }
            let rest: Vec<i32> = p.isr.iter().copied().filter(|r| *r != node).collect();
            let mut next = p.clone();
            if rest.iter().any(|r| after.is_usable(*r)) {
                next.isr = rest;
                next.leader = choose_leader(&after, &next.replicas, &next.isr);
            } else if keep_lone_leader && p.leader == node {
                // Controlled shutdown with no one to hand over to: it keeps leading until it
                // stops; fencing then leaves the partition leaderless.
                continue;
            } else {
                // No usable member besides `node`: it stays in the ISR, leaderless, so it can
                // lead again when it is back (it may hold records no one else has).
                next.leader = NO_LEADER;
            }
            out.extend(changed(topic, p, next));
        }
    }
    out
}

/// Fences `node`: it stops leading and leaves every ISR.
pub fn fence(image: &MetadataImage, node: i32) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&node) else {
        return Vec::new();
    };
    let mut out = withdraw(image, node, false);
    if !b.fenced {
        out.push(MetadataRecord::BrokerFenced {
            node_id: node,
            fenced: true,
        });
    }
    out
}

/// Unfences `node` (it caught up with the metadata log): partitions it is the last ISR
/// member of get it back as leader.
pub fn unfence(image: &MetadataImage, node: i32) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&node) else {
        return Vec::new();
    };
    if !b.fenced && !b.shutting_down {
        return Vec::new();
    }
    let mut out = vec![MetadataRecord::BrokerFenced {
        node_id: node,
        fenced: false,
    }];
    let mut after = image.clone();
    for r in &out {
        after.apply(r);
    }
    for (topic, t) in &image.topics {
        for p in &t.partitions {
            if p.leader == NO_LEADER && p.isr.contains(&node) {
                let mut next = p.clone();
                next.leader = choose_leader(&after, &p.replicas, &p.isr);
                out.extend(changed(topic, p, next));
            }
        }
    }
    out
}

/// Begins a controlled shutdown of `node`: leadership moves to other ISR members and it
/// leaves the ISRs that have others; partitions with no one else keep it until it stops.
pub fn begin_shutdown(image: &MetadataImage, node: i32) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&node) else {
        return Vec::new();
    };
    let mut out = withdraw(image, node, true);
    if !b.shutting_down {
        out.push(MetadataRecord::BrokerShuttingDown { node_id: node });
    }
    out
}

/// A reassignment finished when every target replica is in the ISR: the old replicas go and
/// the leader moves if it is not a target.
fn complete_reassignment(image: &MetadataImage, p: &mut PartitionRecord) {
    if !p.reassigning() {
        return;
    }
    let target = p.target_replicas();
    if !target.iter().all(|r| p.isr.contains(r)) {
        return;
    }
    p.replicas = target;
    p.isr.retain(|r| p.replicas.contains(r));
    p.adding_replicas.clear();
    p.removing_replicas.clear();
    if !p.replicas.contains(&p.leader) {
        p.leader = choose_leader(image, &p.replicas, &p.isr);
    }
}

/// AlterPartition: a leader changes its ISR.
pub fn alter_partition(
    image: &MetadataImage,
    change: &IsrChange,
) -> Result<(Vec<MetadataRecord>, PartitionRecord), ApiError> {
    let p = image
        .partition(&change.topic, change.partition)
        .ok_or_else(|| unknown_topic(&change.topic))?;
    if p.leader != change.leader {
        return Err(err(
            ResponseError::NotLeaderOrFollower,
            format!(
                "broker {} does not lead {}-{} (the leader is {})",
                change.leader, change.topic, change.partition, p.leader
            ),
        ));
    }
    if p.leader_epoch != change.leader_epoch {
        return Err(err(
            ResponseError::FencedLeaderEpoch,
            format!(
                "leader epoch {} is not the current {}",
                change.leader_epoch, p.leader_epoch
            ),
        ));
    }
    if p.partition_epoch != change.partition_epoch {
        return Err(err(
            ResponseError::InvalidUpdateVersion,
            format!(
                "partition epoch {} is not the current {}",
                change.partition_epoch, p.partition_epoch
            ),
        ));
    }
    if !change.new_isr.contains(&change.leader) {
        return Err(err(
            ResponseError::InvalidRequest,
            "the leader must stay in the ISR",
        ));
    }
    for r in &change.new_isr {
        if !p.replicas.contains(r) {
            return Err(err(
                ResponseError::InvalidRequest,
                format!("broker {r} is not a replica"),
            ));
        }
        if !p.isr.contains(r) && !image.is_usable(*r) {
            return Err(err(
                ResponseError::IneligibleReplica,
                format!("broker {r} is fenced or shutting down and cannot join the ISR"),
            ));
        }
    }
    let mut next = p.clone();
    next.isr = change.new_isr.clone();
    complete_reassignment(image, &mut next);
    let records: Vec<MetadataRecord> = changed(&change.topic, p, next.clone())
        .into_iter()
        .collect();
    let result = match records.first() {
        Some(MetadataRecord::PartitionChanged { record, .. }) => record.clone(),
        _ => p.clone(),
    };
    Ok((records, result))
}

/// AlterPartitionReassignments for one partition: move it to `target`, or cancel a
/// reassignment in progress (`None`).
pub fn reassign(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<&[i32]>,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let p = image
        .partition(topic, partition)
        .ok_or_else(|| unknown_topic(topic))?;
    // The replicas before any reassignment in progress.
    let original: Vec<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| !p.adding_replicas.contains(r))
        .collect();
    let mut next = p.clone();
    match target {
        None => {
            if !p.reassigning() {
                return Err(err(
                    ResponseError::NoReassignmentInProgress,
                    format!("no reassignment of {topic}-{partition} is in progress"),
                ));
            }
            next.replicas = original;
            next.isr.retain(|r| next.replicas.contains(r));
            next.adding_replicas.clear();
            next.removing_replicas.clear();
            if next.isr.is_empty() {
                next.isr = p.isr.clone();
            }
            if !next.replicas.contains(&next.leader) || !next.isr.contains(&next.leader) {
                next.leader = choose_leader(image, &next.replicas, &next.isr);
            }
        }
        Some(target) => {
            check_assignment(image, target)?;
            next.adding_replicas = target
                .iter()
                .copied()
                .filter(|r| !original.contains(r))
                .collect();
            next.removing_replicas = original
                .iter()
                .copied()
                .filter(|r| !target.contains(r))
                .collect();
            next.replicas = target.to_vec();
            next.replicas.extend(next.removing_replicas.iter().copied());
            next.isr.retain(|r| next.replicas.contains(r));
            complete_reassignment(image, &mut next);
        }
    }
    Ok(changed(topic, p, next).into_iter().collect())
}

/// Preferred-leader election for one partition.
pub fn elect_preferred(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let p = image
        .partition(topic, partition)
        .ok_or_else(|| unknown_topic(topic))?;
    let preferred = p.replicas.first().copied().unwrap_or(NO_LEADER);
    if p.leader == preferred {
        return Err(err(
            ResponseError::ElectionNotNeeded,
            format!("broker {preferred} already leads {topic}-{partition}"),
        ));
    }
    if !p.isr.contains(&preferred) || !image.is_usable(preferred) {
        return Err(err(
            ResponseError::PreferredLeaderNotAvailable,
            format!("preferred leader {preferred} of {topic}-{partition} is not in sync"),
        ));
    }
    let mut next = p.clone();
    next.leader = preferred;
    Ok(changed(topic, p, next).into_iter().collect())
}

/// Every partition whose preferred replica could lead but does not (periodic
/// `auto.leader.rebalance.enable`).
pub fn rebalance_leaders(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for (topic, t) in &image.topics {
        for p in &t.partitions {
            if let Ok(records) = elect_preferred(image, topic, p.partition) {
                out.extend(records);
            }
        }
    }
    out
}

/// A block of `size` producer ids for `node`.
pub fn allocate_producer_ids(image: &MetadataImage, node: i32, size: i64) -> MetadataRecord {
    MetadataRecord::ProducerIdsAllocated {
        node_id: node,
        first: image.next_producer_id,
        size,
    }
}

#[cfg(test)]
mod tests;
