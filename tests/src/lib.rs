//! Test kit: start Fjord brokers for end-to-end tests driven by real Kafka clients.
//!
//! # Layout
//!
//! - [`TestBroker`]: an in-process broker (`fjord_broker::server::spawn`) on `127.0.0.1:0`
//!   with its own temporary data directory, kept across [`TestBroker::restart`]. It runs on a
//!   runtime of its own, so a test may block (rdkafka's `BaseConsumer::poll`) without
//!   starving the broker, and a graceful restart really closes every connection.
//! - [`ChildBroker`]: the real `fjord-broker` binary as a child process, for what only a
//!   process can show: `kill -9` mid-load and recovery on restart.
//! - Client helpers: rdkafka configs with bounded timeouts, topic creation, and
//!   [`consume_exactly`] which reads a known number of records or fails with what it saw.
//!
//! - [`secure`]: a broker with SSL, SASL_SSL and SASL_PLAINTEXT listeners, a test CA made
//!   with rcgen, and SCRAM users; client configs for each security protocol.
//! - [`wire`]: a minimal Kafka wire client (typed `kafka-protocol` requests, optional
//!   SASL/PLAIN) for APIs librdkafka's admin client lacks, such as client quotas.
//!
//! Every test gets its own broker on a free port and its own unique topic names, so tests are
//! independent and run in parallel.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use fjord_broker::config::BrokerConfig;
use fjord_broker::server::{self, BrokerHandle};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

pub mod cluster;
pub mod secure;
pub mod wire;

/// How long a test waits for any single broker or client step before failing.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A record as a test sees it after consuming it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Consumed {
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Its key, if any, as UTF-8 (lossy).
    pub key: Option<String>,
    /// Its value, as UTF-8 (lossy).
    pub value: String,
}

/// A name no other test (or run) uses: `prefix-<pid>-<counter>-<nanos>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// An in-process broker with a temporary data directory that survives restarts.
pub struct TestBroker {
    runtime: Option<tokio::runtime::Runtime>,
    handle: Option<BrokerHandle>,
    config: BTreeMap<String, String>,
    bootstrap: String,
    data_dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker")
            .field("bootstrap", &self.bootstrap)
            .field("data_dir", &self.data_dir.path())
            .finish_non_exhaustive()
    }
}

impl TestBroker {
    /// Starts a broker on `127.0.0.1:0` with `group.initial.rebalance.delay.ms=0`.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// Starts a broker with extra Kafka-style keys (they win over the test defaults).
    pub async fn start_with(overrides: &[(&str, &str)]) -> anyhow::Result<Self> {
        let data_dir = tempfile::Builder::new()
            .prefix("fjord-test-")
            .tempdir()
            .context("failed to create data dir")?;
        let mut config = BTreeMap::new();
        config.insert(
            "log.dirs".to_string(),
            data_dir.path().display().to_string(),
        );
        config.insert(
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        );
        config.insert(
            "group.initial.rebalance.delay.ms".to_string(),
            "0".to_string(),
        );
        for (k, v) in overrides {
            config.insert((*k).to_string(), (*v).to_string());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fjord-test-broker")
            .enable_all()
            .build()
            .context("failed to build the broker runtime")?;
        let handle = spawn_on(&runtime, config.clone()).await?;
        let bootstrap = handle.bootstrap();
        // Restarts come back on the same port, so clients created before keep working.
        config.insert("listeners".to_string(), format!("PLAINTEXT://{bootstrap}"));
        Ok(TestBroker {
            runtime: Some(runtime),
            handle: Some(handle),
            config,
            bootstrap,
            data_dir,
        })
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// The data directory (`log.dirs`), kept across restarts.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The running broker's state (logs, counters).
    pub fn broker(&self) -> anyhow::Result<&std::sync::Arc<fjord_broker::Broker>> {
        self.handle
            .as_ref()
            .map(|h| h.broker())
            .ok_or_else(|| anyhow::anyhow!("broker stopped"))
    }

    /// Graceful shutdown, then a fresh start on the same data directory and port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| anyhow!("broker runtime is gone"))?;
        // The old listener is closed; the port may linger briefly in the kernel, so retry.
        let deadline = Instant::now() + STEP_TIMEOUT;
        let handle = loop {
            match spawn_on(runtime, self.config.clone()).await {
                Ok(h) => break h,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "restart failed, retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.context("broker did not restart on the same port")),
            }
        };
        anyhow::ensure!(
            handle.bootstrap() == self.bootstrap,
            "restarted on {} instead of {}",
            handle.bootstrap(),
            self.bootstrap
        );
        self.handle = Some(handle);
        Ok(())
    }

    /// Graceful shutdown (in-flight requests finish, logs are flushed); the data dir is kept
    /// until the `TestBroker` is dropped.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let (Some(handle), Some(runtime)) = (self.handle.take(), self.runtime.as_ref()) else {
            return Ok(());
        };
        let shutdown = runtime.spawn(handle.shutdown());
        tokio::time::timeout(STEP_TIMEOUT, shutdown)
            .await
            .context("broker shutdown took longer than 30 s")?
            .context("broker shutdown task panicked")?
            .context("broker shutdown failed")
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        // Allowed inside an async context, unlike dropping the runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub(crate) async fn spawn_on(
    runtime: &tokio::runtime::Runtime,
    config: BTreeMap<String, String>,
) -> anyhow::Result<BrokerHandle> {
    let config = BrokerConfig::from_map(config).context("invalid test broker config")?;
    let started = runtime.spawn(server::spawn(config));
    let handle = tokio::time::timeout(STEP_TIMEOUT, started)
        .await
        .context("broker start took longer than 30 s")?
        .context("broker start task panicked")?
        .context("broker failed to start")?;
    Ok(handle)
}

