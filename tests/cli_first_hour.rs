//! What a first-time user of the `sightline` command line meets, through the real
//! binary: the errors of the first commands (no database, a file as `--db`, a directory
//! that is not a database, an unknown visitor, bad dates), each with its exit status and
//! the words that say what to do; relative dates (`--from yesterday`, `last-week`) with
//! "today" fixed by `$SIGHTLINE_NOW`; the segment as an argument or as `--segment`; and
//! `--format table|json|csv` with `--json` as its synonym, on every command that prints
//! a result. Every expected number is computed by hand from the data below.

use std::process::Output;

use serde_json::Value;

mod common;
use common::{bin, describe, s, sightline, text};

/// Three visits of three visitors (UTC):
///
/// | visitor | start            | country | actions        | conversions      | duration |
/// |---------|------------------|---------|----------------|------------------|----------|
/// | a       | 2026-01-05 10:00 | fr      | /home, /cart   | order 40 @10:02  | 120 s    |
/// | b       | 2026-01-06 12:00 | de      | /home          |                  | 0 s      |
/// | c       | 2026-01-07 08:00 | fr      | /home          | goal 1 5 @08:05  | 300 s    |
///
/// Totals: 3 visits, 3 visitors, 4 actions, 2 conversions, revenue 45, 2 bounces (b and
/// c have one action each), sum of durations 420 s, 2 converted visits (a and c).
const SHOP: &str = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","countryCode":"fr","pageUrl":"https://shop.example/home"}
{"ts":"2026-01-05T10:01:00Z","visitorId":"a","pageUrl":"https://shop.example/cart"}
{"ts":"2026-01-05T10:02:00Z","visitorId":"a","type":"ecommerceOrder","revenue":40}
{"ts":"2026-01-06T12:00:00Z","visitorId":"b","countryCode":"de","pageUrl":"https://shop.example/home"}
{"ts":"2026-01-07T08:00:00Z","visitorId":"c","countryCode":"fr","pageUrl":"https://shop.example/home"}
{"ts":"2026-01-07T08:05:00Z","visitorId":"c","type":"goal","goalId":1,"revenue":5}
"#;

/// A temp dir with SHOP imported as `shop.db`; returns the dir and the database path.
fn shop() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("shop.jsonl");
    std::fs::write(&input, SHOP).expect("write input");
    let db = dir.path().join("shop.db");
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert!(out.status.success(), "{}", describe(&out));
    (dir, s(&db).to_string())
}

/// Asserts the command failed with `code`, and returns its standard error.
fn fails_with(code: i32, out: &Output) -> String {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        describe(out)
    );
    text(&out.stderr)
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}", describe(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

/// The CSV on stdout: header and rows.
fn csv_of(out: &Output) -> (Vec<String>, Vec<Vec<String>>) {
    assert!(out.status.success(), "{}", describe(out));
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let head = r
        .headers()
        .expect("a header row")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("a CSV row").iter().map(String::from).collect())
        .collect();
    (head, rows)
}

/// Runs `sightline ARGS…` with "today" fixed at `now`.
fn at(now: &str, args: &[&str]) -> Output {
    bin()
        .env("SIGHTLINE_NOW", now)
        .args(args)
        .output()
        .expect("run sightline")
}

// ---------------------------------------------------------------------------------------
// no database

/// Every command that reads a database says there is none, where, and how to make one.
#[test]
fn reading_commands_without_a_database_say_how_to_make_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reading: [&[&str]; 10] = [
        &["stats"],
        &["query"],
        &["query", "countryCode==fr"],
        &["report", "--by", "country"],
        &["funnel", "--step", "pageUrl=@cart"],
        &["cohorts"],
        &["visitor", "a"],
        &["check"],
        &["compact"],
        &["repl"],
    ];
    for args in reading {
        // The default: ./sightline.db, in a fresh directory.
        let out = bin()
            .current_dir(dir.path())
            .args(args)
            .output()
            .expect("run");
        let err = fails_with(2, &out);
        for words in [
            "no database at sightline.db",
            "`sightline import --db sightline.db FILE…`",
            "`sightline demo --db sightline.db`",
            "--db DIR",
            "SIGHTLINE_DB",
        ] {
            assert!(err.contains(words), "{args:?}: no {words:?} in {err}");
        }
        // Nothing was created on the way.
        assert!(!dir.path().join("sightline.db").exists(), "{args:?}");
    }
    // explain consults a database only when named.
    let missing = dir.path().join("nope");
    let err = fails_with(2, &sightline(&["explain", "--db", s(&missing), "a==1"]));
    assert!(
        err.contains("no database at") && err.contains("nope"),
        "{err}"
    );
}

