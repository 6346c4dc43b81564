//! Config handler tests: types, sources, synonyms, incremental operations, every version.

use super::*;
use crate::handlers::admin::request_tests::{broker, broker_with, create_ok, ctx};
use crate::handlers::test_support::{encodes, versions};

fn config(pairs: &[(&str, &str)]) -> BrokerConfig {
    BrokerConfig::from_map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .expect("valid config")
}

fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn synonym(name: &'static str, value: &str, source: i8) -> ConfigSynonym {
    ConfigSynonym {
        name,
        value: value.to_string(),
        source,
    }
}

#[test]
fn every_key_has_a_kafka_type_its_default_parses_as() {
    let names = TOPIC_KEYS
        .iter()
        .map(|k| (k.name, String::new()))
        .chain(BROKER_KEYS.iter().map(|k| (k.name, k.default.to_string())));
    for (name, default) in names {
        let ty = config_type(name);
        assert_ne!(ty, TYPE_UNKNOWN, "{name} has no type");
        if default.is_empty() {
            continue;
        }
        let parses = match ty {
            TYPE_BOOLEAN => default.parse::<bool>().is_ok(),
            TYPE_INT => default.parse::<i32>().is_ok(),
            TYPE_LONG => default.parse::<i64>().is_ok(),
            _ => true,
        };
        assert!(parses, "{name}={default} is not a valid type {ty}");
    }
    assert_eq!(config_type("cleanup.policy"), TYPE_LIST);
    assert_eq!(config_type("retention.ms"), TYPE_LONG);
    assert_eq!(config_type("segment.bytes"), TYPE_INT);
}

#[test]
fn every_topic_key_is_documented() {
    for k in TOPIC_KEYS {
        assert!(topic_doc(k.name).is_some(), "{} has no doc", k.name);
    }
}

