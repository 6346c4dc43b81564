//! Reconcile against a fake API server: the exact calls, in order, and what they carry.

use http::{Method, StatusCode};
use kube::api::ObjectMeta;
use serde_json::{Value, json};

use super::fixtures::{ApiServerVerifier, test_context};
use super::*;
use crate::crd::FjordClusterStatus;
use crate::resources::test_cluster;

pub(super) const CLUSTER_PATH: &str =
    "/apis/fjord.dev/v1alpha1/namespaces/tenant-a/fjordclusters/orders";

/// The objects applied for the test cluster, in order.
pub(super) const APPLY_PATHS: [&str; 6] = [
    "/api/v1/namespaces/tenant-a/configmaps/orders-broker-config",
    "/api/v1/namespaces/tenant-a/services/orders-brokers",
    "/api/v1/namespaces/tenant-a/services/orders-bootstrap",
    "/apis/apps/v1/namespaces/tenant-a/statefulsets/orders-broker",
    "/apis/policy/v1/namespaces/tenant-a/poddisruptionbudgets/orders-broker",
    "/apis/networking.k8s.io/v1/namespaces/tenant-a/networkpolicies/orders-broker",
];

/// The cluster's Secrets, in the order the operator reads them.
const SECRET_PATHS: [&str; 3] = [
    "/api/v1/namespaces/tenant-a/secrets/orders-ca",
    "/api/v1/namespaces/tenant-a/secrets/orders-broker-tls",
    "/api/v1/namespaces/tenant-a/secrets/orders-internal-users",
];

/// A valid set of the test cluster's Secrets as the API server returns them, in
/// [`SECRET_PATHS`] order.
pub(super) fn valid_secrets() -> Vec<Value> {
    let plan = resources::plan_secrets(
        &test_cluster(),
        &BuildSettings::default(),
        &resources::ExistingSecrets::default(),
        time::OffsetDateTime::now_utc(),
    )
    .expect("plan");
    plan.writes
        .iter()
        .map(|secret| serde_json::to_value(secret).expect("json"))
        .collect()
}

/// Answers the three Secret reads with `secrets` (`None`: 404).
pub(super) async fn serve_secret_reads(server: &mut ApiServerVerifier, secrets: &[Option<Value>]) {
    for (path, secret) in SECRET_PATHS.into_iter().zip(secrets) {
        let seen = server.next().await;
        assert_eq!(seen.method, Method::GET, "{path}");
        assert_eq!(seen.path, path);
        match secret {
            Some(secret) => seen.ok(secret),
            None => seen.not_found(),
        }
    }
}

/// Answers the Secret reads with a valid set: the operator writes none of them.
pub(super) async fn serve_valid_secrets(server: &mut ApiServerVerifier) {
    let secrets: Vec<Option<Value>> = valid_secrets().into_iter().map(Some).collect();
    serve_secret_reads(server, &secrets).await;
}

pub(super) fn finalized(mut cluster: FjordCluster) -> FjordCluster {
    cluster.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    cluster
}

pub(super) fn spawn_reconcile(
    cluster: FjordCluster,
    ctx: &Arc<Context>,
) -> tokio::task::JoinHandle<Result<Action>> {
    tokio::spawn(reconcile(Arc::new(cluster), ctx.clone()))
}

/// Answers the Secret reads with valid Secrets, then the six applies, the StatefulSet with
/// `ready` of its replicas ready; returns the bodies of the applies.
pub(super) async fn serve_applies(server: &mut ApiServerVerifier, ready: i32) -> Vec<Value> {
    serve_valid_secrets(server).await;
    serve_object_applies(server, ready).await
}

/// Answers the six applies (after the Secrets), as [`serve_applies`].
pub(super) async fn serve_object_applies(server: &mut ApiServerVerifier, ready: i32) -> Vec<Value> {
    let mut bodies = Vec::new();
    for path in APPLY_PATHS {
        let seen = server.next().await;
        seen.assert_apply(path);
        bodies.push(seen.body.clone());
        if path.contains("statefulsets") {
            let mut sts = seen.body.clone();
            sts["metadata"]["generation"] = json!(1);
            sts["status"] = json!({
                "replicas": 3, "readyReplicas": ready, "updatedReplicas": 3,
                "observedGeneration": 1,
            });
            seen.ok(&sts);
        } else {
            seen.echo();
        }
    }
    bodies
}

/// Answers the status apply and returns the status the operator sent.
pub(super) async fn serve_status(server: &mut ApiServerVerifier) -> FjordClusterStatus {
    let seen = server.next().await;
    seen.assert_apply(&format!("{CLUSTER_PATH}/status"));
    assert_eq!(seen.body["apiVersion"], "fjord.dev/v1alpha1");
    assert_eq!(seen.body["kind"], "FjordCluster");
    assert!(
        seen.body.get("spec").is_none(),
        "status patches never write the spec"
    );
    let status: FjordClusterStatus =
        serde_json::from_value(seen.body["status"].clone()).expect("a valid status");
    let mut cluster = serde_json::to_value(finalized(test_cluster())).expect("json");
    cluster["status"] = seen.body["status"].clone();
    seen.ok(&cluster);
    status
}

