//! The bitmap engine against the scan oracle (SPEC §2.1): on random events imported in
//! random batches, random segments over every kind of dimension and operator select
//! exactly the same visits and give exactly the same summary through
//! `Snapshot::select`/`summarize` as through `exec::scan`, the naive row-by-row
//! evaluator. Hand-written examples pin the tricky rules (same action row, negated
//! action conditions, conversion existence tests, empty values, URL and case rules,
//! OR binding tighter than AND) through both.
//!
//! The proptest seed is fixed and printed; set `SEGMENT_ORACLE_SEED` to explore others
//! and `SEGMENT_ORACLE_CASES` to run more (or fewer) than 96 cases.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::{Map, Value, json};
use sightline::exec::{Explain, scan};
use sightline::lang::{Condition, Op, OrGroup, Segment};
use sightline::{Db, DbOptions, Dialect, Snapshot, Summary, TimeRange};

const BASE_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const DEFAULT_SEED: u64 = 0x5e9_0ac1e;

fn seed() -> u64 {
    std::env::var("SEGMENT_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn config() -> ProptestConfig {
    let seed = seed();
    eprintln!("segment_oracle: proptest seed {seed} (set SEGMENT_ORACLE_SEED to change)");
    let cases = std::env::var("SEGMENT_ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(96);
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // The seed is fixed, so a failure comes back on every run without a file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ───────────────────────────── random events ─────────────────────────────

const KINDS: [&str; 14] = [
    "pageview",
    "pageview",
    "pageview",
    "pageview",
    "event",
    "event",
    "event",
    "download",
    "outlink",
    "siteSearch",
    "goal",
    "goal",
    "ecommerceOrder",
    "ecommerceCart",
];
const URLS: [&str; 6] = [
    "https://www.shop.example/cart",
    "http://shop.example/Cart?x=1",
    "shop.example/",
    "/a,b;c",
    "HTTPS://WWW.Shop.example/cart",
    "www.shop.example/",
];
const TITLES: [&str; 9] = [
    "Home", "home", "Cart", "", "a", "b", "Ärger", "50% off", " a ",
];
const CATEGORIES: [&str; 4] = ["video", "Video", "audio", ""];
const ACTIONS: [&str; 3] = ["play", "pause", "Play"];
const NAMES: [&str; 3] = ["intro", "a,b", "x;y"];
const EVENT_VALUES: [f64; 7] = [0.0, 1.0, 2.5, -3.0, 10.0, 0.1, -0.5];
const REVENUES: [f64; 6] = [0.5, 10.0, 19.99, 100.0, 0.001, 0.000_000_5];
const COUNTRIES: [&str; 4] = ["fr", "FR", "de", ""];
const DEVICES: [&str; 4] = ["desktop", "smartphone", "tablet", "feature phone"];
const REFERRERS: [&str; 4] = ["direct", "search", "website", "social"];
const CITIES: [&str; 3] = ["Paris", "paris", "Berlin"];
const PLANS: [&str; 4] = ["free", "Pro", "pro", ""];
const SCORES: [f64; 5] = [1.0, 2.5, -1.0, 0.0, 3.0];
const VISIT_IDS: [&str; 2] = ["a", "b"];

/// One generated event; `Option<u8>` fields index the alphabets above (modulo).
#[derive(Debug, Clone)]
struct Ev {
    gap_s: u32,
    ms: u16,
    kind: u8,
    batch: u8,
    /// pageUrl, pageTitle.
    page: [Option<u8>; 2],
    /// eventCategory, eventAction, eventName, eventValue.
    event: [Option<u8>; 4],
    /// goalId, revenue.
    conv: [Option<u8>; 2],
    /// countryCode, deviceType, referrerType, city, siteId.
    visit: [Option<u8>; 5],
    /// plan, score.
    custom: [Option<u8>; 2],
    visit_id: Option<u8>,
}

fn opt(p: f64) -> impl Strategy<Value = Option<u8>> {
    proptest::option::weighted(p, any::<u8>())
}

fn ev() -> impl Strategy<Value = Ev> {
    (
        // Seconds since the visitor's previous event: within a visit, around the
        // 30-minute timeout, or hours/days later (a new visit).
        prop_oneof![4 => 0u32..300, 1 => 1700u32..1900, 1 => 3_600u32..200_000],
        0u16..1000,
        0u8..KINDS.len() as u8,
        any::<u8>(),
        (opt(0.7), opt(0.5)),
        (opt(0.6), opt(0.6), opt(0.4), opt(0.5)),
        (opt(0.85), opt(0.7)),
        (opt(0.4), opt(0.3), opt(0.3), opt(0.3), opt(0.15)),
        (opt(0.4), opt(0.4)),
        opt(0.7),
    )
        .prop_map(
            |(gap_s, ms, kind, batch, page, event, conv, visit, custom, visit_id)| Ev {
                gap_s,
                ms,
                kind,
                batch,
                page: [page.0, page.1],
                event: [event.0, event.1, event.2, event.3],
                conv: [conv.0, conv.1],
                visit: [visit.0, visit.1, visit.2, visit.3, visit.4],
                custom: [custom.0, custom.1],
                visit_id,
            },
        )
}

/// A generated visitor: first event (minutes after `BASE_MS`), whether it sends
/// `visitId`, its events.
type Visitor = (u16, bool, Vec<Ev>);

fn visitors() -> impl Strategy<Value = Vec<Visitor>> {
    proptest::collection::vec(
        (
            0u16..4320,
            proptest::bool::weighted(0.25),
            proptest::collection::vec(ev(), 1..=12),
        ),
        1..=6,
    )
}

fn pick<T: Copy>(xs: &[T], i: Option<u8>) -> Option<T> {
    i.map(|i| xs[i as usize % xs.len()])
}

/// JSON lines, batch by batch: `batches` batches; `customs[b]` says whether batch `b`
/// carries `plan` and `score` (so some parts lack a custom column entirely).
fn json_batches(
    visitors: &[Visitor],
    batches: usize,
    customs: &[(bool, bool)],
    shuffle: u64,
) -> (Vec<Vec<String>>, Vec<i64>) {
    let mut out: Vec<Vec<String>> = vec![Vec::new(); batches];
    let mut stamps = Vec::new();
    for (vi, (start_min, uses_visit_id, events)) in visitors.iter().enumerate() {
        let mut ts = BASE_MS + i64::from(*start_min) * 60_000;
        for e in events {
            ts += i64::from(e.gap_s) * 1000 + i64::from(e.ms);
            stamps.push(ts);
            let kind = KINDS[e.kind as usize % KINDS.len()];
            let b = e.batch as usize % batches;
            let mut o = Map::new();
            o.insert("ts".into(), json!(ts));
            o.insert("visitorId".into(), json!(format!("v{vi}")));
            o.insert("type".into(), json!(kind));
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    o.insert(k.into(), v);
                }
            };
            put("pageUrl", pick(&URLS, e.page[0]).map(Value::from));
            put("pageTitle", pick(&TITLES, e.page[1]).map(Value::from));
            put(
                "eventCategory",
                pick(&CATEGORIES, e.event[0]).map(Value::from),
            );
            put("eventAction", pick(&ACTIONS, e.event[1]).map(Value::from));
            put("eventName", pick(&NAMES, e.event[2]).map(Value::from));
            put(
                "eventValue",
                pick(&EVENT_VALUES, e.event[3]).map(Value::from),
            );
            if kind == "goal" {
                put("goalId", e.conv[0].map(|g| json!(1 + g % 3)));
            }
            if matches!(kind, "goal" | "ecommerceOrder" | "ecommerceCart") {
                put("revenue", pick(&REVENUES, e.conv[1]).map(Value::from));
            }
            put("countryCode", pick(&COUNTRIES, e.visit[0]).map(Value::from));
            put("deviceType", pick(&DEVICES, e.visit[1]).map(Value::from));
            put(
                "referrerType",
                pick(&REFERRERS, e.visit[2]).map(Value::from),
            );
            put("city", pick(&CITIES, e.visit[3]).map(Value::from));
            put("siteId", e.visit[4].map(|s| json!(1 + s % 2)));
            let (plan_on, score_on) = customs.get(b).copied().unwrap_or((true, true));
            if plan_on {
                put("plan", pick(&PLANS, e.custom[0]).map(Value::from));
            }
            if score_on {
                put("score", pick(&SCORES, e.custom[1]).map(Value::from));
            }
            if *uses_visit_id {
                put("visitId", pick(&VISIT_IDS, e.visit_id).map(Value::from));
            }
            out[b].push(Value::Object(o).to_string());
        }
    }
    // Rows out of order inside each batch, and batches committed in a scrambled order.
    let mut rng = shuffle;
    let mut next = || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) as usize
    };
    for b in out.iter_mut() {
        for i in (1..b.len()).rev() {
            let j = next() % (i + 1);
            b.swap(i, j);
        }
    }
    for i in (1..out.len()).rev() {
        let j = next() % (i + 1);
        out.swap(i, j);
    }
    stamps.sort_unstable();
    (out, stamps)
}

