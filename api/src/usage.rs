//! Usage: the collector that reads each cluster's `__fjord_usage` topic into hourly rows, and
//! `GET /v1/tenants/{tenant_id}/usage`, the report over them.
//!
//! # Collection
//!
//! Every [`COLLECT_EVERY`] the collector reads, for each running cluster, the usage records
//! after the offset it stored, as the control plane's super user (no consumer group: the
//! offset lives in `usage_offsets`). It adds them to `usage_hourly` (traffic per hour, topic
//! and principal) and `storage_hourly` (byte-seconds and partition-seconds per hour and topic)
//! and moves the offset in ONE database transaction, so a crash at any point neither loses
//! nor double-counts a record. Traffic counts in the hour its window ended in (a late window,
//! from a broker that was down, lands in its own hour, whenever it arrives); storage is split
//! across the hours its window covers, each record's share rounded down to whole
//! byte-seconds and partition-seconds (so the sums do not depend on how records are batched).
//!
//! # Duplicates
//!
//! A broker whose window was written but whose answer was lost sends the window again, so
//! `__fjord_usage` may hold a record twice, with the same `broker` and `sequence`. The
//! collector remembers, per cluster and broker, every sequence number it has counted (as
//! ranges, [`SeenSequences`], in `usage_sequences`, saved in the same transaction) and skips
//! one it has seen: the sums are exact whatever the duplicates and the order of arrival
//! (the property test below feeds shuffled streams with repeats).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use fjord_broker::metering::{USAGE_TOPIC, UsageRecord};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Action, Principal};
use crate::clusters::machine::ClusterState;
use crate::clusters::store;
use crate::db::rfc3339;
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

/// How often the collector reads every cluster's usage.
pub const COLLECT_EVERY: Duration = Duration::from_secs(15);
/// Bytes read per Fetch.
const FETCH_BYTES: i32 = 1 << 20;
/// Fetches per cluster per pass (a backlog is caught up over several passes).
const FETCHES_PER_PASS: usize = 16;
const HOUR_MS: i64 = 3_600_000;

/// Traffic of one (hour, topic, principal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Traffic {
    bytes_in: i64,
    records_in: i64,
    bytes_out: i64,
    records_out: i64,
}

/// Usage records folded into hourly sums.
#[derive(Debug, Default, PartialEq, Eq)]
struct Hourly {
    traffic: BTreeMap<(i64, String, String), Traffic>,
    /// (hour, topic) → (byte-seconds, partition-seconds).
    storage: BTreeMap<(i64, String), (i128, i128)>,
}

/// The sequence numbers of one broker's usage records counted so far: sorted, disjoint,
/// non-adjacent inclusive ranges. A broker numbers its records 0, 1, 2, … without reuse, so
/// this stays a single range, plus one per gap (a window lost in a crash leaves one).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeenSequences(Vec<(u64, u64)>);

impl SeenSequences {
    /// Records `sequence`; `false` when it was seen before (a duplicate to skip).
    pub fn insert(&mut self, sequence: u64) -> bool {
        // The first range starting after `sequence`; the one before may contain it.
        let i = self.0.partition_point(|&(start, _)| start <= sequence);
        if i > 0 && self.0[i - 1].1 >= sequence {
            return false;
        }
        let joins_before = i > 0 && self.0[i - 1].1 + 1 == sequence;
        let joins_after = i < self.0.len() && sequence + 1 == self.0[i].0;
        match (joins_before, joins_after) {
            (true, true) => {
                self.0[i - 1].1 = self.0[i].1;
                self.0.remove(i);
            }
            (true, false) => self.0[i - 1].1 = sequence,
            (false, true) => self.0[i].0 = sequence,
            (false, false) => self.0.insert(i, (sequence, sequence)),
        }
        true
    }

    /// Whether `sequence` was seen.
    pub fn contains(&self, sequence: u64) -> bool {
        let i = self.0.partition_point(|&(start, _)| start <= sequence);
        i > 0 && self.0[i - 1].1 >= sequence
    }
}

/// Usage records of one cluster folded into hourly sums, each (broker, sequence) once.
#[derive(Debug, Default)]
struct Aggregator {
    /// Per broker: what was counted, before and during this batch.
    seen: BTreeMap<i32, SeenSequences>,
    /// Brokers whose [`SeenSequences`] changed (to save).
    changed: std::collections::BTreeSet<i32>,
    hourly: Hourly,
}

