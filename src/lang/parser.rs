//! The default dialect: `grammar/segment.pest` plus value decoding.
//!
//! pest decides the shape (groups, conditions, name / operator / value tokens); this
//! module then trims each value, removes its escapes (`\;`, `\,`), percent-decodes it
//! once and checks that only `==` and `!=` have an empty value. pest's types never
//! leave this module: its errors are turned into [`SegmentError`]s with a hand-written
//! reason.
//!
//! The grammar is flat (no rule is recursive), so the parser's stack depth does not
//! depend on the input.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use super::ast::{Condition, Op, OrGroup, Segment};
use super::error::SegmentError;

#[derive(pest_derive::Parser)]
#[grammar = "grammar/segment.pest"]
struct SegmentParser;

/// The operators in the order an error message lists them.
const OPERATOR_LIST: &str = "==, !=, <, <=, >, >=, =@, !@, =^, =$, =~, !~";

/// Parses `input` in the default dialect.
pub(crate) fn parse(input: &str) -> Result<Segment, SegmentError> {
    let mut pairs =
        SegmentParser::parse(Rule::segment, input).map_err(|e| syntax_error(input, &e))?;
    let mut segment = Segment::default();
    let Some(top) = pairs.next() else {
        return Ok(segment);
    };
    for group in top.into_inner() {
        if group.as_rule() != Rule::and_group {
            continue; // EOI
        }
        let mut conditions = Vec::new();
        for condition in group.into_inner() {
            conditions.push(build_condition(input, condition)?);
        }
        segment.groups.push(OrGroup { conditions });
    }
    Ok(segment)
}

/// Turns a `condition` pair into a [`Condition`], decoding and checking its value.
fn build_condition(input: &str, pair: Pair<'_, Rule>) -> Result<Condition, SegmentError> {
    let start = pair.as_span().start();
    let mut name = None;
    let mut op = None;
    let mut value = None;
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::name => name = Some(part.as_span()),
            Rule::operator => op = Op::from_str_exact(part.as_str()),
            Rule::value => value = Some(part.as_span()),
            _ => {}
        }
    }
    // The grammar guarantees all three; a mismatch would be a bug, reported as an
    // error rather than a panic.
    let (Some(name), Some(op), Some(value)) = (name, op, value) else {
        return Err(SegmentError::new(
            input,
            start,
            "internal error: condition without name, operator or value",
        ));
    };
    // `value` runs up to the delimiter, so it may end in whitespace; leading
    // whitespace was already skipped by the grammar.
    let raw = value.as_str().trim_end();
    let value_span = value.start()..value.start() + raw.len();
    let decoded = decode_value(input, raw, value_span.start)?;
    if decoded.is_empty() && !matches!(op, Op::Eq | Op::Ne) {
        return Err(SegmentError::new(
            input,
            value_span.start,
            format!("`{op}` needs a value; only == and != may have an empty value"),
        ));
    }
    Ok(Condition {
        name: name.as_str().to_string(),
        op,
        value: decoded,
        name_span: name.start()..name.end(),
        value_span,
    })
}

/// Removes the escapes `\;` and `\,` from `raw` (the value text that starts at byte
/// `at` of `input`) and percent-decodes it.
///
/// Decoded bytes must form UTF-8. Checking each run of consecutive `%XX` on its own
/// is enough: the text between runs is already whole characters, so a character
/// cannot start in a run and end outside it.
fn decode_value(input: &str, raw: &str, at: usize) -> Result<String, SegmentError> {
    let bytes = raw.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    // Start of the current run of percent-decoded bytes: (index in `out`, offset in
    // `raw` of its first `%`).
    let mut run: Option<(usize, usize)> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = (bytes.get(i + 1), bytes.get(i + 2));
            let (Some(hi), Some(lo)) = (hex.0.and_then(hex_digit), hex.1.and_then(hex_digit))
            else {
                return Err(SegmentError::new(
                    input,
                    at + i,
                    "`%` must be followed by two hex digits; write %25 for a literal %",
                ));
            };
            if run.is_none() {
                run = Some((out.len(), i));
            }
            out.push((hi << 4) | lo);
            i += 3;
            continue;
        }
        check_run(input, &out, run.take(), at)?;
        if b == b'\\' && matches!(bytes.get(i + 1), Some(b';' | b',')) {
            i += 1;
            continue; // the delimiter itself is pushed as an ordinary byte next
        }
        out.push(b);
        i += 1;
    }
    check_run(input, &out, run.take(), at)?;
    String::from_utf8(out).map_err(|_| SegmentError::new(input, at, NOT_UTF8))
}

