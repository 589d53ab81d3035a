//! Cohorts (SPEC §3, `sightline cohorts`; exact rules in `docs/analytics.md`).

use jiff::civil::Date;
use serde::Serialize;

use super::Selection;
use crate::db::Snapshot;
use crate::error::{Error, Result};

/// The length of a cohort period (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Calendar days.
    Day,
    /// Weeks starting on Monday.
    #[default]
    Week,
    /// Calendar months.
    Month,
}

impl Period {
    /// `day`, `week` or `month`.
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// Options of [`Snapshot::cohorts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortOptions {
    /// Period length.
    pub period: Period,
    /// Most period offsets reported per cohort (`retained.len()`).
    pub periods: usize,
    /// The end of the data considered, Unix ms inclusive: no period after the one holding
    /// it is reported. `None`: the latest live event. (Never later than the latest live
    /// event.)
    pub end_ms: Option<i64>,
}

impl Default for CohortOptions {
    /// Weeks, 12 periods, up to the latest event.
    fn default() -> Self {
        CohortOptions {
            period: Period::Week,
            periods: 12,
            end_ms: None,
        }
    }
}

/// One cohort: the visitors whose first visit started in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cohort {
    /// First day of the period (UTC).
    pub start: Date,
    /// Visitors in the cohort.
    pub size: u64,
    /// `retained[i]`: how many of them have a selected visit in period `start + i`.
    pub retained: Vec<u64>,
}

/// The cohort table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cohorts {
    /// Period length.
    pub period: Period,
    /// Cohorts, oldest first, one per period from the first to the last with a new
    /// visitor.
    pub cohorts: Vec<Cohort>,
}

impl Snapshot {
    /// The cohorts of the visitors whose first visit is in `selection` (SPEC §3;
    /// `docs/analytics.md`).
    pub fn cohorts(&self, selection: &Selection, options: &CohortOptions) -> Result<Cohorts> {
        let _ = (selection, options);
        Err(Error::InvalidInput("cohorts: not yet".into()))
    }
}
