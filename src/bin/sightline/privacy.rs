//! `sightline privacy`: answering data subjects (`docs/privacy.md`). `export` writes
//! every event of the chosen visitors as JSON Lines in the import format (access and
//! portability requests).

use std::ffi::OsString;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use sightline::{ExportSelector, ExportSummary, Snapshot};

use crate::{DbArg, DialectArg, OutputArgs, OutputFormat, out, query};

/// The `privacy` subcommands.
#[derive(clap::Subcommand)]
pub enum PrivacyCommand {
    /// Export every event of a person's visitors as JSON Lines (access and portability
    /// requests).
    #[command(after_help = "\
Exactly one of --visitor, --user-id and --segment chooses whose data: the visitor with that
id, the visitors having a visit whose userId is exactly UID, or the visitors having a visit
the segment selects (over all time). Every visit of each chosen visitor is exported, not only
the matching ones: it is the person's data. Lines are in the import format, one event per
line, visitors in id order and each visitor's events in time order; each visit-level value
is on the event that supplied it, so `sightline import` of the file into an empty database
with the same --visit-timeout gives the same visits (docs/privacy.md).

Without --out the lines go to standard output and the summary to standard error; with --out
the file is written under a temporary name and renamed into place once complete, and the
summary goes to standard output. A selector that matches nobody exports nothing (an empty
file) and succeeds.

Examples:
  sightline privacy export --db shop.db --user-id ann@example.org --out ann.jsonl
  sightline privacy export --db shop.db --visitor v57a87b1282c1 > v57a87b1282c1.jsonl
  sightline privacy export --db shop.db --segment 'userId=@@example.org' --out all.jsonl --json

--json prints {\"visitors\", \"visits\", \"events\"}: the visitors exported, all their visits,
and the events (lines) written; --format csv the same keys as a header row and one row. A
segment that does not parse is reported with a caret under the offending byte (exit status
2).")]
    Export(ExportArgs),
}

/// `sightline privacy export`.
#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("selector")
        .required(true)
        .args(["visitor", "user_id", "segment"])
))]
pub struct ExportArgs {
    #[command(flatten)]
    db: DbArg,
    /// Export the visitor with this id.
    #[arg(long, value_name = "ID")]
    visitor: Option<String>,
    /// Export the visitors having a visit whose userId is exactly UID.
    #[arg(long, value_name = "UID")]
    user_id: Option<String>,
    /// Export the visitors having a visit this segment selects.
    #[arg(long, short, value_name = "SEGMENT")]
    segment: Option<OsString>,
    /// Syntax of --segment.
    #[arg(long, value_enum, default_value = "default")]
    dialect: DialectArg,
    /// Write the lines to FILE (atomically) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs a `privacy` subcommand.
pub fn run(command: PrivacyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PrivacyCommand::Export(args) => export(&args),
    }
}

fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    // The segment's bytes are checked before the database is opened, as `query` does.
    let segment = args
        .segment
        .as_deref()
        .map(crate::segment_arg)
        .transpose()?;
    if let Some(path) = &args.out {
        check_out(path)?;
    }
    let db = query::open(&args.db.db)?;
    let snap = db.snapshot();
    let selector = match (&args.visitor, &args.user_id, segment) {
        (Some(id), _, _) => ExportSelector::Visitor(id.clone()),
        (_, Some(uid), _) => ExportSelector::UserId(uid.clone()),
        (_, _, Some(text)) => {
            let compiled = snap.compile(&text, args.dialect.into())?;
            query::print_warnings(&text, &compiled.warnings());
            ExportSelector::Segment(compiled)
        }
        // The argument group requires one.
        (None, None, None) => return Err(out::usage("name --visitor, --user-id or --segment")),
    };
    let format = args.output.get();
    match &args.out {
        None => {
            let summary = to_stdout(&snap, &selector)?;
            let text = match format {
                OutputFormat::Json => doc(&summary).to_string(),
                OutputFormat::Csv => crate::one_row_csv(&doc(&summary), &COLUMNS)?
                    .trim_end()
                    .to_string(),
                OutputFormat::Table => sentence(&summary),
            };
            errln!("{text}");
        }
        Some(path) => {
            let summary = to_file(&snap, &selector, path)?;
            crate::print_as(
                format,
                || format!("{} to {}", sentence(&summary), path.display()),
                || doc(&summary),
                || crate::one_row_csv(&doc(&summary), &COLUMNS),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary's keys, in order.
const COLUMNS: [&str; 3] = ["visitors", "visits", "events"];

fn doc(s: &ExportSummary) -> serde_json::Value {
    json!({"visitors": s.visitors, "visits": s.visits, "events": s.events})
}

fn sentence(s: &ExportSummary) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "exported {}, {}, {}",
        plural(s.visitors, "visitor", "visitors"),
        plural(s.visits, "visit", "visits"),
        plural(s.events, "event", "events")
    )
}

/// A `--out` that cannot become a file is a usage error, found before the database is
/// read: a directory, or a file in a directory that does not exist.
fn check_out(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        return Err(out::usage(format!(
            "--out {} is a directory; name the file to write",
            path.display()
        )));
    }
    let parent = parent_dir(path);
    if !parent.is_dir() {
        return Err(out::usage(format!(
            "--out {}: the directory {} does not exist",
            path.display(),
            parent.display()
        )));
    }
    Ok(())
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Exports to standard output. A failed write is an [`out::OutputError`], so a closed
/// pipe (`… | head`) ends the command quietly, as for every command.
fn to_stdout(snap: &Snapshot, selector: &ExportSelector) -> anyhow::Result<ExportSummary> {
    let selection = snap.export_selection(selector)?;
    let mut w = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match snap.export(&selection, &mut w) {
        Ok(summary) => Ok(summary),
        Err(sightline::Error::Io { error, .. }) => Err(out::OutputError(error).into()),
        Err(e) => Err(e.into()),
    }
}

/// Exports to `path`: written and synced under a temporary name in the same directory,
/// then renamed over `path`, so `path` is either absent (or as it was) or complete.
fn to_file(
    snap: &Snapshot,
    selector: &ExportSelector,
    path: &Path,
) -> anyhow::Result<ExportSummary> {
    let selection = snap.export_selection(selector)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent_dir(path).join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let summary = snap
            .export(&selection, &mut w)
            .with_context(|| format!("write {}", tmp.display()))?;
        let file = w
            .into_inner()
            .map_err(|e| anyhow::Error::new(e.into_error()))
            .with_context(|| format!("write {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("fsync {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("rename {} to {}", tmp.display(), path.display()))?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else if let Ok(dir) = std::fs::File::open(parent_dir(path)) {
        // Makes the rename itself durable; the file is complete either way.
        let _ = dir.sync_all();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_sentence_counts_in_words() {
        let one = ExportSummary {
            visitors: 1,
            visits: 1,
            events: 1,
        };
        assert_eq!(sentence(&one), "exported 1 visitor, 1 visit, 1 event");
        let none = ExportSummary::default();
        assert_eq!(sentence(&none), "exported 0 visitors, 0 visits, 0 events");
    }

    #[test]
    fn a_bare_file_name_is_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("a.jsonl")), Path::new("."));
        assert_eq!(parent_dir(Path::new("d/a.jsonl")), Path::new("d"));
    }
}
