//! Decodes a request frame, checks the version against the table of supported APIs,
//! dispatches to its handler and encodes the response. The same table answers ApiVersions,
//! so an API is advertised exactly when it is routed.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Encodable, decode_request_header_from_buffer};

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::handlers::{self, RequestContext};
use crate::security::Principal;
use crate::security::sasl::Session;

/// How long a client request waits for a starting broker to join the cluster.
const STARTING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An API this broker serves, with the versions it accepts.
#[derive(Debug, Clone, Copy)]
pub struct SupportedApi {
    /// The API.
    pub key: ApiKey,
    /// Oldest version served.
    pub min: i16,
    /// Newest version served.
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> SupportedApi {
    SupportedApi { key, min, max }
}

/// Every API routed, and so advertised by ApiVersions. Minimums follow Kafka 4.x (the
/// `kafka-protocol` crate has nothing older); maximums are what the handlers implement.
pub const SUPPORTED: &[SupportedApi] = &[
    api(ApiKey::Produce, 3, 11),
    api(ApiKey::Fetch, 4, 16),
    api(ApiKey::ListOffsets, 1, 7),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::OffsetCommit, 2, 8),
    api(ApiKey::OffsetFetch, 1, 8),
    api(ApiKey::FindCoordinator, 0, 4),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::ApiVersions, 0, 3),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DescribeCluster, 0, 1),
    // Advertised from v0 because librdkafka's feature check needs v0 in range before it uses
    // SASL at all; a v0 handshake (raw SASL tokens afterwards, pre-1.0 clients) is answered
    // UNSUPPORTED_VERSION in its body, and every client in our range sends v1.
    api(ApiKey::SaslHandshake, 0, 1),
    api(ApiKey::SaslAuthenticate, 0, 2),
    api(ApiKey::DescribeUserScramCredentials, 0, 0),
    api(ApiKey::AlterUserScramCredentials, 0, 0),
    api(ApiKey::DescribeAcls, 1, 3),
    api(ApiKey::CreateAcls, 1, 3),
    api(ApiKey::DeleteAcls, 1, 3),
    api(ApiKey::DescribeClientQuotas, 0, 1),
    api(ApiKey::AlterClientQuotas, 0, 1),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::AlterPartitionReassignments, 0, 1),
    api(ApiKey::ListPartitionReassignments, 0, 0),
    api(ApiKey::AddPartitionsToTxn, 0, 3),
    api(ApiKey::AddOffsetsToTxn, 0, 3),
    api(ApiKey::EndTxn, 0, 3),
    api(ApiKey::TxnOffsetCommit, 0, 3),
    api(ApiKey::WriteTxnMarkers, 1, 1),
    api(ApiKey::DescribeTransactions, 0, 0),
    api(ApiKey::ListTransactions, 0, 1),
    // KIP-848; librdkafka 2.12 needs v1 (client-generated member ids, regex subscriptions).
    api(ApiKey::ConsumerGroupHeartbeat, 0, 1),
    api(ApiKey::ConsumerGroupDescribe, 0, 1),
];

/// The supported version range of `key`, if it is served at all.
pub fn supported(key: ApiKey) -> Option<SupportedApi> {
    SUPPORTED.iter().copied().find(|a| a.key == key)
}

/// What the connection should do after a frame: reply, then stay muted for `throttle`.
#[derive(Debug)]
pub struct Handled {
    /// What to send.
    pub reply: Reply,
    /// How long to read no further request from this client after the reply (KIP-219
    /// channel muting for a client over its quota); zero almost always.
    pub throttle: Duration,
}

impl From<Reply> for Handled {
    fn from(reply: Reply) -> Self {
        Handled {
            reply,
            throttle: Duration::ZERO,
        }
    }
}

/// What to send after a frame.
#[derive(Debug)]
pub enum Reply {
    /// Write this response frame (length prefix included).
    Frame(BytesMut),
    /// Send nothing (Produce with acks=0).
    Nothing,
    /// Write this response frame, then close the connection (failed authentication).
    FrameThenClose(BytesMut),
    /// Close the connection without answering (the broker is not serving clients yet).
    Close,
}

