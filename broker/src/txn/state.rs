//! One transactional id's metadata and every transition of Kafka's transaction state
//! machine, as pure functions of the current metadata, the request and the clock. The
//! coordinator shell ([`super`]) writes what they return to `__transaction_state` and sends
//! the markers; every decision is here and unit tested.
//!
//! ```text
//! Empty ──AddPartitions──▶ Ongoing ──EndTxn(commit)──▶ PrepareCommit ──markers──▶ CompleteCommit
//!   ▲                        │  └────EndTxn(abort), timeout, ─▶ PrepareAbort ──markers──▶ CompleteAbort
//!   └──InitProducerId────────┘       InitProducerId (fence)
//! ```

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;

/// Kafka's `TransactionState` (the numbers are its on-disk status codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnStatus {
    /// No transaction open.
    Empty,
    /// Partitions added, not ended.
    Ongoing,
    /// EndTxn(commit) accepted; COMMIT markers being written.
    PrepareCommit,
    /// Aborting (EndTxn(abort), a timeout or a fence); ABORT markers being written.
    PrepareAbort,
    /// Every COMMIT marker written.
    CompleteCommit,
    /// Every ABORT marker written.
    CompleteAbort,
    /// Expired; the id is forgotten.
    Dead,
    /// Kafka's transient fencing state (never written here; read for compatibility).
    PrepareEpochFence,
}

impl TxnStatus {
    /// The on-disk code.
    pub fn code(self) -> i8 {
        match self {
            TxnStatus::Empty => 0,
            TxnStatus::Ongoing => 1,
            TxnStatus::PrepareCommit => 2,
            TxnStatus::PrepareAbort => 3,
            TxnStatus::CompleteCommit => 4,
            TxnStatus::CompleteAbort => 5,
            TxnStatus::Dead => 6,
            TxnStatus::PrepareEpochFence => 7,
        }
    }

    /// From the on-disk code.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            0 => TxnStatus::Empty,
            1 => TxnStatus::Ongoing,
            2 => TxnStatus::PrepareCommit,
            3 => TxnStatus::PrepareAbort,
            4 => TxnStatus::CompleteCommit,
            5 => TxnStatus::CompleteAbort,
            6 => TxnStatus::Dead,
            7 => TxnStatus::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions report (Kafka's).
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Whether markers are being written (every other request waits: CONCURRENT_TRANSACTIONS).
    pub fn is_preparing(self) -> bool {
        matches!(
            self,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence
        )
    }
}

/// What the coordinator knows of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its current epoch; older epochs are fenced.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i32,
    /// Where the transaction is.
    pub status: TxnStatus,
    /// Partitions in the open transaction (topic, partition).
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction started (-1: none).
    pub start_ms: i64,
    /// Last change.
    pub last_update_ms: i64,
}

/// The epoch after which a producer id is replaced rather than bumped (Kafka keeps
/// `Short.MAX_VALUE` free for fencing).
const LAST_EPOCH: i16 = i16::MAX - 1;

/// What InitProducerId decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitDecision {
    /// Write this metadata and answer with its producer id and epoch.
    Ready(TxnMetadata),
    /// An open transaction must be aborted first (fencing its producer with a bumped epoch):
    /// write this PrepareAbort, send the markers, and answer CONCURRENT_TRANSACTIONS (the
    /// client retries and then gets a fresh epoch).
    AbortFirst(TxnMetadata),
}

/// InitProducerId with a transactional id. `new_producer_id` is called when the id needs a
/// fresh producer id (new id, or epochs exhausted).
pub fn init_producer_id(
    current: Option<&TxnMetadata>,
    transactional_id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    now_ms: i64,
    new_producer_id: impl FnOnce() -> Result<i64, ResponseError>,
) -> Result<InitDecision, ResponseError> {
    let current = current.filter(|m| m.status != TxnStatus::Dead);
    let Some(m) = current else {
        if expected.is_some() {
            // KIP-360: the producer believes in an id this coordinator does not know.
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        return Ok(InitDecision::Ready(TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: new_producer_id()?,
            producer_epoch: 0,
            timeout_ms,
            status: TxnStatus::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        }));
    };
    if let Some((producer_id, epoch)) = expected
        && (producer_id != m.producer_id || epoch != m.producer_epoch)
    {
        return Err(ResponseError::ProducerFenced);
    }
    match m.status {
        s if s.is_preparing() => Err(ResponseError::ConcurrentTransactions),
        TxnStatus::Ongoing => Ok(InitDecision::AbortFirst(TxnMetadata {
            producer_epoch: m.producer_epoch.saturating_add(1),
            status: TxnStatus::PrepareAbort,
            last_update_ms: now_ms,
            ..m.clone()
        })),
        _ => {
            let (producer_id, producer_epoch) = if m.producer_epoch >= LAST_EPOCH {
                (new_producer_id()?, 0)
            } else {
                (m.producer_id, m.producer_epoch + 1)
            };
            Ok(InitDecision::Ready(TxnMetadata {
                transactional_id: m.transactional_id.clone(),
                producer_id,
                producer_epoch,
                timeout_ms,
                status: TxnStatus::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now_ms,
            }))
        }
    }
}

