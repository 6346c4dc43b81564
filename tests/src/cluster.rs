//! A cluster of real `fjord-broker` processes on 127.0.0.1, for the replication tests: start
//! N brokers (the first three are the metadata quorum's voters), then kill (`SIGKILL`), pause
//! (`SIGSTOP`/`SIGCONT`), restart, or cut one off from the others.
//!
//! Each broker has two listeners: `CLIENT` for clients and `INTERNAL` for the other brokers
//! (`inter.broker.listener.name=INTERNAL`). Inter-broker traffic does not go straight to
//! `INTERNAL`: every broker reaches every other one through a TCP proxy of its own (broker
//! A's view of B is the proxy `A→B`), so a test can cut a broker off from the rest in both
//! directions ([`ChildCluster::isolate`]) while clients still reach it — the split-brain
//! setup. A broker's advertised `INTERNAL` address (what fetchers and controller requests
//! dial) is a proxy shared by everyone: `isolate` cuts the isolated broker's own, and the
//! others refuse frames whose client id names the isolated broker.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::{STEP_TIMEOUT, broker_binary, free_port};

/// Brokers cut off from the others (shared by every proxy of a cluster).
pub type Isolated = Arc<std::sync::Mutex<std::collections::BTreeSet<i32>>>;

/// A TCP forwarder of Kafka frames that can be cut: while cut it refuses new connections
/// and tears down the ones it carries. It also reads the client id of every request frame
/// passing through: a broker's connections say `broker-<id>`, and frames from an isolated
/// broker are refused too — the advertised address of a broker is shared by everyone, so
/// this is how an isolated broker loses its way *out* through it.
#[derive(Debug)]
pub struct Proxy {
    /// Where it listens.
    pub port: u16,
    cut: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
    task: tokio::task::JoinHandle<()>,
}

/// The sender of a request frame, from its header's client id (`broker-<id>`).
fn sender(frame: &[u8]) -> Option<i32> {
    // api key, api version, correlation id, then the client id as a nullable INT16 string.
    let len = i16::from_be_bytes(frame.get(8..10)?.try_into().ok()?);
    let id = std::str::from_utf8(frame.get(10..10 + usize::try_from(len).ok()?)?).ok()?;
    id.strip_prefix("broker-")?.parse().ok()
}

/// Forwards request frames from `inbound` to `outbound` until either side closes or a frame
/// comes from an isolated broker.
async fn forward_requests(
    mut inbound: tokio::net::tcp::OwnedReadHalf,
    mut outbound: tokio::net::tcp::OwnedWriteHalf,
    isolated: Isolated,
) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    loop {
        let mut len = [0u8; 4];
        inbound.read_exact(&mut len).await?;
        let size = usize::try_from(i32::from_be_bytes(len).max(0)).unwrap_or(0);
        let mut frame = vec![0u8; size];
        inbound.read_exact(&mut frame).await?;
        if let Some(from) = sender(&frame)
            && isolated
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&from)
        {
            return Ok(());
        }
        outbound.write_all(&len).await?;
        outbound.write_all(&frame).await?;
    }
}

impl Proxy {
    /// Forwards `127.0.0.1:<new port>` to `target`, reading request frames (see the type).
    pub async fn start(target: SocketAddr, isolated: Isolated) -> anyhow::Result<Self> {
        Self::start_inner(target, Some(isolated)).await
    }

    /// Forwards bytes without reading them, for TLS listeners (frames are encrypted):
    /// isolation then works by cutting only.
    pub async fn start_opaque(target: SocketAddr) -> anyhow::Result<Self> {
        Self::start_inner(target, None).await
    }

