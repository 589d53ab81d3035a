//! Export for access and portability requests: every event of the visitors having a
//! selected visit, as JSON Lines in the import format (`docs/privacy.md`).
//!
//! A person's data is all of it, so a visitor with one selected visit is exported with
//! every visit. Each visit-level value goes back on the event that supplied it (as
//! re-sessionisation reads a stored visitor back, `ingest::readback`), so importing the
//! file into an empty database with the same visit timeout gives the same visits.
//!
//! Memory: the parts are merged by visitor id (each part is sorted by visitor, and a
//! visitor lives in one part), and one visitor's lines are held at a time, to be put in
//! time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::Path;

use roaring::RoaringBitmap;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::compile::CompiledSegment;
use super::report::check_selection;
use super::{LivePart, Selection, TimeRange};
use crate::cancel::Stop;
use crate::error::{Error, Result};
use crate::schema::{EVENT_STRINGS, VISIT_STRINGS};
use crate::storage::cursor::{CustomValue, PartCursor, StoredEvent, StoredVisit};

/// Whose data to export ([`Snapshot::export_selection`](crate::Snapshot::export_selection)).
#[derive(Debug, Clone)]
pub enum ExportSelector {
    /// The visitor with this `visitorId` (none, if no live visitor has it).
    Visitor(String),
    /// The visitors having a visit whose `userId` is exactly this value (case-sensitive;
    /// the empty string selects visits whose `userId` is the empty value, never visits
    /// without one).
    UserId(String),
    /// The visitors having a visit this segment selects (over all time).
    Segment(CompiledSegment),
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportSummary {
    /// Visitors exported.
    pub visitors: u64,
    /// Their visits (all of them, selected or not).
    pub visits: u64,
    /// Their events: the lines written.
    pub events: u64,
}

/// The column of `userId` among the visit-level strings.
const USER_ID: &str = "userId";

/// The visits `selector` selects in `parts`.
pub(crate) fn select(
    parts: &[LivePart],
    selector: &ExportSelector,
    stop: &Stop,
) -> Result<Selection> {
    match selector {
        ExportSelector::Segment(segment) => super::select(parts, segment, &TimeRange::ALL, stop),
        ExportSelector::Visitor(id) => {
            stop.check()?;
            let mut sel = Selection::default();
            for p in parts {
                let mut rows = RoaringBitmap::new();
                if let Some(v) = p.reader.visitor_ids()?.find(id) {
                    let v = v as u32;
                    if !p.deleted.contains(v) {
                        let r = p.reader.visits_of(v)?;
                        rows.insert_range(r.start as u32..r.end as u32);
                    }
                }
                sel.parts.push(rows);
            }
            Ok(sel)
        }
        ExportSelector::UserId(uid) => {
            stop.check()?;
            let mut sel = Selection::default();
            for p in parts {
                stop.check()?;
                let r = &p.reader;
                let column = r
                    .visit_column(USER_ID)
                    .ok_or_else(|| r.corrupt(format!("missing visit column {USER_ID}")))?;
                let values = r.cat(column, r.meta().visits)?;
                let mut rows = RoaringBitmap::new();
                for v in 0..r.meta().visitors {
                    stop.every(v as usize)?;
                    if p.deleted.contains(v) {
                        continue;
                    }
                    for i in r.visits_of(v)? {
                        if r.text(&values, i)? == Some(uid.as_str()) {
                            rows.insert(i as u32);
                        }
                    }
                }
                sel.parts.push(rows);
            }
            Ok(sel)
        }
    }
}

/// One part's visitors having a selected visit, in ordinal (so id) order.
struct Source<'a> {
    part: &'a LivePart,
    cursor: PartCursor<'a>,
    selected: &'a RoaringBitmap,
    /// The first ordinal not looked at yet.
    next: u32,
}

