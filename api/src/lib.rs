//! Fjord's control plane.
//!
//! A skeleton for now: the REST API, persistence and provisioners arrive with the
//! control-plane issue. The crate exists so the workspace layout is fixed from the start.
