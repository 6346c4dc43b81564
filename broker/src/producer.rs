//! Idempotent producers: producer-id allocation and per-partition sequence checks.
//!
//! Kafka's rules (`ProducerStateManager`): per producer id the broker remembers the epoch and
//! the last five batches' sequence ranges and offsets. A batch whose range matches one of them
//! is a duplicate (a retry) and gets the original offsets back without being appended; a batch
//! that does not start right after the last sequence is out of order; an older epoch is fenced.
//! The table is rebuilt from the batch headers of the log at start-up, so a restart keeps
//! deduplicating retries.
//!
//! It also follows transactions, as Kafka's producer state does: a producer's first
//! transactional batch opens its transaction at that offset, a control batch (COMMIT or
//! ABORT marker, written by the transaction coordinator) closes it and moves the producer to
//! the marker's epoch, so a fenced zombie's late batches are refused. The smallest open
//! first offset bounds the last stable offset (what `read_committed` consumers may see), and
//! every aborted transaction is remembered as (producer, first offset, marker offset) for
//! Fetch's aborted-transaction lists.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::log::batch::{BatchHeader, ControlMarker};

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
    /// First offset of the producer's open transaction in this partition.
    txn_first_offset: Option<i64>,
}

/// A transaction that ended with an ABORT marker: `read_committed` consumers drop the
/// producer's records from `first_offset` up to the marker at `last_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The transactional producer.
    pub producer_id: i64,
    /// Offset of its first record in the transaction.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
}

/// Sequence and transaction state of the producers writing to one partition.
#[derive(Debug, Default)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions, by marker offset.
    aborted: Vec<AbortedTxn>,
}

fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStateTable {
    /// Decides what to do with a batch (a pure function of the table and the header).
    pub fn check(&self, header: &BatchHeader) -> SequenceCheck {
        if !header.has_producer_id() {
            return SequenceCheck::Append;
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            // Unknown producer (new, or its state aged out with retention): accept, as Kafka
            // does since KIP-360.
            return SequenceCheck::Append;
        };
        // Markers come from the coordinator, which decides epochs; anything else from an
        // older epoch is a fenced producer's (transactional offsets carry no sequence).
        if !header.is_control() && header.producer_epoch < entry.epoch {
            return SequenceCheck::Fenced {
                current: entry.epoch,
            };
        }
        if header.base_sequence < 0 {
            return SequenceCheck::Append;
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

    /// Records a batch that was appended (its header carries the stamped base offset);
    /// `marker` is what a control batch says.
    pub fn record(&mut self, header: &BatchHeader, marker: Option<ControlMarker>) {
        if !header.has_producer_id() {
            return;
        }
        let fresh = || ProducerEntry {
            epoch: header.producer_epoch,
            ..ProducerEntry::default()
        };
        if header.is_control() {
            let entry = self
                .producers
                .entry(header.producer_id)
                .or_insert_with(fresh);
            if header.producer_epoch > entry.epoch {
                entry.epoch = header.producer_epoch;
                entry.batches.clear();
            }
            if let Some(first_offset) = entry.txn_first_offset.take() {
                self.ongoing.remove(&first_offset);
                if marker == Some(ControlMarker::Abort) {
                    self.aborted.push(AbortedTxn {
                        producer_id: header.producer_id,
                        first_offset,
                        last_offset: header.base_offset,
                    });
                }
            }
            return;
        }
        if header.is_transactional() {
            let entry = self
                .producers
                .entry(header.producer_id)
                .or_insert_with(fresh);
            if entry.txn_first_offset.is_none() {
                entry.txn_first_offset = Some(header.base_offset);
                self.ongoing.insert(header.base_offset, header.producer_id);
            }
        }
        if header.base_sequence < 0 {
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

    /// Rebuilds the table from the stored batches of a partition: headers, and the marker
    /// of each control batch.
    pub fn rebuild<'a>(
        batches: impl IntoIterator<Item = &'a (BatchHeader, Option<ControlMarker>)>,
    ) -> Self {
        let mut table = ProducerStateTable::default();
        for (h, marker) in batches {
            table.record(h, *marker);
        }
        table
    }

    /// First offset of the oldest open transaction: the last stable offset cannot pass it.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Whether `producer_id` has an open transaction here.
    pub fn in_transaction(&self, producer_id: i64) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|e| e.txn_first_offset.is_some())
    }

    /// Aborted transactions a read of `[from, to)` must tell the consumer about: those whose
    /// records reach into the range (marker at or after `from`, first record before `to`).
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted[start..]
            .iter()
            .filter(|a| a.first_offset < to)
            .copied()
            .collect()
    }

    /// Every aborted transaction remembered (the log cleaner drops their records).
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }

    /// Forgets aborted transactions whose marker is below `log_start` (deleted by retention).
    pub fn forget_before(&mut self, log_start: i64) {
        let keep = self.aborted.partition_point(|a| a.last_offset < log_start);
        self.aborted.drain(..keep);
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
        t.record(&h(1, 0, 0, 3, 0), None);
        assert_eq!(t.check(&h(1, 0, 3, 2, 3)), SequenceCheck::Append);
    }

    #[test]
    fn a_retry_of_any_of_the_last_five_batches_is_a_duplicate_with_its_offset() {
        let mut t = ProducerStateTable::default();
        for i in 0..5 {
            t.record(&h(1, 0, i * 2, 2, 100 + i as i64 * 2), None);
        }
        assert_eq!(
            t.check(&h(1, 0, 4, 2, 0)),
            SequenceCheck::Duplicate { base_offset: 104 }
        );
        assert_eq!(
            t.check(&h(1, 0, 0, 2, 0)),
            SequenceCheck::Duplicate { base_offset: 100 }
        );
        t.record(&h(1, 0, 10, 2, 110), None);
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
        t.record(&h(1, 0, 0, 1, 0), None);
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
        t.record(&h(1, 3, 0, 1, 0), None);
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
        t.record(&h(1, 0, i32::MAX - 1, 2, 0), None);
        assert_eq!(t.check(&h(1, 0, 0, 1, 2)), SequenceCheck::Append);
    }

    #[test]
    fn rebuild_replays_headers() {
        let hs = [h(1, 0, 0, 2, 0), h(2, 0, 0, 1, 2), h(1, 0, 2, 2, 3)].map(|h| (h, None));
        let t = ProducerStateTable::rebuild(hs.iter());
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.check(&h(1, 0, 2, 2, 0)),
            SequenceCheck::Duplicate { base_offset: 3 }
        );
    }
    fn txn(pid: i64, epoch: i16, seq: i32, n: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            attributes: 0x10,
            ..h(pid, epoch, seq, n, base_offset)
        }
    }

    fn marker(pid: i64, epoch: i16, offset: i64) -> BatchHeader {
        BatchHeader {
            attributes: 0x30,
            ..h(pid, epoch, -1, 1, offset)
        }
    }

    #[test]
    fn a_transaction_is_open_from_its_first_batch_to_its_marker() {
        let mut t = ProducerStateTable::default();
        t.record(&h(9, 0, 0, 5, 0), None);
        assert_eq!(t.first_unstable_offset(), None);
        t.record(&txn(1, 0, 0, 2, 5), None);
        t.record(&txn(2, 0, 0, 1, 7), None);
        t.record(&txn(1, 0, 2, 2, 8), None);
        assert_eq!(t.first_unstable_offset(), Some(5));
        assert!(t.in_transaction(1));
        t.record(&marker(1, 0, 10), Some(ControlMarker::Commit));
        assert!(!t.in_transaction(1));
        assert_eq!(t.first_unstable_offset(), Some(7));
        t.record(&marker(2, 0, 11), Some(ControlMarker::Commit));
        assert_eq!(t.first_unstable_offset(), None);
        assert!(t.aborted().is_empty());
    }

    #[test]
    fn aborted_transactions_are_listed_for_the_reads_they_overlap() {
        let mut t = ProducerStateTable::default();
        t.record(&txn(1, 0, 0, 3, 0), None);
        t.record(&marker(1, 0, 3), Some(ControlMarker::Abort));
        t.record(&txn(1, 0, 3, 3, 4), None);
        t.record(&marker(1, 0, 7), Some(ControlMarker::Commit));
        t.record(&txn(2, 0, 0, 2, 8), None);
        t.record(&marker(2, 0, 10), Some(ControlMarker::Abort));
        let first = AbortedTxn {
            producer_id: 1,
            first_offset: 0,
            last_offset: 3,
        };
        let second = AbortedTxn {
            producer_id: 2,
            first_offset: 8,
            last_offset: 10,
        };
        assert_eq!(t.aborted_between(0, 4), vec![first]);
        assert_eq!(t.aborted_between(3, 100), vec![first, second]);
        assert_eq!(t.aborted_between(4, 8), vec![]);
        assert_eq!(t.aborted_between(9, 100), vec![second]);
        t.forget_before(4);
        assert_eq!(t.aborted(), &[second]);
    }

    #[test]
    fn a_marker_with_a_bumped_epoch_fences_the_old_producer() {
        let mut t = ProducerStateTable::default();
        t.record(&txn(1, 4, 0, 2, 0), None);
        // The coordinator aborted the transaction of a fenced producer with epoch 5.
        t.record(&marker(1, 5, 2), Some(ControlMarker::Abort));
        assert_eq!(
            t.check(&txn(1, 4, 2, 1, 0)),
            SequenceCheck::Fenced { current: 5 }
        );
        // The new producer (epoch 6) starts its sequences again.
        assert_eq!(t.check(&txn(1, 6, 0, 1, 0)), SequenceCheck::Append);
    }

    #[test]
    fn rebuild_restores_open_and_aborted_transactions() {
        let batches = [
            (txn(1, 0, 0, 2, 0), None),
            (marker(1, 0, 2), Some(ControlMarker::Abort)),
            (txn(2, 0, 0, 1, 3), None),
        ];
        let t = ProducerStateTable::rebuild(batches.iter());
        assert_eq!(t.first_unstable_offset(), Some(3));
        assert_eq!(t.aborted().len(), 1);
    }
}
