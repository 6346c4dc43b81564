//! `fjord credential create|list|revoke`: SASL/SCRAM credentials of a cluster.

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::GlobalArgs;
use super::clusters::resolve_id;
use super::output::{Columns, all_pages, print_list, print_object, to_value};
use super::session::{Session, describe_error};
use super::topics::ClusterArg;

const LIST_COLUMNS: Columns<'static> = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("USERNAME", "username"),
    ("MECHANISMS", "mechanisms"),
    ("CREATED", "created_at"),
];
const CREATED_FIELDS: Columns<'static> = &[
    ("id", "id"),
    ("name", "name"),
    ("username", "username"),
    ("password", "password"),
    ("mechanisms", "mechanisms"),
];

/// `fjord credential …`.
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Create a credential; its password is shown only now.
    Create {
        /// A name for it (e.g. the application using it).
        name: String,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// List the cluster's credentials (without passwords).
    List {
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Revoke a credential: clients using it can no longer connect.
    Revoke {
        /// Credential id (`fjord credential list`).
        id: String,
        #[command(flatten)]
        cluster: ClusterArg,
    },
}

pub(super) async fn run(command: CredentialCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let session = Session::open(global).await?;
    let tenant = session.tenant()?.to_string();
    let tenant = tenant.as_str();
    match command {
        CredentialCommand::Create { name, cluster } => {
            let cluster = resolve_id(&session, tenant, &cluster.cluster).await?;
            let body: fjord_sdk::types::CreateCredential =
                serde_json::from_value(json!({ "name": name }))
                    .context("the credential does not fit the API's CreateCredential")?;
            let created = session
                .client
                .create_credential()
                .tenant_id(tenant)
                .cluster_id(cluster.as_str())
                .body(body)
                .send()
                .await
                .map_err(|e| describe_error(e, &session.url, "cluster", &cluster))?
                .into_inner();
            eprintln!("Store the password now: it cannot be shown again.");
            print_object(global.output, &to_value(&created)?, CREATED_FIELDS)
        }
        CredentialCommand::List { cluster } => {
            let cluster = resolve_id(&session, tenant, &cluster.cluster).await?;
            let (session, cluster) = (&session, &cluster);
            let items = all_pages(|cursor| async move {
                let mut request = session
                    .client
                    .list_credentials()
                    .tenant_id(tenant)
                    .cluster_id(cluster.as_str())
                    .limit(500);
                if let Some(c) = &cursor {
                    request = request.cursor(c.as_str());
                }
                let page = request
                    .send()
                    .await
                    .map_err(|e| describe_error(e, &session.url, "cluster", cluster))?
                    .into_inner();
                to_value(&page)
            })
            .await?;
            print_list(global.output, &items, LIST_COLUMNS)
        }
        CredentialCommand::Revoke { id, cluster } => {
            let cluster = resolve_id(&session, tenant, &cluster.cluster).await?;
            session
                .client
                .revoke_credential()
                .tenant_id(tenant)
                .cluster_id(cluster.as_str())
                .credential_id(id.as_str())
                .send()
                .await
                .map_err(|e| describe_error(e, &session.url, "credential", &id))?;
            eprintln!("Credential {id} revoked.");
            Ok(())
        }
    }
}
