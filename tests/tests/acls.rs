//! ACLs and tenant isolation against a real broker: librdkafka clients are refused and then
//! allowed as ACLs are created and deleted; and a matrix over every API key the broker serves
//! shows that a tenant's principal cannot see or touch another tenant's topics and groups even
//! when the ACLs allow everything.

#![allow(clippy::unwrap_used)] // test helpers fail the test on any error

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use fjord_api::kafka::{AdminClient, ConnectOptions, SaslMechanism};
use fjord_broker::router::SUPPORTED;
use fjord_broker::security::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use fjord_tests::secure::{ADMIN, ALICE, SecureBroker};
use fjord_tests::{STEP_TIMEOUT, consume_exactly, consumer_config, unique_name};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

const AUTHORIZER: (&str, &str) = ("authorizer.class.name", "fjord");

async fn admin_as(b: &SecureBroker, user: &str, password: &str) -> AdminClient {
    AdminClient::connect(&ConnectOptions {
        bootstrap: b.addr("SASL_PLAINTEXT"),
        tls_ca_pem: None,
        sasl: Some((SaslMechanism::ScramSha256, user.into(), password.into())),
    })
    .await
    .unwrap()
}

fn client_as(b: &SecureBroker, user: &str, password: &str) -> ClientConfig {
    let mut c = fjord_tests::client_config(&b.addr("SASL_PLAINTEXT"));
    c.set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", user)
        .set("sasl.password", password);
    c
}

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    principal: &str,
    operation: Operation,
    permission: Permission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission,
    }
}

