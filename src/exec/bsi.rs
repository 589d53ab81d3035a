//! Bit-sliced index over the ranks of a numeric column.
//!
//! Every distinct value of the column gets its rank in sorted order; bit `i` of every
//! row's rank is stored as bitmap `slices[i]`. A range predicate `lo ≤ x ≤ hi` becomes a
//! rank interval (binary search over the distinct values, so integers, scaled decimals
//! and raw floats all compare exactly) and is answered with about `2 × bits` bitmap
//! operations (O'Neil and Quass, "Improved query performance with variant indexes",
//! 1997), never a row scan. Built once per part and column, in memory, when a part's
//! column has served a few conditions ([`Numbers`]).

use std::ops::Bound;

use roaring::RoaringBitmap;

use crate::storage::part_reader::NumView;

/// A bit-sliced index of one numeric column of one part.
#[derive(Debug, Default)]
pub struct Bsi {
    /// Distinct values, ascending.
    keys: Vec<f64>,
    /// `slices[i]`: rows whose rank has bit `i` set.
    slices: Vec<RoaringBitmap>,
    /// Rows that have a value.
    present: RoaringBitmap,
}

impl Bsi {
    /// Builds the index from `(row, value)` pairs in ascending row order. NaN values are
    /// treated as absent.
    pub fn build(values: impl Iterator<Item = (u32, f64)>) -> Bsi {
        let pairs: Vec<(u32, f64)> = values.filter(|(_, v)| !v.is_nan()).collect();
        let mut keys: Vec<f64> = pairs.iter().map(|(_, v)| *v).collect();
        keys.sort_by(f64::total_cmp);
        // -0.0 and 0.0 are one value.
        keys.dedup_by(|a, b| a == b);
        let bits = usize::BITS - keys.len().saturating_sub(1).leading_zeros();
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); bits as usize];
        let mut present = Vec::with_capacity(pairs.len());
        for &(row, v) in &pairs {
            let rank = keys.partition_point(|k| *k < v);
            for (i, r) in rows.iter_mut().enumerate() {
                if rank >> i & 1 == 1 {
                    r.push(row);
                }
            }
            present.push(row);
        }
        let from = |v: Vec<u32>| RoaringBitmap::from_sorted_iter(v).unwrap_or_default();
        Bsi {
            keys,
            slices: rows.into_iter().map(from).collect(),
            present: from(present),
        }
    }

    /// Number of distinct values.
    #[cfg(test)]
    pub fn distinct(&self) -> usize {
        self.keys.len()
    }

    /// Rows whose value lies within the bounds.
    pub fn range(&self, lo: Bound<f64>, hi: Bound<f64>) -> RoaringBitmap {
        let first = match lo {
            Bound::Unbounded => 0,
            Bound::Included(v) => self.keys.partition_point(|k| *k < v),
            Bound::Excluded(v) => self.keys.partition_point(|k| *k <= v),
        };
        let end = match hi {
            Bound::Unbounded => self.keys.len(),
            Bound::Included(v) => self.keys.partition_point(|k| *k <= v),
            Bound::Excluded(v) => self.keys.partition_point(|k| *k < v),
        };
        if first >= end {
            return RoaringBitmap::new();
        }
        match (first == 0, end == self.keys.len()) {
            (true, true) => self.present.clone(),
            (true, false) => self.at_most(end as u64 - 1),
            (false, true) => self.at_least(first as u64),
            (false, false) => self.at_least(first as u64) & self.at_most(end as u64 - 1),
        }
    }

    /// Rows whose rank is ≤ `c`.
    fn at_most(&self, c: u64) -> RoaringBitmap {
        let mut lt = RoaringBitmap::new();
        let mut eq = self.present.clone();
        for (i, slice) in self.slices.iter().enumerate().rev() {
            if c >> i & 1 == 1 {
                lt |= &eq - slice;
                eq &= slice;
            } else {
                eq -= slice;
            }
        }
        lt | eq
    }

    /// Rows whose rank is ≥ `c`.
    fn at_least(&self, c: u64) -> RoaringBitmap {
        let mut gt = RoaringBitmap::new();
        let mut eq = self.present.clone();
        for (i, slice) in self.slices.iter().enumerate().rev() {
            if c >> i & 1 == 1 {
                eq &= slice;
            } else {
                gt |= &eq & slice;
                eq -= slice;
            }
        }
        gt | eq
    }
}

