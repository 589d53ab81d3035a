//! `segment_eval`: the compiled bitmap evaluation against the naive scan oracle.
//!
//! The fuzz input is read as a small scenario: a segment built from pools of names,
//! operators and values (so it usually compiles), a time range, and a few events of a
//! few visitors (times around the visit timeout, URLs, titles, countries, event
//! fields, goals, orders and two custom dimensions) split into one or two commits.

use sightline::testing::scan;
use sightline::{Condition, Op, OrGroup, Segment};
use sightline::{Db, DbOptions, Dialect, ErrorKind, Event, EventType, TimeRange, Value};

/// Reads the input byte by byte; past its end every byte is 0, so any input is a
/// complete scenario.
struct Source<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Source<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.byte() as usize % xs.len()]
    }
}

/// 2026-01-01T00:00:00Z.
const BASE_MS: i64 = 1_767_225_600_000;
/// Gaps between a visitor's events, ms: ties, seconds, just under, at and over the
/// 30-minute visit timeout, hours, days.
const GAPS: &[i64] = &[
    0, 0, 1, 999, 1_000, 59_000, 300_000, 1_799_999, 1_800_000, 1_800_001, 3_600_000, 86_400_000,
    90_061_001,
];
const URLS: &[Option<&str>] = &[
    None,
    Some("https://www.shop.example/cart"),
    Some("http://shop.example/Cart?x=1"),
    Some("shop.example/"),
    Some("/a,b;c"),
    Some("HTTPS://WWW.Shop.example/cart"),
    Some(""),
];
const TITLES: &[Option<&str>] = &[
    None,
    Some("Home"),
    Some("home"),
    Some("Cart"),
    Some(""),
    Some("Ärger"),
    Some("50% off"),
    Some(" a "),
];
const COUNTRIES: &[Option<&str>] = &[None, Some("fr"), Some("FR"), Some("de"), Some("")];
const CATEGORIES: &[Option<&str>] = &[None, Some("video"), Some("Video"), Some("audio")];
const ACTIONS: &[Option<&str>] = &[None, Some("play"), Some("pause"), Some("Play")];
const DEVICES: &[Option<&str>] = &[None, Some("desktop"), Some("smartphone"), Some("tv")];
const NUMBERS: &[Option<f64>] = &[None, Some(0.0), Some(1.0), Some(2.5), Some(-3.0), Some(0.1)];
const GOALS: &[Option<i64>] = &[None, Some(1), Some(2), Some(0)];
const REVENUES: &[Option<f64>] = &[None, Some(0.5), Some(10.0), Some(19.99), Some(0.000_000_5)];
const PLANS: &[Option<&str>] = &[None, Some("free"), Some("Pro"), Some("pro"), Some("")];
const VISIT_IDS: &[Option<&str>] = &[None, None, Some("a"), Some("b")];

/// Segment dimensions, whether they are numeric, and the values tried with them.
const DIMS: &[(&str, bool, &[&str])] = &[
    ("countryCode", false, &["fr", "FR", "de", "f", "x"]),
    ("country", false, &["fr", "DE"]),
    (
        "deviceType",
        false,
        &["desktop", "smartphone", "tv", "phone"],
    ),
    (
        "pageUrl",
        false,
        &[
            "shop.example/cart",
            "https://www.shop.example/cart",
            "Cart",
            "/a,b;c",
            "s",
        ],
    ),
    (
        "pageTitle",
        false,
        &["Home", "home", "ärger", "50%", " a ", "a"],
    ),
    (
        "entryPageUrl",
        false,
        &["shop.example/", "www.shop.example/cart", "cart"],
    ),
    ("exitPageTitle", false, &["Home", "Cart", "e"]),
    ("eventCategory", false, &["video", "VIDEO", "aud"]),
    ("eventAction", false, &["play", "Play", "ay"]),
    ("eventValue", true, &["0", "1", "2.5", "-3", "0.1", "x"]),
    (
        "actionType",
        false,
        &["pageviews", "events", "downloads", "goals"],
    ),
    ("visitConvertedGoalId", true, &["0", "1", "2", "-1"]),
    ("revenue", true, &["0.5", "10", "19.99", "5e-7", "0"]),
    ("visitCount", true, &["0", "1", "2", "3"]),
    ("actions", true, &["0", "1", "2", "5"]),
    ("visitDuration", true, &["0", "1", "60", "1799"]),
    ("visitConverted", true, &["0", "1"]),
    (
        "visitEcommerceStatus",
        false,
        &[
            "none",
            "ordered",
            "abandonedCart",
            "orderedThenAbandonedCart",
        ],
    ),
    (
        "visitorType",
        false,
        &["new", "returning", "returningCustomer"],
    ),
    ("daysSinceLastVisit", true, &["0", "1", "2"]),
    ("siteId", true, &["1", "2"]),
    ("visitorId", false, &["v0", "v1", "V1", "v"]),
    ("visitId", false, &["a", "b", "1767225600000"]),
    ("plan", false, &["free", "pro", "PRO", "o"]),
    ("score", true, &["0", "1", "2.5", "-3"]),
];
const REGEXES: &[&str] = &["^https?://", "(?i)cart", "^$", "^F", "a|b", "^[0-9]+$", "."];

