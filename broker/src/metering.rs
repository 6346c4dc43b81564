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
//! - Every broker meters what it serves. All records of a window are appended as ONE record
//!   batch to `__fjord_usage-0` and fsynced — by this broker when it leads that partition,
//!   else by its leader, to which the window is sent as a node-to-node request: a window is
//!   in the log completely or not at all (a torn batch is truncated at restart). A window that
//!   could not be written is kept and sent again, unchanged, before the next one (when only
//!   the answer was lost, the log holds it twice with the same `broker` and `sequence`).
//! - `sequence` increases by one per record of a broker and continues across restarts
//!   (`usage.position` in the data directory, written before a window is sent, holds the next
//!   number and where the next window starts): windows of a broker never overlap and a
//!   consumer can detect a gap.
//! - Storage is metered by the leader of each partition: `bytes_stored` and `partitions`
//!   cover the partitions the broker led at the window's end, so the sum over brokers counts
//!   every partition once, whatever its replication factor.
//! - Graceful shutdown writes the partial window, so a restart loses nothing. A crash
//!   (`kill -9`) loses the counts of the current, unwritten window: at most one interval.
//! - bytes in = record-batch bytes a Produce appended; bytes out = record-batch bytes a Fetch
//!   returned to a consumer (not to replicas); records out counts the records of the batches
//!   returned. Internal topics (`__…`) are not metered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde::{Deserialize, Serialize};

use crate::broker::Broker;
use crate::cluster::rpc::{ClusterRequest, ClusterResponse};
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

/// [`Position`] as stored in `usage.position`.
#[derive(Debug, Serialize, Deserialize)]
struct StoredPosition {
    next_sequence: u64,
    window_start_ms: i64,
}

/// A window that could not be written yet.
#[derive(Debug)]
struct PendingWindow {
    records: Vec<UsageRecord>,
    /// The position after it.
    after: Position,
}

/// Where the writer is.
#[derive(Debug, Default)]
struct WriterState {
    /// `None` until recovered.
    position: Option<Position>,
    pending: Option<PendingWindow>,
}

/// The live counters and the position in `__fjord_usage`.
#[derive(Debug)]
pub struct UsageMeter {
    counters: Mutex<HashMap<Key, Counters>>,
    /// Held while a window is written, so two writers never interleave.
    state: tokio::sync::Mutex<WriterState>,
    /// When the broker opened (the first window's start on an empty usage log).
    opened_ms: i64,
}

