//! On-disk structures shared by the part writer and reader: magic numbers, the fixed
//! header and trailer, and the part directory (encoded with bincode, see [`codec`]).
//!
//! Byte layout and the reasons for it: `docs/file-format.md`.
//!
//! [`codec`]: super::codec

use bincode::{Decode, Encode};

/// Format version of the deletion sets written by this build (the only one it reads).
pub const FORMAT_VERSION: u32 = 1;

/// Format version of the parts this build writes. Version 2 adds the query index
/// ([`QueryIndex`]): what queries need beyond the columns, written with the part so a
/// fresh process builds nothing. This build reads parts of versions 1 and 2.
pub const PART_FORMAT_VERSION: u32 = 2;

/// Bytes per checksummed block of a large section (format version 2): a query that
/// reads a few entries of a bitmap index verifies (and faults in) only their blocks.
pub const CHECK_BLOCK: usize = 1 << 16;

/// Visits of a dictionary entry below which a visit-level string column keeps no
/// per-entry summary ([`ValueSummaries`]): adding up that few visits costs microseconds.
pub const VALUE_SUMMARY_MIN_VISITS: u32 = 64;

static SUMMARY_MIN: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(VALUE_SUMMARY_MIN_VISITS);
static WRITE_V1: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The per-entry summary threshold in force (tests lower it).
pub(crate) fn value_summary_min_visits() -> u32 {
    SUMMARY_MIN.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn set_value_summary_min_visits(visits: u32) {
    SUMMARY_MIN.store(visits, std::sync::atomic::Ordering::Relaxed);
}

/// Whether parts are written in format version 1 (tests of the old-part reading path).
pub(crate) fn write_v1() -> bool {
    WRITE_V1.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn set_write_v1(on: bool) {
    WRITE_V1.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Magic at the start (header) and end (trailer) of a part file.
pub const PART_MAGIC: [u8; 8] = *b"SLPART\0\x01";
/// Magic of a deletion file.
pub const DEL_MAGIC: [u8; 8] = *b"SLDELS\0\x01";
/// Magic of a manifest file.
pub const MANIFEST_MAGIC: [u8; 8] = *b"SLMANI\0\x01";

/// `PartMeta::revenue_micros` of a part whose total revenue does not fit an `i64`:
/// the total is then the sum of the visits' totals.
pub const REVENUE_NOT_RECORDED: i64 = i64::MIN;

/// Header: magic (8) | version u32 | reserved u32.
pub const HEADER_LEN: usize = 16;
/// Trailer: dir_offset u64 | dir_len u64 | dir_crc u32 | version u32 | magic (8) |
/// trailer_crc u32 (over the 32 bytes before it) | reserved u32.
pub const TRAILER_LEN: usize = 40;

/// Where one checksummed section of a part lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct SectionRef {
    /// Byte offset from the start of the file (8-aligned).
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// CRC32C of the bytes.
    pub crc: u32,
}

/// A bit-packed integer column stored in a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct PackedRef {
    /// Index into [`PartMeta::sections`].
    pub section: u32,
    /// Number of values.
    pub len: u32,
    /// Bits per value (0..=64).
    pub width: u8,
    /// Frame of reference: value = min + stored bits.
    pub min: i64,
}

/// How a column is encoded.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum ColumnBody {
    /// A string (categorical) column: a sorted dictionary, one packed id per row
    /// (0 = no value, k = dictionary entry k-1) and a bitmap index with the rows of
    /// every dictionary entry.
    Cat {
        /// Dictionary section.
        dict: u32,
        /// Per-row ids.
        ids: PackedRef,
        /// Bitmap index section.
        index: u32,
        /// Visit-level columns: offset, inside the visit, of the event that supplied the
        /// value (needed to re-sessionise exactly when older events arrive).
        src: Option<PackedRef>,
    },
    /// An integer column. With `present`, `values` holds only the rows in that bitmap,
    /// in row order.
    Int {
        /// The values.
        values: PackedRef,
        /// Section with a roaring bitmap of the rows that have a value (None: all rows).
        present: Option<u32>,
        /// As for `Cat`.
        src: Option<PackedRef>,
    },
    /// A number column stored as integers scaled by `10^scale`, or as raw `f64` bits
    /// when `scale` is `RAW_F64` (255). `present` as for `Int`.
    Num {
        /// The values.
        values: PackedRef,
        /// Decimal scale, or `RAW_F64` (255) for a raw `f64`.
        scale: u8,
        /// Rows that have a value (None: all rows).
        present: Option<u32>,
    },
}

