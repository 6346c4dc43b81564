//! The admin client against a real fjord-broker started in-process on 127.0.0.1:0:
//! PLAINTEXT topic administration, error codes kept as data, SASL (PLAIN, SCRAM-SHA-256/512),
//! SCRAM credential management, TLS and timeouts.

// Test helpers outside #[test] functions panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use fjord_api::kafka::{AdminClient, ConnectOptions, KafkaError, SaslMechanism};
use fjord_api::provision::certs;
use fjord_broker::config::BrokerConfig;
use fjord_broker::server::BrokerHandle;
use kafka_protocol::ResponseError;

struct TestBroker {
    handle: BrokerHandle,
    _dir: tempfile::TempDir,
}

async fn start(extra: &[(&str, &str)]) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let mut map = BTreeMap::new();
    map.insert(
        "log.dirs".to_string(),
        dir.path().join("data").display().to_string(),
    );
    map.insert(
        "listeners".to_string(),
        "PLAINTEXT://127.0.0.1:0".to_string(),
    );
    map.insert(
        "connection.failed.authentication.delay.ms".to_string(),
        "0".to_string(),
    );
    for (k, v) in extra {
        map.insert(k.to_string(), v.to_string());
    }
    let config = BrokerConfig::from_map(map).unwrap();
    let handle = fjord_broker::server::spawn(config).await.unwrap();
    TestBroker { handle, _dir: dir }
}

fn plaintext(broker: &TestBroker) -> ConnectOptions {
    ConnectOptions {
        bootstrap: broker.handle.bootstrap(),
        tls_ca_pem: None,
        sasl: None,
    }
}

