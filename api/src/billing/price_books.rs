//! Price books: versioned, effective-dated unit prices with a currency, kept in
//! `price_books`. Versions are never changed: a new price is a new version with its
//! `effective_from`; every hour is priced by the book in force at its start
//! ([`super::compute::book_at`]).
//!
//! The first start inserts version 1 with the defaults ([`Prices::defaults`], USD, in force
//! since the epoch). The service operator adds versions with `POST /v1/price-books`
//! (platform administrators only) or with a file given to `fjord serve`/`fjord dev`
//! (`--price-book`, `FJORD_PRICE_BOOK`), added as a new version at start unless the newest
//! version already says the same.

use std::str::FromStr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{OpenApi, ToSchema};

use super::compute::{Book, HOUR_MS, Prices};
use crate::auth::Principal;
use crate::db::{Db, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// Largest number of decimal places of a unit price.
const PRICE_DP: u32 = 6;

/// Unit prices, as decimal strings (no floating point).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitPrices {
    /// Per GB (10^9 bytes) produced, e.g. `"0.10"`.
    pub data_in_per_gb: String,
    /// Per GB consumed, e.g. `"0.05"`.
    pub data_out_per_gb: String,
    /// Per GB-month stored (prorated by the hour), e.g. `"0.10"`.
    pub storage_per_gb_month: String,
    /// Per partition-hour, e.g. `"0.0015"`.
    pub partition_hour: String,
    /// Per cluster-hour, e.g. `"0.75"`.
    pub cluster_hour: String,
}

impl UnitPrices {
    fn of(p: &Prices) -> UnitPrices {
        UnitPrices {
            data_in_per_gb: p.data_in_per_gb.to_string(),
            data_out_per_gb: p.data_out_per_gb.to_string(),
            storage_per_gb_month: p.storage_per_gb_month.to_string(),
            partition_hour: p.partition_hour.to_string(),
            cluster_hour: p.cluster_hour.to_string(),
        }
    }

    /// Parses and checks every price: a decimal ≥ 0 with at most 6 decimal places.
    pub fn parse(&self) -> Result<Prices> {
        let one = |name: &str, v: &str| -> Result<Decimal> {
            // Plain decimal notation only (no exponents, no signs but a minus).
            let plain = v
                .trim()
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
            let d = Decimal::from_str(v.trim()).ok().filter(|_| plain).ok_or_else(|| {
                ApiError::Validation(format!(
                    "prices.{name} must be a decimal number as a string, like \"0.10\" (got {v:?})"
                ))
            })?;
            if d.is_sign_negative() {
                return Err(ApiError::Validation(format!(
                    "prices.{name} must not be negative"
                )));
            }
            if d.scale() > PRICE_DP {
                return Err(ApiError::Validation(format!(
                    "prices.{name} has more than {PRICE_DP} decimal places"
                )));
            }
            Ok(d)
        };
        Ok(Prices {
            data_in_per_gb: one("data_in_per_gb", &self.data_in_per_gb)?,
            data_out_per_gb: one("data_out_per_gb", &self.data_out_per_gb)?,
            storage_per_gb_month: one("storage_per_gb_month", &self.storage_per_gb_month)?,
            partition_hour: one("partition_hour", &self.partition_hour)?,
            cluster_hour: one("cluster_hour", &self.cluster_hour)?,
        })
    }
}

/// A price book version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriceBook {
    /// Version, from 1 up.
    pub version: i64,
    /// In force from (RFC 3339, a whole UTC hour) until a newer version takes over.
    pub effective_from: String,
    /// ISO 4217 currency code of every price, e.g. `USD`.
    pub currency: String,
    /// Unit prices.
    pub prices: UnitPrices,
    /// The operator's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When this version was added (RFC 3339).
    pub created_at: String,
}

/// A new price book version (also the format of the `--price-book` file, JSON).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPriceBook {
    /// In force from (RFC 3339, a whole UTC hour); default: the start of the next hour.
    /// A version changing the currency must start at the start of a UTC month (an invoice
    /// has one currency).
    pub effective_from: Option<String>,
    /// ISO 4217 code: three capital letters.
    pub currency: String,
    /// Unit prices.
    pub prices: UnitPrices,
    /// A note for the record.
    pub note: Option<String>,
}

/// A list of price book versions, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceBookList {
    /// Versions, oldest first.
    pub items: Vec<PriceBook>,
}

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/price-books", get(list_books).post(create_book))
        .route("/v1/price-books/{version}", get(get_book))
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_books, create_book, get_book),
    components(schemas(PriceBook, NewPriceBook, UnitPrices, PriceBookList))
)]
pub struct PriceBooksApi;

