//! The state every handler shares: this broker's view of the cluster metadata (through the
//! [`Quorum`]), the partition replicas it hosts, the group coordinator, producer ids, fetch
//! sessions, and the notification that wakes long-polling fetches.
//!
//! Metadata changes (topics, configs, credentials, ACLs, quotas) go to the active
//! controller through [`Quorum::submit`]; the local state follows the metadata image (see
//! [`crate::publish`]), so every broker of a cluster converges on the same topics and each
//! hosts exactly the replicas assigned to it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use kafka_protocol::ResponseError;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::cluster::controller::TopicSpec;
use crate::cluster::image::MetadataImage;
use crate::cluster::peer::{PeerPool, PeerSecurity};
use crate::cluster::quorum::{InternalTopic, Quorum, QuorumConfig};
use crate::cluster::records::{BrokerRegistration, Endpoint};
use crate::cluster::rpc::{ControllerRequest, ControllerResult};
use crate::config::{BrokerConfig, ListenerConfig, LogConfig};
use crate::error::{Error, Result};
use crate::fetch_session::FetchSessionCache;
use crate::group::GroupCoordinator;
pub use crate::replica::{Partition, PartitionState, ProduceOutcome};

/// Name of the internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Largest topic name Kafka accepts.
const MAX_TOPIC_NAME: usize = 249;
/// Where the metadata log lives in the data directory.
const METADATA_DIR: &str = "__cluster_metadata";

/// A Kafka error a client should see, with a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The protocol error.
    pub code: ResponseError,
    /// What went wrong and, where useful, what to do.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError {
            code: e.kafka_code(),
            message: e.to_string(),
        }
    }
}

/// A topic as this broker knows it: from the metadata image, with the replicas hosted here.
#[derive(Debug)]
pub struct Topic {
    /// Name.
    pub name: String,
    /// Stable id.
    pub id: Uuid,
    /// Whether it is internal (`__consumer_offsets`, `__fjord_usage`).
    pub internal: bool,
    pub(crate) partitions: RwLock<BTreeMap<i32, Arc<Partition>>>,
    pub(crate) partition_count: AtomicI32,
    pub(crate) settings: RwLock<TopicSettings>,
}

/// A topic's config overrides and the effective log config derived from them once per change
/// (Produce reads `max.message.bytes` on every request; it must not re-parse strings).
#[derive(Debug, Clone)]
pub(crate) struct TopicSettings {
    pub(crate) overrides: BTreeMap<String, String>,
    pub(crate) log: LogConfig,
}

impl Topic {
    /// The partition replicas hosted on this broker, in index order.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The replica of partition `index` hosted here.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&index)
            .cloned()
    }

    /// Partition count (all partitions, wherever they are hosted).
    pub fn partition_count(&self) -> i32 {
        self.partition_count.load(Ordering::Acquire)
    }

    /// Topic-level config overrides.
    pub fn configs(&self) -> BTreeMap<String, String> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .overrides
            .clone()
    }

    /// Effective log config: the overrides over the broker defaults.
    pub fn log_config(&self) -> LogConfig {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .log
            .clone()
    }
}

/// Where this broker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Registering with the controller and catching up with the metadata log.
    Starting,
    /// Unfenced: serving clients.
    Running,
    /// A controlled shutdown is moving leadership away.
    ShuttingDown,
    /// Stopped.
    Stopped,
}

