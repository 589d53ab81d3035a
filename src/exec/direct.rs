//! Summaries read straight from a part's mapped columns, without the summary index.
//!
//! The summary index (`cache::SummaryIndex`: per-visit metrics and their bit slices)
//! makes repeated summaries of large selections cost a few dozen intersection counts,
//! but building it reads every visit of the part — most of a fresh process's time on a
//! large database. A process that asks one question (a `sightline query`, a script, an
//! application that opens the database per request) is better served by reading the
//! packed columns of the mapped part directly: the selected visits' values one by one
//! for a sparse selection, or whole 64-row chunks of every column against a bit vector
//! of the selection for a dense one. Either way nothing is built that outlives the
//! query, and the cost follows the selection, not the part, for selective questions.
//! `summarize_part` uses this until a part has served a few summaries, then builds the
//! index once.

use roaring::RoaringBitmap;

use super::cache::Sums;
use super::engine::owner_visit;
use super::part::LivePart;
use crate::error::Result;
use crate::schema::internal;
use crate::storage::packed::PackedView;
use crate::storage::part_reader::{NumView, PartReader};

/// A selection of fewer than 1/`SPARSE_RATIO` of the part's visits is read visit by
/// visit; a larger one chunk by chunk.
const SPARSE_RATIO: u64 = 8;

/// Distinct visitors (0 unless `visitors`) and summary metrics of the visits `sel` of
/// part `lp`, read from its columns.
pub(super) fn summarize(lp: &LivePart, sel: &RoaringBitmap, visitors: bool) -> Result<(u64, Sums)> {
    let r: &PartReader = &lp.reader;
    let nv = r.meta().visits;
    if sel.max().is_some_and(|m| m >= nv) {
        return Err(r.corrupt("selected visit beyond the visit table"));
    }
    let col = |name: &str| -> Result<NumView<'_>> {
        let body = r
            .visit_column(name)
            .ok_or_else(|| r.corrupt(format!("missing visit column {name}")))?;
        r.num(body, nv)
    };
    let (actions, duration) = (col("actions")?, col("visitDuration")?);
    let (conversions, revenue) = (col(internal::CONVERSIONS)?, col(internal::REVENUE)?);
    if sel.is_empty() {
        return Ok((0, Sums::default()));
    }
    let selection = Selected::new(sel, nv);
    let a = selection.sum(&actions, true);
    let s = Sums {
        actions: a.total,
        bounces: a.ones,
        duration: selection.sum(&duration, false).total,
        conversions: selection.sum(&conversions, true).total,
        revenue_micros: selection.sum(&revenue, false).total,
    };
    if !visitors {
        return Ok((0, s));
    }
    let offsets = r.packed(&r.meta().visitor_visits)?;
    Ok((distinct_visitors(sel, &offsets), s))
}

/// True when `sel` is read visit by visit (fewer than 1/[`SPARSE_RATIO`] of `rows`).
pub(super) fn is_sparse(sel: &RoaringBitmap, rows: u32) -> bool {
    sel.len() * SPARSE_RATIO < u64::from(rows)
}

/// A selection as the column readers want it: its rows, and a bit per visit row for
/// membership tests (cheap to make: one pass over the selection).
struct Selected<'a> {
    sel: &'a RoaringBitmap,
    bits: Vec<u64>,
    sparse: bool,
}

