//! Broker configuration: Kafka-style `server.properties` keys.
//!
//! Every key in [`BROKER_KEYS`] can come from (lowest precedence first) its default, a
//! properties file (`--config FILE`), an environment variable (`FJORD_` + the key upper-cased
//! with dots as underscores, e.g. `FJORD_LOG_RETENTION_HOURS`), or `--set key=value`; the
//! dedicated flags (`--data-dir`, `--listeners`, …) win over all of them. The merged map is
//! parsed once into [`BrokerConfig`]; nothing deeper in the broker reads strings.
//!
//! Topic-level keys ([`TOPIC_KEYS`]) default to their broker-level counterparts and can be
//! overridden per topic with CreateTopics configs, AlterConfigs or IncrementalAlterConfigs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::error::{Error, Result};
use crate::security::{SecurityConfig, SecurityProtocol};

/// A broker-level configuration key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// The Kafka-style key, e.g. `log.retention.hours`.
    pub name: &'static str,
    /// The default value, as text (empty: unset).
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

const fn key(name: &'static str, default: &'static str, doc: &'static str) -> ConfigKey {
    ConfigKey { name, default, doc }
}

/// Every broker key Fjord understands, with its default. `--help` prints this table.
pub const BROKER_KEYS: &[ConfigKey] = &[
    key(
        "node.id",
        "1",
        "Id of this broker (also accepted as broker.id).",
    ),
    key(
        "log.dirs",
        "./fjord-data",
        "Directory holding partition logs and metadata (also log.dir).",
    ),
    key(
        "listeners",
        "PLAINTEXT://127.0.0.1:9092",
        "Comma-separated NAME://HOST:PORT listeners; port 0 picks a free port.",
    ),
    key(
        "advertised.listeners",
        "",
        "Addresses given to clients in Metadata; defaults to the bound listeners.",
    ),
    key(
        "listener.security.protocol.map",
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "NAME:PROTOCOL pairs giving each listener name its security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).",
    ),
    key(
        "ssl.keystore.type",
        "PEM",
        "Keystore format; only PEM is supported.",
    ),
    key(
        "ssl.keystore.location",
        "",
        "PEM file with the private key and certificate chain of SSL and SASL_SSL listeners; re-read when it changes.",
    ),
    key(
        "sasl.enabled.mechanisms",
        "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
        "SASL mechanisms offered on SASL listeners. PLAIN checks passwords against the SCRAM credentials.",
    ),
    key(
        "super.users",
        "",
        "Principals allowed every operation, e.g. User:admin;User:ops.",
    ),
    key(
        "fjord.bootstrap.users",
        "",
        "name:password,... users whose SCRAM-SHA-256/512 credentials are created or reset at start (the first admin). Sensitive.",
    ),
    key(
        "connection.failed.authentication.delay.ms",
        "100",
        "Delay before answering a failed authentication, to slow down password guessing.",
    ),
    key(
        "ssl.client.auth",
        "none",
        "Client certificates on TLS listeners: none, requested (optional) or required. On SSL listeners the certificate's subject is the principal.",
    ),
    key(
        "ssl.truststore.type",
        "PEM",
        "Format of ssl.truststore.location; only PEM.",
    ),
    key(
        "ssl.truststore.location",
        "",
        "PEM file of the CA certificates that client certificates must chain to (needed when ssl.client.auth is not none).",
    ),
    key(
        "ssl.principal.mapping.rules",
        "DEFAULT",
        "How a client certificate's subject (RFC 2253, e.g. CN=alice,O=acme) becomes the principal name: RULE:pattern/replacement/[LU],...,DEFAULT as in Kafka.",
    ),
    key(
        "sasl.oauthbearer.jwks.endpoint.url",
        "",
        "Where OAUTHBEARER's signing keys are: a JWKS file (file:/path or /path) or an http:// URL (e.g. the control plane's /.well-known/jwks.json). Needed when sasl.enabled.mechanisms has OAUTHBEARER.",
    ),
    key(
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        "3600000",
        "How often the JWKS is re-read (also when a token names an unknown key, at most every 10 s).",
    ),
    key(
        "sasl.oauthbearer.expected.audience",
        "",
        "Comma-separated accepted aud claims; empty: aud is not checked.",
    ),
    key(
        "sasl.oauthbearer.expected.issuer",
        "",
        "Required iss claim; empty: iss is not checked.",
    ),
    key(
        "sasl.oauthbearer.sub.claim.name",
        "sub",
        "The JWT claim that names the principal.",
    ),
    key(
        "sasl.oauthbearer.clock.skew.seconds",
        "30",
        "Clock difference allowed when checking exp and nbf.",
    ),
    key(
        "connections.max.reauth.ms",
        "0",
        "When positive, SASL sessions end after this long unless the client re-authenticates (KIP-368); OAUTHBEARER sessions always end at the token's expiry.",
    ),
    key(
        "fjord.usage.interval.ms",
        "60000",
        "How often usage records (bytes and records in and out per tenant, principal and topic; bytes stored per topic) are appended to the internal topic __fjord_usage.",
    ),
    key(
        "fjord.usage.retention.ms",
        "604800000",
        "retention.ms of __fjord_usage when it is created (7 days): how long a collector may fall behind.",
    ),
    key(
        "authorizer.class.name",
        "",
        "Empty: no authorization (every principal may do everything). Set to fjord, or to Kafka's org.apache.kafka.metadata.authorizer.StandardAuthorizer or kafka.security.authorizer.AclAuthorizer, to enforce ACLs (CreateAcls/DescribeAcls/DeleteAcls).",
    ),
    key(
        "allow.everyone.if.no.acl.found",
        "false",
        "With the authorizer on: allow an operation on a resource that has no ACL at all (Kafka's escape hatch; keep false).",
    ),
    key(
        "fjord.tenant.isolation",
        "false",
        "Principals named <tenant>.<user> may only see and touch topics, groups and transactional ids named <tenant>.*, whatever the ACLs say.",
    ),
    key(
        "cluster.id",
        "",
        "Cluster id; generated and persisted on first start when empty.",
    ),
    key(
        "num.partitions",
        "1",
        "Partitions of an auto-created topic and of CreateTopics with -1.",
    ),
    key(
        "default.replication.factor",
        "1",
        "Replication factor of auto-created topics (1 on a single node).",
    ),
    key(
        "auto.create.topics.enable",
        "true",
        "Create a topic when a client asks Metadata or Produce for an unknown one.",
    ),
    key(
        "message.max.bytes",
        "1048588",
        "Largest record batch accepted (topic override: max.message.bytes).",
    ),
    key(
        "socket.request.max.bytes",
        "104857600",
        "Largest request frame; larger frames are refused and the connection closed.",
    ),
    key(
        "max.connections",
        "",
        "Client connections this broker serves at once; a connection beyond it is closed as soon as it is accepted, with the reason logged. Empty or 0: unlimited.",
    ),
    key(
        "fjord.max.partitions",
        "",
        "Ceiling on the partitions of all topics together (internal topics not counted); CreateTopics, CreatePartitions and auto-creation beyond it fail with POLICY_VIOLATION. Empty or 0: unlimited.",
    ),
    key(
        "quota.window.num",
        "11",
        "Sampling windows kept to measure client quota rates (producer_byte_rate, consumer_byte_rate, request_percentage).",
    ),
    key(
        "quota.window.size.seconds",
        "1",
        "Length of one client quota sampling window.",
    ),
    key(
        "log.segment.bytes",
        "1073741824",
        "Roll a segment when it reaches this size (topic: segment.bytes).",
    ),
    key(
        "log.roll.hours",
        "168",
        "Roll a segment older than this (topic: segment.ms).",
    ),
    key("log.roll.ms", "", "Overrides log.roll.hours when set."),
    key(
        "log.retention.hours",
        "168",
        "Delete segments older than this (topic: retention.ms).",
    ),
    key(
        "log.retention.minutes",
        "",
        "Overrides log.retention.hours when set.",
    ),
    key(
        "log.retention.ms",
        "",
        "Overrides log.retention.minutes/hours when set; -1 keeps forever.",
    ),
    key(
        "log.retention.bytes",
        "-1",
        "Delete oldest segments while a partition is larger (topic: retention.bytes); -1 is unlimited.",
    ),
    key(
        "log.retention.check.interval.ms",
        "300000",
        "How often retention runs.",
    ),
    key(
        "log.index.interval.bytes",
        "4096",
        "Bytes between offset-index entries (topic: index.interval.bytes).",
    ),
    key(
        "log.flush.interval.messages",
        "9223372036854775807",
        "fsync a partition after this many records (topic: flush.messages).",
    ),
    key(
        "log.flush.interval.ms",
        "",
        "fsync a partition at least this often (topic: flush.ms); unset relies on the OS, as Kafka does.",
    ),
    key(
        "log.cleanup.policy",
        "delete",
        "delete, compact or compact,delete (topic: cleanup.policy).",
    ),
    key(
        "log.cleaner.enable",
        "true",
        "Run the log cleaner, which compacts topics with cleanup.policy=compact.",
    ),
    key(
        "log.cleaner.backoff.ms",
        "15000",
        "How long the cleaner sleeps when no partition needs cleaning.",
    ),
    key(
        "log.cleaner.io.max.bytes.per.second",
        "104857600",
        "Bytes per second the cleaner may read plus write; it never holds a partition's lock while copying.",
    ),
    key(
        "log.cleaner.dedupe.buffer.size",
        "134217728",
        "Memory for the key map of one cleaning; a dirty section with more keys is cleaned in parts.",
    ),
    key(
        "log.cleaner.min.cleanable.ratio",
        "0.5",
        "Clean a partition when its uncleaned bytes are at least this share of the log (topic: min.cleanable.dirty.ratio).",
    ),
    key(
        "log.cleaner.min.compaction.lag.ms",
        "0",
        "Records younger than this are never compacted away (topic: min.compaction.lag.ms).",
    ),
    key(
        "log.cleaner.max.compaction.lag.ms",
        "9223372036854775807",
        "Records older than this are cleaned whatever the dirty ratio (topic: max.compaction.lag.ms).",
    ),
    key(
        "log.cleaner.delete.retention.ms",
        "86400000",
        "Tombstones stay readable this long after they were written (topic: delete.retention.ms).",
    ),
    key(
        "log.message.timestamp.type",
        "CreateTime",
        "CreateTime or LogAppendTime (topic: message.timestamp.type).",
    ),
    key(
        "min.insync.replicas",
        "1",
        "Replicas that must acknowledge an acks=all write.",
    ),
    key(
        "group.initial.rebalance.delay.ms",
        "3000",
        "How long the first JoinGroup of an empty group waits for more members.",
    ),
    key(
        "group.min.session.timeout.ms",
        "6000",
        "Smallest session timeout a member may ask for.",
    ),
    key(
        "group.max.session.timeout.ms",
        "1800000",
        "Largest session timeout a member may ask for.",
    ),
    key(
        "group.consumer.session.timeout.ms",
        "45000",
        "Consumer protocol (KIP-848): a member that sends no ConsumerGroupHeartbeat for this long is removed from its group.",
    ),
    key(
        "group.consumer.heartbeat.interval.ms",
        "5000",
        "Consumer protocol (KIP-848): how often members are told to send ConsumerGroupHeartbeat.",
    ),
    key(
        "offsets.topic.num.partitions",
        "1",
        "Partitions of __consumer_offsets (fixed once created).",
    ),
    key(
        "transaction.state.log.num.partitions",
        "1",
        "Partitions of __transaction_state, which spreads transaction coordinators over the brokers (fixed once created).",
    ),
    key(
        "transaction.state.log.replication.factor",
        "3",
        "Replication factor of __transaction_state (lowered to the number of quorum voters in smaller clusters).",
    ),
    key(
        "transaction.max.timeout.ms",
        "900000",
        "Largest transaction.timeout.ms a transactional producer may ask for; larger ones get INVALID_TRANSACTION_TIMEOUT.",
    ),
    key(
        "transactional.id.expiration.ms",
        "604800000",
        "A transactional id with no open transaction and no request for this long is forgotten.",
    ),
    key(
        "offsets.retention.minutes",
        "10080",
        "Committed offsets of empty groups are kept this long.",
    ),
    key(
        "controller.quorum.voters",
        "",
        "The metadata quorum's voters as ID@HOST:PORT,... (the HOST:PORT of each voter's inter-broker listener); empty: this node alone. Every other broker follows the metadata log as a learner.",
    ),
    key(
        "inter.broker.listener.name",
        "",
        "The listener brokers use to reach each other (Raft, controller requests, replication); empty: the first listener.",
    ),
    key(
        "sasl.mechanism.inter.broker.protocol",
        "SCRAM-SHA-512",
        "SASL mechanism brokers authenticate to each other with when the inter-broker listener uses SASL.",
    ),
    key(
        "fjord.inter.broker.user",
        "",
        "name:password brokers authenticate to each other as (a super user); empty: the first of fjord.bootstrap.users. Sensitive.",
    ),
    key(
        "fjord.inter.broker.ssl.ca.location",
        "",
        "PEM CA file brokers trust when the inter-broker listener uses TLS; empty: ssl.truststore.location.",
    ),
    key(
        "broker.rack",
        "",
        "Rack (or zone) of this broker: replicas of a partition are spread over racks, and consumers with client.rack may fetch from the replica in theirs.",
    ),
    key(
        "broker.heartbeat.interval.ms",
        "400",
        "How often a broker tells the active controller it is alive.",
    ),
    key(
        "broker.session.timeout.ms",
        "2000",
        "A broker not heard from for this long is fenced: it leaves every ISR and leadership moves (Kafka's default is 9000; Fjord favours fast failover).",
    ),
    key(
        "replica.lag.time.max.ms",
        "30000",
        "A follower that has not caught up with its leader for this long leaves the ISR.",
    ),
    key(
        "replica.fetch.wait.max.ms",
        "500",
        "Longest wait of a follower's fetch when the leader has nothing new.",
    ),
    key(
        "replica.fetch.max.bytes",
        "1048576",
        "Bytes a follower asks for per partition and fetch.",
    ),
    key(
        "replica.fetch.response.max.bytes",
        "10485760",
        "Bytes a follower asks for per fetch.",
    ),
    key(
        "replica.fetch.backoff.ms",
        "200",
        "Pause of a follower's fetcher after an error.",
    ),
    key(
        "follower.replication.throttled.rate",
        "",
        "Bytes/s a broker may fetch for replicas being added by a reassignment (empty: unlimited).",
    ),
    key(
        "offsets.topic.replication.factor",
        "3",
        "Replication factor of __consumer_offsets and __fjord_usage (lowered to the number of quorum voters in smaller clusters).",
    ),
    key(
        "auto.leader.rebalance.enable",
        "true",
        "Move leadership back to each partition's preferred replica when it is in sync.",
    ),
    key(
        "leader.imbalance.check.interval.seconds",
        "300",
        "How often preferred leaders are restored.",
    ),
    key(
        "controlled.shutdown.enable",
        "true",
        "On SIGTERM, move leadership to other in-sync replicas before stopping.",
    ),
    key(
        "fjord.controlled.shutdown.timeout.ms",
        "30000",
        "Longest wait for leadership to move away during a controlled shutdown.",
    ),
    key(
        "fjord.http.listener",
        "",
        "HOST:PORT of the HTTP endpoint serving /metrics (Prometheus), /healthz and /readyz; unset disables it, port 0 picks a free port.",
    ),
    key(
        "fjord.autoscale.partitions",
        "false",
        "Default of the topic key of the same name: whether the operator's autoscaler may add partitions to a topic whose per-partition throughput passes its limit (the broker only stores it).",
    ),
    key(
        "fjord.bench.sink",
        "false",
        "Benchmark only: acknowledge Produce without storing anything (the machine's ceiling).",
    ),
];

