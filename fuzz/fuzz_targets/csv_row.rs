//! Any bytes as a CSV file with a header row, strict and lenient.
//! What must hold: `checks::csv_row` (fuzz/checks/).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::csv_row(data));
