//! Results must not depend on how events were batched or ordered (`docs/ingest.md`): importing
//! the same events in one batch, in several batches (in any order), shuffled, gives the
//! same visits with the same derived dimensions. Checked with proptest over small random
//! data, with a naive oracle for the visit boundaries.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sightline::{Db, DbOptions};
use sightline::{DimValue, VisitRecord};

const BASE_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const TYPES: [&str; 5] = ["pageview", "pageview", "event", "goal", "ecommerceOrder"];

#[derive(Debug, Clone)]
struct Ev {
    visitor: u8,
    minute: i64,
    kind: u8,
    url: u8,
    country: Option<u8>,
    visit_id: Option<u8>,
    plan: Option<u8>,
    revenue: Option<u16>,
    cart: bool,
}

fn ev() -> impl Strategy<Value = Ev> {
    (
        0u8..4,
        // Up to three days, minute resolution: gaps around the 30-minute timeout, equal
        // timestamps and multi-day distances all occur.
        prop_oneof![0i64..240, 0i64..4320],
        0u8..5,
        0u8..4,
        proptest::option::weighted(0.4, 0u8..3),
        proptest::option::weighted(0.15, 0u8..2),
        proptest::option::weighted(0.3, 0u8..3),
        proptest::option::weighted(0.5, 1u16..5000),
        proptest::bool::weighted(0.1),
    )
        .prop_map(
            |(visitor, minute, kind, url, country, visit_id, plan, revenue, cart)| Ev {
                visitor,
                minute,
                kind,
                url,
                country,
                visit_id,
                plan,
                revenue,
                cart,
            },
        )
}