fn import(dir: &std::path::Path, batches: &[Vec<String>]) -> Db {
    let db = Db::create(dir, DbOptions::default()).unwrap();
    for batch in batches.iter().filter(|b| !b.is_empty()) {
        let mut tx = db.begin_write().unwrap();
        for line in batch {
            tx.append_json(line).unwrap();
        }
        tx.commit().unwrap();
    }
    db
}

// ───────────────────────────── random segments ─────────────────────────────

/// How values for a dimension are drawn.
#[derive(Clone, Copy)]
enum Kind {
    /// Free text, or a URL dimension (same: only the pool differs).
    Text(&'static [&'static str]),
    /// A number: pools of numeric text.
    Number(&'static [&'static str]),
    /// An enum: the valid values, and one invalid spelling.
    Enum(&'static [&'static str], &'static str),
    /// `visitId`: the pool plus visit starts taken from the data.
    VisitId,
}

const COUNTRY_VALUES: &[&str] = &["fr", "FR", "Fr", "de", "DE", "f", "r", "x"];
const CITY_VALUES: &[&str] = &["Paris", "paris", "PARIS", "Par", "is", "Berlin"];
const TITLE_VALUES: &[&str] = &[
    "Home", "home", "HOME", "Cart", "a", "b", "o", "c", "ärger", "ÄRGER", "50%", " a ", "a ",
];
const URL_VALUES: &[&str] = &[
    "shop.example/cart",
    "https://www.shop.example/cart",
    "http://SHOP.example/Cart?x=1",
    "shop.example/Cart?x=1",
    "www.shop.example/",
    "shop.example/",
    "/a,b;c",
    "cart",
    "Cart",
    "shop",
    "x=1",
    "HTTP://www.shop.example/",
    "s",
    "https://",
];
const CATEGORY_VALUES: &[&str] = &["video", "Video", "VIDEO", "audio", "vid", "eo"];
const ACTION_VALUES: &[&str] = &["play", "Play", "pause", "pa", "ay"];
const NAME_VALUES: &[&str] = &["intro", "a,b", "x;y", "a", ",", "INTRO"];
const PLAN_VALUES: &[&str] = &["free", "Pro", "pro", "PRO", "fr", "o"];
const VISITOR_VALUES: &[&str] = &["v0", "v1", "V1", "v", "1", "v5"];
const NONE_VALUES: &[&str] = &["x", "IDF"];

