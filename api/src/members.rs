//! Users and service accounts of a tenant, each with one role. Both live in the
//! `principals` table, told apart by `kind`; the routes are the same for both kinds.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::{OpenApi, ToSchema};

use crate::auth::{Action, Principal, Role};
use crate::db::{Db, is_unique_violation, new_id, now_ms, rfc3339};
use crate::error::{ApiError, Problem, Result};
use crate::extract::{IfMatch, Json, Path, Query, etag};
use crate::pagination::{Page, PageParams, page_of, position_key};
use crate::state::AppState;
use crate::validate;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/tenants/{tenant_id}/users",
            get(list_users).post(create_user),
        )
        .route(
            "/v1/tenants/{tenant_id}/users/{member_id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/v1/tenants/{tenant_id}/service-accounts",
            get(list_service_accounts).post(create_service_account),
        )
        .route(
            "/v1/tenants/{tenant_id}/service-accounts/{member_id}",
            get(get_service_account)
                .patch(update_service_account)
                .delete(delete_service_account),
        )
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_user, list_users, get_user, update_user, delete_user,
        create_service_account, list_service_accounts, get_service_account,
        update_service_account, delete_service_account,
    ),
    components(schemas(Member, MemberKind, CreateMember, UpdateMember, Page<Member>))
)]
pub struct MembersApi;

/// A user (a person) or a service account (a program).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MemberKind {
    /// A person.
    User,
    /// A program.
    ServiceAccount,
}

impl MemberKind {
    fn as_str(self) -> &'static str {
        match self {
            MemberKind::User => "user",
            MemberKind::ServiceAccount => "service-account",
        }
    }
}

/// A user or service account of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// Principal id (the `sub` of its tokens).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// User or service account.
    pub kind: MemberKind,
    /// Unique name within the tenant and kind.
    pub name: String,
    /// E-mail address (users only).
    pub email: Option<String>,
    /// What it may do in the tenant.
    pub role: Role,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// A user or service account to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    /// 1 to 63 of a-z, 0-9 and '-'.
    pub name: String,
    /// E-mail address (users only).
    #[serde(default)]
    pub email: Option<String>,
    /// `tenant-admin`, `developer`, `viewer` or `billing`.
    pub role: Role,
}

/// A change of role.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// The new role.
    pub role: Role,
}

const COLUMNS: &str = "id, tenant_id, kind, name, email, role, version, created_at";

/// A member row, with what pagination and ETags need.
struct Row_ {
    member: Member,
    version: i64,
    created_at: i64,
}

fn from_row(row: &AnyRow) -> Result<Row_> {
    let kind: String = row.try_get("kind")?;
    let role: String = row.try_get("role")?;
    let created_at: i64 = row.try_get("created_at")?;
    Ok(Row_ {
        member: Member {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            kind: if kind == "user" {
                MemberKind::User
            } else {
                MemberKind::ServiceAccount
            },
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            role: Role::parse(&role)
                .ok_or_else(|| ApiError::Internal(format!("unknown role {role:?}")))?,
            created_at: rfc3339(created_at),
        },
        version: row.try_get("version")?,
        created_at,
    })
}

fn not_found(kind: MemberKind, id: &str) -> ApiError {
    ApiError::NotFound(format!("{} {id} not found", kind.as_str()))
}

/// The member `id` of `tenant_id`, any kind (API keys use it).
pub async fn load_any(db: &Db, tenant_id: &str, id: &str) -> Result<Option<Member>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM principals WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.as_ref()
        .map(from_row)
        .transpose()
        .map(|r| r.map(|r| r.member))
}

async fn load(db: &Db, kind: MemberKind, tenant_id: &str, id: &str) -> Result<Row_> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM principals WHERE tenant_id = $1 AND kind = $2 AND id = $3"
    ))
    .bind(tenant_id)
    .bind(kind.as_str())
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| not_found(kind, id))?;
    from_row(&row)
}

fn with_etag<T>(version: i64, body: T) -> (HeaderMap, T) {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        headers.insert(header::ETAG, v);
    }
    (headers, body)
}

