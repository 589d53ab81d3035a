//! `sightline visitor` and `.visitor`: one visitor's profile (`docs/analytics.md`), as a
//! JSON document built here (the library's records are plain structs) or as a header
//! with the totals followed by every visit and its events.

use std::path::Path;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};
use sightline::{DimValue, EventRecord, VisitRecord};
use sightline::{Snapshot, VisitorProfile};

use crate::query;
use crate::range::instant;

/// Visit dimensions shown in a visit's line of the table, in this order (the JSON
/// document has them all).
const KEY_DIMENSIONS: &[&str] = &[
    "countryCode",
    "regionCode",
    "city",
    "languageCode",
    "deviceType",
    "browserCode",
    "browserName",
    "operatingSystemCode",
    "operatingSystemName",
    "referrerType",
    "referrerName",
    "referrerKeyword",
    "campaignName",
    "userId",
    "visitorType",
    "visitEcommerceStatus",
];

/// Event fields the table shows in its own way, before any other field.
const SHOWN_FIELDS: &[&str] = &[
    "pageUrl",
    "pageTitle",
    "eventCategory",
    "eventAction",
    "eventName",
    "eventValue",
    "goalId",
    "revenue",
];

/// Widest line of dimensions before wrapping.
const LINE_WIDTH: usize = 100;

/// A visitor's profile and the time it took to read.
pub struct VisitorAnswer {
    /// The profile.
    pub profile: VisitorProfile,
    /// Time to find and read the visitor.
    pub elapsed: Duration,
}

/// The profile of visitor `id`; an unknown id is a usage error (exit status 2) naming
/// it and the database at `path`.
pub fn visitor(snap: &Snapshot, path: &Path, id: &str) -> anyhow::Result<VisitorAnswer> {
    let t0 = Instant::now();
    match snap.visitor(id)? {
        Some(profile) => Ok(VisitorAnswer {
            profile,
            elapsed: t0.elapsed(),
        }),
        None => Err(crate::out::usage(format!(
            "no visitor `{id}` in {} (`sightline report --db {0} --by visitorId` lists the \
             visitors)",
            path.display()
        ))),
    }
}

fn dim_json(v: &DimValue) -> Value {
    match v {
        DimValue::Str(s) => json!(s),
        DimValue::Int(i) => json!(i),
        // Non-finite numbers cannot be stored; `json!` would make them null anyway.
        DimValue::Num(x) => json!(x),
    }
}

fn dim_text(v: &DimValue) -> String {
    match v {
        DimValue::Str(s) => s.clone(),
        DimValue::Int(i) => i.to_string(),
        DimValue::Num(x) => x.to_string(),
    }
}

/// Whole seconds for humans: `45 s`, `2m 05s`, …
fn seconds(s: u64) -> String {
    if s < 60 {
        format!("{s} s")
    } else {
        query::duration(s as f64)
    }
}

/// The visit's last event, or its start when it has none.
fn visit_end(v: &VisitRecord) -> i64 {
    v.events.last().map_or(v.start, |e| e.ts)
}

/// The visit's duration in whole seconds: its `visitDuration` dimension, else computed.
fn visit_duration(v: &VisitRecord) -> i64 {
    v.dims
        .iter()
        .find_map(|(n, d)| match (n.as_str(), d) {
            ("visitDuration", DimValue::Int(s)) => Some(*s),
            _ => None,
        })
        .unwrap_or_else(|| (visit_end(v) - v.start).div_euclid(1000))
}

fn event_json(e: &EventRecord) -> Value {
    let mut m = Map::new();
    m.insert("ts".into(), json!(instant(e.ts)));
    m.insert("type".into(), json!(e.kind.name()));
    for (name, value) in &e.fields {
        m.insert(name.clone(), dim_json(value));
    }
    Value::Object(m)
}

fn visit_json(v: &VisitRecord) -> Value {
    let dims: Map<String, Value> = v
        .dims
        .iter()
        .map(|(n, d)| (n.clone(), dim_json(d)))
        .collect();
    json!({
        "visitId": v.visit_id,
        "start": instant(v.start),
        "end": instant(visit_end(v)),
        "duration": visit_duration(v),
        "dimensions": dims,
        "events": v.events.iter().map(event_json).collect::<Vec<_>>(),
    })
}

