//! The naive report: `docs/analytics.md` § Reports, applied literally to the visits
//! [`Snapshot::visits`] reads back.
//!
//! Every selected visit is looked at once: a visit-level dimension puts it in the group
//! of its value; an action- (conversion-) level dimension puts it in the group of every
//! value one of its action (conversion) rows has, counting those rows as hits. Groups
//! are found by a linear search on the value, distinct visitors are kept as sets of ids,
//! rows are sorted and folded by this module's own code.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::{VisitMetrics, from_micros, is_action, selected_visits};
use crate::error::{Error, Result};
use crate::event::EventType;
use crate::exec::TimeRange;
use crate::exec::catalog::{Dimension, Source};
use crate::exec::compile::CompiledSegment;
use crate::exec::report::{Report, ReportOptions, ReportRow, ReportValue};
use crate::exec::visits::{DimValue, EventRecord, VisitRecord};
use crate::schema::Level;
use crate::snapshot::Snapshot;

/// Dimensions reported lower-cased: segments compare them case-insensitively
/// (`docs/analytics.md`, "code dimensions"). The oracle's own list.
const FOLDED: [&str; 5] = [
    "countryCode",
    "regionCode",
    "languageCode",
    "browserCode",
    "operatingSystemCode",
];

/// The report of the visits `segment` selects within `range`, by the dimension `by`,
/// computed visit by visit (`docs/analytics.md` § Reports).
///
/// `by` is any name a segment may use (aliases accepted); an unknown name is
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput). `total` is [`summary`](super::summary) of the selection.
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// use sightline::{ReportOptions, ReportValue, TimeRange, testing::scan};
/// let dir = tempfile::tempdir().unwrap();
/// let db = sightline::Db::create(dir.path(), Default::default())?;
/// let mut tx = db.begin_write()?;
/// tx.append_json(r#"{"ts":0,"visitorId":"a","countryCode":"FR"}"#)?;
/// tx.append_json(r#"{"ts":0,"visitorId":"b","countryCode":"fr"}"#)?;
/// tx.append_json(r#"{"ts":0,"visitorId":"c"}"#)?;
/// tx.commit()?;
/// let snap = db.snapshot();
/// let all = snap.compile("", Default::default())?;
/// let r = scan::report(&snap, &all, &TimeRange::ALL, "country", &ReportOptions::default())?;
/// assert_eq!(r.by, "countryCode");
/// assert_eq!(r.rows[0].value, ReportValue::Text("fr".into()));
/// assert_eq!((r.rows[0].visits, r.rows[1].value.clone()), (2, ReportValue::Null));
/// # Ok(()) }
/// ```
// The oracle is one literal pass over the visits, on purpose: the straightest
// reading of the rules, sharing nothing with the engine.
pub fn report(
    snapshot: &Snapshot,
    segment: &CompiledSegment,
    range: &TimeRange,
    by: &str,
    options: &ReportOptions,
) -> Result<Report> {
    let catalog = snapshot.catalog();
    let dim = catalog
        .get(by)
        .ok_or_else(|| Error::UnknownDimension {
            name: by.to_string(),
            suggestions: Vec::new(),
        })?
        .clone();
    let total = super::summary(snapshot, segment, range)?;
    let mut groups: Vec<Group> = Vec::new();
    // Every selected visit's visitor and metrics, by its position in the selection
    // (the others row counts each visit of its values once).
    let mut visits: Vec<(String, VisitMetrics)> = Vec::new();
    for v in selected_visits(snapshot, segment, range)? {
        let metrics = VisitMetrics::of(&v);
        let at = visits.len();
        // The values this visit has, each with its number of matching rows.
        let mut values: Vec<(ReportValue, u64)> = Vec::new();
        match dim.level {
            Level::Visit => values.push((visit_value(&dim, &v), 0)),
            Level::Action | Level::Conversion => {
                let rows = v.events.iter().filter(|e| {
                    if dim.level == Level::Action {
                        is_action(e)
                    } else {
                        e.kind.is_conversion()
                    }
                });
                for e in rows {
                    let x = row_value(&dim, e);
                    match values.iter_mut().find(|(y, _)| same(y, &x)) {
                        Some((_, hits)) => *hits += 1,
                        None => values.push((x, 1)),
                    }
                }
            }
        }
        for (x, hits) in values {
            let g = match groups.iter().position(|g| same(&g.value, &x)) {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(Group::new(x));
                    let last = groups.len() - 1;
                    &mut groups[last]
                }
            };
            g.visits += 1;
            g.visitors.insert(v.visitor_id.clone());
            g.actions += metrics.actions;
            g.conversions += metrics.conversions;
            g.micros += i128::from(metrics.revenue_micros);
            g.hits += hits;
            g.at.insert(at);
        }
        visits.push((v.visitor_id.clone(), metrics));
    }
    groups.sort_by(|a, b| {
        b.visits
            .cmp(&a.visits)
            .then_with(|| ascending(&a.value, &b.value))
    });
    let with_hits = dim.level != Level::Visit;
    let mut rows = Vec::new();
    // The others row: the distinct visits having any folded value, their distinct
    // visitors and metrics; hits are a sum.
    let mut folded: Option<(BTreeSet<usize>, u64, u64)> = None;
    for (i, g) in groups.into_iter().enumerate() {
        if options.limit.is_some_and(|n| i >= n) {
            let (at, hits, k) = folded.get_or_insert((BTreeSet::new(), 0, 0));
            at.extend(g.at.iter().copied());
            *hits += g.hits;
            *k += 1;
        } else {
            let c = Counters {
                visits: g.visits,
                visitors: g.visitors.len() as u64,
                actions: g.actions,
                conversions: g.conversions,
                micros: g.micros,
                hits: g.hits,
            };
            rows.push(c.row(g.value, with_hits, None));
        }
    }
    if let Some((at, hits, k)) = folded {
        let mut sum = Counters {
            hits,
            ..Counters::default()
        };
        let mut who = BTreeSet::new();
        for i in at {
            let (visitor, m) = &visits[i];
            who.insert(visitor.clone());
            sum.visits += 1;
            sum.actions += m.actions;
            sum.conversions += m.conversions;
            sum.micros += i128::from(m.revenue_micros);
        }
        sum.visitors = who.len() as u64;
        rows.push(sum.row(ReportValue::Text("others".into()), with_hits, Some(k)));
    }
    Ok(Report {
        by: dim.name,
        level: dim.level,
        rows,
        total,
    })
}