#[test]
fn topic_values_come_from_override_then_broker_setting_then_default() {
    let cfg = config(&[("log.retention.hours", "1"), ("log.segment.bytes", "4096")]);
    let mut overrides = BTreeMap::new();
    overrides.insert("segment.bytes".to_string(), "8192".to_string());
    let entries = topic_config_entries(&cfg, &overrides);
    assert_eq!(entries.len(), TOPIC_KEYS.len());

    let retention = entry(&entries, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, SOURCE_STATIC_BROKER);
    assert_eq!(
        retention.synonyms,
        vec![
            synonym("log.retention.hours", "1", SOURCE_STATIC_BROKER),
            synonym("log.retention.hours", "168", SOURCE_DEFAULT),
        ]
    );

    let segment = entry(&entries, "segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("8192"));
    assert_eq!(segment.source, SOURCE_TOPIC);
    assert_eq!(
        segment.synonyms,
        vec![
            synonym("segment.bytes", "8192", SOURCE_TOPIC),
            synonym("log.segment.bytes", "4096", SOURCE_STATIC_BROKER),
            synonym("log.segment.bytes", "1073741824", SOURCE_DEFAULT),
        ]
    );

    let policy = entry(&entries, "cleanup.policy");
    assert_eq!(policy.value.as_deref(), Some("delete"));
    assert_eq!(policy.source, SOURCE_DEFAULT);

    let flush = entry(&entries, "flush.ms");
    assert_eq!(flush.value, None, "unset is null, as in Kafka");
    assert_eq!(flush.source, SOURCE_DEFAULT);
    assert!(entries.iter().all(|e| !e.read_only));
}

#[test]
fn broker_entries_are_read_only_and_mark_what_the_operator_set() {
    let cfg = config(&[("num.partitions", "6")]);
    let entries = broker_config_entries(&cfg);
    assert_eq!(entries.len(), BROKER_KEYS.len());
    let partitions = entry(&entries, "num.partitions");
    assert_eq!(partitions.value.as_deref(), Some("6"));
    assert_eq!(partitions.source, SOURCE_STATIC_BROKER);
    let hours = entry(&entries, "log.retention.hours");
    assert_eq!(hours.source, SOURCE_DEFAULT);
    assert_eq!(entry(&entries, "advertised.listeners").value, None);
    assert!(entries.iter().all(|e| e.read_only));
}

fn op<'a>(name: &'a str, op: i8, value: Option<&'a str>) -> ConfigOp<'a> {
    ConfigOp { name, op, value }
}

#[test]
fn incremental_ops_apply_on_top_of_overrides() {
    let cfg = config(&[]);
    let mut current = BTreeMap::new();
    current.insert("retention.ms".to_string(), "1000".to_string());
    let merged = apply_incremental(
        &cfg,
        current.clone(),
        &[
            op("segment.bytes", OP_SET, Some("4096")),
            op("retention.ms", OP_DELETE, None),
            op("cleanup.policy", OP_APPEND, Some("compact")),
        ],
    )
    .expect("valid ops");
    let expected: BTreeMap<String, String> = [
        ("segment.bytes", "4096"),
        ("cleanup.policy", "delete,compact"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(merged, expected, "APPEND starts from the default");
    let merged = apply_incremental(
        &cfg,
        merged,
        &[op("cleanup.policy", OP_SUBTRACT, Some("delete"))],
    )
    .expect("valid ops");
    assert_eq!(merged["cleanup.policy"], "compact");
    let appended_twice = apply_incremental(
        &cfg,
        merged,
        &[op("cleanup.policy", OP_APPEND, Some("compact"))],
    )
    .expect("valid ops");
    assert_eq!(appended_twice["cleanup.policy"], "compact", "no duplicates");

    let refused = |ops: &[ConfigOp<'_>]| {
        apply_incremental(&cfg, current.clone(), ops)
            .expect_err("refused")
            .code
    };
    assert_eq!(
        refused(&[op("retention.ms", OP_APPEND, Some("1"))]),
        ResponseError::InvalidConfig
    );
    assert_eq!(
        refused(&[op("no.such.key", OP_SUBTRACT, Some("1"))]),
        ResponseError::InvalidConfig
    );
    assert_eq!(
        refused(&[op("retention.ms", 9, Some("1"))]),
        ResponseError::InvalidRequest
    );
    assert_eq!(
        refused(&[op("retention.ms", OP_SET, None)]),
        ResponseError::InvalidRequest
    );
    assert_eq!(
        refused(&[
            op("retention.ms", OP_SET, Some("1")),
            op("retention.ms", OP_DELETE, None)
        ]),
        ResponseError::InvalidRequest
    );
}

fn describe(resources: &[(i8, &str)], keys: Option<&[&str]>) -> DescribeConfigsRequest {
    let resources = resources
        .iter()
        .map(|(ty, name)| {
            let mut r = describe_configs_request::DescribeConfigsResource::default();
            r.resource_type = *ty;
            r.resource_name = StrBytes::from_string(name.to_string());
            r.configuration_keys = keys.map(|k| {
                k.iter()
                    .map(|k| StrBytes::from_string(k.to_string()))
                    .collect()
            });
            r
        })
        .collect();
    DescribeConfigsRequest::default().with_resources(resources)
}

fn described<'a>(
    resp: &'a DescribeConfigsResponse,
    resource: usize,
    key: &str,
) -> &'a DescribeConfigsResourceResult {
    let result = &resp.results[resource];
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .unwrap_or_else(|| panic!("{key} missing: {:?}", result.error_message))
}

#[tokio::test]
async fn describe_configs_at_every_version_with_and_without_extras() {
    let (b, _dir) = broker_with(&[("log.retention.hours", "2")]).await;
    create_ok(&b, "cfg", 1, &[("segment.bytes", "4096")]).await;
    let node = b.node_id.to_string();
    for v in versions(ApiKey::DescribeConfigs) {
        for extras in [false, true] {
            let mut req = describe(
                &[
                    (RESOURCE_TOPIC, "cfg"),
                    (RESOURCE_BROKER, &node),
                    (RESOURCE_BROKER, ""),
                    (RESOURCE_TOPIC, "missing"),
                    (RESOURCE_BROKER, "99"),
                    (RESOURCE_BROKER_LOGGER, &node),
                    (3, "group"),
                ],
                None,
            );
            req.include_synonyms = extras;
            req.include_documentation = extras;
            let r = describe_configs(&b, &ctx(v), req).await;
            let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
            assert_eq!(
                codes,
                vec![
                    0,
                    0,
                    0,
                    ResponseError::UnknownTopicOrPartition.code(),
                    ResponseError::InvalidRequest.code(),
                    ResponseError::InvalidRequest.code(),
                    ResponseError::InvalidRequest.code(),
                ]
            );
            assert!(r.results[3..].iter().all(|r| r.error_message.is_some()));
            assert_eq!(r.results[0].configs.len(), TOPIC_KEYS.len());
            assert_eq!(r.results[1].configs.len(), BROKER_KEYS.len());

            let segment = described(&r, 0, "segment.bytes");
            assert_eq!(segment.value.as_deref(), Some("4096"));
            assert_eq!(segment.config_source, SOURCE_TOPIC);
            assert!(!segment.read_only && !segment.is_sensitive);
            let retention = described(&r, 0, "retention.ms");
            assert_eq!(retention.value.as_deref(), Some("7200000"));
            assert_eq!(retention.config_source, SOURCE_STATIC_BROKER);
            assert_eq!(
                described(&r, 0, "cleanup.policy").config_source,
                SOURCE_DEFAULT
            );
            assert_eq!(retention.synonyms.len(), if extras { 2 } else { 0 });
            let hours = described(&r, 1, "log.retention.hours");
            assert_eq!(hours.config_source, SOURCE_STATIC_BROKER);
            assert!(hours.read_only);
            if v >= 3 {
                assert_eq!(segment.config_type, TYPE_INT);
                assert_eq!(segment.documentation.is_some(), extras);
                assert_eq!(
                    described(&r, 1, "listeners").documentation.is_some(),
                    extras
                );
            }
            encodes(ApiKey::DescribeConfigs, v, ResponseKind::DescribeConfigs(r));
        }
        let only = &["retention.ms", "no.such.key"][..];
        let r = describe_configs(
            &b,
            &ctx(v),
            describe(&[(RESOURCE_TOPIC, "cfg")], Some(only)),
        )
        .await;
        let names: Vec<&str> = r.results[0]
            .configs
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, vec!["retention.ms"]);
        encodes(ApiKey::DescribeConfigs, v, ResponseKind::DescribeConfigs(r));
    }
}

