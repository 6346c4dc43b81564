//! How the controller reaches a cluster's brokers: each broker's `/metrics` (plain HTTP on
//! the broker's HTTP port) and a Kafka admin connection through the bootstrap Service, as the
//! brokers' super user `fjord-control` over SASL_SSL (SCRAM-SHA-512) with the cluster CA.
//!
//! Both sit behind traits ([`BrokerAccess`], [`ClusterAdmin`]) so the controller's tests
//! drive the scaling and roll logic with scripted brokers; [`NetworkAccess`] is the real one.
//! The Kafka side uses the broker crate's client (`fjord_broker::client`: TLS, SASL/SCRAM,
//! version negotiation) rather than a second Kafka client in this crate.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use fjord_broker::client::{ConnectOptions, Connection, KafkaError, SaslMechanism};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreatePartitionsRequest, DescribeConfigsRequest,
    ListPartitionReassignmentsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::autoscale::TopicPartitions;
use crate::reassign::Assignment;

/// A boxed future, so the traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The topic config that lets the autoscaler add partitions.
pub const AUTOSCALE_PARTITIONS_CONFIG: &str = "fjord.autoscale.partitions";
/// Limit on reading one broker's metrics.
const METRICS_TIMEOUT: Duration = Duration::from_secs(3);
/// Limit on the admin connection and each of its requests.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a metrics answer that is read.
const METRICS_MAX_BYTES: usize = 16 * 1024 * 1024;
/// DescribeConfigs resource type of a topic.
const RESOURCE_TOPIC: i8 = 2;

/// Failures reaching a cluster's brokers.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The metrics endpoint could not be reached or read.
    #[error("failed to read metrics from {addr}")]
    Metrics {
        /// `host:port` of the endpoint.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The metrics endpoint answered something other than 200.
    #[error("metrics endpoint {addr} answered {status_line:?}")]
    MetricsStatus {
        /// `host:port` of the endpoint.
        addr: String,
        /// The HTTP status line.
        status_line: String,
    },
    /// A Kafka request failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

/// Where and how the admin connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTarget {
    /// `host:port` of the bootstrap Service.
    pub bootstrap: String,
    /// The cluster CA (PEM) when the listener uses TLS.
    pub ca_pem: Option<String>,
    /// The super user's password (internal users Secret).
    pub password: String,
}

/// What the admin connection reports about partitions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterLayout {
    /// Replica lists of every partition, internal topics included.
    pub assignment: Assignment,
    /// Tenant topics (not internal) with their partition count and opt-in.
    pub topics: Vec<TopicPartitions>,
    /// Partitions whose reassignment is still running.
    pub reassigning: usize,
}

/// Kafka admin operations the scaling logic uses.
pub trait ClusterAdmin: Send {
    /// Metadata, the opt-in config of every tenant topic, and running reassignments.
    fn layout(&mut self) -> BoxFuture<'_, Result<ClusterLayout, AccessError>>;
    /// AlterPartitionReassignments to the given replica lists.
    fn reassign<'a>(&'a mut self, moves: &'a Assignment) -> BoxFuture<'a, Result<(), AccessError>>;
    /// CreatePartitions up to `total` partitions.
    fn create_partitions<'a>(
        &'a mut self,
        topic: &'a str,
        total: i32,
    ) -> BoxFuture<'a, Result<(), AccessError>>;
}

/// Reaching brokers.
pub trait BrokerAccess: Send + Sync {
    /// The metrics text of the broker whose HTTP endpoint is `addr` (`host:port`).
    fn metrics<'a>(&'a self, addr: &'a str) -> BoxFuture<'a, Result<String, AccessError>>;
    /// An admin connection to the cluster.
    fn admin<'a>(
        &'a self,
        target: &'a AdminTarget,
    ) -> BoxFuture<'a, Result<Box<dyn ClusterAdmin>, AccessError>>;
}

/// The real [`BrokerAccess`]: HTTP/1.0 GETs and Kafka connections over the pod network.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkAccess;

impl BrokerAccess for NetworkAccess {
    fn metrics<'a>(&'a self, addr: &'a str) -> BoxFuture<'a, Result<String, AccessError>> {
        Box::pin(http_get(addr, "/metrics", METRICS_TIMEOUT))
    }

