//! Pure builders: a [`FjordCluster`] in, the Kubernetes objects that run it out. No I/O.
//!
//! Names derive from the cluster's name `N`: StatefulSet `N-broker` (pods `N-broker-0`, …),
//! headless Service `N-brokers`, bootstrap Service `N-bootstrap`, ConfigMap `N-broker-config`,
//! PodDisruptionBudget and NetworkPolicy `N-broker`, broker TLS Secret `N-broker-tls`, CA Secret
//! `N-ca`, internal users Secret `N-internal-users` (see [`plan_secrets`]). Every object carries the `app.kubernetes.io/*` labels and a controller owner
//! reference to the cluster, so Kubernetes garbage-collects it with the cluster.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::{Resource, ResourceExt};

use crate::crd::FjordCluster;
use crate::error::{Error, Result};

mod configmap;
mod policy;
mod secrets;
mod service;
mod statefulset;

pub use configmap::{PROPERTIES_FILE, broker_config_map, server_properties};
pub use policy::{network_policy, pod_disruption_budget};
pub use secrets::{
    CA_CERT_KEY, CA_KEY_KEY, CA_VALIDITY, CONTROL_USER, ExistingSecrets, LEAF_VALIDITY,
    PASSWORD_KEY, RENEW_BEFORE, SecretPlan, TlsRenewal, USERS_KEY, broker_dns_names,
    internal_users_secret, plan_secrets, tls_renewal,
};
pub use service::{bootstrap_service, headless_service};
pub use statefulset::{stateful_set, stateful_set_with_replicas};

/// Port of the client listener (SASL_SSL, or SASL_PLAINTEXT without TLS).
pub const CLIENT_PORT: i32 = 9093;
/// Port of the inter-broker CONTROL listener; only the cluster's own brokers reach it.
pub const CONTROL_PORT: i32 = 9094;
/// Port of the broker's HTTP endpoint (`/healthz`, `/readyz`, `/metrics`).
pub const HTTP_PORT: i32 = 9644;

/// Settings of the operator that shape every cluster's objects (not part of the CR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSettings {
    /// Broker image without tag, e.g. `ghcr.io/fjord/fjord`.
    pub image_repository: String,
    /// Tag used when the cluster sets no `spec.version`.
    pub default_version: String,
}

impl Default for BuildSettings {
    fn default() -> Self {
        Self {
            image_repository: "ghcr.io/fjord-dev/fjord".to_owned(),
            default_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl BuildSettings {
    /// The broker version a cluster runs.
    pub fn version_of(&self, cluster: &FjordCluster) -> String {
        cluster
            .spec
            .version
            .clone()
            .unwrap_or_else(|| self.default_version.clone())
    }
}

/// Names of a cluster's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNames {
    /// The FjordCluster's name.
    pub cluster: String,
    /// Its namespace.
    pub namespace: String,
}

impl ClusterNames {
    /// Names for `cluster` (namespace `default` if the object has none, as in some tests).
    pub fn of(cluster: &FjordCluster) -> Self {
        Self {
            cluster: cluster.name_any(),
            namespace: cluster.namespace().unwrap_or_else(|| "default".to_owned()),
        }
    }
    /// The StatefulSet, PodDisruptionBudget and NetworkPolicy.
    pub fn broker(&self) -> String {
        format!("{}-broker", self.cluster)
    }
    /// The headless Service giving each broker a stable DNS name.
    pub fn headless_service(&self) -> String {
        format!("{}-brokers", self.cluster)
    }
    /// The bootstrap Service clients connect to first.
    pub fn bootstrap_service(&self) -> String {
        format!("{}-bootstrap", self.cluster)
    }
    /// The ConfigMap holding `server.properties`.
    pub fn config_map(&self) -> String {
        format!("{}-broker-config", self.cluster)
    }
    /// The Secret with the brokers' PEM key and certificate chain.
    pub fn broker_tls_secret(&self) -> String {
        format!("{}-broker-tls", self.cluster)
    }
    /// The Secret with the cluster CA certificate (what clients trust).
    pub fn ca_secret(&self) -> String {
        format!("{}-ca", self.cluster)
    }
    /// The Secret with internal SCRAM users (`fjord.bootstrap.users`).
    pub fn internal_users_secret(&self) -> String {
        format!("{}-internal-users", self.cluster)
    }
    /// The `host:port` of broker `ordinal`'s HTTP endpoint (metrics, health).
    pub fn broker_http_address(&self, ordinal: i32) -> String {
        format!(
            "{}-{ordinal}.{}.{}.svc:{HTTP_PORT}",
            self.broker(),
            self.headless_service(),
            self.namespace
        )
    }
    /// The pod of broker `ordinal`.
    pub fn broker_pod(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.broker())
    }
    /// The address clients bootstrap from.
    pub fn bootstrap_address(&self) -> String {
        format!(
            "{}.{}.svc:{CLIENT_PORT}",
            self.bootstrap_service(),
            self.namespace
        )
    }
}

/// Brokers the cluster runs now: what its status last said was desired, else `brokers.min`
/// (a new cluster).
pub fn current_brokers(cluster: &FjordCluster) -> i32 {
    cluster
        .status
        .as_ref()
        .map(|s| s.brokers.desired)
        .filter(|&desired| desired > 0)
        .unwrap_or(cluster.spec.brokers.min)
}

/// Labels that select the cluster's broker pods (stable: never change them on a live set).
pub fn selector_labels(cluster: &FjordCluster) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "fjord-broker".to_owned(),
        ),
        ("app.kubernetes.io/instance".to_owned(), cluster.name_any()),
        (
            "app.kubernetes.io/component".to_owned(),
            "broker".to_owned(),
        ),
    ])
}