impl Default for UsageMeter {
    fn default() -> Self {
        UsageMeter {
            counters: Mutex::new(HashMap::new()),
            state: tokio::sync::Mutex::new(WriterState::default()),
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

/// The file in the data directory holding this broker's usage position (where its next
/// window starts and which sequence number comes next). It is written *before* a window is
/// sent, so a sequence number is never used twice, even across a crash.
const POSITION_FILE: &str = "usage.position";

impl Broker {
    fn position_path(&self) -> std::path::PathBuf {
        self.config.data_dir.join(POSITION_FILE)
    }

    /// Where the next window starts: from `usage.position`, or (a broker upgraded from a
    /// version without it) from this broker's last record in its replica of
    /// `__fjord_usage-0`, or a fresh start.
    fn usage_position(&self, now_ms: i64) -> Result<Position> {
        if let Ok(text) = std::fs::read_to_string(self.position_path()) {
            match serde_json::from_str::<StoredPosition>(&text) {
                Ok(p) => {
                    return Ok(Position {
                        next_sequence: p.next_sequence,
                        window_start_ms: p.window_start_ms,
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable usage.position; recovering it from the usage log")
                }
            }
        }
        let first = Position {
            next_sequence: 0,
            window_start_ms: self.usage.opened_ms.min(now_ms),
        };
        let Some(partition) = self.partition(USAGE_TOPIC, 0) else {
            return Ok(first);
        };
        let (end, start) = {
            let state = partition.lock();
            (state.log.log_end_offset(), state.log.log_start_offset())
        };
        if end <= start {
            // An emptied log that had records continues at its end offset, never at 0.
            return Ok(Position {
                next_sequence: u64::try_from(end).unwrap_or(0),
                ..first
            });
        }
        let bytes = partition.lock().log.read(end - 1, 16 << 20, true)?;
        Ok(match last_record(bytes) {
            Some(last) if last.broker == self.node_id => Position {
                next_sequence: last.sequence + 1,
                window_start_ms: last.window_end_ms,
            },
            _ => first,
        })
    }

    fn store_position(&self, p: Position) -> Result<()> {
        let path = self.position_path();
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec(&StoredPosition {
            next_sequence: p.next_sequence,
            window_start_ms: p.window_start_ms,
        })
        .map_err(|e| Error::Malformed(format!("usage position: {e}")))?;
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| Error::io(format!("failed to write {}", path.display()), e))
    }

    /// The records of the window ending at `now_ms`: traffic since the last window, and the
    /// storage of the partitions this broker leads (so every partition is counted once
    /// across the cluster, whatever its replication factor).
    fn usage_window(&self, position: Position, now_ms: i64) -> (Vec<UsageRecord>, Position) {
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
        let mut traffic: Vec<(Key, Counters)> = taken.into_iter().collect();
        traffic.sort_by(|a, b| {
            (&a.0.tenant, &a.0.principal, &a.0.topic).cmp(&(
                &b.0.tenant,
                &b.0.principal,
                &b.0.topic,
            ))
        });
        let mut records = Vec::new();
        for (k, c) in traffic {
            let mut r = base("traffic", k.topic);
            r.tenant = k.tenant;
            r.principal = Some(k.principal);
            r.bytes_in = c.bytes_in;
            r.records_in = c.records_in;
            r.bytes_out = c.bytes_out;
            r.records_out = c.records_out;
            records.push(next(r));
        }
        for topic in self.topics().into_iter().filter(|t| metered(&t.name)) {
            let led: Vec<_> = topic
                .partitions()
                .into_iter()
                .filter(|p| p.replica().is_leader())
                .collect();
            if led.is_empty() {
                continue;
            }
            let mut r = base("storage", topic.name.clone());
            r.bytes_stored = Some(led.iter().map(|p| p.lock().log.size_bytes()).sum());
            r.partitions = Some(i32::try_from(led.len()).unwrap_or(i32::MAX));
            records.push(next(r));
        }
        let after = Position {
            next_sequence: sequence,
            window_start_ms: window_end_ms,
        };
        (records, after)
    }

    /// Writes the window ending at `now_ms` as one batch to `__fjord_usage-0`: appended
    /// and fsynced here when this broker leads it, else sent to its leader. Returns how many
    /// records were written. A window that could not be written is kept and sent again,
    /// unchanged, before the next one.
    pub async fn write_usage(self: &Arc<Self>, now_ms: i64) -> Result<usize> {
        let mut state = self.usage.state.lock().await;
        let mut written = 0;
        if let Some(pending) = state.pending.take() {
            if let Err(e) = self.deliver_usage(&pending.records, now_ms).await {
                state.pending = Some(pending);
                return Err(e);
            }
            written += pending.records.len();
            state.position = Some(pending.after);
        }
        let position = match state.position {
            Some(p) => p,
            None => {
                let b = self.clone();
                tokio::task::spawn_blocking(move || b.usage_position(now_ms))
                    .await
                    .map_err(|e| {
                        Error::io("usage task failed", std::io::Error::other(e.to_string()))
                    })??
            }
        };
        let (records, after) = self.usage_window(position, now_ms);
        if records.is_empty() {
            // Nothing to bill (no traffic, no partition led yet, e.g. just after a restart):
            // the next window starts where this one did, so windows never leave a gap.
            state.position = Some(position);
            return Ok(written);
        }
        // The sequence numbers are spent before the window is sent: a crash now leaves a
        // visible gap (the window's counts are lost), never a reused number.
        let b = self.clone();
        tokio::task::spawn_blocking(move || b.store_position(after))
            .await
            .map_err(|e| Error::io("usage task failed", std::io::Error::other(e.to_string())))??;
        state.position = Some(position);
        match self.deliver_usage(&records, now_ms).await {
            Ok(()) => {
                state.position = Some(after);
                Ok(written + records.len())
            }
            Err(e) => {
                state.pending = Some(PendingWindow { records, after });
                Err(e)
            }
        }
    }

    async fn deliver_usage(self: &Arc<Self>, records: &[UsageRecord], now_ms: i64) -> Result<()> {
        let leader = self
            .image()
            .topics
            .get(USAGE_TOPIC)
            .and_then(|t| t.partitions.first())
            .map(|p| p.leader);
        match leader {
            Some(leader) if leader == self.node_id => {
                let b = self.clone();
                let records = records.to_vec();
                tokio::task::spawn_blocking(move || b.append_usage(&records, now_ms))
                    .await
                    .map_err(|e| {
                        Error::io("usage task failed", std::io::Error::other(e.to_string()))
                    })?
            }
            Some(leader) if leader >= 0 => {
                let addr = crate::replication::leader_addr(self, &self.image(), leader).ok_or_else(|| {
                    Error::InvalidConfig(format!("the leader of {USAGE_TOPIC}-0 (broker {leader}) has no inter-broker address"))
                })?;
                let request = ClusterRequest::AppendUsage(records.to_vec());
                match self.peers.call(&addr, &request, None).await {
                    Ok(ClusterResponse::Usage(Ok(()))) => Ok(()),
                    Ok(ClusterResponse::Usage(Err(message))) => Err(Error::Malformed(format!(
                        "broker {leader} refused the usage window: {message}"
                    ))),
                    Ok(other) => Err(Error::Malformed(format!(
                        "broker {leader} answered the usage window with {other:?}"
                    ))),
                    Err(e) => Err(Error::Malformed(format!(
                        "could not send the usage window to broker {leader}: {e}"
                    ))),
                }
            }
            _ => Err(Error::InvalidConfig(format!(
                "{USAGE_TOPIC}-0 has no leader"
            ))),
        }
    }

    /// Appends one window as ONE batch to `__fjord_usage-0`, which this broker leads, and
    /// fsyncs it (the leader's side of a window sent by another broker, too).
    pub(crate) fn append_usage(&self, records: &[UsageRecord], now_ms: i64) -> Result<()> {
        let batch = encode(records, now_ms)?;
        let partition = self
            .partition(USAGE_TOPIC, 0)
            .ok_or_else(|| Error::InvalidConfig(format!("{USAGE_TOPIC}-0 is not hosted here")))?;
        partition
            .append_as_leader(&batch, usize::MAX, 1, 1, now_ms)
            .map_err(|e| Error::Malformed(format!("append to {USAGE_TOPIC}: {}", e.message)))?;
        partition.lock().log.flush()?;
        self.data_arrived.notify_waiters();
        Ok(())
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
    }
}
