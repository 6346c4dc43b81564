//! Metadata: the brokers of the cluster (addresses of the listener the client came in on),
//! and for each topic its partitions' leader, leader epoch, replicas, ISR and offline
//! replicas, from this broker's metadata image; topics listed or auto-created as Kafka does.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestContext;
use crate::broker::Broker;
use crate::cluster::image::{MetadataImage, TopicImage};
use crate::cluster::records::NO_LEADER;
use crate::security::acl::{Operation, ResourceType};

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: MetadataRequest,
) -> MetadataResponse {
    let version = ctx.api_version;
    let mut resp = MetadataResponse::default();
    let image = broker.image();
    resp.brokers = brokers(broker, &image, &ctx.listener);
    if version >= 2 {
        resp.cluster_id = Some(StrBytes::from_string(broker.cluster_id()));
    }
    // KRaft brokers name an alive broker as "controller": admin requests sent there are
    // forwarded to the active controller (KIP-590).
    resp.controller_id = controller_for_clients(broker, &image).into();
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
            for (name, topic) in &image.topics {
                if ctx.may(broker, Operation::Describe, ResourceType::Topic, name) {
                    resp.topics
                        .push(describe_topic(&image, name, topic, version));
                }
            }
        }
        Some(list) => {
            let mut image = image;
            for t in list {
                let entry = match &t.name {
                    Some(name) => {
                        let (entry, newer) =
                            by_name(broker, ctx, &image, name.as_str(), auto_create, version).await;
                        if let Some(newer) = newer {
                            image = newer;
                        }
                        entry
                    }
                    None => match image.topic_by_id(t.topic_id) {
                        Some((name, topic))
                            if ctx.may(broker, Operation::Describe, ResourceType::Topic, name) =>
                        {
                            describe_topic(&image, name, topic, version)
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

/// The unfenced brokers, with the address of `listener` (a broker without that listener is
/// left out: the client could not reach it).
fn brokers(broker: &Broker, image: &MetadataImage, listener: &str) -> Vec<MetadataResponseBroker> {
    let mut out: Vec<MetadataResponseBroker> = image
        .brokers
        .values()
        .filter(|b| !b.fenced || b.node_id == broker.node_id)
        .filter_map(|b| {
            let (host, port) = broker.broker_address(b.node_id, listener)?;
            let mut node = MetadataResponseBroker::default();
            node.node_id = b.node_id.into();
            node.host = StrBytes::from_string(host);
            node.port = port;
            node.rack = b.rack.clone().map(StrBytes::from_string);
            Some(node)
        })
        .collect();
    if !out.iter().any(|b| b.node_id.0 == broker.node_id) {
        // Registration still in flight: this broker always answers for itself.
        let (host, port) = broker.advertised_address(listener);
        let mut node = MetadataResponseBroker::default();
        node.node_id = broker.node_id.into();
        node.host = StrBytes::from_string(host);
        node.port = port;
        node.rack = broker
            .config
            .cluster
            .rack
            .clone()
            .map(StrBytes::from_string);
        out.push(node);
    }
    out
}

/// The broker clients should send controller-bound admin requests to: the active controller
/// when it is a usable broker, else this broker (which forwards them).
pub(crate) fn controller_for_clients(broker: &Broker, image: &MetadataImage) -> i32 {
    match broker.quorum.leader() {
        Some(l) if image.is_usable(l) => l,
        _ => broker.node_id,
    }
}

async fn by_name(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    image: &Arc<MetadataImage>,
    name: &str,
    auto_create: bool,
    version: i16,
) -> (MetadataResponseTopic, Option<Arc<MetadataImage>>) {
    // Authorization comes before existence, so a denied principal cannot probe which
    // topics exist.
    if !ctx.may(broker, Operation::Describe, ResourceType::Topic, name) {
        return (
            error_topic(
                Some(name),
                Uuid::nil(),
                ResponseError::TopicAuthorizationFailed,
                version,
            ),
            None,
        );
    }
    if let Some(topic) = image.topics.get(name) {
        return (describe_topic(image, name, topic, version), None);
    }
    if auto_create && !ctx.may_create_topic(broker, name) {
        return (
            error_topic(
                Some(name),
                Uuid::nil(),
                ResponseError::TopicAuthorizationFailed,
                version,
            ),
            None,
        );
    }
    if !auto_create {
        return (
            error_topic(
                Some(name),
                Uuid::nil(),
                ResponseError::UnknownTopicOrPartition,
                version,
            ),
            None,
        );
    }
    match broker
        .create_topic(name, -1, -1, None, Default::default(), false)
        .await
    {
        Ok(_)
        | Err(crate::broker::ApiError {
            code: ResponseError::TopicAlreadyExists,
            ..
        }) => {
            let newer = broker.image();
            match newer.topics.get(name) {
                Some(topic) => {
                    let entry = describe_topic(&newer, name, topic, version);
                    (entry, Some(newer))
                }
                None => (
                    error_topic(
                        Some(name),
                        Uuid::nil(),
                        ResponseError::LeaderNotAvailable,
                        version,
                    ),
                    None,
                ),
            }
        }
        Err(e) => (error_topic(Some(name), Uuid::nil(), e.code, version), None),
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

fn describe_topic(
    image: &MetadataImage,
    name: &str,
    topic: &TopicImage,
    version: i16,
) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(StrBytes::from_string(name.to_string())));
    if version >= 10 {
        t.topic_id = topic.id;
    }
    t.is_internal = topic.internal;
    let ids = |v: &[i32]| v.iter().map(|r| BrokerId(*r)).collect::<Vec<_>>();
    t.partitions = topic
        .partitions
        .iter()
        .map(|record| {
            let mut p = MetadataResponsePartition::default();
            p.partition_index = record.partition;
            p.leader_id = record.leader.into();
            p.leader_epoch = record.leader_epoch;
            p.replica_nodes = ids(&record.replicas);
            p.isr_nodes = ids(&record.isr);
            if version >= 5 {
                p.offline_replicas = record
                    .replicas
                    .iter()
                    .filter(|r| !image.brokers.get(r).is_some_and(|b| !b.fenced))
                    .map(|r| BrokerId(*r))
                    .collect();
            }
            if record.leader == NO_LEADER {
                p.error_code = ResponseError::LeaderNotAvailable.code();
            }
            p
        })
        .collect();
    t
}
