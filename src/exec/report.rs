//! Reports: one row per value of a dimension among the selected visits (`docs/analytics.md`,
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
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use roaring::RoaringBitmap;
use serde::{Serialize, Serializer};

use super::catalog::{ACTION_TYPES, CONVERSION_TYPES, Catalog, Dimension, Source};
use super::engine::PartEval;
use super::part::LivePart;
use super::views::Metrics;
use super::{Selection, Summary, pool};
use crate::cancel::Stop;
use crate::error::{Error, Result};
use crate::event::EventType;
use crate::schema::{Level, internal};
use crate::storage::dict::DictView;
use crate::storage::format::ColumnBody;
use crate::storage::packed::PackedView;
use crate::storage::part_reader::{CatView, NumView, PartReader};
use crate::storage::rank::RankView;

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

/// A report (`docs/analytics.md`): rows sorted by visits descending, then value ascending.
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

/// Report groups: a value and its counters.
type Groups = Vec<(ReportValue, RowCounts)>;

/// Sorts `groups` into report rows (`docs/analytics.md` order); with a limit, the
/// rows after the first `limit` are returned apart, to be folded into the others row.
fn sort_and_split(mut groups: Groups, limit: Option<usize>) -> (Groups, Groups) {
    groups.sort_by(|(va, a), (vb, b)| b.visits.cmp(&a.visits).then_with(|| va.order(vb)));
    let keep = limit.unwrap_or(usize::MAX).min(groups.len());
    let folded = groups.split_off(keep);
    (groups, folded)
}

/// The report rows: `kept` as they are, then the others row of `folded` values
/// (`others`: its distinct counts) when anything was folded.
fn finish_rows(
    kept: Vec<(ReportValue, RowCounts)>,
    others: Option<(RowCounts, u64)>,
    level: Level,
) -> Vec<ReportRow> {
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
    let mut rows: Vec<ReportRow> = kept.iter().map(|(v, c)| row(v.clone(), c, None)).collect();
    if let Some((c, k)) = others {
        rows.push(row(ReportValue::Text("others".into()), &c, Some(k)));
    }
    rows
}

/// The report of `selection` by `by` (a name of `catalog`) over `parts`.
pub(crate) fn report(
    parts: &[LivePart],
    catalog: &Catalog,
    by: &str,
    selection: &Selection,
    options: &ReportOptions,
    stop: &Stop,
) -> Result<Report> {
    let dim = catalog
        .get(by)
        .cloned()
        .ok_or_else(|| unknown_dimension(by, catalog))?;
    check_selection(parts, selection)?;
    let jobs = parts
        .iter()
        .zip(&selection.parts)
        .map(|(lp, sel)| {
            let (lp, sel, dim, stop) = (lp.clone(), sel.clone(), dim.clone(), stop.clone());
            Box::new(move || report_part(&lp, &sel, &dim, &stop)) as pool::Job<_>
        })
        .collect();
    let mut merged: HashMap<ReportValue, RowCounts> = HashMap::new();
    for part in pool::run_all(jobs, super::part::total_events(parts), stop)? {
        for (value, counts) in part {
            merged.entry(value).or_default().add(&counts);
        }
        stop.check()?;
    }
    let (kept, folded) = sort_and_split(merged.into_iter().collect(), options.limit);
    let others = if folded.is_empty() {
        None
    } else {
        Some((
            others_counts(parts, selection, &dim, &folded, stop)?,
            folded.len() as u64,
        ))
    };
    Ok(Report {
        by: dim.name.clone(),
        level: dim.level,
        rows: finish_rows(kept, others, dim.level),
        total: super::summarize(parts, selection, stop)?,
    })
}

