//! Word-parallel kernels over plain bitsets — the inner loops of summaries — compiled
//! for the CPU's vector extensions as well as for the baseline, the best version chosen
//! at run time (`multiversion`: AVX2 and POPCNT on x86-64; the compiler vectorises the
//! population counts).

use multiversion::multiversion;

/// Σ popcount(a[k] & b[k]) over the common length.
#[multiversion(targets("x86_64+avx2+popcnt", "x86_64+popcnt", "aarch64+neon"))]
pub(super) fn and_count(a: &[u64], b: &[u64]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| u64::from((x & y).count_ones()))
        .sum()
}

/// Number of owners with a selected member: `sel` marks the selected members, `firsts`
/// the first member of every owner (bit 0 set: member 0 starts an owner).
///
/// A selected member is its owner's first selected one when it starts the owner, or
/// when the nearest marked position below it (selected or first) is the start of an
/// owner that is not selected. That nearest position is found for all members of a
/// word at once by carry propagation: the bits just above the unselected starts are
/// added to the run of unmarked positions above them, and each carry lands on the
/// next marked position; carries ripple on into the next word.
#[multiversion(targets("x86_64+avx2+popcnt", "x86_64+popcnt", "aarch64+neon"))]
pub(super) fn owners_hit(sel: &[u64], firsts: &[u64]) -> u64 {
    let (mut n, mut shifted_in, mut ripple) = (0u64, 0u64, 0u64);
    for (&s, &f) in sel.iter().zip(firsts) {
        let marked = s | f;
        let open = !marked;
        let sources = f & !s;
        let x = (sources << 1) | shifted_in;
        shifted_in = sources >> 63;
        let direct = x & marked;
        let (sum, c1) = open.overflowing_add(x & open);
        let (sum, c2) = sum.overflowing_add(ripple);
        ripple = u64::from(c1 | c2);
        let landing = (sum & marked) | direct;
        n += u64::from((s & f).count_ones()) + u64::from((landing & s & !f).count_ones());
    }
    n
}

/// Bitset (bit `j` of word `j / 64` ↔ row `j`) of the `n` little-endian `u8` values
/// of `bytes` with `value − lo ≤ span` (wrapping: one unsigned comparison).
#[multiversion(targets("x86_64+avx2+popcnt", "x86_64+popcnt", "aarch64+neon"))]
pub(super) fn in_range_u8(bytes: &[u8], n: usize, lo: u8, span: u8, out: &mut [u64]) {
    for (w, chunk) in out
        .iter_mut()
        .zip(bytes.get(..n).unwrap_or(bytes).chunks(64))
    {
        let mut m = 0u64;
        for (j, &x) in chunk.iter().enumerate() {
            m |= u64::from(x.wrapping_sub(lo) <= span) << j;
        }
        *w = m;
    }
}

/// [`in_range_u8`] for `u16` values.
#[multiversion(targets("x86_64+avx2+popcnt", "x86_64+popcnt", "aarch64+neon"))]
pub(super) fn in_range_u16(bytes: &[u8], n: usize, lo: u16, span: u16, out: &mut [u64]) {
    let bytes = bytes.get(..n * 2).unwrap_or(bytes);
    for (w, chunk) in out.iter_mut().zip(bytes.chunks(128)) {
        let mut m = 0u64;
        for (j, b) in chunk.chunks_exact(2).enumerate() {
            let x = u16::from_le_bytes([b[0], b[1]]);
            m |= u64::from(x.wrapping_sub(lo) <= span) << j;
        }
        *w = m;
    }
}

/// [`in_range_u8`] for `u32` values.
#[multiversion(targets("x86_64+avx2+popcnt", "x86_64+popcnt", "aarch64+neon"))]
pub(super) fn in_range_u32(bytes: &[u8], n: usize, lo: u32, span: u32, out: &mut [u64]) {
    let bytes = bytes.get(..n * 4).unwrap_or(bytes);
    for (w, chunk) in out.iter_mut().zip(bytes.chunks(256)) {
        let mut m = 0u64;
        for (j, b) in chunk.chunks_exact(4).enumerate() {
            let x = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            m |= u64::from(x.wrapping_sub(lo) <= span) << j;
        }
        *w = m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The carry walk counts what a plain owner table counts.
        #[test]
        fn owners_hit_counts_distinct_owners(
            sizes in prop::collection::vec(1usize..90, 1..60),
            pick in prop::collection::vec(any::<bool>(), 5400),
            sparse in any::<bool>(),
        ) {
            let mut owner = Vec::new();
            for (o, &k) in sizes.iter().enumerate() {
                owner.extend(std::iter::repeat_n(o, k));
            }
            let n = owner.len();
            let words = n.div_ceil(64);
            let (mut sel, mut firsts) = (vec![0u64; words], vec![0u64; words]);
            let mut want = std::collections::BTreeSet::new();
            for i in 0..n {
                if i == 0 || owner[i] != owner[i - 1] {
                    firsts[i / 64] |= 1 << (i % 64);
                }
                if pick[i] && (!sparse || i % 7 == 0) {
                    sel[i / 64] |= 1 << (i % 64);
                    want.insert(owner[i]);
                }
            }
            prop_assert_eq!(owners_hit(&sel, &firsts), want.len() as u64);
            let a: Vec<u64> = sel.iter().map(|w| w ^ 0x5555).collect();
            let want_and: u64 = sel.iter().zip(&a).map(|(x, y)| u64::from((x & y).count_ones())).sum();
            prop_assert_eq!(and_count(&sel, &a), want_and);
        }
    }
}