#[test]
fn a_file_as_db_is_a_usage_error_saying_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, SHOP).unwrap();
    for args in [
        &["stats", "--db", s(&file)][..],
        &["query", "--db", s(&file)],
        &["report", "--db", s(&file), "--by", "country"],
    ] {
        let err = fails_with(2, &sightline(args));
        assert!(
            err.contains("it is a file, not a database directory") && err.contains(s(&file)),
            "{args:?}: {err}"
        );
        assert!(err.contains("sightline import --db"), "{err}");
    }
    // import into a file is refused before anything is read or written.
    let err = fails_with(2, &sightline(&["import", "--db", s(&file), s(&file)]));
    assert!(
        err.contains("is a file; a database is a directory"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SHOP);
}

#[test]
fn import_refuses_a_directory_of_other_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("shop.jsonl");
    std::fs::write(&input, SHOP).unwrap();
    // The user's own directory, with their files in it.
    let docs = dir.path().join("documents");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("notes.txt"), "mine").unwrap();
    let err = fails_with(2, &sightline(&["import", "--db", s(&docs), s(&input)]));
    for words in [
        "not a sightline database",
        "notes.txt",
        "new or empty directory",
    ] {
        assert!(err.contains(words), "no {words:?} in {err}");
    }
    let names: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["notes.txt"], "the directory was changed");
    // Reading it says it is no database either.
    let err = fails_with(2, &sightline(&["stats", "--db", s(&docs)]));
    assert!(
        err.contains("no database at") && err.contains("no manifest"),
        "{err}"
    );

    // An empty directory, and an existing database, are fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = fails_with(2, &sightline(&["stats", "--db", s(&empty)]));
    assert!(err.contains("the directory is empty"), "{err}");
    for _ in 0..2 {
        let out = sightline(&["import", "--db", s(&empty), s(&input)]);
        assert!(out.status.success(), "{}", describe(&out));
    }
    let doc = json_of(&sightline(&["stats", "--db", s(&empty), "--json"]));
    assert_eq!(doc["events"], 12, "two imports of six events: {doc}");
}

#[test]
fn an_unknown_visitor_is_a_usage_error_naming_it_and_the_database() {
    let (_dir, db) = shop();
    let err = fails_with(2, &sightline(&["visitor", "--db", &db, "nobody"]));
    assert!(
        err.contains(&format!("no visitor `nobody` in {db}")),
        "{err}"
    );
    assert!(
        err.contains("--by visitorId"),
        "says how to list them: {err}"
    );
}

// ---------------------------------------------------------------------------------------
// dates

#[test]
fn bad_dates_get_their_own_message() {
    let (_dir, db) = shop();
    for (arg, date, words) in [
        (
            "--from",
            "2026-02-30",
            "`2026-02-30` is not a date: 2026-02 has days 01 to 28",
        ),
        ("--to", "2026-13-01", "there is no month 13"),
        ("--from", "2026-1-5", "`2026-1-5` is not a date"),
        ("--to", "last-moth", "did you mean `last-month`?"),
        ("--from", "last0", "must be at least 1"),
        ("--from", "lastx", "as in last7"),
        ("--to", "2026-01-05T25:00:00Z", "is not a valid instant"),
    ] {
        let err = fails_with(2, &sightline(&["query", "--db", &db, arg, date]));
        assert!(err.contains(words), "{arg} {date}: no {words:?} in {err}");
        assert!(err.contains(arg), "names the option: {err}");
        // The accepted forms, and nothing of the date library's own wording.
        assert!(
            err.contains("today, yesterday, lastN")
                || err.contains("has days")
                || err.contains("no month"),
            "{date}: {err}"
        );
        assert!(!err.contains("parameter"), "{date}: {err}");
    }
    // The same words in the REPL's .range.
    let mut repl = bin()
        .args(["repl", "--db", &db])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(repl.stdin.as_mut().unwrap(), b".range last-moth today\n").unwrap();
    drop(repl.stdin.take());
    let out = repl.wait_with_output().unwrap();
    let err = fails_with(2, &out);
    assert!(err.contains("did you mean `last-month`?"), "{err}");
}

