//! Sessionisation and derived visit dimensions (`docs/ingest.md`).
//!
//! Input: every row of the visitors being (re)built — new rows plus the rows of those
//! visitors already stored, which the writer reads back. Output: visitors sorted by id,
//! their visits in start order, and events in time order, with every derived dimension.
//!
//! Order independence: rows are sorted by (visitor, ts) and ties by the row's
//! event-level content compared as text, never by interning order or input position;
//! visit-level values are chosen without regard to the order of rows of one instant
//! (the smallest value among the earliest events that have one). So the same multiset
//! of rows always gives the same visits, the same order and the same values.

use std::cmp::Ordering;

use super::rows::{CVal, Prior, Row, Rows, Sym, custom_of};
use crate::event::EventType;
use crate::schema::NVIS;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// `visitorType` values.
pub const VISITOR_TYPES: [&str; 3] = ["new", "returning", "returningCustomer"];
/// `visitEcommerceStatus` values.
pub const ECOMMERCE_STATUSES: [&str; 4] = [
    "none",
    "ordered",
    "abandonedCart",
    "orderedThenAbandonedCart",
];

/// One visit with its derived dimensions.
#[derive(Debug, Clone, Default)]
pub struct Visit {
    /// First event, Unix ms.
    pub start: i64,
    /// Last event, Unix ms.
    pub end: i64,
    /// Visit-level strings and the offset (within the visit) of the event that gave them.
    pub vis: [Sym; NVIS],
    /// Offset in the visit of the event that supplied each string.
    pub vis_src: [u32; NVIS],
    /// Site id (1 if no event has one).
    pub site_id: i64,
    /// 0 = defaulted to 1, k = given by event k-1 of the visit.
    pub site_src: u32,
    /// Explicit visit id (0: assigned).
    pub visit_id: Sym,
    /// `visitCount`.
    pub visit_count: u32,
    /// On a visitor's first stored visit: its purged visits, which the derived values
    /// count (stored with the part, so that later re-sessionising counts them too).
    pub prior: Option<Prior>,
    /// Index into [`VISITOR_TYPES`].
    pub visitor_type: u8,
    /// `actions`: action rows.
    pub actions: u32,
    /// `goal` and `ecommerceOrder` rows.
    pub conversions: u32,
    /// Their revenue, in millionths.
    pub revenue_micros: i64,
    /// `visitDuration`, whole seconds.
    pub duration_s: i64,
    /// `daysSinceFirstVisit`.
    pub days_since_first: i64,
    /// `daysSinceLastVisit`.
    pub days_since_last: i64,
    /// `entryPageUrl`.
    pub entry_url: Sym,
    /// `exitPageUrl`.
    pub exit_url: Sym,
    /// `entryPageTitle`.
    pub entry_title: Sym,
    /// `exitPageTitle`.
    pub exit_title: Sym,
    /// `visitConverted`.
    pub converted: bool,
    /// Index into [`ECOMMERCE_STATUSES`].
    pub ecommerce: u8,
    /// `visitStartServerHour` (UTC).
    pub start_hour: u8,
    /// `visitServerHour` (UTC).
    pub end_hour: u8,
    /// The visit has an `ecommerceOrder` row.
    pub has_order: bool,
}

/// Visitors, visits and events in part order.
#[derive(Debug, Default)]
pub struct Sessionized {
    /// Visitor ids, sorted by text.
    pub visitors: Vec<Sym>,
    /// `visitors.len() + 1` offsets into `visits`.
    pub visitor_visits: Vec<u32>,
    /// Visits, visitor by visitor, each visitor's in start order.
    pub visits: Vec<Visit>,
    /// `visits.len() + 1` offsets into `events`.
    pub visit_events: Vec<u32>,
    /// Row indices (into [`Rows::rows`]) in part order.
    pub events: Vec<u32>,
    /// The first visit (index into `visits`) whose revenue does not fit a visit's
    /// total (±9.2 × 10¹² in millionths); the commit refuses the batch.
    pub revenue_overflow: Option<usize>,
}

/// Revenue in millionths (exact and order independent when summed).
pub fn micros(revenue: f64) -> i64 {
    (revenue * 1e6).round() as i64
}