/// The checks every request of an existing producer passes first.
fn check_producer(m: &TxnMetadata, producer_id: i64, epoch: i16) -> Result<(), ResponseError> {
    if m.status == TxnStatus::Dead || producer_id != m.producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if epoch != m.producer_epoch {
        return Err(ResponseError::ProducerFenced);
    }
    if m.status.is_preparing() {
        return Err(ResponseError::ConcurrentTransactions);
    }
    Ok(())
}

/// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets partition): the
/// metadata to write, or `None` when every partition is already in the open transaction.
pub fn add_partitions(
    m: &TxnMetadata,
    producer_id: i64,
    epoch: i16,
    partitions: &[(String, i32)],
    now_ms: i64,
) -> Result<Option<TxnMetadata>, ResponseError> {
    check_producer(m, producer_id, epoch)?;
    if m.status == TxnStatus::Ongoing && partitions.iter().all(|p| m.partitions.contains(p)) {
        return Ok(None);
    }
    let mut next = m.clone();
    if m.status != TxnStatus::Ongoing {
        next.partitions.clear();
        next.start_ms = now_ms;
        next.status = TxnStatus::Ongoing;
    }
    next.partitions.extend(partitions.iter().cloned());
    next.last_update_ms = now_ms;
    Ok(Some(next))
}

/// Whether the open transaction of `producer_id` holds `partition` (KIP-890 verification
/// and TxnOffsetCommit's check).
pub fn holds(m: &TxnMetadata, producer_id: i64, epoch: i16, partition: &(String, i32)) -> bool {
    m.producer_id == producer_id
        && m.producer_epoch == epoch
        && m.status == TxnStatus::Ongoing
        && m.partitions.contains(partition)
}

/// What EndTxn decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndDecision {
    /// Write this Prepare state, answer, then send the markers.
    Prepare(TxnMetadata),
    /// A retry of an EndTxn that already completed: answer success.
    AlreadyDone,
}

/// EndTxn.
pub fn end_txn(
    m: &TxnMetadata,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    now_ms: i64,
) -> Result<EndDecision, ResponseError> {
    if m.status == TxnStatus::Dead || producer_id != m.producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if epoch != m.producer_epoch {
        return Err(ResponseError::ProducerFenced);
    }
    match (m.status, commit) {
        (TxnStatus::Ongoing, _) => Ok(EndDecision::Prepare(TxnMetadata {
            status: if commit {
                TxnStatus::PrepareCommit
            } else {
                TxnStatus::PrepareAbort
            },
            last_update_ms: now_ms,
            ..m.clone()
        })),
        (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
            Ok(EndDecision::AlreadyDone)
        }
        (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
            Err(ResponseError::ConcurrentTransactions)
        }
        _ => Err(ResponseError::InvalidTxnState),
    }
}

/// The state once every marker of a Prepare state is written.
pub fn complete(m: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    let status = match m.status {
        TxnStatus::PrepareCommit => TxnStatus::CompleteCommit,
        TxnStatus::PrepareAbort => TxnStatus::CompleteAbort,
        _ => return None,
    };
    Some(TxnMetadata {
        status,
        partitions: BTreeSet::new(),
        start_ms: -1,
        last_update_ms: now_ms,
        ..m.clone()
    })
}

/// An open transaction past its timeout: aborted with a bumped epoch, which fences the
/// producer that let it expire.
pub fn timed_out(m: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    (m.status == TxnStatus::Ongoing
        && m.start_ms >= 0
        && now_ms > m.start_ms + i64::from(m.timeout_ms))
    .then(|| TxnMetadata {
        producer_epoch: m.producer_epoch.saturating_add(1),
        status: TxnStatus::PrepareAbort,
        last_update_ms: now_ms,
        ..m.clone()
    })
}