/// `--from`/`--to` values of relative dates are the same range as the dates they
/// stand for, on the day `$SIGHTLINE_NOW` fixes.
#[test]
fn relative_dates_are_the_days_they_name() {
    let (_dir, db) = shop();
    // (today, from, to, the same in dates, visits selected)
    for (now, from, to, dates, visits) in [
        (
            "2026-01-07",
            "today",
            "today",
            ("2026-01-07", "2026-01-07"),
            1,
        ),
        (
            "2026-01-07T23:59:59Z",
            "yesterday",
            "yesterday",
            ("2026-01-06", "2026-01-06"),
            1,
        ),
        (
            "2026-01-07",
            "last2",
            "last2",
            ("2026-01-06", "2026-01-07"),
            2,
        ),
        (
            "2026-01-07",
            "previous2",
            "previous2",
            ("2026-01-05", "2026-01-06"),
            2,
        ),
        // 2026-01-14 is a Wednesday: last week is Monday 5th to Sunday 11th.
        (
            "2026-01-14",
            "last-week",
            "last-week",
            ("2026-01-05", "2026-01-11"),
            3,
        ),
        (
            "2026-01-07",
            "this-week",
            "this-week",
            ("2026-01-05", "2026-01-11"),
            3,
        ),
        (
            "2026-02-10",
            "last-month",
            "last-month",
            ("2026-01-01", "2026-01-31"),
            3,
        ),
        (
            "2026-01-20",
            "this-month",
            "yesterday",
            ("2026-01-01", "2026-01-19"),
            3,
        ),
        (
            "2027-03-01",
            "last-year",
            "last-year",
            ("2026-01-01", "2026-12-31"),
            3,
        ),
        (
            "2026-01-06",
            "this-year",
            "yesterday",
            ("2026-01-01", "2026-01-05"),
            1,
        ),
    ] {
        let rel = json_of(&at(
            now,
            &["query", "--db", &db, "--from", from, "--to", to, "--json"],
        ));
        let abs = json_of(&sightline(&[
            "query", "--db", &db, "--from", dates.0, "--to", dates.1, "--json",
        ]));
        assert_eq!(rel["range"], abs["range"], "{now}: {from} … {to}");
        assert_eq!(rel["visits"], visits, "{now}: {from} … {to}: {rel}");
        assert_eq!(abs["visits"], visits, "{dates:?}: {abs}");
    }
    // --from alone: from the period's first day on.
    let doc = json_of(&at(
        "2026-01-07",
        &["query", "--db", &db, "--from", "last2", "--json"],
    ));
    assert_eq!(doc["range"]["start"], "2026-01-06T00:00:00Z", "{doc}");
    assert_eq!(doc["range"]["end"], Value::Null, "{doc}");
    // An empty range says which days it resolved to.
    let err = fails_with(
        2,
        &at(
            "2026-01-07",
            &["query", "--db", &db, "--from", "today", "--to", "yesterday"],
        ),
    );
    assert!(
        err.contains("--from 2026-01-07 is after --to 2026-01-06"),
        "{err}"
    );
    // A bad $SIGHTLINE_NOW is reported, not ignored.
    let err = fails_with(2, &at("soon", &["query", "--db", &db, "--from", "today"]));
    assert!(err.contains("SIGHTLINE_NOW"), "{err}");
}

// ---------------------------------------------------------------------------------------
// query

