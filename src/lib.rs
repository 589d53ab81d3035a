//! # sightline
//!
//! An embedded analytics engine for web and product analytics. Events (page views,
//! events, goals, orders) are grouped into visits and visitors at import, stored in
//! immutable columnar **parts** that are read through memory maps, and indexed with
//! roaring bitmaps so that audience questions become bitmap operations.
//!
//! ```
//! use sightline::{
//!     CohortOptions, Db, DbOptions, Dialect, Event, FunnelOptions, FunnelScope, Period,
//!     ReportOptions, ReportValue, TimeRange,
//! };
//! # fn main() -> sightline::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::create(dir.path(), DbOptions::default())?;
//!
//! // Append events (typed, or as JSON objects) and commit: durable from here on.
//! let mut tx = db.begin_write()?;
//! tx.append(&Event::pageview(1_767_607_200_000, "v1", "https://shop.example/"))?;
//! tx.append_json(r#"{"ts":"2026-01-05T10:02:00Z","visitorId":"v1","pageUrl":"https://shop.example/cart","countryCode":"fr"}"#)?;
//! tx.append_json(r#"{"ts":"2026-01-05T10:03:00Z","visitorId":"v1","type":"ecommerceOrder","revenue":42.5}"#)?;
//! tx.append_json(r#"{"ts":"2026-01-06T09:00:00Z","visitorId":"v2","pageUrl":"https://shop.example/cart","countryCode":"de"}"#)?;
//! tx.append_json(r#"{"ts":"2026-01-13T09:00:00Z","visitorId":"v2","pageUrl":"https://shop.example/"}"#)?;
//! tx.commit()?;
//!
//! // Ask: a snapshot is a consistent view; segments select visits.
//! let snap = db.snapshot();
//! let summary = snap.query("pageUrl=@/cart;countryCode==fr", &TimeRange::ALL)?;
//! assert_eq!((summary.visits, summary.revenue), (1, 42.5));
//! let all = snap.select(&snap.compile("", Dialect::Default)?, &TimeRange::ALL)?;
//!
//! let report = snap.report("countryCode", &all, &ReportOptions::default())?;
//! assert_eq!(report.rows[0].value, ReportValue::Text("de".into()));
//!
//! let steps = [snap.compile("pageUrl=@/cart", Dialect::Default)?,
//!              snap.compile("visitConvertedGoalId==0", Dialect::Default)?];
//! let funnel = snap.funnel(&steps, &all, &FunnelOptions::default())?;
//! assert_eq!((funnel.steps[0].count, funnel.steps[1].count), (2, 1));
//! let by_visitor = FunnelOptions { scope: FunnelScope::Visitor, window_ms: None };
//! assert_eq!(snap.funnel(&steps, &all, &by_visitor)?.window_ms, Some(7 * 86_400_000));
//!
//! let weekly = CohortOptions { period: Period::Week, ..CohortOptions::default() };
//! let cohorts = snap.cohorts(&all, &weekly)?;
//! assert_eq!(cohorts.cohorts[0].retained, vec![2, 1]); // v2 came back the next week
//!
//! let profile = snap.visitor("v1")?.expect("v1 is stored");
//! assert_eq!((profile.totals.visits, profile.totals.events), (1, 3));
//! # Ok(()) }
//! ```
//!
//! The API in brief: a [`Db`] (opened with [`Db::create`], [`Db::open`],
//! [`Db::open_read_only`] or [`Db::builder`]) takes writes in [`WriteTxn`]s and hands out
//! [`Snapshot`]s; a snapshot answers everything — [`Snapshot::query`] and
//! [`select`](Snapshot::select)/[`summarize`](Snapshot::summarize) for segments,
//! [`report`](Snapshot::report), [`funnel`](Snapshot::funnel),
//! [`cohorts`](Snapshot::cohorts), [`visitor`](Snapshot::visitor),
//! [`stats`](Snapshot::stats). Every result type is exported at the crate root.
//! [`generate`] writes deterministic synthetic data. [`anonymize_ip`] masks an IP address
//! by Matomo's rule, as imports do with [`ImportOptions::anonymize_ip`] and transactions
//! with [`WriteTxn::set_anonymize_ip`] (`docs/privacy.md`); [`Db::set_privacy_settings`]
//! stores [`PrivacySettings`] that every later write applies (IP mask, `userId`
//! pseudonyms, retention), and [`Db::audit`] / [`Db::privacy_log`] keep the privacy
//! audit log. Errors are one [`Error`] enum whose
//! [`kind`](Error::kind) classifies them. A long analysis can be stopped from another
//! thread or at a deadline: [`Snapshot::with_cancel`] (a [`CancelToken`]) and
//! [`Snapshot::with_deadline`].
//!
//! **Memory.** A write transaction and a compaction work within the handle's memory
//! budget ([`DbBuilder::memory_limit`], [`DEFAULT_MEMORY_LIMIT`] = 1 GiB): rows beyond
//! their share are sorted and spilled to temporary run files in the database directory,
//! and the commit merges them visitor by visitor, building one part (or a few) at a
//! time. A commit of any size is still one atomic commit, and its answers do not depend
//! on the budget.
//!
//! **Signal handling.** On Linux the first memory map installs a SIGBUS handler, so that
//! a part truncated underneath a reader by another program becomes a corruption error
//! instead of killing the process (see `storage::mmap`). It handles only faults inside
//! sightline's own maps and passes every other SIGBUS to the handler installed before it
//! (or the default action); an application that installs its own SIGBUS handler later
//! should chain to the previous one in the same way.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod appender;
mod cancel;
mod check;
mod commit;
mod compaction;
mod db;
pub mod enrich;
mod error;
mod event;
mod exec;
pub mod generate;
mod ingest;
mod lang;
mod options;
mod privacy;
mod schema;
#[cfg(feature = "server")]
pub mod server;
mod snapshot;
mod storage;
#[doc(hidden)]
pub mod testing;

