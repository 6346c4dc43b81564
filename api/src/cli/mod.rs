//! The `fjord` command line's client side: log in, manage clusters, topics, credentials and
//! read usage and invoices, over the Rust SDK (`fjord-sdk`, generated from the OpenAPI
//! document), in the spirit of `rpk` and the `confluent` CLI.
//!
//! # Layout
//!
//! - this file: the subcommands ([`ClientCommand`]), the global flags ([`GlobalArgs`]) and
//!   [`run`], which dispatches;
//! - `profile`: profiles (API URL, API key, tenant, cached token) in the user's config dir;
//! - `session`: a profile turned into an authenticated SDK client, refreshing its token;
//! - `output`: `--output table|json|yaml`;
//! - `clusters`, `topics`, `credentials`, `billing`: one file per resource family.
//!
//! Results go to stdout in the chosen format; progress and hints go to stderr, so
//! `fjord cluster create x -o json | jq` sees only JSON. Every error says what to do next.

mod billing;
mod clusters;
mod credentials;
mod output;
mod profile;
mod session;
mod topics;

use clap::{Args, Subcommand};

pub use output::OutputFormat;
pub use profile::CONFIG_DIR_ENV;

/// Flags every client subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Output format of results (progress and hints go to stderr).
    #[arg(long, short = 'o', global = true, env = "FJORD_OUTPUT", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Profile of the config file to use (`fjord login --profile NAME` creates one).
    #[arg(long, global = true, env = "FJORD_PROFILE")]
    pub profile: Option<String>,
    /// Tenant to act on, instead of the profile's (platform administrators must name one).
    #[arg(long, global = true, env = "FJORD_TENANT")]
    pub tenant: Option<String>,
}

/// The client subcommands of `fjord`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Exchange an API key for a token and save both in a profile.
    Login(profile::LoginArgs),
    /// Forget a profile's API key and token.
    Logout,
    /// Create, list, show and delete clusters.
    #[command(subcommand)]
    Cluster(clusters::ClusterCommand),
    /// Create, list, describe, alter and delete a cluster's topics.
    #[command(subcommand)]
    Topic(topics::TopicCommand),
    /// Create, list and revoke a cluster's SASL credentials.
    #[command(subcommand)]
    Credential(credentials::CredentialCommand),
    /// Metered usage of the tenant (bytes and records in and out, storage, partitions).
    Usage(billing::UsageArgs),
    /// The tenant's invoices.
    Invoice(billing::InvoiceArgs),
    /// Print a shell completion script: `source <(fjord completions bash)`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Runs a client subcommand. `command` builds the whole command line's definition (for
/// completions, which must know every subcommand, `dev` and `serve` included).
pub async fn run(
    command: ClientCommand,
    global: GlobalArgs,
    definition: impl FnOnce() -> clap::Command,
) -> anyhow::Result<()> {
    // HTTPS to the API through rustls with ring, as everywhere in Fjord; a provider may
    // already be installed (then this changes nothing).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match command {
        ClientCommand::Login(args) => profile::login(args, &global).await,
        ClientCommand::Logout => profile::logout(&global),
        ClientCommand::Cluster(cmd) => clusters::run(cmd, &global).await,
        ClientCommand::Topic(cmd) => topics::run(cmd, &global).await,
        ClientCommand::Credential(cmd) => credentials::run(cmd, &global).await,
        ClientCommand::Usage(args) => billing::usage(args, &global).await,
        ClientCommand::Invoice(args) => billing::invoices(args, &global).await,
        ClientCommand::Completions { shell } => {
            let mut definition = definition();
            clap_complete::generate(shell, &mut definition, "fjord", &mut std::io::stdout());
            Ok(())
        }
    }
}
