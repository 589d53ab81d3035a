//! The bitmap engine: evaluates a [`CompiledSegment`] on one part and returns the
//! selected visits as a bitmap of visit rows.
//!
//! How each condition becomes bitmaps:
//!
//! - string dimensions: the predicate is decided once per distinct dictionary value
//!   (exact equality is a single dictionary lookup) and the bitmap-index entries of the
//!   matching values are OR-ed;
//! - numeric dimensions: one pass over the mapped column ([`numbers`]);
//! - action-level conditions give bitmaps of event rows (restricted to action rows),
//!   conversion-level ones of conversion rows; rows project to visits through the
//!   rank bitset of visit starts (one lookup per selected visit, not per row).
//!
//! Combination (`docs/segment-language.md`). Groups whose conditions are all visit-valued (visit-level
//! conditions, negated action conditions — "no action matches" — and conversion
//! existence tests) intersect directly. Groups holding positive action-level conditions
//! must hold on one and the same action row: with one such group `G = V ∪ A` the result
//! is `V ∪ project(A)`; with several, the row bitmaps are intersected (visit parts
//! broadcast to their rows) before projecting. Visits without action rows are evaluated
//! with every positive action condition false. Everything is finally intersected with the
//! part's live visits in the time range.
//!
//! [`numbers`]: super::numbers

use std::ops::Bound;

use roaring::{MultiOps, RoaringBitmap};

use super::cache::{LiveVisits, PartCache, cached};
use super::catalog::{ACTION_TYPES, CONVERSION_TYPES, Source};
use super::compile::{Cond, Operand, strip_url};
use super::numbers;
use super::part::LivePart;
use super::{CondStats, TimeRange};
use crate::error::Result;
use crate::event::EventType;
use crate::lang::Op;
use crate::schema::{Level, internal};
use crate::storage::format::ColumnBody;
use crate::storage::part_reader::{CatView, NumView, PartReader};

/// Above this many matching dictionary values, a string condition is decided by one
/// pass over the column's ids instead of OR-ing the values' bitmaps.
const MAX_INDEX_FAN_IN: usize = 64;

/// Runs of wanted ids up to which a column pass tests ranges instead of a table.
const MAX_ID_RUNS: usize = 4;

/// The runs `lo..=hi` of raw ids marked in `wanted`.
fn id_runs(wanted: &[bool]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (i, &w) in wanted.iter().enumerate() {
        if !w {
            continue;
        }
        match runs.last_mut() {
            Some(last) if last.1 + 1 == i as u64 => last.1 = i as u64,
            _ => runs.push((i as u64, i as u64)),
        }
    }
    runs
}

/// A condition restricted to candidate rows looks their ids up one by one when there
/// are fewer than 1/`RESTRICT_RATIO` of the column's rows, instead of a full pass.
const RESTRICT_RATIO: u64 = 8;

/// Evaluation context of one part.
pub(super) struct PartEval<'a> {
    pub(super) lp: &'a LivePart,
    pub(super) r: &'a PartReader,
    pub(super) cache: &'a PartCache,
    pub(super) nv: u32,
    pub(super) ne: u32,
}

/// What one condition evaluates to on a part.
enum Value {
    /// Visits (visit-level results, negated action tests, conversion tests).
    Visits(RoaringBitmap),
    /// Action rows (positive action-level conditions).
    Rows(RoaringBitmap),
}

