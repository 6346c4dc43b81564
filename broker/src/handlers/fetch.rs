//! Fetch: stored bytes returned as they are on disk (no re-encoding), long-polls that wake as
//! soon as a produce lands, KIP-227 incremental sessions, and `consumer_byte_rate`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestContext;
use crate::broker::{ApiError, Broker};
use crate::cluster::image::MetadataImage;
use crate::fetch_session::{RequestedPartition, SessionRequest};
use crate::quota::{QuotaType, client_of};
use crate::replica::Isolation;
use crate::security::acl::{Operation, ResourceType};

/// Upper bound on how long one Fetch may wait, whatever the client asks.
const MAX_WAIT_CAP_MS: i32 = 30_000;

/// One partition's result within a fetch.
struct PartitionRead {
    topic: String,
    topic_id: Uuid,
    partition: i32,
    error: Option<ResponseError>,
    records: Bytes,
    high_watermark: i64,
    log_start_offset: i64,
    last_stable_offset: i64,
    /// Aborted transactions in the records (read_committed).
    aborted: Option<Vec<crate::producer::AbortedTxn>>,
    /// KIP-392: the in-sync replica in the consumer's rack it should fetch from (-1: here).
    preferred_read_replica: i32,
    /// Whether an incremental response must include it.
    changed: bool,
}

