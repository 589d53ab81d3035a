//! The writer lock: an exclusive, non-blocking advisory lock on `<db>/LOCK`.
//!
//! The kernel releases it when the holder dies, so a crash never leaves a stale lock.
//! The file stays empty: taking the lock never changes a byte of the database.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::{Error, Result};

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";

/// Takes the writer lock of the database in `dir`, or fails at once with
/// [`Error::Locked`].
pub fn acquire(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
    }
}