    fn admin<'a>(
        &'a self,
        target: &'a AdminTarget,
    ) -> BoxFuture<'a, Result<Box<dyn ClusterAdmin>, AccessError>> {
        Box::pin(async move {
            let options = ConnectOptions {
                bootstrap: target.bootstrap.clone(),
                tls_ca_pem: target.ca_pem.clone(),
                sasl: Some((
                    SaslMechanism::ScramSha512,
                    crate::resources::CONTROL_USER.to_owned(),
                    target.password.clone(),
                )),
            };
            let mut conn = fjord_broker::client::connect(&options, ADMIN_TIMEOUT).await?;
            conn.set_client_id("fjord-operator");
            Ok(Box::new(KafkaAdmin { conn }) as Box<dyn ClusterAdmin>)
        })
    }
}

/// `GET path` over HTTP/1.0 (the server closes the connection after the body, so no chunked
/// encoding to undo); the body when the status is 200.
pub async fn http_get(addr: &str, path: &str, timeout: Duration) -> Result<String, AccessError> {
    let io_error = |source| AccessError::Metrics {
        addr: addr.to_owned(),
        source,
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: text/plain\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut buf = Vec::new();
        (&mut stream)
            .take(METRICS_MAX_BYTES as u64)
            .read_to_end(&mut buf)
            .await?;
        Ok::<_, std::io::Error>(buf)
    };
    let bytes = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| {
            io_error(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} ms", timeout.as_millis()),
            ))
        })?
        .map_err(io_error)?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| {
        io_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the answer has no end of headers",
        ))
    })?;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(AccessError::MetricsStatus {
            addr: addr.to_owned(),
            status_line: status_line.to_owned(),
        });
    }
    Ok(body.to_owned())
}

/// The Kafka admin connection.
struct KafkaAdmin {
    conn: Connection,
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

impl KafkaAdmin {
    async fn layout(&mut self) -> Result<ClusterLayout, KafkaError> {
        let version = self.conn.version_for::<MetadataRequest>(4..=13)?;
        let mut request = MetadataRequest::default();
        request.topics = None;
        request.allow_auto_topic_creation = false;
        let metadata = self.conn.send(&request, version).await?;
        KafkaError::check(|| "Metadata".to_owned(), metadata.error_code, None)?;
        let mut layout = ClusterLayout::default();
        let mut tenant_topics = Vec::new();
        for topic in &metadata.topics {
            let Some(name) = topic.name.as_ref().map(|n| n.to_string()) else {
                continue;
            };
            if topic.error_code != 0 {
                continue;
            }
            for p in &topic.partitions {
                let replicas = p.replica_nodes.iter().map(|b| b.0).collect();
                layout
                    .assignment
                    .insert((name.clone(), p.partition_index), replicas);
            }
            if !topic.is_internal && !name.starts_with("__") {
                tenant_topics.push((name, topic.partitions.len()));
            }
        }
        let opted_in = self
            .opted_in(tenant_topics.iter().map(|t| t.0.as_str()))
            .await?;
        layout.topics = tenant_topics
            .into_iter()
            .map(|(name, partitions)| TopicPartitions {
                opted_in: opted_in.contains(&name),
                partitions: i32::try_from(partitions).unwrap_or(i32::MAX),
                name,
            })
            .collect();
        let version = self
            .conn
            .version_for::<ListPartitionReassignmentsRequest>(0..=0)?;
        let mut request = ListPartitionReassignmentsRequest::default();
        request.timeout_ms = 10_000;
        request.topics = None;
        let listed = self.conn.send(&request, version).await?;
        KafkaError::check(
            || "ListPartitionReassignments".to_owned(),
            listed.error_code,
            listed.error_message.as_ref(),
        )?;
        layout.reassigning = listed.topics.iter().map(|t| t.partitions.len()).sum();
        Ok(layout)
    }

