//! `sightline query` and `sightline explain` through the real binary, on a small database
//! whose every answer is computed by hand below: visit-level, action-level and negated
//! conditions, the empty segment, `--from`/`--to` with dates and instants, the Matomo
//! dialect, and the exit status and caret of bad segments and dates.

use std::process::Command;

use serde_json::Value;

/// Five visits of four visitors (30-minute visit timeout):
///
/// | visit | visitor | start (UTC)              | country | actions           | conversions | duration |
/// |-------|---------|--------------------------|---------|-------------------|-------------|----------|
/// | V1    | a       | 2026-01-01 10:00         | fr      | Home, Cart        | order 40    | 120 s    |
/// | V2    | a       | 2026-01-03 09:00         | fr      | Home              |             | 0        |
/// | V3    | b       | 2026-01-05 12:00         | de      | Home, About       |             | 30 s     |
/// | V4    | c       | 2026-01-07 23:59:59.999  | us      | Cart              |             | 0        |
/// | V5    | d       | 2026-01-08 00:00         |         |                   | goal 3: 5   | 0        |
///
/// Bounces (exactly one action): V2, V4.
const EVENTS: &str = r#"{"ts":"2026-01-01T10:00:00Z","visitorId":"a","countryCode":"fr","pageUrl":"https://www.x.org/","pageTitle":"Home"}
{"ts":"2026-01-01T10:01:00Z","visitorId":"a","pageUrl":"https://x.org/cart","pageTitle":"Cart"}
{"ts":"2026-01-01T10:02:00Z","visitorId":"a","type":"ecommerceOrder","revenue":40}
{"ts":"2026-01-03T09:00:00Z","visitorId":"a","countryCode":"fr","pageUrl":"https://x.org/","pageTitle":"Home"}
{"ts":"2026-01-05T12:00:00Z","visitorId":"b","countryCode":"de","pageUrl":"https://x.org/","pageTitle":"Home"}
{"ts":"2026-01-05T12:00:30Z","visitorId":"b","pageUrl":"https://x.org/about","pageTitle":"About"}
{"ts":"2026-01-07T23:59:59.999Z","visitorId":"c","countryCode":"us","pageUrl":"https://x.org/cart","pageTitle":"Cart"}
{"ts":"2026-01-08T00:00:00Z","visitorId":"d","type":"goal","goalId":3,"revenue":5}
"#;

/// (visits, visitors, actions, conversions, revenue, bounces, sumVisitDuration).
type Expected = (u64, u64, u64, u64, f64, u64, u64);

const ALL: Expected = (5, 4, 6, 2, 45.0, 2, 150);

mod common;
use common::{describe, s, sightline, text};

/// A temporary directory holding the database `db` built from [`EVENTS`].
fn database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, EVENTS).expect("write events");
    let db = dir.path().join("db");
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert_eq!(out.status.code(), Some(0), "import: {}", describe(&out));
    dir
}

fn db(dir: &tempfile::TempDir) -> String {
    s(&dir.path().join("db")).to_string()
}

