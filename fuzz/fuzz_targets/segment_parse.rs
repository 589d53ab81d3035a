//! Any bytes (lossy UTF-8) as a segment in every dialect.
//! What must hold: `checks::segment_parse` (fuzz/checks/).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::segment_parse(data));
