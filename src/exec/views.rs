//! The structures queries read besides the columns, as views over a part: the row
//! offsets as plain `u32` slices, the rank bitsets that name the visit owning an event
//! row and the visitor owning a visit, and the dense per-visit metrics with their
//! totals.
//!
//! A version 2 part holds all of them in its file, so the views borrow the mapped
//! bytes and a fresh process builds nothing. A version 1 part lacks some; they are then
//! built once, in exactly the layout a version 2 part stores, and kept in the part's
//! cache (`cache.rs`), so every analysis reads both versions through the same code.

use super::cache::{OwnedMetrics, OwnedSlices, Sums, kept};
use super::engine::PartEval;
use crate::error::Result;
use crate::schema::internal::{self, measure};
use crate::storage::format::{PackedRef, SliceSet};
use crate::storage::packed::{PackedView, pack};
use crate::storage::part_reader::NumView;
use crate::storage::rank::{RankBuf, RankView};

/// The summary metrics of every visit of a part, one dense packed column each.
#[derive(Clone, Copy)]
pub(super) struct Metrics<'a> {
    /// Action rows.
    pub actions: PackedView<'a>,
    /// Duration, seconds.
    pub duration: PackedView<'a>,
    /// `goal` and `ecommerceOrder` rows.
    pub conversions: PackedView<'a>,
    /// Revenue in units of `revenue_unit` millionths.
    pub revenue: PackedView<'a>,
    /// Millionths per unit of `revenue` (a power of ten).
    pub revenue_unit: i64,
    /// The metrics summed over every visit of the part.
    pub totals: Sums,
}

impl Metrics<'_> {
    /// The metrics of visit `v`: (actions, conversions, duration, revenue micros).
    #[inline]
    pub fn of(&self, v: usize) -> (i64, i64, i64, i64) {
        (
            self.actions.get(v),
            self.conversions.get(v),
            self.duration.get(v),
            self.revenue.get(v).saturating_mul(self.revenue_unit),
        )
    }
}

/// One metric of every visit as bit slices: value = `min + unit · Σ 2^i · bit_i`.
pub(super) struct Slices<'a> {
    /// Smallest value.
    pub min: i64,
    /// The power of ten factored out.
    pub unit: i64,
    /// Bitset of each bit, least significant first.
    pub bits: Vec<&'a [u64]>,
}

/// The metrics in `measure` order (actions, conversions, duration, revenue in
/// millionths, bounces), as bit slices.
pub(super) type MetricSlices<'a> = Vec<Slices<'a>>;

/// `values` as a `u32` slice when the part stores them so (offsets at width 32, from
/// 0) and the bytes lie aligned in memory: no copy.
fn as_u32s<'a>(bytes: &'a [u8], p: &PackedRef) -> Option<&'a [u32]> {
    if cfg!(target_endian = "big") || p.width != 32 || p.min != 0 {
        return None;
    }
    let n = p.len as usize;
    bytemuck::try_cast_slice::<u8, u32>(bytes.get(..n.checked_mul(4)?)?).ok()
}

