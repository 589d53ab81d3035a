//! Query execution: compiling segments against a database's schema and evaluating them
//! with bitmaps, part by part, in parallel.
//!
//! - [`catalog`]: the dimensions a segment can name;
//! - [`compile`](mod@compile): names resolved, values typed ([`CompiledSegment`]);
//! - `engine`: per-part bitmap evaluation (`docs/segment-language.md` semantics);
//! - [`bsi`]: bit-sliced indexes for numeric ranges;
//! - [`scan`]: the naive row-by-row oracle the tests hold the engine to.
//!
//! Results are bitmaps of visit rows per part ([`Selection`]), so memory does not grow
//! with the number of matching rows; every visitor lives in exactly one part, so
//! per-part distinct visitor counts add up.

pub mod bsi;
pub(crate) mod cache;
pub mod catalog;
pub mod cohort;
pub mod compile;
mod direct;
mod engine;
pub mod funnel;
pub(crate) mod part;
mod pool;
pub mod report;
mod stats;
mod values;
pub mod visits;

use std::sync::Arc;

use roaring::RoaringBitmap;
use serde::Serialize;

pub use catalog::{Catalog, DimType, Dimension};
pub use cohort::{Cohort, CohortOptions, Cohorts, MAX_COHORT_CELLS, Period};
pub use compile::{CompiledSegment, Cond, Operand};
pub use funnel::{
    DEFAULT_VISITOR_WINDOW_MS, Funnel, FunnelOptions, FunnelScope, FunnelStep, MAX_FUNNEL_STEPS,
};
pub use report::{Report, ReportOptions, ReportRow, ReportValue};
pub use stats::Stats;
pub(crate) use stats::stats;
pub use values::DimensionValues;
pub(crate) use values::dimension_values;
pub use visits::{DimValue, EventRecord, VisitRecord, VisitorProfile, VisitorTotals};

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
        "bit-sliced index range".to_string()
    } else if matches!(c.operand, Operand::Empty) {
        "null rows + empty dictionary entry".to_string()
    } else if c.op.positive() == lang::Op::Eq && !c.fold_case && !c.dim.url {
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
) -> Result<Selection> {
    let (sel, _) = select_with_stats(parts, segment, range, true)?;
    Ok(sel)
}

