//! Query benchmarks on a database built from `gen`: parsing alone (each dialect),
//! parse + compile, bitmap evaluation alone (`select`: the selected visits as bitmaps),
//! and whole queries (select + summary).
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
use sightline::TimeRange;
use sightline::parse_segment as parse;

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
        snap.stats().expect("stats").parts
    );

    let mut group = c.benchmark_group("query");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    // Parsing alone: a mixed segment in the default dialect, the same as Matomo stores
    // it (URL-encoded values), and as an API parameter (encoded once more).
    for (name, text, dialect) in [
        (
            "parse_default",
            "countryCode==de;deviceType==smartphone,deviceType==tablet;visitCount>1;pageUrl=@/checkout",
            Dialect::Default,
        ),
        (
            "parse_matomo",
            "countryCode==de;deviceType==smartphone,deviceType==tablet;visitCount>1;pageUrl=@%252Fcheckout",
            Dialect::Matomo,
        ),
        (
            "parse_matomo_url",
            "countryCode%3D%3Dde%3BdeviceType%3D%3Dsmartphone%2CdeviceType%3D%3Dtablet%3BvisitCount%3E1",
            Dialect::MatomoUrl,
        ),
    ] {
        parse(text, dialect).expect("parse");
        group.bench_function(name, |b| b.iter(|| parse(text, dialect).expect("parse")));
    }
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
        // Bitmap evaluation alone: the selection, without the summary.
        group.bench_function(format!("{name}_select"), |b| {
            b.iter(|| snap.select(&compiled, &TimeRange::ALL).expect("select"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_query);
criterion_main!(benches);
