//! `sightline privacy settings`, `sightline privacy log`, `import --pseudonymize-user-id`
//! and `privacy export --user-id` on pseudonymised data, through the real binary: show
//! (table, JSON, CSV), change and show, the settings applied to a later import, bad
//! values (exit 2), a missing database (exit 2), a database another writer holds (exit
//! 4), a damaged settings file or log (exit 3), the log's table and JSON, "was X
//! erased?", and the REPL's `.privacy`.

mod common;

use common::{describe, s, sightline, text};
use serde_json::{Value, json};

const EVENTS: &str = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","userId":"ann@example.org","ip":"192.168.17.4","pageUrl":"/home"}
{"ts":"2026-01-06T09:00:00Z","visitorId":"b","userId":"ann@example.org","ip":"10.0.0.7","pageUrl":"/cart"}
"#;

/// A temporary directory with an empty database `db` and the input `events.jsonl`.
fn setup() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = s(&dir.path().join("db")).to_string();
    let input = s(&dir.path().join("events.jsonl")).to_string();
    std::fs::write(&input, EVENTS).unwrap();
    sightline::Db::create(dir.path().join("db").as_path(), Default::default()).unwrap();
    (dir, db, input)
}

fn run(args: &[&str], code: i32) -> String {
    let out = sightline(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        describe(&out)
    );
    text(&out.stdout)
}

