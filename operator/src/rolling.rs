//! Rolling changes, one broker at a time. Pure: pods and signals in, the next step out.
//!
//! The brokers' StatefulSet uses the `OnDelete` update strategy, so a changed pod template
//! (new version, config, resources) restarts no pod by itself: the operator deletes one
//! outdated pod, the StatefulSet controller recreates it from the new template, and the next
//! one goes only when every broker is ready again and the cluster reports no under-replicated
//! partitions (`fjord_under_replicated_partitions` summed over the brokers is 0). Outdated
//! brokers go highest ordinal first, the active controller last (one controller election per
//! roll). A roll that cannot move on for [`STUCK_AFTER`] seconds is stuck: the cluster is
//! Degraded with the reason, and nothing more is restarted until it is safe again.

/// Seconds a roll may wait for a safe cluster before it is reported stuck.
pub const STUCK_AFTER: i64 = 15 * 60;

/// A broker pod as the roll sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerPod {
    /// Pod ordinal = broker id.
    pub ordinal: i32,
    /// The `controller-revision-hash` label: the template revision it runs.
    pub revision: Option<String>,
    /// Its Ready condition is True.
    pub ready: bool,
    /// It has a deletion timestamp (already on its way out).
    pub terminating: bool,
}

/// What the roll looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct RollInput<'a> {
    /// The pods of the StatefulSet.
    pub pods: &'a [BrokerPod],
    /// The StatefulSet's `status.updateRevision`.
    pub update_revision: &'a str,
    /// Brokers the StatefulSet should run.
    pub replicas: i32,
    /// Under-replicated partitions summed over the brokers; `None` when a broker's metrics
    /// could not be read (then it is not known to be safe).
    pub under_replicated: Option<f64>,
    /// The broker that is the active controller, if known.
    pub active_controller: Option<i32>,
    /// Since when the roll has been waiting (unix seconds), if it has.
    pub waiting_since: Option<i64>,
    /// Now, unix seconds.
    pub now: i64,
}

/// The roll's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollStep {
    /// Every broker runs the current template.
    UpToDate,
    /// Delete this broker's pod now.
    Restart(i32),
    /// Not safe yet to restart `broker`.
    Wait {
        /// The broker next in line.
        broker: i32,
        /// Why not now.
        reason: String,
    },
    /// Waited for [`STUCK_AFTER`] and still not safe: report Degraded, restart nothing.
    Stuck {
        /// The broker next in line.
        broker: i32,
        /// Why not, for the Degraded condition.
        reason: String,
    },
}

