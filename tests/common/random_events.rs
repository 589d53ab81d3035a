//! Random events for the differential suites (`segment_oracle`, `analytics_oracle`):
//! visitors with a handful of events drawn from small alphabets (URLs, titles, codes in
//! both cases, empty strings, custom dimensions present in some batches only), turned
//! into JSON lines split into batches committed in a scrambled order.
//!
//! Included with `#[path]` by each suite; what [`visitors`] draws for a given proptest
//! seed must not change (the suites' fixed seeds replay known cases).

// Each suite uses a different subset.
#![allow(dead_code)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use sightline::{Db, DbOptions};

/// 2026-01-01T00:00:00Z, a Thursday: the time every generated visitor starts after.
pub const BASE_MS: i64 = 1_767_225_600_000;

pub const KINDS: [&str; 14] = [
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
pub const URLS: [&str; 6] = [
    "https://www.shop.example/cart",
    "http://shop.example/Cart?x=1",
    "shop.example/",
    "/a,b;c",
    "HTTPS://WWW.Shop.example/cart",
    "www.shop.example/",
];
pub const TITLES: [&str; 9] = [
    "Home", "home", "Cart", "", "a", "b", "Ärger", "50% off", " a ",
];
pub const CATEGORIES: [&str; 4] = ["video", "Video", "audio", ""];
pub const ACTIONS: [&str; 3] = ["play", "pause", "Play"];
pub const NAMES: [&str; 3] = ["intro", "a,b", "x;y"];
pub const EVENT_VALUES: [f64; 7] = [0.0, 1.0, 2.5, -3.0, 10.0, 0.1, -0.5];
pub const REVENUES: [f64; 6] = [0.5, 10.0, 19.99, 100.0, 0.001, 0.000_000_5];
pub const COUNTRIES: [&str; 4] = ["fr", "FR", "de", ""];
pub const DEVICES: [&str; 4] = ["desktop", "smartphone", "tablet", "feature phone"];
pub const REFERRERS: [&str; 4] = ["direct", "search", "website", "social"];
pub const CITIES: [&str; 3] = ["Paris", "paris", "Berlin"];
pub const PLANS: [&str; 4] = ["free", "Pro", "pro", ""];
pub const SCORES: [f64; 5] = [1.0, 2.5, -1.0, 0.0, 3.0];
pub const VISIT_IDS: [&str; 2] = ["a", "b"];
/// Addresses and latitudes, picked from the country and device draws (so that what
/// `visitors` draws stays as it was).
pub const IPS: [&str; 7] = [
    "10.0.0.1",
    "10.0.0.255",
    "10.0.1.0",
    "192.168.1.10",
    "2001:db8::1",
    "::1",
    "9.255.255.255",
];
pub const LATITUDES: [f64; 5] = [48.8566, -33.9, 0.0, 90.0, 48.85];

/// One generated event; `Option<u8>` fields index the alphabets above (modulo).
#[derive(Debug, Clone)]
pub struct Ev {
    pub gap_s: u32,
    pub ms: u16,
    pub kind: u8,
    pub batch: u8,
    /// pageUrl, pageTitle.
    pub page: [Option<u8>; 2],
    /// eventCategory, eventAction, eventName, eventValue.
    pub event: [Option<u8>; 4],
    /// goalId, revenue.
    pub conv: [Option<u8>; 2],
    /// countryCode, deviceType, referrerType, city, siteId.
    pub visit: [Option<u8>; 5],
    /// plan, score.
    pub custom: [Option<u8>; 2],
    pub visit_id: Option<u8>,
}

pub fn opt(p: f64) -> impl Strategy<Value = Option<u8>> {
    proptest::option::weighted(p, any::<u8>())
}

pub fn ev() -> impl Strategy<Value = Ev> {
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
pub type Visitor = (u16, bool, Vec<Ev>);

pub fn visitors() -> impl Strategy<Value = Vec<Visitor>> {
    proptest::collection::vec(
        (
            0u16..4320,
            proptest::bool::weighted(0.25),
            proptest::collection::vec(ev(), 1..=12),
        ),
        1..=6,
    )
}

/// Like [`ev`], with time drawn for the analyses: about one event in four at the very
/// millisecond of the visitor's previous one (gap 0, ms 0: rows with equal timestamps,
/// within a visit, or across visits when `visitId` splits them), and one in eight days
/// to a month later (visits in other weeks and months, for cohorts).
pub fn tied_ev() -> impl Strategy<Value = Ev> {
    (ev(), 0u8..8, 86_400u32..2_700_000).prop_map(|(mut e, time, later)| {
        match time {
            0 | 1 => (e.gap_s, e.ms) = (0, 0),
            2 => e.gap_s = later,
            _ => {}
        }
        e
    })
}

/// Visitors of [`tied_ev`] events, first seen anywhere in the 45 days after `BASE_MS`.
pub fn spread_visitors() -> impl Strategy<Value = Vec<Visitor>> {
    proptest::collection::vec(
        (
            any::<u16>(),
            proptest::bool::weighted(0.25),
            proptest::collection::vec(tied_ev(), 1..=12),
        ),
        1..=7,
    )
}

pub fn pick<T: Copy>(xs: &[T], i: Option<u8>) -> Option<T> {
    i.map(|i| xs[i as usize % xs.len()])
}

/// JSON lines, batch by batch: `batches` batches; `customs[b]` says whether batch `b`
/// carries `plan` and `score` (so some parts lack a custom column entirely).
pub fn json_batches(
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
            put("ip", pick(&IPS, e.visit[0].map(|x| x / 4)).map(Value::from));
            put(
                "latitude",
                pick(&LATITUDES, e.visit[1].map(|x| x / 4)).map(Value::from),
            );
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

pub fn import(dir: &std::path::Path, batches: &[Vec<String>]) -> Db {
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
