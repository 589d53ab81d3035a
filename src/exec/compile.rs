//! Compilation: a parsed [`Segment`] becomes a [`CompiledSegment`] whose names are
//! resolved against a database's [`Catalog`] and whose values are typed and
//! normalised (numbers parsed, URLs stripped, case folded, regexes built).
//!
//! Every error carries the byte offset of the name or value at fault, in the text the
//! segment was parsed from, and where it can, the valid alternatives.

use regex::{Regex, RegexBuilder};

use super::catalog::{Catalog, DimType, Dimension};
use crate::lang::{Condition, Op, Segment, SegmentError};
use crate::schema::Level;

/// Largest compiled regular expression accepted (bytes of the regex program).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A segment ready to evaluate: AND of OR-groups of typed conditions.
#[derive(Debug, Clone)]
pub struct CompiledSegment {
    /// The groups, in source order; empty means every visit.
    pub groups: Vec<Vec<Cond>>,
    /// The parsed segment it came from.
    pub segment: Segment,
}

/// A typed condition.
#[derive(Debug, Clone)]
pub struct Cond {
    /// The dimension (aliases resolved).
    pub dim: Dimension,
    /// The operator.
    pub op: Op,
    /// The value, typed and normalised for comparison.
    pub operand: Operand,
    /// Compare with case folded (code dimensions, and `=@ !@ =^ =$` everywhere). Text
    /// operands are then already lower-cased.
    pub fold_case: bool,
    /// The condition as written in canonical form (for plans and messages).
    pub text: String,
}

/// A condition's value.
#[derive(Debug, Clone)]
pub enum Operand {
    /// No value: `==` "has no value or an empty one", `!=` "has a non-empty value".
    Empty,
    /// Text, URL-stripped for URL dimensions and lower-cased when [`Cond::fold_case`].
    Text(String),
    /// A number.
    Number(f64),
    /// A regular expression (`=~`, `!~`), matched against the stored value.
    Regex(Regex),
}

impl Cond {
    /// True for `!=`, `!@`, `!~` with a value: the negation of a positive test. (`!=`
    /// with an empty value is the positive test "has a non-empty value".)
    pub fn is_negative(&self) -> bool {
        self.op.is_negative() && !matches!(self.operand, Operand::Empty)
    }

    /// The dimension's level.
    pub fn level(&self) -> Level {
        self.dim.level
    }
}

/// Removes a leading `http://` or `https://`, then a leading `www.` (both
/// case-insensitive): URL dimensions compare in this form (SPEC §2).
pub fn strip_url(s: &str) -> &str {
    fn lower_prefix<'a>(s: &'a str, p: &str) -> Option<&'a str> {
        s.get(..p.len())
            .filter(|h| h.eq_ignore_ascii_case(p))
            .and_then(|_| s.get(p.len()..))
    }
    let s = lower_prefix(s, "https://")
        .or_else(|| lower_prefix(s, "http://"))
        .unwrap_or(s);
    lower_prefix(s, "www.").unwrap_or(s)
}

/// Resolves and types `segment` against `catalog`. `input` is the text the segment
/// was parsed from (errors point into it).
pub fn compile(
    segment: &Segment,
    catalog: &Catalog,
    input: &str,
) -> Result<CompiledSegment, SegmentError> {
    let mut groups = Vec::with_capacity(segment.groups.len());
    for g in &segment.groups {
        let mut conds = Vec::with_capacity(g.conditions.len());
        for c in &g.conditions {
            conds.push(compile_condition(c, catalog, input)?);
        }
        groups.push(conds);
    }
    Ok(CompiledSegment {
        groups,
        segment: segment.clone(),
    })
}

fn list(values: &[&str]) -> String {
    values.join(", ")
}

