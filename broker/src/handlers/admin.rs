//! Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords and
//! DescribeCluster. Topic changes go to the active controller (forwarded from whichever
//! broker received them); DeleteRecords is the partition leader's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::configs::topic_config_entries;
// The tests (`use super::*`) compare config sources.
#[cfg(test)]
use super::configs::{SOURCE_DEFAULT, SOURCE_TOPIC};
use super::{RequestContext, msg};
use crate::broker::{ApiError, Broker};
use crate::security::acl::{Operation, ResourceType};

/// DescribeCluster `endpoint_type`s (KIP-919).
/// The operations the cluster resource has (DescribeCluster reports which are allowed).
const CLUSTER_OPERATIONS: [Operation; 7] = [
    Operation::Create,
    Operation::Alter,
    Operation::Describe,
    Operation::ClusterAction,
    Operation::DescribeConfigs,
    Operation::AlterConfigs,
    Operation::IdempotentWrite,
];

/// The error of an authorization failure on a named resource.
fn denied(code: ResponseError, action: &str, name: &str) -> ApiError {
    ApiError::new(code, format!("not authorized to {action} {name:?}"))
}

const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

/// How often each name appears in a request; Kafka refuses every copy of a duplicate.
fn name_counts<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for name in names {
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

fn duplicate_topic(name: &str) -> ApiError {
    ApiError::new(
        ResponseError::InvalidRequest,
        format!("topic {name:?} appears more than once in the request"),
    )
}

/// The partition count a CreateTopics entry asks for (`-1`: the broker default) and its
/// manual replica assignment, checked for shape: partitions 0..n, each with replicas.
/// (Whether the brokers exist is the controller's check.)
fn requested_partitions(t: &CreatableTopic) -> Result<(i32, Option<Vec<Vec<i32>>>), ApiError> {
    if t.assignments.is_empty() {
        return Ok((t.num_partitions, None));
    }
    if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            "num_partitions and replication_factor must be -1 when assignments are given",
        ));
    }
    let mut sorted: Vec<&_> = t.assignments.iter().collect();
    sorted.sort_by_key(|a| a.partition_index);
    if sorted
        .iter()
        .map(|a| a.partition_index)
        .ne(0..t.assignments.len() as i32)
    {
        return Err(ApiError::new(
            ResponseError::InvalidReplicaAssignment,
            "assigned partitions must be numbered 0, 1, 2, ... without gaps or repeats",
        ));
    }
    let replicas: Vec<Vec<i32>> = sorted
        .iter()
        .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
        .collect();
    Ok((t.assignments.len() as i32, Some(replicas)))
}

pub(crate) async fn create_topics(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = ctx.api_version;
    let counts = name_counts(req.topics.iter().map(|t| t.name.as_str()));
    let mut resp = CreateTopicsResponse::default();
    for t in &req.topics {
        let name = t.name.as_str();
        let mut r = CreatableTopicResult::default();
        r.name = t.name.clone();
        let result = async {
            if counts.get(name).copied().unwrap_or(0) > 1 {
                return Err(duplicate_topic(name));
            }
            if !ctx.may_create_topic(broker, name) {
                return Err(denied(
                    ResponseError::TopicAuthorizationFailed,
                    "create topic",
                    name,
                ));
            }
            let (partitions, assignments) = requested_partitions(t)?;
            let mut configs = BTreeMap::new();
            for c in &t.configs {
                let Some(value) = &c.value else {
                    return Err(ApiError::new(
                        ResponseError::InvalidConfig,
                        format!("config {:?} has a null value", c.name.as_str()),
                    ));
                };
                if configs
                    .insert(c.name.to_string(), value.to_string())
                    .is_some()
                {
                    return Err(ApiError::new(
                        ResponseError::InvalidConfig,
                        format!("config {:?} is given more than once", c.name.as_str()),
                    ));
                }
            }
            let id = broker
                .create_topic(
                    name,
                    partitions,
                    t.replication_factor,
                    assignments.clone(),
                    configs.clone(),
                    req.validate_only,
                )
                .await?;
            let partitions = match (partitions, &assignments) {
                (-1, Some(a)) => a.len() as i32,
                (-1, None) => broker.config.num_partitions,
                (p, _) => p,
            };
            let replication_factor = match (&assignments, t.replication_factor) {
                (Some(a), _) => a.first().map_or(1, |r| r.len() as i16),
                (None, -1) => broker
                    .image()
                    .topics
                    .get(name)
                    .and_then(|t| t.partitions.first())
                    .map_or(1, |p| p.replicas.len() as i16),
                (None, rf) => rf,
            };
            Ok((id, partitions, replication_factor, configs))
        }
        .await;
        match result {
            Ok((topic_id, partitions, replication_factor, configs)) => {
                // Kafka answers null on success.
                r.error_message = None;
                if version >= 5 {
                    r.num_partitions = partitions;
                    r.replication_factor = replication_factor;
                    r.configs = Some(
                        topic_config_entries(&broker.config, &configs)
                            .into_iter()
                            .map(|e| {
                                let mut c = CreatableTopicConfigs::default();
                                c.name = StrBytes::from_static_str(e.name);
                                c.value = e.value.map(StrBytes::from_string);
                                c.read_only = e.read_only;
                                c.config_source = e.source;
                                c.is_sensitive = false;
                                c
                            })
                            .collect(),
                    );
                }
                if version >= 7 {
                    r.topic_id = topic_id;
                }
            }
            Err(e) => {
                r.error_code = e.code.code();
                r.error_message = msg(e.message);
            }
        }
        resp.topics.push(r);
    }
    resp
}

