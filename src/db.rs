//! The database handle, write transactions, snapshots and the commit protocol.
//!
//! A database is a directory: parts (`part-N.slp`), deletion files (`del-N.slr`),
//! manifests (`MANIFEST-<generation>`), and the privacy settings and audit log
//! (`privacy-<generation>`, `privacy-log`: `crate::privacy`). See `docs/ARCHITECTURE.md`
//! and `docs/file-format.md`.
//!
//! Commit protocol (`docs/file-format.md`): new parts and deletion files are written under temporary
//! names and fsynced, renamed, the directory is fsynced, then manifest N+1 is written,
//! fsynced, renamed over nothing (it is a new name) and the directory fsynced again.
//! Only then is the commit acknowledged. A crash at any point leaves manifest N (or
//! N+1, once its rename is durable) naming only complete, synced files.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;

use crate::ExportSelector;
use crate::commit::WriterState;
use crate::compaction::{self, Compaction};
use crate::error::{Error, Result, RowError};
use crate::event::Event;
use crate::exec::LivePart;
use crate::exec::cache::PartCache;
use crate::ingest::import::{self, FileReport, ImportOptions};
use crate::ingest::parse::{self, Mode};
use crate::ingest::rows::Rows;
use crate::ingest::runs::{Batch, SpillTo};
use crate::options::{DEFAULT_MEMORY_LIMIT, DEFAULT_VISIT_TIMEOUT_MS, DbOptions, MIN_MEMORY_LIMIT};
use crate::privacy::{
    Anonymization, AuditAction, AuditCounts, AuditRecord, PrivacyOutcome, SelectorKind, WriteRules,
};
use crate::snapshot::Snapshot;
use crate::storage::fs::{self, LockGuard, Vfs, VfsDir};
use crate::storage::manifest::{self, DelEntry, Manifest, PartEntry};
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
    /// Names of files a compaction is writing without the writer lock: the clean-up of
    /// commits leaves them alone.
    in_flight: Mutex<HashSet<String>>,
    /// Deletion sets read, by file name (a deletion file never changes).
    deletions: Mutex<HashMap<String, Arc<RoaringBitmap>>>,
    /// Parts no longer in the current snapshot, which older snapshots may still use:
    /// their files are not removed while a snapshot holds them.
    retired: Mutex<Vec<(String, Weak<PartReader>)>>,
    /// Held by a compaction from its plan to its swap: one runs at a time.
    compacting: Mutex<()>,
    /// The memory budget of imports and compactions, in bytes.
    memory_limit: usize,
    /// Its shares.
    budget: crate::options::Budget,
    /// The number of the next run file a transaction spills (`tmp-run-<n>`).
    next_run: Arc<std::sync::atomic::AtomicU64>,
    /// The privacy settings, secret and audit log position (`privacy::db`).
    privacy: Mutex<crate::privacy::PrivacyState>,
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
    // Declared first, so dropped first: the last handle stops and joins the background
    // compactor before the database (and its lock) goes.
    compactor: Option<Arc<Compactor>>,
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
    auto_compact: bool,
    memory_limit: usize,
    /// Shares of the budget set by a test, instead of those of `memory_limit`.
    budget: Option<crate::options::Budget>,
    vfs: Arc<dyn Vfs>,
}

impl std::fmt::Debug for DbBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbBuilder")
            .field("options", &self.options)
            .field("read_only", &self.read_only)
            .field("create_if_missing", &self.create_if_missing)
            .field("auto_compact", &self.auto_compact)
            .field("memory_limit", &self.memory_limit)
            .finish_non_exhaustive()
    }
}

