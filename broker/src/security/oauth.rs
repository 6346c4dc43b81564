//! SASL/OAUTHBEARER (RFC 7628, KIP-255/KIP-768): the client sends a JWT; the broker checks
//! its signature against a JWKS (`sasl.oauthbearer.jwks.endpoint.url`, a `file:` path or an
//! `http://` URL, re-read every `sasl.oauthbearer.jwks.endpoint.refresh.ms` and when a token
//! names an unknown key), its expiry (with `sasl.oauthbearer.clock.skew.seconds`), and the
//! expected audience and issuer when configured. The principal is the `sub` claim (or
//! `sasl.oauthbearer.sub.claim.name`). The token's expiry bounds the session: KIP-368
//! clients re-authenticate before it, and others are disconnected after it.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};

use crate::error::{Error, Result};

/// OAUTHBEARER settings.
#[derive(Debug, Clone, Default)]
pub struct OAuthConfig {
    /// `file:/path/jwks.json`, `/path/jwks.json` or `http://host:port/path`.
    pub jwks_url: String,
    /// How often the key set is re-read.
    pub refresh: Duration,
    /// Accepted `aud` values (empty: not checked).
    pub expected_audience: Vec<String>,
    /// Required `iss` (None: not checked).
    pub expected_issuer: Option<String>,
    /// The claim holding the principal name.
    pub sub_claim: String,
    /// Allowed clock difference for `exp`/`nbf`.
    pub clock_skew_s: u64,
}

/// A verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The principal name (the `sub` claim).
    pub principal: String,
    /// When the token expires (ms since the epoch).
    pub expires_ms: i64,
}

/// The key set and how to refresh it.
#[derive(Debug)]
pub struct JwksCache {
    config: OAuthConfig,
    keys: RwLock<Arc<JwkSet>>,
    last_refresh: Mutex<Option<Instant>>,
}

/// The least time between two refreshes caused by unknown key ids.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

impl JwksCache {
    /// An empty cache; [`JwksCache::refresh`] loads the keys (the server does before it
    /// accepts connections, so a broker that cannot read them does not start).
    pub fn new(config: OAuthConfig) -> Arc<Self> {
        Arc::new(JwksCache {
            config,
            keys: RwLock::new(Arc::new(JwkSet { keys: Vec::new() })),
            last_refresh: Mutex::new(None),
        })
    }

    /// Re-reads the key set; on failure the old keys stay and the error is returned.
    pub async fn refresh(&self) -> Result<()> {
        *self.last_refresh.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let keys = fetch(&self.config.jwks_url).await?;
        tracing::debug!(url = %self.config.jwks_url, keys = keys.keys.len(), "loaded the OAUTHBEARER key set");
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// Refreshes every `sasl.oauthbearer.jwks.endpoint.refresh.ms` until the task is dropped.
    pub async fn refresh_forever(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.refresh.max(MIN_REFRESH_INTERVAL));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(url = %self.config.jwks_url, error = %e, "JWKS refresh failed; keeping the previous keys");
            }
        }
    }

    /// Checks a token; the error says why it is refused (logged, never sent to the client).
    pub async fn verify(&self, token: &str, now_ms: i64) -> std::result::Result<Verified, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed JWT: {e}"))?;
        let kid = header.kid.clone().ok_or("the JWT header has no kid")?;
        let mut jwk = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .find(&kid)
            .cloned();
        if jwk.is_none() && self.may_refresh() {
            // Keys rotate: a new kid may be in a fresher copy of the set.
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "JWKS refresh for an unknown kid failed");
            }
            jwk = self
                .keys
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .find(&kid)
                .cloned();
        }
        let jwk = jwk.ok_or_else(|| format!("no key {kid:?} in the JWKS"))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("key {kid:?}: {e}"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.clock_skew_s;
        validation.required_spec_claims = ["exp".to_string()].into_iter().collect();
        if self.config.expected_audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.config.expected_audience);
        }
        if let Some(iss) = &self.config.expected_issuer {
            validation.set_issuer(&[iss]);
        }
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| format!("invalid JWT: {e}"))?;
        let claims = data.claims;
        let principal = claims
            .get(&self.config.sub_claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("the JWT has no {:?} claim", self.config.sub_claim))?
            .to_string();
        let exp_s = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .ok_or("the JWT has no numeric exp")?;
        let expires_ms = exp_s.saturating_mul(1000);
        if expires_ms + (self.config.clock_skew_s as i64) * 1000 <= now_ms {
            return Err("the JWT has expired".into());
        }
        Ok(Verified {
            principal,
            expires_ms,
        })
    }

    fn may_refresh(&self) -> bool {
        let last = *self.last_refresh.lock().unwrap_or_else(|p| p.into_inner());
        last.is_none_or(|t| t.elapsed() >= MIN_REFRESH_INTERVAL)
    }
}

