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
use crate::storage::manifest::{self, Manifest, PartEntry};
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
    let gens = manifest::generations(&*dir)?;
    let &newest = gens.last().ok_or_else(no_database)?;
    let mut check = Checker {
        dir: &*dir,
        report: CheckReport {
            generation: newest,
            ..CheckReport::default()
        },
        verified: HashSet::new(),
    };
    // Every manifest present, newest first; the parts and deletion files of the two
    // newest (the database, and the generation kept for rollback).
    let manifests: Vec<Option<Manifest>> = gens.iter().rev().map(|&g| check.manifest(g)).collect();
    for m in manifests.iter().take(2).flatten() {
        for p in &m.parts {
            check.part(p);
        }
    }
    // Orphans are not problems: the next writer removes them. (Without a readable
    // newest manifest nothing can be called an orphan.)
    if let Some(Some(m)) = manifests.first() {
        check.report.orphans = manifest::orphans(&*dir, &[m])
            .unwrap_or_default()
            .into_iter()
            .map(|n| fs::path_of(&*dir, &n))
            .collect();
    }
    Ok(check.report)
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

    /// Verifies part `p` (whole-file checksum, every section and structure, counts)
    /// and its deletion file, unless already done.
    fn part(&mut self, p: &PartEntry) {
        if self.verified.insert(p.file.clone())
            && let Some(bytes) = self.read(&p.file)
            && let Err(e) = verify_part(&fs::path_of(self.dir, &p.file), p, bytes)
        {
            self.report.problems.push(e);
        }
        let Some(d) = &p.deletions else { return };
        if !self.verified.insert(d.file.clone()) {
            return;
        }
        let path = fs::path_of(self.dir, &d.file);
        let res = self.read(&d.file).map(|b| {
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
    r.verify_all()
}
