//! Parts of format version 1 (no query index; written here by the switch the testing
//! module offers, in a test binary of their own since the switch is process-wide) give
//! the answers version 2 parts give, through the engine's in-memory stand-ins for the
//! missing structures, and compaction rewrites them in version 2.

#[path = "common/summaries.rs"]
mod summaries;

use sightline::testing::{part_readers, write_format_v1};
use sightline::{Db, DbOptions, Snapshot, TimeRange};
use summaries::{agree, commit, lines};

/// Single-value segments over several visit-level dimensions, and a few others.
fn segments(snap: &Snapshot) -> Vec<String> {
    let mut out = vec![String::new()];
    for dim in [
        "countryCode",
        "deviceType",
        "referrerType",
        "visitorType",
        "browserCode",
    ] {
        let values = snap.dimension_values(dim, "", 12).unwrap();
        for v in &values.values {
            out.push(format!("{dim}=={v}"));
        }
    }
    out.extend(
        [
            "countryCode==DE",
            "countryCode==zz",
            "visitEcommerceStatus==ordered",
            "countryCode==fr,countryCode==de",
            "visitCount>=3;visitCount<=10",
            "visitDuration>600;actions>=5",
            "pageUrl=@/checkout",
            "deviceType!=desktop",
            "revenue>100",
        ]
        .map(String::from),
    );
    out
}

#[test]
fn format_version_1_parts_answer_alike_and_compaction_upgrades_them() {
    let all = lines(800, 5);
    let expect: Vec<(String, sightline::Summary)> = {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(dir.path(), DbOptions::default()).unwrap();
        commit(&db, &all);
        let snap = db.snapshot();
        segments(&snap)
            .into_iter()
            .map(|t| {
                let s = agree(&snap, &t, &TimeRange::ALL);
                (t, s)
            })
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    // The switch is process-wide: this file's only test.
    write_format_v1(true);
    let db = sightline::Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    commit(&db, &all);
    write_format_v1(false);
    let versions = |db: &Db| -> Vec<u32> {
        part_readers(&db.snapshot())
            .iter()
            .map(|p| p.version())
            .collect()
    };
    assert!(versions(&db).iter().all(|&v| v == 1), "{:?}", versions(&db));
    let snap = db.snapshot();
    for (text, want) in &expect {
        assert_eq!(
            &agree(&snap, text, &TimeRange::ALL),
            want,
            "{text} on version 1"
        );
    }
    db.compact().unwrap();
    assert!(versions(&db).iter().all(|&v| v == 2), "{:?}", versions(&db));
    let snap = db.snapshot();
    for (text, want) in &expect {
        assert_eq!(
            &agree(&snap, text, &TimeRange::ALL),
            want,
            "{text} after upgrade"
        );
    }
    // `check` verifies the upgraded parts' query index.
    let report = sightline::check(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
