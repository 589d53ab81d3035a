//! The naive visitor profile: `docs/analytics.md` § Visitor profile, from a full read of
//! [`Snapshot::visits`].

use super::{VisitMetrics, from_micros};
use crate::error::Result;
use crate::exec::visits::{DimValue, VisitRecord, VisitorProfile, VisitorTotals};
use crate::snapshot::Snapshot;

/// The profile of the visitor `id` (`None` if no live visit has that visitor id), with
/// totals counted from its visits' events.
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// use sightline::testing::scan;
/// let dir = tempfile::tempdir().unwrap();
/// let db = sightline::Db::create(dir.path(), Default::default())?;
/// let mut tx = db.begin_write()?;
/// tx.append_json(r#"{"ts":1000,"visitorId":"a"}"#)?;
/// tx.append_json(r#"{"ts":4000,"visitorId":"a","type":"goal","goalId":1,"revenue":2.5}"#)?;
/// tx.commit()?;
/// let p = scan::visitor(&db.snapshot(), "a")?.unwrap();
/// assert_eq!((p.first_visit, p.last_event), (1000, 4000));
/// assert_eq!((p.totals.events, p.totals.revenue, p.totals.visit_duration), (2, 2.5, 3));
/// assert!(scan::visitor(&db.snapshot(), "b")?.is_none());
/// # Ok(()) }
/// ```
pub fn visitor(snapshot: &Snapshot, id: &str) -> Result<Option<VisitorProfile>> {
    let mut visits: Vec<VisitRecord> = snapshot
        .visits()?
        .into_iter()
        .filter(|v| v.visitor_id == id)
        .collect();
    if visits.is_empty() {
        return Ok(None);
    }
    // Oldest first; visits starting together in `visitCount` order.
    visits.sort_by_key(|v| {
        let count = match v.dims.iter().find(|(n, _)| n == "visitCount") {
            Some((_, DimValue::Int(c))) => *c,
            _ => i64::MAX,
        };
        (v.start, count)
    });
    for v in &mut visits {
        v.events.sort_by_key(|e| e.ts);
    }
    let mut totals = VisitorTotals::default();
    let mut micros: i128 = 0;
    for v in &visits {
        let m = VisitMetrics::of(v);
        totals.visits += 1;
        totals.events += v.events.len() as u64;
        totals.actions += m.actions;
        totals.conversions += m.conversions;
        totals.visit_duration += m.duration;
        micros += i128::from(m.revenue_micros);
    }
    totals.revenue = from_micros(micros);
    let first_visit = visits.iter().map(|v| v.start).min().unwrap_or(0);
    let last_visit = visits.iter().map(|v| v.start).max().unwrap_or(0);
    let last_event = visits
        .iter()
        .flat_map(|v| &v.events)
        .map(|e| e.ts)
        .max()
        .unwrap_or(first_visit);
    Ok(Some(VisitorProfile {
        visitor_id: id.to_string(),
        first_visit,
        last_visit,
        last_event,
        totals,
        visits,
    }))
}
