//! What imports check beyond syntax: values of fields with a fixed list (`deviceType`,
//! `referrerType`) are stored in their canonical form or rejected, as segments treat
//! them, and keys that look like misspelt built-in fields are reported as warnings
//! (`docs/ingest.md`).

use std::path::Path;

use sightline::{Db, Error, Event, ImportOptions, KeyWarning, TimeRange};

fn import(
    db: &Db,
    dir: &Path,
    name: &str,
    text: &str,
    skip: bool,
) -> sightline::Result<sightline::FileReport> {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let mut tx = db.begin_write()?;
    let opts = ImportOptions {
        skip_invalid: skip,
        ..ImportOptions::default()
    };
    let report = tx.import_file(&path, &opts, &|_| {})?;
    tx.commit()?;
    Ok(report)
}

fn visits(db: &Db, segment: &str) -> u64 {
    db.snapshot()
        .query(segment, &TimeRange::ALL)
        .unwrap()
        .visits
}

const CASES: &str = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","deviceType":"Smartphone","referrerType":"SEARCH"}
{"ts":"2026-01-05T10:00:00Z","visitorId":"b","deviceType":" tablet ","referrerType":"direct"}
{"ts":"2026-01-05T10:00:00Z","visitorId":"c","deviceType":"Feature Phone"}
{"ts":"2026-01-05T10:00:00Z","visitorId":"d","deviceType":""}
"#;

#[test]
fn fixed_list_values_are_stored_in_canonical_form_and_selectable() {
    for format in ["jsonl", "csv"] {
        let text = if format == "jsonl" {
            CASES.to_string()
        } else {
            "ts,visitorId,deviceType,referrerType\n\
             2026-01-05T10:00:00Z,a,Smartphone,SEARCH\n\
             2026-01-05T10:00:00Z,b, tablet ,direct\n\
             2026-01-05T10:00:00Z,c,Feature Phone,\n\
             2026-01-05T10:00:00Z,d,,\n"
                .to_string()
        };
        let sub = tempfile::tempdir().unwrap();
        let db = Db::create(&sub.path().join("db"), Default::default()).unwrap();
        import(&db, sub.path(), &format!("in.{format}"), &text, false).unwrap();
        let snap = db.snapshot();
        let stored = snap.dimension_values("deviceType", "", 10).unwrap().values;
        // (An empty CSV field is no value; an empty JSON string is the empty value.)
        let mut want = vec!["feature phone", "smartphone", "tablet"];
        if format == "jsonl" {
            want.insert(0, "");
        }
        assert_eq!(stored, want, "{format}");
        let stored = snap
            .dimension_values("referrerType", "", 10)
            .unwrap()
            .values;
        assert!(
            stored.contains(&"search".to_string()),
            "{format}: {stored:?}"
        );
        assert!(
            !stored.iter().any(|v| v == "SEARCH"),
            "{format}: {stored:?}"
        );
        assert_eq!(visits(&db, "deviceType==smartphone"), 1, "{format}");
        // Segments compare fixed-list values the same way: any case means the entry.
        assert_eq!(visits(&db, "deviceType==SmartPhone"), 1, "{format}");
        assert_eq!(visits(&db, "referrerType==Search"), 1, "{format}");
        assert_eq!(visits(&db, "deviceType==feature%20phone"), 1, "{format}");
        assert_eq!(visits(&db, "deviceType!=TABLET"), 3, "{format}");
        assert_eq!(visits(&db, "deviceType=="), 1, "{format}");
    }
}

