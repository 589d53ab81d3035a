//! The naive funnel: `docs/analytics.md` § Funnels, by brute force.
//!
//! Every row of a unit (a selected visit, or all the rows of a visitor's selected visits)
//! is tested against every step on its own (visit-level conditions test the row's
//! visit; action-level ones are false on conversion rows and conversion-level ones on
//! action rows, whatever the operator). Then every chain of pairwise distinct rows with
//! non-decreasing timestamps, row i matching step i, is enumerated depth first, and each
//! step keeps the shortest `ts(ek) − ts(e1)` seen. No greedy walk, no matching: the
//! search is exponential in the steps, which is fine for test-sized units.

use std::collections::BTreeMap;

use super::{is_action, positive_test, selected_visits, value_of};
use crate::error::{Error, Result};
use crate::exec::TimeRange;
use crate::exec::compile::{CompiledSegment, Cond};
use crate::exec::funnel::{Funnel, FunnelOptions, FunnelScope, FunnelStep, MAX_FUNNEL_STEPS};
use crate::exec::visits::{EventRecord, VisitRecord};
use crate::schema::Level;
use crate::snapshot::Snapshot;

/// The funnel of `steps` over the visits `segment` selects within `range`, computed by
/// enumerating every chain of rows (`docs/analytics.md` § Funnels).
///
/// Fails with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for no step, more than [`MAX_FUNNEL_STEPS`] steps
/// or a negative window.
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// use sightline::{FunnelOptions, TimeRange, testing::scan};
/// let dir = tempfile::tempdir().unwrap();
/// let db = sightline::Db::create(dir.path(), Default::default())?;
/// let mut tx = db.begin_write()?;
/// tx.append_json(r#"{"ts":0,"visitorId":"a","pageUrl":"/a"}"#)?;
/// tx.append_json(r#"{"ts":10,"visitorId":"a","pageUrl":"/a"}"#)?;
/// tx.append_json(r#"{"ts":20,"visitorId":"a","pageUrl":"/b"}"#)?;
/// tx.commit()?;
/// let snap = db.snapshot();
/// let steps = [snap.compile("pageUrl==/a", Default::default())?,
///              snap.compile("pageUrl==/b", Default::default())?];
/// let all = snap.compile("", Default::default())?;
/// let f = scan::funnel(&snap, &steps, &all, &TimeRange::ALL, &FunnelOptions::visit())?;
/// // The shortest chain starts at the second `/a`.
/// assert_eq!((f.steps[1].count, f.steps[1].median_time_ms), (1, Some(10.0)));
/// # Ok(()) }
/// ```
// The oracle is one literal pass over the units, on purpose: the straightest
// reading of the rules, sharing nothing with the engine.
pub fn funnel(
    snapshot: &Snapshot,
    steps: &[CompiledSegment],
    segment: &CompiledSegment,
    range: &TimeRange,
    options: &FunnelOptions,
) -> Result<Funnel> {
    if steps.is_empty() {
        return Err(Error::argument("steps", "a funnel needs at least one step"));
    }
    if steps.len() > MAX_FUNNEL_STEPS {
        return Err(Error::argument(
            "steps",
            format!(
                "a funnel has at most {MAX_FUNNEL_STEPS} steps, not {}",
                steps.len()
            ),
        ));
    }
    if let Some(w) = options.window_ms.filter(|w| *w < 0) {
        return Err(Error::argument(
            "window",
            format!("a funnel window cannot be negative ({w} ms)"),
        ));
    }
    // Each unit's rows: timestamp and which steps the row matches. Visits are keyed by
    // their position, visitors by their id.
    let mut units: BTreeMap<(String, usize), Vec<Row>> = BTreeMap::new();
    for (i, v) in selected_visits(snapshot, segment, range)?
        .iter()
        .enumerate()
    {
        let key = match options.scope {
            FunnelScope::Visit => (String::new(), i),
            FunnelScope::Visitor => (v.visitor_id.clone(), 0),
        };
        let rows = units.entry(key).or_default();
        for e in &v.events {
            rows.push(Row {
                ts: e.ts,
                matches: steps.iter().map(|s| step_matches(s, v, e)).collect(),
            });
        }
    }
    // Per step: each reaching unit's shortest time.
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); steps.len()];
    for rows in units.values() {
        for (k, best) in shortest(rows, steps.len(), options.window())
            .into_iter()
            .enumerate()
        {
            if let Some(t) = best {
                times[k].push(t);
            }
        }
    }
    let first = times[0].len() as u64;
    let mut out = Vec::with_capacity(steps.len());
    let mut previous = 0u64;
    for (k, (step, mut t)) in steps.iter().zip(times).enumerate() {
        let count = t.len() as u64;
        let drop_off = if k == 0 { 0 } else { previous - count };
        out.push(FunnelStep {
            step: k + 1,
            definition: step.segment.to_string(),
            count,
            rate: ratio(count, first),
            drop_off,
            drop_off_rate: if k == 0 {
                0.0
            } else {
                ratio(drop_off, previous)
            },
            median_time_ms: median(&mut t),
        });
        previous = count;
    }
    Ok(Funnel {
        scope: options.scope,
        window_ms: options.window(),
        units: units.len() as u64,
        steps: out,
    })
}

