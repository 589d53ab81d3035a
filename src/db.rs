//! The database handle, write transactions, snapshots and the commit protocol.
//!
//! A database is a directory: parts (`part-N.slp`), deletion files (`del-N.slr`),
//! manifests (`MANIFEST-<generation>`) and the writer `LOCK`. See `docs/ARCHITECTURE.md`
//! and `docs/file-format.md`.
//!
//! Commit protocol (SPEC §4): new parts and deletion files are written under temporary
//! names and fsynced, renamed, the directory is fsynced, then manifest N+1 is written,
//! fsynced, renamed over nothing (it is a new name) and the directory fsynced again.
//! Only then is the commit acknowledged. A crash at any point leaves manifest N (or
//! N+1, once its rename is durable) naming only complete, synced files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;

use crate::commit::WriterState;
use crate::error::{Error, Result, RowError};
use crate::event::Event;
use crate::exec::LivePart;
use crate::exec::cache::PartCache;
use crate::ingest::import::{self, FileReport, ImportOptions};
use crate::ingest::parse::{self, Mode};
use crate::ingest::rows::Rows;
use crate::options::{DEFAULT_VISIT_TIMEOUT_MS, DbOptions};
use crate::snapshot::Snapshot;
use crate::storage::fs::{self, LockGuard, Vfs, VfsDir};
use crate::storage::manifest::{self, Manifest};
use crate::storage::part_reader::PartReader;

/// An opened part: the checksum and length its manifest entry gave, the reader, and the
/// engine's indexes of it (shared by every snapshot holding the part).
type CachedReader = (u32, u64, Arc<PartReader>, Arc<PartCache>);

struct Inner {
    path: PathBuf,
    /// The file system the directory is on.
    vfs: Arc<dyn Vfs>,
    /// The database directory, held open: every file operation goes through it.
    dir: Arc<dyn VfsDir>,
    /// Held for the life of a writable handle.
    lock: Option<LockGuard>,
    current: RwLock<Snapshot>,
    /// Opened parts by id, with the checksum and length the manifest gave them (a
    /// reader is reused only for the same file).
    readers: Mutex<HashMap<u64, CachedReader>>,
    /// Held by the write transaction; guards the writer state.
    writing: Mutex<WriterState>,
}

/// A database handle. Cheap to clone; all clones share one snapshot and one writer
/// lock.
///
/// ```
/// use sightline::{Db, DbOptions, Event};
/// # fn main() -> sightline::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::create(dir.path(), DbOptions::default())?;
/// let mut tx = db.begin_write()?;
/// tx.append(&Event::pageview(1_767_225_600_000, "alice", "https://shop.example/"))?;
/// tx.append(&Event::pageview(1_767_225_660_000, "alice", "https://shop.example/cart"))?;
/// let summary = tx.commit()?;
/// assert_eq!((summary.events, summary.visits, summary.visitors), (2, 1, 1));
/// assert_eq!(db.snapshot().stats()?.visits, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.inner.path)
            .field("writable", &self.inner.lock.is_some())
            .finish()
    }
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitSummary {
    /// The new generation (unchanged if nothing was appended).
    pub generation: u64,
    /// Events appended by this transaction.
    pub events: u64,
    /// Visits containing at least one of them.
    pub visits: u64,
    /// Distinct visitors among them.
    pub visitors: u64,
    /// Parts written (new data plus rewritten visitors).
    pub parts_written: u64,
    /// Visitors already stored that were rewritten because new events arrived for them.
    pub visitors_rewritten: u64,
}

/// How to open a database: options, read-only or writable, create if missing.
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("shop.db");
/// // Created on first use, with a 15-minute visit timeout; later opens keep it.
/// let db = sightline::Db::builder()
///     .visit_timeout_ms(15 * 60_000)
///     .create_if_missing(true)
///     .open(&path)?;
/// assert_eq!(db.snapshot().options().visit_timeout_ms, 900_000);
/// drop(db);
/// let reader = sightline::Db::builder().read_only(true).open(&path)?;
/// assert!(!reader.is_writable());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DbBuilder {
    options: DbOptions,
    read_only: bool,
    create_if_missing: bool,
    vfs: Arc<dyn Vfs>,
}

impl std::fmt::Debug for DbBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbBuilder")
            .field("options", &self.options)
            .field("read_only", &self.read_only)
            .field("create_if_missing", &self.create_if_missing)
            .finish_non_exhaustive()
    }
}

impl Default for DbBuilder {
    fn default() -> Self {
        DbBuilder {
            options: DbOptions::default(),
            read_only: false,
            create_if_missing: false,
            vfs: fs::os(),
        }
    }
}

impl DbBuilder {
    /// The options of a database this builder creates (an existing database keeps its
    /// own).
    pub fn options(mut self, options: DbOptions) -> Self {
        self.options = options;
        self
    }

