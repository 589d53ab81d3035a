//! The query worker pool: threads started once, woken through a crossbeam channel to
//! help with a batch of per-part jobs.
//!
//! The calling thread works through the batch itself and the pool's threads join in
//! when they wake, taking jobs from a shared counter. Waking a parked thread can cost
//! more than evaluating a selective segment on a part (on small VMs hundreds of
//! microseconds), so nothing waits for a helper that has not started: if the caller
//! finishes first it has simply done all the work. It then only waits for jobs already
//! running elsewhere.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam::channel::{Sender, unbounded};
use crossbeam::utils::Backoff;
use parking_lot::Mutex;

use crate::cancel::Stop;
use crate::error::{Error, Result};

/// A job of a batch: evaluates one part.
pub(super) type Job<R> = Box<dyn FnOnce() -> Result<R> + Send + 'static>;

trait Help: Send + Sync {
    fn help(&self);
}

struct Batch<R> {
    jobs: Vec<Mutex<Option<Job<R>>>>,
    results: Vec<Mutex<Option<Result<R>>>>,
    next: AtomicUsize,
    done: AtomicUsize,
    /// Checked before each job: a stopped batch skips the jobs not started yet.
    stop: Stop,
}

impl<R: Send> Help for Batch<R> {
    fn help(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            let (Some(job), Some(slot)) = (self.jobs.get(i), self.results.get(i)) else {
                return;
            };
            let r = match (job.lock().take(), self.stop.check()) {
                (Some(_), Err(stopped)) => Err(stopped),
                (Some(job), Ok(())) => catch_unwind(AssertUnwindSafe(job))
                    .unwrap_or_else(|_| Err(Error::internal("a query job panicked"))),
                (None, _) => Err(Error::internal("a query job ran twice")),
            };
            *slot.lock() = Some(r);
            self.done.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn pool() -> Option<&'static Sender<Arc<dyn Help>>> {
    static POOL: OnceLock<Option<Sender<Arc<dyn Help>>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let workers = crate::storage::worker_threads().saturating_sub(1);
        if workers == 0 {
            return None;
        }
        let (tx, rx) = unbounded::<Arc<dyn Help>>();
        for i in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sightline-query-{i}"))
                .spawn(move || {
                    for batch in rx {
                        batch.help();
                    }
                });
            if spawned.is_err() {
                return None;
            }
        }
        Some(tx)
    })
    .as_ref()
}

/// Parts holding fewer events than this together are evaluated by the calling thread
/// alone: waking a helper costs more than the work (tens to hundreds of microseconds on
/// small VMs, against about a nanosecond per event for a pass over a column).
const PARALLEL_EVENTS: u64 = 200_000;

/// Runs every job, in parallel where there are cores and the parts (`events` between
/// them) are worth it, and returns the results in job order; once `stop` says so, jobs
/// not started yet fail with its error instead of running (and a stopped batch fails
/// even with no job: an analysis of no part stops like any other).
pub(super) fn run_all<R: Send + 'static>(
    jobs: Vec<Job<R>>,
    events: u64,
    stop: &Stop,
) -> Result<Vec<R>> {
    stop.check()?;
    let n = jobs.len();
    let batch = Arc::new(Batch {
        jobs: jobs.into_iter().map(|j| Mutex::new(Some(j))).collect(),
        results: (0..n).map(|_| Mutex::new(None)).collect(),
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        stop: stop.clone(),
    });
    if n > 1
        && events >= PARALLEL_EVENTS
        && let Some(pool) = pool()
    {
        let helpers = (crate::storage::worker_threads() - 1).min(n - 1);
        for _ in 0..helpers {
            let _ = pool.send(batch.clone() as Arc<dyn Help>);
        }
    }
    batch.help();
    // Only jobs already running on a helper remain.
    let backoff = Backoff::new();
    while batch.done.load(Ordering::Acquire) < n {
        backoff.snooze();
    }
    batch
        .results
        .iter()
        .map(|slot| {
            slot.lock()
                .take()
                .unwrap_or_else(|| Err(Error::internal("a query job was lost")))
        })
        .collect()
}
