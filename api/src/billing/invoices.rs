//! Invoices per tenant and calendar month (UTC), their lines, the finalisation job and the
//! adjustments.
//!
//! # Life cycle
//!
//! - While a month is open the tenant's invoice for it is a **draft**, computed on every read
//!   from the hourly usage, the cluster state history and the price books, up to now. Its id
//!   is the month, `YYYY-MM`.
//! - [`FINALIZE_GRACE_MS`] after the month ends (late windows of a broker that was down have
//!   time to arrive) the billing job computes it one last time and stores it as **final**,
//!   lines and total, never to change.
//! - Usage of a finalised month collected later (a broker down for longer than the grace)
//!   does not change that invoice: the job recomputes the month and stores the difference
//!   as an **adjustment** invoice `YYYY-MM-A1`, `-A2`, … (final at once), whose lines are the
//!   differences of quantity and amount per cluster, dimension and price book.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::compute::{self, AMOUNT_DP, Dimension, HourUsage, Line, PeriodUsage};
use super::price_books;
use crate::auth::{Action, Principal};
use crate::db::{Db, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::usage::month_start;

/// How long after a month's end its invoice is finalised.
pub const FINALIZE_GRACE_MS: i64 = compute::HOUR_MS;

/// Draft or final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// The month is open; the amounts move with usage.
    Draft,
    /// Issued; never changes.
    Final,
}

/// A month's invoice or an adjustment of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    /// The month's invoice.
    Invoice,
    /// Usage of a finalised month collected after it was finalised.
    Adjustment,
}

/// One line: a cluster's use of one dimension, priced by one price book version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLine {
    /// The cluster.
    pub cluster_id: String,
    /// What is billed.
    pub dimension: Dimension,
    /// Quantity (decimal string, at most 9 decimal places).
    pub quantity: String,
    /// Unit of the quantity: `GB`, `GB-month`, `partition-hour` or `cluster-hour`.
    pub unit: String,
    /// Price per unit (decimal string).
    pub unit_price: String,
    /// The price book version of the unit price.
    pub price_book_version: i64,
    /// quantity × unit price, rounded half-even to cents (decimal string).
    pub amount: String,
}

/// An invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    /// `YYYY-MM` for the month's invoice, `YYYY-MM-A<n>` for its adjustments.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Invoice or adjustment.
    pub kind: InvoiceKind,
    /// Draft or final.
    pub status: InvoiceStatus,
    /// Start of the month (RFC 3339).
    pub period_start: String,
    /// End of the month (RFC 3339, exclusive).
    pub period_end: String,
    /// Usage up to (RFC 3339): now for a draft, the period's end for a final invoice.
    pub computed_until: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of the lines' amounts (decimal string).
    pub total: String,
    /// When it was finalised (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// The invoice an adjustment corrects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjusts: Option<String>,
    /// Lines, by cluster and dimension.
    pub lines: Vec<InvoiceLine>,
}

/// A tenant's invoices, newest month first (the open month's draft first).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceList {
    /// Invoices and adjustments.
    pub items: Vec<Invoice>,
}

/// Output format of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceFormat {
    /// JSON (default).
    Json,
    /// CSV: one row per line, then a total row.
    Csv,
}

/// Query of an invoice.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvoiceParams {
    /// `json` or `csv`; default from `Accept` (`text/csv` → CSV), else JSON.
    pub format: Option<InvoiceFormat>,
}

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants/{tenant_id}/invoices", get(list_invoices))
        .route(
            "/v1/tenants/{tenant_id}/invoices/{invoice_id}",
            get(get_invoice),
        )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_invoices, get_invoice),
    components(schemas(
        Invoice,
        InvoiceLine,
        InvoiceList,
        InvoiceStatus,
        InvoiceKind,
        InvoiceFormat,
        Dimension
    ))
)]
pub struct InvoicesApi;

/// Start of the month after the one starting at `start`.
pub fn next_month(start: i64) -> i64 {
    month_start(start + 32 * 24 * compute::HOUR_MS)
}

/// `YYYY-MM` of the month starting at `start`.
fn month_id(start: i64) -> String {
    rfc3339(start)[..7].to_string()
}

