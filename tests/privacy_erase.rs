//! Erasure and retention purges leave no byte of the removed data on disk
//! (`docs/privacy.md`).
//!
//! The data holds unique marker strings (`zqxMRK…`) in every kind of field a visitor's
//! data can carry: its visitor id, page URLs and titles, event names, its user id, its
//! IP, custom string values. The markers' visitors come back in several commits, so
//! copies of them are left behind in older parts (marked deleted there), and the
//! database mixes parts held inline in manifests with part files. After an erasure (by
//! visitor id, by user id, by segment) or a purge, every byte of every file in the
//! database directory is scanned for the markers: none may remain — also after a
//! power loss at every operation of either, on the simulated disk (where the states
//! before the commit point keep the old data, and the operation run again removes it).
//! The answers about everyone else are compared with a database that never held the
//! erased data, and with the scan oracle.

use std::path::Path;

use sightline::testing::{Fault, FaultError, FaultMode, SimFs, check_in, scan};
use sightline::{Db, Dialect, ExportSelector, TimeRange, VisitRecord};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const DAY: i64 = 86_400_000;
const MARK: &[u8] = b"zqxMRK";

/// One event as a JSON line.
fn line(ts: i64, visitor: &str, url: &str, extra: &str) -> String {
    format!(
        r#"{{"ts":{ts},"visitorId":"{visitor}","type":"pageview","pageUrl":"https://shop.example{url}","pageTitle":"Title {url}"{extra}}}"#
    )
}

/// Ordinary visitors `from..to` on day `day`: two page views and a goal each.
fn ordinary(from: usize, to: usize, day: i64) -> Vec<String> {
    let mut out = Vec::new();
    for v in from..to {
        let ts = T0 + day * DAY + v as i64 * 1000;
        let cc = ["fr", "de", "us"][v % 3];
        let extra = format!(
            r#","countryCode":"{cc}","ip":"10.0.{}.{}""#,
            v / 250,
            v % 250
        );
        out.push(line(
            ts,
            &format!("v{v:04}"),
            &format!("/p/{}", v % 7),
            &extra,
        ));
        out.push(line(ts + 60_000, &format!("v{v:04}"), "/cart", ""));
        out.push(format!(
            r#"{{"ts":{},"visitorId":"v{v:04}","type":"goal","goalId":1,"revenue":{}.5}}"#,
            ts + 120_000,
            v % 5
        ));
    }
    out
}

/// The three marker visitors' events on day `day`: `mA` (erased by visitor id), `mB`
/// (by user id), `mC` (by a segment on a custom value).
fn markers(day: i64) -> Vec<String> {
    let ts = T0 + day * DAY + 7_777;
    vec![
        line(
            ts,
            "zqxMRK-visitor-A",
            &format!("/zqxMRK-url-A{day}"),
            r#","ip":"198.51.100.77","city":"zqxMRK-city-A""#,
        ),
        line(
            ts + 1000,
            "zqxMRK-visitor-A",
            "/cart",
            r#","eventCategory":"zqxMRK-cat-A""#,
        ),
        line(
            ts,
            "b-visitor",
            &format!("/zqxMRK-url-B{day}"),
            r#","userId":"zqxMRK-user-B","shoeSize":"zqxMRK-custom-B""#,
        ),
        format!(
            r#"{{"ts":{},"visitorId":"c-visitor","type":"event","eventCategory":"video","eventAction":"zqxMRK-action-C","eventName":"zqxMRK-name-C","plan":"zqxMRK-plan-C"}}"#,
            ts + 5
        ),
    ]
}

/// The commits of the scenario: the markers come back in the second and fourth, so
/// older parts keep copies of them; the third is large enough to be a part file.
fn scenario(with_markers: bool) -> Vec<Vec<String>> {
    let m = |day| {
        if with_markers {
            markers(day)
        } else {
            Vec::new()
        }
    };
    vec![
        [ordinary(0, 40, 0), m(0)].concat(),
        [ordinary(30, 60, 1), m(1)].concat(),
        ordinary(100, 2600, 2),
        [ordinary(0, 5, 3), m(3)].concat(),
    ]
}

