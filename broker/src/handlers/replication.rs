//! Replication APIs: OffsetForLeaderEpoch (followers and KIP-320 consumers find where a
//! leader epoch ends), ElectLeaders (preferred-leader election), and
//! AlterPartitionReassignments / ListPartitionReassignments (moving replicas between
//! brokers, what the operator uses to add and drain brokers).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, msg};
use crate::broker::{ApiError, Broker};
use crate::cluster::rpc::ControllerRequest;
use crate::security::acl::{Operation, ResourceType};

/// ElectLeaders' preferred election type (1 is unclean).
const ELECTION_PREFERRED: i8 = 0;

pub(crate) fn offset_for_leader_epoch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let from_replica = req.replica_id.0 >= 0;
    let replica_allowed = !from_replica || ctx.may_on_cluster(broker, Operation::ClusterAction);
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let name = t.topic.to_string();
        let allowed = replica_allowed
            && (from_replica || ctx.may(broker, Operation::Describe, ResourceType::Topic, &name));
        let mut tr = OffsetForLeaderTopicResult::default();
        tr.topic = t.topic.clone();
        for p in t.partitions {
            let mut r = EpochEndOffset::default();
            r.partition = p.partition;
            r.leader_epoch = -1;
            r.end_offset = -1;
            let code = if !allowed {
                Some(if from_replica {
                    ResponseError::ClusterAuthorizationFailed
                } else {
                    ResponseError::TopicAuthorizationFailed
                })
            } else {
                match broker.partition(&name, p.partition) {
                    None => Some(
                        if broker
                            .topic(&name)
                            .is_some_and(|t| p.partition >= 0 && p.partition < t.partition_count())
                        {
                            ResponseError::NotLeaderOrFollower
                        } else {
                            ResponseError::UnknownTopicOrPartition
                        },
                    ),
                    Some(part) => {
                        let replica = part.replica();
                        if !replica.is_leader() {
                            Some(ResponseError::NotLeaderOrFollower)
                        } else if p.current_leader_epoch >= 0
                            && p.current_leader_epoch < replica.leader_epoch
                        {
                            Some(ResponseError::FencedLeaderEpoch)
                        } else if p.current_leader_epoch > replica.leader_epoch {
                            Some(ResponseError::UnknownLeaderEpoch)
                        } else {
                            if let Some((epoch, end)) = part.end_offset_for_epoch(p.leader_epoch) {
                                r.leader_epoch = epoch;
                                r.end_offset = end;
                            }
                            None
                        }
                    }
                }
            };
            r.error_code = code.map_or(0, |c| c.code());
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}

pub(crate) async fn elect_leaders(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let mut resp = ElectLeadersResponse::default();
    if ctx.principal.tenant.is_some() || !ctx.may_on_cluster(broker, Operation::Alter) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    let targets: Vec<(String, Vec<i32>)> = match req.topic_partitions {
        Some(list) => list
            .into_iter()
            .map(|t| (t.topic.to_string(), t.partitions))
            .collect(),
        None => broker
            .image()
            .topics
            .iter()
            .map(|(n, t)| (n.clone(), (0..t.partitions.len() as i32).collect()))
            .collect(),
    };
    for (topic, partitions) in targets {
        let mut tr = ReplicaElectionResult::default();
        tr.topic = TopicName(StrBytes::from_string(topic.clone()));
        for partition in partitions {
            let outcome = if ctx.api_version >= 1 && req.election_type != ELECTION_PREFERRED {
                Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    "unclean leader election is disabled: it can lose acknowledged records",
                ))
            } else {
                broker
                    .quorum
                    .submit(ControllerRequest::ElectPreferred {
                        topic: topic.clone(),
                        partition,
                    })
                    .await
                    .map(|reply| reply.index)
            };
            let mut r = PartitionResult::default();
            r.partition_id = partition;
            match outcome {
                Ok(index) => broker.wait_published(index).await,
                Err(e) => {
                    r.error_code = e.code.code();
                    r.error_message = msg(e.message);
                }
            }
            tr.partition_result.push(r);
        }
        resp.replica_election_results.push(tr);
    }
    resp
}

