//! Hostile import files (reliability issue, item 7), through the real binary: every
//! kind of malformed row, in JSON Lines and CSV, with and without `--skip-invalid`.
//!
//! - Without `--skip-invalid` the first bad row fails the import with
//!   `FILE:LINE: field: reason` on stderr (the right physical line), exit status 2
//!   (`docs/analytics.md`: a parse error), and the database's files are unchanged byte for byte.
//! - With it, the good rows are committed, the bad ones counted exactly and the first
//!   ten listed with their line numbers.
//! - Always: no panic message, the process ends by itself (an exit status, not a
//!   signal) within [`TIME_BOUND`], and under an address-space limit of
//!   [`MEMORY_BOUND`] (an import that needed more would be killed, which the previous
//!   point would report). The largest input here is a 65 MiB line.
//!
//! What `tests/cli_import.rs` already covers is not repeated here (a missing
//! `visitorId`, a truncated object mid-file, an unknown `click` type, a bad date, a
//! custom dimension changing type, a surplus CSV field, CRLF, blank lines and a BOM on
//! line 1, line numbers across the reader's 4 MiB chunks).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{assert_same_content, describe, dir_content, s, text};
use serde_json::Value;

/// Longest an import of these files may take (debug build, shared machine): far above
/// the slowest measured (~0.5 s, the 65 MiB line), so only a hang or a quadratic
/// blow-up trips it.
const TIME_BOUND: Duration = Duration::from_secs(20);

/// Address space an import may use (`ulimit -v`, KiB): 1 GiB, ~10× what the 65 MiB line
/// needs, far below what reading a file whole or per-row quadratic buffers would take.
const MEMORY_BOUND: u64 = 1 << 20;

/// Runs `sightline import --db DB EXTRA… FILES…` under the memory bound and checks the
/// ways an import must never end: a signal, a panic, the time bound.
fn import(db: &Path, extra: &[&str], files: &[&Path]) -> Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {MEMORY_BOUND} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_sightline"))
        .args(["import", "--db", s(db)])
        .args(extra)
        .args(files.iter().map(|f| s(f)))
        .env_remove("SIGHTLINE_DB");
    let t0 = Instant::now();
    let out = cmd.output().expect("run sightline import");
    let took = t0.elapsed();
    let what = format!("import {extra:?} {files:?}");
    assert!(
        out.status.code().is_some(),
        "{what}: killed by a signal: {}",
        short(&describe(&out))
    );
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{what}: {}",
        short(&describe(&out))
    );
    assert!(took < TIME_BOUND, "{what}: took {took:?}");
    out
}

/// At most ~2 KB of `s` (outputs quoting a 10 MB line).
fn short(s: &str) -> String {
    if s.len() <= 2_000 {
        return s.to_string();
    }
    let mut end = 2_000;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

fn json_doc(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", short(&describe(out))))
}

fn events(db: &Path) -> u64 {
    let out = common::sightline(&["stats", "--db", s(db), "--json"]);
    assert_eq!(out.status.code(), Some(0), "stats: {}", describe(&out));
    json_doc(&out)["events"].as_u64().expect("events")
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write input file");
    p
}

/// A database with two commits (parts, deletion files, two manifests) and the custom
/// dimensions `plan` (string) and `score` (number).
fn populated_db(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    let base = write(
        dir,
        "base.jsonl",
        [
            r#"{"ts":"2026-01-04T09:00:00Z","visitorId":"base1","plan":"pro"}"#,
            r#"{"ts":"2026-01-04T09:05:00Z","visitorId":"base2","score":2,"type":"goal","goalId":1,"revenue":5}"#,
        ]
        .join("\n"),
    );
    let more = write(
        dir,
        "more.jsonl",
        r#"{"ts":"2026-01-04T09:10:00Z","visitorId":"base1","pageUrl":"/x"}"#,
    );
    for f in [&base, &more] {
        let out = import(&db, &[], &[f]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }
    assert_eq!(events(&db), 3);
    db
}

/// Asserts a failed import: exit 2, the error `FILE:LINE: FIELD: …REASON…` on stderr,
/// nothing on stdout, and the database unchanged.
fn assert_fails_at(
    db: &Path,
    extra: &[&str],
    file: &Path,
    line: u64,
    field: &str,
    reason: &str,
    what: &str,
) {
    let before = dir_content(db);
    let out = import(db, extra, &[file]);
    let shown = short(&describe(&out));
    assert_eq!(out.status.code(), Some(2), "{what}: {shown}");
    let want = format!("error: {}:{line}: {field}: ", file.display());
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&want) && l.contains(reason)),
        "{what}: stderr lacks {want:?}…{reason:?}: {shown}"
    );
    assert!(out.stdout.is_empty(), "{what}: {shown}");
    assert_same_content(&before, &dir_content(db), what);
}

