//! The message browser: `GET …/topics/{topic}/messages`, the most recent records of one
//! partition (or those from an offset), for debugging in the console or with curl. It is a
//! read of the log by the control plane's own principal, bounded on every side: at most
//! [`MAX_LIMIT`] records, at most [`MAX_FIELD_BYTES`] shown of any key, value or header, and
//! at most [`MAX_RESPONSE_BYTES`] shown in all. It joins no consumer group and commits no
//! offset, so it never disturbs the tenant's consumers.
//!
//! The Fetch goes to the partition's leader (the admin client looks it up in Metadata), so
//! clusters of several brokers are read wherever a partition is led.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kafka_protocol::records::Record;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Action, Principal};
use crate::clusters;
use crate::db::rfc3339;
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::topics::MAX_TOPIC_PARTITIONS;
use crate::validate;

/// Records returned when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 20;
/// The most records one request returns.
pub const MAX_LIMIT: i64 = 100;
/// The most bytes shown of one key, value or header value (the rest is cut, marked
/// `truncated`).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// The most bytes of keys, values and headers one response shows; the page ends before the
/// record that would exceed it.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Bytes asked for per Fetch.
const FETCH_BYTES: i32 = 1024 * 1024;
/// Fetches per request (a page of small batches may need several).
const MAX_FETCHES: usize = 8;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}/messages",
        get(list_messages),
    )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_messages),
    components(schemas(MessagePage, Message, MessageHeader, Payload, Encoding))
)]
pub struct MessagesApi;

/// Which records to read.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// Partition to read (default 0).
    pub partition: Option<i32>,
    /// First offset to read; default: the last `limit` records. An offset before the log's
    /// start reads from the start.
    pub offset: Option<i64>,
    /// Records to return, 1 to 100 (default 20).
    pub limit: Option<i64>,
}

/// How a payload's `data` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The bytes are valid UTF-8 and `data` is that text.
    Utf8,
    /// `data` is the bytes in standard base64.
    Base64,
}

/// A key, value or header value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payload {
    /// How `data` is written.
    pub encoding: Encoding,
    /// The bytes (the first 65536 at most).
    pub data: String,
    /// Size of the whole payload in bytes.
    pub size: usize,
    /// Whether `data` holds only the first bytes.
    pub truncated: bool,
}

/// A record header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageHeader {
    /// Header name.
    pub key: String,
    /// Header value; `null` when the record has none.
    pub value: Option<Payload>,
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// Offset in the partition.
    pub offset: i64,
    /// The record's timestamp (RFC 3339), when it has one.
    pub timestamp: Option<String>,
    /// Key; `null` when the record has none.
    pub key: Option<Payload>,
    /// Value; `null` for a tombstone.
    pub value: Option<Payload>,
    /// Headers, in order.
    pub headers: Vec<MessageHeader>,
}

/// Records of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset still in the partition.
    pub log_start_offset: i64,
    /// Offset the next produced record will get.
    pub high_watermark: i64,
    /// Offset to ask for to read on after this page.
    pub next_offset: i64,
    /// Whether the page stopped before `limit` records because of the byte bound.
    pub truncated: bool,
    /// Records, by offset.
    pub messages: Vec<Message>,
}

/// `bytes` as a payload showing at most `cap` of them: text when they are all valid UTF-8
/// (cut at a character boundary), base64 otherwise.
pub fn payload(bytes: &[u8], cap: usize) -> Payload {
    let size = bytes.len();
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut end = size.min(cap);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            Payload {
                encoding: Encoding::Utf8,
                data: text[..end].to_string(),
                size,
                truncated: end < size,
            }
        }
        Err(_) => {
            let shown = &bytes[..size.min(cap)];
            Payload {
                encoding: Encoding::Base64,
                data: STANDARD.encode(shown),
                size,
                truncated: shown.len() < size,
            }
        }
    }
}

fn shown_bytes(p: &Option<Payload>) -> usize {
    p.as_ref().map_or(0, |p| p.data.len())
}

/// One record as the API shows it.
fn message(record: &Record) -> Message {
    let headers = record
        .headers
        .iter()
        .map(|(k, v)| MessageHeader {
            key: k.to_string(),
            value: v.as_deref().map(|v| payload(v, MAX_FIELD_BYTES)),
        })
        .collect();
    Message {
        offset: record.offset,
        timestamp: (record.timestamp >= 0).then(|| rfc3339(record.timestamp)),
        key: record.key.as_deref().map(|k| payload(k, MAX_FIELD_BYTES)),
        value: record.value.as_deref().map(|v| payload(v, MAX_FIELD_BYTES)),
        headers,
    }
}

/// The bytes a message shows (what [`MAX_RESPONSE_BYTES`] bounds).
fn message_size(m: &Message) -> usize {
    shown_bytes(&m.key)
        + shown_bytes(&m.value)
        + m.headers
            .iter()
            .map(|h| h.key.len() + shown_bytes(&h.value))
            .sum::<usize>()
}

