//! Property test of the partition log against an in-memory model: random appends, reads,
//! timestamp look-ups, DeleteRecords, size retention, reopens and torn tails.

use std::path::Path;

use proptest::prelude::*;

use super::tests::{batch, values};
use super::*;

/// What the model knows of one stored batch.
#[derive(Debug, Clone)]
struct ModelBatch {
    base: i64,
    values: Vec<String>,
    timestamp: i64,
    size: usize,
}

impl ModelBatch {
    fn last(&self) -> i64 {
        self.base + self.values.len() as i64 - 1
    }
}

#[derive(Debug, Default)]
struct Model {
    batches: Vec<ModelBatch>,
    log_start: i64,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches.last().map_or(self.log_start, |b| b.last() + 1)
    }

    /// Batches still (partly) readable.
    fn live(&self) -> impl Iterator<Item = &ModelBatch> {
        self.batches.iter().filter(|b| b.last() >= self.log_start)
    }

    /// Records a read at `offset` must return: whole batches from the one holding it.
    fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Vec<(i64, String)> {
        let mut total = 0;
        let mut out = Vec::new();
        for b in self.batches.iter().filter(|b| b.last() >= offset) {
            if total + b.size > max_bytes && !(min_one && total == 0) {
                break;
            }
            total += b.size;
            out.extend((b.base..).zip(b.values.iter().cloned()));
        }
        out
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: usize,
        timestamp: i64,
    },
    Read {
        at: u8,
        max_bytes: usize,
        min_one: bool,
    },
    ByTimestamp {
        timestamp: i64,
    },
    DeleteRecords {
        at: u8,
    },
    RetainBytes {
        limit: u64,
    },
    Reopen,
    TearTail {
        cut: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..6, 0i64..1000).prop_map(|(records, timestamp)| Op::Append { records, timestamp }),
        4 => (any::<u8>(), 0usize..600, any::<bool>())
            .prop_map(|(at, max_bytes, min_one)| Op::Read { at, max_bytes, min_one }),
        1 => (0i64..1100).prop_map(|timestamp| Op::ByTimestamp { timestamp }),
        1 => any::<u8>().prop_map(|at| Op::DeleteRecords { at }),
        1 => (0u64..1500).prop_map(|limit| Op::RetainBytes { limit }),
        1 => Just(Op::Reopen),
        1 => (1usize..200).prop_map(|cut| Op::TearTail { cut }),
    ]
}

/// An offset between the model's start and end chosen by `at` out of 256.
fn pick(model: &Model, at: u8) -> i64 {
    model.log_start + (model.end() - model.log_start) * at as i64 / 255
}

fn last_segment_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap()
}

fn check(log: &PartitionLog, model: &Model) -> std::result::Result<(), TestCaseError> {
    prop_assert_eq!(log.log_start_offset(), model.log_start);
    prop_assert_eq!(log.log_end_offset(), model.end());
    let expected_max = model
        .live()
        .fold(None, |best: Option<(i64, i64)>, b| match best {
            Some((_, ts)) if ts >= b.timestamp => best,
            _ => Some((b.last(), b.timestamp)),
        });
    prop_assert_eq!(log.max_timestamp().unwrap(), expected_max);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Offsets stay contiguous and every read, look-up and deletion agrees with the model.
    #[test]
    fn log_matches_a_model(
        index_interval_bytes in 1u32..400,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let config = LogConfig {
            segment_bytes: 300,
            index_interval_bytes,
            ..LogConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
        let mut model = Model::default();
        let mut now_ms = 1_000;
        for op in ops {
            now_ms += 1;
            match op {
                Op::Append { records, timestamp } => {
                    let vals: Vec<String> =
                        (0..records).map(|i| format!("r{}-{i}", model.end())).collect();
                    let refs: Vec<&str> = vals.iter().map(String::as_str).collect();
                    let bytes = batch(&refs, timestamp);
                    let info = log.append(&bytes, 0, now_ms).unwrap();
                    prop_assert_eq!(info.base_offset, model.end());
                    prop_assert_eq!(info.last_offset, model.end() + records as i64 - 1);
                    model.batches.push(ModelBatch {
                        base: info.base_offset,
                        values: vals,
                        timestamp,
                        size: bytes.len(),
                    });
                }
                Op::Read { at, max_bytes, min_one } => {
                    let offset = pick(&model, at);
                    let got = log.read(offset, max_bytes, min_one).unwrap();
                    prop_assert_eq!(values(&got), model.read(offset, max_bytes, min_one));
                    let past = log.read(model.end() + 1, max_bytes, min_one);
                    let past_refused = matches!(past, Err(Error::OffsetOutOfRange { .. }));
                    prop_assert!(past_refused);
                    if model.log_start > 0 {
                        let below = log.read(model.log_start - 1, max_bytes, min_one);
                        let below_refused = matches!(below, Err(Error::OffsetOutOfRange { .. }));
                        prop_assert!(below_refused);
                    }
                }
                Op::ByTimestamp { timestamp } => {
                    let expected = model
                        .live()
                        .find(|b| b.timestamp >= timestamp)
                        .map(|b| (b.base.max(model.log_start), b.timestamp));
                    prop_assert_eq!(log.offset_for_timestamp(timestamp).unwrap(), expected);
                }
                Op::DeleteRecords { at } => {
                    let offset = pick(&model, at);
                    prop_assert_eq!(log.delete_records_before(offset).unwrap(), offset);
                    model.log_start = offset;
                }
                Op::RetainBytes { limit } => {
                    log.set_config(LogConfig { retention_bytes: limit as i64, ..config.clone() });
                    log.enforce_retention(now_ms).unwrap();
                    log.set_config(config.clone());
                    let start = log.log_start_offset();
                    prop_assert!(start >= model.log_start);
                    prop_assert!(
                        start == model.log_start
                            || start == model.end()
                            || model.batches.iter().any(|b| b.base == start),
                        "retention starts the log at a batch boundary: {}", start
                    );
                    model.log_start = start;
                    model.batches.retain(|b| b.last() >= start);
                }
                Op::Reopen => {
                    log.close().unwrap();
                    log = PartitionLog::open(dir.path(), config.clone()).unwrap();
                }
                Op::TearTail { cut } => {
                    drop(log);
                    let path = last_segment_file(dir.path());
                    let len = std::fs::metadata(&path).unwrap().len();
                    let torn = model.batches.last().filter(|b| {
                        len > 0 && (cut as u64) < len && cut < b.size
                    });
                    if let Some(lost) = torn.cloned() {
                        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                        f.set_len(len - cut as u64).unwrap();
                        model.batches.pop();
                        model.log_start = model.log_start.min(lost.base);
                    }
                    log = PartitionLog::open(dir.path(), config.clone()).unwrap();
                }
            }
            check(&log, &model)?;
        }
        log.close().unwrap();
        let reopened = PartitionLog::open(dir.path(), config).unwrap();
        check(&reopened, &model)?;
        let everything = reopened.read(model.log_start, usize::MAX, true).unwrap();
        prop_assert_eq!(values(&everything), model.read(model.log_start, usize::MAX, true));
    }
}