/// The others row's counts: the distinct selected visits having any of the `folded`
/// values (a visit of several is counted once, with its metrics once), their distinct
/// visitors, and the folded rows' hits summed. A second pass over the parts, made only
/// when a limit folds something.
fn others_counts(
    parts: &[LivePart],
    selection: &Selection,
    dim: &Dimension,
    folded: &[(ReportValue, RowCounts)],
    stop: &Stop,
) -> Result<RowCounts> {
    let values: Arc<hashbrown::HashSet<ReportValue, ahash::RandomState>> =
        Arc::new(folded.iter().map(|(v, _)| v.clone()).collect());
    let jobs = parts
        .iter()
        .zip(&selection.parts)
        .map(|(lp, sel)| {
            let (lp, sel, dim, values) = (lp.clone(), sel.clone(), dim.clone(), values.clone());
            let stop = stop.clone();
            Box::new(move || others_part(&lp, &sel, &dim, &values, &stop)) as pool::Job<_>
        })
        .collect();
    let mut sum = RowCounts::default();
    for part in pool::run_all(jobs, super::part::total_events(parts), stop)? {
        sum.add(&part);
    }
    sum.hits = folded.iter().map(|(_, c)| c.hits).sum();
    Ok(sum)
}

/// [`others_counts`] of one part (hits left at 0).
fn others_part(
    lp: &LivePart,
    sel: &RoaringBitmap,
    dim: &Dimension,
    values: &hashbrown::HashSet<ReportValue, ahash::RandomState>,
    stop: &Stop,
) -> Result<RowCounts> {
    let mut acc = Acc::default();
    if sel.is_empty() {
        return Ok(acc.counts);
    }
    let eval = PartEval::new(lp);
    let r = eval.r;
    if sel.max().is_some_and(|m| m >= eval.nv) {
        return Err(r.corrupt("selected visit beyond the visit table"));
    }
    let metrics = eval.metrics()?;
    let owners = eval.visit_visitors()?;
    let grouping = grouping(&eval, dim)?;
    let bad_group = || r.corrupt("report group id out of range");
    // Whether each of the part's groups is folded.
    let mut is_folded = Vec::with_capacity(grouping.len());
    for g in 0..grouping.len() {
        is_folded.push(values.contains(&grouping.value(g).ok_or_else(bad_group)?));
    }
    let folded_group = |g: usize| is_folded.get(g).copied().ok_or_else(bad_group);
    let wanted_rows = match dim.level {
        Level::Visit => None,
        level => Some((
            eval.visit_starts()?,
            row_kinds(&eval, level == Level::Conversion)?,
        )),
    };
    for (i, v) in sel.iter().enumerate() {
        stop.every(i)?;
        let has = match &wanted_rows {
            None => folded_group(grouping.ids.get(v))?,
            Some((starts, (types, wanted))) => {
                let (Some(&a), Some(&b)) = (starts.get(v as usize), starts.get(v as usize + 1))
                else {
                    return Err(r.corrupt("selected visit beyond the visit table"));
                };
                let mut has = false;
                for e in a..b {
                    let kind = types.ids.get(e as usize) as usize;
                    if wanted.get(kind).copied().unwrap_or(false)
                        && folded_group(grouping.ids.get(e))?
                    {
                        has = true;
                        break;
                    }
                }
                has
            }
        };
        if has {
            let vi = v as usize;
            acc.add(
                i128::from(metrics.actions.get(vi)),
                i128::from(metrics.conversions.get(vi)),
                i128::from(metrics.revenue.get(vi)) * i128::from(metrics.revenue_unit),
                owners.owner(v),
            );
        }
    }
    Ok(acc.counts)
}

/// The event type column of a part and, per type id, whether it is a row kind of the
/// conversion level (`conversions`) or of the action level (id 0: no type).
fn row_kinds<'a>(eval: &PartEval<'a>, conversions: bool) -> Result<(CatView<'a>, Vec<bool>)> {
    let r = eval.r;
    let types = r.cat(
        r.event_column(internal::TYPE)
            .ok_or_else(|| r.corrupt("missing event column type"))?,
        eval.ne,
    )?;
    let mut wanted = vec![false];
    for i in 0..types.dict.len() {
        let kind = types.dict.get(i).and_then(EventType::from_name);
        wanted.push(kind.is_some_and(|k| k.is_conversion() == conversions));
    }
    Ok((types, wanted))
}

/// "unknown dimension `x`; did you mean …?" (invalid input: exit status 2).
pub(crate) fn unknown_dimension(name: &str, catalog: &Catalog) -> Error {
    Error::UnknownDimension {
        name: name.to_string(),
        suggestions: catalog.suggest(name),
    }
}

