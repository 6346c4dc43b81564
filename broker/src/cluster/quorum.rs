//! The metadata quorum at run time: this node's Raft (voter or learner), the active
//! controller's shell around the pure decisions of [`super::controller`], and
//! [`Quorum::submit`], which any broker uses to change metadata: decided here when this node
//! is the active controller, forwarded to it otherwise, and answered once this node's own
//! image has applied the change (so a client that created a topic sees it at once).
//!
//! The active controller serialises decisions (one at a time, each on an image that holds
//! everything committed before it), tracks broker heartbeats and fences brokers whose
//! session expired, creates the internal topics once enough brokers are up, rebalances
//! leadership to preferred replicas, and adds every non-voter broker to the Raft membership
//! as a learner so the metadata log reaches it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers};
use tokio::sync::watch;
use uuid::Uuid;

use super::controller::{self, TopicSpec};
use super::image::MetadataImage;
use super::peer::PeerPool;
use super::raft::network::Network;
use super::raft::state::{Published, StateMachine};
use super::raft::store::LogStore;
use super::raft::{MetadataBatch, Raft, kafka_id, raft_config, raft_id};
use super::records::{MetadataRecord, ScramChange};
use super::rpc::{
    ClusterRequest, ClusterResponse, ControllerFailure, ControllerReply, ControllerRequest,
    ControllerResult,
};
use crate::broker::ApiError;
use crate::error::{Error, Result};

/// How long a change may take end to end (forwarding, commit, local apply) before the
/// client gets REQUEST_TIMED_OUT.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the active controller checks sessions and internal topics.
const TICK: Duration = Duration::from_millis(100);
/// Producer ids handed to a broker at once.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// An internal topic the controller creates once enough brokers are registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Wanted replication factor (lowered to the voter count of small clusters).
    pub replication_factor: i16,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
}

/// What the quorum needs to start.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This node.
    pub node_id: i32,
    /// `<data dir>/__cluster_metadata`.
    pub dir: PathBuf,
    /// Voters by node id, with their inter-broker `host:port` (`controller.quorum.voters`).
    pub voters: BTreeMap<i32, String>,
    /// `cluster.id` when configured; else the first controller generates one.
    pub cluster_id: Option<String>,
    /// A broker that has not heartbeated for this long is fenced.
    pub session_timeout: Duration,
    /// Preferred-leader rebalancing period (`auto.leader.rebalance.enable`), if on.
    pub rebalance_interval: Option<Duration>,
    /// Internal topics to create.
    pub internal_topics: Vec<InternalTopic>,
    /// Metadata of a pre-Raft single-node data directory, imported into an empty log.
    pub legacy: Option<super::LegacyImage>,
}

/// How long a request forwarded to the active controller may take (a Raft commit, normally
/// milliseconds) before it is retried with whichever controller is current then.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// Heartbeat bookkeeping of the active controller (reset when it takes over, so brokers get
/// a full session to find it).
#[derive(Debug, Default)]
struct Liveness {
    term: u64,
    seen: HashMap<i32, Instant>,
}

impl Liveness {
    fn heard(&mut self, node: i32, now: Instant) {
        self.seen.insert(node, now);
    }

    /// Unfenced brokers not heard from within `timeout` (a broker never heard from in this
    /// term counts from `since`, when this controller took over).
    fn expired(
        &self,
        image: &MetadataImage,
        now: Instant,
        since: Instant,
        timeout: Duration,
    ) -> Vec<i32> {
        image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .filter(|b| {
                let last = self.seen.get(&b.node_id).copied().unwrap_or(since);
                now.saturating_duration_since(last) > timeout
            })
            .map(|b| b.node_id)
            .collect()
    }
}

#[derive(Debug, Default)]
struct DecideState {
    /// The term in which this node last confirmed its image holds all committed entries.
    linearized_term: Option<u64>,
    /// When this node became the active controller in that term.
    active_since: Option<Instant>,
    last_rebalance: Option<Instant>,
}

