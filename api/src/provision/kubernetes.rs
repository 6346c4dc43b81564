//! The kubernetes provisioner: every cluster is a `FjordCluster` resource
//! (`fjord.dev/v1alpha1`, the operator's CRD types) in one namespace; `fjord-operator` does the
//! rest (brokers, TLS, SASL, scaling).
//!
//! - [`Provisioner::ensure`] server-side-applies the resource (field manager `fjord-api`; the
//!   operator owns its status), then polls it until its `Ready` condition is `True` and returns
//!   the status's bootstrap address and the CA certificate from the Secret the status names.
//!   A `Degraded` cluster, or one not ready within the timeout, is an error (the API marks the
//!   cluster failed and retries).
//! - [`Provisioner::delete`] deletes the resource (its finalizer lets the operator clean up) and
//!   waits until it is gone.
//! - [`Provisioner::health`] maps the status's conditions ([`health_of`], pure).
//! - [`Provisioner::admin`] connects to the bootstrap address over TLS with the cluster CA, as
//!   the brokers' super user `fjord-control` (password from the cluster's internal users
//!   Secret), with SCRAM-SHA-512.
//!
//! Resource names are `c-<cluster id>` (a UUID: a valid DNS label, and short enough for
//! every object the operator derives from it).

use std::time::Duration;

use async_trait::async_trait;
use fjord_operator::crd::{
    Autoscaling, BrokerBounds, FjordCluster, FjordClusterSpec, FjordClusterStatus, Limits,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};

use super::{ClusterEndpoint, ClusterHealth, ClusterSpec, ProvisionError, Provisioner};
use crate::kafka::{AdminClient, ConnectOptions, SaslMechanism};

/// Field manager of the API's applies.
pub const FIELD_MANAGER: &str = "fjord-api";
/// Label naming the tenant that owns a FjordCluster.
pub const TENANT_LABEL: &str = "fjord.dev/tenant";
/// Label naming the API's cluster id.
pub const CLUSTER_LABEL: &str = "fjord.dev/cluster-id";
/// The brokers' super user (the operator's `resources::CONTROL_USER`).
const CONTROL_USER: &str = "fjord-control";

/// Options of the kubernetes provisioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesOptions {
    /// Namespace of every FjordCluster.
    pub namespace: String,
    /// How long `ensure` waits for `Ready`.
    pub ready_timeout: Duration,
    /// How often `ensure` and `delete` look again.
    pub poll_interval: Duration,
    /// The most brokers the operator's autoscaler may grow a cluster to (never below the
    /// broker count the API asks for, which is the minimum).
    pub max_brokers: u32,
}

impl KubernetesOptions {
    /// Clusters in `namespace`, ready within 10 minutes, polled every 2 seconds.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            ready_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(2),
            max_brokers: 6,
        }
    }
}

/// Failures of the kubernetes provisioner; reach the API as [`ProvisionError::Broker`].
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    /// A call to the Kubernetes API failed.
    #[error("failed to {action} {name}")]
    Kube {
        /// What was attempted.
        action: &'static str,
        /// The object.
        name: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The operator reports the cluster Degraded.
    #[error("cluster {name} is degraded: {reason}: {message}")]
    Degraded {
        /// The FjordCluster.
        name: String,
        /// The condition's reason.
        reason: String,
        /// The condition's message.
        message: String,
    },
    /// The cluster did not become ready in time.
    #[error("cluster {name} is not ready after {seconds} s")]
    NotReady {
        /// The FjordCluster.
        name: String,
        /// How long we waited.
        seconds: u64,
    },
    /// A Secret the connection needs lacks a key.
    #[error("secret {secret} has no {key}")]
    MissingSecretKey {
        /// The Secret.
        secret: String,
        /// The key.
        key: &'static str,
    },
    /// The cluster id cannot name a resource.
    #[error("cluster id {0:?} is not a lowercase DNS label")]
    InvalidClusterId(String),
}

impl From<KubernetesError> for ProvisionError {
    fn from(e: KubernetesError) -> Self {
        ProvisionError::Broker(Box::new(e))
    }
}

/// Writes FjordCluster resources. See the module docs.
pub struct KubernetesProvisioner {
    client: Client,
    options: KubernetesOptions,
}

