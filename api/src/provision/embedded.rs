//! The embedded provisioner: every cluster is one fjord-broker running inside this process
//! (`fjord_broker::server::spawn`), with its own directory under
//! `<root>/clusters/<cluster_id>/` and two ports from a configured range.
//!
//! Listeners (when `secure`, the default):
//!
//! - `SASL_SSL://127.0.0.1:<client port>` — the bootstrap address tenants get; TLS with a
//!   certificate from the cluster's own CA, then SASL (SCRAM-SHA-256/512 or PLAIN);
//! - `CONTROL://127.0.0.1:<control port>` — SASL_PLAINTEXT on loopback for the control
//!   plane's admin connection, authenticated with SCRAM as the super user `fjord-control`,
//!   whose random password lives 0600 in the cluster directory and reaches the broker through
//!   `fjord.bootstrap.users`.
//!
//! Everything that must survive an API restart (ports, certificates, password, data) is on
//! disk, so `ensure` after a restart brings the cluster back on the same address with the same
//! data. One lock per cluster serialises ensure/delete of that cluster; the map of clusters is
//! only locked to look a cluster up, never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fjord_broker::config::BrokerConfig;
use fjord_broker::server::BrokerHandle;

use super::certs;
use super::layout::{
    ClusterDir, ProvisionState, pick_ports, port_is_free, ports_in_use, read_optional,
    write_private,
};
use super::{ClusterEndpoint, ClusterHealth, ClusterSpec, ProvisionError, Provisioner};
use crate::kafka::{AdminClient, ConnectOptions, KafkaError, SaslMechanism};

/// The internal admin principal of every embedded cluster (a super user).
pub const CONTROL_USER: &str = "fjord-control";
/// Ports handed out when nothing else is configured.
pub const DEFAULT_PORTS: RangeInclusive<u16> = 19092..=19999;
/// Listeners bind and advertise loopback only.
const HOST: &str = "127.0.0.1";
/// The internal admin authenticates with SCRAM: its password never crosses the socket.
const CONTROL_MECHANISM: SaslMechanism = SaslMechanism::ScramSha256;
/// How long a started broker has to answer its first admin connection.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Limit of the health probe.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of the embedded provisioner (what `fjord dev` fills in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// Root data directory; each cluster lives in `<root>/clusters/<cluster_id>/`.
    pub root: PathBuf,
    /// Ports to hand out, two per cluster (client and control listener). Chosen once per
    /// cluster and kept, so its bootstrap address survives restarts.
    pub ports: RangeInclusive<u16>,
    /// TLS + SASL on the client listener and SASL on the control listener (the default).
    /// `false` runs PLAINTEXT listeners without any authentication: local debugging only.
    /// Applies to clusters created from now on; existing clusters keep what they had.
    pub secure: bool,
}

impl EmbeddedOptions {
    /// Secure clusters under `root` on [`DEFAULT_PORTS`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        EmbeddedOptions {
            root: root.into(),
            ports: DEFAULT_PORTS,
            secure: true,
        }
    }
}

/// Failures of the embedded provisioner; reach the API as [`ProvisionError::Broker`].
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// Reading or writing the cluster directory failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The cluster id cannot name a directory.
    #[error(
        "cluster id {0:?} must be 1 to 128 ASCII letters, digits, '-' or '_', not starting with '-'"
    )]
    InvalidClusterId(String),
    /// `provision.json` is not valid.
    #[error("failed to read or write {}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// rcgen could not make the cluster's certificates.
    #[error("failed to generate the cluster certificates")]
    Certificate(#[source] rcgen::Error),
    /// The broker refused its configuration or failed to start or stop.
    #[error("broker of cluster {cluster_id} failed")]
    Broker {
        /// The cluster.
        cluster_id: String,
        /// The broker's error.
        #[source]
        source: fjord_broker::Error,
    },
    /// The broker started but its control listener does not answer.
    #[error("broker of cluster {cluster_id} started but does not answer the control plane")]
    NotAnswering {
        /// The cluster.
        cluster_id: String,
        /// The last connection error.
        #[source]
        source: KafkaError,
    },
}

impl EmbeddedError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        EmbeddedError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<EmbeddedError> for ProvisionError {
    fn from(e: EmbeddedError) -> Self {
        ProvisionError::Broker(Box::new(e))
    }
}

/// A running cluster.
struct Running {
    handle: BrokerHandle,
    endpoint: ClusterEndpoint,
    /// How the control plane reaches the control listener (holds the internal password).
    admin: ConnectOptions,
}

