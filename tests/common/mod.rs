//! Helpers shared by the CLI test suites: running the `sightline` binary and showing
//! what it printed.

// Each test crate uses a different subset.
#![allow(dead_code)]

use std::path::Path;
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
