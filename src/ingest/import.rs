//! File import: JSON Lines (parsed in parallel, merged in input order) and CSV.
//!
//! JSON Lines files are read in chunks that end at a newline; worker threads parse
//! chunks into their own batches and the caller's thread merges them in file order, so
//! line numbers, the custom-dimension type rule ("fixed by the first non-null value")
//! and the first reported error are exactly what a sequential reader would give. The
//! merged rows go into the transaction's batch, which spills them as sorted runs
//! (`ingest::runs`) whenever they outgrow their share of the memory budget; a file that
//! fails takes back its rows, spilled or not.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::channel::{Receiver, Sender};

use super::keys::{KeyCheck, KeyWarning};
use super::parse::{self, Mode, RawRow, Scalar};
use super::rows::Rows;
use super::runs::Batch;
use crate::error::{Error, Result, RowError};
use crate::privacy::WriteRules;

/// Input format of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

impl Format {
    /// Guesses the format from the file extension (`.csv` → CSV, anything else → JSONL).
    ///
    /// ```
    /// use sightline::Format;
    /// assert_eq!(Format::from_path("a/b.csv".as_ref()), Format::Csv);
    /// assert_eq!(Format::from_path("x.jsonl".as_ref()), Format::Jsonl);
    /// ```
    pub fn from_path(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
        {
            Some(e) if e == "csv" => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// How to import.
///
/// ```
/// use sightline::ImportOptions;
/// let opts = ImportOptions { anonymize_ip: Some(2), ..ImportOptions::default() };
/// assert!(!opts.skip_invalid);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Input format; `None` guesses from the extension.
    pub format: Option<Format>,
    /// Keep going past bad rows (they are counted and the first few reported) instead
    /// of failing the whole import.
    pub skip_invalid: bool,
    /// Mask this many bytes (0 to [`MAX_IP_MASK_BYTES`](crate::MAX_IP_MASK_BYTES)) of
    /// every row's `ip` before it is stored, by Matomo's rule, in canonical form
    /// ([`anonymize_ip`](crate::anonymize_ip)); an `ip` that is not an IP address is
    /// then a row error (`ip: not an IP address: "…"`). `None` (the default) leaves the
    /// transaction's own rule ([`WriteTxn::set_anonymize_ip`](crate::WriteTxn::set_anonymize_ip)),
    /// which by default is the database's stored setting ([`Db::privacy_settings`](crate::Db::privacy_settings);
    /// none: `ip` stored as given, unchecked). More than 4 fails the import
    /// before it reads anything.
    pub anonymize_ip: Option<u8>,
    /// Store every row's non-empty `userId` as its pseudonym under the database secret
    /// ([`Db::pseudonymize_user_id`](crate::Db::pseudonymize_user_id)), even where the
    /// database's settings do not. `false` (the default) leaves the transaction's rule
    /// (by default the database's setting).
    pub pseudonymize_user_id: bool,
}

impl ImportOptions {
    /// The privacy rules of an import with these options: its own IP mask if it has
    /// one, else `fallback` (the transaction's).
    fn write_rules(&self, fallback: &WriteRules) -> Result<WriteRules> {
        if self.pseudonymize_user_id && !fallback.pseudonymizes_user_id() {
            // `WriteTxn::import_file` puts the database's key in `fallback`.
            return Err(crate::Error::argument(
                "pseudonymize_user_id",
                "pseudonymising user ids needs a database's secret: import through a \
                 write transaction",
            ));
        }
        match self.anonymize_ip {
            None => Ok(fallback.clone()),
            bytes => WriteRules::anonymizing_ip(bytes)
                .map_err(crate::db::ip_mask_error)
                .map(|r| {
                    r.with_user_id_key(fallback.user_id_key())
                        .with_enricher_of(fallback)
                }),
        }
    }
}

/// How many row errors a report keeps.
pub const MAX_REPORTED_ERRORS: usize = 10;

/// Outcome of reading one file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// Rows accepted.
    pub rows: u64,
    /// Rows rejected (only with `skip_invalid`).
    pub rejected: u64,
    /// The first rejected rows' errors, in line order.
    pub errors: Vec<RowError>,
    /// Bytes read.
    pub bytes: u64,
    /// Keys that look like misspelt built-in fields (stored as custom dimensions),
    /// in order of first use.
    pub warnings: Vec<KeyWarning>,
}

/// The largest chunk of a JSON Lines file parsed at once: large enough that the
/// parsers' hand-offs cost nothing, small enough that the chunks in flight (two per
/// parser) are a small fixed cost beside the memory budget.
const CHUNK: usize = 4 << 20;

/// The smallest chunk (a small budget's: see [`Batch::chunk_bytes`]).
pub(crate) const MIN_CHUNK: usize = 64 << 10;
const MAX_LINE: usize = 64 << 20;

struct Chunk {
    seq: u64,
    first_line: u64,
    bytes: Vec<u8>,
    /// A line the reader skipped (longer than [`MAX_LINE`], with `skip_invalid`): the
    /// chunk is that line's error, `bytes` is empty.
    skipped: Option<RowError>,
}

struct Parsed {
    rows: Rows,
    lines: Vec<u64>,
    errors: Vec<RowError>,
}

/// Reads `path` into `batch` (which spills sorted runs as it fills up), storing rows
/// as the options' privacy rules say, or where they set none, `rules`. Without
/// `skip_invalid`, the first bad row (by line) fails the call and `batch` is left as it
/// was (runs spilled during the call deleted).
pub(crate) fn import_file(
    path: &Path,
    opts: &ImportOptions,
    rules: &WriteRules,
    batch: &mut Batch,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileReport> {
    let rules = opts.write_rules(rules)?;
    let format = opts.format.unwrap_or_else(|| Format::from_path(path));
    match format {
        Format::Jsonl => settle(batch, |batch| {
            import_jsonl(path, opts, &rules, batch, progress)
        }),
        Format::Csv => {
            let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
            let name = path.display().to_string();
            let regular = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (path, m.len()));
            let reader = BufReader::with_capacity(1 << 20, file);
            settle(batch, |batch| {
                import_csv(reader, &name, regular, opts, &rules, batch, progress)
            })
        }
    }
}

/// Reads CSV text with a header row from `reader` into `rows`, exactly as
/// `import_file` reads a `.csv` file (`name` stands for the file in row errors).
/// Without `skip_invalid`, the first bad row fails the call and `rows` is left as it
/// was.
pub fn import_csv_reader(
    reader: impl Read,
    name: &str,
    opts: &ImportOptions,
    rows: &mut Rows,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileReport> {
    let rules = opts.write_rules(&WriteRules::default())?;
    // In memory only: a batch without a directory never spills.
    let mut batch = Batch::new(std::mem::take(rows), None);
    let res = settle(&mut batch, |batch| {
        import_csv(reader, name, None, opts, &rules, batch, progress)
    });
    *rows = batch.into_parts().0;
    res
}

/// Runs one file's import: on success sorts and trims the reported errors, on failure
/// rolls `batch` back to where it was.
fn settle(
    batch: &mut Batch,
    import: impl FnOnce(&mut Batch) -> Result<FileReport>,
) -> Result<FileReport> {
    batch.begin();
    match import(batch) {
        Ok(mut report) => {
            batch.end();
            report.errors.sort_by_key(|e| e.line);
            report.errors.truncate(MAX_REPORTED_ERRORS);
            Ok(report)
        }
        Err(e) => {
            batch.rollback();
            Err(e)
        }
    }
}

/// Reads a JSON Lines file into `rows`: a reader thread cuts it into chunks
/// ([`ChunkReader`]), worker threads parse them ([`parse_chunks`]) and the caller's
/// thread absorbs them in file order ([`ChunkMerge`]).
fn import_jsonl(
    path: &Path,
    opts: &ImportOptions,
    rules: &WriteRules,
    batch: &mut Batch,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileReport> {
    let file_name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let workers = crate::storage::worker_threads();
    // Rows join the batch (and may spill) a chunk at a time.
    let chunk = batch.chunk_bytes().clamp(MIN_CHUNK, CHUNK);
    let (chunk_tx, chunk_rx) = crossbeam::channel::bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = crossbeam::channel::bounded::<(u64, Parsed)>(workers * 2);
    // Lowest chunk with an error: later chunks need not be parsed when failing fast.
    let first_bad = AtomicU64::new(u64::MAX);
    let skip = opts.skip_invalid;
    let mut merge = ChunkMerge {
        batch,
        file_name: &file_name,
        skip,
        first_bad: &first_bad,
        report: FileReport::default(),
        keys: KeyCheck::default(),
        first_error: None,
        spill_error: None,
        failed: false,
    };

    let read_result: Result<u64> = crossbeam::thread::scope(|s| {
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
            let (file_name, first_bad) = (&file_name, &first_bad);
            s.spawn(move |_| parse_chunks(rx, tx, file_name, rules, first_bad, skip));
        }
        drop(done_tx);
        drop(chunk_rx);
        let first_bad = &first_bad;
        let reader = s.spawn(move |_| {
            ChunkReader::new(file, path, chunk_tx, first_bad, skip, progress, chunk).run()
        });
        merge.merge_all(&done_rx);
        reader
            .join()
            .unwrap_or_else(|_| Err(Error::internal("the import reader thread panicked")))
    })
    .unwrap_or_else(|_| Err(Error::internal("an import worker thread panicked")));
    let ChunkMerge {
        mut report,
        keys,
        first_error,
        spill_error,
        ..
    } = merge;
    if let Some(e) = first_error {
        return Err(Error::Row(e));
    }
    if let Some(e) = spill_error {
        return Err(e);
    }
    report.bytes = read_result?;
    report.warnings = keys.finish();
    Ok(report)
}

/// A parser thread of a JSON Lines import: parses `chunks` (storing rows as `rules`
/// say) until the reader is done and sends each result on `done` with its chunk's
/// number. A chunk with an error lowers `first_bad`; when failing fast, a chunk after
/// it is passed on empty, unparsed.
fn parse_chunks(
    chunks: Receiver<Chunk>,
    done: Sender<(u64, Parsed)>,
    file_name: &str,
    rules: &WriteRules,
    first_bad: &AtomicU64,
    skip: bool,
) {
    for chunk in chunks {
        let parsed = if !skip && chunk.seq > first_bad.load(Ordering::Relaxed) {
            Parsed {
                rows: Rows::default(),
                lines: Vec::new(),
                errors: Vec::new(),
            }
        } else {
            parse_chunk(&chunk, file_name, rules, skip)
        };
        if !parsed.errors.is_empty() {
            first_bad.fetch_min(chunk.seq, Ordering::Relaxed);
        }
        if done.send((chunk.seq, parsed)).is_err() {
            return;
        }
    }
}

/// The reader thread of a JSON Lines import: cuts the file into chunks that end at a
/// newline, numbered in file order with the line each starts on, for the parser
/// threads. A line longer than [`MAX_LINE`] fails the import, or with `skip_invalid`
/// is skipped unread and sent as a chunk that is only its error.
struct ChunkReader<'a> {
    file: File,
    path: &'a Path,
    chunks: Sender<Chunk>,
    /// Lowest chunk with an error (see [`import_jsonl`]).
    first_bad: &'a AtomicU64,
    skip: bool,
    progress: &'a (dyn Fn(u64) + Sync),
    /// Number of the next chunk.
    seq: u64,
    /// Line the next chunk starts on.
    line: u64,
    /// Bytes read and not yet sent: the start of a line not yet ended.
    carry: Vec<u8>,
    /// Bytes read so far.
    total: u64,
    /// How many bytes the next read fills the buffer to.
    want: usize,
    /// The size chunks are cut to (before the line that ends them).
    chunk: usize,
}

impl<'a> ChunkReader<'a> {
    /// A reader at the start of `file`, the first chunk's line 1.
    fn new(
        file: File,
        path: &'a Path,
        chunks: Sender<Chunk>,
        first_bad: &'a AtomicU64,
        skip: bool,
        progress: &'a (dyn Fn(u64) + Sync),
        chunk: usize,
    ) -> Self {
        ChunkReader {
            file,
            path,
            chunks,
            first_bad,
            skip,
            progress,
            seq: 0,
            line: 1,
            carry: Vec::new(),
            total: 0,
            want: chunk,
            chunk,
        }
    }

