//! `sightline report` and `.report`: one row per value of a dimension among the selected
//! visits (`docs/analytics.md`), as the library's document or a table with the share of
//! the selection's visits.

use std::time::{Duration, Instant};

use comfy_table::CellAlignment;
use serde_json::Value;
use sightline::Level;
use sightline::Segment;
use sightline::{Report, ReportOptions, Snapshot, TimeRange};
use sightline::{ReportRow, ReportValue};

use crate::query::{self, Scope};

/// Longest value shown in a table cell (URLs can be long).
const MAX_VALUE_CHARS: usize = 60;

/// A report with what it was asked about.
pub struct ReportAnswer {
    /// The parsed selection segment.
    pub segment: Segment,
    /// The range.
    pub range: TimeRange,
    /// The library's report.
    pub report: Report,
    /// Time to select and group.
    pub elapsed: Duration,
}

/// The report of the visits `scope` selects, by the dimension `by` (any name or alias a
/// segment accepts), the first `limit` rows then an others row.
pub fn report(
    snap: &Snapshot,
    scope: Scope<'_>,
    by: &str,
    limit: Option<usize>,
) -> anyhow::Result<ReportAnswer> {
    let t0 = Instant::now();
    let (segment, selection) = scope.select(snap)?;
    let report = snap.report(by, &selection, &ReportOptions { limit })?;
    Ok(ReportAnswer {
        segment,
        range: *scope.range,
        report,
        elapsed: t0.elapsed(),
    })
}

impl ReportAnswer {
    /// `{"by", "level", "rows", "total", "segment", "range", "elapsedMs"}`.
    pub fn doc(&self) -> Value {
        query::annotate(
            query::to_doc(&self.report),
            &self.segment,
            &self.range,
            self.elapsed,
        )
    }

    /// A header row (the dimension, visits, visitsShare, visitors, actions,
    /// conversions, revenue, hits for action- and conversion-level dimensions, others),
    /// then one row per table row. The value is empty in the null row and in the others
    /// row, which has the number of values it sums under `others`; visitsShare is the
    /// fraction of the selection's visits.
    pub fn csv(&self) -> anyhow::Result<String> {
        let r = &self.report;
        let hits = r.level != Level::Visit;
        let mut head = vec![
            r.by.as_str(),
            "visits",
            "visitsShare",
            "visitors",
            "actions",
        ];
        head.extend(["conversions", "revenue"]);
        if hits {
            head.push("hits");
        }
        head.push("others");
        let rows = r.rows.iter().map(|row| {
            let value = match (&row.value, row.others) {
                (_, Some(_)) | (ReportValue::Null, _) => String::new(),
                (v, None) => v.display(),
            };
            let share = if r.total.visits == 0 {
                String::new()
            } else {
                (row.visits as f64 / r.total.visits as f64).to_string()
            };
            let mut cells = vec![
                value,
                row.visits.to_string(),
                share,
                row.visitors.to_string(),
                row.actions.to_string(),
                row.conversions.to_string(),
                row.revenue.to_string(),
            ];
            if hits {
                cells.push(row.hits.unwrap_or(0).to_string());
            }
            cells.push(row.others.map_or(String::new(), |k| k.to_string()));
            cells
        });
        crate::out::csv(&head, rows)
    }

    /// A caption line, the table, and the selection's totals.
    pub fn table(&self) -> String {
        let r = &self.report;
        let hits = r.level != Level::Visit;
        let total_visits = r.total.visits;
        let mut t = query::table();
        let mut head = vec![
            r.by.as_str(),
            "visits",
            "% visits",
            "visitors",
            "actions",
            "conversions",
            "revenue",
        ];
        if hits {
            head.push("hits");
        }
        t.set_header(head);
        for row in &r.rows {
            let mut cells = vec![
                value_cell(row),
                row.visits.to_string(),
                query::percent(row.visits, total_visits),
                row.visitors.to_string(),
                row.actions.to_string(),
                row.conversions.to_string(),
                format!("{:.2}", row.revenue),
            ];
            if hits {
                cells.push(row.hits.unwrap_or(0).to_string());
            }
            t.add_row(cells);
        }
        let ncols = if hits { 8 } else { 7 };
        for i in 1..ncols {
            if let Some(c) = t.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        let values: u64 = r.rows.iter().map(|row| row.others.unwrap_or(1)).sum();
        let shown = r.rows.iter().filter(|row| row.others.is_none()).count() as u64;
        let caption = if shown < values {
            format!(
                "report by {} ({} level): top {shown} of {}",
                r.by,
                r.level.name(),
                query::plural(values, "value")
            )
        } else {
            format!(
                "report by {} ({} level): {}",
                r.by,
                r.level.name(),
                query::plural(values, "value")
            )
        };
        let s = &r.total;
        let mut total = format!(
            "selection: {}, {}, {}, {}, revenue {:.2}",
            query::plural(s.visits, "visit"),
            query::plural(s.visitors, "visitor"),
            query::plural(s.actions, "action"),
            query::plural(s.conversions, "conversion"),
            s.revenue
        );
        match r.level {
            Level::Visit => {}
            Level::Action => {
                total += "\n(a visit counts in the row of each value its action rows have; hits: those rows)"
            }
            Level::Conversion => {
                total += "\n(a visit counts in the row of each value its conversion rows have; hits: those rows)"
            }
        }
        if r.rows.is_empty() {
            return format!("{caption}\n(no rows: the selection has no value to report)\n{total}");
        }
        format!("{caption}\n{t}\n{total}")
    }
}

/// A row's value for a table: text as stored (`""` for the empty string), `(no value)`
/// for the null row, `(others: K values)` for the others row.
fn value_cell(row: &ReportRow) -> String {
    if let Some(k) = row.others {
        return format!("(others: {})", query::plural(k, "value"));
    }
    match &row.value {
        ReportValue::Null => "(no value)".into(),
        ReportValue::Text(s) if s.is_empty() => "\"\"".into(),
        v => query::truncate(&v.display(), MAX_VALUE_CHARS),
    }
}
