//! `sightline privacy`: answering data subjects and keeping data no longer than needed
//! (`docs/privacy.md`). `export` writes every event of the chosen visitors as JSON Lines
//! in the import format (access and portability requests); `erase` removes them from
//! disk (erasure requests); `purge` removes visits past a retention period; `anonymize`
//! rewrites stored visits without IPs, user ids or locations in clear; `settings` shows
//! or changes the privacy settings stored in the database; `log` shows the audit log and
//! answers "was X erased?".

use std::ffi::OsString;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use sightline::{
    Anonymization, AuditAction, AuditEntry, CompiledSegment, Db, ExportSelector, ExportSummary,
    PrivacyOutcome, PrivacySettings, SelectorKind, Snapshot,
};

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
    /// Erase a person's visitors: every visit and event, from every file (erasure
    /// requests).
    #[command(after_help = "\
Exactly one of --visitor, --user-id and --segment chooses whose data, as for `privacy export`:
every visit of each chosen visitor is erased. When the command returns, the erasure is
durable and no file in the database directory holds any byte of the erased data: the parts
that held it are rewritten without it, the replaced files deleted and the directory synced.
Nothing else changes. Backups and copies outside the directory are not touched
(docs/privacy.md).

Examples:
  sightline privacy erase --db shop.db --user-id ann@example.org
  sightline privacy erase --db shop.db --visitor v57a87b1282c1 --dry-run
  sightline privacy erase --db shop.db --segment 'userId=@@example.org' --json

--dry-run counts without erasing. --json prints {\"visitors\", \"visits\", \"events\",
\"partsRewritten\", \"partsDropped\", \"bytesWritten\", \"filesRemoved\", \"generation\",
\"dryRun\"}. A selector that matches nobody erases nothing and succeeds (counts 0).")]
    Erase(EraseArgs),
    /// Remove every visit that started before a retention period (e.g. 180d).
    #[command(after_help = "\
--older-than Nd (or Nw) removes the visits that started before the start of the UTC day N
days (weeks) before today; --before WHEN removes those that started before WHEN. Parts whose
visits all expired are dropped whole; the others are rewritten. Remaining visits keep the
values they had: visitCount, visitorType, daysSinceFirstVisit and daysSinceLastVisit still
count the removed visits, and so do the visitor's later ones. A visitor whose visits all
expired is forgotten entirely.

Examples:
  sightline privacy purge --db shop.db --older-than 180d
  sightline privacy purge --db shop.db --before 2026-01-01 --dry-run --json")]
    Purge(PurgeArgs),
    /// Anonymise stored visits: mask IPs, pseudonymise user ids, clear locations.
    #[command(after_help = "\
Rewrites the visits that started in --from/--to (default: all) and that --segment selects
(default: all), doing what --ip N (mask N bytes, Matomo's rule), --user-id (replace userId by
its pseudonym under the database's secret) and --location (clear regionCode and city) ask;
at least one of them. As for erasure, the old values are gone from every file when it
returns.

Examples:
  sightline privacy anonymize --db shop.db --to 2026-06-30 --ip 2
  sightline privacy anonymize --db shop.db --segment 'countryCode==de' --location --user-id")]
    Anonymize(AnonymizeArgs),
    /// Show or change the privacy settings stored in the database (applied to every
    /// later import and append).
    #[command(after_help = SETTINGS_HELP)]
    Settings(SettingsArgs),
    /// Show the privacy audit log, or whether a visitor or user was erased.
    #[command(after_help = LOG_HELP)]
    Log(LogArgs),
}

/// Whose data: exactly one selector.
#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("who")
        .required(true)
        .args(["visitor", "user_id", "segment"])
))]
pub struct Selector {
    /// The visitor with this id.
    #[arg(long, value_name = "ID")]
    visitor: Option<String>,
    /// The visitors having a visit whose userId is exactly UID.
    #[arg(long, value_name = "UID")]
    user_id: Option<String>,
    /// The visitors having a visit this segment selects.
    #[arg(long, short, value_name = "SEGMENT")]
    segment: Option<OsString>,
    /// Syntax of --segment.
    #[arg(long, value_enum, default_value = "default")]
    dialect: DialectArg,
}

impl Selector {
    /// The segment's text, its bytes checked (before the database is opened, as
    /// `query` does).
    fn segment_text(&self) -> anyhow::Result<Option<String>> {
        Ok(self
            .segment
            .as_deref()
            .map(crate::segment_arg)
            .transpose()?)
    }

