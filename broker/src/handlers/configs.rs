//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (broker configs are
//! described read-only), plus the config view CreateTopics v5+ reports.
//!
//! A topic key's value comes from, highest precedence first: the topic's override
//! (`DYNAMIC_TOPIC_CONFIG`), a broker key set in the broker's configuration
//! (`STATIC_BROKER_CONFIG`), or the built-in default (`DEFAULT_CONFIG`). DescribeConfigs
//! reports that chain as the synonyms, as Kafka does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, msg};
use crate::broker::{ApiError, Broker};
use crate::config::{BROKER_KEYS, BrokerConfig, TOPIC_KEYS};
use crate::security::acl::{Operation, ResourceType};

/// `config_source` of DescribeConfigs and CreateTopics v5+: a topic override.
pub(crate) const SOURCE_TOPIC: i8 = 1;
/// `config_source`: a broker key set in the broker's configuration (file, env, `--set`).
pub(crate) const SOURCE_STATIC_BROKER: i8 = 4;
/// `config_source`: the built-in default.
pub(crate) const SOURCE_DEFAULT: i8 = 5;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_BROKER_LOGGER: i8 = 8;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Kafka's `config_type` values (DescribeConfigs v3+).
const TYPE_UNKNOWN: i8 = 0;
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_DOUBLE: i8 = 6;
const TYPE_LIST: i8 = 7;
const TYPE_PASSWORD: i8 = 9;

/// The Kafka type of a topic or broker key (what Kafka declares for the same key).
fn config_type(name: &str) -> i8 {
    match name {
        "auto.create.topics.enable"
        | "fjord.bench.sink"
        | "allow.everyone.if.no.acl.found"
        | "fjord.tenant.isolation"
        | "auto.leader.rebalance.enable"
        | "controlled.shutdown.enable"
        | "fjord.autoscale.partitions"
        | "log.cleaner.enable" => TYPE_BOOLEAN,
        "log.cleaner.min.cleanable.ratio"
        | "min.cleanable.dirty.ratio"
        | "log.cleaner.io.max.bytes.per.second" => TYPE_DOUBLE,
        "cleanup.policy"
        | "log.cleanup.policy"
        | "sasl.enabled.mechanisms"
        | "controller.quorum.voters" => TYPE_LIST,
        "fjord.bootstrap.users" | "fjord.inter.broker.user" => TYPE_PASSWORD,
        "node.id"
        | "log.dirs"
        | "listeners"
        | "advertised.listeners"
        | "cluster.id"
        | "listener.security.protocol.map"
        | "ssl.keystore.type"
        | "ssl.keystore.location"
        | "fjord.http.listener"
        | "authorizer.class.name"
        | "ssl.client.auth"
        | "ssl.truststore.type"
        | "ssl.truststore.location"
        | "ssl.principal.mapping.rules"
        | "sasl.oauthbearer.jwks.endpoint.url"
        | "sasl.oauthbearer.expected.audience"
        | "sasl.oauthbearer.expected.issuer"
        | "sasl.oauthbearer.sub.claim.name"
        | "super.users"
        | "message.timestamp.type"
        | "log.message.timestamp.type"
        | "inter.broker.listener.name"
        | "sasl.mechanism.inter.broker.protocol"
        | "fjord.inter.broker.ssl.ca.location"
        | "broker.rack" => TYPE_STRING,
        "num.partitions"
        | "default.replication.factor"
        | "message.max.bytes"
        | "max.message.bytes"
        | "socket.request.max.bytes"
        | "max.connections"
        | "fjord.max.partitions"
        | "quota.window.num"
        | "quota.window.size.seconds"
        | "log.segment.bytes"
        | "segment.bytes"
        | "log.roll.hours"
        | "log.retention.hours"
        | "log.retention.minutes"
        | "log.index.interval.bytes"
        | "index.interval.bytes"
        | "min.insync.replicas"
        | "group.initial.rebalance.delay.ms"
        | "group.min.session.timeout.ms"
        | "group.max.session.timeout.ms"
        | "group.consumer.session.timeout.ms"
        | "group.consumer.heartbeat.interval.ms"
        | "offsets.topic.num.partitions"
        | "offsets.retention.minutes"
        | "connection.failed.authentication.delay.ms"
        | "sasl.oauthbearer.clock.skew.seconds"
        | "broker.heartbeat.interval.ms"
        | "broker.session.timeout.ms"
        | "replica.fetch.wait.max.ms"
        | "replica.fetch.max.bytes"
        | "replica.fetch.response.max.bytes"
        | "replica.fetch.backoff.ms"
        | "offsets.topic.replication.factor"
        | "transaction.state.log.num.partitions"
        | "transaction.state.log.replication.factor"
        | "transaction.max.timeout.ms" => TYPE_INT,
        "log.roll.ms"
        | "transactional.id.expiration.ms"
        | "log.cleaner.backoff.ms"
        | "log.cleaner.dedupe.buffer.size"
        | "log.cleaner.min.compaction.lag.ms"
        | "min.compaction.lag.ms"
        | "log.cleaner.max.compaction.lag.ms"
        | "max.compaction.lag.ms"
        | "log.cleaner.delete.retention.ms"
        | "delete.retention.ms"
        | "fjord.usage.interval.ms"
        | "fjord.usage.retention.ms"
        | "sasl.oauthbearer.jwks.endpoint.refresh.ms"
        | "connections.max.reauth.ms"
        | "segment.ms"
        | "log.retention.ms"
        | "retention.ms"
        | "log.retention.bytes"
        | "retention.bytes"
        | "log.retention.check.interval.ms"
        | "log.flush.interval.messages"
        | "flush.messages"
        | "log.flush.interval.ms"
        | "flush.ms"
        | "replica.lag.time.max.ms"
        | "follower.replication.throttled.rate"
        | "leader.imbalance.check.interval.seconds"
        | "fjord.controlled.shutdown.timeout.ms" => TYPE_LONG,
        _ => TYPE_UNKNOWN,
    }
}

