//! `docs/file-format.md` under `kill -9`: `sightline import` children are killed at random moments; after
//! every kill the database opens, passes `sightline check`, and holds exactly the
//! acknowledged imports (or, if the kill landed after the commit point, those plus the
//! killed one). In the end it equals a database that imported everything in one commit.
//!
//! The kill schedule is seeded: `SIGHTLINE_SEED=<n> cargo test --test crash_kill` replays a
//! run (the seed is printed, and named in every failure). The input is split into
//! `SIGHTLINE_KILL_FILES` files (default 50), each imported until one import finishes, so
//! a run has at least that many rounds; the soak in `docs/testing.md` raises it.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sightline::VisitRecord;
use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, DbOptions, ImportOptions, Stats};

const DEFAULT_FILES: usize = 50;
/// After this many interrupted attempts a file's next import is left to finish, so every
/// file is committed eventually even if imports grow slower than the calibration run.
const MAX_INTERRUPTED: u32 = 3;
const SIGKILL: i32 = 9;
const DEFAULT_SEED: u64 = 0x5EED_2026;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn files_count() -> usize {
    match std::env::var("SIGHTLINE_KILL_FILES") {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| panic!("SIGHTLINE_KILL_FILES={v:?} is not a positive integer")),
        Err(_) => DEFAULT_FILES,
    }
}

fn seed() -> u64 {
    match std::env::var("SIGHTLINE_SEED") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SIGHTLINE_SEED={v:?} is not an unsigned integer")),
        Err(_) => DEFAULT_SEED,
    }
}

/// FNV-1a: a stable hash, so the split is the same on every run and platform.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn sorted_visits(db: &Db) -> Vec<VisitRecord> {
    let mut v = db.snapshot().visits().expect("visits");
    v.sort_by(|a, b| {
        (&a.visitor_id, a.start, &a.visit_id).cmp(&(&b.visitor_id, b.start, &b.visit_id))
    });
    v
}

/// The fields of [`Stats`] that do not depend on how the data was committed.
/// What a database holds (not how: parts, bytes and generation left out).
type Content = (u64, u64, u64, u64, u64, f64, Option<i64>, Option<i64>);

fn content(s: &Stats) -> Content {
    (
        s.events,
        s.visits,
        s.visitors,
        s.actions,
        s.conversions,
        s.revenue,
        s.first_event,
        s.last_event,
    )
}