fn commit(db: &Db, rows: &[String]) -> sightline::Result<()> {
    let mut tx = db.begin_write()?;
    for r in rows {
        tx.append_json(r)?;
    }
    tx.commit().map(|_| ())
}

fn build(path: &Path, fs: Option<&SimFs>, with_markers: bool) -> Db {
    let mut b = Db::builder().auto_compact(false);
    if let Some(fs) = fs {
        b = b.file_system(fs.vfs());
    }
    let db = b.create(path).expect("create");
    for c in scenario(with_markers) {
        commit(&db, &c).expect("commit");
    }
    db
}

/// Files (name, bytes) of a real directory.
fn dir_files(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(path).expect("read dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            out.push((
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            ));
        }
    }
    out
}

fn sim_files(fs: &SimFs) -> Vec<(String, Vec<u8>)> {
    fs.files()
        .into_iter()
        .map(|(p, b)| (p.display().to_string(), b))
        .collect()
}

/// The files holding `needle`, with the count of its occurrences.
fn holding(files: &[(String, Vec<u8>)], needle: &[u8]) -> Vec<(String, usize)> {
    files
        .iter()
        .filter_map(|(name, bytes)| {
            let n = bytes.windows(needle.len()).filter(|w| *w == needle).count();
            (n > 0).then(|| (name.clone(), n))
        })
        .collect()
}

fn visits(db: &Db) -> Vec<VisitRecord> {
    let mut v = db.snapshot().visits().expect("visits");
    v.sort_by(|a, b| (&a.visitor_id, a.start).cmp(&(&b.visitor_id, b.start)));
    v
}

const SEGMENTS: [&str; 6] = [
    "",
    "countryCode==fr",
    "pageUrl=@/cart",
    "visitCount>1;visitConvertedGoalId==1",
    "visitorType==returning,daysSinceFirstVisit>=2",
    "pageTitle=@p/3",
];

/// Every answer about the data: totals, the summaries of [`SEGMENTS`] (each checked
/// against the scan oracle), and every visit with its events.
fn answers(db: &Db) -> String {
    let snap = db.snapshot();
    let mut stats = snap.stats().expect("stats");
    (stats.parts, stats.bytes, stats.generation) = (0, 0, 0);
    let mut out = format!("{stats:?}\n");
    for s in SEGMENTS {
        let seg = snap.compile(s, Dialect::Default).expect("segment");
        let got = snap.summary(&seg, &TimeRange::ALL).expect("summary");
        let oracle = scan::summary(&snap, &seg, &TimeRange::ALL).expect("oracle");
        assert_eq!(got, oracle, "engine and oracle differ on {s:?}");
        out.push_str(&format!("{s}: {got:?}\n"));
    }
    out.push_str(&format!("{:?}", visits(db)));
    out
}

/// Erases the three marker visitors, one selector each.
fn erase_markers(db: &Db) -> sightline::Result<u64> {
    let snap = db.snapshot();
    let by_segment =
        ExportSelector::Segment(snap.compile("eventAction==zqxMRK-action-C", Dialect::Default)?);
    let mut visitors = 0;
    for sel in [
        ExportSelector::Visitor("zqxMRK-visitor-A".into()),
        ExportSelector::UserId("zqxMRK-user-B".into()),
        by_segment,
    ] {
        visitors += db.erase(&sel, false)?.visitors;
    }
    Ok(visitors)
}

