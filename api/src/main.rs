//! The `fjord` binary: parses the command line and wires the library together.
//!
//! - `fjord dev`: API on 127.0.0.1:8080, SQLite under `./fjord-data`, embedded brokers;
//!   prints the URL, the console's URL, the administrator's API key (first start) and an
//!   admin token.
//! - `fjord serve`: the API for production (`--database-url postgres://…`).
//! - `fjord openapi`: prints the OpenAPI document.
//! - `fjord login`, `cluster`, `topic`, `credential`, `usage`, `invoice`, `completions`:
//!   the command-line client over the Rust SDK (`fjord_api::cli`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};
use fjord_api::auth::jwt::Tokens;
use fjord_api::provision::Provisioner;
use fjord_api::provision::embedded::{EmbeddedOptions, EmbeddedProvisioner};
use fjord_api::provision::kubernetes::{KubernetesOptions, KubernetesProvisioner};
use fjord_api::{AppState, auth, clusters, db};

#[derive(Debug, Parser)]
#[command(
    name = "fjord",
    version,
    about = "Fjord's control plane, and the command line to drive it"
)]
struct Cli {
    #[command(flatten)]
    client: fjord_api::cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything on this machine: API, embedded database and embedded brokers.
    Dev(DevArgs),
    /// The API alone, for production.
    Serve(ServeArgs),
    /// Print the OpenAPI document (JSON) and exit.
    Openapi,
    #[command(flatten)]
    Client(fjord_api::cli::ClientCommand),
}

#[derive(Debug, clap::Args)]
struct DevArgs {
    /// Directory of the database and of every cluster's data.
    #[arg(long, env = "FJORD_DATA_DIR", default_value = "./fjord-data")]
    data_dir: PathBuf,
    /// Address the API listens on.
    #[arg(long, env = "FJORD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Lifetime of access tokens, in seconds (long in dev, so the printed token lasts a day).
    #[arg(long, env = "FJORD_TOKEN_TTL_SECS", default_value_t = 12 * 3600)]
    token_ttl_secs: u64,
    /// A price book file (JSON: currency, prices, optional effective_from), added as a new
    /// price book version at start when it differs from the newest one.
    #[arg(long, env = "FJORD_PRICE_BOOK")]
    price_book: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Database URL: `postgres://user@host/db` for production; default SQLite in the data dir.
    #[arg(long, env = "FJORD_DATABASE_URL")]
    database_url: Option<String>,
    /// Directory of the SQLite database (when no URL is given) and of embedded clusters.
    #[arg(long, env = "FJORD_DATA_DIR", default_value = "./fjord-data")]
    data_dir: PathBuf,
    /// Address the API listens on.
    #[arg(long, env = "FJORD_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "FJORD_TOKEN_TTL_SECS", default_value_t = 900)]
    token_ttl_secs: u64,
    /// A price book file (JSON: currency, prices, optional effective_from), added as a new
    /// price book version at start when it differs from the newest one.
    #[arg(long, env = "FJORD_PRICE_BOOK")]
    price_book: Option<PathBuf>,
    /// Where clusters run: `embedded` (brokers inside this process) or `kubernetes`
    /// (FjordCluster resources for fjord-operator; in-cluster service account or kubeconfig).
    #[arg(long, env = "FJORD_PROVISIONER", value_enum, default_value_t = ProvisionerKind::Embedded)]
    provisioner: ProvisionerKind,
    /// Namespace of the FjordCluster resources (kubernetes provisioner).
    #[arg(long, env = "FJORD_CLUSTER_NAMESPACE", default_value = "fjord")]
    cluster_namespace: String,
    /// Most brokers the operator may grow a cluster to (kubernetes provisioner).
    #[arg(long, env = "FJORD_MAX_BROKERS", default_value_t = 6)]
    max_brokers: u32,
    /// Directory of the access tokens' Ed25519 signing keys (PKCS#8 PEM, such as a mounted
    /// Secret): `signing.pem` signs, every other `*.pem` still verifies (keep the previous key
    /// there until its tokens expire). Re-read when it changes. Without it the API generates
    /// its keys in the database and rotates them with POST /v1/admin/signing-keys/rotate.
    #[arg(long, env = "FJORD_SIGNING_KEYS_DIR")]
    signing_keys_dir: Option<PathBuf>,
}

