//! The query index of format version 2 parts against the columns it is derived from
//! and the scan oracle: per-value summaries answer single-value segments exactly as
//! selecting and summarising does — on whole parts, parts with deleted visitors, time
//! ranges cutting parts, values too rare to be summarised and case variants of code
//! dimensions — and every summary way agrees with the naive oracle.
//! (`tests/old_parts.rs` holds version 1 parts to the same answers.)

#[path = "common/summaries.rs"]
mod summaries;

use sightline::testing::part_readers;
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
            "countryCode==FR,countryCode==de,countryCode==zz",
            "deviceType==smartphone,deviceType==tablet",
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
fn per_value_summaries_agree_with_the_columns_and_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let all = lines(1500, 3);
    let (first, second) = all.split_at(all.len() * 2 / 3);
    commit(&db, first);
    // The second batch returns to stored visitors: their old parts get deletion sets.
    commit(&db, second);
    let snap = db.snapshot();
    assert!(
        part_readers(&snap).len() >= 2,
        "two commits make two parts at least"
    );
    let stats = snap.stats().unwrap();
    let mid = (stats.first_event.unwrap() + stats.last_event.unwrap()) / 2;
    let ranges = [
        TimeRange::ALL,
        TimeRange {
            start: Some(mid),
            end: None,
        },
    ];
    let mut nonzero = 0;
    for text in segments(&snap) {
        for range in &ranges {
            nonzero += u32::from(agree(&snap, &text, range).visits > 0);
        }
    }
    assert!(nonzero > 40, "the segments select something ({nonzero})");
    // After compaction: no deletions, every part answers from its summaries.
    db.compact().unwrap();
    let snap = db.snapshot();
    for text in segments(&snap) {
        agree(&snap, &text, &TimeRange::ALL);
    }
}

#[test]
fn a_version_2_part_keeps_its_query_index() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    commit(&db, &lines(300, 9));
    let snap = db.snapshot();
    let parts = part_readers(&snap);
    let part = &parts[0];
    assert_eq!(part.version(), 2);
    let q = part.meta().query.as_ref().expect("a query index");
    assert!(q.visit_firsts.is_some() && q.visitor_firsts.is_some());
    assert_eq!(q.measure_slices.len(), q.measures as usize);
    assert!(
        q.summaries.iter().any(|s| s.column == "countryCode"),
        "countryCode has values of 64 visits: {:?}",
        q.summaries.iter().map(|s| &s.column).collect::<Vec<_>>()
    );
    part.verify_all().unwrap();
}

/// `check` holds the query index to the columns: a part whose slices, summaries or
/// conversion rows were altered (checksums recomputed, so only content can tell) fails,
/// naming what disagrees; the untouched part passes.
#[test]
fn check_finds_a_query_index_that_disagrees_with_its_columns() {
    use sightline::testing::{PartMeta, reseal, verify_part_bytes};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .auto_compact(false)
        .create(dir.path())
        .unwrap();
    commit(&db, &lines(1500, 13));
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "slp"))
        .expect("a part file");
    let bytes = std::fs::read(&file).unwrap();
    verify_part_bytes(&file, bytes.clone()).expect("the written part verifies");
    let meta: PartMeta = part_readers(&db.snapshot())[0].meta().clone();
    let q = meta.query.as_ref().unwrap();
    let flip_in = |section: u32, what: &str| {
        let s = meta.sections[section as usize];
        let mut damaged = bytes.clone();
        damaged[s.offset as usize + s.len as usize / 2] ^= 0x10;
        reseal(&mut damaged);
        let e = verify_part_bytes(&file, damaged).expect_err(what);
        assert!(e.to_string().contains(what), "{e}");
    };
    let slice = q.measure_slices[sightline::testing::measure::DURATION].bits[0];
    flip_in(slice, "slices of measure");
    flip_in(q.summaries[0].section, "summar");
    flip_in(q.row_sets[0].section, "");
}

/// An OR of values whose visitors overlap: the metrics add up, the visitors do not
/// (each value's summary counts the visitor once; the OR must too).
#[test]
fn or_lists_count_shared_visitors_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let base = 1_767_607_200_000i64;
    let mut rows = Vec::new();
    for v in 0..300 {
        // Two visits an hour apart, the second in another country for two visitors in
        // three; 300 visitors give each country well over 64 visits.
        let second = if v % 3 == 0 { "FR" } else { "DE" };
        rows.push(format!(
            r#"{{"ts":{},"visitorId":"v{v}","countryCode":"FR","deviceType":"desktop"}}"#,
            base + v * 1000
        ));
        rows.push(format!(
            r#"{{"ts":{},"visitorId":"v{v}","countryCode":"{second}","deviceType":"tablet"}}"#,
            base + v * 1000 + 3_600_000
        ));
    }
    commit(&db, &rows);
    let snap = db.snapshot();
    let s = agree(&snap, "countryCode==fr,countryCode==de", &TimeRange::ALL);
    assert_eq!((s.visits, s.visitors), (600, 300));
    let s = agree(
        &snap,
        "deviceType==desktop,deviceType==tablet",
        &TimeRange::ALL,
    );
    assert_eq!((s.visits, s.visitors), (600, 300));
    let s = agree(&snap, "countryCode==de", &TimeRange::ALL);
    assert_eq!((s.visits, s.visitors), (200, 200));
}
