//! `sightline repl`: segments typed (or piped) one per line, answered from a read-only
//! handle that is refreshed before every query, so a concurrent import shows up.
//!
//! Besides segments, dot-commands run the analyses (`.report`, `.funnel`, `.cohorts`,
//! `.visitor`) over the visits of the session's `.segment` and `.range`.
//!
//! On a terminal it uses rustyline (history, completion of dot-commands, dimension names
//! and dimension values), Ctrl-C cancels the command running (`interrupt`), and tables
//! are cut to `.maxrows` rows and fitted to the terminal's width (`display`).
//! Otherwise it reads standard input line by line with no prompt, reports errors on
//! stderr with the line number and goes on; the exit status is then 0 when every line
//! succeeded, else the status of the first failing line (2 for a bad segment, command
//! or date). Either way a line ending in `\` goes on on the next (`input`).

mod display;
mod input;
mod interrupt;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use sightline::{CancelToken, Dialect, ErrorKind, Snapshot};
use sightline::{Db, FunnelScope, Period, TimeRange};

use crate::out::{OutputError, usage};
use crate::{cohorts, exit_code, funnel, not_utf8, print_error, query, range, report, visitor};

/// Rows of `.report` without a LIMIT.
const DEFAULT_REPORT_LIMIT: usize = 20;

/// Rows a table shows on the terminal unless `.maxrows` says otherwise.
const DEFAULT_MAX_ROWS: usize = 100;

/// Values offered by one Tab after `DIM==` (the first in byte order).
const MAX_VALUE_CANDIDATES: usize = 50;

/// `.read` files reading `.read` files: deeper than this is taken for a loop.
const MAX_READ_DEPTH: usize = 16;

/// The prompt of a command's next line (as wide as the prompt).
const CONTINUATION_PROMPT: &str = "      ...> ";

/// Test only (`tests/repl_terminal.rs`): when this variable is set, `.report` runs
/// again and again until it is cancelled, so that a test can press Ctrl-C during a
/// command however fast the machine. It says so on standard error when it starts.
const ENDLESS_REPORT_VAR: &str = "SIGHTLINE_TEST_ENDLESS_REPORT";

const HELP: &str = "\
Type a segment to see the summary of the visits it selects, e.g.
  countryCode==fr;visitCount>1,pageUrl=@/checkout
(`;` is AND, `,` is OR and binds tighter; see docs/segment-language.md).

  .all                  summary of every visit (in the current range)
  .explain SEGMENT      parsed form and plan, with the cardinality of each step
  .schema               dimensions with level, type and accepted values; aliases
  .range FROM TO        restrict to visits starting in FROM..TO (dates YYYY-MM-DD,
                        inclusive, RFC 3339 instants, or relative dates: today,
                        yesterday, last7, previous30, this-week, last-month, …;
                        `-` leaves an end open)
  .range                show the range        .range off   every visit again
  .dialect NAME         default | matomo | matomo-url (no NAME: show it)

Analyses, over the visits of .segment within .range (docs/analytics.md):
  .segment SEGMENT      the visits .report, .funnel and .cohorts look at
  .segment              show it               .segment off   every visit again
  .report DIM [LIMIT]   one row per value of DIM (default limit 20; `all`: no limit),
                        e.g. .report country 5
  .funnel [visit|visitor [WINDOW]] STEP1 -> STEP2 -> …
                        visits (or visitors, within WINDOW, default 7d) reaching each
                        step, e.g. .funnel pageUrl=@/cart -> pageUrl=@/checkout
                                   .funnel visitor 36h eventAction==play -> visitConverted==1
  .cohorts [day|week|month] [N]
                        retention of visitors by the period of their first visit,
                        N periods (default: week, 12)
  .visitor ID           a visitor's profile: totals, visits and their events

  .mode table|json      one table, or one JSON line, per answer (no argument: show it)
  .timer on|off         print the time each query took (JSON answers always carry
                        \"elapsedMs\")
  .maxrows N            rows a table shows on the terminal (default 100; 0: all; no N:
                        show it); .report asks for no more (the rest: its others row)
  .output FILE          answers go to FILE (replaced), in full; .output alone: back to
                        the terminal
  .read FILE            run the commands of FILE; stops at its first error
  .memory               peak heap allocated by this process, and its resident memory
  .privacy              the privacy settings stored in the database (change them with
                        `sightline privacy settings`; docs/privacy.md)
  .help                 this text
  .quit, .exit          leave (Ctrl-D too)

Ctrl-C stops the command running and returns to the prompt; at the prompt it clears
the line. A line ending in \\ goes on on the next one (so does a dot-command with an
open \"). Tables wider than the terminal lose their last columns (it says which).
Lines starting with # or -- are comments. Tab completes commands, dimension names,
and the values of a dimension after an operator (countryCode==f<Tab>).";

/// The dot-commands, for completion and suggestions.
const COMMANDS: &[&str] = &[
    "all", "cohorts", "dialect", "exit", "explain", "funnel", "help", "maxrows", "memory", "mode",
    "output", "privacy", "quit", "range", "read", "report", "schema", "segment", "timer",
    "visitor",
];

/// How answers are printed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Table,
    Json,
}

/// The state of a REPL session.
struct Session {
    db: Db,
    dialect: Dialect,
    range: TimeRange,
    /// The segment of the analyses (`.segment`; empty: every visit).
    segment: String,
    mode: Mode,
    timer: bool,
    /// Rows a table shows on the terminal (0: every row).
    max_rows: usize,
    /// Where answers go.
    output: Output,
    /// Whether standard output is a terminal a person reads (interactive): rows are
    /// then capped and tables fitted to `width`, while answers go to it.
    terminal: bool,
    /// The terminal's width in characters, if known.
    width: Option<usize>,
    /// The token of the command running: a new one for each command, cancelled by
    /// Ctrl-C.
    cancel: CancelToken,
    /// How many `.read` files are being read, one inside the other.
    reading: usize,
}

/// Where answers go: standard output, or the file of `.output`.
enum Output {
    Stdout,
    File {
        path: PathBuf,
        file: BufWriter<File>,
    },
}

impl Output {
    fn write_line(&mut self, line: &str) -> anyhow::Result<()> {
        match self {
            Output::Stdout => {
                writeln!(std::io::stdout().lock(), "{line}").map_err(|e| OutputError(e).into())
            }
            Output::File { path, file } => writeln!(file, "{line}")
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display())),
        }
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Output::Stdout => std::io::stdout().flush().map_err(|e| OutputError(e).into()),
            Output::File { path, file } => file
                .flush()
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display())),
        }
    }
}

