//! Retention purges (`Db::purge_before`, `docs/privacy.md`): visits that started before
//! the cut-off are removed; every remaining visit keeps exactly the values it had —
//! `visitCount`, `visitorType`, `daysSinceFirstVisit` and `daysSinceLastVisit` still
//! count the purged visits — and so do the visitor's later visits, through later
//! commits and compactions. Checked against the same history never purged (its visits
//! from the cut-off on), on random data (proptest), and against the scan oracle.

use proptest::prelude::*;
use sightline::testing::scan;
use sightline::{Db, Dialect, Event, EventType, TimeRange, VisitRecord};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn visits(db: &Db) -> Vec<VisitRecord> {
    let mut v = db.snapshot().visits().expect("visits");
    v.sort_by(|a, b| (&a.visitor_id, a.start).cmp(&(&b.visitor_id, b.start)));
    v
}

fn commit(db: &Db, events: &[Event]) {
    let mut tx = db.begin_write().unwrap();
    for e in events {
        tx.append(e).unwrap();
    }
    tx.commit().unwrap();
}

fn open(dir: &std::path::Path) -> Db {
    Db::builder().auto_compact(false).create(dir).unwrap()
}

/// An event: visitor `v`, at hour `h` after T0, a page view or (`order`) an order.
fn event(v: u8, h: u32, order: bool) -> Event {
    let ts = T0 + i64::from(h) * HOUR + i64::from(v);
    let id = format!("v{v}");
    if order {
        let mut e = Event::pageview(ts, &id, "/checkout");
        e.kind = EventType::EcommerceOrder;
        e.revenue = Some(10.0);
        e
    } else {
        Event::pageview(ts, &id, &format!("/p{}", h % 3))
    }
}

/// The summaries of a few segments, each checked against the scan oracle.
fn summaries(db: &Db) -> Vec<String> {
    let snap = db.snapshot();
    [
        "",
        "visitCount>=3",
        "visitorType==returningCustomer",
        "daysSinceLastVisit>=1",
    ]
    .iter()
    .map(|s| {
        let seg = snap.compile(s, Dialect::Default).unwrap();
        let got = snap.summary(&seg, &TimeRange::ALL).unwrap();
        assert_eq!(
            got,
            scan::summary(&snap, &seg, &TimeRange::ALL).unwrap(),
            "{s}"
        );
        format!("{got:?}")
    })
    .collect()
}

/// Commits `batches` into a fresh database, purging before `cutoff` after commit
/// `purge_after`; and into another one, never purged. The first's visits must be the
/// second's that started at or after the cut-off, after each later commit and after a
/// compaction — but for the visitors the purge removed entirely: they are forgotten
/// (their ids too), so their later visits are those of a database that only ever saw
/// their later events.
fn check(batches: &[Vec<Event>], purge_after: usize, cutoff: i64) -> Result<(), TestCaseError> {
    let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
    let (purged, whole, fresh) = (
        open(dirs[0].path()),
        open(dirs[1].path()),
        open(dirs[2].path()),
    );
    let mut forgotten = std::collections::BTreeSet::new();
    let expected = |forgotten: &std::collections::BTreeSet<String>| -> Vec<VisitRecord> {
        let mut v: Vec<VisitRecord> = visits(&whole)
            .into_iter()
            .filter(|v| v.start >= cutoff && !forgotten.contains(&v.visitor_id))
            .chain(visits(&fresh))
            .collect();
        v.sort_by(|a, b| (&a.visitor_id, a.start).cmp(&(&b.visitor_id, b.start)));
        v
    };
    for (k, batch) in batches.iter().enumerate() {
        commit(&purged, batch);
        commit(&whole, batch);
        if k > purge_after {
            let theirs: Vec<Event> = batch
                .iter()
                .filter(|e| forgotten.contains(&e.visitor_id))
                .cloned()
                .collect();
            if !theirs.is_empty() {
                commit(&fresh, &theirs);
            }
        }
        if k == purge_after {
            let before = visits(&purged);
            let left: std::collections::BTreeSet<String> = before
                .iter()
                .filter(|v| v.start >= cutoff)
                .map(|v| v.visitor_id.clone())
                .collect();
            forgotten = before
                .iter()
                .map(|v| v.visitor_id.clone())
                .filter(|id| !left.contains(id))
                .collect();
            let expired = before.iter().filter(|v| v.start < cutoff).count();
            let out = purged.purge_before(cutoff, false).unwrap();
            prop_assert_eq!(out.visits as usize, expired);
        }
        if k >= purge_after {
            prop_assert_eq!(visits(&purged), expected(&forgotten), "after commit {}", k);
        }
    }
    purged.compact().unwrap();
    prop_assert_eq!(visits(&purged), expected(&forgotten), "after compaction");
    summaries(&purged);
    Ok(())
}

