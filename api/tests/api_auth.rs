//! HTTP tests of authentication, roles, tenants, members, API keys, pagination, problem
//! responses, health and metrics, through the real router on SQLite (and PostgreSQL when
//! `FJORD_TEST_DATABASE_URL` is set).

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{Backend, TestApp};
use fjord_api::auth::jwt::{Claims, ISSUER};
use serde_json::{Value, json};

db_tests!(
    api_keys_exchange_for_tokens_and_bad_credentials_get_401_problems,
    expired_tampered_and_unknown_principal_tokens_are_refused,
    roles_are_enforced_per_route,
    tenant_lists_paginate_with_cursors,
    malformed_requests_get_problem_responses,
    member_roles_change_with_if_match_and_apply_at_once,
    rotated_signing_keys_keep_old_tokens_valid,
    signing_keys_from_a_directory_sign_and_cannot_be_rotated_by_the_api,
    health_readiness_and_metrics_answer,
    deleted_tenants_lose_access,
);

async fn api_keys_exchange_for_tokens_and_bad_credentials_get_401_problems(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let user = t
        .post(
            &format!("/v1/tenants/{tenant}/users"),
            &t.admin_token,
            json!({"name": "ann", "email": "ann@example.com", "role": "developer"}),
        )
        .await;
    let key = t
        .post(
            &format!("/v1/tenants/{tenant}/api-keys"),
            &t.admin_token,
            json!({"principal_id": user.body["id"], "name": "laptop"}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED);
    let secret = key.body["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("fjk_"));

    let answer = t
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            &[],
            json!({"api_key": secret}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 600);
    let token = answer.body["access_token"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("/v1/tenants/{tenant}"), token).await.status,
        StatusCode::OK
    );

    // The list never shows the secret again.
    let list = t
        .get(&format!("/v1/tenants/{tenant}/api-keys"), &t.admin_token)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(!list.body.to_string().contains(&secret[20..]));

    for bad in [
        "nonsense".to_string(),
        format!("{}x", secret),
        secret.replace("fjk_", "fjx_"),
    ] {
        let answer = t
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                &[],
                json!({"api_key": bad}),
            )
            .await;
        answer.assert_problem(401, "unauthorized");
    }

    // A revoked key no longer exchanges.
    let key_id = key.body["id"].as_str().unwrap();
    let revoked = t
        .delete(
            &format!("/v1/tenants/{tenant}/api-keys/{key_id}"),
            &t.admin_token,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let answer = t
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            &[],
            json!({"api_key": secret}),
        )
        .await;
    answer.assert_problem(401, "unauthorized");

    // No token at all.
    let answer = t
        .call(
            Method::GET,
            &format!("/v1/tenants/{tenant}"),
            None,
            &[],
            Value::Null,
        )
        .await;
    answer.assert_problem(401, "unauthorized");
    assert_eq!(answer.header("www-authenticate").as_deref(), Some("Bearer"));
}

