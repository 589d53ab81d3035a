//! Compaction and appends.
//!
//! - **Answers unchanged** (proptest against the same events imported in one commit
//!   and against the scan oracle): random events committed in random batches (returning
//!   visitors, so deletion sets), then compacted fully or by the automatic policy,
//!   interleaved with further commits: every visit, the totals and random segments
//!   equal the single import's, the engine agrees with the oracle, a snapshot taken
//!   before the compaction still answers as before, `check` passes.
//! - **Concurrency**: commits, compactions and readers at once in one process, and a
//!   reader process holding an old snapshot while the writer replaces the files under
//!   it.
//! - **Appends**: group commit across threads, commits by event count and by time,
//!   close, and a failed commit reported to every caller whose events it held.
//! - **The CLI**: `sightline compact --json`; a file of an unknown format version
//!   exits 3 with "format version N; this build reads …".
//!
//! Set `COMPACTION_SEED` / `COMPACTION_CASES` to explore other cases (default 48).

#[path = "common/random_events.rs"]
mod random_events;
#[path = "common/random_segments.rs"]
mod random_segments;
#[path = "common/seeded.rs"]
mod seeded;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use random_events::visitors;
use random_segments::{condition, segments};
use sightline::testing::{Fault, FaultError, FaultMode, SimFs, scan};
use sightline::{
    AppendOptions, Db, DbOptions, Dialect, ErrorKind, Event, OrGroup, Segment, TimeRange,
    VisitRecord,
};

fn config() -> ProptestConfig {
    seeded::config(
        "compaction",
        "COMPACTION_SEED",
        seeded::env_or("COMPACTION_SEED", 0xC0_4AC7),
        seeded::env_or("COMPACTION_CASES", 48),
    )
}

/// Every visit, sorted (the order of parts is not part of the answer).
fn visits(db: &Db) -> Vec<VisitRecord> {
    let mut v = db.snapshot().visits().unwrap();
    v.sort_by(|a, b| {
        (&a.visitor_id, a.start, &a.visit_id).cmp(&(&b.visitor_id, b.start, &b.visit_id))
    });
    v
}

/// Totals without the layout (parts, bytes, generation).
fn totals(db: &Db) -> sightline::Stats {
    let mut s = db.snapshot().stats().unwrap();
    (s.parts, s.bytes, s.generation) = (0, 0, 0);
    s
}

fn commit_lines(db: &Db, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let mut tx = db.begin_write().unwrap();
    for l in lines {
        tx.append_json(l).unwrap();
    }
    tx.commit().unwrap();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn compaction_changes_no_answer(
        visitors in visitors(),
        batches in 2usize..=6,
        shuffle in any::<u64>(),
        full in any::<bool>(),
        compact_after in 1usize..=5,
        segs in segments(),
    ) {
        let (lines, _) = random_events::json_batches(&visitors, batches, &[], shuffle);
        let all: Vec<String> = lines.concat();
        let dir = tempfile::tempdir().unwrap();
        let reference = Db::create(&dir.path().join("one"), DbOptions::default()).unwrap();
        commit_lines(&reference, &all);

        let db = Db::builder().auto_compact(false).create(&dir.path().join("many")).unwrap();
        let mut old = None;
        for (i, batch) in lines.iter().enumerate() {
            commit_lines(&db, batch);
            if i + 1 == compact_after.min(lines.len()) {
                let before = (db.snapshot(), visits(&db), totals(&db));
                let c = if full { db.compact() } else { db.compact_as_needed() }.unwrap();
                prop_assert!(c.parts_after <= c.parts_before, "{c:?}");
                if full {
                    // Only clean full parts may stay apart.
                    prop_assert!(c.parts_after <= 1, "{c:?}");
                }
                prop_assert_eq!(&visits(&db), &before.1);
                prop_assert_eq!(&totals(&db), &before.2);
                old = Some(before);
            }
        }
        let c = db.compact().unwrap();
        prop_assert_eq!(c.parts_after, u64::from(!all.is_empty()));
        prop_assert_eq!(visits(&db), visits(&reference));
        prop_assert_eq!(totals(&db), totals(&reference));
        // A snapshot from before the first compaction answers as it did.
        if let Some((snap, vis, _)) = old {
            let mut again = snap.visits().unwrap();
            again.sort_by(|a, b| (&a.visitor_id, a.start, &a.visit_id).cmp(&(&b.visitor_id, b.start, &b.visit_id)));
            prop_assert_eq!(again, vis);
        }
        let snap = db.snapshot();
        let ref_snap = reference.snapshot();
        let starts: Vec<i64> = visits(&db).iter().map(|v| v.start).collect();
        for (groups, _) in &segs {
            let text = Segment {
                groups: groups
                    .iter()
                    .map(|g| OrGroup {
                        conditions: g.iter().map(|c| condition(*c, &starts).0).collect(),
                    })
                    .collect(),
            }
            .to_string();
            let (Ok(c), Ok(rc)) = (snap.compile(&text, Dialect::Default), ref_snap.compile(&text, Dialect::Default)) else {
                continue;
            };
            let got = snap.summarize(&snap.select(&c, &TimeRange::ALL).unwrap()).unwrap();
            prop_assert_eq!(&got, &ref_snap.summarize(&ref_snap.select(&rc, &TimeRange::ALL).unwrap()).unwrap(), "{}", text);
            prop_assert_eq!(&got, &scan::summary(&snap, &c, &TimeRange::ALL).unwrap(), "{}", text);
        }
        // Files kept for the old snapshot are removed by the next compaction.
        drop(snap);
        let report = sightline::check(&dir.path().join("many")).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report);
        db.compact().unwrap();
        let report = sightline::check(&dir.path().join("many")).unwrap();
        prop_assert!(report.is_ok() && report.orphans.is_empty(), "{:?}", report);
    }
}

