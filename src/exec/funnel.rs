//! Funnels (`docs/analytics.md`, `sightline funnel`; exact rules in `docs/analytics.md`).

use std::sync::Arc;

use roaring::RoaringBitmap;
use serde::Serialize;

use super::engine::PartEval;
use super::part::LivePart;
use super::report::check_selection;
use super::{CompiledSegment, Cond, Selection, pool};
use crate::cancel::Stop;
use crate::error::{Error, Result};
use crate::schema::internal;
use crate::storage::part_reader::NumView;

/// Most steps a funnel may have.
pub const MAX_FUNNEL_STEPS: usize = 32;

/// The window of visitor-scope funnels when none is given: 7 days, in ms.
pub const DEFAULT_VISITOR_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// What a funnel counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunnelScope {
    /// Visits: every chain lies inside one visit.
    #[default]
    Visit,
    /// Visitors: chains run across the visitor's (selected) visits, within the window.
    Visitor,
}

impl FunnelScope {
    /// `visit` or `visitor`.
    pub fn name(self) -> &'static str {
        match self {
            FunnelScope::Visit => "visit",
            FunnelScope::Visitor => "visitor",
        }
    }
}

/// Options of [`Snapshot::funnel`](crate::Snapshot::funnel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunnelOptions {
    /// Visits or visitors.
    pub scope: FunnelScope,
    /// Longest time from a chain's first row to its last, in ms, inclusive. `None`: the
    /// scope's default — no limit for visits, [`DEFAULT_VISITOR_WINDOW_MS`] (7 days) for
    /// visitors (for no limit in visitor scope, give `Some(i64::MAX)`).
    pub window_ms: Option<i64>,
}

impl FunnelOptions {
    /// The window that applies: the one given, else the scope's default.
    pub fn window(&self) -> Option<i64> {
        match (self.window_ms, self.scope) {
            (Some(w), _) => Some(w),
            (None, FunnelScope::Visit) => None,
            (None, FunnelScope::Visitor) => Some(DEFAULT_VISITOR_WINDOW_MS),
        }
    }

    /// Visit scope, no window.
    pub fn visit() -> FunnelOptions {
        FunnelOptions::default()
    }

    /// Visitor scope with a window in ms.
    pub fn visitor(window_ms: i64) -> FunnelOptions {
        FunnelOptions {
            scope: FunnelScope::Visitor,
            window_ms: Some(window_ms),
        }
    }
}

/// One step of a [`Funnel`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunnelStep {
    /// 1-based step number.
    pub step: usize,
    /// The step's segment, canonical text.
    pub definition: String,
    /// Visits (or visitors) reaching the step.
    pub count: u64,
    /// `count` / count of step 1 (0 when step 1 has none).
    pub rate: f64,
    /// Count of the previous step − `count` (0 for step 1).
    pub drop_off: u64,
    /// `drop_off` / count of the previous step (0 for step 1 or when it has none).
    pub drop_off_rate: f64,
    /// Median over the units reaching the step of their shortest time from step 1 to
    /// this step, in ms (`None` when no unit reaches it).
    pub median_time_ms: Option<f64>,
}

/// A funnel's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Funnel {
    /// Visits or visitors.
    pub scope: FunnelScope,
    /// The window applied, in ms (`None`: none).
    pub window_ms: Option<i64>,
    /// Units considered: the selection's visits (visit scope) or its distinct visitors
    /// (visitor scope).
    pub units: u64,
    /// The steps, in order.
    pub steps: Vec<FunnelStep>,
}