/// The month start of a `YYYY-MM` id.
fn parse_month_id(id: &str) -> Option<i64> {
    let t = crate::usage::parse_time("month", &format!("{id}-01T00:00:00Z")).ok()?;
    (id.len() == 7 && month_start(t) == t).then_some(t)
}

/// Everything [`compute::compute`] needs for `tenant_id`'s month `[start, end)`.
pub async fn period_usage(
    db: &Db,
    tenant_id: &str,
    start: i64,
    end: i64,
    now: i64,
) -> Result<PeriodUsage> {
    let mut usage = PeriodUsage::default();
    let traffic = sqlx::query(
        "SELECT cluster_id, hour_ms, CAST(SUM(bytes_in) AS BIGINT) AS bytes_in, CAST(SUM(bytes_out) AS BIGINT) AS bytes_out \
         FROM usage_hourly WHERE tenant_id = $1 AND hour_ms >= $2 AND hour_ms < $3 \
         GROUP BY cluster_id, hour_ms",
    )
    .bind(tenant_id)
    .bind(start)
    .bind(end)
    .fetch_all(db)
    .await?;
    for r in &traffic {
        let e = usage
            .hours
            .entry((r.try_get("cluster_id")?, r.try_get("hour_ms")?))
            .or_insert_with(HourUsage::default);
        e.bytes_in += sum(r, "bytes_in")?;
        e.bytes_out += sum(r, "bytes_out")?;
    }
    let storage = sqlx::query(
        "SELECT cluster_id, hour_ms, CAST(SUM(byte_seconds) AS BIGINT) AS byte_seconds, \
         CAST(SUM(partition_seconds) AS BIGINT) AS partition_seconds \
         FROM storage_hourly WHERE tenant_id = $1 AND hour_ms >= $2 AND hour_ms < $3 \
         GROUP BY cluster_id, hour_ms",
    )
    .bind(tenant_id)
    .bind(start)
    .bind(end)
    .fetch_all(db)
    .await?;
    for r in &storage {
        let e = usage
            .hours
            .entry((r.try_get("cluster_id")?, r.try_get("hour_ms")?))
            .or_insert_with(HourUsage::default);
        e.byte_seconds += sum(r, "byte_seconds")?;
        e.partition_seconds += sum(r, "partition_seconds")?;
    }
    usage.running = running(db, tenant_id, start, now).await?;
    Ok(usage)
}

/// `SUM(…)` of a BIGINT column: BIGINT in SQLite, NUMERIC in PostgreSQL (read as text).
fn sum(r: &sqlx::any::AnyRow, column: &str) -> Result<i64> {
    if let Ok(v) = r.try_get::<i64, _>(column) {
        return Ok(v);
    }
    let s: String = r.try_get(column)?;
    s.parse()
        .map_err(|e| ApiError::Internal(format!("{column} sum {s:?}: {e}")))
}

/// The billable intervals of the tenant's clusters (from their state history) that end
/// after `since`, the open ones ending at `now`.
pub async fn running(
    db: &Db,
    tenant_id: &str,
    since: i64,
    now: i64,
) -> Result<Vec<(String, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT e.cluster_id, e.to_state, e.created_at FROM cluster_events e \
         JOIN clusters c ON c.id = e.cluster_id \
         WHERE c.tenant_id = $1 AND (c.state <> 'deleted' OR c.updated_at >= $2) \
         ORDER BY e.cluster_id, e.created_at, e.id",
    )
    .bind(tenant_id)
    .bind(since)
    .fetch_all(db)
    .await?;
    let mut history: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for r in &rows {
        history
            .entry(r.try_get("cluster_id")?)
            .or_default()
            .push((r.try_get("created_at")?, r.try_get("to_state")?));
    }
    let mut out = Vec::new();
    for (cluster, events) in history {
        let events: Vec<(i64, &str)> = events.iter().map(|(t, s)| (*t, s.as_str())).collect();
        for (s, e) in compute::running_intervals(&events, now) {
            if e > since {
                out.push((cluster.clone(), s, e));
            }
        }
    }
    Ok(out)
}

fn amount_string(d: Decimal) -> String {
    let mut d = compute::round(d, AMOUNT_DP);
    d.rescale(AMOUNT_DP);
    d.to_string()
}

