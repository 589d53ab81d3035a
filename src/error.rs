//! Error types of the library.
//!
//! One enum, [`Error`], with a [`kind`](Error::kind) that callers match on and that the
//! CLI maps to its exit codes (SPEC §3: 1 runtime, 2 usage/parse, 3 corruption, 4 locked).
//! Errors carry what was being read (file, line, field) so the message alone says where
//! and what.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A bad input row: where it is and what is wrong with it.
///
/// Displays as `FILE:LINE: field: reason`, the format SPEC §1.1 prescribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The input file (or `<input>` for rows appended through the API).
    pub file: String,
    /// 1-based line number in the file (for CSV: the line where the record starts).
    pub line: u64,
    /// The field at fault (`ts`, `visitorId`, a custom name, or `row` for the whole row).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.reason
        )
    }
}

impl std::error::Error for RowError {}

/// The broad class of an [`Error`]; stable across versions, meant for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An operating-system I/O failure (disk full, permission, EIO …).
    Io,
    /// A file of the database failed a checksum or structural check.
    Corruption,
    /// The database was written by a newer (or unknown) format version.
    UnsupportedVersion,
    /// Another process holds the writer lock.
    Locked,
    /// Bad input: a row, an option or an argument.
    InvalidInput,
    /// The operation needs a writable handle, or the database does not exist / exists.
    Usage,
}

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{op} {path}: {error}")]
    Io {
        /// What was being done (`write`, `fsync`, `rename` …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error (part of the message, so not also reported as a source).
        error: io::Error,
    },
    /// A database file is damaged: a checksum or a structural check failed.
    #[error("corruption in {path}: {reason}")]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// What check failed.
        reason: String,
    },
    /// A file carries a format version this build cannot read.
    #[error("{path}: unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// Another writer holds the database.
    #[error("database is locked: {path} is held by another writer")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A bad input row.
    #[error(transparent)]
    Row(#[from] RowError),
    /// A segment that does not parse or does not fit the schema (offset and reason;
    /// [`SegmentError::caret`](crate::lang::SegmentError::caret) renders it).
    #[error("invalid segment {0}")]
    Segment(crate::lang::SegmentError),
    /// A bad argument or option.
    #[error("{0}")]
    InvalidInput(String),
    /// The call does not fit the state of the database (missing, exists, read-only …).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Corruption { .. } => ErrorKind::Corruption,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::Row(_) | Error::Segment(_) | Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Usage(_) => ErrorKind::Usage,
        }
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.to_path_buf(),
            error: source,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
        Error::Corruption {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
