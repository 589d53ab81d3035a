//! Numeric conditions, decided by one pass over the mapped column.
//!
//! A dense integer column (every visit-level number, `@start`, event offsets) is
//! unpacked 64 values at a time by a loop specialised for its bit width
//! ([`PackedView::for_each_chunk`]) and each raw value is compared with the bounds
//! translated into the column's frame of reference, one unsigned comparison per value,
//! into a plain bitset. Sparse and decimal columns (`eventValue`, `revenue`, custom
//! numbers) are walked over their stored values only. Nothing is built per part, so a
//! fresh process pays what a warm one pays: a pass over a 225,000-visit column costs
//! tens of microseconds.

use std::ops::Bound;

use roaring::RoaringBitmap;

use crate::storage::packed::PackedView;
use crate::storage::part_reader::NumView;

/// Rows of `col` that have a (non-NaN) value (`None`: the part lacks the column).
pub(crate) fn present(col: Option<&NumView<'_>>, rows: u32) -> RoaringBitmap {
    let Some(col) = col else {
        return RoaringBitmap::new();
    };
    match col.presence() {
        Some(p) if col.is_integer() => p.clone(),
        None if col.is_integer() => super::engine::all_rows(rows),
        _ => collect(col.iter_num().filter(|(_, x)| !x.is_nan()).map(|(r, _)| r)),
    }
}

/// Rows of `col` whose value lies within the bounds.
pub(crate) fn range(col: Option<&NumView<'_>>, lo: Bound<f64>, hi: Bound<f64>) -> RoaringBitmap {
    let Some(col) = col else {
        return RoaringBitmap::new();
    };
    if let Some(dense) = col.dense_ints() {
        return dense_range(&dense, lo, hi);
    }
    if col.is_integer() {
        // Sparse integers: compare exactly as integers.
        let (a, b) = int_bounds(lo, hi);
        return collect(
            col.iter_int()
                .filter(|&(_, v)| a <= i128::from(v) && i128::from(v) <= b)
                .map(|(r, _)| r),
        );
    }
    collect(
        col.iter_num()
            .filter(|&(_, x)| !x.is_nan() && within(x, lo, hi))
            .map(|(r, _)| r),
    )
}

fn collect(rows: impl Iterator<Item = u32>) -> RoaringBitmap {
    RoaringBitmap::from_sorted_iter(rows).unwrap_or_default()
}

/// The integers `a..=b` whose value as an `f64` satisfies the bounds — the comparison
/// every numeric condition makes — found by binary search (`v as f64` is monotonic, so
/// each bound holds on an interval of `i64`s); empty when `a > b`.
fn int_bounds(lo: Bound<f64>, hi: Bound<f64>) -> (i128, i128) {
    // First `v` in i64 for which `holds` is true, `holds` false then true.
    let first_true = |holds: &dyn Fn(i64) -> bool| -> i128 {
        let (mut l, mut h) = (i128::from(i64::MIN), i128::from(i64::MAX) + 1);
        while l < h {
            let m = l + (h - l) / 2;
            if holds(m as i64) {
                h = m;
            } else {
                l = m + 1;
            }
        }
        l
    };
    let a = first_true(&|v| within(v as f64, lo, Bound::Unbounded));
    // Last `v` below: the first for which the upper bound fails, minus one.
    let b = first_true(&|v| !within(v as f64, Bound::Unbounded, hi)) - 1;
    (a, b)
}

/// Rows of a dense integer column within the bounds: the bounds become an interval of
/// raw (offset) values, tested with one unsigned comparison per value.
fn dense_range(col: &PackedView<'_>, lo: Bound<f64>, hi: Bound<f64>) -> RoaringBitmap {
    let (a, b) = int_bounds(lo, hi);
    let min = i128::from(col.min());
    let (ra, rb) = ((a - min).max(0), (b - min).min(i128::from(u64::MAX)));
    if ra > rb || col.is_empty() {
        return RoaringBitmap::new();
    }
    let (ra, span) = (ra as u64, (rb - ra) as u64);
    let mut words = vec![0u64; col.len().div_ceil(64)];
    // Byte-aligned widths (every visit-level number of a version 2 part): whole bytes
    // compared by a vectorised kernel. The raw values fit the width, so clamping the
    // interval to it changes nothing.
    let top = |bits: u32| (1u64 << bits) - 1;
    let byte_kernel = |bits: u32| ra <= top(bits);
    match col.width() {
        8 if byte_kernel(8) => {
            let s = span.min(top(8) - ra);
            super::kernels::in_range_u8(col.bytes(), col.len(), ra as u8, s as u8, &mut words);
            return super::engine::from_words(&words);
        }
        16 if byte_kernel(16) => {
            let s = span.min(top(16) - ra);
            super::kernels::in_range_u16(col.bytes(), col.len(), ra as u16, s as u16, &mut words);
            return super::engine::from_words(&words);
        }
        32 if byte_kernel(32) => {
            let s = span.min(top(32) - ra);
            super::kernels::in_range_u32(col.bytes(), col.len(), ra as u32, s as u32, &mut words);
            return super::engine::from_words(&words);
        }
        8 | 16 | 32 => return RoaringBitmap::new(),
        _ => {}
    }
    col.for_each_chunk(|base, raw| {
        let mut w = 0u64;
        for (j, &x) in raw.iter().enumerate() {
            w |= u64::from(x.wrapping_sub(ra) <= span) << j;
        }
        if let Some(slot) = words.get_mut(base / 64) {
            *slot = w;
        }
    });
    super::engine::from_words(&words)
}