fn cmp_f64(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// Total order on row contents (ts first), independent of interning and input order.
///
/// Visit-level fields (`countryCode` … `userId`, `siteId`) take no part: a part keeps a
/// visit's value only on the event that supplied it, so rows read back for
/// re-sessionisation may lack values their input rows had. Rows that differ only there
/// are interchangeable, and [`sessionize`] picks visit values without regard to their
/// order (see `VisitValues`).
pub fn row_cmp(rows: &Rows, a: &Row, b: &Row) -> Ordering {
    let s = |x: Sym| rows.strings.get(x);
    let some = |x: Sym| x != 0;
    a.ts.cmp(&b.ts)
        .then(a.kind.cmp(&b.kind))
        .then_with(|| {
            for (x, y) in a.ev.iter().zip(&b.ev) {
                let o = some(*x).cmp(&some(*y)).then_with(|| s(*x).cmp(s(*y)));
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        })
        .then_with(|| {
            some(a.visit_id)
                .cmp(&some(b.visit_id))
                .then_with(|| s(a.visit_id).cmp(s(b.visit_id)))
        })
        .then(cmp_f64(a.event_value, b.event_value))
        .then(a.goal_id.cmp(&b.goal_id))
        .then(cmp_f64(a.revenue, b.revenue))
        .then_with(|| {
            let key = |r: &Row| {
                let mut v: Vec<(&str, Result<&str, f64>)> = custom_of(rows, r)
                    .iter()
                    .map(|(d, val)| {
                        let name = rows
                            .custom_names
                            .get(*d as usize)
                            .map(|c| c.name.as_str())
                            .unwrap_or("");
                        let val = match val {
                            CVal::Str(x) => Ok(s(*x)),
                            CVal::Num(n) => Err(*n),
                        };
                        (name, val)
                    })
                    .collect();
                v.sort_by(|p, q| p.0.cmp(q.0));
                v
            };
            let (ka, kb) = (key(a), key(b));
            for (x, y) in ka.iter().zip(&kb) {
                let o = x.0.cmp(y.0).then_with(|| match (&x.1, &y.1) {
                    (Ok(p), Ok(q)) => p.cmp(q),
                    (Err(p), Err(q)) => p.total_cmp(q),
                    (Ok(_), Err(_)) => Ordering::Greater,
                    (Err(_), Ok(_)) => Ordering::Less,
                });
                if o != Ordering::Equal {
                    return o;
                }
            }
            ka.len().cmp(&kb.len())
        })
}

/// Fixed strings the writer needs as symbols, interned before building.
pub struct FixedSyms {
    /// `VISITOR_TYPES` as symbols.
    pub visitor_types: [Sym; 3],
    /// `ECOMMERCE_STATUSES` as symbols.
    pub ecommerce: [Sym; 4],
    /// Event type names as symbols.
    pub types: [Sym; 8],
}

impl FixedSyms {
    /// Interns the fixed names into `rows`.
    pub fn intern(rows: &mut Rows) -> FixedSyms {
        FixedSyms {
            visitor_types: VISITOR_TYPES.map(|s| rows.strings.intern(s)),
            ecommerce: ECOMMERCE_STATUSES.map(|s| rows.strings.intern(s)),
            types: EventType::ALL.map(|t| rows.strings.intern(t.name())),
        }
    }
}

/// Groups all rows of `rows` into visitors and visits (timeout in ms).
pub fn sessionize(rows: &Rows, timeout_ms: i64) -> Sessionized {
    let (visitors, order) = sorted_order(rows);
    sessionize_sorted(rows, visitors, &order, timeout_ms)
}

/// The distinct visitors of `rows` sorted by id (text), and every row in part order:
/// by visitor, then time, then content ([`row_cmp`]).
///
/// The sort is on (visitor rank, ts, row) triples held side by side, so that comparing
/// two rows touches no row; only rows of one visitor at one instant (rare) are then put
/// in content order by [`row_cmp`].
pub fn sorted_order(rows: &Rows) -> (Vec<Sym>, Vec<u32>) {
    sorted_range(rows, 0..rows.rows.len())
}

/// [`sorted_order`] of the rows `range` of `rows` alone.
pub fn sorted_range(rows: &Rows, range: std::ops::Range<usize>) -> (Vec<Sym>, Vec<u32>) {
    let all = rows.rows.get(range.clone()).unwrap_or_default();
    // Rank visitors by their text so parts are sorted by visitor id.
    let mut rank = vec![u32::MAX; rows.strings.len()];
    let mut visitor_syms: Vec<Sym> = Vec::new();
    for r in all {
        if let Some(slot) = rank.get_mut(r.visitor as usize)
            && *slot == u32::MAX
        {
            *slot = 0;
            visitor_syms.push(r.visitor);
        }
    }
    visitor_syms.sort_unstable_by(|a, b| rows.strings.get(*a).cmp(rows.strings.get(*b)));
    for (i, &v) in visitor_syms.iter().enumerate() {
        if let Some(slot) = rank.get_mut(v as usize) {
            *slot = i as u32;
        }
    }
    let rank_of = |r: &Row| rank.get(r.visitor as usize).copied().unwrap_or(u32::MAX);
    let mut keys: Vec<(u32, i64, u32)> = all
        .iter()
        .zip(range.start as u32..)
        .map(|(r, i)| (rank_of(r), r.ts, i))
        .collect();
    keys.sort_unstable();
    let mut i = 0;
    while i < keys.len() {
        let key = |k: &(u32, i64, u32)| (k.0, k.1);
        let mut j = i + 1;
        while keys.get(j).map(key) == keys.get(i).map(key) {
            j += 1;
        }
        if j - i > 1
            && let Some(tie) = keys.get_mut(i..j)
        {
            tie.sort_by(
                |a, b| match (rows.rows.get(a.2 as usize), rows.rows.get(b.2 as usize)) {
                    (Some(x), Some(y)) => row_cmp(rows, x, y),
                    _ => Ordering::Equal,
                },
            );
        }
        i = j;
    }
    (visitor_syms, keys.into_iter().map(|k| k.2).collect())
}

/// Sessionises the rows `order` (row indices in part order, as [`sorted_order`] gives
/// them: whole visitors), whose visitors are `visitors` in that order.
pub fn sessionize_sorted(
    rows: &Rows,
    visitors: Vec<Sym>,
    order: &[u32],
    timeout_ms: i64,
) -> Sessionized {
    let n = order.len();
    let mut out = Sessionized {
        visitors,
        visitor_visits: Vec::with_capacity(n / 8),
        visits: Vec::with_capacity(n / 4),
        visit_events: vec![0],
        events: Vec::with_capacity(n),
        revenue_overflow: None,
    };
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let visitor_of = |k: usize| {
        order
            .get(k)
            .and_then(|&i| rows.rows.get(i as usize))
            .map(|r| r.visitor)
    };
    let mut i = 0;
    while i < n {
        let v = visitor_of(i);
        let mut j = i;
        while j < n && visitor_of(j) == v {
            j += 1;
        }
        out.visitor_visits.push(out.visits.len() as u32);
        split_visits(
            rows,
            order.get(i..j).unwrap_or_default(),
            timeout_ms,
            &mut groups,
        );
        derive_visitor(rows, &groups, &mut out);
        i = j;
    }
    out.visitor_visits.push(out.visits.len() as u32);
    out
}

/// Splits one visitor's time-sorted rows into visits, in visit order.
fn split_visits(rows: &Rows, sorted: &[u32], timeout_ms: i64, groups: &mut Vec<Vec<u32>>) {
    groups.clear();
    let r = |i: u32| &rows.rows[i as usize];
    let mut last_ts: Option<i64> = None;
    let mut by_id: Vec<(Sym, usize)> = Vec::new();
    let mut timeout_group: Option<usize> = None;
    for &i in sorted {
        let row = r(i);
        if row.visit_id != 0 {
            let g = match by_id.iter().find(|(id, _)| *id == row.visit_id) {
                Some(&(_, g)) => g,
                None => {
                    groups.push(Vec::new());
                    by_id.push((row.visit_id, groups.len() - 1));
                    groups.len() - 1
                }
            };
            groups[g].push(i);
        } else {
            let new_visit = match (timeout_group, last_ts) {
                (Some(_), Some(t)) => row.ts - t > timeout_ms,
                _ => true,
            };
            if new_visit {
                groups.push(Vec::new());
                timeout_group = Some(groups.len() - 1);
            }
            if let Some(g) = timeout_group {
                groups[g].push(i);
            }
            last_ts = Some(row.ts);
        }
    }
    if !by_id.is_empty() {
        // Visit-id groups interleave with timeout visits: order all by start, then by
        // visit id text, then by first row content.
        groups.sort_by(|a, b| {
            let (fa, fb) = (r(a[0]), r(b[0]));
            fa.ts
                .cmp(&fb.ts)
                .then_with(|| {
                    rows.strings
                        .get(fa.visit_id)
                        .cmp(rows.strings.get(fb.visit_id))
                })
                .then_with(|| row_cmp(rows, fa, fb))
        });
    }
}

/// Derives the visits of one visitor (`groups`: row indices of each visit, in visit
/// order, each in time order) and appends them, with their events, to `out`.
fn derive_visitor(rows: &Rows, groups: &[Vec<u32>], out: &mut Sessionized) {
    let prior = groups
        .first()
        .and_then(|g| g.first())
        .and_then(|&i| rows.rows.get(i as usize))
        .and_then(|r| rows.priors.get(&r.visitor))
        .copied()
        .filter(|p| p.visits > 0);
    let mut history = VisitorHistory::after(prior);
    for (k, g) in groups.iter().enumerate() {
        let mut v = derive_visit(rows, g, out);
        history.number(&mut v, k);
        if k == 0 {
            v.prior = prior;
        }
        out.visits.push(v);
    }
}

/// One visit of `g` (row indices in time order, at least one): appends its events to
/// `out.events` and derives every value of the visit that depends on it alone (the
/// visitor-level ones are [`VisitorHistory`]'s). A revenue overflow is recorded on
/// `out` for the visit about to be pushed.
fn derive_visit(rows: &Rows, g: &[u32], out: &mut Sessionized) -> Visit {
    let mut v = Visit::default();
    let first = &rows.rows[g[0] as usize];
    v.start = first.ts;
    v.end = g
        .iter()
        .map(|&i| rows.rows[i as usize].ts)
        .max()
        .unwrap_or(first.ts);
    v.visit_id = first.visit_id;
    v.site_id = 1;
    let mut events = EventTally::default();
    let mut values = VisitValues::default();
    for (off, &i) in g.iter().enumerate() {
        let row = &rows.rows[i as usize];
        if off > 0 && row.ts != rows.rows[g[off - 1] as usize].ts {
            values.instant_start = off;
        }
        values.take(rows, row, &mut v);
        events.count(row, off, &mut v, out);
        out.events.push(i);
    }
    out.visit_events.push(out.events.len() as u32);
    events.finish(&mut v);
    v.duration_s = (v.end - v.start).div_euclid(1000);
    v.start_hour = v.start.div_euclid(HOUR_MS).rem_euclid(24) as u8;
    v.end_hour = v.end.div_euclid(HOUR_MS).rem_euclid(24) as u8;
    v
}

/// The choice of a visit's visit-level values (its strings and siteId) as its events
/// are scanned in time order.
///
/// A visit-level field takes the value of the visit's earliest event that has
/// one; among events of that same instant, the smallest value (bytewise, or
/// numerically for siteId). Its source is the first event of that instant: rows
/// of one instant that differ only in visit-level fields are in no defined order
/// (`row_cmp`), so neither the value nor the source may depend on it.
#[derive(Default)]
struct VisitValues {
    /// The instant each string was taken from (`None`: not yet given).
    vis_ts: [Option<i64>; NVIS],
    /// The instant siteId was taken from (`None`: not yet given).
    site_ts: Option<i64>,
    /// Offset in the visit of the first event of the current event's instant.
    instant_start: usize,
}

impl VisitValues {
    /// Takes the visit-level values of `row` (the event at the current instant) into
    /// `v` where the rule above says so.
    fn take(&mut self, rows: &Rows, row: &Row, v: &mut Visit) {
        let fields = self.vis_ts.iter_mut().zip(&mut v.vis).zip(&mut v.vis_src);
        for (((ts, value), src), &x) in fields.zip(&row.vis) {
            if x == 0 {
                continue;
            }
            match *ts {
                None => {
                    *ts = Some(row.ts);
                    *value = x;
                    *src = self.instant_start as u32;
                }
                Some(t) if t == row.ts && rows.strings.get(x) < rows.strings.get(*value) => {
                    *value = x;
                }
                _ => {}
            }
        }
        if let Some(s) = row.site_id {
            match self.site_ts {
                None => {
                    self.site_ts = Some(row.ts);
                    v.site_id = s;
                    v.site_src = self.instant_start as u32 + 1;
                }
                Some(t) if t == row.ts && s < v.site_id => v.site_id = s,
                _ => {}
            }
        }
    }
}

/// What a visit's events add up to besides its visit-level values: the pageviews that
/// give the entry and exit pages, the last order and cart (the ecommerce status), and
/// the actions, conversions and revenue (counted on the visit as they come).
#[derive(Default)]
struct EventTally<'r> {
    last_order: Option<usize>,
    last_cart: Option<usize>,
    first_pv: Option<&'r Row>,
    last_pv: Option<&'r Row>,
}

impl<'r> EventTally<'r> {
    /// Counts `row`, the event at offset `off` of the visit `v` (the next visit of
    /// `out`).
    fn count(&mut self, row: &'r Row, off: usize, v: &mut Visit, out: &mut Sessionized) {
        match row.kind {
            EventType::Pageview => {
                self.first_pv.get_or_insert(row);
                self.last_pv = Some(row);
            }
            EventType::EcommerceOrder => self.last_order = Some(off),
            EventType::EcommerceCart => self.last_cart = Some(off),
            _ => {}
        }
        if row.kind.is_conversion() {
            if row.kind.counts_as_conversion() {
                v.conversions += 1;
                v.converted = true;
                if let Some(rev) = row.revenue {
                    match v.revenue_micros.checked_add(micros(rev)) {
                        Some(total) => v.revenue_micros = total,
                        None => {
                            out.revenue_overflow.get_or_insert(out.visits.len());
                        }
                    }
                }
            }
        } else {
            v.actions += 1;
        }
    }

    /// Sets the ecommerce status and the entry and exit pages of `v` once every event
    /// is counted.
    fn finish(self, v: &mut Visit) {
        v.ecommerce = match (self.last_order, self.last_cart) {
            (None, None) => 0,
            (Some(_), None) => 1,
            (None, Some(_)) => 2,
            (Some(o), Some(c)) => {
                if c > o {
                    3
                } else {
                    1
                }
            }
        };
        v.has_order = self.last_order.is_some();
        if let Some(p) = self.first_pv {
            v.entry_url = p.ev[0];
            v.entry_title = p.ev[1];
        }
        if let Some(p) = self.last_pv {
            v.exit_url = p.ev[0];
            v.exit_title = p.ev[1];
        }
    }
}

/// A visitor's earlier visits, as far as the visitor-level values of the next one
/// depend on them.
#[derive(Default)]
struct VisitorHistory {
    /// Visits before the first one numbered (purged ones).
    before: u32,
    /// Start of the first visit.
    first_start: i64,
    /// Start of the previous visit.
    prev_start: i64,
    /// An earlier visit has an order.
    any_order: bool,
}

impl VisitorHistory {
    /// The history of a visitor whose visits before the first one numbered are
    /// `prior` (purged visits), if any.
    fn after(prior: Option<Prior>) -> VisitorHistory {
        match prior {
            Some(p) => VisitorHistory {
                before: p.visits,
                first_start: p.first_start,
                prev_start: p.last_start,
                any_order: p.any_order,
            },
            None => VisitorHistory::default(),
        }
    }

    /// Sets `visitCount`, `visitorType` and `daysSince*` of `v`, the visitor's visit
    /// `k` (from 0, in visit order, after any purged ones), then records it.
    fn number(&mut self, v: &mut Visit, k: usize) {
        v.visit_count = self.before + k as u32 + 1;
        if k == 0 && self.before == 0 {
            self.first_start = v.start;
            self.prev_start = v.start;
            v.visitor_type = 0;
        } else {
            v.visitor_type = if self.any_order { 2 } else { 1 };
        }
        v.days_since_first = (v.start - self.first_start).div_euclid(DAY_MS);
        v.days_since_last = (v.start - self.prev_start).div_euclid(DAY_MS);
        self.prev_start = v.start;
        self.any_order |= v.has_order;
    }
}
