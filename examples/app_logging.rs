//! A web shop logging its traffic into sightline as it happens.
//!
//! ```sh
//! cargo run --release --example app_logging -- [--seconds N] [--threads N] [--db DIR]
//! ```
//!
//! Request-handler threads (default 4) serve simulated visitors for a few seconds
//! (default 3): every request appends a page view through one shared
//! [`Appender`], which commits on its own every 10,000 events or 200 ms; a request
//! that places an order appends the order and calls `commit()` before "responding",
//! so the order is durable when the customer sees the confirmation. Meanwhile a
//! dashboard thread asks the live database a question every 100 ms from a fresh
//! snapshot. At the end the example prints what happened: events, commits, the
//! durable-commit latency the order requests saw, the dashboard's query times, and the
//! parts on disk before and after the background compactor caught up.
//!
//! [`Appender`]: sightline::Appender

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sightline::{AppendOptions, Db, Event, EventType, TimeRange};

const PAGES: &[&str] = &[
    "https://shop.example/",
    "https://shop.example/mugs",
    "https://shop.example/mugs/rustic",
    "https://shop.example/teapots",
    "https://shop.example/cart",
    "https://shop.example/checkout",
];
const COUNTRIES: &[&str] = &["de", "fr", "us", "gb", "nl", "es"];

struct Args {
    seconds: u64,
    threads: u64,
    db: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 3,
        threads: 4,
        db: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--seconds" => a.seconds = value.parse().expect("--seconds N"),
            "--threads" => a.threads = value.parse().expect("--threads N"),
            "--db" => a.db = Some(value.into()),
            other => panic!("unknown argument {other} (--seconds N, --threads N, --db DIR)"),
        }
    }
    a
}

/// One request of a simulated visitor: a page view, and sometimes an order.
fn request(rng: &mut impl Rng, ts: i64, visitor: &str) -> (Event, Option<Event>) {
    let page = PAGES[rng.random_range(0..PAGES.len())];
    let mut view = Event::pageview(ts, visitor, page);
    view.country_code = Some(COUNTRIES[rng.random_range(0..COUNTRIES.len())].into());
    let order = (page.ends_with("/checkout") && rng.random_bool(0.3)).then(|| Event {
        ts: ts + 1,
        visitor_id: visitor.into(),
        kind: EventType::EcommerceOrder,
        revenue: Some(f64::from(rng.random_range(5..200u32))),
        ..Default::default()
    });
    (view, order)
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn main() -> sightline::Result<()> {
    let args = args();
    let tmp = std::env::temp_dir().join(format!("sightline-app-logging-{}", std::process::id()));
    let path = args.db.clone().unwrap_or(tmp.clone());
    let db = Db::builder().create_if_missing(true).open(&path)?;
    let appender = db.appender(AppendOptions {
        commit_every_events: Some(10_000),
        commit_every: Some(Duration::from_millis(200)),
    })?;
    let stop = AtomicBool::new(false);
    let clock = AtomicU64::new(0); // simulated milliseconds, shared by the handlers
    let start_ts = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let started = Instant::now();
    let (order_waits, dashboard) = std::thread::scope(|s| {
        let handlers: Vec<_> = (0..args.threads)
            .map(|t| {
                let (appender, stop, clock) = (appender.clone(), &stop, &clock);
                s.spawn(move || {
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(t);
                    let mut waits = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let ts = start_ts + clock.fetch_add(250, Ordering::Relaxed) as i64;
                        let visitor = format!("v{}", rng.random_range(0..20_000));
                        let (view, order) = request(&mut rng, ts, &visitor);
                        appender.append(&view)?;
                        if let Some(order) = order {
                            appender.append(&order)?;
                            let t0 = Instant::now();
                            appender.commit()?; // durable before the confirmation page
                            waits.push(t0.elapsed());
                        }
                    }
                    Ok::<_, sightline::Error>(waits)
                })
            })
            .collect();
        let db = &db;
        let stop_ref = &stop;
        let board = s.spawn(move || {
            let mut times = Vec::new();
            while !stop_ref.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let snap = db.snapshot();
                let q = snap.query("pageUrl=@/checkout;countryCode==de", &TimeRange::ALL)?;
                times.push(t0.elapsed());
                let _ = q.visits;
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok::<_, sightline::Error>(times)
        });
        std::thread::sleep(Duration::from_secs(args.seconds));
        stop.store(true, Ordering::Relaxed);
        let mut waits = Vec::new();
        for h in handlers {
            waits.extend(h.join().expect("handler thread")?);
        }
        Ok::<_, sightline::Error>((waits, board.join().expect("dashboard thread")?))
    })?;
    appender.close()?;
    let secs = started.elapsed().as_secs_f64();
    let stats = db.snapshot().stats()?;
    let parts_at_end = stats.parts;
    let t0 = Instant::now();
    db.compact_as_needed()?; // what the background compactor had left to do
    let settle = t0.elapsed().as_secs_f64();
    let after = db.snapshot().stats()?;
    println!(
        "{} events from {} threads in {secs:.1} s ({:.0} events/s), {} commits ({} orders committed durably before answering, median wait {:.2} ms)",
        stats.events,
        args.threads,
        stats.events as f64 / secs,
        appender.commits(),
        order_waits.len(),
        median_ms(order_waits),
    );
    println!(
        "dashboard: {} live queries, median {:.3} ms; parts {} at the last commit, {} after compaction caught up ({settle:.2} s); {} visits, revenue {:.0}",
        dashboard.len(),
        median_ms(dashboard),
        parts_at_end,
        after.parts,
        after.visits,
        after.revenue,
    );
    drop(db);
    if args.db.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}