    /// Reads and sends chunks until the end of the file, a known error when failing
    /// fast, or no parser left. Returns the bytes read.
    fn run(mut self) -> Result<u64> {
        loop {
            // Failing fast: once a chunk already read holds an error, the first
            // error of the file is in what was read, so reading stops (a huge or
            // endless input with a bad first line is not read to its end).
            if !self.skip && self.first_bad.load(Ordering::Relaxed) != u64::MAX {
                break;
            }
            let (mut buf, eof) = self.fill()?;
            if buf.is_empty() {
                break;
            }
            let cut = if eof {
                buf.len()
            } else {
                match memchr::memrchr(b'\n', &buf) {
                    Some(i) => i + 1,
                    None => {
                        if buf.len() > MAX_LINE {
                            if self.skip_long_line(buf)? {
                                continue;
                            }
                            break;
                        }
                        // Never read more than one byte past the longest line.
                        self.want = (buf.len() * 2).min(MAX_LINE + 1);
                        self.carry = buf;
                        continue;
                    }
                }
            };
            self.carry = buf.split_off(cut);
            let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
            let chunk = Chunk {
                seq: self.seq,
                first_line: self.line,
                bytes: buf,
                skipped: None,
            };
            if self.chunks.send(chunk).is_err() {
                break;
            }
            (self.progress)(self.total);
            self.seq += 1;
            self.line += lines;
            self.want = self.chunk;
            if eof && self.carry.is_empty() {
                break;
            }
        }
        Ok(self.total)
    }

