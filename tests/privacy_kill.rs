//! `sightline privacy erase` and `privacy purge` killed with SIGKILL at random moments
//! (`docs/privacy.md`): after every kill, once a writer has opened the database (which
//! removes what a killed run left), it passes `check` and is either as before (the run
//! had not committed: the marker bytes are still there, and running it again removes
//! them) or as after a complete run — with no marker byte in any file of the directory.
//!
//! Seeded like `crash_kill.rs`: `SIGHTLINE_SEED=<n>` replays a run;
//! `SIGHTLINE_PRIVACY_KILLS` sets the kills per operation (default 12).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, TimeRange};

const MARK: &[u8] = b"zqxKILL";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn seed() -> u64 {
    std::env::var("SIGHTLINE_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0x5EED_0018)
}

fn kills() -> usize {
    std::env::var("SIGHTLINE_PRIVACY_KILLS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(12)
}

/// Marker visitors, on 10 January (before the purge's cut-off): ids, URLs, user ids.
fn markers(round: u32) -> String {
    (0..20)
        .map(|i| {
            format!(
                "{{\"ts\":\"2026-01-10T10:{i:02}:{round:02}Z\",\"visitorId\":\"zqxKILL-v{i}\",\"userId\":\"zqxKILL-u{i}\",\"pageUrl\":\"/zqxKILL-{i}-{round}\"}}\n"
            )
        })
        .collect()
}

/// The base database: generated visitors over 90 days from 1 January 2026, and the
/// markers, imported twice (so older parts keep copies of them).
fn base(dir: &Path) {
    let mut events = Vec::new();
    write_jsonl(
        &GenOptions {
            visitors: 4000,
            seed: 18,
            ..GenOptions::default()
        },
        &mut events,
    )
    .expect("generate");
    let files = [
        ("gen.jsonl", String::from_utf8(events).expect("UTF-8")),
        ("m1.jsonl", markers(1)),
        ("m2.jsonl", markers(2)),
    ];
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        let out = bin()
            .args(["import", "--db", s(&dir.join("db")), s(&p)])
            .output()
            .unwrap();
        assert!(out.status.success(), "import {name}: {out:?}");
    }
}

fn copy_db(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn holds_marker(db: &Path) -> bool {
    std::fs::read_dir(db).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        bytes.windows(MARK.len()).any(|w| w == MARK)
    })
}

/// What a reader sees: totals and a few summaries.
fn answers(db: &Db) -> String {
    let snap = db.snapshot();
    let mut st = snap.stats().unwrap();
    (st.parts, st.bytes, st.generation) = (0, 0, 0);
    let q = |seg: &str| snap.query(seg, &TimeRange::ALL).unwrap();
    format!(
        "{st:?} {:?} {:?}",
        q("visitCount>1"),
        q("pageUrl=@/zqxKILL")
    )
}

fn kill_runs(op: &[&str], name: &str) {
    let seed = seed();
    eprintln!("{name}: seed {seed} (replay with SIGHTLINE_SEED={seed})");
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ name.len() as u64);
    let tmp = tempfile::tempdir().unwrap();
    base(tmp.path());
    let base_db = tmp.path().join("db");
    let old = answers(&Db::open_read_only(&base_db).unwrap());
    assert!(holds_marker(&base_db));

    // A complete run: the answers after, and how long it takes.
    let done = tmp.path().join("done");
    copy_db(&base_db, &done);
    let started = Instant::now();
    let out = bin().args(op).args(["--db", s(&done)]).output().unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{name}: {out:?}");
    let new = answers(&Db::open(&done).unwrap());
    assert_ne!(old, new);
    assert!(!holds_marker(&done));

    let (mut before, mut after) = (0, 0);
    for round in 0..kills() {
        let db = tmp.path().join(format!("r{round}"));
        copy_db(&base_db, &db);
        let delay = Duration::from_micros(rng.random_range(0..took.as_micros() as u64 * 5 / 4 + 1));
        let mut child = bin()
            .args(op)
            .args(["--db", s(&db)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let killed = status.signal() == Some(9);
        let what = format!("{name}, round {round}, killed after {delay:?} (seed {seed})");
        let handle = Db::open(&db).unwrap_or_else(|e| panic!("{what}: open: {e}"));
        let report = sightline::check(&db).unwrap();
        assert!(report.is_ok(), "{what}: check: {:?}", report.problems);
        let got = answers(&handle);
        if got == new {
            assert!(
                !holds_marker(&db),
                "{what}: committed, but marker bytes remain"
            );
            after += 1;
        } else {
            assert_eq!(got, old, "{what}: neither before nor after");
            assert!(killed, "{what}: finished without committing");
            drop(handle);
            let out = bin().args(op).args(["--db", s(&db)]).output().unwrap();
            assert!(out.status.success(), "{what}: run again: {out:?}");
            assert!(!holds_marker(&db), "{what}: run again, marker bytes remain");
            before += 1;
        }
        std::fs::remove_dir_all(&db).unwrap();
    }
    eprintln!("{name}: {before} kills before the commit point, {after} after (full run {took:?})");
}

#[test]
fn erasures_killed_at_random_moments_leave_no_marker_once_committed() {
    kill_runs(
        &["privacy", "erase", "--segment", "visitorId=^zqxKILL"],
        "erase",
    );
}

#[test]
fn purges_killed_at_random_moments_leave_no_marker_once_committed() {
    kill_runs(&["privacy", "purge", "--before", "2026-02-15"], "purge");
}