fn json(e: &Ev) -> String {
    let ts = BASE_MS + e.minute * 60_000;
    let kind = if e.cart {
        "ecommerceCart"
    } else {
        TYPES[e.kind as usize]
    };
    let mut s = format!(
        r#"{{"ts":{ts},"visitorId":"visitor{}","type":"{kind}""#,
        e.visitor
    );
    match kind {
        "pageview" => {
            s += &format!(
                r#","pageUrl":"https://www.ex.com/p{}","pageTitle":"P{}""#,
                e.url, e.url
            )
        }
        "event" => s += &format!(r#","eventCategory":"c{}","eventAction":"play""#, e.url),
        "goal" => s += &format!(r#","goalId":{}"#, e.url),
        _ => {}
    }
    if matches!(kind, "goal" | "ecommerceOrder")
        && let Some(r) = e.revenue
    {
        s += &format!(r#","revenue":{}.{:02}"#, r / 100, r % 100);
    }
    if let Some(c) = e.country {
        s += &format!(r#","countryCode":"c{c}","city":"city{c}""#);
    }
    if let Some(v) = e.visit_id {
        s += &format!(r#","visitId":"id{v}""#);
    }
    if let Some(p) = e.plan {
        s += &format!(r#","plan":"plan{p}""#);
    }
    s + "}"
}

fn import_batches(batches: &[Vec<String>]) -> Vec<VisitRecord> {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    for batch in batches {
        let mut tx = db.begin_write().unwrap();
        for line in batch {
            tx.append_json(line).unwrap();
        }
        tx.commit().unwrap();
    }
    assert!(sightline::check(dir.path()).unwrap().is_ok());
    let mut visits = db.snapshot().visits().unwrap();
    visits.sort_by(|a, b| {
        (&a.visitor_id, a.start, &a.visit_id).cmp(&(&b.visitor_id, b.start, &b.visit_id))
    });
    visits
}

/// Naive visit boundaries: per visitor, rows with a visit id form one visit per id; the
/// others split where more than 30 minutes pass. Returns (visitor, start minute, events).
fn oracle(events: &[Ev]) -> Vec<(String, i64, usize)> {
    let mut by_visitor: BTreeMap<u8, Vec<&Ev>> = BTreeMap::new();
    for e in events {
        by_visitor.entry(e.visitor).or_default().push(e);
    }
    let mut out = Vec::new();
    for (v, mut evs) in by_visitor {
        evs.sort_by_key(|e| e.minute);
        let mut ids: BTreeMap<u8, (i64, usize)> = BTreeMap::new();
        let mut last: Option<i64> = None;
        for e in &evs {
            if let Some(id) = e.visit_id {
                let slot = ids.entry(id).or_insert((e.minute, 0));
                slot.0 = slot.0.min(e.minute);
                slot.1 += 1;
            } else {
                if last.is_none_or(|l| e.minute - l > 30) {
                    out.push((format!("visitor{v}"), e.minute, 0));
                }
                if let Some(o) = out.last_mut() {
                    o.2 += 1;
                }
                last = Some(e.minute);
            }
        }
        out.extend(ids.values().map(|(m, n)| (format!("visitor{v}"), *m, *n)));
    }
    out.sort();
    out
}

fn int(v: &VisitRecord, name: &str) -> i64 {
    v.dims
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, d)| match d {
            DimValue::Int(i) => Some(*i),
            _ => None,
        })
        .unwrap_or_else(|| panic!("visit lacks {name}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batching_and_order_do_not_change_visits(
        events in proptest::collection::vec(ev(), 1..40),
        assignment in proptest::collection::vec(0usize..4, 40),
        perm_seed in any::<u64>(),
    ) {
        let lines: Vec<String> = events.iter().map(json).collect();

        // One batch, input order.
        let one = import_batches(std::slice::from_ref(&lines));

        // Up to four batches, committed in a scrambled order, rows shuffled inside.
        let mut batches: Vec<Vec<String>> = vec![Vec::new(); 4];
        for (i, l) in lines.iter().enumerate() {
            batches[assignment[i]].push(l.clone());
        }
        let mut rng = perm_seed;
        let mut next = || { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (rng >> 33) as usize };
        for b in batches.iter_mut() {
            for i in (1..b.len()).rev() { let j = next() % (i + 1); b.swap(i, j); }
        }
        for i in (1..batches.len()).rev() { let j = next() % (i + 1); batches.swap(i, j); }
        let many = import_batches(&batches);
        prop_assert_eq!(&one, &many);

        // Reversed single batch.
        let mut rev = lines.clone();
        rev.reverse();
        let reversed = import_batches(&[rev]);
        prop_assert_eq!(&one, &reversed);

        // Visit boundaries and sizes match the naive oracle.
        let got: Vec<(String, i64, usize)> = {
            let mut g: Vec<_> = one.iter().map(|v| (v.visitor_id.clone(), (v.start - BASE_MS) / 60_000, v.events.len())).collect();
            g.sort();
            g
        };
        prop_assert_eq!(got, oracle(&events));

        // visitCount numbers each visitor's visits 1..n in start order.
        let mut per: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
        for v in &one {
            per.entry(&v.visitor_id).or_default().push((v.start, int(v, "visitCount")));
        }
        for (_, mut vs) in per {
            vs.sort();
            for (k, (_, c)) in vs.iter().enumerate() {
                prop_assert_eq!(*c, k as i64 + 1);
            }
        }
    }
}

/// A case the proptest above found: two conversions of one instant that both carry the
/// visit's country. A part keeps the country only on the event that supplied it, so
/// when a later batch brings the visitor back, the rows read back differ from the
/// input rows in that field; neither the order of the two conversions nor the visit's
/// values may change because of it.
#[test]
fn rows_of_one_instant_keep_their_order_and_values_across_batches() {
    let t = BASE_MS + 6 * 60_000;
    let goal_a = format!(
        r#"{{"ts":{t},"visitorId":"v","type":"goal","goalId":3,"countryCode":"c2","plan":"plan2"}}"#
    );
    let goal_b = format!(
        r#"{{"ts":{t},"visitorId":"v","type":"goal","goalId":1,"revenue":40.3,"countryCode":"c2","plan":"plan0"}}"#
    );
    // Same instant, different countries: the visit takes the smallest, whatever the
    // order or batching.
    let view_c = format!(
        r#"{{"ts":{t},"visitorId":"w","pageUrl":"https://ex.com/","countryCode":"fr","regionCode":"r9"}}"#
    );
    let view_d =
        format!(r#"{{"ts":{t},"visitorId":"w","pageUrl":"https://ex.com/","countryCode":"de"}}"#);
    let later = format!(
        r#"{{"ts":{},"visitorId":"v","pageUrl":"https://ex.com/x"}}"#,
        t + 60_000
    );
    let later_w = format!(
        r#"{{"ts":{},"visitorId":"w","pageUrl":"https://ex.com/y"}}"#,
        t + 60_000
    );
    let all = vec![
        goal_a.clone(),
        goal_b.clone(),
        view_c.clone(),
        view_d.clone(),
        later.clone(),
        later_w.clone(),
    ];
    let one = import_batches(std::slice::from_ref(&all));
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(one, import_batches(&[reversed]));
    assert_eq!(
        one,
        import_batches(&[vec![goal_b, goal_a, view_d, view_c], vec![later, later_w]])
    );
    let w = one.iter().find(|v| v.visitor_id == "w").unwrap();
    let dim = |n: &str| w.dims.iter().find(|(d, _)| d == n).map(|(_, v)| v.clone());
    assert_eq!(dim("countryCode"), Some(DimValue::Str("de".into())));
    assert_eq!(dim("regionCode"), Some(DimValue::Str("r9".into())));
}