#[test]
fn query_takes_the_segment_as_argument_or_option_not_both() {
    let (_dir, db) = shop();
    let positional = json_of(&sightline(&[
        "query",
        "--db",
        &db,
        "--json",
        "countryCode==fr",
    ]));
    let option = json_of(&sightline(&[
        "query",
        "--db",
        &db,
        "--json",
        "--segment",
        "countryCode==fr",
    ]));
    let short = json_of(&sightline(&[
        "query",
        "--db",
        &db,
        "--json",
        "-s",
        "countryCode==fr",
    ]));
    assert_eq!(positional["visits"], 2, "a and c: {positional}");
    for doc in [&option, &short] {
        assert_eq!(doc["visits"], positional["visits"]);
        assert_eq!(doc["segment"], positional["segment"]);
    }
    let err = fails_with(
        2,
        &sightline(&[
            "query",
            "--db",
            &db,
            "--segment",
            "countryCode==fr",
            "countryCode==de",
        ]),
    );
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn query_json_carries_the_rates_of_the_table() {
    let (_dir, db) = shop();
    let doc = json_of(&sightline(&["query", "--db", &db, "--json"]));
    // The keys of the summary, unchanged…
    for (k, v) in [
        ("visits", 3.0),
        ("visitors", 3.0),
        ("actions", 4.0),
        ("conversions", 2.0),
        ("revenue", 45.0),
        ("bounces", 2.0),
        ("sumVisitDuration", 420.0),
        // …and the rates: 4/3 actions per visit, 2 of 3 visits bounced, 2 of 3
        // converted, 420 s / 3 visits.
        ("convertedVisits", 2.0),
        ("actionsPerVisit", 4.0 / 3.0),
        ("bounceRate", 2.0 / 3.0),
        ("conversionRate", 2.0 / 3.0),
        ("avgVisitDuration", 140.0),
    ] {
        let got = doc[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing: {doc}"));
        assert!((got - v).abs() < 1e-9, "{k}: {got} ≠ {v}");
    }
    // The table shows the same rates.
    let out = sightline(&["query", "--db", &db]);
    let table = text(&out.stdout);
    for row in [
        "66.7 %",
        "1.33",
        "2m 20s",
        "conversion rate",
        "converted visits",
    ] {
        assert!(table.contains(row), "{row}: {table}");
    }
    // No visit selected: the rates are null, not NaN.
    let doc = json_of(&sightline(&[
        "query",
        "--db",
        &db,
        "--json",
        "countryCode==us",
    ]));
    for k in [
        "actionsPerVisit",
        "bounceRate",
        "conversionRate",
        "avgVisitDuration",
    ] {
        assert_eq!(doc[k], Value::Null, "{k}: {doc}");
    }
}

// ---------------------------------------------------------------------------------------
// --format

/// The commands that print a result, each with its arguments (after `--db DB`).
fn printing(db: &str) -> Vec<Vec<String>> {
    let v = |args: &[&str]| -> Vec<String> {
        let mut all = vec![args[0].to_string(), "--db".into(), db.to_string()];
        all.extend(args[1..].iter().map(|a| a.to_string()));
        all
    };
    vec![
        v(&["stats"]),
        v(&["query", "countryCode==fr"]),
        v(&["explain", "countryCode==fr,pageUrl=@cart;visitCount>0"]),
        v(&["report", "--by", "countryCode"]),
        v(&[
            "funnel",
            "--step",
            "pageUrl=@home",
            "--step",
            "pageUrl=@cart",
        ]),
        v(&["cohorts", "--period", "day", "--periods", "3"]),
        v(&["visitor", "a"]),
        v(&["check"]),
        v(&["compact"]),
    ]
}

#[test]
fn json_is_a_synonym_of_format_json_and_conflicts_with_format() {
    let (_dir, db) = shop();
    for args in printing(&db) {
        let run = |extra: &[&str]| {
            let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
            a.extend(extra);
            sightline(&a)
        };
        let strip = |mut v: Value| {
            if let Some(m) = v.as_object_mut() {
                m.remove("elapsedMs");
            }
            v
        };
        let json = strip(json_of(&run(&["--json"])));
        let format = strip(json_of(&run(&["--format", "json"])));
        let output_format = strip(json_of(&run(&["--output-format", "json"])));
        assert_eq!(json, format, "{args:?}");
        assert_eq!(json, output_format, "{args:?}");
        let table = run(&["--format", "table"]);
        assert_eq!(
            table.stdout,
            run(&[]).stdout,
            "{args:?}: table is the default"
        );
        let err = fails_with(2, &run(&["--json", "--format", "csv"]));
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
        let err = fails_with(2, &run(&["--format", "xml"]));
        assert!(err.contains("table, json, csv"), "{args:?}: {err}");
    }
}

#[test]
fn csv_has_a_header_and_one_row_per_table_row() {
    let (_dir, db) = shop();
    let csv = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--db", &db, "--format", "csv"]);
        csv_of(&sightline(&a))
    };
    let (head, rows) = csv(&["stats"]);
    assert_eq!(head[..3], ["events", "visits", "visitors"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][..8],
        [
            "6",
            "3",
            "3",
            "4",
            "2",
            "45",
            "2026-01-05T10:00:00Z",
            "2026-01-07T08:05:00Z"
        ]
    );

    let (head, rows) = csv(&["query", "countryCode==fr"]);
    assert_eq!(
        head,
        [
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
            "avgVisitDuration"
        ]
    );
    // a and c: 3 actions, both converted, c bounced, 420 s.
    assert_eq!(
        rows,
        [[
            "2", "2", "3", "2", "45", "1", "420", "2", "1.5", "0.5", "1", "210"
        ]]
    );

    let (head, rows) = csv(&["report", "--by", "countryCode"]);
    assert_eq!(head[..3], ["countryCode", "visits", "visitsShare"]);
    assert_eq!(head.last().map(String::as_str), Some("others"));
    let firsts: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(firsts, [("fr", "2"), ("de", "1")]);

    let (head, rows) = csv(&[
        "funnel",
        "--step",
        "pageUrl=@home",
        "--step",
        "pageUrl=@cart",
    ]);
    assert_eq!(
        head,
        [
            "step",
            "definition",
            "count",
            "rate",
            "dropOff",
            "dropOffRate",
            "medianTimeMs"
        ]
    );
    // Three visits reach /home, only a goes on to /cart, one minute later.
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][..4], ["1", "pageUrl=@home", "3", "1"]);
    assert_eq!(rows[1][..3], ["2", "pageUrl=@cart", "1"]);
    assert_eq!(rows[1][4], "2", "dropOff");
    assert_eq!(rows[1][6], "60000", "a reached /cart a minute after /home");
    let rate: f64 = rows[1][3].parse().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");

    // Daily cohorts: one new visitor on each of Jan 5, 6, 7; none comes back.
    let (head, rows) = csv(&["cohorts", "--period", "day", "--periods", "3"]);
    assert_eq!(head, ["start", "size", "0", "1", "2"]);
    assert_eq!(
        rows,
        [
            ["2026-01-05", "1", "1", "0", "0"],
            ["2026-01-06", "1", "1", "0", ""],
            ["2026-01-07", "1", "1", "", ""],
        ]
    );

    // The visitor's events, one row each.
    let (head, rows) = csv(&["visitor", "a"]);
    assert_eq!(
        head[..5],
        ["visitId", "visitStart", "ts", "type", "pageUrl"]
    );
    let events: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[3].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("pageview", "https://shop.example/home"),
            ("pageview", "https://shop.example/cart"),
            ("ecommerceOrder", ""),
        ]
    );

    let (head, rows) = csv(&["check"]);
    assert_eq!(
        head,
        ["ok", "generation", "files", "bytes", "problems", "orphans"]
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "true");
    assert_eq!(rows[0][4], "", "no problems");

    let (head, rows) = csv(&["compact"]);
    assert_eq!(head[..2], ["partsBefore", "partsAfter"]);
    assert_eq!(rows[0][..2], ["1", "1"], "one import, one part");

    // One row per condition, with the plan's columns when a database is named.
    let (head, rows) = csv(&["explain", "countryCode==fr,pageUrl=@cart;visitCount>0"]);
    assert_eq!(
        head,
        [
            "group", "name", "op", "value", "level", "method", "rows", "visits"
        ]
    );
    let conds: Vec<&[String]> = rows.iter().map(|r| &r[..5]).collect();
    assert_eq!(
        conds,
        [
            ["1", "countryCode", "==", "fr", "visit"],
            ["1", "pageUrl", "=@", "cart", "action"],
            ["2", "visitCount", ">", "0", "visit"],
        ]
    );
}

