//! `sightline repl` fed a script on standard input (no terminal): answers on stdout in
//! table or JSON mode, dot-commands, errors on stderr with the line number and a caret,
//! the exit status of a script, and a concurrent import becoming visible.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

const EVENTS: &str = r#"{"ts":"2026-01-01T10:00:00Z","visitorId":"a","countryCode":"fr","pageUrl":"https://x.org/","pageTitle":"Home"}
{"ts":"2026-01-01T10:01:00Z","visitorId":"a","pageUrl":"https://x.org/cart","pageTitle":"Cart"}
{"ts":"2026-01-03T09:00:00Z","visitorId":"a","countryCode":"fr","pageUrl":"https://x.org/","pageTitle":"Home"}
{"ts":"2026-01-05T12:00:00Z","visitorId":"b","countryCode":"de","pageUrl":"https://x.org/cart","pageTitle":"Cart"}
"#;

mod common;
use common::{bin, describe, s, text};

fn import(db: &Path, name: &str, events: &str) {
    let input = db.with_file_name(name);
    std::fs::write(&input, events).expect("write events");
    let out = bin()
        .args(["import", "--db", s(db), s(&input)])
        .output()
        .expect("run import");
    assert_eq!(out.status.code(), Some(0), "import: {}", describe(&out));
}

/// A database of three visits (V1 fr cart, V2 fr, V3 de cart) in a temporary directory.
fn database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db");
    import(&db, "events.jsonl", EVENTS);
    (dir, db)
}

/// Runs `sightline repl --db DB` with `script` on standard input.
fn repl(db: &Path, script: &str) -> Output {
    let mut child = bin()
        .args(["repl", "--db", s(db)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn repl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    child.wait_with_output().expect("repl output")
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn a_clean_script_exits_0() {
    let (_dir, db) = database();
    let out = repl(
        &db,
        "# totals, then France\n\n.mode json\n.all\n-- comment\ncountryCode==fr\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    let docs = json_lines(&text(&out.stdout));
    assert_eq!(docs.len(), 2, "{}", describe(&out));
    assert_eq!(
        (docs[0]["visits"].as_u64(), docs[0]["visitors"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(docs[1]["visits"], 2);
    assert_eq!(docs[1]["segment"], "countryCode==fr");
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "only the answers are printed"
    );
}

#[test]
fn the_script_drives_modes_ranges_dialects_and_reports_errors() {
    let (_dir, db) = database();
    let script = "\
countryCode==fr
.timer on
pageUrl=@/cart
countryCode=FR
.bogus
.sceham
.mode json
.range 2026-01-02 2026-01-31
.all
.range
.range 2026-01-02 yesterday
.range off
.all
.explain country==fr;pageUrl=@/cart
.schema
.dialect matomo
pageUrl==https%253A%252F%252Fx.org%252Fcart
.quit
countryCode==fr
";
    let out = repl(&db, script);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);

    // Table mode first: two tables, the second one timed.
    let visits_rows: Vec<&str> = stdout.lines().filter(|l| l.contains(" visits ")).collect();
    assert_eq!(visits_rows.len(), 2, "{stdout}");
    assert!(visits_rows.iter().all(|r| r.contains(" 2 ")), "{stdout}");
    assert_eq!(stdout.matches("time: ").count(), 1, "{stdout}");

    // Errors: line number, reason and caret for the segment; the script went on.
    let caret = "error: line 4: invalid segment at byte 11: ";
    assert!(stderr.contains(caret), "{stderr}");
    assert!(
        stderr.contains("\ncountryCode=FR\n           ^\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: line 5: unknown command .bogus"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean .schema?"), "{stderr}");
    assert!(
        stderr.contains("error: line 11: invalid .range TO `yesterday`"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error: ").count(), 4, "{stderr}");

    // JSON mode: one document per answer, in order; nothing after .quit.
    let docs = json_lines(&stdout);
    assert_eq!(docs.len(), 5, "{stdout}");
    assert_eq!(docs[0]["visits"], 2, "range 2nd to 31st: {}", docs[0]);
    assert_eq!(docs[0]["range"]["end"], "2026-02-01T00:00:00Z");
    assert_eq!(docs[1]["visits"], 3, "range off: {}", docs[1]);
    assert_eq!(docs[2]["plan"]["selected"], 1, "{}", docs[2]);
    assert_eq!(docs[2]["and"][0]["or"][0]["name"], "country");
    let dims = docs[3]["dimensions"].as_array().expect("schema dimensions");
    let device = dims
        .iter()
        .find(|d| d["name"] == "deviceType")
        .expect("deviceType");
    assert_eq!(device["level"], "visit");
    assert_eq!(device["type"], "enum");
    assert!(device["values"].as_array().is_some_and(|v| v.len() == 14));
    assert!(
        dims.iter()
            .any(|d| d["name"] == "pageUrl" && d["level"] == "action")
    );
    assert_eq!(docs[3]["aliases"]["country"], "countryCode");
    assert_eq!(docs[4]["visits"], 2, "matomo dialect: {}", docs[4]);
    assert!(stdout.contains("range: [2026-01-02T00:00:00Z, 2026-02-01T00:00:00Z)"));
}

#[test]
fn schema_and_explain_in_table_mode() {
    let (_dir, db) = database();
    let out = repl(
        &db,
        ".schema\n.explain countryCode==fr,pageUrl=@cart\n.help\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let device = stdout
        .lines()
        .find(|l| l.contains("deviceType"))
        .expect("deviceType row");
    assert!(
        device.contains("visit") && device.contains("enum"),
        "{device}"
    );
    assert!(device.contains("desktop"), "{device}");
    assert!(
        stdout.contains("aliases: country = countryCode"),
        "{stdout}"
    );
    assert!(stdout.contains("└── OR\n"), "{stdout}");
    assert!(stdout.contains("selected: 3"), "{stdout}");
    assert!(stdout.contains(".range FROM TO"), "help: {stdout}");
}

#[test]
fn a_concurrent_import_becomes_visible() {
    let (_dir, db) = database();
    let mut child = bin()
        .args(["repl", "--db", s(&db)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn repl");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    writeln!(stdin, ".mode json").expect("write");
    let mut ask = |line: &str| -> Value {
        writeln!(stdin, "{line}").expect("write line");
        stdin.flush().expect("flush");
        let mut answer = String::new();
        stdout.read_line(&mut answer).expect("read answer");
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("bad answer ({e}): {answer}"))
    };
    assert_eq!(ask(".all")["visits"], 3);
    import(
        &db,
        "more.jsonl",
        r#"{"ts":"2026-01-09T08:00:00Z","visitorId":"c","countryCode":"fr"}"#,
    );
    assert_eq!(ask(".all")["visits"], 4);
    assert_eq!(ask("countryCode==fr")["visitors"], 2);
    drop(stdin); // end of the script
    let out = child.wait_with_output().expect("repl exit");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}