/// `14:03:07` (with milliseconds when there are some), or the full date and time when
/// the instant is not on `day`.
fn clock(ms: i64, day: Option<jiff::civil::Date>) -> String {
    let Ok(t) = Timestamp::from_millisecond(ms) else {
        return ms.to_string();
    };
    let z = t.to_zoned(TimeZone::UTC);
    let time = if ms.rem_euclid(1000) == 0 {
        z.strftime("%H:%M:%S").to_string()
    } else {
        z.strftime("%H:%M:%S%.3f").to_string()
    };
    if Some(z.date()) == day {
        time
    } else {
        format!("{} {time}", z.date())
    }
}

fn day_of(ms: i64) -> Option<jiff::civil::Date> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_zoned(TimeZone::UTC).date())
}

/// What an event was, in one line: URL and title, event category / action / name and
/// value, goal and revenue, then any other field as `name=value`.
fn event_text(e: &EventRecord) -> String {
    let field = |name: &str| {
        e.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| dim_text(v))
    };
    let mut parts = Vec::new();
    if let Some(url) = field("pageUrl") {
        parts.push(url);
    }
    if let Some(title) = field("pageTitle") {
        parts.push(format!("“{title}”"));
    }
    let names: Vec<String> = ["eventCategory", "eventAction", "eventName"]
        .iter()
        .filter_map(|n| field(n))
        .collect();
    if !names.is_empty() {
        parts.push(names.join(" / "));
    }
    if let Some(v) = field("eventValue") {
        parts.push(format!("value {v}"));
    }
    if let Some(g) = field("goalId") {
        parts.push(format!("goal {g}"));
    }
    if let Some(r) = field("revenue") {
        parts.push(format!("revenue {r}"));
    }
    for (n, v) in &e.fields {
        if !SHOWN_FIELDS.contains(&n.as_str()) {
            parts.push(format!("{n}={}", dim_text(v)));
        }
    }
    parts.join(" · ")
}

/// The value of the key dimension `name` in `v`, as shown (`None`: no value, or the
/// uninformative `visitEcommerceStatus none`).
fn key_value(v: &VisitRecord, name: &str) -> Option<String> {
    let (_, value) = v.dims.iter().find(|(n, _)| n == name)?;
    match value {
        DimValue::Str(s) if name == "visitEcommerceStatus" && s == "none" => None,
        value => Some(dim_text(value)),
    }
}

/// The key dimensions that have one value in every visit (shown once for the visitor)
/// when there are several visits.
fn shared_dimensions(visits: &[VisitRecord]) -> Vec<&'static str> {
    if visits.len() < 2 {
        return Vec::new();
    }
    KEY_DIMENSIONS
        .iter()
        .copied()
        .filter(|name| {
            let first = key_value(&visits[0], name);
            first.is_some() && visits.iter().all(|v| key_value(v, name) == first)
        })
        .collect()
}

