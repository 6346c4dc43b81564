//! Fjord's control plane: the multi-tenant REST API that provisions Kafka-compatible
//! clusters, its persistence and its authentication.
//!
//! # Layout
//!
//! - [`app`] builds the axum router from one `router()` per resource module; [`serve`] runs
//!   it on an already-bound listener until a shutdown future resolves. `main.rs` only wires
//!   configuration to these.
//! - Request flow: [`metrics::track`] (counts and times) → [`error::fill_problem_instance`]
//!   (problem bodies get the request path) → the route's handler, whose
//!   [`auth::Principal`] extractor verifies the bearer token and whose
//!   [`auth::Principal::authorize`] call checks tenant and role → queries through
//!   [`db::Db`] (sqlx `Any`: SQLite or PostgreSQL, one set of migrations) → JSON, or an
//!   [`error::ApiError`] rendered once as RFC 9457 problem+json.
//! - Resources: [`tenants`], [`members`] (users and service accounts), [`api_keys`],
//!   [`auth::routes`] (token exchange, JWKS, key rotation), [`clusters`] (with a pure state
//!   machine and the background [`clusters::reconciler`] driving the
//!   [`provision::Provisioner`]), [`topics`], [`messages`] (the bounded message browser),
//!   [`credentials`] (SASL/SCRAM), [`acls`], [`usage`] (metering), [`billing`] (price
//!   books, invoices, budgets), [`health`]; [`clock`] is the injectable time.
//! - [`console`]: the web console (static HTML, CSS and ES modules compiled into the
//!   binary, served at `/`), a client of the same public API.
//! - Cross-cutting: [`pagination`] (cursor pages), [`idempotency`] (`Idempotency-Key`),
//!   [`extract`] (problem-answering extractors, `If-Match`), [`validate`], [`openapi`]
//!   (the spec, from utoipa annotations).
//! - [`cli`]: the `fjord` command-line client (login, clusters, topics, credentials, usage,
//!   invoices) over the generated Rust SDK, `fjord-sdk`.
//! - [`kafka`] (admin client) and [`provision`] (provisioners) are the data-plane side.

pub mod acls;
pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod cli;
pub mod clock;
pub mod clusters;
pub mod console;
pub mod credentials;
pub mod db;
pub mod error;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod kafka;
pub mod members;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod provision;
pub mod state;
pub mod tenants;
pub mod topics;
pub mod usage;
pub mod validate;

use std::future::Future;

use axum::Router;
use axum::routing::get;

use crate::error::ApiError;
pub use crate::state::AppState;

/// The whole API as one router over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(auth::routes::router())
        .merge(tenants::router())
        .merge(members::router())
        .merge(api_keys::router())
        .merge(clusters::router())
        .merge(topics::router())
        .merge(messages::router())
        .merge(credentials::router())
        .merge(acls::router())
        .merge(usage::router())
        .merge(billing::router())
        .merge(console::router())
        .route("/openapi.json", get(openapi::serve_spec))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(error::fill_problem_instance))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
