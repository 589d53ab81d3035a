//! Every file operation of the storage layer goes through one small interface: a
//! [`Vfs`] opens directories, and a [`VfsDir`] — a handle on one open directory — does
//! everything inside it: listing, whole-file reads, memory maps, creating and writing a
//! file, file and directory fsync, no-replace rename, unlink and the writer lock.
//! [`OsFs`] is the real file system; [`SimFs`](super::sim::SimFs) is an in-memory one
//! for tests, which records every write and fsync, injects I/O errors (ENOSPC, EIO, on
//! writes and on reads) and builds the states a crash or a power loss can leave
//! (`docs/testing.md`).
//!
//! **Why a directory handle.** The real implementation holds the database directory
//! open and works relative to that descriptor (`openat`, `renameat2`, `unlinkat`), so
//! a writer never loses track of its database: if the directory is renamed or replaced
//! while a writer runs (`mv db old; mkdir db`), the writer keeps committing into the
//! directory it opened, and never writes a manifest into one directory that names parts
//! in another. The writer lock is an `flock` on that same directory, so there is no lock
//! file that could be deleted while its holder runs.
//!
//! **Never replace.** Published names (parts, deletion files, manifests) are new by
//! construction — ids and generations are never reused — so they are published with a
//! rename that refuses to replace an existing file ([`VfsDir::rename_new`]): whatever
//! happens, a published file is never overwritten.
//!
//! The helpers below ([`write_temp`], [`publish`], [`sync_dir`], [`write_durable`] …)
//! are the storage layer's only callers of the interface; they turn OS errors into
//! [`Error::Io`] naming the operation and the file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::mmap::Backing;
use crate::error::{Error, Result};

/// Prefix of temporary files; anything with it is an orphan after a crash.
pub const TMP_PREFIX: &str = "tmp-";

/// A file opened for writing by [`VfsDir::create`].
pub trait VfsFile: Send {
    /// Appends all of `bytes` (a failure may leave part of them written).
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was written durable (`fsync`). A failure is final: the caller
    /// abandons the file, it never retries and then trusts the data.
    fn sync(&mut self) -> io::Result<()>;
}

/// Holds the writer lock until dropped.
pub type LockGuard = Box<dyn std::any::Any + Send + Sync>;

/// Opens directories.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Creates `dir` and its missing parents; returns whether `dir` itself was created
    /// (false: it existed).
    fn create_dir(&self, dir: &Path) -> io::Result<bool>;
    /// Removes the empty directory `dir`.
    fn remove_dir(&self, dir: &Path) -> io::Result<()>;
    /// Opens the existing directory `dir`; every operation of the handle is relative to
    /// the directory opened, wherever it is moved afterwards.
    fn open_dir(&self, dir: &Path) -> io::Result<Arc<dyn VfsDir>>;
}

/// One open directory: the operations of the storage layer inside it. Names are plain
/// file names (no `/`).
///
/// Writes are only ever made to new files (created under a temporary name, then
/// renamed): a published file is never modified, which is what makes memory maps safe.
pub trait VfsDir: Send + Sync + fmt::Debug {
    /// The path the directory was opened at (for messages).
    fn path(&self) -> &Path;
    /// Names of the entries (any order).
    fn list(&self) -> io::Result<Vec<String>>;
    /// Reads a whole file.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// The bytes of a whole file for reading in place (a read-only memory map).
    fn map(&self, name: &str) -> io::Result<Backing>;
    /// Creates `name` (truncating a file already there) for writing.
    fn create(&self, name: &str) -> io::Result<Box<dyn VfsFile>>;
    /// Opens the existing file `name` for appending (`NotFound` if it is missing),
    /// for the one file that grows in place: the privacy audit log (never mapped).
    fn append(&self, name: &str) -> io::Result<Box<dyn VfsFile>>;
    /// Cuts the file `name` to its first `len` bytes (the privacy audit log's torn
    /// tail); durable once the file is synced through [`append`](VfsDir::append).
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    /// Renames `from` to `to`; fails with `AlreadyExists` if `to` exists (never
    /// replaces a file). Not durable until [`sync`](VfsDir::sync).
    fn rename_new(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes a file. Not durable until [`sync`](VfsDir::sync).
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes the renames, creations and removals in the directory durable.
    fn sync(&self) -> io::Result<()>;
    /// Takes the exclusive writer lock of the database in this directory without
    /// waiting: [`Error::Locked`] if another writer holds it.
    fn lock(&self) -> Result<LockGuard>;
    /// True if [`path`](VfsDir::path) still names this directory (it was not renamed
    /// or replaced since it was opened).
    fn still_at_path(&self) -> bool;
}

/// The real file system: directory descriptors and the `*at` system calls, `memmap2`
/// maps, `flock` on the directory.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

/// The shared [`OsFs`] instance.
pub fn os() -> Arc<dyn Vfs> {
    static OS: OnceLock<Arc<dyn Vfs>> = OnceLock::new();
    OS.get_or_init(|| Arc::new(OsFs)).clone()
}

impl Vfs for OsFs {
    fn create_dir(&self, dir: &Path) -> io::Result<bool> {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::create_dir(dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
            Err(e) => Err(e),
        }
    }
    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::remove_dir(dir)
    }
    fn open_dir(&self, dir: &Path) -> io::Result<Arc<dyn VfsDir>> {
        os_dir::OsDir::open(dir).map(|d| Arc::new(d) as Arc<dyn VfsDir>)
    }
}

