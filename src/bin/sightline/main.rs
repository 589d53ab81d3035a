//! The `sightline` command line: a thin layer over the library's public API.

#[macro_use]
mod out;
mod cohorts;
mod funnel;
mod privacy;
mod query;
mod range;
mod repl;
mod report;
mod visitor;

use std::ffi::{OsStr, OsString};
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use range::When;
use serde_json::json;
use sightline::Dialect;
use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, DbOptions, ErrorKind, Format, FunnelScope, ImportOptions, Period, Stats};

/// The system allocator, counting the peak of bytes allocated (the REPL's `.memory`
/// reports it; the benchmark comparison reads it as the query-time heap).
#[global_allocator]
static ALLOC: peakmem_alloc::PeakMemAlloc<std::alloc::System> =
    peakmem_alloc::PeakMemAlloc::new(std::alloc::System);

/// Embedded web and product analytics: import events, ask audience questions.
#[derive(Parser)]
#[command(
    name = "sightline",
    version,
    about,
    propagate_version = true,
    after_help = "\
Every command that reads a database takes --db DIR (default: $SIGHTLINE_DB, else sightline.db;
`sightline import --db DIR FILE` or `sightline demo --db DIR` creates one). Every command
that prints a result takes --format table|json|csv: --json (= --format json) prints exactly
one JSON document on standard output, csv a header row and one row per table row. --from/--to take UTC dates
YYYY-MM-DD, RFC 3339 instants, or relative dates: today, yesterday, lastN, previousN,
this-week, last-week, this-month, last-month, this-year, last-year (a period starts a
--from at its first day and ends a --to with its last; $SIGHTLINE_NOW fixes \"now\" for tests).

Examples:
  sightline demo
  sightline gen --visitors 1000 -o events.jsonl
  sightline import --db shop.db events.jsonl
  sightline query --db shop.db --from 2026-01-01 --to 2026-01-31 'countryCode==fr;visitCount>1'
  sightline query --db shop.db --from last-month --to last-month --format json
  sightline report --db shop.db --by visitorId --segment visitConverted==1 --format csv
  sightline explain 'pageUrl=@/checkout,referrerType==search'
  sightline report --db shop.db --by country --limit 10
  sightline funnel --db shop.db --step pageUrl==shop.example/cart --step pageUrl==shop.example/checkout
  sightline cohorts --db shop.db --period week --periods 8
  sightline visitor --db shop.db v57a87b1282c1
  sightline privacy settings --db shop.db --anonymize-ip 2 --pseudonymize-user-id on
  sightline repl --db shop.db

Segments: `;` is AND, `,` is OR (binds tighter), a condition is NAME OPERATOR VALUE with
operators == != < <= > >= =@ !@ =^ =$ =~ !~ (docs/segment-language.md).

Exit status: 0 success, 1 runtime error, 2 usage or segment error, 3 corruption detected,
4 database locked."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How a command prints its result: `--format`, or `--json` for `--format json`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// A table for people.
    Table,
    /// One JSON document.
    Json,
    /// CSV: a header row, then one row per row of the table.
    Csv,
}

/// `--format table|json|csv` and its synonym `--json`, shared by every command that
/// prints a result (import has `--output-format`: its `--format` is the input's).
#[derive(clap::Args)]
struct OutputArgs {
    /// Output: table (default), json (one JSON document) or csv (a header row, then one
    /// row per table row). Also spelled --output-format.
    #[arg(long, value_enum, value_name = "FORMAT", alias = "output-format")]
    format: Option<OutputFormat>,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
}

impl OutputArgs {
    fn get(&self) -> OutputFormat {
        match (self.json, self.format) {
            (true, _) => OutputFormat::Json,
            (false, f) => f.unwrap_or(OutputFormat::Table),
        }
    }
}

/// Prints a result in `format`: `table` as text, `doc` as one JSON document, `csv` as
/// CSV text.
fn print_as(
    format: OutputFormat,
    table: impl FnOnce() -> String,
    doc: impl FnOnce() -> serde_json::Value,
    csv: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<ExitCode> {
    match format {
        OutputFormat::Table => outln!("{}", table()),
        OutputFormat::Json => outln!("{}", doc()),
        OutputFormat::Csv => out!("{}", csv()?),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Jsonl,
    Csv,
}

/// The segment dialects of `--dialect`.
#[derive(Clone, Copy, ValueEnum)]
enum DialectArg {
    /// sightline's syntax: whitespace ignored, values percent-decoded once, =~ and !~.
    Default,
    /// A definition exactly as Matomo stores it.
    Matomo,
    /// A Matomo `segment=` API parameter (whole-string decoding first).
    MatomoUrl,
}

impl From<DialectArg> for Dialect {
    fn from(d: DialectArg) -> Dialect {
        match d {
            DialectArg::Default => Dialect::Default,
            DialectArg::Matomo => Dialect::Matomo,
            DialectArg::MatomoUrl => Dialect::MatomoUrl,
        }
    }
}

/// `--from`/`--to` and `--dialect`, shared by the commands that evaluate segments.
#[derive(clap::Args)]
struct SegmentArgs {
    /// Only visits whose first event is at or after this: a UTC date YYYY-MM-DD (from
    /// its start), an RFC 3339 instant (2026-01-07T10:00:00Z), or a relative date
    /// (today, yesterday, lastN, previousN, this-week, last-week, this-month,
    /// last-month, this-year, last-year), from its first day.
    #[arg(long, value_name = "WHEN", value_parser = range::parse_when)]
    from: Option<When>,
    /// Only visits whose first event is at or before this: a UTC date YYYY-MM-DD
    /// (inclusive: up to the end of that day), an RFC 3339 instant (inclusive), or a
    /// relative date, up to the end of its last day.
    #[arg(long, value_name = "WHEN", value_parser = range::parse_when)]
    to: Option<When>,
    /// Segment syntax.
    #[arg(long, value_enum, default_value = "default")]
    dialect: DialectArg,
}

impl SegmentArgs {
    fn range(&self) -> anyhow::Result<sightline::TimeRange> {
        range::time_range(self.from, self.to).map_err(out::usage)
    }
}

/// What the analyses (report, funnel, cohorts) share: database, selection and output.
#[derive(clap::Args)]
struct AnalysisArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only the visits this segment selects, e.g. 'countryCode==fr;visitCount>1'
    /// (default: every visit).
    #[arg(long, short, value_name = "SEGMENT")]
    segment: Option<OsString>,
    #[command(flatten)]
    seg: SegmentArgs,
    #[command(flatten)]
    out: OutputArgs,
}

impl AnalysisArgs {
    /// Opens the database, and runs `f` on its snapshot with the selection's scope.
    fn run<T>(
        &self,
        f: impl FnOnce(&sightline::Snapshot, query::Scope<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let range = self.seg.range()?;
        let segment = segment_arg(self.segment.as_deref().unwrap_or_default())?;
        let db = query::open(&self.db.db)?;
        let scope = query::Scope {
            segment: &segment,
            dialect: self.seg.dialect.into(),
            range: &range,
        };
        f(&db.snapshot(), scope)
    }
}

/// `--scope` of `funnel`.
#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// Each visit on its own (default window: none).
    Visit,
    /// All the visits of a visitor together (default window: 7 days).
    Visitor,
}

impl From<ScopeArg> for FunnelScope {
    fn from(s: ScopeArg) -> FunnelScope {
        match s {
            ScopeArg::Visit => FunnelScope::Visit,
            ScopeArg::Visitor => FunnelScope::Visitor,
        }
    }
}

/// `--period` of `cohorts`.
#[derive(Clone, Copy, ValueEnum)]
enum PeriodArg {
    /// UTC calendar days.
    Day,
    /// Weeks starting on Monday (UTC).
    Week,
    /// UTC calendar months.
    Month,
}

impl From<PeriodArg> for Period {
    fn from(p: PeriodArg) -> Period {
        match p {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
            PeriodArg::Month => Period::Month,
        }
    }
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Csv => Format::Csv,
        }
    }
}

