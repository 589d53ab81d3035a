//! `sightline import` through the real binary: failed imports change nothing,
//! `--skip-invalid` reports, CSV and JSON Lines give the same database, and the JSON Lines
//! reader accepts CRLF, blank lines and a BOM while still counting physical lines.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sightline::CustomType;
use sightline::Db;
use sightline::DimValue;

mod common;
use common::{assert_same_content, describe, dir_content, s, sightline, text};

/// `sightline import --db DB EXTRA… FILES…`.
fn import(db: &Path, extra: &[&str], files: &[&Path]) -> Output {
    let mut args = vec!["import", "--db", s(db)];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(|f| s(f)));
    sightline(&args)
}

/// Imports and insists on success; returns the `--json` document.
fn import_ok(db: &Path, files: &[&Path]) -> Value {
    let out = import(db, &["--json"], files);
    assert_eq!(
        out.status.code(),
        Some(0),
        "import failed: {}",
        describe(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", describe(&out)))
}

fn stats(db: &Path) -> Value {
    let out = sightline(&["stats", "--db", s(db), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stats failed: {}",
        describe(&out)
    );
    serde_json::from_slice(&out.stdout).expect("stats prints JSON")
}

fn events(db: &Path) -> u64 {
    stats(db)["events"].as_u64().expect("events is a number")
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write input file");
    p
}

const CSV_HEADER: &str = "ts,visitorId,pageUrl\n";
const CSV_ROWS: &str = "2026-01-05T10:00:00Z,c1,/a\n1767607260000,c1,/b\n";

const GOOD: [&str; 3] = [
    r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"n1","pageUrl":"/a","plan":"basic"}"#,
    r#"{"ts":"2026-01-05T10:01:00Z","visitorId":"n1","pageUrl":"/b"}"#,
    r#"{"ts":"2026-01-05T10:02:00Z","visitorId":"n2","type":"event","eventCategory":"video"}"#,
];

#[test]
fn a_bad_row_fails_the_import_and_changes_no_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    // Two committed imports (the second rewrites visitor base1; the import's
    // compaction then merges the parts); the first fixes the custom dimension `plan`
    // as a string.
    let base = write(
        tmp.path(),
        "base.jsonl",
        [
            r#"{"ts":"2026-01-04T09:00:00Z","visitorId":"base1","plan":"pro"}"#,
            r#"{"ts":"2026-01-04T09:05:00Z","visitorId":"base2","plan":"free","score":2,"type":"goal","goalId":1,"revenue":5}"#,
        ]
        .join("\n"),
    );
    let more = write(
        tmp.path(),
        "more.jsonl",
        r#"{"ts":"2026-01-04T09:10:00Z","visitorId":"base1","pageUrl":"/x"}"#,
    );
    assert_eq!(import_ok(&db, &[&base])["events"], 2);
    assert_eq!(import_ok(&db, &[&more])["events"], 1);
    let committed = stats(&db);
    assert_eq!(committed["events"], 3);

    let jsonl_with_line4 = |line4: &str| {
        format!(
            "{}\n{}\n{}\n{line4}\n{}\n",
            GOOD[0], GOOD[1], GOOD[2], GOOD[1]
        )
    };
    // (file name, content, is CSV, field named in the error at line 4)
    let cases: Vec<(&str, String, bool, &str)> = vec![
        (
            "missing-visitor.jsonl",
            jsonl_with_line4(r#"{"ts":"2026-01-05T10:03:00Z","pageUrl":"/c"}"#),
            false,
            "visitorId",
        ),
        (
            "invalid-json.jsonl",
            jsonl_with_line4(r#"{"ts":"2026-01-05T10:03:00Z","visitorId":"n3""#),
            false,
            "row",
        ),
        (
            "unknown-type.jsonl",
            jsonl_with_line4(r#"{"ts":"2026-01-05T10:03:00Z","visitorId":"n3","type":"click"}"#),
            false,
            "type",
        ),
        (
            "bad-ts.jsonl",
            jsonl_with_line4(r#"{"ts":"2026-13-45T10:03:00Z","visitorId":"n3"}"#),
            false,
            "ts",
        ),
        (
            "plan-type.jsonl",
            // `plan` is a string since the first import (line 1 of this file agrees).
            jsonl_with_line4(r#"{"ts":"2026-01-05T10:03:00Z","visitorId":"n3","plan":3}"#),
            false,
            "plan",
        ),
        (
            // Not named .csv: `--format csv` decides.
            "ragged.txt",
            format!(
                "{CSV_HEADER}{CSV_ROWS}2026-01-05T10:02:00Z,c2,/c,surplus\n2026-01-05T10:03:00Z,c2,/d\n"
            ),
            true,
            "row",
        ),
        (
            // A quoted cell spanning two lines: the ragged record starts on line 4.
            "ragged-multiline.csv",
            format!(
                "{CSV_HEADER}2026-01-05T10:00:00Z,c1,\"/a\nstill a\"\n2026-01-05T10:02:00Z,c2\n"
            ),
            true,
            "row",
        ),
        (
            // `score` is a number since the first import; CSV cells parse as its type.
            "score-type.csv",
            "ts,visitorId,score\n\
             2026-01-05T10:00:00Z,c1,1\n\
             1767607260000,c1,\n\
             2026-01-05T10:02:00Z,c2,high\n"
                .to_string(),
            true,
            "score",
        ),
    ];

    for (name, content, csv, field) in cases {
        let file = write(tmp.path(), name, &content);
        let (extra, good): (&[&str], PathBuf) = if csv {
            (
                &["--format", "csv"],
                write(
                    tmp.path(),
                    "good-first.csv",
                    format!("{CSV_HEADER}{CSV_ROWS}"),
                ),
            )
        } else {
            (&[], write(tmp.path(), "good-first.jsonl", GOOD.join("\n")))
        };
        let before = dir_content(&db);
        assert!(
            before
                .keys()
                .any(|k| k.to_string_lossy().starts_with("MANIFEST-")),
            "expected a populated database, got {:?}",
            before.keys()
        );
        let out = import(&db, extra, &[&file]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", describe(&out));
        let want = format!("error: {}:4: {field}:", file.display());
        assert!(
            text(&out.stderr).contains(&want),
            "{name}: stderr lacks {want:?}: {}",
            describe(&out)
        );
        assert!(
            out.stdout.is_empty(),
            "{name}: printed a summary: {}",
            describe(&out)
        );
        assert_same_content(&before, &dir_content(&db), name);

        // The same bad file after a good one: still one all-or-nothing commit.
        let out = import(&db, &[extra, &["--json"]].concat(), &[&good, &file]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name} after a good file: {}",
            describe(&out)
        );
        assert!(
            text(&out.stderr).contains(&want),
            "{name}: {}",
            describe(&out)
        );
        assert_same_content(
            &before,
            &dir_content(&db),
            &format!("{name} after a good file"),
        );
    }
    assert_eq!(stats(&db), committed);
}

#[test]
fn skip_invalid_commits_the_good_rows_and_reports_the_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let base = write(
        tmp.path(),
        "base.jsonl",
        r#"{"ts":"2026-01-04T09:00:00Z","visitorId":"base1","plan":"pro"}"#,
    );
    import_ok(&db, &[&base]);
    let before = events(&db);
    assert_eq!(before, 1);

    let good = |i: usize| {
        format!(
            r#"{{"ts":"2026-01-05T10:{i:02}:00Z","visitorId":"s{}","pageUrl":"/p{i}","plan":"x"}}"#,
            i % 4
        )
    };
    // 13 lines: bad rows at lines 4 (no ts), 9 (plan has the wrong type, found only when
    // the parsed batch is merged) and 13 (not JSON).
    let mut lines: Vec<String> = (1..=13).map(good).collect();
    lines[3] = r#"{"visitorId":"s9","pageUrl":"/nots"}"#.into();
    lines[8] = r#"{"ts":"2026-01-05T11:00:00Z","visitorId":"s9","plan":7}"#.into();
    lines[12] = r#"{"ts":"2026-01-05T11:00:00Z","visitorId":"s9""#.into();
    let file = write(tmp.path(), "mixed.jsonl", lines.join("\n") + "\n");
    let expected = [(4, "ts"), (9, "plan"), (13, "row")];

    let out = import(&db, &["--skip-invalid", "--json"], &[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    assert_eq!(doc["events"], 10, "{doc}");
    assert_eq!(doc["rejected"], 3, "{doc}");
    assert_eq!(doc["visitors"], 4, "{doc}");
    let errors: Vec<&str> = doc["errors"]
        .as_array()
        .expect("errors is an array")
        .iter()
        .map(|e| e.as_str().expect("errors are strings"))
        .collect();
    assert_eq!(errors.len(), 3, "{doc}");
    for (err, (line, field)) in errors.iter().zip(expected) {
        let want = format!("{}:{line}: {field}: ", file.display());
        assert!(
            err.starts_with(&want),
            "expected {want:?}…, got {err:?} in {doc}"
        );
    }
    assert_eq!(events(&db), before + 10);

    // The readable form: one summary line; the skipped rows go to stderr.
    let out = import(&db, &["--skip-invalid"], &[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{}", describe(&out));
    assert!(
        stdout.starts_with("imported 10 events,") && stdout.contains("3 rejected"),
        "{}",
        describe(&out)
    );
    let stderr = text(&out.stderr);
    for (line, field) in expected {
        let want = format!("{}:{line}: {field}: ", file.display());
        assert!(
            stderr.contains(&want),
            "stderr lacks {want:?}: {}",
            describe(&out)
        );
    }
    assert_eq!(events(&db), before + 20);
}

#[test]
fn csv_and_jsonl_import_the_same_events() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = write(
        tmp.path(),
        "events.csv",
        "ts,visitorId,type,pageUrl,pageTitle,countryCode,revenue,goalId,basket\n\
         1767607200000,alice,pageview,https://shop.example/a,\"Shoes, red\",fr,,,\n\
         2026-01-05T10:05:00Z,alice,,https://shop.example/b,\"Hats, \"\"blue\"\", big\",,,,2.5\n\
         2026-01-05T10:06:00+01:00,bob,goal,,,de,12.5,3,4\n\
         1767610800000,bob,,https://shop.example/c?q=1,\"multi\nline\",,,,\n\
         2026-01-05T11:30:00.250Z,carol,ecommerceOrder,,,it,99.99,,10\n",
    );
    let jsonl = write(
        tmp.path(),
        "events.jsonl",
        [
            r#"{"ts":1767607200000,"visitorId":"alice","type":"pageview","pageUrl":"https://shop.example/a","pageTitle":"Shoes, red","countryCode":"fr"}"#,
            r#"{"ts":"2026-01-05T10:05:00Z","visitorId":"alice","pageUrl":"https://shop.example/b","pageTitle":"Hats, \"blue\", big","basket":2.5}"#,
            r#"{"ts":"2026-01-05T09:06:00Z","visitorId":"bob","type":"goal","countryCode":"de","revenue":12.5,"goalId":3,"basket":4}"#,
            r#"{"ts":"2026-01-05T11:00:00Z","visitorId":"bob","pageUrl":"https://shop.example/c?q=1","pageTitle":"multi\nline"}"#,
            r#"{"ts":1767612600250,"visitorId":"carol","type":"ecommerceOrder","countryCode":"it","revenue":99.99,"basket":10}"#,
        ]
        .join("\n"),
    );
    let (db_csv, db_json) = (tmp.path().join("csv-db"), tmp.path().join("json-db"));
    let a = import_ok(&db_csv, &[&csv]);
    let b = import_ok(&db_json, &[&jsonl]);
    for k in ["events", "visits", "visitors", "rejected"] {
        assert_eq!(a[k], b[k], "import summary {k}: csv {a} vs jsonl {b}");
    }

    let strip = |mut v: Value| {
        v.as_object_mut().expect("object").remove("bytes");
        v
    };
    let (sa, sb) = (strip(stats(&db_csv)), strip(stats(&db_json)));
    assert_eq!(sa, sb, "stats differ");
    assert_eq!(sa["events"], 5);
    assert_eq!(sa["visitors"], 3);
    // bob: 09:06 and 11:00 are two visits.
    assert_eq!(sa["visits"], 4);
    assert_eq!(sa["conversions"], 2);
    assert_eq!(sa["revenue"], 112.49);
    assert_eq!(sa["firstEvent"], "2026-01-05T09:06:00Z");
    assert_eq!(sa["lastEvent"], "2026-01-05T11:30:00.25Z");

    // Beyond the totals: every visit, dimension and event field is the same.
    let (ra, rb) = (
        Db::open_read_only(&db_csv).unwrap(),
        Db::open_read_only(&db_json).unwrap(),
    );
    let (va, vb) = (
        ra.snapshot().visits().unwrap(),
        rb.snapshot().visits().unwrap(),
    );
    assert_eq!(va.len(), 4);
    assert_eq!(va, vb);
    let titles: Vec<&DimValue> = va
        .iter()
        .flat_map(|v| &v.events)
        .flat_map(|e| &e.fields)
        .filter(|(k, _)| k == "pageTitle")
        .map(|(_, v)| v)
        .collect();
    for want in ["Shoes, red", "Hats, \"blue\", big", "multi\nline"] {
        assert!(
            titles.contains(&&DimValue::Str(want.into())),
            "{want:?} not in {titles:?}"
        );
    }
    let custom = ra.snapshot().custom_dimensions().to_vec();
    assert_eq!(custom.len(), 1, "{custom:?}");
    assert_eq!(
        (custom[0].name.as_str(), custom[0].ty),
        ("basket", CustomType::Number)
    );
    assert_eq!(rb.snapshot().custom_dimensions(), &custom[..]);
}

#[test]
fn jsonl_accepts_crlf_blank_lines_and_a_bom_and_counts_physical_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let row = |min: u32, v: &str| {
        format!(r#"{{"ts":"2026-01-05T10:{min:02}:00Z","visitorId":"{v}","pageUrl":"/{min}"}}"#)
    };
    // Line 1 with a BOM, CRLF everywhere, blank and whitespace-only lines, no final newline.
    let good = format!(
        "\u{feff}{}\r\n\r\n{}\r\n   \r\n\r\n{}\r\n\t\r\n{}",
        row(0, "a"),
        row(1, "a"),
        row(2, "b"),
        row(3, "c")
    );
    let file = write(tmp.path(), "nice.jsonl", &good);
    let doc = import_ok(&db, &[&file]);
    assert_eq!(
        (doc["events"].as_u64(), doc["visitors"].as_u64()),
        (Some(4), Some(3)),
        "{doc}"
    );
    let visits = Db::open_read_only(&db)
        .unwrap()
        .snapshot()
        .visits()
        .unwrap();
    let mut ids: Vec<&str> = visits.iter().map(|v| v.visitor_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["a", "b", "c"],
        "the BOM must not end up in a visitor id"
    );

    // A bad row after blank lines: line 7 counts every physical line.
    let bad = format!(
        "\u{feff}{}\r\n\r\n{}\r\n\r\n   \r\n\r\n{}\r\n{}\r\n",
        row(10, "d"),
        row(11, "d"),
        r#"{"ts":"2026-01-05T10:12:00Z","visitorId":"d","type":"nope"}"#,
        row(13, "d")
    );
    let bad_file = write(tmp.path(), "bad.jsonl", &bad);
    let before = dir_content(&db);
    let out = import(&db, &[], &[&bad_file]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let want = format!("{}:7: type:", bad_file.display());
    assert!(
        text(&out.stderr).contains(&want),
        "stderr lacks {want:?}: {}",
        describe(&out)
    );
    assert_same_content(&before, &dir_content(&db), "bad CRLF file");

    // The same in skip mode reports the same line.
    let out = import(&db, &["--skip-invalid", "--json"], &[&bad_file]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["events"], 3, "{doc}");
    assert_eq!(doc["rejected"], 1, "{doc}");
    let err = doc["errors"][0].as_str().unwrap_or_default();
    assert!(err.starts_with(&want), "{doc}");

    let before = dir_content(&db);
    // Line numbers stay physical across the reader's 4 MiB chunks: ~6 MiB of rows and
    // blank lines, with the bad row far past the first chunk.
    let mut big = String::with_capacity(7 << 20);
    let mut line = 0u64;
    let mut bad_line = 0;
    while big.len() < 6 << 20 {
        line += 1;
        if line.is_multiple_of(5) {
            big.push_str("\r\n");
        } else if big.len() > 5 << 20 && bad_line == 0 {
            bad_line = line;
            big.push_str("{\"ts\":\"not a time\",\"visitorId\":\"z\"}\r\n");
        } else {
            big.push_str(&format!(
                "{{\"ts\":{},\"visitorId\":\"big{}\",\"pageUrl\":\"/x\"}}\r\n",
                1_767_607_200_000u64 + line,
                line % 97
            ));
        }
    }
    let big_file = write(tmp.path(), "big.jsonl", &big);
    let out = import(&db, &[], &[&big_file]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let want = format!("{}:{bad_line}: ts:", big_file.display());
    assert!(
        text(&out.stderr).contains(&want),
        "stderr lacks {want:?}: {}",
        describe(&out)
    );
    assert_same_content(&before, &dir_content(&db), "big bad file");
}