/// The broker: everything a request handler needs.
#[derive(Debug)]
pub struct Broker {
    /// Validated configuration.
    pub config: BrokerConfig,
    /// This node's id.
    pub node_id: i32,
    /// Random per process start: tells the controller this is a new incarnation.
    pub incarnation_id: Uuid,
    /// The metadata quorum.
    pub quorum: Arc<Quorum>,
    /// Connections to other brokers (replication, forwarding).
    pub(crate) peers: Arc<PeerPool>,
    /// Classic consumer-group coordinator.
    pub groups: GroupCoordinator,
    /// Transaction coordinator.
    pub txns: crate::txn::TxnCoordinator,
    /// KIP-227 incremental fetch sessions.
    pub fetch_sessions: FetchSessionCache,
    /// Woken on every append (and high watermark move) so long-polling fetches return as
    /// soon as data is readable.
    pub data_arrived: Notify,
    /// Failed SASL authentications since start (brute-force signal).
    pub failed_authentications: std::sync::atomic::AtomicU64,
    /// Client quotas and the rates measured against them (see [`crate::quota`]).
    pub quotas: crate::quota::ClientQuotas,
    /// Live Prometheus metrics (see [`crate::metrics`]; scraped with [`Broker::metrics_text`]).
    pub(crate) metrics: crate::metrics::Metrics,
    /// The TLS certificate of SSL/SASL_SSL listeners, when configured.
    pub tls: Option<Arc<crate::security::tls::ReloadingCert>>,
    /// Usage counters for billing, written to `__fjord_usage` (see [`crate::metering`]).
    pub(crate) usage: crate::metering::UsageMeter,
    /// OAUTHBEARER's key set, when that mechanism is enabled.
    pub oauth: Option<Arc<crate::security::oauth::JwksCache>>,
    /// Replica fetchers, one per leader this broker follows.
    pub(crate) fetchers: crate::replication::Fetchers,
    advertised: RwLock<Vec<ListenerConfig>>,
    /// The ACLs of the metadata image, shared read-only with every authorization check.
    pub(crate) acls: RwLock<Arc<Vec<crate::security::acl::AclBinding>>>,
    pub(crate) topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    cluster_id: OnceLock<String>,
    /// Producer ids of the block this broker holds: next, end.
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    pub(crate) lifecycle: watch::Sender<Lifecycle>,
    /// The metadata log index the local state reflects.
    pub(crate) published: watch::Sender<u64>,
    /// Set to request a controlled shutdown from the lifecycle task.
    pub(crate) shutdown_requested: watch::Sender<bool>,
    /// A pre-Raft `metadata.json` imported at first start (renamed once applied).
    pub(crate) legacy_imported: Mutex<bool>,
    /// The background tasks [`Broker::stop`] waits for.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The data directory's lock, released by [`Broker::stop`] (or on drop).
    dir_lock: Mutex<Option<std::fs::File>>,
}

/// Checks a topic name against Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::new(ResponseError::InvalidTopicException, m));
    if name.is_empty() || name == "." || name == ".." {
        return bad(format!("topic name {name:?} is not allowed"));
    }
    if name.len() > MAX_TOPIC_NAME {
        return bad(format!(
            "topic name is {} characters; the limit is {MAX_TOPIC_NAME}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(format!(
            "topic name {name:?} contains {c:?}; use ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// The listener other brokers reach this one on.
pub fn inter_broker_listener(config: &BrokerConfig) -> Option<&ListenerConfig> {
    let name = config.cluster.inter_broker_listener.as_deref();
    let pick = |list: &[ListenerConfig]| -> Option<usize> {
        match name {
            Some(n) => list.iter().position(|l| l.name == n),
            None => (!list.is_empty()).then_some(0),
        }
    };
    if let Some(i) = pick(&config.advertised_listeners) {
        return config.advertised_listeners.get(i);
    }
    pick(&config.listeners).and_then(|i| config.listeners.get(i))
}

fn host_port(l: &ListenerConfig) -> String {
    let host = if l.host.is_empty() || l.host == "0.0.0.0" {
        "127.0.0.1"
    } else {
        l.host.as_str()
    };
    format!("{host}:{}", l.port)
}

/// How this broker authenticates to the others. A broker that is its quorum's only voter
/// (a single-node cluster) may leave the inter-broker CA and user unset: it has no one to
/// call until other brokers join, and says so at startup.
fn peer_security(config: &BrokerConfig) -> Result<PeerSecurity> {
    let Some(listener) = inter_broker_listener(config) else {
        return Ok(PeerSecurity::default());
    };
    let alone = config.cluster.voters.is_empty()
        || (config.cluster.voters.len() == 1
            && config.cluster.voters.contains_key(&config.node_id));
    if alone
        && ((listener.security.tls() && config.cluster.inter_broker_ca.is_none())
            || (listener.security.sasl() && config.cluster.inter_broker_sasl.is_none()))
    {
        tracing::info!(
            listener = %listener.name,
            "single-node cluster: no inter-broker CA or user configured; set fjord.inter.broker.ssl.ca.location and fjord.inter.broker.user before adding brokers"
        );
        return Ok(PeerSecurity::default());
    }
    let tls_ca_pem = if listener.security.tls() {
        let path = config.cluster.inter_broker_ca.as_ref().ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the inter-broker listener {} uses TLS: set fjord.inter.broker.ssl.ca.location (or ssl.truststore.location) to the CA brokers trust",
                listener.name
            ))
        })?;
        Some(std::fs::read_to_string(path).map_err(|e| {
            Error::io(
                format!("failed to read the inter-broker CA {}", path.display()),
                e,
            )
        })?)
    } else {
        None
    };
    let sasl = if listener.security.sasl() {
        Some(config.cluster.inter_broker_sasl.clone().ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the inter-broker listener {} uses SASL: set fjord.inter.broker.user (or fjord.bootstrap.users) to the super user brokers authenticate as",
                listener.name
            ))
        })?)
    } else {
        None
    };
    Ok(PeerSecurity { tls_ca_pem, sasl })
}