#[test]
fn import_prints_its_summary_in_any_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("shop.jsonl");
    std::fs::write(&input, SHOP).unwrap();
    let db = |n: &str| dir.path().join(n);
    let (head, rows) = csv_of(&sightline(&[
        "import",
        "--db",
        s(&db("a")),
        "--output-format",
        "csv",
        s(&input),
    ]));
    assert_eq!(head[..4], ["events", "visits", "visitors", "rejected"]);
    assert_eq!(rows[0][..4], ["6", "3", "3", "0"]);
    let doc = json_of(&sightline(&[
        "import",
        "--db",
        s(&db("b")),
        "--output-format",
        "json",
        s(&input),
    ]));
    assert_eq!(doc["visits"], 3);
    let doc = json_of(&sightline(&[
        "import",
        "--db",
        s(&db("c")),
        "--json",
        s(&input),
    ]));
    assert_eq!(doc["visitors"], 3);
}

/// The visitor ids of a segment, as CSV for a mailing tool.
#[test]
fn the_visitor_ids_of_a_segment_export_as_csv() {
    let (_dir, db) = shop();
    for limit in [&[][..], &["--limit", "0"]] {
        let mut args = vec![
            "report",
            "--db",
            &db,
            "--by",
            "visitorId",
            "--segment",
            "visitConverted==1",
            "--format",
            "csv",
        ];
        args.extend(limit);
        let (head, rows) = csv_of(&sightline(&args));
        assert_eq!(head[0], "visitorId");
        let mut ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["a", "c"], "the converted visitors, {limit:?}");
    }
}