fn batches() -> impl Strategy<Value = Vec<Vec<Event>>> {
    let ev = (0u8..6, 0u32..24 * 12, prop::bool::weighted(0.15))
        .prop_map(|(v, h, order)| event(v, h, order));
    prop::collection::vec(prop::collection::vec(ev, 1..25), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn remaining_and_later_visits_keep_counting_the_purged_ones(
        batches in batches(),
        purge_after in 0usize..3,
        cutoff_hour in 0i64..24 * 12,
    ) {
        let purge_after = purge_after.min(batches.len() - 1);
        // Later commits bring later events (a fortnight on): an old event arriving
        // after a purge would be stored, and one within a purged visit's timeout
        // would start a visit of its own instead of extending the purged one.
        let batches: Vec<Vec<Event>> = batches
            .into_iter()
            .enumerate()
            .map(|(k, b)| {
                b.into_iter()
                    .map(|mut e| {
                        if k > purge_after {
                            e.ts += 14 * DAY;
                        }
                        e
                    })
                    .collect()
            })
            .collect();
        check(&batches, purge_after, T0 + cutoff_hour * HOUR)?;
    }
}

#[test]
fn a_returning_visitor_keeps_its_visit_count_and_customer_status() {
    let day = |d: i64, v: &str| Event::pageview(T0 + d * DAY, v, "/");
    let mut order = Event::pageview(T0 + DAY + 60_000, "ann", "/checkout");
    order.kind = EventType::EcommerceOrder;
    order.revenue = Some(25.0);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (purged, whole) = (open(a.path()), open(b.path()));
    let history = vec![
        day(0, "ann"),
        day(1, "ann"),
        order,
        day(5, "ann"),
        day(5, "bob"),
    ];
    for db in [&purged, &whole] {
        commit(db, &history);
    }
    let out = purged.purge_before(T0 + 3 * DAY, false).unwrap();
    assert_eq!((out.visitors, out.visits, out.events), (1, 2, 3));
    commit(&purged, &[day(9, "ann")]);
    commit(&whole, &[day(9, "ann")]);
    let ann = purged.snapshot().visitor("ann").unwrap().unwrap();
    assert_eq!(ann.visits.len(), 2);
    let dims = |r: &VisitRecord| format!("{:?}", r.dims);
    let last = visits(&purged)
        .into_iter()
        .find(|v| v.start == T0 + 9 * DAY)
        .unwrap();
    assert!(
        dims(&last).contains("\"visitCount\", Int(4)"),
        "{}",
        dims(&last)
    );
    assert!(dims(&last).contains("returningCustomer"), "{}", dims(&last));
    assert!(
        dims(&last).contains("\"daysSinceFirstVisit\", Int(9)"),
        "{}",
        dims(&last)
    );
    let kept: Vec<VisitRecord> = visits(&whole)
        .into_iter()
        .filter(|v| v.start >= T0 + 3 * DAY)
        .collect();
    assert_eq!(visits(&purged), kept);
}

#[test]
fn parts_whose_visits_all_expired_are_dropped_without_rewriting() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    commit(
        &db,
        &(0..50)
            .map(|v| event(v, v as u32 % 24, false))
            .collect::<Vec<_>>(),
    );
    commit(
        &db,
        &(60..90)
            .map(|v| event(v, 24 * 6, false))
            .collect::<Vec<_>>(),
    );
    assert_eq!(db.snapshot().stats().unwrap().parts, 2);
    let dry = db.purge_before(T0 + 3 * DAY, true).unwrap();
    assert_eq!(
        (dry.visits, dry.parts_dropped, dry.parts_rewritten),
        (50, 0, 0)
    );
    let out = db.purge_before(T0 + 3 * DAY, false).unwrap();
    assert_eq!((out.visitors, out.visits), (50, 50));
    assert_eq!(
        (out.parts_dropped, out.parts_rewritten, out.bytes_written),
        (1, 0, 0)
    );
    let stats = db.snapshot().stats().unwrap();
    assert_eq!((stats.parts, stats.visits), (1, 30));
    let again = db.purge_before(T0 + 3 * DAY, false).unwrap();
    assert_eq!((again.visits, again.parts_dropped), (0, 0));
}
