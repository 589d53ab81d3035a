//! Memory maps: the only `unsafe` code of the crate.
//!
//! Parts are immutable once published: sightline never truncates, rewrites or appends
//! to a file that may be mapped (new data goes into new files, published by rename;
//! space is reclaimed by unlink, which leaves existing maps valid on Linux). The file
//! length is checked against the manifest before mapping, so the map never extends past
//! the end of the file. What remains is another program truncating a part underneath a
//! reader, which is outside the contract (as for SQLite); `check` reads with ordinary
//! reads, so it reports such damage as an error instead of faulting.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::path::Path;

use memmap2::Mmap;

/// Bytes of a part: mapped from disk, or owned (read by `check`, or tiny files).
pub enum Backing {
    /// A read-only map of the whole file.
    Map(Mmap),
    /// Bytes in memory.
    Owned(Vec<u8>),
}

impl Backing {
    /// Maps the whole of `path` read-only (an empty file is not mapped).
    pub fn map(path: &Path) -> io::Result<Backing> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Backing::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and covers exactly the file's current length.
        // sightline never modifies a published file (see the module docs); the bytes are
        // only ever read through bounds-checked slices and every section is checksummed
        // before use, so even foreign modification cannot cause out-of-bounds access,
        // only a corruption error or a wrong answer. Truncation by another program is
        // the exception: see the module docs for the defence.
        unsafe { Mmap::map(&file) }.map(Backing::Map)
    }
}

impl Deref for Backing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        }
    }
}
