//! The naive cohort table: `docs/analytics.md` § Cohorts, with calendar arithmetic.
//!
//! Periods are civil dates in UTC handled by `jiff` (a week starts on the Monday on or
//! before the date, a month on its first day; the next period is one calendar day, week
//! or month later), where the engine counts days since the epoch: the two must agree
//! without sharing a method.

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use super::visit_selected;
use crate::error::{Error, Result};
use crate::exec::TimeRange;
use crate::exec::cohort::{Cohort, CohortOptions, Cohorts, Period};
use crate::exec::compile::CompiledSegment;
use crate::exec::visits::{DimValue, VisitRecord};
use crate::snapshot::Snapshot;

/// The cohorts of the visitors whose first visit (over all the data) `segment` selects
/// within `range`, computed visitor by visitor on calendar dates
/// (`docs/analytics.md` § Cohorts).
///
/// Fails with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when `options.periods` is 0.
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// use sightline::{CohortOptions, Period, TimeRange, testing::scan};
/// let dir = tempfile::tempdir().unwrap();
/// let db = sightline::Db::create(dir.path(), Default::default())?;
/// let mut tx = db.begin_write()?;
/// // Monday 2026-01-05 and Tuesday 2026-01-13.
/// tx.append_json(r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a"}"#)?;
/// tx.append_json(r#"{"ts":"2026-01-13T10:00:00Z","visitorId":"a"}"#)?;
/// tx.commit()?;
/// let snap = db.snapshot();
/// let all = snap.compile("", Default::default())?;
/// let options = CohortOptions { period: Period::Week, periods: 4, end_ms: None };
/// let c = scan::cohorts(&snap, &all, &TimeRange::ALL, &options)?;
/// assert_eq!(c.cohorts[0].start.to_string(), "2026-01-05");
/// assert_eq!(c.cohorts[0].retained, [1, 1]);
/// # Ok(()) }
/// ```
pub fn cohorts(
    snapshot: &Snapshot,
    segment: &CompiledSegment,
    range: &TimeRange,
    options: &CohortOptions,
) -> Result<Cohorts> {
    if options.periods == 0 {
        return Err(Error::argument(
            "periods",
            "cohorts need at least one period",
        ));
    }
    let period = options.period;
    let empty = Cohorts {
        period,
        cohorts: Vec::new(),
    };
    let visits = snapshot.visits()?;
    let Some(latest) = visits.iter().flat_map(|v| &v.events).map(|e| e.ts).max() else {
        return Ok(empty);
    };
    let end = period_of(options.end_ms.map_or(latest, |e| e.min(latest)), period)?;
    // Every visitor's visits, oldest first (ties in the order of `visitCount`).
    let mut by_visitor: BTreeMap<&str, Vec<&VisitRecord>> = BTreeMap::new();
    for v in &visits {
        by_visitor.entry(&v.visitor_id).or_default().push(v);
    }
    // Members: cohort period → for each member, the periods of its selected visits.
    let mut members: BTreeMap<Date, Vec<Vec<Date>>> = BTreeMap::new();
    for vs in by_visitor.values_mut() {
        vs.sort_by_key(|v| (v.start, visit_count(v)));
        let chosen = |v: &VisitRecord| range.contains(v.start) && visit_selected(segment, v);
        let first = vs[0];
        if !chosen(first) {
            continue;
        }
        let cohort = period_of(first.start, period)?;
        if cohort > end {
            continue;
        }
        let mut seen = Vec::new();
        for v in vs.iter().filter(|v| chosen(v)) {
            seen.push(period_of(v.start, period)?);
        }
        members.entry(cohort).or_default().push(seen);
    }
    let (Some(&first), Some(&last)) = (members.keys().next(), members.keys().next_back()) else {
        return Ok(empty);
    };
    let mut out = Vec::new();
    let mut start = first;
    while start <= last {
        let group = members.get(&start).map_or(&[][..], Vec::as_slice);
        let mut retained = Vec::new();
        let mut p = start;
        while retained.len() < options.periods && p <= end {
            retained.push(group.iter().filter(|seen| seen.contains(&p)).count() as u64);
            p = next(p, period)?;
        }
        out.push(Cohort {
            start,
            size: group.len() as u64,
            retained,
        });
        start = next(start, period)?;
    }
    Ok(Cohorts {
        period,
        cohorts: out,
    })
}

fn visit_count(v: &VisitRecord) -> i64 {
    match v.dims.iter().find(|(n, _)| n == "visitCount") {
        Some((_, DimValue::Int(c))) => *c,
        _ => i64::MAX,
    }
}

/// The first day of the period holding the instant `ms` (UTC).
fn period_of(ms: i64, period: Period) -> Result<Date> {
    let bad = |e: jiff::Error| Error::too_large(format!("instant {ms} ms: {e}"));
    let day = jiff::Timestamp::from_millisecond(ms)
        .map_err(bad)?
        .to_zoned(TimeZone::UTC)
        .date();
    Ok(match period {
        Period::Day => day,
        Period::Week if day.weekday() == Weekday::Monday => day,
        Period::Week => day.nth_weekday(-1, Weekday::Monday).map_err(bad)?,
        Period::Month => day.first_of_month(),
    })
}

/// The period after the one starting on `d`.
fn next(d: Date, period: Period) -> Result<Date> {
    let step = match period {
        Period::Day => 1.day(),
        Period::Week => 1.week(),
        Period::Month => 1.month(),
    };
    d.checked_add(step)
        .map_err(|e| Error::too_large(format!("period after {d}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn periods() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        // 2026-01-01 is a Thursday.
        let thu = ms("2026-01-01T23:59:59.999Z");
        assert_eq!(period_of(thu, Period::Day).unwrap(), d("2026-01-01"));
        assert_eq!(period_of(thu, Period::Week).unwrap(), d("2025-12-29"));
        assert_eq!(period_of(thu, Period::Month).unwrap(), d("2026-01-01"));
        let mon = ms("2026-01-05T00:00:00Z");
        assert_eq!(period_of(mon, Period::Week).unwrap(), d("2026-01-05"));
        assert_eq!(period_of(mon - 1, Period::Week).unwrap(), d("2025-12-29"));
        assert_eq!(period_of(-1, Period::Day).unwrap(), d("1969-12-31"));
        assert_eq!(period_of(-1, Period::Week).unwrap(), d("1969-12-29"));
        assert_eq!(next(d("2026-01-31"), Period::Day).unwrap(), d("2026-02-01"));
        assert_eq!(
            next(d("2025-12-29"), Period::Week).unwrap(),
            d("2026-01-05")
        );
        assert_eq!(
            next(d("2026-12-01"), Period::Month).unwrap(),
            d("2027-01-01")
        );
    }
}
