//! `sightline privacy export` through the real binary, on a small database whose every
//! answer is known by hand: each selector (`--visitor`, `--user-id`, `--segment`), the
//! lines on standard output with the summary on standard error, `--out FILE` (written
//! whole, no temporary file left, the summary on standard output, `--json`), a
//! selector matching nobody (exit 0, nothing written, an empty file), a bad segment (exit 2
//! with a caret), no selector or two (exit 2), a missing database (exit 2), and the
//! file imported back with `sightline import` giving the same visitor profile.

mod common;

use common::{describe, s, sightline, text};
use serde_json::Value;

/// Visitor `a`: two visits (the second from a later commit), `userId` ann on the
/// first; visitor `b`: one visit with `userId` ann, and a goal; visitor `c`: nothing of
/// ann's. So `--user-id ann` exports a (both visits) and b.
const FIRST: &str = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","userId":"ann","countryCode":"fr","pageUrl":"/home"}
{"ts":"2026-01-05T10:01:00Z","visitorId":"a","pageUrl":"/cart","plan":"pro"}
{"ts":"2026-01-06T09:00:00Z","visitorId":"b","userId":"ann","pageUrl":"/home"}
{"ts":"2026-01-06T09:05:00Z","visitorId":"b","type":"goal","goalId":1,"revenue":12.5}
{"ts":"2026-01-06T11:00:00Z","visitorId":"c","countryCode":"de","pageUrl":"/about"}
"#;
const LATER: &str = r#"{"ts":"2026-01-09T08:00:00.5Z","visitorId":"a","pageUrl":"/blog","score":3}
"#;

/// A temporary directory with the database `db` built from [`FIRST`], then [`LATER`].
fn database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, lines) in [("first.jsonl", FIRST), ("later.jsonl", LATER)] {
        let input = dir.path().join(name);
        std::fs::write(&input, lines).expect("write events");
        let out = sightline(&["import", "--db", s(&dir.path().join("db")), s(&input)]);
        assert_eq!(out.status.code(), Some(0), "import: {}", describe(&out));
    }
    dir
}

fn db(dir: &tempfile::TempDir) -> String {
    s(&dir.path().join("db")).to_string()
}

/// The visitor ids of the lines of an export, in order.
fn ids(lines: &str) -> Vec<String> {
    lines
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            row["visitorId"].as_str().expect("visitorId").to_string()
        })
        .collect()
}

/// Runs an export that must succeed; its stdout and stderr.
fn ok(args: &[&str]) -> (String, String) {
    let out = sightline(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    (text(&out.stdout), text(&out.stderr))
}

fn summary(doc: &str) -> (u64, u64, u64) {
    let v: Value = serde_json::from_str(doc.trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {doc}"));
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {doc}"));
    (n("visitors"), n("visits"), n("events"))
}

#[test]
fn each_selector_exports_whole_visitors_to_standard_output() {
    let dir = database();
    let db = db(&dir);
    let (lines, err) = ok(&["privacy", "export", "--db", &db, "--visitor", "a"]);
    assert_eq!(ids(&lines), ["a", "a", "a"]);
    assert_eq!(err.trim(), "exported 1 visitor, 2 visits, 3 events");
    // The later commit's event is there, with its own time and custom value.
    let last: Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(last["ts"], "2026-01-09T08:00:00.5Z");
    assert_eq!(last["score"], 3.0);

    let (lines, err) = ok(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--user-id",
        "ann",
        "--json",
    ]);
    assert_eq!(ids(&lines), ["a", "a", "a", "b", "b"]);
    assert_eq!(summary(&err), (2, 3, 5));

    // Every visit of a visitor with a matching visit: a's second visit has no country.
    let (lines, err) = ok(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--segment",
        "countryCode==FR",
        "--json",
    ]);
    assert_eq!(ids(&lines), ["a", "a", "a"]);
    assert_eq!(summary(&err), (1, 2, 3));

    let (lines, _) = ok(&["privacy", "export", "--db", &db, "-s", "pageUrl==/about"]);
    assert_eq!(ids(&lines), ["c"]);
}

