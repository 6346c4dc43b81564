//! Access tokens: EdDSA (Ed25519) JWTs with a `kid` header, signed by keys kept in the
//! database so every API replica signs and verifies with the same set.
//!
//! The newest key that is not retired signs. Rotation retires the active key and creates a
//! new one; a retired key keeps verifying until `verify_until` (its last token's expiry),
//! and is listed in the JWKS until then. Keys are cached in memory and reloaded when a
//! token names an unknown `kid` (another replica rotated) and before signing.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::sync::RwLock;
use utoipa::ToSchema;

use crate::db::{Db, new_id, now_ms};
use crate::error::ApiError;

/// Issuer and audience of every token.
pub const ISSUER: &str = "fjord";
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 30;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal's id.
    pub sub: String,
    /// The principal's tenant; absent for platform administrators.
    pub tenant: Option<String>,
    /// The principal's role when the token was issued.
    pub role: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires at (unix seconds).
    pub exp: i64,
    /// Always [`ISSUER`].
    pub iss: String,
    /// Always [`ISSUER`].
    pub aud: String,
}

/// A JSON Web Key Set (RFC 7517) of the verifying keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    /// The public keys.
    pub keys: Vec<Jwk>,
}

/// One Ed25519 public key (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// The raw public key, base64url without padding.
    pub x: String,
    /// Key id, as in the tokens' `kid` header.
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
}

/// Verifying keys and the signing key, as loaded from the database.
#[derive(Default)]
struct KeySet {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, (DecodingKey, Option<i64>)>,
}

/// Issues and verifies access tokens.
pub struct Tokens {
    ttl: Duration,
    keys: RwLock<KeySet>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens living `ttl`; call [`Tokens::ensure_signing_key`] before the first issue.
    pub fn new(ttl: Duration) -> Self {
        Tokens {
            ttl,
            keys: RwLock::new(KeySet::default()),
        }
    }

    /// How long a token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Creates a signing key when the database has none (first start), then loads the keys.
    pub async fn ensure_signing_key(&self, db: &Db) -> Result<(), ApiError> {
        let active: Option<String> =
            sqlx::query_scalar("SELECT kid FROM signing_keys WHERE retired_at IS NULL")
                .fetch_optional(db)
                .await?;
        if active.is_none() {
            insert_new_key(db).await?;
        }
        self.reload(db).await
    }

    /// Retires the active key (it verifies until its tokens expire) and signs with a new one.
    /// Returns the new `kid`.
    pub async fn rotate(&self, db: &Db) -> Result<String, ApiError> {
        let now = now_ms();
        let until = now + self.ttl_ms() + i64::try_from(LEEWAY_SECS * 1000).unwrap_or(0);
        let mut tx = db.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, verify_until = $2 WHERE retired_at IS NULL",
        )
        .bind(now)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        let kid = insert_new_key(&mut *tx).await?;
        tx.commit().await?;
        self.reload(db).await?;
        tracing::info!(%kid, "rotated the token signing key");
        Ok(kid)
    }

    /// A token for `claims`' subject, tenant and role, expiring after the TTL.
    pub async fn issue(
        &self,
        db: &Db,
        sub: &str,
        tenant: Option<&str>,
        role: &str,
    ) -> Result<String, ApiError> {
        // Another replica may have rotated.
        self.reload(db).await?;
        let now = now_ms() / 1000;
        let claims = Claims {
            sub: sub.to_string(),
            tenant: tenant.map(str::to_string),
            role: role.to_string(),
            iat: now,
            exp: now + self.ttl_ms() / 1000,
            iss: ISSUER.into(),
            aud: ISSUER.into(),
        };
        self.sign(&claims).await
    }

    /// Signs arbitrary claims with the active key (tests forge expired tokens with it).
    pub async fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        let keys = self.keys.read().await;
        let (kid, key) = keys
            .signing
            .as_ref()
            .ok_or_else(|| ApiError::Internal("no token signing key loaded".into()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key)
            .map_err(|e| ApiError::Internal(format!("failed to sign a token: {e}")))
    }

    /// The claims of a valid token; 401 for anything else.
    pub async fn verify(&self, db: &Db, token: &str) -> Result<Claims, ApiError> {
        let invalid = |why: &str| ApiError::Unauthorized(format!("invalid token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid("unexpected algorithm"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no kid"))?;
        if !self.keys.read().await.verifying.contains_key(&kid) {
            self.reload(db).await?;
        }
        let keys = self.keys.read().await;
        let (key, until) = keys
            .verifying
            .get(&kid)
            .ok_or_else(|| invalid("unknown signing key"))?;
        if until.is_some_and(|u| u <= now_ms()) {
            return Err(invalid("signing key retired"));
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        match jsonwebtoken::decode::<Claims>(token, key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(invalid("expired; exchange your API key for a new one"))
            }
            Err(_) => Err(invalid("signature or claims do not verify")),
        }
    }

    /// The public keys that still verify, for `/.well-known/jwks.json`.
    pub async fn jwks(&self, db: &Db) -> Result<Jwks, ApiError> {
        let rows = sqlx::query(
            "SELECT kid, public_x FROM signing_keys \
             WHERE verify_until IS NULL OR verify_until > $1 ORDER BY created_at DESC",
        )
        .bind(now_ms())
        .fetch_all(db)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            keys.push(Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: row.try_get("public_x")?,
                kid: row.try_get("kid")?,
                alg: "EdDSA".into(),
                key_use: "sig".into(),
            });
        }
        Ok(Jwks { keys })
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }

    async fn reload(&self, db: &Db) -> Result<(), ApiError> {
        let rows = sqlx::query(
            "SELECT kid, private_pkcs8, public_x, retired_at, verify_until FROM signing_keys \
             WHERE verify_until IS NULL OR verify_until > $1 ORDER BY created_at DESC, kid DESC",
        )
        .bind(now_ms())
        .fetch_all(db)
        .await?;
        let mut set = KeySet::default();
        for row in rows {
            let kid: String = row.try_get("kid")?;
            let public_x: String = row.try_get("public_x")?;
            let retired_at: Option<i64> = row.try_get("retired_at")?;
            let verify_until: Option<i64> = row.try_get("verify_until")?;
            let decoding = DecodingKey::from_ed_components(&public_x)
                .map_err(|e| ApiError::Internal(format!("bad public key {kid}: {e}")))?;
            if retired_at.is_none() && set.signing.is_none() {
                let private: String = row.try_get("private_pkcs8")?;
                let der = STANDARD
                    .decode(private)
                    .map_err(|e| ApiError::Internal(format!("bad private key {kid}: {e}")))?;
                set.signing = Some((kid.clone(), EncodingKey::from_ed_der(&der)));
            }
            set.verifying.insert(kid, (decoding, verify_until));
        }
        *self.keys.write().await = set;
        Ok(())
    }
}

