//! A part as the engine sees it: the opened file, the visitors no longer live in it,
//! and the in-memory indexes queries derive from it.

use std::sync::Arc;

use roaring::RoaringBitmap;

use super::cache::PartCache;
use crate::storage::manifest::PartEntry;
use crate::storage::part_reader::PartReader;

/// A live part of a snapshot.
///
/// The reader and the cache are shared by every snapshot that holds the part (parts are
/// immutable, so neither ever goes stale); the deletion set belongs to the snapshot's
/// manifest.
#[derive(Debug, Clone)]
pub(crate) struct LivePart {
    /// The manifest entry.
    pub entry: PartEntry,
    /// The opened file.
    pub reader: Arc<PartReader>,
    /// Visitor ordinals no longer live in this part.
    pub deleted: Arc<RoaringBitmap>,
    /// Indexes built on first use (`cache.rs`).
    pub cache: Arc<PartCache>,
}

/// Events stored in `parts` together (what decides whether a query is worth spreading
/// over the worker pool).
pub(crate) fn total_events(parts: &[LivePart]) -> u64 {
    parts.iter().map(|p| p.entry.events as u64).sum()
}
