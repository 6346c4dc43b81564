//! Autoscaler decisions: a load series in, a decision out. Pure: no I/O, the clock is an
//! argument (unix seconds), so every rule is tested on synthetic series.
//!
//! Load is counted in *broker capacities*: a cluster taking 30 MB/s of produce with brokers
//! sized for 20 MB/s carries 1.5 brokers' worth of ingress; the larger of the ingress and
//! egress figures is its load. Utilisation is load over the broker count.
//!
//! The rules, in order (first that applies wins):
//!
//! 1. Out of bounds (`brokers.min`/`max` changed): move straight to the nearest bound (scale-in
//!    one broker at a time, each drained first).
//! 2. Within the cooldown after the last change: hold.
//! 3. Utilisation above the target in every sample of the scale-out window, with the series
//!    covering the whole window: scale out to the count that brings the window's lowest load
//!    back to the target (at least one more broker, at most `max`).
//! 4. Utilisation with one broker *fewer* below the scale-in threshold in every sample of the
//!    scale-in window: drain the highest broker and remove it. The threshold sits below the
//!    target (hysteresis), so a removal cannot by itself trigger the next scale-out.
//! 5. Otherwise hold.

use std::collections::BTreeMap;

use crate::crd::FjordClusterSpec;

const MB: f64 = 1_000_000.0;

/// The autoscaler's policy, from the cluster's spec, in the units the rules use.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Whether the autoscaler may change the broker count at all.
    pub enabled: bool,
    /// Fewest brokers.
    pub min: i32,
    /// Most brokers.
    pub max: i32,
    /// Target utilisation, a fraction (0.7).
    pub target: f64,
    /// Scale-in threshold, a fraction below `target`.
    pub scale_in_below: f64,
    /// Produce bytes/s one broker is sized for.
    pub broker_ingress: f64,
    /// Fetch bytes/s one broker is sized for.
    pub broker_egress: f64,
    /// Seconds utilisation must stay high before a scale-out.
    pub scale_out_window: i64,
    /// Seconds load must stay low before a scale-in.
    pub scale_in_window: i64,
    /// Seconds after a change before the next.
    pub cooldown: i64,
    /// Produce bytes/s per partition above which opted-in topics grow.
    pub partition_ingress: f64,
}

impl Policy {
    /// The policy `spec` asks for.
    pub fn of(spec: &FjordClusterSpec) -> Self {
        let a = &spec.autoscaling;
        Self {
            enabled: a.enabled,
            min: spec.brokers.min,
            max: spec.brokers.max.max(spec.brokers.min),
            target: f64::from(a.target_utilization_percent) / 100.0,
            scale_in_below: f64::from(a.scale_in_utilization_percent) / 100.0,
            broker_ingress: f64::from(a.broker_ingress_mb_per_s.max(1)) * MB,
            broker_egress: f64::from(a.broker_egress_mb_per_s.max(1)) * MB,
            scale_out_window: i64::from(a.scale_out_window_seconds.max(0)),
            scale_in_window: i64::from(a.scale_in_window_seconds.max(0)),
            cooldown: i64::from(a.cooldown_seconds.max(0)),
            partition_ingress: f64::from(a.partition_ingress_mb_per_s.max(1)) * MB,
        }
    }

    /// The load of `sample` in broker capacities.
    pub fn load(&self, sample: &Sample) -> f64 {
        (sample.ingress_bytes_per_s / self.broker_ingress)
            .max(sample.egress_bytes_per_s / self.broker_egress)
    }
}

/// The cluster's throughput over one sampling interval.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    /// End of the interval, unix seconds.
    pub at: i64,
    /// Produce bytes/s of the whole cluster.
    pub ingress_bytes_per_s: f64,
    /// Fetch bytes/s to clients of the whole cluster.
    pub egress_bytes_per_s: f64,
    /// Produce bytes/s per topic.
    pub topic_ingress_bytes_per_s: BTreeMap<String, f64>,
}

/// What the autoscaler decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Keep the broker count.
    Hold(Hold),
    /// Add brokers.
    ScaleOut {
        /// Brokers now.
        from: i32,
        /// Brokers wanted.
        to: i32,
        /// Why, for events and the status.
        reason: String,
    },
    /// Drain broker `from - 1` (the highest ordinal, the only one a StatefulSet can shed),
    /// then remove it.
    ScaleIn {
        /// Brokers now.
        from: i32,
        /// Brokers wanted (`from - 1`).
        to: i32,
        /// Why, for events and the status.
        reason: String,
    },
}