/// Where `fjord serve` runs clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProvisionerKind {
    /// Brokers inside this process.
    Embedded,
    /// FjordCluster resources run by fjord-operator.
    Kubernetes,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Client(command) = cli.command {
        // What to do next is in the message; anyhow's `Error: …` debug form would hide it.
        if let Err(e) = fjord_api::cli::run(command, cli.client, Cli::command).await {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
        return Ok(());
    }
    if let Command::Openapi = cli.command {
        use std::io::Write as _;
        let spec = fjord_api::openapi::spec_json();
        return match std::io::stdout().lock().write_all(spec.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(e).context("failed to print the document")
            }
            _ => Ok(()),
        };
    }
    // Logs go to stderr: stdout carries what the user must read (URL, key, token).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match cli.command {
        Command::Dev(args) => {
            let url = db::sqlite_url(&prepare_dir(&args.data_dir)?);
            let provisioner = Arc::new(EmbeddedProvisioner::new(EmbeddedOptions::new(
                &args.data_dir,
            )));
            run(
                &url,
                provisioner,
                args.listen,
                Tokens::new(Duration::from_secs(args.token_ttl_secs)),
                args.price_book.as_deref(),
                true,
            )
            .await
        }
        Command::Serve(args) => {
            let url = match args.database_url {
                Some(url) => url,
                None => db::sqlite_url(&prepare_dir(&args.data_dir)?),
            };
            let provisioner: Arc<dyn Provisioner> = match args.provisioner {
                ProvisionerKind::Embedded => Arc::new(EmbeddedProvisioner::new(
                    EmbeddedOptions::new(&args.data_dir),
                )),
                ProvisionerKind::Kubernetes => {
                    let client = kube::Client::try_default().await.context(
                        "failed to create a kubernetes client (in-cluster or kubeconfig)",
                    )?;
                    let options = KubernetesOptions {
                        max_brokers: args.max_brokers,
                        ..KubernetesOptions::new(args.cluster_namespace)
                    };
                    Arc::new(KubernetesProvisioner::new(client, options))
                }
            };
            let ttl = Duration::from_secs(args.token_ttl_secs);
            let tokens = match &args.signing_keys_dir {
                Some(dir) => Tokens::from_dir(ttl, dir),
                None => Tokens::new(ttl),
            };
            run(
                &url,
                provisioner,
                args.listen,
                tokens,
                args.price_book.as_deref(),
                false,
            )
            .await
        }
        Command::Openapi | Command::Client(_) => Ok(()),
    }
}

fn prepare_dir(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

async fn run(
    database_url: &str,
    provisioner: Arc<dyn Provisioner>,
    listen: SocketAddr,
    tokens: Tokens,
    price_book: Option<&std::path::Path>,
    dev: bool,
) -> anyhow::Result<()> {
    let db = db::connect(database_url)
        .await
        .context("failed to open the database")?;
    let token_ttl_secs = tokens.ttl().as_secs();
    let state = AppState::with_tokens(db, provisioner.clone(), tokens)
        .await
        .context("failed to load the token signing keys")?;
    if let Some(path) = price_book
        && let Some(version) =
            fjord_api::billing::price_books::load_file(&state.db, path, fjord_api::db::now_ms())
                .await?
    {
        tracing::info!(version, file = %path.display(), "price book added");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to listen on {listen}"))?;
    let address = listener.local_addr().context("no local address")?;

    let first_key = auth::keys::bootstrap_admin(&state.db)
        .await
        .context("failed to create the administrator")?;
    println!("Fjord control plane on http://{address}");
    println!("Web console: http://{address}/ (sign in with an API key)");
    match first_key {
        Some(key) => println!(
            "Administrator API key (shown only now, store it): {key}\n  \
             exchange it: curl -X POST http://{address}/v1/auth/token -H 'content-type: application/json' -d '{{\"api_key\":\"{key}\"}}'"
        ),
        None => println!("Administrator API key: as printed at the first start"),
    }
    if dev
        && let Some(admin) = auth::keys::admin_principal(&state.db)
            .await
            .context("failed to find the administrator")?
    {
        let token = state
            .tokens
            .issue(&state.db, &admin, None, "admin")
            .await
            .context("failed to issue an admin token")?;
        println!("Admin token (valid {token_ttl_secs} s): {token}");
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut reconciler_stop = stop_rx.clone();
    let reconciler = tokio::spawn(clusters::reconciler::run(state.clone(), async move {
        let _ = reconciler_stop.changed().await;
    }));
    let mut collector_stop = stop_rx.clone();
    let collector = tokio::spawn(fjord_api::usage::run(state.clone(), async move {
        let _ = collector_stop.changed().await;
    }));
    let mut server_stop = stop_rx;
    let server = fjord_api::serve(listener, state, async move {
        let _ = server_stop.changed().await;
    });
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let served = server.await;
    signals.abort();
    let _ = reconciler.await;
    let _ = collector.await;
    // Brokers run in this process: stop them cleanly (their data stays for the next start).
    provisioner.shutdown().await;
    served.context("the server failed")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