async fn produce_one(cfg: &ClientConfig, topic: &str) -> Result<(), KafkaError> {
    let producer: FutureProducer = cfg
        .clone()
        .set("message.timeout.ms", "5000")
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::<(), _>::to(topic).payload("hello"),
            Duration::from_secs(5),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

fn topic_names(cfg: &ClientConfig) -> BTreeSet<String> {
    let consumer: BaseConsumer = cfg.create().unwrap();
    let md = consumer.fetch_metadata(None, STEP_TIMEOUT).unwrap();
    md.topics().iter().map(|t| t.name().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn acls_decide_what_librdkafka_clients_may_do() {
    let b = SecureBroker::start(&[AUTHORIZER]).await.unwrap();
    let mut admin = admin_as(&b, ADMIN.0, ADMIN.1).await;
    let topic = unique_name("acl");
    admin
        .create_topic(&topic, 1, 1, &BTreeMap::new())
        .await
        .unwrap();
    let alice = client_as(&b, ALICE.0, ALICE.1);

    // No ACL: alice cannot see the topic nor write to it.
    assert!(!topic_names(&alice).contains(&topic));
    let refused = produce_one(&alice, &topic).await.unwrap_err();
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{refused}"
    );
    // Nor manage ACLs.
    let mut alice_admin = admin_as(&b, ALICE.0, ALICE.1).await;
    let e = alice_admin.list_acls().await.unwrap_err();
    assert_eq!(
        e.response_error(),
        Some(ResponseError::ClusterAuthorizationFailed)
    );

    // WRITE on the topic, READ on it by prefix, READ on every group: produce and consume.
    let prefix = &topic[..4];
    let grants = [
        acl(
            ResourceType::Topic,
            &topic,
            PatternType::Literal,
            "User:alice",
            Operation::Write,
            Permission::Allow,
        ),
        acl(
            ResourceType::Topic,
            prefix,
            PatternType::Prefixed,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        ),
        acl(
            ResourceType::Group,
            "*",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        ),
    ];
    admin.create_acls(&grants).await.unwrap();
    let listed = admin.list_acls().await.unwrap();
    for g in &grants {
        assert!(listed.contains(g), "{g} is listed");
    }
    assert!(
        topic_names(&alice).contains(&topic),
        "READ implies DESCRIBE"
    );
    produce_one(&alice, &topic).await.unwrap();
    let mut cfg = alice.clone();
    for (k, v) in consumer_config("unused", &unique_name("g")).config_map() {
        if k != "bootstrap.servers" {
            cfg.set(k, v);
        }
    }
    let topic2 = topic.clone();
    let got = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = cfg.create().unwrap();
        consumer.subscribe(&[&topic2]).unwrap();
        consume_exactly(&consumer, 1, STEP_TIMEOUT, Duration::from_millis(200))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got[0].value, "hello");

    // A DENY wins over the ALLOW; deleting it restores access.
    let deny = acl(
        ResourceType::Topic,
        &topic,
        PatternType::Literal,
        "User:alice",
        Operation::Write,
        Permission::Deny,
    );
    admin
        .create_acls(std::slice::from_ref(&deny))
        .await
        .unwrap();
    let refused = produce_one(&alice, &topic).await.unwrap_err();
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    assert_eq!(admin.delete_acl(&deny).await.unwrap(), 1);
    assert_eq!(admin.delete_acl(&deny).await.unwrap(), 0, "already gone");
    produce_one(&alice, &topic).await.unwrap();

    // Invalid bindings are refused with the reason.
    let mut bad = grants[0].clone();
    bad.principal = "alice".into();
    let e = admin.create_acls(&[bad]).await.unwrap_err();
    assert_eq!(e.response_error(), Some(ResponseError::InvalidRequest));
    assert!(e.to_string().contains("User:name"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_authorizer_acl_requests_say_security_disabled() {
    let b = SecureBroker::start(&[]).await.unwrap();
    let mut admin = admin_as(&b, ADMIN.0, ADMIN.1).await;
    let e = admin.list_acls().await.unwrap_err();
    assert_eq!(e.response_error(), Some(ResponseError::SecurityDisabled));
    assert!(e.to_string().contains("authorizer.class.name"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Tenant isolation over every API key.

const ACME: (&str, &str) = ("acme.alice", "acme-secret");
const GLOBEX: (&str, &str) = ("globex.bob", "globex-secret");
const THEIR_TOPIC: &str = "globex.orders";
const THEIR_GROUP: &str = "globex.readers";

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn topic(name: &str) -> TopicName {
    TopicName(s(name))
}

fn batch() -> Bytes {
    fjord_tests::wire::one_record_batch(b"intruder").unwrap()
}

/// Whether `code` is one of the authorization failures.
fn denied(code: i16) -> bool {
    [
        ResponseError::TopicAuthorizationFailed,
        ResponseError::GroupAuthorizationFailed,
        ResponseError::ClusterAuthorizationFailed,
        ResponseError::TransactionalIdAuthorizationFailed,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// acme.alice tries `key` against globex's resources; the answer must refuse or hide them.
async fn attack(acme: &mut AdminClient, key: ApiKey, their_topic_id: uuid::Uuid) {
    let who = format!("{key:?}");
    match key {
        // Served before authentication; they name no resource.
        ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => {}
        ApiKey::Metadata => {
            let all = acme
                .request(&MetadataRequest::default().with_topics(None))
                .await
                .unwrap();
            assert!(
                all.topics
                    .iter()
                    .all(|t| t.name.as_ref().is_none_or(|n| !n.starts_with("globex."))),
                "{who}: listing shows no globex topic"
            );
            let named = acme
                .request(&MetadataRequest::default().with_topics(Some(vec![
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(topic(THEIR_TOPIC))),
                ])))
                .await
                .unwrap();
            assert!(denied(named.topics[0].error_code), "{who} by name");
        }
        ApiKey::Produce => {
            let r = acme
                .request(
                    &ProduceRequest::default()
                        .with_acks(-1)
                        .with_timeout_ms(5000)
                        .with_topic_data(vec![
                            produce_request::TopicProduceData::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_partition_data(vec![
                                    produce_request::PartitionProduceData::default()
                                        .with_index(0)
                                        .with_records(Some(batch())),
                                ]),
                        ]),
                )
                .await
                .unwrap();
            assert!(
                denied(r.responses[0].partition_responses[0].error_code),
                "{who}"
            );
        }
        ApiKey::Fetch => {
            // Fetch v13+ addresses topics by id: ask by the id acme cannot legitimately know
            // but might guess; the admin client picks the newest version.
            let r = acme
                .request(
                    &FetchRequest::default()
                        .with_max_wait_ms(0)
                        .with_replica_id(BrokerId(-1))
                        .with_topics(vec![
                            fetch_request::FetchTopic::default()
                                .with_topic(topic(THEIR_TOPIC))
                                .with_topic_id(their_topic_id)
                                .with_partitions(vec![
                                    fetch_request::FetchPartition::default()
                                        .with_partition(0)
                                        .with_partition_max_bytes(1 << 20),
                                ]),
                        ]),
                )
                .await
                .unwrap();
            let p = &r.responses[0].partitions[0];
            assert!(denied(p.error_code), "{who}: code {}", p.error_code);
            assert!(
                p.records.as_ref().is_none_or(|r| r.is_empty()),
                "{who}: no bytes"
            );
        }
        ApiKey::ListOffsets => {
            let r = acme
                .request(
                    &ListOffsetsRequest::default()
                        .with_replica_id(BrokerId(-1))
                        .with_topics(vec![
                            list_offsets_request::ListOffsetsTopic::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_partitions(vec![
                                    list_offsets_request::ListOffsetsPartition::default()
                                        .with_partition_index(0)
                                        .with_timestamp(-1),
                                ]),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.topics[0].partitions[0].error_code), "{who}");
        }
        ApiKey::OffsetCommit => {
            let commit = |group: &str, t: &str| {
                OffsetCommitRequest::default()
                    .with_group_id(GroupId(s(group)))
                    .with_generation_id_or_member_epoch(-1)
                    .with_topics(vec![
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(topic(t))
                            .with_partitions(vec![
                                offset_commit_request::OffsetCommitRequestPartition::default()
                                    .with_partition_index(0)
                                    .with_committed_offset(0),
                            ]),
                    ])
            };
            let r = acme
                .request(&commit(THEIR_GROUP, "acme.orders"))
                .await
                .unwrap();
            assert!(
                denied(r.topics[0].partitions[0].error_code),
                "{who} their group"
            );
            let r = acme
                .request(&commit("acme.readers", THEIR_TOPIC))
                .await
                .unwrap();
            assert!(
                denied(r.topics[0].partitions[0].error_code),
                "{who} their topic"
            );
        }
        ApiKey::OffsetFetch => {
            let r = acme
                .request(&OffsetFetchRequest::default().with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s(THEIR_GROUP)))
                        .with_topics(None),
                ]))
                .await
                .unwrap();
            assert!(denied(r.groups[0].error_code), "{who}");
            assert!(r.groups[0].topics.is_empty(), "{who}: no offsets leak");
        }
        ApiKey::FindCoordinator => {
            let r = acme
                .request(
                    &FindCoordinatorRequest::default()
                        .with_key_type(0)
                        .with_coordinator_keys(vec![s(THEIR_GROUP)]),
                )
                .await
                .unwrap();
            assert!(denied(r.coordinators[0].error_code), "{who}");
        }
        ApiKey::JoinGroup => {
            let r = acme
                .request(
                    &JoinGroupRequest::default()
                        .with_group_id(GroupId(s(THEIR_GROUP)))
                        .with_session_timeout_ms(10_000)
                        .with_rebalance_timeout_ms(10_000)
                        .with_protocol_type(s("consumer"))
                        .with_protocols(vec![
                            join_group_request::JoinGroupRequestProtocol::default()
                                .with_name(s("range")),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::SyncGroup => {
            let r = acme
                .request(
                    &SyncGroupRequest::default()
                        .with_group_id(GroupId(s(THEIR_GROUP)))
                        .with_member_id(s("m"))
                        .with_generation_id(1),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::Heartbeat => {
            let r = acme
                .request(
                    &HeartbeatRequest::default()
                        .with_group_id(GroupId(s(THEIR_GROUP)))
                        .with_member_id(s("m"))
                        .with_generation_id(1),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::LeaveGroup => {
            let r = acme
                .request(
                    &LeaveGroupRequest::default()
                        .with_group_id(GroupId(s(THEIR_GROUP)))
                        .with_members(vec![
                            leave_group_request::MemberIdentity::default().with_member_id(s("m")),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::DescribeGroups => {
            let r = acme
                .request(
                    &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(THEIR_GROUP))]),
                )
                .await
                .unwrap();
            assert!(denied(r.groups[0].error_code), "{who}");
            assert!(r.groups[0].members.is_empty(), "{who}: no members leak");
        }
        ApiKey::ListGroups => {
            let r = acme.request(&ListGroupsRequest::default()).await.unwrap();
            assert!(
                r.groups.iter().all(|g| !g.group_id.starts_with("globex.")),
                "{who}: {:?}",
                r.groups
            );
        }
        ApiKey::DeleteGroups => {
            let r = acme
                .request(
                    &DeleteGroupsRequest::default()
                        .with_groups_names(vec![GroupId(s(THEIR_GROUP))]),
                )
                .await
                .unwrap();
            assert!(denied(r.results[0].error_code), "{who}");
        }
        ApiKey::OffsetDelete => {
            let r = acme
                .request(
                    &OffsetDeleteRequest::default()
                        .with_group_id(GroupId(s(THEIR_GROUP)))
                        .with_topics(vec![
                            offset_delete_request::OffsetDeleteRequestTopic::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_partitions(vec![
                                    offset_delete_request::OffsetDeleteRequestPartition::default()
                                        .with_partition_index(0),
                                ]),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::CreateTopics => {
            let create = |name: &str| {
                CreateTopicsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topics(vec![
                        create_topics_request::CreatableTopic::default()
                            .with_name(topic(name))
                            .with_num_partitions(1)
                            .with_replication_factor(1),
                    ])
            };
            let r = acme.request(&create("globex.planted")).await.unwrap();
            assert!(denied(r.topics[0].error_code), "{who}");
            let r = acme.request(&create("unprefixed")).await.unwrap();
            assert!(denied(r.topics[0].error_code), "{who}: outside any tenant");
        }
        ApiKey::DeleteTopics => {
            let r = acme
                .request(
                    &DeleteTopicsRequest::default()
                        .with_timeout_ms(5000)
                        .with_topics(vec![
                            delete_topics_request::DeleteTopicState::default()
                                .with_name(Some(topic(THEIR_TOPIC))),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.responses[0].error_code), "{who}");
        }
        ApiKey::CreatePartitions => {
            let r = acme
                .request(
                    &CreatePartitionsRequest::default()
                        .with_timeout_ms(5000)
                        .with_topics(vec![
                            create_partitions_request::CreatePartitionsTopic::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_count(5),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.results[0].error_code), "{who}");
        }
        ApiKey::DeleteRecords => {
            let r = acme
                .request(
                    &DeleteRecordsRequest::default()
                        .with_timeout_ms(5000)
                        .with_topics(vec![
                            delete_records_request::DeleteRecordsTopic::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_partitions(vec![
                                    delete_records_request::DeleteRecordsPartition::default()
                                        .with_partition_index(0)
                                        .with_offset(-1),
                                ]),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.topics[0].partitions[0].error_code), "{who}");
        }
        ApiKey::DescribeConfigs => {
            let r = acme
                .request(&DescribeConfigsRequest::default().with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(THEIR_TOPIC)),
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(s("1")),
                ]))
                .await
                .unwrap();
            assert!(denied(r.results[0].error_code), "{who} topic");
            assert!(r.results[0].configs.is_empty(), "{who}: no configs leak");
            assert!(denied(r.results[1].error_code), "{who} broker (shared)");
        }
        ApiKey::AlterConfigs => {
            let r = acme
                .request(&AlterConfigsRequest::default().with_resources(vec![
                    alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(THEIR_TOPIC))
                        .with_configs(vec![
                            alter_configs_request::AlterableConfig::default()
                                .with_name(s("retention.ms"))
                                .with_value(Some(s("1"))),
                        ]),
                ]))
                .await
                .unwrap();
            assert!(denied(r.responses[0].error_code), "{who}");
        }
        ApiKey::IncrementalAlterConfigs => {
            let r = acme
                .request(
                    &IncrementalAlterConfigsRequest::default().with_resources(vec![
                        incremental_alter_configs_request::AlterConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(s(THEIR_TOPIC))
                            .with_configs(vec![
                                incremental_alter_configs_request::AlterableConfig::default()
                                    .with_name(s("retention.ms"))
                                    .with_config_operation(0)
                                    .with_value(Some(s("1"))),
                            ]),
                    ]),
                )
                .await
                .unwrap();
            assert!(denied(r.responses[0].error_code), "{who}");
        }
        ApiKey::InitProducerId => {
            // Idempotent ids are not a tenant resource; transactional ids are.
            let r = acme
                .request(
                    &InitProducerIdRequest::default()
                        .with_transactional_id(Some(TransactionalId(s("globex.txn"))))
                        .with_transaction_timeout_ms(10_000),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::DescribeCluster => {
            // The shared cluster is describable (with DESCRIBE on it); it names no tenant.
            let r = acme
                .request(&DescribeClusterRequest::default())
                .await
                .unwrap();
            assert_eq!(r.error_code, 0, "{who}");
        }
        ApiKey::DescribeUserScramCredentials => {
            let r = acme
                .request(&DescribeUserScramCredentialsRequest::default().with_users(None))
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::AlterUserScramCredentials => {
            let r = acme
                .request(
                    &AlterUserScramCredentialsRequest::default().with_deletions(vec![
                        alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                            .with_name(s(GLOBEX.0))
                            .with_mechanism(1),
                    ]),
                )
                .await
                .unwrap();
            assert!(denied(r.results[0].error_code), "{who}");
        }
        ApiKey::DescribeAcls => {
            let r = acme
                .request(
                    &DescribeAclsRequest::default()
                        .with_resource_name_filter(None)
                        .with_principal_filter(None)
                        .with_host_filter(None)
                        .with_resource_type_filter(1)
                        .with_pattern_type_filter(1)
                        .with_operation(1)
                        .with_permission_type(1),
                )
                .await
                .unwrap();
            assert_eq!(r.error_code, 0, "{who}");
            assert_eq!(r.resources.len(), 1, "{who}: acme's own binding only");
            assert!(
                r.resources
                    .iter()
                    .all(|res| res.resource_name.starts_with("acme.")),
                "{who}: only acme's own bindings: {:?}",
                r.resources
            );
        }
        ApiKey::CreateAcls => {
            let r = acme
                .request(&CreateAclsRequest::default().with_creations(vec![
                    create_acls_request::AclCreation::default()
                        .with_resource_type(2)
                        .with_resource_name(s(THEIR_TOPIC))
                        .with_resource_pattern_type(3)
                        .with_principal(s("User:acme.alice"))
                        .with_host(s("*"))
                        .with_operation(2)
                        .with_permission_type(3),
                ]))
                .await
                .unwrap();
            assert!(denied(r.results[0].error_code), "{who}");
        }
        ApiKey::DeleteAcls => {
            let r = acme
                .request(&DeleteAclsRequest::default().with_filters(vec![
                    delete_acls_request::DeleteAclsFilter::default()
                        .with_resource_name_filter(None)
                        .with_principal_filter(None)
                        .with_host_filter(None)
                        .with_resource_type_filter(1)
                        .with_pattern_type_filter(1)
                        .with_operation(1)
                        .with_permission_type(1),
                ]))
                .await
                .unwrap();
            assert!(denied(r.filter_results[0].error_code), "{who}");
        }
        ApiKey::DescribeClientQuotas => {
            let r = acme
                .request(&DescribeClientQuotasRequest::default())
                .await
                .unwrap();
            assert!(
                denied(r.error_code),
                "{who}: quotas name other tenants' users"
            );
            assert!(r.entries.as_ref().is_none_or(|e| e.is_empty()), "{who}");
        }
        ApiKey::AlterClientQuotas => {
            let r = acme
                .request(&AlterClientQuotasRequest::default().with_entries(vec![
                    alter_client_quotas_request::EntryData::default()
                        .with_entity(vec![
                            alter_client_quotas_request::EntityData::default()
                                .with_entity_type(s("user"))
                                .with_entity_name(Some(s(GLOBEX.0))),
                        ])
                        .with_ops(vec![
                            alter_client_quotas_request::OpData::default()
                                .with_key(s("producer_byte_rate"))
                                .with_value(1.0),
                        ]),
                ]))
                .await
                .unwrap();
            assert!(denied(r.entries[0].error_code), "{who}: throttle a rival");
        }
        ApiKey::OffsetForLeaderEpoch => {
            // As a consumer (KIP-320) and posing as a replica.
            for replica in [-1, 1] {
                let r = acme
                    .request(
                        &OffsetForLeaderEpochRequest::default()
                            .with_replica_id(BrokerId(replica))
                            .with_topics(vec![
                                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                                    .with_topic(topic(THEIR_TOPIC))
                                    .with_partitions(vec![
                                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                            .with_partition(0)
                                            .with_current_leader_epoch(-1)
                                            .with_leader_epoch(0),
                                    ]),
                            ]),
                    )
                    .await
                    .unwrap();
                let p = &r.topics[0].partitions[0];
                assert!(denied(p.error_code), "{who} as replica {replica}");
                assert_eq!(p.end_offset, -1, "{who}: no offsets leak");
            }
        }
        ApiKey::ElectLeaders => {
            let r = acme
                .request(
                    &ElectLeadersRequest::default()
                        .with_election_type(0)
                        .with_timeout_ms(5000)
                        .with_topic_partitions(Some(vec![
                            elect_leaders_request::TopicPartitions::default()
                                .with_topic(topic(THEIR_TOPIC))
                                .with_partitions(vec![0]),
                        ])),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::AlterPartitionReassignments => {
            let r = acme
                .request(
                    &AlterPartitionReassignmentsRequest::default()
                        .with_timeout_ms(5000)
                        .with_topics(vec![
                            alter_partition_reassignments_request::ReassignableTopic::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_partitions(vec![
                                    alter_partition_reassignments_request::ReassignablePartition::default()
                                        .with_partition_index(0)
                                        .with_replicas(Some(vec![BrokerId(1)])),
                                ]),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::ListPartitionReassignments => {
            let r = acme
                .request(&ListPartitionReassignmentsRequest::default().with_timeout_ms(5000))
                .await
                .unwrap();
            assert!(
                denied(r.error_code),
                "{who}: reassignments name other tenants' topics"
            );
            assert!(r.topics.is_empty(), "{who}");
        }
        ApiKey::AddPartitionsToTxn => {
            let r = acme
                .request(
                    &AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(TransactionalId(s("globex.txn")))
                        .with_v3_and_below_topics(vec![
                            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_partitions(vec![0]),
                        ]),
                )
                .await
                .unwrap();
            let code =
                r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
            assert!(denied(code), "{who}");
        }
        ApiKey::AddOffsetsToTxn => {
            let r = acme
                .request(
                    &AddOffsetsToTxnRequest::default()
                        .with_transactional_id(TransactionalId(s("globex.txn")))
                        .with_group_id(GroupId(s(THEIR_GROUP))),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::EndTxn => {
            let r = acme
                .request(
                    &EndTxnRequest::default()
                        .with_transactional_id(TransactionalId(s("globex.txn")))
                        .with_committed(true),
                )
                .await
                .unwrap();
            assert!(denied(r.error_code), "{who}");
        }
        ApiKey::TxnOffsetCommit => {
            let r = acme
                .request(
                    &TxnOffsetCommitRequest::default()
                        .with_transactional_id(TransactionalId(s("globex.txn")))
                        .with_group_id(GroupId(s(THEIR_GROUP)))
                        .with_topics(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_partitions(vec![
                                    txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                        .with_partition_index(0)
                                        .with_committed_offset(1),
                                ]),
                        ]),
                )
                .await
                .unwrap();
            assert!(denied(r.topics[0].partitions[0].error_code), "{who}");
        }
        ApiKey::WriteTxnMarkers => {
            // Only brokers (CLUSTER_ACTION) write markers.
            let r = acme
                .request(&WriteTxnMarkersRequest::default().with_markers(vec![
                    write_txn_markers_request::WritableTxnMarker::default()
                        .with_producer_id(ProducerId(1))
                        .with_transaction_result(true)
                        .with_topics(vec![
                            write_txn_markers_request::WritableTxnMarkerTopic::default()
                                .with_name(topic(THEIR_TOPIC))
                                .with_partition_indexes(vec![0]),
                        ]),
                ]))
                .await
                .unwrap();
            assert!(
                denied(r.markers[0].topics[0].partitions[0].error_code),
                "{who}"
            );
        }
        ApiKey::DescribeTransactions => {
            let r = acme
                .request(
                    &DescribeTransactionsRequest::default()
                        .with_transactional_ids(vec![TransactionalId(s("globex.txn"))]),
                )
                .await
                .unwrap();
            assert!(denied(r.transaction_states[0].error_code), "{who}");
        }
        ApiKey::ListTransactions => {
            let r = acme
                .request(&ListTransactionsRequest::default())
                .await
                .unwrap();
            assert_eq!(r.error_code, 0, "{who}");
            assert!(
                r.transaction_states
                    .iter()
                    .all(|t| !t.transactional_id.starts_with("globex.")),
                "{who}: another tenant's transactional ids listed"
            );
        }
        ApiKey::ConsumerGroupHeartbeat => {
            let join = |group: &str, member: &str| {
                ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(GroupId(s(group)))
                    .with_member_id(s(member))
                    .with_member_epoch(0)
                    .with_rebalance_timeout_ms(30_000)
                    .with_subscribed_topic_names(Some(vec![topic(THEIR_TOPIC)]))
                    .with_topic_partitions(Some(vec![]))
            };
            let r = acme.request(&join(THEIR_GROUP, "intruder")).await.unwrap();
            assert!(denied(r.error_code), "{who}: joined their group");
            // In its own group, a subscription to their topic assigns nothing.
            let own = unique_name("acme.kip848");
            let r = acme.request(&join(&own, "intruder")).await.unwrap();
            assert_eq!(r.error_code, 0, "{who}: {:?}", r.error_message);
            assert!(
                r.assignment
                    .as_ref()
                    .is_some_and(|a| a.topic_partitions.is_empty()),
                "{who}: their topic was assigned: {:?}",
                r.assignment
            );
            let leave = join(&own, "intruder").with_member_epoch(-1);
            let r = acme.request(&leave).await.unwrap();
            assert_eq!(r.error_code, 0, "{who}");
        }
        ApiKey::ConsumerGroupDescribe => {
            let r = acme
                .request(
                    &ConsumerGroupDescribeRequest::default()
                        .with_group_ids(vec![GroupId(s(THEIR_GROUP))]),
                )
                .await
                .unwrap();
            assert!(denied(r.groups[0].error_code), "{who}");
            assert!(r.groups[0].members.is_empty(), "{who}: no members leak");
        }
        other => {
            panic!("{other:?} is served but has no tenant-isolation case here: add one to `attack`")
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_tenant_never_sees_or_touches_another_tenants_resources() {
    let users = format!(
        "{}:{},{}:{},{}:{}",
        ADMIN.0, ADMIN.1, ACME.0, ACME.1, GLOBEX.0, GLOBEX.1
    );
    let b = SecureBroker::start(&[
        AUTHORIZER,
        ("fjord.tenant.isolation", "true"),
        ("fjord.bootstrap.users", &users),
    ])
    .await
    .unwrap();
    // ACLs allow every principal everything: only tenant isolation stands in the way.
    let mut admin = admin_as(&b, ADMIN.0, ADMIN.1).await;
    let everything: Vec<AclBinding> = [
        ResourceType::Topic,
        ResourceType::Group,
        ResourceType::TransactionalId,
    ]
    .into_iter()
    .map(|rt| {
        acl(
            rt,
            "*",
            PatternType::Literal,
            "User:*",
            Operation::All,
            Permission::Allow,
        )
    })
    .chain([acl(
        ResourceType::Cluster,
        "kafka-cluster",
        PatternType::Literal,
        "User:*",
        Operation::All,
        Permission::Allow,
    )])
    .collect();
    admin.create_acls(&everything).await.unwrap();
    let acme_own = acl(
        ResourceType::Topic,
        "acme.",
        PatternType::Prefixed,
        "User:acme.alice",
        Operation::Read,
        Permission::Allow,
    );
    let globex_own = acl(
        ResourceType::Topic,
        "globex.",
        PatternType::Prefixed,
        "User:globex.bob",
        Operation::Read,
        Permission::Allow,
    );
    admin.create_acls(&[acme_own, globex_own]).await.unwrap();

    // globex has a topic with a record, a group with a committed offset.
    let mut globex = admin_as(&b, GLOBEX.0, GLOBEX.1).await;
    let created = globex
        .create_topic(THEIR_TOPIC, 1, 1, &BTreeMap::new())
        .await
        .unwrap();
    let their_topic_id: uuid::Uuid = created.topic_id.parse().unwrap();
    let mut acme = admin_as(&b, ACME.0, ACME.1).await;
    acme.create_topic("acme.orders", 1, 1, &BTreeMap::new())
        .await
        .unwrap();
    let produced = globex
        .request(
            &ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![
                    produce_request::TopicProduceData::default()
                        .with_name(topic(THEIR_TOPIC))
                        .with_partition_data(vec![
                            produce_request::PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(batch())),
                        ]),
                ]),
        )
        .await
        .unwrap();
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let committed = globex
        .request(
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(s(THEIR_GROUP)))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic(THEIR_TOPIC))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                        ]),
                ]),
        )
        .await
        .unwrap();
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);

    for api in SUPPORTED {
        attack(&mut acme, api.key, their_topic_id).await;
    }

    // globex's things are intact and still visible to globex.
    let md = globex
        .request(&MetadataRequest::default().with_topics(None))
        .await
        .unwrap();
    let theirs = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == THEIR_TOPIC))
        .expect("globex still sees its topic");
    assert_eq!(theirs.partitions.len(), 1, "no partitions were added");
    assert!(
        md.topics
            .iter()
            .all(|t| t.name.as_ref().is_none_or(|n| !n.starts_with("acme."))),
        "and never acme's"
    );
    let offsets = globex
        .request(
            &ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    list_offsets_request::ListOffsetsTopic::default()
                        .with_name(topic(THEIR_TOPIC))
                        .with_partitions(vec![
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_partition_index(0)
                                .with_timestamp(-2),
                        ]),
                ]),
        )
        .await
        .unwrap();
    assert_eq!(
        offsets.topics[0].partitions[0].offset, 0,
        "no records deleted"
    );
    let fetched = globex
        .request(&OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(THEIR_GROUP)))
                .with_topics(None),
        ]))
        .await
        .unwrap();
    assert_eq!(
        fetched.groups[0].topics[0].partitions[0].committed_offset,
        1
    );
    let config = globex.describe_topic(THEIR_TOPIC).await.unwrap().unwrap();
    assert!(
        !config.configs.contains_key("retention.ms"),
        "retention untouched: {:?}",
        config.configs
    );
}
