//! The distinct stored values of a text dimension, across parts: what the REPL completes
//! (`countryCode==f<Tab>`) and the demo shows. Dictionaries are sorted, so the values
//! with a prefix are one range of each part's dictionary, merged in byte order.

use std::collections::BTreeSet;

use serde::Serialize;

use super::LivePart;
use super::catalog::{Dimension, Source};
use crate::error::Result;

/// Distinct values of one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DimensionValues {
    /// The dimension (canonical name).
    pub dimension: String,
    /// How many distinct values (with the prefix asked for) the database holds.
    pub distinct: u64,
    /// The first of them in byte order, at most as many as asked for.
    pub values: Vec<String>,
}

/// The distinct values of `dim` starting with `prefix` (bytewise), the first `limit`
/// of them, over every part: the live visitor ids, or the values of a dictionary
/// (deleted visitors' values included: dictionaries are per part). Dimensions without a
/// dictionary (numbers, visit ids, action types) have no values here.
pub(crate) fn dimension_values(
    parts: &[LivePart],
    dim: &Dimension,
    prefix: &str,
    limit: usize,
) -> Result<DimensionValues> {
    let mut all: BTreeSet<&str> = BTreeSet::new();
    for p in parts {
        let r = &p.reader;
        if dim.source == Source::VisitorId {
            let ids = r.visitor_ids()?;
            for i in ids.lower_bound(prefix.as_bytes())..ids.len() {
                let v = ids.get(i).ok_or_else(|| r.corrupt("visitor id"))?;
                if !v.starts_with(prefix) {
                    break;
                }
                if !p.deleted.contains(i as u32) {
                    all.insert(v);
                }
            }
            continue;
        }
        let (body, rows) = match &dim.source {
            Source::VisitText(col) => (r.visit_column(col), r.meta().visits),
            Source::EventText(col) => (r.event_column(col), r.meta().events),
            Source::CustomText(col) => (r.custom_column(col), r.meta().events),
            _ => (None, 0),
        };
        let Some(body) = body else { continue };
        let cat = r.cat(body, rows)?;
        for i in cat.dict.lower_bound(prefix.as_bytes())..cat.dict.len() {
            let v = cat
                .dict
                .get(i)
                .ok_or_else(|| r.corrupt("dictionary entry"))?;
            if !v.starts_with(prefix) {
                break;
            }
            all.insert(v);
        }
    }
    Ok(DimensionValues {
        dimension: dim.name.clone(),
        distinct: all.len() as u64,
        values: all.iter().take(limit).map(|s| s.to_string()).collect(),
    })
}
