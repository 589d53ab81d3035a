//! Simulated power loss and I/O errors at every file operation of a commit (`docs/file-format.md`).
//!
//! Everything runs on `storage::sim::SimFs`, the in-memory file system behind the same
//! `Vfs` interface the real one implements. For each commit of a scenario (the first
//! commit into a new database, one that moves visitors out of an older part and so writes
//! a deletion file, one that empties a part and replaces a deletion file) and for the
//! creation of the database itself:
//!
//! - **power loss** before each of its mutating operations (create, write, fsync,
//!   rename, unlink, directory fsync): every state the disk may then hold (every prefix
//!   of the unsynced directory operations × unsynced data lost / kept / torn / zeroed)
//!   must open, pass `check`, show exactly the old or the new commit — the new one if
//!   the commit had been acknowledged — and accept a further commit;
//! - **ENOSPC and EIO** at each of those operations, transient or permanent: the commit
//!   fails with an I/O error naming the operation and the file (or, for the best-effort
//!   clean-up after the commit point, succeeds), the handle still shows the old commit,
//!   the files a reader sees are byte for byte the old ones, and reopening shows the
//!   old commit — or the handle refuses to write until reopened, saying why.
//! - **random histories** (proptest, seeded: `POWER_LOSS_SEED`, `POWER_LOSS_CASES`,
//!   default 256): 1–4 random commits with one fault of any kind anywhere in them; the
//!   database afterwards (reopened, or recovered from every crash state) holds exactly
//!   the acknowledged commits or those plus the one in flight, compared with the same
//!   history committed on a disk without faults.
//!
//! Databases are opened with the background compactor off: it would change the
//! layout (parts, bytes) the fingerprints compare at a moment that depends on timing.

use std::path::{Path, PathBuf};

use sightline::testing::check_in;
use sightline::testing::{Fault, FaultError, FaultMode, SimFs};
use sightline::{Db, DbOptions, ErrorKind, TimeRange};

const DB: &str = "/sim/db";
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;

fn db_path() -> PathBuf {
    PathBuf::from(DB)
}

/// JSON rows of one commit: page views and a goal with revenue for `visitors`, at
/// minute `minute`.
fn rows(visitors: std::ops::Range<usize>, minute: i64, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    for v in visitors {
        let ts = T0 + minute * MIN + v as i64;
        let cc = ["fr", "de", "us"][v % 3];
        out.push(format!(
            r#"{{"ts":{ts},"visitorId":"v{v}","type":"pageview","pageUrl":"https://shop.example/{tag}/{v}","countryCode":"{cc}"}}"#
        ));
        out.push(format!(
            r#"{{"ts":{},"visitorId":"v{v}","type":"goal","goalId":1,"revenue":{}.25}}"#,
            ts + 1000,
            v
        ));
    }
    out
}

/// The scenario: commits in order. The first four are small: their parts and deletion
/// sets go inline in their manifests. The second moves v0..v4 out of the first part (a
/// deletion set); the third moves every visitor of the second part (it leaves the
/// manifest) and more of the first (its deletion set is replaced); the fourth makes the
/// manifest only the second commit's entries referenced obsolete, so it also unlinks it
/// after its commit point. The fifth writes a part too large to go inline: a part file
/// of its own, synced and renamed before the manifest.
fn scenario() -> Vec<Vec<String>> {
    vec![
        rows(0..20, 0, "a"),
        [rows(0..5, 10, "b"), rows(20..30, 10, "b")].concat(),
        [
            rows(0..8, 20, "c"),
            rows(20..30, 20, "c"),
            rows(30..33, 20, "c"),
        ]
        .concat(),
        rows(10..12, 30, "d"),
        rows(100..3100, 40, "e"),
    ]
}

fn commit(db: &Db, rows: &[String]) -> sightline::Result<()> {
    let mut tx = db.begin_write()?;
    for r in rows {
        tx.append_json(r)?;
    }
    tx.commit().map(|_| ())
}

/// What a reader can observe of a database: totals, a query, and every visitor's
/// visits with their events. The generation is left out: a commit retried after a
/// failure takes a new one (generations are never reused).
fn fingerprint(db: &Db) -> String {
    describe(db, true)
}

/// The [`fingerprint`] without the layout (parts and bytes), which a compaction
/// changes and nothing else may.
fn content(db: &Db) -> String {
    describe(db, false)
}

fn describe(db: &Db, layout: bool) -> String {
    let snap = db.snapshot();
    let mut stats = snap.stats().expect("stats");
    stats.generation = 0;
    if !layout {
        (stats.parts, stats.bytes) = (0, 0);
    }
    let mut out = format!("{stats:?}\n");
    let q = snap
        .query("countryCode==fr", &TimeRange::ALL)
        .expect("query");
    out.push_str(&format!("{q:?}\n"));
    for v in 0..34 {
        let p = snap.visitor(&format!("v{v}")).expect("visitor");
        out.push_str(&format!("{:?}\n", p.map(|p| p.visits)));
    }
    out
}

/// A disk holding the database after the first `k` commits of the scenario.
fn base(k: usize) -> SimFs {
    let fs = SimFs::new();
    let db = Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .options(DbOptions::default())
        .create(&db_path())
        .expect("create");
    for c in scenario().iter().take(k) {
        commit(&db, c).expect("setup commit");
    }
    fs
}

/// Fingerprints before and after commit `k`, and the mutating operations it performs.
fn expected(k: usize) -> (String, String, u64) {
    let fs = base(k);
    let db = Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .open(&db_path())
        .expect("open");
    let old = fingerprint(&db);
    let before = fs.ops();
    commit(&db, &scenario()[k]).expect("clean commit");
    let ops = fs.ops() - before;
    (old, fingerprint(&db), ops)
}