/// A topic-level key and the broker key its default comes from.
#[derive(Debug, Clone, Copy)]
pub struct TopicKey {
    /// Topic config name, e.g. `retention.ms`.
    pub name: &'static str,
    /// Broker key supplying the default.
    pub broker_key: &'static str,
}

/// Topic-level keys accepted by CreateTopics and the config APIs.
pub const TOPIC_KEYS: &[TopicKey] = &[
    TopicKey {
        name: "cleanup.policy",
        broker_key: "log.cleanup.policy",
    },
    TopicKey {
        name: "retention.ms",
        broker_key: "log.retention.ms",
    },
    TopicKey {
        name: "retention.bytes",
        broker_key: "log.retention.bytes",
    },
    TopicKey {
        name: "segment.bytes",
        broker_key: "log.segment.bytes",
    },
    TopicKey {
        name: "segment.ms",
        broker_key: "log.roll.ms",
    },
    TopicKey {
        name: "max.message.bytes",
        broker_key: "message.max.bytes",
    },
    TopicKey {
        name: "index.interval.bytes",
        broker_key: "log.index.interval.bytes",
    },
    TopicKey {
        name: "flush.messages",
        broker_key: "log.flush.interval.messages",
    },
    TopicKey {
        name: "flush.ms",
        broker_key: "log.flush.interval.ms",
    },
    TopicKey {
        name: "message.timestamp.type",
        broker_key: "log.message.timestamp.type",
    },
    TopicKey {
        name: "min.insync.replicas",
        broker_key: "min.insync.replicas",
    },
    TopicKey {
        name: "min.cleanable.dirty.ratio",
        broker_key: "log.cleaner.min.cleanable.ratio",
    },
    TopicKey {
        name: "min.compaction.lag.ms",
        broker_key: "log.cleaner.min.compaction.lag.ms",
    },
    TopicKey {
        name: "max.compaction.lag.ms",
        broker_key: "log.cleaner.max.compaction.lag.ms",
    },
    TopicKey {
        name: "delete.retention.ms",
        broker_key: "log.cleaner.delete.retention.ms",
    },
    TopicKey {
        name: "fjord.autoscale.partitions",
        broker_key: "fjord.autoscale.partitions",
    },
];