    async fn start_inner(target: SocketAddr, isolated: Option<Isolated>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(generation);
        let task = tokio::spawn({
            let cut = cut.clone();
            let generation = generation.clone();
            async move {
                loop {
                    let Ok((inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    if cut.load(Ordering::Acquire) {
                        drop(inbound);
                        continue;
                    }
                    let mut torn = generation.subscribe();
                    let isolated = isolated.clone();
                    tokio::spawn(async move {
                        let Ok(outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let (mut in_read, mut in_write) = inbound.into_split();
                        let (mut out_read, mut out_write) = outbound.into_split();
                        let requests = async {
                            match isolated {
                                Some(isolated) => {
                                    let _ = forward_requests(in_read, out_write, isolated).await;
                                }
                                None => {
                                    let _ = tokio::io::copy(&mut in_read, &mut out_write).await;
                                }
                            }
                        };
                        tokio::select! {
                            _ = requests => {}
                            _ = tokio::io::copy(&mut out_read, &mut in_write) => {}
                            _ = torn.changed() => {}
                        }
                        let _ = in_write.shutdown().await;
                    });
                }
            }
        });
        Ok(Proxy {
            port,
            cut,
            generation,
            task,
        })
    }

    /// Cuts (or heals) the link.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::Release);
        if cut {
            self.tear_down();
        }
    }

    /// Closes every connection it carries (they may reconnect).
    pub fn tear_down(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One broker process of a [`ChildCluster`].
#[derive(Debug)]
pub struct Node {
    /// `node.id`.
    pub id: i32,
    /// The `CLIENT` listener's port.
    pub client_port: u16,
    /// The `INTERNAL` listener's port (reached through proxies).
    pub internal_port: u16,
    /// `fjord.http.listener` port (`/readyz`, `/metrics`).
    pub http_port: u16,
    child: Option<Child>,
    paused: bool,
    data_dir: tempfile::TempDir,
    log_dir: tempfile::TempDir,
    starts: u32,
}

/// Brokers of one cluster, as child processes.
#[derive(Debug)]
pub struct ChildCluster {
    nodes: Vec<Node>,
    /// `proxies[(from, to)]`: how `from` reaches `to`; `(0, to)` is the advertised address
    /// of `to` (everyone's way in to it).
    proxies: BTreeMap<(i32, i32), Proxy>,
    isolated: Isolated,
    binary: PathBuf,
    extra_args: Vec<String>,
    /// `broker.rack` of each broker, when racks are used.
    racks: Vec<String>,
}

impl ChildCluster {
    /// [`ChildCluster::start`] with `broker.rack=racks[i]` on broker `i + 1`.
    pub async fn start_racked(racks: &[&str], extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_inner(racks.len(), extra_args, racks).await
    }

    /// Starts `n` brokers with ids 1..=n; the first three (or all, when fewer) are voters.
    /// `extra_args` go to every broker (e.g. `["--set", "min.insync.replicas=2"]`). Returns
    /// once every broker is ready (`/readyz`).
    pub async fn start(n: usize, extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_inner(n, extra_args, &[]).await
    }

    /// [`ChildCluster::start`] for an `INTERNAL` listener with TLS (set by `extra_args`,
    /// e.g. `listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:SASL_SSL`): the
    /// proxies forward bytes without reading frames, so [`ChildCluster::isolate`] cuts
    /// links but cannot stop an isolated broker's connections through others' addresses.
    pub async fn start_tls(n: usize, extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_proxies(n, extra_args, &[], true).await
    }

    async fn start_inner(n: usize, extra_args: &[&str], racks: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_proxies(n, extra_args, racks, false).await
    }

    async fn start_with_proxies(
        n: usize,
        extra_args: &[&str],
        racks: &[&str],
        opaque: bool,
    ) -> anyhow::Result<Self> {
        let binary = broker_binary()?;
        let mut nodes = Vec::new();
        for id in 1..=n as i32 {
            nodes.push(Node {
                id,
                client_port: free_port()?,
                internal_port: free_port()?,
                http_port: free_port()?,
                child: None,
                paused: false,
                data_dir: tempfile::Builder::new()
                    .prefix(&format!("fjord-n{id}-"))
                    .tempdir()?,
                log_dir: tempfile::Builder::new()
                    .prefix(&format!("fjord-n{id}-log-"))
                    .tempdir()?,
                starts: 0,
            });
        }
        let mut proxies = BTreeMap::new();
        let isolated = Isolated::default();
        let proxy = |target: SocketAddr, isolated: Isolated| async move {
            if opaque {
                Proxy::start_opaque(target).await
            } else {
                Proxy::start(target, isolated).await
            }
        };
        for to in &nodes {
            let target: SocketAddr = ([127, 0, 0, 1], to.internal_port).into();
            proxies.insert((0, to.id), proxy(target, isolated.clone()).await?);
            for from in &nodes {
                if from.id != to.id {
                    proxies.insert((from.id, to.id), proxy(target, isolated.clone()).await?);
                }
            }
        }
        let mut cluster = ChildCluster {
            nodes,
            proxies,
            isolated,
            binary,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            racks: racks.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..cluster.nodes.len() {
            cluster.launch(i)?;
        }
        for i in 0..cluster.nodes.len() {
            cluster.wait_ready(cluster.nodes[i].id).await?;
        }
        Ok(cluster)
    }

    /// The brokers.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Every broker's client address, comma-separated, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// One broker's client address.
    pub fn client_addr(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.node(id).client_port)
    }

    fn node(&self, id: i32) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    fn voters(&self, from: i32) -> String {
        self.nodes
            .iter()
            .take(3)
            .map(|v| {
                let port = if v.id == from {
                    v.internal_port
                } else {
                    self.proxies[&(from, v.id)].port
                };
                format!("{}@127.0.0.1:{port}", v.id)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn launch(&mut self, index: usize) -> anyhow::Result<()> {
        let id = self.nodes[index].id;
        let voters = self.voters(id);
        let advertised_internal = self.proxies[&(0, id)].port;
        let rack: Vec<String> = match self.racks.get(index) {
            Some(r) => vec!["--set".into(), format!("broker.rack={r}")],
            None => Vec::new(),
        };
        let node = &mut self.nodes[index];
        node.starts += 1;
        let log_path = node
            .log_dir
            .path()
            .join(format!("stderr-{}.log", node.starts));
        let log = std::fs::File::create(&log_path).context("failed to create a broker log")?;
        let child = Command::new(&self.binary)
            .arg("--data-dir")
            .arg(node.data_dir.path())
            .arg("--node-id")
            .arg(id.to_string())
            .arg("--listeners")
            .arg(format!(
                "CLIENT://127.0.0.1:{},INTERNAL://127.0.0.1:{}",
                node.client_port, node.internal_port
            ))
            .arg("--advertised-listeners")
            .arg(format!(
                "CLIENT://127.0.0.1:{},INTERNAL://127.0.0.1:{advertised_internal}",
                node.client_port
            ))
            .args([
                "--set",
                "listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT",
                "--set",
                "inter.broker.listener.name=INTERNAL",
                "--set",
                &format!("controller.quorum.voters={voters}"),
                "--set",
                &format!("fjord.http.listener=127.0.0.1:{}", node.http_port),
                "--set",
                "group.initial.rebalance.delay.ms=0",
            ])
            .args(&rack)
            .args(&self.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("FJORD_TEST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("failed to run {}", self.binary.display()))?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Waits until broker `id` answers `/readyz` with 200 (registered and unfenced).
    pub async fn wait_ready(&mut self, id: i32) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT * 2;
        loop {
            if readyz(self.node(id).http_port).await {
                return Ok(());
            }
            let index = (id - 1) as usize;
            if let Some(child) = self.nodes[index].child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.nodes[index].child = None;
                bail!(
                    "broker {id} exited with {status}; stderr:\n{}",
                    self.stderr(id)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "broker {id} not ready within 60 s; stderr:\n{}",
                    self.stderr(id)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9` broker `id`.
    pub fn kill9(&mut self, id: i32) -> anyhow::Result<()> {
        let node = &mut self.nodes[(id - 1) as usize];
        if let Some(mut child) = node.child.take() {
            if node.paused {
                signal(&child, "CONT")?;
            }
            child.kill().context("SIGKILL failed")?;
            child.wait().context("reaping the broker failed")?;
        }
        node.paused = false;
        Ok(())
    }

    /// SIGTERM broker `id` and wait for a clean exit (controlled shutdown).
    pub fn terminate(&mut self, id: i32) -> anyhow::Result<()> {
        let node = &mut self.nodes[(id - 1) as usize];
        let Some(mut child) = node.child.take() else {
            return Ok(());
        };
        if node.paused {
            signal(&child, "CONT")?;
            node.paused = false;
        }
        signal(&child, "TERM")?;
        let deadline = Instant::now() + STEP_TIMEOUT * 2;
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::ensure!(status.success(), "broker {id} exited with {status}");
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("broker {id} did not exit within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGSTOP broker `id` (it stops heartbeating and answering; its sockets stay open).
    pub fn pause(&mut self, id: i32) -> anyhow::Result<()> {
        let node = &mut self.nodes[(id - 1) as usize];
        if let Some(child) = &node.child
            && !node.paused
        {
            signal(child, "STOP")?;
            node.paused = true;
        }
        Ok(())
    }

    /// SIGCONT a paused broker.
    pub fn resume(&mut self, id: i32) -> anyhow::Result<()> {
        let node = &mut self.nodes[(id - 1) as usize];
        if let Some(child) = &node.child
            && node.paused
        {
            signal(child, "CONT")?;
            node.paused = false;
        }
        Ok(())
    }

    /// Starts broker `id` again on its data dir (after a kill or terminate), and waits for
    /// it to be ready.
    pub async fn restart(&mut self, id: i32) -> anyhow::Result<()> {
        self.kill9(id)?;
        self.launch((id - 1) as usize)?;
        self.wait_ready(id).await
    }

    /// Whether broker `id` runs (not killed; paused counts as running).
    pub fn is_running(&self, id: i32) -> bool {
        self.node(id).child.is_some()
    }

    /// Cuts broker `id` off from every other broker, both ways (clients still reach it).
    pub fn isolate(&self, id: i32) {
        self.set_links(id, true);
    }

    /// Undoes [`ChildCluster::isolate`].
    pub fn heal(&self, id: i32) {
        self.set_links(id, false);
    }

    fn set_links(&self, id: i32, cut: bool) {
        {
            let mut isolated = self.isolated.lock().unwrap_or_else(|p| p.into_inner());
            if cut {
                isolated.insert(id);
            } else {
                isolated.remove(&id);
            }
        }
        for ((from, to), proxy) in &self.proxies {
            if *from == id || *to == id {
                proxy.set_cut(cut);
            } else if cut && *from == 0 {
                // The isolated broker's own connections through others' shared addresses.
                proxy.tear_down();
            }
        }
    }

    /// Everything broker `id` wrote to stderr, across its starts.
    pub fn stderr(&self, id: i32) -> String {
        let node = self.node(id);
        let mut out = String::new();
        for i in 1..=node.starts {
            let text = std::fs::read_to_string(node.log_dir.path().join(format!("stderr-{i}.log")))
                .unwrap_or_default();
            out.push_str(&format!("----- broker {id} start {i} -----\n{text}"));
        }
        out
    }

    /// The last lines of every broker's stderr (for failure messages).
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let all = self.stderr(n.id);
            let tail: Vec<&str> = all.lines().rev().take(lines).collect();
            out.push_str(&format!("===== broker {} =====\n", n.id));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// A broker's data directory.
    pub fn data_dir(&self, id: i32) -> &Path {
        self.node(id).data_dir.path()
    }

    /// Scrapes broker `id`'s `/metrics` and sums the series of `name` whose labels contain
    /// `labels` (e.g. `topic="t"`).
    pub async fn metric_sum(&self, id: i32, name: &str, labels: &str) -> f64 {
        let Some((_, text)) = http_get(self.node(id).http_port, "/metrics").await else {
            return 0.0;
        };
        text.lines()
            .filter(|l| {
                l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(labels)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Scrapes broker `id`'s `/metrics` and returns the value of an unlabelled series.
    pub async fn metric(&self, id: i32, name: &str) -> Option<f64> {
        let text = http_get(self.node(id).http_port, "/metrics").await?.1;
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for ChildCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut child) = n.child.take() {
                if n.paused {
                    let _ = signal(&child, "CONT");
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // FJORD_KEEP_LOGS=DIR keeps every broker's whole log (the failure messages only
        // carry tails), DIR/<pid>-<first client port>/broker-<id>.log, and its data directory
        // (segments, leader-epoch checkpoints: what a lost record's replicas held), data-<id>.
        if let Some(dir) = std::env::var_os("FJORD_KEEP_LOGS") {
            let first = self.nodes.first().map_or(0, |n| n.client_port);
            let dir = PathBuf::from(dir).join(format!("{}-{first}", std::process::id()));
            if std::fs::create_dir_all(&dir).is_ok() {
                for n in &self.nodes {
                    let _ =
                        std::fs::write(dir.join(format!("broker-{}.log", n.id)), self.stderr(n.id));
                    if let Err(e) = copy_dir(n.data_dir.path(), &dir.join(format!("data-{}", n.id)))
                    {
                        eprintln!("could not keep broker {}'s data directory: {e}", n.id);
                    }
                }
                eprintln!("broker logs and data kept in {}", dir.display());
            }
        }
    }
}

/// Copies the directory tree `from` to `to` (regular files and directories only).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn signal(child: &Child, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .context("failed to run kill")?;
    anyhow::ensure!(status.success(), "kill -{name} failed");
    Ok(())
}

async fn readyz(port: u16) -> bool {
    matches!(http_get(port, "/readyz").await, Some((200, _)))
}

/// A minimal HTTP/1.0 GET (status and body), with a short timeout.
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let fetch = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).to_string();
        let status: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(2), fetch)
        .await
        .ok()
        .flatten()
}
