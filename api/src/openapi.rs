//! The OpenAPI document: one `#[derive(OpenApi)]` per resource module, merged here, with
//! the bearer security scheme. Served at `/openapi.json` and printed by `fjord openapi`;
//! the committed copy is `openapi/openapi.json` (a test keeps it fresh).

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;
use crate::extract::Json;

/// The root of the document: info, tags, security, and the shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fjord control plane",
        description = "Multi-tenant API of Fjord: tenants, members, API keys, clusters, topics, SASL credentials and ACLs. Errors are RFC 9457 problem+json; lists are cursor-paginated.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "API keys for tokens, the JWKS, key rotation"),
        (name = "tenants", description = "Tenants (platform administrators)"),
        (name = "members", description = "Users, service accounts and their API keys"),
        (name = "clusters", description = "Clusters and their life cycle"),
        (name = "topics", description = "Topics of a cluster"),
        (name = "credentials", description = "SASL/SCRAM credentials of a cluster"),
        (name = "acls", description = "Access control lists of a cluster"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct RootApi;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /v1/auth/token (EdDSA JWT)"))
                    .build(),
            ),
        );
    }
}

/// The whole document.
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = RootApi::openapi();
    doc.merge(crate::health::HealthApi::openapi());
    doc.merge(crate::auth::routes::AuthApi::openapi());
    doc.merge(crate::tenants::TenantsApi::openapi());
    doc.merge(crate::members::MembersApi::openapi());
    doc.merge(crate::api_keys::ApiKeysApi::openapi());
    doc.merge(crate::clusters::ClustersApi::openapi());
    doc.merge(crate::topics::TopicsApi::openapi());
    doc.merge(crate::credentials::CredentialsApi::openapi());
    doc.merge(crate::acls::AclsApi::openapi());
    doc
}

/// The document as pretty JSON with a trailing newline (the committed file's format).
pub fn spec_json() -> String {
    let mut json = spec().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// `GET /openapi.json`.
pub async fn serve_spec() -> Response {
    Json(spec()).into_response()
}
