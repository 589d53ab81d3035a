//! The privacy audit log and the settings file under crashes, I/O errors and damage
//! (`docs/privacy.md`, "Audit log"; the layouts in `src/privacy/{settings,audit}.rs`):
//!
//! - records read back in order with their counts, selector kind and hash, and the
//!   selector's text appears in no file; "was X erased?" by hashing; settings changes
//!   are logged;
//! - on the simulated disk, power lost before every operation of a settings change and
//!   of an audit append (the first, which creates the log, and a later one): every state
//!   the disk may hold opens with the old or the new settings (the new if the change
//!   returned), never a mix; the log holds every record whose append returned, and
//!   perhaps the one in flight, a torn tail ignored; and the next change or append
//!   works (cutting a torn tail off, itself safe against power loss at every step);
//! - ENOSPC and EIO, once or for good, at every operation: an error, a readable log,
//!   settings old or new;
//! - damage that is not a torn tail is a corruption error, and `check` reports it.

use std::path::{Path, PathBuf};

use sightline::testing::{Fault, FaultError, FaultMode, SimFs, check_in};
use sightline::{
    AuditAction, AuditCounts, AuditRecord, Db, ErrorKind, PrivacySettings, SelectorKind,
};

const DB: &str = "/sim/db";

fn path() -> PathBuf {
    PathBuf::from(DB)
}

fn open(fs: &SimFs) -> sightline::Result<Db> {
    Db::builder().file_system(fs.vfs()).open(&path())
}

fn settings(ip: Option<u8>, pseudo: bool) -> PrivacySettings {
    PrivacySettings {
        anonymize_ip: ip,
        pseudonymize_user_id: pseudo,
        retention_days: None,
    }
}

fn erase(visitor: &str, visits: u64) -> AuditRecord {
    AuditRecord::new(
        AuditAction::Erase,
        SelectorKind::Visitor,
        visitor,
        AuditCounts {
            visitors: 1,
            visits,
            events: visits * 3,
        },
    )
}

#[test]
fn records_read_back_with_hashes_and_never_the_selector() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    let db = Db::create(&p, Default::default()).unwrap();
    db.set_privacy_settings(&settings(Some(2), true)).unwrap();
    db.audit(erase("visitor-Zq81", 2)).unwrap();
    db.audit(AuditRecord::new(
        AuditAction::Purge,
        SelectorKind::OlderThan,
        "180d",
        AuditCounts {
            visitors: 4,
            visits: 9,
            events: 30,
        },
    ))
    .unwrap();
    db.audit(AuditRecord::new(
        AuditAction::Erase,
        SelectorKind::UserId,
        "ann@example.org",
        AuditCounts::default(),
    ))
    .unwrap();
    let log = db.privacy_log().unwrap();
    let actions: Vec<AuditAction> = log.iter().map(|e| e.action).collect();
    use AuditAction::*;
    assert_eq!(actions, [Settings, Erase, Purge, Erase]);
    assert_eq!(log[0].settings, Some(settings(Some(2), true)));
    assert_eq!(log[0].selector_hash, None);
    assert_eq!(log[1].counts.events, 6);
    assert_eq!(log[2].selector_kind, SelectorKind::OlderThan);
    assert!(log.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
    for e in &log[1..] {
        let h = e.selector_hash.as_deref().unwrap();
        assert!(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    // "Was X erased?" — by kind and text.
    assert_eq!(
        db.was_erased(SelectorKind::Visitor, "visitor-Zq81")
            .unwrap(),
        [log[1].clone()]
    );
    assert!(
        db.was_erased(SelectorKind::Visitor, "visitor-Zq82")
            .unwrap()
            .is_empty()
    );
    assert!(
        db.was_erased(SelectorKind::UserId, "visitor-Zq81")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.was_erased(SelectorKind::UserId, "ann@example.org")
            .unwrap()
            .len(),
        1
    );
    // A purge is no erasure, but its record is found by its selector.
    assert!(
        db.was_erased(SelectorKind::OlderThan, "180d")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.privacy_log_matching(SelectorKind::OlderThan, "180d")
            .unwrap()
            .len(),
        1
    );
    // The selector's hash is not the user's pseudonym.
    let pseudonym = db.pseudonymize_user_id("ann@example.org").unwrap();
    assert_ne!(log[3].selector_hash.as_deref(), Some(pseudonym.as_str()));
    // Read-only handles read the log too, and the file holds no selector in clear.
    drop(db);
    let reader = Db::open_read_only(&p).unwrap();
    assert_eq!(reader.privacy_log().unwrap(), log);
    assert_eq!(
        reader
            .was_erased(SelectorKind::Visitor, "visitor-Zq81")
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        reader.audit(erase("x", 1)),
        Err(sightline::Error::ReadOnly)
    ));
    for entry in std::fs::read_dir(&p).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for clear in [&b"visitor-Zq81"[..], b"ann@example.org", b"180d"] {
            assert!(!bytes.windows(clear.len()).any(|w| w == clear));
        }
    }
}

