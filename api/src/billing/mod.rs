//! Billing: price books, invoices and budgets over the hourly usage that
//! [`crate::usage`] collects.
//!
//! # Layout
//!
//! - [`compute`]: the invoice computation and its rounding rules, pure functions.
//! - [`price_books`]: versioned, effective-dated unit prices (`/v1/price-books`).
//! - [`invoices`]: drafts, finalisation, adjustments, JSON and CSV
//!   (`/v1/tenants/{id}/invoices`).
//! - [`budgets`]: monthly budgets, their threshold alerts and webhooks
//!   (`/v1/tenants/{id}/budget`).
//!
//! [`run_once`] is the billing job: the collector runs it after each pass.

pub mod budgets;
pub mod compute;
pub mod invoices;
pub mod price_books;

use axum::Router;

use crate::error::Result;
use crate::state::AppState;

/// The routes of billing.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(price_books::router())
        .merge(invoices::router())
        .merge(budgets::router())
}

/// One pass of the billing job: finalises closed months, issues adjustments, raises budget
/// alerts and delivers their webhooks. Returns (invoices stored, alerts raised).
pub async fn run_once(state: &AppState) -> Result<(usize, usize)> {
    let issued = invoices::finalize_due(state).await?;
    let alerts = budgets::check(state).await?;
    Ok((issued, alerts))
}