    /// The selector, a segment (`text`, from [`segment_text`](Self::segment_text))
    /// compiled against `snap`.
    fn resolve(&self, snap: &Snapshot, text: Option<String>) -> anyhow::Result<ExportSelector> {
        Ok(match (&self.visitor, &self.user_id, text) {
            (Some(id), _, _) => ExportSelector::Visitor(id.clone()),
            (_, Some(uid), _) => ExportSelector::UserId(uid.clone()),
            (_, _, Some(text)) => ExportSelector::Segment(compiled(snap, &text, self.dialect)?),
            // The argument group requires one.
            (None, None, None) => return Err(out::usage("name --visitor, --user-id or --segment")),
        })
    }
}

/// `sightline privacy erase`.
#[derive(clap::Args)]
pub struct EraseArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    who: Selector,
    /// Count what would be erased, erase nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `sightline privacy purge`.
#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("cutoff")
        .required(true)
        .args(["older_than", "before"])
))]
pub struct PurgeArgs {
    #[command(flatten)]
    db: DbArg,
    /// Remove visits older than this: Nd (days) or Nw (weeks), counted in UTC days
    /// back from today.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_days)]
    older_than: Option<u32>,
    /// Remove visits that started before this (a date, an instant, a relative date).
    #[arg(long, value_name = "WHEN", value_parser = crate::range::parse_when)]
    before: Option<crate::range::When>,
    /// Count what would be removed, remove nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `sightline privacy anonymize`.
#[derive(clap::Args)]
pub struct AnonymizeArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only visits whose first event is at or after this.
    #[arg(long, value_name = "WHEN", value_parser = crate::range::parse_when)]
    from: Option<crate::range::When>,
    /// Only visits whose first event is at or before this (inclusive).
    #[arg(long, value_name = "WHEN", value_parser = crate::range::parse_when)]
    to: Option<crate::range::When>,
    /// Only visits this segment selects.
    #[arg(long, short, value_name = "SEGMENT")]
    segment: Option<OsString>,
    /// Syntax of --segment.
    #[arg(long, value_enum, default_value = "default")]
    dialect: DialectArg,
    /// Mask N bytes of each IP (0 to 4; Matomo's rule).
    #[arg(long, value_name = "N")]
    ip: Option<u8>,
    /// Replace each userId by its pseudonym.
    #[arg(long)]
    user_id: bool,
    /// Clear regionCode and city.
    #[arg(long)]
    location: bool,
    /// Count what would be rewritten, rewrite nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// `180d` → 180, `2w` → 14.
fn parse_duration_days(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u32 = digits.parse().map_err(|_| {
        format!(
            "`{text}` is not a duration; expected a number of days or weeks such as 180d or 26w"
        )
    })?;
    match unit {
        "d" => Ok(n),
        "w" => n
            .checked_mul(7)
            .ok_or_else(|| format!("`{text}` is too long a duration")),
        "" => Err(format!(
            "`{text}` has no unit; write {n}d for days or {n}w for weeks"
        )),
        _ => Err(format!(
            "`{text}`: unknown unit `{unit}`; expected d (days) or w (weeks), as in 180d"
        )),
    }
}

/// `sightline privacy export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    who: Selector,
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
        PrivacyCommand::Erase(args) => erase(&args),
        PrivacyCommand::Purge(args) => purge(&args),
        PrivacyCommand::Anonymize(args) => anonymize(&args),
        PrivacyCommand::Settings(args) => settings_command(&args),
        PrivacyCommand::Log(args) => log_command(&args),
    }
}

/// Opens the database at `path` for writing (no background compactor: the command
/// is one operation). No database there is a usage error.
fn open_writable(path: &Path) -> anyhow::Result<Db> {
    crate::require_db(path)?;
    Ok(Db::builder().auto_compact(false).open(path)?)
}

/// The segment of a command, checked and compiled against `db`.
fn compiled(snap: &Snapshot, text: &str, dialect: DialectArg) -> anyhow::Result<CompiledSegment> {
    let compiled = snap.compile(text, dialect.into())?;
    query::print_warnings(text, &compiled.warnings());
    Ok(compiled)
}

fn erase(args: &EraseArgs) -> anyhow::Result<ExitCode> {
    let segment = args.who.segment_text()?;
    let db = open_writable(&args.db.db)?;
    let selector = args.who.resolve(&db.snapshot(), segment)?;
    let outcome = db.erase(&selector, args.dry_run)?;
    print_outcome(args.output.get(), &outcome, args.dry_run, "erased")
}

