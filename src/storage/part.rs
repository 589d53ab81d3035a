//! Parts: immutable columnar files with bitmap indexes.
//!
//! A part holds whole visitors: every visit and event of a visitor lives in exactly one
//! part. That invariant makes derived dimensions (visitCount, daysSince*…) local to a
//! part, makes distinct-visitor counts additive across parts, and turns GDPR erasure and
//! re-sessionisation into "mark this visitor deleted here, write it again there".
//!
//! Rows are ordered visitor → visit (by start) → event (by time), so a visitor owns a
//! contiguous range of visits and a visit a contiguous range of events.
//!
//! [`write_part`] lays the file out; [`PartReader`] reads it through a memory map and
//! checks each section's CRC32C the first time it is touched. The byte layout is
//! documented in `docs/file-format.md`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use roaring::RoaringBitmap;

use super::checksum::crc32c;
use super::codec;
use super::dict::{self, DictView};
use super::format::*;
use super::fs::VfsDir;
use super::index::{self, IndexView};
use super::mmap::Backing;
use super::packed::{PackedView, pack};
use crate::error::{Error, Result};
use crate::event::EventType;
use crate::ingest::rows::{CVal, Row, Rows, Sym, custom_of};
use crate::ingest::sessions::{FixedSyms, Sessionized};
use crate::schema::{
    CustomType, DERIVED_INTS, DERIVED_STRINGS, EVENT_STRINGS, VISIT_STRINGS, internal,
};

// ───────────────────────────── writer ─────────────────────────────

struct Sections {
    buf: Vec<u8>,
    refs: Vec<SectionRef>,
}

impl Sections {
    fn new() -> Sections {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(&PART_MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        Sections {
            buf,
            refs: Vec::new(),
        }
    }

    fn add(&mut self, bytes: &[u8]) -> u32 {
        while !self.buf.len().is_multiple_of(8) {
            self.buf.push(0);
        }
        let offset = self.buf.len() as u64;
        self.buf.extend_from_slice(bytes);
        self.refs.push(SectionRef {
            offset,
            len: bytes.len() as u64,
            crc: crc32c(bytes),
        });
        self.refs.len() as u32 - 1
    }

    fn packed(&mut self, values: &[i64]) -> PackedRef {
        let (min, width, bytes) = pack(values);
        let section = self.add(&bytes);
        PackedRef {
            section,
            len: values.len() as u32,
            width,
            min,
        }
    }

    fn present(&mut self, present: &[bool]) -> Option<u32> {
        if present.iter().all(|p| *p) {
            return None;
        }
        let bm = RoaringBitmap::from_sorted_iter(
            present
                .iter()
                .enumerate()
                .filter(|(_, p)| **p)
                .map(|(i, _)| i as u32),
        )
        .unwrap_or_default();
        Some(self.add(&index::encode_bitmap(&bm)))
    }

    fn int_column(&mut self, values: &[Option<i64>], src: Option<&[i64]>) -> ColumnBody {
        let present: Vec<bool> = values.iter().map(|v| v.is_some()).collect();
        let dense: Vec<i64> = values.iter().flatten().copied().collect();
        let values = self.packed(&dense);
        let present = self.present(&present);
        let src = src.map(|s| self.packed(s));
        ColumnBody::Int {
            values,
            present,
            src,
        }
    }

    fn num_column(&mut self, values: &[Option<f64>]) -> ColumnBody {
        let present: Vec<bool> = values.iter().map(|v| v.is_some()).collect();
        let dense: Vec<f64> = values.iter().flatten().copied().collect();
        let (scale, ints) = scale_numbers(&dense);
        let values = self.packed(&ints);
        let present = self.present(&present);
        ColumnBody::Num {
            values,
            scale,
            present,
        }
    }
}

/// Finds the smallest decimal scale (0..=6) that stores every value exactly as an
/// integer; falls back to raw IEEE bits.
fn scale_numbers(values: &[f64]) -> (u8, Vec<i64>) {
    for s in 0..=6u8 {
        let p = 10f64.powi(s as i32);
        let exact = values.iter().all(|&v| {
            let x = (v * p).round();
            x.abs() < 9.0e15 && x / p == v
        });
        if exact {
            return (s, values.iter().map(|&v| (v * p).round() as i64).collect());
        }
    }
    (RAW_F64, values.iter().map(|v| v.to_bits() as i64).collect())
}

/// Builds categorical columns, reusing one symbol → id table across columns.
struct CatBuilder<'a> {
    rows: &'a Rows,
    slot: Vec<u32>,
}

