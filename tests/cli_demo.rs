//! `sightline demo` prints commands (`$ sightline …`) a new user will paste: each must
//! work as printed, from the directory the demo ran in, with `sightline` on the PATH.

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{describe, text};

/// `PATH` with the built binary's directory first.
fn path_with_sightline() -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_sightline"));
    let mut dirs = vec![bin.parent().expect("binary directory").to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

/// Runs `line` with `sh -c` in `dir`, as a user pasting it would.
fn sh(dir: &Path, line: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path_with_sightline())
        .env_remove("SIGHTLINE_DB")
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

fn demo_commands_work_as_printed(db: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = sh(
        dir.path(),
        &format!("sightline demo --db {db} --visitors 150"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    // The input was a temporary file, deleted: the demo does not name it.
    assert!(!stdout.contains("demo-input"), "{stdout}");
    assert!(!stdout.contains(".jsonl"), "{stdout}");
    let commands: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .collect();
    assert!(commands.len() >= 8, "{stdout}");
    for command in &commands {
        assert!(command.starts_with("sightline "), "{command}");
        assert!(
            command.contains(" --db "),
            "{command}: names the demo's database"
        );
        let out = sh(dir.path(), command);
        assert!(out.status.success(), "{command}: {}", describe(&out));
        assert!(
            !out.stdout.is_empty() || command.contains(" repl "),
            "{command}"
        );
    }
}

#[test]
fn demo_commands_work_when_pasted() {
    demo_commands_work_as_printed("my-demo");
}

#[test]
fn demo_commands_work_when_the_path_needs_quoting() {
    demo_commands_work_as_printed("'my demo'");
}