/// Commit `k` of the scenario with the power lost before its operation `i`: the frozen
/// disk, and whether the commit was acknowledged.
fn power_off_during(k: usize, i: u64) -> (SimFs, bool) {
    let fs = base(k);
    let db = Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .open(&db_path())
        .expect("open");
    fs.inject(Fault {
        at: fs.ops() + i,
        error: FaultError::Eio,
        mode: FaultMode::PowerLoss,
    });
    let acked = commit(&db, &scenario()[k]).is_ok();
    (fs, acked)
}

/// Recovery of one crash state: opens, passes `check`, shows `old` or `new` (`new` if
/// acknowledged), leaves no orphan, and takes a further commit.
fn recover(state: &SimFs, old: &str, new: &str, acked: bool, what: &str) -> bool {
    let db = Db::builder()
        .auto_compact(false)
        .file_system(state.vfs())
        .open(&db_path())
        .unwrap_or_else(|e| panic!("{what}: the database does not open: {e}"));
    let got = fingerprint(&db);
    assert!(
        got == old || got == new,
        "{what}: recovered neither the old nor the new commit:\n{got}"
    );
    if acked {
        assert_eq!(got, new, "{what}: an acknowledged commit was lost");
    }
    let report = check_in(&*state.vfs(), &db_path()).expect("check");
    assert!(report.is_ok(), "{what}: check: {:?}", report.problems);
    assert!(
        report.orphans.is_empty(),
        "{what}: orphans after open: {:?}",
        report.orphans
    );
    let before = db.snapshot().stats().expect("stats").events;
    commit(&db, &rows(40..42, 90, "after"))
        .unwrap_or_else(|e| panic!("{what}: commit after recovery: {e}"));
    assert_eq!(db.snapshot().stats().expect("stats").events, before + 4);
    assert!(check_in(&*state.vfs(), &db_path()).expect("check").is_ok());
    got == new
}

#[test]
fn power_loss_at_every_operation_of_every_commit_recovers_old_or_new() {
    let mut total_states = 0;
    let mut summary = Vec::new();
    for k in 0..scenario().len() {
        let (old, new, ops) = expected(k);
        // Inline: create, write, fsync, rename, directory fsync of the manifest; a part
        // file adds its own create, write, fsync, rename and directory fsync.
        let least = if k == 4 { 10 } else { 5 };
        assert!(ops >= least, "commit {k} performs only {ops} operations");
        let (mut states, mut newer) = (0, 0);
        for i in 0..=ops {
            let (fs, acked) = power_off_during(k, i);
            assert!(acked || i < ops, "commit {k} failed without a fault");
            let log = fs.log();
            for (n, state) in fs.crash_states(k as u64 * 1000 + i).iter().enumerate() {
                let what = format!(
                    "commit {k}, power lost before operation {i} of {ops} ({}), state {n}: {}",
                    log.last().map_or("", String::as_str),
                    state.label
                );
                newer += usize::from(recover(&state.fs, &old, &new, acked, &what));
                states += 1;
            }
        }
        assert!(
            newer > 0 && newer < states,
            "commit {k}: {newer} of {states}"
        );
        summary.push(format!(
            "commit {k}: {ops} operations, {states} crash states, {newer} at the new commit"
        ));
        total_states += states;
    }
    println!("{}\ntotal crash states: {total_states}", summary.join("\n"));
}

/// Recovery itself (the open that removes a crashed commit's files) loses power at each
/// of its operations: the states it can leave recover to the same commit.
#[test]
fn power_loss_during_recovery_is_harmless() {
    let (mut recoveries, mut nested) = (0, 0);
    for k in 0..scenario().len() {
        let (old, new, ops) = expected(k);
        for i in 0..ops {
            let (fs, _) = power_off_during(k, i);
            for state in fs.crash_states(i) {
                // How many operations the recovering open performs here.
                let probe = SimFs::new();
                let Ok(files) = copy_disk(&state.fs, &probe) else {
                    continue;
                };
                let before = probe.ops();
                let want = fingerprint(
                    &Db::builder()
                        .auto_compact(false)
                        .file_system(probe.vfs())
                        .open(&db_path())
                        .expect("open"),
                );
                assert!(
                    want == old || want == new,
                    "{want}\n--- old\n{old}\n--- new\n{new}"
                );
                let recovery_ops = probe.ops() - before;
                if recovery_ops == 0 {
                    continue;
                }
                recoveries += 1;
                for j in 0..recovery_ops {
                    let disk = SimFs::new();
                    copy_disk(&state.fs, &disk).expect("copy");
                    disk.inject(Fault {
                        at: disk.ops() + j,
                        error: FaultError::Eio,
                        mode: FaultMode::PowerLoss,
                    });
                    let _ = Db::builder()
                        .auto_compact(false)
                        .file_system(disk.vfs())
                        .open(&db_path());
                    for again in disk.crash_states(j) {
                        let what = format!(
                            "commit {k}, power lost at {i}, {}, then at recovery operation {j}: {} ({files} files)",
                            state.label, again.label
                        );
                        let db = Db::builder()
                            .auto_compact(false)
                            .file_system(again.fs.vfs())
                            .open(&db_path())
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        assert_eq!(fingerprint(&db), want, "{what}");
                        nested += 1;
                    }
                }
            }
        }
    }
    assert!(recoveries > 0);
    println!("{recoveries} recoveries with work to do, {nested} states after a second power loss");
}

/// Copies every file of `from` onto `to` as synced, durable files.
fn copy_disk(from: &SimFs, to: &SimFs) -> std::io::Result<usize> {
    use sightline::testing::Vfs;
    to.create_dir(Path::new(DB))?;
    let dir = to.open_dir(Path::new(DB))?;
    let files = from.files();
    for (p, bytes) in &files {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let mut f = dir.create(name)?;
        f.write_all(bytes)?;
        f.sync()?;
    }
    dir.sync()?;
    Ok(files.len())
}

