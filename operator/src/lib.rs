//! Fjord's Kubernetes operator.
//!
//! A skeleton for now: the `FjordCluster` CRD types and the kube-rs controller arrive with
//! the operator issue. The crate exists so the workspace layout is fixed from the start.
