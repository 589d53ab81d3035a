//! Random segment conditions for the differential suites: every kind of dimension and
//! operator, values drawn from pools that hit and miss the generated data
//! (`random_events`), invalid enum values and pattern operators on numbers (which must
//! fail to compile), and time ranges cut at the data's timestamps.
//!
//! Included with `#[path]` by each suite; what [`segments`] draws for a given proptest
//! seed must not change.

// Each suite uses a different subset.
#![allow(dead_code)]

use proptest::prelude::*;
use sightline::TimeRange;
use sightline::{Condition, Op};

/// How values for a dimension are drawn.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Free text, or a URL dimension (same: only the pool differs).
    Text(&'static [&'static str]),
    /// A number: pools of numeric text.
    Number(&'static [&'static str]),
    /// An enum: the valid values, and other spellings: case variants (which mean the
    /// entry) and values off the list (errors).
    Enum(&'static [&'static str], &'static [&'static str]),
    /// `visitId`: the pool plus visit starts taken from the data.
    VisitId,
}

pub const COUNTRY_VALUES: &[&str] = &["fr", "FR", "Fr", "de", "DE", "f", "r", "x"];
pub const CITY_VALUES: &[&str] = &["Paris", "paris", "PARIS", "Par", "is", "Berlin"];
pub const TITLE_VALUES: &[&str] = &[
    "Home", "home", "HOME", "Cart", "a", "b", "o", "c", "ärger", "ÄRGER", "50%", " a ", "a ",
];
pub const URL_VALUES: &[&str] = &[
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
pub const CATEGORY_VALUES: &[&str] = &["video", "Video", "VIDEO", "audio", "vid", "eo"];
pub const ACTION_VALUES: &[&str] = &["play", "Play", "pause", "pa", "ay"];
pub const NAME_VALUES: &[&str] = &["intro", "a,b", "x;y", "a", ",", "INTRO"];
pub const PLAN_VALUES: &[&str] = &["free", "Pro", "pro", "PRO", "fr", "o"];
pub const VISITOR_VALUES: &[&str] = &["v0", "v1", "V1", "v", "1", "v5"];
pub const NONE_VALUES: &[&str] = &["x", "IDF"];
/// Addresses: every one valid, as the order operators need.
pub const IP_VALUES: &[&str] = &[
    "10.0.0.0",
    "10.0.0.255",
    "10.0.0.1",
    "192.168.1.10",
    "2001:db8::",
    "::1",
    "10.0.1.0",
];
/// Latitudes: every one a number, as the order operators need.
pub const LATITUDE_VALUES: &[&str] = &["48.8566", "0", "-33.9", "48.85", "90", "1e1", "-0"];

pub const COUNT_VALUES: &[&str] = &["0", "1", "2", "3", "1.5"];
pub const ACTIONS_VALUES: &[&str] = &["0", "1", "2", "3", "5"];
pub const DURATION_VALUES: &[&str] = &["0", "1", "60", "299", "1000"];
pub const BOOL_VALUES: &[&str] = &["0", "1"];
pub const HOUR_VALUES: &[&str] = &["0", "1", "2", "12", "23"];
pub const DAY_VALUES: &[&str] = &["0", "1", "2"];
pub const SITE_VALUES: &[&str] = &["1", "2", "3"];
pub const EVENT_VALUE_VALUES: &[&str] = &["0", "1", "2.5", "-3", "10", "0.1", "-0.5", "1e1", "-0"];
pub const SCORE_VALUES: &[&str] = &["1", "2.5", "-1", "0", "3"];
pub const GOAL_VALUES: &[&str] = &["0", "1", "2", "3", "-1"];
pub const REVENUE_VALUES: &[&str] = &["0.5", "10", "19.99", "100", "0.001", "0", "5e-7"];

pub const VISITOR_TYPE_VALUES: &[&str] = &["new", "returning", "returningCustomer"];
pub const ECOMMERCE_VALUES: &[&str] = &[
    "none",
    "ordered",
    "abandonedCart",
    "orderedThenAbandonedCart",
];
pub const DEVICE_VALUES: &[&str] = &["desktop", "smartphone", "tablet", "feature phone", "tv"];
pub const REFERRER_VALUES: &[&str] = &["direct", "search", "website", "campaign", "social"];
pub const ACTION_TYPE_VALUES: &[&str] = &[
    "pageviews",
    "outlinks",
    "downloads",
    "sitesearches",
    "events",
];

pub const CONVERSION_TYPE_VALUES: &[&str] = &["goal", "order", "cart"];

pub const DIMS: &[(&str, Kind)] = &[
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
        Kind::Enum(VISITOR_TYPE_VALUES, &["returningcustomer", "loyal"]),
    ),
    (
        "visitEcommerceStatus",
        Kind::Enum(ECOMMERCE_VALUES, &["Ordered", "paid"]),
    ),
    (
        "deviceType",
        Kind::Enum(DEVICE_VALUES, &["phone", "SmartPhone"]),
    ),
    (
        "referrerType",
        Kind::Enum(REFERRER_VALUES, &["Direct", "ads"]),
    ),
    ("pageUrl", Kind::Text(URL_VALUES)),
    ("pageUrl", Kind::Text(URL_VALUES)),
    ("pageTitle", Kind::Text(TITLE_VALUES)),
    ("pageTitle", Kind::Text(TITLE_VALUES)),
    ("eventCategory", Kind::Text(CATEGORY_VALUES)),
    ("eventCategory", Kind::Text(CATEGORY_VALUES)),
    ("eventAction", Kind::Text(ACTION_VALUES)),
    ("eventAction", Kind::Text(ACTION_VALUES)),
    ("eventName", Kind::Text(NAME_VALUES)),
    (
        "actionType",
        Kind::Enum(ACTION_TYPE_VALUES, &["goals", "PageViews"]),
    ),
    ("eventValue", Kind::Number(EVENT_VALUE_VALUES)),
    ("plan", Kind::Text(PLAN_VALUES)),
    ("score", Kind::Number(SCORE_VALUES)),
    ("visitConvertedGoalId", Kind::Number(GOAL_VALUES)),
    ("revenue", Kind::Number(REVENUE_VALUES)),
    (
        "conversionType",
        Kind::Enum(CONVERSION_TYPE_VALUES, &["Order", "purchase"]),
    ),
    ("visitIp", Kind::Text(IP_VALUES)),
    ("ip", Kind::Text(IP_VALUES)),
    ("latitude", Kind::Text(LATITUDE_VALUES)),
];

