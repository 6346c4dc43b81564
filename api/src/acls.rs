//! Kafka ACLs of a cluster: create, list, delete. Each is stored in the database and pushed
//! to the cluster's brokers (CreateAcls / DeleteAcls through the admin client as the
//! control plane's super user); the brokers enforce them (`authorizer.class.name`), so a new
//! credential may do nothing until an ACL allows it.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::{OpenApi, ToSchema};

use fjord_broker::security::acl::{self as kafka, AclBinding, Operation, Permission};

use crate::auth::{Action, Principal};
use crate::clusters;
use crate::db::{new_id, now_ms, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams, page_of, position_key};
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}/acls",
            get(list_acls).post(create_acl),
        )
        .route(
            "/v1/tenants/{tenant_id}/clusters/{cluster_id}/acls/{acl_id}",
            delete(delete_acl),
        )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(create_acl, list_acls, delete_acl),
    components(schemas(
        Acl, CreateAcl, ResourceType, PatternType, AclOperation, AclPermission, Page<Acl>
    ))
)]
pub struct AclsApi;

/// Kafka resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceType {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster.
    Cluster,
    /// A transactional id.
    TransactionalId,
}

/// How `resource_name` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PatternType {
    /// Exactly this name (`*` = every resource).
    Literal,
    /// Every name starting with it.
    Prefixed,
}

/// Kafka operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AclOperation {
    /// Every operation.
    All,
    /// Consume, read offsets.
    Read,
    /// Produce.
    Write,
    /// Create topics.
    Create,
    /// Delete topics or records.
    Delete,
    /// Change partitions.
    Alter,
    /// Metadata, offsets.
    Describe,
    /// Inter-broker and admin actions.
    ClusterAction,
    /// Read configs.
    DescribeConfigs,
    /// Change configs.
    AlterConfigs,
    /// Idempotent produce.
    IdempotentWrite,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AclPermission {
    /// Grants the operation.
    Allow,
    /// Refuses it, over any allow.
    Deny,
}

/// An ACL to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAcl {
    /// `User:<username>`, e.g. a credential's username, or `User:*`.
    pub principal: String,
    /// Resource type.
    pub resource_type: ResourceType,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// Resource name (or prefix); `kafka-cluster` for the cluster.
    pub resource_name: String,
    /// Operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermission,
}

/// An ACL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Acl {
    /// ACL id.
    pub id: String,
    /// The cluster.
    pub cluster_id: String,
    /// `User:<username>`.
    pub principal: String,
    /// Resource type.
    pub resource_type: ResourceType,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// Resource name (or prefix).
    pub resource_name: String,
    /// Operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermission,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// The broker's form of an ACL (from every host).
fn binding(acl: &Acl) -> AclBinding {
    AclBinding {
        resource_type: match acl.resource_type {
            ResourceType::Topic => kafka::ResourceType::Topic,
            ResourceType::Group => kafka::ResourceType::Group,
            ResourceType::Cluster => kafka::ResourceType::Cluster,
            ResourceType::TransactionalId => kafka::ResourceType::TransactionalId,
        },
        resource_name: acl.resource_name.clone(),
        pattern_type: match acl.pattern_type {
            PatternType::Literal => kafka::PatternType::Literal,
            PatternType::Prefixed => kafka::PatternType::Prefixed,
        },
        principal: acl.principal.clone(),
        host: "*".into(),
        operation: match acl.operation {
            AclOperation::All => Operation::All,
            AclOperation::Read => Operation::Read,
            AclOperation::Write => Operation::Write,
            AclOperation::Create => Operation::Create,
            AclOperation::Delete => Operation::Delete,
            AclOperation::Alter => Operation::Alter,
            AclOperation::Describe => Operation::Describe,
            AclOperation::ClusterAction => Operation::ClusterAction,
            AclOperation::DescribeConfigs => Operation::DescribeConfigs,
            AclOperation::AlterConfigs => Operation::AlterConfigs,
            AclOperation::IdempotentWrite => Operation::IdempotentWrite,
        },
        permission: match acl.permission {
            AclPermission::Allow => Permission::Allow,
            AclPermission::Deny => Permission::Deny,
        },
    }
}

/// The stored name of an enum value (its JSON string).
fn stored<T: Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(ApiError::Internal("an ACL enum is not a string".into())),
    }
}

fn parse<T: serde::de::DeserializeOwned>(name: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(name))
        .map_err(|e| ApiError::Internal(format!("bad ACL value in the database: {e}")))
}

