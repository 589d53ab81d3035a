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
use std::ops::Deref;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{Error, Result};

/// Bytes of a part: mapped from disk, or owned (read by `check`, or tiny files).
pub enum Backing {
    /// A read-only map of the whole file.
    Map(Mmap),
    /// Bytes in memory.
    Owned(Vec<u8>),
}

impl Backing {
    /// Maps `path`, which must be exactly `expected_len` bytes long.
    pub fn map(path: &Path, expected_len: u64) -> Result<Backing> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        if len != expected_len {
            return Err(Error::corrupt(
                path,
                format!("file is {len} bytes, the manifest says {expected_len}"),
            ));
        }
        if len == 0 {
            return Ok(Backing::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and covers exactly the file's current length.
        // sightline never modifies a published file (see the module docs); the bytes are
        // only ever read through bounds-checked slices and every section is checksummed
        // before use, so even foreign modification cannot cause out-of-bounds access,
        // only a corruption error (truncation by another program is the documented
        // exception and would fault, as with every mmap-based engine).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io("mmap", path, e))?;
        Ok(Backing::Map(map))
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
