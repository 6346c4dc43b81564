//! Cursor pagination, the same on every list: `?limit=&cursor=` in, `{items, next_cursor}`
//! out. A cursor is opaque to clients (base64url of the last item's sort key); lists in the
//! database sort by `(created_at, id)`, lists read from a cluster by name.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
pub const MAX_LIMIT: u32 = 500;

/// `?limit=&cursor=`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Where a database list resumes: after this `(created_at, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// `created_at` of the last item seen (-1 before the first page).
    pub created_at: i64,
    /// `id` of the last item seen.
    pub id: String,
}

impl PageParams {
    /// The page size, validated.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::Validation(format!(
                "limit must be between 1 and {MAX_LIMIT}, not {n}"
            ))),
        }
    }

    /// Where a `(created_at, id)` list resumes.
    pub fn position(&self) -> Result<Position, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(Position {
                created_at: -1,
                id: String::new(),
            });
        };
        let raw = decode(cursor)?;
        let (at, id) = raw.split_once(':').ok_or_else(bad_cursor)?;
        Ok(Position {
            created_at: at.parse().map_err(|_| bad_cursor())?,
            id: id.to_string(),
        })
    }

    /// Where a by-name list resumes: after this name (empty before the first page).
    pub fn after_name(&self) -> Result<String, ApiError> {
        self.cursor.as_deref().map_or(Ok(String::new()), decode)
    }
}

/// The page of `rows` (fetched with `LIMIT limit + 1`) and the cursor after its last item.
pub fn page_of<R, T>(
    mut rows: Vec<R>,
    limit: u32,
    key: impl Fn(&R) -> String,
    item: impl FnMut(R) -> T,
) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| encode(&key(r)))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(item).collect(),
        next_cursor,
    }
}

/// The cursor key of a `(created_at, id)` row.
pub fn position_key(created_at: i64, id: &str) -> String {
    format!("{created_at}:{id}")
}

fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode(cursor: &str) -> Result<String, ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    String::from_utf8(bytes).map_err(|_| bad_cursor())
}

fn bad_cursor() -> ApiError {
    ApiError::Validation("cursor is not a cursor this API returned; start again without it".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_pages_stop_at_the_end() {
        let rows: Vec<(i64, String)> = (0..5).map(|i| (i, format!("id{i}"))).collect();
        let page = page_of(rows.clone(), 3, |r| position_key(r.0, &r.1), |r| r.1);
        assert_eq!(page.items, ["id0", "id1", "id2"]);
        let params = PageParams {
            limit: Some(3),
            cursor: page.next_cursor,
        };
        let at = params.position().unwrap();
        assert_eq!((at.created_at, at.id.as_str()), (2, "id2"));
        let last = page_of(rows[3..].to_vec(), 3, |r| position_key(r.0, &r.1), |r| r.1);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn bad_limits_and_cursors_are_validation_errors() {
        let p = |limit, cursor: Option<&str>| PageParams {
            limit,
            cursor: cursor.map(str::to_string),
        };
        assert_eq!(p(None, None).limit().unwrap(), DEFAULT_LIMIT);
        assert!(p(Some(0), None).limit().is_err());
        assert!(p(Some(501), None).limit().is_err());
        assert!(p(None, Some("!!")).position().is_err());
        assert!(p(None, Some(&encode("nocolon"))).position().is_err());
        assert_eq!(p(None, None).position().unwrap().created_at, -1);
    }
}
