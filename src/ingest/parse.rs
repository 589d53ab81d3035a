//! Row parsing: JSON Lines and CSV rows into [`Rows`], with `field: reason` errors.
//!
//! JSON values are read through serde into a borrowed [`Scalar`] per key, then checked
//! field by field, so an error names the field and says what was expected. CSV cells are
//! text; numeric fields are parsed from it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::enrich::{self, Request};
use super::rows::{CVal, Row, Rows};
use crate::event::{EventType, Field};
use crate::privacy::WriteRules;
use crate::schema::{self, CustomType};

/// One input value before it is checked against its field.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// JSON null, or an empty CSV cell.
    Null,
    /// JSON true/false.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number that is not an i64.
    Float(f64),
    /// A string (or any CSV cell).
    Str(Cow<'a, str>),
    /// A JSON array or object (never valid).
    Nested(&'static str),
}

impl Scalar<'_> {
    fn describe(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Str(_) => "a string",
            Scalar::Nested(what) => what,
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(i64::try_from(v)
            .map(Scalar::Int)
            .unwrap_or(Scalar::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested("an object"))
    }
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct KeyVisitor;
impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}
struct Key<'de>(Cow<'de, str>);
impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor).map(Key)
    }
}

/// The key/value pairs of one input row, in input order.
pub type RawRow<'a> = Vec<(Cow<'a, str>, Scalar<'a>)>;

struct RowSeed<'r, 'a>(&'r mut RawRow<'a>);

impl<'de, 'r> DeserializeSeed<'de> for RowSeed<'r, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'r> Visitor<'de> for RowSeed<'r, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(k)) = map.next_key::<Key>()? {
            let v: Scalar = map.next_value()?;
            self.0.push((k, v));
        }
        Ok(())
    }
}

/// A row-level problem: `(field, reason)`.
pub type FieldError = (String, String);

fn ferr(field: &str, reason: impl Into<String>) -> FieldError {
    (field.to_string(), reason.into())
}

/// Parses one JSON Lines line into `raw` (cleared first).
pub fn parse_json<'a>(line: &'a [u8], raw: &mut RawRow<'a>) -> Result<(), FieldError> {
    raw.clear();
    if flat_json(line, raw).is_some() {
        return Ok(());
    }
    raw.clear();
    let mut de = serde_json::Deserializer::from_slice(line);
    RowSeed(raw)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| {
            ferr(
                "row",
                bad_line_reason(line).unwrap_or_else(|| json_reason(e)),
            )
        })
}

/// The common case of [`parse_json`], read by hand: one object of keys whose values are
/// strings without escapes, integers, booleans or null. Gives exactly what serde would
/// (the same pairs in the same order), or `None` for anything else — escapes, other
/// numbers, nesting, errors — which serde then reads (and words the error of).
///
/// Why: serde's visitor machinery is most of the cost of an import's parsing, and
/// nearly every line of an event log is this simple.
fn flat_json<'a>(line: &'a [u8], raw: &mut RawRow<'a>) -> Option<()> {
    // Valid UTF-8 as a whole, so any string slice below is too (and a byte ≥ 0x80
    // outside a string is refused by the grammar, as serde refuses it).
    let text = std::str::from_utf8(line).ok()?;
    let b = text.as_bytes();
    let ws = |i: &mut usize| {
        while matches!(b.get(*i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *i += 1;
        }
    };
    // A string without escapes or control characters, starting at its quote.
    let string = |i: &mut usize| -> Option<&'a str> {
        if b.get(*i) != Some(&b'"') {
            return None;
        }
        let start = *i + 1;
        let len = b
            .get(start..)?
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        let end = start + len;
        if b.get(end) != Some(&b'"') {
            return None;
        }
        *i = end + 1;
        text.get(start..end)
    };
    let mut i = 0;
    ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    ws(&mut i);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            let key = string(&mut i)?;
            ws(&mut i);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
            ws(&mut i);
            let value = match b.get(i)? {
                b'"' => Scalar::Str(Cow::Borrowed(string(&mut i)?)),
                b'n' if b.get(i..i + 4) == Some(b"null") => {
                    i += 4;
                    Scalar::Null
                }
                b't' if b.get(i..i + 4) == Some(b"true") => {
                    i += 4;
                    Scalar::Bool(true)
                }
                b'f' if b.get(i..i + 5) == Some(b"false") => {
                    i += 5;
                    Scalar::Bool(false)
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    if b.get(i) == Some(&b'-') {
                        i += 1;
                    }
                    let digits = b
                        .get(i..)?
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    // `-0`, leading zeros, fractions and exponents: serde's.
                    if digits == 0 || (b.get(i) == Some(&b'0') && (digits > 1 || start != i)) {
                        return None;
                    }
                    i += digits;
                    if matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
                        return None;
                    }
                    Scalar::Int(text.get(start..i)?.parse::<i64>().ok()?)
                }
                _ => return None,
            };
            raw.push((Cow::Borrowed(key), value));
            ws(&mut i);
            match b.get(i)? {
                b',' => {
                    i += 1;
                    ws(&mut i);
                }
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    ws(&mut i);
    (i == b.len()).then_some(())
}

