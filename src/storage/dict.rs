//! String dictionaries: the distinct values of a column, sorted by bytes.
//!
//! Layout: `n: u32` | `n + 1` offsets `u32` (relative to the string bytes) | string bytes.
//! Sorted order makes equality a binary search and byte-order comparisons (`<`, `>=` …)
//! an id range, so a segment condition touches the dictionary once, not every row.

use std::cmp::Ordering;

/// Most string bytes one dictionary holds: its offsets are `u32`.
pub const MAX_DICT_BYTES: u64 = u32::MAX as u64;

/// Encodes sorted, distinct strings. Fails (with the byte count) when they hold more
/// than `limit` bytes together — [`MAX_DICT_BYTES`] is the format's limit.
pub fn encode<'s>(
    sorted: impl ExactSizeIterator<Item = &'s str>,
    limit: u64,
) -> Result<Vec<u8>, u64> {
    let n = sorted.len();
    let limit = limit.min(MAX_DICT_BYTES);
    let mut offsets = Vec::with_capacity(n + 1);
    let mut bytes = Vec::new();
    offsets.push(0u32);
    for s in sorted {
        bytes.extend_from_slice(s.as_bytes());
        let end = u32::try_from(bytes.len())
            .ok()
            .filter(|&e| u64::from(e) <= limit)
            .ok_or(bytes.len() as u64)?;
        offsets.push(end);
    }
    let n = u32::try_from(n).map_err(|_| bytes.len() as u64)?;
    let mut out = Vec::with_capacity(4 + offsets.len() * 4 + bytes.len());
    out.extend_from_slice(&n.to_le_bytes());
    for o in offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// A read-only dictionary over (mapped) bytes. Every accessor is checked: a damaged
/// dictionary yields `None`, never a panic.
#[derive(Clone, Copy, Debug)]
pub struct DictView<'a> {
    n: u32,
    offsets: &'a [u8],
    bytes: &'a [u8],
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i * 4..i * 4 + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl<'a> DictView<'a> {
    /// Parses the dictionary header; `None` if the bytes cannot hold it.
    pub fn new(section: &'a [u8]) -> Option<DictView<'a>> {
        let n = u32_at(section, 0)?;
        let off_len = (n as usize).checked_add(1)?.checked_mul(4)?;
        let offsets = section.get(4..4usize.checked_add(off_len)?)?;
        let bytes = section.get(4 + off_len..)?;
        Some(DictView { n, offsets, bytes })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// True when the dictionary is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Raw bytes of entry `i`.
    pub fn get_bytes(&self, i: usize) -> Option<&'a [u8]> {
        if i >= self.n as usize {
            return None;
        }
        let start = u32_at(self.offsets, i)? as usize;
        let end = u32_at(self.offsets, i + 1)? as usize;
        self.bytes.get(start..end)
    }

    /// Entry `i` as text; `None` if out of range or not UTF-8 (corruption).
    pub fn get(&self, i: usize) -> Option<&'a str> {
        std::str::from_utf8(self.get_bytes(i)?).ok()
    }

    /// Position of `key`, by binary search.
    pub fn find(&self, key: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.n as usize);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get_bytes(mid)?.cmp(key.as_bytes()) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Position of the first entry not below `key` (bytewise): entries `..i` sort before
    /// it. A damaged entry counts as above every key.
    pub fn lower_bound(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0usize, self.n as usize);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get_bytes(mid).is_some_and(|b| b < key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Checks every entry: offsets in bounds, UTF-8, strictly increasing order.
    pub fn validate(&self) -> Result<(), String> {
        let mut prev: Option<&[u8]> = None;
        for i in 0..self.n as usize {
            let b = self
                .get_bytes(i)
                .ok_or_else(|| format!("dictionary entry {i} out of bounds"))?;
            std::str::from_utf8(b).map_err(|_| format!("dictionary entry {i} is not UTF-8"))?;
            if let Some(p) = prev
                && p >= b
            {
                return Err(format!("dictionary entry {i} out of order"));
            }
            prev = Some(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_find() {
        let words = ["", "a", "ab", "b", "zz\u{e9}"];
        let bytes = encode(words.iter().copied(), MAX_DICT_BYTES).unwrap();
        let d = DictView::new(&bytes).unwrap();
        assert_eq!(d.len(), 5);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(d.get(i), Some(*w));
            assert_eq!(d.find(w), Some(i));
        }
        assert_eq!(d.find("aa"), None);
        assert!(d.validate().is_ok());
    }

    #[test]
    fn damaged_offsets_do_not_panic() {
        let mut bytes = encode(["a", "b"].into_iter(), MAX_DICT_BYTES).unwrap();
        bytes[8] = 0xff; // second offset
        let d = DictView::new(&bytes).unwrap();
        assert!(d.validate().is_err());
        assert!(DictView::new(&bytes[..3]).is_none());
    }

    #[test]
    fn a_dictionary_past_its_limit_is_refused() {
        let words = ["aaaa", "bbbb", "cccc"];
        assert!(encode(words.iter().copied(), 12).is_ok());
        assert_eq!(encode(words.iter().copied(), 11), Err(12));
    }
}
