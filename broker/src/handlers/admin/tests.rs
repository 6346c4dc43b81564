//! Admin and config handlers against a real broker on a temp dir, encoded at every version.

use std::collections::BTreeMap;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::handlers::configs;
use crate::handlers::test_support::versions;
use crate::router::encode_response;

async fn broker() -> (Arc<Broker>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut m = BTreeMap::new();
    m.insert("log.dirs".to_string(), dir.path().display().to_string());
    (
        Broker::open_ready(crate::BrokerConfig::from_map(m).unwrap())
            .await
            .unwrap(),
        dir,
    )
}

fn ctx(v: i16) -> RequestContext {
    RequestContext::for_test(v)
}

fn create(name: &str, partitions: i32, configs: &[(&str, &str)]) -> CreateTopicsRequest {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.into()));
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
    CreateTopicsRequest::default().with_topics(vec![t])
}

fn describe(name: &str) -> DescribeConfigsRequest {
    let mut r = describe_configs_request::DescribeConfigsResource::default();
    r.resource_type = 2;
    r.resource_name = StrBytes::from_string(name.into());
    DescribeConfigsRequest::default()
        .with_resources(vec![r])
        .with_include_synonyms(true)
        .with_include_documentation(true)
}

fn value_of(resp: &DescribeConfigsResponse, key: &str) -> (String, i8) {
    let c = resp.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .unwrap_or_else(|| panic!("{key} missing: {:?}", resp.results[0].error_message));
    (c.value.as_ref().unwrap().to_string(), c.config_source)
}

#[tokio::test]
async fn create_validates_and_every_version_encodes() {
    let (b, _d) = broker().await;
    for v in versions(ApiKey::CreateTopics) {
        let resp = create_topics(
            &b,
            &ctx(v),
            create(&format!("ok-{v}"), 3, &[("retention.ms", "1000")]),
        )
        .await;
        assert_eq!(
            resp.topics[0].error_code, 0,
            "{:?}",
            resp.topics[0].error_message
        );
        encode_response(
            ApiKey::CreateTopics,
            v,
            1,
            &ResponseKind::CreateTopics(resp),
        )
        .unwrap();
        let bad = create_topics(&b, &ctx(v), create("bad name!", 1, &[])).await;
        assert_eq!(
            bad.topics[0].error_code,
            ResponseError::InvalidTopicException.code()
        );
        encode_response(ApiKey::CreateTopics, v, 1, &ResponseKind::CreateTopics(bad)).unwrap();
    }
    assert_eq!(b.topic("ok-5").unwrap().partition_count(), 3);
    let again = create_topics(&b, &ctx(7), create("ok-5", 1, &[])).await;
    assert_eq!(
        again.topics[0].error_code,
        ResponseError::TopicAlreadyExists.code()
    );
    let bad_key = create_topics(&b, &ctx(7), create("k", 1, &[("retention.msx", "1")])).await;
    assert_eq!(
        bad_key.topics[0].error_code,
        ResponseError::InvalidConfig.code()
    );
    assert!(
        bad_key.topics[0]
            .error_message
            .as_ref()
            .unwrap()
            .contains("retention.msx")
    );
    let mut rf = create("rf", 1, &[]);
    rf.topics[0].replication_factor = 3;
    assert_eq!(
        create_topics(&b, &ctx(7), rf).await.topics[0].error_code,
        ResponseError::InvalidReplicationFactor.code()
    );
    let mut vo = create("validate", 1, &[]);
    vo.validate_only = true;
    assert_eq!(create_topics(&b, &ctx(7), vo).await.topics[0].error_code, 0);
    assert!(
        b.topic("validate").is_none(),
        "validate_only writes nothing"
    );
}

