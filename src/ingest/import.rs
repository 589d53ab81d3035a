//! File import: JSON Lines (parsed in parallel, merged in input order) and CSV.
//!
//! JSON Lines files are read in chunks that end at a newline; worker threads parse
//! chunks into their own batches and the caller's thread merges them in file order, so
//! line numbers, the custom-dimension type rule ("fixed by the first non-null value")
//! and the first reported error are exactly what a sequential reader would give.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::parse::{self, Mode, RawRow, Scalar};
use super::rows::Rows;
use crate::error::{Error, Result, RowError};

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
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Input format; `None` guesses from the extension.
    pub format: Option<Format>,
    /// Keep going past bad rows (they are counted and the first few reported) instead
    /// of failing the whole import.
    pub skip_invalid: bool,
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
}

const CHUNK: usize = 4 << 20;
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

/// Reads `path` into `rows`. Without `skip_invalid`, the first bad row (by line) fails
/// the call and `rows` is left as it was.
pub fn import_file(
    path: &Path,
    opts: &ImportOptions,
    rows: &mut Rows,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileReport> {
    let format = opts.format.unwrap_or_else(|| Format::from_path(path));
    match format {
        Format::Jsonl => settle(rows, |rows| import_jsonl(path, opts, rows, progress)),
        Format::Csv => {
            let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
            let name = path.display().to_string();
            let regular = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| (path, m.len()));
            let reader = BufReader::with_capacity(1 << 20, file);
            settle(rows, |rows| {
                import_csv(reader, &name, regular, opts, rows, progress)
            })
        }
    }
}

