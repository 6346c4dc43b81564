//! Cluster metadata: what every broker must agree on (brokers, topics and their partitions'
//! replicas, leaders and ISRs, configs, SCRAM credentials, ACLs, quotas, producer-id blocks),
//! kept in a Raft log replicated by the controller quorum (KRaft's design, on openraft).
//!
//! # Layout
//!
//! - [`records`]: the records of the metadata log.
//! - [`image`]: the metadata image, built by applying records in log order.
//! - [`controller`]: the controller's decisions as pure functions (image + request →
//!   records): topic creation, fencing, leader election, ISR changes, reassignments.
//! - [`placement`]: rack-aware replica placement.
//! - [`raft`]: openraft's types, the durable log store and state machine, the network.
//! - [`rpc`]: node-to-node messages (Raft's and the controller's) on the Kafka listener.
//! - [`peer`]: pooled, authenticated connections to other brokers.
//! - [`quorum`]: this node's handle: submit changes (forwarded to the active controller),
//!   follow the image; the active controller's loop (sessions, internal topics, rebalance).
//! - `legacy`: the single-node `metadata.json` of earlier versions, imported once.
//!
//! # A metadata change
//!
//! handler → [`quorum::Quorum::submit`] → (forwarded over [`rpc`] to the active controller)
//! → [`controller`] decides records → Raft appends and commits them → every node's state
//! machine applies them to its [`image`] → the broker reconciles its partitions from the new
//! image → the submitting node answers once it has applied the change itself.

pub mod controller;
pub mod image;
pub mod legacy;
pub mod peer;
pub mod placement;
pub mod quorum;
pub mod raft;
pub mod records;
pub mod rpc;

pub use legacy::MetadataImage as LegacyImage;

/// A Kafka-style cluster id: 22 characters of URL-safe base64 of a random UUID.
pub fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut bits: u128 = u128::from_be_bytes(bytes);
    let mut out = String::with_capacity(22);
    for _ in 0..22 {
        out.push(ALPHABET[(bits & 63) as usize] as char);
        bits >>= 6;
    }
    out
}
