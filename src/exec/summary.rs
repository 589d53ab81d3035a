//! The summary of a set of visits of one part, read straight from the mapped part.
//!
//! Nothing is built per part:
//!
//! - a set of fewer than 1/[`SPARSE_RATIO`] of the visits is read visit by visit from
//!   the dense metric columns ([`Metrics`]), and its distinct visitors counted run by
//!   run (a run of consecutive selected visits `a..=b` holds exactly the visitors
//!   `owner(a)..=owner(b)`, each owner one rank lookup);
//! - a larger one becomes a bitset, and each metric is summed from its bit slices kept
//!   in the part, `|S|·min + unit · Σ 2^i · |S ∩ slice_i|`: a few dozen vectorised
//!   AND-and-count passes over words (`kernels.rs`); distinct visitors are counted word
//!   by word against the bitset of visitor starts (`kernels::owners_hit`).

use roaring::RoaringBitmap;

use super::cache::Sums;
use super::engine::PartEval;
use super::kernels;
use super::views::{MetricSlices, Metrics};
use crate::error::Result;
use crate::schema::internal::measure;
use crate::storage::rank::RankView;

/// A set of fewer than 1/`SPARSE_RATIO` of the part's visits is read visit by visit
/// (measured on the `full` benchmark database: below about 1/100 of the visits, reading
/// them costs less than the ~40 AND-and-count passes of the slices).
const SPARSE_RATIO: u64 = 100;

/// Distinct visitors (0 unless `visitors`) and the metrics of the visits `sel`.
pub(super) fn summarize(
    eval: &PartEval<'_>,
    sel: &RoaringBitmap,
    visitors: bool,
) -> Result<(u64, Sums)> {
    let nv = eval.nv;
    if sel.max().is_some_and(|m| m >= nv) {
        return Err(eval.r.corrupt("selected visit beyond the visit table"));
    }
    if sel.is_empty() {
        return Ok((0, Sums::default()));
    }
    let owners = eval.visit_visitors()?;
    if sel.len() == u64::from(nv) {
        // Every visit: the part's totals, and all its visitors.
        return Ok((u64::from(eval.r.meta().visitors), eval.metrics()?.totals));
    }
    if is_sparse(sel, nv) {
        let sums = visit_by_visit(&eval.metrics()?, sel);
        let n = if visitors {
            distinct_visitors(&owners, sel)
        } else {
            0
        };
        return Ok((n, sums));
    }
    let words = bitset(sel, nv);
    let sums = sliced(&eval.slices()?, &words, sel.len());
    let n = match (visitors, owners.words()) {
        (false, _) => 0,
        (true, Some(firsts)) => kernels::owners_hit(&words, firsts),
        (true, None) => distinct_visitors(&owners, sel),
    };
    Ok((n, sums))
}

/// How many of the visits `sel` have a conversion (`visitConverted`): visit by visit
/// for a few, else the bitset against the OR of the conversion count's bit slices (a
/// visit converted when its count is above 0).
pub(super) fn converted(eval: &PartEval<'_>, sel: &RoaringBitmap) -> Result<u64> {
    let nv = eval.nv;
    if sel.max().is_some_and(|m| m >= nv) {
        return Err(eval.r.corrupt("selected visit beyond the visit table"));
    }
    if sel.is_empty() {
        return Ok(0);
    }
    if is_sparse(sel, nv) {
        let m = eval.metrics()?;
        return Ok(sel
            .iter()
            .filter(|&v| m.conversions.get(v as usize) > 0)
            .count() as u64);
    }
    let Some(s) = eval.measure_slices(measure::CONVERSIONS)? else {
        return Ok(0);
    };
    if s.min > 0 {
        return Ok(sel.len());
    }
    let words = bitset(sel, nv);
    let mut any = vec![0u64; words.len()];
    for plane in &s.bits {
        for (a, p) in any.iter_mut().zip(plane.iter()) {
            *a |= p;
        }
    }
    Ok(kernels::and_count(&words, &any))
}

