//! Transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit,
//! WriteTxnMarkers (broker to broker), DescribeTransactions and ListTransactions. The
//! transactional InitProducerId is in [`super::producer_id`]; the decisions are in
//! [`crate::txn`].

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::{Broker, OFFSETS_TOPIC};
use crate::group::OffsetCommitter;
use crate::group::codec::OffsetValue;
use crate::log::batch::ControlMarker;
use crate::security::acl::{Operation, ResourceType};
use crate::txn::state::TxnMetadata;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn code(result: Result<(), ResponseError>) -> i16 {
    result.err().map_or(0, |e| e.code())
}

/// Kafka answers fencing with INVALID_PRODUCER_EPOCH to clients older than the version that
/// introduced PRODUCER_FENCED (KIP-588).
fn fenced_for(version: i16, since: i16, e: ResponseError) -> ResponseError {
    if e == ResponseError::ProducerFenced && version < since {
        ResponseError::InvalidProducerEpoch
    } else {
        e
    }
}

pub(crate) async fn add_partitions_to_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let id = req.v3_and_below_transactional_id.to_string();
    let mut resp = AddPartitionsToTxnResponse::default();
    let requested: Vec<(String, Vec<i32>)> = req
        .v3_and_below_topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions.clone()))
        .collect();
    // Refusals per partition; partitions that pass go to the coordinator together.
    let mut early: BTreeMap<(String, i32), ResponseError> = BTreeMap::new();
    let id_allowed = ctx.may(broker, Operation::Write, ResourceType::TransactionalId, &id);
    for (topic, partitions) in &requested {
        let topic_allowed = ctx.may(broker, Operation::Write, ResourceType::Topic, topic);
        let found = broker.topic(topic);
        for p in partitions {
            let refusal = if !id_allowed {
                Some(ResponseError::TransactionalIdAuthorizationFailed)
            } else if !topic_allowed {
                Some(ResponseError::TopicAuthorizationFailed)
            } else if found
                .as_ref()
                .is_none_or(|t| *p < 0 || *p >= t.partition_count())
            {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if found.as_ref().is_some_and(|t| t.internal) {
                Some(ResponseError::InvalidTopicException)
            } else {
                None
            };
            if let Some(e) = refusal {
                early.insert((topic.clone(), *p), e);
            }
        }
    }
    let outcome = if early.is_empty() {
        let partitions: Vec<(String, i32)> = requested
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
            .collect();
        broker
            .txn_add_partitions(
                &id,
                *req.v3_and_below_producer_id,
                req.v3_and_below_producer_epoch,
                &partitions,
            )
            .await
            .map_err(|e| fenced_for(ctx.api_version, 2, e))
    } else {
        // Kafka adds nothing when any partition is refused: the rest are OPERATION_NOT_ATTEMPTED.
        Err(ResponseError::OperationNotAttempted)
    };
    resp.results_by_topic_v3_and_below = requested
        .into_iter()
        .map(|(topic, partitions)| {
            let mut t = AddPartitionsToTxnTopicResult::default();
            t.name = TopicName(sb(&topic));
            t.results_by_partition = partitions
                .into_iter()
                .map(|p| {
                    let mut r = AddPartitionsToTxnPartitionResult::default();
                    r.partition_index = p;
                    r.partition_error_code = match early.get(&(topic.clone(), p)) {
                        Some(e) => e.code(),
                        None => code(outcome),
                    };
                    r
                })
                .collect();
            t
        })
        .collect();
    resp
}

