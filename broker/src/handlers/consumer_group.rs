//! The consumer group protocol of KIP-848: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe. The state machine is [`crate::group::consumer`]; this file
//! decodes, resolves topic names and ids against the metadata image, and encodes.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    self as describe, DescribedGroup,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{self as heartbeat};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestContext;
use crate::broker::Broker;
use crate::group::consumer::{
    Assignment, ConsumerGroupDescription, HeartbeatOutcome, HeartbeatRequest, JOIN_EPOCH,
    TopicMeta, Topics,
};
use crate::security::acl::{Operation, ResourceType};

/// ConsumerGroupDescribe `authorized_operations` when the client did not ask for them.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// The operations a group has (reported when asked for).
const GROUP_OPERATIONS: [Operation; 3] = [Operation::Read, Operation::Delete, Operation::Describe];
/// ConsumerGroupDescribe v1 `MemberType` of a consumer-protocol member.
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The non-internal topics of the image, by name, with the ids assignments use.
fn topics_of(broker: &Broker) -> Topics {
    broker
        .image()
        .topics
        .iter()
        .filter(|(_, t)| !t.internal)
        .map(|(name, t)| {
            (
                name.clone(),
                TopicMeta {
                    id: t.id,
                    partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
                },
            )
        })
        .collect()
}

pub(crate) async fn consumer_group_heartbeat(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let group_id = req.group_id.to_string();
    if !ctx.may(broker, Operation::Read, ResourceType::Group, &group_id) {
        return heartbeat_response(Err(crate::group::consumer::HeartbeatError {
            code: ResponseError::GroupAuthorizationFailed,
            message: None,
        }));
    }
    let all_topics = topics_of(broker);
    // Only the topics this principal may read are visible to its subscription.
    let topics: Topics = all_topics
        .into_iter()
        .filter(|(name, _)| ctx.may(broker, Operation::Describe, ResourceType::Topic, name))
        .collect();
    let mut member_id = req.member_id.to_string();
    if member_id.is_empty() && req.member_epoch == JOIN_EPOCH && ctx.api_version == 0 {
        // v0 members are named by the coordinator (v1 clients generate their id).
        member_id = Uuid::new_v4().to_string();
    }
    let hb = HeartbeatRequest {
        member_id,
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.to_string()).collect()),
        subscribed_topic_regex: req
            .subscribed_topic_regex
            .as_ref()
            .map(|s| s.to_string())
            .filter(|_| ctx.api_version >= 1),
        server_assignor: req.server_assignor.as_ref().map(|s| s.to_string()),
        owned: req.topic_partitions.as_ref().map(|tps| {
            let mut owned = Assignment::new();
            for tp in tps {
                owned
                    .entry(tp.topic_id)
                    .or_default()
                    .extend(tp.partitions.iter().copied());
            }
            owned
        }),
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host(),
    };
    let epoch = hb.member_epoch;
    let outcome = broker
        .groups
        .consumer_heartbeat(&group_id, hb, &topics, crate::now_ms());
    if let Err(e) = &outcome {
        tracing::debug!(
            group = %group_id,
            member = %req.member_id,
            member_epoch = epoch,
            error = ?e.code,
            "consumer group heartbeat refused"
        );
    }
    heartbeat_response(outcome)
}

fn heartbeat_response(outcome: HeartbeatOutcome) -> ConsumerGroupHeartbeatResponse {
    let mut resp = ConsumerGroupHeartbeatResponse::default();
    match outcome {
        Ok(r) => {
            resp.member_id = Some(sb(&r.member_id));
            resp.member_epoch = r.member_epoch;
            resp.heartbeat_interval_ms = r.heartbeat_interval_ms;
            resp.assignment = r.assignment.map(|a| {
                let mut out = heartbeat::Assignment::default();
                out.topic_partitions = a
                    .into_iter()
                    .map(|(topic_id, partitions)| {
                        let mut tp = heartbeat::TopicPartitions::default();
                        tp.topic_id = topic_id;
                        tp.partitions = partitions.into_iter().collect();
                        tp
                    })
                    .collect();
                out
            });
        }
        Err(e) => {
            resp.error_code = e.code.code();
            resp.error_message = e.message.as_deref().map(sb);
        }
    }
    resp
}

pub(crate) async fn consumer_group_describe(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let names: BTreeMap<Uuid, String> = broker
        .image()
        .topics
        .iter()
        .map(|(name, t)| (t.id, name.clone()))
        .collect();
    let mut resp = ConsumerGroupDescribeResponse::default();
    resp.groups = req
        .group_ids
        .iter()
        .map(|g| {
            let group_id = g.to_string();
            let described = if !ctx.may(broker, Operation::Describe, ResourceType::Group, &group_id)
            {
                Err((ResponseError::GroupAuthorizationFailed, None))
            } else if !broker.groups.owns(&group_id) {
                Err((ResponseError::NotCoordinator, None))
            } else {
                match broker.groups.consumer_describe(&group_id) {
                    Some(d) => {
                        let ops = if req.include_authorized_operations {
                            GROUP_OPERATIONS
                                .iter()
                                .filter(|op| ctx.may(broker, **op, ResourceType::Group, &group_id))
                                .fold(0, |bits, op| bits | (1 << op.code()))
                        } else {
                            AUTHORIZED_OPERATIONS_OMITTED
                        };
                        Ok((d, ops))
                    }
                    None if broker.groups.is_classic_group(&group_id) => Err((
                        ResponseError::GroupIdNotFound,
                        Some(format!("group {group_id} is not a consumer group")),
                    )),
                    None => Err((
                        ResponseError::GroupIdNotFound,
                        Some(format!("group {group_id} not found")),
                    )),
                }
            };
            described_group(ctx.api_version, &group_id, described, &names)
        })
        .collect();
    resp
}