/// What is wrong with a line that serde_json rejected, when serde_json's own words would
/// mislead: bytes that are not UTF-8 ("invalid unicode code point"), a byte-order mark
/// that is not at the start of the file ("expected value").
fn bad_line_reason(line: &[u8]) -> Option<String> {
    if line.starts_with(b"\xEF\xBB\xBF") {
        return Some(
            "a byte-order mark (U+FEFF) starts this line; only the file's first line may \
             have one"
                .into(),
        );
    }
    let e = std::str::from_utf8(line).err()?;
    let at = e.valid_up_to();
    let bad: Vec<String> = line
        .get(at..at + e.error_len().unwrap_or(line.len() - at).clamp(1, 4))
        .unwrap_or_default()
        .iter()
        .map(|b| format!("0x{b:02X}"))
        .collect();
    Some(format!(
        "not valid UTF-8: byte{} {} at column {}",
        if bad.len() > 1 { "s" } else { "" },
        bad.join(" "),
        at + 1
    ))
}

fn json_reason(e: serde_json::Error) -> String {
    let msg = e.to_string();
    // serde_json appends " at line L column C"; within one line only the column matters.
    match msg.rfind(" at line ") {
        Some(i) => format!("invalid JSON: {} (column {})", &msg[..i], e.column()),
        None => format!("invalid JSON: {msg}"),
    }
}

/// How cell values are typed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// JSON: values carry their type.
    Json,
    /// CSV: every cell is text; numeric fields parse it.
    Text,
}

/// Checks a raw row and appends it to `rows`, its values stored as `rules` say (an
/// `ip` masked, for one). With `settle_types`, custom dimensions are checked against
/// the types already fixed in `rows` (a conflict is a row error); without, a parser's
/// batch records each value with its own type and the rule is applied when the batch is
/// merged ([`Rows::absorb`]).
pub fn push_raw(
    raw: &RawRow<'_>,
    mode: Mode,
    rules: &WriteRules,
    rows: &mut Rows,
    settle_types: bool,
) -> Result<(), FieldError> {
    let mut row = Row::new(0, 0);
    let (custom_start, names_before) = (rows.custom.len(), rows.custom_names.len());
    let result = check_fields(raw, mode, rules, rows, settle_types, &mut row);
    match result {
        Ok(()) => {
            row.custom_start = custom_start as u32;
            row.custom_len = (rows.custom.len() - custom_start) as u32;
            rows.rows.push(row);
            Ok(())
        }
        Err(e) => {
            rows.custom.truncate(custom_start);
            if settle_types {
                // A rejected row must not fix the type of a dimension it introduced.
                rows.forget_dims_since(names_before);
            }
            Err(e)
        }
    }
}

