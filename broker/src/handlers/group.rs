//! Group membership APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! DescribeGroups, ListGroups, DeleteGroups.
//!
//! Each handler decodes into the coordinator's types ([`crate::group`]), applies, and
//! builds the response with a pure `*_response(version, …)` function that sets a field only
//! at versions that carry it (kafka-protocol refuses to encode non-default values of fields
//! a version lacks); the tests encode every builder at every served version.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::Broker;
use crate::group::state::{JoinOutcome, JoinRequest, Protocol, SyncOutcome, SyncRequest};
use crate::group::{GroupDescription, GroupListing};
use crate::security::acl::{Operation, ResourceType};

/// DescribeGroups `authorized_operations` when the client did not ask for them.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// The operations a group has (DescribeGroups reports which of them the principal may do).
const GROUP_OPERATIONS: [Operation; 3] = [Operation::Read, Operation::Delete, Operation::Describe];
/// FindCoordinator key types.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
const KEY_TYPE_MESSAGE: &str = "key type must be 0 (group) or 1 (transaction)";

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(crate) async fn find_coordinator(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let keys: Vec<String> = if ctx.api_version >= 4 {
        req.coordinator_keys.iter().map(|k| k.to_string()).collect()
    } else {
        vec![req.key.to_string()]
    };
    let image = broker.image();
    let located: Vec<Located> = keys
        .iter()
        .map(|key| match req.key_type {
            KEY_TYPE_GROUP if ctx.may(broker, Operation::Describe, ResourceType::Group, key) => {
                group_coordinator(broker, &image, key, &ctx.listener)
            }
            KEY_TYPE_GROUP => Err((
                ResponseError::GroupAuthorizationFailed,
                "not authorized to describe this group",
            )),
            KEY_TYPE_TRANSACTION
                if ctx.may(
                    broker,
                    Operation::Describe,
                    ResourceType::TransactionalId,
                    key,
                ) =>
            {
                coordinator_for(broker, &image, crate::txn::TXN_TOPIC, key, &ctx.listener)
            }
            KEY_TYPE_TRANSACTION => Err((
                ResponseError::TransactionalIdAuthorizationFailed,
                "not authorized to describe this transactional id",
            )),
            _ => Err((ResponseError::InvalidRequest, KEY_TYPE_MESSAGE)),
        })
        .collect();
    find_coordinator_response(ctx.api_version, &keys, &located)
}