/// Visitors enough for a part larger than the inline limit (a file of its own).
const BIG: usize = 40_000;

/// Page views of visitors `from..to` at minute `minute` (a visitor seen again later
/// is rewritten by the commit that brings its new events).
fn pageviews(from: usize, to: usize, minute: i64) -> Vec<Event> {
    (from..to)
        .map(|v| {
            let ts = random_events::BASE_MS + minute * 60_000 + v as i64;
            let mut e = Event::pageview(
                ts,
                &format!("v{v}"),
                &format!("https://shop.example/{minute}"),
            );
            e.country_code = Some(["fr", "de", "us"][v % 3].into());
            e
        })
        .collect()
}

/// Commits in one thread, compactions (full and by policy) in another and queries in a
/// third, all at once: the readers always see whole commits, and the end state equals
/// the same events committed in one go.
#[test]
fn commits_compactions_and_readers_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(&dir.path().join("db"), DbOptions::default()).unwrap();
    let done = AtomicBool::new(false);
    let rounds = 120;
    std::thread::scope(|s| {
        s.spawn(|| {
            for r in 0..rounds {
                // 10 visitors per commit, half of them returning.
                let mut tx = db.begin_write().unwrap();
                for e in pageviews(r * 5, r * 5 + 10, r as i64) {
                    tx.append(&e).unwrap();
                }
                tx.commit().unwrap();
            }
            done.store(true, Ordering::SeqCst);
        });
        s.spawn(|| {
            let mut full = false;
            while !done.load(Ordering::SeqCst) {
                let c = if full {
                    db.compact()
                } else {
                    db.compact_as_needed()
                };
                c.unwrap();
                full = !full;
            }
        });
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                let snap = db.snapshot();
                let stats = snap.stats().unwrap();
                // Every commit adds 10 events.
                assert_eq!(stats.events % 10, 0, "{stats:?}");
                let q = snap.query("countryCode==fr", &TimeRange::ALL).unwrap();
                assert!(q.visits <= stats.visits);
            }
        });
    });
    let reference = Db::create(&dir.path().join("one"), DbOptions::default()).unwrap();
    let mut tx = reference.begin_write().unwrap();
    for r in 0..rounds {
        for e in pageviews(r * 5, r * 5 + 10, r as i64) {
            tx.append(&e).unwrap();
        }
    }
    tx.commit().unwrap();
    assert_eq!(visits(&db), visits(&reference));
    assert_eq!(totals(&db), totals(&reference));
    assert!(sightline::check(&dir.path().join("db")).unwrap().is_ok());
}

/// A snapshot of this process keeps the part files it maps: a compaction that
/// replaces them leaves them until the snapshot goes, and a later clean-up removes
/// them.
#[test]
fn files_a_snapshot_uses_outlive_the_compaction_that_replaced_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    // A part large enough for a file of its own, then small commits.
    let mut tx = db.begin_write().unwrap();
    for e in pageviews(0, BIG, 0) {
        tx.append(&e).unwrap();
    }
    tx.commit().unwrap();
    let part_files = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("part-"))
            .collect();
        v.sort();
        v
    };
    let first = part_files();
    assert_eq!(first.len(), 1, "{first:?}");
    for m in 1..4 {
        let mut tx = db.begin_write().unwrap();
        for e in pageviews(0, 100, m) {
            tx.append(&e).unwrap();
        }
        tx.commit().unwrap();
    }
    let old = db.snapshot();
    let before = (
        old.stats().unwrap(),
        old.query("countryCode==de", &TimeRange::ALL).unwrap(),
    );
    db.compact().unwrap();
    assert!(
        part_files().contains(&first[0]),
        "a file the old snapshot maps was removed"
    );
    assert_eq!(
        (
            old.stats().unwrap(),
            old.query("countryCode==de", &TimeRange::ALL).unwrap()
        ),
        before
    );
    drop(old);
    // The next clean-up (after a commit) removes it.
    let mut tx = db.begin_write().unwrap();
    tx.append(&pageviews(9000, 9001, 9)[0]).unwrap();
    tx.commit().unwrap();
    assert!(!part_files().contains(&first[0]), "{:?}", part_files());
    assert!(sightline::check(dir.path()).unwrap().is_ok());
}