impl<'a> PartEval<'a> {
    /// `n + 1` offsets `p`, clamped to `limit` and checked non-decreasing, as `u32`s:
    /// lent by the map when stored at width 32, else decoded once into `cell`.
    fn offsets(
        &self,
        p: &PackedRef,
        n: u32,
        limit: u32,
        cell: &'a std::sync::OnceLock<Vec<u32>>,
        what: &str,
    ) -> Result<&'a [u32]> {
        if let Some(v) = cell.get() {
            return Ok(v);
        }
        let bytes = self.r.section(p.section)?;
        if let Some(v) = as_u32s(bytes, p)
            && v.len() == n as usize + 1
            && v.first() == Some(&0)
            && v.last().is_some_and(|&l| l <= limit)
        {
            // Order is checked by `check`; a damaged, unordered table can only give
            // wrong rows, every lookup staying in bounds.
            return Ok(v);
        }
        kept(cell, || {
            let packed = self.r.packed(p)?;
            let v: Vec<u32> = packed
                .iter()
                .map(|x| x.clamp(0, i64::from(limit)) as u32)
                .collect();
            if v.len() != n as usize + 1 || v.windows(2).any(|w| w[0] > w[1]) {
                return Err(self.r.corrupt(format!("{what} offsets out of order")));
            }
            Ok(v)
        })
        .map(|v| v.as_slice())
    }

    /// Offsets of the visits' event rows (`visits + 1` entries).
    pub(super) fn visit_starts(&self) -> Result<&'a [u32]> {
        let p = self.r.meta().visit_events;
        self.offsets(&p, self.nv, self.ne, &self.cache.visit_starts, "visit")
    }

    /// Offsets of the visitors' visits (`visitors + 1` entries).
    pub(super) fn visitor_starts(&self) -> Result<&'a [u32]> {
        let p = self.r.meta().visitor_visits;
        let n = self.r.meta().visitors;
        self.offsets(&p, n, self.nv, &self.cache.visitor_starts, "visitor")
    }

    /// The visit owning each event row, as a rank bitset of visit starts.
    pub(super) fn row_visits(&self) -> Result<RankView<'a>> {
        if let Some(r) = self.r.meta().query.as_ref().and_then(|q| q.visit_firsts) {
            return self.r.rank(&r);
        }
        let starts = self.visit_starts()?;
        let buf = kept(&self.cache.visit_firsts, || {
            Ok(self.firsts(starts, self.nv, self.ne))
        })?;
        Ok(buf.view())
    }

    /// The visitor owning each visit, as a rank bitset of visitor starts.
    pub(super) fn visit_visitors(&self) -> Result<RankView<'a>> {
        if let Some(r) = self.r.meta().query.as_ref().and_then(|q| q.visitor_firsts) {
            return self.r.rank(&r);
        }
        let starts = self.visitor_starts()?;
        let n = self.r.meta().visitors;
        let buf = kept(&self.cache.visitor_firsts, || {
            Ok(self.firsts(starts, n, self.nv))
        })?;
        Ok(buf.view())
    }

    /// The rank bitset of `n` owners starting at `starts` over `len` rows.
    fn firsts(&self, starts: &[u32], n: u32, len: u32) -> RankBuf {
        RankBuf::from_offsets(
            n as usize,
            |i| starts.get(i).copied().unwrap_or(u32::MAX),
            len,
        )
    }

    /// A visit-level numeric column.
    fn visit_num(&self, name: &str) -> Result<NumView<'a>> {
        let body = self
            .r
            .visit_column(name)
            .ok_or_else(|| self.r.corrupt(format!("missing visit column {name}")))?;
        self.r.num(body, self.nv)
    }

    /// A dense integer visit column.
    fn dense(&self, name: &str) -> Result<PackedView<'a>> {
        self.visit_num(name)?
            .dense_ints()
            .ok_or_else(|| self.r.corrupt(format!("visit column {name} is not dense")))
    }

    /// The summary metrics of every visit of the part.
    pub(super) fn metrics(&self) -> Result<Metrics<'a>> {
        let actions = self.dense("actions")?;
        let duration = self.dense("visitDuration")?;
        if let Some(q) = &self.r.meta().query
            && self.r.visit_column(internal::REVENUE_SCALED).is_some()
        {
            let conversions = self.dense(internal::CONVERSIONS)?;
            let (revenue, scale) = self
                .visit_num(internal::REVENUE_SCALED)?
                .dense_scaled()
                .filter(|(_, s)| *s <= 6)
                .ok_or_else(|| self.r.corrupt("visit revenue column is not dense"))?;
            if q.measure_totals.len() != measure::COUNT {
                return Err(self.r.corrupt("query index: the metric totals are missing"));
            }
            let total = |k: usize| q.measure_totals.get(k).copied().unwrap_or(0);
            return Ok(Metrics {
                actions,
                duration,
                conversions,
                revenue,
                revenue_unit: 10i64.pow(6 - u32::from(scale)),
                totals: Sums {
                    actions: total(measure::ACTIONS),
                    conversions: total(measure::CONVERSIONS),
                    duration: total(measure::DURATION),
                    revenue_micros: total(measure::REVENUE_MICROS),
                    bounces: total(measure::BOUNCES).clamp(0, i128::from(u64::MAX)) as u64,
                },
            });
        }
        let owned = kept(&self.cache.metrics, || {
            self.owned_metrics(&actions, &duration)
        })?;
        let view = |(bytes, p): &'a (Vec<u8>, PackedRef)| {
            PackedView::new(bytes, p).ok_or_else(|| self.r.corrupt("metric column"))
        };
        Ok(Metrics {
            actions,
            duration,
            conversions: view(&owned.conversions)?,
            revenue: view(&owned.revenue)?,
            revenue_unit: 1,
            totals: owned.totals,
        })
    }

    /// The bit slices of measure `k` alone (only its planes are read and verified):
    /// lent from the map (version 2), else one of [`Self::slices`].
    pub(super) fn measure_slices(&self, k: usize) -> Result<Option<Slices<'a>>> {
        if let Some(q) = &self.r.meta().query
            && q.measure_slices.len() == measure::COUNT
            && self.cache.slices.get().is_none()
            && let Some(set) = q.measure_slices.get(k)
            && let Some(lent) = self.lend(set)?
        {
            return Ok(Some(lent));
        }
        Ok(self.slices()?.into_iter().nth(k))
    }

    /// The bit planes of one stored measure, lent from the map (`None` when one of them
    /// cannot be lent as words: the slices are then built from the columns).
    fn lend(&self, set: &SliceSet) -> Result<Option<Slices<'a>>> {
        let mut bits = Vec::with_capacity(set.bits.len());
        for &b in &set.bits {
            match self.r.words(b)? {
                Some(w) => bits.push(w),
                None => return Ok(None),
            }
        }
        Ok(Some(Slices {
            min: set.min,
            unit: set.unit,
            bits,
        }))
    }

    /// The metrics as bit slices: lent from the map (version 2), else built once from
    /// the metric columns.
    pub(super) fn slices(&self) -> Result<MetricSlices<'a>> {
        if let Some(q) = &self.r.meta().query
            && q.measure_slices.len() == measure::COUNT
            && self.cache.slices.get().is_none()
        {
            let mut out = Vec::with_capacity(measure::COUNT);
            for set in &q.measure_slices {
                match self.lend(set)? {
                    Some(lent) => out.push(lent),
                    None => break,
                }
            }
            if out.len() == measure::COUNT {
                return Ok(out);
            }
        }
        let owned = kept(&self.cache.slices, || {
            let m = self.metrics()?;
            let n = self.nv as usize;
            let mut cols: Vec<Vec<i64>> =
                (0..measure::COUNT).map(|_| Vec::with_capacity(n)).collect();
            for v in 0..n {
                let (a, c, d, r) = m.of(v);
                for (k, x) in [
                    (measure::ACTIONS, a),
                    (measure::CONVERSIONS, c),
                    (measure::DURATION, d),
                    (measure::REVENUE_MICROS, r),
                    (measure::BOUNCES, i64::from(a == 1)),
                ] {
                    if let Some(col) = cols.get_mut(k) {
                        col.push(x);
                    }
                }
            }
            Ok(cols.iter().map(|c| owned_slices(c)).collect())
        })?;
        Ok(owned
            .iter()
            .map(|s| Slices {
                min: s.min,
                unit: s.unit,
                bits: s.bits.iter().map(|b| b.as_slice()).collect(),
            })
            .collect())
    }

    /// A version 1 part's sparse conversion and revenue columns made dense, and the
    /// totals of every metric.
    fn owned_metrics(
        &self,
        actions: &PackedView<'_>,
        duration: &PackedView<'_>,
    ) -> Result<OwnedMetrics> {
        let n = self.nv as usize;
        let dense = |name: &str| -> Result<Vec<i64>> {
            let col = self.visit_num(name)?;
            let mut out = vec![0i64; n];
            for (row, v) in col.iter_int() {
                if let Some(slot) = out.get_mut(row as usize) {
                    *slot = v;
                }
            }
            Ok(out)
        };
        let conversions = dense(internal::CONVERSIONS)?;
        let revenue = dense(internal::REVENUE)?;
        let mut totals = Sums::default();
        for v in 0..n {
            let a = actions.get(v);
            totals.actions += i128::from(a);
            totals.duration += i128::from(duration.get(v));
            totals.bounces += u64::from(a == 1);
        }
        totals.conversions = conversions.iter().map(|&x| i128::from(x)).sum();
        totals.revenue_micros = revenue.iter().map(|&x| i128::from(x)).sum();
        let packed = |values: &[i64]| {
            let (min, width, bytes) = pack(values);
            let p = PackedRef {
                section: 0,
                len: values.len() as u32,
                width,
                min,
            };
            (bytes, p)
        };
        Ok(OwnedMetrics {
            conversions: packed(&conversions),
            revenue: packed(&revenue),
            totals,
        })
    }
}

