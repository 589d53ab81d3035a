//! The `sightline` command line: a thin layer over the library's public API.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sightline::generate::{GenOptions, write_jsonl};
use sightline::{Db, DbOptions, ErrorKind, Format, ImportOptions, Stats};

/// Embedded web and product analytics: import events, ask audience questions.
#[derive(Parser)]
#[command(name = "sightline", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Jsonl,
    Csv,
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
            eprintln!("error: {e:#}");
            let code = match e.downcast_ref::<sightline::Error>().map(|e| e.kind()) {
                Some(ErrorKind::Corruption | ErrorKind::UnsupportedVersion) => 3,
                Some(ErrorKind::Locked) => 4,
                Some(ErrorKind::InvalidInput | ErrorKind::Usage) => 2,
                _ => 1,
            };
            ExitCode::from(code)
        }
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
