//! Cohorts (`docs/analytics.md`, `sightline cohorts`; exact rules in `docs/analytics.md`).

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use roaring::RoaringBitmap;
use serde::Serialize;

use super::engine::PartEval;
use super::part::LivePart;
use super::report::check_selection;
use super::{Selection, pool};
use crate::cancel::Stop;
use crate::error::{Error, Result};
use crate::schema::internal;

/// The length of a cohort period (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Calendar days.
    Day,
    /// Weeks starting on Monday.
    #[default]
    Week,
    /// Calendar months.
    Month,
}

impl Period {
    /// `day`, `week` or `month`.
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// Options of [`Snapshot::cohorts`](crate::Snapshot::cohorts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortOptions {
    /// Period length.
    pub period: Period,
    /// Most period offsets reported per cohort (`retained.len()`).
    pub periods: usize,
    /// The end of the data considered, Unix ms inclusive: no period after the one holding
    /// it is reported. `None`: the latest live event. (Never later than the latest live
    /// event.)
    pub end_ms: Option<i64>,
}

impl Default for CohortOptions {
    /// Weeks, 12 periods, up to the latest event.
    fn default() -> Self {
        CohortOptions {
            period: Period::Week,
            periods: 12,
            end_ms: None,
        }
    }
}

/// One cohort: the visitors whose first visit started in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cohort {
    /// First day of the period (UTC).
    pub start: Date,
    /// Visitors in the cohort.
    pub size: u64,
    /// `retained[i]`: how many of them have a selected visit in period `start + i`.
    pub retained: Vec<u64>,
}

/// The cohort table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cohorts {
    /// Period length.
    pub period: Period,
    /// Cohorts, oldest first, one per period from the first to the last with a new
    /// visitor.
    pub cohorts: Vec<Cohort>,
}

/// The cohorts of the visitors whose first visit is in `selection` over `parts`;
/// `last_event` is the latest live event of the database (the end of the data).
pub(crate) fn cohorts(
    parts: &[LivePart],
    selection: &Selection,
    options: &CohortOptions,
    last_event: Option<i64>,
    stop: &Stop,
) -> Result<Cohorts> {
    if options.periods == 0 {
        return Err(Error::argument(
            "periods",
            "cohorts need at least one period",
        ));
    }
    check_selection(parts, selection)?;
    stop.check()?; // also when there is nothing to count
    let period = options.period;
    let mut empty = Cohorts {
        period,
        cohorts: Vec::new(),
    };
    let Some(last) = last_event else {
        return Ok(empty);
    };
    let end = period.index(options.end_ms.map_or(last, |e| e.min(last)));
    let periods = options.periods;
    let jobs = parts
        .iter()
        .zip(&selection.parts)
        .map(|(lp, sel)| {
            let (lp, sel, stop) = (lp.clone(), sel.clone(), stop.clone());
            Box::new(move || cohorts_part(&lp, &sel, period, periods, end, &stop)) as pool::Job<_>
        })
        .collect();
    let per_part: Vec<Vec<(i64, Vec<u64>)>> =
        pool::run_all(jobs, super::part::total_events(parts), stop)?;
    empty.cohorts = cohort_rows(merge_parts(per_part), period, end, periods)?;
    Ok(empty)
}

/// The parts' counts added up per cohort (a visitor lives in one part).
fn merge_parts(per_part: Vec<Vec<(i64, Vec<u64>)>>) -> BTreeMap<i64, Vec<u64>> {
    let mut merged: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for part in per_part {
        for (cohort, counts) in part {
            let row = merged
                .entry(cohort)
                .or_insert_with(|| vec![0; counts.len()]);
            for (a, b) in row.iter_mut().zip(counts) {
                *a += b;
            }
        }
    }
    merged
}

/// The table's rows from the merged counts: one per period from the first cohort to the
/// newest one not after the end period `end`, each with its reached periods (at most
/// `periods`); fails when the table would exceed [`MAX_COHORT_CELLS`].
fn cohort_rows(
    mut merged: BTreeMap<i64, Vec<u64>>,
    period: Period,
    end: i64,
    periods: usize,
) -> Result<Vec<Cohort>> {
    let mut rows = Vec::new();
    // Visitors acquired after the end period are not shown (their cohorts have no
    // reached period), and must not stretch the table either.
    let (Some(&first), Some(newest)) = (
        merged.keys().next(),
        merged.range(..=end).next_back().map(|(c, _)| *c),
    ) else {
        return Ok(rows);
    };
    // The table is dense from the first cohort to the newest: bound it before
    // building it (one stray event decades away would otherwise ask for millions of
    // rows).
    let cells: u128 = (first..=newest)
        .map(|c| reached(c, end, periods) as u128)
        .sum();
    if cells > MAX_COHORT_CELLS as u128 {
        return Err(Error::too_large(format!(
            "the cohort table would have {} cohorts ({} to {}) and {cells} cells, more \
             than {MAX_COHORT_CELLS}: narrow the range (--from/--to) or choose a longer \
             period",
            newest - first + 1,
            period.start(first)?,
            period.start(newest)?,
        )));
    }
    for c in first..=newest {
        let len = reached(c, end, periods);
        let mut retained = merged.remove(&c).unwrap_or_else(|| vec![0; len]);
        retained.resize(len, 0);
        rows.push(Cohort {
            start: period.start(c)?,
            size: retained.first().copied().unwrap_or(0),
            retained,
        });
    }
    Ok(rows)
}

/// Most cells (cohorts × reported periods) a cohort table may have.
pub const MAX_COHORT_CELLS: usize = 2_000_000;

