//! Budgets: a tenant's monthly spending limit. When the open month's draft invoice crosses
//! 50, 80 and 100 % of it, the billing job records an alert (once per threshold and month,
//! `GET /v1/tenants/{id}/budget/alerts`) and, when the budget has a webhook URL, POSTs the
//! alert there as JSON; a delivery that fails is retried on the next passes, up to
//! [`MAX_ATTEMPTS`] attempts.

use std::str::FromStr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use utoipa::{OpenApi, ToSchema};

use super::invoices;
use crate::auth::{Action, Principal};
use crate::db::{Db, new_id, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path};
use crate::state::AppState;
use crate::usage::month_start;

/// The thresholds, in percent of the budget.
pub const THRESHOLDS: [i64; 3] = [50, 80, 100];
/// Delivery attempts of one alert's webhook.
pub const MAX_ATTEMPTS: i64 = 5;
/// Time limit of one webhook delivery.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// A tenant's monthly budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Budget {
    /// Spending limit per calendar month, in the invoice's currency (decimal string).
    pub monthly_amount: String,
    /// Where alerts are POSTed (an `http://` URL), if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A budget to set.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBudget {
    /// Spending limit per calendar month (decimal string > 0, at most 2 decimal places).
    pub monthly_amount: String,
    /// `http://host:port/path` to POST alerts to (https is not supported yet).
    pub webhook_url: Option<String>,
}

/// A threshold of the budget crossed in a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BudgetAlert {
    /// Alert id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Always `budget_threshold_crossed`.
    pub kind: String,
    /// The month (its start, RFC 3339).
    pub period_start: String,
    /// 50, 80 or 100.
    pub threshold_percent: i64,
    /// The draft invoice's total when the alert was raised (decimal string).
    pub spent: String,
    /// The budget then (decimal string).
    pub budget: String,
    /// Currency of both.
    pub currency: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// `none` (no webhook), `pending`, `delivered` or `failed` (after the last attempt).
    pub webhook_state: String,
}

/// Alerts, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BudgetAlertList {
    /// Alerts, newest first.
    pub items: Vec<BudgetAlert>,
}

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/budget",
            get(get_budget).put(put_budget).delete(delete_budget),
        )
        .route("/v1/tenants/{tenant_id}/budget/alerts", get(list_alerts))
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(get_budget, put_budget, delete_budget, list_alerts),
    components(schemas(Budget, SetBudget, BudgetAlert, BudgetAlertList))
)]
pub struct BudgetsApi;

/// A parsed `http://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WebhookUrl {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<WebhookUrl> {
    let bad = |why: &str| ApiError::Validation(format!("webhook_url {why} (got {url:?})"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("must start with http:// (https is not supported yet)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("needs a host and no user info"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| bad("has an invalid port"))?)
        }
        _ => (authority, 80),
    };
    if host.is_empty() || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("is not a valid URL"));
    }
    Ok(WebhookUrl {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        path: path.to_string(),
    })
}

fn parse_amount(s: &str) -> Result<Decimal> {
    let plain = s.trim().chars().all(|c| c.is_ascii_digit() || c == '.');
    let d = Decimal::from_str(s.trim())
        .ok()
        .filter(|_| plain)
        .ok_or_else(|| {
            ApiError::Validation(format!(
                "monthly_amount must be a decimal number as a string, like \"100.00\" (got {s:?})"
            ))
        })?;
    if d <= Decimal::ZERO || d.scale() > 2 {
        return Err(ApiError::Validation(
            "monthly_amount must be above 0 with at most 2 decimal places".into(),
        ));
    }
    Ok(d)
}

async fn load(db: &Db, tenant_id: &str) -> Result<Option<Budget>> {
    let row = sqlx::query(
        "SELECT monthly_amount, webhook_url, updated_at FROM budgets WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Budget {
            monthly_amount: r.try_get("monthly_amount")?,
            webhook_url: r.try_get("webhook_url")?,
            updated_at: rfc3339(r.try_get("updated_at")?),
        })
    })
    .transpose()
}

/// The tenant's budget.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/budget", tag = "billing",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The budget", body = Budget),
        (status = 404, description = "No budget set, or no such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_budget(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
) -> Result<Json<Budget>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadBilling)
        .await?;
    load(&state.db, &tenant_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("this tenant has no budget".into()))
}