impl Default for DbBuilder {
    fn default() -> Self {
        DbBuilder {
            options: DbOptions::default(),
            read_only: false,
            create_if_missing: false,
            auto_compact: true,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            budget: None,
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

    /// Whether a writable handle compacts in the background (default: yes): after
    /// commits, a thread of its own merges parts by size tiers, so that their number
    /// stays logarithmic in the data (`Db::compact_as_needed` does the same in the
    /// caller's thread). Commits and readers wait for a compaction at most one manifest
    /// swap.
    pub fn auto_compact(mut self, on: bool) -> Self {
        self.auto_compact = on;
        self
    }

    /// The memory budget of this handle's imports, write transactions and compactions,
    /// in bytes (default [`DEFAULT_MEMORY_LIMIT`], 1 GiB; at least [`MIN_MEMORY_LIMIT`],
    /// 64 KiB — a smaller value counts as that).
    ///
    /// A transaction whose rows outgrow their share of the budget sorts them and writes
    /// them to the database directory as a temporary *run* file (`tmp-run-<n>`), and
    /// its commit merges the runs visitor by visitor, building one part at a time (or a
    /// few in parallel, as the budget allows); a compaction streams the parts it
    /// merges the same way. Answers do not depend on the budget: only how much memory
    /// and temporary disk space an import takes, and how its parts are cut. What the
    /// budget counts and what it does not is in `docs/ingest.md` ("Memory").
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::builder()
    ///     .memory_limit(256 << 20)
    ///     .create_if_missing(true)
    ///     .open(dir.path())?;
    /// assert_eq!(db.memory_limit(), 256 << 20);
    /// # Ok(()) }
    /// ```
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes.max(MIN_MEMORY_LIMIT);
        self
    }

    /// The shares of the memory budget, set directly: spill a transaction's rows once
    /// they hold `spill_bytes`, cut a commit's merge into groups of `group_events` new
    /// events (a compaction's into parts of as many events), build `builders` groups at
    /// once while the next is gathered. For sightline's own tests, which spill and cut
    /// every few rows to exercise the merges on little data.
    #[doc(hidden)]
    pub fn budget_for_tests(
        mut self,
        spill_bytes: usize,
        group_events: usize,
        builders: usize,
    ) -> Self {
        self.budget = Some(crate::options::Budget {
            spill_bytes,
            group_events: group_events.max(1),
            builders,
            compaction_builders: builders,
            compaction_group_events: group_events.max(1),
        });
        self
    }

    /// Every file operation through `vfs` instead of the real file system: for
    /// sightline's own tests, which run on a simulated disk. Turns the background
    /// compactor off (tests count the disk's operations); `auto_compact(true)` after it
    /// turns it back on.
    #[doc(hidden)]
    pub fn file_system(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = vfs;
        self.auto_compact = false;
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
            rollback: None,
            custom: vec![],
        };
        let name = Manifest::file_name(0);
        if let Err(e) = fs::write_durable(&*dir, &name, &m.encode()) {
            // Undo, so that retrying is not refused with "already exists".
            let _ = fs::remove(&*dir, &name);
            let _ = fs::remove(&*dir, &format!("{}{name}", fs::TMP_PREFIX));
            return Err(e);
        }
        let db = self.open_with(dir, Some(lock))?;
        Ok(self.with_compactor(db))
    }

    /// The handle on `dir`, with this builder's settings.
    fn open_with(&self, dir: Arc<dyn VfsDir>, lock: Option<LockGuard>) -> Result<Db> {
        let budget = self.budget.unwrap_or_else(|| {
            crate::options::Budget::new(self.memory_limit, crate::storage::worker_threads())
        });
        Db::open_with(self.vfs.clone(), dir, lock, self.memory_limit, budget)
    }

    /// `db` with its background compactor, if asked for.
    fn with_compactor(&self, mut db: Db) -> Db {
        if self.auto_compact {
            db.compactor = Some(Compactor::start(&db.inner));
        }
        db
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
            return self.open_with(dir, None);
        }
        let lock = dir.lock()?;
        let db = self.open_with(dir, Some(lock))?;
        db.reserve_present_names()?;
        // Best effort: a failure (an unreadable older manifest, a failed unlink) leaves
        // the files for the next writer and never fails the open.
        let current = db.snapshot();
        let _ = db.remove_orphans(&mut db.inner.writing.lock(), &[current.manifest()]);
        Ok(self.with_compactor(db))
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