#[test]
fn damage_that_is_not_a_torn_tail_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    let db = Db::create(&p, Default::default()).unwrap();
    for i in 0..3 {
        db.audit(erase(&format!("v{i}"), 1)).unwrap();
    }
    let log = p.join("privacy-log");
    let good = std::fs::read(&log).unwrap();
    // A torn tail (a partial record after the last one) is ignored, reported by no
    // check, and cut off by the next append.
    std::fs::write(&log, [&good[..], &good[16..30]].concat()).unwrap();
    assert_eq!(db.privacy_log().unwrap().len(), 3);
    assert!(sightline::check(&p).unwrap().is_ok());
    db.audit(erase("v3", 1)).unwrap();
    assert_eq!(db.privacy_log().unwrap().len(), 4);
    assert!(sightline::check(&p).unwrap().is_ok());
    // A flipped byte in the first record (records follow it) is corruption.
    let mut bad = std::fs::read(&log).unwrap();
    bad[20] ^= 0x08;
    std::fs::write(&log, &bad).unwrap();
    let e = db.privacy_log().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert!(e.to_string().contains("privacy-log"), "{e}");
    assert!(db.audit(erase("v4", 1)).is_err(), "no append after damage");
    let report = sightline::check(&p).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|e| e.to_string().contains("privacy-log"))
    );
    // A bad file header too.
    let mut header = good.clone();
    header[3] = b'!';
    std::fs::write(&log, &header).unwrap();
    assert_eq!(db.privacy_log().unwrap_err().kind(), ErrorKind::Corruption);
}

/// A disk holding a database whose settings are `settings(Some(1), false)` and whose
/// log holds `records` erasures (and the settings change).
fn base(records: usize) -> SimFs {
    let fs = SimFs::new();
    let db = Db::builder()
        .file_system(fs.vfs())
        .create(&path())
        .expect("create");
    if records > 0 {
        db.set_privacy_settings(&settings(Some(1), false)).unwrap();
        for i in 1..records {
            db.audit(erase(&format!("v{i}"), i as u64)).unwrap();
        }
    }
    fs
}

/// What a recovered disk holds: its settings and the actions and counts of its log.
fn state_of(db: &Db) -> (PrivacySettings, Vec<(AuditAction, AuditCounts)>) {
    let log = db
        .privacy_log()
        .unwrap_or_else(|e| panic!("the log does not read: {e}"));
    (
        db.privacy_settings(),
        log.iter().map(|e| (e.action, e.counts)).collect(),
    )
}

/// Runs `change` on a fresh `base(records)` with power lost before its operation `i`
/// (or never, past the end): the disk, whether `change` returned Ok, and the number of
/// operations it performed.
fn power_off(
    records: usize,
    i: Option<u64>,
    change: &dyn Fn(&Db) -> sightline::Result<()>,
) -> (SimFs, bool, u64) {
    let fs = base(records);
    let db = open(&fs).expect("open");
    let start = fs.ops();
    if let Some(i) = i {
        fs.inject(Fault {
            at: start + i,
            error: FaultError::Eio,
            mode: FaultMode::PowerLoss,
        });
    }
    let acked = change(&db).is_ok();
    let ops = fs.ops() - start;
    drop(db);
    (fs, acked, ops)
}

