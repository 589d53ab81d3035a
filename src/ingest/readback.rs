//! Stored visitors back into input rows, for re-sessionisation: when new events of a
//! stored visitor arrive, its stored events are read back (through the part cursor) and
//! sessionised together with the new ones. Each visit-level value goes back on the
//! event that supplied it, so sessionising the rows again gives the same visits.

use super::rows::{CVal, Prior, Row, Rows};
use crate::error::Result;
use crate::storage::cursor::{CustomValue, PartCursor, StoredEvent, StoredVisit};

/// What a rewrite ([`read_visitor_with`]) does with one stored visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Read back as stored.
    Keep,
    /// Left out; counted in the visitor's [`Prior`] (a retention purge).
    Drop,
    /// Read back with its visit-level values passed through [`VisitRewrite::edit`].
    Edit,
}

/// A rewrite of stored visits (retention, retroactive anonymisation).
pub(crate) trait VisitRewrite: Sync {
    /// What to do with visit row `i` of part `part` (its id).
    fn fate(&self, part: u64, i: usize, visit: &StoredVisit<'_>) -> Fate;
    /// The value to store instead of `value`, visit-level field `field`
    /// ([`VISIT_STRINGS`](crate::schema::VISIT_STRINGS) position) of an edited visit
    /// (`None`: no value).
    fn edit(&self, field: usize, value: &str) -> Option<String>;
}

/// Position of `visitEcommerceStatus` among the derived strings.
const ECOMMERCE_STATUS: usize = 1;
const _: () = assert!(matches!(
    crate::schema::DERIVED_STRINGS[ECOMMERCE_STATUS].as_bytes(),
    b"visitEcommerceStatus"
));

/// The visit had an order (its status is `ordered` or `orderedThenAbandonedCart`).
fn had_order(visit: &StoredVisit<'_>) -> bool {
    matches!(
        visit.derived_text[ECOMMERCE_STATUS],
        Some("ordered" | "orderedThenAbandonedCart")
    )
}

/// The custom dimensions of the part behind `cursor`, registered in `rows`: their
/// indexes, in the part's column order.
pub(crate) fn custom_dims(cursor: &PartCursor<'_>, rows: &mut Rows) -> Result<Vec<u32>> {
    cursor
        .custom_dims()
        .map(|(name, ty)| {
            rows.custom_dim(name, ty).map_err(|_| {
                cursor
                    .reader()
                    .corrupt(format!("custom column {name} has the wrong type"))
            })
        })
        .collect()
}

/// Appends every event of visitor ordinal `v` to `rows`, as input rows again. `dims`:
/// [`custom_dims`] of the same cursor and rows.
pub(crate) fn read_visitor(
    cursor: &PartCursor<'_>,
    v: u32,
    dims: &[u32],
    rows: &mut Rows,
) -> Result<()> {
    read_visitor_with(cursor, v, dims, rows, None).map(|_| ())
}

/// [`read_visitor`], each visit passed through `rewrite` (if any: the rewrite and the
/// id of the cursor's part). Returns the visits read back and the visits dropped.
pub(crate) fn read_visitor_with(
    cursor: &PartCursor<'_>,
    v: u32,
    dims: &[u32],
    rows: &mut Rows,
    rewrite: Option<(&dyn VisitRewrite, u64)>,
) -> Result<(u64, u64)> {
    let visitor = rows.strings.intern(cursor.visitor_id(v)?);
    let mut prior = cursor
        .prior(v)?
        .map(|(visits, first_start, last_start, any_order)| Prior {
            visits,
            first_start,
            last_start,
            any_order,
        })
        .unwrap_or_default();
    let (mut kept, mut dropped) = (0u64, 0u64);
    let mut event = StoredEvent::default();
    for i in cursor.visits(v)? {
        let mut visit = cursor.visit(i)?;
        let fate = rewrite.map_or(Fate::Keep, |(r, part)| r.fate(part, i, &visit));
        if fate == Fate::Drop {
            prior = prior.then(visit.start, had_order(&visit));
            dropped += 1;
            continue;
        }
        kept += 1;
        let mut edited: [Option<String>; crate::schema::VISIT_STRINGS.len()] = Default::default();
        if let (Fate::Edit, Some((r, _))) = (fate, rewrite) {
            for (f, (text, _)) in visit.inputs.iter_mut().enumerate() {
                if let Some(value) = *text {
                    match r.edit(f, value) {
                        Some(new) if new == value => {}
                        Some(new) => edited[f] = Some(new),
                        None => *text = None,
                    }
                }
            }
        }
        let given_id = visit.visit_id.map_or(0, |s| rows.strings.intern(s));
        for (off, e) in visit.events.clone().enumerate() {
            cursor.event(e, visit.start, &mut event)?;
            let mut row = Row::new(event.ts, visitor);
            row.visit_id = given_id;
            row.kind = event.kind;
            for (slot, text) in row.ev.iter_mut().zip(&event.text) {
                *slot = text.map_or(0, |s| rows.strings.intern(s));
            }
            for ((slot, (text, src)), new) in row.vis.iter_mut().zip(&visit.inputs).zip(&edited) {
                if *src == off as i64 {
                    *slot = match new {
                        Some(s) => rows.strings.intern(s),
                        None => text.map_or(0, |s| rows.strings.intern(s)),
                    };
                }
            }
            if visit.site_src == off as i64 + 1 {
                row.site_id = visit.site_id;
            }
            row.event_value = event.event_value;
            row.goal_id = event.goal_id;
            row.revenue = event.revenue;
            let start = rows.custom.len();
            for (k, value) in &event.custom {
                let Some(&d) = dims.get(*k) else {
                    continue;
                };
                let value = match value {
                    CustomValue::Text(s) => CVal::Str(rows.strings.intern(s)),
                    CustomValue::Number(x) => CVal::Num(*x),
                };
                rows.custom.push((d, value));
            }
            row.custom_start = start as u32;
            row.custom_len = (rows.custom.len() - start) as u32;
            rows.rows.push(row);
        }
    }
    if prior.visits > 0 {
        rows.priors.insert(visitor, prior);
    }
    Ok((kept, dropped))
}
