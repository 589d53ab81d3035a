//! The scan oracle: a deliberately naive, row-by-row evaluator of `docs/segment-language.md` that the
//! tests hold the bitmap engine to.
//!
//! It reads every live visit with [`Snapshot::visits`] and applies the definition of
//! "what a segment selects" literally, visit by visit: no bitmaps, no indexes, no
//! dictionaries, and nothing shared with the engine but the compiled segment (whose
//! *values* the compiler has already normalised). Stored values are normalised here,
//! with this module's own URL stripping and case folding, so a mistake in the engine's
//! normalisation is not repeated by the oracle.
//!
//! The definition, per visit `V`:
//!
//! - a visit-level condition tests `V`'s value; a negated one (`!=`, `!@`, `!~` with a
//!   value) is the negation of its positive test, so visits without a value match it;
//! - a negated action-level condition holds when no action row of `V` passes the
//!   positive test; a conversion-level condition holds when some conversion row of `V`
//!   passes (negated: none does);
//! - positive action-level conditions are all evaluated on one and the same action row:
//!   `V` is selected if for some action row `a` of `V` the whole expression holds with
//!   every positive action-level condition evaluated on `a`. A visit without action rows
//!   is evaluated once, with every positive action-level condition false.
//!
//! Speed is not a goal: every query reads the whole database.
//!
//! The analyses of `docs/analytics.md` have their own naive versions here, in the same
//! spirit and on top of the same per-visit definition: [`report()`], [`funnel()`],
//! [`cohorts()`] and [`visitor()`]. They share nothing with the engine's `report`, `funnel`
//! and `cohort` modules but the result types.

mod cohort;
mod funnel;
mod profile;
mod report;

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::event::EventType;
use crate::exec::catalog::{ACTION_TYPES, Source, TextOrder};
use crate::exec::compile::{CompiledSegment, Cond, Operand};
use crate::exec::visits::{DimValue, EventRecord, VisitRecord};
use crate::exec::{Selection, Summary, TimeRange};
use crate::lang::Op;
use crate::schema::Level;
use crate::snapshot::Snapshot;

pub use cohort::cohorts;
pub use funnel::funnel;
pub use profile::visitor;
pub use report::report;

/// The summary of the visits `segment` selects within `range`, computed row by row.
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// use sightline::{TimeRange, testing::scan};
/// let dir = tempfile::tempdir().unwrap();
/// let db = sightline::Db::create(dir.path(), Default::default())?;
/// let mut tx = db.begin_write()?;
/// tx.append_json(r#"{"ts":0,"visitorId":"a","countryCode":"fr","pageUrl":"https://x.org/cart"}"#)?;
/// tx.append_json(r#"{"ts":0,"visitorId":"b","countryCode":"de","pageUrl":"https://x.org/"}"#)?;
/// tx.commit()?;
/// let snap = db.snapshot();
/// let seg = snap.compile("countryCode==FR;pageUrl=@/cart", Default::default())?;
/// let s = scan::summary(&snap, &seg, &TimeRange::ALL)?;
/// assert_eq!((s.visits, s.visitors, s.actions, s.bounces), (1, 1, 1, 1));
/// # Ok(()) }
/// ```
pub fn summary(
    snapshot: &Snapshot,
    segment: &CompiledSegment,
    range: &TimeRange,
) -> Result<Summary> {
    let mut s = Summary::default();
    let mut visitors: HashSet<String> = HashSet::new();
    let mut micros: i128 = 0;
    for v in snapshot.visits()? {
        if !range.contains(v.start) || !visit_selected(segment, &v) {
            continue;
        }
        let m = VisitMetrics::of(&v);
        s.visits += 1;
        visitors.insert(v.visitor_id.clone());
        s.actions += m.actions;
        if m.actions == 1 {
            s.bounces += 1;
        }
        s.conversions += m.conversions;
        micros += i128::from(m.revenue_micros);
        s.sum_visit_duration += m.duration;
    }
    s.visitors = visitors.len() as u64;
    s.revenue = from_micros(micros);
    Ok(s)
}