/// The real `fjord-broker` binary as a child process, for crash tests.
#[derive(Debug)]
pub struct ChildBroker {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    extra_args: Vec<String>,
    data_dir: tempfile::TempDir,
    log_dir: tempfile::TempDir,
    starts: u32,
}

impl ChildBroker {
    /// Starts the binary on a free port with its own data dir. `extra_args` are appended to
    /// `--data-dir … --listeners … --set group.initial.rebalance.delay.ms=0`, e.g.
    /// `["--set", "log.flush.interval.messages=1"]`.
    pub fn start(extra_args: &[&str]) -> anyhow::Result<Self> {
        let binary = broker_binary()?;
        let port = free_port()?;
        let mut broker = ChildBroker {
            child: None,
            binary,
            port,
            extra_args: extra_args.iter().map(|s| (*s).to_string()).collect(),
            data_dir: tempfile::Builder::new()
                .prefix("fjord-child-")
                .tempdir()
                .context("failed to create data dir")?,
            log_dir: tempfile::Builder::new()
                .prefix("fjord-child-log-")
                .tempdir()
                .context("failed to create log dir")?,
            starts: 0,
        };
        broker.launch()?;
        Ok(broker)
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The data directory, kept across restarts.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// `kill -9`: no shutdown path runs, whatever was not on disk is lost.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("failed to SIGKILL the broker")?;
            child.wait().context("failed to reap the broker")?;
        }
        Ok(())
    }

    /// SIGTERM and wait for a graceful exit; fails if it does not exit cleanly in 30 s.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .context("failed to run kill")?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().context("failed to wait for the broker")? {
                anyhow::ensure!(
                    status.success(),
                    "broker exited with {status} after SIGTERM; stderr:\n{}",
                    self.stderr()
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "broker did not exit within 30 s of SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the binary again on the same data dir and port (after `kill9` or `terminate`).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9()?;
        self.launch()
    }

    /// Everything the broker wrote to stderr, across all its starts.
    pub fn stderr(&self) -> String {
        let mut out = String::new();
        for i in 1..=self.starts {
            let path = self.log_dir.path().join(format!("stderr-{i}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push_str(&format!("----- start {i} -----\n{text}"));
        }
        out
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        let log_path = self
            .log_dir
            .path()
            .join(format!("stderr-{}.log", self.starts));
        let log =
            std::fs::File::create(&log_path).context("failed to create the broker log file")?;
        let child = Command::new(&self.binary)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .arg("--listeners")
            .arg(format!("PLAINTEXT://127.0.0.1:{}", self.port))
            .args(["--set", "group.initial.rebalance.delay.ms=0"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("failed to run {}", self.binary.display()))?;
        self.child = Some(child);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if answers_metadata(addr) {
                return Ok(());
            }
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait().context("failed to poll the broker")?,
                None => None,
            };
            if let Some(status) = exited {
                self.child = None;
                bail!(
                    "broker exited with {status} before accepting connections; stderr:\n{}",
                    self.stderr()
                );
            }
            if Instant::now() > deadline {
                let _ = self.kill9();
                bail!(
                    "broker did not answer Metadata on {addr} within 30 s; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a broker at `addr` answers a Metadata v0 request. A bound port alone does not mean
/// ready: the listener is bound before the broker has joined its cluster, and until then it
/// answers only ApiVersions and SASL (and closes the connection on anything else).
fn answers_metadata(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    // size, api_key=3, api_version=0, correlation_id=1, client_id=null, topics=[] (all).
    let mut request = Vec::with_capacity(18);
    request.extend_from_slice(&14i32.to_be_bytes());
    request.extend_from_slice(&3i16.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes());
    request.extend_from_slice(&1i32.to_be_bytes());
    request.extend_from_slice(&(-1i16).to_be_bytes());
    request.extend_from_slice(&0i32.to_be_bytes());
    let mut header = [0u8; 8];
    stream.write_all(&request).is_ok()
        && stream.read_exact(&mut header).is_ok()
        && header[4..8] == 1i32.to_be_bytes()
}

/// The `fjord-broker` binary: `$FJORD_BROKER_BIN`, else next to the test executable's
/// directory (`target/debug/deps/xxx` → `target/debug/fjord-broker`).
pub fn broker_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("FJORD_BROKER_BIN") {
        let path = PathBuf::from(path);
        anyhow::ensure!(
            path.is_file(),
            "FJORD_BROKER_BIN={} does not exist",
            path.display()
        );
        return Ok(path);
    }
    let exe = std::env::current_exe().context("failed to find the test executable")?;
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(format!("fjord-broker{}", std::env::consts::EXE_SUFFIX)))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "fjord-broker binary not found (looked at {candidates:?}); build it with \
             `cargo build -p fjord-broker --bin fjord-broker` or set FJORD_BROKER_BIN"
            )
        })
}

