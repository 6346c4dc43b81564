//! What the embedded provisioner keeps on disk per cluster, under
//! `<root>/clusters/<cluster_id>/`:
//!
//! - `provision.json`: the ports chosen once (so a restarted API brings the cluster back on
//!   the same bootstrap address) and whether its listeners are secure;
//! - `ca.pem`, `ca-key.pem`, `broker.pem`: the cluster CA and the broker keystore;
//! - `control.password`: the internal admin's password (user `fjord-control`);
//! - `data/`: the broker's `log.dirs`.
//!
//! Secrets are written 0600 (the directory 0700), atomically (temporary file, then rename).

use std::collections::BTreeSet;
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::embedded::EmbeddedError;

/// Version of `provision.json`'s format.
const STATE_VERSION: u32 = 1;

/// The persisted decisions about one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProvisionState {
    pub(crate) version: u32,
    pub(crate) cluster_id: String,
    pub(crate) tenant_id: String,
    /// Port of the client listener (the bootstrap address).
    pub(crate) client_port: u16,
    /// Port of the control plane's internal listener.
    pub(crate) control_port: u16,
    /// TLS + SASL listeners (false: PLAINTEXT only, for debugging).
    pub(crate) secure: bool,
}

impl ProvisionState {
    pub(crate) fn new(cluster_id: &str, tenant_id: &str, ports: (u16, u16), secure: bool) -> Self {
        ProvisionState {
            version: STATE_VERSION,
            cluster_id: cluster_id.to_string(),
            tenant_id: tenant_id.to_string(),
            client_port: ports.0,
            control_port: ports.1,
            secure,
        }
    }
}

/// Paths of one cluster's directory.
#[derive(Debug, Clone)]
pub(crate) struct ClusterDir {
    pub(crate) path: PathBuf,
}

impl ClusterDir {
    /// `<root>/clusters/<cluster_id>`; the id must be safe as one path component.
    pub(crate) fn new(root: &Path, cluster_id: &str) -> Result<Self, EmbeddedError> {
        let valid = !cluster_id.is_empty()
            && cluster_id.len() <= 128
            && cluster_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !cluster_id.starts_with('-');
        if !valid {
            return Err(EmbeddedError::InvalidClusterId(cluster_id.to_string()));
        }
        Ok(ClusterDir {
            path: clusters_dir(root).join(cluster_id),
        })
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.path.join("data")
    }
    pub(crate) fn state(&self) -> PathBuf {
        self.path.join("provision.json")
    }
    pub(crate) fn ca_cert(&self) -> PathBuf {
        self.path.join("ca.pem")
    }
    pub(crate) fn ca_key(&self) -> PathBuf {
        self.path.join("ca-key.pem")
    }
    pub(crate) fn keystore(&self) -> PathBuf {
        self.path.join("broker.pem")
    }
    pub(crate) fn control_password(&self) -> PathBuf {
        self.path.join("control.password")
    }

    /// Creates the directory (0700) and its data directory.
    pub(crate) fn create(&self) -> Result<(), EmbeddedError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(self.data()).map_err(|e| {
            EmbeddedError::io(format!("failed to create {}", self.data().display()), e)
        })
    }

    /// The persisted state, `None` when the cluster was never provisioned here.
    pub(crate) fn read_state(&self) -> Result<Option<ProvisionState>, EmbeddedError> {
        let path = self.state();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(EmbeddedError::io(
                    format!("failed to read {}", path.display()),
                    e,
                ));
            }
        };
        let state: ProvisionState =
            serde_json::from_str(&text).map_err(|e| EmbeddedError::State {
                path: path.clone(),
                source: e,
            })?;
        if state.version != STATE_VERSION {
            return Err(EmbeddedError::io(
                format!("{} has format version {}", path.display(), state.version),
                std::io::Error::new(std::io::ErrorKind::InvalidData, "unsupported version"),
            ));
        }
        Ok(Some(state))
    }

    pub(crate) fn write_state(&self, state: &ProvisionState) -> Result<(), EmbeddedError> {
        let json = serde_json::to_vec_pretty(state).map_err(|e| EmbeddedError::State {
            path: self.state(),
            source: e,
        })?;
        write_private(&self.state(), &json)
    }
}

