//! `--from`/`--to` and `.range`: dates (UTC days, inclusive), relative dates (`today`,
//! `last7`, `last-month` …) and RFC 3339 instants (inclusive), turned into the library's
//! half-open [`TimeRange`] (`docs/segment-language.md`, "Time ranges").
//!
//! Every date is a UTC day. A relative date names a period of days relative to today
//! (UTC): used as `--from` the range starts at the period's first day, used as `--to` it
//! ends with the period's last day. "Today" is the UTC date of the system clock, or of
//! `$SIGHTLINE_NOW` (a date or an RFC 3339 instant), which exists for tests.

use jiff::civil::Date;
use jiff::{Span, Timestamp};
use sightline::TimeRange;

/// One end of a range as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Whole UTC days, `first` to `last` inclusive: one day for a date, a period for a
    /// relative date. A range starts at `first` and ends with `last`.
    Days {
        /// The first day.
        first: Date,
        /// The last day (not before `first`).
        last: Date,
    },
    /// An instant.
    Instant(Timestamp),
}

/// What `--from`/`--to` accept, for help texts and error messages.
pub const WHEN_SYNTAX: &str = "a UTC date YYYY-MM-DD, an RFC 3339 instant such as \
     2026-01-07T10:00:00Z, or a relative date: today, yesterday, lastN (the last N days, \
     today included), previousN (the N days before today), this-week, last-week (weeks \
     start on Monday), this-month, last-month, this-year, last-year";

/// The environment variable that fixes "today" for relative dates (for tests).
pub const NOW_VAR: &str = "SIGHTLINE_NOW";

/// The relative dates that are plain words, for suggestions.
const WORDS: [&str; 8] = [
    "today",
    "yesterday",
    "this-week",
    "last-week",
    "this-month",
    "last-month",
    "this-year",
    "last-year",
];

/// Parses a date, a relative date or an RFC 3339 instant (with `Z` or an offset),
/// relative to today's UTC date (`$SIGHTLINE_NOW`, else the clock). Used as a clap
/// value parser, so the message names neither option nor value: clap adds both.
pub fn parse_when(text: &str) -> Result<When, String> {
    parse_when_on(text, today)
}

/// [`parse_when`] with "today" from `today`, called only for a relative date.
pub fn parse_when_on(
    text: &str,
    today: impl FnOnce() -> Result<Date, String>,
) -> Result<When, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("an empty date; expected {WHEN_SYNTAX}"));
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        // A date has no time: anything with a `:` (or longer than a date) must be an
        // instant.
        if text.len() <= 10 && !text.contains(':') {
            return parse_date(text).map(|d| When::Days { first: d, last: d });
        }
        return text.parse::<Timestamp>().map(When::Instant).map_err(|_| {
            format!(
                "`{text}` is not a valid instant (an RFC 3339 instant has a date, a time and \
                 `Z` or an offset, such as 2026-01-07T10:00:00Z, and lies within \
                 0000-01-01T00:00:00Z … 9999-12-30T22:00:00Z); expected {WHEN_SYNTAX}"
            )
        });
    }
    let word = text.to_ascii_lowercase();
    let (first, last) = relative(&word, today)?;
    Ok(When::Days { first, last })
}

/// `YYYY-MM-DD`, checked field by field so that the message says which is wrong.
fn parse_date(text: &str) -> Result<Date, String> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(b.len() == 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10))
    {
        return Err(format!("`{text}` is not a date; expected {WHEN_SYNTAX}"));
    }
    let num = |r: std::ops::Range<usize>| text[r].parse::<i16>().unwrap_or(0);
    let (y, m, d) = (num(0..4), num(5..7) as i8, num(8..10) as i8);
    if !(1..=12).contains(&m) {
        return Err(format!(
            "`{text}` is not a date: there is no month {m} (months are 01 to 12)"
        ));
    }
    let days = Date::new(y, m, 1).map_or(31, |first| first.days_in_month());
    if d < 1 || d > days {
        return Err(format!(
            "`{text}` is not a date: {y:04}-{m:02} has days 01 to {days}"
        ));
    }
    Date::new(y, m, d).map_err(|_| format!("`{text}` is not a date; expected {WHEN_SYNTAX}"))
}

