//! The Matomo dialects: a definition parsed exactly as Matomo 5 parses it.
//!
//! [`parse`] follows `SegmentExpression` (a definition as Matomo stores it):
//!
//! 1. trim the string with PHP's `trim` set (space, tab, LF, CR, NUL, VT); `""` and
//!    `"0"` are the empty segment;
//! 2. split on every `;` that is not preceded by `\` and does not end the string (a
//!    trailing `;` stays in the last value); drop the pieces `""` and `"0"`;
//! 3. split each group on `,` by the same rule, where "the end" is the end of the
//!    group; empty pieces are kept and fail as conditions;
//! 4. replace `\;` by `;` and `\,` by `,` (no other escapes);
//! 5. URL-decode the condition (`+` is a space, `%XX` a byte, a malformed `%` stays);
//!    the name is the shortest non-empty prefix without a newline that is followed by
//!    one of `== != >= > <= < =@ !@ =^ =$` (tried in that order at each position); the
//!    value is the rest up to the first newline, URL-decoded a second time.
//!
//! Whitespace is significant everywhere but at the two ends of the whole string.
//! Matomo works on bytes; sightline needs text, so a name or value that does not
//! decode to UTF-8 is an error. Matomo's silent truncation to 8192 bytes is not
//! reproduced: [`super::parse`] rejects input over its limit instead.
//!
//! [`parse_url`] adds `Segment::__construct`'s whole-string heuristic for API input.
//!
//! Offsets and spans point into the caller's input: every byte of decoded text
//! carries the range of input bytes it came from (`%2C` → three bytes, `\;` → two).
//! An error about a condition points at the condition's first byte; a name or value
//! span covers the input bytes its decoded text came from.

use std::ops::Range;

use super::ast::{Condition, Op, OrGroup, Segment};
use super::error::SegmentError;

/// Parses `input` as a Matomo segment definition (`SegmentExpression` level).
pub(crate) fn parse(input: &str) -> Result<Segment, SegmentError> {
    parse_text(input, &Text::raw(input))
}

/// Parses `input` as Matomo's API receives a `segment=` parameter: the whole string is
/// URL-decoded first, unless the raw string parses into strictly more conditions.
pub(crate) fn parse_url(input: &str) -> Result<Segment, SegmentError> {
    let raw = Text::raw(input).trim();
    let decoded = raw.url_decode();
    if decoded.bytes == raw.bytes {
        return parse_text(input, &raw);
    }
    let from_decoded = parse_text(input, &decoded);
    let from_raw = parse_text(input, &raw);
    let count = |r: &Result<Segment, SegmentError>| r.as_ref().map_or(0, Segment::len);
    if count(&from_raw) > count(&from_decoded) {
        from_raw
    } else {
        from_decoded
    }
}

/// Bytes of text, each with the range of the caller's input it came from.
#[derive(Debug, Clone, Default)]
struct Text {
    bytes: Vec<u8>,
    /// `from[i]` is the input range that produced `bytes[i]`.
    from: Vec<Range<usize>>,
    /// Input offset where this text starts (meaningful when it is empty).
    start: usize,
    /// Input offset just after this text.
    end: usize,
}

/// PHP `trim`'s default character set.
const PHP_TRIM: &[u8] = b" \t\n\r\0\x0B";

