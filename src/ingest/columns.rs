//! From sessionised rows to the columns of a part: what each column of a part holds,
//! built one column at a time for the part writer (`storage::part_writer`), which only
//! encodes. The columns and their meaning are documented in `docs/file-format.md`.

use std::collections::HashMap;
use std::ops::Range;

use super::rows::{CVal, Interner, Row, Rows, Sym, custom_of};
use super::sessions::{FixedSyms, Sessionized, Visit};
use crate::schema::{
    CORE_VISIT_STRINGS, CustomType, DERIVED_INTS, DERIVED_STRINGS, EVENT_STRINGS, VISIT_STRINGS,
    internal,
};
use crate::storage::part_writer::{Column, ColumnData, PartLayout, Symbols, Table};

impl Symbols for Interner {
    fn get(&self, sym: u32) -> &str {
        Interner::get(self, sym)
    }
    fn len(&self) -> usize {
        Interner::len(self)
    }
}

/// A column, built when the writer asks for it.
type LazyColumn<'a> = Box<dyn FnOnce() -> Column + 'a>;

/// The part holding the visitors `visitors` (a range of `sess.visitors`): its layout,
/// and its columns in file order (visit columns, event columns, custom dimensions by
/// name), each built only when taken, so that one column's values exist at a time.
pub(crate) fn part_columns<'a>(
    rows: &'a Rows,
    sess: &'a Sessionized,
    fixed: &'a FixedSyms,
    visitors: Range<usize>,
) -> (PartLayout, Vec<LazyColumn<'a>>) {
    let offset = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0) as usize;
    let vis_range =
        offset(&sess.visitor_visits, visitors.start)..offset(&sess.visitor_visits, visitors.end);
    let ev_range =
        offset(&sess.visit_events, vis_range.start)..offset(&sess.visit_events, vis_range.end);
    let visits: &'a [Visit] = sess.visits.get(vis_range.clone()).unwrap_or_default();
    let events: Vec<&'a Row> = sess
        .events
        .get(ev_range.clone())
        .unwrap_or_default()
        .iter()
        .filter_map(|&i| rows.rows.get(i as usize))
        .collect();
    let relative = |v: &[u32], range: Range<usize>, base: usize| -> Vec<i64> {
        v.get(range)
            .unwrap_or_default()
            .iter()
            .map(|&o| o as i64 - base as i64)
            .collect()
    };
    let layout = PartLayout {
        visitors: sess
            .visitors
            .get(visitors.clone())
            .unwrap_or_default()
            .to_vec(),
        visitor_visits: relative(
            &sess.visitor_visits,
            visitors.start..visitors.end + 1,
            vis_range.start,
        ),
        visit_events: relative(
            &sess.visit_events,
            vis_range.start..vis_range.end + 1,
            ev_range.start,
        ),
        min_ts: visits.iter().map(|v| v.start).min().unwrap_or(0),
        max_ts: visits.iter().map(|v| v.end).max().unwrap_or(0),
        actions: visits.iter().map(|v| v.actions as u64).sum(),
        conversions: visits.iter().map(|v| v.conversions as u64).sum(),
        revenue_micros: visits.iter().map(|v| i128::from(v.revenue_micros)).sum(),
        measures: measures(visits),
        row_sets: vec![(
            crate::schema::internal::CONVERSION_ROWS.to_string(),
            events
                .iter()
                .enumerate()
                .filter(|(_, r)| r.kind.is_conversion())
                .map(|(i, _)| i as u32)
                .collect(),
        )],
    };
    let mut columns = visit_columns(visits, fixed);
    columns.extend(event_columns(
        rows,
        visits,
        events,
        fixed,
        &layout.visit_events,
    ));
    (layout, columns)
}

/// Amounts in millionths as integers of the largest decimal unit (10^k millionths,
/// k ≤ 6) dividing them all, and the scale of that unit (6 − k: value = integer /
/// 10^scale).
fn decimal_units(micros: &[i64]) -> (Vec<i64>, u8) {
    let mut k = 0u32;
    while k < 6 && micros.iter().all(|&m| m % 10i64.pow(k + 1) == 0) {
        k += 1;
    }
    let unit = 10i64.pow(k);
    (micros.iter().map(|&m| m / unit).collect(), (6 - k) as u8)
}

/// The per-visit measures of `internal::measure`, in its order.
fn measures(visits: &[Visit]) -> Vec<Vec<i64>> {
    use crate::schema::internal::measure;
    let mut out: Vec<Vec<i64>> = (0..measure::COUNT)
        .map(|_| Vec::with_capacity(visits.len()))
        .collect();
    for v in visits {
        let m = [
            (measure::ACTIONS, i64::from(v.actions)),
            (measure::CONVERSIONS, i64::from(v.conversions)),
            (measure::DURATION, v.duration_s),
            (measure::REVENUE_MICROS, v.revenue_micros),
            (measure::BOUNCES, i64::from(v.actions == 1)),
        ];
        for (k, x) in m {
            if let Some(col) = out.get_mut(k) {
                col.push(x);
            }
        }
    }
    out
}

