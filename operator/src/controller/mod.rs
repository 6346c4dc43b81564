//! The reconcile loop: server-side-apply what the builders produce, roll and scale the
//! brokers, then report status.
//!
//! `reconcile` runs under a finalizer (`fjord.dev/cleanup`): a new cluster first gets the
//! finalizer. Later reconciles read the cluster's three Secrets (CA, broker TLS, internal
//! users) and write only those [`resources::plan_secrets`] says are missing or due for
//! renewal, then apply the ConfigMap, both Services, the StatefulSet, the
//! PodDisruptionBudget and the NetworkPolicy (in that order) with the field manager
//! `fjord-operator`. Then ([`scaling`]) they read every broker's metrics, restart the next
//! outdated broker when the cluster is safe (listing and deleting pods only while a roll is
//! on), let the autoscaler continue a drain or rebalance or decide anew (re-applying the
//! StatefulSet when the broker count changes), and finally apply the status subresource and
//! requeue: every 30 s (load sampling), sooner for a certificate renewal. The spec is never
//! written. A failed apply marks the cluster Degraded (best effort) and requeues with
//! exponential backoff.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::access::{AdminTarget, BrokerAccess, NetworkAccess};
use crate::autoscale::Policy;
use crate::crd::FjordCluster;
use crate::error::{Error, Result};
use crate::load::LoadTracker;
use crate::resources::{self, BuildSettings, ClusterNames, ExistingSecrets};
use crate::status::{Degradation, Observation, desired_status};

mod scaling;

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "fjord-operator";
/// Finalizer the operator puts on each FjordCluster.
pub const FINALIZER: &str = "fjord.dev/cleanup";
/// How often a healthy cluster is reconciled with no event: the load sampling interval.
const RESYNC: Duration = Duration::from_secs(30);
/// The name events are reported under.
const REPORTER: &str = "fjord-operator";

/// What every reconcile shares.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Image and defaults for the objects built.
    pub settings: BuildSettings,
    /// How the brokers' metrics and admin API are reached.
    access: Arc<dyn BrokerAccess>,
    /// Publishes Events on FjordClusters.
    recorder: Recorder,
    /// Consecutive failures per cluster (`namespace/name`), for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Load series per cluster (in memory: after a restart the windows fill again).
    trackers: Mutex<HashMap<String, LoadTracker>>,
}

impl Context {
    /// A context over `client` reaching brokers over the network.
    pub fn new(client: Client, settings: BuildSettings) -> Self {
        Self::with_access(client, settings, Arc::new(NetworkAccess))
    }

    /// A context reaching brokers through `access` (tests script it).
    pub fn with_access(
        client: Client,
        settings: BuildSettings,
        access: Arc<dyn BrokerAccess>,
    ) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), REPORTER.into()),
            client,
            settings,
            access,
            failures: Mutex::new(HashMap::new()),
            trackers: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `f` on the load tracker of `cluster`.
    fn tracker<T>(&self, cluster: &FjordCluster, f: impl FnOnce(&mut LoadTracker) -> T) -> T {
        let mut map = self
            .trackers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(map.entry(key(cluster)).or_default())
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        // A panic while holding this lock leaves only counters behind: keep using them.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key(cluster: &FjordCluster) -> String {
    let names = ClusterNames::of(cluster);
    format!("{}/{}", names.namespace, names.cluster)
}

/// Requeue delay after `failures` consecutive failures: 5 s doubling up to 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    Duration::from_secs(5 * 2u64.pow(exponent)).min(Duration::from_secs(300))
}

