//! The state every handler shares: topics and their partition logs, the group coordinator,
//! producer ids, fetch sessions, and the notification that wakes long-polling fetches.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::cluster::{MetadataStore, PRODUCER_ID_BLOCK, TopicRecord};
use crate::config::{BrokerConfig, ListenerConfig, LogConfig};
use crate::error::{Error, Result};
use crate::fetch_session::FetchSessionCache;
use crate::group::GroupCoordinator;
use crate::log::batch::{self, BatchHeader};
use crate::log::{AppendInfo, PartitionLog};
use crate::producer::{ProducerStateTable, SequenceCheck};

/// Name of the internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Largest topic name Kafka accepts.
const MAX_TOPIC_NAME: usize = 249;

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

/// Mutable state of one partition, behind its lock.
#[derive(Debug)]
pub struct PartitionState {
    /// The partition's log.
    pub log: PartitionLog,
    /// Idempotent producer sequences.
    pub producers: ProducerStateTable,
    /// When the log was last fsynced by the `flush.ms` policy.
    pub last_flush_ms: i64,
}

/// One partition of a topic.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub index: i32,
    state: Mutex<PartitionState>,
}

/// The result of appending one Produce request's records to a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceOutcome {
    /// Offset of the first record appended (or of the original batch for a duplicate).
    pub base_offset: i64,
    /// LogAppendTime stamp or -1.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Records appended: 0 for a duplicate of an idempotent retry (metering counts it once).
    pub appended_records: i64,
}

impl Partition {
    /// Locks the partition state. A poisoned lock (a panic while held) is taken over: the log
    /// itself never holds half-applied state between calls.
    pub fn lock(&self) -> MutexGuard<'_, PartitionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends the records of a Produce request: validates every batch (CRC-32C, magic,
    /// sizes), checks idempotent sequences, appends, and records producer state.
    pub fn append_records(
        &self,
        records: &[u8],
        max_batch_bytes: usize,
        now_ms: i64,
    ) -> Result<ProduceOutcome, ApiError> {
        let batches = batch::validate_batches(records, max_batch_bytes)?;
        let mut state = self.lock();
        // Idempotent producers send exactly one batch per partition; duplicates of it are
        // answered with the original offset.
        if let [(header, _)] = batches.as_slice() {
            match state.producers.check(header) {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate { base_offset } => {
                    return Ok(ProduceOutcome {
                        base_offset,
                        log_append_time: -1,
                        log_start_offset: state.log.log_start_offset(),
                        appended_records: 0,
                    });
                }
                SequenceCheck::OutOfOrder { expected, found } => {
                    return Err(ApiError::new(
                        ResponseError::OutOfOrderSequenceNumber,
                        format!(
                            "producer {} expected sequence {expected}, got {found}",
                            header.producer_id
                        ),
                    ));
                }
                SequenceCheck::Fenced { current } => {
                    return Err(ApiError::new(
                        ResponseError::InvalidProducerEpoch,
                        format!(
                            "producer {} epoch {} is older than the current epoch {current}",
                            header.producer_id, header.producer_epoch
                        ),
                    ));
                }
            }
        } else if batches.iter().any(|(h, _)| h.has_producer_id()) {
            return Err(ApiError::new(
                ResponseError::InvalidRecord,
                "an idempotent producer must send exactly one batch per partition",
            ));
        }
        let info: AppendInfo = state.log.append(records, 0, now_ms)?;
        let mut offset = info.base_offset;
        for (header, _) in &batches {
            let stamped = BatchHeader {
                base_offset: offset,
                ..*header
            };
            state.producers.record(&stamped);
            offset = stamped.last_offset() + 1;
        }
        Ok(ProduceOutcome {
            base_offset: info.base_offset,
            log_append_time: info.log_append_time,
            log_start_offset: info.log_start_offset,
            appended_records: info.last_offset - info.base_offset + 1,
        })
    }

