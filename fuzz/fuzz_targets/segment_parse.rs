//! Any bytes (as lossy UTF-8) as a segment in every dialect: parsing must return a
//! segment or an error whose offset is a character boundary of the input, never
//! panic; a parsed segment's canonical text must parse (default dialect) back to an
//! equal segment.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sightline::lang::{Dialect, parse};

/// True if the default dialect can write `name` (Matomo names may hold whitespace
/// or operator characters, which it cannot).
fn writable_name(name: &str) -> bool {
    let probe = format!("{name}==");
    parse(&probe, Dialect::Default)
        .ok()
        .and_then(|s| s.conditions().next().map(|c| c.name == name))
        .unwrap_or(false)
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    for dialect in [Dialect::Default, Dialect::Matomo, Dialect::MatomoUrl] {
        match parse(&input, dialect) {
            Err(e) => assert!(input.is_char_boundary(e.offset), "{dialect:?}: {e}"),
            Ok(segment) => {
                if !segment.conditions().all(|c| writable_name(&c.name)) {
                    continue;
                }
                let text = segment.to_string();
                let back = parse(&text, Dialect::Default);
                assert_eq!(
                    back.as_ref(),
                    Ok(&segment),
                    "{dialect:?}: {input:?} -> {text:?}"
                );
            }
        }
    }
});
