//! Every file operation of the storage layer goes through one small interface, [`Vfs`]:
//! directory listing, whole-file reads, memory maps, creating and writing a file, file
//! and directory fsync, rename, unlink and the writer lock. [`OsFs`] is the real file
//! system; [`SimFs`](super::sim::SimFs) is an in-memory one for tests, which records
//! every write and fsync, injects I/O errors (ENOSPC, EIO) and builds the states a
//! crash or a power loss can leave (`docs/testing.md`).
//!
//! The helpers below ([`write_temp`], [`publish`], [`sync_dir`], [`write_durable`] …)
//! are the storage layer's only callers of the interface; they turn OS errors into
//! [`Error::Io`] naming the operation and the file.

use std::fmt;
use std::fs::{self as stdfs, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::mmap::Backing;
use crate::error::{Error, Result};

/// Prefix of temporary files; anything with it is an orphan after a crash.
pub const TMP_PREFIX: &str = "tmp-";

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";

/// A file opened for writing by [`Vfs::create`].
pub trait VfsFile: Send {
    /// Appends all of `bytes` (a failure may leave part of them written).
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was written durable (`fsync`). A failure is final: the caller
    /// abandons the file, it never retries and then trusts the data.
    fn sync(&mut self) -> io::Result<()>;
}

/// Holds the writer lock until dropped.
pub type LockGuard = Box<dyn std::any::Any + Send + Sync>;

/// The file operations of the storage layer.
///
/// Writes are only ever made to new files (created under a temporary name, then
/// renamed): a published file is never modified, which is what makes memory maps safe.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Creates `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// True if `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Names of the entries of `dir` (any order).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The bytes of a whole file for reading in place (a read-only memory map).
    fn map(&self, path: &Path) -> io::Result<Backing>;
    /// Creates `path` (truncating a file already there) for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// Renames `from` to `to`, replacing `to`. Not durable until [`sync_dir`](Vfs::sync_dir).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file. Not durable until [`sync_dir`](Vfs::sync_dir).
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the renames, creations and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive writer lock of the database in `dir` without waiting:
    /// [`Error::Locked`] if another writer holds it.
    fn lock(&self, dir: &Path) -> Result<LockGuard>;
}

/// The real file system (`std::fs`, `memmap2`, `flock`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

/// The shared [`OsFs`] instance.
pub fn os() -> Arc<dyn Vfs> {
    static OS: OnceLock<Arc<dyn Vfs>> = OnceLock::new();
    OS.get_or_init(|| Arc::new(OsFs)).clone()
}

struct OsFile(File);

impl VfsFile for OsFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl Vfs for OsFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        stdfs::create_dir_all(dir)
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in stdfs::read_dir(dir)? {
            if let Some(n) = entry?.file_name().to_str() {
                names.push(n.to_string());
            }
        }
        Ok(names)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        stdfs::read(path)
    }
    fn map(&self, path: &Path) -> io::Result<Backing> {
        Backing::map(path)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(OsFile(f)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        stdfs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        stdfs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn lock(&self, dir: &Path) -> Result<LockGuard> {
        // An exclusive, non-blocking advisory lock on `<db>/LOCK`. The kernel releases it
        // when the holder dies, so a crash never leaves a stale lock; the file stays
        // empty, so taking the lock never changes a byte of the database.
        let path = dir.join(LOCK_FILE);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        match f.try_lock() {
            Ok(()) => Ok(Box::new(f)),
            Err(TryLockError::WouldBlock) => Err(Error::Locked { path }),
            Err(TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
        }
    }
}

/// Writes `bytes` to `dir/tmp-name` and fsyncs it; returns the temporary path. The file
/// is not visible under its final name until [`publish`]. Only the lock holder writes,
/// so an existing temporary file is a leftover of a crashed writer and is replaced (it is
/// never mapped: only published files are).
pub fn write_temp(vfs: &dyn Vfs, dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
    let mut f = vfs.create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    // A failed fsync is final for this commit: the caller abandons it (no retry).
    f.sync().map_err(|e| Error::io("fsync", &tmp, e))?;
    Ok(tmp)
}

/// Renames a synced temporary file to its final name (not yet durable: see [`sync_dir`]).
pub fn publish(vfs: &dyn Vfs, tmp: &Path, dir: &Path, name: &str) -> Result<PathBuf> {
    let dest = dir.join(name);
    vfs.rename(tmp, &dest)
        .map_err(|e| Error::io("rename", &dest, e))?;
    Ok(dest)
}

/// Makes renames and unlinks in `dir` durable.
pub fn sync_dir(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    vfs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Writes a file durably under `name`: temp, fsync, rename, fsync directory. On
/// failure the file may or may not be in place (the caller decides what to undo).
pub fn write_durable(vfs: &dyn Vfs, dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = write_temp(vfs, dir, name, bytes)?;
    let dest = publish(vfs, &tmp, dir, name)?;
    sync_dir(vfs, dir)?;
    Ok(dest)
}

/// Removes a file; a missing file is not an error.
pub fn remove(vfs: &dyn Vfs, path: &Path) -> Result<()> {
    match vfs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Reads a whole file.
pub fn read(vfs: &dyn Vfs, path: &Path) -> Result<Vec<u8>> {
    vfs.read(path).map_err(|e| Error::io("read", path, e))
}

/// Maps a whole file, which must be exactly `expected_len` bytes long (the manifest
/// records every file's length; any other length is damage).
pub fn map(vfs: &dyn Vfs, path: &Path, expected_len: u64) -> Result<Backing> {
    let data = vfs.map(path).map_err(|e| Error::io("map", path, e))?;
    if data.len() as u64 != expected_len {
        return Err(Error::corrupt(
            path,
            format!(
                "file is {} bytes, the manifest says {expected_len}",
                data.len()
            ),
        ));
    }
    Ok(data)
}

/// Names of the entries of `dir`, sorted.
pub fn list(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<String>> {
    let mut names = vfs.list(dir).map_err(|e| Error::io("list", dir, e))?;
    names.sort();
    Ok(names)
}
