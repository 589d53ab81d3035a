//! Totals of a snapshot (`sightline stats`): from each part's directory where no visitor
//! was deleted from it, else from its live visitors' visit columns.

use std::ops::Range;

use super::LivePart;
use crate::error::Result;
use crate::schema::internal;
use crate::storage::format::REVENUE_NOT_RECORDED;

/// Totals of a snapshot (`sightline stats`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Events (actions and conversions).
    pub events: u64,
    /// Visits.
    pub visits: u64,
    /// Distinct visitors.
    pub visitors: u64,
    /// Action rows.
    pub actions: u64,
    /// `goal` and `ecommerceOrder` rows.
    pub conversions: u64,
    /// Their revenue, summed exactly in millionths.
    pub revenue: f64,
    /// Earliest event (Unix ms), if any.
    pub first_event: Option<i64>,
    /// Latest event (Unix ms), if any.
    pub last_event: Option<i64>,
    /// Live parts.
    pub parts: u64,
    /// Bytes of the live files (parts and deletion files).
    pub bytes: u64,
    /// Commit generation.
    pub generation: u64,
}

/// The totals of `parts`, at commit `generation`.
pub(crate) fn stats(parts: &[LivePart], generation: u64) -> Result<Stats> {
    let mut s = Stats {
        generation,
        ..Stats::default()
    };
    let mut revenue_micros: i128 = 0;
    for p in parts {
        s.parts += 1;
        s.bytes += p.entry.bytes + p.entry.deletions.as_ref().map_or(0, |d| d.bytes);
        let m = p.reader.meta();
        let (first, last);
        if p.deleted.is_empty() && m.revenue_micros != REVENUE_NOT_RECORDED {
            s.events += m.events as u64;
            s.visits += m.visits as u64;
            s.visitors += m.visitors as u64;
            s.actions += m.actions;
            s.conversions += m.conversions;
            revenue_micros += m.revenue_micros as i128;
            (first, last) = (m.min_ts, m.max_ts);
        } else {
            let t = live_totals(p)?;
            s.events += t.events;
            s.visits += t.visits;
            s.visitors += t.visitors;
            s.actions += t.actions;
            s.conversions += t.conversions;
            revenue_micros += t.revenue_micros;
            if t.visits == 0 {
                continue;
            }
            (first, last) = (t.first, t.last);
        }
        if m.visits > 0 {
            s.first_event = Some(s.first_event.map_or(first, |f| f.min(first)));
            s.last_event = Some(s.last_event.map_or(last, |l| l.max(last)));
        }
    }
    s.revenue = revenue_micros as f64 / 1e6;
    Ok(s)
}

#[derive(Default)]
struct LiveTotals {
    events: u64,
    visits: u64,
    visitors: u64,
    actions: u64,
    conversions: u64,
    revenue_micros: i128,
    first: i64,
    last: i64,
}

/// Totals of the live visitors of a part with deletions (reads the visit columns).
fn live_totals(p: &LivePart) -> Result<LiveTotals> {
    let r = &p.reader;
    let m = r.meta();
    let col = |n: &str| {
        r.visit_column(n)
            .ok_or_else(|| r.corrupt(format!("missing visit column {n}")))
    };
    let start = r.num(col(internal::VISIT_START)?, m.visits)?;
    let metrics = super::engine::PartEval::new(p).metrics()?;
    let ts = r.num(
        r.event_column(internal::TS_OFFSET)
            .ok_or_else(|| r.corrupt("missing event times"))?,
        m.events,
    )?;
    let mut t = LiveTotals {
        first: i64::MAX,
        last: i64::MIN,
        ..Default::default()
    };
    for v in 0..m.visitors {
        if p.deleted.contains(v) {
            continue;
        }
        t.visitors += 1;
        for i in r.visits_of(v)? {
            let ev: Range<usize> = r.events_of(i)?;
            let s = start.int(i).unwrap_or(0);
            t.visits += 1;
            t.events += ev.len() as u64;
            let (actions, conversions, _, revenue_micros) = metrics.of(i);
            t.actions += actions.max(0) as u64;
            t.conversions += conversions.max(0) as u64;
            t.revenue_micros += i128::from(revenue_micros);
            t.first = t.first.min(s);
            if let Some(last) = ev.end.checked_sub(1) {
                t.last = t.last.max(s.saturating_add(ts.int(last).unwrap_or(0)));
            }
        }
    }
    Ok(t)
}
