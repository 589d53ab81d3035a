//! Funnels (SPEC §3, `sightline funnel`; exact rules in `docs/analytics.md`).

use serde::Serialize;

use super::{CompiledSegment, Selection};
use crate::db::Snapshot;
use crate::error::{Error, Result};

/// Most steps a funnel may have.
pub const MAX_FUNNEL_STEPS: usize = 32;

/// The default window of visitor-scope funnels: 7 days, in ms.
pub const DEFAULT_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// What a funnel counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunnelScope {
    /// Visits: every chain lies inside one visit.
    #[default]
    Visit,
    /// Visitors: chains run across the visitor's (selected) visits, within the window.
    Visitor,
}

impl FunnelScope {
    /// `visit` or `visitor`.
    pub fn name(self) -> &'static str {
        match self {
            FunnelScope::Visit => "visit",
            FunnelScope::Visitor => "visitor",
        }
    }
}

/// Options of [`Snapshot::funnel`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunnelOptions {
    /// Visits or visitors.
    pub scope: FunnelScope,
    /// Longest time from a chain's first row to its last, in ms, inclusive (`None`: no
    /// limit). The CLI uses [`DEFAULT_WINDOW_MS`] for visitor scope.
    pub window_ms: Option<i64>,
}

impl FunnelOptions {
    /// Visit scope, no window.
    pub fn visit() -> FunnelOptions {
        FunnelOptions::default()
    }

    /// Visitor scope with a window in ms.
    pub fn visitor(window_ms: i64) -> FunnelOptions {
        FunnelOptions {
            scope: FunnelScope::Visitor,
            window_ms: Some(window_ms),
        }
    }
}

/// One step of a [`Funnel`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunnelStep {
    /// 1-based step number.
    pub step: usize,
    /// The step's segment, canonical text.
    pub definition: String,
    /// Visits (or visitors) reaching the step.
    pub count: u64,
    /// `count` / count of step 1 (0 when step 1 has none).
    pub rate: f64,
    /// Count of the previous step − `count` (0 for step 1).
    pub drop_off: u64,
    /// `drop_off` / count of the previous step (0 for step 1 or when it has none).
    pub drop_off_rate: f64,
    /// Median over the units reaching the step of their shortest time from step 1 to
    /// this step, in ms (`None` when no unit reaches it).
    pub median_time_ms: Option<f64>,
}

/// A funnel's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Funnel {
    /// Visits or visitors.
    pub scope: FunnelScope,
    /// The window applied, in ms (`None`: none).
    pub window_ms: Option<i64>,
    /// Units considered: the selection's visits (visit scope) or its distinct visitors
    /// (visitor scope).
    pub units: u64,
    /// The steps, in order.
    pub steps: Vec<FunnelStep>,
}

impl Snapshot {
    /// The funnel of `steps` over the visits of `selection` (SPEC §3;
    /// `docs/analytics.md`). 1 to [`MAX_FUNNEL_STEPS`] steps.
    pub fn funnel(
        &self,
        steps: &[CompiledSegment],
        selection: &Selection,
        options: &FunnelOptions,
    ) -> Result<Funnel> {
        let _ = (steps, selection, options);
        Err(Error::InvalidInput("funnel: not yet".into()))
    }
}
