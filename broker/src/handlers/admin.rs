//! Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords and
//! DescribeCluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
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

use super::{RequestContext, msg};
use crate::broker::{ApiError, Broker};
use crate::config::TOPIC_KEYS;

/// `config_source` values of DescribeConfigs / CreateTopics v5+.
pub(crate) const SOURCE_TOPIC: i8 = 1;
pub(crate) const SOURCE_STATIC_BROKER: i8 = 4;
pub(crate) const SOURCE_DEFAULT: i8 = 5;

pub(crate) async fn create_topics(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = ctx.api_version;
    let mut resp = CreateTopicsResponse::default();
    let mut seen = std::collections::HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.as_str().to_string()).or_insert(0) += 1;
    }
    for t in req.topics {
        let name = t.name.as_str().to_string();
        let mut r = CreatableTopicResult::default();
        r.name = t.name.clone();
        let result = (|| -> Result<Arc<crate::broker::Topic>, ApiError> {
            if seen.get(&name).copied().unwrap_or(0) > 1 {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("topic {name:?} appears more than once in the request"),
                ));
            }
            if t.assignments.iter().any(|a| {
                a.broker_ids.iter().any(|b| **b != broker.node_id) || a.broker_ids.len() != 1
            }) {
                return Err(ApiError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!("replicas may only be placed on broker {}", broker.node_id),
                ));
            }
            let partitions = if t.assignments.is_empty() {
                t.num_partitions
            } else {
                t.assignments.len() as i32
            };
            let mut configs = BTreeMap::new();
            for c in &t.configs {
                if let Some(v) = &c.value {
                    configs.insert(c.name.to_string(), v.to_string());
                }
            }
            broker.create_topic(
                &name,
                partitions,
                t.replication_factor,
                configs,
                req.validate_only,
            )
        })();
        match result {
            Ok(topic) => {
                if version >= 5 {
                    r.num_partitions = if req.validate_only {
                        t.num_partitions.max(broker.config.num_partitions)
                    } else {
                        topic.partition_count()
                    };
                    r.replication_factor = 1;
                    r.configs = Some(
                        effective_topic_configs(broker, &topic.configs())
                            .into_iter()
                            .map(|(name, value, source)| {
                                let mut c = CreatableTopicConfigs::default();
                                c.name = StrBytes::from_string(name);
                                c.value = Some(StrBytes::from_string(value));
                                c.config_source = source;
                                c
                            })
                            .collect(),
                    );
                }
                if version >= 7 {
                    r.topic_id = topic.id;
                }
            }
            Err(e) => {
                r.error_code = e.code.code();
                if version >= 1 {
                    r.error_message = msg(e.message);
                }
            }
        }
        resp.topics.push(r);
    }
    resp
}

/// Every topic key's effective value and its source, for DescribeConfigs and CreateTopics.
pub(crate) fn effective_topic_configs(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
) -> Vec<(String, String, i8)> {
    TOPIC_KEYS
        .iter()
        .map(|k| match overrides.get(k.name) {
            Some(v) => (k.name.to_string(), v.clone(), SOURCE_TOPIC),
            None => (
                k.name.to_string(),
                broker.config.topic_default(k.name).unwrap_or_default(),
                SOURCE_DEFAULT,
            ),
        })
        .collect()
}

pub(crate) async fn delete_topics(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let version = ctx.api_version;
    let mut resp = DeleteTopicsResponse::default();
    let targets: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default();
        let resolved = match &name {
            Some(n) => Ok(n.clone()),
            None => broker
                .topic_by_id(id)
                .map(|t| t.name.clone())
                .ok_or_else(|| {
                    ApiError::new(
                        ResponseError::UnknownTopicId,
                        format!("no topic has id {id}"),
                    )
                }),
        };
        r.name = resolved
            .as_ref()
            .ok()
            .or(name.as_ref())
            .map(|n| TopicName(StrBytes::from_string(n.clone())));
        match resolved.and_then(|n| broker.delete_topic(&n)) {
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
                    r.topic_id = id;
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
    let _ = ctx;
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name.clone();
        let only_here = t.assignments.as_ref().is_none_or(|a| {
            a.iter()
                .all(|x| x.broker_ids.len() == 1 && *x.broker_ids[0] == broker.node_id)
        });
        let result = if only_here {
            broker.create_partitions(t.name.as_str(), t.count, req.validate_only)
        } else {
            Err(ApiError::new(
                ResponseError::InvalidReplicaAssignment,
                format!("replicas may only be placed on broker {}", broker.node_id),
            ))
        };
        if let Err(e) = result {
            r.error_code = e.code.code();
            r.error_message = msg(e.message);
        }
        resp.results.push(r);
    }
    resp
}

pub(crate) async fn delete_records(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let _ = ctx;
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let mut tr = DeleteRecordsTopicResult::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let mut pr = DeleteRecordsPartitionResult::default();
            pr.partition_index = p.partition_index;
            match broker.partition(t.name.as_str(), p.partition_index) {
                None => {
                    pr.error_code = ResponseError::UnknownTopicOrPartition.code();
                    pr.low_watermark = -1;
                }
                Some(part) => match part.lock().log.delete_records_before(p.offset) {
                    Ok(low) => pr.low_watermark = low,
                    Err(e) => {
                        pr.error_code = e.code();
                        pr.low_watermark = -1;
                    }
                },
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
    if ctx.api_version >= 1 && req.endpoint_type != 1 {
        resp.error_code = ResponseError::UnsupportedEndpointType.code();
        resp.error_message = msg("only broker endpoints (endpoint_type 1) are served");
        resp.endpoint_type = req.endpoint_type;
        return resp;
    }
    resp.cluster_id = StrBytes::from_string(broker.cluster_id.clone());
    resp.controller_id = broker.node_id.into();
    let (host, port) = broker.advertised_address();
    let mut b = DescribeClusterBroker::default();
    b.broker_id = broker.node_id.into();
    b.host = StrBytes::from_string(host);
    b.port = port;
    resp.brokers = vec![b];
    resp.cluster_authorized_operations = i32::MIN;
    resp
}

#[cfg(test)]
mod tests;