/// One row of a unit: its timestamp and the steps it matches.
struct Row {
    ts: i64,
    matches: Vec<bool>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Middle value, or mean of the two middle values; `None` for no value.
fn median(t: &mut [i64]) -> Option<f64> {
    t.sort_unstable();
    let n = t.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(t[n / 2] as f64),
        _ => Some((t[n / 2 - 1] as f64 + t[n / 2] as f64) / 2.0),
    }
}

/// Whether the step holds on row `e` of visit `v`.
fn step_matches(step: &CompiledSegment, v: &VisitRecord, e: &EventRecord) -> bool {
    step.groups
        .iter()
        .all(|g| g.iter().any(|c| holds_on_row(c, v, e)))
}

/// One condition on one row: visit-level conditions test the visit, event-level ones
/// the row if it is of their kind (else they are false, negated or not).
fn holds_on_row(c: &Cond, v: &VisitRecord, e: &EventRecord) -> bool {
    let row = match c.level() {
        Level::Visit => None,
        Level::Action if is_action(e) => Some(e),
        Level::Conversion if e.kind.is_conversion() => Some(e),
        Level::Action | Level::Conversion => return false,
    };
    positive_test(c, value_of(c, v, row)) != c.is_negative()
}

/// For each step k, the least `ts(ek) − ts(e1)` over every valid chain e1…ek of
/// `rows` (`None`: no chain reaches k).
fn shortest(rows: &[Row], steps: usize, window: Option<i64>) -> Vec<Option<i64>> {
    struct Search<'a> {
        rows: &'a [Row],
        steps: usize,
        window: Option<i64>,
        used: Vec<bool>,
        best: Vec<Option<i64>>,
    }
    impl Search<'_> {
        /// A valid chain of `depth` rows from `first` to `last` exists; extend it.
        fn extend(&mut self, depth: usize, first: i64, last: i64) {
            let t = last - first;
            let slot = &mut self.best[depth - 1];
            *slot = Some(slot.map_or(t, |b| b.min(t)));
            if depth == self.steps {
                return;
            }
            for j in 0..self.rows.len() {
                let r = &self.rows[j];
                let fits = !self.used[j]
                    && r.matches[depth]
                    && r.ts >= last
                    && self.window.is_none_or(|w| r.ts - first <= w);
                if fits {
                    self.used[j] = true;
                    self.extend(depth + 1, first, r.ts);
                    self.used[j] = false;
                }
            }
        }
    }
    let mut s = Search {
        rows,
        steps,
        window,
        used: vec![false; rows.len()],
        best: vec![None; steps],
    };
    for (i, r) in rows.iter().enumerate() {
        if r.matches[0] {
            s.used[i] = true;
            s.extend(1, r.ts, r.ts);
            s.used[i] = false;
        }
    }
    s.best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(spec: &[(i64, &[bool])]) -> Vec<Row> {
        spec.iter()
            .map(|(ts, m)| Row {
                ts: *ts,
                matches: m.to_vec(),
            })
            .collect()
    }

    #[test]
    fn shortest_chains() {
        // A@0 A@10 B@20: the chain from the later A is shorter.
        let r = rows(&[
            (0, &[true, false]),
            (10, &[true, false]),
            (20, &[false, true]),
        ]);
        assert_eq!(shortest(&r, 2, None), [Some(0), Some(10)]);
        assert_eq!(shortest(&r, 2, Some(9)), [Some(0), None]);
        assert_eq!(shortest(&r, 2, Some(10)), [Some(0), Some(10)]);
        // One row matching both steps counts for one only.
        let r = rows(&[(5, &[true, true])]);
        assert_eq!(shortest(&r, 2, None), [Some(0), None]);
        // Equal timestamps in either order.
        let r = rows(&[(5, &[false, true]), (5, &[true, false])]);
        assert_eq!(shortest(&r, 2, None), [Some(0), Some(0)]);
        // Time never goes back.
        let r = rows(&[(4, &[false, true]), (5, &[true, false])]);
        assert_eq!(shortest(&r, 2, None), [Some(0), None]);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7.0));
        assert_eq!(median(&mut [9, 1, 4]), Some(4.0));
        assert_eq!(median(&mut [10, 1, 4, 3]), Some(3.5));
    }
}
