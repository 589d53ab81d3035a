//! README.md's "Five-minute tour" runs as written: every line of the shell block after
//! the `<!-- readme-tour -->` marker, in order, with `sh -c`, in a fresh directory, with
//! the built `sightline` first on the PATH, exits 0. The README and the binary cannot
//! drift apart.

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::describe;

/// The marker the tour's block follows.
const MARKER: &str = "<!-- readme-tour";

/// The command lines of the first ```sh block after [`MARKER`] in `readme`: blank lines
/// and `#` comments skipped, lines ending in `\` joined with the next.
fn tour(readme: &str) -> Vec<String> {
    let after = readme
        .split_once(MARKER)
        .expect("README.md has the tour marker")
        .1;
    let block = after
        .split_once("```sh\n")
        .expect("a ```sh block after the marker")
        .1
        .split_once("\n```")
        .expect("the block ends")
        .0;
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            lines.push(trimmed.to_string());
        }
    }
    assert!(pending.is_empty(), "the block ends with a continued line");
    lines
}

#[test]
fn the_tour_is_found_and_has_its_commands() {
    let readme = include_str!("../README.md");
    let lines = tour(readme);
    for command in [
        "import",
        "stats",
        "query",
        "explain",
        "report",
        "funnel",
        "cohorts",
        "visitor",
        "--format csv",
        "--format json",
        "demo",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(command)),
            "the tour lacks {command}: {lines:#?}"
        );
    }
    // The parser itself: comments, blanks and continuations.
    let sample = "x\n<!-- readme-tour -->\n```sh\n# c\n\na \\\n  b\nc\n```\n```sh\nd\n```\n";
    assert_eq!(tour(sample), ["a   b", "c"]);
}

#[test]
fn every_line_of_the_readme_tour_exits_0() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let bin = Path::new(env!("CARGO_BIN_EXE_sightline"));
    let mut dirs = vec![bin.parent().expect("binary directory").to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(dirs).expect("PATH");
    let dir = tempfile::tempdir().expect("temp dir");
    for line in tour(&readme) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("SIGHTLINE_DB")
            .stdin(Stdio::null())
            .output()
            .expect("run sh");
        assert!(
            out.status.success(),
            "README tour: `{line}`\n{}",
            describe(&out)
        );
    }
}
