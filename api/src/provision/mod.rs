//! Provisioning: turning a cluster row into running brokers.
//!
//! One [`Provisioner`] trait, two implementations: [`embedded`] (brokers inside this process,
//! each with its own data dir and ports from a configured range) and [`kubernetes`] (writes
//! `FjordCluster` resources; `fjord-operator` runs the brokers). The API's cluster state machine calls
//! only this trait; every method is idempotent so a restarted API can simply call it again
//! for every cluster that was in flight.

pub mod certs;
pub mod embedded;
pub mod kubernetes;
mod layout;

use async_trait::async_trait;

use crate::kafka::AdminClient;

/// What the API asks a provisioner to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// The cluster's id in the API (a UUID string); names data dirs and resources.
    pub cluster_id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Number of brokers (the embedded provisioner runs 1 until replication lands).
    pub brokers: u32,
    /// Maximum partitions across the cluster (enforced by the API before CreateTopics).
    pub max_partitions: u32,
}

/// How clients reach a running cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEndpoint {
    /// Comma-separated `host:port` list for `bootstrap.servers`.
    pub bootstrap: String,
    /// PEM of the cluster CA clients must trust; `None` while listeners are PLAINTEXT.
    pub ca_cert_pem: Option<String>,
}

/// Health of a provisioned cluster, as far as the provisioner can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterHealth {
    /// All brokers answer.
    Ready,
    /// Still starting.
    Starting,
    /// Not running (never provisioned, or deleted).
    Absent,
    /// Running but unhealthy; the reason is for the operator's eyes.
    Failed(String),
}

/// Errors of provisioning.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// No free port in the configured range.
    #[error("no free port left in {0}")]
    PortsExhausted(String),
    /// The provisioner does not know this cluster.
    #[error("cluster {0} is not provisioned")]
    NotFound(String),
    /// Starting or stopping brokers failed.
    #[error("broker failure: {0}")]
    Broker(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The cluster's admin connection failed.
    #[error(transparent)]
    Kafka(#[from] crate::kafka::KafkaError),
}

/// Runs and removes clusters. Every method is idempotent.
#[async_trait]
pub trait Provisioner: Send + Sync + 'static {
    /// Make the cluster exist and run (start it again after an API restart). Returns once the
    /// brokers accept connections.
    async fn ensure(&self, spec: &ClusterSpec) -> Result<ClusterEndpoint, ProvisionError>;
    /// Stop the cluster and remove its data. `Ok` when it is already gone.
    async fn delete(&self, cluster_id: &str) -> Result<(), ProvisionError>;
    /// What the provisioner sees of the cluster now.
    async fn health(&self, cluster_id: &str) -> ClusterHealth;
    /// An admin client connected to the cluster with the control plane's internal principal.
    async fn admin(&self, cluster_id: &str) -> Result<AdminClient, ProvisionError>;
    /// Stop every cluster this process runs without deleting data (API shutdown).
    async fn shutdown(&self);
}
