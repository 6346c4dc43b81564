//! Request rules of every admin API, encoded at every served version.

use std::collections::BTreeMap;

use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::handlers::test_support::{encodes, versions};

/// A broker on a fresh temp dir (keep the dir alive as long as the broker).
pub(crate) async fn broker_with(extra: &[(&str, &str)]) -> (Arc<Broker>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut m = BTreeMap::new();
    m.insert("log.dirs".to_string(), dir.path().display().to_string());
    for (k, v) in extra {
        m.insert(k.to_string(), v.to_string());
    }
    let config = crate::BrokerConfig::from_map(m).expect("valid config");
    (
        crate::Broker::open_ready(config)
            .await
            .expect("broker opens"),
        dir,
    )
}

pub(crate) async fn broker() -> (Arc<Broker>, tempfile::TempDir) {
    broker_with(&[]).await
}

pub(crate) fn ctx(api_version: i16) -> RequestContext {
    RequestContext::for_test(api_version)
}

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub(crate) fn creatable(
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> create_topics_request::CreatableTopic {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = topic_name(name);
    t.num_partitions = partitions;
    t.replication_factor = -1;
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = create_topics_request::CreatableTopicConfig::default();
            c.name = StrBytes::from_string(k.to_string());
            c.value = Some(StrBytes::from_string(v.to_string()));
            c
        })
        .collect();
    t
}