#[derive(clap::Args)]
struct DbArg {
    /// Database directory (created by `sightline import` or `sightline demo`).
    #[arg(long, default_value = "sightline.db", env = "SIGHTLINE_DB")]
    db: PathBuf,
}

/// `--memory-limit`, shared by the commands that write.
#[derive(clap::Args)]
struct MemoryArg {
    /// Memory budget: rows beyond their share are spilled to sorted run files in the
    /// database directory and merged at commit, and parts are built within it. Bytes,
    /// or a number with K, M, G (powers of 1000) or KiB, MiB, GiB (powers of 1024);
    /// at least 64KiB.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    memory_limit: usize,
}

/// A byte count: digits, optionally followed by K, M, G (×1000ⁿ) or KiB, MiB, GiB
/// (×1024ⁿ), case-insensitive; at least [`sightline::MIN_MEMORY_LIMIT`].
fn parse_size(text: &str) -> Result<usize, String> {
    let accepted = "expected bytes or a number with one of the suffixes K, M, G (powers of \
                    1000) or KiB, MiB, GiB (powers of 1024), e.g. 512MiB";
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let scale: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(format!("{text:?}: unknown suffix; {accepted}")),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size; {accepted}"))?;
    let bytes = n
        .checked_mul(scale)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < sightline::MIN_MEMORY_LIMIT {
        return Err(format!(
            "{text:?} is less than the smallest budget, 64KiB ({} bytes)",
            sightline::MIN_MEMORY_LIMIT
        ));
    }
    Ok(bytes)
}

#[derive(Subcommand)]
enum Command {
    /// Import JSON Lines or CSV files in one atomic commit.
    Import {
        #[command(flatten)]
        db: DbArg,
        /// Input format (default: from the file extension; .csv is CSV, the rest JSON Lines).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Commit the valid rows and report the invalid ones instead of failing.
        #[arg(long)]
        skip_invalid: bool,
        /// Mask N bytes (0-4) of every row's ip before it is stored, as Matomo does
        /// (IPv4: the last N octets; IPv6: keep 64/48/24/0 bits); an ip that is not an
        /// IP address is then a bad row. See docs/privacy.md.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=4))]
        anonymize_ip: Option<u8>,
        /// Store every row's userId as its keyed hash under the database secret, even
        /// where the database's settings do not (see `sightline privacy settings`).
        #[arg(long)]
        pseudonymize_user_id: bool,
        /// Visit timeout in minutes, when this import creates the database.
        #[arg(long, default_value_t = 30)]
        visit_timeout: u32,
        #[command(flatten)]
        memory: MemoryArg,
        /// How to print the summary: table (default), json or csv (a header row and one
        /// row). (--format is the input's format.)
        #[arg(long, value_enum, value_name = "FORMAT")]
        output_format: Option<OutputFormat>,
        /// Same as --output-format json.
        #[arg(long, conflicts_with = "output_format")]
        json: bool,
        /// Files to import.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Summary of the visits a segment selects (every visit without one).
    #[command(after_help = "\
Examples:
  sightline query --db shop.db
  sightline query --db shop.db 'countryCode==fr;visitCount>1'
  sightline query --db shop.db --from 2026-01-01 --to 2026-01-07 --json 'pageUrl=@/checkout'
  sightline query --db shop.db --dialect matomo 'pageUrl==https%253A%252F%252Fshop.example%252F'

  sightline query --db shop.db --segment deviceType==tablet --from last-month --to last-month
  sightline query --db shop.db --format csv 'referrerType==search'

The segment is given as the argument or as --segment (not both).
--json prints {\"visits\", \"visitors\", \"actions\", \"conversions\", \"revenue\", \"bounces\",
\"sumVisitDuration\", \"convertedVisits\", \"actionsPerVisit\", \"bounceRate\",
\"conversionRate\", \"avgVisitDuration\", \"segment\", \"range\", \"elapsedMs\"} (rates are
fractions of the visits, avgVisitDuration in seconds; null without visits). --format csv
prints a header row and one row with the counts and the rates. A segment that does not
parse or names an unknown dimension is reported with a caret under the offending byte
(exit status 2).")]
    Query {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        seg: SegmentArgs,
        #[command(flatten)]
        out: OutputArgs,
        /// The segment, as an option (instead of the argument).
        #[arg(
            long = "segment",
            short = 's',
            value_name = "SEGMENT",
            conflicts_with = "segment"
        )]
        segment_option: Option<OsString>,
        /// The segment, e.g. 'countryCode==fr;visitCount>1,referrerType==search' (`;` is
        /// AND, `,` is OR and binds tighter). Empty or absent: every visit.
        segment: Option<OsString>,
    },
    /// Show how a segment parses; with --db, also its plan and cardinalities.
    #[command(after_help = "\
Without a database only the syntax is checked, so unknown names pass. The database is
consulted only when --db is given or $SIGHTLINE_DB is set (the sightline.db default of the
other commands does not apply here); names are then resolved and every condition shows how
it is evaluated and how many rows and visits it matched.

Example:
  sightline explain --json 'countryCode==fr;pageUrl=@/cart,visitCount>2'

