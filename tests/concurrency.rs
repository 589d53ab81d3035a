//! One writer at a time (in-process and across processes), and readers that see whole
//! commits only while a writer works (`docs/file-format.md`).
//!
//! The tests of this file take `SERIAL`, so that the timed refusal of a second writer is
//! not measured while other tests load the two cores.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sightline::{Db, DbOptions, ErrorKind, Event, Stats, TimeRange};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn sightline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .output()
        .expect("run the sightline binary")
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;

/// `n` page views spread over `visitors` visitors, one minute apart per visitor, starting
/// at minute `offset` (so later batches extend visits of visitors already stored).
fn batch(n: usize, visitors: usize, offset: i64, tag: &str) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let v = format!("visitor-{}", i % visitors);
            let ts = T0 + (offset + (i / visitors) as i64) * MIN;
            Event::pageview(ts, &v, &format!("https://shop.example/{tag}/{i}"))
        })
        .collect()
}

fn commit(db: &Db, events: &[Event]) -> Stats {
    let mut tx = db.begin_write().expect("begin_write");
    for e in events {
        tx.append(e).expect("append");
    }
    let summary = tx.commit().expect("commit");
    assert_eq!(summary.events, events.len() as u64);
    db.snapshot().stats().expect("stats")
}

fn write_jsonl(path: &Path, events: &[Event]) -> PathBuf {
    let text: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "ts": e.ts,
                "visitorId": e.visitor_id,
                "pageUrl": e.page_url,
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, text.join("\n")).expect("write input");
    path.to_path_buf()
}