/// Checks every key of `raw` in input order: built-in fields are set on `row`, custom
/// dimensions appended to `rows.custom` (which [`push_raw`] trims again if the row is
/// rejected). The first problem is the row's error; `ts` and `visitorId` are required.
fn check_fields(
    raw: &RawRow<'_>,
    mode: Mode,
    rules: &WriteRules,
    rows: &mut Rows,
    settle_types: bool,
    row: &mut Row,
) -> Result<(), FieldError> {
    let mut seen_ts = false;
    let mut seen_visitor = false;
    let mut keys = RowKeys::default();
    let mut request = Request::default();
    for (i, (k, v)) in raw.iter().enumerate() {
        let key: &str = k;
        // A key given twice is an error, whatever its values (null included).
        if keys.is_duplicate(raw, i, key) {
            return Err(ferr(key, "duplicate key"));
        }
        if matches!(v, Scalar::Null) {
            continue;
        }
        let Some(field) = Field::lookup(key) else {
            push_custom(key, v, mode, rows, settle_types)?;
            continue;
        };
        match field {
            Field::UserAgent => {
                request.user_agent = Some(string(v).map_err(|r| ferr(key, r))?);
                request.is_request = true;
                continue;
            }
            Field::AcceptLanguage => {
                request.accept_language = Some(string(v).map_err(|r| ferr(key, r))?);
                request.is_request = true;
                continue;
            }
            Field::VisitStr(schema::IP_FIELD) => request.ip = string(v).ok(),
            Field::VisitStr(enrich::REFERRER_URL) => request.is_request = true,
            _ => {}
        }
        set_field(row, field, key, v, mode, rules, rows)?;
        seen_ts |= field == Field::Ts;
        seen_visitor |= field == Field::VisitorId;
    }
    if !seen_ts {
        return Err(ferr("ts", "missing (required)"));
    }
    if !seen_visitor {
        return Err(ferr("visitorId", "missing (required)"));
    }
    enrich::enrich_row(row, &request, rows, rules.enricher());
    Ok(())
}

/// Keys of one row, for the duplicate check once there are many of them (a linear
/// scan per key would make a row of 100,000 keys quadratic).
#[derive(Default)]
struct RowKeys<'r> {
    /// Every key up to the one last checked; `None` while the row is short.
    set: Option<std::collections::HashSet<&'r str>>,
}

impl<'r> RowKeys<'r> {
    /// Whether `key`, the key of `raw[i]`, is given earlier in `raw`. Called for each
    /// `i` in order.
    fn is_duplicate(&mut self, raw: &'r RawRow<'_>, i: usize, key: &'r str) -> bool {
        let earlier = raw.get(..i).unwrap_or_default();
        match &mut self.set {
            Some(set) => !set.insert(key),
            None if i < 16 => earlier.iter().any(|(e, _)| e.as_ref() == key),
            None => {
                let mut set: std::collections::HashSet<&str> =
                    earlier.iter().map(|(e, _)| e.as_ref()).collect();
                let duplicate = !set.insert(key);
                self.set = Some(set);
                duplicate
            }
        }
    }
}

/// Checks a custom dimension's value and appends it to `rows.custom`: typed against
/// the types fixed in `rows` with `settle_types`, else recorded with its own type.
fn push_custom(
    key: &str,
    v: &Scalar<'_>,
    mode: Mode,
    rows: &mut Rows,
    settle_types: bool,
) -> Result<(), FieldError> {
    let (ty, val) = custom_value(key, v, mode, rows)?;
    let d = if settle_types {
        rows.custom_dim(key, ty)
            .map_err(|e| ferr(key, e.reason()))?
    } else {
        rows.parser_dim(key, ty)
    };
    rows.custom.push((d, val));
    Ok(())
}