const CHILD_ENV: &str = "SIGHTLINE_TEST_READER_CHILD";

/// The reader process: takes a snapshot, prints its answers, then on each line of
/// stdin prints them again — from the same snapshot (`again`) or a fresh one
/// (`refresh`).
fn reader_child(dir: &str) {
    let db = Db::open_read_only(Path::new(dir)).unwrap();
    let mut snap = db.snapshot();
    let answer = |snap: &sightline::Snapshot| {
        let s = snap.stats().unwrap();
        let q = snap.query("countryCode==de", &TimeRange::ALL).unwrap();
        let mut v = snap.visits().unwrap();
        v.sort_by(|a, b| (&a.visitor_id, a.start).cmp(&(&b.visitor_id, b.start)));
        let digest: usize = v
            .iter()
            .map(|v| v.events.len() * (v.start as usize % 97))
            .sum();
        format!(
            "ANSWER {} {} {} {} {digest}",
            s.events, s.visits, q.visits, q.actions
        )
    };
    println!("{}", answer(&snap));
    for line in std::io::stdin().lock().lines() {
        if line.unwrap() == "refresh" {
            db.refresh().unwrap();
            snap = db.snapshot();
        }
        println!("{}", answer(&snap));
    }
}

/// A reader in another process holds a snapshot (its part files mapped) while this
/// process commits and compacts, replacing and removing those files: the reader's
/// answers do not change, and after a refresh it sees the new state.
#[test]
fn a_reader_process_keeps_its_snapshot_while_files_are_replaced() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        reader_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    for (m, n) in [(0, BIG), (1, 200), (2, 300)] {
        let mut tx = db.begin_write().unwrap();
        for e in pageviews(0, n, m) {
            tx.append(&e).unwrap();
        }
        tx.commit().unwrap();
    }
    db.compact().unwrap(); // a part file of its own, mapped by the reader
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_reader_process_keeps_its_snapshot_while_files_are_replaced",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut answers = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        // The test harness may print the test's name before the first answer, on its line.
        .filter_map(|l| l.find("ANSWER ").map(|at| l[at..].to_string()));
    let first = answers.next().expect("the reader answered");
    let parts_before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for round in 0..5 {
        let mut tx = db.begin_write().unwrap();
        for e in pageviews(round * 1000, round * 1000 + 2000, 10 + round as i64) {
            tx.append(&e).unwrap();
        }
        tx.commit().unwrap();
        db.compact().unwrap();
        writeln!(stdin, "again").unwrap();
        assert_eq!(
            answers.next().unwrap(),
            first,
            "round {round}: the old snapshot changed"
        );
    }
    let parts_after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        parts_before.iter().all(|p| !parts_after.contains(p)),
        "every file the reader mapped was replaced: {parts_before:?} {parts_after:?}"
    );
    writeln!(stdin, "refresh").unwrap();
    let fresh = answers.next().unwrap();
    let s = db.snapshot().stats().unwrap();
    assert!(
        fresh.starts_with(&format!("ANSWER {} {} ", s.events, s.visits)),
        "{fresh} vs {s:?}"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// Threads appending and committing at once share commits: fewer commits than
/// commit calls, every event durable once its caller's commit returned.
#[test]
fn concurrent_committers_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let appender = db.appender(AppendOptions::default()).unwrap();
    let (threads, per_thread) = (8, 40);
    let path = dir.path();
    std::thread::scope(|s| {
        for t in 0..threads {
            let appender = appender.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    let e =
                        Event::pageview(random_events::BASE_MS + i * 1000, &format!("t{t}"), "/");
                    appender.append(&e).unwrap();
                    appender.commit().unwrap();
                    // Durable and visible once `commit` returned.
                    let seen = Db::open_read_only(path)
                        .unwrap()
                        .snapshot()
                        .visitor(&format!("t{t}"))
                        .unwrap()
                        .map_or(0, |p| {
                            p.visits.iter().map(|v| v.events.len()).sum::<usize>()
                        });
                    assert!(
                        seen as i64 > i,
                        "thread {t}: event {i} not durable after commit"
                    );
                }
            });
        }
    });
    let calls = (threads * per_thread) as u64;
    let commits = appender.commits();
    assert_eq!(db.snapshot().stats().unwrap().events, calls);
    assert!(
        commits < calls,
        "{commits} commits for {calls} calls: none shared"
    );
    println!("{calls} commit calls from {threads} threads: {commits} commits");
}

