//! Errors of segment parsing and compilation: where (a byte offset into the input) and
//! what (a short reason).

use std::fmt;

/// A segment that cannot be parsed or compiled.
///
/// Displays as `at byte N: reason`; [`SegmentError::caret`] renders the input with a
/// caret under the offending byte, as the CLI and REPL print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentError {
    /// The segment text as given.
    pub input: String,
    /// Byte offset of the problem in `input` (may equal `input.len()`: "at the end").
    pub offset: usize,
    /// What is wrong, and where possible what would be right.
    pub reason: String,
}

impl SegmentError {
    /// An error at `offset` of `input` (clamped to the input and moved back to a
    /// character boundary, so the offset can always slice the input).
    pub fn new(input: &str, offset: usize, reason: impl Into<String>) -> SegmentError {
        let mut offset = offset.min(input.len());
        while !input.is_char_boundary(offset) {
            offset -= 1;
        }
        SegmentError {
            input: input.to_string(),
            offset,
            reason: reason.into(),
        }
    }

    /// Two lines: the input line holding the offset, and a caret under it. Control
    /// characters are shown as spaces so that the caret stays aligned; very long
    /// inputs are cut to a window around the offset.
    pub fn caret(&self) -> String {
        let s = &self.input;
        let mut at = self.offset.min(s.len());
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        let line_start = s[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = s[at..].find('\n').map_or(s.len(), |i| at + i);
        let line = &s[line_start..line_end];
        let col = s[line_start..at].chars().count();
        // Keep at most 60 characters on each side of the caret.
        let skip = col.saturating_sub(60);
        let shown: String = line
            .chars()
            .skip(skip)
            .take(121)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let prefix = if skip > 0 { "…" } else { "" };
        let pad = col - skip + prefix.chars().count();
        format!("{prefix}{shown}\n{}^", " ".repeat(pad))
    }
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for SegmentError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_offset() {
        let e = SegmentError::new("countryCode=FR", 11, "expected an operator");
        assert_eq!(e.caret(), "countryCode=FR\n           ^");
        assert_eq!(e.to_string(), "at byte 11: expected an operator");
    }

    #[test]
    fn caret_counts_characters_not_bytes() {
        let e = SegmentError::new("city==Zürich;x", 12, "r");
        assert_eq!(e.caret(), "city==Zürich;x\n           ^");
    }

    #[test]
    fn caret_at_end_and_inside_a_multibyte_character() {
        let e = SegmentError::new("a==", 3, "r");
        assert_eq!(e.caret(), "a==\n   ^");
        let e = SegmentError::new("ü", 1, "r");
        assert_eq!(e.caret(), "ü\n^");
    }
}
