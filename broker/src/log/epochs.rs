//! The leader epoch cache (Kafka's `leader-epoch-checkpoint`): for each leader epoch whose
//! leader wrote to this partition, the offset of its first record. It answers
//! OffsetsForLeaderEpoch ("where does epoch E end in your log?"), which a follower asks its
//! new leader after a failover to find where their logs diverge and truncate there
//! (KIP-101/279) instead of trusting the high watermark.
//!
//! Persisted as text, one `epoch start_offset` line per entry after a version line and a
//! count, rewritten atomically on every change (changes are leader elections: rare).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const FILE_NAME: &str = "leader-epoch-checkpoint";

/// `(epoch, start offset)` entries with increasing epochs and non-decreasing offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<(i32, i64)>,
    path: Option<PathBuf>,
}

impl LeaderEpochCache {
    /// Loads the cache of the partition in `dir` (empty when there is no file; a corrupt file
    /// is dropped with a warning: followers then fall back to truncating to the high
    /// watermark of their leader's answer).
    pub fn open(dir: &Path) -> Self {
        let path = dir.join(FILE_NAME);
        let entries = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| parse(&text))
            .unwrap_or_default();
        LeaderEpochCache {
            entries,
            path: Some(path),
        }
    }

    /// A cache that is never persisted (tests).
    pub fn in_memory() -> Self {
        LeaderEpochCache::default()
    }

    /// The entries.
    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    /// Records that `epoch` starts at `start_offset` (a leader taking over at its log end,
    /// or a follower seeing a batch of a newer epoch). Older or equal epochs are ignored;
    /// entries starting at or after `start_offset` are replaced (their records are gone).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<()> {
        if self.latest_epoch().is_some_and(|e| e >= epoch) {
            return Ok(());
        }
        self.entries.retain(|(_, s)| *s < start_offset);
        self.entries.push((epoch, start_offset));
        self.persist()
    }

    /// OffsetsForLeaderEpoch: the largest epoch `<= epoch` this log knows and the offset
    /// where it ends (the start of the next epoch, or `log_end_offset` for the newest one).
    /// When every known epoch is newer than `epoch`, `epoch` itself ends where the oldest
    /// known one starts (as Kafka answers: a follower whose only records are of an epoch
    /// this leader never wrote truncates them all). `None` when no epoch is known.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let Some(i) = self.entries.iter().rposition(|(e, _)| *e <= epoch) else {
            return self.entries.first().map(|(_, start)| (epoch, *start));
        };
        let end = self
            .entries
            .get(i + 1)
            .map_or(log_end_offset, |(_, start)| *start);
        Some((self.entries[i].0, end))
    }

    /// The log was truncated to end at `log_end_offset`: epochs starting after it go.
    pub fn truncate_from_end(&mut self, log_end_offset: i64) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|(_, s)| *s <= log_end_offset);
        // An epoch starting exactly at the new end has no records left.
        while self
            .entries
            .last()
            .is_some_and(|(_, s)| *s == log_end_offset && self.entries.len() > 1)
        {
            self.entries.pop();
        }
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// Records before `log_start_offset` were deleted: the epoch holding it now starts there.
    pub fn truncate_from_start(&mut self, log_start_offset: i64) -> Result<()> {
        let Some(keep) = self
            .entries
            .iter()
            .rposition(|(_, s)| *s <= log_start_offset)
        else {
            return Ok(());
        };
        if keep == 0 && self.entries[0].1 == log_start_offset {
            return Ok(());
        }
        let epoch = self.entries[keep].0;
        self.entries.drain(..=keep);
        self.entries.insert(0, (epoch, log_start_offset));
        self.persist()
    }

    fn persist(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut text = format!("0\n{}\n", self.entries.len());
        for (e, s) in &self.entries {
            text.push_str(&format!("{e} {s}\n"));
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Error::io(format!("failed to write {}", path.display()), e))
    }
}

fn parse(text: &str) -> Option<Vec<(i32, i64)>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut out = Vec::with_capacity(count);
    for line in lines.take(count) {
        let (e, s) = line.trim().split_once(' ')?;
        out.push((e.parse().ok()?, s.parse().ok()?));
    }
    (out.len() == count).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_answer_where_each_ends() {
        let mut c = LeaderEpochCache::in_memory();
        assert_eq!(c.end_offset_for(3, 10), None);
        c.assign(1, 0).unwrap();
        assert_eq!(
            c.end_offset_for(0, 10),
            Some((0, 0)),
            "an epoch older than any known ends where the oldest starts"
        );
        let mut c = LeaderEpochCache::in_memory();
        c.assign(0, 0).unwrap();
        c.assign(2, 50).unwrap();
        c.assign(5, 80).unwrap();
        c.assign(4, 90).unwrap(); // older: ignored
        assert_eq!(c.entries(), &[(0, 0), (2, 50), (5, 80)]);
        assert_eq!(c.end_offset_for(0, 100), Some((0, 50)));
        assert_eq!(
            c.end_offset_for(1, 100),
            Some((0, 50)),
            "epoch 1 never wrote: 0 ends at 50"
        );
        assert_eq!(c.end_offset_for(3, 100), Some((2, 80)));
        assert_eq!(c.end_offset_for(9, 100), Some((5, 100)));
        assert_eq!(c.latest_epoch(), Some(5));
    }

    #[test]
    fn truncation_drops_epochs_without_records() {
        let mut c = LeaderEpochCache::in_memory();
        for (e, s) in [(0, 0), (2, 50), (5, 80)] {
            c.assign(e, s).unwrap();
        }
        c.truncate_from_end(60).unwrap();
        assert_eq!(c.entries(), &[(0, 0), (2, 50)]);
        c.truncate_from_end(50).unwrap();
        assert_eq!(c.entries(), &[(0, 0)]);
        // A new leader epoch replaces anything at or after its start.
        c.assign(7, 40).unwrap();
        assert_eq!(c.entries(), &[(0, 0), (7, 40)]);
        c.truncate_from_start(45).unwrap();
        assert_eq!(c.entries(), &[(7, 45)]);
    }

    #[test]
    fn the_checkpoint_survives_reopen_and_garbage_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::open(dir.path());
        c.assign(1, 0).unwrap();
        c.assign(3, 17).unwrap();
        assert_eq!(
            LeaderEpochCache::open(dir.path()).entries(),
            &[(1, 0), (3, 17)]
        );
        std::fs::write(dir.path().join(FILE_NAME), "0\n2\n1 0\n").unwrap();
        assert!(LeaderEpochCache::open(dir.path()).entries().is_empty());
    }
}
