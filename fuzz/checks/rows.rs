//! `jsonl_row` and `csv_row`: input rows through the importer's parsers.

use sightline::ErrorKind;
use sightline::testing::Rows;
use sightline::testing::{Mode, WriteRules, parse_json, push_raw};
use sightline::{Error, ImportOptions};
use sightline::{MAX_REPORTED_ERRORS, testing::import_csv_reader};

/// Any bytes as one JSON Lines row, through the row parser of the parallel JSONL
/// importer (`parse_json`, then `push_raw` into a parser's batch, then `Rows::absorb`)
/// and through the typed path (`push_raw` with `settle_types`). Never a panic; a
/// rejected row is a `field: reason` error and leaves no trace in the batch; both paths
/// accept exactly the same rows; an accepted row is accepted again.
pub fn jsonl_row(data: &[u8]) {
    // As the importer reads a line: a byte-order mark and a trailing CR are not part
    // of the row, and a blank line is no row.
    let line = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    let mut raw = Vec::new();
    if let Err((field, _)) = parse_json(line, &mut raw) {
        assert_eq!(field, "row");
        return;
    }
    let mut batch = Rows::default();
    let parsed = push_raw(&raw, Mode::Json, &WriteRules::default(), &mut batch, false);
    match &parsed {
        Ok(()) => assert_eq!(batch.rows.len(), 1),
        Err((field, reason)) => {
            // `field` is the key at fault, which may be the empty key (a custom
            // dimension like any other key).
            assert!(!reason.is_empty(), "{field}: no reason");
            assert!(
                !field.is_empty() || raw.iter().any(|(k, _)| k.is_empty()),
                "empty field name: {reason}"
            );
            assert!(batch.rows.is_empty() && batch.custom.is_empty());
        }
    }
    let mut typed = Rows::default();
    let settled = push_raw(&raw, Mode::Json, &WriteRules::default(), &mut typed, true);
    assert_eq!(parsed.is_ok(), settled.is_ok(), "{parsed:?} vs {settled:?}");
    if parsed.is_ok() {
        let mut merged = Rows::default();
        let mut errors = Vec::new();
        merged.absorb(batch, &[1], "fuzz", &mut |e| {
            errors.push(e);
            true
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(merged.rows.len(), 1);
        assert_eq!(merged.custom.len(), typed.custom.len());
        let again = push_raw(&raw, Mode::Json, &WriteRules::default(), &mut typed, true);
        assert!(again.is_ok(), "{again:?}");
        assert_eq!(typed.rows.len(), 2);
    }
}

/// Any bytes as a CSV file (header row first), through the CSV importer, strict and
/// with `skip_invalid`. Never a panic; errors are row errors; a failed import leaves
/// no rows; a report counts exactly the rows it added; strict and lenient agree (a
/// strict success is a lenient success with the same rows and none rejected; a strict
/// row error is rejected, or fatal, in the lenient run too).
pub fn csv_row(data: &[u8]) {
    let run = |skip_invalid: bool| {
        let opts = ImportOptions {
            skip_invalid,
            ..Default::default()
        };
        let mut rows = Rows::default();
        let result = import_csv_reader(data, "fuzz.csv", &opts, &mut rows, &|_| {});
        match &result {
            Ok(report) => {
                assert_eq!(report.rows, rows.rows.len() as u64);
                let kept = report.rejected.min(MAX_REPORTED_ERRORS as u64);
                assert_eq!(report.errors.len() as u64, kept);
                assert!(report.errors.windows(2).all(|w| w[0].line <= w[1].line));
                if !skip_invalid {
                    assert_eq!(report.rejected, 0);
                }
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
                assert!(matches!(e, Error::Row(_)), "{e}");
                assert!(rows.rows.is_empty() && rows.custom.is_empty());
            }
        }
        result.map(|r| (r, rows.rows.len()))
    };
    let strict = run(false);
    let lenient = run(true);
    match (&strict, &lenient) {
        (Ok((_, n)), Ok((report, m))) => {
            assert_eq!(n, m);
            assert_eq!(report.rejected, 0);
        }
        (Ok(_), Err(e)) => panic!("strict import succeeded, lenient failed: {e}"),
        (Err(Error::Row(first)), Ok((report, _))) => {
            assert!(
                report.rejected > 0,
                "strict failed at {first}, lenient rejected none"
            );
            assert_eq!(report.errors.first(), Some(first));
        }
        (Err(_), _) => {}
    }
}
