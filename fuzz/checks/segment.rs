//! `segment_parse`: any bytes (as lossy UTF-8) as a segment, in every dialect.

use sightline::{Dialect, parse_segment as parse};

/// True if the default dialect can write `name` (Matomo names may hold whitespace or
/// operator characters, which it cannot).
fn writable_name(name: &str) -> bool {
    let probe = format!("{name}==");
    parse(&probe, Dialect::Default)
        .ok()
        .and_then(|s| s.conditions().next().map(|c| c.name == name))
        .unwrap_or(false)
}

/// Parsing returns a segment or an error whose offset is a character boundary of the
/// input (never a panic); a segment's name and value spans lie on character
/// boundaries of the input (in the default dialect the name span is the name itself);
/// and its canonical text parses (default dialect) back to an equal segment.
pub fn segment_parse(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    for dialect in [Dialect::Default, Dialect::Matomo, Dialect::MatomoUrl] {
        match parse(&input, dialect) {
            Err(e) => assert!(
                input.is_char_boundary(e.offset),
                "{dialect:?}: offset {} of {input:?}: {e}",
                e.offset
            ),
            Ok(segment) => {
                for c in segment.conditions() {
                    for span in [&c.name_span, &c.value_span] {
                        assert!(
                            span.start <= span.end
                                && input.is_char_boundary(span.start)
                                && input.is_char_boundary(span.end),
                            "{dialect:?}: span {span:?} of {input:?}"
                        );
                    }
                    if dialect == Dialect::Default {
                        assert_eq!(input.get(c.name_span.clone()), Some(c.name.as_str()));
                    }
                }
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
}
