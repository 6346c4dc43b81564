//! What the cluster's status should say, decided from an observation. Pure: no I/O, no clock.

use crate::crd::{
    AutoscalerStatus, BrokerCounts, BrokerLoad, Condition, FjordClusterStatus, RollStatus,
};

/// Condition type: every desired broker is ready.
pub const READY: &str = "Ready";
/// Condition type: brokers are starting, stopping or being rolled.
pub const PROGRESSING: &str = "Progressing";
/// Condition type: the operator cannot bring the cluster to its spec.
pub const DEGRADED: &str = "Degraded";

/// A failure that makes the cluster Degraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degradation {
    /// One CamelCase word, e.g. `ApplyFailed`.
    pub reason: String,
    /// What went wrong, for humans.
    pub message: String,
}

/// What the operator saw of a cluster in one reconcile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The FjordCluster's `metadata.generation`.
    pub generation: Option<i64>,
    /// Brokers the StatefulSet should run.
    pub desired: i32,
    /// Brokers passing their readiness probe.
    pub ready: i32,
    /// Brokers already running the current pod template.
    pub updated: i32,
    /// Whether the StatefulSet controller has seen the StatefulSet's latest spec.
    pub rollout_observed: bool,
    /// Address clients bootstrap from.
    pub bootstrap: Option<String>,
    /// Secret holding the CA certificate, once it exists.
    pub ca_secret: Option<String>,
    /// Per-broker load, once it has been sampled.
    pub broker_load: Vec<BrokerLoad>,
    /// Why the cluster cannot reach its spec, if it cannot.
    pub failure: Option<Degradation>,
    /// Why a rolling change is waiting, if it is.
    pub roll_waiting: Option<String>,
    /// The roll's state, kept in the status.
    pub roll: Option<RollStatus>,
    /// The autoscaler's state, kept in the status.
    pub autoscaler: Option<AutoscalerStatus>,
}

fn condition(type_: &str, holds: bool, reason: &str, message: String) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if holds { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time: String::new(),
        observed_generation: None,
    }
}

/// Ready, Progressing and Degraded for `observed`, in that order.
///
/// `lastTransitionTime` is kept from `previous` when a condition's status did not change and
/// set to `now` (RFC 3339) when it did, as Kubernetes conventions ask.
pub fn desired_conditions(
    observed: &Observation,
    previous: &[Condition],
    now: &str,
) -> Vec<Condition> {
    let counts = format!("{}/{} brokers ready", observed.ready, observed.desired);
    let all_ready = observed.desired > 0 && observed.ready >= observed.desired;
    let ready = if all_ready {
        condition(READY, true, "AllBrokersReady", counts.clone())
    } else {
        condition(READY, false, "BrokersNotReady", counts.clone())
    };

    let draining = observed.autoscaler.as_ref().and_then(|a| a.draining_broker);
    let progressing = if !observed.rollout_observed || observed.updated < observed.desired {
        let mut message = format!("{}/{} brokers updated", observed.updated, observed.desired);
        if let Some(waiting) = &observed.roll_waiting {
            message.push_str("; waiting: ");
            message.push_str(waiting);
        }
        condition(PROGRESSING, true, "RollingUpdate", message)
    } else if let Some(broker) = draining {
        let message = format!("moving partitions off broker {broker} before removing it");
        condition(PROGRESSING, true, "Draining", message)
    } else if observed.ready < observed.desired {
        condition(PROGRESSING, true, "BrokersStarting", counts)
    } else if observed.ready > observed.desired {
        condition(PROGRESSING, true, "BrokersStopping", counts)
    } else {
        condition(PROGRESSING, false, "Stable", counts)
    };

    let degraded = match &observed.failure {
        Some(failure) => condition(DEGRADED, true, &failure.reason, failure.message.clone()),
        None => condition(DEGRADED, false, "AsExpected", String::new()),
    };

    [ready, progressing, degraded]
        .into_iter()
        .map(|mut c| {
            c.observed_generation = observed.generation;
            c.last_transition_time = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == c.status)
                .map_or_else(|| now.to_owned(), |p| p.last_transition_time.clone());
            c
        })
        .collect()
}