/// Where a key's coordinator is: node, host and port, or why it cannot be said.
type Located = Result<(i32, String, i32), (ResponseError, &'static str)>;

/// The leader of the group's `__consumer_offsets` partition, at the address of `listener`.
fn group_coordinator(
    broker: &Broker,
    image: &crate::cluster::image::MetadataImage,
    group: &str,
    listener: &str,
) -> Located {
    coordinator_for(broker, image, crate::broker::OFFSETS_TOPIC, group, listener)
}

/// The leader of `key`'s partition of the internal topic `topic` (`abs(hashCode) % n`).
fn coordinator_for(
    broker: &Broker,
    image: &crate::cluster::image::MetadataImage,
    topic: &str,
    key: &str,
    listener: &str,
) -> Located {
    let unavailable = (
        ResponseError::CoordinatorNotAvailable,
        "the coordinator is not available yet; retry",
    );
    let Some(topic) = image.topics.get(topic) else {
        return Err(unavailable);
    };
    let index = crate::group::codec::partition_for_group(key, topic.partitions.len());
    let Some(leader) = topic
        .partitions
        .get(index)
        .map(|p| p.leader)
        .filter(|l| *l != crate::cluster::records::NO_LEADER)
    else {
        return Err(unavailable);
    };
    let (host, port) = broker.broker_address(leader, listener).ok_or(unavailable)?;
    Ok((leader, host, port))
}

/// Builds the answer for `keys`, with `located[i]` the coordinator (or error) of key `i`.
fn find_coordinator_response(
    version: i16,
    keys: &[String],
    located: &[Located],
) -> FindCoordinatorResponse {
    let mut resp = FindCoordinatorResponse::default();
    let fields = |l: &Located| match l {
        Ok((node_id, host, port)) => (*node_id, host.clone(), *port, 0, None),
        Err((e, m)) => (-1, String::new(), -1, e.code(), Some(*m)),
    };
    if version >= 4 {
        resp.coordinators = keys
            .iter()
            .zip(located)
            .map(|(k, l)| {
                let (node_id, host, port, code, message) = fields(l);
                let mut c = Coordinator::default();
                c.key = sb(k);
                c.node_id = BrokerId(node_id);
                c.host = sb(&host);
                c.port = port;
                c.error_code = code;
                c.error_message = message.map(sb);
                c
            })
            .collect();
    } else if let Some(l) = located.first() {
        let (node_id, host, port, code, message) = fields(l);
        resp.error_code = code;
        resp.node_id = BrokerId(node_id);
        resp.host = sb(&host);
        resp.port = port;
        if version >= 1 {
            resp.error_message = message.map(sb);
        }
    }
    resp
}

pub(crate) async fn join_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let v = ctx.api_version;
    if !ctx.may(
        broker,
        Operation::Read,
        ResourceType::Group,
        req.group_id.as_str(),
    ) {
        return join_group_response(
            v,
            Err(crate::group::requests::JoinError {
                code: ResponseError::GroupAuthorizationFailed,
                member_id: req.member_id.to_string(),
            }),
        );
    }
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        group_instance_id: req
            .group_instance_id
            .as_ref()
            .map(|s| s.to_string())
            .filter(|_| v >= 5),
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout doubles as one, as in Kafka.
        rebalance_timeout_ms: if v >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata,
            })
            .collect(),
        require_known_member_id: v >= 4,
    };
    let outcome = broker
        .groups
        .join(req.group_id.as_str(), join, crate::now_ms())
        .await;
    join_group_response(v, outcome)
}

fn join_group_response(version: i16, outcome: JoinOutcome) -> JoinGroupResponse {
    let mut resp = JoinGroupResponse::default();
    match outcome {
        Ok(r) => {
            resp.generation_id = r.generation_id;
            if version >= 7 {
                resp.protocol_type = r.protocol_type.as_deref().map(sb);
            }
            resp.protocol_name = Some(sb(r.protocol_name.as_deref().unwrap_or_default()));
            resp.leader = sb(&r.leader_id);
            resp.member_id = sb(&r.member_id);
            resp.members = r
                .members
                .into_iter()
                .map(|m| {
                    let mut jm = JoinGroupResponseMember::default();
                    jm.member_id = sb(&m.member_id);
                    if version >= 5 {
                        jm.group_instance_id = m.group_instance_id.as_deref().map(sb);
                    }
                    jm.metadata = m.metadata;
                    jm
                })
                .collect();
        }
        Err(e) => {
            resp.error_code = e.code.code();
            resp.generation_id = -1;
            // Nullable only from v7; older clients expect an empty string.
            resp.protocol_name = if version >= 7 {
                None
            } else {
                Some(StrBytes::default())
            };
            resp.member_id = sb(&e.member_id);
        }
    }
    resp
}

pub(crate) async fn sync_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let v = ctx.api_version;
    if !ctx.may(
        broker,
        Operation::Read,
        ResourceType::Group,
        req.group_id.as_str(),
    ) {
        return sync_group_response(v, Err(ResponseError::GroupAuthorizationFailed));
    }
    let sync = SyncRequest {
        member_id: req.member_id.to_string(),
        group_instance_id: req
            .group_instance_id
            .as_ref()
            .map(|s| s.to_string())
            .filter(|_| v >= 3),
        generation_id: req.generation_id,
        protocol_type: req
            .protocol_type
            .as_ref()
            .map(|s| s.to_string())
            .filter(|_| v >= 5),
        protocol_name: req
            .protocol_name
            .as_ref()
            .map(|s| s.to_string())
            .filter(|_| v >= 5),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let outcome = broker
        .groups
        .sync(req.group_id.as_str(), sync, crate::now_ms())
        .await;
    sync_group_response(v, outcome)
}