#[tokio::test]
async fn configs_describe_override_vs_default_and_alter() {
    let (b, _d) = broker().await;
    create_topics(&b, &ctx(7), create("cfg", 1, &[("retention.ms", "1000")])).await;
    for v in versions(ApiKey::DescribeConfigs) {
        let resp = configs::describe_configs(&b, &ctx(v), describe("cfg")).await;
        assert_eq!(
            value_of(&resp, "retention.ms"),
            ("1000".into(), SOURCE_TOPIC)
        );
        assert_eq!(
            value_of(&resp, "cleanup.policy"),
            ("delete".into(), SOURCE_DEFAULT)
        );
        encode_response(
            ApiKey::DescribeConfigs,
            v,
            1,
            &ResponseKind::DescribeConfigs(resp),
        )
        .unwrap();
    }
    // Incremental: SET one key, DELETE the other.
    let mut res = incremental_alter_configs_request::AlterConfigsResource::default();
    res.resource_type = 2;
    res.resource_name = StrBytes::from_static_str("cfg");
    let op = |name: &str, op: i8, value: Option<&str>| {
        let mut c = incremental_alter_configs_request::AlterableConfig::default();
        c.name = StrBytes::from_string(name.into());
        c.config_operation = op;
        c.value = value.map(|v| StrBytes::from_string(v.into()));
        c
    };
    res.configs = vec![
        op("segment.bytes", 0, Some("4096")),
        op("retention.ms", 1, None),
    ];
    let r = configs::incremental_alter_configs(
        &b,
        &ctx(1),
        IncrementalAlterConfigsRequest::default().with_resources(vec![res]),
    )
    .await;
    assert_eq!(
        r.responses[0].error_code, 0,
        "{:?}",
        r.responses[0].error_message
    );
    let d = configs::describe_configs(&b, &ctx(4), describe("cfg")).await;
    assert_eq!(value_of(&d, "segment.bytes"), ("4096".into(), SOURCE_TOPIC));
    assert_eq!(value_of(&d, "retention.ms").1, SOURCE_DEFAULT);
    // AlterConfigs replaces the override set.
    let mut ar = alter_configs_request::AlterConfigsResource::default();
    ar.resource_type = 2;
    ar.resource_name = StrBytes::from_static_str("cfg");
    let mut c = alter_configs_request::AlterableConfig::default();
    c.name = StrBytes::from_static_str("cleanup.policy");
    c.value = Some(StrBytes::from_static_str("compact"));
    ar.configs = vec![c];
    let r = configs::alter_configs(
        &b,
        &ctx(2),
        AlterConfigsRequest::default().with_resources(vec![ar]),
    )
    .await;
    assert_eq!(r.responses[0].error_code, 0);
    let d = configs::describe_configs(&b, &ctx(4), describe("cfg")).await;
    assert_eq!(
        value_of(&d, "cleanup.policy"),
        ("compact".into(), SOURCE_TOPIC)
    );
    assert_eq!(
        value_of(&d, "segment.bytes").1,
        SOURCE_DEFAULT,
        "unnamed keys revert"
    );
    let mut bad = alter_configs_request::AlterConfigsResource::default();
    bad.resource_type = 2;
    bad.resource_name = StrBytes::from_static_str("cfg");
    let mut c = alter_configs_request::AlterableConfig::default();
    c.name = StrBytes::from_static_str("no.such.config");
    c.value = Some(StrBytes::from_static_str("1"));
    bad.configs = vec![c];
    let r = configs::alter_configs(
        &b,
        &ctx(1),
        AlterConfigsRequest::default().with_resources(vec![bad]),
    )
    .await;
    assert_eq!(
        r.responses[0].error_code,
        ResponseError::InvalidConfig.code(),
        "unknown keys are refused"
    );
    let missing = configs::describe_configs(&b, &ctx(4), describe("nope")).await;
    assert_eq!(
        missing.results[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

#[tokio::test]
async fn partitions_grow_records_delete_and_topics_go_away() {
    let (b, _d) = broker().await;
    create_topics(&b, &ctx(7), create("grow", 1, &[])).await;
    let mut t = create_partitions_request::CreatePartitionsTopic::default();
    t.name = TopicName(StrBytes::from_static_str("grow"));
    t.count = 4;
    let r = create_partitions(
        &b,
        &ctx(3),
        CreatePartitionsRequest::default().with_topics(vec![t.clone()]),
    )
    .await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(b.topic("grow").unwrap().partition_count(), 4);
    let r = create_partitions(
        &b,
        &ctx(3),
        CreatePartitionsRequest::default().with_topics(vec![t]),
    )
    .await;
    assert_eq!(
        r.results[0].error_code,
        ResponseError::InvalidPartitions.code()
    );

    let mut p = delete_records_request::DeleteRecordsPartition::default();
    p.partition_index = 0;
    p.offset = 5;
    let mut dt = delete_records_request::DeleteRecordsTopic::default();
    dt.name = TopicName(StrBytes::from_static_str("grow"));
    dt.partitions = vec![p];
    let r = delete_records(
        &b,
        &ctx(2),
        DeleteRecordsRequest::default().with_topics(vec![dt]),
    )
    .await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code(),
        "beyond the high watermark"
    );

    for v in versions(ApiKey::DeleteTopics) {
        let name = format!("del-{v}");
        create_topics(&b, &ctx(7), create(&name, 1, &[])).await;
        let mut req = DeleteTopicsRequest::default();
        if v >= 6 {
            let mut s = delete_topics_request::DeleteTopicState::default();
            s.name = Some(TopicName(StrBytes::from_string(name.clone())));
            req.topics = vec![s];
        } else {
            req.topic_names = vec![TopicName(StrBytes::from_string(name.clone()))];
        }
        let r = delete_topics(&b, &ctx(v), req.clone()).await;
        assert_eq!(r.responses[0].error_code, 0);
        encode_response(ApiKey::DeleteTopics, v, 1, &ResponseKind::DeleteTopics(r)).unwrap();
        assert!(b.topic(&name).is_none());
        let r = delete_topics(&b, &ctx(v), req).await;
        assert_eq!(
            r.responses[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
        encode_response(ApiKey::DeleteTopics, v, 1, &ResponseKind::DeleteTopics(r)).unwrap();
    }
    for v in versions(ApiKey::DescribeCluster) {
        let r = describe_cluster(&b, &ctx(v), DescribeClusterRequest::default()).await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.brokers.len(), 1);
        encode_response(
            ApiKey::DescribeCluster,
            v,
            1,
            &ResponseKind::DescribeCluster(r),
        )
        .unwrap();
    }
}
