//! `sightline query` and `sightline explain`, and the renderings they share with the
//! REPL: summary tables and documents, parsed segments, plans, the schema; and what
//! every analysis shares: the [`Scope`] of visits it looks at, the `segment`/`range`/
//! `elapsedMs` keys of its document, table styling and human durations.

use std::path::Path;
use std::time::{Duration, Instant};

use comfy_table::{CellAlignment, ContentArrangement, Table, modifiers, presets};
use serde_json::{Value, json};
use sightline::{
    Catalog, Condition, Db, Dialect, DimType, Explain, Level, Segment, SegmentWarning, Selection,
    Snapshot, Summary, TimeRange,
};

use crate::range;

/// Opens the database at `path` for reading. No database there is a usage error
/// saying how to make one (exit status 2).
pub fn open(path: &Path) -> anyhow::Result<Db> {
    crate::require_db(path)?;
    Ok(Db::open_read_only(path)?)
}

/// The summary of the visits a segment selects, with what it was asked about.
pub struct QueryAnswer {
    /// The parsed segment.
    pub segment: Segment,
    /// The range.
    pub range: TimeRange,
    /// The library's summary.
    pub summary: Summary,
    /// Selected visits with at least one conversion (`visitConverted==1`).
    pub converted: u64,
    /// [`sightline::CompiledSegment::warnings`].
    pub warnings: Vec<SegmentWarning>,
    /// Time to select and sum.
    pub elapsed: Duration,
}

/// The summary of the visits `text` selects in `range`.
pub fn query(
    snap: &Snapshot,
    text: &str,
    dialect: Dialect,
    range: &TimeRange,
) -> anyhow::Result<QueryAnswer> {
    let t0 = Instant::now();
    let compiled = snap.compile(text, dialect)?;
    let warnings = compiled.warnings();
    // `summary` answers a single value from the parts' per-value summaries, without
    // selecting visits (a fresh process then reads almost nothing).
    let summary = snap.summary(&compiled, range)?;
    // Converted visits, for the conversion rate (nothing to select when no visit
    // converted).
    let converted = if summary.conversions == 0 {
        0
    } else {
        snap.converted_visits(&snap.select(&compiled, range)?)?
    };
    Ok(QueryAnswer {
        segment: compiled.segment().clone(),
        range: *range,
        summary,
        converted,
        warnings,
        elapsed: t0.elapsed(),
    })
}

/// Prints `warnings` about the segment `text` on standard error, each with a caret.
pub fn print_warnings(text: &str, warnings: &[SegmentWarning]) {
    for w in warnings {
        errln!("warning: {}", w.message);
        errln!("{}", w.caret(text));
    }
}

/// The columns of `query`'s CSV and the rate keys of its document, in order.
const QUERY_COLUMNS: [&str; 12] = [
    "visits",
    "visitors",
    "actions",
    "conversions",
    "revenue",
    "bounces",
    "sumVisitDuration",
    "convertedVisits",
    "actionsPerVisit",
    "bounceRate",
    "conversionRate",
    "avgVisitDuration",
];

impl QueryAnswer {
    /// [`summary_doc`] plus `convertedVisits` and `conversionRate`.
    pub fn doc(&self) -> Value {
        let mut doc = summary_doc(&self.segment, &self.summary, &self.range, self.elapsed);
        if let Value::Object(map) = &mut doc {
            map.insert("convertedVisits".into(), json!(self.converted));
            map.insert(
                "conversionRate".into(),
                ratio(self.converted as f64, self.summary.visits),
            );
        }
        doc
    }

    /// The segment and range lines, then the summary table.
    pub fn table(&self) -> String {
        format!(
            "{}\n{}",
            header(&self.segment, &self.range),
            summary_table_with(&self.summary, Some(self.converted))
        )
    }

    /// One header row and one row: the counts, then the rates (empty when no visit is
    /// selected).
    pub fn csv(&self) -> anyhow::Result<String> {
        let doc = self.doc();
        let row = QUERY_COLUMNS
            .iter()
            .map(|k| csv_cell(doc.get(*k).unwrap_or(&Value::Null)))
            .collect();
        crate::out::csv(&QUERY_COLUMNS, [row])
    }
}

/// A JSON scalar as a CSV field: strings as they are, null as an empty field.
pub fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        // Numbers as the other CSV fields print them (`45`, not JSON's `45.0`).
        Value::Number(n) if n.is_f64() => n.as_f64().map_or(String::new(), |x| x.to_string()),
        v => v.to_string(),
    }
}

/// `part / visits` as JSON, null without visits.
fn ratio(part: f64, visits: u64) -> Value {
    if visits == 0 {
        Value::Null
    } else {
        json!(part / visits as f64)
    }
}