/// Runs a command that must succeed and print one JSON document.
fn json_ok(args: &[&str]) -> Value {
    let out = sightline(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {}", describe(&out)))
}

fn query(dir: &tempfile::TempDir, extra: &[&str]) -> Value {
    let db = db(dir);
    let mut args = vec!["query", "--db", &db, "--json"];
    args.extend_from_slice(extra);
    json_ok(&args)
}

fn assert_summary(doc: &Value, want: Expected, what: &str) {
    let n = |k: &str| {
        doc[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: {k} is not a count in {doc}"))
    };
    let got = (
        n("visits"),
        n("visitors"),
        n("actions"),
        n("conversions"),
        doc["revenue"].as_f64().expect("revenue is a number"),
        n("bounces"),
        n("sumVisitDuration"),
    );
    assert_eq!(got, want, "{what}: {doc}");
}

/// Fails with exit status 2 and returns stderr.
fn usage_error(args: &[&str]) -> String {
    let out = sightline(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
    assert!(out.stdout.is_empty(), "{args:?}: {}", describe(&out));
    text(&out.stderr)
}

#[test]
fn segments_select_the_hand_computed_visits() {
    let dir = database();
    let cases: &[(&str, Expected)] = &[
        ("", ALL),
        // Visit level; code dimensions compare case-insensitively.
        ("countryCode==FR", (2, 1, 3, 1, 40.0, 1, 120)),
        ("visitCount>1", (1, 1, 1, 0, 0.0, 1, 0)),
        ("visits>1", (1, 1, 1, 0, 0.0, 1, 0)),
        // Action level; URLs compare without scheme and www.
        ("pageUrl=@/cart", (2, 2, 3, 1, 40.0, 1, 120)),
        ("pageUrl==x.org/", (3, 2, 5, 1, 40.0, 1, 150)),
        // Negated action condition: no action row matches (V5 has none).
        ("pageTitle!=Home", (2, 2, 1, 1, 5.0, 1, 0)),
        // OR binds tighter than AND.
        (
            "countryCode==de,countryCode==us;pageUrl=@cart",
            (1, 1, 1, 0, 0.0, 1, 0),
        ),
        ("visitConvertedGoalId==3", (1, 1, 0, 1, 5.0, 0, 0)),
    ];
    for (segment, want) in cases {
        let doc = if segment.is_empty() {
            query(&dir, &[])
        } else {
            query(&dir, &[segment])
        };
        assert_summary(&doc, *want, segment);
    }
    assert_summary(&query(&dir, &[""]), ALL, "explicitly empty segment");
}

#[test]
fn json_output_has_the_spec_keys_and_the_canonical_segment() {
    let dir = database();
    let doc = query(&dir, &["country == fr ; pageUrl=@%2Fcart"]);
    for key in [
        "visits",
        "visitors",
        "actions",
        "conversions",
        "revenue",
        "bounces",
        "sumVisitDuration",
    ] {
        assert!(doc.get(key).is_some(), "missing {key} in {doc}");
    }
    assert_eq!(doc["segment"], "country==fr;pageUrl=@/cart");
    assert_eq!(doc["range"]["start"], Value::Null);
    assert_summary(&doc, (1, 1, 2, 1, 40.0, 0, 120), "fr cart");
}

#[test]
fn dates_are_inclusive_utc_days() {
    let dir = database();
    // V2, V3 and V4 (which starts in the last millisecond of the 7th); not V5.
    let doc = query(&dir, &["--from", "2026-01-02", "--to", "2026-01-07"]);
    assert_summary(&doc, (3, 3, 4, 0, 0.0, 2, 30), "2nd to 7th");
    assert_eq!(doc["range"]["start"], "2026-01-02T00:00:00Z");
    assert_eq!(doc["range"]["end"], "2026-01-08T00:00:00Z");
    let doc = query(&dir, &["--to", "2026-01-07", "pageUrl=@cart"]);
    assert_summary(&doc, (2, 2, 3, 1, 40.0, 1, 120), "cart up to the 7th");
    let doc = query(&dir, &["--from", "2026-01-08"]);
    assert_summary(&doc, (1, 1, 0, 1, 5.0, 0, 0), "from the 8th");
}

#[test]
fn instants_are_inclusive_at_both_ends() {
    let dir = database();
    let visits = |from: &str, to: &str| {
        query(&dir, &["--from", from, "--to", to])["visits"]
            .as_u64()
            .expect("visits")
    };
    // V3 starts at 12:00:00.000 on the 5th, V4 at 23:59:59.999 on the 7th.
    assert_eq!(
        visits("2026-01-05T12:00:00Z", "2026-01-07T23:59:59.999Z"),
        2
    );
    assert_eq!(
        visits("2026-01-05T12:00:00.001Z", "2026-01-07T23:59:59.999Z"),
        1
    );
    assert_eq!(
        visits("2026-01-05T12:00:00Z", "2026-01-07T23:59:59.998Z"),
        1
    );
    // Offsets are honoured: 13:00+01:00 is V3's start.
    assert_eq!(
        visits("2026-01-05T13:00:00+01:00", "2026-01-05T13:00:00+01:00"),
        1
    );
    // A date and an instant mix.
    assert_eq!(visits("2026-01-01", "2026-01-05T11:59:59Z"), 2);
}

#[test]
fn bad_dates_are_usage_errors_naming_option_and_value() {
    let dir = database();
    let db = db(&dir);
    let err = usage_error(&["query", "--db", &db, "--from", "2026-02-30"]);
    assert!(
        err.contains("--from") && err.contains("2026-02-30"),
        "{err}"
    );
    let err = usage_error(&["query", "--db", &db, "--to", "tomorrow"]);
    assert!(err.contains("--to") && err.contains("tomorrow"), "{err}");
    let err = usage_error(&["query", "--db", &db, "--to", "2026-01-05T10:00:00"]);
    assert!(err.contains("RFC 3339"), "{err}");
    let err = usage_error(&[
        "query",
        "--db",
        &db,
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-04",
    ]);
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn bad_segments_exit_2_with_a_caret() {
    let dir = database();
    let db = db(&dir);
    let err = usage_error(&["query", "--db", &db, "countryCode=FR"]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("error: invalid segment at byte 11: "),
        "{err}"
    );
    assert_eq!(lines[1..], ["countryCode=FR", "           ^"], "{err}");

    let err = usage_error(&["query", "--db", &db, "visitCount>1;contry==FR"]);
    assert!(err.contains("unknown dimension `contry`"), "{err}");
    assert!(err.contains("`country`"), "{err}");
    assert!(
        err.ends_with("visitCount>1;contry==FR\n             ^\n"),
        "{err}"
    );

    let err = usage_error(&["query", "--db", &db, "deviceType==laptop"]);
    assert!(err.contains("smartphone"), "lists the valid values: {err}");
    let err = usage_error(&["explain", "--db", &db, "visitCount>abc"]);
    assert!(err.contains("^"), "{err}");
}

#[test]
fn matomo_dialect_decodes_twice() {
    let dir = database();
    let db = db(&dir);
    let doc = json_ok(&[
        "explain",
        "--json",
        "--dialect",
        "matomo",
        "pageUrl==https%253A%252F%252Fx.org",
    ]);
    assert_eq!(doc["and"][0]["or"][0]["value"], "https://x.org");
    assert_eq!(doc["dialect"], "matomo");
    let doc = query(
        &dir,
        &[
            "--dialect",
            "matomo",
            "pageUrl==https%253A%252F%252Fx.org%252Fcart",
        ],
    );
    assert_summary(&doc, (2, 2, 3, 1, 40.0, 1, 120), "matomo cart");
    // The default dialect decodes once: the value keeps `%3A`, which matches nothing.
    let doc = query(&dir, &["pageUrl==https%253A%252F%252Fx.org%252Fcart"]);
    assert_eq!(doc["visits"], 0, "{doc}");
    let out = sightline(&["query", "--db", &db, "--dialect", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn explain_without_a_database_checks_syntax_only() {
    let doc = json_ok(&[
        "explain",
        "--json",
        "countryCode==fr;pageUrl=@%2Fcart , visitCount>1",
    ]);
    let want: Value = serde_json::json!([
        {"or": [{"name": "countryCode", "op": "==", "value": "fr"}]},
        {"or": [
            {"name": "pageUrl", "op": "=@", "value": "/cart"},
            {"name": "visitCount", "op": ">", "value": "1"}
        ]}
    ]);
    assert_eq!(doc["and"], want);
    assert_eq!(
        doc["canonical"],
        "countryCode==fr;pageUrl=@/cart,visitCount>1"
    );
    assert_eq!(doc["dialect"], "default");
    assert!(doc.get("plan").is_none(), "{doc}");

    // Names are not resolved without a database.
    let doc = json_ok(&["explain", "--json", "contry==FR"]);
    assert_eq!(doc["and"][0]["or"][0]["name"], "contry");
    let doc = json_ok(&["explain", "--json", ""]);
    assert_eq!(doc["and"], serde_json::json!([]));

    // Syntax errors still are errors; a range needs a database.
    let err = usage_error(&["explain", "a=b"]);
    assert!(
        err.contains("at byte 1") && err.contains("a=b\n ^"),
        "{err}"
    );
    let err = usage_error(&["explain", "--to", "2026-01-01", "a==b"]);
    assert!(err.contains("--db"), "{err}");

    let out = sightline(&["explain", "countryCode==fr;pageUrl=@/cart,visitCount>1"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let tree = text(&out.stdout);
    assert!(tree.contains("AND\n"), "{tree}");
    assert!(tree.contains("└── OR\n"), "{tree}");
    assert!(tree.contains("    ├── pageUrl =@ \"/cart\"\n"), "{tree}");
}

#[test]
fn explain_with_a_database_adds_the_plan_and_cardinalities() {
    let dir = database();
    let db = db(&dir);
    let doc = json_ok(&[
        "explain",
        "--db",
        &db,
        "--json",
        "country==fr;pageUrl=@/cart",
    ]);
    assert_eq!(doc["canonical"], "country==fr;pageUrl=@/cart");
    let plan = &doc["plan"];
    assert_eq!(plan["candidates"], 5, "{doc}");
    assert_eq!(plan["selected"], 1, "{doc}");
    let first = &plan["groups"][0]["conditions"][0];
    assert_eq!(first["dimension"], "countryCode", "alias resolved: {doc}");
    assert_eq!(first["level"], "visit");
    assert_eq!(first["visits"], 2);
    assert!(first["method"].as_str().is_some_and(|m| !m.is_empty()));
    let second = &plan["groups"][1]["conditions"][0];
    assert_eq!(second["level"], "action");
    assert_eq!(second["rows"], 2, "{doc}");

    // The range narrows the candidates.
    let doc = json_ok(&[
        "explain",
        "--db",
        &db,
        "--json",
        "--from",
        "2026-01-02",
        "pageUrl=@/cart",
    ]);
    assert_eq!(doc["plan"]["candidates"], 4, "{doc}");
    assert_eq!(doc["plan"]["selected"], 1, "{doc}");

    // $SIGHTLINE_DB counts as --db: names are then resolved.
    let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["explain", "contry==FR"])
        .env("SIGHTLINE_DB", &db)
        .output()
        .expect("run sightline");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("`country`"),
        "{}",
        describe(&out)
    );

    let out = sightline(&["explain", "--db", &db, "country==fr;pageUrl=@/cart"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let tree = text(&out.stdout);
    assert!(tree.contains("visit · "), "{tree}");
    assert!(tree.contains("2 rows"), "{tree}");
    assert!(
        tree.contains("candidates: 5 visits in the range → selected: 1"),
        "{tree}"
    );
}

#[test]
fn table_output_is_readable() {
    let dir = database();
    let db = db(&dir);
    let out = sightline(&["query", "--db", &db, "countryCode==fr"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let table = text(&out.stdout);
    assert!(table.contains("segment: countryCode==fr"), "{table}");
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("no {name} row in {table}"))
            .to_string()
    };
    assert!(row("visits").contains(" 2 "), "{table}");
    assert!(row("revenue").contains("40.00"), "{table}");
    assert!(row("bounce rate").contains("50.0 %"), "{table}");
}

#[test]
fn missing_database_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let err = usage_error(&["query", "--db", s(&missing)]);
    assert!(err.contains("no database"), "{err}");
}
