//! `sightline report`, `funnel`, `cohorts` and `visitor` through the real binary, on small
//! databases whose every answer is computed by hand below from `docs/analytics.md`:
//! the JSON documents, the tables, the usage errors and their exit status, the empty
//! database and a segment selecting nothing.

use serde_json::{Value, json};

mod common;
use common::{describe, s, sightline, text};

/// The shop: five visits of four visitors (30-minute visit timeout).
///
/// | visit | visitor | start (UTC)       | country  | rows (title; `type` if not a pageview)          | duration |
/// |-------|---------|-------------------|----------|-------------------------------------------------|----------|
/// | V1    | a       | 2026-01-05 10:00  | `FR`     | Home (www URL), Cart, Checkout, order 40 @10:03 | 180 s    |
/// | V2    | a       | 2026-01-06 09:00  | `fr`     | Home, Cart @09:05                               | 300 s    |
/// | V3    | b       | 2026-01-06 12:00  | de       | Cart, Home @12:00:30, Checkout @12:02           | 120 s    |
/// | V4    | c       | 2026-01-07 08:00  |          | event video/play (no title), "" @08:01          | 60 s     |
/// | V5    | d       | 2026-01-08 20:00  | us       | goal 1 revenue 5 carrying the title "Ghost"     | 0        |
///
/// Totals: 5 visits, 4 visitors, 10 actions, 2 conversions, revenue 45.
const SHOP: &str = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","countryCode":"FR","pageUrl":"https://www.shop.example/home","pageTitle":"Home"}
{"ts":"2026-01-05T10:01:00Z","visitorId":"a","pageUrl":"https://shop.example/cart","pageTitle":"Cart"}
{"ts":"2026-01-05T10:02:00Z","visitorId":"a","pageUrl":"https://shop.example/checkout","pageTitle":"Checkout"}
{"ts":"2026-01-05T10:03:00Z","visitorId":"a","type":"ecommerceOrder","revenue":40}
{"ts":"2026-01-06T09:00:00Z","visitorId":"a","countryCode":"fr","pageUrl":"https://shop.example/home","pageTitle":"Home"}
{"ts":"2026-01-06T09:05:00Z","visitorId":"a","pageUrl":"https://shop.example/cart","pageTitle":"Cart"}
{"ts":"2026-01-06T12:00:00Z","visitorId":"b","countryCode":"de","pageUrl":"https://shop.example/cart","pageTitle":"Cart"}
{"ts":"2026-01-06T12:00:30Z","visitorId":"b","pageUrl":"https://shop.example/home","pageTitle":"Home"}
{"ts":"2026-01-06T12:02:00Z","visitorId":"b","pageUrl":"https://shop.example/checkout","pageTitle":"Checkout"}
{"ts":"2026-01-07T08:00:00Z","visitorId":"c","type":"event","eventCategory":"video","eventAction":"play"}
{"ts":"2026-01-07T08:01:00Z","visitorId":"c","pageUrl":"https://shop.example/blank","pageTitle":""}
{"ts":"2026-01-08T20:00:00Z","visitorId":"d","countryCode":"us","type":"goal","goalId":1,"revenue":5,"pageTitle":"Ghost"}
"#;

/// Windows: every row is its own visit (gaps of an hour or more).
///
/// | visitor | rows                                                          |
/// |---------|---------------------------------------------------------------|
/// | p       | /a 2026-01-01 00:00, /b 2026-01-08 00:00 (exactly 7 days)     |
/// | q       | /a 2026-01-01 00:00, /b 2026-01-08 00:00:00.001 (7 days 1 ms) |
/// | r       | /b 2026-01-01 00:00, /a 01:00 (wrong order)                   |
/// | s       | /a 2026-01-02, /a 2026-01-05, /b 2026-01-12 (7 days after the second /a) |
const WINDOWS: &str = r#"{"ts":"2026-01-01T00:00:00Z","visitorId":"p","pageUrl":"https://x.org/a"}
{"ts":"2026-01-08T00:00:00Z","visitorId":"p","pageUrl":"https://x.org/b"}
{"ts":"2026-01-01T00:00:00Z","visitorId":"q","pageUrl":"https://x.org/a"}
{"ts":"2026-01-08T00:00:00.001Z","visitorId":"q","pageUrl":"https://x.org/b"}
{"ts":"2026-01-01T00:00:00Z","visitorId":"r","pageUrl":"https://x.org/b"}
{"ts":"2026-01-01T01:00:00Z","visitorId":"r","pageUrl":"https://x.org/a"}
{"ts":"2026-01-02T00:00:00Z","visitorId":"s","pageUrl":"https://x.org/a"}
{"ts":"2026-01-05T00:00:00Z","visitorId":"s","pageUrl":"https://x.org/a"}
{"ts":"2026-01-12T00:00:00Z","visitorId":"s","pageUrl":"https://x.org/b"}
"#;