    /// The visit timeout of a database this builder creates, in ms (default 30 minutes).
    pub fn visit_timeout_ms(mut self, ms: i64) -> Self {
        self.options.visit_timeout_ms = ms;
        self
    }

    /// Opens without the writer lock: readers never block and are never blocked, and
    /// [`Db::refresh`] picks up other processes' commits. Writing fails.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// [`open`](DbBuilder::open) creates the database when there is none at the path
    /// (a missing directory, or one without a manifest).
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Every file operation through `vfs` instead of the real file system: for
    /// sightline's own tests, which run on a simulated disk.
    #[doc(hidden)]
    pub fn file_system(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = vfs;
        self
    }

    /// Creates a new database at `path` (the directory is created if missing; it must
    /// not hold a database) and opens it for writing.
    pub fn create(&self, path: &Path) -> Result<Db> {
        if self.options.visit_timeout_ms <= 0 {
            return Err(Error::argument(
                "visit timeout",
                "the visit timeout must be positive",
            ));
        }
        let vfs = &self.vfs;
        let created = vfs
            .create_dir(path)
            .map_err(|e| Error::io("create directory", path, e))?;
        let res = self.create_here(path);
        if res.is_err() && created {
            // Leave nothing behind, so that a retry starts from scratch (a directory of
            // ours holds only what `create_here` already removed).
            let _ = vfs.remove_dir(path);
        }
        res
    }

    fn create_here(&self, path: &Path) -> Result<Db> {
        let dir = open_dir(&*self.vfs, path)?;
        let lock = dir.lock()?;
        if !manifest::generations(&*dir)?.is_empty() {
            return Err(Error::DatabaseExists {
                path: path.to_path_buf(),
            });
        }
        let m = Manifest {
            generation: 0,
            visit_timeout_ms: self.options.visit_timeout_ms,
            next_file_id: 1,
            parts: vec![],
            custom: vec![],
        };
        let name = Manifest::file_name(0);
        if let Err(e) = fs::write_durable(&*dir, &name, &m.encode()) {
            // Undo, so that retrying is not refused with "already exists".
            let _ = fs::remove(&*dir, &name);
            let _ = fs::remove(&*dir, &format!("{}{name}", fs::TMP_PREFIX));
            return Err(e);
        }
        Db::open_with(self.vfs.clone(), dir, Some(lock))
    }

    /// Opens the database at `path`: for writing (taking the writer lock) unless
    /// [`read_only`](DbBuilder::read_only), creating it first if
    /// [`create_if_missing`](DbBuilder::create_if_missing) and there is none.
    pub fn open(&self, path: &Path) -> Result<Db> {
        if self.create_if_missing && !self.read_only {
            let exists = match self.vfs.open_dir(path) {
                Ok(dir) => !manifest::generations(&*dir)?.is_empty(),
                Err(_) => false,
            };
            if !exists {
                return self.create(path);
            }
        }
        let dir = open_dir(&*self.vfs, path)?;
        if self.read_only {
            return Db::open_with(self.vfs.clone(), dir, None);
        }
        let lock = dir.lock()?;
        let db = Db::open_with(self.vfs.clone(), dir, Some(lock))?;
        db.reserve_present_names()?;
        // Best effort: a failure (an unreadable older manifest, a failed unlink) leaves
        // the files for the next writer and never fails the open.
        let current = db.snapshot();
        let _ = db.remove_orphans(&[current.manifest()]);
        Ok(db)
    }
}

impl Db {
    /// A builder: options, read-only, create if missing.
    pub fn builder() -> DbBuilder {
        DbBuilder::default()
    }

    /// Creates a new database in `path` (created if missing; must not hold one) and opens
    /// it for writing.
    pub fn create(path: &Path, options: DbOptions) -> Result<Db> {
        Db::builder().options(options).create(path)
    }

    /// Opens an existing database for writing (takes the writer lock).
    pub fn open(path: &Path) -> Result<Db> {
        Db::builder().open(path)
    }

    /// Opens a database for reading only: no lock is taken, and writers may commit
    /// meanwhile ([`refresh`](Db::refresh) picks up their commits).
    pub fn open_read_only(path: &Path) -> Result<Db> {
        Db::builder().read_only(true).open(path)
    }

    fn open_with(vfs: Arc<dyn Vfs>, dir: Arc<dyn VfsDir>, lock: Option<LockGuard>) -> Result<Db> {
        let inner = Inner {
            path: dir.path().to_path_buf(),
            vfs,
            dir,
            lock,
            current: RwLock::new(Snapshot::new(empty_manifest(), Vec::new())),
            readers: Mutex::new(HashMap::new()),
            writing: Mutex::new(WriterState::default()),
        };
        let db = Db {
            inner: Arc::new(inner),
        };
        db.refresh()?;
        Ok(db)
    }

