//! openraft's network: Raft RPCs to another node go through the [`PeerPool`] as
//! [`ClusterRequest`]s. A node that cannot be reached is `Unreachable` (openraft backs off);
//! an answer that is not the expected kind is a network error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::{NodeId, TypeConfig};
use crate::client::KafkaError;
use crate::cluster::peer::PeerPool;
use crate::cluster::rpc::{ClusterRequest, ClusterResponse};

/// Creates per-target clients.
#[derive(Debug, Clone)]
pub struct Network {
    pool: Arc<PeerPool>,
    /// Voters' addresses from the configuration: they win over the membership's (a voter
    /// restarted on another address is reached at the configured one).
    voters: BTreeMap<NodeId, String>,
}

impl Network {
    /// Raft traffic over `pool`.
    pub fn new(pool: Arc<PeerPool>, voters: BTreeMap<NodeId, String>) -> Self {
        Network { pool, voters }
    }
}

/// Raft RPCs to one node.
#[derive(Debug)]
pub struct PeerClient {
    pool: Arc<PeerPool>,
    target: NodeId,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerClient {
            pool: self.pool.clone(),
            target,
            addr: self
                .voters
                .get(&target)
                .cloned()
                .unwrap_or_else(|| node.addr.clone()),
        }
    }
}

fn transport<E: std::error::Error>(e: KafkaError) -> RPCError<NodeId, BasicNode, E> {
    match e {
        KafkaError::Connect { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        other => RPCError::Network(NetworkError::new(&other)),
    }
}

fn unexpected<E: std::error::Error>(
    what: &str,
    got: ClusterResponse,
) -> RPCError<NodeId, BasicNode, E> {
    let message = match got {
        ClusterResponse::Refused(why) => format!("{what} refused: {why}"),
        other => format!("{what}: unexpected answer {other:?}"),
    };
    RPCError::Network(NetworkError::new(&std::io::Error::other(message)))
}

impl PeerClient {
    async fn call<E: std::error::Error>(
        &self,
        request: ClusterRequest,
        option: &RPCOption,
    ) -> Result<ClusterResponse, RPCError<NodeId, BasicNode, E>> {
        let timeout = option.hard_ttl().max(Duration::from_millis(50));
        self.pool
            .call(&self.addr, &request, Some(timeout))
            .await
            .map_err(transport)
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .call(ClusterRequest::AppendEntries(rpc), &option)
            .await?
        {
            ClusterResponse::AppendEntries(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(unexpected("AppendEntries", other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self
            .call(ClusterRequest::InstallSnapshot(rpc), &option)
            .await?
        {
            ClusterResponse::InstallSnapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(unexpected("InstallSnapshot", other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(ClusterRequest::Vote(rpc), &option).await? {
            ClusterResponse::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(unexpected("Vote", other)),
        }
    }
}