mod os_dir {
    use std::fs::File;
    use std::io::{self, Write};
    use std::os::fd::OwnedFd;
    use std::path::{Path, PathBuf};

    use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, RenameFlags};

    use super::{LockGuard, VfsDir, VfsFile};
    use crate::error::{Error, Result};
    use crate::storage::mmap::Backing;

    /// A directory held open by its descriptor.
    #[derive(Debug)]
    pub struct OsDir {
        path: PathBuf,
        fd: OwnedFd,
    }

    fn io_err(e: rustix::io::Errno) -> io::Error {
        io::Error::from(e)
    }

    impl OsDir {
        pub fn open(path: &Path) -> io::Result<OsDir> {
            let fd = rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(io_err)?;
            Ok(OsDir {
                path: path.to_path_buf(),
                fd,
            })
        }

        fn open_at(&self, name: &str, flags: OFlags) -> io::Result<File> {
            let fd = rustix::fs::openat(
                &self.fd,
                name,
                flags | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map_err(io_err)?;
            Ok(File::from(fd))
        }
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

    impl VfsDir for OsDir {
        fn path(&self) -> &Path {
            &self.path
        }

        fn list(&self) -> io::Result<Vec<String>> {
            let mut names = Vec::new();
            for entry in rustix::fs::Dir::read_from(&self.fd).map_err(io_err)? {
                let entry = entry.map_err(io_err)?;
                if let Ok(n) = entry.file_name().to_str()
                    && n != "."
                    && n != ".."
                {
                    names.push(n.to_string());
                }
            }
            Ok(names)
        }

        fn read(&self, name: &str) -> io::Result<Vec<u8>> {
            let mut f = self.open_at(name, OFlags::RDONLY)?;
            let mut out = Vec::new();
            io::Read::read_to_end(&mut f, &mut out)?;
            Ok(out)
        }

        fn map(&self, name: &str) -> io::Result<Backing> {
            Backing::map(self.open_at(name, OFlags::RDONLY)?)
        }

        fn create(&self, name: &str) -> io::Result<Box<dyn VfsFile>> {
            let f = self.open_at(name, OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC)?;
            Ok(Box::new(OsFile(f)))
        }

        fn append(&self, name: &str) -> io::Result<Box<dyn VfsFile>> {
            let f = self.open_at(name, OFlags::WRONLY | OFlags::APPEND)?;
            Ok(Box::new(OsFile(f)))
        }

        fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
            self.open_at(name, OFlags::WRONLY)?.set_len(len)
        }

        fn rename_new(&self, from: &str, to: &str) -> io::Result<()> {
            #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
            {
                use rustix::io::Errno;
                match rustix::fs::renameat_with(
                    &self.fd,
                    from,
                    &self.fd,
                    to,
                    RenameFlags::NOREPLACE,
                ) {
                    Ok(()) => return Ok(()),
                    // The file system cannot rename without replacing: fall back below.
                    Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
            // A hard link fails if the name exists; the temporary name goes after.
            rustix::fs::linkat(&self.fd, from, &self.fd, to, AtFlags::empty()).map_err(io_err)?;
            rustix::fs::unlinkat(&self.fd, from, AtFlags::empty()).map_err(io_err)
        }

        fn remove(&self, name: &str) -> io::Result<()> {
            rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(io_err)
        }

        fn sync(&self) -> io::Result<()> {
            rustix::fs::fsync(&self.fd).map_err(io_err)
        }

        fn still_at_path(&self) -> bool {
            match (rustix::fs::fstat(&self.fd), rustix::fs::stat(&self.path)) {
                (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
                _ => false,
            }
        }

        fn lock(&self) -> Result<LockGuard> {
            // An exclusive, non-blocking flock on the directory itself, through a
            // descriptor of its own (flock locks belong to an open file description, so
            // two handles of one process exclude each other too). The kernel releases it
            // when the holder dies, so a crash never leaves a stale lock, and there is no
            // lock file that could be removed while its holder runs.
            let fd = rustix::fs::openat(
                &self.fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io("open", &self.path, io_err(e)))?;
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => Ok(Box::new(fd)),
                Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Locked {
                    path: self.path.clone(),
                }),
                Err(e) => Err(Error::io("lock", &self.path, io_err(e))),
            }
        }
    }
}

/// Writes `bytes` to `tmp-name` in `dir` and fsyncs it; returns the temporary name. The
/// file is not visible under its final name until [`publish`]. Only the lock holder
/// writes, so an existing temporary file is a leftover of a crashed writer and is
/// replaced (it is never mapped: only published files are).
pub fn write_temp(dir: &dyn VfsDir, name: &str, bytes: &[u8]) -> Result<String> {
    let tmp = format!("{TMP_PREFIX}{name}");
    let mut f = dir
        .create(&tmp)
        .map_err(|e| io_err("create", dir, &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| io_err("write", dir, &tmp, e))?;
    // A failed fsync is final for this commit: the caller abandons it (no retry).
    f.sync().map_err(|e| io_err("fsync", dir, &tmp, e))?;
    Ok(tmp)
}

/// Renames a synced temporary file to its final name, which must not exist (not yet
/// durable: see [`sync_dir`]).
pub fn publish(dir: &dyn VfsDir, tmp: &str, name: &str) -> Result<()> {
    dir.rename_new(tmp, name)
        .map_err(|e| io_err("rename", dir, name, e))
}

/// Makes renames and unlinks in `dir` durable.
pub fn sync_dir(dir: &dyn VfsDir) -> Result<()> {
    dir.sync()
        .map_err(|e| Error::io("fsync directory", dir.path(), e))
}

/// Writes a file durably under `name`: temp, fsync, rename, fsync directory. On
/// failure the file may or may not be in place (the caller decides what to undo).
pub fn write_durable(dir: &dyn VfsDir, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = write_temp(dir, name, bytes)?;
    publish(dir, &tmp, name)?;
    sync_dir(dir)
}

/// Removes a file; a missing file is not an error.
pub fn remove(dir: &dyn VfsDir, name: &str) -> Result<()> {
    match dir.remove(name) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", dir, name, e)),
    }
}

/// Reads a whole file.
pub fn read(dir: &dyn VfsDir, name: &str) -> Result<Vec<u8>> {
    dir.read(name).map_err(|e| io_err("read", dir, name, e))
}

/// Maps a whole file, which must be exactly `expected_len` bytes long (the manifest
/// records every file's length; any other length is damage).
pub fn map(dir: &dyn VfsDir, name: &str, expected_len: u64) -> Result<Backing> {
    let data = dir.map(name).map_err(|e| io_err("map", dir, name, e))?;
    if data.len() as u64 != expected_len {
        return Err(Error::corrupt(
            &dir.path().join(name),
            format!(
                "file is {} bytes, the manifest says {expected_len}",
                data.len()
            ),
        ));
    }
    Ok(data)
}

/// Names of the entries of `dir`, sorted.
pub fn list(dir: &dyn VfsDir) -> Result<Vec<String>> {
    let mut names = dir.list().map_err(|e| Error::io("list", dir.path(), e))?;
    names.sort();
    Ok(names)
}

/// The full path of `name` in `dir` (for messages).
pub fn path_of(dir: &dyn VfsDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn io_err(op: &'static str, dir: &dyn VfsDir, name: &str, e: io::Error) -> Error {
    Error::io(op, &dir.path().join(name), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_rename_never_replaces_and_the_directory_is_followed_when_moved() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("d");
        assert!(OsFs.create_dir(&path).unwrap());
        assert!(!OsFs.create_dir(&path).unwrap());
        let dir = OsFs.open_dir(&path).unwrap();
        write_durable(&*dir, "a", b"first").unwrap();
        let tmp_name = write_temp(&*dir, "a", b"second").unwrap();
        let e = publish(&*dir, &tmp_name, "a").unwrap_err();
        assert!(e.to_string().contains("File exists"), "{e}");
        assert_eq!(read(&*dir, "a").unwrap(), b"first");
        // Moved and replaced: the handle still works in the directory it opened.
        assert!(dir.still_at_path());
        std::fs::rename(&path, tmp.path().join("moved")).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(!dir.still_at_path());
        write_durable(&*dir, "b", b"after the move").unwrap();
        assert_eq!(
            std::fs::read(tmp.path().join("moved").join("b")).unwrap(),
            b"after the move"
        );
        assert!(!path.join("b").exists());
        // One writer: the lock is on the directory, for any handle of it.
        let held = dir.lock().unwrap();
        let again = OsFs.open_dir(&tmp.path().join("moved")).unwrap();
        assert!(matches!(again.lock(), Err(Error::Locked { .. })));
        drop(held);
        assert!(again.lock().is_ok());
    }
}
