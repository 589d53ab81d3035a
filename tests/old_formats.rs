//! Every database format a build has ever written stays readable, with the same
//! answers. Each `tests/fixtures/vN/db` is a small database written by the build that
//! introduced format version N (how: `tests/fixtures/README.md`), with the answers that
//! build gave in `tests/fixtures/vN/expected.json`. This build must open a copy, pass
//! `check`, and give every answer recorded there (answers may gain keys, never lose or
//! change one); and it must keep writing into it.
//!
//! `FIXTURE_BLESS=1 cargo test --test old_formats` writes the answers of a fixture that
//! has none yet — once, by the build that wrote the fixture. An existing
//! `expected.json` is never rewritten.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sightline::{
    CohortOptions, Db, Dialect, FunnelOptions, FunnelScope, Period, ReportOptions, TimeRange,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A copy of fixture `v`'s database in `into` (the committed files are never opened for
/// writing).
fn copy_fixture(v: &str, into: &Path) -> PathBuf {
    let from = fixtures().join(v).join("db");
    let to = into.join("db");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

const SEGMENTS: &[&str] = &[
    "",
    "countryCode==fr",
    "visitCount>1",
    "pageUrl=@/checkout",
    "pageUrl!@/cart",
    "eventCategory==video;eventAction==play",
    "visitConvertedGoalId==0",
    "revenue>10",
    "plan==pro",
    "score<0",
    "referrerType==search,deviceType==tablet",
    "visitorType==returningCustomer",
    "siteId==2",
    "pageTitle=~^(Rustic|Compact) ",
];

const REPORTS: &[&str] = &[
    "countryCode",
    "pageUrl",
    "plan",
    "score",
    "visitorType",
    "visitEcommerceStatus",
    "actionType",
    "visitConvertedGoalId",
];

/// Every answer this test records of a database.
fn answers(db: &Db) -> Value {
    let snap = db.snapshot();
    let all = snap
        .select(
            &snap.compile("", Dialect::Default).unwrap(),
            &TimeRange::ALL,
        )
        .unwrap();
    let mut queries = serde_json::Map::new();
    for s in SEGMENTS {
        let summary = snap.query(s, &TimeRange::ALL).unwrap();
        queries.insert(s.to_string(), serde_json::to_value(summary).unwrap());
    }
    let mut reports = serde_json::Map::new();
    for by in REPORTS {
        let r = snap.report(by, &all, &ReportOptions::default()).unwrap();
        reports.insert(by.to_string(), serde_json::to_value(&r.rows).unwrap());
    }
    let steps: Vec<_> = [
        "pageUrl=@/product",
        "pageUrl=@/cart",
        "visitConvertedGoalId==0",
    ]
    .iter()
    .map(|s| snap.compile(s, Dialect::Default).unwrap())
    .collect();
    let funnels: Vec<Value> = [
        FunnelOptions::visit(),
        FunnelOptions {
            scope: FunnelScope::Visitor,
            window_ms: None,
        },
    ]
    .iter()
    .map(|o| serde_json::to_value(snap.funnel(&steps, &all, o).unwrap()).unwrap())
    .collect();
    // Cohorts of 2026 (the visitor of year 0 would make a table of 105,000 weeks).
    let y2026 = TimeRange {
        start: Some(1_767_225_600_000),
        end: None,
    };
    let recent = snap
        .select(&snap.compile("", Dialect::Default).unwrap(), &y2026)
        .unwrap();
    let cohorts: Vec<Value> = [Period::Day, Period::Week, Period::Month]
        .iter()
        .map(|&period| {
            let o = CohortOptions {
                period,
                ..CohortOptions::default()
            };
            serde_json::to_value(snap.cohorts(&recent, &o).unwrap()).unwrap()
        })
        .collect();
    let mut visitors = serde_json::Map::new();
    for id in ["fixture-a", "fixture-old", "fixture-csv"] {
        let p = snap.visitor(id).unwrap().expect("fixture visitor");
        visitors.insert(id.into(), serde_json::to_value(p).unwrap());
    }
    json!({
        "stats": serde_json::to_value(snap.stats().unwrap()).unwrap(),
        "queries": queries,
        "reports": reports,
        "funnels": funnels,
        "cohorts": cohorts,
        "visitors": visitors,
    })
}

/// Asserts that `got` holds everything `want` holds (objects may have more keys;
/// numbers equal up to the last digit JSON text keeps).
fn assert_contains(want: &Value, got: &Value, at: &str) {
    match (want, got) {
        (Value::Number(w), Value::Number(g)) if w.is_f64() || g.is_f64() => {
            let (w, g) = (w.as_f64().unwrap(), g.as_f64().unwrap());
            assert!(
                (w - g).abs() <= 1e-12 * w.abs().max(1.0),
                "{at}: {w} vs {g}"
            );
        }
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let g = g.get(k).unwrap_or_else(|| panic!("{at}.{k}: missing"));
                assert_contains(v, g, &format!("{at}.{k}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{at}: length");
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                assert_contains(w, g, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(want, got, "{at}"),
    }
}

fn check_fixture(version: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let path = copy_fixture(version, tmp.path());
    let report = sightline::check(&path).unwrap();
    assert!(report.is_ok(), "{version}: {:?}", report.problems);
    let db = Db::open_read_only(&path).unwrap();
    let got = answers(&db);
    let expected_file = fixtures().join(version).join("expected.json");
    if !expected_file.exists() && std::env::var_os("FIXTURE_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&got).unwrap();
        std::fs::write(&expected_file, text + "\n").unwrap();
    }
    let want: Value =
        serde_json::from_slice(&std::fs::read(&expected_file).expect("expected.json")).unwrap();
    assert_contains(&want, &got, version);

    // Writing on top of the old files: a new commit, an old visitor rewritten.
    drop(db);
    let db = Db::open(&path).unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.append_json(r#"{"ts":"2026-01-11T09:00:00Z","visitorId":"fixture-a","pageUrl":"/again"}"#)
        .unwrap();
    tx.append_json(r#"{"ts":"2026-01-11T09:00:00Z","visitorId":"fixture-new","plan":"pro"}"#)
        .unwrap();
    tx.commit().unwrap();
    let stats = db.snapshot().stats().unwrap();
    assert_eq!(
        stats.events,
        want["stats"]["events"].as_u64().unwrap() + 2,
        "{version}"
    );
    let profile = db.snapshot().visitor("fixture-a").unwrap().unwrap();
    assert_eq!(
        profile.totals.visits,
        want["visitors"]["fixture-a"]["totals"]["visits"]
            .as_u64()
            .unwrap()
            + 1
    );
    drop(db); // and its background compactor
    assert!(sightline::check(&path).unwrap().is_ok());
}

#[test]
fn format_1_databases_read_and_answer_as_when_written() {
    check_fixture("v1");
}