/// Asserts a `--skip-invalid` import: exit 0, `good` events committed, the bad rows
/// counted and the first ten listed as `FILE:LINE: FIELD: …`.
fn assert_skips(
    db: &Path,
    extra: &[&str],
    file: &Path,
    good: u64,
    bad: &[(u64, &str)],
    what: &str,
) {
    let before = events(db);
    let out = import(
        db,
        &[extra, &["--skip-invalid", "--json"]].concat(),
        &[file],
    );
    let shown = short(&describe(&out));
    assert_eq!(out.status.code(), Some(0), "{what}: {shown}");
    let doc = json_doc(&out);
    assert_eq!(doc["events"], good, "{what}: {shown}");
    assert_eq!(doc["rejected"], bad.len(), "{what}: {shown}");
    let errors: Vec<&str> = doc["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e.as_str().expect("a string"))
        .collect();
    assert_eq!(errors.len(), bad.len().min(10), "{what}: {shown}");
    for (err, (line, field)) in errors.iter().zip(bad) {
        let want = format!("{}:{line}: {field}: ", file.display());
        assert!(
            err.starts_with(&want),
            "{what}: expected {want:?}…, got {err:?}"
        );
    }
    assert_eq!(events(db), before + good, "{what}: committed events");
}

// ───────────────────────────────── JSON Lines ─────────────────────────────────

const GOOD: [&str; 3] = [
    r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"n1","pageUrl":"/a","plan":"basic"}"#,
    r#"{"ts":"2026-01-05T10:01:00Z","visitorId":"n1","pageUrl":"/b","score":1.5}"#,
    r#"{"ts":"2026-01-05T10:02:00Z","visitorId":"n2","type":"event","eventCategory":"video"}"#,
];

/// A bad JSON Lines row: its bytes, the field the error names and a part of the reason.
struct BadRow {
    row: Vec<u8>,
    field: &'static str,
    reason: &'static str,
}

fn bad(row: impl Into<Vec<u8>>, field: &'static str, reason: &'static str) -> BadRow {
    BadRow {
        row: row.into(),
        field,
        reason,
    }
}