impl<'a> PartEval<'a> {
    pub(super) fn new(lp: &'a LivePart) -> PartEval<'a> {
        let r: &PartReader = &lp.reader;
        let m = r.meta();
        PartEval {
            lp,
            r,
            cache: &lp.cache,
            nv: m.visits,
            ne: m.events,
        }
    }

    /// Rows whose type is in `types`.
    fn rows_of_types(&self, pick: fn(EventType) -> bool) -> Result<RoaringBitmap> {
        let body = self
            .r
            .event_column(internal::TYPE)
            .ok_or_else(|| self.r.corrupt("missing event column type"))?;
        let cv = self.r.cat(body, self.ne)?;
        let mut out = Vec::new();
        for i in 0..cv.dict.len() {
            let name = cv
                .dict
                .get(i)
                .ok_or_else(|| self.r.corrupt("type dictionary"))?;
            if EventType::from_name(name).is_some_and(pick) {
                out.push(self.bitmap(&cv, i)?);
            }
        }
        Ok(out.union())
    }

    pub(super) fn action_rows(&self) -> Result<std::sync::Arc<RoaringBitmap>> {
        cached(&self.cache.action_rows, || {
            if let Some(conv) = self.r.row_set(internal::CONVERSION_ROWS)? {
                return Ok(all_rows(self.ne) - conv);
            }
            self.rows_of_types(|t| !t.is_conversion())
        })
    }

    pub(super) fn conversion_rows(&self) -> Result<std::sync::Arc<RoaringBitmap>> {
        cached(&self.cache.conversion_rows, || {
            if let Some(conv) = self.r.row_set(internal::CONVERSION_ROWS)? {
                return Ok(conv);
            }
            self.rows_of_types(EventType::is_conversion)
        })
    }

    pub(super) fn bitmap(&self, cv: &CatView<'_>, i: usize) -> Result<RoaringBitmap> {
        let decode = || {
            cv.index
                .bitmap(i)
                .map_err(|e| self.r.corrupt(format!("bitmap index: {e}")))
        };
        match u32::try_from(i) {
            Ok(entry) => self.cache.decoded(cv.index_section, entry, decode),
            Err(_) => decode(),
        }
    }

    /// Every visit row of the part.
    pub(super) fn all_visits(&self) -> RoaringBitmap {
        all_rows(self.nv)
    }

    /// Visits of live (not deleted) visitors, with their metrics once asked for:
    /// computed once per deletion set of the part.
    pub(super) fn live(&self) -> Result<std::sync::Arc<LiveVisits>> {
        let key = self.lp.entry.deletions.as_ref().map(|d| d.file.clone());
        if let Some((k, live)) = &*self.cache.live.lock()
            && *k == key
        {
            return Ok(live.clone());
        }
        let mut visits = self.all_visits();
        if !self.lp.deleted.is_empty() {
            let starts = self.visitor_starts()?;
            for v in self.lp.deleted.iter() {
                if let (Some(&a), Some(&b)) = (starts.get(v as usize), starts.get(v as usize + 1)) {
                    visits.remove_range(a..b);
                }
            }
        }
        let live = std::sync::Arc::new(LiveVisits {
            visits,
            sums: std::sync::OnceLock::new(),
        });
        *self.cache.live.lock() = Some((key, live.clone()));
        Ok(live)
    }

    /// Visits of live (not deleted) visitors whose start lies in `range`.
    pub(super) fn live_visits(&self, range: &TimeRange) -> Result<RoaringBitmap> {
        let m = self.r.meta();
        let mut live = self.live()?.visits.clone();
        let (lo, hi) = (
            range.start.unwrap_or(i64::MIN),
            range.end.unwrap_or(i64::MAX),
        );
        if lo > m.max_ts || hi <= m.min_ts {
            return Ok(RoaringBitmap::new());
        }
        if lo > m.min_ts || hi <= m.max_ts {
            let start = self.visit_number(internal::VISIT_START)?;
            live &= numbers::range(
                Some(&start),
                Bound::Included(lo as f64),
                Bound::Excluded(hi as f64),
            );
        }
        Ok(live)
    }

    /// Projects event rows to the visits that own them: the owner of a row is one rank
    /// lookup in the bitset of visit starts, and the rows up to the owner's end are
    /// skipped, so the cost is one step per visit found.
    pub(super) fn project(&self, rows: &RoaringBitmap) -> Result<RoaringBitmap> {
        let owners = self.row_visits()?;
        let starts = self.visit_starts()?;
        self.project_by(rows, |row| {
            let v = owners.owner(row);
            (v, starts.get(v as usize + 1).copied())
        })
    }

    /// Projects event rows to the visitors that own them.
    pub(super) fn project_to_visitors(&self, rows: &RoaringBitmap) -> Result<RoaringBitmap> {
        let (rows_visit, visit_visitor) = (self.row_visits()?, self.visit_visitors()?);
        let (starts, visitors) = (self.visit_starts()?, self.visitor_starts()?);
        self.project_by(rows, |row| {
            let u = visit_visitor.owner(rows_visit.owner(row));
            let end = visitors
                .get(u as usize + 1)
                .and_then(|&v| starts.get(v as usize))
                .copied();
            (u, end)
        })
    }

    /// Projects rows (ascending) to their owners: `owner(row)` gives the owner and the
    /// first row past it (`None`: beyond the table, a damaged part).
    fn project_by(
        &self,
        rows: &RoaringBitmap,
        owner: impl Fn(u32) -> (u32, Option<u32>),
    ) -> Result<RoaringBitmap> {
        let mut out = Vec::new();
        let mut it = rows.iter();
        let mut buf = [0u32; 256];
        // Rows below `end` belong to the owner pushed last.
        let mut end = 0u32;
        loop {
            let batch = it.next_many(&mut buf);
            if batch.is_empty() {
                break;
            }
            for &row in batch.iter() {
                if row < end {
                    continue;
                }
                let (o, next) = owner(row);
                let next = next
                    .filter(|&n| n > row)
                    .ok_or_else(|| self.r.corrupt("event row beyond the last visit"))?;
                out.push(o);
                end = next;
            }
        }
        Ok(RoaringBitmap::from_sorted_iter(out).unwrap_or_default())
    }

    /// The event rows of `visits`.
    pub(super) fn broadcast(&self, visits: &RoaringBitmap) -> Result<RoaringBitmap> {
        let starts = self.visit_starts()?;
        self.expand(visits, starts, self.ne, "visit beyond the visit table")
    }

    /// The visits of the visitor ordinals in `visitors`.
    pub(super) fn visits_of_visitors(&self, visitors: &RoaringBitmap) -> Result<RoaringBitmap> {
        let starts = self.visitor_starts()?;
        self.expand(
            visitors,
            starts,
            self.nv,
            "visitor beyond the visitor table",
        )
    }

    /// The members (of `len`) owned by `owners`, owner `o` owning
    /// `starts[o]..starts[o + 1]`: one bit range per run of consecutive owners, set in a
    /// plain bitset (inserting ranges into a roaring bitmap one by one is far slower).
    fn expand(
        &self,
        owners: &RoaringBitmap,
        starts: &[u32],
        len: u32,
        beyond: &str,
    ) -> Result<RoaringBitmap> {
        let mut words = vec![0u64; (len as usize).div_ceil(64)];
        let mut it = owners.iter();
        while let Some(run) = it.next_range() {
            let (Some(&a), Some(&b)) = (
                starts.get(*run.start() as usize),
                starts.get(*run.end() as usize + 1),
            ) else {
                return Err(self.r.corrupt(beyond));
            };
            set_bits(&mut words, a as usize, b as usize);
        }
        Ok(from_words(&words))
    }

    /// A visit-level numeric column.
    pub(super) fn visit_number(&self, name: &str) -> Result<NumView<'a>> {
        let body = self
            .r
            .visit_column(name)
            .ok_or_else(|| self.r.corrupt(format!("missing visit column {name}")))?;
        self.r.num(body, self.nv)
    }

