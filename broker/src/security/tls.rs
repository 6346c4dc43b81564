//! TLS for SSL and SASL_SSL listeners, with rustls (ring provider).
//!
//! The key and certificate chain come from one PEM file (`ssl.keystore.location`, Kafka's
//! PEM keystore of KIP-651). The file is checked for changes at most once a second when a
//! client connects, and re-read when its modification time or size changed, so renewing a
//! certificate (cert-manager, the operator's rcgen renewal) needs no restart. A file that
//! fails to parse after a change is logged and the previous certificate stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use super::mtls::ClientAuth;
use crate::error::{Error, Result};

const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Reads a PEM keystore: one private key and the certificate chain (leaf first).
pub fn load_certified_key(path: &Path) -> Result<CertifiedKey> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::io(
            format!("failed to read ssl.keystore.location {}", path.display()),
            e,
        )
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| invalid(path, &format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(path, "no CERTIFICATE block found"));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| invalid(path, &format!("no usable private key ({e}); an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key is needed")))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| invalid(path, &format!("unsupported private key: {e}")))?;
    Ok(CertifiedKey::new(certs, signing))
}

fn invalid(path: &Path, what: &str) -> Error {
    Error::InvalidConfig(format!("ssl.keystore.location {}: {what}", path.display()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate resolver that re-reads its PEM file when the file changes.
#[derive(Debug)]
pub struct ReloadingCert {
    path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// (last check, (mtime, len) of the loaded file).
    seen: Mutex<(Instant, Option<(SystemTime, u64)>)>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl ReloadingCert {
    /// Loads `path` now; an error here stops start-up.
    pub fn open(path: &Path) -> Result<Self> {
        let key = load_certified_key(path)?;
        Ok(ReloadingCert {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new((Instant::now(), stamp(path))),
        })
    }

    /// Re-reads the file if it changed since the last look (at most once per second unless
    /// `force`). Returns whether a new certificate was loaded.
    pub fn reload_if_changed(&self, force: bool) -> bool {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if !force && seen.0.elapsed() < CHECK_EVERY {
                return false;
            }
            seen.0 = Instant::now();
            let now = stamp(&self.path);
            if now == seen.1 {
                return false;
            }
            seen.1 = now;
        }
        match load_certified_key(&self.path) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
                tracing::info!(path = %self.path.display(), "reloaded TLS certificate");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "keeping the previous TLS certificate");
                false
            }
        }
    }

    /// The certificate in use.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A metadata syscall at most once per second; the parse only when the file changed.
        self.reload_if_changed(false);
        Some(self.current())
    }
}

/// Builds the acceptor shared by every TLS listener; with `client_auth` other than none,
/// client certificates are verified against the PEM trust store at `truststore`.
pub fn acceptor(
    cert: Arc<ReloadingCert>,
    client_auth: ClientAuth,
    truststore: Option<&Path>,
) -> Result<TlsAcceptor> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidConfig(format!("TLS configuration: {e}")))?;
    let builder = match (client_auth, truststore) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(Error::InvalidConfig(
                "ssl.client.auth asks for client certificates but ssl.truststore.location is not set"
                    .into(),
            ));
        }
        (auth, Some(path)) => {
            let roots = Arc::new(super::mtls::load_trust_store(path)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| Error::InvalidConfig(format!("client certificate verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(TlsAcceptor::from(Arc::new(
        builder.with_cert_resolver(cert),
    )))
}