/// What a DeleteTopics entry names: a name, or (v6) a topic id.
enum DeleteTarget {
    Name(String),
    Id(Uuid),
    Both(String, Uuid),
}

pub(crate) async fn delete_topics(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let version = ctx.api_version;
    let targets: Vec<DeleteTarget> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| match (&t.name, t.topic_id) {
                (Some(n), id) if id.is_nil() => DeleteTarget::Name(n.to_string()),
                (Some(n), id) => DeleteTarget::Both(n.to_string(), id),
                (None, id) => DeleteTarget::Id(id),
            })
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| DeleteTarget::Name(n.to_string()))
            .collect()
    };
    let mut resp = DeleteTopicsResponse::default();
    for target in targets {
        let mut r = DeletableTopicResult::default();
        let (name, requested_id) = match &target {
            DeleteTarget::Name(n) => (Some(n.clone()), Uuid::nil()),
            DeleteTarget::Both(n, id) => (Some(n.clone()), *id),
            DeleteTarget::Id(id) => (broker.topic_by_id(*id).map(|t| t.name.clone()), *id),
        };
        let result = match (&target, &name) {
            (DeleteTarget::Both(..), _) => Err(ApiError::new(
                ResponseError::InvalidRequest,
                "give a topic name or a topic id, not both",
            )),
            (_, Some(n)) if !ctx.may(broker, Operation::Delete, ResourceType::Topic, n) => Err(
                denied(ResponseError::TopicAuthorizationFailed, "delete topic", n),
            ),
            (_, Some(n)) => broker.delete_topic(n).await,
            (_, None) => Err(ApiError::new(
                ResponseError::UnknownTopicId,
                format!("no topic has id {requested_id}"),
            )),
        };
        // The name is nullable only in v6, the one version that can name by id.
        r.name = match name {
            Some(n) => Some(TopicName(StrBytes::from_string(n))),
            None if version >= 6 => None,
            None => Some(TopicName(StrBytes::default())),
        };
        match result {
            Ok(topic_id) => {
                if version >= 6 {
                    r.topic_id = topic_id;
                }
            }
            Err(e) => {
                r.error_code = e.code.code();
                if version >= 5 {
                    r.error_message = msg(e.message);
                }
                if version >= 6 {
                    r.topic_id = requested_id;
                }
            }
        }
        resp.responses.push(r);
    }
    resp
}

pub(crate) async fn create_partitions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let counts = name_counts(req.topics.iter().map(|t| t.name.as_str()));
    let mut resp = CreatePartitionsResponse::default();
    for t in &req.topics {
        let name = t.name.as_str();
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name.clone();
        let result = async {
            if counts.get(name).copied().unwrap_or(0) > 1 {
                return Err(duplicate_topic(name));
            }
            if !ctx.may(broker, Operation::Alter, ResourceType::Topic, name) {
                return Err(denied(
                    ResponseError::TopicAuthorizationFailed,
                    "add partitions to",
                    name,
                ));
            }
            // An empty list is treated like null: no manual placement.
            let assignments = t.assignments.as_ref().filter(|a| !a.is_empty()).map(|a| {
                a.iter()
                    .map(|p| p.broker_ids.iter().map(|b| b.0).collect::<Vec<i32>>())
                    .collect::<Vec<_>>()
            });
            if let Some(assignments) = &assignments {
                let current = broker
                    .image()
                    .topics
                    .get(name)
                    .map_or(0, |topic| topic.partitions.len() as i32);
                let added = t.count - current;
                if added > 0 && assignments.len() as i32 != added {
                    return Err(ApiError::new(
                        ResponseError::InvalidReplicaAssignment,
                        format!(
                            "adding {added} partitions needs {added} assignments, not {}",
                            assignments.len()
                        ),
                    ));
                }
            }
            broker
                .create_partitions(name, t.count, assignments, req.validate_only)
                .await
        }
        .await;
        if let Err(e) = result {
            r.error_code = e.code.code();
            r.error_message = msg(e.message);
        }
        resp.results.push(r);
    }
    resp
}

