//! Compilation: a parsed [`Segment`] becomes a [`CompiledSegment`] whose names are
//! resolved against a database's [`Catalog`] and whose values are typed and
//! normalised (numbers parsed, URLs stripped, case folded, regexes built).
//!
//! Every error carries the byte offset of the name or value at fault, in the text the
//! segment was parsed from, and where it can, the valid alternatives.

use std::collections::HashMap;

use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_syntax::hir::{Hir, HirKind};

use super::catalog::{Catalog, DimType, Dimension};
use crate::lang::{Condition, Op, Segment, SegmentError};
use crate::schema::Level;

/// Most characters one regular expression may span once its repetitions are
/// multiplied out (see `positions`): `a{1000}` is at the limit, `a{1000}{1000}` far
/// over it. Matching costs at most about this many steps per byte of a stored value.
pub const MAX_REGEX_POSITIONS: u64 = 1_000;

/// Most characters the distinct regular expressions of one segment may span together.
pub const MAX_SEGMENT_REGEX_POSITIONS: u64 = 5_000;

/// Largest program (Thompson NFA) one regular expression may compile to, in bytes
/// (wide Unicode classes such as `\p{L}` take ~50 KiB per repetition).
pub const MAX_REGEX_PROGRAM_BYTES: usize = 1 << 20;

/// Heap that the compiled regular expressions of one segment may take together, in
/// bytes (each distinct pattern counted once). Without it, 10,000 small patterns of
/// a few hundred KiB each took gigabytes.
pub const MAX_SEGMENT_REGEX_BYTES: usize = 16 << 20;

/// Capacity of the lazy DFA's transition cache of one search (the cache lives for
/// one condition on one part, see [`Operand::Regex`]).
const REGEX_CACHE_BYTES: usize = 2 << 20;

/// A segment ready to evaluate against one database: names resolved, values typed and
/// normalised ([`Snapshot::compile`](crate::Snapshot::compile)).
#[derive(Debug, Clone)]
pub struct CompiledSegment {
    /// The groups, in source order; empty means every visit.
    pub(crate) groups: Vec<Vec<Cond>>,
    /// The parsed segment it came from.
    pub(crate) segment: Segment,
}

impl CompiledSegment {
    /// The parsed segment it was compiled from.
    pub fn segment(&self) -> &Segment {
        &self.segment
    }