/// How many visits `segment` selects within `range` have a `goal` or `ecommerceOrder`
/// row, counted from their events ([`Snapshot::converted_visits`]'s oracle).
pub fn converted_visits(
    snapshot: &Snapshot,
    segment: &CompiledSegment,
    range: &TimeRange,
) -> Result<u64> {
    let mut n = 0;
    for v in snapshot.visits()? {
        if range.contains(v.start)
            && visit_selected(segment, &v)
            && v.events.iter().any(|e| e.kind.counts_as_conversion())
        {
            n += 1;
        }
    }
    Ok(n)
}

/// The visits `segment` selects within `range`, as `(visitorId, visit start)` pairs,
/// sorted, computed row by row.
pub fn selected(
    snapshot: &Snapshot,
    segment: &CompiledSegment,
    range: &TimeRange,
) -> Result<Vec<(String, i64)>> {
    let mut out: Vec<(String, i64)> = snapshot
        .visits()?
        .into_iter()
        .filter(|v| range.contains(v.start) && visit_selected(segment, v))
        .map(|v| (v.visitor_id, v.start))
        .collect();
    out.sort();
    Ok(out)
}

/// What one visit contributes to the metrics of `docs/analytics.md`, counted from its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct VisitMetrics {
    /// Action rows.
    pub actions: u64,
    /// `goal` and `ecommerceOrder` rows.
    pub conversions: u64,
    /// Their revenue in millionths: each row rounded to a millionth, summed
    /// (saturating) over the visit, like ingest does, so sums are exact and order
    /// independent.
    pub revenue_micros: i64,
    /// The `visitDuration` dimension, in seconds (0 without one).
    pub duration: u64,
}

impl VisitMetrics {
    pub(super) fn of(v: &VisitRecord) -> VisitMetrics {
        let mut m = VisitMetrics {
            actions: v.events.iter().filter(|e| is_action(e)).count() as u64,
            ..VisitMetrics::default()
        };
        for e in v.events.iter().filter(|e| counts_as_conversion(e.kind)) {
            m.conversions += 1;
            if let Some(r) = number_field(&e.fields, "revenue") {
                m.revenue_micros = m.revenue_micros.saturating_add((r * 1e6).round() as i64);
            }
        }
        m.duration = match v.dims.iter().find(|(n, _)| n == "visitDuration") {
            Some((_, DimValue::Int(x))) => u64::try_from(*x).unwrap_or(0),
            Some((_, DimValue::Num(x))) if *x > 0.0 => *x as u64,
            _ => 0,
        };
        m
    }
}

/// The live visits `segment` selects within `range`, in [`Snapshot::visits`] order.
pub(super) fn selected_visits(
    snapshot: &Snapshot,
    segment: &CompiledSegment,
    range: &TimeRange,
) -> Result<Vec<VisitRecord>> {
    Ok(snapshot
        .visits()?
        .into_iter()
        .filter(|v| range.contains(v.start) && visit_selected(segment, v))
        .collect())
}

/// Millionths back to a decimal amount.
pub(super) fn from_micros(micros: i128) -> f64 {
    micros as f64 / 1e6
}

