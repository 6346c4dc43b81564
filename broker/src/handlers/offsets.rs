//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete.
//!
//! Partitions of topics that do not exist are answered here; the rest go to the group
//! coordinator, which checks membership and appends to `__consumer_offsets` before the
//! commit is acknowledged. Responses are built by pure `*_response(version, …)` functions
//! that set version-specific fields only where they exist.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::Broker;
use crate::group::codec::OffsetValue;
use crate::group::{MAX_OFFSET_METADATA_BYTES, OffsetCommitter};
use crate::security::acl::{Operation, ResourceType};

/// Per-topic results: topic name, then (partition, error) pairs.
type TopicResults = Vec<(String, Vec<(i32, Result<(), ResponseError>)>)>;

/// A partition's result decided before the coordinator (`None` = up to the coordinator).
type PendingResult = (i32, Option<Result<(), ResponseError>>);

/// What OffsetFetch answers for one partition; `Ok(None)` = nothing committed.
type FetchedTopics = Vec<(
    String,
    Vec<(i32, Result<Option<OffsetValue>, ResponseError>)>,
)>;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn code(result: &Result<(), ResponseError>) -> i16 {
    result.err().map_or(0, |e| e.code())
}

pub(crate) async fn offset_commit(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let v = ctx.api_version;
    let now = crate::now_ms();
    let committer = OffsetCommitter {
        member_id: req.member_id.to_string(),
        group_instance_id: req
            .group_instance_id
            .as_ref()
            .map(|s| s.to_string())
            .filter(|_| v >= 7),
        generation_id: req.generation_id_or_member_epoch,
    };
    let group_allowed = ctx.may(
        broker,
        Operation::Read,
        ResourceType::Group,
        req.group_id.as_str(),
    );
    // Partitions the coordinator never sees get their error here; `None` = pending.
    let mut results: Vec<(String, Vec<PendingResult>)> = Vec::new();
    let mut valid = Vec::new();
    for topic in &req.topics {
        let name = topic.name.to_string();
        let topic_allowed = ctx.may(broker, Operation::Read, ResourceType::Topic, &name);
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            let metadata = p
                .committed_metadata
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            let early = if !group_allowed {
                Some(Err(ResponseError::GroupAuthorizationFailed))
            } else if !topic_allowed {
                Some(Err(ResponseError::TopicAuthorizationFailed))
            } else if !partition_exists(broker, &name, p.partition_index) {
                Some(Err(ResponseError::UnknownTopicOrPartition))
            } else if metadata.len() > MAX_OFFSET_METADATA_BYTES {
                Some(Err(ResponseError::OffsetMetadataTooLarge))
            } else {
                let leader_epoch = if v >= 6 { p.committed_leader_epoch } else { -1 };
                valid.push((
                    name.clone(),
                    p.partition_index,
                    OffsetValue {
                        offset: p.committed_offset,
                        leader_epoch,
                        metadata,
                        commit_timestamp_ms: now,
                    },
                ));
                None
            };
            partitions.push((p.partition_index, early));
        }
        results.push((name, partitions));
    }
    let outcome = if group_allowed {
        match broker
            .groups
            .commit_offsets(req.group_id.as_str(), &committer, valid, now)
        {
            Ok(Some(write)) => replicated(&write).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        }
    } else {
        Err(ResponseError::GroupAuthorizationFailed)
    };
    let results: TopicResults = results
        .into_iter()
        .map(|(name, partitions)| {
            (
                name,
                partitions
                    .into_iter()
                    .map(|(p, early)| (p, early.unwrap_or(outcome)))
                    .collect(),
            )
        })
        .collect();
    offset_commit_response(results)
}

fn offset_commit_response(results: TopicResults) -> OffsetCommitResponse {
    let mut resp = OffsetCommitResponse::default();
    resp.topics = results
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = OffsetCommitResponseTopic::default();
            t.name = TopicName(sb(&name));
            t.partitions = partitions
                .into_iter()
                .map(|(index, result)| {
                    let mut p = OffsetCommitResponsePartition::default();
                    p.partition_index = index;
                    p.error_code = code(&result);
                    p
                })
                .collect();
            t
        })
        .collect();
    resp
}

