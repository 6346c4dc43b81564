//! TLS and SASL with librdkafka (built from source with OpenSSL): SCRAM-SHA-256/512 and
//! PLAIN over TLS, TLS-only listeners, wrong credentials, certificate reload, and a raw
//! client that tries to skip authentication.

#![allow(clippy::unwrap_used)] // test helpers fail the test on any error

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use fjord_tests::secure::{ADMIN, ALICE, SecureBroker, TlsFiles};
use fjord_tests::{STEP_TIMEOUT, consume_exactly, consumer_config, unique_name};
use kafka_protocol::messages::{ApiKey, MetadataRequest, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether a client with `cfg` gets cluster metadata within `timeout` (librdkafka blocks, so
/// off the async workers).
async fn metadata(cfg: ClientConfig, timeout: Duration) -> Result<(), rdkafka::error::KafkaError> {
    tokio::task::spawn_blocking(move || {
        let p: BaseProducer = cfg.create().unwrap();
        p.client().fetch_metadata(None, timeout).map(|_| ())
    })
    .await
    .unwrap()
}

/// Produces `n` records with `producer_cfg`, then reads them back with `consumer_cfg`.
fn round_trip(producer_cfg: &ClientConfig, consumer_cfg: &ClientConfig, topic: &str, n: usize) {
    let producer: BaseProducer = producer_cfg.clone().set("acks", "all").create().unwrap();
    for i in 0..n {
        producer
            .send(BaseRecord::<(), _>::to(topic).payload(&format!("secret-{i}")))
            .unwrap();
    }
    assert_eq!(
        producer.flush(STEP_TIMEOUT),
        Ok(()),
        "every record delivered"
    );
    let mut cfg = consumer_cfg.clone();
    let group = unique_name("g");
    for (k, v) in consumer_config("unused", &group).config_map() {
        if k != "bootstrap.servers" {
            cfg.set(k, v);
        }
    }
    let consumer: BaseConsumer = cfg.create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let got = consume_exactly(&consumer, n, STEP_TIMEOUT, Duration::from_millis(200)).unwrap();
    let values: Vec<String> = got.iter().map(|r| r.value.clone()).collect();
    let expected: Vec<String> = (0..n).map(|i| format!("secret-{i}")).collect();
    assert_eq!(values, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_and_plain_over_tls_carry_records_end_to_end() {
    let b = SecureBroker::start(&[]).await.unwrap();
    for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] {
        let cfg = b.sasl_ssl_config(mechanism, ALICE.0, ALICE.1);
        let topic = unique_name(&format!("sasl-{}", mechanism.to_lowercase()));
        let handle = tokio::task::spawn_blocking(move || round_trip(&cfg, &cfg, &topic, 20));
        handle.await.unwrap();
    }
    assert_eq!(
        b.broker()
            .unwrap()
            .failed_authentications
            .load(Ordering::Relaxed),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_only_listener_works_and_an_untrusted_ca_does_not() {
    let b = SecureBroker::start(&[]).await.unwrap();
    let cfg = b.ssl_config(&b.tls.ca);
    let topic = unique_name("ssl");
    tokio::task::spawn_blocking(move || round_trip(&cfg, &cfg, &topic, 10))
        .await
        .unwrap();
    // A client trusting another CA never gets metadata.
    let other = TlsFiles::generate().unwrap();
    let cfg = b.ssl_config(&other.ca);
    let result = metadata(cfg, Duration::from_secs(3)).await;
    assert!(
        result.is_err(),
        "certificate of an unknown CA must be refused"
    );
    // A plaintext client on the TLS port gets nothing either (its ApiVersions is not a
    // TLS ClientHello), and the broker keeps serving TLS clients afterwards.
    let plaintext = fjord_tests::client_config(&b.addr("SSL"));
    let result = metadata(plaintext, Duration::from_secs(3)).await;
    assert!(result.is_err(), "plaintext on a TLS port must fail");
    let cfg = b.ssl_config(&b.tls.ca);
    assert!(metadata(cfg, Duration::from_secs(5)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_is_refused_and_counted() {
    let b = SecureBroker::start(&[]).await.unwrap();
    for mechanism in ["SCRAM-SHA-512", "PLAIN"] {
        let cfg = b.sasl_ssl_config(mechanism, ALICE.0, "not-her-password");
        let result = metadata(cfg, Duration::from_secs(3)).await;
        assert!(
            result.is_err(),
            "{mechanism}: metadata with a wrong password"
        );
    }
    let unknown = b.sasl_ssl_config("SCRAM-SHA-256", "mallory", "x");
    let result = metadata(unknown, Duration::from_secs(3)).await;
    assert!(result.is_err(), "unknown user");
    assert!(
        b.broker()
            .unwrap()
            .failed_authentications
            .load(Ordering::Relaxed)
            >= 3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_without_restart() {
    let b = SecureBroker::start(&[]).await.unwrap();
    let old_ca = std::fs::read(&b.tls.ca).unwrap();
    b.tls.regenerate().unwrap();
    assert!(
        b.broker()
            .unwrap()
            .tls
            .as_ref()
            .unwrap()
            .reload_if_changed(true)
    );
    let new_ca_cfg = b.ssl_config(&b.tls.ca);
    let ok = metadata(new_ca_cfg, STEP_TIMEOUT).await;
    assert!(ok.is_ok(), "the new certificate is served: {ok:?}");
    let old_ca_path = b.tls.dir.path().join("old-ca.pem");
    std::fs::write(&old_ca_path, old_ca).unwrap();
    let old_cfg = b.ssl_config(&old_ca_path);
    let refused = metadata(old_cfg, Duration::from_secs(3)).await;
    assert!(refused.is_err(), "the old certificate is gone");
}

/// A request frame for `Metadata` v12 without authenticating first.
fn metadata_frame() -> BytesMut {
    let mut body = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Metadata as i16)
        .with_request_api_version(12)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("raw")))
        .encode(&mut body, ApiKey::Metadata.request_header_version(12))
        .unwrap();
    MetadataRequest::default()
        .with_topics(None)
        .encode(&mut body, 12)
        .unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    frame
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_before_authentication_close_the_connection() {
    let b = SecureBroker::start(&[]).await.unwrap();
    let mut s = tokio::net::TcpStream::connect(b.addr("SASL_PLAINTEXT"))
        .await
        .unwrap();
    s.write_all(&metadata_frame()).await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(STEP_TIMEOUT, s.read_to_end(&mut buf))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(
        n,
        0,
        "no Metadata answer before SASL; got {} bytes",
        buf.len()
    );
    // The same request on an authenticated SASL_PLAINTEXT connection is answered.
    let mut cfg = fjord_tests::client_config(&b.addr("SASL_PLAINTEXT"));
    cfg.set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "SCRAM-SHA-256")
        .set("sasl.username", ADMIN.0)
        .set("sasl.password", ADMIN.1);
    let md = tokio::task::spawn_blocking(move || {
        let p: BaseProducer = cfg.create().unwrap();
        p.client()
            .fetch_metadata(None, STEP_TIMEOUT)
            .map(|m| m.brokers().iter().map(|b| b.port()).collect::<Vec<_>>())
    })
    .await
    .unwrap()
    .unwrap();
    let port: i32 = b
        .addr("SASL_PLAINTEXT")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        md,
        vec![port],
        "Metadata advertises the listener the client used"
    );
}
