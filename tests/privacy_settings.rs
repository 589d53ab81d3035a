//! Privacy settings stored in the database (`docs/privacy.md`, "Settings" and "User-id
//! pseudonyms"): they persist across reopening, apply to every later import, write
//! transaction and appender append (IP masked, `userId` pseudonymised, the same
//! pseudonym across separate writes so a user's visits still link), an import's own
//! options win, the clear user id reaches no byte of any file of the database, bad
//! values and read-only handles are refused, a damaged settings file is corruption,
//! and no clean-up removes the file.

use std::path::Path;

use sightline::{
    AppendOptions, Db, ErrorKind, Event, ImportOptions, PrivacySettings, ReportOptions,
    ReportValue, Selection, TimeRange,
};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const HOUR: i64 = 3_600_000;
const SECRET_ID: &str = "ann.secret-id@example.org";

fn on() -> PrivacySettings {
    PrivacySettings {
        anonymize_ip: Some(2),
        pseudonymize_user_id: true,
        retention_days: Some(395),
    }
}

fn values(db: &Db, dim: &str) -> Vec<String> {
    db.snapshot()
        .dimension_values(dim, "", 100)
        .expect("values")
        .values
}

fn all(db: &Db) -> Selection {
    let snap = db.snapshot();
    let seg = snap
        .compile("", sightline::Dialect::Default)
        .expect("compile");
    snap.select(&seg, &TimeRange::ALL).expect("select")
}

/// Imports `lines` as a JSON Lines file, in a transaction of its own.
fn import(db: &Db, dir: &Path, lines: &str, opts: &ImportOptions) -> sightline::Result<()> {
    let path = dir.join(format!("in-{}.jsonl", lines.len()));
    std::fs::write(&path, lines).expect("write input");
    let mut tx = db.begin_write()?;
    tx.import_file(&path, opts, &|_| {})?;
    tx.commit().map(|_| ())
}

#[test]
fn settings_persist_across_reopening_and_read_only_handles_see_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::create(&path, Default::default()).unwrap();
    assert_eq!(db.privacy_settings(), PrivacySettings::default());
    db.set_privacy_settings(&on()).unwrap();
    assert_eq!(db.privacy_settings(), on());
    let reader = Db::open_read_only(&path).unwrap();
    assert_eq!(reader.privacy_settings(), on());
    let changed = PrivacySettings {
        anonymize_ip: None,
        ..on()
    };
    db.set_privacy_settings(&changed).unwrap();
    assert_eq!(reader.privacy_settings(), on(), "before its refresh");
    reader.refresh().unwrap();
    assert_eq!(reader.privacy_settings(), changed);
    drop(db);
    let db = Db::open(&path).unwrap();
    assert_eq!(db.privacy_settings(), changed);
    assert_eq!(db.privacy_settings().retention_days(), Some(395));
    // One settings file: older generations go once the new one is durable.
    let files: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("privacy-0"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(Db::probe(&path).unwrap(), sightline::DbLocation::Database);
}