/// Why the broker count stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// `spec.autoscaling.enabled` is false.
    Disabled,
    /// The series does not yet cover a decision window.
    NotEnoughData,
    /// Within the cooldown; may decide again at `until` (unix seconds).
    Cooldown {
        /// End of the cooldown.
        until: i64,
    },
    /// Load is high but the cluster is at `brokers.max`.
    AtMax,
    /// Load sits between the thresholds (or at `brokers.min`).
    WithinTarget,
}

impl Decision {
    /// The broker count this decision leads to.
    pub fn target(&self, current: i32) -> i32 {
        match self {
            Self::Hold(_) => current,
            Self::ScaleOut { to, .. } | Self::ScaleIn { to, .. } => *to,
        }
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

/// Samples of the last `window` seconds before `now`, or `None` when the series does not
/// reach back that far (the window is not yet observed in full).
fn window(series: &[Sample], now: i64, window: i64) -> Option<&[Sample]> {
    let start = now - window;
    let first = series.first()?;
    if first.at > start {
        return None;
    }
    let from = series.partition_point(|s| s.at < start);
    let recent = &series[from..];
    (!recent.is_empty()).then_some(recent)
}

/// Decides the broker count for a cluster running `current` brokers, given its load `series`
/// (oldest first), when the count last changed, and the time `now`.
pub fn decide(
    policy: &Policy,
    current: i32,
    series: &[Sample],
    last_scale: Option<i64>,
    now: i64,
) -> Decision {
    if current < policy.min {
        return Decision::ScaleOut {
            from: current,
            to: policy.min,
            reason: format!("below brokers.min ({})", policy.min),
        };
    }
    if current > policy.max {
        return Decision::ScaleIn {
            from: current,
            to: current - 1,
            reason: format!("above brokers.max ({})", policy.max),
        };
    }
    if !policy.enabled {
        return Decision::Hold(Hold::Disabled);
    }
    if let Some(last) = last_scale
        && now < last + policy.cooldown
    {
        return Decision::Hold(Hold::Cooldown {
            until: last + policy.cooldown,
        });
    }

    let brokers = f64::from(current.max(1));
    let out_window = window(series, now, policy.scale_out_window);
    if let Some(samples) = out_window {
        let lowest = samples
            .iter()
            .map(|s| policy.load(s))
            .fold(f64::INFINITY, f64::min);
        if lowest / brokers > policy.target {
            if current >= policy.max {
                return Decision::Hold(Hold::AtMax);
            }
            // The fewest brokers that carry the sustained load at the target utilisation.
            let needed = (lowest / policy.target).ceil();
            let to = if needed.is_finite() && needed < f64::from(policy.max) {
                (needed as i32).max(current + 1)
            } else {
                policy.max
            };
            return Decision::ScaleOut {
                from: current,
                to,
                reason: format!(
                    "utilisation {} above the target {} for {}s",
                    percent(lowest / brokers),
                    percent(policy.target),
                    policy.scale_out_window
                ),
            };
        }
    }

    if current > policy.min {
        let fewer = f64::from(current - 1);
        let Some(samples) = window(series, now, policy.scale_in_window) else {
            return Decision::Hold(Hold::NotEnoughData);
        };
        let highest = samples.iter().map(|s| policy.load(s)).fold(0.0, f64::max);
        if highest / fewer < policy.scale_in_below {
            return Decision::ScaleIn {
                from: current,
                to: current - 1,
                reason: format!(
                    "utilisation with {} brokers would stay below {} (at most {}) for {}s",
                    current - 1,
                    percent(policy.scale_in_below),
                    percent(highest / fewer),
                    policy.scale_in_window
                ),
            };
        }
    }
    if out_window.is_none() {
        return Decision::Hold(Hold::NotEnoughData);
    }
    Decision::Hold(Hold::WithinTarget)
}

/// A topic the autoscaler may give more partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions {
    /// Topic name.
    pub name: String,
    /// Partitions it has.
    pub partitions: i32,
    /// Whether it set `fjord.autoscale.partitions=true`.
    pub opted_in: bool,
}

/// One topic's partition increase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionIncrease {
    /// Topic name.
    pub topic: String,
    /// Partitions now.
    pub from: i32,
    /// Partitions wanted.
    pub to: i32,
}