/// How many periods of cohort `cohort` are reported: those up to the end period, at
/// most `periods`.
fn reached(cohort: i64, end: i64, periods: usize) -> usize {
    (end.saturating_sub(cohort).saturating_add(1)).clamp(0, periods as i64) as usize
}

const DAY_MS: i64 = 86_400_000;

impl Period {
    /// The index of the period holding `ts` (Unix ms): days since 1970-01-01, weeks
    /// since the Monday 1969-12-29, or months since January of year 0.
    fn index(self, ts: i64) -> i64 {
        let day = ts.div_euclid(DAY_MS);
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: day -3 is a Monday.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                y * 12 + (m - 1)
            }
        }
    }

    /// The first day of period `index`.
    fn start(self, index: i64) -> Result<Date> {
        let (y, m, d) = match self {
            Period::Day => civil_from_days(index),
            Period::Week => civil_from_days(index * 7 - 3),
            Period::Month => (index.div_euclid(12), index.rem_euclid(12) + 1, 1),
        };
        let date = i16::try_from(y)
            .ok()
            .and_then(|y| Date::new(y, m as i8, d as i8).ok());
        date.ok_or_else(|| Error::too_large(format!("period {index} is out of the calendar")))
    }
}

/// `(year, month 1–12, day 1–31)` of a day count since 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// One part's cohorts: cohort period → visitors retained at the offsets reported (up
/// to `periods`, and none past `end_period`).
fn cohorts_part(
    lp: &LivePart,
    sel: &RoaringBitmap,
    period: Period,
    periods: usize,
    end_period: i64,
    stop: &Stop,
) -> Result<Vec<(i64, Vec<u64>)>> {
    let mut out: HashMap<i64, Vec<u64>> = HashMap::new();
    if sel.is_empty() {
        return Ok(Vec::new());
    }
    let eval = PartEval::new(lp);
    let r = eval.r;
    let visitors = eval.visitor_starts()?;
    let owners = eval.visit_visitors()?;
    let start = r.num(
        r.visit_column(internal::VISIT_START)
            .ok_or_else(|| r.corrupt("missing visit column @start"))?,
        eval.nv,
    )?;
    let mut it = sel.iter().peekable();
    let mut visitors_seen = 0;
    while let Some(&v) = it.peek() {
        stop.every(visitors_seen)?;
        visitors_seen += 1;
        if v >= eval.nv {
            return Err(r.corrupt("selected visit beyond the visit table"));
        }
        let u = owners.owner(v);
        let (Some(&first), Some(&end)) = (visitors.get(u as usize), visitors.get(u as usize + 1))
        else {
            return Err(r.corrupt("visitor beyond the visitor table"));
        };
        // Only visitors whose first visit is selected form a cohort; the visits of a
        // visitor are consecutive rows, in order of start, so offsets only grow.
        let member = v == first;
        let cohort = period.index(start.int(first as usize).unwrap_or(0));
        let mut last_offset = -1;
        while let Some(v) = it.next_if(|&v| v < end) {
            if !member {
                continue;
            }
            let offset = period.index(start.int(v as usize).unwrap_or(0)) - cohort;
            let len = reached(cohort, end_period, periods);
            if offset > last_offset && offset < len as i64 {
                last_offset = offset;
                let row = out.entry(cohort).or_insert_with(|| vec![0; len]);
                if let Some(n) = row.get_mut(offset as usize) {
                    *n += 1;
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_match_the_calendar() {
        let ms = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        for (period, a, b, same) in [
            (
                Period::Week,
                "2026-01-05T00:00:00Z",
                "2026-01-11T23:59:59.999Z",
                true,
            ),
            (
                Period::Week,
                "2026-01-04T23:59:59.999Z",
                "2026-01-05T00:00:00Z",
                false,
            ),
            (
                Period::Month,
                "2024-02-01T00:00:00Z",
                "2024-02-29T23:00:00Z",
                true,
            ),
            (
                Period::Month,
                "2024-02-29T23:00:00Z",
                "2024-03-01T00:00:00Z",
                false,
            ),
            (
                Period::Day,
                "1969-12-31T23:59:59.999Z",
                "1970-01-01T00:00:00Z",
                false,
            ),
        ] {
            assert_eq!(period.index(ms(a)) == period.index(ms(b)), same, "{a} {b}");
        }
        assert_eq!(
            Period::Week
                .start(Period::Week.index(ms("2026-01-07T12:00:00Z")))
                .unwrap()
                .to_string(),
            "2026-01-05"
        );
        assert_eq!(
            Period::Week
                .start(Period::Week.index(ms("1969-12-30T00:00:00Z")))
                .unwrap()
                .to_string(),
            "1969-12-29"
        );
        assert_eq!(
            Period::Month
                .start(Period::Month.index(ms("2026-03-31T23:00:00Z")))
                .unwrap()
                .to_string(),
            "2026-03-01"
        );
        assert_eq!(
            Period::Day
                .start(Period::Day.index(ms("0001-01-01T05:00:00Z")))
                .unwrap()
                .to_string(),
            "0001-01-01"
        );
    }

    #[test]
    fn civil_from_days_agrees_with_jiff() {
        let epoch = Date::new(1970, 1, 1).unwrap();
        for z in (-800_000i64..2_900_000).step_by(997) {
            let d = epoch.checked_add(jiff::Span::new().days(z)).unwrap();
            let want = (
                i64::from(d.year()),
                i64::from(d.month()),
                i64::from(d.day()),
            );
            assert_eq!(civil_from_days(z), want, "day {z}");
        }
    }
}