#[test]
fn every_dimension_the_demo_lists_is_one_a_segment_accepts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("demo");
    let out = sightline(&["demo", "--db", s(&db), "--visitors", "60"]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let listed = names_listed(&stdout);
    assert!(listed.len() > 10, "{stdout}");
    for name in listed {
        let seg = format!("{name}!=");
        let out = sightline(&["explain", "--db", s(&db), &seg]);
        assert!(out.status.success(), "{name}: {}", describe(&out));
    }
}

/// The dimension names of the demo's "what the engine holds" list, and of its custom
/// dimensions line.
fn names_listed(stdout: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("dimension "));
    lines.next();
    for line in lines {
        if let Some(custom) = line.strip_prefix("custom dimensions: ") {
            names.extend(
                custom
                    .split(", ")
                    .filter_map(|c| c.split(' ').next())
                    .map(String::from),
            );
            break;
        }
        match line.split_whitespace().next() {
            Some(name) => names.push(name.to_string()),
            None => break,
        }
    }
    names
}

/// `Db::probe`, which the command line's decisions above rest on.
#[test]
fn probe_tells_databases_from_other_directories() {
    use sightline::{Db, DbLocation, DbOptions};
    let dir = tempfile::tempdir().expect("temp dir");
    let at = |name: &str| dir.path().join(name);
    assert_eq!(Db::probe(&at("missing")).unwrap(), DbLocation::Missing);
    std::fs::write(at("file"), "x").unwrap();
    assert_eq!(Db::probe(&at("file")).unwrap(), DbLocation::NotADirectory);
    std::fs::create_dir(at("empty")).unwrap();
    assert_eq!(Db::probe(&at("empty")).unwrap(), DbLocation::Empty);
    // What an interrupted creation or an older version leaves is still "empty".
    std::fs::create_dir(at("leftovers")).unwrap();
    std::fs::write(
        at("leftovers").join("tmp-MANIFEST-00000000000000000000"),
        "",
    )
    .unwrap();
    std::fs::write(at("leftovers").join("LOCK"), "").unwrap();
    assert_eq!(Db::probe(&at("leftovers")).unwrap(), DbLocation::Empty);
    std::fs::create_dir(at("other")).unwrap();
    std::fs::write(at("other").join("notes.txt"), "").unwrap();
    assert_eq!(
        Db::probe(&at("other")).unwrap(),
        DbLocation::Other {
            example: "notes.txt".into()
        }
    );
    drop(Db::create(&at("db"), DbOptions::default()).unwrap());
    assert_eq!(Db::probe(&at("db")).unwrap(), DbLocation::Database);
    // A database directory with a file of the user's in it is still a database.
    std::fs::write(at("db").join("README"), "").unwrap();
    assert_eq!(Db::probe(&at("db")).unwrap(), DbLocation::Database);
}

