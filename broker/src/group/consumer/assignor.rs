//! Server-side assignors of the consumer group protocol (KIP-848): `uniform` (the default,
//! balanced and sticky) and `range` (per topic, contiguous ranges in member id order).
//!
//! Both are pure functions of the members' subscriptions, the partition counts of the
//! subscribed topics and the previous target assignment.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use super::Assignment;

/// The assignor used when no member asks for one.
pub const DEFAULT_ASSIGNOR: AssignorKind = AssignorKind::Uniform;

/// A server-side assignor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AssignorKind {
    /// Balanced (partition counts differ by at most one within a homogeneous group) and
    /// sticky (a partition stays with its owner unless balance needs it elsewhere).
    Uniform,
    /// Per topic, each subscriber gets a contiguous range, in member id order.
    Range,
}

impl AssignorKind {
    /// The assignor called `name` (`group.remote.assignor`), if served.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "uniform" => Some(AssignorKind::Uniform),
            "range" => Some(AssignorKind::Range),
            _ => None,
        }
    }

    /// The name clients use.
    pub fn name(self) -> &'static str {
        match self {
            AssignorKind::Uniform => "uniform",
            AssignorKind::Range => "range",
        }
    }

    /// Computes a target assignment: every member of `members` (id, subscribed topic ids)
    /// gets an entry; every partition of a subscribed topic in `partitions` goes to exactly
    /// one subscriber.
    pub fn assign(
        self,
        members: &[(String, BTreeSet<Uuid>)],
        partitions: &BTreeMap<Uuid, i32>,
        previous: &BTreeMap<String, Assignment>,
    ) -> BTreeMap<String, Assignment> {
        match self {
            AssignorKind::Uniform => uniform(members, partitions, previous),
            AssignorKind::Range => range(members, partitions),
        }
    }
}

type TopicPartition = (Uuid, i32);

fn to_assignment(owned: BTreeSet<TopicPartition>) -> Assignment {
    let mut out = Assignment::new();
    for (topic, partition) in owned {
        out.entry(topic).or_default().insert(partition);
    }
    out
}

/// Balanced and sticky. Previous owners keep what they still subscribe to, up to their
/// fair share when every member subscribes to the same topics; the rest goes to the
/// subscriber with the fewest partitions; then partitions move from members with at least
/// two more than a subscriber of the same topic until none can.
fn uniform(
    members: &[(String, BTreeSet<Uuid>)],
    partitions: &BTreeMap<Uuid, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut owned: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); members.len()];
    let mut owner: HashMap<TopicPartition, usize> = HashMap::new();
    // 1. Stickiness: keep what is still valid.
    for (i, (id, subscribed)) in members.iter().enumerate() {
        let Some(prev) = previous.get(id) else {
            continue;
        };
        for (topic, ps) in prev {
            let Some(&count) = partitions.get(topic) else {
                continue;
            };
            if !subscribed.contains(topic) {
                continue;
            }
            for &p in ps {
                if p < count && !owner.contains_key(&(*topic, p)) {
                    owner.insert((*topic, p), i);
                    owned[i].insert((*topic, p));
                }
            }
        }
    }
    // 2. Homogeneous subscriptions: trim everyone to the fair share.
    let homogeneous = members.windows(2).all(|w| w[0].1 == w[1].1);
    if homogeneous && !members.is_empty() {
        let total: usize = members[0]
            .1
            .iter()
            .filter_map(|t| partitions.get(t))
            .map(|&c| usize::try_from(c).unwrap_or(0))
            .sum();
        let min_quota = total / members.len();
        let mut extra = total % members.len();
        // The members holding most keep the extra partitions (fewest moves).
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(owned[i].len()));
        for i in order {
            let quota = if extra > 0 && owned[i].len() > min_quota {
                extra -= 1;
                min_quota + 1
            } else {
                min_quota
            };
            while owned[i].len() > quota {
                if let Some(tp) = owned[i].pop_last() {
                    owner.remove(&tp);
                }
            }
        }
    }
    // 3. Everything unowned goes to the least loaded subscriber.
    for (topic, &count) in partitions {
        let subscribers: Vec<usize> = (0..members.len())
            .filter(|&i| members[i].1.contains(topic))
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        for p in 0..count {
            if owner.contains_key(&(*topic, p)) {
                continue;
            }
            let Some(&to) = subscribers.iter().min_by_key(|&&i| (owned[i].len(), i)) else {
                continue;
            };
            owner.insert((*topic, p), to);
            owned[to].insert((*topic, p));
        }
    }
    // 4. Balance: move from a member holding at least two more than a subscriber of one of
    // its topics. Each move lowers the sum of squared counts, so this ends.
    loop {
        let mut by_count: Vec<usize> = (0..members.len()).collect();
        by_count.sort_by_key(|&i| (owned[i].len(), i));
        let mut moved = None;
        'search: for &from in by_count.iter().rev() {
            for &to in &by_count {
                if owned[to].len() + 1 >= owned[from].len() {
                    break;
                }
                if let Some(&tp) = owned[from]
                    .iter()
                    .rev()
                    .find(|(t, _)| members[to].1.contains(t))
                {
                    moved = Some((from, to, tp));
                    break 'search;
                }
            }
        }
        let Some((from, to, tp)) = moved else {
            break;
        };
        owned[from].remove(&tp);
        owned[to].insert(tp);
    }
    members
        .iter()
        .zip(owned)
        .map(|((id, _), set)| (id.clone(), to_assignment(set)))
        .collect()
}