const COUNT_VALUES: &[&str] = &["0", "1", "2", "3", "1.5"];
const ACTIONS_VALUES: &[&str] = &["0", "1", "2", "3", "5"];
const DURATION_VALUES: &[&str] = &["0", "1", "60", "299", "1000"];
const BOOL_VALUES: &[&str] = &["0", "1"];
const HOUR_VALUES: &[&str] = &["0", "1", "2", "12", "23"];
const DAY_VALUES: &[&str] = &["0", "1", "2"];
const SITE_VALUES: &[&str] = &["1", "2", "3"];
const EVENT_VALUE_VALUES: &[&str] = &["0", "1", "2.5", "-3", "10", "0.1", "-0.5", "1e1", "-0"];
const SCORE_VALUES: &[&str] = &["1", "2.5", "-1", "0", "3"];
const GOAL_VALUES: &[&str] = &["0", "1", "2", "3", "-1"];
const REVENUE_VALUES: &[&str] = &["0.5", "10", "19.99", "100", "0.001", "0", "5e-7"];

const VISITOR_TYPE_VALUES: &[&str] = &["new", "returning", "returningCustomer"];
const ECOMMERCE_VALUES: &[&str] = &[
    "none",
    "ordered",
    "abandonedCart",
    "orderedThenAbandonedCart",
];
const DEVICE_VALUES: &[&str] = &["desktop", "smartphone", "tablet", "feature phone", "tv"];
const REFERRER_VALUES: &[&str] = &["direct", "search", "website", "campaign", "social"];
const ACTION_TYPE_VALUES: &[&str] = &[
    "pageviews",
    "outlinks",
    "downloads",
    "sitesearches",
    "events",
];