fn purge(args: &PurgeArgs) -> anyhow::Result<ExitCode> {
    let cutoff = match (args.older_than, args.before) {
        (Some(days), _) => crate::range::days_before_today(days).map_err(out::usage)?,
        (_, Some(when)) => crate::range::time_range(Some(when), None)
            .map_err(out::usage)?
            .start
            .unwrap_or(i64::MIN),
        (None, None) => return Err(out::usage("name --older-than or --before")),
    };
    let db = open_writable(&args.db.db)?;
    let outcome = db.purge_before(cutoff, args.dry_run)?;
    print_outcome(args.output.get(), &outcome, args.dry_run, "purged")
}

fn anonymize(args: &AnonymizeArgs) -> anyhow::Result<ExitCode> {
    if args.ip.is_none() && !args.user_id && !args.location {
        return Err(out::usage(
            "say what to anonymise: --ip N, --user-id and/or --location",
        ));
    }
    if let Some(n) = args.ip
        && n > sightline::MAX_IP_MASK_BYTES
    {
        return Err(out::usage(format!(
            "--ip {n}: at most {} bytes can be masked",
            sightline::MAX_IP_MASK_BYTES
        )));
    }
    let range = crate::range::time_range(args.from, args.to).map_err(out::usage)?;
    let segment = args
        .segment
        .as_deref()
        .map(crate::segment_arg)
        .transpose()?;
    let db = open_writable(&args.db.db)?;
    let segment = segment
        .map(|text| compiled(&db.snapshot(), &text, args.dialect))
        .transpose()?;
    let request = Anonymization {
        range,
        segment,
        ip_mask: args.ip,
        pseudonymize_user_id: args.user_id,
        clear_location: args.location,
    };
    let outcome = db.anonymize(&request, args.dry_run)?;
    print_outcome(args.output.get(), &outcome, args.dry_run, "anonymised")
}

/// The keys of an outcome, in order.
const OUTCOME_COLUMNS: [&str; 9] = [
    "visitors",
    "visits",
    "events",
    "partsRewritten",
    "partsDropped",
    "bytesWritten",
    "filesRemoved",
    "generation",
    "dryRun",
];

fn print_outcome(
    format: OutputFormat,
    o: &PrivacyOutcome,
    dry_run: bool,
    verb: &str,
) -> anyhow::Result<ExitCode> {
    let doc = || {
        let mut d = serde_json::to_value(o).unwrap_or_default();
        if let Some(m) = d.as_object_mut() {
            m.insert("dryRun".into(), json!(dry_run));
        }
        d
    };
    crate::print_as(
        format,
        || {
            let counts = format!(
                "{}, {}, {}",
                plural(o.visitors, "visitor"),
                plural(o.visits, "visit"),
                plural(o.events, "event")
            );
            if dry_run {
                format!("would have {verb} {counts} (dry run: nothing changed)")
            } else if o.parts_rewritten + o.parts_dropped == 0 {
                format!("{verb} {counts}: nothing to rewrite")
            } else {
                format!(
                    "{verb} {counts}: {} rewritten ({} bytes written), {} dropped, {} removed; generation {}",
                    plural(o.parts_rewritten, "part"),
                    o.bytes_written,
                    plural(o.parts_dropped, "part"),
                    plural(o.files_removed, "file"),
                    o.generation
                )
            }
        },
        doc,
        || crate::one_row_csv(&doc(), &OUTCOME_COLUMNS),
    )
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let segment = args.who.segment_text()?;
    if let Some(path) = &args.out {
        check_out(path)?;
    }
    let db = query::open(&args.db.db)?;
    let snap = db.snapshot();
    match args.who.resolve(&snap, segment)? {
        ExportSelector::UserId(uid) => export_user_id(&db, &snap, &uid, args),
        selector => write_export(&snap, &snap.export_selection(&selector)?, args),
    }
}