fn book_from_row(r: &sqlx::any::AnyRow) -> Result<(Book, PriceBook)> {
    let get = |c: &str| -> Result<Decimal> {
        let s: String = r.try_get(c)?;
        Decimal::from_str(&s)
            .map_err(|e| ApiError::Internal(format!("price_books.{c} {s:?} is not a decimal: {e}")))
    };
    let prices = Prices {
        data_in_per_gb: get("data_in_per_gb")?,
        data_out_per_gb: get("data_out_per_gb")?,
        storage_per_gb_month: get("storage_per_gb_month")?,
        partition_hour: get("partition_hour")?,
        cluster_hour: get("cluster_hour")?,
    };
    let book = Book {
        version: r.try_get("version")?,
        effective_from: r.try_get("effective_from")?,
        currency: r.try_get("currency")?,
        prices,
    };
    let shown = PriceBook {
        version: book.version,
        effective_from: rfc3339(book.effective_from),
        currency: book.currency.clone(),
        prices: UnitPrices::of(&prices),
        note: r.try_get("note")?,
        created_at: rfc3339(r.try_get("created_at")?),
    };
    Ok((book, shown))
}

const COLUMNS: &str = "version, effective_from, currency, data_in_per_gb, data_out_per_gb, \
    storage_per_gb_month, partition_hour, cluster_hour, note, created_at";

/// Every version, oldest first.
pub async fn all(db: &Db) -> Result<Vec<(Book, PriceBook)>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM price_books ORDER BY version"
    ))
    .fetch_all(db)
    .await?;
    rows.iter().map(book_from_row).collect()
}

/// Every version as the computation needs it.
pub async fn books(db: &Db) -> Result<Vec<Book>> {
    Ok(all(db).await?.into_iter().map(|(b, _)| b).collect())
}

/// Checks `new` against the existing `books` and returns (effective_from, currency, prices).
fn validate(new: &NewPriceBook, books: &[Book], now: i64) -> Result<(i64, String, Prices)> {
    let currency = new.currency.trim().to_string();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::Validation(format!(
            "currency must be an ISO 4217 code of three capital letters, like USD (got {:?})",
            new.currency
        )));
    }
    let prices = new.prices.parse()?;
    let effective_from = match &new.effective_from {
        Some(t) => crate::usage::parse_time("effective_from", t)?,
        None => (now.div_euclid(HOUR_MS) + 1) * HOUR_MS,
    };
    if effective_from.rem_euclid(HOUR_MS) != 0 {
        return Err(ApiError::Validation(
            "effective_from must be a whole UTC hour, like 2026-12-01T00:00:00Z".into(),
        ));
    }
    if let Some(note) = &new.note
        && note.len() > 500
    {
        return Err(ApiError::Validation(
            "note must be at most 500 bytes".into(),
        ));
    }
    let before = super::compute::book_at(books, effective_from - 1);
    if let Some(before) = before
        && before.currency != currency
        && crate::usage::month_start(effective_from) != effective_from
    {
        return Err(ApiError::Validation(format!(
            "the book in force before {} is in {}: a change of currency must take effect at the start of a UTC month",
            rfc3339(effective_from),
            before.currency
        )));
    }
    Ok((effective_from, currency, prices))
}