const DIMS: &[(&str, Kind)] = &[
    ("countryCode", Kind::Text(COUNTRY_VALUES)),
    ("country", Kind::Text(COUNTRY_VALUES)),
    ("city", Kind::Text(CITY_VALUES)),
    ("regionCode", Kind::Text(NONE_VALUES)),
    ("referrerName", Kind::Text(NONE_VALUES)),
    ("entryPageTitle", Kind::Text(TITLE_VALUES)),
    ("exitPageTitle", Kind::Text(TITLE_VALUES)),
    ("entryPageUrl", Kind::Text(URL_VALUES)),
    ("exitPageUrl", Kind::Text(URL_VALUES)),
    ("visitorId", Kind::Text(VISITOR_VALUES)),
    ("visitId", Kind::VisitId),
    ("visitCount", Kind::Number(COUNT_VALUES)),
    ("visits", Kind::Number(COUNT_VALUES)),
    ("actions", Kind::Number(ACTIONS_VALUES)),
    ("visitDuration", Kind::Number(DURATION_VALUES)),
    ("visitConverted", Kind::Number(BOOL_VALUES)),
    ("visitServerHour", Kind::Number(HOUR_VALUES)),
    ("visitStartServerHour", Kind::Number(HOUR_VALUES)),
    ("daysSinceFirstVisit", Kind::Number(DAY_VALUES)),
    ("daysSinceLastVisit", Kind::Number(DAY_VALUES)),
    ("siteId", Kind::Number(SITE_VALUES)),
    (
        "visitorType",
        Kind::Enum(VISITOR_TYPE_VALUES, "returningcustomer"),
    ),
    (
        "visitEcommerceStatus",
        Kind::Enum(ECOMMERCE_VALUES, "Ordered"),
    ),
    ("deviceType", Kind::Enum(DEVICE_VALUES, "phone")),
    ("referrerType", Kind::Enum(REFERRER_VALUES, "Direct")),
    ("pageUrl", Kind::Text(URL_VALUES)),
    ("pageUrl", Kind::Text(URL_VALUES)),
    ("pageTitle", Kind::Text(TITLE_VALUES)),
    ("pageTitle", Kind::Text(TITLE_VALUES)),
    ("eventCategory", Kind::Text(CATEGORY_VALUES)),
    ("eventCategory", Kind::Text(CATEGORY_VALUES)),
    ("eventAction", Kind::Text(ACTION_VALUES)),
    ("eventAction", Kind::Text(ACTION_VALUES)),
    ("eventName", Kind::Text(NAME_VALUES)),
    ("actionType", Kind::Enum(ACTION_TYPE_VALUES, "goals")),
    ("eventValue", Kind::Number(EVENT_VALUE_VALUES)),
    ("plan", Kind::Text(PLAN_VALUES)),
    ("score", Kind::Number(SCORE_VALUES)),
    ("visitConvertedGoalId", Kind::Number(GOAL_VALUES)),
    ("revenue", Kind::Number(REVENUE_VALUES)),
];