/// What a line produced: text for the output, and whether to stop.
#[derive(Default)]
struct Outcome {
    text: String,
    quit: bool,
    /// The command bounded its rows itself (`.report`'s limit): no rows are cut from
    /// its tables; `Some(n)`: `n` rows were left out for `.maxrows`.
    rows_bounded: Option<u64>,
}

impl Outcome {
    fn text(text: impl Into<String>) -> anyhow::Result<Outcome> {
        Ok(Outcome {
            text: text.into(),
            ..Outcome::default()
        })
    }
}

/// Whether `e` is a cancelled command (Ctrl-C).
fn cancelled(e: &anyhow::Error) -> bool {
    e.downcast_ref::<sightline::Error>()
        .is_some_and(|e| e.kind() == ErrorKind::Cancelled)
}

impl Session {
    fn new(db: Db, terminal: bool) -> Session {
        Session {
            db,
            dialect: Dialect::Default,
            range: TimeRange::ALL,
            segment: String::new(),
            mode: Mode::Table,
            timer: false,
            max_rows: DEFAULT_MAX_ROWS,
            output: Output::Stdout,
            terminal,
            width: None,
            cancel: CancelToken::new(),
            reading: 0,
        }
    }

    /// Runs one command and writes its answer; true when the session should end.
    fn run_command(&mut self, line: &str) -> anyhow::Result<bool> {
        let out = self.execute(line)?;
        self.emit(&out)?;
        Ok(out.quit)
    }

    /// Whether answers go to the terminal now (not to a file).
    fn on_terminal(&self) -> bool {
        self.terminal && matches!(self.output, Output::Stdout)
    }

    /// The rows a table may show now, if capped.
    fn row_cap(&self) -> Option<usize> {
        (self.on_terminal() && self.max_rows > 0).then_some(self.max_rows)
    }

    /// Writes an answer: on the terminal, tables capped to `.maxrows` rows and fitted
    /// to its width, with a note of what was left out; line by line, stopping at once
    /// when the command is cancelled.
    fn emit(&mut self, out: &Outcome) -> anyhow::Result<()> {
        if out.text.is_empty() {
            return Ok(());
        }
        let mut text = std::borrow::Cow::Borrowed(out.text.as_str());
        let mut notes = Vec::new();
        let mut more = out.rows_bounded.unwrap_or(0);
        if self.mode == Mode::Table && self.on_terminal() {
            if let (None, Some(cap)) = (out.rows_bounded, self.row_cap()) {
                let (capped, hidden) = display::cap_rows(&text, cap);
                if hidden > 0 {
                    text = capped.into();
                    more = hidden;
                }
            }
            if let Some(width) = self.width {
                let (fitted, hidden) = display::fit_width(&text, width);
                if !hidden.is_empty() {
                    text = fitted.into();
                    notes.push(format!(
                        "(too wide for the terminal, not shown: {})",
                        hidden.join(", ")
                    ));
                }
            }
        }
        if more > 0 {
            notes.push(format!(
                "… {} (use .maxrows N, .maxrows 0 for all, or .output FILE)",
                query::plural(more, "more row")
            ));
        }
        for line in text.lines() {
            if self.cancel.is_cancelled() {
                return Err(sightline::Error::Cancelled.into());
            }
            self.output.write_line(line)?;
        }
        for n in notes {
            // JSON answers stay one document per line: notes go to standard error.
            if self.mode == Mode::Json {
                errln!("{n}");
            } else {
                self.output.write_line(&n)?;
            }
        }
        self.output.flush()
    }

