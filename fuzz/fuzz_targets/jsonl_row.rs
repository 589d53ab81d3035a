//! Any bytes as one JSON Lines row, through both row paths of the importer.
//! What must hold: `checks::jsonl_row` (fuzz/checks/).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::jsonl_row(data));
