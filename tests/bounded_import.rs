//! Imports in bounded memory (`docs/ingest.md`, "Memory"): a transaction that spills
//! sorted runs and commits them by a merge, group by group, answers exactly as one held
//! in memory.
//!
//! - **Answers unchanged** (proptest): random events (returning visitors, equal
//!   timestamps, visit ids, custom values, orders) committed in random batches, once
//!   with the default budget and once spilling every few rows, cutting the merge into
//!   groups of a few events and building them inline or on threads: every visit, the
//!   totals, random segments (engine = reference = scan oracle) and a report by every
//!   dimension (engine = reference = scan oracle) are identical, before and after a
//!   full compaction; the runs were really written, and none is left.
//! - **The CLI with a tiny budget** (`--memory-limit 64KiB`, dozens of runs) against
//!   the default on generated data: the same stats, summaries and reports; no run file
//!   left; fail-fast errors leave the database and the directory as they were, and
//!   `--skip-invalid` counts the same.
//! - **Transactions**: a file that fails after spilling takes back only its own rows;
//!   a dropped transaction deletes its runs.
//!
//! Set `BOUNDED_IMPORT_SEED` / `BOUNDED_IMPORT_CASES` to explore other cases (default
//! 48).

mod common;
#[path = "common/random_events.rs"]
mod random_events;
#[path = "common/random_segments.rs"]
mod random_segments;
#[path = "common/seeded.rs"]
mod seeded;

use std::path::{Path, PathBuf};

use common::{describe, s, sightline};
use proptest::prelude::*;
use random_events::visitors;
use random_segments::{condition, segments};
use sightline::testing::{SimFs, scan};
use sightline::{
    Db, DbOptions, Dialect, ImportOptions, OrGroup, ReportOptions, Segment, Snapshot, TimeRange,
    VisitRecord,
};

fn config() -> ProptestConfig {
    seeded::config(
        "bounded_import",
        "BOUNDED_IMPORT_SEED",
        seeded::env_or("BOUNDED_IMPORT_SEED", 0xB0_0DED),
        seeded::env_or("BOUNDED_IMPORT_CASES", 48),
    )
}

/// Every visit, sorted (the order of parts is not part of the answer).
fn visits(snap: &Snapshot) -> Vec<VisitRecord> {
    let mut v = snap.visits().unwrap();
    v.sort_by(|a, b| {
        (&a.visitor_id, a.start, &a.visit_id).cmp(&(&b.visitor_id, b.start, &b.visit_id))
    });
    v
}

/// Totals without the layout (parts, bytes, generation).
fn totals(snap: &Snapshot) -> sightline::Stats {
    let mut s = snap.stats().unwrap();
    (s.parts, s.bytes, s.generation) = (0, 0, 0);
    s
}

