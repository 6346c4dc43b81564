//! Produce: validate each partition's batches, check idempotent sequences, append the bytes
//! as received (base offset stamped), wake long-polling fetches, and count the bytes against
//! the client's `producer_byte_rate`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{RequestContext, msg};
use crate::broker::Broker;
use crate::quota::QuotaType;
use crate::security::acl::{Operation, ResourceType};

/// Offsets handed out by the benchmark sink, which stores nothing.
static SINK_OFFSET: AtomicI64 = AtomicI64::new(0);

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ProduceRequest,
) -> ProduceResponse {
    let version = ctx.api_version;
    let mut resp = ProduceResponse::default();
    let now = crate::now_ms();
    let acks_valid = matches!(req.acks, -1..=1);
    let transactional = req.transactional_id.as_ref().is_some_and(|t| !t.is_empty());
    let mut appended = false;
    let mut accepted_bytes = 0u64;
    // Partitions an acks=all request waits on: (topic index, partition index, partition, end).
    let mut waits: Vec<(usize, usize, Arc<crate::broker::Partition>, i64)> = Vec::new();
    for topic in req.topic_data {
        let mut tr = TopicProduceResponse::default();
        tr.name = topic.name.clone();
        let writable = ctx.may(
            broker,
            Operation::Write,
            ResourceType::Topic,
            topic.name.as_str(),
        );
        let found = broker.topic(topic.name.as_str()).filter(|_| writable);
        // Metered once per topic, not per partition: one label lookup each.
        let (mut bytes_in, mut records_in) = (0u64, 0u64);
        for p in topic.partition_data {
            let mut pr = PartitionProduceResponse::default();
            pr.index = p.index;
            let error =
                |pr: &mut PartitionProduceResponse, code: ResponseError, message: String| {
                    pr.error_code = code.code();
                    pr.base_offset = -1;
                    if version >= 8 {
                        pr.error_message = msg(message);
                    }
                };
            if !acks_valid {
                error(
                    &mut pr,
                    ResponseError::InvalidRequiredAcks,
                    format!("acks must be -1, 0 or 1, not {}", req.acks),
                );
                tr.partition_responses.push(pr);
                continue;
            }
            if transactional {
                error(
                    &mut pr,
                    ResponseError::TransactionalIdAuthorizationFailed,
                    "transactions are not supported yet".into(),
                );
                tr.partition_responses.push(pr);
                continue;
            }
            let Some(records) = p.records else {
                error(
                    &mut pr,
                    ResponseError::CorruptMessage,
                    "the partition carries no records".into(),
                );
                tr.partition_responses.push(pr);
                continue;
            };
            if !writable {
                error(
                    &mut pr,
                    ResponseError::TopicAuthorizationFailed,
                    format!("not authorized to write to topic {:?}", topic.name.as_str()),
                );
                tr.partition_responses.push(pr);
                continue;
            }
            let Some(topic_ref) = &found else {
                error(
                    &mut pr,
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic {:?} does not exist", topic.name.as_str()),
                );
                tr.partition_responses.push(pr);
                continue;
            };
            if topic_ref.internal {
                // Kafka refuses client writes to internal topics: they hold the broker's own
                // records (offsets, usage), which a client must not be able to forge.
                error(
                    &mut pr,
                    ResponseError::InvalidTopicException,
                    format!(
                        "topic {:?} is internal; only the broker writes to it",
                        topic.name.as_str()
                    ),
                );
                tr.partition_responses.push(pr);
                continue;
            }
            let Some(partition) = topic_ref.partition(p.index) else {
                let (code, message) = if p.index >= 0 && p.index < topic_ref.partition_count() {
                    (
                        ResponseError::NotLeaderOrFollower,
                        format!(
                            "this broker does not host {}-{}; refresh metadata",
                            topic.name.as_str(),
                            p.index
                        ),
                    )
                } else {
                    (
                        ResponseError::UnknownTopicOrPartition,
                        format!(
                            "topic {:?} has no partition {}",
                            topic.name.as_str(),
                            p.index
                        ),
                    )
                };
                error(&mut pr, code, message);
                tr.partition_responses.push(pr);
                continue;
            };
            if broker.config.bench_sink {
                let count = crate::log::batch::validate_batches(&records, usize::MAX)
                    .map(|b| {
                        b.iter()
                            .map(|(h, _)| h.last_offset_delta as i64 + 1)
                            .sum::<i64>()
                    })
                    .unwrap_or(1);
                pr.base_offset = SINK_OFFSET.fetch_add(count, Ordering::Relaxed);
                pr.log_start_offset = 0;
                tr.partition_responses.push(pr);
                continue;
            }
            let log_config = topic_ref.log_config();
            if log_config.cleanup_policy.compacts()
                && let Some((batch, delta)) = crate::log::batch::first_keyless_record(&records)
            {
                error(
                    &mut pr,
                    ResponseError::InvalidRecord,
                    format!(
                        "topic {:?} is compacted (cleanup.policy={}) and record {delta} of batch {batch} has no key; give every record a key",
                        topic.name.as_str(),
                        if log_config.cleanup_policy.deletes() {
                            "compact,delete"
                        } else {
                            "compact"
                        }
                    ),
                );
                tr.partition_responses.push(pr);
                continue;
            }
            match partition.append_as_leader(
                &records,
                log_config.max_message_bytes,
                req.acks,
                log_config.min_insync_replicas,
                now,
            ) {
                Ok(outcome) => {
                    appended = true;
                    if req.acks == -1 {
                        waits.push((
                            resp.responses.len(),
                            tr.partition_responses.len(),
                            partition.clone(),
                            outcome.end_offset,
                        ));
                    }
                    if outcome.appended_records > 0 {
                        bytes_in += records.len() as u64;
                        records_in += outcome.appended_records as u64;
                    }
                    pr.base_offset = outcome.base_offset;
                    pr.log_append_time_ms = outcome.log_append_time;
                    if version >= 5 {
                        pr.log_start_offset = outcome.log_start_offset;
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = %topic.name.as_str(), partition = p.index, client_id = %ctx.client_id, correlation_id = ctx.correlation_id, error = %e.message, "produce refused");
                    error(&mut pr, e.code, e.message);
                }
            }
            tr.partition_responses.push(pr);
        }
        accepted_bytes += bytes_in;
        broker
            .metrics
            .produced(topic.name.as_str(), &ctx.principal, bytes_in, records_in);
        broker
            .usage
            .produced(&ctx.principal, topic.name.as_str(), bytes_in, records_in);
        resp.responses.push(tr);
    }
    if appended {
        broker.data_arrived.notify_waiters();
    }
    // acks=all: answer once every in-sync replica has the records (the high watermark passed
    // them), for at most the request's timeout.
    if !waits.is_empty() {
        let timeout = Duration::from_millis(u64::try_from(req.timeout_ms.max(1)).unwrap_or(30_000));
        let outcomes = futures::future::join_all(
            waits
                .iter()
                .map(|(_, _, p, end)| p.wait_replicated(*end, timeout)),
        )
        .await;
        for ((t, i, _, _), outcome) in waits.into_iter().zip(outcomes) {
            if let Err(e) = outcome
                && let Some(pr) = resp
                    .responses
                    .get_mut(t)
                    .and_then(|t| t.partition_responses.get_mut(i))
            {
                pr.error_code = e.code.code();
                pr.base_offset = -1;
                if version >= 8 {
                    pr.error_message = msg(e.message);
                }
            }
        }
    }
    // producer_byte_rate: the bytes are kept either way; a client over its quota is told to
    // wait, and its connection is muted that long (see `crate::quota`).
    if accepted_bytes > 0 {
        let recorded = broker.record_quota(QuotaType::Produce, ctx, accepted_bytes as f64);
        resp.throttle_time_ms = i32::try_from(recorded.throttle_ms).unwrap_or(i32::MAX);
    }
    resp
}