/// The parsed form of `text`, and with a database its plan and cardinalities.
pub struct ExplainAnswer {
    /// The parsed segment.
    pub segment: Segment,
    /// Its dialect.
    pub dialect: Dialect,
    /// The plan and range, with a database.
    pub plan: Option<(Explain, TimeRange)>,
    /// Conditions that rarely mean what they say (without a database, as far as the
    /// built-in dimensions tell).
    pub warnings: Vec<SegmentWarning>,
}

/// Parses `text` (and, with a database at `path`, plans it over `range`).
pub fn explain(
    path: Option<&Path>,
    text: &str,
    dialect: Dialect,
    range: &TimeRange,
) -> anyhow::Result<ExplainAnswer> {
    let (segment, plan, warnings) = match path {
        None => {
            let segment =
                sightline::parse_segment(text, dialect).map_err(sightline::Error::from)?;
            // Custom dimensions are unknown without a database: no warning then.
            let warnings = sightline::Catalog::new(&[])
                .compile(text, dialect)
                .map(|c| c.warnings())
                .unwrap_or_default();
            (segment, None, warnings)
        }
        Some(path) => {
            let db = open(path)?;
            let snap = db.snapshot();
            let compiled = snap.compile(text, dialect)?;
            let plan = snap.explain(&compiled, range)?;
            let warnings = plan.warnings.clone();
            (compiled.segment().clone(), Some(plan), warnings)
        }
    };
    Ok(ExplainAnswer {
        segment,
        dialect,
        plan: plan.map(|p| (p, *range)),
        warnings,
    })
}

impl ExplainAnswer {
    fn plan(&self) -> Option<(&Explain, &TimeRange)> {
        self.plan.as_ref().map(|(p, r)| (p, r))
    }

    /// [`explain_doc`], with `"warnings"`.
    pub fn doc(&self) -> Value {
        let mut doc = explain_doc(&self.segment, self.dialect, self.plan());
        if let Value::Object(map) = &mut doc {
            map.insert("warnings".into(), json!(self.warnings));
        }
        doc
    }

    /// [`explain_tree`], then the warnings.
    pub fn tree(&self) -> String {
        let mut out = explain_tree(&self.segment, self.dialect, self.plan());
        for w in &self.warnings {
            out += &format!(
                "warning: {}
",
                w.message
            );
        }
        out
    }

    /// One row per condition: its group (1-based; the groups are AND-ed, the conditions
    /// of a group OR-ed), name, operator and decoded value; with a database also its
    /// level, method and the rows and visits it matched.
    pub fn csv(&self) -> anyhow::Result<String> {
        let mut head = vec!["group", "name", "op", "value"];
        if self.plan.is_some() {
            head.extend(["level", "method", "rows", "visits"]);
        }
        let mut rows = Vec::new();
        for (gi, g) in self.segment.groups.iter().enumerate() {
            for (ci, c) in g.conditions.iter().enumerate() {
                let mut row = vec![
                    (gi + 1).to_string(),
                    c.name.clone(),
                    c.op.as_str().to_string(),
                    c.value.clone(),
                ];
                if let Some((p, _)) = &self.plan {
                    match p.groups.get(gi).and_then(|g| g.conditions.get(ci)) {
                        Some(c) => row.extend([
                            c.level.to_string(),
                            c.method.to_string(),
                            c.stats.rows.to_string(),
                            c.stats.visits.to_string(),
                        ]),
                        None => {
                            row.extend([String::new(), String::new(), String::new(), String::new()])
                        }
                    }
                }
                rows.push(row);
            }
        }
        crate::out::csv(&head, rows)
    }
}

/// The canonical text of a segment, or `(all visits)` for the empty one.
pub fn canonical(segment: &Segment) -> String {
    if segment.is_empty() {
        "(all visits)".into()
    } else {
        segment.to_string()
    }
}

/// The visits an analysis looks at: the visits `segment` (in `dialect`) selects among
/// those starting in `range`. Reports, funnels and cohorts start from it, as `query`
/// does.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// Segment text (empty: every visit).
    pub segment: &'a str,
    /// Its dialect.
    pub dialect: Dialect,
    /// The time range.
    pub range: &'a TimeRange,
}

impl Scope<'_> {
    /// Compiles the segment and selects its visits: the parsed segment (for the
    /// document's `segment` key) and the selection.
    pub fn select(&self, snap: &Snapshot) -> anyhow::Result<(Segment, Selection)> {
        let compiled = snap.compile(self.segment, self.dialect)?;
        let selection = snap.select(&compiled, self.range)?;
        Ok((compiled.segment().clone(), selection))
    }
}

