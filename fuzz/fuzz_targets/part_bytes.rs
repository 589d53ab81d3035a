//! Any bytes as a part file: open, verify, read back.
//! What must hold: `checks::part_bytes` (fuzz/checks/).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::part_bytes(data));
