//! The broker's HTTP endpoint (`fjord.http.listener`): Prometheus metrics and health probes.
//!
//! - `GET /metrics`: every metric in the OpenMetrics text format (see [`crate::metrics`]).
//! - `GET /healthz`: 200 while the process serves (Kubernetes liveness).
//! - `GET /readyz`: 200 once the data directory is open and the Kafka listeners accept, 503
//!   from the moment graceful shutdown begins (Kubernetes readiness: no new clients are sent
//!   to a broker that is draining).
//!
//! Built on axum (HTTP/1 only, no other features) rather than on hyper by hand: the workspace
//! already builds it for `fjord-api`, so it adds no crate, and it brings routing, 404/405
//! answers and graceful shutdown that a hand-written hyper service would have to repeat.
//!
//! The endpoint is unauthenticated, as Kafka's JMX exporters and Prometheus targets usually
//! are: bind it to an address only the monitoring network reaches.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::metrics::CONTENT_TYPE;

/// Parses `fjord.http.listener`: empty disables the endpoint, else `HOST:PORT` with an IP
/// address (or `localhost`) as host; port 0 picks a free port.
pub(crate) fn parse_listener(text: &str) -> Result<Option<SocketAddr>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => text.to_string(),
    };
    addr.parse().map(Some).map_err(|_| {
        Error::InvalidConfig(format!(
            "fjord.http.listener: {text:?} must be HOST:PORT with an IP address, e.g. 0.0.0.0:9644"
        ))
    })
}

/// Binds the HTTP endpoint.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("failed to bind the HTTP endpoint {addr}"), e))
}

#[derive(Clone)]
struct AppState {
    broker: Arc<Broker>,
    ready: Arc<AtomicBool>,
}

/// The endpoint's routes. `ready` is what `/readyz` reports.
fn app(broker: Arc<Broker>, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { broker, ready })
}

/// Serves the endpoint on an already-bound listener until `shutdown` completes, then lets
/// requests in flight finish.
pub(crate) async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP endpoint: /metrics, /healthz, /readyz");
    }
    axum::serve(listener, app(broker, ready))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::io("HTTP endpoint failed", e))
}

async fn metrics(State(state): State<AppState>) -> Response {
    // Reading log sizes locks every partition; keep that off the async workers.
    let broker = state.broker.clone();
    match tokio::task::spawn_blocking(move || broker.metrics_text()).await {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "failed to encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_key_is_off_when_empty_and_needs_an_ip_and_port() {
        assert_eq!(parse_listener("").unwrap(), None);
        assert_eq!(parse_listener("  ").unwrap(), None);
        assert_eq!(
            parse_listener("0.0.0.0:9644").unwrap(),
            Some(SocketAddr::from(([0, 0, 0, 0], 9644)))
        );
        assert_eq!(
            parse_listener("localhost:0").unwrap(),
            Some(SocketAddr::from(([127, 0, 0, 1], 0)))
        );
        assert_eq!(
            parse_listener("[::1]:9644").unwrap(),
            Some("[::1]:9644".parse().unwrap())
        );
        for bad in ["9644", "broker-0:9644", "127.0.0.1", "127.0.0.1:99999"] {
            let e = parse_listener(bad).unwrap_err().to_string();
            assert!(e.contains("fjord.http.listener"), "{bad}: {e}");
        }
    }
}