/// `{"ts":…,"visitorId":"b",REST}` (a row that is fine but for REST).
fn with(rest: &str) -> Vec<u8> {
    format!(r#"{{"ts":"2026-01-05T11:00:00Z","visitorId":"b",{rest}}}"#).into_bytes()
}

fn jsonl_bad_rows() -> Vec<BadRow> {
    let mut deep_value = with(r#""x":"#);
    deep_value.truncate(deep_value.len() - 1);
    deep_value.extend(std::iter::repeat_n(b'[', 10_000));
    deep_value.extend(std::iter::repeat_n(b']', 10_000));
    deep_value.push(b'}');
    let mut deep_open = br#"{"ts":1,"visitorId":"b","x":"#.to_vec();
    deep_open.extend(std::iter::repeat_n(b'[', 100_000));
    vec![
        // ── bytes that are not text ──
        bad(
            with("\"pageTitle\":\"caf\u{e9}\"")
                .iter()
                .map(|&b| if b == 0xC3 { 0xFF } else { b })
                .collect::<Vec<u8>>(),
            "row",
            "not valid UTF-8: byte 0xFF at column",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":\"b\"}\xff".to_vec(),
            "row",
            "not valid UTF-8: byte 0xFF at column 25",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":\"\xe2\x82\"}".to_vec(),
            "row",
            "not valid UTF-8: bytes 0xE2 0x82 at column 22",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":\"\xc0\x80\"}".to_vec(),
            "row",
            "not valid UTF-8: byte 0xC0",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":\"b\x00\"}".to_vec(),
            "row",
            "control character",
        ),
        bad(b"\x00".to_vec(), "row", "invalid JSON"),
        bad(
            b"\xEF\xBB\xBF{\"ts\":1,\"visitorId\":\"b\"}".to_vec(),
            "row",
            "byte-order mark (U+FEFF) starts this line",
        ),
        // ── not one JSON object ──
        bad(b"[".repeat(10_000), "row", "expected a JSON object"),
        bad(
            deep_value,
            "x",
            "expected a string or a number, found an array",
        ),
        bad(deep_open, "row", "EOF while parsing"),
        bad(b"[1,2]".to_vec(), "row", "expected a JSON object"),
        bad(b"\"a string\"".to_vec(), "row", "expected a JSON object"),
        bad(b"42".to_vec(), "row", "expected a JSON object"),
        bad(b"true".to_vec(), "row", "expected a JSON object"),
        bad(b"null".to_vec(), "row", "expected a JSON object"),
        bad(b"{}".to_vec(), "ts", "missing (required)"),
        bad(
            [with("\"a\":1"), b" {\"b\":2}".to_vec()].concat(),
            "row",
            "trailing characters",
        ),
        bad(
            [with("\"a\":1"), b"garbage".to_vec()].concat(),
            "row",
            "trailing characters",
        ),
        bad(
            [with("\"a\":1"), b"\r{\"b\":2}".to_vec()].concat(),
            "row",
            "trailing characters",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":\"b\",}".to_vec(),
            "row",
            "invalid JSON",
        ),
        bad(b"{'ts':1}".to_vec(), "row", "invalid JSON"),
        bad(
            b"\x0b{\"ts\":1,\"visitorId\":\"b\"}".to_vec(),
            "row",
            "invalid JSON",
        ),
        // ── numbers JSON cannot hold, or that are not the field's kind ──
        bad(with("\"eventValue\":NaN"), "row", "invalid JSON"),
        bad(with("\"eventValue\":Infinity"), "row", "invalid JSON"),
        bad(with("\"revenue\":-Infinity"), "row", "invalid JSON"),
        bad(with("\"eventValue\":1e400"), "row", "number out of range"),
        bad(with("\"x\":-1e400"), "row", "number out of range"),
        bad(
            with("\"goalId\":-0"),
            "goalId",
            "found -0.0, a floating-point number",
        ),
        bad(
            with("\"goalId\":99999999999999999999"),
            "goalId",
            "beyond the 64-bit integer range",
        ),
        bad(
            with("\"siteId\":-9223372036854775809"),
            "siteId",
            "beyond the 64-bit integer range",
        ),
        bad(
            b"{\"ts\":1e3,\"visitorId\":\"b\"}".to_vec(),
            "ts",
            "found 1000.0, a floating-point number",
        ),
        bad(
            b"{\"ts\":9223372036854775808,\"visitorId\":\"b\"}".to_vec(),
            "ts",
            "beyond the 64-bit integer range",
        ),
        bad(
            b"{\"ts\":-9223372036854775808,\"visitorId\":\"b\"}".to_vec(),
            "ts",
            "outside the supported time range",
        ),
        bad(
            b"{\"ts\":\"10000-01-01T00:00:00Z\",\"visitorId\":\"b\"}".to_vec(),
            "ts",
            "RFC 3339",
        ),
        bad(
            b"{\"ts\":\"2026-02-30T00:00:00Z\",\"visitorId\":\"b\"}".to_vec(),
            "ts",
            "RFC 3339",
        ),
        bad(
            b"{\"ts\":\"\",\"visitorId\":\"b\"}".to_vec(),
            "ts",
            "RFC 3339",
        ),
        // ── the wrong type in every field ──
        bad(
            b"{\"ts\":true,\"visitorId\":\"b\"}".to_vec(),
            "ts",
            "found a boolean",
        ),
        bad(
            b"{\"ts\":[1],\"visitorId\":\"b\"}".to_vec(),
            "ts",
            "found an array",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":5}".to_vec(),
            "visitorId",
            "expected a string, found a number",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":{\"id\":1}}".to_vec(),
            "visitorId",
            "found an object",
        ),
        bad(
            with("\"visitId\":[]"),
            "visitId",
            "expected a string, found an array",
        ),
        bad(
            with("\"siteId\":\"1\""),
            "siteId",
            "expected an integer, found a string",
        ),
        bad(
            with("\"siteId\":1.5"),
            "siteId",
            "expected an integer, found 1.5",
        ),
        bad(
            with("\"type\":3"),
            "type",
            "expected a string, found a number",
        ),
        bad(
            with("\"pageUrl\":{}"),
            "pageUrl",
            "expected a string, found an object",
        ),
        bad(
            with("\"pageTitle\":false"),
            "pageTitle",
            "expected a string, found a boolean",
        ),
        bad(
            with("\"eventCategory\":1"),
            "eventCategory",
            "expected a string",
        ),
        bad(
            with("\"eventAction\":[\"a\"]"),
            "eventAction",
            "expected a string",
        ),
        bad(with("\"eventName\":0.5"), "eventName", "expected a string"),
        bad(
            with("\"eventValue\":\"12\""),
            "eventValue",
            "expected a number, found a string",
        ),
        bad(
            with("\"goalId\":\"2\""),
            "goalId",
            "expected an integer, found a string",
        ),
        bad(
            with("\"revenue\":\"12.50\""),
            "revenue",
            "expected a number, found a string",
        ),
        bad(
            with("\"revenue\":true"),
            "revenue",
            "expected a number, found a boolean",
        ),
        bad(
            with("\"countryCode\":7"),
            "countryCode",
            "expected a string",
        ),
        bad(with("\"ip\":[10,0,0,1]"), "ip", "expected a string"),
        bad(with("\"userId\":{}"), "userId", "expected a string"),
        bad(
            with("\"custom\":true"),
            "custom",
            "expected a string or a number, found a boolean",
        ),
        bad(with("\"custom\":{\"a\":1}"), "custom", "found an object"),
        bad(
            with("\"plan\":3"),
            "plan",
            "expected a string (the dimension's type), found a number",
        ),
        // ── keys ──
        bad(
            with("\"pageUrl\":\"/a\",\"pageUrl\":\"/b\""),
            "pageUrl",
            "duplicate key",
        ),
        bad(
            with("\"pageUrl\":null,\"pageUrl\":\"/b\""),
            "pageUrl",
            "duplicate key",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":\"b\",\"visitorId\":\"c\"}".to_vec(),
            "visitorId",
            "duplicate key",
        ),
        bad(with("\"x\":1,\"x\":2"), "x", "duplicate key"),
        bad(
            b"{\"visitorId\":\"b\",\"pageUrl\":\"/n\"}".to_vec(),
            "ts",
            "missing (required)",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":null}".to_vec(),
            "visitorId",
            "missing (required)",
        ),
        bad(
            b"{\"ts\":1,\"visitorId\":\"\"}".to_vec(),
            "visitorId",
            "must not be empty",
        ),
        bad(with("\"visitId\":\"\""), "visitId", "must not be empty"),
        // ── unknown types ──
        bad(with("\"type\":\"\""), "type", "unknown type \"\""),
        bad(
            with("\"type\":\"PageView\""),
            "type",
            "unknown type \"PageView\" (expected one of: pageview,",
        ),
        bad(with("\"type\":\"pageview \""), "type", "unknown type"),
    ]
}

#[test]
fn each_bad_json_row_fails_the_import_at_its_line_and_is_skipped_with_skip_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    let rows = jsonl_bad_rows();
    for (i, b) in rows.iter().enumerate() {
        // Lines: 1 good, 2 good, 3 BAD, 4 good.
        let mut content = Vec::new();
        for part in [
            GOOD[0].as_bytes(),
            b"\n",
            GOOD[1].as_bytes(),
            b"\n",
            &b.row,
            b"\n",
            GOOD[2].as_bytes(),
            b"\n",
        ] {
            content.extend_from_slice(part);
        }
        let file = write(tmp.path(), &format!("bad{i}.jsonl"), &content);
        let what = format!("case {i} ({})", short(&String::from_utf8_lossy(&b.row)));
        assert_fails_at(&db, &[], &file, 3, b.field, b.reason, &what);
        assert_skips(&db, &[], &file, 3, &[(3, b.field)], &what);
    }
}

#[test]
fn a_file_of_every_bad_json_row_commits_the_good_ones_and_counts_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    let rows = jsonl_bad_rows();
    // Good and bad rows alternate, with blank, whitespace-only and CRLF-ended lines in
    // between (they count as lines and are neither rows nor errors).
    let mut content: Vec<u8> = Vec::new();
    let mut line = 0u64;
    let mut expected = Vec::new();
    let mut good = 0u64;
    let mut push = |bytes: &[u8], ending: &[u8], content: &mut Vec<u8>| {
        content.extend_from_slice(bytes);
        content.extend_from_slice(ending);
        line += 1;
        line
    };
    for (i, b) in rows.iter().enumerate() {
        let ending: &[u8] = if i % 2 == 0 { b"\n" } else { b"\r\n" };
        push(GOOD[i % 3].as_bytes(), ending, &mut content);
        good += 1;
        expected.push((push(&b.row, ending, &mut content), b.field));
        match i % 4 {
            0 => {
                push(b"", b"\n", &mut content);
            }
            1 => {
                push(b" \t ", b"\r\n", &mut content);
            }
            _ => {}
        }
    }
    // A last good row without a newline.
    push(GOOD[0].as_bytes(), b"", &mut content);
    good += 1;
    let file = write(tmp.path(), "all-bad.jsonl", &content);

    // Without --skip-invalid: the first bad row, line 2.
    assert_fails_at(
        &db,
        &[],
        &file,
        2,
        rows[0].field,
        rows[0].reason,
        "every bad row",
    );
    // With it: every good row, every bad one counted, the first ten listed in order.
    assert_skips(&db, &[], &file, good, &expected, "every bad row");
    // The readable form says how many more there were.
    let out = import(&db, &["--skip-invalid"], &[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", short(&describe(&out)));
    let stderr = text(&out.stderr);
    let more = expected.len() - 10;
    assert!(
        stderr.contains(&format!("  … and {more} more")),
        "{}",
        short(&stderr)
    );
    assert!(
        text(&out.stdout).contains(&format!("{} rejected", expected.len())),
        "{}",
        short(&describe(&out))
    );
}

#[test]
fn a_truncated_last_line_is_a_bad_row_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    let content = format!(
        "{}\n{}\n{{\"ts\":1,\"visitorId\":\"b\",\"pageUrl\":\"/tr",
        GOOD[0], GOOD[1]
    );
    let file = write(tmp.path(), "truncated.jsonl", content);
    assert_fails_at(
        &db,
        &[],
        &file,
        3,
        "row",
        "EOF while parsing a string",
        "truncated",
    );
    assert_skips(&db, &[], &file, 2, &[(3, "row")], "truncated");
}

#[test]
fn long_lines_are_read_or_skipped_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    // A good 10 MB line, then a bad one (an unterminated 10 MB string).
    let ten = "x".repeat(10 << 20);
    let content = format!(
        "{}\n{{\"ts\":1,\"visitorId\":\"long\",\"pageTitle\":\"{ten}\"}}\n{}\n{{\"ts\":1,\"visitorId\":\"long\",\"pageTitle\":\"{ten}\n{}\n",
        GOOD[0], GOOD[1], GOOD[2]
    );
    let file = write(tmp.path(), "ten-mb.jsonl", content);
    assert_fails_at(
        &db,
        &[],
        &file,
        4,
        "row",
        "EOF while parsing a string",
        "10 MB lines",
    );
    assert_skips(&db, &[], &file, 4, &[(4, "row")], "10 MB lines");

    // A line over the 64 MiB limit: fatal without --skip-invalid, skipped with it
    // (the reader drops it without holding it), and the lines after it keep their
    // numbers.
    let mut huge = Vec::with_capacity(66 << 20);
    huge.extend_from_slice(GOOD[0].as_bytes());
    huge.extend_from_slice(b"\n{\"ts\":1,\"visitorId\":\"huge\",\"pageTitle\":\"");
    huge.resize(huge.len() + (65 << 20), b'y');
    huge.extend_from_slice(b"\"}\n");
    huge.extend_from_slice(GOOD[1].as_bytes());
    huge.extend_from_slice(b"\nnot json\n");
    huge.extend_from_slice(GOOD[2].as_bytes());
    let file = write(tmp.path(), "huge.jsonl", &huge);
    drop(huge);
    assert_fails_at(
        &db,
        &[],
        &file,
        2,
        "row",
        "line longer than 64 MiB",
        "65 MiB line",
    );
    assert_skips(&db, &[], &file, 3, &[(2, "row"), (4, "row")], "65 MiB line");
    std::fs::remove_file(&file).ok();
}

