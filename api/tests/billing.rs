//! Billing: price books, the invoice life cycle (draft, final, adjustment), CSV, budgets
//! with their webhook, and the end-to-end proof of the metering issue — known byte counts
//! produced and consumed over simulated hours, a broker and the API restarted midway, and
//! the usage report and the invoice exactly as expected. Time is a [`ManualClock`] (never
//! slept for). SQLite and (with `FJORD_TEST_DATABASE_URL`) PostgreSQL.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{Backend, TestApp, TestProvisioner};
use fjord_api::billing;
use fjord_api::clock::{Clock, ManualClock};
use fjord_api::provision::Provisioner as _;
use fjord_api::usage;
use kafka_protocol::records::{Record, TimestampType};
use serde_json::{Value, json};

db_tests!(
    invoices_are_drafts_then_final_and_late_usage_is_an_adjustment,
    price_books_are_versioned_and_only_administrators_add_them,
    budget_thresholds_raise_alerts_once_and_post_the_webhook,
    produced_and_consumed_bytes_over_simulated_hours_are_billed_exactly,
);

const HOUR: i64 = 3_600_000;
/// 2040-03-01T00:00:00Z: a month of 31 days (744 hours), later than any real clock running
/// these tests (a broker's graceful shutdown stamps its last window with the real time).
const MARCH: i64 = 2_214_172_800_000;
const APRIL: i64 = MARCH + 744 * HOUR;

async fn app_at(
    backend: Backend,
    now: i64,
    provisioner: TestProvisioner,
) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now));
    let app = TestApp::with(backend, provisioner, Some(clock.clone() as Arc<dyn Clock>)).await;
    (app, clock)
}

/// Adds traffic of `cluster` in `hour` as the collector does (late usage of a finalised
/// month marks it for a recheck).
async fn add_traffic(
    t: &TestApp,
    tenant: &str,
    cluster: &str,
    hour: i64,
    bytes_in: i64,
    bytes_out: i64,
) {
    let mut tx = t.state.db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO usage_hourly (cluster_id, tenant_id, hour_ms, topic, principal, bytes_in, \
         records_in, bytes_out, records_out) VALUES ($1, $2, $3, 'orders', 'User:x', $4, 1, $5, 1) \
         ON CONFLICT (cluster_id, hour_ms, topic, principal) DO UPDATE SET \
         bytes_in = usage_hourly.bytes_in + excluded.bytes_in, \
         bytes_out = usage_hourly.bytes_out + excluded.bytes_out",
    )
    .bind(cluster)
    .bind(tenant)
    .bind(hour)
    .bind(bytes_in)
    .bind(bytes_out)
    .execute(&mut *tx)
    .await
    .unwrap();
    billing::invoices::mark_late_usage(&mut tx, tenant, std::iter::once(hour))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// (dimension, quantity, amount) of each line.
fn lines(invoice: &Value) -> Vec<(String, String, String)> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["dimension"].as_str().unwrap().to_string(),
                l["quantity"].as_str().unwrap().to_string(),
                l["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn line(d: &str, q: &str, a: &str) -> (String, String, String) {
    (d.into(), q.into(), a.into())
}

