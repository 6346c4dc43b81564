//! The I/O shell around the pure decisions: read the brokers' load ([`crate::load`]), roll
//! outdated brokers ([`crate::rolling`]), and scale ([`crate::autoscale`],
//! [`crate::reassign`]). Each decision that changes something is published as a Kubernetes
//! Event on the FjordCluster and recorded in its status.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::{Context, key};
use crate::access::{AccessError, AdminTarget, ClusterAdmin};
use crate::autoscale::{self, Decision, Policy};
use crate::crd::{AutoscalerStatus, BrokerLoad, FjordCluster, RollStatus};
use crate::error::{Error, Result};
use crate::load::parse_metrics;
use crate::reassign;
use crate::resources::{ClusterNames, selector_labels};
use crate::rolling::{self, BrokerPod, RollInput, RollStep};
use crate::status::Degradation;

/// What one look at the brokers' metrics found.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Probe {
    /// Per-broker load (brokers with two readings).
    pub(crate) loads: Vec<BrokerLoad>,
    /// Under-replicated partitions summed over every broker; `None` unless all answered.
    pub(crate) under_replicated: Option<f64>,
    /// The broker reporting itself the active controller.
    pub(crate) active_controller: Option<i32>,
}

/// RFC 3339 of unix seconds.
pub(crate) fn rfc3339(unix: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Unix seconds of an RFC 3339 time written by [`rfc3339`] (or anyone else).
pub(crate) fn unix(rfc3339: &str) -> Option<i64> {
    rfc3339
        .parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

/// Reads every broker's metrics and records them in the cluster's load tracker.
pub(crate) async fn probe(cluster: &FjordCluster, ctx: &Context, brokers: i32, now: i64) -> Probe {
    let names = ClusterNames::of(cluster);
    let addresses: Vec<(i32, String)> = (0..brokers.max(0))
        .map(|b| (b, names.broker_http_address(b)))
        .collect();
    let readings = join_all(addresses.iter().map(|(broker, addr)| async move {
        let metrics = match ctx.access.metrics(addr).await {
            Ok(text) => match parse_metrics(&text) {
                Ok(metrics) => Some(metrics),
                Err(error) => {
                    warn!(cluster = %key(cluster), broker, %error, "unusable broker metrics");
                    None
                }
            },
            Err(error) => {
                info!(cluster = %key(cluster), broker, error = %super::error_chain(&error), "broker metrics unavailable");
                None
            }
        };
        (*broker, metrics)
    }))
    .await;
    let readings: BTreeMap<_, _> = readings.into_iter().collect();

    let under_replicated = readings
        .values()
        .map(|m| m.as_ref().and_then(|m| m.under_replicated_partitions))
        .sum::<Option<f64>>()
        .filter(|_| !readings.is_empty());
    let active_controller = readings
        .iter()
        .find(|(_, m)| m.as_ref().is_some_and(|m| m.active_controller))
        .map(|(b, _)| *b);
    let policy = Policy::of(&cluster.spec);
    let keep = policy.scale_out_window.max(policy.scale_in_window) + 60;
    let loads = ctx.tracker(cluster, |tracker| tracker.record(now, &readings, keep));
    Probe {
        loads,
        under_replicated,
        active_controller,
    }
}

/// Publishes an Event on the cluster; a failure is logged, never fatal.
pub(crate) async fn publish(
    ctx: &Context,
    cluster: &FjordCluster,
    warning: bool,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_owned(),
        note: Some(note),
        action: reason.to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &cluster.object_ref(&())).await {
        warn!(cluster = %key(cluster), reason, %error, "could not publish an event");
    }
}

/// What the roll did.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RollOutcome {
    /// The roll's state for the status; `None` when nothing is outdated.
    pub(crate) status: Option<RollStatus>,
    /// Why it waits, for the Progressing condition.
    pub(crate) waiting: Option<String>,
    /// Set when the roll is stuck (Degraded).
    pub(crate) stuck: Option<Degradation>,
}

impl RollOutcome {
    /// Whether no broker is outdated.
    pub(crate) fn idle(&self) -> bool {
        self.status.is_none()
    }
}

