//! The embedded provisioner: clusters run in-process with TLS + SASL, survive a restart of
//! the provisioner on the same address with their data, and are removed without a trace.

use fjord_broker::security::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use fjord_api::kafka::{AdminClient, ConnectOptions, KafkaError, SaslMechanism};
use fjord_api::provision::embedded::{EmbeddedOptions, EmbeddedProvisioner};
use fjord_api::provision::{ClusterHealth, ClusterSpec, ProvisionError, Provisioner};
use kafka_protocol::ResponseError;

fn spec(cluster_id: &str) -> ClusterSpec {
    ClusterSpec {
        cluster_id: cluster_id.to_string(),
        tenant_id: "tenant-1".to_string(),
        brokers: 1,
        max_partitions: 100,
    }
}

/// Each test gets its own port range, so tests running at once never compete.
fn provisioner(root: &std::path::Path, ports: RangeInclusive<u16>) -> EmbeddedProvisioner {
    EmbeddedProvisioner::new(EmbeddedOptions {
        ports,
        ..EmbeddedOptions::new(root)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_run_securely_and_tenants_connect_with_scram_over_tls() {
    let root = tempfile::tempdir().unwrap();
    let p = provisioner(root.path(), 21100..=21199);
    assert_eq!(p.health("c1").await, ClusterHealth::Absent);
    assert!(matches!(p.admin("c1").await, Err(ProvisionError::NotFound(id)) if id == "c1"));

    let endpoint = p.ensure(&spec("c1")).await.unwrap();
    assert_eq!(endpoint.bootstrap, "127.0.0.1:21100");
    let ca = endpoint
        .ca_cert_pem
        .clone()
        .expect("secure clusters hand out their CA");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(p.health("c1").await, ClusterHealth::Ready);
    assert_eq!(
        p.ensure(&spec("c1")).await.unwrap(),
        endpoint,
        "ensure is idempotent"
    );

    let mut admin = p.admin("c1").await.unwrap();
    let topic = admin
        .create_topic("orders", 2, 1, &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(topic.partitions, 2);
    admin
        .upsert_scram_credential("tenant-app", SaslMechanism::ScramSha512, "app-secret", 4096)
        .await
        .unwrap();

    // A tenant reaches the bootstrap address over TLS with the CA and its SCRAM credential.
    let tenant = ConnectOptions {
        bootstrap: endpoint.bootstrap.clone(),
        tls_ca_pem: Some(ca),
        sasl: Some((
            SaslMechanism::ScramSha512,
            "tenant-app".into(),
            "app-secret".into(),
        )),
    };
    let mut client = AdminClient::connect(&tenant).await.unwrap();
    // The brokers enforce ACLs: the tenant sees nothing until it is allowed to.
    assert!(client.list_topics().await.unwrap().is_empty());
    let allow = |operation| AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: "orders".into(),
        pattern_type: PatternType::Literal,
        principal: "User:tenant-app".into(),
        host: "*".into(),
        operation,
        permission: Permission::Allow,
    };
    admin
        .create_acls(&[
            allow(Operation::Describe),
            allow(Operation::DescribeConfigs),
        ])
        .await
        .unwrap();
    let names: Vec<String> = client
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["orders"]);
    // Without TLS the client listener does not talk.
    let plain = ConnectOptions {
        tls_ca_pem: None,
        ..tenant.clone()
    };
    assert!(
        AdminClient::connect_with_timeout(&plain, std::time::Duration::from_secs(2))
            .await
            .is_err()
    );
    let wrong = ConnectOptions {
        sasl: Some((
            SaslMechanism::ScramSha512,
            "tenant-app".into(),
            "guess".into(),
        )),
        ..tenant
    };
    let e = AdminClient::connect(&wrong).await.unwrap_err();
    assert_eq!(
        e.response_error(),
        Some(ResponseError::SaslAuthenticationFailed)
    );

    // The cluster directory holds its secrets privately.
    let dir = root.path().join("clusters/c1");
    for file in [
        "ca.pem",
        "ca-key.pem",
        "broker.pem",
        "control.password",
        "provision.json",
    ] {
        let meta = std::fs::metadata(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        }
        let _ = meta;
    }
    p.shutdown().await;
    assert_eq!(p.health("c1").await, ClusterHealth::Absent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_provisioner_brings_clusters_back_on_the_same_address_with_their_data() {
    let root = tempfile::tempdir().unwrap();
    let first = provisioner(root.path(), 21200..=21299);
    let a = first.ensure(&spec("a")).await.unwrap();
    let b = first.ensure(&spec("b")).await.unwrap();
    assert_ne!(a.bootstrap, b.bootstrap, "each cluster has its own ports");
    first
        .admin("a")
        .await
        .unwrap()
        .create_topic("kept", 3, 1, &BTreeMap::new())
        .await
        .unwrap();
    first.shutdown().await;
    drop(first);
    assert!(
        root.path().join("clusters/a/data").is_dir(),
        "shutdown keeps the data"
    );

    let second = provisioner(root.path(), 21200..=21299);
    assert_eq!(
        second.health("a").await,
        ClusterHealth::Absent,
        "not running until ensured"
    );
    let again = second.ensure(&spec("a")).await.unwrap();
    assert_eq!(again, a, "same bootstrap address and CA");
    let kept = second
        .admin("a")
        .await
        .unwrap()
        .describe_topic("kept")
        .await
        .unwrap();
    assert_eq!(kept.map(|t| t.partitions), Some(3));
    // A new cluster does not take the ports of a stopped one.
    let c = second.ensure(&spec("c")).await.unwrap();
    assert_ne!(c.bootstrap, b.bootstrap);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_stops_the_broker_and_removes_everything() {
    let root = tempfile::tempdir().unwrap();
    let p = provisioner(root.path(), 21300..=21399);
    let endpoint = p.ensure(&spec("gone")).await.unwrap();
    let mut admin = p.admin("gone").await.unwrap();
    p.delete("gone").await.unwrap();
    assert!(!root.path().join("clusters/gone").exists());
    assert_eq!(p.health("gone").await, ClusterHealth::Absent);
    assert!(matches!(
        p.admin("gone").await,
        Err(ProvisionError::NotFound(_))
    ));
    let e = admin.list_topics().await.unwrap_err();
    assert!(
        matches!(e, KafkaError::Connect { .. }),
        "the broker is gone: {e:?}"
    );
    let refused = tokio::net::TcpStream::connect(&endpoint.bootstrap).await;
    assert!(
        refused.is_err(),
        "nothing listens on {} any more",
        endpoint.bootstrap
    );
    p.delete("gone").await.expect("deleting twice is Ok");
    p.delete("never-existed")
        .await
        .expect("deleting an unknown cluster is Ok");

    // A new cluster of the same id starts from scratch: new CA, no topics.
    let reborn = p.ensure(&spec("gone")).await.unwrap();
    assert_ne!(reborn.ca_cert_pem, endpoint.ca_cert_pem);
    assert!(
        p.admin("gone")
            .await
            .unwrap()
            .list_topics()
            .await
            .unwrap()
            .is_empty()
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_and_exhausted_port_ranges_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let p = provisioner(root.path(), 21400..=21402);
    let e = p.ensure(&spec("../escape")).await.unwrap_err();
    assert!(e.to_string().contains("broker failure"), "{e}");
    assert!(!root.path().join("escape").exists());
    p.ensure(&spec("one")).await.unwrap();
    let e = p.ensure(&spec("two")).await.unwrap_err();
    assert!(
        matches!(&e, ProvisionError::PortsExhausted(r) if r == "21400..=21402"),
        "{e:?}"
    );
    assert!(!root.path().join("clusters/two/provision.json").exists());
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_mode_runs_plaintext_listeners_without_a_ca() {
    let root = tempfile::tempdir().unwrap();
    let p = EmbeddedProvisioner::new(EmbeddedOptions {
        ports: 21500..=21599,
        secure: false,
        ..EmbeddedOptions::new(root.path())
    });
    let endpoint = p.ensure(&spec("dev")).await.unwrap();
    assert_eq!(endpoint.ca_cert_pem, None);
    let plain = ConnectOptions {
        bootstrap: endpoint.bootstrap,
        tls_ca_pem: None,
        sasl: None,
    };
    let mut client = AdminClient::connect(&plain).await.unwrap();
    client
        .create_topic("t", 1, 1, &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(p.health("dev").await, ClusterHealth::Ready);
    p.shutdown().await;
}
