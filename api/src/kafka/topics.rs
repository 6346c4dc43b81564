//! Topic administration: CreateTopics, Metadata + DescribeConfigs, IncrementalAlterConfigs,
//! CreatePartitions and DeleteTopics.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{AdminClient, KafkaError, TopicDescription};

/// DescribeConfigs / IncrementalAlterConfigs resource type of a topic.
const RESOURCE_TOPIC: i8 = 2;
/// DescribeConfigs config source of a topic-level override.
const SOURCE_TOPIC_CONFIG: i8 = 1;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// How long a created topic may take to show up in Metadata.
const VISIBLE_AFTER_CREATE: Duration = Duration::from_secs(5);

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The broker's `timeout_ms` for operations that wait: the client's own timeout.
fn broker_timeout_ms(client: &AdminClient) -> i32 {
    i32::try_from(client.conn.timeout().as_millis()).unwrap_or(i32::MAX)
}

impl AdminClient {
    /// CreateTopics; `configs` are topic-level config overrides.
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: u32,
        replication_factor: u16,
        configs: &BTreeMap<String, String>,
    ) -> Result<TopicDescription, KafkaError> {
        let num_partitions = i32::try_from(partitions).map_err(|_| {
            KafkaError::Protocol(format!("{partitions} partitions is more than Kafka allows"))
        })?;
        let replication_factor = i16::try_from(replication_factor).map_err(|_| {
            KafkaError::Protocol(format!(
                "replication factor {replication_factor} is more than Kafka allows"
            ))
        })?;
        let version = self.conn.version_for::<CreateTopicsRequest>(2..=7)?;
        let mut topic = CreatableTopic::default();
        topic.name = topic_name(name);
        topic.num_partitions = num_partitions;
        topic.replication_factor = replication_factor;
        topic.configs = configs
            .iter()
            .map(|(k, v)| {
                let mut c = CreatableTopicConfig::default();
                c.name = str(k);
                c.value = Some(str(v));
                c
            })
            .collect();
        let mut request = CreateTopicsRequest::default();
        request.topics = vec![topic];
        request.timeout_ms = broker_timeout_ms(self);
        let response = self.conn.send(&request, version).await?;
        let operation = || format!("create topic {name}");
        let result = response
            .topics
            .iter()
            .find(|t| t.name.as_str() == name)
            .ok_or_else(|| {
                KafkaError::Protocol(format!("CreateTopics did not answer for {name}"))
            })?;
        KafkaError::check(operation, result.error_code, result.error_message.as_ref())?;
        tracing::info!(topic = name, partitions, "created topic");
        // Metadata may lag CreateTopics on a multi-broker cluster: look a few times.
        let deadline = tokio::time::Instant::now() + VISIBLE_AFTER_CREATE;
        loop {
            if let Some(description) = self.describe_topic(name).await? {
                return Ok(description);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KafkaError::Protocol(format!(
                    "topic {name} was created but does not appear in Metadata"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Metadata + DescribeConfigs for every topic (internal topics excluded).
    pub async fn list_topics(&mut self) -> Result<Vec<TopicDescription>, KafkaError> {
        let topics: Vec<MetadataResponseTopic> = self
            .metadata(None)
            .await?
            .into_iter()
            .filter(|t| {
                let name = t.name.as_ref().map_or("", |n| n.as_str());
                t.error_code == 0 && !t.is_internal && !name.is_empty() && !name.starts_with("__")
            })
            .collect();
        let names: Vec<String> = topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
            .collect();
        let mut configs = self.topic_configs(&names).await?;
        let mut out: Vec<TopicDescription> = topics
            .into_iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.to_string();
                // A topic deleted between the two requests has no configs: leave it out.
                let c = configs.remove(&name)?;
                Some(description(name, &t, c))
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Metadata + DescribeConfigs for one topic; `Ok(None)` when it does not exist.
    pub async fn describe_topic(
        &mut self,
        name: &str,
    ) -> Result<Option<TopicDescription>, KafkaError> {
        let topics = self.metadata(Some(name)).await?;
        let Some(topic) = topics
            .into_iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == name))
        else {
            return Ok(None);
        };
        if topic.error_code == ResponseError::UnknownTopicOrPartition.code() {
            return Ok(None);
        }
        KafkaError::check(|| format!("describe topic {name}"), topic.error_code, None)?;
        let mut configs = self.topic_configs(&[name.to_string()]).await?;
        Ok(configs
            .remove(name)
            .map(|c| description(name.to_string(), &topic, c)))
    }

    /// IncrementalAlterConfigs: `Some(v)` sets, `None` deletes (back to the default).
    /// No changes sends nothing.
    pub async fn alter_topic_configs(
        &mut self,
        name: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<(), KafkaError> {
        if changes.is_empty() {
            return Ok(());
        }
        let version = self
            .conn
            .version_for::<IncrementalAlterConfigsRequest>(0..=1)?;
        let mut resource = AlterConfigsResource::default();
        resource.resource_type = RESOURCE_TOPIC;
        resource.resource_name = str(name);
        resource.configs = changes
            .iter()
            .map(|(k, v)| {
                let mut c = AlterableConfig::default();
                c.name = str(k);
                c.config_operation = if v.is_some() { OP_SET } else { OP_DELETE };
                c.value = v.as_deref().map(str);
                c
            })
            .collect();
        let mut request = IncrementalAlterConfigsRequest::default();
        request.resources = vec![resource];
        let response = self.conn.send(&request, version).await?;
        let result = response
            .responses
            .iter()
            .find(|r| r.resource_name.as_str() == name)
            .ok_or_else(|| {
                KafkaError::Protocol(format!("IncrementalAlterConfigs did not answer for {name}"))
            })?;
        KafkaError::check(
            || format!("alter configs of topic {name}"),
            result.error_code,
            result.error_message.as_ref(),
        )?;
        tracing::info!(
            topic = name,
            changes = changes.len(),
            "altered topic configs"
        );
        Ok(())
    }

    /// CreatePartitions up to `total` partitions.
    pub async fn create_partitions(&mut self, name: &str, total: u32) -> Result<(), KafkaError> {
        let count = i32::try_from(total).map_err(|_| {
            KafkaError::Protocol(format!("{total} partitions is more than Kafka allows"))
        })?;
        let version = self.conn.version_for::<CreatePartitionsRequest>(0..=3)?;
        let mut topic = CreatePartitionsTopic::default();
        topic.name = topic_name(name);
        topic.count = count;
        let mut request = CreatePartitionsRequest::default();
        request.topics = vec![topic];
        request.timeout_ms = broker_timeout_ms(self);
        let response = self.conn.send(&request, version).await?;
        let result = response
            .results
            .iter()
            .find(|r| r.name.as_str() == name)
            .ok_or_else(|| {
                KafkaError::Protocol(format!("CreatePartitions did not answer for {name}"))
            })?;
        KafkaError::check(
            || format!("add partitions to topic {name}"),
            result.error_code,
            result.error_message.as_ref(),
        )?;
        tracing::info!(topic = name, total, "added partitions");
        Ok(())
    }

    /// DeleteTopics.
    pub async fn delete_topic(&mut self, name: &str) -> Result<(), KafkaError> {
        let version = self.conn.version_for::<DeleteTopicsRequest>(1..=6)?;
        let mut request = DeleteTopicsRequest::default();
        if version >= 6 {
            let mut state = DeleteTopicState::default();
            state.name = Some(topic_name(name));
            request.topics = vec![state];
        } else {
            request.topic_names = vec![topic_name(name)];
        }
        request.timeout_ms = broker_timeout_ms(self);
        let response = self.conn.send(&request, version).await?;
        let result = response
            .responses
            .iter()
            .find(|r| r.name.as_ref().is_some_and(|n| n.as_str() == name))
            .ok_or_else(|| {
                KafkaError::Protocol(format!("DeleteTopics did not answer for {name}"))
            })?;
        KafkaError::check(
            || format!("delete topic {name}"),
            result.error_code,
            result.error_message.as_ref(),
        )?;
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Metadata for one topic or (None) every topic, never creating any.
    async fn metadata(
        &mut self,
        name: Option<&str>,
    ) -> Result<Vec<MetadataResponseTopic>, KafkaError> {
        let version = self.conn.version_for::<MetadataRequest>(4..=13)?;
        let mut request = MetadataRequest::default();
        request.topics = name.map(|n| {
            let mut t = MetadataRequestTopic::default();
            t.name = Some(topic_name(n));
            vec![t]
        });
        request.allow_auto_topic_creation = false;
        let response = self.conn.send(&request, version).await?;
        KafkaError::check(|| "Metadata".to_string(), response.error_code, None)?;
        Ok(response.topics)
    }

    /// Topic-level overrides of each of `names`, by topic; topics the broker no longer knows
    /// are missing from the map.
    async fn topic_configs(
        &mut self,
        names: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, KafkaError> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let version = self.conn.version_for::<DescribeConfigsRequest>(1..=4)?;
        let mut request = DescribeConfigsRequest::default();
        request.resources = names
            .iter()
            .map(|n| {
                let mut r = DescribeConfigsResource::default();
                r.resource_type = RESOURCE_TOPIC;
                r.resource_name = str(n);
                r.configuration_keys = None;
                r
            })
            .collect();
        let response = self.conn.send(&request, version).await?;
        let mut out = BTreeMap::new();
        for result in response.results {
            let name = result.resource_name.to_string();
            if result.error_code == ResponseError::UnknownTopicOrPartition.code() {
                continue;
            }
            KafkaError::check(
                || format!("describe configs of topic {name}"),
                result.error_code,
                result.error_message.as_ref(),
            )?;
            let configs = result
                .configs
                .into_iter()
                .filter(|c| c.config_source == SOURCE_TOPIC_CONFIG && !c.is_sensitive)
                .filter_map(|c| Some((c.name.to_string(), c.value?.to_string())))
                .collect();
            out.insert(name, configs);
        }
        Ok(out)
    }
}

fn description(
    name: String,
    topic: &MetadataResponseTopic,
    configs: BTreeMap<String, String>,
) -> TopicDescription {
    let replication_factor = topic
        .partitions
        .iter()
        .map(|p| p.replica_nodes.len())
        .max()
        .unwrap_or(0);
    TopicDescription {
        name,
        topic_id: if topic.topic_id.is_nil() {
            String::new()
        } else {
            topic.topic_id.to_string()
        },
        partitions: u32::try_from(topic.partitions.len()).unwrap_or(u32::MAX),
        replication_factor: u16::try_from(replication_factor).unwrap_or(u16::MAX),
        configs,
    }
}
