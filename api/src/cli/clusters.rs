//! `fjord cluster create|list|get|delete`.
//!
//! A cluster is named by id or by name (names are unique among a tenant's live clusters).
//! `create` (and `delete --wait`) poll the cluster until it is ready (deleted), with one
//! status line on stderr per change.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::GlobalArgs;
use super::output::{self, Columns, print_list, print_object, to_value};
use super::session::{Session, describe_error};

/// Between two polls of a changing cluster.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

const LIST_COLUMNS: Columns<'static> = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("STATE", "state"),
    ("BROKERS", "brokers"),
    ("BOOTSTRAP", "bootstrap"),
    ("CREATED", "created_at"),
];
const DETAIL_FIELDS: Columns<'static> = &[
    ("id", "id"),
    ("name", "name"),
    ("state", "state"),
    ("reason", "state_reason"),
    ("brokers", "brokers"),
    ("bootstrap", "bootstrap"),
    ("limits", "limits"),
    ("created", "created_at"),
    ("updated", "updated_at"),
];

/// `fjord cluster …`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster and wait until it is ready (status lines on stderr).
    Create(CreateArgs),
    /// List the tenant's clusters.
    List,
    /// Show a cluster (by id or name).
    Get {
        /// Cluster id or name.
        cluster: String,
        /// Also write the CA certificate Kafka clients must trust to this file.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<std::path::PathBuf>,
    },
    /// Delete a cluster with its brokers and all their data.
    Delete {
        /// Cluster id or name.
        cluster: String,
        /// Confirm the deletion (required: it cannot be undone).
        #[arg(long)]
        yes: bool,
        /// Wait until the cluster is deleted.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

/// `fjord cluster create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Name, unique among the tenant's clusters.
    name: String,
    /// Most partitions the cluster may hold.
    #[arg(long)]
    max_partitions: Option<u64>,
    /// Produce throughput ceiling, MB/s.
    #[arg(long)]
    ingress_mbps: Option<u64>,
    /// Consume throughput ceiling, MB/s.
    #[arg(long)]
    egress_mbps: Option<u64>,
    /// Return as soon as the API accepted the cluster, without waiting for it to be ready.
    #[arg(long)]
    no_wait: bool,
    /// Give up waiting after this many seconds (the cluster keeps provisioning).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

pub(super) async fn run(command: ClusterCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let session = Session::open(global).await?;
    let tenant = session.tenant()?.to_string();
    match command {
        ClusterCommand::Create(args) => create(&session, &tenant, args, global).await,
        ClusterCommand::List => {
            let items = list(&session, &tenant).await?;
            print_list(global.output, &items, LIST_COLUMNS)
        }
        ClusterCommand::Get { cluster, ca_file } => {
            let cluster = resolve(&session, &tenant, &cluster).await?;
            if let Some(path) = ca_file {
                let pem = cluster["ca_cert_pem"].as_str().ok_or_else(|| {
                    anyhow!(
                        "cluster `{}` has no CA certificate yet: wait until it is ready",
                        cluster["name"].as_str().unwrap_or_default()
                    )
                })?;
                std::fs::write(&path, pem)
                    .with_context(|| format!("failed to write {}", path.display()))?;
                eprintln!("CA certificate written to {}", path.display());
            }
            print_object(global.output, &cluster, DETAIL_FIELDS)
        }
        ClusterCommand::Delete {
            cluster,
            yes,
            wait,
            timeout,
        } => {
            let found = resolve(&session, &tenant, &cluster).await?;
            let (id, name) = id_and_name(&found);
            if !yes {
                bail!(
                    "deleting cluster `{name}` ({id}) deletes its brokers and all their data: add --yes to confirm"
                );
            }
            let answer = session
                .client
                .delete_cluster()
                .tenant_id(tenant.as_str())
                .cluster_id(id.as_str())
                .confirm(name.as_str())
                .send()
                .await
                .map_err(|e| describe_error(e, &session.url, "cluster", &cluster))?;
            let mut deleted = to_value(&answer.into_inner())?;
            if wait {
                deleted = wait_for(
                    &session,
                    &tenant,
                    &id,
                    "deleted",
                    Duration::from_secs(timeout),
                )
                .await?;
            } else {
                eprintln!("Deleting cluster `{name}`; follow it with `fjord cluster get {id}`.");
            }
            print_object(global.output, &deleted, DETAIL_FIELDS)
        }
    }
}

async fn create(
    session: &Session,
    tenant: &str,
    args: CreateArgs,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let mut body = json!({ "name": args.name });
    let limits = json!({
        "max_partitions": args.max_partitions,
        "ingress_mbps": args.ingress_mbps,
        "egress_mbps": args.egress_mbps,
    });
    if limits
        .as_object()
        .is_some_and(|l| l.values().any(|v| !v.is_null()))
    {
        body["limits"] = limits;
    }
    let body: fjord_sdk::types::CreateCluster = serde_json::from_value(body)
        .context("the cluster's settings do not fit the API's CreateCluster")?;
    let created = session
        .client
        .create_cluster()
        .tenant_id(tenant)
        .body(body)
        .send()
        .await
        .map_err(|e| describe_error(e, &session.url, "tenant", tenant))?
        .into_inner();
    let created = to_value(&created)?;
    let (id, name) = id_and_name(&created);
    eprintln!("Cluster `{name}` accepted ({id}).");
    let cluster = if args.no_wait {
        created
    } else {
        wait_for(
            session,
            tenant,
            &id,
            "ready",
            Duration::from_secs(args.timeout),
        )
        .await?
    };
    print_object(global.output, &cluster, DETAIL_FIELDS)
}

/// Every cluster of the tenant, following the pages.
pub(super) async fn list(session: &Session, tenant: &str) -> anyhow::Result<Vec<Value>> {
    output::all_pages(|cursor| async move {
        let mut request = session.client.list_clusters().tenant_id(tenant).limit(500);
        if let Some(c) = &cursor {
            request = request.cursor(c.as_str());
        }
        let page = request
            .send()
            .await
            .map_err(|e| describe_error(e, &session.url, "tenant", tenant))?
            .into_inner();
        to_value(&page)
    })
    .await
}

/// A cluster by id, else by name.
pub(super) async fn resolve(
    session: &Session,
    tenant: &str,
    reference: &str,
) -> anyhow::Result<Value> {
    match session
        .client
        .get_cluster()
        .tenant_id(tenant)
        .cluster_id(reference)
        .send()
        .await
    {
        Ok(cluster) => return to_value(&cluster.into_inner()),
        Err(e) if e.status() == Some(fjord_sdk::reqwest::StatusCode::NOT_FOUND) => {}
        Err(e) => return Err(describe_error(e, &session.url, "cluster", reference)),
    }
    let mut named: Vec<Value> = list(session, tenant)
        .await?
        .into_iter()
        .filter(|c| c["name"] == reference && c["state"] != "deleted")
        .collect();
    match named.len() {
        0 => Err(anyhow!(
            "no cluster `{reference}` in tenant {tenant}: list them with `fjord cluster list`"
        )),
        1 => Ok(named.remove(0)),
        _ => Err(anyhow!(
            "several clusters are named `{reference}`: name one by id (`fjord cluster list`)"
        )),
    }
}

/// The id of a cluster named by id or name.
pub(super) async fn resolve_id(
    session: &Session,
    tenant: &str,
    reference: &str,
) -> anyhow::Result<String> {
    Ok(id_and_name(&resolve(session, tenant, reference).await?).0)
}

fn id_and_name(cluster: &Value) -> (String, String) {
    (
        cluster["id"].as_str().unwrap_or_default().to_string(),
        cluster["name"].as_str().unwrap_or_default().to_string(),
    )
}

/// Polls the cluster until it reaches `target`, printing each state it passes on stderr.
async fn wait_for(
    session: &Session,
    tenant: &str,
    id: &str,
    target: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let cluster = session
            .client
            .get_cluster()
            .tenant_id(tenant)
            .cluster_id(id)
            .send()
            .await
            .map_err(|e| describe_error(e, &session.url, "cluster", id))?
            .into_inner();
        let cluster = to_value(&cluster)?;
        let state = output::cell(&cluster["state"]);
        let reason = cluster["state_reason"].as_str().unwrap_or_default();
        let line = if reason.is_empty() {
            state.clone()
        } else {
            format!("{state} ({reason})")
        };
        if line != last {
            eprintln!(
                "[{:>5.1}s] {}: {line}",
                start.elapsed().as_secs_f64(),
                cluster["name"].as_str().unwrap_or(id)
            );
            last = line;
        }
        if state == target {
            return Ok(cluster);
        }
        if state == "failed" {
            bail!(
                "cluster {id} failed: {reason}\n  the control plane retries by itself (30 s, then \
                 longer); follow it with `fjord cluster get {id}`, or delete it"
            );
        }
        if start.elapsed() >= timeout {
            bail!(
                "cluster {id} is still {state} after {} s; it goes on in the background: follow it \
                 with `fjord cluster get {id}`",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