/// Handles one request frame (without its length prefix). An `Err` means the input cannot
/// be answered (malformed header or body): the caller logs it and closes this connection.
pub async fn handle_frame(
    broker: &Arc<Broker>,
    session: &mut Session,
    peer: std::net::SocketAddr,
    mut frame: Bytes,
) -> Result<Handled> {
    if frame.len() < 8 {
        return Err(Error::Malformed(format!(
            "a request header needs 8 bytes, got {}",
            frame.len()
        )));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    if raw_key == crate::cluster::rpc::CLUSTER_API_KEY {
        return handlers::cluster::handle(broker, session, peer, frame).await;
    }
    let key = ApiKey::try_from(raw_key).ok();
    let range = key.and_then(supported);
    let in_range = range.is_some_and(|r| version >= r.min && version <= r.max);
    if !in_range {
        tracing::debug!(
            api_key = raw_key,
            version,
            correlation_id,
            "unsupported API or version"
        );
        broker.metrics.unsupported_version(key);
        return Ok(Reply::Frame(unsupported_version(key, correlation_id)).into());
    }
    let key = key.ok_or_else(|| Error::Malformed("unknown api key".into()))?;
    if session.expired(crate::now_ms())
        && !matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
    {
        // KIP-368: past its session lifetime a connection may only re-authenticate.
        return Err(Error::Malformed(format!(
            "{key:?} request after the SASL session expired on listener {} (the client did not re-authenticate)",
            session.listener
        )));
    }
    if !matches!(
        key,
        ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
    ) && broker.lifecycle() == crate::broker::Lifecycle::Starting
    {
        // Not unfenced yet (the listeners open before registration, for the quorum's
        // sake): hold the request until the broker serves, as if it had arrived then. A
        // broker that does not join in time closes the connection and clients go elsewhere.
        let mut lifecycle = broker.lifecycle.subscribe();
        let joined = tokio::time::timeout(
            STARTING_WAIT,
            lifecycle.wait_for(|s| *s != crate::broker::Lifecycle::Starting),
        )
        .await;
        if !matches!(joined, Ok(Ok(_))) {
            tracing::debug!(%peer, ?key, "request before the broker joined the cluster; closing");
            return Ok(Reply::Close.into());
        }
    }
    if !session.may_serve(key) {
        // Kafka closes such connections too ("unexpected request during SASL handshake").
        return Err(Error::Malformed(format!(
            "{key:?} request before SASL authentication on listener {}",
            session.listener
        )));
    }
    let header: RequestHeader = decode_request_header_from_buffer(&mut frame)
        .map_err(|e| Error::Malformed(format!("bad {key:?} v{version} request header: {e}")))?;
    let request = RequestKind::decode(key, &mut frame, version)
        .map_err(|e| Error::Malformed(format!("bad {key:?} v{version} request body: {e}")))?;
    let started = Instant::now();
    let mut throttle_ms = 0;
    let (response, then) = match request {
        RequestKind::SaslHandshake(r) => (
            ResponseKind::SaslHandshake(handlers::sasl::handshake(broker, session, version, r)),
            Then::Send,
        ),
        RequestKind::SaslAuthenticate(r) => {
            let (response, close) =
                handlers::sasl::authenticate(broker, session, peer, version, r).await;
            let then = if close { Then::Close } else { Then::Send };
            (ResponseKind::SaslAuthenticate(response), then)
        }
        request => {
            let ctx = RequestContext {
                api_version: version,
                correlation_id,
                client_id: header
                    .client_id
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                peer,
                listener: session.listener.clone(),
                principal: broker.config.security.assign_tenant(
                    session
                        .principal()
                        .cloned()
                        .unwrap_or_else(Principal::anonymous),
                ),
            };
            let then = match &request {
                RequestKind::Produce(p) if p.acks == 0 => Then::Nothing,
                _ => Then::Send,
            };
            // Handler time for the request quota: only while the handler runs, not while it
            // waits (a Fetch long-poll, a JoinGroup rebalance), as Kafka counts thread time.
            let mut busy = started.elapsed();
            let mut handler = pin!(dispatch(broker, &ctx, request));
            let mut response = poll_fn(|cx| {
                let polled = Instant::now();
                let out = handler.as_mut().poll(cx);
                busy += polled.elapsed();
                out
            })
            .await;
            if key != ApiKey::ApiVersions {
                throttle_ms = broker.record_request_time(&ctx, busy);
            }
            if let Some(field) = throttle_time_ms(&mut response) {
                throttle_ms = throttle_ms.max(i64::from(*field));
                *field = i32::try_from(throttle_ms).unwrap_or(i32::MAX);
            }
            (response, then)
        }
    };
    let throttle = Duration::from_millis(u64::try_from(throttle_ms).unwrap_or(0));
    broker
        .metrics
        .observe_request(key, version, started.elapsed(), &response);
    let reply = match then {
        Then::Nothing => Reply::Nothing,
        Then::Send => Reply::Frame(encode_response(key, version, correlation_id, &response)?),
        Then::Close => {
            Reply::FrameThenClose(encode_response(key, version, correlation_id, &response)?)
        }
    };
    Ok(Handled { reply, throttle })
}

/// The `throttle_time_ms` field of a response, for the APIs whose time counts against the
/// request quota (every routed API but ApiVersions and SASL, which Kafka exempts too).
fn throttle_time_ms(response: &mut ResponseKind) -> Option<&mut i32> {
    use ResponseKind as R;
    Some(match response {
        R::Produce(r) => &mut r.throttle_time_ms,
        R::Fetch(r) => &mut r.throttle_time_ms,
        R::ListOffsets(r) => &mut r.throttle_time_ms,
        R::Metadata(r) => &mut r.throttle_time_ms,
        R::OffsetCommit(r) => &mut r.throttle_time_ms,
        R::OffsetFetch(r) => &mut r.throttle_time_ms,
        R::FindCoordinator(r) => &mut r.throttle_time_ms,
        R::JoinGroup(r) => &mut r.throttle_time_ms,
        R::Heartbeat(r) => &mut r.throttle_time_ms,
        R::LeaveGroup(r) => &mut r.throttle_time_ms,
        R::SyncGroup(r) => &mut r.throttle_time_ms,
        R::DescribeGroups(r) => &mut r.throttle_time_ms,
        R::ListGroups(r) => &mut r.throttle_time_ms,
        R::CreateTopics(r) => &mut r.throttle_time_ms,
        R::DeleteTopics(r) => &mut r.throttle_time_ms,
        R::DeleteRecords(r) => &mut r.throttle_time_ms,
        R::InitProducerId(r) => &mut r.throttle_time_ms,
        R::DescribeConfigs(r) => &mut r.throttle_time_ms,
        R::AlterConfigs(r) => &mut r.throttle_time_ms,
        R::CreatePartitions(r) => &mut r.throttle_time_ms,
        R::DeleteGroups(r) => &mut r.throttle_time_ms,
        R::IncrementalAlterConfigs(r) => &mut r.throttle_time_ms,
        R::OffsetDelete(r) => &mut r.throttle_time_ms,
        R::DescribeCluster(r) => &mut r.throttle_time_ms,
        R::DescribeUserScramCredentials(r) => &mut r.throttle_time_ms,
        R::AlterUserScramCredentials(r) => &mut r.throttle_time_ms,
        R::DescribeClientQuotas(r) => &mut r.throttle_time_ms,
        R::AlterClientQuotas(r) => &mut r.throttle_time_ms,
        R::CreateAcls(r) => &mut r.throttle_time_ms,
        R::DescribeAcls(r) => &mut r.throttle_time_ms,
        R::DeleteAcls(r) => &mut r.throttle_time_ms,
        R::OffsetForLeaderEpoch(r) => &mut r.throttle_time_ms,
        R::ElectLeaders(r) => &mut r.throttle_time_ms,
        R::AlterPartitionReassignments(r) => &mut r.throttle_time_ms,
        R::ListPartitionReassignments(r) => &mut r.throttle_time_ms,
        R::ConsumerGroupHeartbeat(r) => &mut r.throttle_time_ms,
        R::ConsumerGroupDescribe(r) => &mut r.throttle_time_ms,
        R::AddPartitionsToTxn(r) => &mut r.throttle_time_ms,
        R::AddOffsetsToTxn(r) => &mut r.throttle_time_ms,
        R::EndTxn(r) => &mut r.throttle_time_ms,
        R::TxnOffsetCommit(r) => &mut r.throttle_time_ms,
        R::DescribeTransactions(r) => &mut r.throttle_time_ms,
        R::ListTransactions(r) => &mut r.throttle_time_ms,
        // A newly routed API without an entry here is still muted, just not told why.
        _ => return None,
    })
}

/// What happens after a request is handled.
enum Then {
    /// Send the response.
    Send,
    /// Send the response, then close the connection (failed authentication).
    Close,
    /// Send nothing (Produce with acks=0).
    Nothing,
}

async fn dispatch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: RequestKind,
) -> ResponseKind {
    use handlers::*;
    match request {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(ctx, r)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(broker, ctx, r).await),
        RequestKind::Produce(r) => ResponseKind::Produce(produce::handle(broker, ctx, r).await),
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(broker, ctx, r).await),
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, ctx, r))
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(producer_id::handle(broker, ctx, r).await)
        }
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(txn::add_partitions_to_txn(broker, ctx, r).await)
        }
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(txn::add_offsets_to_txn(broker, ctx, r).await)
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(txn::end_txn(broker, ctx, r).await),
        RequestKind::TxnOffsetCommit(r) => {
            ResponseKind::TxnOffsetCommit(txn::txn_offset_commit(broker, ctx, r).await)
        }
        RequestKind::WriteTxnMarkers(r) => {
            ResponseKind::WriteTxnMarkers(txn::write_txn_markers(broker, ctx, r).await)
        }
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(txn::describe_transactions(broker, ctx, r).await)
        }
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(txn::list_transactions(broker, ctx, r).await)
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(group::find_coordinator(broker, ctx, r).await)
        }
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(group::join_group(broker, ctx, r).await)
        }
        RequestKind::SyncGroup(r) => {
            ResponseKind::SyncGroup(group::sync_group(broker, ctx, r).await)
        }
        RequestKind::Heartbeat(r) => {
            ResponseKind::Heartbeat(group::heartbeat(broker, ctx, r).await)
        }
        RequestKind::LeaveGroup(r) => {
            ResponseKind::LeaveGroup(group::leave_group(broker, ctx, r).await)
        }
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(group::describe_groups(broker, ctx, r).await)
        }
        RequestKind::ListGroups(r) => {
            ResponseKind::ListGroups(group::list_groups(broker, ctx, r).await)
        }
        RequestKind::ConsumerGroupHeartbeat(r) => ResponseKind::ConsumerGroupHeartbeat(
            consumer_group::consumer_group_heartbeat(broker, ctx, r).await,
        ),
        RequestKind::ConsumerGroupDescribe(r) => ResponseKind::ConsumerGroupDescribe(
            consumer_group::consumer_group_describe(broker, ctx, r).await,
        ),
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(group::delete_groups(broker, ctx, r).await)
        }
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(offsets::offset_commit(broker, ctx, r).await)
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(offsets::offset_fetch(broker, ctx, r).await)
        }
        RequestKind::OffsetDelete(r) => {
            ResponseKind::OffsetDelete(offsets::offset_delete(broker, ctx, r).await)
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(admin::create_topics(broker, ctx, r).await)
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(admin::delete_topics(broker, ctx, r).await)
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(admin::create_partitions(broker, ctx, r).await)
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(admin::delete_records(broker, ctx, r).await)
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(admin::describe_cluster(broker, ctx, r).await)
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(configs::describe_configs(broker, ctx, r).await)
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(configs::alter_configs(broker, ctx, r).await)
        }
        RequestKind::IncrementalAlterConfigs(r) => ResponseKind::IncrementalAlterConfigs(
            configs::incremental_alter_configs(broker, ctx, r).await,
        ),
        RequestKind::DescribeUserScramCredentials(r) => {
            ResponseKind::DescribeUserScramCredentials(sasl::describe_scram(broker, ctx, r).await)
        }
        RequestKind::AlterUserScramCredentials(r) => {
            ResponseKind::AlterUserScramCredentials(sasl::alter_scram(broker, ctx, r).await)
        }
        RequestKind::CreateAcls(r) => {
            ResponseKind::CreateAcls(acls::create_acls(broker, ctx, r).await)
        }
        RequestKind::DescribeAcls(r) => {
            ResponseKind::DescribeAcls(acls::describe_acls(broker, ctx, r).await)
        }
        RequestKind::DeleteAcls(r) => {
            ResponseKind::DeleteAcls(acls::delete_acls(broker, ctx, r).await)
        }
        RequestKind::DescribeClientQuotas(r) => {
            ResponseKind::DescribeClientQuotas(quotas::describe_client_quotas(broker, ctx, r).await)
        }
        RequestKind::AlterClientQuotas(r) => {
            ResponseKind::AlterClientQuotas(quotas::alter_client_quotas(broker, ctx, r).await)
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(replication::offset_for_leader_epoch(broker, ctx, r))
        }
        RequestKind::ElectLeaders(r) => {
            ResponseKind::ElectLeaders(replication::elect_leaders(broker, ctx, r).await)
        }
        RequestKind::AlterPartitionReassignments(r) => ResponseKind::AlterPartitionReassignments(
            replication::alter_partition_reassignments(broker, ctx, r).await,
        ),
        RequestKind::ListPartitionReassignments(r) => ResponseKind::ListPartitionReassignments(
            replication::list_partition_reassignments(broker, ctx, r),
        ),
        other => {
            // Unreachable: handle_frame only decodes keys present in SUPPORTED.
            tracing::error!(request = ?std::mem::discriminant(&other), "routed API without a handler");
            ResponseKind::ApiVersions(api_versions::error_response(
                ResponseError::UnsupportedVersion,
            ))
        }
    }
}