    /// Reserves every generation and file id that a name in the directory carries, so
    /// that no commit of this writer ever publishes under a name already there (a file
    /// left by an interrupted commit whose clean-up could not run, for instance).
    fn reserve_present_names(&self) -> Result<()> {
        let mut state = self.inner.writing.lock();
        for name in fs::list(&*self.inner.dir)? {
            let name = name.strip_prefix(fs::TMP_PREFIX).unwrap_or(&name);
            if let Some(g) = name.strip_prefix(manifest::MANIFEST_PREFIX) {
                if let Ok(g) = g.parse::<u64>() {
                    state.next_generation = state.next_generation.max(g);
                }
            } else if let Some(id) = ["part-", "del-"]
                .iter()
                .find_map(|p| name.strip_prefix(p))
                .and_then(|rest| rest.split('.').next())
                .and_then(|id| id.parse::<u64>().ok())
            {
                state.next_file_id = state.next_file_id.max(id.saturating_add(1));
            }
        }
        Ok(())
    }

    /// Deletes the database: every file it wrote (parts, deletion files, manifests,
    /// temporary files), then its directory if that is left empty and is still at the
    /// path it was opened at — a directory moved or replaced meanwhile is never
    /// touched by path. Needs the writer lock; other clones of this handle must not be
    /// used afterwards.
    pub fn destroy(self) -> Result<()> {
        if self.inner.lock.is_none() {
            return Err(Error::ReadOnly);
        }
        let dir = &*self.inner.dir;
        for name in fs::list(dir)? {
            if manifest::is_database_file(&name) {
                fs::remove(dir, &name)?;
            }
        }
        fs::sync_dir(dir)?;
        if dir.still_at_path() && fs::list(dir)?.is_empty() {
            let (vfs, path) = (self.inner.vfs.clone(), self.inner.path.clone());
            drop(self); // releases the lock (if no clone holds it)
            return vfs
                .remove_dir(&path)
                .map_err(|e| Error::io("remove directory", &path, e));
        }
        Ok(())
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// True when this handle holds the writer lock.
    pub fn is_writable(&self) -> bool {
        self.inner.lock.is_some()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.current.read().clone()
    }

    /// Re-reads the newest manifest (for read-only handles; a writer is always current).
    pub fn refresh(&self) -> Result<()> {
        // A concurrent writer may remove a file between our reading the manifest and
        // opening the file; the newer manifest then no longer names it. Retry a few times.
        // A file still missing after that is not a race: the newest manifest names a
        // file the directory does not hold, which is damage (a corruption error).
        let mut last_err = None;
        for _ in 0..5 {
            let attempt = manifest::read_newest(&*self.inner.dir).and_then(|m| match m {
                Some(m) => self.load(m),
                None => Err(Error::NoDatabase {
                    path: self.inner.path.clone(),
                    reason: "the directory holds no manifest".into(),
                }),
            });
            match attempt {
                Ok(s) => {
                    *self.inner.current.write() = s;
                    return Ok(());
                }
                Err(e @ Error::Io { .. }) if is_not_found(&e) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(match last_err {
            Some(Error::Io { path, .. }) => Error::corrupt(
                &path,
                "the newest manifest names this file, but the directory does not hold it",
            ),
            Some(e) => e,
            None => Error::internal("the database could not be opened"),
        })
    }

    /// The database directory, held open.
    pub(crate) fn dir(&self) -> &dyn VfsDir {
        &*self.inner.dir
    }

    /// Makes `snapshot` the current one (after its commit).
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        *self.inner.current.write() = snapshot;
    }

    /// The snapshot of `manifest`: every part it names opened (or taken from the cache
    /// of opened parts) and every deletion set read and checked.
    pub(crate) fn load(&self, manifest: Manifest) -> Result<Snapshot> {
        let mut cache = self.inner.readers.lock();
        let mut parts = Vec::with_capacity(manifest.parts.len());
        for e in &manifest.parts {
            let (reader, part_cache) = match cache.get(&e.id) {
                Some((crc, bytes, r, c)) if (*crc, *bytes) == (e.crc, e.bytes) => {
                    (r.clone(), c.clone())
                }
                _ => {
                    let r = Arc::new(PartReader::open(&*self.inner.dir, &e.file, e.bytes)?);
                    let c = Arc::new(PartCache::default());
                    cache.insert(e.id, (e.crc, e.bytes, r.clone(), c.clone()));
                    (r, c)
                }
            };
            let deleted = match &e.deletions {
                Some(d) => {
                    let path = fs::path_of(&*self.inner.dir, &d.file);
                    let bytes = fs::read(&*self.inner.dir, &d.file)?;
                    let bm = manifest::decode_deletions(&path, &bytes)?;
                    if bm.len() != d.visitors as u64 || bm.max().is_some_and(|m| m >= e.visitors) {
                        return Err(Error::corrupt(
                            &path,
                            "deletion set does not match the manifest",
                        ));
                    }
                    Arc::new(bm)
                }
                None => Arc::new(RoaringBitmap::new()),
            };
            if reader.meta().visitors != e.visitors
                || reader.meta().events != e.events
                || reader.meta().visits != e.visits
            {
                return Err(reader.corrupt("part counts differ from the manifest"));
            }
            parts.push(LivePart {
                entry: e.clone(),
                reader,
                deleted,
                cache: part_cache,
            });
        }
        let live: std::collections::HashSet<u64> = manifest.parts.iter().map(|p| p.id).collect();
        cache.retain(|id, _| live.contains(id));
        Ok(Snapshot::new(manifest, parts))
    }

    /// Deletes files no manifest of the last two generations references: temporary files
    /// of interrupted commits, and files superseded before the previous commit. `known`:
    /// manifests held in memory (not read again). Deletes nothing if a manifest it needs
    /// cannot be read ([`manifest::orphans`]).
    pub(crate) fn remove_orphans(&self, known: &[&Manifest]) -> Result<()> {
        let dir = &*self.inner.dir;
        let orphans = manifest::orphans(dir, known)?;
        for name in &orphans {
            fs::remove(dir, name)?;
        }
        if !orphans.is_empty() {
            fs::sync_dir(dir)?;
        }
        Ok(())
    }

    /// Starts a write transaction. Only one runs at a time per handle; other processes
    /// are kept out by the lock taken at open.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>> {
        if self.inner.lock.is_none() {
            return Err(Error::ReadOnly);
        }
        let guard = self.inner.writing.lock();
        if let Some(why) = &guard.poisoned {
            return Err(Error::WritesRefused {
                reason: why.clone(),
            });
        }
        let snap = self.snapshot();
        let rows = Rows::with_schema(&snap.manifest().custom);
        Ok(WriteTxn {
            db: self,
            _guard: guard,
            rows,
            api_rows: 0,
        })
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
}

/// Opens the database directory at `path`. A missing path, or one that is not a
/// directory, is a usage error: there is no database there.
fn open_dir(vfs: &dyn Vfs, path: &Path) -> Result<Arc<dyn VfsDir>> {
    vfs.open_dir(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NoDatabase {
            path: path.to_path_buf(),
            reason: "no such directory".into(),
        },
        std::io::ErrorKind::NotADirectory => Error::NoDatabase {
            path: path.to_path_buf(),
            reason: "it is a file, not a directory".into(),
        },
        _ => Error::io("open directory", path, e),
    })
}

fn empty_manifest() -> Manifest {
    Manifest {
        generation: 0,
        visit_timeout_ms: DEFAULT_VISIT_TIMEOUT_MS,
        next_file_id: 1,
        parts: vec![],
        custom: vec![],
    }
}

/// A write transaction: events appended here become visible, all at once, at
/// [`commit`](WriteTxn::commit). Dropping it without committing discards them.
pub struct WriteTxn<'db> {
    db: &'db Db,
    _guard: parking_lot::MutexGuard<'db, WriterState>,
    rows: Rows,
    api_rows: u64,
}