/// Waits (bounded) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_appender_commits_by_count_by_time_and_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let events = || {
        Db::open_read_only(dir.path())
            .unwrap()
            .snapshot()
            .stats()
            .unwrap()
            .events
    };

    let by_count = db
        .appender(AppendOptions {
            commit_every_events: Some(100),
            commit_every: None,
        })
        .unwrap();
    for i in 0..250 {
        by_count
            .append(&Event::pageview(random_events::BASE_MS + i, "a", "/"))
            .unwrap();
    }
    // A commit takes the whole buffer: at least 200 events commit without a call to
    // `commit`, and fewer than 100 may stay pending.
    eventually("commits by count", || by_count.pending() < 100);
    assert!(events() >= 200, "{}", events());
    let left = by_count.pending();
    assert!(by_count.commits() >= 1);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        by_count.pending(),
        left,
        "below the threshold, nothing commits on its own"
    );
    assert_eq!(events(), 250 - left);
    by_count.close().unwrap();
    assert_eq!(events(), 250);
    let e = by_count.append(&Event::pageview(0, "a", "/")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    let by_time = db
        .appender(AppendOptions {
            commit_every_events: None,
            commit_every: Some(Duration::from_millis(50)),
        })
        .unwrap();
    by_time
        .append(&Event::pageview(random_events::BASE_MS, "b", "/"))
        .unwrap();
    // (The appender counts a commit once it returned, a moment after it is on disk.)
    eventually("the timed commit", || by_time.commits() == 1);
    assert_eq!(events(), 251);

    // Dropping the last clone commits what is pending.
    let dropped = db.appender(AppendOptions::default()).unwrap();
    dropped
        .append(&Event::pageview(random_events::BASE_MS, "c", "/"))
        .unwrap();
    drop(dropped);
    assert_eq!(events(), 252);
}

/// A commit that fails is reported to the callers whose events it held; the
/// appender goes on, and later events commit.
#[test]
fn a_failed_group_commit_is_reported_to_its_callers() {
    let fs = SimFs::new();
    let db = Db::builder()
        .file_system(fs.vfs())
        .create(Path::new("/sim/db"))
        .unwrap();
    let appender = db.appender(AppendOptions::default()).unwrap();
    appender
        .append(&Event::pageview(random_events::BASE_MS, "a", "/"))
        .unwrap();
    fs.inject(Fault {
        at: fs.ops(),
        error: FaultError::NoSpace,
        mode: FaultMode::Once,
    });
    let e = appender.commit().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("No space left on device"), "{e}");
    assert_eq!(db.snapshot().stats().unwrap().events, 0);
    appender
        .append(&Event::pageview(random_events::BASE_MS + 1, "b", "/"))
        .unwrap();
    appender.commit().unwrap();
    assert_eq!(db.snapshot().stats().unwrap().events, 1);
}

fn sightline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .output()
        .expect("run sightline")
}

#[test]
fn sightline_compact_prints_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    for m in 0..5 {
        let mut tx = db.begin_write().unwrap();
        for e in pageviews(m as usize * 10, m as usize * 10 + 20, m) {
            tx.append(&e).unwrap();
        }
        tx.commit().unwrap();
    }
    drop(db);
    let d = dir.path().to_str().unwrap();
    let out = sightline(&["compact", "--db", d, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["partsBefore"], 5, "{v}");
    assert_eq!(v["partsAfter"], 1, "{v}");
    assert!(
        v["bytesAfter"].as_u64().unwrap() < v["bytesBefore"].as_u64().unwrap(),
        "{v}"
    );
    let text = sightline(&["compact", "--db", d]);
    assert_eq!(text.status.code(), Some(0));
    // Nothing left to do: a second compaction changes nothing and says so.
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(
        said.contains("parts 1 → 1") && said.contains("0 parts merged"),
        "{said}"
    );
    let missing = sightline(&["compact", "--db", &format!("{d}/nothing-here")]);
    assert_eq!(missing.status.code(), Some(2));
}

/// A manifest of a newer format version is refused with exit 3 and a message saying
/// which version the file has and which this build reads — never read as if known.
#[test]
fn an_unknown_format_version_is_refused_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.append(&pageviews(0, 1, 0)[0]).unwrap();
    tx.commit().unwrap();
    let generation = db.snapshot().generation();
    drop(db);
    let name = sightline::testing::Manifest::file_name(generation);
    let path = dir.path().join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    // The version field, with the frame's checksum recomputed: a well-formed file of
    // version 7.
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    let end = 16 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let crc = sightline::testing::crc32c(&bytes[..end]);
    bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let out = sightline(&["stats", "--db", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("format version 7; this build reads versions 1 to 2") && err.contains(&name),
        "{err}"
    );
}