    /// Runs one line.
    fn execute(&mut self, line: &str) -> anyhow::Result<Outcome> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("--") {
            return Ok(Outcome::default());
        }
        match line.strip_prefix('.') {
            Some(cmd) => self.command(cmd),
            None => self.query(line),
        }
    }

    fn command(&mut self, cmd: &str) -> anyhow::Result<Outcome> {
        let (name, arg) = cmd
            .split_once(char::is_whitespace)
            .map_or((cmd, ""), |(n, a)| (n, a.trim()));
        match (name, arg) {
            ("help", _) => Outcome::text(HELP),
            ("quit" | "exit", _) => Ok(Outcome {
                quit: true,
                ..Outcome::default()
            }),
            ("maxrows", "") => Outcome::text(match self.max_rows {
                0 => "maxrows: 0 (every row)".to_string(),
                n => format!("maxrows: {n}"),
            }),
            ("maxrows", n) => {
                self.max_rows = n.parse().map_err(|_| {
                    usage(format!(
                        "invalid .maxrows `{n}`: a number of rows (0: every row)"
                    ))
                })?;
                Outcome::text("")
            }
            ("output", arg) => self.set_output(arg),
            ("read", "") => Err(usage(".read needs a file: .read FILE")),
            ("read", file) => self.read(input::file_arg(file)),
            ("all", "") => self.query(""),
            ("explain", "") => Err(usage(".explain needs a segment: .explain SEGMENT")),
            ("explain", seg) => self.explain(seg),
            ("schema", "") => self.schema(),
            ("range", arg) => self.set_range(arg),
            ("segment", arg) => self.set_segment(arg),
            ("report", "") => Err(usage(
                ".report needs a dimension: .report DIM [LIMIT], e.g. .report country 10",
            )),
            ("report", arg) => self.report(arg),
            ("funnel", arg) => self.funnel(arg),
            ("cohorts", arg) => self.cohorts(arg),
            ("visitor", "") => Err(usage(".visitor needs a visitor id: .visitor ID")),
            ("visitor", id) => self.visitor(id),
            ("dialect", "") => Outcome::text(format!("dialect: {}", self.dialect.name())),
            ("dialect", d) => {
                self.dialect = Dialect::from_name(d).ok_or_else(|| {
                    usage(format!(
                        "unknown dialect `{d}`; choose default, matomo or matomo-url"
                    ))
                })?;
                Outcome::text("")
            }
            ("memory", "") => self.memory(),
            ("privacy", "") => {
                self.snapshot()?; // picks up a change made since
                let s = self.db.privacy_settings();
                Outcome::text(match self.mode {
                    Mode::Json => crate::privacy::settings_doc(&s).to_string(),
                    Mode::Table => crate::privacy::settings_table(&s),
                })
            }
            ("mode", "") => Outcome::text(match self.mode {
                Mode::Table => "mode: table",
                Mode::Json => "mode: json",
            }),
            ("mode", "table") => {
                self.mode = Mode::Table;
                Outcome::text("")
            }
            ("mode", "json") => {
                self.mode = Mode::Json;
                Outcome::text("")
            }
            ("mode", m) => Err(usage(format!("unknown mode `{m}`; choose table or json"))),
            ("timer", "") => {
                Outcome::text(format!("timer: {}", if self.timer { "on" } else { "off" }))
            }
            ("timer", "on") => {
                self.timer = true;
                Outcome::text("")
            }
            ("timer", "off") => {
                self.timer = false;
                Outcome::text("")
            }
            ("timer", t) => Err(usage(format!("unknown timer setting `{t}`; use on or off"))),
            (name, arg) if COMMANDS.contains(&name) => Err(usage(format!(
                ".{name} takes no argument `{arg}`; see .help"
            ))),
            (name, _) => {
                let near = sightline::Catalog::closest(name, COMMANDS.iter().copied());
                let hint = match near.first() {
                    Some(n) => format!("; did you mean .{n}?"),
                    None => String::new(),
                };
                Err(usage(format!("unknown command .{name}{hint} (see .help)")))
            }
        }
    }

    /// The current snapshot, after picking up commits made since the last line, its
    /// analyses stopped by the command's token.
    fn snapshot(&self) -> anyhow::Result<Snapshot> {
        self.db.refresh()?;
        Ok(self.db.snapshot().with_cancel(self.cancel.clone()))
    }

    /// `.output FILE` (replaced) or `.output` (back to standard output).
    fn set_output(&mut self, arg: &str) -> anyhow::Result<Outcome> {
        self.output.flush()?;
        let arg = input::file_arg(arg);
        if arg.is_empty() {
            self.output = Output::Stdout;
            return Outcome::text("");
        }
        let path = PathBuf::from(arg);
        let file = File::create(&path)
            .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
        self.output = Output::File {
            path,
            file: BufWriter::new(file),
        };
        Outcome::text("")
    }

    /// `.read FILE`: its commands, as if typed, up to the first that fails (the error
    /// then names the file and line).
    fn read(&mut self, file: &str) -> anyhow::Result<Outcome> {
        if self.reading >= MAX_READ_DEPTH {
            return Err(usage(format!(
                ".read {file}: files read each other more than {MAX_READ_DEPTH} deep (a loop?)"
            )));
        }
        let f = File::open(file).map_err(|e| usage(format!("cannot read {file}: {e}")))?;
        self.reading += 1;
        let result = self.read_commands(BufReader::new(f), file);
        self.reading -= 1;
        Ok(Outcome {
            quit: result?,
            ..Outcome::default()
        })
    }

    fn read_commands(&mut self, mut input: impl BufRead, file: &str) -> anyhow::Result<bool> {
        let mut lines = 0u64;
        while let Some((line_no, command)) = next_command(&mut input, &mut lines)
            .map_err(|e| anyhow::anyhow!("cannot read {file}: {e}"))?
        {
            let quit = command
                .map_err(anyhow::Error::from)
                .and_then(|c| self.run_command(&c))
                .map_err(|e| e.context(format!("{file}:{line_no}")))?;
            if quit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn query(&self, text: &str) -> anyhow::Result<Outcome> {
        let snap = self.snapshot()?;
        let t0 = Instant::now();
        let compiled = snap.compile(text, self.dialect)?;
        let summary = snap.summary(&compiled, &self.range)?;
        let elapsed = t0.elapsed();
        let warnings = compiled.warnings();
        let text = match self.mode {
            Mode::Json => {
                query::print_warnings(text, &warnings);
                query::summary_doc(compiled.segment(), &summary, &self.range, elapsed).to_string()
            }
            Mode::Table => {
                let mut t = warning_lines(text, &warnings);
                t += &query::summary_table(&summary);
                if self.timer {
                    t += &format!("\ntime: {:.3} ms", query::millis(elapsed));
                }
                t
            }
        };
        Outcome::text(text)
    }

    /// `.memory`: the peak of heap bytes allocated since the process started (mapped
    /// part files are not heap), and the resident set now and at its peak as the kernel
    /// counts it (mapped pages included).
    fn memory(&self) -> anyhow::Result<Outcome> {
        let heap_peak = peakmem_alloc::PeakMemAllocTrait::get_peak_memory(&crate::ALLOC);
        let (rss, rss_peak) = resident_memory();
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
        match self.mode {
            Mode::Json => Outcome::text(
                serde_json::json!({
                    "heapPeakBytes": heap_peak,
                    "rssBytes": rss,
                    "rssPeakBytes": rss_peak,
                })
                .to_string(),
            ),
            Mode::Table => Outcome::text(format!(
                "heap peak: {}\nresident: {} (peak {})",
                mib(heap_peak as u64),
                rss.map_or("unknown".into(), mib),
                rss_peak.map_or("unknown".into(), mib),
            )),
        }
    }

    fn explain(&self, text: &str) -> anyhow::Result<Outcome> {
        let snap = self.snapshot()?;
        let compiled = snap.compile(text, self.dialect)?;
        let plan = snap.explain(&compiled, &self.range)?;
        let warnings = plan.warnings.clone();
        let plan = Some((&plan, &self.range));
        Outcome::text(match self.mode {
            Mode::Json => {
                let mut doc = query::explain_doc(compiled.segment(), self.dialect, plan);
                if let serde_json::Value::Object(map) = &mut doc {
                    map.insert("warnings".into(), serde_json::json!(warnings));
                }
                doc.to_string()
            }
            Mode::Table => {
                let tree = query::explain_tree(compiled.segment(), self.dialect, plan);
                format!("{tree}{}", warning_lines(text, &warnings))
                    .trim_end()
                    .to_string()
            }
        })
    }

    fn schema(&self) -> anyhow::Result<Outcome> {
        let snapshot = self.snapshot()?;
        let catalog = snapshot.catalog();
        Outcome::text(match self.mode {
            Mode::Json => query::schema_doc(catalog).to_string(),
            Mode::Table => query::schema_table(catalog),
        })
    }

    /// The scope of the analyses: `.segment` within `.range`.
    fn scope(&self) -> query::Scope<'_> {
        query::Scope {
            segment: &self.segment,
            dialect: self.dialect,
            range: &self.range,
        }
    }

    /// An analysis's answer: its JSON line, or its table after a line naming the
    /// segment and range when they are not "everything", and the time when timed.
    fn answer(&self, doc: serde_json::Value, table: String, elapsed: Duration) -> Outcome {
        let text = match self.mode {
            Mode::Json => doc.to_string(),
            Mode::Table => {
                let mut t = String::new();
                if !self.segment.is_empty() || self.range != TimeRange::ALL {
                    t += &format!(
                        "(segment: {} · range: {})\n",
                        if self.segment.is_empty() {
                            "(all visits)"
                        } else {
                            self.segment.as_str()
                        },
                        range::describe(&self.range)
                    );
                }
                t += &table;
                if self.timer {
                    t += &format!("\ntime: {:.3} ms", query::millis(elapsed));
                }
                t
            }
        };
        Outcome {
            text,
            ..Outcome::default()
        }
    }

    fn set_segment(&mut self, arg: &str) -> anyhow::Result<Outcome> {
        match arg {
            "" => {
                return Outcome::text(if self.segment.is_empty() {
                    "segment: (all visits)".to_string()
                } else {
                    format!("segment: {}", self.segment)
                });
            }
            "off" => self.segment.clear(),
            // Stored (named) segments do not exist in the library yet. When they do, a
            // word naming one is looked up here (before being parsed as segment text),
            // and its names are offered by `complete` for `.segment`.
            text => {
                // Checked now, so a typo is reported here and not by every later command.
                let compiled = self.snapshot()?.compile(text, self.dialect)?;
                let warnings = compiled.warnings();
                if !warnings.is_empty() {
                    errln!("{}", warning_lines(text, &warnings).trim_end());
                }
                self.segment = if compiled.segment().is_empty() {
                    String::new()
                } else {
                    text.to_string()
                };
            }
        }
        Outcome::text(match self.mode {
            Mode::Table if self.segment.is_empty() => "segment: (all visits)".to_string(),
            Mode::Table => format!("segment: {}", self.segment),
            Mode::Json => String::new(),
        })
    }

    /// `.report DIM [LIMIT]`.
    fn report(&self, arg: &str) -> anyhow::Result<Outcome> {
        let words: Vec<&str> = arg.split_whitespace().collect();
        let (by, limit) = match words.as_slice() {
            [by] => (*by, Some(DEFAULT_REPORT_LIMIT)),
            [by, "all"] => (*by, None),
            [by, n] => match n.parse::<usize>() {
                Ok(n) if n > 0 => (*by, Some(n)),
                _ => {
                    return Err(usage(format!(
                        "invalid .report LIMIT `{n}`: a positive number of rows, or `all`"
                    )));
                }
            },
            _ => return Err(usage("usage: .report DIM [LIMIT], e.g. .report country 10")),
        };
        // On the terminal the library is asked for no more than `.maxrows` rows: the
        // rest is folded into its others row, never rendered (`.report visitorId all`).
        let (limit, capped) = match (limit, self.row_cap()) {
            (None, Some(cap)) => (Some(cap), true),
            (Some(l), Some(cap)) if l > cap => (Some(cap), true),
            (l, _) => (l, false),
        };
        let snap = self.snapshot()?;
        if std::env::var_os(ENDLESS_REPORT_VAR).is_some() {
            errln!("({ENDLESS_REPORT_VAR} is set: .report runs until stopped by Ctrl-C)");
            loop {
                report::report(&snap, self.scope(), by, limit)?;
            }
        }
        let a = report::report(&snap, self.scope(), by, limit)?;
        let folded = match capped {
            true => a.report.rows.iter().filter_map(|r| r.others).sum(),
            false => 0,
        };
        Ok(Outcome {
            rows_bounded: Some(folded),
            ..self.answer(a.doc(), a.table(), a.elapsed)
        })
    }

    /// `.funnel [visit|visitor [WINDOW]] STEP1 -> STEP2 -> …`.
    fn funnel(&self, arg: &str) -> anyhow::Result<Outcome> {
        const USAGE: &str = "usage: .funnel [visit|visitor [WINDOW]] STEP1 -> STEP2 -> …, \
                             e.g. .funnel visitor 7d pageUrl=@/cart -> pageUrl=@/thank-you";
        let (unit, rest) = match first_word(arg) {
            ("visit", rest) => (Some(FunnelScope::Visit), rest),
            ("visitor", rest) => (Some(FunnelScope::Visitor), rest),
            _ => (None, arg),
        };
        // After the scope, a word starting like a number is the window (no dimension
        // name does).
        let (window, steps) = match first_word(rest) {
            (w, steps)
                if unit.is_some() && w.starts_with(|c: char| c.is_ascii_digit() || c == '-') =>
            {
                let ms = funnel::parse_window(w)
                    .map_err(|e| usage(format!("invalid .funnel WINDOW `{w}`: {e}")))?;
                (Some(ms), steps)
            }
            _ => (None, rest),
        };
        if steps.is_empty() {
            return Err(usage(format!(".funnel needs at least one step; {USAGE}")));
        }
        let steps: Vec<String> = steps.split(" -> ").map(|s| s.trim().to_string()).collect();
        if let Some(i) = steps.iter().position(String::is_empty) {
            return Err(usage(format!(
                "step {} of .funnel is empty: put a segment between the arrows; {USAGE}",
                i + 1
            )));
        }
        let unit = unit.unwrap_or(FunnelScope::Visit);
        let a = funnel::funnel(&self.snapshot()?, self.scope(), &steps, unit, window)?;
        Ok(self.answer(a.doc(), a.table(), a.elapsed))
    }

    /// `.cohorts [day|week|month] [N]`.
    fn cohorts(&self, arg: &str) -> anyhow::Result<Outcome> {
        let mut period = Period::Week;
        let mut periods = cohorts::DEFAULT_PERIODS;
        for word in arg.split_whitespace() {
            if let Some(p) = cohorts::parse_period(word) {
                period = p;
            } else {
                periods = match word.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(usage(format!(
                            "invalid .cohorts argument `{word}`: a period (day, week or month) \
                             or a number of periods (at least 1)"
                        )));
                    }
                };
            }
        }
        let a = cohorts::cohorts(&self.snapshot()?, self.scope(), period, periods)?;
        Ok(self.answer(a.doc(), a.table(), a.elapsed))
    }

    /// `.visitor ID`.
    fn visitor(&self, id: &str) -> anyhow::Result<Outcome> {
        let a = visitor::visitor(&self.snapshot()?, self.db.path(), id)?;
        let text = match self.mode {
            Mode::Json => a.doc().to_string(),
            Mode::Table => {
                let mut t = a.table(None);
                if self.timer {
                    t += &format!("\ntime: {:.3} ms", query::millis(a.elapsed));
                }
                t
            }
        };
        Outcome::text(text)
    }

    fn set_range(&mut self, arg: &str) -> anyhow::Result<Outcome> {
        let words: Vec<&str> = arg.split_whitespace().collect();
        let show = format!("range: {}", range::describe(&self.range));
        match words.as_slice() {
            [] => return Outcome::text(show),
            ["off"] => self.range = TimeRange::ALL,
            [from, to] => {
                let end = |w: &str, which: &str| -> anyhow::Result<Option<range::When>> {
                    if w == "-" {
                        return Ok(None);
                    }
                    range::parse_when(w)
                        .map(Some)
                        .map_err(|e| usage(format!("invalid .range {which} `{w}`: {e}")))
                };
                let r = range::time_range(end(from, "FROM")?, end(to, "TO")?).map_err(usage)?;
                self.range = r;
            }
            _ => {
                return Err(usage(
                    "usage: .range FROM TO (dates YYYY-MM-DD, RFC 3339 instants or relative \
                     dates such as last7 or last-month, `-` for an open end), .range off, or \
                     .range",
                ));
            }
        }
        // Confirm in table mode; keep JSON output one document per line.
        Outcome::text(match self.mode {
            Mode::Table => format!("range: {}", range::describe(&self.range)),
            Mode::Json => String::new(),
        })
    }

    /// Dimension names and aliases, for completion.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .db
            .snapshot()
            .catalog()
            .dimensions()
            .iter()
            .map(|d| d.name.clone())
            .chain(
                sightline::Catalog::aliases()
                    .iter()
                    .map(|(a, _)| a.to_string()),
            )
            .collect();
        names.sort();
        names
    }
}

