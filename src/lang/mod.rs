//! The segment language: grammar, parsing in three dialects, the AST and its errors.
//!
//! This module knows nothing of storage: it turns text into a [`Segment`]. Names are
//! resolved and values typed later, against a database's schema, by
//! `exec::compile` (the engine, which depends on this module, never the reverse).
//!
//! - [`Dialect::Default`]: sightline's own syntax, defined by `grammar/segment.pest`
//!   (whitespace around tokens ignored, values percent-decoded once, `=~`/`!~` added).
//! - [`Dialect::Matomo`]: a definition exactly as Matomo stores it (its splitting,
//!   operator scan and two decoding passes).
//! - [`Dialect::MatomoUrl`]: as Matomo's API receives it (adds the whole-string
//!   decoding heuristic).
//!
//! User reference: `docs/segment-language.md`.

pub mod ast;
pub mod error;
mod matomo;
mod parser;

pub use ast::{Condition, Op, OrGroup, Segment};
pub use error::SegmentError;

/// Longest accepted segment text, in bytes (longer input is rejected, never truncated).
pub const MAX_SEGMENT_BYTES: usize = 64 * 1024;
/// Most conditions a segment may have.
pub const MAX_CONDITIONS: usize = 10_000;

/// Which syntax a segment is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Dialect {
    /// sightline's syntax (`grammar/segment.pest`).
    #[default]
    Default,
    /// A Matomo segment definition as stored by Matomo.
    Matomo,
    /// A Matomo `segment=` API parameter (whole-string decoding heuristic first).
    MatomoUrl,
}

impl Dialect {
    /// `default`, `matomo` or `matomo-url`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Default => "default",
            Dialect::Matomo => "matomo",
            Dialect::MatomoUrl => "matomo-url",
        }
    }

    /// The dialect called `name`.
    pub fn from_name(name: &str) -> Option<Dialect> {
        [Dialect::Default, Dialect::Matomo, Dialect::MatomoUrl]
            .into_iter()
            .find(|d| d.name() == name)
    }
}

/// Parses `input` in `dialect`. Checks syntax only: names are not resolved.
///
/// ```
/// use sightline::{parse_segment as parse, Dialect, Op};
/// let s = parse("countryCode==FR;visitCount>2,pageUrl=@%2Fcheckout", Dialect::Default).unwrap();
/// assert_eq!(s.groups.len(), 2);
/// assert_eq!(s.groups[1].conditions[1].op, Op::Contains);
/// assert_eq!(s.groups[1].conditions[1].value, "/checkout");
/// assert_eq!(s.to_string(), "countryCode==FR;visitCount>2,pageUrl=@/checkout");
/// ```
pub fn parse(input: &str, dialect: Dialect) -> Result<Segment, SegmentError> {
    if input.len() > MAX_SEGMENT_BYTES {
        return Err(SegmentError::new(
            input,
            MAX_SEGMENT_BYTES,
            format!(
                "segment is {} bytes long; the limit is {MAX_SEGMENT_BYTES} bytes",
                input.len()
            ),
        ));
    }
    let seg = match dialect {
        Dialect::Default => parser::parse(input)?,
        Dialect::Matomo => matomo::parse(input)?,
        Dialect::MatomoUrl => matomo::parse_url(input)?,
    };
    if seg.len() > MAX_CONDITIONS {
        return Err(SegmentError::new(
            input,
            0,
            format!(
                "segment has {} conditions; the limit is {MAX_CONDITIONS}",
                seg.len()
            ),
        ));
    }
    Ok(seg)
}
