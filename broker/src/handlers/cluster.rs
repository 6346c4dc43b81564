//! Node-to-node frames ([`crate::cluster::rpc`]): Raft messages and controller requests from
//! other brokers, on the same listeners and security as client traffic. Only an
//! authenticated principal allowed CLUSTER_ACTION on the cluster (the brokers' super user
//! when the authorizer is on) is served; anyone else is answered `Refused` and logged.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use crate::broker::Broker;
use crate::cluster::rpc::{ClusterRequest, ClusterResponse};
use crate::error::{Error, Result};
use crate::router::{Handled, Reply};
use crate::security::Principal;
use crate::security::acl::{Operation, ResourceType};
use crate::security::authorizer::CLUSTER;
use crate::security::sasl::Session;

/// Serves one node-to-node frame: request header v1 (key, version, correlation id, client
/// id), then a JSON [`ClusterRequest`]; the answer is a v0 response header and JSON.
pub(crate) async fn handle(
    broker: &Arc<Broker>,
    session: &mut Session,
    peer: std::net::SocketAddr,
    mut frame: Bytes,
) -> Result<Handled> {
    if frame.len() < 10 {
        return Err(Error::Malformed("cluster frame header is truncated".into()));
    }
    frame.advance(4);
    let correlation_id = frame.get_i32();
    let client_id_len = frame.get_i16();
    if client_id_len > 0 {
        let len = client_id_len as usize;
        if frame.len() < len {
            return Err(Error::Malformed(
                "cluster frame client id is truncated".into(),
            ));
        }
        frame.advance(len);
    }
    if !session.may_serve(ApiKey::Metadata) {
        return Err(Error::Malformed(format!(
            "cluster request before SASL authentication on listener {}",
            session.listener
        )));
    }
    let principal = broker.config.security.assign_tenant(
        session
            .principal()
            .cloned()
            .unwrap_or_else(Principal::anonymous),
    );
    let response = if !broker.authorize(
        &principal,
        peer.ip(),
        Operation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER,
    ) {
        tracing::warn!(%peer, %principal, "cluster request refused: the principal may not CLUSTER_ACTION");
        ClusterResponse::Refused(format!("{principal} may not act as a broker"))
    } else {
        match serde_json::from_slice::<ClusterRequest>(&frame) {
            Ok(ClusterRequest::AppendUsage(records)) => {
                let b = broker.clone();
                let appended =
                    tokio::task::spawn_blocking(move || b.append_usage(&records, crate::now_ms()))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()));
                ClusterResponse::Usage(appended)
            }
            Ok(request) => broker.quorum.handle_rpc(request).await,
            Err(e) => ClusterResponse::Refused(format!("malformed cluster request: {e}")),
        }
    };
    let body = serde_json::to_vec(&response)
        .map_err(|e| Error::Malformed(format!("failed to encode a cluster response: {e}")))?;
    let mut out = BytesMut::with_capacity(8 + body.len());
    out.put_i32((4 + body.len()) as i32);
    out.put_i32(correlation_id);
    out.put_slice(&body);
    Ok(Reply::Frame(out).into())
}
