//! Storage: immutable columnar parts with bitmap indexes, the manifest and the commit
//! protocol.
//!
//! - [`part`]: writing and reading a part (one file, checksummed sections, directory).
//! - [`packed`], [`dict`], [`index`]: the column encodings inside a part.
//! - [`manifest`]: the list of live parts; replacing it atomically is a commit.
//! - [`fs`]: every file operation (durable write, rename, directory fsync, unlink).
//! - [`mmap`]: the memory maps, the only `unsafe` code.
//! - [`lock`]: the single-writer lock.

pub mod checksum;
pub mod codec;
pub mod dict;
pub mod format;
pub mod fs;
pub mod index;
pub mod lock;
pub mod manifest;
pub mod mmap;
pub mod packed;
pub mod part;