    /// True when it selects every visit (no condition).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Warnings about conditions that are valid but rarely mean what they say (two
    /// positive conditions on one action-level dimension ANDed: they must hold on one
    /// row), each with what to write instead. Empty for most segments.
    pub fn warnings(&self) -> Vec<super::lint::SegmentWarning> {
        super::lint::warnings(self)
    }
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
    ///
    /// It is a `regex-automata` meta regex so that its heap size is known (the segment's
    /// budget, [`MAX_SEGMENT_REGEX_BYTES`]) and the search caches are the caller's: the
    /// engine makes one per condition and part and drops it afterwards, so thousands of
    /// conditions do not each keep a lazy DFA alive. [`Regex::is_match`] (its own
    /// pooled cache) is fine for occasional use.
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
/// case-insensitive): URL dimensions compare in this form (`docs/segment-language.md`).
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
    let mut regexes = Regexes::default();
    for g in &segment.groups {
        let mut conds = Vec::with_capacity(g.conditions.len());
        for c in &g.conditions {
            conds.push(compile_condition(c, catalog, input, &mut regexes)?);
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

/// The regular expressions of one segment: each distinct pattern is built once, and
/// together they stay within [`MAX_SEGMENT_REGEX_POSITIONS`] and
/// [`MAX_SEGMENT_REGEX_BYTES`].
#[derive(Default)]
struct Regexes {
    /// Built so far, by (pattern, case-insensitive).
    built: HashMap<(String, bool), Regex>,
    /// Their positions ([`positions`]).
    positions: u64,
    /// Their heap, in bytes.
    bytes: usize,
}

impl Regexes {
    /// The regex for `pattern`, or why there is none (the reason of an error at the
    /// value).
    fn get(&mut self, pattern: &str, case_insensitive: bool) -> Result<Regex, String> {
        let key = (pattern.to_string(), case_insensitive);
        if let Some(re) = self.built.get(&key) {
            return Ok(re.clone());
        }
        let hir = syntax::parse_with(
            pattern,
            &syntax::Config::new().case_insensitive(case_insensitive),
        )
        .map_err(|e| {
            // regex-syntax renders the pattern with its own caret; its last line is
            // the reason (`error: unclosed group`).
            let msg = e.to_string();
            let last = msg.lines().last().unwrap_or_default().trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            format!("invalid regular expression: {last}")
        })?;
        let n = positions(&hir);
        if n > MAX_REGEX_POSITIONS {
            return Err(format!(
                "invalid regular expression: it spans {n} characters once its repetitions \
                 are multiplied out; the limit is {MAX_REGEX_POSITIONS} (matching time grows \
                 with it)"
            ));
        }
        if self.positions + n > MAX_SEGMENT_REGEX_POSITIONS {
            return Err(format!(
                "invalid regular expression: the regular expressions of this segment span \
                 more than {MAX_SEGMENT_REGEX_POSITIONS} characters together once their \
                 repetitions are multiplied out (the limit per segment; {} distinct before \
                 this one); use fewer or shorter ones (a list of values is better written \
                 as conditions joined by `,`)",
                self.built.len()
            ));
        }
        let left = MAX_SEGMENT_REGEX_BYTES.saturating_sub(self.bytes);
        let program = MAX_REGEX_PROGRAM_BYTES.min(left);
        let re = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .nfa_size_limit(Some(program))
                    .onepass_size_limit(Some(program))
                    .hybrid_cache_capacity(REGEX_CACHE_BYTES)
                    .which_captures(WhichCaptures::Implicit)
                    .utf8_empty(true),
            )
            .build_from_hir(&hir)
            .map_err(|e| {
                if e.size_limit().is_none() {
                    format!("invalid regular expression: {e}")
                } else if program < MAX_REGEX_PROGRAM_BYTES {
                    self.over_budget()
                } else {
                    format!(
                        "invalid regular expression: it compiles to more than {} KiB (the \
                         limit per regular expression); use fewer or smaller repetitions \
                         and classes",
                        MAX_REGEX_PROGRAM_BYTES >> 10
                    )
                }
            })?;
        self.bytes = self.bytes.saturating_add(re.memory_usage());
        if self.bytes > MAX_SEGMENT_REGEX_BYTES {
            return Err(self.over_budget());
        }
        self.positions += n;
        self.built.insert(key, re.clone());
        Ok(re)
    }

    fn over_budget(&self) -> String {
        format!(
            "invalid regular expression: the regular expressions of this segment compile \
             to more than {} MiB together (the limit per segment; {} distinct before this \
             one); use fewer or simpler ones",
            MAX_SEGMENT_REGEX_BYTES >> 20,
            self.built.len()
        )
    }
}

/// The characters a match of `hir` spans at most, with counted repetitions multiplied
/// out and alternatives added up (a class counts as one character, `*` and `+` as one
/// pass). The regex engine's lazy DFA stays fast while this is small; when it is large
/// and a long stored value keeps many of those positions alive at once, the engine
/// falls back to a simulation costing (positions × value length). Saturates.
fn positions(hir: &Hir) -> u64 {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        // Characters: the bytes that do not continue a UTF-8 sequence.
        HirKind::Literal(lit) => lit.0.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64,
        HirKind::Class(_) => 1,
        HirKind::Repetition(r) => {
            let times = r.max.unwrap_or(r.min).max(1);
            positions(&r.sub).saturating_mul(u64::from(times))
        }
        HirKind::Capture(c) => positions(&c.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().map(positions).fold(0, u64::saturating_add)
        }
    }
}

/// Resolves and types one condition (see [`compile`]).
fn compile_condition(
    c: &Condition,
    catalog: &Catalog,
    input: &str,
    regexes: &mut Regexes,
) -> Result<Cond, SegmentError> {
    let err_value = |reason: String| SegmentError::new(input, c.value_span.start, reason);
    let Some(dim) = catalog.get(&c.name) else {
        return Err(unknown_dimension(c, catalog, input));
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
        return number_condition(c, dim, text, input, pattern || regex);
    }
    if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) && !dim.order.accepts(&c.value) {
        let what = match dim.order {
            super::catalog::TextOrder::Ip => "an IPv4 or IPv6 address (`10.0.0.0`, `2001:db8::`)",
            _ => "a number",
        };
        return Err(err_value(format!(
            "`{}` compares {what} under `{op}`; {:?} is not one",
            dim.name, c.value
        )));
    }
    let canonical = enum_value(c, &dim, input)?;
    let fold_case = dim.code || pattern;
    if regex {
        let re = regexes.get(&c.value, dim.code).map_err(err_value)?;
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
    } else if let Some(canonical) = canonical {
        canonical.to_string()
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

/// "unknown dimension `x`", at the name of `c`, with the closest names of `catalog` (or
/// where to find them all).
fn unknown_dimension(c: &Condition, catalog: &Catalog, input: &str) -> SegmentError {
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
    SegmentError::new(
        input,
        c.name_span.start,
        format!("unknown dimension `{}`{hint}", c.name),
    )
}

/// `c` (with a value) on the numeric dimension `dim`: the value must be a finite
/// number, and the operator must not be a text one (`compares_text`: a pattern or
/// regex operator).
fn number_condition(
    c: &Condition,
    dim: Dimension,
    text: String,
    input: &str,
    compares_text: bool,
) -> Result<Cond, SegmentError> {
    let op = c.op;
    if compares_text {
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
            SegmentError::new(
                input,
                c.value_span.start,
                format!("`{}` is a number; `{}` is not a number", dim.name, c.value),
            )
        })?;
    Ok(Cond {
        dim,
        op,
        operand: Operand::Number(n),
        fold_case: false,
        text,
    })
}

/// The canonical form of the value of `c` when it tests an enumerated dimension for
/// equality: the list's entry equal to it but for ASCII case (`deviceType==Smartphone`
/// means `smartphone`, the form imports store); a value outside the list is an error
/// naming the valid ones. Other operators may take any text (`None`).
fn enum_value(
    c: &Condition,
    dim: &Dimension,
    input: &str,
) -> Result<Option<&'static str>, SegmentError> {
    let DimType::Enum(values) = dim.ty else {
        return Ok(None);
    };
    if !matches!(c.op, Op::Eq | Op::Ne) {
        return Ok(None);
    }
    if let Some(v) = values
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(&c.value))
    {
        return Ok(Some(v));
    }
    let close = super::catalog::suggest(&c.value, values.iter().copied());
    let hint = close
        .first()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Err(SegmentError::new(
        input,
        c.value_span.start,
        format!(
            "`{}` is not a valid {}{hint}; valid values: {}",
            c.value,
            dim.name,
            list(values)
        ),
    ))
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
    fn regexes_are_limited_by_the_characters_they_span() {
        let max = MAX_REGEX_POSITIONS;
        assert!(comp(&format!("pageTitle=~a{{{max}}}")).is_ok());
        let e = comp(&format!("pageTitle=~a{{{}}}", max + 1)).unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(e.reason.contains("spans 1001 characters"), "{}", e.reason);
        // Repetitions multiply, alternatives and sequences add up, classes count one.
        assert!(comp("pageTitle=~(ab){500}").is_ok());
        assert!(comp("pageTitle=~(ab){500}c").is_err());
        assert!(comp("pageTitle=~a{500}|[b-z]{500}").is_ok());
        assert!(comp("pageTitle=~a{500}|b{501}").is_err());
        assert!(comp("pageTitle=~(?:é{10}){10}{10}").is_ok());
        assert!(comp("pageTitle=~(?:é{10}){10}{11}").is_err());
        assert!(comp("pageTitle=~(a{1000}){1000}{1000}{1000}").is_err());
        // Together: five distinct patterns of 1000 fit, a sixth does not.
        let five: Vec<String> = ('a'..='e')
            .map(|c| format!("pageTitle=~{c}{{1000}}"))
            .collect();
        assert!(comp(&five.join(";")).is_ok());
        let text = format!("{};pageTitle=~k", five.join(";"));
        let e = comp(&text).unwrap_err();
        assert_eq!(&text[e.offset..], "k");
        assert!(
            e.reason.contains("span more than 5000 characters together"),
            "{}",
            e.reason
        );
        // The same pattern again costs nothing.
        assert!(comp(&format!("{};pageTitle=~a{{1000}}", five.join(";"))).is_ok());
    }

    #[test]
    fn identical_regexes_are_built_once_and_the_segment_has_a_budget() {
        let one = comp("pageTitle=~\\p{L}{20}").unwrap();
        let Operand::Regex(re) = &one.groups[0][0].operand else {
            panic!("not a regex");
        };
        let each = re.memory_usage();
        assert!(each > 100 << 10, "{each} bytes");
        let n = MAX_SEGMENT_REGEX_BYTES / each + 2;
        // The same pattern n times costs one pattern.
        let same = vec!["pageTitle=~\\p{L}{20}"; n].join(";");
        assert_eq!(comp(&same).unwrap().groups.len(), n);
        // n distinct patterns of that size do not fit: the error is at the first
        // value over the budget.
        let distinct: Vec<String> = (0..n)
            .map(|i| format!("pageTitle=~\\p{{L}}{{20}}{i}"))
            .collect();
        let text = distinct.join(";");
        let e = comp(&text).unwrap_err();
        assert!(e.reason.contains("16 MiB together"), "{}", e.reason);
        let at = text[..e.offset].matches(';').count();
        assert!(at > 0 && at < n, "failed at condition {at} of {n}");
        assert!(
            text[e.offset..].starts_with("\\p{L}{20}"),
            "{}",
            &text[e.offset..]
        );
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