    /// An event-level or custom numeric column (`None`: the part lacks it).
    fn event_number(&self, body: Option<&ColumnBody>) -> Result<Option<NumView<'a>>> {
        body.map(|b| self.r.num(b, self.ne)).transpose()
    }

    /// Evaluates the positive counterpart of `c` (for a negative condition, what it
    /// negates) on its own table: visit rows, event rows or conversion rows.
    pub(super) fn positive(&self, c: &Cond) -> Result<RoaringBitmap> {
        self.positive_within(c, None)
    }

    /// [`positive`](Self::positive), where only the rows of `within` (rows of the
    /// condition's own table) matter: rows outside it may or may not be in the answer.
    fn positive_within(&self, c: &Cond, within: Option<&RoaringBitmap>) -> Result<RoaringBitmap> {
        match &c.dim.source {
            Source::VisitText(col) => match self.r.visit_column(col) {
                Some(body) => {
                    let cv = self.r.cat(body, self.nv)?;
                    self.text_rows(&cv, c, self.nv, as_stored, within)
                }
                None if crate::schema::optional_visit_column(col) => {
                    Ok(self.absent_column(c, self.nv))
                }
                None => Err(self.r.corrupt(format!("missing visit column {col}"))),
            },
            Source::EventText(col) => {
                let body = self
                    .r
                    .event_column(col)
                    .ok_or_else(|| self.r.corrupt(format!("missing event column {col}")))?;
                let cv = self.r.cat(body, self.ne)?;
                self.text_rows(&cv, c, self.ne, as_stored, within)
            }
            Source::CustomText(name) => match self.r.custom_column(name) {
                Some(body) => {
                    let cv = self.r.cat(body, self.ne)?;
                    self.text_rows(&cv, c, self.ne, as_stored, within)
                }
                None => Ok(self.absent_column(c, self.ne)),
            },
            Source::ActionType => self.row_type_rows(c, within, ACTION_TYPES),
            Source::ConversionType => self.row_type_rows(c, within, CONVERSION_TYPES),
            Source::VisitNumber(col) => {
                let col = self.visit_number(col)?;
                Ok(self.number_rows(Some(&col), c, self.nv))
            }
            Source::EventNumber(col) => {
                let col = self.event_number(self.r.event_column(col))?;
                Ok(self.number_rows(col.as_ref(), c, self.ne))
            }
            Source::CustomNumber(name) => {
                let col = self.event_number(self.r.custom_column(name))?;
                Ok(self.number_rows(col.as_ref(), c, self.ne))
            }
            Source::ConversionGoal => self.goal_rows(c),
            Source::ConversionRevenue => {
                let col = self.event_number(self.r.event_column(internal::REVENUE_EVENT))?;
                Ok(self.number_rows(col.as_ref(), c, self.ne))
            }
            Source::VisitorId => self.visitor_id_visits(c),
            Source::VisitId => self.visit_id_visits(c),
        }
    }

    /// Event rows whose row type, named by `names` (`(name, stored type)`: action or
    /// conversion types), matches `c`'s positive test. Rows of a type `names` lacks
    /// have no name: they never match.
    fn row_type_rows(
        &self,
        c: &Cond,
        within: Option<&RoaringBitmap>,
        names: &'static [(&'static str, &'static str)],
    ) -> Result<RoaringBitmap> {
        let body = self
            .r
            .event_column(internal::TYPE)
            .ok_or_else(|| self.r.corrupt("missing event column type"))?;
        let cv = self.r.cat(body, self.ne)?;
        self.text_rows(
            &cv,
            c,
            self.ne,
            |stored| {
                names
                    .iter()
                    .find(|(_, t)| *t == stored)
                    .map(|(name, _)| *name)
            },
            within,
        )
    }

    /// Event rows whose goal id (0 for an `ecommerceOrder` row without one) passes `c`'s
    /// positive test.
    fn goal_rows(&self, c: &Cond) -> Result<RoaringBitmap> {
        let col = self.event_number(self.r.event_column(internal::GOAL_ID))?;
        let col = col.as_ref();
        // `docs/ingest.md`: `ecommerceOrder` rows have goal id 0 (unless one is given).
        let orders = self.rows_of_types(|t| t == EventType::EcommerceOrder)?
            - &numbers::present(col, self.ne);
        let zero_matches = match c.operand {
            Operand::Number(v) => match c.op.positive() {
                Op::Lt => 0.0 < v,
                Op::Le => 0.0 <= v,
                Op::Gt => 0.0 > v,
                Op::Ge => 0.0 >= v,
                _ => 0.0 == v,
            },
            _ => c.op == Op::Ne,
        };
        let rows = self.number_rows(col, c, self.ne) - &orders;
        Ok(if zero_matches { rows | orders } else { rows })
    }

    /// A custom column this part does not have: every row lacks a value.
    fn absent_column(&self, c: &Cond, rows: u32) -> RoaringBitmap {
        if matches!(c.operand, Operand::Empty) && c.op == Op::Eq {
            all_rows(rows)
        } else {
            RoaringBitmap::new()
        }
    }

    fn number_rows(&self, col: Option<&NumView<'_>>, c: &Cond, rows: u32) -> RoaringBitmap {
        let v = match c.operand {
            Operand::Number(v) => v,
            // `==`: no value (numbers are never empty strings); `!=`: has a value.
            _ if c.op == Op::Eq => return all_rows(rows) - numbers::present(col, rows),
            _ => return numbers::present(col, rows),
        };
        use Bound::*;
        let (lo, hi) = match c.op.positive() {
            Op::Lt => (Unbounded, Excluded(v)),
            Op::Le => (Unbounded, Included(v)),
            Op::Gt => (Excluded(v), Unbounded),
            Op::Ge => (Included(v), Unbounded),
            _ => (Included(v), Included(v)),
        };
        numbers::range(col, lo, hi)
    }

    /// Rows of a string column matching `c`'s positive test; `name` maps a stored value
    /// to the value compared (action types are stored as row types).
    fn text_rows(
        &self,
        cv: &CatView<'_>,
        c: &Cond,
        rows: u32,
        name: impl Fn(&str) -> Option<&str>,
        within: Option<&RoaringBitmap>,
    ) -> Result<RoaringBitmap> {
        let dict_get = |i: usize| {
            cv.dict
                .get(i)
                .ok_or_else(|| self.r.corrupt("dictionary entry out of range"))
        };
        match &c.operand {
            Operand::Empty => {
                // Rows with no value or an empty one.
                let mut empty: RoaringBitmap =
                    (0..rows).filter(|&r| cv.ids.get(r as usize) == 0).collect();
                for i in 0..cv.dict.len() {
                    if name(dict_get(i)?) == Some("") {
                        empty |= self.bitmap(cv, i)?;
                    }
                }
                if c.op == Op::Eq {
                    Ok(empty)
                } else {
                    Ok(all_rows(rows) - empty)
                }
            }
            Operand::Text(v) if c.op.positive() == Op::Eq && !c.fold_case && c.dim.exact_text() => {
                // Exact lookup in the sorted dictionary (action types map names, so
                // they take the general path).
                if matches!(c.dim.source, Source::ActionType | Source::ConversionType) {
                    return self.scan_dict(cv, c, &name, within);
                }
                match cv.dict.find(v) {
                    Some(i) => self.bitmap(cv, i),
                    None => Ok(RoaringBitmap::new()),
                }
            }
            _ => self.scan_dict(cv, c, &name, within),
        }
    }

    /// Decides `c` once per distinct dictionary value and ORs the matching bitmaps (or
    /// marks the rows whose id matches, when many values do). Only rows of `within`
    /// matter when it is given.
    fn scan_dict(
        &self,
        cv: &CatView<'_>,
        c: &Cond,
        name: &impl Fn(&str) -> Option<&str>,
        within: Option<&RoaringBitmap>,
    ) -> Result<RoaringBitmap> {
        let mut test = TextTest::new(c);
        let mut buf = String::new();
        let mut hits = Vec::new();
        for i in 0..cv.dict.len() {
            let stored = cv
                .dict
                .get(i)
                .ok_or_else(|| self.r.corrupt("dictionary entry out of range"))?;
            let shown = name(stored);
            if let Some(shown) = shown
                && test.test(shown, &mut buf)
            {
                hits.push(i);
            }
        }
        if hits.len() <= MAX_INDEX_FAN_IN {
            let bitmaps = hits
                .into_iter()
                .map(|i| self.bitmap(cv, i))
                .collect::<Result<Vec<_>>>()?;
            return Ok(bitmaps.union());
        }
        // Many values match (`pageUrl=@/product/`): decoding and merging hundreds of
        // small bitmaps costs more than one pass over the column's ids. `wanted` is
        // indexed by the raw packed value (id − the column's minimum id).
        let min = cv.ids.min();
        let mut wanted = vec![false; cv.dict.len() + 1];
        for i in hits {
            if let Some(slot) = usize::try_from(i as i64 + 1 - min)
                .ok()
                .and_then(|k| wanted.get_mut(k))
            {
                *slot = true;
            }
        }
        let wants = |raw: u64| wanted.get(raw as usize).copied().unwrap_or(false);
        if let Some(rows) = within
            && rows.len() * RESTRICT_RATIO < cv.ids.len() as u64
        {
            // Few candidate rows: look their ids up one by one.
            let hit: Vec<u32> = rows
                .iter()
                .filter(|&r| wants(cv.ids.get_raw(r as usize)))
                .collect();
            return Ok(RoaringBitmap::from_sorted_iter(hit).unwrap_or_default());
        }
        // The wanted ids often form a few runs (a prefix of sorted values, a range):
        // on byte-aligned ids, one vectorised range pass per run.
        let mut words = vec![0u64; cv.ids.len().div_ceil(64)];
        let runs = id_runs(&wanted);
        if runs.len() <= MAX_ID_RUNS && super::numbers::ranges_into(&cv.ids, &runs, &mut words) {
            return Ok(from_words(&words));
        }
        cv.ids.for_each_chunk(|first, raw| {
            let mut m = 0u64;
            for (j, &v) in raw.iter().enumerate() {
                m |= u64::from(wants(v)) << j;
            }
            if let Some(w) = words.get_mut(first / 64) {
                *w = m;
            }
        });
        Ok(from_words(&words))
    }

    fn visitor_id_visits(&self, c: &Cond) -> Result<RoaringBitmap> {
        let ids = self.r.visitor_ids()?;
        let starts = self.visitor_starts()?;
        let mut out = RoaringBitmap::new();
        let mut add = |v: usize| {
            if let (Some(&a), Some(&b)) = (starts.get(v), starts.get(v + 1)) {
                out.insert_range(a..b);
            }
        };
        match &c.operand {
            // Visitor ids are never empty.
            Operand::Empty if c.op == Op::Eq => {}
            Operand::Empty => return Ok(self.all_visits()),
            Operand::Text(v) if c.op.positive() == Op::Eq && !c.fold_case => {
                if let Some(i) = ids.find(v) {
                    add(i);
                }
            }
            _ => {
                let mut test = TextTest::new(c);
                let mut buf = String::new();
                for i in 0..ids.len() {
                    let id = ids.get(i).ok_or_else(|| self.r.corrupt("visitor id"))?;
                    if test.test(id, &mut buf) {
                        add(i);
                    }
                }
            }
        }
        Ok(out)
    }

    fn visit_id_visits(&self, c: &Cond) -> Result<RoaringBitmap> {
        let given = self.r.cat(
            self.r
                .visit_column(internal::VISIT_ID)
                .ok_or_else(|| self.r.corrupt("missing visit column visitId"))?,
            self.nv,
        )?;
        let start = self.r.num(
            self.r
                .visit_column(internal::VISIT_START)
                .ok_or_else(|| self.r.corrupt("missing visit column @start"))?,
            self.nv,
        )?;
        let mut test = TextTest::new(c);
        let mut buf = String::new();
        let mut out = Vec::new();
        for v in 0..self.nv as usize {
            let id = match self.r.text(&given, v)? {
                Some(s) => s.to_string(),
                None => start.int(v).unwrap_or(0).to_string(),
            };
            let hit = match &c.operand {
                Operand::Empty => (c.op == Op::Eq) == id.is_empty(),
                _ => test.test(&id, &mut buf),
            };
            if hit {
                out.push(v as u32);
            }
        }
        Ok(RoaringBitmap::from_sorted_iter(out).unwrap_or_default())
    }

    /// One condition as a bitmap of visits or of action rows.
    fn condition(&self, c: &Cond, stats: &mut CondStats) -> Result<Value> {
        self.condition_within(c, stats, None)
    }

    /// [`condition`](Self::condition) where only the action rows of `within` matter for
    /// a positive action-level condition (see [`positive_within`](Self::positive_within)).
    fn condition_within(
        &self,
        c: &Cond,
        stats: &mut CondStats,
        within: Option<&RoaringBitmap>,
    ) -> Result<Value> {
        let restrict = (c.level() == Level::Action && !c.is_negative())
            .then_some(within)
            .flatten();
        let pos = self.positive_within(c, restrict)?;
        match c.level() {
            Level::Visit => {
                let v = if c.is_negative() {
                    self.all_visits() - pos
                } else {
                    pos
                };
                stats.visits += v.len();
                Ok(Value::Visits(v))
            }
            Level::Action => {
                // (Intersected, not `pos − conversions`: removing an array from a run
                // container goes value by value.)
                let rows = pos & &*self.action_rows()?;
                stats.rows += rows.len();
                if c.is_negative() {
                    let v = self.all_visits() - self.project(&rows)?;
                    stats.visits += v.len();
                    Ok(Value::Visits(v))
                } else {
                    Ok(Value::Rows(rows))
                }
            }
            Level::Conversion => {
                let rows = pos & &*self.conversion_rows()?;
                stats.rows += rows.len();
                let has = self.project(&rows)?;
                let v = if c.is_negative() {
                    self.all_visits() - has
                } else {
                    has
                };
                stats.visits += v.len();
                Ok(Value::Visits(v))
            }
        }
    }

    /// The event rows of the visits `visits` that match a funnel step (`docs/analytics.md`,
    /// `docs/analytics.md`): every condition is decided on single rows, visit-level ones
    /// through the row's visit, action-level ones on action rows only and
    /// conversion-level ones on conversion rows only, negations included.
    ///
    /// Returns the rows (all within `visits`).
    pub(super) fn step_rows(
        &self,
        groups: &[Vec<Cond>],
        visits: &RoaringBitmap,
    ) -> Result<RoaringBitmap> {
        // Visit-level groups narrow the visits; the others give rows.
        let mut keep = visits.clone();
        let mut rows: Option<RoaringBitmap> = None;
        let mut stats = CondStats::default();
        for g in groups {
            if keep.is_empty() {
                return Ok(RoaringBitmap::new());
            }
            let mut group_visits = RoaringBitmap::new();
            let mut group_rows = RoaringBitmap::new();
            let mut has_rows = false;
            for c in g {
                if c.level() == Level::Visit {
                    group_visits |= match self.condition(c, &mut stats)? {
                        Value::Visits(v) => v,
                        Value::Rows(_) => RoaringBitmap::new(),
                    };
                    continue;
                }
                has_rows = true;
                let kind = match c.level() {
                    Level::Conversion => self.conversion_rows()?,
                    _ => self.action_rows()?,
                };
                let pos = self.positive(c)?;
                group_rows |= if c.is_negative() {
                    &*kind - pos
                } else {
                    pos & &*kind
                };
            }
            if !has_rows {
                keep &= group_visits;
                continue;
            }
            // Rows of the group's visit-level conditions, for the visits still in play.
            let within = match &rows {
                Some(r) => self.project(r)? & &keep,
                None => keep.clone(),
            };
            group_rows |= self.broadcast(&(group_visits & within))?;
            rows = Some(match rows {
                Some(r) => r & group_rows,
                None => group_rows,
            });
        }
        match rows {
            // Every visit has rows.
            None => self.broadcast(&keep),
            // Keep the rows of the visits still in play.
            Some(r) if keep.len() == u64::from(self.nv) => Ok(r),
            Some(r) => Ok(r & self.broadcast(&keep)?),
        }
    }

    /// The visits of this part selected by `groups` within `range`.
    ///
    /// Groups that decide visits on their own (visit-level, negated or conversion
    /// conditions only) go first, since they narrow the candidate visits. With
    /// `restrict`, the action-row conditions are then evaluated only where they can
    /// matter: on the rows of the candidate visits, and for the second and later
    /// same-row groups on the rows still matching the earlier ones (cheap groups first).
    /// `restrict = false` evaluates every condition whole, for exact `explain` counts.
    pub(super) fn select(
        &self,
        groups: &[Vec<Cond>],
        range: &TimeRange,
        stats: &mut [Vec<CondStats>],
        restrict: bool,
    ) -> Result<RoaringBitmap> {
        let mut candidates = self.live_visits(range)?;
        let (order, scans_from) = evaluation_order(groups);
        // (visit part, row part) of each group holding positive action conditions.
        let mut row_groups: Vec<RowGroup> = Vec::new();
        let mut within: Option<RoaringBitmap> = None;
        for (k, &i) in order.iter().enumerate() {
            let (Some(g), Some(gstats)) = (groups.get(i), stats.get_mut(i)) else {
                continue;
            };
            if candidates.is_empty() {
                break; // AND short-circuits on empty
            }
            let row_group = yields_rows(g);
            let restrict = restrict && scans_from[k];
            if restrict && row_group && row_groups.is_empty() {
                within = (candidates.len() * RESTRICT_RATIO < u64::from(self.nv))
                    .then(|| self.broadcast(&candidates))
                    .transpose()?;
            }
            let (visits, rows) = self.group_values(g, gstats, within.as_ref())?;
            if !row_group {
                candidates &= visits.unwrap_or_default();
                continue;
            }
            let rows = rows.union();
            if restrict && scans_from[k + 1] {
                // The rows later same-row groups need to look at.
                let mut reach = rows.clone();
                if let Some(v) = &visits {
                    reach |= self.broadcast(&(v & &candidates))?;
                }
                within = Some(match within.take() {
                    Some(w) => w & reach,
                    None => reach,
                });
            }
            row_groups.push((visits, rows));
        }
        if row_groups.is_empty() || candidates.is_empty() {
            return Ok(candidates);
        }
        self.combine_row_groups(row_groups, candidates)
    }

    /// The conditions of group `g` evaluated (their counts added to `gstats`; only the
    /// action rows of `within` matter): the union of the visit-valued results (`None`
    /// when there are none) and the action-row results, not yet combined.
    fn group_values(
        &self,
        g: &[Cond],
        gstats: &mut [CondStats],
        within: Option<&RoaringBitmap>,
    ) -> Result<(Option<RoaringBitmap>, Vec<RoaringBitmap>)> {
        let mut visits: Vec<RoaringBitmap> = Vec::new();
        let mut rows: Vec<RoaringBitmap> = Vec::new();
        for (c, st) in g.iter().zip(gstats.iter_mut()) {
            match self.condition_within(c, st, within)? {
                Value::Visits(v) => visits.push(v),
                Value::Rows(r) => rows.push(r),
            }
        }
        let visits = (!visits.is_empty()).then(|| visits.union());
        Ok((visits, rows))
    }

    /// The selected visits among `candidates` once the groups holding positive action
    /// conditions (`row_groups`, at least one) are applied: one group `V ∪ A` gives
    /// `V ∪ project(A)`; several must hold on one and the same action row.
    fn combine_row_groups(
        &self,
        mut row_groups: Vec<RowGroup>,
        candidates: RoaringBitmap,
    ) -> Result<RoaringBitmap> {
        if row_groups.len() == 1 {
            let (visits, rows) = row_groups.pop().unwrap_or_default();
            let mut sel = self.project(&rows)?;
            if let Some(v) = visits {
                sel |= v;
            }
            return Ok(sel & candidates);
        }
        // Several groups must hold on one and the same action row.
        let mut base = candidates.clone();
        for (v, _) in &row_groups {
            match v {
                Some(v) => base &= v,
                None => base.clear(),
            }
        }
        let mut same_row: Option<RoaringBitmap> = None;
        // Pure row groups first: their intersection bounds the rest.
        row_groups.sort_by_key(|(v, r)| (v.is_some(), r.len()));
        for (v, r) in row_groups {
            let g = match v {
                Some(v) => r | self.broadcast(&(v & &candidates))?,
                None => r,
            };
            same_row = Some(match same_row {
                Some(acc) => acc & g,
                None => g,
            });
        }
        let projected = self.project(&same_row.unwrap_or_default())?;
        Ok((projected | base) & candidates)
    }
}

