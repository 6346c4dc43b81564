//! Shared harness of the API's HTTP tests: the real router (`app`) driven with
//! `tower::ServiceExt::oneshot` (no socket) over a real database — a fresh SQLite file per
//! test, or a fresh PostgreSQL schema per test when `FJORD_TEST_DATABASE_URL` is set — and
//! a test provisioner.
//!
//! The test provisioner is a stand-in for the embedded one, acceptable only in these route
//! tests of the API's own logic: it records calls and can be told to fail, and every
//! cluster it "runs" is one real in-process fjord-broker (SASL_PLAINTEXT, started on
//! first use), so topic and credential routes talk real Kafka. End-to-end tests use the
//! embedded provisioner.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use fjord_api::kafka::{AdminClient, ConnectOptions, SaslMechanism};
use fjord_api::provision::{
    ClusterEndpoint, ClusterHealth, ClusterSpec, ProvisionError, Provisioner,
};
use fjord_api::{AppState, app, db};
use fjord_broker::config::BrokerConfig;
use fjord_broker::server::BrokerHandle;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Where a test's database lives.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when `FJORD_TEST_DATABASE_URL` is set.
    pub fn postgres() -> Option<Backend> {
        std::env::var("FJORD_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(Backend::Postgres)
    }
}

/// Generates `sqlite::<name>` and `postgres::<name>` tests running `async fn <name>(Backend)`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(backend) = $crate::common::Backend::postgres() else {
                        eprintln!("FJORD_TEST_DATABASE_URL is not set: PostgreSQL variant skipped");
                        return;
                    };
                    super::$name(backend).await
                }
            )*
        }
    };
}

/// A provisioner for route tests (see the module docs).
pub struct TestProvisioner {
    broker: tokio::sync::Mutex<Option<(BrokerHandle, tempfile::TempDir)>>,
    /// The broker's `fjord.usage.interval.ms`.
    usage_interval_ms: u64,
    /// `ensure` fails while set.
    pub fail_ensure: AtomicBool,
    pub ensures: AtomicUsize,
    pub deletes: AtomicUsize,
}

const ADMIN_USER: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-secret";

impl Default for TestProvisioner {
    fn default() -> Self {
        TestProvisioner::with_usage_interval(200)
    }
}

impl TestProvisioner {
    /// A provisioner whose broker writes a usage window every `usage_interval_ms`.
    pub fn with_usage_interval(usage_interval_ms: u64) -> Self {
        TestProvisioner {
            broker: tokio::sync::Mutex::new(None),
            usage_interval_ms,
            fail_ensure: AtomicBool::new(false),
            ensures: AtomicUsize::new(0),
            deletes: AtomicUsize::new(0),
        }
    }

