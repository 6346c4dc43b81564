//! `fjord-txn-bench`: what transactions cost. Produces N records with an idempotent producer
//! (acks=all), then the same N records with a transactional producer that commits every
//! `--txn-records`, against an in-process Fjord broker, and reads the transactional topic back
//! with `isolation.level=read_committed`. Prints records/s, MB/s and commit latency
//! percentiles.
//!
//! ```text
//! cargo run --release -p fjord-tests --bin fjord-txn-bench -- --records 200000
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// Transactional against idempotent produce throughput, with librdkafka.
#[derive(Parser, Debug)]
#[command(name = "fjord-txn-bench", version)]
struct Args {
    /// Records per phase.
    #[arg(long, short = 'n', default_value_t = 200_000)]
    records: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Records per transaction.
    #[arg(long, default_value_t = 1000)]
    txn_records: usize,
    /// Partitions of each topic (a transaction spans all of them).
    #[arg(long, default_value_t = 4)]
    partitions: i32,
}

const TIMEOUT: Duration = Duration::from_secs(60);

/// Prints librdkafka's logs (with `FJORD_TXN_BENCH_DEBUG=eos,protocol` they show each request).
struct Trace;

impl rdkafka::ClientContext for Trace {
    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        eprintln!(
            "{:?} rdkafka {fac}: {log_message}",
            std::time::SystemTime::now()
        );
    }
}

impl rdkafka::producer::ProducerContext for Trace {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

struct Phase {
    name: &'static str,
    records: usize,
    bytes: usize,
    elapsed: Duration,
}

impl Phase {
    fn print(&self) {
        let s = self.elapsed.as_secs_f64();
        println!(
            "{:<28} {:>10} records in {:>7.2} s  {:>10.0} records/s  {:>7.2} MB/s",
            self.name,
            self.records,
            s,
            self.records as f64 / s,
            self.bytes as f64 / s / 1e6
        );
    }
}

fn send_all<C: rdkafka::producer::ProducerContext<DeliveryOpaque = ()>>(
    p: &BaseProducer<C>,
    topic: &str,
    payload: &[u8],
    from: usize,
    n: usize,
) -> anyhow::Result<()> {
    for i in from..from + n {
        let key = i.to_string();
        let mut record = BaseRecord::to(topic).key(&key).payload(payload);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    p.poll(Duration::from_millis(5));
                }
                Err((e, _)) => bail!("send failed: {e}"),
            }
        }
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tb = fjord_tests::TestBroker::start().await?;
    let bootstrap = tb.bootstrap();
    let idem_topic = fjord_tests::unique_name("bench-idempotent");
    let txn_topic = fjord_tests::unique_name("bench-transactional");
    fjord_tests::create_topic(&bootstrap, &idem_topic, args.partitions).await?;
    fjord_tests::create_topic(&bootstrap, &txn_topic, args.partitions).await?;
    println!(
        "fjord-txn-bench: {} records of {} B, {} per transaction, {} partitions, in-process broker",
        args.records, args.size, args.txn_records, args.partitions
    );
    let (phases, commits) =
        tokio::task::spawn_blocking(move || run(&args, &bootstrap, &idem_topic, &txn_topic))
            .await
            .context("benchmark thread")??;
    for p in &phases {
        p.print();
    }
    if phases.len() >= 2 {
        let ratio = phases[0].elapsed.as_secs_f64() / phases[1].elapsed.as_secs_f64();
        println!(
            "transactional / idempotent throughput: {:.1} %",
            ratio * 100.0
        );
    }
    println!(
        "commit latency (EndTxn round trip incl. flush): p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} commits)",
        commits.value_at_quantile(0.5) as f64 / 1000.0,
        commits.value_at_quantile(0.99) as f64 / 1000.0,
        commits.max() as f64 / 1000.0,
        commits.len()
    );
    if std::env::var_os("FJORD_TXN_BENCH_TRACE").is_some() {
        let text = tb.broker()?.metrics_text()?;
        for line in text.lines().filter(|l| {
            l.starts_with("fjord_request_duration_seconds_sum")
                || l.starts_with("fjord_request_duration_seconds_count")
        }) {
            eprintln!("{line}");
        }
    }
    drop(tb);
    Ok(())
}

