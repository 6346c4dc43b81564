//! The HTTP endpoint (`fjord.http.listener`) of a real broker on 127.0.0.1:0: metrics moved by
//! raw Kafka frames by exactly the bytes sent and received, and the health probes through a
//! graceful shutdown. HTTP is spoken by hand over a TcpStream (no HTTP client dependency).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ANONYMOUS: &str = "User:ANONYMOUS";

async fn start_with_http() -> (TestBroker, SocketAddr) {
    let b = start(&[("fjord.http.listener", "127.0.0.1:0")]).await;
    let addr = b.handle.http_addr().expect("the HTTP endpoint is bound");
    (b, addr)
}

/// An HTTP/1.1 response: status, content type, body.
struct HttpResponse {
    status: u16,
    content_type: String,
    body: String,
}

async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "bodies are sent with a length:\n{head}"
    );
    Ok(HttpResponse {
        status,
        content_type,
        body: body.to_string(),
    })
}

/// The value of the sample `series` (name and labels exactly as exposed), if present.
fn sample(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn metrics_move_by_exactly_the_bytes_produced_and_fetched() {
    let (b, http) = start_with_http().await;
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "metered", 1).await;
    let pid: InitProducerIdResponse = call(
        &mut s,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default().with_transaction_timeout_ms(60000),
    )
    .await;
    let idempotent = batch(*pid.producer_id, 0, 0, &["a", "b", "c"]);
    let plain = batch(-1, -1, -1, &["d", "e"]);
    assert_eq!(
        produce_to(&mut s, "metered", 0, idempotent.clone())
            .await
            .error_code,
        0
    );
    let retry = produce_to(&mut s, "metered", 0, idempotent.clone()).await;
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 0),
        "a deduplicated retry"
    );
    assert_eq!(
        produce_to(&mut s, "metered", 0, plain.clone())
            .await
            .error_code,
        0
    );
    let missing = produce_to(&mut s, "metered", 7, plain.clone()).await;
    assert_eq!(missing.error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let fetched: FetchResponse =
        call(&mut s, ApiKey::Fetch, 12, &fetch_request("metered", 0, 0)).await;
    let records = fetched.responses[0].partitions[0].records.clone().unwrap();
    let produced = (idempotent.len() + plain.len()) as u64;
    assert_eq!(
        records.len() as u64,
        produced,
        "stored bytes come back as sent"
    );

    let resp = http_get(http, "/metrics").await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let m = resp.body;
    let traffic = |name: &str| {
        sample(
            &m,
            &format!(r#"{name}{{topic="metered",principal="{ANONYMOUS}",tenant=""}}"#),
        )
    };
    assert_eq!(traffic("fjord_bytes_in_total"), Some(produced), "{m}");
    assert_eq!(
        traffic("fjord_records_in_total"),
        Some(5),
        "retry not counted:\n{m}"
    );
    assert_eq!(traffic("fjord_bytes_out_total"), Some(produced), "{m}");
    for (series, value) in [
        (r#"fjord_requests_total{api="CreateTopics",version="5"}"#, 1),
        (
            r#"fjord_requests_total{api="InitProducerId",version="4"}"#,
            1,
        ),
        (r#"fjord_requests_total{api="Produce",version="9"}"#, 4),
        (r#"fjord_requests_total{api="Fetch",version="12"}"#, 1),
        (
            r#"fjord_request_errors_total{api="Produce",error="UNKNOWN_TOPIC_OR_PARTITION"}"#,
            1,
        ),
        (r#"fjord_request_duration_seconds_count{api="Produce"}"#, 4),
        (r#"fjord_connections{listener="PLAINTEXT"}"#, 1),
        (
            r#"fjord_connections_accepted_total{listener="PLAINTEXT"}"#,
            1,
        ),
        (r#"fjord_log_size_bytes{topic="metered"}"#, produced),
        ("fjord_topics", 4),
        ("fjord_partitions", 4),
        ("fjord_under_replicated_partitions", 0),
        ("fjord_consumer_groups", 0),
        ("fjord_failed_authentications_total", 0),
    ] {
        assert_eq!(sample(&m, series), Some(value), "{series} in\n{m}");
    }
    assert!(m.ends_with("# EOF\n"));

    // A closed connection leaves the gauge; the HTTP scrapes never entered it.
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = http_get(http, "/metrics").await.unwrap().body;
        let open = sample(&m, r#"fjord_connections{listener="PLAINTEXT"}"#);
        if open == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connection still counted open:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn probes_answer_and_readyz_fails_while_draining_then_the_endpoint_closes() {
    let (b, http) = start_with_http().await;
    let health = http_get(http, "/healthz").await.unwrap();
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(http_get(http, "/readyz").await.unwrap().status, 200);
    assert_eq!(http_get(http, "/nope").await.unwrap().status, 404);

    // A long-poll in flight keeps the broker draining for a while after shutdown begins.
    let mut s = TcpStream::connect(b.handle.bootstrap()).await.unwrap();
    create_topic(&mut s, "quiet", 1).await;
    let wait_ms = 2000;
    s.write_all(&frame(
        ApiKey::Fetch,
        12,
        7,
        &fetch_request("quiet", 0, wait_ms),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let shutdown = tokio::spawn(b.handle.shutdown());
    loop {
        let ready = http_get(http, "/readyz").await.unwrap().status;
        if ready == 503 {
            break;
        }
        assert_eq!(ready, 200);
        assert!(
            started.elapsed() < Duration::from_millis(wait_ms as u64 / 2),
            "/readyz still 200 while draining"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        http_get(http, "/healthz").await.unwrap().status,
        200,
        "alive while draining"
    );
    let resp: FetchResponse = read_typed(&mut s, ApiKey::Fetch, 12).await;
    assert_eq!(
        resp.responses[0].partitions[0].error_code, 0,
        "the long-poll finished"
    );
    shutdown.await.unwrap().unwrap();
    assert!(
        http_get(http, "/readyz").await.is_err(),
        "the endpoint is closed after shutdown"
    );
}

#[tokio::test]
async fn the_endpoint_is_off_unless_configured() {
    let b = start(&[]).await;
    assert_eq!(b.handle.http_addr(), None);
    b.handle.shutdown().await.unwrap();
}
