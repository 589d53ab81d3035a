//! What every fuzz target checks, one `pub fn <target>(data: &[u8])` per target.
//!
//! Shared by two builds: the cargo-fuzz crate (`fuzz/Cargo.toml` builds this file as
//! its library; each `fuzz_targets/<target>.rs` is a one-line call), and the stable
//! integration test `tests/fuzz_replay.rs` (which includes it with `#[path]` and runs
//! every committed corpus and regression input through it). A check panics when the
//! library breaks a promise; anything else (a clean parse error, a corruption error on
//! damaged bytes) is a pass. Only `sightline`'s public API and `std` are used here
//! (databases are built on the in-memory disk `storage::sim::SimFs`).

mod eval;
mod manifest;
mod part;
mod rows;
mod segment;

pub use eval::segment_eval;
pub use manifest::manifest;
pub use part::{part_bytes, part_resealed};
pub use rows::{csv_row, jsonl_row};
pub use segment::segment_parse;

/// A target's check: returns if the input was handled as promised, panics if not.
pub type Check = fn(&[u8]);

/// Every target by name (the names of `fuzz/corpus/<target>/`).
pub const TARGETS: &[(&str, Check)] = &[
    ("segment_parse", segment_parse),
    ("jsonl_row", jsonl_row),
    ("csv_row", csv_row),
    ("part_bytes", part_bytes),
    ("part_resealed", part_resealed),
    ("manifest", manifest),
    ("segment_eval", segment_eval),
];
