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
pub use crate::privacy::WriteRules;
pub mod scan;
pub use crate::schema::internal::measure;
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

/// [`Snapshot::summary`](crate::Snapshot::summary), reading the parts the way `path`
/// says (the engine picks by itself; tests hold every way to the oracle).
pub fn summary_by(
    snap: &crate::Snapshot,
    segment: &crate::CompiledSegment,
    range: &crate::TimeRange,
    path: SummaryPath,
) -> Result<Summary> {
    exec::summary(snap.parts(), segment, range, path, snap.stop())
}

/// What `check` verifies of one part's bytes (named `path` in errors): checksums,
/// structure, and the query index against the columns.
pub fn verify_part_bytes(path: &std::path::Path, bytes: Vec<u8>) -> Result<()> {
    let r = PartReader::from_bytes(path, bytes)?;
    let m = r.meta();
    let entry = PartEntry {
        id: 0,
        file: String::new(),
        bytes: r.file_len(),
        crc: 0,
        visitors: m.visitors,
        visits: m.visits,
        events: m.events,
        deletions: None,
        inline: None,
    };
    crate::check::verify_reader(&entry, r)
}

/// The readers of the snapshot's live parts (format versions, query indexes).
pub fn part_readers(snap: &crate::Snapshot) -> Vec<Arc<PartReader>> {
    snap.parts().iter().map(|p| p.reader.clone()).collect()
}

/// Parts written from now on by this process keep per-value summaries of every
/// dictionary entry held by at least `visits` visits (the default is 64): lets small
/// test databases exercise them.
pub fn set_value_summary_min_visits(visits: u32) {
    crate::storage::format::set_value_summary_min_visits(visits);
}

/// Parts written from now on by this process are of format version 1 (no query
/// index, conversions and revenue stored where non-zero), as the first release wrote
/// them: lets the suites hold the engine's reading of old parts to the oracle.
pub fn write_format_v1(on: bool) {
    crate::storage::format::set_write_v1(on);
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
    exec::select(&live(parts), segment, range, &crate::cancel::Stop::NEVER)
}

/// [`Snapshot::summarize`](crate::Snapshot::summarize) over loose parts.
pub fn summarize(parts: &[LoosePart], selection: &Selection) -> Result<Summary> {
    exec::summarize(&live(parts), selection, &crate::cancel::Stop::NEVER)
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
