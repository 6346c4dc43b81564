//! Replica placement for new partitions (pure): spread leaders round-robin over the brokers,
//! and give each partition's replicas as many different racks as there are (Kafka's
//! rack-aware assignment: a rack-alternating broker order, so consecutive replicas land in
//! different racks).

use std::collections::{BTreeMap, BTreeSet};

/// A broker that can receive replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `node.id`.
    pub node_id: i32,
    /// `broker.rack`.
    pub rack: Option<String>,
}

/// Brokers ordered so that consecutive ones alternate racks: one broker of each rack (racks
/// in name order, brokers by id), then the second of each, and so on. Brokers without a rack
/// count as one rack of their own each, so without racks this is simply id order.
pub fn rack_alternating(candidates: &[Candidate]) -> Vec<Candidate> {
    let mut by_rack: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for c in candidates {
        let rack = c
            .rack
            .clone()
            .unwrap_or_else(|| format!("\u{0}node-{:010}", c.node_id));
        by_rack.entry(rack).or_default().push(c.clone());
    }
    for brokers in by_rack.values_mut() {
        brokers.sort_by_key(|c| c.node_id);
    }
    if candidates.iter().all(|c| c.rack.is_none()) {
        let mut all = candidates.to_vec();
        all.sort_by_key(|c| c.node_id);
        return all;
    }
    let mut out = Vec::with_capacity(candidates.len());
    let depth = by_rack.values().map(Vec::len).max().unwrap_or(0);
    for level in 0..depth {
        for brokers in by_rack.values() {
            if let Some(c) = brokers.get(level) {
                out.push(c.clone());
            }
        }
    }
    out
}

/// Replica lists for `count` partitions of `replication_factor` replicas each. Partition `i`
/// is led by the broker at `(start + i) % n` of the rack-alternating order; its followers
/// are the next brokers in that order, skipping racks already used while unused racks
/// remain. `None` when there are fewer brokers than replicas.
pub fn assign(
    candidates: &[Candidate],
    count: usize,
    replication_factor: usize,
    start: usize,
) -> Option<Vec<Vec<i32>>> {
    if replication_factor == 0 || candidates.len() < replication_factor {
        return None;
    }
    let order = rack_alternating(candidates);
    let n = order.len();
    let racks: BTreeSet<Option<&String>> = order.iter().map(|c| c.rack.as_ref()).collect();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let first = (start + i) % n;
        // Kafka's shift: each round of leaders walks the other brokers from another point,
        // so two partitions with the same leader do not always share followers.
        let shift = if n > 1 {
            ((start + i) / n) % (n - 1)
        } else {
            0
        };
        let others: Vec<usize> = (0..n.saturating_sub(1))
            .map(|j| (first + 1 + (shift + j) % (n - 1)) % n)
            .collect();
        let mut chosen: Vec<usize> = vec![first];
        let mut used_racks: BTreeSet<Option<&String>> = BTreeSet::new();
        used_racks.insert(order[first].rack.as_ref());
        while chosen.len() < replication_factor {
            // Prefer a rack not used yet; once every rack is used, start a new round.
            let pick = others.iter().copied().find(|j| {
                !chosen.contains(j)
                    && (order[*j].rack.is_none() || !used_racks.contains(&order[*j].rack.as_ref()))
            });
            match pick {
                Some(j) => {
                    used_racks.insert(order[j].rack.as_ref());
                    chosen.push(j);
                    if used_racks.len() >= racks.len() {
                        used_racks.clear();
                    }
                }
                None => used_racks.clear(),
            }
        }
        out.push(chosen.into_iter().map(|j| order[j].node_id).collect());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<Candidate> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| Candidate {
                node_id: i as i32,
                rack: r.map(str::to_string),
            })
            .collect()
    }

    fn check_distinct(assignment: &[Vec<i32>], rf: usize) {
        for replicas in assignment {
            let set: BTreeSet<_> = replicas.iter().collect();
            assert_eq!(set.len(), rf, "distinct replicas in {replicas:?}");
        }
    }

    #[test]
    fn leaders_are_spread_evenly_and_replicas_are_distinct() {
        let b = brokers(&[None, None, None, None]);
        for rf in 1..=4 {
            let a = assign(&b, 12, rf, 0).unwrap();
            check_distinct(&a, rf);
            let mut leaders = [0; 4];
            let mut replicas = [0; 4];
            for r in &a {
                leaders[r[0] as usize] += 1;
                for x in r {
                    replicas[*x as usize] += 1;
                }
            }
            assert_eq!(leaders, [3, 3, 3, 3], "rf {rf}");
            assert!(
                replicas.iter().max().unwrap() - replicas.iter().min().unwrap() <= 1,
                "rf {rf}: {replicas:?}"
            );
        }
    }

    #[test]
    fn replicas_land_in_different_racks_while_racks_remain() {
        // Racks a, a, b, b, c, c: every 3-replica partition spans all three racks.
        let b = brokers(&[
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("c"),
            Some("c"),
        ]);
        let rack_of = |id: i32| b[id as usize].rack.clone().unwrap();
        let a = assign(&b, 30, 3, 7).unwrap();
        check_distinct(&a, 3);
        for replicas in &a {
            let racks: BTreeSet<_> = replicas.iter().map(|r| rack_of(*r)).collect();
            assert_eq!(racks.len(), 3, "{replicas:?}");
        }
        // Two racks, three replicas: both racks used, no broker twice.
        let b2 = brokers(&[Some("x"), Some("y"), Some("x"), Some("y")]);
        for replicas in assign(&b2, 8, 3, 0).unwrap() {
            let racks: BTreeSet<_> = replicas
                .iter()
                .map(|r| b2[*r as usize].rack.clone())
                .collect();
            assert_eq!(racks.len(), 2, "{replicas:?}");
        }
    }

    #[test]
    fn too_few_brokers_is_refused() {
        assert!(assign(&brokers(&[None, None]), 1, 3, 0).is_none());
        assert!(assign(&[], 1, 1, 0).is_none());
        assert_eq!(
            assign(&brokers(&[None]), 2, 1, 5).unwrap(),
            vec![vec![0], vec![0]]
        );
    }

    #[test]
    fn the_order_alternates_racks() {
        let b = brokers(&[Some("a"), Some("a"), Some("b"), Some("c")]);
        let order: Vec<i32> = rack_alternating(&b).iter().map(|c| c.node_id).collect();
        assert_eq!(order, vec![0, 2, 3, 1]);
    }
}
