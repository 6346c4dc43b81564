//! Client quotas (Kafka's `producer_byte_rate`, `consumer_byte_rate` and
//! `request_percentage`) and the per-cluster ceilings on partitions and connections.
//!
//! # Layout
//!
//! - [`entity`]: entities (user, client id, both, with Kafka's `<default>`), the quota types,
//!   and Kafka's precedence between entities; pure.
//! - [`rate`]: the windowed rate and the throttle time derived from it; pure.
//! - this module: [`ClientQuotas`], the live table and the rates measured against it, and the
//!   [`Broker`] methods that read and change the persisted quotas (`metadata.json`).
//!
//! # Enforcement
//!
//! As in Kafka, a request over quota is served, and its response carries `throttle_time_ms`;
//! the connection then reads nothing more from the client until that time has passed (KIP-219
//! channel muting), so a client that ignores the field is slowed all the same. Produce counts
//! the record-batch bytes it appended; Fetch counts the bytes it would return and, when that
//! would exceed the quota, returns no records instead (Kafka's behaviour) unless the client
//! had no recent traffic; every request except ApiVersions and SASL counts the time its
//! handler ran (not the time it waited, e.g. a Fetch long-poll), in percent of one thread.

pub mod entity;
pub mod rate;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};

pub use self::entity::{Client, EntityName, QuotaEntity, QuotaTable, QuotaType};
use self::entity::{SensorKey, resolve};
use self::rate::SampledRate;
pub use self::rate::WindowConfig;
use crate::broker::{ApiError, Broker};
use crate::error::Result;
use crate::handlers::RequestContext;
use crate::security::acl::Operation;

/// The quotas set on one entity, as persisted in `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientQuotaRecord {
    /// What the quotas are set on.
    pub entity: QuotaEntity,
    /// Values by type (bytes per second, or percent of one thread).
    pub values: BTreeMap<QuotaType, f64>,
}

/// One requested change of AlterClientQuotas, already validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaChange {
    /// The entity changed.
    pub entity: QuotaEntity,
    /// New values (`Some`) and removals (`None`) by type.
    pub ops: BTreeMap<QuotaType, Option<f64>>,
}

/// The outcome of recording usage against a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recorded {
    /// How long the client must wait; 0 within quota (or with no quota at all).
    pub throttle_ms: i64,
    /// Whether nothing else was recorded in the sampled span before this (Fetch then keeps
    /// an oversized response rather than starving the client).
    pub was_idle: bool,
}

/// The live quota table and the rates measured against it.
#[derive(Debug)]
pub struct ClientQuotas {
    window: WindowConfig,
    epoch: Instant,
    /// Whether any quota is set; with none, recording costs one atomic load.
    active: AtomicBool,
    state: Mutex<QuotaState>,
}

#[derive(Debug, Default)]
struct QuotaState {
    table: QuotaTable,
    rates: HashMap<SensorKey, SampledRate>,
}

impl ClientQuotas {
    /// Quotas from the persisted records.
    pub fn new(window: WindowConfig, records: &[ClientQuotaRecord]) -> Self {
        let quotas = ClientQuotas {
            window,
            epoch: Instant::now(),
            active: AtomicBool::new(false),
            state: Mutex::new(QuotaState::default()),
        };
        quotas.set_table(table_of(records));
        quotas
    }

    /// The sampling windows.
    pub fn window(&self) -> WindowConfig {
        self.window
    }

    fn lock(&self) -> MutexGuard<'_, QuotaState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_table(&self, table: QuotaTable) {
        let mut state = self.lock();
        self.active.store(!table.is_empty(), Ordering::Release);
        state.table = table;
    }

    /// Takes the quotas of the metadata image (nothing changes when they are the same).
    pub fn set_records(&self, records: &[ClientQuotaRecord]) {
        let table = table_of(records);
        let mut state = self.lock();
        if state.table != table {
            self.active.store(!table.is_empty(), Ordering::Release);
            state.table = table;
        }
    }

    fn now_ms(&self) -> i64 {
        self.epoch.elapsed().as_millis() as i64
    }

    /// The bound of the quota of type `quota` that applies to `client`, if any.
    pub fn bound(&self, quota: QuotaType, client: Client<'_>) -> Option<f64> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        resolve(&self.lock().table, quota, client).map(|q| q.bound)
    }

    /// Records `value` (bytes, or percent-seconds for request time) for `client` now.
    pub fn record(&self, quota: QuotaType, client: Client<'_>, value: f64) -> Recorded {
        self.record_at(quota, client, value, self.now_ms())
    }

    /// [`Self::record`] at a given time (milliseconds on this table's clock; tests).
    pub fn record_at(
        &self,
        quota: QuotaType,
        client: Client<'_>,
        value: f64,
        now_ms: i64,
    ) -> Recorded {
        if !self.active.load(Ordering::Acquire) {
            return Recorded::default();
        }
        let mut state = self.lock();
        let Some(applied) = resolve(&state.table, quota, client) else {
            return Recorded::default();
        };
        let window = self.window;
        let rate = state.rates.entry(applied.sensor).or_default();
        let was_idle = rate.is_idle(now_ms, window);
        rate.record(value, now_ms, window);
        let throttle_ms = rate.throttle_ms(applied.bound, now_ms, window);
        Recorded {
            throttle_ms,
            was_idle,
        }
    }

    /// Takes back a recording (a throttled Fetch returns no records, so they do not count).
    pub fn unrecord(&self, quota: QuotaType, client: Client<'_>, value: f64) {
        self.record(quota, client, -value);
    }

    /// Forgets rates with nothing recorded in the sampled span (their rate is 0).
    pub fn expire_idle(&self) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let now = self.now_ms();
        let window = self.window;
        self.lock().rates.retain(|_, r| !r.is_idle(now, window));
    }
}

