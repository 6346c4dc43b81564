//! Tenants: created, listed and deleted by platform administrators; readable by their own
//! members.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::{OpenApi, ToSchema};

use crate::auth::{Action, Principal, tenant_not_found};
use crate::db::{is_unique_violation, new_id, now_ms, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams, page_of, position_key};
use crate::state::AppState;
use crate::validate;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/v1/tenants/{tenant_id}",
            get(get_tenant).delete(delete_tenant),
        )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(create_tenant, list_tenants, get_tenant, delete_tenant),
    components(schemas(Tenant, CreateTenant, Page<Tenant>))
)]
pub struct TenantsApi;

/// A tenant: an organisation whose clusters, users and bills are isolated from others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// Unique name (a DNS label); prefixes the tenant's SASL usernames.
    pub name: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// A tenant to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Unique name: 1 to 63 of a-z, 0-9 and '-'.
    pub name: String,
}

fn tenant(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

/// The live tenant `tenant_id` (404 when deleted or unknown).
pub async fn load(db: &crate::db::Db, tenant_id: &str) -> Result<Tenant> {
    let row = sqlx::query(
        "SELECT id, name, created_at FROM tenants WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(tenant_id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| tenant_not_found(tenant_id))?;
    tenant(&row)
}

/// Create a tenant (platform administrators only).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants",
    security(("bearer" = [])),
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created", body = Tenant),
        (status = 403, description = "Not a platform administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_tenant(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>)> {
    principal.require_admin()?;
    validate::name("name", &body.name)?;
    let id = new_id();
    let now = now_ms();
    let inserted = sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(&body.name)
        .bind(now)
        .execute(&state.db)
        .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::Conflict(format!(
                "a tenant named {:?} exists already",
                body.name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(tenant_id = %id, name = %body.name, "created tenant");
    Ok((
        StatusCode::CREATED,
        Json(Tenant {
            id,
            name: body.name,
            created_at: rfc3339(now),
        }),
    ))
}

/// List tenants (platform administrators only).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of tenants", body = Page<Tenant>),
        (status = 403, description = "Not a platform administrator", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_tenants(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Tenant>>> {
    principal.require_admin()?;
    let limit = page.limit()?;
    let at = page.position()?;
    let rows = sqlx::query(
        "SELECT id, name, created_at FROM tenants WHERE deleted_at IS NULL \
         AND (created_at > $1 OR (created_at = $1 AND id > $2)) \
         ORDER BY created_at, id LIMIT $3",
    )
    .bind(at.created_at)
    .bind(&at.id)
    .bind(i64::from(limit) + 1)
    .fetch_all(&state.db)
    .await?;
    let tenants = rows.iter().map(tenant).collect::<Result<Vec<_>>>()?;
    let created: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get("created_at"))
        .collect::<Result<_, _>>()?;
    let keyed: Vec<(i64, Tenant)> = created.into_iter().zip(tenants).collect();
    Ok(Json(page_of(
        keyed,
        limit,
        |(at, t)| position_key(*at, &t.id),
        |(_, t)| t,
    )))
}

/// Get a tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_tenant(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
) -> Result<Json<Tenant>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadTenant)
        .await?;
    Ok(Json(load(&state.db, &tenant_id).await?))
}

/// Delete a tenant (platform administrators only). Its clusters must be deleted first.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not a platform administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant still has clusters", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_tenant(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant_id): Path<String>,
) -> Result<StatusCode> {
    principal.require_admin()?;
    load(&state.db, &tenant_id).await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM clusters WHERE tenant_id = $1 AND state <> 'deleted'",
    )
    .bind(&tenant_id)
    .fetch_one(&state.db)
    .await?;
    if live > 0 {
        return Err(ApiError::Conflict(format!(
            "tenant {tenant_id} still has {live} cluster(s); delete them first"
        )));
    }
    sqlx::query("UPDATE tenants SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(now_ms())
        .bind(&tenant_id)
        .execute(&state.db)
        .await?;
    tracing::info!(%tenant_id, "deleted tenant");
    Ok(StatusCode::NO_CONTENT)
}
