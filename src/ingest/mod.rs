//! Ingest: from input to the columns of parts. Parsing rows, sessionisation and derived
//! visit dimensions, and the two bridges to storage: the columns a new part holds, and
//! stored visitors read back as input rows.
//!
//! - [`parse`]: one JSON Lines or CSV row → a checked row, or `field: reason`.
//! - [`import`]: whole files, in parallel for JSON Lines, with `FILE:LINE` errors.
//! - [`enrich`]: visit fields derived from a row's raw request data.
//! - [`keys`]: input keys that look like misspelt built-in fields (import warnings).
//! - [`rows`]: the in-memory batch with interned strings.
//! - [`runs`]: a transaction's batch spilled as sorted run files, and read back.
//! - [`sessions`]: visits from rows, and every derived visit dimension.
//! - [`columns`]: sessionised rows → the columns of a part, for the part writer.
//! - [`readback`]: a stored visitor → input rows again, through the part cursor.

pub(crate) mod columns;
pub(crate) mod enrich;
pub(crate) mod import;
pub(crate) mod keys;
pub(crate) mod parse;
pub(crate) mod readback;
pub(crate) mod rows;
pub(crate) mod runs;
pub(crate) mod sessions;