/// One cluster's lock: `None` while it is not running in this process.
type Slot = Arc<tokio::sync::Mutex<Option<Running>>>;

/// Runs every cluster's broker inside this process. See the module docs.
pub struct EmbeddedProvisioner {
    options: EmbeddedOptions,
    clusters: Mutex<HashMap<String, Slot>>,
    /// Serialises port choice between clusters created at the same time.
    port_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for EmbeddedProvisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedProvisioner")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What preparing a cluster's directory yields.
struct Prepared {
    config: BTreeMap<String, String>,
    endpoint: ClusterEndpoint,
    admin: ConnectOptions,
}

impl EmbeddedProvisioner {
    /// A provisioner over `options.root`; nothing starts until [`Provisioner::ensure`].
    pub fn new(options: EmbeddedOptions) -> Self {
        EmbeddedProvisioner {
            options,
            clusters: Mutex::new(HashMap::new()),
            port_lock: Arc::new(Mutex::new(())),
        }
    }

    /// The options this provisioner runs with.
    pub fn options(&self) -> &EmbeddedOptions {
        &self.options
    }

    /// The cluster's lock, created on first use. Slots are kept after delete, so a caller
    /// that looked a slot up always shares it with everyone else.
    fn slot(&self, cluster_id: &str) -> Slot {
        let mut map = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(cluster_id.to_string()).or_default().clone()
    }

    fn existing_slot(&self, cluster_id: &str) -> Option<Slot> {
        let map = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        map.get(cluster_id).cloned()
    }

    async fn start(&self, spec: &ClusterSpec) -> Result<Running, ProvisionError> {
        let options = self.options.clone();
        let owned_spec = spec.clone();
        let port_lock = self.port_lock.clone();
        // File I/O, key generation and port probing: a blocking thread.
        let prepared =
            tokio::task::spawn_blocking(move || prepare(&options, &owned_spec, &port_lock))
                .await
                .map_err(|e| {
                    EmbeddedError::io(
                        "cluster preparation task failed",
                        std::io::Error::other(e.to_string()),
                    )
                })??;
        let cluster_id = spec.cluster_id.clone();
        let broker_error = |source| EmbeddedError::Broker {
            cluster_id: cluster_id.clone(),
            source,
        };
        let config = BrokerConfig::from_map(prepared.config).map_err(broker_error)?;
        let handle = fjord_broker::server::spawn(config)
            .await
            .map_err(broker_error)?;
        if let Err(source) = wait_until_answering(&prepared.admin).await {
            if let Err(e) = handle.shutdown().await {
                tracing::warn!(cluster_id = %spec.cluster_id, error = %e, "failed to stop a broker that did not answer");
            }
            return Err(EmbeddedError::NotAnswering { cluster_id, source }.into());
        }
        tracing::info!(
            cluster_id = %spec.cluster_id,
            tenant_id = %spec.tenant_id,
            bootstrap = %prepared.endpoint.bootstrap,
            control = %prepared.admin.bootstrap,
            secure = prepared.endpoint.ca_cert_pem.is_some(),
            "cluster running"
        );
        Ok(Running {
            handle,
            endpoint: prepared.endpoint,
            admin: prepared.admin,
        })
    }
}

#[async_trait]
impl Provisioner for EmbeddedProvisioner {
    async fn ensure(&self, spec: &ClusterSpec) -> Result<ClusterEndpoint, ProvisionError> {
        ClusterDir::new(&self.options.root, &spec.cluster_id)?;
        let slot = self.slot(&spec.cluster_id);
        let mut running = slot.lock().await;
        if let Some(r) = running.as_ref() {
            return Ok(r.endpoint.clone());
        }
        if spec.brokers > 1 {
            tracing::warn!(cluster_id = %spec.cluster_id, brokers = spec.brokers, "the embedded provisioner runs one broker per cluster");
        }
        let started = self.start(spec).await?;
        let endpoint = started.endpoint.clone();
        *running = Some(started);
        Ok(endpoint)
    }