    /// The bytes carried over, then the file's, up to `want` bytes in all (or the carried
    /// bytes if more). Also returns whether the end of the file was reached.
    fn fill(&mut self) -> Result<(Vec<u8>, bool)> {
        let mut buf = std::mem::take(&mut self.carry);
        let start = buf.len();
        buf.resize(start.max(self.want), 0);
        let target = buf.len();
        let mut filled = start;
        while filled < buf.len() {
            match self.file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read", self.path, e)),
            }
        }
        self.total += (filled - start) as u64;
        buf.truncate(filled);
        let eof = filled < target;
        Ok((buf, eof))
    }

    /// `buf` holds no newline and is longer than [`MAX_LINE`]: its line is an error.
    /// Failing fast, that is the import's error; with `skip_invalid`, the rest of the
    /// line is skipped and the error sent as a chunk of its own. Returns whether to
    /// read on.
    fn skip_long_line(&mut self, buf: Vec<u8>) -> Result<bool> {
        let error = RowError {
            file: self.path.display().to_string(),
            line: self.line,
            field: "row".into(),
            reason: format!("line longer than {} MiB", MAX_LINE >> 20),
        };
        if !self.skip {
            return Err(Error::Row(error));
        }
        // Skip to the end of the line without keeping it.
        drop(buf);
        let (read, rest) = skip_line(&mut self.file, self.path)?;
        self.total += read;
        let at_end = rest.is_none();
        self.carry = rest.unwrap_or_default();
        let chunk = Chunk {
            seq: self.seq,
            first_line: self.line,
            bytes: Vec::new(),
            skipped: Some(error),
        };
        if self.chunks.send(chunk).is_err() {
            return Ok(false);
        }
        self.seq += 1;
        self.line += 1;
        self.want = self.chunk;
        Ok(!at_end)
    }
}