/// The funnel of `steps` over the visits of `selection` in `parts`.
pub(crate) fn funnel(
    parts: &[LivePart],
    steps: &[CompiledSegment],
    selection: &Selection,
    options: &FunnelOptions,
    stop: &Stop,
) -> Result<Funnel> {
    if steps.is_empty() {
        return Err(Error::argument("steps", "a funnel needs at least one step"));
    }
    if steps.len() > MAX_FUNNEL_STEPS {
        return Err(Error::argument(
            "steps",
            format!(
                "a funnel has at most {MAX_FUNNEL_STEPS} steps; this one has {}",
                steps.len()
            ),
        ));
    }
    if options.window_ms.is_some_and(|w| w < 0) {
        return Err(Error::argument(
            "window",
            "the funnel window must not be negative",
        ));
    }
    check_selection(parts, selection)?;
    let groups: Arc<Vec<Vec<Vec<Cond>>>> =
        Arc::new(steps.iter().map(|s| s.groups.clone()).collect());
    let jobs = parts
        .iter()
        .zip(&selection.parts)
        .map(|(lp, sel)| {
            let (lp, sel, groups, options) = (lp.clone(), sel.clone(), groups.clone(), *options);
            let stop = stop.clone();
            Box::new(move || funnel_part(&lp, &sel, &groups, &options, &stop))
                as pool::Job<PartFunnel>
        })
        .collect();
    let mut total = PartFunnel::new(steps.len());
    for p in pool::run_all(jobs, super::part::total_events(parts), stop)? {
        total.units += p.units;
        for (k, (c, d)) in p.counts.iter().zip(p.durations).enumerate() {
            total.counts[k] += c;
            total.durations[k].extend(d);
        }
    }
    let first = total.counts[0];
    let mut out = Vec::with_capacity(steps.len());
    for (k, step) in steps.iter().enumerate() {
        let count = total.counts[k];
        let prev = if k == 0 { count } else { total.counts[k - 1] };
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let drop_off = prev.saturating_sub(count);
        let median_time_ms = match (count, k) {
            (0, _) => None,
            (_, 0) => Some(0.0),
            _ => median(&mut total.durations[k]),
        };
        out.push(FunnelStep {
            step: k + 1,
            definition: step.segment.to_string(),
            count,
            rate: ratio(count, first),
            drop_off,
            drop_off_rate: ratio(drop_off, prev),
            median_time_ms,
        });
    }
    Ok(Funnel {
        scope: options.scope,
        window_ms: options.window(),
        units: total.units,
        steps: out,
    })
}