#[test]
fn later_imports_appends_and_appenders_mask_and_pseudonymise_and_visits_still_link() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(&dir.path().join("db"))
        .unwrap();
    db.set_privacy_settings(&on()).unwrap();
    let pseudonym = db.pseudonymize_user_id(SECRET_ID).unwrap();
    assert_eq!(pseudonym.len(), 64);
    assert!(pseudonym.bytes().all(|b| b.is_ascii_hexdigit()));

    // Visitor `laptop`, user ann, through an import; then the same visitor's second
    // visit and visitor `phone` (also ann) through typed and JSON appends; then a third
    // visitor through an appender.
    let line = |ts: i64, v: &str, ip: &str| {
        format!(
            r#"{{"ts":{ts},"visitorId":"{v}","userId":"{SECRET_ID}","ip":"{ip}","pageUrl":"/"}}"#
        )
    };
    import(
        &db,
        dir.path(),
        &format!("{}\n", line(T0, "laptop", "192.168.17.4")),
        &ImportOptions::default(),
    )
    .unwrap();
    let mut tx = db.begin_write().unwrap();
    let mut e = Event::pageview(T0 + 5 * HOUR, "laptop", "/again");
    e.user_id = Some(SECRET_ID.into());
    e.ip = Some("10.1.2.3".into());
    tx.append(&e).unwrap();
    tx.append_json(&line(T0 + HOUR, "phone", "2001:db8:0:8d3:0:8a2e:70:7344"))
        .unwrap();
    tx.commit().unwrap();
    let appender = db.appender(AppendOptions::default()).unwrap();
    appender
        .append_json(&line(T0 + 2 * HOUR, "tablet", "172.16.5.6"))
        .unwrap();
    appender.commit().unwrap();
    appender.close().unwrap();

    assert_eq!(values(&db, "userId"), vec![pseudonym.clone()]);
    let mut ips = values(&db, "ip");
    ips.sort();
    assert_eq!(ips, ["10.1.0.0", "172.16.0.0", "192.168.0.0", "2001:db8::"]);
    // The user's visits link: one userId value over three visitors and four visits.
    let snap = db.snapshot();
    let report = snap
        .report("userId", &all(&db), &ReportOptions::default())
        .unwrap();
    assert_eq!(report.rows.len(), 1);
    assert_eq!(report.rows[0].value, ReportValue::Text(pseudonym.clone()));
    assert_eq!((report.rows[0].visits, report.rows[0].visitors), (4, 3));
    let laptop = snap.visitor("laptop").unwrap().expect("laptop is stored");
    assert_eq!(laptop.totals.visits, 2);
    let seg = format!("userId=={pseudonym}");
    assert_eq!(snap.query(&seg, &TimeRange::ALL).unwrap().visitors, 3);
    assert_eq!(
        snap.query(&format!("userId=={SECRET_ID}"), &TimeRange::ALL)
            .unwrap()
            .visits,
        0
    );
}