/// The caller's side of a JSON Lines import: parsed chunks, which arrive in any order,
/// absorbed into `rows` in file order, so line numbers, the custom-dimension type rule
/// and the first error are exactly a sequential reader's.
struct ChunkMerge<'a> {
    batch: &'a mut Batch,
    file_name: &'a str,
    skip: bool,
    /// Lowest chunk with an error (see [`import_jsonl`]): set to 0 on failing, so
    /// that the reader stops and the parsers parse nothing more.
    first_bad: &'a AtomicU64,
    report: FileReport,
    /// Misspelt-looking keys of the rows read.
    keys: KeyCheck,
    /// The file's first error, when failing fast.
    first_error: Option<RowError>,
    /// Spilling rows to a run failed (an I/O error): the import fails with it.
    spill_error: Option<Error>,
    /// `first_error` or `spill_error` is known: later chunks are dropped unread.
    failed: bool,
}

impl ChunkMerge<'_> {
    /// Merge in file order: absorbs parsed chunks from `done` until every parser
    /// thread has finished.
    fn merge_all(&mut self, done: &Receiver<(u64, Parsed)>) {
        let mut pending: BTreeMap<u64, Parsed> = BTreeMap::new();
        let mut next = 0u64;
        for (seq, parsed) in done.iter() {
            pending.insert(seq, parsed);
            while let Some(parsed) = pending.remove(&next) {
                next += 1;
                if self.failed {
                    continue;
                }
                self.absorb(parsed);
            }
        }
    }

    /// Absorbs the next chunk in file order: its rows into `rows` (a custom-dimension
    /// type conflict is a row error too), its errors into the report, or failing fast,
    /// its first error ends the import.
    fn absorb(&mut self, parsed: Parsed) {
        let Parsed {
            rows: local,
            lines,
            errors,
        } = parsed;
        let mut chunk_errors = errors;
        self.keys
            .note(&local, 0, &|i| lines.get(i).copied().unwrap_or(0));
        let rows = &mut self.batch.rows;
        let before = rows.rows.len();
        rows.absorb(local, &lines, self.file_name, &mut |e| {
            chunk_errors.push(e);
            true
        });
        self.report.rows += (rows.rows.len() - before) as u64;
        if !chunk_errors.is_empty() {
            self.report.rejected += chunk_errors.len() as u64;
            chunk_errors.sort_by_key(|e| e.line);
            if !self.skip {
                self.first_error = chunk_errors.into_iter().next();
                self.failed = true;
                self.first_bad.store(0, Ordering::Relaxed);
                return;
            }
            let room = MAX_REPORTED_ERRORS.saturating_sub(self.report.errors.len());
            self.report
                .errors
                .extend(chunk_errors.into_iter().take(room));
        }
        if let Err(e) = self.batch.maybe_spill() {
            self.spill_error = Some(e);
            self.failed = true;
            self.first_bad.store(0, Ordering::Relaxed);
        }
    }
}

