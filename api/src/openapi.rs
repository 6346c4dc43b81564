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
        // The API's version, apart from the crate's: bump its major (its minor while 0.x)
        // with a breaking change, which api/tests/api_stability.rs otherwise refuses.
        version = "0.1.0",
        description = "Multi-tenant API of Fjord: tenants, members, API keys, clusters, topics and their messages, SASL credentials, ACLs, usage, invoices and budgets. Errors are RFC 9457 problem+json; lists are cursor-paginated.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "API keys for tokens, the JWKS, key rotation"),
        (name = "tenants", description = "Tenants (platform administrators)"),
        (name = "members", description = "Users, service accounts and their API keys"),
        (name = "clusters", description = "Clusters and their life cycle"),
        (name = "topics", description = "Topics of a cluster and their recent messages"),
        (name = "credentials", description = "SASL/SCRAM credentials of a cluster"),
        (name = "acls", description = "Access control lists of a cluster"),
        (name = "usage", description = "Metered usage per tenant, cluster and topic"),
        (name = "billing", description = "Price books, invoices and budgets"),
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
    doc.merge(crate::messages::MessagesApi::openapi());
    doc.merge(crate::credentials::CredentialsApi::openapi());
    doc.merge(crate::acls::AclsApi::openapi());
    doc.merge(crate::usage::UsageApi::openapi());
    doc.merge(crate::billing::price_books::PriceBooksApi::openapi());
    doc.merge(crate::billing::invoices::InvoicesApi::openapi());
    doc.merge(crate::billing::budgets::BudgetsApi::openapi());
    document_common_problems(&mut doc);
    doc
}

/// Declares the problems any operation can answer, so that the document lists every status
/// a client may see: malformed input (400), a missing or expired token (401, on `/v1`), a
/// body that is not JSON (415), a body or parameter that is not valid (422), and the
/// generic 500. Operations keep
/// their own, more specific descriptions where they have them.
fn document_common_problems(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in operations.into_iter().flatten() {
            let has_body = op.request_body.is_some();
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let responses = &mut op.responses.responses;
            let mut add = |code: &str, description: &str| {
                responses
                    .entry(code.to_string())
                    .or_insert_with(|| problem(description));
            };
            if has_body || has_params {
                add(
                    "400",
                    "Malformed request: the body, a path or a query parameter does not parse",
                );
            }
            if path.starts_with("/v1/") {
                add("401", "Missing, invalid or expired access token");
            }
            if has_body {
                add("415", "The body is not application/json");
                add("422", "The body is valid JSON but not a valid request");
            } else if has_params {
                add(
                    "422",
                    "A parameter is out of range (e.g. limit) or an invalid cursor",
                );
            }
            add("500", "Internal error; the detail is in the server's log");
        }
    }
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
