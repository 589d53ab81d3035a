//! Reading a part: [`PartReader`] maps the file, checks its header, trailer and
//! directory, and hands out typed views of its columns, each section checksum-verified
//! the first time it is touched. [`PartCursor`](super::cursor::PartCursor) reads rows
//! back on top of it.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use roaring::RoaringBitmap;

use super::checksum::crc32c;
use super::codec;
use super::dict::DictView;
use super::format::*;
use super::fs::VfsDir;
use super::index::IndexView;
use super::mmap::Backing;
use super::packed::PackedView;
use super::rank::RankView;
use crate::error::{Error, Result};

/// Sections at least this large are mapped in one call before their first read
/// ([`Backing::populate`]): cheaper than the page faults of reading them.
const POPULATE_MIN: u64 = 64 << 10;

/// A part opened for reading.
pub struct PartReader {
    path: PathBuf,
    data: Backing,
    meta: PartMeta,
    verified: Vec<OnceLock<bool>>,
    /// Sections with block checksums: their table section and each block's state.
    blocks: HashMap<u32, (u32, Vec<OnceLock<bool>>)>,
    visit_cols: HashMap<String, usize>,
    event_cols: HashMap<String, usize>,
    custom_cols: HashMap<String, usize>,
}

impl std::fmt::Debug for PartReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartReader")
            .field("path", &self.path)
            .field("events", &self.meta.events)
            .finish()
    }
}

/// Typed view of a categorical column.
pub struct CatView<'a> {
    /// Per-row ids (0: no value, k: dictionary entry k-1).
    pub ids: PackedView<'a>,
    /// The sorted distinct values.
    pub dict: DictView<'a>,
    /// Rows of each dictionary entry.
    pub index: IndexView<'a>,
    /// The section holding `index` (identifies it within the part).
    pub index_section: u32,
    /// Visit-level input fields: offset of the supplying event in the visit.
    pub src: Option<PackedView<'a>>,
}

/// The per-entry summaries of one visit-level string column ([`ValueSummaries`]).
#[derive(Clone, Copy, Debug)]
pub struct SummaryView<'a> {
    bytes: &'a [u8],
    entries: u32,
    measures: u8,
}

/// One entry's summary: its visits, their distinct visitors, and each measure summed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueSummary<'a> {
    /// Visits holding the entry.
    pub visits: u32,
    /// Their distinct visitors.
    pub visitors: u32,
    measures: &'a [u8],
}

impl ValueSummary<'_> {
    /// Measure `k` summed over the entry's visits (0 past the last).
    pub fn measure(&self, k: usize) -> i64 {
        le_u64(self.measures, k * 8) as i64
    }
}

impl<'a> SummaryView<'a> {
    /// Number of entries with a summary.
    pub fn len(&self) -> u32 {
        self.entries
    }

    /// True when no entry has a summary.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    fn record(&self, i: u32) -> Option<(u32, ValueSummary<'a>)> {
        let len = summary_record_len(self.measures);
        let r = self.bytes.get(i as usize * len..(i as usize + 1) * len)?;
        Some((
            le_u32(r, 0),
            ValueSummary {
                visits: le_u32(r, 4),
                visitors: le_u32(r, 8),
                measures: r.get(16..)?,
            },
        ))
    }

    /// The summary of dictionary entry `entry`, if it has one (entries of fewer than
    /// [`VALUE_SUMMARY_MIN_VISITS`] visits have none).
    pub fn get(&self, entry: u32) -> Option<ValueSummary<'a>> {
        let (mut lo, mut hi) = (0u32, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (e, s) = self.record(mid)?;
            match e.cmp(&entry) {
                std::cmp::Ordering::Equal => return Some(s),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }

    /// Every record in order: (entry, summary).
    pub fn iter(&self) -> impl Iterator<Item = (u32, ValueSummary<'a>)> + '_ {
        (0..self.entries).filter_map(|i| self.record(i))
    }
}

/// Typed view of an integer or number column.
pub struct NumView<'a> {
    values: PackedView<'a>,
    present: Option<RoaringBitmap>,
    /// `None`: integers; `Some(RAW_F64)`: raw bits; `Some(s)`: scaled by 10^s.
    scale: Option<u8>,
    /// Visit-level input fields: offset of the supplying event in the visit.
    pub src: Option<PackedView<'a>>,
}