impl<'a> CatBuilder<'a> {
    fn new(rows: &'a Rows) -> CatBuilder<'a> {
        CatBuilder {
            rows,
            slot: vec![u32::MAX; rows.strings.len()],
        }
    }

    /// The column `name` of `syms`; fails when its distinct values do not fit the
    /// format (more than 4 GiB of text in one column of one part).
    fn column(
        &mut self,
        out: &mut Sections,
        name: &str,
        syms: &[Sym],
        src: Option<&[i64]>,
    ) -> Result<ColumnBody> {
        let mut distinct: Vec<Sym> = Vec::new();
        for &s in syms {
            if s != 0 && self.slot[s as usize] == u32::MAX {
                self.slot[s as usize] = 0;
                distinct.push(s);
            }
        }
        distinct.sort_unstable_by(|a, b| self.rows.strings.get(*a).cmp(self.rows.strings.get(*b)));
        for (k, &s) in distinct.iter().enumerate() {
            self.slot[s as usize] = k as u32 + 1;
        }
        let ids: Vec<u32> = syms
            .iter()
            .map(|&s| if s == 0 { 0 } else { self.slot[s as usize] })
            .collect();
        for &s in &distinct {
            self.slot[s as usize] = u32::MAX;
        }
        let dict = dict::encode(
            distinct.iter().map(|s| self.rows.strings.get(*s)),
            dict::MAX_DICT_BYTES,
        )
        .map_err(|bytes| too_large(name, bytes))?;
        let dict = out.add(&dict);
        let index = index::build(&ids, distinct.len())
            .map_err(|why| Error::InvalidInput(format!("column `{name}`: {why}")))?;
        let index = out.add(&index);
        let ids64: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let ids = out.packed(&ids64);
        let src = src.map(|s| out.packed(s));
        Ok(ColumnBody::Cat {
            dict,
            ids,
            index,
            src,
        })
    }
}

fn too_large(column: &str, bytes: u64) -> Error {
    Error::InvalidInput(format!(
        "column `{column}` of one part would hold {bytes} bytes of distinct values, more \
         than the 4 GiB a part's column can hold; import such large values in smaller \
         batches"
    ))
}

/// What [`write_part`] produced besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct PartSummary {
    /// Visitors written.
    pub visitors: u32,
    /// Visits written.
    pub visits: u32,
    /// Events written.
    pub events: u32,
}