/// Fails unless `selection` was made on `parts` (one bitmap per part, rows in range).
pub(crate) fn check_selection(parts: &[LivePart], selection: &Selection) -> Result<()> {
    let fits = parts.len() == selection.parts.len()
        && parts
            .iter()
            .zip(&selection.parts)
            .all(|(lp, sel)| sel.max().is_none_or(|m| m < lp.reader.meta().visits));
    if fits {
        Ok(())
    } else {
        Err(Error::argument(
            "selection",
            "the selection was not made on this snapshot",
        ))
    }
}

/// Report group ids of every row of a column, for columns whose groups are not
/// dictionary ids: numbers (one group per distinct value), goal ids, visit ids.
#[derive(Debug, Default)]
pub(crate) struct DenseGroups {
    /// Group of each row: 0 = no value, `g` = `values[g]`.
    ids: Vec<u32>,
    /// `values[0]` is `Null`.
    values: Vec<ReportValue>,
}

impl DenseGroups {
    /// Groups from `(row, key)` pairs (keys need not be distinct or sorted).
    fn build<K: Ord + Copy>(
        rows: u32,
        pairs: Vec<(u32, K)>,
        value: impl Fn(K) -> ReportValue,
    ) -> DenseGroups {
        let mut keys: Vec<K> = pairs.iter().map(|p| p.1).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut ids = vec![0u32; rows as usize];
        for (row, k) in pairs {
            if let (Some(slot), Ok(i)) = (ids.get_mut(row as usize), keys.binary_search(&k)) {
                *slot = i as u32 + 1;
            }
        }
        let mut values = Vec::with_capacity(keys.len() + 1);
        values.push(ReportValue::Null);
        values.extend(keys.into_iter().map(value));
        DenseGroups { ids, values }
    }

    /// One group per distinct value of a numeric column.
    fn numbers(view: &NumView<'_>, rows: u32) -> DenseGroups {
        if view.is_integer() {
            DenseGroups::build(rows, view.iter_int().collect(), ReportValue::Int)
        } else {
            // Ordered bits of the value (-0.0 folded into 0.0, NaN never stored).
            let pairs: Vec<(u32, OrdF64)> = view
                .iter_num()
                .filter(|(_, x)| !x.is_nan())
                .map(|(r, x)| (r, OrdF64(x + 0.0)))
                .collect();
            DenseGroups::build(rows, pairs, |k| ReportValue::Num(k.0))
        }
    }
}

/// An `f64` ordered by `total_cmp` (NaN excluded by the caller).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// How the rows (visits or events) of one part map to report groups.
enum Ids<'a> {
    /// Every row has no value (a custom column this part lacks).
    Zero,
    /// The dictionary id is the group.
    Dict(PackedView<'a>),
    /// Dictionary ids mapped to groups (code dimensions: `FR` and `fr` are one group).
    Folded(PackedView<'a>, Vec<u32>),
    /// Precomputed groups.
    Dense(Arc<DenseGroups>),
    /// A narrow dense integer column: the raw (offset) value + 1 is the group.
    Raw(PackedView<'a>),
    /// Visit → its visitor's ordinal + 1 (of `n` visits).
    Visitor(RankView<'a>, u32),
}

impl Ids<'_> {
    /// The groups of rows `64k .. 64k + 64` into `out` (rows past the end: `usize::MAX`).
    fn chunk(&self, k: usize, out: &mut [usize; 64]) {
        let mut raw = [0u64; 64];
        let packed = |p: &PackedView<'_>, raw: &mut [u64; 64]| {
            let n = p.chunk(k, raw);
            raw.iter_mut().skip(n).for_each(|x| *x = u64::MAX);
            (p.min(), n)
        };
        match self {
            Ids::Dict(p) => {
                let (min, n) = packed(p, &mut raw);
                for (o, &x) in out.iter_mut().zip(&raw).take(n) {
                    *o = (i128::from(min) + i128::from(x)) as usize;
                }
                out.iter_mut().skip(n).for_each(|o| *o = usize::MAX);
            }
            Ids::Folded(p, map) => {
                let (min, n) = packed(p, &mut raw);
                for (o, &x) in out.iter_mut().zip(&raw).take(n) {
                    let id = (i128::from(min) + i128::from(x)) as usize;
                    *o = map.get(id).map_or(usize::MAX, |&g| g as usize);
                }
                out.iter_mut().skip(n).for_each(|o| *o = usize::MAX);
            }
            Ids::Raw(p) => {
                let (_, n) = packed(p, &mut raw);
                for (o, &x) in out.iter_mut().zip(&raw).take(n) {
                    *o = x as usize + 1;
                }
                out.iter_mut().skip(n).for_each(|o| *o = usize::MAX);
            }
            _ => {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = self.get((k * 64 + j) as u32);
                }
            }
        }
    }

    #[inline]
    fn get(&self, row: u32) -> usize {
        let r = row as usize;
        match self {
            Ids::Zero => 0,
            Ids::Dict(p) => p.get(r) as usize,
            Ids::Folded(p, map) => map
                .get(p.get(r) as usize)
                .map_or(usize::MAX, |&g| g as usize),
            Ids::Dense(d) => d.ids.get(r).map_or(usize::MAX, |&g| g as usize),
            Ids::Raw(p) if r < p.len() => p.get_raw(r) as usize + 1,
            Ids::Raw(_) => usize::MAX,
            Ids::Visitor(owners, n) if row < *n => owners.owner(row) as usize + 1,
            Ids::Visitor(..) => usize::MAX,
        }
    }
}

