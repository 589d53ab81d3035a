//! A (mutated) part with its checksums recomputed: open, verify, read back, query.
//! What must hold: `checks::part_resealed` (fuzz/checks/).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::part_resealed(data));