/// Decides the roll's next step.
pub fn next_step(input: &RollInput<'_>) -> RollStep {
    let mut outdated: Vec<&BrokerPod> = input
        .pods
        .iter()
        .filter(|p| p.ordinal < input.replicas)
        .filter(|p| p.revision.as_deref() != Some(input.update_revision))
        .collect();
    if outdated.is_empty() {
        return RollStep::UpToDate;
    }
    // Highest ordinal first, the active controller after every other broker.
    outdated.sort_by_key(|p| (Some(p.ordinal) == input.active_controller, -p.ordinal));
    let next = outdated[0].ordinal;

    let present = input
        .pods
        .iter()
        .filter(|p| p.ordinal < input.replicas)
        .count();
    let unsafe_reason = if let Some(p) = input.pods.iter().find(|p| p.terminating) {
        Some(format!("broker {} is restarting", p.ordinal))
    } else if present < input.replicas as usize {
        Some(format!(
            "{present}/{} broker pods exist",
            input.replicas.max(0)
        ))
    } else if let Some(p) = input
        .pods
        .iter()
        .filter(|p| p.ordinal < input.replicas)
        .find(|p| !p.ready)
    {
        Some(format!("broker {} is not ready", p.ordinal))
    } else {
        match input.under_replicated {
            None => Some("the brokers' metrics could not be read".to_owned()),
            Some(n) if n > 0.0 => Some(format!("{n} partitions are under-replicated")),
            Some(_) => None,
        }
    };
    match unsafe_reason {
        None => RollStep::Restart(next),
        Some(reason) => match input.waiting_since {
            Some(since) if input.now - since >= STUCK_AFTER => RollStep::Stuck {
                broker: next,
                reason: format!(
                    "rolling update stuck for {}s before broker {next}: {reason}",
                    input.now - since
                ),
            },
            _ => RollStep::Wait {
                broker: next,
                reason,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: i32, revision: &str) -> BrokerPod {
        BrokerPod {
            ordinal,
            revision: Some(revision.to_owned()),
            ready: true,
            terminating: false,
        }
    }

    fn input(pods: &[BrokerPod]) -> RollInput<'_> {
        RollInput {
            pods,
            update_revision: "new",
            replicas: 3,
            under_replicated: Some(0.0),
            active_controller: None,
            waiting_since: None,
            now: 10_000,
        }
    }

    #[test]
    fn nothing_outdated_is_up_to_date() {
        let pods = [pod(0, "new"), pod(1, "new"), pod(2, "new")];
        assert_eq!(next_step(&input(&pods)), RollStep::UpToDate);
        // A pod above the replica count (being scaled in) does not count.
        let pods = [pod(0, "new"), pod(1, "new"), pod(2, "new"), pod(3, "old")];
        assert_eq!(next_step(&input(&pods)), RollStep::UpToDate);
    }

    #[test]
    fn highest_ordinal_first_active_controller_last() {
        let pods = [pod(0, "old"), pod(1, "old"), pod(2, "old")];
        let mut i = input(&pods);
        i.active_controller = Some(2);
        assert_eq!(next_step(&i), RollStep::Restart(1));
        let pods = [pod(0, "old"), pod(1, "new"), pod(2, "old")];
        let mut i = input(&pods);
        i.active_controller = Some(2);
        assert_eq!(next_step(&i), RollStep::Restart(0));
        let pods = [pod(0, "new"), pod(1, "new"), pod(2, "old")];
        let mut i = input(&pods);
        i.active_controller = Some(2);
        assert_eq!(
            next_step(&i),
            RollStep::Restart(2),
            "the controller when alone"
        );
    }

    #[test]
    fn under_replicated_partitions_hold_the_roll() {
        let pods = [pod(0, "old"), pod(1, "new"), pod(2, "new")];
        let mut i = input(&pods);
        i.under_replicated = Some(3.0);
        assert_eq!(
            next_step(&i),
            RollStep::Wait {
                broker: 0,
                reason: "3 partitions are under-replicated".to_owned()
            }
        );
        i.under_replicated = None;
        assert_eq!(
            next_step(&i),
            RollStep::Wait {
                broker: 0,
                reason: "the brokers' metrics could not be read".to_owned()
            }
        );
    }

    #[test]
    fn one_broker_at_a_time() {
        let mut restarting = pod(2, "new");
        restarting.ready = false;
        let pods = [pod(0, "old"), pod(1, "old"), restarting];
        assert_eq!(
            next_step(&input(&pods)),
            RollStep::Wait {
                broker: 1,
                reason: "broker 2 is not ready".to_owned()
            }
        );
        let mut leaving = pod(2, "old");
        leaving.terminating = true;
        let pods = [pod(0, "old"), pod(1, "old"), leaving];
        assert!(matches!(
            next_step(&input(&pods)),
            RollStep::Wait { reason, .. } if reason == "broker 2 is restarting"
        ));
        let pods = [pod(0, "old"), pod(1, "old")];
        assert!(matches!(
            next_step(&input(&pods)),
            RollStep::Wait { reason, .. } if reason == "2/3 broker pods exist"
        ));
    }

    #[test]
    fn waiting_too_long_is_stuck_and_restarts_nothing() {
        let pods = [pod(0, "old"), pod(1, "new"), pod(2, "new")];
        let mut i = input(&pods);
        i.under_replicated = Some(1.0);
        i.waiting_since = Some(i.now - STUCK_AFTER + 1);
        assert!(matches!(next_step(&i), RollStep::Wait { .. }));
        i.waiting_since = Some(i.now - STUCK_AFTER);
        assert_eq!(
            next_step(&i),
            RollStep::Stuck {
                broker: 0,
                reason: "rolling update stuck for 900s before broker 0: \
                         1 partitions are under-replicated"
                    .to_owned()
            }
        );
        // Once safe again, the roll moves on.
        i.under_replicated = Some(0.0);
        assert_eq!(next_step(&i), RollStep::Restart(0));
    }
}