/// Reads CSV text with a header row from `reader` into `rows`, exactly as
/// [`import_file`] reads a `.csv` file (`name` stands for the file in row errors).
/// Without `skip_invalid`, the first bad row fails the call and `rows` is left as it
/// was.
pub fn import_csv_reader(
    reader: impl Read,
    name: &str,
    opts: &ImportOptions,
    rows: &mut Rows,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileReport> {
    settle(rows, |rows| {
        import_csv(reader, name, None, opts, rows, progress)
    })
}

/// Runs one file's import: on success sorts and trims the reported errors, on failure
/// rolls `rows` back to where it was.
fn settle(
    rows: &mut Rows,
    import: impl FnOnce(&mut Rows) -> Result<FileReport>,
) -> Result<FileReport> {
    let cp = rows.checkpoint();
    match import(rows) {
        Ok(mut report) => {
            report.errors.sort_by_key(|e| e.line);
            report.errors.truncate(MAX_REPORTED_ERRORS);
            Ok(report)
        }
        Err(e) => {
            rows.rollback(cp);
            Err(e)
        }
    }
}

fn import_jsonl(
    path: &Path,
    opts: &ImportOptions,
    rows: &mut Rows,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileReport> {
    let file_name = path.display().to_string();
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let workers = crate::storage::worker_threads();
    let (chunk_tx, chunk_rx) = crossbeam::channel::bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = crossbeam::channel::bounded::<(u64, Parsed)>(workers * 2);
    // Lowest chunk with an error: later chunks need not be parsed when failing fast.
    let first_bad = AtomicU64::new(u64::MAX);
    let skip = opts.skip_invalid;
    let mut report = FileReport::default();
    let mut first_error: Option<RowError> = None;

    let read_result: Result<u64> = crossbeam::thread::scope(|s| {
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
            let (file_name, first_bad) = (&file_name, &first_bad);
            s.spawn(move |_| {
                for chunk in rx {
                    let parsed = if !skip && chunk.seq > first_bad.load(Ordering::Relaxed) {
                        Parsed {
                            rows: Rows::default(),
                            lines: Vec::new(),
                            errors: Vec::new(),
                        }
                    } else {
                        parse_chunk(&chunk, file_name, skip)
                    };
                    if !parsed.errors.is_empty() {
                        first_bad.fetch_min(chunk.seq, Ordering::Relaxed);
                    }
                    if tx.send((chunk.seq, parsed)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        drop(chunk_rx);
        let first_bad = &first_bad;
        let reader = s.spawn(move |_| -> Result<u64> {
            let mut seq = 0u64;
            let mut line = 1u64;
            let mut carry: Vec<u8> = Vec::new();
            let mut total = 0u64;
            let mut want = CHUNK;
            loop {
                // Failing fast: once a chunk already read holds an error, the first
                // error of the file is in what was read, so reading stops (a huge or
                // endless input with a bad first line is not read to its end).
                if !skip && first_bad.load(Ordering::Relaxed) != u64::MAX {
                    break;
                }
                let mut buf = std::mem::take(&mut carry);
                let start = buf.len();
                buf.resize(start.max(want), 0);
                let target = buf.len();
                let mut filled = start;
                while filled < buf.len() {
                    match file.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Error::io("read", path, e)),
                    }
                }
                total += (filled - start) as u64;
                buf.truncate(filled);
                let eof = filled < target;
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
                                let error = RowError {
                                    file: path.display().to_string(),
                                    line,
                                    field: "row".into(),
                                    reason: format!("line longer than {} MiB", MAX_LINE >> 20),
                                };
                                if !skip {
                                    return Err(Error::Row(error));
                                }
                                // Skip to the end of the line without keeping it.
                                drop(buf);
                                let (read, rest) = skip_line(&mut file, path)?;
                                total += read;
                                let at_end = rest.is_none();
                                carry = rest.unwrap_or_default();
                                let chunk = Chunk {
                                    seq,
                                    first_line: line,
                                    bytes: Vec::new(),
                                    skipped: Some(error),
                                };
                                if chunk_tx.send(chunk).is_err() {
                                    break;
                                }
                                seq += 1;
                                line += 1;
                                want = CHUNK;
                                if at_end {
                                    break;
                                }
                                continue;
                            }
                            // Never read more than one byte past the longest line.
                            want = (buf.len() * 2).min(MAX_LINE + 1);
                            carry = buf;
                            continue;
                        }
                    }
                };
                carry = buf.split_off(cut);
                let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
                if chunk_tx
                    .send(Chunk {
                        seq,
                        first_line: line,
                        bytes: buf,
                        skipped: None,
                    })
                    .is_err()
                {
                    break;
                }
                progress(total);
                seq += 1;
                line += lines;
                want = CHUNK;
                if eof && carry.is_empty() {
                    break;
                }
            }
            Ok(total)
        });

        // Merge in file order.
        let mut pending: BTreeMap<u64, Parsed> = BTreeMap::new();
        let mut next = 0u64;
        let mut failed = false;
        for (seq, parsed) in done_rx.iter() {
            pending.insert(seq, parsed);
            while let Some(parsed) = pending.remove(&next) {
                next += 1;
                if failed {
                    continue;
                }
                let Parsed {
                    rows: local,
                    lines,
                    errors,
                } = parsed;
                let mut chunk_errors = errors;
                let before = rows.rows.len();
                rows.absorb(local, &lines, &file_name, &mut |e| {
                    chunk_errors.push(e);
                    true
                });
                report.rows += (rows.rows.len() - before) as u64;
                if !chunk_errors.is_empty() {
                    report.rejected += chunk_errors.len() as u64;
                    chunk_errors.sort_by_key(|e| e.line);
                    if !skip {
                        first_error = chunk_errors.into_iter().next();
                        failed = true;
                        first_bad.store(0, Ordering::Relaxed);
                        continue;
                    }
                    let room = MAX_REPORTED_ERRORS.saturating_sub(report.errors.len());
                    report.errors.extend(chunk_errors.into_iter().take(room));
                }
            }
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(Error::internal("the import reader thread panicked")))
    })
    .unwrap_or_else(|_| Err(Error::internal("an import worker thread panicked")));
    if let Some(e) = first_error {
        return Err(Error::Row(e));
    }
    report.bytes = read_result?;
    Ok(report)
}

