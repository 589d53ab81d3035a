//! Stopping a long analysis: a [`CancelToken`] another thread sets, and a deadline.
//!
//! A snapshot made with [`Snapshot::with_cancel`](crate::Snapshot::with_cancel) or
//! [`Snapshot::with_deadline`](crate::Snapshot::with_deadline) carries a [`Stop`], which
//! the engine checks cooperatively: before each part's job, and inside the loops over
//! visits or rows every [`CHECK_EVERY`] iterations (a relaxed atomic load, and a clock
//! read when there is a deadline). A stopped analysis returns
//! [`Error::Cancelled`] or [`Error::DeadlineExceeded`], never a partial answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};

/// Loops over visits or rows check for a stop once every this many iterations: often
/// enough to stop within a millisecond or so, rarely enough to cost nothing measurable.
pub(crate) const CHECK_EVERY: usize = 4096;

/// A cancellation flag shared between the thread running an analysis and any thread
/// that may want to stop it. Cloning is cheap (an `Arc`), and every clone sees the same
/// flag; once cancelled, a token stays cancelled.
///
/// ```
/// let token = sightline::CancelToken::new();
/// let other = token.clone();
/// assert!(!token.is_cancelled());
/// other.cancel();
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks every analysis watching this token to stop. Safe to call from any thread,
    /// any number of times; it only sets a flag (so a signal handler's thread may call
    /// it too).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called on this token or a clone of it.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What may stop an analysis: a token and a deadline, either or both absent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    pub token: Option<CancelToken>,
    pub deadline: Option<Instant>,
    /// Unit tests only: checks left before this stops by itself (it counts the checks
    /// an analysis makes).
    #[cfg(test)]
    pub checks_left: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl Stop {
    /// Never stops.
    pub const NEVER: Stop = Stop {
        token: None,
        deadline: None,
        #[cfg(test)]
        checks_left: None,
    };

    /// `Err` once the token is cancelled or the deadline has passed.
    pub fn check(&self) -> Result<()> {
        #[cfg(test)]
        if let Some(left) = &self.checks_left
            && left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_err()
        {
            return Err(Error::Cancelled);
        }
        if let Some(t) = &self.token
            && t.is_cancelled()
        {
            return Err(Error::Cancelled);
        }
        if let Some(d) = self.deadline
            && Instant::now() >= d
        {
            return Err(Error::DeadlineExceeded);
        }
        Ok(())
    }

    /// [`check`](Self::check) on every [`CHECK_EVERY`]th value of a loop counter `i`
    /// (from 0: the first iteration checks).
    #[inline]
    pub fn every(&self, i: usize) -> Result<()> {
        if i.is_multiple_of(CHECK_EVERY) {
            self.check()
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_stop_reports_the_token_before_the_deadline() {
        assert!(Stop::NEVER.check().is_ok());
        let token = CancelToken::new();
        let stop = Stop {
            token: Some(token.clone()),
            deadline: Some(Instant::now() + Duration::from_secs(3600)),
            ..Stop::NEVER
        };
        assert!(stop.check().is_ok());
        token.cancel();
        assert!(matches!(stop.check(), Err(Error::Cancelled)));
        let late = Stop {
            deadline: Some(Instant::now()),
            ..Stop::NEVER
        };
        assert!(matches!(late.check(), Err(Error::DeadlineExceeded)));
        // Between checks, a loop goes on.
        assert!(late.every(1).is_ok());
        assert!(late.every(CHECK_EVERY).is_err());
    }
}
