//! `sightline funnel` and `.funnel`: how many visits (or visitors) go through a sequence
//! of steps (`docs/analytics.md`), as the library's document or one horizontal bar per
//! step; and `--window` durations (`7d`, `36h`, `1d12h`).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use sightline::Segment;
use sightline::{Funnel, FunnelOptions, FunnelScope, Snapshot, TimeRange};

use crate::query::{self, Scope};

/// Width of a full bar, in characters.
const BAR_WIDTH: usize = 30;

/// Longest step definition shown in the table.
const MAX_DEFINITION_CHARS: usize = 48;

/// What `--window` accepts, for messages.
pub const WINDOW_SYNTAX: &str =
    "a duration such as 7d, 36h, 90m, 30s, 2w or 1d12h (a week is 7 days, a day 24 hours)";

/// Parses a window: a friendly duration (`7d`, `36h`, `90m`, `30s`, `2w`, `1d12h`,
/// `2 hours 30 minutes`) or an ISO 8601 one (`P7D`), in whole milliseconds; days are 24
/// hours and weeks 7 days. Negative windows, months and years are refused. Used as a
/// clap value parser, so the message names neither option nor value.
pub fn parse_window(text: &str) -> Result<i64, String> {
    let span: jiff::Span = text
        .trim()
        .parse()
        .map_err(|e| format!("expected {WINDOW_SYNTAX} ({e})"))?;
    if span.is_negative() {
        return Err("a window cannot be negative".into());
    }
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| format!("months and years have no fixed length; use {WINDOW_SYNTAX}"))?;
    i64::try_from(d.as_millis()).map_err(|_| "the window is too long".to_string())
}