/// The table of the persisted records.
fn table_of(records: &[ClientQuotaRecord]) -> QuotaTable {
    records
        .iter()
        .filter(|r| !r.values.is_empty())
        .map(|r| (r.entity.clone(), r.values.clone()))
        .collect()
}

/// Applies validated changes to the persisted records: values set, removals removed, entities
/// left without values dropped. Pure, so the metadata write can be undone on failure.
pub fn apply_changes(records: &mut Vec<ClientQuotaRecord>, changes: &[QuotaChange]) {
    for change in changes {
        let index = match records.iter().position(|r| r.entity == change.entity) {
            Some(i) => i,
            None => {
                records.push(ClientQuotaRecord {
                    entity: change.entity.clone(),
                    values: BTreeMap::new(),
                });
                records.len() - 1
            }
        };
        let values = &mut records[index].values;
        for (quota, value) in &change.ops {
            match value {
                Some(v) => values.insert(*quota, *v),
                None => values.remove(quota),
            };
        }
    }
    records.retain(|r| !r.values.is_empty());
    records.sort_by(|a, b| a.entity.cmp(&b.entity));
}

/// Whether `ctx` may change quotas: ALTER_CONFIGS on the cluster with the authorizer on;
/// without it a super user, or anyone on a listener without authentication (as for SCRAM
/// credentials in `handlers/sasl.rs`). Tenants never may: quotas are the operator's.
pub(crate) fn may_alter(broker: &Broker, ctx: &RequestContext) -> bool {
    if ctx.principal.tenant.is_some() {
        return false;
    }
    if broker.authorizer_enabled() {
        return ctx.may_on_cluster(broker, Operation::AlterConfigs);
    }
    ctx.principal.name == "ANONYMOUS" || broker.config.security.is_super_user(&ctx.principal)
}

/// Whether `ctx` may read quotas: DESCRIBE_CONFIGS on the cluster with the authorizer on,
/// anyone without it; never a tenant (the list names other tenants' users).
pub(crate) fn may_describe(broker: &Broker, ctx: &RequestContext) -> bool {
    if ctx.principal.tenant.is_some() {
        return false;
    }
    !broker.authorizer_enabled() || ctx.may_on_cluster(broker, Operation::DescribeConfigs)
}

impl Broker {
    /// Every entity with quotas, and its values.
    pub fn client_quotas(&self) -> Vec<ClientQuotaRecord> {
        self.image().client_quotas.clone()
    }

    /// Applies validated changes through the controller; the live table follows the image.
    pub async fn alter_client_quotas(&self, changes: &[QuotaChange]) -> Result<(), ApiError> {
        let reply = self
            .quorum
            .submit(crate::cluster::rpc::ControllerRequest::AlterQuotas(
                changes.to_vec(),
            ))
            .await?;
        self.wait_published(reply.index).await;
        for c in changes {
            tracing::info!(entity = %c.entity, ops = ?c.ops, "client quotas changed");
        }
        Ok(())
    }

    /// Records `value` against `ctx`'s quota of type `quota` and counts a resulting throttle
    /// in the metrics; returns the throttle.
    pub(crate) fn record_quota(
        &self,
        quota: QuotaType,
        ctx: &RequestContext,
        value: f64,
    ) -> Recorded {
        let recorded = self.quotas.record(quota, client_of(ctx), value);
        if recorded.throttle_ms > 0 {
            self.metrics
                .throttled(quota, &ctx.principal, recorded.throttle_ms);
        }
        recorded
    }

    /// Records the handler time of a request against `ctx`'s `request_percentage` quota and
    /// returns the throttle it earns (0 without such a quota).
    pub(crate) fn record_request_time(&self, ctx: &RequestContext, busy: Duration) -> i64 {
        // Percent-seconds: the rate over a second is then a percentage of one thread.
        let value = busy.as_secs_f64() * 100.0;
        self.record_quota(QuotaType::Request, ctx, value)
            .throttle_ms
    }
}

