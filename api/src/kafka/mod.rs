//! The control plane's Kafka admin client: what it needs to manage topics, credentials and
//! ACLs on the clusters it provisions, over the broker crate's client
//! ([`fjord_broker::client`]: connections, TLS, SASL, version negotiation, the error type).
//!
//! # Layout
//!
//! - [`AdminClient`] (this file): one connection to the first reachable bootstrap broker,
//!   plus one to each partition leader it reads records from (Fetch and ListOffsets must go
//!   to the leader; admin requests are forwarded to the controller by any broker).
//! - `topics`, `credentials`, `acls`, `records`: the admin operations, one Kafka API each
//!   (topics also read Metadata and DescribeConfigs to return a [`TopicDescription`];
//!   records are Fetch and ListOffsets, for the usage collector and the message browser).
//!
//! Requests go out one at a time. After a transport failure or timeout the client is
//! unusable (every call fails with [`KafkaError::Connect`]): connect a new one.

mod acls;
mod credentials;
mod records;
mod topics;

use std::collections::BTreeMap;
use std::time::Duration;

use fjord_broker::client::Connection;
pub use fjord_broker::client::{
    ConnectOptions, DEFAULT_TIMEOUT, KafkaError, SaslMechanism, error_code_name,
};

pub use self::records::{FetchedBatch, FetchedRecords, PartitionOffsets};

/// A topic as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Stable topic id.
    pub topic_id: String,
    /// Number of partitions.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u16,
    /// Non-default configs (source = topic override).
    pub configs: BTreeMap<String, String>,
}

/// One connection to one cluster's bootstrap broker (and, for reads, to partition leaders).
pub struct AdminClient {
    conn: Connection,
    options: ConnectOptions,
    timeout: Duration,
    /// Connections to leaders other than the bootstrap broker, by `host:port`.
    leaders: BTreeMap<String, Connection>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("addr", &self.conn.addr())
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// Connects to `bootstrap` (first reachable `host:port`).
    pub async fn connect(options: &ConnectOptions) -> Result<Self, KafkaError> {
        Self::connect_with_timeout(options, DEFAULT_TIMEOUT).await
    }

    /// [`AdminClient::connect`] with another limit than [`DEFAULT_TIMEOUT`] on connecting
    /// and on every request.
    pub async fn connect_with_timeout(
        options: &ConnectOptions,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let mut conn = fjord_broker::client::connect(options, timeout).await?;
        conn.set_client_id("fjord-control-plane");
        Ok(AdminClient {
            conn,
            options: options.clone(),
            timeout,
            leaders: BTreeMap::new(),
        })
    }

    /// Sends any request at the highest version both sides support and returns the decoded
    /// response, error codes included (for APIs this client has no method for, and tests).
    pub async fn request<R: kafka_protocol::protocol::Request>(
        &mut self,
        request: &R,
    ) -> Result<R::Response, KafkaError> {
        let version = self
            .conn
            .version_for::<R>(R::VERSIONS.min..=R::VERSIONS.max)?;
        self.conn.send(request, version).await
    }
}