pub(super) fn condition<'a>(status: &'a FjordClusterStatus, type_: &str) -> (&'a str, &'a str) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .expect(type_);
    (c.status.as_str(), c.reason.as_str())
}

#[tokio::test]
async fn new_cluster_gets_the_finalizer_first_and_nothing_else() {
    let (ctx, mut server) = test_context();
    let task = spawn_reconcile(test_cluster(), &ctx);

    let seen = server.next().await;
    assert_eq!(seen.method, Method::PATCH);
    assert_eq!(seen.path, CLUSTER_PATH);
    assert_eq!(seen.content_type, "application/json-patch+json");
    assert_eq!(
        seen.body,
        json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] },
        ])
    );
    seen.ok(&serde_json::to_value(finalized(test_cluster())).expect("json"));

    let action = task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(action, Action::await_change());
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn finalized_cluster_applies_every_object_in_order_then_its_status() {
    let (ctx, mut server) = test_context();
    let task = spawn_reconcile(finalized(test_cluster()), &ctx);

    let bodies = serve_applies(&mut server, 1).await;
    assert_eq!(bodies[0]["kind"], "ConfigMap");
    assert_eq!(bodies[3]["kind"], "StatefulSet");
    assert_eq!(bodies[3]["spec"]["replicas"], 3);
    assert_eq!(
        bodies[3]["metadata"]["ownerReferences"][0]["kind"],
        "FjordCluster"
    );

    let status = serve_status(&mut server).await;
    assert_eq!(status.brokers.desired, 3);
    assert_eq!(status.brokers.ready, 1);
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(
        status.bootstrap.as_deref(),
        Some("orders-bootstrap.tenant-a.svc:9093")
    );
    assert_eq!(condition(&status, "Ready"), ("False", "BrokersNotReady"));
    assert_eq!(
        condition(&status, "Progressing"),
        ("True", "BrokersStarting")
    );
    assert_eq!(condition(&status, "Degraded"), ("False", "AsExpected"));

    let action = task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(RESYNC));
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn first_reconcile_creates_the_three_secrets_and_names_the_ca_in_status() {
    let (ctx, mut server) = test_context();
    let task = spawn_reconcile(finalized(test_cluster()), &ctx);

    serve_secret_reads(&mut server, &[None, None, None]).await;
    let mut written = Vec::new();
    for path in SECRET_PATHS {
        let seen = server.next().await;
        seen.assert_apply(path);
        assert_eq!(seen.body["kind"], "Secret");
        assert_eq!(seen.body["type"], "Opaque");
        assert_eq!(
            seen.body["metadata"]["ownerReferences"][0]["kind"],
            "FjordCluster"
        );
        written.push(seen.body.clone());
        seen.echo();
    }
    let keys = |secret: &Value| -> Vec<String> {
        let mut keys: Vec<String> = secret["data"]
            .as_object()
            .expect("data")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&written[0]), ["ca.crt", "ca.key"]);
    assert_eq!(keys(&written[1]), ["broker.pem", "ca.crt"]);
    assert_eq!(keys(&written[2]), ["password", "users"]);

    let bodies = serve_object_applies(&mut server, 3).await;
    // The StatefulSet reads the users from the key the operator wrote.
    let env = &bodies[3]["spec"]["template"]["spec"]["containers"][0]["env"];
    let users_ref = env
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "FJORD_FJORD_BOOTSTRAP_USERS")
        .expect("users env");
    assert_eq!(
        users_ref["valueFrom"]["secretKeyRef"],
        json!({ "name": "orders-internal-users", "key": "users", "optional": true })
    );

    let status = serve_status(&mut server).await;
    assert_eq!(status.ca_secret.as_deref(), Some("orders-ca"));
    let action = task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(RESYNC));
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn valid_secrets_are_read_but_never_written() {
    let (ctx, mut server) = test_context();
    let task = spawn_reconcile(finalized(test_cluster()), &ctx);
    serve_valid_secrets(&mut server).await;
    // Straight to the ConfigMap: `serve_object_applies` asserts every path in order.
    serve_object_applies(&mut server, 3).await;
    let status = serve_status(&mut server).await;
    assert_eq!(status.ca_secret.as_deref(), Some("orders-ca"));
    task.await.expect("join").expect("reconcile succeeds");
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn missing_users_secret_alone_is_written() {
    let (ctx, mut server) = test_context();
    let task = spawn_reconcile(finalized(test_cluster()), &ctx);
    let secrets = valid_secrets();
    serve_secret_reads(
        &mut server,
        &[Some(secrets[0].clone()), Some(secrets[1].clone()), None],
    )
    .await;
    let seen = server.next().await;
    seen.assert_apply(SECRET_PATHS[2]);
    seen.echo();
    serve_object_applies(&mut server, 3).await;
    serve_status(&mut server).await;
    task.await.expect("join").expect("reconcile succeeds");
}

#[test]
fn requeue_comes_early_only_when_a_certificate_is_due() {
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
    assert_eq!(requeue_after(now, now + time::Duration::days(300)), RESYNC);
    assert_eq!(
        requeue_after(now, now + time::Duration::seconds(12)),
        Duration::from_secs(12)
    );
    assert_eq!(
        requeue_after(now, now - time::Duration::seconds(1)),
        Duration::ZERO
    );
}

#[tokio::test]
async fn all_brokers_ready_reports_ready() {
    let (ctx, mut server) = test_context();
    let task = spawn_reconcile(finalized(test_cluster()), &ctx);
    serve_applies(&mut server, 3).await;
    let status = serve_status(&mut server).await;
    assert_eq!(condition(&status, "Ready"), ("True", "AllBrokersReady"));
    assert_eq!(condition(&status, "Progressing"), ("False", "Stable"));
    task.await.expect("join").expect("reconcile succeeds");
}

#[tokio::test]
async fn reconciling_twice_applies_the_same_objects() {
    let (ctx, mut server) = test_context();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let task = spawn_reconcile(finalized(test_cluster()), &ctx);
        runs.push(serve_applies(&mut server, 3).await);
        serve_status(&mut server).await;
        task.await.expect("join").expect("reconcile succeeds");
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn failed_apply_marks_degraded_stops_and_backs_off() {
    let (ctx, mut server) = test_context();
    let cluster = finalized(test_cluster());
    let task = spawn_reconcile(cluster.clone(), &ctx);

    serve_valid_secrets(&mut server).await;
    let seen = server.next().await;
    seen.assert_apply(APPLY_PATHS[0]);
    seen.echo();
    let seen = server.next().await;
    seen.assert_apply(APPLY_PATHS[1]);
    seen.fail(StatusCode::INTERNAL_SERVER_ERROR, "etcd is unhappy");

    // No further applies: straight to the status, Degraded with the reason.
    let status = serve_status(&mut server).await;
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "ApplyFailed")
    );
    assert!(
        degraded
            .message
            .starts_with("failed to apply Service orders-brokers"),
        "{}",
        degraded.message
    );
    assert!(
        degraded.message.contains("etcd is unhappy"),
        "{}",
        degraded.message
    );

    let error = task.await.expect("join").expect_err("reconcile fails");
    assert_eq!(error.metric_label(), "finalizer");
    let cluster = Arc::new(cluster);
    assert_eq!(
        error_policy(cluster.clone(), &error, ctx.clone()),
        Action::requeue(Duration::from_secs(5))
    );
    assert_eq!(
        error_policy(cluster.clone(), &error, ctx.clone()),
        Action::requeue(Duration::from_secs(10))
    );

    // A success resets the backoff.
    let task = spawn_reconcile(finalized(test_cluster()), &ctx);
    serve_applies(&mut server, 3).await;
    serve_status(&mut server).await;
    task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(
        error_policy(cluster, &error, ctx.clone()),
        Action::requeue(Duration::from_secs(5))
    );
}

