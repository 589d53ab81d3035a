//! Error types of the library.
//!
//! One enum, [`Error`], with a [`kind`](Error::kind) that callers match on and that the
//! CLI maps to its exit codes (1 runtime, 2 usage or bad input, 3 corruption, 4 locked).
//! Errors carry what was being read (file, line, field) so the message alone says where
//! and what.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A bad input row: where it is and what is wrong with it.
///
/// Displays as `FILE:LINE: field: reason`.
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

/// The broad class of an [`Error`]; stable across versions, meant for matching. The
/// CLI maps it to its exit status: `Io`, `Internal`, `Cancelled` and `DeadlineExceeded`
/// 1, `InvalidInput` and `Usage` 2, `Corruption` and `UnsupportedVersion` 3, `Locked` 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An operating-system I/O failure (disk full, permission, EIO …).
    Io,
    /// A file of the database failed a checksum or structural check.
    Corruption,
    /// The database was written by a newer (or unknown) format version.
    UnsupportedVersion,
    /// Another process holds the writer lock.
    Locked,
    /// Bad input: a row, a segment, a dimension, an argument, or data past a limit.
    InvalidInput,
    /// The call does not fit the state of the database (missing, exists, read-only …).
    Usage,
    /// A bug in sightline (a worker thread panicked): please report it.
    Internal,
    /// The analysis was stopped through its [`CancelToken`](crate::CancelToken).
    Cancelled,
    /// The analysis was stopped at its deadline
    /// ([`Snapshot::with_deadline`](crate::Snapshot::with_deadline)).
    DeadlineExceeded,
}

/// Every error the library returns. Match on [`kind`](Error::kind) for the class, on the
/// variant for the details; the message alone says where and what.
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
    /// A database file is damaged: a checksum or a structural check failed, or a file
    /// the manifest names is missing.
    #[error("corruption in {path}: {reason}")]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// What check failed.
        reason: String,
    },
    /// A file carries a format version this build cannot read.
    #[error("{path}: format version {found}; this build reads {}", readable_versions(*supported))]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version of that kind of file this build reads (it reads every
        /// version from 1 up to it).
        supported: u32,
    },
    /// Another writer holds the database.
    #[error("database is locked: {path} is held by another writer")]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// There is no database at `path`.
    #[error("no database at {}{}", path.display(), if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    NoDatabase {
        /// The path given.
        path: PathBuf,
        /// Why not (no such directory, a file, no manifest), or empty.
        reason: String,
    },
    /// A database already exists where one was to be created.
    #[error("a database already exists at {}", path.display())]
    DatabaseExists {
        /// The path given.
        path: PathBuf,
    },
    /// A write on a handle opened read-only.
    #[error("the database was opened read-only")]
    ReadOnly,
    /// The handle refuses to write: a failed commit could not be undone, so what is on
    /// disk is unknown to it. Reopening the database decides.
    #[error("{reason}; reopen the database before writing again")]
    WritesRefused {
        /// What failed.
        reason: String,
    },
    /// A bad input row.
    #[error(transparent)]
    Row(#[from] RowError),
    /// A segment that does not parse or does not fit the schema (offset and reason;
    /// [`SegmentError::caret`](crate::SegmentError::caret) renders it).
    #[error("invalid segment {0}")]
    Segment(crate::lang::SegmentError),
    /// A dimension name the database does not know (reports, value lists).
    #[error("unknown dimension `{name}`{}", suggestion_hint(suggestions))]
    UnknownDimension {
        /// The name given.
        name: String,
        /// Known names close to it, best first.
        suggestions: Vec<String>,
    },
    /// An argument out of its range: funnel steps, a negative window, zero periods …
    #[error("{reason}")]
    InvalidArgument {
        /// Which argument (`steps`, `window`, `periods`, `selection`, `visit timeout` …).
        argument: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Data or an answer past a limit of the format or of an analysis (a visit's
    /// revenue, a column of one part, a cohort table).
    #[error("{reason}")]
    TooLarge {
        /// What is too large, and what to do.
        reason: String,
    },
    /// An analysis stopped because its [`CancelToken`](crate::CancelToken) was
    /// cancelled; nothing of its answer is returned.
    #[error("cancelled")]
    Cancelled,
    /// An analysis stopped because its deadline passed
    /// ([`Snapshot::with_deadline`](crate::Snapshot::with_deadline)); nothing of its
    /// answer is returned.
    #[error("deadline exceeded: the analysis was stopped before it finished")]
    DeadlineExceeded,
    /// A bug: a worker thread panicked or lost its job.
    #[error("internal error: {reason} (please report this)")]
    Internal {
        /// What happened.
        reason: String,
    },
}

fn suggestion_hint(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "; `.schema` in the REPL lists every dimension".to_string()
    } else {
        let list: Vec<String> = suggestions.iter().map(|n| format!("`{n}`")).collect();
        format!("; did you mean {}?", list.join(", "))
    }
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Corruption { .. } => ErrorKind::Corruption,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::Row(_)
            | Error::Segment(_)
            | Error::UnknownDimension { .. }
            | Error::InvalidArgument { .. }
            | Error::TooLarge { .. } => ErrorKind::InvalidInput,
            Error::NoDatabase { .. }
            | Error::DatabaseExists { .. }
            | Error::ReadOnly
            | Error::WritesRefused { .. } => ErrorKind::Usage,
            Error::Internal { .. } => ErrorKind::Internal,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::DeadlineExceeded => ErrorKind::DeadlineExceeded,
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

    pub(crate) fn argument(argument: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            argument,
            reason: reason.into(),
        }
    }

    pub(crate) fn too_large(reason: impl Into<String>) -> Error {
        Error::TooLarge {
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(reason: impl Into<String>) -> Error {
        Error::Internal {
            reason: reason.into(),
        }
    }
}

impl From<crate::lang::SegmentError> for Error {
    fn from(e: crate::lang::SegmentError) -> Error {
        Error::Segment(e)
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// "version 1", or "versions 1 to N": what a build reads of a kind of file.
fn readable_versions(newest: u32) -> String {
    if newest <= 1 {
        "version 1".to_string()
    } else {
        format!("versions 1 to {newest}")
    }
}
