//! Client quotas and cluster ceilings, end to end with librdkafka: a producer capped at
//! 1 MB/s with AlterClientQuotas is held there over 20 s while another principal is not
//! slowed; partitions and connections beyond `fjord.max.partitions` and `max.connections`
//! are refused.

#![allow(clippy::unwrap_used)] // test helpers fail the test on any error

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fjord_tests::secure::{ADMIN, ALICE, SecureBroker};
use fjord_tests::wire::WireClient;
use fjord_tests::{
    STEP_TIMEOUT, TestBroker, admin, admin_options, client_config, create_topic, unique_name,
};
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiVersionsRequest, DescribeClientQuotasRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};

/// The quota under test: 1 MB/s.
const QUOTA: f64 = 1_000_000.0;
/// How long each producer runs.
const RUN: Duration = Duration::from_secs(20);
/// Record size: large enough that batch overhead is negligible.
const RECORD: usize = 10_000;

/// Counts the payload bytes librdkafka reports delivered (acknowledged by the broker).
#[derive(Clone, Default)]
struct Delivered {
    bytes: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl ClientContext for Delivered {}

impl ProducerContext for Delivered {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                self.bytes
                    .fetch_add(m.payload_len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Client config for the SASL_PLAINTEXT listener as `user`.
fn sasl(b: &SecureBroker, (user, password): (&str, &str)) -> ClientConfig {
    let mut c = client_config(&b.addr("SASL_PLAINTEXT"));
    c.set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "SCRAM-SHA-256")
        .set("sasl.username", user)
        .set("sasl.password", password)
        .set("socket.timeout.ms", "60000");
    c
}

/// Produces `RECORD`-byte records to `topic` for [`RUN`], as fast as the broker takes them
/// (`pace: None`) or at `pace` bytes per second; returns the bytes delivered within the run
/// per second.
fn produce_for_run(cfg: ClientConfig, topic: &str, pace: Option<f64>) -> f64 {
    let delivered = Delivered::default();
    let producer: BaseProducer<Delivered> = cfg
        .clone()
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "100000")
        // A small local queue keeps the producer greedy without piling up minutes of data
        // (and request timeouts) behind the quota.
        .set("queue.buffering.max.kbytes", "2048")
        .set("max.in.flight.requests.per.connection", "5")
        .set("message.timeout.ms", "60000")
        .create_with_context(delivered.clone())
        .unwrap();
    let payload = vec![b'q'; RECORD];
    let start = Instant::now();
    let mut offered = 0f64;
    while start.elapsed() < RUN {
        if let Some(rate) = pace
            && offered >= rate * start.elapsed().as_secs_f64()
        {
            producer.poll(Duration::from_millis(1));
            continue;
        }
        match producer.send(BaseRecord::<(), _>::to(topic).payload(&payload)) {
            Ok(()) => offered += RECORD as f64,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => panic!("produce failed: {e}"),
        }
        producer.poll(Duration::ZERO);
    }
    let bytes = delivered.bytes.load(Ordering::Relaxed);
    assert_eq!(
        delivered.failed.load(Ordering::Relaxed),
        0,
        "no delivery failed"
    );
    bytes as f64 / RUN.as_secs_f64()
}

fn quota_entry(user: &str, key: &str, value: f64, remove: bool) -> EntryData {
    EntryData::default()
        .with_entity(vec![
            EntityData::default()
                .with_entity_type(StrBytes::from_static_str("user"))
                .with_entity_name(Some(StrBytes::from_string(user.to_string()))),
        ])
        .with_ops(vec![
            OpData::default()
                .with_key(StrBytes::from_string(key.to_string()))
                .with_value(value)
                .with_remove(remove),
        ])
}

/// The value of the metric line starting with `prefix`, 0 when absent.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_producer_capped_at_1_mb_per_s_is_held_there_and_others_are_not_slowed() {
    let b = SecureBroker::start(&[]).await.unwrap();
    let mut wire = WireClient::connect_sasl_plain(&b.addr("SASL_PLAINTEXT"), ADMIN.0, ADMIN.1)
        .await
        .unwrap();

