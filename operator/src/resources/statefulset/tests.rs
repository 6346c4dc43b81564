//! Tests of the StatefulSet builder: the fields a broker cluster's health depends on.

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::*;
use crate::resources::{assert_owned, selector_labels, test_cluster};

fn build() -> StatefulSet {
    stateful_set(&test_cluster(), &BuildSettings::default())
}

fn pod_spec(sts: &StatefulSet) -> &PodSpec {
    sts.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn broker(sts: &StatefulSet) -> &Container {
    &pod_spec(sts).containers[0]
}

fn env_value<'a>(c: &'a Container, name: &str) -> &'a EnvVar {
    c.env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("env {name} missing"))
}

#[test]
fn replicas_start_at_the_minimum_and_use_the_headless_service() {
    let sts = build();
    assert_owned(&sts.metadata);
    assert_eq!(sts.metadata.name.as_deref(), Some("orders-broker"));
    let spec = sts.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.service_name.as_deref(), Some("orders-brokers"));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    assert_eq!(
        spec.selector.match_labels,
        Some(selector_labels(&test_cluster()))
    );
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    for (k, v) in selector_labels(&test_cluster()) {
        assert_eq!(
            template_labels[&k], v,
            "pod template must match the selector"
        );
    }
}

#[test]
fn one_volume_claim_of_the_requested_size_is_kept_on_scale_in() {
    let sts = build();
    let spec = sts.spec.as_ref().unwrap();
    let claims = spec.volume_claim_templates.as_ref().unwrap();
    assert_eq!(claims.len(), 1);
    let claim = claims[0].spec.as_ref().unwrap();
    assert_eq!(claims[0].metadata.name.as_deref(), Some("data"));
    assert_eq!(claim.storage_class_name.as_deref(), Some("fast-ssd"));
    assert_eq!(
        claim.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"],
        Quantity("50Gi".to_owned())
    );
    assert_eq!(claim.access_modes, Some(vec!["ReadWriteOnce".to_owned()]));
    let retention = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .unwrap();
    assert_eq!(retention.when_scaled.as_deref(), Some("Retain"));
    assert_eq!(retention.when_deleted.as_deref(), Some("Retain"));
    let mounts = broker(&sts).volume_mounts.as_ref().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m.name == "data" && m.mount_path == "/var/lib/fjord")
    );
}

#[test]
fn probes_hit_the_broker_http_endpoint() {
    let sts = build();
    let c = broker(&sts);
    let path_and_port = |p: &Option<Probe>| {
        let get = p.as_ref().unwrap().http_get.as_ref().unwrap();
        (get.path.clone().unwrap(), get.port.clone())
    };
    let http = IntOrString::String("http".to_owned());
    assert_eq!(
        path_and_port(&c.readiness_probe),
        ("/readyz".to_owned(), http.clone())
    );
    assert_eq!(
        path_and_port(&c.liveness_probe),
        ("/healthz".to_owned(), http.clone())
    );
    assert_eq!(
        path_and_port(&c.startup_probe),
        ("/healthz".to_owned(), http)
    );
    let ports: Vec<_> = c
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| (p.name.clone().unwrap(), p.container_port))
        .collect();
    assert_eq!(
        ports,
        [
            ("kafka".to_owned(), 9093),
            ("control".to_owned(), 9094),
            ("http".to_owned(), 9644)
        ]
    );
}