fn parse_chunk(chunk: &Chunk, file: &str, rules: &WriteRules, skip: bool) -> Parsed {
    let mut out = Parsed {
        rows: Rows::default(),
        lines: Vec::new(),
        errors: Vec::new(),
    };
    if let Some(e) = &chunk.skipped {
        out.errors.push(e.clone());
        return out;
    }
    let mut raw: RawRow<'_> = Vec::with_capacity(32);
    let bytes = &chunk.bytes;
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    let lines = ends.scan(0, |start, end| {
        let line = bytes.get(*start..end).unwrap_or_default();
        *start = end + 1;
        Some(line)
    });
    for (this, mut line) in (chunk.first_line..).zip(lines) {
        if chunk.seq == 0 && this == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let res = parse::parse_json(line, &mut raw)
            .and_then(|_| parse::push_raw(&raw, Mode::Json, rules, &mut out.rows, false));
        match res {
            Ok(()) => out.lines.push(this),
            Err((field, reason)) => {
                out.errors.push(RowError {
                    file: file.to_string(),
                    line: this,
                    field,
                    reason,
                });
                if !skip {
                    break;
                }
            }
        }
    }
    out
}

/// Reads `file` up to and including the next newline, keeping nothing of the line.
/// Returns the bytes read and what followed the newline in the last read (`None` at the
/// end of the file).
fn skip_line(file: &mut File, path: &Path) -> Result<(u64, Option<Vec<u8>>)> {
    let mut block = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = match file.read(&mut block) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        if n == 0 {
            return Ok((read, None));
        }
        read += n as u64;
        let got = block.get(..n).unwrap_or_default();
        if let Some(i) = memchr::memchr(b'\n', got) {
            return Ok((read, Some(got.get(i + 1..).unwrap_or_default().to_vec())));
        }
    }
}

/// What the csv parser may read ahead of the record it is parsing (its buffer).
const RECORD_SLACK: u64 = 64 << 10;

/// A reader that fails once more than `limit` bytes have been read in all, the limit
/// moving with the record being read: so one CSV record (a quoted field may hold any
/// number of lines) never takes more than `MAX_LINE` bytes of memory.
struct Bounded<R> {
    inner: R,
    read: u64,
    limit: Arc<AtomicU64>,
}

/// The error [`Bounded`] returns.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&too_long_record())
    }
}

impl std::error::Error for RecordTooLong {}

fn too_long_record() -> String {
    format!(
        "record longer than {} MiB (an unclosed quote, or a field too large to import); \
         the rest of the file cannot be read past it",
        MAX_LINE >> 20
    )
}

