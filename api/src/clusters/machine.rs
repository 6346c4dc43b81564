//! The cluster life cycle as a pure function: a state and an event in, the next state out.
//! No I/O: the store persists each transition with its reason, the reconciler and the
//! handlers only feed events.
//!
//! ```text
//!  create ─► Provisioning ──provisioned──► Ready ──update──► Updating ──provisioned──► Ready
//!                 │                          │                  │
//!               failed                     delete             failed ──► Failed ──update──► Updating
//!                 ▼                          ▼                                 │
//!               Failed ──delete──► Deleting ──removed──► Deleted            delete ──► Deleting
//! ```

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a cluster is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    /// Brokers are being started for the first time.
    Provisioning,
    /// Brokers run and serve clients.
    Ready,
    /// A change of limits is being applied.
    Updating,
    /// Brokers and data are being removed.
    Deleting,
    /// Gone; kept as a record.
    Deleted,
    /// Provisioning, updating or deleting failed; see the reason. Update or delete retries.
    Failed,
}

/// What happened to a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The provisioner reports the brokers running.
    Provisioned,
    /// The provisioner failed.
    ProvisionerFailed,
    /// A client changed the limits.
    UpdateRequested,
    /// A client asked for deletion.
    DeleteRequested,
    /// The provisioner removed the brokers and their data.
    Removed,
}

/// An event the current state does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {} cluster cannot take {event:?}", from.as_str())]
pub struct InvalidTransition {
    /// The state.
    pub from: ClusterState,
    /// The refused event.
    pub event: Event,
}

impl ClusterState {
    /// The state's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::Provisioning => "provisioning",
            ClusterState::Ready => "ready",
            ClusterState::Updating => "updating",
            ClusterState::Deleting => "deleting",
            ClusterState::Deleted => "deleted",
            ClusterState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<ClusterState> {
        ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// States with provisioner work outstanding.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            ClusterState::Provisioning | ClusterState::Updating | ClusterState::Deleting
        )
    }

    /// States whose brokers should be running (and serve topic and credential requests).
    pub fn serving(self) -> bool {
        matches!(self, ClusterState::Ready | ClusterState::Updating)
    }
}

/// Every state.
pub const ALL: [ClusterState; 6] = [
    ClusterState::Provisioning,
    ClusterState::Ready,
    ClusterState::Updating,
    ClusterState::Deleting,
    ClusterState::Deleted,
    ClusterState::Failed,
];

/// The state after `event`; `Ok(None)` when the event changes nothing (a repeated request,
/// or a limit change while provisioning, which the running provisioning picks up).
pub fn transition(
    from: ClusterState,
    event: Event,
) -> Result<Option<ClusterState>, InvalidTransition> {
    use ClusterState::*;
    use Event::*;
    let to = match (from, event) {
        (Provisioning | Updating, Provisioned) => Some(Ready),
        // The reconciler re-ensures running clusters after a restart.
        (Ready, Provisioned) => None,
        (Provisioning | Updating | Ready | Deleting, ProvisionerFailed) => Some(Failed),
        (Ready | Failed, UpdateRequested) => Some(Updating),
        (Provisioning | Updating, UpdateRequested) => None,
        (Provisioning | Ready | Updating | Failed, DeleteRequested) => Some(Deleting),
        (Deleting, DeleteRequested) => None,
        (Deleting, Removed) => Some(Deleted),
        _ => return Err(InvalidTransition { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::ClusterState::*;
    use super::Event::*;
    use super::*;

    const EVENTS: [Event; 5] = [
        Provisioned,
        ProvisionerFailed,
        UpdateRequested,
        DeleteRequested,
        Removed,
    ];

    #[test]
    fn the_happy_path_goes_from_provisioning_to_deleted() {
        let mut state = Provisioning;
        for (event, expected) in [
            (Provisioned, Ready),
            (UpdateRequested, Updating),
            (Provisioned, Ready),
            (DeleteRequested, Deleting),
            (Removed, Deleted),
        ] {
            state = transition(state, event).unwrap().unwrap();
            assert_eq!(state, expected);
        }
    }

    #[test]
    fn failures_are_recoverable_by_update_or_delete() {
        for from in [Provisioning, Updating, Ready, Deleting] {
            assert_eq!(transition(from, ProvisionerFailed), Ok(Some(Failed)));
        }
        assert_eq!(transition(Failed, UpdateRequested), Ok(Some(Updating)));
        assert_eq!(transition(Failed, DeleteRequested), Ok(Some(Deleting)));
    }

    #[test]
    fn repeated_requests_change_nothing() {
        assert_eq!(transition(Deleting, DeleteRequested), Ok(None));
        assert_eq!(transition(Provisioning, UpdateRequested), Ok(None));
        assert_eq!(transition(Updating, UpdateRequested), Ok(None));
        assert_eq!(transition(Ready, Provisioned), Ok(None));
    }

    #[test]
    fn deleted_is_final() {
        for event in EVENTS {
            assert_eq!(
                transition(Deleted, event),
                Err(InvalidTransition {
                    from: Deleted,
                    event
                })
            );
        }
    }

    #[test]
    fn only_deleting_clusters_can_be_removed_and_deleting_ones_not_updated() {
        for from in ALL {
            let removed = transition(from, Removed);
            assert_eq!(removed.is_ok(), from == Deleting, "{from:?}");
        }
        assert!(transition(Deleting, UpdateRequested).is_err());
        assert!(transition(Deleting, Provisioned).is_err());
        assert!(transition(Failed, Provisioned).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(ClusterState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!(!Deleted.in_flight() && !Ready.in_flight() && Deleting.in_flight());
        assert!(Ready.serving() && Updating.serving() && !Provisioning.serving());
    }
}