/// Distinct visitors of the visits `sel` (all below the part's visit count).
pub(super) fn visitors(eval: &PartEval<'_>, sel: &RoaringBitmap) -> Result<u64> {
    let owners = eval.visit_visitors()?;
    if is_sparse(sel, eval.nv) {
        return Ok(distinct_visitors(&owners, sel));
    }
    Ok(match owners.words() {
        Some(firsts) => kernels::owners_hit(&bitset(sel, eval.nv), firsts),
        None => distinct_visitors(&owners, sel),
    })
}

/// Whether `sel` is read visit by visit (fewer than 1/[`SPARSE_RATIO`] of `nv`).
fn is_sparse(sel: &RoaringBitmap, nv: u32) -> bool {
    sel.len() * SPARSE_RATIO < u64::from(nv)
}

/// Adds up the visits of `set` one by one (taken from the set in batches).
fn visit_by_visit(m: &Metrics<'_>, set: &RoaringBitmap) -> Sums {
    let mut s = Sums::default();
    let (mut it, mut buf) = (set.iter(), [0u32; 256]);
    let (mut actions, mut conv, mut dur, mut rev) = (0i128, 0i128, 0i128, 0i128);
    loop {
        let batch = it.next_many(&mut buf);
        if batch.is_empty() {
            break;
        }
        for &v in batch.iter() {
            let (a, c, d, r) = m.of(v as usize);
            actions += i128::from(a);
            conv += i128::from(c);
            dur += i128::from(d);
            rev += i128::from(r);
            s.bounces += u64::from(a == 1);
        }
    }
    s.actions = actions;
    s.conversions = conv;
    s.duration = dur;
    s.revenue_micros = rev;
    s
}

/// `set` as a plain bitset of `nv` bits: run by run when runs are long (a dense set),
/// else member by member (walking runs of single members costs more).
pub(super) fn bitset(set: &RoaringBitmap, nv: u32) -> Vec<u64> {
    let mut words = vec![0u64; (nv as usize).div_ceil(64)];
    if set.len() * 4 > u64::from(nv) {
        let mut it = set.iter();
        while let Some(run) = it.next_range() {
            super::engine::set_bits(&mut words, *run.start() as usize, *run.end() as usize + 1);
        }
        return words;
    }
    let (mut it, mut buf) = (set.iter(), [0u32; 256]);
    loop {
        let batch = it.next_many(&mut buf);
        if batch.is_empty() {
            return words;
        }
        for &v in batch.iter() {
            if let Some(w) = words.get_mut(v as usize / 64) {
                *w |= 1 << (v % 64);
            }
        }
    }
}

/// The metrics of the `n` visits of the bitset `words`, from the bit slices.
fn sliced(slices: &MetricSlices<'_>, words: &[u64], n: u64) -> Sums {
    let sum = |k: usize| -> i128 {
        let Some(s) = slices.get(k) else { return 0 };
        let bits: i128 = s
            .bits
            .iter()
            .enumerate()
            .map(|(i, plane)| i128::from(kernels::and_count(words, plane)) << i)
            .sum();
        i128::from(n) * i128::from(s.min) + bits * i128::from(s.unit)
    };
    Sums {
        actions: sum(measure::ACTIONS),
        conversions: sum(measure::CONVERSIONS),
        duration: sum(measure::DURATION),
        revenue_micros: sum(measure::REVENUE_MICROS),
        bounces: sum(measure::BOUNCES).clamp(0, i128::from(u64::MAX)) as u64,
    }
}