fn sync_group_response(version: i16, outcome: SyncOutcome) -> SyncGroupResponse {
    let mut resp = SyncGroupResponse::default();
    match outcome {
        Ok(r) => {
            if version >= 5 {
                resp.protocol_type = r.protocol_type.as_deref().map(sb);
                resp.protocol_name = r.protocol_name.as_deref().map(sb);
            }
            resp.assignment = r.assignment;
        }
        Err(e) => resp.error_code = e.code(),
    }
    resp
}

pub(crate) async fn heartbeat(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let instance = req
        .group_instance_id
        .as_ref()
        .map(|s| s.to_string())
        .filter(|_| ctx.api_version >= 3);
    let mut resp = HeartbeatResponse::default();
    if !ctx.may(
        broker,
        Operation::Read,
        ResourceType::Group,
        req.group_id.as_str(),
    ) {
        resp.error_code = ResponseError::GroupAuthorizationFailed.code();
        return resp;
    }
    let result = broker.groups.heartbeat(
        req.group_id.as_str(),
        req.member_id.as_str(),
        instance.as_deref(),
        req.generation_id,
        crate::now_ms(),
    );
    resp.error_code = result.err().map_or(0, |e| e.code());
    resp
}

pub(crate) async fn leave_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if ctx.api_version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    if !ctx.may(
        broker,
        Operation::Read,
        ResourceType::Group,
        req.group_id.as_str(),
    ) {
        let mut resp = LeaveGroupResponse::default();
        resp.error_code = ResponseError::GroupAuthorizationFailed.code();
        return resp;
    }
    if !broker.groups.owns(req.group_id.as_str()) {
        let mut resp = LeaveGroupResponse::default();
        resp.error_code = ResponseError::NotCoordinator.code();
        return resp;
    }
    let results = broker
        .groups
        .leave(req.group_id.as_str(), &members, crate::now_ms());
    leave_group_response(ctx.api_version, &members, &results)
}

fn leave_group_response(
    version: i16,
    members: &[(String, Option<String>)],
    results: &[Result<(), ResponseError>],
) -> LeaveGroupResponse {
    let mut resp = LeaveGroupResponse::default();
    if version >= 3 {
        resp.members = members
            .iter()
            .zip(results)
            .map(|((member_id, instance), result)| {
                let mut m = MemberResponse::default();
                m.member_id = sb(member_id);
                m.group_instance_id = instance.as_deref().map(sb);
                m.error_code = result.err().map_or(0, |e| e.code());
                m
            })
            .collect();
    } else {
        resp.error_code = results
            .first()
            .and_then(|r| r.err())
            .map_or(0, |e| e.code());
    }
    resp
}

pub(crate) async fn describe_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let client_ops = req.include_authorized_operations;
    let described: Vec<Described> = req
        .groups
        .iter()
        .map(|g| {
            let name = g.as_str();
            let described = if ctx.may(broker, Operation::Describe, ResourceType::Group, name) {
                // Only computed when asked for: each is an authorization check.
                let ops = if client_ops {
                    GROUP_OPERATIONS
                        .iter()
                        .filter(|op| ctx.may(broker, **op, ResourceType::Group, name))
                        .fold(0, |bits, op| bits | (1 << op.code()))
                } else {
                    0
                };
                if broker.groups.owns(name) {
                    Ok((broker.groups.describe(name), ops))
                } else {
                    Err(ResponseError::NotCoordinator)
                }
            } else {
                Err(ResponseError::GroupAuthorizationFailed)
            };
            (g.to_string(), described)
        })
        .collect();
    describe_groups_response(ctx.api_version, client_ops, described)
}

