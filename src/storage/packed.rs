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
