//! Metadata: this node as the only broker, leader of every partition; topics listed or
//! auto-created as Kafka does.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestContext;
use crate::broker::{Broker, Topic};
use crate::security::acl::{Operation, ResourceType};

pub(crate) fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: MetadataRequest,
) -> MetadataResponse {
    let version = ctx.api_version;
    let mut resp = MetadataResponse::default();
    let (host, port) = broker.advertised_address(&ctx.listener);
    let mut node = MetadataResponseBroker::default();
    node.node_id = broker.node_id.into();
    node.host = StrBytes::from_string(host);
    node.port = port;
    resp.brokers = vec![node];
    if version >= 2 {
        resp.cluster_id = Some(StrBytes::from_string(broker.cluster_id.clone()));
    }
    resp.controller_id = broker.node_id.into();
    if !(8..=10).contains(&version) {
        resp.cluster_authorized_operations = i32::MIN;
    }
    // v0: an empty list means every topic; v1+: null means every topic.
    let requested = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t),
    };
    let auto_create =
        broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    match requested {
        None => {
            // Listing every topic shows only those the principal may describe (Kafka
            // filters silently rather than answering TOPIC_AUTHORIZATION_FAILED).
            for topic in broker.topics() {
                if ctx.may(
                    broker,
                    Operation::Describe,
                    ResourceType::Topic,
                    &topic.name,
                ) {
                    resp.topics.push(describe_topic(broker, &topic, version));
                }
            }
        }
        Some(list) => {
            for t in list {
                let entry = match &t.name {
                    Some(name) => by_name(broker, ctx, name.as_str(), auto_create, version),
                    None => match broker.topic_by_id(t.topic_id) {
                        Some(topic)
                            if ctx.may(
                                broker,
                                Operation::Describe,
                                ResourceType::Topic,
                                &topic.name,
                            ) =>
                        {
                            describe_topic(broker, &topic, version)
                        }
                        Some(_) => error_topic(
                            None,
                            t.topic_id,
                            ResponseError::TopicAuthorizationFailed,
                            version,
                        ),
                        None => {
                            error_topic(None, t.topic_id, ResponseError::UnknownTopicId, version)
                        }
                    },
                };
                resp.topics.push(entry);
            }
        }
    }
    resp
}

fn by_name(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    name: &str,
    auto_create: bool,
    version: i16,
) -> MetadataResponseTopic {
    // Authorization comes before existence, so a denied principal cannot probe which
    // topics exist.
    if !ctx.may(broker, Operation::Describe, ResourceType::Topic, name) {
        return error_topic(
            Some(name),
            Uuid::nil(),
            ResponseError::TopicAuthorizationFailed,
            version,
        );
    }
    if let Some(topic) = broker.topic(name) {
        return describe_topic(broker, &topic, version);
    }
    if auto_create && !ctx.may_create_topic(broker, name) {
        return error_topic(
            Some(name),
            Uuid::nil(),
            ResponseError::TopicAuthorizationFailed,
            version,
        );
    }
    if !auto_create {
        return error_topic(
            Some(name),
            Uuid::nil(),
            ResponseError::UnknownTopicOrPartition,
            version,
        );
    }
    match broker.create_topic(name, -1, -1, Default::default(), false) {
        Ok(topic) => {
            // Kafka answers LEADER_NOT_AVAILABLE for a topic it just created; here the
            // partitions are ready at once, so describe them.
            describe_topic(broker, &topic, version)
        }
        Err(e) if e.code == ResponseError::TopicAlreadyExists => match broker.topic(name) {
            Some(topic) => describe_topic(broker, &topic, version),
            None => error_topic(
                Some(name),
                Uuid::nil(),
                ResponseError::LeaderNotAvailable,
                version,
            ),
        },
        Err(e) => error_topic(Some(name), Uuid::nil(), e.code, version),
    }
}

fn error_topic(
    name: Option<&str>,
    id: Uuid,
    error: ResponseError,
    version: i16,
) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.error_code = error.code();
    t.name = name.map(|n| TopicName(StrBytes::from_string(n.to_string())));
    if version >= 10 {
        t.topic_id = id;
    }
    t
}

fn describe_topic(broker: &Arc<Broker>, topic: &Topic, version: i16) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(StrBytes::from_string(topic.name.clone())));
    if version >= 10 {
        t.topic_id = topic.id;
    }
    t.is_internal = topic.internal;
    let node = broker.node_id;
    t.partitions = (0..topic.partition_count())
        .map(|index| {
            let mut p = MetadataResponsePartition::default();
            p.partition_index = index;
            p.leader_id = node.into();
            p.leader_epoch = 0;
            p.replica_nodes = vec![node.into()];
            p.isr_nodes = vec![node.into()];
            p
        })
        .collect();
    t
}