/// Offsets of the requested partitions (`None` = every committed partition of the group).
/// Topics the principal may not describe are answered TOPIC_AUTHORIZATION_FAILED when
/// named, and left out when the whole group is asked for.
fn fetch_group(
    broker: &Broker,
    ctx: &RequestContext,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> FetchedTopics {
    let may_describe =
        |topic: &str| ctx.may(broker, Operation::Describe, ResourceType::Topic, topic);
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let allowed = may_describe(&name);
                let offsets = partitions
                    .into_iter()
                    .map(|p| {
                        let value = if !allowed {
                            Err(ResponseError::TopicAuthorizationFailed)
                        } else if require_stable
                            && broker.groups.has_pending_offset(group_id, &name, p)
                        {
                            // A transaction wrote an offset and is undecided (KIP-447).
                            Err(ResponseError::UnstableOffsetCommit)
                        } else if allowed {
                            Ok(broker.groups.committed_offset(group_id, &name, p))
                        } else {
                            Err(ResponseError::TopicAuthorizationFailed)
                        };
                        (p, value)
                    })
                    .collect();
                (name, offsets)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<_>> = BTreeMap::new();
            for (topic, partition, value) in broker.groups.group_offsets(group_id) {
                by_topic
                    .entry(topic)
                    .or_default()
                    .push((partition, Ok(Some(value))));
            }
            by_topic
                .into_iter()
                .filter(|(topic, _)| may_describe(topic))
                .collect()
        }
    }
}

pub(crate) async fn offset_fetch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let v = ctx.api_version;
    if v >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let id = g.group_id.as_str();
                if !ctx.may(broker, Operation::Describe, ResourceType::Group, id) {
                    return (id.to_string(), Err(ResponseError::GroupAuthorizationFailed));
                }
                if !broker.groups.owns(id) {
                    return (id.to_string(), Err(ResponseError::NotCoordinator));
                }
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                (
                    id.to_string(),
                    Ok(fetch_group(broker, ctx, id, topics, req.require_stable)),
                )
            })
            .collect();
        return offset_fetch_response_v8(groups);
    }
    let topics: Option<Vec<(String, Vec<i32>)>> = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let group = req.group_id.as_str();
    let refusal = if !ctx.may(broker, Operation::Describe, ResourceType::Group, group) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else if !broker.groups.owns(group) {
        Some(ResponseError::NotCoordinator)
    } else {
        None
    };
    if let Some(code) = refusal {
        // v1 has no top-level error: the named partitions carry it.
        let denied = topics
            .unwrap_or_default()
            .into_iter()
            .map(|(name, parts)| {
                let parts = parts.into_iter().map(|p| (p, Err(code))).collect();
                (name, parts)
            })
            .collect();
        let mut resp = offset_fetch_response(v, denied);
        if v >= 2 {
            resp.error_code = code.code();
        }
        return resp;
    }
    offset_fetch_response(
        v,
        fetch_group(broker, ctx, group, topics, v >= 7 && req.require_stable),
    )
}

/// OffsetFetch v1–7: one group.
fn offset_fetch_response(version: i16, topics: FetchedTopics) -> OffsetFetchResponse {
    let mut resp = OffsetFetchResponse::default();
    resp.topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = OffsetFetchResponseTopic::default();
            t.name = TopicName(sb(&name));
            t.partitions = partitions
                .into_iter()
                .map(|(index, value)| {
                    let mut p = OffsetFetchResponsePartition::default();
                    p.partition_index = index;
                    if let Err(e) = &value {
                        p.error_code = e.code();
                    }
                    let value = value.ok().flatten();
                    p.committed_offset = value.as_ref().map_or(-1, |v| v.offset);
                    if version >= 5 {
                        p.committed_leader_epoch = value.as_ref().map_or(-1, |v| v.leader_epoch);
                    }
                    p.metadata = Some(sb(value.as_ref().map_or("", |v| v.metadata.as_str())));
                    p
                })
                .collect();
            t
        })
        .collect();
    resp
}

