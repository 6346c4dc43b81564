//! Invoice computation as pure functions: hourly usage, the cluster state history and the
//! price books in, invoice lines out. No I/O, so every rule has a unit test and anyone can
//! recompute an invoice from the raw usage (`GET …/usage?granularity=hour`) and the books.
//!
//! # Rules
//!
//! - **Quantities** are summed as integers per (cluster, dimension, price book) over the
//!   hours of the period, then converted once and rounded half-even to
//!   [`QUANTITY_DP`] (9) decimal places: data in and out in GB (10^9 bytes; exact),
//!   storage in GB-months (byte-seconds / (10^9 × 3600 × the hours of the calendar month), so
//!   1 GB kept all month is exactly 1 GB-month), partition-hours (partition-seconds / 3600,
//!   as the brokers metered them) and cluster-hours (milliseconds the cluster was `ready` or
//!   `updating`, from its state history, / 3 600 000).
//! - **Prices**: each hour is priced by the price book in force at its start (the newest
//!   book whose `effective_from` is at or before it); a cluster's time is split at book
//!   boundaries. A price change mid-month gives two lines.
//! - **Amounts**: per line, quantity × unit price rounded half-even ("banker's rounding") to
//!   [`AMOUNT_DP`] (2) decimal places, once; the total is the sum of the line amounts. No
//!   floating point anywhere.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Decimal places of a line's quantity.
pub const QUANTITY_DP: u32 = 9;
/// Decimal places of amounts (cents).
pub const AMOUNT_DP: u32 = 2;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// What is billed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Record-batch bytes produced, per GB.
    DataIn,
    /// Record-batch bytes consumed, per GB.
    DataOut,
    /// Bytes stored over time, per GB-month.
    Storage,
    /// Partitions over time, per partition-hour.
    PartitionHours,
    /// Running clusters over time, per cluster-hour.
    ClusterHours,
}

impl Dimension {
    /// Every dimension, in invoice order.
    pub const ALL: [Dimension; 5] = [
        Dimension::DataIn,
        Dimension::DataOut,
        Dimension::Storage,
        Dimension::PartitionHours,
        Dimension::ClusterHours,
    ];

    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::DataIn => "data_in",
            Dimension::DataOut => "data_out",
            Dimension::Storage => "storage",
            Dimension::PartitionHours => "partition_hours",
            Dimension::ClusterHours => "cluster_hours",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// The unit of its quantity.
    pub fn unit(self) -> &'static str {
        match self {
            Dimension::DataIn | Dimension::DataOut => "GB",
            Dimension::Storage => "GB-month",
            Dimension::PartitionHours => "partition-hour",
            Dimension::ClusterHours => "cluster-hour",
        }
    }
}

/// Unit prices of one price book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prices {
    /// Per GB produced.
    pub data_in_per_gb: Decimal,
    /// Per GB consumed.
    pub data_out_per_gb: Decimal,
    /// Per GB-month stored.
    pub storage_per_gb_month: Decimal,
    /// Per partition-hour.
    pub partition_hour: Decimal,
    /// Per cluster-hour.
    pub cluster_hour: Decimal,
}

impl Prices {
    /// The defaults: the shape of Amazon MSK Serverless' prices (USD).
    pub fn defaults() -> Prices {
        Prices {
            data_in_per_gb: Decimal::new(10, 2),
            data_out_per_gb: Decimal::new(5, 2),
            storage_per_gb_month: Decimal::new(10, 2),
            partition_hour: Decimal::new(15, 4),
            cluster_hour: Decimal::new(75, 2),
        }
    }

    /// The unit price of `d`.
    pub fn of(&self, d: Dimension) -> Decimal {
        match d {
            Dimension::DataIn => self.data_in_per_gb,
            Dimension::DataOut => self.data_out_per_gb,
            Dimension::Storage => self.storage_per_gb_month,
            Dimension::PartitionHours => self.partition_hour,
            Dimension::ClusterHours => self.cluster_hour,
        }
    }
}

/// A price book version as the computation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    /// Version (increasing).
    pub version: i64,
    /// In force from (unix ms, a whole hour).
    pub effective_from: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Unit prices.
    pub prices: Prices,
}

/// The book in force at `at_ms`: the newest by `effective_from` (then version) that is not
/// after it.
pub fn book_at(books: &[Book], at_ms: i64) -> Option<&Book> {
    books
        .iter()
        .filter(|b| b.effective_from <= at_ms)
        .max_by_key(|b| (b.effective_from, b.version))
}