/// The `(visitorId, visit start)` pairs of the visit rows of a [`Selection`] made on
/// `snapshot` (the engine's answer in the form [`selected`] gives), sorted.
///
/// Rows of visitors deleted from a part are reported like any other, so a selection
/// that wrongly holds them differs from the oracle's. Fails if the selection does not fit
/// the snapshot's parts (a different part count, or a row beyond a part's visits).
pub fn selection_keys(snapshot: &Snapshot, sel: &Selection) -> Result<Vec<(String, i64)>> {
    let parts = snapshot.parts();
    if parts.len() != sel.parts.len() {
        return Err(Error::argument(
            "selection",
            format!(
                "selection has {} parts, the snapshot {}",
                sel.parts.len(),
                parts.len()
            ),
        ));
    }
    let mut out = Vec::new();
    for (lp, rows) in parts.iter().zip(&sel.parts) {
        let r = &lp.reader;
        let meta = r.meta();
        if rows.max().is_some_and(|m| m >= meta.visits) {
            return Err(Error::argument(
                "selection",
                format!(
                    "selection holds a visit row beyond the {} visits of {}",
                    meta.visits,
                    r.path().display()
                ),
            ));
        }
        let ids = r.visitor_ids()?;
        let body = r
            .visit_column(crate::schema::internal::VISIT_START)
            .ok_or_else(|| r.corrupt("missing visit column @start"))?;
        let start = r.num(body, meta.visits)?;
        for v in 0..meta.visitors {
            let visits = r.visits_of(v)?;
            for row in visits {
                if !u32::try_from(row).is_ok_and(|row| rows.contains(row)) {
                    continue;
                }
                let id = ids.get(v as usize).ok_or_else(|| r.corrupt("visitor id"))?;
                let s = start.int(row).ok_or_else(|| r.corrupt("visit start"))?;
                out.push((id.to_string(), s));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A stored value as the oracle sees it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Val<'a> {
    Text(&'a str),
    Num(f64),
}

pub(super) fn val(d: &DimValue) -> Val<'_> {
    match d {
        DimValue::Str(s) => Val::Text(s),
        DimValue::Int(i) => Val::Num(*i as f64),
        DimValue::Num(x) => Val::Num(*x),
    }
}

pub(super) fn lookup<'a>(pairs: &'a [(String, DimValue)], name: &str) -> Option<Val<'a>> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, d)| val(d))
}

pub(super) fn number_field(fields: &[(String, DimValue)], name: &str) -> Option<f64> {
    match lookup(fields, name) {
        Some(Val::Num(x)) => Some(x),
        _ => None,
    }
}

/// `goal` and `ecommerceOrder` rows: counted as conversions, their revenue summed.
pub(super) fn counts_as_conversion(k: EventType) -> bool {
    matches!(k, EventType::Goal | EventType::EcommerceOrder)
}

/// The value `c` tests on visit `v` (visit-level sources) or on event `row` (event-level
/// sources; `None` when there is no row).
pub(super) fn value_of<'a>(
    c: &Cond,
    v: &'a VisitRecord,
    row: Option<&'a EventRecord>,
) -> Option<Val<'a>> {
    match &c.dim.source {
        Source::VisitText(name) | Source::VisitNumber(name) => lookup(&v.dims, name),
        Source::VisitorId => Some(Val::Text(&v.visitor_id)),
        Source::VisitId => Some(Val::Text(&v.visit_id)),
        Source::EventText(name) | Source::EventNumber(name) => lookup(&row?.fields, name),
        Source::CustomText(name) | Source::CustomNumber(name) => lookup(&row?.fields, name),
        Source::ActionType => {
            let kind = row?.kind.name();
            ACTION_TYPES
                .iter()
                .find(|(_, stored)| *stored == kind)
                .map(|(name, _)| Val::Text(name))
        }
        Source::ConversionGoal => {
            let e = row?;
            match lookup(&e.fields, "goalId") {
                Some(x) => Some(x),
                // `docs/ingest.md`: `ecommerceOrder` rows have goal id 0.
                None if e.kind == EventType::EcommerceOrder => Some(Val::Num(0.0)),
                None => None,
            }
        }
        Source::ConversionRevenue => lookup(&row?.fields, "revenue"),
        Source::ConversionType => match row?.kind {
            EventType::Goal => Some(Val::Text("goal")),
            EventType::EcommerceOrder => Some(Val::Text("order")),
            EventType::EcommerceCart => Some(Val::Text("cart")),
            _ => None,
        },
    }
}

/// Removes a leading `http://` or `https://`, then a leading `www.`, ignoring ASCII
/// case (the oracle's own copy of the URL rule of `docs/segment-language.md`).
fn url_stripped(s: &str) -> &str {
    fn without<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
        let head = s.get(..prefix.len())?;
        if head.eq_ignore_ascii_case(prefix) {
            s.get(prefix.len()..)
        } else {
            None
        }
    }
    let s = without(s, "http://")
        .or_else(|| without(s, "https://"))
        .unwrap_or(s);
    without(s, "www.").unwrap_or(s)
}

/// The oracle's own copy of the typed orders of `docs/segment-language.md`: numbers by
/// value, IP addresses as 32- or 128-bit integers (one family only), other text byte by
/// byte.
fn typed_order(order: TextOrder, s: &str, v: &str) -> Option<std::cmp::Ordering> {
    fn ip_bits(t: &str) -> Option<(bool, u128)> {
        match t.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(a) => Some((false, u128::from(u32::from(a)))),
            std::net::IpAddr::V6(a) => Some((true, u128::from(a))),
        }
    }
    match order {
        TextOrder::Lexical => Some(s.as_bytes().cmp(v.as_bytes())),
        TextOrder::Number => s.parse::<f64>().ok()?.partial_cmp(&v.parse::<f64>().ok()?),
        TextOrder::Ip => {
            let ((f1, a), (f2, b)) = (ip_bits(s)?, ip_bits(v)?);
            (f1 == f2).then(|| a.cmp(&b))
        }
    }
}

