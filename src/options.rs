//! Options of a database and the library's defaults.

/// Default visit timeout: 30 minutes.
pub const DEFAULT_VISIT_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// Options fixed when a database is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbOptions {
    /// Inactivity after which a visitor's next event starts a new visit, in ms.
    pub visit_timeout_ms: i64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            visit_timeout_ms: DEFAULT_VISIT_TIMEOUT_MS,
        }
    }
}