/// `snap` answers as `reference` does, and as the scan oracle does: every visit, the
/// totals, each of `texts` as a summary, and a report of every selection by every
/// dimension of the catalog.
fn same_answers(snap: &Snapshot, reference: &Snapshot, texts: &[String]) -> Result<(), String> {
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    check(visits(snap) == visits(reference), "visits differ".into())?;
    check(
        totals(snap) == totals(reference),
        format!("totals {:?} vs {:?}", totals(snap), totals(reference)),
    )?;
    let all = String::new();
    for text in std::iter::once(&all).chain(texts) {
        let (Ok(c), Ok(rc)) = (
            snap.compile(text, Dialect::Default),
            reference.compile(text, Dialect::Default),
        ) else {
            continue;
        };
        let sel = snap.select(&c, &TimeRange::ALL).unwrap();
        let ref_sel = reference.select(&rc, &TimeRange::ALL).unwrap();
        let got = snap.summarize(&sel).unwrap();
        check(
            got == reference.summarize(&ref_sel).unwrap(),
            format!("summary of {text:?}"),
        )?;
        check(
            got == scan::summary(snap, &c, &TimeRange::ALL).unwrap(),
            format!("oracle summary of {text:?}"),
        )?;
        if text.is_empty() || text == &texts[0] {
            for dim in snap.catalog().dimensions() {
                let opts = ReportOptions { limit: Some(5) };
                let r = snap.report(&dim.name, &sel, &opts);
                let rr = reference.report(&dim.name, &ref_sel, &opts);
                let oracle = scan::report(snap, &c, &TimeRange::ALL, &dim.name, &opts);
                match (r, rr, oracle) {
                    (Ok(r), Ok(rr), Ok(o)) => {
                        check(r == rr, format!("report by {} of {text:?}", dim.name))?;
                        check(r == o, format!("oracle report by {} of {text:?}", dim.name))?;
                    }
                    (Err(_), Err(_), Err(_)) => {}
                    (r, rr, o) => {
                        return Err(format!(
                            "report by {}: {:?} / {:?} / {:?}",
                            dim.name,
                            r.err(),
                            rr.err(),
                            o.err()
                        ));
                    }
                }
            }
        }
    }
    Ok(())
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

/// Run files on the simulated disk: (created so far, present now).
fn runs_on(fs: &SimFs) -> (usize, usize) {
    let created = fs
        .log()
        .iter()
        .filter(|l| l.contains(": create ") && l.contains("tmp-run-"))
        .count();
    let present = fs
        .files()
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("tmp-run-"))
        .count();
    (created, present)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn spilled_imports_answer_as_in_memory_ones(
        visitors in visitors(),
        batches in 1usize..=4,
        shuffle in any::<u64>(),
        spill_bytes in 1usize..2000,
        group_events in 1usize..40,
        builders in 0usize..=2,
        segs in segments(),
    ) {
        let (lines, _) = random_events::json_batches(&visitors, batches, &[], shuffle);
        let dir = tempfile::tempdir().unwrap();
        let reference = random_events::import(&dir.path().join("ref"), &lines);

        let fs = SimFs::new();
        let db = Db::builder()
            .file_system(fs.vfs())
            .budget_for_tests(spill_bytes, group_events, builders)
            .create(Path::new("/sim/db"))
            .unwrap();
        for batch in &lines {
            commit_lines(&db, batch);
            prop_assert_eq!(runs_on(&fs).1, 0, "a run file outlived its commit");
        }
        // Twelve rows outgrow 2,000 bytes (a row alone takes more than 160).
        if lines.iter().any(|b| b.len() >= 12) {
            prop_assert!(runs_on(&fs).0 > 0, "nothing was spilled");
        }
        let starts: Vec<i64> = visits(&db.snapshot()).iter().map(|v| v.start).collect();
        let texts: Vec<String> = segs
            .iter()
            .map(|(groups, _)| {
                Segment {
                    groups: groups
                        .iter()
                        .map(|g| OrGroup {
                            conditions: g.iter().map(|c| condition(*c, &starts).0).collect(),
                        })
                        .collect(),
                }
                .to_string()
            })
            .collect();
        let texts = if texts.is_empty() { vec![String::new()] } else { texts };
        let r = same_answers(&db.snapshot(), &reference.snapshot(), &texts);
        prop_assert!(r.is_ok(), "{:?}", r);
        // A streaming compaction (one part per group) keeps every answer.
        db.compact().unwrap();
        let r = same_answers(&db.snapshot(), &reference.snapshot(), &texts);
        prop_assert!(r.is_ok(), "after compaction: {:?}", r);
        let report = sightline::testing::check_in(&*fs.vfs(), Path::new("/sim/db")).unwrap();
        prop_assert!(report.is_ok() && report.orphans.is_empty(), "{:?}", report);
    }
}