/// Creates topics through the handler, asserting success.
pub(crate) async fn create_ok(
    b: &Arc<Broker>,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    let req =
        CreateTopicsRequest::default().with_topics(vec![creatable(name, partitions, configs)]);
    let r = create_topics(b, &ctx(7), req).await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

fn assignment(index: i32, brokers: &[i32]) -> create_topics_request::CreatableReplicaAssignment {
    let mut a = create_topics_request::CreatableReplicaAssignment::default();
    a.partition_index = index;
    a.broker_ids = brokers.iter().map(|b| BrokerId(*b)).collect();
    a
}

fn batch(count: usize) -> Vec<u8> {
    let records: Vec<Record> = (0..count)
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
            value: Some(bytes::Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.to_vec()
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

#[tokio::test]
async fn create_topics_answers_every_rule_at_every_version() {
    let (b, _dir) = broker().await;
    for v in versions(ApiKey::CreateTopics) {
        let ok = format!("ok-{v}");
        let mut rf3 = creatable(&format!("rf-{v}"), 1, &[]);
        rf3.replication_factor = 3;
        let mut null_value = creatable(&format!("null-{v}"), 1, &[]);
        let mut c = create_topics_request::CreatableTopicConfig::default();
        c.name = StrBytes::from_static_str("retention.ms");
        c.value = None;
        null_value.configs = vec![c];
        let req = CreateTopicsRequest::default().with_topics(vec![
            creatable(&ok, 2, &[("retention.ms", "1000")]),
            creatable("bad name!", 1, &[]),
            creatable(&format!("k-{v}"), 1, &[("retention.msx", "1")]),
            creatable("dup", 1, &[]),
            creatable("dup", 1, &[]),
            rf3,
            null_value,
            creatable(&format!("zero-{v}"), 0, &[]),
        ]);
        let r = create_topics(&b, &ctx(v), req).await;
        let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                code(ResponseError::InvalidTopicException),
                code(ResponseError::InvalidConfig),
                code(ResponseError::InvalidRequest),
                code(ResponseError::InvalidRequest),
                code(ResponseError::InvalidReplicationFactor),
                code(ResponseError::InvalidConfig),
                code(ResponseError::InvalidPartitions),
            ],
            "v{v}: {:?}",
            r.topics
                .iter()
                .map(|t| &t.error_message)
                .collect::<Vec<_>>()
        );
        let bad_key = r.topics[2].error_message.as_ref().expect("message");
        assert!(bad_key.contains("retention.msx"), "{bad_key}");
        assert_eq!(r.topics[0].error_message, None);
        let created = &r.topics[0];
        if v >= 5 {
            assert_eq!((created.num_partitions, created.replication_factor), (2, 1));
            let configs = created.configs.as_ref().expect("v5+ configs");
            let retention = configs
                .iter()
                .find(|c| c.name.as_str() == "retention.ms")
                .expect("retention.ms");
            assert_eq!(retention.value.as_deref(), Some("1000"));
            assert_eq!(retention.config_source, SOURCE_TOPIC);
            let policy = configs
                .iter()
                .find(|c| c.name.as_str() == "cleanup.policy")
                .expect("cleanup.policy");
            assert_eq!(policy.config_source, SOURCE_DEFAULT);
        }
        if v >= 7 {
            assert_eq!(created.topic_id, b.topic(&ok).expect("created").id);
        }
        assert_eq!(b.topic(&ok).expect("created").partition_count(), 2);
        encodes(ApiKey::CreateTopics, v, ResponseKind::CreateTopics(r));

        let again = create_topics(
            &b,
            &ctx(v),
            CreateTopicsRequest::default().with_topics(vec![creatable(&ok, 1, &[])]),
        )
        .await;
        assert_eq!(
            again.topics[0].error_code,
            code(ResponseError::TopicAlreadyExists)
        );
        encodes(ApiKey::CreateTopics, v, ResponseKind::CreateTopics(again));
    }
}

#[tokio::test]
async fn validate_only_reports_the_topic_it_would_create_and_writes_nothing() {
    let (b, _dir) = broker_with(&[("num.partitions", "3")]).await;
    for v in versions(ApiKey::CreateTopics) {
        let mut req = CreateTopicsRequest::default().with_topics(vec![
            creatable("explicit", 5, &[("cleanup.policy", "compact")]),
            creatable("default", -1, &[]),
        ]);
        req.validate_only = true;
        let r = create_topics(&b, &ctx(v), req).await;
        assert!(r.topics.iter().all(|t| t.error_code == 0), "{:?}", r.topics);
        if v >= 5 {
            assert_eq!(r.topics[0].num_partitions, 5);
            assert_eq!(r.topics[1].num_partitions, 3, "-1 is num.partitions");
        }
        encodes(ApiKey::CreateTopics, v, ResponseKind::CreateTopics(r));
    }
    assert!(b.topic("explicit").is_none() && b.topic("default").is_none());
}

#[tokio::test]
async fn manual_assignments_must_place_every_partition_on_this_node() {
    let (b, _dir) = broker().await;
    let node = b.node_id;
    let with = |name: &str, assignments: Vec<_>| {
        let mut t = creatable(name, -1, &[]);
        t.assignments = assignments;
        t
    };
    let mut explicit_count = with("counted", vec![assignment(0, &[node])]);
    explicit_count.num_partitions = 1;
    let req = CreateTopicsRequest::default().with_topics(vec![
        with("here", vec![assignment(1, &[node]), assignment(0, &[node])]),
        with("elsewhere", vec![assignment(0, &[node + 1])]),
        with("two-replicas", vec![assignment(0, &[node, node + 1])]),
        with("gap", vec![assignment(0, &[node]), assignment(2, &[node])]),
        explicit_count,
    ]);
    let r = create_topics(&b, &ctx(7), req).await;
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![
            0,
            code(ResponseError::InvalidReplicaAssignment),
            code(ResponseError::InvalidReplicaAssignment),
            code(ResponseError::InvalidReplicaAssignment),
            code(ResponseError::InvalidRequest),
        ]
    );
    assert_eq!(r.topics[0].num_partitions, 2);
    assert_eq!(b.topic("here").expect("created").partition_count(), 2);
    assert!(b.topic("elsewhere").is_none());
}

fn delete_request(version: i16, targets: &[(Option<&str>, Uuid)]) -> DeleteTopicsRequest {
    let mut req = DeleteTopicsRequest::default();
    if version >= 6 {
        req.topics = targets
            .iter()
            .map(|(name, id)| {
                let mut s = delete_topics_request::DeleteTopicState::default();
                s.name = name.map(topic_name);
                s.topic_id = *id;
                s
            })
            .collect();
    } else {
        req.topic_names = targets
            .iter()
            .map(|(name, _)| topic_name(name.expect("v0-5 delete by name")))
            .collect();
    }
    req
}

