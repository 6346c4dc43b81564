use std::collections::BTreeMap;

use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;

fn config(dir: &std::path::Path, extra: &[(&str, &str)]) -> BrokerConfig {
    let mut m = BTreeMap::new();
    m.insert("log.dirs".to_string(), dir.display().to_string());
    for (k, v) in extra {
        m.insert(k.to_string(), v.to_string());
    }
    BrokerConfig::from_map(m).unwrap()
}

async fn open(dir: &std::path::Path) -> Arc<Broker> {
    Broker::open_ready(config(dir, &[])).await.unwrap()
}

fn one_record() -> Vec<u8> {
    let r = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: 0,
        timestamp: 1,
        key: None,
        value: Some(bytes::Bytes::from_static(b"v")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&r],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.to_vec()
}

#[tokio::test]
async fn a_recreated_topic_starts_empty_and_topics_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    b.create_topic("t", 2, 1, None, BTreeMap::new(), false)
        .await
        .unwrap();
    let p = b.partition("t", 1).unwrap();
    p.append_records(&one_record(), 1 << 20, 1).unwrap();
    assert_eq!(p.offsets().0, 1);
    let old_id = b.delete_topic("t").await.unwrap();
    assert!(
        b.topic("t").is_none(),
        "gone locally once the delete returns"
    );
    let id = b
        .create_topic("t", 2, 1, None, BTreeMap::new(), false)
        .await
        .unwrap();
    assert_ne!(id, old_id);
    assert_eq!(
        b.partition("t", 1).unwrap().offsets().0,
        0,
        "no data of the deleted topic resurfaces"
    );
    b.stop().await;
    drop((p, b));
    let b = open(dir.path()).await;
    assert_eq!(b.topic("t").unwrap().id, id);
    assert_eq!(b.topic("t").unwrap().partition_count(), 2);
    assert!(b.topic(OFFSETS_TOPIC).unwrap().internal);
    b.stop().await;
}

#[tokio::test]
async fn the_data_dir_is_locked_until_stop_and_producer_ids_never_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let second = Broker::open(config(dir.path(), &[])).await;
    assert!(matches!(second, Err(Error::InvalidConfig(ref m)) if m.contains("in use")));
    let first = b.next_producer_id().await.unwrap();
    assert_eq!(b.next_producer_id().await.unwrap(), first + 1);
    b.stop().await;
    let b = open(dir.path()).await;
    assert!(b.next_producer_id().await.unwrap() > first + 1);
    b.stop().await;
}

#[tokio::test]
async fn partitions_beyond_the_cluster_ceiling_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = Broker::open_ready(config(dir.path(), &[("fjord.max.partitions", "5")]))
        .await
        .unwrap();
    b.create_topic("a", 3, 1, None, BTreeMap::new(), false)
        .await
        .unwrap();
    let e = b
        .create_topic("b", 3, 1, None, BTreeMap::new(), false)
        .await
        .unwrap_err();
    assert_eq!(e.code, ResponseError::PolicyViolation);
    assert!(e.message.contains("fjord.max.partitions"), "{}", e.message);
    assert!(b.topic("b").is_none());
    b.create_topic("b", 2, 1, None, BTreeMap::new(), false)
        .await
        .unwrap();
    let e = b.create_partitions("a", 4, None, false).await.unwrap_err();
    assert_eq!(e.code, ResponseError::PolicyViolation);
    assert_eq!(b.topic("a").unwrap().partition_count(), 3);
    b.delete_topic("b").await.unwrap();
    b.create_partitions("a", 5, None, false).await.unwrap();
    assert_eq!(b.topic("a").unwrap().partition_count(), 5);
    b.stop().await;
}

#[tokio::test]
async fn a_single_node_refuses_more_replicas_than_brokers() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let e = b
        .create_topic("t", 1, 3, None, BTreeMap::new(), false)
        .await
        .unwrap_err();
    assert_eq!(e.code, ResponseError::InvalidReplicationFactor);
    assert!(e.message.contains("1 available broker"), "{}", e.message);
    b.stop().await;
}

/// A data directory of the single-node release before the metadata quorum: its
/// `metadata.json` is imported once, and its partitions keep their records.
#[tokio::test]
async fn a_pre_raft_data_directory_is_imported_with_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let topic_id = Uuid::from_u128(0xfeed);
    let legacy = serde_json::json!({
        "version": 1, "cluster_id": "legacyClusterId0000000", "node_id": 1,
        "producer_id_reserved": 3000,
        "topics": {"old": {"id": topic_id, "partitions": 1, "configs": {"retention.ms": "86400000"}, "internal": false}}
    });
    std::fs::write(dir.path().join("metadata.json"), legacy.to_string()).unwrap();
    let mut log =
        crate::log::PartitionLog::open(&dir.path().join("old-0"), LogConfig::default()).unwrap();
    log.append(&one_record(), 0, 1).unwrap();
    log.append(&one_record(), 0, 2).unwrap();
    log.close().unwrap();

    let b = open(dir.path()).await;
    assert_eq!(b.cluster_id(), "legacyClusterId0000000");
    let t = b.topic("old").unwrap();
    assert_eq!(t.id, topic_id);
    assert_eq!(t.configs()["retention.ms"], "86400000");
    assert_eq!(b.partition("old", 0).unwrap().offsets(), (2, 0));
    assert!(b.next_producer_id().await.unwrap() >= 3000);
    assert!(dir.path().join("metadata.json.imported").exists());
    assert!(!dir.path().join("metadata.json").exists());
    b.stop().await;
    // Reopened: from the metadata log now, not imported twice.
    let b = open(dir.path()).await;
    assert_eq!(b.partition("old", 0).unwrap().offsets(), (2, 0));
    b.stop().await;
}

#[test]
fn topic_names_follow_kafka_rules() {
    assert!(validate_topic_name("orders.v1_x-2").is_ok());
    for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
        assert_eq!(
            validate_topic_name(bad).unwrap_err().code,
            ResponseError::InvalidTopicException,
            "{bad:?}"
        );
    }
}
