//! A fake API server for the controller's tests (controller-rs's `fixtures.rs` pattern): a
//! `tower_test` mock service behind a real `kube::Client` that expects requests in order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::Value;
use tower_test::mock::{Handle, SendResponse};

use super::{Context, FIELD_MANAGER};
use crate::access::{
    AccessError, AdminTarget, BoxFuture, BrokerAccess, ClusterAdmin, ClusterLayout,
};
use crate::reassign::Assignment;
use crate::resources::BuildSettings;

type ApiServerHandle = Handle<Request<Body>, Response<Body>>;

/// One request the operator made, decoded.
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) content_type: String,
    pub(crate) body: Value,
    respond: SendResponse<Response<Body>>,
}

impl Seen {
    /// Answers 200 with `body`.
    pub(crate) fn ok(self, body: &Value) {
        self.respond_with(StatusCode::OK, body);
    }

    /// Answers 200 echoing the request body, as an apply of a new object would.
    pub(crate) fn echo(self) {
        let body = self.body.clone();
        self.ok(&body);
    }

    /// Answers 404 as the API server does for a missing object.
    pub(crate) fn not_found(self) {
        let status = serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": format!("{} not found", self.path),
            "reason": "NotFound",
            "code": 404,
        });
        self.respond_with(StatusCode::NOT_FOUND, &status);
    }

    /// Answers with an API server `Status` error.
    pub(crate) fn fail(self, code: StatusCode, message: &str) {
        let status = serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "InternalError",
            "code": code.as_u16(),
        });
        self.respond_with(code, &status);
    }

    fn respond_with(self, code: StatusCode, body: &Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        let response = Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .expect("response");
        self.respond.send_response(response);
    }

    /// Asserts this is a server-side apply with the operator's field manager, forced.
    pub(crate) fn assert_apply(&self, path: &str) {
        assert_eq!(self.method, Method::PATCH, "{path}");
        assert_eq!(self.path, path);
        assert_eq!(self.content_type, "application/apply-patch+yaml", "{path}");
        let params: Vec<&str> = self.query.split('&').filter(|p| !p.is_empty()).collect();
        assert!(
            params.contains(&format!("fieldManager={FIELD_MANAGER}").as_str()),
            "{path}?{}",
            self.query
        );
        assert!(params.contains(&"force=true"), "{path}?{}", self.query);
    }
}

/// The test's side of the fake API server.
pub(crate) struct ApiServerVerifier(ApiServerHandle);

impl ApiServerVerifier {
    /// The next request the operator sends; panics if none comes within a second.
    pub(crate) async fn next(&mut self) -> Seen {
        let (request, respond) =
            tokio::time::timeout(Duration::from_secs(1), self.0.next_request())
                .await
                .expect("the operator sent no further request within 1s")
                .expect("the client was dropped before sending the expected request");
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("request body is json")
        };
        Seen {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            content_type: parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body,
            respond,
        }
    }

    /// Asserts the operator sends nothing more (the client side has been dropped).
    pub(crate) async fn assert_done(mut self) {
        let next = tokio::time::timeout(Duration::from_millis(200), self.0.next_request()).await;
        if let Ok(Some((request, _))) = next {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }
}

/// Scripted brokers: metrics texts by address (a missing address refuses the connection)
/// and, when `layout` is set, an admin API that applies reassignments and partition
/// increases to it and logs every call.
#[derive(Default)]
pub(crate) struct FakeBrokers {
    pub(crate) metrics: Mutex<BTreeMap<String, String>>,
    pub(crate) layout: Mutex<Option<ClusterLayout>>,
    pub(crate) calls: Mutex<Vec<String>>,
    pub(crate) targets: Mutex<Vec<AdminTarget>>,
}

impl FakeBrokers {
    /// Every broker `0..brokers` of the test cluster answers `text`.
    pub(crate) fn serve_metrics(&self, brokers: i32, text: &str) {
        let names = crate::resources::ClusterNames::of(&crate::resources::test_cluster());
        let mut metrics = self.metrics.lock().expect("lock");
        for b in 0..brokers {
            metrics.insert(names.broker_http_address(b), text.to_owned());
        }
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }
}

struct FakeAdmin(Arc<FakeBrokers>);

fn refused(addr: &str) -> AccessError {
    AccessError::Metrics {
        addr: addr.to_owned(),
        source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
    }
}

impl BrokerAccess for Arc<FakeBrokers> {
    fn metrics<'a>(&'a self, addr: &'a str) -> BoxFuture<'a, Result<String, AccessError>> {
        let answer = self.metrics.lock().expect("lock").get(addr).cloned();
        Box::pin(async move { answer.ok_or_else(|| refused(addr)) })
    }

    fn admin<'a>(
        &'a self,
        target: &'a AdminTarget,
    ) -> BoxFuture<'a, Result<Box<dyn ClusterAdmin>, AccessError>> {
        let fake = self.clone();
        Box::pin(async move {
            fake.targets.lock().expect("lock").push(target.clone());
            if fake.layout.lock().expect("lock").is_none() {
                return Err(refused(&target.bootstrap));
            }
            Ok(Box::new(FakeAdmin(fake)) as Box<dyn ClusterAdmin>)
        })
    }
}

impl ClusterAdmin for FakeAdmin {
    fn layout(&mut self) -> BoxFuture<'_, Result<ClusterLayout, AccessError>> {
        let layout = self
            .0
            .layout
            .lock()
            .expect("lock")
            .clone()
            .unwrap_or_default();
        self.0.calls.lock().expect("lock").push("layout".to_owned());
        Box::pin(async move { Ok(layout) })
    }

    fn reassign<'a>(&'a mut self, moves: &'a Assignment) -> BoxFuture<'a, Result<(), AccessError>> {
        let text: Vec<String> = moves
            .iter()
            .map(|((t, p), r)| format!("{t}-{p}={r:?}"))
            .collect();
        self.0
            .calls
            .lock()
            .expect("lock")
            .push(format!("reassign {}", text.join(" ")));
        if let Some(layout) = self.0.layout.lock().expect("lock").as_mut() {
            layout.assignment.extend(moves.clone());
        }
        Box::pin(async { Ok(()) })
    }

    fn create_partitions<'a>(
        &'a mut self,
        topic: &'a str,
        total: i32,
    ) -> BoxFuture<'a, Result<(), AccessError>> {
        self.0
            .calls
            .lock()
            .expect("lock")
            .push(format!("create_partitions {topic} {total}"));
        if let Some(layout) = self.0.layout.lock().expect("lock").as_mut() {
            for t in &mut layout.topics {
                if t.name == topic {
                    t.partitions = total;
                }
            }
        }
        Box::pin(async { Ok(()) })
    }
}

/// A context whose client talks to a fake API server, and that server's handle; the brokers
/// answer nothing.
pub(crate) fn test_context() -> (Arc<Context>, ApiServerVerifier) {
    let (ctx, server, _) = test_context_with_brokers();
    (ctx, server)
}

/// [`test_context`] with scripted brokers.
pub(crate) fn test_context_with_brokers() -> (Arc<Context>, ApiServerVerifier, Arc<FakeBrokers>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let brokers = Arc::new(FakeBrokers::default());
    let context = Context::with_access(client, BuildSettings::default(), Arc::new(brokers.clone()));
    (Arc::new(context), ApiServerVerifier(handle), brokers)
}
