//! Prometheus metrics of the broker, served at `GET /metrics` by [`crate::http`].
//!
//! Two kinds:
//!
//! - **Live metrics** ([`Metrics`], held in [`Broker`]): counters, gauges and a histogram
//!   updated on the request path — requests, errors and latency per API (recorded once in
//!   [`crate::router`]), bytes and records per topic and principal (Produce and Fetch), and
//!   connections per listener.
//! - **Scrape-time gauges**: computed from the broker's state when `/metrics` is read — topics,
//!   partitions, log size per topic, under-replicated partitions, consumer groups, failed
//!   authentications. They cost nothing between scrapes.
//!
//! Hot-path cost: one label lookup (a read lock and a hash) per request for the request
//! counters and the histogram, one per topic of a Produce or Fetch for the traffic counters;
//! nothing per record. Label values of APIs and error codes are written only when scraped.
//!
//! Output is the OpenMetrics text format ([`CONTENT_TYPE`]), which Prometheus scrapes natively.
//! Counter names end in `_total` there; the registered name is without it.

use std::fmt::{self, Write};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder, text};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::broker::Broker;
use crate::quota::QuotaType;
use crate::security::Principal;

/// Content type of [`Broker::metrics_text`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the request-latency buckets, in seconds. A Fetch long-poll waits up to its
/// `max_wait_ms` (capped at 30 s) and is timed with the wait, as Kafka's `TotalTimeMs` is.
const LATENCY_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// An API as a label value: its Kafka name (`Produce`, `Fetch`, …); `Unknown` for an API key
/// this broker does not know (one value, so a client cannot create a series per key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Api(Option<ApiKey>);

impl EncodeLabelValue for Api {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(encoder, "{key:?}"),
            None => encoder.write_str("Unknown"),
        }
    }
}

/// A Kafka error code as a label value, named as Kafka names it (`UNKNOWN_TOPIC_OR_PARTITION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ErrorName(i16);

impl EncodeLabelValue for ErrorName {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        match ResponseError::try_from_code(self.0) {
            None => encoder.write_str("NONE"),
            Some(ResponseError::Unknown(code)) => write!(encoder, "CODE_{code}"),
            Some(e) => write!(UpperSnake::new(encoder), "{e}"),
        }
    }
}

/// Writes `CamelCase` as `CAMEL_CASE`.
struct UpperSnake<W> {
    out: W,
    first: bool,
}

impl<W> UpperSnake<W> {
    fn new(out: W) -> Self {
        UpperSnake { out, first: true }
    }
}

impl<W: Write> Write for UpperSnake<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if c.is_ascii_uppercase() && !self.first {
                self.out.write_char('_')?;
            }
            self.first = false;
            self.out.write_char(c.to_ascii_uppercase())?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    api: Api,
    version: i16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApiLabels {
    api: Api,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    api: Api,
    error: ErrorName,
}

/// Traffic is counted per topic, principal and tenant (empty without tenant isolation): the
/// dimensions metering bills by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TrafficLabels {
    topic: String,
    principal: String,
    tenant: String,
}

