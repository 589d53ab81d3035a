//! Writing a part: [`write_part`] lays out the columns a [`ColumnSource`] hands it, one
//! at a time, as checksummed sections behind a directory and a trailer (byte layout in
//! `docs/file-format.md`). What the columns mean — sessionisation, derived dimensions —
//! is ingest's business; this module only encodes.

use roaring::RoaringBitmap;

use super::checksum::crc32c;
use super::codec;
use super::dict;
use super::format::*;
use super::index;
use super::packed::pack;
use crate::error::{Error, Result};

/// The interned strings a part is written from: symbol → text. Symbol 0 is "no value".
pub(crate) trait Symbols: Sync {
    /// The text of `sym`.
    fn get(&self, sym: u32) -> &str;
    /// Number of symbols (every symbol is below it).
    fn len(&self) -> usize;
}

/// Which table of the part a column belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// One row per visit.
    Visit,
    /// One row per event.
    Event,
    /// A custom dimension: one row per event.
    Custom,
}

/// The values of one column, one entry per row of its table.
pub(crate) enum ColumnData {
    /// Strings as symbols (0: no value), dictionary-encoded and bitmap-indexed; `src`
    /// (visit-level input fields) gives each visit the offset of the event that
    /// supplied its value.
    Text {
        syms: Vec<u32>,
        src: Option<Vec<i64>>,
    },
    /// Integers, bit-packed; `src` as for text (siteId: 0 = defaulted, k = event k-1).
    Int {
        values: Vec<Option<i64>>,
        src: Option<Vec<i64>>,
    },
    /// Numbers, decimal-scaled or raw IEEE bits.
    Num { values: Vec<Option<f64>> },
}

/// One column to write.
pub(crate) struct Column {
    pub table: Table,
    pub name: String,
    pub data: ColumnData,
}

/// The structure of a part and its totals.
pub(crate) struct PartLayout {
    /// Visitor ids as symbols, sorted by text.
    pub visitors: Vec<u32>,
    /// `visitors + 1` offsets into the visits.
    pub visitor_visits: Vec<i64>,
    /// `visits + 1` offsets into the events.
    pub visit_events: Vec<i64>,
    /// First and last event, Unix ms.
    pub min_ts: i64,
    pub max_ts: i64,
    /// Action rows, conversions, and their revenue in millionths.
    pub actions: u64,
    pub conversions: u64,
    pub revenue_micros: i128,
}

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

impl Sections {
    /// The file: the sections, then the directory (`meta`) and the trailer.
    fn finish(self, meta: &PartMeta) -> Vec<u8> {
        let mut buf = self.buf;
        while !buf.len().is_multiple_of(8) {
            buf.push(0);
        }
        // Encoding a plain struct into a Vec cannot fail short of running out of memory.
        let dir = codec::encode(meta).unwrap_or_default();
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
        buf
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
    strings: &'a dyn Symbols,
    slot: Vec<u32>,
}

impl<'a> CatBuilder<'a> {
    fn new(strings: &'a dyn Symbols) -> CatBuilder<'a> {
        CatBuilder {
            strings,
            slot: vec![u32::MAX; strings.len()],
        }
    }

    /// The column `name` of `syms`; fails when its distinct values do not fit the
    /// format (more than 4 GiB of text in one column of one part).
    fn column(
        &mut self,
        out: &mut Sections,
        name: &str,
        syms: &[u32],
        src: Option<&[i64]>,
    ) -> Result<ColumnBody> {
        let mut distinct: Vec<u32> = Vec::new();
        for &s in syms {
            match self.slot.get_mut(s as usize) {
                Some(slot) if s != 0 && *slot == u32::MAX => {
                    *slot = 0;
                    distinct.push(s);
                }
                Some(_) => {}
                None => return Err(Error::internal(format!("column `{name}`: unknown symbol"))),
            }
        }
        distinct.sort_unstable_by(|a, b| self.strings.get(*a).cmp(self.strings.get(*b)));
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
            distinct.iter().map(|s| self.strings.get(*s)),
            dict::MAX_DICT_BYTES,
        )
        .map_err(|bytes| too_large(name, bytes))?;
        let dict = out.add(&dict);
        let index = index::build(&ids, distinct.len())
            .map_err(|why| Error::too_large(format!("column `{name}`: {why}")))?;
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
    Error::too_large(format!(
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

/// Lays out a part: `layout`, then every column of `columns` as it comes (so only one
/// column's values need exist at a time). Fails only when the data does not fit the
/// format's limits (a column's distinct values over 4 GiB, more than 2³² − 1 rows).
pub(crate) fn write_part(
    strings: &dyn Symbols,
    layout: PartLayout,
    columns: impl Iterator<Item = Column>,
) -> Result<(Vec<u8>, PartSummary)> {
    let count = |n: usize, what: &str| {
        u32::try_from(n).map_err(|_| {
            Error::too_large(format!(
                "one part would hold {n} {what}, more than a part can count"
            ))
        })
    };
    let visitors = count(layout.visitors.len(), "visitors")?;
    let visits = count(layout.visit_events.len().saturating_sub(1), "visits")?;
    let events = count(
        layout.visit_events.last().copied().unwrap_or(0).max(0) as usize,
        "events",
    )?;
    let mut out = Sections::new();
    let mut cats = CatBuilder::new(strings);
    let visitor_ids = dict::encode(
        layout.visitors.iter().map(|&s| strings.get(s)),
        dict::MAX_DICT_BYTES,
    )
    .map_err(|bytes| too_large("visitorId", bytes))?;
    let visitor_ids = out.add(&visitor_ids);
    let visitor_visits = out.packed(&layout.visitor_visits);
    let visit_events = out.packed(&layout.visit_events);
    let (mut vcols, mut ecols, mut ccols) = (Vec::new(), Vec::new(), Vec::new());
    for c in columns {
        let body = match c.data {
            ColumnData::Text { syms, src } => {
                cats.column(&mut out, &c.name, &syms, src.as_deref())?
            }
            ColumnData::Int { values, src } => out.int_column(&values, src.as_deref()),
            ColumnData::Num { values } => out.num_column(&values),
        };
        let meta = ColumnMeta { name: c.name, body };
        match c.table {
            Table::Visit => vcols.push(meta),
            Table::Event => ecols.push(meta),
            Table::Custom => ccols.push(meta),
        }
    }
    let meta = PartMeta {
        visitors,
        visits,
        events,
        min_ts: layout.min_ts,
        max_ts: layout.max_ts,
        actions: layout.actions,
        conversions: layout.conversions,
        // A total beyond i64 is recorded as `REVENUE_NOT_RECORDED`: readers then sum
        // the visits.
        revenue_micros: i64::try_from(layout.revenue_micros).unwrap_or(REVENUE_NOT_RECORDED),
        sections: std::mem::take(&mut out.refs),
        visitor_ids,
        visitor_visits,
        visit_events,
        visit_columns: vcols,
        event_columns: ecols,
        custom_columns: ccols,
    };
    Ok((
        out.finish(&meta),
        PartSummary {
            visitors,
            visits,
            events,
        },
    ))
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
