//! The web console's assets: served at `/` and `/console/…` with their content types, a
//! strict Content-Security-Policy and ETags that answer 304, without a token.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::Method;
use common::{Backend, TestApp};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_assets_are_served_with_types_csp_and_etags() {
    let t = TestApp::new(Backend::Sqlite).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/console/", "text/html; charset=utf-8"),
        ("/console/index.html", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/views/usage.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
    ] {
        let a = t.call(Method::GET, path, None, &[], Value::Null).await;
        assert_eq!(a.status.as_u16(), 200, "{path}");
        assert_eq!(
            a.header("content-type").as_deref(),
            Some(content_type),
            "{path}"
        );
        let csp = a.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(
            a.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        let etag = a.header("etag").unwrap();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

        let again = t
            .call(
                Method::GET,
                path,
                None,
                &[("if-none-match", &etag)],
                Value::Null,
            )
            .await;
        assert_eq!(again.status.as_u16(), 304, "{path}");
        assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
        assert_eq!(again.body, Value::Null);
        let stale = t
            .call(
                Method::GET,
                path,
                None,
                &[("if-none-match", "\"other\"")],
                Value::Null,
            )
            .await;
        assert_eq!(stale.status.as_u16(), 200, "{path}");
    }
    let index = t.call(Method::GET, "/", None, &[], Value::Null).await;
    let html = index.body.as_str().unwrap();
    assert!(html.contains(r#"<script type="module" src="/console/app.js"></script>"#));

    t.call(Method::GET, "/console/secret.txt", None, &[], Value::Null)
        .await
        .assert_problem(404, "not-found");
    t.call(
        Method::GET,
        "/console/../Cargo.toml",
        None,
        &[],
        Value::Null,
    )
    .await
    .assert_problem(404, "not-found");
}