/// A window in ms for humans: `7d`, `1d 12h`, `1h 30m` … (`none` without one).
pub fn describe_window(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "none".into();
    };
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    let mut rest = ms;
    let mut parts = Vec::new();
    for (size, unit) in units {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// A funnel with what it was asked about.
pub struct FunnelAnswer {
    /// The parsed selection segment.
    pub segment: Segment,
    /// The range.
    pub range: TimeRange,
    /// The library's funnel.
    pub funnel: Funnel,
    /// Time to select and walk.
    pub elapsed: Duration,
}

/// The funnel of `steps` (segment texts, in `scope`'s dialect) over the visits `scope`
/// selects. `window`: the user's window in ms; without one, visitor scope uses 7 days
/// and visit scope none.
pub fn funnel(
    snap: &Snapshot,
    scope: Scope<'_>,
    steps: &[String],
    unit: FunnelScope,
    window: Option<i64>,
) -> anyhow::Result<FunnelAnswer> {
    let t0 = Instant::now();
    let compiled = steps
        .iter()
        .enumerate()
        .map(|(i, text)| {
            snap.compile(text, scope.dialect)
                .with_context(|| format!("step {} `{text}`", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (segment, selection) = scope.select(snap)?;
    // Without --window, the library's default for the scope applies.
    let funnel = snap.funnel(
        &compiled,
        &selection,
        &FunnelOptions {
            scope: unit,
            window_ms: window,
        },
    )?;
    Ok(FunnelAnswer {
        segment,
        range: *scope.range,
        funnel,
        elapsed: t0.elapsed(),
    })
}

/// A bar of `rate` × [`BAR_WIDTH`] cells: full blocks, one partial block in eighths,
/// then light shade up to the full width.
fn bar(rate: f64) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (rate.clamp(0.0, 1.0) * (BAR_WIDTH * 8) as f64).round() as usize;
    let (full, part) = (eighths / 8, eighths % 8);
    let mut s = "█".repeat(full);
    let mut used = full;
    if part > 0 {
        s.push(EIGHTHS[part]);
        used += 1;
    }
    s + &"░".repeat(BAR_WIDTH - used)
}

fn pad_right(text: &str, width: usize) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(n)))
}

impl FunnelAnswer {
    /// `{"scope", "windowMs", "units", "steps", "segment", "range", "elapsedMs"}`.
    pub fn doc(&self) -> Value {
        query::annotate(
            query::to_doc(&self.funnel),
            &self.segment,
            &self.range,
            self.elapsed,
        )
    }

    /// A header row (step, definition, count, rate, dropOff, dropOffRate,
    /// medianTimeMs), then one row per step; rates are fractions, medianTimeMs is empty
    /// when no unit reaches the step.
    pub fn csv(&self) -> anyhow::Result<String> {
        let head = [
            "step",
            "definition",
            "count",
            "rate",
            "dropOff",
            "dropOffRate",
            "medianTimeMs",
        ];
        let rows = self.funnel.steps.iter().map(|s| {
            vec![
                s.step.to_string(),
                s.definition.clone(),
                s.count.to_string(),
                s.rate.to_string(),
                s.drop_off.to_string(),
                s.drop_off_rate.to_string(),
                s.median_time_ms.map_or(String::new(), |m| m.to_string()),
            ]
        });
        crate::out::csv(&head, rows)
    }

    /// A caption, then one line per step: number, definition, a bar proportional to the
    /// rate, count, rate, drop-off from the previous step and the median time from
    /// step 1.
    pub fn table(&self) -> String {
        let f = &self.funnel;
        let what = match f.scope {
            FunnelScope::Visit => "visit",
            FunnelScope::Visitor => "visitor",
        };
        let mut out = format!(
            "funnel of {} ({what} scope, window {}): {} in the selection\n",
            query::plural(f.steps.len() as u64, "step"),
            describe_window(f.window_ms),
            query::plural(f.units, what)
        );
        let definitions: Vec<String> = f
            .steps
            .iter()
            .map(|s| {
                if s.definition.is_empty() {
                    "(every row)".to_string()
                } else {
                    query::truncate(&s.definition, MAX_DEFINITION_CHARS)
                }
            })
            .collect();
        let def_width = definitions
            .iter()
            .map(|d| d.chars().count())
            .max()
            .unwrap_or(0);
        let count_width = f
            .steps
            .iter()
            .map(|s| s.count.to_string().len())
            .max()
            .unwrap_or(1);
        let num_width = f.steps.len().to_string().len();
        let drops: Vec<String> = f
            .steps
            .iter()
            .map(|s| {
                if s.step == 1 {
                    String::new()
                } else {
                    format!("−{} ({:.1} %)", s.drop_off, 100.0 * s.drop_off_rate)
                }
            })
            .collect();
        let drop_width = drops.iter().map(|d| d.chars().count()).max().unwrap_or(0);
        for ((s, def), drop) in f.steps.iter().zip(&definitions).zip(&drops) {
            let mut line = format!(
                "{:>num_width$}  {}  {}  {:>count_width$}  {:>5.1} %",
                s.step,
                pad_right(def, def_width),
                bar(s.rate),
                s.count,
                100.0 * s.rate,
            );
            if s.step > 1 {
                let median = match s.median_time_ms {
                    Some(ms) => format!("median {}", query::duration(ms / 1000.0)),
                    None => "median –".into(),
                };
                line += &format!("  {}  {median}", pad_right(drop, drop_width));
            }
            out += line.trim_end();
            out.push('\n');
        }
        if let (Some(first), Some(last)) = (f.steps.first(), f.steps.last())
            && f.steps.len() > 1
        {
            out += &format!(
                "conversion from step 1 to step {}: {} of {} ({})\n",
                last.step,
                last.count,
                first.count,
                query::percent(last.count, first.count)
            );
        }
        out.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_friendly_durations_in_ms() {
        let h = 3_600_000;
        for (text, want) in [
            ("7d", 7 * 24 * h),
            ("36h", 36 * h),
            ("90m", 90 * 60_000),
            ("30s", 30_000),
            ("2w", 14 * 24 * h),
            ("1d12h", 36 * h),
            ("1d 12h", 36 * h),
            ("2 hours 30 minutes", 150 * 60_000),
            ("0s", 0),
            ("1500ms", 1500),
            ("P7D", 7 * 24 * h),
        ] {
            assert_eq!(parse_window(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_windows_are_refused_with_the_syntax() {
        for bad in ["", "7", "soon", "7 days ago", "-7d", "1mo", "2y"] {
            let err = parse_window(bad).expect_err(bad);
            assert!(!err.is_empty(), "{bad}");
        }
        assert!(parse_window("-7d").unwrap_err().contains("negative"));
        assert!(parse_window("1mo").unwrap_err().contains("months"));
        assert!(parse_window("7").unwrap_err().contains("36h"));
    }

    #[test]
    fn windows_are_described_back() {
        assert_eq!(describe_window(None), "none");
        assert_eq!(describe_window(Some(7 * 86_400_000)), "7d");
        assert_eq!(describe_window(Some(36 * 3_600_000)), "1d 12h");
        assert_eq!(describe_window(Some(0)), "0s");
        assert_eq!(describe_window(Some(90_500)), "1m 30s 500ms");
    }

    #[test]
    fn bars_are_proportional() {
        assert_eq!(bar(1.0), "█".repeat(BAR_WIDTH));
        assert_eq!(bar(0.0), "░".repeat(BAR_WIDTH));
        let half = bar(0.5);
        assert_eq!(half.chars().count(), BAR_WIDTH);
        assert_eq!(half.matches('█').count(), BAR_WIDTH / 2);
        assert_eq!(bar(1.0 / 240.0).chars().next(), Some('▏'));
    }
}
