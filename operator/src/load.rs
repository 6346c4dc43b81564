//! Broker load from the brokers' Prometheus endpoints: the text parser and the tracker that
//! turns counter readings into rates. Pure: the time of each reading is an argument.
//!
//! Each broker serves `/metrics` on its HTTP port. The operator reads the byte counters
//! (`fjord_bytes_in_total`, `fjord_bytes_out_total`, summed over their labels and per topic)
//! and the gauges the roll and the drain depend on (`fjord_under_replicated_partitions`,
//! `fjord_leader_partitions`, `fjord_active_controller`). Two readings of a broker give its
//! rates; a cluster sample is recorded only when every broker has a rate, so a missing broker
//! never makes the cluster look idle.

use std::collections::BTreeMap;

use crate::autoscale::Sample;
use crate::crd::BrokerLoad;

/// What one reading of a broker's `/metrics` says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerMetrics {
    /// `fjord_bytes_in_total`, summed over topics, principals and tenants.
    pub bytes_in_total: f64,
    /// `fjord_bytes_out_total`, summed.
    pub bytes_out_total: f64,
    /// `fjord_bytes_in_total` per `topic` label.
    pub topic_bytes_in_total: BTreeMap<String, f64>,
    /// `fjord_under_replicated_partitions`; `None` when the broker does not report it.
    pub under_replicated_partitions: Option<f64>,
    /// `fjord_leader_partitions`.
    pub leader_partitions: f64,
    /// `fjord_active_controller` is 1.
    pub active_controller: bool,
}

/// A metrics text the operator cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

const WANTED: [&str; 5] = [
    "fjord_bytes_in_total",
    "fjord_bytes_out_total",
    "fjord_under_replicated_partitions",
    "fjord_leader_partitions",
    "fjord_active_controller",
];

/// Splits `name{labels} value [timestamp]` into its parts; labels as written.
fn split_sample(line: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) if line.as_bytes()[i] == b'{' => {
            let close = line.rfind('}')?;
            (&line[..i], (&line[i + 1..close], line[close + 1..].trim()))
        }
        Some(i) => (&line[..i], ("", line[i..].trim())),
        None => return None,
    };
    let value = rest.1.split_whitespace().next()?;
    Some((name, rest.0, value))
}

/// The value of label `key` in `labels` (`a="x",b="y"`), unescaping `\"`, `\\` and `\n`.
fn label<'a>(labels: &'a str, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    let mut rest = labels;
    loop {
        let eq = rest.find("=\"")?;
        let name = rest[..eq].trim().trim_start_matches(',').trim();
        let body = &rest[eq + 2..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end?;
        if name == key {
            let raw = &body[..end];
            if !raw.contains('\\') {
                return Some(raw.into());
            }
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => out.push('\n'),
                        Some(other) => out.push(other),
                        None => {}
                    }
                } else {
                    out.push(c);
                }
            }
            return Some(out.into());
        }
        rest = &body[end + 1..];
    }
}

/// Reads the metrics the operator uses from a Prometheus or OpenMetrics text; other metrics
/// are skipped. A sample of a wanted metric that does not parse is an error.
pub fn parse_metrics(text: &str) -> Result<BrokerMetrics, ParseError> {
    let mut metrics = BrokerMetrics::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |problem: String| ParseError {
            line: index + 1,
            problem,
        };
        let Some((name, labels, value)) = split_sample(line) else {
            continue;
        };
        if !WANTED.contains(&name) {
            continue;
        }
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| error(format!("{name} has the value {value:?}")))?;
        match name {
            "fjord_bytes_in_total" => {
                metrics.bytes_in_total += value;
                let topic = label(labels, "topic")
                    .ok_or_else(|| error("fjord_bytes_in_total without a topic label".into()))?;
                *metrics
                    .topic_bytes_in_total
                    .entry(topic.into_owned())
                    .or_default() += value;
            }
            "fjord_bytes_out_total" => metrics.bytes_out_total += value,
            "fjord_under_replicated_partitions" => {
                *metrics.under_replicated_partitions.get_or_insert(0.0) += value;
            }
            "fjord_leader_partitions" => metrics.leader_partitions += value,
            "fjord_active_controller" => metrics.active_controller = value >= 1.0,
            _ => {}
        }
    }
    Ok(metrics)
}