impl<'a> NumView<'a> {
    /// Position of `row` in `values`, if it has a value.
    fn slot(&self, row: usize) -> Option<usize> {
        match &self.present {
            None => (row < self.values.len()).then_some(row),
            Some(bm) => {
                let r = row as u32;
                bm.contains(r).then(|| bm.rank(r) as usize - 1)
            }
        }
    }

    /// The packed values of a dense integer column (one value per row, no presence
    /// bitmap), for callers reading many rows: `get(row)` without per-row dispatch.
    pub fn dense_ints(&self) -> Option<PackedView<'a>> {
        (self.present.is_none() && self.scale.is_none()).then_some(self.values)
    }

    /// The packed values and decimal scale of a dense decimal column (value = stored
    /// integer / 10^scale; not for raw IEEE bits).
    pub fn dense_scaled(&self) -> Option<(PackedView<'a>, u8)> {
        match self.scale {
            Some(s) if s != RAW_F64 && self.present.is_none() => Some((self.values, s)),
            _ => None,
        }
    }

    /// The presence bitmap of a sparse column (`None`: every row has a value).
    pub fn presence(&self) -> Option<&RoaringBitmap> {
        self.present.as_ref()
    }

    /// The stored values (for a sparse column, those of the present rows in row order).
    pub fn values(&self) -> PackedView<'a> {
        self.values
    }

    /// Number of rows that have a value.
    pub fn stored(&self) -> usize {
        self.values.len()
    }

    /// Integer value of `row`.
    pub fn int(&self, row: usize) -> Option<i64> {
        self.slot(row).map(|i| self.values.get(i))
    }

    /// Numeric value of `row`.
    pub fn num(&self, row: usize) -> Option<f64> {
        self.int(row).map(|raw| self.decode(raw))
    }

    fn decode(&self, raw: i64) -> f64 {
        match self.scale {
            None | Some(0) => raw as f64,
            Some(RAW_F64) => f64::from_bits(raw as u64),
            Some(s) => raw as f64 / 10f64.powi(s as i32),
        }
    }

    /// True for an integer column (its values are exact `i64`s: read them with
    /// [`int`](NumView::int) / [`iter_int`](NumView::iter_int)).
    pub fn is_integer(&self) -> bool {
        self.scale.is_none()
    }

    /// `(row, value)` of every row that has a value, in row order, for an integer
    /// column (for a decimal column: the stored scaled integers).
    pub fn iter_int(&self) -> Box<dyn Iterator<Item = (u32, i64)> + '_> {
        match &self.present {
            None => Box::new(self.values.iter().enumerate().map(|(r, v)| (r as u32, v))),
            Some(bm) => Box::new(bm.iter().zip(self.values.iter())),
        }
    }

    /// `(row, value)` of every row that has a value, in row order (one pass, no
    /// per-row presence lookups).
    pub fn iter_num(&self) -> Box<dyn Iterator<Item = (u32, f64)> + '_> {
        match &self.present {
            None => Box::new(
                self.values
                    .iter()
                    .enumerate()
                    .map(|(r, raw)| (r as u32, self.decode(raw))),
            ),
            Some(bm) => Box::new(
                bm.iter()
                    .zip(self.values.iter())
                    .map(|(r, raw)| (r, self.decode(raw))),
            ),
        }
    }
}

impl PartReader {
    /// Opens and maps the part `name` of `dir`, which must be exactly `expected_len`
    /// bytes (the manifest records it; a different length means damage, and mapping a
    /// file that is shorter than expected could fault later).
    pub fn open(dir: &dyn VfsDir, name: &str, expected_len: u64) -> Result<PartReader> {
        let data = super::fs::map(dir, name, expected_len)?;
        PartReader::parse(&super::fs::path_of(dir, name), data)
    }