/// The groups of one part: how rows map to them, and each group's value.
struct Grouping<'a> {
    ids: Ids<'a>,
    values: GroupValues<'a>,
}

enum GroupValues<'a> {
    List(Vec<ReportValue>),
    Dense(Arc<DenseGroups>),
    Visitors(DictView<'a>),
    /// Group `g > 0` is the integer `min + g − 1` (of `len` groups).
    Ints {
        min: i64,
        len: usize,
    },
}

impl Grouping<'_> {
    /// Precomputed groups (numbers, goal ids, visit ids).
    fn dense(d: Arc<DenseGroups>) -> Self {
        Grouping {
            ids: Ids::Dense(d.clone()),
            values: GroupValues::Dense(d),
        }
    }

    fn len(&self) -> usize {
        match &self.values {
            GroupValues::List(v) => v.len(),
            GroupValues::Dense(d) => d.values.len(),
            GroupValues::Visitors(d) => d.len() + 1,
            GroupValues::Ints { len, .. } => *len,
        }
    }

    fn value(&self, g: usize) -> Option<ReportValue> {
        match &self.values {
            GroupValues::List(v) => v.get(g).cloned(),
            GroupValues::Dense(d) => d.values.get(g).cloned(),
            GroupValues::Visitors(_) if g == 0 => Some(ReportValue::Null),
            GroupValues::Visitors(d) => d.get(g - 1).map(|s| ReportValue::Text(s.into())),
            GroupValues::Ints { .. } if g == 0 => Some(ReportValue::Null),
            GroupValues::Ints { min, len } => {
                (g < *len).then(|| ReportValue::Int((i128::from(*min) + g as i128 - 1) as i64))
            }
        }
    }
}

/// Counters of a group while a part is scanned: the counts plus the last visit and
/// visitor added (1-based stamps, 0 = none), for distinct counting.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    counts: RowCounts,
    last_visit: u32,
    last_visitor: u32,
}

impl Acc {
    /// Adds a visit of visitor ordinal `owner` with these metrics.
    #[inline]
    fn add(&mut self, actions: i128, conversions: i128, revenue_micros: i128, owner: u32) {
        let c = &mut self.counts;
        c.visits += 1;
        c.actions += actions.clamp(0, i128::from(u64::MAX)) as u64;
        c.conversions += conversions.clamp(0, i128::from(u64::MAX)) as u64;
        c.revenue_micros += revenue_micros;
        let who = owner + 1;
        if self.last_visitor != who {
            self.last_visitor = who;
            c.visitors += 1;
        }
    }
}

/// What a report adds per visit: the part's metrics and each visit's visitor.
struct PartMetrics<'a> {
    metrics: Metrics<'a>,
    owners: RankView<'a>,
}