#[test]
fn imports_killed_at_random_moments_lose_or_corrupt_nothing() {
    let seed = seed();
    eprintln!("crash_kill seed {seed} (replay with SIGHTLINE_SEED={seed})");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_files = files_count();
    let tmp = tempfile::tempdir().unwrap();

    // One input, split so that every file holds rows of most visitors: each import after
    // the first rewrites visitors already stored (deletion files, moved rows).
    let mut all = Vec::new();
    let generated = write_jsonl(
        &GenOptions {
            visitors: 3000,
            seed: 7,
            ..GenOptions::default()
        },
        &mut all,
    )
    .expect("generate");
    let all_path = tmp.path().join("all.jsonl");
    std::fs::write(&all_path, &all).unwrap();
    let mut contents = vec![Vec::new(); n_files];
    let mut rows = vec![0u64; n_files];
    for line in all.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let f = (fnv1a(line) % n_files as u64) as usize;
        contents[f].extend_from_slice(line);
        contents[f].push(b'\n');
        rows[f] += 1;
    }
    assert_eq!(rows.iter().sum::<u64>(), generated.events);
    let files: Vec<PathBuf> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert!(!c.is_empty(), "input file {i} is empty");
            let p = tmp.path().join(format!("input-{i:02}.jsonl"));
            std::fs::write(&p, c).unwrap();
            p
        })
        .collect();

    // Calibrate: one file into a scratch database.
    let scratch = tmp.path().join("scratch");
    let t0 = Instant::now();
    let out = bin()
        .args(["import", "--db", s(&scratch), "--json", s(&files[0])])
        .output()
        .unwrap();
    let calibration = t0.elapsed();
    assert!(out.status.success(), "calibration: {}", describe(&out));
    // Later imports take longer than the calibration run (they rewrite the visitors
    // already stored), so the basis grows to the longest import seen finishing; kills then
    // keep landing in every phase, commit included.
    let mut basis = calibration;

    // The database exists before the first kill (a kill during creation is covered by
    // `an_interrupted_create_leaves_a_usable_directory`).
    let db = tmp.path().join("db");
    drop(Db::create(&db, DbOptions::default()).unwrap());

    let mut pending: VecDeque<usize> = (0..n_files).collect();
    let mut interrupted = vec![0u32; n_files];
    let (mut acknowledged, mut commits) = (0u64, 0u64);
    // Generations only grow, and grow with every commit; they may skip numbers (a
    // crashed commit's names are never reused) and also count the compactions imports
    // run after committing.
    let (mut generation, mut commits_seen) = (0u64, 0u64);
    let (mut rounds, mut kills_before_commit, mut kills_after_commit, mut natural) = (0, 0, 0, 0);
    let mut kills_mid_commit = 0;
    let (mut compact_kills, mut compacts_finished) = (0, 0);
    let mut compact_basis = Duration::from_millis(20);
    while let Some(f) = pending.pop_front() {
        rounds += 1;
        let ctx = format!("seed {seed}, round {rounds}, file {f}");
        assert!(rounds <= 20 * n_files, "{ctx}: no progress");
        let started = Instant::now();
        let mut child = bin()
            .args(["import", "--db", s(&db), "--json", s(&files[f])])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn import");
        let max_delay_us = (basis.as_micros() as u64 * 3 / 2).max(1);
        let delay = rng.random_range(0..=max_delay_us);
        let deadline =
            (interrupted[f] < MAX_INTERRUPTED).then(|| started + Duration::from_micros(delay));
        // Poll rather than sleep through the delay, so a natural exit is timed too.
        let mut ran = None;
        loop {
            if child.try_wait().expect("poll import").is_some() {
                ran = Some(started.elapsed());
                break;
            }
            let now = Instant::now();
            match deadline {
                Some(d) if now >= d => {
                    child.kill().expect("SIGKILL the import");
                    break;
                }
                Some(d) => std::thread::sleep((d - now).min(Duration::from_micros(300))),
                None => std::thread::sleep(Duration::from_micros(300)),
            }
        }
        // `wait` returns the status `try_wait` already collected, if it did.
        let out = child.wait_with_output().expect("wait for import");
        let killed = out.status.signal() == Some(SIGKILL);
        if !killed {
            basis = basis.max(ran.unwrap_or_else(|| started.elapsed()));
            assert_eq!(out.status.code(), Some(0), "{ctx}: {}", describe(&out));
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{ctx}: bad JSON ({e}): {}", describe(&out)));
            assert_eq!(doc["events"], rows[f], "{ctx}: {doc}");
            assert_eq!(doc["rejected"], 0, "{ctx}: {doc}");
            acknowledged += rows[f];
            commits += 1;
            natural += 1;
        }

        // The database after the round.
        let ro = Db::open_read_only(&db)
            .unwrap_or_else(|e| panic!("{ctx}: open read-only after the round: {e}"));
        let check = bin()
            .args(["check", "--db", s(&db), "--json"])
            .output()
            .unwrap();
        assert_eq!(
            check.status.code(),
            Some(0),
            "{ctx} (killed: {killed}): check: {}",
            describe(&check)
        );
        let report: serde_json::Value = serde_json::from_slice(&check.stdout)
            .unwrap_or_else(|e| panic!("{ctx}: check --json ({e}): {}", describe(&check)));
        assert_eq!(report["ok"], true, "{ctx}: {report}");
        if killed && report["orphans"].as_array().is_some_and(|o| !o.is_empty()) {
            // Unreferenced files: the kill landed inside the commit (writing or cleaning).
            kills_mid_commit += 1;
        }
        let st = ro.snapshot().stats().expect("stats");
        if killed {
            if st.events == acknowledged {
                kills_before_commit += 1;
                interrupted[f] += 1;
                pending.push_back(f);
            } else if st.events == acknowledged + rows[f] {
                // Killed after the commit point, before (or while) acknowledging.
                kills_after_commit += 1;
                acknowledged += rows[f];
                commits += 1;
            } else {
                panic!(
                    "{ctx}: killed after {delay} µs; the database holds {} events, expected {} \
                     (acknowledged) or {} (with this file)",
                    st.events,
                    acknowledged,
                    acknowledged + rows[f]
                );
            }
        } else {
            assert_eq!(st.events, acknowledged, "{ctx}: after a clean import");
        }
        assert!(
            st.generation >= generation,
            "{ctx}: the generation went back"
        );
        if commits > commits_seen {
            assert!(
                st.generation > generation,
                "{ctx}: a commit without a generation"
            );
        }
        (generation, commits_seen) = (st.generation, commits);

        // Every other round, a `sightline compact` killed at a random moment: whatever
        // it had done, the database holds the same data and passes `check`.
        if rng.random_bool(0.5) {
            let before = content(&st);
            let started = Instant::now();
            let mut child = bin()
                .args(["compact", "--db", s(&db), "--json"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn compact");
            let delay = Duration::from_micros(
                rng.random_range(0..(compact_basis.as_micros() as u64 * 3 / 2).max(1)),
            );
            while started.elapsed() < delay && child.try_wait().expect("poll").is_none() {
                std::thread::sleep(Duration::from_micros(300));
            }
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait for compact");
            if out.status.signal() == Some(SIGKILL) {
                compact_kills += 1;
            } else {
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{ctx}: compact: {}",
                    describe(&out)
                );
                compact_basis = compact_basis.max(started.elapsed());
                compacts_finished += 1;
            }
            let check = bin().args(["check", "--db", s(&db)]).output().unwrap();
            assert_eq!(
                check.status.code(),
                Some(0),
                "{ctx}: check after compact: {}",
                describe(&check)
            );
            let after = Db::open_read_only(&db)
                .and_then(|d| d.snapshot().stats())
                .unwrap_or_else(|e| panic!("{ctx}: after compact: {e}"));
            assert_eq!(
                content(&after),
                before,
                "{ctx}: compaction changed the data"
            );
            assert!(
                after.generation >= generation,
                "{ctx}: the generation went back"
            );
            generation = after.generation;
        }
    }
    assert!(rounds >= n_files);
    assert_eq!(commits, n_files as u64);
    assert_eq!(acknowledged, generated.events);

    // The same input in one commit.
    let reference_dir = tmp.path().join("reference");
    let reference = Db::create(&reference_dir, DbOptions::default()).unwrap();
    let mut tx = reference.begin_write().unwrap();
    let report = tx
        .import_file(&all_path, &ImportOptions::default(), &|_| {})
        .unwrap();
    assert_eq!(report.rows, generated.events);
    tx.commit().unwrap();

    let db = Db::open_read_only(&db).unwrap();
    let (got, want) = (
        db.snapshot().stats().unwrap(),
        reference.snapshot().stats().unwrap(),
    );
    assert_eq!(got.events, generated.events, "seed {seed}");
    assert_eq!(content(&got), content(&want), "seed {seed}: stats");
    let (got_visits, want_visits) = (sorted_visits(&db), sorted_visits(&reference));
    assert_eq!(got_visits.len(), want_visits.len(), "seed {seed}: visits");
    for (g, w) in got_visits.iter().zip(&want_visits) {
        assert_eq!(g, w, "seed {seed}: visit differs");
    }
    eprintln!(
        "crash_kill summary: seed {seed}, {rounds} rounds, {} kills that interrupted an import \
         ({kills_before_commit} before the commit point, {kills_after_commit} after it; \
         {kills_mid_commit} inside the commit, leaving orphan files), \
         {natural} imports finished, {commits} commits; {compact_kills} compactions \
         killed, {compacts_finished} finished; calibration {:.1} ms, longest import {:.1} ms",
        kills_before_commit + kills_after_commit,
        calibration.as_secs_f64() * 1000.0,
        basis.as_secs_f64() * 1000.0
    );
}