/// Power loss before every operation of `change`: every crash state recovers to the
/// state before or after it (after, if it returned), passes `check`, and takes a
/// further append.
fn every_power_loss(
    what: &str,
    records: usize,
    change: &dyn Fn(&Db) -> sightline::Result<()>,
) -> usize {
    let (clean, acked, ops) = power_off(records, None, change);
    assert!(acked, "{what}: fails without a fault");
    assert!(ops >= 2, "{what}: {ops} operations");
    let before = state_of(&open(&base(records)).unwrap());
    let after = state_of(&open(&clean).unwrap());
    assert_ne!(before, after);
    let mut states = 0;
    for i in 0..=ops {
        let (fs, acked, _) = power_off(records, Some(i), change);
        assert!(acked || i < ops, "{what}: failed without a fault");
        for (n, crash) in fs.crash_states(i * 31 + records as u64).iter().enumerate() {
            states += 1;
            let label = format!(
                "{what}, power lost before operation {i} of {ops}, state {n}: {}",
                crash.label
            );
            let db = open(&crash.fs).unwrap_or_else(|e| panic!("{label}: open: {e}"));
            let got = state_of(&db);
            // The settings are old or new; the log holds the old records and perhaps
            // the new one, and the new one only once the settings are new.
            assert!(
                got.0 == before.0 || got.0 == after.0,
                "{label}: settings {:?}",
                got.0
            );
            assert!(
                got == before || got == after || (got.0 == after.0 && got.1 == before.1),
                "{label}: {got:?}"
            );
            if acked {
                assert_eq!(got, after, "{label}: a change that returned was lost");
            }
            let report = check_in(&*crash.fs.vfs(), &path()).unwrap();
            assert!(report.is_ok(), "{label}: {:?}", report.problems);
            // The next append works, power loss at any of its steps included.
            let next_ops = {
                let probe = SimFs::new();
                copy(&crash.fs, &probe);
                let db2 = open(&probe).unwrap();
                let s = probe.ops();
                db2.audit(erase("next", 1))
                    .unwrap_or_else(|e| panic!("{label}: next append: {e}"));
                assert_eq!(db2.privacy_log().unwrap().len(), got.1.len() + 1, "{label}");
                probe.ops() - s
            };
            for j in 0..next_ops {
                let disk = SimFs::new();
                copy(&crash.fs, &disk);
                let db2 = open(&disk).unwrap();
                disk.inject(Fault {
                    at: disk.ops() + j,
                    error: FaultError::Eio,
                    mode: FaultMode::PowerLoss,
                });
                let _ = db2.audit(erase("next", 1));
                drop(db2);
                for again in disk.crash_states(j) {
                    let db3 = open(&again.fs).unwrap_or_else(|e| panic!("{label}, then {j}: {e}"));
                    let n = db3
                        .privacy_log()
                        .unwrap_or_else(|e| panic!("{label}, then {j}: {e}"))
                        .len();
                    assert!(
                        n == got.1.len() || n == got.1.len() + 1,
                        "{label}, then {j}: {n}"
                    );
                    db3.audit(erase("last", 1)).unwrap();
                }
            }
        }
    }
    states
}

/// Copies every file of `from` (as a reader sees it) onto `to`, durably.
fn copy(from: &SimFs, to: &SimFs) {
    use sightline::testing::Vfs;
    to.create_dir(&path()).unwrap();
    let dir = to.open_dir(&path()).unwrap();
    for (p, bytes) in from.files() {
        let name = p.file_name().unwrap().to_str().unwrap();
        let mut f = dir.create(name).unwrap();
        f.write_all(&bytes).unwrap();
        f.sync().unwrap();
    }
    dir.sync().unwrap();
}

