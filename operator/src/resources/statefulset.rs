//! The brokers' StatefulSet: one pod and one volume per broker, broker id = pod ordinal.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, HTTPGetAction, Lifecycle, LifecycleHandler, ObjectFieldSelector,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretKeySelector, SecretVolumeSource, SecurityContext, SleepAction, TopologySpreadConstraint,
    Volume, VolumeMount, VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::configmap::{DATA_DIR, TLS_DIR, advertised_listeners};
use super::{
    BuildSettings, CLIENT_PORT, CONTROL_PORT, ClusterNames, HTTP_PORT, PROPERTIES_FILE,
    broker_selector, labels, owned_meta, server_properties, stable_hash,
};
use crate::crd::{FjordCluster, ResourceAmounts};

/// Name of the broker container.
pub(crate) const BROKER_CONTAINER: &str = "broker";
/// Name of the volume claim template (PVCs are `data-N-broker-<i>`).
pub(crate) const DATA_VOLUME: &str = "data";
/// Pod-template annotation whose change rolls the brokers when their config changes.
pub(crate) const CONFIG_HASH_ANNOTATION: &str = "fjord.dev/config-hash";
/// Where the ConfigMap is mounted.
const CONFIG_DIR: &str = "/etc/fjord/config";
/// Seconds a leaving broker keeps serving before its controlled shutdown starts.
pub(crate) const PRE_STOP_SLEEP_SECONDS: i64 = 5;
/// The non-root user the broker image runs as.
const BROKER_UID: i64 = 10001;

fn env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        ..EnvVar::default()
    }
}

fn env_from_field(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn quantities(amounts: &ResourceAmounts) -> Option<BTreeMap<String, Quantity>> {
    let map: BTreeMap<String, Quantity> = [("cpu", &amounts.cpu), ("memory", &amounts.memory)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), Quantity(v.clone()))))
        .collect();
    (!map.is_empty()).then_some(map)
}

fn http_probe(path: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn container_port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

fn broker_container(cluster: &FjordCluster, settings: &BuildSettings) -> Container {
    let names = ClusterNames::of(cluster);
    let resources = &cluster.spec.resources;
    let mut mounts = vec![
        mount(DATA_VOLUME, "/var/lib/fjord", false),
        mount("config", CONFIG_DIR, true),
        mount("tmp", "/tmp", false),
    ];
    if cluster.spec.listeners.tls {
        mounts.push(mount("tls", TLS_DIR, true));
    }
    Container {
        name: BROKER_CONTAINER.to_owned(),
        image: Some(format!(
            "{}:{}",
            settings.image_repository,
            settings.version_of(cluster)
        )),
        command: Some(vec!["fjord-broker".to_owned()]),
        args: Some(vec![
            "--config".to_owned(),
            format!("{CONFIG_DIR}/{PROPERTIES_FILE}"),
            "--data-dir".to_owned(),
            DATA_DIR.to_owned(),
        ]),
        env: Some(vec![
            env_from_field("POD_NAME", "metadata.name"),
            // The pod ordinal (label set by the StatefulSet controller, GA in Kubernetes 1.32).
            env_from_field(
                "FJORD_NODE_ID",
                "metadata.labels['apps.kubernetes.io/pod-index']",
            ),
            env("FJORD_ADVERTISED_LISTENERS", advertised_listeners(cluster)),
            EnvVar {
                name: "FJORD_FJORD_BOOTSTRAP_USERS".to_owned(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: names.internal_users_secret(),
                        key: super::USERS_KEY.to_owned(),
                        optional: Some(true),
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
        ]),
        ports: Some(vec![
            container_port("kafka", CLIENT_PORT),
            container_port("control", CONTROL_PORT),
            container_port("http", HTTP_PORT),
        ]),
        // SIGTERM starts the broker's controlled shutdown (leadership handed off, readiness
        // 503). The short sleep first lets the bootstrap Service drop the pod, so new
        // clients are not sent to a broker that is leaving.
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: PRE_STOP_SLEEP_SECONDS,
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        // Log recovery after a crash may take a while: liveness waits for startup.
        startup_probe: Some(http_probe("/healthz", 5, 120)),
        liveness_probe: Some(http_probe("/healthz", 10, 3)),
        readiness_probe: Some(http_probe("/readyz", 5, 3)),
        resources: Some(ResourceRequirements {
            requests: quantities(&resources.requests),
            limits: quantities(&resources.limits),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn volumes(cluster: &FjordCluster) -> Vec<Volume> {
    let names = ClusterNames::of(cluster);
    let mut volumes = vec![
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.config_map(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "tmp".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    if cluster.spec.listeners.tls {
        volumes.push(Volume {
            name: "tls".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(names.broker_tls_secret()),
                default_mode: Some(0o400),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    volumes
}

fn affinity(cluster: &FjordCluster) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(broker_selector(cluster)),
                        topology_key: "kubernetes.io/hostname".to_owned(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn volume_claim(cluster: &FjordCluster, settings: &BuildSettings) -> PersistentVolumeClaim {
    let storage = &cluster.spec.storage;
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.to_owned()),
            labels: Some(labels(cluster, settings)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: storage.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(storage.size.clone()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// The StatefulSet running [`super::current_brokers`] brokers.
pub fn stateful_set(cluster: &FjordCluster, settings: &BuildSettings) -> StatefulSet {
    stateful_set_with_replicas(cluster, settings, super::current_brokers(cluster))
}

/// The StatefulSet running `replicas` brokers (what the autoscaler decided).
///
/// Pods start in parallel (a quorum needs its peers), spread over `spec.spread.topologyKey`
/// and prefer distinct nodes. Volumes are kept when the set shrinks or is deleted: losing a
/// broker's log is never implicit. The update strategy is `OnDelete`: a new pod template
/// restarts nothing by itself; the operator rolls brokers one at a time when it is safe
/// (see [`crate::rolling`]).
pub fn stateful_set_with_replicas(
    cluster: &FjordCluster,
    settings: &BuildSettings,
    replicas: i32,
) -> StatefulSet {
    let names = ClusterNames::of(cluster);
    let pod_labels = labels(cluster, settings);
    let config_hash = stable_hash(&server_properties(cluster));
    StatefulSet {
        metadata: owned_meta(cluster, settings, names.broker()),
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".to_owned()),
                ..StatefulSetUpdateStrategy::default()
            }),
            selector: broker_selector(cluster),
            service_name: Some(names.headless_service()),
            pod_management_policy: Some("Parallel".to_owned()),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".to_owned()),
                    when_scaled: Some("Retain".to_owned()),
                },
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH_ANNOTATION.to_owned(),
                        config_hash,
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![broker_container(cluster, settings)],
                    volumes: Some(volumes(cluster)),
                    affinity: Some(affinity(cluster)),
                    topology_spread_constraints: Some(vec![TopologySpreadConstraint {
                        max_skew: 1,
                        topology_key: cluster.spec.spread.topology_key.clone(),
                        when_unsatisfiable: "ScheduleAnyway".to_owned(),
                        label_selector: Some(broker_selector(cluster)),
                        ..TopologySpreadConstraint::default()
                    }]),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    // SIGTERM starts a controlled shutdown; give it time to hand off leadership.
                    termination_grace_period_seconds: Some(120),
                    security_context: Some(PodSecurityContext {
                        run_as_user: Some(BROKER_UID),
                        run_as_group: Some(BROKER_UID),
                        fs_group: Some(BROKER_UID),
                        fs_group_change_policy: Some("OnRootMismatch".to_owned()),
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![volume_claim(cluster, settings)]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

#[cfg(test)]
mod tests;
