//! Standard output and standard error without panics.
//!
//! `println!` panics when standard output cannot be written (a closed pipe, a full
//! disk), which would end a command with exit status 101 after it had done its work.
//! Here output goes through [`outln!`]/[`out!`], which turn a failed write into an
//! [`OutputError`] for `?`; `main` ends a command that meets one quietly with status 0
//! when the reader went away (a closed pipe: `sightline gen | head`), and with status 1
//! and a message otherwise. Messages to standard error go through [`errln!`], which
//! ignores a failure: there is nowhere left to report it.

use std::fmt;
use std::io;

/// Standard output could not be written.
#[derive(Debug)]
pub struct OutputError(pub io::Error);

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write standard output: {}", self.0)
    }
}

impl std::error::Error for OutputError {}

impl OutputError {
    /// True when the reader of standard output went away (a closed pipe): nothing is
    /// wrong, the output is simply not wanted any more.
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// The [`OutputError`] in `e`'s chain, if any.
pub fn output_error(e: &anyhow::Error) -> Option<&OutputError> {
    e.chain().find_map(|c| c.downcast_ref::<OutputError>())
}

static ABANDONED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Gives up on standard output after a failure the command has already reported: the
/// final [`flush`] then does not report it again (what it could not write stays unwritten).
pub fn abandon() {
    ABANDONED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Flushes standard output (whatever `out!` left in its buffer), unless it was
/// [abandoned](abandon).
pub fn flush() -> Result<(), OutputError> {
    if ABANDONED.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    io::Write::flush(&mut io::stdout()).map_err(OutputError)
}

/// Like `println!`, to standard output; fails with [`OutputError`].
macro_rules! outln {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(
            &mut std::io::stdout().lock(),
            format_args!("{}\n", format_args!($($arg)*)),
        )
        .map_err($crate::out::OutputError)?
    };
}

/// Like `print!`, to standard output; fails with [`OutputError`].
macro_rules! out {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(&mut std::io::stdout().lock(), format_args!($($arg)*))
            .map_err($crate::out::OutputError)?
    };
}

/// Like `eprintln!`, but a failure to write standard error is ignored.
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr().lock(),
            format_args!("{}\n", format_args!($($arg)*)),
        );
    }};
}

/// A mistake in the command line that the library never sees (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A [`UsageError`].
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// CSV text (the `csv` crate's quoting): a header row, then `rows`.
pub fn csv<S: AsRef<str>>(
    header: &[S],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header.iter().map(AsRef::as_ref))?;
    for row in rows {
        w.write_record(&row)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write CSV: {}", e.error()))?;
    Ok(String::from_utf8(bytes)?)
}