/// (visit part, row part) of a group holding positive action conditions: the union of
/// its visit-valued results (`None`: none) and of its action-row results.
type RowGroup = (Option<RoaringBitmap>, RoaringBitmap);

/// The order in which [`PartEval::select`] evaluates `groups` (indexes into `groups`):
/// groups deciding visits on their own first, dictionary-scanning ones last among their
/// kind; and, per position of that order plus one past the end, whether a row group
/// from there on scans a dictionary.
fn evaluation_order(groups: &[Vec<Cond>]) -> (Vec<usize>, Vec<bool>) {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    let scanning = |g: &[Cond]| {
        g.iter()
            .any(|c| c.level() == Level::Action && !c.is_negative() && scans_dictionary(c))
    };
    order.sort_by_key(|&i| {
        let g = groups.get(i).map_or(&[][..], |g| &g[..]);
        (yields_rows(g), scanning(g))
    });
    // Whether a row group at or after position k of `order` scans a dictionary (and
    // so can use the restriction).
    let mut scans_from = vec![false; order.len() + 1];
    for k in (0..order.len()).rev() {
        let g = groups.get(order[k]).map_or(&[][..], |g| &g[..]);
        scans_from[k] = scans_from[k + 1] || (yields_rows(g) && scanning(g));
    }
    (order, scans_from)
}