fn event(src: &mut Source<'_>, clocks: &mut [i64; 4]) -> (usize, Event) {
    let who = src.byte();
    let visitor = (who % 4) as usize;
    let batch = ((who >> 2) & 1) as usize;
    clocks[visitor] += src.pick(GAPS);
    let kind = src.pick(&EventType::ALL);
    let owned = |s: Option<&str>| s.map(str::to_string);
    let mut e = Event {
        ts: clocks[visitor],
        visitor_id: format!("v{visitor}"),
        kind,
        ..Default::default()
    };
    e.visit_id = owned(src.pick(VISIT_IDS));
    e.page_url = owned(src.pick(URLS));
    e.page_title = owned(src.pick(TITLES));
    e.country_code = owned(src.pick(COUNTRIES));
    e.device_type = owned(src.pick(DEVICES));
    e.site_id = [None, Some(1), Some(2)][src.byte() as usize % 3];
    if kind == EventType::Event {
        e.event_category = owned(src.pick(CATEGORIES));
        e.event_action = owned(src.pick(ACTIONS));
        e.event_value = src.pick(NUMBERS);
    }
    if kind.is_conversion() {
        if kind == EventType::Goal {
            e.goal_id = src.pick(GOALS);
        }
        e.revenue = src.pick(REVENUES);
    }
    if let Some(p) = src.pick(PLANS) {
        e.custom.push(("plan".into(), Value::Str(p.into())));
    }
    if let Some(s) = src.pick(NUMBERS) {
        e.custom.push(("score".into(), Value::Num(s)));
    }
    (batch, e)
}

fn condition(src: &mut Source<'_>) -> Condition {
    let (name, numeric, values) = src.pick(DIMS);
    // Text operators on a number do not compile: rarely try one.
    let op = match src.byte() {
        b if numeric && b % 16 != 0 => Op::ALL[b as usize % 6],
        b => Op::ALL[b as usize % Op::ALL.len()],
    };
    let pick = src.byte() as usize;
    let value = match op {
        Op::Matches | Op::NotMatches => REGEXES[pick % REGEXES.len()],
        // One value in eight is empty (only == and != accept one).
        Op::Eq | Op::Ne if pick % 8 == 7 => "",
        _ => values[pick % values.len()],
    };
    Condition {
        name: name.to_string(),
        op,
        value: value.to_string(),
        name_span: 0..0,
        value_span: 0..0,
    }
}

/// The scenario read from `data`, committed to a database in a temporary directory;
/// the engine (`Snapshot::select`, `summarize`, `explain`) and the oracle
/// (`exec::scan`) must select exactly the same visits and give exactly the same
/// summary. A segment that does not compile must fail with a segment error.
pub fn segment_eval(data: &[u8]) {
    let mut src = Source { data, pos: 0 };
    // The segment first, so that short inputs have one too.
    let groups = (0..src.byte() % 4)
        .map(|_| OrGroup {
            conditions: (0..1 + src.byte() % 3)
                .map(|_| condition(&mut src))
                .collect(),
        })
        .collect();
    let text = Segment { groups }.to_string();
    let (from, to) = (src.byte(), src.byte());
    let n_events = 1 + src.byte() as usize % 16;
    let mut clocks = [BASE_MS; 4];
    for (v, c) in clocks.iter_mut().enumerate() {
        *c += v as i64 * 7_200_000;
    }
    let mut batches: [Vec<Event>; 2] = Default::default();
    for _ in 0..n_events {
        let (b, e) = event(&mut src, &mut clocks);
        batches[b].push(e);
    }
    // Range bounds: none, or cut at one of the events' times.
    let mut stamps: Vec<i64> = batches.iter().flatten().map(|e| e.ts).collect();
    stamps.sort_unstable();
    let bound = |b: u8| {
        b.is_multiple_of(3)
            .then(|| stamps[b as usize % stamps.len()])
    };
    let range = TimeRange {
        start: bound(from),
        end: bound(to),
    };

    // On the in-memory disk: same commit path as the real one, no file system work.
    let disk = sightline::testing::SimFs::new();
    let db = Db::builder()
        .file_system(disk.vfs())
        .options(DbOptions::default())
        .create(std::path::Path::new("/fuzz/db"))
        .expect("create");
    for batch in batches.iter().filter(|b| !b.is_empty()) {
        let mut tx = db.begin_write().expect("begin_write");
        for e in batch {
            tx.append(e).unwrap_or_else(|err| panic!("{e:?}: {err}"));
        }
        tx.commit().expect("commit");
    }
    let snap = db.snapshot();
    let ctx = || format!("segment {text:?}, range {range:?}, events {batches:#?}");
    let compiled = match snap.compile(&text, Dialect::Default) {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}\n{}", ctx());
            return;
        }
    };
    let sel = snap.select(&compiled, &range).expect("select");
    let engine = (
        scan::selection_keys(&snap, &sel).expect("selection keys"),
        snap.summarize(&sel).expect("summarize"),
    );
    let oracle = (
        scan::selected(&snap, &compiled, &range).expect("oracle selection"),
        scan::summary(&snap, &compiled, &range).expect("oracle summary"),
    );
    assert_eq!(
        engine.0,
        oracle.0,
        "selected visits (engine, oracle)\n{}",
        ctx()
    );
    assert_eq!(engine.1, oracle.1, "summary (engine, oracle)\n{}", ctx());
    let explain = snap.explain(&compiled, &range).expect("explain");
    assert_eq!(
        explain.selected,
        oracle.0.len() as u64,
        "explain\n{}",
        ctx()
    );
}
