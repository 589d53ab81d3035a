//! Whatever goes in comes back out exactly: arbitrary finite numbers (through the
//! decimal-scaled or raw-bits number columns), any Unicode or empty strings (through the
//! dictionaries and bitmap indexes), custom dimensions of both types, sparse columns.

use proptest::prelude::*;
use sightline::DimValue;
use sightline::{Db, DbOptions, Event, EventType, Value};

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        (-1_000_000i64..1_000_000, 0u32..4).prop_map(|(m, s)| m as f64 / 10f64.powi(s as i32)),
        Just(0.1 + 0.2),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(-0.0),
    ]
}

/// Revenue: any finite number within the accepted ±10¹² (a larger one is a row error,
/// checked at the end of the test).
fn revenue() -> impl Strategy<Value = f64> {
    number().prop_map(|x| if x.abs() > 1e12 { x % 1e12 } else { x })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-c]{1,3}", "\\PC{0,12}"]
}

#[derive(Debug, Clone)]
struct Input {
    minute: i64,
    kind: u8,
    url: Option<String>,
    value: Option<f64>,
    revenue: Option<f64>,
    goal: Option<i64>,
    custom_num: Option<f64>,
    custom_str: Option<String>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        0i64..50,
        0u8..8,
        proptest::option::of(text()),
        proptest::option::of(number()),
        proptest::option::of(revenue()),
        proptest::option::of(any::<i64>()),
        proptest::option::of(number()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(minute, kind, url, value, revenue, goal, custom_num, custom_str)| Input {
                minute,
                kind,
                url,
                value,
                revenue,
                goal,
                custom_num,
                custom_str,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn events_read_back_exactly(inputs in proptest::collection::vec(input(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(dir.path(), DbOptions::default()).unwrap();
        let mut tx = db.begin_write().unwrap();
        let mut expected = Vec::new();
        for (i, x) in inputs.iter().enumerate() {
            // One visitor per event keeps the expected order trivial.
            let mut e = Event {
                ts: x.minute * 60_000,
                visitor_id: format!("v{i:03}"),
                kind: EventType::ALL[x.kind as usize],
                page_url: x.url.clone(),
                event_value: x.value,
                revenue: x.revenue,
                goal_id: x.goal,
                ..Default::default()
            };
            if let Some(n) = x.custom_num {
                e.custom.push(("amount".into(), Value::Num(n)));
            }
            if let Some(s) = &x.custom_str {
                e.custom.push(("label".into(), Value::Str(s.clone())));
            }
            tx.append(&e).unwrap();
            expected.push(e);
        }
        tx.commit().unwrap();
        let mut visits = db.snapshot().visits().unwrap();
        visits.sort_by(|a, b| a.visitor_id.cmp(&b.visitor_id));
        prop_assert_eq!(visits.len(), expected.len());
        for (v, e) in visits.iter().zip(&expected) {
            prop_assert_eq!(&v.visitor_id, &e.visitor_id);
            prop_assert_eq!(v.events.len(), 1);
            let got = &v.events[0];
            prop_assert_eq!(got.ts, e.ts);
            prop_assert_eq!(got.kind, e.kind);
            let field = |name: &str| got.fields.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone());
            prop_assert_eq!(field("pageUrl"), e.page_url.clone().map(DimValue::Str));
            prop_assert_eq!(field("eventValue"), e.event_value.map(DimValue::Num));
            prop_assert_eq!(field("revenue"), e.revenue.map(DimValue::Num));
            prop_assert_eq!(field("goalId"), e.goal_id.map(DimValue::Int));
            let num = e.custom.iter().find(|(n, _)| n == "amount").map(|(_, v)| match v { Value::Num(x) => DimValue::Num(*x), Value::Str(_) => unreachable!() });
            prop_assert_eq!(field("amount"), num);
            let s = e.custom.iter().find(|(n, _)| n == "label").map(|(_, v)| match v { Value::Str(x) => DimValue::Str(x.clone()), Value::Num(_) => unreachable!() });
            prop_assert_eq!(field("label"), s);
        }
        prop_assert!(sightline::check(dir.path()).unwrap().is_ok());
    }

    #[test]
    fn revenue_past_a_trillion_is_refused(x in number().prop_filter("large", |x| x.abs() > 1e12)) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(dir.path(), DbOptions::default()).unwrap();
        let mut tx = db.begin_write().unwrap();
        let e = Event { revenue: Some(x), kind: EventType::Goal, ..Event::pageview(0, "v", "/") };
        let err = tx.append(&e).unwrap_err();
        prop_assert!(err.to_string().contains("revenue: "), "{}", err);
        prop_assert!(tx.is_empty());
    }
}
