//! Fjord's data plane: a Kafka-compatible broker.
//!
//! Any unmodified Kafka client (librdkafka, the Java client, kafka-python, franz-go) talks to
//! it over the Kafka wire protocol; bodies are decoded and encoded with the `kafka-protocol`
//! crate, record batches stay raw bytes end to end.
//!
//! # Layout
//!
//! - [`config`]: Kafka-style `server.properties` keys, from defaults, a file, the environment
//!   and `--set`, parsed once into a validated [`config::BrokerConfig`].
//! - [`server`]: the accept loop ([`server::run`] over already-bound listeners) and one task
//!   per connection; [`connection`] frames requests by their length prefix.
//! - [`router`]: decodes the request header, dispatches to `handlers/<api family>.rs`, and
//!   builds the ApiVersions answer from the same table it dispatches with.
//! - [`broker`]: the state every handler shares: topics and their partition logs, groups,
//!   producer ids, fetch sessions.
//! - [`log`]: one directory per partition, segment files in Kafka's v2 batch format, a sparse
//!   offset index and a time index, recovery, retention.
//! - [`group`]: the classic consumer-group coordinator; committed offsets live in the
//!   internal compacted topic `__consumer_offsets`.
//! - [`quota`]: client quotas (byte rates, request time) enforced with throttle times and
//!   channel muting; the per-cluster partition and connection ceilings.
//! - [`client`]: a Kafka client connection (TLS, SASL, version negotiation) for talking to
//!   other brokers; the control plane builds its admin client on it.
//! - [`metrics`]: Prometheus metrics, recorded on the request path and computed at scrape
//!   time; `http` serves them with the health probes on `fjord.http.listener`.
//!
//! # Request flow
//!
//! `server` (accept, one task per connection) → `connection` (read one frame) → `router`
//! (header, version check, body decode) → `handlers::*` (apply against `broker`, `log`,
//! `group`) → `router` (encode) → `connection` (write the frame). Requests on one connection
//! are answered strictly in order, as Kafka does.

pub mod alloc;
pub mod broker;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod error;
pub mod fetch_session;
pub mod group;
pub(crate) mod handlers;
pub(crate) mod http;
pub mod lifecycle;
pub mod log;
pub mod metering;
pub mod metrics;
pub mod producer;
pub(crate) mod publish;
pub mod quota;
pub mod replica;
pub mod replication;
pub mod router;
pub mod security;
pub mod server;
pub mod txn;

#[global_allocator]
static GLOBAL: alloc::BrokerAlloc = alloc::BrokerAlloc;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use error::{Error, Result};

/// Milliseconds since the Unix epoch, the clock Kafka timestamps use.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
