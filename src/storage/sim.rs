//! An in-memory file system for reliability tests: a [`Vfs`] that records every write,
//! fsync, rename and unlink, injects I/O errors, and builds every state a crash or a
//! power loss can leave behind.
//!
//! # The model
//!
//! Each file (inode) has its current bytes and its *synced* bytes, the content as of its
//! last successful fsync. Each directory has its current entries and its *durable*
//! entries; creations, renames and unlinks are kept in order as *pending* until an fsync
//! of the directory makes them durable. A process crash (`kill -9`) keeps everything
//! current; a power loss keeps what was synced and, of the rest, any of the following,
//! which [`SimFs::crash_states`] enumerates:
//!
//! - the directory: the durable entries plus any *subset* of the pending operations,
//!   applied in their order (POSIX promises nothing about entries before the directory
//!   is fsynced, and file systems differ; with more than
//!   [`MAX_EXHAUSTIVE`] pending operations, every prefix and 256 seeded subsets);
//! - each file written since its last fsync: its synced bytes (the writes were lost),
//!   its current bytes (they all reached the disk), a torn prefix of them, or its current
//!   length with a zeroed tail (the size reached the disk, the data blocks did not). A
//!   file appended to ([`VfsDir::append`]) is torn or zeroed only after its synced
//!   bytes; one cut short ([`VfsDir::truncate`]) is its synced or its current bytes.
//!
//! Directories themselves are durable once created (a database directory is created
//! once, before anything is written into it).
//!
//! # Faults
//!
//! [`SimFs::inject`] makes the N-th mutating operation (create, write, fsync, rename,
//! unlink, directory fsync; counted from 0 by [`SimFs::ops`]) fail with ENOSPC or EIO —
//! once, from then on, or as a power loss that freezes the disk. A failing write
//! writes half of its bytes first, as a short write on a full disk does.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::fs::{LockGuard, Vfs, VfsDir, VfsFile};
use super::mmap::Backing;
use crate::error::{Error, Result};

/// Most pending directory operations whose every subset [`SimFs::crash_states`] tries.
pub const MAX_EXHAUSTIVE: usize = 8;

/// The error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// ENOSPC: no space left on device.
    NoSpace,
    /// EIO: an input/output error.
    Eio,
}

impl FaultError {
    fn io(self) -> io::Error {
        // Linux error numbers, so the messages are the ones users see.
        match self {
            FaultError::NoSpace => io::Error::from_raw_os_error(28),
            FaultError::Eio => io::Error::from_raw_os_error(5),
        }
    }
}

/// What happens after the faulty operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Only that operation fails; later ones succeed (a transient error).
    Once,
    /// That operation and every later mutating one fail (a full or dead disk).
    Always,
    /// Power is lost before that operation: it and everything after it change nothing
    /// (they fail with EIO); [`SimFs::crash_states`] then gives what the disk may hold.
    PowerLoss,
}

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Index of the mutating operation that fails (see [`SimFs::ops`]).
    pub at: u64,
    /// The error returned.
    pub error: FaultError,
    /// What happens afterwards.
    pub mode: FaultMode,
}

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Debug, Clone)]
enum NsOp {
    Link(PathBuf, usize),
    Rename(PathBuf, PathBuf),
    Unlink(PathBuf),
}

impl NsOp {
    fn dir(&self) -> Option<&Path> {
        match self {
            NsOp::Link(p, _) | NsOp::Unlink(p) | NsOp::Rename(_, p) => p.parent(),
        }
    }