/// The first whitespace-separated word of `text` and the rest, both trimmed.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim()),
        None => (text, ""),
    }
}

/// Runs the REPL on the database at `path`.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let db = query::open(path)?;
    if std::io::stdin().is_terminal() {
        interactive(Session::new(db, std::io::stdout().is_terminal()))
    } else {
        script(Session::new(db, false), std::io::stdin().lock())
    }
}

/// The next command of `input`: its first line's number and its text (lines ending in
/// `\` joined with the next, see `input`), or its error when a line is not UTF-8;
/// `None` at the end. `lines` counts the lines read so far.
///
/// Lines are read as bytes: a line that is not UTF-8 is an error of that line (exit
/// status 2, with a caret at its first bad byte).
fn next_command(
    input: &mut impl BufRead,
    lines: &mut u64,
) -> std::io::Result<Option<(u64, Result<String, sightline::Error>)>> {
    let mut buf = Vec::new();
    let mut pending: Option<String> = None;
    let first = *lines + 1;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            return Ok(pending.map(|p| (first, Ok(p))));
        }
        *lines += 1;
        // As `BufRead::lines`: without the `\n` or `\r\n` ending.
        let bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let line = match std::str::from_utf8(bytes) {
            Ok(line) => line,
            Err(e) => return Ok(Some((*lines, Err(not_utf8(bytes, &e, "line"))))),
        };
        let command = match pending.take() {
            Some(p) => input::join(&p, line),
            None => line.to_string(),
        };
        if !input::continues(&command) {
            return Ok(Some((first, Ok(command))));
        }
        pending = Some(command);
    }
}