impl Aggregator {
    /// Adds `r` unless its (broker, sequence) was counted; returns whether it was added.
    fn add(&mut self, r: &UsageRecord) -> bool {
        if !self.seen.entry(r.broker).or_default().insert(r.sequence) {
            return false;
        }
        self.changed.insert(r.broker);
        self.hourly.add(r);
        true
    }

    /// Starts a new batch of sums, keeping what was seen.
    fn take_hourly(&mut self) -> Hourly {
        std::mem::take(&mut self.hourly)
    }
}

fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

impl Hourly {
    fn add(&mut self, r: &UsageRecord) {
        match r.kind.as_str() {
            "traffic" => {
                let hour = hour_of((r.window_end_ms - 1).max(r.window_start_ms));
                let key = (
                    hour,
                    r.topic.clone(),
                    r.principal.clone().unwrap_or_default(),
                );
                let t = self.traffic.entry(key).or_default();
                let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                t.bytes_in += n(r.bytes_in);
                t.records_in += n(r.records_in);
                t.bytes_out += n(r.bytes_out);
                t.records_out += n(r.records_out);
            }
            "storage" => {
                let bytes = i128::from(r.bytes_stored.unwrap_or(0));
                let partitions = i128::from(r.partitions.unwrap_or(0));
                let mut at = r.window_start_ms;
                while at < r.window_end_ms {
                    let hour = hour_of(at);
                    let until = (hour + HOUR_MS).min(r.window_end_ms);
                    let ms = i128::from(until - at);
                    let s = self.storage.entry((hour, r.topic.clone())).or_default();
                    // Rounded down per record: the sums do not depend on the batching.
                    s.0 += bytes * ms / 1000;
                    s.1 += partitions * ms / 1000;
                    at = until;
                }
            }
            other => tracing::warn!(kind = other, "unknown usage record kind; skipped"),
        }
    }
}

/// Reads what each running cluster metered since the last pass. Returns the records read.
pub async fn collect_once(state: &AppState) -> Result<usize> {
    let mut total = 0;
    for row in store::in_states(&state.db, &[ClusterState::Ready, ClusterState::Updating]).await? {
        match collect_cluster(state, &row.id, &row.tenant_id).await {
            Ok(n) => total += n,
            Err(e) => {
                tracing::warn!(cluster_id = %row.id, error = %e, "collecting usage failed; will retry")
            }
        }
    }
    Ok(total)
}

async fn collect_cluster(state: &AppState, cluster_id: &str, tenant_id: &str) -> Result<usize> {
    let mut offset: i64 =
        sqlx::query_scalar("SELECT next_offset FROM usage_offsets WHERE cluster_id = $1")
            .bind(cluster_id)
            .fetch_optional(&state.db)
            .await?
            .unwrap_or(0);
    let mut admin = state.provisioner.admin(cluster_id).await?;
    let mut aggregator = Aggregator {
        seen: load_seen(state, cluster_id).await?,
        ..Aggregator::default()
    };
    let mut read = 0;
    for _ in 0..FETCHES_PER_PASS {
        let fetched = admin
            .fetch_records(USAGE_TOPIC, 0, offset, FETCH_BYTES)
            .await?;
        let Some(&(last, _)) = fetched.records.last() else {
            break;
        };
        let mut duplicates = 0;
        for (_, value) in &fetched.records {
            match value.as_deref().map(serde_json::from_slice::<UsageRecord>) {
                Some(Ok(r)) => {
                    if !aggregator.add(&r) {
                        duplicates += 1;
                    }
                }
                _ => tracing::warn!(cluster_id, "unreadable usage record; skipped"),
            }
        }
        if duplicates > 0 {
            tracing::info!(
                cluster_id,
                duplicates,
                "skipped usage records counted before"
            );
        }
        let hourly = aggregator.take_hourly();
        let changed: Vec<(i32, SeenSequences)> = std::mem::take(&mut aggregator.changed)
            .into_iter()
            .map(|b| (b, aggregator.seen[&b].clone()))
            .collect();
        save(state, cluster_id, tenant_id, &hourly, &changed, last + 1).await?;
        read += fetched.records.len();
        offset = last + 1;
        if offset >= fetched.high_watermark {
            break;
        }
    }
    if read > 0 {
        tracing::debug!(cluster_id, records = read, "collected usage");
    }
    Ok(read)
}