/// Command line of `fjord-broker`.
#[derive(Debug, Parser)]
#[command(
    name = "fjord-broker",
    version,
    about = "Fjord's Kafka-compatible broker",
    long_about = "Fjord's Kafka-compatible broker. With no other set-up it starts a working \
                  single-node cluster: node id, cluster id and internal topics are created on first \
                  start. Give every broker the same controller.quorum.voters (and its own node.id) \
                  to form a replicated cluster.",
    after_long_help = long_help_keys()
)]
pub struct Cli {
    /// Directory holding partition logs and metadata (the key log.dirs).
    #[arg(long, env = "FJORD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Listeners, e.g. PLAINTEXT://127.0.0.1:9092 (the key listeners).
    #[arg(long, env = "FJORD_LISTENERS", value_name = "LISTENERS")]
    pub listeners: Option<String>,
    /// Addresses given to clients (the key advertised.listeners).
    #[arg(long, env = "FJORD_ADVERTISED_LISTENERS", value_name = "LISTENERS")]
    pub advertised_listeners: Option<String>,
    /// This broker's id (the key node.id).
    #[arg(long, env = "FJORD_NODE_ID", value_name = "ID")]
    pub node_id: Option<i32>,
    /// A Kafka-style server.properties file.
    #[arg(long, env = "FJORD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Set any key (repeatable), e.g. --set log.retention.hours=24. See the keys below.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

fn long_help_keys() -> String {
    let mut out = String::from(
        "CONFIGURATION KEYS (defaults < --config file < FJORD_<KEY> env < --set < flags):\n",
    );
    for k in BROKER_KEYS {
        let default = if k.default.is_empty() {
            "unset"
        } else {
            k.default
        };
        out.push_str(&format!(
            "  {:<36} [default: {}]\n      {}\n",
            k.name, default, k.doc
        ));
    }
    out.push_str("\nTopic-level keys (CreateTopics, AlterConfigs): ");
    out.push_str(
        &TOPIC_KEYS
            .iter()
            .map(|k| k.name)
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push('\n');
    out
}

/// Whether a record's timestamp comes from the producer or the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    CreateTime,
    /// Stamp the broker's clock on every batch.
    LogAppendTime,
}

/// What happens to old data of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// Delete old segments by time and size.
    Delete,
    /// Keep the latest record per key (the log cleaner).
    Compact,
    /// Both.
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether old segments are deleted by retention.
    pub fn deletes(self) -> bool {
        self != CleanupPolicy::Compact
    }

    /// Whether the log cleaner compacts the topic.
    pub fn compacts(self) -> bool {
        self != CleanupPolicy::Delete
    }
}

/// Effective log settings of one topic, after defaults and overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Roll a segment at this size.
    pub segment_bytes: u64,
    /// Roll a segment older than this.
    pub segment_ms: i64,
    /// Delete segments whose newest record is older than this; -1 keeps forever.
    pub retention_ms: i64,
    /// Delete oldest segments while the partition is larger than this; -1 is unlimited.
    pub retention_bytes: i64,
    /// Bytes between sparse index entries.
    pub index_interval_bytes: u32,
    /// fsync after this many records since the last flush.
    pub flush_messages: u64,
    /// fsync at least this often, when set.
    pub flush_ms: Option<i64>,
    /// Largest record batch accepted.
    pub max_message_bytes: usize,
    /// CreateTime or LogAppendTime.
    pub timestamp_type: TimestampType,
    /// delete, compact or both.
    pub cleanup_policy: CleanupPolicy,
    /// Replicas that must acknowledge acks=all.
    pub min_insync_replicas: i32,
    /// Compaction settings (topics whose policy includes compact).
    pub compaction: CompactionConfig,
}

/// The log cleaner's broker-wide settings (`log.cleaner.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanerConfig {
    /// Whether the cleaner runs at all.
    pub enable: bool,
    /// Pause between passes that found nothing to clean.
    pub backoff_ms: u64,
    /// Read plus write budget of the cleaner.
    pub io_max_bytes_per_second: u64,
    /// Memory budget of one cleaning's key map.
    pub dedupe_buffer_size: u64,
}