/// The median of `values` (the mean of the two middle ones for an even count).
fn median(values: &mut [i64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (_, &mut hi, _) = values.select_nth_unstable(n / 2);
    if n % 2 == 1 {
        return Some(hi as f64);
    }
    let lo = values[..n / 2].iter().copied().max().unwrap_or(hi);
    Some((lo as f64 + hi as f64) / 2.0)
}

/// One part's share of a funnel: units considered, units reaching each step, and each
/// reaching unit's shortest time to the step (kept from step 2 on; step 1 is always 0).
struct PartFunnel {
    units: u64,
    counts: Vec<u64>,
    durations: Vec<Vec<i64>>,
}

impl PartFunnel {
    fn new(steps: usize) -> PartFunnel {
        PartFunnel {
            units: 0,
            counts: vec![0; steps],
            durations: vec![Vec::new(); steps],
        }
    }

    /// Counts the unit `walker` has just walked at each step from 2 on it reaches, with
    /// its shortest time to that step.
    #[inline]
    fn add_walk(&mut self, walker: &Walker) {
        for j in 1..self.counts.len() {
            let d = walker.shortest[j];
            if d != NONE {
                self.counts[j] += 1;
                self.durations[j].push(d);
            }
        }
    }
}

/// The funnel on one part.
fn funnel_part(
    lp: &LivePart,
    sel: &RoaringBitmap,
    steps: &[Vec<Vec<Cond>>],
    options: &FunnelOptions,
    stop: &Stop,
) -> Result<PartFunnel> {
    let k = steps.len();
    let mut out = PartFunnel::new(k);
    if sel.is_empty() {
        return Ok(out);
    }
    let eval = PartEval::new(lp);
    let visitor_scope = options.scope == FunnelScope::Visitor;
    out.units = if visitor_scope {
        super::summary::distinct_visitors(&eval.visit_visitors()?, sel)
    } else {
        sel.len()
    };
    let rows: Vec<RoaringBitmap> = steps
        .iter()
        .map(|g| eval.step_rows(g, sel))
        .collect::<Result<Vec<_>>>()?;
    // Units that can reach step 1, and the ones that can reach step 2: only those are
    // walked row by row (a unit reaches step k only if it has rows for steps 1…k).
    let units_of = |rows: &RoaringBitmap| -> Result<RoaringBitmap> {
        if visitor_scope {
            eval.project_to_visitors(rows)
        } else {
            eval.project(rows)
        }
    };
    let first = units_of(&rows[0])?;
    out.counts[0] = first.len();
    if k == 1 || first.is_empty() {
        return Ok(out);
    }
    let walk = first & units_of(&rows[1])?;
    if walk.is_empty() {
        return Ok(out);
    }
    stop.check()?;
    walk_units(&eval, sel, rows, &walk, options, &mut out, stop)?;
    Ok(out)
}

/// Walks the units of `walk` (units of `sel` with rows for steps 1 and 2) row by row,
/// given each step's rows, and adds to `out` the units reaching steps 2… and their
/// shortest times.
fn walk_units(
    eval: &PartEval<'_>,
    sel: &RoaringBitmap,
    rows: Vec<RoaringBitmap>,
    walk: &RoaringBitmap,
    options: &FunnelOptions,
    out: &mut PartFunnel,
    stop: &Stop,
) -> Result<()> {
    let k = rows.len();
    let visitor_scope = options.scope == FunnelScope::Visitor;
    // Only the rows of the units walked matter from here on.
    let walk_visits = if visitor_scope {
        eval.visits_of_visitors(walk)? & sel
    } else {
        walk.clone()
    };
    let walk_rows = eval.broadcast(&walk_visits)?;
    let rows: Vec<RoaringBitmap> = rows.into_iter().map(|r| r & &walk_rows).collect();
    // Which steps each row matches.
    let mask = step_masks(&rows, eval.ne);
    let starts = eval.visit_starts()?;
    let visitors = eval.visitor_starts()?;
    let (start, offset) = row_times(eval)?;
    let dense_offsets = offset.dense_ints();
    let mut walker = Walker::new(k, options.window());
    let mut chain: Vec<(i64, u32)> = Vec::new();
    // The rows matching some step in a selected visit of a walked unit, in order
    // alongside the units (rows are ordered by visitor, then visit).
    let matching = roaring::MultiOps::union(rows.iter());
    let mut it = matching.iter();
    let mut cur = it.next();
    for (i, unit) in walk.iter().enumerate() {
        stop.every(i)?;
        chain.clear();
        let (first_visit, lo, hi) = unit_rows(eval, starts, visitors, unit, visitor_scope)?;
        if cur.is_some_and(|row| row < lo) {
            it.advance_to(lo);
            cur = it.next();
        }
        let mut v = first_visit as usize;
        let mut base = start.int(v).unwrap_or(0);
        while let Some(row) = cur.filter(|&row| row < hi) {
            // The visit owning `row` (a unit's visits are few: step forward).
            if starts.get(v + 1).is_some_and(|&s| s <= row) {
                while starts.get(v + 1).is_some_and(|&s| s <= row) {
                    v += 1;
                }
                base = start.int(v).unwrap_or(0);
            }
            let m = mask.get(row as usize).copied().unwrap_or(0);
            let off = match &dense_offsets {
                Some(p) => p.get(row as usize),
                None => offset.int(row as usize).unwrap_or(0),
            };
            let ts = base.saturating_add(off);
            chain.push((ts, m));
            cur = it.next();
        }
        // Rows are stored in time order within a visit; visits given by `visitId` may
        // overlap in time, so a visitor's rows can need sorting.
        if !chain.is_sorted_by_key(|c| c.0) {
            chain.sort_by_key(|c| c.0);
        }
        walker.run(&chain);
        out.add_walk(&walker);
    }
    Ok(())
}

/// Which steps each of the part's `events` rows matches, as a bit mask (bit `i`: step
/// `i + 1`), from each step's rows.
fn step_masks(rows: &[RoaringBitmap], events: u32) -> Vec<u32> {
    let mut mask = vec![0u32; events as usize];
    for (i, bm) in rows.iter().enumerate() {
        for row in bm {
            if let Some(m) = mask.get_mut(row as usize) {
                *m |= 1 << i;
            }
        }
    }
    mask
}

/// The columns giving an event row's time: each visit's start, and each row's offset
/// from the start of its visit.
fn row_times<'a>(eval: &PartEval<'a>) -> Result<(NumView<'a>, NumView<'a>)> {
    let r = eval.r;
    let need = |name: &str| {
        r.visit_column(name)
            .or_else(|| r.event_column(name))
            .ok_or_else(|| r.corrupt(format!("missing column {name}")))
    };
    let start = r.num(need(internal::VISIT_START)?, eval.nv)?;
    let offset = r.num(need(internal::TS_OFFSET)?, eval.ne)?;
    Ok((start, offset))
}

