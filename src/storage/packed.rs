//! Bit-packed integer columns (frame of reference).
//!
//! A column of `len` signed integers is stored as `value - min` in `width` bits each,
//! little-endian, in 64-bit words. Any row can be read in O(1) straight from the mapped
//! bytes, without decompressing anything. `width` is the number of bits of `max - min`,
//! so a column whose values all fit in 7 bits costs 7 bits a row.

use super::format::PackedRef;

/// Packs `values` and returns the descriptor fields `(min, width)` and the bytes.
pub fn pack(values: &[i64]) -> (i64, u8, Vec<u8>) {
    let min = values.iter().copied().min().unwrap_or(0);
    let max = values.iter().copied().max().unwrap_or(0);
    let span = (max as i128 - min as i128) as u128 as u64;
    let width = (64 - span.leading_zeros()) as u8;
    let bytes = pack_with(
        values.iter().map(|v| (*v as i128 - min as i128) as u64),
        values.len(),
        width,
    );
    (min, width, bytes)
}

/// Packs already-offset unsigned values at a given width.
pub fn pack_with(values: impl Iterator<Item = u64>, len: usize, width: u8) -> Vec<u8> {
    let words = words_for(len as u64, width) as usize;
    let mut out = vec![0u64; words];
    if width > 0 {
        let w = width as u64;
        for (i, v) in values.enumerate() {
            let bit = i as u64 * w;
            let word = (bit / 64) as usize;
            let shift = bit % 64;
            // `v` fits in `width` bits by construction.
            if let Some(slot) = out.get_mut(word) {
                *slot |= v << shift;
            }
            if shift + w > 64
                && let Some(slot) = out.get_mut(word + 1)
            {
                *slot |= v >> (64 - shift);
            }
        }
    }
    let mut bytes = Vec::with_capacity(words * 8);
    for w in out {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    bytes
}

/// Number of 64-bit words that hold `len` values of `width` bits.
pub fn words_for(len: u64, width: u8) -> u64 {
    (len.saturating_mul(width as u64)).div_ceil(64)
}

/// Unpacks chunk `k` of a view into the array and returns its row count
/// ([`PackedView::unpacker`]).
pub type Unpacker = fn(&PackedView<'_>, usize, &mut [u64; 64]) -> usize;

/// A read-only view of a packed column over (mapped) bytes.
///
/// Constructed only through [`PackedView::new`], which checks that the bytes are long
/// enough for `len` values, so [`get`](PackedView::get) needs no further checks to be
/// safe (it still never panics: an out-of-range row reads as `min`).
#[derive(Clone, Copy, Debug)]
pub struct PackedView<'a> {
    bytes: &'a [u8],
    len: u32,
    width: u8,
    min: i64,
}

impl<'a> PackedView<'a> {
    /// A view of `bytes` as described by `desc`; `None` if the bytes are too short or the
    /// width is impossible.
    pub fn new(bytes: &'a [u8], desc: &PackedRef) -> Option<PackedView<'a>> {
        if desc.width > 64 {
            return None;
        }
        let need = words_for(desc.len as u64, desc.width).checked_mul(8)?;
        if (bytes.len() as u64) < need {
            return None;
        }
        Some(PackedView {
            bytes,
            len: desc.len,
            width: desc.width,
            min: desc.min,
        })
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when the column holds no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self, i: usize) -> u64 {
        match self.bytes.get(i * 8..i * 8 + 8) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_le_bytes(a)
            }
            None => 0,
        }
    }

    /// The raw (offset) value of row `i`. Byte-aligned widths (8, 16, 32, 64 bits — the
    /// part writer stores offsets at 32) are one plain load.
    #[inline]
    pub fn get_raw(&self, i: usize) -> u64 {
        if i >= self.len as usize {
            return 0;
        }
        let le = |at: usize, n: usize| -> u64 {
            let mut a = [0u8; 8];
            if let Some(b) = self.bytes.get(at..at + n) {
                a[..n].copy_from_slice(b);
            }
            u64::from_le_bytes(a)
        };
        match self.width {
            0 => 0,
            8 => u64::from(self.bytes.get(i).copied().unwrap_or(0)),
            16 => le(i * 2, 2),
            32 => le(i * 4, 4),
            64 => le(i * 8, 8),
            w => {
                let w = w as u64;
                let bit = i as u64 * w;
                let word = (bit / 64) as usize;
                let shift = bit % 64;
                let mut v = self.word(word) >> shift;
                if shift + w > 64 {
                    v |= self.word(word + 1) << (64 - shift);
                }
                v & ((1u64 << w) - 1)
            }
        }
    }

    /// The value of row `i`.
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        (self.min as i128 + self.get_raw(i) as i128) as i64
    }

    /// Calls `f(first_row, raw_values)` for consecutive chunks of up to 64 rows (row
    /// `first_row + j` has raw value `raw_values[j]`; add `min` for the value). Chunks
    /// start at multiples of 64: the 64 values of a chunk of width `w` are exactly `w`
    /// words, unpacked by a loop specialised for each width (constant shifts, no
    /// per-value branches), many times faster than [`get`](PackedView::get) row by row.
    pub fn for_each_chunk(&self, mut f: impl FnMut(usize, &[u64])) {
        let unpack = self.unpacker();
        let mut out = [0u64; 64];
        for k in 0..(self.len as usize).div_ceil(64) {
            let n = unpack(self, k, &mut out);
            f(k * 64, out.get(..n).unwrap_or_default());
        }
    }

    /// Unpacks chunk `k` (rows `64k .. 64k + 64`) into `out` and returns how many rows
    /// it has (fewer than 64 only for the last chunk; 0 past the end).
    #[inline]
    pub fn chunk(&self, k: usize, out: &mut [u64; 64]) -> usize {
        (self.unpacker())(self, k, out)
    }

    /// The chunk unpacker for this view's width (see [`chunk`](Self::chunk)); callers
    /// decoding many chunks take it once.
    pub fn unpacker(&self) -> Unpacker {
        macro_rules! dispatch {
            ($($w:literal)*) => {
                match self.width {
                    $($w => unpack::<$w>,)*
                    _ => unpack::<0>,
                }
            };
        }
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28
            29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55
            56 57 58 59 60 61 62 63 64)
    }

    /// The packed bytes (for kernels reading byte-aligned widths directly).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Bits per value.
    pub fn width(&self) -> u8 {
        self.width
    }

    /// The minimum every raw value is offset from.
    pub fn min(&self) -> i64 {
        self.min
    }

    /// Iterates over all values.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len as usize).map(move |i| self.get(i))
    }
}

