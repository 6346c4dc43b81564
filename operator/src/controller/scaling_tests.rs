//! Rolling and autoscaling through the reconcile loop, against the fake API server and
//! scripted brokers: the exact API calls (pod list and delete, StatefulSet re-apply, Events)
//! and admin calls (reassignments, partitions) each decision makes.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Value, json};

use super::fixtures::{ApiServerVerifier, test_context_with_brokers};
use super::tests::{
    APPLY_PATHS, condition, finalized, serve_status, serve_valid_secrets, spawn_reconcile,
};
use super::*;
use crate::access::ClusterLayout;
use crate::autoscale::{Sample, TopicPartitions};
use crate::crd::{BrokerCounts, FjordClusterStatus};
use crate::resources::test_cluster;

const PODS_PATH: &str = "/api/v1/namespaces/tenant-a/pods";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/tenant-a/events";
const STS_PATH: &str = "/apis/apps/v1/namespaces/tenant-a/statefulsets/orders-broker";
const MB: f64 = 1_000_000.0;

/// The StatefulSet's status as the fake API server reports it.
struct Sts {
    ready: i32,
    updated: i32,
}

/// Answers the six applies; the StatefulSet echoes its replicas with `sts` as its status.
/// Returns the StatefulSet's body.
async fn serve_objects(server: &mut ApiServerVerifier, sts: &Sts) -> Value {
    let mut stateful_set = Value::Null;
    for path in APPLY_PATHS {
        let seen = server.next().await;
        seen.assert_apply(path);
        if path == STS_PATH {
            stateful_set = seen.body.clone();
            let answer = sts_answer(&seen.body, sts);
            seen.ok(&answer);
        } else {
            seen.echo();
        }
    }
    stateful_set
}

fn sts_answer(body: &Value, sts: &Sts) -> Value {
    let mut answer = body.clone();
    answer["metadata"]["generation"] = json!(1);
    answer["status"] = json!({
        "replicas": body["spec"]["replicas"],
        "readyReplicas": sts.ready,
        "updatedReplicas": sts.updated,
        "observedGeneration": 1,
        "currentRevision": "orders-broker-old",
        "updateRevision": "orders-broker-new",
    });
    answer
}

/// Answers an Event; returns (type, reason, note).
async fn serve_event(server: &mut ApiServerVerifier) -> (String, String, String) {
    let seen = server.next().await;
    assert_eq!(seen.method, Method::POST, "{}", seen.path);
    assert_eq!(seen.path, EVENTS_PATH);
    assert_eq!(seen.body["regarding"]["kind"], "FjordCluster");
    assert_eq!(seen.body["regarding"]["name"], "orders");
    assert_eq!(seen.body["reportingController"], "fjord-operator");
    let out = (
        seen.body["type"].as_str().unwrap_or_default().to_owned(),
        seen.body["reason"].as_str().unwrap_or_default().to_owned(),
        seen.body["note"].as_str().unwrap_or_default().to_owned(),
    );
    seen.echo();
    out
}

fn pod(ordinal: i32, revision: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("orders-broker-{ordinal}"),
            "namespace": "tenant-a",
            "labels": { "controller-revision-hash": revision },
        },
        "status": { "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }] },
    })
}

/// Answers the pod list the roll makes.
async fn serve_pods(server: &mut ApiServerVerifier, pods: Vec<Value>) {
    let seen = server.next().await;
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.path, PODS_PATH);
    assert!(
        seen.query
            .contains("labelSelector=app.kubernetes.io%2Fcomponent%3Dbroker"),
        "{}",
        seen.query
    );
    seen.ok(&json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods }));
}

fn metrics(under_replicated: u32, controller: bool) -> String {
    format!(
        "fjord_under_replicated_partitions {under_replicated}\nfjord_leader_partitions 2\n\
         fjord_active_controller {}\n",
        u8::from(controller)
    )
}

fn with_status(mut cluster: FjordCluster, status: FjordClusterStatus) -> FjordCluster {
    cluster.status = Some(status);
    cluster
}

fn running(brokers: i32) -> FjordClusterStatus {
    FjordClusterStatus {
        brokers: BrokerCounts {
            ready: brokers,
            desired: brokers,
        },
        ..FjordClusterStatus::default()
    }
}

