//! Per-part in-memory indexes derived on first use: row offsets, the action and
//! conversion row sets, and bit-sliced indexes of numeric columns.
//!
//! A part never changes, so nothing here is ever invalidated; the cache lives as long
//! as the part's reader (which snapshots share). Builders that fail (a damaged file)
//! cache nothing and report the corruption on every call.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use roaring::RoaringBitmap;

use super::bsi::Bsi;
use super::report::DenseGroups;
use crate::error::Result;

/// Lazily built indexes of one part.
#[derive(Default)]
pub(crate) struct PartCache {
    pub(super) visit_starts: OnceLock<Arc<Vec<u32>>>,
    pub(super) visitor_starts: OnceLock<Arc<Vec<u32>>>,
    /// First event row of each visitor (`visitors + 1` entries).
    pub(super) visitor_rows: OnceLock<Arc<Vec<u32>>>,
    pub(super) action_rows: OnceLock<Arc<RoaringBitmap>>,
    pub(super) conversion_rows: OnceLock<Arc<RoaringBitmap>>,
    pub(super) bsi: Mutex<HashMap<String, Arc<Bsi>>>,
    /// Conditions each numeric column answered without its index (`bsi::Numbers`).
    bsi_uses: Mutex<HashMap<String, u32>>,
    pub(super) summary: OnceLock<Arc<SummaryIndex>>,
    /// Projections made without decoding the visit offsets (`PartEval::project`).
    pub(super) direct_projections: std::sync::atomic::AtomicU32,
    /// Summaries served without the summary index (`direct.rs`).
    pub(super) direct_summaries: std::sync::atomic::AtomicU32,
    /// Numeric (and other computed) report keys per column: see `report::DenseGroups`.
    pub(super) groups: Mutex<HashMap<String, Arc<DenseGroups>>>,
    /// Decoded bitmap-index entries, by (index section, entry): see [`decoded`].
    decoded: Mutex<HashMap<(u32, u32), Arc<RoaringBitmap>>>,
    /// The live visits under the part's latest deletion set (by deletion file name;
    /// `None`: no deletions). Older snapshots' sets are recomputed when asked for.
    pub(super) live: Mutex<Option<(Option<String>, Arc<LiveVisits>)>>,
}

/// The visits of a part's live visitors (under one deletion set), and their metrics.
#[derive(Debug)]
pub(super) struct LiveVisits {
    pub visits: RoaringBitmap,
    /// Built on first use (a summary needs the part's summary index).
    pub sums: OnceLock<Sums>,
}

impl std::fmt::Debug for PartCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartCache").finish_non_exhaustive()
    }
}

/// Bytes of decoded index entries kept, over every part of the process. Entries are
/// kept first come, first kept, until the budget is spent (never evicted: a part's
/// entries live as long as the part), so memory stays bounded whatever is queried.
pub const DECODED_BUDGET: usize = 48 << 20;

static DECODED_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The visit columns a summary adds up, as bit slices: the sum of a column over a
/// selection is `|S|·min + Σ 2^i·|S ∩ slice_i|`, a few dozen intersection counts however
/// many visits are selected.
#[derive(Debug, Default)]
pub(super) struct SummaryIndex {
    /// Visitor ordinal of each visit.
    pub visitor: Vec<u32>,
    /// Action rows of each visit.
    pub actions: Slices,
    /// Duration of each visit, in seconds.
    pub duration: Slices,
    /// `goal` and `ecommerceOrder` rows of each visit.
    pub conversions: Slices,
    /// Their revenue, in millionths.
    pub revenue_micros: Slices,
    /// Visits with exactly one action.
    pub bounces: RoaringBitmap,
    /// The same metrics as plain per-visit arrays, for the analyses that visit rows one
    /// by one (reports, and summaries of few visits).
    pub per_visit: Vec<VisitMetrics>,
    /// The metrics summed over every visit.
    pub total: Sums,
}

