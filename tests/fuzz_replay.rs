//! Replays every committed fuzz input on the stable toolchain: each file of
//! `fuzz/corpus/<target>/` (the seed corpora) and `fuzz/regressions/<target>/` (every
//! past crash, minimised) goes through the same check the fuzz target runs
//! (`fuzz/checks/`). A target with no input at all fails, so a lost corpus cannot pass
//! silently. Running the fuzzers themselves: `fuzz/run` (see `fuzz/README.md`).

#[path = "../fuzz/checks/mod.rs"]
mod checks;

use std::path::{Path, PathBuf};

use sightline::testing::{PartReader, reseal};

/// The input files of `target` (README and dotfiles are notes, not inputs).
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.expect("directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_file() && !name.starts_with('.') && name != "README.md" {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str) {
    let check = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .expect("a known target");
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no corpus or regression input for {target}"
    );
    for path in &files {
        // Shown (captured output) if the check panics.
        eprintln!("{target}: {}", path.display());
        check(&std::fs::read(path).expect("read input"));
    }
}

#[test]
fn every_target_is_replayed() {
    let mut names: Vec<&str> = checks::TARGETS.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    let mut tested = vec![
        "csv_row",
        "jsonl_row",
        "manifest",
        "part_bytes",
        "part_resealed",
        "segment_eval",
        "segment_parse",
    ];
    tested.sort_unstable();
    assert_eq!(names, tested);
}

#[test]
fn segment_parse() {
    replay("segment_parse");
}

#[test]
fn jsonl_row() {
    replay("jsonl_row");
}

#[test]
fn csv_row() {
    replay("csv_row");
}

#[test]
fn part_bytes() {
    replay("part_bytes");
}

#[test]
fn part_resealed() {
    replay("part_resealed");
}

#[test]
fn manifest() {
    replay("manifest");
}

#[test]
fn segment_eval() {
    replay("segment_eval");
}

/// `reseal` is what lets `part_resealed` past the checksums: on a valid part it changes
/// nothing, and after a byte of a section changes it makes the section's checksum hold
/// again.
#[test]
fn reseal_recomputes_the_checksums() {
    let part = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/part_bytes/small.slp"),
    )
    .expect("seed part");
    let mut same = part.clone();
    reseal(&mut same);
    assert_eq!(same, part);

    let path = Path::new("x.slp");
    let reader = PartReader::from_bytes(path, part.clone()).expect("valid part");
    let s = reader.meta().sections[reader.meta().visitor_ids as usize];
    let mut damaged = part.clone();
    damaged[s.offset as usize + s.len as usize - 1] ^= 0x20;
    let before = PartReader::from_bytes(path, damaged.clone()).expect("directory intact");
    assert!(before.section(reader.meta().visitor_ids).is_err());
    reseal(&mut damaged);
    let after = PartReader::from_bytes(path, damaged).expect("resealed");
    assert!(after.section(reader.meta().visitor_ids).is_ok());
}

/// The part seeds are real parts of both format versions: each opens and verifies.
#[test]
fn part_seeds_are_valid_parts_of_both_versions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/part_bytes");
    let mut versions = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("corpus") {
        let path = entry.expect("entry").path();
        let reader = PartReader::from_bytes(&path, std::fs::read(&path).expect("seed"))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        reader
            .verify_all()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        versions.insert(reader.version());
    }
    assert_eq!(versions.into_iter().collect::<Vec<_>>(), [1, 2]);
}
