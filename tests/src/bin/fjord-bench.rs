//! `fjord-bench`: produce and consume throughput of Fjord, measured with librdkafka.
//!
//! For every record size it produces N records to a *sink* broker (a Fjord broker started
//! with `fjord.bench.sink=true`, which acknowledges Produce without storing anything, so its
//! throughput is the ceiling of this machine, client and network path), then the same N
//! records to a real Fjord broker, then consumes them back from the real broker, and prints
//! a table comparing the three.
//!
//! ```text
//! cargo run --release -p fjord-tests --bin fjord-bench -- --records 100000
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

const AFTER_HELP: &str = "\
WHAT IS MEASURED
  For every --sizes value, three phases run one after another:
    sink produce   N records to the SINK broker
    fjord produce  N records to the real Fjord broker
    fjord consume  the same N records back from the real broker
  Produce throughput runs from the first send to the last delivery report; delivery
  latency is the time from send() to the delivery callback, so it includes the time a
  record waits in librdkafka's queue (lower --queue-messages to bound that).
  Consume throughput runs from assign() (after a metadata warm-up) to the N-th record,
  taken from librdkafka in batches (--consumer-api batch, the default) or one poll() per
  record (--consumer-api poll). MB = 10^6 payload bytes.

THE SINK
  The sink is a Fjord broker started with `fjord.bench.sink=true`: it reads every Produce
  request (counting the records of its batches) and acknowledges it with made-up offsets,
  but stores nothing. Its
  throughput is therefore the ceiling set by this machine, librdkafka, the network stack and
  Fjord's request path; `fjord/sink` shows how much of that ceiling the real log keeps.

BROKERS
  Without --bootstrap, two brokers (sink and real) run in this process, on a tokio runtime
  of their own (--broker-threads workers, in a separate thread) over temporary directories
  that are deleted at exit. With --bootstrap the real phases target that broker, and the
  sink phase runs only if --sink-bootstrap is given too.

  Set RUST_LOG (e.g. RUST_LOG=fjord_broker=debug) to see the in-process brokers' logs.";

/// Benchmark of Fjord's produce and consume paths with librdkafka clients.
#[derive(Parser, Debug, Clone)]
#[command(name = "fjord-bench", version, after_help = AFTER_HELP)]
struct Args {
    /// Benchmark an already running broker at HOST:PORT instead of starting one in-process.
    #[arg(long, env = "FJORD_BENCH_BOOTSTRAP", value_name = "HOST:PORT")]
    bootstrap: Option<String>,

    /// With --bootstrap: a running broker started with fjord.bench.sink=true, for the sink
    /// phase. Without it the sink phase is skipped when --bootstrap is given.
    #[arg(long, value_name = "HOST:PORT", requires = "bootstrap")]
    sink_bootstrap: Option<String>,

    /// How clients reach the in-process real broker: plaintext, or sasl_ssl (TLS with a
    /// test CA and SCRAM-SHA-256), to measure what security costs. The sink stays plaintext.
    #[arg(long, default_value = "plaintext", value_parser = ["plaintext", "sasl_ssl"], conflicts_with = "bootstrap")]
    security: String,

    /// Skip the sink phase (and do not start the in-process sink broker).
    #[arg(long)]
    no_sink: bool,