fn broker_pod(pod: &Pod) -> Option<BrokerPod> {
    let name = pod.metadata.name.as_deref()?;
    let ordinal = name.rsplit_once('-')?.1.parse().ok()?;
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    Some(BrokerPod {
        ordinal,
        revision: pod.labels().get("controller-revision-hash").cloned(),
        ready,
        terminating: pod.metadata.deletion_timestamp.is_some(),
    })
}

/// Restarts the next outdated broker when it is safe (see [`crate::rolling`]).
pub(crate) async fn roll(
    cluster: &FjordCluster,
    ctx: &Context,
    stateful_set: &StatefulSet,
    probe: &Probe,
    now: i64,
) -> Result<RollOutcome> {
    let names = ClusterNames::of(cluster);
    let replicas = stateful_set
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    let status = stateful_set.status.as_ref();
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
    let observed = status.and_then(|s| s.observed_generation) >= stateful_set.metadata.generation;
    let update_revision = status.and_then(|s| s.update_revision.clone());
    if observed && updated >= replicas {
        return Ok(RollOutcome::default());
    }
    let Some(update_revision) = update_revision.filter(|_| observed) else {
        return Ok(RollOutcome {
            status: cluster.status.as_ref().and_then(|s| s.roll.clone()),
            waiting: Some("the StatefulSet controller has not seen the change yet".to_owned()),
            stuck: None,
        });
    };
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let selector = selector_labels(cluster)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods = pods_api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Kube {
            action: "list",
            kind: "Pod".to_owned(),
            name: selector.clone(),
            source: Box::new(source),
        })?;
    let pods: Vec<BrokerPod> = pods.items.iter().filter_map(broker_pod).collect();
    let previous = cluster.status.as_ref().and_then(|s| s.roll.clone());
    let waiting_since = previous
        .as_ref()
        .and_then(|r| r.waiting_since.as_deref())
        .and_then(unix);
    let step = rolling::next_step(&RollInput {
        pods: &pods,
        update_revision: &update_revision,
        replicas,
        under_replicated: probe.under_replicated,
        active_controller: probe.active_controller,
        waiting_since,
        now,
    });
    Ok(match step {
        RollStep::UpToDate => RollOutcome::default(),
        RollStep::Restart(broker) => {
            let pod = names.broker_pod(broker);
            pods_api
                .delete(&pod, &DeleteParams::default())
                .await
                .map_err(|source| Error::Kube {
                    action: "delete",
                    kind: "Pod".to_owned(),
                    name: pod.clone(),
                    source: Box::new(source),
                })?;
            info!(cluster = %key(cluster), broker, "rolling restart");
            publish(
                ctx,
                cluster,
                false,
                "RollingRestart",
                format!("restarting broker {broker} on the new pod template (no under-replicated partitions)"),
            )
            .await;
            RollOutcome {
                status: Some(RollStatus {
                    broker: Some(broker),
                    waiting_since: None,
                }),
                waiting: None,
                stuck: None,
            }
        }
        RollStep::Wait { broker, reason } => RollOutcome {
            status: Some(RollStatus {
                broker: Some(broker),
                waiting_since: Some(rfc3339(waiting_since.unwrap_or(now))),
            }),
            waiting: Some(reason),
            stuck: None,
        },
        RollStep::Stuck { broker, reason } => {
            let was_stuck = cluster.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Degraded" && c.reason == "RollStuck" && c.status == "True")
            });
            if !was_stuck {
                warn!(cluster = %key(cluster), broker, %reason, "rolling update stuck");
                publish(ctx, cluster, true, "RollStuck", reason.clone()).await;
            }
            RollOutcome {
                status: Some(RollStatus {
                    broker: Some(broker),
                    waiting_since: waiting_since.map(rfc3339),
                }),
                waiting: Some(reason.clone()),
                stuck: Some(Degradation {
                    reason: "RollStuck".to_owned(),
                    message: reason,
                }),
            }
        }
    })
}

/// An Event to publish once the change it reports is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingEvent {
    /// Warning rather than Normal.
    pub(crate) warning: bool,
    /// CamelCase reason.
    pub(crate) reason: &'static str,
    /// What happened.
    pub(crate) note: String,
}

