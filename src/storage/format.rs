//! On-disk structures shared by the part writer and reader: magic numbers, the fixed
//! header and trailer, and the part directory (encoded with bincode, see [`codec`]).
//!
//! Byte layout and the reasons for it: `docs/file-format.md`.
//!
//! [`codec`]: super::codec

use bincode::{Decode, Encode};

/// Format version written by this build and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

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
