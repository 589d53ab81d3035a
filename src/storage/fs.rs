//! Every file operation of the storage layer goes through here: durable publication of
//! a new file (write to a temporary name, fsync, rename, fsync the directory), removal,
//! and directory sync. Keeping them in one place is what lets the commit protocol be
//! audited and, later, lets tests substitute a recording or failing implementation.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Prefix of temporary files; anything with it is an orphan after a crash.
pub const TMP_PREFIX: &str = "tmp-";

/// Writes `bytes` to `dir/tmp-name` and fsyncs it; returns the temporary path. The file
/// is not visible under its final name until [`publish`]. Only the lock holder writes,
/// so an existing temporary file is a leftover of a crashed writer and is replaced (it is
/// never mapped: only published files are).
pub fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    // A failed fsync is final for this commit: the caller abandons it (no retry).
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    Ok(tmp)
}

/// Renames a synced temporary file to its final name (not yet durable: see [`sync_dir`]).
pub fn publish(tmp: &Path, dir: &Path, name: &str) -> Result<PathBuf> {
    let dest = dir.join(name);
    fs::rename(tmp, &dest).map_err(|e| Error::io("rename", &dest, e))?;
    Ok(dest)
}

/// Makes renames and unlinks in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Writes a file durably under `name`: temp, fsync, rename, fsync directory.
pub fn write_durable(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = write_temp(dir, name, bytes)?;
    let dest = publish(&tmp, dir, name)?;
    sync_dir(dir)?;
    Ok(dest)
}

/// Removes a file; a missing file is not an error.
pub fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io("read", path, e))
}

/// Names of the entries of `dir`.
pub fn list(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        if let Some(n) = entry.file_name().to_str() {
            names.push(n.to_string());
        }
    }
    names.sort();
    Ok(names)
}
