//! A small Kafka client over the `kafka-protocol` crate: one connection to one broker, with
//! TLS and SASL. The broker uses it to talk to other brokers (the controller, replica
//! fetchers) and the control plane (`fjord-api`) builds its admin client on it.
//!
//! # Layout
//!
//! - [`connect`] (this file): TCP or TLS (rustls, ring provider, trusting only the given CA),
//!   ApiVersions, then SASL; the error type.
//! - [`Connection`]: length-prefixed frames, correlation ids, request header v1/v2 and
//!   response header v0/v1 by API version, per-request timeouts, and the choice of the highest
//!   API version both sides support.
//! - `sasl`: SaslHandshake + SaslAuthenticate with PLAIN or SCRAM (the RFC 5802 client and
//!   PBKDF2 of [`crate::security::scram`], the same code the broker verifies with).
//!
//! Kafka error codes stay data: a per-resource error becomes [`KafkaError::Broker`] with the
//! code's Kafka name (from `kafka_protocol::ResponseError`, not a hand-written table).
//! Requests go out one at a time. After a transport failure or timeout a connection is
//! unusable (every call fails with [`KafkaError::Connect`]): connect a new one.

mod connection;
mod sasl;

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

pub use self::connection::{Connection, Stream};

/// Default limit on opening a connection (TCP and TLS handshake) and on each request
/// (ApiVersions and every SASL round included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors talking to a cluster. Kafka error codes stay data in [`KafkaError::Broker`].
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// Could not connect, or the connection broke.
    #[error("failed to reach the cluster at {addr}: {source}")]
    Connect {
        /// Where we tried.
        addr: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The broker answered with a Kafka error code.
    #[error("{operation} failed: {code_name} ({code}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// What we asked for ("create topic orders").
        operation: String,
        /// Kafka error code number.
        code: i16,
        /// Kafka error code name, e.g. `TOPIC_ALREADY_EXISTS`.
        code_name: String,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// The answer could not be decoded or did not match the request.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl KafkaError {
    /// The Kafka error of a [`KafkaError::Broker`], to match on (`TopicAlreadyExists` → 409).
    pub fn response_error(&self) -> Option<ResponseError> {
        match self {
            KafkaError::Broker { code, .. } => ResponseError::try_from_code(*code),
            _ => None,
        }
    }

    /// `Err(Broker)` when `code` is not 0: the one place Kafka codes become Rust errors.
    pub fn check(
        operation: impl FnOnce() -> String,
        code: i16,
        message: Option<&StrBytes>,
    ) -> Result<(), KafkaError> {
        if code == 0 {
            return Ok(());
        }
        Err(KafkaError::Broker {
            operation: operation(),
            code,
            code_name: error_code_name(code),
            message: message
                .map(|m| m.as_str().to_string())
                .filter(|m| !m.is_empty()),
        })
    }
}

/// Kafka's name of an error code, e.g. 36 → `TOPIC_ALREADY_EXISTS`.
pub fn error_code_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(_)) => "UNKNOWN_ERROR_CODE".to_string(),
        // The variant names are Kafka's names in CamelCase.
        Some(e) => {
            let camel = e.to_string();
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// SASL mechanisms the client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// RFC 4616; only over TLS or loopback.
    Plain,
    /// RFC 7677.
    ScramSha256,
    /// RFC 7677 with SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// The mechanism named `name` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Some(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Some(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(SaslMechanism::ScramSha512),
            _ => None,
        }
    }

    /// The mechanism's name in SaslHandshake, e.g. `SCRAM-SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// How to reach and authenticate to a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Comma-separated `host:port` list; the first reachable one is used.
    pub bootstrap: String,
    /// Trust this CA (PEM) and speak TLS; `None` = plaintext.
    pub tls_ca_pem: Option<String>,
    /// SASL credentials; `None` = no SASL.
    pub sasl: Option<(SaslMechanism, String, String)>,
}