#[test]
fn erased_visitors_leave_no_byte_on_disk_and_change_no_other_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = build(&path, None, true);
    let before = holding(&dir_files(&path), MARK);
    assert!(
        before.len() >= 3,
        "the markers should be in several files before: {before:?}"
    );
    let parts_before = db.snapshot().stats().unwrap().parts;

    let dry = db
        .erase(&ExportSelector::Visitor("zqxMRK-visitor-A".into()), true)
        .unwrap();
    assert_eq!((dry.visitors, dry.visits, dry.events), (1, 3, 6));
    assert_eq!(dry.parts_rewritten, 0);
    assert!(!holding(&dir_files(&path), b"zqxMRK-visitor-A").is_empty());

    let a = db
        .erase(&ExportSelector::Visitor("zqxMRK-visitor-A".into()), false)
        .unwrap();
    assert_eq!((a.visitors, a.visits, a.events), (1, 3, 6));
    assert!(a.parts_rewritten >= 2, "copies left in older parts: {a:?}");
    assert!(
        a.parts_rewritten < parts_before,
        "only the parts holding A: {a:?}"
    );
    assert!(holding(&dir_files(&path), b"zqxMRK-visitor-A").is_empty());
    assert!(holding(&dir_files(&path), b"198.51.100.77").is_empty());

    let nobody = db
        .erase(&ExportSelector::Visitor("zqxMRK-visitor-A".into()), false)
        .unwrap();
    assert_eq!((nobody.visitors, nobody.visits, nobody.events), (0, 0, 0));
    assert_eq!(nobody.generation, a.generation, "nothing to commit");

    assert_eq!(erase_markers(&db).unwrap(), 2);
    let left = holding(&dir_files(&path), MARK);
    assert!(left.is_empty(), "marker bytes left: {left:?}");
    let report = sightline::check(&path).unwrap();
    assert!(report.is_ok() && report.orphans.is_empty(), "{report:?}");

    // Everyone else's answers: as if the markers had never been imported.
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = build(&clean_dir.path().join("db"), None, false);
    assert_eq!(answers(&db), answers(&clean));

    // Reopened, still the same; a later commit and compaction bring nothing back.
    drop(db);
    let db = Db::open(&path).unwrap();
    assert_eq!(answers(&db), answers(&clean));
    commit(&db, &ordinary(0, 3, 9)).unwrap();
    commit(&clean, &ordinary(0, 3, 9)).unwrap();
    db.compact().unwrap();
    assert_eq!(answers(&db), answers(&clean));
    assert!(holding(&dir_files(&path), MARK).is_empty());
}

#[test]
fn a_snapshot_taken_before_an_erasure_keeps_answering_but_no_file_names_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = build(&path, None, true);
    let old = db.snapshot();
    let old_visits = old.visits().unwrap().len();
    erase_markers(&db).unwrap();
    assert!(holding(&dir_files(&path), MARK).is_empty());
    // The old snapshot's maps stay readable (the files are unlinked, not truncated).
    assert_eq!(old.visits().unwrap().len(), old_visits);
    assert!(old.visitor("zqxMRK-visitor-A").unwrap().is_some());
    assert!(db.snapshot().visitor("zqxMRK-visitor-A").unwrap().is_none());
}

/// The simulated disk after `commits`, the database closed.
fn sim_base(commits: &[Vec<String>]) -> SimFs {
    let fs = SimFs::new();
    let db = Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .create(Path::new("/sim/db"))
        .expect("create");
    for c in commits {
        commit(&db, c).expect("commit");
    }
    fs
}

fn sim_open(fs: &SimFs) -> Db {
    Db::builder()
        .auto_compact(false)
        .file_system(fs.vfs())
        .open(Path::new("/sim/db"))
        .expect("open")
}

/// Power lost before each operation of `op` (an erasure or a purge on the database
/// after the scenario): in every state the disk may be left in, the database opens
/// and passes `check`; it shows the old answers with the markers still there (the
/// operation had not committed, and had not returned), or the new answers with no
/// marker byte in any file; and running the operation again then leaves no marker
/// byte either.
fn power_loss_at_every_step(
    commits: &[Vec<String>],
    op: &dyn Fn(&Db) -> sightline::Result<()>,
    name: &str,
) {
    let fs = sim_base(commits);
    let db = sim_open(&fs);
    let old = answers(&db);
    let start = fs.ops();
    op(&db).expect("clean run");
    let ops = fs.ops() - start;
    let new = answers(&db);
    assert_ne!(old, new);
    assert!(holding(&sim_files(&fs), MARK).is_empty());
    drop(db);
    let (mut states, mut done) = (0, 0);
    for i in 0..=ops {
        let fs = sim_base(commits);
        let db = sim_open(&fs);
        fs.inject(Fault {
            at: fs.ops() + i,
            error: FaultError::Eio,
            mode: FaultMode::PowerLoss,
        });
        let acked = op(&db).is_ok();
        assert!(acked || i < ops, "{name} failed without a fault");
        drop(db);
        for (n, state) in fs.crash_states(31_000 + i).iter().enumerate() {
            let what = format!(
                "{name}, power lost before operation {i} of {ops}, state {n}: {}",
                state.label
            );
            let db = sim_open(&state.fs);
            let report = check_in(&*state.fs.vfs(), Path::new("/sim/db")).expect("check");
            assert!(report.is_ok(), "{what}: check: {:?}", report.problems);
            let got = answers(&db);
            let left = holding(&sim_files(&state.fs), MARK);
            if got == new {
                assert!(
                    left.is_empty(),
                    "{what}: committed, but marker bytes left: {left:?}"
                );
                done += 1;
            } else {
                assert_eq!(got, old, "{what}: neither the old nor the new answers");
                assert!(!acked, "{what}: an acknowledged {name} was lost");
                op(&db).unwrap_or_else(|e| panic!("{what}: {name} again: {e}"));
                assert_eq!(answers(&db), new, "{what}: {name} again");
                let left = holding(&sim_files(&state.fs), MARK);
                assert!(
                    left.is_empty(),
                    "{what}: run again, marker bytes left: {left:?}"
                );
            }
            states += 1;
        }
    }
    assert!(
        done > 0 && done < states,
        "{name}: {done} of {states} states committed"
    );
    println!("{name}: {ops} operations, {states} crash states, {done} committed");
}