/// Reads commands from `input` without prompting: for scripts and pipes. A failing
/// command is reported with its line number, and the script goes on.
fn script(mut session: Session, mut input: impl BufRead) -> anyhow::Result<ExitCode> {
    let mut status = 0u8;
    let mut lines = 0u64;
    while let Some((line_no, command)) = next_command(&mut input, &mut lines)? {
        match command
            .map_err(anyhow::Error::from)
            .and_then(|c| session.run_command(&c))
        {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                if crate::out::output_error(&e).is_some() {
                    return Err(e); // standard output is gone: nowhere to go on
                }
                session.output.flush()?;
                print_error(&e, &format!("line {line_no}: "));
                if status == 0 {
                    status = exit_code(&e);
                }
            }
        }
    }
    session.output.flush()?;
    Ok(ExitCode::from(status))
}

/// `$SIGHTLINE_HISTORY`, else `~/.sightline_history`.
fn history_path() -> Option<PathBuf> {
    match std::env::var_os("SIGHTLINE_HISTORY") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::home_dir().map(|h| h.join(".sightline_history")),
    }
}

/// `VmRSS` and `VmHWM` of /proc/self/status in bytes (None where there is no procfs).
fn resident_memory() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        status.lines().find_map(|l| {
            let kib = l.strip_prefix(name)?.trim().strip_suffix("kB")?.trim();
            kib.parse::<u64>().ok().map(|k| k * 1024)
        })
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn interactive(mut session: Session) -> anyhow::Result<ExitCode> {
    let config = Config::builder()
        .history_ignore_space(true)
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<Completion, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(Completion {
        names: session.names(),
        snapshot: Some(session.db.snapshot()),
        files: FilenameCompleter::new(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h); // a missing or unreadable history is no error
    }
    interrupt::install()?;
    let stats = session.db.snapshot().stats()?;
    outln!(
        "sightline {} — {} ({} visits, {} visitors). Type .help for help, .quit to leave.",
        env!("CARGO_PKG_VERSION"),
        session.db.path().display(),
        stats.visits,
        stats.visitors
    );
    'session: loop {
        let mut command = match editor.readline("sightline> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        while input::continues(&command) {
            match editor.readline(CONTINUATION_PROMPT) {
                Ok(next) => command = input::join(&command, &next),
                // Ctrl-C drops the whole command, Ctrl-D runs what there is.
                Err(ReadlineError::Interrupted) => continue 'session,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            }
        }
        let _ = editor.add_history_entry(command.as_str());
        session.width = editor.dimensions().map(|(w, _)| usize::from(w));
        session.cancel = CancelToken::new();
        let armed = interrupt::arm(&session.cancel);
        let result = session.run_command(&command);
        drop(armed);
        match result {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) if cancelled(&e) => {
                let _ = session.output.flush();
                errln!("cancelled");
            }
            Err(e) => print_error(&e, ""),
        }
        if let Some(h) = editor.helper_mut() {
            h.names = session.names(); // custom dimensions may have arrived
            h.snapshot = Some(session.db.snapshot()); // and values
        }
    }
    session.output.flush()?;
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(ExitCode::SUCCESS)
}

