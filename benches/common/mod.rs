//! The database the query and analytics benchmarks run on.

use std::path::PathBuf;

use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, DbOptions, ImportOptions};

/// Visitors to generate: `SIGHTLINE_BENCH_VISITORS`, default 200,000 (≈ 2M events, the
/// reference size of the issues' targets).
pub fn visitors() -> u64 {
    std::env::var("SIGHTLINE_BENCH_VISITORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// `$SIGHTLINE_BENCH_DB` opened read-only if set (a database imported beforehand, to
/// skip the generation), else a fresh one imported from `gen --seed 1` in a temp dir
/// (kept alive by the returned guard).
pub fn database() -> (Db, Option<tempfile::TempDir>) {
    if let Some(dir) = std::env::var_os("SIGHTLINE_BENCH_DB") {
        let db = Db::open_read_only(&PathBuf::from(dir)).expect("open SIGHTLINE_BENCH_DB");
        return (db, None);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.jsonl");
    write_jsonl(
        &GenOptions {
            visitors: visitors(),
            seed: 1,
            ..GenOptions::default()
        },
        std::fs::File::create(&input).expect("create input"),
    )
    .expect("generate");
    let db = Db::create(&dir.path().join("db"), DbOptions::default()).expect("create");
    let mut tx = db.begin_write().expect("begin");
    tx.import_file(&input, &ImportOptions::default(), &|_| {})
        .expect("import");
    tx.commit().expect("commit");
    let _ = std::fs::remove_file(&input);
    (db, Some(dir))
}
