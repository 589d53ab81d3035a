//! An application that logs events as they happen, and what that does to the
//! database: the scenarios of `benches/compare/run appends` (docs/BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release --example appends -- [--visitors N] [--stream-visitors N] [--out DIR]
//! ```
//!
//! Generates a day-by-day stream of events (`sightline gen`, sorted by time, as an
//! application would see them) and writes it into databases under `DIR`:
//!
//! - `single`: everything in one commit (the reference);
//! - `batches`: 1,000 commits of ~50 events, appended through an [`Appender`] from one
//!   thread, each commit explicit, with the background compactor on;
//! - `singles`: the first 10,000 events, one durable commit each (and
//!   `singlesReference`, the same events in one commit);
//! - `stream`: a larger stream (`--stream-visitors`, default 50,000 visitors, about
//!   500,000 events) appended from one thread, the appender committing every 10,000
//!   events.
//!
//! Then prints one JSON document: for each database its parts, files and bytes (right
//! after the last commit, and once the compactor has caught up), the time the appends
//! took, and the median warm time of a set of segment queries (the databases take
//! turns, query by query). Also the time of one synced 4 KiB write on the same disk,
//! the unit every durable commit pays at least twice.
//!
//! [`Appender`]: sightline::Appender

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use sightline::generate::{GenOptions, write_jsonl};
use sightline::{AppendOptions, Db, DbOptions, TimeRange};

/// The segments timed on every database (warm, median of `RUNS`).
const SEGMENTS: &[&str] = &[
    "",
    "countryCode==de",
    "pageUrl=@/checkout",
    "pageUrl!@/cart",
    "visitCount>=3;visitDuration>600",
    "referrerType==search;deviceType==smartphone",
];
const RUNS: usize = 101;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// One database written by a scenario.
struct Written {
    name: &'static str,
    path: PathBuf,
    events: usize,
    commits: u64,
    /// Seconds from the first append to the last commit's return.
    secs: f64,
    /// Parts right after the last commit (before the compactor caught up).
    parts_at_last_commit: u64,
    /// Seconds `compact_as_needed` took afterwards (what the compactor had left).
    settle_secs: f64,
}

fn main() -> Fallible<()> {
    let mut visitors = 5000u64;
    let mut stream_visitors = 50_000u64;
    let mut out = PathBuf::from("target/appends");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--visitors" => visitors = value()?.parse()?,
            "--stream-visitors" => stream_visitors = value()?.parse()?,
            "--out" => out = value()?.into(),
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let fsync_ms = synced_write_ms(&out)?;
    let events = stream(visitors)?;
    let n = events.len().min(10_000);
    let written = [
        one_commit("single", &out, &events)?,
        batches(&out, &events)?,
        singles(&out, &events[..n])?,
        one_commit("singlesReference", &out, &events[..n])?,
    ];
    let warm = warm_times(&written.iter().map(|w| w.path.as_path()).collect::<Vec<_>>())?;
    let mut doc = serde_json::Map::new();
    doc.insert("events".into(), json!(events.len()));
    doc.insert("syncedWriteMs".into(), json!(fsync_ms));
    for (w, queries) in written.iter().zip(warm) {
        let mut d = describe(w)?;
        d["queries"] = queries;
        doc.insert(w.name.into(), d);
    }
    drop(events);
    let big = stream(stream_visitors)?;
    let s = streamed(&out, &big)?;
    doc.insert("stream".into(), describe(&s)?);
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// All of `events` in one commit.
fn one_commit(name: &'static str, out: &Path, events: &[String]) -> Fallible<Written> {
    let path = out.join(name);
    let t = Instant::now();
    let db = Db::create(&path, DbOptions::default())?;
    let mut tx = db.begin_write()?;
    for e in events {
        tx.append_json(e)?;
    }
    tx.commit()?;
    Ok(Written {
        name,
        events: events.len(),
        commits: 1,
        secs: t.elapsed().as_secs_f64(),
        parts_at_last_commit: db.snapshot().stats()?.parts,
        settle_secs: 0.0,
        path,
    })
}

/// 1,000 commits of ~50 events, explicit, through an appender.
fn batches(out: &Path, events: &[String]) -> Fallible<Written> {
    let per_commit = events.len().div_ceil(1000).max(1);
    let path = out.join("batches");
    let db = Db::create(&path, DbOptions::default())?;
    let appender = db.appender(AppendOptions::default())?;
    let t = Instant::now();
    for chunk in events.chunks(per_commit) {
        for e in chunk {
            appender.append_json(e)?;
        }
        appender.commit()?;
    }
    let secs = t.elapsed().as_secs_f64();
    appender.close()?;
    settled("batches", &db, path, events.len(), appender.commits(), secs)
}

/// One durable commit per event.
fn singles(out: &Path, events: &[String]) -> Fallible<Written> {
    let path = out.join("singles");
    let db = Db::create(&path, DbOptions::default())?;
    let appender = db.appender(AppendOptions::default())?;
    let t = Instant::now();
    for e in events {
        appender.append_json(e)?;
        appender.commit()?;
    }
    let secs = t.elapsed().as_secs_f64();
    appender.close()?;
    settled("singles", &db, path, events.len(), appender.commits(), secs)
}

/// A long stream from one thread, the appender committing every 10,000 events.
fn streamed(out: &Path, events: &[String]) -> Fallible<Written> {
    let path = out.join("stream");
    let db = Db::create(&path, DbOptions::default())?;
    let appender = db.appender(AppendOptions {
        commit_every_events: Some(10_000),
        commit_every: None,
    })?;
    let t = Instant::now();
    for e in events {
        appender.append_json(e)?;
    }
    appender.close()?; // commits the rest
    let secs = t.elapsed().as_secs_f64();
    settled("stream", &db, path, events.len(), appender.commits(), secs)
}

/// The scenario's figures once the compactor has nothing left to do.
fn settled(
    name: &'static str,
    db: &Db,
    path: PathBuf,
    events: usize,
    commits: u64,
    secs: f64,
) -> Fallible<Written> {
    let parts_at_last_commit = db.snapshot().stats()?.parts;
    let t = Instant::now();
    db.compact_as_needed()?;
    Ok(Written {
        name,
        path,
        events,
        commits,
        secs,
        parts_at_last_commit,
        settle_secs: t.elapsed().as_secs_f64(),
    })
}

/// Milliseconds of one 4 KiB write followed by fsync, median of 200, in `dir`.
fn synced_write_ms(dir: &Path) -> Fallible<f64> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let block = [7u8; 4096];
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    std::fs::remove_file(&path)?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// `sightline gen` events sorted by time: what an application sees, as JSON lines.
fn stream(visitors: u64) -> Fallible<Vec<String>> {
    let mut bytes = Vec::new();
    write_jsonl(
        &GenOptions {
            visitors,
            seed: 1,
            ..GenOptions::default()
        },
        &mut bytes,
    )?;
    let mut lines: Vec<(String, String)> = String::from_utf8(bytes)?
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            (v["ts"].as_str().unwrap_or("").to_string(), l.to_string())
        })
        .collect();
    lines.sort();
    Ok(lines.into_iter().map(|(_, l)| l).collect())
}