/// What a topic key does (broker keys document themselves in [`BROKER_KEYS`]).
fn topic_doc(name: &str) -> Option<&'static str> {
    Some(match name {
        "cleanup.policy" => {
            "delete drops old segments by retention; compact keeps the latest record per key; \
             compact,delete does both."
        }
        "retention.ms" => "Delete segments whose records are all older than this; -1 keeps them.",
        "retention.bytes" => {
            "Delete the oldest segments while a partition is larger than this; -1 is unlimited."
        }
        "segment.bytes" => "Roll to a new segment when the active one reaches this size.",
        "segment.ms" => "Roll to a new segment when the active one is older than this.",
        "max.message.bytes" => "Largest record batch the topic accepts.",
        "index.interval.bytes" => "Bytes of records between two offset-index entries.",
        "flush.messages" => "fsync a partition after this many records.",
        "flush.ms" => "fsync a partition at least this often; unset relies on the OS.",
        "message.timestamp.type" => {
            "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's clock."
        }
        "min.insync.replicas" => "Replicas that must acknowledge an acks=all write.",
        "min.cleanable.dirty.ratio" => {
            "Compact when the uncleaned share of the log reaches this ratio (0 to 1)."
        }
        "min.compaction.lag.ms" => "Records younger than this are never compacted away.",
        "max.compaction.lag.ms" => {
            "Records older than this are compacted whatever the dirty ratio."
        }
        "delete.retention.ms" => {
            "How long a tombstone (a record with a null value) stays readable after it was written."
        }
        "fjord.autoscale.partitions" => {
            "Whether the operator's autoscaler may add partitions to this topic when its \
             per-partition throughput passes the limit."
        }
        _ => return None,
    })
}

fn doc(name: &str) -> Option<&'static str> {
    topic_doc(name).or_else(|| BROKER_KEYS.iter().find(|k| k.name == name).map(|k| k.doc))
}

/// One place a config's value can come from (a DescribeConfigs synonym).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigSynonym {
    /// The key, topic- or broker-level.
    pub(crate) name: &'static str,
    /// Its value there.
    pub(crate) value: String,
    /// `SOURCE_*`.
    pub(crate) source: i8,
}

/// A config as DescribeConfigs and CreateTopics v5+ report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigEntry {
    /// The key.
    pub(crate) name: &'static str,
    /// Effective value; `None` when unset (Kafka reports null, e.g. `flush.ms`).
    pub(crate) value: Option<String>,
    /// Where the effective value comes from (`SOURCE_*`).
    pub(crate) source: i8,
    /// Broker configs cannot be changed at runtime (yet).
    pub(crate) read_only: bool,
    /// Every place the key has a value, highest precedence first.
    pub(crate) synonyms: Vec<ConfigSynonym>,
}