/// [`PackedView::chunk`] at width `W` (0: every value is 0).
fn unpack<const W: usize>(view: &PackedView<'_>, k: usize, out: &mut [u64; 64]) -> usize {
    let base = k * 64;
    let n = (view.len as usize).saturating_sub(base).min(64);
    if W == 0 || n == 0 {
        out.fill(0);
        return n;
    }
    let mask = if W >= 64 { u64::MAX } else { (1u64 << W) - 1 };
    // The chunk's values start at bit `base·W`: byte `k·W·8`, and a whole chunk is
    // exactly `W` words.
    let first = k * W * 8;
    if let Some(src) = view.bytes.get(first..first + W * 8) {
        let word = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&src[i * 8..i * 8 + 8]);
            u64::from_le_bytes(a)
        };
        for (j, o) in out.iter_mut().enumerate() {
            let bit = j * W;
            let (wi, sh) = (bit >> 6, bit & 63);
            let lo = word(wi) >> sh;
            let hi = if sh + W > 64 {
                word(wi + 1) << (64 - sh)
            } else {
                0
            };
            *o = (lo | hi) & mask;
        }
        return n;
    }
    // The last, partial chunk: its words, then zeros.
    let mut words = [0u64; 65];
    let have = (n * W).div_ceil(64);
    for (i, slot) in words.iter_mut().take(have).enumerate() {
        *slot = view.word(k * W + i);
    }
    for (j, o) in out.iter_mut().enumerate() {
        let bit = j * W;
        let (wi, sh) = (bit >> 6, bit & 63);
        let lo = words[wi] >> sh;
        let hi = if sh + W > 64 {
            words[wi + 1] << (64 - sh)
        } else {
            0
        };
        *o = (lo | hi) & mask;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn view_of(values: &[i64]) -> (Vec<u8>, PackedRef) {
        let (min, width, bytes) = pack(values);
        (
            bytes,
            PackedRef {
                section: 0,
                len: values.len() as u32,
                width,
                min,
            },
        )
    }

    proptest! {
        #[test]
        fn chunks_decode_every_value(values in proptest::collection::vec(any::<i64>(), 0..300),
                                     narrow in any::<bool>()) {
            // Narrow values exercise small widths, any::<i64> the 64-bit one.
            let values: Vec<i64> = if narrow {
                values.iter().map(|v| v.rem_euclid(1000) - 3).collect()
            } else {
                values
            };
            let (bytes, desc) = view_of(&values);
            let view = PackedView::new(&bytes, &desc).unwrap();
            let mut seen = Vec::new();
            view.for_each_chunk(|first, raw| {
                assert_eq!(first, seen.len());
                assert!(raw.len() <= 64 && first % 64 == 0);
                seen.extend(raw.iter().map(|&r| (view.min() as i128 + r as i128) as i64));
            });
            prop_assert_eq!(seen, values);
        }

        #[test]
        fn roundtrip(values in proptest::collection::vec(any::<i64>(), 0..200)) {
            let (bytes, desc) = view_of(&values);
            let view = PackedView::new(&bytes, &desc).unwrap();
            let back: Vec<i64> = view.iter().collect();
            prop_assert_eq!(back, values);
        }

        #[test]
        fn roundtrip_small(values in proptest::collection::vec(-5i64..300, 0..500)) {
            let (bytes, desc) = view_of(&values);
            prop_assert!(desc.width <= 9);
            let view = PackedView::new(&bytes, &desc).unwrap();
            let back: Vec<i64> = view.iter().collect();
            prop_assert_eq!(back, values);
        }
    }

    #[test]
    fn constant_column_takes_no_bytes() {
        let (bytes, desc) = view_of(&[7; 1000]);
        assert_eq!(desc.width, 0);
        assert!(bytes.is_empty());
        assert_eq!(PackedView::new(&bytes, &desc).unwrap().get(999), 7);
    }

    #[test]
    fn short_bytes_are_rejected() {
        let (bytes, desc) = view_of(&[1, 2, 3, 1000]);
        assert!(PackedView::new(&bytes[..bytes.len() - 1], &desc).is_none());
    }
}
