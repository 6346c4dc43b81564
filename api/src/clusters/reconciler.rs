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
//!
//! A `Failed` cluster is retried automatically after [`RETRY_BACKOFF`] (30 s, then 1, 2, 4
//! and 8 minutes): the step that failed — ensuring the brokers, or deleting them — is fed
//! again as an update or delete request. After the last retry it stays `Failed` until a user
//! updates or deletes it.

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

/// The waits before each automatic retry of a failed cluster; then it gives up.
pub const RETRY_BACKOFF: [Duration; 5] = [
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
    Duration::from_secs(240),
    Duration::from_secs(480),
];

/// What a `Failed` cluster with these events (oldest first) is due at `now_ms`: the event
/// that retries the failed step and the attempt number, or `None` (not yet, or given up).
pub fn retry_due(events: &[store::EventRow], now_ms: i64) -> Option<(Event, usize)> {
    let last = events
        .last()
        .filter(|e| e.to_state == ClusterState::Failed.as_str())?;
    // Failures since the cluster last became Ready (or since it was created).
    let failures = events
        .iter()
        .rev()
        .take_while(|e| e.to_state != ClusterState::Ready.as_str())
        .filter(|e| e.to_state == ClusterState::Failed.as_str())
        .count();
    let wait = RETRY_BACKOFF.get(failures.checked_sub(1)?)?;
    if now_ms - last.created_at < i64::try_from(wait.as_millis()).unwrap_or(i64::MAX) {
        return None;
    }
    let event = if last.from_state.as_deref() == Some(ClusterState::Deleting.as_str()) {
        Event::DeleteRequested
    } else {
        Event::UpdateRequested
    };
    Some((event, failures))
}

/// Feeds the due automatic retries of failed clusters to the state machine (the next pass
/// then works them). Returns how many were retried.
pub async fn retry_failed(state: &AppState, now_ms: i64) -> Result<usize> {
    let mut retried = 0;
    for row in store::in_states(&state.db, &[ClusterState::Failed]).await? {
        let events = store::recent_events(&state.db, &row.id, 100).await?;
        if let Some((event, attempt)) = retry_due(&events, now_ms) {
            let reason = format!(
                "automatic retry {attempt} of {} after the failure",
                RETRY_BACKOFF.len()
            );
            tracing::info!(cluster_id = %row.id, attempt, ?event, "retrying a failed cluster");
            apply(state, &row, event, &reason, None).await?;
            retried += 1;
        }
    }
    Ok(retried)
}

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
        if let Err(e) = retry_failed(&state, state.clock.now_ms()).await {
            tracing::warn!(error = %e, "retrying failed clusters failed");
        }
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
                    store::save(&state.db, state.clock.now_ms(), &row, change).await?;
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
    if store::save(&state.db, state.clock.now_ms(), row, change)
        .await?
        .is_none()
    {
        tracing::debug!(cluster_id = %row.id, "cluster changed while reconciling; will look again");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(from: Option<&str>, to: &str, at: i64) -> store::EventRow {
        store::EventRow {
            id: format!("e{at}"),
            from_state: from.map(str::to_string),
            to_state: to.into(),
            reason: String::new(),
            created_at: at,
        }
    }

    #[test]
    fn retries_repeat_the_failed_step_after_a_growing_wait() {
        let failed_delete = [
            event(None, "provisioning", 0),
            event(Some("provisioning"), "ready", 1),
            event(Some("ready"), "deleting", 2),
            event(Some("deleting"), "failed", 10),
        ];
        assert_eq!(retry_due(&failed_delete, 10 + 29_999), None);
        assert_eq!(
            retry_due(&failed_delete, 10 + 30_000),
            Some((Event::DeleteRequested, 1))
        );
        // A failure before ever being Ready counts from creation; an earlier Ready resets.
        let mut history = vec![
            event(Some("provisioning"), "failed", 1),
            event(Some("failed"), "updating", 2),
            event(Some("updating"), "ready", 3),
            event(Some("ready"), "updating", 4),
            event(Some("updating"), "failed", 5),
            event(Some("failed"), "updating", 6),
            event(Some("updating"), "failed", 7),
        ];
        assert_eq!(
            retry_due(&history, 7 + 60_000),
            Some((Event::UpdateRequested, 2))
        );
        for i in 0..4 {
            history.push(event(Some("failed"), "updating", 8 + 2 * i));
            history.push(event(Some("updating"), "failed", 9 + 2 * i));
        }
        assert_eq!(retry_due(&history, i64::MAX / 2), None, "given up after 5");
        assert_eq!(retry_due(&history[..3], i64::MAX / 2), None, "not failed");
    }
}
