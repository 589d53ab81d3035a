//! Query execution: compiling segments against a database's schema and evaluating them
//! with bitmaps, part by part, in parallel.
//!
//! - [`catalog`]: the dimensions a segment can name;
//! - [`compile`](mod@compile): names resolved, values typed ([`CompiledSegment`]);
//! - `engine`: per-part bitmap evaluation (`docs/segment-language.md` semantics);
//! - `numbers`: numeric conditions as passes over the mapped columns;
//! - `views`, `summary`: what queries read besides the columns (mapped from version 2
//!   parts, built once for version 1 parts), and summaries straight from the columns;
//! - [`scan`]: the naive row-by-row oracle the tests hold the engine to.
//!
//! Results are bitmaps of visit rows per part ([`Selection`]), so memory does not grow
//! with the number of matching rows; every visitor lives in exactly one part, so
//! per-part distinct visitor counts add up.

pub(crate) mod cache;
pub mod catalog;
pub mod cohort;
pub mod compile;
mod engine;
pub mod export;
pub mod funnel;
mod kernels;
mod lint;
mod numbers;
pub(crate) mod part;
mod pool;
pub mod report;
mod stats;
mod summary;
mod values;
mod views;
pub mod visits;

use std::sync::Arc;

use roaring::RoaringBitmap;
use serde::Serialize;

pub use catalog::{Catalog, DimType, Dimension};
pub use cohort::{Cohort, CohortOptions, Cohorts, MAX_COHORT_CELLS, Period};
pub use compile::{CompiledSegment, Cond, Operand};
pub use export::{ExportSelector, ExportSummary};
pub use funnel::{
    DEFAULT_VISITOR_WINDOW_MS, Funnel, FunnelOptions, FunnelScope, FunnelStep, MAX_FUNNEL_STEPS,
};
pub use lint::SegmentWarning;
pub use report::{Report, ReportOptions, ReportRow, ReportValue};
pub use stats::Stats;
pub(crate) use stats::stats;
pub use values::DimensionValues;
pub(crate) use values::dimension_values;
pub(crate) use views::verify_query_index;
pub use visits::{DimValue, EventRecord, VisitRecord, VisitorProfile, VisitorTotals};

use crate::cancel::Stop;
use crate::error::Result;
use crate::lang;
use engine::PartEval;
pub(crate) use part::LivePart;

/// A time range over visit starts: `start` inclusive, `end` exclusive, Unix ms. A visit
/// belongs to the range if its first event does (`docs/segment-language.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// First instant included.
    pub start: Option<i64>,
    /// First instant no longer included.
    pub end: Option<i64>,
}

impl TimeRange {
    /// Every visit.
    pub const ALL: TimeRange = TimeRange {
        start: None,
        end: None,
    };

    /// Whether a visit starting at `ts` belongs to the range.
    pub fn contains(&self, ts: i64) -> bool {
        self.start.is_none_or(|s| ts >= s) && self.end.is_none_or(|e| ts < e)
    }
}

/// The summary of a set of visits (`docs/analytics.md`, `sightline query`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Visits.
    pub visits: u64,
    /// Distinct visitors.
    pub visitors: u64,
    /// Action rows of the visits.
    pub actions: u64,
    /// `goal` and `ecommerceOrder` rows of the visits.
    pub conversions: u64,
    /// Their revenue.
    pub revenue: f64,
    /// Visits with exactly one action.
    pub bounces: u64,
    /// Sum of the visits' durations, in seconds.
    pub sum_visit_duration: u64,
}

/// Selected visits: one bitmap of visit rows per live part of the snapshot (same order
/// as the snapshot's parts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Visit rows selected in each part.
    pub parts: Vec<RoaringBitmap>,
}

impl Selection {
    /// Number of selected visits.
    pub fn visits(&self) -> u64 {
        self.parts.iter().map(|b| b.len()).sum()
    }
}

/// What one condition matched, summed over parts (for `explain`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CondStats {
    /// Event rows matched by a positive action or conversion test (before projection).
    pub rows: u64,
    /// Visits the condition holds for, where it is decided per visit (visit-level
    /// conditions, negated action conditions, conversion tests; 0 for positive action
    /// conditions, which are decided on rows together).
    pub visits: u64,
}

