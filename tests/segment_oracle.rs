//! The bitmap engine against the scan oracle (`docs/segment-language.md`): on random events imported in
//! random batches, random segments over every kind of dimension and operator select
//! exactly the same visits and give exactly the same summary through
//! `Snapshot::select`/`summarize` as through `exec::scan`, the naive row-by-row
//! evaluator. Hand-written examples pin the tricky rules (same action row, negated
//! action conditions, conversion existence tests, empty values, URL and case rules,
//! OR binding tighter than AND) through both.
//!
//! The proptest seed is fixed and printed; set `SEGMENT_ORACLE_SEED` to explore others
//! and `SEGMENT_ORACLE_CASES` to run more (or fewer) than 96 cases.

#[path = "common/random_events.rs"]
mod random_events;
#[path = "common/random_segments.rs"]
mod random_segments;
#[path = "common/seeded.rs"]
mod seeded;

use proptest::prelude::*;
use random_events::{BASE_MS, import, json_batches, visitors};
use random_segments::{Expect, condition, range_of, segments};
use sightline::testing::{SummaryPath, summary_by};
use sightline::{Db, Dialect, Snapshot, Summary, TimeRange};
use sightline::{Explain, testing::scan};
use sightline::{OrGroup, Segment};
const DEFAULT_SEED: u64 = 0x5e9_0ac1e;

fn seed() -> u64 {
    seeded::env_or("SEGMENT_ORACLE_SEED", DEFAULT_SEED)
}

fn config() -> ProptestConfig {
    seeded::oracle_databases("segment_oracle");
    seeded::config(
        "segment_oracle",
        "SEGMENT_ORACLE_SEED",
        seed(),
        seeded::env_or("SEGMENT_ORACLE_CASES", 96),
    )
}

/// Engine and oracle answers for one segment text; `Err` when compiling fails.
#[allow(clippy::type_complexity)]
fn both(
    snap: &Snapshot,
    text: &str,
    range: &TimeRange,
) -> sightline::Result<(
    (Vec<(String, i64)>, Summary),
    (Vec<(String, i64)>, Summary),
    Explain,
)> {
    let c = snap.compile(text, Dialect::Default)?;
    let sel = snap.select(&c, range)?;
    let engine = (scan::selection_keys(snap, &sel)?, snap.summarize(&sel)?);
    // Every way of reading the parts gives the same summary.
    for path in [SummaryPath::Auto, SummaryPath::Columns] {
        assert_eq!(
            summary_by(snap, &c, range, path)?,
            engine.1,
            "{path:?} summary of {text:?}"
        );
    }
    let oracle = (
        scan::selected(snap, &c, range)?,
        scan::summary(snap, &c, range)?,
    );
    assert_eq!(
        snap.converted_visits(&sel)?,
        scan::converted_visits(snap, &c, range)?,
        "converted visits of {text:?}"
    );
    let explain = snap.explain(&c, range)?;
    Ok((engine, oracle, explain))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engine_agrees_with_the_scan_oracle(
        visitors in visitors(),
        batches in 1usize..=3,
        customs in proptest::collection::vec(
            (proptest::bool::weighted(0.75), proptest::bool::weighted(0.75)), 3),
        shuffle in any::<u64>(),
        segs in segments(),
    ) {
        let (lines, stamps) = json_batches(&visitors, batches, &customs, shuffle);
        let dir = tempfile::tempdir().unwrap();
        let db = import(dir.path(), &lines);
        let snap = db.snapshot();
        let starts: Vec<i64> = snap.visits().unwrap().iter().map(|v| v.start).collect();
        let customs_known: Vec<String> =
            snap.custom_dimensions().iter().map(|c| c.name.clone()).collect();
        let data = lines
            .iter()
            .enumerate()
            .map(|(i, b)| format!("-- batch {i}\n{}", b.join("\n")))
            .collect::<Vec<_>>()
            .join("\n");
        for (groups, bounds) in &segs {
            let mut expect = Expect::Ok;
            let mut unknown = false;
            let seg = Segment {
                groups: groups
                    .iter()
                    .map(|g| OrGroup {
                        conditions: g
                            .iter()
                            .map(|s| {
                                let (c, e) = condition(*s, &starts);
                                if e != Expect::Ok && expect == Expect::Ok {
                                    expect = e;
                                }
                                if matches!(c.name.as_str(), "plan" | "score")
                                    && !customs_known.contains(&c.name)
                                {
                                    unknown = true;
                                }
                                c
                            })
                            .collect(),
                    })
                    .collect(),
            };
            let text = seg.to_string();
            let range = range_of(bounds, &stamps);
            let ctx = format!(
                "seed: {}\nsegment: {text:?}\nrange: {range:?}\nJSON lines (batches in commit order):\n{data}",
                seed()
            );
            match both(&snap, &text, &range) {
                Ok(((keys, sum), (okeys, osum), explain)) => {
                    prop_assert!(
                        expect == Expect::Ok && !unknown,
                        "compiled although {expect:?} (unknown custom: {unknown})\n{ctx}"
                    );
                    prop_assert_eq!(&keys, &okeys, "selected visits (engine, oracle)\n{}", ctx);
                    prop_assert_eq!(sum, osum, "summary (engine, oracle)\n{}", ctx);
                    prop_assert_eq!(explain.selected, okeys.len() as u64, "explain\n{}", ctx);
                }
                Err(err) => {
                    let msg = err.to_string();
                    let documented = unknown && msg.contains("unknown dimension")
                        || expect == Expect::NumberPattern && msg.contains("is a number")
                        || expect == Expect::BadEnum && msg.contains("is not a valid");
                    prop_assert!(documented, "unexpected error {msg}\n{ctx}");
                }
            }
        }
    }
}