/// Who `ctx` is, for quotas.
pub(crate) fn client_of(ctx: &RequestContext) -> Client<'_> {
    Client {
        user: &ctx.principal.name,
        client_id: &ctx.client_id,
    }
}

/// The refusal of a topic change that would pass `fjord.max.partitions`.
pub(crate) fn partition_limit_error(current: u64, adding: u64, limit: u64) -> ApiError {
    ApiError::new(
        ResponseError::PolicyViolation,
        format!(
            "adding {adding} partitions to the {current} this cluster has would pass its \
             limit of {limit} (fjord.max.partitions); delete topics or raise the limit"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Client<'static> {
        Client {
            user: "alice",
            client_id: "app",
        }
    }

    fn user(name: &str) -> QuotaEntity {
        QuotaEntity {
            user: Some(EntityName::Name(name.into())),
            client_id: None,
        }
    }

    fn set(entity: QuotaEntity, quota: QuotaType, value: Option<f64>) -> QuotaChange {
        QuotaChange {
            entity,
            ops: [(quota, value)].into(),
        }
    }

    #[test]
    fn changes_set_replace_and_remove_values_and_drop_empty_entities() {
        let mut records = Vec::new();
        apply_changes(
            &mut records,
            &[
                set(user("b"), QuotaType::Produce, Some(10.0)),
                set(user("a"), QuotaType::Fetch, Some(5.0)),
                set(user("a"), QuotaType::Produce, Some(7.0)),
            ],
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].entity, user("a"), "kept sorted by entity");
        assert_eq!(records[0].values.len(), 2);
        apply_changes(
            &mut records,
            &[
                set(user("b"), QuotaType::Produce, None),
                set(user("a"), QuotaType::Fetch, Some(6.0)),
                set(user("c"), QuotaType::Request, None),
            ],
        );
        assert_eq!(
            records.len(),
            1,
            "b lost its only value; removing from c is a no-op"
        );
        assert_eq!(records[0].values[&QuotaType::Fetch], 6.0);
    }

    #[test]
    fn recording_throttles_only_clients_over_their_quota() {
        let window = WindowConfig::default();
        let records = vec![ClientQuotaRecord {
            entity: user("alice"),
            values: [(QuotaType::Produce, 1000.0)].into(),
        }];
        let q = ClientQuotas::new(window, &records);
        let first = q.record_at(QuotaType::Produce, alice(), 800.0, 0);
        assert_eq!(first.throttle_ms, 0);
        assert!(first.was_idle);
        let second = q.record_at(QuotaType::Produce, alice(), 700.0, 100);
        assert_eq!(
            second.throttle_ms, 1400,
            "1500 B at 1000 B/s: 1.5 s after the first"
        );
        assert!(!second.was_idle);
        let bob = Client {
            user: "bob",
            client_id: "app",
        };
        assert_eq!(
            q.record_at(QuotaType::Produce, bob, 1e9, 100).throttle_ms,
            0
        );
        assert_eq!(
            q.record_at(QuotaType::Fetch, alice(), 1e9, 100).throttle_ms,
            0
        );
        q.unrecord(QuotaType::Produce, alice(), 0.0);
        assert_eq!(q.bound(QuotaType::Produce, alice()), Some(1000.0));
        assert_eq!(q.bound(QuotaType::Produce, bob), None);
    }

    #[test]
    fn with_no_quota_nothing_is_tracked() {
        let q = ClientQuotas::new(WindowConfig::default(), &[]);
        assert_eq!(
            q.record_at(QuotaType::Produce, alice(), 1e12, 0),
            Recorded::default()
        );
        assert!(q.lock().rates.is_empty());
    }

    #[tokio::test]
    async fn quotas_persist_across_reopen_and_apply_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            let mut m = BTreeMap::new();
            m.insert("log.dirs".to_string(), dir.path().display().to_string());
            Broker::open_ready(crate::config::BrokerConfig::from_map(m).unwrap())
        };
        let b = open().await.unwrap();
        b.alter_client_quotas(&[set(user("alice"), QuotaType::Produce, Some(1000.0))])
            .await
            .unwrap();
        assert_eq!(b.quotas.bound(QuotaType::Produce, alice()), Some(1000.0));
        b.stop().await;
        drop(b);
        let b = open().await.unwrap();
        assert_eq!(b.client_quotas().len(), 1);
        assert_eq!(b.quotas.bound(QuotaType::Produce, alice()), Some(1000.0));
        b.alter_client_quotas(&[set(user("alice"), QuotaType::Produce, None)])
            .await
            .unwrap();
        assert_eq!(b.quotas.bound(QuotaType::Produce, alice()), None);
        assert!(b.client_quotas().is_empty());
    }
}
