//! `fjord-broker`: parse the configuration, bind, serve until SIGTERM or Ctrl-C.

use anyhow::Context;
use clap::Parser;
use fjord_broker::config::{BrokerConfig, Cli};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = BrokerConfig::from_cli(&cli).context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fjord-broker")
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async move {
        // Listen for SIGTERM before starting: one that arrives while the broker joins the
        // cluster waits here and shuts it down gracefully once started.
        #[cfg(unix)]
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        #[cfg(not(unix))]
        let term: Option<()> = None;
        let handle = fjord_broker::server::spawn(config).await.context("failed to start the broker")?;
        tracing::info!(bootstrap = %handle.bootstrap(), cluster_id = %handle.broker().cluster_id(), "broker ready");
        wait_for_signal(term).await;
        handle.shutdown().await.context("shutdown failed")
    })
}

#[cfg(unix)]
async fn wait_for_signal(term: Option<tokio::signal::unix::Signal>) {
    let ctrl_c = tokio::signal::ctrl_c();
    match term {
        Some(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        None => {
            let _ = ctrl_c.await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal(_term: Option<()>) {
    let _ = tokio::signal::ctrl_c().await;
}