fn is_too_long(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<RecordTooLong>())
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = self.limit.load(Ordering::Relaxed).saturating_sub(self.read);
        if room == 0 {
            return Err(std::io::Error::other(RecordTooLong));
        }
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..take])?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads CSV text with a header row into `rows` (storing rows as `rules` say): the
/// header first ([`CsvInput::header`]), then record by record
/// ([`CsvInput::next_record`]). `source`: the regular file being read and its size, if
/// it is one.
fn import_csv(
    reader: impl Read,
    file_name: &str,
    source: Option<(&Path, u64)>,
    opts: &ImportOptions,
    rules: &WriteRules,
    batch: &mut Batch,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileReport> {
    // The size of a regular file: the record that reaches it is checked for an
    // unclosed quote (see below); pipes and in-memory readers are not.
    let size = source.map(|(_, size)| size);
    let mut input = CsvInput::new(reader, file_name, source.map(|(path, _)| path), rules);
    let headers = input.header()?;
    let mut report = FileReport::default();
    // Rows are checked for misspelt-looking keys only when the header has one.
    let mut keys = headers
        .iter()
        .any(|h| super::keys::misspelt_field(h).is_some())
        .then(KeyCheck::default);
    let mut record = csv::ByteRecord::new();
    let mut n = 0u64;
    loop {
        batch.maybe_spill()?;
        let rows = &mut batch.rows;
        let line = input.rdr.position().line();
        let (start, before) = (input.rdr.position().byte(), rows.checkpoint());
        input.bound.store(
            start + RECORD_SLACK + MAX_LINE as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        // Where the csv reader says the record starts (byte, line): see `Lines`.
        let Some((at, mut res)) = input.next_record(&mut record, (start, line), &headers, rows)?
        else {
            break;
        };
        // The csv reader ends a quoted field that is never closed at the end of the
        // file, so every line after the opening quote silently becomes part of one
        // value (and the record often has too few fields): a record that ends the file
        // is checked for that, and the unclosed quote is its error.
        let last = size.is_some_and(|size| input.rdr.position().byte() >= size);
        if last
            && let Some((path, _)) = source
            && unclosed_quote(path, start)?
        {
            if res.is_ok() {
                rows.rollback(before);
            }
            let line = input.lines.record_line(at.0, at.1);
            res = Err(row_error(file_name, line, "row", UNCLOSED_QUOTE.into()));
        }
        if res.is_ok()
            && let Some(keys) = &mut keys
        {
            let record_line = input.lines.record_line(at.0, at.1);
            keys.note(rows, rows.rows.len().saturating_sub(1), &|_| record_line);
        }
        count_record(&mut report, res, opts.skip_invalid)?;
        n += 1;
        if n.is_multiple_of(65536) {
            progress(input.rdr.position().byte());
        }
    }
    // A header with an unclosed quote swallows the whole file (no record follows).
    if n == 0
        && let Some((path, _)) = source
        && unclosed_quote(path, 0)?
    {
        let error = row_error(file_name, 1, "header", UNCLOSED_QUOTE.into());
        return Err(Error::Row(error));
    }
    report.bytes = input.rdr.position().byte();
    report.warnings = keys.map(KeyCheck::finish).unwrap_or_default();
    progress(report.bytes);
    Ok(report)
}

/// Counts one CSV record in `report`: accepted, or rejected (its error kept among the
/// first few) with `skip_invalid`; without, its error fails the import.
fn count_record(
    report: &mut FileReport,
    res: std::result::Result<(), RowError>,
    skip_invalid: bool,
) -> Result<()> {
    match res {
        Ok(()) => report.rows += 1,
        Err(e) if skip_invalid => {
            report.rejected += 1;
            if report.errors.len() < MAX_REPORTED_ERRORS {
                report.errors.push(e);
            }
        }
        Err(e) => return Err(Error::Row(e)),
    }
    Ok(())
}

/// A row error of the CSV input `file`.
fn row_error(file: &str, line: u64, field: &str, reason: String) -> RowError {
    RowError {
        file: file.to_string(),
        line,
        field: field.to_string(),
        reason,
    }
}

/// Where a CSV record starts (byte, line, as the csv reader says) and its row error, if
/// it has one.
type RecordOutcome = ((u64, u64), std::result::Result<(), RowError>);

/// The reading side of one CSV import: the csv reader over the input, bounded record
/// by record, and the physical line numbers of its records.
struct CsvInput<'f, R> {
    rdr: csv::Reader<Bounded<R>>,
    /// How far in the input the csv reader may read: moved on with each record.
    bound: Arc<AtomicU64>,
    lines: Lines,
    /// The input, as row errors name it.
    file_name: &'f str,
    /// How rows are stored.
    rules: &'f WriteRules,
}

impl<'f, R: Read> CsvInput<'f, R> {
    /// `path`: the regular file `reader` reads, opened again to count lines (`None`:
    /// the reader's numbers are used).
    fn new(reader: R, file_name: &'f str, path: Option<&Path>, rules: &'f WriteRules) -> Self {
        // Records are bounded like JSON Lines lines: the reader refuses to hand the csv
        // parser more than MAX_LINE bytes past the start of the record being read.
        let bound = Arc::new(AtomicU64::new(RECORD_SLACK + MAX_LINE as u64));
        let rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(Bounded {
                inner: reader,
                read: 0,
                limit: bound.clone(),
            });
        let lines = Lines::new(path);
        CsvInput {
            rdr,
            bound,
            lines,
            file_name,
            rules,
        }
    }

    /// Reads the header row: it must be the first line and valid UTF-8 (a byte-order
    /// mark before the first name is dropped); names are trimmed, then checked by
    /// [`check_header_names`].
    fn header(&mut self) -> Result<Vec<String>> {
        let file_name = self.file_name;
        let row_err =
            |line: u64, field: &str, reason: String| row_error(file_name, line, field, reason);
        // The csv reader skips empty lines, even before the header: a first data row
        // would silently become the header.
        if let Ok(h) = self.rdr.byte_headers()
            && !h.is_empty()
            && let line = self.lines.record_line(0, 1)
            && line > 1
        {
            return Err(Error::Row(row_err(
                1,
                "header",
                format!(
                    "line 1 is empty; the header (the column names) must be the first line, \
                     not line {line}"
                ),
            )));
        }
        let headers: Vec<String> = match self.rdr.byte_headers() {
            Ok(h) => h
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let b = if i == 0 {
                        b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
                    } else {
                        b
                    };
                    String::from_utf8(b.to_vec()).map(|s| s.trim().to_string())
                })
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| Error::Row(row_err(1, "header", "not valid UTF-8".into())))?,
            Err(e) => {
                let reason = match e.kind() {
                    csv::ErrorKind::Io(io) if is_too_long(io) => too_long_record(),
                    _ => e.to_string(),
                };
                return Err(Error::Row(row_err(1, "header", reason)));
            }
        };
        check_header_names(&headers, file_name)?;
        Ok(headers)
    }

    /// Reads the next record into `record` and appends its row to `rows`. `None` at the
    /// end of the input; `fallback` is where the record starts when the csv reader does
    /// not say. A record the csv reader fails on in any other way than its number of
    /// fields or its UTF-8 fails the import.
    fn next_record(
        &mut self,
        record: &mut csv::ByteRecord,
        fallback: (u64, u64),
        headers: &[String],
        rows: &mut Rows,
    ) -> Result<Option<RecordOutcome>> {
        match self.rdr.read_byte_record(record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let at = record.position().map_or(fallback, |p| (p.byte(), p.line()));
                Ok(Some((at, self.push_record(record, at, headers, rows))))
            }
            Err(e) => {
                let at = e.position().map_or(fallback, |p| (p.byte(), p.line()));
                let line = self.lines.record_line(at.0, at.1);
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("row has {len} fields, the header has {expected_len}")
                    }
                    csv::ErrorKind::Io(io) if is_too_long(io) => too_long_record(),
                    _ => e.to_string(),
                };
                let fatal = !matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                );
                let error = row_error(self.file_name, line, "row", reason);
                if fatal {
                    return Err(Error::Row(error));
                }
                Ok(Some((at, Err(error))))
            }
        }
    }

    /// Appends the row of `record` (which starts at `at`), its cells named by
    /// `headers`, to `rows`; an empty cell is a null.
    fn push_record(
        &mut self,
        record: &csv::ByteRecord,
        at: (u64, u64),
        headers: &[String],
        rows: &mut Rows,
    ) -> std::result::Result<(), RowError> {
        let file_name = self.file_name;
        let row_err =
            |line: u64, field: &str, reason: String| row_error(file_name, line, field, reason);
        let mut line = || self.lines.record_line(at.0, at.1);
        let mut raw: RawRow<'_> = Vec::with_capacity(headers.len());
        let mut bad = None;
        for (h, cell) in headers.iter().zip(record.iter()) {
            match std::str::from_utf8(cell) {
                Ok("") => raw.push((h.as_str().into(), Scalar::Null)),
                Ok(s) => raw.push((h.as_str().into(), Scalar::Str(s.into()))),
                Err(_) => {
                    bad = Some(row_err(line(), h, "not valid UTF-8".into()));
                    break;
                }
            }
        }
        match bad {
            Some(e) => Err(e),
            None => parse::push_raw(&raw, Mode::Text, self.rules, rows, true)
                .map_err(|(f, r)| row_err(line(), &f, r)),
        }
    }
}