/// Checks the value `v` of the built-in field `field` (named `key`) and sets it on
/// `row` as `rules` say to store it, interning strings into `rows`.
fn set_field(
    row: &mut Row,
    field: Field,
    key: &str,
    v: &Scalar<'_>,
    mode: Mode,
    rules: &WriteRules,
    rows: &mut Rows,
) -> Result<(), FieldError> {
    match field {
        Field::Ts => {
            row.ts = timestamp(v, mode).map_err(|r| ferr(key, r))?;
        }
        Field::VisitorId => {
            let s = string(v).map_err(|r| ferr(key, r))?;
            if s.is_empty() {
                return Err(ferr(key, "must not be empty"));
            }
            row.visitor = rows.strings.intern(s);
        }
        Field::VisitId => {
            let s = string(v).map_err(|r| ferr(key, r))?;
            if s.is_empty() {
                return Err(ferr(key, "must not be empty"));
            }
            row.visit_id = rows.strings.intern(s);
        }
        Field::SiteId => row.site_id = Some(integer(v, mode).map_err(|r| ferr(key, r))?),
        Field::Type => {
            let s = string(v).map_err(|r| ferr(key, r))?;
            row.kind = EventType::from_name(s).ok_or_else(|| {
                let names: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
                ferr(
                    key,
                    format!("unknown type {s:?} (expected one of: {})", names.join(", ")),
                )
            })?;
        }
        Field::EventStr(i) => row.ev[i] = rows.strings.intern(string(v).map_err(|r| ferr(key, r))?),
        Field::VisitStr(i) if i == schema::LATITUDE || i == schema::LONGITUDE => {
            let x = number(v, mode).map_err(|r| ferr(key, r))?;
            let text = schema::coordinate(i, x).map_err(|r| ferr(key, r))?;
            row.vis[i] = rows.strings.intern(&text);
        }
        Field::VisitStr(i) => {
            let s = string(v).map_err(|r| ferr(key, r))?;
            let s = crate::schema::stored_visit_string(i, s).map_err(|r| ferr(key, r))?;
            row.vis[i] = rows
                .strings
                .intern(&rules.stored_visit_string(i, s).map_err(|r| ferr(key, r))?);
        }
        Field::EventValue => row.event_value = Some(number(v, mode).map_err(|r| ferr(key, r))?),
        Field::Revenue => {
            let x = number(v, mode).map_err(|r| ferr(key, r))?;
            crate::event::check_revenue(x).map_err(|r| ferr(key, r))?;
            row.revenue = Some(x);
        }
        Field::GoalId => row.goal_id = Some(integer(v, mode).map_err(|r| ferr(key, r))?),
        // Taken by `check_fields` as request data, never stored.
        Field::UserAgent | Field::AcceptLanguage => {}
    }
    Ok(())
}

fn string<'v>(v: &'v Scalar<'_>) -> Result<&'v str, String> {
    match v {
        Scalar::Str(s) => Ok(s),
        other => Err(format!("expected a string, found {}", other.describe())),
    }
}

fn number(v: &Scalar<'_>, mode: Mode) -> Result<f64, String> {
    let x = match v {
        Scalar::Int(i) => *i as f64,
        Scalar::Float(f) => *f,
        Scalar::Str(s) if mode == Mode::Text => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("expected a number, found {s:?}"))?,
        other => return Err(format!("expected a number, found {}", other.describe())),
    };
    if x.is_finite() {
        Ok(x)
    } else {
        Err("expected a finite number".into())
    }
}

fn integer(v: &Scalar<'_>, mode: Mode) -> Result<i64, String> {
    match v {
        Scalar::Int(i) => Ok(*i),
        Scalar::Float(f) => Err(format!("expected an integer, found {}", float(*f))),
        Scalar::Str(s) if mode == Mode::Text => s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("expected an integer, found {s:?}")),
        other => Err(format!("expected an integer, found {}", other.describe())),
    }
}

/// A JSON number that is not an i64, as an error message shows it: JSON writes `1e3`,
/// `1.0` and `-0` as integers' values, but they are floating-point numbers here, and
/// integers beyond the i64 range only fit one.
fn float(f: f64) -> String {
    if f.fract() == 0.0 && f.is_finite() {
        if f.abs() >= 9.2e18 {
            format!("{f:e}, beyond the 64-bit integer range")
        } else {
            format!("{f:?}, a floating-point number")
        }
    } else {
        format!("{f}")
    }
}

/// Parses a timestamp: RFC 3339 text or integer Unix milliseconds.
pub fn timestamp(v: &Scalar<'_>, mode: Mode) -> Result<i64, String> {
    let ms = match v {
        Scalar::Int(i) => *i,
        Scalar::Float(f) => {
            return Err(format!(
                "expected RFC 3339 text or integer milliseconds, found {}",
                float(*f)
            ));
        }
        Scalar::Str(s) => {
            let t = s.trim();
            if mode == Mode::Text
                && !t.is_empty()
                && t.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            {
                t.parse::<i64>()
                    .map_err(|_| format!("bad integer timestamp {t:?}"))?
            } else if let Some(ms) = utc_millis(t) {
                ms
            } else {
                let ts: jiff::Timestamp = t
                    .parse()
                    .map_err(|e| format!("cannot parse {t:?} as an RFC 3339 timestamp: {e}"))?;
                ts.as_millisecond()
            }
        }
        other => return Err(format!("expected a timestamp, found {}", other.describe())),
    };
    crate::event::check_ts(ms)?;
    Ok(ms)
}

