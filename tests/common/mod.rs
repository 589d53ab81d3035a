//! Helpers shared by the CLI test suites: running the `sightline` binary and showing
//! what it printed.

// Each test crate uses a different subset.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `sightline` binary, with `$SIGHTLINE_DB` cleared so tests name their database.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sightline"));
    c.env_remove("SIGHTLINE_DB");
    c
}

/// Runs `sightline ARGS…` to completion.
pub fn sightline(args: &[&str]) -> Output {
    bin().args(args).output().expect("run the sightline binary")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Status, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// A temp path as `&str` (for argument lists).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Every file under `dir` (relative name → full content).
pub fn dir_content(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("list db dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("inside root").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read db file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts that two [`dir_content`]s are the same files with the same bytes.
pub fn assert_same_content(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
    what: &str,
) {
    let names_before: Vec<_> = before.keys().collect();
    let names_after: Vec<_> = after.keys().collect();
    assert_eq!(
        names_before, names_after,
        "{what}: the set of files changed"
    );
    for (name, bytes) in before {
        assert!(
            after[name] == *bytes,
            "{what}: content of {} changed ({} → {} bytes)",
            name.display(),
            bytes.len(),
            after[name].len()
        );
    }
}
