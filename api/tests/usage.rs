//! Usage collection and the usage report: records the cluster's broker metered are read from
//! `__fjord_usage` into hourly rows exactly once (a second pass adds nothing), and
//! `GET /v1/tenants/{id}/usage` reports them per cluster or topic, for billing roles and not
//! for other tenants. SQLite and (with `FJORD_TEST_DATABASE_URL`) PostgreSQL.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Backend, TestApp};
use fjord_api::usage;
use kafka_protocol::records::{Record, TimestampType};
use serde_json::json;

db_tests!(produced_bytes_are_collected_once_and_reported_per_topic);

fn batch(n: usize) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(vec![b'x'; 100])),
            headers: Default::default(),
        })
        .collect();
    common::encode_batch(&records)
}

async fn produced_bytes_are_collected_once_and_reported_per_topic(backend: Backend) {
    let t = TestApp::new(backend).await;
    let tenant = t.tenant("acme").await;
    let token = t.member_token(&tenant, "dev", "developer").await;
    let cluster = t.ready_cluster(&tenant, &token, "main").await;
    let topics = format!("/v1/tenants/{tenant}/clusters/{cluster}/topics");
    let created = t
        .post(&topics, &token, json!({"name": "orders", "partitions": 1}))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:#}", created.body);

    let records = batch(10);
    t.produce(&cluster, "orders", records.clone()).await;

    // Usage is for billing roles (and tenant admins), not developers.
    let report_path = format!("/v1/tenants/{tenant}/usage?granularity=hour&group_by=topic");
    let r = t.get(&report_path, &token).await;
    assert_eq!(r.status.as_u16(), 403, "{:#}", r.body);
    let billing = t.member_token(&tenant, "accounts", "billing").await;

    // The broker writes a window every 200 ms (see common); collect until it is there.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let report = loop {
        usage::collect_once(&t.state).await.unwrap();
        let r = t.get(&report_path, &billing).await;
        assert_eq!(r.status.as_u16(), 200, "{:#}", r.body);
        let orders: Vec<_> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["topic"] == "orders" && i["records_in"].as_i64() > Some(0))
            .cloned()
            .collect();
        if !orders.is_empty() || tokio::time::Instant::now() > deadline {
            break (r.body.clone(), orders);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (body, orders) = report;
    assert_eq!(orders.len(), 1, "{body:#}");
    assert_eq!(orders[0]["records_in"], 10);
    assert_eq!(orders[0]["bytes_in"], records.len() as i64);
    assert_eq!(orders[0]["cluster_id"], cluster.as_str());

    // Collecting again reads only what is new: the sums do not move.
    tokio::time::sleep(Duration::from_millis(500)).await;
    usage::collect_once(&t.state).await.unwrap();
    let again = t
        .get(
            &format!("/v1/tenants/{tenant}/usage?granularity=month"),
            &billing,
        )
        .await;
    let items = again.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one month, one cluster: {:#}", again.body);
    assert_eq!(items[0]["records_in"], 10, "not counted twice");
    assert!(items[0]["storage_gb_hours"].as_f64().unwrap() > 0.0);

    // Bad parameters are problems, not guesses.
    t.get(
        &format!("/v1/tenants/{tenant}/usage?from=yesterday"),
        &billing,
    )
    .await
    .assert_problem(422, "validation");
    t.get(
        &format!("/v1/tenants/{tenant}/usage?from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z"),
        &billing,
    )
    .await
    .assert_problem(422, "validation");
}
