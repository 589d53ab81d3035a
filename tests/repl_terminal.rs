//! `sightline repl` on a real pseudo-terminal (rexpect): Ctrl-C stops the command
//! running and the REPL answers the next one; at the prompt Ctrl-C clears the line and
//! Ctrl-D leaves with status 0; on the terminal a table shows at most `.maxrows` rows
//! (`.report visitorId all` asks the library for no more) and loses the columns that do
//! not fit the terminal's width, saying so; a command typed over two lines runs whole.
//!
//! The long command is `.report` with `SIGHTLINE_TEST_ENDLESS_REPORT` set, a test-only
//! variable under which it runs again and again until cancelled (and says so when it
//! starts), so Ctrl-C always lands while it runs, however fast the machine. Every wait
//! is for expected output, bounded by rexpect's timeout. Input is sent only once the
//! prompt is back, as a person types (rustyline drops what was typed ahead).

use std::path::{Path, PathBuf};

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

mod common;
use common::{bin, describe, s};

/// Longest wait for expected output (generous: a loaded CI machine).
const TIMEOUT_MS: u64 = 60_000;

/// A generated database of `visitors` visitors in a temporary directory.
fn database(visitors: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = dir.path().join("events.jsonl");
    let db = dir.path().join("db");
    let out = bin()
        .args(["gen", "--visitors", &visitors.to_string(), "-o", s(&events)])
        .output()
        .expect("run gen");
    assert_eq!(out.status.code(), Some(0), "gen: {}", describe(&out));
    let out = bin()
        .args(["import", "--db", s(&db), s(&events)])
        .output()
        .expect("run import");
    assert_eq!(out.status.code(), Some(0), "import: {}", describe(&out));
    (dir, db)
}

/// `sightline repl --db DB` on a terminal, past its banner.
fn repl(dir: &Path, db: &Path, endless_report: bool) -> PtySession {
    let mut cmd = bin();
    cmd.args(["repl", "--db", s(db)])
        .env("TERM", "xterm")
        .env("SIGHTLINE_HISTORY", dir.join("history"));
    if endless_report {
        cmd.env("SIGHTLINE_TEST_ENDLESS_REPORT", "1");
    } else {
        cmd.env_remove("SIGHTLINE_TEST_ENDLESS_REPORT");
    }
    let mut p = spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn the repl on a pty");
    p.exp_string("Type .help for help").expect("the banner");
    prompt(&mut p);
    p
}

const PROMPT: &str = "sightline> ";

/// Waits for the prompt; returns what came before it.
fn prompt(p: &mut PtySession) -> String {
    utf8(&p.exp_string(PROMPT).expect("the prompt"))
}

/// rexpect reads a byte as a char: the text as the terminal shows it (ASCII needles
/// match either way).
fn utf8(read: &str) -> String {
    let bytes: Vec<u8> = read.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Ctrl-D at the prompt: the REPL ends with status 0.
fn leave(mut p: PtySession) {
    p.send_control('d').expect("send Ctrl-D");
    p.exp_eof().expect("the repl ends");
    match p.process().wait().expect("wait for the repl") {
        WaitStatus::Exited(_, code) => assert_eq!(code, 0),
        other => panic!("the repl ended with {other:?}"),
    }
}

#[test]
fn ctrl_c_stops_the_running_command_and_the_repl_goes_on() {
    let (dir, db) = database(300);
    let mut p = repl(dir.path(), &db, true);
    p.send_line(".report visitorId all").expect("send .report");
    p.exp_string("runs until stopped")
        .expect("the endless report started");
    p.send_control('c').expect("send Ctrl-C");
    p.exp_string("cancelled")
        .expect("the note that the command was cancelled");
    prompt(&mut p);
    // The next command is answered: the summary of every visit.
    p.send_line(".all").expect("send .all");
    p.exp_string("visitors").expect("the summary");
    prompt(&mut p);
    // Ctrl-C again: the command stops again (a new token for each command).
    p.send_line(".report pageUrl").expect("send .report");
    p.exp_string("runs until stopped")
        .expect("the endless report started");
    p.send_control('c').expect("send Ctrl-C");
    p.exp_string("cancelled").expect("cancelled again");
    prompt(&mut p);
    // At the prompt Ctrl-C clears the line: the typed text never runs.
    p.send("nosuchdimension==1").expect("type");
    p.flush().expect("flush");
    p.exp_string("nosuchdimension==1").expect("the line shown");
    p.send_control('c').expect("send Ctrl-C");
    prompt(&mut p);
    p.send_line(".maxrows").expect("send .maxrows");
    let before = p.exp_string("maxrows: 100").expect("the REPL answers");
    assert!(!before.contains("unknown dimension"), "{before}");
    prompt(&mut p);
    leave(p);
}

#[test]
fn terminal_tables_are_capped_and_fitted_and_commands_span_lines() {
    let (dir, db) = database(300);
    let mut p = repl(dir.path(), &db, false);
    p.send_line(".maxrows 5").expect("send .maxrows");
    prompt(&mut p);
    p.send_line(".report visitorId all").expect("send .report");
    let table = utf8(
        &p.exp_string("more rows (use .maxrows N")
            .expect("the note of rows left out"),
    );
    // Five rows, then the others row holding every other visitor.
    assert!(table.contains("top 5 of 300 values"), "{table}");
    let rows = table
        .lines()
        .filter(|l| l.starts_with("│ v") && !l.contains("visitorId"));
    assert_eq!(rows.count(), 5, "{table}");
    assert!(table.contains("(others: 295 values)"), "{table}");
    assert!(table.ends_with("… 295 "), "{table}");
    // The pty is 80 characters wide: the report's last column does not fit.
    assert!(
        table.contains("(too wide for the terminal, not shown: revenue)"),
        "{table}"
    );
    let widths = table
        .lines()
        .filter(|l| l.starts_with(['╭', '│', '╞', '╰']));
    assert!(
        widths.map(|l| l.chars().count()).all(|w| w <= 80),
        "{table}"
    );
    prompt(&mut p);
    // A command over two lines (a trailing backslash): `visitCount>0` alone would
    // select every visit, the joined segment none.
    p.send_line("visitCount>0;\\").expect("send the first line");
    p.exp_string("...>").expect("the continuation prompt");
    p.send_line("countryCode==zz")
        .expect("send the second line");
    let summary = prompt(&mut p);
    assert!(summary.contains("visits"), "{summary}");
    assert!(!summary.contains("error"), "{summary}");
    let visits_line = summary
        .lines()
        .find(|l| l.contains("│ visits "))
        .unwrap_or_else(|| panic!("no visits row in {summary}"));
    assert!(visits_line.trim_end().ends_with("0 │"), "{visits_line}");
    leave(p);
}
