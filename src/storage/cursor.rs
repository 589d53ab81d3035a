//! Reading a part back row by row: every column is opened (and checked) once, then
//! visitors, their visits and their events are read by position. Everything that turns
//! a part back into rows goes through [`PartCursor`]: re-sessionisation (ingest reads a
//! stored visitor back as input rows), visit records, visitor profiles and exports
//! (exec), and every later rewrite of parts.

use std::ops::Range;

use super::dict::DictView;
use super::format::ColumnBody;
use super::packed::PackedView;
use super::part_reader::{CatView, NumView, PartReader};
use crate::error::Result;
use crate::event::EventType;
use crate::schema::{
    CustomType, DERIVED_INTS, DERIVED_STRINGS, EVENT_STRINGS, VISIT_STRINGS, internal,
};

/// A custom column of the part.
enum CustomView<'a> {
    Text(CatView<'a>),
    Number(NumView<'a>),
}

/// A custom value of one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CustomValue<'a> {
    Text(&'a str),
    Number(f64),
}

/// One stored visit.
#[derive(Debug, Clone)]
pub(crate) struct StoredVisit<'a> {
    /// Start, Unix ms.
    pub start: i64,
    /// The visit id as given in the input (`None`: assigned, the start).
    pub visit_id: Option<&'a str>,
    /// `siteId` as stored (1 when defaulted).
    pub site_id: Option<i64>,
    /// 0: `siteId` was defaulted; `k`: supplied by the visit's event `k - 1`.
    pub site_src: i64,
    /// The visit-level input strings ([`VISIT_STRINGS`] order), each with the offset in
    /// the visit of the event that supplied it.
    pub inputs: [(Option<&'a str>, i64); VISIT_STRINGS.len()],
    /// The derived strings ([`DERIVED_STRINGS`] order).
    pub derived_text: [Option<&'a str>; DERIVED_STRINGS.len()],
    /// The derived integers ([`DERIVED_INTS`] order).
    pub derived_ints: [Option<i64>; DERIVED_INTS.len()],
    /// The visit's event rows.
    pub events: Range<usize>,
}

/// One stored event (a reusable buffer: see [`PartCursor::event`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredEvent<'a> {
    /// Unix ms.
    pub ts: i64,
    /// Row type.
    pub kind: EventType,
    /// The event-level strings ([`EVENT_STRINGS`] order).
    pub text: [Option<&'a str>; EVENT_STRINGS.len()],
    pub event_value: Option<f64>,
    pub goal_id: Option<i64>,
    pub revenue: Option<f64>,
    /// Custom values of the event: (the column's position in
    /// [`custom_dims`](PartCursor::custom_dims), value), in that order.
    pub custom: Vec<(usize, CustomValue<'a>)>,
}

/// A part opened for reading back row by row.
pub(crate) struct PartCursor<'a> {
    r: &'a PartReader,
    ids: DictView<'a>,
    vv: PackedView<'a>,
    ve: PackedView<'a>,
    start: NumView<'a>,
    site: NumView<'a>,
    visit_id: CatView<'a>,
    /// `None`: an optional column the part does not have (no visit has a value).
    inputs: Vec<Option<CatView<'a>>>,
    derived_text: Vec<CatView<'a>>,
    derived_ints: Vec<NumView<'a>>,
    ts: NumView<'a>,
    kind: CatView<'a>,
    text: Vec<CatView<'a>>,
    event_value: NumView<'a>,
    goal: NumView<'a>,
    revenue: NumView<'a>,
    custom: Vec<(&'a str, CustomView<'a>)>,
    /// The purged-history columns (`internal::PRIORS`), in parts that have them.
    priors: Option<Vec<NumView<'a>>>,
}

/// A visitor's purged visits as stored: (visits, first start, last start, an order).
pub(crate) type StoredPrior = (u32, i64, i64, bool);

impl<'a> PartCursor<'a> {
    /// Opens every column of `r` (a missing or damaged one is a corruption error).
    pub fn new(r: &'a PartReader) -> Result<PartCursor<'a>> {
        let m = r.meta();
        let (nv, ne) = (m.visits, m.events);
        let visit_col = |n: &str| {
            r.visit_column(n)
                .ok_or_else(|| r.corrupt(format!("missing visit column {n}")))
        };
        let event_col = |n: &str| {
            r.event_column(n)
                .ok_or_else(|| r.corrupt(format!("missing event column {n}")))
        };
        let cats = |names: &[&str], col: &dyn Fn(&str) -> Result<&'a ColumnBody>, rows| {
            names
                .iter()
                .map(|n| r.cat(col(n)?, rows))
                .collect::<Result<Vec<_>>>()
        };
        let custom = m
            .custom_columns
            .iter()
            .map(|c| {
                let view = match c.body {
                    ColumnBody::Cat { .. } => CustomView::Text(r.cat(&c.body, ne)?),
                    _ => CustomView::Number(r.num(&c.body, ne)?),
                };
                Ok((c.name.as_str(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PartCursor {
            r,
            ids: r.visitor_ids()?,
            vv: r.packed(&m.visitor_visits)?,
            ve: r.packed(&m.visit_events)?,
            start: r.num(visit_col(internal::VISIT_START)?, nv)?,
            site: r.num(visit_col(internal::SITE_ID)?, nv)?,
            visit_id: r.cat(visit_col(internal::VISIT_ID)?, nv)?,
            inputs: VISIT_STRINGS
                .iter()
                .map(|n| match r.visit_column(n) {
                    None if crate::schema::optional_visit_column(n) => Ok(None),
                    _ => r.cat(visit_col(n)?, nv).map(Some),
                })
                .collect::<Result<_>>()?,
            derived_text: cats(&DERIVED_STRINGS, &visit_col, nv)?,
            derived_ints: DERIVED_INTS
                .iter()
                .map(|n| r.num(visit_col(n)?, nv))
                .collect::<Result<_>>()?,
            ts: r.num(event_col(internal::TS_OFFSET)?, ne)?,
            kind: r.cat(event_col(internal::TYPE)?, ne)?,
            text: cats(&EVENT_STRINGS, &event_col, ne)?,
            event_value: r.num(event_col(internal::EVENT_VALUE)?, ne)?,
            goal: r.num(event_col(internal::GOAL_ID)?, ne)?,
            revenue: r.num(event_col(internal::REVENUE_EVENT)?, ne)?,
            custom,
            priors: match r.visit_column(internal::PRIOR_VISITS) {
                None => None,
                Some(_) => Some(
                    internal::PRIORS
                        .iter()
                        .map(|n| r.num(visit_col(n)?, nv))
                        .collect::<Result<_>>()?,
                ),
            },
        })
    }

    /// The purged visits of visitor ordinal `v` (stored on its first visit), if any.
    pub fn prior(&self, v: u32) -> Result<Option<StoredPrior>> {
        let Some(cols) = &self.priors else {
            return Ok(None);
        };
        let visits = self.visits(v)?;
        let i = visits.start;
        if visits.is_empty() {
            return Ok(None);
        }
        let get = |k: usize| cols.get(k).and_then(|c| c.int(i));
        Ok(match (get(0), get(1), get(2), get(3)) {
            (Some(n), Some(first), Some(last), Some(order)) if n > 0 => Some((
                u32::try_from(n).map_err(|_| self.r.corrupt("purged visit count"))?,
                first,
                last,
                order != 0,
            )),
            _ => None,
        })
    }

    /// The part.
    pub fn reader(&self) -> &'a PartReader {
        self.r
    }

    /// Number of visitors stored (deleted ones included).
    pub fn visitors(&self) -> u32 {
        self.r.meta().visitors
    }

    /// The id of visitor ordinal `v`.
    pub fn visitor_id(&self, v: u32) -> Result<&'a str> {
        self.ids
            .get(v as usize)
            .ok_or_else(|| self.r.corrupt("visitor id"))
    }

    /// The custom dimensions of the part and their types, in column order.
    pub fn custom_dims(&self) -> impl Iterator<Item = (&'a str, CustomType)> + '_ {
        self.custom.iter().map(|(n, v)| {
            let ty = match v {
                CustomView::Text(_) => CustomType::String,
                CustomView::Number(_) => CustomType::Number,
            };
            (*n, ty)
        })
    }

    /// `offsets[i]..offsets[i + 1]`, checked against `limit`.
    fn range(&self, offsets: &PackedView<'_>, i: usize, limit: u32) -> Result<Range<usize>> {
        let (a, b) = (offsets.get(i), offsets.get(i + 1));
        if a < 0 || a > b || b > limit as i64 {
            return Err(self.r.corrupt("row offsets out of order"));
        }
        Ok(a as usize..b as usize)
    }

    /// The visit rows of visitor ordinal `v`.
    pub fn visits(&self, v: u32) -> Result<Range<usize>> {
        self.range(&self.vv, v as usize, self.r.meta().visits)
    }

    /// Visit row `i`.
    pub fn visit(&self, i: usize) -> Result<StoredVisit<'a>> {
        let r = self.r;
        let start = self.start.int(i).ok_or_else(|| r.corrupt("visit start"))?;
        let mut inputs = [(None, 0); VISIT_STRINGS.len()];
        for (slot, c) in inputs.iter_mut().zip(&self.inputs) {
            if let Some(c) = c {
                *slot = (r.text(c, i)?, c.src.as_ref().map_or(0, |s| s.get(i)));
            }
        }
        let mut derived_text = [None; DERIVED_STRINGS.len()];
        for (slot, c) in derived_text.iter_mut().zip(&self.derived_text) {
            *slot = r.text(c, i)?;
        }
        let mut derived_ints = [None; DERIVED_INTS.len()];
        for (slot, c) in derived_ints.iter_mut().zip(&self.derived_ints) {
            *slot = c.int(i);
        }
        Ok(StoredVisit {
            start,
            visit_id: r.text(&self.visit_id, i)?,
            site_id: self.site.int(i),
            site_src: self.site.src.as_ref().map_or(0, |s| s.get(i)),
            inputs,
            derived_text,
            derived_ints,
            events: self.range(&self.ve, i, r.meta().events)?,
        })
    }

    /// Reads event row `e` of a visit starting at `visit_start` into `out`.
    pub fn event(&self, e: usize, visit_start: i64, out: &mut StoredEvent<'a>) -> Result<()> {
        let r = self.r;
        let offset = self.ts.int(e).ok_or_else(|| r.corrupt("event time"))?;
        out.ts = visit_start.saturating_add(offset);
        out.kind = r
            .text(&self.kind, e)?
            .and_then(EventType::from_name)
            .ok_or_else(|| r.corrupt("event type"))?;
        for (slot, c) in out.text.iter_mut().zip(&self.text) {
            *slot = r.text(c, e)?;
        }
        out.event_value = self.event_value.num(e);
        out.goal_id = self.goal.int(e);
        out.revenue = self.revenue.num(e);
        out.custom.clear();
        for (k, (_, view)) in self.custom.iter().enumerate() {
            let value = match view {
                CustomView::Text(c) => r.text(c, e)?.map(CustomValue::Text),
                CustomView::Number(n) => n.num(e).map(CustomValue::Number),
            };
            if let Some(v) = value {
                out.custom.push((k, v));
            }
        }
        Ok(())
    }
}
