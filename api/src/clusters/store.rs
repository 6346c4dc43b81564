//! The `clusters` and `cluster_events` tables. Every write is a compare-and-set on the
//! row's `version`, so the handlers and the reconciler (possibly in several API replicas)
//! never overwrite each other's changes; each state change inserts its event in the same
//! transaction.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::machine::ClusterState;
use crate::db::{Db, new_id};
use crate::error::{ApiError, Result};
use crate::provision::{ClusterEndpoint, ClusterSpec};

/// The throughput and size limits of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Partitions across all topics.
    pub max_partitions: i64,
    /// Produce throughput, MB/s.
    pub ingress_mbps: i64,
    /// Consume throughput, MB/s.
    pub egress_mbps: i64,
}

/// A cluster row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRow {
    /// Cluster id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique among the tenant's live clusters.
    pub name: String,
    /// Life-cycle state.
    pub state: ClusterState,
    /// Why it is in that state.
    pub state_reason: String,
    /// Broker count.
    pub brokers: i64,
    /// Limits.
    pub limits: Limits,
    /// Bootstrap address, once provisioned.
    pub bootstrap: Option<String>,
    /// CA certificate PEM, once provisioned (`None` for plaintext clusters).
    pub ca_cert_pem: Option<String>,
    /// Compare-and-set version; the ETag.
    pub version: i64,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last change, unix ms.
    pub updated_at: i64,
}

impl ClusterRow {
    /// What the provisioner is asked to run.
    pub fn spec(&self) -> ClusterSpec {
        ClusterSpec {
            cluster_id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            brokers: u32::try_from(self.brokers).unwrap_or(1),
            max_partitions: u32::try_from(self.limits.max_partitions).unwrap_or(u32::MAX),
        }
    }
}

