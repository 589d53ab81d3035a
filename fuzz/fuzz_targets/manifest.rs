//! Any bytes as a manifest and as a deletion file, as given and re-framed.
//! What must hold: `checks::manifest` (fuzz/checks/).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::manifest(data));