/// Adds `records` to `page` until it holds `limit` messages or the next would take it past
/// `budget` shown bytes (`used` so far). Returns false when the budget stopped it.
fn fill(
    page: &mut Vec<Message>,
    records: &[Record],
    limit: usize,
    used: &mut usize,
    budget: usize,
) -> bool {
    for record in records {
        if page.len() >= limit {
            break;
        }
        let m = message(record);
        let size = message_size(&m);
        if *used + size > budget {
            return false;
        }
        *used += size;
        page.push(m);
    }
    true
}

/// Read recent messages of a topic's partition (bounded: see the limits in the description).
/// Nothing is committed and no consumer group is joined.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}/messages", tag = "topics",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("topic" = String, Path, description = "Topic name"),
           MessageParams),
    responses(
        (status = 200, description = "Up to `limit` records from the offset (at most 1 MiB of keys, values and headers; each shown up to 64 KiB)", body = MessagePage),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cluster, topic or partition", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cluster is not ready", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The cluster failed", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_messages(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id, topic)): Path<(String, String, String)>,
    Query(params): Query<MessageParams>,
) -> Result<Json<MessagePage>> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    validate::range("limit", limit, 1..=MAX_LIMIT)?;
    let partition = params.partition.unwrap_or(0);
    validate::range(
        "partition",
        i64::from(partition),
        0..=i64::from(MAX_TOPIC_PARTITIONS) - 1,
    )?;
    if let Some(offset) = params.offset {
        validate::range("offset", offset, 0..=i64::MAX)?;
    }
    let row = clusters::serving(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::ReadClusterData,
    )
    .await?;
    validate::topic_name(&topic)
        .map_err(|_| ApiError::NotFound(format!("topic {topic} not found")))?;
    let mut admin = state.provisioner.admin(&row.id).await?;
    let bounds = admin.partition_offsets(&topic, partition).await?;
    let start = params
        .offset
        .unwrap_or(bounds.latest - limit)
        .clamp(bounds.earliest, bounds.latest.max(bounds.earliest));

    let limit = usize::try_from(limit).unwrap_or(1);
    let mut messages = Vec::new();
    let mut used = 0;
    let mut next = start;
    let mut high_watermark = bounds.latest;
    let mut truncated = false;
    for _ in 0..MAX_FETCHES {
        if messages.len() >= limit || next >= high_watermark {
            break;
        }
        let fetched = admin
            .fetch_batch(&topic, partition, next, FETCH_BYTES)
            .await?;
        high_watermark = high_watermark.max(fetched.high_watermark);
        let Some(last) = fetched.records.last().map(|r| r.offset) else {
            break;
        };
        let before = messages.len();
        let fits = fill(
            &mut messages,
            &fetched.records,
            limit,
            &mut used,
            MAX_RESPONSE_BYTES,
        );
        next = match messages.last() {
            Some(m) if messages.len() > before => m.offset + 1,
            _ => next,
        };
        if !fits {
            truncated = true;
            break;
        }
        if messages.len() < limit {
            next = last + 1;
        }
    }
    Ok(Json(MessagePage {
        topic,
        partition,
        log_start_offset: bounds.earliest,
        high_watermark,
        next_offset: next,
        truncated,
        messages,
    }))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::records::TimestampType;

    use super::*;

    fn record(offset: i64, value: &[u8]) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: 0,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::copy_from_slice(value)),
            headers: Default::default(),
        }
    }

    #[test]
    fn text_stays_text_and_binary_becomes_base64() {
        let p = payload(b"hello", 10);
        assert_eq!(
            (p.encoding, p.data.as_str(), p.size, p.truncated),
            (Encoding::Utf8, "hello", 5, false)
        );
        let p = payload(&[0xff, 0x00, 0x01], 10);
        assert_eq!(p.encoding, Encoding::Base64);
        assert_eq!(p.data, "/wAB");
        assert!(!p.truncated);
    }

    #[test]
    fn long_payloads_are_cut_at_the_cap_and_marked() {
        let p = payload(b"abcdef", 4);
        assert_eq!((p.data.as_str(), p.size, p.truncated), ("abcd", 6, true));
        // "é" is two bytes; a cut through it keeps the text before it.
        let p = payload("aéb".as_bytes(), 2);
        assert_eq!(
            (p.encoding, p.data.as_str(), p.truncated),
            (Encoding::Utf8, "a", true)
        );
        let p = payload(&[0xff; 10], 4);
        assert_eq!(
            (p.encoding, p.data.as_str(), p.truncated),
            (Encoding::Base64, "/////w==", true)
        );
    }

    #[test]
    fn a_page_stops_at_the_limit_or_before_the_byte_budget() {
        let records: Vec<Record> = (0..10).map(|i| record(i, &[b'x'; 100])).collect();
        let mut page = Vec::new();
        let mut used = 0;
        assert!(fill(&mut page, &records, 3, &mut used, 10_000));
        assert_eq!(page.iter().map(|m| m.offset).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(used, 300);

        let mut page = Vec::new();
        let mut used = 0;
        assert!(!fill(&mut page, &records, 10, &mut used, 450));
        assert_eq!(page.len(), 4);
        assert_eq!(used, 400);
    }
}