/// A writer process refused because another holds the database: exit 4, and says so.
fn assert_locked_out(out: &Output) {
    assert_eq!(out.status.code(), Some(4), "{}", describe(out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("database is locked"),
        "{}",
        describe(out)
    );
}

#[test]
fn a_second_writer_is_refused_at_once() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = writer_without_compactor(&dir);
    commit(&db, &batch(30, 5, 0, "a"));
    let input = write_jsonl(&tmp.path().join("b.jsonl"), &batch(12, 4, 100, "b"));

    // Another process.
    let out = sightline(&["import", "--db", s(&dir), "--json", s(&input)]);
    assert_locked_out(&out);
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    // This process, through every way of opening for writing.
    let err = Db::open(&dir).expect_err("a second Db::open must fail");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    assert!(err.to_string().contains("database is locked"), "{err}");
    let err = Db::builder()
        .create_if_missing(true)
        .open(&dir)
        .expect_err("create if missing");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    let err = Db::create(&dir, DbOptions::default()).expect_err("create");
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");

    // Readers are not kept out.
    let out = sightline(&["stats", "--db", s(&dir), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["events"], 30);
    let ro = Db::open_read_only(&dir).unwrap();
    assert!(!ro.is_writable());
    assert_eq!(ro.snapshot().stats().unwrap().events, 30);
    let err = ro
        .begin_write()
        .err()
        .expect("a read-only handle cannot write");
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");

    // The refused writers changed nothing; the holder still writes.
    assert_eq!(commit(&db, &batch(3, 3, 200, "c")).events, 33);
    drop(db);

    let out = sightline(&["import", "--db", s(&dir), "--json", s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["events"], 12, "{doc}");

    // And the lock is free again once that process is gone.
    let db = Db::open(&dir).expect("the lock is released");
    assert_eq!(db.snapshot().stats().unwrap().events, 45);
    let err = Db::open(&dir).expect_err("locked again");
    assert_eq!(err.kind(), ErrorKind::Locked);
}

#[test]
fn an_old_snapshot_never_changes_and_refresh_shows_new_commits() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let writer = writer_without_compactor(&dir);
    let first = commit(&writer, &batch(200, 20, 0, "a"));
    assert_eq!((first.events, first.visitors), (200, 20));

    let reader = Db::open_read_only(&dir).unwrap();
    let old = reader.snapshot();
    let old_stats = old.stats().unwrap();
    let old_visits = old.visits().unwrap();
    assert_eq!(old_stats, first);
    assert_eq!(old_visits.len(), 20);

    // Two in-process commits, each extending the stored visitors (so their old rows move
    // to new parts and the old parts get deletion files), plus new visitors; after the
    // second, the files of the first generation are deleted from the directory.
    commit(&writer, &batch(60, 30, 10, "b"));
    let after_writer = commit(&writer, &batch(45, 15, 12, "c"));
    assert_eq!(after_writer.events, 305);
    assert_eq!(after_writer.visitors, 30);
    assert_eq!(old.stats().unwrap(), old_stats);
    assert_eq!(old.visits().unwrap(), old_visits);
    // Without refresh the read-only handle keeps its snapshot too.
    assert_eq!(reader.snapshot().stats().unwrap(), old_stats);

    // A commit from another process.
    drop(writer);
    let input = write_jsonl(&tmp.path().join("d.jsonl"), &batch(40, 40, 14, "d"));
    let out = sightline(&["import", "--db", s(&dir), "--json", s(&input)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(old.stats().unwrap(), old_stats);
    assert_eq!(old.visits().unwrap(), old_visits);

    reader.refresh().unwrap();
    let new = reader.snapshot();
    let st = new.stats().unwrap();
    assert_eq!((st.events, st.visitors), (345, 40));
    assert!(st.generation > old_stats.generation);
    let visits = new.visits().unwrap();
    let events: usize = visits.iter().map(|v| v.events.len()).sum();
    assert_eq!(events, 345);
    // The old snapshot is still intact next to the new one.
    assert_eq!(old.visits().unwrap(), old_visits);

    // A fresh handle agrees with the refreshed one.
    let fresh = Db::open_read_only(&dir)
        .unwrap()
        .snapshot()
        .stats()
        .unwrap();
    assert_eq!(fresh, st);
}

#[test]
fn readers_only_ever_see_whole_commits() {
    const BATCHES: usize = 20;
    const READERS: usize = 4;
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let writer = writer_without_compactor(&dir);
    let empty = writer.snapshot().stats().unwrap();
    assert_eq!(empty.events, 0);

    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (dir, done) = (dir.clone(), done.clone());
            std::thread::spawn(move || {
                let db = Db::open_read_only(&dir).expect("open read-only");
                let mut seen: Vec<Stats> = Vec::new();
                loop {
                    // Read the flag first: one more full pass after the writer finished.
                    let last = done.load(Ordering::SeqCst);
                    db.refresh().expect("refresh while a writer commits");
                    let snap = db.snapshot();
                    let st = snap.stats().expect("stats of a snapshot");
                    // The event count of the visits must agree with the totals.
                    if seen.len().is_multiple_of(8) {
                        let events: usize = snap
                            .visits()
                            .expect("visits of a snapshot")
                            .iter()
                            .map(|v| v.events.len())
                            .sum();
                        assert_eq!(events as u64, st.events, "generation {}", st.generation);
                    }
                    seen.push(st);
                    if last {
                        return seen;
                    }
                }
            })
        })
        .collect();

    // Each batch has new events for most stored visitors plus a few new visitors, in
    // batches of varying size.
    let mut committed: HashMap<u64, Stats> = HashMap::new();
    committed.insert(empty.generation, empty);
    let mut totals = vec![0u64];
    for b in 0..BATCHES {
        let n = 50 + 37 * b;
        let visitors = 10 + 3 * b;
        let st = commit(
            &writer,
            &batch(n, visitors, 40 * b as i64, &format!("b{b}")),
        );
        assert_eq!(st.events, totals.last().unwrap() + n as u64);
        totals.push(st.events);
        committed.insert(st.generation, st);
    }
    done.store(true, Ordering::SeqCst);
    let final_stats = writer.snapshot().stats().unwrap();

    for (k, r) in readers.into_iter().enumerate() {
        let seen = r.join().expect("reader thread panicked");
        assert!(!seen.is_empty());
        let mut prev = 0;
        for st in &seen {
            assert!(
                totals.contains(&st.events),
                "reader {k} saw {} events, not a committed total ({totals:?})",
                st.events
            );
            let want = committed
                .get(&st.generation)
                .unwrap_or_else(|| panic!("reader {k} saw unknown generation {}", st.generation));
            assert_eq!(
                (st.events, st.visits, st.visitors, st.parts, st.bytes),
                (
                    want.events,
                    want.visits,
                    want.visitors,
                    want.parts,
                    want.bytes
                ),
                "reader {k}, generation {}",
                st.generation
            );
            assert!(st.generation >= prev, "reader {k} went back in time");
            prev = st.generation;
        }
        assert_eq!(seen.last(), Some(&final_stats), "reader {k}'s last view");
        let mut gens: Vec<u64> = seen.iter().map(|s| s.generation).collect();
        gens.dedup();
        eprintln!(
            "reader {k}: {} snapshots over {} generations",
            seen.len(),
            gens.len()
        );
    }
}

/// `docs/file-format.md` and the reliability issue: a second writer process is told "database is
/// locked" within 100 ms (the lock is tried, never waited for). Wall time of the whole
/// refused `sightline import` process, start-up included; the median of 7 must be under
/// 100 ms and no single one may reach a second (that would mean waiting).
#[test]
fn a_second_writer_process_is_refused_within_100_ms() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = writer_without_compactor(&dir);
    commit(&db, &batch(30, 5, 0, "a"));
    let input = write_jsonl(&tmp.path().join("b.jsonl"), &batch(12, 4, 100, "b"));
    let mut times = Vec::new();
    for _ in 0..7 {
        let t0 = Instant::now();
        let out = sightline(&["import", "--db", s(&dir), "--json", s(&input)]);
        let took = t0.elapsed();
        assert_locked_out(&out);
        assert!(took < Duration::from_secs(1), "refusal took {took:?}");
        times.push(took);
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!("second writer refused in {median:?} (median of 7; all: {times:?})");
    assert!(
        median < Duration::from_millis(100),
        "median refusal {median:?}"
    );
    drop(db);
}

/// Real `sightline import` processes commit one file after another while reader threads
/// refresh and query in a loop: every view is one committed state (its totals are a
/// prefix sum of the files, a segment over everything agrees with the totals, and all
/// readers that saw a generation saw the same answers for it).
#[test]
fn readers_querying_during_cli_imports_see_whole_commits() {
    const FILES: usize = 12;
    const READERS: usize = 2;
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    drop(writer_without_compactor(&dir));
    let mut totals = vec![0u64];
    let files: Vec<PathBuf> = (0..FILES)
        .map(|f| {
            // Most files revisit stored visitors, so commits move rows between parts.
            let n = 300 + 50 * f;
            totals.push(totals.last().unwrap() + n as u64);
            write_jsonl(
                &tmp.path().join(format!("in-{f}.jsonl")),
                &batch(n, 40 + 5 * f, 30 * f as i64, &format!("f{f}")),
            )
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    type View = (u64, u64, String, String);
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (dir, done) = (dir.clone(), done.clone());
            std::thread::spawn(move || {
                let db = Db::open_read_only(&dir).expect("open read-only");
                let mut seen: Vec<(u64, View)> = Vec::new();
                loop {
                    let last = done.load(Ordering::SeqCst);
                    db.refresh().expect("refresh during an import");
                    let snap = db.snapshot();
                    let st = snap.stats().expect("stats");
                    let all = snap.query("", &TimeRange::ALL).expect("query everything");
                    assert_eq!(
                        (all.visits, all.visitors, all.actions),
                        (st.visits, st.visitors, st.actions),
                        "generation {}: the segment and the totals disagree",
                        st.generation
                    );
                    let some = snap
                        .query("pageUrl=@/f3/,visitCount>1", &TimeRange::ALL)
                        .expect("query");
                    let everyone = snap.compile("", Default::default()).expect("compile");
                    let sel = snap.select(&everyone, &TimeRange::ALL).expect("select");
                    let report = snap
                        .report("visitorId", &sel, &Default::default())
                        .expect("report");
                    seen.push((
                        st.generation,
                        (
                            st.events,
                            st.visits,
                            format!("{some:?}"),
                            format!("{report:?}"),
                        ),
                    ));
                    if last {
                        return seen;
                    }
                }
            })
        })
        .collect();
    for (f, file) in files.iter().enumerate() {
        let out = sightline(&["import", "--db", s(&dir), "--json", s(file)]);
        assert_eq!(out.status.code(), Some(0), "file {f}: {}", describe(&out));
    }
    done.store(true, Ordering::SeqCst);

    let mut by_generation: HashMap<u64, View> = HashMap::new();
    let mut views = 0;
    for r in readers {
        let seen = r.join().expect("reader thread panicked");
        let mut prev = 0;
        for (generation, view) in seen {
            views += 1;
            assert!(generation >= prev, "a reader went back in time");
            prev = generation;
            assert_eq!(
                view.0, totals[generation as usize],
                "generation {generation}: not a committed total"
            );
            let first = by_generation
                .entry(generation)
                .or_insert_with(|| view.clone());
            assert_eq!(*first, view, "readers disagree on generation {generation}");
        }
        assert_eq!(prev, FILES as u64, "a reader missed the last commit");
    }
    eprintln!(
        "{views} reader views over {} generations during {FILES} imports",
        by_generation.len()
    );
    assert!(by_generation.len() > 2, "the readers saw too few commits");
}

/// A writer whose commits are the only changes to the database (no background
/// compactor), so generations map to commits.
fn writer_without_compactor(dir: &Path) -> Db {
    Db::builder()
        .auto_compact(false)
        .create(dir)
        .expect("create")
}
