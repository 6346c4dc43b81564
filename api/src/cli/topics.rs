//! `fjord topic create|list|describe|alter|delete`, on the cluster `--cluster` names.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::GlobalArgs;
use super::clusters::resolve_id;
use super::output::{
    Columns, OutputFormat, all_pages, cell, print_list, print_value, render_table, to_value,
    write_stdout,
};
use super::session::{Session, describe_error};

const LIST_COLUMNS: Columns<'static> = &[
    ("NAME", "name"),
    ("PARTITIONS", "partitions"),
    ("REPLICAS", "replication_factor"),
    ("TOPIC ID", "topic_id"),
];

/// The cluster a topic or credential command acts on.
#[derive(Debug, clap::Args)]
pub struct ClusterArg {
    /// Cluster id or name.
    #[arg(long, short = 'c', env = "FJORD_CLUSTER")]
    pub cluster: String,
}

/// `fjord topic …`.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        /// Topic name: 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-'.
        name: String,
        #[command(flatten)]
        cluster: ClusterArg,
        /// Number of partitions.
        #[arg(long, short = 'p', default_value_t = 1)]
        partitions: u32,
        /// Replication factor (default: the cluster's broker count, at most 3).
        #[arg(long, short = 'r')]
        replication_factor: Option<u16>,
        /// Topic config, e.g. `--config retention.ms=86400000` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
        configs: Vec<(String, String)>,
    },
    /// List the cluster's topics.
    List {
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Show a topic with its configs.
    Describe {
        /// Topic name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Set or reset configs, or add partitions.
    Alter {
        /// Topic name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArg,
        /// Config to set, e.g. `--config retention.ms=3600000` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
        configs: Vec<(String, String)>,
        /// Config to reset to its default (repeatable).
        #[arg(long = "reset", value_name = "KEY")]
        resets: Vec<String>,
        /// Grow the topic to this many partitions (partitions cannot be removed).
        #[arg(long, short = 'p')]
        partitions: Option<u32>,
    },
    /// Delete a topic and its records.
    Delete {
        /// Topic name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArg,
    },
}

pub(super) async fn run(command: TopicCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let session = Session::open(global).await?;
    let tenant = session.tenant()?.to_string();
    let tenant = tenant.as_str();
    match command {
        TopicCommand::Create {
            name,
            cluster,
            partitions,
            replication_factor,
            configs,
        } => {
            let cluster = resolve_id(&session, tenant, &cluster.cluster).await?;
            let body = json!({
                "name": name,
                "partitions": partitions,
                "replication_factor": replication_factor,
                "configs": configs.into_iter().collect::<BTreeMap<_, _>>(),
            });
            let body: fjord_sdk::types::CreateTopic = serde_json::from_value(body)
                .context("the topic's settings do not fit the API's CreateTopic")?;
            let topic = session
                .client
                .create_topic()
                .tenant_id(tenant)
                .cluster_id(cluster.as_str())
                .body(body)
                .send()
                .await
                .map_err(|e| describe_error(e, &session.url, "cluster", &cluster))?
                .into_inner();
            print_topic(global.output, &to_value(&topic)?)
        }
        TopicCommand::List { cluster } => {
            let cluster = resolve_id(&session, tenant, &cluster.cluster).await?;
            let (session, cluster) = (&session, &cluster);
            let items = all_pages(|cursor| async move {
                let mut request = session
                    .client
                    .list_topics()
                    .tenant_id(tenant)
                    .cluster_id(cluster.as_str())
                    .limit(500);
                if let Some(c) = &cursor {
                    request = request.cursor(c.as_str());
                }
                let page = request
                    .send()
                    .await
                    .map_err(|e| describe_error(e, &session.url, "cluster", cluster))?
                    .into_inner();
                to_value(&page)
            })
            .await?;
            print_list(global.output, &items, LIST_COLUMNS)
        }
        TopicCommand::Describe { name, cluster } => {
            let cluster = resolve_id(&session, tenant, &cluster.cluster).await?;
            let topic = session
                .client
                .get_topic()
                .tenant_id(tenant)
                .cluster_id(cluster.as_str())
                .topic(name.as_str())
                .send()
                .await
                .map_err(|e| describe_error(e, &session.url, "topic", &name))?
                .into_inner();
            print_topic(global.output, &to_value(&topic)?)
        }
        TopicCommand::Alter {
            name,
            cluster,
            configs,
            resets,
            partitions,
        } => {
            if configs.is_empty() && resets.is_empty() && partitions.is_none() {
                bail!("nothing to change: give --config KEY=VALUE, --reset KEY or --partitions N");
            }
            let cluster = resolve_id(&session, tenant, &cluster.cluster).await?;
            let mut topic = None;
            if !configs.is_empty() || !resets.is_empty() {
                let mut changes: BTreeMap<String, Value> = configs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                for key in resets {
                    changes.insert(key, Value::Null);
                }
                let body: fjord_sdk::types::AlterTopic =
                    serde_json::from_value(json!({ "configs": changes }))
                        .context("the config changes do not fit the API's AlterTopic")?;
                let changed = session
                    .client
                    .alter_topic()
                    .tenant_id(tenant)
                    .cluster_id(cluster.as_str())
                    .topic(name.as_str())
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| describe_error(e, &session.url, "topic", &name))?
                    .into_inner();
                topic = Some(to_value(&changed)?);
            }
            if let Some(partitions) = partitions {
                let body: fjord_sdk::types::AddPartitions =
                    serde_json::from_value(json!({ "partitions": partitions }))
                        .context("the partition count does not fit the API's AddPartitions")?;
                let grown = session
                    .client
                    .add_partitions()
                    .tenant_id(tenant)
                    .cluster_id(cluster.as_str())
                    .topic(name.as_str())
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| describe_error(e, &session.url, "topic", &name))?
                    .into_inner();
                topic = Some(to_value(&grown)?);
            }
            print_topic(global.output, &topic.unwrap_or(Value::Null))
        }
        TopicCommand::Delete { name, cluster } => {
            let cluster = resolve_id(&session, tenant, &cluster.cluster).await?;
            session
                .client
                .delete_topic()
                .tenant_id(tenant)
                .cluster_id(cluster.as_str())
                .topic(name.as_str())
                .send()
                .await
                .map_err(|e| describe_error(e, &session.url, "topic", &name))?;
            eprintln!("Topic `{name}` deleted.");
            Ok(())
        }
    }
}

