//! Query benchmarks: parse + compile, and segment evaluation (select + summary) on a
//! database built from `gen`.
//!
//! `cargo bench --bench query`. The dataset size follows `SIGHTLINE_BENCH_VISITORS`
//! (default 200,000 visitors ≈ 2M events, the reference size), or
//! `SIGHTLINE_BENCH_DB=DIR` reuses a database already imported there. Timings are
//! warm: each segment runs once before measuring, so the per-part in-memory indexes
//! (bit-sliced numeric indexes, row offsets) are built.

use std::time::Duration;

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use sightline::Dialect;
use sightline::exec::TimeRange;

/// (benchmark name, segment).
const SEGMENTS: &[(&str, &str)] = &[
    ("visit_eq", "countryCode==de"),
    (
        "and3",
        "countryCode==us;deviceType==smartphone;visitCount>1",
    ),
    ("action_contains", "pageUrl=@/checkout"),
    ("negation", "pageUrl!@/cart"),
    ("regex", "pageTitle=~^(Rustic|Compact) "),
];

fn bench_query(c: &mut Criterion) {
    let (db, _keep) = common::database();
    let snap = db.snapshot();
    eprintln!(
        "query bench: {} events, {} parts",
        snap.stats().expect("stats").events,
        snap.parts().len()
    );

    let mut group = c.benchmark_group("query");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("parse_compile", |b| {
        b.iter(|| {
            snap.compile(
                "countryCode==de;deviceType==smartphone,deviceType==tablet;visitCount>1;pageUrl=@/checkout",
                Dialect::Default,
            )
            .expect("compile")
        })
    });
    for (name, segment) in SEGMENTS {
        let compiled = snap.compile(segment, Dialect::Default).expect("compile");
        let warm = snap
            .summarize(&snap.select(&compiled, &TimeRange::ALL).expect("select"))
            .expect("summarize");
        eprintln!("{name}: `{segment}` selects {} visits", warm.visits);
        group.bench_function(*name, |b| {
            b.iter(|| {
                let sel = snap.select(&compiled, &TimeRange::ALL).expect("select");
                snap.summarize(&sel).expect("summarize")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_query);
criterion_main!(benches);