/// Throttles are counted per quota type and principal (who was slowed, and by which quota).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ThrottleLabels {
    quota: &'static str,
    principal: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The broker's live metrics (see the module docs for what is computed at scrape time).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_errors: Family<ErrorLabels, Counter>,
    request_duration: Family<ApiLabels, Histogram, fn() -> Histogram>,
    bytes_in: Family<TrafficLabels, Counter>,
    bytes_out: Family<TrafficLabels, Counter>,
    records_in: Family<TrafficLabels, Counter>,
    records_out: Family<TrafficLabels, Counter>,
    connections: Family<ListenerLabels, Gauge>,
    connections_accepted: Family<ListenerLabels, Counter>,
    connections_refused: Family<ListenerLabels, Counter>,
    throttled_requests: Family<ThrottleLabels, Counter>,
    throttle_time: Family<ThrottleLabels, Counter<f64, AtomicU64>>,
    cleaner_runs: Counter,
    cleaner_bytes_read: Counter,
    cleaner_bytes_written: Counter,
    cleaner_records_removed: Counter,
    cleaner_seconds: Counter<f64, AtomicU64>,
    transactions_committed: Counter,
    transactions_aborted: Counter,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every live metric, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::default();
        registry.register(
            "fjord_requests",
            "Kafka requests served, by API and version",
            Family::clone(&requests),
        );
        let request_errors = Family::default();
        registry.register(
            "fjord_request_errors",
            "Kafka error codes returned, by API and error (top-level and per partition, topic, group or resource)",
            Family::clone(&request_errors),
        );
        let request_duration: Family<ApiLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "fjord_request_duration",
            "Time from a decoded request to its response, Fetch long-poll waits included",
            Unit::Seconds,
            Family::clone(&request_duration),
        );
        let bytes_in = Family::default();
        registry.register(
            "fjord_bytes_in",
            "Record-batch bytes appended by Produce, by topic and principal",
            Family::clone(&bytes_in),
        );
        let bytes_out = Family::default();
        registry.register(
            "fjord_bytes_out",
            "Record-batch bytes returned by Fetch to consumers (not replicas), by topic and principal",
            Family::clone(&bytes_out),
        );
        let records_in = Family::default();
        registry.register(
            "fjord_records_in",
            "Records appended by Produce, by topic and principal",
            Family::clone(&records_in),
        );
        let records_out = Family::default();
        registry.register(
            "fjord_records_out",
            "Records in the batches Fetch returned to consumers, by topic and principal",
            Family::clone(&records_out),
        );
        let connections = Family::default();
        registry.register(
            "fjord_connections",
            "Open client connections, by listener",
            Family::clone(&connections),
        );
        // Not `fjord_connections_total`: in OpenMetrics that counter's family name would be
        // `fjord_connections`, the gauge's.
        let connections_accepted = Family::default();
        registry.register(
            "fjord_connections_accepted",
            "Client connections accepted since start, by listener",
            Family::clone(&connections_accepted),
        );
        let connections_refused = Family::default();
        registry.register(
            "fjord_connections_refused",
            "Client connections closed at accept because max.connections were open, by listener",
            Family::clone(&connections_refused),
        );
        let throttled_requests = Family::default();
        registry.register(
            "fjord_throttled_requests",
            "Responses that carried a throttle time because a client quota was exceeded, by quota (produce, fetch, request) and principal",
            Family::clone(&throttled_requests),
        );
        let throttle_time: Family<ThrottleLabels, Counter<f64, AtomicU64>> = Family::default();
        registry.register_with_unit(
            "fjord_throttle_time",
            "Throttle time handed to clients over their quota (the channel is muted that long), by quota and principal",
            Unit::Seconds,
            Family::clone(&throttle_time),
        );
        let cleaner_runs = Counter::default();
        registry.register(
            "fjord_log_cleaner_runs",
            "Partition cleanings (compaction) completed",
            cleaner_runs.clone(),
        );
        let cleaner_bytes_read = Counter::default();
        registry.register_with_unit(
            "fjord_log_cleaner_read",
            "Bytes the log cleaner read",
            Unit::Bytes,
            cleaner_bytes_read.clone(),
        );
        let cleaner_bytes_written = Counter::default();
        registry.register_with_unit(
            "fjord_log_cleaner_written",
            "Bytes the log cleaner wrote into cleaned segments",
            Unit::Bytes,
            cleaner_bytes_written.clone(),
        );
        let cleaner_records_removed = Counter::default();
        registry.register(
            "fjord_log_cleaner_records_removed",
            "Records compaction removed (superseded by a later record of their key, or expired tombstones)",
            cleaner_records_removed.clone(),
        );
        let cleaner_seconds: Counter<f64, AtomicU64> = Counter::default();
        registry.register_with_unit(
            "fjord_log_cleaner_time",
            "Time spent cleaning, throttling included",
            Unit::Seconds,
            cleaner_seconds.clone(),
        );
        let transactions_committed = Counter::default();
        registry.register(
            "fjord_transactions_committed",
            "Transactions this broker's coordinator decided to commit",
            transactions_committed.clone(),
        );
        let transactions_aborted = Counter::default();
        registry.register(
            "fjord_transactions_aborted",
            "Transactions this broker's coordinator aborted (EndTxn(abort), timeouts and fenced producers)",
            transactions_aborted.clone(),
        );
        Metrics {
            registry,
            transactions_committed,
            transactions_aborted,
            cleaner_runs,
            cleaner_bytes_read,
            cleaner_bytes_written,
            cleaner_records_removed,
            cleaner_seconds,
            connections_refused,
            throttled_requests,
            throttle_time,
            requests,
            request_errors,
            request_duration,
            bytes_in,
            bytes_out,
            records_in,
            records_out,
            connections,
            connections_accepted,
        }
    }

    /// Counts a served request, its latency and every error code in its response.
    pub(crate) fn observe_request(
        &self,
        key: ApiKey,
        version: i16,
        elapsed: Duration,
        response: &ResponseKind,
    ) {
        let api = Api(Some(key));
        self.requests
            .get_or_create(&RequestLabels { api, version })
            .inc();
        self.request_duration
            .get_or_create(&ApiLabels { api })
            .observe(elapsed.as_secs_f64());
        each_error_code(response, |code| self.count_error(api, code));
    }

    /// Counts a request refused with UNSUPPORTED_VERSION (unknown API or version).
    pub(crate) fn unsupported_version(&self, key: Option<ApiKey>) {
        self.count_error(Api(key), ResponseError::UnsupportedVersion.code());
    }

    fn count_error(&self, api: Api, code: i16) {
        if code != 0 {
            self.request_errors
                .get_or_create(&ErrorLabels {
                    api,
                    error: ErrorName(code),
                })
                .inc();
        }
    }

    /// Counts what one Produce appended to one topic (duplicates of idempotent retries are not
    /// appended, so not counted).
    /// Counts a completed cleaning.
    pub(crate) fn log_cleaned(&self, stats: &crate::log::CleanStats, elapsed: Duration) {
        self.cleaner_runs.inc();
        self.cleaner_bytes_read.inc_by(stats.bytes_read);
        self.cleaner_bytes_written.inc_by(stats.bytes_written);
        self.cleaner_records_removed
            .inc_by(stats.records_read.saturating_sub(stats.records_kept));
        self.cleaner_seconds.inc_by(elapsed.as_secs_f64());
    }

    pub(crate) fn transaction_ended(&self, committed: bool) {
        if committed {
            self.transactions_committed.inc();
        } else {
            self.transactions_aborted.inc();
        }
    }

    pub(crate) fn produced(&self, topic: &str, principal: &Principal, bytes: u64, records: u64) {
        if bytes == 0 {
            return;
        }
        let labels = traffic_labels(topic, principal);
        self.bytes_in.get_or_create(&labels).inc_by(bytes);
        self.records_in.get_or_create(&labels).inc_by(records);
    }

    /// Counts what one Fetch returned from one topic to a consumer.
    pub(crate) fn fetched(&self, topic: &str, principal: &Principal, bytes: u64, records: u64) {
        if bytes == 0 {
            return;
        }
        let labels = traffic_labels(topic, principal);
        self.bytes_out.get_or_create(&labels).inc_by(bytes);
        self.records_out.get_or_create(&labels).inc_by(records);
    }

    /// Counts a throttle of `throttle_ms` handed to `principal` for `quota`.
    pub(crate) fn throttled(&self, quota: QuotaType, principal: &Principal, throttle_ms: i64) {
        let labels = ThrottleLabels {
            quota: quota.label(),
            principal: principal.to_string(),
        };
        self.throttled_requests.get_or_create(&labels).inc();
        self.throttle_time
            .get_or_create(&labels)
            .inc_by(throttle_ms as f64 / 1000.0);
    }

    /// Counts a connection closed at accept because `max.connections` were open.
    pub(crate) fn connection_refused(&self, listener: &str) {
        self.connections_refused
            .get_or_create(&ListenerLabels {
                listener: listener.to_string(),
            })
            .inc();
    }

    /// Counts an accepted connection; it is open until the guard is dropped.
    pub(crate) fn connection_opened(&self, listener: &str) -> ConnectionGuard {
        let labels = ListenerLabels {
            listener: listener.to_string(),
        };
        self.connections_accepted.get_or_create(&labels).inc();
        let open = self.connections.get_or_create_owned(&labels);
        open.inc();
        ConnectionGuard(open)
    }
}