    // Alice may not set her own quota; the admin (a super user) may.
    let mut as_alice = WireClient::connect_sasl_plain(&b.addr("SASL_PLAINTEXT"), ALICE.0, ALICE.1)
        .await
        .unwrap();
    let set = AlterClientQuotasRequest::default().with_entries(vec![quota_entry(
        ALICE.0,
        "producer_byte_rate",
        QUOTA,
        false,
    )]);
    let refused = as_alice.send(&set, 1).await.unwrap();
    assert_eq!(
        refused.entries[0].error_code, 31,
        "CLUSTER_AUTHORIZATION_FAILED"
    );
    let resp = wire.send(&set, 1).await.unwrap();
    assert_eq!(resp.entries[0].error_code, 0, "{resp:?}");
    let described = wire
        .send(
            &DescribeClientQuotasRequest::default().with_components(vec![
                ComponentData::default()
                    .with_entity_type(StrBytes::from_static_str("user"))
                    .with_match_type(0)
                    .with_match(Some(StrBytes::from_static_str(ALICE.0))),
            ]),
            1,
        )
        .await
        .unwrap();
    let entries = described.entries.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].values[0].key.as_str(), "producer_byte_rate");
    assert_eq!(entries[0].values[0].value, QUOTA);

    let (capped_topic, free_topic) = (unique_name("capped"), unique_name("free"));
    let admin_client: AdminClient<DefaultClientContext> = sasl(&b, ADMIN).create().unwrap();
    for t in admin_client
        .create_topics(
            [
                &NewTopic::new(&capped_topic, 1, TopicReplication::Fixed(1)),
                &NewTopic::new(&free_topic, 1, TopicReplication::Fixed(1)),
            ],
            &admin_options(),
        )
        .await
        .unwrap()
    {
        t.unwrap();
    }

    // Both at once: alice as fast as she can, the admin at 5 MB/s.
    let (alice_cfg, admin_cfg) = (sasl(&b, ALICE), sasl(&b, ADMIN));
    let alice =
        tokio::task::spawn_blocking(move || produce_for_run(alice_cfg, &capped_topic, None));
    let other = tokio::task::spawn_blocking(move || {
        produce_for_run(admin_cfg, &free_topic, Some(5.0 * QUOTA))
    });
    let (alice, other) = (alice.await.unwrap(), other.await.unwrap());
    eprintln!(
        "alice (capped at 1 MB/s): {:.3} MB/s; admin (offering 5 MB/s): {:.3} MB/s",
        alice / 1e6,
        other / 1e6
    );
    assert!(
        (alice / QUOTA - 1.0).abs() <= 0.10,
        "alice produced {alice:.0} B/s over 20 s; her quota is {QUOTA} B/s (±10%)"
    );
    assert!(
        other >= 4.5 * QUOTA,
        "the unthrottled admin got {other:.0} B/s of the 5 MB/s it offered"
    );

    let text = b.broker().unwrap().metrics_text().unwrap();
    let alice_throttled = metric(
        &text,
        r#"fjord_throttled_requests_total{quota="produce",principal="User:alice"}"#,
    );
    assert!(alice_throttled > 0.0, "alice was throttled:\n{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("fjord_throttle") && l.contains("User:admin")),
        "the admin was never throttled:\n{text}"
    );

    // Removing the quota lifts it.
    let lift = AlterClientQuotasRequest::default().with_entries(vec![quota_entry(
        ALICE.0,
        "producer_byte_rate",
        0.0,
        true,
    )]);
    assert_eq!(wire.send(&lift, 0).await.unwrap().entries[0].error_code, 0);
    let all = wire
        .send(&DescribeClientQuotasRequest::default(), 0)
        .await
        .unwrap();
    assert_eq!(all.entries.unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn partitions_beyond_fjord_max_partitions_are_refused() {
    let b = TestBroker::start_with(&[("fjord.max.partitions", "4")])
        .await
        .unwrap();
    let first = unique_name("ceiling");
    create_topic(&b.bootstrap(), &first, 3).await.unwrap();
    let admin = admin(&b.bootstrap()).unwrap();
    let second = unique_name("ceiling");
    let results = admin
        .create_topics(
            [&NewTopic::new(&second, 2, TopicReplication::Fixed(1))],
            &admin_options(),
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::PolicyViolation
    );
    let results = admin
        .create_partitions([&NewPartitions::new(&first, 5)], &admin_options())
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::PolicyViolation
    );
    // The last partition the ceiling allows can still be added.
    let results = admin
        .create_partitions([&NewPartitions::new(&first, 4)], &admin_options())
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_max_connections_are_closed_at_once() {
    let b = TestBroker::start_with(&[("max.connections", "2")])
        .await
        .unwrap();
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut c = WireClient::connect(&b.bootstrap()).await.unwrap();
        c.send(&ApiVersionsRequest::default(), 0).await.unwrap();
        open.push(c);
    }
    let mut third = WireClient::connect(&b.bootstrap()).await.unwrap();
    assert!(
        third.is_closed_by_broker(Duration::from_secs(5)).await,
        "a third connection is closed"
    );
    // Once one closes, a new connection is served again.
    drop(open.pop());
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let mut c = WireClient::connect(&b.bootstrap()).await.unwrap();
        if c.send(&ApiVersionsRequest::default(), 0).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection served after one closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