/// Reconciles one FjordCluster (the controller's callback).
pub async fn reconcile(cluster: Arc<FjordCluster>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = cluster
        .namespace()
        .ok_or_else(|| Error::MissingNamespace(cluster.name_any()))?;
    let clusters: Api<FjordCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&clusters, FINALIZER, cluster, |event| async {
        match event {
            FinalizerEvent::Apply(cluster) => apply_cluster(&cluster, &ctx).await,
            FinalizerEvent::Cleanup(cluster) => cleanup(&cluster),
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Decides when to retry after `error` (the controller's error callback).
pub fn error_policy(cluster: Arc<FjordCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    let failures = {
        let mut map = ctx.failures();
        let count = map.entry(key(&cluster)).or_insert(0);
        *count = count.saturating_add(1);
        *count
    };
    let delay = backoff(failures);
    warn!(
        cluster = %key(&cluster),
        error = %error_chain(error),
        kind = error.metric_label(),
        failures,
        "reconcile failed; retrying in {delay:?}"
    );
    Action::requeue(delay)
}

/// `error: cause: cause`, for messages humans read (Degraded condition, logs).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn apply<K>(client: &Client, namespace: &str, object: &K) -> Result<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|source| Error::Kube {
        action: "apply",
        kind: K::kind(&()).into_owned(),
        name,
        source: Box::new(source),
    })
}

async fn get_secret(client: &Client, namespace: &str, name: String) -> Result<Option<Secret>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    api.get_opt(&name).await.map_err(|source| Error::Kube {
        action: "get",
        kind: Secret::kind(&()).into_owned(),
        name,
        source: Box::new(source),
    })
}

fn secret_text(secret: Option<&Secret>, key: &str) -> Option<String> {
    let bytes = secret?.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

/// Creates or renews the cluster's Secrets as needed at `now`; returns when the certificates
/// must be looked at again, and the admin connection's CA and password. Valid Secrets are
/// not written.
async fn reconcile_secrets(
    cluster: &FjordCluster,
    ctx: &Context,
    now: time::OffsetDateTime,
) -> Result<(time::OffsetDateTime, AdminTarget)> {
    let client = &ctx.client;
    let names = ClusterNames::of(cluster);
    let ns = &names.namespace;
    let existing = ExistingSecrets {
        ca: get_secret(client, ns, names.ca_secret()).await?,
        broker_tls: get_secret(client, ns, names.broker_tls_secret()).await?,
        internal_users: get_secret(client, ns, names.internal_users_secret()).await?,
    };
    // Key generation is a few milliseconds of CPU: keep it off the async workers.
    let (cluster_copy, settings, existing_copy) =
        (cluster.clone(), ctx.settings.clone(), existing.clone());
    let plan = tokio::task::spawn_blocking(move || {
        resources::plan_secrets(&cluster_copy, &settings, &existing_copy, now)
    })
    .await
    .map_err(|e| Error::Blocking(Box::new(e)))??;
    for secret in &plan.writes {
        info!(
            cluster = %key(cluster),
            secret = secret.metadata.name.as_deref().unwrap_or_default(),
            "writing secret"
        );
        apply(client, ns, secret).await?;
    }
    // What the brokers will use: a Secret just written, else the one read.
    let effective = |name: String, read: Option<Secret>| {
        plan.writes
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name.as_str()))
            .cloned()
            .or(read)
    };
    let ca = effective(names.ca_secret(), existing.ca);
    let users = effective(names.internal_users_secret(), existing.internal_users);
    let target = AdminTarget {
        bootstrap: names.bootstrap_address(),
        ca_pem: cluster
            .spec
            .listeners
            .tls
            .then(|| secret_text(ca.as_ref(), resources::CA_CERT_KEY))
            .flatten(),
        password: secret_text(users.as_ref(), resources::PASSWORD_KEY).unwrap_or_default(),
    };
    Ok((plan.renew_at, target))
}