/// Usage of one cluster in one hour (summed over topics and principals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourUsage {
    /// Bytes produced.
    pub bytes_in: i64,
    /// Bytes consumed.
    pub bytes_out: i64,
    /// Bytes stored × seconds.
    pub byte_seconds: i64,
    /// Partitions × seconds.
    pub partition_seconds: i64,
}

/// What an invoice period is computed from.
#[derive(Debug, Clone, Default)]
pub struct PeriodUsage {
    /// (cluster, hour start) → usage.
    pub hours: BTreeMap<(String, i64), HourUsage>,
    /// Billable time of each cluster: (cluster, start, end) in unix ms.
    pub running: Vec<(String, i64, i64)>,
}

/// One computed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The cluster.
    pub cluster_id: String,
    /// What is billed.
    pub dimension: Dimension,
    /// The price book version that priced it.
    pub price_book_version: i64,
    /// Quantity, rounded to [`QUANTITY_DP`].
    pub quantity: Decimal,
    /// Unit price.
    pub unit_price: Decimal,
    /// quantity × unit price, rounded to [`AMOUNT_DP`].
    pub amount: Decimal,
}

/// A computed invoice: lines by cluster and dimension, and their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    /// Currency of every line.
    pub currency: String,
    /// Lines, by cluster, dimension and book version.
    pub lines: Vec<Line>,
    /// Sum of the line amounts.
    pub total: Decimal,
}

/// Hours in the calendar month `[month_start, month_end)`.
pub fn hours_in(month_start: i64, month_end: i64) -> i64 {
    (month_end - month_start) / HOUR_MS
}

/// Rounds half-even to `dp` places.
pub fn round(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::MidpointNearestEven)
}

/// `numerator / denominator` rounded half-even to [`QUANTITY_DP`], exactly (integer
/// arithmetic, no precision limit of the decimal type on the way).
fn quantity(numerator: i128, denominator: i128) -> Decimal {
    let scale = 10_i128.pow(QUANTITY_DP);
    let scaled = numerator * scale;
    let (q, r) = (scaled / denominator, scaled % denominator);
    // Half-even on the remainder.
    let twice = 2 * r.abs();
    let q = if twice > denominator || (twice == denominator && q % 2 != 0) {
        q + scaled.signum()
    } else {
        q
    };
    // Beyond 28 digits (10^19 units) saturates rather than panics.
    Decimal::try_from_i128_with_scale(q, QUANTITY_DP)
        .unwrap_or(Decimal::MAX)
        .normalize()
}

/// The invoice of the period `[month_start, until)` of the calendar month ending at
/// `month_end` (`until` ≤ `month_end`; earlier for a draft). `None` without a price book.
pub fn compute(
    usage: &PeriodUsage,
    books: &[Book],
    month_start: i64,
    month_end: i64,
    until: i64,
) -> Option<Computed> {
    let currency = book_at(books, month_start)
        .or_else(|| books.iter().min_by_key(|b| b.effective_from))?
        .currency
        .clone();
    // (cluster, dimension, version) → integer quantity in the dimension's base unit.
    let mut sums: BTreeMap<(String, Dimension, i64), i128> = BTreeMap::new();
    let mut add = |cluster: &str, d: Dimension, version: i64, v: i128| {
        if v != 0 {
            *sums.entry((cluster.to_string(), d, version)).or_default() += v;
        }
    };
    for ((cluster, hour), u) in &usage.hours {
        if *hour < month_start || *hour >= until {
            continue;
        }
        let Some(book) = book_at(books, *hour) else {
            continue;
        };
        add(
            cluster,
            Dimension::DataIn,
            book.version,
            i128::from(u.bytes_in),
        );
        add(
            cluster,
            Dimension::DataOut,
            book.version,
            i128::from(u.bytes_out),
        );
        add(
            cluster,
            Dimension::Storage,
            book.version,
            i128::from(u.byte_seconds),
        );
        add(
            cluster,
            Dimension::PartitionHours,
            book.version,
            i128::from(u.partition_seconds),
        );
    }
    // Cluster time, clipped to the period and split where a book takes over.
    let mut boundaries: Vec<i64> = books.iter().map(|b| b.effective_from).collect();
    boundaries.sort_unstable();
    for (cluster, start, end) in &usage.running {
        let (mut at, end) = ((*start).max(month_start), (*end).min(until));
        while at < end {
            let next = boundaries
                .iter()
                .copied()
                .find(|b| *b > at)
                .unwrap_or(end)
                .min(end);
            if let Some(book) = book_at(books, at) {
                add(
                    cluster,
                    Dimension::ClusterHours,
                    book.version,
                    i128::from(next - at),
                );
            }
            at = next;
        }
    }
    let month_hours = i128::from(hours_in(month_start, month_end).max(1));
    let mut lines = Vec::new();
    for ((cluster_id, dimension, version), v) in sums {
        let Some(book) = books.iter().find(|b| b.version == version) else {
            continue;
        };
        let quantity = match dimension {
            Dimension::DataIn | Dimension::DataOut => quantity(v, 1_000_000_000),
            Dimension::Storage => quantity(v, 1_000_000_000 * 3600 * month_hours),
            Dimension::PartitionHours => quantity(v, 3600),
            Dimension::ClusterHours => quantity(v, i128::from(HOUR_MS)),
        };
        let unit_price = book.prices.of(dimension);
        lines.push(Line {
            cluster_id,
            dimension,
            price_book_version: version,
            quantity,
            unit_price,
            amount: round(
                quantity.checked_mul(unit_price).unwrap_or(Decimal::MAX),
                AMOUNT_DP,
            ),
        });
    }
    let total = lines.iter().map(|l| l.amount).sum();
    Some(Computed {
        currency,
        lines,
        total,
    })
}

