//! `Idempotency-Key` on POSTs that create billable things (clusters, topics).
//!
//! The first request with a key reserves it (a row with status 0) before doing anything;
//! on success the response (status and JSON body) is stored, on failure the reservation is
//! dropped so the client may retry. A later request with the same key and the same body
//! gets the stored response again (with `Idempotent-Replayed: true`); with another body, a
//! 422; while the first is still running, a 409 (after [`STALE_RESERVATION_MS`], the
//! reservation of a request that never finished is taken over). Keys are scoped to the caller's tenant and
//! the request path.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::auth::Principal;
use crate::db::{Db, is_unique_violation, now_ms};
use crate::error::{ApiError, Result};
use crate::extract::IdempotencyKey;

/// After this long, a reservation whose request never finished (the process died) is
/// taken over by the next request with the same key.
pub const STALE_RESERVATION_MS: i64 = 5 * 60 * 1000;

/// The response header marking a replay.
pub const REPLAYED: &str = "idempotent-replayed";

/// What to do with a request.
#[derive(Debug)]
pub enum Begin {
    /// Run it; complete or abort the reservation afterwards (`None`: no key was sent).
    Proceed(Option<Reservation>),
    /// Answer this stored response.
    Replay(Response),
}

/// A reserved key.
#[derive(Debug)]
pub struct Reservation {
    scope: String,
    key: String,
}

/// Looks the key up, reserving it when new.
pub async fn begin(
    db: &Db,
    principal: &Principal,
    path: &str,
    key: &IdempotencyKey,
    request: &impl Serialize,
) -> Result<Begin> {
    let Some(key) = &key.0 else {
        return Ok(Begin::Proceed(None));
    };
    let scope = format!(
        "{}:{path}",
        principal.tenant_id.as_deref().unwrap_or("platform")
    );
    let body = serde_json::to_vec(request)
        .map_err(|e| ApiError::Internal(format!("failed to hash a request: {e}")))?;
    let hash: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let reserved = sqlx::query(
        "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, 0, '', $4)",
    )
    .bind(&scope)
    .bind(key)
    .bind(&hash)
    .bind(now_ms())
    .execute(db)
    .await;
    match reserved {
        Ok(_) => {
            return Ok(Begin::Proceed(Some(Reservation {
                scope,
                key: key.clone(),
            })));
        }
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let row = sqlx::query(
        "SELECT request_hash, status, body FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
    )
    .bind(&scope)
    .bind(key)
    .fetch_one(db)
    .await?;
    let stored_hash: String = row.try_get("request_hash")?;
    let status: i64 = row.try_get("status")?;
    if stored_hash != hash {
        return Err(ApiError::Validation(
            "this Idempotency-Key was used with a different request body; use a new key".into(),
        ));
    }
    if status == 0 {
        // A reservation left by a crashed process is taken over once it is stale.
        let now = now_ms();
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET created_at = $1 \
             WHERE scope = $2 AND idem_key = $3 AND status = 0 AND created_at < $4",
        )
        .bind(now)
        .bind(&scope)
        .bind(key)
        .bind(now - STALE_RESERVATION_MS)
        .execute(db)
        .await?;
        if taken.rows_affected() == 1 {
            return Ok(Begin::Proceed(Some(Reservation {
                scope,
                key: key.clone(),
            })));
        }
        return Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still in progress; retry later".into(),
        ));
    }
    let body: String = row.try_get("body")?;
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ApiError::Internal(format!("stored status {status} is invalid")))?;
    let mut response = (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(Begin::Replay(response))
}

/// Stores the outcome of a reserved request: the response on success, nothing on failure
/// (the key is freed for a retry). Returns `outcome` as a response.
pub async fn finish<T: Serialize>(
    db: &Db,
    reservation: Option<Reservation>,
    outcome: Result<(StatusCode, T)>,
) -> Result<Response> {
    let Some(reservation) = reservation else {
        return outcome.map(|(status, body)| (status, axum::Json(body)).into_response());
    };
    match outcome {
        Ok((status, body)) => {
            let json = serde_json::to_string(&body)
                .map_err(|e| ApiError::Internal(format!("failed to store a response: {e}")))?;
            sqlx::query(
                "UPDATE idempotency_keys SET status = $1, body = $2 WHERE scope = $3 AND idem_key = $4",
            )
            .bind(i64::from(status.as_u16()))
            .bind(&json)
            .bind(&reservation.scope)
            .bind(&reservation.key)
            .execute(db)
            .await?;
            Ok((status, axum::Json(body)).into_response())
        }
        Err(e) => {
            sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2")
                .bind(&reservation.scope)
                .bind(&reservation.key)
                .execute(db)
                .await?;
            Err(e)
        }
    }
}