/// One value's group while the visits are read.
struct Group {
    value: ReportValue,
    visits: u64,
    visitors: BTreeSet<String>,
    actions: u64,
    conversions: u64,
    micros: i128,
    hits: u64,
    /// The positions of its visits in the selection.
    at: BTreeSet<usize>,
}

impl Group {
    fn new(value: ReportValue) -> Group {
        Group {
            value,
            visits: 0,
            visitors: BTreeSet::new(),
            actions: 0,
            conversions: 0,
            micros: 0,
            hits: 0,
            at: BTreeSet::new(),
        }
    }
}

/// A finished row's counters (also the others row's).
#[derive(Default)]
struct Counters {
    visits: u64,
    visitors: u64,
    actions: u64,
    conversions: u64,
    micros: i128,
    hits: u64,
}

impl Counters {
    fn row(&self, value: ReportValue, with_hits: bool, others: Option<u64>) -> ReportRow {
        ReportRow {
            value,
            visits: self.visits,
            visitors: self.visitors,
            actions: self.actions,
            conversions: self.conversions,
            revenue: from_micros(self.micros),
            hits: if with_hits { Some(self.hits) } else { None },
            others,
        }
    }
}

/// A stored value as reported.
fn reported(d: &DimValue) -> ReportValue {
    match d {
        DimValue::Str(s) => ReportValue::Text(s.clone()),
        DimValue::Int(i) => ReportValue::Int(*i),
        DimValue::Num(x) => ReportValue::Num(*x),
    }
}