/// Lays out the part holding `visitors` (a range of `sess.visitors`) as file bytes.
/// Fails only when the data does not fit the format's limits (a column's distinct
/// values over 4 GiB).
pub fn write_part(
    rows: &Rows,
    sess: &Sessionized,
    fixed: &FixedSyms,
    visitors: Range<usize>,
) -> Result<(Vec<u8>, PartSummary)> {
    let vis_range =
        sess.visitor_visits[visitors.start] as usize..sess.visitor_visits[visitors.end] as usize;
    let ev_range =
        sess.visit_events[vis_range.start] as usize..sess.visit_events[vis_range.end] as usize;
    let visits = &sess.visits[vis_range.clone()];
    let events: Vec<&Row> = sess.events[ev_range.clone()]
        .iter()
        .map(|&i| &rows.rows[i as usize])
        .collect();
    let mut out = Sections::new();
    let mut cats = CatBuilder::new(rows);

    if events.len() > u32::MAX as usize {
        return Err(Error::InvalidInput(format!(
            "one part would hold {} events, more than a part can count",
            events.len()
        )));
    }
    // Structure: visitor ids and the two offset arrays.
    let visitor_ids = dict::encode(
        sess.visitors[visitors.clone()]
            .iter()
            .map(|s| rows.strings.get(*s)),
        dict::MAX_DICT_BYTES,
    )
    .map_err(|bytes| too_large("visitorId", bytes))?;
    let visitor_ids = out.add(&visitor_ids);
    let vv: Vec<i64> = sess.visitor_visits[visitors.start..=visitors.end]
        .iter()
        .map(|&o| o as i64 - vis_range.start as i64)
        .collect();
    let visitor_visits = out.packed(&vv);
    let ve: Vec<i64> = sess.visit_events[vis_range.start..=vis_range.end]
        .iter()
        .map(|&o| o as i64 - ev_range.start as i64)
        .collect();
    let visit_events = out.packed(&ve);

    // Visit columns.
    let mut vcols = Vec::new();
    let col = |name: &str, body: ColumnBody| ColumnMeta {
        name: name.to_string(),
        body,
    };
    let starts: Vec<Option<i64>> = visits.iter().map(|v| Some(v.start)).collect();
    vcols.push(col(internal::VISIT_START, out.int_column(&starts, None)));
    let site: Vec<Option<i64>> = visits.iter().map(|v| Some(v.site_id)).collect();
    let site_src: Vec<i64> = visits.iter().map(|v| v.site_src as i64).collect();
    vcols.push(col(
        internal::SITE_ID,
        out.int_column(&site, Some(&site_src)),
    ));
    for (f, name) in VISIT_STRINGS.iter().enumerate() {
        let syms: Vec<Sym> = visits.iter().map(|v| v.vis[f]).collect();
        let src: Vec<i64> = visits.iter().map(|v| v.vis_src[f] as i64).collect();
        vcols.push(col(name, cats.column(&mut out, name, &syms, Some(&src))?));
    }
    let ids: Vec<Sym> = visits.iter().map(|v| v.visit_id).collect();
    vcols.push(col(
        internal::VISIT_ID,
        cats.column(&mut out, internal::VISIT_ID, &ids, None)?,
    ));
    for name in DERIVED_INTS {
        let vals: Vec<Option<i64>> = visits
            .iter()
            .map(|v| {
                Some(match name {
                    "visitCount" => v.visit_count as i64,
                    "actions" => v.actions as i64,
                    "visitDuration" => v.duration_s,
                    "daysSinceFirstVisit" => v.days_since_first,
                    "daysSinceLastVisit" => v.days_since_last,
                    "visitConverted" => v.converted as i64,
                    "visitStartServerHour" => v.start_hour as i64,
                    _ => v.end_hour as i64,
                })
            })
            .collect();
        vcols.push(col(name, out.int_column(&vals, None)));
    }
    for name in DERIVED_STRINGS {
        let syms: Vec<Sym> = visits
            .iter()
            .map(|v| match name {
                "visitorType" => fixed.visitor_types[v.visitor_type as usize],
                "visitEcommerceStatus" => fixed.ecommerce[v.ecommerce as usize],
                "entryPageUrl" => v.entry_url,
                "exitPageUrl" => v.exit_url,
                "entryPageTitle" => v.entry_title,
                _ => v.exit_title,
            })
            .collect();
        vcols.push(col(name, cats.column(&mut out, name, &syms, None)?));
    }
    // Most visits convert nothing: both totals are stored only where non-zero (readers
    // take a missing value as 0), which keeps ~28 bits per visit off the disk.
    let conv: Vec<Option<i64>> = visits
        .iter()
        .map(|v| (v.conversions != 0).then_some(v.conversions as i64))
        .collect();
    vcols.push(col(internal::CONVERSIONS, out.int_column(&conv, None)));
    let rev: Vec<Option<i64>> = visits
        .iter()
        .map(|v| (v.revenue_micros != 0).then_some(v.revenue_micros))
        .collect();
    vcols.push(col(internal::REVENUE, out.int_column(&rev, None)));

    // Event columns.
    let mut ecols = Vec::new();
    let mut offsets = Vec::with_capacity(events.len());
    for (k, v) in visits.iter().enumerate() {
        let (a, b) = (ve[k] as usize, ve[k + 1] as usize);
        offsets.extend(events[a..b].iter().map(|e| Some(e.ts - v.start)));
    }
    ecols.push(col(internal::TS_OFFSET, out.int_column(&offsets, None)));
    let types: Vec<Sym> = events
        .iter()
        .map(|e| fixed.types[e.kind as usize])
        .collect();
    ecols.push(col(
        internal::TYPE,
        cats.column(&mut out, internal::TYPE, &types, None)?,
    ));
    for (f, name) in EVENT_STRINGS.iter().enumerate() {
        let syms: Vec<Sym> = events.iter().map(|e| e.ev[f]).collect();
        ecols.push(col(name, cats.column(&mut out, name, &syms, None)?));
    }
    let ev: Vec<Option<f64>> = events.iter().map(|e| e.event_value).collect();
    ecols.push(col(internal::EVENT_VALUE, out.num_column(&ev)));
    let goal: Vec<Option<i64>> = events.iter().map(|e| e.goal_id).collect();
    ecols.push(col(internal::GOAL_ID, out.int_column(&goal, None)));
    let rev: Vec<Option<f64>> = events.iter().map(|e| e.revenue).collect();
    ecols.push(col(internal::REVENUE_EVENT, out.num_column(&rev)));
    // Custom dimensions used in this part, by name order. One pass gathers every
    // dimension's (event, value) pairs, so a part costs the same whether its custom
    // values spread over few dimensions or many.
    let mut per_dim: HashMap<u32, Vec<(usize, CVal)>> = HashMap::new();
    for (k, e) in events.iter().enumerate() {
        for &(d, v) in custom_of(rows, e) {
            per_dim.entry(d).or_default().push((k, v));
        }
    }
    let mut used: Vec<(u32, Vec<(usize, CVal)>)> = per_dim.into_iter().collect();
    used.sort_by(|a, b| {
        let name = |d: u32| rows.custom_names.get(d as usize).map(|c| c.name.as_str());
        name(a.0).cmp(&name(b.0))
    });
    let mut ccols = Vec::new();
    for (d, values) in used {
        let Some(dim) = rows.custom_names.get(d as usize) else {
            continue;
        };
        let body = match dim.ty {
            CustomType::String => {
                let mut syms: Vec<Sym> = vec![0; events.len()];
                for (k, v) in values {
                    if let CVal::Str(s) = v {
                        syms[k] = s;
                    }
                }
                cats.column(&mut out, &dim.name, &syms, None)?
            }
            CustomType::Number => {
                let mut vals: Vec<Option<f64>> = vec![None; events.len()];
                for (k, v) in values {
                    if let CVal::Num(n) = v {
                        vals[k] = Some(n);
                    }
                }
                out.num_column(&vals)
            }
        };
        ccols.push(col(&dim.name, body));
    }

    let min_ts = visits.iter().map(|v| v.start).min().unwrap_or(0);
    let max_ts = visits.iter().map(|v| v.end).max().unwrap_or(0);
    let meta = PartMeta {
        visitors: visitors.len() as u32,
        visits: visits.len() as u32,
        events: events.len() as u32,
        min_ts,
        max_ts,
        actions: visits.iter().map(|v| v.actions as u64).sum(),
        conversions: visits.iter().map(|v| v.conversions as u64).sum(),
        // A total beyond i64 is recorded as `i64::MIN`: readers then sum the visits.
        revenue_micros: i64::try_from(
            visits
                .iter()
                .map(|v| i128::from(v.revenue_micros))
                .sum::<i128>(),
        )
        .unwrap_or(REVENUE_NOT_RECORDED),
        sections: std::mem::take(&mut out.refs),
        visitor_ids,
        visitor_visits,
        visit_events,
        visit_columns: vcols,
        event_columns: ecols,
        custom_columns: ccols,
    };
    let summary = PartSummary {
        visitors: meta.visitors,
        visits: meta.visits,
        events: meta.events,
    };
    let mut buf = out.buf;
    while !buf.len().is_multiple_of(8) {
        buf.push(0);
    }
    // Encoding a plain struct into a Vec cannot fail short of running out of memory.
    let dir = codec::encode(&meta).unwrap_or_default();
    let dir_offset = buf.len() as u64;
    buf.extend_from_slice(&dir);
    let mut trailer = Vec::with_capacity(TRAILER_LEN);
    trailer.extend_from_slice(&dir_offset.to_le_bytes());
    trailer.extend_from_slice(&(dir.len() as u64).to_le_bytes());
    trailer.extend_from_slice(&crc32c(&dir).to_le_bytes());
    trailer.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    trailer.extend_from_slice(&PART_MAGIC);
    let tcrc = crc32c(&trailer);
    trailer.extend_from_slice(&tcrc.to_le_bytes());
    trailer.extend_from_slice(&0u32.to_le_bytes());
    buf.extend_from_slice(&trailer);
    Ok((buf, summary))
}

