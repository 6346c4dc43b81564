//! The `FjordCluster` custom resource (`fjord.dev/v1alpha1`), generated from these types.
//!
//! `fjord-operator crd` prints the CRD; the copy in `charts/fjord/crds/` must match it (a test
//! checks). Every spec field has a default, so `spec: {}` is a valid one-broker cluster.

use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The desired shape of one tenant's Kafka-compatible cluster.
// Each printcolumn repeats `type_`; clippy mistakes that for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "fjord.dev",
    version = "v1alpha1",
    kind = "FjordCluster",
    plural = "fjordclusters",
    shortname = "fjc",
    category = "fjord",
    namespaced,
    status = "FjordClusterStatus",
    doc = "A Fjord (Kafka-compatible) broker cluster run by fjord-operator",
    printcolumn(
        name = "Brokers",
        type_ = "integer",
        description = "brokers the cluster should run now",
        json_path = ".status.brokers.desired"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        description = "whether every desired broker is ready",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Bootstrap",
        type_ = "string",
        description = "address Kafka clients bootstrap from",
        json_path = ".status.bootstrap"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FjordClusterSpec {
    /// How many brokers the cluster may run; the autoscaler moves between the bounds.
    #[serde(default)]
    pub brokers: BrokerBounds,
    /// One persistent volume per broker holds its partition logs.
    #[serde(default)]
    pub storage: Storage,
    /// CPU and memory of each broker container.
    #[serde(default)]
    pub resources: BrokerResources,
    /// How clients connect and authenticate.
    #[serde(default)]
    pub listeners: Listeners,
    /// Per-cluster ceilings the tenant's plan allows.
    #[serde(default)]
    pub limits: Limits,
    /// Broker image tag; unset runs the operator's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// How brokers spread over failure domains (racks, zones).
    #[serde(default)]
    pub spread: Spread,
    /// When the operator adds and removes brokers and partitions.
    #[serde(default)]
    pub autoscaling: Autoscaling,
}

/// Bounds on the broker count. Broker ids are pod ordinals, so they run `0..count`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.max >= self.min",
    "message": "brokers.max must be at least brokers.min"
}]))]
pub struct BrokerBounds {
    /// Fewest brokers; the cluster starts with this many.
    #[schemars(range(min = 1))]
    pub min: i32,
    /// Most brokers the autoscaler may add.
    #[schemars(range(min = 1))]
    pub max: i32,
}

impl Default for BrokerBounds {
    fn default() -> Self {
        Self { min: 1, max: 3 }
    }
}

/// Persistent storage of each broker.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// StorageClass of the brokers' volumes; unset uses the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Size of each broker's volume, a Kubernetes quantity such as `10Gi`.
    #[serde(default = "default_storage_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub size: String,
}

fn default_storage_size() -> String {
    "10Gi".to_owned()
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            storage_class: None,
            size: default_storage_size(),
        }
    }
}

/// Requests and limits of each broker container (Kubernetes quantities).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct BrokerResources {
    /// What the scheduler reserves for a broker.
    #[serde(default = "default_requests")]
    pub requests: ResourceAmounts,
    /// The most a broker may use; memory above it is killed by the kernel.
    #[serde(default = "default_limits")]
    pub limits: ResourceAmounts,
}

/// CPU and memory amounts, each optional.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceAmounts {
    /// CPU, e.g. `500m` or `2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory, e.g. `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

fn default_requests() -> ResourceAmounts {
    ResourceAmounts {
        cpu: Some("500m".to_owned()),
        memory: Some("1Gi".to_owned()),
    }
}

fn default_limits() -> ResourceAmounts {
    ResourceAmounts {
        cpu: None,
        memory: Some("2Gi".to_owned()),
    }
}

impl Default for BrokerResources {
    fn default() -> Self {
        Self {
            requests: default_requests(),
            limits: default_limits(),
        }
    }
}

/// The client listener: TLS on or off, and which SASL mechanisms it offers.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Listeners {
    /// Encrypt client and inter-broker traffic (SASL_SSL); off gives SASL_PLAINTEXT.
    #[serde(default = "default_true")]
    pub tls: bool,
    /// Mechanisms clients may authenticate with.
    #[serde(default = "default_sasl_mechanisms")]
    #[schemars(length(min = 1))]
    pub sasl_mechanisms: Vec<SaslMechanism>,
}

fn default_true() -> bool {
    true
}

fn default_sasl_mechanisms() -> Vec<SaslMechanism> {
    vec![SaslMechanism::ScramSha512, SaslMechanism::ScramSha256]
}

impl Default for Listeners {
    fn default() -> Self {
        Self {
            tls: true,
            sasl_mechanisms: default_sasl_mechanisms(),
        }
    }
}

/// A SASL mechanism, spelled as Kafka clients spell it.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SaslMechanism {
    /// Password sent in the clear (checked against the SCRAM credentials); use with TLS only.
    #[serde(rename = "PLAIN")]
    Plain,
    /// Salted challenge-response with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// Salted challenge-response with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    /// JWTs signed by the control plane.
    #[serde(rename = "OAUTHBEARER")]
    OauthBearer,
}