    /// Record (value) sizes in bytes, comma-separated; each size gets its own table.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,1024",
        value_name = "BYTES"
    )]
    sizes: Vec<usize>,

    /// Records produced (and consumed) per phase and size.
    #[arg(long, short = 'n', default_value_t = 1_000_000)]
    records: u64,

    /// Partitions of each benchmark topic (one topic per size and broker).
    #[arg(long, default_value_t = 4)]
    partitions: i32,

    /// Replication factor of the benchmark topic (with --bootstrap pointing at a cluster:
    /// 3 measures replicated produce, acks=all waiting for the in-sync replicas).
    #[arg(long, default_value_t = 1, value_name = "N")]
    replication_factor: i32,

    /// Producer compression.type.
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    compression: String,

    /// Producer acks (all, 1 or 0).
    #[arg(long, default_value = "all", value_parser = ["all", "-1", "1", "0"])]
    acks: String,

    /// Producer linger.ms: how long librdkafka waits to fill a batch.
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,

    /// Producer batch.size in bytes (largest batch per partition).
    #[arg(long, default_value_t = 1_048_576)]
    batch_size: u64,

    /// Producer queue.buffering.max.messages: records librdkafka may hold unacknowledged.
    /// A large queue maximises throughput; delivery latency then includes queueing.
    #[arg(long, default_value_t = 1_000_000)]
    queue_messages: u64,

    /// Consumer fetch.max.bytes (max.partition.fetch.bytes is a quarter of it, at least
    /// 1 MiB). The default gives librdkafka's own 1 MiB per partition: smaller responses let
    /// the broker build the next one while the client decodes the last, where 16 MiB per
    /// partition serialises the two (measured: 1.7 vs 1.6 M records/s at 100 B).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    fetch_max_bytes: u64,

    /// How the consumer takes records from librdkafka: `batch` drains its queue with
    /// rd_kafka_consume_batch_queue, up to 10,000 records per call in one thread (as
    /// librdkafka's own rdkafka_performance does); `poll` takes one record per poll() call,
    /// one thread per partition queue.
    #[arg(long, default_value = "batch", value_parser = ["batch", "poll"])]
    consumer_api: String,

    /// Worker threads of the in-process brokers' tokio runtime.
    #[arg(long, default_value_t = 2)]
    broker_threads: usize,

    /// librdkafka debug contexts for every client (e.g. "broker,fetch,msg"), printed to stderr.
    #[arg(long, value_name = "CONTEXTS")]
    rdkafka_debug: Option<String>,

    /// Abort with an error when any single phase (start-up, topic creation, produce,
    /// consume) takes longer than this.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn main() {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(&args) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("fjord-bench: error: {e:#}");
            // Exit without dropping clients or brokers that may be stuck.
            std::process::exit(1);
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    if args.records == 0 {
        bail!("--records must be positive");
    }
    if args.partitions <= 0 {
        bail!("--partitions must be positive");
    }
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        bail!("--sizes must list positive sizes");
    }
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let _ = RDKAFKA_DEBUG.set(args.rdkafka_debug.clone());
    PROCESS_START.get_or_init(Instant::now);
    print_machine(args);

    let brokers = match &args.bootstrap {
        Some(b) => Brokers {
            sink: if args.no_sink {
                None
            } else {
                args.sink_bootstrap.clone()
            },
            real: b.clone(),
            host: None,
        },
        None => start_brokers(args, timeout)?,
    };
    println!("real broker: {}", brokers.real);
    println!(
        "sink broker: {}",
        brokers.sink.as_deref().unwrap_or("(skipped)")
    );
    println!();

    // Async admin calls run here, never on the brokers' workers.
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to build the client runtime")?;

    let run_id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    );
    let mut results = Vec::new();
    for &size in &args.sizes {
        let payload = make_payload(size);
        let sink = match &brokers.sink {
            Some(bs) => {
                let topic = format!("fjord-bench-sink-{size}-{run_id}");
                phase(timeout, "create sink topic", || {
                    create_topic(&client_rt, bs, &topic, args, 1, timeout)
                })?;
                Some(
                    produce(args, bs, &topic, &payload, timeout)
                        .with_context(|| format!("sink produce, {size} B records"))?,
                )
            }
            None => None,
        };
        let topic = format!("fjord-bench-{size}-{run_id}");
        phase(timeout, "create topic", || {
            create_topic(
                &client_rt,
                &brokers.real,
                &topic,
                args,
                args.replication_factor,
                timeout,
            )
        })?;
        let real = produce(args, &brokers.real, &topic, &payload, timeout)
            .with_context(|| format!("fjord produce, {size} B records"))?;
        let consumed = consume(args, &brokers.real, &topic, timeout)
            .with_context(|| format!("fjord consume, {size} B records"))?;
        let result = SizeResult {
            size,
            sink,
            real,
            consumed,
        };
        print_size(args, &result);
        results.push(result);
    }
    print_summary(&results);

    if let Some(host) = brokers.host {
        host.stop(timeout)?;
    }
    Ok(())
}

