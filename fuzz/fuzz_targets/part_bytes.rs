//! Any bytes as a part file: opening, verifying and reading every visitor back must
//! return data or a corruption error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sightline::ingest::rows::Rows;
use sightline::storage::part::PartReader;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.slp");
    if let Ok(reader) = PartReader::from_bytes(path, data.to_vec()) {
        let _ = reader.verify_all();
        let mut rows = Rows::default();
        for v in 0..reader.meta().visitors.min(1000) {
            if reader.read_visitor_rows(v, &mut rows).is_err() {
                break;
            }
        }
    }
});