    async fn delete(&self, cluster_id: &str) -> Result<(), ProvisionError> {
        let dir = ClusterDir::new(&self.options.root, cluster_id)?;
        let slot = self.slot(cluster_id);
        let mut running = slot.lock().await;
        if let Some(r) = running.take()
            && let Err(e) = r.handle.shutdown().await
        {
            // The data goes anyway; a broker that failed to flush has nothing left to keep.
            tracing::warn!(%cluster_id, error = %e, "broker did not shut down cleanly before delete");
        }
        let path = dir.path.clone();
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(EmbeddedError::io(
                format!("failed to remove {}", path.display()),
                e,
            )),
            _ => Ok(()),
        })
        .await
        .map_err(|e| {
            EmbeddedError::io(
                "cluster removal task failed",
                std::io::Error::other(e.to_string()),
            )
        })??;
        tracing::info!(%cluster_id, "cluster deleted");
        Ok(())
    }

    async fn health(&self, cluster_id: &str) -> ClusterHealth {
        let Some(slot) = self.existing_slot(cluster_id) else {
            return ClusterHealth::Absent;
        };
        let admin = match slot.try_lock() {
            // ensure (or delete) is working on it right now.
            Err(_) => return ClusterHealth::Starting,
            Ok(running) => match running.as_ref() {
                None => return ClusterHealth::Absent,
                Some(r) => r.admin.clone(),
            },
        };
        match AdminClient::connect_with_timeout(&admin, HEALTH_TIMEOUT).await {
            Ok(_) => ClusterHealth::Ready,
            Err(e) => ClusterHealth::Failed(error_chain(&e)),
        }
    }

    async fn admin(&self, cluster_id: &str) -> Result<AdminClient, ProvisionError> {
        let slot = self
            .existing_slot(cluster_id)
            .ok_or_else(|| ProvisionError::NotFound(cluster_id.to_string()))?;
        let admin = {
            let running = slot.lock().await;
            running
                .as_ref()
                .map(|r| r.admin.clone())
                .ok_or_else(|| ProvisionError::NotFound(cluster_id.to_string()))?
        };
        Ok(AdminClient::connect(&admin).await?)
    }

    async fn shutdown(&self) {
        let slots: Vec<(String, Slot)> = {
            let map = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for (cluster_id, slot) in slots {
            let mut running = slot.lock().await;
            if let Some(r) = running.take() {
                match r.handle.shutdown().await {
                    Ok(()) => tracing::info!(%cluster_id, "cluster stopped"),
                    Err(e) => {
                        tracing::warn!(%cluster_id, error = %e, "cluster did not stop cleanly")
                    }
                }
            }
        }
    }
}

/// `error: cause: cause`, for health reasons.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Connects as the control plane until the broker answers or [`START_TIMEOUT`] passes.
async fn wait_until_answering(admin: &ConnectOptions) -> Result<(), KafkaError> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        match AdminClient::connect_with_timeout(admin, Duration::from_secs(5)).await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "broker not answering yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Creates or reads the cluster directory: ports (chosen once), internal password,
/// certificates; returns the broker config and how to reach the cluster. Blocking.
fn prepare(
    options: &EmbeddedOptions,
    spec: &ClusterSpec,
    port_lock: &Mutex<()>,
) -> Result<Prepared, ProvisionError> {
    let dir = ClusterDir::new(&options.root, &spec.cluster_id)?;
    let state = match dir.read_state()? {
        Some(state) => state,
        None => {
            let _only_one_chooser = port_lock.lock().unwrap_or_else(|p| p.into_inner());
            let taken = ports_in_use(&options.root);
            let ports = pick_ports(options.ports.clone(), &taken, 2, |p| port_is_free(HOST, p))
                .ok_or_else(|| {
                    ProvisionError::PortsExhausted(format!(
                        "{}..={}",
                        options.ports.start(),
                        options.ports.end()
                    ))
                })?;
            dir.create()?;
            let state = ProvisionState::new(
                &spec.cluster_id,
                &spec.tenant_id,
                (ports[0], ports[1]),
                options.secure,
            );
            dir.write_state(&state)?;
            tracing::info!(cluster_id = %spec.cluster_id, client_port = ports[0], control_port = ports[1], "ports assigned");
            state
        }
    };
    dir.create()?;
    let password = match read_optional(&dir.control_password())?.map(|p| p.trim().to_string()) {
        Some(p) if !p.is_empty() => p,
        _ => {
            let p: String = rand::random::<[u8; 32]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            write_private(&dir.control_password(), p.as_bytes())?;
            p
        }
    };
    let ca_cert_pem = if state.secure {
        Some(ensure_certificates(&dir, &spec.cluster_id)?)
    } else {
        None
    };
    let config = broker_config(&dir, &state, &password);
    let admin = ConnectOptions {
        bootstrap: format!("{HOST}:{}", state.control_port),
        tls_ca_pem: None,
        sasl: state
            .secure
            .then(|| (CONTROL_MECHANISM, CONTROL_USER.to_string(), password)),
    };
    Ok(Prepared {
        config,
        endpoint: ClusterEndpoint {
            bootstrap: format!("{HOST}:{}", state.client_port),
            ca_cert_pem,
        },
        admin,
    })
}

