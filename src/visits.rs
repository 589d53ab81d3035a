//! Reading visits back with every dimension: the visitor-profile view of the data, and
//! what the order-independence tests compare.

use crate::db::{LivePart, Snapshot};
use crate::error::Result;
use crate::event::EventType;
use crate::schema::{DERIVED_INTS, DERIVED_STRINGS, EVENT_STRINGS, VISIT_STRINGS, internal};
use crate::storage::part::PartReader;

/// A dimension value.
#[derive(Debug, Clone, PartialEq)]
pub enum DimValue {
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Number.
    Num(f64),
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Unix ms.
    pub ts: i64,
    /// Row type.
    pub kind: EventType,
    /// Event-level fields and custom dimensions that have a value, by name.
    pub fields: Vec<(String, DimValue)>,
}

/// One visit with all its dimensions and events.
#[derive(Debug, Clone, PartialEq)]
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

impl Snapshot {
    /// Every live visit, visitor by visitor (ids ascending within each part).
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"a","pageUrl":"/x","countryCode":"de"}"#)?;
    /// tx.commit()?;
    /// let visits = db.snapshot().visits()?;
    /// assert_eq!(visits[0].visit_id, "0");
    /// assert!(visits[0].dims.contains(&("entryPageUrl".into(), sightline::visits::DimValue::Str("/x".into()))));
    /// # Ok(()) }
    /// ```
    pub fn visits(&self) -> Result<Vec<VisitRecord>> {
        self.checked(self.visits_raw())
    }

    fn visits_raw(&self) -> Result<Vec<VisitRecord>> {
        let mut out = Vec::new();
        for p in self.parts() {
            read_part(p, None, &mut out)?;
        }
        Ok(out)
    }
}

