//! A small scenario and segment: the bitmap engine against the scan oracle.
//! What must hold: `checks::segment_eval` (fuzz/checks/).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::segment_eval(data));