/// Checks the header's names: every column has one, and no name is given twice.
fn check_header_names(headers: &[String], file_name: &str) -> Result<()> {
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(Error::Row(row_error(
                file_name,
                1,
                "header",
                format!("column {} has no name", i + 1),
            )));
        }
        if headers[..i].contains(h) {
            return Err(Error::Row(row_error(
                file_name,
                1,
                h,
                "duplicate column".into(),
            )));
        }
    }
    Ok(())
}

/// Physical line numbers of CSV records. The csv reader's are wrong after CRLF line
/// endings and blank lines (it counts a CRLF's line feed with the next record, and a
/// record's position is where the blank lines before it start: rust-csv #395, #208).
/// So errors count newlines themselves, on a second handle of the file that only moves
/// forward: at most one more pass over the file, and only when rows are bad.
struct Lines {
    /// The file from `offset` on (`None` for pipes: the reader's numbers are used).
    input: Option<BufReader<File>>,
    offset: u64,
    /// The line `offset` is on.
    line: u64,
    /// The last answer, by the byte asked about.
    last: Option<(u64, u64)>,
}

impl Lines {
    /// `path`: the regular file being read, opened again to count lines (`None`:
    /// the reader's numbers are used).
    fn new(path: Option<&Path>) -> Lines {
        let input = path
            .and_then(|p| File::open(p).ok())
            .map(|f| BufReader::with_capacity(1 << 16, f));
        Lines {
            input,
            offset: 0,
            line: 1,
            last: None,
        }
    }

