//! The web console: a single-page application served by the `fjord` binary at `/` and
//! `/console/…`, for tenants who prefer a browser to curl.
//!
//! # Why plain files and no build step
//!
//! The console is hand-written HTML, CSS and native ES modules (`api/console/`), compiled
//! into the binary with `include_str!`. Browsers load ES modules natively, so there is no
//! bundler, no `node_modules` and no Node.js anywhere in building or running `fjord`: `cargo
//! build` alone produces a binary that serves the console, and what the browser runs is
//! exactly the reviewed source. The price is no JSX or TypeScript, which a console of a few
//! forms and tables does not need. Node is used only by the browser tests (`tests/console`).
//!
//! # What it may do
//!
//! It calls only the public REST API of the same origin, with the bearer token it got from
//! `POST /v1/auth/token`; it has no private route. Every asset is sent with a strict
//! Content-Security-Policy (scripts and styles only from this origin, no inline script, no
//! `eval`, no framing), `X-Content-Type-Options: nosniff` and a strong ETag; browsers
//! revalidate (`Cache-Control: no-cache`) and get 304 while the binary is the same.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::Path;
use crate::state::AppState;

/// The policy every console response carries: nothing but this origin's scripts, styles
/// and API, no inline script or `eval`, no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One file of the console.
struct Asset {
    /// Path under `/console/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("../console/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", CSS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("ui.js", JS),
    asset!("views/signin.js", JS),
    asset!("views/tenants.js", JS),
    asset!("views/clusters.js", JS),
    asset!("views/cluster.js", JS),
    asset!("views/topics.js", JS),
    asset!("views/credentials.js", JS),
    asset!("views/messages.js", JS),
    asset!("views/usage.js", JS),
    asset!("views/invoices.js", JS),
];

/// Each asset's strong ETag: a digest of its bytes, computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.body.as_bytes());
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let index = ASSETS
        .iter()
        .position(|a| a.path == path)
        .ok_or_else(|| ApiError::NotFound(format!("the console has no file {path}")))?;
    Ok(serve(index, &headers))
}

/// Whether an `If-None-Match` header names `etag` (or `*`).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

fn serve(index: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let mut response = if none_match(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_asset_holds_inline_script_or_handlers() {
        for a in ASSETS {
            if a.path.ends_with(".html") {
                // Every <script> must load a file: the policy forbids inline code.
                for (i, _) in a.body.match_indices("<script") {
                    let tag = &a.body[i..a.body[i..].find('>').map_or(a.body.len(), |e| i + e)];
                    assert!(tag.contains("src="), "inline script in {}: {tag}", a.path);
                }
                assert!(
                    !a.body.contains(" onclick="),
                    "inline handler in {}",
                    a.path
                );
                assert!(!a.body.contains("style=\""), "inline style in {}", a.path);
            }
        }
    }

    #[test]
    fn every_module_the_console_imports_is_served() {
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in a
                .body
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(spec) = line.split(['"', '\'']).nth(1) else {
                    continue;
                };
                let mut parts: Vec<&str> = if dir.is_empty() {
                    Vec::new()
                } else {
                    dir.split('/').collect()
                };
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|b| b.path == target),
                    "{} imports {spec} ({target}), which is not served",
                    a.path
                );
            }
        }
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_star() {
        let mut h = HeaderMap::new();
        assert!(!none_match(&h, "\"a\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"b\", W/\"a\""),
        );
        assert!(none_match(&h, "\"a\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&h, "\"c\""));
    }
}