/// This node's handle on the metadata quorum.
pub struct Quorum {
    config: QuorumConfig,
    raft: Raft,
    state: StateMachine,
    pool: Arc<PeerPool>,
    decide: tokio::sync::Mutex<DecideState>,
    liveness: Mutex<Liveness>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Quorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quorum")
            .field("node_id", &self.config.node_id)
            .finish_non_exhaustive()
    }
}

fn not_controller(leader: Option<u64>) -> ControllerFailure {
    ControllerFailure::NotController {
        leader: leader.map(kafka_id),
    }
}

impl Quorum {
    /// Opens the metadata log and state machine, starts Raft, and (a voter whose log is
    /// empty) initialises the quorum with the configured voters.
    pub async fn start(config: QuorumConfig, pool: Arc<PeerPool>) -> Result<Arc<Quorum>> {
        let log = LogStore::open(&config.dir)
            .map_err(|e| Error::io("failed to open the metadata log", e))?;
        let state = StateMachine::open(&config.dir)
            .map_err(|e| Error::io("failed to open the metadata snapshot", e))?;
        let raft_config = Arc::new(
            raft_config()
                .validate()
                .map_err(|e| Error::InvalidConfig(format!("raft configuration: {e}")))?,
        );
        let voters: BTreeMap<u64, String> = config
            .voters
            .iter()
            .map(|(id, addr)| (raft_id(*id), addr.clone()))
            .collect();
        let network = Network::new(pool.clone(), voters.clone());
        let raft = Raft::new(
            raft_id(config.node_id),
            raft_config,
            network,
            log,
            state.clone(),
        )
        .await
        .map_err(|e| Error::InvalidConfig(format!("failed to start the metadata quorum: {e}")))?;
        // Only the lowest voter initialises the quorum: every voter doing it with its own
        // view of the others' addresses would write differing first membership entries.
        // The others wait for it (their votes and logs come from whoever leads).
        if voters.keys().next() == Some(&raft_id(config.node_id)) {
            let members: BTreeMap<u64, BasicNode> = voters
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr.clone())))
                .collect();
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(voters = ?config.voters, "metadata quorum initialized"),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => {
                    return Err(Error::InvalidConfig(format!(
                        "failed to initialize the metadata quorum: {e}"
                    )));
                }
            }
        }
        let (stop, _) = watch::channel(false);
        let quorum = Arc::new(Quorum {
            config,
            raft,
            state,
            pool,
            decide: tokio::sync::Mutex::new(DecideState::default()),
            liveness: Mutex::new(Liveness::default()),
            stop,
        });
        tokio::spawn(quorum.clone().controller_loop());
        Ok(quorum)
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// The latest applied image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.state.current().image
    }

    /// The latest applied image with its log index.
    pub fn published(&self) -> Published {
        self.state.current()
    }

    /// Follows the applied image.
    pub fn subscribe(&self) -> watch::Receiver<Published> {
        self.state.subscribe()
    }

    /// The active controller's node id, when one is known.
    pub fn leader(&self) -> Option<i32> {
        self.raft.metrics().borrow().current_leader.map(kafka_id)
    }

    /// Whether this node is the active controller.
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.config.node_id)
    }

    /// The voters of the quorum.
    pub fn voters(&self) -> &BTreeMap<i32, String> {
        &self.config.voters
    }

    /// Stops Raft and the controller loop.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "metadata quorum did not stop cleanly");
        }
    }

    /// The `host:port` of `node` (configured voters first, then the Raft membership).
    fn addr_of(&self, node: u64) -> Option<String> {
        if let Some(a) = self.config.voters.get(&kafka_id(node)) {
            return Some(a.clone());
        }
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.membership_config
            .membership()
            .get_node(&node)
            .map(|n| n.addr.clone())
    }

    /// Changes metadata: decided by the active controller (here, or forwarded to it),
    /// retried while the controller is unknown or moving, and answered once this node has
    /// applied the change.
    pub async fn submit(&self, request: ControllerRequest) -> Result<ControllerReply, ApiError> {
        let deadline = Instant::now() + SUBMIT_TIMEOUT;
        let mut backoff = Duration::from_millis(20);
        // Where to ask when this node knows no leader: a broker that is not (yet) in the
        // Raft membership — a non-voter before its registration made it a learner — asks
        // the voters in turn, and follows the leader a voter names.
        let voters: Vec<u64> = self.config.voters.keys().map(|id| raft_id(*id)).collect();
        let mut next_voter = 0usize;
        let mut hint: Option<u64> = None;
        loop {
            let leader = self.raft.metrics().borrow().current_leader.or(hint.take());
            let attempt = match leader {
                Some(l) if l == raft_id(self.config.node_id) => {
                    self.handle_controller(request.clone()).await
                }
                Some(l) => self.forward(l, &request).await,
                None if !voters.is_empty()
                    && !self.config.voters.contains_key(&self.config.node_id) =>
                {
                    let voter = voters[next_voter % voters.len()];
                    next_voter += 1;
                    self.forward(voter, &request).await
                }
                None => Err(not_controller(None)),
            };
            if let Err(ControllerFailure::NotController { leader: Some(l) }) = &attempt
                && *l != self.config.node_id
            {
                hint = Some(raft_id(*l));
            }
            match attempt {
                Ok(reply) => {
                    self.wait_applied(reply.index, deadline).await?;
                    return Ok(reply);
                }
                Err(ControllerFailure::Refused { code, message }) => {
                    return Err(ControllerFailure::Refused { code, message }.into_api_error());
                }
                Err(e @ ControllerFailure::NotController { .. }) => {
                    if Instant::now() + backoff > deadline {
                        tracing::warn!(request = request.name(), error = %e, "no controller answered in time");
                        return Err(ApiError::new(
                            ResponseError::RequestTimedOut,
                            format!(
                                "{} timed out: {e}; the metadata quorum needs a majority of its voters",
                                request.name()
                            ),
                        ));
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(250));
                }
            }
        }
    }

    async fn forward(
        &self,
        leader: u64,
        request: &ControllerRequest,
    ) -> Result<ControllerReply, ControllerFailure> {
        let Some(addr) = self.addr_of(leader) else {
            return Err(not_controller(None));
        };
        // A controller that stopped answering (paused, partitioned) must not hold this
        // request for the pool's whole timeout: a heartbeat gets half a session, so the
        // broker finds the next controller before its session ends.
        let timeout = match request {
            ControllerRequest::Heartbeat { .. } => self.config.session_timeout / 2,
            _ => FORWARD_TIMEOUT,
        };
        let call = self
            .pool
            .call(
                &addr,
                &ClusterRequest::Controller(request.clone()),
                Some(timeout),
            )
            .await;
        match call {
            Ok(ClusterResponse::Controller(r)) => r,
            Ok(other) => {
                tracing::warn!(%addr, answer = ?other, "controller answered oddly");
                Err(not_controller(None))
            }
            Err(e) => {
                tracing::debug!(%addr, error = %e, "controller unreachable");
                Err(not_controller(None))
            }
        }
    }

    /// Waits until this node's image has applied `index`.
    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), ApiError> {
        let mut rx = self.state.subscribe();
        let wait = rx.wait_for(|p| p.index >= index);
        match tokio::time::timeout_at(deadline.into(), wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ApiError::new(
                ResponseError::RequestTimedOut,
                format!("this broker has not applied metadata change {index} yet; retry"),
            )),
        }
    }

    /// Serves a node-to-node request arriving on a listener.
    pub async fn handle_rpc(&self, request: ClusterRequest) -> ClusterResponse {
        match request {
            ClusterRequest::AppendEntries(r) => {
                ClusterResponse::AppendEntries(self.raft.append_entries(r).await)
            }
            ClusterRequest::Vote(r) => ClusterResponse::Vote(self.raft.vote(r).await),
            ClusterRequest::InstallSnapshot(r) => {
                ClusterResponse::InstallSnapshot(self.raft.install_snapshot(r).await)
            }
            ClusterRequest::Controller(r) => {
                ClusterResponse::Controller(self.handle_controller(r).await)
            }
            ClusterRequest::AppendUsage(_) => ClusterResponse::Refused(
                "usage windows are served by the broker, not the quorum".into(),
            ),
        }
    }

    /// Makes sure this node is the active controller with an up-to-date image; returns the
    /// decision lock.
    async fn lead(&self) -> Result<tokio::sync::MutexGuard<'_, DecideState>, ControllerFailure> {
        let mut guard = self.decide.lock().await;
        let (term, leader) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_term, m.current_leader)
        };
        if leader != Some(raft_id(self.config.node_id)) {
            return Err(not_controller(leader));
        }
        if guard.linearized_term != Some(term) {
            self.raft
                .ensure_linearizable()
                .await
                .map_err(|_| not_controller(self.raft.metrics().borrow().current_leader))?;
            guard.linearized_term = Some(term);
            guard.active_since = Some(Instant::now());
            let mut liveness = self.liveness.lock().unwrap_or_else(|p| p.into_inner());
            liveness.term = term;
            liveness.seen.clear();
            tracing::info!(
                node_id = self.config.node_id,
                term,
                "this node is the active controller"
            );
        }
        Ok(guard)
    }

    /// Appends `records` (nothing when empty); returns the log index of the change, or of
    /// the current image when there was none.
    async fn append(&self, records: Vec<MetadataRecord>) -> Result<u64, ControllerFailure> {
        if records.is_empty() {
            return Ok(self.state.current().index);
        }
        let write = self.raft.client_write(MetadataBatch { records });
        match tokio::time::timeout(SUBMIT_TIMEOUT, write).await {
            Ok(Ok(response)) => Ok(response.log_id.index),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(not_controller(f.leader_id))
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "metadata append failed");
                Err(not_controller(None))
            }
            Err(_) => Err(ControllerFailure::Refused {
                code: ResponseError::RequestTimedOut.code(),
                message: "the metadata change was not committed in time (no quorum?)".into(),
            }),
        }
    }

    /// Decides and appends a request as the active controller.
    pub async fn handle_controller(
        &self,
        request: ControllerRequest,
    ) -> Result<ControllerReply, ControllerFailure> {
        let _guard = self.lead().await?;
        let image = self.state.current().image;
        let (records, result) = self.decide(&image, &request)?;
        let index = self.append(records).await?;
        if let ControllerRequest::RegisterBroker(r) = &request {
            self.add_learner(r).await;
        }
        Ok(ControllerReply { index, result })
    }

    /// A non-voter broker joins the Raft membership as a learner (or its address is updated).
    async fn add_learner(&self, registration: &super::records::BrokerRegistration) {
        let id = raft_id(registration.node_id);
        if self.config.voters.contains_key(&registration.node_id) {
            return;
        }
        let Some(addr) = registration
            .listeners
            .first()
            .map(|l| format!("{}:{}", l.host, l.port))
        else {
            return;
        };
        let addr = registration
            .endpoint(&registration.listeners[0].name)
            .map(|l| format!("{}:{}", l.host, l.port))
            .unwrap_or(addr);
        let current = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.membership_config
                .membership()
                .get_node(&id)
                .map(|n| n.addr.clone())
        };
        let change = match current {
            Some(a) if a == addr => return,
            Some(_) => {
                ChangeMembers::SetNodes(BTreeMap::from([(id, BasicNode::new(addr.clone()))]))
            }
            None => ChangeMembers::AddNodes(BTreeMap::from([(id, BasicNode::new(addr.clone()))])),
        };
        match self.raft.change_membership(change, true).await {
            Ok(_) => {
                tracing::info!(node_id = registration.node_id, %addr, "broker follows the metadata log as a learner")
            }
            Err(e) => {
                tracing::warn!(node_id = registration.node_id, error = %e, "failed to add the broker as a learner")
            }
        }
    }

    /// The records a request turns into, and what to answer.
    fn decide(
        &self,
        image: &MetadataImage,
        request: &ControllerRequest,
    ) -> Result<(Vec<MetadataRecord>, ControllerResult), ControllerFailure> {
        let done = ControllerResult::Done;
        Ok(match request {
            ControllerRequest::RegisterBroker(registration) => {
                if image.cluster_id.is_none() {
                    return Err(not_controller(None));
                }
                let mut r = registration.clone();
                r.epoch = self.state.current().index as i64 + 1;
                self.liveness
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .heard(r.node_id, Instant::now());
                (controller::register_broker(image, r), done)
            }
            ControllerRequest::Heartbeat {
                node_id,
                incarnation_id,
                caught_up,
                want_shutdown,
            } => {
                let Some(b) = image.brokers.get(node_id) else {
                    return Err(ApiError::new(
                        ResponseError::StaleBrokerEpoch,
                        format!("broker {node_id} is not registered; register again"),
                    )
                    .into());
                };
                if b.incarnation_id != *incarnation_id {
                    return Err(ApiError::new(
                        ResponseError::StaleBrokerEpoch,
                        format!("broker {node_id} registered again as another incarnation"),
                    )
                    .into());
                }
                self.liveness
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .heard(*node_id, Instant::now());
                let records = if *want_shutdown {
                    controller::begin_shutdown(image, *node_id)
                } else if *caught_up {
                    controller::unfence(image, *node_id)
                } else {
                    Vec::new()
                };
                let mut after = image.clone();
                for r in &records {
                    after.apply(r);
                }
                let fenced = after.brokers.get(node_id).is_none_or(|b| b.fenced);
                // Ready to stop once it leads only partitions no one else could take.
                let shutdown_ready = *want_shutdown
                    && after.partitions_of(*node_id).all(|(_, p)| {
                        p.leader != *node_id
                            || p.isr.iter().all(|r| *r == *node_id || !after.is_usable(*r))
                    });
                (
                    records,
                    ControllerResult::Heartbeat {
                        fenced,
                        shutdown_ready,
                    },
                )
            }
            ControllerRequest::CreateTopic {
                spec,
                validate_only,
            } => {
                let records = controller::create_topic(image, spec)?;
                (if *validate_only { Vec::new() } else { records }, done)
            }
            ControllerRequest::DeleteTopic { name } => {
                (controller::delete_topic(image, name)?, done)
            }
            ControllerRequest::CreatePartitions {
                name,
                total,
                assignments,
                validate_only,
            } => {
                let records =
                    controller::create_partitions(image, name, *total, assignments.as_ref())?;
                (if *validate_only { Vec::new() } else { records }, done)
            }
            ControllerRequest::SetTopicConfigs { name, configs } => {
                if !image.topics.contains_key(name) {
                    return Err(ApiError::new(
                        ResponseError::UnknownTopicOrPartition,
                        format!("topic {name:?} does not exist"),
                    )
                    .into());
                }
                (
                    vec![MetadataRecord::TopicConfigsSet {
                        name: name.clone(),
                        configs: configs.clone(),
                    }],
                    done,
                )
            }
            ControllerRequest::AlterScram(changes) => {
                let mut valid: Vec<ScramChange> = Vec::new();
                let mut results = Vec::new();
                for c in changes {
                    let exists = image
                        .scram_credentials
                        .get(&c.user)
                        .is_some_and(|m| m.contains_key(&c.mechanism));
                    let pending_delete = valid.iter().any(|v| {
                        v.user == c.user && v.mechanism == c.mechanism && v.credential.is_none()
                    });
                    if c.credential.is_none() && (!exists || pending_delete) {
                        results.push(Some((
                            ResponseError::ResourceNotFound.code(),
                            format!("user {:?} has no {} credential", c.user, c.mechanism.name()),
                        )));
                    } else {
                        valid.push(c.clone());
                        results.push(None);
                    }
                }
                let records = if valid.is_empty() {
                    Vec::new()
                } else {
                    vec![MetadataRecord::ScramCredentialsChanged { changes: valid }]
                };
                (records, ControllerResult::Scram(results))
            }
            ControllerRequest::CreateAcls(bindings) => (
                vec![MetadataRecord::AclsCreated {
                    bindings: bindings.clone(),
                }],
                done,
            ),
            ControllerRequest::DeleteAcls(filters) => {
                let removed: Vec<Vec<_>> = filters
                    .iter()
                    .map(|f| {
                        image
                            .acls
                            .iter()
                            .filter(|b| f.matches(b))
                            .cloned()
                            .collect()
                    })
                    .collect();
                let all: Vec<_> = image
                    .acls
                    .iter()
                    .filter(|b| filters.iter().any(|f| f.matches(b)))
                    .cloned()
                    .collect();
                let records = if all.is_empty() {
                    Vec::new()
                } else {
                    vec![MetadataRecord::AclsDeleted { bindings: all }]
                };
                (records, ControllerResult::DeletedAcls(removed))
            }
            ControllerRequest::AlterQuotas(changes) => (
                vec![MetadataRecord::ClientQuotasChanged {
                    changes: changes.clone(),
                }],
                done,
            ),
            ControllerRequest::AllocateProducerIds { node_id } => {
                let record = controller::allocate_producer_ids(image, *node_id, PRODUCER_ID_BLOCK);
                let MetadataRecord::ProducerIdsAllocated { first, size, .. } = record else {
                    unreachable!("allocate_producer_ids returns an allocation");
                };
                (vec![record], ControllerResult::ProducerIds { first, size })
            }
            ControllerRequest::AlterPartition(change) => {
                let (records, partition) = controller::alter_partition(image, change)?;
                (records, ControllerResult::Partition(partition))
            }
            ControllerRequest::Reassign {
                topic,
                partition,
                target,
            } => (
                controller::reassign(image, topic, *partition, target.as_deref())?,
                done,
            ),
            ControllerRequest::ElectPreferred { topic, partition } => {
                (controller::elect_preferred(image, topic, *partition)?, done)
            }
            ControllerRequest::UnregisterBroker { node_id } => {
                let hosted = image.partitions_of(*node_id).count();
                if hosted > 0 {
                    return Err(ApiError::new(
                        ResponseError::InvalidRequest,
                        format!(
                            "broker {node_id} still hosts {hosted} replicas; reassign them first"
                        ),
                    )
                    .into());
                }
                (
                    if image.brokers.contains_key(node_id) {
                        vec![MetadataRecord::BrokerUnregistered { node_id: *node_id }]
                    } else {
                        Vec::new()
                    },
                    done,
                )
            }
        })
    }

    /// The active controller's periodic duties.
    async fn controller_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !self.is_leader() {
                continue;
            }
            if let Err(e) = self.tick().await {
                tracing::debug!(error = %e, "controller tick skipped");
            }
        }
    }

    async fn tick(&self) -> Result<(), ControllerFailure> {
        let mut guard = self.lead().await?;
        let image = self.state.current().image;
        let now = Instant::now();
        let mut records = Vec::new();
        if image.cluster_id.is_none() {
            records = self.bootstrap_records();
        } else {
            let since = guard.active_since.unwrap_or(now);
            let expired = self
                .liveness
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .expired(&image, now, since, self.config.session_timeout);
            let mut after = (*image).clone();
            for node in expired {
                tracing::warn!(
                    node_id = node,
                    timeout_ms = self.config.session_timeout.as_millis() as u64,
                    "broker session expired: fencing it"
                );
                let fence = controller::fence(&after, node);
                for r in &fence {
                    after.apply(r);
                }
                records.extend(fence);
            }
            records.extend(self.internal_topic_records(&after));
            if let Some(interval) = self.config.rebalance_interval
                && guard
                    .last_rebalance
                    .is_none_or(|t| now.duration_since(t) >= interval)
            {
                guard.last_rebalance = Some(now);
                if guard
                    .active_since
                    .is_some_and(|t| now.duration_since(t) >= interval)
                {
                    let moves = controller::rebalance_leaders(&after);
                    if !moves.is_empty() {
                        tracing::info!(
                            partitions = moves.len(),
                            "moving leadership back to preferred replicas"
                        );
                    }
                    records.extend(moves);
                }
            }
        }
        self.append(records).await?;
        Ok(())
    }

    /// The first records of a new cluster: its id, and whatever a pre-Raft data directory
    /// held (topics with this node as their only replica, credentials, ACLs, quotas).
    fn bootstrap_records(&self) -> Vec<MetadataRecord> {
        let legacy = self.config.legacy.as_ref();
        let cluster_id = self
            .config
            .cluster_id
            .clone()
            .or_else(|| legacy.map(|l| l.cluster_id.clone()))
            .unwrap_or_else(super::new_cluster_id);
        let mut out = vec![MetadataRecord::ClusterCreated { cluster_id }];
        if let Some(legacy) = legacy {
            tracing::info!(
                topics = legacy.topics.len(),
                "importing metadata.json into the metadata log"
            );
            out.extend(super::legacy::import(legacy, self.config.node_id));
        }
        out
    }

    /// Internal topics not created yet, once enough brokers are usable: the wanted
    /// replication factor, but at most the number of voters (a one-node cluster gets one).
    fn internal_topic_records(&self, image: &MetadataImage) -> Vec<MetadataRecord> {
        let usable = image.usable_brokers().count();
        let mut out = Vec::new();
        let mut after = image.clone();
        for topic in &self.config.internal_topics {
            if after.topics.contains_key(&topic.name) {
                continue;
            }
            let wanted =
                (topic.replication_factor.max(1) as usize).min(self.config.voters.len().max(1));
            if usable < wanted {
                continue;
            }
            let spec = TopicSpec {
                name: topic.name.clone(),
                id: Uuid::new_v4(),
                partitions: topic.partitions,
                replication_factor: wanted as i16,
                assignments: None,
                configs: topic.configs.clone(),
                internal: true,
            };
            match controller::create_topic(&after, &spec) {
                Ok(records) => {
                    tracing::info!(topic = %topic.name, partitions = topic.partitions, replication_factor = wanted, "creating internal topic");
                    for r in &records {
                        after.apply(r);
                    }
                    out.extend(records);
                }
                Err(e) => {
                    tracing::warn!(topic = %topic.name, error = %e.message, "cannot create internal topic yet")
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::records::{BrokerRegistration, Endpoint};

    #[test]
    fn sessions_expire_from_the_last_heartbeat_or_from_the_takeover() {
        let mut image = MetadataImage::default();
        for id in [1, 2, 3] {
            image.apply(&MetadataRecord::BrokerRegistered(BrokerRegistration {
                node_id: id,
                incarnation_id: Uuid::nil(),
                epoch: 1,
                listeners: vec![Endpoint {
                    name: "PLAINTEXT".into(),
                    host: "h".into(),
                    port: 1,
                }],
                rack: None,
                fenced: id == 3,
                shutting_down: false,
            }));
        }
        let t0 = Instant::now();
        let timeout = Duration::from_secs(2);
        let mut l = Liveness::default();
        assert!(
            l.expired(&image, t0 + Duration::from_secs(1), t0, timeout)
                .is_empty()
        );
        l.heard(1, t0 + Duration::from_secs(1));
        let late = t0 + Duration::from_millis(2500);
        assert_eq!(
            l.expired(&image, late, t0, timeout),
            vec![2],
            "3 is fenced already"
        );
        assert_eq!(
            l.expired(&image, t0 + Duration::from_millis(3500), t0, timeout),
            vec![1, 2]
        );
    }
}