    fn broker_config(&self, dir: &std::path::Path) -> BrokerConfig {
        let mut map = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            map.insert(k.to_string(), v);
        };
        set("log.dirs", dir.join("data").display().to_string());
        set("listeners", "SASL_PLAINTEXT://127.0.0.1:0".into());
        set("super.users", format!("User:{ADMIN_USER}"));
        set("authorizer.class.name", "fjord".into());
        set(
            "fjord.usage.interval.ms",
            self.usage_interval_ms.to_string(),
        );
        set(
            "fjord.bootstrap.users",
            format!("{ADMIN_USER}:{ADMIN_PASSWORD}"),
        );
        set("connection.failed.authentication.delay.ms", "0".into());
        BrokerConfig::from_map(map).unwrap()
    }

    async fn bootstrap(&self) -> String {
        let mut broker = self.broker.lock().await;
        if broker.is_none() {
            let dir = tempfile::tempdir().unwrap();
            let handle = fjord_broker::server::spawn(self.broker_config(dir.path()))
                .await
                .unwrap();
            *broker = Some((handle, dir));
        }
        broker.as_ref().unwrap().0.bootstrap()
    }

    /// Stops the broker gracefully and starts it again on the same data (a new port).
    pub async fn restart_broker(&self) {
        let mut broker = self.broker.lock().await;
        let (handle, dir) = broker.take().expect("the broker runs");
        handle.shutdown().await.unwrap();
        let handle = fjord_broker::server::spawn(self.broker_config(dir.path()))
            .await
            .unwrap();
        *broker = Some((handle, dir));
    }

    /// Makes the broker write its usage window ending at `now_ms` (a simulated time) to
    /// `__fjord_usage`; returns the records written.
    pub async fn write_usage(&self, now_ms: i64) -> usize {
        self.bootstrap().await;
        let broker = self.broker.lock().await;
        let handle = &broker.as_ref().unwrap().0;
        handle.broker().write_usage(now_ms).await.unwrap()
    }

    /// The ACLs stored on the broker.
    pub async fn broker_acls(&self) -> Vec<fjord_broker::security::acl::AclBinding> {
        self.admin("any").await.unwrap().list_acls().await.unwrap()
    }

    /// Connects to the broker as `user`.
    pub async fn connect_as(&self, user: &str, password: &str) -> Result<AdminClient, String> {
        let options = ConnectOptions {
            bootstrap: self.bootstrap().await,
            tls_ca_pem: None,
            sasl: Some((SaslMechanism::ScramSha512, user.into(), password.into())),
        };
        AdminClient::connect_with_timeout(&options, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Provisioner for TestProvisioner {
    async fn ensure(&self, _spec: &ClusterSpec) -> Result<ClusterEndpoint, ProvisionError> {
        self.ensures.fetch_add(1, Ordering::SeqCst);
        if self.fail_ensure.load(Ordering::SeqCst) {
            return Err(ProvisionError::PortsExhausted("test range".into()));
        }
        Ok(ClusterEndpoint {
            bootstrap: self.bootstrap().await,
            ca_cert_pem: Some(
                "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n".into(),
            ),
        })
    }

    async fn delete(&self, _cluster_id: &str) -> Result<(), ProvisionError> {
        self.deletes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn health(&self, _cluster_id: &str) -> ClusterHealth {
        ClusterHealth::Ready
    }

    async fn admin(&self, _cluster_id: &str) -> Result<AdminClient, ProvisionError> {
        let options = ConnectOptions {
            bootstrap: self.bootstrap().await,
            tls_ca_pem: None,
            sasl: Some((
                SaslMechanism::ScramSha256,
                ADMIN_USER.into(),
                ADMIN_PASSWORD.into(),
            )),
        };
        Ok(AdminClient::connect(&options).await?)
    }

    async fn shutdown(&self) {}
}

/// One test's API.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub provisioner: Arc<TestProvisioner>,
    pub admin_token: String,
    /// The database's URL (to reopen it after a simulated restart).
    db_url: String,
    _dir: tempfile::TempDir,
    // Declared last: dropped after the pool's users.
    _schema: Option<SchemaGuard>,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The header as a string.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// Asserts an RFC 9457 problem with `status` and `code` (the end of its `type`).
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(
            self.body["type"],
            format!("https://fjord.dev/problems/{code}"),
            "{:#}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string());
        assert!(self.body["detail"].is_string());
        assert!(self.body["instance"].as_str().unwrap().starts_with('/'));
    }
}

/// Drops a test's PostgreSQL schema when the test ends.
pub struct SchemaGuard {
    url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let url = self.url.clone();
        let schema = self.schema.clone();
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(pool) = sqlx::AnyPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

async fn database(
    backend: &Backend,
    dir: &std::path::Path,
) -> (db::Db, String, Option<SchemaGuard>) {
    match backend {
        Backend::Sqlite => {
            let url = db::sqlite_url(dir);
            (db::connect(&url).await.unwrap(), url, None)
        }
        Backend::Postgres(url) => {
            // A fresh schema per test: tests run in parallel and never see each other.
            sqlx::any::install_default_drivers();
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::AnyPool::connect(url).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let separator = if url.contains('?') { '&' } else { '?' };
            let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
            let guard = SchemaGuard {
                url: url.clone(),
                schema,
            };
            (db::connect(&scoped).await.unwrap(), scoped, Some(guard))
        }
    }
}

impl TestApp {
    /// A fresh API with its administrator signed in.
    pub async fn new(backend: Backend) -> TestApp {
        TestApp::with(backend, TestProvisioner::default(), None).await
    }

    /// A fresh API over `provisioner`, reading the time from `clock` when given.
    pub async fn with(
        backend: Backend,
        provisioner: TestProvisioner,
        clock: Option<Arc<dyn fjord_api::clock::Clock>>,
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let (db, db_url, schema) = database(&backend, dir.path()).await;
        let provisioner = Arc::new(provisioner);
        let mut state = AppState::new(db, provisioner.clone(), Duration::from_secs(600))
            .await
            .unwrap();
        if let Some(clock) = clock {
            state = state.with_clock(clock);
        }
        let key = fjord_api::auth::keys::bootstrap_admin(&state.db)
            .await
            .unwrap()
            .unwrap();
        let mut test = TestApp {
            router: app(state.clone()),
            state,
            provisioner,
            admin_token: String::new(),
            db_url,
            _dir: dir,
            _schema: schema,
        };
        test.admin_token = test.token_for(&key).await;
        test
    }

    /// Simulates a restart of the API: the pool is closed and a new state (same clock and
    /// provisioner) opens the database again, applying the migrations as at start.
    pub async fn restart_api(&mut self) {
        let clock = self.state.clock.clone();
        self.state.db.close().await;
        let db = db::connect(&self.db_url).await.unwrap();
        let state = AppState::new(db, self.provisioner.clone(), Duration::from_secs(600))
            .await
            .unwrap()
            .with_clock(clock);
        self.router = app(state.clone());
        self.state = state;
    }

    /// Simulates a restart of the API with `fjord serve --signing-keys-dir dir`: tokens are
    /// signed by the keys in `dir` from now on.
    pub async fn restart_with_signing_keys(&mut self, dir: &std::path::Path) {
        let clock = self.state.clock.clone();
        let tokens = fjord_api::auth::jwt::Tokens::from_dir(Duration::from_secs(600), dir);
        let state = AppState::with_tokens(self.state.db.clone(), self.provisioner.clone(), tokens)
            .await
            .unwrap()
            .with_clock(clock);
        self.router = app(state.clone());
        self.state = state;
    }

    /// Sends a request; `body` is sent as JSON when not `Null`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = if body.is_null() {
            request.body(Body::empty()).unwrap()
        } else {
            request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), &[], Value::Null)
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), &[], body).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), &[], body).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), &[], Value::Null)
            .await
    }

    /// Exchanges an API key for a token.
    pub async fn token_for(&self, key: &str) -> String {
        let answer = self
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                &[],
                json!({ "api_key": key }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
        answer.body["access_token"].as_str().unwrap().to_string()
    }

    /// Creates a tenant (as the administrator); returns its id.
    pub async fn tenant(&self, name: &str) -> String {
        let answer = self
            .post("/v1/tenants", &self.admin_token, json!({ "name": name }))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:#}", answer.body);
        answer.body["id"].as_str().unwrap().to_string()
    }

    /// Creates a user with `role` in `tenant_id` and returns a token for it.
    pub async fn member_token(&self, tenant_id: &str, name: &str, role: &str) -> String {
        let user = self
            .post(
                &format!("/v1/tenants/{tenant_id}/users"),
                &self.admin_token,
                json!({ "name": name, "role": role }),
            )
            .await;
        assert_eq!(user.status, StatusCode::CREATED, "{:#}", user.body);
        let key = self
            .post(
                &format!("/v1/tenants/{tenant_id}/api-keys"),
                &self.admin_token,
                json!({ "principal_id": user.body["id"], "name": "test" }),
            )
            .await;
        assert_eq!(key.status, StatusCode::CREATED, "{:#}", key.body);
        self.token_for(key.body["key"].as_str().unwrap()).await
    }

    /// Creates a cluster and reconciles it to `ready`; returns its id.
    pub async fn ready_cluster(&self, tenant_id: &str, token: &str, name: &str) -> String {
        let created = self
            .post(
                &format!("/v1/tenants/{tenant_id}/clusters"),
                token,
                json!({ "name": name }),
            )
            .await;
        assert_eq!(created.status, StatusCode::ACCEPTED, "{:#}", created.body);
        fjord_api::clusters::reconciler::run_once(&self.state)
            .await
            .unwrap();
        let id = created.body["id"].as_str().unwrap().to_string();
        let got = self
            .get(&format!("/v1/tenants/{tenant_id}/clusters/{id}"), token)
            .await;
        assert_eq!(got.body["state"], "ready", "{:#}", got.body);
        id
    }
}

/// `records` as one record batch (magic 2, uncompressed).
pub fn encode_batch(records: &[kafka_protocol::records::Record]) -> bytes::Bytes {
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

impl TestApp {
    /// Produces `records` (a record batch) to partition 0 of `topic` on `cluster` with
    /// acks=all, as the control plane's super user; fails the test on any error.
    pub async fn produce(&self, cluster: &str, topic: &'static str, records: bytes::Bytes) {
        use fjord_api::provision::Provisioner as _;
        use kafka_protocol::messages::{ProduceRequest, TopicName, produce_request};
        use kafka_protocol::protocol::StrBytes;
        let mut admin = self.provisioner.admin(cluster).await.unwrap();
        let produced = admin
            .request(
                &ProduceRequest::default()
                    .with_acks(-1)
                    .with_timeout_ms(5000)
                    .with_topic_data(vec![
                        produce_request::TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_static_str(topic)))
                            .with_partition_data(vec![
                                produce_request::PartitionProduceData::default()
                                    .with_index(0)
                                    .with_records(Some(records)),
                            ]),
                    ]),
            )
            .await
            .unwrap();
        assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    }
}