/// Tab completion: dot-commands and their arguments, dimension names at the start of
/// each condition, a dimension's values after its operator, file names after `.read`
/// and `.output`.
struct Completion {
    names: Vec<String>,
    /// Where values come from (the latest snapshot seen).
    snapshot: Option<Snapshot>,
    files: FilenameCompleter,
}

impl Completer for Completion {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if line.starts_with(".read ") || line.starts_with(".output ") {
            return self.files.complete(line, pos, ctx);
        }
        let values = |name: &str, prefix: &str| -> Vec<String> {
            self.snapshot
                .as_ref()
                .and_then(|s| s.dimension_values(name, prefix, MAX_VALUE_CANDIDATES).ok())
                .map(|v| v.values)
                .unwrap_or_default()
        };
        Ok(complete(&self.names, &values, line, pos))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

/// The values of a dimension starting with a prefix (at most a few dozen), for
/// completion: `Snapshot::dimension_values` in the REPL, a fixed list in tests.
type Values<'a> = &'a dyn Fn(&str, &str) -> Vec<String>;

fn pairs<'a>(words: impl Iterator<Item = &'a str>, prefix: &str, lead: &str) -> Vec<Pair> {
    let lower = prefix.to_lowercase();
    words
        .filter(|w| w.to_lowercase().starts_with(&lower))
        .map(|w| Pair {
            display: format!("{lead}{w}"),
            replacement: format!("{lead}{w}"),
        })
        .collect()
}