fn traffic_labels(topic: &str, principal: &Principal) -> TrafficLabels {
    TrafficLabels {
        topic: topic.to_string(),
        principal: principal.to_string(),
        tenant: principal.tenant.clone().unwrap_or_default(),
    }
}

/// Holds one open connection in `fjord_connections`; dropping it closes it there.
#[derive(Debug)]
pub(crate) struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Broker {
    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]): the live ones and the
    /// gauges computed now from the broker's state. Locks each partition briefly to read its
    /// size, so call it off the async workers (`spawn_blocking`).
    pub fn metrics_text(&self) -> Result<String, fmt::Error> {
        let scraped = self.scrape_registry();
        let mut out = String::with_capacity(8 * 1024);
        text::encode_registry(&mut out, &self.metrics.registry)?;
        text::encode_registry(&mut out, &scraped)?;
        text::encode_eof(&mut out)?;
        Ok(out)
    }

    /// A registry holding the gauges computed at scrape time.
    fn scrape_registry(&self) -> Registry {
        let mut registry = Registry::default();
        let log_size: Family<TopicLabels, Gauge> = Family::default();
        let topics = self.topics();
        let mut partitions = 0i64;
        for topic in &topics {
            let parts = topic.partitions();
            partitions += parts.len() as i64;
            let bytes: u64 = parts.iter().map(|p| p.lock().log.size_bytes()).sum();
            log_size
                .get_or_create(&TopicLabels {
                    topic: topic.name.clone(),
                })
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        registry.register(
            "fjord_topics",
            "Topics on this broker, internal ones included",
            ConstGauge::new(topics.len() as i64),
        );
        registry.register(
            "fjord_partitions",
            "Partitions on this broker, internal ones included",
            ConstGauge::new(partitions),
        );
        // Kafka's per-broker UnderReplicatedPartitions: partitions this broker leads whose ISR
        // is smaller than their replica set (the operator rolls brokers only at 0).
        let image = self.image();
        registry.register(
            "fjord_under_replicated_partitions",
            "Partitions led by this broker whose in-sync replicas are fewer than their replicas",
            ConstGauge::new(image.under_replicated(Some(self.node_id)) as i64),
        );
        registry.register(
            "fjord_leader_partitions",
            "Partitions this broker leads",
            ConstGauge::new(
                image
                    .partitions_of(self.node_id)
                    .filter(|(_, p)| p.leader == self.node_id)
                    .count() as i64,
            ),
        );
        registry.register(
            "fjord_offline_partitions",
            "Partitions of the cluster without a leader",
            ConstGauge::new(
                image
                    .topics
                    .values()
                    .flat_map(|t| &t.partitions)
                    .filter(|p| p.leader == crate::cluster::records::NO_LEADER)
                    .count() as i64,
            ),
        );
        registry.register(
            "fjord_active_controller",
            "1 on the node that is the metadata quorum's active controller",
            ConstGauge::new(i64::from(self.quorum.is_leader())),
        );
        registry.register(
            "fjord_metadata_published_index",
            "Index of the metadata log entry this broker's local state reflects",
            ConstGauge::new(i64::try_from(*self.published.borrow()).unwrap_or(i64::MAX)),
        );
        registry.register(
            "fjord_broker_unfenced",
            "1 while the controller lets this broker serve (registered, caught up, not shutting down)",
            ConstGauge::new(i64::from(self.lifecycle() == crate::broker::Lifecycle::Running)),
        );
        registry.register_with_unit(
            "fjord_log_size",
            "Bytes in segment files, by topic (sum over its partitions)",
            Unit::Bytes,
            log_size,
        );
        registry.register(
            "fjord_consumer_groups",
            "Consumer groups known to the group coordinator",
            ConstGauge::new(self.groups.list().len() as i64),
        );
        registry.register(
            "fjord_consumer_protocol_members",
            "Members of consumer-protocol (KIP-848) groups coordinated here",
            ConstGauge::new(
                i64::try_from(self.groups.consumer_protocol_members()).unwrap_or(i64::MAX),
            ),
        );
        registry.register(
            "fjord_failed_authentications",
            "Failed SASL authentications since start",
            ConstCounter::new(
                self.failed_authentications
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        );
        registry
    }
}

/// Calls `f` with every error code of a response: top-level, and per partition, topic, group
/// or resource where the response has them (zeros included; the caller skips them).
fn each_error_code(response: &ResponseKind, mut f: impl FnMut(i16)) {
    use ResponseKind as R;
    match response {
        R::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .for_each(|p| f(p.error_code)),
        R::Fetch(r) => {
            f(r.error_code);
            r.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| f(p.error_code));
        }
        R::ListOffsets(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| f(p.error_code)),
        R::Metadata(r) => r.topics.iter().for_each(|t| {
            f(t.error_code);
            t.partitions.iter().for_each(|p| f(p.error_code));
        }),
        R::OffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| f(p.error_code)),
        R::OffsetFetch(r) => {
            f(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| f(p.error_code));
            r.groups.iter().for_each(|g| {
                f(g.error_code);
                g.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .for_each(|p| f(p.error_code));
            });
        }
        R::FindCoordinator(r) => {
            f(r.error_code);
            r.coordinators.iter().for_each(|c| f(c.error_code));
        }
        R::JoinGroup(r) => f(r.error_code),
        R::Heartbeat(r) => f(r.error_code),
        R::LeaveGroup(r) => {
            f(r.error_code);
            r.members.iter().for_each(|m| f(m.error_code));
        }
        R::SyncGroup(r) => f(r.error_code),
        R::DescribeGroups(r) => r.groups.iter().for_each(|g| f(g.error_code)),
        R::ListGroups(r) => f(r.error_code),
        R::ConsumerGroupHeartbeat(r) => f(r.error_code),
        R::ConsumerGroupDescribe(r) => r.groups.iter().for_each(|g| f(g.error_code)),
        R::SaslHandshake(r) => f(r.error_code),
        R::ApiVersions(r) => f(r.error_code),
        R::CreateTopics(r) => r.topics.iter().for_each(|t| f(t.error_code)),
        R::DeleteTopics(r) => r.responses.iter().for_each(|t| f(t.error_code)),
        R::DeleteRecords(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| f(p.error_code)),
        R::InitProducerId(r) => f(r.error_code),
        R::DescribeConfigs(r) => r.results.iter().for_each(|c| f(c.error_code)),
        R::AlterConfigs(r) => r.responses.iter().for_each(|c| f(c.error_code)),
        R::IncrementalAlterConfigs(r) => r.responses.iter().for_each(|c| f(c.error_code)),
        R::CreatePartitions(r) => r.results.iter().for_each(|t| f(t.error_code)),
        R::DeleteGroups(r) => r.results.iter().for_each(|g| f(g.error_code)),
        R::OffsetDelete(r) => {
            f(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| f(p.error_code));
        }
        R::DescribeCluster(r) => f(r.error_code),
        R::SaslAuthenticate(r) => f(r.error_code),
        R::DescribeUserScramCredentials(r) => {
            f(r.error_code);
            r.results.iter().for_each(|u| f(u.error_code));
        }
        R::AlterUserScramCredentials(r) => r.results.iter().for_each(|u| f(u.error_code)),
        R::DescribeClientQuotas(r) => f(r.error_code),
        R::AlterClientQuotas(r) => r.entries.iter().for_each(|e| f(e.error_code)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::BytesMut;
    use kafka_protocol::messages::ProduceResponse;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;
    use crate::config::BrokerConfig;

    fn live_text(m: &Metrics) -> String {
        let mut out = String::new();
        text::encode(&mut out, &m.registry).unwrap();
        out
    }

    fn produce_response(codes: &[i16]) -> ResponseKind {
        let mut topic = TopicProduceResponse::default();
        for &code in codes {
            let mut p = PartitionProduceResponse::default();
            p.error_code = code;
            topic.partition_responses.push(p);
        }
        let mut resp = ProduceResponse::default();
        resp.responses.push(topic);
        ResponseKind::Produce(resp)
    }

    #[test]
    fn requests_latency_and_error_codes_are_counted_per_api() {
        let m = Metrics::new();
        let unknown_topic = ResponseError::UnknownTopicOrPartition.code();
        m.observe_request(
            ApiKey::Produce,
            9,
            Duration::from_millis(2),
            &produce_response(&[0, unknown_topic, unknown_topic]),
        );
        m.observe_request(
            ApiKey::Produce,
            9,
            Duration::from_millis(40),
            &produce_response(&[0]),
        );
        m.unsupported_version(None);
        m.unsupported_version(Some(ApiKey::ApiVersions));
        let text = live_text(&m);
        for line in [
            r#"fjord_requests_total{api="Produce",version="9"} 2"#,
            r#"fjord_request_errors_total{api="Produce",error="UNKNOWN_TOPIC_OR_PARTITION"} 2"#,
            r#"fjord_request_errors_total{api="Unknown",error="UNSUPPORTED_VERSION"} 1"#,
            r#"fjord_request_errors_total{api="ApiVersions",error="UNSUPPORTED_VERSION"} 1"#,
            r#"fjord_request_duration_seconds_count{api="Produce"} 2"#,
            "# UNIT fjord_request_duration_seconds seconds",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(
            !text.contains("NONE"),
            "no-error codes are not counted:\n{text}"
        );
        let bucket = |le: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("fjord_request_duration_seconds_bucket")
                        && l.contains(&format!("le=\"{le}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        assert_eq!(bucket("0.0025"), Some(1), "{text}");
        assert_eq!(bucket("0.05"), Some(2), "{text}");
    }

    #[test]
    fn error_names_are_kafkas_upper_snake_case() {
        let name = |code: i16| {
            let mut out = String::new();
            match ResponseError::try_from_code(code) {
                Some(ResponseError::Unknown(c)) => write!(out, "CODE_{c}").unwrap(),
                Some(e) => write!(UpperSnake::new(&mut out), "{e}").unwrap(),
                None => out.push_str("NONE"),
            }
            out
        };
        assert_eq!(
            name(ResponseError::SaslAuthenticationFailed.code()),
            "SASL_AUTHENTICATION_FAILED"
        );
        assert_eq!(
            name(ResponseError::OffsetOutOfRange.code()),
            "OFFSET_OUT_OF_RANGE"
        );
        assert_eq!(name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(name(0), "NONE");
        assert_eq!(name(31_000), "CODE_31000");
    }

    #[test]
    fn traffic_is_counted_per_topic_and_principal_and_empty_traffic_makes_no_series() {
        let m = Metrics::new();
        let alice = Principal::user("alice");
        m.produced("orders", &alice, 100, 3);
        m.produced("orders", &alice, 50, 1);
        m.produced("orders", &Principal::user("bob"), 0, 0);
        m.fetched("orders", &Principal::anonymous(), 120, 5);
        m.fetched("orders", &alice, 0, 0);
        m.produced("acme.t", &Principal::tenant_user("acme.app"), 10, 1);
        let text = live_text(&m);
        for line in [
            r#"fjord_bytes_in_total{topic="orders",principal="User:alice",tenant=""} 150"#,
            r#"fjord_records_in_total{topic="orders",principal="User:alice",tenant=""} 4"#,
            r#"fjord_bytes_out_total{topic="orders",principal="User:ANONYMOUS",tenant=""} 120"#,
            r#"fjord_records_out_total{topic="orders",principal="User:ANONYMOUS",tenant=""} 5"#,
            r#"fjord_bytes_in_total{topic="acme.t",principal="User:acme.app",tenant="acme"} 10"#,
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("User:bob"), "{text}");
        assert!(
            !text.contains(r#"fjord_bytes_out_total{topic="orders",principal="User:alice","#),
            "{text}"
        );
    }

    #[test]
    fn throttles_are_counted_per_quota_and_principal() {
        let m = Metrics::new();
        let alice = Principal::user("alice");
        m.throttled(QuotaType::Produce, &alice, 250);
        m.throttled(QuotaType::Produce, &alice, 500);
        m.throttled(QuotaType::Request, &Principal::anonymous(), 1000);
        let text = live_text(&m);
        for line in [
            r#"fjord_throttled_requests_total{quota="produce",principal="User:alice"} 2"#,
            r#"fjord_throttle_time_seconds_total{quota="produce",principal="User:alice"} 0.75"#,
            r#"fjord_throttle_time_seconds_total{quota="request",principal="User:ANONYMOUS"} 1.0"#,
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn a_connection_is_open_until_its_guard_drops() {
        let m = Metrics::new();
        let first = m.connection_opened("PLAINTEXT");
        let second = m.connection_opened("PLAINTEXT");
        drop(first);
        let text = live_text(&m);
        assert!(
            text.contains(r#"fjord_connections{listener="PLAINTEXT"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"fjord_connections_accepted_total{listener="PLAINTEXT"} 2"#),
            "{text}"
        );
        drop(second);
        let text = live_text(&m);
        assert!(
            text.contains(r#"fjord_connections{listener="PLAINTEXT"} 0"#),
            "{text}"
        );
    }

    fn batch(values: &[&str]) -> Vec<u8> {
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: -1,
                timestamp: 1,
                key: None,
                value: Some(bytes::Bytes::copy_from_slice(v.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.to_vec()
    }

    #[tokio::test]
    async fn scrape_time_gauges_follow_the_broker_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BTreeMap::new();
        config.insert("log.dirs".to_string(), dir.path().display().to_string());
        let broker = Broker::open_ready(BrokerConfig::from_map(config).unwrap())
            .await
            .unwrap();
        broker
            .create_topic("orders", 2, 1, None, BTreeMap::new(), false)
            .await
            .unwrap();
        let records = batch(&["a", "b", "c"]);
        let outcome = broker
            .partition("orders", 0)
            .unwrap()
            .append_records(&records, 1 << 20, 1)
            .unwrap();
        assert_eq!(outcome.appended_records, 3);
        broker
            .failed_authentications
            .fetch_add(2, std::sync::atomic::Ordering::Relaxed);
        broker.metrics.observe_request(
            ApiKey::Produce,
            9,
            Duration::from_millis(1),
            &produce_response(&[0]),
        );
        let text = broker.metrics_text().unwrap();
        for line in [
            // `orders` (2 partitions), `__consumer_offsets`, `__transaction_state` and
            // `__fjord_usage` (one partition each here).
            "fjord_topics 4",
            "fjord_partitions 5",
            &format!(
                r#"fjord_log_size_bytes{{topic="orders"}} {}"#,
                records.len()
            ),
            r#"fjord_log_size_bytes{topic="__consumer_offsets"} 0"#,
            "fjord_under_replicated_partitions 0",
            "fjord_leader_partitions 5",
            "fjord_offline_partitions 0",
            "fjord_active_controller 1",
            "fjord_broker_unfenced 1",
            "fjord_consumer_groups 0",
            "fjord_consumer_protocol_members 0",
            "fjord_failed_authentications_total 2",
            r#"fjord_requests_total{api="Produce",version="9"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    }
}
