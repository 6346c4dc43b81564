//! API keys: `fjk_<key id>_<secret>`. The key id finds the row; only the SHA-256 of the
//! secret is stored, compared in constant time. The whole key is shown once, at creation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::db::{Db, new_id, now_ms};
use crate::error::ApiError;

/// Every API key starts with this.
pub const PREFIX: &str = "fjk_";

/// A freshly generated key: its id, and the full key to show once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// The key id (16 hex digits), the row's primary key.
    pub id: String,
    /// `fjk_<id>_<secret>`.
    pub key: String,
    /// Hex SHA-256 of the secret, what is stored.
    pub secret_sha256: String,
}

/// Generates a key: 8 random bytes of id, 32 of secret.
pub fn generate() -> NewKey {
    let id_bytes: [u8; 8] = rand::random();
    let secret_bytes: [u8; 32] = rand::random();
    let id = hex(&id_bytes);
    let secret = URL_SAFE_NO_PAD.encode(secret_bytes);
    NewKey {
        key: format!("{PREFIX}{id}_{secret}"),
        secret_sha256: hex(&Sha256::digest(secret.as_bytes())),
        id,
    }
}

/// Splits `fjk_<id>_<secret>` into id and secret.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_id = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_id && !secret.is_empty()).then_some((id, secret))
}

/// Whether `secret` hashes to `stored_sha256`, in constant time.
pub fn secret_matches(secret: &str, stored_sha256: &str) -> bool {
    let computed = hex(&Sha256::digest(secret.as_bytes()));
    computed.as_bytes().ct_eq(stored_sha256.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The principal an API key authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// Principal id.
    pub principal_id: String,
    /// Its tenant (`None` for platform administrators).
    pub tenant_id: Option<String>,
    /// Its role name.
    pub role: String,
}

/// The owner of a valid, unrevoked key of a live principal; 401 otherwise (one message for
/// every failure, so the answer tells an attacker nothing).
pub async fn authenticate(db: &Db, key: &str) -> Result<KeyOwner, ApiError> {
    let invalid = || ApiError::Unauthorized("invalid API key".into());
    let (id, secret) = parse(key).ok_or_else(invalid)?;
    let row = sqlx::query(
        "SELECT k.secret_sha256, p.id AS principal_id, p.tenant_id, p.role FROM api_keys k \
         JOIN principals p ON p.id = k.principal_id \
         LEFT JOIN tenants t ON t.id = p.tenant_id \
         WHERE k.id = $1 AND k.revoked_at IS NULL \
           AND (p.tenant_id IS NULL OR t.deleted_at IS NULL)",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        // Same work as a hit, so timing does not reveal which key ids exist.
        let _ = secret_matches(secret, "");
        return Err(invalid());
    };
    let stored: String = row.try_get("secret_sha256")?;
    if !secret_matches(secret, &stored) {
        return Err(invalid());
    }
    Ok(KeyOwner {
        principal_id: row.try_get("principal_id")?,
        tenant_id: row.try_get("tenant_id")?,
        role: row.try_get("role")?,
    })
}

/// Stores a new key for `principal_id` and returns it (the only time the secret exists).
pub async fn create(
    db: &Db,
    principal_id: &str,
    tenant_id: Option<&str>,
    name: &str,
) -> Result<(NewKey, i64), ApiError> {
    let key = generate();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO api_keys (id, principal_id, tenant_id, name, secret_sha256, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(principal_id)
    .bind(tenant_id)
    .bind(name)
    .bind(&key.secret_sha256)
    .bind(now)
    .execute(db)
    .await?;
    Ok((key, now))
}

/// First start: creates the platform administrator and returns its API key; `None` when an
/// administrator exists already (its key was shown when it was created).
pub async fn bootstrap_admin(db: &Db) -> Result<Option<String>, ApiError> {
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM principals WHERE tenant_id IS NULL AND role = 'admin'")
            .fetch_optional(db)
            .await?;
    if existing.is_some() {
        return Ok(None);
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO principals (id, tenant_id, kind, name, role, version, created_at) \
         VALUES ($1, NULL, 'platform', 'admin', 'admin', 1, $2)",
    )
    .bind(&id)
    .bind(now_ms())
    .execute(db)
    .await?;
    let (key, _) = create(db, &id, None, "bootstrap").await?;
    tracing::info!(principal_id = %id, "created the platform administrator");
    Ok(Some(key.key))
}

/// The platform administrator's principal id, if there is one.
pub async fn admin_principal(db: &Db) -> Result<Option<String>, ApiError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM principals WHERE tenant_id IS NULL AND role = 'admin' \
         ORDER BY created_at LIMIT 1",
    )
    .fetch_optional(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_only_their_secret_matches() {
        let k = generate();
        let (id, secret) = parse(&k.key).unwrap();
        assert_eq!(id, k.id);
        assert!(secret_matches(secret, &k.secret_sha256));
        assert!(!secret_matches("other", &k.secret_sha256));
        assert!(!k.key.contains(&k.secret_sha256));
        assert_ne!(generate().key, k.key);
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        assert_eq!(
            parse("fjk_0123456789abcdef_s3cr_et"),
            Some(("0123456789abcdef", "s3cr_et"))
        );
        assert_eq!(parse("0123456789abcdef_secret"), None);
        assert_eq!(parse("fjk_0123_secret"), None);
        assert_eq!(parse("fjk_0123456789abcdef_"), None);
        assert_eq!(parse("fjk_0123456789abcdeg_x"), None);
    }
}
