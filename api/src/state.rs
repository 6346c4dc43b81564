//! The state every handler shares.

use std::sync::Arc;

use crate::auth::jwt::Tokens;
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::metrics::Metrics;
use crate::provision::Provisioner;

/// Shared state of the API: cheap to clone (everything behind `Arc` or a pool).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Issues and verifies access tokens.
    pub tokens: Arc<Tokens>,
    /// Runs clusters.
    pub provisioner: Arc<dyn Provisioner>,
    /// Wakes the cluster reconciler after a change of desired state.
    pub reconcile: Arc<tokio::sync::Notify>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// The time: the system clock, or a simulated one in tests (see [`crate::clock`]).
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `db` and `provisioner`, with tokens living `token_ttl`; creates the first
    /// signing key when the database has none.
    pub async fn new(
        db: Db,
        provisioner: Arc<dyn Provisioner>,
        token_ttl: std::time::Duration,
    ) -> Result<Self, crate::error::ApiError> {
        Self::with_tokens(db, provisioner, Tokens::new(token_ttl)).await
    }

    /// State over `db` and `provisioner` issuing tokens with `tokens` (keys in the database
    /// or in a directory); loads their keys, creating the first one in the database when
    /// that is where they live and it has none.
    pub async fn with_tokens(
        db: Db,
        provisioner: Arc<dyn Provisioner>,
        tokens: Tokens,
    ) -> Result<Self, crate::error::ApiError> {
        tokens.ensure_signing_key(&db).await?;
        crate::billing::price_books::ensure_default(&db, crate::db::now_ms()).await?;
        Ok(AppState {
            db,
            tokens: Arc::new(tokens),
            provisioner,
            reconcile: Arc::new(tokio::sync::Notify::new()),
            metrics: Arc::new(Metrics::new()),
            clock: Arc::new(SystemClock),
        })
    }

    /// The same state reading the time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