pub(crate) async fn alter_partition_reassignments(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let mut resp = AlterPartitionReassignmentsResponse::default();
    if ctx.api_version >= 1 {
        resp.allow_replication_factor_change = req.allow_replication_factor_change;
    }
    if ctx.principal.tenant.is_some() || !ctx.may_on_cluster(broker, Operation::Alter) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        resp.error_message = msg("reassigning partitions needs ALTER on the cluster");
        return resp;
    }
    let allow_rf_change = ctx.api_version < 1 || req.allow_replication_factor_change;
    for t in req.topics {
        let topic = t.name.to_string();
        let mut tr = ReassignableTopicResponse::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let target: Option<Vec<i32>> = p.replicas.map(|r| r.iter().map(|b| b.0).collect());
            let image = broker.image();
            let current = image.partition(&topic, p.partition_index).cloned();
            let outcome = match (&current, &target) {
                (None, _) => Err(ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("{topic}-{} does not exist", p.partition_index),
                )),
                (Some(c), Some(t)) if !allow_rf_change && t.len() != c.target_replicas().len() => {
                    Err(ApiError::new(
                        ResponseError::InvalidReplicationFactor,
                        format!(
                            "the reassignment changes the replication factor from {} to {}; send allow_replication_factor_change",
                            c.target_replicas().len(),
                            t.len()
                        ),
                    ))
                }
                _ => broker
                    .quorum
                    .submit(ControllerRequest::Reassign {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        target: target.clone(),
                    })
                    .await
                    .map(|r| r.index),
            };
            let mut r = ReassignablePartitionResponse::default();
            r.partition_index = p.partition_index;
            match outcome {
                Ok(index) => {
                    broker.wait_published(index).await;
                    tracing::info!(%topic, partition = p.partition_index, to = ?target, "reassignment started");
                }
                Err(e) => {
                    r.error_code = e.code.code();
                    r.error_message = msg(e.message);
                }
            }
            tr.partitions.push(r);
        }
        resp.responses.push(tr);
    }
    resp
}

pub(crate) fn list_partition_reassignments(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let mut resp = ListPartitionReassignmentsResponse::default();
    // Reassignments name every tenant's topics: tenants never see them.
    if ctx.principal.tenant.is_some() || !ctx.may_on_cluster(broker, Operation::Describe) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        resp.error_message =
            msg("listing reassignments needs DESCRIBE on the cluster (not for tenants)");
        return resp;
    }
    let image = broker.image();
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let wanted: Vec<(String, Option<Vec<i32>>)> = match req.topics {
        Some(list) => list
            .into_iter()
            .map(|t| (t.name.to_string(), Some(t.partition_indexes)))
            .collect(),
        None => image.topics.keys().map(|n| (n.clone(), None)).collect(),
    };
    for (name, indexes) in wanted {
        let Some(topic) = image.topics.get(&name) else {
            continue;
        };
        let partitions: Vec<OngoingPartitionReassignment> = topic
            .partitions
            .iter()
            .filter(|p| p.reassigning())
            .filter(|p| indexes.as_ref().is_none_or(|i| i.contains(&p.partition)))
            .map(|p| {
                let mut o = OngoingPartitionReassignment::default();
                o.partition_index = p.partition;
                o.replicas = ids(&p.replicas);
                o.adding_replicas = ids(&p.adding_replicas);
                o.removing_replicas = ids(&p.removing_replicas);
                o
            })
            .collect();
        if !partitions.is_empty() {
            let mut t = OngoingTopicReassignment::default();
            t.name = TopicName(StrBytes::from_string(name));
            t.partitions = partitions;
            resp.topics.push(t);
        }
    }
    resp
}