#[test]
fn values_outside_the_list_are_row_errors_naming_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
    let text = "{\"ts\":\"2026-01-05T10:00:00Z\",\"visitorId\":\"a\",\"deviceType\":\"desktop\"}\n\
                {\"ts\":\"2026-01-05T10:00:00Z\",\"visitorId\":\"b\",\"deviceType\":\"Mobile\"}\n";
    let err = import(&db, dir.path(), "bad.jsonl", text, false).unwrap_err();
    let Error::Row(row) = &err else {
        panic!("expected a row error, got {err}");
    };
    assert_eq!((row.line, row.field.as_str()), (2, "deviceType"), "{err}");
    let msg = err.to_string();
    for part in [
        "bad.jsonl:2",
        "\"Mobile\"",
        "desktop, smartphone, tablet",
        "peripheral",
    ] {
        assert!(msg.contains(part), "{msg} lacks {part}");
    }
    // Nothing of the failed import was stored.
    assert_eq!(db.snapshot().stats().unwrap().events, 0);

    // With skip_invalid the row is counted and reported, the others kept.
    let report = import(&db, dir.path(), "bad.jsonl", text, true).unwrap();
    assert_eq!((report.rows, report.rejected), (1, 1));
    assert!(
        report.errors[0].reason.contains("valid values"),
        "{:?}",
        report.errors
    );

    let err = import(
        &db,
        dir.path(),
        "bad.csv",
        "ts,visitorId,referrerType\n2026-01-05T10:00:00Z,z,newsletter\n",
        false,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bad.csv:2") && msg.contains("referrerType"),
        "{msg}"
    );
    assert!(
        msg.contains("direct, search, website, campaign, social"),
        "{msg}"
    );
}

#[test]
fn typed_events_are_checked_alike() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    let mut e = Event::pageview(1_767_607_200_000, "a", "https://x.org/");
    e.device_type = Some("DESKTOP".into());
    tx.append(&e).unwrap();
    let mut bad = Event::pageview(1_767_607_200_000, "b", "https://x.org/");
    bad.device_type = Some("laptop".into());
    let err = tx.append(&bad).unwrap_err().to_string();
    assert!(
        err.contains("deviceType") && err.contains("valid values"),
        "{err}"
    );
    tx.commit().unwrap();
    assert_eq!(visits(&db, "deviceType==desktop"), 1);
    let stored = db
        .snapshot()
        .dimension_values("deviceType", "", 10)
        .unwrap()
        .values;
    assert_eq!(stored, ["desktop"]);
}

#[test]
fn misspelt_keys_warn_with_the_field_the_first_line_and_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(&dir.path().join("db"), Default::default()).unwrap();
    let text = r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"a","plan":"pro"}
{"ts":"2026-01-05T10:01:00Z","visitorId":"a","contryCode":"fr"}
{"ts":"2026-01-05T10:02:00Z","visitorId":"b","contryCode":"de","pageURL":"https://x.org/"}
{"ts":"2026-01-05T10:03:00Z","visitorId":"c","contryCode":"us"}
"#;
    let report = import(&db, dir.path(), "keys.jsonl", text, false).unwrap();
    assert_eq!(report.rows, 4);
    assert_eq!(
        report.warnings,
        [
            KeyWarning {
                key: "contryCode".into(),
                did_you_mean: "countryCode".into(),
                line: 2,
                rows: 3,
            },
            KeyWarning {
                key: "pageURL".into(),
                did_you_mean: "pageUrl".into(),
                line: 3,
                rows: 1,
            },
        ]
    );
    // The key is still stored, as the custom dimension it is.
    assert_eq!(visits(&db, "contryCode==fr"), 1);

    // CSV: the header's misspelt key, from the first record using it.
    let csv = "ts,visitorId,visitorid,plan\n\
               2026-01-05T10:00:00Z,x,,a\n\
               2026-01-05T10:00:00Z,y,Y,b\n\
               2026-01-05T10:00:00Z,z,Z,c\n";
    let report = import(&db, dir.path(), "keys.csv", csv, false).unwrap();
    assert_eq!(
        report.warnings,
        [KeyWarning {
            key: "visitorid".into(),
            did_you_mean: "visitorId".into(),
            line: 3,
            rows: 2,
        }]
    );

    // Correct keys give no warning.
    let report = import(&db, dir.path(), "ok.jsonl", CASES, false).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}