async fn expired_tampered_and_unknown_principal_tokens_are_refused(backend: Backend) {
    let t = TestApp::new(backend).await;
    let admin_claims = t
        .state
        .tokens
        .verify(&t.state.db, &t.admin_token)
        .await
        .unwrap();
    let now = fjord_api::db::now_ms() / 1000;
    let expired = t
        .state
        .tokens
        .sign(&Claims {
            iat: now - 7200,
            exp: now - 3600,
            ..admin_claims.clone()
        })
        .await
        .unwrap();
    let answer = t.get("/v1/tenants", &expired).await;
    answer.assert_problem(401, "unauthorized");
    assert!(answer.body["detail"].as_str().unwrap().contains("expired"));

    let mut tampered = t.admin_token.clone();
    tampered.pop();
    tampered.push(if t.admin_token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    t.get("/v1/tenants", &tampered)
        .await
        .assert_problem(401, "unauthorized");
    t.get("/v1/tenants", "not.a.jwt")
        .await
        .assert_problem(401, "unauthorized");

    // Validly signed, but for a principal that does not exist.
    let ghost = t
        .state
        .tokens
        .sign(&Claims {
            sub: "ghost".into(),
            ..admin_claims
        })
        .await
        .unwrap();
    t.get("/v1/tenants", &ghost)
        .await
        .assert_problem(401, "unauthorized");
    let _ = ISSUER;
}

async fn roles_are_enforced_per_route(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let owner = t.member_token(&tenant, "owner", "tenant-admin").await;
    let dev = t.member_token(&tenant, "dev", "developer").await;
    let viewer = t.member_token(&tenant, "viewer", "viewer").await;
    let billing = t.member_token(&tenant, "billing", "billing").await;
    let cluster = t.ready_cluster(&tenant, &owner, "main").await;
    let clusters = format!("/v1/tenants/{tenant}/clusters");
    let topics = format!("{clusters}/{cluster}/topics");

    // Only platform administrators manage tenants and signing keys.
    for token in [&owner, &dev, &viewer, &billing] {
        t.post("/v1/tenants", token, json!({"name": "evil"}))
            .await
            .assert_problem(403, "forbidden");
        t.get("/v1/tenants", token)
            .await
            .assert_problem(403, "forbidden");
        t.post("/v1/admin/signing-keys/rotate", token, Value::Null)
            .await
            .assert_problem(403, "forbidden");
    }

    // Everyone of the tenant reads the tenant and its clusters.
    for token in [&owner, &dev, &viewer, &billing] {
        assert_eq!(
            t.get(&format!("/v1/tenants/{tenant}"), token).await.status,
            StatusCode::OK
        );
        assert_eq!(t.get(&clusters, token).await.status, StatusCode::OK);
    }

    // Viewer: reads data, changes nothing.
    assert_eq!(t.get(&topics, &viewer).await.status, StatusCode::OK);
    t.post(&topics, &viewer, json!({"name": "orders"}))
        .await
        .assert_problem(403, "forbidden");
    t.post(&clusters, &viewer, json!({"name": "other"}))
        .await
        .assert_problem(403, "forbidden");
    t.post(
        &format!("{clusters}/{cluster}/credentials"),
        &viewer,
        json!({"name": "app"}),
    )
    .await
    .assert_problem(403, "forbidden");
    t.post(
        &format!("/v1/tenants/{tenant}/users"),
        &viewer,
        json!({"name": "x", "role": "viewer"}),
    )
    .await
    .assert_problem(403, "forbidden");

    // Billing: no cluster data, no members.
    t.get(&topics, &billing)
        .await
        .assert_problem(403, "forbidden");
    t.get(&format!("/v1/tenants/{tenant}/users"), &billing)
        .await
        .assert_problem(403, "forbidden");

    // Developer: clusters and topics, but no deletion of clusters and no members.
    let created = t.post(&topics, &dev, json!({"name": "orders"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    assert_eq!(
        t.post(&clusters, &dev, json!({"name": "second"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    t.delete(&format!("{clusters}/{cluster}?confirm=main"), &dev)
        .await
        .assert_problem(403, "forbidden");
    t.post(
        &format!("/v1/tenants/{tenant}/users"),
        &dev,
        json!({"name": "x", "role": "viewer"}),
    )
    .await
    .assert_problem(403, "forbidden");

    // Tenant admin: members and deletion.
    assert_eq!(
        t.post(
            &format!("/v1/tenants/{tenant}/service-accounts"),
            &owner,
            json!({"name": "ci", "role": "developer"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.delete(&format!("{clusters}/{cluster}?confirm=main"), &owner)
            .await
            .status,
        StatusCode::ACCEPTED
    );
    // Nobody can hand out the platform role.
    t.post(
        &format!("/v1/tenants/{tenant}/users"),
        &owner,
        json!({"name": "root", "role": "admin"}),
    )
    .await
    .assert_problem(422, "validation");
}

async fn tenant_lists_paginate_with_cursors(backend: Backend) {
    let t = TestApp::new(backend).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(t.tenant(&format!("tenant-{i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tenants?limit=2&cursor={c}"),
            None => "/v1/tenants?limit=2".to_string(),
        };
        let page = t.get(&path, &t.admin_token).await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected = created.clone();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);

    t.get("/v1/tenants?limit=0", &t.admin_token)
        .await
        .assert_problem(422, "validation");
    t.get("/v1/tenants?limit=9999", &t.admin_token)
        .await
        .assert_problem(422, "validation");
    t.get("/v1/tenants?cursor=%21%21", &t.admin_token)
        .await
        .assert_problem(422, "validation");
    t.get("/v1/tenants?limit=abc", &t.admin_token)
        .await
        .assert_problem(400, "bad-request");
}

async fn malformed_requests_get_problem_responses(backend: Backend) {
    let t = TestApp::new(backend).await;
    let syntax = t
        .call(
            Method::POST,
            "/v1/tenants",
            Some(&t.admin_token),
            &[("content-type", "application/json")],
            Value::String("{not json".into()),
        )
        .await;
    // A JSON string body is valid JSON but the wrong shape: 422.
    syntax.assert_problem(422, "validation");

    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v1/tenants")
        .header("authorization", format!("Bearer {}", t.admin_token))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let response = tower::ServiceExt::oneshot(t.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let missing = t.post("/v1/tenants", &t.admin_token, json!({})).await;
    missing.assert_problem(422, "validation");
    assert!(
        missing.body["detail"].as_str().unwrap().contains("name"),
        "{:#}",
        missing.body
    );

    let unknown_field = t
        .post(
            "/v1/tenants",
            &t.admin_token,
            json!({"name": "a", "plan": "gold"}),
        )
        .await;
    unknown_field.assert_problem(422, "validation");

    let bad_name = t
        .post("/v1/tenants", &t.admin_token, json!({"name": "Bad Name"}))
        .await;
    bad_name.assert_problem(422, "validation");
    assert!(bad_name.body["detail"].as_str().unwrap().contains("a-z"));

    let no_type = t
        .call(
            Method::POST,
            "/v1/tenants",
            Some(&t.admin_token),
            &[],
            Value::Null,
        )
        .await;
    no_type.assert_problem(415, "unsupported-media-type");

    t.get("/v1/nothing-here", &t.admin_token)
        .await
        .assert_problem(404, "not-found");
    t.call(
        Method::PUT,
        "/v1/tenants",
        Some(&t.admin_token),
        &[],
        Value::Null,
    )
    .await
    .assert_problem(405, "method-not-allowed");

    t.tenant("dup").await;
    t.post("/v1/tenants", &t.admin_token, json!({"name": "dup"}))
        .await
        .assert_problem(409, "conflict");
    let missing = t.get("/v1/tenants/does-not-exist", &t.admin_token).await;
    missing.assert_problem(404, "not-found");
    assert_eq!(missing.body["instance"], "/v1/tenants/does-not-exist");
}

async fn member_roles_change_with_if_match_and_apply_at_once(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "sam", "viewer").await;
    let users = t
        .get(&format!("/v1/tenants/{tenant}/users"), &t.admin_token)
        .await;
    let sam = users.body["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/tenants/{tenant}/users/{sam}");

    t.post(
        &format!("/v1/tenants/{tenant}/clusters"),
        &token,
        json!({"name": "c"}),
    )
    .await
    .assert_problem(403, "forbidden");

    let got = t.get(&path, &t.admin_token).await;
    let etag = got.header("etag").unwrap();
    let stale = t
        .call(
            Method::PATCH,
            &path,
            Some(&t.admin_token),
            &[("if-match", "\"999\"")],
            json!({"role": "developer"}),
        )
        .await;
    stale.assert_problem(412, "precondition-failed");
    let changed = t
        .call(
            Method::PATCH,
            &path,
            Some(&t.admin_token),
            &[("if-match", &etag)],
            json!({"role": "developer"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
    assert_eq!(changed.body["role"], "developer");
    assert_ne!(changed.header("etag").unwrap(), etag);
    // The old ETag is stale now.
    t.call(
        Method::PATCH,
        &path,
        Some(&t.admin_token),
        &[("if-match", &etag)],
        json!({"role": "viewer"}),
    )
    .await
    .assert_problem(412, "precondition-failed");

    // The same token now carries the new role.
    assert_eq!(
        t.post(
            &format!("/v1/tenants/{tenant}/clusters"),
            &token,
            json!({"name": "c"})
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );

    // Duplicate names conflict; deleting a user ends its tokens.
    t.post(
        &format!("/v1/tenants/{tenant}/users"),
        &t.admin_token,
        json!({"name": "sam", "role": "viewer"}),
    )
    .await
    .assert_problem(409, "conflict");
    assert_eq!(
        t.delete(&path, &t.admin_token).await.status,
        StatusCode::NO_CONTENT
    );
    t.get(&format!("/v1/tenants/{tenant}"), &token)
        .await
        .assert_problem(401, "unauthorized");
    t.get(&path, &t.admin_token)
        .await
        .assert_problem(404, "not-found");
}

async fn rotated_signing_keys_keep_old_tokens_valid(backend: Backend) {
    let t = TestApp::new(backend).await;
    let jwks = t
        .call(
            Method::GET,
            "/.well-known/jwks.json",
            None,
            &[],
            Value::Null,
        )
        .await;
    assert_eq!(jwks.status, StatusCode::OK);
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");

    let rotated = t
        .post("/v1/admin/signing-keys/rotate", &t.admin_token, Value::Null)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:#}", rotated.body);
    let kid = rotated.body["kid"].as_str().unwrap();
    // The token signed by the old key still works.
    assert_eq!(
        t.get("/v1/tenants", &t.admin_token).await.status,
        StatusCode::OK
    );
    let jwks = t
        .call(
            Method::GET,
            "/.well-known/jwks.json",
            None,
            &[],
            Value::Null,
        )
        .await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&kid));
    // New tokens are signed with the new key.
    let key = fjord_api::auth::keys::create(
        &t.state.db,
        &fjord_api::auth::keys::admin_principal(&t.state.db)
            .await
            .unwrap()
            .unwrap(),
        None,
        "second",
    )
    .await
    .unwrap()
    .0;
    let fresh = t.token_for(&key.key).await;
    let header = jsonwebtoken::decode_header(&fresh).unwrap();
    assert_eq!(header.kid.as_deref(), Some(kid));
}

async fn health_readiness_and_metrics_answer(backend: Backend) {
    let t = TestApp::new(backend).await;
    let health = t
        .call(Method::GET, "/healthz", None, &[], Value::Null)
        .await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = t.call(Method::GET, "/readyz", None, &[], Value::Null).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ok");
    t.get("/v1/tenants/nope", &t.admin_token).await;
    let metrics = t
        .call(Method::GET, "/metrics", None, &[], Value::Null)
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains(r#"fjord_api_http_requests_total{method="GET",route="/v1/tenants/{tenant_id}",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("fjord_api_http_request_duration_seconds_bucket"),
        "{text}"
    );

    let served = t
        .call(Method::GET, "/openapi.json", None, &[], Value::Null)
        .await;
    assert_eq!(served.status, StatusCode::OK);
    let generated: Value = serde_json::from_str(&fjord_api::openapi::spec_json()).unwrap();
    assert_eq!(served.body, generated);

    // With the database gone, readiness fails and liveness does not.
    t.state.db.close().await;
    let ready = t.call(Method::GET, "/readyz", None, &[], Value::Null).await;
    ready.assert_problem(503, "unavailable");
    let health = t
        .call(Method::GET, "/healthz", None, &[], Value::Null)
        .await;
    assert_eq!(health.status, StatusCode::OK);
}

async fn deleted_tenants_lose_access(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("gone").await;
    let token = t.member_token(&tenant, "ann", "tenant-admin").await;
    let cluster = t.ready_cluster(&tenant, &token, "c").await;
    // A tenant with live clusters cannot be deleted.
    t.delete(&format!("/v1/tenants/{tenant}"), &t.admin_token)
        .await
        .assert_problem(409, "conflict");
    t.delete(
        &format!("/v1/tenants/{tenant}/clusters/{cluster}?confirm=c"),
        &token,
    )
    .await;
    fjord_api::clusters::reconciler::run_once(&t.state)
        .await
        .unwrap();
    assert_eq!(
        t.delete(&format!("/v1/tenants/{tenant}"), &t.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    t.get(&format!("/v1/tenants/{tenant}"), &token)
        .await
        .assert_problem(401, "unauthorized");
    t.get(&format!("/v1/tenants/{tenant}"), &t.admin_token)
        .await
        .assert_problem(404, "not-found");
    let list = t.get("/v1/tenants", &t.admin_token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
}

async fn signing_keys_from_a_directory_sign_and_cannot_be_rotated_by_the_api(backend: Backend) {
    let mut t = TestApp::new(backend).await;
    let admin = fjord_api::auth::keys::admin_principal(&t.state.db)
        .await
        .unwrap()
        .unwrap();
    let key = fjord_api::auth::keys::create(&t.state.db, &admin, None, "ops")
        .await
        .unwrap()
        .0
        .key;
    let keys = tempfile::tempdir().unwrap();
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    std::fs::write(keys.path().join("signing.pem"), pair.serialize_pem()).unwrap();
    t.restart_with_signing_keys(keys.path()).await;

    // Tokens of the database's keys name a kid the directory does not have.
    let old = t.get("/v1/tenants", &t.admin_token).await;
    old.assert_problem(401, "unauthorized");
    let token = t.token_for(&key).await;
    assert_eq!(t.get("/v1/tenants", &token).await.status, StatusCode::OK);

    // The JWKS lists exactly the directory's key, under the kid the token carries.
    let jwks = t
        .call(
            Method::GET,
            "/.well-known/jwks.json",
            None,
            &[],
            Value::Null,
        )
        .await;
    let listed = jwks.body["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{:#}", jwks.body);
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    assert_eq!(listed[0]["kid"], kid.as_str());
    use base64::Engine as _;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key_raw());
    assert_eq!(listed[0]["x"], x.as_str());

    let rotate = t
        .post("/v1/admin/signing-keys/rotate", &token, Value::Null)
        .await;
    rotate.assert_problem(409, "conflict");
    assert!(
        rotate.body["detail"]
            .as_str()
            .unwrap()
            .contains("--signing-keys-dir"),
        "{:#}",
        rotate.body
    );
}