--json prints {\"and\": [{\"or\": [{\"name\", \"op\", \"value\"}]}], \"canonical\", \"dialect\"}, plus
\"plan\" and \"range\" with a database. --format csv prints one row per condition: group,
name, op, value, and with a database level, method, rows, visits.")]
    Explain {
        /// Database directory (default: $SIGHTLINE_DB if set and not empty, else none: see
        /// below).
        #[arg(long)]
        db: Option<PathBuf>,
        #[command(flatten)]
        seg: SegmentArgs,
        #[command(flatten)]
        out: OutputArgs,
        /// The segment.
        segment: OsString,
    },
    /// One row per value of a dimension among the selected visits.
    #[command(after_help = "\
DIM is any dimension a segment can name (aliases such as country accepted; see .schema in
the REPL). Visit-level dimensions put each visit in the row of its value (visits without
one in the null row); action-level ones (pageUrl, pageTitle, eventCategory, …, custom
dimensions) count in a row every visit having an action row with that value, and add
\"hits\", the number of such rows; conversion-level ones (visitConvertedGoalId, revenue) do
the same on conversion rows. Code dimensions (countryCode, …) are grouped lower-cased.
Rows are sorted by visits, then value; --limit N keeps N rows and folds the rest into one
\"others\" row: the distinct visits having any folded value, their distinct visitors and
metrics, and the folded rows' hits summed (docs/analytics.md).

Examples:
  sightline report --db shop.db --by country
  sightline report --db shop.db --by pageUrl --limit 10 --segment 'referrerType==search'
  sightline report --db shop.db --by deviceType --from 2026-01-01 --to 2026-01-31 --json

--json prints {\"by\", \"level\", \"rows\": [{\"value\", \"visits\", \"visitors\", \"actions\",
\"conversions\", \"revenue\", \"hits\"?, \"others\"?}], \"total\", \"segment\", \"range\",
\"elapsedMs\"}; \"total\" is the query summary of the whole selection. --format csv prints a
header row (DIM, visits, visitsShare, visitors, actions, conversions, revenue, hits for
action- and conversion-level dimensions, others), then one row per table row: the value
is empty in the null row and in the others row, whose \"others\" is the number of values it
folds. The visitor ids of a segment, e.g. for a mailing tool:
  sightline report --db shop.db --by visitorId --segment visitConverted==1 --format csv
An unknown dimension is a usage error (exit status 2) that suggests the closest names.")]
    Report {
        /// The dimension to group by, e.g. countryCode, pageUrl, visitCount.
        #[arg(long, value_name = "DIM")]
        by: String,
        /// Keep the first N rows and fold the rest into an "others" row (0, or absent:
        /// every row).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        #[command(flatten)]
        args: AnalysisArgs,
    },
    /// How many visits (or visitors) go through a sequence of steps.
    #[command(after_help = "\
Each step is a segment tested on one event row at a time (a visit-level condition tests the
row's visit, an action- or conversion-level one the row itself). A visit reaches step k if
it has distinct rows matching steps 1 to k in that order (equal timestamps in either order;
other rows may come in between). With --scope visitor the rows of all of a visitor's
selected visits count, and the last step must come at most --window after the first
(default 7 days); in visit scope there is no window unless --window is given. --segment
and --from/--to choose the visits first. 1 to 32 steps (docs/analytics.md).

Examples:
  sightline funnel --db shop.db --step pageUrl==shop.example/cart \\
      --step pageUrl==shop.example/checkout --step pageUrl==shop.example/thank-you
  sightline funnel --db shop.db --scope visitor --window 36h \\
      --step 'eventCategory==video;eventAction==play' --step visitConvertedGoalId==1
  sightline funnel --db shop.db --segment deviceType==smartphone --json \\
      --step pageUrl=@/product/ --step pageUrl=@/cart

--window takes 7d, 36h, 90m, 30s, 2w, 1d12h (a day is 24 hours, a week 7 days).
--json prints {\"scope\", \"windowMs\", \"units\", \"steps\": [{\"step\", \"definition\",
\"count\", \"rate\", \"dropOff\", \"dropOffRate\", \"medianTimeMs\"}], \"segment\", \"range\",
\"elapsedMs\"}: \"rate\" is count / count of step 1, \"medianTimeMs\" the median over the units
reaching the step of their shortest time from step 1 (null when none does). --format csv
prints a header row and one row per step (step, definition, count, rate, dropOff,
dropOffRate, medianTimeMs; rates as fractions, medianTimeMs empty when no unit reaches
the step).")]
    Funnel {
        /// A step's segment; repeat once per step, in order (1 to 32).
        #[arg(long = "step", value_name = "SEGMENT", required = true)]
        steps: Vec<OsString>,
        /// Count visits, or visitors across their visits.
        #[arg(long, value_enum, default_value = "visit")]
        scope: ScopeArg,
        /// Longest time from the first step to the last, e.g. 7d, 36h, 1d12h (inclusive).
        #[arg(long, value_name = "DURATION", value_parser = funnel::parse_window,
              allow_hyphen_values = true)]
        window: Option<i64>,
        #[command(flatten)]
        args: AnalysisArgs,
    },
    /// Visitors grouped by the period of their first visit, and who came back when.
    #[command(after_help = "\
A visitor belongs to the cohort of the period (UTC; weeks start on Monday) in which its
first visit started, and counts only if that first visit is selected (--segment, --from,
--to): cohorts are about acquisition. retained[i] is how many of the cohort have a selected
visit in the i-th period after it (retained[0] is the size). Periods after the end of the
data (the latest event, or --to) are not shown (docs/analytics.md).

Examples:
  sightline cohorts --db shop.db
  sightline cohorts --db shop.db --period month --periods 3 --segment referrerType==search
  sightline cohorts --db shop.db --period day --from 2026-01-01 --to 2026-01-14 --json

--json prints {\"period\", \"cohorts\": [{\"start\", \"size\", \"retained\": [n0, n1, …]}],
\"segment\", \"range\", \"elapsedMs\"}, \"start\" being the period's first day (YYYY-MM-DD).
--format csv prints a header row (start, size, 0, 1, …) and one row per cohort with the
numbers of visitors (not percentages) retained in each period; empty where the period has
not happened yet.")]
    Cohorts {
        /// Period length.
        #[arg(long, value_enum, default_value = "week")]
        period: PeriodArg,
        /// Most periods shown per cohort (the first is the cohort's own).
        #[arg(long, value_name = "N", default_value_t = 12,
              value_parser = clap::value_parser!(u32).range(1..))]
        periods: u32,
        #[command(flatten)]
        args: AnalysisArgs,
    },
    /// A visitor's profile: totals, and every visit with its events.
    #[command(after_help = "\
Example:
  sightline visitor --db shop.db v57a87b1282c1

--json prints {\"visitorId\", \"firstVisit\", \"lastEvent\", \"totals\": {\"visits\", \"events\",
\"actions\", \"conversions\", \"revenue\", \"visitDuration\"}, \"visits\": [{\"visitId\", \"start\",
\"end\", \"duration\", \"dimensions\": {NAME: VALUE}, \"events\": [{\"ts\", \"type\", FIELD: VALUE}]}]},
instants as RFC 3339 strings and durations in seconds. --format csv prints the visits'
events: a header row (visitId, visitStart, ts, type, pageUrl, pageTitle, eventCategory,
eventAction, eventName, eventValue, goalId, revenue, otherFields), then one row per event.
An unknown visitor is a usage error (exit status 2).")]
    Visitor {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        out: OutputArgs,
        /// The visitor id.
        id: String,
    },
    /// Interactive segment shell (reads a script from standard input when it is not a
    /// terminal).
    #[command(after_help = "\
Type a segment to see its summary, or .help for the dot-commands (.explain, .schema,
.segment, .report, .funnel, .cohorts, .visitor, .range FROM TO, .dialect, .mode table|json,
.timer on|off, .quit). History is kept in
$SIGHTLINE_HISTORY, else ~/.sightline_history; Tab completes dimension names.

When standard input is not a terminal, lines are read without a prompt, e.g.
  printf 'countryCode==fr\\n.mode json\\nvisitCount>1\\n' | sightline repl --db shop.db
Errors go to standard error with their line number and the script goes on; the exit status
is 0 if every line succeeded, else that of the first failing line (2 for a bad segment,
command or date). Lines starting with # or -- are comments.")]
    Repl {
        #[command(flatten)]
        db: DbArg,
    },
    /// Totals of the database.
    #[command(after_help = "\
--json prints {\"events\", \"visits\", \"visitors\", \"actions\", \"conversions\", \"revenue\",
\"firstEvent\", \"lastEvent\", \"parts\", \"bytes\", \"generation\"}; --format csv the same
keys as a header row and one row.")]
    Stats {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Verify every checksum and structure; exit 0 only if all hold.
    #[command(after_help = "\
--json prints {\"ok\", \"generation\", \"files\", \"bytes\", \"problems\": [TEXT], \"orphans\":
[PATH]}; --format csv the same keys as a header row and one row, the problems and orphans
each joined with \"; \". Exit status 3 when a check fails.")]
    Check {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Merge parts and drop data no longer live (visitors moved or erased).
    #[command(after_help = "\
Merges every part worth merging into as few parts as the data needs (each at most about
a million events), drops the data of visitors that moved to newer parts, and folds
deletion files away, in one atomic commit. Readers and writers keep working meanwhile.
Imports also compact as needed on their own (by size tiers); this does it all at once.

--json prints {\"partsBefore\", \"partsAfter\", \"bytesBefore\", \"bytesAfter\", \"partsMerged\",
\"visitorsDropped\", \"generation\"}; --format csv the same keys as a header row and one row.")]
    Compact {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        memory: MemoryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Privacy: export or erase a person's data, purge old visits, anonymise stored ones, the stored privacy settings, the audit log.
    Privacy {
        #[command(subcommand)]
        command: privacy::PrivacyCommand,
    },
    /// Write deterministic synthetic events (JSON Lines).
    Gen {
        /// Number of visitors.
        #[arg(long, default_value_t = 1000)]
        visitors: u64,
        /// Random seed (the same seed gives the same bytes).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Days covered, from 2026-01-01.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Output file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Raw request data (`userAgent`, `referrerUrl`, `acceptLanguage`, campaign
        /// parameters in the landing URL) instead of the fields enrichment derives from it.
        #[arg(long)]
        raw: bool,
    },
    /// Receive Matomo trackers: serve Matomo's HTTP Tracking API into a database.
    #[cfg(feature = "server")]
    #[command(after_help = "\
Routes: GET|POST /matomo.php and /piwik.php (a query string, a form body, or a bulk JSON
body {\"requests\": [\"?idsite=1&rec=1&...\", ...]}), GET /health, and CORS preflights.
Each tracking request becomes one event (docs/server.md has the parameter table); it is
answered (a 1x1 GIF for GET, 204 for POST or send_image=0, {\"status\":\"success\",
\"tracked\": N, \"invalid\": 0} for bulk) only once committed durably. A bad request
gets 400 with the reason and stores nothing (for bulk: nothing of the batch).
Creates the database if missing. Prints `listening on ADDR` once it listens; SIGTERM or
SIGINT stops it after the requests in flight are committed (exit 0). Exit 4 if another
process holds the database.

Example:
  sightline serve --db site.db --listen 127.0.0.1:8080
  curl 'http://127.0.0.1:8080/matomo.php?idsite=1&rec=1&url=https://a.example/&action_name=Home'")]
    Serve {
        #[command(flatten)]
        db: DbArg,
        /// Address and port to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Behind one reverse proxy: take the client address from the last
        /// X-Forwarded-For entry instead of the connection's peer.
        #[arg(long)]
        trust_proxy: bool,
        /// Let the `cip` parameter set the client address (only for trusted senders,
        /// such as a log replayer).
        #[arg(long)]
        trust_cip: bool,
        /// Worker threads for HTTP.
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Build a demo database from generated data and show what the engine holds.
    Demo {
        /// Where to build it (replaced if it is a sightline database).
        #[arg(long, default_value = "sightline-demo")]
        db: PathBuf,
        /// Number of visitors to generate.
        #[arg(long, default_value_t = 20000)]
        visitors: u64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).and_then(|code| Ok(out::flush().map(|()| code)?)) {
        Ok(code) => code,
        // The reader of our output went away (`sightline gen | head`): not a failure.
        Err(e) if out::output_error(&e).is_some_and(out::OutputError::is_closed_pipe) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_error(&e, "");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// A segment given as an argument, as text. The shell passes any bytes and the
/// library takes UTF-8: other bytes are a segment error at the first of them (exit
/// status 2, with a caret), not clap's argument-level "invalid UTF-8" message.
fn segment_arg(arg: &OsStr) -> Result<String, sightline::Error> {
    let bytes = arg.as_encoded_bytes();
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => Err(not_utf8(bytes, &e, "segment")),
    }
}

/// A segment error for `bytes` (a segment, or a REPL line: `what`), which are not
/// UTF-8 from `e.valid_up_to()` on. The error shows the text with U+FFFD in place of
/// the bad bytes; the offset is the same in both, since it precedes them.
pub(crate) fn not_utf8(bytes: &[u8], e: &std::str::Utf8Error, what: &str) -> sightline::Error {
    let at = e.valid_up_to();
    let bad: Vec<String> = bytes
        .get(at..at + e.error_len().unwrap_or(bytes.len() - at).clamp(1, 4))
        .unwrap_or_default()
        .iter()
        .map(|b| format!("0x{b:02X}"))
        .collect();
    let plural = if bad.len() > 1 { "s" } else { "" };
    let reason = format!(
        "the {what} is not valid UTF-8 (byte{plural} {})",
        bad.join(" ")
    );
    sightline::Error::Segment(sightline::SegmentError::new(
        &String::from_utf8_lossy(bytes),
        at,
        reason,
    ))
}

/// Prints `error: PREFIX…` on stderr; for a segment error, the segment with a caret under
/// the offending byte on the next two lines.
fn print_error(e: &anyhow::Error, prefix: &str) {
    errln!("error: {prefix}{e:#}");
    if let Some(sightline::Error::Segment(se)) = e.downcast_ref::<sightline::Error>() {
        errln!("{}", se.caret());
    }
}

/// The exit status for an error: 1 runtime, 2 usage or bad input, 3 corruption,
/// 4 locked.
fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<out::UsageError>()) {
        return 2;
    }
    // The library's error may sit under context added on the way up.
    let library = e.chain().find_map(|c| c.downcast_ref::<sightline::Error>());
    match library.map(|e| e.kind()) {
        Some(ErrorKind::Corruption | ErrorKind::UnsupportedVersion) => 3,
        Some(ErrorKind::Locked) => 4,
        Some(ErrorKind::InvalidInput | ErrorKind::Usage) => 2,
        _ => 1,
    }
}

/// Runs one command. (One short arm per command: the length is the number of commands.)
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Import {
            db,
            format,
            skip_invalid,
            anonymize_ip,
            pseudonymize_user_id,
            visit_timeout,
            memory,
            output_format,
            json,
            files,
        } => import(
            &db.db,
            Writing {
                options: DbOptions {
                    visit_timeout_ms: visit_timeout as i64 * 60_000,
                },
                memory_limit: memory.memory_limit,
            },
            ImportOptions {
                format: format.map(Format::from),
                skip_invalid,
                anonymize_ip,
                pseudonymize_user_id,
            },
            if json {
                OutputFormat::Json
            } else {
                output_format.unwrap_or(OutputFormat::Table)
            },
            &files,
        ),
        #[cfg(feature = "server")]
        Command::Serve {
            db,
            listen,
            trust_proxy,
            trust_cip,
            workers,
        } => serve(
            &db.db,
            &sightline::server::ServeOptions {
                listen,
                trust_proxy,
                trust_cip,
                workers,
            },
        ),
        Command::Query {
            db,
            seg,
            out,
            segment_option,
            segment,
        } => {
            let range = seg.range()?;
            let segment = segment.or(segment_option);
            let segment = segment_arg(segment.as_deref().unwrap_or_default())?;
            let handle = query::open(&db.db)?;
            let a = query::query(&handle.snapshot(), &segment, seg.dialect.into(), &range)?;
            query::print_warnings(&segment, &a.warnings);
            print_as(out.get(), || a.table(), || a.doc(), || a.csv())
        }
        Command::Explain {
            db,
            seg,
            out,
            segment,
        } => explain(db, &seg, out.get(), &segment),
        Command::Report { args, by, limit } => {
            let limit = limit.filter(|&n| n > 0).map(|n| n as usize);
            let answer = args.run(|snap, scope| report::report(snap, scope, &by, limit))?;
            show(args.out.get(), &answer)
        }
        Command::Funnel {
            args,
            steps,
            scope,
            window,
        } => {
            let unit = FunnelScope::from(scope);
            let steps = steps
                .iter()
                .map(|s| segment_arg(s))
                .collect::<Result<Vec<_>, _>>()?;
            let answer =
                args.run(|snap, scope| funnel::funnel(snap, scope, &steps, unit, window))?;
            show(args.out.get(), &answer)
        }
        Command::Cohorts {
            args,
            period,
            periods,
        } => {
            let period = Period::from(period);
            let answer =
                args.run(|snap, scope| cohorts::cohorts(snap, scope, period, periods as usize))?;
            show(args.out.get(), &answer)
        }
        Command::Visitor { db, out, id } => {
            let handle = query::open(&db.db)?;
            let a = visitor::visitor(&handle.snapshot(), &db.db, &id)?;
            print_as(out.get(), || a.table(None), || a.doc(), || a.csv())
        }
        Command::Repl { db } => repl::run(&db.db),
        Command::Stats { db, out } => {
            let handle = query::open(&db.db)?;
            print_stats(&handle.snapshot().stats()?, out.get())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { db, out } => {
            require_db(&db.db)?;
            check(&db.db, out.get())
        }
        Command::Compact { db, memory, out } => {
            require_db(&db.db)?;
            compact(&db.db, memory.memory_limit, out.get())
        }
        Command::Privacy { command } => privacy::run(command),
        Command::Gen {
            visitors,
            seed,
            days,
            out,
            raw,
        } => generate(
            &GenOptions {
                visitors,
                seed,
                days,
                raw,
                ..GenOptions::default()
            },
            out.as_deref(),
        ),
        Command::Demo { db, visitors, seed } => {
            demo(&db, visitors, seed)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `sightline explain`: the database is consulted only when --db or $SIGHTLINE_DB
/// names one.
fn explain(
    db: Option<PathBuf>,
    seg: &SegmentArgs,
    format: OutputFormat,
    segment: &OsStr,
) -> anyhow::Result<ExitCode> {
    let range = seg.range()?;
    let db = db.or_else(|| {
        std::env::var_os("SIGHTLINE_DB")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if db.is_none() && (seg.from.is_some() || seg.to.is_some()) {
        return Err(out::usage(
            "--from and --to need a database (--db or $SIGHTLINE_DB)",
        ));
    }
    let segment = segment_arg(segment)?;
    let a = query::explain(db.as_deref(), &segment, seg.dialect.into(), &range)?;
    // The tree and the document carry the warnings; CSV rows have no place for them.
    if format == OutputFormat::Csv {
        query::print_warnings(&segment, &a.warnings);
    }
    print_as(
        format,
        || a.tree().trim_end().to_string(),
        || a.doc(),
        || a.csv(),
    )
}

/// `sightline gen`: JSON Lines to `out`, or to standard output.
fn generate(opts: &GenOptions, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    // Bad options are a usage error; any other failure is a failed write.
    let gen_err = |e: std::io::Error, write: &dyn Fn(std::io::Error) -> anyhow::Error| {
        if e.kind() == std::io::ErrorKind::InvalidInput {
            out::usage(e.to_string())
        } else {
            write(e)
        }
    };
    let summary = match out {
        Some(path) => {
            let f = std::fs::File::create(path)
                .with_context(|| format!("create {}", path.display()))?;
            write_jsonl(opts, BufWriter::with_capacity(1 << 20, f)).map_err(|e| {
                gen_err(e, &|e| {
                    anyhow::Error::new(e).context(format!("write {}", path.display()))
                })
            })?
        }
        None => write_jsonl(
            opts,
            BufWriter::with_capacity(1 << 20, std::io::stdout().lock()),
        )
        .map_err(|e| gen_err(e, &|e| out::OutputError(e).into()))?,
    };
    errln!(
        "generated {} events, {} visits, {} visitors (seed {})",
        summary.events,
        summary.visits,
        summary.visitors,
        opts.seed
    );
    Ok(ExitCode::SUCCESS)
}

/// An analysis's answer (report, funnel, cohorts): its JSON document, or the
/// selection's header and a table.
trait Answer {
    fn doc(&self) -> serde_json::Value;
    fn header(&self) -> String;
    fn table(&self) -> String;
    fn csv(&self) -> anyhow::Result<String>;
}

macro_rules! answer {
    ($t:ty) => {
        impl Answer for $t {
            fn doc(&self) -> serde_json::Value {
                <$t>::doc(self)
            }
            fn header(&self) -> String {
                query::header(&self.segment, &self.range)
            }
            fn table(&self) -> String {
                <$t>::table(self)
            }
            fn csv(&self) -> anyhow::Result<String> {
                <$t>::csv(self)
            }
        }
    };
}
answer!(report::ReportAnswer);
answer!(funnel::FunnelAnswer);
answer!(cohorts::CohortsAnswer);

/// Prints `answer` as one JSON document, as its header and table, or as CSV.
fn show(format: OutputFormat, answer: &dyn Answer) -> anyhow::Result<ExitCode> {
    print_as(
        format,
        || format!("{}\n{}", answer.header(), answer.table()),
        || answer.doc(),
        || answer.csv(),
    )
}

/// What a `--db` that is no database says to do.
fn make_one(path: &Path) -> String {
    let p = path.display();
    format!(
        "create one with `sightline import --db {p} FILE…` or `sightline demo --db {p}`, or \
         pass --db DIR / set SIGHTLINE_DB"
    )
}

/// Checks that there is a database at `path` for a command that reads one: anything
/// else is a usage error (exit status 2) saying what is there and what to do.
pub(crate) fn require_db(path: &Path) -> anyhow::Result<()> {
    let p = path.display();
    match Db::probe(path)? {
        sightline::DbLocation::Database => Ok(()),
        sightline::DbLocation::Missing => Err(out::usage(format!(
            "no database at {p} ({})",
            make_one(path)
        ))),
        sightline::DbLocation::NotADirectory => Err(out::usage(format!(
            "no database at {p}: it is a file, not a database directory ({})",
            make_one(path)
        ))),
        sightline::DbLocation::Empty => Err(out::usage(format!(
            "no database at {p}: the directory is empty ({})",
            make_one(path)
        ))),
        _ => Err(out::usage(format!(
            "no database at {p}: the directory has no manifest (MANIFEST-…), so it is not \
             a sightline database ({})",
            make_one(path)
        ))),
    }
}

/// How a writing command opens (or creates) its database.
struct Writing {
    /// The options of a database it creates.
    options: DbOptions,
    /// `--memory-limit`.
    memory_limit: usize,
}

struct ImportOutcome {
    summary: sightline::CommitSummary,
    rejected: u64,
    errors: Vec<sightline::RowError>,
    /// Keys that look like misspelt fields, with the file each was seen in.
    warnings: Vec<(String, sightline::KeyWarning)>,
    elapsed: f64,
    /// The database, still held: the import compacts it as needed before it ends.
    db: Db,
}

fn import_files(
    path: &Path,
    opts: Writing,
    iopts: ImportOptions,
    files: &[PathBuf],
    quiet: bool,
) -> anyhow::Result<ImportOutcome> {
    // A missing input or a directory is a mistake in the command (exit status 2),
    // found before anything is created.
    for f in files {
        match std::fs::metadata(f) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(out::usage(format!("{}: no such file", f.display())));
            }
            Ok(m) if m.is_dir() => {
                return Err(out::usage(format!(
                    "{} is a directory; name the files to import",
                    f.display()
                )));
            }
            _ => {}
        }
    }
    // A database is created only where it does not mix its files with the user's.
    match Db::probe(path)? {
        sightline::DbLocation::NotADirectory => {
            return Err(out::usage(format!(
                "--db {} is a file; a database is a directory: name a new or existing \
                 database directory",
                path.display()
            )));
        }
        sightline::DbLocation::Other { example } => {
            return Err(out::usage(format!(
                "{} is not a sightline database (it has no manifest, and holds other files \
                 such as `{example}`); refusing to create a database among them: choose a \
                 new or empty directory for --db",
                path.display()
            )));
        }
        _ => {}
    }
    let t0 = Instant::now();
    let created = !path.exists();
    // The writer lock is ours from here on.
    // Compaction runs in this thread once the import is committed (see `import`), not
    // in the background: the process ends right after.
    let db = Db::builder()
        .options(opts.options)
        .memory_limit(opts.memory_limit)
        .create_if_missing(true)
        .auto_compact(false)
        .open(path)?;
    let result = import_into(&db, iopts, files, quiet, t0);
    if let Err(e) = result {
        if created {
            // A failed import leaves no trace, not even the database it was creating
            // (whose options, such as the visit timeout, would otherwise stick). It is
            // removed while the lock is still held (no other writer can be using it), and
            // through the open directory: one moved or replaced meanwhile is not touched.
            let _ = db.destroy();
        }
        return Err(e);
    }
    result
}

fn import_into(
    db: &Db,
    iopts: ImportOptions,
    files: &[PathBuf],
    quiet: bool,
    t0: Instant,
) -> anyhow::Result<ImportOutcome> {
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = if !quiet && std::io::stderr().is_terminal() {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut tx = db.begin_write()?;
    let mut rejected = 0;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut done = 0u64;
    for f in files {
        bar.set_message(f.display().to_string());
        let base = done;
        let report = tx.import_file(f, &iopts, &|bytes| bar.set_position(base + bytes))?;
        done += report.bytes;
        rejected += report.rejected;
        errors.extend(report.errors);
        let name = f.display().to_string();
        warnings.extend(report.warnings.into_iter().map(|w| (name.clone(), w)));
    }
    bar.set_message("committing");
    let summary = tx.commit()?;
    bar.finish_and_clear();
    errors.truncate(sightline::MAX_REPORTED_ERRORS);
    Ok(ImportOutcome {
        summary,
        rejected,
        errors,
        warnings,
        elapsed: t0.elapsed().as_secs_f64(),
        db: db.clone(),
    })
}

fn import(
    path: &Path,
    opts: Writing,
    iopts: ImportOptions,
    format: OutputFormat,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let out = import_files(path, opts, iopts, files, format != OutputFormat::Table)?;
    // The import is committed: failing to print its summary must not look like a
    // failed import (a wrapper that retries on failure would import twice), so it is
    // reported on standard error and the status stays 0.
    let printed = print_import(&out, format).and_then(|()| Ok(out::flush()?));
    if let Err(e) = printed {
        out::abandon();
        let closed = out::output_error(&e).is_some_and(out::OutputError::is_closed_pipe);
        if !closed {
            errln!(
                "warning: the import was committed (generation {}, {} events), but its \
                 summary could not be written: {}",
                out.summary.generation,
                out.summary.events,
                e
            );
        }
    }
    // Then the parts are kept in shape, as a long-running writer's background compactor
    // would: merged by size tiers, so many small imports do not pile up parts.
    if let Err(e) = out.db.compact_as_needed() {
        errln!("warning: the import was committed, but compacting afterwards failed: {e}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The columns of the import summary's CSV (the document's keys but `errors`).
const IMPORT_COLUMNS: [&str; 7] = [
    "events",
    "visits",
    "visitors",
    "rejected",
    "generation",
    "elapsedMs",
    "eventsPerSecond",
];

/// The columns of `stats`'s CSV: every key of its document.
const STATS_COLUMNS: [&str; 11] = [
    "events",
    "visits",
    "visitors",
    "actions",
    "conversions",
    "revenue",
    "firstEvent",
    "lastEvent",
    "parts",
    "bytes",
    "generation",
];

/// `doc`'s values of `columns` as CSV: a header row and one row.
fn one_row_csv(doc: &serde_json::Value, columns: &[&str]) -> anyhow::Result<String> {
    let row = columns
        .iter()
        .map(|k| query::csv_cell(doc.get(*k).unwrap_or(&serde_json::Value::Null)))
        .collect();
    out::csv(columns, [row])
}

fn print_import(out: &ImportOutcome, format: OutputFormat) -> anyhow::Result<()> {
    let s = &out.summary;
    let rate = s.events as f64 / out.elapsed.max(1e-9);
    let doc = json!({
        "events": s.events, "visits": s.visits, "visitors": s.visitors, "rejected": out.rejected,
        "generation": s.generation, "elapsedMs": (out.elapsed * 1000.0).round() as u64,
        "eventsPerSecond": rate.round() as u64,
        "errors": out.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "warnings": out.warnings.iter().map(|(file, w)| json!({
            "file": file, "line": w.line, "key": w.key, "didYouMean": w.did_you_mean,
            "rows": w.rows,
        })).collect::<Vec<_>>(),
    });
    // Misspelt-looking keys, on standard error (they never reject a row).
    let warn = || {
        for (file, w) in &out.warnings {
            errln!(
                "warning: {file}:{}: key `{}` is not a field; did you mean `{}`? \
                 ({} rows keep it as a custom dimension `{}`)",
                w.line,
                w.key,
                w.did_you_mean,
                w.rows,
                w.key
            );
        }
    };
    if format == OutputFormat::Json {
        outln!("{doc}");
    } else if format == OutputFormat::Csv {
        out!("{}", one_row_csv(&doc, &IMPORT_COLUMNS)?);
        for e in &out.errors {
            errln!("  skipped {e}");
        }
        warn();
    } else {
        outln!(
            "imported {} events, {} visits, {} visitors, {} rejected in {:.2} s ({} events/s)",
            s.events,
            s.visits,
            s.visitors,
            out.rejected,
            out.elapsed,
            rate.round() as u64
        );
        for e in &out.errors {
            errln!("  skipped {e}");
        }
        if out.rejected > out.errors.len() as u64 {
            errln!("  … and {} more", out.rejected - out.errors.len() as u64);
        }
        warn();
    }
    Ok(())
}

fn rfc3339(ms: Option<i64>) -> serde_json::Value {
    ms.and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map_or(serde_json::Value::Null, |t| json!(t.to_string()))
}

fn print_stats(s: &Stats, format: OutputFormat) -> anyhow::Result<()> {
    let doc = json!({
        "events": s.events, "visits": s.visits, "visitors": s.visitors, "actions": s.actions,
        "conversions": s.conversions, "revenue": s.revenue,
        "firstEvent": rfc3339(s.first_event), "lastEvent": rfc3339(s.last_event),
        "parts": s.parts, "bytes": s.bytes, "generation": s.generation,
    });
    match format {
        OutputFormat::Json => {
            outln!("{doc}");
            return Ok(());
        }
        OutputFormat::Csv => {
            out!("{}", one_row_csv(&doc, &STATS_COLUMNS)?);
            return Ok(());
        }
        OutputFormat::Table => {}
    }
    let per_event = if s.events > 0 {
        format!("{:.1}", s.bytes as f64 / s.events as f64)
    } else {
        "-".into()
    };
    let text = |v: serde_json::Value| v.as_str().unwrap_or("-").to_string();
    let rows = [
        ("events", s.events.to_string()),
        ("visits", s.visits.to_string()),
        ("visitors", s.visitors.to_string()),
        ("actions", s.actions.to_string()),
        ("conversions", s.conversions.to_string()),
        ("revenue", format!("{:.2}", s.revenue)),
        ("first event", text(rfc3339(s.first_event))),
        ("last event", text(rfc3339(s.last_event))),
        ("parts", s.parts.to_string()),
        ("bytes", format!("{} ({per_event} per event)", s.bytes)),
        ("generation", s.generation.to_string()),
    ];
    for (k, v) in rows {
        outln!("{k:<12} {v}");
    }
    Ok(())
}

fn compact(path: &Path, memory_limit: usize, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let db = Db::builder()
        .auto_compact(false)
        .memory_limit(memory_limit)
        .open(path)?;
    let c = db.compact()?;
    let doc = serde_json::to_value(c)?;
    if format == OutputFormat::Json {
        outln!("{doc}");
    } else if format == OutputFormat::Csv {
        out!("{}", one_row_csv(&doc, &COMPACT_COLUMNS)?);
    } else {
        outln!(
            "parts {} → {}, bytes {} → {} ({} parts merged, data of {} visitors dropped; generation {})",
            c.parts_before,
            c.parts_after,
            c.bytes_before,
            c.bytes_after,
            c.parts_merged,
            c.visitors_dropped,
            c.generation
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The columns of `compact`'s CSV: every key of its document.
const COMPACT_COLUMNS: [&str; 7] = [
    "partsBefore",
    "partsAfter",
    "bytesBefore",
    "bytesAfter",
    "partsMerged",
    "visitorsDropped",
    "generation",
];

fn check(path: &Path, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let report = sightline::check(path)?;
    let problems: Vec<String> = report.problems.iter().map(|e| e.to_string()).collect();
    let orphans: Vec<String> = report
        .orphans
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if format == OutputFormat::Json {
        let doc = json!({
            "ok": report.is_ok(), "generation": report.generation, "files": report.files,
            "bytes": report.bytes, "problems": problems, "orphans": orphans,
        });
        outln!("{doc}");
    } else if format == OutputFormat::Csv {
        let row = vec![
            report.is_ok().to_string(),
            report.generation.to_string(),
            report.files.to_string(),
            report.bytes.to_string(),
            problems.join("; "),
            orphans.join("; "),
        ];
        let head = ["ok", "generation", "files", "bytes", "problems", "orphans"];
        out!("{}", out::csv(&head, [row])?);
    } else {
        for p in &report.problems {
            outln!("CORRUPT {p}");
        }
        for o in &report.orphans {
            outln!(
                "orphan  {} (unreferenced; removed by the next writer)",
                o.display()
            );
        }
        if report.is_ok() {
            outln!(
                "ok: generation {}, {} files, {} bytes verified",
                report.generation,
                report.files,
                report.bytes
            );
        }
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// `text` as one shell word: as it is when it needs no quoting, else in single quotes.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./-=+:,@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn demo(path: &Path, visitors: u64, seed: u64) -> anyhow::Result<()> {
    match Db::probe(path)? {
        sightline::DbLocation::Database => std::fs::remove_dir_all(path)
            .with_context(|| format!("remove old demo at {}", path.display()))?,
        sightline::DbLocation::Missing | sightline::DbLocation::Empty => {}
        _ => {
            return Err(out::usage(format!(
                "{} exists and is not a sightline database; choose another --db",
                path.display()
            )));
        }
    }
    // The generated input is a temporary file outside the database directory (where
    // it would make the directory look like someone else's), removed however the demo
    // ends.
    struct Removed(PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let input = Removed(
        std::env::temp_dir().join(format!("sightline-demo-input-{}.jsonl", std::process::id())),
    );
    let input = &input.0;
    let t0 = Instant::now();
    let g = {
        let f = std::fs::File::create(input)
            .with_context(|| format!("create the demo's input {}", input.display()))?;
        write_jsonl(
            &GenOptions {
                visitors,
                seed,
                ..GenOptions::default()
            },
            BufWriter::with_capacity(1 << 20, f),
        )?
    };
    // The input is a temporary file, removed after the import: its path is not shown.
    outln!(
        "generated {} events of {} visitors ({} visits) in {:.2} s",
        g.events,
        g.visitors,
        g.visits,
        t0.elapsed().as_secs_f64(),
    );
    let out = import_files(
        path,
        Writing {
            options: DbOptions::default(),
            memory_limit: sightline::DEFAULT_MEMORY_LIMIT,
        },
        ImportOptions::default(),
        std::slice::from_ref(input),
        false,
    )?;
    outln!(
        "imported in {:.2} s ({} events/s)\n",
        out.elapsed,
        (out.summary.events as f64 / out.elapsed.max(1e-9)).round() as u64
    );
    let db = Db::open_read_only(path)?;
    let snap = db.snapshot();
    outln!(
        "$ sightline stats --db {}",
        shell_word(&path.display().to_string())
    );
    print_stats(&snap.stats()?, OutputFormat::Table)?;
    print_holdings(&snap)?;
    demo_analyses(&snap, path)?;
    let db = shell_word(&path.display().to_string());
    outln!("\nthe database is {db}; next, try:");
    outln!("$ sightline query --db {db} 'countryCode==de;visitCount>1'");
    outln!("$ sightline report --db {db} --by pageUrl --limit 10 --segment referrerType==search");
    outln!("$ sightline report --db {db} --by visitorId --segment visitConverted==1 --format csv");
    outln!("$ sightline repl --db {db}");
    Ok(())
}

/// What the engine holds: every text dimension with its distinct values and a few
/// examples, and the custom dimensions.
fn print_holdings(snap: &sightline::Snapshot) -> anyhow::Result<()> {
    outln!("\nwhat the engine holds:");
    outln!(
        "{:<22} {:<7} {:>9}   examples",
        "dimension",
        "level",
        "distinct"
    );
    // The text dimensions with stored values (dictionaries), built-in ones first.
    let catalog = snap.catalog();
    for dim in catalog.dimensions() {
        let custom = snap.custom_dimensions().iter().any(|c| c.name == dim.name);
        if dim.ty == sightline::DimType::Number || custom || !segments_accept(snap, &dim.name) {
            continue;
        }
        let values = snap.dimension_values(&dim.name, "", 3)?;
        if values.distinct == 0 {
            continue;
        }
        let shown = values.values.join(", ");
        let shown = if shown.chars().count() > 60 {
            format!("{}…", shown.chars().take(59).collect::<String>())
        } else {
            shown
        };
        let level = dim.level.name();
        outln!(
            "{:<22} {level:<7} {:>9}   {shown}",
            dim.name,
            values.distinct
        );
    }
    let custom = snap.custom_dimensions();
    if !custom.is_empty() {
        let list: Vec<String> = custom
            .iter()
            .filter(|c| segments_accept(snap, &c.name))
            .map(|c| format!("{} ({})", c.name, c.ty.name()))
            .collect();
        outln!("custom dimensions: {}", list.join(", "));
    }
    Ok(())
}

/// Whether a segment can name dimension `name` (the list shows only names one can use).
fn segments_accept(snap: &sightline::Snapshot, name: &str) -> bool {
    snap.compile(&format!("{name}!="), Dialect::Default).is_ok()
}

/// The funnel the generator's shop has: cart → checkout → payment → thank-you (URL
/// dimensions compare without scheme and `www.`).
const DEMO_FUNNEL: [&str; 4] = [
    "pageUrl==shop.example/cart",
    "pageUrl==shop.example/checkout",
    "pageUrl==shop.example/payment",
    "pageUrl==shop.example/thank-you",
];

/// The demo's second half: one report, one funnel, one cohort table and one visitor.
fn demo_analyses(snap: &sightline::Snapshot, path: &Path) -> anyhow::Result<()> {
    let all = query::Scope {
        segment: "",
        dialect: Dialect::Default,
        range: &sightline::TimeRange::ALL,
    };
    let db = shell_word(&path.display().to_string());
    outln!("\n$ sightline report --db {db} --by country --limit 5");
    outln!("{}", report::report(snap, all, "country", Some(5))?.table());

    outln!(
        "\n$ sightline funnel --db {db} --step {}",
        DEMO_FUNNEL.join(" --step ")
    );
    let steps = DEMO_FUNNEL.map(String::from);
    let f = funnel::funnel(snap, all, &steps, FunnelScope::Visit, None)?;
    outln!("{}", f.table());

    outln!("\n$ sightline cohorts --db {db} --period week --periods 6");
    outln!("{}", cohorts::cohorts(snap, all, Period::Week, 6)?.table());

    // A visitor worth a look: a few visits, an order, not too many events.
    let by_visitor = report::report(snap, all, "visitorId", None)?;
    let pick = |ok: &dyn Fn(&sightline::ReportRow) -> bool| {
        by_visitor
            .report
            .rows
            .iter()
            .find(|r| r.others.is_none() && ok(r))
    };
    let row = pick(&|r| (2..=3).contains(&r.visits) && r.conversions > 0 && r.actions <= 8)
        .or_else(|| pick(&|r| r.visits >= 2))
        .or_else(|| pick(&|_| true));
    if let Some(sightline::ReportValue::Text(id)) = row.map(|r| &r.value) {
        outln!("\n$ sightline visitor --db {db} {}", shell_word(id));
        outln!("(3 events per visit shown here; the command shows them all)");
        let v = visitor::visitor(snap, path, id)?;
        outln!("{}", v.table(Some(3)));
    }
    Ok(())
}

/// `sightline serve`: the tracking server until SIGTERM/SIGINT (`docs/server.md`).
#[cfg(feature = "server")]
fn serve(path: &Path, options: &sightline::server::ServeOptions) -> anyhow::Result<ExitCode> {
    let db = Db::builder()
        .create_if_missing(true)
        .open(path)
        .with_context(|| format!("cannot serve into {}", path.display()))?;
    sightline::server::serve(
        &db,
        options,
        |addr| {
            // On stdout at once: tests and scripts read the port from it.
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "listening on {addr}");
            let _ = stdout.flush();
        },
        std::future::pending(),
    )?;
    Ok(ExitCode::SUCCESS)
}
