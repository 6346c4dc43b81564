//! Usage metering for billing: bytes and records in and out per tenant, principal and topic,
//! and bytes stored per topic, appended every `fjord.usage.interval.ms` to the internal topic
//! `__fjord_usage` so that metering is as durable as the data.
//!
//! # Records
//!
//! One Kafka record per (window, tenant, principal, topic) with traffic, and one per topic
//! for storage; key = the tenant (or the principal when it has none), value = JSON
//! ([`UsageRecord`], `"schema": 1`):
//!
//! ```json
//! {"schema":1,"kind":"traffic","sequence":42,"broker":1,"window_start_ms":1700000000000,
//!  "window_end_ms":1700000060000,"tenant":"acme","principal":"User:acme.app",
//!  "topic":"acme.orders","bytes_in":1048576,"records_in":1024,"bytes_out":0,"records_out":0}
//! {"schema":1,"kind":"storage","sequence":43,"broker":1,"window_start_ms":…,
//!  "window_end_ms":…,"topic":"acme.orders","bytes_stored":73400320,"partitions":3}
//! ```
//!
//! # Guarantees
//!
//! - All records of a window are appended as ONE record batch and the partition is fsynced
//!   before the counters are forgotten: a window is in the log completely or not at all (a
//!   torn batch is truncated at restart), and a failed append keeps the counts for the next
//!   window.
//! - `sequence` increases by one per record and continues across restarts (recovered from the
//!   log's last batch, as is the end of the last window, where the next one starts): windows
//!   never overlap and a consumer can detect a gap.
//! - Graceful shutdown writes the partial window, so a restart loses nothing. A crash
//!   (`kill -9`) loses the counts of the current, unwritten window: at most one interval.
//! - bytes in = record-batch bytes a Produce appended; bytes out = record-batch bytes a Fetch
//!   returned to a consumer (not to replicas); records out counts the records of the batches
//!   returned. Internal topics (`__…`) are not metered.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde::{Deserialize, Serialize};

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::log::batch::BatchHeader;
use crate::security::Principal;

/// The internal topic usage records go to.
pub const USAGE_TOPIC: &str = "__fjord_usage";

/// Who used what.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: Option<String>,
    principal: String,
    topic: String,
}

/// Traffic counters of one key in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    bytes_in: u64,
    records_in: u64,
    bytes_out: u64,
    records_out: u64,
}

impl Counters {
    fn add(&mut self, other: Counters) {
        self.bytes_in += other.bytes_in;
        self.records_in += other.records_in;
        self.bytes_out += other.bytes_out;
        self.records_out += other.records_out;
    }
}

/// One usage record as stored in `__fjord_usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Schema version (1).
    pub schema: u32,
    /// `traffic` or `storage`.
    pub kind: String,
    /// Per-broker sequence number, +1 per record, continued across restarts.
    pub sequence: u64,
    /// The broker that metered it.
    pub broker: i32,
    /// Window start (inclusive, ms since the epoch).
    pub window_start_ms: i64,
    /// Window end (exclusive; the next window's start).
    pub window_end_ms: i64,
    /// The principal's tenant (traffic records; none without tenant isolation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// `User:name` (traffic records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The topic.
    pub topic: String,
    /// Record-batch bytes appended by Produce.
    #[serde(default)]
    pub bytes_in: u64,
    /// Records appended.
    #[serde(default)]
    pub records_in: u64,
    /// Record-batch bytes returned to consumers.
    #[serde(default)]
    pub bytes_out: u64,
    /// Records in the batches returned.
    #[serde(default)]
    pub records_out: u64,
    /// Bytes of the topic's partition logs at the window's end (storage records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_stored: Option<u64>,
    /// The topic's partition count (storage records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
}

/// Where the next window starts and which sequence number comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    next_sequence: u64,
    window_start_ms: i64,
}

/// The live counters and the position in `__fjord_usage`.
#[derive(Debug)]
pub struct UsageMeter {
    counters: Mutex<HashMap<Key, Counters>>,
    /// Held while a window is written, so two writers never interleave.
    position: Mutex<Option<Position>>,
    /// When the broker opened (the first window's start on an empty usage log).
    opened_ms: i64,
}

impl Default for UsageMeter {
    fn default() -> Self {
        UsageMeter {
            counters: Mutex::new(HashMap::new()),
            position: Mutex::new(None),
            opened_ms: crate::now_ms(),
        }
    }
}

fn metered(topic: &str) -> bool {
    !topic.starts_with("__")
}

/// Records in a run of stored batches (headers only, no CRC check: they were checked when
/// appended).
pub fn count_records(mut batches: &[u8]) -> u64 {
    let mut n = 0;
    while let Ok(h) = BatchHeader::parse(batches) {
        n += u64::try_from(h.last_offset_delta).unwrap_or(0) + 1;
        match batches.get(h.total_size()..) {
            Some(rest) => batches = rest,
            None => break,
        }
    }
    n
}