// ───────────────────────────── hand-written examples ─────────────────────────────

/// A database holding `lines` (one batch).
fn db_of(lines: &[&str]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let batch: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let db = import(dir.path(), &[batch]);
    (dir, db)
}

/// Visitors selected by `segment`, asserting that engine and oracle agree.
fn visitors_of(db: &Db, segment: &str) -> Vec<String> {
    let snap = db.snapshot();
    let ((keys, sum), (okeys, osum), _) =
        both(&snap, segment, &TimeRange::ALL).unwrap_or_else(|e| panic!("{segment}: {e}"));
    assert_eq!(keys, okeys, "{segment}: selected visits (engine, oracle)");
    assert_eq!(sum, osum, "{segment}: summary (engine, oracle)");
    let mut v: Vec<String> = okeys.into_iter().map(|(id, _)| id).collect();
    v.dedup();
    v
}

fn line(visitor: &str, min: i64, rest: &str) -> String {
    let ts = BASE_MS + min * 60_000;
    if rest.is_empty() {
        format!(r#"{{"ts":{ts},"visitorId":"{visitor}"}}"#)
    } else {
        format!(r#"{{"ts":{ts},"visitorId":"{visitor}",{rest}}}"#)
    }
}

fn db_lines(lines: &[String]) -> (tempfile::TempDir, Db) {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    db_of(&refs)
}

#[test]
fn positive_action_conditions_hold_on_one_row() {
    let (_d, db) = db_lines(&[
        line(
            "split",
            0,
            r#""type":"event","eventCategory":"video","eventAction":"pause""#,
        ),
        line(
            "split",
            1,
            r#""type":"event","eventCategory":"audio","eventAction":"play""#,
        ),
        line(
            "same",
            0,
            r#""type":"event","eventCategory":"video","eventAction":"play""#,
        ),
        line(
            "none",
            0,
            r#""type":"goal","goalId":1,"eventCategory":"video","eventAction":"play""#,
        ),
    ]);
    assert_eq!(
        visitors_of(&db, "eventCategory==video;eventAction==play"),
        ["same"]
    );
    // Across groups too, and one visit-level alternative is enough for its group.
    assert_eq!(
        visitors_of(
            &db,
            "eventCategory==video;eventAction==play,visitorId==split"
        ),
        ["same", "split"]
    );
    // Conversion rows are not action rows.
    assert_eq!(visitors_of(&db, "eventCategory==video"), ["same", "split"]);
}

#[test]
fn negated_action_conditions_mean_no_action_matches() {
    let (_d, db) = db_lines(&[
        line("x", 0, r#""pageUrl":"https://x.org/a""#),
        line("y", 0, r#""pageUrl":"https://x.org/b""#),
        line("xy", 0, r#""pageUrl":"https://x.org/a""#),
        line("xy", 1, r#""pageUrl":"https://x.org/b""#),
        line(
            "conv",
            0,
            r#""type":"goal","goalId":1,"pageUrl":"https://x.org/a""#,
        ),
    ]);
    // A visit without actions has no action matching: it is selected.
    assert_eq!(visitors_of(&db, "pageUrl!=x.org/a"), ["conv", "y"]);
    assert_eq!(visitors_of(&db, "pageUrl!@/A"), ["conv", "y"]);
    assert_eq!(visitors_of(&db, "pageUrl!~/a$"), ["conv", "y"]);
}

#[test]
fn negations_in_one_group_are_each_their_own() {
    let (_d, db) = db_lines(&[
        line("ab", 0, r#""pageTitle":"a""#),
        line("ab", 1, r#""pageTitle":"b""#),
        line("a", 0, r#""pageTitle":"a""#),
        line("none", 0, ""),
    ]);
    assert_eq!(visitors_of(&db, "pageTitle!=a,pageTitle!=b"), ["a", "none"]);
}

#[test]
fn negated_visit_conditions_match_missing_values() {
    let (_d, db) = db_lines(&[
        line("fr", 0, r#""countryCode":"fr""#),
        line("FR", 0, r#""countryCode":"FR""#),
        line("de", 0, r#""countryCode":"de""#),
        line("none", 0, ""),
        line("blank", 0, r#""countryCode":"""#),
    ]);
    assert_eq!(visitors_of(&db, "countryCode!=fr"), ["blank", "de", "none"]);
    assert_eq!(visitors_of(&db, "countryCode==fr"), ["FR", "fr"]);
    assert_eq!(visitors_of(&db, "countryCode!@R"), ["blank", "de", "none"]);
    // Positive operators never match a missing value.
    assert_eq!(visitors_of(&db, "countryCode=@R"), ["FR", "fr"]);
}

#[test]
fn empty_values_mean_no_value_or_an_empty_one() {
    let (_d, db) = db_lines(&[
        line("fr", 0, r#""countryCode":"fr","pageTitle":"t""#),
        line("none", 0, ""),
        line("blank", 0, r#""countryCode":"","pageTitle":"""#),
        line("conv", 0, r#""type":"goal","goalId":1"#),
    ]);
    assert_eq!(visitors_of(&db, "countryCode=="), ["blank", "conv", "none"]);
    assert_eq!(visitors_of(&db, "countryCode!="), ["fr"]);
    // Action level, positive: some action row has no title. A visit without actions
    // has no such row.
    assert_eq!(visitors_of(&db, "pageTitle=="), ["blank", "none"]);
    assert_eq!(visitors_of(&db, "pageTitle!="), ["fr"]);
    assert_eq!(visitors_of(&db, "eventValue=="), ["blank", "fr", "none"]);
}

#[test]
fn conversion_conditions_are_existence_tests() {
    let (_d, db) = db_lines(&[
        line("g12", 0, r#""type":"goal","goalId":1,"revenue":5"#),
        line("g12", 1, r#""type":"goal","goalId":2,"revenue":20"#),
        line("g1", 0, r#""type":"goal","goalId":1,"revenue":30"#),
        line("cart", 0, r#""type":"ecommerceCart","revenue":50"#),
        line("plain", 0, ""),
    ]);
    assert_eq!(visitors_of(&db, "visitConvertedGoalId==2"), ["g12"]);
    assert_eq!(
        visitors_of(&db, "visitConvertedGoalId!=2"),
        ["cart", "g1", "plain"]
    );
    // Existence per condition, not on one row: g12 has a goal 1 and a revenue of 20.
    assert_eq!(
        visitors_of(&db, "visitConvertedGoalId==1;revenue>10"),
        ["g1", "g12"]
    );
    // Cart rows are conversion rows for segments, though not counted as conversions.
    assert_eq!(visitors_of(&db, "revenue>=50"), ["cart"]);
    let s = db.snapshot().query("revenue>=50", &TimeRange::ALL).unwrap();
    assert_eq!((s.conversions, s.revenue), (0, 0.0));
}

#[test]
fn ecommerce_orders_have_goal_id_zero() {
    let (_d, db) = db_lines(&[
        line("order", 0, r#""type":"ecommerceOrder","revenue":10"#),
        line("goal", 0, r#""type":"goal","goalId":1"#),
    ]);
    assert_eq!(visitors_of(&db, "visitConvertedGoalId==0"), ["order"]);
}

#[test]
fn urls_compare_without_scheme_and_www() {
    let (_d, db) = db_lines(&[
        line("https", 0, r#""pageUrl":"https://www.example.com/a""#),
        line("http", 0, r#""pageUrl":"HTTP://example.com/a""#),
        line("bare", 0, r#""pageUrl":"example.com/a""#),
        line("upper", 0, r#""pageUrl":"example.com/A""#),
    ]);
    assert_eq!(
        visitors_of(&db, "pageUrl==example.com/a"),
        ["bare", "http", "https"]
    );
    assert_eq!(
        visitors_of(&db, "pageUrl==https://www.example.com/a"),
        ["bare", "http", "https"]
    );
    assert_eq!(
        visitors_of(&db, "entryPageUrl=^WWW.example.com/a"),
        ["bare", "http", "https", "upper"]
    );
    // Regular expressions see the URL as stored.
    assert_eq!(visitors_of(&db, "pageUrl=~^https"), ["https"]);
}

#[test]
fn case_rules() {
    let (_d, db) = db_lines(&[
        line("cart", 0, r#""pageTitle":"My cart","countryCode":"fr""#),
        line("Cart", 0, r#""pageTitle":"Cart","countryCode":"DE""#),
    ]);
    assert_eq!(visitors_of(&db, "pageTitle=@CART"), ["Cart", "cart"]);
    assert_eq!(
        visitors_of(&db, "pageTitle==cart"),
        Vec::<String>::new().as_slice()
    );
    assert_eq!(visitors_of(&db, "pageTitle==Cart"), ["Cart"]);
    assert_eq!(visitors_of(&db, "countryCode==FR"), ["cart"]);
    assert_eq!(visitors_of(&db, "country==de"), ["Cart"]);
    assert_eq!(visitors_of(&db, "countryCode=~^D"), ["Cart"]);
}

#[test]
fn or_binds_tighter_than_and() {
    let (_d, db) = db_lines(&[
        line("de_c", 0, r#""countryCode":"de","pageTitle":"c""#),
        line("fr_a", 0, r#""countryCode":"fr","pageTitle":"a""#),
        line("de_b", 0, r#""countryCode":"de","pageTitle":"b""#),
    ]);
    assert_eq!(
        visitors_of(&db, "countryCode==de;pageTitle==a,pageTitle==b"),
        ["de_b"]
    );
    assert_eq!(
        visitors_of(&db, "pageTitle==a,pageTitle==b;countryCode==de"),
        ["de_b"]
    );
}

#[test]
fn empty_stored_strings_are_values() {
    let (_d, db) = db_lines(&[
        line("blank", 0, r#""pageTitle":"","countryCode":"""#),
        line("t", 0, r#""pageTitle":"t","countryCode":"t""#),
    ]);
    // "" sorts before every other string.
    assert_eq!(visitors_of(&db, "pageTitle<a"), ["blank"]);
    assert_eq!(visitors_of(&db, "countryCode<a"), ["blank"]);
    assert_eq!(visitors_of(&db, "countryCode=~^$"), ["blank"]);
    assert_eq!(visitors_of(&db, "countryCode!~^$"), ["t"]);
}

#[test]
fn time_ranges_select_by_visit_start() {
    let (_d, db) = db_lines(&[
        line("early", 0, ""),
        line("early", 20, ""),
        line("inside", 10, ""),
        line("late", 30, ""),
    ]);
    let snap = db.snapshot();
    let c = snap.compile("", Dialect::Default).unwrap();
    let range = TimeRange {
        start: Some(BASE_MS + 10 * 60_000),
        end: Some(BASE_MS + 30 * 60_000),
    };
    let engine = scan::selection_keys(&snap, &snap.select(&c, &range).unwrap()).unwrap();
    let oracle = scan::selected(&snap, &c, &range).unwrap();
    assert_eq!(engine, oracle);
    assert_eq!(oracle, [("inside".to_string(), BASE_MS + 10 * 60_000)]);
    let s = scan::summary(&snap, &c, &range).unwrap();
    assert_eq!(
        s,
        snap.summarize(&snap.select(&c, &range).unwrap()).unwrap()
    );
    assert_eq!((s.visits, s.actions, s.bounces), (1, 1, 1));
}

#[test]
fn addresses_and_coordinates_compare_by_value() {
    let (_dir, db) = db_lines(&[
        line("a", 0, r#""ip":"10.0.0.9","latitude":48.8566"#),
        line("b", 0, r#""ip":"10.0.0.10","latitude":-33.9"#),
        line("c", 0, r#""ip":"10.0.1.0","latitude":9"#),
        line("d", 0, r#""ip":"2001:db8::1""#),
        line("e", 0, r#""pageTitle":"no address""#),
    ]);
    // Lexically "10.0.0.10" < "10.0.0.9"; as addresses it is the other way round.
    assert_eq!(
        visitors_of(&db, "visitIp>=10.0.0.0;visitIp<=10.0.0.255"),
        ["a", "b"]
    );
    assert_eq!(visitors_of(&db, "visitIp>10.0.0.9"), ["b", "c"]);
    assert_eq!(visitors_of(&db, "visitIp>=2001:db8::"), ["d"]);
    assert_eq!(visitors_of(&db, "visitIp==10.0.0.9"), ["a"]);
    assert_eq!(visitors_of(&db, "visitIp=^10.0.0."), ["a", "b"]);
    // "9" < "48.8566" as numbers, not as text.
    assert_eq!(visitors_of(&db, "latitude<10"), ["b", "c"]);
    assert_eq!(visitors_of(&db, "latitude==9.0"), ["c"]);
    assert_eq!(visitors_of(&db, "latitude!="), ["a", "b", "c"]);
    assert_eq!(visitors_of(&db, "longitude=="), ["a", "b", "c", "d", "e"]);
    let err = db
        .snapshot()
        .query("visitIp>=10.0.0", &TimeRange::ALL)
        .expect_err("not an address");
    assert!(err.to_string().contains("IPv4 or IPv6 address"), "{err}");
}
