//! Reading visits back with every dimension: the visitor-profile view of the data, and
//! what the order-independence tests compare.

use serde::Serialize;

use super::LivePart;
use crate::cancel::Stop;
use crate::error::Result;
use crate::event::EventType;
use crate::schema::{
    CustomType, DERIVED_INTS, DERIVED_STRINGS, EVENT_STRINGS, VISIT_STRINGS, internal,
};
use crate::storage::cursor::{CustomValue, PartCursor, StoredEvent};

/// A dimension value (JSON: a string or a number).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DimValue {
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Number.
    Num(f64),
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// Unix ms.
    pub ts: i64,
    /// Row type.
    pub kind: EventType,
    /// Event-level fields and custom dimensions that have a value, by name.
    pub fields: Vec<(String, DimValue)>,
}

/// One visit with all its dimensions and events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitRecord {
    /// Visitor id.
    pub visitor_id: String,
    /// Visit id: as given in the input, or assigned (the visit's start in Unix ms).
    pub visit_id: String,
    /// Start (Unix ms).
    pub start: i64,
    /// Visit-level and derived dimensions that have a value, by name.
    pub dims: Vec<(String, DimValue)>,
    /// Events in time order.
    pub events: Vec<EventRecord>,
}

/// Every live visit of `parts`, visitor by visitor (ids ascending within each part).
pub(crate) fn visits(parts: &[LivePart], stop: &Stop) -> Result<Vec<VisitRecord>> {
    stop.check()?; // also with no part
    let mut out = Vec::new();
    for p in parts {
        stop.check()?;
        read_part(p, None, &mut out, stop)?;
    }
    Ok(out)
}

/// Appends the live visits of part `p` to `out`: every visitor's, or only those of
/// visitor ordinal `only`.
fn read_part(
    p: &LivePart,
    only: Option<u32>,
    out: &mut Vec<VisitRecord>,
    stop: &Stop,
) -> Result<()> {
    let cursor = PartCursor::new(&p.reader)?;
    let customs: Vec<(&str, CustomType)> = cursor.custom_dims().collect();
    // Numeric fields are listed by name: the built-in ones and the custom numbers.
    let mut numbers: Vec<&str> = [
        internal::EVENT_VALUE,
        internal::GOAL_ID,
        internal::REVENUE_EVENT,
    ]
    .into_iter()
    .chain(
        customs
            .iter()
            .filter(|(_, t)| *t == CustomType::Number)
            .map(|(n, _)| *n),
    )
    .collect();
    numbers.sort_unstable();
    let visitors = match only {
        Some(v) => v..v.saturating_add(1).min(cursor.visitors()),
        None => 0..cursor.visitors(),
    };
    let mut event = StoredEvent::default();
    for v in visitors {
        stop.every(v as usize)?;
        if p.deleted.contains(v) {
            continue;
        }
        let visitor_id = cursor.visitor_id(v)?;
        for i in cursor.visits(v)? {
            let visit = cursor.visit(i)?;
            let mut dims = vec![(
                "siteId".to_string(),
                DimValue::Int(visit.site_id.unwrap_or(1)),
            )];
            let texts = VISIT_STRINGS
                .iter()
                .zip(visit.inputs.iter().map(|(t, _)| *t))
                .chain(DERIVED_STRINGS.iter().zip(visit.derived_text));
            for (name, text) in texts {
                if let Some(t) = text {
                    dims.push((name.to_string(), DimValue::Str(t.to_string())));
                }
            }
            for (name, x) in DERIVED_INTS.iter().zip(visit.derived_ints) {
                if let Some(x) = x {
                    dims.push((name.to_string(), DimValue::Int(x)));
                }
            }
            let mut events = Vec::with_capacity(visit.events.len());
            for e in visit.events.clone() {
                cursor.event(e, visit.start, &mut event)?;
                events.push(event_record(&event, &customs, &numbers));
            }
            out.push(VisitRecord {
                visitor_id: visitor_id.to_string(),
                visit_id: visit
                    .visit_id
                    .map_or_else(|| visit.start.to_string(), str::to_string),
                start: visit.start,
                dims,
                events,
            });
        }
    }
    Ok(())
}

