//! Appending from application code: events one at a time or in small batches, from
//! any number of threads, committed explicitly or automatically, with concurrent
//! commits sharing one commit (group commit).
//!
//! Events go into a shared buffer. [`Appender::commit`] makes everything appended
//! before it durable: the first caller to find no commit running takes the whole
//! buffer and commits it; callers arriving meanwhile wait, and their events go into the
//! next commit, which one of them leads — so under concurrency a single commit (and its
//! fsyncs) serves many callers. With [`AppendOptions`], a background thread also commits
//! every N events or T milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::db::{CommitSummary, Db};
use crate::error::{Error, Result, RowError};
use crate::event::Event;
use crate::ingest::parse::{self, Mode};
use crate::ingest::rows::Rows;

/// When an [`Appender`] commits on its own (besides [`Appender::commit`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOptions {
    /// Commit once this many events are pending.
    pub commit_every_events: Option<usize>,
    /// Commit once the oldest pending event has waited this long.
    pub commit_every: Option<Duration>,
}

/// Appends events to a database from any number of threads (cheap to clone; every
/// clone shares one buffer). Dropping the last clone commits what is pending (an error
/// then is lost: [`close`](Appender::close) returns it).
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// use std::time::Duration;
/// use sightline::{AppendOptions, Db, Event};
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::create(dir.path(), Default::default())?;
/// let appender = db.appender(AppendOptions {
///     commit_every_events: Some(10_000),
///     commit_every: Some(Duration::from_millis(200)),
/// })?;
/// for i in 0..100 {
///     appender.append(&Event::pageview(i * 1000, "visitor-1", "https://shop.example/"))?;
/// }
/// appender.commit()?; // durable from here on
/// assert_eq!(db.snapshot().stats()?.events, 100);
/// appender.close()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Appender {
    shared: Arc<Shared>,
    // Last field: dropped after `shared` has been released by this clone.
    _closer: Arc<Closer>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

struct Shared {
    db: Db,
    options: AppendOptions,
    state: Mutex<Pending>,
    /// Signalled when a commit ends, when the buffer reaches the event threshold, and
    /// when the appender closes.
    cond: Condvar,
}

struct Pending {
    rows: Rows,
    /// Events appended so far (the sequence number of the last one).
    appended: u64,
    /// Events known committed (all with a sequence number up to it).
    committed: u64,
    /// A commit is running (its leader holds the events taken from the buffer).
    committing: bool,
    /// Failed commits: the sequence numbers each covered (after `.0`, up to `.1`), and
    /// its error.
    failed: Vec<(u64, u64, String, crate::error::ErrorKind)>,
    /// When the oldest pending event was appended.
    oldest: Option<Instant>,
    /// Commits made (for tests of group commit).
    commits: u64,
    closing: bool,
}

/// Stops the background committer (committing what is pending) when the last clone of
/// the appender goes.
struct Closer {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Closer {
    fn drop(&mut self) {
        let _ = self.shared.close();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl Db {
    /// An [`Appender`] to this (writable) database.
    pub fn appender(&self, options: AppendOptions) -> Result<Appender> {
        if !self.is_writable() {
            return Err(Error::ReadOnly);
        }
        let snap = self.snapshot();
        let shared = Arc::new(Shared {
            db: self.clone(),
            options,
            state: Mutex::new(Pending {
                rows: Rows::with_schema(&snap.manifest().custom),
                appended: 0,
                committed: 0,
                committing: false,
                failed: Vec::new(),
                oldest: None,
                commits: 0,
                closing: false,
            }),
            cond: Condvar::new(),
        });
        let thread = (options.commit_every.is_some() || options.commit_every_events.is_some())
            .then(|| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name("sightline-appender".into())
                    .spawn(move || s.background())
                    .ok()
            })
            .flatten();
        Ok(Appender {
            _closer: Arc::new(Closer {
                shared: shared.clone(),
                thread: Mutex::new(thread),
            }),
            shared,
        })
    }
}

impl Appender {
    /// Appends a typed event (not durable until committed).
    pub fn append(&self, event: &Event) -> Result<()> {
        let rules = self.shared.db.write_rules();
        self.push(|rows, line| rows.push_event(event, &rules, "<append>", line))
    }

    /// Appends an event given as a JSON object in the input format.
    pub fn append_json(&self, line: &str) -> Result<()> {
        let mut raw = Vec::new();
        // The database's privacy settings as they are at this append.
        let rules = self.shared.db.write_rules();
        self.push(|rows, n| {
            parse::parse_json(line.as_bytes(), &mut raw)
                .and_then(|_| parse::push_raw(&raw, Mode::Json, &rules, rows, true))
                .map_err(|(field, reason)| RowError {
                    file: "<append>".into(),
                    line: n,
                    field,
                    reason,
                })
        })
    }