    fn open_with(
        vfs: Arc<dyn Vfs>,
        dir: Arc<dyn VfsDir>,
        lock: Option<LockGuard>,
        memory_limit: usize,
        budget: crate::options::Budget,
    ) -> Result<Db> {
        let inner = Inner {
            path: dir.path().to_path_buf(),
            vfs,
            dir,
            lock,
            current: RwLock::new(Snapshot::new(empty_manifest(), Vec::new())),
            readers: Mutex::new(HashMap::new()),
            writing: Mutex::new(WriterState::default()),
            in_flight: Mutex::new(HashSet::new()),
            deletions: Mutex::new(HashMap::new()),
            retired: Mutex::new(Vec::new()),
            compacting: Mutex::new(()),
            memory_limit,
            budget,
            next_run: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            privacy: Mutex::new(Default::default()),
        };
        let db = Db {
            compactor: None,
            inner: Arc::new(inner),
        };
        db.refresh()?;
        if db.is_writable() {
            db.reload_privacy()?; // a read-only handle's refresh has read them
        }
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

    /// The memory budget of this handle's imports and compactions, in bytes
    /// ([`DbBuilder::memory_limit`]).
    pub fn memory_limit(&self) -> usize {
        self.inner.memory_limit
    }

    /// The budget split into its shares.
    pub(crate) fn budget(&self) -> crate::options::Budget {
        self.inner.budget
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
                    if !self.is_writable() {
                        self.reload_privacy()?;
                    }
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

    /// Merges every part worth merging into as few parts as the data needs, dropping
    /// the data of visitors moved out of them (or erased) and folding their deletion
    /// files away, and commits the result: durable when it returns. Readers and writers
    /// wait for it at most one manifest swap (`sightline compact`).
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::builder().auto_compact(false).create(dir.path())?;
    /// for minute in 0..5 {
    ///     let mut tx = db.begin_write()?;
    ///     tx.append(&sightline::Event::pageview(minute * 60_000, "v", "/"))?;
    ///     tx.commit()?; // each commit rewrites the returning visitor
    /// }
    /// let before = db.snapshot().stats()?;
    /// let c = db.compact()?;
    /// assert_eq!((c.parts_after, db.snapshot().stats()?.events), (1, before.events));
    /// # Ok(()) }
    /// ```
    pub fn compact(&self) -> Result<Compaction> {
        self.check_writable()?;
        self.apply_retention(crate::privacy::now_ms())?;
        compaction::compact(self, compaction::plan_all, &|| false)
    }

    /// Merges parts by the size-tier policy until it asks for nothing more (what the
    /// background compactor does after commits), in the caller's thread. Returns the
    /// totals of what was done.
    pub fn compact_as_needed(&self) -> Result<Compaction> {
        self.check_writable()?;
        self.apply_retention(crate::privacy::now_ms())?;
        let mut total = compaction::compact(self, compaction::plan_tiers, &|| false)?;
        while total.parts_merged > 0 {
            let c = compaction::compact(self, compaction::plan_tiers, &|| false)?;
            if c.parts_merged == 0 {
                break;
            }
            total.parts_after = c.parts_after;
            total.bytes_after = c.bytes_after;
            total.generation = c.generation;
            total.parts_merged += c.parts_merged;
            total.visitors_dropped += c.visitors_dropped;
        }
        Ok(total)
    }

    /// Erases the visitors `selector` selects — every visit and event of each, on every
    /// part that holds a byte of them — for a data subject's erasure request. When it
    /// returns the erasure is durable and no file in the database directory holds the
    /// erased data: the parts that held it are rewritten without it (the others are
    /// left as they are), the replaced files are deleted and the directory is synced.
    /// Every other answer is unchanged. With `dry_run`, only counts what it would
    /// erase. Selecting nobody is not an error: the counts are 0. A user id selects the
    /// visits whose `userId` is that id or its pseudonym (`Db::pseudonymize_user_id`),
    /// so a person's clear id finds data stored with pseudonyms on. `docs/privacy.md`.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::ExportSelector;
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = sightline::Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.append(&sightline::Event::pageview(0, "ann", "/secret-page"))?;
    /// tx.append(&sightline::Event::pageview(0, "bob", "/"))?;
    /// tx.commit()?;
    /// let erased = db.erase(&ExportSelector::Visitor("ann".into()), false)?;
    /// assert_eq!((erased.visitors, erased.visits, erased.events), (1, 1, 1));
    /// assert!(db.snapshot().visitor("ann")?.is_none());
    /// assert_eq!(db.snapshot().stats()?.visitors, 1);
    /// # Ok(()) }
    /// ```
    pub fn erase(&self, selector: &ExportSelector, dry_run: bool) -> Result<PrivacyOutcome> {
        self.check_writable()?;
        let mut selectors = vec![selector.clone()];
        if let ExportSelector::UserId(uid) = selector {
            // The clear id a person gives finds their data also where it is stored as
            // its pseudonym (the key is the audit log's secret, which the record below
            // needs anyway).
            selectors.push(ExportSelector::UserId(self.pseudonym_key()?.pseudonym(uid)));
        }
        let out = crate::privacy::rewrite::erase(self, &selectors, dry_run)?;
        if !dry_run {
            let (kind, text) = match selector {
                ExportSelector::Visitor(id) => (SelectorKind::Visitor, id.clone()),
                ExportSelector::UserId(uid) => (SelectorKind::UserId, uid.clone()),
                ExportSelector::Segment(s) => (SelectorKind::Segment, s.segment().to_string()),
            };
            self.audit_outcome(AuditAction::Erase, kind, text, &out)?;
        }
        Ok(out)
    }

    /// Removes every visit that started before `cutoff` (Unix ms) from disk: a retention
    /// purge. Parts whose visits all expired are dropped whole, parts with some are
    /// rewritten, and the replaced files deleted, durably, as for [`erase`](Db::erase).
    /// The remaining visits keep their derived values (`visitCount`, `visitorType`,
    /// `daysSinceFirstVisit`, `daysSinceLastVisit` still count the purged visits), and
    /// so do the visitor's later visits. A visitor whose visits all expired is
    /// forgotten. Recorded in the audit log (kind `range`, text `before <cutoff>`).
    pub fn purge_before(&self, cutoff: i64, dry_run: bool) -> Result<PrivacyOutcome> {
        self.check_writable()?;
        let out = crate::privacy::rewrite::purge(self, cutoff, dry_run)?;
        if !dry_run {
            let text = format!("before {cutoff}");
            self.audit_outcome(AuditAction::Purge, SelectorKind::Range, text, &out)?;
        }
        Ok(out)
    }

    /// Applies the `retention_days` setting (if set) as of `now_ms`: purges the visits
    /// that started before the start of the UTC day `retention_days` days before
    /// `now_ms`'s. Does nothing (and returns `None`) when the setting is off or no
    /// stored visit is that old — a check of each part's first visit, so it costs
    /// nothing to call often. The background compactor calls it after its merges,
    /// with the system clock; so does [`compact`](Db::compact). Recorded in the audit
    /// log (kind `olderThan`, text `<N>d`).
    pub fn apply_retention(&self, now_ms: i64) -> Result<Option<PrivacyOutcome>> {
        let Some(days) = self.privacy_settings().retention_days else {
            return Ok(None);
        };
        let cutoff = crate::privacy::retention_cutoff(now_ms, days);
        let oldest = self
            .snapshot()
            .parts()
            .iter()
            .map(|p| p.reader.meta().min_ts)
            .min();
        if oldest.is_none_or(|t| t >= cutoff) {
            return Ok(None);
        }
        self.check_writable()?;
        let out = crate::privacy::rewrite::purge(self, cutoff, false)?;
        let text = format!("{days}d");
        self.audit_outcome(AuditAction::Purge, SelectorKind::OlderThan, text, &out)?;
        Ok(Some(out))
    }

    /// Rewrites stored visits to anonymise them (IP mask, user-id pseudonyms, location
    /// fields cleared): those that started in `a.range` and that `a.segment` selects.
    /// Durable and physically applied when it returns, as for [`erase`](Db::erase).
    /// Pseudonyms are those of [`pseudonymize_user_id`](Db::pseudonymize_user_id); a
    /// stored `userId` that already has the form of one (64 lowercase hexadecimal
    /// digits) is left as it is, so that running it twice changes nothing. Recorded in
    /// the audit log.
    pub fn anonymize(&self, a: &Anonymization, dry_run: bool) -> Result<PrivacyOutcome> {
        self.check_writable()?;
        let key = match a.pseudonymize_user_id && !dry_run {
            true => Some(self.pseudonym_key()?),
            false => None,
        };
        let pseudonyms = key.map(|k| {
            move |v: &str| (!crate::privacy::looks_like_pseudonym(v)).then(|| k.pseudonym(v))
        });
        let out = crate::privacy::rewrite::anonymize(
            self,
            a,
            pseudonyms.as_ref().map(|f| f as _),
            dry_run,
        )?;
        if !dry_run {
            let (kind, text) = match (&a.segment, a.range.start.or(a.range.end)) {
                (Some(s), _) => (SelectorKind::Segment, s.segment().to_string()),
                (None, Some(_)) => (
                    SelectorKind::Range,
                    format!("{:?}..{:?}", a.range.start, a.range.end),
                ),
                (None, None) => (SelectorKind::All, String::new()),
            };
            self.audit_outcome(AuditAction::Anonymize, kind, text, &out)?;
        }
        Ok(out)
    }

    /// Records a committed privacy rewrite in the audit log. Its failure is reported
    /// as such: the rewrite itself stands.
    fn audit_outcome(
        &self,
        action: AuditAction,
        kind: SelectorKind,
        text: String,
        out: &PrivacyOutcome,
    ) -> Result<()> {
        let counts = AuditCounts {
            visitors: out.visitors,
            visits: out.visits,
            events: out.events,
        };
        self.audit(AuditRecord::new(action, kind, text, counts))
            .map_err(|e| match e {
                Error::Io { op, path, error } => Error::Io {
                    op,
                    path,
                    error: std::io::Error::new(
                        error.kind(),
                        format!(
                            "{error} (the {} was committed; only its audit record is missing)",
                            action.name()
                        ),
                    ),
                },
                other => other,
            })
    }

    /// Names of files being written without the writer lock (clean-ups leave them).
    pub(crate) fn in_flight_names(&self) -> HashSet<String> {
        self.inner.in_flight.lock().clone()
    }

    fn check_writable(&self) -> Result<()> {
        if self.inner.lock.is_none() {
            return Err(Error::ReadOnly);
        }
        if let Some(why) = &self.inner.writing.lock().poisoned {
            return Err(Error::WritesRefused {
                reason: why.clone(),
            });
        }
        Ok(())
    }

    /// Reserves `n` file ids for files written without the writer lock.
    pub(crate) fn reserve_file_ids(&self, n: u64) -> Result<u64> {
        let mut state = self.inner.writing.lock();
        if let Some(why) = &state.poisoned {
            return Err(Error::WritesRefused {
                reason: why.clone(),
            });
        }
        let first = self
            .snapshot()
            .manifest()
            .next_file_id
            .max(state.next_file_id);
        state.next_file_id = first + n;
        Ok(first)
    }

    /// Held by a compaction from its plan to its swap: one runs at a time.
    pub(crate) fn compaction_lock(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.inner.compacting.lock()
    }

    /// Runs `f` under the writer lock with the current snapshot.
    pub(crate) fn write_locked<T>(
        &self,
        f: impl FnOnce(&mut WriterState, &Snapshot) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.inner.writing.lock();
        if let Some(why) = &state.poisoned {
            return Err(Error::WritesRefused {
                reason: why.clone(),
            });
        }
        let current = self.snapshot();
        f(&mut state, &current)
    }

    /// Marks `names` as being written without the writer lock until the guard drops:
    /// clean-ups leave them alone.
    pub(crate) fn in_flight(&self, names: &[String]) -> InFlight<'_> {
        self.inner.in_flight.lock().extend(names.iter().cloned());
        InFlight {
            db: self,
            names: names.to_vec(),
        }
    }

    /// Tells the background compactor that a commit happened.
    pub(crate) fn committed(&self) {
        if let Some(c) = &self.compactor {
            c.nudge();
        }
    }

    /// The database directory, held open.
    pub(crate) fn dir(&self) -> &dyn VfsDir {
        &*self.inner.dir
    }

    /// The privacy settings, secret and audit log position (`privacy::db`).
    pub(crate) fn privacy_state(&self) -> &Mutex<crate::privacy::PrivacyState> {
        &self.inner.privacy
    }

    /// Makes `snapshot` the current one (after its commit).
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        *self.inner.current.write() = snapshot;
    }

