//! What the engine keeps of a part between queries.
//!
//! A version 2 part carries everything queries need in its file (offsets as plain
//! `u32`s, the rank bitsets that name a row's visit and a visit's visitor, dense
//! per-visit metrics, their totals, per-value summaries): the engine reads them from
//! the map and builds nothing. For a version 1 part (written by an older build), the
//! same structures are built in memory the first time a query needs them and kept here,
//! so both versions are read by one code path; `sightline compact` rewrites old parts
//! in the current version.
//!
//! Besides those, a part keeps what is cheap to keep and costly to redo: decoded
//! bitmap-index entries (bounded process-wide by [`DECODED_BUDGET`]), the action and
//! conversion row sets, the live visits under the current deletion set, and report
//! groupings of wide numeric columns. A part never changes, so nothing here is ever
//! invalidated; builders that fail (a damaged file) cache nothing and report the
//! corruption on every call. Nothing caches a query's answer.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use roaring::RoaringBitmap;

use super::report::DenseGroups;
use crate::error::{Error, Result};
use crate::storage::format::PackedRef;
use crate::storage::rank::RankBuf;

/// Per-part state of the engine.
#[derive(Default)]
pub(crate) struct PartCache {
    /// Version 1 parts (or offsets the map cannot lend as `u32`s): decoded offsets.
    pub(super) visit_starts: OnceLock<Vec<u32>>,
    pub(super) visitor_starts: OnceLock<Vec<u32>>,
    /// Version 1 parts: the rank bitsets of visit and visitor starts.
    pub(super) visit_firsts: OnceLock<RankBuf>,
    pub(super) visitor_firsts: OnceLock<RankBuf>,
    /// Version 1 parts: the per-visit conversions and revenue, dense, and the totals.
    pub(super) metrics: OnceLock<OwnedMetrics>,
    /// Version 1 parts (or slices the map cannot lend as words): the metric slices.
    pub(super) slices: OnceLock<Vec<OwnedSlices>>,
    pub(super) action_rows: OnceLock<Arc<RoaringBitmap>>,
    pub(super) conversion_rows: OnceLock<Arc<RoaringBitmap>>,
    /// Report keys of wide numeric columns: see `report::DenseGroups`.
    pub(super) groups: Mutex<HashMap<String, Arc<DenseGroups>>>,
    /// Decoded bitmap-index entries, by (index section, entry): see [`decoded`].
    decoded: Mutex<HashMap<(u32, u32), Arc<RoaringBitmap>>>,
    /// The live visits under the part's latest deletion set (by deletion file name;
    /// `None`: no deletions). Older snapshots' sets are recomputed when asked for.
    pub(super) live: Mutex<Option<(Option<String>, Arc<LiveVisits>)>>,
}

/// Dense per-visit conversions and revenue of a version 1 part (which stores them only
/// where non-zero), packed as a version 2 part stores them, and the part's totals.
#[derive(Debug)]
pub(super) struct OwnedMetrics {
    pub conversions: (Vec<u8>, PackedRef),
    pub revenue: (Vec<u8>, PackedRef),
    pub totals: Sums,
}

/// One metric as bit slices held in memory (see `storage::format::SliceSet`).
#[derive(Debug)]
pub(super) struct OwnedSlices {
    pub min: i64,
    pub unit: i64,
    pub bits: Vec<Vec<u64>>,
}

/// The visits of a part's live visitors (under one deletion set), and their metrics.
#[derive(Debug)]
pub(super) struct LiveVisits {
    pub visits: RoaringBitmap,
    /// Added up on first use.
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

/// Summary metrics added up over a set of visits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sums {
    pub actions: i128,
    pub conversions: i128,
    pub duration: i128,
    pub revenue_micros: i128,
    pub bounces: u64,
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

/// The value of `cell` by reference, built by `build` if it is not there yet (as
/// [`cached`], for values borrowed for the part's lifetime).
pub(super) fn kept<T>(cell: &OnceLock<T>, build: impl FnOnce() -> Result<T>) -> Result<&T> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = build()?;
    let _ = cell.set(v);
    cell.get()
        .ok_or_else(|| Error::internal("a part's kept value vanished"))
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

    /// The report grouping stored under `key`, built by `build` on first use.
    pub(super) fn groups(
        &self,
        key: &str,
        build: impl FnOnce() -> Result<DenseGroups>,
    ) -> Result<Arc<DenseGroups>> {
        keyed(&self.groups, key, build)
    }
}