/// Completion candidates for `line` with the cursor at `pos`: where the replaced word
/// starts, and the candidates.
fn complete(names: &[String], values: Values<'_>, line: &str, pos: usize) -> (usize, Vec<Pair>) {
    let head = line.get(..pos).unwrap_or(line);
    let Some(cmd) = head.strip_prefix('.') else {
        return complete_segment(names, values, head, 0);
    };
    let Some((name, _)) = cmd.split_once(char::is_whitespace) else {
        return (0, pairs(COMMANDS.iter().copied(), cmd, "."));
    };
    let arg_start = head.len() - cmd[name.len()..].trim_start().len();
    let arg = &head[arg_start..];
    let options: &[&str] = match name {
        // Stored segments do not exist yet: once they do, `.segment NAME` completes
        // their names here too.
        "explain" | "segment" => return complete_segment(names, values, arg, arg_start),
        "report" if !arg.contains(char::is_whitespace) => {
            return (arg_start, pairs(names.iter().map(String::as_str), arg, ""));
        }
        "funnel" => return complete_funnel(names, values, arg, arg_start),
        "cohorts" => {
            let word_start = arg.rfind(char::is_whitespace).map_or(0, |i| i + 1);
            let word = &arg[word_start..];
            let periods = ["day", "week", "month"];
            return (arg_start + word_start, pairs(periods.into_iter(), word, ""));
        }
        "mode" => &["table", "json"],
        "timer" => &["on", "off"],
        "dialect" => &["default", "matomo", "matomo-url"],
        "range" => &["off"],
        "maxrows" => &["0", "100"],
        _ => &[],
    };
    (arg_start, pairs(options.iter().copied(), arg, ""))
}

/// Completes `.funnel`'s arguments: the scope as first word, else a dimension name in
/// the step under the cursor (after the last ` -> `).
fn complete_funnel(
    names: &[String],
    values: Values<'_>,
    arg: &str,
    base: usize,
) -> (usize, Vec<Pair>) {
    if let Some(i) = arg.rfind("->") {
        return complete_segment(names, values, &arg[i + 2..], base + i + 2);
    }
    if !arg.contains(char::is_whitespace) {
        let words = ["visit", "visitor"]
            .into_iter()
            .chain(names.iter().map(String::as_str));
        return (base, pairs(words, arg, ""));
    }
    let (first, _) = first_word(arg);
    match first {
        // After the scope (and a window): the first step.
        "visit" | "visitor" => {
            let step_start = arg.rfind(char::is_whitespace).map_or(0, |i| i + 1);
            let word = &arg[step_start..];
            complete_segment(names, values, word, base + step_start)
        }
        _ => complete_segment(names, values, arg, base),
    }
}

/// Completes a dimension name at the start of the condition under the cursor (after
/// the start, `;` or `,`; escaped delimiters do not count), or a value of that
/// dimension after its operator.
fn complete_segment(
    names: &[String],
    values: Values<'_>,
    text: &str,
    base: usize,
) -> (usize, Vec<Pair>) {
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ';' | ',' => start = i + 1,
            _ => {}
        }
    }
    let word_start = start + (text[start..].len() - text[start..].trim_start().len());
    let word = &text[word_start..];
    if let Some((name, value_start)) = split_condition(word) {
        let typed = &word[value_start..];
        let found = values(name, &unescape(typed));
        let pairs = found
            .iter()
            .map(|v| Pair {
                display: v.clone(),
                replacement: escape(v),
            })
            .collect();
        return (base + word_start + value_start, pairs);
    }
    if word.contains(['=', '!', '<', '>', '@', '^', '$', '~']) {
        return (base + word_start, Vec::new());
    }
    (
        base + word_start,
        pairs(names.iter().map(String::as_str), word, ""),
    )
}

/// The operators of the segment language, longest first where one starts another.
const OPERATORS: &[&str] = &[
    "==", "!=", "<=", ">=", "=@", "!@", "=^", "=$", "=~", "!~", "<", ">",
];