/// Appends the live visits of part `p` to `out`: every visitor's, or only those of
/// visitor ordinal `only`.
fn read_part(p: &LivePart, only: Option<u32>, out: &mut Vec<VisitRecord>) -> Result<()> {
    let r: &PartReader = &p.reader;
    let m = r.meta();
    let (nv, ne) = (m.visits, m.events);
    let need = |b: Option<&crate::storage::format::ColumnBody>, n: &str| {
        b.cloned()
            .ok_or_else(|| r.corrupt(format!("missing column {n}")))
    };
    let ids = r.visitor_ids()?;
    let start_b = need(r.visit_column(internal::VISIT_START), "start")?;
    let start = r.num(&start_b, nv)?;
    let site_b = need(r.visit_column(internal::SITE_ID), "siteId")?;
    let site = r.num(&site_b, nv)?;
    let vid_b = need(r.visit_column(internal::VISIT_ID), "visitId")?;
    let vid = r.cat(&vid_b, nv)?;
    let mut vcats = Vec::new();
    for n in VISIT_STRINGS.iter().chain(DERIVED_STRINGS.iter()) {
        vcats.push((*n, need(r.visit_column(n), n)?));
    }
    let vcats: Vec<_> = vcats
        .iter()
        .map(|(n, b)| Ok((*n, r.cat(b, nv)?)))
        .collect::<Result<_>>()?;
    let mut vints = Vec::new();
    for n in DERIVED_INTS {
        vints.push((n, need(r.visit_column(n), n)?));
    }
    let vints: Vec<_> = vints
        .iter()
        .map(|(n, b)| Ok((*n, r.num(b, nv)?)))
        .collect::<Result<_>>()?;
    let ts_b = need(r.event_column(internal::TS_OFFSET), "ts")?;
    let ts = r.num(&ts_b, ne)?;
    let kind_b = need(r.event_column(internal::TYPE), "type")?;
    let kind = r.cat(&kind_b, ne)?;
    let mut ecats = Vec::new();
    for n in EVENT_STRINGS {
        ecats.push((n.to_string(), need(r.event_column(n), n)?));
    }
    for c in &m.custom_columns {
        ecats.push((c.name.clone(), c.body.clone()));
    }
    let mut enums = Vec::new();
    for n in [
        internal::EVENT_VALUE,
        internal::GOAL_ID,
        internal::REVENUE_EVENT,
    ] {
        enums.push((
            n.to_string(),
            need(r.event_column(n), n)?,
            n == internal::GOAL_ID,
        ));
    }
    let mut ecol_cat = Vec::new();
    let mut ecol_num = Vec::new();
    for (n, b) in &ecats {
        match b {
            crate::storage::format::ColumnBody::Cat { .. } => {
                ecol_cat.push((n.as_str(), r.cat(b, ne)?))
            }
            _ => ecol_num.push((n.as_str(), r.num(b, ne)?, false)),
        }
    }
    for (n, b, is_int) in &enums {
        ecol_num.push((n.as_str(), r.num(b, ne)?, *is_int));
    }
    ecol_num.sort_by(|a, b| a.0.cmp(b.0));
    let visitors = match only {
        Some(v) => v..v.saturating_add(1).min(m.visitors),
        None => 0..m.visitors,
    };
    for v in visitors {
        if p.deleted.contains(v) {
            continue;
        }
        let visitor_id = ids
            .get(v as usize)
            .ok_or_else(|| r.corrupt("visitor id"))?
            .to_string();
        for i in r.visits_of(v)? {
            let s = start.int(i).ok_or_else(|| r.corrupt("visit start"))?;
            let visit_id = r
                .text(&vid, i)?
                .map_or_else(|| s.to_string(), str::to_string);
            let mut dims = Vec::new();
            dims.push((
                "siteId".to_string(),
                DimValue::Int(site.int(i).unwrap_or(1)),
            ));
            for (n, c) in &vcats {
                if let Some(t) = r.text(c, i)? {
                    dims.push((n.to_string(), DimValue::Str(t.to_string())));
                }
            }
            for (n, c) in &vints {
                if let Some(x) = c.int(i) {
                    dims.push((n.to_string(), DimValue::Int(x)));
                }
            }
            let mut events = Vec::new();
            for e in r.events_of(i)? {
                let t = s.saturating_add(ts.int(e).unwrap_or(0));
                let k = r
                    .text(&kind, e)?
                    .and_then(EventType::from_name)
                    .ok_or_else(|| r.corrupt("event type"))?;
                let mut fields = Vec::new();
                for (n, c) in &ecol_cat {
                    if let Some(x) = r.text(c, e)? {
                        fields.push((n.to_string(), DimValue::Str(x.to_string())));
                    }
                }
                for (n, c, is_int) in &ecol_num {
                    let val = if *is_int {
                        c.int(e).map(DimValue::Int)
                    } else {
                        c.num(e).map(DimValue::Num)
                    };
                    if let Some(x) = val {
                        fields.push((n.to_string(), x));
                    }
                }
                events.push(EventRecord {
                    ts: t,
                    kind: k,
                    fields,
                });
            }
            out.push(VisitRecord {
                visitor_id: visitor_id.clone(),
                visit_id,
                start: s,
                dims,
                events,
            });
        }
    }
    Ok(())
}

/// Totals of a visitor's visits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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

impl Snapshot {
    /// The profile of the visitor `id`, or `None` if no live visitor has that id: its
    /// visits with every dimension and event, and totals (`sightline visitor ID`).
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append_json(r#"{"ts":0,"visitorId":"ann","pageUrl":"/"}"#)?;
    /// tx.append_json(r#"{"ts":60000,"visitorId":"ann","type":"goal","goalId":1,"revenue":5}"#)?;
    /// tx.append_json(r#"{"ts":86400000,"visitorId":"ann","pageUrl":"/blog"}"#)?;
    /// tx.commit()?;
    /// let p = db.snapshot().visitor("ann")?.expect("ann exists");
    /// assert_eq!((p.totals.visits, p.totals.events, p.totals.conversions), (2, 3, 1));
    /// assert_eq!((p.first_visit, p.last_event, p.totals.revenue), (0, 86_400_000, 5.0));
    /// assert!(db.snapshot().visitor("bob")?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn visitor(&self, id: &str) -> Result<Option<VisitorProfile>> {
        self.checked(self.visitor_raw(id))
    }

    fn visitor_raw(&self, id: &str) -> Result<Option<VisitorProfile>> {
        for p in self.parts() {
            let Some(v) = p.reader.visitor_ids()?.find(id) else {
                continue;
            };
            let v = v as u32;
            if p.deleted.contains(v) {
                continue; // rewritten into a newer part
            }
            let mut visits = Vec::new();
            read_part(p, Some(v), &mut visits)?;
            return Ok(Some(profile(id, visits)));
        }
        Ok(None)
    }
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