fn column(table: Table, name: &str, data: ColumnData) -> Column {
    Column {
        table,
        name: name.to_string(),
        data,
    }
}

/// The visit table: start, siteId, the input strings (with their sources), the visit
/// id, then the derived columns.
fn visit_columns<'a>(visits: &'a [Visit], fixed: &'a FixedSyms) -> Vec<LazyColumn<'a>> {
    let visit = |name: &'a str, data: Box<dyn Fn() -> ColumnData + 'a>| -> LazyColumn<'a> {
        Box::new(move || column(Table::Visit, name, data()))
    };
    let ints = |f: fn(&Visit) -> Option<i64>| ColumnData::Int {
        values: visits.iter().map(f).collect(),
        src: None,
    };
    let mut out: Vec<LazyColumn<'a>> = vec![
        visit(
            internal::VISIT_START,
            Box::new(move || ints(|v| Some(v.start))),
        ),
        visit(
            internal::SITE_ID,
            Box::new(move || ColumnData::Int {
                values: visits.iter().map(|v| Some(v.site_id)).collect(),
                src: Some(visits.iter().map(|v| v.site_src as i64).collect()),
            }),
        ),
    ];
    for (f, name) in VISIT_STRINGS.iter().enumerate() {
        if f >= CORE_VISIT_STRINGS && visits.iter().all(|v| v.vis[f] == 0) {
            // An optional column no visit of the part has a value for is not written.
            continue;
        }
        out.push(visit(
            name,
            Box::new(move || ColumnData::Text {
                syms: visits.iter().map(|v| v.vis[f]).collect(),
                src: Some(visits.iter().map(|v| v.vis_src[f] as i64).collect()),
            }),
        ));
    }
    out.push(visit(
        internal::VISIT_ID,
        Box::new(move || ColumnData::Text {
            syms: visits.iter().map(|v| v.visit_id).collect(),
            src: None,
        }),
    ));
    out.extend(derived_columns(visits, fixed));
    if visits.iter().any(|v| v.prior.is_some()) {
        for (k, name) in internal::PRIORS.iter().enumerate() {
            let get = move |v: &Visit| {
                v.prior.map(|p| match k {
                    0 => i64::from(p.visits),
                    1 => p.first_start,
                    2 => p.last_start,
                    _ => i64::from(p.any_order),
                })
            };
            out.push(visit(
                name,
                Box::new(move || ColumnData::Int {
                    values: visits.iter().map(get).collect(),
                    src: None,
                }),
            ));
        }
    }
    out
}

/// The derived visit dimensions, and the per-visit conversion totals.
fn derived_columns<'a>(visits: &'a [Visit], fixed: &'a FixedSyms) -> Vec<LazyColumn<'a>> {
    let visit = |name: &'a str, data: Box<dyn Fn() -> ColumnData + 'a>| -> LazyColumn<'a> {
        Box::new(move || column(Table::Visit, name, data()))
    };
    let ints = |f: fn(&Visit) -> Option<i64>| ColumnData::Int {
        values: visits.iter().map(f).collect(),
        src: None,
    };
    let mut out: Vec<LazyColumn<'a>> = Vec::new();
    for name in DERIVED_INTS {
        let get: fn(&Visit) -> i64 = match name {
            "visitCount" => |v| v.visit_count as i64,
            "actions" => |v| v.actions as i64,
            "visitDuration" => |v| v.duration_s,
            "daysSinceFirstVisit" => |v| v.days_since_first,
            "daysSinceLastVisit" => |v| v.days_since_last,
            "visitConverted" => |v| v.converted as i64,
            "visitStartServerHour" => |v| v.start_hour as i64,
            _ => |v| v.end_hour as i64,
        };
        out.push(visit(
            name,
            Box::new(move || ColumnData::Int {
                values: visits.iter().map(|v| Some(get(v))).collect(),
                src: None,
            }),
        ));
    }
    for name in DERIVED_STRINGS {
        out.push(visit(
            name,
            Box::new(move || ColumnData::Text {
                syms: visits
                    .iter()
                    .map(|v| match name {
                        "visitorType" => fixed.visitor_types[v.visitor_type as usize % 3],
                        "visitEcommerceStatus" => fixed.ecommerce[v.ecommerce as usize % 4],
                        "entryPageUrl" => v.entry_url,
                        "exitPageUrl" => v.exit_url,
                        "entryPageTitle" => v.entry_title,
                        _ => v.exit_title,
                    })
                    .collect(),
                src: None,
            }),
        ));
    }
    if crate::storage::format::write_v1() {
        // Format version 1 (tests of the old-part path): both stored where non-zero.
        out.push(visit(
            internal::CONVERSIONS,
            Box::new(move || ints(|v| (v.conversions != 0).then_some(v.conversions as i64))),
        ));
        out.push(visit(
            internal::REVENUE,
            Box::new(move || ints(|v| (v.revenue_micros != 0).then_some(v.revenue_micros))),
        ));
        return out;
    }
    // Dense, so a summary reads any visit's metrics in O(1) and 64 at a time; revenue
    // in the largest decimal unit that divides every visit's (cents: 19 bits a visit
    // for shop data instead of 33 in millionths).
    out.push(visit(
        internal::CONVERSIONS,
        Box::new(move || ints(|v| Some(v.conversions as i64))),
    ));
    out.push(visit(
        internal::REVENUE_SCALED,
        Box::new(move || {
            let micros: Vec<i64> = visits.iter().map(|v| v.revenue_micros).collect();
            let (values, scale) = decimal_units(&micros);
            ColumnData::Scaled { values, scale }
        }),
    ));
    out
}

