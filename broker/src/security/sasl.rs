//! The SASL state of one connection, driven by SaslHandshake (v1) and SaslAuthenticate.
//!
//! `Start` → SaslHandshake picks a mechanism → `Handshaken` → SaslAuthenticate rounds
//! (one for PLAIN, two for SCRAM) → `Authenticated` with a [`Principal`]. On a SASL listener
//! nothing but ApiVersions, SaslHandshake and SaslAuthenticate is served before that; a
//! failed exchange is answered with SASL_AUTHENTICATION_FAILED and the connection closed.
//!
//! KIP-368: a session may carry an expiry (an OAUTHBEARER token's `exp`, or
//! `connections.max.reauth.ms`). The client re-authenticates on the same connection before
//! it (SaslHandshake and SaslAuthenticate again, same mechanism, same principal); once it has
//! passed, nothing but re-authentication is served and the connection is closed.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::oauth::JwksCache;
use super::scram::{ScramCredential, ScramMechanism, ScramServer};
use super::{Principal, SaslMechanism, SecurityProtocol};

enum SaslState {
    Start,
    Handshaken(SaslMechanism),
    Scram(Box<ScramServer>),
    Authenticated,
    Failed,
}

/// Per-connection security state: the listener it arrived on and who it is.
pub struct Session {
    /// Name of the listener (e.g. `SASL_SSL`, `CONTROL`), for advertised addresses.
    pub listener: String,
    /// The listener's security protocol.
    pub protocol: SecurityProtocol,
    principal: Option<Principal>,
    state: SaslState,
    /// The mechanism of the last successful authentication.
    mechanism: Option<SaslMechanism>,
    /// During re-authentication: who the connection was (it must stay the same).
    reauth_of: Option<Principal>,
    /// When the session ends unless re-authenticated (ms since the epoch).
    expires_ms: Option<i64>,
    /// The expiry of the OAUTHBEARER token just verified.
    token_expires_ms: Option<i64>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("listener", &self.listener)
            .field("protocol", &self.protocol)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// The result of a SaslHandshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeOutcome {
    /// The mechanism is enabled; SaslAuthenticate may follow.
    Accepted,
    /// Not enabled here; the response lists the enabled ones.
    UnsupportedMechanism,
    /// No SASL on this listener, or already authenticated.
    IllegalState,
}

/// The result of one SaslAuthenticate round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Send these bytes; the exchange goes on (SCRAM server-first).
    Continue(Bytes),
    /// Authenticated; send these bytes (empty for PLAIN, server-final for SCRAM).
    Done(Bytes),
    /// Failed: answer SASL_AUTHENTICATION_FAILED and close. The reason is for the log only.
    Failed(String),
    /// SaslAuthenticate without a successful SaslHandshake.
    IllegalState,
}

impl Session {
    /// A new connection on a listener with `protocol`.
    pub fn new(listener: impl Into<String>, protocol: SecurityProtocol) -> Self {
        Session {
            listener: listener.into(),
            protocol,
            principal: (!protocol.sasl()).then(Principal::anonymous),
            state: SaslState::Start,
            mechanism: None,
            reauth_of: None,
            expires_ms: None,
            token_expires_ms: None,
        }
    }