/// A topic: its fields, then one `config KEY VALUE` line per config, in `table` form.
fn print_topic(format: OutputFormat, topic: &Value) -> anyhow::Result<()> {
    if format != OutputFormat::Table {
        return print_value(format, topic);
    }
    let mut rows: Vec<Vec<String>> = [
        ("name", "name"),
        ("topic id", "topic_id"),
        ("partitions", "partitions"),
        ("replicas", "replication_factor"),
    ]
    .iter()
    .map(|(label, key)| vec![(*label).to_string(), cell(&topic[*key])])
    .collect();
    if let Some(configs) = topic["configs"].as_object() {
        for (key, value) in configs {
            rows.push(vec!["config".into(), format!("{key}={}", cell(value))]);
        }
    }
    write_stdout(&render_table(&[], rows))
}

/// `KEY=VALUE`.
pub(crate) fn parse_config(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!(
            "`{text}` is not KEY=VALUE (e.g. retention.ms=86400000)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_key_equals_value() {
        assert_eq!(
            parse_config("retention.ms=10").unwrap(),
            ("retention.ms".into(), "10".into())
        );
        assert_eq!(parse_config("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_config("k=").unwrap(), ("k".into(), String::new()));
        assert!(
            parse_config("novalue")
                .unwrap_err()
                .contains("not KEY=VALUE")
        );
        assert!(parse_config("=v").is_err());
    }
}