/// Cohorts: one pageview per visit. Mondays: Jan 5, 12, 19, 26, Feb 2 (2026).
///
/// | visitor | visits                                      | first visit's week |
/// |---------|---------------------------------------------|--------------------|
/// | u1      | Mon Jan 5, Tue Jan 6, Tue Jan 13, Tue Feb 3 | Jan 5              |
/// | u2      | Sun Jan 11 23:00, Mon Jan 12 01:00          | Jan 5              |
/// | u3 (de) | Mon Jan 12 00:00, Tue Jan 20                | Jan 12             |
/// | u4      | Tue Jan 27                                  | Jan 26             |
///
/// The latest event (Feb 3) is in the week of Feb 2, which ends the data.
const COHORTS: &str = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"u1","pageUrl":"https://x.org/"}
{"ts":"2026-01-06T10:00:00Z","visitorId":"u1","pageUrl":"https://x.org/"}
{"ts":"2026-01-13T10:00:00Z","visitorId":"u1","pageUrl":"https://x.org/"}
{"ts":"2026-02-03T10:00:00Z","visitorId":"u1","pageUrl":"https://x.org/"}
{"ts":"2026-01-11T23:00:00Z","visitorId":"u2","pageUrl":"https://x.org/"}
{"ts":"2026-01-12T01:00:00Z","visitorId":"u2","pageUrl":"https://x.org/"}
{"ts":"2026-01-12T00:00:00Z","visitorId":"u3","countryCode":"de","pageUrl":"https://x.org/"}
{"ts":"2026-01-20T00:00:00Z","visitorId":"u3","countryCode":"de","pageUrl":"https://x.org/"}
{"ts":"2026-01-27T00:00:00Z","visitorId":"u4","pageUrl":"https://x.org/"}
"#;

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// A database built from `events` in a temporary directory: the directory (kept alive
/// by the caller) and the database path.
fn database(events: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, events).expect("write events");
    let db = dir.path().join("db");
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert_eq!(out.status.code(), Some(0), "import: {}", describe(&out));
    let db = s(&db).to_string();
    (dir, db)
}

/// Runs `sightline COMMAND --db DB --json ARGS…`, which must succeed with one document.
fn json(command: &str, db: &str, args: &[&str]) -> Value {
    let mut all = vec![command, "--db", db, "--json"];
    all.extend_from_slice(args);
    let out = sightline(&all);
    assert_eq!(out.status.code(), Some(0), "{all:?}: {}", describe(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{all:?}: not one JSON document ({e}): {}", describe(&out)))
}

/// Runs `sightline COMMAND --db DB ARGS…` (table output), which must succeed.
fn table(command: &str, db: &str, args: &[&str]) -> String {
    let mut all = vec![command, "--db", db];
    all.extend_from_slice(args);
    let out = sightline(&all);
    assert_eq!(out.status.code(), Some(0), "{all:?}: {}", describe(&out));
    text(&out.stdout)
}

/// Runs a command that must fail with `status` and print nothing on stdout; returns
/// stderr.
fn fails(status: i32, args: &[&str]) -> String {
    let out = sightline(args);
    assert_eq!(
        out.status.code(),
        Some(status),
        "{args:?}: {}",
        describe(&out)
    );
    assert!(out.stdout.is_empty(), "{args:?}: {}", describe(&out));
    text(&out.stderr)
}

/// A report row as (value, visits, visitors, actions, conversions, revenue, hits).
type Row = (Value, u64, u64, u64, u64, f64, Option<u64>);

fn rows(doc: &Value) -> Vec<Row> {
    doc["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {doc}"))
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
            (
                r["value"].clone(),
                n("visits"),
                n("visitors"),
                n("actions"),
                n("conversions"),
                r["revenue"].as_f64().expect("revenue"),
                r.get("hits").map(|h| h.as_u64().expect("hits")),
            )
        })
        .collect()
}

