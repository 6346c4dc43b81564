//! The control plane end to end in one process, with the real embedded provisioner and
//! rdkafka: sign-up → cluster → topic → credential → produce and consume over TLS + SCRAM →
//! API restart in the middle → delete. HTTP goes through the real router (`fjord_api::app`)
//! with `oneshot`; the brokers, the database (SQLite file) and the Kafka clients are real.

#![allow(clippy::unwrap_used)] // test helpers fail the test on any error

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request};
use fjord_api::provision::Provisioner;
use fjord_api::provision::embedded::{EmbeddedOptions, EmbeddedProvisioner};
use fjord_api::{AppState, app, auth, clusters, db};
use fjord_tests::{STEP_TIMEOUT, consume_exactly, consumer_config, unique_name};
use http_body_util::BodyExt as _;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// One API process: state, reconciler and provisioner over a data dir that outlives it.
struct ControlPlane {
    state: AppState,
    provisioner: Arc<EmbeddedProvisioner>,
    stop: tokio::sync::watch::Sender<bool>,
    reconciler: tokio::task::JoinHandle<()>,
}

impl ControlPlane {
    async fn start(dir: &std::path::Path) -> Self {
        let db = db::connect(&db::sqlite_url(dir)).await.unwrap();
        let provisioner = Arc::new(EmbeddedProvisioner::new(EmbeddedOptions::new(dir)));
        let dyn_provisioner: Arc<dyn Provisioner> = provisioner.clone();
        let state = AppState::new(db, dyn_provisioner, Duration::from_secs(3600))
            .await
            .unwrap();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let reconciler = tokio::spawn(clusters::reconciler::run(state.clone(), async move {
            let _ = stopped.changed().await;
        }));
        ControlPlane {
            state,
            provisioner,
            stop,
            reconciler,
        }
    }