impl WriteTxn<'_> {
    /// Number of events appended so far.
    pub fn len(&self) -> usize {
        self.rows.rows.len()
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.rows.rows.is_empty()
    }

    /// Appends a typed event.
    pub fn append(&mut self, event: &Event) -> Result<()> {
        self.api_rows += 1;
        self.rows
            .push_event(event, "<input>", self.api_rows)
            .map_err(Error::Row)
    }

    /// Appends one event given as a JSON object in the input format of SPEC §1.1.
    pub fn append_json(&mut self, line: &str) -> Result<()> {
        self.api_rows += 1;
        let mut raw = Vec::new();
        let res = parse::parse_json(line.as_bytes(), &mut raw)
            .and_then(|_| parse::push_raw(&raw, Mode::Json, &mut self.rows, true));
        res.map_err(|(field, reason)| {
            Error::Row(RowError {
                file: "<input>".into(),
                line: self.api_rows,
                field,
                reason,
            })
        })
    }

    /// Reads a JSON Lines or CSV file into the transaction. Without
    /// `options.skip_invalid`, a bad row fails the call and appends nothing from the
    /// file. `progress` receives the number of bytes read so far.
    pub fn import_file(
        &mut self,
        path: &Path,
        options: &ImportOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<FileReport> {
        import::import_file(path, options, &mut self.rows, progress)
    }

    /// Makes the appended events durable and visible (SPEC §4). Returns once the commit
    /// survives a crash or power loss.
    pub fn commit(self) -> Result<CommitSummary> {
        let WriteTxn {
            db,
            _guard: mut state,
            rows,
            ..
        } = self;
        crate::commit::commit(db, &mut state, rows)
    }
}
