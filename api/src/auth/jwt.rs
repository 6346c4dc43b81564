//! Access tokens: EdDSA (Ed25519) JWTs with a `kid` header, signed by keys every API replica
//! shares. The keys come from one of two places:
//!
//! - **The database** (the default). The newest key that is not retired signs. Rotation
//!   retires the active key and creates a new one; a retired key keeps verifying until
//!   `verify_until` (its last token's expiry), and is listed in the JWKS until then.
//! - **A directory** (`fjord serve --signing-keys-dir`, a mounted Kubernetes Secret): PKCS#8
//!   PEM Ed25519 private keys. `signing.pem` signs; every other `*.pem` file only verifies.
//!   The operator of the platform rotates by moving `signing.pem` to another name and
//!   writing a new `signing.pem`; the API never writes there. A key's `kid` is its RFC 7638
//!   thumbprint, so renaming a file keeps its tokens valid and replicas agree without talking.
//!
//! Keys are cached in memory and reloaded when a token names an unknown `kid` (another
//! replica rotated, or the Secret changed) and before signing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::Row;
use tokio::sync::RwLock;
use utoipa::ToSchema;

use crate::db::{Db, new_id, now_ms};
use crate::error::ApiError;

/// Issuer and audience of every token.
pub const ISSUER: &str = "fjord";
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 30;
/// The file of a key directory whose key signs.
pub const SIGNING_KEY_FILE: &str = "signing.pem";

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

/// Verifying keys and the signing key, as loaded from their source.
#[derive(Default)]
struct KeySet {
    signing: Option<(String, EncodingKey)>,
    /// By kid: the key, the time it stops verifying, its raw public key (base64url).
    verifying: HashMap<String, (DecodingKey, Option<i64>, String)>,
}

/// Where the keys live.
#[derive(Debug, Clone)]
enum KeySource {
    Database,
    Directory(PathBuf),
}

/// Issues and verifies access tokens.
pub struct Tokens {
    ttl: Duration,
    source: KeySource,
    keys: RwLock<KeySet>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens living `ttl` signed by keys in the database; call
    /// [`Tokens::ensure_signing_key`] before the first issue.
    pub fn new(ttl: Duration) -> Self {
        Tokens {
            ttl,
            source: KeySource::Database,
            keys: RwLock::new(KeySet::default()),
        }
    }

    /// Tokens living `ttl` signed by the keys in `dir` (see the module documentation); call
    /// [`Tokens::ensure_signing_key`] before the first issue.
    pub fn from_dir(ttl: Duration, dir: impl Into<PathBuf>) -> Self {
        Tokens {
            ttl,
            source: KeySource::Directory(dir.into()),
            keys: RwLock::new(KeySet::default()),
        }
    }

    /// Whether the keys come from a directory the API does not write.
    pub fn keys_are_external(&self) -> bool {
        matches!(self.source, KeySource::Directory(_))
    }

    /// How long a token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Creates a signing key when the database has none (first start), then loads the keys.
    /// With a key directory, loads it and fails unless it holds a signing key.
    pub async fn ensure_signing_key(&self, db: &Db) -> Result<(), ApiError> {
        if let KeySource::Directory(dir) = &self.source {
            self.reload(db).await?;
            if self.keys.read().await.signing.is_none() {
                return Err(ApiError::Internal(format!(
                    "no {SIGNING_KEY_FILE} in {}; create one with \
                     `openssl genpkey -algorithm ed25519 -out {SIGNING_KEY_FILE}`",
                    dir.display()
                )));
            }
            return Ok(());
        }
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
    /// Returns the new `kid`. Keys from a directory are rotated there, not here: 409.
    pub async fn rotate(&self, db: &Db) -> Result<String, ApiError> {
        if let KeySource::Directory(dir) = &self.source {
            return Err(ApiError::Conflict(format!(
                "the signing keys are read from {} (--signing-keys-dir), which the API never \
                 writes: rotate them there (rename {SIGNING_KEY_FILE}, keep it until its tokens \
                 expire, and write a new {SIGNING_KEY_FILE})",
                dir.display()
            )));
        }
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
        let (key, until, _) = keys
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
        if let KeySource::Directory(_) = &self.source {
            self.reload(db).await?;
            let keys = self.keys.read().await;
            // The signing key first, as the database's newest-first order has it.
            let signing = keys.signing.as_ref().map(|(kid, _)| kid.as_str());
            let mut listed: Vec<(&String, &String)> = keys
                .verifying
                .iter()
                .map(|(kid, (_, _, x))| (kid, x))
                .collect();
            listed.sort_by_key(|(kid, _)| (Some(kid.as_str()) != signing, kid.as_str()));
            return Ok(Jwks {
                keys: listed
                    .into_iter()
                    .map(|(kid, x)| jwk(kid.clone(), x.clone()))
                    .collect(),
            });
        }
        let rows = sqlx::query(
            "SELECT kid, public_x FROM signing_keys \
             WHERE verify_until IS NULL OR verify_until > $1 ORDER BY created_at DESC",
        )
        .bind(now_ms())
        .fetch_all(db)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            keys.push(jwk(row.try_get("kid")?, row.try_get("public_x")?));
        }
        Ok(Jwks { keys })
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }

