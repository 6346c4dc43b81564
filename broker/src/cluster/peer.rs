//! Connections to other brokers' inter-broker listener, authenticated as this broker
//! (TLS trusting the cluster CA, SASL with the inter-broker credentials), pooled per
//! address: a call takes an idle connection or opens one, and gives it back when the call
//! succeeded (a failed connection is dropped).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::client::{self, ConnectOptions, Connection, KafkaError, SaslMechanism};

use super::rpc::{CLUSTER_API_KEY, CLUSTER_API_VERSION, ClusterRequest, ClusterResponse};

/// Idle connections kept per address.
const IDLE_PER_PEER: usize = 4;

/// How this broker authenticates to others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSecurity {
    /// Trust this CA (PEM) and speak TLS; `None` = plaintext.
    pub tls_ca_pem: Option<String>,
    /// SASL mechanism, user and password; `None` = no SASL.
    pub sasl: Option<(SaslMechanism, String, String)>,
}

/// Opens and pools connections to other brokers.
#[derive(Debug)]
pub struct PeerPool {
    security: PeerSecurity,
    client_id: String,
    timeout: Duration,
    idle: Mutex<HashMap<String, Vec<Connection>>>,
}

impl PeerPool {
    /// A pool whose connections identify as `client_id` (`broker-<node.id>`).
    pub fn new(security: PeerSecurity, client_id: String, timeout: Duration) -> Self {
        PeerPool {
            security,
            client_id,
            timeout,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// An idle connection to `addr`, or a new one.
    pub async fn checkout(&self, addr: &str) -> Result<Connection, KafkaError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(addr)
            .and_then(Vec::pop);
        if let Some(conn) = idle {
            return Ok(conn);
        }
        let options = ConnectOptions {
            bootstrap: addr.to_string(),
            tls_ca_pem: self.security.tls_ca_pem.clone(),
            sasl: self.security.sasl.clone(),
        };
        let mut conn = client::connect(&options, self.timeout).await?;
        conn.set_client_id(self.client_id.clone());
        Ok(conn)
    }

    /// Returns a connection after a successful call.
    pub fn checkin(&self, conn: Connection) {
        if conn.is_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(conn.addr().to_string()).or_default();
        if list.len() < IDLE_PER_PEER {
            list.push(conn);
        }
    }

    /// Forgets idle connections to `addr` (its broker restarted or moved).
    pub fn forget(&self, addr: &str) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(addr);
    }

    /// Sends a node-to-node request to `addr` and waits for the answer, for at most
    /// `timeout` (Raft's own RPC deadlines are shorter than the pool's default).
    pub async fn call(
        &self,
        addr: &str,
        request: &ClusterRequest,
        timeout: Option<Duration>,
    ) -> Result<ClusterResponse, KafkaError> {
        let body = serde_json::to_vec(request).map_err(|e| {
            KafkaError::Protocol(format!("failed to encode a cluster request: {e}"))
        })?;
        // The deadline covers opening a connection too: a paused or wedged peer accepts TCP
        // (the kernel does) but never answers the handshake's ApiVersions.
        let limit = timeout.unwrap_or(self.timeout);
        let mut conn = match tokio::time::timeout(limit, self.checkout(addr)).await {
            Ok(conn) => conn?,
            Err(_) => {
                return Err(KafkaError::Connect {
                    addr: addr.to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {limit:?} while connecting"),
                    ),
                });
            }
        };
        conn.set_timeout(limit);
        let answer = conn
            .raw_round_trip(CLUSTER_API_KEY, CLUSTER_API_VERSION, &body)
            .await;
        let bytes = match answer {
            Ok(b) => b,
            Err(e) => {
                self.forget(addr);
                return Err(e);
            }
        };
        conn.set_timeout(self.timeout);
        self.checkin(conn);
        serde_json::from_slice(&bytes)
            .map_err(|e| KafkaError::Protocol(format!("bad cluster response from {addr}: {e}")))
    }
}
