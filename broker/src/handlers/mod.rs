//! One module per Kafka API family. Each handler is `decode → apply → encode` over the
//! typed request of the `kafka-protocol` crate: it receives the decoded request and returns
//! the response struct; protocol errors are data in that response (never a Rust error).
//!
//! The [`crate::router`] dispatches to these functions from one table, which is also the
//! ApiVersions answer.

use std::net::SocketAddr;

use kafka_protocol::protocol::StrBytes;

pub(crate) mod admin;
pub(crate) mod api_versions;
pub(crate) mod configs;
pub(crate) mod fetch;
pub(crate) mod group;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offsets;
pub(crate) mod produce;
pub(crate) mod producer_id;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// Negotiated version of this request.
    pub(crate) api_version: i16,
    /// Correlation id of this request.
    pub(crate) correlation_id: i32,
    /// Client id from the request header (empty when absent).
    pub(crate) client_id: String,
    /// Peer address of the connection.
    pub(crate) peer: SocketAddr,
}

impl RequestContext {
    /// The client host as DescribeGroups reports it (`/127.0.0.1`).
    pub(crate) fn client_host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// Shorthand for an optional message field.
pub(crate) fn msg(text: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(text.into()))
}