/// The FjordCluster name of an API cluster id.
pub fn resource_name(cluster_id: &str) -> Result<String, KubernetesError> {
    let ok = !cluster_id.is_empty()
        && cluster_id.len() <= 40
        && cluster_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !cluster_id.ends_with('-');
    if ok {
        Ok(format!("c-{cluster_id}"))
    } else {
        Err(KubernetesError::InvalidClusterId(cluster_id.to_owned()))
    }
}

/// The FjordCluster the API wants for `spec`: at least the broker count the API asks for, at
/// most `max_brokers` (the operator's autoscaler moves between the two), and the plan's
/// partition ceiling.
pub fn desired_resource(
    spec: &ClusterSpec,
    max_brokers: u32,
) -> Result<FjordCluster, KubernetesError> {
    let brokers = i32::try_from(spec.brokers.max(1)).unwrap_or(i32::MAX);
    let max = i32::try_from(max_brokers).unwrap_or(i32::MAX).max(brokers);
    let mut cluster = FjordCluster::new(
        &resource_name(&spec.cluster_id)?,
        FjordClusterSpec {
            brokers: BrokerBounds { min: brokers, max },
            limits: Limits {
                partitions: i32::try_from(spec.max_partitions.max(1)).unwrap_or(i32::MAX),
                ..Limits::default()
            },
            autoscaling: Autoscaling::default(),
            ..FjordClusterSpec::default()
        },
    );
    cluster.metadata.labels = Some(
        [
            (TENANT_LABEL.to_owned(), spec.tenant_id.clone()),
            (CLUSTER_LABEL.to_owned(), spec.cluster_id.clone()),
        ]
        .into_iter()
        .collect(),
    );
    Ok(cluster)
}

fn condition<'a>(
    status: &'a FjordClusterStatus,
    type_: &str,
) -> Option<&'a fjord_operator::crd::Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// The API's view of a FjordCluster's status: `Failed` when Degraded, `Ready` when Ready is
/// True for the current generation, else `Starting`; `Absent` without the resource.
pub fn health_of(cluster: Option<&FjordCluster>) -> ClusterHealth {
    let Some(cluster) = cluster else {
        return ClusterHealth::Absent;
    };
    if cluster.metadata.deletion_timestamp.is_some() {
        return ClusterHealth::Absent;
    }
    let Some(status) = cluster.status.as_ref() else {
        return ClusterHealth::Starting;
    };
    if let Some(degraded) = condition(status, "Degraded").filter(|c| c.status == "True") {
        return ClusterHealth::Failed(format!("{}: {}", degraded.reason, degraded.message));
    }
    let current = status.observed_generation.is_some()
        && status.observed_generation >= cluster.metadata.generation;
    let ready = condition(status, "Ready").is_some_and(|c| c.status == "True");
    if ready && current && status.bootstrap.is_some() {
        ClusterHealth::Ready
    } else {
        ClusterHealth::Starting
    }
}

impl KubernetesProvisioner {
    /// A provisioner writing FjordClusters through `client`.
    pub fn new(client: Client, options: KubernetesOptions) -> Self {
        Self { client, options }
    }

    fn clusters(&self) -> Api<FjordCluster> {
        Api::namespaced(self.client.clone(), &self.options.namespace)
    }

    async fn get(&self, name: &str) -> Result<Option<FjordCluster>, KubernetesError> {
        self.clusters()
            .get_opt(name)
            .await
            .map_err(|source| KubernetesError::Kube {
                action: "read fjordcluster",
                name: name.to_owned(),
                source: Box::new(source),
            })
    }

    async fn secret_value(
        &self,
        secret: &str,
        key: &'static str,
    ) -> Result<String, KubernetesError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.options.namespace);
        let found = api
            .get(secret)
            .await
            .map_err(|source| KubernetesError::Kube {
                action: "read secret",
                name: secret.to_owned(),
                source: Box::new(source),
            })?;
        found
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .ok_or_else(|| KubernetesError::MissingSecretKey {
                secret: secret.to_owned(),
                key,
            })
    }

    async fn endpoint(&self, cluster: &FjordCluster) -> Result<ClusterEndpoint, KubernetesError> {
        let status = cluster.status.clone().unwrap_or_default();
        let ca_cert_pem = match &status.ca_secret {
            Some(secret) => Some(self.secret_value(secret, "ca.crt").await?),
            None => None,
        };
        Ok(ClusterEndpoint {
            bootstrap: status.bootstrap.unwrap_or_default(),
            ca_cert_pem,
        })
    }
}