async fn invoices_are_drafts_then_final_and_late_usage_is_an_adjustment(backend: Backend) {
    let (t, clock) = app_at(backend, MARCH, TestProvisioner::default()).await;
    let tenant = t.tenant("acme").await;
    let admin_of_tenant = t.member_token(&tenant, "boss", "tenant-admin").await;
    let cluster = t.ready_cluster(&tenant, &admin_of_tenant, "main").await;
    let billing = t.member_token(&tenant, "accounts", "billing").await;
    add_traffic(&t, &tenant, &cluster, MARCH, 2_000_000_000, 1_000_000_000).await;

    // Ten hours into March: the draft bills what was used so far.
    clock.set(MARCH + 10 * HOUR);
    let list = t
        .get(&format!("/v1/tenants/{tenant}/invoices"), &billing)
        .await;
    assert_eq!(list.status.as_u16(), 200, "{:#}", list.body);
    let draft = &list.body["items"][0];
    assert_eq!(draft["id"], "2040-03");
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["kind"], "invoice");
    assert_eq!(draft["currency"], "USD");
    assert_eq!(draft["period_start"], "2040-03-01T00:00:00.000Z");
    assert_eq!(draft["period_end"], "2040-04-01T00:00:00.000Z");
    assert_eq!(
        lines(draft),
        [
            line("data_in", "2", "0.20"),
            line("data_out", "1", "0.05"),
            line("cluster_hours", "10", "7.50"),
        ]
    );
    assert_eq!(draft["total"], "7.75");
    assert_eq!(draft["lines"][0]["cluster_id"], cluster.as_str());
    assert_eq!(draft["lines"][0]["unit"], "GB");
    assert_eq!(draft["lines"][0]["unit_price"], "0.1");

    // Developers do not see bills; other tenants see nothing.
    let dev = t.member_token(&tenant, "dev", "developer").await;
    t.get(&format!("/v1/tenants/{tenant}/invoices"), &dev)
        .await
        .assert_problem(403, "forbidden");
    let other = t.tenant("other").await;
    let outsider = t.member_token(&other, "o", "billing").await;
    t.get(&format!("/v1/tenants/{tenant}/invoices/2040-03"), &outsider)
        .await
        .assert_problem(404, "not-found");
    t.get(&format!("/v1/tenants/{tenant}/invoices/2040-13"), &billing)
        .await
        .assert_problem(404, "not-found");
    t.get(
        &format!("/v1/tenants/{tenant}/invoices/2040-03?format=pdf"),
        &billing,
    )
    .await
    .assert_problem(400, "bad-request");

    // CSV, by query or by Accept.
    let csv = t
        .get(
            &format!("/v1/tenants/{tenant}/invoices/2040-03?format=csv"),
            &billing,
        )
        .await;
    assert_eq!(csv.status.as_u16(), 200);
    assert_eq!(
        csv.header("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    let text = csv.body.as_str().unwrap().to_string();
    let rows: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(rows.len(), 5, "header, 3 lines, total: {text}");
    assert!(rows[0].starts_with("invoice_id,status,period_start"));
    assert_eq!(
        rows[1],
        format!(
            "2040-03,draft,2040-03-01T00:00:00.000Z,2040-04-01T00:00:00.000Z,USD,{cluster},data_in,2,GB,0.1,1,0.20"
        )
    );
    assert!(rows[4].ends_with(",total,,,,,7.75"), "{}", rows[4]);
    let by_accept = t
        .call(
            axum::http::Method::GET,
            &format!("/v1/tenants/{tenant}/invoices/2040-03"),
            Some(&billing),
            &[("accept", "text/csv")],
            Value::Null,
        )
        .await;
    assert_eq!(by_accept.body.as_str().unwrap(), text);

    // The month is over but within the grace: still a draft.
    clock.set(APRIL + HOUR / 2);
    assert_eq!(billing::run_once(&t.state).await.unwrap(), (0, 0));
    let list = t
        .get(&format!("/v1/tenants/{tenant}/invoices"), &billing)
        .await;
    let ids: Vec<(&str, &str)> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("2040-04", "draft"), ("2040-03", "draft")]);

    // After the grace the job finalises March, once.
    clock.set(APRIL + HOUR);
    assert_eq!(billing::run_once(&t.state).await.unwrap().0, 1);
    assert_eq!(
        billing::run_once(&t.state).await.unwrap().0,
        0,
        "final once"
    );
    let fin = t
        .get(&format!("/v1/tenants/{tenant}/invoices/2040-03"), &billing)
        .await;
    assert_eq!(fin.body["status"], "final", "{:#}", fin.body);
    assert_eq!(fin.body["issued_at"], "2040-04-01T01:00:00.000Z");
    assert_eq!(
        lines(&fin.body),
        [
            line("data_in", "2", "0.20"),
            line("data_out", "1", "0.05"),
            line("cluster_hours", "744", "558.00"),
        ]
    );
    assert_eq!(fin.body["total"], "558.25");

    // A broker's late window adds 1 GB to a March hour: the final invoice does not move,
    // an adjustment bills the difference.
    add_traffic(&t, &tenant, &cluster, MARCH + 5 * HOUR, 1_000_000_000, 0).await;
    assert_eq!(billing::run_once(&t.state).await.unwrap().0, 1);
    let list = t
        .get(&format!("/v1/tenants/{tenant}/invoices"), &billing)
        .await;
    let items = list.body["items"].as_array().unwrap();
    let adj = items.iter().find(|i| i["id"] == "2040-03-A1").unwrap();
    assert_eq!(adj["kind"], "adjustment");
    assert_eq!(adj["status"], "final");
    assert_eq!(adj["adjusts"], "2040-03");
    assert_eq!(lines(adj), [line("data_in", "1", "0.10")]);
    assert_eq!(adj["total"], "0.10");
    let fin = t
        .get(&format!("/v1/tenants/{tenant}/invoices/2040-03"), &billing)
        .await;
    assert_eq!(fin.body["total"], "558.25", "a final invoice never changes");
    assert_eq!(
        billing::run_once(&t.state).await.unwrap().0,
        0,
        "nothing more to adjust"
    );
    // Usage of the open month marks nothing.
    add_traffic(&t, &tenant, &cluster, APRIL + HOUR, 1, 0).await;
    assert_eq!(billing::run_once(&t.state).await.unwrap().0, 0);
}

