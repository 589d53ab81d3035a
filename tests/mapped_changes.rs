//! A part changed underneath a reader that has it memory-mapped (`docs/file-format.md`: never a crash,
//! never a wrong answer). sightline never modifies a published file; these tests play
//! the other program that does.
//!
//! - Truncated: touching a page past the new end raises SIGBUS. The guard in
//!   `storage::mmap` replaces the page with zeros and marks the map damaged, and every
//!   query then fails with a corruption error naming the file — or, if it never touched
//!   the lost pages, returns exactly the original answer.
//! - Rewritten in place with other bytes: queries return an answer or an error, and the
//!   process neither panics nor dies.

use std::fs::OpenOptions;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, ErrorKind, ReportOptions, Snapshot, TimeRange};

fn build(dir: &Path) -> PathBuf {
    let mut input = Vec::new();
    write_jsonl(
        &GenOptions {
            // Enough for a part file of its own (small parts live in the manifest).
            visitors: 2500,
            seed: 11,
            days: 10,
            ..GenOptions::default()
        },
        &mut input,
    )
    .unwrap();
    let path = dir.join("in.jsonl");
    std::fs::write(&path, &input).unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(&dir.join("db"))
        .unwrap();
    let mut tx = db.begin_write().unwrap();
    tx.import_file(&path, &Default::default(), &|_| {}).unwrap();
    tx.commit().unwrap();
    let part = std::fs::read_dir(dir.join("db"))
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
    assert!(
        std::fs::metadata(&part).unwrap().len() > 64 * 1024,
        "the part should span many pages"
    );
    part
}

/// Every kind of read a snapshot offers, as text.
fn answers(snap: &Snapshot) -> Vec<sightline::Result<String>> {
    let all = TimeRange::ALL;
    vec![
        snap.stats().map(|s| format!("{s:?}")),
        snap.query("countryCode==de", &all)
            .map(|s| format!("{s:?}")),
        snap.query("pageUrl=@/product/;visitCount>1", &all)
            .map(|s| format!("{s:?}")),
        snap.compile("visitConverted==1", Default::default())
            .and_then(|c| snap.select(&c, &all))
            .and_then(|sel| snap.report("pageUrl", &sel, &ReportOptions::default()))
            .map(|r| format!("{r:?}")),
        snap.visits().map(|v| format!("{v:?}")),
    ]
}

#[test]
fn a_part_truncated_underneath_a_reader_gives_corruption_errors_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let part = build(tmp.path());
    let db = Db::open_read_only(&tmp.path().join("db")).unwrap();
    let reference: Vec<String> = answers(&db.snapshot())
        .into_iter()
        .map(|a| a.expect("answer before the damage"))
        .collect();

    // Reopen so nothing is cached from the reference run, then truncate to a page.
    let db = Db::open_read_only(&tmp.path().join("db")).unwrap();
    let snap = db.snapshot();
    OpenOptions::new()
        .write(true)
        .open(&part)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let name = part.file_name().unwrap().to_str().unwrap();
    let mut errors = 0;
    for (i, got) in answers(&snap).into_iter().enumerate() {
        match got {
            Ok(text) => assert_eq!(text, reference[i], "answer {i} changed"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Corruption, "answer {i}: {e}");
                assert!(e.to_string().contains(name), "answer {i}: {e}");
                assert!(e.to_string().contains("truncated"), "answer {i}: {e}");
                errors += 1;
            }
        }
    }
    assert!(errors > 0, "no read touched the truncated pages");
    // The damage is remembered: the snapshot keeps refusing, a fresh open reports the
    // length mismatch, and `check` names the file.
    assert_eq!(snap.intact().unwrap_err().kind(), ErrorKind::Corruption);
    let e = Db::open_read_only(&tmp.path().join("db")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    let report = sightline::check(&tmp.path().join("db")).unwrap();
    assert!(!report.is_ok());
}

#[test]
fn a_part_rewritten_in_place_underneath_a_reader_never_crashes() {
    let tmp = tempfile::tempdir().unwrap();
    let part = build(tmp.path());
    let len = std::fs::metadata(&part).unwrap().len() as usize;
    for (round, pattern) in [0x00u8, 0xff, 0x5a].into_iter().enumerate() {
        let db = Db::open_read_only(&tmp.path().join("db")).unwrap();
        let snap = db.snapshot();
        // Warm some of it first, then overwrite everything after the header.
        let _ = snap.query("countryCode==de", &TimeRange::ALL);
        let original = std::fs::read(&part).unwrap();
        let mut f = OpenOptions::new().write(true).open(&part).unwrap();
        let mut bytes: Vec<u8> = (0..len)
            .map(|i| pattern ^ (i as u8).wrapping_mul(31))
            .collect();
        bytes[..64].copy_from_slice(&original[..64]);
        f.write_all(&bytes).unwrap();
        f.sync_all().unwrap();
        let got = catch_unwind(AssertUnwindSafe(|| answers(&snap)));
        let got = got.unwrap_or_else(|_| panic!("round {round}: a query panicked"));
        // Whatever came back, it came back; later snapshots see the damage.
        assert_eq!(got.len(), 5);
        assert!(!sightline::check(&tmp.path().join("db")).unwrap().is_ok());
        std::fs::write(&part, &original).unwrap();
    }
}