/// One sample every 30 s over the last `seconds` before now, `mb` MB/s of produce, with
/// `topics` MB/s per topic.
fn load_history(seconds: i64, mb: f64, topics: &[(&str, f64)]) -> Vec<Sample> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    (0..=seconds / 30)
        .rev()
        .map(|i| Sample {
            at: now - i * 30,
            ingress_bytes_per_s: mb * MB,
            egress_bytes_per_s: 0.0,
            topic_ingress_bytes_per_s: topics
                .iter()
                .map(|(t, rate)| ((*t).to_owned(), rate * MB))
                .collect(),
        })
        .collect()
}

fn seed(ctx: &Context, cluster: &FjordCluster, series: Vec<Sample>) {
    ctx.tracker(cluster, |t| t.seed(series));
}

/// A cluster whose brokers are sized for 10 MB/s of produce.
fn small_brokers() -> FjordCluster {
    let mut cluster = finalized(test_cluster());
    cluster.spec.autoscaling.broker_ingress_mb_per_s = 10;
    cluster
}

#[tokio::test]
async fn roll_restarts_the_highest_outdated_broker_leaving_the_controller_last() {
    let (ctx, mut server, brokers) = test_context_with_brokers();
    brokers.serve_metrics(3, &metrics(0, false));
    brokers.metrics.lock().expect("lock").insert(
        ClusterNames::of(&test_cluster()).broker_http_address(2),
        metrics(0, true),
    );
    let task = spawn_reconcile(finalized(test_cluster()), &ctx);
    serve_valid_secrets(&mut server).await;
    serve_objects(
        &mut server,
        &Sts {
            ready: 3,
            updated: 0,
        },
    )
    .await;
    serve_pods(
        &mut server,
        (0..3).map(|i| pod(i, "orders-broker-old", true)).collect(),
    )
    .await;
    let seen = server.next().await;
    assert_eq!(seen.method, Method::DELETE);
    assert_eq!(seen.path, format!("{PODS_PATH}/orders-broker-1"));
    seen.ok(&pod(1, "orders-broker-old", true));
    let (type_, reason, note) = serve_event(&mut server).await;
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Normal", "RollingRestart")
    );
    assert!(note.starts_with("restarting broker 1"), "{note}");

    let status = serve_status(&mut server).await;
    assert_eq!(status.roll.as_ref().and_then(|r| r.broker), Some(1));
    assert_eq!(condition(&status, "Progressing"), ("True", "RollingUpdate"));
    task.await.expect("join").expect("reconcile succeeds");
    assert!(brokers.calls().is_empty(), "no scaling during a roll");
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn roll_waits_on_under_replicated_partitions_and_reports_a_stuck_roll() {
    let (ctx, mut server, brokers) = test_context_with_brokers();
    brokers.serve_metrics(3, &metrics(0, false));
    brokers.metrics.lock().expect("lock").insert(
        ClusterNames::of(&test_cluster()).broker_http_address(0),
        metrics(2, true),
    );
    let pods = || {
        vec![
            pod(0, "orders-broker-old", true),
            pod(1, "orders-broker-new", true),
            pod(2, "orders-broker-new", true),
        ]
    };

    // Not safe: no delete, Progressing says why, the wait starts.
    let task = spawn_reconcile(finalized(test_cluster()), &ctx);
    serve_valid_secrets(&mut server).await;
    serve_objects(
        &mut server,
        &Sts {
            ready: 3,
            updated: 2,
        },
    )
    .await;
    serve_pods(&mut server, pods()).await;
    let status = serve_status(&mut server).await;
    task.await.expect("join").expect("reconcile succeeds");
    let progressing = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .expect("Progressing");
    assert_eq!(
        progressing.message,
        "2/3 brokers updated; waiting: 2 partitions are under-replicated"
    );
    let roll = status.roll.clone().expect("roll status");
    assert_eq!(roll.broker, Some(0));
    assert!(roll.waiting_since.is_some());
    assert_eq!(condition(&status, "Degraded"), ("False", "AsExpected"));

    // Twenty minutes later, still not safe: Degraded RollStuck, a warning Event, no delete.
    let mut status = status;
    let twenty_minutes_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 1200;
    status.roll = Some(crate::crd::RollStatus {
        broker: Some(0),
        waiting_since: Some(scaling::rfc3339(twenty_minutes_ago)),
    });
    let task = spawn_reconcile(with_status(finalized(test_cluster()), status), &ctx);
    serve_valid_secrets(&mut server).await;
    serve_objects(
        &mut server,
        &Sts {
            ready: 3,
            updated: 2,
        },
    )
    .await;
    serve_pods(&mut server, pods()).await;
    let (type_, reason, note) = serve_event(&mut server).await;
    assert_eq!((type_.as_str(), reason.as_str()), ("Warning", "RollStuck"));
    assert!(
        note.ends_with("before broker 0: 2 partitions are under-replicated"),
        "{note}"
    );
    let status = serve_status(&mut server).await;
    assert_eq!(condition(&status, "Degraded"), ("True", "RollStuck"));
    task.await.expect("join").expect("reconcile succeeds");
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn sustained_load_scales_out_then_spreads_partitions_onto_the_new_broker() {
    let (ctx, mut server, brokers) = test_context_with_brokers();
    let cluster = small_brokers();
    // 27 MB/s on three 10 MB/s brokers for ten minutes: 90% > 70%.
    seed(&ctx, &cluster, load_history(600, 27.0, &[]));

    let task = spawn_reconcile(cluster.clone(), &ctx);
    serve_valid_secrets(&mut server).await;
    serve_objects(
        &mut server,
        &Sts {
            ready: 3,
            updated: 3,
        },
    )
    .await;
    let seen = server.next().await;
    seen.assert_apply(STS_PATH);
    assert_eq!(seen.body["spec"]["replicas"], 4);
    let answer = sts_answer(
        &seen.body,
        &Sts {
            ready: 3,
            updated: 3,
        },
    );
    seen.ok(&answer);
    let (_, reason, note) = serve_event(&mut server).await;
    assert_eq!(reason, "ScaledOut");
    assert_eq!(
        note,
        "3 -> 4 brokers: utilisation 90% above the target 70% for 300s"
    );
    let status = serve_status(&mut server).await;
    task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(status.brokers.desired, 4);
    let autoscaler = status.autoscaler.clone().expect("autoscaler status");
    assert_eq!(autoscaler.rebalance_pending, Some(true));
    assert!(autoscaler.last_scale_time.is_some());
    assert!(
        autoscaler
            .last_decision
            .as_deref()
            .is_some_and(|d| d.starts_with("ScaleOut: 3 -> 4 brokers")),
        "{autoscaler:?}"
    );

    // The new broker is ready: its share of the partitions moves onto it, once.
    let assignment: BTreeMap<(String, i32), Vec<i32>> = (0..4)
        .map(|p| (("orders".to_owned(), p), vec![p % 3, (p + 1) % 3]))
        .collect();
    *brokers.layout.lock().expect("lock") = Some(ClusterLayout {
        assignment,
        ..ClusterLayout::default()
    });
    let task = spawn_reconcile(with_status(cluster.clone(), status), &ctx);
    serve_valid_secrets(&mut server).await;
    let sts = serve_objects(
        &mut server,
        &Sts {
            ready: 4,
            updated: 4,
        },
    )
    .await;
    assert_eq!(
        sts["spec"]["replicas"], 4,
        "the count comes from the status"
    );
    let (_, reason, note) = serve_event(&mut server).await;
    assert_eq!(reason, "Rebalanced");
    assert_eq!(note, "2 partitions reassigned to spread over 4 brokers");
    let status = serve_status(&mut server).await;
    task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(status.autoscaler.and_then(|a| a.rebalance_pending), None);
    let calls = brokers.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], "layout");
    assert!(
        calls[1].starts_with("reassign ") && calls[1].contains("3]"),
        "{calls:?}"
    );
    let target = brokers.targets.lock().expect("lock")[0].clone();
    assert_eq!(target.bootstrap, "orders-bootstrap.tenant-a.svc:9093");
    assert!(
        target
            .ca_pem
            .as_deref()
            .is_some_and(|p| p.starts_with("-----BEGIN CERTIFICATE-----"))
    );
    assert_eq!(target.password.len(), 48, "the internal users' password");
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn low_load_drains_the_highest_broker_then_removes_it() {
    let (ctx, mut server, brokers) = test_context_with_brokers();
    let cluster = with_status(small_brokers(), running(4));
    // 1 MB/s on four brokers for 35 minutes: 3% with three.
    seed(&ctx, &cluster, load_history(2100, 1.0, &[]));
    let assignment: BTreeMap<(String, i32), Vec<i32>> = [
        (("orders".to_owned(), 0), vec![3, 0]),
        (("orders".to_owned(), 1), vec![1, 2]),
        (("__consumer_offsets".to_owned(), 0), vec![2, 3]),
    ]
    .into_iter()
    .collect();
    *brokers.layout.lock().expect("lock") = Some(ClusterLayout {
        assignment,
        ..ClusterLayout::default()
    });

    let task = spawn_reconcile(cluster.clone(), &ctx);
    serve_valid_secrets(&mut server).await;
    serve_objects(
        &mut server,
        &Sts {
            ready: 4,
            updated: 4,
        },
    )
    .await;
    let (_, reason, note) = serve_event(&mut server).await;
    assert_eq!(reason, "DrainStarted");
    assert!(
        note.starts_with("moving 2 partitions off broker 3"),
        "{note}"
    );
    let status = serve_status(&mut server).await;
    task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(status.brokers.desired, 4, "the broker stays until drained");
    assert_eq!(
        status.autoscaler.as_ref().and_then(|a| a.draining_broker),
        Some(3)
    );
    assert_eq!(condition(&status, "Progressing"), ("True", "Draining"));
    assert_eq!(
        brokers.calls(),
        [
            "layout",
            "reassign __consumer_offsets-0=[2, 0] orders-0=[1, 0]"
        ]
    );

    // Drained (the fake applied the moves): the StatefulSet sheds broker 3.
    let task = spawn_reconcile(with_status(cluster.clone(), status), &ctx);
    serve_valid_secrets(&mut server).await;
    serve_objects(
        &mut server,
        &Sts {
            ready: 4,
            updated: 4,
        },
    )
    .await;
    let seen = server.next().await;
    seen.assert_apply(STS_PATH);
    assert_eq!(seen.body["spec"]["replicas"], 3);
    let answer = sts_answer(
        &seen.body,
        &Sts {
            ready: 3,
            updated: 3,
        },
    );
    seen.ok(&answer);
    let (_, reason, note) = serve_event(&mut server).await;
    assert_eq!(reason, "ScaledIn");
    assert_eq!(note, "broker 3 drained; 4 -> 3 brokers");
    let status = serve_status(&mut server).await;
    task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(status.brokers.desired, 3);
    let autoscaler = status.autoscaler.expect("autoscaler");
    assert_eq!(autoscaler.draining_broker, None);
    assert!(autoscaler.last_scale_time.is_some());
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn hot_opted_in_topics_get_partitions_and_an_event() {
    let (ctx, mut server, brokers) = test_context_with_brokers();
    let mut cluster = finalized(test_cluster());
    cluster.spec.autoscaling.broker_ingress_mb_per_s = 1000;
    seed(
        &ctx,
        &cluster,
        load_history(600, 48.0, &[("clicks", 24.0), ("orders", 24.0)]),
    );
    *brokers.layout.lock().expect("lock") = Some(ClusterLayout {
        topics: vec![
            TopicPartitions {
                name: "clicks".to_owned(),
                partitions: 3,
                opted_in: true,
            },
            TopicPartitions {
                name: "orders".to_owned(),
                partitions: 3,
                opted_in: false,
            },
        ],
        ..ClusterLayout::default()
    });
    let task = spawn_reconcile(cluster, &ctx);
    serve_valid_secrets(&mut server).await;
    serve_objects(
        &mut server,
        &Sts {
            ready: 3,
            updated: 3,
        },
    )
    .await;
    let (_, reason, note) = serve_event(&mut server).await;
    assert_eq!(reason, "PartitionsAdded");
    assert_eq!(
        note,
        "topic clicks grew from 3 to 7 partitions (fjord.autoscale.partitions=true)"
    );
    serve_status(&mut server).await;
    task.await.expect("join").expect("reconcile succeeds");
    assert_eq!(brokers.calls(), ["layout", "create_partitions clicks 7"]);
    drop(ctx);
    server.assert_done().await;
}

#[tokio::test]
async fn reconciling_a_settled_cluster_again_changes_nothing() {
    let (ctx, mut server, brokers) = test_context_with_brokers();
    brokers.serve_metrics(3, &metrics(0, false));
    let mut cluster = finalized(test_cluster());
    let mut runs = Vec::new();
    for _ in 0..2 {
        let task = spawn_reconcile(cluster.clone(), &ctx);
        serve_valid_secrets(&mut server).await;
        let sts = serve_objects(
            &mut server,
            &Sts {
                ready: 3,
                updated: 3,
            },
        )
        .await;
        let status = serve_status(&mut server).await;
        task.await.expect("join").expect("reconcile succeeds");
        runs.push((sts, status.clone()));
        cluster = with_status(cluster, status);
    }
    assert_eq!(runs[0].0, runs[1].0, "the same StatefulSet");
    assert_eq!(
        runs[0].1, runs[1].1,
        "the same status, transition times included"
    );
    assert!(brokers.calls().is_empty());
    drop(ctx);
    server.assert_done().await;
}
