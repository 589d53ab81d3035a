//! String conditions matching many dictionary values are decided by one pass over the
//! column's ids instead of OR-ing one bitmap per value (`engine::MAX_INDEX_FAN_IN`).
//! Both paths must select exactly what the scan oracle selects: here, on columns with
//! hundreds of distinct values, conditions matching a few, ~64, and hundreds of them.
//! Combined with selective conditions, a wide condition is only evaluated on the rows
//! of the candidate visits, or of the rows matching the earlier same-row conditions
//! (`engine::RESTRICT_RATIO`): those segments are here too.

use sightline::testing::scan;
use sightline::{Db, DbOptions, Dialect, TimeRange};

#[test]
fn wide_fan_in_conditions_equal_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    // 600 visitors, 1-4 events each, over 400 product URLs, 300 titles and 90 cities
    // (visit level): deterministic, no randomness needed.
    for v in 0..600u64 {
        for e in 0..(1 + v % 4) {
            let n = (v * 7 + e * 13) % 400;
            let line = format!(
                r#"{{"ts":{},"visitorId":"v{v}","pageUrl":"https://www.shop.example/product/p{n}","pageTitle":"Title {}","city":"City {}"}}"#,
                1_767_225_600_000 + (v * 86_400 + e * 60) as i64 * 1000,
                (v + e) % 300,
                v % 90,
            );
            tx.append_json(&line).unwrap();
        }
    }
    tx.commit().unwrap();
    let snap = db.snapshot();
    for segment in [
        "pageUrl=@/product/",               // every value
        "pageUrl=@/product/p1",             // p1, p10…p19, p100…p199: 111 values
        "pageUrl=^shop.example/product/p2", // 111 values
        "pageUrl=~p[0-9]?[0-9]$",           // 100 values
        "pageUrl=~p[0-5][0-9]$",            // 60 values: the bitmap path
        "pageUrl=$3",                       // 40 values
        "pageUrl!@/product/p1",             // negation of a wide condition
        "pageTitle=@Title 1;pageUrl=@p2",
        "city=@City", // a visit-level column, 90 values
        "city!@City 1;pageUrl=~7$",
        "pageTitle>Title 2", // a byte-order range over the dictionary
        // Restricted evaluation: few candidate visits, then a wide condition.
        "city==City 3;pageUrl=@/product/",
        "city==City 4;pageTitle==Title 9;pageUrl=~p[0-9]?[0-9]$",
        "city==City 1,city==City 2;pageUrl!@/product/p1;pageUrl=@/product/",
        // Same row: an exact condition first, a wide one on its rows only.
        "pageTitle==Title 5;pageUrl=@/product/p1",
        "pageUrl=@/product/;pageTitle==Title 7",
        "pageTitle==Title 5,city==City 2;pageUrl=@/product/",
        "pageTitle==Title 5,city==City 2;pageUrl=@/product/;city!=City 2",
    ] {
        let compiled = snap.compile(segment, Dialect::Default).unwrap();
        let sel = snap.select(&compiled, &TimeRange::ALL).unwrap();
        assert_eq!(
            scan::selection_keys(&snap, &sel).unwrap(),
            scan::selected(&snap, &compiled, &TimeRange::ALL).unwrap(),
            "{segment}"
        );
        assert_eq!(
            snap.summarize(&sel).unwrap(),
            scan::summary(&snap, &compiled, &TimeRange::ALL).unwrap(),
            "{segment}"
        );
    }
}