/// An event's record: its strings (built-in, then custom ones in column order), then
/// its numbers by name (`numbers`: the names of every numeric field, sorted).
fn event_record(
    e: &StoredEvent<'_>,
    customs: &[(&str, CustomType)],
    numbers: &[&str],
) -> EventRecord {
    let mut fields = Vec::new();
    for (name, text) in EVENT_STRINGS.iter().zip(e.text) {
        if let Some(t) = text {
            fields.push((name.to_string(), DimValue::Str(t.to_string())));
        }
    }
    let custom = |want: &str| {
        e.custom
            .iter()
            .find_map(|(k, v)| (customs.get(*k).map(|(n, _)| *n) == Some(want)).then_some(*v))
    };
    for (k, (name, ty)) in customs.iter().enumerate() {
        if *ty != CustomType::String {
            continue;
        }
        if let Some((_, CustomValue::Text(t))) = e.custom.iter().find(|(c, _)| *c == k) {
            fields.push((name.to_string(), DimValue::Str(t.to_string())));
        }
    }
    for name in numbers {
        let value = match *name {
            internal::EVENT_VALUE => e.event_value.map(DimValue::Num),
            internal::GOAL_ID => e.goal_id.map(DimValue::Int),
            internal::REVENUE_EVENT => e.revenue.map(DimValue::Num),
            _ => match custom(name) {
                Some(CustomValue::Number(x)) => Some(DimValue::Num(x)),
                _ => None,
            },
        };
        if let Some(v) = value {
            fields.push((name.to_string(), v));
        }
    }
    EventRecord {
        ts: e.ts,
        kind: e.kind,
        fields,
    }
}

/// Totals of a visitor's visits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorTotals {
    /// Visits.
    pub visits: u64,
    /// Events (actions and conversions).
    pub events: u64,
    /// Action rows.
    pub actions: u64,
    /// `goal` and `ecommerceOrder` rows.
    pub conversions: u64,
    /// Their revenue (summed in millionths).
    pub revenue: f64,
    /// Sum of the visits' durations, in seconds.
    pub visit_duration: u64,
}

/// A visitor's profile (`sightline visitor ID`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorProfile {
    /// The visitor id.
    pub visitor_id: String,
    /// Start of the first visit (Unix ms).
    pub first_visit: i64,
    /// Start of the last visit (Unix ms).
    pub last_visit: i64,
    /// The latest event (Unix ms).
    pub last_event: i64,
    /// Totals over every visit.
    pub totals: VisitorTotals,
    /// Every visit, oldest first, with its dimensions and events in time order.
    pub visits: Vec<VisitRecord>,
}

/// The profile of the visitor `id` in `parts`, or `None` if no live visitor has it.
pub(crate) fn visitor(parts: &[LivePart], id: &str, stop: &Stop) -> Result<Option<VisitorProfile>> {
    stop.check()?; // also with no part
    for p in parts {
        stop.check()?;
        let Some(v) = p.reader.visitor_ids()?.find(id) else {
            continue;
        };
        let v = v as u32;
        if p.deleted.contains(v) {
            continue; // rewritten into a newer part
        }
        let mut visits = Vec::new();
        read_part(p, Some(v), &mut visits, stop)?;
        return Ok(Some(profile(id, visits)));
    }
    Ok(None)
}

fn profile(id: &str, visits: Vec<VisitRecord>) -> VisitorProfile {
    let mut t = VisitorTotals {
        visits: visits.len() as u64,
        ..VisitorTotals::default()
    };
    let mut micros: i128 = 0;
    let mut last_event = i64::MIN;
    for v in &visits {
        t.events += v.events.len() as u64;
        // Revenue in millionths, rounded per row and summed per visit (saturating), as
        // ingest stores it, so the total equals `query`'s.
        let mut visit_micros: i64 = 0;
        for e in &v.events {
            last_event = last_event.max(e.ts);
            if !e.kind.is_conversion() {
                t.actions += 1;
            } else if matches!(e.kind, EventType::Goal | EventType::EcommerceOrder) {
                t.conversions += 1;
                let revenue = e.fields.iter().find(|(n, _)| n == internal::REVENUE_EVENT);
                if let Some((_, DimValue::Num(r))) = revenue {
                    visit_micros = visit_micros.saturating_add((r * 1e6).round() as i64);
                }
            }
        }
        micros += i128::from(visit_micros);
        if let Some((_, DimValue::Int(d))) = v.dims.iter().find(|(n, _)| n == "visitDuration") {
            t.visit_duration += u64::try_from(*d).unwrap_or(0);
        }
    }
    t.revenue = micros as f64 / 1e6;
    VisitorProfile {
        visitor_id: id.to_string(),
        first_visit: visits.first().map_or(0, |v| v.start),
        last_visit: visits.last().map_or(0, |v| v.start),
        last_event: if visits.is_empty() { 0 } else { last_event },
        totals: t,
        visits,
    }
}
