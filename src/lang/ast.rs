//! The parsed form of a segment, shared by every dialect.
//!
//! A segment is an AND (`;`) of OR-groups (`,`) of conditions `name operator value`
//! (`docs/segment-language.md`). Values are held decoded; [`Display`](std::fmt::Display) writes the
//! canonical default-dialect text, which parses back to an equal AST.

use std::fmt;
use std::ops::Range;

/// A whole segment: every group must hold. No groups means every visit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Segment {
    /// The AND-ed groups, in source order.
    pub groups: Vec<OrGroup>,
}

/// Conditions of which at least one must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrGroup {
    /// The OR-ed conditions, in source order (never empty).
    pub conditions: Vec<Condition>,
}

/// One `name operator value` test.
#[derive(Debug, Clone)]
pub struct Condition {
    /// Dimension name as written (not yet resolved).
    pub name: String,
    /// The operator.
    pub op: Op,
    /// The value, decoded (escapes and percent-encoding removed). Empty means "no value"
    /// (only meaningful with `==` and `!=`).
    pub value: String,
    /// Byte range of the name in the input the segment was parsed from.
    pub name_span: Range<usize>,
    /// Byte range of the value (as written, before decoding) in that input.
    pub value_span: Range<usize>,
}

/// Conditions compare by content; spans only say where they came from.
impl PartialEq for Condition {
    fn eq(&self, other: &Condition) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}
impl Eq for Condition {}

/// A comparison operator (`docs/segment-language.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=@` contains
    Contains,
    /// `!@` does not contain
    NotContains,
    /// `=^` starts with
    StartsWith,
    /// `=$` ends with
    EndsWith,
    /// `=~` regular expression matches (extension)
    Matches,
    /// `!~` regular expression does not match (extension)
    NotMatches,
}

impl Op {
    /// Every operator, longest spellings first within a shared prefix.
    pub const ALL: [Op; 12] = [
        Op::Eq,
        Op::Ne,
        Op::Le,
        Op::Lt,
        Op::Ge,
        Op::Gt,
        Op::Contains,
        Op::NotContains,
        Op::StartsWith,
        Op::EndsWith,
        Op::Matches,
        Op::NotMatches,
    ];

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "=@",
            Op::NotContains => "!@",
            Op::StartsWith => "=^",
            Op::EndsWith => "=$",
            Op::Matches => "=~",
            Op::NotMatches => "!~",
        }
    }

    /// Parses an operator spelling.
    pub fn from_str_exact(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// `!=`, `!@` and `!~`: the operators that negate a positive counterpart.
    pub fn is_negative(self) -> bool {
        matches!(self, Op::Ne | Op::NotContains | Op::NotMatches)
    }

    /// The positive counterpart of a negative operator (`!=` → `==` …); itself otherwise.
    pub fn positive(self) -> Op {
        match self {
            Op::Ne => Op::Eq,
            Op::NotContains => Op::Contains,
            Op::NotMatches => Op::Matches,
            o => o,
        }
    }

    /// The operators of Matomo (all but `=~` and `!~`).
    pub fn is_matomo(self) -> bool {
        !matches!(self, Op::Matches | Op::NotMatches)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Segment {
    /// Number of conditions.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.conditions.len()).sum()
    }

    /// True for the empty segment (every visit).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Every condition, group by group.
    pub fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.groups.iter().flat_map(|g| g.conditions.iter())
    }
}

/// Writes `value` so that the default dialect decodes it back to exactly `value`:
/// `%`, `;`, `,`, `\`, control characters and leading/trailing whitespace are
/// percent-encoded.
pub fn encode_value(value: &str, out: &mut String) {
    let trimmed_start = value.len() - value.trim_start().len();
    let trimmed_end = value.trim_end().len();
    for (i, c) in value.char_indices() {
        let edge_space = c.is_whitespace() && (i < trimmed_start || i >= trimmed_end);
        if edge_space || c.is_control() || matches!(c, '%' | ';' | ',' | '\\') {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = String::with_capacity(self.value.len());
        encode_value(&self.value, &mut v);
        // `a<` followed by `=x` would read back as `a<=` `x`.
        if matches!(self.op, Op::Lt | Op::Gt) && v.starts_with('=') {
            v.replace_range(..1, "%3D");
        }
        write!(f, "{}{}{}", self.name, self.op, v)
    }
}

impl fmt::Display for OrGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.conditions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// The canonical default-dialect text: parsing it gives an equal [`Segment`].
impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{g}")?;
        }
        Ok(())
    }
}