/// Sets the tenant's monthly budget (roles `tenant-admin` and `billing`). Thresholds already
/// alerted this month are not alerted again.
#[utoipa::path(put, path = "/v1/tenants/{tenant_id}/budget", tag = "billing",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id")),
    request_body = SetBudget,
    responses(
        (status = 200, description = "Set", body = Budget),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid amount or URL", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_budget(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
    Json(body): Json<SetBudget>,
) -> Result<Json<Budget>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ManageBilling)
        .await?;
    let amount = parse_amount(&body.monthly_amount)?;
    if let Some(url) = &body.webhook_url {
        parse_url(url)?;
    }
    let now = state.clock.now_ms();
    sqlx::query(
        "INSERT INTO budgets (tenant_id, monthly_amount, webhook_url, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
         monthly_amount = excluded.monthly_amount, webhook_url = excluded.webhook_url, \
         updated_at = excluded.updated_at",
    )
    .bind(&tenant_id)
    .bind(amount.to_string())
    .bind(&body.webhook_url)
    .bind(now)
    .execute(&state.db)
    .await?;
    Ok(Json(Budget {
        monthly_amount: amount.to_string(),
        webhook_url: body.webhook_url,
        updated_at: rfc3339(now),
    }))
}

/// Removes the tenant's budget (its alerts stay).
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/budget", tag = "billing",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No budget set, or no such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_budget(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
) -> Result<StatusCode> {
    principal
        .authorize(&state.db, &tenant_id, Action::ManageBilling)
        .await?;
    let done = sqlx::query("DELETE FROM budgets WHERE tenant_id = $1")
        .bind(&tenant_id)
        .execute(&state.db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("this tenant has no budget".into()));
    }
    Ok(StatusCode::NO_CONTENT)
}

const ALERT_COLUMNS: &str = "id, tenant_id, month_start, threshold, spent, budget, currency, \
    created_at, webhook_url, webhook_state, attempts";

fn alert_of(r: &sqlx::any::AnyRow) -> Result<BudgetAlert> {
    Ok(BudgetAlert {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        kind: "budget_threshold_crossed".into(),
        period_start: rfc3339(r.try_get("month_start")?),
        threshold_percent: r.try_get("threshold")?,
        spent: r.try_get("spent")?,
        budget: r.try_get("budget")?,
        currency: r.try_get("currency")?,
        created_at: rfc3339(r.try_get("created_at")?),
        webhook_state: r.try_get("webhook_state")?,
    })
}

/// The tenant's budget alerts, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/budget/alerts", tag = "billing",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The alerts", body = BudgetAlertList),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_alerts(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
) -> Result<Json<BudgetAlertList>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadBilling)
        .await?;
    let rows = sqlx::query(&format!(
        "SELECT {ALERT_COLUMNS} FROM budget_alerts WHERE tenant_id = $1 \
         ORDER BY created_at DESC, threshold DESC LIMIT 500"
    ))
    .bind(&tenant_id)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(BudgetAlertList {
        items: rows.iter().map(alert_of).collect::<Result<_>>()?,
    }))
}

/// The thresholds `spent` has reached of `budget`.
pub fn crossed(spent: Decimal, budget: Decimal) -> Vec<i64> {
    THRESHOLDS
        .into_iter()
        .filter(|t| spent * Decimal::from(100) >= budget * Decimal::from(*t))
        .collect()
}

/// Raises the alerts of every budget whose tenant's open month crossed a threshold, and
/// delivers pending webhooks. Returns the alerts raised.
pub async fn check(state: &AppState) -> Result<usize> {
    let now = state.clock.now_ms();
    let month = month_start(now);
    let budgets = sqlx::query("SELECT tenant_id, monthly_amount, webhook_url FROM budgets")
        .fetch_all(&state.db)
        .await?;
    let mut raised = 0;
    for r in &budgets {
        let tenant_id: String = r.try_get("tenant_id")?;
        let amount: String = r.try_get("monthly_amount")?;
        let webhook: Option<String> = r.try_get("webhook_url")?;
        let budget = Decimal::from_str(&amount)
            .map_err(|e| ApiError::Internal(format!("stored budget {amount:?}: {e}")))?;
        let draft = invoices::draft(&state.db, &tenant_id, month, now).await?;
        let spent = Decimal::from_str(&draft.total)
            .map_err(|e| ApiError::Internal(format!("draft total {:?}: {e}", draft.total)))?;
        for threshold in crossed(spent, budget) {
            let inserted = sqlx::query(&format!(
                "INSERT INTO budget_alerts ({ALERT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0) \
                 ON CONFLICT (tenant_id, month_start, threshold) DO NOTHING"
            ))
            .bind(new_id())
            .bind(&tenant_id)
            .bind(month)
            .bind(threshold)
            .bind(&draft.total)
            .bind(budget.to_string())
            .bind(&draft.currency)
            .bind(now)
            .bind(&webhook)
            .bind(if webhook.is_some() { "pending" } else { "none" })
            .execute(&state.db)
            .await?;
            if inserted.rows_affected() > 0 {
                tracing::info!(tenant_id, threshold, spent = %draft.total, "budget threshold crossed");
                raised += 1;
            }
        }
    }
    deliver_pending(state).await?;
    Ok(raised)
}