/// Reads a key set from a file or an `http://` URL.
async fn fetch(url: &str) -> Result<JwkSet> {
    let bytes = if let Some(rest) = url.strip_prefix("http://") {
        http_get(rest).await?
    } else if url.starts_with("https://") {
        return Err(Error::InvalidConfig(format!(
            "sasl.oauthbearer.jwks.endpoint.url {url}: https is not supported yet; use http:// inside the cluster or a file: path"
        )));
    } else {
        let path = url
            .strip_prefix("file://")
            .or(url.strip_prefix("file:"))
            .unwrap_or(url);
        tokio::fs::read(path)
            .await
            .map_err(|e| Error::io(format!("failed to read the JWKS at {path}"), e))?
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::InvalidConfig(format!(
            "sasl.oauthbearer.jwks.endpoint.url {url}: not a JWKS: {e}"
        ))
    })
}

/// GET over HTTP/1.1 (hyper's client connection; no TLS).
async fn http_get(host_and_path: &str) -> Result<Vec<u8>> {
    use http_body_util::BodyExt;
    let (authority, path) = match host_and_path.find('/') {
        Some(i) => (&host_and_path[..i], &host_and_path[i..]),
        None => (host_and_path, "/"),
    };
    let fail = |what: String| Error::InvalidConfig(format!("JWKS http://{host_and_path}: {what}"));
    let stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(authority),
    )
    .await
    .map_err(|_| fail("connect timed out".into()))?
    .map_err(|e| fail(format!("connect: {e}")))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| fail(format!("HTTP handshake: {e}")))?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, "application/json")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| fail(format!("request: {e}")))?;
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .map_err(|_| fail("request timed out".into()))?
        .map_err(|e| fail(format!("request: {e}")))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| fail(format!("body: {e}")))?;
    Ok(body.to_bytes().to_vec())
}

/// Parses the client's first message (RFC 7628 §3.1): `n,[a=authzid],` then `auth=Bearer
/// <token>` and extensions, separated by `\x01`. Returns the token.
pub fn parse_client_response(bytes: &[u8]) -> std::result::Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8")?;
    let (gs2, rest) = text.split_once('\u{1}').ok_or("no GS2 header separator")?;
    if !gs2.starts_with("n,") && !gs2.starts_with("y,") {
        return Err("channel binding is not supported".into());
    }
    let mut token = None;
    for kv in rest.split('\u{1}').filter(|s| !s.is_empty()) {
        if let Some(value) = kv.strip_prefix("auth=") {
            let t = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or("the auth value is not a Bearer token")?;
            token = Some(t.trim().to_string());
        }
    }
    token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "no auth=Bearer token".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_messages_parse_as_rfc_7628() {
        let msg = b"n,,\x01auth=Bearer abc.def.ghi\x01ext=1\x01\x01";
        assert_eq!(parse_client_response(msg).unwrap(), "abc.def.ghi");
        let with_authzid = b"n,a=alice,\x01auth=Bearer t\x01\x01";
        assert_eq!(parse_client_response(with_authzid).unwrap(), "t");
        assert!(parse_client_response(b"n,,\x01\x01").is_err());
        assert!(parse_client_response(b"p=tls-unique,,\x01auth=Bearer t\x01\x01").is_err());
        assert!(parse_client_response(b"n,,\x01auth=Basic dXNlcg==\x01\x01").is_err());
        assert!(parse_client_response(&[0xff, 0xfe]).is_err());
    }
}
