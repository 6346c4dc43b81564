//! Fjord's Kubernetes operator: the `FjordCluster` CRD and the kube-rs controller that turns
//! one into a running broker cluster.
//!
//! The CRD types are a library so the control plane (`fjord-api`) can write `FjordCluster`
//! resources with the same types the operator reads.
//!
//! # Layout
//!
//! - [`crd`]: `FjordCluster` spec and status (schemars → the CRD YAML in `charts/fjord/crds/`).
//! - [`resources`]: pure builders, cluster in → StatefulSet, Services, ConfigMap,
//!   PodDisruptionBudget, NetworkPolicy out.
//! - [`status`]: pure decisions, observation in → status conditions out.
//! - [`controller`]: the I/O shell, `reconcile` + `error_policy` + `run`.
//! - [`error`]: the crate's error type.
//!
//! # Reconcile flow
//!
//! watch event → [`controller::reconcile`] → finalizer added (first time) → builders →
//! server-side apply of each object (field manager `fjord-operator`) → StatefulSet status
//! observed → [`status::desired_status`] → status subresource applied → requeue.

pub mod controller;
pub mod crd;
pub mod error;
pub mod resources;
pub mod status;

pub use crd::{FjordCluster, FjordClusterSpec, FjordClusterStatus};
pub use error::{Error, Result};
