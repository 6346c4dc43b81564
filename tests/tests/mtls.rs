//! Mutual TLS with librdkafka: a client certificate the trust store vouches for is required,
//! its subject (mapped by `ssl.principal.mapping.rules`) is the principal the ACLs see, and
//! clients without a certificate or with one from another CA are refused.

#![allow(clippy::unwrap_used)] // test helpers fail the test on any error

use std::path::Path;
use std::time::Duration;

use fjord_api::kafka::{AdminClient, ConnectOptions, SaslMechanism};
use fjord_broker::security::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use fjord_tests::secure::{ADMIN, ClientCa, SecureBroker};
use fjord_tests::unique_name;
use rdkafka::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

fn with_certificate(b: &SecureBroker, cert: &Path, key: &Path) -> ClientConfig {
    let mut c = b.ssl_config(&b.tls.ca);
    c.set("ssl.certificate.location", cert.display().to_string())
        .set("ssl.key.location", key.display().to_string());
    c
}

async fn connects(cfg: ClientConfig) -> bool {
    tokio::task::spawn_blocking(move || {
        let p: FutureProducer = cfg.create().unwrap();
        p.client()
            .fetch_metadata(None, Duration::from_secs(3))
            .is_ok()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_authenticate_and_name_the_principal() {
    let trusted = ClientCa::generate("fjord clients").unwrap();
    let other = ClientCa::generate("somebody else").unwrap();
    let truststore = trusted.ca.display().to_string();
    let b = SecureBroker::start(&[
        ("ssl.client.auth", "required"),
        ("ssl.truststore.location", &truststore),
        (
            "ssl.principal.mapping.rules",
            "RULE:^CN=([^,]*),O=acme$/$1/L,DEFAULT",
        ),
        ("authorizer.class.name", "fjord"),
    ])
    .await
    .unwrap();

    // No certificate, or one from another CA: the handshake fails.
    assert!(!connects(b.ssl_config(&b.tls.ca)).await, "no certificate");
    let (cert, key) = other.issue("app-1", "acme").unwrap();
    assert!(
        !connects(with_certificate(&b, &cert, &key)).await,
        "untrusted CA"
    );
    // SASL_SSL listeners authenticate with SASL and ask for no certificate (KIP-684).
    assert!(
        connects(b.sasl_ssl_config("SCRAM-SHA-256", ADMIN.0, ADMIN.1)).await,
        "SASL_SSL without a certificate"
    );

    // The trusted certificate gets in; the ACLs see `User:app-1` (the mapping rule) and not
    // `User:CN=intruder,O=globex` (DEFAULT).
    let topic = unique_name("mtls");
    let mut admin = AdminClient::connect(&ConnectOptions {
        bootstrap: b.addr("SASL_PLAINTEXT"),
        tls_ca_pem: None,
        sasl: Some((SaslMechanism::ScramSha256, ADMIN.0.into(), ADMIN.1.into())),
    })
    .await
    .unwrap();
    admin
        .create_topic(&topic, 1, 1, &Default::default())
        .await
        .unwrap();
    admin
        .create_acls(&[AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: topic.clone(),
            pattern_type: PatternType::Literal,
            principal: "User:app-1".into(),
            host: "*".into(),
            operation: Operation::Write,
            permission: Permission::Allow,
        }])
        .await
        .unwrap();
    let send = |mut cfg: ClientConfig, topic: String| async move {
        let p: FutureProducer = cfg.set("message.timeout.ms", "5000").create().unwrap();
        p.send(
            FutureRecord::<(), _>::to(&topic).payload("x"),
            Duration::from_secs(5),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.rdkafka_error_code())
    };
    let (cert, key) = trusted.issue("APP-1", "acme").unwrap();
    send(with_certificate(&b, &cert, &key), topic.clone())
        .await
        .unwrap();
    let (cert, key) = trusted.issue("intruder", "globex").unwrap();
    assert_eq!(
        send(with_certificate(&b, &cert, &key), topic.clone()).await,
        Err(Some(RDKafkaErrorCode::TopicAuthorizationFailed))
    );
}