impl SaslMechanism {
    /// The name in `sasl.enabled.mechanisms`.
    pub fn as_kafka_name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OauthBearer => "OAUTHBEARER",
        }
    }
}

/// Ceilings of the tenant's plan, enforced by the brokers and the autoscaler.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Partitions over all topics, replicas not counted.
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1))]
    pub partitions: i32,
    /// Produce throughput of the whole cluster, MB/s.
    #[serde(default = "default_ingress")]
    #[schemars(range(min = 1))]
    pub ingress_mb_per_s: i32,
    /// Fetch throughput to clients of the whole cluster, MB/s.
    #[serde(default = "default_egress")]
    #[schemars(range(min = 1))]
    pub egress_mb_per_s: i32,
    /// Longest retention a topic may ask for, in ms; -1 allows infinite retention.
    #[serde(default = "default_retention_ms_max")]
    #[schemars(range(min = -1))]
    pub retention_ms_max: i64,
}

fn default_partitions() -> i32 {
    1000
}
fn default_ingress() -> i32 {
    50
}
fn default_egress() -> i32 {
    150
}
fn default_retention_ms_max() -> i64 {
    7 * 24 * 3600 * 1000
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            partitions: default_partitions(),
            ingress_mb_per_s: default_ingress(),
            egress_mb_per_s: default_egress(),
            retention_ms_max: default_retention_ms_max(),
        }
    }
}

/// Failure-domain spread of the brokers.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    /// Node label whose values are the failure domains brokers spread over.
    #[serde(default = "default_topology_key")]
    pub topology_key: String,
}

fn default_topology_key() -> String {
    "topology.kubernetes.io/zone".to_owned()
}

impl Default for Spread {
    fn default() -> Self {
        Self {
            topology_key: default_topology_key(),
        }
    }
}

/// The autoscaler's policy. Load is measured against what one broker is sized for
/// (`brokerIngressMbPerS`, `brokerEgressMbPerS`): utilisation is the cluster's throughput over
/// the capacity of its brokers, the larger of the ingress and egress ratios.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.scaleInUtilizationPercent < self.targetUtilizationPercent",
    "message": "autoscaling.scaleInUtilizationPercent must be below targetUtilizationPercent"
}]))]
pub struct Autoscaling {
    /// Move the broker count between `brokers.min` and `brokers.max` with load; off keeps
    /// `brokers.min` brokers.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Utilisation (percent) above which brokers are added, once it has lasted
    /// `scaleOutWindowSeconds`; new brokers bring it back to about this level.
    #[serde(default = "default_target_utilization")]
    #[schemars(range(min = 1, max = 100))]
    pub target_utilization_percent: i32,
    /// A broker is removed when, without it, utilisation would have stayed below this for
    /// `scaleInWindowSeconds`. The gap to the target is the hysteresis that keeps the count
    /// from flapping.
    #[serde(default = "default_scale_in_utilization")]
    #[schemars(range(min = 0, max = 99))]
    pub scale_in_utilization_percent: i32,
    /// Produce throughput one broker is sized for, MB/s.
    #[serde(default = "default_broker_ingress")]
    #[schemars(range(min = 1))]
    pub broker_ingress_mb_per_s: i32,
    /// Fetch throughput to clients one broker is sized for, MB/s.
    #[serde(default = "default_broker_egress")]
    #[schemars(range(min = 1))]
    pub broker_egress_mb_per_s: i32,
    /// How long utilisation must stay above the target before brokers are added.
    #[serde(default = "default_scale_out_window")]
    #[schemars(range(min = 0))]
    pub scale_out_window_seconds: i32,
    /// How long load must stay low before a broker is removed.
    #[serde(default = "default_scale_in_window")]
    #[schemars(range(min = 0))]
    pub scale_in_window_seconds: i32,
    /// Quiet time after any scaling before the next one.
    #[serde(default = "default_cooldown")]
    #[schemars(range(min = 0))]
    pub cooldown_seconds: i32,
    /// Produce throughput per partition, MB/s, above which a topic with
    /// `fjord.autoscale.partitions=true` gets more partitions.
    #[serde(default = "default_partition_ingress")]
    #[schemars(range(min = 1))]
    pub partition_ingress_mb_per_s: i32,
}

fn default_target_utilization() -> i32 {
    70
}
fn default_scale_in_utilization() -> i32 {
    40
}
fn default_broker_ingress() -> i32 {
    20
}
fn default_broker_egress() -> i32 {
    60
}
fn default_scale_out_window() -> i32 {
    300
}
fn default_scale_in_window() -> i32 {
    1800
}
fn default_cooldown() -> i32 {
    600
}
fn default_partition_ingress() -> i32 {
    5
}