impl Text {
    /// `input` itself: byte `i` comes from `i..i + 1`.
    fn raw(input: &str) -> Text {
        Text {
            bytes: input.as_bytes().to_vec(),
            from: (0..input.len()).map(|i| i..i + 1).collect(),
            start: 0,
            end: input.len(),
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Input offset of byte `i` (the end of the text for `i == len`).
    fn pos(&self, i: usize) -> usize {
        match self.from.get(i) {
            Some(r) => r.start,
            None if i == 0 => self.start,
            None => self.end,
        }
    }

    /// Input range that produced bytes `r`.
    fn input_range(&self, r: Range<usize>) -> Range<usize> {
        match (
            self.from.get(r.start),
            r.end.checked_sub(1).and_then(|l| self.from.get(l)),
        ) {
            (Some(first), Some(last)) if r.start < r.end => first.start..last.end,
            _ => {
                let p = self.pos(r.start);
                p..p
            }
        }
    }

    /// Bytes `r` as a text of their own.
    fn slice(&self, r: Range<usize>) -> Text {
        let span = self.input_range(r.clone());
        Text {
            bytes: self.bytes.get(r.clone()).unwrap_or_default().to_vec(),
            from: self.from.get(r).unwrap_or_default().to_vec(),
            start: span.start,
            end: span.end,
        }
    }

    /// PHP `trim`.
    fn trim(&self) -> Text {
        let keep = |b: &u8| !PHP_TRIM.contains(b);
        let Some(first) = self.bytes.iter().position(keep) else {
            return self.slice(self.len()..self.len());
        };
        let last = self.bytes.iter().rposition(keep).unwrap_or(first);
        self.slice(first..last + 1)
    }

    /// PHP's "empty" for a string: `""` or `"0"`.
    fn is_php_empty(&self) -> bool {
        matches!(self.bytes.as_slice(), b"" | b"0")
    }

    /// `preg_split('/D(?!$)(?<!\\D)/', …)`: splits on every `delim` that is not
    /// preceded by a backslash and not at the end (PCRE's `$` also matches before a
    /// final newline).
    fn split(&self, delim: u8) -> Vec<Text> {
        let b = &self.bytes;
        let n = b.len();
        let at_end = |i: usize| i + 1 == n || (i + 2 == n && b.get(i + 1) == Some(&b'\n'));
        let mut pieces = Vec::new();
        let mut from = 0;
        for (i, &c) in b.iter().enumerate() {
            let escaped = i
                .checked_sub(1)
                .and_then(|p| b.get(p))
                .is_some_and(|&p| p == b'\\');
            if c == delim && !escaped && !at_end(i) {
                pieces.push(self.slice(from..i));
                from = i + 1;
            }
        }
        pieces.push(self.slice(from..n));
        pieces
    }

    /// Replaces `\;` by `;` and `\,` by `,`.
    fn unescape(&self) -> Text {
        let mut out = Text {
            start: self.start,
            end: self.end,
            ..Text::default()
        };
        let mut i = 0;
        while let (Some(&c), Some(r)) = (self.bytes.get(i), self.from.get(i)) {
            let next = self.bytes.get(i + 1).copied();
            match (c, next, self.from.get(i + 1)) {
                (b'\\', Some(d @ (b';' | b',')), Some(rd)) => {
                    out.bytes.push(d);
                    out.from.push(r.start..rd.end);
                    i += 2;
                }
                _ => {
                    out.bytes.push(c);
                    out.from.push(r.clone());
                    i += 1;
                }
            }
        }
        out
    }

    /// PHP `urldecode`: `+` becomes a space, `%` and two hex digits a byte; any other
    /// `%` stays as it is.
    fn url_decode(&self) -> Text {
        let mut out = Text {
            start: self.start,
            end: self.end,
            ..Text::default()
        };
        let mut i = 0;
        while let (Some(&c), Some(r)) = (self.bytes.get(i), self.from.get(i)) {
            let hex = (
                self.bytes.get(i + 1).and_then(hex_digit),
                self.bytes.get(i + 2).and_then(hex_digit),
                self.from.get(i + 2),
            );
            match (c, hex) {
                (b'%', (Some(hi), Some(lo), Some(r2))) => {
                    out.bytes.push((hi << 4) | lo);
                    out.from.push(r.start..r2.end);
                    i += 3;
                }
                _ => {
                    out.bytes.push(if c == b'+' { b' ' } else { c });
                    out.from.push(r.clone());
                    i += 1;
                }
            }
        }
        out
    }

    /// The bytes as a string, or the input offset of the first byte that is not UTF-8.
    fn to_string_at(&self) -> Result<String, usize> {
        String::from_utf8(self.bytes.clone()).map_err(|e| self.pos(e.utf8_error().valid_up_to()))
    }
}

fn hex_digit(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Matomo's operators in the order its pattern tries them at one position.
const OPERATORS: [(&[u8], Op); 10] = [
    (b"==", Op::Eq),
    (b"!=", Op::Ne),
    (b">=", Op::Ge),
    (b">", Op::Gt),
    (b"<=", Op::Le),
    (b"<", Op::Lt),
    (b"=@", Op::Contains),
    (b"!@", Op::NotContains),
    (b"=^", Op::StartsWith),
    (b"=$", Op::EndsWith),
];

/// `SegmentExpression::parseTree` and `parseOperand` over `text` (`input` is only for
/// errors).
fn parse_text(input: &str, text: &Text) -> Result<Segment, SegmentError> {
    let text = text.trim();
    let mut segment = Segment::default();
    if text.is_php_empty() {
        return Ok(segment);
    }
    for group in text.split(b';') {
        if group.is_php_empty() {
            continue;
        }
        let mut conditions = Vec::new();
        for piece in group.split(b',') {
            conditions.push(parse_condition(input, &piece.unescape())?);
        }
        segment.groups.push(OrGroup { conditions });
    }
    Ok(segment)
}

/// One condition: decode, find the operator, decode the value again.
fn parse_condition(input: &str, piece: &Text) -> Result<Condition, SegmentError> {
    let at = piece.start;
    let operand = piece.url_decode();
    let b = &operand.bytes;
    // `^(.+?)(ops)(.*)`: `.` matches anything but a newline.
    let mut found = None;
    for name_end in 1..b.len() {
        if b.get(name_end - 1) == Some(&b'\n') {
            break;
        }
        let rest = b.get(name_end..).unwrap_or_default();
        if let Some((spelling, op)) = OPERATORS.iter().find(|(s, _)| rest.starts_with(s)) {
            found = Some((name_end, spelling.len(), *op));
            break;
        }
    }
    let shown = String::from_utf8_lossy(b);
    let Some((name_end, op_len, op)) = found else {
        return Err(SegmentError::new(
            input,
            at,
            format!("The segment condition '{shown}' is not valid."),
        ));
    };
    let value_start = name_end + op_len;
    let value_end = b
        .get(value_start..)
        .and_then(|v| v.iter().position(|&c| c == b'\n'))
        .map_or(b.len(), |p| value_start + p);
    let value_text = operand.slice(value_start..value_end);
    let value = value_text.url_decode();
    if value.bytes.is_empty() && !matches!(op, Op::Eq | Op::Ne) {
        return Err(SegmentError::new(
            input,
            at,
            format!(
                "The segment '{shown}' has no value specified. You can leave this value empty \
                 only when you use the operators: != (is not) or == (is)"
            ),
        ));
    }
    let name_text = operand.slice(0..name_end);
    let not_utf8 = |offset: usize, what: &str| {
        SegmentError::new(
            input,
            offset,
            format!(
                "the {what} of condition '{shown}' decodes to bytes that are not UTF-8 \
                 (Matomo compares raw bytes; sightline needs text)"
            ),
        )
    };
    let name = name_text.to_string_at().map_err(|o| not_utf8(o, "name"))?;
    let value_string = value.to_string_at().map_err(|o| not_utf8(o, "value"))?;
    Ok(Condition {
        name,
        op,
        value: value_string,
        name_span: name_text.start..name_text.end,
        value_span: value_text.start..value_text.end,
    })
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
    fn operator_scan_and_decoding() {
        assert_eq!(conds("A>=<=B"), [("A".into(), Op::Ge, "<=B".into())]);
        assert_eq!(conds("a==x%252B+y"), [("a".into(), Op::Eq, "x+ y".into())]);
        assert_eq!(conds("a==1,;b==2")[0].2, "1,");
    }

    #[test]
    fn spans_point_into_the_input() {
        let s = parse(" a%3Db==x\\;c").unwrap();
        let c = &s.groups[0].conditions[0];
        assert_eq!(
            (c.name.as_str(), c.op, c.value.as_str()),
            ("a=b", Op::Eq, "x;c")
        );
        assert_eq!((c.name_span.clone(), c.value_span.clone()), (1..6, 8..12));
    }

    #[test]
    fn errors_point_at_the_condition() {
        let e = parse("a==1,,b==2").unwrap_err();
        assert_eq!(
            (e.offset, e.reason.as_str()),
            (5, "The segment condition '' is not valid.")
        );
    }
}