fn field(pairs: &[(String, DimValue)], name: &str) -> ReportValue {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map_or(ReportValue::Null, |(_, d)| reported(d))
}

/// The value of a visit-level dimension for visit `v`.
fn visit_value(dim: &Dimension, v: &VisitRecord) -> ReportValue {
    let x = match &dim.source {
        Source::VisitorId => ReportValue::Text(v.visitor_id.clone()),
        Source::VisitId => ReportValue::Text(v.visit_id.clone()),
        Source::VisitText(name) | Source::VisitNumber(name) => field(&v.dims, name),
        // Not a visit-level source: no value.
        _ => ReportValue::Null,
    };
    match x {
        ReportValue::Text(s) if FOLDED.contains(&dim.name.as_str()) => {
            ReportValue::Text(s.to_lowercase())
        }
        x => x,
    }
}

/// The value of an action- or conversion-level dimension on one row.
fn row_value(dim: &Dimension, e: &EventRecord) -> ReportValue {
    match &dim.source {
        Source::EventText(name) | Source::EventNumber(name) => field(&e.fields, name),
        Source::CustomText(name) | Source::CustomNumber(name) => field(&e.fields, name),
        Source::ActionType => match e.kind {
            EventType::Pageview => ReportValue::Text("pageviews".into()),
            EventType::Outlink => ReportValue::Text("outlinks".into()),
            EventType::Download => ReportValue::Text("downloads".into()),
            EventType::SiteSearch => ReportValue::Text("sitesearches".into()),
            EventType::Event => ReportValue::Text("events".into()),
            _ => ReportValue::Null,
        },
        Source::ConversionGoal => match field(&e.fields, "goalId") {
            ReportValue::Null if e.kind == EventType::EcommerceOrder => ReportValue::Int(0),
            x => x,
        },
        Source::ConversionRevenue => field(&e.fields, "revenue"),
        Source::ConversionType => match e.kind {
            EventType::Goal => ReportValue::Text("goal".into()),
            EventType::EcommerceOrder => ReportValue::Text("order".into()),
            EventType::EcommerceCart => ReportValue::Text("cart".into()),
            _ => ReportValue::Null,
        },
        _ => ReportValue::Null,
    }
}

/// Whether two values fall in one group (numbers by numeric equality).
fn same(a: &ReportValue, b: &ReportValue) -> bool {
    match (a, b) {
        (ReportValue::Null, ReportValue::Null) => true,
        (ReportValue::Text(x), ReportValue::Text(y)) => x == y,
        (ReportValue::Int(x), ReportValue::Int(y)) => x == y,
        (ReportValue::Num(x), ReportValue::Num(y)) => x == y,
        _ => false,
    }
}

/// Value order of reports: numbers numerically, strings by bytes, `null` last.
fn ascending(a: &ReportValue, b: &ReportValue) -> Ordering {
    let number = |v: &ReportValue| match v {
        ReportValue::Int(i) => Some(*i as f64),
        ReportValue::Num(x) => Some(*x),
        _ => None,
    };
    match (a, b) {
        (ReportValue::Int(x), ReportValue::Int(y)) => x.cmp(y),
        (ReportValue::Text(x), ReportValue::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (ReportValue::Null, ReportValue::Null) => Ordering::Equal,
        (ReportValue::Null, _) => Ordering::Greater,
        (_, ReportValue::Null) => Ordering::Less,
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_order() {
        use ReportValue::*;
        let mut v = vec![
            Null,
            Text("b".into()),
            Num(2.5),
            Text("".into()),
            Int(3),
            Text("B".into()),
            Num(-1.0),
        ];
        v.sort_by(ascending);
        assert_eq!(
            v,
            [
                Num(-1.0),
                Num(2.5),
                Int(3),
                Text("".into()),
                Text("B".into()),
                Text("b".into()),
                Null
            ]
        );
        assert!(same(&Num(0.0), &Num(-0.0)));
        assert!(!same(&Int(0), &Num(0.0)));
    }
}