    /// Reads a part from bytes already in memory (used by `check`, which reads files
    /// with ordinary reads so that damage is an error, never a fault).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<PartReader> {
        PartReader::parse(path, Backing::Owned(bytes))
    }

    fn parse(path: &Path, data: Backing) -> Result<PartReader> {
        let (meta, dir_off) = read_directory(path, &data)?;
        check_structure(path, &meta, dir_off)?;
        let visit_cols = meta
            .visit_columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let event_cols = meta
            .event_columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let custom_cols = meta
            .custom_columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let verified = (0..meta.sections.len()).map(|_| OnceLock::new()).collect();
        let blocks = meta
            .query
            .iter()
            .flat_map(|q| q.blocks.iter())
            .filter_map(|b| {
                let len = meta.sections.get(b.section as usize)?.len as usize;
                let n = len.div_ceil(CHECK_BLOCK);
                Some((
                    b.section,
                    (b.table, (0..n).map(|_| OnceLock::new()).collect()),
                ))
            })
            .collect();
        Ok(PartReader {
            path: path.to_path_buf(),
            data,
            meta,
            verified,
            blocks,
            visit_cols,
            event_cols,
            custom_cols,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The part's directory.
    pub fn meta(&self) -> &PartMeta {
        &self.meta
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.data.len() as u64
    }

    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(&self.path, reason)
    }

    /// Fails if the file was truncated underneath this reader's map (see
    /// [`mmap`](super::mmap)): whatever was read from it since is not to be trusted.
    pub fn intact(&self) -> Result<()> {
        if self.data.damaged() {
            return Err(self.corrupt(
                "the file was truncated by another program while mapped; \
                 results read from it were discarded",
            ));
        }
        Ok(())
    }

    /// The bytes of section `i`, checksum-verified on first access.
    pub fn section(&self, i: u32) -> Result<&[u8]> {
        let s = self
            .meta
            .sections
            .get(i as usize)
            .ok_or_else(|| self.corrupt(format!("no section {i}")))?;
        let bytes = self
            .data
            .get(s.offset as usize..(s.offset + s.len) as usize)
            .ok_or_else(|| self.corrupt(format!("section {i} out of bounds")))?;
        let ok = self.verified.get(i as usize).map(|v| {
            *v.get_or_init(|| {
                if s.len >= POPULATE_MIN {
                    self.data
                        .populate(s.offset as usize..(s.offset + s.len) as usize);
                }
                crc32c(bytes) == s.crc
            })
        });
        if ok == Some(true) {
            Ok(bytes)
        } else {
            Err(self.corrupt(format!("section {i}: checksum mismatch")))
        }
    }

    /// The bytes of section `i` for reading in parts: unverified when the section has
    /// block checksums (read them through [`verify_range`](Self::verify_range)), else
    /// verified whole as by [`section`](Self::section). The flag says which.
    pub(crate) fn section_in_blocks(&self, i: u32) -> Result<(&[u8], bool)> {
        if !self.blocks.contains_key(&i) {
            return Ok((self.section(i)?, false));
        }
        let s = self
            .meta
            .sections
            .get(i as usize)
            .ok_or_else(|| self.corrupt(format!("no section {i}")))?;
        let bytes = self
            .data
            .get(s.offset as usize..(s.offset + s.len) as usize)
            .ok_or_else(|| self.corrupt(format!("section {i} out of bounds")))?;
        Ok((bytes, true))
    }

    /// Verifies the blocks of section `i` covering `range` (the whole section when it
    /// has no block checksums), each once.
    pub(crate) fn verify_range(&self, i: u32, range: Range<usize>) -> Result<()> {
        let Some((table, states)) = self.blocks.get(&i) else {
            return self.section(i).map(|_| ());
        };
        if self.verified.get(i as usize).and_then(|v| v.get()) == Some(&true) {
            return Ok(());
        }
        let (bytes, _) = self.section_in_blocks(i)?;
        let crcs = self.section(*table)?;
        let first = range.start / CHECK_BLOCK;
        let last = range.end.max(range.start + 1).div_ceil(CHECK_BLOCK);
        for k in first..last.min(states.len()) {
            let ok = states.get(k).map(|st| {
                *st.get_or_init(|| {
                    let block =
                        bytes.get(k * CHECK_BLOCK..((k + 1) * CHECK_BLOCK).min(bytes.len()));
                    block.is_some_and(|b| crc32c(b) == le_u32(crcs, k * 4))
                })
            });
            if ok != Some(true) {
                return Err(self.corrupt(format!("section {i}, block {k}: checksum mismatch")));
            }
        }
        if range.end > bytes.len() {
            return Err(self.corrupt(format!("section {i}: read past its end")));
        }
        Ok(())
    }

    /// A packed column.
    pub fn packed(&self, p: &PackedRef) -> Result<PackedView<'_>> {
        PackedView::new(self.section(p.section)?, p)
            .ok_or_else(|| self.corrupt(format!("section {}: packed column too short", p.section)))
    }

    fn present(
        &self,
        sec: Option<u32>,
        values: &PackedView<'_>,
        rows: u32,
    ) -> Result<Option<RoaringBitmap>> {
        let Some(sec) = sec else {
            if values.len() != rows as usize {
                return Err(self.corrupt("column length does not match the row count"));
            }
            return Ok(None);
        };
        let bm = RoaringBitmap::deserialize_from(self.section(sec)?)
            .map_err(|e| self.corrupt(format!("section {sec}: presence bitmap: {e}")))?;
        if bm.len() != values.len() as u64 || bm.max().is_some_and(|m| m >= rows) {
            return Err(self.corrupt(format!(
                "section {sec}: presence bitmap does not match its column"
            )));
        }
        Ok(Some(bm))
    }

    /// Views a categorical column with `rows` rows.
    pub fn cat(&self, body: &ColumnBody, rows: u32) -> Result<CatView<'_>> {
        let ColumnBody::Cat {
            dict,
            ids,
            index,
            src,
        } = body
        else {
            return Err(self.corrupt("expected a string column"));
        };
        let ids_v = self.packed(ids)?;
        if ids_v.len() != rows as usize {
            return Err(self.corrupt("column length does not match the row count"));
        }
        let dict =
            DictView::new(self.section(*dict)?).ok_or_else(|| self.corrupt("dictionary header"))?;
        let index_section = *index;
        let (bytes, blocked) = self.section_in_blocks(index_section)?;
        let index = if blocked {
            IndexView::new_checked(bytes, super::index::Checker::new(self, index_section))
                .map_err(|e| self.corrupt(format!("index: {e}")))?
        } else {
            IndexView::new(bytes).ok_or_else(|| self.corrupt("index header"))?
        };
        let src = src.as_ref().map(|s| self.packed(s)).transpose()?;
        Ok(CatView {
            ids: ids_v,
            dict,
            index,
            index_section,
            src,
        })
    }

    /// Views an integer or number column with `rows` rows.
    pub fn num(&self, body: &ColumnBody, rows: u32) -> Result<NumView<'_>> {
        let (values, present, scale, src) = match body {
            ColumnBody::Int {
                values,
                present,
                src,
            } => (values, *present, None, src.as_ref()),
            ColumnBody::Num {
                values,
                scale,
                present,
            } => (values, *present, Some(*scale), None),
            ColumnBody::Cat { .. } => return Err(self.corrupt("expected a numeric column")),
        };
        let values = self.packed(values)?;
        let present = self.present(present, &values, rows)?;
        let src = src.map(|s| self.packed(s)).transpose()?;
        Ok(NumView {
            values,
            present,
            scale,
            src,
        })
    }

    /// The format version of the file.
    pub fn version(&self) -> u32 {
        le_u32(&self.data, 8)
    }

    /// A rank bitset of the query index.
    pub fn rank(&self, r: &RankRef) -> Result<RankView<'_>> {
        RankView::new(self.section(r.bits)?, self.section(r.ranks)?, r.len)
            .ok_or_else(|| self.corrupt("rank bitset too short"))
    }

    /// Section `i` as little-endian 64-bit words lent from the map (`None` when the bytes
    /// do not lie 8-aligned in memory, or on a big-endian machine: then decode them).
    pub fn words(&self, i: u32) -> Result<Option<&[u64]>> {
        let bytes = self.section(i)?;
        if cfg!(target_endian = "big") {
            return Ok(None);
        }
        Ok(bytemuck::try_cast_slice::<u8, u64>(bytes).ok())
    }

    /// The named row set `name` of the query index, if the part keeps it.
    pub fn row_set(&self, name: &str) -> Result<Option<RoaringBitmap>> {
        let Some(set) = self
            .meta
            .query
            .as_ref()
            .and_then(|q| q.row_sets.iter().find(|s| s.name == name))
        else {
            return Ok(None);
        };
        let bm = RoaringBitmap::deserialize_from(self.section(set.section)?)
            .map_err(|e| self.corrupt(format!("row set {name}: {e}")))?;
        if bm.max().is_some_and(|m| m >= self.meta.events) {
            return Err(self.corrupt(format!("row set {name} beyond the events")));
        }
        Ok(Some(bm))
    }

    /// The per-entry summaries of the visit-level string column `column`, if the part
    /// keeps them.
    pub fn value_summaries(&self, column: &str) -> Result<Option<SummaryView<'_>>> {
        let Some(q) = &self.meta.query else {
            return Ok(None);
        };
        let Some(v) = q.summaries.iter().find(|v| v.column == column) else {
            return Ok(None);
        };
        Ok(Some(SummaryView {
            bytes: self.section(v.section)?,
            entries: v.entries,
            measures: q.measures,
        }))
    }

    /// The column body of a visit-level column.
    pub fn visit_column(&self, name: &str) -> Option<&ColumnBody> {
        self.visit_cols
            .get(name)
            .and_then(|&i| self.meta.visit_columns.get(i))
            .map(|c| &c.body)
    }

    /// The column body of an event-level column.
    pub fn event_column(&self, name: &str) -> Option<&ColumnBody> {
        self.event_cols
            .get(name)
            .and_then(|&i| self.meta.event_columns.get(i))
            .map(|c| &c.body)
    }

    /// The column body of a custom dimension.
    pub fn custom_column(&self, name: &str) -> Option<&ColumnBody> {
        self.custom_cols
            .get(name)
            .and_then(|&i| self.meta.custom_columns.get(i))
            .map(|c| &c.body)
    }

    /// Visitor ids, sorted.
    pub fn visitor_ids(&self) -> Result<DictView<'_>> {
        let d = DictView::new(self.section(self.meta.visitor_ids)?)
            .ok_or_else(|| self.corrupt("visitor dictionary header"))?;
        if d.len() != self.meta.visitors as usize {
            return Err(self.corrupt("visitor dictionary length"));
        }
        Ok(d)
    }

    /// Range of `offsets[i]..offsets[i+1]`, checked against `limit`.
    fn range(&self, offsets: &PackedView<'_>, i: usize, limit: u32) -> Result<Range<usize>> {
        let (a, b) = (offsets.get(i), offsets.get(i + 1));
        if a < 0 || a > b || b > limit as i64 {
            return Err(self.corrupt("row offsets out of order"));
        }
        Ok(a as usize..b as usize)
    }

    /// Visits of visitor `v`.
    pub fn visits_of(&self, v: u32) -> Result<Range<usize>> {
        let vv = self.packed(&self.meta.visitor_visits)?;
        self.range(&vv, v as usize, self.meta.visits)
    }

    /// Events of visit `i`.
    pub fn events_of(&self, i: usize) -> Result<Range<usize>> {
        let ve = self.packed(&self.meta.visit_events)?;
        self.range(&ve, i, self.meta.events)
    }

    /// The text of row `row` of a categorical column.
    pub fn text<'a>(&self, c: &CatView<'a>, row: usize) -> Result<Option<&'a str>> {
        let id = c.ids.get(row).max(0) as usize;
        if id == 0 {
            return Ok(None);
        }
        c.dict
            .get(id - 1)
            .map(Some)
            .ok_or_else(|| self.corrupt("dictionary id out of range"))
    }

    /// Verifies everything: every section checksum, and the structure of every
    /// dictionary, bitmap index, offset array and column.
    pub fn verify_all(&self) -> Result<()> {
        for i in 0..self.meta.sections.len() as u32 {
            self.section(i)?;
        }
        let ids = self.visitor_ids()?;
        ids.validate()
            .map_err(|e| self.corrupt(format!("visitor ids: {e}")))?;
        for v in 0..self.meta.visitors {
            self.visits_of(v)?;
        }
        let vv = self.packed(&self.meta.visitor_visits)?;
        if vv.get(0) != 0 || vv.get(self.meta.visitors as usize) != self.meta.visits as i64 {
            return Err(self.corrupt("visitor offsets do not cover the visits"));
        }
        for i in 0..self.meta.visits as usize {
            self.events_of(i)?;
        }
        let ve = self.packed(&self.meta.visit_events)?;
        if ve.get(0) != 0 || ve.get(self.meta.visits as usize) != self.meta.events as i64 {
            return Err(self.corrupt("visit offsets do not cover the events"));
        }
        if let Some(q) = &self.meta.query {
            self.verify_query(q, &vv, &ve)?;
        }
        let all = [
            (&self.meta.visit_columns, self.meta.visits),
            (&self.meta.event_columns, self.meta.events),
            (&self.meta.custom_columns, self.meta.events),
        ];
        for (cols, rows) in all {
            for c in cols {
                let what = |e: String| self.corrupt(format!("column {}: {e}", c.name));
                match &c.body {
                    ColumnBody::Cat { .. } => {
                        let v = self.cat(&c.body, rows)?;
                        v.dict.validate().map_err(what)?;
                        if v.index.len() != v.dict.len() {
                            return Err(what("index and dictionary differ in length".into()));
                        }
                        let mut seen = 0u64;
                        for k in 0..v.index.len() {
                            let bm = v.index.bitmap(k).map_err(what)?;
                            seen += bm.len();
                            if bm.iter().any(|r| v.ids.get(r as usize) != k as i64 + 1) {
                                return Err(what(format!("bitmap {k} disagrees with the column")));
                            }
                        }
                        let nonnull =
                            (0..rows as usize).filter(|&r| v.ids.get(r) != 0).count() as u64;
                        if seen != nonnull {
                            return Err(what("bitmaps do not cover the column".into()));
                        }
                    }
                    _ => {
                        self.num(&c.body, rows)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl PartReader {
    /// The query index against the offsets and the columns: rank bitsets mark exactly
    /// the owners' first rows, and every per-entry summary counts the visits and
    /// visitors of its entry.
    fn verify_query(&self, q: &QueryIndex, vv: &PackedView<'_>, ve: &PackedView<'_>) -> Result<()> {
        fn firsts<'p>(p: &PackedView<'p>, n: u32) -> impl Iterator<Item = u32> + 'p {
            let p = *p;
            (0..n as usize).map(move |i| p.get(i).clamp(0, i64::from(u32::MAX)) as u32)
        }
        if let Some(r) = &q.visit_firsts {
            self.rank(r)?
                .validate(firsts(ve, self.meta.visits))
                .map_err(|e| self.corrupt(format!("visit bitset: {e}")))?;
        }
        if let Some(r) = &q.visitor_firsts {
            self.rank(r)?
                .validate(firsts(vv, self.meta.visitors))
                .map_err(|e| self.corrupt(format!("visitor bitset: {e}")))?;
        }
        // Each visit's visitor, once.
        let mut owners = vec![
            0u32;
            if q.summaries.is_empty() {
                0
            } else {
                self.meta.visits as usize
            }
        ];
        for u in 0..self.meta.visitors as usize {
            let (a, b) = (vv.get(u).max(0) as usize, vv.get(u + 1).max(0) as usize);
            let end = b.min(owners.len());
            if let Some(slots) = owners.get_mut(a..end) {
                slots.fill(u as u32);
            }
        }
        let owner = |v: usize| owners.get(v).copied().unwrap_or(u32::MAX);
        for s in &q.summaries {
            let what = |e: String| self.corrupt(format!("summaries of {}: {e}", s.column));
            let view = self
                .value_summaries(&s.column)?
                .ok_or_else(|| what("missing".into()))?;
            let body = self
                .visit_column(&s.column)
                .ok_or_else(|| what("no such column".into()))?;
            let col = self.cat(body, self.meta.visits)?;
            let mut last = None;
            for (entry, sum) in view.iter() {
                if last.is_some_and(|l| l >= entry) || entry as usize >= col.dict.len() {
                    return Err(what(format!("entry {entry} out of order or range")));
                }
                last = Some(entry);
                let bm = col.index.bitmap(entry as usize).map_err(what)?;
                let mut owners = 0u32;
                let mut prev = None;
                for v in bm.iter() {
                    let o = owner(v as usize);
                    owners += u32::from(prev != Some(o));
                    prev = Some(o);
                }
                if bm.len() != u64::from(sum.visits) || owners != sum.visitors {
                    return Err(what(format!(
                        "entry {entry} counts disagree with the column"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Checks the header and the trailer of the part bytes `b` and decodes the directory;
/// returns it and where it starts.
fn read_directory(path: &Path, b: &[u8]) -> Result<(PartMeta, u64)> {
    let bad = |r: String| Error::corrupt(path, r);
    if b.len() < HEADER_LEN + TRAILER_LEN {
        return Err(bad(format!(
            "file is {} bytes, too short for a part",
            b.len()
        )));
    }
    if b[..8] != PART_MAGIC {
        return Err(bad("not a part file (bad magic)".into()));
    }
    let hv = le_u32(b, 8);
    if !(1..=PART_FORMAT_VERSION).contains(&hv) {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: hv,
            supported: PART_FORMAT_VERSION,
        });
    }
    let t = b.len() - TRAILER_LEN;
    let trailer = &b[t..];
    if crc32c(&trailer[..32]) != le_u32(trailer, 32) {
        return Err(bad("trailer checksum mismatch".into()));
    }
    if trailer[24..32] != PART_MAGIC || le_u32(trailer, 20) != hv {
        return Err(bad("bad trailer magic or version".into()));
    }
    let (dir_off, dir_len) = (le_u64(trailer, 0), le_u64(trailer, 8));
    if dir_off.checked_add(dir_len) != Some(t as u64) || dir_off < HEADER_LEN as u64 {
        return Err(bad("directory bounds do not match the file length".into()));
    }
    let dir = &b[dir_off as usize..t];
    if crc32c(dir) != le_u32(trailer, 16) {
        return Err(bad("directory checksum mismatch".into()));
    }
    let meta: PartMeta = if hv == 1 {
        codec::decode::<PartMetaV1>(dir)
            .map_err(|e| bad(format!("directory: {e}")))?
            .into()
    } else {
        codec::decode(dir).map_err(|e| bad(format!("directory: {e}")))?
    };
    Ok((meta, dir_off))
}

/// Checks that every section lies between the header and the directory (at
/// `dir_off`), and that the offset arrays have the lengths the counts require.
fn check_structure(path: &Path, meta: &PartMeta, dir_off: u64) -> Result<()> {
    let bad = |r: String| Error::corrupt(path, r);
    for (i, s) in meta.sections.iter().enumerate() {
        if s.offset < HEADER_LEN as u64
            || s.offset.checked_add(s.len).is_none_or(|end| end > dir_off)
        {
            return Err(bad(format!("section {i} lies outside the data area")));
        }
    }
    let ok_packed =
        |p: &PackedRef, len: u64| (p.section as usize) < meta.sections.len() && p.len as u64 == len;
    if !ok_packed(&meta.visitor_visits, meta.visitors as u64 + 1)
        || !ok_packed(&meta.visit_events, meta.visits as u64 + 1)
        || meta.visitor_ids as usize >= meta.sections.len()
    {
        return Err(bad("directory: inconsistent structure".into()));
    }
    if let Some(q) = &meta.query {
        check_query(meta, q).map_err(|why| bad(format!("query index: {why}")))?;
    }
    Ok(())
}

/// Checks the sizes and references of a query index against the directory (contents
/// are checked by `verify_all`).
fn check_query(meta: &PartMeta, q: &QueryIndex) -> std::result::Result<(), String> {
    let section_len = |i: u32| meta.sections.get(i as usize).map(|s| s.len);
    let rank = |r: &Option<RankRef>, len: u32, what: &str| -> std::result::Result<(), String> {
        let Some(r) = r else { return Ok(()) };
        let words = u64::from(len).div_ceil(64);
        if r.len != len
            || section_len(r.bits) != Some(words * 8)
            || section_len(r.ranks) != Some(words * 4)
        {
            return Err(format!("{what} bitset does not fit its table"));
        }
        Ok(())
    };
    for b in &q.blocks {
        let n = section_len(b.section)
            .ok_or("a block-checked section is missing")?
            .div_ceil(CHECK_BLOCK as u64);
        if section_len(b.table) != Some(n * 4) {
            return Err("a block checksum table does not fit its section".into());
        }
    }
    if q.row_sets.iter().any(|r| section_len(r.section).is_none()) {
        return Err("row set section missing".into());
    }
    rank(&q.visit_firsts, meta.events, "visit")?;
    rank(&q.visitor_firsts, meta.visits, "visitor")?;
    if q.measure_totals.len() != usize::from(q.measures)
        || q.measure_slices.len() != usize::from(q.measures)
    {
        return Err("measure totals or slices do not match the measures".into());
    }
    let words = u64::from(meta.visits).div_ceil(64) * 8;
    for set in &q.measure_slices {
        if set.bits.len() > 64
            || set.unit <= 0
            || set.bits.iter().any(|&b| section_len(b) != Some(words))
        {
            return Err("measure slices do not fit the visits".into());
        }
    }
    for v in &q.summaries {
        let record = summary_record_len(q.measures) as u64;
        if section_len(v.section) != Some(u64::from(v.entries) * record)
            || !meta
                .visit_columns
                .iter()
                .any(|c| c.name == v.column && matches!(c.body, ColumnBody::Cat { .. }))
        {
            return Err(format!("summaries of `{}` do not fit", v.column));
        }
    }
    Ok(())
}