#[test]
fn an_imports_own_options_win_and_can_pseudonymise_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
    db.set_privacy_settings(&PrivacySettings {
        anonymize_ip: Some(1),
        ..PrivacySettings::default()
    })
    .unwrap();
    let rows = format!(
        "{}\n{}\n",
        r#"{"ts":1767225600000,"visitorId":"a","ip":"192.168.17.4","userId":"u1"}"#,
        r#"{"ts":1767225600000,"visitorId":"b","ip":"192.168.17.5","userId":""}"#
    );
    let opts = ImportOptions {
        anonymize_ip: Some(3),
        pseudonymize_user_id: true,
        ..ImportOptions::default()
    };
    import(&db, dir.path(), &rows, &opts).unwrap();
    assert_eq!(values(&db, "ip"), ["192.0.0.0"]);
    // An empty userId stays empty: there is nothing to pseudonymise.
    let mut users = values(&db, "userId");
    users.sort();
    assert_eq!(
        users,
        ["".to_string(), db.pseudonymize_user_id("u1").unwrap()]
    );
    // The setting applies where the import sets nothing.
    let later = r#"{"ts":1767229200000,"visitorId":"c","ip":"10.9.8.7","userId":"u2"}"#;
    import(
        &db,
        dir.path(),
        &format!("{later}\n"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(values(&db, "ip").contains(&"10.9.8.0".to_string()));
    assert!(values(&db, "userId").contains(&"u2".to_string()));
    // A transaction can turn pseudonyms on for itself, and a mask of its own keeps them.
    let mut tx = db.begin_write().unwrap();
    tx.set_pseudonymize_user_id(true).unwrap();
    tx.set_anonymize_ip(Some(4)).unwrap();
    tx.append_json(r#"{"ts":1767232800000,"visitorId":"d","ip":"10.9.8.7","userId":"u3"}"#)
        .unwrap();
    tx.commit().unwrap();
    assert!(values(&db, "userId").contains(&db.pseudonymize_user_id("u3").unwrap()));
    assert!(values(&db, "ip").contains(&"0.0.0.0".to_string()));
}

/// Every file of the directory, name and bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn holds(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_clear_user_id_reaches_no_byte_of_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // A small budget: the import spills runs and writes several parts.
    let db = Db::builder()
        .auto_compact(false)
        .budget_for_tests(4 << 10, 50, 1)
        .create(&path)
        .unwrap();
    db.set_privacy_settings(&on()).unwrap();
    let mut lines = String::new();
    for i in 0..400 {
        lines.push_str(&format!(
            r#"{{"ts":{},"visitorId":"v{}","userId":"{SECRET_ID}","ip":"198.51.100.{}","pageUrl":"/p{i}"}}"#,
            T0 + i * 60_000,
            i % 37,
            i % 200
        ));
        lines.push('\n');
    }
    import(&db, dir.path(), &lines, &ImportOptions::default()).unwrap();
    db.compact().unwrap();
    assert_eq!(db.snapshot().stats().unwrap().events, 400);
    let all = files(&path);
    assert!(
        all.iter()
            .any(|(n, _)| n.starts_with("part-") || n.starts_with("MANIFEST-"))
    );
    for (name, bytes) in &all {
        assert!(
            !holds(bytes, SECRET_ID.as_bytes()),
            "{name} holds the clear userId"
        );
        assert!(!holds(bytes, b"198.51.100.1"), "{name} holds a clear ip");
    }
    // The pseudonym is there (the check above would pass on an empty database too).
    let pseudonym = db.pseudonymize_user_id(SECRET_ID).unwrap();
    assert!(all.iter().any(|(_, b)| holds(b, pseudonym.as_bytes())));
}

#[test]
fn bad_values_and_read_only_handles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::create(&path, Default::default()).unwrap();
    for bad in [
        PrivacySettings {
            anonymize_ip: Some(5),
            ..PrivacySettings::default()
        },
        PrivacySettings {
            retention_days: Some(0),
            ..PrivacySettings::default()
        },
    ] {
        let e = db.set_privacy_settings(&bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    assert_eq!(db.privacy_settings(), PrivacySettings::default());
    drop(db);
    let reader = Db::open_read_only(&path).unwrap();
    let e = reader.set_privacy_settings(&on()).unwrap_err();
    assert!(matches!(e, sightline::Error::ReadOnly), "{e}");
    // No secret yet, and a reader cannot draw one.
    let e = reader.pseudonymize_user_id("u").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("no pseudonym secret"), "{e}");
    // Another writer holds the database: locked.
    let writer = Db::open(&path).unwrap();
    assert_eq!(Db::open(&path).unwrap_err().kind(), ErrorKind::Locked);
    let p = writer.pseudonymize_user_id("u").unwrap();
    reader.refresh().unwrap();
    assert_eq!(
        reader.pseudonymize_user_id("u").unwrap(),
        p,
        "the same secret"
    );
}

#[test]
fn a_damaged_settings_file_is_corruption_and_check_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::create(&path, Default::default()).unwrap();
    db.set_privacy_settings(&on()).unwrap();
    drop(db);
    let name = files(&path)
        .into_iter()
        .find(|(n, _)| n.starts_with("privacy-0"))
        .expect("a settings file")
        .0;
    let file = path.join(&name);
    let good = std::fs::read(&file).unwrap();
    for damage in 0..3 {
        let mut bytes = good.clone();
        match damage {
            0 => bytes[20] ^= 1,
            1 => bytes.truncate(bytes.len() - 3),
            _ => bytes[0] = b'X',
        }
        std::fs::write(&file, &bytes).unwrap();
        for opened in [Db::open(&path), Db::open_read_only(&path)] {
            let e = opened.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
            assert!(e.to_string().contains(&name), "{e}");
        }
        let report = sightline::check(&path).unwrap();
        assert!(!report.is_ok());
        assert!(report.problems[0].to_string().contains(&name));
    }
    std::fs::write(&file, &good).unwrap();
    assert!(sightline::check(&path).unwrap().is_ok());
    assert_eq!(Db::open(&path).unwrap().privacy_settings(), on());
}

#[test]
fn no_clean_up_removes_the_privacy_files_and_destroy_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::builder().auto_compact(false).create(&path).unwrap();
    db.set_privacy_settings(&on()).unwrap();
    for i in 0..4 {
        let mut tx = db.begin_write().unwrap();
        tx.append(&Event::pageview(T0 + i * HOUR, "v", "/"))
            .unwrap();
        tx.commit().unwrap();
    }
    db.compact().unwrap();
    drop(db);
    let db = Db::open(&path).unwrap(); // the writer's start-up clean-up
    assert_eq!(db.privacy_settings(), on());
    let report = sightline::check(&path).unwrap();
    assert!(report.is_ok() && report.orphans.is_empty(), "{report:?}");
    let names: Vec<String> = files(&path).into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().any(|n| n == "privacy-log"), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("privacy-0")),
        "{names:?}"
    );
    db.destroy().unwrap();
    assert!(!path.exists());
}