/// Broker keys a topic key's default comes from, highest precedence first (Kafka's
/// ms/minutes/hours families for retention and roll).
fn broker_family(topic_key: &str, broker_key: &'static str) -> Vec<&'static str> {
    match topic_key {
        "retention.ms" => vec![
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        "segment.ms" => vec!["log.roll.ms", "log.roll.hours"],
        _ => vec![broker_key],
    }
}

fn builtin_default(broker_key: &str) -> &'static str {
    BROKER_KEYS
        .iter()
        .find(|k| k.name == broker_key)
        .map(|k| k.default)
        .unwrap_or("")
}

/// The broker key's value when the operator set it. `BrokerConfig` keeps only the merged
/// map, so a key set to its built-in default counts as a default.
fn broker_value_set(config: &BrokerConfig, broker_key: &str) -> Option<String> {
    config
        .effective
        .get(broker_key)
        .filter(|v| !v.is_empty() && v.as_str() != builtin_default(broker_key))
        .cloned()
}

/// Synonyms of broker keys: the set values, then the first built-in default.
fn broker_synonyms(config: &BrokerConfig, family: &[&'static str]) -> Vec<ConfigSynonym> {
    let mut synonyms: Vec<ConfigSynonym> = family
        .iter()
        .filter_map(|k| {
            broker_value_set(config, k).map(|value| ConfigSynonym {
                name: k,
                value,
                source: SOURCE_STATIC_BROKER,
            })
        })
        .collect();
    if let Some(k) = family.iter().find(|k| !builtin_default(k).is_empty()) {
        synonyms.push(ConfigSynonym {
            name: k,
            value: builtin_default(k).to_string(),
            source: SOURCE_DEFAULT,
        });
    }
    synonyms
}

/// Every topic key of a topic with the given overrides.
pub(crate) fn topic_config_entries(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    TOPIC_KEYS
        .iter()
        .map(|tk| {
            let own = overrides.get(tk.name).map(|v| ConfigSynonym {
                name: tk.name,
                value: v.clone(),
                source: SOURCE_TOPIC,
            });
            let value = match &own {
                Some(s) => Some(s.value.clone()),
                None => config.topic_default(tk.name).filter(|v| !v.is_empty()),
            };
            let mut synonyms: Vec<ConfigSynonym> = own.into_iter().collect();
            synonyms.extend(broker_synonyms(
                config,
                &broker_family(tk.name, tk.broker_key),
            ));
            ConfigEntry {
                name: tk.name,
                value,
                source: synonyms.first().map_or(SOURCE_DEFAULT, |s| s.source),
                read_only: false,
                synonyms,
            }
        })
        .collect()
}

/// Every broker key, read-only.
pub(crate) fn broker_config_entries(config: &BrokerConfig) -> Vec<ConfigEntry> {
    BROKER_KEYS
        .iter()
        .map(|k| {
            let synonyms = broker_synonyms(config, &[k.name]);
            ConfigEntry {
                name: k.name,
                value: config
                    .effective
                    .get(k.name)
                    .filter(|v| !v.is_empty())
                    .cloned(),
                source: synonyms.first().map_or(SOURCE_DEFAULT, |s| s.source),
                read_only: true,
                synonyms,
            }
        })
        .collect()
}

/// The configs a DescribeConfigs resource names, or the error to answer it with.
fn resource_entries(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<Vec<ConfigEntry>, ApiError> {
    match resource_type {
        RESOURCE_TOPIC => broker
            .topic(name)
            .map(|t| topic_config_entries(&broker.config, &t.configs()))
            .ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic {name:?} does not exist"),
                )
            }),
        RESOURCE_BROKER if name.is_empty() || name.parse::<i32>() == Ok(broker.node_id) => {
            Ok(broker_config_entries(&broker.config))
        }
        RESOURCE_BROKER => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!(
                "unexpected broker id {name:?}; this is broker {}, or use \"\" for the default",
                broker.node_id
            ),
        )),
        RESOURCE_BROKER_LOGGER => Err(ApiError::new(
            ResponseError::InvalidRequest,
            "broker loggers cannot be described",
        )),
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("resource type {other} is not supported; use 2 (topic) or 4 (broker)"),
        )),
    }
}