    /// The snapshot of `manifest`: every part it names opened (or taken from the cache
    /// of opened parts) and every deletion set read and checked.
    pub(crate) fn load(&self, manifest: Manifest) -> Result<Snapshot> {
        self.load_with(manifest, None)
    }

    /// [`load`](Db::load), with `pending` = (name, bytes) of the manifest file being
    /// committed, not yet on disk, whose inline blobs `manifest` may point into.
    pub(crate) fn load_with(
        &self,
        manifest: Manifest,
        pending: Option<(&str, &[u8])>,
    ) -> Result<Snapshot> {
        let mut cache = self.inner.readers.lock();
        let mut dels = self.inner.deletions.lock();
        let mut store = Stored::new(&*self.inner.dir, pending);
        let mut parts = Vec::with_capacity(manifest.parts.len());
        for e in &manifest.parts {
            let (reader, part_cache) = match cache.get(&e.id) {
                Some((crc, bytes, r, c)) if (*crc, *bytes) == (e.crc, e.bytes) => {
                    (r.clone(), c.clone())
                }
                _ => {
                    let r = Arc::new(store.part(e)?);
                    let c = Arc::new(PartCache::default());
                    cache.insert(e.id, (e.crc, e.bytes, r.clone(), c.clone()));
                    (r, c)
                }
            };
            let deleted = match &e.deletions {
                Some(d) => deletion_set(&mut store, d, e.visitors, &mut dels)?,
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
        let live: HashSet<u64> = manifest.parts.iter().map(|p| p.id).collect();
        let mut retired = self.inner.retired.lock();
        cache.retain(|id, (_, _, reader, _)| {
            let keep = live.contains(id);
            if !keep && let Some(name) = reader.path().file_name().and_then(|n| n.to_str()) {
                retired.push((name.to_string(), Arc::downgrade(reader)));
            }
            keep
        });
        let live_dels: HashSet<String> = manifest
            .parts
            .iter()
            .filter_map(|p| p.deletions.as_ref().map(del_key))
            .collect();
        dels.retain(|key, _| live_dels.contains(key));
        Ok(Snapshot::new(manifest, parts))
    }

    /// Files of parts that a snapshot of this process still uses though the current
    /// one does not.
    fn pinned(&self) -> HashSet<String> {
        let mut retired = self.inner.retired.lock();
        retired.retain(|(_, reader)| reader.strong_count() > 0);
        retired.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Deletes the database files the directory need not keep (listing it): temporary
    /// files of interrupted commits, and superseded files ([`manifest::orphans`]).
    /// Files of parts that a snapshot of this process still uses stay (a later clean-up
    /// takes them). `known`: manifests held in memory (not read again). Deletes nothing
    /// if a manifest it needs cannot be read. Call under the writer lock.
    pub(crate) fn remove_orphans(
        &self,
        state: &mut WriterState,
        known: &[&Manifest],
    ) -> Result<()> {
        let orphans = manifest::orphans(&*self.inner.dir, known)?;
        state.deferred.clear();
        self.remove_files(state, orphans)
    }

    /// Deletes `names` (files no manifest the directory keeps references), and those
    /// an earlier clean-up had to leave, but for files of parts a snapshot of this
    /// process still uses, which are left for the next clean-up. Not synced: a removal
    /// lost to a crash is simply retried by the next writer's open, and a commit is not
    /// made to wait for a directory fsync it does not need.
    pub(crate) fn remove_files(&self, state: &mut WriterState, names: Vec<String>) -> Result<()> {
        let dir = &*self.inner.dir;
        let pinned = self.pinned();
        let mut names: Vec<String> = std::mem::take(&mut state.deferred)
            .into_iter()
            .chain(names)
            .collect();
        names.sort_unstable();
        names.dedup();
        let in_flight = self.inner.in_flight.lock().clone();
        let (keep, remove): (Vec<String>, Vec<String>) = names
            .into_iter()
            .filter(|n| !in_flight.contains(n))
            .partition(|n| pinned.contains(n));
        state.deferred = keep;
        // Manifests first: an older manifest does not outlive files it names.
        let (manifests, files): (Vec<&String>, Vec<&String>) = remove
            .iter()
            .partition(|n| n.starts_with(manifest::MANIFEST_PREFIX));
        for name in manifests.into_iter().chain(files) {
            fs::remove(dir, name)?;
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
        let spill = SpillTo {
            dir: self.inner.dir.clone(),
            next_run: self.inner.next_run.clone(),
            at_bytes: self.budget().spill_bytes,
        };
        Ok(WriteTxn {
            db: self,
            _guard: guard,
            batch: Batch::new(rows, Some(spill)),
            api_rows: 0,
            // The stored privacy settings (`Db::privacy_settings`).
            rules: self.write_rules(),
        })
    }
}

/// What is at a path, as a place for a database: [`Db::probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbLocation {
    /// Nothing: a database can be created there.
    Missing,
    /// A file (or anything else that is not a directory).
    NotADirectory,
    /// A directory holding no file but what a database writes (none at all, or what an
    /// interrupted creation left, such as a temporary manifest or an old `LOCK` file): a
    /// database can be created there.
    Empty,
    /// A directory holding a database: it has a manifest.
    Database,
    /// A directory with other files and no manifest: not a database, and creating one
    /// there would mix its files with others.
    Other {
        /// One of those other files, for messages.
        example: String,
    },
}

impl Db {
    /// What is at `path` (on the real file system): for tools that create a database
    /// only where none of the user's files would share its directory. A directory is a
    /// database when it holds a manifest (`MANIFEST-<generation>`).
    pub fn probe(path: &Path) -> Result<DbLocation> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DbLocation::Missing),
            Err(e) => return Err(Error::io("stat", path, e)),
            Ok(m) if !m.is_dir() => return Ok(DbLocation::NotADirectory),
            Ok(_) => {}
        }
        let entries = std::fs::read_dir(path).map_err(|e| Error::io("list directory", path, e))?;
        let mut other = None;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list directory", path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(manifest::MANIFEST_PREFIX) {
                return Ok(DbLocation::Database);
            }
            // `LOCK`: the writer lock file of earlier versions (the lock is now an
            // `flock` on the directory itself).
            if other.is_none() && !manifest::is_database_file(&name) && name != "LOCK" {
                other = Some(name);
            }
        }
        Ok(match other {
            Some(example) => DbLocation::Other { example },
            None => DbLocation::Empty,
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
        rollback: None,
        custom: vec![],
    }
}