/// When and how the log cleaner compacts a topic's partitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionConfig {
    /// Clean when uncleaned bytes reach this share of the cleanable log (0.0–1.0).
    pub min_cleanable_dirty_ratio: f64,
    /// Segments holding records younger than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// Segments holding records older than this are cleaned whatever the ratio.
    pub max_compaction_lag_ms: i64,
    /// Tombstones are kept this long after their timestamp.
    pub delete_retention_ms: i64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
        }
    }
}

/// A listener: a name, its security protocol and an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Listener name, e.g. PLAINTEXT or CONTROL.
    pub name: String,
    /// From `listener.security.protocol.map`.
    pub security: SecurityProtocol,
    /// Host to bind or advertise.
    pub host: String,
    /// Port; 0 binds a free port.
    pub port: u16,
}

impl ListenerConfig {
    /// The socket address to bind.
    pub fn bind_addr(&self) -> Result<SocketAddr> {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        let host = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        format!("{host}:{}", self.port).parse().map_err(|_| {
            Error::InvalidConfig(format!(
                "listener {}://{}:{} is not an IP address and port",
                self.name, self.host, self.port
            ))
        })
    }
}

/// Keys whose values DescribeConfigs must not reveal (passwords, bootstrap users).
pub fn is_sensitive(key: &str) -> bool {
    key == "fjord.bootstrap.users" || key == "fjord.inter.broker.user" || key.contains("password")
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,…`).
pub fn parse_protocol_map(text: &str) -> Result<BTreeMap<String, SecurityProtocol>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, proto) = item.split_once(':').ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "listener.security.protocol.map: {item:?} must look like NAME:SASL_SSL"
                ))
            })?;
            Ok((name.to_string(), SecurityProtocol::parse(proto)?))
        })
        .collect()
}

/// Parses `NAME://HOST:PORT[,…]`, giving each listener its protocol from `map`.
pub fn parse_listeners(
    text: &str,
    map: &BTreeMap<String, SecurityProtocol>,
) -> Result<Vec<ListenerConfig>> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = item.split_once("://").ok_or_else(|| {
            Error::InvalidConfig(format!(
                "listener {item:?} must look like PLAINTEXT://127.0.0.1:9092"
            ))
        })?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| Error::InvalidConfig(format!("listener {item:?} has no port")))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| Error::InvalidConfig(format!("listener {item:?} has an invalid port")))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let security = *map.get(name).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "listener {item:?}: {name} is not in listener.security.protocol.map; add {name}:PLAINTEXT (or SSL, SASL_PLAINTEXT, SASL_SSL)"
            ))
        })?;
        if out.iter().any(|l: &ListenerConfig| l.name == name) {
            return Err(Error::InvalidConfig(format!(
                "listener name {name} appears twice"
            )));
        }
        out.push(ListenerConfig {
            name: name.to_string(),
            security,
            host,
            port,
        });
    }
    if out.is_empty() {
        return Err(Error::InvalidConfig("no listeners configured".into()));
    }
    Ok(out)
}