fn sasl(broker: &TestBroker, m: SaslMechanism, user: &str, pw: &str) -> ConnectOptions {
    ConnectOptions {
        sasl: Some((m, user.into(), pw.into())),
        ..plaintext(broker)
    }
}

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The Kafka error of a `KafkaError::Broker`, failing the test on anything else.
fn code(e: KafkaError) -> ResponseError {
    e.response_error()
        .unwrap_or_else(|| panic!("expected a broker error, got {e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_lifecycle_create_list_describe_alter_grow_delete() {
    let broker = start(&[]).await;
    let mut admin = AdminClient::connect(&plaintext(&broker)).await.unwrap();

    let overrides = configs(&[("retention.ms", "3600000"), ("cleanup.policy", "compact")]);
    let created = admin
        .create_topic("orders", 3, 1, &overrides)
        .await
        .unwrap();
    assert_eq!(created.name, "orders");
    assert_eq!(created.partitions, 3);
    assert_eq!(created.replication_factor, 1);
    assert_eq!(
        created.configs, overrides,
        "only the overrides, not the defaults"
    );
    assert_eq!(created.topic_id.len(), 36, "a UUID: {}", created.topic_id);
    admin
        .create_topic("audit", 1, 1, &BTreeMap::new())
        .await
        .unwrap();

    let listed = admin.list_topics().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["audit", "orders"],
        "sorted, internal topics left out"
    );
    assert_eq!(listed[1], created);
    assert!(listed[0].configs.is_empty());
    assert_eq!(
        admin.describe_topic("orders").await.unwrap(),
        Some(created.clone())
    );

    let changes: BTreeMap<String, Option<String>> = [
        ("retention.ms".to_string(), Some("1000".to_string())),
        ("segment.bytes".to_string(), Some("1048576".to_string())),
        ("cleanup.policy".to_string(), None),
    ]
    .into();
    admin.alter_topic_configs("orders", &changes).await.unwrap();
    let altered = admin.describe_topic("orders").await.unwrap().unwrap();
    assert_eq!(
        altered.configs,
        configs(&[("retention.ms", "1000"), ("segment.bytes", "1048576")])
    );
    assert_eq!(altered.topic_id, created.topic_id, "topic ids are stable");
    admin
        .alter_topic_configs("orders", &BTreeMap::new())
        .await
        .unwrap();

    admin.create_partitions("orders", 5).await.unwrap();
    assert_eq!(
        admin
            .describe_topic("orders")
            .await
            .unwrap()
            .unwrap()
            .partitions,
        5
    );

    admin.delete_topic("orders").await.unwrap();
    assert_eq!(admin.describe_topic("orders").await.unwrap(), None);
    let names: Vec<String> = admin
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["audit"]);
    broker.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_errors_keep_their_kafka_code_and_name() {
    // auto.create.topics.enable stays true: describing must still not create topics.
    let broker = start(&[]).await;
    let mut admin = AdminClient::connect(&plaintext(&broker)).await.unwrap();
    admin
        .create_topic("orders", 3, 1, &BTreeMap::new())
        .await
        .unwrap();

    let e = admin
        .create_topic("orders", 1, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("create topic orders failed: TOPIC_ALREADY_EXISTS (36)"),
        "{text}"
    );
    assert!(
        matches!(&e, KafkaError::Broker { code_name, .. } if code_name == "TOPIC_ALREADY_EXISTS")
    );

    assert_eq!(admin.describe_topic("ghost").await.unwrap(), None);
    assert_eq!(
        admin.describe_topic("ghost").await.unwrap(),
        None,
        "describe created nothing"
    );
    let e = admin.delete_topic("ghost").await.unwrap_err();
    assert_eq!(code(e), ResponseError::UnknownTopicOrPartition);
    let e = admin.create_partitions("ghost", 4).await.unwrap_err();
    assert_eq!(code(e), ResponseError::UnknownTopicOrPartition);
    let set = [("retention.ms".to_string(), Some("1".to_string()))].into();
    let e = admin.alter_topic_configs("ghost", &set).await.unwrap_err();
    assert_eq!(code(e), ResponseError::UnknownTopicOrPartition);

    let e = admin.create_partitions("orders", 2).await.unwrap_err();
    assert_eq!(code(e), ResponseError::InvalidPartitions, "cannot shrink");
    let e = admin
        .create_topic("empty", 0, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(code(e), ResponseError::InvalidPartitions);
    let e = admin
        .create_topic("bad", 1, 1, &configs(&[("retention.msx", "1")]))
        .await
        .unwrap_err();
    assert_eq!(code(e), ResponseError::InvalidConfig);
    let e = admin
        .create_topic("huge", u32::MAX, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(e, KafkaError::Protocol(_)), "{e:?}");

    // The connection is still usable after broker errors.
    assert_eq!(
        admin
            .describe_topic("orders")
            .await
            .unwrap()
            .unwrap()
            .partitions,
        3
    );
    broker.handle.shutdown().await.unwrap();
}

const SASL_BROKER: &[(&str, &str)] = &[
    ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
    ("fjord.bootstrap.users", "admin:s3cret"),
    ("super.users", "User:admin"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plain_and_scram_authenticate_and_wrong_passwords_fail() {
    let broker = start(SASL_BROKER).await;
    for m in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ] {
        let mut admin = AdminClient::connect(&sasl(&broker, m, "admin", "s3cret"))
            .await
            .unwrap_or_else(|e| panic!("{m:?}: {e}"));
        assert!(admin.list_topics().await.unwrap().is_empty());
        let e = AdminClient::connect(&sasl(&broker, m, "admin", "wrong"))
            .await
            .unwrap_err();
        assert_eq!(code(e), ResponseError::SaslAuthenticationFailed, "{m:?}");
    }
    let e = AdminClient::connect(&sasl(&broker, SaslMechanism::ScramSha256, "nobody", "x"))
        .await
        .unwrap_err();
    assert_eq!(code(e), ResponseError::SaslAuthenticationFailed);
    // Without SASL the broker serves nothing but ApiVersions and closes the connection.
    let mut anonymous = AdminClient::connect(&plaintext(&broker)).await.unwrap();
    let e = anonymous.list_topics().await.unwrap_err();
    assert!(matches!(e, KafkaError::Connect { .. }), "{e:?}");
    broker.handle.shutdown().await.unwrap();

    let scram_only = start(&[
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
        ("fjord.bootstrap.users", "admin:s3cret"),
    ])
    .await;
    let e = AdminClient::connect(&sasl(&scram_only, SaslMechanism::Plain, "admin", "s3cret"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("SCRAM-SHA-512"),
        "names what the broker offers: {e}"
    );
    assert_eq!(code(e), ResponseError::UnsupportedSaslMechanism);
    scram_only.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_are_upserted_and_deleted_through_the_broker() {
    let broker = start(SASL_BROKER).await;
    let mut admin = AdminClient::connect(&sasl(
        &broker,
        SaslMechanism::ScramSha512,
        "admin",
        "s3cret",
    ))
    .await
    .unwrap();
    admin
        .upsert_scram_credential("alice", SaslMechanism::ScramSha512, "wonder,land=1", 4096)
        .await
        .unwrap();
    let alice = |m| sasl(&broker, m, "alice", "wonder,land=1");
    let mut as_alice = AdminClient::connect(&alice(SaslMechanism::ScramSha512))
        .await
        .unwrap();
    assert!(as_alice.list_topics().await.unwrap().is_empty());
    AdminClient::connect(&alice(SaslMechanism::Plain))
        .await
        .unwrap();
    let e = AdminClient::connect(&alice(SaslMechanism::ScramSha256))
        .await
        .unwrap_err();
    assert_eq!(
        code(e),
        ResponseError::SaslAuthenticationFailed,
        "no SHA-256 credential yet"
    );

    // Upsert replaces the password; the old one stops working.
    admin
        .upsert_scram_credential("alice", SaslMechanism::ScramSha512, "rotated", 8192)
        .await
        .unwrap();
    let e = AdminClient::connect(&alice(SaslMechanism::ScramSha512))
        .await
        .unwrap_err();
    assert_eq!(code(e), ResponseError::SaslAuthenticationFailed);
    AdminClient::connect(&sasl(
        &broker,
        SaslMechanism::ScramSha512,
        "alice",
        "rotated",
    ))
    .await
    .unwrap();

    // Only super users manage credentials.
    let e = as_alice
        .upsert_scram_credential("bob", SaslMechanism::ScramSha256, "pw", 4096)
        .await
        .unwrap_err();
    assert_eq!(code(e), ResponseError::ClusterAuthorizationFailed);
    let e = admin
        .upsert_scram_credential("bob", SaslMechanism::ScramSha256, "pw", 100)
        .await
        .unwrap_err();
    assert_eq!(code(e), ResponseError::UnacceptableCredential);
    let e = admin
        .upsert_scram_credential("bob", SaslMechanism::Plain, "pw", 4096)
        .await
        .unwrap_err();
    assert!(matches!(e, KafkaError::Protocol(_)), "{e:?}");

    admin
        .delete_scram_credential("alice", SaslMechanism::ScramSha512)
        .await
        .unwrap();
    let e = AdminClient::connect(&sasl(
        &broker,
        SaslMechanism::ScramSha512,
        "alice",
        "rotated",
    ))
    .await
    .unwrap_err();
    assert_eq!(code(e), ResponseError::SaslAuthenticationFailed);
    admin
        .delete_scram_credential("alice", SaslMechanism::ScramSha512)
        .await
        .expect("deleting a missing credential is Ok");
    broker.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_trusts_only_the_given_ca() {
    let tls = certs::generate("test", &["127.0.0.1", "localhost"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("broker.pem");
    std::fs::write(&keystore, &tls.broker_pem).unwrap();
    let keystore = keystore.display().to_string();
    let broker = start(&[
        ("listeners", "SASL_SSL://127.0.0.1:0"),
        ("ssl.keystore.location", &keystore),
        ("fjord.bootstrap.users", "admin:s3cret"),
    ])
    .await;
    let secure = ConnectOptions {
        tls_ca_pem: Some(tls.ca_cert_pem.clone()),
        ..sasl(&broker, SaslMechanism::Plain, "admin", "s3cret")
    };
    let mut admin = AdminClient::connect(&secure).await.unwrap();
    admin
        .create_topic("secured", 1, 1, &BTreeMap::new())
        .await
        .unwrap();
    let scram = ConnectOptions {
        sasl: Some((SaslMechanism::ScramSha256, "admin".into(), "s3cret".into())),
        ..secure.clone()
    };
    AdminClient::connect(&scram).await.unwrap();
    // "localhost" is in the certificate too.
    let by_name = ConnectOptions {
        bootstrap: broker.handle.bootstrap().replace("127.0.0.1", "localhost"),
        ..secure.clone()
    };
    AdminClient::connect(&by_name).await.unwrap();

    let other = certs::generate("other", &["127.0.0.1"]).unwrap();
    let wrong_ca = ConnectOptions {
        tls_ca_pem: Some(other.ca_cert_pem),
        ..secure.clone()
    };
    let e = AdminClient::connect(&wrong_ca).await.unwrap_err();
    assert!(matches!(e, KafkaError::Connect { .. }), "{e:?}");
    let no_tls = ConnectOptions {
        tls_ca_pem: None,
        ..secure
    };
    let e = AdminClient::connect_with_timeout(&no_tls, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(
        matches!(e, KafkaError::Connect { .. } | KafkaError::Protocol(_)),
        "{e:?}"
    );
    broker.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_brokers_time_out_and_the_first_reachable_address_wins() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let options = ConnectOptions {
        bootstrap: silent_addr.clone(),
        tls_ca_pem: None,
        sasl: None,
    };
    let started = std::time::Instant::now();
    let e = AdminClient::connect_with_timeout(&options, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &e {
        KafkaError::Connect { addr, source } => {
            assert_eq!(addr, &silent_addr);
            assert_eq!(source.kind(), std::io::ErrorKind::TimedOut);
            assert!(
                source.to_string().contains("timed out after 300 ms"),
                "{source}"
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    keep.abort();

    // A closed port first, then a live broker.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let broker = start(&[]).await;
    let options = ConnectOptions {
        bootstrap: format!("{closed}, {}", broker.handle.bootstrap()),
        tls_ca_pem: None,
        sasl: None,
    };
    let mut admin = AdminClient::connect(&options).await.unwrap();
    assert!(admin.list_topics().await.unwrap().is_empty());
    let e = AdminClient::connect(&ConnectOptions {
        bootstrap: closed.to_string(),
        ..options
    })
    .await
    .unwrap_err();
    assert!(matches!(e, KafkaError::Connect { .. }), "{e:?}");
    broker.handle.shutdown().await.unwrap();
}