/// Summary metrics added up over a set of visits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sums {
    pub actions: i128,
    pub conversions: i128,
    pub duration: i128,
    pub revenue_micros: i128,
    pub bounces: u64,
}

impl Sums {
    /// The metrics of the visits `rows` (positions in `per_visit`; others are ignored),
    /// one visit at a time: cheaper than the bit slices for a few visits.
    pub fn of(per_visit: &[VisitMetrics], rows: impl IntoIterator<Item = u32>) -> Sums {
        let mut s = Sums::default();
        for r in rows {
            if let Some(m) = per_visit.get(r as usize) {
                s.add(m);
            }
        }
        s
    }

    pub fn add(&mut self, m: &VisitMetrics) {
        self.actions += i128::from(m.actions);
        self.conversions += i128::from(m.conversions);
        self.duration += i128::from(m.duration);
        self.revenue_micros += i128::from(m.revenue_micros);
        self.bounces += u64::from(m.actions == 1);
    }

    /// `self` without `other` (a subset of the visits `self` adds up).
    pub fn minus(&self, other: &Sums) -> Sums {
        Sums {
            actions: self.actions - other.actions,
            conversions: self.conversions - other.conversions,
            duration: self.duration - other.duration,
            revenue_micros: self.revenue_micros - other.revenue_micros,
            bounces: self.bounces - other.bounces.min(self.bounces),
        }
    }
}

/// The summary metrics of one visit.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct VisitMetrics {
    /// Action rows.
    pub actions: u32,
    /// `goal` and `ecommerceOrder` rows.
    pub conversions: u32,
    /// Their revenue, in millionths.
    pub revenue_micros: i64,
    /// The visit's duration, in seconds.
    pub duration: i64,
}

/// An integer column as `min` plus `unit` times one bitmap per bit of
/// `(value - min) / unit`, where `unit` is the largest power of ten (up to 10⁶) dividing
/// every `value - min` (revenue in millionths of whole cents needs 13 bits fewer).
#[derive(Debug, Default)]
pub(super) struct Slices {
    min: i64,
    unit: i64,
    slices: Vec<RoaringBitmap>,
}

impl Slices {
    /// Slices of `values` (row = position).
    pub fn build(values: &[i64]) -> Slices {
        let min = values.iter().copied().min().unwrap_or(0);
        let max = values.iter().copied().max().unwrap_or(0);
        let mut unit: i64 = 1;
        while unit < 1_000_000
            && values
                .iter()
                .all(|&v| (v.wrapping_sub(min) as u64).is_multiple_of((unit * 10) as u64))
        {
            unit *= 10;
        }
        let span = max.wrapping_sub(min) as u64 / unit as u64;
        let bits = (u64::BITS - span.leading_zeros()) as usize;
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); bits];
        for (r, &v) in values.iter().enumerate() {
            let d = v.wrapping_sub(min) as u64 / unit as u64;
            for (i, list) in rows.iter_mut().enumerate() {
                if d >> i & 1 == 1 {
                    list.push(r as u32);
                }
            }
        }
        Slices {
            min,
            unit,
            slices: rows
                .into_iter()
                .map(|l| RoaringBitmap::from_sorted_iter(l).unwrap_or_default())
                .collect(),
        }
    }

    /// Sum of the values of the rows in `sel` (best without run containers: counting
    /// runs against bitmaps is several times slower than arrays or bitmaps).
    pub fn sum(&self, sel: &RoaringBitmap) -> i128 {
        let base = sel.len() as i128 * self.min as i128;
        let bits = self.slices.iter().enumerate().fold(0i128, |acc, (i, s)| {
            acc + ((s.intersection_len(sel) as i128) << i)
        });
        base + bits * self.unit as i128
    }
}

/// The value of `cell`, built by `build` if it is not there yet. Two threads may both
/// build it; one result is kept, and both are equal.
pub(super) fn cached<T>(
    cell: &OnceLock<Arc<T>>,
    build: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    if let Some(v) = cell.get() {
        return Ok(v.clone());
    }
    let v = Arc::new(build()?);
    Ok(cell.get_or_init(|| v).clone())
}

