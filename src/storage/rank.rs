//! Bitsets with a rank directory: which visit owns an event row, and which
//! visitor owns a visit, in one lookup and one population count, straight from the
//! mapped bytes (the sections of a [`RankRef`](super::format::RankRef)).
//!
//! A part's rows are ordered visitor → visit → event, so "the visit owning row `r`" is
//! the number of visit starts at or before `r`, minus one. The bitset marks the starts;
//! the directory holds, per 64-bit word, the number of starts before it. Version 1
//! parts have no such section: the engine builds the same bytes in memory from the
//! offsets ([`RankBuf::from_offsets`]) and reads them through the same view.

use super::format::{le_u32, le_u64};

/// A read-only rank bitset over (mapped or owned) bytes.
#[derive(Clone, Copy, Debug)]
pub struct RankView<'a> {
    bits: &'a [u8],
    ranks: &'a [u8],
    len: u32,
}

impl<'a> RankView<'a> {
    /// A view of `bits` (`ceil(len / 64)` little-endian words) and `ranks` (one
    /// little-endian `u32` per word); `None` if either is too short.
    pub fn new(bits: &'a [u8], ranks: &'a [u8], len: u32) -> Option<RankView<'a>> {
        let words = (len as usize).div_ceil(64);
        (bits.len() >= words * 8 && ranks.len() >= words * 4).then_some(RankView {
            bits,
            ranks,
            len,
        })
    }

    /// Positions covered.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when no position is covered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bitset as words lent from the bytes (`None` when they do not lie 8-aligned in
    /// memory, or on a big-endian machine).
    pub fn words(&self) -> Option<&'a [u64]> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let n = (self.len as usize).div_ceil(64) * 8;
        bytemuck::try_cast_slice::<u8, u64>(self.bits.get(..n)?).ok()
    }

    /// Word `k` of the bitset (0 past the end).
    #[inline]
    pub fn word(&self, k: usize) -> u64 {
        le_u64(self.bits, k * 8)
    }

    /// Set bits in the words before word `k`.
    #[inline]
    fn before(&self, k: usize) -> u32 {
        le_u32(self.ranks, k * 4)
    }

    /// Set bits at positions `0..=p`: the owner of row `p` is `rank(p) − 1` when the set
    /// bits are the owners' first rows. Positions past the end count every set bit.
    #[inline]
    pub fn rank(&self, p: u32) -> u32 {
        let p = p.min(self.len.saturating_sub(1));
        let k = p as usize / 64;
        let bit = p % 64;
        let mask = if bit == 63 {
            u64::MAX
        } else {
            (2u64 << bit) - 1
        };
        self.before(k) + (self.word(k) & mask).count_ones()
    }

    /// The owner of position `p` (the number of firsts at or before it, minus one).
    #[inline]
    pub fn owner(&self, p: u32) -> u32 {
        self.rank(p).saturating_sub(1)
    }

    /// Checks the directory against the bitset, and that the set bits are exactly
    /// `firsts` (ascending): what `check` verifies.
    pub fn validate(&self, firsts: impl Iterator<Item = u32>) -> Result<(), String> {
        let words = (self.len as usize).div_ceil(64);
        let mut acc = 0u32;
        for k in 0..words {
            if self.before(k) != acc {
                return Err(format!(
                    "rank directory disagrees with its bitset at word {k}"
                ));
            }
            acc = acc.wrapping_add(self.word(k).count_ones());
        }
        let tail = self.len % 64;
        if tail != 0 && words > 0 && self.word(words - 1) >> tail != 0 {
            return Err("bits set past the end of the bitset".into());
        }
        let mut n = 0u32;
        for f in firsts {
            if f >= self.len || self.word(f as usize / 64) >> (f % 64) & 1 == 0 {
                return Err(format!("row {f} starts an owner but is not marked"));
            }
            n += 1;
        }
        if n != acc {
            return Err(format!("{acc} rows marked, {n} owners"));
        }
        Ok(())
    }
}

/// Owned rank bitset bytes, for parts written without one (format version 1).
#[derive(Debug, Default)]
pub struct RankBuf {
    /// Words, so that [`RankView::words`] can always lend them.
    bits: Vec<u64>,
    ranks: Vec<u8>,
    len: u32,
}

impl RankBuf {
    /// The firsts of `starts` (owner `i` starts at `starts(i)`, `n` owners, ascending,
    /// each below `len`): positions where two owners start together keep one bit, so
    /// ranks then name the last of them. Callers use it only where every owner has rows.
    pub fn from_offsets(n: usize, starts: impl Fn(usize) -> u32, len: u32) -> RankBuf {
        let words = (len as usize).div_ceil(64);
        let mut bits = vec![0u64; words];
        for i in 0..n {
            let s = starts(i);
            if s < len
                && let Some(w) = bits.get_mut(s as usize / 64)
            {
                *w |= 1 << (s % 64);
            }
        }
        let mut ranks = Vec::with_capacity(words * 4);
        let mut acc = 0u32;
        for w in &bits {
            ranks.extend_from_slice(&acc.to_le_bytes());
            acc += w.count_ones();
        }
        if cfg!(target_endian = "big") {
            // The view reads little-endian bytes.
            for w in &mut bits {
                *w = w.to_le();
            }
        }
        RankBuf { bits, ranks, len }
    }

    /// A view of the bytes.
    pub fn view(&self) -> RankView<'_> {
        RankView {
            bits: bytemuck::cast_slice(&self.bits),
            ranks: &self.ranks,
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn owner_is_the_last_start_at_or_before(sizes in prop::collection::vec(1u32..80, 1..200)) {
            let mut starts = vec![0u32];
            for s in &sizes {
                starts.push(starts.last().unwrap() + s);
            }
            let len = *starts.last().unwrap();
            let n = sizes.len();
            let buf = RankBuf::from_offsets(n, |i| starts[i], len);
            let view = buf.view();
            prop_assert!(view.validate(starts[..n].iter().copied()).is_ok());
            for p in 0..len {
                let want = starts.partition_point(|&s| s <= p) as u32 - 1;
                prop_assert_eq!(view.owner(p), want);
            }
        }
    }

    #[test]
    fn a_wrong_directory_is_reported() {
        let buf = RankBuf::from_offsets(3, |i| [0, 70, 130][i], 200);
        let bits: &[u8] = bytemuck::cast_slice(&buf.bits);
        let mut ranks = buf.ranks.clone();
        ranks[4] ^= 1;
        let bad = RankView::new(bits, &ranks, 200).unwrap();
        assert!(bad.validate([0, 70, 130].into_iter()).is_err());
        assert!(buf.view().validate([0, 70].into_iter()).is_err());
        assert!(RankView::new(&bits[..8], &buf.ranks, 200).is_none());
    }
}