    /// What `fjord dev` does on SIGTERM: stop the reconciler, then the brokers (data kept).
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.reconciler.await;
        self.provisioner.shutdown().await;
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .header("idempotency-key", unique_name("idem"))
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = app(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, token, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    async fn token(&self, api_key: &str) -> String {
        let v = self
            .ok(
                Method::POST,
                "/v1/auth/token",
                "",
                Some(json!({ "api_key": api_key })),
            )
            .await;
        v["access_token"].as_str().unwrap().to_string()
    }

    async fn wait_for(&self, path: &str, token: &str, state: &str) -> Value {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let cluster = self.ok(Method::GET, path, token, None).await;
            if cluster["state"] == state {
                return cluster;
            }
            assert_ne!(cluster["state"], "failed", "{cluster}");
            assert!(Instant::now() < deadline, "stuck: {cluster}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn kafka_config(cluster: &Value, credential: &Value, ca: &std::path::Path) -> ClientConfig {
    let mut c = fjord_tests::client_config(cluster["bootstrap"].as_str().unwrap());
    c.set("security.protocol", "SASL_SSL")
        .set("ssl.ca.location", ca.display().to_string())
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", credential["username"].as_str().unwrap())
        .set("sasl.password", credential["password"].as_str().unwrap());
    c
}

fn produce(config: &ClientConfig, topic: &str, values: &[&str]) {
    let p: BaseProducer = config.create().unwrap();
    for v in values {
        p.send(BaseRecord::<(), _>::to(topic).payload(*v)).unwrap();
    }
    assert_eq!(p.flush(STEP_TIMEOUT), Ok(()));
}

fn consume(config: &ClientConfig, topic: &str, n: usize) -> Vec<String> {
    let mut c = config.clone();
    for (k, v) in consumer_config("unused", &unique_name("g")).config_map() {
        if k != "bootstrap.servers" {
            c.set(k, v);
        }
    }
    let consumer: BaseConsumer = c.create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consume_exactly(&consumer, n, STEP_TIMEOUT, Duration::from_millis(200))
        .unwrap()
        .into_iter()
        .map(|r| r.value)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_up_to_records_over_tls_and_scram_survives_an_api_restart() {
    let dir = tempfile::Builder::new()
        .prefix("fjord-cp-")
        .tempdir()
        .unwrap();
    let cp = ControlPlane::start(dir.path()).await;
    let admin_key = auth::keys::bootstrap_admin(&cp.state.db)
        .await
        .unwrap()
        .unwrap();
    let admin = cp.token(&admin_key).await;

    // Sign-up: a tenant, its admin user, the user's API key and token.
    let tenant = cp
        .ok(
            Method::POST,
            "/v1/tenants",
            &admin,
            Some(json!({"name": unique_name("acme")})),
        )
        .await;
    let base = format!("/v1/tenants/{}", tenant["id"].as_str().unwrap());
    let user = cp
        .ok(
            Method::POST,
            &format!("{base}/users"),
            &admin,
            Some(json!({"name": "ada", "role": "tenant-admin"})),
        )
        .await;
    let key = cp
        .ok(
            Method::POST,
            &format!("{base}/api-keys"),
            &admin,
            Some(json!({"principal_id": user["id"], "name": "ci"})),
        )
        .await;
    let token = cp.token(key["key"].as_str().unwrap()).await;

    // Cluster, topic, credential.
    let cluster = cp
        .ok(
            Method::POST,
            &format!("{base}/clusters"),
            &token,
            Some(json!({"name": "orders"})),
        )
        .await;
    let path = format!("{base}/clusters/{}", cluster["id"].as_str().unwrap());
    let cluster = cp.wait_for(&path, &token, "ready").await;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cluster["ca_cert_pem"].as_str().unwrap()).unwrap();
    cp.ok(
        Method::POST,
        &format!("{path}/topics"),
        &token,
        Some(json!({"name": "payments", "partitions": 2})),
    )
    .await;
    let credential = cp
        .ok(
            Method::POST,
            &format!("{path}/credentials"),
            &token,
            Some(json!({"name": "app"})),
        )
        .await;

    // The brokers enforce ACLs: the credential may do nothing until they allow it.
    let principal = format!("User:{}", credential["username"].as_str().unwrap());
    for (resource_type, name, operation) in [
        ("topic", "payments", "write"),
        ("topic", "payments", "read"),
        ("group", "*", "read"),
    ] {
        cp.ok(
            Method::POST,
            &format!("{path}/acls"),
            &token,
            Some(json!({
                "principal": principal, "resource_type": resource_type,
                "pattern_type": "literal", "resource_name": name,
                "operation": operation, "permission": "allow"
            })),
        )
        .await;
    }
    let config = kafka_config(&cluster, &credential, &ca);
    let cfg = config.clone();
    tokio::task::spawn_blocking(move || produce(&cfg, "payments", &["one", "two"]))
        .await
        .unwrap();

    // Restart the API: same data dir, new process state.
    cp.stop().await;
    let cp = ControlPlane::start(dir.path()).await;
    let again = cp.wait_for(&path, &token, "ready").await;
    assert_eq!(
        again["bootstrap"], cluster["bootstrap"],
        "same address after restart"
    );
    let cfg = config.clone();
    let mut got = tokio::task::spawn_blocking(move || {
        produce(&cfg, "payments", &["three"]);
        consume(&cfg, "payments", 3)
    })
    .await
    .unwrap();
    got.sort();
    assert_eq!(got, vec!["one", "three", "two"]);

    // Revoke the credential: the cluster refuses it from then on.
    let id = credential["id"].as_str().unwrap();
    cp.ok(
        Method::DELETE,
        &format!("{path}/credentials/{id}"),
        &token,
        None,
    )
    .await;
    let cfg = config.clone();
    let refused = tokio::task::spawn_blocking(move || {
        let p: BaseProducer = cfg.create().unwrap();
        p.client()
            .fetch_metadata(None, Duration::from_secs(3))
            .is_err()
    })
    .await
    .unwrap();
    assert!(refused, "a revoked credential must not authenticate");

    // Delete with confirmation; the brokers go away.
    let (status, _) = cp.call(Method::DELETE, &path, &token, None).await;
    assert!(
        (400..500).contains(&status),
        "delete without confirm: {status}"
    );
    cp.ok(
        Method::DELETE,
        &format!("{path}?confirm=orders"),
        &token,
        None,
    )
    .await;
    cp.wait_for(&path, &token, "deleted").await;
    let bootstrap = cluster["bootstrap"].as_str().unwrap().to_string();
    assert!(
        std::net::TcpStream::connect(&bootstrap).is_err(),
        "{bootstrap} still listens"
    );
    cp.stop().await;
}