/// `name value · name value …` of `v`'s values of `names`, wrapped at [`LINE_WIDTH`].
fn dimension_lines(v: &VisitRecord, names: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for name in names {
        let Some(value) = key_value(v, name) else {
            continue;
        };
        let item = format!("{name} {value}");
        if !line.is_empty() && line.chars().count() + 3 + item.chars().count() > LINE_WIDTH {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line += " · ";
        }
        line += &item;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

impl VisitorAnswer {
    /// `{"visitorId", "firstVisit", "lastVisit", "lastEvent", "totals", "visits",
    /// "elapsedMs"}`.
    pub fn doc(&self) -> Value {
        let p = &self.profile;
        let t = &p.totals;
        json!({
            "visitorId": p.visitor_id,
            "firstVisit": instant(p.first_visit),
            "lastVisit": instant(p.last_visit),
            "lastEvent": instant(p.last_event),
            "totals": {
                "visits": t.visits,
                "events": t.events,
                "actions": t.actions,
                "conversions": t.conversions,
                "revenue": t.revenue,
                "visitDuration": t.visit_duration,
            },
            "visits": p.visits.iter().map(visit_json).collect::<Vec<_>>(),
            "elapsedMs": query::millis(self.elapsed),
        })
    }

    /// A header row (visitId, visitStart, ts, type, pageUrl, pageTitle, eventCategory,
    /// eventAction, eventName, eventValue, goalId, revenue, otherFields), then one row
    /// per event of every visit, in time order; otherFields holds any other field as
    /// `name=value`, separated by `; `.
    pub fn csv(&self) -> anyhow::Result<String> {
        let mut head = vec!["visitId", "visitStart", "ts", "type"];
        head.extend(SHOWN_FIELDS);
        head.push("otherFields");
        let mut rows = Vec::new();
        for v in &self.profile.visits {
            for e in &v.events {
                let mut row = vec![
                    v.visit_id.to_string(),
                    instant(v.start),
                    instant(e.ts),
                    e.kind.name().to_string(),
                ];
                for f in SHOWN_FIELDS {
                    row.push(
                        e.fields
                            .iter()
                            .find(|(n, _)| n == f)
                            .map_or(String::new(), |(_, v)| dim_text(v)),
                    );
                }
                let other: Vec<String> = e
                    .fields
                    .iter()
                    .filter(|(n, _)| !SHOWN_FIELDS.contains(&n.as_str()))
                    .map(|(n, v)| format!("{n}={}", dim_text(v)))
                    .collect();
                row.push(other.join("; "));
                rows.push(row);
            }
        }
        crate::out::csv(&head, rows)
    }

    /// The totals, then every visit (oldest first) with its key dimensions and its
    /// events indented in time order; at most `max_events` events per visit when given.
    pub fn table(&self, max_events: Option<usize>) -> String {
        let p = &self.profile;
        let t = &p.totals;
        let mut out = format!(
            "visitor {}: {}, {} ({}, {}), revenue {:.2}, time on site {}\n",
            p.visitor_id,
            query::plural(t.visits, "visit"),
            query::plural(t.events, "event"),
            query::plural(t.actions, "action"),
            query::plural(t.conversions, "conversion"),
            t.revenue,
            seconds(t.visit_duration)
        );
        out += &format!(
            "first visit {}, last visit {}, last event {}\n",
            instant(p.first_visit),
            instant(p.last_visit),
            instant(p.last_event)
        );
        // What every visit shares is said once; each visit then shows the rest.
        let shared = shared_dimensions(&p.visits);
        if let Some(first) = p.visits.first() {
            for (i, line) in dimension_lines(first, &shared).into_iter().enumerate() {
                let lead = if i == 0 {
                    "every visit: "
                } else {
                    "             "
                };
                out += &format!("{lead}{line}\n");
            }
        }
        let own: Vec<&str> = KEY_DIMENSIONS
            .iter()
            .copied()
            .filter(|d| !shared.contains(d))
            .collect();
        let n = p.visits.len();
        for (i, v) in p.visits.iter().enumerate() {
            let day = day_of(v.start);
            out += &format!(
                "\nvisit {} of {n} · {} → {} ({}) · id {}\n",
                i + 1,
                instant(v.start),
                clock(visit_end(v), day),
                seconds(visit_duration(v).max(0) as u64),
                v.visit_id
            );
            for line in dimension_lines(v, &own) {
                out += &format!("  {line}\n");
            }
            let type_width = v
                .events
                .iter()
                .map(|e| e.kind.name().len())
                .max()
                .unwrap_or(0);
            let shown = max_events.unwrap_or(usize::MAX).min(v.events.len());
            for e in &v.events[..shown] {
                let line = format!(
                    "    {}  {:<type_width$}  {}",
                    clock(e.ts, day),
                    e.kind.name(),
                    event_text(e)
                );
                out += line.trim_end();
                out.push('\n');
            }
            if shown < v.events.len() {
                let more = v.events.len() - shown;
                let s = if more == 1 { "" } else { "s" };
                out += &format!("    … and {more} more event{s}\n");
            }
        }
        out.trim_end().to_string()
    }
}