/// What the autoscaler wants.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScaleOutcome {
    /// Brokers the StatefulSet should run.
    pub(crate) replicas: i32,
    /// The autoscaler's state for the status.
    pub(crate) status: AutoscalerStatus,
    /// Events for the decisions taken, published after the StatefulSet is applied.
    pub(crate) events: Vec<PendingEvent>,
}

/// The facts the autoscaler acts on.
pub(crate) struct ScaleInput<'a> {
    /// Brokers the StatefulSet runs now.
    pub(crate) current: i32,
    /// Every broker is ready and none is outdated.
    pub(crate) settled: bool,
    /// Where the admin connection goes.
    pub(crate) admin: &'a AdminTarget,
    /// Now, unix seconds.
    pub(crate) now: i64,
}

async fn connect(
    ctx: &Context,
    target: &AdminTarget,
) -> Result<Box<dyn ClusterAdmin>, AccessError> {
    ctx.access.admin(target).await
}

/// Runs the autoscaler: continues a drain or a rebalance, or takes a new decision.
/// Admin failures leave the previous state (the next reconcile tries again).
pub(crate) async fn autoscale(
    cluster: &FjordCluster,
    ctx: &Context,
    input: &ScaleInput<'_>,
    utilization: Option<f64>,
) -> ScaleOutcome {
    let previous = cluster
        .status
        .as_ref()
        .and_then(|s| s.autoscaler.clone())
        .unwrap_or_default();
    let mut outcome = ScaleOutcome {
        replicas: input.current,
        status: AutoscalerStatus {
            utilization_percent: utilization.map(|u| (u * 1000.0).round() / 10.0),
            ..previous
        },
        events: Vec::new(),
    };
    match scale_step(cluster, ctx, input, &mut outcome).await {
        Ok(()) => outcome,
        Err(error) => {
            warn!(cluster = %key(cluster), error = %super::error_chain(&error), "autoscaler step failed; retrying at the next reconcile");
            ScaleOutcome {
                replicas: input.current,
                status: AutoscalerStatus {
                    utilization_percent: outcome.status.utilization_percent,
                    ..cluster
                        .status
                        .as_ref()
                        .and_then(|s| s.autoscaler.clone())
                        .unwrap_or_default()
                },
                events: Vec::new(),
            }
        }
    }
}