#[test]
fn a_row_with_thousands_of_keys_is_read_in_linear_time() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    // 900 new custom dimensions fit (the database has 2, and may have 1,000).
    let keys = |n: usize| -> String {
        (0..n)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let content = format!(
        "{}\n{{\"ts\":1,\"visitorId\":\"wide\",{}}}\n{{\"ts\":1,\"visitorId\":\"wide\",{},\"k4999\":1}}\n",
        GOOD[0],
        keys(900),
        keys(5_000)
    );
    let file = write(tmp.path(), "wide.jsonl", content);
    assert_fails_at(&db, &[], &file, 3, "k4999", "duplicate key", "5,000 keys");
    assert_skips(&db, &[], &file, 2, &[(3, "k4999")], "5,000 keys");
    // 5,000 distinct keys: the 999th new one would be the 1,001st dimension.
    let content = format!(
        "{}\n{{\"ts\":2,\"visitorId\":\"wider\",{}}}\n",
        GOOD[0],
        keys(5_000)
    );
    let file = write(tmp.path(), "wider.jsonl", content);
    let limit = "the database already has 1000, the most it may have";
    assert_fails_at(&db, &[], &file, 2, "k998", limit, "5,000 new keys");
    assert_skips(&db, &[], &file, 1, &[(2, "k998")], "5,000 new keys");
}