fn parse_chunk(chunk: &Chunk, file: &str, skip: bool) -> Parsed {
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
    for (this, mut line) in (chunk.first_line..).zip(chunk.bytes.split(|&b| b == b'\n')) {
        if chunk.seq == 0 && this == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let res = parse::parse_json(line, &mut raw)
            .and_then(|_| parse::push_raw(&raw, Mode::Json, &mut out.rows, false));
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

fn import_csv(
    reader: impl Read,
    file_name: &str,
    source: Option<(&Path, u64)>,
    opts: &ImportOptions,
    rows: &mut Rows,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileReport> {
    // The size of a regular file: the record that reaches it is checked for an
    // unclosed quote (see below); pipes and in-memory readers are not.
    let size = source.map(|(_, size)| size);
    // Records are bounded like JSON Lines lines: the reader refuses to hand the csv
    // parser more than MAX_LINE bytes past the start of the record being read.
    let bound = Arc::new(AtomicU64::new(RECORD_SLACK + MAX_LINE as u64));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(Bounded {
            inner: reader,
            read: 0,
            limit: bound.clone(),
        });
    let row_err = |line: u64, field: &str, reason: String| RowError {
        file: file_name.to_string(),
        line,
        field: field.to_string(),
        reason,
    };
    let mut lines = Lines::new(source.map(|(path, _)| path));
    // The csv reader skips empty lines, even before the header: a first data row
    // would silently become the header.
    if let Ok(h) = rdr.byte_headers()
        && !h.is_empty()
        && let line = lines.record_line(0, 1)
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
    let headers: Vec<String> = match rdr.byte_headers() {
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
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(Error::Row(row_err(
                1,
                "header",
                format!("column {} has no name", i + 1),
            )));
        }
        if headers[..i].contains(h) {
            return Err(Error::Row(row_err(1, h, "duplicate column".into())));
        }
    }
    let mut report = FileReport::default();
    let mut record = csv::ByteRecord::new();
    let mut n = 0u64;
    loop {
        let line = rdr.position().line();
        let (start, before) = (rdr.position().byte(), rows.checkpoint());
        bound.store(
            start + RECORD_SLACK + MAX_LINE as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        // Where the csv reader says the record starts (byte, line): see `Lines`.
        let at;
        let mut res = match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                at = record
                    .position()
                    .map_or((start, line), |p| (p.byte(), p.line()));
                let mut line = || lines.record_line(at.0, at.1);
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
                    None => parse::push_raw(&raw, Mode::Text, rows, true)
                        .map_err(|(f, r)| row_err(line(), &f, r)),
                }
            }
            Err(e) => {
                at = e.position().map_or((start, line), |p| (p.byte(), p.line()));
                let line = lines.record_line(at.0, at.1);
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
                if fatal {
                    return Err(Error::Row(row_err(line, "row", reason)));
                }
                Err(row_err(line, "row", reason))
            }
        };
        // The csv reader ends a quoted field that is never closed at the end of the
        // file, so every line after the opening quote silently becomes part of one
        // value (and the record often has too few fields): a record that ends the file
        // is checked for that, and the unclosed quote is its error.
        let last = size.is_some_and(|size| rdr.position().byte() >= size);
        if last
            && let Some((path, _)) = source
            && unclosed_quote(path, start)?
        {
            if res.is_ok() {
                rows.rollback(before);
            }
            res = Err(row_err(
                lines.record_line(at.0, at.1),
                "row",
                UNCLOSED_QUOTE.into(),
            ));
        }
        match res {
            Ok(()) => report.rows += 1,
            Err(e) if opts.skip_invalid => {
                report.rejected += 1;
                if report.errors.len() < MAX_REPORTED_ERRORS {
                    report.errors.push(e);
                }
            }
            Err(e) => return Err(Error::Row(e)),
        }
        n += 1;
        if n.is_multiple_of(65536) {
            progress(rdr.position().byte());
        }
    }
    // A header with an unclosed quote swallows the whole file (no record follows).
    if n == 0
        && let Some((path, _)) = source
        && unclosed_quote(path, 0)?
    {
        return Err(Error::Row(row_err(1, "header", UNCLOSED_QUOTE.into())));
    }
    report.bytes = rdr.position().byte();
    progress(report.bytes);
    Ok(report)
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
