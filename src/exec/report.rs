//! Reports: one row per value of a dimension among the selected visits (SPEC §3,
//! `sightline report`; the exact rules are in `docs/analytics.md`).
//!
//! Computed per part from dictionary ids, never by materialising rows: each selected
//! visit (visit-level dimensions) or each action / conversion row of a selected visit
//! (action- and conversion-level ones) is mapped to a small dense group id — the
//! dictionary id for strings, the rank among the part's distinct values for numbers —
//! and added to that group's counters. A visitor's visits are consecutive rows of its
//! part, so distinct visitors per group are counted with a "last visitor seen" stamp,
//! and distinct visits per group of an action-level dimension with a "last visit seen"
//! stamp. Parts are independent (a visitor lives in one part), so their groups merge by
//! value with plain sums.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use serde::{Serialize, Serializer};

use super::{Selection, Summary};
use crate::db::Snapshot;
use crate::error::{Error, Result};
use crate::schema::Level;

/// A value of the dimension a report is grouped by.
#[derive(Debug, Clone)]
pub enum ReportValue {
    /// No value (the `null` row).
    Null,
    /// Text (code dimensions lower-cased).
    Text(String),
    /// An integer dimension's value.
    Int(i64),
    /// A decimal dimension's value.
    Num(f64),
}

impl ReportValue {
    fn num_bits(x: f64) -> u64 {
        // -0.0 and 0.0 are one value.
        if x == 0.0 { 0 } else { x.to_bits() }
    }

    /// The value as text (`null` for the null row), for tables.
    pub fn display(&self) -> String {
        match self {
            ReportValue::Null => "null".into(),
            ReportValue::Text(s) => s.clone(),
            ReportValue::Int(i) => i.to_string(),
            ReportValue::Num(x) => x.to_string(),
        }
    }

    /// Report order of values: numbers numerically, strings by bytes, `null` last.
    pub fn order(&self, other: &ReportValue) -> Ordering {
        use ReportValue::*;
        let rank = |v: &ReportValue| match v {
            Int(_) | Num(_) => 0,
            Text(_) => 1,
            Null => 2,
        };
        match (self, other) {
            (Text(a), Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Int(a), Int(b)) => a.cmp(b),
            (Int(a), Num(b)) => (*a as f64).total_cmp(b),
            (Num(a), Int(b)) => a.total_cmp(&(*b as f64)),
            (Num(a), Num(b)) => (a + 0.0).total_cmp(&(b + 0.0)),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl PartialEq for ReportValue {
    fn eq(&self, other: &ReportValue) -> bool {
        use ReportValue::*;
        match (self, other) {
            (Null, Null) => true,
            (Text(a), Text(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Num(a), Num(b)) => Self::num_bits(*a) == Self::num_bits(*b),
            _ => false,
        }
    }
}

impl Eq for ReportValue {}

impl Hash for ReportValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            ReportValue::Null => 0u8.hash(state),
            ReportValue::Text(s) => (1u8, s).hash(state),
            ReportValue::Int(i) => (2u8, i).hash(state),
            ReportValue::Num(x) => (3u8, Self::num_bits(*x)).hash(state),
        }
    }
}

impl Serialize for ReportValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ReportValue::Null => s.serialize_none(),
            ReportValue::Text(t) => s.serialize_str(t),
            ReportValue::Int(i) => s.serialize_i64(*i),
            ReportValue::Num(x) => s.serialize_f64(*x),
        }
    }
}

/// Options of [`Snapshot::report`](crate::Snapshot::report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// Keep this many rows and fold the rest into one `others` row (`None`: every row).
    pub limit: Option<usize>,
}

/// One row of a [`Report`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRow {
    /// The value (`Text("others")` for the others row).
    pub value: ReportValue,
    /// Selected visits in the row.
    pub visits: u64,
    /// Distinct visitors of those visits.
    pub visitors: u64,
    /// Action rows of those visits.
    pub actions: u64,
    /// `goal` and `ecommerceOrder` rows of those visits.
    pub conversions: u64,
    /// Their revenue.
    pub revenue: f64,
    /// Action-level dimensions: action rows with the value; conversion-level ones:
    /// conversion rows with the value. `None` for visit-level dimensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<u64>,
    /// Only on the others row: how many values were folded into it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub others: Option<u64>,
}

/// A report (SPEC §3): rows sorted by visits descending, then value ascending.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The dimension's canonical name (aliases resolved).
    pub by: String,
    /// The dimension's level.
    pub level: Level,
    /// The rows; with a limit, the last one may be the others row.
    pub rows: Vec<ReportRow>,
    /// The summary of the whole selection (distinct counts).
    pub total: Summary,
}

/// Counters of one report group, with revenue in millionths so sums stay exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RowCounts {
    /// Visits.
    pub visits: u64,
    /// Distinct visitors.
    pub visitors: u64,
    /// Action rows of the visits.
    pub actions: u64,
    /// Conversions of the visits.
    pub conversions: u64,
    /// Revenue of the visits, in millionths.
    pub revenue_micros: i128,
    /// Matching rows (action- and conversion-level dimensions).
    pub hits: u64,
}

impl RowCounts {
    /// Adds `other` to `self`.
    fn add(&mut self, other: &RowCounts) {
        self.visits += other.visits;
        self.visitors += other.visitors;
        self.actions += other.actions;
        self.conversions += other.conversions;
        self.revenue_micros += other.revenue_micros;
        self.hits += other.hits;
    }
}

/// Sorts `groups` into report rows (SPEC §3 order) and folds everything after the first
/// `limit` rows into an others row whose counters are the sums of the folded rows.
fn finish_rows(
    mut groups: Vec<(ReportValue, RowCounts)>,
    level: Level,
    limit: Option<usize>,
) -> Vec<ReportRow> {
    groups.sort_by(|(va, a), (vb, b)| b.visits.cmp(&a.visits).then_with(|| va.order(vb)));
    let with_hits = level != Level::Visit;
    let row = |value: ReportValue, c: &RowCounts, others: Option<u64>| ReportRow {
        value,
        visits: c.visits,
        visitors: c.visitors,
        actions: c.actions,
        conversions: c.conversions,
        revenue: c.revenue_micros as f64 / 1e6,
        hits: with_hits.then_some(c.hits),
        others,
    };
    let keep = limit.unwrap_or(usize::MAX).min(groups.len());
    let folded = groups.split_off(keep);
    let mut rows: Vec<ReportRow> = groups
        .iter()
        .map(|(v, c)| row(v.clone(), c, None))
        .collect();
    if !folded.is_empty() {
        let mut sum = RowCounts::default();
        for (_, c) in &folded {
            sum.add(c);
        }
        rows.push(row(
            ReportValue::Text("others".into()),
            &sum,
            Some(folded.len() as u64),
        ));
    }
    rows
}

impl Snapshot {
    /// The report of `selection` by the dimension `by` (SPEC §3; `docs/analytics.md`).
    pub fn report(
        &self,
        by: &str,
        selection: &Selection,
        options: &ReportOptions,
    ) -> Result<Report> {
        let _ = (by, selection, options);
        Err(Error::InvalidInput("report: not yet".into()))
    }
}