/// A compiled segment's plan with the cardinality of each step.
#[derive(Debug, Clone, Serialize)]
pub struct Explain {
    /// One entry per AND-group, in order.
    pub groups: Vec<GroupPlan>,
    /// Live visits in the time range (the universe).
    pub candidates: u64,
    /// Visits selected.
    pub selected: u64,
    /// [`CompiledSegment::warnings`]: conditions that rarely mean what they say (not
    /// serialised with the plan: the CLI's documents carry them at their top level).
    #[serde(skip)]
    pub warnings: Vec<SegmentWarning>,
}

/// The plan of one OR-group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupPlan {
    /// The conditions.
    pub conditions: Vec<CondPlan>,
}

/// How one condition is evaluated and what it matched.
#[derive(Debug, Clone, Serialize)]
pub struct CondPlan {
    /// The condition, canonical form.
    pub condition: String,
    /// Resolved dimension name.
    pub dimension: String,
    /// `visit`, `action` or `conversion`.
    pub level: &'static str,
    /// How it becomes a bitmap.
    pub method: String,
    /// Matched rows / visits.
    #[serde(flatten)]
    pub stats: CondStats,
}

fn method(c: &Cond) -> String {
    use catalog::Source;
    let numeric = matches!(
        c.dim.source,
        Source::VisitNumber(_)
            | Source::EventNumber(_)
            | Source::CustomNumber(_)
            | Source::ConversionGoal
            | Source::ConversionRevenue
    );
    let base = if numeric {
        "column scan".to_string()
    } else if matches!(c.operand, Operand::Empty) {
        "null rows + empty dictionary entry".to_string()
    } else if c.op.positive() == lang::Op::Eq && !c.fold_case && c.dim.exact_text() {
        "dictionary lookup".to_string()
    } else {
        "dictionary scan, OR of matching bitmaps".to_string()
    };
    let how = match (c.dim.level, c.is_negative()) {
        (crate::schema::Level::Visit, false) => "",
        (crate::schema::Level::Visit, true) => "; complement",
        (crate::schema::Level::Action, false) => "; action rows, same-row AND, project to visits",
        (crate::schema::Level::Action, true) => {
            "; action rows, project to visits, complement (no action matches)"
        }
        (crate::schema::Level::Conversion, false) => "; conversion rows, project to visits",
        (crate::schema::Level::Conversion, true) => {
            "; conversion rows, project to visits, complement (no conversion matches)"
        }
    };
    format!("{base}{how}")
}

/// The visits `segment` selects within `range`, as bitmaps (parts in parallel).
pub(crate) fn select(
    parts: &[LivePart],
    segment: &CompiledSegment,
    range: &TimeRange,
    stop: &Stop,
) -> Result<Selection> {
    let (sel, _) = select_with_stats(parts, segment, range, true, stop)?;
    Ok(sel)
}

/// The plan of `segment` over `parts`, with the cardinality of every step.
pub(crate) fn explain(
    parts: &[LivePart],
    segment: &CompiledSegment,
    range: &TimeRange,
    stop: &Stop,
) -> Result<Explain> {
    let (sel, stats) = select_with_stats(parts, segment, range, false, stop)?;
    let r = *range;
    let candidates = for_each_part(parts, stop, move |lp| {
        Ok(PartEval::new(lp).live_visits(&r)?.len())
    })?
    .into_iter()
    .sum();
    let groups = segment
        .groups
        .iter()
        .zip(stats)
        .map(|(g, st)| GroupPlan {
            conditions: g
                .iter()
                .zip(st)
                .map(|(c, stats)| CondPlan {
                    condition: c.text.clone(),
                    dimension: c.dim.name.clone(),
                    level: c.dim.level.name(),
                    method: method(c),
                    stats,
                })
                .collect(),
        })
        .collect();
    Ok(Explain {
        groups,
        candidates,
        selected: sel.visits(),
        warnings: segment.warnings(),
    })
}