/// Recomputes every checksum of the part file in `bytes` (each section's CRC in the
/// directory, the directory CRC and the trailer CRC), so that whatever the sections
/// hold passes the checksum gate. A test and fuzzing aid: it lets damaged content reach
/// the decoders behind the checksums. Bytes whose trailer does not locate a directory
/// are left as they are; a directory that does not decode keeps its section CRCs but
/// still gets its own and the trailer's.
pub fn reseal(bytes: &mut Vec<u8>) {
    let Some(t) = bytes.len().checked_sub(TRAILER_LEN) else {
        return;
    };
    let (dir_off, dir_len) = (le_u64(bytes, t), le_u64(bytes, t + 8));
    if dir_off < HEADER_LEN as u64 || dir_off.checked_add(dir_len) != Some(t as u64) {
        return;
    }
    let dir_off = dir_off as usize;
    if let Ok(mut meta) = codec::decode::<PartMeta>(&bytes[dir_off..t]) {
        for s in &mut meta.sections {
            let end = s.offset.checked_add(s.len).filter(|&e| e <= dir_off as u64);
            if let Some(end) = end {
                s.crc = crc32c(&bytes[s.offset as usize..end as usize]);
            }
        }
        if let Ok(dir) = codec::encode(&meta) {
            let trailer = bytes.split_off(t);
            bytes.truncate(dir_off);
            bytes.extend_from_slice(&dir);
            bytes.extend_from_slice(&trailer);
        }
    }
    let t = bytes.len() - TRAILER_LEN;
    let dir_len = (t - dir_off) as u64;
    let dir_crc = crc32c(&bytes[dir_off..t]);
    bytes[t + 8..t + 16].copy_from_slice(&dir_len.to_le_bytes());
    bytes[t + 16..t + 20].copy_from_slice(&dir_crc.to_le_bytes());
    let tcrc = crc32c(&bytes[t..t + 32]);
    bytes[t + 32..t + 36].copy_from_slice(&tcrc.to_le_bytes());
}