fn values(doc: &Value) -> Vec<Value> {
    rows(doc).into_iter().map(|r| r.0).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

// ---------------------------------------------------------------------------------------
// report

#[test]
fn visit_level_report_folds_code_case_and_ends_with_the_null_row() {
    let (_dir, db) = database(SHOP);
    let doc = json("report", &db, &["--by", "country"]);
    assert_eq!(doc["by"], "countryCode", "alias resolved: {doc}");
    assert_eq!(doc["level"], "visit");
    // `FR` (V1) and `fr` (V2) are one row; de and us tie on 1 visit and sort by value,
    // the null row (V4) after them.
    let want: Vec<Row> = vec![
        (json!("fr"), 2, 1, 5, 1, 40.0, None),
        (json!("de"), 1, 1, 3, 0, 0.0, None),
        (json!("us"), 1, 1, 0, 1, 5.0, None),
        (Value::Null, 1, 1, 2, 0, 0.0, None),
    ];
    assert_eq!(rows(&doc), want, "{doc}");
    for row in doc["rows"].as_array().expect("rows") {
        assert!(
            row.get("hits").is_none() && row.get("others").is_none(),
            "{row}"
        );
    }
    let total = &doc["total"];
    assert_eq!(
        (
            &total["visits"],
            &total["visitors"],
            &total["actions"],
            &total["conversions"]
        ),
        (&json!(5), &json!(4), &json!(10), &json!(2)),
        "{doc}"
    );
    assert_eq!(total["revenue"].as_f64(), Some(45.0));
    assert_eq!(total["sumVisitDuration"], 660);
    assert_eq!(doc["segment"], "");
    assert_eq!(doc["range"], json!({"start": null, "end": null}));
    assert!(doc["elapsedMs"].as_f64().is_some(), "{doc}");
}

#[test]
fn integer_dimensions_report_numbers() {
    let (_dir, db) = database(SHOP);
    let doc = json("report", &db, &["--by", "visitCount"]);
    let want: Vec<Row> = vec![
        (json!(1), 4, 4, 8, 2, 45.0, None),
        (json!(2), 1, 1, 2, 0, 0.0, None),
    ];
    assert_eq!(rows(&doc), want, "{doc}");
}

#[test]
fn action_level_report_counts_visits_and_hits_on_action_rows_only() {
    let (_dir, db) = database(SHOP);
    let doc = json("report", &db, &["--by", "pageTitle"]);
    assert_eq!(doc["level"], "action");
    // Cart and Home tie on 3 visits (V1, V2, V3) and sort by bytes; the empty title of
    // V4 is a value, before V4's untitled event row (null). V5's goal row carries the
    // title "Ghost" but is no action row, so no row for it.
    let want: Vec<Row> = vec![
        (json!("Cart"), 3, 2, 8, 1, 40.0, Some(3)),
        (json!("Home"), 3, 2, 8, 1, 40.0, Some(3)),
        (json!("Checkout"), 2, 2, 6, 1, 40.0, Some(2)),
        (json!(""), 1, 1, 2, 0, 0.0, Some(1)),
        (Value::Null, 1, 1, 2, 0, 0.0, Some(1)),
    ];
    assert_eq!(rows(&doc), want, "{doc}");
    assert_eq!(doc["total"]["visits"], 5, "total is the whole selection");
}

#[test]
fn urls_are_reported_as_stored() {
    let (_dir, db) = database(SHOP);
    let doc = json("report", &db, &["--by", "pageUrl"]);
    assert_eq!(
        values(&doc),
        vec![
            json!("https://shop.example/cart"),
            json!("https://shop.example/checkout"),
            json!("https://shop.example/home"),
            json!("https://shop.example/blank"),
            json!("https://www.shop.example/home"),
            Value::Null,
        ],
        "{doc}"
    );
    let visits: Vec<u64> = rows(&doc).iter().map(|r| r.1).collect();
    assert_eq!(visits, [3, 2, 2, 1, 1, 1], "{doc}");
}

#[test]
fn conversion_level_report_uses_conversion_rows() {
    let (_dir, db) = database(SHOP);
    let doc = json("report", &db, &["--by", "visitConvertedGoalId"]);
    assert_eq!(doc["level"], "conversion");
    // The order of V1 has goal id 0; V5's goal is 1.
    let want: Vec<Row> = vec![
        (json!(0), 1, 1, 3, 1, 40.0, Some(1)),
        (json!(1), 1, 1, 0, 1, 5.0, Some(1)),
    ];
    assert_eq!(rows(&doc), want, "{doc}");
}

#[test]
fn limit_folds_the_rest_into_an_others_row() {
    let (_dir, db) = database(SHOP);
    let doc = json("report", &db, &["--by", "pageTitle", "--limit", "2"]);
    let all = rows(&doc);
    assert_eq!(all.len(), 3, "{doc}");
    assert_eq!(all[0].0, "Cart");
    assert_eq!(all[1].0, "Home");
    // Checkout (V1, V3) + "" (V4) + null (V4's event): the distinct visits V1, V3, V4
    // of visitors a, b, c, each visit's metrics once (3 + 3 + 2 actions, V1's order);
    // hits are a sum (2 + 1 + 1). Summing the rows instead would count V4 twice.
    assert_eq!(
        all[2],
        (json!("others"), 3, 3, 8, 1, 40.0, Some(4)),
        "{doc}"
    );
    assert_eq!(doc["rows"][2]["others"], 3, "{doc}");
    assert!(doc["rows"][1].get("others").is_none(), "{doc}");

    // Visit level: the others row holds exactly the rest of the visits.
    let doc = json("report", &db, &["--by", "countryCode", "--limit", "1"]);
    let all = rows(&doc);
    assert_eq!(all[0], (json!("fr"), 2, 1, 5, 1, 40.0, None));
    assert_eq!(all[1], (json!("others"), 3, 3, 5, 1, 5.0, None), "{doc}");
    assert_eq!(doc["rows"][1]["others"], 3);

    // Keeping only Cart folds Home (V1, V2, V3), Checkout (V1, V3), "" and null (V4):
    // 4 distinct visits of 3 visitors, never more than the selection (summing the rows
    // would claim 7 visits and 6 visitors of 5 and 4).
    let doc = json("report", &db, &["--by", "pageTitle", "--limit", "1"]);
    let all = rows(&doc);
    assert_eq!(all[0].0, "Cart", "{doc}");
    assert_eq!(
        all[1],
        (json!("others"), 4, 3, 10, 1, 40.0, Some(7)),
        "{doc}"
    );

    // Nothing is folded when the values fit.
    let doc = json("report", &db, &["--by", "pageTitle", "--limit", "5"]);
    assert_eq!(rows(&doc).len(), 5, "{doc}");
    assert!(doc["rows"][4].get("others").is_none(), "{doc}");
    assert_eq!(doc["rows"][4]["value"], Value::Null);

    // `--limit 0` is no limit: every row, no others row.
    let all = json("report", &db, &["--by", "pageTitle"]);
    let zero = json("report", &db, &["--by", "pageTitle", "--limit", "0"]);
    assert_eq!(zero["rows"], all["rows"], "{zero}");
    assert!(
        zero["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .all(|r| r.get("others").is_none()),
        "{zero}"
    );
}

#[test]
fn segment_and_range_choose_the_visits() {
    let (_dir, db) = database(SHOP);
    let doc = json(
        "report",
        &db,
        &["--by", "countryCode", "--segment", "pageUrl=@checkout"],
    );
    assert_eq!(values(&doc), [json!("de"), json!("fr")], "{doc}");
    assert_eq!(doc["segment"], "pageUrl=@checkout");
    let doc = json(
        "report",
        &db,
        &[
            "--by",
            "visitorId",
            "--from",
            "2026-01-06",
            "--to",
            "2026-01-07",
        ],
    );
    // V2 (a), V3 (b), V4 (c).
    assert_eq!(values(&doc), [json!("a"), json!("b"), json!("c")], "{doc}");
    assert_eq!(doc["range"]["start"], "2026-01-06T00:00:00Z");
    assert_eq!(doc["range"]["end"], "2026-01-08T00:00:00Z");
}

#[test]
fn unknown_dimension_is_a_usage_error_with_a_suggestion() {
    let (_dir, db) = database(SHOP);
    let err = fails(2, &["report", "--db", &db, "--by", "contry"]);
    assert!(err.contains("contry"), "{err}");
    assert!(err.contains("`country"), "suggests the close names: {err}");
    let err = fails(
        2,
        &[
            "report",
            "--db",
            &db,
            "--by",
            "city",
            "--segment",
            "city=Paris",
        ],
    );
    assert!(
        err.contains("invalid segment") && err.contains('^'),
        "{err}"
    );
}

#[test]
fn report_table_shows_shares_hits_and_the_others_row() {
    let (_dir, db) = database(SHOP);
    let out = table("report", &db, &["--by", "countryCode"]);
    assert!(out.contains("segment: (all visits)"), "{out}");
    assert!(out.contains("% visits"), "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no {name} row in {out}"))
            .to_string()
    };
    let fr = line(" fr ");
    assert!(
        fr.contains(" 2 ") && fr.contains("40.0 %") && fr.contains("40.00"),
        "{fr}"
    );
    assert!(line("(no value)").contains("20.0 %"), "{out}");
    assert!(!out.contains("hits"), "no hits at visit level: {out}");
    assert!(out.contains("5 visits, 4 visitors"), "{out}");

    let out = table("report", &db, &["--by", "pageTitle", "--limit", "2"]);
    assert!(out.contains("hits"), "{out}");
    assert!(out.contains("(others: 3 values)"), "{out}");
    assert!(out.contains("top 2 of 5 values"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("Cart") && l.contains("60.0 %")),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------
// funnel

/// (count, rate, dropOff, dropOffRate, medianTimeMs) of each step.
type Step = (u64, f64, u64, f64, Option<f64>);

fn steps(doc: &Value) -> Vec<Step> {
    doc["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {doc}"))
        .iter()
        .enumerate()
        .map(|(i, s)| {
            assert_eq!(s["step"], i + 1, "{doc}");
            (
                s["count"].as_u64().expect("count"),
                s["rate"].as_f64().expect("rate"),
                s["dropOff"].as_u64().expect("dropOff"),
                s["dropOffRate"].as_f64().expect("dropOffRate"),
                s["medianTimeMs"].as_f64(),
            )
        })
        .collect()
}

fn assert_steps(doc: &Value, want: &[Step]) {
    let got = steps(doc);
    assert_eq!(got.len(), want.len(), "{doc}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = g.0 == w.0
            && close(g.1, w.1)
            && g.2 == w.2
            && close(g.3, w.3)
            && match (g.4, w.4) {
                (Some(a), Some(b)) => close(a, b),
                (a, b) => a == b,
            };
        assert!(same, "step {}: got {g:?}, want {w:?}: {doc}", i + 1);
    }
}

const HOME: &str = "pageUrl==shop.example/home";
const CART: &str = "pageUrl==shop.example/cart";
const CHECKOUT: &str = "pageUrl==shop.example/checkout";

#[test]
fn visit_funnel_counts_ordered_rows_inside_visits() {
    let (_dir, db) = database(SHOP);
    let doc = json(
        "funnel",
        &db,
        &["--step", HOME, "--step", CART, "--step", CHECKOUT],
    );
    assert_eq!(doc["scope"], "visit");
    assert_eq!(
        doc["windowMs"],
        Value::Null,
        "no window in visit scope: {doc}"
    );
    assert_eq!(doc["units"], 5);
    assert_eq!(doc["steps"][0]["definition"], HOME);
    assert_eq!(doc["steps"][2]["definition"], CHECKOUT);
    // Home: V1 (www URL), V2, V3. Cart after Home: V1 (+1 min), V2 (+5 min); V3 has
    // its cart before its home page. Checkout after that: V1 (+2 min).
    assert_steps(
        &doc,
        &[
            (3, 1.0, 0, 0.0, Some(0.0)),
            (2, 2.0 / 3.0, 1, 1.0 / 3.0, Some(180_000.0)),
            (1, 1.0 / 3.0, 1, 0.5, Some(120_000.0)),
        ],
    );
    assert_eq!(doc["segment"], "");

    // A window applies inside visits too, inclusive: V1's cart is exactly 1 min after
    // its home page, its checkout 2 min.
    let doc = json(
        "funnel",
        &db,
        &[
            "--step", HOME, "--step", CART, "--step", CHECKOUT, "--window", "1m",
        ],
    );
    assert_eq!(doc["windowMs"], 60_000);
    assert_steps(
        &doc,
        &[
            (3, 1.0, 0, 0.0, Some(0.0)),
            (1, 1.0 / 3.0, 2, 2.0 / 3.0, Some(60_000.0)),
            (0, 0.0, 1, 1.0, None),
        ],
    );

    // A conversion-level step tests conversion rows: V1's order 2 min after its cart.
    let doc = json(
        "funnel",
        &db,
        &[
            "--step",
            "pageTitle==Cart",
            "--step",
            "visitConvertedGoalId==0",
        ],
    );
    assert_steps(
        &doc,
        &[
            (3, 1.0, 0, 0.0, Some(0.0)),
            (1, 1.0 / 3.0, 2, 2.0 / 3.0, Some(120_000.0)),
        ],
    );
}

#[test]
fn one_step_funnels() {
    let (_dir, db) = database(SHOP);
    let doc = json("funnel", &db, &["--step", "pageTitle==Checkout"]);
    assert_steps(&doc, &[(2, 1.0, 0, 0.0, Some(0.0))]);
    // An empty step matches every row: every visit has one.
    let doc = json("funnel", &db, &["--step", ""]);
    assert_steps(&doc, &[(5, 1.0, 0, 0.0, Some(0.0))]);
    assert_eq!(doc["steps"][0]["definition"], "");
}

#[test]
fn visitor_funnel_window_is_inclusive_and_defaults_to_7_days() {
    let (_dir, db) = database(WINDOWS);
    let two = ["--step", "pageUrl==x.org/a", "--step", "pageUrl==x.org/b"];
    let with = |extra: &[&str]| {
        let mut args = two.to_vec();
        args.extend_from_slice(extra);
        json("funnel", &db, &args)
    };
    // p: exactly 7 days; s: 7 days from its second /a; q: 7 days and 1 ms; r: wrong order.
    let doc = with(&["--scope", "visitor"]);
    assert_eq!(doc["scope"], "visitor");
    assert_eq!(doc["windowMs"], WEEK_MS);
    assert_eq!(doc["units"], 4);
    assert_steps(
        &doc,
        &[
            (4, 1.0, 0, 0.0, Some(0.0)),
            (2, 0.5, 2, 0.5, Some(WEEK_MS as f64)),
        ],
    );
    let doc = with(&["--scope", "visitor", "--window", "8d"]);
    assert_steps(
        &doc,
        &[
            (4, 1.0, 0, 0.0, Some(0.0)),
            (3, 0.75, 1, 0.25, Some(WEEK_MS as f64)),
        ],
    );
    let doc = with(&["--scope", "visitor", "--window", "6d"]);
    assert_steps(&doc, &[(4, 1.0, 0, 0.0, Some(0.0)), (0, 0.0, 4, 1.0, None)]);

    // In visit scope every row is its own visit: nobody gets past step 1.
    let doc = with(&[]);
    assert_eq!(doc["units"], 9);
    assert_steps(&doc, &[(5, 1.0, 0, 0.0, Some(0.0)), (0, 0.0, 5, 1.0, None)]);
}

#[test]
fn windows_are_human_durations() {
    let (_dir, db) = database(WINDOWS);
    for (window, ms, reached) in [
        ("7d", WEEK_MS, 2),
        ("168h", WEEK_MS, 2),
        ("1w", WEEK_MS, 2),
        ("2w", 2 * WEEK_MS, 3),
        ("36h", 36 * 3_600_000, 0),
        ("1d12h", 36 * 3_600_000, 0),
        ("90m", 90 * 60_000, 0),
        ("30s", 30_000, 0),
    ] {
        let doc = json(
            "funnel",
            &db,
            &[
                "--scope",
                "visitor",
                "--window",
                window,
                "--step",
                "pageUrl==x.org/a",
                "--step",
                "pageUrl==x.org/b",
            ],
        );
        assert_eq!(doc["windowMs"], ms, "{window}: {doc}");
        assert_eq!(doc["steps"][1]["count"], reached, "{window}: {doc}");
    }
}

#[test]
fn funnel_usage_errors_exit_2() {
    let (_dir, db) = database(SHOP);
    let err = fails(2, &["funnel", "--db", &db]);
    assert!(err.contains("--step"), "{err}");

    let mut args = vec!["funnel", "--db", db.as_str()];
    for _ in 0..33 {
        args.extend_from_slice(&["--step", "pageTitle==Home"]);
    }
    let err = fails(2, &args);
    assert!(err.contains("32"), "{err}");
    // 32 is fine.
    let ok = sightline(&args[..args.len() - 2]);
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));

    for bad in ["soon", "7", "1mo", "--window=-7d"] {
        let mut args = vec!["funnel", "--db", db.as_str(), "--step", HOME];
        if bad.starts_with("--") {
            args.push(bad);
        } else {
            args.extend_from_slice(&["--window", bad]);
        }
        let err = fails(2, &args);
        assert!(err.contains("--window"), "{bad}: {err}");
    }
    let err = fails(
        2,
        &["funnel", "--db", &db, "--step", HOME, "--window", "-7d"],
    );
    assert!(err.contains("negative"), "{err}");

    // A step that does not parse: which step, and the caret under it.
    let err = fails(
        2,
        &[
            "funnel",
            "--db",
            &db,
            "--step",
            HOME,
            "--step",
            "pageUrl=shop.example/cart",
        ],
    );
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("error: step 2"), "{err}");
    assert!(lines[0].contains("invalid segment at byte 7"), "{err}");
    assert_eq!(
        lines[1..],
        ["pageUrl=shop.example/cart", "       ^"],
        "{err}"
    );
    let err = fails(2, &["funnel", "--db", &db, "--step", "contry==fr"]);
    assert!(err.contains("step 1") && err.contains("`country`"), "{err}");
}