const COLUMNS: &str = "id, tenant_id, name, state, state_reason, brokers, max_partitions, \
    ingress_mbps, egress_mbps, bootstrap, ca_cert_pem, version, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<ClusterRow> {
    let state: String = row.try_get("state")?;
    Ok(ClusterRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        state: ClusterState::parse(&state)
            .ok_or_else(|| ApiError::Internal(format!("unknown cluster state {state:?}")))?,
        state_reason: row.try_get("state_reason")?,
        brokers: row.try_get("brokers")?,
        limits: Limits {
            max_partitions: row.try_get("max_partitions")?,
            ingress_mbps: row.try_get("ingress_mbps")?,
            egress_mbps: row.try_get("egress_mbps")?,
        },
        bootstrap: row.try_get("bootstrap")?,
        ca_cert_pem: row.try_get("ca_cert_pem")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a new cluster in `Provisioning`, with its first event. `Ok(false)` when the name
/// is taken by a live cluster of the tenant.
pub async fn insert(db: &Db, row: &ClusterRow) -> Result<bool> {
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(&format!(
        "INSERT INTO clusters ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    ))
    .bind(&row.id)
    .bind(&row.tenant_id)
    .bind(&row.name)
    .bind(row.state.as_str())
    .bind(&row.state_reason)
    .bind(row.brokers)
    .bind(row.limits.max_partitions)
    .bind(row.limits.ingress_mbps)
    .bind(row.limits.egress_mbps)
    .bind(&row.bootstrap)
    .bind(&row.ca_cert_pem)
    .bind(row.version)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if crate::db::is_unique_violation(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    insert_event(
        &mut tx,
        &row.id,
        None,
        row.state,
        &row.state_reason,
        row.created_at,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Event ids sort in the order of their creation within this process (events of one
/// millisecond included), so a cluster's history reads in order.
fn event_id(at: i64) -> String {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let unique = new_id();
    format!("{at:013}-{n:012}-{}", &unique[..8])
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cluster_id: &str,
    from: Option<ClusterState>,
    to: ClusterState,
    reason: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO cluster_events (id, cluster_id, from_state, to_state, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event_id(at))
    .bind(cluster_id)
    .bind(from.map(ClusterState::as_str))
    .bind(to.as_str())
    .bind(reason)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A change to save over `current`.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    /// The new state, when it changes (an event is recorded).
    pub state: Option<ClusterState>,
    /// The reason of the state change.
    pub reason: &'a str,
    /// New limits.
    pub limits: Option<Limits>,
    /// A new endpoint.
    pub endpoint: Option<&'a ClusterEndpoint>,
}

/// Saves `change` at time `now` (unix ms, the state's clock: the state history bills
/// cluster-hours) if the row is still at `current.version`; `Ok(None)` when it moved on
/// meanwhile (the caller re-reads and decides again).
pub async fn save(
    db: &Db,
    now: i64,
    current: &ClusterRow,
    change: Change<'_>,
) -> Result<Option<ClusterRow>> {
    let mut next = current.clone();
    if let Some(state) = change.state {
        next.state = state;
        next.state_reason = change.reason.to_string();
    }
    if let Some(limits) = change.limits {
        next.limits = limits;
    }
    if let Some(endpoint) = change.endpoint {
        next.bootstrap = Some(endpoint.bootstrap.clone());
        next.ca_cert_pem = endpoint.ca_cert_pem.clone();
    }
    next.version = current.version + 1;
    next.updated_at = now;
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "UPDATE clusters SET state = $1, state_reason = $2, max_partitions = $3, \
         ingress_mbps = $4, egress_mbps = $5, bootstrap = $6, ca_cert_pem = $7, \
         version = $8, updated_at = $9 WHERE id = $10 AND version = $11",
    )
    .bind(next.state.as_str())
    .bind(&next.state_reason)
    .bind(next.limits.max_partitions)
    .bind(next.limits.ingress_mbps)
    .bind(next.limits.egress_mbps)
    .bind(&next.bootstrap)
    .bind(&next.ca_cert_pem)
    .bind(next.version)
    .bind(now)
    .bind(&current.id)
    .bind(current.version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    if let Some(state) = change.state {
        insert_event(
            &mut tx,
            &current.id,
            Some(current.state),
            state,
            change.reason,
            now,
        )
        .await?;
        tracing::info!(cluster_id = %current.id, from = current.state.as_str(), to = state.as_str(), reason = change.reason, "cluster state changed");
    }
    tx.commit().await?;
    Ok(Some(next))
}

/// The cluster `id` of `tenant_id`.
pub async fn get(db: &Db, tenant_id: &str, id: &str) -> Result<Option<ClusterRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM clusters WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The cluster `id`, whatever its tenant (the reconciler).
pub async fn get_by_id(db: &Db, id: &str) -> Result<Option<ClusterRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM clusters WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A page of the tenant's clusters that are not deleted, after `(created_at, id)`.
pub async fn list(
    db: &Db,
    tenant_id: &str,
    after: &crate::pagination::Position,
    limit: u32,
) -> Result<Vec<ClusterRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM clusters WHERE tenant_id = $1 AND state <> 'deleted' \
         AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.created_at)
    .bind(&after.id)
    .bind(i64::from(limit) + 1)
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Every cluster in one of `states`, oldest first.
pub async fn in_states(db: &Db, states: &[ClusterState]) -> Result<Vec<ClusterRow>> {
    let names: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    // The names are our own constants, not input.
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM clusters WHERE state IN ({}) ORDER BY created_at, id",
        names.join(", ")
    ))
    .fetch_all(db)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One recorded state transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Event id.
    pub id: String,
    /// The state before (`None` for creation).
    pub from_state: Option<String>,
    /// The state after.
    pub to_state: String,
    /// Why.
    pub reason: String,
    /// When, unix ms.
    pub created_at: i64,
}

/// The newest `limit` events of a cluster, oldest first.
pub async fn recent_events(db: &Db, cluster_id: &str, limit: u32) -> Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, from_state, to_state, reason, created_at FROM cluster_events \
         WHERE cluster_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(cluster_id)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?;
    let mut events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>>>()?;
    events.reverse();
    Ok(events)
}

fn event_from_row(r: &sqlx::any::AnyRow) -> Result<EventRow> {
    Ok(EventRow {
        id: r.try_get("id")?,
        from_state: r.try_get("from_state")?,
        to_state: r.try_get("to_state")?,
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A page of a cluster's events, oldest first.
pub async fn events(
    db: &Db,
    cluster_id: &str,
    after: &crate::pagination::Position,
    limit: u32,
) -> Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, from_state, to_state, reason, created_at FROM cluster_events \
         WHERE cluster_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
         ORDER BY created_at, id LIMIT $4",
    )
    .bind(cluster_id)
    .bind(after.created_at)
    .bind(&after.id)
    .bind(i64::from(limit) + 1)
    .fetch_all(db)
    .await?;
    rows.iter().map(event_from_row).collect()
}