/// A write transaction: events appended here become visible, all at once, at
/// [`commit`](WriteTxn::commit). Dropping it without committing discards them.
///
/// However many events a transaction takes, it holds at most about its share of the
/// memory budget ([`DbBuilder::memory_limit`]): beyond it, rows are sorted and spilled
/// to temporary run files in the database directory, which the commit merges (and
/// deletes, whether it succeeds or fails; dropping the transaction deletes them too).
pub struct WriteTxn<'db> {
    db: &'db Db,
    _guard: parking_lot::MutexGuard<'db, WriterState>,
    batch: Batch,
    api_rows: u64,
    /// Privacy rules of the rows appended (and of imports that set none of their own).
    rules: WriteRules,
}

impl WriteTxn<'_> {
    /// Replaces the transaction's rows (for the appender, which gathers them itself).
    pub(crate) fn set_rows(&mut self, rows: Rows) {
        self.batch.rows = rows;
    }

    /// Number of events appended so far.
    pub fn len(&self) -> usize {
        usize::try_from(self.batch.len()).unwrap_or(usize::MAX)
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.batch.len() == 0
    }

    /// Masks `bytes` bytes (0 to [`MAX_IP_MASK_BYTES`](crate::MAX_IP_MASK_BYTES)) of the
    /// `ip` of every event appended from here on ([`append`](WriteTxn::append),
    /// [`append_json`](WriteTxn::append_json), and [`import_file`](WriteTxn::import_file)
    /// unless its options say otherwise), by Matomo's rule, storing it in canonical form
    /// ([`anonymize_ip`](crate::anonymize_ip)); an `ip` that is not an IP address is then
    /// a row error. `None` stores `ip` as given. A transaction starts from the
    /// database's stored settings ([`Db::privacy_settings`]). Events appended before
    /// are not changed.
    ///
    /// ```
    /// # fn main() -> sightline::Result<()> {
    /// use sightline::{Db, Event};
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::create(dir.path(), Default::default())?;
    /// let mut tx = db.begin_write()?;
    /// tx.set_anonymize_ip(Some(2))?;
    /// tx.append_json(r#"{"ts":1,"visitorId":"v","ip":"192.168.17.4"}"#)?;
    /// assert!(tx.append_json(r#"{"ts":2,"visitorId":"v","ip":"localhost"}"#).is_err());
    /// tx.commit()?;
    /// let ips = db.snapshot().dimension_values("ip", "", 10)?.values;
    /// assert_eq!(ips, vec!["192.168.0.0".to_string()]);
    /// # Ok(()) }
    /// ```
    pub fn set_anonymize_ip(&mut self, bytes: Option<u8>) -> Result<()> {
        let key = self.rules.user_id_key();
        self.rules = WriteRules::anonymizing_ip(bytes)
            .map_err(ip_mask_error)?
            .with_user_id_key(key)
            .with_enricher_of(&self.rules);
        Ok(())
    }

    /// Locates the `ip` of every row appended or imported from here on with the MaxMind
    /// DB file at `path` (GeoIP2 or GeoLite2, City or Country), setting `countryCode`,
    /// `regionCode`, `city`, `latitude` and `longitude` where a row gives none
    /// (`docs/enrichment.md`). The whole address is located, before any masking.
    pub fn set_geoip(&mut self, path: &std::path::Path) -> Result<()> {
        let enricher = crate::enrich::Enricher::with_geoip(path)?;
        self.rules = self
            .rules
            .clone()
            .with_enricher(std::sync::Arc::new(enricher));
        Ok(())
    }

    /// Stores every non-empty `userId` appended from here on as its pseudonym
    /// ([`Db::pseudonymize_user_id`]) when `on`, as given when not, whatever the
    /// database's settings say (which a transaction starts from). Draws the database
    /// secret if it has none.
    pub fn set_pseudonymize_user_id(&mut self, on: bool) -> Result<()> {
        let key = if on {
            Some(self.db.pseudonym_key()?)
        } else {
            None
        };
        self.rules = self.rules.clone().with_user_id_key(key);
        Ok(())
    }

    /// Appends a typed event.
    pub fn append(&mut self, event: &Event) -> Result<()> {
        self.api_rows += 1;
        self.batch
            .rows
            .push_event(event, &self.rules, "<input>", self.api_rows)
            .map_err(Error::Row)?;
        self.batch.maybe_spill()
    }

    /// Appends one event given as a JSON object in the input format of `docs/ingest.md`.
    pub fn append_json(&mut self, line: &str) -> Result<()> {
        self.api_rows += 1;
        let mut raw = Vec::new();
        let res = parse::parse_json(line.as_bytes(), &mut raw).and_then(|_| {
            parse::push_raw(&raw, Mode::Json, &self.rules, &mut self.batch.rows, true)
        });
        res.map_err(|(field, reason)| {
            Error::Row(RowError {
                file: "<input>".into(),
                line: self.api_rows,
                field,
                reason,
            })
        })?;
        self.batch.maybe_spill()
    }

    /// Reads a JSON Lines or CSV file into the transaction, masking every `ip` if
    /// `options.anonymize_ip` (or else [`set_anonymize_ip`](WriteTxn::set_anonymize_ip))
    /// says so. Without
    /// `options.skip_invalid`, a bad row fails the call and appends nothing from the
    /// file (rows of it already spilled to run files are taken back too; the
    /// transaction's earlier rows stay). `progress` receives the number of bytes read so
    /// far. A file of any size is read within the memory budget
    /// ([`DbBuilder::memory_limit`]): rows beyond it are spilled as sorted runs.
    pub fn import_file(
        &mut self,
        path: &Path,
        options: &ImportOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<FileReport> {
        let mut rules = self.rules.clone();
        if options.pseudonymize_user_id && !rules.pseudonymizes_user_id() {
            rules = rules.with_user_id_key(Some(self.db.pseudonym_key()?));
        }
        import::import_file(path, options, &rules, &mut self.batch, progress)
    }

    /// Makes the appended events durable and visible (`docs/file-format.md`). Returns once the commit
    /// survives a crash or power loss.
    pub fn commit(self) -> Result<CommitSummary> {
        let WriteTxn {
            db,
            _guard: mut state,
            batch,
            ..
        } = self;
        let summary = crate::commit::commit(db, &mut state, batch)?;
        drop(state);
        db.committed();
        Ok(summary)
    }
}