#[test]
fn power_loss_while_creating_leaves_no_database_or_an_empty_one() {
    let probe = SimFs::new();
    Db::builder()
        .auto_compact(false)
        .file_system(probe.vfs())
        .options(DbOptions::default())
        .create(&db_path())
        .expect("create");
    let ops = probe.ops();
    for i in 0..=ops {
        let fs = SimFs::new();
        fs.inject(Fault {
            at: i,
            error: FaultError::Eio,
            mode: FaultMode::PowerLoss,
        });
        let acked = Db::builder()
            .auto_compact(false)
            .file_system(fs.vfs())
            .options(DbOptions::default())
            .create(&db_path())
            .is_ok();
        for state in fs.crash_states(i) {
            let what = format!("create, power lost before operation {i}: {}", state.label);
            let db = match Db::builder()
                .auto_compact(false)
                .file_system(state.fs.vfs())
                .open(&db_path())
            {
                Ok(db) => db,
                Err(e) => {
                    assert!(!acked, "{what}: acknowledged creation lost: {e}");
                    assert_eq!(e.kind(), ErrorKind::Usage, "{what}: {e}");
                    // No database: creating it again works.
                    Db::builder()
                        .auto_compact(false)
                        .file_system(state.fs.vfs())
                        .options(DbOptions::default())
                        .create(&db_path())
                        .unwrap_or_else(|e| panic!("{what}: create again: {e}"))
                }
            };
            assert_eq!(db.snapshot().generation(), 0, "{what}");
            commit(&db, &rows(0..2, 0, "x")).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
    }
}

#[test]
fn disk_full_and_io_errors_leave_the_previous_commit_intact() {
    let mut cases = 0;
    let mut poisoned = 0;
    let mut cleanup_failed = 0;
    for k in 0..scenario().len() {
        let (old, new, ops) = expected(k);
        for error in [FaultError::NoSpace, FaultError::Eio] {
            for mode in [FaultMode::Once, FaultMode::Always] {
                for i in 0..ops {
                    cases += 1;
                    let fs = base(k);
                    let db = Db::builder()
                        .auto_compact(false)
                        .file_system(fs.vfs())
                        .open(&db_path())
                        .expect("open");
                    let files_before = fs.files();
                    let start = fs.ops() as usize;
                    fs.inject(Fault {
                        at: fs.ops() + i,
                        error,
                        mode,
                    });
                    let res = commit(&db, &scenario()[k]);
                    let log = fs.log();
                    let log = log.get(start..).unwrap_or_default();
                    let failed = log.iter().position(|l| l.contains(" FAILS "));
                    let what = format!(
                        "commit {k}, {error:?} {mode:?} at operation {i} of {ops}: {}",
                        failed.and_then(|f| log.get(f)).map_or("", String::as_str)
                    );
                    // The commit point: the directory fsync after the manifest's rename.
                    let point = log
                        .iter()
                        .position(|l| l.contains("rename") && l.contains("tmp-MANIFEST"))
                        .map(|r| r + 1);
                    let after_point = matches!((failed, point), (Some(f), Some(p)) if f > p);
                    // What a reopened database must show.
                    let expect_reopened = match res {
                        Ok(()) => {
                            // Only the best-effort clean-up after the commit point may
                            // fail without failing the commit.
                            assert!(after_point, "{what}: the fault did not fail the commit");
                            assert_eq!(fingerprint(&db), new, "{what}");
                            cleanup_failed += 1;
                            Some(&new)
                        }
                        Err(e) => {
                            assert!(!after_point, "{what}: failed after the commit point: {e}");
                            assert_eq!(e.kind(), ErrorKind::Io, "{what}: {e}");
                            let msg = e.to_string();
                            let reason = match error {
                                FaultError::NoSpace => "No space left on device",
                                FaultError::Eio => "Input/output error",
                            };
                            assert!(msg.contains(reason), "{what}: message {msg:?}");
                            assert!(msg.contains(DB), "{what}: message names no file: {msg:?}");
                            assert_eq!(fingerprint(&db), old, "{what}: the handle moved");
                            if mode == FaultMode::Once {
                                // The failed commit was undone: a reader sees exactly the
                                // old files, and the same handle commits again.
                                let now = fs.files();
                                assert!(
                                    now == files_before,
                                    "{what}: files differ: {:?} instead of {:?}",
                                    now.iter().map(|(p, b)| (p, b.len())).collect::<Vec<_>>(),
                                    files_before
                                        .iter()
                                        .map(|(p, b)| (p, b.len()))
                                        .collect::<Vec<_>>()
                                );
                                commit(&db, &scenario()[k])
                                    .unwrap_or_else(|e| panic!("{what}: retry: {e}"));
                                assert_eq!(fingerprint(&db), new, "{what}: retry");
                                Some(&new)
                            } else {
                                // The disk stays broken: the undo failed too, so the
                                // handle refuses to write and says why.
                                let again = commit(&db, &scenario()[k])
                                    .expect_err("a commit on a failing disk succeeded");
                                assert_eq!(again.kind(), ErrorKind::Usage, "{what}: {again}");
                                assert!(
                                    again.to_string().contains("reopen the database"),
                                    "{what}: {again}"
                                );
                                poisoned += 1;
                                // Reopening decides: the manifest may have been renamed
                                // into place before its directory fsync failed.
                                None
                            }
                        }
                    };
                    drop(db);
                    fs.clear_faults();
                    let reopened = Db::builder()
                        .auto_compact(false)
                        .file_system(fs.vfs())
                        .open(&db_path())
                        .unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
                    let got = fingerprint(&reopened);
                    match expect_reopened {
                        Some(want) => assert_eq!(&got, want, "{what}: reopened"),
                        None => assert!(got == old || got == new, "{what}: reopened"),
                    }
                    let report = check_in(&*fs.vfs(), &db_path()).expect("check");
                    assert!(
                        report.is_ok() && report.orphans.is_empty(),
                        "{what}: {report:?}"
                    );
                }
            }
        }
    }
    assert!(poisoned > 0 && cleanup_failed > 0);
    println!(
        "I/O error cases: {cases} ({poisoned} left the handle refusing writes, \
         {cleanup_failed} failed only the clean-up after the commit point)"
    );
}

#[test]
fn a_second_writer_on_the_simulated_disk_is_locked_out() {
    let fs = base(1);
    let db = Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .open(&db_path())
        .expect("open");
    let e = Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .open(Path::new(DB))
        .expect_err("second writer");
    assert_eq!(e.kind(), ErrorKind::Locked);
    drop(db);
    Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .open(Path::new(DB))
        .expect("the lock is released on drop");
}

/// The databases compactions are tested on: after the first four commits of the
/// scenario (small parts inline in manifests, with deletion sets; the merged part goes
/// inline too), and after all five (a part file of its own as well; the merged part is
/// a file).
const COMPACTED: [usize; 2] = [4, 5];

/// Opens the database on `fs` for writing.
fn open(fs: &SimFs) -> Db {
    Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .open(&db_path())
        .expect("open")
}

/// A full compaction of the database after the first `k` commits: the fingerprint
/// (which it must not change), the parts before and after, and its operations.
fn compaction_of(k: usize) -> (String, u64, u64, u64) {
    let fs = base(k);
    let db = open(&fs);
    let want = content(&db);
    let before = db.snapshot().stats().expect("stats").parts;
    let start = fs.ops();
    let c = db.compact().expect("clean compaction");
    let ops = fs.ops() - start;
    assert_eq!(content(&db), want, "the compaction changed an answer");
    assert!(c.parts_after < c.parts_before, "{c:?}");
    (want, before, c.parts_after, ops)
}

/// Power lost before each operation of a compaction (building its parts, the swap, the
/// clean-up): every state the disk may then hold opens with the same answers, the
/// parts of before or after it (after, if it returned), passes `check`, leaves no
/// orphan and takes a commit.
#[test]
fn power_loss_at_every_operation_of_a_compaction_recovers_old_or_new() {
    let mut summary = Vec::new();
    for k in COMPACTED {
        let (want, before, after, ops) = compaction_of(k);
        assert!(
            ops >= 5,
            "a compaction of {k} commits performs only {ops} operations"
        );
        let (mut states, mut newer) = (0, 0);
        for i in 0..=ops {
            let fs = base(k);
            let db = open(&fs);
            fs.inject(Fault {
                at: fs.ops() + i,
                error: FaultError::Eio,
                mode: FaultMode::PowerLoss,
            });
            let acked = db.compact().is_ok();
            assert!(acked || i < ops, "compaction failed without a fault");
            drop(db);
            for (n, state) in fs.crash_states(7_000 + i).iter().enumerate() {
                let what = format!(
                    "compaction after {k} commits, power lost before operation {i} of {ops}, state {n}: {}",
                    state.label
                );
                let db = Db::builder()
                    .auto_compact(false)
                    .file_system(state.fs.vfs())
                    .open(&db_path())
                    .unwrap_or_else(|e| panic!("{what}: the database does not open: {e}"));
                assert_eq!(content(&db), want, "{what}: an answer changed");
                let parts = db.snapshot().stats().expect("stats").parts;
                assert!(parts == before || parts == after, "{what}: {parts} parts");
                assert!(
                    !acked || parts == after,
                    "{what}: an acknowledged compaction was lost"
                );
                let report = check_in(&*state.fs.vfs(), &db_path()).expect("check");
                assert!(report.is_ok(), "{what}: check: {:?}", report.problems);
                assert!(
                    report.orphans.is_empty(),
                    "{what}: orphans: {:?}",
                    report.orphans
                );
                commit(&db, &rows(40..42, 90, "after"))
                    .unwrap_or_else(|e| panic!("{what}: commit after recovery: {e}"));
                assert!(
                    check_in(&*state.fs.vfs(), &db_path())
                        .expect("check")
                        .is_ok()
                );
                newer += usize::from(parts == after);
                states += 1;
            }
        }
        assert!(
            newer > 0 && newer < states,
            "after {k} commits: {newer} of {states}"
        );
        summary.push(format!(
            "compaction after {k} commits: {ops} operations, {states} crash states, {newer} compacted"
        ));
    }
    println!("{}", summary.join("\n"));
}

/// Disk full or EIO at each operation of a compaction, once or for good: the answers
/// never change; a failed compaction is an I/O error naming the file, and once the
/// fault passes the same handle compacts; the database reopens with the same answers,
/// passes `check`, and holds no orphan.
#[test]
fn disk_full_and_io_errors_during_a_compaction_change_no_answer() {
    let (mut cases, mut failed, mut poisoned) = (0, 0, 0);
    for k in COMPACTED {
        let (want, before, after, ops) = compaction_of(k);
        for error in [FaultError::NoSpace, FaultError::Eio] {
            for mode in [FaultMode::Once, FaultMode::Always] {
                for i in 0..ops {
                    cases += 1;
                    let fs = base(k);
                    let db = open(&fs);
                    let files_before = fs.files();
                    fs.inject(Fault {
                        at: fs.ops() + i,
                        error,
                        mode,
                    });
                    let what = format!(
                        "compaction after {k} commits, {error:?} {mode:?} at operation {i} of {ops}"
                    );
                    let res = db.compact();
                    assert_eq!(content(&db), want, "{what}: an answer changed");
                    if let Err(e) = &res {
                        failed += 1;
                        assert_eq!(e.kind(), ErrorKind::Io, "{what}: {e}");
                        assert!(e.to_string().contains(DB), "{what}: names no file: {e}");
                        let parts = db.snapshot().stats().expect("stats").parts;
                        assert_eq!(parts, before, "{what}: a failed compaction swapped");
                        if mode == FaultMode::Once {
                            assert!(fs.files() == files_before, "{what}: files left behind");
                        }
                    }
                    fs.clear_faults();
                    match db.compact() {
                        Ok(_) => {
                            assert_eq!(db.snapshot().stats().expect("stats").parts, after, "{what}")
                        }
                        Err(e) => {
                            // A failure that could not be undone: writes are refused
                            // until the database is reopened.
                            assert_eq!(e.kind(), ErrorKind::Usage, "{what}: {e}");
                            poisoned += 1;
                        }
                    }
                    drop(db);
                    let db = open(&fs);
                    assert_eq!(content(&db), want, "{what}: reopened");
                    let report = check_in(&*fs.vfs(), &db_path()).expect("check");
                    assert!(
                        report.is_ok() && report.orphans.is_empty(),
                        "{what}: {report:?}"
                    );
                }
            }
        }
    }
    assert!(failed > 0);
    println!(
        "compaction I/O error cases: {cases} ({failed} failed the compaction, {poisoned} refused writes until reopened)"
    );
}

/// Commits of the scenario made by a handle with a small memory budget: (commit, spill
/// its rows at this many bytes, cut the merge into groups of this many events). Commit
/// 1 rewrites stored visitors (a deletion set) through a merge of several runs into
/// inline parts; commit 4 spills runs of hundreds of rows and builds part files of its
/// own. Each spills several runs (checked).
const SPILLING: [(usize, usize, usize); 2] = [(1, 2500, 8), (4, 200_000, 4000)];

/// Opens the database on `fs` for writing with the shares of a small budget: spill at
/// `spill` bytes, groups of `group` events, built on one thread besides the merge (one
/// thread writes, so the operations come in the same order every time).
fn open_spilling(fs: &SimFs, spill: usize, group: usize) -> Db {
    Db::builder()
        .file_system(fs.vfs())
        .budget_for_tests(spill, group, 1)
        .open(&db_path())
        .expect("open")
}

/// Run files on `fs`.
fn run_files(fs: &SimFs) -> Vec<PathBuf> {
    fs.files()
        .into_keys()
        .filter(|p| p.to_string_lossy().contains("tmp-run-"))
        .collect()
}

/// Fingerprints before and after spilling commit `k`, and its operations.
fn expected_spilling(k: usize, spill: usize, group: usize) -> (String, String, u64) {
    let fs = base(k);
    let db = open_spilling(&fs, spill, group);
    let old = fingerprint(&db);
    let (before, log_before) = (fs.ops(), fs.log().len());
    commit(&db, &scenario()[k]).expect("clean commit");
    let runs = fs.log()[log_before..]
        .iter()
        .filter(|l| l.contains(": create ") && l.contains("tmp-run-"))
        .count();
    if std::env::var("SHOW_LOG").is_ok() {
        eprintln!("{}", fs.log()[log_before..].join("\n"));
    }
    assert!(runs >= 3, "commit {k} spilled {runs} runs");
    assert!(run_files(&fs).is_empty());
    (old, fingerprint(&db), fs.ops() - before)
}

/// Power lost before each operation of a commit that spills runs and merges them
/// (writing the runs, reading them back, building the groups' parts, deleting the runs,
/// the manifest): every crash state opens at the old or the new commit (the new one if
/// acknowledged), passes `check`, and no run file remains once a writer has opened it.
#[test]
fn power_loss_at_every_operation_of_a_spilling_commit_recovers_old_or_new() {
    let mut summary = Vec::new();
    for (k, spill, group) in SPILLING {
        let (old, new, ops) = expected_spilling(k, spill, group);
        let (mut states, mut newer) = (0, 0);
        for i in 0..=ops {
            let fs = base(k);
            let db = open_spilling(&fs, spill, group);
            fs.inject(Fault {
                at: fs.ops() + i,
                error: FaultError::Eio,
                mode: FaultMode::PowerLoss,
            });
            let acked = commit(&db, &scenario()[k]).is_ok();
            assert!(acked || i < ops, "commit {k} failed without a fault");
            drop(db);
            let log = fs.log();
            // Nothing reads a run file after a crash (recovery only unlinks it), so states
            // that differ only in what unsynced run files hold recover alike: each is
            // recovered once per distinct rest of the disk and set of run names.
            let mut seen = std::collections::HashSet::new();
            for (n, state) in fs
                .crash_states(50_000 + k as u64 * 1000 + i)
                .iter()
                .enumerate()
            {
                let key: Vec<(PathBuf, Vec<u8>)> = state
                    .fs
                    .files()
                    .into_iter()
                    .map(|(p, b)| match p.to_string_lossy().contains("tmp-run-") {
                        true => (p, Vec::new()),
                        false => (p, b),
                    })
                    .collect();
                if !seen.insert(key) {
                    continue;
                }
                let what = format!(
                    "spilling commit {k}, power lost before operation {i} of {ops} ({}), state {n}: {}",
                    log.last().map_or("", String::as_str),
                    state.label
                );
                newer += usize::from(recover(&state.fs, &old, &new, acked, &what));
                assert!(
                    run_files(&state.fs).is_empty(),
                    "{what}: a run file survived"
                );
                states += 1;
            }
        }
        assert!(
            newer > 0 && newer < states,
            "commit {k}: {newer} of {states}"
        );
        summary.push(format!(
            "spilling commit {k}: {ops} operations, {states} crash states, {newer} at the new commit"
        ));
    }
    println!("{}", summary.join("\n"));
}

/// Disk full or EIO at each operation of a spilling commit, once or for good: the
/// commit fails with an I/O error naming the file (or, past the commit point or at a
/// run's deletion, which is best effort, succeeds); the handle shows the old commit or
/// the new one accordingly, and no run file is left once the commit returned — except
/// one whose deletion itself failed, which the next writer's open removes.
#[test]
fn disk_full_and_io_errors_during_a_spilling_commit_leave_old_or_new() {
    let (mut cases, mut failed) = (0, 0);
    for (k, spill, group) in SPILLING {
        let (old, new, ops) = expected_spilling(k, spill, group);
        for error in [FaultError::NoSpace, FaultError::Eio] {
            for mode in [FaultMode::Once, FaultMode::Always] {
                for i in 0..ops {
                    cases += 1;
                    let fs = base(k);
                    let db = open_spilling(&fs, spill, group);
                    let files_before = fs.files();
                    let start = fs.log().len();
                    fs.inject(Fault {
                        at: fs.ops() + i,
                        error,
                        mode,
                    });
                    let res = commit(&db, &scenario()[k]);
                    let log = fs.log();
                    let log = log.get(start..).unwrap_or_default();
                    let fault = log.iter().find(|l| l.contains(" FAILS ")).cloned();
                    let what = format!(
                        "spilling commit {k}, {error:?} {mode:?} at operation {i} of {ops}: {}",
                        fault.as_deref().unwrap_or("")
                    );
                    let run_unlink = fault
                        .as_deref()
                        .is_some_and(|l| l.contains("remove") && l.contains("tmp-run-"));
                    match &res {
                        Ok(()) => assert_eq!(fingerprint(&db), new, "{what}"),
                        Err(e) => {
                            failed += 1;
                            assert_eq!(e.kind(), ErrorKind::Io, "{what}: {e}");
                            assert!(e.to_string().contains(DB), "{what}: names no file: {e}");
                            assert_eq!(fingerprint(&db), old, "{what}: the handle moved");
                            if mode == FaultMode::Once && !run_unlink {
                                assert!(fs.files() == files_before, "{what}: files left behind");
                            }
                        }
                    }
                    if mode == FaultMode::Once && !run_unlink {
                        assert!(run_files(&fs).is_empty(), "{what}: {:?}", run_files(&fs));
                    }
                    drop(db);
                    fs.clear_faults();
                    let db = open(&fs);
                    let got = fingerprint(&db);
                    assert!(got == old || got == new, "{what}: reopened");
                    if res.is_ok() {
                        assert_eq!(got, new, "{what}: an acknowledged commit was lost");
                    }
                    let report = check_in(&*fs.vfs(), &db_path()).expect("check");
                    assert!(
                        report.is_ok() && report.orphans.is_empty(),
                        "{what}: {report:?}"
                    );
                    assert!(run_files(&fs).is_empty(), "{what}: after reopening");
                }
            }
        }
    }
    assert!(failed > 0);
    println!("spilling commit I/O error cases: {cases} ({failed} failed the commit)");
}

/// The compaction with a budget whose groups are this small: the merge of the parts'
/// cursors emits several groups, each built into a part of its own while the next is
/// gathered.
const COMPACTION_GROUP: usize = 1500;

/// The database after the first `k` commits and one moving ten visitors out of the
/// large part of commit 4 (so that a full compaction rewrites it too, in groups).
fn compaction_base(k: usize) -> SimFs {
    let fs = base(k);
    commit(&open(&fs), &rows(100..110, 50, "f")).expect("setup commit");
    fs
}

/// A bounded compaction: its fingerprint (unchanged by it), parts before and after,
/// and operations.
fn bounded_compaction_of(k: usize) -> (String, u64, u64, u64) {
    let fs = compaction_base(k);
    let db = open_spilling(&fs, 1 << 20, COMPACTION_GROUP);
    let want = content(&db);
    let before = db.snapshot().stats().expect("stats").parts;
    let start = fs.ops();
    let c = db.compact().expect("clean compaction");
    assert_eq!(content(&db), want, "the compaction changed an answer");
    (want, before, c.parts_after, fs.ops() - start)
}

/// Power loss at every operation, and disk full or EIO (once or for good) at every
/// operation, of a compaction that streams its parts in groups: the answers never
/// change, the database reopens with the parts of before or after it (after, if it
/// returned), passes `check` and holds no orphan.
#[test]
fn faults_at_every_operation_of_a_bounded_compaction_change_no_answer() {
    let k = 5;
    let (want, before, after, ops) = bounded_compaction_of(k);
    assert!(after >= 3, "{after} parts: the groups did not cut");
    let mut states = 0;
    for i in 0..=ops {
        let fs = compaction_base(k);
        let db = open_spilling(&fs, 1 << 20, COMPACTION_GROUP);
        fs.inject(Fault {
            at: fs.ops() + i,
            error: FaultError::Eio,
            mode: FaultMode::PowerLoss,
        });
        let acked = db.compact().is_ok();
        drop(db);
        for state in fs.crash_states(90_000 + i) {
            let what = format!(
                "bounded compaction, power lost before operation {i} of {ops}: {}",
                state.label
            );
            let db = Db::builder()
                .file_system(state.fs.vfs())
                .open(&db_path())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(content(&db), want, "{what}");
            let parts = db.snapshot().stats().expect("stats").parts;
            assert!(parts == before || parts == after, "{what}: {parts} parts");
            assert!(
                !acked || parts == after,
                "{what}: acknowledged compaction lost"
            );
            let report = check_in(&*state.fs.vfs(), &db_path()).expect("check");
            assert!(
                report.is_ok() && report.orphans.is_empty(),
                "{what}: {report:?}"
            );
            states += 1;
        }
    }
    let mut cases = 0;
    for error in [FaultError::NoSpace, FaultError::Eio] {
        for mode in [FaultMode::Once, FaultMode::Always] {
            for i in 0..ops {
                let fs = compaction_base(k);
                let db = open_spilling(&fs, 1 << 20, COMPACTION_GROUP);
                let files_before = fs.files();
                fs.inject(Fault {
                    at: fs.ops() + i,
                    error,
                    mode,
                });
                let what =
                    format!("bounded compaction, {error:?} {mode:?} at operation {i} of {ops}");
                let res = db.compact();
                assert_eq!(content(&db), want, "{what}");
                if let Err(e) = &res {
                    assert_eq!(e.kind(), ErrorKind::Io, "{what}: {e}");
                    assert_eq!(
                        db.snapshot().stats().expect("stats").parts,
                        before,
                        "{what}"
                    );
                    if mode == FaultMode::Once {
                        assert!(fs.files() == files_before, "{what}: files left behind");
                    }
                }
                drop(db);
                fs.clear_faults();
                let db = open(&fs);
                assert_eq!(content(&db), want, "{what}: reopened");
                let report = check_in(&*fs.vfs(), &db_path()).expect("check");
                assert!(
                    report.is_ok() && report.orphans.is_empty(),
                    "{what}: {report:?}"
                );
                cases += 1;
            }
        }
    }
    println!(
        "bounded compaction: {before} parts into {after}, {ops} operations, {states} crash states, {cases} I/O error cases"
    );
}

#[path = "common/seeded.rs"]
mod seeded;

use proptest::prelude::*;

/// A random history: 1–4 commits, each of a random visitor range (overlapping earlier
/// ones or not) at a later minute.
fn history() -> impl Strategy<Value = Vec<Vec<String>>> {
    prop::collection::vec((0usize..30, 1usize..12), 1..5).prop_map(|spec| {
        spec.iter()
            .enumerate()
            .map(|(i, &(from, n))| rows(from..from + n, 10 * i as i64, &format!("h{i}")))
            .collect()
    })
}

fn fault_strategy() -> impl Strategy<Value = (u64, FaultError, FaultMode, u64)> {
    (
        0u64..200,
        prop_oneof![Just(FaultError::NoSpace), Just(FaultError::Eio)],
        prop_oneof![
            Just(FaultMode::Once),
            Just(FaultMode::Always),
            Just(FaultMode::PowerLoss)
        ],
        any::<u64>(),
    )
}

proptest! {
    #![proptest_config(seeded::config(
        "power_loss",
        "POWER_LOSS_SEED",
        seeded::env_or("POWER_LOSS_SEED", 0x0051_D15C),
        seeded::env_or("POWER_LOSS_CASES", 256),
    ))]

    /// Random histories with one fault anywhere in them (any operation, any error, any
    /// mode): afterwards the database — reopened, or recovered from every crash state —
    /// holds exactly the acknowledged commits, or those plus the one in flight; the model
    /// is the same history committed on a disk without faults.
    #[test]
    fn random_histories_with_a_fault_keep_exactly_the_acknowledged_commits(
        commits in history(),
        (at, error, mode, seed) in fault_strategy(),
    ) {
        // The model: fingerprints after each prefix of the history.
        let model_fs = SimFs::new();
        let model = Db::builder().auto_compact(false).file_system(model_fs.vfs()).options(DbOptions::default()).create(&db_path()).unwrap();
        let mut want = vec![fingerprint(&model)];
        for c in &commits {
            commit(&model, c).unwrap();
            want.push(fingerprint(&model));
        }
        let total_ops = model_fs.ops();

        let fs = SimFs::new();
        fs.inject(Fault { at: at % (total_ops + 1), error, mode });
        let mut acked = 0;
        let mut db = Db::builder().auto_compact(false).file_system(fs.vfs()).options(DbOptions::default()).create(&db_path()).ok();
        let created = db.is_some();
        for c in &commits {
            let Some(handle) = &db else { break };
            match commit(handle, c) {
                Ok(()) => acked += 1,
                Err(_) if mode == FaultMode::Once => {
                    // A transient error: retrying the same commit succeeds.
                    commit(handle, c).unwrap();
                    acked += 1;
                }
                Err(_) => {
                    db = None;
                }
            }
        }
        drop(db);
        let in_flight = (acked < commits.len()).then_some(acked + 1);
        let ok = |got: &str| got == want[acked] || in_flight.is_some_and(|k| got == want[k]);
        if mode == FaultMode::PowerLoss {
            for state in fs.crash_states(seed) {
                match Db::builder().auto_compact(false).file_system(state.fs.vfs()).open(&db_path()) {
                    Ok(db) => {
                        let got = fingerprint(&db);
                        prop_assert!(ok(&got), "{}: {} acknowledged", state.label, acked);
                    }
                    Err(e) => prop_assert!(
                        !created && e.kind() == ErrorKind::Usage,
                        "{}: {e}", state.label
                    ),
                }
            }
        } else {
            fs.clear_faults();
            match Db::builder().auto_compact(false).file_system(fs.vfs()).open(&db_path()) {
                Ok(db) => prop_assert!(ok(&fingerprint(&db)), "{acked} acknowledged"),
                Err(e) => prop_assert!(!created && e.kind() == ErrorKind::Usage, "{e}"),
            }
        }
    }
}