/// OffsetFetch v8+: many groups, each with its offsets or its error.
fn offset_fetch_response_v8(
    groups: Vec<(String, Result<FetchedTopics, ResponseError>)>,
) -> OffsetFetchResponse {
    let mut resp = OffsetFetchResponse::default();
    resp.groups = groups
        .into_iter()
        .map(|(group_id, topics)| {
            let mut g = OffsetFetchResponseGroup::default();
            g.group_id = GroupId(sb(&group_id));
            let topics = match topics {
                Ok(t) => t,
                Err(e) => {
                    g.error_code = e.code();
                    return g;
                }
            };
            g.topics = topics
                .into_iter()
                .map(|(name, partitions)| {
                    let mut t = OffsetFetchResponseTopics::default();
                    t.name = TopicName(sb(&name));
                    t.partitions = partitions
                        .into_iter()
                        .map(|(index, value)| {
                            let mut p = OffsetFetchResponsePartitions::default();
                            p.partition_index = index;
                            if let Err(e) = &value {
                                p.error_code = e.code();
                            }
                            let value = value.ok().flatten();
                            p.committed_offset = value.as_ref().map_or(-1, |v| v.offset);
                            p.committed_leader_epoch =
                                value.as_ref().map_or(-1, |v| v.leader_epoch);
                            p.metadata =
                                Some(sb(value.as_ref().map_or("", |v| v.metadata.as_str())));
                            p
                        })
                        .collect();
                    t
                })
                .collect();
            g
        })
        .collect();
    resp
}

pub(crate) async fn offset_delete(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !ctx.may(
        broker,
        Operation::Delete,
        ResourceType::Group,
        req.group_id.as_str(),
    ) {
        return offset_delete_response(Err(ResponseError::GroupAuthorizationFailed));
    }
    // Each partition: Ok(()) to delete, or the error that stops it here.
    let mut requested: Vec<(String, i32, Result<(), ResponseError>)> = Vec::new();
    for t in &req.topics {
        let readable = ctx.may(
            broker,
            Operation::Read,
            ResourceType::Topic,
            t.name.as_str(),
        );
        for p in &t.partitions {
            let exists = partition_exists(broker, t.name.as_str(), p.partition_index);
            let check = match (readable, exists) {
                (false, _) => Err(ResponseError::TopicAuthorizationFailed),
                (true, false) => Err(ResponseError::UnknownTopicOrPartition),
                (true, true) => Ok(()),
            };
            requested.push((t.name.to_string(), p.partition_index, check));
        }
    }
    let existing: Vec<(String, i32)> = requested
        .iter()
        .filter(|r| r.2.is_ok())
        .map(|(t, p, _)| (t.clone(), *p))
        .collect();
    let deleted =
        match broker
            .groups
            .delete_offsets(req.group_id.as_str(), &existing, crate::now_ms())
        {
            Ok((outcomes, Some(write))) => replicated(&write).await.map(|()| outcomes),
            Ok((outcomes, None)) => Ok(outcomes),
            Err(e) => Err(e),
        };
    match deleted {
        Err(e) => offset_delete_response(Err(e)),
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            let mut results: TopicResults = Vec::new();
            for (topic, partition, check) in requested {
                let result = match check {
                    Ok(()) => outcomes.next().unwrap_or(Ok(())),
                    Err(e) => Err(e),
                };
                match results.last_mut() {
                    Some((name, partitions)) if *name == topic => {
                        partitions.push((partition, result))
                    }
                    _ => results.push((topic, vec![(partition, result)])),
                }
            }
            offset_delete_response(Ok(results))
        }
    }
}