/// A mask length out of range, as the error of the call that was given it.
pub(crate) fn ip_mask_error(e: crate::privacy::IpError) -> Error {
    Error::InvalidArgument {
        argument: "anonymize_ip",
        reason: e.to_string(),
    }
}

/// Names being written without the writer lock (see [`Db::in_flight`]).
pub(crate) struct InFlight<'a> {
    db: &'a Db,
    names: Vec<String>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut set = self.db.inner.in_flight.lock();
        for n in &self.names {
            set.remove(n);
        }
    }
}

/// Wakes the background compactor after commits, and stops it when the last handle of
/// the database goes.
#[derive(Debug)]
pub(crate) struct Compactor {
    signal: Arc<Signal>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the compactor is told, and the condition it waits on.
#[derive(Debug, Default)]
struct Signal {
    state: Mutex<SignalState>,
    cond: parking_lot::Condvar,
}

#[derive(Debug, Default)]
struct SignalState {
    /// A commit happened since the compactor last looked.
    pending: bool,
    /// The handle is going: stop.
    stop: bool,
    /// When the last commit happened.
    last_commit: Option<std::time::Instant>,
}

/// The writer is idle once no commit happened for this long: only then does the
/// compactor do the merges that only speed up queries on small data (see
/// `compaction::plan_tiers`), so that they do not compete with a stream of commits.
const IDLE: std::time::Duration = std::time::Duration::from_millis(200);

impl Compactor {
    /// Starts the compactor of the database behind `inner` (held weakly: the thread
    /// never keeps the database open).
    fn start(inner: &Arc<Inner>) -> Arc<Compactor> {
        let signal = Arc::new(Signal::default());
        let weak = Arc::downgrade(inner);
        let s = signal.clone();
        let thread = std::thread::Builder::new()
            .name("sightline-compactor".into())
            .spawn(move || compactor_loop(&weak, &s))
            .ok();
        Arc::new(Compactor {
            signal,
            thread: Mutex::new(thread),
        })
    }