/// `export --user-id UID`: the visitors having a visit whose userId is `UID`, or its
/// pseudonym in this database (if it has a secret: pseudonyms are, or were, on), so
/// the clear id a person gives finds their data either way.
fn export_user_id(
    db: &sightline::Db,
    snap: &Snapshot,
    uid: &str,
    args: &ExportArgs,
) -> anyhow::Result<ExitCode> {
    let mut selection = snap.export_selection(&ExportSelector::UserId(uid.to_string()))?;
    match db.pseudonymize_user_id(uid) {
        Ok(pseudonym) => {
            let more = snap.export_selection(&ExportSelector::UserId(pseudonym))?;
            for (a, b) in selection.parts.iter_mut().zip(&more.parts) {
                *a |= b;
            }
        }
        // No secret: no userId was ever pseudonymised.
        Err(e) if e.kind() == sightline::ErrorKind::InvalidInput => {}
        Err(e) => return Err(e.into()),
    }
    write_export(snap, &selection, args)
}

fn write_export(
    snap: &Snapshot,
    selection: &sightline::Selection,
    args: &ExportArgs,
) -> anyhow::Result<ExitCode> {
    let format = args.output.get();
    match &args.out {
        None => {
            let summary = to_stdout(snap, selection)?;
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
            let summary = to_file(snap, selection, path)?;
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
fn to_stdout(snap: &Snapshot, selection: &sightline::Selection) -> anyhow::Result<ExportSummary> {
    let mut w = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match snap.export(selection, &mut w) {
        Ok(summary) => Ok(summary),
        Err(sightline::Error::Io { error, .. }) => Err(out::OutputError(error).into()),
        Err(e) => Err(e.into()),
    }
}

/// Exports to `path`: written and synced under a temporary name in the same directory,
/// then renamed over `path`, so `path` is either absent (or as it was) or complete.
fn to_file(
    snap: &Snapshot,
    selection: &sightline::Selection,
    path: &Path,
) -> anyhow::Result<ExportSummary> {
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
            .export(selection, &mut w)
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

const SETTINGS_HELP: &str = "\
Without an option, shows the settings; with options, changes them (durably, recorded in the
audit log) and shows the result. They apply to every import, transaction and append that
starts afterwards; stored data is not changed.

  --anonymize-ip N|off           mask N bytes (0-4) of every ip, Matomo's rule
  --pseudonymize-user-id on|off  store every userId as HMAC-SHA-256 under the database's
                                 secret (64 hex digits): stable, so a user's visits link
  --retention-days N|off         keep visits for N days (stored and shown here; the purge
                                 is `sightline privacy purge`)

An import's own --anonymize-ip wins for that import. The secret (32 random bytes) is drawn
when first needed and kept in the database directory: whoever has the directory can test a
guessed user id against a pseudonym (docs/privacy.md).

Examples:
  sightline privacy settings --db shop.db
  sightline privacy settings --db shop.db --anonymize-ip 2 --pseudonymize-user-id on
  sightline privacy settings --db shop.db --retention-days 395 --json

--json prints {\"anonymizeIp\", \"pseudonymizeUserId\", \"retentionDays\"} (null: off). A bad
value is a usage error (exit status 2); a database another writer holds, exit status 4; a
damaged settings file, exit status 3.";

const LOG_HELP: &str = "\
Every erasure, purge, retroactive anonymisation and settings change is recorded: when, what,
which kind of selector, a keyed hash of the selector (HMAC-SHA-256 under the database's
secret; never the selector in clear) and how many visitors, visits and events it affected.
--check-visitor, --check-user-id and --check-segment answer \"was X erased?\" by hashing X
the same way: they list the records of that selector.

Examples:
  sightline privacy log --db shop.db
  sightline privacy log --db shop.db --json
  sightline privacy log --db shop.db --check-user-id ann@example.org

--json prints {\"entries\": [{\"time\", \"timeMs\", \"action\", \"selectorKind\",
\"selectorHash\", \"visitors\", \"visits\", \"events\", \"settings\"}]} (settings only for a
settings change); with a --check option also \"selectorKind\" and \"erased\" (true when an
erase record matches). A damaged log is exit status 3.";

/// A setting's new value: off, or a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change<T> {
    Off,
    To(T),
}

impl<T> Change<T> {
    fn value(self) -> Option<T> {
        match self {
            Change::Off => None,
            Change::To(v) => Some(v),
        }
    }
}

fn ip_mask(text: &str) -> Result<Change<u8>, String> {
    match text {
        "off" => Ok(Change::Off),
        _ => match text.parse::<u8>() {
            Ok(n) if n <= sightline::MAX_IP_MASK_BYTES => Ok(Change::To(n)),
            _ => Err(format!(
                "`{text}`: give a number of bytes from 0 to 4, or off"
            )),
        },
    }
}

fn on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{text}`: give on or off")),
    }
}

fn days(text: &str) -> Result<Change<u32>, String> {
    match text {
        "off" => Ok(Change::Off),
        _ => match text.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Change::To(n)),
            _ => Err(format!(
                "`{text}`: give a number of days (at least 1), or off to keep every visit"
            )),
        },
    }
}

/// `sightline privacy settings`.
#[derive(clap::Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    db: DbArg,
    /// Mask N bytes (0-4) of every ip stored from now on; off stores ip as given.
    #[arg(long, value_name = "N|off", value_parser = ip_mask)]
    anonymize_ip: Option<Change<u8>>,
    /// Store every userId from now on as its keyed hash (on) or as given (off).
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pseudonymize_user_id: Option<bool>,
    /// Keep visits for N days; off keeps every visit.
    #[arg(long, value_name = "N|off", value_parser = days)]
    retention_days: Option<Change<u32>>,
    #[command(flatten)]
    output: OutputArgs,
}

fn settings_command(args: &SettingsArgs) -> anyhow::Result<ExitCode> {
    let changing = args.anonymize_ip.is_some()
        || args.pseudonymize_user_id.is_some()
        || args.retention_days.is_some();
    let settings = if changing {
        crate::require_db(&args.db.db)?;
        let db = sightline::Db::builder()
            .auto_compact(false)
            .open(&args.db.db)?;
        let mut s = db.privacy_settings();
        if let Some(c) = args.anonymize_ip {
            s.anonymize_ip = c.value();
        }
        if let Some(on) = args.pseudonymize_user_id {
            s.pseudonymize_user_id = on;
        }
        if let Some(c) = args.retention_days {
            s.retention_days = c.value();
        }
        db.set_privacy_settings(&s)?;
        if args.retention_days.is_some() {
            // A retention applies at once to what is stored (then at every compaction).
            let today = crate::range::days_before_today(0).map_err(out::usage)?;
            if let Some(o) = db.apply_retention(today)? {
                errln!(
                    "retention: purged {}, {}, {}",
                    plural(o.visitors, "visitor"),
                    plural(o.visits, "visit"),
                    plural(o.events, "event")
                );
            }
        }
        db.privacy_settings()
    } else {
        query::open(&args.db.db)?.privacy_settings()
    };
    show_settings(args.output.get(), &settings)
}

/// The settings' keys, in order.
const SETTINGS_COLUMNS: [&str; 3] = ["anonymizeIp", "pseudonymizeUserId", "retentionDays"];

/// The settings as one JSON document.
pub fn settings_doc(s: &PrivacySettings) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or_default()
}

/// The settings as lines for people.
pub fn settings_table(s: &PrivacySettings) -> String {
    let mut t = query::table();
    t.set_header(["setting", "value"]);
    t.add_row([
        "anonymize ip".to_string(),
        s.anonymize_ip.map_or("off".into(), |n| {
            format!("{n} byte{} masked", if n == 1 { "" } else { "s" })
        }),
    ]);
    let pseudo = if s.pseudonymize_user_id { "on" } else { "off" };
    t.add_row(["pseudonymize userId".to_string(), pseudo.to_string()]);
    t.add_row([
        "retention".to_string(),
        s.retention_days
            .map_or("off (every visit kept)".into(), |d| format!("{d} days")),
    ]);
    t.to_string()
}

fn show_settings(format: OutputFormat, s: &PrivacySettings) -> anyhow::Result<ExitCode> {
    crate::print_as(
        format,
        || settings_table(s),
        || settings_doc(s),
        || crate::one_row_csv(&settings_doc(s), &SETTINGS_COLUMNS),
    )
}

/// `sightline privacy log`.
#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("check")
        .args(["check_visitor", "check_user_id", "check_segment"])
))]
pub struct LogArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only the records about this visitor id (was it erased?).
    #[arg(long, value_name = "ID")]
    check_visitor: Option<String>,
    /// Only the records about this userId, in clear (was it erased?).
    #[arg(long, value_name = "UID")]
    check_user_id: Option<String>,
    /// Only the records about this segment definition, exactly as it was given.
    #[arg(long, value_name = "SEGMENT")]
    check_segment: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn log_command(args: &LogArgs) -> anyhow::Result<ExitCode> {
    let db = query::open(&args.db.db)?;
    let check = match (
        &args.check_visitor,
        &args.check_user_id,
        &args.check_segment,
    ) {
        (Some(v), _, _) => Some((SelectorKind::Visitor, v.as_str())),
        (_, Some(u), _) => Some((SelectorKind::UserId, u.as_str())),
        (_, _, Some(s)) => Some((SelectorKind::Segment, s.as_str())),
        _ => None,
    };
    let entries = match check {
        Some((kind, text)) => db.privacy_log_matching(kind, text)?,
        None => db.privacy_log()?,
    };
    let erased = entries.iter().any(|e| e.action == AuditAction::Erase);
    let doc = || {
        let mut doc = json!({"entries": entries.iter().map(entry_doc).collect::<Vec<_>>()});
        if let Some((kind, _)) = check {
            doc["selectorKind"] = json!(kind.name());
            doc["erased"] = json!(erased);
        }
        doc
    };
    let table = || {
        let headline = check.map(|(kind, text)| {
            let what = format!("{} {text}", kind.name());
            match (erased, entries.len()) {
                (true, _) => format!("{what}: erased (records below)"),
                (false, 0) => format!("{what}: no record (no erasure of it is logged)"),
                (false, _) => format!("{what}: not erased; other records below"),
            }
        });
        let body = if entries.is_empty() {
            match check {
                Some(_) => String::new(),
                None => "the audit log is empty: nothing was erased, purged or anonymised, \
                         and the settings never changed"
                    .to_string(),
            }
        } else {
            log_table(&entries)
        };
        [headline.unwrap_or_default(), body]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let csv = || {
        let rows = entries.iter().map(|e| {
            LOG_COLUMNS
                .iter()
                .map(|c| match &entry_doc(e)[*c] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    v => v.to_string(),
                })
                .collect()
        });
        crate::out::csv(&LOG_COLUMNS, rows)
    };
    crate::print_as(args.output.get(), table, doc, csv)
}

/// The columns of `privacy log --format csv`.
const LOG_COLUMNS: [&str; 9] = [
    "time",
    "timeMs",
    "action",
    "selectorKind",
    "selectorHash",
    "visitors",
    "visits",
    "events",
    "settings",
];

fn entry_doc(e: &AuditEntry) -> serde_json::Value {
    let mut doc = serde_json::to_value(e).unwrap_or_default();
    doc["time"] = crate::rfc3339(Some(e.time_ms));
    doc
}

fn log_table(entries: &[AuditEntry]) -> String {
    let mut t = query::table();
    t.set_header([
        "time", "action", "selector", "hash", "visitors", "visits", "events",
    ]);
    for e in entries {
        let time = crate::rfc3339(Some(e.time_ms))
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (selector, hash) = match (&e.settings, &e.selector_hash) {
            (Some(s), _) => (
                format!(
                    "ip {}, userId {}, retention {}",
                    s.anonymize_ip
                        .map_or("off".into(), |n| format!("{n} bytes")),
                    if s.pseudonymize_user_id {
                        "pseudonymised"
                    } else {
                        "as given"
                    },
                    s.retention_days
                        .map_or("off".into(), |d| format!("{d} days"))
                ),
                String::new(),
            ),
            (None, Some(h)) => (
                e.selector_kind.name().to_string(),
                format!("{}…", h.get(..12).unwrap_or(h)),
            ),
            (None, None) => (e.selector_kind.name().to_string(), String::new()),
        };
        t.add_row([
            time,
            e.action.name().to_string(),
            selector,
            hash,
            e.counts.visitors.to_string(),
            e.counts.visits.to_string(),
            e.counts.events.to_string(),
        ]);
    }
    t.to_string()
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
    fn setting_values_parse_or_say_what_to_give() {
        assert_eq!(ip_mask("2"), Ok(Change::To(2)));
        assert_eq!(ip_mask("off"), Ok(Change::Off));
        assert!(ip_mask("5").unwrap_err().contains("0 to 4"));
        assert_eq!(on_off("on"), Ok(true));
        assert!(on_off("yes").unwrap_err().contains("on or off"));
        assert_eq!(days("395"), Ok(Change::To(395)));
        assert!(days("0").unwrap_err().contains("at least 1"));
        assert!(days("-3").is_err());
    }

    #[test]
    fn a_bare_file_name_is_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("a.jsonl")), Path::new("."));
        assert_eq!(parent_dir(Path::new("d/a.jsonl")), Path::new("d"));
    }
}