/// The broker's validated configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// This broker's id.
    pub node_id: i32,
    /// Root of partition directories and metadata.
    pub data_dir: PathBuf,
    /// Sockets to bind.
    pub listeners: Vec<ListenerConfig>,
    /// What Metadata tells clients; empty means the bound listeners.
    pub advertised_listeners: Vec<ListenerConfig>,
    /// Cluster id to use on first start, if given.
    pub cluster_id: Option<String>,
    /// Default partition count.
    pub num_partitions: i32,
    /// Create unknown topics on Metadata/Produce.
    pub auto_create_topics: bool,
    /// Largest request frame.
    pub socket_request_max_bytes: usize,
    /// Client connections served at once (`max.connections`); `None` is unlimited.
    pub max_connections: Option<usize>,
    /// Ceiling on partitions of non-internal topics (`fjord.max.partitions`); `None` is
    /// unlimited.
    pub max_partitions: Option<u64>,
    /// How often usage records are written (`fjord.usage.interval.ms`).
    pub usage_interval_ms: u64,
    /// `retention.ms` of `__fjord_usage` when created (`fjord.usage.retention.ms`).
    pub usage_retention_ms: i64,
    /// How client quota rates are sampled (`quota.window.num`, `quota.window.size.seconds`).
    pub quota_window: crate::quota::WindowConfig,
    /// Where the HTTP endpoint (metrics, health probes) listens; `None` serves none. Off by
    /// default: a fixed default port would collide between brokers on one machine.
    pub http_listener: Option<SocketAddr>,
    /// Delay of the first rebalance of an empty group.
    pub group_initial_rebalance_delay_ms: u64,
    /// Smallest session timeout accepted.
    pub group_min_session_timeout_ms: i32,
    /// Largest session timeout accepted.
    pub group_max_session_timeout_ms: i32,
    /// Consumer protocol (KIP-848): members silent this long are removed.
    pub group_consumer_session_timeout_ms: i32,
    /// Consumer protocol (KIP-848): the heartbeat interval members are given.
    pub group_consumer_heartbeat_interval_ms: i32,
    /// Partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: i32,
    /// Partitions of `__transaction_state`.
    pub transaction_state_num_partitions: i32,
    /// `transaction.max.timeout.ms`.
    pub transaction_max_timeout_ms: i64,
    /// `transactional.id.expiration.ms`.
    pub transactional_id_expiration_ms: i64,
    /// Offsets of empty groups expire after this.
    pub offsets_retention_ms: i64,
    /// Retention check period.
    pub retention_check_interval_ms: u64,
    /// The log cleaner (compaction).
    pub cleaner: CleanerConfig,
    /// Log defaults for topics without overrides.
    pub log_defaults: LogConfig,
    /// Benchmark sink: acknowledge Produce without storing.
    pub bench_sink: bool,
    /// TLS and SASL settings.
    pub security: SecurityConfig,
    /// Metadata quorum, inter-broker and replication settings.
    pub cluster: ClusterConfig,
    /// Every key's effective value, for DescribeConfigs on the broker.
    pub effective: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Merges defaults, the config file, the environment and the command line.
    pub fn from_cli(cli: &Cli) -> Result<Self> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        if let Some(path) = &cli.config {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::io(format!("failed to read config file {}", path.display()), e)
            })?;
            values.extend(parse_properties(&text)?);
        }
        for k in BROKER_KEYS
            .iter()
            .map(|k| k.name)
            .chain(["broker.id", "log.dir"])
        {
            let env = format!("FJORD_{}", k.to_uppercase().replace(['.', '-'], "_"));
            if let Ok(v) = std::env::var(&env) {
                values.insert(k.to_string(), v);
            }
        }
        for item in &cli.set {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| Error::InvalidConfig(format!("--set {item:?} must be KEY=VALUE")))?;
            values.insert(k.trim().to_string(), v.trim().to_string());
        }
        if let Some(d) = &cli.data_dir {
            values.insert("log.dirs".into(), d.display().to_string());
        }
        if let Some(l) = &cli.listeners {
            values.insert("listeners".into(), l.clone());
        }
        if let Some(l) = &cli.advertised_listeners {
            values.insert("advertised.listeners".into(), l.clone());
        }
        if let Some(id) = cli.node_id {
            values.insert("node.id".into(), id.to_string());
        }
        Self::from_map(values)
    }

    /// Builds a config from explicit key/values over the defaults (tests and embedding).
    pub fn from_map(mut values: BTreeMap<String, String>) -> Result<Self> {
        // Kafka aliases.
        if let Some(v) = values.remove("broker.id") {
            values.entry("node.id".into()).or_insert(v);
        }
        if let Some(v) = values.remove("log.dir") {
            values.entry("log.dirs".into()).or_insert(v);
        }
        for k in values.keys() {
            if !BROKER_KEYS.iter().any(|b| b.name == k) {
                return Err(Error::InvalidConfig(format!(
                    "unknown key {k:?}; `fjord-broker --help` lists the supported keys"
                )));
            }
        }
        let mut effective = BTreeMap::new();
        for k in BROKER_KEYS {
            let v = values
                .get(k.name)
                .cloned()
                .unwrap_or_else(|| k.default.to_string());
            effective.insert(k.name.to_string(), v);
        }
        let get = |k: &str| effective.get(k).map(String::as_str).unwrap_or("");
        let protocols = parse_protocol_map(get("listener.security.protocol.map"))?;
        let listeners = parse_listeners(get("listeners"), &protocols)?;
        let advertised_listeners = match get("advertised.listeners") {
            "" => Vec::new(),
            s => parse_listeners(s, &protocols)?,
        };
        if let Some(l) = advertised_listeners
            .iter()
            .find(|a| !listeners.iter().any(|l| l.name == a.name))
        {
            return Err(Error::InvalidConfig(format!(
                "advertised.listeners names {}, which is not in listeners",
                l.name
            )));
        }
        if get("ssl.keystore.type") != "PEM" {
            return Err(Error::InvalidConfig(
                "ssl.keystore.type: only PEM is supported (key and certificate chain in one file)"
                    .into(),
            ));
        }
        let security = SecurityConfig {
            keystore: Some(PathBuf::from(get("ssl.keystore.location")))
                .filter(|p| !p.as_os_str().is_empty()),
            sasl_mechanisms: crate::security::parse_mechanisms(get("sasl.enabled.mechanisms"))?,
            super_users: crate::security::parse_super_users(get("super.users"))?,
            bootstrap_users: crate::security::parse_bootstrap_users(get("fjord.bootstrap.users"))?,
            failed_authentication_delay_ms: parse(
                get("connection.failed.authentication.delay.ms"),
                "connection.failed.authentication.delay.ms",
            )?,
            tenant_isolation: parse_bool(get("fjord.tenant.isolation"), "fjord.tenant.isolation")?,
            authorizer: crate::security::parse_authorizer(get("authorizer.class.name"))?,
            allow_if_no_acl: parse_bool(
                get("allow.everyone.if.no.acl.found"),
                "allow.everyone.if.no.acl.found",
            )?,
            client_auth: crate::security::mtls::ClientAuth::parse(get("ssl.client.auth"))?,
            truststore: Some(PathBuf::from(get("ssl.truststore.location")))
                .filter(|p| !p.as_os_str().is_empty()),
            principal_mapping: crate::security::mtls::PrincipalMapping::parse(get(
                "ssl.principal.mapping.rules",
            ))?,
            oauth: crate::security::oauth::OAuthConfig {
                jwks_url: get("sasl.oauthbearer.jwks.endpoint.url").to_string(),
                refresh: std::time::Duration::from_millis(parse(
                    get("sasl.oauthbearer.jwks.endpoint.refresh.ms"),
                    "sasl.oauthbearer.jwks.endpoint.refresh.ms",
                )?),
                expected_audience: get("sasl.oauthbearer.expected.audience")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                expected_issuer: Some(get("sasl.oauthbearer.expected.issuer").to_string())
                    .filter(|s| !s.is_empty()),
                sub_claim: get("sasl.oauthbearer.sub.claim.name").to_string(),
                clock_skew_s: parse(
                    get("sasl.oauthbearer.clock.skew.seconds"),
                    "sasl.oauthbearer.clock.skew.seconds",
                )?,
            },
            max_reauth_ms: parse(
                get("connections.max.reauth.ms"),
                "connections.max.reauth.ms",
            )?,
        };
        if security
            .sasl_mechanisms
            .contains(&crate::security::SaslMechanism::OAuthBearer)
            && security.oauth.jwks_url.is_empty()
        {
            return Err(Error::InvalidConfig(
                "sasl.enabled.mechanisms has OAUTHBEARER but sasl.oauthbearer.jwks.endpoint.url is not set: give the JWKS file or http:// URL that signs the tokens".into(),
            ));
        }
        if get("ssl.truststore.type") != "PEM" {
            return Err(Error::InvalidConfig(
                "ssl.truststore.type: only PEM is supported".into(),
            ));
        }
        if security.client_auth != crate::security::mtls::ClientAuth::None
            && security.truststore.is_none()
        {
            return Err(Error::InvalidConfig(
                "ssl.client.auth is set but ssl.truststore.location is not: give the CA file client certificates must chain to".into(),
            ));
        }
        if let Some(l) = listeners.iter().find(|l| l.security.tls())
            && security.keystore.is_none()
        {
            return Err(Error::InvalidConfig(format!(
                "listener {} uses {} but ssl.keystore.location is not set",
                l.name, l.security
            )));
        }
        if let Some(l) = listeners.iter().find(|l| l.security.sasl())
            && security.sasl_mechanisms.is_empty()
        {
            return Err(Error::InvalidConfig(format!(
                "listener {} uses {} but sasl.enabled.mechanisms is empty",
                l.name, l.security
            )));
        }
        let data_dir = PathBuf::from(get("log.dirs").split(',').next().unwrap_or("./fjord-data"));
        let cfg = BrokerConfig {
            node_id: parse(get("node.id"), "node.id")?,
            data_dir,
            listeners,
            advertised_listeners,
            cluster_id: Some(get("cluster.id").to_string()).filter(|s| !s.is_empty()),
            num_partitions: positive(
                parse(get("num.partitions"), "num.partitions")?,
                "num.partitions",
            )?,
            auto_create_topics: parse_bool(
                get("auto.create.topics.enable"),
                "auto.create.topics.enable",
            )?,
            socket_request_max_bytes: parse(
                get("socket.request.max.bytes"),
                "socket.request.max.bytes",
            )?,
            max_connections: limit(get("max.connections"), "max.connections")?,
            max_partitions: limit(get("fjord.max.partitions"), "fjord.max.partitions")?,
            usage_interval_ms: parse::<u64>(
                get("fjord.usage.interval.ms"),
                "fjord.usage.interval.ms",
            )?
            .max(100),
            usage_retention_ms: parse(get("fjord.usage.retention.ms"), "fjord.usage.retention.ms")?,
            quota_window: crate::quota::WindowConfig {
                num: positive(
                    parse(get("quota.window.num"), "quota.window.num")?,
                    "quota.window.num",
                )?,
                size_ms: positive::<i64>(
                    parse(
                        get("quota.window.size.seconds"),
                        "quota.window.size.seconds",
                    )?,
                    "quota.window.size.seconds",
                )? * 1000,
            },
            http_listener: crate::http::parse_listener(get("fjord.http.listener"))?,
            group_initial_rebalance_delay_ms: parse(
                get("group.initial.rebalance.delay.ms"),
                "group.initial.rebalance.delay.ms",
            )?,
            group_min_session_timeout_ms: parse(
                get("group.min.session.timeout.ms"),
                "group.min.session.timeout.ms",
            )?,
            group_max_session_timeout_ms: parse(
                get("group.max.session.timeout.ms"),
                "group.max.session.timeout.ms",
            )?,
            group_consumer_session_timeout_ms: positive(
                parse(
                    get("group.consumer.session.timeout.ms"),
                    "group.consumer.session.timeout.ms",
                )?,
                "group.consumer.session.timeout.ms",
            )?,
            group_consumer_heartbeat_interval_ms: positive(
                parse(
                    get("group.consumer.heartbeat.interval.ms"),
                    "group.consumer.heartbeat.interval.ms",
                )?,
                "group.consumer.heartbeat.interval.ms",
            )?,
            offsets_topic_num_partitions: positive(
                parse(
                    get("offsets.topic.num.partitions"),
                    "offsets.topic.num.partitions",
                )?,
                "offsets.topic.num.partitions",
            )?,
            transaction_state_num_partitions: positive(
                parse(
                    get("transaction.state.log.num.partitions"),
                    "transaction.state.log.num.partitions",
                )?,
                "transaction.state.log.num.partitions",
            )?,
            transaction_max_timeout_ms: positive(
                parse(
                    get("transaction.max.timeout.ms"),
                    "transaction.max.timeout.ms",
                )?,
                "transaction.max.timeout.ms",
            )?,
            transactional_id_expiration_ms: positive(
                parse(
                    get("transactional.id.expiration.ms"),
                    "transactional.id.expiration.ms",
                )?,
                "transactional.id.expiration.ms",
            )?,
            offsets_retention_ms: parse::<i64>(
                get("offsets.retention.minutes"),
                "offsets.retention.minutes",
            )? * 60_000,
            retention_check_interval_ms: parse(
                get("log.retention.check.interval.ms"),
                "log.retention.check.interval.ms",
            )?,
            cleaner: CleanerConfig {
                enable: parse_bool(get("log.cleaner.enable"), "log.cleaner.enable")?,
                backoff_ms: parse(get("log.cleaner.backoff.ms"), "log.cleaner.backoff.ms")?,
                io_max_bytes_per_second: parse::<u64>(
                    get("log.cleaner.io.max.bytes.per.second"),
                    "log.cleaner.io.max.bytes.per.second",
                )?
                .max(1),
                dedupe_buffer_size: parse::<u64>(
                    get("log.cleaner.dedupe.buffer.size"),
                    "log.cleaner.dedupe.buffer.size",
                )?
                .max(1 << 20),
            },
            log_defaults: LogConfig::default(),
            bench_sink: parse_bool(get("fjord.bench.sink"), "fjord.bench.sink")?,
            cluster: ClusterConfig::parse(&effective, &security)?,
            security,
            effective: BTreeMap::new(),
        };
        let log_defaults = cfg_log_defaults(&effective)?;
        Ok(BrokerConfig {
            log_defaults,
            effective,
            ..cfg
        })
    }

    /// The broker-level default of a topic key, as text.
    pub fn topic_default(&self, topic_key: &str) -> Option<String> {
        let tk = TOPIC_KEYS.iter().find(|k| k.name == topic_key)?;
        Some(topic_value_from_broker(
            &self.effective,
            tk.name,
            tk.broker_key,
        ))
    }

    /// Effective log config of a topic with the given overrides; rejects unknown keys and
    /// invalid values with a message naming the key.
    pub fn topic_log_config(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig> {
        let mut map = BTreeMap::new();
        for tk in TOPIC_KEYS {
            map.insert(
                tk.name.to_string(),
                topic_value_from_broker(&self.effective, tk.name, tk.broker_key),
            );
        }
        for (k, v) in overrides {
            if !TOPIC_KEYS.iter().any(|t| t.name == k) {
                return Err(Error::InvalidConfig(format!("unknown topic config {k:?}")));
            }
            map.insert(k.clone(), v.clone());
        }
        log_config_from_topic_map(&map)
    }
}