/// The whole status for `observed`, given the status it replaces.
pub fn desired_status(
    observed: &Observation,
    previous: Option<&FjordClusterStatus>,
    now: &str,
) -> FjordClusterStatus {
    let previous_conditions = previous.map_or(&[][..], |s| s.conditions.as_slice());
    FjordClusterStatus {
        conditions: desired_conditions(observed, previous_conditions, now),
        observed_generation: observed.generation,
        brokers: BrokerCounts {
            ready: observed.ready,
            desired: observed.desired,
        },
        bootstrap: observed.bootstrap.clone(),
        ca_secret: observed.ca_secret.clone(),
        broker_load: observed.broker_load.clone(),
        autoscaler: observed.autoscaler.clone(),
        roll: observed.roll.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:05:00Z";

    fn settled(desired: i32, ready: i32) -> Observation {
        Observation {
            generation: Some(4),
            desired,
            ready,
            updated: desired,
            rollout_observed: true,
            ..Observation::default()
        }
    }

    fn find<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
        conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    fn statuses(conditions: &[Condition]) -> Vec<(&str, &str, &str)> {
        conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
            .collect()
    }

    #[test]
    fn all_brokers_ready_is_ready_and_stable() {
        let c = desired_conditions(&settled(3, 3), &[], T0);
        assert_eq!(
            statuses(&c),
            [
                ("Ready", "True", "AllBrokersReady"),
                ("Progressing", "False", "Stable"),
                ("Degraded", "False", "AsExpected"),
            ]
        );
        assert_eq!(find(&c, READY).message, "3/3 brokers ready");
        assert!(c.iter().all(|c| c.observed_generation == Some(4)));
        assert!(c.iter().all(|c| c.last_transition_time == T0));
    }

    #[test]
    fn missing_brokers_are_progressing_not_ready() {
        let c = desired_conditions(&settled(3, 1), &[], T0);
        assert_eq!(
            statuses(&c),
            [
                ("Ready", "False", "BrokersNotReady"),
                ("Progressing", "True", "BrokersStarting"),
                ("Degraded", "False", "AsExpected"),
            ]
        );
        assert_eq!(find(&c, PROGRESSING).message, "1/3 brokers ready");
    }

    #[test]
    fn extra_ready_brokers_while_scaling_in_are_progressing() {
        let c = desired_conditions(&settled(3, 4), &[], T0);
        assert_eq!(find(&c, READY).status, "True");
        assert_eq!(find(&c, PROGRESSING).reason, "BrokersStopping");
    }

    #[test]
    fn a_roll_in_flight_is_progressing_even_when_all_are_ready() {
        let mut o = settled(3, 3);
        o.updated = 1;
        let c = desired_conditions(&o, &[], T0);
        assert_eq!(find(&c, PROGRESSING).reason, "RollingUpdate");
        assert_eq!(find(&c, PROGRESSING).message, "1/3 brokers updated");

        let mut o = settled(3, 3);
        o.rollout_observed = false;
        assert_eq!(
            find(&desired_conditions(&o, &[], T0), PROGRESSING).status,
            "True"
        );
    }

    #[test]
    fn a_waiting_roll_says_why_and_a_drain_is_progressing() {
        let mut o = settled(3, 3);
        o.updated = 2;
        o.roll_waiting = Some("1 partitions are under-replicated".to_owned());
        let c = desired_conditions(&o, &[], T0);
        assert_eq!(
            find(&c, PROGRESSING).message,
            "2/3 brokers updated; waiting: 1 partitions are under-replicated"
        );
        let mut o = settled(4, 4);
        o.autoscaler = Some(AutoscalerStatus {
            draining_broker: Some(3),
            ..AutoscalerStatus::default()
        });
        let c = desired_conditions(&o, &[], T0);
        assert_eq!(find(&c, PROGRESSING).reason, "Draining");
        assert_eq!(
            find(&c, PROGRESSING).message,
            "moving partitions off broker 3 before removing it"
        );
    }

    #[test]
    fn zero_desired_brokers_is_never_ready() {
        let c = desired_conditions(&settled(0, 0), &[], T0);
        assert_eq!(find(&c, READY).status, "False");
    }

    #[test]
    fn a_failure_is_degraded_with_its_reason() {
        let mut o = settled(3, 3);
        o.failure = Some(Degradation {
            reason: "ApplyFailed".to_owned(),
            message: "failed to apply StatefulSet orders-broker".to_owned(),
        });
        let c = desired_conditions(&o, &[], T0);
        let degraded = find(&c, DEGRADED);
        assert_eq!(degraded.status, "True");
        assert_eq!(degraded.reason, "ApplyFailed");
        assert_eq!(
            degraded.message,
            "failed to apply StatefulSet orders-broker"
        );
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first = desired_conditions(&settled(3, 1), &[], T0);
        let second = desired_conditions(&settled(3, 3), &first, T1);
        assert_eq!(
            find(&second, READY).last_transition_time,
            T1,
            "False -> True"
        );
        assert_eq!(find(&second, PROGRESSING).last_transition_time, T1);
        assert_eq!(
            find(&second, DEGRADED).last_transition_time,
            T0,
            "still False: keeps its time"
        );
        let third = desired_conditions(&settled(3, 3), &second, "2026-01-02T00:00:00Z");
        assert_eq!(third, second, "reconciling again changes nothing");
    }

    #[test]
    fn status_carries_counts_bootstrap_and_generation() {
        let mut o = settled(3, 2);
        o.bootstrap = Some("orders-bootstrap.tenant-a.svc:9093".to_owned());
        let status = desired_status(&o, None, T0);
        assert_eq!(
            status.brokers,
            BrokerCounts {
                ready: 2,
                desired: 3
            }
        );
        assert_eq!(status.observed_generation, Some(4));
        assert_eq!(
            status.bootstrap.as_deref(),
            Some("orders-bootstrap.tenant-a.svc:9093")
        );
        assert_eq!(status.conditions.len(), 3);
    }
}
