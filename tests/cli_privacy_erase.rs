//! `sightline privacy erase`, `purge` and `anonymize` through the real binary, on a small
//! database whose answers are known by hand: the counts (table, `--json`), `--dry-run`,
//! the erased values gone from every file, a selector matching nobody (exit 0, counts 0),
//! a bad segment (exit 2 with a caret), a bad duration or option (exit 2), a missing
//! database (exit 2) and a locked one (exit 4).

mod common;

use common::{bin, describe, s, sightline, text};
use serde_json::Value;

/// Visitor `a` (ann, from France, two visits: 5 and 9 January), `b` (ann too, one
/// visit with a goal, 6 January), `c` (one visit from Germany, 6 January, IP and city).
const EVENTS: &str = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","userId":"ann@example.org","countryCode":"fr","pageUrl":"/home"}
{"ts":"2026-01-05T10:01:00Z","visitorId":"a","pageUrl":"/cart","plan":"pro"}
{"ts":"2026-01-06T09:00:00Z","visitorId":"b","userId":"ann@example.org","pageUrl":"/home"}
{"ts":"2026-01-06T09:05:00Z","visitorId":"b","type":"goal","goalId":1,"revenue":12.5}
{"ts":"2026-01-06T11:00:00Z","visitorId":"c","countryCode":"de","city":"Heidelberg","ip":"203.0.113.77","pageUrl":"/about"}
{"ts":"2026-01-09T08:00:00Z","visitorId":"a","pageUrl":"/blog"}
"#;

fn database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, EVENTS).expect("write events");
    let out = sightline(&["import", "--db", s(&dir.path().join("db")), s(&input)]);
    assert_eq!(out.status.code(), Some(0), "import: {}", describe(&out));
    dir
}

fn db(dir: &tempfile::TempDir) -> String {
    s(&dir.path().join("db")).to_string()
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = sightline(args);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn json_ok(args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, Some(0), "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{stdout}: {e}"))
}

fn counts(v: &Value) -> (u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    (n("visitors"), n("visits"), n("events"))
}

