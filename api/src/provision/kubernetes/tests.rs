//! The kubernetes provisioner against a fake API server (kube's client over a
//! `tower_test` mock service): the exact requests it makes and how it maps the operator's
//! status back to the API's cluster state.

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};

use super::*;

const ID: &str = "0b5f6a3e-8d1c-4c2a-9f7e-3d2b1a0c9e8f";
const NAME: &str = "c-0b5f6a3e-8d1c-4c2a-9f7e-3d2b1a0c9e8f";
const PATH: &str = "/apis/fjord.dev/v1alpha1/namespaces/fjord/fjordclusters/c-0b5f6a3e-8d1c-4c2a-9f7e-3d2b1a0c9e8f";

type Server = Handle<Request<Body>, Response<Body>>;

fn provisioner() -> (KubernetesProvisioner, Server) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let options = KubernetesOptions {
        ready_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(10),
        ..KubernetesOptions::new("fjord")
    };
    (KubernetesProvisioner::new(client, options), handle)
}

struct Seen {
    method: Method,
    path: String,
    query: String,
    body: Value,
    respond: SendResponse<Response<Body>>,
}

impl Seen {
    fn answer(self, code: StatusCode, body: &Value) {
        let response = Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).expect("json")))
            .expect("response");
        self.respond.send_response(response);
    }

    fn ok(self, body: &Value) {
        self.answer(StatusCode::OK, body);
    }

    fn not_found(self) {
        self.answer(
            StatusCode::NOT_FOUND,
            &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "reason": "NotFound", "code": 404, "message": "not found" }),
        );
    }
}

async fn next(server: &mut Server) -> Seen {
    let (request, respond) = tokio::time::timeout(Duration::from_secs(2), server.next_request())
        .await
        .expect("a request within 2s")
        .expect("the client is alive");
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.expect("body");
    Seen {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        body: if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("json body")
        },
        respond,
    }
}

fn spec() -> ClusterSpec {
    ClusterSpec {
        cluster_id: ID.to_owned(),
        tenant_id: "tenant-1".to_owned(),
        brokers: 3,
        max_partitions: 200,
    }
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({ "type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-01T00:00:00Z" })
}

/// The resource as the API server returns it, with `status`.
fn resource(status: Value) -> Value {
    let mut cluster =
        serde_json::to_value(desired_resource(&spec(), 6).expect("valid")).expect("json");
    cluster["metadata"]["namespace"] = json!("fjord");
    cluster["metadata"]["generation"] = json!(1);
    cluster["status"] = status;
    cluster
}

fn ready_status() -> Value {
    json!({
        "observedGeneration": 1,
        "conditions": [
            condition("Ready", "True", "AllBrokersReady", "3/3 brokers ready"),
            condition("Degraded", "False", "AsExpected", ""),
        ],
        "brokers": { "ready": 3, "desired": 3 },
        "bootstrap": format!("{NAME}-bootstrap.fjord.svc:9093"),
        "caSecret": format!("{NAME}-ca"),
    })
}

