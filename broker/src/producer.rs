//! Idempotent producers: producer-id allocation and per-partition sequence checks.
//!
//! Kafka's rules (`ProducerStateManager`): per producer id the broker remembers the epoch and
//! the last five batches' sequence ranges and offsets. A batch whose range matches one of them
//! is a duplicate (a retry) and gets the original offsets back without being appended; a batch
//! that does not start right after the last sequence is out of order; an older epoch is fenced.
//! The table is rebuilt from the batch headers of the log at start-up, so a restart keeps
//! deduplicating retries.

use std::collections::{HashMap, VecDeque};

use crate::log::batch::BatchHeader;

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5,
/// the maximum `max.in.flight.requests.per.connection` with idempotence).
pub const CACHED_BATCHES: usize = 5;

/// Outcome of checking a batch against the producer table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not an idempotent batch, or the next in sequence: append it.
    Append,
    /// A retry of a batch already in the log at these offsets: answer success, append nothing.
    Duplicate {
        /// Offset of the original batch's first record.
        base_offset: i64,
    },
    /// A gap or reordering: OUT_OF_ORDER_SEQUENCE_NUMBER.
    OutOfOrder {
        /// Sequence the broker expected.
        expected: i32,
        /// Sequence the batch carried.
        found: i32,
    },
    /// An epoch older than the producer's current one: INVALID_PRODUCER_EPOCH.
    Fenced {
        /// The producer's current epoch.
        current: i16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CachedBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
}

/// Sequence state of the idempotent producers writing to one partition.
#[derive(Debug, Default)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStateTable {
    /// Decides what to do with a batch (a pure function of the table and the header).
    pub fn check(&self, header: &BatchHeader) -> SequenceCheck {
        if !header.has_producer_id() || header.base_sequence < 0 {
            return SequenceCheck::Append;
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            // Unknown producer (new, or its state aged out with retention): accept, as Kafka
            // does since KIP-360.
            return SequenceCheck::Append;
        };
        if header.producer_epoch < entry.epoch {
            return SequenceCheck::Fenced {
                current: entry.epoch,
            };
        }
        if header.producer_epoch > entry.epoch {
            // A bumped epoch restarts sequences at 0.
            return if header.base_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder {
                    expected: 0,
                    found: header.base_sequence,
                }
            };
        }
        let last_sequence = header.last_sequence();
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last_sequence)
        {
            return SequenceCheck::Duplicate {
                base_offset: b.base_offset,
            };
        }
        let expected = entry
            .batches
            .back()
            .map(|b| next_sequence(b.last_sequence))
            .unwrap_or(0);
        if header.base_sequence != expected {
            return SequenceCheck::OutOfOrder {
                expected,
                found: header.base_sequence,
            };
        }
        SequenceCheck::Append
    }

    /// Records a batch that was appended (its header carries the stamped base offset).
    pub fn record(&mut self, header: &BatchHeader) {
        if !header.has_producer_id() || header.base_sequence < 0 {
            return;
        }
        let entry = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(CachedBatch {
            first_sequence: header.base_sequence,
            last_sequence: header.last_sequence(),
            base_offset: header.base_offset,
        });
        while entry.batches.len() > CACHED_BATCHES {
            entry.batches.pop_front();
        }
    }

    /// Rebuilds the table from the stored batch headers of a partition.
    pub fn rebuild<'a>(headers: impl IntoIterator<Item = &'a BatchHeader>) -> Self {
        let mut table = ProducerStateTable::default();
        for h in headers {
            table.record(h);
        }
        table
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pid: i64, epoch: i16, seq: i32, n: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: n,
        }
    }

    #[test]
    fn in_sequence_batches_append() {
        let mut t = ProducerStateTable::default();
        assert_eq!(t.check(&h(1, 0, 0, 3, 0)), SequenceCheck::Append);
        t.record(&h(1, 0, 0, 3, 0));
        assert_eq!(t.check(&h(1, 0, 3, 2, 3)), SequenceCheck::Append);
    }

    #[test]
    fn a_retry_of_any_of_the_last_five_batches_is_a_duplicate_with_its_offset() {
        let mut t = ProducerStateTable::default();
        for i in 0..5 {
            t.record(&h(1, 0, i * 2, 2, 100 + i as i64 * 2));
        }
        assert_eq!(
            t.check(&h(1, 0, 4, 2, 0)),
            SequenceCheck::Duplicate { base_offset: 104 }
        );
        assert_eq!(
            t.check(&h(1, 0, 0, 2, 0)),
            SequenceCheck::Duplicate { base_offset: 100 }
        );
        t.record(&h(1, 0, 10, 2, 110));
        // The oldest fell out of the cache: now it is simply out of order.
        assert!(matches!(
            t.check(&h(1, 0, 0, 2, 0)),
            SequenceCheck::OutOfOrder {
                expected: 12,
                found: 0
            }
        ));
    }

    #[test]
    fn a_gap_is_out_of_order() {
        let mut t = ProducerStateTable::default();
        t.record(&h(1, 0, 0, 1, 0));
        assert_eq!(
            t.check(&h(1, 0, 2, 1, 0)),
            SequenceCheck::OutOfOrder {
                expected: 1,
                found: 2
            }
        );
    }

    #[test]
    fn older_epochs_are_fenced_and_new_epochs_restart_at_zero() {
        let mut t = ProducerStateTable::default();
        t.record(&h(1, 3, 0, 1, 0));
        assert_eq!(
            t.check(&h(1, 2, 1, 1, 0)),
            SequenceCheck::Fenced { current: 3 }
        );
        assert_eq!(t.check(&h(1, 4, 0, 1, 0)), SequenceCheck::Append);
        assert!(matches!(
            t.check(&h(1, 4, 5, 1, 0)),
            SequenceCheck::OutOfOrder { .. }
        ));
    }

    #[test]
    fn non_idempotent_batches_are_always_appended() {
        let t = ProducerStateTable::default();
        assert_eq!(t.check(&h(-1, -1, -1, 5, 0)), SequenceCheck::Append);
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut t = ProducerStateTable::default();
        t.record(&h(1, 0, i32::MAX - 1, 2, 0));
        assert_eq!(t.check(&h(1, 0, 0, 1, 2)), SequenceCheck::Append);
    }

    #[test]
    fn rebuild_replays_headers() {
        let hs = [h(1, 0, 0, 2, 0), h(2, 0, 0, 1, 2), h(1, 0, 2, 2, 3)];
        let t = ProducerStateTable::rebuild(hs.iter());
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.check(&h(1, 0, 2, 2, 0)),
            SequenceCheck::Duplicate { base_offset: 3 }
        );
    }
}
