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
    /// Decimal numbers given as integers: value = `values[i]` / 10^`scale` (0..=6),
    /// every row holding one (a `Num` column without presence bitmap).
    Scaled { values: Vec<i64>, scale: u8 },
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
    /// Per-visit measures (each `visits` long), summed per dictionary entry of every
    /// visit-level string column and over the part ([`QueryIndex`]). Their meaning is
    /// the caller's; the part only adds them up.
    pub measures: Vec<Vec<i64>>,
    /// Named sets of event rows (ascending) to keep as bitmaps ([`QueryIndex`]).
    pub row_sets: Vec<(String, Vec<u32>)>,
}

struct Sections {
    buf: Vec<u8>,
    refs: Vec<SectionRef>,
    /// Sections given block checksums (version 2).
    blocks: Vec<BlockCrcs>,
    /// Whether to give large bitmap indexes block checksums.
    blocked: bool,
}

impl Sections {
    fn new(version: u32) -> Sections {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(&PART_MAGIC);
        buf.extend_from_slice(&version.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        Sections {
            buf,
            refs: Vec::new(),
            blocks: Vec::new(),
            blocked: version >= 2,
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

    /// A section read in parts (a bitmap index): in version 2, one larger than a block
    /// also gets a table of block checksums.
    fn add_blocked(&mut self, bytes: &[u8]) -> u32 {
        let section = self.add(bytes);
        if self.blocked && bytes.len() > CHECK_BLOCK {
            let table: Vec<u8> = bytes
                .chunks(CHECK_BLOCK)
                .flat_map(|b| crc32c(b).to_le_bytes())
                .collect();
            let table = self.add(&table);
            self.blocks.push(BlockCrcs { section, table });
        }
        section
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

    /// Offsets (non-negative, below 2³²) packed at width 32: each value is then a plain
    /// little-endian `u32`, read with one load (`PackedView::get`).
    fn offsets(&mut self, values: &[i64]) -> PackedRef {
        let fits = values
            .iter()
            .all(|&v| (0..=i64::from(u32::MAX)).contains(&v));
        if !fits {
            return self.packed(values);
        }
        let bytes = super::packed::pack_with(values.iter().map(|&v| v as u64), values.len(), 32);
        let section = self.add(&bytes);
        PackedRef {
            section,
            len: values.len() as u32,
            width: 32,
            min: 0,
        }
    }

    /// The firsts of `offsets` (`n + 1` non-decreasing offsets into `len` rows, from 0 to
    /// `len`) as a bitset with a rank directory; `None` unless every range is non-empty
    /// (two ranges starting at one row cannot be told apart by a bitset).
    fn firsts(&mut self, offsets: &[i64], len: u32) -> Option<RankRef> {
        let (first, last) = (offsets.first()?, offsets.last()?);
        if *first != 0 || *last != i64::from(len) || offsets.windows(2).any(|w| w[0] >= w[1]) {
            return None;
        }
        let mut words = vec![0u64; (len as usize).div_ceil(64)];
        for &o in offsets.iter().take(offsets.len() - 1) {
            if let Some(w) = words.get_mut(o as usize / 64) {
                *w |= 1 << (o % 64);
            }
        }
        let mut ranks = Vec::with_capacity(words.len() * 4);
        let mut acc = 0u32;
        for w in &words {
            ranks.extend_from_slice(&acc.to_le_bytes());
            acc += w.count_ones();
        }
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        Some(RankRef {
            bits: self.add(&bytes),
            ranks: self.add(&ranks),
            len,
        })
    }

    /// `values` (one per visit) as bit slices of `(value − min) / unit`, each a bitset
    /// section ([`SliceSet`]).
    fn slices(&mut self, values: &[i64]) -> SliceSet {
        let (min, unit, planes) = bit_slices(values);
        let bits = planes
            .iter()
            .map(|p| {
                let bytes: Vec<u8> = p.iter().flat_map(|w| w.to_le_bytes()).collect();
                self.add(&bytes)
            })
            .collect();
        SliceSet { min, unit, bits }
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

    /// `values` packed at the smallest of 8, 16 or 32 bits that holds them (wider ones
    /// at their own width): each value is then one plain load, and a pass over the
    /// column compares whole bytes (`exec::numbers`).
    fn packed_aligned(&mut self, values: &[i64]) -> PackedRef {
        let lo = values.iter().copied().min().unwrap_or(0);
        let hi = values.iter().copied().max().unwrap_or(0);
        let span = (hi as i128 - lo as i128) as u128 as u64;
        let need = (64 - span.leading_zeros()) as u8;
        let width = match need {
            0 => 0,
            1..=8 => 8,
            9..=16 => 16,
            17..=32 => 32,
            w => w,
        };
        let bytes = super::packed::pack_with(
            values.iter().map(|&v| (v as i128 - lo as i128) as u64),
            values.len(),
            width,
        );
        PackedRef {
            section: self.add(&bytes),
            len: values.len() as u32,
            width,
            min: lo,
        }
    }

    fn int_column(
        &mut self,
        values: &[Option<i64>],
        src: Option<&[i64]>,
        aligned: bool,
    ) -> ColumnBody {
        let present: Vec<bool> = values.iter().map(|v| v.is_some()).collect();
        let dense: Vec<i64> = values.iter().flatten().copied().collect();
        let values = if aligned {
            self.packed_aligned(&dense)
        } else {
            self.packed(&dense)
        };
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
    /// The file: the sections, then the directory (`meta`, in the layout of `version`)
    /// and the trailer.
    fn finish(self, meta: PartMeta, version: u32) -> Vec<u8> {
        let mut buf = self.buf;
        while !buf.len().is_multiple_of(8) {
            buf.push(0);
        }
        // Encoding a plain struct into a Vec cannot fail short of running out of memory.
        let dir = if version == 1 {
            codec::encode(&PartMetaV1::from(meta))
        } else {
            codec::encode(&meta)
        }
        .unwrap_or_default();
        let dir_offset = buf.len() as u64;
        buf.extend_from_slice(&dir);
        let mut trailer = Vec::with_capacity(TRAILER_LEN);
        trailer.extend_from_slice(&dir_offset.to_le_bytes());
        trailer.extend_from_slice(&(dir.len() as u64).to_le_bytes());
        trailer.extend_from_slice(&crc32c(&dir).to_le_bytes());
        trailer.extend_from_slice(&version.to_le_bytes());
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
        summary: Option<&Summarise<'_>>,
        align: bool,
    ) -> Result<(ColumnBody, Option<ValueSummaries>)> {
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
        let index = out.add_blocked(&index);
        let summaries =
            summary
                .and_then(|s| s.records(&ids, distinct.len()))
                .map(|(bytes, entries)| ValueSummaries {
                    column: name.to_string(),
                    section: out.add(&bytes),
                    entries,
                });
        let ids64: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        // Version 2, event rows: ids of 9 to 16 bits are stored at 16, so that a pass
        // over the column (a condition matching many values) compares whole integers;
        // wider ones (near-unique values) keep their width, and so do the smaller
        // visit table's.
        let wide = (256..65_536).contains(&distinct.len());
        let ids = if align && wide {
            out.packed_aligned(&ids64)
        } else {
            out.packed(&ids64)
        };
        let src = src.map(|s| out.packed(s));
        Ok((
            ColumnBody::Cat {
                dict,
                ids,
                index,
                src,
            },
            summaries,
        ))
    }
}

/// What the per-entry summaries of visit-level string columns are made of: each visit's
/// owner (visitor ordinal) and measures.
struct Summarise<'a> {
    owner: Vec<u32>,
    measures: &'a [Vec<i64>],
    /// Entries of fewer visits get no record.
    min_visits: u32,
}

impl Summarise<'_> {
    /// The records of the entries of a visit column with ids `ids` (0: no value, k:
    /// entry k − 1) among `n` entries, and their count; `None` when a sum does not fit
    /// an `i64` (the engine then adds the visits up itself).
    fn records(&self, ids: &[u32], n: usize) -> Option<(Vec<u8>, u32)> {
        #[derive(Clone, Default)]
        struct Acc {
            visits: u32,
            owners: u32,
            last_owner: Option<u32>,
        }
        let m = self.measures.len();
        let mut acc = vec![Acc::default(); n];
        let mut sums = vec![0i128; n * m];
        for (v, &id) in ids.iter().enumerate() {
            let Some(e) = (id as usize).checked_sub(1) else {
                continue;
            };
            let a = acc.get_mut(e)?;
            a.visits += 1;
            let owner = self.owner.get(v).copied();
            if a.last_owner != owner {
                a.owners += 1;
                a.last_owner = owner;
            }
            for (k, col) in self.measures.iter().enumerate() {
                *sums.get_mut(e * m + k)? += i128::from(col.get(v).copied().unwrap_or(0));
            }
        }
        let mut out = Vec::new();
        let mut entries = 0u32;
        for (e, a) in acc.iter().enumerate() {
            if a.visits < self.min_visits {
                continue;
            }
            out.extend_from_slice(&(e as u32).to_le_bytes());
            out.extend_from_slice(&a.visits.to_le_bytes());
            out.extend_from_slice(&a.owners.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            for k in 0..m {
                let s = i64::try_from(*sums.get(e * m + k)?).ok()?;
                out.extend_from_slice(&s.to_le_bytes());
            }
            entries += 1;
        }
        Some((out, entries))
    }
}

/// `values` as bit slices ([`SliceSet`]): `(min, unit, planes)`, plane `i` a bitset of
/// the rows whose `(value − min) / unit` has bit `i` set.
pub(crate) fn bit_slices(values: &[i64]) -> (i64, i64, Vec<Vec<u64>>) {
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
    let nbits = (u64::BITS - span.leading_zeros()) as usize;
    let mut planes = vec![vec![0u64; values.len().div_ceil(64)]; nbits];
    for (v, &x) in values.iter().enumerate() {
        let mut d = x.wrapping_sub(min) as u64 / unit as u64;
        while d != 0 {
            let i = d.trailing_zeros() as usize;
            if let Some(w) = planes.get_mut(i).and_then(|p| p.get_mut(v / 64)) {
                *w |= 1 << (v % 64);
            }
            d &= d - 1;
        }
    }
    (min, unit, planes)
}

/// The owner of each of `visits` visits under visitor offsets `offsets` (ordinal of the
/// last visitor starting at or before it).
fn owners(offsets: &[i64], visits: u32) -> Vec<u32> {
    let mut owner = vec![0u32; visits as usize];
    for (v, w) in offsets.windows(2).enumerate() {
        let (a, b) = (
            w[0].max(0) as usize,
            (w[1].max(0) as usize).min(owner.len()),
        );
        if let Some(slots) = owner.get_mut(a..b) {
            slots.fill(v as u32);
        }
    }
    owner
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
    let version = if write_v1() { 1 } else { PART_FORMAT_VERSION };
    let mut out = Sections::new(version);
    let mut cats = CatBuilder::new(strings);
    let visitor_ids = dict::encode(
        layout.visitors.iter().map(|&s| strings.get(s)),
        dict::MAX_DICT_BYTES,
    )
    .map_err(|bytes| too_large("visitorId", bytes))?;
    let visitor_ids = out.add(&visitor_ids);
    let v2 = version >= 2;
    let (visitor_visits, visit_events) = if v2 {
        (
            out.offsets(&layout.visitor_visits),
            out.offsets(&layout.visit_events),
        )
    } else {
        (
            out.packed(&layout.visitor_visits),
            out.packed(&layout.visit_events),
        )
    };
    let (visit_firsts, visitor_firsts) = if v2 {
        (
            out.firsts(&layout.visit_events, events),
            out.firsts(&layout.visitor_visits, visits),
        )
    } else {
        (None, None)
    };
    let measures_ok = v2
        && layout.measures.len() <= usize::from(u8::MAX)
        && layout.measures.iter().all(|m| m.len() == visits as usize);
    let measures: &[Vec<i64>] = if measures_ok { &layout.measures } else { &[] };
    let summarise = Summarise {
        owner: owners(&layout.visitor_visits, visits),
        measures,
        min_visits: value_summary_min_visits(),
    };
    let measure_totals = measures
        .iter()
        .map(|m| m.iter().map(|&x| i128::from(x)).sum())
        .collect();
    let measure_slices = measures.iter().map(|m| out.slices(m)).collect();
    let row_sets = if v2 {
        layout
            .row_sets
            .iter()
            .map(|(name, rows)| {
                let mut bm =
                    RoaringBitmap::from_sorted_iter(rows.iter().copied()).unwrap_or_default();
                bm.optimize();
                RowSet {
                    name: name.clone(),
                    section: out.add(&index::encode_bitmap(&bm)),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut summaries = Vec::new();
    let (mut vcols, mut ecols, mut ccols) = (Vec::new(), Vec::new(), Vec::new());
    for c in columns {
        let body = match c.data {
            ColumnData::Text { syms, src } => {
                let summary =
                    (c.table == Table::Visit && !measures.is_empty()).then_some(&summarise);
                let align = v2 && c.table != Table::Visit;
                let (body, s) =
                    cats.column(&mut out, &c.name, &syms, src.as_deref(), summary, align)?;
                summaries.extend(s);
                body
            }
            // Visit-level numbers byte-aligned (version 2): they are what conditions
            // and summaries scan; the few extra bits a visit cost little beside the
            // event table.
            ColumnData::Int { values, src } => {
                out.int_column(&values, src.as_deref(), v2 && c.table == Table::Visit)
            }
            ColumnData::Num { values } => out.num_column(&values),
            ColumnData::Scaled { values, scale } => ColumnBody::Num {
                values: out.packed_aligned(&values),
                scale: scale.min(6),
                present: None,
            },
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
        query: v2.then_some(QueryIndex {
            visit_firsts,
            visitor_firsts,
            measures: measures.len() as u8,
            measure_totals,
            summaries,
            measure_slices,
            row_sets,
            blocks: std::mem::take(&mut out.blocks),
        }),
    };
    Ok((
        out.finish(meta, version),
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
    let version = le_u32(bytes, 8);
    let meta = if version == 1 {
        codec::decode::<PartMetaV1>(&bytes[dir_off..t]).map(PartMeta::from)
    } else {
        codec::decode::<PartMeta>(&bytes[dir_off..t])
    };
    if let Ok(mut meta) = meta {
        let range = |s: &SectionRef| {
            let end = s
                .offset
                .checked_add(s.len)
                .filter(|&e| e <= dir_off as u64)?;
            Some(s.offset as usize..end as usize)
        };
        // Block checksum tables first: they are sections themselves.
        let blocks = meta
            .query
            .as_ref()
            .map(|q| q.blocks.clone())
            .unwrap_or_default();
        for b in blocks {
            let (Some(sec), Some(tab)) = (
                meta.sections.get(b.section as usize).and_then(range),
                meta.sections.get(b.table as usize).and_then(range),
            ) else {
                continue;
            };
            let crcs: Vec<u8> = bytes[sec]
                .chunks(CHECK_BLOCK)
                .flat_map(|c| crc32c(c).to_le_bytes())
                .collect();
            if crcs.len() == tab.len() {
                bytes[tab].copy_from_slice(&crcs);
            }
        }
        for s in &mut meta.sections {
            if let Some(r) = range(s) {
                s.crc = crc32c(&bytes[r]);
            }
        }
        let dir = if version == 1 {
            codec::encode(&PartMetaV1::from(meta))
        } else {
            codec::encode(&meta)
        };
        if let Ok(dir) = dir {
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