/// Rows `0..n`, in array or bitmap containers, never run containers: complements
/// (`all − matches`) are taken from it, and roaring removes an array from a run
/// container one value at a time, each removal splitting a run (quadratic in the
/// number of matches: 10,000 negated conditions took seconds on a few thousand rows).
pub(super) fn all_rows(n: u32) -> RoaringBitmap {
    let mut b = RoaringBitmap::new();
    b.insert_range(0..n);
    b.remove_run_compression();
    b
}

/// The bitmap of a plain bitset (bit `i` of word `i / 64` is member `i`).
pub(super) fn from_words(words: &[u64]) -> RoaringBitmap {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    RoaringBitmap::from_lsb0_bytes(0, &bytes)
}

/// Sets bits `a..b` of a bitset (bits beyond its end are ignored).
pub(super) fn set_bits(words: &mut [u64], a: usize, b: usize) {
    let b = b.min(words.len() * 64);
    let mut i = a;
    while i < b {
        let (w, bit) = (i / 64, i % 64);
        let n = (64 - bit).min(b - i);
        let mask = if n == 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << bit
        };
        if let Some(word) = words.get_mut(w) {
            *word |= mask;
        }
        i += n;
    }
}

/// A group holding a positive action-level condition: it is decided on action rows.
fn yields_rows(g: &[Cond]) -> bool {
    g.iter()
        .any(|c| c.level() == Level::Action && !c.is_negative())
}