/// The positive test of `c` (for a negated condition, what it negates) on one value.
pub(super) fn positive_test(c: &Cond, x: Option<Val<'_>>) -> bool {
    match &c.operand {
        Operand::Empty => {
            let empty = match x {
                None => true,
                Some(Val::Text(s)) => s.is_empty(),
                Some(Val::Num(_)) => false,
            };
            if c.op == Op::Eq { empty } else { !empty }
        }
        Operand::Regex(re) => match x {
            Some(Val::Text(s)) => re.is_match(s),
            _ => false,
        },
        Operand::Number(n) => match x {
            Some(Val::Num(x)) => match c.op.positive() {
                Op::Eq => x == *n,
                Op::Lt => x < *n,
                Op::Le => x <= *n,
                Op::Gt => x > *n,
                Op::Ge => x >= *n,
                _ => false,
            },
            _ => false,
        },
        Operand::Text(v) => {
            let Some(Val::Text(s)) = x else {
                return false;
            };
            let s = if c.dim.url { url_stripped(s) } else { s };
            let folded;
            let s = if c.fold_case {
                folded = s.to_lowercase();
                folded.as_str()
            } else {
                s
            };
            let v = v.as_str();
            let order = typed_order(c.dim.order, s, v);
            match c.op.positive() {
                Op::Eq => s == v || order == Some(std::cmp::Ordering::Equal),
                Op::Lt => order == Some(std::cmp::Ordering::Less),
                Op::Le => order.is_some_and(|o| o != std::cmp::Ordering::Greater),
                Op::Gt => order == Some(std::cmp::Ordering::Greater),
                Op::Ge => order.is_some_and(|o| o != std::cmp::Ordering::Less),
                Op::Contains => s.contains(v),
                Op::StartsWith => s.starts_with(v),
                Op::EndsWith => s.ends_with(v),
                _ => false,
            }
        }
    }
}

/// Whether `c` holds for visit `v` when the positive action-level conditions are
/// evaluated on `row` (`None`: they are false).
fn holds(c: &Cond, v: &VisitRecord, row: Option<&EventRecord>) -> bool {
    let pass = |e: &EventRecord| positive_test(c, value_of(c, v, Some(e)));
    match c.level() {
        Level::Visit => positive_test(c, value_of(c, v, None)) != c.is_negative(),
        Level::Action if c.is_negative() => !v.events.iter().any(|e| is_action(e) && pass(e)),
        Level::Action => row.is_some_and(pass),
        Level::Conversion => {
            v.events.iter().any(|e| e.kind.is_conversion() && pass(e)) != c.is_negative()
        }
    }
}

pub(super) fn is_action(e: &EventRecord) -> bool {
    !e.kind.is_conversion()
}

/// `docs/segment-language.md` for one visit (the time range aside).
pub(super) fn visit_selected(segment: &CompiledSegment, v: &VisitRecord) -> bool {
    let whole = |row: Option<&EventRecord>| {
        segment
            .groups
            .iter()
            .all(|g| g.iter().any(|c| holds(c, v, row)))
    };
    let same_row = segment
        .groups
        .iter()
        .flatten()
        .any(|c| c.level() == Level::Action && !c.is_negative());
    if !same_row {
        return whole(None);
    }
    let mut actions = v.events.iter().filter(|e| is_action(e)).peekable();
    if actions.peek().is_none() {
        return whole(None);
    }
    actions.any(|a| whole(Some(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_stripping_is_its_own() {
        assert_eq!(url_stripped("HTTPS://WWW.a/b"), "a/b");
        assert_eq!(url_stripped("http://a"), "a");
        assert_eq!(url_stripped("www.a"), "a");
        assert_eq!(url_stripped("wwwa"), "wwwa");
        assert_eq!(url_stripped("a/www."), "a/www.");
        assert_eq!(url_stripped("é"), "é");
        assert_eq!(url_stripped(""), "");
    }
}