/// What a kill during `Db::create` leaves behind: the directory and the first manifest
/// still under its temporary name. The next import must create the database anyway.
#[test]
fn an_interrupted_create_leaves_a_usable_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).unwrap();
    std::fs::write(db.join("LOCK"), b"").unwrap();
    std::fs::write(db.join("tmp-MANIFEST-00000000000000000000"), b"SLMANIF").unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, r#"{"ts":0,"visitorId":"a"}"#).unwrap();
    let out = bin()
        .args(["import", "--db", s(&db), "--json", s(&input)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let st = Db::open_read_only(&db).unwrap().snapshot().stats().unwrap();
    assert_eq!(st.events, 1);
}

/// What a `sightline import --memory-limit` child is doing, seen from outside: run files
/// in the database directory (spilling), or run files mapped (merging: the commit reads
/// the runs back through maps).
fn phase(db: &Path, pid: u32) -> (usize, bool) {
    let runs = std::fs::read_dir(db)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-run-"))
                .count()
        })
        .unwrap_or(0);
    let merging = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .is_ok_and(|maps| maps.contains("tmp-run-"));
    (runs, merging)
}

/// Copies the flat database directory `from` to `to`.
fn copy_db(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Imports that spill sorted runs (`--memory-limit 2MiB`), killed with SIGKILL while
/// spilling (after a random number of runs was written) and while merging (a random
/// moment after the runs were first mapped): the database reopens at the old state or
/// the new one, passes `check`, and once a writer has opened it the directory holds no
/// run file (nor any other temporary file).
#[test]
fn spilling_imports_killed_while_spilling_or_merging_leave_old_or_new() {
    let seed = seed();
    eprintln!("crash_kill (spilling) seed {seed} (replay with SIGHTLINE_SEED={seed})");
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5B11);
    let tmp = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    write_jsonl(
        &GenOptions {
            visitors: 15_000,
            seed: 11,
            ..GenOptions::default()
        },
        &mut all,
    )
    .expect("generate");
    // A third first, then the rest (whose visitors are mostly stored already).
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for line in all.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let part = if fnv1a(line).is_multiple_of(3) {
            &mut first
        } else {
            &mut rest
        };
        part.extend_from_slice(line);
        part.push(b'\n');
    }
    let (first_path, rest_path) = (
        tmp.path().join("first.jsonl"),
        tmp.path().join("rest.jsonl"),
    );
    std::fs::write(&first_path, &first).unwrap();
    std::fs::write(&rest_path, &rest).unwrap();
    let base = tmp.path().join("base");
    let out = bin()
        .args(["import", "--db", s(&base), s(&first_path)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let old = content(
        &Db::open_read_only(&base)
            .unwrap()
            .snapshot()
            .stats()
            .unwrap(),
    );
    let import = |db: &Path| {
        bin()
            .args([
                "import",
                "--db",
                s(db),
                "--memory-limit",
                "2MiB",
                "--json",
                s(&rest_path),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn import")
    };

    // Calibrate: how many runs the import writes, and how long its merge takes.
    let db = tmp.path().join("calibration");
    copy_db(&base, &db);
    let mut child = import(&db);
    let (mut runs, mut merge_start) = (0, None);
    while child.try_wait().expect("poll").is_none() {
        let (n, merging) = phase(&db, child.id());
        runs = runs.max(n);
        if merging && merge_start.is_none() {
            merge_start = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let merge = merge_start
        .map(|t| t.elapsed())
        .expect("the merge was seen");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(runs >= 4, "the import spilled only {runs} runs");
    let new = content(&Db::open_read_only(&db).unwrap().snapshot().stats().unwrap());
    assert_ne!(old, new);

    let (mut at_old, mut at_new, mut kills) = (0, 0, [0, 0]);
    for round in 0..12 {
        let merging_round = round % 2 == 1;
        let ctx = format!("seed {seed}, round {round} (merging: {merging_round})");
        let db = tmp.path().join(format!("round-{round}"));
        copy_db(&base, &db);
        let mut child = import(&db);
        let spill_target = rng.random_range(1..runs);
        let merge_delay = Duration::from_micros(rng.random_range(0..merge.as_micros() as u64 + 1));
        let mut merge_seen: Option<Instant> = None;
        let killed = loop {
            if child.try_wait().expect("poll").is_some() {
                break false;
            }
            let (n, merging) = phase(&db, child.id());
            let now = Instant::now();
            if merging && merge_seen.is_none() {
                merge_seen = Some(now);
            }
            let due = if merging_round {
                merge_seen.is_some_and(|t| now >= t + merge_delay)
            } else {
                n >= spill_target && !merging
            };
            if due {
                child.kill().expect("SIGKILL the import");
                break true;
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        let out = child.wait_with_output().unwrap();
        let killed = killed && out.status.signal() == Some(SIGKILL);
        if !killed {
            assert!(out.status.success(), "{ctx}: {}", describe(&out));
        } else {
            kills[usize::from(merging_round)] += 1;
        }
        // Readers see the old state or the new one.
        let got = content(&Db::open_read_only(&db).unwrap().snapshot().stats().unwrap());
        assert!(
            got == old || got == new,
            "{ctx}: neither the old nor the new state"
        );
        if !killed {
            assert_eq!(got, new, "{ctx}: a finished import was lost");
        }
        (at_old, at_new) = (
            at_old + usize::from(got == old),
            at_new + usize::from(got == new),
        );
        // The next writer removes every temporary file, run files included.
        drop(Db::open(&db).unwrap_or_else(|e| panic!("{ctx}: open: {e}")));
        let left: Vec<String> = std::fs::read_dir(&db)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tmp-"))
            .collect();
        assert!(
            left.is_empty(),
            "{ctx}: left after the next writer opened: {left:?}"
        );
        let check = bin()
            .args(["check", "--db", s(&db), "--json"])
            .output()
            .unwrap();
        assert_eq!(
            check.status.code(),
            Some(0),
            "{ctx}: check: {}",
            describe(&check)
        );
        let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
        assert_eq!(report["ok"], true, "{ctx}: {report}");
        assert_eq!(
            report["orphans"].as_array().map(Vec::len),
            Some(0),
            "{ctx}: {report}"
        );
        let _ = std::fs::remove_dir_all(&db);
    }
    assert!(
        kills[0] >= 3 && kills[1] >= 3,
        "kills while spilling, merging: {kills:?}"
    );
    assert!(at_old > 0, "no kill landed before the commit point");
    eprintln!(
        "crash_kill (spilling) summary: {runs} runs, merge {:.0} ms; kills while spilling {}, \
         while merging {}; {at_old} rounds at the old state, {at_new} at the new",
        merge.as_secs_f64() * 1000.0,
        kills[0],
        kills[1]
    );
}