/// Adds `segment` (canonical text), `range` and `elapsedMs` to a JSON object: the keys
/// every analysis document carries besides its own.
pub fn annotate(mut doc: Value, segment: &Segment, range: &TimeRange, elapsed: Duration) -> Value {
    if let Value::Object(map) = &mut doc {
        map.insert("segment".into(), json!(segment.to_string()));
        map.insert("range".into(), range::json(range));
        map.insert("elapsedMs".into(), json!(millis(elapsed)));
    }
    doc
}

/// A serialisable library result as a JSON value (an empty object if it cannot be, which
/// the library's plain structs never cause).
pub fn to_doc(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|_| json!({}))
}

/// The `docs/analytics.md` `query` document, plus the rates of the table
/// (`actionsPerVisit`, `bounceRate`, `avgVisitDuration` in seconds: null without
/// visits), `segment` (canonical text), `range` and `elapsedMs`.
pub fn summary_doc(segment: &Segment, s: &Summary, range: &TimeRange, elapsed: Duration) -> Value {
    let mut doc = to_doc(s);
    if let Value::Object(map) = &mut doc {
        map.insert("actionsPerVisit".into(), ratio(s.actions as f64, s.visits));
        map.insert("bounceRate".into(), ratio(s.bounces as f64, s.visits));
        map.insert(
            "avgVisitDuration".into(),
            ratio(s.sum_visit_duration as f64, s.visits),
        );
    }
    annotate(doc, segment, range, elapsed)
}

/// The two lines the command-line tables start with: segment and range.
pub fn header(segment: &Segment, range: &TimeRange) -> String {
    format!(
        "segment: {}\nrange:   {}",
        canonical(segment),
        range::describe(range)
    )
}

/// Milliseconds with three decimals.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// An empty table in the style of every sightline table.
pub fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .apply_modifier(modifiers::UTF8_ROUND_CORNERS);
    t
}

/// A duration in seconds for humans: `4.5 s`, `2m 05s`, `1h 02m 03s`, `3d 04h 05m`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{secs:.1} s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m {:02}s", s / 3600, s / 60 % 60, s % 60),
        _ => format!("{}d {:02}h {:02}m", s / 86_400, s / 3600 % 24, s / 60 % 60),
    }
}

/// `count` followed by `what`, with an `s` unless it is 1: `1 visit`, `3 visits`.
pub fn plural(count: u64, what: &str) -> String {
    format!("{count} {what}{}", if count == 1 { "" } else { "s" })
}

/// `part` as a percentage of `whole` with one decimal (`-` when `whole` is 0).
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1} %", 100.0 * part as f64 / whole as f64)
    }
}

/// `text` cut to `max` characters, the last one an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// A summary as a two-column table, with the usual ratios below the counts.
pub fn summary_table(s: &Summary) -> String {
    summary_table_with(s, None)
}

/// [`summary_table`], with the converted visits and the conversion rate when known.
pub fn summary_table_with(s: &Summary, converted: Option<u64>) -> String {
    let mut rows = vec![
        ("visits", s.visits.to_string()),
        ("visitors", s.visitors.to_string()),
        ("actions", s.actions.to_string()),
        ("conversions", s.conversions.to_string()),
        ("revenue", format!("{:.2}", s.revenue)),
        ("bounces", s.bounces.to_string()),
        ("sum visit duration", format!("{} s", s.sum_visit_duration)),
    ];
    if let Some(c) = converted {
        rows.push(("converted visits", c.to_string()));
    }
    if s.visits > 0 {
        let v = s.visits as f64;
        rows.extend([
            ("actions per visit", format!("{:.2}", s.actions as f64 / v)),
            (
                "bounce rate",
                format!("{:.1} %", 100.0 * s.bounces as f64 / v),
            ),
            (
                "avg. visit duration",
                duration(s.sum_visit_duration as f64 / v),
            ),
        ]);
        if let Some(c) = converted {
            rows.push(("conversion rate", format!("{:.1} %", 100.0 * c as f64 / v)));
        }
    }
    let mut t = table();
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    if let Some(c) = t.column_mut(1) {
        c.set_cell_alignment(CellAlignment::Right);
    }
    t.to_string()
}