#[test]
fn funnel_table_draws_bars_with_rates_drop_offs_and_medians() {
    let (_dir, db) = database(SHOP);
    let out = table(
        "funnel",
        &db,
        &["--step", HOME, "--step", CART, "--step", CHECKOUT],
    );
    let line = |n: &str| {
        out.lines()
            .find(|l| l.starts_with(n))
            .unwrap_or_else(|| panic!("no step {n} in {out}"))
            .to_string()
    };
    let first = line("1 ");
    assert!(first.contains(HOME) && first.contains("100.0 %"), "{out}");
    assert!(first.contains(&"█".repeat(30)), "a full bar: {out}");
    let second = line("2 ");
    assert!(
        second.contains("66.7 %") && second.contains("−1 (33.3 %)"),
        "{out}"
    );
    assert!(second.contains("median 3m 00s"), "{out}");
    assert!(
        second.matches('█').count() == 20,
        "two thirds of the bar: {out}"
    );
    let third = line("3 ");
    assert!(
        third.contains("33.3 %") && third.contains("median 2m 00s"),
        "{out}"
    );
    assert!(out.contains("5 visits"), "{out}");
}

// ---------------------------------------------------------------------------------------
// cohorts

/// (start, size, retained) of each cohort.
fn cohorts(doc: &Value) -> Vec<(String, u64, Vec<u64>)> {
    doc["cohorts"]
        .as_array()
        .unwrap_or_else(|| panic!("no cohorts in {doc}"))
        .iter()
        .map(|c| {
            (
                c["start"].as_str().expect("start").to_string(),
                c["size"].as_u64().expect("size"),
                c["retained"]
                    .as_array()
                    .expect("retained")
                    .iter()
                    .map(|n| n.as_u64().expect("count"))
                    .collect(),
            )
        })
        .collect()
}