async fn create(
    state: AppState,
    principal: Principal,
    kind: MemberKind,
    tenant_id: String,
    body: CreateMember,
) -> Result<(StatusCode, HeaderMap, Json<Member>)> {
    principal
        .authorize(&state.db, &tenant_id, Action::ManageMembers)
        .await?;
    validate::name("name", &body.name)?;
    if body.role == Role::Admin {
        return Err(ApiError::Validation(
            "role must be tenant-admin, developer, viewer or billing".into(),
        ));
    }
    if kind == MemberKind::ServiceAccount && body.email.is_some() {
        return Err(ApiError::Validation(
            "service accounts have no email; leave it out".into(),
        ));
    }
    let id = new_id();
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO principals (id, tenant_id, kind, name, email, role, version, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7)",
    )
    .bind(&id)
    .bind(&tenant_id)
    .bind(kind.as_str())
    .bind(&body.name)
    .bind(&body.email)
    .bind(body.role.as_str())
    .bind(now)
    .execute(&state.db)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::Conflict(format!(
                "a {} named {:?} exists already",
                kind.as_str(),
                body.name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let member = Member {
        id,
        tenant_id,
        kind,
        name: body.name,
        email: body.email,
        role: body.role,
        created_at: rfc3339(now),
    };
    let (headers, member) = with_etag(1, Json(member));
    Ok((StatusCode::CREATED, headers, member))
}

async fn list(
    state: AppState,
    principal: Principal,
    kind: MemberKind,
    tenant_id: String,
    page: PageParams,
) -> Result<Json<Page<Member>>> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadMembers)
        .await?;
    let limit = page.limit()?;
    let at = page.position()?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM principals WHERE tenant_id = $1 AND kind = $2 \
         AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
         ORDER BY created_at, id LIMIT $5"
    ))
    .bind(&tenant_id)
    .bind(kind.as_str())
    .bind(at.created_at)
    .bind(&at.id)
    .bind(i64::from(limit) + 1)
    .fetch_all(&state.db)
    .await?;
    let rows = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(Json(page_of(
        rows,
        limit,
        |r| position_key(r.created_at, &r.member.id),
        |r| r.member,
    )))
}

async fn get_one(
    state: AppState,
    principal: Principal,
    kind: MemberKind,
    (tenant_id, id): (String, String),
) -> Result<(HeaderMap, Json<Member>)> {
    principal
        .authorize(&state.db, &tenant_id, Action::ReadMembers)
        .await?;
    let row = load(&state.db, kind, &tenant_id, &id).await?;
    Ok(with_etag(row.version, Json(row.member)))
}

async fn update(
    state: AppState,
    principal: Principal,
    kind: MemberKind,
    (tenant_id, id): (String, String),
    if_match: IfMatch,
    body: UpdateMember,
) -> Result<(HeaderMap, Json<Member>)> {
    principal
        .authorize(&state.db, &tenant_id, Action::ManageMembers)
        .await?;
    if body.role == Role::Admin {
        return Err(ApiError::Validation(
            "role must be tenant-admin, developer, viewer or billing".into(),
        ));
    }
    let current = load(&state.db, kind, &tenant_id, &id).await?;
    if_match.check(&etag(current.version))?;
    let updated = sqlx::query(
        "UPDATE principals SET role = $1, version = version + 1 \
         WHERE id = $2 AND tenant_id = $3 AND version = $4",
    )
    .bind(body.role.as_str())
    .bind(&id)
    .bind(&tenant_id)
    .bind(current.version)
    .execute(&state.db)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::PreconditionFailed(
            "the member changed meanwhile; fetch it again and retry".into(),
        ));
    }
    let row = load(&state.db, kind, &tenant_id, &id).await?;
    Ok(with_etag(row.version, Json(row.member)))
}

