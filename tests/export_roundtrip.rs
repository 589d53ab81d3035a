//! Export round trip (`docs/privacy.md`, "Export"): random events (returning visitors
//! whose visits span several commits, visit ids, equal timestamps, custom dimensions of
//! both types, `userId`s, strings that need JSON escaping) imported in random batches;
//! the visitors of a random selector (a visitor id, a `userId`, a random segment) are
//! exported and the export imported into an empty database. That database holds
//! exactly the selected visitors — those having a visit the selector matches, per an
//! oracle independent of the export (the scan oracle for segments, the visit records
//! for user ids) — with the same visits and visitor profiles, every field compared.
//! The export is in visitor-id order, each visitor's lines in time order, and its
//! summary counts what it wrote.
//!
//! Set `EXPORT_ROUNDTRIP_SEED` / `EXPORT_ROUNDTRIP_CASES` to explore other cases
//! (default 64).

#[path = "common/random_events.rs"]
mod random_events;
#[path = "common/random_segments.rs"]
mod random_segments;
#[path = "common/seeded.rs"]
mod seeded;

use std::collections::BTreeSet;

use proptest::prelude::*;
use random_events::{import, json_batches, visitors};
use random_segments::{Expect, condition, segments};
use serde_json::Value;
use sightline::testing::scan;
use sightline::{
    Db, DbOptions, DimValue, ExportSelector, OrGroup, Segment, Snapshot, TimeRange, VisitRecord,
};

fn seed() -> u64 {
    seeded::env_or("EXPORT_ROUNDTRIP_SEED", 0xE4_90E7)
}

fn config() -> ProptestConfig {
    seeded::config(
        "export_roundtrip",
        "EXPORT_ROUNDTRIP_SEED",
        seed(),
        seeded::env_or("EXPORT_ROUNDTRIP_CASES", 64),
    )
}

/// `userId` values: shared by several visitors, case variants, the empty value, and
/// characters a segment would need escaped.
const USER_IDS: [&str; 5] = ["u1", "U1", "u2", "", "a;b,c%20 "];
/// A second custom string dimension whose values need JSON escaping.
const NOTES: [&str; 6] = [
    "say \"hi\"",
    "back\\slash",
    "line\nbreak\ttab",
    "\u{1}\u{1f}",
    "émoji 😀",
    "</script>",
];

/// The generated lines with `userId` and `note` added from `extra` (drawn per line,
/// cycled), so the export's user-id selector and escaping are exercised.
fn with_extras(batches: Vec<Vec<String>>, extra: &[(Option<u8>, Option<u8>)]) -> Vec<Vec<String>> {
    let mut k = 0;
    batches
        .into_iter()
        .map(|b| {
            b.into_iter()
                .map(|line| {
                    let mut o: serde_json::Map<String, Value> =
                        serde_json::from_str(&line).unwrap();
                    let (user, note) = extra[k % extra.len()];
                    k += 1;
                    if let Some(u) = random_events::pick(&USER_IDS, user) {
                        o.insert("userId".into(), u.into());
                    }
                    if let Some(n) = random_events::pick(&NOTES, note) {
                        o.insert("note".into(), n.into());
                    }
                    Value::Object(o).to_string()
                })
                .collect()
        })
        .collect()
}

/// Every visit, sorted by visitor, start and id.
fn visits(snap: &Snapshot) -> Vec<VisitRecord> {
    let mut v = snap.visits().unwrap();
    v.sort_by(|a, b| {
        (&a.visitor_id, a.start, &a.visit_id).cmp(&(&b.visitor_id, b.start, &b.visit_id))
    });
    v
}

fn dim<'a>(v: &'a VisitRecord, name: &str) -> Option<&'a DimValue> {
    v.dims.iter().find(|(n, _)| n == name).map(|(_, d)| d)
}

