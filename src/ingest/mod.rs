//! Ingest: parsing input rows, sessionisation and derived visit dimensions.
//!
//! - [`parse`]: one JSON Lines or CSV row → a checked row, or `field: reason`.
//! - [`import`]: whole files, in parallel for JSON Lines, with `FILE:LINE` errors.
//! - [`rows`]: the in-memory batch with interned strings.
//! - [`sessions`]: visits from rows, and every derived visit dimension.

pub mod import;
pub mod parse;
pub mod rows;
pub mod sessions;