/// How a consumer's fetch may be served: by a follower (Fetch v11+, KIP-392), and whether to
/// point it at a replica in its rack (`client.rack`).
#[derive(Debug, Clone, Copy)]
struct ConsumerFetch<'a> {
    from_follower: bool,
    rack: Option<&'a str>,
    isolation: Isolation,
}

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: FetchRequest,
) -> FetchResponse {
    let version = ctx.api_version;
    let mut requested: Vec<RequestedPartition> = Vec::new();
    let mut unknown_ids: Vec<(Uuid, i32)> = Vec::new();
    for t in &req.topics {
        let (name, id) = if version >= 13 {
            match broker.topic_by_id(t.topic_id) {
                Some(topic) => (topic.name.clone(), t.topic_id),
                None => {
                    unknown_ids.extend(t.partitions.iter().map(|p| (t.topic_id, p.partition)));
                    continue;
                }
            }
        } else {
            let id = broker
                .topic(t.topic.as_str())
                .map(|x| x.id)
                .unwrap_or_default();
            (t.topic.to_string(), id)
        };
        for p in &t.partitions {
            requested.push((
                name.clone(),
                id,
                p.partition,
                p.fetch_offset,
                p.partition_max_bytes,
            ));
        }
    }
    let forgotten: Vec<(String, i32)> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|f| {
            let name = if version >= 13 {
                broker
                    .topic_by_id(f.topic_id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default()
            } else {
                f.topic.to_string()
            };
            f.partitions.iter().map(move |p| (name.clone(), *p))
        })
        .collect();

    let mut resp = FetchResponse::default();
    let full = |requested: Vec<RequestedPartition>| -> Vec<Wanted> {
        requested
            .into_iter()
            .map(
                |(topic, topic_id, partition, fetch_offset, max_bytes)| Wanted {
                    topic,
                    topic_id,
                    partition,
                    fetch_offset,
                    max_bytes,
                    last_sent: None,
                },
            )
            .collect()
    };
    let (session_id, partitions, incremental) = if version >= 7 {
        match broker.fetch_sessions.begin(
            req.session_id,
            req.session_epoch,
            requested.clone(),
            &forgotten,
        ) {
            Ok(SessionRequest::Sessionless) => (0, full(requested), false),
            Ok(SessionRequest::New(id)) => (id, full(requested), false),
            Ok(SessionRequest::Incremental(s)) => {
                let parts = s
                    .partitions
                    .into_iter()
                    .map(|p| Wanted {
                        last_sent: Some((p.last_high_watermark, p.last_log_start_offset)),
                        topic: p.topic,
                        topic_id: p.topic_id,
                        partition: p.partition,
                        fetch_offset: p.fetch_offset,
                        max_bytes: p.max_bytes,
                    })
                    .collect();
                (s.id, parts, true)
            }
            Err(code) => {
                resp.error_code = code.code();
                return resp;
            }
        }
    } else {
        (0, full(requested), false)
    };
    if version >= 7 {
        resp.session_id = session_id;
    }

    // Authorized once per request, not per long-poll round. A follower's fetch (replica id
    // >= 0, once replication lands) needs CLUSTER_ACTION; a consumer's needs READ per topic.
    let follower = [req.replica_id.0, req.replica_state.replica_id.0]
        .into_iter()
        .find(|id| *id >= 0);
    let from_consumer = follower.is_none();
    let replica_denied = !from_consumer && !ctx.may_on_cluster(broker, Operation::ClusterAction);
    let mut decided: HashMap<&str, Option<ResponseError>> = HashMap::new();
    for w in &partitions {
        decided.entry(&w.topic).or_insert_with(|| {
            if replica_denied {
                Some(ResponseError::ClusterAuthorizationFailed)
            } else if from_consumer
                && !ctx.may(broker, Operation::Read, ResourceType::Topic, &w.topic)
            {
                Some(ResponseError::TopicAuthorizationFailed)
            } else {
                None
            }
        });
    }
    let denied: HashMap<&str, ResponseError> = decided
        .into_iter()
        .filter_map(|(topic, code)| Some((topic, code?)))
        .collect();

    // The leader epoch each partition's fetcher believes in (-1: not checked).
    let epochs: HashMap<(&str, i32), i32> = req
        .topics
        .iter()
        .flat_map(|t| {
            let name = partitions
                .iter()
                .find(|w| {
                    (version >= 13 && w.topic_id == t.topic_id) || w.topic == t.topic.as_str()
                })
                .map(|w| w.topic.as_str());
            t.partitions
                .iter()
                .filter_map(move |p| Some(((name?, p.partition), p.current_leader_epoch)))
        })
        .collect();
    let max_wait_ms = req.max_wait_ms.clamp(0, MAX_WAIT_CAP_MS);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(max_wait_ms as u64);
    let mut max_bytes = if req.max_bytes <= 0 {
        i32::MAX
    } else {
        req.max_bytes
    } as usize;
    // Bytes sent to consumers are metered and count against consumer_byte_rate; a follower's
    // fetch (replica id >= 0, once replication lands) does neither.
    if from_consumer && let Some(bound) = broker.quotas.bound(QuotaType::Fetch, client_of(ctx)) {
        // As Kafka does: never more than one window of the quota in one response, or a
        // throttled client could never be sent anything.
        let window = broker.quotas.window().size_ms as f64 / 1000.0;
        max_bytes = max_bytes.min((bound * window).max(1.0) as usize);
    }
    let consumer = ConsumerFetch {
        from_follower: version >= 11,
        rack: Some(req.rack_id.as_str()).filter(|r| version >= 11 && !r.is_empty()),
        isolation: Isolation::from_level(req.isolation_level),
    };
    let mut reads = loop {
        let notified = broker.data_arrived.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let reads = read_all(
            broker,
            &partitions,
            &epochs,
            &denied,
            max_bytes,
            follower,
            consumer,
        );
        let bytes: usize = reads.iter().map(|r| r.records.len()).sum();
        let has_error = reads
            .iter()
            .any(|r| r.error.is_some() || r.preferred_read_replica >= 0);
        if bytes >= req.min_bytes.max(1) as usize
            || has_error
            || tokio::time::Instant::now() >= deadline
        {
            break reads;
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };

    if from_consumer {
        resp.throttle_time_ms = apply_fetch_quota(broker, ctx, &mut reads);
    }

    // Metered per run of one topic: one label lookup each.
    let mut metered: Option<(&str, u64, u64)> = None;
    let count = |topic: &str, bytes: u64, records: u64| {
        broker
            .metrics
            .fetched(topic, &ctx.principal, bytes, records);
        broker.usage.fetched(&ctx.principal, topic, bytes, records);
    };
    for r in &reads {
        if !from_consumer || r.records.is_empty() {
            continue;
        }
        let (bytes, records) = (
            r.records.len() as u64,
            crate::metering::count_records(&r.records),
        );
        match &mut metered {
            Some((topic, b, n)) if *topic == r.topic => {
                *b += bytes;
                *n += records;
            }
            _ => {
                if let Some((topic, b, n)) = metered {
                    count(topic, b, n);
                }
                metered = Some((&r.topic, bytes, records));
            }
        }
    }
    if let Some((topic, b, n)) = metered {
        count(topic, b, n);
    }

    for r in reads {
        if incremental && !r.changed {
            continue;
        }
        if session_id != 0 {
            broker.fetch_sessions.record_sent(
                session_id,
                &r.topic,
                r.partition,
                r.high_watermark,
                r.log_start_offset,
            );
        }
        let mut pd = PartitionData::default();
        pd.partition_index = r.partition;
        pd.error_code = r.error.map(|e| e.code()).unwrap_or(0);
        pd.high_watermark = r.high_watermark;
        pd.last_stable_offset = r.last_stable_offset;
        pd.aborted_transactions = r.aborted.map(|list| {
            list.into_iter()
                .map(|a| {
                    let mut t = AbortedTransaction::default();
                    t.producer_id = a.producer_id.into();
                    t.first_offset = a.first_offset;
                    t
                })
                .collect()
        });
        if version >= 5 {
            pd.log_start_offset = r.log_start_offset;
        }
        if version >= 11 {
            pd.preferred_read_replica = BrokerId(r.preferred_read_replica);
        }
        pd.records = Some(r.records);
        push_partition(&mut resp, version, &r.topic, r.topic_id, pd);
    }
    for (id, partition) in unknown_ids {
        let mut pd = PartitionData::default();
        pd.partition_index = partition;
        pd.error_code = ResponseError::UnknownTopicId.code();
        pd.high_watermark = -1;
        push_partition(&mut resp, version, "", id, pd);
    }
    resp
}

/// Counts the bytes read against `consumer_byte_rate`. Over the quota, Kafka sends no
/// records and takes the recording back, so the client fetches the same offsets once its
/// throttle has passed; here too, except for a client with no recent traffic (a response
/// larger than the quota allows at once must still reach it some time). Returns the throttle.
fn apply_fetch_quota(broker: &Broker, ctx: &RequestContext, reads: &mut [PartitionRead]) -> i32 {
    let bytes: usize = reads.iter().map(|r| r.records.len()).sum();
    if bytes == 0 {
        return 0;
    }
    let recorded = broker.record_quota(QuotaType::Fetch, ctx, bytes as f64);
    if recorded.throttle_ms > 0 && !recorded.was_idle {
        broker
            .quotas
            .unrecord(QuotaType::Fetch, client_of(ctx), bytes as f64);
        for r in reads.iter_mut() {
            r.records = Bytes::new();
        }
    }
    i32::try_from(recorded.throttle_ms).unwrap_or(i32::MAX)
}

/// A partition this fetch reads, with what its session last sent (None: a full fetch, so it
/// is always included).
struct Wanted {
    topic: String,
    topic_id: Uuid,
    partition: i32,
    fetch_offset: i64,
    max_bytes: i32,
    last_sent: Option<(i64, i64)>,
}

fn read_all(
    broker: &Arc<Broker>,
    partitions: &[Wanted],
    epochs: &HashMap<(&str, i32), i32>,
    denied: &HashMap<&str, ResponseError>,
    max_bytes: usize,
    follower: Option<i32>,
    consumer: ConsumerFetch<'_>,
) -> Vec<PartitionRead> {
    let image = consumer.rack.map(|_| broker.image());
    let mut remaining = max_bytes;
    let now_ms = crate::now_ms();
    let mut out = Vec::with_capacity(partitions.len());
    for w in partitions {
        let mut read = PartitionRead {
            topic: w.topic.clone(),
            topic_id: w.topic_id,
            partition: w.partition,
            error: None,
            records: Bytes::new(),
            high_watermark: -1,
            log_start_offset: -1,
            last_stable_offset: -1,
            aborted: None,
            preferred_read_replica: -1,
            changed: true,
        };
        if let Some(code) = denied.get(w.topic.as_str()) {
            read.error = Some(*code);
            read.changed = true;
            out.push(read);
            continue;
        }
        match broker.partition(&w.topic, w.partition) {
            None => {
                let exists = broker
                    .topic(&w.topic)
                    .is_some_and(|t| w.partition >= 0 && w.partition < t.partition_count());
                read.error = Some(if exists {
                    ResponseError::NotLeaderOrFollower
                } else {
                    ResponseError::UnknownTopicOrPartition
                });
            }
            Some(p) => {
                let limit = w.max_bytes.max(0) as usize;
                let min_one = remaining == max_bytes;
                let budget = limit.min(remaining);
                let wanted_epoch = epochs
                    .get(&(w.topic.as_str(), w.partition))
                    .copied()
                    .unwrap_or(-1);
                let current = p.replica().leader_epoch;
                let result = if wanted_epoch >= 0 && wanted_epoch < current {
                    Err(ApiError::new(
                        ResponseError::FencedLeaderEpoch,
                        "the fetcher's leader epoch is old",
                    ))
                } else if wanted_epoch > current {
                    Err(ApiError::new(
                        ResponseError::UnknownLeaderEpoch,
                        "this broker has not seen that leader epoch yet",
                    ))
                } else if let Some(preferred) = follower
                    .is_none()
                    .then(|| {
                        nearest_replica(
                            broker,
                            image.as_deref(),
                            consumer.rack,
                            &w.topic,
                            w.partition,
                        )
                    })
                    .flatten()
                {
                    // The consumer's rack has an in-sync replica and this broker is not in
                    // it: send it there, with no records (KIP-392).
                    let (hw, start) = p.offsets();
                    read.preferred_read_replica = preferred;
                    read.high_watermark = hw;
                    read.last_stable_offset = hw;
                    read.log_start_offset = start;
                    out.push(read);
                    continue;
                } else {
                    match follower {
                        None => p.read_for_consumer(
                            w.fetch_offset,
                            budget,
                            min_one,
                            consumer.from_follower,
                            consumer.isolation,
                        ),
                        Some(id) => p
                            .read_for_follower(id, w.fetch_offset, budget, now_ms)
                            .map(|(r, change)| {
                                if r.advanced {
                                    broker.data_arrived.notify_waiters();
                                }
                                if let Some(change) = change {
                                    tracing::info!(topic = %w.topic, partition = w.partition, isr = ?change.new_isr, "follower caught up: expanding the ISR");
                                    broker.propose_isr(p.clone(), change);
                                }
                                r
                            }),
                    }
                };
                match result {
                    Ok(r) => {
                        remaining = remaining.saturating_sub(r.records.len());
                        read.records = r.records;
                        read.high_watermark = r.high_watermark;
                        read.log_start_offset = r.log_start_offset;
                        read.last_stable_offset = r.last_stable_offset;
                        if follower.is_none() && consumer.isolation == Isolation::ReadCommitted {
                            read.aborted = Some(r.aborted);
                        }
                    }
                    Err(e) => {
                        let (hw, start) = p.offsets();
                        read.error = Some(e.code);
                        read.high_watermark = hw;
                        read.last_stable_offset = hw;
                        read.log_start_offset = start;
                    }
                }
            }
        }
        read.changed = match w.last_sent {
            None => true,
            Some((hw, start)) => {
                read.error.is_some()
                    || !read.records.is_empty()
                    || hw != read.high_watermark
                    || start != read.log_start_offset
            }
        };
        out.push(read);
    }
    out
}

/// KIP-392: when this broker leads `topic`-`partition` but is not in the consumer's `rack`,
/// an unfenced in-sync replica that is; `None` means serve here.
fn nearest_replica(
    broker: &Broker,
    image: Option<&MetadataImage>,
    rack: Option<&str>,
    topic: &str,
    partition: i32,
) -> Option<i32> {
    let (image, rack) = (image?, rack?);
    let here = image
        .brokers
        .get(&broker.node_id)
        .and_then(|b| b.rack.as_deref());
    if here == Some(rack) {
        return None;
    }
    let p = image.partition(topic, partition)?;
    if p.leader != broker.node_id {
        return None;
    }
    p.isr.iter().copied().find(|r| {
        *r != broker.node_id
            && image
                .brokers
                .get(r)
                .is_some_and(|b| !b.fenced && b.rack.as_deref() == Some(rack))
    })
}

fn push_partition(
    resp: &mut FetchResponse,
    version: i16,
    topic: &str,
    topic_id: Uuid,
    pd: PartitionData,
) {
    let same = |t: &FetchableTopicResponse| {
        if version >= 13 {
            t.topic_id == topic_id
        } else {
            t.topic.as_str() == topic
        }
    };
    if let Some(t) = resp.responses.last_mut().filter(|t| same(t)) {
        t.partitions.push(pd);
        return;
    }
    let mut t = FetchableTopicResponse::default();
    if version >= 13 {
        t.topic_id = topic_id;
    } else {
        t.topic = TopicName(StrBytes::from_string(topic.to_string()));
    }
    t.partitions.push(pd);
    resp.responses.push(t);
}
