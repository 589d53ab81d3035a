//! Storage: immutable columnar parts with bitmap indexes, the manifest and the commit
//! protocol.
//!
//! - [`part`]: writing and reading a part (one file, checksummed sections, directory).
//! - [`packed`], [`dict`], [`index`]: the column encodings inside a part.
//! - [`manifest`]: the list of live parts; replacing it atomically is a commit.
//! - [`fs`]: the one interface every file operation goes through ([`fs::Vfs`]: durable
//!   write, rename, directory fsync, unlink, maps, the single-writer lock), and the real
//!   file system behind it.
//! - [`sim`]: an in-memory [`fs::Vfs`] for tests: records writes and fsyncs, injects
//!   I/O errors, and builds the states a crash or power loss can leave.
//! - [`mmap`]: the memory maps, the only `unsafe` code.

pub mod checksum;
pub mod codec;
pub mod cursor;
pub mod dict;
pub mod format;
pub mod fs;
pub mod index;
pub mod manifest;
pub mod mmap;
pub mod packed;
pub mod part_reader;
pub mod part_writer;
pub mod rank;
pub mod sim;

/// Threads for parallel work (parsing, building parts, queries over several parts):
/// `SIGHTLINE_THREADS` if it is set to a positive integer, else the available cores;
/// 1 to 8 either way. Counted once: `available_parallelism` reads cgroup files on
/// Linux, too slow to ask on every query.
pub fn worker_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("SIGHTLINE_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .clamp(1, 8)
    })
}
