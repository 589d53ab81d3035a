//! Every single-byte change of a part, a deletion file or a manifest is reported as
//! corruption by `check`, and reading the damaged database either fails with a typed
//! error or returns exactly the original answer: never a panic, never a wrong answer.

use std::path::Path;

use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, DbOptions, ErrorKind};

fn answer(
    dir: &Path,
) -> sightline::Result<(sightline::Stats, Vec<sightline::visits::VisitRecord>)> {
    let db = Db::open_read_only(dir)?;
    let snap = db.snapshot();
    Ok((snap.stats()?, snap.visits()?))
}

fn build(dir: &Path) {
    let mut input = Vec::new();
    write_jsonl(
        &GenOptions {
            visitors: 6,
            seed: 3,
            days: 5,
            ..GenOptions::default()
        },
        &mut input,
    )
    .unwrap();
    let text = String::from_utf8(input).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let db = Db::create(dir, DbOptions::default()).unwrap();
    // Two commits whose visitors overlap, so a deletion file exists too.
    for half in [&lines[..lines.len() / 2], &lines[lines.len() / 3..]] {
        let mut tx = db.begin_write().unwrap();
        for l in half {
            tx.append_json(l).unwrap();
        }
        tx.commit().unwrap();
    }
}

#[test]
fn every_byte_flip_is_detected_and_never_gives_a_wrong_answer() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let reference = answer(dir.path()).unwrap();
    let newest =
        sightline::storage::manifest::generations(&sightline::storage::fs::OsFs, dir.path())
            .unwrap()
            .last()
            .copied()
            .unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("part-") || n.starts_with("del-"))
        .collect();
    files.push(sightline::storage::manifest::Manifest::file_name(newest));
    files.sort();
    assert!(
        files.iter().any(|f| f.starts_with("del-")),
        "no deletion file in {files:?}"
    );
    let (mut flips, mut errors, mut same) = (0u64, 0u64, 0u64);
    for name in &files {
        let path = dir.path().join(name);
        let original = std::fs::read(&path).unwrap();
        for pos in 0..original.len() {
            let mut bytes = original.clone();
            bytes[pos] ^= 0xff;
            std::fs::write(&path, &bytes).unwrap();
            flips += 1;
            let report = sightline::check::check(dir.path()).unwrap();
            assert!(
                !report.is_ok(),
                "{name}: flip at byte {pos} not detected by check"
            );
            assert!(
                report
                    .problems
                    .iter()
                    .all(|p| p.kind() == ErrorKind::Corruption),
                "{name}@{pos}: {:?}",
                report.problems
            );
            match std::panic::catch_unwind(|| answer(dir.path())) {
                Err(_) => panic!("{name}: flip at byte {pos} panicked"),
                Ok(Err(e)) => {
                    assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::Corruption | ErrorKind::UnsupportedVersion
                        ),
                        "{name}@{pos}: {e}"
                    );
                    assert!(
                        e.to_string().contains(name.as_str()),
                        "{name}@{pos}: error does not name the file: {e}"
                    );
                    errors += 1;
                }
                Ok(Ok(got)) => {
                    assert_eq!(
                        got, reference,
                        "{name}: flip at byte {pos} changed the answer"
                    );
                    same += 1;
                }
            }
        }
        std::fs::write(&path, &original).unwrap();
        // Truncations: every length of the file.
        for len in 0..original.len() {
            std::fs::write(&path, &original[..len]).unwrap();
            assert!(
                !sightline::check::check(dir.path()).unwrap().is_ok(),
                "{name} truncated to {len} passed check"
            );
            let r = std::panic::catch_unwind(|| answer(dir.path()));
            assert!(
                matches!(r, Ok(Err(_))),
                "{name} truncated to {len}: {:?}",
                r.map(|x| x.map(|_| ()))
            );
        }
        std::fs::write(&path, &original).unwrap();
    }
    assert!(sightline::check::check(dir.path()).unwrap().is_ok());
    println!(
        "{flips} flips: {errors} corruption errors, {same} reads unaffected (padding or unread bytes)"
    );
}