/// (resource type, resource name, [(key, value)]).
type AlterSpec<'a> = (i8, &'a str, &'a [(&'a str, Option<&'a str>)]);

fn alter(resources: &[AlterSpec<'_>]) -> AlterConfigsRequest {
    let resources = resources
        .iter()
        .map(|(ty, name, configs)| {
            let mut r = alter_configs_request::AlterConfigsResource::default();
            r.resource_type = *ty;
            r.resource_name = StrBytes::from_string(name.to_string());
            r.configs = configs
                .iter()
                .map(|(k, v)| {
                    let mut c = alter_configs_request::AlterableConfig::default();
                    c.name = StrBytes::from_string(k.to_string());
                    c.value = v.map(|v| StrBytes::from_string(v.to_string()));
                    c
                })
                .collect();
            r
        })
        .collect();
    AlterConfigsRequest::default().with_resources(resources)
}

#[tokio::test]
async fn alter_configs_replaces_the_override_set_at_every_version() {
    let (b, _dir) = broker().await;
    create_ok(&b, "cfg", 1, &[("segment.bytes", "4096")]).await;
    create_ok(&b, "twice", 1, &[]).await;
    let overrides = |name: &str| b.topic(name).expect("topic").configs();
    for v in versions(ApiKey::AlterConfigs) {
        let mut dry = alter(&[(RESOURCE_TOPIC, "cfg", &[("retention.ms", Some("5"))])]);
        dry.validate_only = true;
        let r = alter_configs(&b, &ctx(v), dry).await;
        assert_eq!(r.responses[0].error_code, 0);
        assert_eq!(overrides("cfg")["segment.bytes"], "4096", "validate only");

        let r = alter_configs(
            &b,
            &ctx(v),
            alter(&[
                (
                    RESOURCE_TOPIC,
                    "cfg",
                    &[("cleanup.policy", Some("compact")), ("retention.ms", None)],
                ),
                (RESOURCE_TOPIC, "missing", &[]),
                (RESOURCE_TOPIC, "twice", &[]),
                (RESOURCE_TOPIC, "twice", &[]),
                (RESOURCE_BROKER, "1", &[("num.partitions", Some("3"))]),
                (
                    RESOURCE_TOPIC,
                    "bad-key",
                    &[("a", Some("1")), ("a", Some("2"))],
                ),
            ]),
        )
        .await;
        let codes: Vec<i16> = r.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                ResponseError::UnknownTopicOrPartition.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
            ]
        );
        assert_eq!(r.responses[0].error_message, None);
        let broker_refusal = r.responses[4].error_message.as_deref().expect("message");
        assert!(broker_refusal.contains("--set"), "{broker_refusal}");
        let expected: BTreeMap<String, String> =
            [("cleanup.policy".to_string(), "compact".to_string())].into();
        assert_eq!(
            overrides("cfg"),
            expected,
            "unnamed keys revert to defaults"
        );
        encodes(ApiKey::AlterConfigs, v, ResponseKind::AlterConfigs(r));

        let r = alter_configs(
            &b,
            &ctx(v),
            alter(&[(RESOURCE_TOPIC, "cfg", &[("no.such.config", Some("1"))])]),
        )
        .await;
        assert_eq!(
            r.responses[0].error_code,
            ResponseError::InvalidConfig.code()
        );
        let message = r.responses[0].error_message.as_deref().expect("message");
        assert!(message.contains("no.such.config"), "{message}");
        encodes(ApiKey::AlterConfigs, v, ResponseKind::AlterConfigs(r));
        // Back to the starting point for the next version.
        alter_configs(
            &b,
            &ctx(v),
            alter(&[(RESOURCE_TOPIC, "cfg", &[("segment.bytes", Some("4096"))])]),
        )
        .await;
    }
}