#[tokio::test]
async fn ensure_applies_the_resource_waits_for_ready_and_reads_the_ca() {
    let (provisioner, mut server) = provisioner();
    let task = tokio::spawn(async move { provisioner.ensure(&spec()).await });

    let seen = next(&mut server).await;
    assert_eq!(seen.method, Method::PATCH);
    assert_eq!(seen.path, PATH);
    assert!(
        seen.query.contains("fieldManager=fjord-api"),
        "{}",
        seen.query
    );
    assert!(seen.query.contains("force=true"), "{}", seen.query);
    assert_eq!(seen.body["apiVersion"], "fjord.dev/v1alpha1");
    assert_eq!(seen.body["kind"], "FjordCluster");
    assert_eq!(seen.body["spec"]["brokers"], json!({ "min": 3, "max": 6 }));
    assert_eq!(seen.body["spec"]["limits"]["partitions"], 200);
    assert_eq!(seen.body["metadata"]["labels"][TENANT_LABEL], "tenant-1");
    assert_eq!(seen.body["metadata"]["labels"][CLUSTER_LABEL], ID);
    assert!(
        seen.body.get("status").is_none(),
        "the operator owns the status"
    );
    seen.ok(&resource(Value::Null));

    // Not ready yet, then ready.
    let seen = next(&mut server).await;
    assert_eq!(
        (seen.method.clone(), seen.path.as_str()),
        (Method::GET, PATH)
    );
    seen.ok(&resource(json!({
        "conditions": [condition("Ready", "False", "BrokersNotReady", "1/3 brokers ready")],
        "observedGeneration": 1,
    })));
    let seen = next(&mut server).await;
    assert_eq!(seen.method, Method::GET);
    seen.ok(&resource(ready_status()));

    let seen = next(&mut server).await;
    assert_eq!(seen.method, Method::GET);
    assert_eq!(
        seen.path,
        format!("/api/v1/namespaces/fjord/secrets/{NAME}-ca")
    );
    // "-----BEGIN CERTIFICATE-----\n" base64-encoded, as Secrets carry data.
    seen.ok(
        &json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": format!("{NAME}-ca") },
                     "data": { "ca.crt": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==" } }),
    );

    let endpoint = task.await.expect("join").expect("ensure succeeds");
    assert_eq!(
        endpoint.bootstrap,
        format!("{NAME}-bootstrap.fjord.svc:9093")
    );
    assert_eq!(
        endpoint.ca_cert_pem.as_deref(),
        Some("-----BEGIN CERTIFICATE-----\n")
    );
}

#[tokio::test]
async fn ensure_fails_with_the_operators_reason_when_degraded() {
    let (provisioner, mut server) = provisioner();
    let task = tokio::spawn(async move { provisioner.ensure(&spec()).await });
    next(&mut server).await.ok(&resource(Value::Null));
    next(&mut server).await.ok(&resource(json!({
        "observedGeneration": 1,
        "conditions": [condition("Degraded", "True", "ApplyFailed", "failed to apply StatefulSet")],
    })));
    let error = task.await.expect("join").expect_err("degraded");
    let text = format!(
        "{}: {}",
        error,
        std::error::Error::source(&error)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(
        text.contains(&format!(
            "cluster {NAME} is degraded: ApplyFailed: failed to apply StatefulSet"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn delete_removes_the_resource_and_waits_until_it_is_gone() {
    let (provisioner, mut server) = provisioner();
    let task = tokio::spawn(async move { provisioner.delete(ID).await });
    let seen = next(&mut server).await;
    assert_eq!(
        (seen.method.clone(), seen.path.as_str()),
        (Method::DELETE, PATH)
    );
    seen.ok(&resource(ready_status()));
    // Still there while the operator's finalizer runs, then gone.
    next(&mut server).await.ok(&resource(ready_status()));
    let seen = next(&mut server).await;
    assert_eq!(seen.method, Method::GET);
    seen.not_found();
    task.await.expect("join").expect("delete succeeds");

    // Deleting what is already gone is fine.
    let (again, mut server) = self::provisioner();
    let task = tokio::spawn(async move { again.delete(ID).await });
    next(&mut server).await.not_found();
    task.await.expect("join").expect("already gone");
}

#[tokio::test]
async fn health_maps_the_status() {
    let (provisioner, mut server) = provisioner();
    let provisioner = std::sync::Arc::new(provisioner);
    let cases = [
        (None, ClusterHealth::Absent),
        (Some(Value::Null), ClusterHealth::Starting),
        (Some(ready_status()), ClusterHealth::Ready),
        (
            Some(json!({ "observedGeneration": 1, "conditions": [
                condition("Ready", "True", "AllBrokersReady", ""),
                condition("Degraded", "True", "RollStuck", "rolling update stuck"),
            ]})),
            ClusterHealth::Failed("RollStuck: rolling update stuck".to_owned()),
        ),
        (
            // Ready, but for an older generation (a change is being rolled out).
            Some(
                json!({ "observedGeneration": 0, "bootstrap": "x:9093", "conditions": [
                    condition("Ready", "True", "AllBrokersReady", ""),
                ]}),
            ),
            ClusterHealth::Starting,
        ),
    ];
    for (status, expected) in cases {
        let p = provisioner.clone();
        let task = tokio::spawn(async move { p.health(ID).await });
        let seen = next(&mut server).await;
        assert_eq!(seen.path, PATH);
        match status {
            None => seen.not_found(),
            Some(status) => seen.ok(&resource(status)),
        }
        assert_eq!(task.await.expect("join"), expected);
    }
}

#[test]
fn resource_names_come_from_cluster_ids_and_bad_ids_are_refused() {
    assert_eq!(resource_name(ID).expect("uuid"), NAME);
    for bad in ["", "Upper", "a_b", "x-", &"a".repeat(41)] {
        let error = resource_name(bad).expect_err(bad);
        assert_eq!(
            error.to_string(),
            format!("cluster id {bad:?} is not a lowercase DNS label")
        );
    }
    let mut one = spec();
    one.brokers = 8;
    let cluster = desired_resource(&one, 6).expect("valid");
    assert_eq!(
        (cluster.spec.brokers.min, cluster.spec.brokers.max),
        (8, 8),
        "max never below min"
    );
}