/// For each condition of each group, its (group, condition) in the distinct groups.
type Slots = Vec<Vec<(usize, usize)>>;

/// `groups` with repetitions removed, and where each original condition went:
/// `slots[g][c]` = (group, condition) in the result.
///
/// A segment is one boolean expression per visit and action row (`docs/segment-language.md`), so a
/// condition repeated within its OR-group, or an OR-group repeated in the AND (the same
/// conditions in any order), changes nothing; evaluating it once keeps deeply
/// repetitive segments (thousands of copies of one condition) as cheap as the
/// condition itself. Conditions are the same when their canonical text is.
fn distinct_groups(groups: &[Vec<Cond>]) -> (Vec<Vec<Cond>>, Slots) {
    use std::collections::HashMap;
    let mut out: Vec<Vec<Cond>> = Vec::new();
    // For each kept group, its conditions' texts → their index in it.
    let mut index: Vec<HashMap<&str, usize>> = Vec::new();
    // Sorted distinct condition texts of each kept group → its index in `out`.
    let mut seen: HashMap<Vec<&str>, usize> = HashMap::new();
    let mut slots = Vec::with_capacity(groups.len());
    for g in groups {
        let mut texts: Vec<&str> = g.iter().map(|c| c.text.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        let gi = match seen.get(&texts) {
            Some(&gi) => gi,
            None => {
                let mut kept = Vec::with_capacity(texts.len());
                let mut at = HashMap::with_capacity(texts.len());
                for c in g {
                    at.entry(c.text.as_str()).or_insert_with(|| {
                        kept.push(c.clone());
                        kept.len() - 1
                    });
                }
                out.push(kept);
                index.push(at);
                seen.insert(texts, out.len() - 1);
                out.len() - 1
            }
        };
        let at = index.get(gi);
        slots.push(
            g.iter()
                .map(|c| {
                    let ci = at.and_then(|m| m.get(c.text.as_str())).copied();
                    (gi, ci.unwrap_or(0))
                })
                .collect(),
        );
    }
    (out, slots)
}

/// The selection, and each condition's cardinalities. `restrict`: evaluate action
/// conditions only where they can matter (faster; the counts then cover only those
/// rows), or whole (exact counts, for `explain`).
fn select_with_stats(
    parts: &[LivePart],
    segment: &CompiledSegment,
    range: &TimeRange,
    restrict: bool,
    stop: &Stop,
) -> Result<(Selection, Vec<Vec<CondStats>>)> {
    let (distinct, slots) = distinct_groups(&segment.groups);
    let blank: Vec<Vec<CondStats>> = distinct
        .iter()
        .map(|g| vec![CondStats::default(); g.len()])
        .collect();
    let groups = Arc::new(distinct);
    let (range, part_blank) = (*range, blank.clone());
    let results = for_each_part(parts, stop, move |lp| {
        let mut stats = part_blank.clone();
        let sel = PartEval::new(lp).select(&groups, &range, &mut stats, restrict)?;
        Ok((sel, stats))
    })?;
    let mut total = blank;
    let mut parts = Vec::with_capacity(results.len());
    for (sel, stats) in results {
        for (tg, g) in total.iter_mut().zip(stats) {
            for (t, s) in tg.iter_mut().zip(g) {
                t.rows += s.rows;
                t.visits += s.visits;
            }
        }
        parts.push(sel);
    }
    // Repeated conditions report what their first occurrence matched.
    let per_condition = slots
        .iter()
        .map(|g| {
            g.iter()
                .map(|&(gi, ci)| {
                    total
                        .get(gi)
                        .and_then(|g| g.get(ci))
                        .copied()
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    Ok((Selection { parts }, per_condition))
}

/// How a summary of a segment reads each part (tests compare the ways).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryPath {
    /// The cheapest: a part's per-value summaries when the segment is one value of a
    /// visit-level string dimension, else the selection and the columns.
    Auto,
    /// Always the selection and the columns.
    Columns,
}

/// The summary of the selected visits (parts in parallel).
/// How many selected visits have a conversion (`visitConverted==1`; parts in parallel).
pub(crate) fn converted_visits(
    parts: &[LivePart],
    selection: &Selection,
    stop: &Stop,
) -> Result<u64> {
    let jobs = parts
        .iter()
        .zip(selection.parts.iter())
        .map(|(lp, sel)| {
            let (lp, sel) = (lp.clone(), sel.clone());
            Box::new(move || summary::converted(&PartEval::new(&lp), &sel)) as pool::Job<u64>
        })
        .collect();
    Ok(pool::run_all(jobs, part::total_events(parts), stop)?
        .into_iter()
        .sum())
}

pub(crate) fn summarize(parts: &[LivePart], selection: &Selection, stop: &Stop) -> Result<Summary> {
    let jobs = parts
        .iter()
        .zip(selection.parts.iter())
        .map(|(lp, sel)| {
            let (lp, sel) = (lp.clone(), sel.clone());
            Box::new(move || summarize_part(&lp, &sel)) as pool::Job<(Summary, i128)>
        })
        .collect();
    Ok(merge(pool::run_all(jobs, part::total_events(parts), stop)?))
}

/// The summary of the visits `segment` selects within `range`: per part, from the
/// part's per-value summaries where they answer it, else selected and summarised in
/// one job.
pub(crate) fn summary(
    parts: &[LivePart],
    segment: &CompiledSegment,
    range: &TimeRange,
    path: SummaryPath,
    stop: &Stop,
) -> Result<Summary> {
    let (distinct, _) = distinct_groups(&segment.groups);
    let value = match path {
        SummaryPath::Auto => ValueLookup::of(&distinct),
        SummaryPath::Columns => None,
    };
    let (groups, value, range) = (Arc::new(distinct), Arc::new(value), *range);
    let blank: Vec<Vec<CondStats>> = groups
        .iter()
        .map(|g| vec![CondStats::default(); g.len()])
        .collect();
    let per_part = for_each_part(parts, stop, move |lp| {
        if let Some(v) = value.as_ref()
            && let Some(s) = v.summary(lp, &range)?
        {
            return Ok(s);
        }
        let mut stats = blank.clone();
        let sel = PartEval::new(lp).select(&groups, &range, &mut stats, true)?;
        summarize_part(lp, &sel)
    })?;
    Ok(merge(per_part))
}

/// Per-part summaries (revenue in micros) added up.
fn merge(per_part: Vec<(Summary, i128)>) -> Summary {
    let mut s = Summary::default();
    let mut micros: i128 = 0;
    for (p, m) in per_part {
        s.visits += p.visits;
        s.visitors += p.visitors;
        s.actions += p.actions;
        s.conversions += p.conversions;
        s.bounces += p.bounces;
        s.sum_visit_duration += p.sum_visit_duration;
        micros += m;
    }
    s.revenue = micros as f64 / 1e6;
    s
}

/// A segment that is one exact value of a visit-level string dimension, or an OR of
/// such values of one dimension (`countryCode==de`, `visitorType==returningCustomer`,
/// `countryCode==fr,countryCode==gb`): each part answers it from the summaries it keeps
/// of those dictionary entries — in constant time for one value; for several, the
/// metrics add up (a visit holds one value) and only the distinct visitors are counted
/// over the entries' visits.
#[derive(Debug)]
struct ValueLookup {
    column: String,
    values: Vec<String>,
    /// Compare ignoring case (code dimensions).
    fold_case: bool,
}

impl ValueLookup {
    fn of(groups: &[Vec<Cond>]) -> Option<ValueLookup> {
        let [group] = groups else { return None };
        let first = group.first()?;
        let catalog::Source::VisitText(column) = &first.dim.source else {
            return None;
        };
        let mut values = Vec::with_capacity(group.len());
        for c in group {
            let same_column =
                matches!(&c.dim.source, catalog::Source::VisitText(col) if col == column);
            let Operand::Text(value) = &c.operand else {
                return None;
            };
            if !same_column
                || c.op != lang::Op::Eq
                || !c.dim.exact_text()
                || c.fold_case != first.fold_case
            {
                return None;
            }
            values.push(value.clone());
        }
        Some(ValueLookup {
            column: column.to_string(),
            values,
            fold_case: first.fold_case,
        })
    }

    /// The summary of part `lp` (revenue in micros), or `None` when the part cannot
    /// answer from its summaries (visitors deleted from it, a time range cutting it, a
    /// value too rare to be summarised, or an older part without them).
    fn summary(&self, lp: &LivePart, range: &TimeRange) -> Result<Option<(Summary, i128)>> {
        let r = &lp.reader;
        let m = r.meta();
        let whole =
            range.start.is_none_or(|s| s <= m.min_ts) && range.end.is_none_or(|e| e > m.max_ts);
        if !lp.deleted.is_empty() || !whole {
            return Ok(None);
        }
        let Some(view) = r.value_summaries(&self.column)? else {
            return Ok(None);
        };
        let body = r
            .visit_column(&self.column)
            .ok_or_else(|| r.corrupt(format!("missing visit column {}", self.column)))?;
        let cv = r.cat(body, m.visits)?;
        let mut entries: Vec<usize> = Vec::new();
        if self.fold_case {
            for i in 0..cv.dict.len() {
                let s = cv
                    .dict
                    .get(i)
                    .ok_or_else(|| r.corrupt("dictionary entry"))?;
                let folded = s.to_lowercase();
                if self.values.contains(&folded) {
                    entries.push(i);
                }
            }
        } else {
            entries.extend(self.values.iter().filter_map(|v| cv.dict.find(v)));
            entries.sort_unstable();
            entries.dedup();
        }
        use crate::schema::internal::measure;
        let (mut s, mut micros) = (Summary::default(), 0i128);
        for &e in &entries {
            let Some(rec) = u32::try_from(e).ok().and_then(|e| view.get(e)) else {
                return Ok(None);
            };
            let count = |k: usize| rec.measure(k).max(0) as u64;
            s.visits += u64::from(rec.visits);
            s.visitors += u64::from(rec.visitors);
            s.actions += count(measure::ACTIONS);
            s.conversions += count(measure::CONVERSIONS);
            s.bounces += count(measure::BOUNCES);
            s.sum_visit_duration += count(measure::DURATION);
            micros += i128::from(rec.measure(measure::REVENUE_MICROS));
        }
        if entries.len() > 1 {
            // A visitor may hold several of the values: count them over the union.
            let eval = PartEval::new(lp);
            let mut visits = RoaringBitmap::new();
            for &e in &entries {
                visits |= eval.bitmap(&cv, e)?;
            }
            s.visitors = summary::visitors(&eval, &visits)?;
        }
        Ok(Some((s, micros)))
    }
}

/// Runs `f` on every live part (in parallel, on the worker pool), in part order.
fn for_each_part<R: Send + 'static>(
    parts: &[LivePart],
    stop: &Stop,
    f: impl Fn(&LivePart) -> Result<R> + Send + Sync + Clone + 'static,
) -> Result<Vec<R>> {
    let jobs = parts
        .iter()
        .map(|lp| {
            let (lp, f) = (lp.clone(), f.clone());
            Box::new(move || f(&lp)) as pool::Job<R>
        })
        .collect();
    pool::run_all(jobs, part::total_events(parts), stop)
}

/// Summary of `sel` in one part, with revenue in micros.
fn summarize_part(lp: &LivePart, sel: &RoaringBitmap) -> Result<(Summary, i128)> {
    let eval = PartEval::new(lp);
    let live = eval.live()?;
    let (visitors, sums) = if sel.len() == live.visits.len() && *sel == live.visits {
        // Every live visit (the empty segment): added up once per deletion set.
        let visitors = u64::from(lp.entry.visitors).saturating_sub(lp.deleted.len());
        let sums = match live.sums.get() {
            Some(s) => *s,
            None => {
                let (_, s) = summary::summarize(&eval, sel, false)?;
                *live.sums.get_or_init(|| s)
            }
        };
        (visitors, sums)
    } else {
        summary::summarize(&eval, sel, true)?
    };
    Ok(summary_of(sel, visitors, sums))
}

/// The summary of `sel` from its metrics (revenue apart, in micros).
fn summary_of(sel: &RoaringBitmap, visitors: u64, sums: cache::Sums) -> (Summary, i128) {
    let count = |x: i128| x.clamp(0, u64::MAX as i128) as u64;
    let s = Summary {
        visits: sel.len(),
        visitors,
        actions: count(sums.actions),
        conversions: count(sums.conversions),
        revenue: 0.0,
        bounces: sums.bounces,
        sum_visit_duration: count(sums.duration),
    };
    (s, sums.revenue_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many times `f` checks its stop, and whether it stopped.
    fn checks<T>(f: impl FnOnce(&Stop) -> Result<T>) -> (usize, bool) {
        let budget = 1_000_000;
        let left = Arc::new(std::sync::atomic::AtomicUsize::new(budget));
        let stop = Stop {
            checks_left: Some(left.clone()),
            ..Stop::NEVER
        };
        let stopped = f(&stop).is_err();
        (
            budget - left.load(std::sync::atomic::Ordering::Relaxed),
            stopped,
        )
    }

    #[test]
    fn long_loops_check_for_a_stop_inside_a_part() {
        const VISITORS: usize = 20_000;
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::create(&dir.path().join("db"), Default::default()).unwrap();
        let mut tx = db.begin_write().unwrap();
        for i in 0..VISITORS {
            let row = format!(r#"{{"ts":{i},"visitorId":"v{i}","pageUrl":"/{}"}}"#, i % 7);
            tx.append_json(&row).unwrap();
        }
        tx.commit().unwrap();
        let snap = db.snapshot();
        let parts = snap.parts();
        assert_eq!(parts.len(), 1);
        let all = snap
            .select(
                &snap.compile("", lang::Dialect::Default).unwrap(),
                &TimeRange::ALL,
            )
            .unwrap();
        let options = ReportOptions::default();
        let within = VISITORS / crate::cancel::CHECK_EVERY;
        // Outside the loops a report of one part checks 5 times: the batch, its job, the
        // merge, and the summary's batch and job.
        for by in ["visitorId", "pageUrl"] {
            let (n, stopped) =
                checks(|stop| report::report(parts, snap.catalog(), by, &all, &options, stop));
            assert!(!stopped, "{by}");
            assert!(n >= 5 + within, "{by}: {n} checks");
        }
        let (n, stopped) = checks(|stop| visits::visits(parts, stop));
        assert!(!stopped);
        assert!(n >= 2 + within, "visits: {n} checks");
        let opts = CohortOptions::default();
        let (n, stopped) =
            checks(|stop| cohort::cohorts(parts, &all, &opts, Some(VISITORS as i64), stop));
        assert!(!stopped);
        assert!(n >= 3 + within, "cohorts: {n} checks");
        // Stopped at its first check inside the part, a report fails.
        let left = Arc::new(std::sync::atomic::AtomicUsize::new(2));
        let stop = Stop {
            checks_left: Some(left),
            ..Stop::NEVER
        };
        let r = report::report(parts, snap.catalog(), "visitorId", &all, &options, &stop);
        assert!(matches!(r, Err(crate::Error::Cancelled)), "{r:?}");
    }

    #[test]
    fn repeated_conditions_and_groups_are_kept_once() {
        let text = "city==a,city==b,city==a;city==b,city==a;pageUrl=@x;city==a;pageUrl=@x";
        let seg = lang::parse(text, lang::Dialect::Default).unwrap();
        let c = compile::compile(&seg, &Catalog::new(&[]), text).unwrap();
        let (groups, slots) = distinct_groups(&c.groups);
        let texts: Vec<Vec<&str>> = groups
            .iter()
            .map(|g| g.iter().map(|c| c.text.as_str()).collect())
            .collect();
        assert_eq!(
            texts,
            [
                vec!["city==a", "city==b"],
                vec!["pageUrl=@x"],
                vec!["city==a"]
            ]
        );
        assert_eq!(
            slots,
            [
                vec![(0, 0), (0, 1), (0, 0)],
                vec![(0, 1), (0, 0)],
                vec![(1, 0)],
                vec![(2, 0)],
                vec![(1, 0)],
            ]
        );
    }
}
