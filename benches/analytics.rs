//! Analytics benchmarks on a database built from `gen`: reports, funnels, cohorts and a
//! visitor profile, each from a fresh selection of every visit (the selection itself is
//! part of the measured time, as in the CLI).
//!
//! `cargo bench --bench analytics`. The dataset follows `SIGHTLINE_BENCH_VISITORS`
//! (default 200,000 visitors ≈ 2M events, the reference size), or
//! `SIGHTLINE_BENCH_DB=DIR` reuses a database already imported there (for example by
//! `sightline gen --visitors 200000 --seed 1 -o e.jsonl && sightline import --db DIR
//! e.jsonl`). Timings are warm: each analysis runs once before measuring, so per-part
//! in-memory indexes are built.

mod common;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sightline::DEFAULT_VISITOR_WINDOW_MS;
use sightline::{
    CohortOptions, CompiledSegment, Dialect, FunnelOptions, Period, ReportOptions, Snapshot,
    TimeRange,
};

fn compile(snap: &Snapshot, text: &str) -> CompiledSegment {
    snap.compile(text, Dialect::Default).expect("compile")
}

fn bench_analytics(c: &mut Criterion) {
    let (db, _keep) = common::database();
    let snap = db.snapshot();
    let stats = snap.stats().expect("stats");
    eprintln!(
        "analytics bench: {} events, {} visits, {} parts",
        stats.events, stats.visits, stats.parts
    );
    let all = compile(&snap, "");
    let select = || snap.select(&all, &TimeRange::ALL).expect("select");

    let mut group = c.benchmark_group("analytics");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));

    for (name, dim) in [
        ("report_country", "countryCode"),
        ("report_page_url", "pageUrl"),
    ] {
        let opts = ReportOptions { limit: Some(20) };
        let warm = snap.report(dim, &select(), &opts).expect("report");
        eprintln!("{name}: {} rows shown", warm.rows.len());
        group.bench_function(name, |b| {
            b.iter(|| snap.report(dim, &select(), &opts).expect("report"))
        });
    }

    let in_visit: Vec<CompiledSegment> = [
        "pageUrl==shop.example/cart",
        "pageUrl==shop.example/checkout",
        "pageUrl==shop.example/payment",
        "pageUrl==shop.example/thank-you",
    ]
    .iter()
    .map(|s| compile(&snap, s))
    .collect();
    let visitor_steps: Vec<CompiledSegment> = [
        "pageUrl=@/product/",
        "pageUrl==shop.example/cart",
        "visitConvertedGoalId==0",
    ]
    .iter()
    .map(|s| compile(&snap, s))
    .collect();
    let funnels = [
        ("funnel_visit_4_steps", &in_visit, FunnelOptions::visit()),
        (
            "funnel_visitor_3_steps_7d",
            &visitor_steps,
            FunnelOptions::visitor(DEFAULT_VISITOR_WINDOW_MS),
        ),
    ];
    for (name, steps, opts) in funnels {
        let warm = snap.funnel(steps, &select(), &opts).expect("funnel");
        let counts: Vec<u64> = warm.steps.iter().map(|s| s.count).collect();
        eprintln!("{name}: counts {counts:?}");
        group.bench_function(name, |b| {
            b.iter(|| snap.funnel(steps, &select(), &opts).expect("funnel"))
        });
    }

    let weekly = CohortOptions {
        period: Period::Week,
        periods: 12,
        end_ms: None,
    };
    let warm = snap.cohorts(&select(), &weekly).expect("cohorts");
    eprintln!("cohorts_weekly: {} cohorts", warm.cohorts.len());
    group.bench_function("cohorts_weekly", |b| {
        b.iter(|| snap.cohorts(&select(), &weekly).expect("cohorts"))
    });

    // A visitor near the end of the id order, so in the last part (looked up through
    // every part).
    let ids = snap
        .dimension_values("visitorId", "vf", 1)
        .expect("visitor ids");
    let id = ids.values.first().expect("a visitor").clone();
    let warm = snap.visitor(&id).expect("profile").expect("visitor exists");
    eprintln!("visitor_profile: {id}, {} visits", warm.totals.visits);
    group.bench_function("visitor_profile", |b| {
        b.iter(|| snap.visitor(&id).expect("profile"))
    });
    group.finish();
}

criterion_group!(benches, bench_analytics);
criterion_main!(benches);