fn line_of(l: &Line) -> InvoiceLine {
    InvoiceLine {
        cluster_id: l.cluster_id.clone(),
        dimension: l.dimension,
        quantity: l.quantity.normalize().to_string(),
        unit: l.dimension.unit().into(),
        unit_price: l.unit_price.normalize().to_string(),
        price_book_version: l.price_book_version,
        amount: amount_string(l.amount),
    }
}

fn line_from(l: &InvoiceLine) -> Result<Line> {
    let dec = |s: &str| {
        Decimal::from_str(s).map_err(|e| ApiError::Internal(format!("stored decimal {s:?}: {e}")))
    };
    Ok(Line {
        cluster_id: l.cluster_id.clone(),
        dimension: l.dimension,
        price_book_version: l.price_book_version,
        quantity: dec(&l.quantity)?,
        unit_price: dec(&l.unit_price)?,
        amount: dec(&l.amount)?,
    })
}

/// The draft of `tenant_id`'s month starting at `start`, computed up to `now`.
pub async fn draft(db: &Db, tenant_id: &str, start: i64, now: i64) -> Result<Invoice> {
    let end = next_month(start);
    let until = now.clamp(start, end);
    let usage = period_usage(db, tenant_id, start, end, until).await?;
    let books = price_books::books(db).await?;
    let computed = compute::compute(&usage, &books, start, end, until)
        .ok_or_else(|| ApiError::Internal("no price book".into()))?;
    Ok(Invoice {
        id: month_id(start),
        tenant_id: tenant_id.into(),
        kind: InvoiceKind::Invoice,
        status: InvoiceStatus::Draft,
        period_start: rfc3339(start),
        period_end: rfc3339(end),
        computed_until: rfc3339(until),
        currency: computed.currency,
        total: amount_string(computed.total),
        issued_at: None,
        adjusts: None,
        lines: computed.lines.iter().map(line_of).collect(),
    })
}

/// The stored (final) invoices of a tenant, newest month first, adjustments after their
/// month's invoice.
pub async fn stored(db: &Db, tenant_id: &str, month: Option<i64>) -> Result<Vec<Invoice>> {
    let rows = sqlx::query(
        "SELECT id, month_start, kind, adjusts, currency, total, issued_at, seq FROM invoices \
         WHERE tenant_id = $1 AND ($2 < 0 OR month_start = $2) ORDER BY month_start DESC, seq",
    )
    .bind(tenant_id)
    .bind(month.unwrap_or(-1))
    .fetch_all(db)
    .await?;
    let lines = sqlx::query(
        "SELECT l.invoice_id, l.cluster_id, l.dimension, l.quantity, l.unit_price, \
         l.price_book_version, l.amount FROM invoice_lines l JOIN invoices i \
         ON i.tenant_id = l.tenant_id AND i.id = l.invoice_id \
         WHERE l.tenant_id = $1 AND ($2 < 0 OR i.month_start = $2) ORDER BY l.invoice_id, l.line_no",
    )
    .bind(tenant_id)
    .bind(month.unwrap_or(-1))
    .fetch_all(db)
    .await?;
    let mut by_invoice: BTreeMap<String, Vec<InvoiceLine>> = BTreeMap::new();
    for r in &lines {
        let dimension: String = r.try_get("dimension")?;
        let dimension = Dimension::parse(&dimension)
            .ok_or_else(|| ApiError::Internal(format!("unknown dimension {dimension:?}")))?;
        by_invoice
            .entry(r.try_get("invoice_id")?)
            .or_default()
            .push(InvoiceLine {
                cluster_id: r.try_get("cluster_id")?,
                dimension,
                quantity: r.try_get("quantity")?,
                unit: dimension.unit().into(),
                unit_price: r.try_get("unit_price")?,
                price_book_version: r.try_get("price_book_version")?,
                amount: r.try_get("amount")?,
            });
    }
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            let start: i64 = r.try_get("month_start")?;
            let end = next_month(start);
            let kind: String = r.try_get("kind")?;
            Ok(Invoice {
                lines: by_invoice.remove(&id).unwrap_or_default(),
                id,
                tenant_id: tenant_id.into(),
                kind: if kind == "adjustment" {
                    InvoiceKind::Adjustment
                } else {
                    InvoiceKind::Invoice
                },
                status: InvoiceStatus::Final,
                period_start: rfc3339(start),
                period_end: rfc3339(end),
                computed_until: rfc3339(end),
                currency: r.try_get("currency")?,
                total: r.try_get("total")?,
                issued_at: Some(rfc3339(r.try_get("issued_at")?)),
                adjusts: r.try_get("adjusts")?,
            })
        })
        .collect()
}