/// The first and last day of the relative date `word` (lower case).
fn relative(
    word: &str,
    today: impl FnOnce() -> Result<Date, String>,
) -> Result<(Date, Date), String> {
    let counted =
        [("last", true), ("previous", false)]
            .into_iter()
            .find_map(|(prefix, with_today)| {
                let n = word.strip_prefix(prefix)?;
                (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some((n, with_today))
            });
    if !WORDS.contains(&word) && counted.is_none() {
        return Err(unknown(word));
    }
    let t = today()?;
    let days = |d: Date, n: i64| -> Result<Date, String> {
        Span::new()
            .try_days(n)
            .ok()
            .and_then(|s| d.checked_add(s).ok())
            .ok_or_else(|| too_many(word))
    };
    let monday = days(t, -i64::from(t.weekday().to_monday_zero_offset()))?;
    let month = t.first_of_month();
    let year = t.first_of_year();
    Ok(match word {
        "today" => (t, t),
        "yesterday" => (days(t, -1)?, days(t, -1)?),
        "this-week" => (monday, days(monday, 6)?),
        "last-week" => (days(monday, -7)?, days(monday, -1)?),
        "this-month" => (month, month.last_of_month()),
        "last-month" => {
            let prev = days(month, -1)?;
            (prev.first_of_month(), prev)
        }
        "this-year" => (year, year.last_of_year()),
        "last-year" => {
            let prev = days(year, -1)?;
            (prev.first_of_year(), prev)
        }
        _ => {
            let Some((digits, with_today)) = counted else {
                return Err(unknown(word));
            };
            let n: i64 = digits.parse().map_err(|_| too_many(word))?;
            if n == 0 {
                return Err(format!(
                    "`{word}`: the number of days must be at least 1 (`{}1` is {}); expected \
                     {WHEN_SYNTAX}",
                    if with_today { "last" } else { "previous" },
                    if with_today { "today" } else { "yesterday" }
                ));
            }
            if n > 3_660_000 {
                return Err(too_many(word));
            }
            if with_today {
                (days(t, 1 - n)?, t)
            } else {
                (days(t, -n)?, days(t, -1)?)
            }
        }
    })
}

fn too_many(word: &str) -> String {
    format!(
        "`{word}` reaches outside the supported dates (years -9999 to 9999); expected {WHEN_SYNTAX}"
    )
}

/// The message for text that is no date, with the closest relative date if one is close.
fn unknown(word: &str) -> String {
    let close = WORDS
        .iter()
        .map(|w| (strsim::levenshtein(w, word), *w))
        .filter(|(d, _)| *d <= 2)
        .min();
    let hint = match close {
        Some((_, w)) => format!("did you mean `{w}`? "),
        None if word.starts_with("last") || word.starts_with("previous") => {
            "the number of days comes right after the word, as in last7 or previous30; ".into()
        }
        None => String::new(),
    };
    format!("`{word}` is not a date; {hint}expected {WHEN_SYNTAX}")
}

/// Today's UTC date: that of `$SIGHTLINE_NOW` when set (a date or an RFC 3339 instant),
/// else of the system clock.
pub fn today() -> Result<Date, String> {
    match std::env::var(NOW_VAR) {
        Ok(now) if !now.trim().is_empty() => {
            let now = now.trim();
            if now.len() == 10 {
                parse_date(now)
            } else {
                now.parse::<Timestamp>()
                    .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
                    .map_err(|_| {
                        format!("${NOW_VAR} is `{now}`, which is neither a date YYYY-MM-DD nor an RFC 3339 instant")
                    })
            }
        }
        _ => Ok(Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()),
    }
}

/// Unix ms of the start of the UTC day `days` days before today (`today`): the cut-off
/// of `privacy purge --older-than`.
pub fn days_before_today(days: u32) -> Result<i64, String> {
    Ok(day_start(today()?)? - i64::from(days) * 86_400_000)
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
        When::Days { first, .. } => day_start(first),
        When::Instant(t) => millis(-(-t.as_nanosecond()).div_euclid(1_000_000)),
    }
}

/// Exclusive end in Unix ms: just after the day, or just after the millisecond of `w`.
fn end_ms(w: When) -> Result<i64, String> {
    match w {
        When::Days { last, .. } => Ok(day_start(last)? + 86_400_000),
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
            show(from, true),
            show(to, false)
        ));
    }
    Ok(range)
}