fn compile_condition(c: &Condition, catalog: &Catalog, input: &str) -> Result<Cond, SegmentError> {
    let err_name = |reason: String| SegmentError::new(input, c.name_span.start, reason);
    let err_value = |reason: String| SegmentError::new(input, c.value_span.start, reason);
    let Some(dim) = catalog.get(&c.name) else {
        let s = catalog.suggest(&c.name);
        let hint = if s.is_empty() {
            "; `.schema` in the REPL lists every dimension".to_string()
        } else {
            format!(
                "; did you mean {}?",
                s.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(err_name(format!("unknown dimension `{}`{hint}", c.name)));
    };
    let dim = dim.clone();
    let op = c.op;
    let text = c.to_string();
    if c.value.is_empty() {
        if !matches!(op, Op::Eq | Op::Ne) {
            return Err(err_value(format!(
                "`{op}` needs a value; only == and != may have an empty value"
            )));
        }
        return Ok(Cond {
            dim,
            op,
            operand: Operand::Empty,
            fold_case: false,
            text,
        });
    }
    let pattern = matches!(
        op,
        Op::Contains | Op::NotContains | Op::StartsWith | Op::EndsWith
    );
    let regex = matches!(op, Op::Matches | Op::NotMatches);
    if dim.is_numeric() {
        if pattern || regex {
            return Err(SegmentError::new(
                input,
                c.name_span.end,
                format!(
                    "`{op}` compares text, but `{}` is a number; use ==, !=, <, <=, > or >=",
                    dim.name
                ),
            ));
        }
        let n = c
            .value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| {
                err_value(format!(
                    "`{}` is a number; `{}` is not a number",
                    dim.name, c.value
                ))
            })?;
        return Ok(Cond {
            dim,
            op,
            operand: Operand::Number(n),
            fold_case: false,
            text,
        });
    }
    if let DimType::Enum(values) = dim.ty
        && matches!(op, Op::Eq | Op::Ne)
        && !values.contains(&c.value.as_str())
    {
        let close = super::catalog::suggest(&c.value, values.iter().copied());
        let hint = close
            .first()
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(err_value(format!(
            "`{}` is not a valid {}{hint}; valid values: {}",
            c.value,
            dim.name,
            list(values)
        )));
    }
    let fold_case = dim.code || pattern;
    if regex {
        let re = RegexBuilder::new(&c.value)
            .case_insensitive(dim.code)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                let last = msg.lines().last().unwrap_or("").trim().to_string();
                err_value(format!("invalid regular expression: {last}"))
            })?;
        let fold_case = dim.code;
        return Ok(Cond {
            dim,
            op,
            operand: Operand::Regex(re),
            fold_case,
            text,
        });
    }
    let mut v = if dim.url {
        strip_url(&c.value).to_string()
    } else {
        c.value.clone()
    };
    if fold_case {
        v = v.to_lowercase();
    }
    Ok(Cond {
        dim,
        op,
        operand: Operand::Text(v),
        fold_case,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{Dialect, parse};

    fn comp(s: &str) -> Result<CompiledSegment, SegmentError> {
        let seg = parse(s, Dialect::Default)?;
        compile(&seg, &Catalog::new(&[]), s)
    }

    #[test]
    fn strip_url_removes_scheme_and_www_only_at_the_start() {
        assert_eq!(strip_url("https://www.example.com/a"), "example.com/a");
        assert_eq!(strip_url("HTTP://WWW.example.com"), "example.com");
        assert_eq!(strip_url("www.x"), "x");
        assert_eq!(strip_url("example.com/www."), "example.com/www.");
        assert_eq!(strip_url("ftp://x"), "ftp://x");
        assert_eq!(strip_url("é"), "é");
    }

    #[test]
    fn errors_point_at_the_fault_and_suggest() {
        let e = comp("countryCode==FR;contry==DE").unwrap_err();
        assert_eq!(e.offset, 16);
        assert!(e.reason.contains("did you mean `country`"), "{}", e.reason);
        let e = comp("visitCount>abc").unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(e.reason.contains("not a number"));
        let e = comp("deviceType==phone").unwrap_err();
        assert!(e.reason.contains("valid values: desktop"), "{}", e.reason);
        let e = comp("visitCount=@1").unwrap_err();
        assert_eq!(e.offset, 10);
        let e = comp("pageUrl=~(").unwrap_err();
        assert!(
            e.reason.starts_with("invalid regular expression"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn values_are_normalised() {
        let c = comp("pageUrl=@HTTPS://www.Shop/Cart;countryCode==FR;pageTitle==Ab").unwrap();
        let texts: Vec<String> = c
            .groups
            .iter()
            .map(|g| match &g[0].operand {
                Operand::Text(t) => t.clone(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(texts, ["shop/cart", "fr", "Ab"]);
        let c = comp("pageUrl!=;visits>=2.5").unwrap();
        assert!(!c.groups[0][0].is_negative());
        assert!(matches!(c.groups[1][0].operand, Operand::Number(n) if n == 2.5));
    }
}
