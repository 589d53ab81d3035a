//! Stopping analyses: a snapshot made with `with_cancel` or `with_deadline` answers
//! every analysis with `ErrorKind::Cancelled` / `ErrorKind::DeadlineExceeded` once its
//! token is cancelled or its deadline has passed — never with a partial answer — while
//! a token never cancelled and a deadline far away leave every answer unchanged. A
//! token cancelled from another thread ends a report running in a loop.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use sightline::generate::{GenOptions, write_jsonl};
use sightline::{
    CancelToken, CohortOptions, Db, DbOptions, Dialect, ErrorKind, FunnelOptions, ReportOptions,
    Snapshot, TimeRange,
};

/// A generated database of `visitors` visitors, committed in two parts.
fn database(visitors: u64) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::create(&dir.path().join("db"), DbOptions::default()).expect("create");
    let mut jsonl = Vec::new();
    let opts = GenOptions {
        visitors,
        seed: 7,
        ..GenOptions::default()
    };
    write_jsonl(&opts, &mut jsonl).expect("generate");
    let text = String::from_utf8(jsonl).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    // Two commits: two parts (visitors in both halves are rewritten into the second).
    let half = lines.len() / 2;
    for chunk in [&lines[..half], &lines[half..]] {
        let mut tx = db.begin_write().expect("begin");
        for l in chunk {
            tx.append_json(l).expect("append");
        }
        tx.commit().expect("commit");
    }
    (dir, db)
}

/// The answer of every analysis on `snap`, each as its `Debug` text or the error kind.
/// `base`: the same snapshot with nothing to stop it, which selects the visits the
/// analyses run on.
fn every_analysis(base: &Snapshot, snap: &Snapshot) -> Vec<Result<String, ErrorKind>> {
    let t = |r: sightline::Result<String>| r.map_err(|e| e.kind());
    let all = snap
        .compile("", Dialect::Default)
        .expect("the empty segment compiles");
    let cart = snap
        .compile("pageUrl=@cart", Dialect::Default)
        .expect("compiles");
    let range = TimeRange::ALL;
    let selection = base.select(&all, &range).expect("selection");
    vec![
        t(snap
            .query("countryCode==fr", &range)
            .map(|s| format!("{s:?}"))),
        t(snap.summary(&cart, &range).map(|s| format!("{s:?}"))),
        t(snap.select(&cart, &range).map(|s| format!("{s:?}"))),
        t(snap.summarize(&selection).map(|s| format!("{s:?}"))),
        t(snap.explain(&cart, &range).map(|s| format!("{s:?}"))),
        t(snap
            .report("visitorId", &selection, &ReportOptions::default())
            .map(|r| format!("{r:?}"))),
        t(snap
            .report("pageUrl", &selection, &ReportOptions { limit: Some(5) })
            .map(|r| format!("{r:?}"))),
        t(snap
            .funnel(
                &[all.clone(), cart.clone()],
                &selection,
                &FunnelOptions::visitor(7 * 86_400_000),
            )
            .map(|f| format!("{f:?}"))),
        t(snap
            .cohorts(&selection, &CohortOptions::default())
            .map(|c| format!("{c:?}"))),
        t(snap.visits().map(|v| format!("{v:?}"))),
        t(snap.visitor("no such visitor").map(|v| format!("{v:?}"))),
    ]
}

#[test]
fn a_cancelled_token_stops_every_analysis() {
    let (_dir, db) = database(300);
    let token = CancelToken::new();
    token.cancel();
    let base = db.snapshot();
    let answers = every_analysis(&base, &base.with_cancel(token));
    assert_eq!(answers.len(), 11);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a, &Err(ErrorKind::Cancelled), "analysis {i}");
    }
}

#[test]
fn a_past_deadline_stops_every_analysis() {
    let (_dir, db) = database(300);
    let base = db.snapshot();
    let answers = every_analysis(&base, &base.with_deadline(Instant::now()));
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a, &Err(ErrorKind::DeadlineExceeded), "analysis {i}");
    }
}

#[test]
fn an_unused_token_and_a_far_deadline_change_no_answer() {
    let (_dir, db) = database(300);
    let base = db.snapshot();
    let plain = every_analysis(&base, &base);
    assert!(plain.iter().all(Result::is_ok), "{plain:?}");
    let token = CancelToken::new();
    let watched = base
        .with_cancel(token.clone())
        .with_deadline(Instant::now() + Duration::from_secs(24 * 3600));
    assert_eq!(every_analysis(&base, &watched), plain);
    assert!(!token.is_cancelled());
    // The copy with a token does not stop the snapshot it was made from.
    token.cancel();
    assert_eq!(every_analysis(&base, &base), plain);
    assert!(
        every_analysis(&base, &watched)
            .iter()
            .all(|a| a == &Err(ErrorKind::Cancelled))
    );
}

#[test]
fn an_empty_database_stops_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::create(&dir.path().join("db"), DbOptions::default()).expect("create");
    let base = db.snapshot();
    let token = CancelToken::new();
    token.cancel();
    let answers = every_analysis(&base, &base.with_cancel(token));
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a, &Err(ErrorKind::Cancelled), "analysis {i}");
    }
}

#[test]
fn the_error_says_what_happened() {
    let (_dir, db) = database(20);
    let token = CancelToken::new();
    token.cancel();
    let err = db
        .snapshot()
        .with_cancel(token)
        .query("", &TimeRange::ALL)
        .unwrap_err();
    assert_eq!(err.to_string(), "cancelled");
    let err = db
        .snapshot()
        .with_deadline(Instant::now())
        .query("", &TimeRange::ALL)
        .unwrap_err();
    assert!(err.to_string().contains("deadline"), "{err}");
}

#[test]
fn a_token_cancelled_from_another_thread_ends_a_running_report() {
    let (_dir, db) = database(3000);
    let token = CancelToken::new();
    let snap = db.snapshot().with_cancel(token.clone());
    let all = snap.compile("", Dialect::Default).expect("compiles");
    let selection = snap.select(&all, &TimeRange::ALL).expect("select");
    let (started, running) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        // Reports by visitor and by page, again and again: only the token ends this.
        let mut reports = 0u64;
        loop {
            for by in ["visitorId", "pageUrl"] {
                match snap.report(by, &selection, &ReportOptions::default()) {
                    Ok(r) => assert!(!r.rows.is_empty()),
                    Err(e) => return (e.kind(), reports),
                }
                reports += 1;
                if reports == 1 {
                    let _ = started.send(());
                }
            }
        }
    });
    running.recv().expect("the worker ran a first report");
    token.cancel();
    let (kind, reports) = worker.join().expect("the worker does not panic");
    assert_eq!(kind, ErrorKind::Cancelled);
    assert!(reports >= 1);
}
