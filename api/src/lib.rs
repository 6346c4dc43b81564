//! Fjord's control plane.

pub mod kafka;
pub mod provision;