impl Broker {
    /// Opens the data directory, starts the metadata quorum (initialising it on first start
    /// of a voter), and starts the tasks that follow the metadata image and register this
    /// broker with the controller. Serving starts at once (the quorum's RPCs need it); clients
    /// are served once [`Broker::wait_ready`] returns.
    pub async fn open(config: BrokerConfig) -> Result<Arc<Broker>> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("failed to create data dir {}", dir.display()), e))?;
        let lock_path = dir.join(".lock");
        let dir_lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("failed to open {}", lock_path.display()), e))?;
        dir_lock.try_lock().map_err(|_| {
            Error::InvalidConfig(format!(
                "data dir {} is in use by another broker process",
                dir.display()
            ))
        })?;
        remove_retired_dirs(&dir);
        if config.node_id < 0 {
            return Err(Error::InvalidConfig(format!(
                "node.id must not be negative, not {}",
                config.node_id
            )));
        }
        let metadata_dir = dir.join(METADATA_DIR);
        let legacy = if metadata_dir.exists() {
            None
        } else {
            crate::cluster::legacy::load(&dir, config.node_id)?
        };
        let own_addr = inter_broker_listener(&config)
            .map(host_port)
            .ok_or_else(|| Error::InvalidConfig("the broker needs at least one listener".into()))?;
        let voters = if config.cluster.voters.is_empty() {
            BTreeMap::from([(config.node_id, own_addr)])
        } else {
            config.cluster.voters.clone()
        };
        let peers = Arc::new(PeerPool::new(
            peer_security(&config)?,
            format!("broker-{}", config.node_id),
            Duration::from_secs(10),
        ));
        let mut usage_configs = BTreeMap::new();
        usage_configs.insert(
            "retention.ms".to_string(),
            config.usage_retention_ms.to_string(),
        );
        let mut offsets_configs = BTreeMap::new();
        offsets_configs.insert("cleanup.policy".to_string(), "compact".to_string());
        // Kafka's offsets.topic.segment.bytes: small segments, so the cleaner gets to them.
        offsets_configs.insert("segment.bytes".to_string(), "104857600".to_string());
        let mut txn_configs = BTreeMap::new();
        txn_configs.insert("cleanup.policy".to_string(), "compact".to_string());
        // Kafka's transaction.state.log.segment.bytes.
        txn_configs.insert("segment.bytes".to_string(), "104857600".to_string());
        let internal_topics = vec![
            InternalTopic {
                name: OFFSETS_TOPIC.to_string(),
                partitions: config.offsets_topic_num_partitions,
                replication_factor: config.cluster.offsets_replication_factor,
                configs: offsets_configs,
            },
            InternalTopic {
                name: crate::txn::TXN_TOPIC.to_string(),
                partitions: config.transaction_state_num_partitions,
                replication_factor: config.cluster.transaction_replication_factor,
                configs: txn_configs,
            },
            InternalTopic {
                name: crate::metering::USAGE_TOPIC.to_string(),
                partitions: 1,
                replication_factor: config.cluster.offsets_replication_factor,
                configs: usage_configs,
            },
        ];
        let quorum = Quorum::start(
            QuorumConfig {
                node_id: config.node_id,
                dir: metadata_dir,
                voters,
                cluster_id: config.cluster_id.clone(),
                session_timeout: Duration::from_millis(config.cluster.session_timeout_ms),
                rebalance_interval: config
                    .cluster
                    .leader_rebalance_interval_ms
                    .map(Duration::from_millis),
                internal_topics,
                legacy: legacy.clone(),
            },
            peers.clone(),
        )
        .await?;
        let tls = match &config.security.keystore {
            Some(path) => Some(Arc::new(crate::security::tls::ReloadingCert::open(path)?)),
            None => None,
        };
        let groups = GroupCoordinator::open(&config)?;
        let quotas = crate::quota::ClientQuotas::new(config.quota_window, &[]);
        let (lifecycle, _) = watch::channel(Lifecycle::Starting);
        let (published, _) = watch::channel(0);
        let (shutdown_requested, _) = watch::channel(false);
        let broker = Arc::new(Broker {
            node_id: config.node_id,
            incarnation_id: Uuid::new_v4(),
            quorum,
            peers,
            advertised: RwLock::new(config.advertised_listeners.clone()),
            acls: RwLock::new(Arc::new(Vec::new())),
            failed_authentications: std::sync::atomic::AtomicU64::new(0),
            metrics: crate::metrics::Metrics::new(),
            quotas,
            tls,
            usage: crate::metering::UsageMeter::default(),
            oauth: config
                .security
                .sasl_mechanisms
                .contains(&crate::security::SaslMechanism::OAuthBearer)
                .then(|| crate::security::oauth::JwksCache::new(config.security.oauth.clone())),
            fetchers: crate::replication::Fetchers::default(),
            config,
            groups,
            txns: crate::txn::TxnCoordinator::default(),
            fetch_sessions: FetchSessionCache::default(),
            data_arrived: Notify::new(),
            topics: RwLock::new(BTreeMap::new()),
            cluster_id: OnceLock::new(),
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            lifecycle,
            published,
            shutdown_requested,
            legacy_imported: Mutex::new(legacy.is_some()),
            tasks: Mutex::new(Vec::new()),
            dir_lock: Mutex::new(Some(dir_lock)),
        });
        let tasks = vec![
            tokio::spawn(broker.clone().follow_metadata()),
            tokio::spawn(broker.clone().run_lifecycle()),
        ];
        *broker.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        tracing::info!(node_id = broker.node_id, dir = %dir.display(), voters = ?broker.quorum.voters(), "broker opened");
        Ok(broker)
    }

    /// Waits until this broker is registered, caught up with the metadata log and unfenced,
    /// with its replicas opened: ready for clients.
    /// A broker that is the only voter also waits for the internal topics (created moments
    /// after it registers), so groups work as soon as it is ready.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.lifecycle.subscribe();
        let ready = rx.wait_for(|s| *s == Lifecycle::Running);
        let joined = matches!(tokio::time::timeout_at(deadline, ready).await, Ok(Ok(_)));
        if !joined {
            return Err(Error::InvalidConfig(format!(
                "broker {} did not join the cluster within {} s: is a majority of controller.quorum.voters ({:?}) up and reachable?",
                self.node_id,
                timeout.as_secs(),
                self.quorum.voters()
            )));
        }
        if self.quorum.voters().len() == 1 {
            let mut published = self.published.subscribe();
            let internal = published.wait_for(|_| {
                [
                    OFFSETS_TOPIC,
                    crate::txn::TXN_TOPIC,
                    crate::metering::USAGE_TOPIC,
                ]
                .iter()
                .all(|t| self.topic(t).is_some_and(|t| !t.partitions().is_empty()))
            });
            if tokio::time::timeout_at(deadline, internal).await.is_err() {
                return Err(Error::InvalidConfig(format!(
                    "broker {} joined but its internal topics were not created within {} s",
                    self.node_id,
                    timeout.as_secs()
                )));
            }
        }
        Ok(())
    }

    /// [`Broker::open`], then [`Broker::wait_ready`] (embedders and tests of one node).
    pub async fn open_ready(config: BrokerConfig) -> Result<Arc<Broker>> {
        let broker = Broker::open(config).await?;
        broker.wait_ready(Duration::from_secs(30)).await?;
        Ok(broker)
    }

    /// Where the broker is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        *self.lifecycle.borrow()
    }

    /// The cluster id (empty until the metadata log has been read).
    pub fn cluster_id(&self) -> String {
        self.cluster_id.get().cloned().unwrap_or_default()
    }

    pub(crate) fn set_cluster_id(&self, id: &str) {
        let _ = self.cluster_id.set(id.to_string());
    }

    /// The metadata image this broker follows.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.quorum.image()
    }

    /// This broker's registration as it would send it: advertised listeners and rack.
    pub(crate) fn registration(&self) -> BrokerRegistration {
        let listeners = self
            .advertised_listeners()
            .into_iter()
            .map(|l| Endpoint {
                name: l.name.clone(),
                host: if l.host.is_empty() || l.host == "0.0.0.0" {
                    "127.0.0.1".to_string()
                } else {
                    l.host.clone()
                },
                port: l.port,
            })
            .collect();
        BrokerRegistration {
            node_id: self.node_id,
            incarnation_id: self.incarnation_id,
            epoch: 0,
            listeners,
            rack: self.config.cluster.rack.clone(),
            fenced: true,
            shutting_down: false,
        }
    }

    /// Addresses clients should use (set from the bound listeners when not configured).
    pub fn advertised_listeners(&self) -> Vec<ListenerConfig> {
        let adv = self
            .advertised
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if adv.is_empty() {
            self.config.listeners.clone()
        } else {
            adv
        }
    }

    /// Records the actually bound listener addresses when none were configured to advertise.
    pub fn set_bound_listeners(&self, bound: Vec<ListenerConfig>) {
        let mut adv = self.advertised.write().unwrap_or_else(|p| p.into_inner());
        if adv.is_empty() {
            *adv = bound;
        }
    }

    /// The host and port broker `node` advertises on `listener` (clients are always given
    /// addresses of the listener they connected through), from its registration.
    pub fn broker_address(&self, node: i32, listener: &str) -> Option<(String, i32)> {
        if node == self.node_id {
            return Some(self.advertised_address(listener));
        }
        let image = self.image();
        let b = image.brokers.get(&node)?;
        let e = b.endpoint(listener)?;
        Some((e.host.clone(), i32::from(e.port)))
    }

    /// The host and port this node advertises on `listener`, else on its first listener.
    pub fn advertised_address(&self, listener: &str) -> (String, i32) {
        let all = self.advertised_listeners();
        all.iter()
            .find(|l| l.name == listener)
            .or_else(|| all.first())
            .map(|l| {
                let host = if l.host.is_empty() || l.host == "0.0.0.0" {
                    "127.0.0.1".to_string()
                } else {
                    l.host.clone()
                };
                (host, l.port as i32)
            })
            .unwrap_or_else(|| ("127.0.0.1".to_string(), 9092))
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|t| t.id == id)
            .cloned()
    }

    /// All topics, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The replica of a partition hosted here.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.topic(topic)?.partition(index)
    }

    /// Creates a topic through the controller. `partitions` of -1 means `num.partitions`,
    /// a `replication_factor` of -1 `default.replication.factor`; `assignments` gives
    /// replicas per partition explicitly. With `validate_only` nothing is written.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignments: Option<Vec<Vec<i32>>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Uuid, ApiError> {
        validate_topic_name(name)?;
        if name.starts_with("__") {
            return Err(ApiError::new(
                ResponseError::InvalidTopicException,
                format!(
                    "topic names starting with \"__\" are reserved for internal topics ({name:?})"
                ),
            ));
        }
        let partitions = match (&assignments, partitions) {
            (Some(a), -1) => a.len() as i32,
            (_, -1) => self.config.num_partitions,
            (_, p) => p,
        };
        if partitions <= 0 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("partition count must be positive, not {partitions}"),
            ));
        }
        if partitions > 100_000 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("{partitions} partitions is more than this broker allows (100000)"),
            ));
        }
        let replication_factor = if replication_factor == -1 {
            self.default_replication_factor()
        } else {
            replication_factor
        };
        if replication_factor < 1 {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                format!("replication factor must be at least 1, not {replication_factor}"),
            ));
        }
        let log_config = self
            .config
            .topic_log_config(&configs)
            .map_err(|e| ApiError::new(ResponseError::InvalidConfig, e.to_string()))?;
        if i64::from(log_config.min_insync_replicas) > i64::from(replication_factor) {
            tracing::debug!(
                topic = name,
                "min.insync.replicas is above the replication factor: acks=all produces will fail"
            );
        }
        self.check_partition_limit(partitions as u64)
            .inspect_err(|e| tracing::info!(topic = name, reason = %e.message, "topic refused"))?;
        let id = Uuid::new_v4();
        let reply = self
            .quorum
            .submit(ControllerRequest::CreateTopic {
                spec: TopicSpec {
                    name: name.to_string(),
                    id,
                    partitions,
                    replication_factor,
                    assignments,
                    configs,
                    internal: false,
                },
                validate_only,
            })
            .await?;
        if !validate_only {
            self.wait_published(reply.index).await;
            tracing::info!(
                topic = name,
                partitions,
                replication_factor,
                "topic created"
            );
        }
        Ok(id)
    }

    /// `default.replication.factor` (Kafka's default, 1, keeps one-broker clusters working).
    fn default_replication_factor(&self) -> i16 {
        let configured: i16 = self
            .config
            .effective
            .get("default.replication.factor")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        configured.max(1)
    }

    /// Deletes a topic through the controller.
    pub async fn delete_topic(&self, name: &str) -> Result<Uuid, ApiError> {
        let id = self.image().topics.get(name).map(|t| t.id).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic {name:?} does not exist"),
            )
        })?;
        let reply = self
            .quorum
            .submit(ControllerRequest::DeleteTopic {
                name: name.to_string(),
            })
            .await?;
        self.wait_published(reply.index).await;
        tracing::info!(topic = name, "topic deleted");
        Ok(id)
    }

    /// Grows a topic to `total` partitions.
    pub async fn create_partitions(
        &self,
        name: &str,
        total: i32,
        assignments: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let image = self.image();
        let topic = image.topics.get(name).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic {name:?} does not exist"),
            )
        })?;
        if topic.internal {
            return Err(ApiError::new(
                ResponseError::InvalidTopicException,
                "partitions of internal topics cannot be changed",
            ));
        }
        let current = topic.partitions.len() as i32;
        if total > 100_000 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("{total} partitions is more than this broker allows (100000)"),
            ));
        }
        if total > current {
            self.check_partition_limit((total - current) as u64)
                .inspect_err(
                    |e| tracing::info!(topic = name, reason = %e.message, "partitions refused"),
                )?;
        }
        let reply = self
            .quorum
            .submit(ControllerRequest::CreatePartitions {
                name: name.to_string(),
                total,
                assignments,
                validate_only,
            })
            .await?;
        if !validate_only {
            self.wait_published(reply.index).await;
        }
        Ok(())
    }

    /// Refuses `adding` partitions when they would pass `fjord.max.partitions` (internal
    /// topics are not counted).
    fn check_partition_limit(&self, adding: u64) -> Result<(), ApiError> {
        let Some(limit) = self.config.max_partitions else {
            return Ok(());
        };
        let current: u64 = self
            .image()
            .topics
            .values()
            .filter(|t| !t.internal)
            .map(|t| t.partitions.len() as u64)
            .sum();
        if current + adding > limit {
            return Err(crate::quota::partition_limit_error(current, adding, limit));
        }
        Ok(())
    }

    /// Replaces a topic's config overrides (validated first).
    pub async fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        if !self.image().topics.contains_key(name) {
            return Err(ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic {name:?} does not exist"),
            ));
        }
        self.config
            .topic_log_config(&configs)
            .map_err(|e| ApiError::new(ResponseError::InvalidConfig, e.to_string()))?;
        if validate_only {
            return Ok(());
        }
        let reply = self
            .quorum
            .submit(ControllerRequest::SetTopicConfigs {
                name: name.to_string(),
                configs,
            })
            .await?;
        self.wait_published(reply.index).await;
        Ok(())
    }

    /// Hands out a new producer id from a block the controller allocated to this broker.
    pub async fn next_producer_id(&self) -> Result<i64, ApiError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let reply = self
                .quorum
                .submit(ControllerRequest::AllocateProducerIds {
                    node_id: self.node_id,
                })
                .await?;
            let ControllerResult::ProducerIds { first, size } = reply.result else {
                return Err(ApiError::new(
                    ResponseError::UnknownServerError,
                    "the controller answered AllocateProducerIds oddly",
                ));
            };
            *ids = (first, first + size);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Waits until the local state reflects metadata log index `index`.
    pub(crate) async fn wait_published(&self, index: u64) {
        let mut rx = self.published.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|p| *p >= index)).await;
    }

    /// Runs retention on every partition, fsyncs partitions due by `flush.ms`, and proposes
    /// ISR shrinks for followers that stopped keeping up.
    pub fn run_housekeeping(self: &Arc<Self>, now_ms: i64, retention: bool) {
        let lag = self.config.cluster.replica_lag_time_max_ms;
        for topic in self.topics() {
            let log_config = topic.log_config();
            for p in topic.partitions() {
                if let Some(change) = p.isr_shrink(now_ms, lag) {
                    tracing::info!(topic = %topic.name, partition = p.index, isr = ?change.new_isr, "followers fell behind: shrinking the ISR");
                    self.propose_isr(p.clone(), change);
                }
                let mut state = p.lock();
                if retention {
                    match state.log.enforce_retention(now_ms) {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(topic = %topic.name, partition = p.index, segments = n, "retention deleted segments")
                        }
                        Err(e) => {
                            tracing::warn!(topic = %topic.name, partition = p.index, error = %e, "retention failed")
                        }
                    }
                }
                if let Some(flush_ms) = log_config.flush_ms
                    && now_ms - state.last_flush_ms >= flush_ms
                {
                    if let Err(e) = state.log.flush() {
                        tracing::warn!(topic = %topic.name, partition = p.index, error = %e, "flush failed");
                    }
                    state.last_flush_ms = now_ms;
                }
            }
        }
    }

    /// One pass of the log cleaner: compacts every partition whose policy includes compact
    /// and is due (see [`crate::log::PartitionLog::clean_plan`]), one at a time, holding the
    /// partition's lock only to plan and to swap the cleaned segments in. Returns how many
    /// partitions it cleaned. Stops early when `cancel` is set (shutdown).
    pub fn run_cleaner(&self, cancel: &Arc<std::sync::atomic::AtomicBool>) -> usize {
        let config = self.config.cleaner;
        let mut cleaned = 0;
        for topic in self.topics() {
            if !topic.log_config().cleanup_policy.compacts() {
                continue;
            }
            for p in topic.partitions() {
                if cancel.load(Ordering::Relaxed) {
                    return cleaned;
                }
                let now_ms = crate::now_ms();
                let plan = {
                    let state = p.lock();
                    state.log.clean_plan_with(
                        now_ms,
                        state.last_stable_offset(),
                        state.producers.aborted(),
                    )
                };
                let plan = match plan {
                    Ok(Some(plan)) => plan,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(topic = %topic.name, partition = p.index, error = %e, "could not plan a log cleaning");
                        continue;
                    }
                };
                let started = std::time::Instant::now();
                let mut throttle =
                    crate::log::Throttle::new(config.io_max_bytes_per_second, cancel.clone());
                let result =
                    crate::log::clean(&plan, now_ms, config.dedupe_buffer_size, &mut throttle)
                        .and_then(|done| p.lock().log.install_cleaned(done));
                match result {
                    Ok(Some(stats)) => {
                        cleaned += 1;
                        self.metrics.log_cleaned(&stats, started.elapsed());
                        tracing::info!(
                            topic = %topic.name,
                            partition = p.index,
                            dirty_ratio = format!("{:.2}", plan.dirty_ratio),
                            bytes_before = stats.size_before,
                            bytes_after = stats.size_after,
                            records_read = stats.records_read,
                            records_kept = stats.records_kept,
                            tombstones_dropped = stats.tombstones_dropped,
                            segments_before = stats.segments_before,
                            segments_after = stats.segments_after,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "log cleaned"
                        );
                    }
                    Ok(None) => {}
                    Err(e) if cancel.load(Ordering::Relaxed) => {
                        tracing::debug!(topic = %topic.name, partition = p.index, error = %e, "log cleaning stopped for shutdown");
                        return cleaned;
                    }
                    Err(e) => {
                        tracing::warn!(topic = %topic.name, partition = p.index, error = %e, "log cleaning failed; the partition is left as it was");
                    }
                }
            }
        }
        cleaned
    }

    /// Sends an ISR change to the controller in the background; a refusal clears it (the
    /// metadata the refusal was based on arrives through the image).
    pub(crate) fn propose_isr(
        self: &Arc<Self>,
        partition: Arc<Partition>,
        change: crate::cluster::controller::IsrChange,
    ) {
        let broker = self.clone();
        tokio::spawn(async move {
            let topic = change.topic.clone();
            let index = change.partition;
            match broker
                .quorum
                .submit(ControllerRequest::AlterPartition(change))
                .await
            {
                Ok(reply) => broker.wait_published(reply.index).await,
                Err(e) => {
                    tracing::info!(%topic, partition = index, error = %e.message, "ISR change refused");
                    partition.clear_pending_isr();
                }
            }
        });
    }

    /// Flushes every partition log (graceful shutdown).
    pub fn flush_all(&self) -> Result<()> {
        for topic in self.topics() {
            for p in topic.partitions() {
                p.lock().log.flush()?;
            }
        }
        Ok(())
    }

    /// A controlled shutdown: leadership moves to other in-sync replicas (waiting at most
    /// `fjord.controlled.shutdown.timeout.ms`), then the fetchers, the background tasks and
    /// the quorum stop, logs are flushed and the data directory is unlocked (a new broker may
    /// open it in this process).
    pub async fn stop(&self) {
        if self.config.cluster.controlled_shutdown && self.lifecycle() == Lifecycle::Running {
            self.shutdown_requested.send_replace(true);
            let mut rx = self.lifecycle.subscribe();
            let timeout = Duration::from_millis(self.config.cluster.controlled_shutdown_timeout_ms);
            let moved =
                tokio::time::timeout(timeout, rx.wait_for(|s| *s == Lifecycle::Stopped)).await;
            if moved.is_err() {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "controlled shutdown timed out; stopping with leaderships in place"
                );
            }
        }
        self.lifecycle.send_replace(Lifecycle::Stopped);
        self.fetchers.stop_all();
        self.quorum.shutdown().await;
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for mut task in tasks {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        if let Err(e) = self.flush_all() {
            tracing::warn!(error = %e, "flush at stop failed");
        }
        self.dir_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// A partition's directory.
pub(crate) fn partition_dir(data_dir: &std::path::Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

/// Removes partition directories whose deletion a crash interrupted (`*-delete`).
fn remove_retired_dirs(data_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir()
            && path.to_string_lossy().ends_with("-delete")
            && let Err(e) = std::fs::remove_dir_all(&path)
        {
            tracing::warn!(dir = %path.display(), error = %e, "failed to remove deleted partition");
        }
    }
}

/// Renames a partition directory out of the way and removes it in the background.
pub(crate) fn retire_dir(dir: &std::path::Path) {
    let retired = dir.with_extension(format!("{}-delete", Uuid::new_v4().simple()));
    match std::fs::rename(dir, &retired) {
        Ok(()) => {
            std::thread::spawn(move || {
                if let Err(e) = std::fs::remove_dir_all(&retired) {
                    tracing::warn!(dir = %retired.display(), error = %e, "failed to remove deleted partition");
                }
            });
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "failed to retire partition directory")
        }
    }
}

#[cfg(test)]
mod tests;