/// Adds a version; returns it.
pub async fn insert(db: &Db, new: &NewPriceBook, now: i64) -> Result<PriceBook> {
    let books = books(db).await?;
    let (effective_from, currency, prices) = validate(new, &books, now)?;
    let version = books.iter().map(|b| b.version).max().unwrap_or(0) + 1;
    let inserted = sqlx::query(&format!(
        "INSERT INTO price_books ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(version)
    .bind(effective_from)
    .bind(&currency)
    .bind(prices.data_in_per_gb.to_string())
    .bind(prices.data_out_per_gb.to_string())
    .bind(prices.storage_per_gb_month.to_string())
    .bind(prices.partition_hour.to_string())
    .bind(prices.cluster_hour.to_string())
    .bind(&new.note)
    .bind(now)
    .execute(db)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if crate::db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(
                "another price book version was added at the same time; retry".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(PriceBook {
        version,
        effective_from: rfc3339(effective_from),
        currency,
        prices: UnitPrices::of(&prices),
        note: new.note.clone(),
        created_at: rfc3339(now),
    })
}

/// Inserts version 1 (the defaults, USD, in force since the epoch) into an empty table.
pub async fn ensure_default(db: &Db, now: i64) -> Result<()> {
    let d = Prices::defaults();
    sqlx::query(&format!(
        "INSERT INTO price_books ({COLUMNS}) VALUES (1, 0, 'USD', $1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (version) DO NOTHING"
    ))
    .bind(d.data_in_per_gb.to_string())
    .bind(d.data_out_per_gb.to_string())
    .bind(d.storage_per_gb_month.to_string())
    .bind(d.partition_hour.to_string())
    .bind(d.cluster_hour.to_string())
    .bind("the defaults (the shape of Amazon MSK Serverless prices)")
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Loads a price book file (JSON, [`NewPriceBook`]) and adds it as a new version unless the
/// newest version has the same currency, prices and effective time. Returns the version
/// added, if any.
pub async fn load_file(db: &Db, path: &std::path::Path, now: i64) -> anyhow::Result<Option<i64>> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the price book {}", path.display()))?;
    let new: NewPriceBook = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid price book", path.display()))?;
    let prices = new
        .prices
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let existing = books(db).await?;
    if let Some(newest) = existing.iter().max_by_key(|b| b.version) {
        let same_time = match &new.effective_from {
            Some(t) => {
                crate::usage::parse_time("effective_from", t).ok() == Some(newest.effective_from)
            }
            None => true,
        };
        if newest.currency == new.currency.trim() && newest.prices == prices && same_time {
            return Ok(None);
        }
    }
    let added = insert(db, &new, now)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Some(added.version))
}

/// Every price book version, oldest first. Any signed-in caller may read prices.
#[utoipa::path(get, path = "/v1/price-books", tag = "billing",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The versions", body = PriceBookList),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_books(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<Json<PriceBookList>> {
    Ok(Json(PriceBookList {
        items: all(&state.db).await?.into_iter().map(|(_, b)| b).collect(),
    }))
}

/// One price book version.
#[utoipa::path(get, path = "/v1/price-books/{version}", tag = "billing",
    security(("bearer" = [])),
    params(("version" = i64, Path, description = "Version")),
    responses(
        (status = 200, description = "The version", body = PriceBook),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_book(
    State(state): State<AppState>,
    _principal: Principal,
    Path(version): Path<i64>,
) -> Result<Json<PriceBook>> {
    all(&state.db)
        .await?
        .into_iter()
        .map(|(_, b)| b)
        .find(|b| b.version == version)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("price book version {version} not found")))
}

/// Adds a price book version (platform administrators only). Versions are never changed;
/// a version in force from the past re-prices draft invoices, never final ones.
#[utoipa::path(post, path = "/v1/price-books", tag = "billing",
    security(("bearer" = [])),
    request_body = NewPriceBook,
    responses(
        (status = 201, description = "Added", body = PriceBook),
        (status = 403, description = "Not a platform administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid prices, currency or time", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_book(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewPriceBook>,
) -> Result<(StatusCode, Json<PriceBook>)> {
    principal.require_admin()?;
    let book = insert(&state.db, &body, state.clock.now_ms()).await?;
    tracing::info!(version = book.version, effective_from = %book.effective_from, "price book added");
    Ok((StatusCode::CREATED, Json(book)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(currency: &str, from: Option<&str>) -> NewPriceBook {
        NewPriceBook {
            effective_from: from.map(Into::into),
            currency: currency.into(),
            prices: UnitPrices::of(&Prices::defaults()),
            note: None,
        }
    }

    #[test]
    fn books_are_checked_before_they_are_stored() {
        let usd = [Book {
            version: 1,
            effective_from: 0,
            currency: "USD".into(),
            prices: Prices::defaults(),
        }];
        let now = 1_772_323_200_000 + 90 * 60_000; // 2026-03-01T01:30Z
        let (at, _, _) = validate(&new("USD", None), &usd, now).unwrap();
        assert_eq!(at, 1_772_323_200_000 + 2 * HOUR_MS, "the next whole hour");
        assert!(validate(&new("usd", None), &usd, now).is_err());
        assert!(validate(&new("USD", Some("2026-03-01T01:30:00Z")), &usd, now).is_err());
        // A change of currency only at a month's start.
        assert!(validate(&new("EUR", Some("2026-03-02T00:00:00Z")), &usd, now).is_err());
        assert!(validate(&new("EUR", Some("2026-04-01T00:00:00Z")), &usd, now).is_ok());
        let mut bad = new("USD", None);
        bad.prices.partition_hour = "0.0000001".into();
        assert!(validate(&bad, &usd, now).is_err(), "7 decimal places");
        bad.prices.partition_hour = "-1".into();
        assert!(validate(&bad, &usd, now).is_err());
        bad.prices.partition_hour = "1e3".into();
        assert!(validate(&bad, &usd, now).is_err());
    }
}