type Described = Result<(ConsumerGroupDescription, i32), (ResponseError, Option<String>)>;

fn described_group(
    version: i16,
    group_id: &str,
    described: Described,
    names: &BTreeMap<Uuid, String>,
) -> DescribedGroup {
    let mut g = DescribedGroup::default();
    g.group_id = GroupId(sb(group_id));
    let (d, ops) = match described {
        Ok(d) => d,
        Err((code, message)) => {
            g.error_code = code.code();
            g.error_message = message.as_deref().map(sb);
            g.authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
            return g;
        }
    };
    let assignment = |a: &Assignment| {
        let mut out = describe::Assignment::default();
        out.topic_partitions = a
            .iter()
            .map(|(id, ps)| {
                let mut tp = describe::TopicPartitions::default();
                tp.topic_id = *id;
                tp.topic_name = TopicName(sb(names.get(id).map_or("", String::as_str)));
                tp.partitions = ps.iter().copied().collect();
                tp
            })
            .collect();
        out
    };
    g.group_state = sb(d.state.name());
    g.group_epoch = d.group_epoch;
    g.assignment_epoch = d.assignment_epoch;
    g.assignor_name = sb(d.assignor.name());
    g.authorized_operations = ops;
    g.members = d
        .members
        .iter()
        .map(|m| {
            let mut out = describe::Member::default();
            out.member_id = sb(&m.member_id);
            out.instance_id = m.instance_id.as_deref().map(sb);
            out.rack_id = m.rack_id.as_deref().map(sb);
            out.member_epoch = m.member_epoch;
            out.client_id = sb(&m.client_id);
            out.client_host = sb(&m.client_host);
            out.subscribed_topic_names = m
                .subscribed_topic_names
                .iter()
                .map(|n| TopicName(sb(n)))
                .collect();
            out.subscribed_topic_regex = m.subscribed_topic_regex.as_deref().map(sb);
            out.assignment = assignment(&m.assignment);
            out.target_assignment = assignment(&m.target_assignment);
            if version >= 1 {
                out.member_type = MEMBER_TYPE_CONSUMER;
            }
            out
        })
        .collect();
    g
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kafka_protocol::messages::{ApiKey, ResponseKind};

    use super::*;
    use crate::group::consumer::assignor::AssignorKind;
    use crate::group::consumer::{
        ConsumerGroupState, ConsumerMemberDescription, HeartbeatError, HeartbeatResponse,
    };
    use crate::handlers::test_support::{encodes, versions};

    #[test]
    fn heartbeat_encodes_at_every_version() {
        let topic = Uuid::from_bytes([7; 16]);
        for v in versions(ApiKey::ConsumerGroupHeartbeat) {
            let ok = heartbeat_response(Ok(HeartbeatResponse {
                member_id: "m".into(),
                member_epoch: 3,
                heartbeat_interval_ms: 5000,
                assignment: Some(Assignment::from([(topic, BTreeSet::from([0, 1]))])),
            }));
            assert_eq!(ok.assignment.as_ref().unwrap().topic_partitions.len(), 1);
            encodes(
                ApiKey::ConsumerGroupHeartbeat,
                v,
                ResponseKind::ConsumerGroupHeartbeat(ok),
            );
            let err = heartbeat_response(Err(HeartbeatError {
                code: ResponseError::FencedMemberEpoch,
                message: Some("fenced".into()),
            }));
            assert_eq!(err.error_code, ResponseError::FencedMemberEpoch.code());
            assert!(err.assignment.is_none());
            encodes(
                ApiKey::ConsumerGroupHeartbeat,
                v,
                ResponseKind::ConsumerGroupHeartbeat(err),
            );
        }
    }

    #[test]
    fn describe_encodes_at_every_version() {
        let topic = Uuid::from_bytes([7; 16]);
        let names = BTreeMap::from([(topic, "t".to_string())]);
        let d = ConsumerGroupDescription {
            state: ConsumerGroupState::Stable,
            group_epoch: 4,
            assignment_epoch: 4,
            assignor: AssignorKind::Uniform,
            members: vec![ConsumerMemberDescription {
                member_id: "m".into(),
                instance_id: None,
                rack_id: None,
                member_epoch: 4,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topic_names: vec!["t".into()],
                subscribed_topic_regex: None,
                assignment: Assignment::from([(topic, BTreeSet::from([0]))]),
                target_assignment: Assignment::from([(topic, BTreeSet::from([0]))]),
            }],
            topic_names: BTreeMap::new(),
        };
        for v in versions(ApiKey::ConsumerGroupDescribe) {
            let mut resp = ConsumerGroupDescribeResponse::default();
            resp.groups = vec![
                described_group(
                    v,
                    "g",
                    Ok((d.clone(), AUTHORIZED_OPERATIONS_OMITTED)),
                    &names,
                ),
                described_group(v, "h", Err((ResponseError::GroupIdNotFound, None)), &names),
            ];
            assert_eq!(resp.groups[0].group_state.as_str(), "Stable");
            assert_eq!(
                resp.groups[0].members[0].assignment.topic_partitions[0]
                    .topic_name
                    .as_str(),
                "t"
            );
            encodes(
                ApiKey::ConsumerGroupDescribe,
                v,
                ResponseKind::ConsumerGroupDescribe(resp),
            );
        }
    }
}