/// A condition being typed, `NAME OP VALUE…`: the name, and where the value starts.
fn split_condition(word: &str) -> Option<(&str, usize)> {
    let at = word.find(['=', '!', '<', '>'])?;
    let name = word[..at].trim_end();
    let op = OPERATORS.iter().find(|op| word[at..].starts_with(**op))?;
    (!name.is_empty()).then_some((name, at + op.len()))
}

/// A value as a segment writes it: `,` and `;` escaped.
fn escape(value: &str) -> String {
    value.replace(',', "\\,").replace(';', "\\;")
}

/// A value typed in a segment as stored: escapes removed.
fn unescape(value: &str) -> String {
    value.replace("\\,", ",").replace("\\;", ";")
}

/// `warning: …` and the segment with a caret, for each warning about segment `text`.
fn warning_lines(text: &str, warnings: &[sightline::SegmentWarning]) -> String {
    warnings
        .iter()
        .map(|w| format!("warning: {}\n{}\n", w.message, w.caret(text)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored values of the tests' dimensions.
    fn values(name: &str, prefix: &str) -> Vec<String> {
        let all: &[&str] = match name {
            "countryCode" => &["de", "fi", "fr"],
            "pageTitle" => &["a,b", "a;c", "b"],
            _ => &[],
        };
        all.iter()
            .filter(|v| v.starts_with(prefix))
            .map(|v| v.to_string())
            .collect()
    }

    fn names() -> Vec<String> {
        [
            "countryCode",
            "country",
            "city",
            "pageUrl",
            "pageTitle",
            "visitCount",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn replacements(line: &str) -> (usize, Vec<String>) {
        let (start, c) = complete(&names(), &values, line, line.len());
        (start, c.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn completes_names_at_the_start_of_each_condition() {
        assert_eq!(
            replacements("cou"),
            (0, vec!["countryCode".into(), "country".into()])
        );
        assert_eq!(replacements("city==x; page").0, 9);
        assert_eq!(
            replacements("city==x; page").1,
            vec!["pageUrl".to_string(), "pageTitle".into()]
        );
        assert_eq!(replacements("city==a\\,vis").1, Vec::<String>::new());
        assert_eq!(
            replacements("city==x,vis").1,
            vec!["visitCount".to_string()]
        );
        assert!(replacements("city==Pa").1.is_empty());
    }

    #[test]
    fn completes_commands_and_their_arguments() {
        assert_eq!(
            replacements(".ex"),
            (0, vec![".exit".into(), ".explain".into()])
        );
        assert_eq!(replacements(".mode j"), (6, vec!["json".into()]));
        assert_eq!(replacements(".explain  ci"), (10, vec!["city".into()]));
    }

    #[test]
    fn completes_the_arguments_of_the_analyses() {
        assert_eq!(
            replacements(".report cou"),
            (8, vec!["countryCode".into(), "country".into()])
        );
        assert!(replacements(".report city 1").1.is_empty());
        assert_eq!(replacements(".cohorts w"), (9, vec!["week".into()]));
        assert_eq!(replacements(".cohorts day m").1, vec!["month".to_string()]);
        assert_eq!(replacements(".segment vis"), (9, vec!["visitCount".into()]));
        assert_eq!(
            replacements(".funnel visit"),
            (
                8,
                vec!["visit".into(), "visitor".into(), "visitCount".into()]
            )
        );
        assert_eq!(
            replacements(".funnel visitor 7d pa").1,
            vec!["pageUrl".to_string(), "pageTitle".into()]
        );
        let (start, c) = replacements(".funnel pageUrl=@/a -> ci");
        assert_eq!((start, c), (23, vec!["city".into()]));
    }

    #[test]
    fn completes_the_values_of_a_dimension_after_its_operator() {
        assert_eq!(
            replacements("countryCode==f"),
            (13, vec!["fi".into(), "fr".into()])
        );
        assert_eq!(
            replacements("visitCount>1;countryCode!=d"),
            (26, vec!["de".into()])
        );
        assert_eq!(replacements("countryCode=@").1.len(), 3);
        assert_eq!(
            replacements(".segment countryCode==fr").1,
            vec!["fr".to_string()]
        );
        assert_eq!(
            replacements(".funnel visit countryCode==d").1,
            vec!["de".to_string()]
        );
        // Delimiters in values are escaped in the replacement, and typed escapes match.
        assert_eq!(
            replacements("pageTitle==a").1,
            vec!["a\\,b".to_string(), "a\\;c".into()]
        );
        assert_eq!(replacements("pageTitle==a\\,").1, vec!["a\\,b".to_string()]);
        // Unknown dimensions and numbers have no values.
        assert!(replacements("visitCount>").1.is_empty());
    }

    #[test]
    fn splits_a_condition_at_its_operator() {
        assert_eq!(
            split_condition("countryCode==fr"),
            Some(("countryCode", 13))
        );
        assert_eq!(split_condition("visitCount>=2"), Some(("visitCount", 12)));
        assert_eq!(split_condition("a!~x"), Some(("a", 3)));
        assert_eq!(split_condition("a=x"), None); // not an operator
        assert_eq!(split_condition("==x"), None);
        assert_eq!(split_condition("country"), None);
    }

    #[test]
    fn first_word_splits_and_trims() {
        assert_eq!(first_word("  visit  7d a==b "), ("visit", "7d a==b"));
        assert_eq!(first_word("x"), ("x", ""));
        assert_eq!(first_word(""), ("", ""));
    }
}
