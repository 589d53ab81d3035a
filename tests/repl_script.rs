//! `sightline repl` fed a script on standard input (no terminal): answers on stdout in
//! table or JSON mode, dot-commands, errors on stderr with the line number and a caret,
//! the exit status of a script, and a concurrent import becoming visible; commands over
//! several lines, `.read`, `.output` and `.maxrows` (which caps only a terminal's
//! tables: `tests/repl_terminal.rs`).

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
.range 2026-01-02 tomorrow
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
        stderr.contains("error: line 11: invalid .range TO `tomorrow`"),
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

#[test]
fn analyses_use_the_session_segment_in_both_modes() {
    let (_dir, db) = database();
    let script = "\
.segment countryCode==fr
.report pageTitle
.funnel pageTitle==Home -> pageTitle==Cart
.cohorts day 3
.visitor a
.segment
.mode json
.report pageTitle 1
.funnel visitor 2d pageTitle==Home -> pageTitle==Cart
.segment off
.cohorts week
.visitor b
.report contry
.funnel pageTitle==Home ->  -> x
.funnel visitor 7x pageTitle==Home
.visitor nobody
.cohorts fortnight
.segment countryCode=fr
.report pageTitle
.funnel visit 1h pageTitle==Home -> pageTitle==Cart
";
    let out = repl(&db, script);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let line = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in {stdout}"))
            .to_string()
    };

    // Table mode, France only (V1 Home+Cart, V2 Home).
    assert!(stdout.starts_with("segment: countryCode==fr\n"), "{stdout}");
    assert!(
        stdout.contains("(segment: countryCode==fr · range: all time)"),
        "{stdout}"
    );
    let home = line("│ Home");
    assert!(home.contains(" 2 ") && home.contains("100.0 %"), "{home}");
    assert!(line("│ Cart").contains("50.0 %"), "{stdout}");
    let step2 = line("2  pageTitle==Cart");
    assert!(
        step2.contains("50.0 %") && step2.contains("median 1m 00s"),
        "{step2}"
    );
    // a is new on Jan 1 and back on Jan 3; the data ends on Jan 5.
    let cohort = line("2026-01-01");
    let cells: Vec<&str> = cohort
        .split('┆')
        .map(|c| c.trim_matches(|ch: char| ch.is_whitespace() || ch == '│'))
        .collect();
    assert_eq!(
        cells,
        ["2026-01-01", "1", "100.0", "0.0", "100.0"],
        "{stdout}"
    );
    assert!(line("visitor a:").contains("2 visits"), "{stdout}");
    assert_eq!(
        stdout.matches("\nsegment: countryCode==fr\n").count(),
        1,
        ".segment shows it: {stdout}"
    );

    // JSON mode: one document per answer.
    let docs = json_lines(&stdout);
    assert_eq!(docs.len(), 6, "{stdout}");
    let report = &docs[0];
    assert_eq!(report["segment"], "countryCode==fr");
    assert_eq!(report["rows"][0]["value"], "Home");
    assert_eq!(
        (&report["rows"][0]["visits"], &report["rows"][0]["hits"]),
        (&2.into(), &2.into())
    );
    assert_eq!(report["rows"][1]["others"], 1, "{report}");
    assert_eq!(report["rows"][1]["visits"], 1, "{report}");
    let funnel = &docs[1];
    assert_eq!(funnel["scope"], "visitor");
    assert_eq!(funnel["windowMs"], 2 * 86_400_000);
    assert_eq!(funnel["units"], 1);
    assert_eq!(funnel["steps"][1]["count"], 1, "{funnel}");
    // Segment off: a is new in the week of Mon Dec 29, b in the week of Jan 5.
    let cohorts = &docs[2];
    assert_eq!(cohorts["period"], "week");
    assert_eq!(
        cohorts["cohorts"],
        serde_json::json!([
            {"start": "2025-12-29", "size": 1, "retained": [1, 0]},
            {"start": "2026-01-05", "size": 1, "retained": [1]}
        ]),
        "{cohorts}"
    );
    assert_eq!(docs[3]["visitorId"], "b");
    assert_eq!(docs[3]["totals"]["visits"], 1);
    assert_eq!(docs[3]["visits"][0]["events"][0]["pageTitle"], "Cart");
    // The bad .segment left it off: every visit again.
    let report = &docs[4];
    assert_eq!(report["segment"], "");
    let titles: Vec<&Value> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| &r["value"])
        .collect();
    assert_eq!(titles, ["Cart", "Home"], "{report}");
    let funnel = &docs[5];
    assert_eq!(
        (&funnel["scope"], &funnel["windowMs"], &funnel["units"]),
        (&"visit".into(), &3_600_000.into(), &3.into())
    );
    assert_eq!(funnel["steps"][0]["count"], 2);
    assert_eq!(funnel["steps"][1]["count"], 1);

    // Errors, with their line numbers.
    for (n, what) in [
        (13, "unknown dimension `contry`"),
        (14, "step 2 of .funnel is empty"),
        (15, "invalid .funnel WINDOW `7x`"),
        (16, "no visitor `nobody`"),
        (17, "invalid .cohorts argument `fortnight`"),
        (18, "invalid segment at byte 11"),
    ] {
        let want = format!("error: line {n}: {what}");
        assert!(stderr.contains(&want), "{want}: {stderr}");
    }
    assert!(
        stderr.contains("\ncountryCode=fr\n           ^\n"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error: ").count(), 6, "{stderr}");
}

#[test]
fn a_trailing_backslash_joins_lines() {
    let (_dir, db) = database();
    // `countryCode==fr` alone: 2 visits; with the cart page: 1. The error names the
    // first line of its command.
    let out = repl(
        &db,
        ".mode json\ncountryCode==fr;\\\npageUrl=@/cart\n.report \\\n\\\nnosuch\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let docs = json_lines(&text(&out.stdout));
    assert_eq!(docs.len(), 1, "{}", describe(&out));
    assert_eq!(docs[0]["segment"], "countryCode==fr;pageUrl=@/cart");
    assert_eq!(docs[0]["visits"], 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 4: unknown dimension `nosuch`"),
        "{stderr}"
    );
}

#[test]
fn read_runs_a_file_and_stops_at_its_first_error() {
    let (dir, db) = database();
    let commands = dir.path().join("commands.txt");
    std::fs::write(
        &commands,
        ".mode json\ncountryCode==fr\n.bogus\ncountryCode==de\n",
    )
    .expect("write commands");
    let script = format!(".read {}\n.all\n.read {0}.missing\n", s(&commands));
    let out = repl(&db, &script);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let docs = json_lines(&text(&out.stdout));
    // fr from the file, then `.all` (the file's `.mode json` holds): never de.
    assert_eq!(docs.len(), 2, "{}", describe(&out));
    assert_eq!(
        (docs[0]["visits"].as_u64(), docs[1]["visits"].as_u64()),
        (Some(2), Some(3))
    );
    let stderr = text(&out.stderr);
    let at = format!("line 1: {}:3: unknown command .bogus", s(&commands));
    assert!(stderr.contains(&at), "{stderr}");
    assert!(stderr.contains("line 3: cannot read"), "{stderr}");
    // A file reading itself is stopped.
    let looping = dir.path().join("loop.txt");
    std::fs::write(&looping, format!(".read {}\n", s(&looping))).expect("write loop");
    let out = repl(&db, &format!(".read {}\n", s(&looping)));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("(a loop?)"),
        "{}",
        describe(&out)
    );
}

#[test]
fn output_sends_answers_to_a_file_in_full() {
    let (dir, db) = database();
    let file = dir.path().join("answers.txt");
    let script = format!(
        ".maxrows 1\n.output {}\n.report pageUrl all\n.mode json\n.all\n.output\ncountryCode==de\n",
        s(&file)
    );
    let out = repl(&db, &script);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let written = std::fs::read_to_string(&file).expect("read the answers");
    // Both pages of the report (no cap but on a terminal), then the summary.
    assert!(written.contains("https://x.org/cart"), "{written}");
    assert!(written.contains("│ https://x.org/ "), "{written}");
    assert_eq!(json_lines(&written)[0]["visits"], 3, "{written}");
    // After `.output` alone, answers are on standard output again.
    let docs = json_lines(&text(&out.stdout));
    assert_eq!(docs.len(), 1, "{}", describe(&out));
    assert_eq!(docs[0]["segment"], "countryCode==de");
    let out = repl(&db, ".maxrows\n.maxrows 0\n.maxrows\n.maxrows -1\n");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("maxrows: 100\nmaxrows: 0 (every row)"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("line 4: invalid .maxrows `-1`"),
        "{}",
        describe(&out)
    );
}

#[test]
fn help_lists_the_analyses() {
    let (_dir, db) = database();
    let out = repl(
        &db,
        ".help\n.report\n.visitor\n.funnel visitor\n.repotr country\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stdout = text(&out.stdout);
    for cmd in [
        ".segment SEGMENT",
        ".report DIM [LIMIT]",
        ".funnel [visit|visitor [WINDOW]]",
        ".cohorts [day|week|month] [N]",
        ".visitor ID",
        ".maxrows N",
        ".output FILE",
        ".read FILE",
        "Ctrl-C stops the command running",
    ] {
        assert!(stdout.contains(cmd), "{cmd}: {stdout}");
    }
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 2: .report needs a dimension"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3: .visitor needs a visitor id"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4: .funnel needs at least one step"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: unknown command .repotr; did you mean .report?"),
        "{stderr}"
    );
}