/// The common case of RFC 3339 text read by hand: `YYYY-MM-DDTHH:MM:SS[.f…]Z` from
/// 1970 on (fraction truncated to milliseconds, as `jiff` does), or `None` for any other
/// shape or value, which `jiff` then reads (and words the error of). Equal to `jiff`
/// wherever it answers (tested); much faster, which matters at millions of rows.
fn utc_millis(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if b.get(10) != Some(&b'T') || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1970 || day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut millis = 0;
    match b.get(19)? {
        b'Z' if b.len() == 20 => {}
        b'.' => {
            let digits = b.len().checked_sub(21)?;
            if !(1..=9).contains(&digits) || b.last() != Some(&b'Z') {
                return None;
            }
            let frac = num(20..20 + digits)?;
            millis = match digits {
                1 => frac * 100,
                2 => frac * 10,
                d => frac / 10i64.pow(d as u32 - 3),
            };
        }
        _ => return None,
    }
    // Days since 1970-01-01 of the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn custom_value(
    name: &str,
    v: &Scalar<'_>,
    mode: Mode,
    rows: &mut Rows,
) -> Result<(CustomType, CVal), FieldError> {
    match (v, mode) {
        (Scalar::Int(i), _) => Ok((CustomType::Number, CVal::Num(*i as f64))),
        (Scalar::Float(f), _) => Ok((CustomType::Number, CVal::Num(*f))),
        (Scalar::Str(s), Mode::Json) => Ok((CustomType::String, CVal::Str(rows.strings.intern(s)))),
        (Scalar::Str(s), Mode::Text) => {
            // CSV has no types: a known dimension parses as its type; a new one is a
            // number if its first value reads as one.
            let known = rows.custom_type(name);
            let num = s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
            match (known, num) {
                (Some(CustomType::String), _) | (None, None) => {
                    Ok((CustomType::String, CVal::Str(rows.strings.intern(s))))
                }
                (_, Some(x)) => Ok((CustomType::Number, CVal::Num(x))),
                (Some(CustomType::Number), None) => {
                    Err(ferr(name, format!("expected a number, found {s:?}")))
                }
            }
        }
        (other, _) => Err(ferr(
            name,
            format!("expected a string or a number, found {}", other.describe()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// serde's reading of `line` (what [`flat_json`] must equal when it reads a line).
    fn serde_only<'a>(line: &'a [u8], raw: &mut RawRow<'a>) -> bool {
        raw.clear();
        let mut de = serde_json::Deserializer::from_slice(line);
        RowSeed(raw)
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .is_ok()
    }

    /// Pieces of JSON Lines lines, glued at random: most make simple rows, many make
    /// invalid or unusual ones.
    const PIECES: [&str; 34] = [
        "{",
        "}",
        "\"",
        "\"ts\"",
        "\"visitorId\"",
        ":",
        ",",
        " ",
        "\t",
        "1",
        "0",
        "-",
        "-0",
        "07",
        "123456789012345678901234",
        "9223372036854775807",
        "9223372036854775808",
        "1.5",
        "1e3",
        "true",
        "false",
        "null",
        "nul",
        "[1]",
        "{\"a\":1}",
        "\\n",
        "\\u00e9",
        "é",
        "\u{1}",
        "\"x\"",
        "\"ü€\"",
        "\r",
        "tru",
        "-12",
    ];

    proptest! {
        /// Whatever the line, the fast reading is serde's or no reading at all.
        #[test]
        fn flat_json_reads_as_serde_does(pieces in prop::collection::vec(0usize..PIECES.len(), 0..24)) {
            let line: String = pieces.iter().map(|&i| PIECES[i]).collect();
            let mut fast = Vec::new();
            if flat_json(line.as_bytes(), &mut fast).is_some() {
                let mut slow = Vec::new();
                prop_assert!(serde_only(line.as_bytes(), &mut slow), "{line:?}: serde refuses it");
                prop_assert_eq!(fast, slow, "{:?}", line);
            }
        }

        /// Objects of simple values are read by the fast path, exactly as serde reads them.
        #[test]
        fn simple_objects_take_the_fast_path(
            pairs in prop::collection::vec(("[a-zA-Z_é]{0,6}", prop_oneof![
                "[ -!#-\\[\\]-~é€😀]{0,8}".prop_map(|s| format!("\"{s}\"")),
                any::<i64>().prop_map(|n| n.to_string()),
                Just("true".to_string()), Just("false".to_string()), Just("null".to_string()),
            ]), 0..8),
            spaces in " {0,2}",
        ) {
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\"{spaces}:{spaces}{v}")).collect();
            let line = format!("{spaces}{{{}}}{spaces}", body.join(&format!(",{spaces}")));
            let mut fast = Vec::new();
            prop_assert!(flat_json(line.as_bytes(), &mut fast).is_some(), "{}", line);
            let mut slow = Vec::new();
            prop_assert!(serde_only(line.as_bytes(), &mut slow));
            prop_assert_eq!(fast, slow);
        }
    }

    /// The hand-read RFC 3339 timestamps equal `jiff`'s wherever they answer: every
    /// shape of fraction, month ends and leap days, and random instants up to 9999.
    #[test]
    fn utc_millis_equals_jiff() {
        let jiff_ms = |t: &str| {
            t.parse::<jiff::Timestamp>()
                .ok()
                .map(|x| x.as_millisecond())
        };
        let fixed = [
            "1970-01-01T00:00:00Z",
            "2026-02-21T17:27:12.455Z",
            "2026-02-21T17:27:12.4Z",
            "2026-02-21T17:27:12.45Z",
            "2026-02-21T17:27:12.123456789Z",
            "2024-02-29T23:59:59.999Z",
            "2000-02-29T00:00:00Z",
            "9999-12-30T22:00:00Z",
            "2026-12-31T23:59:59Z",
        ];
        for t in fixed {
            assert_eq!(utc_millis(t), jiff_ms(t), "{t}");
            assert!(utc_millis(t).is_some(), "{t}");
        }
        for t in [
            "1969-12-31T23:59:59Z",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00+01:00",
            "2026-01-01t00:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00:00z",
            "2026-01-01 00:00:00Z",
            "+2026-01-01T00:00:00Z",
            "2026-1-01T00:00:00Z",
        ] {
            assert_eq!(utc_millis(t), None, "{t}");
        }
        let mut x: u64 = 0x5EED;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let ms = (x >> 20) as i64 % 253_402_207_200_000;
            let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
                continue;
            };
            let digits = (x >> 8) as usize % 10;
            let text = match digits {
                0 => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                d => format!(
                    "{}.{:09}Z",
                    ts.strftime("%Y-%m-%dT%H:%M:%S"),
                    ts.subsec_nanosecond()
                )
                .chars()
                .take(20 + d)
                .chain(std::iter::once('Z'))
                .collect(),
            };
            assert_eq!(utc_millis(&text), jiff_ms(&text), "{text}");
            assert!(utc_millis(&text).is_some(), "{text}");
        }
    }

    fn one(line: &str) -> Result<Rows, FieldError> {
        let mut rows = Rows::default();
        let mut raw = Vec::new();
        parse_json(line.as_bytes(), &mut raw)?;
        push_raw(&raw, Mode::Json, &WriteRules::default(), &mut rows, false)?;
        Ok(rows)
    }

    #[test]
    fn good_row() {
        let rows = one(r#"{"ts":"2026-01-05T10:00:00.123Z","visitorId":"a","type":"goal","goalId":3,"revenue":9.5,"countryCode":"fr","plan":"pro","n":2}"#).unwrap();
        let r = rows.rows[0];
        assert_eq!(r.ts, 1_767_607_200_123);
        assert_eq!(r.kind, EventType::Goal);
        assert_eq!(r.goal_id, Some(3));
        assert_eq!(rows.strings.get(r.vis[0]), "fr");
        assert_eq!(rows.custom.len(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"visitorId":"a"}"#, "ts", "missing"),
            (r#"{"ts":1}"#, "visitorId", "missing"),
            (r#"{"ts":"yesterday","visitorId":"a"}"#, "ts", "RFC 3339"),
            (
                r#"{"ts":1,"visitorId":"a","type":"click"}"#,
                "type",
                "unknown type",
            ),
            (
                r#"{"ts":1,"visitorId":"a","goalId":1.5}"#,
                "goalId",
                "integer",
            ),
            (
                r#"{"ts":1,"visitorId":"a","pageUrl":3}"#,
                "pageUrl",
                "expected a string",
            ),
            (r#"{"ts":1,"visitorId":"a","x":[1]}"#, "x", "an array"),
            (r#"{"ts":1,"visitorId":""}"#, "visitorId", "empty"),
            (r#"{"ts":1,"visitorId":"a","ts":2}"#, "ts", "duplicate"),
            (r#"{"ts":1,"visitorId":"a""#, "row", "invalid JSON"),
            (r#"[1,2]"#, "row", "invalid JSON"),
            (r#"{"ts":1,"visitorId":"a"} x"#, "row", "invalid JSON"),
            (
                r#"{"ts":99999999999999999,"visitorId":"a"}"#,
                "ts",
                "outside",
            ),
            // Duplicates whatever the values, null included.
            (
                r#"{"ts":1,"visitorId":"a","pageUrl":null,"pageUrl":"/x"}"#,
                "pageUrl",
                "duplicate key",
            ),
            (
                r#"{"ts":1,"visitorId":"a","x":1,"x":null}"#,
                "x",
                "duplicate key",
            ),
            // Numbers that are not i64 say so.
            (
                r#"{"ts":1e3,"visitorId":"a"}"#,
                "ts",
                "found 1000.0, a floating-point number",
            ),
            (
                r#"{"ts":1,"visitorId":"a","goalId":-0}"#,
                "goalId",
                "found -0.0, a floating-point number",
            ),
            (
                r#"{"ts":1,"visitorId":"a","siteId":18446744073709551615}"#,
                "siteId",
                "beyond the 64-bit integer range",
            ),
        ];
        for (line, field, reason) in cases {
            let (f, r) = one(line).err().unwrap_or_else(|| panic!("accepted {line}"));
            assert_eq!(f, field, "{line}");
            assert!(r.contains(reason), "{line}: {r}");
        }
    }

    #[test]
    fn misleading_json_errors_are_reworded() {
        let bad = |line: &[u8]| {
            let mut raw = Vec::new();
            parse_json(line, &mut raw).unwrap_err()
        };
        assert_eq!(
            bad(b"{\"ts\":1,\"visitorId\":\"a\xff\"}"),
            (
                "row".into(),
                "not valid UTF-8: byte 0xFF at column 23".into()
            )
        );
        assert_eq!(
            bad(b"{\"ts\":1,\"visitorId\":\"\xe2\x82"),
            (
                "row".into(),
                "not valid UTF-8: bytes 0xE2 0x82 at column 22".into()
            )
        );
        let (field, reason) = bad(b"\xEF\xBB\xBF{\"ts\":1,\"visitorId\":\"a\"}");
        assert_eq!(field, "row");
        assert!(reason.contains("byte-order mark"), "{reason}");
    }

    #[test]
    fn a_row_of_many_keys_finds_its_duplicate() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("\"k{i}\":{i}")).collect();
        let line = format!(r#"{{"ts":1,"visitorId":"a",{}}}"#, keys.join(","));
        assert_eq!(one(&line).unwrap().custom.len(), 20_000);
        let line = format!(
            r#"{{"ts":1,"visitorId":"a",{},"k17":null}}"#,
            keys.join(",")
        );
        assert_eq!(
            one(&line).err(),
            Some(("k17".into(), "duplicate key".into()))
        );
    }

    #[test]
    fn nulls_mean_no_value() {
        let rows = one(r#"{"ts":5,"visitorId":"a","pageUrl":null,"x":null}"#).unwrap();
        assert_eq!(rows.rows[0].ev[0], 0);
        assert!(rows.custom.is_empty());
    }
}
