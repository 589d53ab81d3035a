//! The analyses of `docs/analytics.md` through the bitmap engine against the scan
//! oracle: reports, funnels, cohorts and visitor profiles computed by
//! `Snapshot::report/funnel/cohorts/visitor` (over `Snapshot::select`) must equal,
//! whole result against whole result, what `exec::scan::{report, funnel, cohorts,
//! visitor}` compute naively from the visits read back.
//!
//! The random data is `segment_oracle`'s, with rows at equal timestamps and visits weeks
//! apart mixed in (`tied_ev`); segments and funnel steps draw on `segment_oracle`'s
//! condition generator. Hand-computed examples pin the rules with literal numbers
//! through both sides: the shortest chain that a greedy walk misses, equal timestamps,
//! the inclusive window, one row never counting for two steps, report `null` rows,
//! case folding and the `others` row, action- and conversion-level hits, cohort
//! membership and weeks starting on Monday, and the empty cases.
//!
//! The proptest seed is fixed and printed; set `ANALYTICS_ORACLE_SEED` to explore others
//! and `ANALYTICS_ORACLE_CASES` to run more (or fewer) cases per suite than the default.

#[path = "common/random_events.rs"]
mod random_events;
#[path = "common/random_segments.rs"]
mod random_segments;
#[path = "common/seeded.rs"]
mod seeded;

use proptest::prelude::*;
use random_events::{BASE_MS, Visitor, import, json_batches, spread_visitors};
use random_segments::{BoundSpec, CondSpec, Expect, condition, range_of};
use sightline::Level;
use sightline::testing::scan;
use sightline::{
    Cohort, CohortOptions, Cohorts, Funnel, FunnelOptions, FunnelScope, FunnelStep,
    MAX_FUNNEL_STEPS, Period, Report, ReportOptions, ReportRow, ReportValue,
};
use sightline::{CompiledSegment, Db, Dialect, ErrorKind, Snapshot, Summary, TimeRange};
use sightline::{OrGroup, Segment};

const DEFAULT_SEED: u64 = 0xa7a1_7105;

fn seed() -> u64 {
    seeded::env_or("ANALYTICS_ORACLE_SEED", DEFAULT_SEED)
}

/// The suites' configuration: `default_cases` cases unless `ANALYTICS_ORACLE_CASES`
/// says otherwise (the defaults keep the whole file to seconds in the dev profile).
fn config(default_cases: u32) -> ProptestConfig {
    seeded::oracle_databases("analytics_oracle");
    seeded::config(
        "analytics_oracle",
        "ANALYTICS_ORACLE_SEED",
        seed(),
        seeded::env_or("ANALYTICS_ORACLE_CASES", default_cases),
    )
}

// ───────────────────────────── random data ─────────────────────────────

/// A database of random events, and what failure messages and queries need of it.
struct Data {
    _dir: tempfile::TempDir,
    db: Db,
    /// The JSON lines, batch by batch, for failure messages.
    text: String,
    /// Every event timestamp, sorted.
    stamps: Vec<i64>,
    /// Every visit start.
    starts: Vec<i64>,
    /// Custom dimensions the database knows.
    customs: Vec<String>,
    /// Visitor ids of the data.
    visitors: Vec<String>,
}

/// The strategy of the data part of every case: visitors, batch count, which batches
/// carry the custom dimensions, the shuffle.
type DataSpec = (Vec<Visitor>, usize, Vec<(bool, bool)>, u64);

fn data_spec() -> impl Strategy<Value = DataSpec> {
    (
        spread_visitors(),
        1usize..=3,
        proptest::collection::vec(
            (
                proptest::bool::weighted(0.75),
                proptest::bool::weighted(0.75),
            ),
            3,
        ),
        any::<u64>(),
    )
}

fn data((visitors, batches, customs, shuffle): &DataSpec) -> Data {
    let (lines, stamps) = json_batches(visitors, *batches, customs, *shuffle);
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), &lines);
    let snap = db.snapshot();
    let starts = snap.visits().unwrap().iter().map(|v| v.start).collect();
    let customs = snap
        .custom_dimensions()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let text = lines
        .iter()
        .enumerate()
        .map(|(i, b)| format!("-- batch {i}\n{}", b.join("\n")))
        .collect::<Vec<_>>()
        .join("\n");
    Data {
        _dir: dir,
        db,
        text,
        stamps,
        starts,
        customs,
        visitors: (0..visitors.len()).map(|i| format!("v{i}")).collect(),
    }
}

/// A drawn segment (AND of ORs of conditions) and time range.
type SegSpec = (Vec<Vec<CondSpec>>, (BoundSpec, BoundSpec));

fn seg_spec() -> impl Strategy<Value = SegSpec> {
    let cond = (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>());
    let seg = prop_oneof![
        3 => Just(Vec::new()),
        2 => proptest::collection::vec(proptest::collection::vec(cond, 1..=2), 1..=2),
    ];
    let bound = proptest::option::weighted(0.25, (any::<u8>(), any::<bool>()));
    (seg, (bound.clone(), bound))
}

impl Data {
    fn snap(&self) -> Snapshot {
        self.db.snapshot()
    }

    /// The condition text of a drawn spec, or `None` when it must not compile (a pattern
    /// on a number, an invalid enum value, a custom dimension this data lacks).
    fn condition(&self, spec: CondSpec) -> Option<String> {
        let (c, expect) = condition(spec, &self.starts);
        let unknown =
            matches!(c.name.as_str(), "plan" | "score") && !self.customs.contains(&c.name);
        (expect == Expect::Ok && !unknown).then(|| c.to_string())
    }

    /// The segment text of drawn groups, leaving out conditions that must not compile.
    fn segment_text(&self, groups: &[Vec<CondSpec>]) -> String {
        let seg = Segment {
            groups: groups
                .iter()
                .map(|g| OrGroup {
                    conditions: g
                        .iter()
                        .filter(|s| self.condition(**s).is_some())
                        .map(|s| condition(*s, &self.starts).0)
                        .collect(),
                })
                .filter(|g| !g.conditions.is_empty())
                .collect(),
        };
        seg.to_string()
    }

    fn compile(&self, text: &str) -> CompiledSegment {
        self.snap()
            .compile(text, Dialect::Default)
            .unwrap_or_else(|e| panic!("{text:?} must compile: {e}\n{}", self.text))
    }

    fn selection(&self, (groups, bounds): &SegSpec) -> (String, CompiledSegment, TimeRange) {
        let text = self.segment_text(groups);
        let seg = self.compile(&text);
        (text, seg, range_of(bounds, &self.stamps))
    }
}