/// Stores `lines` as final invoice `id` (sequence `seq` within its month) in one transaction.
/// `Ok(false)` when it exists already (another pass or replica was first).
#[allow(clippy::too_many_arguments)]
async fn store(
    db: &Db,
    tenant_id: &str,
    id: &str,
    seq: i64,
    month: i64,
    kind: InvoiceKind,
    currency: &str,
    lines: &[Line],
    now: i64,
) -> Result<bool> {
    let total: Decimal = lines.iter().map(|l| l.amount).sum();
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO invoices (tenant_id, id, seq, month_start, kind, adjusts, currency, total, issued_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(seq)
    .bind(month)
    .bind(match kind {
        InvoiceKind::Invoice => "invoice",
        InvoiceKind::Adjustment => "adjustment",
    })
    .bind((kind == InvoiceKind::Adjustment).then(|| month_id(month)))
    .bind(currency)
    .bind(amount_string(total))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(false);
    }
    for (n, l) in lines.iter().enumerate() {
        let shown = line_of(l);
        sqlx::query(
            "INSERT INTO invoice_lines (tenant_id, invoice_id, line_no, cluster_id, dimension, \
             quantity, unit_price, price_book_version, amount) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .bind(&shown.cluster_id)
        .bind(shown.dimension.as_str())
        .bind(&shown.quantity)
        .bind(&shown.unit_price)
        .bind(shown.price_book_version)
        .bind(&shown.amount)
        .execute(&mut *tx)
        .await?;
    }
    // Recheck the month once more: usage committed while this pass computed it is caught.
    sqlx::query(
        "INSERT INTO billing_recheck (tenant_id, month_start) VALUES ($1, $2) \
         ON CONFLICT (tenant_id, month_start) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(month)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Finalises every closed month and issues the adjustments of rechecked months. Returns
/// the invoices stored.
pub async fn finalize_due(state: &AppState) -> Result<usize> {
    let now = state.clock.now_ms();
    let mut issued = 0;
    let tenants = sqlx::query(
        "SELECT c.tenant_id, MIN(c.created_at) AS first FROM clusters c GROUP BY c.tenant_id",
    )
    .fetch_all(&state.db)
    .await?;
    for r in &tenants {
        let tenant_id: String = r.try_get("tenant_id")?;
        let first: i64 = sum(r, "first")?;
        let last_final: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(month_start) FROM invoices WHERE tenant_id = $1 AND kind = 'invoice'",
        )
        .bind(&tenant_id)
        .fetch_one(&state.db)
        .await?;
        let mut month = match last_final {
            Some(m) => next_month(m),
            None => month_start(first),
        };
        while next_month(month) + FINALIZE_GRACE_MS <= now {
            let end = next_month(month);
            let invoice = draft(&state.db, &tenant_id, month, end).await?;
            let lines = invoice
                .lines
                .iter()
                .map(line_from)
                .collect::<Result<Vec<_>>>()?;
            if store(
                &state.db,
                &tenant_id,
                &invoice.id,
                0,
                month,
                InvoiceKind::Invoice,
                &invoice.currency,
                &lines,
                now,
            )
            .await?
            {
                tracing::info!(
                    tenant_id,
                    invoice = invoice.id,
                    total = invoice.total,
                    "invoice finalised"
                );
                issued += 1;
            }
            month = end;
        }
    }
    issued += adjust_rechecked(state, now).await?;
    Ok(issued)
}

/// Recomputes the months marked in `billing_recheck` and issues an adjustment where the
/// result differs from what was billed.
async fn adjust_rechecked(state: &AppState, now: i64) -> Result<usize> {
    let marked = sqlx::query("SELECT tenant_id, month_start FROM billing_recheck")
        .fetch_all(&state.db)
        .await?;
    let mut issued = 0;
    for r in &marked {
        let tenant_id: String = r.try_get("tenant_id")?;
        let month: i64 = r.try_get("month_start")?;
        // Clear the mark first: usage arriving during the recomputation marks it again.
        sqlx::query("DELETE FROM billing_recheck WHERE tenant_id = $1 AND month_start = $2")
            .bind(&tenant_id)
            .bind(month)
            .execute(&state.db)
            .await?;
        let billed = stored(&state.db, &tenant_id, Some(month)).await?;
        if billed.is_empty() {
            continue;
        }
        let mut billed_lines = Vec::new();
        for i in &billed {
            for l in &i.lines {
                billed_lines.push(line_from(l)?);
            }
        }
        let end = next_month(month);
        let recomputed = draft(&state.db, &tenant_id, month, end).await?;
        let recomputed_lines = recomputed
            .lines
            .iter()
            .map(line_from)
            .collect::<Result<Vec<_>>>()?;
        let diff = compute::adjustment(&recomputed_lines, &billed_lines);
        if diff.is_empty() {
            continue;
        }
        let seq = i64::try_from(billed.len()).unwrap_or(i64::MAX);
        let id = format!("{}-A{seq}", month_id(month));
        if store(
            &state.db,
            &tenant_id,
            &id,
            seq,
            month,
            InvoiceKind::Adjustment,
            &billed[0].currency,
            &diff,
            now,
        )
        .await?
        {
            tracing::info!(
                tenant_id,
                invoice = id,
                "adjustment issued for usage collected after finalisation"
            );
            issued += 1;
        }
    }
    Ok(issued)
}

/// Marks the months of `hours` (unix ms) of `tenant_id` that are finalised, for the billing
/// job to recheck; runs in the collector's transaction.
pub async fn mark_late_usage(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    hours: impl Iterator<Item = i64>,
) -> Result<()> {
    let months: BTreeSet<i64> = hours.map(month_start).collect();
    for month in months {
        sqlx::query(
            "INSERT INTO billing_recheck (tenant_id, month_start) \
             SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM invoices WHERE tenant_id = $1 \
             AND month_start = $2 AND kind = 'invoice') \
             ON CONFLICT (tenant_id, month_start) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(month)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The tenant's invoices: final ones and adjustments from the database, and the draft of
/// the open month (and of a closed month not finalised yet).
pub async fn list(state: &AppState, tenant_id: &str) -> Result<Vec<Invoice>> {
    let now = state.clock.now_ms();
    let mut finals = stored(&state.db, tenant_id, None).await?;
    let finalised: BTreeSet<String> = finals.iter().map(|i| i.period_start.clone()).collect();
    let mut drafts = Vec::new();
    let current = month_start(now);
    for month in [current, month_start(current - 1)] {
        let has_clusters: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM clusters WHERE tenant_id = $1 AND created_at < $2 LIMIT 1",
        )
        .bind(tenant_id)
        .bind(next_month(month))
        .fetch_optional(&state.db)
        .await?;
        if has_clusters.is_some() && !finalised.contains(&rfc3339(month)) {
            let d = draft(&state.db, tenant_id, month, now).await?;
            // A previous month without usage and without a draft line is not shown.
            if month == current || !d.lines.is_empty() {
                drafts.push(d);
            }
        }
    }
    drafts.append(&mut finals);
    Ok(drafts)
}

/// The tenant's invoices: the open month's draft first, then final invoices and
/// adjustments, newest month first.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/invoices", tag = "billing",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The invoices", body = InvoiceList),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_invoices(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
) -> Result<Json<InvoiceList>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadBilling)
        .await?;
    Ok(Json(InvoiceList {
        items: list(&state, &tenant_id).await?,
    }))
}

/// One invoice, as JSON or CSV (`?format=csv` or `Accept: text/csv`). `YYYY-MM` is the
/// month's invoice (a draft while the month is open), `YYYY-MM-A<n>` an adjustment.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/invoices/{invoice_id}", tag = "billing",
    security(("bearer" = [])),
    params(
        ("tenant_id" = String, Path, description = "Tenant id"),
        ("invoice_id" = String, Path, description = "`YYYY-MM` or `YYYY-MM-A<n>`"),
        InvoiceParams,
    ),
    responses(
        (status = 200, description = "The invoice (JSON, or CSV with `format=csv`)", content(
            (Invoice = "application/json"),
            (String = "text/csv"),
        )),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_invoice(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, invoice_id)): Path<(String, String)>,
    Query(params): Query<InvoiceParams>,
    headers: HeaderMap,
) -> Result<Response> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadBilling)
        .await?;
    let not_found = || ApiError::NotFound(format!("invoice {invoice_id} not found"));
    let month = parse_month_id(invoice_id.get(..7).unwrap_or("")).ok_or_else(not_found)?;
    let stored = stored(&state.db, &tenant_id, Some(month)).await?;
    let invoice = match stored.into_iter().find(|i| i.id == invoice_id) {
        Some(i) => i,
        None if invoice_id.len() == 7 && month <= state.clock.now_ms() => {
            draft(&state.db, &tenant_id, month, state.clock.now_ms()).await?
        }
        None => return Err(not_found()),
    };
    let csv = match params.format {
        Some(f) => f == InvoiceFormat::Csv,
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
    };
    if csv {
        let file = format!(
            "attachment; filename=\"invoice-{}-{}.csv\"",
            tenant_id, invoice.id
        );
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, file),
            ],
            to_csv(&invoice),
        )
            .into_response())
    } else {
        Ok(Json(invoice).into_response())
    }
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The invoice as CSV: a header, one row per line, and a `total` row.
pub fn to_csv(i: &Invoice) -> String {
    let mut out = String::from(
        "invoice_id,status,period_start,period_end,currency,cluster_id,dimension,quantity,unit,unit_price,price_book_version,amount\r\n",
    );
    let status = match i.status {
        InvoiceStatus::Draft => "draft",
        InvoiceStatus::Final => "final",
    };
    let head = [
        field(&i.id),
        status.to_string(),
        i.period_start.clone(),
        i.period_end.clone(),
        field(&i.currency),
    ]
    .join(",");
    for l in &i.lines {
        out.push_str(&format!(
            "{head},{},{},{},{},{},{},{}\r\n",
            field(&l.cluster_id),
            l.dimension.as_str(),
            l.quantity,
            l.unit,
            l.unit_price,
            l.price_book_version,
            l.amount
        ));
    }
    out.push_str(&format!("{head},,total,,,,,{}\r\n", i.total));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_ids() {
        let march = 1_772_323_200_000; // 2026-03-01
        assert_eq!(month_id(march), "2026-03");
        assert_eq!(parse_month_id("2026-03"), Some(march));
        assert_eq!(rfc3339(next_month(march)), "2026-04-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(next_month(next_month(march) + 1_000)),
            "2026-05-01T00:00:00.000Z"
        );
        assert_eq!(parse_month_id("2026-13"), None);
        assert_eq!(parse_month_id("2026-3"), None);
    }

    #[test]
    fn csv_has_a_row_per_line_and_a_total() {
        let i = Invoice {
            id: "2026-03".into(),
            tenant_id: "t".into(),
            kind: InvoiceKind::Invoice,
            status: InvoiceStatus::Final,
            period_start: "2026-03-01T00:00:00.000Z".into(),
            period_end: "2026-04-01T00:00:00.000Z".into(),
            computed_until: "2026-04-01T00:00:00.000Z".into(),
            currency: "USD".into(),
            total: "0.30".into(),
            issued_at: None,
            adjusts: None,
            lines: vec![InvoiceLine {
                cluster_id: "c,1".into(),
                dimension: Dimension::DataIn,
                quantity: "3".into(),
                unit: "GB".into(),
                unit_price: "0.1".into(),
                price_book_version: 1,
                amount: "0.30".into(),
            }],
        };
        let csv = to_csv(&i);
        let rows: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(rows.len(), 4, "{csv}");
        assert_eq!(
            rows[1],
            "2026-03,final,2026-03-01T00:00:00.000Z,2026-04-01T00:00:00.000Z,USD,\"c,1\",data_in,3,GB,0.1,1,0.30"
        );
        assert!(rows[2].ends_with(",,total,,,,,0.30"));
    }
}