pub use appender::{AppendOptions, Appender};
pub use cancel::CancelToken;
pub use check::{CheckReport, check};
pub use compaction::Compaction;
pub use db::{CommitSummary, Db, DbBuilder, DbLocation, WriteTxn};
pub use error::{Error, ErrorKind, Result, RowError};
pub use event::{Event, EventType, MAX_REVENUE, MAX_TS_MS, MIN_TS_MS, Value};
pub use exec::catalog::{ACTION_TYPES, CONVERSION_TYPES, DEVICE_TYPES, REFERRER_TYPES};
pub use exec::{
    Catalog, Cohort, CohortOptions, Cohorts, CompiledSegment, CondPlan, CondStats,
    DEFAULT_VISITOR_WINDOW_MS, DimType, DimValue, Dimension, DimensionValues, EventRecord, Explain,
    ExportSelector, ExportSummary, Funnel, FunnelOptions, FunnelScope, FunnelStep, GroupPlan,
    MAX_COHORT_CELLS, MAX_FUNNEL_STEPS, Period, Report, ReportOptions, ReportRow, ReportValue,
    SegmentWarning, Selection, Stats, Summary, TimeRange, VisitRecord, VisitorProfile,
    VisitorTotals,
};
pub use ingest::import::{FileReport, Format, ImportOptions, MAX_REPORTED_ERRORS};
pub use ingest::keys::{KeyWarning, misspelt_field};
pub use ingest::rows::MAX_CUSTOM_DIMENSIONS;
pub use lang::{
    Condition, Dialect, MAX_CONDITIONS, MAX_SEGMENT_BYTES, Op, OrGroup, Segment, SegmentError,
    parse as parse_segment,
};
pub use options::{DEFAULT_MEMORY_LIMIT, DEFAULT_VISIT_TIMEOUT_MS, DbOptions, MIN_MEMORY_LIMIT};
pub use privacy::{
    Anonymization, AuditAction, AuditCounts, AuditEntry, AuditRecord, IpError, MAX_IP_MASK_BYTES,
    PrivacyOutcome, PrivacySettings, SelectorKind, anonymize_ip, anonymize_ip_addr,
};
pub use schema::{CustomDim, CustomType, Level};
pub use snapshot::Snapshot;

/// The README's library example, compiled and run as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