// ───────────────────────────── reports ─────────────────────────────

const LIMITS: [Option<usize>; 6] = [None, None, Some(0), Some(1), Some(2), Some(5)];

/// Names asked for besides the catalog's: aliases, the custom dimensions (unknown when
/// the data lacks them) and a name nobody knows.
const EXTRA_NAMES: [&str; 5] = ["country", "visits", "plan", "score", "nope"];

fn engine_report(
    snap: &Snapshot,
    seg: &CompiledSegment,
    range: &TimeRange,
    by: &str,
    options: &ReportOptions,
) -> sightline::Result<Report> {
    let sel = snap.select(seg, range)?;
    snap.report(by, &sel, options)
}

proptest! {
    #![proptest_config(config(128))]

    /// Every dimension of the catalog (every level, derived ones, ids, custom ones),
    /// aliases and an unknown name, each with a random segment, range and limit.
    #[test]
    fn reports_agree_with_the_scan_oracle(
        spec in data_spec(),
        queries in proptest::collection::vec((seg_spec(), 0..LIMITS.len()), 8),
    ) {
        let d = data(&spec);
        let snap = d.snap();
        let mut names: Vec<String> =
            snap.catalog().dimensions().iter().map(|dim| dim.name.clone()).collect();
        names.extend(EXTRA_NAMES.iter().map(|s| s.to_string()));
        for (i, by) in names.iter().enumerate() {
            let (seg_spec, limit) = &queries[i % queries.len()];
            let (text, seg, range) = d.selection(seg_spec);
            let options = ReportOptions { limit: LIMITS[*limit] };
            let engine = engine_report(&snap, &seg, &range, by, &options);
            let oracle = scan::report(&snap, &seg, &range, by, &options);
            let ctx = || format!(
                "seed {}\nreport --by {by:?} --segment {text:?} range {range:?} {options:?}\n\
                 JSON lines (batches in commit order):\n{}",
                seed(), d.text
            );
            match (engine, oracle) {
                (Ok(e), Ok(o)) => prop_assert_eq!(e, o, "report (engine, oracle)\n{}", ctx()),
                (Err(e), Err(o)) => {
                    prop_assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}\n{}", e, ctx());
                    prop_assert_eq!(o.kind(), ErrorKind::InvalidInput, "{}\n{}", o, ctx());
                    prop_assert!(e.to_string().contains(by.as_str()), "{}\n{}", e, ctx());
                    prop_assert!(snap.catalog().get(by).is_none(), "{}\n{}", e, ctx());
                }
                (e, o) => prop_assert!(false, "engine {e:?}\noracle {o:?}\n{}", ctx()),
            }
        }
    }
}

// ───────────────────────────── funnels ─────────────────────────────

/// Step conditions that often match the random data, mixed with random ones: action,
/// conversion and visit levels, negations, empty values.
const STEP_POOL: &[&str] = &[
    "actionType==pageviews",
    "actionType==events",
    "actionType!=pageviews",
    "pageTitle==Home",
    "pageTitle!=Home",
    "pageTitle==",
    "pageTitle!=",
    "pageUrl=@cart",
    "pageUrl!@cart",
    "pageUrl==shop.example/",
    "eventCategory==video",
    "eventAction!=play",
    "eventValue>=0",
    "visitConvertedGoalId==1",
    "visitConvertedGoalId>=0",
    "visitConvertedGoalId!=2",
    "revenue>1",
    "revenue==",
    "deviceType==desktop",
    "countryCode==fr",
    "countryCode!=fr",
    "visitCount==1",
    "visitorType==returning",
    "plan==pro",
    "score>0",
];

/// One drawn step condition: from [`STEP_POOL`] (true) or the random generator.
type StepCond = (bool, CondSpec);
/// A drawn step: whether it repeats the previous step, and its groups.
type StepSpec = (u8, Vec<Vec<StepCond>>);

fn step_spec() -> impl Strategy<Value = StepSpec> {
    let cond = (
        proptest::bool::weighted(0.7),
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
    );
    let groups = prop_oneof![
        1 => Just(Vec::new()),
        5 => proptest::collection::vec(proptest::collection::vec(cond, 1..=2), 1..=1),
        2 => proptest::collection::vec(proptest::collection::vec(cond, 1..=2), 2..=2),
    ];
    (any::<u8>(), groups)
}

const WINDOWS: [Option<i64>; 10] = [
    None,
    None,
    Some(0),
    Some(1),
    Some(999),
    Some(60_000),
    Some(1_800_000),
    Some(86_400_000),
    Some(7 * 86_400_000),
    Some(60 * 86_400_000),
];

/// A drawn funnel: steps, visitor scope or not, window, segment.
type FunnelSpec = (Vec<StepSpec>, bool, usize, SegSpec);

fn funnel_spec() -> impl Strategy<Value = FunnelSpec> {
    (
        proptest::collection::vec(step_spec(), 1..=5),
        any::<bool>(),
        0..WINDOWS.len(),
        seg_spec(),
    )
}

