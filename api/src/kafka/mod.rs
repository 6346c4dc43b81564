//! A small Kafka admin client over the `kafka-protocol` crate: what the control plane needs
//! to manage topics and credentials on the clusters it provisions.
//!
//! INTERFACE DRAFT — the signatures below are the contract between the REST handlers and
//! this module; the bodies are being written.

use std::collections::BTreeMap;

/// Errors talking to a cluster. Kafka error codes stay data in [`KafkaError::Broker`].
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// Could not connect, or the connection broke.
    #[error("failed to reach the cluster at {addr}")]
    Connect {
        /// Where we tried.
        addr: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The broker answered with a Kafka error code.
    #[error("{operation} failed: {code_name} ({code}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// What we asked for ("create topic orders").
        operation: String,
        /// Kafka error code number.
        code: i16,
        /// Kafka error code name, e.g. `TOPIC_ALREADY_EXISTS`.
        code_name: String,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// The answer could not be decoded or did not match the request.
    #[error("protocol error: {0}")]
    Protocol(String),
}

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

/// SASL mechanisms the admin client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// RFC 4616; only over TLS or loopback.
    Plain,
    /// RFC 7677.
    ScramSha256,
    /// RFC 7677 with SHA-512.
    ScramSha512,
}

/// How to reach and authenticate to a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Comma-separated `host:port` list; the first reachable one is used.
    pub bootstrap: String,
    /// Trust this CA (PEM) and speak TLS; `None` = plaintext.
    pub tls_ca_pem: Option<String>,
    /// SASL credentials; `None` = no SASL.
    pub sasl: Option<(SaslMechanism, String, String)>,
}

/// One connection to one cluster's bootstrap broker.
#[derive(Debug)]
pub struct AdminClient {
    _private: (),
}

impl AdminClient {
    /// Connects to `bootstrap` (first reachable `host:port`).
    pub async fn connect(options: &ConnectOptions) -> Result<Self, KafkaError> {
        let _ = options;
        unimplemented!("being written")
    }
    /// CreateTopics; `configs` are topic-level config overrides.
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        configs: &BTreeMap<String, String>,
    ) -> Result<TopicDescription, KafkaError> {
        let _ = (name, partitions, replication_factor, configs);
        unimplemented!("being written")
    }
    /// Metadata + DescribeConfigs for every topic (internal topics excluded).
    pub async fn list_topics(&mut self) -> Result<Vec<TopicDescription>, KafkaError> {
        unimplemented!("being written")
    }
    /// Metadata + DescribeConfigs for one topic; `Ok(None)` when it does not exist.
    pub async fn describe_topic(&mut self, name: &str) -> Result<Option<TopicDescription>, KafkaError> {
        let _ = name;
        unimplemented!("being written")
    }
    /// IncrementalAlterConfigs: `Some(v)` sets, `None` deletes (back to the default).
    pub async fn alter_topic_configs(
        &mut self,
        name: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<(), KafkaError> {
        let _ = (name, changes);
        unimplemented!("being written")
    }
    /// CreatePartitions up to `total` partitions.
    pub async fn create_partitions(&mut self, name: &str, total: u32) -> Result<(), KafkaError> {
        let _ = (name, total);
        unimplemented!("being written")
    }
    /// AlterUserScramCredentials upsert: the salted password is computed here (PBKDF2 with
    /// a random salt), so the plaintext never leaves this process.
    pub async fn upsert_scram_credential(
        &mut self,
        user: &str,
        mechanism: SaslMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<(), KafkaError> {
        let _ = (user, mechanism, password, iterations);
        unimplemented!("being written")
    }
    /// AlterUserScramCredentials deletion; `Ok` when the user had none.
    pub async fn delete_scram_credential(
        &mut self,
        user: &str,
        mechanism: SaslMechanism,
    ) -> Result<(), KafkaError> {
        let _ = (user, mechanism);
        unimplemented!("being written")
    }
    /// DeleteTopics.
    pub async fn delete_topic(&mut self, name: &str) -> Result<(), KafkaError> {
        let _ = name;
        unimplemented!("being written")
    }
}