/// The first visit of `unit` (a visit, or a visitor in visitor scope) and the range
/// `lo..hi` of its event rows, from the offsets of the visits' event rows (`starts`)
/// and of the visitors' visits (`visitors`).
#[inline]
fn unit_rows(
    eval: &PartEval<'_>,
    starts: &[u32],
    visitors: &[u32],
    unit: u32,
    visitor_scope: bool,
) -> Result<(u32, u32, u32)> {
    let r = eval.r;
    let (first_visit, end_visit) = if visitor_scope {
        match (visitors.get(unit as usize), visitors.get(unit as usize + 1)) {
            (Some(&a), Some(&b)) => (a, b),
            _ => return Err(r.corrupt("visitor beyond the visitor table")),
        }
    } else {
        (unit, unit + 1)
    };
    let (Some(&lo), Some(&hi)) = (
        starts.get(first_visit as usize),
        starts.get(end_visit as usize),
    ) else {
        return Err(r.corrupt("visit beyond the visit table"));
    };
    Ok((first_visit, lo, hi))
}

/// "No chain": a missing start or duration.
const NONE: i64 = i64::MIN;

/// The walk over one unit's matching rows, in time order.
///
/// `latest[j]` is the latest start (ts of its first row) of a chain that has matched
/// steps 1…j+1 with the rows seen so far and stays within the window; the latest start
/// is the best one to extend, both for the window and for the time to later steps.
/// `shortest[j]` is the smallest ts(e_j+1) − ts(e1) over those chains.
///
/// A row alone at its timestamp can extend a chain by one step (steps are tried from
/// the last down, so it never serves two steps of one chain). Rows sharing a
/// timestamp may be used in any order: from each state the group's rows extend a chain
/// by as many consecutive steps as a bipartite matching of steps to distinct rows
/// allows.
struct Walker {
    steps: usize,
    window: i64,
    latest: [i64; MAX_FUNNEL_STEPS],
    shortest: [i64; MAX_FUNNEL_STEPS],
    /// Matching scratch space for groups of rows sharing a timestamp.
    owner: Vec<u8>,
    seen: Vec<bool>,
}