    /// Whether the session has passed its expiry without re-authenticating.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_ms.is_some_and(|e| now_ms >= e)
    }

    /// After a successful SaslAuthenticate: fixes the session's expiry — the token's, and
    /// at most `max_reauth_ms` (when positive) from now — and returns the lifetime to send
    /// (`session_lifetime_ms`; 0 = none).
    pub fn start_session(&mut self, now_ms: i64, max_reauth_ms: i64) -> i64 {
        let by_config = (max_reauth_ms > 0).then(|| now_ms.saturating_add(max_reauth_ms));
        self.expires_ms = match (self.token_expires_ms.take(), by_config) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.expires_ms.map_or(0, |e| (e - now_ms).max(1))
    }

    /// On an SSL listener, the principal named by the client certificate (mutual TLS); on
    /// SASL listeners the SASL identity wins and this does nothing.
    pub fn set_certificate_principal(&mut self, name: String) {
        if !self.protocol.sasl() {
            self.principal = Some(Principal::user(name));
        }
    }

    /// Who the connection is, once authenticated (always, on non-SASL listeners).
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// Whether `key` may be served now: everything once authenticated, else only the APIs
    /// that lead to authentication.
    pub fn may_serve(&self, key: ApiKey) -> bool {
        (self.principal.is_some() && self.reauth_of.is_none())
            || matches!(
                key,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            )
    }

    /// Handles SaslHandshake for `mechanism` given the enabled ones.
    pub fn handshake(&mut self, mechanism: &str, enabled: &[SaslMechanism]) -> HandshakeOutcome {
        let reauth = matches!(self.state, SaslState::Authenticated);
        if !self.protocol.sasl() || !(matches!(self.state, SaslState::Start) || reauth) {
            return HandshakeOutcome::IllegalState;
        }
        match SaslMechanism::from_name(mechanism).filter(|m| enabled.contains(m)) {
            // KIP-368: re-authentication keeps the mechanism.
            Some(m) if reauth && self.mechanism != Some(m) => HandshakeOutcome::IllegalState,
            Some(m) => {
                if reauth {
                    self.reauth_of = self.principal.clone();
                }
                self.state = SaslState::Handshaken(m);
                HandshakeOutcome::Accepted
            }
            None => HandshakeOutcome::UnsupportedMechanism,
        }
    }

    /// Handles one SaslAuthenticate round. `lookup` finds a user's stored credential; PLAIN's
    /// password check (PBKDF2) runs on the blocking pool; `oauth` verifies OAUTHBEARER tokens.
    pub async fn authenticate<F>(
        &mut self,
        auth_bytes: &[u8],
        lookup: F,
        oauth: Option<&JwksCache>,
        now_ms: i64,
    ) -> AuthOutcome
    where
        F: Fn(&str, ScramMechanism) -> Option<ScramCredential> + Send + 'static,
    {
        let state = std::mem::replace(&mut self.state, SaslState::Failed);
        let mechanism = match &state {
            SaslState::Handshaken(m) => Some(*m),
            SaslState::Scram(s) => Some(SaslMechanism::Scram(s.mechanism())),
            _ => None,
        };
        let outcome = match state {
            SaslState::Handshaken(SaslMechanism::Plain) => self.plain(auth_bytes, lookup).await,
            SaslState::Handshaken(SaslMechanism::OAuthBearer) => match oauth {
                None => AuthOutcome::Failed("OAUTHBEARER: no JWKS is configured".into()),
                Some(jwks) => self.oauth_bearer(auth_bytes, jwks, now_ms).await,
            },
            SaslState::Handshaken(SaslMechanism::Scram(m)) => {
                let mut server = ScramServer::new(m);
                match server.client_first(auth_bytes, |user| lookup(user, m)) {
                    Ok(first) => {
                        self.state = SaslState::Scram(Box::new(server));
                        return AuthOutcome::Continue(Bytes::from(first));
                    }
                    Err(e) => AuthOutcome::Failed(format!("{}: {e}", m.name())),
                }
            }
            SaslState::Scram(mut server) => {
                let user = server.user().unwrap_or_default().to_string();
                match server.client_final(auth_bytes) {
                    Ok((last, user)) => {
                        self.principal = Some(Principal::user(user));
                        AuthOutcome::Done(Bytes::from(last))
                    }
                    Err(e) => AuthOutcome::Failed(format!("SCRAM for user {user:?}: {e}")),
                }
            }
            SaslState::Start | SaslState::Authenticated | SaslState::Failed => {
                self.state = state;
                return AuthOutcome::IllegalState;
            }
        };
        if matches!(outcome, AuthOutcome::Done(_)) {
            if let Some(before) = self.reauth_of.take()
                && self.principal.as_ref().map(|p| &p.name) != Some(&before.name)
            {
                let now = self.principal.replace(before.clone());
                return AuthOutcome::Failed(format!(
                    "re-authentication as {} on a connection of {before}",
                    now.map(|p| p.to_string()).unwrap_or_default()
                ));
            }
            self.state = SaslState::Authenticated;
            self.mechanism = mechanism;
        }
        outcome
    }

    async fn oauth_bearer(
        &mut self,
        auth_bytes: &[u8],
        jwks: &JwksCache,
        now_ms: i64,
    ) -> AuthOutcome {
        let token = match super::oauth::parse_client_response(auth_bytes) {
            Ok(t) => t,
            Err(e) => return AuthOutcome::Failed(format!("OAUTHBEARER: {e}")),
        };
        match jwks.verify(&token, now_ms).await {
            Ok(v) => {
                self.principal = Some(Principal::user(v.principal));
                self.token_expires_ms = Some(v.expires_ms);
                AuthOutcome::Done(Bytes::new())
            }
            Err(e) => AuthOutcome::Failed(format!("OAUTHBEARER: {e}")),
        }
    }

    async fn plain<F>(&mut self, auth_bytes: &[u8], lookup: F) -> AuthOutcome
    where
        F: Fn(&str, ScramMechanism) -> Option<ScramCredential> + Send + 'static,
    {
        // message = [authzid] NUL authcid NUL passwd (RFC 4616)
        let mut parts = auth_bytes.split(|b| *b == 0);
        let (Some(authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return AuthOutcome::Failed("PLAIN: malformed message".into());
        };
        let (Ok(authzid), Ok(user), Ok(password)) = (
            std::str::from_utf8(authzid),
            std::str::from_utf8(user),
            std::str::from_utf8(password),
        ) else {
            return AuthOutcome::Failed("PLAIN: not UTF-8".into());
        };
        if user.is_empty() || (!authzid.is_empty() && authzid != user) {
            return AuthOutcome::Failed("PLAIN: empty user or foreign authorization id".into());
        }
        let (user, password) = (user.to_string(), password.to_string());
        let check_user = user.clone();
        let ok = tokio::task::spawn_blocking(move || {
            // Prefer the stronger hash when both exist.
            [ScramMechanism::Sha512, ScramMechanism::Sha256]
                .into_iter()
                .find_map(|m| lookup(&check_user, m).map(|c| (m, c)))
                .is_some_and(|(m, c)| c.verify_password(m, &password))
        })
        .await
        .unwrap_or(false);
        if ok {
            self.principal = Some(Principal::user(user));
            AuthOutcome::Done(Bytes::new())
        } else {
            AuthOutcome::Failed(format!("PLAIN: invalid credentials for user {user:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scram::ScramClient;

    fn store() -> impl Fn(&str, ScramMechanism) -> Option<ScramCredential> + Send + Clone + 'static
    {
        let creds: Vec<(ScramMechanism, ScramCredential)> = ScramMechanism::ALL
            .into_iter()
            .map(|m| (m, ScramCredential::from_password(m, "pw", 4096)))
            .collect();
        move |user: &str, m: ScramMechanism| {
            (user == "alice" || user == "bob")
                .then(|| {
                    creds
                        .iter()
                        .find(|(cm, _)| *cm == m)
                        .map(|(_, c)| c.clone())
                })
                .flatten()
        }
    }

    const ALL: &[SaslMechanism] = &[
        SaslMechanism::Plain,
        SaslMechanism::Scram(ScramMechanism::Sha256),
        SaslMechanism::Scram(ScramMechanism::Sha512),
    ];

    #[tokio::test]
    async fn nothing_but_authentication_is_served_before_it_succeeds() {
        let mut s = Session::new("SASL_SSL", SecurityProtocol::SaslSsl);
        assert!(s.may_serve(ApiKey::ApiVersions));
        assert!(!s.may_serve(ApiKey::Metadata));
        assert_eq!(
            s.authenticate(b"\0alice\0pw", store(), None, 0).await,
            AuthOutcome::IllegalState
        );
        assert_eq!(s.handshake("PLAIN", ALL), HandshakeOutcome::Accepted);
        assert_eq!(
            s.authenticate(b"\0alice\0pw", store(), None, 0).await,
            AuthOutcome::Done(Bytes::new())
        );
        assert!(s.may_serve(ApiKey::Metadata));
        assert_eq!(s.principal(), Some(&Principal::user("alice")));
        assert_eq!(
            s.start_session(1_000, 0),
            0,
            "no expiry without a token or limit"
        );
        assert!(!s.expired(i64::MAX));
    }

    #[tokio::test]
    async fn reauthentication_keeps_mechanism_and_principal_and_resets_the_expiry() {
        let mut s = Session::new("SASL_SSL", SecurityProtocol::SaslSsl);
        s.handshake("PLAIN", ALL);
        s.authenticate(b"\0alice\0pw", store(), None, 0).await;
        assert_eq!(s.start_session(1_000, 5_000), 5_000);
        assert!(!s.expired(5_999) && s.expired(6_000));
        // Another mechanism is not a re-authentication.
        assert_eq!(
            s.handshake("SCRAM-SHA-256", ALL),
            HandshakeOutcome::IllegalState
        );
        assert_eq!(s.handshake("PLAIN", ALL), HandshakeOutcome::Accepted);
        assert!(
            !s.may_serve(ApiKey::Metadata),
            "only re-authentication meanwhile"
        );
        assert_eq!(
            s.authenticate(b"\0alice\0pw", store(), None, 5_500).await,
            AuthOutcome::Done(Bytes::new())
        );
        assert_eq!(s.start_session(5_500, 5_000), 5_000);
        assert!(!s.expired(6_000) && s.expired(10_500));
        assert!(s.may_serve(ApiKey::Metadata));
        // Re-authenticating as someone else fails and keeps the old principal.
        let mut both = Session::new("SASL_SSL", SecurityProtocol::SaslSsl);
        both.handshake("PLAIN", ALL);
        both.authenticate(b"\0alice\0pw", store(), None, 0).await;
        both.handshake("PLAIN", ALL);
        let other = both.authenticate(b"\0bob\0pw", store(), None, 0).await;
        assert!(matches!(other, AuthOutcome::Failed(_)), "{other:?}");
        assert_eq!(both.principal(), Some(&Principal::user("alice")));
    }

    #[tokio::test]
    async fn plain_rejects_wrong_passwords_unknown_users_and_garbage() {
        for msg in [
            &b"\0alice\0wrong"[..],
            b"\0mallory\0pw",
            b"bob\0alice\0pw",
            b"alice\0pw",
            b"\0alice\0pw\0extra",
            b"\0\0pw",
        ] {
            let mut s = Session::new("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext);
            s.handshake("PLAIN", ALL);
            assert!(
                matches!(
                    s.authenticate(msg, store(), None, 0).await,
                    AuthOutcome::Failed(_)
                ),
                "{msg:?}"
            );
            assert!(s.principal().is_none());
            assert!(!s.may_serve(ApiKey::Produce));
        }
    }

    #[tokio::test]
    async fn scram_takes_two_rounds() {
        for m in ScramMechanism::ALL {
            let mut s = Session::new("SASL_SSL", SecurityProtocol::SaslSsl);
            assert_eq!(s.handshake(m.name(), ALL), HandshakeOutcome::Accepted);
            let mut client = ScramClient::new(m, "alice", "pw");
            let AuthOutcome::Continue(first) = s
                .authenticate(&client.client_first(), store(), None, 0)
                .await
            else {
                panic!("expected server-first");
            };
            assert!(s.principal().is_none());
            let fin = client.client_final(&first).unwrap();
            let AuthOutcome::Done(last) = s.authenticate(&fin, store(), None, 0).await else {
                panic!("expected server-final");
            };
            client.verify_server_final(&last).unwrap();
            assert_eq!(s.principal(), Some(&Principal::user("alice")));
        }
    }

    #[test]
    fn handshake_checks_listener_and_enabled_mechanisms() {
        let mut plain = Session::new("PLAINTEXT", SecurityProtocol::Plaintext);
        assert_eq!(plain.principal(), Some(&Principal::anonymous()));
        assert_eq!(
            plain.handshake("PLAIN", ALL),
            HandshakeOutcome::IllegalState
        );
        let mut s = Session::new("SASL_SSL", SecurityProtocol::SaslSsl);
        assert_eq!(
            s.handshake("PLAIN", &[SaslMechanism::Scram(ScramMechanism::Sha512)]),
            HandshakeOutcome::UnsupportedMechanism
        );
        assert_eq!(
            s.handshake("GSSAPI", ALL),
            HandshakeOutcome::UnsupportedMechanism
        );
    }
}