/// Runs `f`, failing if it took longer than `timeout` (for steps that bound themselves).
fn phase<T>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    let out = f().with_context(|| format!("phase {what:?} failed"))?;
    if start.elapsed() > timeout {
        bail!(
            "phase {what:?} exceeded --timeout-secs ({} s)",
            timeout.as_secs()
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Machine facts and output
// ---------------------------------------------------------------------------------------

fn print_machine(args: &Args) {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let (_, rdk) = rdkafka::util::get_rdkafka_version();
    println!("== fjord-bench ==");
    println!(
        "machine: nproc={nproc}  cpu={cpu}  mem={mem}  kernel={kernel}  {}",
        if cfg!(debug_assertions) {
            "build=DEBUG (numbers are meaningless; use --release)"
        } else {
            "build=release"
        }
    );
    println!(
        "client:  librdkafka {rdk}  acks={}  linger.ms={}  batch.size={}  compression={}  queue.buffering.max.messages={}",
        args.acks, args.linger_ms, args.batch_size, args.compression, args.queue_messages
    );
    println!(
        "run:     records={}  sizes={:?}  partitions={}  broker threads={}  timeout={} s/phase",
        args.records,
        args.sizes,
        args.partitions,
        if args.bootstrap.is_some() {
            "external".to_string()
        } else {
            args.broker_threads.to_string()
        },
        args.timeout_secs
    );
}

struct SizeResult {
    size: usize,
    sink: Option<ProduceResult>,
    real: ProduceResult,
    consumed: ConsumeResult,
}

fn print_size(args: &Args, r: &SizeResult) {
    println!(
        "--- record size {} B, {} records, {} partitions, compression {} ---",
        r.size, args.records, args.partitions, args.compression
    );
    println!(
        "{:<15} {:>12} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "phase", "records/s", "MB/s", "p50 ms", "p99 ms", "p999 ms", "secs"
    );
    let produce_row = |name: &str, p: &ProduceResult| {
        println!(
            "{:<15} {:>12} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>8.2}",
            name,
            group_digits(p.rate.records_per_sec()),
            p.rate.mb_per_sec(),
            p.p50_ms,
            p.p99_ms,
            p.p999_ms,
            p.rate.elapsed.as_secs_f64()
        )
    };
    match &r.sink {
        Some(s) => produce_row("sink produce", s),
        None => println!("{:<15} {:>12}", "sink produce", "skipped"),
    }
    produce_row("fjord produce", &r.real);
    println!(
        "{:<15} {:>12} {:>9.1} {:>9} {:>9} {:>9} {:>8.2}",
        "fjord consume",
        group_digits(r.consumed.rate.records_per_sec()),
        r.consumed.rate.mb_per_sec(),
        "-",
        "-",
        "-",
        r.consumed.rate.elapsed.as_secs_f64()
    );
    match &r.sink {
        Some(s) => println!(
            "fjord/sink produce throughput: {:.1} %",
            100.0 * r.real.rate.records_per_sec() / s.rate.records_per_sec().max(f64::MIN_POSITIVE)
        ),
        None => println!("fjord/sink produce throughput: n/a (no sink)"),
    }
    let c = r.consumed.rate.records_per_sec();
    let p = r.real.rate.records_per_sec();
    println!(
        "consume rate > produce rate: {} ({:.2}x)",
        if c > p { "yes" } else { "NO" },
        c / p.max(f64::MIN_POSITIVE)
    );
    println!(
        "consume timing includes {:.0} ms from assign() to the first record",
        r.consumed.first.as_secs_f64() * 1e3
    );
    println!();
}

fn print_summary(results: &[SizeResult]) {
    if results.len() < 2 {
        return;
    }
    println!("--- summary ---");
    println!(
        "{:>8} {:>12} {:>12} {:>10} {:>12} {:>10}",
        "size B", "sink rec/s", "fjord rec/s", "fjord/sink", "consume r/s", "cons>prod"
    );
    for r in results {
        let ratio = r
            .sink
            .as_ref()
            .map(|s| {
                format!(
                    "{:.1} %",
                    100.0 * r.real.rate.records_per_sec()
                        / s.rate.records_per_sec().max(f64::MIN_POSITIVE)
                )
            })
            .unwrap_or_else(|| "n/a".into());
        println!(
            "{:>8} {:>12} {:>12} {:>10} {:>12} {:>10}",
            r.size,
            r.sink
                .as_ref()
                .map(|s| group_digits(s.rate.records_per_sec()))
                .unwrap_or_else(|| "skipped".into()),
            group_digits(r.real.rate.records_per_sec()),
            ratio,
            group_digits(r.consumed.rate.records_per_sec()),
            if r.consumed.rate.records_per_sec() > r.real.rate.records_per_sec() {
                "yes"
            } else {
                "NO"
            }
        );
    }
    println!();
}

fn group_digits(v: f64) -> String {
    let n = v.round().max(0.0) as u64;
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Records and bytes over a duration.
#[derive(Debug, Clone, Copy)]
struct Rate {
    records: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Rate {
    fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Pseudo-random bytes, so that compression has to work (a constant payload would not).
fn make_payload(size: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Printable text-ish bytes: somewhat compressible, like real payloads.
            b'a' + (x % 26) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// In-process brokers
// ---------------------------------------------------------------------------------------

struct Brokers {
    sink: Option<String>,
    real: String,
    host: Option<BrokerHost>,
}

/// The thread running the brokers' runtime.
struct BrokerHost {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<anyhow::Result<()>>,
}

impl BrokerHost {
    fn stop(self, timeout: Duration) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let deadline = Instant::now() + timeout;
        while !self.thread.is_finished() {
            if Instant::now() > deadline {
                bail!(
                    "broker shutdown exceeded --timeout-secs ({} s)",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.thread
            .join()
            .map_err(|_| anyhow!("broker thread panicked"))?
    }
}

/// The user `--security sasl_ssl` clients authenticate as.
const BENCH_USER: (&str, &str) = ("bench", "bench-secret");

/// Extra client settings for a bootstrap address (`--security sasl_ssl` adds TLS and SCRAM
/// for the real broker's address; the sink has none).
static CLIENT_SECURITY: std::sync::OnceLock<(String, Vec<(String, String)>)> =
    std::sync::OnceLock::new();

fn broker_config(
    dir: &std::path::Path,
    sink: bool,
    tls: Option<&fjord_tests::secure::TlsFiles>,
) -> anyhow::Result<fjord_broker::config::BrokerConfig> {
    let mut map = BTreeMap::new();
    map.insert("log.dirs".to_string(), dir.display().to_string());
    map.insert(
        "listeners".to_string(),
        "PLAINTEXT://127.0.0.1:0".to_string(),
    );
    if let Some(tls) = tls {
        map.insert("listeners".into(), "SASL_SSL://127.0.0.1:0".into());
        map.insert(
            "ssl.keystore.location".into(),
            tls.keystore.display().to_string(),
        );
        map.insert(
            "fjord.bootstrap.users".into(),
            format!("{}:{}", BENCH_USER.0, BENCH_USER.1),
        );
    }
    map.insert(
        "group.initial.rebalance.delay.ms".to_string(),
        "0".to_string(),
    );
    if sink {
        map.insert("fjord.bench.sink".to_string(), "true".to_string());
    }
    fjord_broker::config::BrokerConfig::from_map(map)
        .map_err(|e| anyhow!("invalid broker config: {e}"))
}

/// Starts the sink (unless `--no-sink`) and the real broker on a runtime of their own.
fn start_brokers(args: &Args, timeout: Duration) -> anyhow::Result<Brokers> {
    let threads = args.broker_threads.max(1);
    let with_sink = !args.no_sink;
    let tls = match args.security.as_str() {
        "sasl_ssl" => Some(fjord_tests::secure::TlsFiles::generate()?),
        _ => None,
    };
    let ca = tls.as_ref().map(|t| t.ca.display().to_string());
    let (ready_tx, ready_rx) =
        std::sync::mpsc::channel::<anyhow::Result<(Option<String>, String)>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("fjord-brokers".into())
        .spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("fjord-broker-worker")
                .enable_all()
                .build()
                .context("failed to build the brokers' runtime")?;
            rt.block_on(async move {
                let started = async {
                    let real_dir = tempfile::Builder::new()
                        .prefix("fjord-bench-real-")
                        .tempdir()?;
                    let real = fjord_broker::server::spawn(broker_config(
                        real_dir.path(),
                        false,
                        tls.as_ref(),
                    )?)
                    .await
                    .map_err(|e| anyhow!("failed to start the real broker: {e}"))?;
                    let sink = if with_sink {
                        let sink_dir = tempfile::Builder::new()
                            .prefix("fjord-bench-sink-")
                            .tempdir()?;
                        let sink = fjord_broker::server::spawn(broker_config(
                            sink_dir.path(),
                            true,
                            None,
                        )?)
                        .await
                        .map_err(|e| anyhow!("failed to start the sink broker: {e}"))?;
                        Some((sink_dir, sink))
                    } else {
                        None
                    };
                    anyhow::Ok((real_dir, real, sink))
                };
                let (real_dir, real, sink) = match started.await {
                    Ok(v) => v,
                    Err(e) => {
                        let msg = format!("{e:#}");
                        let _ = ready_tx.send(Err(e));
                        bail!("{msg}");
                    }
                };
                let _ = ready_tx.send(Ok((
                    sink.as_ref().map(|(_, h)| h.bootstrap()),
                    real.bootstrap(),
                )));
                let _ = stop_rx.await;
                let mut errors = Vec::new();
                if let Some((_dir, sink)) = sink
                    && let Err(e) = sink.shutdown().await
                {
                    errors.push(format!("sink broker shutdown: {e}"));
                }
                if let Err(e) = real.shutdown().await {
                    errors.push(format!("real broker shutdown: {e}"));
                }
                drop(real_dir);
                if !errors.is_empty() {
                    bail!("{}", errors.join("; "));
                }
                Ok(())
            })
        })
        .context("failed to spawn the brokers' thread")?;
    let (sink, real) = match ready_rx.recv_timeout(timeout) {
        Ok(r) => r?,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            bail!(
                "broker start-up exceeded --timeout-secs ({} s)",
                timeout.as_secs()
            )
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            return Err(match thread.join() {
                Ok(Err(e)) => e,
                _ => anyhow!("the brokers' thread ended before the brokers started"),
            });
        }
    };
    if let Some(ca) = ca {
        let settings = [
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca.as_str()),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", BENCH_USER.0),
            ("sasl.password", BENCH_USER.1),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let _ = CLIENT_SECURITY.set((real.clone(), settings.to_vec()));
    }
    Ok(Brokers {
        sink,
        real,
        host: Some(BrokerHost {
            stop: stop_tx,
            thread,
        }),
    })
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

/// Prints librdkafka's warnings and errors to stderr (the `log` crate is not wired up).
#[derive(Clone, Default)]
struct BenchContext;

fn print_rdkafka_log(level: RDKafkaLogLevel, fac: &str, msg: &str) {
    // librdkafka only emits what the client's log level allows: warnings and worse unless
    // --rdkafka-debug is given.
    let t = PROCESS_START
        .get_or_init(Instant::now)
        .elapsed()
        .as_secs_f64();
    eprintln!("[{t:9.3}s librdkafka {level:?}] {fac}: {msg}");
}

/// Time base of librdkafka log lines.
static PROCESS_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// librdkafka `debug` contexts from --rdkafka-debug.
static RDKAFKA_DEBUG: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

impl ClientContext for BenchContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        print_rdkafka_log(level, fac, msg);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("[librdkafka error] {error}: {reason}");
    }
}

impl ConsumerContext for BenchContext {}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "fjord-bench");
    if let Some((addr, settings)) = CLIENT_SECURITY.get()
        && addr == bootstrap
    {
        for (k, v) in settings {
            c.set(k, v);
        }
    }
    // rust-rdkafka applies this level, not the `log_level` property.
    c.set_log_level(RDKafkaLogLevel::Warning);
    if let Some(Some(debug)) = RDKAFKA_DEBUG.get() {
        c.set("debug", debug);
        c.set_log_level(RDKafkaLogLevel::Debug);
    }
    c
}

fn create_topic(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    topic: &str,
    args: &Args,
    replication_factor: i32,
    timeout: Duration,
) -> anyhow::Result<()> {
    let admin: AdminClient<BenchContext> = client_config(bootstrap)
        .create_with_context(BenchContext)
        .context("failed to create the admin client")?;
    let new_topic = NewTopic::new(
        topic,
        args.partitions,
        TopicReplication::Fixed(replication_factor),
    );
    let opts = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = rt
        .block_on(async {
            tokio::time::timeout(timeout, admin.create_topics([&new_topic], &opts)).await
        })
        .map_err(|_| {
            anyhow!(
                "CreateTopics {topic} exceeded --timeout-secs ({} s)",
                timeout.as_secs()
            )
        })?
        .with_context(|| format!("CreateTopics {topic} failed"))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => bail!("CreateTopics {t}: {code:?}"),
        }
    }
    // Wait until metadata shows every partition with a leader.
    let md_client: BaseConsumer<BenchContext> = client_config(bootstrap)
        .set("allow.auto.create.topics", "false")
        .create_with_context(BenchContext)
        .context("failed to create the metadata client")?;
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match md_client.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(md) => {
                let found = md.topics().iter().find(|t| t.name() == topic);
                if found.is_some_and(|t| {
                    t.error().is_none()
                        && t.partitions().len() == args.partitions as usize
                        && t.partitions()
                            .iter()
                            .all(|p| p.leader() >= 0 && p.error().is_none())
                }) {
                    return Ok(());
                }
                last = format!("{:?}", found.map(|t| (t.error(), t.partitions().len())));
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "topic {topic} did not show {} led partitions in time (last: {last})",
        args.partitions
    )
}

