//! Authentication and authorisation.
//!
//! Clients hold API keys (`fjk_<key id>_<secret>`, see [`keys`]) and exchange them at
//! `POST /v1/auth/token` for short-lived EdDSA JWTs ([`jwt`]). Every other route takes a
//! [`Principal`] extractor, which checks the bearer token, so no handler can forget it; the
//! handler then asks [`Principal::authorize`] for the tenant and [`Action`] it serves.
//!
//! Tenant isolation: a principal of tenant A naming tenant B gets 404, exactly as if B did
//! not exist; 403 is only for a role that is too weak inside the principal's own tenant.

pub mod jwt;
pub mod keys;
pub mod routes;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::db::Db;
use crate::error::ApiError;
use crate::state::AppState;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The operator of the platform: creates tenants, may act in every tenant.
    Admin,
    /// Everything inside one tenant, including its users and keys.
    TenantAdmin,
    /// Clusters, topics, credentials and ACLs of one tenant; not members, not deletion of
    /// clusters.
    Developer,
    /// Reads everything of one tenant except billing.
    Viewer,
    /// Reads the tenant, its clusters and its bills.
    Billing,
}

/// The kinds of requests roles are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the tenant itself.
    ReadTenant,
    /// List and read users, service accounts and API keys.
    ReadMembers,
    /// Create, change and delete users, service accounts and API keys.
    ManageMembers,
    /// Read clusters and their events.
    ReadClusters,
    /// Create clusters and change their limits.
    WriteClusters,
    /// Delete clusters.
    DeleteClusters,
    /// Read topics, credentials and ACLs of a cluster.
    ReadClusterData,
    /// Create, change and delete topics, credentials and ACLs.
    WriteClusterData,
    /// Read usage and invoices.
    ReadBilling,
    /// Set the tenant's budget.
    ManageBilling,
}

impl Role {
    /// The role's name as stored and shown, e.g. `tenant-admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::TenantAdmin => "tenant-admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
            Role::Billing => "billing",
        }
    }

    /// Parses a stored role name.
    pub fn parse(name: &str) -> Option<Role> {
        [
            Role::Admin,
            Role::TenantAdmin,
            Role::Developer,
            Role::Viewer,
            Role::Billing,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }

    /// Whether this role may do `action` (inside its own tenant).
    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Admin | Role::TenantAdmin => true,
            Role::Developer => !matches!(
                action,
                ManageMembers | DeleteClusters | ReadBilling | ManageBilling
            ),
            Role::Viewer => matches!(
                action,
                ReadTenant | ReadMembers | ReadClusters | ReadClusterData
            ),
            Role::Billing => matches!(
                action,
                ReadTenant | ReadClusters | ReadBilling | ManageBilling
            ),
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's or service account's id.
    pub id: String,
    /// Its tenant; `None` for platform administrators.
    pub tenant_id: Option<String>,
    /// Its current role (read from the database, so a change applies at once).
    pub role: Role,
}

impl Principal {
    /// `Ok` for platform administrators, 403 for everyone else.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "only platform administrators may do this".into(),
            ))
        }
    }

    /// May this principal do `action` in `tenant_id`? 404 when the tenant is not its own
    /// (or does not exist), 403 when its role does not allow the action.
    pub async fn authorize(
        &self,
        db: &Db,
        tenant_id: &str,
        action: Action,
    ) -> Result<(), ApiError> {
        match &self.tenant_id {
            Some(own) if own == tenant_id => {}
            Some(_) => return Err(tenant_not_found(tenant_id)),
            None => {
                // Administrators see every tenant, but only existing ones.
                let live: Option<i64> = sqlx::query_scalar(
                    "SELECT 1 FROM tenants WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(tenant_id)
                .fetch_optional(db)
                .await?;
                if live.is_none() {
                    return Err(tenant_not_found(tenant_id));
                }
            }
        }
        if self.role.allows(action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }
}

/// The 404 of a tenant the caller may not see.
pub fn tenant_not_found(tenant_id: &str) -> ApiError {
    ApiError::NotFound(format!("tenant {tenant_id} not found"))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "send `Authorization: Bearer <token>`; exchange an API key for a token at POST /v1/auth/token".into(),
                )
            })?;
        let claims = state.tokens.verify(&state.db, token).await?;
        let row = sqlx::query(
            "SELECT p.tenant_id, p.role FROM principals p \
             LEFT JOIN tenants t ON t.id = p.tenant_id \
             WHERE p.id = $1 AND (p.tenant_id IS NULL OR t.deleted_at IS NULL)",
        )
        .bind(&claims.sub)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the token's principal no longer exists".into()))?;
        let tenant_id: Option<String> = row.try_get("tenant_id")?;
        let role: String = row.try_get("role")?;
        let role = Role::parse(&role)
            .ok_or_else(|| ApiError::Internal(format!("unknown role {role:?} in the database")))?;
        if tenant_id != claims.tenant {
            return Err(ApiError::Unauthorized(
                "the token does not match its principal".into(),
            ));
        }
        Ok(Principal {
            id: claims.sub,
            tenant_id,
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_their_docs_say() {
        use Action::*;
        let all = [
            ReadTenant,
            ReadMembers,
            ManageMembers,
            ReadClusters,
            WriteClusters,
            DeleteClusters,
            ReadClusterData,
            WriteClusterData,
            ReadBilling,
            ManageBilling,
        ];
        for a in all {
            assert!(Role::Admin.allows(a));
            assert!(Role::TenantAdmin.allows(a));
        }
        assert!(Role::Developer.allows(WriteClusterData));
        assert!(Role::Developer.allows(WriteClusters));
        assert!(!Role::Developer.allows(DeleteClusters));
        assert!(!Role::Developer.allows(ManageMembers));
        assert!(Role::Viewer.allows(ReadClusterData));
        assert!(!Role::Viewer.allows(WriteClusterData));
        assert!(!Role::Viewer.allows(WriteClusters));
        assert!(!Role::Viewer.allows(ReadBilling));
        assert!(Role::Billing.allows(ReadBilling));
        assert!(Role::Billing.allows(ManageBilling));
        assert!(!Role::Developer.allows(ManageBilling));
        assert!(!Role::Viewer.allows(ManageBilling));
        assert!(!Role::Billing.allows(ReadClusterData));
        assert!(!Role::Billing.allows(ReadMembers));
    }

    #[test]
    fn role_names_round_trip() {
        for r in [
            Role::Admin,
            Role::TenantAdmin,
            Role::Developer,
            Role::Viewer,
            Role::Billing,
        ] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