/// The sequences counted so far of each broker of `cluster_id`.
async fn load_seen(state: &AppState, cluster_id: &str) -> Result<BTreeMap<i32, SeenSequences>> {
    let rows = sqlx::query("SELECT broker_id, ranges FROM usage_sequences WHERE cluster_id = $1")
        .bind(cluster_id)
        .fetch_all(&state.db)
        .await?;
    let mut seen = BTreeMap::new();
    for r in &rows {
        let broker: i64 = r.try_get("broker_id")?;
        let ranges: String = r.try_get("ranges")?;
        let ranges = serde_json::from_str(&ranges).map_err(|e| {
            ApiError::Internal(format!("unreadable usage_sequences of {cluster_id}: {e}"))
        })?;
        seen.insert(i32::try_from(broker).unwrap_or(i32::MAX), ranges);
    }
    Ok(seen)
}

/// Adds `hourly`, stores the brokers' counted sequences `seen` and moves the offset to
/// `next_offset`, in one transaction.
async fn save(
    state: &AppState,
    cluster_id: &str,
    tenant_id: &str,
    hourly: &Hourly,
    seen: &[(i32, SeenSequences)],
    next_offset: i64,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    for (broker, ranges) in seen {
        let ranges = serde_json::to_string(ranges)
            .map_err(|e| ApiError::Internal(format!("usage sequences: {e}")))?;
        sqlx::query(
            "INSERT INTO usage_sequences (cluster_id, broker_id, ranges) VALUES ($1, $2, $3) \
             ON CONFLICT (cluster_id, broker_id) DO UPDATE SET ranges = excluded.ranges",
        )
        .bind(cluster_id)
        .bind(i64::from(*broker))
        .bind(ranges)
        .execute(&mut *tx)
        .await?;
    }
    for ((hour, topic, principal), t) in &hourly.traffic {
        sqlx::query(
            "INSERT INTO usage_hourly (cluster_id, tenant_id, hour_ms, topic, principal, \
             bytes_in, records_in, bytes_out, records_out) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (cluster_id, hour_ms, topic, principal) DO UPDATE SET \
             bytes_in = usage_hourly.bytes_in + excluded.bytes_in, \
             records_in = usage_hourly.records_in + excluded.records_in, \
             bytes_out = usage_hourly.bytes_out + excluded.bytes_out, \
             records_out = usage_hourly.records_out + excluded.records_out",
        )
        .bind(cluster_id)
        .bind(tenant_id)
        .bind(hour)
        .bind(topic)
        .bind(principal)
        .bind(t.bytes_in)
        .bind(t.records_in)
        .bind(t.bytes_out)
        .bind(t.records_out)
        .execute(&mut *tx)
        .await?;
    }
    for ((hour, topic), (byte_ms, partition_ms)) in &hourly.storage {
        let seconds = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO storage_hourly (cluster_id, tenant_id, hour_ms, topic, byte_seconds, \
             partition_seconds) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (cluster_id, hour_ms, topic) DO UPDATE SET \
             byte_seconds = storage_hourly.byte_seconds + excluded.byte_seconds, \
             partition_seconds = storage_hourly.partition_seconds + excluded.partition_seconds",
        )
        .bind(cluster_id)
        .bind(tenant_id)
        .bind(hour)
        .bind(topic)
        .bind(seconds(*byte_ms))
        .bind(seconds(*partition_ms))
        .execute(&mut *tx)
        .await?;
    }
    // Usage of a month already invoiced: the billing job issues an adjustment.
    crate::billing::invoices::mark_late_usage(
        &mut tx,
        tenant_id,
        hourly
            .traffic
            .keys()
            .map(|k| k.0)
            .chain(hourly.storage.keys().map(|k| k.0)),
    )
    .await?;
    sqlx::query(
        "INSERT INTO usage_offsets (cluster_id, next_offset) VALUES ($1, $2) \
         ON CONFLICT (cluster_id) DO UPDATE SET next_offset = excluded.next_offset",
    )
    .bind(cluster_id)
    .bind(next_offset)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Runs [`collect_once`] and then the billing job ([`crate::billing::run_once`]) every