/// The files the newest manifest on `fs` and its rollback generation name, and which
/// of them are missing.
fn missing_files(fs: &SimFs) -> (usize, Vec<String>) {
    use sightline::testing::Manifest;
    let files = fs.files();
    let mut manifests: Vec<(&PathBuf, Manifest)> = files
        .iter()
        .filter(|(p, _)| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("MANIFEST-"))
        })
        .map(|(p, b)| {
            (
                p,
                Manifest::decode(p, b).expect("a manifest on the disk is damaged"),
            )
        })
        .collect();
    manifests.sort_by_key(|(_, m)| m.generation);
    let Some((_, newest)) = manifests.last() else {
        return (0, Vec::new());
    };
    let kept = manifests.iter().filter(|(_, m)| {
        m.generation == newest.generation || Some(m.generation) == newest.rollback
    });
    let (mut named, mut missing) = (0, Vec::new());
    for (path, m) in kept {
        for f in m.files() {
            named += 1;
            if !files.contains_key(&db_path().join(f)) {
                missing.push(format!("{f} (named by {})", path.display()));
            }
        }
    }
    (named, missing)
}

/// A read error (EIO, or EMFILE/ESTALE alike: transient, or lasting) at any read of a
/// commit — the manifests its clean-up reads after the commit point among them — never
/// deletes a file that one of the two newest manifests names: a manifest that cannot be
/// read protects every file. The commit is reported as it happened, and the database
/// reopens at the old or the new commit with every file in place.
#[test]
fn read_errors_during_commit_and_clean_up_delete_no_live_file() {
    let (mut cases, mut named_total) = (0, 0);
    for k in 0..scenario().len() {
        let (old, new, _) = expected(k);
        let reads = {
            let fs = base(k);
            let db = Db::builder()
                .auto_compact(false)
                .file_system(fs.vfs())
                .open(&db_path())
                .expect("open");
            let before = fs.reads();
            commit(&db, &scenario()[k]).expect("clean commit");
            fs.reads() - before
        };
        assert!(reads > 0, "commit {k} reads nothing");
        for mode in [FaultMode::Once, FaultMode::Always] {
            for i in 0..reads {
                cases += 1;
                let fs = base(k);
                let db = Db::builder()
                    .auto_compact(false)
                    .file_system(fs.vfs())
                    .open(&db_path())
                    .expect("open");
                fs.inject_read(Fault {
                    at: fs.reads() + i,
                    error: FaultError::Eio,
                    mode,
                });
                let acked = commit(&db, &scenario()[k]).is_ok();
                let what = format!("commit {k}, read error ({mode:?}) at read {i} of {reads}");
                fs.clear_faults();
                let (named, missing) = missing_files(&fs);
                named_total += named;
                assert!(
                    missing.is_empty(),
                    "{what}: live files deleted: {missing:?}"
                );
                if acked {
                    assert_eq!(fingerprint(&db), new, "{what}");
                }
                drop(db);
                let reopened = Db::builder()
                    .auto_compact(false)
                    .file_system(fs.vfs())
                    .open(&db_path())
                    .unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
                let got = fingerprint(&reopened);
                assert!(got == old || got == new, "{what}: neither old nor new");
                if acked {
                    assert_eq!(got, new, "{what}: an acknowledged commit was lost");
                }
                let report = check_in(&*fs.vfs(), &db_path()).expect("check");
                assert!(report.is_ok(), "{what}: {:?}", report.problems);
            }
        }
    }
    assert!(named_total > 0);
    println!("read-error cases during commits: {cases}");
}