#[test]
fn empty_and_blank_files_import_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    for (name, content) in [
        ("empty.jsonl", ""),
        ("blank.jsonl", "\n\r\n \t\n\n"),
        ("bom.jsonl", "\u{feff}\n"),
        ("empty.csv", ""),
        ("header-only.csv", "ts,visitorId,pageUrl\n"),
        ("header-only-no-newline.csv", "ts,visitorId"),
        ("blank.csv", "\n\n"),
    ] {
        let file = write(tmp.path(), name, content);
        for extra in [&[][..], &["--skip-invalid"][..]] {
            let out = import(&db, &[extra, &["--json"]].concat(), &[&file]);
            assert_eq!(out.status.code(), Some(0), "{name}: {}", describe(&out));
            let doc = json_doc(&out);
            assert_eq!(
                (doc["events"].as_u64(), doc["rejected"].as_u64()),
                (Some(0), Some(0)),
                "{name}: {doc}"
            );
        }
    }
    assert_eq!(events(&db), 3);
}

#[test]
fn a_directory_or_a_missing_file_is_a_usage_error_that_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    let good = write(tmp.path(), "good.jsonl", GOOD.join("\n"));
    let dir = tmp.path().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let missing = tmp.path().join("missing.jsonl");
    let cases: [(&Path, &str); 3] = [
        (&dir, "is a directory"),
        (&missing, "no such file"),
        (&tmp.path().join("missing.csv"), "no such file"),
    ];
    for (input, says) in cases {
        for extra in [&[][..], &["--skip-invalid"][..]] {
            // Alone, and after a good file: nothing is read, nothing committed.
            for files in [vec![input], vec![&good, input]] {
                let before = dir_content(&db);
                let out = import(&db, extra, &files);
                let what = format!("{files:?} {extra:?}");
                assert_eq!(out.status.code(), Some(2), "{what}: {}", describe(&out));
                let want = format!("error: {}", input.display());
                let stderr = text(&out.stderr);
                assert!(
                    stderr.starts_with(&want) && stderr.contains(says),
                    "{what}: {stderr}"
                );
                assert_same_content(&before, &dir_content(&db), &what);
            }
        }
        // Into a database that does not exist yet: it is not created.
        let new_db = tmp.path().join("never-created");
        let out = import(&new_db, &[], &[input]);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(!new_db.exists(), "{} was created", new_db.display());
    }
}