#[test]
fn node_id_comes_from_the_pod_ordinal() {
    let sts = build();
    let c = broker(&sts);
    let node_id = env_value(c, "FJORD_NODE_ID");
    assert_eq!(
        node_id
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    // $(POD_NAME) is expanded by Kubernetes only if POD_NAME is defined before it.
    let names: Vec<_> = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let pod_name = names.iter().position(|n| *n == "POD_NAME").unwrap();
    let advertised = names
        .iter()
        .position(|n| *n == "FJORD_ADVERTISED_LISTENERS")
        .unwrap();
    assert!(pod_name < advertised);
    assert_eq!(
        c.args.as_ref().unwrap()[..2],
        [
            "--config".to_owned(),
            "/etc/fjord/config/server.properties".to_owned()
        ]
    );
    assert_eq!(
        c.image.as_deref(),
        Some(format!("ghcr.io/fjord-dev/fjord:{}", env!("CARGO_PKG_VERSION")).as_str())
    );
}

#[test]
fn tls_secret_is_mounted_where_the_keystore_points() {
    let sts = build();
    let volumes = pod_spec(&sts).volumes.as_ref().unwrap();
    let tls = volumes.iter().find(|v| v.name == "tls").unwrap();
    assert_eq!(
        tls.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("orders-broker-tls")
    );
    let mounts = broker(&sts).volume_mounts.as_ref().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m.name == "tls" && m.mount_path == TLS_DIR)
    );
    assert!(
        server_properties(&test_cluster()).contains(&format!("ssl.keystore.location={TLS_DIR}/"))
    );

    let mut plaintext = test_cluster();
    plaintext.spec.listeners.tls = false;
    let sts = stateful_set(&plaintext, &BuildSettings::default());
    assert!(
        !pod_spec(&sts)
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .any(|v| v.name == "tls")
    );
}

#[test]
fn brokers_spread_over_zones_and_avoid_sharing_nodes() {
    let sts = build();
    let pod = pod_spec(&sts);
    let spread = &pod.topology_spread_constraints.as_ref().unwrap()[0];
    assert_eq!(spread.topology_key, "topology.kubernetes.io/zone");
    assert_eq!(spread.max_skew, 1);
    let anti = pod
        .affinity
        .as_ref()
        .unwrap()
        .pod_anti_affinity
        .as_ref()
        .unwrap();
    let term = &anti
        .preferred_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        term.pod_affinity_term.topology_key,
        "kubernetes.io/hostname"
    );
}

#[test]
fn resources_follow_the_spec() {
    let sts = build();
    let r = broker(&sts).resources.as_ref().unwrap();
    assert_eq!(
        r.requests.as_ref().unwrap()["cpu"],
        Quantity("500m".to_owned())
    );
    assert_eq!(
        r.requests.as_ref().unwrap()["memory"],
        Quantity("1Gi".to_owned())
    );
    assert_eq!(
        r.limits.as_ref().unwrap()["memory"],
        Quantity("2Gi".to_owned())
    );
    assert!(!r.limits.as_ref().unwrap().contains_key("cpu"));
}

#[test]
fn config_change_changes_the_pod_template() {
    let hash = |sts: &StatefulSet| {
        sts.spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()[CONFIG_HASH_ANNOTATION]
            .clone()
    };
    let before = build();
    let mut cluster = test_cluster();
    cluster.spec.limits.retention_ms_max = 60_000;
    let after = stateful_set(&cluster, &BuildSettings::default());
    assert_ne!(hash(&before), hash(&after));
    assert_eq!(hash(&before), hash(&build()), "the hash is deterministic");
}

#[test]
fn replicas_follow_the_status_and_rolls_are_the_operators() {
    let mut cluster = test_cluster();
    let spec = build().spec.unwrap();
    assert_eq!(
        spec.update_strategy.unwrap().type_.as_deref(),
        Some("OnDelete"),
        "the operator restarts brokers itself, one at a time"
    );
    cluster.status = Some(crate::crd::FjordClusterStatus {
        brokers: crate::crd::BrokerCounts {
            ready: 5,
            desired: 5,
        },
        ..Default::default()
    });
    let sts = stateful_set(&cluster, &BuildSettings::default());
    assert_eq!(
        sts.spec.unwrap().replicas,
        Some(5),
        "the autoscaler's count"
    );
    let sts = stateful_set_with_replicas(&cluster, &BuildSettings::default(), 4);
    assert_eq!(sts.spec.unwrap().replicas, Some(4));
}

#[test]
fn pre_stop_sleeps_before_the_controlled_shutdown() {
    let sts = build();
    let pod = sts.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    let pre_stop = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .expect("preStop");
    assert_eq!(pre_stop.sleep.as_ref().map(|s| s.seconds), Some(5));
    assert!(
        pod.termination_grace_period_seconds.unwrap() > 5 + 60,
        "time for the shutdown after the sleep"
    );
}
