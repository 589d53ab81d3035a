//! What a hostile user or a flaky machine does to real `sightline` processes, beyond
//! the crash and corruption suites: tampering with the directory of a running writer
//! (lock files removed, the directory moved away), output that cannot be written (a
//! full disk, a closed pipe), extreme timestamps in every analysis, extreme money, and
//! data that is missing from the directory.
//!
//! A writer is held in the middle of an import by giving it a named pipe as input: it
//! has opened (and locked) its database before it opens the pipe, and it cannot commit
//! before the test writes the rows and closes the pipe.

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, describe, s, sightline, text};
use sightline::{Db, ErrorKind};

const DAY: &str = "2026-01-05";

fn rows(visitors: std::ops::Range<u32>, tag: &str) -> String {
    visitors
        .map(|v| {
            format!(
                "{{\"ts\":\"{DAY}T10:{:02}:00Z\",\"visitorId\":\"{tag}{v}\",\"pageUrl\":\"https://x.org/{tag}\",\"countryCode\":\"fr\"}}\n",
                v % 60
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write input");
    p
}

fn events(db: &Path) -> u64 {
    Db::open_read_only(db)
        .expect("open")
        .snapshot()
        .stats()
        .expect("stats")
        .events
}

fn assert_checks(db: &Path) {
    let out = sightline(&["check", "--db", s(db)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

/// A writer blocked on reading a named pipe: it holds its database open and locked.
struct HeldImport {
    child: Child,
    pipe: File,
}

/// Starts `sightline import --db DB PIPE` and returns once it is reading the pipe
/// (so it has opened and locked the database, which happens before inputs are read).
fn held_import(dir: &Path, db: &Path) -> HeldImport {
    let fifo = dir.join("input.pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    let child = bin()
        .args([
            "import",
            "--db",
            s(db),
            "--format",
            "jsonl",
            "--json",
            s(&fifo),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn import");
    // Opening the write end without blocking fails (ENXIO) until the reader is there.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
        {
            Ok(pipe) => return HeldImport { child, pipe },
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("the import never opened its input: {e}"),
        }
    }
}

impl HeldImport {
    /// Feeds `content`, closes the pipe and waits for the import to end.
    fn finish(mut self, content: &str) -> Output {
        self.pipe
            .write_all(content.as_bytes())
            .expect("write the pipe");
        drop(self.pipe);
        self.child.wait_with_output().expect("wait for the import")
    }
}

#[test]
fn a_second_writer_is_refused_however_the_directory_is_tampered_with() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let first = write(tmp.path(), "first.jsonl", &rows(0..10, "a"));
    let out = sightline(&["import", "--db", s(&db), s(&first)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let held = held_import(tmp.path(), &db);
    let second = write(tmp.path(), "second.jsonl", &rows(0..7, "b"));
    // A lock file of an older build, created and removed; and every file in the
    // directory that is not the database's own removed: nothing lets a second writer in.
    std::fs::write(db.join("LOCK"), b"").unwrap();
    for entry in std::fs::read_dir(&db).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !["MANIFEST-", "part-", "del-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            std::fs::remove_file(db.join(&name)).unwrap();
        }
    }
    let out = sightline(&["import", "--db", s(&db), s(&second)]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("database is locked"),
        "{}",
        describe(&out)
    );

    let done = held.finish(&rows(0..5, "c"));
    assert_eq!(done.status.code(), Some(0), "{}", describe(&done));
    let out = sightline(&["import", "--db", s(&db), s(&second)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(events(&db), 10 + 5 + 7);
    assert_checks(&db);
}

#[test]
fn a_directory_moved_away_during_an_import_keeps_its_commit() {
    for existing in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("db");
        let base = if existing {
            let first = write(tmp.path(), "first.jsonl", &rows(0..10, "a"));
            let out = sightline(&["import", "--db", s(&db), s(&first)]);
            assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
            10
        } else {
            0
        };
        let held = held_import(tmp.path(), &db);
        let moved = tmp.path().join("db_moved");
        std::fs::rename(&db, &moved).unwrap();
        std::fs::create_dir(&db).unwrap();
        let done = held.finish(&rows(0..5, "c"));
        assert_eq!(done.status.code(), Some(0), "{}", describe(&done));
        // The commit went into the directory the writer had opened, wherever it is now,
        // whole: never a manifest in one directory naming parts in the other.
        assert_eq!(events(&moved), base + 5, "existing: {existing}");
        assert_checks(&moved);
        let left: Vec<_> = std::fs::read_dir(&db).unwrap().collect();
        assert!(
            left.is_empty(),
            "the new directory was written into: {left:?}"
        );
        // The new directory is a separate database.
        let other = write(tmp.path(), "other.jsonl", &rows(0..3, "d"));
        let out = sightline(&["import", "--db", s(&db), s(&other)]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert_eq!((events(&db), events(&moved)), (3, base + 5));
    }
}

#[test]
fn a_failed_import_into_a_new_directory_that_was_moved_removes_nothing_at_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let held = held_import(tmp.path(), &db);
    let moved = tmp.path().join("db_moved");
    std::fs::rename(&db, &moved).unwrap();
    std::fs::create_dir(&db).unwrap();
    std::fs::write(db.join("precious.txt"), b"not yours").unwrap();
    let done = held.finish("{\"ts\":1}\n"); // a bad row: the import fails
    assert_eq!(done.status.code(), Some(2), "{}", describe(&done));
    assert_eq!(
        std::fs::read(db.join("precious.txt")).unwrap(),
        b"not yours"
    );
    // What the failed import created, it removed (through the directory it had open).
    assert!(!moved.exists() || std::fs::read_dir(&moved).unwrap().next().is_none());
}

/// A database with a little of everything, for the output tests.
fn small_db(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    let input = dir.join("in.jsonl");
    let out = sightline(&["gen", "--visitors", "50", "--seed", "3", "-o", s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    db
}

fn first_visitor(db: &Path) -> String {
    let snap = Db::open_read_only(db).unwrap().snapshot();
    snap.visits().unwrap()[0].visitor_id.clone()
}

/// Every command that prints, with its arguments.
fn printing_commands(db: &Path) -> Vec<Vec<String>> {
    let d = s(db).to_string();
    let v = first_visitor(db);
    let mut cmds: Vec<Vec<&str>> = vec![
        vec!["stats", "--db", &d],
        vec!["query", "--db", &d, "countryCode==de"],
        vec!["report", "--db", &d, "--by", "pageUrl"],
        vec![
            "funnel",
            "--db",
            &d,
            "--step",
            "pageUrl=@cart",
            "--step",
            "pageUrl=@checkout",
        ],
        vec!["cohorts", "--db", &d, "--period", "day"],
        vec!["visitor", "--db", &d, &v],
        vec!["explain", "--db", &d, "countryCode==de;pageUrl=@cart"],
        vec!["check", "--db", &d],
    ];
    let json: Vec<Vec<&str>> = cmds
        .iter()
        .map(|c| [c.as_slice(), &["--json"]].concat())
        .collect();
    cmds.extend(json);
    cmds.push(vec!["gen", "--visitors", "20", "--seed", "1"]);
    cmds.iter()
        .map(|c| c.iter().map(|a| a.to_string()).collect())
        .collect()
}

#[test]
fn output_to_a_full_disk_is_a_runtime_error_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let db = small_db(tmp.path());
    for args in printing_commands(&db) {
        let out = bin()
            .args(&args)
            .stdout(File::create("/dev/full").expect("/dev/full"))
            .output()
            .unwrap();
        let what = format!("{args:?}: {}", describe(&out));
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(
            text(&out.stderr).contains("cannot write standard output: No space left"),
            "{what}"
        );
        assert!(!text(&out.stderr).contains("panicked"), "{what}");
    }
    // An import is committed before its summary is printed: the summary's failure is a
    // warning, and the status says the import happened (a retry would import twice).
    let more = write(tmp.path(), "more.jsonl", &rows(0..4, "m"));
    let before = events(&db);
    for json in [false, true] {
        let mut args = vec!["import", "--db", s(&db), s(&more)];
        if json {
            args.push("--json");
        }
        let out = bin()
            .args(&args)
            .stdout(File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert!(
            text(&out.stderr).contains("warning: the import was committed"),
            "{}",
            describe(&out)
        );
    }
    assert_eq!(events(&db), before + 8);
    // A REPL script whose answers cannot be written.
    let mut repl = bin()
        .args(["repl", "--db", s(&db)])
        .stdin(Stdio::piped())
        .stdout(File::create("/dev/full").unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    repl.stdin
        .take()
        .unwrap()
        .write_all(b"countryCode==de\n.report pageUrl\n")
        .unwrap();
    let out = repl.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    // Errors whose message cannot be written either.
    let out = bin()
        .args(["query", "--db", s(&db), "contryCode==fr"])
        .stdout(File::create("/dev/full").unwrap())
        .stderr(File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let db = small_db(tmp.path());
    let mut cmds = printing_commands(&db);
    cmds.push(
        ["gen", "--visitors", "200000", "--seed", "1"]
            .map(String::from)
            .to_vec(),
    );
    for args in cmds {
        // The read end is closed before the command writes (its output is lost at once),
        // or after the first bytes of a long output.
        for read_first in [0usize, 100] {
            let mut child = bin()
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let mut buf = vec![0; read_first];
            let _ = stdout.read_exact(&mut buf);
            drop(stdout);
            let out = child.wait_with_output().unwrap();
            let what = format!(
                "{args:?}, closed after {read_first} bytes: {}",
                describe(&out)
            );
            assert_eq!(out.status.code(), Some(0), "{what}");
            assert!(out.stderr.is_empty() || args[0] == "gen", "{what}");
            assert!(!text(&out.stderr).contains("error"), "{what}");
        }
    }
}

/// Runs `sightline ARGS…` with its address space limited to 4 GiB: a command that
/// tried to allocate its way through a huge answer dies instead of taking the machine.
fn bounded(args: &[&str]) -> Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .env_remove("SIGHTLINE_DB")
        .output()
        .expect("run sh")
}

#[test]
fn extreme_timestamps_are_answered_or_refused_in_every_analysis() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    // The first and the last accepted instant, and a visitor at each end.
    let lines = [
        r#"{"ts":"0000-01-01T00:00:00Z","visitorId":"old","pageUrl":"/a","countryCode":"fr","type":"pageview"}"#,
        r#"{"ts":"0000-01-01T00:00:01Z","visitorId":"old","type":"goal","goalId":1,"revenue":3}"#,
        r#"{"ts":"9999-12-30T22:00:00Z","visitorId":"old","pageUrl":"/b"}"#,
        r#"{"ts":-62167219200000,"visitorId":"ms","pageUrl":"/a"}"#,
        r#"{"ts":253402207200000,"visitorId":"ms","pageUrl":"/b"}"#,
        r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"now","pageUrl":"/a"}"#,
    ];
    let input = write(tmp.path(), "extreme.jsonl", &lines.join("\n"));
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // One millisecond past either end is a row error naming the line.
    for (ts, line) in [("-62167219200001", 1), ("253402207200001", 1)] {
        let bad = write(
            tmp.path(),
            "bad.jsonl",
            &format!("{{\"ts\":{ts},\"visitorId\":\"x\"}}\n"),
        );
        let out = sightline(&["import", "--db", s(&db), s(&bad)]);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let want = format!("{}:{line}: ts: {ts} ms is outside", bad.display());
        assert!(text(&out.stderr).contains(&want), "{}", describe(&out));
    }
    let d = s(&db);
    let analyses: Vec<Vec<&str>> = vec![
        vec!["stats", "--db", d, "--json"],
        vec!["query", "--db", d, "--json"],
        vec![
            "query",
            "--db",
            d,
            "--json",
            "--from",
            "0000-01-01",
            "--to",
            "9999-12-31",
        ],
        vec!["query", "--db", d, "--json", "--from", "9999-12-31"],
        vec!["report", "--db", d, "--by", "pageUrl", "--json"],
        vec!["report", "--db", d, "--by", "daysSinceFirstVisit", "--json"],
        vec!["report", "--db", d, "--by", "visitDuration", "--json"],
        vec![
            "funnel",
            "--db",
            d,
            "--step",
            "pageUrl==/a",
            "--step",
            "pageUrl==/b",
            "--json",
        ],
        vec![
            "funnel",
            "--db",
            d,
            "--scope",
            "visitor",
            "--window",
            "3650000d",
            "--step",
            "pageUrl==/a",
            "--step",
            "pageUrl==/b",
            "--json",
        ],
        vec!["cohorts", "--db", d, "--period", "month", "--json"],
        vec!["cohorts", "--db", d, "--period", "week", "--json"],
        vec!["cohorts", "--db", d, "--period", "day", "--json"],
        vec![
            "cohorts",
            "--db",
            d,
            "--period",
            "day",
            "--periods",
            "1000000000",
            "--json",
        ],
        vec![
            "cohorts",
            "--db",
            d,
            "--period",
            "day",
            "--from",
            "2026-01-01",
            "--json",
        ],
        vec!["visitor", "--db", d, "old", "--json"],
        vec!["visitor", "--db", d, "ms", "--json"],
    ];
    let mut refused = 0;
    for args in &analyses {
        let out = bounded(args);
        let what = format!("{args:?}: {}", describe(&out));
        match out.status.code() {
            Some(0) => {
                let doc: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(doc.is_object(), "{what}");
            }
            Some(2) => {
                refused += 1;
                assert!(text(&out.stderr).starts_with("error: "), "{what}");
            }
            _ => panic!("{what}"),
        }
    }
    // Daily cohorts from year 0 to 2026 are too big a table to build (with 12 or a
    // billion periods); weekly (105,000 rows) and monthly ones fit, and so does any
    // period over a sensible range.
    assert_eq!(refused, 2, "only the two huge cohort tables are refused");
    let out = bounded(&["cohorts", "--db", d, "--period", "day"]);
    assert!(
        text(&out.stderr).contains("the cohort table would have"),
        "{}",
        describe(&out)
    );
    // The REPL's analyses too.
    let mut repl = bin()
        .args(["repl", "--db", d])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    repl.stdin
        .take()
        .unwrap()
        .write_all(b".cohorts day 1000000000\n.cohorts month 3\n.report visitDuration\n")
        .unwrap();
    let out = repl.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("line 1: the cohort table would have"),
        "{}",
        describe(&out)
    );
    assert!(
        text(&out.stdout).contains("│ 0000-01 "),
        "{}",
        describe(&out)
    );
}

fn stats_revenue(db: &Path) -> f64 {
    Db::open_read_only(db)
        .unwrap()
        .snapshot()
        .stats()
        .unwrap()
        .revenue
}

fn query_revenue(db: &Path) -> f64 {
    let out = sightline(&["query", "--db", s(db), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["revenue"].as_f64().unwrap()
}

#[test]
fn extreme_money_is_exact_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let goal = |v: &str, minute: u32, revenue: &str| {
        format!(
            "{{\"ts\":\"{DAY}T10:{minute:02}:00Z\",\"visitorId\":\"{v}\",\"type\":\"goal\",\"goalId\":1,\"revenue\":{revenue}}}\n"
        )
    };
    // Beyond a trillion for one row: a row error naming the field.
    let bad = write(tmp.path(), "bad.jsonl", &goal("a", 0, "1e13"));
    let out = sightline(&["import", "--db", s(&db), s(&bad)]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains(":1: revenue: 10000000000000 is out of range"),
        "{}",
        describe(&out)
    );
    // Five visitors at 9e11: exact everywhere.
    let five: String = (0..5).map(|v| goal(&format!("f{v}"), v, "9e11")).collect();
    let input = write(tmp.path(), "five.jsonl", &five);
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stats_revenue(&db), 4.5e12);
    assert_eq!(query_revenue(&db), 4.5e12);
    // Ten visitors at a trillion, and a refund: a part total beyond what 64 bits hold in
    // millionths, still exact.
    let ten: String = (0..10)
        .map(|v| goal(&format!("t{v}"), v, "1e12"))
        .chain(std::iter::once(goal("refund", 1, "-0.25")))
        .collect();
    let input = write(tmp.path(), "ten.jsonl", &ten);
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let want = 4.5e12 + 1e13 - 0.25;
    assert_eq!(stats_revenue(&db), want);
    assert_eq!(query_revenue(&db), want);
    let out = sightline(&["report", "--db", s(&db), "--by", "visitorType", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total: f64 = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revenue"].as_f64().unwrap())
        .sum();
    assert_eq!(total, want, "{doc}");
    // One visit whose conversions sum beyond what a visit holds: the batch is refused,
    // with nothing committed.
    let before = std::fs::read_dir(&db).unwrap().count();
    let huge: String = (0..10).map(|m| goal("one", m, "1e12")).collect();
    let input = write(tmp.path(), "huge.jsonl", &huge);
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("sums its conversions' revenue beyond"),
        "{}",
        describe(&out)
    );
    assert_eq!(stats_revenue(&db), want);
    assert_eq!(std::fs::read_dir(&db).unwrap().count(), before);
    assert_checks(&db);
}

#[test]
fn a_rejected_row_fixes_no_dimension_type() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::create(tmp.path(), Default::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    // `plan` would become a number dimension, but the row is refused (bad type).
    let e = tx
        .append_json(r#"{"ts":1,"visitorId":"a","plan":3,"type":"click"}"#)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    tx.append_json(r#"{"ts":2,"visitorId":"a","plan":"pro"}"#)
        .expect("plan is still free to be a string");
    let mut event = sightline::Event::pageview(3, "b", "/");
    event
        .custom
        .push(("tier".into(), sightline::Value::Num(1.0)));
    event
        .custom
        .push(("pageUrl".into(), sightline::Value::Str("x".into())));
    assert!(tx.append(&event).is_err());
    tx.append_json(r#"{"ts":4,"visitorId":"b","tier":"gold"}"#)
        .expect("tier is still free to be a string");
    tx.commit().unwrap();
    let snap = db.snapshot();
    assert_eq!(
        snap.query("plan==pro;tier==gold", &Default::default())
            .unwrap()
            .visits,
        0
    );
    assert_eq!(
        snap.query("tier==gold", &Default::default())
            .unwrap()
            .visits,
        1
    );
}

#[test]
fn a_missing_part_is_corruption_and_a_missing_database_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    // Enough visitors for a part file of its own (small parts live in the manifest).
    let db = tmp.path().join("db");
    let input = tmp.path().join("in.jsonl");
    let out = sightline(&["gen", "--visitors", "2000", "--seed", "3", "-o", s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = sightline(&["import", "--db", s(&db), s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let part = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("part-")
        })
        .unwrap();
    std::fs::remove_file(&part).unwrap();
    let e = Db::open_read_only(&db).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    for args in [
        vec!["stats", "--db", s(&db)],
        vec!["query", "--db", s(&db)],
        vec!["check", "--db", s(&db)],
        vec!["report", "--db", s(&db), "--by", "country"],
    ] {
        let out = sightline(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", describe(&out));
        assert!(
            text(&out.stderr).contains(part.file_name().unwrap().to_str().unwrap())
                || args[0] == "check"
        );
    }
    // Not a database: a missing path, a file, an empty directory. All usage errors.
    let file = write(tmp.path(), "file.txt", "x");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = tmp.path().join("missing");
    for path in [&missing, &file, &empty] {
        for cmd in ["stats", "query", "check"] {
            let out = sightline(&[cmd, "--db", s(path)]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{cmd} {path:?}: {}",
                describe(&out)
            );
            assert!(
                text(&out.stderr).contains("no database at"),
                "{}",
                describe(&out)
            );
        }
    }
}

#[test]
fn a_failed_first_commit_leaves_no_directory_behind() {
    use sightline::testing::{Fault, FaultError, FaultMode, SimFs};
    // No room for even the first manifest (a full disk, or no inodes left).
    for mode in [FaultMode::Once, FaultMode::Always] {
        let fs = SimFs::new();
        fs.inject(Fault {
            at: 0,
            error: FaultError::NoSpace,
            mode,
        });
        let path = Path::new("/sim/new-db");
        let e = Db::builder()
            .file_system(fs.vfs())
            .options(Default::default())
            .create(path)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        fs.clear_faults();
        let e = Db::builder()
            .file_system(fs.vfs())
            .read_only(true)
            .open(path)
            .unwrap_err();
        assert!(e.to_string().contains("no such directory"), "{mode:?}: {e}");
        Db::builder()
            .file_system(fs.vfs())
            .options(Default::default())
            .create(path)
            .expect("a retry creates it");
    }
}
