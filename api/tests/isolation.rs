//! Tenant isolation, route by route: a tenant-admin of tenant A (the strongest tenant role)
//! asking for anything of tenant B gets 404, exactly as if it did not exist, on every
//! tenant-scoped route; platform routes answer 403. On SQLite, and PostgreSQL when
//! `FJORD_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{Backend, TestApp};
use serde_json::{Value, json};

db_tests!(every_route_hides_other_tenants_resources);

async fn every_route_hides_other_tenants_resources(backend: Backend) {
    let t = TestApp::new(backend).await;
    let a = t.tenant("tenant-a").await;
    let b = t.tenant("tenant-b").await;
    let a_token = t.member_token(&a, "alice", "tenant-admin").await;
    let b_token = t.member_token(&b, "bob", "tenant-admin").await;

    // Tenant B's resources, one of each kind.
    let b_cluster = t.ready_cluster(&b, &b_token, "prod").await;
    let b_users = t.get(&format!("/v1/tenants/{b}/users"), &b_token).await;
    let b_user = b_users.body["items"][0]["id"].as_str().unwrap().to_string();
    let sa = t
        .post(
            &format!("/v1/tenants/{b}/service-accounts"),
            &b_token,
            json!({"name": "ci", "role": "developer"}),
        )
        .await;
    let b_sa = sa.body["id"].as_str().unwrap().to_string();
    let keys = t.get(&format!("/v1/tenants/{b}/api-keys"), &b_token).await;
    let b_key = keys.body["items"][0]["id"].as_str().unwrap().to_string();
    let topics = format!("/v1/tenants/{b}/clusters/{b_cluster}/topics");
    assert_eq!(
        t.post(&topics, &b_token, json!({"name": "secret"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let cred = t
        .post(
            &format!("/v1/tenants/{b}/clusters/{b_cluster}/credentials"),
            &b_token,
            json!({"name": "app"}),
        )
        .await;
    let b_cred = cred.body["id"].as_str().unwrap().to_string();
    let acl = t
        .post(
            &format!("/v1/tenants/{b}/clusters/{b_cluster}/acls"),
            &b_token,
            json!({"principal": "User:x", "resource_type": "topic", "pattern_type": "literal",
                   "resource_name": "secret", "operation": "all", "permission": "allow"}),
        )
        .await;
    let b_acl = acl.body["id"].as_str().unwrap().to_string();

    // Tenant A also owns a cluster, to try B's sub-resources under A's own tenant path.
    let a_cluster = t.ready_cluster(&a, &a_token, "prod").await;

    let tb = format!("/v1/tenants/{b}");
    let cb = format!("{tb}/clusters/{b_cluster}");
    let ca = format!("/v1/tenants/{a}/clusters/{a_cluster}");
    let member = json!({"name": "mallory", "role": "viewer"});
    let acl_body = json!({"principal": "User:m", "resource_type": "topic", "pattern_type": "literal",
                          "resource_name": "t", "operation": "read", "permission": "allow"});
    let routes: Vec<(Method, String, Value)> = vec![
        (Method::GET, tb.clone(), Value::Null),
        (Method::GET, format!("{tb}/users"), Value::Null),
        (Method::POST, format!("{tb}/users"), member.clone()),
        (Method::GET, format!("{tb}/users/{b_user}"), Value::Null),
        (
            Method::PATCH,
            format!("{tb}/users/{b_user}"),
            json!({"role": "viewer"}),
        ),
        (Method::DELETE, format!("{tb}/users/{b_user}"), Value::Null),
        (Method::GET, format!("{tb}/service-accounts"), Value::Null),
        (Method::POST, format!("{tb}/service-accounts"), member),
        (
            Method::GET,
            format!("{tb}/service-accounts/{b_sa}"),
            Value::Null,
        ),
        (
            Method::PATCH,
            format!("{tb}/service-accounts/{b_sa}"),
            json!({"role": "viewer"}),
        ),
        (
            Method::DELETE,
            format!("{tb}/service-accounts/{b_sa}"),
            Value::Null,
        ),
        (Method::GET, format!("{tb}/api-keys"), Value::Null),
        (
            Method::POST,
            format!("{tb}/api-keys"),
            json!({"principal_id": b_user, "name": "x"}),
        ),
        (
            Method::DELETE,
            format!("{tb}/api-keys/{b_key}"),
            Value::Null,
        ),
        (Method::GET, format!("{tb}/clusters"), Value::Null),
        (
            Method::POST,
            format!("{tb}/clusters"),
            json!({"name": "stolen"}),
        ),
        (Method::GET, cb.clone(), Value::Null),
        (
            Method::PATCH,
            cb.clone(),
            json!({"limits": {"max_partitions": 1}}),
        ),
        (Method::DELETE, format!("{cb}?confirm=prod"), Value::Null),
        (Method::GET, format!("{cb}/events"), Value::Null),
        (Method::GET, format!("{cb}/topics"), Value::Null),
        (Method::POST, format!("{cb}/topics"), json!({"name": "x"})),
        (Method::GET, format!("{cb}/topics/secret"), Value::Null),
        (
            Method::PATCH,
            format!("{cb}/topics/secret"),
            json!({"configs": {"retention.ms": "1"}}),
        ),
        (
            Method::POST,
            format!("{cb}/topics/secret/partitions"),
            json!({"partitions": 9}),
        ),
        (Method::DELETE, format!("{cb}/topics/secret"), Value::Null),
        (
            Method::GET,
            format!("{cb}/topics/secret/messages"),
            Value::Null,
        ),
        (Method::GET, format!("{cb}/credentials"), Value::Null),
        (
            Method::POST,
            format!("{cb}/credentials"),
            json!({"name": "x"}),
        ),
        (
            Method::DELETE,
            format!("{cb}/credentials/{b_cred}"),
            Value::Null,
        ),
        (Method::GET, format!("{cb}/acls"), Value::Null),
        (Method::POST, format!("{cb}/acls"), acl_body),
        (Method::DELETE, format!("{cb}/acls/{b_acl}"), Value::Null),
        (Method::GET, format!("{tb}/usage"), Value::Null),
        (Method::GET, format!("{tb}/invoices"), Value::Null),
        (Method::GET, format!("{tb}/invoices/2026-01"), Value::Null),
        (Method::GET, format!("{tb}/budget"), Value::Null),
        (
            Method::PUT,
            format!("{tb}/budget"),
            json!({"monthly_amount": "1.00"}),
        ),
        (Method::DELETE, format!("{tb}/budget"), Value::Null),
        (Method::GET, format!("{tb}/budget/alerts"), Value::Null),
        // B's ids under A's own tenant and cluster.
        (
            Method::GET,
            format!("/v1/tenants/{a}/users/{b_user}"),
            Value::Null,
        ),
        (
            Method::PATCH,
            format!("/v1/tenants/{a}/service-accounts/{b_sa}"),
            json!({"role": "viewer"}),
        ),
        (
            Method::POST,
            format!("/v1/tenants/{a}/api-keys"),
            json!({"principal_id": b_user, "name": "x"}),
        ),
        (
            Method::DELETE,
            format!("/v1/tenants/{a}/api-keys/{b_key}"),
            Value::Null,
        ),
        (
            Method::GET,
            format!("/v1/tenants/{a}/clusters/{b_cluster}"),
            Value::Null,
        ),
        (
            Method::GET,
            format!("/v1/tenants/{a}/clusters/{b_cluster}/topics"),
            Value::Null,
        ),
        (
            Method::DELETE,
            format!("{ca}/credentials/{b_cred}"),
            Value::Null,
        ),
        (Method::DELETE, format!("{ca}/acls/{b_acl}"), Value::Null),
    ];
    for (method, path, body) in &routes {
        let answer = t
            .call(method.clone(), path, Some(&a_token), &[], body.clone())
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {:#}",
            answer.body
        );
        answer.assert_problem(404, "not-found");
    }
    // Platform routes are for administrators only: 403, whoever the tenant.
    let platform: Vec<(Method, String, Value)> = vec![
        (Method::GET, "/v1/tenants".to_string(), Value::Null),
        (
            Method::POST,
            "/v1/tenants".to_string(),
            json!({"name": "x"}),
        ),
        (Method::DELETE, tb.clone(), Value::Null),
        (
            Method::POST,
            "/v1/admin/signing-keys/rotate".to_string(),
            Value::Null,
        ),
    ];
    for (method, path, body) in &platform {
        t.call(method.clone(), path, Some(&a_token), &[], body.clone())
            .await
            .assert_problem(403, "forbidden");
    }

    // Every tenant-scoped route of the router is in one of the tables above.
    let spec = fjord_api::openapi::spec();
    for (template, item) in &spec.paths.paths {
        if !template.starts_with("/v1/tenants/{tenant_id}") {
            continue;
        }
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, present) in methods {
            if !present {
                continue;
            }
            let covered = routes
                .iter()
                .chain(&platform)
                .any(|(m, p, _)| *m == method && matches(template, p));
            assert!(covered, "{method} {template} has no isolation case");
        }
    }

    // And B's things are untouched.
    let still = t.get(&format!("{cb}/topics/secret"), &b_token).await;
    assert_eq!(still.status, StatusCode::OK);
    assert_eq!(still.body["partitions"], 1);
    assert_eq!(t.get(&cb, &b_token).await.body["state"], "ready");
    assert_eq!(
        t.get(&format!("{tb}/users/{b_user}"), &b_token)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&format!("{cb}/acls"), &b_token).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Whether `path` (without query) fits the OpenAPI `template`.
fn matches(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap();
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}')) || t == p)
}