    async fn opted_in<'a>(
        &mut self,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<BTreeSet<String>, KafkaError> {
        let resources: Vec<DescribeConfigsResource> = names
            .map(|name| {
                let mut r = DescribeConfigsResource::default();
                r.resource_type = RESOURCE_TOPIC;
                r.resource_name = str(name);
                r.configuration_keys = Some(vec![str(AUTOSCALE_PARTITIONS_CONFIG)]);
                r
            })
            .collect();
        if resources.is_empty() {
            return Ok(BTreeSet::new());
        }
        let version = self.conn.version_for::<DescribeConfigsRequest>(1..=4)?;
        let mut request = DescribeConfigsRequest::default();
        request.resources = resources;
        let response = self.conn.send(&request, version).await?;
        Ok(response
            .results
            .iter()
            .filter(|r| r.error_code == 0)
            .filter(|r| {
                r.configs.iter().any(|c| {
                    c.name.as_str() == AUTOSCALE_PARTITIONS_CONFIG
                        && c.value
                            .as_ref()
                            .is_some_and(|v| v.as_str().eq_ignore_ascii_case("true"))
                })
            })
            .map(|r| r.resource_name.to_string())
            .collect())
    }

    async fn reassign(&mut self, moves: &Assignment) -> Result<(), KafkaError> {
        if moves.is_empty() {
            return Ok(());
        }
        let version = self
            .conn
            .version_for::<AlterPartitionReassignmentsRequest>(0..=0)?;
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for ((topic, partition), replicas) in moves {
            if topics.last().is_none_or(|t| t.name.as_str() != topic) {
                let mut t = ReassignableTopic::default();
                t.name = TopicName(str(topic));
                topics.push(t);
            }
            let mut p = ReassignablePartition::default();
            p.partition_index = *partition;
            p.replicas = Some(replicas.iter().map(|&b| BrokerId(b)).collect());
            if let Some(t) = topics.last_mut() {
                t.partitions.push(p);
            }
        }
        let mut request = AlterPartitionReassignmentsRequest::default();
        request.timeout_ms = 10_000;
        request.topics = topics;
        let response = self.conn.send(&request, version).await?;
        KafkaError::check(
            || "AlterPartitionReassignments".to_owned(),
            response.error_code,
            response.error_message.as_ref(),
        )?;
        for topic in &response.responses {
            for p in &topic.partitions {
                KafkaError::check(
                    || format!("reassign {}-{}", topic.name.as_str(), p.partition_index),
                    p.error_code,
                    p.error_message.as_ref(),
                )?;
            }
        }
        Ok(())
    }

    async fn create_partitions(&mut self, name: &str, total: i32) -> Result<(), KafkaError> {
        let version = self.conn.version_for::<CreatePartitionsRequest>(0..=3)?;
        let mut topic = CreatePartitionsTopic::default();
        topic.name = TopicName(str(name));
        topic.count = total;
        let mut request = CreatePartitionsRequest::default();
        request.topics = vec![topic];
        request.timeout_ms = 10_000;
        let response = self.conn.send(&request, version).await?;
        for r in &response.results {
            KafkaError::check(
                || format!("add partitions to topic {name}"),
                r.error_code,
                r.error_message.as_ref(),
            )?;
        }
        Ok(())
    }
}

impl ClusterAdmin for KafkaAdmin {
    fn layout(&mut self) -> BoxFuture<'_, Result<ClusterLayout, AccessError>> {
        Box::pin(async move { Ok(KafkaAdmin::layout(self).await?) })
    }

    fn reassign<'a>(&'a mut self, moves: &'a Assignment) -> BoxFuture<'a, Result<(), AccessError>> {
        Box::pin(async move { Ok(KafkaAdmin::reassign(self, moves).await?) })
    }

    fn create_partitions<'a>(
        &'a mut self,
        topic: &'a str,
        total: i32,
    ) -> BoxFuture<'a, Result<(), AccessError>> {
        Box::pin(async move { Ok(KafkaAdmin::create_partitions(self, topic, total).await?) })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    async fn serve_once(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = socket.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"GET /metrics HTTP/1.0\r\n"));
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn http_get_returns_the_body_of_a_200() {
        let addr =
            serve_once("HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nfjord_x 1\n").await;
        let body = http_get(&addr, "/metrics", METRICS_TIMEOUT).await.unwrap();
        assert_eq!(body, "fjord_x 1\n");
    }

    #[tokio::test]
    async fn http_get_reports_other_statuses_and_dead_endpoints() {
        let addr = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        let err = http_get(&addr, "/metrics", METRICS_TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("metrics endpoint {addr} answered \"HTTP/1.1 503 Service Unavailable\"")
        );
        // Nothing listens on a port just freed.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = http_get(&addr, "/metrics", METRICS_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, AccessError::Metrics { .. }), "{err:?}");
    }
}