/// Whether an idle id has been unused for `expiration_ms` and can be forgotten
/// (`transactional.id.expiration.ms`).
pub fn expired(m: &TxnMetadata, now_ms: i64, expiration_ms: i64) -> bool {
    matches!(
        m.status,
        TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
    ) && now_ms - m.last_update_ms > expiration_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> (String, i32) {
        (t.to_string(), p)
    }

    fn fresh() -> TxnMetadata {
        match init_producer_id(None, "tx", 60_000, None, 0, || Ok(7)).unwrap() {
            InitDecision::Ready(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_id_gets_a_producer_id_at_epoch_zero() {
        let m = fresh();
        assert_eq!((m.producer_id, m.producer_epoch), (7, 0));
        assert_eq!(m.status, TxnStatus::Empty);
    }

    #[test]
    fn a_commit_goes_through_prepare_to_complete() {
        let m = fresh();
        let m = add_partitions(&m, 7, 0, &[tp("a", 0), tp("a", 1)], 10)
            .unwrap()
            .unwrap();
        assert_eq!(m.status, TxnStatus::Ongoing);
        assert_eq!(m.start_ms, 10);
        assert_eq!(add_partitions(&m, 7, 0, &[tp("a", 1)], 11).unwrap(), None);
        let m = match end_txn(&m, 7, 0, true, 20).unwrap() {
            EndDecision::Prepare(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(m.status, TxnStatus::PrepareCommit);
        assert_eq!(m.partitions.len(), 2);
        // Everything else waits while the markers are written.
        assert_eq!(
            add_partitions(&m, 7, 0, &[tp("b", 0)], 21),
            Err(ResponseError::ConcurrentTransactions)
        );
        assert_eq!(
            end_txn(&m, 7, 0, true, 21),
            Err(ResponseError::ConcurrentTransactions)
        );
        let m = complete(&m, 30).unwrap();
        assert_eq!(m.status, TxnStatus::CompleteCommit);
        assert!(m.partitions.is_empty());
        // A retried EndTxn is answered with success; the opposite decision is refused.
        assert_eq!(end_txn(&m, 7, 0, true, 31), Ok(EndDecision::AlreadyDone));
        assert_eq!(
            end_txn(&m, 7, 0, false, 31),
            Err(ResponseError::InvalidTxnState)
        );
        // The next transaction starts afresh.
        let next = add_partitions(&m, 7, 0, &[tp("b", 0)], 40)
            .unwrap()
            .unwrap();
        assert_eq!(next.partitions.len(), 1);
        assert_eq!(next.start_ms, 40);
    }

    #[test]
    fn init_producer_id_fences_an_open_transaction_by_aborting_it_with_a_bumped_epoch() {
        let m = add_partitions(&fresh(), 7, 0, &[tp("a", 0)], 10)
            .unwrap()
            .unwrap();
        let aborting = match init_producer_id(Some(&m), "tx", 60_000, None, 20, || Ok(99)) {
            Ok(InitDecision::AbortFirst(a)) => a,
            other => panic!("{other:?}"),
        };
        assert_eq!(aborting.status, TxnStatus::PrepareAbort);
        assert_eq!(aborting.producer_epoch, 1);
        assert_eq!(aborting.partitions, m.partitions);
        // The old producer is fenced from now on.
        assert_eq!(
            end_txn(&aborting, 7, 0, true, 21),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            init_producer_id(Some(&aborting), "tx", 60_000, None, 21, || Ok(99)),
            Err(ResponseError::ConcurrentTransactions)
        );
        let done = complete(&aborting, 22).unwrap();
        match init_producer_id(Some(&done), "tx", 60_000, None, 23, || Ok(99)) {
            Ok(InitDecision::Ready(m)) => {
                assert_eq!((m.producer_id, m.producer_epoch), (7, 2));
                assert_eq!(m.status, TxnStatus::Empty);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exhausted_epochs_get_a_new_producer_id() {
        let m = TxnMetadata {
            producer_epoch: LAST_EPOCH,
            ..fresh()
        };
        match init_producer_id(Some(&m), "tx", 1000, None, 5, || Ok(8)) {
            Ok(InitDecision::Ready(m)) => assert_eq!((m.producer_id, m.producer_epoch), (8, 0)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_producer_ids_and_epochs_are_refused() {
        let m = fresh();
        assert_eq!(
            add_partitions(&m, 8, 0, &[tp("a", 0)], 1),
            Err(ResponseError::InvalidProducerIdMapping)
        );
        let bumped = TxnMetadata {
            producer_epoch: 3,
            ..m.clone()
        };
        assert_eq!(
            add_partitions(&bumped, 7, 2, &[tp("a", 0)], 1),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            end_txn(&m, 7, 0, true, 1),
            Err(ResponseError::InvalidTxnState)
        );
        // KIP-360: a producer that names its id and epoch must name the current ones.
        assert_eq!(
            init_producer_id(Some(&bumped), "tx", 1000, Some((7, 2)), 1, || Ok(9)),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            init_producer_id(None, "tx", 1000, Some((7, 2)), 1, || Ok(9)),
            Err(ResponseError::InvalidProducerIdMapping)
        );
        assert!(matches!(
            init_producer_id(Some(&bumped), "tx", 1000, Some((7, 3)), 1, || Ok(9)),
            Ok(InitDecision::Ready(m)) if m.producer_epoch == 4
        ));
    }

    #[test]
    fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
        let m = add_partitions(&fresh(), 7, 0, &[tp("a", 0)], 1000)
            .unwrap()
            .unwrap();
        assert_eq!(timed_out(&m, 61_000), None);
        let aborting = timed_out(&m, 61_001).unwrap();
        assert_eq!(aborting.status, TxnStatus::PrepareAbort);
        assert_eq!(aborting.producer_epoch, 1);
        assert_eq!(timed_out(&fresh(), i64::MAX / 2), None);
    }

    #[test]
    fn idle_ids_expire_and_open_ones_do_not() {
        let m = fresh();
        assert!(!expired(&m, 100, 100));
        assert!(expired(&m, 101, 100));
        let open = add_partitions(&m, 7, 0, &[tp("a", 0)], 0).unwrap().unwrap();
        assert!(!expired(&open, 1_000_000, 100));
    }
}