const NOT_UTF8: &str = "percent-encoded bytes are not valid UTF-8";

/// Checks that the run of percent-decoded bytes starting at `run` is UTF-8; an error
/// points at the `%` of the first byte that is not.
fn check_run(
    input: &str,
    out: &[u8],
    run: Option<(usize, usize)>,
    at: usize,
) -> Result<(), SegmentError> {
    let Some((from, raw_from)) = run else {
        return Ok(());
    };
    match std::str::from_utf8(out.get(from..).unwrap_or_default()) {
        Ok(_) => Ok(()),
        Err(e) => Err(SegmentError::new(
            input,
            at + raw_from + 3 * e.valid_up_to(),
            NOT_UTF8,
        )),
    }
}

fn hex_digit(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Turns a pest error into a [`SegmentError`] with a hand-written reason.
///
/// pest reports the furthest position it reached and the rules it tried there. The
/// grammar can only fail in two places: where a name is expected (at the start, after
/// `;` or `,`) and where an operator is expected (after a name). A value never fails:
/// it runs to the next delimiter.
fn syntax_error(input: &str, e: &pest::error::Error<Rule>) -> SegmentError {
    let offset = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((p, _)) => p,
    };
    let expected_operator = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.contains(&Rule::operator),
        ErrorVariant::CustomError { .. } => false,
    };
    let next = input.get(offset..).and_then(|s| s.chars().next());
    let reason = if expected_operator {
        format!(
            "expected an operator ({OPERATOR_LIST}) after `{}`",
            name_before(input, offset)
        )
    } else {
        match next {
            None | Some(';' | ',') => "expected a condition (name operator value)".to_string(),
            Some('=' | '!' | '<' | '>') => "expected a dimension name".to_string(),
            Some(c) => format!(
                "expected a dimension name; a name cannot contain {}",
                describe(c)
            ),
        }
    };
    SegmentError::new(input, offset, reason)
}

/// The name that ends just before `offset` (after skipping whitespace backwards).
fn name_before(input: &str, offset: usize) -> &str {
    let head = input.get(..offset).unwrap_or_default().trim_end();
    let start = head
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_name_char(c))
        .last()
        .map_or(head.len(), |(i, _)| i);
    head.get(start..).unwrap_or_default()
}

/// The characters of a name (the `name` rule of the grammar).
fn is_name_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || matches!(c, ';' | ',' | '\\' | '=' | '!' | '<' | '>'))
}

/// `c` as an error message shows it.
fn describe(c: char) -> String {
    if c.is_control() {
        format!("control characters (U+{:04X})", u32::from(c))
    } else {
        format!("`{c}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(s: &str) -> Vec<(String, Op, String)> {
        parse(s)
            .unwrap()
            .conditions()
            .map(|c| (c.name.clone(), c.op, c.value.clone()))
            .collect()
    }

    #[test]
    fn shape_spans_and_decoding() {
        let s = parse(" a == x%20y ; b=@\\,c ").unwrap();
        assert_eq!(s.groups.len(), 2);
        let a = &s.groups[0].conditions[0];
        assert_eq!((a.name_span.clone(), a.value_span.clone()), (1..2, 6..11));
        assert_eq!(a.value, "x y");
        assert_eq!(conds("b=@\\,c"), [("b".into(), Op::Contains, ",c".into())]);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse("countryCode=FR").unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(e.reason.contains("after `countryCode`"), "{}", e.reason);
        let e = parse("a==1;;b==2").unwrap_err();
        assert_eq!(
            (e.offset, e.reason.as_str()),
            (5, "expected a condition (name operator value)")
        );
        assert_eq!(parse("a==%C3%28").unwrap_err().offset, 3);
        assert_eq!(parse("a==x%4").unwrap_err().offset, 4);
    }

    #[test]
    fn name_charset_matches_the_grammar() {
        for c in [
            'a', '_', '.', '-', 'é', '@', '$', '(', ' ', '\u{a0}', '\t', ';', ',', '\\', '=', '!',
            '<', '>', '\u{1}',
        ] {
            let input = format!("x{c}y==1");
            let by_grammar =
                parse(&input).map(|s| s.groups[0].conditions[0].name.len() == input.len() - 3);
            assert_eq!(by_grammar.unwrap_or(false), is_name_char(c), "{c:?}");
        }
    }
}