async fn price_books_are_versioned_and_only_administrators_add_them(backend: Backend) {
    let (t, clock) = app_at(backend, MARCH, TestProvisioner::default()).await;
    let tenant = t.tenant("acme").await;
    let boss = t.member_token(&tenant, "boss", "tenant-admin").await;
    let cluster = t.ready_cluster(&tenant, &boss, "main").await;

    let books = t.get("/v1/price-books", &boss).await;
    assert_eq!(books.status.as_u16(), 200, "{:#}", books.body);
    assert_eq!(
        books.body["items"],
        json!([{
            "version": 1,
            "effective_from": "1970-01-01T00:00:00.000Z",
            "currency": "USD",
            "prices": {
                "data_in_per_gb": "0.10", "data_out_per_gb": "0.05",
                "storage_per_gb_month": "0.10", "partition_hour": "0.0015", "cluster_hour": "0.75"
            },
            "note": "the defaults (the shape of Amazon MSK Serverless prices)",
            "created_at": books.body["items"][0]["created_at"],
        }])
    );
    let body = |from: &str, currency: &str, cluster_hour: &str| {
        json!({
            "effective_from": from,
            "currency": currency,
            "prices": {
                "data_in_per_gb": "0.10", "data_out_per_gb": "0.05",
                "storage_per_gb_month": "0.10", "partition_hour": "0.0015",
                "cluster_hour": cluster_hour
            },
            "note": "cheaper clusters"
        })
    };
    t.post(
        "/v1/price-books",
        &boss,
        body("2040-03-01T02:00:00Z", "USD", "1.00"),
    )
    .await
    .assert_problem(403, "forbidden");
    for bad in [
        body("2040-03-01T02:30:00Z", "USD", "1.00"),
        body("2040-03-01T02:00:00Z", "usd", "1.00"),
        body("2040-03-01T02:00:00Z", "EUR", "1.00"),
        body("2040-03-01T02:00:00Z", "USD", "-1"),
        body("2040-03-01T02:00:00Z", "USD", "0.0000001"),
        body("2040-03-01T02:00:00Z", "USD", "one"),
    ] {
        t.post("/v1/price-books", &t.admin_token, bad)
            .await
            .assert_problem(422, "validation");
    }
    let added = t
        .post(
            "/v1/price-books",
            &t.admin_token,
            body("2040-03-01T02:00:00Z", "USD", "1.00"),
        )
        .await;
    assert_eq!(added.status.as_u16(), 201, "{:#}", added.body);
    assert_eq!(added.body["version"], 2);
    assert_eq!(added.body["prices"]["cluster_hour"], "1.00", "as written");
    let got = t.get("/v1/price-books/2", &boss).await;
    assert_eq!(got.body["effective_from"], "2040-03-01T02:00:00.000Z");
    t.get("/v1/price-books/9", &boss)
        .await
        .assert_problem(404, "not-found");

    // Two hours at 0.75, two at 1.00: a line per price book version.
    clock.set(MARCH + 4 * HOUR);
    let draft = t
        .get(&format!("/v1/tenants/{tenant}/invoices/2040-03"), &boss)
        .await;
    let versions: Vec<(i64, &str, &str)> = draft.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["price_book_version"].as_i64().unwrap(),
                l["quantity"].as_str().unwrap(),
                l["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [(1, "2", "1.50"), (2, "2", "2.00")],
        "{:#}",
        draft.body
    );
    assert_eq!(draft.body["total"], "3.50");
    assert_eq!(draft.body["lines"][0]["cluster_id"], cluster.as_str());

    // A price book file: added once, not again when unchanged.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.json");
    std::fs::write(
        &file,
        body("2040-04-01T00:00:00Z", "EUR", "0.70").to_string(),
    )
    .unwrap();
    let now = clock.now_ms();
    assert_eq!(
        billing::price_books::load_file(&t.state.db, &file, now)
            .await
            .unwrap(),
        Some(3)
    );
    assert_eq!(
        billing::price_books::load_file(&t.state.db, &file, now)
            .await
            .unwrap(),
        None
    );
    std::fs::write(&file, "{\"currency\": \"USD\"}").unwrap();
    assert!(
        billing::price_books::load_file(&t.state.db, &file, now)
            .await
            .is_err()
    );
}