    async fn reload(&self, db: &Db) -> Result<(), ApiError> {
        if let KeySource::Directory(dir) = &self.source {
            let dir = dir.clone();
            let loaded = tokio::task::spawn_blocking(move || load_dir(&dir))
                .await
                .map_err(|e| ApiError::Internal(format!("key loading panicked: {e}")))?;
            let mut keys = self.keys.write().await;
            match loaded {
                Ok(set) if set.signing.is_some() => *keys = set,
                // Keep serving with the keys loaded before while a Secret is half updated.
                Ok(_) if keys.signing.is_some() => {
                    tracing::warn!("{SIGNING_KEY_FILE} is missing; still signing with the last one")
                }
                Err(e) if keys.signing.is_some() => {
                    tracing::warn!(error = %e, "keeping the signing keys loaded before")
                }
                Ok(set) => *keys = set,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
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
            set.verifying
                .insert(kid, (decoding, verify_until, public_x));
        }
        *self.keys.write().await = set;
        Ok(())
    }
}

fn jwk(kid: String, x: String) -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x,
        kid,
        alg: "EdDSA".into(),
        key_use: "sig".into(),
    }
}

/// The RFC 7638 thumbprint of an Ed25519 public key (raw, base64url): the `kid` of a key
/// read from a directory.
fn thumbprint(public_x: &str) -> String {
    // The required members in lexicographic order, no whitespace (RFC 7638 section 3.2).
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{public_x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Reads every `*.pem` file of `dir` (hidden entries, such as a mounted Secret's `..data`,
/// are skipped); `signing.pem` signs.
fn load_dir(dir: &Path) -> Result<KeySet, ApiError> {
    let unreadable = |e: std::io::Error| {
        ApiError::Internal(format!(
            "failed to read the signing keys in {}: {e}",
            dir.display()
        ))
    };
    let mut set = KeySet::default();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let name = entry.map_err(unreadable)?.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with('.') && name.ends_with(".pem") {
            names.push(name.to_string());
        }
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        // A Secret's keys are symbolic links into its `..data` directory: follow them.
        if !std::fs::metadata(&path).map_err(unreadable)?.is_file() {
            continue;
        }
        let pem = std::fs::read_to_string(&path).map_err(unreadable)?;
        let bad = |why: String| {
            ApiError::Internal(format!(
                "{} is not a PKCS#8 PEM Ed25519 private key ({why}); create one with \
                 `openssl genpkey -algorithm ed25519`",
                path.display()
            ))
        };
        let pair = rcgen::KeyPair::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
        if !pair.is_compatible(&rcgen::PKCS_ED25519) {
            return Err(bad(format!("a {:?} key", pair.algorithm())));
        }
        let public_x = URL_SAFE_NO_PAD.encode(pair.public_key_raw());
        let kid = thumbprint(&public_x);
        let decoding =
            DecodingKey::from_ed_components(&public_x).map_err(|e| bad(e.to_string()))?;
        if name == SIGNING_KEY_FILE {
            set.signing = Some((kid.clone(), EncodingKey::from_ed_der(&pair.serialize_der())));
        }
        set.verifying.insert(kid, (decoding, None, public_x));
    }
    Ok(set)
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

    /// An Ed25519 key as `openssl genpkey -algorithm ed25519` writes it (PKCS#8 v1, no
    /// public key inside). A test key, used nowhere else.
    const OPENSSL_KEY: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEIETDdgNCbRWV+alfJB4sT4fSOTw5wQEtUnTVCOajvUy6\n\
        -----END PRIVATE KEY-----\n";

    fn new_pem() -> String {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .unwrap()
            .serialize_pem()
    }

    fn kid_of(token: &str) -> String {
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
    }

    #[test]
    fn kids_of_directory_keys_are_rfc_7638_thumbprints() {
        // RFC 8037, appendix A.3.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[tokio::test]
    async fn a_key_directory_signs_with_signing_pem_and_refuses_rotation_by_api() {
        let (_dir, db, _) = setup().await;
        let keys = tempfile::tempdir().unwrap();
        // As a mounted Secret lays it out: a link into a hidden, swapped directory.
        std::fs::create_dir(keys.path().join("..data")).unwrap();
        std::fs::write(keys.path().join("..data/signing.pem"), OPENSSL_KEY).unwrap();
        std::os::unix::fs::symlink("..data/signing.pem", keys.path().join("signing.pem")).unwrap();
        let tokens = Tokens::from_dir(Duration::from_secs(600), keys.path());
        assert!(tokens.keys_are_external());
        tokens.ensure_signing_key(&db).await.unwrap();

        let token = tokens.issue(&db, "p1", Some("t1"), "viewer").await.unwrap();
        assert_eq!(tokens.verify(&db, &token).await.unwrap().sub, "p1");
        let jwks = tokens.jwks(&db).await.unwrap();
        assert_eq!(
            jwks.keys.len(),
            1,
            "the hidden ..data copy is not a second key"
        );
        assert_eq!(jwks.keys[0].kid, kid_of(&token));
        assert_eq!(jwks.keys[0].kid, thumbprint(&jwks.keys[0].x));
        // Nothing went into the database, and the API cannot rotate what it does not own.
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(stored, 1, "only setup()'s own database key");
        let e = tokens.rotate(&db).await.unwrap_err();
        assert!(
            matches!(&e, ApiError::Conflict(m) if m.contains("--signing-keys-dir")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn rotating_a_key_directory_keeps_old_tokens_until_their_key_file_goes() {
        let (_dir, db, _) = setup().await;
        let keys = tempfile::tempdir().unwrap();
        std::fs::write(keys.path().join(SIGNING_KEY_FILE), new_pem()).unwrap();
        let tokens = Tokens::from_dir(Duration::from_secs(600), keys.path());
        tokens.ensure_signing_key(&db).await.unwrap();
        let old = tokens.issue(&db, "p1", None, "admin").await.unwrap();

        // The operator's rotation: the old key moves aside, a new one signs.
        std::fs::rename(
            keys.path().join(SIGNING_KEY_FILE),
            keys.path().join("previous.pem"),
        )
        .unwrap();
        std::fs::write(keys.path().join(SIGNING_KEY_FILE), new_pem()).unwrap();
        let new = tokens.issue(&db, "p1", None, "admin").await.unwrap();
        assert_ne!(kid_of(&old), kid_of(&new));
        // Another replica reading the same directory agrees on both kids.
        let other = Tokens::from_dir(Duration::from_secs(600), keys.path());
        other.verify(&db, &old).await.unwrap();
        other.verify(&db, &new).await.unwrap();
        let jwks = tokens.jwks(&db).await.unwrap();
        let kids: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(
            kids,
            [kid_of(&new), kid_of(&old)],
            "the signing key is listed first"
        );

        // Once previous.pem is deleted, its tokens stop verifying.
        std::fs::remove_file(keys.path().join("previous.pem")).unwrap();
        let fresh = Tokens::from_dir(Duration::from_secs(600), keys.path());
        let e = fresh.verify(&db, &old).await.unwrap_err();
        assert!(e.to_string().contains("unknown signing key"), "{e}");
        fresh.verify(&db, &new).await.unwrap();
    }

    #[tokio::test]
    async fn a_key_directory_without_a_usable_signing_key_is_refused_with_what_to_do() {
        let (_dir, db, _) = setup().await;
        let keys = tempfile::tempdir().unwrap();
        let tokens = Tokens::from_dir(Duration::from_secs(600), keys.path());
        let e = tokens
            .ensure_signing_key(&db)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no signing.pem") && e.contains("openssl genpkey"),
            "{e}"
        );

        let ecdsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_pem();
        std::fs::write(keys.path().join(SIGNING_KEY_FILE), ecdsa).unwrap();
        let e = tokens
            .ensure_signing_key(&db)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("signing.pem is not a PKCS#8 PEM Ed25519"), "{e}");

        std::fs::write(keys.path().join(SIGNING_KEY_FILE), "not a key").unwrap();
        let e = tokens
            .ensure_signing_key(&db)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("signing.pem is not a PKCS#8 PEM Ed25519"), "{e}");

        // Once loaded, a half-written directory does not take the signing key away.
        std::fs::write(keys.path().join(SIGNING_KEY_FILE), OPENSSL_KEY).unwrap();
        tokens.ensure_signing_key(&db).await.unwrap();
        let before = tokens.issue(&db, "p1", None, "admin").await.unwrap();
        std::fs::write(keys.path().join(SIGNING_KEY_FILE), "torn").unwrap();
        let after = tokens.issue(&db, "p1", None, "admin").await.unwrap();
        assert_eq!(kid_of(&before), kid_of(&after));
    }
}