/// Per topic: subscribers in member id order each get `count / n` partitions in a
/// contiguous range, the first `count % n` one more.
fn range(
    members: &[(String, BTreeSet<Uuid>)],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|(id, _)| (id.clone(), Assignment::new()))
        .collect();
    for (topic, &count) in partitions {
        let mut subscribers: Vec<&String> = members
            .iter()
            .filter(|(_, s)| s.contains(topic))
            .map(|(id, _)| id)
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        subscribers.sort();
        let n = i32::try_from(subscribers.len()).unwrap_or(i32::MAX);
        let (quota, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, id) in subscribers.into_iter().enumerate() {
            let i = i32::try_from(i).unwrap_or(i32::MAX);
            let len = quota + i32::from(i < extra);
            if len == 0 {
                continue;
            }
            if let Some(a) = out.get_mut(id) {
                a.entry(*topic).or_default().extend(next..next + len);
            }
            next += len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn topic(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    fn members(n: usize, topics: &[Uuid]) -> Vec<(String, BTreeSet<Uuid>)> {
        (0..n)
            .map(|i| (format!("m{i}"), topics.iter().copied().collect()))
            .collect()
    }

    /// Every partition of a subscribed topic is assigned exactly once, to a subscriber.
    fn assert_complete(
        members: &[(String, BTreeSet<Uuid>)],
        partitions: &BTreeMap<Uuid, i32>,
        out: &BTreeMap<String, Assignment>,
    ) {
        let mut seen = BTreeSet::new();
        for (id, subscribed) in members {
            for (t, ps) in &out[id] {
                assert!(subscribed.contains(t), "{id} got unsubscribed topic");
                for p in ps {
                    assert!(*p < partitions[t]);
                    assert!(seen.insert((*t, *p)), "{t}-{p} assigned twice");
                }
            }
        }
        let wanted: usize = partitions
            .iter()
            .filter(|(t, _)| members.iter().any(|(_, s)| s.contains(t)))
            .map(|(_, c)| *c as usize)
            .sum();
        assert_eq!(seen.len(), wanted);
    }

    #[test]
    fn uniform_spreads_partitions_of_several_topics_evenly() {
        let partitions = BTreeMap::from([(topic(1), 3), (topic(2), 4)]);
        let m = members(3, &[topic(1), topic(2)]);
        let out = AssignorKind::Uniform.assign(&m, &partitions, &BTreeMap::new());
        assert_complete(&m, &partitions, &out);
        let counts: Vec<usize> = out.values().map(count).collect();
        assert_eq!(
            counts.iter().max().unwrap() - counts.iter().min().unwrap(),
            1
        );
    }

    #[test]
    fn uniform_moves_only_what_a_new_member_needs() {
        let partitions = BTreeMap::from([(topic(1), 6)]);
        let two = members(2, &[topic(1)]);
        let before = AssignorKind::Uniform.assign(&two, &partitions, &BTreeMap::new());
        let three = members(3, &[topic(1)]);
        let after = AssignorKind::Uniform.assign(&three, &partitions, &before);
        assert_complete(&three, &partitions, &after);
        for id in ["m0", "m1"] {
            assert_eq!(count(&after[id]), 2);
            // What an old member keeps, it had before.
            for p in &after[id][&topic(1)] {
                assert!(before[id][&topic(1)].contains(p));
            }
        }
        assert_eq!(count(&after["m2"]), 2);
    }

    #[test]
    fn uniform_gives_a_leavers_partitions_to_the_rest_and_keeps_theirs() {
        let partitions = BTreeMap::from([(topic(1), 4)]);
        let two = members(2, &[topic(1)]);
        let before = AssignorKind::Uniform.assign(&two, &partitions, &BTreeMap::new());
        let one = vec![two[0].clone()];
        let after = AssignorKind::Uniform.assign(&one, &partitions, &before);
        assert_eq!(count(&after["m0"]), 4);
    }

    #[test]
    fn uniform_heterogeneous_subscriptions_balance_where_possible() {
        let partitions = BTreeMap::from([(topic(1), 4), (topic(2), 4)]);
        let m = vec![
            ("a".to_string(), BTreeSet::from([topic(1)])),
            ("b".to_string(), BTreeSet::from([topic(1), topic(2)])),
            ("c".to_string(), BTreeSet::from([topic(2)])),
        ];
        let out = AssignorKind::Uniform.assign(&m, &partitions, &BTreeMap::new());
        assert_complete(&m, &partitions, &out);
        let counts: Vec<usize> = out.values().map(count).collect();
        assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
    }

    #[test]
    fn range_gives_contiguous_ranges_in_member_order() {
        let partitions = BTreeMap::from([(topic(1), 5)]);
        let m = members(2, &[topic(1)]);
        let out = AssignorKind::Range.assign(&m, &partitions, &BTreeMap::new());
        assert_eq!(out["m0"][&topic(1)], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["m1"][&topic(1)], BTreeSet::from([3, 4]));
        assert_complete(&m, &partitions, &out);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let partitions = BTreeMap::from([(topic(1), 2)]);
        let m = members(3, &[topic(1)]);
        for kind in [AssignorKind::Uniform, AssignorKind::Range] {
            let out = kind.assign(&m, &partitions, &BTreeMap::new());
            assert_complete(&m, &partitions, &out);
            assert_eq!(out.len(), 3);
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in [AssignorKind::Uniform, AssignorKind::Range] {
            assert_eq!(AssignorKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(AssignorKind::from_name("sticky"), None);
    }

    proptest! {
        /// Homogeneous groups: complete, balanced within one, from any previous assignment.
        #[test]
        fn uniform_is_complete_and_balanced(
            counts in prop::collection::vec(0i32..12, 1..4),
            n_members in 1usize..7,
            prev_members in 0usize..7,
        ) {
            let topics: Vec<Uuid> = (0..counts.len()).map(|i| topic(i as u8 + 1)).collect();
            let partitions: BTreeMap<Uuid, i32> =
                topics.iter().copied().zip(counts.iter().copied()).collect();
            let before_members = members(prev_members, &topics);
            let before = AssignorKind::Uniform.assign(&before_members, &partitions, &BTreeMap::new());
            let m = members(n_members, &topics);
            let out = AssignorKind::Uniform.assign(&m, &partitions, &before);
            assert_complete(&m, &partitions, &out);
            let c: Vec<usize> = out.values().map(count).collect();
            prop_assert!(c.iter().max().unwrap() - c.iter().min().unwrap() <= 1);
            // Sticky: a member that stays keeps at least min(before, after) of its partitions.
            for (id, a) in &out {
                if let Some(b) = before.get(id) {
                    let kept = a.iter().map(|(t, ps)| {
                        ps.iter().filter(|p| b.get(t).is_some_and(|bp| bp.contains(p))).count()
                    }).sum::<usize>();
                    prop_assert!(kept >= count(a).min(count(b)));
                }
            }
        }

        /// Range: complete for any subscription pattern.
        #[test]
        fn range_is_complete(
            counts in prop::collection::vec(0i32..9, 1..4),
            subs in prop::collection::vec(prop::collection::btree_set(0usize..3, 0..3), 1..6),
        ) {
            let partitions: BTreeMap<Uuid, i32> = counts
                .iter()
                .enumerate()
                .map(|(i, c)| (topic(i as u8 + 1), *c))
                .collect();
            let m: Vec<(String, BTreeSet<Uuid>)> = subs
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("m{i}"), s.iter().filter(|t| **t < counts.len()).map(|t| topic(*t as u8 + 1)).collect()))
                .collect();
            let out = AssignorKind::Range.assign(&m, &partitions, &BTreeMap::new());
            assert_complete(&m, &partitions, &out);
        }
    }
}