/// Metadata quorum, inter-broker and replication settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `controller.quorum.voters` (empty: this node alone).
    pub voters: BTreeMap<i32, String>,
    /// `inter.broker.listener.name` (`None`: the first listener).
    pub inter_broker_listener: Option<String>,
    /// SASL mechanism, user and password for inter-broker connections.
    pub inter_broker_sasl: Option<(crate::client::SaslMechanism, String, String)>,
    /// CA file for inter-broker TLS.
    pub inter_broker_ca: Option<PathBuf>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: i64,
    /// `replica.fetch.wait.max.ms`.
    pub replica_fetch_wait_max_ms: i32,
    /// `replica.fetch.max.bytes`.
    pub replica_fetch_max_bytes: i32,
    /// `replica.fetch.response.max.bytes`.
    pub replica_fetch_response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`.
    pub replica_fetch_backoff_ms: u64,
    /// `follower.replication.throttled.rate` in bytes/s.
    pub follower_throttled_rate: Option<u64>,
    /// `offsets.topic.replication.factor`.
    pub offsets_replication_factor: i16,
    /// `transaction.state.log.replication.factor`.
    pub transaction_replication_factor: i16,
    /// `auto.leader.rebalance.enable` with its period.
    pub leader_rebalance_interval_ms: Option<u64>,
    /// `controlled.shutdown.enable`.
    pub controlled_shutdown: bool,
    /// `fjord.controlled.shutdown.timeout.ms`.
    pub controlled_shutdown_timeout_ms: u64,
}

impl ClusterConfig {
    fn parse(effective: &BTreeMap<String, String>, security: &SecurityConfig) -> Result<Self> {
        let get = |k: &str| effective.get(k).map(String::as_str).unwrap_or("");
        let voters = parse_voters(get("controller.quorum.voters"))?;
        let mechanism = crate::client::SaslMechanism::from_name(get("sasl.mechanism.inter.broker.protocol"))
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "sasl.mechanism.inter.broker.protocol: {:?} is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
                    get("sasl.mechanism.inter.broker.protocol")
                ))
            })?;
        let user = match get("fjord.inter.broker.user") {
            "" => security.bootstrap_users.first().cloned(),
            s => Some(
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
                    .ok_or_else(|| {
                        Error::InvalidConfig("fjord.inter.broker.user must be name:password".into())
                    })?,
            ),
        };
        let rebalance = parse_bool(
            get("auto.leader.rebalance.enable"),
            "auto.leader.rebalance.enable",
        )?;
        let rebalance_s: u64 = parse(
            get("leader.imbalance.check.interval.seconds"),
            "leader.imbalance.check.interval.seconds",
        )?;
        Ok(ClusterConfig {
            voters,
            inter_broker_listener: Some(get("inter.broker.listener.name").to_string())
                .filter(|s| !s.is_empty()),
            inter_broker_sasl: user.map(|(u, p)| (mechanism, u, p)),
            inter_broker_ca: Some(PathBuf::from(get("fjord.inter.broker.ssl.ca.location")))
                .filter(|p| !p.as_os_str().is_empty())
                .or_else(|| security.truststore.clone()),
            rack: Some(get("broker.rack").to_string()).filter(|s| !s.is_empty()),
            heartbeat_interval_ms: positive(
                parse(
                    get("broker.heartbeat.interval.ms"),
                    "broker.heartbeat.interval.ms",
                )?,
                "broker.heartbeat.interval.ms",
            )?,
            session_timeout_ms: positive(
                parse(
                    get("broker.session.timeout.ms"),
                    "broker.session.timeout.ms",
                )?,
                "broker.session.timeout.ms",
            )?,
            replica_lag_time_max_ms: positive(
                parse(get("replica.lag.time.max.ms"), "replica.lag.time.max.ms")?,
                "replica.lag.time.max.ms",
            )?,
            replica_fetch_wait_max_ms: parse(
                get("replica.fetch.wait.max.ms"),
                "replica.fetch.wait.max.ms",
            )?,
            replica_fetch_max_bytes: positive(
                parse(get("replica.fetch.max.bytes"), "replica.fetch.max.bytes")?,
                "replica.fetch.max.bytes",
            )?,
            replica_fetch_response_max_bytes: positive(
                parse(
                    get("replica.fetch.response.max.bytes"),
                    "replica.fetch.response.max.bytes",
                )?,
                "replica.fetch.response.max.bytes",
            )?,
            replica_fetch_backoff_ms: parse(
                get("replica.fetch.backoff.ms"),
                "replica.fetch.backoff.ms",
            )?,
            follower_throttled_rate: limit(
                get("follower.replication.throttled.rate"),
                "follower.replication.throttled.rate",
            )?,
            offsets_replication_factor: positive(
                parse(
                    get("offsets.topic.replication.factor"),
                    "offsets.topic.replication.factor",
                )?,
                "offsets.topic.replication.factor",
            )?,
            transaction_replication_factor: positive(
                parse(
                    get("transaction.state.log.replication.factor"),
                    "transaction.state.log.replication.factor",
                )?,
                "transaction.state.log.replication.factor",
            )?,
            leader_rebalance_interval_ms: rebalance.then_some(rebalance_s.max(1) * 1000),
            controlled_shutdown: parse_bool(
                get("controlled.shutdown.enable"),
                "controlled.shutdown.enable",
            )?,
            controlled_shutdown_timeout_ms: parse(
                get("fjord.controlled.shutdown.timeout.ms"),
                "fjord.controlled.shutdown.timeout.ms",
            )?,
        })
    }
}

/// `controller.quorum.voters`: `ID@HOST:PORT` items.
fn parse_voters(value: &str) -> Result<BTreeMap<i32, String>> {
    let mut out = BTreeMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || {
            Error::InvalidConfig(format!(
                "controller.quorum.voters: {item:?} is not ID@HOST:PORT"
            ))
        };
        let (id, addr) = item.split_once('@').ok_or_else(bad)?;
        let id: i32 = id.trim().parse().map_err(|_| bad())?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().is_err() || id < 0 {
            return Err(bad());
        }
        if out.insert(id, addr.to_string()).is_some() {
            return Err(Error::InvalidConfig(format!(
                "controller.quorum.voters names node {id} twice"
            )));
        }
    }
    Ok(out)
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 168 * 3_600_000,
            retention_ms: 168 * 3_600_000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            flush_messages: u64::MAX,
            flush_ms: None,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy::Delete,
            min_insync_replicas: 1,
            compaction: CompactionConfig::default(),
        }
    }
}

/// The topic-level value implied by the broker-level keys (handling the hours/minutes/ms
/// families Kafka has for retention and roll).
fn topic_value_from_broker(
    effective: &BTreeMap<String, String>,
    topic_key: &str,
    broker_key: &str,
) -> String {
    let get = |k: &str| effective.get(k).cloned().unwrap_or_default();
    match topic_key {
        "retention.ms" => {
            let ms = get("log.retention.ms");
            if !ms.is_empty() {
                return ms;
            }
            let min = get("log.retention.minutes");
            if let Ok(m) = min.parse::<i64>() {
                return (m * 60_000).to_string();
            }
            get("log.retention.hours")
                .parse::<i64>()
                .map(|h| (h * 3_600_000).to_string())
                .unwrap_or(get("log.retention.hours"))
        }
        "segment.ms" => {
            let ms = get("log.roll.ms");
            if !ms.is_empty() {
                return ms;
            }
            get("log.roll.hours")
                .parse::<i64>()
                .map(|h| (h * 3_600_000).to_string())
                .unwrap_or(get("log.roll.hours"))
        }
        _ => get(broker_key),
    }
}

fn cfg_log_defaults(effective: &BTreeMap<String, String>) -> Result<LogConfig> {
    let mut map = BTreeMap::new();
    for tk in TOPIC_KEYS {
        map.insert(
            tk.name.to_string(),
            topic_value_from_broker(effective, tk.name, tk.broker_key),
        );
    }
    log_config_from_topic_map(&map)
}

fn log_config_from_topic_map(map: &BTreeMap<String, String>) -> Result<LogConfig> {
    let get = |k: &str| map.get(k).map(String::as_str).unwrap_or("");
    let timestamp_type = match get("message.timestamp.type") {
        "CreateTime" => TimestampType::CreateTime,
        "LogAppendTime" => TimestampType::LogAppendTime,
        other => {
            return Err(Error::InvalidConfig(format!(
                "message.timestamp.type must be CreateTime or LogAppendTime, not {other:?}"
            )));
        }
    };
    let cleanup_policy = match get("cleanup.policy").replace(' ', "").as_str() {
        "delete" => CleanupPolicy::Delete,
        "compact" => CleanupPolicy::Compact,
        "compact,delete" | "delete,compact" => CleanupPolicy::CompactDelete,
        other => {
            return Err(Error::InvalidConfig(format!(
                "cleanup.policy must be delete, compact or compact,delete, not {other:?}"
            )));
        }
    };
    parse_bool(
        get("fjord.autoscale.partitions"),
        "fjord.autoscale.partitions",
    )?;
    let segment_bytes: u64 = parse(get("segment.bytes"), "segment.bytes")?;
    if segment_bytes < 1024 {
        return Err(Error::InvalidConfig(
            "segment.bytes must be at least 1024".into(),
        ));
    }
    let flush_ms = match get("flush.ms") {
        "" => None,
        s => Some(parse::<i64>(s, "flush.ms")?),
    };
    Ok(LogConfig {
        segment_bytes,
        segment_ms: positive(parse(get("segment.ms"), "segment.ms")?, "segment.ms")?,
        retention_ms: at_least_minus_one(
            parse(get("retention.ms"), "retention.ms")?,
            "retention.ms",
        )?,
        retention_bytes: at_least_minus_one(
            parse(get("retention.bytes"), "retention.bytes")?,
            "retention.bytes",
        )?,
        index_interval_bytes: parse(get("index.interval.bytes"), "index.interval.bytes")?,
        flush_messages: parse::<u64>(get("flush.messages"), "flush.messages")?.max(1),
        flush_ms,
        max_message_bytes: parse(get("max.message.bytes"), "max.message.bytes")?,
        timestamp_type,
        cleanup_policy,
        min_insync_replicas: positive(
            parse(get("min.insync.replicas"), "min.insync.replicas")?,
            "min.insync.replicas",
        )?,
        compaction: compaction_from_topic_map(&get)?,
    })
}

fn compaction_from_topic_map<'a>(get: &impl Fn(&str) -> &'a str) -> Result<CompactionConfig> {
    let ratio: f64 = parse(
        get("min.cleanable.dirty.ratio"),
        "min.cleanable.dirty.ratio",
    )?;
    if !(0.0..=1.0).contains(&ratio) {
        return Err(Error::InvalidConfig(format!(
            "min.cleanable.dirty.ratio must be between 0 and 1, not {ratio}"
        )));
    }
    let non_negative = |key: &str| -> Result<i64> {
        let v: i64 = parse(get(key), key)?;
        if v < 0 {
            return Err(Error::InvalidConfig(format!(
                "{key} must be 0 or more, not {v}"
            )));
        }
        Ok(v)
    };
    let min_lag = non_negative("min.compaction.lag.ms")?;
    let max_lag = non_negative("max.compaction.lag.ms")?;
    if max_lag < min_lag {
        return Err(Error::InvalidConfig(format!(
            "max.compaction.lag.ms ({max_lag}) must not be below min.compaction.lag.ms ({min_lag})"
        )));
    }
    Ok(CompactionConfig {
        min_cleanable_dirty_ratio: ratio,
        min_compaction_lag_ms: min_lag,
        max_compaction_lag_ms: max_lag,
        delete_retention_ms: non_negative("delete.retention.ms")?,
    })
}

fn parse<T: std::str::FromStr>(value: &str, key: &str) -> Result<T> {
    value.trim().parse().map_err(|_| {
        Error::InvalidConfig(format!(
            "{key}={value:?} is not a valid {}",
            std::any::type_name::<T>()
        ))
    })
}

/// An optional ceiling: empty or 0 is unlimited (`None`).
fn limit<T: std::str::FromStr + PartialEq + Default>(value: &str, key: &str) -> Result<Option<T>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let v: T = parse(value, key)?;
    Ok((v != T::default()).then_some(v))
}

fn parse_bool(value: &str, key: &str) -> Result<bool> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::InvalidConfig(format!(
            "{key}={value:?} must be true or false"
        ))),
    }
}

fn positive<T: PartialOrd + Default + std::fmt::Display>(v: T, key: &str) -> Result<T> {
    if v > T::default() {
        Ok(v)
    } else {
        Err(Error::InvalidConfig(format!(
            "{key} must be positive, not {v}"
        )))
    }
}

fn at_least_minus_one(v: i64, key: &str) -> Result<i64> {
    if v >= -1 {
        Ok(v)
    } else {
        Err(Error::InvalidConfig(format!(
            "{key} must be -1 or more, not {v}"
        )))
    }
}

/// Parses Java-properties text: `key=value` or `key: value`, `#`/`!` comments.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let idx = line.find(['=', ':']).ok_or_else(|| {
            Error::InvalidConfig(format!("line {}: {line:?} is not key=value", n + 1))
        })?;
        out.insert(
            line[..idx].trim().to_string(),
            line[idx + 1..].trim().to_string(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build_a_valid_config() {
        let cfg = BrokerConfig::from_map(BTreeMap::new()).expect("defaults are valid");
        assert_eq!(cfg.node_id, 1);
        assert_eq!(cfg.listeners[0].port, 9092);
        assert_eq!(cfg.log_defaults.retention_ms, 168 * 3_600_000);
        assert_eq!(cfg.log_defaults.segment_bytes, 1 << 30);
    }

    #[test]
    fn retention_minutes_override_hours_and_ms_overrides_both() {
        let mut m = BTreeMap::new();
        m.insert("log.retention.hours".to_string(), "1".to_string());
        m.insert("log.retention.minutes".to_string(), "2".to_string());
        assert_eq!(
            BrokerConfig::from_map(m.clone())
                .unwrap()
                .log_defaults
                .retention_ms,
            120_000
        );
        m.insert("log.retention.ms".to_string(), "5".to_string());
        assert_eq!(
            BrokerConfig::from_map(m).unwrap().log_defaults.retention_ms,
            5
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_key_named() {
        let mut m = BTreeMap::new();
        m.insert("log.retention.hourz".to_string(), "1".to_string());
        let err = BrokerConfig::from_map(m).unwrap_err().to_string();
        assert!(err.contains("log.retention.hourz"), "{err}");
        let mut m = BTreeMap::new();
        m.insert("num.partitions".to_string(), "zero".to_string());
        let err = BrokerConfig::from_map(m).unwrap_err().to_string();
        assert!(err.contains("num.partitions"), "{err}");
    }

    #[test]
    fn properties_file_syntax() {
        let p = parse_properties("# c\nbroker.id=3\nlog.dirs : /tmp/x\n\n! other\n").unwrap();
        assert_eq!(p["broker.id"], "3");
        assert_eq!(p["log.dirs"], "/tmp/x");
        let cfg = BrokerConfig::from_map(p).unwrap();
        assert_eq!(cfg.node_id, 3);
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn topic_overrides_apply_and_unknown_topic_keys_fail() {
        let cfg = BrokerConfig::from_map(BTreeMap::new()).unwrap();
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert("cleanup.policy".to_string(), "compact".to_string());
        let lc = cfg.topic_log_config(&o).unwrap();
        assert_eq!(lc.retention_ms, 1000);
        assert_eq!(lc.cleanup_policy, CleanupPolicy::Compact);
        o.insert("retention.msx".to_string(), "1".to_string());
        assert!(cfg.topic_log_config(&o).is_err());
    }

    #[test]
    fn listeners_parse_and_reject_garbage() {
        let map = parse_protocol_map("PLAINTEXT:PLAINTEXT,CONTROL:SASL_PLAINTEXT").unwrap();
        let l = parse_listeners("PLAINTEXT://127.0.0.1:0,CONTROL://127.0.0.1:1", &map).unwrap();
        assert_eq!(l[0].port, 0);
        assert_eq!(l[1].security, SecurityProtocol::SaslPlaintext);
        assert!(parse_listeners("127.0.0.1:9092", &map).is_err());
        assert!(parse_listeners("PLAINTEXT://127.0.0.1", &map).is_err());
        let e = parse_listeners("OTHER://127.0.0.1:1", &map)
            .unwrap_err()
            .to_string();
        assert!(e.contains("listener.security.protocol.map"), "{e}");
        assert!(parse_listeners("PLAINTEXT://:1,PLAINTEXT://:2", &map).is_err());
    }

    #[test]
    fn ceilings_are_unlimited_unless_set_and_quota_windows_must_be_positive() {
        let cfg = BrokerConfig::from_map(BTreeMap::new()).unwrap();
        assert_eq!(cfg.max_connections, None);
        assert_eq!(cfg.max_partitions, None);
        assert_eq!(cfg.quota_window, crate::quota::WindowConfig::default());
        let mut m = BTreeMap::new();
        m.insert("max.connections".to_string(), "0".to_string());
        m.insert("fjord.max.partitions".to_string(), "100".to_string());
        m.insert("quota.window.size.seconds".to_string(), "2".to_string());
        let cfg = BrokerConfig::from_map(m.clone()).unwrap();
        assert_eq!(cfg.max_connections, None);
        assert_eq!(cfg.max_partitions, Some(100));
        assert_eq!(cfg.quota_window.size_ms, 2000);
        m.insert("quota.window.num".to_string(), "0".to_string());
        let e = BrokerConfig::from_map(m).unwrap_err().to_string();
        assert!(e.contains("quota.window.num"), "{e}");
    }

    #[test]
    fn tls_listeners_need_a_keystore() {
        let mut m = BTreeMap::new();
        m.insert("listeners".to_string(), "SSL://127.0.0.1:0".to_string());
        let e = BrokerConfig::from_map(m.clone()).unwrap_err().to_string();
        assert!(e.contains("ssl.keystore.location"), "{e}");
        m.insert("ssl.keystore.location".to_string(), "/x.pem".to_string());
        assert!(BrokerConfig::from_map(m).is_ok());
    }
}