const REGEXES: &[&str] = &[
    "^https?://",
    "cart",
    "(?i)cart",
    "^$",
    "^fr$",
    "^F",
    "a|b",
    "^[0-9]+$",
    ".",
    "^v1$",
    "Pro",
    "x=1$",
    "^www",
    "o",
    "^a*$",
    "(?i)^video$",
];

const VALUE_OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];

/// A condition as drawn: indices into `DIMS`, an operator choice, a value choice.
type CondSpec = (u8, u8, u8, u8);

/// A time-range bound as drawn: an index into the data's timestamps, plus 1 ms or not.
type BoundSpec = Option<(u8, bool)>;
/// A segment as drawn (AND of ORs of conditions) with its time range.
type SegSpec = (Vec<Vec<CondSpec>>, (BoundSpec, BoundSpec));

fn segments() -> impl Strategy<Value = Vec<SegSpec>> {
    let cond = (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>());
    let seg = prop_oneof![
        1 => Just(Vec::new()),
        12 => proptest::collection::vec(proptest::collection::vec(cond, 1..=3), 1..=3),
    ];
    let bound = proptest::option::weighted(0.3, (any::<u8>(), any::<bool>()));
    proptest::collection::vec((seg, (bound.clone(), bound)), 8)
}

/// What compiling a drawn condition must give.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Ok,
    /// A pattern or regex operator on a number.
    NumberPattern,
    /// An enum value outside the list.
    BadEnum,
}

/// The condition a spec stands for, and whether it must compile.
fn condition(spec: CondSpec, starts: &[i64]) -> (Condition, Expect) {
    let (d, o, v, e) = spec;
    let (name, kind) = DIMS[d as usize % DIMS.len()];
    let any_op = Op::ALL[o as usize % Op::ALL.len()];
    let mut expect = Expect::Ok;
    let op = match kind {
        // Mostly value operators on numbers; now and then a (rejected) pattern.
        Kind::Number(_) if e % 16 != 0 => VALUE_OPS[o as usize % VALUE_OPS.len()],
        _ => any_op,
    };
    let value: String = if matches!(op, Op::Eq | Op::Ne) && e % 5 == 0 {
        String::new()
    } else if matches!(op, Op::Matches | Op::NotMatches) {
        REGEXES[v as usize % REGEXES.len()].to_string()
    } else {
        match kind {
            Kind::Text(pool) | Kind::Number(pool) => pool[v as usize % pool.len()].to_string(),
            Kind::Enum(pool, bad) => {
                if v % 8 == 0 {
                    bad.to_string()
                } else {
                    pool[v as usize % pool.len()].to_string()
                }
            }
            Kind::VisitId => {
                let pool = ["a", "b", "A"];
                match (v as usize) % 5 {
                    i @ 0..=2 => pool[i].to_string(),
                    _ if !starts.is_empty() => starts[(e as usize) % starts.len()].to_string(),
                    _ => "0".to_string(),
                }
            }
        }
    };
    match kind {
        Kind::Number(_)
            if !value.is_empty()
                && matches!(
                    op,
                    Op::Contains
                        | Op::NotContains
                        | Op::StartsWith
                        | Op::EndsWith
                        | Op::Matches
                        | Op::NotMatches
                ) =>
        {
            expect = Expect::NumberPattern
        }
        Kind::Enum(pool, _)
            if matches!(op, Op::Eq | Op::Ne) && !value.is_empty() && !pool.contains(&&*value) =>
        {
            expect = Expect::BadEnum
        }
        _ => {}
    }
    let c = Condition {
        name: name.to_string(),
        op,
        value,
        name_span: 0..0,
        value_span: 0..0,
    };
    (c, expect)
}

fn range_of(bounds: &(BoundSpec, BoundSpec), stamps: &[i64]) -> TimeRange {
    let at = |b: &BoundSpec| {
        b.and_then(|(i, plus)| {
            let ts = *stamps.get(i as usize % stamps.len().max(1))?;
            Some(ts + i64::from(plus))
        })
    };
    TimeRange {
        start: at(&bounds.0),
        end: at(&bounds.1),
    }
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
    let oracle = (
        scan::selected(snap, &c, range)?,
        scan::summary(snap, &c, range)?,
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
