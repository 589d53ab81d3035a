//! Stored visitors back into input rows, for re-sessionisation: when new events of a
//! stored visitor arrive, its stored events are read back (through the part cursor) and
//! sessionised together with the new ones. Each visit-level value goes back on the
//! event that supplied it, so sessionising the rows again gives the same visits.

use super::rows::{CVal, Row, Rows};
use crate::error::Result;
use crate::storage::cursor::{CustomValue, PartCursor, StoredEvent};

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
    let visitor = rows.strings.intern(cursor.visitor_id(v)?);
    let mut event = StoredEvent::default();
    for i in cursor.visits(v)? {
        let visit = cursor.visit(i)?;
        let given_id = visit.visit_id.map_or(0, |s| rows.strings.intern(s));
        for (off, e) in visit.events.clone().enumerate() {
            cursor.event(e, visit.start, &mut event)?;
            let mut row = Row::new(event.ts, visitor);
            row.visit_id = given_id;
            row.kind = event.kind;
            for (slot, text) in row.ev.iter_mut().zip(&event.text) {
                *slot = text.map_or(0, |s| rows.strings.intern(s));
            }
            for (slot, (text, src)) in row.vis.iter_mut().zip(&visit.inputs) {
                if *src == off as i64 {
                    *slot = text.map_or(0, |s| rows.strings.intern(s));
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
    Ok(())
}