/// What a drawn selector is.
#[derive(Debug, Clone)]
enum Pick {
    Visitor(u8),
    UserId(u8),
    Segment,
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        any::<u8>().prop_map(Pick::Visitor),
        any::<u8>().prop_map(Pick::UserId),
        Just(Pick::Segment),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn exported_visitors_import_back_identically(
        visitors in visitors(),
        batches in 1usize..=3,
        customs in proptest::collection::vec(
            (proptest::bool::weighted(0.75), proptest::bool::weighted(0.75)), 3),
        shuffle in any::<u64>(),
        extra in proptest::collection::vec(
            (proptest::option::weighted(0.5, any::<u8>()),
             proptest::option::weighted(0.3, any::<u8>())), 1..16),
        which in pick(),
        segs in segments(),
    ) {
        let (lines, _) = json_batches(&visitors, batches, &customs, shuffle);
        let lines = with_extras(lines, &extra);
        let data = lines
            .iter()
            .enumerate()
            .map(|(i, b)| format!("-- batch {i}\n{}", b.join("\n")))
            .collect::<Vec<_>>()
            .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let db = import(dir.path(), &lines);
        let snap = db.snapshot();
        let all = visits(&snap);

        // The selector, and the visitors it must select (computed without the export).
        let (selector, expected): (ExportSelector, BTreeSet<String>) = match which {
            Pick::Visitor(i) => {
                // One id in eight names nobody.
                let id = if i % 8 == 7 {
                    "nobody".to_string()
                } else {
                    format!("v{}", i as usize % visitors.len())
                };
                let found = all.iter().any(|v| v.visitor_id == id);
                let expected = found.then(|| id.clone()).into_iter().collect();
                (ExportSelector::Visitor(id), expected)
            }
            Pick::UserId(i) => {
                let uid = USER_IDS[i as usize % USER_IDS.len()].to_string();
                let want = DimValue::Str(uid.clone());
                let expected = all
                    .iter()
                    .filter(|v| dim(v, "userId") == Some(&want))
                    .map(|v| v.visitor_id.clone())
                    .collect();
                (ExportSelector::UserId(uid), expected)
            }
            Pick::Segment => {
                let starts: Vec<i64> = all.iter().map(|v| v.start).collect();
                let (groups, _) = &segs[0];
                let mut ok = true;
                let seg = Segment {
                    groups: groups
                        .iter()
                        .map(|g| OrGroup {
                            conditions: g
                                .iter()
                                .map(|s| {
                                    let (c, e) = condition(*s, &starts);
                                    ok &= e == Expect::Ok;
                                    c
                                })
                                .collect(),
                        })
                        .collect(),
                };
                let text = if ok { seg.to_string() } else { String::new() };
                // A custom dimension of a batch that was not committed is unknown.
                let compiled = snap
                    .compile(&text, Default::default())
                    .or_else(|_| snap.compile("", Default::default()))
                    .unwrap();
                let expected = scan::selected(&snap, &compiled, &TimeRange::ALL)
                    .unwrap()
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                (ExportSelector::Segment(compiled), expected)
            }
        };
        let ctx = format!(
            "seed: {}\nselector: {selector:?}\nJSON lines (batches in commit order):\n{data}",
            seed()
        );

        let selection = snap.export_selection(&selector).unwrap();
        let mut out = Vec::new();
        let summary = snap.export(&selection, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let ctx = format!("{ctx}\nexport:\n{text}");

        // The summary counts what was written; lines in visitor, then time order.
        let want: Vec<&VisitRecord> =
            all.iter().filter(|v| expected.contains(&v.visitor_id)).collect();
        prop_assert_eq!(summary.visitors, expected.len() as u64, "visitors\n{}", ctx);
        prop_assert_eq!(summary.visits, want.len() as u64, "visits\n{}", ctx);
        let events: usize = want.iter().map(|v| v.events.len()).sum();
        prop_assert_eq!(summary.events, events as u64, "events\n{}", ctx);
        prop_assert_eq!(text.lines().count(), events, "lines\n{}", ctx);
        let mut last: Option<(String, i64)> = None;
        for line in text.lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            let id = row["visitorId"].as_str().unwrap().to_string();
            let ts = row["ts"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_millisecond();
            if let Some(prev) = &last {
                prop_assert!(*prev <= (id.clone(), ts), "order at {line}\n{ctx}");
            }
            last = Some((id, ts));
        }

        // Imported into an empty database: the same visitors, visits and profiles.
        let dir2 = tempfile::tempdir().unwrap();
        let db2 = Db::create(dir2.path(), DbOptions::default()).unwrap();
        if !text.is_empty() {
            let mut tx = db2.begin_write().unwrap();
            for line in text.lines() {
                tx.append_json(line).unwrap();
            }
            tx.commit().unwrap();
        }
        let snap2 = db2.snapshot();
        let got = visits(&snap2);
        let want: Vec<VisitRecord> = want.into_iter().cloned().collect();
        prop_assert_eq!(&got, &want, "visits after the round trip\n{}", ctx);
        for id in &expected {
            let a = snap.visitor(id).unwrap();
            let b = snap2.visitor(id).unwrap();
            prop_assert!(a.is_some(), "{id} selected but absent\n{ctx}");
            prop_assert_eq!(a, b, "profile of {}\n{}", id, ctx);
        }
        let stats = snap2.stats().unwrap();
        prop_assert_eq!(stats.visitors, expected.len() as u64, "other visitors\n{}", ctx);
    }
}

/// A visitor extended by later commits is exported once, with every visit, and the
/// export of a visitor holding an explicit `siteId` and visit-level values on a later
/// event (not the first) puts each back where it came from.
#[test]
fn values_go_back_on_the_event_that_supplied_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    for batch in [
        [
            r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"ann","pageUrl":"/a"}"#,
            r#"{"ts":"2026-01-05T10:01:00.250Z","visitorId":"ann","countryCode":"fr","siteId":2,"plan":"pro"}"#,
        ],
        [
            r#"{"ts":"2026-01-09T08:00:00Z","visitorId":"ann","visitId":"x","userId":"ann@example.org"}"#,
            r#"{"ts":"2026-01-09T08:00:00Z","visitorId":"bob","type":"goal","goalId":2,"revenue":12.5,"score":3}"#,
        ],
    ] {
        let mut tx = db.begin_write().unwrap();
        for line in batch {
            tx.append_json(line).unwrap();
        }
        tx.commit().unwrap();
    }
    let snap = db.snapshot();
    let sel = snap
        .export_selection(&ExportSelector::UserId("ann@example.org".into()))
        .unwrap();
    let mut out = Vec::new();
    let summary = snap.export(&sel, &mut out).unwrap();
    assert_eq!(
        (summary.visitors, summary.visits, summary.events),
        (1, 2, 3)
    );
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"ann","type":"pageview","pageUrl":"/a"}"#,
            r#"{"ts":"2026-01-05T10:01:00.25Z","visitorId":"ann","siteId":2,"type":"pageview","countryCode":"fr","plan":"pro"}"#,
            r#"{"ts":"2026-01-09T08:00:00Z","visitorId":"ann","visitId":"x","type":"pageview","userId":"ann@example.org"}"#,
        ]
    );
}