/// Partition increases for opted-in topics whose produce rate per partition stayed above the
/// limit for the whole scale-out window; each grows to the count that brings its lowest rate
/// back to the target share of the limit. `partitions_in_use` and `partition_limit` (the
/// plan's ceiling over all topics) bound the total; topics are served in name order.
pub fn partition_increases(
    policy: &Policy,
    topics: &[TopicPartitions],
    series: &[Sample],
    now: i64,
    partitions_in_use: i32,
    partition_limit: i32,
) -> Vec<PartitionIncrease> {
    let Some(samples) = window(series, now, policy.scale_out_window) else {
        return Vec::new();
    };
    let mut budget = partition_limit.saturating_sub(partitions_in_use);
    let mut increases = Vec::new();
    let mut sorted: Vec<&TopicPartitions> = topics.iter().filter(|t| t.opted_in).collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for topic in sorted {
        if budget <= 0 || topic.partitions <= 0 {
            continue;
        }
        let lowest = samples
            .iter()
            .map(|s| {
                s.topic_ingress_bytes_per_s
                    .get(&topic.name)
                    .copied()
                    .unwrap_or(0.0)
            })
            .fold(f64::INFINITY, f64::min);
        if lowest / f64::from(topic.partitions) <= policy.partition_ingress {
            continue;
        }
        let needed = (lowest / (policy.partition_ingress * policy.target)).ceil();
        let wanted = if needed.is_finite() && needed < f64::from(i32::MAX) {
            (needed as i32).max(topic.partitions + 1)
        } else {
            topic.partitions + 1
        };
        let to = wanted.min(topic.partitions.saturating_add(budget));
        budget -= to - topic.partitions;
        increases.push(PartitionIncrease {
            topic: topic.name.clone(),
            from: topic.partitions,
            to,
        });
    }
    increases
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brokers sized for 10 MB/s in and 30 MB/s out, target 70%, scale-in below 40%,
    /// windows of 300 s out and 600 s in, cooldown 600 s, between 3 and 6 brokers.
    fn policy() -> Policy {
        Policy {
            enabled: true,
            min: 3,
            max: 6,
            target: 0.7,
            scale_in_below: 0.4,
            broker_ingress: 10.0 * MB,
            broker_egress: 30.0 * MB,
            scale_out_window: 300,
            scale_in_window: 600,
            cooldown: 600,
            partition_ingress: 5.0 * MB,
        }
    }

    /// One sample every 30 s from `start` to `end` (inclusive), produce MB/s from `ingress`.
    fn series(start: i64, end: i64, ingress: impl Fn(i64) -> f64) -> Vec<Sample> {
        (start..=end)
            .step_by(30)
            .map(|at| Sample {
                at,
                ingress_bytes_per_s: ingress(at) * MB,
                egress_bytes_per_s: 0.0,
                topic_ingress_bytes_per_s: BTreeMap::new(),
            })
            .collect()
    }

    fn flat(start: i64, end: i64, mb: f64) -> Vec<Sample> {
        series(start, end, |_| mb)
    }

    #[test]
    fn sustained_high_load_scales_out_to_the_target() {
        // 3 brokers of 10 MB/s at 27 MB/s: 90% > 70% for 10 minutes.
        let d = decide(&policy(), 3, &flat(0, 600, 27.0), None, 600);
        let Decision::ScaleOut { from, to, reason } = d else {
            panic!("{d:?}")
        };
        // 2.7 capacities at 70% need ceil(3.86) = 4 brokers.
        assert_eq!((from, to), (3, 4));
        assert_eq!(reason, "utilisation 90% above the target 70% for 300s");
    }

    #[test]
    fn a_big_jump_adds_several_brokers_at_once_but_never_past_max() {
        let d = decide(&policy(), 3, &flat(0, 600, 34.0), None, 600);
        assert_eq!(d.target(3), 5, "3.4 capacities at 70% need 5 brokers");
        let d = decide(&policy(), 3, &flat(0, 600, 100.0), None, 600);
        assert_eq!(d.target(3), 6, "capped at brokers.max");
    }

    #[test]
    fn egress_counts_as_load_too() {
        let samples: Vec<Sample> = flat(0, 600, 0.0)
            .into_iter()
            .map(|mut s| {
                s.egress_bytes_per_s = 80.0 * MB; // 80 / (3 * 30) = 89%
                s
            })
            .collect();
        assert!(matches!(
            decide(&policy(), 3, &samples, None, 600),
            Decision::ScaleOut { to: 4, .. }
        ));
    }

    #[test]
    fn a_spike_shorter_than_the_window_does_not_scale() {
        // 90% only for the last 4 minutes of a 5-minute window.
        let samples = series(0, 600, |t| if t > 360 { 27.0 } else { 15.0 });
        assert_eq!(
            decide(&policy(), 3, &samples, None, 600),
            Decision::Hold(Hold::WithinTarget)
        );
    }

    #[test]
    fn a_dip_inside_the_window_resets_the_scale_out() {
        let samples = series(0, 600, |t| if t == 450 { 18.0 } else { 27.0 });
        assert_eq!(
            decide(&policy(), 3, &samples, None, 600),
            Decision::Hold(Hold::WithinTarget)
        );
    }

    #[test]
    fn a_series_shorter_than_the_window_is_not_enough() {
        // High load, but only 4 minutes observed (e.g. after an operator restart).
        assert_eq!(
            decide(&policy(), 3, &flat(360, 600, 27.0), None, 600),
            Decision::Hold(Hold::NotEnoughData)
        );
    }

    #[test]
    fn cooldown_holds_then_releases() {
        let samples = flat(0, 1200, 27.0);
        assert_eq!(
            decide(&policy(), 3, &samples, Some(700), 1200),
            Decision::Hold(Hold::Cooldown { until: 1300 })
        );
        assert!(matches!(
            decide(&policy(), 3, &samples, Some(700), 1300),
            Decision::ScaleOut { .. }
        ));
    }

    #[test]
    fn high_load_at_max_holds() {
        assert_eq!(
            decide(&policy(), 6, &flat(0, 600, 100.0), None, 600),
            Decision::Hold(Hold::AtMax)
        );
    }

    #[test]
    fn sustained_low_load_drains_one_broker_at_a_time() {
        // 5 brokers at 8 MB/s: with 4, 20% < 40% for 10 minutes.
        let d = decide(&policy(), 5, &flat(0, 900, 8.0), None, 900);
        let Decision::ScaleIn { from, to, reason } = d else {
            panic!("{d:?}")
        };
        assert_eq!((from, to), (5, 4));
        assert_eq!(
            reason,
            "utilisation with 4 brokers would stay below 40% (at most 20%) for 600s"
        );
    }

    #[test]
    fn never_below_min() {
        assert_eq!(
            decide(&policy(), 3, &flat(0, 900, 0.0), None, 900),
            Decision::Hold(Hold::WithinTarget)
        );
    }

    #[test]
    fn hysteresis_keeps_a_middling_load_where_it_is() {
        // 4 brokers at 14 MB/s: 35% now (below the 70% target), but 47% with 3 brokers, above
        // the 40% scale-in threshold: no flapping between 3 and 4.
        assert_eq!(
            decide(&policy(), 4, &flat(0, 900, 14.0), None, 900),
            Decision::Hold(Hold::WithinTarget)
        );
        // After a scale-out from 3 to 4 at 27 MB/s (68%), load dropping to 20 MB/s does not
        // bring it back to 3 (67% with 3 brokers).
        assert_eq!(
            decide(&policy(), 4, &flat(0, 900, 20.0), None, 900),
            Decision::Hold(Hold::WithinTarget)
        );
    }

    #[test]
    fn a_peak_inside_the_scale_in_window_keeps_the_broker() {
        // 17 MB/s once: 43% with 4 brokers, above the 40% threshold.
        let samples = series(0, 900, |t| if t == 600 { 17.0 } else { 8.0 });
        assert_eq!(
            decide(&policy(), 5, &samples, None, 900),
            Decision::Hold(Hold::WithinTarget)
        );
    }

    #[test]
    fn scale_in_needs_the_longer_window_observed() {
        // Only 5 minutes of low load: the scale-out window is covered, the scale-in one is not.
        assert_eq!(
            decide(&policy(), 5, &flat(600, 900, 8.0), None, 900),
            Decision::Hold(Hold::NotEnoughData)
        );
    }

    #[test]
    fn bounds_changed_under_the_cluster_win_over_everything() {
        let mut p = policy();
        p.enabled = false;
        assert_eq!(
            decide(&p, 2, &[], Some(0), 1),
            Decision::ScaleOut {
                from: 2,
                to: 3,
                reason: "below brokers.min (3)".to_owned()
            }
        );
        assert!(matches!(
            decide(&p, 8, &[], Some(0), 1),
            Decision::ScaleIn { from: 8, to: 7, .. }
        ));
        assert_eq!(
            decide(&p, 4, &flat(0, 900, 100.0), None, 900),
            Decision::Hold(Hold::Disabled)
        );
    }

    #[test]
    fn policy_reads_the_spec() {
        let mut spec = FjordClusterSpec::default();
        spec.brokers.min = 2;
        spec.brokers.max = 1; // invalid (the CRD rejects it): max never below min
        let p = Policy::of(&spec);
        assert_eq!((p.min, p.max), (2, 2));
        assert_eq!(p.target, 0.7);
        assert_eq!(p.broker_ingress, 20.0 * MB);
        assert_eq!(p.scale_out_window, 300);
    }

    /// Ramps up, holds, ramps down: the decisions a 30-second reconcile loop would take, with
    /// the cooldown and the one-at-a-time scale-in, never leaving the bounds.
    #[test]
    fn a_day_of_load_moves_between_the_bounds_without_flapping() {
        let p = policy();
        let load = |t: i64| match t {
            0..3_600 => 10.0,
            3_600..7_200 => 40.0,
            _ => 5.0,
        };
        let all = series(0, 14_400, load);
        let (mut brokers, mut last_scale) = (3, None);
        let mut changes = Vec::new();
        for now in (0..=14_400).step_by(30) {
            let seen = &all[..=all.partition_point(|s| s.at < now).min(all.len() - 1)];
            let d = decide(&p, brokers, seen, last_scale, now);
            if d.target(brokers) != brokers {
                brokers = d.target(brokers);
                last_scale = Some(now);
                changes.push((now, brokers));
            }
            assert!((p.min..=p.max).contains(&brokers));
        }
        // 40 MB/s = 4 capacities: 6 brokers (67%), reached in one step after the window.
        assert_eq!(changes[0], (3_900, 6));
        // Then down one broker at a time, each after the cooldown, to min and no further.
        let later: Vec<i32> = changes[1..].iter().map(|c| c.1).collect();
        assert_eq!(later, [5, 4, 3]);
        for pair in changes.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= p.cooldown, "{changes:?}");
        }
    }

    fn topic(name: &str, partitions: i32, opted_in: bool) -> TopicPartitions {
        TopicPartitions {
            name: name.to_owned(),
            partitions,
            opted_in,
        }
    }

    fn topic_series(rates: &[(&str, f64)]) -> Vec<Sample> {
        flat(0, 600, 0.0)
            .into_iter()
            .map(|mut s| {
                s.topic_ingress_bytes_per_s = rates
                    .iter()
                    .map(|(t, mb)| ((*t).to_owned(), mb * MB))
                    .collect();
                s
            })
            .collect()
    }

    #[test]
    fn only_opted_in_hot_topics_get_partitions() {
        let series = topic_series(&[("clicks", 24.0), ("orders", 24.0), ("cold", 1.0)]);
        let topics = [
            topic("clicks", 3, true),
            topic("orders", 3, false),
            topic("cold", 1, true),
        ];
        let increases = partition_increases(&policy(), &topics, &series, 600, 7, 1000);
        // 24 MB/s over 3 partitions = 8 > 5 MB/s; at 70% of 5 MB/s it needs ceil(6.86) = 7.
        assert_eq!(
            increases,
            [PartitionIncrease {
                topic: "clicks".to_owned(),
                from: 3,
                to: 7
            }]
        );
    }

    #[test]
    fn partition_growth_respects_the_plan_ceiling_and_the_window() {
        let series = topic_series(&[("a", 24.0), ("b", 24.0)]);
        let topics = [topic("a", 3, true), topic("b", 3, true)];
        let increases = partition_increases(&policy(), &topics, &series, 600, 6, 11);
        assert_eq!(
            increases
                .iter()
                .map(|i| (i.topic.as_str(), i.to))
                .collect::<Vec<_>>(),
            [("a", 7), ("b", 4)],
            "five partitions left: four to a, one to b"
        );
        assert!(partition_increases(&policy(), &topics, &series, 600, 11, 11).is_empty());
        // Not yet observed for a whole window.
        assert!(partition_increases(&policy(), &topics, &series[15..], 600, 6, 1000).is_empty());
    }
}
