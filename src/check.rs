//! Integrity check (`sightline check`): every checksum and structure of every live file.
//!
//! Files are read with ordinary reads, not mapped, so a truncated or damaged file is
//! reported as corruption and can never fault the process.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage::checksum::crc32c;
use crate::storage::fs::{self, Vfs};
use crate::storage::manifest::{self, Manifest};
use crate::storage::part_reader::PartReader;

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Manifest generation checked.
    pub generation: u64,
    /// Files verified (manifest, parts, deletion files).
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

/// [`check`] through another file system (tests use [`SimFs`](crate::storage::sim::SimFs)).
pub fn check_in(vfs: &dyn Vfs, path: &Path) -> Result<CheckReport> {
    let dir = vfs.open_dir(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => Error::NoDatabase {
            path: path.to_path_buf(),
            reason: String::new(),
        },
        _ => Error::io("open directory", path, e),
    })?;
    let dir = &*dir;
    let mut report = CheckReport::default();
    let gens = manifest::generations(dir)?;
    let Some(&newest) = gens.last() else {
        return Err(Error::NoDatabase {
            path: path.to_path_buf(),
            reason: String::new(),
        });
    };
    report.generation = newest;
    let name = Manifest::file_name(newest);
    let path = fs::path_of(dir, &name);
    let bytes = fs::read(dir, &name)?;
    report.files += 1;
    report.bytes += bytes.len() as u64;
    let m = match Manifest::decode(&path, &bytes) {
        Ok(m) => m,
        Err(e) => {
            report.problems.push(e);
            return Ok(report);
        }
    };
    if m.generation != newest {
        report.problems.push(Error::corrupt(
            &path,
            "generation differs from the file name",
        ));
    }
    for p in &m.parts {
        let ppath = fs::path_of(dir, &p.file);
        let res = fs::read(dir, &p.file).and_then(|b| {
            report.files += 1;
            report.bytes += b.len() as u64;
            if b.len() as u64 != p.bytes {
                return Err(Error::corrupt(
                    &ppath,
                    format!("file is {} bytes, the manifest says {}", b.len(), p.bytes),
                ));
            }
            if crc32c(&b) != p.crc {
                return Err(Error::corrupt(&ppath, "whole-file checksum mismatch"));
            }
            let r = PartReader::from_bytes(&ppath, b)?;
            let meta = r.meta();
            if (meta.visitors, meta.visits, meta.events) != (p.visitors, p.visits, p.events) {
                return Err(Error::corrupt(&ppath, "counts differ from the manifest"));
            }
            r.verify_all()
        });
        if let Err(e) = res {
            report.problems.push(e);
        }
        if let Some(d) = &p.deletions {
            let dpath = fs::path_of(dir, &d.file);
            let res = fs::read(dir, &d.file).and_then(|b| {
                report.files += 1;
                report.bytes += b.len() as u64;
                let bm = manifest::decode_deletions(&dpath, &b)?;
                if bm.len() != d.visitors as u64 || bm.max().is_some_and(|x| x >= p.visitors) {
                    return Err(Error::corrupt(
                        &dpath,
                        "deletion set does not match the manifest",
                    ));
                }
                Ok(())
            });
            if let Err(e) = res {
                report.problems.push(e);
            }
        }
    }
    // Orphans are not problems: the next writer removes them.
    report.orphans = manifest::orphans(dir, &[&m])?
        .into_iter()
        .map(|n| fs::path_of(dir, &n))
        .collect();
    Ok(report)
}
