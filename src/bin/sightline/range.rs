//! `--from`/`--to` and `.range`: dates (UTC days, inclusive) and RFC 3339 instants
//! (inclusive) turned into the library's half-open [`TimeRange`] (`docs/segment-language.md`).

use jiff::Timestamp;
use jiff::civil::Date;
use sightline::TimeRange;

/// One end of a range as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// A whole UTC day.
    Day(Date),
    /// An instant.
    Instant(Timestamp),
}

/// What `--from`/`--to` accept, for help texts and error messages.
pub const WHEN_SYNTAX: &str =
    "a UTC date YYYY-MM-DD or an RFC 3339 instant such as 2026-01-07T10:00:00Z";

/// Parses `YYYY-MM-DD` or an RFC 3339 instant (with `Z` or an offset). Used as a clap
/// value parser, so the message names neither option nor value: clap adds both.
pub fn parse_when(text: &str) -> Result<When, String> {
    let text = text.trim();
    // A bare date is exactly ten characters; anything longer must be an instant
    // (jiff's date parser would also accept a date-time and drop its time).
    if text.len() == 10 {
        text.parse::<Date>()
            .map(When::Day)
            .map_err(|e| format!("expected {WHEN_SYNTAX} ({e})"))
    } else {
        text.parse::<Timestamp>().map(When::Instant).map_err(|_| {
            format!(
                "expected {WHEN_SYNTAX}; `{text}` is not a valid instant, or lies outside \
                 0000-01-01T00:00:00Z … 9999-12-30T22:00:00Z"
            )
        })
    }
}

/// Unix ms of the start of UTC day `d`, by calendar arithmetic: every date has one, even
/// where a time-zone conversion would leave the supported range (the day after
/// 9999-12-31 is where `--to 9999-12-31` ends).
fn day_start(d: Date) -> Result<i64, String> {
    Ok(days_from_civil(
        i64::from(d.year()),
        i64::from(d.month()),
        i64::from(d.day()),
    ) * 86_400_000)
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn millis(ns: i128) -> Result<i64, String> {
    i64::try_from(ns).map_err(|_| "instant out of range".to_string())
}

/// Inclusive start in Unix ms: the first millisecond at or after `w`.
fn start_ms(w: When) -> Result<i64, String> {
    match w {
        When::Day(d) => day_start(d),
        When::Instant(t) => millis(-(-t.as_nanosecond()).div_euclid(1_000_000)),
    }
}

/// Exclusive end in Unix ms: just after the day, or just after the millisecond of `w`.
fn end_ms(w: When) -> Result<i64, String> {
    match w {
        When::Day(d) => Ok(day_start(d)? + 86_400_000),
        When::Instant(t) => millis(t.as_nanosecond().div_euclid(1_000_000) + 1),
    }
}

/// The range from `from` to `to`, both inclusive. Errors when it is empty.
pub fn time_range(from: Option<When>, to: Option<When>) -> Result<TimeRange, String> {
    // Bounds at or beyond the accepted timestamps bound nothing: `--to 9999-12-31` is
    // the same as no `--to` (and shows as such).
    let range = TimeRange {
        start: from
            .map(start_ms)
            .transpose()?
            .filter(|&s| s > sightline::MIN_TS_MS),
        end: to
            .map(end_ms)
            .transpose()?
            .filter(|&e| e <= sightline::MAX_TS_MS),
    };
    if let (Some(s), Some(e)) = (range.start, range.end)
        && s >= e
    {
        return Err(format!(
            "the range is empty: --from {} is after --to {}",
            show(from),
            show(to)
        ));
    }
    Ok(range)
}

fn show(w: Option<When>) -> String {
    match w {
        Some(When::Day(d)) => d.to_string(),
        Some(When::Instant(t)) => t.to_string(),
        None => "-".into(),
    }
}

/// An instant in Unix ms as RFC 3339 text (by calendar arithmetic past the end of the
/// accepted timestamps, where a range bound can still lie: `--from 9999-12-31`).
pub fn instant(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(
        |_| {
            let (day, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
            let (y, m, d) = civil_from_days(day);
            let (h, min, sec, milli) = (
                rem / 3_600_000,
                rem / 60_000 % 60,
                rem / 1000 % 60,
                rem % 1000,
            );
            let frac = if milli == 0 {
                String::new()
            } else {
                format!(".{milli:03}")
            };
            format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}{frac}Z")
        },
        |t| t.to_string(),
    )
}

/// `(year, month, day)` of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `start … end` for humans (start inclusive, end exclusive).
pub fn describe(r: &TimeRange) -> String {
    match (r.start, r.end) {
        (None, None) => "all time".into(),
        (s, e) => format!(
            "[{}, {})",
            s.map_or("-∞".into(), instant),
            e.map_or("+∞".into(), instant)
        ),
    }
}

/// The range as JSON: `{"start", "end"}`, RFC 3339 or null; start inclusive, end exclusive.
pub fn json(r: &TimeRange) -> serde_json::Value {
    serde_json::json!({
        "start": r.start.map(instant),
        "end": r.end.map(instant),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: &str, to: &str) -> Result<TimeRange, String> {
        let p = |s: &str| (!s.is_empty()).then(|| parse_when(s)).transpose();
        time_range(p(from)?, p(to)?)
    }

    #[test]
    fn dates_are_whole_utc_days() {
        let r = range("2026-01-01", "2026-01-01").unwrap();
        assert_eq!(r.start, Some(1_767_225_600_000));
        assert_eq!(r.end, Some(1_767_225_600_000 + 86_400_000));
    }

    #[test]
    fn instants_are_inclusive_to_the_millisecond() {
        let r = range("2026-01-01T00:00:00.0005Z", "2026-01-01T01:00:00.001+01:00").unwrap();
        assert_eq!(r.start, Some(1_767_225_600_001));
        assert_eq!(r.end, Some(1_767_225_600_002));
        assert!(
            range("2026-01-02", "2026-01-01")
                .unwrap_err()
                .contains("empty")
        );
    }

    #[test]
    fn bad_text_is_rejected() {
        for bad in ["2026-13-01", "yesterday", "2026-01-01T10:00:00", ""] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
    }
}
