//! Committed offsets in memory: the materialised view of `__consumer_offsets`, rebuilt by
//! replaying its records at start-up and updated after each durable append.

use std::collections::BTreeMap;

use super::codec::{OffsetKey, OffsetValue, OffsetsRecord};

/// A topic partition of a group's committed offsets.
pub type TopicPartition = (String, i32);

/// Committed offsets of every group.
#[derive(Debug, Default, Clone)]
pub struct OffsetStore {
    groups: BTreeMap<String, BTreeMap<TopicPartition, OffsetValue>>,
}

impl OffsetStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one record: a commit replaces the partition's offset, a tombstone removes it.
    pub fn apply(&mut self, record: OffsetsRecord) {
        match record {
            OffsetsRecord::Commit(key, value) => {
                self.groups
                    .entry(key.group)
                    .or_default()
                    .insert((key.topic, key.partition), value);
            }
            OffsetsRecord::Tombstone(key) => self.remove(&key),
        }
    }

    fn remove(&mut self, key: &OffsetKey) {
        if let Some(offsets) = self.groups.get_mut(&key.group) {
            offsets.remove(&(key.topic.clone(), key.partition));
            if offsets.is_empty() {
                self.groups.remove(&key.group);
            }
        }
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<&OffsetValue> {
        self.groups.get(group)?.get(&(topic.to_string(), partition))
    }

    /// Every committed offset of a group, ordered by topic and partition.
    pub fn group_offsets(&self, group: &str) -> Vec<(TopicPartition, OffsetValue)> {
        self.groups
            .get(group)
            .map(|o| o.iter().map(|(tp, v)| (tp.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Whether a group has any committed offset.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// Groups with committed offsets.
    pub fn group_ids(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// Keeps only the groups `keep` says so of (a coordinator handing partitions over).
    pub fn retain_groups(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.groups.retain(|g, _| keep(g));
    }

    /// Takes every group of `other` (a partition just replayed).
    pub fn absorb(&mut self, other: OffsetStore) {
        self.groups.extend(other.groups);
    }

    /// Tombstones that delete every committed offset of a group.
    pub fn group_tombstones(&self, group: &str) -> Vec<OffsetsRecord> {
        self.group_offsets(group)
            .into_iter()
            .map(|((topic, partition), _)| {
                OffsetsRecord::Tombstone(OffsetKey {
                    group: group.to_string(),
                    topic,
                    partition,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(group: &str, topic: &str, partition: i32, offset: i64) -> OffsetsRecord {
        OffsetsRecord::Commit(
            OffsetKey {
                group: group.into(),
                topic: topic.into(),
                partition,
            },
            OffsetValue {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp_ms: 0,
            },
        )
    }

    fn tombstone(group: &str, topic: &str, partition: i32) -> OffsetsRecord {
        OffsetsRecord::Tombstone(OffsetKey {
            group: group.into(),
            topic: topic.into(),
            partition,
        })
    }

    #[test]
    fn later_commit_wins() {
        let mut s = OffsetStore::new();
        s.apply(commit("g", "t", 0, 5));
        s.apply(commit("g", "t", 0, 9));
        assert_eq!(s.get("g", "t", 0).map(|v| v.offset), Some(9));
        assert_eq!(s.get("g", "t", 1), None);
        assert_eq!(s.get("other", "t", 0), None);
    }

    #[test]
    fn tombstone_removes_and_forgets_empty_groups() {
        let mut s = OffsetStore::new();
        s.apply(commit("g", "t", 0, 5));
        s.apply(commit("g", "t", 1, 6));
        s.apply(tombstone("g", "t", 0));
        assert_eq!(s.group_offsets("g").len(), 1);
        s.apply(tombstone("g", "t", 1));
        assert!(!s.has_group("g"));
        s.apply(tombstone("never", "t", 0));
        assert_eq!(s.group_ids().count(), 0);
    }

    #[test]
    fn group_tombstones_cover_every_partition() {
        let mut s = OffsetStore::new();
        for p in 0..3 {
            s.apply(commit("g", "t", p, 1));
        }
        s.apply(commit("h", "t", 0, 1));
        for t in s.group_tombstones("g") {
            s.apply(t);
        }
        assert!(!s.has_group("g"));
        assert!(s.has_group("h"));
    }

    #[test]
    fn group_offsets_are_ordered() {
        let mut s = OffsetStore::new();
        s.apply(commit("g", "b", 1, 1));
        s.apply(commit("g", "a", 2, 1));
        s.apply(commit("g", "a", 0, 1));
        let tps: Vec<TopicPartition> = s.group_offsets("g").into_iter().map(|(tp, _)| tp).collect();
        assert_eq!(
            tps,
            vec![
                ("a".to_string(), 0),
                ("a".to_string(), 2),
                ("b".to_string(), 1)
            ]
        );
    }
}
