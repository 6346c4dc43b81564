//! Mutual TLS: client certificates checked against a trust store (`ssl.client.auth`,
//! `ssl.truststore.location`) and turned into principals as Kafka does — the subject's
//! distinguished name in RFC 2253 form (`CN=alice,OU=eng,O=acme`), rewritten by
//! `ssl.principal.mapping.rules` (`RULE:pattern/replacement/[LU]`, …, `DEFAULT`).
//!
//! Only listeners whose protocol is SSL take their principal from the certificate; on
//! SASL_SSL the SASL identity wins, as in Kafka.

use std::path::Path;

use regex::Regex;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};

/// Whether TLS listeners ask for a client certificate (Kafka's `ssl.client.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// Asked for; a client without one connects as `User:ANONYMOUS`.
    Requested,
    /// Required: the handshake fails without a certificate the trust store vouches for.
    Required,
}

impl ClientAuth {
    /// Parses `none`, `requested` or `required`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "none" => Ok(ClientAuth::None),
            "requested" => Ok(ClientAuth::Requested),
            "required" => Ok(ClientAuth::Required),
            other => Err(Error::InvalidConfig(format!(
                "ssl.client.auth: {other:?} is not one of none, requested, required"
            ))),
        }
    }
}

/// One rule of `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
enum Rule {
    /// The distinguished name as it is.
    Default,
    /// If the whole name matches, the replacement (with `$1`…), optionally lower- or
    /// upper-cased.
    Rewrite {
        pattern: Regex,
        replacement: String,
        case: Option<char>,
    },
}

/// Parsed `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
pub struct PrincipalMapping {
    rules: Vec<Rule>,
}

impl Default for PrincipalMapping {
    fn default() -> Self {
        PrincipalMapping {
            rules: vec![Rule::Default],
        }
    }
}

/// Reads up to the next unescaped `/`; returns the text (escapes removed) and the rest.
fn until_slash(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '/')) => out.push('/'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            '/' => return Some((out, &text[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

impl PrincipalMapping {
    /// Parses Kafka's rule list, e.g. `RULE:^CN=([^,]*),.*$/$1/L,DEFAULT`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::InvalidConfig(format!("ssl.principal.mapping.rules: {why} in {text:?}"))
        };
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) =
                    until_slash(after).ok_or_else(|| bad("unterminated pattern"))?;
                let (replacement, after) =
                    until_slash(after).ok_or_else(|| bad("unterminated replacement"))?;
                let (case, after) = match after.chars().next() {
                    Some(c @ ('L' | 'U')) => (Some(c), &after[1..]),
                    _ => (None, after),
                };
                let pattern = Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| bad(&format!("bad pattern {pattern:?}: {e}")))?;
                rules.push(Rule::Rewrite {
                    pattern,
                    replacement,
                    case,
                });
                rest = after;
            } else {
                return Err(bad("expected RULE:… or DEFAULT"));
            }
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after.trim_start();
            } else if !rest.is_empty() {
                return Err(bad("rules must be separated by ','"));
            }
        }
        if rules.is_empty() {
            return Err(bad("no rules"));
        }
        Ok(PrincipalMapping { rules })
    }

    /// The principal name for a distinguished name: the first rule that applies; a name no
    /// rule applies to is refused (Kafka fails such a handshake too).
    pub fn map(&self, dn: &str) -> Option<String> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Some(dn.to_string()),
                Rule::Rewrite {
                    pattern,
                    replacement,
                    case,
                } => {
                    if !pattern.is_match(dn) {
                        continue;
                    }
                    let name = pattern.replace(dn, replacement.as_str()).into_owned();
                    return Some(match case {
                        Some('L') => name.to_lowercase(),
                        Some('U') => name.to_uppercase(),
                        _ => name,
                    });
                }
            }
        }
        None
    }
}

/// The subject of a DER certificate as an RFC 2253 distinguished name (most specific
/// attribute first, `,` between them), the form Kafka's principals use.
pub fn subject_dn(cert_der: &[u8]) -> Result<String> {
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| Error::Malformed(format!("client certificate: {e}")))?;
    let mut parts = Vec::new();
    for rdn in cert.subject().iter().collect::<Vec<_>>().into_iter().rev() {
        let attrs: Vec<String> = rdn
            .iter()
            .map(|attr| {
                let oid = attr.attr_type().to_id_string();
                let key = match oid.as_str() {
                    "2.5.4.3" => "CN".to_string(),
                    "2.5.4.11" => "OU".to_string(),
                    "2.5.4.10" => "O".to_string(),
                    "2.5.4.7" => "L".to_string(),
                    "2.5.4.8" => "ST".to_string(),
                    "2.5.4.6" => "C".to_string(),
                    "2.5.4.9" => "STREET".to_string(),
                    "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                    "0.9.2342.19200300.100.1.1" => "UID".to_string(),
                    _ => oid,
                };
                let value = attr.as_str().unwrap_or_default();
                format!("{key}={}", escape(value))
            })
            .collect();
        parts.push(attrs.join("+"));
    }
    Ok(parts.join(","))
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.len() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reads the PEM trust store of `ssl.truststore.location`.
pub fn load_trust_store(path: &Path) -> Result<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
        Error::InvalidConfig(format!("ssl.truststore.location {}: {e}", path.display()))
    })?;
    for cert in certs {
        let cert = cert.map_err(|e| {
            Error::InvalidConfig(format!("ssl.truststore.location {}: {e}", path.display()))
        })?;
        roots.add(cert).map_err(|e| {
            Error::InvalidConfig(format!("ssl.truststore.location {}: {e}", path.display()))
        })?;
    }
    if roots.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "ssl.truststore.location {} holds no certificate",
            path.display()
        )));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_read_most_specific_first() {
        let mut params = rcgen::CertificateParams::new(vec!["client".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "US");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme, Inc");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            subject_dn(cert.der()).unwrap(),
            "CN=alice,O=Acme\\, Inc,C=US"
        );
        assert!(subject_dn(b"not a certificate").is_err());
    }

    #[test]
    fn mapping_rules_follow_kafka() {
        let m = PrincipalMapping::parse(
            "RULE:^CN=([^,]*),OU=Service.*$/svc-$1/L, RULE:^CN=([^,]*),.*$/$1/, DEFAULT",
        )
        .unwrap();
        assert_eq!(
            m.map("CN=Billing,OU=ServiceUsers,O=acme").unwrap(),
            "svc-billing"
        );
        assert_eq!(m.map("CN=alice,O=acme").unwrap(), "alice");
        assert_eq!(m.map("O=acme").unwrap(), "O=acme", "DEFAULT");
        let strict = PrincipalMapping::parse("RULE:^CN=(.*)$/$1/U").unwrap();
        assert_eq!(strict.map("CN=bob").unwrap(), "BOB");
        assert_eq!(strict.map("O=x"), None, "no rule applies");
        let slash = PrincipalMapping::parse(r"RULE:^CN=(.*)$/team\/$1/").unwrap();
        assert_eq!(slash.map("CN=a").unwrap(), "team/a");
        assert!(PrincipalMapping::parse("RULE:^CN=(.*$/x/").is_err());
        assert!(PrincipalMapping::parse("RULE:abc").is_err());
        assert!(PrincipalMapping::parse("NOPE").is_err());
        assert_eq!(PrincipalMapping::default().map("CN=x").unwrap(), "CN=x");
        assert_eq!(ClientAuth::parse("required").unwrap(), ClientAuth::Required);
        assert!(ClientAuth::parse("yes").is_err());
    }
}