    /// The line of the record the csv reader places at `byte` (the end of the previous
    /// line, or blank lines before the record, may come first); `fallback` (the
    /// reader's number) when the file cannot be read again.
    fn record_line(&mut self, byte: u64, fallback: u64) -> u64 {
        use std::io::BufRead;
        if let Some((b, line)) = self.last
            && b == byte
        {
            return line;
        }
        let Some(input) = &mut self.input else {
            return fallback;
        };
        if byte < self.offset {
            return fallback;
        }
        // Up to `byte`, then over the line endings that start the record.
        let mut skipping = false;
        loop {
            let Ok(buf) = input.fill_buf() else {
                return fallback;
            };
            if buf.is_empty() {
                break;
            }
            let n = if skipping {
                buf.iter()
                    .position(|&b| b != b'\n' && b != b'\r')
                    .unwrap_or(buf.len())
            } else {
                buf.len()
                    .min(usize::try_from(byte - self.offset).unwrap_or(usize::MAX))
            };
            let taken = buf.get(..n).unwrap_or_default();
            self.line += memchr::memchr_iter(b'\n', taken).count() as u64;
            self.offset += n as u64;
            let stop = skipping && n < buf.len();
            input.consume(n);
            if stop {
                break;
            }
            if self.offset == byte {
                skipping = true;
            }
        }
        self.last = Some((byte, self.line));
        self.line
    }
}

const UNCLOSED_QUOTE: &str =
    "a quoted field opened here is never closed: the rest of the file would be its value";

/// Whether the CSV text of `path` from byte `start` on (the start of its last record)
/// ends inside a quoted field. Follows the csv reader's rules: a quote opens a field
/// only at its start, `""` inside is a quote, and text after the closing quote is kept.
fn unclosed_quote(path: &Path, start: u64) -> Result<bool> {
    use std::io::{BufRead, Seek, SeekFrom};
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io("seek", path, e))?;
    let mut input = BufReader::with_capacity(1 << 16, file);
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    loop {
        let buf = input.fill_buf().map_err(|e| Error::io("read", path, e))?;
        if buf.is_empty() {
            return Ok(state == State::Quoted);
        }
        for &b in buf {
            state = match (state, b) {
                (State::Quoted, b'"') => State::QuoteInQuoted,
                (State::Quoted, _) => State::Quoted,
                (State::QuoteInQuoted, b'"') => State::Quoted,
                (State::FieldStart, b'"') => State::Quoted,
                (_, b',' | b'\n' | b'\r') => State::FieldStart,
                _ => State::Unquoted,
            };
        }
        let n = buf.len();
        input.consume(n);
    }
}