    /// Asks for a look at the parts (after a commit).
    fn nudge(&self) {
        let mut st = self.signal.state.lock();
        st.pending = true;
        st.last_commit = Some(std::time::Instant::now());
        self.signal.cond.notify_all();
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.signal.state.lock().stop = true;
        self.signal.cond.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// The compactor: waits for a nudge, then merges by the tier policy until nothing is
/// left to merge, a compaction fails (retried at the next nudge), or it is stopped.
/// While commits keep coming it leaves out the merges only worth making on small data,
/// and comes back for them once the writer is idle.
fn compactor_loop(inner: &std::sync::Weak<Inner>, signal: &Signal) {
    let stop = || signal.state.lock().stop;
    loop {
        {
            let mut st = signal.state.lock();
            while !st.pending && !st.stop {
                signal.cond.wait(&mut st);
            }
            if st.stop {
                return;
            }
            st.pending = false;
        }
        while !stop() {
            let Some(inner) = inner.upgrade() else { return };
            let db = Db {
                compactor: None,
                inner,
            };
            let since = signal.state.lock().last_commit.map(|t| t.elapsed());
            let busy = since.is_some_and(|s| s < IDLE);
            let plan = if busy {
                compaction::plan_busy
            } else {
                compaction::plan_tiers
            };
            match compaction::compact(&db, plan, &stop) {
                Ok(c) if c.parts_merged > 0 => continue,
                Ok(_) if busy => {
                    drop(db);
                    // Back when the writer has been idle for a while (or stopped).
                    let mut st = signal.state.lock();
                    let wait = IDLE.saturating_sub(since.unwrap_or_default());
                    if !st.stop {
                        let _ = signal.cond.wait_for(&mut st, wait);
                    }
                    st.pending = false;
                }
                Ok(_) => {
                    // Merged all it should: expired visits go next (the retention
                    // setting; a no-op check when nothing has expired). An error
                    // leaves them for the next round.
                    let _ = db.apply_retention(crate::privacy::now_ms());
                    break;
                }
                Err(_) => break,
            }
        }
    }
}

/// The key of a deletion set in the cache of sets read: its file, and its offset when
/// inline (a manifest may hold several).
fn del_key(d: &DelEntry) -> String {
    match d.inline {
        Some(offset) => format!("{}@{offset}", d.file),
        None => d.file.clone(),
    }
}

/// The deletion set `d` of a part of `visitors` visitors: read and checked, or taken
/// from `cache`.
fn deletion_set(
    store: &mut Stored<'_>,
    d: &DelEntry,
    visitors: u32,
    cache: &mut HashMap<String, Arc<RoaringBitmap>>,
) -> Result<Arc<RoaringBitmap>> {
    let key = del_key(d);
    if let Some(bm) = cache.get(&key) {
        return Ok(bm.clone());
    }
    let path = fs::path_of(store.dir, &d.file);
    let bytes = store.bytes(&d.file, d.inline, d.bytes)?;
    let bm = manifest::decode_deletions(&path, &bytes)?;
    if bm.len() != d.visitors as u64 || bm.max().is_some_and(|m| m >= visitors) {
        return Err(Error::corrupt(
            &path,
            "deletion set does not match the manifest",
        ));
    }
    let bm = Arc::new(bm);
    cache.insert(key, bm.clone());
    Ok(bm)
}

/// Reads parts and deletion sets for a load: files of their own, or blobs inline in a
/// manifest (each manifest read once per load; the one being committed is in memory).
struct Stored<'a> {
    dir: &'a dyn VfsDir,
    pending: Option<(&'a str, &'a [u8])>,
    manifests: HashMap<String, Vec<u8>>,
}

impl<'a> Stored<'a> {
    fn new(dir: &'a dyn VfsDir, pending: Option<(&'a str, &'a [u8])>) -> Stored<'a> {
        Stored {
            dir,
            pending,
            manifests: HashMap::new(),
        }
    }

    /// The bytes of a stored object: `len` bytes at offset `inline` in the blobs of
    /// manifest `file`, or the whole of `file`.
    fn bytes(&mut self, file: &str, inline: Option<u64>, len: u64) -> Result<Vec<u8>> {
        let Some(offset) = inline else {
            return fs::read(self.dir, file);
        };
        let path = fs::path_of(self.dir, file);
        if let Some((name, bytes)) = self.pending
            && name == file
        {
            return manifest::inline_blob(&path, bytes, offset, len);
        }
        if !self.manifests.contains_key(file) {
            let bytes = fs::read(self.dir, file)?;
            self.manifests.insert(file.to_string(), bytes);
        }
        let whole = self
            .manifests
            .get(file)
            .map(Vec::as_slice)
            .unwrap_or_default();
        manifest::inline_blob(&path, whole, offset, len)
    }

    /// Part `e` opened: mapped from its file, or read from its manifest.
    fn part(&mut self, e: &PartEntry) -> Result<PartReader> {
        match e.inline {
            None => PartReader::open(self.dir, &e.file, e.bytes),
            Some(offset) => {
                let bytes = self.bytes(&e.file, Some(offset), e.bytes)?;
                PartReader::from_bytes(&fs::path_of(self.dir, &e.file), bytes)
            }
        }
    }
}