pub(crate) async fn add_offsets_to_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let mut resp = AddOffsetsToTxnResponse::default();
    let id = req.transactional_id.as_str();
    let group = req.group_id.as_str();
    let result = if !ctx.may(broker, Operation::Write, ResourceType::TransactionalId, id) {
        Err(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !ctx.may(broker, Operation::Read, ResourceType::Group, group) {
        Err(ResponseError::GroupAuthorizationFailed)
    } else {
        match offsets_partition(broker, group) {
            Some(partition) => broker
                .txn_add_partitions(
                    id,
                    *req.producer_id,
                    req.producer_epoch,
                    &[(OFFSETS_TOPIC.to_string(), partition)],
                )
                .await
                .map_err(|e| fenced_for(ctx.api_version, 2, e)),
            None => Err(ResponseError::CoordinatorNotAvailable),
        }
    };
    resp.error_code = code(result);
    resp
}

/// The `__consumer_offsets` partition of `group`.
fn offsets_partition(broker: &Broker, group: &str) -> Option<i32> {
    let count = broker.image().topics.get(OFFSETS_TOPIC)?.partitions.len();
    (count > 0).then(|| crate::group::codec::partition_for_group(group, count) as i32)
}

pub(crate) async fn end_txn(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: EndTxnRequest,
) -> EndTxnResponse {
    let mut resp = EndTxnResponse::default();
    let id = req.transactional_id.as_str();
    let result = if !ctx.may(broker, Operation::Write, ResourceType::TransactionalId, id) {
        Err(ResponseError::TransactionalIdAuthorizationFailed)
    } else {
        broker
            .txn_end(id, *req.producer_id, req.producer_epoch, req.committed)
            .await
            .map_err(|e| fenced_for(ctx.api_version, 2, e))
    };
    resp.error_code = code(result);
    resp
}

pub(crate) async fn txn_offset_commit(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let v = ctx.api_version;
    let now = crate::now_ms();
    let id = req.transactional_id.as_str();
    let group = req.group_id.as_str();
    let refusal = if !ctx.may(broker, Operation::Write, ResourceType::TransactionalId, id) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !ctx.may(broker, Operation::Read, ResourceType::Group, group) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else {
        None
    };
    let mut early: BTreeMap<(String, i32), ResponseError> = BTreeMap::new();
    let mut valid = Vec::new();
    for t in &req.topics {
        let name = t.name.to_string();
        let topic_allowed = ctx.may(broker, Operation::Read, ResourceType::Topic, &name);
        let exists = broker.topic(&name);
        for p in &t.partitions {
            let metadata = p
                .committed_metadata
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            let e = if let Some(e) = refusal {
                Some(e)
            } else if !topic_allowed {
                Some(ResponseError::TopicAuthorizationFailed)
            } else if exists
                .as_ref()
                .is_none_or(|x| p.partition_index < 0 || p.partition_index >= x.partition_count())
            {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if metadata.len() > crate::group::MAX_OFFSET_METADATA_BYTES {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                None
            };
            match e {
                Some(e) => {
                    early.insert((name.clone(), p.partition_index), e);
                }
                None => valid.push((
                    name.clone(),
                    p.partition_index,
                    OffsetValue {
                        offset: p.committed_offset,
                        leader_epoch: if v >= 2 { p.committed_leader_epoch } else { -1 },
                        metadata,
                        commit_timestamp_ms: now,
                    },
                )),
            }
        }
    }
    // The transaction must hold the group's offsets partition (AddOffsetsToTxn) when this
    // broker coordinates it too; elsewhere the coordinator's markers decide.
    let offsets_partition = offsets_partition(broker, group);
    let not_added = offsets_partition.is_some_and(|p| {
        broker.txns.holds(
            id,
            *req.producer_id,
            req.producer_epoch,
            &(OFFSETS_TOPIC.to_string(), p),
        ) == Some(false)
    });
    let outcome = if refusal.is_some() || valid.is_empty() {
        Ok(())
    } else if not_added {
        Err(ResponseError::InvalidTxnState)
    } else {
        let committer = OffsetCommitter {
            member_id: if v >= 3 {
                req.member_id.to_string()
            } else {
                String::new()
            },
            group_instance_id: req
                .group_instance_id
                .as_ref()
                .map(|s| s.to_string())
                .filter(|_| v >= 3),
            generation_id: if v >= 3 { req.generation_id } else { -1 },
        };
        match broker.groups.commit_txn_offsets(
            group,
            &committer,
            (*req.producer_id, req.producer_epoch),
            valid,
            now,
        ) {
            Ok(Some(write)) => super::offsets::replicated(&write).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        }
        .map_err(|e| fenced_for(v, 3, e))
    };
    let mut resp = TxnOffsetCommitResponse::default();
    resp.topics = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.to_string();
            let mut rt = TxnOffsetCommitResponseTopic::default();
            rt.name = t.name.clone();
            rt.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut rp = TxnOffsetCommitResponsePartition::default();
                    rp.partition_index = p.partition_index;
                    rp.error_code = match early.get(&(name.clone(), p.partition_index)) {
                        Some(e) => e.code(),
                        None => code(outcome),
                    };
                    rp
                })
                .collect();
            rt
        })
        .collect();
    resp
}

