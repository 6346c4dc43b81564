//! API keys of users and service accounts: created by tenant admins (the secret is in the
//! creation response only), listed without secrets, revoked.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Action, Principal, keys};
use crate::db::{now_ms, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path, Query};
use crate::members;
use crate::pagination::{Page, PageParams, page_of, position_key};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/api-keys",
            get(list_api_keys).post(create_api_key),
        )
        .route(
            "/v1/tenants/{tenant_id}/api-keys/{key_id}",
            delete(revoke_api_key),
        )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(create_api_key, list_api_keys, revoke_api_key),
    components(schemas(ApiKey, CreatedApiKey, CreateApiKey, Page<ApiKey>))
)]
pub struct ApiKeysApi;

/// An API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// Key id (the part after `fjk_`).
    pub id: String,
    /// The user or service account it authenticates.
    pub principal_id: String,
    /// A label.
    pub name: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Revocation time, when revoked.
    pub revoked_at: Option<String>,
}

/// A new API key, with the secret key shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key's metadata.
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key to exchange at `POST /v1/auth/token`. Not retrievable later: store it now.
    pub key: String,
}

/// An API key to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// The user or service account of this tenant it authenticates.
    pub principal_id: String,
    /// A label, e.g. `ci`.
    pub name: String,
}

/// Filters of the API key list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyFilter {
    /// Only the keys of this principal.
    pub principal_id: Option<String>,
}

fn from_row(row: &AnyRow) -> Result<(i64, ApiKey)> {
    let created_at: i64 = row.try_get("created_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    Ok((
        created_at,
        ApiKey {
            id: row.try_get("id")?,
            principal_id: row.try_get("principal_id")?,
            name: row.try_get("name")?,
            created_at: rfc3339(created_at),
            revoked_at: revoked_at.map(rfc3339),
        },
    ))
}

/// Create an API key for a user or service account (tenant-admin).
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/api-keys", tag = "members",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id")),
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = CreatedApiKey),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or principal", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
    Json(body): Json<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
    principal
        .authorize(&state.db, &tenant_id, Action::ManageMembers)
        .await?;
    if body.name.is_empty() || body.name.len() > 100 {
        return Err(ApiError::Validation(
            "name must hold 1 to 100 characters".into(),
        ));
    }
    let owner = members::load_any(&state.db, &tenant_id, &body.principal_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("principal {} not found", body.principal_id)))?;
    let (key, created_at) =
        keys::create(&state.db, &owner.id, Some(&tenant_id), &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: ApiKey {
                id: key.id,
                principal_id: owner.id,
                name: body.name,
                created_at: rfc3339(created_at),
                revoked_at: None,
            },
            key: key.key,
        }),
    ))
}

/// List the API keys of a tenant (secrets are never shown again).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/api-keys", tag = "members",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"), KeyFilter, PageParams),
    responses(
        (status = 200, description = "A page", body = Page<ApiKey>),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
    Query(filter): Query<KeyFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ApiKey>>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadMembers)
        .await?;
    let limit = page.limit()?;
    let at = page.position()?;
    let rows = sqlx::query(
        "SELECT id, principal_id, name, created_at, revoked_at FROM api_keys \
         WHERE tenant_id = $1 AND ($2 = '' OR principal_id = $2) \
         AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
         ORDER BY created_at, id LIMIT $5",
    )
    .bind(&tenant_id)
    .bind(filter.principal_id.unwrap_or_default())
    .bind(at.created_at)
    .bind(&at.id)
    .bind(i64::from(limit) + 1)
    .fetch_all(&state.db)
    .await?;
    let rows = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(Json(page_of(
        rows,
        limit,
        |(at, k)| position_key(*at, &k.id),
        |(_, k)| k,
    )))
}

/// Revoke an API key (tenant-admin); tokens already issued expire on their own.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/api-keys/{key_id}", tag = "members",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("key_id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    principal
        .authorize(&state.db, &tenant_id, Action::ManageMembers)
        .await?;
    let updated = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 \
         WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(&key_id)
    .bind(&tenant_id)
    .execute(&state.db)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound(format!("API key {key_id} not found")));
    }
    Ok(StatusCode::NO_CONTENT)
}
