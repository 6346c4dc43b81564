//! Extractors that answer malformed requests with problems ([`ApiError`]) instead of axum's
//! plain-text rejections, and the request headers the API understands (`If-Match`,
//! `Idempotency-Key`).

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

/// `axum::Json` whose rejection is a problem (400 for bad syntax, 422 for wrong fields).
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` whose rejection is a problem.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` whose rejection is a problem.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The `If-Match` header, when sent: the ETag the client last saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatch(pub Option<String>);

impl IfMatch {
    /// `Err(412)` when the header is present and matches neither `*` nor `current`.
    pub fn check(&self, current: &str) -> Result<(), ApiError> {
        let Some(sent) = &self.0 else {
            return Ok(());
        };
        let matches = sent
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == current);
        if matches {
            Ok(())
        } else {
            Err(ApiError::PreconditionFailed(format!(
                "If-Match {sent} does not match the current ETag {current}; fetch the resource again and retry"
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        header_value(parts, "if-match").map(IfMatch)
    }
}

/// The `Idempotency-Key` header, when sent (1 to 255 visible ASCII characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let key = header_value(parts, "idempotency-key")?;
        if let Some(k) = &key
            && (k.is_empty() || k.len() > 255)
        {
            return Err(ApiError::BadRequest(
                "Idempotency-Key must hold 1 to 255 characters".into(),
            ));
        }
        Ok(IdempotencyKey(key))
    }
}

/// The header `name` as a string, `None` when absent, 400 when not visible ASCII.
fn header_value(parts: &Parts, name: &str) -> Result<Option<String>, ApiError> {
    parts
        .headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(|s| s.trim().to_string())
                .map_err(|_| ApiError::BadRequest(format!("the {name} header must be ASCII")))
        })
        .transpose()
}

/// The ETag of a resource at `version`: a strong, quoted tag.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_the_current_tag_star_and_absence() {
        assert!(IfMatch(None).check("\"3\"").is_ok());
        assert!(IfMatch(Some("\"3\"".into())).check("\"3\"").is_ok());
        assert!(IfMatch(Some("*".into())).check("\"3\"").is_ok());
        assert!(
            IfMatch(Some("\"1\", W/\"3\"".into()))
                .check("\"3\"")
                .is_ok()
        );
        let e = IfMatch(Some("\"2\"".into())).check("\"3\"").unwrap_err();
        assert!(matches!(e, ApiError::PreconditionFailed(_)));
    }
}