fn incremental(
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> incremental_alter_configs_request::AlterConfigsResource {
    let mut r = incremental_alter_configs_request::AlterConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = StrBytes::from_string(name.to_string());
    r.configs = ops
        .iter()
        .map(|(k, op, v)| {
            let mut c = incremental_alter_configs_request::AlterableConfig::default();
            c.name = StrBytes::from_string(k.to_string());
            c.config_operation = *op;
            c.value = v.map(|v| StrBytes::from_string(v.to_string()));
            c
        })
        .collect();
    r
}

#[tokio::test]
async fn incremental_alter_configs_at_every_version() {
    let (b, _dir) = broker().await;
    for v in versions(ApiKey::IncrementalAlterConfigs) {
        let name = format!("inc-{v}");
        create_ok(&b, &name, 1, &[("retention.ms", "1000")]).await;
        let ops = [
            ("segment.bytes", OP_SET, Some("4096")),
            ("retention.ms", OP_DELETE, None),
            ("cleanup.policy", OP_APPEND, Some("compact")),
        ];
        let mut dry = IncrementalAlterConfigsRequest::default().with_resources(vec![incremental(
            RESOURCE_TOPIC,
            &name,
            &ops,
        )]);
        dry.validate_only = true;
        let r = incremental_alter_configs(&b, &ctx(v), dry).await;
        assert_eq!(r.responses[0].error_code, 0);
        assert_eq!(
            b.topic(&name).expect("topic").configs()["retention.ms"],
            "1000"
        );

        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental(RESOURCE_TOPIC, &name, &ops),
            incremental(RESOURCE_TOPIC, "missing", &[]),
            incremental(
                RESOURCE_BROKER,
                "",
                &[("num.partitions", OP_SET, Some("2"))],
            ),
            incremental(RESOURCE_TOPIC, &name, &[]),
        ]);
        let r = incremental_alter_configs(&b, &ctx(v), req).await;
        let codes: Vec<i16> = r.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                ResponseError::InvalidRequest.code(),
                ResponseError::UnknownTopicOrPartition.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
            ],
            "a resource named twice is refused both times"
        );
        encodes(
            ApiKey::IncrementalAlterConfigs,
            v,
            ResponseKind::IncrementalAlterConfigs(r),
        );

        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![incremental(
            RESOURCE_TOPIC,
            &name,
            &ops,
        )]);
        let r = incremental_alter_configs(&b, &ctx(v), req).await;
        assert_eq!(
            r.responses[0].error_code, 0,
            "{:?}",
            r.responses[0].error_message
        );
        assert_eq!(r.responses[0].error_message, None);
        encodes(
            ApiKey::IncrementalAlterConfigs,
            v,
            ResponseKind::IncrementalAlterConfigs(r),
        );
        let d = describe_configs(&b, &ctx(4), describe(&[(RESOURCE_TOPIC, &name)], None)).await;
        assert_eq!(
            described(&d, 0, "segment.bytes").value.as_deref(),
            Some("4096")
        );
        assert_eq!(
            described(&d, 0, "retention.ms").config_source,
            SOURCE_DEFAULT
        );
        let policy = described(&d, 0, "cleanup.policy");
        assert_eq!(policy.value.as_deref(), Some("delete,compact"));
        assert_eq!(policy.config_source, SOURCE_TOPIC);

        let bad = IncrementalAlterConfigsRequest::default().with_resources(vec![incremental(
            RESOURCE_TOPIC,
            &name,
            &[("segment.bytes", OP_APPEND, Some("1"))],
        )]);
        let r = incremental_alter_configs(&b, &ctx(v), bad).await;
        assert_eq!(
            r.responses[0].error_code,
            ResponseError::InvalidConfig.code()
        );
        encodes(
            ApiKey::IncrementalAlterConfigs,
            v,
            ResponseKind::IncrementalAlterConfigs(r),
        );
    }
}