fn cohort(start: &str, size: u64, retained: &[u64]) -> (String, u64, Vec<u64>) {
    (start.to_string(), size, retained.to_vec())
}

#[test]
fn weekly_cohorts_start_on_monday() {
    let (_dir, db) = database(COHORTS);
    let doc = json("cohorts", &db, &[]);
    assert_eq!(doc["period"], "week");
    // u2's Sunday visit belongs to the week of Jan 5, its Monday 01:00 visit to the next.
    // The week of Jan 19 has nobody new but lies between two cohorts. Periods after the
    // week of Feb 2 (the latest event) are not shown.
    assert_eq!(
        cohorts(&doc),
        vec![
            cohort("2026-01-05", 2, &[2, 2, 0, 0, 1]),
            cohort("2026-01-12", 1, &[1, 1, 0, 0]),
            cohort("2026-01-19", 0, &[0, 0, 0]),
            cohort("2026-01-26", 1, &[1, 0]),
        ],
        "{doc}"
    );
    let doc = json("cohorts", &db, &["--periods", "2"]);
    assert_eq!(
        cohorts(&doc),
        vec![
            cohort("2026-01-05", 2, &[2, 2]),
            cohort("2026-01-12", 1, &[1, 1]),
            cohort("2026-01-19", 0, &[0, 0]),
            cohort("2026-01-26", 1, &[1, 0]),
        ],
        "{doc}"
    );
    let err = fails(2, &["cohorts", "--db", &db, "--periods", "0"]);
    assert!(err.contains("--periods"), "{err}");
}