impl Data {
    fn step_text(&self, groups: &[Vec<StepCond>]) -> String {
        let pool = |i: u8| {
            let c = STEP_POOL[i as usize % STEP_POOL.len()];
            let custom = c.starts_with("plan") || c.starts_with("score");
            let name = c.split(['=', '!', '>']).next().unwrap_or("");
            (!custom || self.customs.iter().any(|n| n == name)).then(|| c.to_string())
        };
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .filter_map(|(from_pool, spec)| {
                        if *from_pool {
                            pool(spec.0)
                        } else {
                            self.condition(*spec)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|g| !g.is_empty())
            .collect::<Vec<_>>()
            .join(";")
    }
}

fn engine_funnel(
    snap: &Snapshot,
    steps: &[CompiledSegment],
    seg: &CompiledSegment,
    range: &TimeRange,
    options: &FunnelOptions,
) -> sightline::Result<Funnel> {
    let sel = snap.select(seg, range)?;
    snap.funnel(steps, &sel, options)
}

proptest! {
    #![proptest_config(config(192))]

    /// 1 to 5 steps (some repeated, some empty), both scopes, windows from none to
    /// 60 days, random segments and ranges.
    #[test]
    fn funnels_agree_with_the_scan_oracle(
        spec in data_spec(),
        funnels in proptest::collection::vec(funnel_spec(), 8),
    ) {
        let d = data(&spec);
        let snap = d.snap();
        for (steps, visitor_scope, window, seg_spec) in &funnels {
            let mut texts: Vec<String> = Vec::new();
            for (repeat, groups) in steps {
                let text = match texts.last() {
                    Some(prev) if repeat % 4 == 0 => prev.clone(),
                    _ => d.step_text(groups),
                };
                texts.push(text);
            }
            let compiled: Vec<CompiledSegment> = texts.iter().map(|t| d.compile(t)).collect();
            let (text, seg, range) = d.selection(seg_spec);
            let options = FunnelOptions {
                scope: if *visitor_scope { FunnelScope::Visitor } else { FunnelScope::Visit },
                window_ms: WINDOWS[*window],
            };
            let engine = engine_funnel(&snap, &compiled, &seg, &range, &options);
            let oracle = scan::funnel(&snap, &compiled, &seg, &range, &options);
            let ctx = || format!(
                "seed {}\nfunnel --step {texts:?} --segment {text:?} range {range:?} {options:?}\n\
                 JSON lines (batches in commit order):\n{}",
                seed(), d.text
            );
            match (engine, oracle) {
                (Ok(e), Ok(o)) => prop_assert_eq!(e, o, "funnel (engine, oracle)\n{}", ctx()),
                (e, o) => prop_assert!(false, "engine {e:?}\noracle {o:?}\n{}", ctx()),
            }
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Units whose rows mostly share timestamps and match several steps at once: the
    /// engine's matching of tied rows to steps against the oracle's enumeration.
    #[test]
    fn funnels_with_many_ties_agree(
        visitors in proptest::collection::vec(
            proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..=10),
            1..=5,
        ),
        funnels in proptest::collection::vec(
            (
                proptest::collection::vec(0..TIE_STEPS.len(), 1..=5),
                any::<bool>(),
                proptest::option::of(prop_oneof![Just(0i64), Just(1), Just(1000), Just(3_600_000)]),
            ),
            6,
        ),
    ) {
        let lines = tie_lines(&visitors);
        let dir = tempfile::tempdir().unwrap();
        let db = import(dir.path(), std::slice::from_ref(&lines));
        let snap = db.snapshot();
        let all = compile(&snap, "");
        for (steps, visitor_scope, window_ms) in &funnels {
            let texts: Vec<&str> = steps.iter().map(|&i| TIE_STEPS[i]).collect();
            let compiled: Vec<CompiledSegment> = texts.iter().map(|t| compile(&snap, t)).collect();
            let options = FunnelOptions {
                scope: if *visitor_scope { FunnelScope::Visitor } else { FunnelScope::Visit },
                window_ms: *window_ms,
            };
            let engine = engine_funnel(&snap, &compiled, &all, &TimeRange::ALL, &options);
            let oracle = scan::funnel(&snap, &compiled, &all, &TimeRange::ALL, &options);
            let ctx = || format!(
                "seed {}\nfunnel --step {texts:?} {options:?}\nJSON lines:\n{}",
                seed(), lines.join("\n")
            );
            match (engine, oracle) {
                (Ok(e), Ok(o)) => prop_assert_eq!(e, o, "funnel (engine, oracle)\n{}", ctx()),
                (e, o) => prop_assert!(false, "engine {e:?}\noracle {o:?}\n{}", ctx()),
            }
        }
    }
}

/// A dense funnel row as drawn: time step (0: same ms), title, kind.
type TieRow = (u8, u8, u8);

/// Steps for [`funnels_with_many_ties_agree`]: few distinct values, so that many rows
/// match several steps and many share a timestamp.
const TIE_STEPS: &[&str] = &[
    "pageTitle==a",
    "pageTitle==a",
    "pageTitle==b",
    "pageTitle==b",
    "pageTitle==c",
    "pageTitle!=a",
    "pageTitle==a,pageTitle==b",
    "actionType==pageviews",
    "visitConvertedGoalId==1",
    "visitConvertedGoalId>=1",
    "",
];

/// JSON lines of visitors whose rows mostly share timestamps: within a visitor each row
/// comes 0 ms (half the time), 1 ms, 1 s or 40 minutes (a new visit) after the previous.
fn tie_lines(visitors: &[Vec<TieRow>]) -> Vec<String> {
    let mut out = Vec::new();
    for (vi, rows) in visitors.iter().enumerate() {
        let mut ts = BASE_MS + vi as i64 * 1000;
        for (dt, title, kind) in rows {
            ts += match dt % 8 {
                0..=3 => 0,
                4 => 1,
                5 | 6 => 1000,
                _ => 2_400_000,
            };
            let title = ["a", "b", "c"].get(*title as usize % 4);
            let mut line = format!(r#"{{"ts":{ts},"visitorId":"t{vi}""#);
            match kind % 6 {
                0 => line.push_str(r#","type":"goal","goalId":1"#),
                1 => line.push_str(r#","type":"goal","goalId":2"#),
                2 => line.push_str(r#","type":"event""#),
                _ => {}
            }
            if let Some(t) = title {
                line.push_str(&format!(r#","pageTitle":"{t}""#));
            }
            line.push('}');
            out.push(line);
        }
    }
    out
}

// ───────────────────────────── cohorts ─────────────────────────────

const PERIODS: [Period; 3] = [Period::Day, Period::Week, Period::Month];

/// A drawn cohort query: period, number of periods, end (a data timestamp, maybe plus
/// one ms, or 40 days after it), segment.
type CohortSpec = (usize, usize, Option<(u8, u8)>, SegSpec);

fn cohort_spec() -> impl Strategy<Value = CohortSpec> {
    (
        0..PERIODS.len(),
        1usize..=15,
        proptest::option::weighted(0.5, (any::<u8>(), 0u8..4)),
        seg_spec(),
    )
}

fn engine_cohorts(
    snap: &Snapshot,
    seg: &CompiledSegment,
    range: &TimeRange,
    options: &CohortOptions,
) -> sightline::Result<Cohorts> {
    let sel = snap.select(seg, range)?;
    snap.cohorts(&sel, options)
}

proptest! {
    #![proptest_config(config(192))]

    /// All three periods, 1 to 15 periods, ends inside and after the data, random
    /// segments and ranges.
    #[test]
    fn cohorts_agree_with_the_scan_oracle(
        spec in data_spec(),
        queries in proptest::collection::vec(cohort_spec(), 8),
    ) {
        let d = data(&spec);
        let snap = d.snap();
        for (period, periods, end, seg_spec) in &queries {
            let (text, seg, range) = d.selection(seg_spec);
            let end_ms = end.map(|(i, how)| {
                let ts = d.stamps[i as usize % d.stamps.len()];
                match how {
                    0 => ts - 1,
                    1 => ts,
                    2 => ts + 1,
                    _ => ts + 40 * 86_400_000,
                }
            });
            let options = CohortOptions { period: PERIODS[*period], periods: *periods, end_ms };
            let engine = engine_cohorts(&snap, &seg, &range, &options);
            let oracle = scan::cohorts(&snap, &seg, &range, &options);
            let ctx = || format!(
                "seed {}\ncohorts --segment {text:?} range {range:?} {options:?}\n\
                 JSON lines (batches in commit order):\n{}",
                seed(), d.text
            );
            match (engine, oracle) {
                (Ok(e), Ok(o)) => prop_assert_eq!(e, o, "cohorts (engine, oracle)\n{}", ctx()),
                (e, o) => prop_assert!(false, "engine {e:?}\noracle {o:?}\n{}", ctx()),
            }
        }
    }

    /// Every visitor of the data, and ids nobody has.
    #[test]
    fn profiles_agree_with_the_scan_oracle(spec in data_spec()) {
        let d = data(&spec);
        let snap = d.snap();
        let mut ids = d.visitors.clone();
        ids.extend(["V0", "nobody", ""].map(String::from));
        for id in &ids {
            let engine = snap.visitor(id);
            let oracle = scan::visitor(&snap, id);
            let ctx = || format!(
                "seed {}\nvisitor {id:?}\nJSON lines (batches in commit order):\n{}",
                seed(), d.text
            );
            match (engine, oracle) {
                (Ok(e), Ok(o)) => {
                    prop_assert_eq!(o.is_some(), d.visitors.contains(id), "{}", ctx());
                    prop_assert_eq!(e, o, "profile (engine, oracle)\n{}", ctx());
                }
                (e, o) => prop_assert!(false, "engine {e:?}\noracle {o:?}\n{}", ctx()),
            }
        }
    }
}

// ───────────────────────────── hand-computed examples ─────────────────────────────

/// A JSON line of `visitor` at `BASE_MS + ms`, with more fields.
fn at(visitor: &str, ms: i64, rest: &str) -> String {
    let ts = BASE_MS + ms;
    if rest.is_empty() {
        format!(r#"{{"ts":{ts},"visitorId":"{visitor}"}}"#)
    } else {
        format!(r#"{{"ts":{ts},"visitorId":"{visitor}",{rest}}}"#)
    }
}

/// A JSON line of `visitor` at an RFC 3339 instant.
fn on(visitor: &str, instant: &str, rest: &str) -> String {
    if rest.is_empty() {
        format!(r#"{{"ts":"{instant}","visitorId":"{visitor}"}}"#)
    } else {
        format!(r#"{{"ts":"{instant}","visitorId":"{visitor}",{rest}}}"#)
    }
}

/// Unix ms of an RFC 3339 instant.
fn ms(instant: &str) -> i64 {
    instant.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn date(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

/// A database holding `lines` (one batch; none: an empty database).
fn db_of(lines: &[String]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), &[lines.to_vec()]);
    (dir, db)
}

fn compile(snap: &Snapshot, text: &str) -> CompiledSegment {
    snap.compile(text, Dialect::Default)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The report, asserting that engine and oracle agree.
fn report(db: &Db, by: &str, segment: &str, range: TimeRange, limit: Option<usize>) -> Report {
    let snap = db.snapshot();
    let seg = compile(&snap, segment);
    let options = ReportOptions { limit };
    let oracle = scan::report(&snap, &seg, &range, by, &options)
        .unwrap_or_else(|e| panic!("oracle report by {by}: {e}"));
    let engine = engine_report(&snap, &seg, &range, by, &options);
    assert_eq!(
        engine.as_ref().ok(),
        Some(&oracle),
        "report by {by} --segment {segment:?} {options:?}: engine {engine:?}"
    );
    oracle
}

/// The funnel, asserting that engine and oracle agree.
fn funnel(db: &Db, steps: &[&str], segment: &str, options: FunnelOptions) -> Funnel {
    let snap = db.snapshot();
    let steps: Vec<CompiledSegment> = steps.iter().map(|s| compile(&snap, s)).collect();
    let seg = compile(&snap, segment);
    let oracle = scan::funnel(&snap, &steps, &seg, &TimeRange::ALL, &options)
        .unwrap_or_else(|e| panic!("oracle funnel: {e}"));
    let engine = engine_funnel(&snap, &steps, &seg, &TimeRange::ALL, &options);
    assert_eq!(
        engine.as_ref().ok(),
        Some(&oracle),
        "funnel {:?} --segment {segment:?} {options:?}: engine {engine:?}",
        steps
            .iter()
            .map(|s| s.segment().to_string())
            .collect::<Vec<_>>()
    );
    oracle
}

/// The cohorts, asserting that engine and oracle agree.
fn cohorts(db: &Db, segment: &str, range: TimeRange, options: CohortOptions) -> Vec<Cohort> {
    let snap = db.snapshot();
    let seg = compile(&snap, segment);
    let oracle = scan::cohorts(&snap, &seg, &range, &options)
        .unwrap_or_else(|e| panic!("oracle cohorts: {e}"));
    let engine = engine_cohorts(&snap, &seg, &range, &options);
    assert_eq!(
        engine.as_ref().ok(),
        Some(&oracle),
        "cohorts --segment {segment:?} {range:?} {options:?}: engine {engine:?}"
    );
    assert_eq!(oracle.period, options.period);
    oracle.cohorts
}

fn row(value: ReportValue, counts: [u64; 4], revenue: f64, hits: Option<u64>) -> ReportRow {
    ReportRow {
        value,
        visits: counts[0],
        visitors: counts[1],
        actions: counts[2],
        conversions: counts[3],
        revenue,
        hits,
        others: None,
    }
}

fn text(s: &str) -> ReportValue {
    ReportValue::Text(s.to_string())
}

/// Step `n` of a funnel whose first step has `first` units and whose previous step has
/// `previous`.
fn step(
    n: usize,
    def: &str,
    count: u64,
    first: u64,
    previous: u64,
    median: Option<f64>,
) -> FunnelStep {
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let drop_off = if n == 1 { 0 } else { previous - count };
    FunnelStep {
        step: n,
        definition: def.to_string(),
        count,
        rate: ratio(count, first),
        drop_off,
        drop_off_rate: if n == 1 {
            0.0
        } else {
            ratio(drop_off, previous)
        },
        median_time_ms: median,
    }
}

fn cohort(start: &str, size: u64, retained: &[u64]) -> Cohort {
    Cohort {
        start: date(start),
        size,
        retained: retained.to_vec(),
    }
}

fn weeks(periods: usize) -> CohortOptions {
    CohortOptions {
        period: Period::Week,
        periods,
        end_ms: None,
    }
}

#[test]
fn the_shortest_chain_is_not_the_greedy_one() {
    let (_d, db) = db_of(&[
        at("a", 0, r#""pageUrl":"/a""#),
        at("a", 10, r#""pageUrl":"/a""#),
        at("a", 20, r#""pageUrl":"/b""#),
        at("b", 0, r#""pageUrl":"/a""#),
        at("b", 5, r#""pageUrl":"/b""#),
        at("c", 0, r#""pageUrl":"/a""#),
        at("c", 30, r#""pageUrl":"/b""#),
    ]);
    // Shortest times 10, 5, 30 (a greedy walk from the first /a gives a 20, median 20).
    let expected = |scope, window_ms| Funnel {
        scope,
        window_ms,
        units: 3,
        steps: vec![
            step(1, "pageUrl==/a", 3, 3, 3, Some(0.0)),
            step(2, "pageUrl==/b", 3, 3, 3, Some(10.0)),
        ],
    };
    let steps = ["pageUrl==/a", "pageUrl==/b"];
    assert_eq!(
        funnel(&db, &steps, "", FunnelOptions::visit()),
        expected(FunnelScope::Visit, None)
    );
    assert_eq!(
        funnel(&db, &steps, "", FunnelOptions::visitor(10)),
        Funnel {
            steps: vec![
                step(1, "pageUrl==/a", 3, 3, 3, Some(0.0)),
                // a (10) and b (5) fit a 10 ms window; c does not. Even count: mean.
                step(2, "pageUrl==/b", 2, 3, 3, Some(7.5)),
            ],
            ..expected(FunnelScope::Visitor, Some(10))
        }
    );
    assert_eq!(
        funnel(&db, &steps, "", FunnelOptions::visitor(30)),
        expected(FunnelScope::Visitor, Some(30))
    );
}

#[test]
fn equal_timestamps_go_either_way_but_one_row_is_one_step() {
    let (_d, db) = db_of(&[
        at("tie", 1000, r#""pageTitle":"b""#),
        at("tie", 1000, r#""pageTitle":"a""#),
        at("one", 1000, r#""pageTitle":"a""#),
    ]);
    let f = |steps: &[&str]| funnel(&db, steps, "", FunnelOptions::visit()).steps;
    assert_eq!(
        f(&["pageTitle==a", "pageTitle==b"]),
        [
            step(1, "pageTitle==a", 2, 2, 2, Some(0.0)),
            step(2, "pageTitle==b", 1, 2, 2, Some(0.0)),
        ]
    );
    assert_eq!(
        f(&["pageTitle==b", "pageTitle==a"]),
        [
            step(1, "pageTitle==b", 1, 1, 1, Some(0.0)),
            step(2, "pageTitle==a", 1, 1, 1, Some(0.0)),
        ]
    );
    // `one`'s only row matches both steps, and counts for one.
    assert_eq!(
        f(&["pageTitle==a", "actionType==pageviews"]),
        [
            step(1, "pageTitle==a", 2, 2, 2, Some(0.0)),
            step(2, "actionType==pageviews", 1, 2, 2, Some(0.0)),
        ]
    );
    assert_eq!(
        f(&["", "", ""]),
        [
            step(1, "", 2, 2, 2, Some(0.0)),
            step(2, "", 1, 2, 2, Some(0.0)),
            step(3, "", 0, 2, 1, None),
        ]
    );
    let f = funnel(
        &db,
        &["pageTitle==a", "pageTitle==b"],
        "",
        FunnelOptions::visitor(0),
    );
    assert_eq!(f.units, 2);
    assert_eq!(f.steps[1].count, 1);
}

#[test]
fn repeated_steps_need_distinct_rows() {
    let (_d, db) = db_of(&[
        at("r", 0, r#""pageTitle":"a""#),
        at("r", 5, r#""pageTitle":"a""#),
        at("r", 9, r#""pageTitle":"a""#),
    ]);
    let a = "pageTitle==a";
    assert_eq!(
        funnel(&db, &[a, a, a, a], "", FunnelOptions::visit()).steps,
        [
            step(1, a, 1, 1, 1, Some(0.0)),
            step(2, a, 1, 1, 1, Some(4.0)),
            step(3, a, 1, 1, 1, Some(9.0)),
            step(4, a, 0, 1, 1, None),
        ]
    );
}

#[test]
fn the_window_is_inclusive_across_visits() {
    const TWO_HOURS: i64 = 7_200_000;
    let (_d, db) = db_of(&[
        at("w", 0, r#""pageTitle":"a""#),
        at("w", TWO_HOURS, r#""pageTitle":"b""#),
    ]);
    let steps = ["pageTitle==a", "pageTitle==b"];
    assert_eq!(
        funnel(&db, &steps, "", FunnelOptions::visitor(TWO_HOURS)),
        Funnel {
            scope: FunnelScope::Visitor,
            window_ms: Some(TWO_HOURS),
            units: 1,
            steps: vec![
                step(1, "pageTitle==a", 1, 1, 1, Some(0.0)),
                step(2, "pageTitle==b", 1, 1, 1, Some(TWO_HOURS as f64)),
            ],
        }
    );
    assert_eq!(
        funnel(&db, &steps, "", FunnelOptions::visitor(TWO_HOURS - 1)).steps[1],
        step(2, "pageTitle==b", 0, 1, 1, None)
    );
    // Visit scope: two visits, neither reaches step 2.
    let f = funnel(&db, &steps, "", FunnelOptions::visit());
    assert_eq!((f.units, f.steps[0].count, f.steps[1].count), (2, 1, 0));
    // The segment restricts the rows: without the second visit nothing reaches step 2.
    let f = funnel(
        &db,
        &steps,
        "pageTitle!=b",
        FunnelOptions::visitor(TWO_HOURS),
    );
    assert_eq!((f.units, f.steps[0].count, f.steps[1].count), (1, 1, 0));
}

#[test]
fn step_conditions_test_rows_of_their_level() {
    let (_d, db) = db_of(&[
        at("t", 0, r#""deviceType":"tablet","pageTitle":"a""#),
        at("t", 1, r#""type":"goal","goalId":1"#),
        at("t", 2, ""),
        at("t", 3, r#""type":"ecommerceCart""#),
        at("d", 0, r#""deviceType":"desktop""#),
    ]);
    let f = |steps: &[&str]| funnel(&db, steps, "", FunnelOptions::visit()).steps;
    // Every row of the tablet visit matches the visit-level step, the goal row too; the
    // goal row never matches `pageTitle!=a`, the untitled pageview does.
    assert_eq!(
        f(&["deviceType==tablet", "pageTitle!=a"]),
        [
            step(1, "deviceType==tablet", 1, 1, 1, Some(0.0)),
            step(2, "pageTitle!=a", 1, 1, 1, Some(1.0)),
        ]
    );
    // `pageTitle!=a` matches only the pageview at 2 in `t` (and d's row); the goal is
    // earlier.
    assert_eq!(
        f(&["pageTitle!=a", "visitConvertedGoalId==1"]),
        [
            step(1, "pageTitle!=a", 2, 2, 2, Some(0.0)),
            step(2, "visitConvertedGoalId==1", 0, 2, 2, None),
        ]
    );
    assert_eq!(
        f(&["visitConvertedGoalId==1", "pageTitle=="]),
        [
            step(1, "visitConvertedGoalId==1", 1, 1, 1, Some(0.0)),
            step(2, "pageTitle==", 1, 1, 1, Some(1.0)),
        ]
    );
    // Negated conversion condition: the cart row (no goal id), not the action rows.
    assert_eq!(
        f(&["visitConvertedGoalId!=1", ""]),
        [
            step(1, "visitConvertedGoalId!=1", 1, 1, 1, Some(0.0)),
            step(2, "", 0, 1, 1, None),
        ]
    );
}

#[test]
fn a_one_step_funnel() {
    let (_d, db) = db_of(&[
        at("p", 0, ""),
        at("p", 5, r#""type":"event""#),
        at("q", 0, r#""type":"goal","goalId":1"#),
    ]);
    assert_eq!(
        funnel(&db, &["actionType==pageviews"], "", FunnelOptions::visit()),
        Funnel {
            scope: FunnelScope::Visit,
            window_ms: None,
            units: 2,
            steps: vec![step(1, "actionType==pageviews", 1, 1, 1, Some(0.0))],
        }
    );
}

#[test]
fn funnel_arguments_are_checked() {
    let (_d, db) = db_of(&[at("p", 0, "")]);
    let snap = db.snapshot();
    let all = compile(&snap, "");
    let sel = snap.select(&all, &TimeRange::ALL).unwrap();
    let many = vec![all.clone(); MAX_FUNNEL_STEPS + 1];
    let cases: [(&[CompiledSegment], FunnelOptions); 3] = [
        (&[], FunnelOptions::visit()),
        (&many, FunnelOptions::visit()),
        (std::slice::from_ref(&all), FunnelOptions::visitor(-1)),
    ];
    for (steps, options) in cases {
        let e = snap.funnel(steps, &sel, &options).unwrap_err();
        let o = scan::funnel(&snap, steps, &all, &TimeRange::ALL, &options).unwrap_err();
        assert_eq!(
            (e.kind(), o.kind()),
            (ErrorKind::InvalidInput, ErrorKind::InvalidInput)
        );
    }
    // 32 steps are fine.
    let f = funnel(&db, &[""; MAX_FUNNEL_STEPS], "", FunnelOptions::visit());
    assert_eq!(f.steps.len(), MAX_FUNNEL_STEPS);
    assert_eq!((f.steps[0].count, f.steps[1].count), (1, 0));
}

/// Seven one-pageview visits by country, and `b`'s two conversions.
fn countries() -> (tempfile::TempDir, Db) {
    db_of(&[
        at("a", 0, r#""countryCode":"FR""#),
        at("b", 0, r#""countryCode":"fr""#),
        at("b", 1000, r#""type":"goal","goalId":1,"revenue":10.5"#),
        at("b", 2000, r#""type":"ecommerceOrder","revenue":0.25"#),
        at("g", 0, r#""countryCode":"Fr""#),
        at("c", 0, r#""countryCode":"de""#),
        at("e", 0, r#""countryCode":"DE""#),
        at("d", 0, ""),
        at("f", 0, r#""countryCode":"""#),
    ])
}

#[test]
fn reports_fold_code_case_and_keep_null_and_empty_rows() {
    let (_d, db) = countries();
    let r = report(&db, "country", "", TimeRange::ALL, None);
    assert_eq!((r.by.as_str(), r.level), ("countryCode", Level::Visit));
    assert_eq!(
        r.rows,
        [
            row(text("fr"), [3, 3, 3, 2], 10.75, None),
            row(text("de"), [2, 2, 2, 0], 0.0, None),
            row(text(""), [1, 1, 1, 0], 0.0, None),
            row(ReportValue::Null, [1, 1, 1, 0], 0.0, None),
        ]
    );
    assert_eq!(
        r.total,
        Summary {
            visits: 7,
            visitors: 7,
            actions: 7,
            conversions: 2,
            revenue: 10.75,
            bounces: 7,
            sum_visit_duration: 2,
        }
    );
    assert_eq!(report(&db, "countryCode", "", TimeRange::ALL, Some(4)), r);
    assert_eq!(report(&db, "countryCode", "", TimeRange::ALL, Some(5)), r);
}

#[test]
fn reports_fold_the_rest_into_others() {
    let (_d, db) = countries();
    let others = |counts, revenue, k| ReportRow {
        others: Some(k),
        ..row(text("others"), counts, revenue, None)
    };
    assert_eq!(
        report(&db, "countryCode", "", TimeRange::ALL, Some(2)).rows,
        [
            row(text("fr"), [3, 3, 3, 2], 10.75, None),
            row(text("de"), [2, 2, 2, 0], 0.0, None),
            others([2, 2, 2, 0], 0.0, 2),
        ]
    );
    assert_eq!(
        report(&db, "countryCode", "", TimeRange::ALL, Some(0)).rows,
        [others([7, 7, 7, 2], 10.75, 4)]
    );
    // Action level: the others row sums hits too.
    let r = report(&db, "actionType", "", TimeRange::ALL, Some(0));
    assert_eq!(
        r.rows,
        [ReportRow {
            hits: Some(7),
            ..others([7, 7, 7, 2], 10.75, 1)
        }]
    );
}

#[test]
fn action_and_conversion_reports_count_their_rows() {
    let (_d, db) = db_of(&[
        at("p", 0, r#""pageUrl":"/a""#),
        at("p", 1000, r#""pageUrl":"/a""#),
        at("p", 2000, r#""pageUrl":"/b""#),
        at(
            "p",
            3000,
            r#""type":"goal","goalId":3,"pageUrl":"/a","revenue":2"#,
        ),
        at("p", 4000, r#""type":"event","eventCategory":"video""#),
        at("q", 0, r#""pageUrl":"/b""#),
        at("q", 1000, r#""type":"ecommerceCart","revenue":5"#),
        at("r", 0, r#""type":"ecommerceOrder","revenue":1.5"#),
    ]);
    let r = report(&db, "pageUrl", "", TimeRange::ALL, None);
    assert_eq!(r.level, Level::Action);
    // p: 4 actions, 1 conversion, revenue 2; q: 1 action; r: no action rows.
    assert_eq!(
        r.rows,
        [
            row(text("/b"), [2, 2, 5, 1], 2.0, Some(2)),
            row(text("/a"), [1, 1, 4, 1], 2.0, Some(2)),
            row(ReportValue::Null, [1, 1, 4, 1], 2.0, Some(1)),
        ]
    );
    assert_eq!(
        r.total,
        Summary {
            visits: 3,
            visitors: 3,
            actions: 5,
            conversions: 2,
            revenue: 3.5,
            bounces: 1,
            sum_visit_duration: 5,
        }
    );
    assert_eq!(
        report(&db, "actionType", "", TimeRange::ALL, None).rows,
        [
            row(text("pageviews"), [2, 2, 5, 1], 2.0, Some(4)),
            row(text("events"), [1, 1, 4, 1], 2.0, Some(1)),
        ]
    );
    let r = report(&db, "visitConvertedGoalId", "", TimeRange::ALL, None);
    assert_eq!(r.level, Level::Conversion);
    assert_eq!(
        r.rows,
        [
            row(ReportValue::Int(0), [1, 1, 0, 1], 1.5, Some(1)),
            row(ReportValue::Int(3), [1, 1, 4, 1], 2.0, Some(1)),
            row(ReportValue::Null, [1, 1, 1, 0], 0.0, Some(1)),
        ]
    );
    assert_eq!(
        report(&db, "revenue", "", TimeRange::ALL, None).rows,
        [
            row(ReportValue::Num(1.5), [1, 1, 0, 1], 1.5, Some(1)),
            row(ReportValue::Num(2.0), [1, 1, 4, 1], 2.0, Some(1)),
            row(ReportValue::Num(5.0), [1, 1, 1, 0], 0.0, Some(1)),
        ]
    );
    // A segment restricts the visits, not the rows counted in them.
    assert_eq!(
        report(&db, "pageUrl", "pageUrl==/a", TimeRange::ALL, None).rows,
        [
            row(text("/a"), [1, 1, 4, 1], 2.0, Some(2)),
            row(text("/b"), [1, 1, 4, 1], 2.0, Some(1)),
            row(ReportValue::Null, [1, 1, 4, 1], 2.0, Some(1)),
        ]
    );
}

#[test]
fn reports_reject_unknown_dimensions() {
    let (_d, db) = countries();
    let snap = db.snapshot();
    let all = compile(&snap, "");
    let sel = snap.select(&all, &TimeRange::ALL).unwrap();
    let options = ReportOptions::default();
    for by in ["nope", "plan", "Country"] {
        let e = snap.report(by, &sel, &options).unwrap_err();
        let o = scan::report(&snap, &all, &TimeRange::ALL, by, &options).unwrap_err();
        assert_eq!(
            (e.kind(), o.kind()),
            (ErrorKind::InvalidInput, ErrorKind::InvalidInput)
        );
        assert!(e.to_string().contains(by), "{e}");
        assert!(o.to_string().contains(by), "{o}");
    }
}

#[test]
fn cohort_members_need_a_selected_first_visit() {
    let (_d, db) = db_of(&[
        on("a", "2026-01-05T10:00:00Z", r#""referrerType":"direct""#),
        on("a", "2026-01-13T10:00:00Z", r#""referrerType":"search""#),
        on("b", "2026-01-06T10:00:00Z", r#""referrerType":"search""#),
        on("b", "2026-01-20T10:00:00Z", r#""referrerType":"search""#),
    ]);
    // The data ends in the week of Monday 2026-01-19: three weeks.
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, weeks(12)),
        [cohort("2026-01-05", 2, &[2, 1, 1])]
    );
    // `a` came back through search, but was acquired directly.
    assert_eq!(
        cohorts(&db, "referrerType==search", TimeRange::ALL, weeks(12)),
        [cohort("2026-01-05", 1, &[1, 0, 1])]
    );
    let from_6th = TimeRange {
        start: Some(ms("2026-01-06T00:00:00Z")),
        end: None,
    };
    assert_eq!(
        cohorts(&db, "", from_6th, weeks(12)),
        [cohort("2026-01-05", 1, &[1, 0, 1])]
    );
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, weeks(2)),
        [cohort("2026-01-05", 2, &[2, 1])]
    );
    let months = CohortOptions {
        period: Period::Month,
        ..weeks(12)
    };
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, months),
        [cohort("2026-01-01", 2, &[2])]
    );
}

#[test]
fn weeks_start_on_monday_and_cohorts_are_dense() {
    let (_d, db) = db_of(&[
        on("x", "2026-01-04T23:59:59.999Z", ""), // a Sunday
        on("y", "2026-01-05T00:00:00Z", ""),     // the next Monday
        on("z", "2026-01-20T12:00:00Z", ""),     // a Tuesday two weeks later
    ]);
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, weeks(12)),
        [
            cohort("2025-12-29", 1, &[1, 0, 0, 0]),
            cohort("2026-01-05", 1, &[1, 0, 0]),
            cohort("2026-01-12", 0, &[0, 0]),
            cohort("2026-01-19", 1, &[1]),
        ]
    );
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, weeks(2)),
        [
            cohort("2025-12-29", 1, &[1, 0]),
            cohort("2026-01-05", 1, &[1, 0]),
            cohort("2026-01-12", 0, &[0, 0]),
            cohort("2026-01-19", 1, &[1]),
        ]
    );
    // An end inside the data drops later cohorts and periods.
    let end = |instant: &str| CohortOptions {
        end_ms: Some(ms(instant)),
        ..weeks(12)
    };
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, end("2026-01-04T12:00:00Z")),
        [cohort("2025-12-29", 1, &[1])]
    );
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, end("2026-01-05T00:00:00Z")),
        [
            cohort("2025-12-29", 1, &[1, 0]),
            cohort("2026-01-05", 1, &[1])
        ]
    );
    // An end after the data is the data's end.
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, end("2026-06-01T00:00:00Z")),
        cohorts(&db, "", TimeRange::ALL, weeks(12))
    );
    let days = cohorts(
        &db,
        "",
        TimeRange::ALL,
        CohortOptions {
            period: Period::Day,
            periods: 3,
            end_ms: None,
        },
    );
    assert_eq!(days.len(), 17);
    assert_eq!(days[0], cohort("2026-01-04", 1, &[1, 0, 0]));
    assert_eq!(days[1], cohort("2026-01-05", 1, &[1, 0, 0]));
    assert_eq!(days[2], cohort("2026-01-06", 0, &[0, 0, 0]));
    assert_eq!(days[15], cohort("2026-01-19", 0, &[0, 0]));
    assert_eq!(days[16], cohort("2026-01-20", 1, &[1]));
    let months = CohortOptions {
        period: Period::Month,
        ..weeks(12)
    };
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, months),
        [cohort("2026-01-01", 3, &[3])]
    );
}

/// The rows stop at the last period with a new visitor not after the end period
/// (`docs/analytics.md`: "to the last one not after the end period"; `Cohorts::cohorts`:
/// "from the first to the last with a new visitor"). A visitor acquired after the end
/// is outside the data considered and adds no row: the table up to `end_ms` must not
/// depend on what came later.
#[test]
fn visitors_acquired_after_the_end_add_no_rows() {
    let (_d, db) = db_of(&[
        on("x", "2026-01-05T10:00:00Z", ""),
        on("y", "2026-01-08T10:00:00Z", ""),
    ]);
    let options = CohortOptions {
        period: Period::Day,
        periods: 3,
        end_ms: Some(ms("2026-01-06T12:00:00Z")),
    };
    assert_eq!(
        cohorts(&db, "", TimeRange::ALL, options),
        [cohort("2026-01-05", 1, &[1, 0])]
    );
}

#[test]
fn cohorts_need_a_period() {
    let (_d, db) = db_of(&[at("x", 0, "")]);
    let snap = db.snapshot();
    let all = compile(&snap, "");
    let sel = snap.select(&all, &TimeRange::ALL).unwrap();
    let e = snap.cohorts(&sel, &weeks(0)).unwrap_err();
    let o = scan::cohorts(&snap, &all, &TimeRange::ALL, &weeks(0)).unwrap_err();
    assert_eq!(
        (e.kind(), o.kind()),
        (ErrorKind::InvalidInput, ErrorKind::InvalidInput)
    );
}

#[test]
fn visitor_profiles_total_every_visit() {
    const TWO_HOURS: i64 = 7_200_000;
    let (_d, db) = db_of(&[
        at("a", 0, r#""pageUrl":"/x""#),
        at("a", 90_000, r#""type":"goal","goalId":1,"revenue":2.5"#),
        at("a", TWO_HOURS, r#""pageUrl":"/y""#),
        at(
            "a",
            TWO_HOURS + 30_000,
            r#""type":"ecommerceOrder","revenue":0.1"#,
        ),
        at(
            "a",
            TWO_HOURS + 40_000,
            r#""type":"ecommerceCart","revenue":9"#,
        ),
        at("b", 0, ""),
    ]);
    let snap = db.snapshot();
    let oracle = scan::visitor(&snap, "a").unwrap().unwrap();
    assert_eq!(snap.visitor("a").unwrap().as_ref(), Some(&oracle));
    assert_eq!(
        (
            oracle.visitor_id.as_str(),
            oracle.first_visit,
            oracle.last_visit,
            oracle.last_event
        ),
        (
            "a",
            BASE_MS,
            BASE_MS + TWO_HOURS,
            BASE_MS + TWO_HOURS + 40_000
        )
    );
    assert_eq!(
        oracle.totals,
        sightline::VisitorTotals {
            visits: 2,
            events: 5,
            actions: 2,
            conversions: 2,
            revenue: 2.6,
            visit_duration: 130,
        }
    );
    let starts: Vec<i64> = oracle.visits.iter().map(|v| v.start).collect();
    assert_eq!(starts, [BASE_MS, BASE_MS + TWO_HOURS]);
    assert_eq!(oracle.visits[1].events.len(), 3);
    for id in ["A", "c", ""] {
        assert_eq!(snap.visitor(id).unwrap(), None);
        assert_eq!(scan::visitor(&snap, id).unwrap(), None);
    }
}

#[test]
fn an_empty_database() {
    let (_d, db) = db_of(&[]);
    assert_eq!(db.snapshot().stats().unwrap().parts, 0);
    let r = report(&db, "countryCode", "", TimeRange::ALL, Some(1));
    assert_eq!(
        r,
        Report {
            by: "countryCode".into(),
            level: Level::Visit,
            rows: vec![],
            total: Summary::default(),
        }
    );
    assert_eq!(
        funnel(
            &db,
            &["actionType==pageviews"],
            "",
            FunnelOptions::visitor(0)
        ),
        Funnel {
            scope: FunnelScope::Visitor,
            window_ms: Some(0),
            units: 0,
            steps: vec![step(1, "actionType==pageviews", 0, 0, 0, None)],
        }
    );
    assert_eq!(cohorts(&db, "", TimeRange::ALL, weeks(12)), []);
    let snap = db.snapshot();
    assert_eq!(snap.visitor("a").unwrap(), None);
    assert_eq!(scan::visitor(&snap, "a").unwrap(), None);
}

#[test]
fn a_segment_selecting_nothing() {
    let (_d, db) = countries();
    let none = "visitorId==nobody";
    let r = report(&db, "pageTitle", none, TimeRange::ALL, Some(0));
    assert_eq!((r.rows.len(), r.total), (0, Summary::default()));
    let f = funnel(&db, &["", ""], none, FunnelOptions::visitor(1000));
    assert_eq!(f.units, 0);
    assert_eq!(
        f.steps,
        [step(1, "", 0, 0, 0, None), step(2, "", 0, 0, 0, None)]
    );
    assert_eq!(cohorts(&db, none, TimeRange::ALL, weeks(3)), []);
    let later = TimeRange {
        start: Some(BASE_MS + 1),
        end: None,
    };
    assert_eq!(cohorts(&db, "", later, weeks(3)), []);
}