/// The value stored under `key` in `map`, built by `build` on first use (outside the
/// lock: two threads may both build it; one result is kept, and both are equal).
fn keyed<T>(
    map: &Mutex<HashMap<String, Arc<T>>>,
    key: &str,
    build: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    if let Some(b) = map.lock().get(key) {
        return Ok(b.clone());
    }
    let b = Arc::new(build()?);
    Ok(map.lock().entry(key.to_string()).or_insert(b).clone())
}

impl PartCache {
    /// Bitmap-index entry `entry` of the index in section `section`, decoded by
    /// `decode` unless a decoded copy is kept (decoding validates every container, and
    /// costs more than copying the result). Kept while [`DECODED_BUDGET`] allows.
    pub(super) fn decoded(
        &self,
        section: u32,
        entry: u32,
        decode: impl FnOnce() -> Result<RoaringBitmap>,
    ) -> Result<RoaringBitmap> {
        use std::sync::atomic::Ordering;
        if let Some(b) = self.decoded.lock().get(&(section, entry)) {
            return Ok((**b).clone());
        }
        let b = decode()?;
        let size = b.serialized_size();
        let reserved = DECODED_BYTES
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + size <= DECODED_BUDGET).then_some(used + size)
            })
            .is_ok();
        if reserved {
            let mut map = self.decoded.lock();
            if map.insert((section, entry), Arc::new(b.clone())).is_some() {
                // Another thread kept it first: give the bytes back.
                DECODED_BYTES.fetch_sub(size, Ordering::Relaxed);
            }
        }
        Ok(b)
    }

    /// The bit-sliced index stored under `key`, if built.
    pub(super) fn built_bsi(&self, key: &str) -> Option<Arc<Bsi>> {
        self.bsi.lock().get(key).cloned()
    }

    /// Counts one more use of the numeric column `key` without its index; returns the
    /// count.
    pub(super) fn bsi_use(&self, key: &str) -> u32 {
        let mut uses = self.bsi_uses.lock();
        let n = uses.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    /// The bit-sliced index stored under `key`, built by `build` on first use.
    pub(super) fn bsi(&self, key: &str, build: impl FnOnce() -> Result<Bsi>) -> Result<Arc<Bsi>> {
        keyed(&self.bsi, key, build)
    }

    /// The report grouping stored under `key`, built by `build` on first use.
    pub(super) fn groups(
        &self,
        key: &str,
        build: impl FnOnce() -> Result<DenseGroups>,
    ) -> Result<Arc<DenseGroups>> {
        keyed(&self.groups, key, build)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn slice_sums_equal_plain_sums(
            values in prop::collection::vec(-1_000_000i64..1_000_000, 0..400),
            pick in prop::collection::vec(any::<bool>(), 400),
        ) {
            let s = Slices::build(&values);
            let sel: RoaringBitmap = (0..values.len() as u32).filter(|&r| pick[r as usize]).collect();
            let want: i128 = sel.iter().map(|r| values[r as usize] as i128).sum();
            prop_assert_eq!(s.sum(&sel), want);
        }
    }

    #[test]
    fn common_powers_of_ten_are_factored_out() {
        let v = [5_000_000i64, 1_250_000, 250_000, 1_230_000];
        let s = Slices::build(&v);
        assert_eq!(s.unit, 10_000);
        let all: RoaringBitmap = (0..4).collect();
        assert_eq!(s.sum(&all), v.iter().map(|&x| x as i128).sum::<i128>());
        let some: RoaringBitmap = [1, 3].into_iter().collect();
        assert_eq!(s.sum(&some), 2_480_000);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let v = [i64::MIN, i64::MAX, 0];
        let s = Slices::build(&v);
        let all: RoaringBitmap = (0..3).collect();
        assert_eq!(s.sum(&all), -1);
    }
}