#[test]
fn monthly_cohorts() {
    let (_dir, db) = database(COHORTS);
    let doc = json("cohorts", &db, &["--period", "month"]);
    assert_eq!(doc["period"], "month");
    assert_eq!(
        cohorts(&doc),
        vec![cohort("2026-01-01", 4, &[4, 1])],
        "{doc}"
    );
}

#[test]
fn daily_cohorts_end_at_the_range_end() {
    let (_dir, db) = database(COHORTS);
    let doc = json(
        "cohorts",
        &db,
        &[
            "--period",
            "day",
            "--from",
            "2026-01-05",
            "--to",
            "2026-01-12",
        ],
    );
    assert_eq!(doc["period"], "day");
    // u1's visit on the 13th is outside the range; the 12th ends the data.
    assert_eq!(
        cohorts(&doc),
        vec![
            cohort("2026-01-05", 1, &[1, 1, 0, 0, 0, 0, 0, 0]),
            cohort("2026-01-06", 0, &[0; 7]),
            cohort("2026-01-07", 0, &[0; 6]),
            cohort("2026-01-08", 0, &[0; 5]),
            cohort("2026-01-09", 0, &[0; 4]),
            cohort("2026-01-10", 0, &[0; 3]),
            cohort("2026-01-11", 1, &[1, 1]),
            cohort("2026-01-12", 1, &[1]),
        ],
        "{doc}"
    );
    assert_eq!(doc["range"]["end"], "2026-01-13T00:00:00Z");
}