/// The groups of `sel` in one part.
fn report_part(
    lp: &LivePart,
    sel: &RoaringBitmap,
    dim: &Dimension,
    stop: &Stop,
) -> Result<Vec<(ReportValue, RowCounts)>> {
    if sel.is_empty() {
        return Ok(Vec::new());
    }
    let eval = PartEval::new(lp);
    let r = eval.r;
    if sel.max().is_some_and(|m| m >= eval.nv) {
        return Err(r.corrupt("selected visit beyond the visit table"));
    }
    let ix = PartMetrics {
        metrics: eval.metrics()?,
        owners: eval.visit_visitors()?,
    };
    let grouping = grouping(&eval, dim)?;
    let mut acc = vec![Acc::default(); grouping.len()];
    let bad_group = || r.corrupt("report group id out of range");
    match dim.level {
        Level::Visit => {
            // 64 visits at a time: each metric column unpacked a chunk at once, each
            // visit's visitor counted up from the chunk's first through the bitset of
            // visitor starts (a rank per chunk, not per visit).
            let m = &ix.metrics;
            let cols = [m.actions, m.conversions, m.revenue];
            let unpack = cols.map(|c| c.unpacker());
            let mut raw = [[0u64; 64]; 3];
            let mut groups = [0usize; 64];
            let mins = cols.map(|c| i128::from(c.min()));
            let unit = i128::from(m.revenue_unit);
            for (k, &word) in super::summary::bitset(sel, eval.nv).iter().enumerate() {
                stop.every(k * 64)?; // every CHECK_EVERY visits
                if word == 0 {
                    continue;
                }
                for (i, col) in cols.iter().enumerate() {
                    unpack[i](col, k, &mut raw[i]);
                }
                grouping.ids.chunk(k, &mut groups);
                let base = (k * 64) as u32;
                // Visitors starting in this chunk, and the owner of its first visit.
                let starts = ix.owners.word(k);
                let first_owner = ix.owners.owner(base);
                // Walk the selected visits in order, the owner advancing at every
                // visitor start passed (the chunk's first visit has `first_owner`).
                // (`next`: the first position not yet passed; the chunk's first visit is
                // position 0, whose start, if any, `first_owner` already counts.)
                let (mut w, mut owner, mut next) = (word, first_owner, 1u32);
                while w != 0 {
                    let j = w.trailing_zeros();
                    w &= w - 1;
                    if j == next {
                        owner += ((starts >> j) & 1) as u32;
                    } else if j > next {
                        // Starts in `next..=j`.
                        let span = if j == 63 { u64::MAX } else { (2u64 << j) - 1 };
                        let from = (1u64 << next) - 1;
                        owner += (starts & span & !from).count_ones();
                    }
                    next = j + 1;
                    let a = acc.get_mut(groups[j as usize]).ok_or_else(bad_group)?;
                    let at = |i: usize| mins[i] + i128::from(raw[i][j as usize]);
                    a.add(at(0), at(1), at(2) * unit, owner);
                }
            }
        }
        Level::Action | Level::Conversion => {
            let starts = eval.visit_starts()?;
            // Whether each type id is a row kind this level counts.
            let (types, wanted) = row_kinds(&eval, dim.level == Level::Conversion)?;
            let m = &ix.metrics;
            for (i, v) in sel.iter().enumerate() {
                stop.every(i)?;
                let (Some(&a), Some(&b)) = (starts.get(v as usize), starts.get(v as usize + 1))
                else {
                    return Err(r.corrupt("selected visit beyond the visit table"));
                };
                // The visit's metrics and visitor, read once for all its rows' groups.
                let vi = v as usize;
                let metrics = (
                    i128::from(m.actions.get(vi)),
                    i128::from(m.conversions.get(vi)),
                    i128::from(m.revenue.get(vi)) * i128::from(m.revenue_unit),
                );
                let owner = ix.owners.owner(v);
                for e in a..b {
                    if !wanted
                        .get(types.ids.get(e as usize) as usize)
                        .copied()
                        .unwrap_or(false)
                    {
                        continue;
                    }
                    let g = acc.get_mut(grouping.ids.get(e)).ok_or_else(bad_group)?;
                    g.counts.hits += 1;
                    if g.last_visit != v + 1 {
                        g.last_visit = v + 1;
                        g.add(metrics.0, metrics.1, metrics.2, owner);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (g, a) in acc.iter().enumerate() {
        if a.counts.visits > 0 {
            let value = grouping.value(g).ok_or_else(bad_group)?;
            out.push((value, a.counts));
        }
    }
    Ok(out)
}

/// How `dim` groups the rows of one part.
fn grouping<'a>(eval: &PartEval<'a>, dim: &Dimension) -> Result<Grouping<'a>> {
    let r = eval.r;
    let stored = |s: &str| Some(s.to_string());
    match &dim.source {
        Source::VisitText(col)
            if r.visit_column(col).is_none() && crate::schema::optional_visit_column(col) =>
        {
            Ok(Grouping {
                ids: Ids::Zero,
                values: GroupValues::List(vec![ReportValue::Null]),
            })
        }
        Source::VisitText(col) => text_grouping(
            r,
            r.cat(need_column(r, r.visit_column(col), col)?, eval.nv)?,
            dim.code,
            &stored,
        ),
        Source::EventText(col) => text_grouping(
            r,
            r.cat(need_column(r, r.event_column(col), col)?, eval.ne)?,
            dim.code,
            &stored,
        ),
        Source::CustomText(name) => match r.custom_column(name) {
            Some(body) => text_grouping(r, r.cat(body, eval.ne)?, dim.code, &stored),
            None => Ok(Grouping {
                ids: Ids::Zero,
                values: GroupValues::List(vec![ReportValue::Null]),
            }),
        },
        Source::ActionType | Source::ConversionType => {
            let cv = r.cat(
                need_column(r, r.event_column(internal::TYPE), "type")?,
                eval.ne,
            )?;
            text_grouping(r, cv, false, &|stored: &str| {
                let names = if dim.source == Source::ActionType {
                    ACTION_TYPES
                } else {
                    CONVERSION_TYPES
                };
                names
                    .iter()
                    .find(|(_, t)| *t == stored)
                    .map(|(name, _)| name.to_string())
            })
        }
        Source::VisitNumber(col) => {
            number_grouping(eval, &format!("v:{col}"), r.visit_column(col), eval.nv)
        }
        Source::EventNumber(col) => {
            number_grouping(eval, &format!("e:{col}"), r.event_column(col), eval.ne)
        }
        Source::CustomNumber(name) => {
            number_grouping(eval, &format!("c:{name}"), r.custom_column(name), eval.ne)
        }
        Source::ConversionRevenue => {
            let col = internal::REVENUE_EVENT;
            number_grouping(eval, &format!("e:{col}"), r.event_column(col), eval.ne)
        }
        Source::ConversionGoal => Ok(Grouping::dense(
            eval.cache.groups("goal", || goal_groups(eval))?,
        )),
        Source::VisitorId => Ok(Grouping {
            ids: Ids::Visitor(eval.visit_visitors()?, eval.nv),
            values: GroupValues::Visitors(r.visitor_ids()?),
        }),
        Source::VisitId => Ok(Grouping::dense(
            eval.cache.groups("visitId", || visit_id_groups(eval))?,
        )),
    }
}

/// The column `body` of a part, or a corruption error naming column `name`: a part
/// always has the built-in columns.
fn need_column<'a>(
    r: &PartReader,
    body: Option<&'a ColumnBody>,
    name: &str,
) -> Result<&'a ColumnBody> {
    body.ok_or_else(|| r.corrupt(format!("missing column {name}")))
}

/// The groups of a string column: with `fold` (code dimensions), entries equal but
/// for case share a group; otherwise each dictionary entry is a group, its value given
/// by `name` (`None`: the null value).
fn text_grouping<'a>(
    r: &PartReader,
    cv: CatView<'a>,
    fold: bool,
    name: &dyn Fn(&str) -> Option<String>,
) -> Result<Grouping<'a>> {
    if fold {
        folded_text_grouping(r, cv)
    } else {
        dict_grouping(r, cv, name)
    }
}

