//! Every single-byte change of any file of the database — parts, deletion sets, and
//! manifests (the previous one included, and the parts and deletion sets they hold
//! inline) — is reported as corruption by `check`, and reading the damaged database (totals, every visit, a
//! segment query and a report) either fails with a typed error or returns exactly the
//! original answer: never a panic, never a wrong answer. Every truncation fails. A seeded
//! sample of the same damage through the CLI exits with status 3 (corruption, distinct
//! from 2 for usage errors) and a message naming the file, never a panic or a signal.

use std::path::Path;

use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, ErrorKind};

type Answer = (
    sightline::Stats,
    Vec<sightline::VisitRecord>,
    sightline::Summary,
    sightline::Report,
);

fn answer(dir: &Path) -> sightline::Result<Answer> {
    let db = Db::open_read_only(dir)?;
    let snap = db.snapshot();
    let all = sightline::TimeRange::ALL;
    let summary = snap.query("pageUrl=@/product/,countryCode==de", &all)?;
    let everyone = snap.compile("", Default::default())?;
    let report = snap.report(
        "countryCode",
        &snap.select(&everyone, &all)?,
        &Default::default(),
    )?;
    Ok((snap.stats()?, snap.visits()?, summary, report))
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
    let db = Db::builder().auto_compact(false).create(dir).unwrap();
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
    // Every file of the directory: the parts, and both manifests, the previous one
    // included (each holds its commit's part and deletion set inline).
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let manifests: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with("MANIFEST-"))
        .collect();
    assert_eq!(manifests.len(), 2, "{files:?}");
    let newest = manifests[1];
    let m = sightline::testing::Manifest::decode(
        Path::new(newest),
        &std::fs::read(dir.path().join(newest)).unwrap(),
    )
    .unwrap();
    assert!(
        m.parts
            .iter()
            .any(|p| p.deletions.as_ref().is_some_and(|d| d.inline.is_some())),
        "no inline deletion set in {m:?}"
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
            let report = sightline::check(dir.path()).unwrap();
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
                !sightline::check(dir.path()).unwrap().is_ok(),
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
    assert!(sightline::check(dir.path()).unwrap().is_ok());
    println!(
        "{flips} flips: {errors} corruption errors, {same} reads unaffected (padding or unread bytes)"
    );
}

fn sightline(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .output()
        .expect("run sightline")
}

#[test]
fn damaged_files_exit_with_status_3_naming_the_file() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let db = dir.path().to_str().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("part-") || n.starts_with("del-") || n.starts_with("MANIFEST-"))
        .collect();
    files.sort();
    // A usage error, for contrast: status 2.
    let usage = sightline(&["query", "--db", db, "countryCode"]);
    assert_eq!(usage.status.code(), Some(2));
    // Seeded positions (splitmix64), a flip or a truncation each. Both manifests are
    // read: the first still holds a live part inline.
    let mut x: u64 = 0x5EED_0003;
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (mut cases, mut query_errors) = (0, 0);
    for _ in 0..60 {
        let name = &files[(next() % files.len() as u64) as usize];
        let path = dir.path().join(name);
        let original = std::fs::read(&path).unwrap();
        let pos = (next() % original.len() as u64) as usize;
        let truncate = next() % 4 == 0;
        let mut bytes = original.clone();
        if truncate {
            bytes.truncate(pos);
        } else {
            bytes[pos] ^= 1 << (next() % 8);
        }
        std::fs::write(&path, &bytes).unwrap();
        let what = format!("{name} {} at {pos}", if truncate { "cut" } else { "flip" });
        for args in [
            vec!["check", "--db", db],
            vec!["query", "--db", db, "--json", "pageUrl=@/product/"],
            vec!["report", "--db", db, "--json", "--by", "countryCode"],
        ] {
            let out = sightline(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.signal(), None, "{what}: {args:?} died: {stderr}");
            assert!(!stderr.contains("panicked"), "{what}: {args:?}: {stderr}");
            match out.status.code() {
                Some(3) => {
                    // `check` lists the problems on standard output, errors go to stderr.
                    let said = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
                    assert!(said.contains(name.as_str()), "{what}: {args:?}: {said}");
                    query_errors += usize::from(args[0] != "check");
                }
                Some(0) if args[0] != "check" => {
                    // Unread bytes: the answer must be the undamaged one.
                    std::fs::write(&path, &original).unwrap();
                    let clean = sightline(&args);
                    let strip = |b: &[u8]| {
                        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
                        v.as_object_mut().map(|o| o.remove("elapsedMs"));
                        v
                    };
                    assert_eq!(
                        strip(&out.stdout),
                        strip(&clean.stdout),
                        "{what}: {args:?}: wrong answer"
                    );
                    std::fs::write(&path, &bytes).unwrap();
                }
                other => panic!("{what}: {args:?} exited {other:?}: {stderr}"),
            }
            cases += 1;
        }
        std::fs::write(&path, &original).unwrap();
    }
    assert!(query_errors > 20, "only {query_errors} query errors");
    println!("{cases} CLI runs on damaged files, {query_errors} query/report corruption exits");
}