/// A string condition decided by testing dictionary values (not one exact lookup).
fn scans_dictionary(c: &Cond) -> bool {
    let text = matches!(
        c.dim.source,
        Source::VisitText(_)
            | Source::EventText(_)
            | Source::CustomText(_)
            | Source::ActionType
            | Source::ConversionType
    );
    text && !(c.op.positive() == Op::Eq && !c.fold_case && !c.dim.url)
}

/// Stored values compare as they are (action types are the exception: see
/// `Source::ActionType`).
fn as_stored(s: &str) -> Option<&str> {
    Some(s)
}

/// The positive text test of a condition on a stored value that is present.
struct TextTest<'c> {
    cond: &'c Cond,
    finder: Option<memchr::memmem::Finder<'c>>,
    /// The regex's search cache, owned by this test and dropped with it, so that a
    /// segment of thousands of regexes holds one lazy DFA at a time per thread.
    cache: Option<regex_automata::meta::Cache>,
}

impl<'c> TextTest<'c> {
    fn new(cond: &'c Cond) -> TextTest<'c> {
        let (finder, cache) = match &cond.operand {
            Operand::Text(v) => (Some(memchr::memmem::Finder::new(v.as_bytes())), None),
            Operand::Regex(re) => (None, Some(re.create_cache())),
            _ => (None, None),
        };
        TextTest {
            cond,
            finder,
            cache,
        }
    }

    /// Whether `stored` passes; `buf` is scratch space for case folding (reused, so
    /// a dictionary scan does not allocate per value).
    fn test(&mut self, stored: &str, buf: &mut String) -> bool {
        let c = self.cond;
        let v = match (&c.operand, &mut self.cache) {
            (Operand::Regex(re), Some(cache)) => {
                return re.is_match_with(cache, &regex_automata::Input::new(stored));
            }
            (Operand::Regex(re), None) => return re.is_match(stored),
            (Operand::Text(v), _) => v.as_str(),
            // Numbers never reach a text column (the compiler types them).
            _ => return false,
        };
        let s = if c.dim.url { strip_url(stored) } else { stored };
        let s = if c.fold_case {
            buf.clear();
            if s.is_ascii() {
                buf.push_str(s);
                buf.make_ascii_lowercase();
            } else {
                buf.push_str(&s.to_lowercase());
            }
            buf.as_str()
        } else {
            s
        };
        let order = c.dim.order;
        let cmp = || order.compare(s, v);
        match c.op.positive() {
            Op::Eq => s == v || cmp() == Some(std::cmp::Ordering::Equal),
            Op::Lt => cmp().is_some_and(|o| o.is_lt()),
            Op::Le => cmp().is_some_and(|o| o.is_le()),
            Op::Gt => cmp().is_some_and(|o| o.is_gt()),
            Op::Ge => cmp().is_some_and(|o| o.is_ge()),
            Op::Contains => self
                .finder
                .as_ref()
                .is_some_and(|f| f.find(s.as_bytes()).is_some()),
            Op::StartsWith => s.starts_with(v),
            Op::EndsWith => s.ends_with(v),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::all_rows;
    use roaring::RoaringBitmap;

    #[test]
    fn all_rows_has_no_run_containers() {
        for n in [0, 1, 4096, 4097, 70_000, 200_000] {
            let all = all_rows(n);
            assert_eq!(all.len(), u64::from(n));
            assert_eq!(all.statistics().n_run_containers, 0, "{n} rows");
            // What the complements rely on: removing scattered values stays exact.
            let odd: RoaringBitmap = (1..n).step_by(2).collect();
            assert_eq!((all - &odd).len(), u64::from(n.div_ceil(2)));
        }
    }
}
