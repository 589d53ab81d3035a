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

    /// The raw (offset) value of row `i`.
    #[inline]
    pub fn get_raw(&self, i: usize) -> u64 {
        if self.width == 0 || i >= self.len as usize {
            return 0;
        }
        let w = self.width as u64;
        let bit = i as u64 * w;
        let word = (bit / 64) as usize;
        let shift = bit % 64;
        let mut v = self.word(word) >> shift;
        if shift + w > 64 {
            v |= self.word(word + 1) << (64 - shift);
        }
        if w < 64 { v & ((1u64 << w) - 1) } else { v }
    }

    /// The value of row `i`.
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        (self.min as i128 + self.get_raw(i) as i128) as i64
    }

    /// Calls `f(first_row, raw_values)` for consecutive chunks of up to 64 rows (row
    /// `first_row + j` has raw value `raw_values[j]`; add `min` for the value). Chunks
    /// start at multiples of 64 and are decoded from whole words, several times faster
    /// than [`get`](PackedView::get) row by row.
    pub fn for_each_chunk(&self, mut f: impl FnMut(usize, &[u64])) {
        let len = self.len as usize;
        let mut out = [0u64; 64];
        let w = self.width as usize;
        let mask = if w < 64 { (1u64 << w) - 1 } else { u64::MAX };
        let mut words = [0u64; 65];
        let mut base = 0;
        while base < len {
            let n = (len - base).min(64);
            if w > 0 {
                // The chunk's values start at bit `base·w`, a word boundary.
                let first = base / 64 * w;
                let nwords = (n * w).div_ceil(64);
                for (k, slot) in words.iter_mut().take(nwords).enumerate() {
                    *slot = self.word(first + k);
                }
                for (j, o) in out.iter_mut().take(n).enumerate() {
                    let bit = j * w;
                    let (wi, sh) = (bit >> 6, bit & 63);
                    let lo = words.get(wi).copied().unwrap_or(0) >> sh;
                    let hi = if sh + w > 64 {
                        words.get(wi + 1).copied().unwrap_or(0) << (64 - sh)
                    } else {
                        0
                    };
                    *o = (lo | hi) & mask;
                }
            }
            f(base, &out[..n]);
            base += n;
        }
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