/// The segment selecting the three marker visitors: one erasure for all of them.
const MARKED: &str =
    "visitorId==zqxMRK-visitor-A,userId==zqxMRK-user-B,eventAction==zqxMRK-action-C";

fn erase_marked(db: &Db) -> sightline::Result<()> {
    let seg = db.snapshot().compile(MARKED, Dialect::Default)?;
    let out = db.erase(&ExportSelector::Segment(seg), false)?;
    assert!(out.visitors == 3 || out.visitors == 0, "{out:?}");
    Ok(())
}

#[test]
fn power_loss_at_every_step_of_an_erasure_leaves_no_marker_once_committed() {
    power_loss_at_every_step(&scenario(true), &erase_marked, "erasure");
}

/// The scenario with markers on the first two days only, then ordinary visitors
/// (some of whom came on those days too) on days 2 and 3.
fn old_markers() -> Vec<Vec<String>> {
    let mut s = scenario(true);
    s[3] = ordinary(0, 5, 3);
    s
}

#[test]
fn power_loss_at_every_step_of_a_purge_leaves_no_marker_once_committed() {
    power_loss_at_every_step(
        &old_markers(),
        &|db| db.purge_before(T0 + 2 * DAY, false).map(|_| ()),
        "purge",
    );
}

#[test]
fn io_errors_at_every_step_of_an_erasure_change_nothing_until_it_succeeds() {
    let commits = scenario(true);
    let fs = sim_base(&commits);
    let db = sim_open(&fs);
    let old = answers(&db);
    let start = fs.ops();
    erase_marked(&db).unwrap();
    let ops = fs.ops() - start;
    let new = answers(&db);
    drop(db);
    let mut failed = 0;
    for i in 0..ops {
        for error in [FaultError::NoSpace, FaultError::Eio] {
            let fs = sim_base(&commits);
            let db = sim_open(&fs);
            fs.inject(Fault {
                at: fs.ops() + i,
                error,
                mode: FaultMode::Once,
            });
            let Err(e) = erase_marked(&db) else {
                assert_eq!(answers(&db), new);
                assert!(holding(&sim_files(&fs), MARK).is_empty());
                continue;
            };
            failed += 1;
            assert_eq!(e.kind(), sightline::ErrorKind::Io, "{e}");
            let got = answers(&db);
            assert!(got == old || got == new, "fault at {i}: a third state");
            // Once the fault has passed, running it again (on the same handle, or a
            // reopened one if this one refuses to write) leaves no marker.
            let db = match erase_marked(&db) {
                Ok(()) => db,
                Err(_) => {
                    drop(db);
                    let db = sim_open(&fs);
                    erase_marked(&db).unwrap();
                    db
                }
            };
            assert_eq!(answers(&db), new);
            let left = holding(&sim_files(&fs), MARK);
            assert!(left.is_empty(), "fault at {i}: marker bytes left: {left:?}");
        }
    }
    assert!(failed > 0);
}