/// A webhook receiver on 127.0.0.1: records each POSTed JSON body.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hooks/budget",
        post(move |axum::Json(body): axum::Json<Value>| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/budget", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn budget_thresholds_raise_alerts_once_and_post_the_webhook(backend: Backend) {
    let (t, clock) = app_at(backend, MARCH, TestProvisioner::default()).await;
    let tenant = t.tenant("acme").await;
    let boss = t.member_token(&tenant, "boss", "tenant-admin").await;
    t.ready_cluster(&tenant, &boss, "main").await;
    let billing = t.member_token(&tenant, "accounts", "billing").await;
    let dev = t.member_token(&tenant, "dev", "developer").await;
    let path = format!("/v1/tenants/{tenant}/budget");
    t.get(&path, &billing)
        .await
        .assert_problem(404, "not-found");

    let (url, received) = webhook_receiver().await;
    let put = |body: Value| t.call(axum::http::Method::PUT, &path, Some(&billing), &[], body);
    for bad in [
        json!({"monthly_amount": "0"}),
        json!({"monthly_amount": "1.001"}),
        json!({"monthly_amount": 1}),
        json!({"monthly_amount": "1.00", "webhook_url": "https://example.com/"}),
        json!({"monthly_amount": "1.00", "webhook_url": "ftp://x"}),
    ] {
        let answer = put(bad.clone()).await;
        assert_eq!(answer.status.as_u16(), 422, "{bad}: {:#}", answer.body);
    }
    let answer = t
        .call(
            axum::http::Method::PUT,
            &path,
            Some(&dev),
            &[],
            json!({"monthly_amount": "1.00"}),
        )
        .await;
    answer.assert_problem(403, "forbidden");
    let set = put(json!({"monthly_amount": "1.00", "webhook_url": url})).await;
    assert_eq!(set.status.as_u16(), 200, "{:#}", set.body);
    assert_eq!(t.get(&path, &billing).await.body["monthly_amount"], "1.00");

    // The cluster costs 0.75 an hour: 30 minutes is 0.38, under half the budget.
    clock.set(MARCH + HOUR / 2);
    assert_eq!(billing::run_once(&t.state).await.unwrap().1, 0);
    // 40 minutes: 0.50, half.
    clock.set(MARCH + 40 * 60_000);
    assert_eq!(billing::run_once(&t.state).await.unwrap().1, 1);
    assert_eq!(
        billing::run_once(&t.state).await.unwrap().1,
        0,
        "once per threshold"
    );
    // Two hours: 1.50, past 80 and 100 %.
    clock.set(MARCH + 2 * HOUR);
    assert_eq!(billing::run_once(&t.state).await.unwrap().1, 2);
    let alerts = t.get(&format!("{path}/alerts"), &billing).await;
    assert_eq!(alerts.status.as_u16(), 200, "{:#}", alerts.body);
    let got: Vec<(i64, &str, &str)> = alerts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["threshold_percent"].as_i64().unwrap(),
                a["spent"].as_str().unwrap(),
                a["webhook_state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (100, "1.50", "delivered"),
            (80, "1.50", "delivered"),
            (50, "0.50", "delivered")
        ]
    );
    let posted = received.lock().unwrap().clone();
    let thresholds: Vec<i64> = posted
        .iter()
        .map(|p| p["threshold_percent"].as_i64().unwrap())
        .collect();
    assert_eq!(thresholds, [50, 80, 100]);
    assert_eq!(posted[0]["kind"], "budget_threshold_crossed");
    assert_eq!(posted[0]["tenant_id"], tenant.as_str());
    assert_eq!(posted[0]["budget"], "1.00");
    assert_eq!(posted[0]["currency"], "USD");

    // A webhook that is down: the alert stays pending and is retried, then fails.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/x", dead.local_addr().unwrap());
    drop(dead);
    put(json!({"monthly_amount": "10.00", "webhook_url": dead_url})).await;
    // Thresholds alerted this month are not alerted again: in April, 7 hours cost 5.25 of
    // 10, 50 %.
    clock.set(APRIL + 7 * HOUR);
    for _ in 0..billing::budgets::MAX_ATTEMPTS {
        billing::run_once(&t.state).await.unwrap();
    }
    let alerts = t.get(&format!("{path}/alerts"), &billing).await;
    assert_eq!(
        alerts.body["items"][0]["webhook_state"], "failed",
        "{:#}",
        alerts.body
    );
    assert_eq!(alerts.body["items"][0]["budget"], "10.00");
    let deleted = t.delete(&path, &billing).await;
    assert_eq!(deleted.status.as_u16(), 204);
    t.get(&path, &billing)
        .await
        .assert_problem(404, "not-found");
}