impl UsageMeter {
    fn add(&self, principal: &Principal, topic: &str, c: Counters) {
        if !metered(topic) {
            return;
        }
        let key = Key {
            tenant: principal.tenant.clone(),
            principal: principal.to_string(),
            topic: topic.to_string(),
        };
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .add(c);
    }

    /// Counts what one Produce appended to one topic.
    pub fn produced(&self, principal: &Principal, topic: &str, bytes: u64, records: u64) {
        if bytes > 0 {
            self.add(
                principal,
                topic,
                Counters {
                    bytes_in: bytes,
                    records_in: records,
                    ..Counters::default()
                },
            );
        }
    }

    /// Counts what one Fetch returned from one topic to a consumer.
    pub fn fetched(&self, principal: &Principal, topic: &str, bytes: u64, records: u64) {
        if bytes > 0 {
            self.add(
                principal,
                topic,
                Counters {
                    bytes_out: bytes,
                    records_out: records,
                    ..Counters::default()
                },
            );
        }
    }

    fn take(&self) -> HashMap<Key, Counters> {
        std::mem::take(&mut *self.counters.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn put_back(&self, taken: HashMap<Key, Counters>) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        for (k, c) in taken {
            counters.entry(k).or_default().add(c);
        }
    }
}

/// Reads the last usage record in `batches` (the tail of the log).
fn last_record(mut batches: Bytes) -> Option<UsageRecord> {
    let mut last = None;
    while !batches.is_empty() {
        let Ok(set) = RecordBatchDecoder::decode(&mut batches) else {
            break;
        };
        for r in set.records {
            if let Some(v) = r
                .value
                .as_ref()
                .and_then(|v| serde_json::from_slice(v).ok())
            {
                last = Some(v);
            }
        }
    }
    last
}

/// Encodes one window's records as one batch.
fn encode(records: &[UsageRecord], now_ms: i64) -> Result<BytesMut> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let key = u
                .tenant
                .clone()
                .or_else(|| u.principal.clone())
                .unwrap_or_else(|| u.topic.clone());
            Ok(Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // Contiguous sequences keep kafka-protocol's encoder from starting a new batch
                // per record: a window must be ONE batch to be appended all-or-nothing.
                sequence: i32::try_from(i).unwrap_or(i32::MAX),
                timestamp: now_ms,
                key: Some(Bytes::from(key)),
                value: Some(Bytes::from(
                    serde_json::to_vec(u)
                        .map_err(|e| Error::Malformed(format!("usage record: {e}")))?,
                )),
                headers: Default::default(),
                delete_horizon: false,
            })
        })
        .collect::<Result<_>>()?;
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| Error::Malformed(format!("usage batch: {e}")))?;
    Ok(buf)
}

impl Broker {
    /// Where the next window starts: recovered once from the end of `__fjord_usage`.
    fn usage_position(&self, now_ms: i64) -> Result<Position> {
        let partition = self
            .partition(USAGE_TOPIC, 0)
            .ok_or_else(|| Error::InvalidConfig(format!("{USAGE_TOPIC} is missing")))?;
        let (end, start) = {
            let state = partition.lock();
            (state.log.log_end_offset(), state.log.log_start_offset())
        };
        // The very first window starts when the broker did. An empty log that had records
        // continues at its end offset (one sequence number per record), never at 0 again.
        let first = Position {
            next_sequence: u64::try_from(end).unwrap_or(0),
            window_start_ms: self.usage.opened_ms.min(now_ms),
        };
        if end <= start {
            return Ok(first);
        }
        let bytes = partition.lock().log.read(end - 1, 16 << 20, true)?;
        Ok(match last_record(bytes) {
            Some(last) => Position {
                next_sequence: last.sequence + 1,
                window_start_ms: last.window_end_ms,
            },
            None => first,
        })
    }