/// `values` as bit slices in memory, laid out as a version 2 part stores them.
fn owned_slices(values: &[i64]) -> OwnedSlices {
    let (min, unit, bits) = crate::storage::part_writer::bit_slices(values);
    OwnedSlices { min, unit, bits }
}

/// Checks what a version 2 part's query index derives from its columns against the
/// columns (what `check` adds to the checksums): the metric totals, every metric's bit
/// slices visit by visit, every per-value summary's measures, and the conversion row
/// set against the row types. A version 1 part has nothing to check here.
pub(crate) fn verify_query_index(lp: &super::LivePart) -> Result<()> {
    let eval = PartEval::new(lp);
    let r = eval.r;
    let Some(q) = &r.meta().query else {
        return Ok(());
    };
    let bad = |what: String| r.corrupt(format!("query index: {what}"));
    let m = eval.metrics()?;
    let n = eval.nv as usize;
    let mut cols: Vec<Vec<i64>> = (0..measure::COUNT).map(|_| Vec::with_capacity(n)).collect();
    for v in 0..n {
        let (a, c, d, rev) = m.of(v);
        for (k, x) in [
            (measure::ACTIONS, a),
            (measure::CONVERSIONS, c),
            (measure::DURATION, d),
        ]
        .into_iter()
        .chain([
            (measure::REVENUE_MICROS, rev),
            (measure::BOUNCES, i64::from(a == 1)),
        ]) {
            if let Some(col) = cols.get_mut(k) {
                col.push(x);
            }
        }
    }
    for (k, col) in cols.iter().enumerate() {
        let total: i128 = col.iter().map(|&x| i128::from(x)).sum();
        if q.measure_totals.get(k) != Some(&total) {
            return Err(bad(format!(
                "the total of measure {k} disagrees with the columns"
            )));
        }
    }
    let slices = eval.slices()?;
    for (k, (s, col)) in slices.iter().zip(&cols).enumerate() {
        let (min, unit, planes) = crate::storage::part_writer::bit_slices(col);
        let same = s.min == min
            && s.unit == unit
            && s.bits.len() == planes.len()
            && s.bits.iter().zip(&planes).all(|(a, b)| *a == b.as_slice());
        if !same {
            return Err(bad(format!(
                "the slices of measure {k} disagree with the columns"
            )));
        }
    }
    for sums in &q.summaries {
        let (Some(view), Some(body)) = (
            r.value_summaries(&sums.column)?,
            r.visit_column(&sums.column),
        ) else {
            return Err(bad(format!(
                "summaries of {} without their column",
                sums.column
            )));
        };
        let cv = r.cat(body, eval.nv)?;
        for (entry, rec) in view.iter() {
            let visits = cv
                .index
                .bitmap(entry as usize)
                .map_err(|e| bad(format!("summaries of {}: {e}", sums.column)))?;
            for (k, col) in cols.iter().enumerate() {
                let want: i128 = visits
                    .iter()
                    .map(|v| i128::from(col.get(v as usize).copied().unwrap_or(0)))
                    .sum();
                if i128::from(rec.measure(k)) != want {
                    return Err(bad(format!(
                        "summary of {} entry {entry} disagrees with the columns",
                        sums.column
                    )));
                }
            }
        }
    }
    if let Some(conv) = r.row_set(internal::CONVERSION_ROWS)? {
        let types = r.cat(
            r.event_column(internal::TYPE)
                .ok_or_else(|| r.corrupt("missing event column type"))?,
            eval.ne,
        )?;
        for row in 0..eval.ne {
            let kind = r
                .text(&types, row as usize)?
                .and_then(crate::event::EventType::from_name);
            if kind.is_some_and(|k| k.is_conversion()) != conv.contains(row) {
                return Err(bad(format!(
                    "the conversion rows disagree with the types at row {row}"
                )));
            }
        }
    }
    Ok(())
}