#[test]
fn cohorts_count_visitors_whose_first_visit_is_selected() {
    let (_dir, db) = database(COHORTS);
    // u1 and u2 were new before the 12th: they are in no cohort.
    let doc = json("cohorts", &db, &["--from", "2026-01-12"]);
    assert_eq!(
        cohorts(&doc),
        vec![
            cohort("2026-01-12", 1, &[1, 1, 0, 0]),
            cohort("2026-01-19", 0, &[0, 0, 0]),
            cohort("2026-01-26", 1, &[1, 0]),
        ],
        "{doc}"
    );
    // Only u3 is from Germany; the data still ends with the week of Feb 2.
    let doc = json("cohorts", &db, &["--segment", "countryCode==DE"]);
    assert_eq!(
        cohorts(&doc),
        vec![cohort("2026-01-12", 1, &[1, 1, 0, 0])],
        "{doc}"
    );
    assert_eq!(doc["segment"], "countryCode==DE");
}

#[test]
fn cohort_table_is_a_retention_grid() {
    let (_dir, db) = database(COHORTS);
    let out = table("cohorts", &db, &[]);
    assert!(out.contains("week of"), "{out}");
    let row = |start: &str| {
        out.lines()
            .find(|l| l.contains(start))
            .unwrap_or_else(|| panic!("no {start} row in {out}"))
            .to_string()
    };
    let cells = |line: String| -> Vec<String> {
        line.split('┆')
            .map(|c| {
                c.trim_matches(|ch: char| ch.is_whitespace() || ch == '│')
                    .to_string()
            })
            .collect()
    };
    let first = cells(row("2026-01-05"));
    assert_eq!(
        first,
        ["2026-01-05", "2", "100.0", "100.0", "0.0", "0.0", "50.0"],
        "{out}"
    );
    // Periods not reached yet are blank.
    let last = cells(row("2026-01-26"));
    assert_eq!(
        last,
        ["2026-01-26", "1", "100.0", "0.0", "", "", ""],
        "{out}"
    );

    let out = table("cohorts", &db, &["--period", "month"]);
    assert!(out.contains("2026-01 "), "months shown as YYYY-MM: {out}");
}

// ---------------------------------------------------------------------------------------
// visitor

#[test]
fn visitor_profile_json() {
    let (_dir, db) = database(SHOP);
    let doc = json("visitor", &db, &["a"]);
    assert_eq!(doc["visitorId"], "a");
    assert_eq!(doc["firstVisit"], "2026-01-05T10:00:00Z");
    assert_eq!(doc["lastVisit"], "2026-01-06T09:00:00Z");
    assert_eq!(doc["lastEvent"], "2026-01-06T09:05:00Z");
    assert_eq!(
        doc["totals"],
        json!({"visits": 2, "events": 6, "actions": 5, "conversions": 1, "revenue": 40.0,
               "visitDuration": 480}),
        "{doc}"
    );
    let visits = doc["visits"].as_array().expect("visits");
    assert_eq!(visits.len(), 2, "{doc}");
    let v1 = &visits[0];
    assert_eq!(v1["visitId"], "1767607200000", "assigned: the start in ms");
    assert_eq!(v1["start"], "2026-01-05T10:00:00Z");
    assert_eq!(v1["end"], "2026-01-05T10:03:00Z");
    assert_eq!(v1["duration"], 180);
    assert_eq!(v1["dimensions"]["visitCount"], 1);
    assert_eq!(v1["dimensions"]["visitorType"], "new");
    assert_eq!(
        v1["dimensions"]["countryCode"]
            .as_str()
            .map(str::to_lowercase),
        Some("fr".into())
    );
    let events = v1["events"].as_array().expect("events");
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        ["pageview", "pageview", "pageview", "ecommerceOrder"]
    );
    assert_eq!(events[0]["ts"], "2026-01-05T10:00:00Z");
    assert_eq!(events[0]["pageUrl"], "https://www.shop.example/home");
    assert_eq!(events[0]["pageTitle"], "Home");
    assert_eq!(events[3]["revenue"].as_f64(), Some(40.0));
    let v2 = &visits[1];
    assert_eq!(v2["start"], "2026-01-06T09:00:00Z");
    assert_eq!(v2["duration"], 300);
    assert_eq!(v2["dimensions"]["visitCount"], 2);
    assert_eq!(v2["dimensions"]["visitorType"], "returningCustomer");

    let doc = json("visitor", &db, &["d"]);
    assert_eq!(doc["totals"]["actions"], 0);
    assert_eq!(doc["totals"]["conversions"], 1);
    let goal = &doc["visits"][0]["events"][0];
    assert_eq!(
        (&goal["type"], &goal["goalId"]),
        (&json!("goal"), &json!(1))
    );
    assert_eq!(goal["revenue"].as_f64(), Some(5.0));
}

#[test]
fn unknown_visitor_is_an_error_naming_it() {
    let (_dir, db) = database(SHOP);
    let err = fails(2, &["visitor", "--db", &db, "zed"]);
    assert!(err.starts_with("error: no visitor `zed` in "), "{err}");
    assert!(err.contains(&db), "{err}");
}

#[test]
fn visitor_table_lists_visits_and_their_events() {
    let (_dir, db) = database(SHOP);
    let out = table("visitor", &db, &["a"]);
    let mut lines = out.lines();
    let head = lines.next().expect("header");
    assert!(head.contains("visitor a"), "{out}");
    assert!(
        head.contains("2 visits") && head.contains("6 events"),
        "{out}"
    );
    assert!(head.contains("revenue 40.00"), "{out}");
    assert!(out.contains("visit 1 of 2"), "{out}");
    assert!(out.contains("visit 2 of 2"), "{out}");
    assert!(out.contains("returningCustomer"), "{out}");
    // Events indented, in time order, the order last in the first visit.
    let home = out.find("https://www.shop.example/home").expect("home");
    let order = out.find("ecommerceOrder").expect("order");
    let second = out.find("visit 2 of 2").expect("second visit");
    assert!(home < order && order < second, "{out}");
    let event = out
        .lines()
        .find(|l| l.contains("ecommerceOrder"))
        .expect("order line");
    assert!(event.starts_with("    10:03:00"), "{out}");
    assert!(event.contains("revenue 40"), "{out}");
}