/// Exports `db`'s every visitor and imports the lines into an empty database.
fn export_all_and_import_back(snap: &Snapshot) -> (tempfile::TempDir, Db) {
    let all = snap.compile("", Default::default()).unwrap();
    let selection = snap
        .export_selection(&ExportSelector::Segment(all))
        .unwrap();
    let mut out = Vec::new();
    snap.export(&selection, &mut out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    for line in String::from_utf8(out).unwrap().lines() {
        tx.append_json(line).unwrap();
    }
    tx.commit().unwrap();
    (dir, db)
}

proptest! {
    #![proptest_config(seeded::config(
        "export_roundtrip (values)",
        "EXPORT_ROUNDTRIP_SEED",
        seed(),
        seeded::env_or("EXPORT_ROUNDTRIP_CASES", 64),
    ))]

    /// Any finite number (revenue within its ±10¹² limit) and any string come back
    /// bit for bit: numbers in their shortest form, read back as the same double.
    #[test]
    fn any_number_and_string_comes_back_exactly(
        rows in proptest::collection::vec(
            (any::<f64>(), -1e12..1e12f64, any::<f64>(), ".*", ".*", 0u32..100_000),
            1..24),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(dir.path(), DbOptions::default()).unwrap();
        let mut tx = db.begin_write().unwrap();
        let mut ts = random_events::BASE_MS;
        for (i, (value, revenue, score, title, note, gap)) in rows.iter().enumerate() {
            ts += i64::from(*gap);
            let mut o = serde_json::Map::new();
            o.insert("ts".into(), ts.into());
            o.insert("visitorId".into(), format!("v{}", i % 3).into());
            o.insert("type".into(), "goal".into());
            o.insert("pageTitle".into(), title.clone().into());
            o.insert("note".into(), note.clone().into());
            o.insert("revenue".into(), (*revenue).into());
            for (k, x) in [("eventValue", value), ("score", score)] {
                if x.is_finite() {
                    o.insert(k.into(), (*x).into());
                }
            }
            tx.append_json(&Value::Object(o).to_string()).unwrap();
        }
        tx.commit().unwrap();
        let (_dir2, db2) = export_all_and_import_back(&db.snapshot());
        prop_assert_eq!(visits(&db2.snapshot()), visits(&db.snapshot()));
    }
}

/// A cancelled token stops the selection and the export before anything is written.
#[test]
fn a_cancelled_export_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.append_json(r#"{"ts":0,"visitorId":"a"}"#).unwrap();
    tx.commit().unwrap();
    let snap = db.snapshot();
    let selection = snap
        .export_selection(&ExportSelector::Visitor("a".into()))
        .unwrap();
    assert_eq!(selection.visits(), 1);
    let token = sightline::CancelToken::new();
    token.cancel();
    let stopped = snap.with_cancel(token);
    let err = stopped
        .export_selection(&ExportSelector::UserId("u".into()))
        .unwrap_err();
    assert_eq!(err.kind(), sightline::ErrorKind::Cancelled);
    let mut out = Vec::new();
    let err = stopped.export(&selection, &mut out).unwrap_err();
    assert_eq!(err.kind(), sightline::ErrorKind::Cancelled);
    assert!(out.is_empty());
}