fn run(
    args: &Args,
    bootstrap: &str,
    idem_topic: &str,
    txn_topic: &str,
) -> anyhow::Result<(Vec<Phase>, Histogram<u64>)> {
    let payload = vec![b'x'; args.size];
    let base = |b: &str| {
        let mut c = fjord_tests::client_config(b);
        c.set("linger.ms", "5")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.messages", "1000000");
        c
    };
    let mut phases = Vec::new();

    let idem: BaseProducer = base(bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()?;
    let started = Instant::now();
    send_all(&idem, idem_topic, &payload, 0, args.records)?;
    idem.flush(TIMEOUT)?;
    phases.push(Phase {
        name: "idempotent produce",
        records: args.records,
        bytes: args.records * args.size,
        elapsed: started.elapsed(),
    });

    let mut txn_config = base(bootstrap);
    txn_config.set("transactional.id", fjord_tests::unique_name("bench-tx"));
    if let Some(debug) = std::env::var_os("FJORD_TXN_BENCH_DEBUG") {
        txn_config
            .set("debug", debug.to_string_lossy().as_ref())
            .set("log_level", "7");
    }
    let txn: BaseProducer<Trace> = txn_config.create_with_context(Trace)?;
    txn.init_transactions(TIMEOUT)?;
    let mut commits = Histogram::<u64>::new(3).context("histogram")?;
    let started = Instant::now();
    let mut sent = 0;
    while sent < args.records {
        let n = args.txn_records.min(args.records - sent);
        txn.begin_transaction()?;
        send_all(&txn, txn_topic, &payload, sent, n)?;
        let t = Instant::now();
        // Not `flush()`: the rdkafka crate's flush polls in 100 ms steps, which alone would cap
        // this benchmark at ten transactions a second.
        while txn.in_flight_count() > 0 {
            if t.elapsed() > TIMEOUT {
                bail!(
                    "{} records not delivered within {TIMEOUT:?}",
                    txn.in_flight_count()
                );
            }
            txn.poll(Duration::from_millis(1));
        }
        if std::env::var_os("FJORD_TXN_BENCH_TRACE").is_some() {
            eprintln!("flush {:?}", t.elapsed());
        }
        let c = Instant::now();
        txn.commit_transaction(TIMEOUT)?;
        if std::env::var_os("FJORD_TXN_BENCH_TRACE").is_some() {
            eprintln!("commit {:?}", c.elapsed());
        }
        commits.record(t.elapsed().as_micros() as u64)?;
        sent += n;
    }
    phases.push(Phase {
        name: "transactional produce",
        records: args.records,
        bytes: args.records * args.size,
        elapsed: started.elapsed(),
    });

    let consumer: BaseConsumer = fjord_tests::client_config(bootstrap)
        .set("group.id", fjord_tests::unique_name("bench-reader"))
        .set("isolation.level", "read_committed")
        .set("fetch.max.bytes", "52428800")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..args.partitions {
        tpl.add_partition_offset(txn_topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let mut got = 0;
    while got < args.records {
        if started.elapsed() > TIMEOUT * 5 {
            bail!(
                "read_committed consumer got {got} of {} records",
                args.records
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) if m.payload().is_some() => got += 1,
            Some(Ok(_)) | None => {}
            Some(Err(e)) => bail!("consume failed: {e}"),
        }
    }
    phases.push(Phase {
        name: "read_committed consume",
        records: got,
        bytes: got * args.size,
        elapsed: started.elapsed(),
    });
    Ok((phases, commits))
}