/// Deletes records below `offset` (-1: the high watermark); the new log start offset.
fn delete_partition_records(
    broker: &Broker,
    topic: &str,
    index: i32,
    offset: i64,
) -> Result<i64, ApiError> {
    let unknown = || {
        ApiError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("partition {topic}-{index} does not exist"),
        )
    };
    let t = broker.topic(topic).ok_or_else(unknown)?;
    if t.internal {
        return Err(ApiError::new(
            ResponseError::InvalidTopicException,
            format!("records of internal topic {topic:?} cannot be deleted"),
        ));
    }
    if index < 0 || index >= t.partition_count() {
        return Err(unknown());
    }
    let not_leader = || {
        ApiError::new(
            ResponseError::NotLeaderOrFollower,
            format!("this broker does not lead {topic}-{index}; refresh metadata"),
        )
    };
    let partition = t.partition(index).ok_or_else(not_leader)?;
    let mut state = partition.lock();
    if !state.replica.is_leader() {
        return Err(not_leader());
    }
    // Up to the high watermark (-1 means it): records not yet on every ISR member stay.
    let hw = state.replica.high_watermark;
    let offset = if offset == -1 { hw } else { offset };
    if offset > hw {
        return Err(ApiError::new(
            ResponseError::OffsetOutOfRange,
            format!("offset {offset} is beyond the high watermark {hw} of {topic}-{index}"),
        ));
    }
    let result = state.log.delete_records_before(offset);
    result.map_err(|e| {
        if e.kafka_code() == ResponseError::KafkaStorageError {
            tracing::warn!(topic, partition = index, error = %e, "delete records failed");
        }
        ApiError::from(e)
    })
}

pub(crate) async fn delete_records(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let mut tr = DeleteRecordsTopicResult::default();
        tr.name = t.name.clone();
        let allowed = ctx.may(
            broker,
            Operation::Delete,
            ResourceType::Topic,
            t.name.as_str(),
        );
        for p in t.partitions {
            let mut pr = DeleteRecordsPartitionResult::default();
            pr.partition_index = p.partition_index;
            if !allowed {
                pr.error_code = ResponseError::TopicAuthorizationFailed.code();
                pr.low_watermark = -1;
                tr.partitions.push(pr);
                continue;
            }
            match delete_partition_records(broker, t.name.as_str(), p.partition_index, p.offset) {
                Ok(low) => pr.low_watermark = low,
                Err(e) => {
                    pr.error_code = e.code.code();
                    pr.low_watermark = -1;
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}

pub(crate) async fn describe_cluster(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut resp = DescribeClusterResponse::default();
    if !ctx.may_on_cluster(broker, Operation::Describe) {
        resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
        resp.error_message =
            msg("not authorized to describe the cluster (needs DESCRIBE on Cluster)");
        resp.cluster_authorized_operations = i32::MIN;
        return resp;
    }
    // v0 requests carry no endpoint type and decode as 1 (broker).
    if ctx.api_version >= 1 && req.endpoint_type != ENDPOINT_BROKER {
        resp.error_code = if req.endpoint_type == ENDPOINT_CONTROLLER {
            ResponseError::MismatchedEndpointType.code()
        } else {
            ResponseError::UnsupportedEndpointType.code()
        };
        resp.error_message = msg(format!(
            "this is a broker endpoint (type 1); endpoint type {} is not served here",
            req.endpoint_type
        ));
        return resp;
    }
    resp.cluster_id = StrBytes::from_string(broker.cluster_id());
    let image = broker.image();
    resp.controller_id = super::metadata::controller_for_clients(broker, &image).into();
    resp.brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced || b.node_id == broker.node_id)
        .filter_map(|reg| {
            let (host, port) = broker.broker_address(reg.node_id, &ctx.listener)?;
            let mut b = DescribeClusterBroker::default();
            b.broker_id = reg.node_id.into();
            b.host = StrBytes::from_string(host);
            b.port = port;
            b.rack = reg.rack.clone().map(StrBytes::from_string);
            Some(b)
        })
        .collect();
    resp.cluster_authorized_operations = if req.include_cluster_authorized_operations {
        CLUSTER_OPERATIONS
            .iter()
            .filter(|op| ctx.may_on_cluster(broker, **op))
            .fold(0, |bits, op| bits | (1 << op.code()))
    } else {
        i32::MIN
    };
    resp
}

#[cfg(test)]
mod tests;

/// Request rules of every admin API, encoded at every served version; the helpers are shared
/// with the config handler tests.
#[cfg(test)]
pub(crate) mod request_tests;