#[test]
fn same_row_conditions_warn_in_explain_and_query() {
    let (_dir, db) = shop();
    let both = "pageUrl=@/home;pageUrl=@/cart";
    // query: the answer on stdout as usual (no single URL has both: 0 visits), the
    // warning with a caret on stderr.
    let out = sightline(&["query", "--db", &db, "--json", both]);
    assert_eq!(json_of(&out)["visits"], 0);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: `pageUrl=@/home` and `pageUrl=@/cart`"),
        "{err}"
    );
    assert!(err.contains("same action row"), "{err}");
    assert!(
        err.contains("sightline funnel --step 'pageUrl=@/home' --step 'pageUrl=@/cart'"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{both}\n{}^", " ".repeat(15))),
        "{err}"
    );
    // Without the conflict, no warning.
    let out = sightline(&["query", "--db", &db, "pageUrl=@/home,pageUrl=@/cart"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!text(&out.stderr).contains("warning"), "{}", describe(&out));

    // explain, with and without a database: in the tree, and in the document.
    for db_args in [vec![], vec!["--db", db.as_str()]] {
        let mut args = vec!["explain"];
        args.extend(&db_args);
        args.push("pageTitle==Home;pageTitle==Cart");
        let out = sightline(&args);
        assert!(out.status.success(), "{}", describe(&out));
        let tree = text(&out.stdout);
        assert!(
            tree.contains("warning: `pageTitle==Home` and `pageTitle==Cart`"),
            "{tree}"
        );
        assert!(tree.contains("selects no visit"), "{tree}");
        args.insert(1, "--json");
        let doc = json_of(&sightline(&args));
        let w = &doc["warnings"][0];
        assert_eq!(w["offset"], 16, "{doc}");
        assert!(
            w["message"].as_str().unwrap().contains("same action row"),
            "{doc}"
        );
    }
    let doc = json_of(&sightline(&["explain", "--json", "pageUrl=@/cart"]));
    assert_eq!(doc["warnings"], Value::Array(vec![]), "{doc}");
}

#[test]
fn import_warns_about_misspelt_keys() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"ts\":\"2026-01-05T10:00:00Z\",\"visitorId\":\"a\",\"contryCode\":\"fr\"}\n\
         {\"ts\":\"2026-01-05T10:01:00Z\",\"visitorId\":\"a\",\"contryCode\":\"fr\"}\n",
    )
    .unwrap();
    let db = dir.path().join("db");
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("in.jsonl:1: key `contryCode` is not a field; did you mean `countryCode`?"),
        "{err}"
    );
    assert!(err.contains("2 rows"), "{err}");

    let db2 = dir.path().join("db2");
    let doc = json_of(&sightline(&[
        "import",
        "--db",
        s(&db2),
        "--output-format",
        "json",
        s(&input),
    ]));
    let w = &doc["warnings"][0];
    assert_eq!(w["key"], "contryCode", "{doc}");
    assert_eq!(w["didYouMean"], "countryCode", "{doc}");
    assert_eq!(
        (w["line"].as_u64(), w["rows"].as_u64()),
        (Some(1), Some(2)),
        "{doc}"
    );
    assert!(w["file"].as_str().unwrap().ends_with("in.jsonl"), "{doc}");
}