#[tokio::test]
async fn delete_topics_by_name_and_by_id_at_every_version() {
    let (b, _dir) = broker().await;
    for v in versions(ApiKey::DeleteTopics) {
        let name = format!("del-{v}");
        create_ok(&b, &name, 1, &[]).await;
        let id = b.topic(&name).expect("created").id;
        let r = delete_topics(
            &b,
            &ctx(v),
            delete_request(
                v,
                &[(Some(&name), Uuid::nil()), (Some("missing"), Uuid::nil())],
            ),
        )
        .await;
        assert_eq!(r.responses[0].error_code, 0);
        assert_eq!(
            r.responses[1].error_code,
            code(ResponseError::UnknownTopicOrPartition)
        );
        assert_eq!(r.responses[1].error_message.is_some(), v >= 5);
        if v >= 6 {
            assert_eq!(r.responses[0].topic_id, id);
        }
        assert!(b.topic(&name).is_none());
        encodes(ApiKey::DeleteTopics, v, ResponseKind::DeleteTopics(r));
        let internal = delete_topics(
            &b,
            &ctx(v),
            delete_request(v, &[(Some(crate::broker::OFFSETS_TOPIC), Uuid::nil())]),
        )
        .await;
        assert_eq!(
            internal.responses[0].error_code,
            code(ResponseError::InvalidTopicException)
        );
        encodes(
            ApiKey::DeleteTopics,
            v,
            ResponseKind::DeleteTopics(internal),
        );
    }
    create_ok(&b, "by-id", 1, &[]).await;
    let id = b.topic("by-id").expect("created").id;
    let r = delete_topics(
        &b,
        &ctx(6),
        delete_request(
            6,
            &[(None, id), (None, Uuid::new_v4()), (Some("by-id"), id)],
        ),
    )
    .await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(
        r.responses[0].name.as_ref().map(|n| n.as_str()),
        Some("by-id")
    );
    assert_eq!(r.responses[0].topic_id, id);
    assert_eq!(
        r.responses[1].error_code,
        code(ResponseError::UnknownTopicId)
    );
    assert_eq!(r.responses[1].name, None);
    assert_eq!(
        r.responses[2].error_code,
        code(ResponseError::InvalidRequest)
    );
    assert!(b.topic("by-id").is_none());
    encodes(ApiKey::DeleteTopics, 6, ResponseKind::DeleteTopics(r));
}

fn grow(
    name: &str,
    count: i32,
    assignments: Option<Vec<i32>>,
) -> create_partitions_request::CreatePartitionsTopic {
    let mut t = create_partitions_request::CreatePartitionsTopic::default();
    t.name = topic_name(name);
    t.count = count;
    t.assignments = assignments.map(|nodes| {
        nodes
            .into_iter()
            .map(|n| {
                let mut a = create_partitions_request::CreatePartitionsAssignment::default();
                a.broker_ids = vec![BrokerId(n)];
                a
            })
            .collect()
    });
    t
}

#[tokio::test]
async fn create_partitions_grows_only_with_valid_counts_and_assignments() {
    let (b, _dir) = broker().await;
    let node = b.node_id;
    for v in versions(ApiKey::CreatePartitions) {
        let name = format!("grow-{v}");
        create_ok(&b, &name, 1, &[]).await;
        let mut dry = CreatePartitionsRequest::default().with_topics(vec![grow(&name, 8, None)]);
        dry.validate_only = true;
        let r = create_partitions(&b, &ctx(v), dry).await;
        assert_eq!(r.results[0].error_code, 0);
        assert_eq!(
            b.topic(&name).expect("topic").partition_count(),
            1,
            "validate only"
        );
        let req = CreatePartitionsRequest::default().with_topics(vec![
            grow(&name, 3, Some(vec![node, node])),
            grow("missing", 2, None),
            grow("twice", 2, None),
            grow("twice", 2, None),
        ]);
        let r = create_partitions(&b, &ctx(v), req).await;
        let codes: Vec<i16> = r.results.iter().map(|t| t.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                code(ResponseError::UnknownTopicOrPartition),
                code(ResponseError::InvalidRequest),
                code(ResponseError::InvalidRequest),
            ]
        );
        assert_eq!(b.topic(&name).expect("topic").partition_count(), 3);
        encodes(
            ApiKey::CreatePartitions,
            v,
            ResponseKind::CreatePartitions(r),
        );
        let req = CreatePartitionsRequest::default().with_topics(vec![grow(&name, 2, None)]);
        let r = create_partitions(&b, &ctx(v), req).await;
        assert_eq!(
            r.results[0].error_code,
            code(ResponseError::InvalidPartitions)
        );
        assert!(
            r.results[0]
                .error_message
                .as_ref()
                .is_some_and(|m| m.contains("3"))
        );
        encodes(
            ApiKey::CreatePartitions,
            v,
            ResponseKind::CreatePartitions(r),
        );
        for bad in [Some(vec![node + 1]), Some(vec![node, node])] {
            let req = CreatePartitionsRequest::default().with_topics(vec![grow(&name, 4, bad)]);
            let r = create_partitions(&b, &ctx(v), req).await;
            assert_eq!(
                r.results[0].error_code,
                code(ResponseError::InvalidReplicaAssignment)
            );
        }
        assert_eq!(b.topic(&name).expect("topic").partition_count(), 3);
    }
}