    fn push(&self, add: impl FnOnce(&mut Rows, u64) -> Result<(), RowError>) -> Result<()> {
        let s = &self.shared;
        let mut st = s.state.lock();
        if st.closing {
            return Err(Error::argument("appender", "the appender is closed"));
        }
        let n = st.appended + 1;
        add(&mut st.rows, n)?;
        st.appended = n;
        st.oldest.get_or_insert_with(Instant::now);
        let pending = (st.appended - st.committed) as usize;
        if s.options.commit_every_events.is_some_and(|e| pending >= e) {
            s.cond.notify_all();
        }
        Ok(())
    }

    /// Makes every event appended so far (by any thread) durable. Concurrent callers
    /// share commits. Fails if the commit holding this caller's events failed.
    pub fn commit(&self) -> Result<()> {
        let s = &self.shared;
        let target = s.state.lock().appended;
        s.commit_through(target)
    }

    /// Commits what is pending and stops the background committer; later appends fail.
    pub fn close(&self) -> Result<()> {
        self.shared.close()
    }

    /// Commits made by this appender so far (every clone's).
    pub fn commits(&self) -> u64 {
        self.shared.state.lock().commits
    }

    /// Events appended and not yet committed.
    pub fn pending(&self) -> u64 {
        let st = self.shared.state.lock();
        st.appended - st.committed
    }
}

impl Shared {
    /// Waits until every event up to `target` is committed, leading a commit when none
    /// runs. The error of a failed commit goes to every caller whose events it held.
    fn commit_through(&self, target: u64) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.committed >= target {
                let failure = st
                    .failed
                    .iter()
                    .find(|(from, to, _, _)| *from < target && target <= *to);
                return match failure {
                    Some((_, _, msg, kind)) => Err(failed_commit(msg, *kind)),
                    None => Ok(()),
                };
            }
            if st.committing {
                self.cond.wait(&mut st);
                continue;
            }
            // Lead: take the whole buffer (other callers' events too).
            st.committing = true;
            let from = st.committed;
            let upto = st.appended;
            let schema = st.rows.custom_names.clone();
            let rows = std::mem::replace(&mut st.rows, Rows::with_schema(&schema));
            st.oldest = None;
            drop(st);
            let result = self.db.commit_rows(rows);
            st = self.state.lock();
            st.committing = false;
            st.committed = upto;
            st.commits += 1;
            if let Err(e) = &result {
                // Kept for the callers waiting on these events (a bounded history).
                if st.failed.len() >= 1024 {
                    st.failed.remove(0);
                }
                st.failed.push((from, upto, e.to_string(), e.kind()));
            }
            self.cond.notify_all();
        }
    }

    fn close(&self) -> Result<()> {
        let target = {
            let mut st = self.state.lock();
            st.closing = true;
            self.cond.notify_all();
            st.appended
        };
        self.commit_through(target)
    }

    /// The background committer: commits when enough events are pending or the oldest
    /// has waited long enough; ends when the appender closes.
    fn background(&self) {
        let every = self.options.commit_every;
        loop {
            let target = {
                let mut st = self.state.lock();
                loop {
                    let pending = (st.appended - st.committed) as usize;
                    let due_count = self
                        .options
                        .commit_every_events
                        .is_some_and(|e| pending >= e);
                    let due_time = match (every, st.oldest) {
                        (Some(t), Some(o)) => o.elapsed() >= t,
                        _ => false,
                    };
                    if st.closing {
                        return;
                    }
                    if (due_count || due_time) && !st.committing && pending > 0 {
                        break st.appended;
                    }
                    let wait = match (every, st.oldest) {
                        (Some(t), Some(o)) => {
                            t.saturating_sub(o.elapsed()).max(Duration::from_millis(1))
                        }
                        (Some(t), None) => t,
                        (None, _) => Duration::from_secs(3600),
                    };
                    self.cond.wait_for(&mut st, wait);
                }
            };
            // An error here reaches the callers of `commit` whose events it held.
            let _ = self.commit_through(target);
        }
    }
}

/// The error of a failed commit, for each caller it concerned (the original error is
/// given to its leader's callers as text: errors are not clonable).
fn failed_commit(msg: &str, kind: crate::error::ErrorKind) -> Error {
    use crate::error::ErrorKind;
    let reason = format!("the commit holding these events failed: {msg}");
    match kind {
        ErrorKind::Io => Error::Io {
            op: "commit",
            path: std::path::PathBuf::new(),
            error: std::io::Error::other(reason),
        },
        ErrorKind::Corruption | ErrorKind::UnsupportedVersion => Error::Corruption {
            path: std::path::PathBuf::new(),
            reason,
        },
        ErrorKind::Usage | ErrorKind::Locked => Error::WritesRefused { reason },
        ErrorKind::InvalidInput => Error::argument("events", reason),
        _ => Error::internal(reason),
    }
}

impl Db {
    /// Commits `rows` (all new) as one transaction would.
    pub(crate) fn commit_rows(&self, rows: Rows) -> Result<CommitSummary> {
        let mut tx = self.begin_write()?;
        tx.set_rows(rows);
        tx.commit()
    }
}