/// Applies every object of the cluster with `replicas` brokers, returning the StatefulSet as
/// the server has it.
async fn apply_objects(
    cluster: &FjordCluster,
    ctx: &Context,
    replicas: i32,
) -> Result<StatefulSet> {
    let client = &ctx.client;
    let settings = &ctx.settings;
    let ns = ClusterNames::of(cluster).namespace;
    apply(
        client,
        &ns,
        &resources::broker_config_map(cluster, settings),
    )
    .await?;
    apply(client, &ns, &resources::headless_service(cluster, settings)).await?;
    apply(
        client,
        &ns,
        &resources::bootstrap_service(cluster, settings),
    )
    .await?;
    let stateful_set = apply(
        client,
        &ns,
        &resources::stateful_set_with_replicas(cluster, settings, replicas),
    )
    .await?;
    apply(
        client,
        &ns,
        &resources::pod_disruption_budget(cluster, settings),
    )
    .await?;
    apply(client, &ns, &resources::network_policy(cluster, settings)).await?;
    Ok(stateful_set)
}

/// What the StatefulSet the server returned says about the brokers.
fn observe(cluster: &FjordCluster, stateful_set: &StatefulSet) -> Observation {
    let desired = stateful_set
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(cluster.spec.brokers.min);
    let status = stateful_set.status.as_ref();
    Observation {
        generation: cluster.metadata.generation,
        desired,
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
        rollout_observed: status.and_then(|s| s.observed_generation)
            >= stateful_set.metadata.generation,
        bootstrap: Some(ClusterNames::of(cluster).bootstrap_address()),
        ..Observation::default()
    }
}

async fn patch_status(
    cluster: &FjordCluster,
    ctx: &Context,
    observed: &Observation,
    now: &str,
) -> Result<()> {
    let names = ClusterNames::of(cluster);
    let status = desired_status(observed, cluster.status.as_ref(), now);
    let patch = serde_json::json!({
        "apiVersion": FjordCluster::api_version(&()),
        "kind": FjordCluster::kind(&()),
        "status": status,
    });
    let api: Api<FjordCluster> = Api::namespaced(ctx.client.clone(), &names.namespace);
    api.patch_status(
        &names.cluster,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|source| Error::Kube {
        action: "patch status of",
        kind: FjordCluster::kind(&()).into_owned(),
        name: names.cluster.clone(),
        source: Box::new(source),
    })?;
    Ok(())
}

/// When to reconcile a healthy cluster again: at the next resync, or sooner when a
/// certificate is due for renewal.
pub fn requeue_after(now: time::OffsetDateTime, renew_at: time::OffsetDateTime) -> Duration {
    Duration::try_from(renew_at - now)
        .unwrap_or(Duration::ZERO)
        .min(RESYNC)
}

/// Secrets and objects, then the roll and the autoscaler; the observation for the status.
async fn converge(
    cluster: &FjordCluster,
    ctx: &Context,
    now: time::OffsetDateTime,
) -> Result<(Observation, time::OffsetDateTime)> {
    let unix_now = now.unix_timestamp();
    let (renew_at, admin) = reconcile_secrets(cluster, ctx, now).await?;
    let current = resources::current_brokers(cluster);
    let mut stateful_set = apply_objects(cluster, ctx, current).await?;
    let probe = scaling::probe(cluster, ctx, current, unix_now).await;
    let roll = scaling::roll(cluster, ctx, &stateful_set, &probe, unix_now).await?;

    let mut observed = observe(cluster, &stateful_set);
    let policy = Policy::of(&cluster.spec);
    let utilization = ctx.tracker(cluster, |t| {
        t.series()
            .last()
            .map(|s| policy.load(s) / f64::from(current.max(1)))
    });
    let input = scaling::ScaleInput {
        current,
        settled: roll.idle()
            && observed.rollout_observed
            && observed.ready >= current
            && observed.updated >= current,
        admin: &admin,
        now: unix_now,
    };
    let scale = scaling::autoscale(cluster, ctx, &input, utilization).await;
    if scale.replicas != current {
        let resized = resources::stateful_set_with_replicas(cluster, &ctx.settings, scale.replicas);
        let namespace = ClusterNames::of(cluster).namespace;
        stateful_set = apply(&ctx.client, &namespace, &resized).await?;
        observed = observe(cluster, &stateful_set);
    }
    for event in scale.events {
        scaling::publish(ctx, cluster, event.warning, event.reason, event.note).await;
    }
    observed.ca_secret = Some(ClusterNames::of(cluster).ca_secret());
    observed.broker_load = probe.loads;
    observed.roll_waiting = roll.waiting;
    observed.roll = roll.status;
    observed.failure = roll.stuck;
    observed.autoscaler = Some(scale.status);
    Ok((observed, renew_at))
}