/// `scale` of a [`ColumnBody::Num`] whose values are raw IEEE-754 bits.
pub const RAW_F64: u8 = 255;

/// A named column.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ColumnMeta {
    /// Dimension name (`countryCode`, `pageUrl`, a custom name, or an internal `@name`).
    pub name: String,
    /// Encoding.
    pub body: ColumnBody,
}

/// A bitset over the rows of a table with a rank directory: bit `i` of little-endian
/// 64-bit word `i / 64` of section `bits` is row `i`; section `ranks` holds one
/// little-endian `u32` per word, the number of set bits in the words before it, so the
/// rank of any row is one lookup and one population count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct RankRef {
    /// The bitset section (`ceil(len / 64)` words).
    pub bits: u32,
    /// The rank directory section (one `u32` per word).
    pub ranks: u32,
    /// Rows covered.
    pub len: u32,
}

/// Per-entry summaries of one visit-level string column: for every dictionary entry
/// held by at least [`VALUE_SUMMARY_MIN_VISITS`] visits, a record `entry u32 | visits
/// u32 | owners u32 | reserved u32 | measures × i64` (little-endian, ascending by entry),
/// where `owners` counts the distinct visitors of those visits and each measure is the
/// sum of one per-visit measure of [`PartLayout`](super::part_writer::PartLayout) over
/// them (what the measures mean is the engine's business, not the part's).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ValueSummaries {
    /// The column (a name of `visit_columns`).
    pub column: String,
    /// Section holding the records.
    pub section: u32,
    /// Number of records.
    pub entries: u32,
}

/// What queries need beyond the columns (format version 2), written with the part.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct QueryIndex {
    /// Over event rows: the first event of every visit (the owner of a row is its rank
    /// minus one). `None` when a visit has no events (never written so).
    pub visit_firsts: Option<RankRef>,
    /// Over visits: the first visit of every visitor.
    pub visitor_firsts: Option<RankRef>,
    /// Number of per-visit measures summed in `summaries` and `measure_totals`.
    pub measures: u8,
    /// Every measure summed over all visits of the part.
    pub measure_totals: Vec<i128>,
    /// Per-entry summaries of visit-level string columns.
    pub summaries: Vec<ValueSummaries>,
    /// Each measure as bit slices over the visits (one per measure, in order).
    pub measure_slices: Vec<SliceSet>,
    /// Named sets of event rows kept as bitmaps (a section holding a portable roaring
    /// bitmap each): what the caller asked to find without a column pass.
    pub row_sets: Vec<RowSet>,
    /// Sections that also carry a checksum per [`CHECK_BLOCK`] bytes.
    pub blocks: Vec<BlockCrcs>,
}

/// The block checksums of one section: section `table` holds the CRC32C of every
/// [`CHECK_BLOCK`] bytes of section `section` (the last block may be shorter), one
/// little-endian `u32` each. The section's own CRC still covers it whole (`check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct BlockCrcs {
    /// The section checked block by block.
    pub section: u32,
    /// The section holding its block checksums.
    pub table: u32,
}

/// A named set of event rows ([`QueryIndex::row_sets`]).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RowSet {
    /// Its name.
    pub name: String,
    /// The section holding the bitmap.
    pub section: u32,
}

/// A per-visit measure as bit slices: the value of visit `v` is `min + unit ·
/// Σ 2^i · bit(v, i)`, where section `bits[i]` is a bitset over the visits (bit `v` of
/// little-endian word `v / 64`). The sum over any set of visits `S` is then `|S|·min +
/// unit · Σ 2^i · |S ∩ slice_i|`: a few dozen population counts of word-wise ANDs,
/// whatever the size of `S` (O'Neil and Quass, "Improved query performance with
/// variant indexes", 1997). `unit` is the largest power of ten (up to 10⁶) dividing
/// every `value − min`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SliceSet {
    /// Smallest value.
    pub min: i64,
    /// The power of ten factored out.
    pub unit: i64,
    /// Bitset section of each bit, least significant first.
    pub bits: Vec<u32>,
}