/// A numeric column as a condition reads it: through its bit-sliced index once the part
/// has one, or by a pass over the mapped column (what a process asking once does: a
/// pass costs a fraction of building the index).
pub(crate) enum Numbers<'a> {
    /// The column's index.
    Index(std::sync::Arc<Bsi>),
    /// The column itself (`None`: the part has no such column).
    Scan(Option<NumView<'a>>),
}

impl Numbers<'_> {
    /// Rows that have a (non-NaN) value.
    pub fn present(&self) -> RoaringBitmap {
        match self {
            Numbers::Index(b) => b.present.clone(),
            Numbers::Scan(col) => scan(col, |_| true),
        }
    }

    /// Rows whose value lies within the bounds (as [`Bsi::range`]).
    pub fn range(&self, lo: Bound<f64>, hi: Bound<f64>) -> RoaringBitmap {
        match self {
            Numbers::Index(b) => b.range(lo, hi),
            Numbers::Scan(col) => scan(col, |x| within(x, lo, hi)),
        }
    }
}

/// Rows of `col` with a non-NaN value that passes `keep`.
fn scan(col: &Option<NumView<'_>>, keep: impl Fn(f64) -> bool) -> RoaringBitmap {
    let Some(col) = col else {
        return RoaringBitmap::new();
    };
    if let Some(dense) = col.dense_ints() {
        // One value per row: decode 64 at a time into a bit vector.
        let min = i128::from(dense.min());
        let mut words = Vec::with_capacity(dense.len().div_ceil(64));
        dense.for_each_chunk(|_, raw| {
            let mut w = 0u64;
            for (j, &x) in raw.iter().enumerate() {
                // Values are `i64`s (as `Bsi::build` sees them through `iter_num`).
                let v = (min + i128::from(x)) as i64;
                w |= u64::from(keep(v as f64)) << j;
            }
            words.push(w);
        });
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        return RoaringBitmap::from_lsb0_bytes(0, &bytes);
    }
    let rows = col
        .iter_num()
        .filter(|&(_, x)| !x.is_nan() && keep(x))
        .map(|(r, _)| r);
    RoaringBitmap::from_sorted_iter(rows).unwrap_or_default()
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
    use proptest::prelude::*;

    fn bound(kind: u8, v: f64) -> Bound<f64> {
        match kind % 3 {
            0 => Bound::Unbounded,
            1 => Bound::Included(v),
            _ => Bound::Excluded(v),
        }
    }

    fn inside(x: f64, lo: Bound<f64>, hi: Bound<f64>) -> bool {
        let a = match lo {
            Bound::Unbounded => true,
            Bound::Included(v) => x >= v,
            Bound::Excluded(v) => x > v,
        };
        let b = match hi {
            Bound::Unbounded => true,
            Bound::Included(v) => x <= v,
            Bound::Excluded(v) => x < v,
        };
        a && b
    }

    proptest! {
        #[test]
        fn range_equals_a_scan(
            vals in prop::collection::vec(prop::option::of(-20i32..20), 0..300),
            lo in -22i32..22, hi in -22i32..22, lk in 0u8..3, hk in 0u8..3, half in any::<bool>(),
        ) {
            let scale = if half { 0.5 } else { 1.0 };
            let rows: Vec<(u32, f64)> = vals.iter().enumerate()
                .filter_map(|(r, v)| v.map(|v| (r as u32, v as f64 * scale))).collect();
            let bsi = Bsi::build(rows.iter().copied());
            let (lo, hi) = (bound(lk, lo as f64 * scale), bound(hk, hi as f64 * scale));
            let want: Vec<u32> = rows.iter().filter(|(_, x)| inside(*x, lo, hi)).map(|(r, _)| *r).collect();
            let got: Vec<u32> = bsi.range(lo, hi).iter().collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn empty_and_single_value() {
        let b = Bsi::build(std::iter::empty());
        assert!(b.range(Bound::Unbounded, Bound::Unbounded).is_empty());
        let b = Bsi::build([(3, 7.0), (5, 7.0), (9, f64::NAN)].into_iter());
        assert_eq!(b.distinct(), 1);
        let all: Vec<u32> = b
            .range(Bound::Included(7.0), Bound::Included(7.0))
            .iter()
            .collect();
        assert_eq!(all, [3, 5]);
        assert!(b.range(Bound::Excluded(7.0), Bound::Unbounded).is_empty());
    }
}