impl Walker {
    fn new(steps: usize, window: Option<i64>) -> Walker {
        Walker {
            steps: steps.min(MAX_FUNNEL_STEPS),
            window: window.unwrap_or(i64::MAX),
            latest: [NONE; MAX_FUNNEL_STEPS],
            shortest: [NONE; MAX_FUNNEL_STEPS],
            owner: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// Walks `rows` (`(ts, steps matched as a bit mask)`, sorted by ts).
    fn run(&mut self, rows: &[(i64, u32)]) {
        self.latest = [NONE; MAX_FUNNEL_STEPS];
        self.shortest = [NONE; MAX_FUNNEL_STEPS];
        let mut i = 0;
        while let Some(&(t, m)) = rows.get(i) {
            let n = rows[i..].iter().take_while(|r| r.0 == t).count();
            if n == 1 {
                self.single(t, m);
            } else {
                self.group(t, &rows[i..i + n]);
            }
            i += n;
        }
    }

    /// Records a chain starting at `start` that reaches step `j` (0-based) at `t`.
    fn reach(&mut self, j: usize, start: i64, t: i64) {
        let d = t.saturating_sub(start);
        if start > self.latest[j] {
            self.latest[j] = start;
        }
        if self.shortest[j] == NONE || d < self.shortest[j] {
            self.shortest[j] = d;
        }
    }

    /// The start a chain gets when step `j` is matched at `t`, given the states before
    /// (`None` if no chain can take that step there).
    fn start_for(&self, before: &[i64; MAX_FUNNEL_STEPS], j: usize, t: i64) -> Option<i64> {
        let start = if j == 0 { t } else { before[j - 1] };
        (start != NONE && t.saturating_sub(start) <= self.window).then_some(start)
    }

    fn single(&mut self, t: i64, mask: u32) {
        let mut bits = mask & step_mask(self.steps);
        while bits != 0 {
            let j = 31 - bits.leading_zeros() as usize;
            bits &= !(1 << j);
            // Steps go from the last down: `latest[j - 1]` is still the state before
            // this row.
            if let Some(start) = self.start_for(&self.latest, j, t) {
                self.reach(j, start, t);
            }
        }
    }

    fn group(&mut self, t: i64, rows: &[(i64, u32)]) {
        // A matching of at most `steps` steps only ever needs, for each step, the first
        // `steps` rows matching it (a step matched elsewhere can move to one of those
        // that is free). Keeping just those bounds the work on huge tie groups.
        let reduced: Vec<(i64, u32)>;
        let rows = if rows.len() > self.steps * self.steps {
            let mut seen = [0usize; MAX_FUNNEL_STEPS];
            let steps = self.steps;
            reduced = rows
                .iter()
                .filter(|r| {
                    let mut keep = false;
                    for (j, n) in seen.iter_mut().enumerate().take(steps) {
                        if r.1 & (1 << j) != 0 {
                            keep |= *n < steps;
                            *n += 1;
                        }
                    }
                    keep
                })
                .copied()
                .collect();
            &reduced[..]
        } else {
            rows
        };
        let before = self.latest;
        let any = rows.iter().fold(0, |a, r| a | r.1) & step_mask(self.steps);
        for j0 in 0..self.steps {
            if any & (1 << j0) == 0 {
                continue;
            }
            let Some(start) = self.start_for(&before, j0, t) else {
                continue;
            };
            // Steps j0, j0+1, … matched to distinct rows of the group, as far as they go.
            self.owner.clear();
            self.owner.resize(rows.len(), u8::MAX);
            let mut reach = j0;
            while reach < self.steps {
                self.seen.clear();
                self.seen.resize(rows.len(), false);
                if !augment(reach, rows, &mut self.owner, &mut self.seen) {
                    break;
                }
                reach += 1;
            }
            for j in j0..reach {
                self.reach(j, start, t);
            }
        }
    }
}

fn step_mask(steps: usize) -> u32 {
    if steps >= 32 {
        u32::MAX
    } else {
        (1u32 << steps) - 1
    }
}

/// Kuhn's augmenting path: tries to give step `step` a row of `rows` (reassigning
/// earlier steps to other rows if needed). `owner[r]` is the step row `r` serves.
fn augment(step: usize, rows: &[(i64, u32)], owner: &mut [u8], seen: &mut [bool]) -> bool {
    for r in 0..rows.len() {
        if rows[r].1 & (1 << step) == 0 || seen[r] {
            continue;
        }
        seen[r] = true;
        let current = owner[r];
        if current == u8::MAX || augment(current as usize, rows, owner, seen) {
            owner[r] = step as u8;
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(steps: usize, window: Option<i64>, rows: &[(i64, u32)]) -> Vec<Option<i64>> {
        let mut w = Walker::new(steps, window);
        w.run(rows);
        w.shortest[..steps]
            .iter()
            .map(|&d| (d != NONE).then_some(d))
            .collect()
    }

    #[test]
    fn the_shortest_chain_is_not_the_greedy_one() {
        // A@0, A@10, B@20: the earliest chain takes 20 ms, the shortest 10.
        assert_eq!(
            walk(2, None, &[(0, 1), (10, 1), (20, 2)]),
            [Some(0), Some(10)]
        );
    }

    #[test]
    fn the_window_is_inclusive_and_measured_from_the_first_step() {
        let rows = [(0, 1), (50, 2), (100, 1), (120, 4)];
        assert_eq!(walk(3, Some(60), &rows), [Some(0), Some(50), None]);
        let rows = [(0, 1), (50, 2), (100, 1), (110, 2), (120, 4)];
        assert_eq!(walk(3, Some(20), &rows), [Some(0), Some(10), Some(20)]);
        assert_eq!(walk(3, Some(19), &rows), [Some(0), Some(10), None]);
    }

    #[test]
    fn equal_timestamps_in_either_order_but_one_row_per_step() {
        // Both rows at 5: the B row is stored first, A second.
        assert_eq!(walk(2, None, &[(5, 2), (5, 1)]), [Some(0), Some(0)]);
        // One row matching both steps cannot be both.
        assert_eq!(walk(2, None, &[(5, 3)]), [Some(0), None]);
        // {A,B} and {A} at once: A→second row, B→first row.
        assert_eq!(walk(2, None, &[(5, 3), (5, 1)]), [Some(0), Some(0)]);
        // Repeated identical steps A, A (every A row matches both) need two A rows.
        assert_eq!(walk(2, None, &[(1, 3)]), [Some(0), None]);
        assert_eq!(walk(2, None, &[(1, 3), (2, 3)]), [Some(0), Some(1)]);
        assert_eq!(walk(2, None, &[(1, 3), (2, 2)]), [Some(0), Some(1)]);
        // A chain reaching step 1 earlier continues through a tie group.
        assert_eq!(
            walk(3, None, &[(0, 1), (9, 4), (9, 2)]),
            [Some(0), Some(9), Some(9)]
        );
    }

    #[test]
    fn thirty_two_steps() {
        let rows: Vec<(i64, u32)> = (0..32).map(|i| (i as i64, 1u32 << i)).collect();
        let got = walk(32, None, &rows);
        assert_eq!(got[31], Some(31));
        let tie: Vec<(i64, u32)> = (0..32).map(|i| (7, 1u32 << (31 - i))).collect();
        assert_eq!(walk(32, None, &tie)[31], Some(0));
    }

    /// Every chain, by brute force: the shortest time to each step.
    fn brute(steps: usize, window: Option<i64>, rows: &[(i64, u32)]) -> Vec<Option<i64>> {
        fn dfs(
            rows: &[(i64, u32)],
            used: &mut Vec<bool>,
            chain: &mut Vec<usize>,
            steps: usize,
            window: Option<i64>,
            best: &mut Vec<Option<i64>>,
        ) {
            let j = chain.len();
            if j == steps {
                return;
            }
            for r in 0..rows.len() {
                if used[r] || rows[r].1 & (1 << j) == 0 {
                    continue;
                }
                if chain.last().is_some_and(|&last| rows[r].0 < rows[last].0) {
                    continue;
                }
                let d = chain.first().map_or(0, |&f| rows[r].0 - rows[f].0);
                if window.is_some_and(|w| d > w) {
                    continue;
                }
                best[j] = Some(best[j].map_or(d, |b: i64| b.min(d)));
                used[r] = true;
                chain.push(r);
                dfs(rows, used, chain, steps, window, best);
                chain.pop();
                used[r] = false;
            }
        }
        let mut best = vec![None; steps];
        dfs(
            rows,
            &mut vec![false; rows.len()],
            &mut Vec::new(),
            steps,
            window,
            &mut best,
        );
        best
    }

    proptest::proptest! {
        #[test]
        fn the_walk_equals_every_chain(
            steps in 1usize..5,
            window in proptest::option::of(0i64..12),
            mut rows in proptest::collection::vec((0i64..10, 1u32..16), 0..9),
        ) {
            rows.sort_by_key(|r| r.0);
            let masked: Vec<(i64, u32)> =
                rows.iter().map(|&(t, m)| (t, m & step_mask(steps))).filter(|r| r.1 != 0).collect();
            proptest::prop_assert_eq!(walk(steps, window, &masked), brute(steps, window, &masked));
        }
    }

    proptest::proptest! {
        #[test]
        fn huge_tie_groups_are_reduced_without_changing_the_answer(
            steps in 1usize..4,
            masks in proptest::collection::vec(1u32..8, 10..40),
            before in proptest::collection::vec(1u32..8, 0..3),
        ) {
            // More tied rows than steps² at t = 5, after a few earlier rows.
            let mut rows: Vec<(i64, u32)> = before.iter().enumerate().map(|(i, &m)| (i as i64, m)).collect();
            rows.extend(masks.iter().map(|&m| (5, m)));
            let masked: Vec<(i64, u32)> =
                rows.iter().map(|&(t, m)| (t, m & step_mask(steps))).filter(|r| r.1 != 0).collect();
            proptest::prop_assert_eq!(walk(steps, None, &masked), brute(steps, None, &masked));
        }
    }

    #[test]
    fn a_tie_group_of_100_000_rows_reaches_all_32_steps() {
        let rows: Vec<(i64, u32)> = (0..100_000).map(|i| (7, 1u32 << (i % 32))).collect();
        assert_eq!(walk(32, None, &rows)[31], Some(0));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(5.0));
        assert_eq!(median(&mut [9, 1, 4, 2]), Some(3.0));
        assert_eq!(median(&mut [3, 1, 2]), Some(2.0));
    }
}
