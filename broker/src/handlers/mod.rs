//! One module per Kafka API family. Each handler is `decode → apply → encode` over the
//! typed request of the `kafka-protocol` crate: it receives the decoded request and returns
//! the response struct; protocol errors are data in that response (never a Rust error).
//!
//! The [`crate::router`] dispatches to these functions from one table, which is also the
//! ApiVersions answer.

use std::net::SocketAddr;

use kafka_protocol::protocol::StrBytes;

use crate::security::Principal;
use crate::security::acl::{Operation, ResourceType};
use crate::security::authorizer::CLUSTER;

pub(crate) mod acls;
pub(crate) mod admin;
pub(crate) mod api_versions;
pub(crate) mod cluster;
pub(crate) mod configs;
pub(crate) mod consumer_group;
pub(crate) mod fetch;
pub(crate) mod group;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offsets;
pub(crate) mod produce;
pub(crate) mod producer_id;
pub(crate) mod quotas;
pub(crate) mod replication;
pub(crate) mod sasl;
pub(crate) mod txn;

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
    /// Name of the listener the connection came in on (its advertised address is the one
    /// Metadata and FindCoordinator return).
    pub(crate) listener: String,
    /// Who the connection is (`User:ANONYMOUS` on unauthenticated listeners).
    pub(crate) principal: Principal,
}

impl RequestContext {
    /// A PLAINTEXT, anonymous context for handler tests.
    #[cfg(test)]
    pub(crate) fn for_test(api_version: i16) -> Self {
        RequestContext {
            api_version,
            correlation_id: 1,
            client_id: "t".into(),
            peer: SocketAddr::from(([127, 0, 0, 1], 1)),
            listener: "PLAINTEXT".into(),
            principal: Principal::anonymous(),
        }
    }

    /// Whether this request's principal may perform `operation` on the named resource
    /// (tenant isolation, super users, ACLs: see [`crate::security::authorizer`]).
    pub(crate) fn may(
        &self,
        broker: &crate::broker::Broker,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        broker.authorize(
            &self.principal,
            self.peer.ip(),
            operation,
            resource_type,
            name,
        )
    }

    /// Whether this principal may perform `operation` on the cluster.
    pub(crate) fn may_on_cluster(
        &self,
        broker: &crate::broker::Broker,
        operation: Operation,
    ) -> bool {
        self.may(broker, operation, ResourceType::Cluster, CLUSTER)
    }

    /// Whether this principal may create topic `name`: in its tenant's namespace, with
    /// CREATE on the cluster or on the topic (Kafka accepts either).
    pub(crate) fn may_create_topic(&self, broker: &crate::broker::Broker, name: &str) -> bool {
        self.principal.owns(name)
            && (self.may_on_cluster(broker, Operation::Create)
                || self.may(broker, Operation::Create, ResourceType::Topic, name))
    }

    /// The client host as DescribeGroups reports it (`/127.0.0.1`).
    pub(crate) fn client_host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// Shorthand for an optional message field.
pub(crate) fn msg(text: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(text.into()))
}

/// Helpers shared by the handler tests.
#[cfg(test)]
pub(crate) mod test_support {
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    use crate::router::{encode_response, supported};

    /// Every version the router serves for `key`.
    pub(crate) fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
        let api = supported(key).expect("served");
        api.min..=api.max
    }

    /// Asserts that `resp` encodes at `version` (kafka-protocol refuses fields set at
    /// versions that lack them).
    pub(crate) fn encodes(key: ApiKey, version: i16, resp: ResponseKind) {
        if let Err(e) = encode_response(key, version, 1, &resp) {
            panic!("{key:?} v{version}: {e}");
        }
    }
}