/// Visitors owning the visits `sel`, `owners` marking each visitor's first visit: one
/// step per run of consecutive selected visits.
pub(super) fn distinct_visitors(owners: &RankView<'_>, sel: &RoaringBitmap) -> u64 {
    let (mut n, mut last) = (0u64, None);
    let mut it = sel.iter();
    while let Some(run) = it.next_range() {
        let (first, end) = (owners.owner(*run.start()), owners.owner(*run.end()));
        n += u64::from(end.saturating_sub(first)) + 1;
        if last == Some(first) {
            n -= 1;
        }
        last = Some(end);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::views::Slices;
    use crate::storage::format::PackedRef;
    use crate::storage::packed::{PackedView, pack};
    use crate::storage::part_writer::bit_slices;
    use crate::storage::rank::RankBuf;
    use proptest::prelude::*;

    fn view(values: &[i64]) -> (Vec<u8>, PackedRef) {
        let (min, width, bytes) = pack(values);
        let p = PackedRef {
            section: 0,
            len: values.len() as u32,
            width,
            min,
        };
        (bytes, p)
    }

    proptest! {
        /// Both ways of adding up agree with a plain sum, and both visitor counts with a
        /// plain owner table.
        #[test]
        fn sums_and_visitors_equal_plain_loops(
            visits in prop::collection::vec((0i64..6, 0i64..4, 0i64..5000, -3i64..3_000_000, 1u32..4), 1..700),
            pick in prop::collection::vec(any::<bool>(), 700),
            density in 0u32..4,
        ) {
            let col = |f: fn(&(i64, i64, i64, i64, u32)) -> i64| visits.iter().map(f).collect::<Vec<_>>();
            let (a, c, d, r) = (col(|v| v.0), col(|v| v.1), col(|v| v.2), col(|v| v.3 * 10_000));
            let bounce: Vec<i64> = a.iter().map(|&x| i64::from(x == 1)).collect();
            let (ab, ap) = view(&a);
            let (cb, cp) = view(&c);
            let (db, dp) = view(&d);
            let (rb, rp) = view(&col(|v| v.3));
            let nv = visits.len() as u32;
            let keep = |v: u32| match density { 0 => v.is_multiple_of(23), 1 => pick[v as usize], 2 => !v.is_multiple_of(5), _ => true };
            let sel: RoaringBitmap = (0..nv).filter(|&v| keep(v)).collect();
            let sum = |x: &[i64]| sel.iter().map(|v| i128::from(x[v as usize])).sum::<i128>();
            let m = Metrics {
                actions: PackedView::new(&ab, &ap).unwrap(),
                conversions: PackedView::new(&cb, &cp).unwrap(),
                duration: PackedView::new(&db, &dp).unwrap(),
                revenue: PackedView::new(&rb, &rp).unwrap(),
                revenue_unit: 10_000,
                totals: Sums::default(),
            };
            let want = Sums {
                actions: sum(&a), conversions: sum(&c), duration: sum(&d),
                revenue_micros: sum(&r),
                bounces: sum(&bounce) as u64,
            };
            prop_assert_eq!(visit_by_visit(&m, &sel), want);
            let planes: Vec<_> = [&a, &c, &d, &r, &bounce].iter().map(|x| bit_slices(x)).collect();
            let slices: MetricSlices<'_> = planes.iter().map(|(min, unit, bits)| Slices {
                min: *min, unit: *unit, bits: bits.iter().map(|b| b.as_slice()).collect(),
            }).collect();
            prop_assert_eq!(sliced(&slices, &bitset(&sel, nv), sel.len()), want);
            // Visitors: a new visitor every `.4` visits.
            let mut owner = Vec::new();
            let mut starts = Vec::new();
            let (mut i, mut u) = (0usize, 0u32);
            while i < visits.len() {
                starts.push(i as u32);
                for _ in 0..(visits[i].4 as usize).min(visits.len() - i) {
                    owner.push(u);
                    i += 1;
                }
                u += 1;
            }
            let ranks = RankBuf::from_offsets(starts.len(), |i| starts[i], nv);
            let mut want_v: Vec<u32> = sel.iter().map(|v| owner[v as usize]).collect();
            want_v.dedup();
            prop_assert_eq!(distinct_visitors(&ranks.view(), &sel), want_v.len() as u64);
            let firsts = ranks.view().words().unwrap();
            prop_assert_eq!(kernels::owners_hit(&bitset(&sel, nv), firsts), want_v.len() as u64);
        }
    }
}