/// `sightline gen` data of `visitors` visitors in `dir`.
fn generated(dir: &Path, visitors: u64) -> PathBuf {
    let file = dir.join("events.jsonl");
    let out = sightline(&[
        "gen",
        "--visitors",
        &visitors.to_string(),
        "--seed",
        "3",
        "-o",
        s(&file),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    file
}

fn run_files(db: &Path) -> Vec<String> {
    std::fs::read_dir(db)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// `sightline import --memory-limit 64KiB` spills dozens of runs (54) and cuts the merge
/// into small parts: the database answers exactly as the same
/// import with the default budget, and no run file is left.
#[test]
fn a_tiny_budget_gives_the_same_database_as_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), 1500);
    let (small, big) = (dir.path().join("small"), dir.path().join("big"));
    for (db, limit) in [(&small, "64KiB"), (&big, "1GiB")] {
        let out = sightline(&["import", "--db", s(db), "--memory-limit", limit, s(&file)]);
        assert!(out.status.success(), "{}", describe(&out));
        assert_eq!(run_files(db), Vec::<String>::new(), "{limit}");
    }
    let a = Db::open_read_only(&small).unwrap().snapshot();
    let b = Db::open_read_only(&big).unwrap().snapshot();
    assert!(a.stats().unwrap().events > 10_000);
    let texts = [
        "countryCode==de",
        "pageUrl=@/product/;visitCount>1",
        "visitorType==returningCustomer,visitEcommerceStatus==abandonedCart",
        "actions>=5;deviceType!=desktop",
        "referrerType==search;visitDuration>300",
    ]
    .map(String::from);
    same_answers(&a, &b, &texts).unwrap();
    let check = sightline(&["check", "--db", s(&small)]);
    assert!(check.status.success(), "{}", describe(&check));
}