#[test]
fn memory_reports_the_heap_peak_and_resident_set() {
    let (_dir, db) = database();
    let out = repl(
        &db,
        ".mode json\n.memory\n.report pageUrl all\n.memory\n.mode table\n.memory\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let before: Value = serde_json::from_str(lines[0]).expect("first .memory is JSON");
    let after: Value = serde_json::from_str(lines[2]).expect("second .memory is JSON");
    let peak = |v: &Value| v["heapPeakBytes"].as_u64().expect("heapPeakBytes");
    // The process has allocated something by then (the database handle at least), and
    // the peak never goes down.
    assert!(peak(&before) > 0, "{stdout}");
    assert!(peak(&after) >= peak(&before), "{stdout}");
    if cfg!(target_os = "linux") {
        let rss = after["rssBytes"].as_u64().expect("rssBytes on Linux");
        let rss_peak = after["rssPeakBytes"]
            .as_u64()
            .expect("rssPeakBytes on Linux");
        assert!(rss > 0 && rss_peak >= rss, "{stdout}");
    }
    assert!(stdout.contains("heap peak: "), "{stdout}");
    assert!(stdout.contains("resident: "), "{stdout}");
}

#[test]
fn same_row_conditions_warn_with_what_to_write_instead() {
    let (_dir, db) = database();
    let out = repl(
        &db,
        "pageUrl=@/cart;pageUrl=@/checkout\n.explain pageUrl==a;pageUrl==b\n\
         .mode json\n.explain pageUrl=@/cart;pageUrl=@/home\npageUrl=@/cart\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    // The summary in table mode, preceded by the warning and its caret.
    assert!(
        stdout.contains(
            "warning: `pageUrl=@/cart` and `pageUrl=@/checkout` are tested on the same action row"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("pageUrl=@/cart;pageUrl=@/checkout\n               ^"),
        "{stdout}"
    );
    assert!(stdout.contains("selects no visit"), "{stdout}");
    // JSON mode: the explain document carries them; a plain segment has none.
    let docs = json_lines(&stdout);
    let explain = docs
        .iter()
        .find(|d| d.get("and").is_some())
        .expect("explain doc");
    assert_eq!(explain["warnings"][0]["offset"], 15, "{explain}");
    assert_eq!(stdout.matches("warning:").count(), 2, "{stdout}");
}