/// What a recomputed invoice adds to what was billed already (`billed`: the final invoice's
/// lines and every adjustment's): per (cluster, dimension, version) the differences of
/// quantity and amount, for the keys where either is not zero.
pub fn adjustment(recomputed: &[Line], billed: &[Line]) -> Vec<Line> {
    type Key = (String, Dimension, i64);
    let mut diff: BTreeMap<Key, (Decimal, Decimal, Decimal)> = BTreeMap::new();
    for l in recomputed {
        let e = diff
            .entry((l.cluster_id.clone(), l.dimension, l.price_book_version))
            .or_insert((Decimal::ZERO, Decimal::ZERO, l.unit_price));
        e.0 += l.quantity;
        e.1 += l.amount;
    }
    for l in billed {
        let e = diff
            .entry((l.cluster_id.clone(), l.dimension, l.price_book_version))
            .or_insert((Decimal::ZERO, Decimal::ZERO, l.unit_price));
        e.0 -= l.quantity;
        e.1 -= l.amount;
    }
    diff.into_iter()
        .filter(|(_, (q, a, _))| !q.is_zero() || !a.is_zero())
        .map(|((cluster_id, dimension, version), (q, a, p))| Line {
            cluster_id,
            dimension,
            price_book_version: version,
            quantity: q.normalize(),
            unit_price: p,
            amount: a,
        })
        .collect()
}