async fn deliver_pending(state: &AppState) -> Result<()> {
    let rows = sqlx::query(&format!(
        "SELECT {ALERT_COLUMNS} FROM budget_alerts WHERE webhook_state = 'pending' \
         ORDER BY created_at, threshold LIMIT 100"
    ))
    .fetch_all(&state.db)
    .await?;
    for r in &rows {
        let alert = alert_of(r)?;
        let url: Option<String> = r.try_get("webhook_url")?;
        let attempts: i64 = r.try_get("attempts")?;
        let Some(url) = url else { continue };
        let body = serde_json::to_vec(&alert)
            .map_err(|e| ApiError::Internal(format!("alert JSON: {e}")))?;
        let outcome = match parse_url(&url) {
            Ok(target) => post(&target, &body).await,
            Err(e) => Err(e.to_string()),
        };
        let next_state = match &outcome {
            Ok(()) => "delivered",
            Err(_) if attempts + 1 >= MAX_ATTEMPTS => "failed",
            Err(_) => "pending",
        };
        if let Err(e) = &outcome {
            tracing::warn!(alert = alert.id, url, error = %e, "budget webhook delivery failed");
        }
        sqlx::query(
            "UPDATE budget_alerts SET webhook_state = $1, attempts = attempts + 1 WHERE id = $2",
        )
        .bind(next_state)
        .bind(&alert.id)
        .execute(&state.db)
        .await?;
    }
    Ok(())
}

/// POSTs `body` (JSON) to `url` over HTTP/1.1; `Ok` on a 2xx answer.
async fn post(url: &WebhookUrl, body: &[u8]) -> Result<(), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nUser-Agent: fjord\r\nConnection: close\r\n\r\n",
            url.path,
            url.host,
            url.port,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        stream
            .write_all(body)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = [0_u8; 64];
        let mut read = 0;
        while read < 12 {
            let n = stream
                .read(&mut answer[read..])
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let status_line = String::from_utf8_lossy(&answer[..read]).to_string();
        match status_line.split(' ').nth(1) {
            Some(code) if code.starts_with('2') && code.len() == 3 => Ok(()),
            _ => Err(format!(
                "answer: {:?}",
                status_line.lines().next().unwrap_or("")
            )),
        }
    };
    tokio::time::timeout(WEBHOOK_TIMEOUT, exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_crossed_at_or_above_their_share() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert!(crossed(d("49.99"), d("100")).is_empty());
        assert_eq!(crossed(d("50.00"), d("100")), [50]);
        assert_eq!(crossed(d("80"), d("100")), [50, 80]);
        assert_eq!(crossed(d("250"), d("100")), [50, 80, 100]);
    }

    #[test]
    fn webhook_urls_are_plain_http() {
        assert_eq!(
            parse_url("http://127.0.0.1:9000/hooks/budget").unwrap(),
            WebhookUrl {
                host: "127.0.0.1".into(),
                port: 9000,
                path: "/hooks/budget".into()
            }
        );
        assert_eq!(parse_url("http://example.com").unwrap().port, 80);
        assert!(parse_url("https://example.com/").is_err());
        assert!(parse_url("http://user@host/").is_err());
        assert!(parse_url("http://host:99999/").is_err());
        assert!(parse_url("http:///x").is_err());
        assert!(parse_amount("0").is_err());
        assert!(parse_amount("1.005").is_err());
        assert_eq!(parse_amount("100.5").unwrap().to_string(), "100.5");
    }
}