#[test]
fn power_loss_at_every_step_of_a_settings_change_leaves_old_or_new() {
    let first = every_power_loss("first settings change", 0, &|db| {
        db.set_privacy_settings(&settings(Some(2), true))
    });
    let later = every_power_loss("later settings change", 3, &|db| {
        db.set_privacy_settings(&settings(None, true))
    });
    println!("crash states: {first} + {later}");
}

#[test]
fn power_loss_at_every_step_of_an_audit_append_keeps_every_returned_record() {
    let first = every_power_loss("first append", 0, &|db| db.audit(erase("a", 7)));
    let later = every_power_loss("later append", 3, &|db| db.audit(erase("b", 8)));
    println!("crash states: {first} + {later}");
}

#[test]
fn disk_full_and_io_errors_return_errors_and_leave_readable_files() {
    type Change = fn(&Db) -> sightline::Result<()>;
    let changes: [(&str, usize, Change); 3] = [
        ("settings change", 2, |db| {
            db.set_privacy_settings(&settings(Some(3), true))
        }),
        ("first append", 0, |db| db.audit(erase("a", 2))),
        ("later append", 2, |db| db.audit(erase("b", 2))),
    ];
    let mut cases = 0;
    for (what, records, change) in changes {
        let (clean, _, ops) = power_off(records, None, &change);
        let before = state_of(&open(&base(records)).unwrap());
        let after = state_of(&open(&clean).unwrap());
        for i in 0..ops {
            for error in [FaultError::NoSpace, FaultError::Eio] {
                for mode in [FaultMode::Once, FaultMode::Always] {
                    cases += 1;
                    let label = format!("{what}: {error:?} ({mode:?}) at operation {i} of {ops}");
                    let fs = base(records);
                    let db = open(&fs).unwrap();
                    fs.inject(Fault {
                        at: fs.ops() + i,
                        error,
                        mode,
                    });
                    match change(&db) {
                        Err(e) => assert_eq!(e.kind(), ErrorKind::Io, "{label}: {e}"),
                        // Only the best-effort removal of the older settings file may
                        // fail without failing the change.
                        Ok(()) => {
                            assert!(
                                fs.log()
                                    .iter()
                                    .any(|l| l.contains("FAILS") && l.contains("unlink")),
                                "{label}"
                            );
                            assert_eq!(state_of(&db), after, "{label}");
                        }
                    }
                    fs.clear_faults();
                    // The handle still reads its log; after a retry, the change holds.
                    let now = state_of(&db);
                    assert!(now.0 == before.0 || now.0 == after.0, "{label}");
                    drop(db);
                    let db = open(&fs).unwrap_or_else(|e| panic!("{label}: reopen: {e}"));
                    let got = state_of(&db);
                    assert!(got.0 == before.0 || got.0 == after.0, "{label}: {got:?}");
                    assert!(got.1.len() <= after.1.len(), "{label}: {got:?}");
                    assert!(check_in(&*fs.vfs(), &path()).unwrap().is_ok(), "{label}");
                    change(&db).unwrap_or_else(|e| panic!("{label}: retry: {e}"));
                    assert_eq!(state_of(&db).0, after.0, "{label}");
                    assert!(check_in(&*fs.vfs(), &path()).unwrap().is_ok(), "{label}");
                }
            }
        }
    }
    println!("fault cases: {cases}");
}

#[test]
fn a_settings_file_damaged_on_the_simulated_disk_fails_the_open() {
    let fs = base(2);
    let name = fs
        .files()
        .into_keys()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("privacy-0")
        })
        .unwrap();
    let mut bytes = fs.files()[&name].clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let damaged = SimFs::new();
    copy(&fs, &damaged);
    {
        use sightline::testing::Vfs;
        let dir = damaged.open_dir(Path::new(DB)).unwrap();
        let n = name.file_name().unwrap().to_str().unwrap();
        let mut f = dir.create(n).unwrap();
        f.write_all(&bytes).unwrap();
        f.sync().unwrap();
    }
    let e = open(&damaged).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert!(!check_in(&*damaged.vfs(), &path()).unwrap().is_ok());
}