#[tokio::test]
async fn deleted_cluster_only_loses_its_finalizer() {
    let (ctx, mut server) = test_context();
    let mut cluster = finalized(test_cluster());
    cluster.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-01T00:00:00Z".parse().expect("timestamp"),
        ));
    let task = spawn_reconcile(cluster.clone(), &ctx);

    let seen = server.next().await;
    assert_eq!(seen.method, Method::PATCH);
    assert_eq!(seen.path, CLUSTER_PATH);
    assert_eq!(
        seen.body,
        json!([
            { "op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER },
            { "op": "remove", "path": "/metadata/finalizers/0" },
        ])
    );
    cluster.metadata.finalizers = None;
    seen.ok(&serde_json::to_value(&cluster).expect("json"));

    let action = task.await.expect("join").expect("cleanup succeeds");
    assert_eq!(action, Action::await_change());
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn cluster_without_namespace_is_an_error_without_api_calls() {
    let (ctx, server) = test_context();
    let mut cluster = test_cluster();
    cluster.metadata = ObjectMeta {
        name: Some("orders".to_owned()),
        ..ObjectMeta::default()
    };
    let error = reconcile(Arc::new(cluster), ctx.clone())
        .await
        .expect_err("no namespace");
    assert_eq!(error.to_string(), "fjordcluster orders has no namespace");
    drop(ctx);
    server.assert_done().await;
}

#[test]
fn backoff_doubles_from_five_seconds_up_to_five_minutes() {
    let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(backoff(0).as_secs(), 5);
    assert_eq!(backoff(u32::MAX).as_secs(), 300);
}
