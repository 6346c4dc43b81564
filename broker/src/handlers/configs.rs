//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (and read-only
//! broker configs).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::admin::{SOURCE_DEFAULT, SOURCE_STATIC_BROKER, effective_topic_configs};
use super::{RequestContext, msg};
use crate::broker::{ApiError, Broker};
use crate::config::{BROKER_KEYS, TOPIC_KEYS};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Kafka's config types (DescribeConfigs v3+).
fn config_type(name: &str) -> i8 {
    const BOOLEAN: i8 = 1;
    const STRING: i8 = 2;
    const INT: i8 = 3;
    const LONG: i8 = 5;
    const LIST: i8 = 7;
    match name {
        "cleanup.policy" | "listeners" | "advertised.listeners" | "log.dirs" => LIST,
        "message.timestamp.type"
        | "log.message.timestamp.type"
        | "cluster.id"
        | "log.cleanup.policy" => STRING,
        "auto.create.topics.enable" | "fjord.bench.sink" => BOOLEAN,
        n if n.ends_with(".ms")
            || n.ends_with(".bytes") && n != "max.message.bytes"
            || n.ends_with(".messages")
            || n.ends_with(".hours")
            || n.ends_with(".minutes") =>
        {
            LONG
        }
        _ => INT,
    }
}

fn doc(name: &str) -> Option<StrBytes> {
    BROKER_KEYS
        .iter()
        .find(|k| k.name == name)
        .map(|k| StrBytes::from_static_str(k.doc))
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
        let name = res.resource_name.to_string();
        let entries: Result<Vec<(String, String, i8, bool)>, ApiError> = match res.resource_type {
            RESOURCE_TOPIC => match broker.topic(&name) {
                Some(topic) => Ok(effective_topic_configs(broker, &topic.configs())
                    .into_iter()
                    .map(|(n, v, s)| (n, v, s, false))
                    .collect()),
                None => Err(ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic {name:?} does not exist"),
                )),
            },
            RESOURCE_BROKER if name.is_empty() || name == broker.node_id.to_string() => {
                Ok(BROKER_KEYS
                    .iter()
                    .map(|k| {
                        let value = broker
                            .config
                            .effective
                            .get(k.name)
                            .cloned()
                            .unwrap_or_default();
                        let source = if value == k.default {
                            SOURCE_DEFAULT
                        } else {
                            SOURCE_STATIC_BROKER
                        };
                        (k.name.to_string(), value, source, true)
                    })
                    .collect())
            }
            RESOURCE_BROKER => Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("this is broker {}, not {name:?}", broker.node_id),
            )),
            other => Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("resource type {other} is not supported"),
            )),
        };
        match entries {
            Ok(entries) => {
                for (key, value, source, read_only) in entries {
                    // Null or empty: every key.
                    if let Some(keys) = res.configuration_keys.as_ref().filter(|k| !k.is_empty()) {
                        if !keys.iter().any(|k| k.as_str() == key) {
                            continue;
                        }
                    }
                    let mut c = DescribeConfigsResourceResult::default();
                    c.name = StrBytes::from_string(key.clone());
                    c.value = Some(StrBytes::from_string(value.clone()));
                    c.read_only = read_only;
                    c.config_source = source;
                    if req.include_synonyms {
                        let mut s = DescribeConfigsSynonym::default();
                        s.name = c.name.clone();
                        s.value = c.value.clone();
                        s.source = source;
                        c.synonyms = vec![s];
                    }
                    if version >= 3 {
                        c.config_type = config_type(&key);
                        if req.include_documentation {
                            let broker_key = TOPIC_KEYS
                                .iter()
                                .find(|k| k.name == key)
                                .map(|k| k.broker_key)
                                .unwrap_or(&key);
                            c.documentation = doc(broker_key);
                        }
                    }
                    r.configs.push(c);
                }
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

fn topic_only(resource_type: i8) -> Result<(), ApiError> {
    match resource_type {
        RESOURCE_TOPIC => Ok(()),
        RESOURCE_BROKER => Err(ApiError::new(
            ResponseError::InvalidRequest,
            "dynamic broker configs are not supported yet; use --set or --config and restart",
        )),
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("resource type {other} is not supported"),
        )),
    }
}

pub(crate) async fn alter_configs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let _ = ctx;
    let mut resp = AlterConfigsResponse::default();
    for res in req.resources {
        let mut r = alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let result = topic_only(res.resource_type).and_then(|()| {
            // AlterConfigs replaces the whole override set: unnamed keys revert to defaults.
            let configs: BTreeMap<String, String> = res
                .configs
                .iter()
                .filter_map(|c| {
                    c.value
                        .as_ref()
                        .map(|v| (c.name.to_string(), v.to_string()))
                })
                .collect();
            broker.set_topic_configs(res.resource_name.as_str(), configs, req.validate_only)
        });
        if let Err(e) = result {
            r.error_code = e.code.code();
            r.error_message = msg(e.message);
        }
        resp.responses.push(r);
    }
    resp
}

pub(crate) async fn incremental_alter_configs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let _ = ctx;
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let name = res.resource_name.to_string();
        let result = topic_only(res.resource_type).and_then(|()| {
            let topic = broker
                .topic(&name)
                .ok_or_else(|| ApiError::new(ResponseError::UnknownTopicOrPartition, format!("topic {name:?} does not exist")))?;
            let mut configs = topic.configs();
            for c in &res.configs {
                let key = c.name.to_string();
                let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                match c.config_operation {
                    OP_SET => {
                        configs.insert(key, value);
                    }
                    OP_DELETE => {
                        configs.remove(&key);
                    }
                    OP_APPEND | OP_SUBTRACT => {
                        if config_type(&key) != 7 {
                            return Err(ApiError::new(ResponseError::InvalidConfig, format!("{key} is not a list; APPEND and SUBTRACT apply to list configs only")));
                        }
                        let current = configs.get(&key).cloned().or_else(|| broker.config.topic_default(&key)).unwrap_or_default();
                        let mut items: Vec<String> = current.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                        for v in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                            if c.config_operation == OP_APPEND {
                                if !items.iter().any(|i| i == v) {
                                    items.push(v.to_string());
                                }
                            } else {
                                items.retain(|i| i != v);
                            }
                        }
                        configs.insert(key, items.join(","));
                    }
                    other => return Err(ApiError::new(ResponseError::InvalidRequest, format!("unknown config operation {other}"))),
                }
            }
            broker.set_topic_configs(&name, configs, req.validate_only)
        });
        if let Err(e) = result {
            r.error_code = e.code.code();
            r.error_message = msg(e.message);
        }
        resp.responses.push(r);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_types_follow_kafka() {
        assert_eq!(config_type("cleanup.policy"), 7);
        assert_eq!(config_type("retention.ms"), 5);
        assert_eq!(config_type("max.message.bytes"), 3);
        assert_eq!(config_type("auto.create.topics.enable"), 1);
    }
}