// ---------------------------------------------------------------------------------------
// edge cases

#[test]
fn an_empty_database_gives_empty_answers() {
    let (_dir, db) = database("");
    let doc = json("report", &db, &["--by", "countryCode"]);
    assert_eq!(doc["rows"], json!([]));
    assert_eq!(doc["total"]["visits"], 0);
    let doc = json("report", &db, &["--by", "pageUrl", "--limit", "3"]);
    assert_eq!(doc["rows"], json!([]));

    let doc = json("funnel", &db, &["--step", HOME, "--step", CART]);
    assert_eq!(doc["units"], 0);
    assert_steps(&doc, &[(0, 0.0, 0, 0.0, None), (0, 0.0, 0, 0.0, None)]);
    let doc = json("funnel", &db, &["--scope", "visitor", "--step", HOME]);
    assert_eq!(doc["units"], 0);

    let doc = json("cohorts", &db, &[]);
    assert_eq!(doc["cohorts"], json!([]));

    // No visitor exists: the plain "no visitor" error, no crash.
    let err = fails(2, &["visitor", "--db", &db, "a"]);
    assert!(err.contains("no visitor `a`"), "{err}");

    for args in [
        &["report", "--by", "pageTitle"][..],
        &["funnel", "--step", HOME, "--step", CART],
        &["cohorts", "--period", "day"],
    ] {
        let out = table(args[0], &db, &args[1..]);
        assert!(out.contains("segment: (all visits)"), "{args:?}: {out}");
    }
}

#[test]
fn a_segment_selecting_nothing_gives_empty_answers() {
    let (_dir, db) = database(SHOP);
    fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--segment", "countryCode==zz"]);
        all
    }
    let doc = json("report", &db, &with(&["--by", "pageTitle"]));
    assert_eq!(doc["rows"], json!([]));
    assert_eq!(doc["total"]["visits"], 0);
    assert_eq!(doc["segment"], "countryCode==zz");

    let doc = json("funnel", &db, &with(&["--step", HOME, "--step", CART]));
    assert_eq!(doc["units"], 0);
    assert_steps(&doc, &[(0, 0.0, 0, 0.0, None), (0, 0.0, 0, 0.0, None)]);

    let doc = json("cohorts", &db, &with(&[]));
    assert_eq!(doc["cohorts"], json!([]));

    let out = table("report", &db, &with(&["--by", "countryCode"]));
    assert!(out.contains("0 visits"), "{out}");
    let out = table("funnel", &db, &with(&["--step", HOME]));
    assert!(out.contains("0 visits"), "{out}");
    let out = table("cohorts", &db, &with(&[]));
    assert!(out.contains("no cohorts"), "{out}");
}

#[test]
fn missing_database_is_a_usage_error_for_every_analysis() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let db = s(&missing);
    for args in [
        &["report", "--db", db, "--by", "city"][..],
        &["funnel", "--db", db, "--step", HOME],
        &["cohorts", "--db", db],
        &["visitor", "--db", db, "a"],
    ] {
        let err = fails(2, args);
        assert!(err.contains("no database"), "{args:?}: {err}");
    }
}

#[test]
fn conversion_types_select_orders_goals_and_carts() {
    let carts = format!(
        "{SHOP}{}\n",
        r#"{"ts":"2026-01-09T10:00:00Z","visitorId":"e","type":"ecommerceCart","revenue":12}"#
    );
    let (_dir, db) = database(&carts);
    let visits = |segment: &str| json("query", &db, &[segment])["visits"].clone();
    // V1 has the order, V5 the goal, e's visit the abandoned cart.
    assert_eq!(visits("conversionType==order"), 1);
    assert_eq!(visits("conversionType==Order"), 1);
    assert_eq!(visits("conversionType==goal"), 1);
    assert_eq!(visits("conversionType==cart"), 1);
    assert_eq!(visits("conversionType==order,conversionType==goal"), 2);
    // Negated: visits with no order row (every other visit, those without conversions too).
    assert_eq!(visits("conversionType!=order"), 5);
    // Each an existence test of its own: V1 has an order and a conversion of revenue
    // 40; no visit has both a goal and a conversion of revenue 40.
    assert_eq!(visits("conversionType==order;revenue==40"), 1);
    assert_eq!(visits("conversionType==goal;revenue==40"), 0);

    let doc = json("report", &db, &["--by", "conversionType"]);
    assert_eq!(doc["level"], "conversion");
    let want: Vec<Row> = vec![
        (json!("cart"), 1, 1, 0, 0, 0.0, Some(1)),
        (json!("goal"), 1, 1, 0, 1, 5.0, Some(1)),
        (json!("order"), 1, 1, 3, 1, 40.0, Some(1)),
    ];
    assert_eq!(rows(&doc), want, "{doc}");

    let out = sightline(&["query", "--db", &db, "conversionType==purchase"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains("goal, order, cart"), "{err}");
}
