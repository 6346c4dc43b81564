//! HTTP tests of clusters (state machine, reconciler, restart), topics, SCRAM credentials,
//! ACLs, idempotency keys and If-Match, through the real router on SQLite (and PostgreSQL
//! when `FJORD_TEST_DATABASE_URL` is set). Clusters run on the test provisioner of
//! `common` (one real in-process broker).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{Backend, TestApp, TestProvisioner};
use fjord_api::AppState;
use fjord_api::clusters::reconciler;
use serde_json::{Value, json};

db_tests!(
    clusters_go_through_their_life_cycle_and_record_every_transition,
    failed_provisioning_is_recorded_and_retried_by_an_update,
    failed_clusters_are_retried_automatically_with_backoff_then_left_alone,
    a_restarted_api_resumes_in_flight_and_ready_clusters,
    idempotency_keys_replay_the_first_response,
    topics_are_created_described_altered_grown_and_deleted,
    partition_limits_and_cluster_readiness_are_enforced,
    scram_credentials_work_on_the_cluster_until_revoked,
    acls_are_pushed_to_the_cluster_listed_and_deleted,
    cluster_lists_paginate,
);

async fn clusters_go_through_their_life_cycle_and_record_every_transition(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "owner", "tenant-admin").await;
    let created = t
        .post(
            &format!("/v1/tenants/{tenant}/clusters"),
            &token,
            json!({"name": "main", "limits": {"max_partitions": 10}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{:#}", created.body);
    assert_eq!(created.body["state"], "provisioning");
    assert_eq!(created.body["limits"]["max_partitions"], 10);
    assert_eq!(created.body["limits"]["ingress_mbps"], 10);
    assert!(created.body["bootstrap"].is_null());
    let id = created.body["id"].as_str().unwrap();
    let path = format!("/v1/tenants/{tenant}/clusters/{id}");

    // The same name is taken while the cluster lives.
    t.post(
        &format!("/v1/tenants/{tenant}/clusters"),
        &token,
        json!({"name": "main"}),
    )
    .await
    .assert_problem(409, "conflict");

    reconciler::run_once(&t.state).await.unwrap();
    let ready = t.get(&path, &token).await;
    assert_eq!(ready.body["state"], "ready");
    assert!(
        ready.body["bootstrap"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(
        ready.body["ca_cert_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let etag = ready.header("etag").unwrap();

    // Updates need the current ETag when If-Match is sent.
    t.call(
        Method::PATCH,
        &path,
        Some(&token),
        &[("if-match", "\"1\"")],
        json!({"limits": {"max_partitions": 20}}),
    )
    .await
    .assert_problem(412, "precondition-failed");
    t.call(
        Method::PATCH,
        &path,
        Some(&token),
        &[("if-match", &etag)],
        json!({"limits": {"max_partitions": 0}}),
    )
    .await
    .assert_problem(422, "validation");
    let updating = t
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            &[("if-match", &etag)],
            json!({"limits": {"max_partitions": 20}}),
        )
        .await;
    assert_eq!(updating.status, StatusCode::ACCEPTED, "{:#}", updating.body);
    assert_eq!(updating.body["state"], "updating");
    assert_eq!(updating.body["limits"]["max_partitions"], 20);
    reconciler::run_once(&t.state).await.unwrap();
    assert_eq!(t.get(&path, &token).await.body["state"], "ready");

    // Deletion needs the name as confirmation.
    t.delete(&path, &token)
        .await
        .assert_problem(422, "validation");
    t.delete(&format!("{path}?confirm=other"), &token)
        .await
        .assert_problem(422, "validation");
    let deleting = t.delete(&format!("{path}?confirm=main"), &token).await;
    assert_eq!(deleting.status, StatusCode::ACCEPTED);
    assert_eq!(deleting.body["state"], "deleting");
    // Deleting clusters cannot be changed.
    t.patch(&path, &token, json!({"limits": {"max_partitions": 30}}))
        .await
        .assert_problem(409, "conflict");
    reconciler::run_once(&t.state).await.unwrap();
    assert_eq!(t.get(&path, &token).await.body["state"], "deleted");
    assert_eq!(t.provisioner.deletes.load(Ordering::SeqCst), 1);
    t.delete(&format!("{path}?confirm=main"), &token)
        .await
        .assert_problem(409, "conflict");

    let events = t.get(&format!("{path}/events"), &token).await;
    let transitions: Vec<(Value, Value)> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from_state"].clone(), e["to_state"].clone()))
        .collect();
    assert_eq!(
        transitions,
        [
            (Value::Null, json!("provisioning")),
            (json!("provisioning"), json!("ready")),
            (json!("ready"), json!("updating")),
            (json!("updating"), json!("ready")),
            (json!("ready"), json!("deleting")),
            (json!("deleting"), json!("deleted")),
        ]
    );
    assert!(
        events.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["reason"].as_str().unwrap().is_empty())
    );
    // Deleted clusters leave the list, and free their name.
    let list = t
        .get(&format!("/v1/tenants/{tenant}/clusters"), &token)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        t.post(
            &format!("/v1/tenants/{tenant}/clusters"),
            &token,
            json!({"name": "main"})
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
}

async fn failed_provisioning_is_recorded_and_retried_by_an_update(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "owner", "tenant-admin").await;
    t.provisioner.fail_ensure.store(true, Ordering::SeqCst);
    let created = t
        .post(
            &format!("/v1/tenants/{tenant}/clusters"),
            &token,
            json!({"name": "flaky"}),
        )
        .await;
    let path = format!(
        "/v1/tenants/{tenant}/clusters/{}",
        created.body["id"].as_str().unwrap()
    );
    reconciler::run_once(&t.state).await.unwrap();
    let failed = t.get(&path, &token).await;
    assert_eq!(failed.body["state"], "failed");
    assert!(
        failed.body["state_reason"]
            .as_str()
            .unwrap()
            .contains("no free port"),
        "{:#}",
        failed.body
    );
    // Failed clusters serve no topics.
    t.get(&format!("{path}/topics"), &token)
        .await
        .assert_problem(409, "cluster-not-ready");

    t.provisioner.fail_ensure.store(false, Ordering::SeqCst);
    let retry = t.patch(&path, &token, json!({"limits": {}})).await;
    assert_eq!(retry.body["state"], "updating");
    reconciler::run_once(&t.state).await.unwrap();
    assert_eq!(t.get(&path, &token).await.body["state"], "ready");
}

async fn failed_clusters_are_retried_automatically_with_backoff_then_left_alone(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "owner", "tenant-admin").await;
    t.provisioner.fail_ensure.store(true, Ordering::SeqCst);
    let created = t
        .post(
            &format!("/v1/tenants/{tenant}/clusters"),
            &token,
            json!({"name": "flaky"}),
        )
        .await;
    let path = format!(
        "/v1/tenants/{tenant}/clusters/{}",
        created.body["id"].as_str().unwrap()
    );
    reconciler::run_once(&t.state).await.unwrap();
    assert_eq!(t.get(&path, &token).await.body["state"], "failed");
    let now = fjord_api::db::now_ms();
    let second = 1000;
    assert_eq!(
        reconciler::retry_failed(&t.state, now + 10 * second)
            .await
            .unwrap(),
        0,
        "not before the first backoff"
    );
    // Each retry fails again and waits longer; the total is bounded.
    let mut at = now;
    for (attempt, wait) in reconciler::RETRY_BACKOFF.iter().enumerate() {
        at += wait.as_millis() as i64 + second;
        assert_eq!(
            reconciler::retry_failed(&t.state, at).await.unwrap(),
            1,
            "retry {attempt}"
        );
        let retrying = t.get(&path, &token).await;
        assert_eq!(retrying.body["state"], "updating");
        assert!(
            retrying.body["state_reason"]
                .as_str()
                .unwrap()
                .contains("automatic retry"),
            "{:#}",
            retrying.body
        );
        reconciler::run_once(&t.state).await.unwrap();
        assert_eq!(t.get(&path, &token).await.body["state"], "failed");
    }
    assert_eq!(
        reconciler::retry_failed(&t.state, at + 3_600_000)
            .await
            .unwrap(),
        0,
        "given up after the last backoff"
    );
    // A user's update still retries, and this time it works.
    t.provisioner.fail_ensure.store(false, Ordering::SeqCst);
    t.patch(&path, &token, json!({"limits": {}})).await;
    reconciler::run_once(&t.state).await.unwrap();
    assert_eq!(t.get(&path, &token).await.body["state"], "ready");
}

async fn a_restarted_api_resumes_in_flight_and_ready_clusters(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "owner", "tenant-admin").await;
    let ready = t.ready_cluster(&tenant, &token, "running").await;
    let pending = t
        .post(
            &format!("/v1/tenants/{tenant}/clusters"),
            &token,
            json!({"name": "pending"}),
        )
        .await;
    let pending = pending.body["id"].as_str().unwrap().to_string();

    // A second API process on the same database, with a fresh provisioner.
    let provisioner = Arc::new(TestProvisioner::default());
    let restarted = AppState::new(
        t.state.db.clone(),
        provisioner.clone(),
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reconciler::run(restarted.clone(), async move {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let row = fjord_api::clusters::store::get_by_id(&restarted.db, &pending)
            .await
            .unwrap()
            .unwrap();
        if row.state == fjord_api::clusters::machine::ClusterState::Ready {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pending cluster was never provisioned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Both the ready cluster (brokers restarted) and the pending one were ensured.
    assert!(provisioner.ensures.load(Ordering::SeqCst) >= 2);
    let _ = stop.send(());
    task.await.unwrap();
    let row = fjord_api::clusters::store::get_by_id(&restarted.db, &ready)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, fjord_api::clusters::machine::ClusterState::Ready);
}

async fn idempotency_keys_replay_the_first_response(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "owner", "tenant-admin").await;
    let clusters = format!("/v1/tenants/{tenant}/clusters");
    let body = json!({"name": "billable"});
    let first = t
        .call(
            Method::POST,
            &clusters,
            Some(&token),
            &[("idempotency-key", "k-1")],
            body.clone(),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = t
        .call(
            Method::POST,
            &clusters,
            Some(&token),
            &[("idempotency-key", "k-1")],
            body.clone(),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body["id"], first.body["id"]);
    let list = t.get(&clusters, &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    t.call(
        Method::POST,
        &clusters,
        Some(&token),
        &[("idempotency-key", "k-1")],
        json!({"name": "other"}),
    )
    .await
    .assert_problem(422, "validation");
    // A failed request frees its key.
    t.call(
        Method::POST,
        &clusters,
        Some(&token),
        &[("idempotency-key", "k-2")],
        body.clone(),
    )
    .await
    .assert_problem(409, "conflict");
    let second = t
        .call(
            Method::POST,
            &clusters,
            Some(&token),
            &[("idempotency-key", "k-2")],
            json!({"name": "second"}),
        )
        .await;
    assert_eq!(second.status, StatusCode::ACCEPTED, "{:#}", second.body);

    // A reservation left by a crashed request blocks its key only until it is stale.
    let scope = format!("{tenant}:{clusters}");
    for (key, age_ms) in [("k-fresh", 0), ("k-stale", 10 * 60 * 1000)] {
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status, body, created_at) \
             VALUES ($1, $2, $3, 0, '', $4)",
        )
        .bind(&scope)
        .bind(key)
        .bind(request_hash(&fjord_api::clusters::CreateCluster {
            name: "third".into(),
            limits: Default::default(),
        }))
        .bind(fjord_api::db::now_ms() - age_ms)
        .execute(&t.state.db)
        .await
        .unwrap();
    }
    let third = json!({"name": "third"});
    t.call(
        Method::POST,
        &clusters,
        Some(&token),
        &[("idempotency-key", "k-fresh")],
        third.clone(),
    )
    .await
    .assert_problem(409, "conflict");
    let taken = t
        .call(
            Method::POST,
            &clusters,
            Some(&token),
            &[("idempotency-key", "k-stale")],
            third,
        )
        .await;
    assert_eq!(taken.status, StatusCode::ACCEPTED, "{:#}", taken.body);

    // Topics too.
    reconciler::run_once(&t.state).await.unwrap();
    let topics = format!("{clusters}/{}/topics", first.body["id"].as_str().unwrap());
    let topic = json!({"name": "orders", "partitions": 2});
    let first = t
        .call(
            Method::POST,
            &topics,
            Some(&token),
            &[("idempotency-key", "t-1")],
            topic.clone(),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    let again = t
        .call(
            Method::POST,
            &topics,
            Some(&token),
            &[("idempotency-key", "t-1")],
            topic.clone(),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    // Without a key the duplicate is refused by the cluster.
    t.post(&topics, &token, topic)
        .await
        .assert_problem(409, "conflict");
}

/// The request hash the API stores: SHA-256 of the typed request's JSON.
fn request_hash(body: &impl serde::Serialize) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(serde_json::to_vec(body).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn topics_are_created_described_altered_grown_and_deleted(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "dev", "developer").await;
    let cluster = t.ready_cluster(&tenant, &token, "main").await;
    let topics = format!("/v1/tenants/{tenant}/clusters/{cluster}/topics");

    let created = t
        .post(
            &topics,
            &token,
            json!({"name": "orders", "partitions": 2, "configs": {"retention.ms": "3600000"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    assert_eq!(created.body["partitions"], 2);
    assert_eq!(created.body["configs"]["retention.ms"], "3600000");
    for name in ["audit", "payments"] {
        assert_eq!(
            t.post(&topics, &token, json!({"name": name})).await.status,
            StatusCode::CREATED
        );
    }
    t.post(&topics, &token, json!({"name": "__internal"}))
        .await
        .assert_problem(422, "validation");
    t.post(
        &topics,
        &token,
        json!({"name": "bad", "configs": {"cleanup.policy": "shred"}}),
    )
    .await
    .assert_problem(422, "validation");

    // Pages by name.
    let first = t.get(&format!("{topics}?limit=2"), &token).await;
    let names: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["audit", "orders"]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = t
        .get(&format!("{topics}?limit=2&cursor={cursor}"), &token)
        .await;
    assert_eq!(second.body["items"][0]["name"], "payments");
    assert!(second.body["next_cursor"].is_null());

    let path = format!("{topics}/orders");
    let described = t.get(&path, &token).await;
    assert_eq!(described.status, StatusCode::OK);
    let etag = described.header("etag").unwrap();
    t.call(
        Method::PATCH,
        &path,
        Some(&token),
        &[("if-match", "\"0000\"")],
        json!({"configs": {"retention.ms": "1000"}}),
    )
    .await
    .assert_problem(412, "precondition-failed");
    let altered = t
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            &[("if-match", &etag)],
            json!({"configs": {"retention.ms": null, "cleanup.policy": "compact"}}),
        )
        .await;
    assert_eq!(altered.status, StatusCode::OK, "{:#}", altered.body);
    assert_eq!(altered.body["configs"]["cleanup.policy"], "compact");
    assert!(
        altered.body["configs"].get("retention.ms").is_none(),
        "{:#}",
        altered.body
    );
    assert_ne!(altered.header("etag").unwrap(), etag);

    let grown = t
        .post(
            &format!("{path}/partitions"),
            &token,
            json!({"partitions": 5}),
        )
        .await;
    assert_eq!(grown.status, StatusCode::OK, "{:#}", grown.body);
    assert_eq!(grown.body["partitions"], 5);
    t.post(
        &format!("{path}/partitions"),
        &token,
        json!({"partitions": 3}),
    )
    .await
    .assert_problem(422, "validation");

    assert_eq!(t.delete(&path, &token).await.status, StatusCode::NO_CONTENT);
    t.get(&path, &token).await.assert_problem(404, "not-found");
    t.delete(&path, &token)
        .await
        .assert_problem(404, "not-found");
}

async fn partition_limits_and_cluster_readiness_are_enforced(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "dev", "developer").await;
    let created = t
        .post(
            &format!("/v1/tenants/{tenant}/clusters"),
            &token,
            json!({"name": "small", "limits": {"max_partitions": 4}}),
        )
        .await;
    let cluster = created.body["id"].as_str().unwrap();
    let topics = format!("/v1/tenants/{tenant}/clusters/{cluster}/topics");
    // Still provisioning.
    t.post(&topics, &token, json!({"name": "early"}))
        .await
        .assert_problem(409, "cluster-not-ready");
    reconciler::run_once(&t.state).await.unwrap();

    assert_eq!(
        t.post(&topics, &token, json!({"name": "a", "partitions": 3}))
            .await
            .status,
        StatusCode::CREATED
    );
    let over = t
        .post(&topics, &token, json!({"name": "b", "partitions": 2}))
        .await;
    over.assert_problem(422, "limit-exceeded");
    assert!(
        over.body["detail"]
            .as_str()
            .unwrap()
            .contains("max_partitions")
    );
    t.post(
        &format!("{topics}/a/partitions"),
        &token,
        json!({"partitions": 5}),
    )
    .await
    .assert_problem(422, "limit-exceeded");
    assert_eq!(
        t.post(&topics, &token, json!({"name": "b", "partitions": 1}))
            .await
            .status,
        StatusCode::CREATED
    );
}

async fn scram_credentials_work_on_the_cluster_until_revoked(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "dev", "developer").await;
    let cluster = t.ready_cluster(&tenant, &token, "main").await;
    let credentials = format!("/v1/tenants/{tenant}/clusters/{cluster}/credentials");

    let created = t.post(&credentials, &token, json!({"name": "app"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    assert_eq!(created.body["username"], "acme.app");
    assert_eq!(
        created.body["mechanisms"],
        json!(["SCRAM-SHA-256", "SCRAM-SHA-512"])
    );
    let password = created.body["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 32);
    t.provisioner
        .connect_as("acme.app", &password)
        .await
        .unwrap();
    assert!(t.provisioner.connect_as("acme.app", "wrong").await.is_err());

    t.post(&credentials, &token, json!({"name": "app"}))
        .await
        .assert_problem(409, "conflict");
    let list = t.get(&credentials, &token).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("password").is_none());
    assert!(!list.body.to_string().contains(&password));

    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        t.delete(&format!("{credentials}/{id}"), &token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(
        t.provisioner
            .connect_as("acme.app", &password)
            .await
            .is_err()
    );
    t.delete(&format!("{credentials}/{id}"), &token)
        .await
        .assert_problem(404, "not-found");
    let list = t.get(&credentials, &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
}

async fn acls_are_pushed_to_the_cluster_listed_and_deleted(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "dev", "developer").await;
    let cluster = t.ready_cluster(&tenant, &token, "main").await;
    let acls = format!("/v1/tenants/{tenant}/clusters/{cluster}/acls");
    let acl = json!({
        "principal": "User:acme.app", "resource_type": "topic", "pattern_type": "prefixed",
        "resource_name": "orders", "operation": "read", "permission": "allow"
    });
    let created = t.post(&acls, &token, acl.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    assert_eq!(created.body["operation"], "read");
    let on_broker = t.provisioner.broker_acls().await;
    assert!(
        on_broker.iter().any(|b| b.principal == "User:acme.app"
            && b.resource_name == "orders"
            && b.operation == fjord_broker::security::acl::Operation::Read),
        "the broker enforces it: {on_broker:?}"
    );
    let mut bad = acl.clone();
    bad["resource_type"] = json!("cluster");
    t.post(&acls, &token, bad)
        .await
        .assert_problem(422, "validation");
    let mut bad = acl.clone();
    bad["principal"] = json!("acme.app");
    t.post(&acls, &token, bad)
        .await
        .assert_problem(422, "validation");
    let mut bad = acl;
    bad["operation"] = json!("teleport");
    t.post(&acls, &token, bad)
        .await
        .assert_problem(422, "validation");

    let list = t.get(&acls, &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0], created.body);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        t.delete(&format!("{acls}/{id}"), &token).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(
        !t.provisioner
            .broker_acls()
            .await
            .iter()
            .any(|b| b.principal == "User:acme.app"),
        "removed from the broker too"
    );
    t.delete(&format!("{acls}/{id}"), &token)
        .await
        .assert_problem(404, "not-found");
}

async fn cluster_lists_paginate(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "dev", "developer").await;
    for i in 0..3 {
        t.post(
            &format!("/v1/tenants/{tenant}/clusters"),
            &token,
            json!({"name": format!("c{i}")}),
        )
        .await;
    }
    let first = t
        .get(&format!("/v1/tenants/{tenant}/clusters?limit=2"), &token)
        .await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = t
        .get(
            &format!("/v1/tenants/{tenant}/clusters?limit=2&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert!(second.body["next_cursor"].is_null());
    let mut names: Vec<String> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["c0", "c1", "c2"]);
}