pub const REGEXES: &[&str] = &[
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

pub const VALUE_OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];

/// A condition as drawn: indices into `DIMS`, an operator choice, a value choice.
pub type CondSpec = (u8, u8, u8, u8);

/// A time-range bound as drawn: an index into the data's timestamps, plus 1 ms or not.
pub type BoundSpec = Option<(u8, bool)>;
/// A segment as drawn (AND of ORs of conditions) with its time range.
pub type SegSpec = (Vec<Vec<CondSpec>>, (BoundSpec, BoundSpec));

pub fn segments() -> impl Strategy<Value = Vec<SegSpec>> {
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
pub enum Expect {
    Ok,
    /// A pattern or regex operator on a number.
    NumberPattern,
    /// An enum value outside the list (compared without regard to ASCII case).
    BadEnum,
}

/// The condition a spec stands for, and whether it must compile.
pub fn condition(spec: CondSpec, starts: &[i64]) -> (Condition, Expect) {
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
                    bad[(v as usize / 8) % bad.len()].to_string()
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
            if matches!(op, Op::Eq | Op::Ne)
                && !value.is_empty()
                && !pool.iter().any(|p| p.eq_ignore_ascii_case(&value)) =>
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

pub fn range_of(bounds: &(BoundSpec, BoundSpec), stamps: &[i64]) -> TimeRange {
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