/// One group per dictionary entry: the dictionary id is the group.
fn dict_grouping<'a>(
    r: &PartReader,
    cv: CatView<'a>,
    name: &dyn Fn(&str) -> Option<String>,
) -> Result<Grouping<'a>> {
    let mut values = vec![ReportValue::Null];
    for i in 0..cv.dict.len() {
        let s = cv
            .dict
            .get(i)
            .ok_or_else(|| r.corrupt("dictionary entry"))?;
        values.push(name(s).map_or(ReportValue::Null, ReportValue::Text));
    }
    Ok(Grouping {
        ids: Ids::Dict(cv.ids),
        values: GroupValues::List(values),
    })
}

/// One group per lower-cased dictionary entry, for code dimensions.
fn folded_text_grouping<'a>(r: &PartReader, cv: CatView<'a>) -> Result<Grouping<'a>> {
    let mut values = vec![ReportValue::Null];
    // Code dimensions: dictionary entries equal but for case share a group.
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut map = vec![0u32];
    for i in 0..cv.dict.len() {
        let s = cv
            .dict
            .get(i)
            .ok_or_else(|| r.corrupt("dictionary entry"))?;
        let folded = s.to_lowercase();
        let g = *seen.entry(folded.clone()).or_insert_with(|| {
            values.push(ReportValue::Text(folded));
            values.len() as u32 - 1
        });
        map.push(g);
    }
    Ok(Grouping {
        ids: Ids::Folded(cv.ids, map),
        values: GroupValues::List(values),
    })
}

