//! SASL/SCRAM credentials of a cluster. The API generates a strong password, sets it on
//! the cluster for SCRAM-SHA-256 and SCRAM-SHA-512 (AlterUserScramCredentials: only the
//! salted form reaches the broker) and returns it once; the database keeps only the
//! username, the mechanisms and the creation time.
//!
//! Usernames are `<tenant name>.<credential name>`: names hold no dot, so they cannot
//! collide with the provisioner's internal users (`fjord-control`) or another tenant's.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::{OpenApi, ToSchema};

use crate::auth::{Action, Principal};
use crate::clusters::{self, machine::ClusterState};
use crate::db::{is_unique_violation, new_id, now_ms, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path, Query};
use crate::kafka::SaslMechanism;
use crate::pagination::{Page, PageParams, page_of, position_key};
use crate::state::AppState;
use crate::{tenants, validate};

/// PBKDF2 iterations of the stored SCRAM credentials (Kafka's minimum is 4096).
pub const SCRAM_ITERATIONS: u32 = 8192;
/// Mechanisms every credential gets.
pub const MECHANISMS: [SaslMechanism; 2] = [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}/credentials",
            get(list_credentials).post(create_credential),
        )
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}/credentials/{credential_id}",
            delete(revoke_credential),
        )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(create_credential, list_credentials, revoke_credential),
    components(schemas(Credential, CreatedCredential, CreateCredential, Page<Credential>))
)]
pub struct CredentialsApi;

/// A SASL/SCRAM credential (without its password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Credential {
    /// Credential id.
    pub id: String,
    /// The cluster it authenticates to.
    pub cluster_id: String,
    /// The name given at creation.
    pub name: String,
    /// `sasl.username` for Kafka clients.
    pub username: String,
    /// SASL mechanisms it works with.
    pub mechanisms: Vec<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// A new credential with its password, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedCredential {
    /// The credential.
    #[serde(flatten)]
    pub credential: Credential,
    /// `sasl.password`. Not retrievable later: store it now.
    pub password: String,
}

/// A credential to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCredential {
    /// 1 to 63 of a-z, 0-9 and '-'; the username is `<tenant name>.<name>`.
    pub name: String,
}

fn from_row(row: &AnyRow) -> Result<(i64, Credential)> {
    let created_at: i64 = row.try_get("created_at")?;
    let mechanisms: String = row.try_get("mechanisms")?;
    Ok((
        created_at,
        Credential {
            id: row.try_get("id")?,
            cluster_id: row.try_get("cluster_id")?,
            name: row.try_get("name")?,
            username: row.try_get("username")?,
            mechanisms: mechanisms.split(',').map(str::to_string).collect(),
            created_at: rfc3339(created_at),
        },
    ))
}

/// Create a SCRAM credential; the response holds the password, once.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/credentials", tag = "credentials",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id")),
    request_body = CreateCredential,
    responses(
        (status = 201, description = "Created; `password` is shown only now", body = CreatedCredential),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken, or the cluster is not ready", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_credential(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    Json(body): Json<CreateCredential>,
) -> Result<(StatusCode, Json<CreatedCredential>)> {
    let row = clusters::serving(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusterData,
    )
    .await?;
    validate::name("name", &body.name)?;
    let tenant = tenants::load(&state.db, &tenant_id).await?;
    let username = format!("{}.{}", tenant.name, body.name);
    let mechanisms: Vec<&str> = MECHANISMS.iter().map(|m| m.name()).collect();
    let id = new_id();
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO scram_credentials (id, cluster_id, tenant_id, name, username, mechanisms, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&row.id)
    .bind(&tenant_id)
    .bind(&body.name)
    .bind(&username)
    .bind(mechanisms.join(","))
    .bind(now)
    .execute(&state.db)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::Conflict(format!(
                "a credential named {:?} exists already on this cluster",
                body.name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let password = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
    if let Err(e) = set_on_cluster(&state, &row.id, &username, &password).await {
        sqlx::query("DELETE FROM scram_credentials WHERE id = $1")
            .bind(&id)
            .execute(&state.db)
            .await?;
        return Err(e);
    }
    tracing::info!(cluster_id = %row.id, %username, "created SCRAM credential");
    Ok((
        StatusCode::CREATED,
        Json(CreatedCredential {
            credential: Credential {
                id,
                cluster_id: row.id,
                name: body.name,
                username,
                mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(),
                created_at: rfc3339(now),
            },
            password,
        }),
    ))
}

async fn set_on_cluster(
    state: &AppState,
    cluster_id: &str,
    username: &str,
    password: &str,
) -> Result<()> {
    let mut admin = state.provisioner.admin(cluster_id).await?;
    for mechanism in MECHANISMS {
        admin
            .upsert_scram_credential(username, mechanism, password, SCRAM_ITERATIONS)
            .await?;
    }
    Ok(())
}

/// List the cluster's credentials (passwords are never shown again).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/credentials", tag = "credentials",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           PageParams),
    responses(
        (status = 200, description = "A page", body = Page<Credential>),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_credentials(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Credential>>> {
    let row = clusters::authorized(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::ReadClusterData,
    )
    .await?;
    let limit = page.limit()?;
    let at = page.position()?;
    let rows = sqlx::query(
        "SELECT id, cluster_id, name, username, mechanisms, created_at FROM scram_credentials \
         WHERE cluster_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
         ORDER BY created_at, id LIMIT $4",
    )
    .bind(&row.id)
    .bind(at.created_at)
    .bind(&at.id)
    .bind(i64::from(limit) + 1)
    .fetch_all(&state.db)
    .await?;
    let rows = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(Json(page_of(
        rows,
        limit,
        |(at, c)| position_key(*at, &c.id),
        |(_, c)| c,
    )))
}

/// Revoke a credential: removed from the cluster, then from the list.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/credentials/{credential_id}", tag = "credentials",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("credential_id" = String, Path, description = "Credential id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such cluster or credential", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cluster is not ready", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_credential(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id, credential_id)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    let row = clusters::authorized(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusterData,
    )
    .await?;
    let username: String = sqlx::query_scalar(
        "SELECT username FROM scram_credentials WHERE id = $1 AND cluster_id = $2",
    )
    .bind(&credential_id)
    .bind(&row.id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("credential {credential_id} not found")))?;
    if row.state.serving() {
        let mut admin = state.provisioner.admin(&row.id).await?;
        for mechanism in MECHANISMS {
            admin.delete_scram_credential(&username, mechanism).await?;
        }
    } else if row.state != ClusterState::Deleted {
        // Brokers that are starting or failing keep their credentials: revoke when they run.
        return Err(ApiError::ClusterNotReady(format!(
            "cluster {cluster_id} is {}; wait until it is ready",
            row.state.as_str()
        )));
    }
    sqlx::query("DELETE FROM scram_credentials WHERE id = $1")
        .bind(&credential_id)
        .execute(&state.db)
        .await?;
    tracing::info!(cluster_id = %row.id, %username, "revoked SCRAM credential");
    Ok(StatusCode::NO_CONTENT)
}
