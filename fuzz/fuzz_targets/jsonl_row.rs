//! Any bytes as one JSON Lines row: parsing must return a row or a `field: reason`
//! error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sightline::ingest::parse::{Mode, parse_json, push_raw};
use sightline::ingest::rows::Rows;

fuzz_target!(|data: &[u8]| {
    let mut rows = Rows::default();
    let mut raw = Vec::new();
    if parse_json(data, &mut raw).is_ok() {
        let _ = push_raw(&raw, Mode::Json, &mut rows, true);
    }
});