#[test]
fn out_writes_the_file_whole_and_prints_the_summary() {
    let dir = database();
    let db = db(&dir);
    let file = dir.path().join("ann.jsonl");
    let (stdout, _) = ok(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--user-id",
        "ann",
        "--out",
        s(&file),
        "--json",
    ]);
    assert_eq!(summary(&stdout), (2, 3, 5));
    let written = std::fs::read_to_string(&file).expect("the export file");
    assert_eq!(ids(&written), ["a", "a", "a", "b", "b"]);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");

    // Replaces an existing file; the table summary names it.
    let (stdout, _) = ok(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--visitor",
        "c",
        "--out",
        s(&file),
    ]);
    assert_eq!(
        stdout.trim(),
        format!("exported 1 visitor, 1 visit, 1 event to {}", file.display())
    );
    assert_eq!(ids(&std::fs::read_to_string(&file).unwrap()), ["c"]);
}

#[test]
fn the_file_imports_back_as_the_same_visitor() {
    let dir = database();
    let db = db(&dir);
    let file = dir.path().join("a.jsonl");
    ok(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--visitor",
        "a",
        "--out",
        s(&file),
    ]);
    let copy = dir.path().join("copy");
    let out = sightline(&["import", "--db", s(&copy), s(&file)]);
    assert_eq!(out.status.code(), Some(0), "import: {}", describe(&out));
    let profile = |db: &str| {
        let (doc, _) = ok(&["visitor", "--db", db, "a", "--json"]);
        let mut v: Value = serde_json::from_str(&doc).unwrap();
        v.as_object_mut().unwrap().remove("elapsedMs");
        v
    };
    assert_eq!(profile(&db), profile(s(&copy)));
}

#[test]
fn a_selector_matching_nobody_exports_nothing() {
    let dir = database();
    let db = db(&dir);
    let (lines, err) = ok(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--visitor",
        "nobody",
        "--json",
    ]);
    assert_eq!(lines, "");
    assert_eq!(summary(&err), (0, 0, 0));
    let file = dir.path().join("none.jsonl");
    let (stdout, _) = ok(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--user-id",
        "ANN",
        "--out",
        s(&file),
        "--json",
    ]);
    assert_eq!(summary(&stdout), (0, 0, 0));
    assert_eq!(std::fs::read(&file).expect("an empty file"), b"");
}

#[test]
fn a_bad_segment_is_a_usage_error_with_a_caret() {
    let dir = database();
    let db = db(&dir);
    let file = dir.path().join("x.jsonl");
    // An unknown name (caret under its first byte) and a syntax error.
    for (segment, at) in [("contry==fr", 0), ("countryCode=fr", 11)] {
        let out = sightline(&[
            "privacy",
            "export",
            "--db",
            &db,
            "--segment",
            segment,
            "--out",
            s(&file),
        ]);
        assert_eq!(out.status.code(), Some(2), "{segment}: {}", describe(&out));
        let err = text(&out.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert!(
            err.ends_with(&format!("\n{segment}\n{}^\n", " ".repeat(at))),
            "{segment}: the segment with a caret at byte {at}: {err}"
        );
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        assert!(!file.exists(), "{segment}: a file was written");
    }
}

#[test]
fn exactly_one_selector_is_required() {
    let dir = database();
    let db = db(&dir);
    for args in [
        vec!["privacy", "export", "--db", &db],
        vec![
            "privacy",
            "export",
            "--db",
            &db,
            "--visitor",
            "a",
            "--user-id",
            "ann",
        ],
        vec![
            "privacy",
            "export",
            "--db",
            &db,
            "--user-id",
            "ann",
            "--segment",
            "",
        ],
    ] {
        let out = sightline(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", describe(&out));
        let err = text(&out.stderr);
        assert!(
            err.contains("--visitor") && err.contains("--user-id"),
            "{args:?}: the message names the selectors: {err}"
        );
    }
}

#[test]
fn a_missing_database_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = sightline(&["privacy", "export", "--db", s(&missing), "--visitor", "a"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("no database at"),
        "{}",
        describe(&out)
    );
    assert!(!missing.exists(), "the database was created");
}

#[test]
fn a_failed_write_of_standard_output_is_a_runtime_error() {
    let dir = database();
    let db = db(&dir);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = common::bin()
        .args(["privacy", "export", "--db", &db, "--visitor", "a"])
        .stdout(full)
        .output()
        .expect("run the sightline binary");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("cannot write standard output"),
        "{}",
        describe(&out)
    );
}