fn batch(n: usize, size: usize) -> Bytes {
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
            timestamp: MARCH,
            key: None,
            value: Some(Bytes::from(vec![b'x'; size])),
            headers: Default::default(),
        })
        .collect();
    common::encode_batch(&records)
}

/// Produces `records` and consumes them once (a fetch from their offset); returns the
/// offset after them.
async fn produce_and_consume(t: &TestApp, cluster: &str, records: Bytes, offset: i64) -> i64 {
    t.produce(cluster, "orders", records).await;
    let mut admin = t.provisioner.admin(cluster).await.unwrap();
    let fetched = admin
        .fetch_records("orders", 0, offset, 1 << 20)
        .await
        .unwrap();
    assert!(!fetched.records.is_empty());
    fetched.high_watermark
}

/// `n / d` rounded half-even to 9 decimal places, as a normalised decimal string (the
/// documented quantity rule, recomputed independently).
fn quantity(n: i128, d: i128) -> String {
    let scaled = n * 1_000_000_000;
    let (mut q, r) = (scaled / d, scaled % d);
    if 2 * r > d || (2 * r == d && q % 2 == 1) {
        q += 1;
    }
    let s = format!("{}.{:09}", q / 1_000_000_000, q % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `quantity × price` rounded half-even to cents, where both are exact decimals given as
/// (value × 10^9) and (price in micro-units); a string with 2 decimals.
fn amount(quantity_nanos: i128, price_micros: i128) -> String {
    // value × 10^15 of the amount; cents = value × 10^2.
    let exact = quantity_nanos * price_micros; // × 10^-15
    let unit = 10_i128.pow(13);
    let (mut cents, r) = (exact / unit, exact % unit);
    if 2 * r > unit || (2 * r == unit && cents % 2 == 1) {
        cents += 1;
    }
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn nanos(q: &str) -> i128 {
    let (whole, frac) = q.split_once('.').unwrap_or((q, ""));
    whole.parse::<i128>().unwrap() * 1_000_000_000 + format!("{frac:0<9}").parse::<i128>().unwrap()
}

async fn produced_and_consumed_bytes_over_simulated_hours_are_billed_exactly(backend: Backend) {
    // The broker writes usage only when told (its own timer is a year away), at simulated
    // times; the API reads the same simulated clock.
    let provisioner = TestProvisioner::with_usage_interval(365 * 24 * HOUR as u64);
    let (mut t, clock) = app_at(backend, MARCH, provisioner).await;
    let tenant = t.tenant("acme").await;
    let boss = t.member_token(&tenant, "boss", "tenant-admin").await;
    let cluster = t.ready_cluster(&tenant, &boss, "main").await;
    // Prices large enough that bytes cost cents: 1 000 000 per GB is 0.001 per byte.
    let prices = json!({
        "effective_from": "2040-03-01T00:00:00Z",
        "currency": "USD",
        "prices": {
            "data_in_per_gb": "1000000", "data_out_per_gb": "500000",
            "storage_per_gb_month": "2000000000", "partition_hour": "0.0015",
            "cluster_hour": "0.75"
        }
    });
    let book = t.post("/v1/price-books", &t.admin_token, prices).await;
    assert_eq!(book.status.as_u16(), 201, "{:#}", book.body);
    // Windows start at MARCH from now on (nothing is metered yet).
    assert_eq!(t.provisioner.write_usage(MARCH).await, 0);
    let created = t
        .post(
            &format!("/v1/tenants/{tenant}/clusters/{cluster}/topics"),
            &boss,
            json!({"name": "orders", "partitions": 1}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:#}", created.body);

    // Hour 0: batch a in and out; a window [0:00, 0:30).
    let a = batch(10, 1000);
    let offset = produce_and_consume(&t, &cluster, a.clone(), 0).await;
    t.provisioner.write_usage(MARCH + HOUR / 2).await;
    // Hour 1: batch b in only; a window [0:30, 1:30).
    let b = batch(20, 500);
    t.produce(&cluster, "orders", b.clone()).await;
    t.provisioner.write_usage(MARCH + 90 * 60_000).await;
    usage::collect_once(&t.state).await.unwrap();

    // The broker and the API restart (the broker's shutdown writes an empty window: the
    // real clock is behind the simulated one).
    t.provisioner.restart_broker().await;
    t.restart_api().await;

    // Hour 2: batch c in and out; a window [1:30, 2:30).
    let c = batch(5, 3000);
    produce_and_consume(&t, &cluster, c.clone(), offset + 20).await;
    t.provisioner.write_usage(MARCH + 150 * 60_000).await;
    clock.set(MARCH + 3 * HOUR);
    usage::collect_once(&t.state).await.unwrap();
    // Collecting again counts nothing twice.
    usage::collect_once(&t.state).await.unwrap();

    let (a_len, b_len, c_len) = (a.len() as i64, b.len() as i64, c.len() as i64);
    let report = t
        .get(
            "/v1/usage?granularity=hour&from=2040-03-01T00:00:00Z&to=2040-03-01T03:00:00Z",
            &boss,
        )
        .await;
    assert_eq!(report.status.as_u16(), 200, "{:#}", report.body);
    let hours: Vec<(String, i64, i64, i64, i64, f64)> = report.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["period_start"].as_str().unwrap().to_string(),
                r["bytes_in"].as_i64().unwrap(),
                r["records_in"].as_i64().unwrap(),
                r["bytes_out"].as_i64().unwrap(),
                r["records_out"].as_i64().unwrap(),
                r["cluster_hours"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hours,
        [
            ("2040-03-01T00:00:00.000Z".into(), a_len, 10, a_len, 10, 1.0),
            ("2040-03-01T01:00:00.000Z".into(), b_len, 20, 0, 0, 1.0),
            ("2040-03-01T02:00:00.000Z".into(), c_len, 5, c_len, 5, 1.0),
        ],
        "{:#}",
        report.body
    );
    // Storage, in byte-seconds: each window reports the size at its end for its whole
    // length: a for 30 min, a+b for 60, a+b+c for 60 (the shutdown's window is empty). The
    // partition for 2.5 hours.
    let byte_seconds = a_len * 1800 + (a_len + b_len) * 3600 + (a_len + b_len + c_len) * 3600;
    let partition_seconds: i128 = 9000;

    let invoice = t
        .get(&format!("/v1/tenants/{tenant}/invoices/2040-03"), &boss)
        .await;
    assert_eq!(invoice.status.as_u16(), 200, "{:#}", invoice.body);
    let bytes_in = a_len + b_len + c_len;
    let bytes_out = a_len + c_len;
    let q_in = quantity(bytes_in.into(), 1_000_000_000);
    let q_out = quantity(bytes_out.into(), 1_000_000_000);
    let q_storage = quantity(byte_seconds.into(), 1_000_000_000 * 3600 * 744);
    let expected = [
        line(
            "data_in",
            &q_in,
            &amount(nanos(&q_in), 1_000_000 * 1_000_000),
        ),
        line(
            "data_out",
            &q_out,
            &amount(nanos(&q_out), 500_000 * 1_000_000),
        ),
        line(
            "storage",
            &q_storage,
            &amount(nanos(&q_storage), 2_000_000_000 * 1_000_000),
        ),
        line(
            "partition_hours",
            &quantity(partition_seconds, 3600),
            "0.00",
        ),
        line("cluster_hours", "3", "2.25"),
    ];
    assert_eq!(lines(&invoice.body), expected, "{:#}", invoice.body);
    let cents: i64 = expected
        .iter()
        .map(|(_, _, a)| a.replace('.', "").parse::<i64>().unwrap())
        .sum();
    assert_eq!(
        invoice.body["total"],
        format!("{}.{:02}", cents / 100, cents % 100)
    );
    // Concretely (the batch sizes are fixed by the record format): a, b, c bytes.
    eprintln!(
        "a={a_len} b={b_len} c={c_len} byte_seconds={byte_seconds} invoice={:#}",
        invoice.body
    );
}