/// Billable intervals of a cluster from its state history (`(at, to_state)`, oldest first):
/// from each move into `ready` or `updating` to the next move out of both; an interval still
/// open ends at `now`.
pub fn running_intervals(history: &[(i64, &str)], now: i64) -> Vec<(i64, i64)> {
    let billable = |s: &str| matches!(s, "ready" | "updating");
    let mut out = Vec::new();
    let mut since = None;
    for (at, state) in history {
        match (since, billable(state)) {
            (None, true) => since = Some(*at),
            (Some(start), false) => {
                out.push((start, *at));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(start) = since
        && now > start
    {
        out.push((start, now));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    const MONTH: i64 = 1_772_323_200_000; // 2026-03-01T00:00:00Z
    const MONTH_END: i64 = MONTH + 31 * 24 * HOUR_MS;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn default_book() -> Book {
        Book {
            version: 1,
            effective_from: 0,
            currency: "USD".into(),
            prices: Prices::defaults(),
        }
    }

    #[test]
    fn the_defaults_price_a_known_month_exactly() {
        let mut usage = PeriodUsage::default();
        // 3 GB in and 1.5 GB out in the first hour; 2 GB stored the whole month; 3
        // partitions the whole month; the cluster ran 10 hours.
        usage.hours.insert(
            ("c1".into(), MONTH),
            HourUsage {
                bytes_in: 3_000_000_000,
                bytes_out: 1_500_000_000,
                ..HourUsage::default()
            },
        );
        for h in 0..744 {
            let e = usage
                .hours
                .entry(("c1".into(), MONTH + h * HOUR_MS))
                .or_default();
            e.byte_seconds = 2_000_000_000 * 3600;
            e.partition_seconds = 3 * 3600;
        }
        usage
            .running
            .push(("c1".into(), MONTH - HOUR_MS, MONTH + 10 * HOUR_MS));
        let c = compute(&usage, &[default_book()], MONTH, MONTH_END, MONTH_END).unwrap();
        let by_dim: BTreeMap<Dimension, (Decimal, Decimal)> = c
            .lines
            .iter()
            .map(|l| (l.dimension, (l.quantity, l.amount)))
            .collect();
        assert_eq!(by_dim[&Dimension::DataIn], (dec("3"), dec("0.30")));
        assert_eq!(
            by_dim[&Dimension::DataOut],
            (dec("1.5"), dec("0.08")),
            "0.075 → 0.08 (half-even)"
        );
        assert_eq!(by_dim[&Dimension::Storage], (dec("2"), dec("0.20")));
        assert_eq!(
            by_dim[&Dimension::PartitionHours],
            (dec("2232"), dec("3.35")),
            "3 × 744 × 0.0015 = 3.348"
        );
        assert_eq!(
            by_dim[&Dimension::ClusterHours],
            (dec("10"), dec("7.50")),
            "clipped to the month"
        );
        assert_eq!(c.total, dec("11.43"));
        assert_eq!(c.currency, "USD");
    }

    #[test]
    fn amounts_round_half_even_once_per_line() {
        assert_eq!(round(dec("0.125"), 2), dec("0.12"));
        assert_eq!(round(dec("0.135"), 2), dec("0.14"));
        assert_eq!(quantity(1, 3), dec("0.333333333"));
        assert_eq!(quantity(2, 3), dec("0.666666667"));
        // 0.5 × 10^-9 rounds to even (0), 1.5 × 10^-9 to 2 × 10^-9.
        assert_eq!(quantity(1, 2_000_000_000), dec("0"));
        assert_eq!(quantity(3, 2_000_000_000), dec("0.000000002"));
        // Two hours of 0.6 GB each: one line of 1.2 GB, rounded once (0.12), not twice.
        let mut usage = PeriodUsage::default();
        for h in 0..2 {
            usage.hours.insert(
                ("c".into(), MONTH + h * HOUR_MS),
                HourUsage {
                    bytes_in: 600_000_000,
                    ..HourUsage::default()
                },
            );
        }
        let c = compute(&usage, &[default_book()], MONTH, MONTH_END, MONTH_END).unwrap();
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].quantity, dec("1.2"));
        assert_eq!(c.total, dec("0.12"));
    }

    #[test]
    fn a_price_change_mid_month_splits_lines_at_its_hour() {
        let mut cheaper = default_book();
        cheaper.version = 2;
        cheaper.effective_from = MONTH + 5 * HOUR_MS;
        cheaper.prices.cluster_hour = dec("0.50");
        let usage = PeriodUsage {
            running: vec![("c".into(), MONTH, MONTH + 8 * HOUR_MS)],
            ..PeriodUsage::default()
        };
        let c = compute(
            &usage,
            &[default_book(), cheaper],
            MONTH,
            MONTH_END,
            MONTH_END,
        )
        .unwrap();
        let lines: Vec<(i64, Decimal, Decimal)> = c
            .lines
            .iter()
            .map(|l| (l.price_book_version, l.quantity, l.amount))
            .collect();
        assert_eq!(
            lines,
            [(1, dec("5"), dec("3.75")), (2, dec("3"), dec("1.50"))]
        );
        // A draft stops at `until`.
        let draft = compute(
            &usage,
            &[default_book()],
            MONTH,
            MONTH_END,
            MONTH + HOUR_MS / 2,
        )
        .unwrap();
        assert_eq!(draft.lines[0].quantity, dec("0.5"));
        assert!(compute(&usage, &[], MONTH, MONTH_END, MONTH_END).is_none());
    }

    #[test]
    fn an_adjustment_bills_only_the_difference() {
        let line = |q: &str, a: &str| Line {
            cluster_id: "c".into(),
            dimension: Dimension::DataIn,
            price_book_version: 1,
            quantity: dec(q),
            unit_price: dec("0.10"),
            amount: dec(a),
        };
        let adj = adjustment(&[line("4", "0.40")], &[line("3", "0.30")]);
        assert_eq!(adj, [line("1", "0.10")]);
        assert!(adjustment(&[line("3", "0.30")], &[line("3", "0.30")]).is_empty());
    }

    #[test]
    fn clusters_bill_while_ready_or_updating() {
        let history = [
            (0, "provisioning"),
            (10, "ready"),
            (20, "updating"),
            (30, "ready"),
            (40, "failed"),
            (50, "updating"),
            (60, "ready"),
            (70, "deleting"),
            (80, "deleted"),
        ];
        assert_eq!(running_intervals(&history, 100), [(10, 40), (50, 70)]);
        assert_eq!(
            running_intervals(&[(0, "provisioning"), (5, "ready")], 9),
            [(5, 9)]
        );
    }
}