pub(crate) async fn write_txn_markers(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let allowed = ctx.may_on_cluster(broker, Operation::ClusterAction);
    let mut resp = WriteTxnMarkersResponse::default();
    for m in req.markers {
        let marker = if m.transaction_result {
            ControlMarker::Commit
        } else {
            ControlMarker::Abort
        };
        let mut result = WritableTxnMarkerResult::default();
        result.producer_id = m.producer_id;
        for t in m.topics {
            let mut rt = WritableTxnMarkerTopicResult::default();
            rt.name = t.name.clone();
            for p in t.partition_indexes {
                let outcome = if allowed {
                    broker
                        .write_marker(
                            t.name.as_str(),
                            p,
                            *m.producer_id,
                            m.producer_epoch,
                            marker,
                            m.coordinator_epoch,
                        )
                        .await
                } else {
                    Err(ResponseError::ClusterAuthorizationFailed)
                };
                let mut rp = WritableTxnMarkerPartitionResult::default();
                rp.partition_index = p;
                rp.error_code = code(outcome);
                rt.partitions.push(rp);
            }
            result.topics.push(rt);
        }
        resp.markers.push(result);
    }
    resp
}

fn describe_state(m: &TxnMetadata) -> describe_transactions_response::TransactionState {
    let mut s = describe_transactions_response::TransactionState::default();
    s.transactional_id = TransactionalId(sb(&m.transactional_id));
    s.transaction_state = sb(m.status.name());
    s.transaction_timeout_ms = m.timeout_ms;
    s.transaction_start_time_ms = m.start_ms;
    s.producer_id = ProducerId(m.producer_id);
    s.producer_epoch = m.producer_epoch;
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in &m.partitions {
        topics.entry(t).or_default().push(*p);
    }
    s.topics = topics
        .into_iter()
        .map(|(t, ps)| {
            let mut d = describe_transactions_response::TopicData::default();
            d.topic = TopicName(sb(t));
            d.partitions = ps;
            d
        })
        .collect();
    s
}

pub(crate) async fn describe_transactions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut resp = DescribeTransactionsResponse::default();
    for id in req.transactional_ids {
        let name = id.to_string();
        let found = if ctx.may(
            broker,
            Operation::Describe,
            ResourceType::TransactionalId,
            &name,
        ) {
            broker
                .txns
                .describe(&name)
                .and_then(|m| m.ok_or(ResponseError::TransactionalIdNotFound))
        } else {
            Err(ResponseError::TransactionalIdAuthorizationFailed)
        };
        let state = match found {
            Ok(m) => describe_state(&m),
            Err(e) => {
                let mut s = describe_transactions_response::TransactionState::default();
                s.transactional_id = id;
                s.error_code = e.code();
                s.producer_id = ProducerId(-1);
                s.producer_epoch = -1;
                s.transaction_start_time_ms = -1;
                s
            }
        };
        resp.transaction_states.push(state);
    }
    resp
}

pub(crate) async fn list_transactions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let mut resp = ListTransactionsResponse::default();
    let known: Vec<&str> = [
        "Empty",
        "Ongoing",
        "PrepareCommit",
        "PrepareAbort",
        "CompleteCommit",
        "CompleteAbort",
        "Dead",
        "PrepareEpochFence",
    ]
    .to_vec();
    resp.unknown_state_filters = req
        .state_filters
        .iter()
        .filter(|f| !known.contains(&f.as_str()))
        .cloned()
        .collect();
    let now = crate::now_ms();
    let pattern = req
        .transactional_id_pattern
        .as_ref()
        .filter(|_| ctx.api_version >= 2)
        .map(|p| regex::Regex::new(&format!("^(?:{})$", p.as_str())));
    let pattern = match pattern {
        Some(Ok(re)) => Some(re),
        Some(Err(_)) => {
            resp.error_code = ResponseError::InvalidRegularExpression.code();
            return resp;
        }
        None => None,
    };
    resp.transaction_states = broker
        .txns
        .list()
        .into_iter()
        .filter(|m| {
            req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == m.status.name())
        })
        .filter(|m| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.iter().any(|p| **p == m.producer_id)
        })
        .filter(|m| {
            ctx.api_version < 1
                || req.duration_filter < 0
                || (m.start_ms >= 0 && now - m.start_ms >= req.duration_filter)
        })
        .filter(|m| {
            pattern
                .as_ref()
                .is_none_or(|re| re.is_match(&m.transactional_id))
        })
        .filter(|m| {
            ctx.may(
                broker,
                Operation::Describe,
                ResourceType::TransactionalId,
                &m.transactional_id,
            )
        })
        .map(|m| {
            let mut s = list_transactions_response::TransactionState::default();
            s.transactional_id = TransactionalId(sb(&m.transactional_id));
            s.producer_id = ProducerId(m.producer_id);
            s.transaction_state = sb(m.status.name());
            s
        })
        .collect();
    resp
}
