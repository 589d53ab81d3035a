//! Integrity check (`sightline check`): every database file in the directory —
//! every manifest present (the newest, the previous one kept for rollback, any older
//! one a clean-up left), and every part and deletion file the two newest manifests name
//! — checksum by checksum and structure by structure.
//!
//! Files are read with ordinary reads, not mapped, so a truncated or damaged file is
//! reported as corruption and can never fault the process.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage::checksum::crc32c;
use crate::storage::fs::{self, Vfs, VfsDir};
use crate::storage::manifest::{self, DelEntry, Manifest, PartEntry};
use crate::storage::part_reader::PartReader;

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// The newest manifest generation (the database's).
    pub generation: u64,
    /// Files verified (manifests, parts, deletion files).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Problems found: file and what is wrong. Empty means the database is sound.
    pub problems: Vec<Error>,
    /// Files in the directory that no manifest references (left by an interrupted
    /// commit; the next writer removes them). Not a problem.
    pub orphans: Vec<PathBuf>,
}

impl CheckReport {
    /// True when every check passed.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the database in `dir`. Fails only if the database cannot be found at all;
/// damage is reported in [`CheckReport::problems`].
///
/// ```
/// # fn main() -> sightline::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = sightline::Db::create(dir.path(), Default::default())?;
/// let mut tx = db.begin_write()?;
/// tx.append(&sightline::Event::pageview(0, "v", "/"))?;
/// tx.commit()?;
/// assert!(sightline::check(dir.path())?.is_ok());
/// # Ok(()) }
/// ```
pub fn check(dir: &Path) -> Result<CheckReport> {
    check_in(&*fs::os(), dir)
}

/// [`check`] through another file system (tests use the simulated disk).
pub fn check_in(vfs: &dyn Vfs, path: &Path) -> Result<CheckReport> {
    let no_database = || Error::NoDatabase {
        path: path.to_path_buf(),
        reason: String::new(),
    };
    let dir = vfs.open_dir(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => no_database(),
        _ => Error::io("open directory", path, e),
    })?;
    // A writer may replace files while the check runs (a commit drops the files only
    // the generation before the previous one used): a problem seen while the newest
    // generation changed is checked again on the new state.
    let mut attempts = 0;
    loop {
        let gens = manifest::generations(&*dir)?;
        let report = check_generations(&*dir, &gens).ok_or_else(no_database)?;
        attempts += 1;
        if report.is_ok() || attempts >= 5 || manifest::generations(&*dir)? == gens {
            return Ok(report);
        }
    }
}

/// Checks the database whose manifests are `gens` (ascending); `None` if there is none.
fn check_generations(dir: &dyn VfsDir, gens: &[u64]) -> Option<CheckReport> {
    let &newest = gens.last()?;
    let mut check = Checker {
        dir,
        report: CheckReport {
            generation: newest,
            ..CheckReport::default()
        },
        verified: HashSet::new(),
    };
    // Every manifest present, newest first, with the blobs it holds inline; the parts
    // and deletion sets of the newest (the database) and of its rollback generation.
    let manifests: Vec<Option<Manifest>> = gens.iter().rev().map(|&g| check.manifest(g)).collect();
    for m in manifests.iter().flatten() {
        let own = Manifest::file_name(m.generation);
        for p in &m.parts {
            if p.inline.is_some() && p.file == own {
                check.part(p);
            }
            if let Some(d) = &p.deletions
                && d.inline.is_some()
                && d.file == own
            {
                check.deletions(p, d);
            }
        }
    }
    let newest_m = manifests.first().and_then(Option::as_ref);
    let rollback = newest_m
        .and_then(|m| m.rollback)
        .and_then(|r| manifests.iter().flatten().find(|m| m.generation == r));
    for m in newest_m.into_iter().chain(rollback) {
        for p in &m.parts {
            check.part(p);
            if let Some(d) = &p.deletions {
                check.deletions(p, d);
            }
        }
    }
    check.privacy_files();
    // Orphans are not problems: the next writer removes them. (Without a readable
    // newest manifest nothing can be called an orphan.)
    if let Some(Some(m)) = manifests.first() {
        check.report.orphans = manifest::orphans(dir, &[m])
            .unwrap_or_default()
            .into_iter()
            .map(|n| fs::path_of(dir, &n))
            .collect();
    }
    Some(check.report)
}

/// A check in progress.
struct Checker<'a> {
    dir: &'a dyn VfsDir,
    report: CheckReport,
    /// Files already verified (two manifests may name the same part).
    verified: HashSet<String>,
}