async fn scale_step(
    cluster: &FjordCluster,
    ctx: &Context,
    input: &ScaleInput<'_>,
    outcome: &mut ScaleOutcome,
) -> Result<(), AccessError> {
    let policy = Policy::of(&cluster.spec);
    let current = input.current;

    // A drain in progress: remove the broker once nothing is left on it.
    if let Some(broker) = outcome.status.draining_broker {
        if broker != current - 1 {
            outcome.status.draining_broker = None;
            return Ok(());
        }
        let mut admin = connect(ctx, input.admin).await?;
        let layout = admin.layout().await?;
        if layout.reassigning > 0 {
            return Ok(());
        }
        if reassign::hosts_replicas(&layout.assignment, broker) {
            let remaining: Vec<i32> = (0..broker).collect();
            match reassign::drain(&layout.assignment, broker, &remaining) {
                Ok(moves) => admin.reassign(&moves).await?,
                Err(error) => {
                    outcome.status.draining_broker = None;
                    outcome.status.last_decision = Some(format!("ScaleIn abandoned: {error}"));
                    outcome.events.push(PendingEvent {
                        warning: true,
                        reason: "DrainFailed",
                        note: error.to_string(),
                    });
                }
            }
            return Ok(());
        }
        outcome.replicas = current - 1;
        outcome.status.draining_broker = None;
        outcome.status.last_scale_time = Some(rfc3339(input.now));
        outcome.status.last_decision = Some(format!(
            "ScaleIn: {current} -> {} brokers (broker {broker} drained)",
            current - 1
        ));
        ctx.tracker(cluster, |t| t.clear_series());
        outcome.events.push(PendingEvent {
            warning: false,
            reason: "ScaledIn",
            note: format!(
                "broker {broker} drained; {current} -> {} brokers",
                current - 1
            ),
        });
        return Ok(());
    }

    let series = ctx.tracker(cluster, |t| t.series().to_vec());
    let last_scale = outcome.status.last_scale_time.as_deref().and_then(unix);
    let decision = autoscale::decide(&policy, current, &series, last_scale, input.now);
    let out_of_bounds = current < policy.min || current > policy.max;
    if !input.settled && !out_of_bounds {
        return Ok(());
    }

    // New brokers are up: spread partitions onto them before deciding anything else.
    if outcome.status.rebalance_pending == Some(true) && !out_of_bounds {
        let mut admin = connect(ctx, input.admin).await?;
        let layout = admin.layout().await?;
        if layout.reassigning > 0 {
            return Ok(());
        }
        let brokers: Vec<i32> = (0..current).collect();
        let moves = reassign::spread(&layout.assignment, &brokers);
        admin.reassign(&moves).await?;
        outcome.status.rebalance_pending = None;
        outcome.events.push(PendingEvent {
            warning: false,
            reason: "Rebalanced",
            note: format!(
                "{} partitions reassigned to spread over {current} brokers",
                moves.len()
            ),
        });
        return Ok(());
    }

    match decision {
        Decision::ScaleOut { from, to, reason } => {
            outcome.replicas = to;
            outcome.status.last_scale_time = Some(rfc3339(input.now));
            outcome.status.rebalance_pending = Some(true);
            outcome.status.last_decision =
                Some(format!("ScaleOut: {from} -> {to} brokers: {reason}"));
            ctx.tracker(cluster, |t| t.clear_series());
            info!(cluster = %key(cluster), from, to, %reason, "scaling out");
            outcome.events.push(PendingEvent {
                warning: false,
                reason: "ScaledOut",
                note: format!("{from} -> {to} brokers: {reason}"),
            });
            return Ok(());
        }
        Decision::ScaleIn { from, to, reason } => {
            let broker = from - 1;
            let mut admin = connect(ctx, input.admin).await?;
            let layout = admin.layout().await?;
            let remaining: Vec<i32> = (0..broker).collect();
            match reassign::drain(&layout.assignment, broker, &remaining) {
                Ok(moves) => {
                    admin.reassign(&moves).await?;
                    outcome.status.draining_broker = Some(broker);
                    outcome.status.last_decision = Some(format!(
                        "ScaleIn: draining broker {broker} ({from} -> {to} brokers): {reason}"
                    ));
                    info!(cluster = %key(cluster), broker, %reason, "draining broker to scale in");
                    outcome.events.push(PendingEvent {
                        warning: false,
                        reason: "DrainStarted",
                        note: format!(
                            "moving {} partitions off broker {broker} before removing it: {reason}",
                            moves.len()
                        ),
                    });
                }
                Err(error) => {
                    outcome.status.last_decision = Some(format!("ScaleIn not possible: {error}"));
                }
            }
            return Ok(());
        }
        Decision::Hold(_) => {}
    }

    // Partitions of hot opted-in topics; the admin connection only when a topic is hot.
    let hot = series.iter().any(|s| {
        s.topic_ingress_bytes_per_s
            .values()
            .any(|rate| *rate > policy.partition_ingress)
    });
    if policy.enabled && hot {
        let mut admin = connect(ctx, input.admin).await?;
        let layout = admin.layout().await?;
        let in_use: i32 = layout.topics.iter().map(|t| t.partitions).sum();
        let increases = autoscale::partition_increases(
            &policy,
            &layout.topics,
            &series,
            input.now,
            in_use,
            cluster.spec.limits.partitions,
        );
        for increase in increases {
            admin
                .create_partitions(&increase.topic, increase.to)
                .await?;
            let note = format!(
                "topic {} grew from {} to {} partitions (fjord.autoscale.partitions=true)",
                increase.topic, increase.from, increase.to
            );
            outcome.status.last_decision = Some(format!("PartitionsAdded: {note}"));
            outcome.events.push(PendingEvent {
                warning: false,
                reason: "PartitionsAdded",
                note: note,
            });
        }
    }
    Ok(())
}