/// `w` as a bound: the first day of a `--from`, the last day of a `--to`.
fn show(w: Option<When>, from: bool) -> String {
    match w {
        Some(When::Days { first, last }) => if from { first } else { last }.to_string(),
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
        for bad in [
            "2026-13-01",
            "2026-02-29",
            "2026-1-01",
            "someday",
            "2026-01-01T10:00:00",
            "",
        ] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
        let e = parse_when("2026-02-30").unwrap_err();
        assert!(e.contains("2026-02 has days 01 to 28"), "{e}");
        assert!(
            !e.contains("parameter"),
            "the date library's message leaks: {e}"
        );
        let e = parse_when("2026-13-01").unwrap_err();
        assert!(e.contains("no month 13"), "{e}");
    }

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    /// Resolves `text` on `today` to its first and last day.
    fn days_on(text: &str, today: &str) -> Result<(String, String), String> {
        let t = date(today);
        match parse_when_on(text, || Ok(t))? {
            When::Days { first, last } => Ok((first.to_string(), last.to_string())),
            When::Instant(i) => Err(format!("an instant: {i}")),
        }
    }

    #[test]
    fn relative_dates_are_periods_of_utc_days() {
        // 2026-12-09 is a Wednesday.
        let today = "2026-12-09";
        for (text, first, last) in [
            ("today", "2026-12-09", "2026-12-09"),
            ("TODAY", "2026-12-09", "2026-12-09"),
            ("yesterday", "2026-12-08", "2026-12-08"),
            ("last1", "2026-12-09", "2026-12-09"),
            ("last7", "2026-12-03", "2026-12-09"),
            ("last30", "2026-11-10", "2026-12-09"),
            ("previous1", "2026-12-08", "2026-12-08"),
            ("previous7", "2026-12-02", "2026-12-08"),
            ("this-week", "2026-12-07", "2026-12-13"),
            ("last-week", "2026-11-30", "2026-12-06"),
            ("this-month", "2026-12-01", "2026-12-31"),
            ("last-month", "2026-11-01", "2026-11-30"),
            ("this-year", "2026-01-01", "2026-12-31"),
            ("last-year", "2025-01-01", "2025-12-31"),
        ] {
            assert_eq!(
                days_on(text, today),
                Ok((first.to_string(), last.to_string())),
                "{text}"
            );
        }
    }

    #[test]
    fn relative_dates_at_period_edges() {
        // A Monday is the first day of its week; a Sunday the last.
        assert_eq!(days_on("this-week", "2026-12-07").unwrap().0, "2026-12-07");
        assert_eq!(days_on("this-week", "2026-12-13").unwrap().0, "2026-12-07");
        assert_eq!(
            days_on("last-week", "2026-12-13"),
            Ok(("2026-11-30".into(), "2026-12-06".into()))
        );
        // January: last month is December of the year before.
        assert_eq!(
            days_on("last-month", "2026-01-15"),
            Ok(("2025-12-01".into(), "2025-12-31".into()))
        );
        // March 1st of a leap year: yesterday is February 29th.
        assert_eq!(
            days_on("last-month", "2028-03-01"),
            Ok(("2028-02-01".into(), "2028-02-29".into()))
        );
        assert_eq!(days_on("yesterday", "2028-03-01").unwrap().0, "2028-02-29");
    }

    #[test]
    fn relative_dates_make_ranges_from_first_to_last_day() {
        let t = date("2026-12-09");
        let at = |s: &str| parse_when_on(s, || Ok(t)).unwrap();
        let r = time_range(Some(at("last-month")), Some(at("last-month"))).unwrap();
        assert_eq!(r.start, Some(day_start(date("2026-11-01")).unwrap()));
        assert_eq!(r.end, Some(day_start(date("2026-12-01")).unwrap()));
        // --from last7 alone: from six days ago on.
        let r = time_range(Some(at("last7")), None).unwrap();
        assert_eq!(r.start, Some(day_start(date("2026-12-03")).unwrap()));
        assert_eq!(r.end, None);
        // --to yesterday: up to the end of yesterday.
        let r = time_range(None, Some(at("yesterday"))).unwrap();
        assert_eq!(r.end, Some(day_start(date("2026-12-09")).unwrap()));
        let e = time_range(Some(at("today")), Some(at("yesterday"))).unwrap_err();
        assert!(
            e.contains("--from 2026-12-09 is after --to 2026-12-08"),
            "{e}"
        );
    }

    #[test]
    fn bad_relative_dates_list_the_accepted_forms() {
        let today = || -> Result<Date, String> { Ok(date("2026-12-09")) };
        for (bad, says) in [
            ("last0", "at least 1"),
            ("previous0", "at least 1"),
            ("lastx", "last7"),
            ("last-7", "last7"),
            ("last", "last7"),
            ("previous", "last7"),
            ("last-moth", "did you mean `last-month`?"),
            ("yesterdy", "did you mean `yesterday`?"),
            ("tomorrow", "lastN"),
            ("last99999999999999999999", "outside the supported dates"),
            ("last4000000", "outside the supported dates"),
        ] {
            let e = parse_when_on(bad, today).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
            assert!(
                e.contains("today, yesterday, lastN"),
                "{bad}: the accepted forms are not listed: {e}"
            );
        }
        // A relative date asks for today only when it is one.
        let never = || -> Result<Date, String> { Err("asked for today".into()) };
        assert!(parse_when_on("2026-01-01", never).is_ok());
        assert!(
            parse_when_on("lastx", never)
                .unwrap_err()
                .contains("not a date")
        );
        assert_eq!(parse_when_on("today", never), Err("asked for today".into()));
    }
}
