//! The writer lock: an exclusive, non-blocking advisory lock on `<db>/LOCK`.
//!
//! The kernel releases it when the holder dies, so a crash never leaves a stale lock.
//! The holder writes its pid into the file, for the error message only.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";

/// Takes the writer lock of the database in `dir`, or fails at once with
/// [`Error::Locked`].
pub fn acquire(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut s = String::new();
            let _ = f.read_to_string(&mut s);
            let holder = s
                .trim()
                .parse::<u32>()
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default();
            return Err(Error::Locked { path, holder });
        }
        Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
    }
    // Best effort: the pid is informative only.
    let _ = f
        .set_len(0)
        .and_then(|_| f.seek(SeekFrom::Start(0)))
        .and_then(|_| write!(f, "{}", std::process::id()));
    Ok(f)
}