/// [`COLLECT_EVERY`] until `shutdown` resolves.
pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(COLLECT_EVERY) => {}
        }
        if let Err(e) = collect_once(&state).await {
            tracing::warn!(error = %e, "usage collection pass failed");
        }
        if let Err(e) = crate::billing::run_once(&state).await {
            tracing::warn!(error = %e, "billing pass failed");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The report

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants/{tenant_id}/usage", get(get_usage))
        .route("/v1/usage", get(get_own_usage))
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(get_usage, get_own_usage),
    components(schemas(UsageReport, UsageRow, Granularity, GroupBy))
)]
pub struct UsageApi;

/// Period length of the report's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One row per hour.
    Hour,
    /// One row per UTC day.
    #[default]
    Day,
    /// One row per UTC calendar month.
    Month,
}

/// What the report's rows are split by, besides the period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Per cluster.
    #[default]
    Cluster,
    /// Per cluster and topic.
    Topic,
}

/// Query of the usage report.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Start (RFC 3339, inclusive); default: the start of the current UTC month.
    pub from: Option<String>,
    /// End (RFC 3339, exclusive); default: now. At most 366 days after `from`.
    pub to: Option<String>,
    /// `hour`, `day` (default) or `month`.
    pub granularity: Option<Granularity>,
    /// `cluster` (default) or `topic`.
    pub group_by: Option<GroupBy>,
}

/// One period of one cluster (and topic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageRow {
    /// Start of the period (RFC 3339, UTC).
    pub period_start: String,
    /// The cluster.
    pub cluster_id: String,
    /// The topic (with `group_by=topic`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Record-batch bytes produced.
    pub bytes_in: i64,
    /// Records produced.
    pub records_in: i64,
    /// Record-batch bytes consumed.
    pub bytes_out: i64,
    /// Records consumed.
    pub records_out: i64,
    /// Storage in GB-hours (10^9 bytes kept for one hour).
    pub storage_gb_hours: f64,
    /// Partition-hours (as the brokers metered them).
    pub partition_hours: f64,
    /// Hours the cluster was `ready` or `updating` (from its state history; on the rows of
    /// `group_by=cluster` only).
    pub cluster_hours: f64,
}

/// The usage report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    /// Start (RFC 3339).
    pub from: String,
    /// End (RFC 3339).
    pub to: String,
    /// Period length.
    pub granularity: Granularity,
    /// Split.
    pub group_by: GroupBy,
    /// Rows, by period, cluster and topic.
    pub items: Vec<UsageRow>,
}

/// Parses an RFC 3339 query or body field `name` into unix ms; a validation problem if bad.
pub fn parse_time(name: &str, value: &str) -> Result<i64> {
    let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            ApiError::Validation(format!(
                "{name} must be an RFC 3339 time like 2026-11-01T00:00:00Z ({e})"
            ))
        })?;
    Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

/// Start of the UTC month of `ms`.
pub fn month_start(ms: i64) -> i64 {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let first = t.date().replace_day(1).unwrap_or(t.date());
    first.midnight().assume_utc().unix_timestamp() * 1000
}

fn period_of(hour_ms: i64, granularity: Granularity) -> i64 {
    match granularity {
        Granularity::Hour => hour_ms,
        Granularity::Day => hour_ms.div_euclid(24 * HOUR_MS) * 24 * HOUR_MS,
        Granularity::Month => month_start(hour_ms),
    }
}

/// Report rows by (period, cluster, topic).
#[derive(Default)]
struct Report(BTreeMap<(i64, String, Option<String>), UsageRow>);

impl Report {
    /// The row an hourly row of `cluster`/`topic` adds to.
    fn row(
        &mut self,
        hour: i64,
        cluster: String,
        topic: String,
        granularity: Granularity,
        group_by: GroupBy,
    ) -> &mut UsageRow {
        let period = period_of(hour, granularity);
        let topic = (group_by == GroupBy::Topic).then_some(topic);
        self.0
            .entry((period, cluster.clone(), topic.clone()))
            .or_insert_with(|| UsageRow {
                period_start: rfc3339(period),
                cluster_id: cluster,
                topic,
                bytes_in: 0,
                records_in: 0,
                bytes_out: 0,
                records_out: 0,
                storage_gb_hours: 0.0,
                partition_hours: 0.0,
                cluster_hours: 0.0,
            })
    }
}

