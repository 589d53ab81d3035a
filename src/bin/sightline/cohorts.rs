//! `sightline cohorts` and `.cohorts`: visitors grouped by the period of their first
//! visit and how many come back in each later period (`docs/analytics.md`), as the
//! library's document or a retention grid.

use std::time::{Duration, Instant};

use comfy_table::CellAlignment;
use serde_json::Value;
use sightline::Segment;
use sightline::{CohortOptions, Cohorts, Period, Snapshot, TimeRange};

use crate::query::{self, Scope};

/// Default `--periods`.
pub const DEFAULT_PERIODS: usize = 12;

/// Cohorts with what they were asked about.
pub struct CohortsAnswer {
    /// The parsed selection segment.
    pub segment: Segment,
    /// The range.
    pub range: TimeRange,
    /// The library's cohorts.
    pub cohorts: Cohorts,
    /// Time to select and count.
    pub elapsed: Duration,
}

/// The cohorts of the visitors whose first visit `scope` selects, by `period`, with at
/// most `periods` offsets each. The data ends at the range's end when it has one.
pub fn cohorts(
    snap: &Snapshot,
    scope: Scope<'_>,
    period: Period,
    periods: usize,
) -> anyhow::Result<CohortsAnswer> {
    if periods == 0 {
        return Err(crate::out::usage(
            "the number of periods must be at least 1",
        ));
    }
    let t0 = Instant::now();
    let (segment, selection) = scope.select(snap)?;
    let options = CohortOptions {
        period,
        periods,
        // The range's end is exclusive; the library's is the last millisecond included.
        end_ms: scope.range.end.map(|e| e.saturating_sub(1)),
    };
    let cohorts = snap.cohorts(&selection, &options)?;
    Ok(CohortsAnswer {
        segment,
        range: *scope.range,
        cohorts,
        elapsed: t0.elapsed(),
    })
}

/// `day`, `week` or `month` as `--period` and `.cohorts` spell them.
pub fn parse_period(word: &str) -> Option<Period> {
    match word {
        "day" => Some(Period::Day),
        "week" => Some(Period::Week),
        "month" => Some(Period::Month),
        _ => None,
    }
}

impl CohortsAnswer {
    /// `{"period", "cohorts": [{"start", "size", "retained"}], "segment", "range",
    /// "elapsedMs"}`.
    pub fn doc(&self) -> Value {
        query::annotate(
            query::to_doc(&self.cohorts),
            &self.segment,
            &self.range,
            self.elapsed,
        )
    }

    /// A header row (start, size, then 0, 1, … for the period offsets), then one row
    /// per cohort: its first day, its size and the number of its visitors with a visit
    /// in each later period (counts, not the table's percentages; empty where the period
    /// has not happened yet).
    pub fn csv(&self) -> anyhow::Result<String> {
        let c = &self.cohorts;
        let width = c
            .cohorts
            .iter()
            .map(|k| k.retained.len())
            .max()
            .unwrap_or(0);
        let mut head = vec!["start".to_string(), "size".to_string()];
        head.extend((0..width).map(|i| i.to_string()));
        let rows = c.cohorts.iter().map(|k| {
            let mut row = vec![k.start.to_string(), k.size.to_string()];
            row.extend((0..width).map(|i| k.retained.get(i).map_or(String::new(), u64::to_string)));
            row
        });
        crate::out::csv(&head, rows)
    }

    /// A caption, then the retention grid: one row per cohort (start, size, then the
    /// share of the cohort with a visit in each later period; blank where the period
    /// has not happened yet).
    pub fn table(&self) -> String {
        let c = &self.cohorts;
        let (unit, first_col) = match c.period {
            Period::Day => ("day", "day"),
            Period::Week => ("week", "week of"),
            Period::Month => ("month", "month"),
        };
        let caption = format!(
            "{} cohorts by first visit: % of each cohort with a visit N {unit}s later \
             (blank: not reached yet)",
            match c.period {
                Period::Day => "daily",
                Period::Week => "weekly",
                Period::Month => "monthly",
            }
        );
        if c.cohorts.is_empty() {
            return format!("{caption}\n(no cohorts: no visitor's first visit is selected)");
        }
        let width = c
            .cohorts
            .iter()
            .map(|k| k.retained.len())
            .max()
            .unwrap_or(0);
        let mut t = query::table();
        let mut head = vec![first_col.to_string(), "size".to_string()];
        head.extend((0..width).map(|i| i.to_string()));
        t.set_header(head);
        for k in &c.cohorts {
            let start = match c.period {
                Period::Month => k.start.strftime("%Y-%m").to_string(),
                _ => k.start.to_string(),
            };
            let mut row = vec![start, k.size.to_string()];
            for i in 0..width {
                row.push(match k.retained.get(i) {
                    None => String::new(),
                    Some(_) if k.size == 0 => "-".into(),
                    Some(&n) => format!("{:.1}", 100.0 * n as f64 / k.size as f64),
                });
            }
            t.add_row(row);
        }
        for i in 1..width + 2 {
            if let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        let total: u64 = c.cohorts.iter().map(|k| k.size).sum();
        format!(
            "{caption}\n{t}\n{} in {}",
            query::plural(total, "new visitor"),
            query::plural(c.cohorts.len() as u64, "cohort")
        )
    }
}
