//! The `sightline` command line: a thin layer over the library's public API.

mod query;
mod range;
mod repl;

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use range::When;
use serde_json::json;
use sightline::generate::{GenOptions, write_jsonl};
use sightline::lang::Dialect;
use sightline::{Db, DbOptions, ErrorKind, Format, ImportOptions, Stats};

/// Embedded web and product analytics: import events, ask audience questions.
#[derive(Parser)]
#[command(
    name = "sightline",
    version,
    about,
    propagate_version = true,
    after_help = "\
Every command that reads a database takes --db DIR (default: $SIGHTLINE_DB, else sightline.db).
With --json a command prints exactly one JSON document on standard output.

Examples:
  sightline gen --visitors 1000 -o events.jsonl
  sightline import --db shop.db events.jsonl
  sightline query --db shop.db --from 2026-01-01 --to 2026-01-31 'countryCode==fr;visitCount>1'
  sightline explain 'pageUrl=@/checkout,referrerType==search'
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
    /// its start) or an RFC 3339 instant (2026-01-07T10:00:00Z).
    #[arg(long, value_name = "WHEN", value_parser = range::parse_when)]
    from: Option<When>,
    /// Only visits whose first event is at or before this: a UTC date YYYY-MM-DD
    /// (inclusive: up to the end of that day) or an RFC 3339 instant (inclusive).
    #[arg(long, value_name = "WHEN", value_parser = range::parse_when)]
    to: Option<When>,
    /// Segment syntax.
    #[arg(long, value_enum, default_value = "default")]
    dialect: DialectArg,
}

impl SegmentArgs {
    fn range(&self) -> anyhow::Result<sightline::TimeRange> {
        range::time_range(self.from, self.to).map_err(|e| sightline::Error::Usage(e).into())
    }
}

