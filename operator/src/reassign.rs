//! Partition moves for scaling: spread replicas onto new brokers, drain a broker before it is
//! removed. Pure: an assignment in, the changed replica lists out (what
//! AlterPartitionReassignments takes). Deterministic, so a reconcile that runs again computes
//! the same moves.

use std::collections::{BTreeMap, BTreeSet};

/// Replica lists by (topic, partition); the first replica is the preferred leader.
pub type Assignment = BTreeMap<(String, i32), Vec<i32>>;

fn replica_counts(assignment: &Assignment, brokers: &[i32]) -> BTreeMap<i32, usize> {
    let mut counts: BTreeMap<i32, usize> = brokers.iter().map(|&b| (b, 0)).collect();
    for replicas in assignment.values() {
        for b in replicas {
            if let Some(c) = counts.get_mut(b) {
                *c += 1;
            }
        }
    }
    counts
}

/// New replica lists that even out replica counts over `brokers` (e.g. after new brokers
/// joined): replicas move from the fullest broker to the emptiest one until counts differ by
/// at most one. Only partitions that change are returned; replication factors are kept.
pub fn spread(assignment: &Assignment, brokers: &[i32]) -> Assignment {
    let mut current = assignment.clone();
    let mut counts = replica_counts(assignment, brokers);
    let mut changed = BTreeSet::new();
    loop {
        let Some((&fullest, &most)) = counts.iter().max_by_key(|(b, c)| (**c, -**b)) else {
            break;
        };
        let Some((&emptiest, &least)) = counts.iter().min_by_key(|(b, c)| (**c, **b)) else {
            break;
        };
        if most <= least + 1 {
            break;
        }
        // The first partition with a replica on `fullest` and none on `emptiest`; prefer a
        // follower so leadership moves less.
        let candidate = current
            .iter()
            .filter(|(_, r)| r.contains(&fullest) && !r.contains(&emptiest))
            .min_by_key(|(key, r)| (r.first() == Some(&fullest), (*key).clone()))
            .map(|(key, _)| key.clone());
        let Some(key) = candidate else { break };
        if let Some(replicas) = current.get_mut(&key) {
            for b in replicas.iter_mut() {
                if *b == fullest {
                    *b = emptiest;
                }
            }
        }
        *counts.entry(fullest).or_default() -= 1;
        *counts.entry(emptiest).or_default() += 1;
        changed.insert(key);
    }
    changed
        .into_iter()
        .filter_map(|key| {
            let replicas = current.remove(&key)?;
            (assignment.get(&key) != Some(&replicas)).then_some((key, replicas))
        })
        .collect()
}

/// A partition that cannot leave the drained broker: every remaining broker already holds
/// one of its replicas.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "partition {topic}-{partition} has {replicas} replicas and cannot leave broker {broker}: too few brokers remain"
)]
pub struct DrainError {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Its replication factor.
    pub replicas: usize,
    /// The broker being drained.
    pub broker: i32,
}

/// New replica lists without `broker`: each of its replicas goes to the remaining broker with
/// the fewest replicas that does not hold one of that partition yet (taking its place in the
/// list, so the preferred leader stays first unless it is the drained broker).
pub fn drain(
    assignment: &Assignment,
    broker: i32,
    remaining: &[i32],
) -> Result<Assignment, DrainError> {
    let remaining: Vec<i32> = remaining.iter().copied().filter(|&b| b != broker).collect();
    let mut counts = replica_counts(assignment, &remaining);
    let mut moves = Assignment::new();
    for (key, replicas) in assignment {
        if !replicas.contains(&broker) {
            continue;
        }
        let target = counts
            .iter()
            .filter(|(b, _)| !replicas.contains(b))
            .min_by_key(|(b, c)| (**c, **b))
            .map(|(b, _)| *b)
            .ok_or_else(|| DrainError {
                topic: key.0.clone(),
                partition: key.1,
                replicas: replicas.len(),
                broker,
            })?;
        *counts.entry(target).or_default() += 1;
        let new: Vec<i32> = replicas
            .iter()
            .map(|&b| if b == broker { target } else { b })
            .collect();
        moves.insert(key.clone(), new);
    }
    Ok(moves)
}

/// Whether any replica of `assignment` is on `broker`.
pub fn hosts_replicas(assignment: &Assignment, broker: i32) -> bool {
    assignment.values().any(|r| r.contains(&broker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(parts: &[(&str, i32, &[i32])]) -> Assignment {
        parts
            .iter()
            .map(|(t, p, r)| (((*t).to_owned(), *p), r.to_vec()))
            .collect()
    }

    fn apply(base: &Assignment, moves: &Assignment) -> Assignment {
        let mut out = base.clone();
        out.extend(moves.clone());
        out
    }

    #[test]
    fn spread_fills_new_brokers_evenly_keeping_replication() {
        // Six partitions, RF 3, on brokers 0-2; brokers 3 and 4 join.
        let parts: Vec<(String, i32, Vec<i32>)> = (0..6)
            .map(|p| ("t".to_owned(), p, vec![p % 3, (p + 1) % 3, (p + 2) % 3]))
            .collect();
        let base: Assignment = parts
            .iter()
            .map(|(t, p, r)| ((t.clone(), *p), r.clone()))
            .collect();
        let moves = spread(&base, &[0, 1, 2, 3, 4]);
        let after = apply(&base, &moves);
        let counts = replica_counts(&after, &[0, 1, 2, 3, 4]);
        let (lo, hi) = (
            *counts.values().min().unwrap(),
            *counts.values().max().unwrap(),
        );
        assert!(hi - lo <= 1, "{counts:?}");
        assert_eq!(counts.values().sum::<usize>(), 18);
        for replicas in after.values() {
            assert_eq!(replicas.len(), 3);
            let distinct: BTreeSet<_> = replicas.iter().collect();
            assert_eq!(distinct.len(), 3, "no broker twice in {replicas:?}");
        }
        assert!(moves.len() <= 7, "only what is needed moves: {moves:?}");
        // Balanced already: nothing to do, so a second pass is a no-op.
        assert!(spread(&after, &[0, 1, 2, 3, 4]).is_empty());
    }

    #[test]
    fn drain_empties_the_broker_onto_the_least_loaded() {
        let base = assignment(&[
            ("a", 0, &[3, 0]),
            ("a", 1, &[0, 1]),
            ("b", 0, &[1, 3]),
            ("b", 1, &[2, 0]),
        ]);
        let moves = drain(&base, 3, &[0, 1, 2]).unwrap();
        assert_eq!(
            moves,
            assignment(&[("a", 0, &[2, 0]), ("b", 0, &[1, 2])]),
            "broker 2 had the fewest replicas"
        );
        let after = apply(&base, &moves);
        assert!(!hosts_replicas(&after, 3));
        assert!(drain(&after, 3, &[0, 1, 2]).unwrap().is_empty());
    }

    #[test]
    fn drain_fails_precisely_when_too_few_brokers_remain() {
        let base = assignment(&[("a", 0, &[0, 1, 2])]);
        let err = drain(&base, 2, &[0, 1]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "partition a-0 has 3 replicas and cannot leave broker 2: too few brokers remain"
        );
    }
}
