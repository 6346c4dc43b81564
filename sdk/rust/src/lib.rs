//! Rust client of Fjord's control-plane API.
//!
//! Generated at build time by [progenitor](https://docs.rs/progenitor) from the workspace's
//! `openapi/openapi.json` (see `build.rs`): one builder method per operation of the spec on
//! [`Client`], named by its `operationId`, and one type per schema in [`types`]. Errors are
//! [`Error<types::Problem>`](Error): a response outside the spec's success codes carries the
//! RFC 9457 problem the API answered.
//!
//! ```no_run
//! # async fn example() -> Result<(), fjord_sdk::Error<fjord_sdk::types::Problem>> {
//! let anonymous = fjord_sdk::Client::new("http://127.0.0.1:8080");
//! let token = anonymous
//!     .exchange_token()
//!     .body_map(|b| b.api_key("fjk_…".to_string()))
//!     .send()
//!     .await?
//!     .into_inner();
//! let client = fjord_sdk::authenticated("http://127.0.0.1:8080", &token.access_token)
//!     .expect("a valid token is a valid header");
//! let clusters = client.list_clusters().tenant_id("t-123").send().await?.into_inner();
//! # Ok(()) }
//! ```
//!
//! HTTPS uses rustls without a bundled crypto provider: install one first, e.g.
//! `rustls::crypto::ring::default_provider().install_default()`.
//!
//! # Layout
//!
//! - `build.rs`: reads the spec, downgrades it to OpenAPI 3.0 (`src/downgrade.rs`), runs
//!   progenitor and writes `$OUT_DIR/codegen.rs`;
//! - this file: includes that code and adds [`authenticated`].

#![allow(missing_docs, unreachable_pub, clippy::all, clippy::unwrap_used)]

include!(concat!(env!("OUT_DIR"), "/codegen.rs"));

#[cfg(test)]
mod downgrade;

/// The HTTP client the generated code uses (for its status codes and raw requests).
pub use reqwest;

/// How long a request may take before it fails, when built by [`authenticated`].
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Why [`authenticated`] could not build a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The token holds bytes an HTTP header cannot carry (e.g. a newline).
    #[error("the access token is not a valid HTTP header value")]
    InvalidToken(#[source] reqwest::header::InvalidHeaderValue),
    /// reqwest could not set up its client (e.g. no TLS crypto provider is installed).
    #[error("failed to set up the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// A [`Client`] that sends `authorization: Bearer <token>` with every request.
pub fn authenticated(base_url: &str, token: &str) -> Result<Client, ClientError> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(ClientError::InvalidToken)?;
    value.set_sensitive(true);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    let http = reqwest::ClientBuilder::new()
        .default_headers(headers)
        .timeout(DEFAULT_TIMEOUT)
        .build()
        .map_err(ClientError::Http)?;
    Ok(Client::new_with_client(base_url, http))
}