/// Widest dense integer column grouped by its raw values directly (4,096 groups).
const RAW_GROUP_BITS: u8 = 12;

/// One group per distinct value of the numeric column `body` (`rows` rows; a column
/// the part lacks gives the null group only): a narrow dense integer column groups by
/// its stored values as they are, others by value ranks built once and cached under
/// `key`.
fn number_grouping<'a>(
    eval: &PartEval<'a>,
    key: &str,
    body: Option<&ColumnBody>,
    rows: u32,
) -> Result<Grouping<'a>> {
    let r = eval.r;
    if let Some(b) = body
        && let Some(dense) = r.num(b, rows)?.dense_ints()
        && dense.width() <= RAW_GROUP_BITS
    {
        return Ok(Grouping {
            ids: Ids::Raw(dense),
            values: GroupValues::Ints {
                min: dense.min(),
                len: (1usize << dense.width()) + 1,
            },
        });
    }
    let d = eval.cache.groups(key, || match body {
        Some(b) => Ok(DenseGroups::numbers(&r.num(b, rows)?, rows)),
        None => Ok(DenseGroups::build::<i64>(
            rows,
            Vec::new(),
            ReportValue::Int,
        )),
    })?;
    Ok(Grouping::dense(d))
}

/// One group per goal id of the part's event rows (`ecommerceOrder` rows included).
fn goal_groups(eval: &PartEval<'_>) -> Result<DenseGroups> {
    let r = eval.r;
    // `docs/ingest.md`: an `ecommerceOrder` row without a goal id has goal id 0.
    let goal = r.num(
        need_column(r, r.event_column(internal::GOAL_ID), "goalId")?,
        eval.ne,
    )?;
    let types = r.cat(
        need_column(r, r.event_column(internal::TYPE), "type")?,
        eval.ne,
    )?;
    let order = types
        .dict
        .find(EventType::EcommerceOrder.name())
        .map(|i| i as i64 + 1);
    let mut pairs: Vec<(u32, i64)> = goal.iter_int().collect();
    let mut with_goal = pairs.iter().map(|p| p.0).peekable();
    let mut orders = Vec::new();
    for row in 0..eval.ne {
        while with_goal.next_if(|&g| g < row).is_some() {}
        if with_goal.peek() != Some(&row) && Some(types.ids.get(row as usize)) == order {
            orders.push((row, 0));
        }
    }
    pairs.extend(orders);
    Ok(DenseGroups::build(eval.ne, pairs, ReportValue::Int))
}

/// One group per visit id of the part's visits: the given `visitId`, else the visit's
/// start in Unix ms.
fn visit_id_groups(eval: &PartEval<'_>) -> Result<DenseGroups> {
    let r = eval.r;
    let given = r.cat(
        need_column(r, r.visit_column(internal::VISIT_ID), "visitId")?,
        eval.nv,
    )?;
    let start = r.num(
        need_column(r, r.visit_column(internal::VISIT_START), "@start")?,
        eval.nv,
    )?;
    let mut names: Vec<String> = Vec::with_capacity(eval.nv as usize);
    for v in 0..eval.nv as usize {
        names.push(match r.text(&given, v)? {
            Some(s) => s.to_string(),
            None => start.int(v).unwrap_or(0).to_string(),
        });
    }
    let pairs = names
        .iter()
        .enumerate()
        .map(|(v, n)| (v as u32, n.as_str()))
        .collect();
    Ok(DenseGroups::build(eval.nv, pairs, |s: &str| {
        ReportValue::Text(s.to_string())
    }))
}