/// A group's description (None: unknown) and the operations the principal may perform on
/// it as a bit field, or why it cannot be described.
type Described = (
    String,
    Result<(Option<GroupDescription>, i32), ResponseError>,
);

fn describe_groups_response(
    version: i16,
    include_operations: bool,
    groups: Vec<Described>,
) -> DescribeGroupsResponse {
    let mut resp = DescribeGroupsResponse::default();
    resp.groups = groups
        .into_iter()
        .map(|(group_id, described)| {
            let mut g = DescribedGroup::default();
            g.group_id = GroupId(sb(&group_id));
            let (description, operations) = match described {
                Ok(d) => d,
                Err(code) => {
                    g.error_code = code.code();
                    if version >= 3 {
                        g.authorized_operations = AUTHORIZED_OPERATIONS_OMITTED;
                    }
                    return g;
                }
            };
            // Kafka describes an unknown group as Dead without an error before v6.
            let d = description.unwrap_or(GroupDescription {
                state: crate::group::state::GroupState::Dead.into(),
                protocol_type: String::new(),
                protocol_name: String::new(),
                members: Vec::new(),
            });
            g.group_state = sb(d.state.name());
            g.protocol_type = sb(&d.protocol_type);
            g.protocol_data = sb(&d.protocol_name);
            g.members = d
                .members
                .into_iter()
                .map(|m| {
                    let mut dm = DescribedGroupMember::default();
                    dm.member_id = sb(&m.member_id);
                    if version >= 4 {
                        dm.group_instance_id = m.group_instance_id.as_deref().map(sb);
                    }
                    dm.client_id = sb(&m.client_id);
                    dm.client_host = sb(&m.client_host);
                    dm.member_metadata = m.metadata;
                    dm.member_assignment = m.assignment;
                    dm
                })
                .collect();
            if version >= 3 {
                g.authorized_operations = if include_operations {
                    operations
                } else {
                    AUTHORIZED_OPERATIONS_OMITTED
                };
            }
            g
        })
        .collect();
    resp
}

pub(crate) async fn list_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let filter: Vec<String> = if ctx.api_version >= 4 {
        req.states_filter.iter().map(|s| s.to_lowercase()).collect()
    } else {
        Vec::new()
    };
    let types: Vec<String> = if ctx.api_version >= 5 {
        req.types_filter.iter().map(|s| s.to_lowercase()).collect()
    } else {
        Vec::new()
    };
    let groups: Vec<GroupListing> = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| filter.is_empty() || filter.iter().any(|f| f == &g.state.name().to_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type.name()))
        // Kafka lists every group to principals with DESCRIBE on the cluster, otherwise
        // those they may describe; tenant isolation applies either way.
        .filter(|g| {
            (ctx.principal.tenant.is_none() && ctx.may_on_cluster(broker, Operation::Describe))
                || ctx.may(
                    broker,
                    Operation::Describe,
                    ResourceType::Group,
                    &g.group_id,
                )
        })
        .collect();
    list_groups_response(ctx.api_version, groups)
}

fn list_groups_response(version: i16, groups: Vec<GroupListing>) -> ListGroupsResponse {
    let mut resp = ListGroupsResponse::default();
    resp.groups = groups
        .into_iter()
        .map(|g| {
            let mut lg = ListedGroup::default();
            lg.group_id = GroupId(sb(&g.group_id));
            lg.protocol_type = sb(&g.protocol_type);
            if version >= 4 {
                lg.group_state = sb(g.state.name());
            }
            if version >= 5 {
                lg.group_type = sb(g.group_type.name());
            }
            lg
        })
        .collect();
    resp
}

pub(crate) async fn delete_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let now = crate::now_ms();
    let results = req
        .groups_names
        .iter()
        .map(|g| {
            let result: Result<Option<crate::group::Replication>, ResponseError> =
                if ctx.may(broker, Operation::Delete, ResourceType::Group, g.as_str()) {
                    broker.groups.delete_group(g.as_str(), now)
                } else {
                    Err(ResponseError::GroupAuthorizationFailed)
                };
            (g.to_string(), result)
        })
        .collect::<Vec<_>>();
    let mut answered = Vec::with_capacity(results.len());
    for (group, result) in results {
        let result = match result {
            Ok(Some(write)) => super::offsets::replicated(&write).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        answered.push((group, result));
    }
    delete_groups_response(answered)
}

