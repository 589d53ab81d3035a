//! # sightline
//!
//! An embedded analytics engine for web and product analytics. Events (page views,
//! events, goals, orders) are grouped into visits and visitors at import, stored in
//! immutable columnar **parts** that are read through memory maps, and indexed with
//! roaring bitmaps so that audience questions become bitmap operations.
//!
//! ```
//! use sightline::{Db, DbOptions};
//! # fn main() -> sightline::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::create(dir.path(), DbOptions::default())?;
//!
//! let mut tx = db.begin_write()?;
//! tx.append_json(r#"{"ts":"2026-01-05T10:00:00Z","visitorId":"v1","pageUrl":"https://shop.example/","countryCode":"fr"}"#)?;
//! tx.append_json(r#"{"ts":"2026-01-05T10:02:00Z","visitorId":"v1","pageUrl":"https://shop.example/cart"}"#)?;
//! tx.append_json(r#"{"ts":"2026-01-05T10:03:00Z","visitorId":"v1","type":"ecommerceOrder","revenue":42.5}"#)?;
//! tx.commit()?; // durable from here on
//!
//! let stats = db.snapshot().stats()?;
//! assert_eq!((stats.events, stats.visits, stats.visitors), (3, 1, 1));
//! assert_eq!(stats.revenue, 42.5);
//! # Ok(()) }
//! ```
//!
//! Layout of the crate: [`db`] (handle, transactions, snapshots, commit), [`ingest`]
//! (parsing, sessionisation, derived dimensions), [`storage`] (part files, manifest,
//! mmap), [`schema`] (dimension names), [`generate`] (synthetic data).
//!
//! **Signal handling.** On Linux the first memory map installs a SIGBUS handler, so that
//! a part truncated underneath a reader by another program becomes a corruption error
//! instead of killing the process (see `storage::mmap`). It handles only faults inside
//! sightline's own maps and passes every other SIGBUS to the handler installed before it
//! (or the default action); an application that installs its own SIGBUS handler later
//! should chain to the previous one in the same way.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod db;
pub mod error;
pub mod event;
pub mod exec;
pub mod generate;
pub mod ingest;
pub mod lang;
pub mod schema;
pub mod storage;
pub mod visits;

pub use db::{CommitSummary, Db, DbOptions, LivePart, Snapshot, Stats, WriteTxn};
pub use error::{Error, ErrorKind, Result, RowError};
pub use event::{Event, EventType, Value};
pub use exec::{
    CohortOptions, Cohorts, CompiledSegment, Funnel, FunnelOptions, FunnelScope, Period, Report,
    ReportOptions, Selection, Summary, TimeRange,
};
pub use ingest::import::{FileReport, Format, ImportOptions};
pub use lang::{Dialect, Segment, SegmentError};
pub use visits::VisitorProfile;

/// The README's library example, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