/// The tenant's usage per period and cluster (or topic), from the collected hourly rows.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/usage", tag = "usage",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"), UsageParams),
    responses(
        (status = 200, description = "The report", body = UsageReport),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_usage(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
    Query(params): Query<UsageParams>,
) -> Result<Json<UsageReport>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadBilling)
        .await?;
    report(&state, &tenant_id, &params).await.map(Json)
}

/// The caller's own tenant's usage: `GET /v1/tenants/{tenant_id}/usage` with the tenant of
/// the token.
#[utoipa::path(get, path = "/v1/usage", tag = "usage",
    security(("bearer" = [])),
    params(UsageParams),
    responses(
        (status = 200, description = "The report", body = UsageReport),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A platform administrator has no tenant: use /v1/tenants/{tenant_id}/usage", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_own_usage(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<UsageParams>,
) -> Result<Json<UsageReport>> {
    let Some(tenant_id) = principal.tenant_id.clone() else {
        return Err(ApiError::Validation(
            "a platform administrator belongs to no tenant: use GET /v1/tenants/{tenant_id}/usage"
                .into(),
        ));
    };
    principal
        .authorize(&state.db, &tenant_id, Action::ReadBilling)
        .await?;
    report(&state, &tenant_id, &params).await.map(Json)
}

async fn report(state: &AppState, tenant_id: &str, params: &UsageParams) -> Result<UsageReport> {
    let now = state.clock.now_ms();
    let from = match &params.from {
        Some(f) => parse_time("from", f)?,
        None => month_start(now),
    };
    let to = match &params.to {
        Some(t) => parse_time("to", t)?,
        None => now,
    };
    if to <= from {
        return Err(ApiError::Validation("to must be after from".into()));
    }
    if to - from > 366 * 24 * HOUR_MS {
        return Err(ApiError::Validation(
            "the report covers at most 366 days; narrow from and to".into(),
        ));
    }
    let granularity = params.granularity.unwrap_or_default();
    let group_by = params.group_by.unwrap_or_default();
    // Hours that start inside [from, to).
    let (first_hour, end) = (hour_of(from + HOUR_MS - 1), to);
    let traffic = sqlx::query(
        "SELECT cluster_id, hour_ms, topic, bytes_in, records_in, bytes_out, records_out \
         FROM usage_hourly WHERE tenant_id = $1 AND hour_ms >= $2 AND hour_ms < $3",
    )
    .bind(tenant_id)
    .bind(first_hour)
    .bind(end)
    .fetch_all(&state.db)
    .await?;
    let storage = sqlx::query(
        "SELECT cluster_id, hour_ms, topic, byte_seconds, partition_seconds \
         FROM storage_hourly WHERE tenant_id = $1 AND hour_ms >= $2 AND hour_ms < $3",
    )
    .bind(tenant_id)
    .bind(first_hour)
    .bind(end)
    .fetch_all(&state.db)
    .await?;
    let mut report = Report::default();
    for r in &traffic {
        let u = report.row(
            r.try_get("hour_ms")?,
            r.try_get("cluster_id")?,
            r.try_get("topic")?,
            granularity,
            group_by,
        );
        u.bytes_in += r.try_get::<i64, _>("bytes_in")?;
        u.records_in += r.try_get::<i64, _>("records_in")?;
        u.bytes_out += r.try_get::<i64, _>("bytes_out")?;
        u.records_out += r.try_get::<i64, _>("records_out")?;
    }
    for r in &storage {
        let u = report.row(
            r.try_get("hour_ms")?,
            r.try_get("cluster_id")?,
            r.try_get("topic")?,
            granularity,
            group_by,
        );
        u.storage_gb_hours += r.try_get::<i64, _>("byte_seconds")? as f64 / 3600.0 / 1e9;
        u.partition_hours += r.try_get::<i64, _>("partition_seconds")? as f64 / 3600.0;
    }
    if group_by == GroupBy::Cluster {
        // Cluster-hours from the state history, split by hour, clipped to [from, to).
        let until = to.min(now);
        for (cluster, start, stop) in
            crate::billing::invoices::running(&state.db, tenant_id, from, until).await?
        {
            let (mut at, stop) = (start.max(from), stop.min(until));
            while at < stop {
                let hour = hour_of(at);
                let next = (hour + HOUR_MS).min(stop);
                let u = report.row(hour, cluster.clone(), String::new(), granularity, group_by);
                u.cluster_hours += (next - at) as f64 / HOUR_MS as f64;
                at = next;
            }
        }
    }
    Ok(UsageReport {
        from: rfc3339(from),
        to: rfc3339(to),
        granularity,
        group_by,
        items: report.0.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn record(kind: &str, start: i64, end: i64) -> UsageRecord {
        UsageRecord {
            schema: 1,
            kind: kind.into(),
            sequence: 0,
            broker: 1,
            window_start_ms: start,
            window_end_ms: end,
            tenant: None,
            principal: Some("User:acme.app".into()),
            topic: "orders".into(),
            bytes_in: 100,
            records_in: 2,
            bytes_out: 50,
            records_out: 1,
            bytes_stored: Some(1_000),
            partitions: Some(3),
        }
    }

    #[test]
    fn traffic_lands_in_the_hour_its_window_ended_and_storage_is_split() {
        let mut h = Hourly::default();
        // A window ending exactly on the hour belongs to the hour before.
        h.add(&record("traffic", HOUR_MS - 60_000, HOUR_MS));
        h.add(&record("traffic", HOUR_MS, HOUR_MS + 60_000));
        h.add(&record("traffic", HOUR_MS + 60_000, HOUR_MS + 120_000));
        let hours: Vec<i64> = h.traffic.keys().map(|k| k.0).collect();
        assert_eq!(hours, [0, HOUR_MS]);
        assert_eq!(
            h.traffic[&(HOUR_MS, "orders".into(), "User:acme.app".into())].bytes_in,
            200
        );
        // 30 minutes before the hour and 60 after: 1000 bytes × the time in each hour.
        let mut s = Hourly::default();
        s.add(&record("storage", HOUR_MS / 2, 2 * HOUR_MS));
        assert_eq!(s.storage[&(0, "orders".into())], (1_000 * 1_800, 3 * 1_800));
        assert_eq!(
            s.storage[&(HOUR_MS, "orders".into())],
            (1_000 * 3_600, 3 * 3_600)
        );
        s.add(&record("mystery", 0, 1));
        assert_eq!(s.storage.len(), 2, "unknown kinds are skipped");
    }

    #[test]
    fn a_resent_window_is_counted_once() {
        let mut a = Aggregator::default();
        let mut r = record("traffic", 0, 60_000);
        r.sequence = 7;
        assert!(a.add(&r));
        assert!(!a.add(&r), "same broker and sequence: a duplicate");
        let mut other_broker = r.clone();
        other_broker.broker = 2;
        assert!(a.add(&other_broker), "another broker's sequence 7 is new");
        assert_eq!(
            a.hourly.traffic.values().map(|t| t.bytes_in).sum::<i64>(),
            200
        );
        assert!(a.seen[&1].contains(7) && !a.seen[&1].contains(8));
    }

    /// (DB) rows after adding `batch` to `rows`, as the upserts of `save` do.
    fn merge(rows: &mut Hourly, batch: Hourly) {
        for (k, t) in batch.traffic {
            let e = rows.traffic.entry(k).or_default();
            e.bytes_in += t.bytes_in;
            e.records_in += t.records_in;
            e.bytes_out += t.bytes_out;
            e.records_out += t.records_out;
        }
        for (k, (b, p)) in batch.storage {
            let e = rows.storage.entry(k).or_default();
            e.0 += b;
            e.1 += p;
        }
    }

    /// Collects `stream` in passes split at `cuts`, each pass starting from the persisted
    /// (JSON) sequences as after a restart, into `rows`.
    fn collect(
        rows: &mut Hourly,
        persisted: &mut BTreeMap<i32, String>,
        stream: &[UsageRecord],
        cuts: &[usize],
    ) {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        bounds.push(0);
        bounds.push(stream.len());
        bounds.sort_unstable();
        for pass in bounds.windows(2) {
            let mut a = Aggregator {
                seen: persisted
                    .iter()
                    .map(|(b, json)| (*b, serde_json::from_str(json).unwrap()))
                    .collect(),
                ..Aggregator::default()
            };
            for r in &stream[pass[0]..pass[1]] {
                a.add(r);
            }
            for b in std::mem::take(&mut a.changed) {
                persisted.insert(b, serde_json::to_string(&a.seen[&b]).unwrap());
            }
            merge(rows, a.take_hourly());
        }
    }

    fn arbitrary_record() -> impl Strategy<Value = UsageRecord> {
        (
            1..4_i32,
            any::<bool>(),
            0..6_i64,
            0..HOUR_MS,
            1..2 * HOUR_MS,
            prop::sample::select(vec!["orders", "payments"]),
            prop::sample::select(vec!["User:acme.a", "User:acme.b"]),
            (0..1u64 << 40, 0..10_000u64, 0..1u64 << 40, 1..64i32),
        )
            .prop_map(
                |(broker, traffic, hour, offset, length, topic, principal, (a, n, b, parts))| {
                    let start = 1_700_000_000_000 / HOUR_MS * HOUR_MS + hour * HOUR_MS + offset;
                    UsageRecord {
                        schema: 1,
                        kind: if traffic { "traffic" } else { "storage" }.into(),
                        sequence: 0,
                        broker,
                        window_start_ms: start,
                        window_end_ms: start + length,
                        tenant: Some("acme".into()),
                        principal: traffic.then(|| principal.to_string()),
                        topic: topic.into(),
                        bytes_in: a,
                        records_in: n,
                        bytes_out: b,
                        records_out: n / 2,
                        bytes_stored: (!traffic).then_some(a),
                        partitions: (!traffic).then_some(parts),
                    }
                },
            )
    }

    /// Unique records (per-broker sequences with gaps), and a stream of them shuffled with
    /// repeats.
    fn records_and_stream() -> impl Strategy<Value = (Vec<UsageRecord>, Vec<UsageRecord>)> {
        (
            prop::collection::vec((arbitrary_record(), 0..3u64), 1..60),
            prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        )
            .prop_flat_map(|(records, repeats)| {
                let mut next: BTreeMap<i32, u64> = BTreeMap::new();
                let unique: Vec<UsageRecord> = records
                    .into_iter()
                    .map(|(mut r, gap)| {
                        let n = next.entry(r.broker).or_default();
                        *n += gap;
                        r.sequence = *n;
                        *n += 1;
                        r
                    })
                    .collect();
                let mut stream = unique.clone();
                stream.extend(
                    repeats
                        .iter()
                        .map(|i| unique[i.index(unique.len())].clone()),
                );
                (Just(unique), Just(stream).prop_shuffle())
            })
    }

    proptest! {
        #[test]
        fn seen_sequences_behave_as_a_set(ops in prop::collection::vec(0..200u64, 0..300)) {
            let mut seen = SeenSequences::default();
            let mut model = std::collections::BTreeSet::new();
            for s in ops {
                prop_assert_eq!(seen.insert(s), model.insert(s));
                // Sorted, disjoint, non-adjacent ranges.
                for w in seen.0.windows(2) {
                    prop_assert!(w[0].1 + 1 < w[1].0);
                }
            }
            for s in 0..200 {
                prop_assert_eq!(seen.contains(s), model.contains(&s));
            }
        }

        /// For random usage streams with duplicates and reordering, collected in any number
        /// of passes (restarts between them), the hourly sums equal those of each record
        /// counted once; collecting the whole stream again changes nothing.
        #[test]
        fn aggregation_is_exact_and_idempotent(
            (unique, stream) in records_and_stream(),
            cuts in prop::collection::vec(any::<usize>(), 0..5),
        ) {
            let mut expected = Hourly::default();
            for r in &unique {
                expected.add(r);
            }
            let mut rows = Hourly::default();
            let mut persisted = BTreeMap::new();
            collect(&mut rows, &mut persisted, &stream, &cuts);
            prop_assert_eq!(&rows, &expected);
            collect(&mut rows, &mut persisted, &stream, &[]);
            prop_assert_eq!(&rows, &expected);
        }
    }

    #[test]
    fn periods_are_utc_hours_days_and_calendar_months() {
        let t = parse_time("t", "2026-03-17T13:45:00Z").unwrap();
        let hour = hour_of(t);
        assert_eq!(
            rfc3339(period_of(hour, Granularity::Hour)),
            "2026-03-17T13:00:00.000Z"
        );
        assert_eq!(
            rfc3339(period_of(hour, Granularity::Day)),
            "2026-03-17T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(period_of(hour, Granularity::Month)),
            "2026-03-01T00:00:00.000Z"
        );
        assert!(parse_time("from", "yesterday").is_err());
    }
}