/// A broker's counters at one time.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    at: i64,
    metrics: BrokerMetrics,
}

/// Per-second rate of a counter between two readings; a counter that went down (the broker
/// restarted) counts from zero.
fn rate(before: f64, after: f64, seconds: f64) -> f64 {
    let delta = if after >= before {
        after - before
    } else {
        after
    };
    delta / seconds
}

/// Turns successive readings of a cluster's brokers into its load series.
#[derive(Debug, Clone, Default)]
pub struct LoadTracker {
    last: BTreeMap<i32, Reading>,
    series: Vec<Sample>,
}

impl LoadTracker {
    /// Records the readings of `brokers` (`Some` for brokers whose `/metrics` answered) taken
    /// at `now`, keeping `keep` seconds of series. Returns each broker's load when it has a
    /// rate. A cluster sample is added only when every broker has one.
    pub fn record(
        &mut self,
        now: i64,
        brokers: &BTreeMap<i32, Option<BrokerMetrics>>,
        keep: i64,
    ) -> Vec<BrokerLoad> {
        let mut loads = Vec::new();
        let mut sample = Sample {
            at: now,
            ..Sample::default()
        };
        let mut complete = !brokers.is_empty();
        for (&broker, metrics) in brokers {
            let Some(metrics) = metrics else {
                complete = false;
                continue;
            };
            let previous = self.last.get(&broker).filter(|r| r.at < now);
            match previous {
                Some(previous) => {
                    let seconds = (now - previous.at) as f64;
                    let before = &previous.metrics;
                    let ingress = rate(before.bytes_in_total, metrics.bytes_in_total, seconds);
                    let egress = rate(before.bytes_out_total, metrics.bytes_out_total, seconds);
                    sample.ingress_bytes_per_s += ingress;
                    sample.egress_bytes_per_s += egress;
                    for (topic, total) in &metrics.topic_bytes_in_total {
                        let old = before
                            .topic_bytes_in_total
                            .get(topic)
                            .copied()
                            .unwrap_or(0.0);
                        *sample
                            .topic_ingress_bytes_per_s
                            .entry(topic.clone())
                            .or_default() += rate(old, *total, seconds);
                    }
                    loads.push(BrokerLoad {
                        broker_id: broker,
                        ingress_bytes_per_s: ingress.round(),
                        egress_bytes_per_s: egress.round(),
                        partitions: metrics.leader_partitions as i32,
                    });
                }
                None => complete = false,
            }
            self.last.insert(
                broker,
                Reading {
                    at: now,
                    metrics: metrics.clone(),
                },
            );
        }
        // Brokers that are gone (scaled in) are forgotten.
        self.last.retain(|broker, _| brokers.contains_key(broker));
        if complete && self.series.last().is_none_or(|s| s.at < now) {
            self.series.push(sample);
        }
        let oldest = now - keep;
        // Keep one sample at or before the horizon: it proves the series covers the window.
        let cut = self.series.partition_point(|s| s.at <= oldest);
        self.series.drain(..cut.saturating_sub(1));
        loads
    }

    /// The series so far, oldest first.
    pub fn series(&self) -> &[Sample] {
        &self.series
    }

    /// Replaces the series (tests of the controller start from a known load history).
    #[cfg(test)]
    pub(crate) fn seed(&mut self, series: Vec<Sample>) {
        self.series = series;
    }