/// For each database, the median warm time of each of [`SEGMENTS`] (and its visits).
/// The databases take turns, query by query, so that a slow moment of the machine
/// falls on all of them alike.
fn warm_times(paths: &[&Path]) -> Fallible<Vec<Value>> {
    let snaps = paths
        .iter()
        .map(|p| Ok(Db::open_read_only(p)?.snapshot()))
        .collect::<Result<Vec<_>, sightline::Error>>()?;
    let mut out = vec![serde_json::Map::new(); snaps.len()];
    for s in SEGMENTS {
        let mut times = vec![Vec::with_capacity(RUNS); snaps.len()];
        for _ in 0..RUNS {
            for (snap, t) in snaps.iter().zip(times.iter_mut()) {
                let start = Instant::now();
                let _ = snap.query(s, &TimeRange::ALL)?;
                t.push(start.elapsed());
            }
        }
        for ((snap, mut t), o) in snaps.iter().zip(times).zip(out.iter_mut()) {
            t.sort();
            o.insert(
                (*s).into(),
                json!({
                    "visits": snap.query(s, &TimeRange::ALL)?.visits,
                    "warmMs": t[RUNS / 2].as_secs_f64() * 1000.0,
                }),
            );
        }
    }
    Ok(out.into_iter().map(Value::Object).collect())
}

/// Parts, files and bytes of a database, and how fast it was written.
fn describe(w: &Written) -> Fallible<Value> {
    let db = Db::open_read_only(&w.path)?;
    let stats = db.snapshot().stats()?;
    assert_eq!(stats.events, w.events as u64, "{}", w.path.display());
    let files = std::fs::read_dir(&w.path)?.count();
    let dir_bytes: u64 = std::fs::read_dir(&w.path)?
        .map(|e| Ok(e?.metadata()?.len()))
        .sum::<std::io::Result<u64>>()?;
    Ok(json!({
        "path": w.path.display().to_string(),
        "events": w.events,
        "commits": w.commits,
        "seconds": w.secs,
        "commitsPerSecond": w.commits as f64 / w.secs.max(1e-9),
        "eventsPerSecond": w.events as f64 / w.secs.max(1e-9),
        "partsAtLastCommit": w.parts_at_last_commit,
        "settleSeconds": w.settle_secs,
        "parts": stats.parts,
        "files": files,
        "bytes": stats.bytes,
        "directoryBytes": dir_bytes,
    }))
}