async fn apply_cluster(cluster: &FjordCluster, ctx: &Context) -> Result<Action> {
    let now = time::OffsetDateTime::now_utc();
    let now_text = scaling::rfc3339(now.unix_timestamp());
    match converge(cluster, ctx, now).await {
        Ok((observed, renew_at)) => {
            patch_status(cluster, ctx, &observed, &now_text).await?;
            ctx.failures().remove(&key(cluster));
            Ok(Action::requeue(requeue_after(now, renew_at)))
        }
        Err(error) => {
            let previous = cluster.status.clone().unwrap_or_default();
            let observed = Observation {
                generation: cluster.metadata.generation,
                desired: previous.brokers.desired,
                ready: previous.brokers.ready,
                updated: previous.brokers.ready,
                rollout_observed: true,
                bootstrap: previous.bootstrap,
                ca_secret: previous.ca_secret,
                broker_load: previous.broker_load,
                failure: Some(Degradation {
                    reason: "ApplyFailed".to_owned(),
                    message: error_chain(&error),
                }),
                roll_waiting: None,
                roll: previous.roll,
                autoscaler: previous.autoscaler,
            };
            if let Err(status_error) = patch_status(cluster, ctx, &observed, &now_text).await {
                warn!(error = %error_chain(&status_error), "could not mark cluster degraded");
            }
            Err(error)
        }
    }
}

/// Deleting a cluster: everything it owns is garbage-collected through owner references, and
/// broker volumes are kept by the StatefulSet's retention policy, so the finalizer only
/// records the deletion for now.
fn cleanup(cluster: &FjordCluster) -> Result<Action> {
    info!(cluster = %key(cluster), "fjordcluster deleted; owned objects are garbage-collected");
    Ok(Action::await_change())
}

/// Runs the controller until SIGTERM or Ctrl-C. Fails at once if the CRD is not installed.
/// With `election`, waits to hold the Lease first and stops (with an error) when it is lost.
pub async fn run(
    client: Client,
    settings: BuildSettings,
    election: Option<crate::lease::LeaderElector>,
) -> Result<()> {
    let clusters: Api<FjordCluster> = Api::all(client.clone());
    clusters
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|source| Error::Kube {
            action: "list (is the crd installed? `fjord-operator crd | kubectl apply -f -`)",
            kind: FjordCluster::kind(&()).into_owned(),
            name: "*".to_owned(),
            source: Box::new(source),
        })?;
    if let Some(elector) = &election {
        elector.acquire().await?;
    }
    let context = Arc::new(Context::new(client.clone(), settings));
    let controller = Controller::new(clusters, watcher::Config::default().any_semantic())
        .owns(
            Api::<StatefulSet>::all(client.clone()),
            watcher::Config::default(),
        )
        // Only the operator's own Secrets: a deleted or edited one is recreated at once.
        .owns(
            Api::<Secret>::all(client),
            watcher::Config::default().labels("app.kubernetes.io/managed-by=fjord-operator"),
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => info!(cluster = %object, "reconciled"),
                Err(error) => warn!(error = %error_chain(&error), "controller error"),
            }
        });
    match election {
        Some(elector) => {
            tokio::select! {
                () = controller => Ok(()),
                lost = elector.keep() => Err(lost),
            }
        }
        None => {
            controller.await;
            Ok(())
        }
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod scaling_tests;
#[cfg(test)]
mod tests;