#[derive(clap::Args)]
struct DbArg {
    /// Database directory.
    #[arg(long, default_value = "sightline.db", env = "SIGHTLINE_DB")]
    db: PathBuf,
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
        /// Visit timeout in minutes, when this import creates the database.
        #[arg(long, default_value_t = 30)]
        visit_timeout: u32,
        /// Print one JSON document.
        #[arg(long)]
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

--json prints {\"visits\", \"visitors\", \"actions\", \"conversions\", \"revenue\", \"bounces\",
\"sumVisitDuration\", \"segment\", \"range\", \"elapsedMs\"}. A segment that does not parse or
names an unknown dimension is reported with a caret under the offending byte (exit status 2).")]
    Query {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        seg: SegmentArgs,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
        /// The segment, e.g. 'countryCode==fr;visitCount>1,referrerType==search' (`;` is
        /// AND, `,` is OR and binds tighter). Empty or absent: every visit.
        segment: Option<String>,
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
\"plan\" and \"range\" with a database.")]
    Explain {
        /// Database directory (default: $SIGHTLINE_DB if set and not empty, else none: see
        /// below).
        #[arg(long)]
        db: Option<PathBuf>,
        #[command(flatten)]
        seg: SegmentArgs,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
        /// The segment.
        segment: String,
    },
    /// Interactive segment shell (reads a script from standard input when it is not a
    /// terminal).
    #[command(after_help = "\
Type a segment to see its summary, or .help for the dot-commands (.explain, .schema,
.range FROM TO, .dialect, .mode table|json, .timer on|off, .quit). History is kept in
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
    Stats {
        #[command(flatten)]
        db: DbArg,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Verify every checksum and structure; exit 0 only if all hold.
    Check {
        #[command(flatten)]
        db: DbArg,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
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
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            print_error(&e, "");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Prints `error: PREFIX…` on stderr; for a segment error, the segment with a caret under
/// the offending byte on the next two lines.
fn print_error(e: &anyhow::Error, prefix: &str) {
    eprintln!("error: {prefix}{e:#}");
    if let Some(sightline::Error::Segment(se)) = e.downcast_ref::<sightline::Error>() {
        eprintln!("{}", se.caret());
    }
}

/// The exit status for an error (SPEC §3).
fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<sightline::Error>().map(|e| e.kind()) {
        Some(ErrorKind::Corruption | ErrorKind::UnsupportedVersion) => 3,
        Some(ErrorKind::Locked) => 4,
        Some(ErrorKind::InvalidInput | ErrorKind::Usage) => 2,
        _ => 1,
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Import {
            db,
            format,
            skip_invalid,
            visit_timeout,
            json,
            files,
        } => {
            let format = format.map(|f| match f {
                FormatArg::Jsonl => Format::Jsonl,
                FormatArg::Csv => Format::Csv,
            });
            let opts = DbOptions {
                visit_timeout_ms: visit_timeout as i64 * 60_000,
            };
            import(
                &db.db,
                opts,
                ImportOptions {
                    format,
                    skip_invalid,
                },
                json,
                &files,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            db,
            seg,
            json,
            segment,
        } => {
            let range = seg.range()?;
            let segment = segment.unwrap_or_default();
            query::query(&db.db, &segment, seg.dialect.into(), &range, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            db,
            seg,
            json,
            segment,
        } => {
            let range = seg.range()?;
            let db = db.or_else(|| {
                std::env::var_os("SIGHTLINE_DB")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            });
            if db.is_none() && (seg.from.is_some() || seg.to.is_some()) {
                return Err(sightline::Error::Usage(
                    "--from and --to need a database (--db or $SIGHTLINE_DB)".into(),
                )
                .into());
            }
            query::explain(db.as_deref(), &segment, seg.dialect.into(), &range, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Repl { db } => repl::run(&db.db),
        Command::Stats { db, json } => {
            let handle = Db::open_read_only(&db.db)?;
            print_stats(&handle.snapshot().stats()?, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { db, json } => check(&db.db, json),
        Command::Gen {
            visitors,
            seed,
            days,
            out,
        } => {
            let opts = GenOptions {
                visitors,
                seed,
                days,
                ..GenOptions::default()
            };
            let summary = match out {
                Some(path) => {
                    let f = std::fs::File::create(&path)
                        .with_context(|| format!("create {}", path.display()))?;
                    write_jsonl(&opts, BufWriter::with_capacity(1 << 20, f))?
                }
                None => write_jsonl(
                    &opts,
                    BufWriter::with_capacity(1 << 20, std::io::stdout().lock()),
                )?,
            };
            eprintln!(
                "generated {} events, {} visits, {} visitors (seed {seed})",
                summary.events, summary.visits, summary.visitors
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { db, visitors, seed } => {
            demo(&db, visitors, seed)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

struct ImportOutcome {
    summary: sightline::CommitSummary,
    rejected: u64,
    errors: Vec<sightline::RowError>,
    elapsed: f64,
}

fn import_files(
    path: &Path,
    opts: DbOptions,
    iopts: ImportOptions,
    files: &[PathBuf],
    quiet: bool,
) -> anyhow::Result<ImportOutcome> {
    let t0 = Instant::now();
    let db = Db::open_or_create(path, opts)?;
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
    let mut done = 0u64;
    for f in files {
        bar.set_message(f.display().to_string());
        let base = done;
        let report = tx.import_file(f, &iopts, &|bytes| bar.set_position(base + bytes))?;
        done += report.bytes;
        rejected += report.rejected;
        errors.extend(report.errors);
    }
    bar.set_message("committing");
    let summary = tx.commit()?;
    bar.finish_and_clear();
    errors.truncate(sightline::ingest::import::MAX_REPORTED_ERRORS);
    Ok(ImportOutcome {
        summary,
        rejected,
        errors,
        elapsed: t0.elapsed().as_secs_f64(),
    })
}

fn import(
    path: &Path,
    opts: DbOptions,
    iopts: ImportOptions,
    json: bool,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let out = import_files(path, opts, iopts, files, json)?;
    let s = &out.summary;
    let rate = s.events as f64 / out.elapsed.max(1e-9);
    if json {
        let doc = json!({
            "events": s.events, "visits": s.visits, "visitors": s.visitors, "rejected": out.rejected,
            "generation": s.generation, "elapsedMs": (out.elapsed * 1000.0).round() as u64,
            "eventsPerSecond": rate.round() as u64,
            "errors": out.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        println!(
            "imported {} events, {} visits, {} visitors, {} rejected in {:.2} s ({} events/s)",
            s.events,
            s.visits,
            s.visitors,
            out.rejected,
            out.elapsed,
            rate.round() as u64
        );
        for e in &out.errors {
            eprintln!("  skipped {e}");
        }
        if out.rejected > out.errors.len() as u64 {
            eprintln!("  … and {} more", out.rejected - out.errors.len() as u64);
        }
    }
    std::io::stdout().flush()?;
    Ok(())
}

fn rfc3339(ms: Option<i64>) -> serde_json::Value {
    ms.and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map_or(serde_json::Value::Null, |t| json!(t.to_string()))
}

fn print_stats(s: &Stats, json: bool) {
    if json {
        let doc = json!({
            "events": s.events, "visits": s.visits, "visitors": s.visitors, "actions": s.actions,
            "conversions": s.conversions, "revenue": s.revenue,
            "firstEvent": rfc3339(s.first_event), "lastEvent": rfc3339(s.last_event),
            "parts": s.parts, "bytes": s.bytes, "generation": s.generation,
        });
        println!("{doc}");
        return;
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
        println!("{k:<12} {v}");
    }
}

fn check(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let report = sightline::check::check(path)?;
    if json {
        let doc = json!({
            "ok": report.is_ok(), "generation": report.generation, "files": report.files, "bytes": report.bytes,
            "problems": report.problems.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            "orphans": report.orphans.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        for p in &report.problems {
            println!("CORRUPT {p}");
        }
        for o in &report.orphans {
            println!(
                "orphan  {} (unreferenced; removed by the next writer)",
                o.display()
            );
        }
        if report.is_ok() {
            println!(
                "ok: generation {}, {} files, {} bytes verified",
                report.generation, report.files, report.bytes
            );
        }
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn demo(path: &Path, visitors: u64, seed: u64) -> anyhow::Result<()> {
    if path.exists() {
        let ours = sightline::storage::manifest::generations(path)
            .map(|g| !g.is_empty())
            .unwrap_or(false);
        anyhow::ensure!(
            ours,
            "{} exists and is not a sightline database; choose another --db",
            path.display()
        );
        std::fs::remove_dir_all(path)
            .with_context(|| format!("remove old demo at {}", path.display()))?;
    }
    std::fs::create_dir_all(path)?;
    let input = path.join("demo-input.jsonl");
    let t0 = Instant::now();
    let g = {
        let f = std::fs::File::create(&input)?;
        write_jsonl(
            &GenOptions {
                visitors,
                seed,
                ..GenOptions::default()
            },
            BufWriter::with_capacity(1 << 20, f),
        )?
    };
    println!(
        "generated {} events of {} visitors ({} visits) in {:.2} s → {}",
        g.events,
        g.visitors,
        g.visits,
        t0.elapsed().as_secs_f64(),
        input.display()
    );
    let out = import_files(
        path,
        DbOptions::default(),
        ImportOptions::default(),
        std::slice::from_ref(&input),
        false,
    )?;
    std::fs::remove_file(&input)?;
    println!(
        "imported in {:.2} s ({} events/s)\n",
        out.elapsed,
        (out.summary.events as f64 / out.elapsed.max(1e-9)).round() as u64
    );
    let db = Db::open_read_only(path)?;
    let snap = db.snapshot();
    print_stats(&snap.stats()?, false);
    println!("\nwhat the engine holds:");
    println!(
        "{:<22} {:<7} {:>9}   examples",
        "dimension", "level", "distinct"
    );
    let mut dims: Vec<(&str, &str)> = sightline::schema::VISIT_STRINGS
        .iter()
        .map(|d| (*d, "visit"))
        .collect();
    dims.extend(
        sightline::schema::DERIVED_STRINGS
            .iter()
            .map(|d| (*d, "visit")),
    );
    dims.extend(
        sightline::schema::EVENT_STRINGS
            .iter()
            .map(|d| (*d, "action")),
    );
    dims.push(("type", "event"));
    for (name, level) in dims {
        let mut values = std::collections::BTreeSet::new();
        for p in snap.parts() {
            let r = &p.reader;
            let (body, rows) = match level {
                "visit" => (r.visit_column(name), r.meta().visits),
                _ => (r.event_column(name), r.meta().events),
            };
            if let Some(body) = body {
                let cat = r.cat(body, rows)?;
                for i in 0..cat.dict.len() {
                    if let Some(s) = cat.dict.get(i) {
                        values.insert(s.to_string());
                    }
                }
            }
        }
        let examples: Vec<&str> = values.iter().take(3).map(String::as_str).collect();
        let shown = examples.join(", ");
        let shown = if shown.chars().count() > 60 {
            format!("{}…", shown.chars().take(59).collect::<String>())
        } else {
            shown
        };
        println!("{name:<22} {level:<7} {:>9}   {shown}", values.len());
    }
    let custom = snap.custom_dimensions();
    if !custom.is_empty() {
        let list: Vec<String> = custom
            .iter()
            .map(|c| format!("{} ({})", c.name, c.ty.name()))
            .collect();
        println!("custom dimensions: {}", list.join(", "));
    }
    println!(
        "\ndatabase: {}   try: sightline stats --db {0}   sightline check --db {0}",
        path.display()
    );
    Ok(())
}