fn json_of(args: &[&str]) -> Value {
    let out = run(args, 0);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
fn show_change_and_show_in_every_format() {
    let (_dir, db, input) = setup();
    let off = json!({"anonymizeIp": null, "pseudonymizeUserId": false, "retentionDays": null});
    assert_eq!(
        json_of(&["privacy", "settings", "--db", &db, "--json"]),
        off
    );
    let table = run(&["privacy", "settings", "--db", &db], 0);
    assert!(
        table.contains("anonymize ip") && table.contains("off"),
        "{table}"
    );
    let changed = json_of(&[
        "privacy",
        "settings",
        "--db",
        &db,
        "--anonymize-ip",
        "2",
        "--pseudonymize-user-id",
        "on",
        "--retention-days",
        "395",
        "--json",
    ]);
    let on = json!({"anonymizeIp": 2, "pseudonymizeUserId": true, "retentionDays": 395});
    assert_eq!(changed, on);
    assert_eq!(
        json_of(&["privacy", "settings", "--db", &db, "--format", "json"]),
        on
    );
    let csv = run(&["privacy", "settings", "--db", &db, "--format", "csv"], 0);
    assert_eq!(
        csv,
        "anonymizeIp,pseudonymizeUserId,retentionDays\n2,true,395\n"
    );
    let table = run(&["privacy", "settings", "--db", &db], 0);
    assert!(
        table.contains("2 bytes masked") && table.contains("395 days"),
        "{table}"
    );
    // One option changes one setting.
    let one = json_of(&[
        "privacy",
        "settings",
        "--db",
        &db,
        "--retention-days",
        "off",
        "--json",
    ]);
    assert_eq!(one["retentionDays"], Value::Null);
    assert_eq!(one["anonymizeIp"], 2);

    // A later import is masked and pseudonymised; the export finds ann by her clear id.
    run(&["import", "--db", &db, &input], 0);
    let report = json_of(&["report", "--db", &db, "--by", "userId", "--json"]);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let pseudonym = rows[0]["value"].as_str().unwrap().to_string();
    assert_eq!(pseudonym.len(), 64);
    assert_eq!(rows[0]["visitors"], 2);
    let ips = json_of(&["report", "--db", &db, "--by", "ip", "--json"]);
    let ips: Vec<&str> = ips["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.0.0.0", "192.168.0.0"]);
    let out = sightline(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--user-id",
        "ann@example.org",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let lines = text(&out.stdout);
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines.contains(&pseudonym) && !lines.contains("ann@example.org"),
        "{lines}"
    );
    // The pseudonym itself selects too.
    let out = sightline(&["privacy", "export", "--db", &db, "--user-id", &pseudonym]);
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

#[test]
fn import_can_pseudonymise_on_its_own() {
    let (_dir, db, input) = setup();
    run(
        &["import", "--db", &db, "--pseudonymize-user-id", &input],
        0,
    );
    let report = json_of(&["report", "--db", &db, "--by", "userId", "--json"]);
    let value = report["rows"][0]["value"].as_str().unwrap();
    assert_eq!(value.len(), 64, "{report}");
    // The setting itself stays off.
    assert_eq!(
        json_of(&["privacy", "settings", "--db", &db, "--json"])["pseudonymizeUserId"],
        false
    );
    let out = sightline(&[
        "privacy",
        "export",
        "--db",
        &db,
        "--user-id",
        "ann@example.org",
    ]);
    assert_eq!(text(&out.stdout).lines().count(), 2, "{}", describe(&out));
}

#[test]
fn bad_values_a_missing_database_and_a_held_one_have_their_exit_status() {
    let (dir, db, _) = setup();
    for bad in [
        ["--anonymize-ip", "5"],
        ["--anonymize-ip", "two"],
        ["--pseudonymize-user-id", "yes"],
        ["--retention-days", "0"],
        ["--retention-days", "1.5"],
    ] {
        let arg = format!("{}={}", bad[0], bad[1]);
        let out = sightline(&["privacy", "settings", "--db", &db, &arg]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", describe(&out));
        assert!(
            text(&out.stderr).contains(bad[0]),
            "{bad:?}: {}",
            describe(&out)
        );
    }
    let missing = s(&dir.path().join("nothing")).to_string();
    let out = sightline(&["privacy", "settings", "--db", &missing]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = sightline(&["privacy", "log", "--db", &missing]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    // Held by a writer: a change is locked out (4); showing still works.
    let writer = sightline::Db::open(dir.path().join("db").as_path()).unwrap();
    let out = sightline(&["privacy", "settings", "--db", &db, "--anonymize-ip", "1"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(text(&out.stderr).contains("locked"), "{}", describe(&out));
    run(&["privacy", "settings", "--db", &db], 0);
    drop(writer);
    run(
        &["privacy", "settings", "--db", &db, "--anonymize-ip", "1"],
        0,
    );
}

#[test]
fn damaged_privacy_files_are_corruption() {
    let (dir, db, _) = setup();
    run(
        &["privacy", "settings", "--db", &db, "--anonymize-ip", "1"],
        0,
    );
    let path = dir.path().join("db");
    let settings = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("privacy-0")
        })
        .unwrap();
    let good = std::fs::read(&settings).unwrap();
    let mut bad = good.clone();
    bad[18] ^= 4;
    std::fs::write(&settings, &bad).unwrap();
    for args in [
        &["privacy", "settings", "--db", &db][..],
        &["privacy", "settings", "--db", &db, "--anonymize-ip", "2"],
        &["query", "--db", &db],
        &["check", "--db", &db],
    ] {
        let out = sightline(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", describe(&out));
    }
    std::fs::write(&settings, &good).unwrap();
    let log = path.join("privacy-log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[2] ^= 1; // the file header
    std::fs::write(&log, &bytes).unwrap();
    for args in [
        &["privacy", "log", "--db", &db][..],
        &["check", "--db", &db],
    ] {
        let out = sightline(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", describe(&out));
        assert!(
            text(&out.stderr).contains("privacy-log") || text(&out.stdout).contains("privacy-log")
        );
    }
}

#[test]
fn the_log_lists_changes_and_answers_was_it_erased() {
    let (dir, db, _) = setup();
    let empty = run(&["privacy", "log", "--db", &db], 0);
    assert!(empty.contains("the audit log is empty"), "{empty}");
    assert_eq!(
        json_of(&["privacy", "log", "--db", &db, "--json"]),
        json!({"entries": []})
    );
    run(
        &[
            "privacy",
            "settings",
            "--db",
            &db,
            "--pseudonymize-user-id",
            "on",
        ],
        0,
    );
    {
        // An erasure, recorded as `privacy erase` records it.
        let handle = sightline::Db::open(dir.path().join("db").as_path()).unwrap();
        let counts = sightline::AuditCounts {
            visitors: 1,
            visits: 2,
            events: 5,
        };
        handle
            .audit(sightline::AuditRecord::new(
                sightline::AuditAction::Erase,
                sightline::SelectorKind::Visitor,
                "v-77",
                counts,
            ))
            .unwrap();
    }
    let doc = json_of(&["privacy", "log", "--db", &db, "--json"]);
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "settings");
    assert_eq!(entries[0]["settings"]["pseudonymizeUserId"], true);
    assert_eq!(entries[1]["action"], "erase");
    assert_eq!(entries[1]["selectorKind"], "visitor");
    assert_eq!(
        (entries[1]["visits"].clone(), entries[1]["events"].clone()),
        (json!(2), json!(5))
    );
    let hash = entries[1]["selectorHash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(entries[1]["time"].as_str().unwrap().ends_with('Z'));
    let table = run(&["privacy", "log", "--db", &db], 0);
    assert!(
        table.contains("erase") && table.contains(&hash[..12]) && !table.contains("v-77"),
        "{table}"
    );
    let csv = run(&["privacy", "log", "--db", &db, "--format", "csv"], 0);
    assert!(
        csv.starts_with("time,timeMs,action,selectorKind,selectorHash,visitors"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3);

    let yes = json_of(&[
        "privacy",
        "log",
        "--db",
        &db,
        "--check-visitor",
        "v-77",
        "--json",
    ]);
    assert_eq!(
        (
            yes["erased"].clone(),
            yes["entries"].as_array().unwrap().len()
        ),
        (json!(true), 1)
    );
    let no = json_of(&[
        "privacy",
        "log",
        "--db",
        &db,
        "--check-visitor",
        "v-78",
        "--json",
    ]);
    assert_eq!(
        (no["erased"].clone(), no["entries"].clone()),
        (json!(false), json!([]))
    );
    let other_kind = json_of(&[
        "privacy",
        "log",
        "--db",
        &db,
        "--check-user-id",
        "v-77",
        "--json",
    ]);
    assert_eq!(other_kind["erased"], false);
    let said = run(
        &["privacy", "log", "--db", &db, "--check-visitor", "v-77"],
        0,
    );
    assert!(said.starts_with("visitor v-77: erased"), "{said}");
    let said = run(
        &["privacy", "log", "--db", &db, "--check-visitor", "v-78"],
        0,
    );
    assert!(said.contains("no record"), "{said}");
    let out = sightline(&[
        "privacy",
        "log",
        "--db",
        &db,
        "--check-visitor",
        "a",
        "--check-user-id",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn the_repl_shows_the_settings() {
    let (_dir, db, _) = setup();
    run(
        &["privacy", "settings", "--db", &db, "--anonymize-ip", "3"],
        0,
    );
    let mut child = common::bin()
        .args(["repl", "--db", &db])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b".privacy\n.mode json\n.privacy\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("3 bytes masked"), "{stdout}");
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["anonymizeIp"], 3);
}