#[test]
fn a_failed_import_into_a_new_database_leaves_no_database() {
    let tmp = tempfile::tempdir().unwrap();
    let new_db = tmp.path().join("new-db");
    let file = write(tmp.path(), "bad.jsonl", format!("{}\nnot json\n", GOOD[0]));
    let out = import(&new_db, &["--visit-timeout", "5"], &[&file]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        !new_db.exists(),
        "a failed import created {}",
        new_db.display()
    );
    // So a retry creates it with the options it asks for: v's events are 3 minutes
    // apart, two visits with a 1-minute timeout (one with the failed attempt's 5).
    let good = write(
        tmp.path(),
        "good.jsonl",
        [
            r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"v"}"#,
            r#"{"ts":"2026-01-05T10:03:00Z","visitorId":"v"}"#,
        ]
        .join("\n"),
    );
    let out = import(&new_db, &["--visit-timeout", "1", "--json"], &[&good]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(json_doc(&out)["visits"], 2, "{}", describe(&out));
}

// ───────────────────────────────────── CSV ─────────────────────────────────────

const CSV_HEADER: &str = "ts,visitorId,pageTitle,score\n";
const CSV_GOOD: [&str; 2] = [
    "2026-01-05T10:00:00Z,c1,Home,1\n",
    "1767607260000,c1,\"Cart, big\",2\n",
];