    /// Forgets the series (after a scaling change the old load shape no longer applies to
    /// the window; the cooldown covers the gap).
    pub fn clear_series(&mut self) {
        self.series.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP fjord_bytes_in Record-batch bytes appended by Produce.
# TYPE fjord_bytes_in counter
fjord_bytes_in_total{topic="orders",principal="User:alice",tenant=""} 150
fjord_bytes_in_total{topic="orders",principal="User:bob",tenant=""} 50
fjord_bytes_in_total{topic="a\"b",principal="User:bob",tenant="acme"} 10
fjord_bytes_out_total{topic="orders",principal="User:alice",tenant=""} 400
fjord_requests_total{api="Produce",version="9"} NaN
fjord_under_replicated_partitions 2
fjord_leader_partitions 4
fjord_active_controller 1
# EOF
"#;

    #[test]
    fn parses_the_metrics_the_operator_uses() {
        let m = parse_metrics(TEXT).unwrap();
        assert_eq!(m.bytes_in_total, 210.0);
        assert_eq!(m.bytes_out_total, 400.0);
        assert_eq!(m.topic_bytes_in_total["orders"], 200.0);
        assert_eq!(m.topic_bytes_in_total["a\"b"], 10.0);
        assert_eq!(m.under_replicated_partitions, Some(2.0));
        assert_eq!(m.leader_partitions, 4.0);
        assert!(m.active_controller);
    }

    #[test]
    fn a_broker_without_the_gauge_reports_none() {
        let m = parse_metrics("fjord_leader_partitions 1\n").unwrap();
        assert_eq!(m.under_replicated_partitions, None);
        assert!(!m.active_controller);
    }

    #[test]
    fn bad_values_of_used_metrics_are_precise_errors() {
        let err = parse_metrics("# x\nfjord_leader_partitions banana\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(
            err.to_string(),
            "line 2: fjord_leader_partitions has the value \"banana\""
        );
        assert!(parse_metrics("fjord_bytes_in_total{principal=\"x\"} 1").is_err());
        assert!(parse_metrics("fjord_under_replicated_partitions -1").is_err());
    }

    fn reading(bytes_in: f64, bytes_out: f64) -> Option<BrokerMetrics> {
        Some(BrokerMetrics {
            bytes_in_total: bytes_in,
            bytes_out_total: bytes_out,
            topic_bytes_in_total: BTreeMap::from([("t".to_owned(), bytes_in)]),
            leader_partitions: 2.0,
            ..BrokerMetrics::default()
        })
    }

    #[test]
    fn two_readings_make_a_rate_and_a_sample() {
        let mut tracker = LoadTracker::default();
        let first = BTreeMap::from([(0, reading(0.0, 0.0)), (1, reading(100.0, 0.0))]);
        assert!(tracker.record(100, &first, 600).is_empty());
        assert!(tracker.series().is_empty(), "no rates from one reading");

        let second = BTreeMap::from([(0, reading(3000.0, 600.0)), (1, reading(700.0, 0.0))]);
        let loads = tracker.record(130, &second, 600);
        assert_eq!(loads.len(), 2);
        assert_eq!(loads[0].ingress_bytes_per_s, 100.0);
        assert_eq!(loads[0].egress_bytes_per_s, 20.0);
        assert_eq!(loads[0].partitions, 2);
        assert_eq!(loads[1].ingress_bytes_per_s, 20.0);
        let sample = &tracker.series()[0];
        assert_eq!(sample.at, 130);
        assert_eq!(sample.ingress_bytes_per_s, 120.0);
        assert_eq!(sample.topic_ingress_bytes_per_s["t"], 120.0);
    }

    #[test]
    fn a_missing_or_restarted_broker_never_makes_the_cluster_look_idle() {
        let mut tracker = LoadTracker::default();
        let both = |a, b| BTreeMap::from([(0, reading(a, 0.0)), (1, reading(b, 0.0))]);
        tracker.record(0, &both(0.0, 1000.0), 600);
        // Broker 1 does not answer: no cluster sample, broker 0 still reports its load.
        let partial = BTreeMap::from([(0, reading(300.0, 0.0)), (1, None)]);
        assert_eq!(tracker.record(30, &partial, 600).len(), 1);
        assert!(tracker.series().is_empty());
        // Broker 1 restarted (its counter went down): it counts from zero.
        tracker.record(60, &both(600.0, 60.0), 600);
        assert_eq!(tracker.series()[0].ingress_bytes_per_s, 10.0 + 1.0);
    }

    #[test]
    fn the_series_keeps_one_sample_beyond_the_horizon() {
        let mut tracker = LoadTracker::default();
        for at in (0..=1000).step_by(100) {
            let b = BTreeMap::from([(0, reading(at as f64, 0.0))]);
            tracker.record(at, &b, 300);
        }
        let ats: Vec<i64> = tracker.series().iter().map(|s| s.at).collect();
        assert_eq!(ats, [700, 800, 900, 1000]);
    }
}