fn delete_records_request(name: &str, partitions: &[(i32, i64)]) -> DeleteRecordsRequest {
    let mut t = delete_records_request::DeleteRecordsTopic::default();
    t.name = topic_name(name);
    t.partitions = partitions
        .iter()
        .map(|(index, offset)| {
            let mut p = delete_records_request::DeleteRecordsPartition::default();
            p.partition_index = *index;
            p.offset = *offset;
            p
        })
        .collect();
    DeleteRecordsRequest::default().with_topics(vec![t])
}

#[tokio::test]
async fn delete_records_moves_the_low_watermark_at_every_version() {
    let (b, _dir) = broker().await;
    for v in versions(ApiKey::DeleteRecords) {
        let name = format!("records-{v}");
        create_ok(&b, &name, 2, &[]).await;
        for index in 0..2 {
            let p = b.partition(&name, index).expect("partition");
            p.append_records(&batch(5), 1 << 20, 1_700_000_000_000)
                .expect("append");
        }
        let req = delete_records_request(&name, &[(0, 2), (1, -1), (2, 0)]);
        let r = delete_records(&b, &ctx(v), req).await;
        let results: Vec<(i16, i64)> = r.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.low_watermark))
            .collect();
        assert_eq!(
            results,
            vec![
                (0, 2),
                (0, 5),
                (code(ResponseError::UnknownTopicOrPartition), -1)
            ]
        );
        assert_eq!(b.partition(&name, 0).expect("p0").offsets(), (5, 2));
        encodes(ApiKey::DeleteRecords, v, ResponseKind::DeleteRecords(r));

        let req = delete_records_request(&name, &[(0, 6), (0, 1)]);
        let r = delete_records(&b, &ctx(v), req).await;
        assert_eq!(
            r.topics[0].partitions[0].error_code,
            code(ResponseError::OffsetOutOfRange),
            "beyond the high watermark"
        );
        assert_eq!(
            (
                r.topics[0].partitions[1].error_code,
                r.topics[0].partitions[1].low_watermark
            ),
            (0, 2),
            "never moves backwards"
        );
        encodes(ApiKey::DeleteRecords, v, ResponseKind::DeleteRecords(r));
    }
    let r = delete_records(
        &b,
        &ctx(2),
        delete_records_request(crate::broker::OFFSETS_TOPIC, &[(0, -1)]),
    )
    .await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::InvalidTopicException)
    );
    let r = delete_records(&b, &ctx(2), delete_records_request("missing", &[(0, 0)])).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::UnknownTopicOrPartition)
    );
}

#[tokio::test]
async fn describe_cluster_lists_this_broker_and_refuses_controller_endpoints() {
    let (b, _dir) = broker().await;
    for v in versions(ApiKey::DescribeCluster) {
        let r = describe_cluster(&b, &ctx(v), DescribeClusterRequest::default()).await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.cluster_id.as_str(), b.cluster_id());
        assert_eq!(r.controller_id.0, b.node_id);
        assert_eq!(r.cluster_authorized_operations, i32::MIN);
        let (host, port) = b.advertised_address("PLAINTEXT");
        assert_eq!(r.brokers.len(), 1);
        assert_eq!(
            (r.brokers[0].host.as_str(), r.brokers[0].port),
            (host.as_str(), port)
        );
        assert_eq!(r.brokers[0].rack, None);
        encodes(ApiKey::DescribeCluster, v, ResponseKind::DescribeCluster(r));
    }
    let mut req = DescribeClusterRequest::default();
    req.endpoint_type = 2;
    let r = describe_cluster(&b, &ctx(1), req).await;
    assert_eq!(r.error_code, code(ResponseError::MismatchedEndpointType));
    encodes(ApiKey::DescribeCluster, 1, ResponseKind::DescribeCluster(r));
}
