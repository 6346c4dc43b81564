//! Routes of authentication: token exchange, the JWKS and signing-key rotation.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::Principal;
use super::jwt::Jwks;
use crate::error::{Problem, Result};
use crate::extract::Json;
use crate::state::AppState;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/token", post(exchange_token))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/admin/signing-keys/rotate", post(rotate_signing_key))
}

/// The OpenAPI description of this module.
#[derive(OpenApi)]
#[openapi(
    paths(exchange_token, jwks, rotate_signing_key),
    components(schemas(TokenRequest, TokenResponse, Jwks, super::jwt::Jwk, RotatedKey))
)]
pub struct AuthApi;

/// An API key to exchange.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct TokenRequest {
    /// The full key, `fjk_<key id>_<secret>`.
    pub api_key: String,
}

/// A short-lived access token.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// The key that signs from now on.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct RotatedKey {
    /// The new key's id (`kid` of new tokens).
    pub kid: String,
}

/// Exchange an API key for an access token.
#[utoipa::path(
    post, path = "/v1/auth/token", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        (status = 401, description = "Invalid or revoked key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn exchange_token(
    State(state): State<AppState>,
    Json(request): Json<TokenRequest>,
) -> Result<Json<TokenResponse>> {
    let owner = super::keys::authenticate(&state.db, &request.api_key).await?;
    let access_token = state
        .tokens
        .issue(
            &state.db,
            &owner.principal_id,
            owner.tenant_id.as_deref(),
            &owner.role,
        )
        .await?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl().as_secs(),
    }))
}

/// The public keys that verify access tokens (RFC 7517), for brokers and other verifiers.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "The key set", body = Jwks))
)]
async fn jwks(State(state): State<AppState>) -> Result<Json<Jwks>> {
    Ok(Json(state.tokens.jwks(&state.db).await?))
}

/// Rotate the token signing key; tokens signed by the old key stay valid until they expire.
#[utoipa::path(
    post, path = "/v1/admin/signing-keys/rotate", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new key", body = RotatedKey),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The keys are read from a directory (`fjord serve --signing-keys-dir`): rotate them there", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn rotate_signing_key(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<RotatedKey>> {
    principal.require_admin()?;
    let kid = state.tokens.rotate(&state.db).await?;
    Ok(Json(RotatedKey { kid }))
}