/// Delivery bookkeeping shared with the producer's polling thread.
struct DeliveryStats {
    /// Send instants are nanoseconds since this.
    epoch: Instant,
    histogram: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    /// Nanoseconds since `epoch` of the latest delivery report.
    last_ns: AtomicU64,
    first_error: Mutex<Option<String>>,
}

struct ProducerCtx {
    stats: Arc<DeliveryStats>,
}

impl ClientContext for ProducerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        print_rdkafka_log(level, fac, msg);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("[librdkafka error] {error}: {reason}");
    }
}

impl ProducerContext for ProducerCtx {
    /// Nanoseconds since `DeliveryStats::epoch` at send().
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now_ns = self.stats.epoch.elapsed().as_nanos() as u64;
        match result {
            Ok(_) => {
                let micros = now_ns.saturating_sub(sent_ns as u64) / 1_000;
                self.stats
                    .histogram
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .saturating_record(micros.max(1));
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                let mut first = self
                    .stats
                    .first_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    *first = Some(e.to_string());
                }
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.stats.last_ns.fetch_max(now_ns, Ordering::Relaxed);
    }
}

struct ProduceResult {
    rate: Rate,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
}

fn produce(
    args: &Args,
    bootstrap: &str,
    topic: &str,
    payload: &[u8],
    timeout: Duration,
) -> anyhow::Result<ProduceResult> {
    let histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .context("failed to create the histogram")?;
    let stats = Arc::new(DeliveryStats {
        epoch: Instant::now(),
        histogram: Mutex::new(histogram),
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    let producer: ThreadedProducer<ProducerCtx> = client_config(bootstrap)
        .set("acks", &args.acks)
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", args.batch_size.to_string())
        .set("batch.num.messages", "1000000")
        .set("compression.type", &args.compression)
        .set(
            "queue.buffering.max.messages",
            args.queue_messages.to_string(),
        )
        .set("queue.buffering.max.kbytes", "2097151")
        .set(
            "message.max.bytes",
            (args.batch_size + 1024 * 1024).to_string(),
        )
        .set(
            "message.timeout.ms",
            timeout.as_millis().min(i32::MAX as u128).to_string(),
        )
        .set("enable.idempotence", "false")
        .create_with_context(ProducerCtx {
            stats: stats.clone(),
        })
        .context("failed to create the producer")?;
    // Connect and learn the topic's leaders before the clock starts.
    producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10).min(timeout))
        .with_context(|| format!("metadata for {topic} failed"))?;

    let n = args.records;
    let deadline = Instant::now() + timeout;
    let start_ns = stats.epoch.elapsed().as_nanos() as u64;
    let check = |phase: &str| -> anyhow::Result<()> {
        if stats.failed.load(Ordering::Relaxed) > 0 {
            let err = stats
                .first_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            bail!(
                "{} of {n} records failed delivery while {phase}; first error: {}",
                stats.failed.load(Ordering::Relaxed),
                err.unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "produce exceeded --timeout-secs ({} s) while {phase}: {} of {n} records acknowledged",
                timeout.as_secs(),
                stats.delivered.load(Ordering::Relaxed)
            );
        }
        Ok(())
    };
    let mut i = 0u64;
    while i < n {
        let sent_ns = stats.epoch.elapsed().as_nanos() as usize;
        let record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, sent_ns).payload(payload);
        match producer.send(record) {
            Ok(()) => i += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                if i.is_multiple_of(1024) {
                    check("sending")?;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err((e, _)) => bail!("send failed after {i} records: {e}"),
        }
        if i.is_multiple_of(65_536) {
            check("sending")?;
        }
    }
    loop {
        check("waiting for acknowledgements")?;
        let done = stats.delivered.load(Ordering::Relaxed) + stats.failed.load(Ordering::Relaxed);
        if done >= n {
            break;
        }
        // flush() also serves delivery callbacks; the polling thread does the same.
        let _ = producer.flush(Timeout::After(Duration::from_millis(100)));
    }
    check("finishing")?;
    let elapsed = Duration::from_nanos(
        stats
            .last_ns
            .load(Ordering::Relaxed)
            .saturating_sub(start_ns),
    );
    let h = stats.histogram.lock().unwrap_or_else(|e| e.into_inner());
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    Ok(ProduceResult {
        rate: Rate {
            records: n,
            bytes: n * payload.len() as u64,
            elapsed,
        },
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
    })
}

