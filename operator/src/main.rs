//! `fjord-operator`: prints the CRD or a cluster's manifests, or runs the controller. Only wiring lives here.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use fjord_operator::FjordCluster;
use fjord_operator::resources::{BuildSettings, manifests_yaml};

/// Fjord's Kubernetes operator.
#[derive(Debug, Parser)]
#[command(name = "fjord-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the FjordCluster CRD as YAML (`fjord-operator crd | kubectl apply -f -`).
    Crd,
    /// Print the objects the operator would apply for a FjordCluster file, as YAML.
    Manifests(ManifestsArgs),
    /// Run the controller against the cluster of the current kubeconfig or service account.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// Hold a coordination.k8s.io Lease before reconciling, so several replicas can run
    /// (one leads, the others wait). Off: this process reconciles at once.
    #[arg(long, env = "FJORD_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the Lease (the operator's own; the chart sets it from the pod).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, env = "FJORD_LEASE_NAME", default_value = "fjord-operator")]
    lease_name: String,
    /// This replica's identity in the Lease (the chart sets the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ImageArgs {
    /// Broker image repository, without tag; the tag is the cluster's spec.version.
    #[arg(
        long,
        env = "FJORD_BROKER_IMAGE",
        default_value = "ghcr.io/fjord-dev/fjord"
    )]
    broker_image: String,
    /// Broker version (image tag) of clusters that set no spec.version.
    #[arg(long, env = "FJORD_BROKER_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    broker_version: String,
}

#[derive(Debug, clap::Args)]
struct ManifestsArgs {
    /// A FjordCluster manifest (YAML).
    file: PathBuf,
    /// Namespace of the cluster when the file names none.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    #[command(flatten)]
    image: ImageArgs,
}

impl From<ImageArgs> for BuildSettings {
    fn from(args: ImageArgs) -> Self {
        Self {
            image_repository: args.broker_image,
            default_version: args.broker_version,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", fjord_operator::crd::crd_yaml()?);
        }
        Command::Manifests(args) => {
            let text = std::fs::read_to_string(&args.file)
                .with_context(|| format!("failed to read {}", args.file.display()))?;
            let mut cluster: FjordCluster = serde_saphyr::from_str(&text)
                .with_context(|| format!("{} is not a FjordCluster", args.file.display()))?;
            if cluster.metadata.namespace.is_none() {
                cluster.metadata.namespace = Some(args.namespace);
            }
            print!("{}", manifests_yaml(&cluster, &args.image.into())?);
        }
        Command::Run(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .init();
            let client = kube::Client::try_default()
                .await
                .context("failed to create a kubernetes client (kubeconfig or in-cluster)")?;
            let election = args.leader_election.then(|| {
                let identity = args
                    .identity
                    .clone()
                    .unwrap_or_else(|| format!("fjord-operator-{}", std::process::id()));
                fjord_operator::lease::LeaderElector::new(
                    client.clone(),
                    &args.lease_namespace,
                    &args.lease_name,
                    &identity,
                )
            });
            fjord_operator::controller::run(client, args.image.into(), election).await?;
        }
    }
    Ok(())
}
