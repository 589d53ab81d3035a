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

#[test]
fn format_2_databases_read_and_answer_as_when_written() {
    check_fixture("v2");
}

#[test]
fn part_format_2_databases_read_and_answer_as_when_written() {
    check_fixture("v3");
    // Its parts are of part format version 2: a file part and inline ones.
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open_read_only(&copy_fixture("v3", tmp.path())).unwrap();
    let versions: Vec<u32> = sightline::testing::part_readers(&db.snapshot())
        .iter()
        .map(|p| p.version())
        .collect();
    assert!(versions.iter().all(|&v| v == 2), "{versions:?}");
}

/// `c.jsonl` of the fixtures (`tests/fixtures/README.md`): one visitor with every row
/// type and field, and a visitor at the first accepted instant.
const FIXTURE_ROWS: &[&str] = &[
    r#"{"ts":"2026-01-03T09:00:00Z","visitorId":"fixture-a","visitId":"s1","pageUrl":"https://www.fixture.example/","pageTitle":"Home","countryCode":"FR","deviceType":"tablet","referrerType":"search","referrerName":"duckduckgo","referrerKeyword":"café crème","plan":"pro","score":4.5,"siteId":2}"#,
    r#"{"ts":"2026-01-03T09:01:00Z","visitorId":"fixture-a","visitId":"s1","type":"event","eventCategory":"video","eventAction":"play","eventName":"intro","eventValue":12.25}"#,
    r#"{"ts":"2026-01-03T09:02:00Z","visitorId":"fixture-a","visitId":"s1","type":"download","pageUrl":"https://www.fixture.example/a.pdf"}"#,
    r#"{"ts":"2026-01-03T09:03:00Z","visitorId":"fixture-a","visitId":"s1","type":"outlink","pageUrl":"https://elsewhere.example/"}"#,
    r#"{"ts":"2026-01-03T09:04:00Z","visitorId":"fixture-a","visitId":"s1","type":"siteSearch","pageUrl":"https://www.fixture.example/?q=mug","pageTitle":"Search"}"#,
    r#"{"ts":"2026-01-03T09:05:00Z","visitorId":"fixture-a","visitId":"s1","type":"ecommerceCart","revenue":19.9}"#,
    r#"{"ts":"2026-01-03T09:06:00Z","visitorId":"fixture-a","visitId":"s1","type":"ecommerceOrder","revenue":19.9,"userId":"u-42"}"#,
    r#"{"ts":"2026-01-03T09:07:00Z","visitorId":"fixture-a","visitId":"s1","type":"goal","goalId":3,"revenue":5}"#,
    r#"{"ts":"2026-01-10T18:00:00Z","visitorId":"fixture-a","pageUrl":"https://www.fixture.example/thanks","score":-1,"ip":"192.0.2.7","city":"Lyon","regionCode":"ARA","languageCode":"fr","browserCode":"FF","operatingSystemCode":"LIN","campaignName":"spring"}"#,
    r#"{"ts":-62167219200000,"visitorId":"fixture-old","pageUrl":"/year-zero"}"#,
];

/// Writes `tests/fixtures/v3/db` with this build: a first commit large enough for a part
/// file of its own, then the four commits of the other fixtures (the same inputs; some
/// of their visitors return from the first commit, so its part gets a deletion set).
/// Run once, by the build that introduced part format version 2 (as for v2 below).
#[test]
#[ignore = "writes tests/fixtures/v3 once; never rewrite a fixture"]
fn write_fixture_v3() {
    let dir = fixtures().join("v3").join("db");
    assert!(
        !dir.exists(),
        "{} exists: a fixture is never rewritten",
        dir.display()
    );
    let gen_lines = |visitors: u64, seed: u64| -> Vec<String> {
        let mut bytes = Vec::new();
        sightline::generate::write_jsonl(
            &sightline::generate::GenOptions {
                visitors,
                seed,
                days: 10,
                ..Default::default()
            },
            &mut bytes,
        )
        .unwrap();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    let big = gen_lines(1500, 11);
    let lines = gen_lines(40, 7);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let db = Db::builder().auto_compact(false).create(&dir).unwrap();
    let fixture_rows: Vec<String> = FIXTURE_ROWS.iter().map(|s| s.to_string()).collect();
    for batch in [&big[..], &lines[..250], &lines[250..], &fixture_rows[..]] {
        let mut tx = db.begin_write().unwrap();
        for l in batch {
            tx.append_json(l).unwrap();
        }
        tx.commit().unwrap();
    }
    let csv = "ts,visitorId,pageUrl,plan\n2026-01-04T10:00:00Z,fixture-csv,/from-csv,free\n";
    let csv_path = std::env::temp_dir().join(format!("fixture-v3-{}.csv", std::process::id()));
    std::fs::write(&csv_path, csv).unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.import_file(&csv_path, &Default::default(), &|_| {})
        .unwrap();
    tx.commit().unwrap();
    std::fs::remove_file(&csv_path).unwrap();
}

/// Writes `tests/fixtures/v2/db` with this build, through the library, with the
/// compactor off so that the directory keeps what manifest version 2 introduced: small
/// parts and deletion sets inline in several manifests, and a rollback generation.
/// Run once, by the build that introduced version 2
/// (`cargo test --test old_formats -- --ignored`, then `FIXTURE_BLESS=1 cargo test
/// --test old_formats`); refuses to touch an existing fixture.
#[test]
#[ignore = "writes tests/fixtures/v2 once; never rewrite a fixture"]
fn write_fixture_v2() {
    let dir = fixtures().join("v2").join("db");
    assert!(
        !dir.exists(),
        "{} exists: a fixture is never rewritten",
        dir.display()
    );
    let mut gen_bytes = Vec::new();
    sightline::generate::write_jsonl(
        &sightline::generate::GenOptions {
            visitors: 40,
            seed: 7,
            days: 10,
            ..Default::default()
        },
        &mut gen_bytes,
    )
    .unwrap();
    let text = String::from_utf8(gen_bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let db = Db::builder().auto_compact(false).create(&dir).unwrap();
    let csv = "ts,visitorId,pageUrl,plan\n2026-01-04T10:00:00Z,fixture-csv,/from-csv,free\n";
    let csv_path = std::env::temp_dir().join(format!("fixture-v2-{}.csv", std::process::id()));
    std::fs::write(&csv_path, csv).unwrap();
    for batch in [&lines[..250], &lines[250..], FIXTURE_ROWS] {
        let mut tx = db.begin_write().unwrap();
        for l in batch {
            tx.append_json(l).unwrap();
        }
        tx.commit().unwrap();
    }
    let mut tx = db.begin_write().unwrap();
    tx.import_file(&csv_path, &Default::default(), &|_| {})
        .unwrap();
    tx.commit().unwrap();
    std::fs::remove_file(&csv_path).unwrap();
}