fn from_row(row: &AnyRow) -> Result<(i64, Acl)> {
    let created_at: i64 = row.try_get("created_at")?;
    Ok((
        created_at,
        Acl {
            id: row.try_get("id")?,
            cluster_id: row.try_get("cluster_id")?,
            principal: row.try_get("principal")?,
            resource_type: parse(row.try_get("resource_type")?)?,
            pattern_type: parse(row.try_get("pattern_type")?)?,
            resource_name: row.try_get("resource_name")?,
            operation: parse(row.try_get("operation")?)?,
            permission: parse(row.try_get("permission")?)?,
            created_at: rfc3339(created_at),
        },
    ))
}

/// Create an ACL on the cluster (it takes effect on the brokers before this answers).
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/acls", tag = "acls",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id")),
    request_body = CreateAcl,
    responses(
        (status = 201, description = "Created", body = Acl),
        (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid ACL", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_acl(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    Json(body): Json<CreateAcl>,
) -> Result<(StatusCode, Json<Acl>)> {
    let row = clusters::serving(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusterData,
    )
    .await?;
    let user = body.principal.strip_prefix("User:").unwrap_or("");
    if user.is_empty() || user.len() > 255 {
        return Err(ApiError::Validation(format!(
            "principal must be `User:<username>` or `User:*` (got {:?})",
            body.principal
        )));
    }
    if body.resource_name.is_empty() || body.resource_name.len() > 255 {
        return Err(ApiError::Validation(
            "resource_name must hold 1 to 255 characters".into(),
        ));
    }
    let now = now_ms();
    let acl = Acl {
        id: new_id(),
        cluster_id: row.id,
        principal: body.principal,
        resource_type: body.resource_type,
        pattern_type: body.pattern_type,
        resource_name: body.resource_name,
        operation: body.operation,
        permission: body.permission,
        created_at: rfc3339(now),
    };
    // The broker's own rules (the cluster resource is `kafka-cluster`, no PREFIXED `*`).
    binding(&acl).validate().map_err(ApiError::Validation)?;
    sqlx::query(
        "INSERT INTO acls (id, cluster_id, tenant_id, principal, resource_type, pattern_type, \
         resource_name, operation, permission, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&acl.id)
    .bind(&acl.cluster_id)
    .bind(&tenant_id)
    .bind(&acl.principal)
    .bind(stored(&acl.resource_type)?)
    .bind(stored(&acl.pattern_type)?)
    .bind(&acl.resource_name)
    .bind(stored(&acl.operation)?)
    .bind(stored(&acl.permission)?)
    .bind(now)
    .execute(&state.db)
    .await?;
    let pushed = async {
        let mut admin = state.provisioner.admin(&acl.cluster_id).await?;
        admin.create_acls(&[binding(&acl)]).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(e) = pushed {
        sqlx::query("DELETE FROM acls WHERE id = $1")
            .bind(&acl.id)
            .execute(&state.db)
            .await?;
        return Err(e);
    }
    tracing::info!(cluster_id = %acl.cluster_id, acl = %binding(&acl), "created ACL");
    Ok((StatusCode::CREATED, Json(acl)))
}

/// List the cluster's ACLs.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/acls", tag = "acls",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           PageParams),
    responses(
        (status = 200, description = "A page", body = Page<Acl>),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_acls(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id)): Path<(String, String)>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Acl>>> {
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
        "SELECT id, cluster_id, principal, resource_type, pattern_type, resource_name, \
         operation, permission, created_at FROM acls \
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
        |(at, a)| position_key(*at, &a.id),
        |(_, a)| a,
    )))
}

/// Delete an ACL.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/clusters/{cluster_id}/acls/{acl_id}", tag = "acls",
    security(("bearer" = [])),
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("cluster_id" = String, Path, description = "Cluster id"),
           ("acl_id" = String, Path, description = "ACL id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such cluster or ACL", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_acl(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant_id, cluster_id, acl_id)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    let row = clusters::serving(
        &state,
        &principal,
        &tenant_id,
        &cluster_id,
        Action::WriteClusterData,
    )
    .await?;
    let stored = sqlx::query(
        "SELECT id, cluster_id, principal, resource_type, pattern_type, resource_name, \
         operation, permission, created_at FROM acls WHERE id = $1 AND cluster_id = $2",
    )
    .bind(&acl_id)
    .bind(&row.id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("ACL {acl_id} not found")))?;
    let (_, acl) = from_row(&stored)?;
    // The cluster first: if it cannot be reached the row stays, and a retry deletes both.
    let mut admin = state.provisioner.admin(&row.id).await?;
    admin.delete_acl(&binding(&acl)).await?;
    sqlx::query("DELETE FROM acls WHERE id = $1 AND cluster_id = $2")
        .bind(&acl_id)
        .bind(&row.id)
        .execute(&state.db)
        .await?;
    tracing::info!(cluster_id = %row.id, acl = %binding(&acl), "deleted ACL");
    Ok(StatusCode::NO_CONTENT)
}