/// A CSV case: the whole file, the line of the first bad record, the field named, a
/// part of the reason, and (for `--skip-invalid`) the good rows and every bad line.
struct CsvCase {
    name: &'static str,
    content: Vec<u8>,
    line: u64,
    field: &'static str,
    reason: &'static str,
    good: u64,
    bad: Vec<(u64, &'static str)>,
}

/// Header, two good rows (lines 2 and 3), then `rest` from line 4 on.
fn csv(rest: &[u8]) -> Vec<u8> {
    [
        CSV_HEADER.as_bytes(),
        CSV_GOOD[0].as_bytes(),
        CSV_GOOD[1].as_bytes(),
        rest,
    ]
    .concat()
}

fn csv_cases() -> Vec<CsvCase> {
    let case = |name, content, line, field, reason, good, bad: &[(u64, &'static str)]| CsvCase {
        name,
        content,
        line,
        field,
        reason,
        good,
        bad: bad.to_vec(),
    };
    vec![
        case("short row", csv(b"2026-01-05T10:02:00Z,c2\n2026-01-05T10:03:00Z,c2,x,3\n"), 4, "row", "row has 2 fields, the header has 4", 3, &[(4, "row")]),
        case("one field", csv(b"lonely\n"), 4, "row", "row has 1 fields", 2, &[(4, "row")]),
        case("not UTF-8 in a cell", csv(b"2026-01-05T10:02:00Z,c2,caf\xe9,3\n"), 4, "pageTitle", "not valid UTF-8", 2, &[(4, "pageTitle")]),
        case("not UTF-8 in the visitor", csv(b"2026-01-05T10:02:00Z,\xff,x,3\n"), 4, "visitorId", "not valid UTF-8", 2, &[(4, "visitorId")]),
        case("unclosed quote at the end", csv(b"2026-01-05T10:02:00Z,c2,\"open,3\n2026-01-05T10:03:00Z,c3,x,4\n"), 4, "row", "a quoted field opened here is never closed", 2, &[(4, "row")]),
        case("unclosed quote on the last line", csv(b"2026-01-05T10:02:00Z,c2,x,\"3"), 4, "row", "never closed", 2, &[(4, "row")]),
        case(
            "multi-line quoted fields keep line numbers",
            csv(b"2026-01-05T10:02:00Z,c2,\"line one\nline two\r\nline three\",3\n2026-01-05T10:03:00Z,c2,\"a\n\nb\",4\nnot-a-time,c2,x,5\n"),
            10, "ts", "RFC 3339", 4, &[(10, "ts")],
        ),
        case("empty visitor", csv(b"2026-01-05T10:02:00Z,,x,3\n"), 4, "visitorId", "missing (required)", 2, &[(4, "visitorId")]),
        case("empty time", csv(b",c2,x,3\n"), 4, "ts", "missing (required)", 2, &[(4, "ts")]),
        case("fractional milliseconds", csv(b"1767607260000.5,c2,x,3\n"), 4, "ts", "RFC 3339", 2, &[(4, "ts")]),
        case("milliseconds beyond i64", csv(b"99999999999999999999,c2,x,3\n"), 4, "ts", "bad integer timestamp", 2, &[(4, "ts")]),
        case("score NaN", csv(b"2026-01-05T10:02:00Z,c2,x,NaN\n"), 4, "score", "expected a number", 2, &[(4, "score")]),
        case("score 1e400", csv(b"2026-01-05T10:02:00Z,c2,x,1e400\n"), 4, "score", "expected a number", 2, &[(4, "score")]),
        case("score inf", csv(b"2026-01-05T10:02:00Z,c2,x,inf\n"), 4, "score", "expected a number", 2, &[(4, "score")]),
        // The csv reader's own line numbers are off after CRLF endings and blank lines
        // (rust-csv #395, #208); the import counts lines itself.
        case(
            "CRLF everywhere",
            b"ts,visitorId,pageTitle,score\r\n2026-01-05T10:00:00Z,c1,Home,1\r\n1767607260000,c1,x,2\r\n2026-01-05T10:02:00Z,c2,x,many\r\n2026-01-05T10:03:00Z,c2\r\n".to_vec(),
            4, "score", "expected a number", 2, &[(4, "score"), (5, "row")],
        ),
        case(
            "blank lines before a bad record",
            csv(b"\n\n2026-01-05T10:02:00Z,c2,x,many\n\n2026-01-05T10:02:00Z\n"),
            6, "score", "expected a number", 2, &[(6, "score"), (8, "row")],
        ),
        case(
            "bad rows between blank lines and CRLF",
            csv(b"\r\n2026-01-05T10:02:00Z,c2\r\n\n\n2026-01-05T10:03:00Z,c2,x,3\r\n2026-01-05T10:04:00Z,c2,x,y,z\n"),
            5, "row", "row has 2 fields", 3, &[(5, "row"), (9, "row")],
        ),
        case(
            "every field of the wrong kind",
            [
                b"ts,visitorId,siteId,type,goalId,revenue,eventValue\n".as_slice(),
                b"2026-01-05T10:00:00Z,c1,1,goal,2,5.5,1\n",
                b"2026-01-05T10:00:00Z,c1,one,,,,\n",
                b"2026-01-05T10:00:00Z,c1,,click,,,\n",
                b"2026-01-05T10:00:00Z,c1,,goal,1.5,,\n",
                b"2026-01-05T10:00:00Z,c1,,goal,,12 EUR,\n",
                b"2026-01-05T10:00:00Z,c1,,,,,-inf\n",
                b"2026-01-05T10:00:00Z,c1,99999999999999999999,,,,\n",
            ]
            .concat(),
            3, "siteId", "expected an integer, found \"one\"", 1,
            &[(3, "siteId"), (4, "type"), (5, "goalId"), (6, "revenue"), (7, "eventValue"), (8, "siteId")],
        ),
    ]
}

#[test]
fn each_bad_csv_record_fails_the_import_at_its_line_and_is_skipped_with_skip_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    for (i, c) in csv_cases().into_iter().enumerate() {
        // Not named .csv: --format decides.
        let file = write(tmp.path(), &format!("bad{i}.txt"), &c.content);
        let extra = ["--format", "csv"];
        assert_fails_at(&db, &extra, &file, c.line, c.field, c.reason, c.name);
        assert_skips(&db, &extra, &file, c.good, &c.bad, c.name);
    }
}

#[test]
fn a_bad_csv_header_fails_the_import_even_with_skip_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    let rows = [CSV_GOOD[0], CSV_GOOD[1]].concat();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "empty first line",
            format!("\n{CSV_HEADER}{rows}").into_bytes(),
            "header",
            "line 1 is empty",
        ),
        (
            "blank first lines",
            format!("\r\n\n{CSV_HEADER}{rows}").into_bytes(),
            "header",
            "not line 3",
        ),
        (
            "duplicate names",
            format!("ts,visitorId,ts\n{rows}").into_bytes(),
            "ts",
            "duplicate column",
        ),
        (
            "duplicate after trimming",
            format!("ts,visitorId, visitorId \n{rows}").into_bytes(),
            "visitorId",
            "duplicate column",
        ),
        (
            "a column without a name",
            format!("ts,,visitorId\n{rows}").into_bytes(),
            "header",
            "column 2 has no name",
        ),
        (
            "not UTF-8",
            [b"ts,visitorId,caf\xe9\n".as_slice(), rows.as_bytes()].concat(),
            "header",
            "not valid UTF-8",
        ),
        (
            "unclosed quote",
            format!("ts,\"visitorId,pageTitle\n{}", CSV_GOOD[0]).into_bytes(),
            "header",
            "never closed",
        ),
    ];
    for (name, content, field, reason) in cases {
        let file = write(
            tmp.path(),
            &format!("{}.csv", name.replace(' ', "-")),
            &content,
        );
        assert_fails_at(&db, &[], &file, 1, field, reason, name);
        assert_fails_at(&db, &["--skip-invalid"], &file, 1, field, reason, name);
    }
}

#[test]
fn a_ten_megabyte_csv_cell_is_read_and_line_numbers_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated_db(tmp.path());
    let big = "z".repeat(10 << 20);
    let content = csv(format!(
        "2026-01-05T10:02:00Z,c2,\"{big}\n{big}\",3\n2026-01-05T10:03:00Z,c2,{big},x\n"
    )
    .as_bytes());
    let file = write(tmp.path(), "big.csv", content);
    assert_fails_at(
        &db,
        &[],
        &file,
        6,
        "score",
        "expected a number",
        "10 MB cells",
    );
    assert_skips(&db, &[], &file, 3, &[(6, "score")], "10 MB cells");
}

#[test]
fn an_import_that_cannot_take_the_writer_lock_removes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("held");
    // Another writer (this process) holds the new, empty database.
    let holder = sightline::Db::create(&path, sightline::DbOptions::default()).unwrap();
    let before = dir_content(&path);
    let file = write(tmp.path(), "bad.jsonl", "not json\n");
    let out = import(&path, &[], &[&file]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("database is locked"),
        "{}",
        describe(&out)
    );
    assert_same_content(&before, &dir_content(&path), "locked database");
    drop(holder);
}