/// The cluster CA (PEM), generating CA and broker keystore on first use.
fn ensure_certificates(dir: &ClusterDir, cluster_id: &str) -> Result<String, EmbeddedError> {
    if let (Some(ca), Some(_)) = (
        read_optional(&dir.ca_cert())?,
        read_optional(&dir.keystore())?,
    ) {
        return Ok(ca);
    }
    let certs =
        certs::generate(cluster_id, &[HOST, "localhost"]).map_err(EmbeddedError::Certificate)?;
    write_private(&dir.ca_key(), certs.ca_key_pem.as_bytes())?;
    write_private(&dir.keystore(), certs.broker_pem.as_bytes())?;
    // Last: its presence means the set is complete.
    write_private(&dir.ca_cert(), certs.ca_cert_pem.as_bytes())?;
    tracing::info!(%cluster_id, "generated the cluster CA and broker certificate");
    Ok(certs.ca_cert_pem)
}

/// The broker's configuration, the one place that knows the broker's keys. `state.secure`
/// switches between TLS + SASL listeners and PLAINTEXT ones.
fn broker_config(
    dir: &ClusterDir,
    state: &ProvisionState,
    password: &str,
) -> BTreeMap<String, String> {
    let (client, control) = (state.client_port, state.control_port);
    let mut map = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        map.insert(k.to_string(), v);
    };
    set("node.id", "1".into());
    set("log.dirs", dir.data().display().to_string());
    // Topics are created through the API, which enforces the cluster's partition limit.
    set("auto.create.topics.enable", "false".into());
    if state.secure {
        let listeners = format!("SASL_SSL://{HOST}:{client},CONTROL://{HOST}:{control}");
        set("listeners", listeners.clone());
        set("advertised.listeners", listeners);
        set(
            "listener.security.protocol.map",
            "SASL_SSL:SASL_SSL,CONTROL:SASL_PLAINTEXT".into(),
        );
        set(
            "ssl.keystore.location",
            dir.keystore().display().to_string(),
        );
        set(
            "sasl.enabled.mechanisms",
            "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN".into(),
        );
        set("super.users", format!("User:{CONTROL_USER}"));
        // The broker talks to itself (quorum, replication) on the loopback CONTROL listener,
        // as the control user (the first bootstrap user); the default, the first listener,
        // is TLS and would need a CA for brokers to trust.
        set("inter.broker.listener.name", "CONTROL".into());
        // Tenants' credentials may do only what their cluster's ACLs allow.
        set("authorizer.class.name", "fjord".into());
        set(
            "fjord.bootstrap.users",
            format!("{CONTROL_USER}:{password}"),
        );
    } else {
        let listeners = format!("PLAINTEXT://{HOST}:{client},CONTROL://{HOST}:{control}");
        set("listeners", listeners.clone());
        set("advertised.listeners", listeners);
        set(
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,CONTROL:PLAINTEXT".into(),
        );
    }
    map
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_broker_accepts_both_configurations() {
        let dir = ClusterDir::new(Path::new("/tmp/fjord-x"), "c1").unwrap();
        for secure in [true, false] {
            let state = ProvisionState::new("c1", "t1", (19100, 19101), secure);
            let map = broker_config(&dir, &state, "pw");
            let config = BrokerConfig::from_map(map.clone())
                .unwrap_or_else(|e| panic!("secure={secure}: {e}"));
            assert_eq!(config.listeners.len(), 2);
            assert_eq!(config.listeners[0].port, 19100);
            assert_eq!(config.listeners[1].port, 19101);
            assert!(!config.auto_create_topics);
            assert_eq!(config.data_dir, dir.data());
            assert_eq!(config.listeners[0].security.tls(), secure);
            assert_eq!(config.listeners[1].security.sasl(), secure);
            assert!(!config.listeners[1].security.tls());
            if secure {
                assert_eq!(
                    config.security.bootstrap_users,
                    vec![(CONTROL_USER.to_string(), "pw".to_string())]
                );
                assert_eq!(
                    config.security.super_users,
                    vec![format!("User:{CONTROL_USER}")]
                );
            }
        }
    }
}