/// Every byte of every file of the database directory.
fn files_hold(dir: &tempfile::TempDir, needle: &str) -> bool {
    std::fs::read_dir(dir.path().join("db"))
        .expect("db dir")
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

#[test]
fn erase_by_user_id_counts_and_removes_every_byte() {
    let dir = database();
    let db = db(&dir);
    assert!(files_hold(&dir, "ann@example.org"));
    let dry = json_ok(&[
        "privacy",
        "erase",
        "--db",
        &db,
        "--user-id",
        "ann@example.org",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(counts(&dry), (2, 3, 5));
    assert_eq!(dry["dryRun"], true);
    assert!(
        files_hold(&dir, "ann@example.org"),
        "a dry run erases nothing"
    );

    let (code, stdout, stderr) = run(&[
        "privacy",
        "erase",
        "--db",
        &db,
        "--user-id",
        "ann@example.org",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("erased 2 visitors, 3 visits, 5 events: 1 part rewritten"),
        "{stdout}"
    );
    assert!(!files_hold(&dir, "ann@example.org"));
    assert!(!files_hold(&dir, "/cart"));

    let q = json_ok(&["query", "--db", &db, "", "--json"]);
    assert_eq!(
        (q["visits"].as_u64(), q["visitors"].as_u64()),
        (Some(1), Some(1)),
        "{q}"
    );
    let (code, _, stderr) = run(&["visitor", "--db", &db, "a"]);
    assert_eq!(code, Some(2), "an erased visitor is unknown: {stderr}");
    assert!(stderr.contains("a"), "{stderr}");
    let (code, _, stderr) = run(&["visitor", "--db", &db, "c"]);
    assert_eq!(code, Some(0), "c is still there: {stderr}");
    let (code, _, stderr) = run(&["check", "--db", &db]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn an_erasure_matching_nobody_succeeds_with_zero_counts() {
    let dir = database();
    let db = db(&dir);
    let v = json_ok(&[
        "privacy",
        "erase",
        "--db",
        &db,
        "--visitor",
        "nobody",
        "--json",
    ]);
    assert_eq!(counts(&v), (0, 0, 0));
    assert_eq!(v["partsRewritten"], 0);
    let (code, stdout, _) = run(&[
        "privacy",
        "erase",
        "--db",
        &db,
        "--segment",
        "countryCode==jp",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout.trim(),
        "erased 0 visitors, 0 visits, 0 events: nothing to rewrite"
    );
}

#[test]
fn erase_errors_have_their_exit_codes() {
    let dir = database();
    let db = db(&dir);
    let (code, _, stderr) = run(&[
        "privacy",
        "erase",
        "--db",
        &db,
        "--segment",
        "countryCode=!fr",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains('^'), "a caret under the error: {stderr}");
    let (code, _, stderr) = run(&["privacy", "erase", "--db", &db]);
    assert_eq!(code, Some(2), "no selector: {stderr}");
    let (code, _, stderr) = run(&[
        "privacy",
        "erase",
        "--db",
        &db,
        "--visitor",
        "a",
        "--user-id",
        "x",
    ]);
    assert_eq!(code, Some(2), "two selectors: {stderr}");
    let missing = dir.path().join("none");
    let (code, _, stderr) = run(&["privacy", "erase", "--db", s(&missing), "--visitor", "a"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!missing.exists(), "erase creates no database");

    // Another process holds the writer lock: exit 4, nothing erased.
    let holder = sightline::Db::open(&dir.path().join("db")).expect("open");
    let (code, _, stderr) = run(&["privacy", "erase", "--db", &db, "--visitor", "a"]);
    assert_eq!(code, Some(4), "{stderr}");
    drop(holder);
    assert!(files_hold(&dir, "/cart"));
}

#[test]
fn purge_older_than_counts_days_back_from_today() {
    let dir = database();
    let db = db(&dir);
    // Today is 15 January: 8 days back is the start of 7 January.
    let purge = |extra: &[&str]| {
        let mut args = vec!["privacy", "purge", "--db", db.as_str()];
        args.extend_from_slice(extra);
        let out = bin()
            .args(&args)
            .env("SIGHTLINE_NOW", "2026-01-15")
            .output()
            .expect("run");
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, stderr) = purge(&["--older-than", "8d", "--dry-run", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(counts(&v), (3, 3, 5));
    let (code, stdout, stderr) = purge(&["--older-than", "8d"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("purged 3 visitors, 3 visits, 5 events"),
        "{stdout}"
    );
    assert!(!files_hold(&dir, "Heidelberg"));
    assert!(!files_hold(&dir, "/cart"));
    // a's visit of 9 January stays, and still counts the purged one.
    let v = json_ok(&["query", "--db", &db, "visitCount==2", "--json"]);
    assert_eq!(v["visits"].as_u64(), Some(1), "{v}");
    let v = json_ok(&["query", "--db", &db, "", "--json"]);
    assert_eq!(v["visits"].as_u64(), Some(1), "{v}");

    for bad in ["8", "8x", "d", "-3d"] {
        let (code, _, stderr) = purge(&["--older-than", bad]);
        assert_eq!(code, Some(2), "{bad}: {stderr}");
    }
    let (code, _, stderr) = purge(&[]);
    assert_eq!(code, Some(2), "no cut-off: {stderr}");
}

#[test]
fn purge_before_a_date() {
    let dir = database();
    let db = db(&dir);
    let v = json_ok(&[
        "privacy",
        "purge",
        "--db",
        &db,
        "--before",
        "2026-01-06",
        "--json",
    ]);
    assert_eq!(counts(&v), (1, 1, 2));
    let v = json_ok(&["query", "--db", &db, "", "--json"]);
    assert_eq!(v["visits"].as_u64(), Some(3), "{v}");
}

#[test]
fn anonymize_masks_ips_and_clears_locations_in_place() {
    let dir = database();
    let db = db(&dir);
    let v = json_ok(&[
        "privacy",
        "anonymize",
        "--db",
        &db,
        "--ip",
        "2",
        "--location",
        "--segment",
        "countryCode==de",
        "--json",
    ]);
    assert_eq!(counts(&v), (1, 1, 1));
    assert!(!files_hold(&dir, "203.0.113.77"));
    assert!(!files_hold(&dir, "Heidelberg"));
    let q = json_ok(&["query", "--db", &db, "ip==203.0.0.0", "--json"]);
    assert_eq!(q["visits"].as_u64(), Some(1), "{q}");
    let q = json_ok(&["query", "--db", &db, "city!=", "--json"]);
    assert_eq!(q["visits"].as_u64(), Some(0), "{q}");
    // Everything else is as it was.
    let q = json_ok(&["query", "--db", &db, "", "--json"]);
    assert_eq!(q["visits"].as_u64(), Some(4), "{q}");

    let (code, _, stderr) = run(&["privacy", "anonymize", "--db", &db]);
    assert_eq!(code, Some(2), "nothing to do: {stderr}");
    let (code, _, stderr) = run(&["privacy", "anonymize", "--db", &db, "--ip", "5"]);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn setting_a_retention_purges_at_once_and_the_log_records_it() {
    let dir = database();
    let db = db(&dir);
    let out = bin()
        .args([
            "privacy",
            "settings",
            "--db",
            &db,
            "--retention-days",
            "8",
            "--json",
        ])
        .env("SIGHTLINE_NOW", "2026-01-15T12:00:00Z")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("retention: purged 3 visitors, 3 visits, 5 events"),
        "{}",
        describe(&out)
    );
    let v: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(v["retentionDays"], 8);
    assert!(!files_hold(&dir, "Heidelberg"));
    let q = json_ok(&["query", "--db", &db, "", "--json"]);
    assert_eq!(q["visits"].as_u64(), Some(1), "{q}");

    json_ok(&["privacy", "erase", "--db", &db, "--visitor", "a", "--json"]);
    let (code, stdout, stderr) = run(&["privacy", "log", "--db", &db, "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    for action in ["\"settings\"", "\"purge\"", "\"erase\""] {
        assert!(stdout.contains(action), "{action} in {stdout}");
    }
}
