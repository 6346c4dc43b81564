//! `fjord usage` (the metered usage report) and `fjord invoice` (the tenant's invoices).
//!
//! `fjord invoice` lists `GET /v1/tenants/{t}/invoices` (drafts, final invoices and
//! adjustments; see the README's Billing section) with the SDK's HTTP client, and says so
//! plainly when a server without billing answers 404.

use anyhow::{Context as _, anyhow};
use fjord_sdk::ClientInfo as _;
use serde_json::Value;

use super::GlobalArgs;
use super::output::{Columns, OutputFormat, print_list, print_value, to_value};
use super::session::{Session, describe_error};

const USAGE_COLUMNS: Columns<'static> = &[
    ("PERIOD", "period_start"),
    ("CLUSTER", "cluster_id"),
    ("TOPIC", "topic"),
    ("BYTES IN", "bytes_in"),
    ("RECORDS IN", "records_in"),
    ("BYTES OUT", "bytes_out"),
    ("RECORDS OUT", "records_out"),
    ("STORAGE GB-H", "storage_gb_hours"),
    ("PARTITION-H", "partition_hours"),
];

/// `fjord usage`.
#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// Start of the report (RFC 3339, e.g. 2026-11-01T00:00:00Z; default: the API's).
    #[arg(long)]
    from: Option<String>,
    /// End of the report (RFC 3339; default: now).
    #[arg(long)]
    to: Option<String>,
    /// Length of each row's period.
    #[arg(long, value_parser = ["hour", "day", "month"])]
    granularity: Option<String>,
    /// Split rows by cluster or by topic.
    #[arg(long, value_parser = ["cluster", "topic"])]
    group_by: Option<String>,
}

/// `fjord invoice`.
#[derive(Debug, clap::Args)]
pub struct InvoiceArgs {}

pub(super) async fn usage(args: UsageArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let session = Session::open(global).await?;
    let tenant = session.tenant()?;
    let mut request = session.client.get_usage().tenant_id(tenant);
    if let Some(from) = &args.from {
        request = request.from(from.as_str());
    }
    if let Some(to) = &args.to {
        request = request.to(to.as_str());
    }
    if let Some(granularity) = &args.granularity {
        request = request.granularity(granularity.as_str());
    }
    if let Some(group_by) = &args.group_by {
        request = request.group_by(group_by.as_str());
    }
    let report = request
        .send()
        .await
        .map_err(|e| describe_error(e, &session.url, "tenant", tenant))?
        .into_inner();
    let report = to_value(&report)?;
    if global.output != OutputFormat::Table {
        return print_value(global.output, &report);
    }
    eprintln!(
        "Usage of tenant {tenant} from {} to {}, per {}:",
        report["from"].as_str().unwrap_or("?"),
        report["to"].as_str().unwrap_or("?"),
        report["granularity"].as_str().unwrap_or("?")
    );
    print_list(
        global.output,
        report["items"].as_array().map(Vec::as_slice).unwrap_or(&[]),
        USAGE_COLUMNS,
    )
}

pub(super) async fn invoices(_args: InvoiceArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let session = Session::open(global).await?;
    let tenant = session.tenant()?;
    let url = format!("{}/v1/tenants/{tenant}/invoices", session.client.baseurl());
    let response = session
        .client
        .client()
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach the API at {}: is it running?", session.url))?;
    let status = response.status();
    if status == fjord_sdk::reqwest::StatusCode::NOT_FOUND {
        return Err(anyhow!(
            "this server does not issue invoices (GET {url} answered 404): it meters usage \
             only; see `fjord usage`"
        ));
    }
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("the API's answer to GET {url} is not JSON"))?;
    if !status.is_success() {
        let detail = body["detail"].as_str().unwrap_or("no detail");
        let hint = if status == fjord_sdk::reqwest::StatusCode::UNAUTHORIZED {
            "\n  your session is no longer valid: run `fjord login`"
        } else if status == fjord_sdk::reqwest::StatusCode::FORBIDDEN {
            "\n  invoices need the billing or tenant-admin role"
        } else {
            ""
        };
        return Err(anyhow!(
            "{} ({}): {detail}{hint}",
            body["title"].as_str().unwrap_or("error"),
            status.as_u16()
        ));
    }
    let items = body["items"].as_array().cloned().unwrap_or_default();
    if global.output != OutputFormat::Table {
        return print_value(global.output, &body);
    }
    let columns: Columns<'static> = &[
        ("ID", "id"),
        ("KIND", "kind"),
        ("PERIOD START", "period_start"),
        ("PERIOD END", "period_end"),
        ("STATUS", "status"),
        ("TOTAL", "total"),
        ("CURRENCY", "currency"),
    ];
    print_list(global.output, &items, columns)
}