fn offset_delete_response(results: Result<TopicResults, ResponseError>) -> OffsetDeleteResponse {
    let mut resp = OffsetDeleteResponse::default();
    match results {
        Err(e) => resp.error_code = e.code(),
        Ok(results) => {
            resp.topics = results
                .into_iter()
                .map(|(name, partitions)| {
                    let mut t = OffsetDeleteResponseTopic::default();
                    t.name = TopicName(sb(&name));
                    t.partitions = partitions
                        .into_iter()
                        .map(|(index, result)| {
                            let mut p = OffsetDeleteResponsePartition::default();
                            p.partition_index = index;
                            p.error_code = code(&result);
                            p
                        })
                        .collect();
                    t
                })
                .collect();
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{encodes, versions};

    fn fetched() -> FetchedTopics {
        let value = OffsetValue {
            offset: 42,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp_ms: 1,
        };
        vec![(
            "t".into(),
            vec![
                (0, Ok(Some(value))),
                (1, Ok(None)),
                (2, Err(ResponseError::TopicAuthorizationFailed)),
            ],
        )]
    }

    #[test]
    fn offset_commit_encodes_at_every_version() {
        let results: TopicResults = vec![(
            "t".into(),
            vec![(0, Ok(())), (1, Err(ResponseError::IllegalGeneration))],
        )];
        for v in versions(ApiKey::OffsetCommit) {
            encodes(
                ApiKey::OffsetCommit,
                v,
                ResponseKind::OffsetCommit(offset_commit_response(results.clone())),
            );
        }
    }

    #[test]
    fn offset_fetch_encodes_at_every_version() {
        for v in versions(ApiKey::OffsetFetch) {
            let r = if v >= 8 {
                offset_fetch_response_v8(vec![
                    ("g".into(), Ok(fetched())),
                    ("h".into(), Err(ResponseError::GroupAuthorizationFailed)),
                ])
            } else {
                offset_fetch_response(v, fetched())
            };
            encodes(ApiKey::OffsetFetch, v, ResponseKind::OffsetFetch(r));
        }
    }

    #[test]
    fn missing_offset_is_minus_one_with_empty_metadata() {
        let r = offset_fetch_response(7, fetched());
        let p = &r.topics[0].partitions;
        assert_eq!(
            (p[0].committed_offset, p[0].committed_leader_epoch),
            (42, 5)
        );
        assert_eq!(
            (p[1].committed_offset, p[1].committed_leader_epoch),
            (-1, -1)
        );
        assert_eq!(p[1].metadata.as_ref().map(|m| m.as_str()), Some(""));
        assert_eq!(p[2].error_code, 29);
        assert_eq!(p[2].committed_offset, -1);
        assert_eq!(
            offset_fetch_response(4, fetched()).topics[0].partitions[0].committed_leader_epoch,
            -1
        );
    }

    #[test]
    fn offset_delete_encodes_at_every_version() {
        let results: TopicResults = vec![(
            "t".into(),
            vec![(0, Ok(())), (1, Err(ResponseError::GroupSubscribedToTopic))],
        )];
        for v in versions(ApiKey::OffsetDelete) {
            encodes(
                ApiKey::OffsetDelete,
                v,
                ResponseKind::OffsetDelete(offset_delete_response(Ok(results.clone()))),
            );
            encodes(
                ApiKey::OffsetDelete,
                v,
                ResponseKind::OffsetDelete(offset_delete_response(Err(
                    ResponseError::GroupIdNotFound,
                ))),
            );
        }
    }
}

/// Whether `topic` has partition `index` (wherever it is hosted).
fn partition_exists(broker: &Broker, topic: &str, index: i32) -> bool {
    broker
        .topic(topic)
        .is_some_and(|t| index >= 0 && index < t.partition_count())
}

/// Waits until a `__consumer_offsets` write is on every in-sync replica (Kafka's
/// `offsets.commit.timeout.ms`, 5 s), mapping failures to the codes Kafka gives commits.
pub(crate) async fn replicated(write: &crate::group::Replication) -> Result<(), ResponseError> {
    write
        .partition
        .wait_replicated(write.end_offset, std::time::Duration::from_secs(5))
        .await
        .map_err(|e| match e.code {
            ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
            _ => ResponseError::CoordinatorNotAvailable,
        })
}