/// Generates an Ed25519 key pair and stores it as the newest signing key.
async fn insert_new_key<'e, E>(executor: E) -> Result<String, ApiError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .map_err(|e| ApiError::Internal(format!("failed to generate a signing key: {e}")))?;
    let kid = new_id();
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_pkcs8, public_x, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&kid)
    .bind(STANDARD.encode(pair.serialize_der()))
    .bind(URL_SAFE_NO_PAD.encode(pair.public_key_raw()))
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    async fn setup() -> (tempfile::TempDir, Db, Tokens) {
        let dir = tempfile::tempdir().unwrap();
        let db = db::connect(&db::sqlite_url(dir.path())).await.unwrap();
        let tokens = Tokens::new(Duration::from_secs(600));
        tokens.ensure_signing_key(&db).await.unwrap();
        (dir, db, tokens)
    }

    #[tokio::test]
    async fn issued_tokens_verify_and_carry_their_claims() {
        let (_dir, db, tokens) = setup().await;
        let token = tokens.issue(&db, "p1", Some("t1"), "viewer").await.unwrap();
        let claims = tokens.verify(&db, &token).await.unwrap();
        assert_eq!(claims.sub, "p1");
        assert_eq!(claims.tenant.as_deref(), Some("t1"));
        assert_eq!(claims.role, "viewer");
        assert_eq!(claims.exp - claims.iat, 600);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        let jwks = tokens.jwks(&db).await.unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(header.kid.as_deref(), Some(jwks.keys[0].kid.as_str()));
    }

    #[tokio::test]
    async fn tampered_and_expired_tokens_are_refused() {
        let (_dir, db, tokens) = setup().await;
        let token = tokens.issue(&db, "p1", None, "admin").await.unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let forged = Claims {
            sub: "p2".into(),
            tenant: None,
            role: "admin".into(),
            iat: 0,
            exp: i64::MAX / 2,
            iss: ISSUER.into(),
            aud: ISSUER.into(),
        };
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let e = tokens.verify(&db, &parts.join(".")).await.unwrap_err();
        assert!(matches!(e, ApiError::Unauthorized(_)), "{e:?}");
        let now = now_ms() / 1000;
        let expired = tokens
            .sign(&Claims {
                iat: now - 7200,
                exp: now - 3600,
                ..forged
            })
            .await
            .unwrap();
        let e = tokens.verify(&db, &expired).await.unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
    }

    #[tokio::test]
    async fn rotation_signs_with_a_new_key_and_old_tokens_still_verify() {
        let (_dir, db, tokens) = setup().await;
        let old = tokens.issue(&db, "p1", None, "admin").await.unwrap();
        let kid = tokens.rotate(&db).await.unwrap();
        let new = tokens.issue(&db, "p1", None, "admin").await.unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
            Some(kid.as_str())
        );
        assert_ne!(jsonwebtoken::decode_header(&old).unwrap().kid, Some(kid));
        tokens.verify(&db, &old).await.unwrap();
        tokens.verify(&db, &new).await.unwrap();
        assert_eq!(tokens.jwks(&db).await.unwrap().keys.len(), 2);
        // A second replica sharing the database verifies both without being told.
        let other = Tokens::new(Duration::from_secs(600));
        other.verify(&db, &old).await.unwrap();
        other.verify(&db, &new).await.unwrap();
        // Once the retired key's tokens have expired, it no longer verifies.
        sqlx::query("UPDATE signing_keys SET verify_until = 1 WHERE retired_at IS NOT NULL")
            .execute(&db)
            .await
            .unwrap();
        let fresh = Tokens::new(Duration::from_secs(600));
        assert!(fresh.verify(&db, &old).await.is_err());
        assert_eq!(fresh.jwks(&db).await.unwrap().keys.len(), 1);
    }
}
