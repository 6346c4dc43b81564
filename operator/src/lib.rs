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
//! - [`load`]: pure, the brokers' Prometheus text → readings → rates and the load series.
//! - [`autoscale`]: pure decisions, load series in → scale out / drain and scale in / hold,
//!   and partition increases for opted-in topics.
//! - [`reassign`]: pure partition moves: spread onto new brokers, drain one broker.
//! - [`rolling`]: pure, pods and under-replicated partitions in → the roll's next step.
//! - [`lease`]: leader election over a Lease (pure decision + I/O).
//! - [`access`]: reaching brokers (metrics over HTTP, Kafka admin), behind traits.
//! - [`controller`]: the I/O shell, `reconcile` + `error_policy` + `run`.
//! - [`error`]: the crate's error type.
//!
//! # Reconcile flow
//!
//! watch event → [`controller::reconcile`] → finalizer added (first time) → builders →
//! server-side apply of each object (field manager `fjord-operator`) → brokers' metrics read
//! → next broker of a roll restarted when safe → autoscaler (drain, rebalance, scale,
//! partitions; Events) → [`status::desired_status`] → status subresource applied → requeue.

pub mod access;
pub mod autoscale;
pub mod controller;
pub mod crd;
pub mod error;
pub mod lease;
pub mod load;
pub mod reassign;
pub mod resources;
pub mod rolling;
pub mod status;

pub use crd::{FjordCluster, FjordClusterSpec, FjordClusterStatus};
pub use error::{Error, Result};