    /// Writes the window ending at `now_ms`: traffic since the last window and the storage of
    /// every topic, as one batch, fsynced. Returns how many records were written. On failure
    /// the counts stay for the next attempt.
    pub fn write_usage(&self, now_ms: i64) -> Result<usize> {
        let mut guard = self
            .usage
            .position
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let position = match *guard {
            Some(p) => p,
            None => self.usage_position(now_ms)?,
        };
        let window_end_ms = now_ms.max(position.window_start_ms);
        let taken = self.usage.take();
        let mut sequence = position.next_sequence;
        let mut next = |mut r: UsageRecord| {
            r.sequence = sequence;
            sequence += 1;
            r
        };
        let base = |kind: &str, topic: String| UsageRecord {
            schema: 1,
            kind: kind.into(),
            sequence: 0,
            broker: self.node_id,
            window_start_ms: position.window_start_ms,
            window_end_ms,
            tenant: None,
            principal: None,
            topic,
            bytes_in: 0,
            records_in: 0,
            bytes_out: 0,
            records_out: 0,
            bytes_stored: None,
            partitions: None,
        };
        let mut traffic: Vec<(&Key, &Counters)> = taken.iter().collect();
        traffic.sort_by(|a, b| {
            (&a.0.tenant, &a.0.principal, &a.0.topic).cmp(&(
                &b.0.tenant,
                &b.0.principal,
                &b.0.topic,
            ))
        });
        let mut records = Vec::new();
        for (k, c) in traffic {
            let mut r = base("traffic", k.topic.clone());
            r.tenant = k.tenant.clone();
            r.principal = Some(k.principal.clone());
            r.bytes_in = c.bytes_in;
            r.records_in = c.records_in;
            r.bytes_out = c.bytes_out;
            r.records_out = c.records_out;
            records.push(next(r));
        }
        for topic in self.topics().into_iter().filter(|t| metered(&t.name)) {
            let mut r = base("storage", topic.name.clone());
            r.bytes_stored = Some(
                topic
                    .partitions()
                    .iter()
                    .map(|p| p.lock().log.size_bytes())
                    .sum(),
            );
            r.partitions = Some(topic.partition_count());
            records.push(next(r));
        }
        if records.is_empty() {
            *guard = Some(Position {
                next_sequence: sequence,
                window_start_ms: window_end_ms,
            });
            return Ok(0);
        }
        let written = (|| {
            let batch = encode(&records, now_ms)?;
            let partition = self
                .partition(USAGE_TOPIC, 0)
                .ok_or_else(|| Error::InvalidConfig(format!("{USAGE_TOPIC} is missing")))?;
            partition
                .append_as_leader(&batch, usize::MAX, 1, 1, now_ms)
                .map_err(|e| Error::Malformed(format!("append to {USAGE_TOPIC}: {}", e.message)))?;
            partition.lock().log.flush()
        })();
        match written {
            Ok(()) => {
                *guard = Some(Position {
                    next_sequence: sequence,
                    window_start_ms: window_end_ms,
                });
                self.data_arrived.notify_waiters();
                Ok(records.len())
            }
            Err(e) => {
                self.usage.put_back(taken);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_the_last_one_is_found() {
        let r = |seq: u64| UsageRecord {
            schema: 1,
            kind: "traffic".into(),
            sequence: seq,
            broker: 1,
            window_start_ms: 0,
            window_end_ms: 60_000,
            tenant: Some("acme".into()),
            principal: Some("User:acme.app".into()),
            topic: "acme.t".into(),
            bytes_in: 10,
            records_in: 1,
            bytes_out: 0,
            records_out: 0,
            bytes_stored: None,
            partitions: None,
        };
        let batch = encode(&[r(7), r(8), r(9)], 1).unwrap();
        assert_eq!(count_records(&batch), 3);
        let header = BatchHeader::parse(&batch).unwrap();
        assert_eq!(header.total_size(), batch.len(), "a window is one batch");
        assert_eq!(header.last_offset_delta, 2);
        let batch = encode(&[r(7), r(8)], 1).unwrap();
        let mut two = batch.clone();
        two.extend_from_slice(&encode(&[r(9)], 2).unwrap());
        assert_eq!(count_records(&two), 3);
        assert_eq!(last_record(two.freeze()).unwrap().sequence, 9);
        let json = serde_json::to_value(r(1)).unwrap();
        assert!(
            json.get("bytes_stored").is_none(),
            "storage fields left out: {json}"
        );
        assert_eq!(json["tenant"], "acme");
    }

    #[test]
    fn counters_add_up_per_key_and_skip_internal_topics() {
        let m = UsageMeter::default();
        let p = Principal::tenant_user("acme.app");
        m.produced(&p, "acme.t", 100, 2);
        m.produced(&p, "acme.t", 50, 1);
        m.fetched(&p, "acme.t", 120, 3);
        m.produced(&p, "__consumer_offsets", 999, 9);
        m.fetched(&p, "acme.t", 0, 0);
        let taken = m.take();
        assert_eq!(taken.len(), 1);
        let c = taken.values().next().unwrap();
        assert_eq!(
            *c,
            Counters {
                bytes_in: 150,
                records_in: 3,
                bytes_out: 120,
                records_out: 3
            }
        );
        assert!(m.take().is_empty(), "taken counters start again from zero");
        m.put_back(taken);
        assert_eq!(m.take().len(), 1, "a failed write keeps the counts");
    }
}
