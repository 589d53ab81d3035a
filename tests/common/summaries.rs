//! Helpers of the query-index suites (`tests/query_index.rs`, `tests/old_parts.rs`):
//! generated events, commits, and every summary path held to the oracle.

use sightline::generate::{GenOptions, write_jsonl};
use sightline::testing::{SummaryPath, scan, summary_by};
use sightline::{Db, Dialect, Snapshot, TimeRange};

/// `visitors` synthetic visitors as JSON lines (seed `seed`).
pub fn lines(visitors: u64, seed: u64) -> Vec<String> {
    let mut out = Vec::new();
    let opts = GenOptions {
        visitors,
        seed,
        ..GenOptions::default()
    };
    write_jsonl(&opts, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn commit(db: &Db, lines: &[String]) {
    let mut tx = db.begin_write().unwrap();
    for l in lines {
        tx.append_json(l).unwrap();
    }
    tx.commit().unwrap();
}

/// Every way of summarising `text` agrees with the oracle; returns the summary.
pub fn agree(snap: &Snapshot, text: &str, range: &TimeRange) -> sightline::Summary {
    let c = snap.compile(text, Dialect::Default).unwrap();
    let auto = summary_by(snap, &c, range, SummaryPath::Auto).unwrap();
    let columns = summary_by(snap, &c, range, SummaryPath::Columns).unwrap();
    let selected = snap.summarize(&snap.select(&c, range).unwrap()).unwrap();
    let oracle = scan::summary(snap, &c, range).unwrap();
    assert_eq!(auto, oracle, "{text} {range:?}: per-value summaries");
    assert_eq!(columns, oracle, "{text} {range:?}: columns");
    assert_eq!(selected, oracle, "{text} {range:?}: select + summarize");
    oracle
}
