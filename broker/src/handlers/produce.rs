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
    let transactional_id = req
        .transactional_id
        .as_ref()
        .filter(|t| !t.is_empty())
        .map(|t| t.to_string());
    let txn_allowed = transactional_id
        .as_ref()
        .is_none_or(|id| ctx.may(broker, Operation::Write, ResourceType::TransactionalId, id));
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
            if !txn_allowed {
                error(
                    &mut pr,
                    ResponseError::TransactionalIdAuthorizationFailed,
                    "not authorized to write with this transactional id".into(),
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
            if let Err(message) = check_transactional(
                broker,
                transactional_id.as_deref(),
                topic.name.as_str(),
                &partition,
                &records,
            ) {
                error(&mut pr, message.0, message.1);
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

/// The transaction rules of a Produce: clients never write control batches (markers come from
/// the coordinator); a transactional batch needs the request's transactional id; and the first
/// batch of a transaction in a partition must belong to a transaction that holds it (KIP-890's
/// verification, done here when this broker coordinates the id), so a late batch of an ended
/// transaction cannot open a hanging one.
fn check_transactional(
    broker: &Broker,
    transactional_id: Option<&str>,
    topic: &str,
    partition: &crate::broker::Partition,
    records: &[u8],
) -> Result<(), (ResponseError, String)> {
    let Ok(header) = crate::log::batch::BatchHeader::parse(records) else {
        return Ok(()); // validation reports it
    };
    let mut pos = 0;
    while pos + crate::log::batch::HEADER_SIZE <= records.len() {
        let Ok(h) = crate::log::batch::BatchHeader::parse(&records[pos..]) else {
            break;
        };
        if h.is_control() {
            return Err((
                ResponseError::InvalidRecord,
                "clients may not write control batches; transaction markers come from the transaction coordinator".into(),
            ));
        }
        if h.batch_length <= 0 {
            break; // validation reports it
        }
        pos = pos.saturating_add(h.total_size());
    }
    if !header.is_transactional() {
        return Ok(());
    }
    let Some(id) = transactional_id else {
        return Err((
            ResponseError::TransactionalIdAuthorizationFailed,
            "a transactional batch needs the request's transactional id".into(),
        ));
    };
    if partition
        .lock()
        .producers
        .in_transaction(header.producer_id)
    {
        return Ok(());
    }
    let added = broker.txns.holds(
        id,
        header.producer_id,
        header.producer_epoch,
        &(topic.to_string(), partition.index),
    );
    if added == Some(false) {
        return Err((
            ResponseError::InvalidTxnState,
            format!(
                "{topic}-{} is not part of an open transaction of {id:?} (producer {} epoch {}); add it with AddPartitionsToTxn first",
                partition.index, header.producer_id, header.producer_epoch
            ),
        ));
    }
    Ok(())
}