    /// Stored bytes from `offset` (see [`PartitionLog::read`]) with the high watermark and
    /// log start offset read under the same lock.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<(Bytes, i64, i64)> {
        let state = self.lock();
        let hw = state.log.log_end_offset();
        let start = state.log.log_start_offset();
        let bytes = state.log.read(offset, max_bytes, min_one)?;
        Ok((bytes, hw, start))
    }

    /// High watermark (on a single node, the log end offset) and log start offset.
    pub fn offsets(&self) -> (i64, i64) {
        let state = self.lock();
        (state.log.log_end_offset(), state.log.log_start_offset())
    }
}

/// A topic and its partitions.
#[derive(Debug)]
pub struct Topic {
    /// Name.
    pub name: String,
    /// Stable id.
    pub id: Uuid,
    /// Whether it is internal (`__consumer_offsets`).
    pub internal: bool,
    partitions: RwLock<Vec<Arc<Partition>>>,
    settings: RwLock<TopicSettings>,
}

/// A topic's config overrides and the effective log config derived from them once per change
/// (Produce reads `max.message.bytes` on every request; it must not re-parse strings).
#[derive(Debug, Clone)]
struct TopicSettings {
    overrides: BTreeMap<String, String>,
    log: LogConfig,
}

impl Topic {
    /// All partitions, in index order.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One partition.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        let parts = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        usize::try_from(index)
            .ok()
            .and_then(|i| parts.get(i).cloned())
    }

    /// Partition count.
    pub fn partition_count(&self) -> i32 {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len() as i32
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

/// The broker: everything a request handler needs.
#[derive(Debug)]
pub struct Broker {
    /// Validated configuration.
    pub config: BrokerConfig,
    /// Cluster id (persisted).
    pub cluster_id: String,
    /// This node's id.
    pub node_id: i32,
    /// Classic consumer-group coordinator.
    pub groups: GroupCoordinator,
    /// KIP-227 incremental fetch sessions.
    pub fetch_sessions: FetchSessionCache,
    /// Woken on every append so long-polling fetches return as soon as data arrives.
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
    advertised: RwLock<Vec<ListenerConfig>>,
    /// The ACLs of the metadata image, shared read-only with every authorization check.
    pub(crate) acls: RwLock<Arc<Vec<crate::security::acl::AclBinding>>>,
    metadata: Mutex<MetadataStore>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    producer_ids: Mutex<(i64, i64)>,
    _dir_lock: std::fs::File,
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

impl Broker {
    /// Opens the data directory (creating it and the metadata on first start), every
    /// partition log, and the internal offsets topic, and loads the group coordinator.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>> {
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
        let mut store = MetadataStore::open(&dir, config.node_id, config.cluster_id.as_deref())?;
        if !store
            .image()
            .topics
            .contains_key(crate::metering::USAGE_TOPIC)
        {
            let retention = config.usage_retention_ms.to_string();
            store.update(|i| {
                let mut configs = BTreeMap::new();
                configs.insert("retention.ms".to_string(), retention);
                i.topics.insert(
                    crate::metering::USAGE_TOPIC.to_string(),
                    TopicRecord {
                        id: Uuid::new_v4(),
                        partitions: 1,
                        configs,
                        internal: true,
                    },
                );
            })?;
        }
        if !store.image().topics.contains_key(OFFSETS_TOPIC) {
            let partitions = config.offsets_topic_num_partitions;
            store.update(|i| {
                let mut configs = BTreeMap::new();
                configs.insert("cleanup.policy".to_string(), "compact".to_string());
                i.topics.insert(
                    OFFSETS_TOPIC.to_string(),
                    TopicRecord {
                        id: Uuid::new_v4(),
                        partitions,
                        configs,
                        internal: true,
                    },
                );
            })?;
        }
        let image = store.image().clone();
        let mut topics = BTreeMap::new();
        for (name, record) in &image.topics {
            let log_config = config.topic_log_config(&record.configs)?;
            let mut partitions = Vec::new();
            for p in 0..record.partitions {
                partitions.push(Arc::new(open_partition(&dir, name, p, log_config.clone())?));
            }
            topics.insert(
                name.clone(),
                Arc::new(Topic {
                    name: name.clone(),
                    id: record.id,
                    internal: record.internal,
                    partitions: RwLock::new(partitions),
                    settings: RwLock::new(TopicSettings {
                        overrides: record.configs.clone(),
                        log: log_config.clone(),
                    }),
                }),
            );
        }
        let offsets_partitions = topics
            .get(OFFSETS_TOPIC)
            .map(|t| t.partitions())
            .unwrap_or_default();
        let groups = GroupCoordinator::open(&config, offsets_partitions)?;
        let reserved = image.producer_id_reserved;
        let tls = match &config.security.keystore {
            Some(path) => Some(Arc::new(crate::security::tls::ReloadingCert::open(path)?)),
            None => None,
        };
        crate::security::credentials::apply_bootstrap_users(&mut store, &config.security)?;
        let quotas =
            crate::quota::ClientQuotas::new(config.quota_window, &store.image().client_quotas);
        tracing::info!(cluster_id = %image.cluster_id, node_id = config.node_id, topics = topics.len(), dir = %dir.display(), "broker opened");
        Ok(Arc::new(Broker {
            cluster_id: image.cluster_id.clone(),
            node_id: config.node_id,
            advertised: RwLock::new(config.advertised_listeners.clone()),
            acls: RwLock::new(Arc::new(store.image().acls.clone())),
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
            config,
            groups,
            fetch_sessions: FetchSessionCache::default(),
            data_arrived: Notify::new(),
            metadata: Mutex::new(store),
            topics: RwLock::new(topics),
            producer_ids: Mutex::new((reserved, reserved)),
            _dir_lock: dir_lock,
        }))
    }

    /// Addresses clients should use (set from the bound listeners when not configured).
    pub fn advertised_listeners(&self) -> Vec<ListenerConfig> {
        self.advertised
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records the actually bound listener addresses when none were configured to advertise.
    pub fn set_bound_listeners(&self, bound: Vec<ListenerConfig>) {
        let mut adv = self.advertised.write().unwrap_or_else(|p| p.into_inner());
        if adv.is_empty() {
            *adv = bound;
        }
    }

    /// The host and port this node advertises on `listener` (a client is always given
    /// addresses of the listener it connected through), else on its first listener.
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

    /// A partition by topic name and index.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.topic(topic)?.partition(index)
    }

    /// Creates a topic. `partitions` of -1 means `num.partitions`. With `validate_only`
    /// nothing is written.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, ApiError> {
        validate_topic_name(name)?;
        if name.starts_with("__") {
            return Err(ApiError::new(
                ResponseError::InvalidTopicException,
                format!(
                    "topic names starting with \"__\" are reserved for internal topics ({name:?})"
                ),
            ));
        }
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
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
        if replication_factor != -1 && replication_factor != 1 {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "replication factor {replication_factor} is larger than the 1 available broker"
                ),
            ));
        }
        let log_config = self
            .config
            .topic_log_config(&configs)
            .map_err(|e| ApiError::new(ResponseError::InvalidConfig, e.to_string()))?;
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if topics.contains_key(name) {
            return Err(ApiError::new(
                ResponseError::TopicAlreadyExists,
                format!("topic {name:?} already exists"),
            ));
        }
        self.check_partition_limit(&topics, partitions as u64)
            .inspect_err(|e| tracing::info!(topic = name, reason = %e.message, "topic refused"))?;
        let id = Uuid::new_v4();
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id,
            internal: false,
            partitions: RwLock::new(Vec::new()),
            settings: RwLock::new(TopicSettings {
                overrides: configs.clone(),
                log: log_config.clone(),
            }),
        });
        if validate_only {
            return Ok(topic);
        }
        let mut parts = Vec::new();
        for p in 0..partitions {
            let dir = partition_dir(&self.config.data_dir, name, p);
            // A leftover directory from a deleted topic of the same name must not resurface.
            if dir.exists() {
                retire_dir(&dir);
            }
            parts.push(Arc::new(open_partition(
                &self.config.data_dir,
                name,
                p,
                log_config.clone(),
            )?));
        }
        *topic.partitions.write().unwrap_or_else(|p| p.into_inner()) = parts;
        self.lock_metadata().update(|i| {
            i.topics.insert(
                name.to_string(),
                TopicRecord {
                    id,
                    partitions,
                    configs,
                    internal: false,
                },
            );
        })?;
        topics.insert(name.to_string(), topic.clone());
        tracing::info!(topic = name, partitions, "topic created");
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, ApiError> {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let Some(topic) = topics.get(name).cloned() else {
            return Err(ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic {name:?} does not exist"),
            ));
        };
        if topic.internal {
            return Err(ApiError::new(
                ResponseError::InvalidTopicException,
                format!("internal topic {name:?} cannot be deleted"),
            ));
        }
        self.lock_metadata().update(|i| {
            i.topics.remove(name);
        })?;
        topics.remove(name);
        drop(topics);
        for p in topic.partitions() {
            let dir = p.lock().log.dir().to_path_buf();
            retire_dir(&dir);
        }
        self.fetch_sessions.forget_topic(name);
        tracing::info!(topic = name, "topic deleted");
        Ok(topic.id)
    }

    /// Grows a topic to `total` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let topic = self.topic(name).ok_or_else(|| {
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
        let current = topic.partition_count();
        if total <= current {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!(
                    "topic {name:?} has {current} partitions; the new count must be larger, not {total}"
                ),
            ));
        }
        if total > 100_000 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("{total} partitions is more than this broker allows (100000)"),
            ));
        }
        // Held to the end, so that concurrent topic changes cannot pass the limit together.
        let topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        self.check_partition_limit(&topics, (total - current) as u64)
            .inspect_err(
                |e| tracing::info!(topic = name, reason = %e.message, "partitions refused"),
            )?;
        if validate_only {
            return Ok(());
        }
        let log_config = topic.log_config();
        let mut parts = topic.partitions.write().unwrap_or_else(|p| p.into_inner());
        for p in parts.len() as i32..total {
            parts.push(Arc::new(open_partition(
                &self.config.data_dir,
                name,
                p,
                log_config.clone(),
            )?));
        }
        self.lock_metadata().update(|i| {
            if let Some(t) = i.topics.get_mut(name) {
                t.partitions = total;
            }
        })?;
        drop(topics);
        Ok(())
    }

    /// Refuses `adding` partitions when they would pass `fjord.max.partitions` (internal
    /// topics are not counted). The caller holds the topics lock across check and change.
    fn check_partition_limit(
        &self,
        topics: &BTreeMap<String, Arc<Topic>>,
        adding: u64,
    ) -> Result<(), ApiError> {
        let Some(limit) = self.config.max_partitions else {
            return Ok(());
        };
        let current: u64 = topics
            .values()
            .filter(|t| !t.internal)
            .map(|t| t.partition_count() as u64)
            .sum();
        if current + adding > limit {
            return Err(crate::quota::partition_limit_error(current, adding, limit));
        }
        Ok(())
    }

    /// Replaces a topic's config overrides (validated first) and applies them to its logs.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let topic = self.topic(name).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic {name:?} does not exist"),
            )
        })?;
        let log_config = self
            .config
            .topic_log_config(&configs)
            .map_err(|e| ApiError::new(ResponseError::InvalidConfig, e.to_string()))?;
        if validate_only {
            return Ok(());
        }
        self.lock_metadata().update(|i| {
            if let Some(t) = i.topics.get_mut(name) {
                t.configs = configs.clone();
            }
        })?;
        *topic.settings.write().unwrap_or_else(|p| p.into_inner()) = TopicSettings {
            overrides: configs,
            log: log_config.clone(),
        };
        for p in topic.partitions() {
            p.lock().log.set_config(log_config.clone());
        }
        Ok(())
    }

    /// Hands out a new producer id, reserving blocks in the metadata file.
    pub fn next_producer_id(&self) -> Result<i64, ApiError> {
        let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.0 >= ids.1 {
            let new_reserved = ids.1 + PRODUCER_ID_BLOCK;
            self.lock_metadata()
                .update(|i| i.producer_id_reserved = new_reserved)?;
            ids.1 = new_reserved;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Runs retention on every partition and fsyncs partitions due by `flush.ms`.
    pub fn run_housekeeping(&self, now_ms: i64, retention: bool) {
        for topic in self.topics() {
            let log_config = topic.log_config();
            for p in topic.partitions() {
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

    /// Flushes every partition log (graceful shutdown).
    pub fn flush_all(&self) -> Result<()> {
        for topic in self.topics() {
            for p in topic.partitions() {
                p.lock().log.flush()?;
            }
        }
        Ok(())
    }

    pub(crate) fn lock_metadata(&self) -> MutexGuard<'_, MetadataStore> {
        self.metadata.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn partition_dir(data_dir: &std::path::Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

fn open_partition(
    data_dir: &std::path::Path,
    topic: &str,
    index: i32,
    config: LogConfig,
) -> Result<Partition> {
    let dir = partition_dir(data_dir, topic, index);
    let log = PartitionLog::open(&dir, config)?;
    let headers = log.batch_headers(log.log_start_offset())?;
    let producers = ProducerStateTable::rebuild(headers.iter());
    Ok(Partition {
        topic: topic.to_string(),
        index,
        state: Mutex::new(PartitionState {
            log,
            producers,
            last_flush_ms: crate::now_ms(),
        }),
    })
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
fn retire_dir(dir: &std::path::Path) {
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
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;

    fn open(dir: &std::path::Path) -> Arc<Broker> {
        let mut m = BTreeMap::new();
        m.insert("log.dirs".to_string(), dir.display().to_string());
        Broker::open(BrokerConfig::from_map(m).unwrap()).unwrap()
    }

    fn one_record() -> Vec<u8> {
        let r = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: 0,
            timestamp: 1,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            [&r],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.to_vec()
    }

    #[test]
    fn a_recreated_topic_starts_empty_and_topics_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path());
        b.create_topic("t", 2, 1, BTreeMap::new(), false).unwrap();
        let p = b.partition("t", 1).unwrap();
        p.append_records(&one_record(), 1 << 20, 1).unwrap();
        assert_eq!(p.offsets().0, 1);
        let old_id = b.delete_topic("t").unwrap();
        let t = b.create_topic("t", 2, 1, BTreeMap::new(), false).unwrap();
        assert_ne!(t.id, old_id);
        assert_eq!(
            b.partition("t", 1).unwrap().offsets().0,
            0,
            "no data of the deleted topic resurfaces"
        );
        let id = t.id;
        drop((p, t, b));
        let b = open(dir.path());
        assert_eq!(b.topic("t").unwrap().id, id);
        assert_eq!(b.topic("t").unwrap().partition_count(), 2);
        assert!(b.topic(OFFSETS_TOPIC).unwrap().internal);
    }

    #[test]
    fn the_data_dir_is_locked_and_producer_ids_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path());
        let mut m = BTreeMap::new();
        m.insert("log.dirs".to_string(), dir.path().display().to_string());
        let second = Broker::open(BrokerConfig::from_map(m).unwrap());
        assert!(matches!(second, Err(Error::InvalidConfig(ref m)) if m.contains("in use")));
        let first = b.next_producer_id().unwrap();
        drop(b);
        let b = open(dir.path());
        assert!(b.next_producer_id().unwrap() > first);
    }

    #[test]
    fn partitions_beyond_the_cluster_ceiling_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = BTreeMap::new();
        m.insert("log.dirs".to_string(), dir.path().display().to_string());
        m.insert("fjord.max.partitions".to_string(), "5".to_string());
        let b = Broker::open(BrokerConfig::from_map(m).unwrap()).unwrap();
        b.create_topic("a", 3, 1, BTreeMap::new(), false).unwrap();
        let e = b
            .create_topic("b", 3, 1, BTreeMap::new(), false)
            .unwrap_err();
        assert_eq!(e.code, ResponseError::PolicyViolation);
        assert!(e.message.contains("fjord.max.partitions"), "{}", e.message);
        assert!(b.topic("b").is_none());
        b.create_topic("b", 2, 1, BTreeMap::new(), false).unwrap();
        let e = b.create_partitions("a", 4, false).unwrap_err();
        assert_eq!(e.code, ResponseError::PolicyViolation);
        assert_eq!(b.topic("a").unwrap().partition_count(), 3);
        b.delete_topic("b").unwrap();
        b.create_partitions("a", 5, false).unwrap();
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert_eq!(
                validate_topic_name(bad).unwrap_err().code,
                ResponseError::InvalidTopicException,
                "{bad:?}"
            );
        }
    }
}