/// Encodes a response frame: length prefix, header (the version the API prescribes; always
/// v0 for ApiVersions), body.
pub fn encode_response(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> Result<BytesMut> {
    // Size Fetch responses up front: growing by doubling to tens of MB would copy the
    // records several times.
    let capacity = match response {
        ResponseKind::Fetch(f) => {
            f.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.records.as_ref().map_or(0, |r| r.len()) + 64)
                .sum::<usize>()
                + 256
        }
        _ => 256,
    };
    let mut buf = BytesMut::with_capacity(capacity);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = key.response_header_version(version);
    header.encode(&mut buf, header_version).map_err(|e| {
        Error::Malformed(format!(
            "failed to encode {key:?} v{version} response header: {e}"
        ))
    })?;
    response.encode(&mut buf, version).map_err(|e| {
        Error::Malformed(format!("failed to encode {key:?} v{version} response: {e}"))
    })?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// The answer to an API or version this broker does not serve. For ApiVersions it is a v0
/// ApiVersions response with UNSUPPORTED_VERSION and the supported ranges, which is what
/// clients retry with; for anything else a header and the UNSUPPORTED_VERSION code, and the
/// connection stays open.
fn unsupported_version(key: Option<ApiKey>, correlation_id: i32) -> BytesMut {
    if key == Some(ApiKey::ApiVersions) {
        let body = ResponseKind::ApiVersions(handlers::api_versions::error_response(
            ResponseError::UnsupportedVersion,
        ));
        if let Ok(frame) = encode_response(ApiKey::ApiVersions, 0, correlation_id, &body) {
            return frame;
        }
    }
    let mut buf = BytesMut::with_capacity(10);
    buf.put_i32(6);
    buf.put_i32(correlation_id);
    buf.put_i16(ResponseError::UnsupportedVersion.code());
    buf
}

/// Reads the length-prefixed size of a response (tests and tools).
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    (buf.len() >= 4).then(|| (&buf[..4]).get_i32() as usize)
}