/// A bad row after many spills fails the import (exit 2) and leaves the database and
/// its directory byte for byte as they were, with no run file; `--skip-invalid` commits
/// the rest, as it does with the default budget.
#[test]
fn row_errors_after_spilling_commit_nothing_and_leave_no_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), 400);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"ts\":\"yesterday\",\"visitorId\":\"x\"}\n");
    text.push_str("{\"ts\":1,\"visitorId\":\"y\"}\n");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, &text).unwrap();
    let lines = text.lines().count();

    let db = dir.path().join("db");
    let first = dir.path().join("first.jsonl");
    std::fs::write(&first, "{\"ts\":1,\"visitorId\":\"a\"}\n").unwrap();
    let out = sightline(&["import", "--db", s(&db), s(&first)]);
    assert!(out.status.success(), "{}", describe(&out));
    let before = common::dir_content(&db);
    let out = sightline(&["import", "--db", s(&db), "--memory-limit", "64KiB", s(&bad)]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = common::text(&out.stderr);
    assert!(
        err.contains(&format!("bad.jsonl:{}: ts:", lines - 1)),
        "{err}"
    );
    common::assert_same_content(&before, &common::dir_content(&db), "failed import");

    // A new database is not left behind either.
    let fresh = dir.path().join("fresh");
    let out = sightline(&[
        "import",
        "--db",
        s(&fresh),
        "--memory-limit",
        "64KiB",
        s(&bad),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(!fresh.exists());

    let mut counts = Vec::new();
    for limit in ["64KiB", "1GiB"] {
        let db = dir.path().join(format!("skip-{limit}"));
        let out = sightline(&[
            "import",
            "--db",
            s(&db),
            "--memory-limit",
            limit,
            "--skip-invalid",
            "--json",
            s(&bad),
        ]);
        assert!(out.status.success(), "{}", describe(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["rejected"], 1);
        assert_eq!(run_files(&db), Vec::<String>::new());
        let mut stats = Db::open_read_only(&db).unwrap().snapshot().stats().unwrap();
        (stats.parts, stats.bytes, stats.generation) = (0, 0, 0);
        counts.push((
            v["events"].clone(),
            v["visits"].clone(),
            v["visitors"].clone(),
            stats,
        ));
    }
    assert_eq!(counts[0], counts[1]);
}

/// In one transaction: a file that fails after its rows were spilled takes back exactly
/// its own rows (runs holding earlier rows stay), so the commit holds the good file
/// alone; a transaction dropped after spilling deletes its runs.
#[test]
fn a_failed_file_takes_back_only_its_own_spilled_rows() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl");
    let bad = dir.path().join("bad.jsonl");
    let mut g = String::new();
    let mut b = String::new();
    for i in 0..300 {
        g.push_str(&format!(
            "{{\"ts\":{},\"visitorId\":\"g{}\",\"pageUrl\":\"/g\"}}\n",
            i * 1000,
            i % 37
        ));
        b.push_str(&format!(
            "{{\"ts\":{},\"visitorId\":\"g{}\",\"pageUrl\":\"/b\"}}\n",
            i * 1000 + 1,
            i % 41
        ));
    }
    b.push_str("not json\n");
    std::fs::write(&good, &g).unwrap();
    std::fs::write(&bad, &b).unwrap();

    let fs = SimFs::new();
    let db = Db::builder()
        .file_system(fs.vfs())
        .budget_for_tests(2000, 50, 1)
        .create(Path::new("/sim/db"))
        .unwrap();
    let mut tx = db.begin_write().unwrap();
    // Half of the good rows first, so a run holds rows from before the failing file.
    for line in g.lines().take(150) {
        tx.append_json(line).unwrap();
    }
    let opts = ImportOptions::default();
    let e = tx.import_file(&bad, &opts, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("bad.jsonl:301"), "{e}");
    assert!(runs_on(&fs).0 > 2, "the bad file spilled");
    assert_eq!(tx.len(), 150);
    for line in g.lines().skip(150) {
        tx.append_json(line).unwrap();
    }
    tx.commit().unwrap();
    assert_eq!(runs_on(&fs).1, 0);

    let reference_dir = tempfile::tempdir().unwrap();
    let reference = Db::create(reference_dir.path(), DbOptions::default()).unwrap();
    let mut tx = reference.begin_write().unwrap();
    tx.import_file(&good, &opts, &|_| {}).unwrap();
    tx.commit().unwrap();
    same_answers(
        &db.snapshot(),
        &reference.snapshot(),
        &["pageUrl==/b".into()],
    )
    .unwrap();

    let mut tx = db.begin_write().unwrap();
    tx.import_file(&good, &opts, &|_| {}).unwrap();
    assert!(runs_on(&fs).1 > 0);
    drop(tx);
    assert_eq!(runs_on(&fs).1, 0, "a dropped transaction deletes its runs");
}

/// `--memory-limit` takes bytes and K/M/G/KiB/MiB/GiB; anything else is a usage error
/// (exit 2) saying what is accepted.
#[test]
fn memory_limit_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.jsonl");
    std::fs::write(&file, "{\"ts\":1,\"visitorId\":\"a\"}\n").unwrap();
    for (i, ok) in ["65536", "64KiB", "100K", "512MiB", "2G", "1gib", "3M"]
        .iter()
        .enumerate()
    {
        let db = dir.path().join(format!("ok{i}"));
        let out = sightline(&["import", "--db", s(&db), "--memory-limit", ok, s(&file)]);
        assert!(out.status.success(), "{ok}: {}", describe(&out));
    }
    for bad in [
        "",
        "abc",
        "12TB",
        "1.5GiB",
        "-1",
        "65535",
        "0",
        "99999999999999999999GiB",
        "MiB",
    ] {
        let db = dir.path().join("bad");
        let arg = format!("--memory-limit={bad}");
        let out = sightline(&["import", "--db", s(&db), &arg, s(&file)]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", describe(&out));
        let err = common::text(&out.stderr);
        assert!(err.contains("--memory-limit"), "{bad:?}: {err}");
        assert!(!db.exists(), "{bad:?}");
    }
    let out = sightline(&[
        "import",
        "--db",
        s(&dir.path().join("x")),
        "--memory-limit",
        "7TB",
        s(&file),
    ]);
    let err = common::text(&out.stderr);
    assert!(err.contains("KiB, MiB, GiB"), "{err}");
}
