//! Leader election over a `coordination.k8s.io/v1` Lease, so two operator replicas are safe:
//! only the holder runs the controller.
//!
//! A replica takes the Lease when it is absent, expired (not renewed for its
//! `leaseDurationSeconds`) or already its own, writing it with the `resourceVersion` it read
//! (optimistic concurrency: of two replicas racing, the API server accepts one write and
//! answers 409 to the other). The holder renews every [`RENEW_EVERY`]; a holder that cannot
//! renew within the lease duration stops leading (the process exits and its pod restarts as
//! a follower), before any other replica may take over.
//! [`decide`] is the pure part; [`LeaderElector`] the I/O.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::info;

use crate::error::{Error, Result};

/// How long a lease lasts without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews, and a follower looks again.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// What to do with the lease as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAction {
    /// No lease yet: create it, held by us.
    Create,
    /// Ours: renew it.
    Renew,
    /// Someone else's and expired: take it over.
    TakeOver,
    /// Someone else's and live: wait until `expires_at` (unix ms).
    Wait {
        /// The holder.
        holder: String,
        /// When it expires unless renewed, unix milliseconds.
        expires_at: i64,
    },
}

/// Decides on `lease` (as read) for replica `me` at `now_ms` (unix milliseconds).
pub fn decide(lease: Option<&LeaseSpec>, me: &str, now_ms: i64) -> LeaseAction {
    let Some(spec) = lease else {
        return LeaseAction::Create;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == me {
        return LeaseAction::Renew;
    }
    if holder.is_empty() {
        return LeaseAction::TakeOver;
    }
    let renewed_ms = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map_or(0, |t| t.0.as_millisecond());
    let duration_ms = i64::from(spec.lease_duration_seconds.unwrap_or(0).max(0)) * 1000;
    let expires_at = renewed_ms + duration_ms;
    if now_ms >= expires_at {
        LeaseAction::TakeOver
    } else {
        LeaseAction::Wait {
            holder: holder.to_owned(),
            expires_at,
        }
    }
}

/// The spec a holder writes: `me` holding, renewed `now`.
pub fn held_spec(previous: Option<&LeaseSpec>, me: &str, now: Timestamp) -> LeaseSpec {
    let same_holder = previous.and_then(|p| p.holder_identity.as_deref()) == Some(me);
    let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(me.to_owned()),
        lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
        acquire_time: if same_holder {
            previous.and_then(|p| p.acquire_time.clone())
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if same_holder || previous.is_none() {
            transitions
        } else {
            transitions + 1
        }),
        ..LeaseSpec::default()
    }
}

/// Takes and keeps one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
}

fn kube_error(action: &'static str, name: &str, source: kube::Error) -> Error {
    Error::Kube {
        action,
        kind: "Lease".to_owned(),
        name: name.to_owned(),
        source: Box::new(source),
    }
}