/// The same at writer start-up, which removes what interrupted commits left: a read
/// error at any of its reads (the manifests it consults among them) fails the open or
/// skips the clean-up, and never deletes a file the two newest manifests name.
#[test]
fn read_errors_during_start_up_delete_no_live_file() {
    let mut cases = 0;
    for k in 1..scenario().len() {
        let (old, new, ops) = expected(k);
        // A process killed in the middle of commit k: its files are orphans to remove.
        let (crashed, _) = power_off_during(k, ops / 2);
        let state = crashed
            .crash_states(7)
            .into_iter()
            .find(|s| s.label.contains("kept"))
            .or_else(|| crashed.crash_states(7).into_iter().last())
            .expect("a crash state");
        let probe = SimFs::new();
        copy_disk(&state.fs, &probe).expect("copy");
        let before = probe.reads();
        drop(
            Db::builder()
                .auto_compact(false)
                .file_system(probe.vfs())
                .open(&db_path())
                .expect("open"),
        );
        let reads = probe.reads() - before;
        for mode in [FaultMode::Once, FaultMode::Always] {
            for i in 0..reads {
                cases += 1;
                let fs = SimFs::new();
                copy_disk(&state.fs, &fs).expect("copy");
                fs.inject_read(Fault {
                    at: fs.reads() + i,
                    error: FaultError::Eio,
                    mode,
                });
                let what = format!(
                    "start-up after commit {k}, read error ({mode:?}) at read {i} of {reads}"
                );
                let opened = Db::builder()
                    .auto_compact(false)
                    .file_system(fs.vfs())
                    .open(&db_path());
                if let Err(e) = &opened {
                    assert_eq!(e.kind(), ErrorKind::Io, "{what}: {e}");
                }
                drop(opened);
                fs.clear_faults();
                let (_, missing) = missing_files(&fs);
                assert!(
                    missing.is_empty(),
                    "{what}: live files deleted: {missing:?}"
                );
                let db = Db::builder()
                    .auto_compact(false)
                    .file_system(fs.vfs())
                    .open(&db_path())
                    .unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
                let got = fingerprint(&db);
                assert!(got == old || got == new, "{what}: neither old nor new");
                let report = check_in(&*fs.vfs(), &db_path()).expect("check");
                assert!(
                    report.is_ok() && report.orphans.is_empty(),
                    "{what}: {report:?}"
                );
            }
        }
    }
    println!("read-error cases at start-up: {cases}");
}