/// Marks in `words` (a bitset over the column's rows, zeroed) the rows whose raw value
/// lies in one of `runs` (inclusive), when the column is byte-aligned (8, 16 or 32
/// bits); returns false, leaving `words` untouched, for other widths.
pub(crate) fn ranges_into(col: &PackedView<'_>, runs: &[(u64, u64)], words: &mut [u64]) -> bool {
    let top = match col.width() {
        8 => u64::from(u8::MAX),
        16 => u64::from(u16::MAX),
        32 => u64::from(u32::MAX),
        _ => return false,
    };
    let mut part = vec![0u64; words.len()];
    for &(lo, hi) in runs {
        if lo > top {
            continue;
        }
        let span = hi.min(top) - lo;
        let (b, n) = (col.bytes(), col.len());
        match col.width() {
            8 => super::kernels::in_range_u8(b, n, lo as u8, span as u8, &mut part),
            16 => super::kernels::in_range_u16(b, n, lo as u16, span as u16, &mut part),
            _ => super::kernels::in_range_u32(b, n, lo as u32, span as u32, &mut part),
        }
        for (w, p) in words.iter_mut().zip(&part) {
            *w |= p;
        }
    }
    true
}

/// Whether `x` lies within the bounds.
pub(crate) fn within(x: f64, lo: Bound<f64>, hi: Bound<f64>) -> bool {
    let above = match lo {
        Bound::Unbounded => true,
        Bound::Included(v) => x >= v,
        Bound::Excluded(v) => x > v,
    };
    let below = match hi {
        Bound::Unbounded => true,
        Bound::Included(v) => x <= v,
        Bound::Excluded(v) => x < v,
    };
    above && below
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::format::PackedRef;
    use crate::storage::packed::pack;
    use proptest::prelude::*;

    fn bound(kind: u8, v: f64) -> Bound<f64> {
        match kind % 3 {
            0 => Bound::Unbounded,
            1 => Bound::Included(v),
            _ => Bound::Excluded(v),
        }
    }

    proptest! {
        /// The raw-interval scan selects what comparing each value does.
        #[test]
        fn dense_range_equals_comparisons(
            vals in prop::collection::vec(-300i64..300, 0..400),
            lo in -320.0f64..320.0, hi in -320.0f64..320.0, lk in 0u8..3, hk in 0u8..3,
            whole in any::<bool>(),
        ) {
            let (lo, hi) = if whole { (lo.round(), hi.round()) } else { (lo, hi) };
            let (lo, hi) = (bound(lk, lo), bound(hk, hi));
            let (min, width, bytes) = pack(&vals);
            let desc = PackedRef { section: 0, len: vals.len() as u32, width, min };
            let view = PackedView::new(&bytes, &desc).unwrap();
            let want: Vec<u32> = vals.iter().enumerate()
                .filter(|(_, v)| within(**v as f64, lo, hi)).map(|(r, _)| r as u32).collect();
            let got: Vec<u32> = dense_range(&view, lo, hi).iter().collect();
            prop_assert_eq!(got, want);
        }
    }

    proptest! {
        /// On byte-aligned widths (the vectorised kernels), ranges and id runs select
        /// what comparing each value does.
        #[test]
        fn aligned_widths_equal_comparisons(
            vals in prop::collection::vec(0u32..70_000, 0..500),
            width in prop::sample::select(vec![8u8, 16, 32]),
            lo in 0u64..300, span in 0u64..300, lo2 in 0u64..70_000,
        ) {
            let top = (1u64 << width) - 1;
            let vals: Vec<u64> = vals.iter().map(|&v| u64::from(v) & top).collect();
            let bytes = crate::storage::packed::pack_with(vals.iter().copied(), vals.len(), width);
            let desc = PackedRef { section: 0, len: vals.len() as u32, width, min: 0 };
            let view = PackedView::new(&bytes, &desc).unwrap();
            let (lo, hi) = (lo as f64, (lo + span) as f64);
            let want: Vec<u32> = vals.iter().enumerate()
                .filter(|(_, v)| within(**v as f64, Bound::Included(lo), Bound::Included(hi)))
                .map(|(r, _)| r as u32).collect();
            let got: Vec<u32> = dense_range(&view, Bound::Included(lo), Bound::Included(hi)).iter().collect();
            prop_assert_eq!(got, want);
            let runs = [(lo as u64, (lo as u64) + span), (lo2, lo2 + 3)];
            let mut words = vec![0u64; vals.len().div_ceil(64)];
            prop_assert!(ranges_into(&view, &runs, &mut words));
            let want: Vec<u32> = vals.iter().enumerate()
                .filter(|(_, v)| runs.iter().any(|&(a, b)| (a..=b).contains(*v)))
                .map(|(r, _)| r as u32).collect();
            let got: Vec<u32> = super::super::engine::from_words(&words).iter().collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn extreme_bounds() {
        let vals = [i64::MIN, -1, 0, 1, i64::MAX];
        let (min, width, bytes) = pack(&vals);
        let desc = PackedRef {
            section: 0,
            len: 5,
            width,
            min,
        };
        let view = PackedView::new(&bytes, &desc).unwrap();
        let got = |lo, hi| dense_range(&view, lo, hi).iter().collect::<Vec<_>>();
        assert_eq!(got(Bound::Unbounded, Bound::Unbounded), [0, 1, 2, 3, 4]);
        assert_eq!(
            got(Bound::Excluded(1e300), Bound::Unbounded),
            Vec::<u32>::new()
        );
        assert_eq!(got(Bound::Included(-0.5), Bound::Included(0.5)), [2]);
        assert_eq!(
            got(Bound::Unbounded, Bound::Excluded(f64::NAN)),
            Vec::<u32>::new()
        );
    }
}