/// Every label of the cluster's objects: the selector labels plus descriptive ones.
pub fn labels(cluster: &FjordCluster, settings: &BuildSettings) -> BTreeMap<String, String> {
    let mut labels = selector_labels(cluster);
    labels.insert("app.kubernetes.io/part-of".to_owned(), "fjord".to_owned());
    labels.insert(
        "app.kubernetes.io/managed-by".to_owned(),
        "fjord-operator".to_owned(),
    );
    labels.insert(
        "app.kubernetes.io/version".to_owned(),
        settings.version_of(cluster),
    );
    labels
}

/// A label selector matching the cluster's broker pods.
pub(crate) fn broker_selector(cluster: &FjordCluster) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(cluster)),
        ..LabelSelector::default()
    }
}

/// Metadata of an object named `name`, labelled and owned by `cluster`.
///
/// The owner reference needs the cluster's uid, which every object read from the API server
/// has; a cluster built in memory without one yields no owner reference.
pub(crate) fn owned_meta(
    cluster: &FjordCluster,
    settings: &BuildSettings,
    name: String,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(ClusterNames::of(cluster).namespace),
        labels: Some(labels(cluster, settings)),
        owner_references: cluster.controller_owner_ref(&()).map(|r| vec![r]),
        ..ObjectMeta::default()
    }
}

/// Every object the operator applies for `cluster`, in apply order, as one multi-document
/// YAML stream (what `fjord-operator manifests` prints).
pub fn manifests_yaml(cluster: &FjordCluster, settings: &BuildSettings) -> Result<String> {
    let documents = [
        serde_json::to_value(broker_config_map(cluster, settings)),
        serde_json::to_value(headless_service(cluster, settings)),
        serde_json::to_value(bootstrap_service(cluster, settings)),
        serde_json::to_value(stateful_set(cluster, settings)),
        serde_json::to_value(pod_disruption_budget(cluster, settings)),
        serde_json::to_value(network_policy(cluster, settings)),
    ]
    .into_iter()
    .collect::<std::result::Result<Vec<_>, _>>()
    .map_err(Error::Json)?;
    serde_saphyr::to_string_multiple(&documents).map_err(Error::Yaml)
}

/// FNV-1a, a hash that is stable across Rust releases (unlike `DefaultHasher`), for the
/// config-hash annotation that rolls pods when their configuration changes.
pub(crate) fn stable_hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A cluster fixture for the builders' and controller's tests.
#[cfg(test)]
pub(crate) fn test_cluster() -> FjordCluster {
    let mut cluster = FjordCluster::new("orders", crate::crd::FjordClusterSpec::default());
    cluster.metadata.namespace = Some("tenant-a".to_owned());
    cluster.metadata.uid = Some("0b5f6a3e-8d1c-4c2a-9f7e-3d2b1a0c9e8f".to_owned());
    cluster.metadata.generation = Some(2);
    cluster.spec.brokers.min = 3;
    cluster.spec.brokers.max = 6;
    cluster.spec.storage.size = "50Gi".to_owned();
    cluster.spec.storage.storage_class = Some("fast-ssd".to_owned());
    cluster
}

/// Asserts that `meta` is owned by the test cluster as its controller.
#[cfg(test)]
pub(crate) fn assert_owned(meta: &ObjectMeta) {
    let refs = meta.owner_references.as_ref().expect("owner references");
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].kind, "FjordCluster");
    assert_eq!(refs[0].api_version, "fjord.dev/v1alpha1");
    assert_eq!(refs[0].name, "orders");
    assert_eq!(refs[0].uid, "0b5f6a3e-8d1c-4c2a-9f7e-3d2b1a0c9e8f");
    assert_eq!(refs[0].controller, Some(true));
    assert_eq!(meta.namespace.as_deref(), Some("tenant-a"));
    let labels = meta.labels.as_ref().expect("labels");
    assert_eq!(labels["app.kubernetes.io/instance"], "orders");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "fjord-operator");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_cluster() {
        let names = ClusterNames::of(&test_cluster());
        assert_eq!(names.broker(), "orders-broker");
        assert_eq!(names.headless_service(), "orders-brokers");
        assert_eq!(
            names.bootstrap_address(),
            "orders-bootstrap.tenant-a.svc:9093"
        );
    }

    #[test]
    fn owned_meta_is_labelled_and_owned() {
        let cluster = test_cluster();
        let meta = owned_meta(&cluster, &BuildSettings::default(), "x".to_owned());
        assert_owned(&meta);
        assert_eq!(
            meta.labels.unwrap()["app.kubernetes.io/version"],
            env!("CARGO_PKG_VERSION")
        );
    }

    #[test]
    fn manifests_hold_every_object_in_apply_order() {
        let yaml = manifests_yaml(&test_cluster(), &BuildSettings::default()).unwrap();
        let kinds: Vec<&str> = yaml
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .collect();
        assert_eq!(
            kinds,
            [
                "ConfigMap",
                "Service",
                "Service",
                "StatefulSet",
                "PodDisruptionBudget",
                "NetworkPolicy"
            ]
        );
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        // FNV-1a 64 test vectors.
        assert_eq!(stable_hash(""), "cbf29ce484222325");
        assert_eq!(stable_hash("a"), "af63dc4c8601ec8c");
        assert_ne!(stable_hash("x=1"), stable_hash("x=2"));
    }
}