struct ConsumeResult {
    rate: Rate,
    /// From assign() to the first record (connection, ListOffsets, first Fetch).
    first: Duration,
}

fn consume(
    args: &Args,
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<ConsumeResult> {
    let fetch_max = args.fetch_max_bytes.max(1024 * 1024);
    let consumer: BaseConsumer<BenchContext> = client_config(bootstrap)
        // librdkafka's assign() needs a group.id, but assign() never joins the group and
        // nothing is committed: no group coordination is involved.
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", fetch_max.to_string())
        .set(
            "max.partition.fetch.bytes",
            (fetch_max / 4).max(1024 * 1024).to_string(),
        )
        .set(
            "receive.message.max.bytes",
            (fetch_max + 1024 * 1024).to_string(),
        )
        .set("queued.max.messages.kbytes", "1048576")
        .set("queued.min.messages", "1000000")
        .set("fetch.wait.max.ms", "100")
        .set("check.crcs", "false")
        .create_with_context(BenchContext)
        .context("failed to create the consumer")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..args.partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    // Connect and learn the leaders before the clock starts; otherwise librdkafka's first
    // ListOffsets finds no leader and retries only after a 500 ms backoff.
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10).min(timeout))
        .with_context(|| format!("metadata for {topic} failed"))?;
    let n = args.records;
    let deadline = Instant::now() + timeout;
    if args.consumer_api == "batch" {
        return consume_batches(&consumer, &tpl, n, deadline, timeout);
    }
    let consumer = std::sync::Arc::new(consumer);
    let start = Instant::now();
    consumer.assign(&tpl).context("assign failed")?;
    // One librdkafka partition queue per partition, each drained by its own thread (the
    // usual way to consume fast with librdkafka); the main queue still serves callbacks.
    let queues = (0..args.partitions)
        .map(|p| {
            consumer
                .split_partition_queue(topic, p)
                .ok_or_else(|| anyhow!("no queue for partition {p}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let count = std::sync::Arc::new(AtomicU64::new(0));
    let bytes = std::sync::Arc::new(AtomicU64::new(0));
    let last_ns = std::sync::Arc::new(AtomicU64::new(0));
    let first_ns = std::sync::Arc::new(AtomicU64::new(u64::MAX));
    let failure = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let workers: Vec<_> = queues
        .into_iter()
        .map(|queue| {
            let (count, bytes, last_ns, first_ns, failure) = (
                count.clone(),
                bytes.clone(),
                last_ns.clone(),
                first_ns.clone(),
                failure.clone(),
            );
            std::thread::spawn(move || {
                while count.load(Ordering::Relaxed) < n && Instant::now() < deadline {
                    match queue.poll(Duration::from_millis(50)) {
                        Some(Ok(m)) => {
                            bytes.fetch_add(m.payload_len() as u64, Ordering::Relaxed);
                            let at = start.elapsed().as_nanos() as u64;
                            first_ns.fetch_min(at, Ordering::Relaxed);
                            last_ns.fetch_max(at, Ordering::Relaxed);
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Err(e)) => {
                            *failure.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(e.to_string());
                            return;
                        }
                        None => {}
                    }
                }
            })
        })
        .collect();
    while count.load(Ordering::Relaxed) < n {
        if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bail!(
                "consumer error after {} of {n} records: {e}",
                count.load(Ordering::Relaxed)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "consume exceeded --timeout-secs ({} s): {} of {n} records received",
                timeout.as_secs(),
                count.load(Ordering::Relaxed)
            );
        }
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(10)) {
            bail!("consumer error: {e}");
        }
    }
    for w in workers {
        let _ = w.join();
    }
    let count = count.load(Ordering::Relaxed);
    let bytes = bytes.load(Ordering::Relaxed);
    let last = start + Duration::from_nanos(last_ns.load(Ordering::Relaxed));
    let first = match first_ns.load(Ordering::Relaxed) {
        u64::MAX => None,
        ns => Some(start + Duration::from_nanos(ns)),
    };
    Ok(ConsumeResult {
        rate: Rate {
            records: count,
            bytes,
            elapsed: last.duration_since(start),
        },
        first: first.map(|f| f.duration_since(start)).unwrap_or_default(),
    })
}

/// Consumes `n` records after assigning `tpl`, draining librdkafka's consumer queue in
/// batches on this thread.
fn consume_batches(
    consumer: &BaseConsumer<BenchContext>,
    tpl: &TopicPartitionList,
    n: u64,
    deadline: Instant,
    timeout: Duration,
) -> anyhow::Result<ConsumeResult> {
    let queue = batch::ConsumerQueue::of(consumer);
    let mut batch = batch::Batch::with_capacity(10_000);
    let start = Instant::now();
    consumer.assign(tpl).context("assign failed")?;
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut first = None;
    let mut last = start;
    while count < n {
        if Instant::now() > deadline {
            bail!(
                "consume exceeded --timeout-secs ({} s): {count} of {n} records received",
                timeout.as_secs()
            );
        }
        let taken = queue
            .consume(&mut batch, 100)
            .map_err(|e| anyhow!("consumer error after {count} of {n} records: {e}"))?;
        if taken.records > 0 {
            let now = Instant::now();
            first.get_or_insert(now);
            last = now;
            count += taken.records;
            bytes += taken.bytes;
        }
    }
    Ok(ConsumeResult {
        rate: Rate {
            records: count,
            bytes,
            elapsed: last.duration_since(start),
        },
        first: first.map(|f| f.duration_since(start)).unwrap_or_default(),
    })
}

/// librdkafka's batch consume API, which the rdkafka crate does not wrap.
///
/// The one place of this crate that calls C directly: each record the crate hands out costs
/// a poll() call with its own queue lock and wake-up, which on two shared cores takes more
/// time than the broker spends serving the record.
#[allow(unsafe_code)]
mod batch {
    use rdkafka::bindings as rd;
    use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};

    /// What one call took: records and payload bytes.
    pub(crate) struct Taken {
        pub(crate) records: u64,
        pub(crate) bytes: u64,
    }

    /// Room for the message pointers of one batch.
    pub(crate) struct Batch(Vec<*mut rd::rd_kafka_message_t>);

    impl Batch {
        pub(crate) fn with_capacity(n: usize) -> Self {
            Batch(vec![std::ptr::null_mut(); n])
        }
    }

    /// The consumer's queue (where assign()ed partitions' records arrive), borrowed from a
    /// consumer that outlives it.
    pub(crate) struct ConsumerQueue<'a, C: ConsumerContext> {
        queue: *mut rd::rd_kafka_queue_t,
        _consumer: &'a BaseConsumer<C>,
    }

    impl<'a, C: ConsumerContext> ConsumerQueue<'a, C> {
        pub(crate) fn of(consumer: &'a BaseConsumer<C>) -> Self {
            // SAFETY: the handle is valid while `consumer` lives, which the borrow ensures;
            // the queue reference is released in Drop.
            let queue = unsafe { rd::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
            ConsumerQueue {
                queue,
                _consumer: consumer,
            }
        }

        /// Takes up to a batch of records, waiting at most `timeout_ms` for the first;
        /// the first record error ends the run.
        pub(crate) fn consume(&self, batch: &mut Batch, timeout_ms: i32) -> Result<Taken, String> {
            // SAFETY: `batch.0` has room for its length in pointers; librdkafka fills the
            // first `got` of them with messages this function destroys before returning.
            let got = unsafe {
                rd::rd_kafka_consume_batch_queue(
                    self.queue,
                    timeout_ms,
                    batch.0.as_mut_ptr(),
                    batch.0.len(),
                )
            };
            if got < 0 {
                return Err("rd_kafka_consume_batch_queue failed".into());
            }
            let mut taken = Taken {
                records: 0,
                bytes: 0,
            };
            let mut error = None;
            for &m in &batch.0[..got as usize] {
                // SAFETY: a message librdkafka just handed out, read then destroyed once.
                unsafe {
                    if (*m).err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                        taken.records += 1;
                        taken.bytes += (*m).len as u64;
                    } else if error.is_none() {
                        error = Some(format!(
                            "{:?}",
                            rdkafka::types::RDKafkaErrorCode::from((*m).err)
                        ));
                    }
                    rd::rd_kafka_message_destroy(m);
                }
            }
            match error {
                Some(e) => Err(e),
                None => Ok(taken),
            }
        }
    }

    impl<C: ConsumerContext> Drop for ConsumerQueue<'_, C> {
        fn drop(&mut self) {
            // SAFETY: the reference taken in `of`, released once.
            unsafe { rd::rd_kafka_queue_destroy(self.queue) }
        }
    }
}