/// The plan of `segment` over `parts`, with the cardinality of every step.
pub(crate) fn explain(
    parts: &[LivePart],
    segment: &CompiledSegment,
    range: &TimeRange,
) -> Result<Explain> {
    let (sel, stats) = select_with_stats(parts, segment, range, false)?;
    let r = *range;
    let candidates = for_each_part(parts, move |lp| {
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
) -> Result<(Selection, Vec<Vec<CondStats>>)> {
    let (distinct, slots) = distinct_groups(&segment.groups);
    let blank: Vec<Vec<CondStats>> = distinct
        .iter()
        .map(|g| vec![CondStats::default(); g.len()])
        .collect();
    let groups = Arc::new(distinct);
    let (range, part_blank) = (*range, blank.clone());
    let results = for_each_part(parts, move |lp| {
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

/// How a summary reads a part's metrics (tests compare the ways).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryPath {
    /// The cheapest for this part and selection (what queries use).
    Auto,
    /// Always straight from the columns (`direct.rs`).
    Direct,
    /// Always through the summary index (built if need be).
    Index,
}

/// The summary of the selected visits (parts in parallel).
pub(crate) fn summarize(parts: &[LivePart], selection: &Selection) -> Result<Summary> {
    summarize_by(parts, selection, SummaryPath::Auto)
}

/// [`summarize`], reading metrics the way `path` says.
pub(crate) fn summarize_by(
    parts: &[LivePart],
    selection: &Selection,
    path: SummaryPath,
) -> Result<Summary> {
    let jobs = parts
        .iter()
        .zip(selection.parts.iter())
        .map(|(lp, sel)| {
            let (lp, sel) = (lp.clone(), sel.clone());
            Box::new(move || summarize_part(&lp, &sel, path)) as pool::Job<(Summary, i128)>
        })
        .collect();
    let per_part = pool::run_all(jobs, part::total_events(parts))?;
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
    Ok(s)
}

/// Runs `f` on every live part (in parallel, on the worker pool), in part order.
fn for_each_part<R: Send + 'static>(
    parts: &[LivePart],
    f: impl Fn(&LivePart) -> Result<R> + Send + Sync + Clone + 'static,
) -> Result<Vec<R>> {
    let jobs = parts
        .iter()
        .map(|lp| {
            let (lp, f) = (lp.clone(), f.clone());
            Box::new(move || f(&lp)) as pool::Job<R>
        })
        .collect();
    pool::run_all(jobs, part::total_events(parts))
}

/// Summaries (see [`direct`]) a part serves from its columns before its summary index
/// is built: a process that asks once or twice never pays for the index, one that
/// keeps asking gets it.
const DIRECT_SUMMARIES: u32 = 2;

/// Summary of `sel` in one part, with revenue in micros.
fn summarize_part(
    lp: &LivePart,
    sel: &RoaringBitmap,
    path: SummaryPath,
) -> Result<(Summary, i128)> {
    let eval = PartEval::new(lp);
    let live = eval.live()?;
    if path == SummaryPath::Direct {
        let (visitors, sums) = direct::summarize(lp, sel, true)?;
        return Ok(summary_of(sel, visitors, sums));
    }
    let every_live =
        path == SummaryPath::Auto && sel.len() == live.visits.len() && *sel == live.visits;
    let index = match lp.cache.summary.get() {
        Some(ix) => Some(ix.clone()),
        None if path == SummaryPath::Index => Some(eval.summary_index()?),
        None if lp
            .cache
            .direct_summaries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            < DIRECT_SUMMARIES =>
        {
            None
        }
        None => Some(eval.summary_index()?),
    };
    let (visitors, sums) = if every_live {
        // Every live visit (the empty segment): added up once per deletion set.
        let visitors = u64::from(lp.entry.visitors).saturating_sub(lp.deleted.len());
        let sums = match (live.sums.get(), &index) {
            (Some(s), _) => *s,
            (None, Some(ix)) => *live.sums.get_or_init(|| {
                selected_sums(ix, &live.visits, u64::from(lp.reader.meta().visits))
            }),
            (None, None) => {
                let (_, s) = direct::summarize(lp, sel, false)?;
                *live.sums.get_or_init(|| s)
            }
        };
        (visitors, sums)
    } else if let Some(ix) = &index {
        // (Also checks that `sel` lies within the visits.)
        let visitors = eval.distinct_visitors(sel, &ix.visitor)?;
        (visitors, selected_sums(ix, sel, ix.visitor.len() as u64))
    } else {
        direct::summarize(lp, sel, true)?
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

/// Below this many selected visits per 65,536 (a roaring container), adding up the
/// visits one by one beats the bit slices' intersection counts (measured: a few dozen
/// slices, each counted against the selection, cost about as much as walking 6,000
/// visits; `benches/query.rs`).
const WALK_VISITS_PER_CONTAINER: u64 = 6_000;

/// The metrics of the visits `sel` (within `0..visits`), by the cheapest way: visit by
/// visit for a few visits (or all but a few), else by bit-slice intersection counts
/// with the selection or its complement, whichever is smaller.
fn selected_sums(ix: &cache::SummaryIndex, sel: &RoaringBitmap, visits: u64) -> cache::Sums {
    let rest_len = visits.saturating_sub(sel.len());
    let walk = visits.div_ceil(1 << 16) * WALK_VISITS_PER_CONTAINER;
    if sel.len() <= rest_len {
        if sel.len() <= walk {
            return cache::Sums::of(&ix.per_visit, sel.iter());
        }
        let mut flat = sel.clone();
        flat.remove_run_compression();
        return sliced_sums(ix, &flat);
    }
    if rest_len == 0 {
        return ix.total;
    }
    let mut rest = engine::all_rows(visits as u32);
    rest -= sel;
    if rest_len <= walk {
        return ix.total.minus(&cache::Sums::of(&ix.per_visit, rest.iter()));
    }
    rest.remove_run_compression();
    ix.total.minus(&sliced_sums(ix, &rest))
}

/// The metrics of the visits `set` (without run containers) by bit-slice intersection
/// counts.
fn sliced_sums(ix: &cache::SummaryIndex, set: &RoaringBitmap) -> cache::Sums {
    cache::Sums {
        actions: ix.actions.sum(set),
        conversions: ix.conversions.sum(set),
        duration: ix.duration.sum(set),
        revenue_micros: ix.revenue_micros.sum(set),
        bounces: ix.bounces.intersection_len(set),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