fn delete_groups_response(
    results: Vec<(String, Result<(), ResponseError>)>,
) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    resp.results = results
        .into_iter()
        .map(|(group_id, result)| {
            let mut r = DeletableGroupResult::default();
            r.group_id = GroupId(sb(&group_id));
            r.error_code = result.err().map_or(0, |e| e.code());
            r
        })
        .collect();
    resp
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::group::consumer::ConsumerGroupState;
    use crate::group::state::{
        GroupState, JoinError, JoinResult, JoinedMember, MemberDescription, SyncResult,
    };
    use crate::group::{GroupType, ListedState};
    use crate::handlers::test_support::{encodes, versions};

    fn join_ok() -> JoinOutcome {
        Ok(JoinResult {
            member_id: "c-1".into(),
            generation_id: 3,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader_id: "c-1".into(),
            members: vec![JoinedMember {
                member_id: "c-1".into(),
                group_instance_id: Some("i1".into()),
                metadata: Bytes::from_static(b"m"),
            }],
        })
    }

    #[test]
    fn find_coordinator_encodes_at_every_version() {
        let found: Located = Ok((7, "h".to_string(), 1));
        for v in versions(ApiKey::FindCoordinator) {
            for first in [
                found.clone(),
                Err((ResponseError::InvalidRequest, KEY_TYPE_MESSAGE)),
                Err((ResponseError::GroupAuthorizationFailed, "no")),
            ] {
                let r = find_coordinator_response(
                    v,
                    &["g".into(), "h".into()],
                    &[first, found.clone()],
                );
                encodes(ApiKey::FindCoordinator, v, ResponseKind::FindCoordinator(r));
            }
        }
        let denied: Located = Err((ResponseError::GroupAuthorizationFailed, "no"));
        let r = find_coordinator_response(4, &["g".into(), "h".into()], &[denied, found]);
        assert_eq!(r.coordinators.len(), 2);
        assert_eq!(r.coordinators[0].node_id, BrokerId(-1));
        assert_eq!(r.coordinators[0].error_code, 30);
        assert_eq!(r.coordinators[1].node_id, BrokerId(7));
        assert_eq!(r.coordinators[1].error_code, 0);
    }

    #[test]
    fn join_group_encodes_at_every_version() {
        let errors = [
            Err(JoinError {
                code: ResponseError::MemberIdRequired,
                member_id: "c-2".into(),
            }),
            Err(JoinError {
                code: ResponseError::UnknownMemberId,
                member_id: String::new(),
            }),
        ];
        for v in versions(ApiKey::JoinGroup) {
            for outcome in std::iter::once(join_ok()).chain(errors.clone()) {
                encodes(
                    ApiKey::JoinGroup,
                    v,
                    ResponseKind::JoinGroup(join_group_response(v, outcome)),
                );
            }
        }
    }

    #[test]
    fn join_error_keeps_member_id_and_non_null_protocol_for_old_versions() {
        let err = Err(JoinError {
            code: ResponseError::MemberIdRequired,
            member_id: "c-2".into(),
        });
        let r = join_group_response(4, err.clone());
        assert_eq!(r.error_code, 79);
        assert_eq!(r.member_id.as_str(), "c-2");
        assert_eq!(r.protocol_name, Some(StrBytes::default()));
        assert_eq!(join_group_response(7, err).protocol_name, None);
    }

    #[test]
    fn sync_group_encodes_at_every_version() {
        for v in versions(ApiKey::SyncGroup) {
            let ok = Ok(SyncResult {
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: Bytes::from_static(b"a"),
            });
            for outcome in [ok, Err(ResponseError::RebalanceInProgress)] {
                encodes(
                    ApiKey::SyncGroup,
                    v,
                    ResponseKind::SyncGroup(sync_group_response(v, outcome)),
                );
            }
        }
    }

    #[test]
    fn heartbeat_encodes_at_every_version() {
        for v in versions(ApiKey::Heartbeat) {
            let mut r = HeartbeatResponse::default();
            r.error_code = ResponseError::RebalanceInProgress.code();
            encodes(ApiKey::Heartbeat, v, ResponseKind::Heartbeat(r));
        }
    }

    #[test]
    fn leave_group_encodes_at_every_version() {
        let members = [
            ("m1".to_string(), None),
            ("".to_string(), Some("i1".to_string())),
        ];
        let results = [Ok(()), Err(ResponseError::UnknownMemberId)];
        for v in versions(ApiKey::LeaveGroup) {
            let n = if v >= 3 { 2 } else { 1 };
            encodes(
                ApiKey::LeaveGroup,
                v,
                ResponseKind::LeaveGroup(leave_group_response(v, &members[..n], &results[..n])),
            );
        }
        let r = leave_group_response(1, &members[1..], &results[1..]);
        assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
    }

    #[test]
    fn describe_groups_encodes_at_every_version() {
        let d = GroupDescription {
            state: GroupState::Stable.into(),
            protocol_type: "consumer".into(),
            protocol_name: "range".into(),
            members: vec![MemberDescription {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                metadata: Bytes::from_static(b"meta"),
                assignment: Bytes::from_static(b"assign"),
            }],
        };
        for v in versions(ApiKey::DescribeGroups) {
            for include in [false, true] {
                let r = describe_groups_response(
                    v,
                    include,
                    vec![
                        ("g".into(), Ok((Some(d.clone()), 1 << 3))),
                        ("gone".into(), Ok((None, 0))),
                        (
                            "secret".into(),
                            Err(ResponseError::GroupAuthorizationFailed),
                        ),
                    ],
                );
                encodes(ApiKey::DescribeGroups, v, ResponseKind::DescribeGroups(r));
            }
        }
        let r = describe_groups_response(5, false, vec![("gone".into(), Ok((None, 8)))]);
        assert_eq!(r.groups[0].group_state.as_str(), "Dead");
        assert_eq!(r.groups[0].error_code, 0);
        assert_eq!(r.groups[0].authorized_operations, i32::MIN);
        let r = describe_groups_response(5, true, vec![("g".into(), Ok((Some(d), 1 << 8)))]);
        assert_eq!(r.groups[0].authorized_operations, 1 << 8);
    }

    #[test]
    fn list_groups_encodes_at_every_version() {
        let groups = vec![
            GroupListing {
                group_id: "g".into(),
                protocol_type: "consumer".into(),
                state: GroupState::Stable.into(),
                group_type: GroupType::Classic,
            },
            GroupListing {
                group_id: "n".into(),
                protocol_type: "consumer".into(),
                state: ListedState::Consumer(ConsumerGroupState::Reconciling),
                group_type: GroupType::Consumer,
            },
        ];
        for v in versions(ApiKey::ListGroups) {
            encodes(
                ApiKey::ListGroups,
                v,
                ResponseKind::ListGroups(list_groups_response(v, groups.clone())),
            );
        }
        let r = list_groups_response(5, groups);
        assert_eq!(r.groups[1].group_state.as_str(), "Reconciling");
        assert_eq!(r.groups[1].group_type.as_str(), "consumer");
    }

    #[test]
    fn delete_groups_encodes_at_every_version() {
        let results = vec![
            ("g".to_string(), Ok(())),
            ("h".to_string(), Err(ResponseError::NonEmptyGroup)),
        ];
        for v in versions(ApiKey::DeleteGroups) {
            encodes(
                ApiKey::DeleteGroups,
                v,
                ResponseKind::DeleteGroups(delete_groups_response(results.clone())),
            );
        }
    }
}