impl Source<'_> {
    /// The next live visitor with a selected visit, if any.
    fn advance(&mut self, stop: &Stop) -> Result<Option<u32>> {
        while self.next < self.cursor.visitors() {
            let v = self.next;
            self.next += 1;
            stop.every(v as usize)?;
            if self.part.deleted.contains(v) {
                continue;
            }
            let r = self.cursor.visits(v)?;
            if self
                .selected
                .range_cardinality(r.start as u32..r.end as u32)
                > 0
            {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// Writes every event of the visitors having a visit in `selection` to `out`, one JSON
/// object per line: visitors in id order, each visitor's events in time order.
pub(crate) fn export(
    parts: &[LivePart],
    selection: &Selection,
    out: &mut dyn Write,
    stop: &Stop,
) -> Result<ExportSummary> {
    stop.check()?;
    check_selection(parts, selection)?;
    let mut sources = Vec::new();
    for (part, selected) in parts.iter().zip(&selection.parts) {
        if !selected.is_empty() {
            sources.push(Source {
                part,
                cursor: PartCursor::new(&part.reader)?,
                selected,
                next: 0,
            });
        }
    }
    // The next visitor of every source, smallest id first.
    let mut heap = BinaryHeap::new();
    for (k, s) in sources.iter_mut().enumerate() {
        if let Some(v) = s.advance(stop)? {
            heap.push(Reverse((s.cursor.visitor_id(v)?, k, v)));
        }
    }
    let mut summary = ExportSummary::default();
    let mut lines = Vec::new();
    while let Some(Reverse((id, k, v))) = heap.pop() {
        let Some(s) = sources.get_mut(k) else {
            return Err(Error::internal("export: a source vanished"));
        };
        let (visits, events) = visitor_lines(&s.cursor, id, v, &mut lines)?;
        for (_, line) in &lines {
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io("write", Path::new("the export"), e))?;
        }
        summary.visitors += 1;
        summary.visits += visits;
        summary.events += events;
        if let Some(v) = s.advance(stop)? {
            heap.push(Reverse((s.cursor.visitor_id(v)?, k, v)));
        }
    }
    out.flush()
        .map_err(|e| Error::io("flush", Path::new("the export"), e))?;
    Ok(summary)
}

/// The lines of visitor ordinal `v` (id `id`) into `lines` (cleared first), in time
/// order (a visit's own order among equal instants); its visit and event counts.
fn visitor_lines(
    cursor: &PartCursor<'_>,
    id: &str,
    v: u32,
    lines: &mut Vec<(i64, String)>,
) -> Result<(u64, u64)> {
    lines.clear();
    let customs: Vec<&str> = cursor.custom_dims().map(|(n, _)| n).collect();
    let mut event = StoredEvent::default();
    let visits = cursor.visits(v)?;
    for i in visits.clone() {
        let visit = cursor.visit(i)?;
        for (off, e) in visit.events.clone().enumerate() {
            cursor.event(e, visit.start, &mut event)?;
            let row = ExportRow {
                visitor_id: id,
                visit: &visit,
                offset: off as i64,
                event: &event,
                customs: &customs,
            };
            let line = serde_json::to_string(&row)
                .map_err(|e| Error::internal(format!("export: cannot write a row: {e}")))?;
            lines.push((event.ts, line));
        }
    }
    // Stable: events of one instant keep their visit's order.
    lines.sort_by_key(|(ts, _)| *ts);
    Ok((visits.len() as u64, lines.len() as u64))
}

/// One stored event as an input row: its own fields, the visit's id, and the visit-level
/// values this event supplied.
struct ExportRow<'e, 'a> {
    visitor_id: &'e str,
    visit: &'e StoredVisit<'a>,
    /// The event's position in its visit.
    offset: i64,
    event: &'e StoredEvent<'a>,
    /// The part's custom dimensions, in column order.
    customs: &'e [&'a str],
}

impl Serialize for ExportRow<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (visit, event) = (self.visit, self.event);
        let mut m = s.serialize_map(None)?;
        match jiff::Timestamp::from_millisecond(event.ts) {
            Ok(t) => m.serialize_entry("ts", &t.to_string())?,
            // Never for a stored event (the import checks the range); exact anyway.
            Err(_) => m.serialize_entry("ts", &event.ts)?,
        }
        m.serialize_entry("visitorId", self.visitor_id)?;
        if let Some(id) = visit.visit_id {
            m.serialize_entry("visitId", id)?;
        }
        if visit.site_src == self.offset + 1
            && let Some(site) = visit.site_id
        {
            m.serialize_entry("siteId", &site)?;
        }
        m.serialize_entry("type", event.kind.name())?;
        for (name, text) in EVENT_STRINGS.iter().zip(&event.text) {
            if let Some(t) = text {
                m.serialize_entry(name, t)?;
            }
        }
        const COUNTRY_CODE: usize = crate::schema::visit_field("countryCode");
        let country = visit.inputs[COUNTRY_CODE].0;
        for (i, (name, (text, src))) in VISIT_STRINGS.iter().zip(&visit.inputs).enumerate() {
            if let Some(t) = text
                && *src == self.offset
            {
                // A country name or continent code that the country code gives is
                // derived again at import: written, it would be a field the input
                // never had.
                let derived = match *name {
                    "countryName" => country.and_then(crate::enrich::country_name),
                    "continentCode" => country.and_then(crate::enrich::continent_code),
                    _ => None,
                };
                if derived == Some(*t) {
                    continue;
                }
                let number = (i == crate::schema::LATITUDE || i == crate::schema::LONGITUDE)
                    .then(|| t.parse::<f64>().ok())
                    .flatten();
                match number {
                    // Coordinates are numbers in the input, stored as their text.
                    Some(x) => m.serialize_entry(name, &x)?,
                    None => m.serialize_entry(name, t)?,
                }
            }
        }
        if let Some(x) = event.event_value {
            m.serialize_entry("eventValue", &x)?;
        }
        if let Some(g) = event.goal_id {
            m.serialize_entry("goalId", &g)?;
        }
        if let Some(r) = event.revenue {
            m.serialize_entry("revenue", &r)?;
        }
        for (k, value) in &event.custom {
            let Some(name) = self.customs.get(*k) else {
                continue;
            };
            match value {
                CustomValue::Text(t) => m.serialize_entry(name, t)?,
                CustomValue::Number(x) => m.serialize_entry(name, x)?,
            }
        }
        m.end()
    }
}