// ───────────────────────────── reader ─────────────────────────────

/// A part opened for reading.
pub struct PartReader {
    path: PathBuf,
    data: Backing,
    meta: PartMeta,
    verified: Vec<OnceLock<bool>>,
    visit_cols: HashMap<String, usize>,
    event_cols: HashMap<String, usize>,
    custom_cols: HashMap<String, usize>,
    /// In-memory indexes the query engine derives from this part, built on first use
    /// (the part is immutable, so they never go stale).
    pub(crate) cache: crate::exec::cache::PartCache,
}

impl std::fmt::Debug for PartReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartReader")
            .field("path", &self.path)
            .field("events", &self.meta.events)
            .finish()
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
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

/// Typed view of an integer or number column.
pub struct NumView<'a> {
    values: PackedView<'a>,
    present: Option<RoaringBitmap>,
    /// `None`: integers; `Some(RAW_F64)`: raw bits; `Some(s)`: scaled by 10^s.
    scale: Option<u8>,
    /// Visit-level input fields: offset of the supplying event in the visit.
    pub src: Option<PackedView<'a>>,
}

impl NumView<'_> {
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
    pub fn dense_ints(&self) -> Option<PackedView<'_>> {
        (self.present.is_none() && self.scale.is_none()).then_some(self.values)
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
        let bad = |r: String| Error::corrupt(path, r);
        let b: &[u8] = &data;
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
        if hv != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found: hv,
                supported: FORMAT_VERSION,
            });
        }
        let t = b.len() - TRAILER_LEN;
        let trailer = &b[t..];
        if crc32c(&trailer[..32]) != le_u32(trailer, 32) {
            return Err(bad("trailer checksum mismatch".into()));
        }
        if trailer[24..32] != PART_MAGIC || le_u32(trailer, 20) != FORMAT_VERSION {
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
        let meta: PartMeta = codec::decode(dir).map_err(|e| bad(format!("directory: {e}")))?;
        for (i, s) in meta.sections.iter().enumerate() {
            if s.offset < HEADER_LEN as u64
                || s.offset.checked_add(s.len).is_none_or(|end| end > dir_off)
            {
                return Err(bad(format!("section {i} lies outside the data area")));
            }
        }
        let ok_packed = |p: &PackedRef, len: u64| {
            (p.section as usize) < meta.sections.len() && p.len as u64 == len
        };
        if !ok_packed(&meta.visitor_visits, meta.visitors as u64 + 1)
            || !ok_packed(&meta.visit_events, meta.visits as u64 + 1)
            || meta.visitor_ids as usize >= meta.sections.len()
        {
            return Err(bad("directory: inconsistent structure".into()));
        }
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
        Ok(PartReader {
            path: path.to_path_buf(),
            data,
            meta,
            verified,
            visit_cols,
            event_cols,
            custom_cols,
            cache: Default::default(),
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
        let ok = self
            .verified
            .get(i as usize)
            .map(|v| *v.get_or_init(|| crc32c(bytes) == s.crc));
        if ok == Some(true) {
            Ok(bytes)
        } else {
            Err(self.corrupt(format!("section {i}: checksum mismatch")))
        }
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
        let index = IndexView::new(self.section(index_section)?)
            .ok_or_else(|| self.corrupt("index header"))?;
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

    fn need_visit(&self, name: &str) -> Result<&ColumnBody> {
        self.visit_column(name)
            .ok_or_else(|| self.corrupt(format!("missing visit column {name}")))
    }

    fn need_event(&self, name: &str) -> Result<&ColumnBody> {
        self.event_column(name)
            .ok_or_else(|| self.corrupt(format!("missing event column {name}")))
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

    /// Appends every event of visitor ordinal `v` to `rows`, as input rows again (with
    /// each visit-level value on the event that supplied it), for re-sessionisation.
    pub fn read_visitor_rows(&self, v: u32, rows: &mut Rows) -> Result<()> {
        let (nv, ne) = (self.meta.visits, self.meta.events);
        let ids = self.visitor_ids()?;
        let visitor_id = ids
            .get(v as usize)
            .ok_or_else(|| self.corrupt("visitor id"))?;
        let visitor = rows.strings.intern(visitor_id);
        let vv = self.packed(&self.meta.visitor_visits)?;
        let ve = self.packed(&self.meta.visit_events)?;
        let start = self.num(self.need_visit(internal::VISIT_START)?, nv)?;
        let site = self.num(self.need_visit(internal::SITE_ID)?, nv)?;
        let visit_id = self.cat(self.need_visit(internal::VISIT_ID)?, nv)?;
        let vis: Vec<CatView<'_>> = VISIT_STRINGS
            .iter()
            .map(|n| self.cat(self.need_visit(n)?, nv))
            .collect::<Result<_>>()?;
        let ts = self.num(self.need_event(internal::TS_OFFSET)?, ne)?;
        let kind = self.cat(self.need_event(internal::TYPE)?, ne)?;
        let evs: Vec<CatView<'_>> = EVENT_STRINGS
            .iter()
            .map(|n| self.cat(self.need_event(n)?, ne))
            .collect::<Result<_>>()?;
        let ev_value = self.num(self.need_event(internal::EVENT_VALUE)?, ne)?;
        let goal = self.num(self.need_event(internal::GOAL_ID)?, ne)?;
        let revenue = self.num(self.need_event(internal::REVENUE_EVENT)?, ne)?;
        let mut customs = Vec::new();
        for c in &self.meta.custom_columns {
            let ty = if matches!(c.body, ColumnBody::Cat { .. }) {
                CustomType::String
            } else {
                CustomType::Number
            };
            let d = rows.custom_dim(&c.name, ty).map_err(|_| {
                self.corrupt(format!("custom column {} has the wrong type", c.name))
            })?;
            customs.push((d, ty, &c.body));
        }
        let customs: Vec<(u32, Result<CatView<'_>>, Result<NumView<'_>>)> = customs
            .into_iter()
            .map(|(d, ty, body)| match ty {
                CustomType::String => (d, self.cat(body, ne), Err(self.corrupt("unused"))),
                CustomType::Number => (d, Err(self.corrupt("unused")), self.num(body, ne)),
            })
            .collect();
        for visit in self.range(&vv, v as usize, nv)? {
            let vstart = start
                .int(visit)
                .ok_or_else(|| self.corrupt("visit start"))?;
            let given_id = self
                .text(&visit_id, visit)?
                .map(|s| rows.strings.intern(s))
                .unwrap_or(0);
            let site_src = site.src.as_ref().map_or(0, |s| s.get(visit));
            for (off, e) in self.range(&ve, visit, ne)?.enumerate() {
                let offset = ts.int(e).ok_or_else(|| self.corrupt("event time"))?;
                let mut row = Row::new(vstart.saturating_add(offset), visitor);
                row.visit_id = given_id;
                let t = self
                    .text(&kind, e)?
                    .and_then(EventType::from_name)
                    .ok_or_else(|| self.corrupt("event type"))?;
                row.kind = t;
                for (slot, c) in row.ev.iter_mut().zip(&evs) {
                    *slot = self.text(c, e)?.map_or(0, |s| rows.strings.intern(s));
                }
                for (f, c) in vis.iter().enumerate() {
                    if c.src.as_ref().is_some_and(|s| s.get(visit) == off as i64) {
                        row.vis[f] = self.text(c, visit)?.map_or(0, |s| rows.strings.intern(s));
                    }
                }
                if site_src == off as i64 + 1 {
                    row.site_id = site.int(visit);
                }
                row.event_value = ev_value.num(e);
                row.goal_id = goal.int(e);
                row.revenue = revenue.num(e);
                let cstart = rows.custom.len();
                for (d, cat, num) in &customs {
                    let val = match (cat, num) {
                        (Ok(c), _) => self.text(c, e)?.map(|s| CVal::Str(rows.strings.intern(s))),
                        (_, Ok(n)) => n.num(e).map(CVal::Num),
                        (Err(err), Err(_)) => return Err(self.corrupt(err.to_string())),
                    };
                    if let Some(val) = val {
                        rows.custom.push((*d, val));
                    }
                }
                row.custom_start = cstart as u32;
                row.custom_len = (rows.custom.len() - cstart) as u32;
                rows.rows.push(row);
            }
        }
        Ok(())
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
