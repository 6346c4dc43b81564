//! A broker behind TLS and SASL, with the certificates and users tests need.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use fjord_broker::Broker;
use fjord_broker::server::BrokerHandle;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rdkafka::ClientConfig;

use crate::client_config;

/// The admin user every [`SecureBroker`] starts with (a super user).
pub const ADMIN: (&str, &str) = ("admin", "admin-secret");
/// A plain user every [`SecureBroker`] starts with.
pub const ALICE: (&str, &str) = ("alice", "alice-secret");

/// A test CA and a server certificate for 127.0.0.1 and localhost, written as PEM files.
#[derive(Debug)]
pub struct TlsFiles {
    /// Holds the files.
    pub dir: tempfile::TempDir,
    /// The CA certificate clients trust (`ssl.ca.location`).
    pub ca: PathBuf,
    /// The server's key and certificate chain (`ssl.keystore.location`).
    pub keystore: PathBuf,
}

impl TlsFiles {
    /// A fresh CA and server certificate.
    pub fn generate() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("fjord-tls-").tempdir()?;
        let files = TlsFiles {
            ca: dir.path().join("ca.pem"),
            keystore: dir.path().join("broker.pem"),
            dir,
        };
        files.regenerate()?;
        Ok(files)
    }

    /// Replaces both files with a new CA and a server certificate it signed.
    pub fn regenerate(&self) -> anyhow::Result<()> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fjord test CA");
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate()?;
        let params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])?;
        let cert = params.signed_by(&key, &issuer)?;
        std::fs::write(&self.ca, ca_cert.pem())?;
        std::fs::write(
            &self.keystore,
            format!("{}{}", key.serialize_pem(), cert.pem()),
        )?;
        Ok(())
    }
}

/// An in-process broker with listeners `SASL_SSL`, `SSL` and `SASL_PLAINTEXT` on free
/// ports, users [`ADMIN`] (super user) and [`ALICE`], and a test CA.
pub struct SecureBroker {
    runtime: Option<tokio::runtime::Runtime>,
    handle: Option<BrokerHandle>,
    /// Listener name → `127.0.0.1:port`.
    pub addrs: BTreeMap<String, String>,
    /// The certificates the broker serves.
    pub tls: TlsFiles,
    _data_dir: tempfile::TempDir,
}

impl std::fmt::Debug for SecureBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureBroker")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl SecureBroker {
    /// Starts the broker; `extra` keys win over the defaults.
    pub async fn start(extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let tls = TlsFiles::generate()?;
        let data_dir = tempfile::Builder::new().prefix("fjord-test-").tempdir()?;
        let names = ["SASL_SSL", "SSL", "SASL_PLAINTEXT"];
        let mut config: BTreeMap<String, String> = [
            ("log.dirs", data_dir.path().display().to_string()),
            (
                "listeners",
                names
                    .iter()
                    .map(|n| format!("{n}://127.0.0.1:0"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("ssl.keystore.location", tls.keystore.display().to_string()),
            ("super.users", format!("User:{}", ADMIN.0)),
            (
                "fjord.bootstrap.users",
                format!("{}:{},{}:{}", ADMIN.0, ADMIN.1, ALICE.0, ALICE.1),
            ),
            ("group.initial.rebalance.delay.ms", "0".into()),
            ("connection.failed.authentication.delay.ms", "10".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            config.insert((*k).to_string(), (*v).to_string());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fjord-secure-broker")
            .enable_all()
            .build()?;
        let handle = match crate::spawn_on(&runtime, config).await {
            Ok(h) => h,
            Err(e) => {
                // Dropping a runtime inside this async test would panic and hide `e`.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let addrs = names
            .iter()
            .zip(handle.addrs())
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect();
        Ok(SecureBroker {
            runtime: Some(runtime),
            handle: Some(handle),
            addrs,
            tls,
            _data_dir: data_dir,
        })
    }

    /// `host:port` of a listener.
    pub fn addr(&self, listener: &str) -> String {
        self.addrs.get(listener).cloned().unwrap_or_default()
    }

    /// The running broker's state (counters, the TLS certificate).
    pub fn broker(&self) -> anyhow::Result<&Arc<Broker>> {
        self.handle
            .as_ref()
            .map(|h| h.broker())
            .context("broker stopped")
    }

    /// Client config for the `SASL_SSL` listener with `mechanism`, user and password.
    pub fn sasl_ssl_config(&self, mechanism: &str, user: &str, password: &str) -> ClientConfig {
        let mut c = client_config(&self.addr("SASL_SSL"));
        c.set("security.protocol", "SASL_SSL")
            .set("ssl.ca.location", path(&self.tls.ca))
            .set("sasl.mechanism", mechanism)
            .set("sasl.username", user)
            .set("sasl.password", password);
        c
    }

    /// Client config for the `SSL` listener trusting `ca`.
    pub fn ssl_config(&self, ca: &Path) -> ClientConfig {
        let mut c = client_config(&self.addr("SSL"));
        c.set("security.protocol", "SSL")
            .set("ssl.ca.location", path(ca));
        c
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A CA for client certificates (mutual TLS): its certificate is the broker's
/// `ssl.truststore.location`; [`ClientCa::issue`] writes a client certificate and key.
pub struct ClientCa {
    dir: tempfile::TempDir,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCa")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl ClientCa {
    /// A fresh client CA named `name`.
    pub fn generate(name: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fjord-client-ca-")
            .tempdir()?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key)?;
        let ca = dir.path().join("client-ca.pem");
        std::fs::write(&ca, cert.pem())?;
        Ok(ClientCa {
            dir,
            ca,
            issuer: Issuer::new(params, key),
        })
    }

    /// A client certificate with subject `CN=<cn>,O=<org>`: (certificate, key) PEM paths.
    pub fn issue(&self, cn: &str, org: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        let cert_path = self.dir.path().join(format!("{cn}.crt"));
        let key_path = self.dir.path().join(format!("{cn}.key"));
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        Ok((cert_path, key_path))
    }
}