fn describe_entry(
    entry: ConfigEntry,
    version: i16,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    // Kafka's rule: a sensitive key is listed, its value never is.
    let sensitive = crate::config::is_sensitive(entry.name);
    c.name = StrBytes::from_static_str(entry.name);
    c.value = entry
        .value
        .filter(|_| !sensitive)
        .map(StrBytes::from_string);
    c.read_only = entry.read_only;
    c.config_source = entry.source;
    c.is_sensitive = sensitive;
    if include_synonyms {
        c.synonyms = entry
            .synonyms
            .into_iter()
            .map(|s| {
                let mut synonym = DescribeConfigsSynonym::default();
                synonym.name = StrBytes::from_static_str(s.name);
                synonym.value = Some(StrBytes::from_string(s.value)).filter(|_| !sensitive);
                synonym.source = s.source;
                synonym
            })
            .collect();
    }
    if version >= 3 {
        c.config_type = config_type(entry.name);
        c.documentation = if include_documentation {
            doc(entry.name).map(StrBytes::from_static_str)
        } else {
            None
        };
    }
    c
}

pub(crate) async fn describe_configs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let version = ctx.api_version;
    let mut resp = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut r = DescribeConfigsResult::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let entries = authorize_config(
            broker,
            ctx,
            res.resource_type,
            res.resource_name.as_str(),
            Operation::DescribeConfigs,
        )
        .and_then(|()| resource_entries(broker, res.resource_type, res.resource_name.as_str()));
        match entries {
            Ok(entries) => {
                // Null (or empty) asks for every key; unknown names are simply absent.
                let wanted = res.configuration_keys.as_ref().filter(|k| !k.is_empty());
                r.configs = entries
                    .into_iter()
                    .filter(|e| wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name)))
                    .map(|e| {
                        describe_entry(e, version, req.include_synonyms, req.include_documentation)
                    })
                    .collect();
                r.error_message = None;
            }
            Err(e) => {
                r.error_code = e.code.code();
                r.error_message = msg(e.message);
            }
        }
        resp.results.push(r);
    }
    resp
}

/// Checks `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config resource: the topic,
/// or the cluster for broker and broker-logger resources. Other types fail later with their
/// own error.
fn authorize_config(
    broker: &Broker,
    ctx: &RequestContext,
    resource_type: i8,
    name: &str,
    operation: Operation,
) -> Result<(), ApiError> {
    let verb = if operation == Operation::AlterConfigs {
        "alter"
    } else {
        "describe"
    };
    match resource_type {
        RESOURCE_TOPIC if !ctx.may(broker, operation, ResourceType::Topic, name) => {
            Err(ApiError::new(
                ResponseError::TopicAuthorizationFailed,
                format!("not authorized to {verb} the configs of topic {name:?}"),
            ))
        }
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER if !ctx.may_on_cluster(broker, operation) => {
            Err(ApiError::new(
                ResponseError::ClusterAuthorizationFailed,
                format!("not authorized to {verb} broker configs (needs {operation:?} on Cluster)"),
            ))
        }
        _ => Ok(()),
    }
}

/// Only topic configs can be changed; everything else is refused with a reason.
fn topic_only(resource_type: i8) -> Result<(), ApiError> {
    match resource_type {
        RESOURCE_TOPIC => Ok(()),
        RESOURCE_BROKER => Err(ApiError::new(
            ResponseError::InvalidRequest,
            "dynamic broker configs are not supported yet; use --set/--config and restart",
        )),
        RESOURCE_BROKER_LOGGER => Err(ApiError::new(
            ResponseError::InvalidRequest,
            "broker log levels cannot be changed at runtime",
        )),
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!(
                "resource type {other} is not supported; only topic (2) configs can be altered"
            ),
        )),
    }
}