impl LeaderElector {
    /// Election on Lease `namespace/name` as `identity` (the pod name).
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
        }
    }

    /// One round: read the lease and create, renew or take it when [`decide`] says so.
    /// `Ok(true)` while we hold it; a lost race (409) is `Ok(false)`.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| kube_error("get", &self.name, e))?;
        let now = Timestamp::now();
        let action = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now.as_millisecond(),
        );
        let previous_spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                resource_version: current
                    .as_ref()
                    .and_then(|l| l.metadata.resource_version.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(held_spec(previous_spec, &self.identity, now)),
        };
        let written = match action {
            LeaseAction::Wait { .. } => return Ok(false),
            LeaseAction::Create => self.api.create(&PostParams::default(), &lease).await,
            LeaseAction::Renew | LeaseAction::TakeOver => {
                if action == LeaseAction::TakeOver {
                    info!(lease = %self.name, identity = %self.identity, "taking over the expired lease");
                }
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(kube_error("write", &self.name, e)),
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) -> Result<()> {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "leading");
                    return Ok(());
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "leader election round failed"),
            }
            tokio::time::sleep(RENEW_EVERY).await;
        }
    }

    /// Renews forever; returns when the lease could not be renewed for [`LEASE_DURATION`]
    /// (leadership is lost: stop reconciling).
    pub async fn keep(&self) -> Error {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => return Error::LostLease(self.name.clone()),
                Err(error) if last_renewed.elapsed() >= LEASE_DURATION => return error,
                Err(error) => tracing::warn!(%error, "lease renewal failed; retrying"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_ms: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                Timestamp::from_millisecond(renewed_ms).expect("time"),
            )),
            lease_transitions: Some(2),
            ..LeaseSpec::default()
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn absent_is_created_ours_is_renewed() {
        assert_eq!(decide(None, "a", NOW), LeaseAction::Create);
        assert_eq!(decide(Some(&spec("a", 0)), "a", NOW), LeaseAction::Renew);
    }

    #[test]
    fn a_live_lease_of_another_replica_is_waited_for_until_it_expires() {
        let live = spec("b", NOW - 14_000);
        assert_eq!(
            decide(Some(&live), "a", NOW),
            LeaseAction::Wait {
                holder: "b".to_owned(),
                expires_at: NOW + 1_000
            }
        );
        assert_eq!(decide(Some(&live), "a", NOW + 1_000), LeaseAction::TakeOver);
        let released = LeaseSpec {
            holder_identity: None,
            ..live
        };
        assert_eq!(decide(Some(&released), "a", NOW), LeaseAction::TakeOver);
    }

    #[test]
    fn taking_over_counts_a_transition_renewing_does_not() {
        let now = Timestamp::from_millisecond(NOW).expect("time");
        let theirs = spec("b", NOW - 20_000);
        let taken = held_spec(Some(&theirs), "a", now);
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(3));
        assert_eq!(taken.acquire_time, Some(MicroTime(now)));
        assert_eq!(taken.lease_duration_seconds, Some(15));
        let renewed = held_spec(Some(&taken), "a", now);
        assert_eq!(renewed.lease_transitions, Some(3));
        assert_eq!(held_spec(None, "a", now).lease_transitions, Some(0));
    }
}

#[cfg(test)]
mod api_tests {
    use http::Method;
    use serde_json::json;

    use super::*;
    use crate::controller::fixtures::test_context;

    const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/fjord-system/leases/fjord-operator";

    #[tokio::test]
    async fn an_absent_lease_is_created_held_by_this_replica() {
        let (ctx, mut server) = test_context();
        let elector =
            LeaderElector::new(ctx.client.clone(), "fjord-system", "fjord-operator", "op-a");
        let task = tokio::spawn(async move { elector.try_acquire_or_renew().await });
        let seen = server.next().await;
        assert_eq!(
            (seen.method.clone(), seen.path.as_str()),
            (Method::GET, PATH)
        );
        seen.not_found();
        let seen = server.next().await;
        assert_eq!(seen.method, Method::POST);
        assert_eq!(
            seen.path,
            "/apis/coordination.k8s.io/v1/namespaces/fjord-system/leases"
        );
        assert_eq!(seen.body["spec"]["holderIdentity"], "op-a");
        assert_eq!(seen.body["spec"]["leaseDurationSeconds"], 15);
        seen.echo();
        assert!(task.await.expect("join").expect("round"));
    }

    #[tokio::test]
    async fn an_expired_lease_is_replaced_with_its_resource_version_and_a_lost_race_is_no_error() {
        let (ctx, mut server) = test_context();
        let elector =
            LeaderElector::new(ctx.client.clone(), "fjord-system", "fjord-operator", "op-a");
        let task = tokio::spawn(async move { elector.try_acquire_or_renew().await });
        let seen = server.next().await;
        assert_eq!(seen.method, Method::GET);
        seen.ok(&json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": { "name": "fjord-operator", "resourceVersion": "41" },
            "spec": { "holderIdentity": "op-b", "leaseDurationSeconds": 15,
                      "renewTime": "2020-01-01T00:00:00.000000Z", "leaseTransitions": 4 },
        }));
        let seen = server.next().await;
        assert_eq!(
            (seen.method.clone(), seen.path.as_str()),
            (Method::PUT, PATH)
        );
        assert_eq!(seen.body["metadata"]["resourceVersion"], "41");
        assert_eq!(seen.body["spec"]["holderIdentity"], "op-a");
        assert_eq!(seen.body["spec"]["leaseTransitions"], 5);
        // Another replica wrote first.
        seen.fail(http::StatusCode::CONFLICT, "the object has been modified");
        assert!(
            !task
                .await
                .expect("join")
                .expect("a lost race is not an error")
        );
    }
}