/// Connects to the first reachable broker of `options.bootstrap`, reads its API versions and
/// authenticates; `timeout` limits connecting and every request.
pub async fn connect(
    options: &ConnectOptions,
    timeout: Duration,
) -> Result<Connection, KafkaError> {
    let tls = options
        .tls_ca_pem
        .as_deref()
        .map(tls_connector)
        .transpose()?;
    let addrs: Vec<&str> = options
        .bootstrap
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if addrs.is_empty() {
        return Err(KafkaError::Protocol(
            "the bootstrap address list is empty".into(),
        ));
    }
    let mut last_error = None;
    for addr in addrs {
        let attempt = tokio::time::timeout(timeout, open(addr, tls.as_ref())).await;
        let stream = match attempt {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                tracing::debug!(%addr, error = %source, "bootstrap broker unreachable");
                last_error = Some(KafkaError::Connect {
                    addr: addr.to_string(),
                    source,
                });
                continue;
            }
            Err(_) => {
                last_error = Some(timed_out(addr, "connecting", timeout));
                continue;
            }
        };
        let mut conn = Connection::new(addr.to_string(), stream, timeout);
        conn.fetch_api_versions().await?;
        if let Some((mechanism, user, password)) = &options.sasl {
            sasl::authenticate(&mut conn, *mechanism, user, password).await?;
        }
        tracing::debug!(%addr, tls = tls.is_some(), sasl = ?options.sasl.as_ref().map(|s| s.0), "kafka client connected");
        return Ok(conn);
    }
    Err(last_error.unwrap_or_else(|| KafkaError::Protocol("no bootstrap address".into())))
}

/// A `Connect` error of kind `TimedOut`, naming what took too long.
pub(crate) fn timed_out(addr: &str, what: &str, timeout: Duration) -> KafkaError {
    KafkaError::Connect {
        addr: addr.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{what} timed out after {} ms", timeout.as_millis()),
        ),
    }
}

/// TCP, then TLS when a connector is given (server name = the host of `addr`).
async fn open(
    addr: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> std::io::Result<Box<dyn Stream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let Some(connector) = tls else {
        return Ok(Box::new(tcp));
    };
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{host:?} is not a valid TLS server name: {e}"),
        )
    })?;
    let stream = connector.connect(name, tcp).await?;
    Ok(Box::new(stream))
}

/// A TLS client trusting only the CAs in `ca_pem` (no system roots: clusters have their own
/// CA), with rustls' ring provider.
fn tls_connector(ca_pem: &str) -> Result<tokio_rustls::TlsConnector, KafkaError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert =
            cert.map_err(|e| KafkaError::Protocol(format!("bad CA certificate PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| KafkaError::Protocol(format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(KafkaError::Protocol(
            "the CA PEM holds no certificate".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| KafkaError::Protocol(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_get_kafkas_names() {
        assert_eq!(error_code_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_code_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_code_name(37), "INVALID_PARTITIONS");
        assert_eq!(error_code_name(58), "SASL_AUTHENTICATION_FAILED");
        assert_eq!(error_code_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_code_name(0), "NONE");
        assert_eq!(error_code_name(12345), "UNKNOWN_ERROR_CODE");
    }

    #[test]
    fn check_turns_codes_into_broker_errors() {
        assert!(KafkaError::check(|| "x".into(), 0, None).is_ok());
        let msg = StrBytes::from_static_str("Topic 'a' already exists.");
        let e = KafkaError::check(|| "create topic a".into(), 36, Some(&msg)).unwrap_err();
        assert_eq!(e.response_error(), Some(ResponseError::TopicAlreadyExists));
        assert_eq!(
            e.to_string(),
            "create topic a failed: TOPIC_ALREADY_EXISTS (36): Topic 'a' already exists."
        );
        let empty = StrBytes::from_static_str("");
        let e = KafkaError::check(|| "delete topic b".into(), 3, Some(&empty)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "delete topic b failed: UNKNOWN_TOPIC_OR_PARTITION (3)"
        );
    }

    #[test]
    fn a_ca_pem_without_certificates_is_refused() {
        let Err(e) = tls_connector("not a pem") else {
            panic!("a PEM without certificates must be refused");
        };
        assert!(e.to_string().contains("no certificate"), "{e}");
    }
}
