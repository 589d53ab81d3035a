//! Every derived visit dimension of `docs/ingest.md` on a hand-computed example.

use sightline::{Db, DbOptions};
use sightline::{DimValue, VisitRecord};

fn dim<'a>(v: &'a VisitRecord, name: &str) -> Option<&'a DimValue> {
    v.dims.iter().find(|(n, _)| n == name).map(|(_, d)| d)
}

fn s(v: &VisitRecord, name: &str) -> Option<String> {
    dim(v, name).map(|d| match d {
        DimValue::Str(s) => s.clone(),
        other => panic!("{name} is {other:?}"),
    })
}

fn i(v: &VisitRecord, name: &str) -> i64 {
    match dim(v, name) {
        Some(DimValue::Int(x)) => *x,
        other => panic!("{name} is {other:?}"),
    }
}

const ROWS: &[&str] = &[
    // Visitor u, visit 1 (rows deliberately out of order).
    r#"{"ts":"2026-01-05T10:07:00Z","visitorId":"u","type":"ecommerceOrder","revenue":20}"#,
    r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"u","pageUrl":"https://shop.example/a","pageTitle":"A","siteId":3}"#,
    r#"{"ts":"2026-01-05T10:05:00Z","visitorId":"u","pageUrl":"https://shop.example/b","pageTitle":"B","countryCode":"de","city":"Berlin"}"#,
    r#"{"ts":"2026-01-05T10:06:00Z","visitorId":"u","type":"ecommerceCart","countryCode":"fr"}"#,
    r#"{"ts":"2026-01-05T10:08:00Z","visitorId":"u","type":"ecommerceCart"}"#,
    // Visit 2: crosses midnight.
    r#"{"ts":"2026-01-07T23:50:00Z","visitorId":"u","pageUrl":"https://shop.example/c","pageTitle":"C"}"#,
    r#"{"ts":"2026-01-08T00:10:00Z","visitorId":"u","type":"event","eventCategory":"video","eventAction":"play"}"#,
    // Visit 3: an explicit visit id keeps a 4-hour gap in one visit.
    r#"{"ts":"2026-01-09T08:00:00Z","visitorId":"u","visitId":"x","pageUrl":"https://shop.example/d"}"#,
    r#"{"ts":"2026-01-09T12:00:00Z","visitorId":"u","visitId":"x","type":"goal","goalId":1,"revenue":5}"#,
    // Visitor w: a cart and nothing else.
    r#"{"ts":"2026-01-06T09:00:00.250Z","visitorId":"w","type":"ecommerceCart"}"#,
];

#[test]
fn derived_dimensions_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(dir.path(), DbOptions::default()).unwrap();
    let mut tx = db.begin_write().unwrap();
    for r in ROWS {
        tx.append_json(r).unwrap();
    }
    tx.commit().unwrap();
    let mut visits = db.snapshot().visits().unwrap();
    visits.sort_by(|a, b| (&a.visitor_id, a.start).cmp(&(&b.visitor_id, b.start)));
    assert_eq!(visits.len(), 4);
    let (v1, v2, v3, w) = (&visits[0], &visits[1], &visits[2], &visits[3]);

    assert_eq!(v1.events.len(), 5);
    assert_eq!(i(v1, "visitCount"), 1);
    assert_eq!(s(v1, "visitorType").as_deref(), Some("new"));
    assert_eq!(i(v1, "actions"), 2);
    assert_eq!(i(v1, "visitDuration"), 480);
    assert_eq!(
        (i(v1, "daysSinceFirstVisit"), i(v1, "daysSinceLastVisit")),
        (0, 0)
    );
    assert_eq!(
        s(v1, "entryPageUrl").as_deref(),
        Some("https://shop.example/a")
    );
    assert_eq!(
        s(v1, "exitPageUrl").as_deref(),
        Some("https://shop.example/b")
    );
    assert_eq!(s(v1, "entryPageTitle").as_deref(), Some("A"));
    assert_eq!(s(v1, "exitPageTitle").as_deref(), Some("B"));
    assert_eq!(i(v1, "visitConverted"), 1);
    assert_eq!(
        s(v1, "visitEcommerceStatus").as_deref(),
        Some("orderedThenAbandonedCart")
    );
    assert_eq!(
        (i(v1, "visitStartServerHour"), i(v1, "visitServerHour")),
        (10, 10)
    );
    // The earliest event with a value wins: de (10:05) over fr (10:06).
    assert_eq!(s(v1, "countryCode").as_deref(), Some("de"));
    assert_eq!(s(v1, "city").as_deref(), Some("Berlin"));
    assert_eq!(i(v1, "siteId"), 3);
    assert_eq!(v1.visit_id, "1767607200000");

    assert_eq!(i(v2, "visitCount"), 2);
    assert_eq!(s(v2, "visitorType").as_deref(), Some("returningCustomer"));
    assert_eq!(i(v2, "visitDuration"), 1200);
    assert_eq!(
        (i(v2, "daysSinceFirstVisit"), i(v2, "daysSinceLastVisit")),
        (2, 2)
    );
    assert_eq!(
        (i(v2, "visitStartServerHour"), i(v2, "visitServerHour")),
        (23, 0)
    );
    assert_eq!(i(v2, "visitConverted"), 0);
    assert_eq!(s(v2, "visitEcommerceStatus").as_deref(), Some("none"));
    assert_eq!(s(v2, "countryCode"), None);
    assert_eq!(i(v2, "siteId"), 1);

    assert_eq!(v3.visit_id, "x");
    assert_eq!(v3.events.len(), 2);
    assert_eq!(i(v3, "visitCount"), 3);
    assert_eq!(i(v3, "visitDuration"), 4 * 3600);
    assert_eq!(i(v3, "actions"), 1);
    assert_eq!(i(v3, "visitConverted"), 1);
    // 2026-01-09T08:00 − 2026-01-05T10:00 = 3 d 22 h; − 2026-01-07T23:50 = 1 d 8 h 10 min.
    assert_eq!(
        (i(v3, "daysSinceFirstVisit"), i(v3, "daysSinceLastVisit")),
        (3, 1)
    );
    assert_eq!(s(v3, "visitorType").as_deref(), Some("returningCustomer"));

    assert_eq!(i(w, "actions"), 0);
    assert_eq!(
        s(w, "visitEcommerceStatus").as_deref(),
        Some("abandonedCart")
    );
    assert_eq!(s(w, "entryPageUrl"), None);
    assert_eq!(i(w, "visitConverted"), 0);
    assert_eq!(s(w, "visitorType").as_deref(), Some("new"));

    let st = db.snapshot().stats().unwrap();
    assert_eq!(
        (
            st.events,
            st.visits,
            st.visitors,
            st.actions,
            st.conversions
        ),
        (10, 4, 2, 5, 2)
    );
    assert_eq!(st.revenue, 25.0);
    assert_eq!(st.first_event, Some(1_767_607_200_000));
}

#[test]
fn visit_timeout_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::create(
        dir.path(),
        DbOptions {
            visit_timeout_ms: 10 * 60 * 1000,
        },
    )
    .unwrap();
    let mut tx = db.begin_write().unwrap();
    for r in &ROWS[5..7] {
        tx.append_json(r).unwrap(); // 20 minutes apart
    }
    tx.commit().unwrap();
    assert_eq!(db.snapshot().stats().unwrap().visits, 2);
    drop(db);
    // The timeout belongs to the database: reopening keeps it.
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(db.snapshot().options().visit_timeout_ms, 10 * 60 * 1000);
}