/// `{"and": [{"or": [{"name", "op", "value"}]}], "canonical", "dialect"}` (`docs/analytics.md`),
/// with `"plan"` and `"range"` when a database was consulted.
pub fn explain_doc(
    segment: &Segment,
    dialect: Dialect,
    plan: Option<(&Explain, &TimeRange)>,
) -> Value {
    let and: Vec<Value> = segment
        .groups
        .iter()
        .map(|g| {
            let or: Vec<Value> = g
                .conditions
                .iter()
                .map(|c| json!({"name": c.name, "op": c.op.as_str(), "value": c.value}))
                .collect();
            json!({ "or": or })
        })
        .collect();
    let mut doc = json!({
        "and": and,
        "canonical": segment.to_string(),
        "dialect": dialect.name(),
    });
    if let (Some((plan, range)), Value::Object(map)) = (plan, &mut doc) {
        map.insert(
            "plan".into(),
            serde_json::to_value(plan).unwrap_or(Value::Null),
        );
        map.insert("range".into(), range::json(range));
    }
    doc
}

/// The parsed segment as an indented tree; with a plan, each condition's level, method
/// and cardinalities, and the visits selected.
pub fn explain_tree(
    segment: &Segment,
    dialect: Dialect,
    plan: Option<(&Explain, &TimeRange)>,
) -> String {
    let mut out = format!("segment: {}\n", canonical(segment));
    if dialect != Dialect::Default {
        out += &format!("dialect: {}\n", dialect.name());
    }
    if let Some((_, range)) = plan {
        out += &format!("range:   {}\n", range::describe(range));
    }
    if segment.is_empty() {
        out += "(empty segment: every visit)\n";
    } else {
        out += "AND\n";
    }
    let ngroups = segment.groups.len();
    for (gi, g) in segment.groups.iter().enumerate() {
        let last_group = gi + 1 == ngroups;
        let (branch, cont) = if last_group {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let plans = plan.and_then(|(p, _)| p.groups.get(gi));
        let line = |c: &Condition| {
            let value = if c.value.is_empty() {
                "(empty)".to_string()
            } else {
                format!("{:?}", c.value)
            };
            format!("{} {} {value}", c.name, c.op)
        };
        let detail = |ci: usize| -> Option<String> {
            let c = plans?.conditions.get(ci)?;
            let count = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            let mut counts = Vec::new();
            if c.level != "visit" {
                counts.push(count(c.stats.rows, "row"));
            }
            if c.level == "visit" || c.stats.visits > 0 {
                counts.push(count(c.stats.visits, "visit"));
            }
            Some(format!(
                "{} · {} · {}",
                c.level,
                c.method,
                counts.join(", ")
            ))
        };
        if let [only] = g.conditions.as_slice() {
            out += &format!("{branch}{}\n", line(only));
            if let Some(d) = detail(0) {
                out += &format!("{cont}    {d}\n");
            }
            continue;
        }
        out += &format!("{branch}OR\n");
        let n = g.conditions.len();
        for (ci, c) in g.conditions.iter().enumerate() {
            let (b2, c2) = if ci + 1 == n {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            out += &format!("{cont}{b2}{}\n", line(c));
            if let Some(d) = detail(ci) {
                out += &format!("{cont}{c2}    {d}\n");
            }
        }
    }
    if let Some((p, _)) = plan {
        out += &format!(
            "candidates: {} visits in the range → selected: {}\n",
            p.candidates, p.selected
        );
    }
    out
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Visit => "visit",
        Level::Action => "action",
        Level::Conversion => "conversion",
    }
}

fn enum_values(t: DimType) -> &'static [&'static str] {
    match t {
        DimType::Enum(values) => values,
        _ => &[],
    }
}

/// Every dimension with its level, type and accepted values, then the aliases.
pub fn schema_table(catalog: &Catalog) -> String {
    let mut t = table();
    t.set_header(vec!["dimension", "level", "type", "values"])
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(110);
    for d in catalog.dimensions() {
        t.add_row(vec![
            d.name.clone(),
            level(d.level).to_string(),
            d.ty.name().to_string(),
            enum_values(d.ty).join(", "),
        ]);
    }
    let aliases: Vec<String> = Catalog::aliases()
        .iter()
        .map(|(a, d)| format!("{a} = {d}"))
        .collect();
    format!("{t}\naliases: {}", aliases.join(", "))
}

/// `{"dimensions": [{"name", "level", "type", "values"?}], "aliases": {alias: name}}`.
pub fn schema_doc(catalog: &Catalog) -> Value {
    let dims: Vec<Value> = catalog
        .dimensions()
        .iter()
        .map(|d| {
            let mut v = json!({"name": d.name, "level": level(d.level), "type": d.ty.name()});
            if let (DimType::Enum(values), Value::Object(m)) = (d.ty, &mut v) {
                m.insert("values".into(), json!(values));
            }
            v
        })
        .collect();
    let aliases: serde_json::Map<String, Value> = Catalog::aliases()
        .iter()
        .map(|(a, d)| (a.to_string(), json!(d)))
        .collect();
    json!({"dimensions": dims, "aliases": aliases})
}