/// A port nothing listens on right now (bind :0, read the port, close).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to bind a probe socket")?;
    Ok(listener
        .local_addr()
        .context("failed to read probe address")?
        .port())
}

/// A client config with bounded timeouts and quiet logs for `bootstrap`.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("socket.timeout.ms", "10000")
        .set("reconnect.backoff.max.ms", "1000")
        .set("log_level", "4");
    config
}

/// A producer config: acks=all, a 20 s delivery timeout, small linger for low latency.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = client_config(bootstrap);
    config
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .set("linger.ms", "5");
    config
}

/// A group consumer config: earliest reset, manual commits, quick session and heartbeats.
pub fn consumer_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .set("topic.metadata.refresh.interval.ms", "2000");
    config
}

/// An admin client for `bootstrap`.
pub fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    client_config(bootstrap)
        .create()
        .context("failed to create admin client")
}

/// Admin options with a 30 s operation timeout.
pub fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(STEP_TIMEOUT))
        .request_timeout(Some(STEP_TIMEOUT))
}

/// Creates `name` with `partitions` partitions and waits until Metadata shows all of them
/// with a leader.
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> anyhow::Result<()> {
    create_topic_with(bootstrap, name, partitions, &[]).await
}

/// [`create_topic`] with topic configs.
pub async fn create_topic_with(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let admin = admin(bootstrap)?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics([&topic], &admin_options())
        .await
        .context("CreateTopics failed")?;
    for r in results {
        r.map_err(|(topic, code)| anyhow!("CreateTopics {topic}: {code:?}"))?;
    }
    wait_for_partitions(bootstrap, name, partitions)
}

