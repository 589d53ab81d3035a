//! Ingest benchmarks: end-to-end JSON Lines import (parse, sessionise, build parts,
//! fsync, commit) and reading back totals.
//!
//! `cargo bench --bench ingest`. The dataset size follows `SIGHTLINE_BENCH_VISITORS`
//! (default 20,000 visitors ≈ 200k events); the 2M-event figure uses 200,000.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, DbOptions, ImportOptions};

fn visitors() -> u64 {
    std::env::var("SIGHTLINE_BENCH_VISITORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn bench_import(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.jsonl");
    let summary = write_jsonl(
        &GenOptions {
            visitors: visitors(),
            seed: 1,
            ..GenOptions::default()
        },
        std::fs::File::create(&input).expect("create input"),
    )
    .expect("generate");
    let mut group = c.benchmark_group("ingest");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(summary.events));
    let mut round = 0u64;
    group.bench_function("import_jsonl", |b| {
        b.iter(|| {
            round += 1;
            let db_dir = dir.path().join(format!("db{round}"));
            let db = Db::create(&db_dir, DbOptions::default()).expect("create");
            let mut tx = db.begin_write().expect("begin");
            tx.import_file(&input, &ImportOptions::default(), &|_| {})
                .expect("import");
            let s = tx.commit().expect("commit");
            drop(db);
            let _ = std::fs::remove_dir_all(&db_dir);
            s.events
        })
    });
    group.finish();

    let db_dir = dir.path().join("stats");
    let db = Db::create(&db_dir, DbOptions::default()).expect("create");
    let mut tx = db.begin_write().expect("begin");
    tx.import_file(&input, &ImportOptions::default(), &|_| {})
        .expect("import");
    tx.commit().expect("commit");
    c.bench_function("open_read_only_and_stats", |b| {
        b.iter(|| {
            Db::open_read_only(&db_dir)
                .expect("open")
                .snapshot()
                .stats()
                .expect("stats")
                .events
        })
    });
}

criterion_group!(benches, bench_import);
criterion_main!(benches);
