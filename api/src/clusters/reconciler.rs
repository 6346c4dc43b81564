//! The reconciler: a background task that drives clusters through the
//! [`Provisioner`](crate::provision::Provisioner) until their state is at rest.
//!
//! At start it re-ensures every `Ready` cluster (embedded brokers run inside the API
//! process, so a restart must start them again), then loops: every cluster in
//! `Provisioning` or `Updating` gets `ensure`, every one in `Deleting` gets `delete`, and
//! the outcome is fed to the state machine and saved. A wake-up comes from the handlers
//! (after a change) or from a periodic tick (work left by another replica or a crash).
//! Each cluster is worked on by one task at a time; saves are compare-and-set, so a change
//! made meanwhile (a new limit) is noticed and reconciled again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use super::machine::{ClusterState, Event, transition};
use super::store::{self, Change, ClusterRow};
use crate::error::Result;
use crate::state::AppState;

/// How often the reconciler looks for work without being woken.
pub const TICK: Duration = Duration::from_secs(5);

/// Runs the reconciler until `shutdown` resolves: first [`resume`], then [`run_once`] on
/// every wake-up or tick.
pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let busy = Arc::new(Mutex::new(HashSet::new()));
    if let Err(e) = resume(&state).await {
        tracing::error!(error = %e, "failed to resume clusters");
    }
    let mut tasks = JoinSet::new();
    loop {
        if let Err(e) = spawn_work(&state, &busy, &mut tasks).await {
            tracing::warn!(error = %e, "reconciler pass failed");
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = state.reconcile.notified() => {}
            () = tokio::time::sleep(TICK) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Work in flight stops here; the states stay in flight and resume at the next start.
    tasks.abort_all();
}

/// Re-ensures every `Ready` cluster (after an API restart): the brokers run again and the
/// endpoint is refreshed; a cluster whose brokers cannot start becomes `Failed`.
pub async fn resume(state: &AppState) -> Result<()> {
    let ready = store::in_states(&state.db, &[ClusterState::Ready]).await?;
    for row in ready {
        match state.provisioner.ensure(&row.spec()).await {
            Ok(endpoint) => {
                let changed = row.bootstrap.as_deref() != Some(endpoint.bootstrap.as_str())
                    || row.ca_cert_pem != endpoint.ca_cert_pem;
                if changed {
                    let change = Change {
                        endpoint: Some(&endpoint),
                        ..Change::default()
                    };
                    store::save(&state.db, &row, change).await?;
                }
                tracing::info!(cluster_id = %row.id, "resumed cluster");
            }
            Err(e) => {
                tracing::error!(cluster_id = %row.id, error = %e, "failed to resume cluster");
                let reason = format!("brokers failed to start again: {e}");
                apply(state, &row, Event::ProvisionerFailed, &reason, None).await?;
            }
        }
    }
    Ok(())
}

/// Works every in-flight cluster once and waits for all of it (tests call this for a
/// deterministic step; [`run`] spawns the same work in the background).
pub async fn run_once(state: &AppState) -> Result<()> {
    let rows = in_flight(state).await?;
    for row in rows {
        work(state, row).await?;
    }
    Ok(())
}

async fn in_flight(state: &AppState) -> Result<Vec<ClusterRow>> {
    store::in_states(
        &state.db,
        &[
            ClusterState::Provisioning,
            ClusterState::Updating,
            ClusterState::Deleting,
        ],
    )
    .await
}

async fn spawn_work(
    state: &AppState,
    busy: &Arc<Mutex<HashSet<String>>>,
    tasks: &mut JoinSet<()>,
) -> Result<()> {
    for row in in_flight(state).await? {
        {
            let mut busy = busy.lock().unwrap_or_else(|p| p.into_inner());
            if !busy.insert(row.id.clone()) {
                continue;
            }
        }
        let state = state.clone();
        let busy = busy.clone();
        tasks.spawn(async move {
            let id = row.id.clone();
            if let Err(e) = work(&state, row).await {
                tracing::warn!(cluster_id = %id, error = %e, "reconciling cluster failed; will retry");
            }
            busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            // Look again: the cluster may have changed while we worked.
            state.reconcile.notify_one();
        });
    }
    Ok(())
}

/// One step for one cluster: ensure or delete, then record the outcome.
async fn work(state: &AppState, row: ClusterRow) -> Result<()> {
    match row.state {
        ClusterState::Provisioning | ClusterState::Updating => {
            match state.provisioner.ensure(&row.spec()).await {
                Ok(endpoint) => {
                    let reason = if row.state == ClusterState::Provisioning {
                        "brokers are running"
                    } else {
                        "the change is applied"
                    };
                    apply(state, &row, Event::Provisioned, reason, Some(&endpoint)).await
                }
                Err(e) => {
                    let reason = format!("provisioning failed: {e}");
                    apply(state, &row, Event::ProvisionerFailed, &reason, None).await
                }
            }
        }
        ClusterState::Deleting => match state.provisioner.delete(&row.id).await {
            Ok(()) => {
                apply(
                    state,
                    &row,
                    Event::Removed,
                    "brokers and data removed",
                    None,
                )
                .await
            }
            Err(e) => {
                let reason = format!("deletion failed: {e}");
                apply(state, &row, Event::ProvisionerFailed, &reason, None).await
            }
        },
        ClusterState::Ready | ClusterState::Deleted | ClusterState::Failed => Ok(()),
    }
}

/// Feeds `event` to the state machine and saves the result over `row`. A row that moved on
/// meanwhile is left alone: the next pass sees its new state.
async fn apply(
    state: &AppState,
    row: &ClusterRow,
    event: Event,
    reason: &str,
    endpoint: Option<&crate::provision::ClusterEndpoint>,
) -> Result<()> {
    let next = match transition(row.state, event) {
        Ok(next) => next,
        Err(e) => {
            tracing::warn!(cluster_id = %row.id, error = %e, "ignored an event");
            return Ok(());
        }
    };
    let change = Change {
        state: next,
        reason,
        limits: None,
        endpoint,
    };
    if store::save(&state.db, row, change).await?.is_none() {
        tracing::debug!(cluster_id = %row.id, "cluster changed while reconciling; will look again");
    }
    Ok(())
}
