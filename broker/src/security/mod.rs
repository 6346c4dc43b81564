//! Transport security and authentication: listeners' security protocols, TLS (rustls),
//! SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and the principal a connection acts as.
//!
//! # Layout
//!
//! - [`tls`]: server configuration from PEM files, re-read when the files change.
//! - [`scram`]: SCRAM credentials and the RFC 5802 exchange (server and client).
//! - [`sasl`]: the per-connection SASL state machine that SaslHandshake and
//!   SaslAuthenticate drive; nothing else is served on a SASL listener before it succeeds.

pub mod acl;
pub mod authorizer;
pub mod credentials;
pub mod mtls;
pub mod oauth;
pub mod sasl;
pub mod scram;
pub mod tls;

use std::fmt;

use crate::error::{Error, Result};

/// How a listener protects and authenticates connections (Kafka's `SecurityProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// No TLS, no authentication; the principal is `User:ANONYMOUS`.
    Plaintext,
    /// TLS, no SASL.
    Ssl,
    /// SASL without TLS (loopback or trusted networks only: PLAIN sends the password).
    SaslPlaintext,
    /// SASL inside TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            other => Err(Error::InvalidConfig(format!(
                "unknown security protocol {other:?}; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
            ))),
        }
    }

    /// Whether connections speak TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections must authenticate with SASL before anything else.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        })
    }
}

/// Who a connection acts as, in Kafka's `User:name` form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The user name (`ANONYMOUS` when nothing authenticated the connection).
    pub name: String,
    /// The tenant the principal belongs to, when tenant isolation is on
    /// (`fjord.tenant.isolation`): the user name up to its first `.`. A tenant's principals
    /// only ever see and touch topics, groups and transactional ids named `<tenant>.…`.
    pub tenant: Option<String>,
}

impl Principal {
    /// The principal of unauthenticated listeners.
    pub fn anonymous() -> Self {
        Principal {
            name: "ANONYMOUS".to_string(),
            tenant: None,
        }
    }

    /// A SASL-authenticated user (no tenant until [`SecurityConfig::assign_tenant`]).
    pub fn user(name: impl Into<String>) -> Self {
        Principal {
            name: name.into(),
            tenant: None,
        }
    }

    /// A user of `tenant` (tests and tools).
    pub fn tenant_user(name: impl Into<String>) -> Self {
        let name = name.into();
        Principal {
            tenant: tenant_of(&name).map(str::to_string),
            name,
        }
    }

    /// Whether a topic, group or transactional id named `resource` lies in this principal's
    /// tenant namespace (always true for principals without a tenant).
    pub fn owns(&self, resource: &str) -> bool {
        match &self.tenant {
            None => true,
            Some(t) => resource
                .strip_prefix(t.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
        }
    }
}

/// The tenant part of a user name: everything before the first `.`, when both parts are
/// non-empty. Names without a `.` (operators, the control plane) have no tenant.
fn tenant_of(name: &str) -> Option<&str> {
    match name.split_once('.') {
        Some((tenant, user)) if !tenant.is_empty() && !user.is_empty() => Some(tenant),
        _ => None,
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "User:{}", self.name)
    }
}

/// A SASL mechanism the broker can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// RFC 4616; the password is checked against the SCRAM credential store.
    Plain,
    /// RFC 5802 / 7677.
    Scram(scram::ScramMechanism),
    /// RFC 7628: a JWT checked against the configured JWKS.
    OAuthBearer,
}

impl SaslMechanism {
    /// Parses a mechanism name as clients send it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(SaslMechanism::Plain),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            n => scram::ScramMechanism::from_name(n).map(SaslMechanism::Scram),
        }
    }

    /// The mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
            SaslMechanism::Scram(m) => m.name(),
        }
    }
}

/// Security settings of the broker, parsed from the config keys.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// PEM file with the private key and certificate chain (`ssl.keystore.location`).
    pub keystore: Option<std::path::PathBuf>,
    /// Mechanisms offered on SASL listeners (`sasl.enabled.mechanisms`), in order.
    pub sasl_mechanisms: Vec<SaslMechanism>,
    /// Principals allowed everything (`super.users`, `User:a;User:b`).
    pub super_users: Vec<String>,
    /// Users whose SCRAM credentials are created or updated at start
    /// (`fjord.bootstrap.users`, `name:password,…`): how the first admin gets in.
    pub bootstrap_users: Vec<(String, String)>,
    /// Delay before answering a failed authentication (brute-force brake).
    pub failed_authentication_delay_ms: u64,
    /// `fjord.tenant.isolation`: principals named `<tenant>.<user>` are confined to
    /// resources named `<tenant>.…`, whatever the ACLs say.
    pub tenant_isolation: bool,
    /// Whether ACLs are enforced (`authorizer.class.name` set).
    pub authorizer: bool,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
    /// Whether TLS listeners ask for client certificates (`ssl.client.auth`).
    pub client_auth: mtls::ClientAuth,
    /// PEM CA certificates client certificates must chain to (`ssl.truststore.location`).
    pub truststore: Option<std::path::PathBuf>,
    /// How a client certificate's subject becomes a principal name.
    pub principal_mapping: mtls::PrincipalMapping,
    /// OAUTHBEARER token checks (used when OAUTHBEARER is enabled).
    pub oauth: oauth::OAuthConfig,
    /// `connections.max.reauth.ms`: when positive, every SASL session ends after this long
    /// unless the client re-authenticates (KIP-368).
    pub max_reauth_ms: i64,
}