    fn apply(&self, names: &mut BTreeMap<PathBuf, usize>) {
        match self {
            NsOp::Link(p, ino) => {
                names.insert(p.clone(), *ino);
            }
            NsOp::Rename(from, to) => {
                if let Some(ino) = names.remove(from) {
                    names.insert(to.clone(), ino);
                }
            }
            NsOp::Unlink(p) => {
                names.remove(p);
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    inodes: Vec<Inode>,
    names: BTreeMap<PathBuf, usize>,
    durable: BTreeMap<PathBuf, usize>,
    pending: Vec<NsOp>,
    dirs: BTreeSet<PathBuf>,
    locked: BTreeSet<PathBuf>,
    ops: u64,
    fault: Option<Fault>,
    failing: Option<Fault>,
    reads: u64,
    read_fault: Option<Fault>,
    read_failing: Option<Fault>,
    log: Vec<String>,
}

impl State {
    /// Counts a mutating operation and decides whether it fails.
    fn begin(&mut self, what: String) -> io::Result<()> {
        let n = self.ops;
        self.ops += 1;
        if let Some(f) = self.failing {
            self.log.push(format!("{n}: {what} (refused after fault)"));
            return Err(match f.mode {
                FaultMode::PowerLoss => FaultError::Eio.io(),
                _ => f.error.io(),
            });
        }
        if let Some(f) = self.fault.filter(|f| f.at == n) {
            self.fault = None;
            if f.mode != FaultMode::Once {
                self.failing = Some(f);
            }
            self.log
                .push(format!("{n}: {what} FAILS ({:?}, {:?})", f.error, f.mode));
            return Err(match f.mode {
                FaultMode::PowerLoss => FaultError::Eio.io(),
                _ => f.error.io(),
            });
        }
        self.log.push(format!("{n}: {what}"));
        Ok(())
    }

    /// Counts a reading operation (list, read, map) and decides whether it fails.
    /// Read faults are counted apart from mutating operations ([`SimFs::reads`]); a
    /// `PowerLoss` read fault acts as `Always`.
    fn begin_read(&mut self, what: String) -> io::Result<()> {
        let n = self.reads;
        self.reads += 1;
        if let Some(f) = self.read_failing {
            self.log
                .push(format!("read {n}: {what} FAILS (after fault)"));
            return Err(f.error.io());
        }
        if let Some(f) = self.read_fault.filter(|f| f.at == n) {
            self.read_fault = None;
            if f.mode != FaultMode::Once {
                self.read_failing = Some(f);
            }
            self.log.push(format!(
                "read {n}: {what} FAILS ({:?}, {:?})",
                f.error, f.mode
            ));
            return Err(f.error.io());
        }
        Ok(())
    }

    fn inode_of(&self, path: &Path) -> io::Result<usize> {
        self.names
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn powered_off(&self) -> bool {
        self.failing.is_some_and(|f| f.mode == FaultMode::PowerLoss)
    }
}

/// The in-memory file system. Clones share one disk.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

/// One state a crash can leave: a description (for failure messages) and the disk.
#[derive(Debug)]
pub struct CrashState {
    /// Which directory prefix and which content variant.
    pub label: String,
    /// The disk after the crash, every byte synced.
    pub fs: SimFs,
}

impl SimFs {
    /// An empty disk.
    pub fn new() -> SimFs {
        SimFs::default()
    }

    /// This disk as a shared [`Vfs`] (same disk, not a copy).
    pub fn vfs(&self) -> Arc<dyn Vfs> {
        Arc::new(self.clone())
    }

    /// Mutating operations so far (the next one has this index).
    pub fn ops(&self) -> u64 {
        self.state.lock().ops
    }

    /// Arms a fault (replacing any armed one); a fault already hit stays in effect
    /// until [`clear_faults`](SimFs::clear_faults).
    pub fn inject(&self, fault: Fault) {
        self.state.lock().fault = Some(fault);
    }

    /// Reading operations (list, read, map) so far (the next one has this index).
    pub fn reads(&self) -> u64 {
        self.state.lock().reads
    }

    /// Arms a fault on the reading operation with index `fault.at` (see
    /// [`reads`](SimFs::reads)), replacing any armed read fault: a transient (`Once`)
    /// or lasting read error such as EIO, or EMFILE's and ESTALE's stand-in.
    pub fn inject_read(&self, fault: Fault) {
        self.state.lock().read_fault = Some(fault);
    }

    /// Disarms faults and ends a fault's after-effects (the disk works again).
    pub fn clear_faults(&self) {
        let mut s = self.state.lock();
        s.fault = None;
        s.failing = None;
        s.read_fault = None;
        s.read_failing = None;
    }

    /// Every mutating operation so far, one line each (`index: operation path`).
    pub fn log(&self) -> Vec<String> {
        self.state.lock().log.clone()
    }

    /// The files as a reader sees them now: path → bytes.
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let s = self.state.lock();
        s.names
            .iter()
            .filter_map(|(p, &i)| s.inodes.get(i).map(|n| (p.clone(), n.data.clone())))
            .collect()
    }

    /// Every distinct state a power loss now could leave (see the module docs), the
    /// process-crash state (everything current) among them. Torn and zeroed variants
    /// cut at positions drawn from `seed`.
    pub fn crash_states(&self, seed: u64) -> Vec<CrashState> {
        let s = self.state.lock();
        let mut rng = seed ^ 0x9E37_79B9_7F4A_7C15;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let n = s.pending.len();
        let subsets: Vec<u64> = if n <= MAX_EXHAUSTIVE {
            (0..1u64 << n).collect()
        } else {
            let prefixes = (0..=n).map(|k| (1u64 << k) - 1);
            let random = (0..256).map(|_| splitmix(&mut rng));
            prefixes.chain(random).collect()
        };
        for mask in subsets {
            let mut names = s.durable.clone();
            for (i, op) in s.pending.iter().enumerate() {
                if i < 64 && mask & (1 << i) != 0 {
                    op.apply(&mut names);
                }
            }
            let unsynced: Vec<usize> = names
                .values()
                .copied()
                .filter(|&i| s.inodes.get(i).is_some_and(|n| n.data != n.synced))
                .collect();
            let variants: &[&str] = if unsynced.is_empty() {
                &["synced"]
            } else {
                &["lost", "kept", "torn", "torn", "zeroed", "zeroed"]
            };
            for &v in variants {
                let mut files: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
                for (p, &i) in &names {
                    let Some(n) = s.inodes.get(i) else { continue };
                    // Bytes a torn write can lose: those after what the file and its
                    // synced content share (all of it, for a file written anew; only
                    // the appended tail, for a file appended to; none, for a file cut
                    // short, which is old or new).
                    let base = if n.data.starts_with(&n.synced) {
                        n.synced.len()
                    } else if n.synced.starts_with(&n.data) {
                        n.data.len()
                    } else {
                        0
                    };
                    let bytes = if n.data == n.synced {
                        n.data.clone()
                    } else {
                        let tearable = n.data.len() - base;
                        let cut = if tearable == 0 {
                            n.data.len()
                        } else {
                            base + (splitmix(&mut rng) % tearable as u64) as usize
                        };
                        match v {
                            "lost" => n.synced.clone(),
                            "kept" => n.data.clone(),
                            "torn" => n.data.get(..cut).unwrap_or_default().to_vec(),
                            _ => {
                                let mut b = n.data.clone();
                                b.iter_mut().skip(cut).for_each(|x| *x = 0);
                                b
                            }
                        }
                    };
                    files.insert(p.clone(), bytes);
                }
                if !seen.insert(files.clone()) {
                    continue;
                }
                out.push(CrashState {
                    label: format!(
                        "pending directory operations kept {mask:#b} of {n}, unsynced data {v}"
                    ),
                    fs: SimFs::durable(s.dirs.clone(), files),
                });
            }
        }
        out
    }
}

impl SimFs {
    /// A disk holding `files` in `dirs`, everything durable.
    fn durable(dirs: BTreeSet<PathBuf>, files: BTreeMap<PathBuf, Vec<u8>>) -> SimFs {
        let mut st = State {
            dirs,
            ..State::default()
        };
        for (p, bytes) in files {
            st.inodes.push(Inode {
                data: bytes.clone(),
                synced: bytes,
            });
            st.names.insert(p.clone(), st.inodes.len() - 1);
            st.durable.insert(p, st.inodes.len() - 1);
        }
        SimFs {
            state: Arc::new(Mutex::new(st)),
        }
    }
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct SimFile {
    state: Arc<Mutex<State>>,
    inode: usize,
    path: PathBuf,
}

impl VfsFile for SimFile {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.state.lock();
        let res = s.begin(format!(
            "write {} bytes {}",
            bytes.len(),
            self.path.display()
        ));
        let powered_off = s.powered_off();
        let Some(n) = s.inodes.get_mut(self.inode) else {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        };
        match res {
            Ok(()) => {
                n.data.extend_from_slice(bytes);
                Ok(())
            }
            Err(e) => {
                if !powered_off {
                    // A short write: half of it made it before the error.
                    n.data
                        .extend_from_slice(bytes.get(..bytes.len() / 2).unwrap_or_default());
                }
                Err(e)
            }
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.state.lock();
        s.begin(format!("fsync {}", self.path.display()))?;
        let n = s
            .inodes
            .get_mut(self.inode)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        n.synced = n.data.clone();
        Ok(())
    }
}

struct SimLock {
    state: Arc<Mutex<State>>,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.state.lock().locked.remove(&self.dir);
    }
}

impl Vfs for SimFs {
    fn create_dir(&self, dir: &Path) -> io::Result<bool> {
        let mut s = self.state.lock();
        let created = !s.dirs.contains(dir);
        for a in dir.ancestors() {
            if !a.as_os_str().is_empty() {
                s.dirs.insert(a.to_path_buf());
            }
        }
        Ok(created)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        if s.names.keys().any(|p| p.parent() == Some(dir)) {
            return Err(io::Error::from_raw_os_error(39)); // ENOTEMPTY
        }
        s.dirs.remove(dir);
        Ok(())
    }

    fn open_dir(&self, dir: &Path) -> io::Result<Arc<dyn VfsDir>> {
        if !self.state.lock().dirs.contains(dir) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(Arc::new(SimDir {
            state: self.state.clone(),
            path: dir.to_path_buf(),
        }))
    }
}

/// A directory of a [`SimFs`].
#[derive(Debug)]
struct SimDir {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl VfsDir for SimDir {
    fn path(&self) -> &Path {
        &self.path
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut s = self.state.lock();
        s.begin_read(format!("list {}", self.path.display()))?;
        if !s.dirs.contains(&self.path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(s.names
            .keys()
            .filter(|p| p.parent() == Some(&*self.path))
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let path = self.path.join(name);
        let mut s = self.state.lock();
        s.begin_read(format!("read {}", path.display()))?;
        let i = s.inode_of(&path)?;
        Ok(s.inodes.get(i).map(|n| n.data.clone()).unwrap_or_default())
    }

    fn map(&self, name: &str) -> io::Result<Backing> {
        self.read(name).map(Backing::Owned)
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn VfsFile>> {
        let path = self.path.join(name);
        let mut s = self.state.lock();
        s.begin(format!("create {}", path.display()))?;
        if !s.dirs.contains(&self.path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let inode = match s.names.get(&path) {
            Some(&i) => {
                if let Some(n) = s.inodes.get_mut(i) {
                    n.data.clear();
                }
                i
            }
            None => {
                s.inodes.push(Inode::default());
                let i = s.inodes.len() - 1;
                s.names.insert(path.clone(), i);
                s.pending.push(NsOp::Link(path.clone(), i));
                i
            }
        };
        Ok(Box::new(SimFile {
            state: self.state.clone(),
            inode,
            path,
        }))
    }

    fn append(&self, name: &str) -> io::Result<Box<dyn VfsFile>> {
        let path = self.path.join(name);
        let mut s = self.state.lock();
        s.begin_read(format!("open for appending {}", path.display()))?;
        let inode = s.inode_of(&path)?;
        Ok(Box::new(SimFile {
            state: self.state.clone(),
            inode,
            path,
        }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let path = self.path.join(name);
        let mut s = self.state.lock();
        s.begin(format!("truncate {} to {len} bytes", path.display()))?;
        let i = s.inode_of(&path)?;
        if let Some(n) = s.inodes.get_mut(i) {
            n.data.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        }
        Ok(())
    }

    fn rename_new(&self, from: &str, to: &str) -> io::Result<()> {
        let (from, to) = (self.path.join(from), self.path.join(to));
        let mut s = self.state.lock();
        s.begin(format!("rename {} -> {}", from.display(), to.display()))?;
        s.inode_of(&from)?;
        if s.names.contains_key(&to) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let op = NsOp::Rename(from, to);
        op.apply(&mut s.names);
        s.pending.push(op);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let path = self.path.join(name);
        let mut s = self.state.lock();
        s.begin(format!("unlink {}", path.display()))?;
        s.inode_of(&path)?;
        let op = NsOp::Unlink(path);
        op.apply(&mut s.names);
        s.pending.push(op);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        s.begin(format!("fsync directory {}", self.path.display()))?;
        let pending = std::mem::take(&mut s.pending);
        let mut rest = Vec::new();
        for op in pending {
            if op.dir() == Some(&*self.path) {
                op.apply(&mut s.durable);
            } else {
                rest.push(op);
            }
        }
        s.pending = rest;
        Ok(())
    }

    fn still_at_path(&self) -> bool {
        // Directories are not renamed on the simulated disk.
        self.state.lock().dirs.contains(&self.path)
    }

    fn lock(&self) -> Result<LockGuard> {
        let mut s = self.state.lock();
        if !s.locked.insert(self.path.clone()) {
            return Err(Error::Locked {
                path: self.path.clone(),
            });
        }
        Ok(Box::new(SimLock {
            state: self.state.clone(),
            dir: self.path.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(fs: &SimFs) -> Arc<dyn VfsDir> {
        fs.create_dir(Path::new("/d")).unwrap();
        fs.open_dir(Path::new("/d")).unwrap()
    }

    fn write(d: &dyn VfsDir, name: &str, b: &[u8], sync: bool) {
        let mut f = d.create(name).unwrap();
        f.write_all(b).unwrap();
        if sync {
            f.sync().unwrap();
        }
    }

    #[test]
    fn unsynced_directory_entries_and_data_may_be_lost() {
        let fs = SimFs::new();
        let d = dir(&fs);
        write(&*d, "a", b"old", true);
        d.sync().unwrap();
        write(&*d, "b", b"new", false);
        let states = fs.crash_states(1);
        let contents: Vec<_> = states.iter().map(|c| c.fs.files()).collect();
        // `a` survives everything; `b` may be missing, empty, torn, zeroed or whole.
        assert!(contents.iter().all(|f| f[Path::new("/d/a")] == b"old"));
        assert!(contents.iter().any(|f| !f.contains_key(Path::new("/d/b"))));
        assert!(
            contents
                .iter()
                .any(|f| f.get(Path::new("/d/b")) == Some(&vec![]))
        );
        assert!(
            contents
                .iter()
                .any(|f| f.get(Path::new("/d/b")).map(Vec::as_slice) == Some(b"new"))
        );
        assert!(contents.iter().any(|f| {
            f.get(Path::new("/d/b"))
                .is_some_and(|b| b.len() == 3 && b.as_slice() != b"new")
        }));
    }

    #[test]
    fn directory_prefixes_keep_order() {
        let fs = SimFs::new();
        let d = dir(&fs);
        write(&*d, "t", b"x", true);
        d.rename_new("t", "f").unwrap();
        let names: BTreeSet<Vec<PathBuf>> = fs
            .crash_states(0)
            .iter()
            .map(|c| c.fs.files().into_keys().collect())
            .collect();
        // Nothing, the temporary name, or the final name: never both.
        let expect: BTreeSet<Vec<PathBuf>> = [
            vec![],
            vec![PathBuf::from("/d/t")],
            vec![PathBuf::from("/d/f")],
        ]
        .into_iter()
        .collect();
        assert_eq!(names, expect);
        d.sync().unwrap();
        assert_eq!(fs.crash_states(0).len(), 1);
    }

    #[test]
    fn faults_fire_at_their_operation() {
        let fs = SimFs::new();
        let d = dir(&fs);
        fs.inject(Fault {
            at: 1,
            error: FaultError::NoSpace,
            mode: FaultMode::Once,
        });
        let mut f = d.create("a").unwrap();
        let e = f.write_all(b"abcd").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        assert_eq!(fs.files()[Path::new("/d/a")], b"ab"); // short write
        f.write_all(b"ef").unwrap(); // once: the disk works again
        fs.inject(Fault {
            at: 3,
            error: FaultError::Eio,
            mode: FaultMode::PowerLoss,
        });
        assert_eq!(f.sync().unwrap_err().raw_os_error(), Some(5));
        assert!(d.rename_new("a", "b").is_err());
        assert!(fs.files().contains_key(Path::new("/d/a")));
        assert_eq!(fs.ops(), 5);
    }

    #[test]
    fn published_names_are_never_replaced() {
        let fs = SimFs::new();
        let d = dir(&fs);
        write(&*d, "a", b"first", true);
        write(&*d, "t", b"second", true);
        let e = d.rename_new("t", "a").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs.files()[Path::new("/d/a")], b"first");
    }

    #[test]
    fn read_faults_fire_at_their_read() {
        let fs = SimFs::new();
        let d = dir(&fs);
        write(&*d, "a", b"x", true);
        fs.inject_read(Fault {
            at: fs.reads() + 1,
            error: FaultError::Eio,
            mode: FaultMode::Once,
        });
        assert!(d.read("a").is_ok());
        assert_eq!(d.read("a").unwrap_err().raw_os_error(), Some(5));
        assert!(d.list().is_ok());
    }
}