impl Checker<'_> {
    /// Reads `name` (counting it), or records why it cannot be read.
    fn read(&mut self, name: &str) -> Option<Vec<u8>> {
        match fs::read(self.dir, name) {
            Ok(b) => {
                self.report.files += 1;
                self.report.bytes += b.len() as u64;
                Some(b)
            }
            Err(e) if matches!(&e, Error::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound) =>
            {
                self.report.problems.push(Error::corrupt(
                    &fs::path_of(self.dir, name),
                    "a manifest names this file, but the directory does not hold it",
                ));
                None
            }
            Err(e) => {
                self.report.problems.push(e);
                None
            }
        }
    }

    /// Verifies manifest `generation`; returns it if it decodes.
    fn manifest(&mut self, generation: u64) -> Option<Manifest> {
        let name = Manifest::file_name(generation);
        let path = fs::path_of(self.dir, &name);
        let bytes = self.read(&name)?;
        match Manifest::decode(&path, &bytes) {
            Ok(m) if m.generation == generation => Some(m),
            Ok(_) => {
                self.report.problems.push(Error::corrupt(
                    &path,
                    "generation differs from the file name",
                ));
                None
            }
            Err(e) => {
                self.report.problems.push(e);
                None
            }
        }
    }

    /// Reads a part or deletion set: its own file (counted as a file), or its blob
    /// inline in a manifest (whose file is counted with the manifests). Records why
    /// it cannot be read.
    fn read_stored(&mut self, file: &str, inline: Option<u64>, len: u64) -> Option<Vec<u8>> {
        let Some(offset) = inline else {
            return self.read(file);
        };
        match manifest::read_inline(self.dir, file, offset, len) {
            Ok(b) => Some(b),
            Err(e) => {
                self.report.problems.push(e);
                None
            }
        }
    }

    /// Verifies part `p` (whole-file checksum, every section and structure, counts),
    /// unless already done.
    fn part(&mut self, p: &PartEntry) {
        if self.verified.insert(stored_key(&p.file, p.inline))
            && let Some(bytes) = self.read_stored(&p.file, p.inline, p.bytes)
            && let Err(e) = verify_part(&fs::path_of(self.dir, &p.file), p, bytes)
        {
            self.report.problems.push(e);
        }
    }

    /// Verifies the deletion set `d` of part `p`, unless already done.
    fn deletions(&mut self, p: &PartEntry, d: &DelEntry) {
        if !self.verified.insert(stored_key(&d.file, d.inline)) {
            return;
        }
        let path = fs::path_of(self.dir, &d.file);
        let res = self.read_stored(&d.file, d.inline, d.bytes).map(|b| {
            let bm = manifest::decode_deletions(&path, &b)?;
            if bm.len() != d.visitors as u64 || bm.max().is_some_and(|x| x >= p.visitors) {
                return Err(Error::corrupt(
                    &path,
                    "deletion set does not match the manifest",
                ));
            }
            Ok(())
        });
        if let Some(Err(e)) = res {
            self.report.problems.push(e);
        }
    }
}

impl Checker<'_> {
    /// Verifies the privacy files: every settings file present (frame, checksum,
    /// values) and the audit log, record by record (a torn last record, which the next
    /// append cuts off, is not a problem).
    fn privacy_files(&mut self) {
        use crate::privacy::{audit, settings};
        let names = match fs::list(self.dir) {
            Ok(n) => n,
            Err(e) => {
                self.report.problems.push(e);
                return;
            }
        };
        for name in names {
            let generation = settings::generation_of(&name);
            if generation.is_none() && name != audit::LOG_FILE {
                continue;
            }
            let Some(bytes) = self.read(&name) else {
                continue;
            };
            let path = fs::path_of(self.dir, &name);
            let res = match generation {
                Some(g) => Self::settings_file(&path, &bytes, g),
                None => audit::scan(&path, &bytes).map(|_| ()),
            };
            if let Err(e) = res {
                self.report.problems.push(e);
            }
        }
    }

    fn settings_file(path: &Path, bytes: &[u8], generation: u64) -> Result<()> {
        let stored = crate::privacy::settings::decode(path, bytes)?;
        if stored.generation != generation {
            return Err(Error::corrupt(
                path,
                "privacy settings generation differs from the file name",
            ));
        }
        Ok(())
    }
}

/// What identifies a stored object: its file, and its offset when inline.
fn stored_key(file: &str, inline: Option<u64>) -> String {
    match inline {
        Some(o) => format!("{file}@{o}"),
        None => file.to_string(),
    }
}

/// Checks the bytes of part `p` against its manifest entry and its own checksums.
fn verify_part(path: &Path, p: &PartEntry, bytes: Vec<u8>) -> Result<()> {
    if bytes.len() as u64 != p.bytes {
        return Err(Error::corrupt(
            path,
            format!(
                "file is {} bytes, the manifest says {}",
                bytes.len(),
                p.bytes
            ),
        ));
    }
    if crc32c(&bytes) != p.crc {
        return Err(Error::corrupt(path, "whole-file checksum mismatch"));
    }
    let r = PartReader::from_bytes(path, bytes)?;
    let meta = r.meta();
    if (meta.visitors, meta.visits, meta.events) != (p.visitors, p.visits, p.events) {
        return Err(Error::corrupt(path, "counts differ from the manifest"));
    }
    verify_reader(p, r)
}

/// [`PartReader::verify_all`], then what the part's query index derives from its
/// columns against the columns.
pub(crate) fn verify_reader(p: &PartEntry, r: PartReader) -> Result<()> {
    r.verify_all()?;
    let live = crate::exec::LivePart {
        entry: p.clone(),
        reader: std::sync::Arc::new(r),
        deleted: Default::default(),
        cache: Default::default(),
    };
    crate::exec::verify_query_index(&live)
}