impl<'a> Selected<'a> {
    fn new(sel: &'a RoaringBitmap, rows: u32) -> Selected<'a> {
        let mut bits = vec![0u64; (rows as usize).div_ceil(64)];
        let mut buf = [0u32; 256];
        let mut it = sel.iter();
        loop {
            let batch = it.next_many(&mut buf);
            if batch.is_empty() {
                break;
            }
            for &v in batch.iter() {
                if let Some(w) = bits.get_mut(v as usize / 64) {
                    *w |= 1 << (v % 64);
                }
            }
        }
        Selected {
            sel,
            bits,
            sparse: is_sparse(sel, rows),
        }
    }

    fn contains(&self, row: u32) -> bool {
        self.bits
            .get(row as usize / 64)
            .is_some_and(|w| w >> (row % 64) & 1 == 1)
    }

    /// The sum of `col` over the selected rows, and how many of them hold exactly 1
    /// (rows without a value count as 0). With `counts`, each value is first clamped to
    /// `0..=u32::MAX`, as the summary index stores per-visit counts.
    fn sum(&self, col: &NumView<'_>, counts: bool) -> ColumnSum {
        let mut out = ColumnSum {
            counts,
            ..ColumnSum::default()
        };
        let Some(dense) = col.dense_ints() else {
            if self.sel.len() * 4 < col.stored() as u64 {
                // A sparse column, fewer rows selected than it has values: look each
                // selected row up (a rank in its presence bitmap).
                for row in self.sel.iter() {
                    if let Some(v) = col.int(row as usize) {
                        out.add(v);
                    }
                }
                return out;
            }
            // Its present rows, tested against the selection.
            for (row, v) in col.iter_int() {
                if self.contains(row) {
                    out.add(v);
                }
            }
            return out;
        };
        if self.sparse {
            // Few rows: read them one by one (taken from the selection in batches).
            let (mut it, mut buf) = (self.sel.iter(), [0u32; 256]);
            loop {
                let batch = it.next_many(&mut buf);
                if batch.is_empty() {
                    return out;
                }
                for &row in batch.iter() {
                    out.add(dense.get(row as usize));
                }
            }
        }
        // Many: decode whole chunks of 64 rows; a chunk selected whole is added up in
        // one tight loop, others row by row.
        let min = i128::from(dense.min());
        let one = 1 - min; // the raw value of 1 (may be out of range: then none)
        // Chunks added up whole: their raw values, and their rows (for `min`).
        let mut raw_sum: u128 = 0;
        let mut rows: u64 = 0;
        dense.for_each_chunk(|base, raw| {
            let word = self.bits.get(base / 64).copied().unwrap_or(0);
            let in_range = || {
                let top = raw.iter().copied().max().unwrap_or(0);
                min >= 0 && min + i128::from(top) <= i128::from(u32::MAX)
            };
            if word == u64::MAX && raw.len() == 64 && (!counts || in_range()) {
                raw_sum += raw.iter().map(|&x| u128::from(x)).sum::<u128>();
                out.ones += raw.iter().filter(|&&x| i128::from(x) == one).count() as u64;
                rows += 64;
                return;
            }
            let mut word = word;
            while word != 0 {
                let j = word.trailing_zeros() as usize;
                if let Some(&x) = raw.get(j) {
                    out.add((min + i128::from(x)) as i64);
                }
                word &= word - 1;
            }
        });
        out.total += min * i128::from(rows) + raw_sum as i128;
        out
    }
}

/// A column added up over a selection.
#[derive(Debug, Default, Clone, Copy)]
struct ColumnSum {
    total: i128,
    /// Rows holding exactly 1.
    ones: u64,
    /// Values are counts: clamped to `0..=u32::MAX` first.
    counts: bool,
}

impl ColumnSum {
    fn add(&mut self, v: i64) {
        let v = if self.counts {
            v.clamp(0, i64::from(u32::MAX))
        } else {
            v
        };
        self.total += i128::from(v);
        self.ones += u64::from(v == 1);
    }
}

/// Visitors owning the visits `sel`, where visitor `v` owns visits
/// `offsets[v]..offsets[v + 1]`. The selection is walked run by run (a run of
/// consecutive visits `a..=b` holds exactly the visitors `owner(a)..=owner(b)`, since
/// every visitor has a visit), finding owners with the engine's galloping search.
fn distinct_visitors(sel: &RoaringBitmap, offsets: &PackedView<'_>) -> u64 {
    let visitors = offsets.len().saturating_sub(1);
    let (mut p, mut n, mut last) = (0usize, 0u64, usize::MAX);
    let mut it = sel.iter();
    while let Some(run) = it.next_range() {
        // The owner of visit `x` is the last visitor whose first visit is at or before
        // it (`visitors` past the table): the engine's galloping search over offsets.
        let start = |i: usize| offsets.get(i).clamp(0, i64::from(u32::MAX)) as u32;
        let first = owner_visit(offsets.len(), &start, p, *run.start());
        let end = owner_visit(offsets.len(), &start, first, *run.end());
        if end >= visitors {
            // Beyond the visit table (the caller checked): count what lies within.
            n += visitors.saturating_sub(first) as u64;
            break;
        }
        n += (end - first) as u64 + 1 - u64::from(first == last);
        (p, last) = (end, end);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::format::PackedRef;
    use crate::storage::packed::pack;
    use proptest::prelude::*;

    proptest! {
        /// The galloping walk counts what a plain owner table counts.
        #[test]
        fn distinct_visitors_match_an_owner_table(
            sizes in prop::collection::vec(1u32..6, 1..300),
            pick in prop::collection::vec(any::<bool>(), 1500),
        ) {
            let mut offsets = vec![0i64];
            let mut owner = Vec::new();
            for (v, &k) in sizes.iter().enumerate() {
                owner.extend(std::iter::repeat_n(v, k as usize));
                offsets.push(offsets.last().unwrap() + i64::from(k));
            }
            let sel: RoaringBitmap = (0..owner.len() as u32).filter(|&x| pick[x as usize]).collect();
            let (min, width, bytes) = pack(&offsets);
            let desc = PackedRef { section: 0, len: offsets.len() as u32, width, min };
            let view = PackedView::new(&bytes, &desc).unwrap();
            let mut want: Vec<usize> = sel.iter().map(|x| owner[x as usize]).collect();
            want.dedup();
            prop_assert_eq!(distinct_visitors(&sel, &view), want.len() as u64);
        }
    }
}