/// Blocks until Metadata lists `topic` with exactly `partitions` partitions, each led.
pub fn wait_for_partitions(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .context("failed to create metadata client")?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(md) => {
                let found = md.topics().iter().find(|t| t.name() == topic);
                let ready = found.is_some_and(|t| {
                    t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions()
                            .iter()
                            .all(|p| p.leader() >= 0 && p.error().is_none())
                });
                if ready {
                    return Ok(());
                }
                last = format!("{:?}", found.map(|t| (t.error(), t.partitions().len())));
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("topic {topic} did not show {partitions} led partitions within 30 s (last: {last})")
}

/// Polls `consumer` until exactly `count` records arrived, then checks for `linger` more that
/// must not come. Fails (with what it saw) on a consumer error, on too few records within
/// `timeout`, or on extra records.
pub fn consume_exactly<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    count: usize,
    timeout: Duration,
    linger: Duration,
) -> anyhow::Result<Vec<Consumed>> {
    let mut out = Vec::with_capacity(count);
    let deadline = Instant::now() + timeout;
    while out.len() < count {
        if Instant::now() > deadline {
            bail!(
                "consumed {} of {count} records within {timeout:?}; got {}",
                out.len(),
                summarize(&out)
            );
        }
        poll_into(consumer, &mut out)?;
    }
    let linger_end = Instant::now() + linger;
    while Instant::now() < linger_end {
        poll_into(consumer, &mut out)?;
    }
    anyhow::ensure!(
        out.len() == count,
        "expected exactly {count} records, got {}: {}",
        out.len(),
        summarize(&out)
    );
    Ok(out)
}

/// [`consume_exactly`] for a `StreamConsumer` (async).
pub async fn stream_consume_exactly<C: rdkafka::consumer::ConsumerContext + 'static>(
    consumer: &rdkafka::consumer::StreamConsumer<C>,
    count: usize,
    timeout: Duration,
    linger: Duration,
) -> anyhow::Result<Vec<Consumed>> {
    let mut out = Vec::with_capacity(count);
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < count {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Err(_) => bail!(
                "consumed {} of {count} records within {timeout:?}; got {}",
                out.len(),
                summarize(&out)
            ),
            Ok(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
            Ok(Err(e)) => bail!("consumer error after {} records: {e}", out.len()),
            Ok(Ok(m)) => out.push(to_consumed(&m)),
        }
    }
    let linger_end = tokio::time::Instant::now() + linger;
    loop {
        match tokio::time::timeout_at(linger_end, consumer.recv()).await {
            Err(_) => break,
            Ok(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
            Ok(Err(e)) => bail!("consumer error after {} records: {e}", out.len()),
            Ok(Ok(m)) => out.push(to_consumed(&m)),
        }
    }
    anyhow::ensure!(
        out.len() == count,
        "expected exactly {count} records, got {}: {}",
        out.len(),
        summarize(&out)
    );
    Ok(out)
}

/// A consumed message as a [`Consumed`].
pub fn to_consumed<M: Message>(m: &M) -> Consumed {
    Consumed {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        value: m
            .payload()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default(),
    }
}

fn poll_into<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    out: &mut Vec<Consumed>,
) -> anyhow::Result<()> {
    match consumer.poll(Duration::from_millis(100)) {
        None => Ok(()),
        Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => Ok(()),
        Some(Err(e)) => Err(anyhow!("consumer error after {} records: {e}", out.len())),
        Some(Ok(m)) => {
            out.push(to_consumed(&m));
            Ok(())
        }
    }
}

fn summarize(records: &[Consumed]) -> String {
    let shown: Vec<String> = records
        .iter()
        .take(20)
        .map(|r| format!("p{}@{}={}", r.partition, r.offset, r.value))
        .collect();
    if records.len() > 20 {
        format!("{} … ({} total)", shown.join(", "), records.len())
    } else {
        shown.join(", ")
    }
}

/// Polls `cond` every 100 ms until it holds or `timeout` passes; `what` names the condition
/// in the error.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if cond()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