/// `<root>/clusters`.
pub(crate) fn clusters_dir(root: &Path) -> PathBuf {
    root.join("clusters")
}

/// Reads a file that may not exist yet.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, EmbeddedError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EmbeddedError::io(
            format!("failed to read {}", path.display()),
            e,
        )),
    }
}

/// Writes `bytes` to `path` with mode 0600, atomically (temporary file, fsync, rename).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), EmbeddedError> {
    let tmp = path.with_extension("tmp");
    let io = |e| EmbeddedError::io(format!("failed to write {}", path.display()), e);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Ports recorded by every cluster under `root` (running or not: a stopped cluster keeps its
/// address for when it comes back).
pub(crate) fn ports_in_use(root: &Path) -> BTreeSet<u16> {
    let mut taken = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(clusters_dir(root)) else {
        return taken;
    };
    for entry in entries.flatten() {
        let dir = ClusterDir { path: entry.path() };
        match dir.read_state() {
            Ok(Some(state)) => {
                taken.insert(state.client_port);
                taken.insert(state.control_port);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(dir = %entry.path().display(), error = %e, "ignoring an unreadable cluster directory")
            }
        }
    }
    taken
}

/// The first `count` ports of `range` that no cluster recorded and `is_free` accepts, in
/// order; `None` when the range runs out.
pub(crate) fn pick_ports(
    range: RangeInclusive<u16>,
    taken: &BTreeSet<u16>,
    count: usize,
    mut is_free: impl FnMut(u16) -> bool,
) -> Option<Vec<u16>> {
    let picked: Vec<u16> = range
        .filter(|p| *p != 0 && !taken.contains(p))
        .filter(|p| is_free(*p))
        .take(count)
        .collect();
    (picked.len() == count).then_some(picked)
}

/// Whether nothing listens on `host:port` now (bind succeeds).
pub(crate) fn port_is_free(host: &str, port: u16) -> bool {
    std::net::TcpListener::bind((host, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_skip_recorded_and_busy_ones_and_run_out_cleanly() {
        let taken = BTreeSet::from([19092, 19093]);
        let busy = [19095];
        let picked = pick_ports(19092..=19999, &taken, 2, |p| !busy.contains(&p));
        assert_eq!(picked, Some(vec![19094, 19096]));
        assert_eq!(pick_ports(19092..=19094, &taken, 2, |_| true), None);
        assert_eq!(
            pick_ports(0..=1, &BTreeSet::new(), 1, |_| true),
            Some(vec![1])
        );
        // is_free is only asked about candidates, and no more than needed.
        let mut asked = Vec::new();
        pick_ports(100..=200, &BTreeSet::from([100]), 2, |p| {
            asked.push(p);
            true
        });
        assert_eq!(asked, vec![101, 102]);
    }

    #[test]
    fn cluster_ids_must_be_one_safe_path_component() {
        let root = Path::new("/r");
        assert_eq!(
            ClusterDir::new(root, "6f1c-aa_01").unwrap().path,
            PathBuf::from("/r/clusters/6f1c-aa_01")
        );
        for bad in ["", "..", "a/b", "-x", "a b", &"x".repeat(129)] {
            assert!(ClusterDir::new(root, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn state_round_trips_and_recorded_ports_are_found() {
        let root = tempfile::tempdir().unwrap();
        let dir = ClusterDir::new(root.path(), "c1").unwrap();
        assert_eq!(dir.read_state().unwrap(), None);
        dir.create().unwrap();
        let state = ProvisionState::new("c1", "t1", (19100, 19101), true);
        dir.write_state(&state).unwrap();
        assert_eq!(dir.read_state().unwrap(), Some(state));
        assert_eq!(ports_in_use(root.path()), BTreeSet::from([19100, 19101]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.state()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(&dir.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }
}
