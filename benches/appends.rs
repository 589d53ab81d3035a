//! Appends and compaction: what an application logging events as they happen pays.
//!
//! `cargo bench --bench appends`. On a database that already holds 5,000 visitors of
//! `gen` data (one part), with the background compactor on, as an application runs it:
//!
//! - `appends/commit_50_events`: one durable commit of 50 events (the next 50 of a time-sorted
//!   stream of further visitors, returning visitors included);
//! - `appends/commit_1_event`: one durable commit of a single event;
//! - `appender/10k_events`: the first 10,000 events of further traffic (1,000 new
//!   visitors) appended through an `Appender` from one thread, then one commit, on a
//!   fresh copy of the base database each time (throughput: events per second);
//! - `compaction/compact_16_commits`: `Db::compact` of a database written by 16 commits of ~600 events (returning visitors move
//!   to the later parts, so 8 to 16 parts) (the
//!   setup, which builds the database, is not timed).
//!
//! The scenario figures (1,000 × 50 events, 10,000 single-event commits, parts, files,
//! bytes and query times against one import) come from `examples/appends.rs`
//! (`benches/compare/run appends`; docs/BENCHMARKS.md).

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use sightline::generate::{GenOptions, write_jsonl};
use sightline::{AppendOptions, Db, DbOptions};

/// `visitors` visitors of `gen` data (seed `seed`) as JSON lines sorted by time, as
/// an application would log them.
fn stream(visitors: u64, seed: u64) -> Vec<String> {
    let mut bytes = Vec::new();
    write_jsonl(
        &GenOptions {
            visitors,
            seed,
            ..GenOptions::default()
        },
        &mut bytes,
    )
    .expect("gen");
    let mut lines: Vec<(String, String)> = String::from_utf8(bytes)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("gen writes JSON");
            (v["ts"].as_str().unwrap_or("").to_string(), l.to_string())
        })
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, l)| l).collect()
}

/// A database holding `base` in one commit.
fn database(dir: &std::path::Path, base: &[String]) -> Db {
    let db = Db::create(dir, DbOptions::default()).expect("create");
    let mut tx = db.begin_write().expect("begin");
    for l in base {
        tx.append_json(l).expect("append");
    }
    tx.commit().expect("commit");
    db
}

fn bench_commits(c: &mut Criterion) {
    let base = stream(5000, 1);
    // Later traffic: the commits take its events in order (returning visitors of the
    // base and of earlier commits included), never the same event twice while it lasts.
    let more = stream(20_000, 2);
    let mut g = c.benchmark_group("appends");
    g.sample_size(30).measurement_time(Duration::from_secs(5));

    let dir = tempfile::tempdir().expect("tempdir");
    let db = database(dir.path(), &base);
    let mut next = more.iter().cycle();
    g.throughput(Throughput::Elements(50));
    g.bench_function("commit_50_events", |b| {
        b.iter(|| {
            let mut tx = db.begin_write().expect("begin");
            for l in next.by_ref().take(50) {
                tx.append_json(l).expect("append");
            }
            tx.commit().expect("commit")
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("commit_1_event", |b| {
        b.iter(|| {
            let mut tx = db.begin_write().expect("begin");
            tx.append_json(next.next().expect("cycle")).expect("append");
            tx.commit().expect("commit")
        })
    });
    g.finish();

    // Each iteration on a fresh copy of the base database (the setup is not timed), so
    // that the figure does not drift as the database grows.
    let traffic = stream(1000, 4);
    let traffic = &traffic[..traffic.len().min(10_000)];
    let mut g = c.benchmark_group("appender");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(traffic.len() as u64));
    g.bench_function("10k_events", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let db = database(dir.path(), &base);
                let appender = db.appender(AppendOptions::default()).expect("appender");
                (dir, db, appender)
            },
            |(dir, db, appender)| {
                for l in traffic {
                    appender.append_json(l).expect("append");
                }
                appender.commit().expect("commit");
                (dir, db, appender)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_compaction(c: &mut Criterion) {
    let events = stream(1000, 3);
    let per_commit = events.len().div_ceil(16);
    let mut g = c.benchmark_group("compaction");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("compact_16_commits", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let db = Db::builder()
                    .auto_compact(false)
                    .create(dir.path())
                    .expect("create");
                for chunk in events.chunks(per_commit) {
                    let mut tx = db.begin_write().expect("begin");
                    for l in chunk {
                        tx.append_json(l).expect("append");
                    }
                    tx.commit().expect("commit");
                }
                // Returning visitors move to later parts; most commits keep a part.
                assert!(db.snapshot().stats().expect("stats").parts >= 8);
                (dir, db)
            },
            |(dir, db)| {
                let c = db.compact().expect("compact");
                assert_eq!(c.parts_after, 1);
                (dir, db)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_commits, bench_compaction);
criterion_main!(benches);