#[async_trait]
impl Provisioner for KubernetesProvisioner {
    async fn ensure(&self, spec: &ClusterSpec) -> Result<ClusterEndpoint, ProvisionError> {
        let desired = desired_resource(spec, self.options.max_brokers)?;
        let name = desired.name_any();
        self.clusters()
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&desired),
            )
            .await
            .map_err(|source| KubernetesError::Kube {
                action: "apply fjordcluster",
                name: name.clone(),
                source: Box::new(source),
            })?;
        let started = tokio::time::Instant::now();
        loop {
            let current = self.get(&name).await?;
            match health_of(current.as_ref()) {
                ClusterHealth::Ready => {
                    let cluster = current.ok_or_else(|| ProvisionError::NotFound(name.clone()))?;
                    return Ok(self.endpoint(&cluster).await?);
                }
                ClusterHealth::Failed(_) => {
                    let status = current.and_then(|c| c.status).unwrap_or_default();
                    let degraded = condition(&status, "Degraded").cloned();
                    return Err(KubernetesError::Degraded {
                        name,
                        reason: degraded
                            .as_ref()
                            .map(|c| c.reason.clone())
                            .unwrap_or_default(),
                        message: degraded.map(|c| c.message).unwrap_or_default(),
                    }
                    .into());
                }
                ClusterHealth::Absent | ClusterHealth::Starting => {}
            }
            if started.elapsed() >= self.options.ready_timeout {
                return Err(KubernetesError::NotReady {
                    name,
                    seconds: self.options.ready_timeout.as_secs(),
                }
                .into());
            }
            tokio::time::sleep(self.options.poll_interval).await;
        }
    }

    async fn delete(&self, cluster_id: &str) -> Result<(), ProvisionError> {
        let name = resource_name(cluster_id)?;
        match self
            .clusters()
            .delete(&name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
            Err(source) => {
                return Err(KubernetesError::Kube {
                    action: "delete fjordcluster",
                    name,
                    source: Box::new(source),
                }
                .into());
            }
        }
        // The operator's finalizer runs first; the resource is gone when it is done.
        let started = tokio::time::Instant::now();
        while self.get(&name).await?.is_some() {
            if started.elapsed() >= self.options.ready_timeout {
                return Err(KubernetesError::NotReady {
                    name,
                    seconds: self.options.ready_timeout.as_secs(),
                }
                .into());
            }
            tokio::time::sleep(self.options.poll_interval).await;
        }
        Ok(())
    }

    async fn health(&self, cluster_id: &str) -> ClusterHealth {
        let Ok(name) = resource_name(cluster_id) else {
            return ClusterHealth::Absent;
        };
        match self.get(&name).await {
            Ok(cluster) => health_of(cluster.as_ref()),
            Err(e) => ClusterHealth::Failed(e.to_string()),
        }
    }

    async fn admin(&self, cluster_id: &str) -> Result<AdminClient, ProvisionError> {
        let name = resource_name(cluster_id)?;
        let cluster = self
            .get(&name)
            .await?
            .ok_or_else(|| ProvisionError::NotFound(cluster_id.to_owned()))?;
        let endpoint = self.endpoint(&cluster).await?;
        if endpoint.bootstrap.is_empty() {
            return Err(ProvisionError::NotFound(cluster_id.to_owned()));
        }
        let password = self
            .secret_value(&format!("{name}-internal-users"), "password")
            .await?;
        let options = ConnectOptions {
            bootstrap: endpoint.bootstrap,
            tls_ca_pem: endpoint.ca_cert_pem,
            sasl: Some((
                SaslMechanism::ScramSha512,
                CONTROL_USER.to_owned(),
                password,
            )),
        };
        Ok(AdminClient::connect(&options).await?)
    }

    async fn shutdown(&self) {
        // The clusters run in Kubernetes, not in this process: nothing to stop.
    }
}

#[cfg(test)]
mod tests;