/// The event table (time offsets, type, strings, numbers) and the custom dimensions
/// used in the part, by name. `visit_events`: the part's visit offsets.
fn event_columns<'a>(
    rows: &'a Rows,
    visits: &'a [Visit],
    events: Vec<&'a Row>,
    fixed: &'a FixedSyms,
    visit_events: &[i64],
) -> Vec<LazyColumn<'a>> {
    let events: std::rc::Rc<Vec<&'a Row>> = std::rc::Rc::new(events);
    let mut offsets = Vec::with_capacity(events.len());
    for (v, w) in visits.iter().zip(visit_events.windows(2)) {
        let evs = events.get(w[0] as usize..w[1] as usize).unwrap_or_default();
        offsets.extend(evs.iter().map(|e| Some(e.ts - v.start)));
    }
    let event = |name: &'a str, data: Box<dyn FnOnce() -> ColumnData + 'a>| -> LazyColumn<'a> {
        Box::new(move || column(Table::Event, name, data()))
    };
    let mut out: Vec<LazyColumn<'a>> = vec![event(
        internal::TS_OFFSET,
        Box::new(move || ColumnData::Int {
            values: offsets,
            src: None,
        }),
    )];
    let e = events.clone();
    out.push(event(
        internal::TYPE,
        Box::new(move || ColumnData::Text {
            syms: e.iter().map(|r| fixed.types[r.kind as usize]).collect(),
            src: None,
        }),
    ));
    for (f, name) in EVENT_STRINGS.iter().enumerate() {
        let e = events.clone();
        out.push(event(
            name,
            Box::new(move || ColumnData::Text {
                syms: e.iter().map(|r| r.ev[f]).collect(),
                src: None,
            }),
        ));
    }
    let e = events.clone();
    out.push(event(
        internal::EVENT_VALUE,
        Box::new(move || ColumnData::Num {
            values: e.iter().map(|r| r.event_value).collect(),
        }),
    ));
    let e = events.clone();
    out.push(event(
        internal::GOAL_ID,
        Box::new(move || ColumnData::Int {
            values: e.iter().map(|r| r.goal_id).collect(),
            src: None,
        }),
    ));
    let e = events.clone();
    out.push(event(
        internal::REVENUE_EVENT,
        Box::new(move || ColumnData::Num {
            values: e.iter().map(|r| r.revenue).collect(),
        }),
    ));
    out.extend(custom_columns(rows, &events));
    out
}

/// The custom dimensions used in the part, by name. One pass gathers every dimension's
/// (event, value) pairs, so a part costs the same whether its custom values spread over
/// few dimensions or many.
fn custom_columns<'a>(rows: &'a Rows, events: &[&'a Row]) -> Vec<LazyColumn<'a>> {
    let mut per_dim: HashMap<u32, Vec<(usize, CVal)>> = HashMap::new();
    for (k, e) in events.iter().enumerate() {
        for &(d, v) in custom_of(rows, e) {
            per_dim.entry(d).or_default().push((k, v));
        }
    }
    let mut used: Vec<(u32, Vec<(usize, CVal)>)> = per_dim.into_iter().collect();
    used.sort_by(|a, b| {
        let name = |d: u32| rows.custom_names.get(d as usize).map(|c| c.name.as_str());
        name(a.0).cmp(&name(b.0))
    });
    let n = events.len();
    used.into_iter()
        .filter_map(|(d, values)| {
            let dim = rows.custom_names.get(d as usize)?;
            let build: LazyColumn<'a> = Box::new(move || {
                let data = match dim.ty {
                    CustomType::String => {
                        let mut syms: Vec<Sym> = vec![0; n];
                        for (k, v) in values {
                            if let (Some(slot), CVal::Str(s)) = (syms.get_mut(k), v) {
                                *slot = s;
                            }
                        }
                        ColumnData::Text { syms, src: None }
                    }
                    CustomType::Number => {
                        let mut vals: Vec<Option<f64>> = vec![None; n];
                        for (k, v) in values {
                            if let (Some(slot), CVal::Num(x)) = (vals.get_mut(k), v) {
                                *slot = Some(x);
                            }
                        }
                        ColumnData::Num { values: vals }
                    }
                };
                column(Table::Custom, &dim.name, data)
            });
            Some(build)
        })
        .collect()
}