impl Default for Autoscaling {
    fn default() -> Self {
        Self {
            enabled: true,
            target_utilization_percent: default_target_utilization(),
            scale_in_utilization_percent: default_scale_in_utilization(),
            broker_ingress_mb_per_s: default_broker_ingress(),
            broker_egress_mb_per_s: default_broker_egress(),
            scale_out_window_seconds: default_scale_out_window(),
            scale_in_window_seconds: default_scale_in_window(),
            cooldown_seconds: default_cooldown(),
            partition_ingress_mb_per_s: default_partition_ingress(),
        }
    }
}

/// What the operator last observed; written only by the operator (status subresource).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FjordClusterStatus {
    /// Ready, Progressing and Degraded, Kubernetes-style.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Broker counts.
    #[serde(default)]
    pub brokers: BrokerCounts,
    /// `host:port` Kafka clients bootstrap from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<String>,
    /// Secret holding the cluster CA certificate clients must trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<String>,
    /// Last load sample of each broker, for the autoscaler and `kubectl describe`.
    #[serde(default)]
    pub broker_load: Vec<BrokerLoad>,
    /// The autoscaler's last decision and what it is doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler: Option<AutoscalerStatus>,
    /// A rolling change in progress (brokers restarted one at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roll: Option<RollStatus>,
}

/// The autoscaler's memory, kept in the status so it survives operator restarts.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerStatus {
    /// Cluster utilisation at the last sample, percent of the brokers' capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_percent: Option<f64>,
    /// The last decision, e.g. `ScaleOut: 3 -> 5 brokers (utilisation 96% > 70% for 300s)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<String>,
    /// When the broker count last changed (RFC 3339); the cooldown runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<String>,
    /// The broker being drained before the StatefulSet sheds it (always the highest ordinal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draining_broker: Option<i32>,
    /// Brokers were added and partitions are still to be spread onto them once they are
    /// ready (AlterPartitionReassignments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance_pending: Option<bool>,
}

/// A rolling change: brokers on an old pod template are restarted one at a time.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollStatus {
    /// The broker restarted last, or waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<i32>,
    /// Since when the roll has been waiting for the cluster to be safe (RFC 3339); past the
    /// stuck limit the cluster is Degraded with reason `RollStuck`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<String>,
}

/// How many brokers should run and how many are ready.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct BrokerCounts {
    /// Brokers passing their readiness probe.
    pub ready: i32,
    /// Brokers the operator wants running.
    pub desired: i32,
}

/// A Kubernetes-style condition (the shape of `metav1.Condition`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Progressing` or `Degraded`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One CamelCase word saying why.
    pub reason: String,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
    /// The `metadata.generation` the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One broker's load, as read from its metrics endpoint.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerLoad {
    /// The broker's `node.id` (its pod ordinal).
    pub broker_id: i32,
    /// Produce bytes per second accepted.
    pub ingress_bytes_per_s: f64,
    /// Fetch bytes per second sent to clients.
    pub egress_bytes_per_s: f64,
    /// Partition replicas the broker hosts.
    pub partitions: i32,
}

/// The CRD as YAML, exactly as `fjord-operator crd` prints it.
pub fn crd_yaml() -> Result<String> {
    serde_saphyr::to_string(&FjordCluster::crd()).map_err(Error::CrdYaml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_spec_gets_defaults() {
        let spec: FjordClusterSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec.brokers, BrokerBounds { min: 1, max: 3 });
        assert_eq!(spec.storage.size, "10Gi");
        assert!(spec.listeners.tls);
        assert_eq!(spec.spread.topology_key, "topology.kubernetes.io/zone");
        assert_eq!(spec, FjordClusterSpec::default());
    }

    #[test]
    fn sasl_mechanisms_use_kafka_spelling() {
        let l: Listeners =
            serde_json::from_str(r#"{"saslMechanisms":["PLAIN","SCRAM-SHA-256"]}"#).unwrap();
        assert_eq!(
            l.sasl_mechanisms,
            vec![SaslMechanism::Plain, SaslMechanism::ScramSha256]
        );
        for m in [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
            SaslMechanism::OauthBearer,
        ] {
            let json = serde_json::to_value(m).unwrap();
            assert_eq!(json, m.as_kafka_name());
        }
    }

    #[test]
    fn schema_validates_min_broker_and_bounds_order() {
        let crd = serde_json::to_value(FjordCluster::crd()).unwrap();
        let brokers = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["brokers"];
        assert_eq!(brokers["properties"]["min"]["minimum"].as_f64(), Some(1.0));
        assert_eq!(
            brokers["x-kubernetes-validations"][0]["rule"],
            "self.max >= self.min"
        );
    }

    #[test]
    fn crd_has_status_subresource_and_printer_columns() {
        let crd = FjordCluster::crd();
        let v = &crd.spec.versions[0];
        assert_eq!(crd.spec.group, "fjord.dev");
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let cols: Vec<_> = v
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(cols, ["Brokers", "Ready", "Bootstrap", "Age"]);
    }
}
