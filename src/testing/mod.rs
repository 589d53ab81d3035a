//! Internals for sightline's own tests, fuzz targets and benchmarks: the simulated disk,
//! the file formats' encoders and decoders, the row parsers, and the naive scan oracle
//! the engine is held to. **Not part of the public API**: hidden from the documentation,
//! and free to change in any release.

use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::exec::{self, Catalog, CompiledSegment, LivePart, Selection, Summary, TimeRange};
use crate::lang::Segment;

pub use crate::check::check_in;
pub use crate::exec::compile::compile;
pub use crate::ingest::import::import_csv_reader;
pub use crate::ingest::parse::{Mode, parse_json, push_raw};
pub use crate::ingest::rows::Rows;
pub mod scan;
pub use crate::schema::{DERIVED_INTS, DERIVED_STRINGS, EVENT_STRINGS, VISIT_STRINGS};
pub use crate::storage::checksum::crc32c;
pub use crate::storage::format::{ColumnBody, PartMeta};
pub use crate::storage::fs::{LockGuard, OsFs, Vfs, VfsDir, VfsFile};
pub use crate::storage::manifest::{
    DelEntry, MANIFEST_VERSION, Manifest, PartEntry, decode_deletions, encode_deletions,
};
pub use crate::storage::part_reader::PartReader;
pub use crate::storage::part_writer::reseal;
pub use crate::storage::sim::{CrashState, Fault, FaultError, FaultMode, SimFs};

pub use crate::exec::SummaryPath;

/// [`Snapshot::summarize`](crate::Snapshot::summarize), reading the parts' metrics the
/// way `path` says (the engine picks by itself; tests hold every way to the oracle).
pub fn summarize_by(
    snap: &crate::Snapshot,
    selection: &Selection,
    path: SummaryPath,
) -> Result<Summary> {
    exec::summarize_by(snap.parts(), selection, path)
}

/// A part held outside any database (read from bytes by a fuzzer), to be queried as if
/// it were the only part of one.
#[derive(Debug, Clone)]
pub struct LoosePart(LivePart);

impl LoosePart {
    /// `reader` with the visitor ordinals `deleted` no longer live.
    pub fn new(reader: Arc<PartReader>, entry: PartEntry, deleted: RoaringBitmap) -> LoosePart {
        LoosePart(LivePart {
            entry,
            reader,
            deleted: Arc::new(deleted),
            cache: Default::default(),
        })
    }
}

fn live(parts: &[LoosePart]) -> Vec<LivePart> {
    parts.iter().map(|p| p.0.clone()).collect()
}

/// [`Snapshot::select`](crate::Snapshot::select) over loose parts.
pub fn select(
    parts: &[LoosePart],
    segment: &CompiledSegment,
    range: &TimeRange,
) -> Result<Selection> {
    exec::select(&live(parts), segment, range)
}

/// [`Snapshot::summarize`](crate::Snapshot::summarize) over loose parts.
pub fn summarize(parts: &[LoosePart], selection: &Selection) -> Result<Summary> {
    exec::summarize(&live(parts), selection)
}

/// Reads every visitor of `reader` back as input rows (what a commit does when new
/// events of stored visitors arrive).
pub fn read_back(reader: &PartReader, rows: &mut Rows) -> Result<()> {
    let cursor = crate::storage::cursor::PartCursor::new(reader)?;
    let dims = crate::ingest::readback::custom_dims(&cursor, rows)?;
    for v in 0..cursor.visitors().min(1000) {
        crate::ingest::readback::read_visitor(&cursor, v, &dims, rows)?;
    }
    Ok(())
}

/// Compiles `segment` against `catalog` (`text`: its source, for error offsets).
pub fn compile_against(
    segment: &Segment,
    catalog: &Catalog,
    text: &str,
) -> Result<CompiledSegment> {
    Ok(compile(segment, catalog, text)?)
}