async fn delete(
    state: AppState,
    principal: Principal,
    kind: MemberKind,
    (tenant_id, id): (String, String),
) -> Result<StatusCode> {
    principal
        .authorize(&state.db, &tenant_id, Action::ManageMembers)
        .await?;
    load(&state.db, kind, &tenant_id, &id).await?;
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM api_keys WHERE principal_id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM principals WHERE id = $1 AND tenant_id = $2")
        .bind(&id)
        .bind(&tenant_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Route handlers for one kind: the same logic, separate OpenAPI operations.
macro_rules! member_routes {
    ($kind:expr, $collection:tt, $item:tt, [$create_doc:tt, $list_doc:tt, $get_doc:tt, $update_doc:tt, $delete_doc:tt],
     $create:ident, $list:ident, $get:ident, $update:ident, $delete:ident) => {
        #[doc = $create_doc]
        #[utoipa::path(post, path = $collection, tag = "members",
            security(("bearer" = [])),
            params(("tenant_id" = String, Path, description = "Tenant id")),
            request_body = CreateMember,
            responses(
                (status = 201, description = "Created", body = Member),
                (status = 403, description = "Role too weak", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
            ))]
        async fn $create(
            State(state): State<AppState>,
            principal: Principal,
            Path(tenant_id): Path<String>,
            Json(body): Json<CreateMember>,
        ) -> Result<(StatusCode, HeaderMap, Json<Member>)> {
            create(state, principal, $kind, tenant_id, body).await
        }

        #[doc = $list_doc]
        #[utoipa::path(get, path = $collection, tag = "members",
            security(("bearer" = [])),
            params(("tenant_id" = String, Path, description = "Tenant id"), PageParams),
            responses(
                (status = 200, description = "A page", body = Page<Member>),
                (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
            ))]
        async fn $list(
            State(state): State<AppState>,
            principal: Principal,
            Path(tenant_id): Path<String>,
            Query(page): Query<PageParams>,
        ) -> Result<Json<Page<Member>>> {
            list(state, principal, $kind, tenant_id, page).await
        }

        #[doc = $get_doc]
        #[utoipa::path(get, path = $item, tag = "members",
            security(("bearer" = [])),
            params(("tenant_id" = String, Path, description = "Tenant id"),
                   ("member_id" = String, Path, description = "Member id")),
            responses(
                (status = 200, description = "Found", body = Member),
                (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
            ))]
        async fn $get(
            State(state): State<AppState>,
            principal: Principal,
            Path(ids): Path<(String, String)>,
        ) -> Result<(HeaderMap, Json<Member>)> {
            get_one(state, principal, $kind, ids).await
        }

        #[doc = $update_doc]
        #[utoipa::path(patch, path = $item, tag = "members",
            security(("bearer" = [])),
            params(("tenant_id" = String, Path, description = "Tenant id"),
                   ("member_id" = String, Path, description = "Member id"),
                   ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
            request_body = UpdateMember,
            responses(
                (status = 200, description = "Updated", body = Member),
                (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
                (status = 412, description = "ETag mismatch", body = Problem, content_type = "application/problem+json"),
            ))]
        async fn $update(
            State(state): State<AppState>,
            principal: Principal,
            Path(ids): Path<(String, String)>,
            if_match: IfMatch,
            Json(body): Json<UpdateMember>,
        ) -> Result<(HeaderMap, Json<Member>)> {
            update(state, principal, $kind, ids, if_match, body).await
        }

        #[doc = $delete_doc]
        #[utoipa::path(delete, path = $item, tag = "members",
            security(("bearer" = [])),
            params(("tenant_id" = String, Path, description = "Tenant id"),
                   ("member_id" = String, Path, description = "Member id")),
            responses(
                (status = 204, description = "Deleted"),
                (status = 404, description = "Not found", body = Problem, content_type = "application/problem+json"),
            ))]
        async fn $delete(
            State(state): State<AppState>,
            principal: Principal,
            Path(ids): Path<(String, String)>,
        ) -> Result<StatusCode> {
            delete(state, principal, $kind, ids).await
        }
    };
}

member_routes!(
    MemberKind::User,
    "/v1/tenants/{tenant_id}/users",
    "/v1/tenants/{tenant_id}/users/{member_id}",
    [
        "Create a user (tenant-admin).",
        "List the users of a tenant.",
        "Get a user; the ETag header is its version for If-Match.",
        "Change the role of a user (tenant-admin); honours If-Match.",
        "Delete a user and its API keys (tenant-admin)."
    ],
    create_user,
    list_users,
    get_user,
    update_user,
    delete_user
);
member_routes!(
    MemberKind::ServiceAccount,
    "/v1/tenants/{tenant_id}/service-accounts",
    "/v1/tenants/{tenant_id}/service-accounts/{member_id}",
    [
        "Create a service account (tenant-admin).",
        "List the service accounts of a tenant.",
        "Get a service account; the ETag header is its version for If-Match.",
        "Change the role of a service account (tenant-admin); honours If-Match.",
        "Delete a service account and its API keys (tenant-admin)."
    ],
    create_service_account,
    list_service_accounts,
    get_service_account,
    update_service_account,
    delete_service_account
);