/// How often each (type, name) resource appears; Kafka refuses all copies of a duplicate.
fn resource_counts<'a>(
    resources: impl Iterator<Item = (i8, &'a str)>,
) -> HashMap<(i8, &'a str), usize> {
    let mut counts = HashMap::new();
    for key in resources {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn duplicate_resource(resource_type: i8, name: &str) -> ApiError {
    ApiError::new(
        ResponseError::InvalidRequest,
        format!("resource {name:?} (type {resource_type}) appears more than once in the request"),
    )
}

fn duplicate_key(key: &str) -> ApiError {
    ApiError::new(
        ResponseError::InvalidRequest,
        format!("config {key:?} appears more than once for the same resource"),
    )
}

pub(crate) async fn alter_configs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let counts = resource_counts(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let mut resp = AlterConfigsResponse::default();
    for res in &req.resources {
        let mut r = alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let name = res.resource_name.as_str();
        let result = async {
            if counts.get(&(res.resource_type, name)).copied().unwrap_or(0) > 1 {
                return Err(duplicate_resource(res.resource_type, name));
            }
            authorize_config(
                broker,
                ctx,
                res.resource_type,
                name,
                Operation::AlterConfigs,
            )?;
            topic_only(res.resource_type)?;
            // AlterConfigs replaces the whole override set: unnamed keys, and keys given a
            // null value, revert to their defaults.
            let mut seen = HashSet::new();
            let mut configs = BTreeMap::new();
            for c in &res.configs {
                if !seen.insert(c.name.as_str()) {
                    return Err(duplicate_key(c.name.as_str()));
                }
                if let Some(v) = &c.value {
                    configs.insert(c.name.to_string(), v.to_string());
                }
            }
            broker
                .set_topic_configs(name, configs, req.validate_only)
                .await
        }
        .await;
        match result {
            Ok(()) => r.error_message = None,
            Err(e) => {
                r.error_code = e.code.code();
                r.error_message = msg(e.message);
            }
        }
        resp.responses.push(r);
    }
    resp
}

/// One operation of an IncrementalAlterConfigs resource.
#[derive(Debug, Clone, Copy)]
struct ConfigOp<'a> {
    name: &'a str,
    op: i8,
    value: Option<&'a str>,
}

fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Applies incremental operations to a topic's overrides. Values are validated afterwards
/// by [`Broker::set_topic_configs`], which names the offending key.
fn apply_incremental(
    config: &BrokerConfig,
    mut overrides: BTreeMap<String, String>,
    ops: &[ConfigOp<'_>],
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut seen = HashSet::new();
    for op in ops {
        let key = op.name;
        if !seen.insert(key) {
            return Err(duplicate_key(key));
        }
        let value = match (op.op, op.value) {
            (OP_DELETE, _) => {
                overrides.remove(key);
                continue;
            }
            (OP_SET | OP_APPEND | OP_SUBTRACT, Some(v)) => v,
            (OP_SET | OP_APPEND | OP_SUBTRACT, None) => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("config {key:?} needs a value for operation {}", op.op),
                ));
            }
            (other, _) => {
                return Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!(
                        "unknown config operation {other} for {key:?}; use 0 (SET), 1 (DELETE), \
                         2 (APPEND) or 3 (SUBTRACT)"
                    ),
                ));
            }
        };
        if op.op == OP_SET {
            overrides.insert(key.to_string(), value.to_string());
            continue;
        }
        if !TOPIC_KEYS.iter().any(|k| k.name == key) {
            return Err(ApiError::new(
                ResponseError::InvalidConfig,
                format!("unknown topic config {key:?}"),
            ));
        }
        if config_type(key) != TYPE_LIST {
            return Err(ApiError::new(
                ResponseError::InvalidConfig,
                format!("{key} is not a list; APPEND and SUBTRACT apply to list configs only"),
            ));
        }
        // The base is the effective value: the override, else the default.
        let current = overrides
            .get(key)
            .cloned()
            .or_else(|| config.topic_default(key))
            .unwrap_or_default();
        let mut items: Vec<&str> = list_items(&current).collect();
        for item in list_items(value) {
            if op.op == OP_APPEND {
                if !items.contains(&item) {
                    items.push(item);
                }
            } else {
                items.retain(|i| *i != item);
            }
        }
        let joined = items.join(",");
        overrides.insert(key.to_string(), joined);
    }
    Ok(overrides)
}

pub(crate) async fn incremental_alter_configs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let counts = resource_counts(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in &req.resources {
        let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let name = res.resource_name.as_str();
        let result = async {
            if counts.get(&(res.resource_type, name)).copied().unwrap_or(0) > 1 {
                return Err(duplicate_resource(res.resource_type, name));
            }
            authorize_config(
                broker,
                ctx,
                res.resource_type,
                name,
                Operation::AlterConfigs,
            )?;
            topic_only(res.resource_type)?;
            let topic = broker.topic(name).ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic {name:?} does not exist"),
                )
            })?;
            let ops: Vec<ConfigOp<'_>> = res
                .configs
                .iter()
                .map(|c| ConfigOp {
                    name: c.name.as_str(),
                    op: c.config_operation,
                    value: c.value.as_ref().map(|v| v.as_str()),
                })
                .collect();
            // Read-modify-write: a concurrent alter of the same topic can lose an update.
            let merged = apply_incremental(&broker.config, topic.configs(), &ops)?;
            broker
                .set_topic_configs(name, merged, req.validate_only)
                .await
        }
        .await;
        match result {
            Ok(()) => r.error_message = None,
            Err(e) => {
                r.error_code = e.code.code();
                r.error_message = msg(e.message);
            }
        }
        resp.responses.push(r);
    }
    resp
}

#[cfg(test)]
mod tests;
