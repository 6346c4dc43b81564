//! Classic consumer-group coordinator (INTERFACE STUB: being written).

use std::sync::Arc;

use crate::broker::Partition;
use crate::config::BrokerConfig;
use crate::error::Result;

/// Group coordinator: group membership, rebalances, committed offsets.
#[derive(Debug)]
pub struct GroupCoordinator {}

impl GroupCoordinator {
    /// Loads committed offsets by replaying the `__consumer_offsets` partitions.
    pub fn open(config: &BrokerConfig, offsets_partitions: Vec<Arc<Partition>>) -> Result<Self> {
        let _ = (config, offsets_partitions);
        Ok(GroupCoordinator {})
    }

    /// Expires members whose session timed out and completes due rebalances (called by the
    /// server every 100 ms).
    pub fn tick(&self, now_ms: i64) {
        let _ = now_ms;
    }
}