impl SecurityConfig {
    /// Whether `principal` is a super user.
    pub fn is_super_user(&self, principal: &Principal) -> bool {
        self.super_users
            .iter()
            .any(|s| s.strip_prefix("User:") == Some(principal.name.as_str()))
    }

    /// Sets the principal's tenant from its name when tenant isolation is on.
    pub fn assign_tenant(&self, mut principal: Principal) -> Principal {
        if self.tenant_isolation {
            principal.tenant = tenant_of(&principal.name).map(str::to_string);
        }
        principal
    }
}

/// Parses `sasl.enabled.mechanisms`.
pub fn parse_mechanisms(text: &str) -> Result<Vec<SaslMechanism>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            SaslMechanism::from_name(name).ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "sasl.enabled.mechanisms: {name:?} is not supported; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
                ))
            })
        })
        .collect()
}

/// Parses `authorizer.class.name`: empty turns authorization off; Fjord's ACL authorizer
/// answers to its own name and to the class names Kafka users already have in their configs.
pub fn parse_authorizer(text: &str) -> Result<bool> {
    match text.trim() {
        "" => Ok(false),
        "fjord"
        | "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        | "kafka.security.authorizer.AclAuthorizer" => Ok(true),
        other => Err(Error::InvalidConfig(format!(
            "authorizer.class.name: {other:?} is not available; use fjord (ACLs) or leave it empty"
        ))),
    }
}

/// Parses `super.users` (`User:a;User:b`).
pub fn parse_super_users(text: &str) -> Result<Vec<String>> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|p| {
            if p.starts_with("User:") && p.len() > 5 {
                Ok(p.to_string())
            } else {
                Err(Error::InvalidConfig(format!(
                    "super.users: {p:?} must look like User:name (separate several with ';')"
                )))
            }
        })
        .collect()
}

/// Parses `fjord.bootstrap.users` (`name:password,…`).
pub fn parse_bootstrap_users(text: &str) -> Result<Vec<(String, String)>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Ok((user.to_string(), password.to_string()))
            }
            _ => Err(Error::InvalidConfig(
                "fjord.bootstrap.users: entries must look like name:password".into(),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_parse_and_bad_ones_name_the_key() {
        assert_eq!(
            parse_mechanisms("PLAIN, SCRAM-SHA-512").unwrap(),
            vec![
                SaslMechanism::Plain,
                SaslMechanism::Scram(scram::ScramMechanism::Sha512)
            ]
        );
        let e = parse_mechanisms("GSSAPI").unwrap_err().to_string();
        assert!(e.contains("sasl.enabled.mechanisms"), "{e}");
        assert_eq!(
            parse_super_users("User:a; User:b").unwrap(),
            vec!["User:a", "User:b"]
        );
        assert!(parse_super_users("admin").is_err());
        assert_eq!(
            parse_bootstrap_users("admin:pw:with:colons").unwrap(),
            vec![("admin".to_string(), "pw:with:colons".to_string())]
        );
        assert!(parse_bootstrap_users("admin").is_err());
        assert!(SecurityProtocol::parse("SASL_SSL").unwrap().sasl());
        assert!(SecurityProtocol::parse("sasl_ssl").is_err());
    }

    #[test]
    fn super_users_match_by_principal_name() {
        let cfg = SecurityConfig {
            super_users: vec!["User:admin".into()],
            ..Default::default()
        };
        assert!(cfg.is_super_user(&Principal::user("admin")));
        assert!(!cfg.is_super_user(&Principal::user("admin2")));
        assert!(!cfg.is_super_user(&Principal::anonymous()));
    }

    #[test]
    fn tenants_come_from_the_name_and_confine_resources() {
        let off = SecurityConfig::default();
        assert_eq!(
            off.assign_tenant(Principal::user("acme.alice")).tenant,
            None
        );
        let on = SecurityConfig {
            tenant_isolation: true,
            ..Default::default()
        };
        let alice = on.assign_tenant(Principal::user("acme.alice"));
        assert_eq!(alice.tenant.as_deref(), Some("acme"));
        assert!(alice.owns("acme.orders"));
        assert!(!alice.owns("acme"));
        assert!(!alice.owns("acmeorders"));
        assert!(!alice.owns("acme-corp.orders"));
        assert!(!alice.owns("globex.orders"));
        for no_tenant in ["admin", ".x", "x.", "ANONYMOUS"] {
            let p = on.assign_tenant(Principal::user(no_tenant));
            assert_eq!(p.tenant, None, "{no_tenant}");
            assert!(p.owns("globex.orders"));
        }
    }
}