/// Byte length of one [`ValueSummaries`] record with `measures` measures.
pub fn summary_record_len(measures: u8) -> usize {
    16 + 8 * measures as usize
}

/// The directory of a version 1 part (no query index): decoded, never written. The
/// fields are those of [`PartMeta`] without `query`.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PartMetaV1 {
    pub visitors: u32,
    pub visits: u32,
    pub events: u32,
    pub min_ts: i64,
    pub max_ts: i64,
    pub actions: u64,
    pub conversions: u64,
    pub revenue_micros: i64,
    pub sections: Vec<SectionRef>,
    pub visitor_ids: u32,
    pub visitor_visits: PackedRef,
    pub visit_events: PackedRef,
    pub visit_columns: Vec<ColumnMeta>,
    pub event_columns: Vec<ColumnMeta>,
    pub custom_columns: Vec<ColumnMeta>,
}

impl From<PartMeta> for PartMetaV1 {
    fn from(m: PartMeta) -> PartMetaV1 {
        PartMetaV1 {
            visitors: m.visitors,
            visits: m.visits,
            events: m.events,
            min_ts: m.min_ts,
            max_ts: m.max_ts,
            actions: m.actions,
            conversions: m.conversions,
            revenue_micros: m.revenue_micros,
            sections: m.sections,
            visitor_ids: m.visitor_ids,
            visitor_visits: m.visitor_visits,
            visit_events: m.visit_events,
            visit_columns: m.visit_columns,
            event_columns: m.event_columns,
            custom_columns: m.custom_columns,
        }
    }
}

impl From<PartMetaV1> for PartMeta {
    fn from(m: PartMetaV1) -> PartMeta {
        PartMeta {
            visitors: m.visitors,
            visits: m.visits,
            events: m.events,
            min_ts: m.min_ts,
            max_ts: m.max_ts,
            actions: m.actions,
            conversions: m.conversions,
            revenue_micros: m.revenue_micros,
            sections: m.sections,
            visitor_ids: m.visitor_ids,
            visitor_visits: m.visitor_visits,
            visit_events: m.visit_events,
            visit_columns: m.visit_columns,
            event_columns: m.event_columns,
            custom_columns: m.custom_columns,
            query: None,
        }
    }
}

/// The directory of a part: counts, totals and where every column is.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PartMeta {
    /// Visitors in the part (each visitor's data lives in exactly one part).
    pub visitors: u32,
    /// Visits in the part.
    pub visits: u32,
    /// Events (actions and conversions) in the part.
    pub events: u32,
    /// Earliest event timestamp (Unix ms).
    pub min_ts: i64,
    /// Latest event timestamp (Unix ms).
    pub max_ts: i64,
    /// Number of action rows.
    pub actions: u64,
    /// Number of `goal` and `ecommerceOrder` rows.
    pub conversions: u64,
    /// Revenue of conversion rows, in millionths.
    /// (`REVENUE_NOT_RECORDED`, `i64::MIN`, if it does not fit).
    pub revenue_micros: i64,
    /// Every section of the file, in file order.
    pub sections: Vec<SectionRef>,
    /// Dictionary section of visitor ids, sorted; visitor ordinal = position.
    pub visitor_ids: u32,
    /// `visitors + 1` offsets: visitor v owns visits `[o[v], o[v+1])`.
    pub visitor_visits: PackedRef,
    /// `visits + 1` offsets: visit i owns events `[o[i], o[i+1])`.
    pub visit_events: PackedRef,
    /// Visit-level columns (one row per visit).
    pub visit_columns: Vec<ColumnMeta>,
    /// Event-level columns of built-in fields (one row per event).
    pub event_columns: Vec<ColumnMeta>,
    /// Custom dimensions present in this part (event level), by name.
    pub custom_columns: Vec<ColumnMeta>,
    /// The query index (format version 2; `None` in a version 1 part).
    pub query: Option<QueryIndex>,
}

/// The little-endian `u32` at `at` (0 past the end).
pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
/// The little-endian `u64` at `at` (0 past the end).
pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}
